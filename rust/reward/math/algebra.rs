//! Exact algebra for `math_equal`: rational functions over exact big rationals.
//!
//! A value is `num / den`, two polynomials whose terms are `c · m`: `c` an exact
//! [`BigRational`], `m` a monomial, a product of [`Atom`]s raised to rational exponents.
//! The atoms are variables, `π`, kept-whole expressions (`sin(x)`), and roots of primes:
//! `√8` is `2 · 2^{1/2}`, `1/√2` is `(1/2) · 2^{1/2}`, because every numeric radical is
//! written as `c · ∏ p^{e_p}` with `p` prime and `0 < e_p < 1`. Those products are linearly
//! independent over the rationals (Besicovitch), as are distinct monomials in variables and
//! `π` (transcendental), so two polynomials are equal exactly when their term maps are:
//! equality is structural, with no floating point and no simplifier to trust.
//! Rational functions compare by cross-multiplication: `a/b = c/d ⇔ a·d = c·b`.
//!
//! Sizes are bounded (terms per polynomial, bits per number, exponents), so a crafted
//! answer costs bounded time and memory; past a bound the caller compares text instead.

use num_bigint::{BigInt, BigUint};
use num_integer::Integer;
use num_rational::{BigRational, Ratio};
use num_traits::{CheckedAdd, CheckedMul, One, Signed, ToPrimitive, Zero};

/// Exact coefficients.
pub type Q = BigRational;
/// Exponents of atoms (small rationals: `x^{2/3}`, `2^{1/2}`).
pub type Exp = Ratio<i64>;

/// Terms a polynomial may hold (`(x+1)^{300}` would need 301).
pub const MAX_TERMS: usize = 256;
/// Bits a numerator or denominator may hold (`10^{1000}` needs 3,322).
pub const MAX_BITS: u64 = 16_384;
/// Largest `|k|` of an integer power (`10^{1000}` is fine, `10^{10^9}` is not).
pub const MAX_EXPONENT: i64 = 1000;
/// Term products one answer may spend (`(1+√2)(1+√3)…` raised to powers keeps 256 terms
/// per product, so the term bound alone does not bound the work).
pub const MAX_WORK: u64 = 100_000;

thread_local! {
    static WORK: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Starts a fresh work budget (once per answer read or compared).
pub fn reset_work() {
    WORK.with(|w| w.set(0));
}

/// Spends `n` units of the budget; `TooBig` once it is exhausted.
fn spend(n: u64) -> AResult<()> {
    WORK.with(|w| {
        let total = w.get().saturating_add(n);
        w.set(total);
        if total > MAX_WORK {
            Err(Unsupported::TooBig)
        } else {
            Ok(())
        }
    })
}

/// Trial division stops here; a larger cofactor stays one root atom.
const TRIAL_LIMIT: u32 = 10_000;

/// Why an expression has no exact canonical form here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unsupported {
    /// A bound on size was exceeded.
    TooBig,
    /// Division by zero, `0^{-1}`.
    Undefined,
    /// Outside the algebra (a non-integer power of a sum, of a negative number).
    NotAlgebraic,
}

pub type AResult<T> = Result<T, Unsupported>;

/// A factor of a monomial.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Atom {
    /// `p^{e}` for a prime (or unsplit cofactor) `p`, with `0 < e < 1`.
    Root(BigUint),
    Pi,
    /// A variable: `x`, `\alpha`, `x_1`.
    Sym(String),
    /// An expression kept whole, by its canonical key: `sin(x)`, `pow(x+1,1/2)`.
    Opaque(String),
}

/// A product of atoms with non-zero exponents, sorted by atom.
pub type Monomial = Vec<(Atom, Exp)>;

/// A polynomial (Laurent in its variables): monomial → non-zero coefficient, sorted by
/// monomial (a vector: most answers have one or two terms, and a map's node costs more).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Poly {
    terms: Vec<(Monomial, Q)>,
}

