//! Exact numbers: `i128` rationals with overflow checks, and the parser of the numeric
//! answer forms (integers, decimals, thousands separators, signs, `a/b`, `\frac`,
//! mixed numbers, and the powers of [`super::power`]).
//!
//! A value that does not fit an `i128` fraction is kept as its canonical decimal
//! string ([`Num::Big`]), so huge integers and long decimals still compare exactly
//! (by digits) instead of being rounded.

use super::power::{power, times_pow10};

/// A reduced fraction `num / den` with `den > 0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ratio {
    num: i128,
    den: i128,
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        let t = a % b;
        a = b;
        b = t;
    }
    a
}

impl Ratio {
    /// `num / den` reduced; `None` for a zero denominator or `i128::MIN` operands.
    pub fn new(num: i128, den: i128) -> Option<Ratio> {
        if den == 0 || num == i128::MIN || den == i128::MIN {
            return None;
        }
        let g = gcd(num.unsigned_abs(), den.unsigned_abs());
        // g >= 1 here (den != 0) and divides both, so the quotients fit.
        let g = i128::try_from(g).ok()?;
        let (mut n, mut d) = (num / g, den / g);
        if d < 0 {
            n = -n;
            d = -d;
        }
        Some(Ratio { num: n, den: d })
    }

    pub fn int(n: i128) -> Option<Ratio> {
        Ratio::new(n, 1)
    }

    pub fn num(self) -> i128 {
        self.num
    }

    pub fn den(self) -> i128 {
        self.den
    }

    pub fn negated(self) -> Ratio {
        // num > i128::MIN by construction, so negation cannot overflow.
        Ratio {
            num: -self.num,
            den: self.den,
        }
    }

    pub fn checked_add(self, o: Ratio) -> Option<Ratio> {
        let g = i128::try_from(gcd(self.den.unsigned_abs(), o.den.unsigned_abs())).ok()?;
        let l = (self.den / g).checked_mul(o.den)?;
        let a = self.num.checked_mul(l / self.den)?;
        let b = o.num.checked_mul(l / o.den)?;
        Ratio::new(a.checked_add(b)?, l)
    }

    pub fn checked_mul(self, o: Ratio) -> Option<Ratio> {
        // Cross-reduce first to keep the products small.
        let g1 = i128::try_from(gcd(self.num.unsigned_abs(), o.den.unsigned_abs())).ok()?;
        let g2 = i128::try_from(gcd(o.num.unsigned_abs(), self.den.unsigned_abs())).ok()?;
        let (g1, g2) = (g1.max(1), g2.max(1));
        let n = (self.num / g1).checked_mul(o.num / g2)?;
        let d = (self.den / g2).checked_mul(o.den / g1)?;
        Ratio::new(n, d)
    }

    pub fn checked_div(self, o: Ratio) -> Option<Ratio> {
        if o.num == 0 {
            return None;
        }
        self.checked_mul(Ratio {
            num: o.den,
            den: o.num,
        })
    }
}

/// An exact number: a fraction, or the canonical decimal string of one too large for it.
///
/// Equality is by value: a fraction equals a digit string when its finite decimal expansion
/// is that string, so it does not matter which form a parse path produced.
#[derive(Clone, Debug)]
pub enum Num {
    Exact(Ratio),
    /// Canonical decimal: optional '-', integer digits without leading zeros, and
    /// '.' + fraction digits without trailing zeros when there are any.
    Big(String),
}

impl Num {
    pub fn negated(self) -> Num {
        match self {
            Num::Exact(r) => Num::Exact(r.negated()),
            Num::Big(s) => match s.strip_prefix('-') {
                Some(rest) => Num::Big(rest.to_owned()),
                None => Num::Big(format!("-{s}")),
            },
        }
    }

    /// `self / 100` (percentages); `None` when the result cannot be represented.
    pub fn percent(&self) -> Option<Num> {
        times_pow10(self.clone(), -2)
    }

    fn ratio(&self) -> Option<Ratio> {
        match self {
            Num::Exact(r) => Some(*r),
            Num::Big(_) => None,
        }
    }
}

