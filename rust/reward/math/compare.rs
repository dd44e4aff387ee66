//! Comparison of canonical answers: whether a response's [`Value`] equals the gold's.
//!
//! - Exact values: `a = b` by exact cross-multiplication; a percentage `p%` also reads as
//!   `p/100` (as math-verify and the Qwen2.5-Math grader read it). A decimal of at least
//!   6 places and 6 significant digits equals a value with no finite decimal expansion
//!   when it is that value correctly rounded (`0.142857` and `1/7`, math-verify's
//!   default precision), decided on exact rational bounds.
//! - Tuples and intervals: the same brackets and pairwise equal items. A bare list `1, 3`
//!   equals the tuple `(1, 3)` in order (math-verify's rule), not `(3, 1)`.
//! - Sets and lists of several answers: equal as sets (order and repeats do not count).
//! - Unions: equal as sets of their parts.
//! - Matrices: the same shape and equal entries.
//! - Equations: `L₁ = R₁` equals `L₂ = R₂` when `L₁ - R₁ = c (L₂ - R₂)` for a rational
//!   `c ≠ 0`, or when both answer the same label with equal values. An assignment
//!   (`x = 3`, `(p, q) = (1, 2)`) or a solution chain (`x = 5 + 6 = 11`) equals its value.
//! - Inequalities: each `d ⋈ 0` matches one of the other side's with `d₁ = c d₂`, `c > 0`
//!   (`c ≠ 0` for `≠`), so `x < 1` equals `-x > -1` and `1 > x`. A gold inequality in one
//!   variable equals the interval it describes (`-2 <= x <= 7` and `[-2, 7]`); a gold
//!   interval is not answered by an inequality, so that restating the question's
//!   inequality does not pay (math-verify's asymmetry).
//! - Text: equal normalised strings.

use super::algebra::{RatFn, Q};
use super::canonical::{Ineq, Value};
use super::enclose::MAX_PLACES;
use num_bigint::{BigInt, BigUint};
use num_traits::{One, Signed, Zero};

/// The decimal places of `q` when it is a finite decimal (its denominator `2^i 5^j` has
/// `max(i, j)`), else `None`.
fn decimal_places(q: &Q) -> Option<u64> {
    if q.denom().is_one() {
        return Some(0);
    }
    let mut den = q.denom().magnitude().clone();
    let twos = den.trailing_zeros().unwrap_or(0);
    den >>= twos;
    let five = BigUint::from(5u8);
    let mut fives = 0;
    while (&den % &five).is_zero() {
        den /= &five;
        fives += 1;
    }
    den.is_one().then_some(twos.max(fives))
}

/// Decimal places and significant digits a rounded answer must carry.
const ROUNDED_PLACES: u64 = 6;

/// Whether the decimal `dec` is `exact` correctly rounded: `dec` has `k >= 6` decimal
/// places and at least 6 significant digits, `exact` is a constant with no finite decimal
/// expansion (`1/7`, `√17`, `π/4`), and `|exact - dec| < 10^{-k} / 2`, decided on exact
/// rational bounds of `exact` (an undecided bound refuses). `0.142857` is `1/7`;
/// `0.14` and `0.142858` are not.
fn rounds_to(dec: &RatFn, exact: &RatFn) -> bool {
    let Some(q) = dec.rational() else {
        return false;
    };
    let Some(k) = decimal_places(&q) else {
        return false;
    };
    if k < ROUNDED_PLACES || k > u64::from(MAX_PLACES) - 8 {
        return false;
    }
    let ten = BigInt::from(10u8);
    let scaled = q.as_ref() * Q::from_integer(num_traits::pow(ten.clone(), k as usize));
    if scaled.abs() < Q::from_integer(num_traits::pow(ten.clone(), 5)) {
        return false; // fewer than 6 significant digits
    }
    let half = Q::new(BigInt::one(), 2 * num_traits::pow(ten, k as usize));
    match exact.as_rational() {
        Some(r) => decimal_places(&r).is_none() && (r - q.as_ref()).abs() < half,
        None => exact
            .enclose(k as u32 + 8)
            .is_some_and(|(lo, hi)| lo > q.as_ref() - &half && hi < q.as_ref() + &half),
    }
}

fn expr_equal(a: &RatFn, ap: bool, b: &RatFn, bp: bool) -> bool {
    if a.equals(b) {
        return true;
    }
    if !ap && !bp && (rounds_to(a, b) || rounds_to(b, a)) {
        return true;
    }
    if ap && bp {
        return false; // two percentages compare as written: 0.5% is not 50%
    }
    let hundredth = |e: &RatFn| e.div(&RatFn::int(100)).ok();
    (ap && hundredth(a).is_some_and(|x| x.equals(b)))
        || (bp && hundredth(b).is_some_and(|y| a.equals(&y)))
}