fn check_bits(q: &Q) -> AResult<()> {
    if q.numer().bits() > MAX_BITS || q.denom().bits() > MAX_BITS {
        Err(Unsupported::TooBig)
    } else {
        Ok(())
    }
}

fn exp_floor(e: Exp) -> i64 {
    e.floor().to_integer()
}

/// `base^k` for an integer `k` (negative allowed when `base != 0`), bounded.
pub fn pow_q(base: &Q, k: i64) -> AResult<Q> {
    if k.abs() > MAX_EXPONENT {
        return Err(Unsupported::TooBig);
    }
    if base.is_zero() {
        return if k < 0 {
            Err(Unsupported::Undefined)
        } else if k == 0 {
            Ok(Q::one())
        } else {
            Ok(Q::zero())
        };
    }
    let bits = base.numer().bits().max(base.denom().bits());
    if bits.saturating_mul(k.unsigned_abs()) > MAX_BITS + 64 {
        return Err(Unsupported::TooBig);
    }
    let n = k.unsigned_abs() as u32;
    let raised = Q::new(
        num_traits::pow(base.numer().clone(), n as usize),
        num_traits::pow(base.denom().clone(), n as usize),
    );
    let v = if k < 0 { raised.recip() } else { raised };
    check_bits(&v)?;
    Ok(v)
}

/// Multiplies two monomials: exponents add; a root atom whose exponent reaches 1 gives its
/// base to the coefficient. Returns (coefficient factor, product).
fn mono_mul(a: &Monomial, b: &Monomial) -> AResult<(Q, Monomial)> {
    let mut out: Monomial = Vec::with_capacity(a.len() + b.len());
    let mut coef = Q::one();
    let (mut i, mut j) = (0, 0);
    let push = |atom: &Atom, e: Exp, out: &mut Monomial, coef: &mut Q| {
        let e = if let Atom::Root(p) = atom {
            let whole = exp_floor(e);
            if whole != 0 {
                // whole is 1 here: both exponents lie in (0, 1)
                *coef *= Q::from_integer(BigInt::from(p.clone()));
            }
            e - Exp::from_integer(whole)
        } else {
            e
        };
        if !e.is_zero() {
            out.push((atom.clone(), e));
        }
    };
    while i < a.len() || j < b.len() {
        let take_a = j >= b.len() || (i < a.len() && a[i].0 < b[j].0);
        let take_b = i >= a.len() || (j < b.len() && b[j].0 < a[i].0);
        if take_a {
            push(&a[i].0, a[i].1, &mut out, &mut coef);
            i += 1;
        } else if take_b {
            push(&b[j].0, b[j].1, &mut out, &mut coef);
            j += 1;
        } else {
            let e = a[i].1.checked_add(&b[j].1).ok_or(Unsupported::TooBig)?;
            push(&a[i].0, bounded_exp(e)?, &mut out, &mut coef);
            i += 1;
            j += 1;
        }
    }
    Ok((coef, out))
}

/// Exponents of atoms stay within `±MAX_EXPONENT²` (nested powers multiply them).
fn bounded_exp(e: Exp) -> AResult<Exp> {
    let limit = MAX_EXPONENT * MAX_EXPONENT;
    if e.numer().unsigned_abs() > limit.unsigned_abs() || *e.denom() > limit {
        Err(Unsupported::TooBig)
    } else {
        Ok(e)
    }
}

/// `m^q`: every exponent times `q`, root atoms renormalised to `(0, 1)` (the whole part of
/// `p^{t}` goes to the coefficient).
fn mono_pow(m: &Monomial, q: Exp) -> AResult<(Q, Monomial)> {
    let mut coef = Q::one();
    let mut out = Monomial::new();
    for (atom, e) in m {
        let t = bounded_exp(e.checked_mul(&q).ok_or(Unsupported::TooBig)?)?;
        if let Atom::Root(p) = atom {
            let whole = exp_floor(t);
            let p = Q::from_integer(BigInt::from(p.clone()));
            coef *= pow_q(&p, whole)?;
            let frac = t - Exp::from_integer(whole);
            if !frac.is_zero() {
                out.push((atom.clone(), frac));
            }
        } else if !t.is_zero() {
            out.push((atom.clone(), t));
        }
    }
    check_bits(&coef)?;
    Ok((coef, out))
}