impl PartialEq for Num {
    fn eq(&self, other: &Num) -> bool {
        match (self, other) {
            (Num::Exact(a), Num::Exact(b)) => a == b,
            (Num::Big(a), Num::Big(b)) => a == b,
            (Num::Exact(r), Num::Big(s)) | (Num::Big(s), Num::Exact(r)) => {
                finite_decimal(*r).is_some_and(|d| d == *s)
            }
        }
    }
}

impl Eq for Num {}

/// `r` written as a canonical decimal (the form [`Num::Big`] holds), when its expansion is
/// finite (the reduced denominator is `2^a 5^b`); `None` otherwise (`1/3`).
///
/// `n / (2^a 5^b) = n 2^(m-a) 5^(m-b) / 10^m` with `m = max(a, b) <= 127`, so the digits
/// come from multiplying `n`'s digits by 2s and 5s: exact where `i128` would overflow.
pub fn finite_decimal(r: Ratio) -> Option<String> {
    let mut den = r.den();
    let (mut twos, mut fives) = (0u32, 0u32);
    while den % 2 == 0 {
        den /= 2;
        twos += 1;
    }
    while den % 5 == 0 {
        den /= 5;
        fives += 1;
    }
    if den != 1 {
        return None;
    }
    let places = twos.max(fives) as usize;
    // little-endian decimal digits of |num|
    let mut digits: Vec<u8> = r
        .num()
        .unsigned_abs()
        .to_string()
        .bytes()
        .rev()
        .map(|b| b - b'0')
        .collect();
    let factors = std::iter::repeat(2u8)
        .take(places - twos as usize)
        .chain(std::iter::repeat(5u8).take(places - fives as usize));
    for f in factors {
        let mut carry = 0u8;
        for d in digits.iter_mut() {
            let v = *d * f + carry; // at most 9 * 5 + 4
            *d = v % 10;
            carry = v / 10;
        }
        if carry > 0 {
            digits.push(carry);
        }
    }
    while digits.len() <= places {
        digits.push(0);
    }
    let text: String = digits.iter().rev().map(|d| char::from(b'0' + d)).collect();
    let (int, frac) = text.split_at(text.len() - places);
    Some(canonical_decimal(r.num() < 0, int, frac))
}

/// The exact value of unsigned decimal digits `int_digits` . `frac_digits` (separators
/// already removed).
pub(super) fn decimal(int_digits: &str, frac_digits: &str) -> Num {
    // Leading and trailing zeros change nothing but would overflow the i128 accumulator
    // ("1.000…0" with 39 zeros is exactly 1).
    let int_digits = int_digits.trim_start_matches('0');
    let frac_digits = frac_digits.trim_end_matches('0');
    let mut num: Option<i128> = Some(0);
    for b in int_digits.bytes().chain(frac_digits.bytes()) {
        num = num
            .and_then(|n| n.checked_mul(10))
            .and_then(|n| n.checked_add(i128::from(b - b'0')));
    }
    match num.and_then(|n| over_pow10(n, frac_digits.len())) {
        Some(r) => Num::Exact(r),
        None => Num::Big(canonical_decimal(false, int_digits, frac_digits)),
    }
}

/// The canonical writing [`Num::Big`] holds: optional '-', integer digits without leading
/// zeros ("0" when none), and '.' + fraction digits without trailing zeros when any remain.
fn canonical_decimal(negative: bool, int_digits: &str, frac_digits: &str) -> String {
    let int = match int_digits.trim_start_matches('0') {
        "" => "0",
        rest => rest,
    };
    let frac = frac_digits.trim_end_matches('0');
    let sign = if negative { "-" } else { "" };
    if frac.is_empty() {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{frac}")
    }
}

/// `n / 10^places` reduced, or `None` when even the reduced fraction overflows `i128`
/// (common factors of 2 and 5 come off first: `25 / 10^39` is `1 / (4 * 10^37)`).
fn over_pow10(mut n: i128, places: usize) -> Option<Ratio> {
    let (mut twos, mut fives) = (u32::try_from(places).ok()?, u32::try_from(places).ok()?);
    if n == 0 {
        return Ratio::int(0);
    }
    while twos > 0 && n % 2 == 0 {
        n /= 2;
        twos -= 1;
    }
    while fives > 0 && n % 5 == 0 {
        n /= 5;
        fives -= 1;
    }
    let den = 2i128
        .checked_pow(twos)?
        .checked_mul(5i128.checked_pow(fives)?)?;
    Ratio::new(n, den)
}