/// `a` and `b` as sets: each element of one equals one of the other (repeats ignored).
fn same_set(a: &[Value], b: &[Value]) -> bool {
    a.iter().all(|x| b.iter().any(|y| equal(x, y)))
        && b.iter().all(|y| a.iter().any(|x| equal(x, y)))
}

fn pairwise(a: &[Value], b: &[Value]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| equal(x, y))
}

fn ineq_match(a: &(RatFn, Ineq), b: &(RatFn, Ineq)) -> bool {
    a.1 == b.1
        && a.0
            .ratio_to(&b.0)
            .is_some_and(|c| a.1 == Ineq::NonZero || c.is_positive())
}

/// Labels and their values: `x = 1, y = 2`, or `(x, y) = (1, 2)`.
fn assignments(v: &Value) -> Option<Vec<(&str, &Value)>> {
    match v {
        Value::Assignments(pairs) => Some(pairs.iter().map(|(l, v)| (l.as_str(), v)).collect()),
        Value::Equation {
            label: Some(label),
            value: Some(value),
            ..
        } => {
            let names = label.strip_prefix('(')?.strip_suffix(')')?.split(',');
            let Value::Tuple('(', ')', items) = value.as_ref() else {
                return None;
            };
            let pairs: Vec<(&str, &Value)> = names.zip(items.iter()).collect();
            (pairs.len() == items.len() && pairs.len() > 1).then_some(pairs)
        }
        _ => None,
    }
}

/// Whether the response's answer `pred` equals the gold answer `gold`.
pub fn equal(gold: &Value, pred: &Value) -> bool {
    use Value::*;
    if let (Some(g), Some(p)) = (assignments(gold), assignments(pred)) {
        // the same labels with equal values, in any order
        return g.len() == p.len()
            && g.iter()
                .all(|(l, v)| p.iter().any(|(m, w)| l == m && equal(v, w)));
    }
    match (gold, pred) {
        // the gold's labels give the order of an unlabelled answer ("x = -5, p = 14/3" is
        // answered by "-5, 14/3")
        (Assignments(g), Tuple('(', ')', p) | List(p)) => {
            g.len() == p.len() && g.iter().zip(p).all(|((_, v), w)| equal(v, w))
        }
        // labelled values answer an unlabelled gold only when their order is not in doubt:
        // "y = 1, x = 2" may mean (x, y) = (2, 1), so it answers neither (1, 2) nor (2, 1)
        (Tuple('(', ')', g) | List(g), Assignments(p)) => {
            let sorted = p.windows(2).all(|w| w[0].0 <= w[1].0);
            sorted && g.len() == p.len() && g.iter().zip(p).all(|(v, (_, w))| equal(v, w))
        }
        _ => equal_values(gold, pred),
    }
}

fn equal_values(gold: &Value, pred: &Value) -> bool {
    use Value::*;
    match (gold, pred) {
        (Expr { e: a, percent: ap }, Expr { e: b, percent: bp }) => expr_equal(a, *ap, b, *bp),
        (Inf(a), Inf(b)) => a == b,
        (Text(a), Text(b)) => !a.is_empty() && a == b,
        (Tuple(o1, c1, a), Tuple(o2, c2, b)) => o1 == o2 && c1 == c2 && pairwise(a, b),
        (Tuple('(', ')', a), List(b)) | (List(a), Tuple('(', ')', b)) => pairwise(a, b),
        (Set(a) | List(a), Set(b) | List(b)) => same_set(a, b),
        (Union(a), Union(b)) => same_set(a, b),
        (Matrix(w1, a), Matrix(w2, b)) => w1 == w2 && pairwise(a, b),
        (
            Equation {
                label: l1,
                value: v1,
                diff: d1,
            },
            Equation {
                label: l2,
                value: v2,
                diff: d2,
            },
        ) => {
            let proportional = match (d1, d2) {
                (Some(a), Some(b)) => a.ratio_to(b).is_some(),
                _ => false,
            };
            let same_answer = match (l1, v1, l2, v2) {
                (Some(l1), Some(v1), Some(l2), Some(v2)) => l1 == l2 && equal(v1, v2),
                // a chain without a label ("1 = \zzz = 0") answers its last part
                (_, Some(v1), _, Some(v2)) => equal(v1, v2),
                _ => false,
            };
            proportional || same_answer
        }
        (Equation { value: Some(v), .. }, other) => equal(v, other),
        (other, Equation { value: Some(v), .. }) => equal(other, v),
        (Inequality { rels: a, .. }, Inequality { rels: b, .. }) => {
            a.len() == b.len()
                && a.iter().all(|x| b.iter().any(|y| ineq_match(x, y)))
                && b.iter().all(|y| a.iter().any(|x| ineq_match(x, y)))
        }
        (
            Inequality {
                interval: Some(i), ..
            },
            p @ (Tuple(..) | Union(_)),
        ) => equal(i, p),
        _ => false,
    }
}