/// Splits `n` into `(cofactor², prime factors)` by trial division up to [`TRIAL_LIMIT`]:
/// the primes with multiplicity, and what is left (1 or a number with no small factor).
fn factor(n: &BigUint) -> (Vec<(BigUint, u64)>, BigUint) {
    let mut rest = n.clone();
    let mut found = Vec::new();
    let mut p: u32 = 2;
    while p <= TRIAL_LIMIT {
        let bp = BigUint::from(p);
        if &bp * &bp > rest {
            break;
        }
        let mut k = 0u64;
        loop {
            let (q, r) = rest.div_rem(&bp);
            if !r.is_zero() {
                break;
            }
            rest = q;
            k += 1;
        }
        if k > 0 {
            found.push((bp, k));
        }
        p += if p == 2 { 1 } else { 2 };
    }
    (found, rest)
}

/// `n^q` for a positive integer `n` and a non-integer `q`: coefficient times root atoms.
fn integer_root(n: &BigUint, q: Exp) -> AResult<(Q, Monomial)> {
    let (mut primes, rest) = factor(n);
    if !rest.is_one() {
        primes.push((rest, 1));
    }
    let mono: Monomial = primes
        .into_iter()
        .map(|(p, k)| {
            let k = i64::try_from(k).map_err(|_| Unsupported::TooBig)?;
            Ok((Atom::Root(p), Exp::from_integer(k)))
        })
        .collect::<AResult<_>>()?;
    // primes are increasing and the cofactor is larger than all of them: sorted already
    mono_pow(&mono, q)
}

impl Poly {
    pub fn zero() -> Poly {
        Poly::default()
    }

    pub fn constant(c: Q) -> Poly {
        let mut p = Poly::zero();
        if !c.is_zero() {
            p.terms.push((Monomial::new(), c));
        }
        p
    }

    pub fn atom(a: Atom) -> Poly {
        let mut p = Poly::zero();
        p.terms.push((vec![(a, Exp::one())], Q::one()));
        p
    }

    pub fn is_zero(&self) -> bool {
        self.terms.is_empty()
    }

    /// The value when the polynomial is a rational constant.
    pub fn as_constant(&self) -> Option<Q> {
        match self.terms.len() {
            0 => Some(Q::zero()),
            1 => self.terms[0].0.is_empty().then(|| self.terms[0].1.clone()),
            _ => None,
        }
    }

    /// The constant of a polynomial that is one non-zero constant.
    fn constant_term(&self) -> Option<&Q> {
        match self.terms.len() {
            1 => self.terms[0].0.is_empty().then_some(&self.terms[0].1),
            _ => None,
        }
    }

    /// The one term `c · m`, when there is exactly one.
    pub fn single_term(&self) -> Option<(&Monomial, &Q)> {
        if self.terms.len() == 1 {
            Some((&self.terms[0].0, &self.terms[0].1))
        } else {
            None
        }
    }

    /// Whether any term involves a variable or kept-whole expression (not only numbers,
    /// roots and `π`).
    pub fn has_symbols(&self) -> bool {
        self.terms.iter().any(|(m, _)| {
            m.iter()
                .any(|(a, _)| matches!(a, Atom::Sym(_) | Atom::Opaque(_)))
        })
    }