/// A cursor over the bytes of an answer.
struct Cursor<'a> {
    s: &'a str,
    i: usize,
    /// How many `\frac` arguments enclose this text (see [`MAX_FRAC_DEPTH`]).
    depth: usize,
}

/// Nesting limit of `\frac` inside `\frac` arguments: each level recurses, so without a
/// limit a crafted answer could exhaust the stack. Real answers nest two or three deep.
const MAX_FRAC_DEPTH: usize = 32;

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.i).copied()
    }

    fn rest(&self) -> &'a str {
        self.s.get(self.i..).unwrap_or("")
    }

    fn skip_spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.i += 1;
        }
    }

    fn eat(&mut self, lit: &str) -> bool {
        if self.rest().starts_with(lit) {
            self.i += lit.len();
            true
        } else {
            false
        }
    }

    fn digits(&mut self) -> &'a str {
        let start = self.i;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.i += 1;
        }
        &self.s[start..self.i]
    }

    /// An unsigned decimal: `ddd`, `d,ddd,ddd`, `ddd.ddd`, `.ddd`, `ddd.`.
    fn unsigned_decimal(&mut self) -> Option<Num> {
        let start = self.i;
        let lead = self.digits();
        let mut int = String::from(lead);
        if !lead.is_empty() && lead.len() <= 3 && !lead.starts_with('0') {
            // thousands separators: ",ddd" groups (also LaTeX "{,}ddd")
            loop {
                let save = self.i;
                if !(self.eat(",") || self.eat("{,}")) {
                    break;
                }
                let group = self.digits();
                if group.len() != 3 {
                    self.i = save;
                    break;
                }
                int.push_str(group);
            }
        }
        let mut frac = "";
        if self.peek() == Some(b'.') {
            let save = self.i;
            self.i += 1;
            frac = self.digits();
            if frac.is_empty() && lead.is_empty() {
                self.i = save;
            }
        }
        if int.is_empty() && frac.is_empty() {
            self.i = start;
            return None;
        }
        Some(decimal(&int, frac))
    }

    /// A signed decimal with optional spaces after the sign.
    fn signed_decimal(&mut self) -> Option<Num> {
        let start = self.i;
        let neg = self.sign();
        match self.unsigned_decimal() {
            Some(n) => Some(if neg { n.negated() } else { n }),
            None => {
                self.i = start;
                None
            }
        }
    }

    /// Consumes any run of '+'/'-' signs; true when negative.
    fn sign(&mut self) -> bool {
        let mut neg = false;
        loop {
            self.skip_spaces();
            match self.peek() {
                Some(b'-') => neg = !neg,
                Some(b'+') => {}
                _ => return neg,
            }
            self.i += 1;
        }
    }

    /// One `\frac` argument: `{signed number or fraction}` or a single digit.
    fn frac_arg(&mut self) -> Option<Num> {
        self.skip_spaces();
        if self.eat("{") {
            let body_start = self.i;
            let mut depth = 1usize;
            while let Some(b) = self.peek() {
                match b {
                    b'{' => depth += 1,
                    b'}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
                self.i += 1;
            }
            if depth != 0 {
                return None;
            }
            let body = &self.s[body_start..self.i];
            self.i += 1; // the closing brace
            if self.depth >= MAX_FRAC_DEPTH {
                return None;
            }
            return match parse_numeric_at(body.trim(), self.depth + 1) {
                Some(Parsed {
                    value,
                    percent: false,
                }) => Some(value),
                _ => None,
            };
        }
        let b = self.peek()?;
        if b.is_ascii_digit() {
            self.i += 1;
            return Some(decimal(&self.s[self.i - 1..self.i], ""));
        }
        None
    }

    /// An exponent `^{k}` / `^k` (a signed integer in braces, or unbraced digits: typeset
    /// LaTeX would raise only the first digit of `10^12`, but whoever writes it means
    /// 10^{12}, and math-verify reads it so); the cursor stays put when there is none.
    fn exponent(&mut self) -> Option<i64> {
        let save = self.i;
        self.skip_spaces();
        if !self.eat("^") {
            self.i = save;
            return None;
        }
        self.skip_spaces();
        let braced = self.eat("{");
        let neg = braced && self.sign();
        let digits = self.digits();
        if braced {
            self.skip_spaces();
        }
        // more than 18 digits cannot be an i64 (and is far past MAX_EXPONENT anyway)
        let k = if digits.is_empty() || digits.len() > 18 || (braced && !self.eat("}")) {
            None
        } else {
            digits.parse::<i64>().ok().map(|k| if neg { -k } else { k })
        };
        if k.is_none() {
            self.i = save;
        }
        k
    }

    /// Scientific notation after a number: `\times 10^{k}` (also `\cdot`, `×`, `*`);
    /// the cursor stays put when there is none.
    fn times_ten_power(&mut self) -> Option<i64> {
        let save = self.i;
        self.skip_spaces();
        let times = ["\\times", "\\cdot", "×", "*"];
        if times.iter().any(|op| self.eat(op)) {
            self.skip_spaces();
            if self.eat("10") {
                if let Some(k) = self.exponent() {
                    return Some(k);
                }
            }
        }
        self.i = save;
        None
    }

    /// `\frac{a}{b}` (the caller has consumed `\frac`).
    fn frac_body(&mut self) -> Option<Num> {
        let a = self.frac_arg()?;
        let b = self.frac_arg()?;
        divide(a, b)
    }
}

