//! Rational enclosures of exact constants, for one question only: whether a decimal the
//! response wrote is the correct rounding of an exact value (`0.142857` of `1/7`,
//! `4.123105625617661` of `√17`). Bounds are exact rationals, never floats: a value is
//! enclosed in `[lo, hi]`, and an answer that the enclosure cannot decide is refused.

use num_bigint::{BigInt, BigUint};
use num_traits::{One, Signed, Zero};

use super::algebra::{Atom, Exp, Q};

/// `π` to 59 decimal places: `PI_DIGITS / 10^59 < π < (PI_DIGITS + 1) / 10^59`.
const PI_DIGITS: &str = "314159265358979323846264338327950288419716939937510582097494";
const PI_PLACES: u32 = 59;
/// Largest root index `b` of `p^{a/b}` enclosed (the integer root costs `b · digits` bits).
const MAX_ROOT_INDEX: i64 = 64;
/// Largest `|n|` of `π^n` enclosed.
const MAX_PI_POWER: i64 = 8;
/// Most decimal places asked of an enclosure.
pub const MAX_PLACES: u32 = 48;

/// An interval `[lo, hi]` with rational ends.
pub type Interval = (Q, Q);

fn pow10(k: u32) -> BigInt {
    num_traits::pow(BigInt::from(10u8), k as usize)
}

/// `[lo, hi]` around `p^{e}` (`0 < e`), `hi - lo = 10^{-places}`: with `e = a/b`,
/// `r = ⌊(p^a · 10^{b·places})^{1/b}⌋` gives `r / 10^{places} ≤ p^e < (r + 1) / 10^{places}`.
fn root(p: &BigUint, e: Exp, places: u32) -> Option<Interval> {
    let (a, b) = (*e.numer(), *e.denom());
    if a <= 0 || b > MAX_ROOT_INDEX || a > MAX_ROOT_INDEX * 4 {
        return None;
    }
    let scale = num_traits::pow(BigUint::from(10u8), (b as usize) * (places as usize));
    let radicand = num_traits::pow(p.clone(), a as usize) * scale;
    let r = BigInt::from(radicand.nth_root(b as u32));
    let den = pow10(places);
    Some((Q::new(r.clone(), den.clone()), Q::new(r + 1, den)))
}

fn mul(x: &Interval, y: &Interval) -> Interval {
    let c = [&x.0 * &y.0, &x.0 * &y.1, &x.1 * &y.0, &x.1 * &y.1];
    let lo = c.iter().min().cloned().unwrap_or_default();
    let hi = c.iter().max().cloned().unwrap_or_default();
    (lo, hi)
}

/// `1 / [lo, hi]`, for an interval that excludes 0.
fn recip(x: &Interval) -> Option<Interval> {
    let excludes_zero = x.0.is_positive() || x.1.is_negative();
    excludes_zero.then(|| (x.1.recip(), x.0.recip()))
}

/// `[lo, hi]` around one factor `atom^{e}`; `None` for a variable or a kept-whole
/// expression, which have no value.
fn factor(atom: &Atom, e: Exp, places: u32) -> Option<Interval> {
    let (lo, hi) = match atom {
        Atom::Root(p) if e.is_positive() => root(p, e, places)?,
        Atom::Root(p) => recip(&root(p, -e, places)?)?,
        Atom::Pi => {
            let n = e.to_integer();
            if !e.is_integer() || n.abs() > MAX_PI_POWER {
                return None;
            }
            let digits: BigInt = PI_DIGITS.parse().ok()?;
            let den = pow10(PI_PLACES);
            let pi = (Q::new(digits.clone(), den.clone()), Q::new(digits + 1, den));
            let mut acc = (Q::one(), Q::one());
            for _ in 0..n.abs() {
                acc = mul(&acc, &pi);
            }
            if n < 0 {
                recip(&acc)?
            } else {
                acc
            }
        }
        Atom::Sym(_) | Atom::Opaque(_) => return None,
    };
    Some((lo, hi))
}

/// `[lo, hi]` around `Σ c · ∏ atom^{e}`, each atom enclosed to `places` decimals.
pub fn sum_of_terms<'a, I>(terms: I, places: u32) -> Option<Interval>
where
    I: IntoIterator<Item = (&'a [(Atom, Exp)], &'a Q)>,
{
    let mut total = (Q::zero(), Q::zero());
    for (monomial, c) in terms {
        let mut term = (c.clone(), c.clone());
        for (atom, e) in monomial {
            term = mul(&term, &factor(atom, *e, places)?);
        }
        total = (total.0 + term.0, total.1 + term.1);
    }
    Some(total)
}

/// `[lo, hi]` of `num / den` from their enclosures; `None` when `den`'s may hold 0.
pub fn quotient(num: &Interval, den: &Interval) -> Option<Interval> {
    Some(mul(num, &recip(den)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(n: i64, d: i64) -> Q {
        Q::new(BigInt::from(n), BigInt::from(d))
    }

    #[test]
    fn roots_and_pi_are_enclosed() {
        let (lo, hi) = root(&BigUint::from(2u8), Exp::new(1, 2), 6).unwrap();
        assert_eq!((lo, hi), (q(1_414_213, 1_000_000), q(1_414_214, 1_000_000)));
        let (lo, hi) = root(&BigUint::from(2u8), Exp::new(2, 3), 4).unwrap(); // 1.5874…
        assert_eq!((lo, hi), (q(15_874, 10_000), q(15_875, 10_000)));
        let (lo, hi) = factor(&Atom::Pi, Exp::from_integer(-1), 10).unwrap(); // 0.3183…
        assert!(lo < q(3_183_099, 10_000_000) && q(3_183_098, 10_000_000) < lo && lo < hi);
        assert!(factor(&Atom::Sym("x".into()), Exp::from_integer(1), 6).is_none());
        assert!(recip(&(q(-1, 1), q(1, 1))).is_none());
    }
}