    fn add_term(&mut self, m: Monomial, c: Q) {
        if c.is_zero() {
            return;
        }
        match self.terms.binary_search_by(|(k, _)| k.cmp(&m)) {
            Ok(i) => {
                self.terms[i].1 += c;
                if self.terms[i].1.is_zero() {
                    self.terms.remove(i);
                }
            }
            Err(i) => self.terms.insert(i, (m, c)),
        }
    }

    fn checked(self) -> AResult<Poly> {
        if self.terms.len() > MAX_TERMS {
            return Err(Unsupported::TooBig);
        }
        for (_, c) in &self.terms {
            check_bits(c)?;
        }
        Ok(self)
    }

    pub fn add(&self, o: &Poly) -> AResult<Poly> {
        let mut out = self.clone();
        for (m, c) in &o.terms {
            out.add_term(m.clone(), c.clone());
        }
        out.checked()
    }

    pub fn neg(&self) -> Poly {
        Poly {
            terms: self.terms.iter().map(|(m, c)| (m.clone(), -c)).collect(),
        }
    }

    pub fn scale(&self, k: &Q) -> AResult<Poly> {
        if k.is_zero() {
            return Ok(Poly::zero());
        }
        Poly {
            terms: self.terms.iter().map(|(m, c)| (m.clone(), c * k)).collect(),
        }
        .checked()
    }

    pub fn mul(&self, o: &Poly) -> AResult<Poly> {
        let products = self.terms.len().saturating_mul(o.terms.len());
        if products > MAX_TERMS * MAX_TERMS {
            return Err(Unsupported::TooBig);
        }
        // a product of big coefficients costs by their size, not one unit
        let words = |p: &Poly| {
            p.terms
                .iter()
                .map(|(_, c)| c.numer().bits().max(c.denom().bits()))
                .max()
                .unwrap_or(0)
                / 64
                + 1
        };
        spend((products as u64).saturating_mul(words(self) + words(o)))?;
        let mut out = Poly::zero();
        for (ma, ca) in &self.terms {
            for (mb, cb) in &o.terms {
                let (k, m) = mono_mul(ma, mb)?;
                out.add_term(m, ca * cb * k);
            }
            if out.terms.len() > MAX_TERMS {
                return Err(Unsupported::TooBig);
            }
        }
        out.checked()
    }

    /// `self^k` for `0 <= k`, by repeated squaring.
    fn pow_nonneg(&self, k: u64) -> AResult<Poly> {
        let mut result = Poly::constant(Q::one());
        let mut base = self.clone();
        let mut k = k;
        while k > 0 {
            if k & 1 == 1 {
                result = result.mul(&base)?;
            }
            k >>= 1;
            if k > 0 {
                base = base.mul(&base)?;
            }
        }
        Ok(result)
    }

    /// `(c·m)^q` for the single term of `self`, or `NotAlgebraic`. Variables keep
    /// `(x^{a})^{q} = x^{aq}` only for `|a| <= 1` (`√(x^2)` is `|x|`, not `x`), and a
    /// negative coefficient has no real non-integer power here.
    fn term_pow(&self, q: Exp) -> AResult<Poly> {
        let Some((m, c)) = self.single_term() else {
            return Err(Unsupported::NotAlgebraic);
        };
        if c.is_negative() {
            return Err(Unsupported::NotAlgebraic);
        }
        // x^{2/3} is even in x: (x^{2/3})^{3/2} is |x|, so only odd numerators go through
        let symbolic_ok = m.iter().all(|(a, e)| match a {
            Atom::Sym(_) | Atom::Opaque(_) => e.abs() <= Exp::one() && e.numer() % 2 != 0,
            _ => true,
        });
        if !symbolic_ok {
            return Err(Unsupported::NotAlgebraic);
        }
        let (num_c, num_m) = integer_root(c.numer().magnitude(), q)?;
        let (den_c, den_m) = integer_root(c.denom().magnitude(), -q)?;
        let (k1, roots) = mono_mul(&num_m, &den_m)?;
        let (mc, mm) = mono_pow(m, q)?;
        let (k2, mono) = mono_mul(&roots, &mm)?;
        let coef = num_c * den_c * k1 * mc * k2;
        let mut out = Poly::zero();
        out.add_term(mono, coef);
        out.checked()
    }