/// `a / b`; beyond `i128` only the exact cases `x / 1` and `x / -1` (a big numerator
/// over a big or other denominator has no exact form here and is not a number).
fn divide(a: Num, b: Num) -> Option<Num> {
    let one = Ratio::int(1)?;
    match (&a, &b) {
        (Num::Big(_), Num::Exact(d)) if *d == one => Some(a),
        (Num::Big(_), Num::Exact(d)) if *d == one.negated() => Some(a.negated()),
        _ => a.ratio()?.checked_div(b.ratio()?).map(Num::Exact),
    }
}

/// A parsed numeric answer: its value and whether it was written as a percentage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed {
    pub value: Num,
    pub percent: bool,
}

/// Parses a whole cleaned answer (see `equal::clean`) as a number, or `None`.
///
/// Accepted: `[sign] core [\times 10^{k}] [%]` where core is a decimal (thousands
/// separators allowed), a power `b^{k}` of one, `a/b` of decimals, `\frac{a}{b}` /
/// `\frac ab`, or a mixed number `n\frac{a}{b}` (`n + a/b`); the sign applies to the
/// whole (`-2^{2}` is -4).
pub fn parse_numeric(s: &str) -> Option<Parsed> {
    parse_numeric_at(s, 0)
}

fn parse_numeric_at(s: &str, depth: usize) -> Option<Parsed> {
    let mut c = Cursor { s, i: 0, depth };
    let neg = c.sign();
    let mut value = if c.eat("\\frac") {
        c.frac_body()?
    } else {
        let whole = c.unsigned_decimal()?;
        let save = c.i;
        c.skip_spaces();
        if let Some(k) = c.exponent() {
            power(whole, k)?
        } else if c.eat("\\frac") {
            // mixed number: integer part + proper fraction
            let frac = c.frac_body()?;
            let (Num::Exact(w), Num::Exact(f)) = (&whole, &frac) else {
                return None;
            };
            if w.den() != 1 || f.num() < 0 {
                return None;
            }
            Num::Exact(w.checked_add(*f)?)
        } else if c.eat("/") {
            c.skip_spaces();
            let den = c.signed_decimal()?;
            divide(whole, den)?
        } else {
            c.i = save;
            whole
        }
    };
    if let Some(k) = c.times_ten_power() {
        value = times_pow10(value, k)?;
    }
    if neg {
        value = value.negated();
    }
    c.skip_spaces();
    let percent = c.eat("%");
    c.skip_spaces();
    if c.i != s.len() {
        return None;
    }
    Some(Parsed { value, percent })
}

/// Parses a signed number or fraction without a percent sign.
pub fn parse_number(s: &str) -> Option<Num> {
    match parse_numeric(s) {
        Some(Parsed {
            value,
            percent: false,
        }) => Some(value),
        _ => None,
    }
}

