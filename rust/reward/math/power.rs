//! Powers in numeric answers, exactly: scientific notation `a \times 10^{k}` and integer
//! powers `b^{k}`.
//!
//! A power of ten moves the decimal point, so `6.02\times10^{23}` or `10^{-40}` stay
//! exact even beyond `i128` (as a [`Num::Big`] digit string). Other bases multiply
//! checked `i128` fractions; a power that overflows them is not a number.

use super::number::{decimal, finite_decimal, Num, Ratio};

/// Largest `|k|` accepted in `10^{k}` / `b^{k}`: a power of ten is built as a digit
/// string, so a crafted `10^{999999999}` must not allocate gigabytes. Real answers use
/// exponents in the tens.
pub const MAX_EXPONENT: u32 = 1000;

/// `x` as a finite decimal: (negative, integer digits, fraction digits); `None` when it
/// has none (`1/3`).
fn decimal_digits(x: &Num) -> Option<(bool, String, String)> {
    let canonical = match x {
        Num::Big(s) => s.clone(),
        Num::Exact(r) => finite_decimal(*r)?,
    };
    let (neg, body) = match canonical.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, canonical.as_str()),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    Some((neg, int.to_owned(), frac.to_owned()))
}

/// `x * 10^k`, exactly (`None` when `|k| > MAX_EXPONENT`, or `x` has no finite decimal
/// and the product overflows `i128`).
pub fn times_pow10(x: Num, k: i64) -> Option<Num> {
    let shift = u32::try_from(k.unsigned_abs())
        .ok()
        .filter(|&s| s <= MAX_EXPONENT)?;
    if let Num::Exact(r) = &x {
        let product = 10i128
            .checked_pow(shift)
            .and_then(Ratio::int)
            .and_then(|p| {
                if k >= 0 {
                    r.checked_mul(p)
                } else {
                    r.checked_div(p)
                }
            });
        if let Some(v) = product {
            return Some(Num::Exact(v));
        }
    }
    // Beyond i128: move the decimal point in the digit string.
    let (neg, int, frac) = decimal_digits(&x)?;
    let digits = format!("{int}{frac}");
    let point = int.len() as i64 + k; // where the point lands in `digits`
    let value = if point <= 0 {
        let zeros = "0".repeat(point.unsigned_abs() as usize);
        decimal("", &format!("{zeros}{digits}"))
    } else if point as usize >= digits.len() {
        let zeros = "0".repeat(point as usize - digits.len());
        decimal(&format!("{digits}{zeros}"), "")
    } else {
        let (i, f) = digits.split_at(point as usize);
        decimal(i, f)
    };
    Some(if neg { value.negated() } else { value })
}

/// `base^k` for an integer `k`, exactly: ten by [`times_pow10`], other bases by checked
/// powers of the reduced numerator and denominator (`None` on overflow, `0^{-k}` or
/// `|k| > MAX_EXPONENT`).
pub fn power(base: Num, k: i64) -> Option<Num> {
    let n = u32::try_from(k.unsigned_abs())
        .ok()
        .filter(|&n| n <= MAX_EXPONENT)?;
    let one = Ratio::int(1)?;
    if base == Num::Exact(Ratio::int(10)?) {
        return times_pow10(Num::Exact(one), k);
    }
    let Num::Exact(b) = base else {
        return None;
    };
    // num and den are coprime, so their powers are too: no reduction is lost.
    let raised = Ratio::new(b.num().checked_pow(n)?, b.den().checked_pow(n)?)?;
    let value = if k < 0 {
        one.checked_div(raised)?
    } else {
        raised
    };
    Some(Num::Exact(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(n: i128, d: i128) -> Num {
        Num::Exact(Ratio::new(n, d).unwrap())
    }

    #[test]
    fn powers_of_ten_are_exact_within_and_beyond_i128() {
        assert_eq!(times_pow10(r(5, 2), 3), Some(r(2500, 1)));
        assert_eq!(times_pow10(r(-5, 2), -3), Some(r(-1, 400)));
        assert_eq!(times_pow10(r(1, 3), 2), Some(r(100, 3)));
        let avogadro = times_pow10(r(301, 50), 23).unwrap(); // 6.02e23
        assert_eq!(avogadro, r(602_000_000_000_000_000_000_000, 1));
        let big = times_pow10(r(3, 2), 60).unwrap();
        assert_eq!(big, Num::Big(format!("15{}", "0".repeat(59))));
        let tiny = times_pow10(r(-3, 2), -60).unwrap();
        assert_eq!(tiny, Num::Big(format!("-0.{}15", "0".repeat(59))));
        // back again: 1.5e60 * 1e-60
        assert_eq!(times_pow10(big, -60), Some(r(3, 2)));
        assert_eq!(times_pow10(r(1, 3), 60), None); // no finite decimal, overflows
        assert_eq!(times_pow10(r(1, 1), i64::from(MAX_EXPONENT) + 1), None);
        assert_eq!(times_pow10(r(1, 1), i64::MIN), None);
    }

    #[test]
    fn a_fraction_equals_the_digits_of_its_decimal() {
        // 2^-55 has 39 significant digits: parsed, they overflow i128 and stay a digit
        // string; as a power it is the fraction 1/2^55. Equal either way.
        let digits = "0.0000000000000000277555756156289135105907917022705078125";
        let parsed = crate::reward::math::number::parse_number(digits).unwrap();
        assert_eq!(power(r(2, 1), -55), Some(parsed.clone()));
        assert_eq!(Some(parsed), power(r(2, 1), -55));
        assert_ne!(power(r(2, 1), -55), power(r(2, 1), -54));
        assert_eq!(times_pow10(r(5, 2), -38), Some(r(1, 40 * 10i128.pow(36))));
        assert_eq!(
            finite_decimal(Ratio::new(-1, 8).unwrap()).as_deref(),
            Some("-0.125")
        );
        assert_eq!(finite_decimal(Ratio::new(1, 3).unwrap()), None);
        let tiny = finite_decimal(Ratio::new(1, 1 << 126).unwrap()).unwrap();
        assert!(tiny.starts_with("0.0000000000000000000000000000000000000117549435"));
        assert!(tiny.ends_with('5'));
    }

    #[test]
    fn integer_powers() {
        assert_eq!(power(r(2, 1), 10), Some(r(1024, 1)));
        assert_eq!(power(r(-3, 1), 3), Some(r(-27, 1)));
        assert_eq!(power(r(2, 1), -2), Some(r(1, 4)));
        assert_eq!(power(r(1, 2), 3), Some(r(1, 8)));
        assert_eq!(power(r(7, 1), 0), Some(r(1, 1)));
        assert_eq!(power(r(0, 1), -1), None);
        assert_eq!(power(r(2, 1), 200), None); // beyond i128: not a number
        assert_eq!(power(r(1, 1), 1000), Some(r(1, 1)));
        assert_eq!(power(r(-1, 1), 999), Some(r(-1, 1)));
        assert_eq!(power(r(2, 3), -3), Some(r(27, 8)));
        assert_eq!(power(r(10, 1), 40), times_pow10(r(1, 1), 40));
    }
}