    /// A deterministic text form, used as the key of kept-whole expressions.
    pub fn key(&self) -> String {
        if self.terms.is_empty() {
            return "0".into();
        }
        let mut s = String::new();
        for (i, (m, c)) in self.terms.iter().enumerate() {
            if i > 0 {
                s.push('+');
            }
            s.push_str(&c.to_string());
            for (a, e) in m {
                s.push('*');
                match a {
                    Atom::Root(p) => s.push_str(&format!("root({p})")),
                    Atom::Pi => s.push_str("pi"),
                    Atom::Sym(n) => s.push_str(n),
                    Atom::Opaque(k) => s.push_str(k),
                }
                if !e.is_one() {
                    s.push_str(&format!("^({e})"));
                }
            }
        }
        s
    }
}

/// An exact value: `num / den`, `den` never zero. Not reduced: equality cross-multiplies.
#[derive(Clone, Debug)]
pub struct RatFn {
    num: Poly,
    den: Poly,
}

impl RatFn {
    pub fn from_poly(p: Poly) -> RatFn {
        RatFn {
            num: p,
            den: Poly::constant(Q::one()),
        }
    }

    pub fn constant(q: Q) -> RatFn {
        RatFn::from_poly(Poly::constant(q))
    }

    pub fn int(n: i64) -> RatFn {
        RatFn::constant(Q::from_integer(BigInt::from(n)))
    }

    pub fn atom(a: Atom) -> RatFn {
        RatFn::from_poly(Poly::atom(a))
    }

    /// The rational value, when there is no root, `π` or variable in it.
    pub fn as_rational(&self) -> Option<Q> {
        Some(self.num.as_constant()? / self.den.as_constant()?)
    }