/// Whether two parsed answers denote the same number. A percentage `p%` matches both
/// `p / 100` and `p` ("50%" equals 0.5 and 50), as math-verify does and as the
/// `include_percentage` rule of the Qwen2.5-Math and DeepSeek-Math graders does.
pub fn numbers_equal(a: &Parsed, b: &Parsed) -> bool {
    let alts = |p: &Parsed| -> [Option<Num>; 2] {
        if p.percent {
            [Some(p.value.clone()), p.value.percent()]
        } else {
            [Some(p.value.clone()), None]
        }
    };
    let (xa, xb) = (alts(a), alts(b));
    xa.iter()
        .flatten()
        .any(|x| xb.iter().flatten().any(|y| x == y))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeros_around_a_decimal_do_not_overflow_it() {
        let zeros = "0".repeat(60);
        assert_eq!(parse_number(&format!("1.{zeros}")), parse_number("1"));
        assert_eq!(parse_number(&format!("0.5{zeros}")), parse_number("1/2"));
        assert_eq!(parse_number(&format!("-0.{zeros}")), parse_number("0"));
        assert_eq!(parse_number(&format!("{zeros}7")), parse_number("7"));
    }

    #[test]
    fn big_numbers_over_one_stay_exact() {
        let big = "340282366920938463463374607431768211457";
        assert_eq!(parse_number(&format!("{big}/1")), parse_number(big));
        assert_eq!(
            parse_number(&format!("{big}/-1")),
            parse_number(&format!("-{big}"))
        );
        assert_eq!(
            parse_number(&format!("\\frac{{{big}}}{{1}}")),
            parse_number(big)
        );
        assert_eq!(parse_number(&format!("{big}/3")), None);
    }

    #[test]
    fn nested_fractions_parse_up_to_a_depth_limit() {
        let two = parse_number("\\frac{1}{\\frac{1}{2}}").unwrap();
        assert_eq!(two, parse_number("2").unwrap());
        // Far deeper than the limit: no answer, and no stack overflow.
        let deep = format!("{}2{}", "\\frac{1}{".repeat(100_000), "}".repeat(100_000));
        assert_eq!(parse_numeric(&deep), None);
        let at_limit = format!(
            "{}2{}",
            "\\frac{1}{".repeat(MAX_FRAC_DEPTH),
            "}".repeat(MAX_FRAC_DEPTH)
        );
        assert!(parse_numeric(&at_limit).is_some());
    }

    fn r(n: i128, d: i128) -> Num {
        Num::Exact(Ratio::new(n, d).unwrap())
    }

    fn num(s: &str) -> Option<Num> {
        parse_numeric(s).map(|p| p.value)
    }

    #[test]
    fn ratio_arithmetic_is_exact_and_checked() {
        let a = Ratio::new(1, 10).unwrap();
        let b = Ratio::new(2, 10).unwrap();
        assert_eq!(a.checked_add(b), Ratio::new(3, 10));
        assert_eq!(Ratio::new(6, -8), Ratio::new(-3, 4));
        assert_eq!(Ratio::new(1, 0), None);
        assert_eq!(
            Ratio::int(i128::MAX)
                .unwrap()
                .checked_add(Ratio::int(1).unwrap()),
            None
        );
        assert_eq!(
            Ratio::int(i128::MAX)
                .unwrap()
                .checked_mul(Ratio::int(2).unwrap()),
            None
        );
        assert_eq!(
            Ratio::int(3).unwrap().checked_div(Ratio::int(0).unwrap()),
            None
        );
        assert_eq!(Ratio::new(i128::MIN, 1), None);
    }

    #[test]
    fn numeric_forms() {
        assert_eq!(num("42"), Some(r(42, 1)));
        assert_eq!(num("-1,234,567.50"), Some(r(-2_469_135, 2)));
        assert_eq!(num("1{,}000"), Some(r(1000, 1)));
        assert_eq!(num(".5"), Some(r(1, 2)));
        assert_eq!(num("5."), Some(r(5, 1)));
        assert_eq!(num("+ 3"), Some(r(3, 1)));
        assert_eq!(num("- 3"), Some(r(-3, 1)));
        assert_eq!(num("3/4"), Some(r(3, 4)));
        assert_eq!(num("3 / -4"), Some(r(-3, 4)));
        assert_eq!(num("\\frac{3}{4}"), Some(r(3, 4)));
        assert_eq!(num("\\frac12"), Some(r(1, 2)));
        assert_eq!(num("\\frac1{20}"), Some(r(1, 20)));
        assert_eq!(num("-\\frac{-5}{-2}"), Some(r(-5, 2)));
        assert_eq!(num("2\\frac{1}{2}"), Some(r(5, 2)));
        assert_eq!(num("-2 \\frac{1}{2}"), Some(r(-5, 2)));
        assert_eq!(num("\\frac{0.5}{2}"), Some(r(1, 4)));
        assert_eq!(num("1/0"), None);
        assert_eq!(num("1,00"), None);
        assert_eq!(num("1,2"), None);
        assert_eq!(num("x"), None);
        assert_eq!(num(""), None);
        assert_eq!(num("."), None);
        assert_eq!(num("\\frac{1}"), None);
        let p = parse_numeric("50%").unwrap();
        assert!(p.percent);
        assert_eq!(p.value, r(50, 1));
    }

    #[test]
    fn powers_and_scientific_notation() {
        assert_eq!(num("2.5\\times10^{3}"), Some(r(2500, 1)));
        assert_eq!(num("2.5 \\times 10^3"), Some(r(2500, 1)));
        assert_eq!(num("-1.5 \\cdot 10^{-2}"), Some(r(-3, 200)));
        assert_eq!(num("3×10^{ 2 }"), Some(r(300, 1)));
        assert_eq!(num("\\frac{1}{2}\\times 10^{2}"), Some(r(50, 1)));
        assert_eq!(num("10^{6}"), Some(r(1_000_000, 1)));
        assert_eq!(num("10^6"), Some(r(1_000_000, 1)));
        assert_eq!(num("2^{10}"), Some(r(1024, 1)));
        assert_eq!(num("-2^{2}"), Some(r(-4, 1)));
        assert_eq!(num("2^{-2}"), Some(r(1, 4)));
        assert_eq!(
            num("6.02\\times10^{40}"),
            num(&format!("602{}", "0".repeat(38)))
        );
        assert_eq!(num("10^12"), Some(r(1_000_000_000_000, 1)));
        assert_eq!(num("10^-3"), None); // an unbraced sign is not an exponent
        assert_eq!(num("2 \\times 3"), None);
        assert_eq!(num("2\\times10"), None);
        assert_eq!(num("10^{x}"), None);
        assert_eq!(num("10^{1000000}"), None);
        assert_eq!(num("10^{99999999999999999999}"), None);
        assert_eq!(num("2^{200}"), None);
        let p = parse_numeric("1.5\\times10^{1}\\%").map(|p| p.percent);
        assert_eq!(p, None); // "\\%" is cleaned to "%" before parsing
        let p = parse_numeric("1.5\\times10^{1}%").unwrap();
        assert!(p.percent);
        assert_eq!(p.value, r(15, 1));
    }

    #[test]
    fn big_numbers_compare_by_digits() {
        let a = num("123456789012345678901234567890123456789012").unwrap();
        let b = num("123456789012345678901234567890123456789013").unwrap();
        assert!(matches!(a, Num::Big(_)));
        assert_ne!(a, b);
        assert_eq!(
            a,
            num("123,456,789,012,345,678,901,234,567,890,123,456,789,012").unwrap()
        );
        assert_eq!(
            num("0.1000000000000000000000000000000000000000000001"),
            num("0.10000000000000000000000000000000000000000000010")
        );
        // beyond f64 precision but within i128: exact
        assert_ne!(num("9007199254740993"), num("9007199254740992"));
    }

    #[test]
    fn percent_matches_both_readings() {
        let p = parse_numeric("50%").unwrap();
        let half = parse_numeric("0.5").unwrap();
        let fifty = parse_numeric("50").unwrap();
        assert!(numbers_equal(&p, &half));
        assert!(numbers_equal(&half, &p));
        assert!(numbers_equal(&p, &fifty));
        assert!(!numbers_equal(&p, &parse_numeric("5").unwrap()));
        assert!(!numbers_equal(&half, &fifty));
    }
}