    /// [`RatFn::as_rational`], borrowed when the denominator is 1 (no division, no gcd).
    pub fn rational(&self) -> Option<std::borrow::Cow<'_, Q>> {
        match (self.num.constant_term(), self.den.constant_term()) {
            (Some(n), Some(d)) if d.is_one() => Some(std::borrow::Cow::Borrowed(n)),
            _ => self.as_rational().map(std::borrow::Cow::Owned),
        }
    }

    pub fn is_zero(&self) -> bool {
        self.num.is_zero()
    }

    /// Whether a variable or kept-whole expression occurs.
    pub fn has_symbols(&self) -> bool {
        self.num.has_symbols() || self.den.has_symbols()
    }

    /// The variable name when the value is exactly one variable (`x`).
    pub fn as_symbol(&self) -> Option<&str> {
        if self.den.as_constant().is_some_and(|c| c.is_one()) {
            if let Some((m, c)) = self.num.single_term() {
                if c.is_one() && m.len() == 1 && m[0].1.is_one() {
                    if let Atom::Sym(name) = &m[0].0 {
                        return Some(name);
                    }
                }
            }
        }
        None
    }

    /// Divides through by a one-term denominator, so that common values stay polynomials.
    fn normalized(self) -> AResult<RatFn> {
        if let Some((m, c)) = self.den.single_term() {
            let (k, inv) = mono_pow(m, -Exp::one())?;
            let mut d = Poly::zero();
            d.add_term(inv, k / c);
            return Ok(RatFn::from_poly(self.num.mul(&d)?));
        }
        Ok(self)
    }

    /// `(num, den)` when both are rational constants (the fast path of plain numbers).
    fn constants(&self) -> Option<(&Q, &Q)> {
        Some((self.num.constant_term()?, self.den.constant_term()?))
    }

    /// Applies `op` to two constant values directly; `None` when either is not constant.
    fn const_op(&self, o: &RatFn, op: fn(Q, Q) -> Q) -> Option<AResult<RatFn>> {
        let ((a, b), (c, d)) = (self.constants()?, o.constants()?);
        let value = |n: &Q, d: &Q| if d.is_one() { n.clone() } else { n / d };
        let v = op(value(a, b), value(c, d));
        Some(check_bits(&v).map(|()| RatFn::constant(v)))
    }

    pub fn add(&self, o: &RatFn) -> AResult<RatFn> {
        if let Some(v) = self.const_op(o, |x, y| x + y) {
            return v;
        }
        if self.den == o.den {
            return Ok(RatFn {
                num: self.num.add(&o.num)?,
                den: self.den.clone(),
            });
        }
        RatFn {
            num: self.num.mul(&o.den)?.add(&o.num.mul(&self.den)?)?,
            den: self.den.mul(&o.den)?,
        }
        .normalized()
    }

    pub fn neg(&self) -> RatFn {
        RatFn {
            num: self.num.neg(),
            den: self.den.clone(),
        }
    }

    pub fn sub(&self, o: &RatFn) -> AResult<RatFn> {
        self.add(&o.neg())
    }

    pub fn mul(&self, o: &RatFn) -> AResult<RatFn> {
        if let Some(v) = self.const_op(o, |x, y| x * y) {
            return v;
        }
        RatFn {
            num: self.num.mul(&o.num)?,
            den: self.den.mul(&o.den)?,
        }
        .normalized()
    }

    pub fn div(&self, o: &RatFn) -> AResult<RatFn> {
        if o.num.is_zero() {
            return Err(Unsupported::Undefined);
        }
        if let Some(v) = self.const_op(o, |x, y| x / y) {
            return v;
        }
        RatFn {
            num: self.num.mul(&o.den)?,
            den: self.den.mul(&o.num)?,
        }
        .normalized()
    }

    /// `self^q`: integer `q` by repeated multiplication (bounded), a non-integer `q` only
    /// for a one-term value (`√8 = 2√2`, `x^{1/3}`); otherwise `NotAlgebraic`.
    pub fn pow(&self, q: Exp) -> AResult<RatFn> {
        if q.is_integer() {
            let k = q.to_integer();
            if k.abs() > MAX_EXPONENT {
                return Err(Unsupported::TooBig);
            }
            if let Some(c) = self.as_rational() {
                return Ok(RatFn::constant(pow_q(&c, k)?));
            }
            if k.abs() > 64 && (self.num.terms.len() > 1 || self.den.terms.len() > 1) {
                return Err(Unsupported::TooBig);
            }
            let (num, den) = (
                self.num.pow_nonneg(k.unsigned_abs())?,
                self.den.pow_nonneg(k.unsigned_abs())?,
            );
            return if k >= 0 {
                RatFn { num, den }.normalized()
            } else {
                if num.is_zero() {
                    return Err(Unsupported::Undefined);
                }
                RatFn { num: den, den: num }.normalized()
            };
        }
        if self.num.is_zero() {
            return if q > Exp::zero() {
                Ok(RatFn::int(0))
            } else {
                Err(Unsupported::Undefined)
            };
        }
        let num = self.num.term_pow(q)?;
        let den = self.den.term_pow(q)?;
        RatFn { num, den }.normalized()
    }

    /// Exact equality: `a/b = c/d ⇔ a·d = c·b`.
    pub fn equals(&self, o: &RatFn) -> bool {
        if self.den == o.den {
            return self.num == o.num;
        }
        match (self.num.mul(&o.den), o.num.mul(&self.den)) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        }
    }

    /// Whether `self = c · o` for a rational `c` other than 0 (`Some(c)`), else `None`.
    /// Equations `L = R` are equal when their `L - R` are proportional.
    pub fn ratio_to(&self, o: &RatFn) -> Option<Q> {
        let a = self.num.mul(&o.den).ok()?;
        let b = o.num.mul(&self.den).ok()?;
        let (ma, ca) = a.terms.last()?;
        let cb = &b.terms[b.terms.binary_search_by(|(k, _)| k.cmp(ma)).ok()?].1;
        let c = ca / cb;
        (b.scale(&c).ok()? == a).then_some(c)
    }

    /// The sign of a value that is a rational number, when it is one.
    pub fn rational_sign(&self) -> Option<std::cmp::Ordering> {
        self.as_rational().map(|q| q.cmp(&Q::zero()))
    }

    /// Rational bounds `[lo, hi]` of a constant (no variable, no kept-whole expression),
    /// its roots and `π` enclosed to `places` decimals; `None` when it has no value or
    /// its denominator's bounds may hold 0.
    pub fn enclose(&self, places: u32) -> Option<(Q, Q)> {
        let places = places.min(super::enclose::MAX_PLACES);
        let terms = |p: &Poly| {
            super::enclose::sum_of_terms(p.terms.iter().map(|(m, c)| (m.as_slice(), c)), places)
        };
        super::enclose::quotient(&terms(&self.num)?, &terms(&self.den)?)
    }

    /// A deterministic text form (not reduced: `x/x` and `1` differ), the key of
    /// kept-whole expressions such as `sin(x)`.
    pub fn key(&self) -> String {
        match self.den.as_constant() {
            Some(c) if c.is_one() => self.num.key(),
            _ => format!("({})/({})", self.num.key(), self.den.key()),
        }
    }
}

/// `n!` for `0 <= n <= 300`, exactly.
pub fn factorial(n: &Q) -> AResult<Q> {
    if !n.is_integer() || n.is_negative() {
        return Err(Unsupported::NotAlgebraic);
    }
    let k = n.to_integer().to_u64().ok_or(Unsupported::TooBig)?;
    if k > 300 {
        return Err(Unsupported::TooBig);
    }
    let mut acc = BigInt::one();
    for i in 2..=k {
        acc *= i;
    }
    Ok(Q::from_integer(acc))
}

/// `C(n, k)` for integers `0 <= k <= n <= 1000`, exactly.
pub fn binomial(n: &Q, k: &Q) -> AResult<Q> {
    if !n.is_integer() || !k.is_integer() || n.is_negative() || k.is_negative() || k > n {
        return Err(Unsupported::NotAlgebraic);
    }
    let n = n.to_integer().to_u64().ok_or(Unsupported::TooBig)?;
    let k = k.to_integer().to_u64().ok_or(Unsupported::TooBig)?;
    if n > 1000 {
        return Err(Unsupported::TooBig);
    }
    let k = k.min(n - k);
    let mut acc = BigInt::one();
    for i in 0..k {
        acc = acc * (n - i) / (i + 1);
    }
    Ok(Q::from_integer(acc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(n: i64, d: i64) -> Q {
        Q::new(BigInt::from(n), BigInt::from(d))
    }

    fn c(n: i64, d: i64) -> RatFn {
        RatFn::constant(q(n, d))
    }

    fn x() -> RatFn {
        RatFn::atom(Atom::Sym("x".into()))
    }

    fn half() -> Exp {
        Exp::new(1, 2)
    }

    #[test]
    fn radicals_are_canonical() {
        let sqrt8 = c(8, 1).pow(half()).unwrap();
        let two_sqrt2 = c(2, 1).mul(&c(2, 1).pow(half()).unwrap()).unwrap();
        assert!(sqrt8.equals(&two_sqrt2));
        // √2/2 = 1/√2
        let a = c(2, 1).pow(half()).unwrap().div(&c(2, 1)).unwrap();
        let b = c(1, 1).div(&c(2, 1).pow(half()).unwrap()).unwrap();
        assert!(a.equals(&b));
        // √2·√2 = 2, √6 = √2·√3, ∛8 = 2, 4^{3/2} = 8
        let s2 = c(2, 1).pow(half()).unwrap();
        assert!(s2.mul(&s2).unwrap().equals(&c(2, 1)));
        let s6 = c(6, 1).pow(half()).unwrap();
        assert!(s6.equals(&s2.mul(&c(3, 1).pow(half()).unwrap()).unwrap()));
        assert!(c(8, 1).pow(Exp::new(1, 3)).unwrap().equals(&c(2, 1)));
        assert!(c(4, 1).pow(Exp::new(3, 2)).unwrap().equals(&c(8, 1)));
        assert!(!s2.equals(&c(1414, 1000)));
        // 1/(1+√2) = √2 - 1
        let lhs = c(1, 1).div(&c(1, 1).add(&s2).unwrap()).unwrap();
        assert!(lhs.equals(&s2.sub(&c(1, 1)).unwrap()));
        assert_eq!(c(-4, 1).pow(half()).unwrap_err(), Unsupported::NotAlgebraic);
    }

    #[test]
    fn polynomials_and_rational_functions() {
        // (x+1)^2 = x^2 + 2x + 1
        let lhs = x()
            .add(&c(1, 1))
            .unwrap()
            .pow(Exp::from_integer(2))
            .unwrap();
        let rhs = x()
            .pow(Exp::from_integer(2))
            .unwrap()
            .add(&x().mul(&c(2, 1)).unwrap())
            .unwrap()
            .add(&c(1, 1))
            .unwrap();
        assert!(lhs.equals(&rhs));
        // (x+2)/7 = x/7 + 2/7 ; (x^2-1)/(x-1) = x+1
        let a = x().add(&c(2, 1)).unwrap().div(&c(7, 1)).unwrap();
        let b = x().div(&c(7, 1)).unwrap().add(&c(2, 7)).unwrap();
        assert!(a.equals(&b));
        let sq = x()
            .pow(Exp::from_integer(2))
            .unwrap()
            .sub(&c(1, 1))
            .unwrap();
        let r = sq.div(&x().sub(&c(1, 1)).unwrap()).unwrap();
        assert!(r.equals(&x().add(&c(1, 1)).unwrap()));
        assert!(!r.equals(&x()));
        // x^{1/3} squared is x^{2/3}; √(x²) is not x
        let cube = x()
            .pow(Exp::new(1, 3))
            .unwrap()
            .pow(Exp::from_integer(2))
            .unwrap();
        assert!(cube.equals(&x().pow(Exp::new(2, 3)).unwrap()));
        let x2 = x().pow(Exp::from_integer(2)).unwrap();
        assert_eq!(x2.pow(half()).unwrap_err(), Unsupported::NotAlgebraic);
        assert_eq!(x().div(&c(0, 1)).unwrap_err(), Unsupported::Undefined);
    }

    #[test]
    fn proportional_equations() {
        // 2x + 4 vs x + 2: ratio 2
        let a = x().mul(&c(2, 1)).unwrap().add(&c(4, 1)).unwrap();
        let b = x().add(&c(2, 1)).unwrap();
        assert_eq!(a.ratio_to(&b), Some(q(2, 1)));
        assert_eq!(a.ratio_to(&x()), None);
    }

    #[test]
    fn bounds_hold() {
        assert_eq!(pow_q(&q(10, 1), 1001).unwrap_err(), Unsupported::TooBig);
        assert!(pow_q(&q(10, 1), 1000).is_ok());
        assert_eq!(pow_q(&q(3, 1), 100_000).unwrap_err(), Unsupported::TooBig);
        let big = x().add(&c(1, 1)).unwrap();
        assert_eq!(
            big.pow(Exp::from_integer(300)).unwrap_err(),
            Unsupported::TooBig
        );
        assert_eq!(factorial(&q(5, 1)).unwrap(), q(120, 1));
        assert_eq!(binomial(&q(5, 1), &q(2, 1)).unwrap(), q(10, 1));
        assert!(factorial(&q(1, 2)).is_err());
    }
}
