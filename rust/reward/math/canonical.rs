//! Canonical forms: an answer tree becomes a [`Value`] whose parts are exact
//! ([`RatFn`]) or normalised text, so that comparison is a structural walk.
//!
//! - Numbers, radicals, `π` and polynomial or rational expressions in any variables:
//!   a [`RatFn`] over exact big rationals (see `algebra`). Functions (`\sin x`, `\log`),
//!   non-integer powers of sums and other forms outside that algebra are kept whole as
//!   atoms keyed by their canonical argument, so `\sin(x+1)` equals `\sin(1+x)` but
//!   `\tan^2 y + 1` does not equal `\sec^2 y`: no trigonometric identities, no calculus.
//! - `a ± b` is the two answers `a + b`, `a - b`.
//! - A percentage keeps both readings, `p` and `p/100`.
//! - Tuples and intervals keep their brackets; sets are unordered; several answers are a
//!   list; equations, inequalities and `x \in S` become relations (see `compare`).

use num_traits::{Signed, ToPrimitive};

use super::algebra::{binomial, factorial, AResult, Atom, Exp, RatFn, Unsupported, Q};
use super::lex::RelOp;
use super::parse::Node;

/// The kind of one normalised inequality `d ⋈ 0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ineq {
    /// `d > 0`
    Pos,
    /// `d >= 0`
    NonNeg,
    /// `d != 0`
    NonZero,
}

/// A canonical answer.
#[derive(Clone, Debug)]
pub enum Value {
    /// An exact value; `percent` when written `p%` (it then also reads as `p/100`).
    Expr {
        e: RatFn,
        percent: bool,
    },
    /// `∞` (`false`) or `-∞` (`true`).
    Inf(bool),
    /// Brackets and items: a tuple, a point, an interval (`(` `]` …).
    Tuple(char, char, Vec<Value>),
    /// `\{…\}`: unordered, duplicates removed at comparison.
    Set(Vec<Value>),
    /// Several answers, in no particular order.
    List(Vec<Value>),
    Union(Vec<Value>),
    Matrix(usize, Vec<Value>),
    /// `lhs = rhs`: `label` when one side is a name (`x`, `(p, q)`, `f(x)`), `value` the
    /// answer it gives (the last part of a chain `x = 2 + 3 = 5`), `diff` = lhs - rhs.
    Equation {
        label: Option<String>,
        value: Option<Box<Value>>,
        diff: Option<RatFn>,
    },
    /// Normalised inequalities `d ⋈ 0`, with the interval they describe when they bound one
    /// variable by numbers (`-2 <= x < 7` is `[-2, 7)`).
    Inequality {
        rels: Vec<(RatFn, Ineq)>,
        interval: Option<Box<Value>>,
    },
    /// Values given to distinct labels: `x = 1, y = 2`.
    Assignments(Vec<(String, Value)>),
    /// Normalised text (no spaces, braces, `\text{}`; one letter upper-cased).
    Text(String),
}

/// Branches `a ± b` may multiply into (`1 ± √2 ± √3` is four answers).
const MAX_BRANCHES: usize = 8;

/// The exact value(s) of an arithmetic node: one per `±` branch.
fn eval(node: &Node) -> AResult<Vec<RatFn>> {
    let one = |r: RatFn| Ok(vec![r]);
    match node {
        Node::Num(q) => one(RatFn::constant(q.clone())),
        Node::Sym(s) => one(RatFn::atom(Atom::Sym(s.clone()))),
        Node::Pi => one(RatFn::atom(Atom::Pi)),
        Node::Neg(a) => Ok(eval(a)?.iter().map(RatFn::neg).collect()),
        Node::Add(terms) => {
            let mut acc = vec![RatFn::int(0)];
            for t in terms {
                acc = combine(&acc, &eval(t)?, RatFn::add)?;
            }
            Ok(acc)
        }
        Node::PlusMinus(a, b) => {
            let (a, b) = (eval(a)?, eval(b)?);
            let mut out = combine(&a, &b, RatFn::add)?;
            out.extend(combine(&a, &b, RatFn::sub)?);
            bounded(out)
        }
        Node::Mul(fs) => {
            let mut acc = vec![RatFn::int(1)];
            for f in fs {
                acc = combine(&acc, &eval(f)?, RatFn::mul)?;
            }
            Ok(acc)
        }
        Node::Div(a, b) => combine(&eval(a)?, &eval(b)?, RatFn::div),
        Node::Pow(base, exp) => {
            let bases = eval(base)?;
            let exps = eval(exp)?;
            let mut out = Vec::new();
            for b in &bases {
                for e in &exps {
                    out.push(power(b, e)?);
                }
            }
            bounded(out)
        }
        Node::Root(index, radicand) => {
            let n = match index {
                Some(i) => single(eval(i)?)?
                    .as_rational()
                    .filter(|q| q.is_integer() && q.is_positive())
                    .and_then(|q| q.to_integer().to_i64())
                    .filter(|&n| n <= super::algebra::MAX_EXPONENT)
                    .ok_or(Unsupported::NotAlgebraic)?,
                None => 2,
            };
            let mut out = Vec::new();
            for r in eval(radicand)? {
                out.push(root(&r, n)?);
            }
            Ok(out)
        }
        Node::Factorial(a) => {
            let v = single(eval(a)?)?;
            match v.as_rational() {
                Some(q) => one(RatFn::constant(factorial(&q)?)),
                None => one(opaque("factorial", &[&v])),
            }
        }
        Node::Binom(a, b) => {
            let (a, b) = (single(eval(a)?)?, single(eval(b)?)?);
            match (a.as_rational(), b.as_rational()) {
                (Some(n), Some(k)) => one(RatFn::constant(binomial(&n, &k)?)),
                _ => one(opaque("binom", &[&a, &b])),
            }
        }
        Node::Abs(a) => {
            let v = single(eval(a)?)?;
            match v.rational_sign() {
                Some(std::cmp::Ordering::Less) => one(v.neg()),
                Some(_) => one(v),
                None => one(opaque("abs", &[&v])),
            }
        }
        Node::Func(name, arg) => {
            let v = single(eval(arg)?)?;
            one(opaque(name, &[&v]))
        }
        Node::Percent(a) => Ok(eval(a)?
            .into_iter()
            .map(|v| v.div(&RatFn::int(100)))
            .collect::<AResult<_>>()?),
        _ => Err(Unsupported::NotAlgebraic),
    }
}

fn bounded(v: Vec<RatFn>) -> AResult<Vec<RatFn>> {
    if v.len() > MAX_BRANCHES {
        Err(Unsupported::TooBig)
    } else {
        Ok(v)
    }
}

fn single(mut v: Vec<RatFn>) -> AResult<RatFn> {
    if v.len() == 1 {
        v.pop().ok_or(Unsupported::NotAlgebraic)
    } else {
        Err(Unsupported::NotAlgebraic)
    }
}

fn combine(
    a: &[RatFn],
    b: &[RatFn],
    op: fn(&RatFn, &RatFn) -> AResult<RatFn>,
) -> AResult<Vec<RatFn>> {
    let mut out = Vec::with_capacity(a.len() * b.len());
    for x in a {
        for y in b {
            out.push(op(x, y)?);
        }
    }
    bounded(out)
}

/// An atom for an expression outside the algebra, keyed by its canonical arguments.
fn opaque(name: &str, args: &[&RatFn]) -> RatFn {
    let keys: Vec<String> = args.iter().map(|a| a.key()).collect();
    RatFn::atom(Atom::Opaque(format!("{name}({})", keys.join(","))))
}

/// `base^exp`: a rational exponent goes to the algebra; any other is kept whole.
fn power(base: &RatFn, exp: &RatFn) -> AResult<RatFn> {
    if let Some(q) = exp.as_rational() {
        let small = |x: &num_bigint::BigInt| {
            x.to_i64()
                .filter(|v| v.abs() <= super::algebra::MAX_EXPONENT)
        };
        if let (Some(n), Some(d)) = (small(q.numer()), small(q.denom())) {
            match base.pow(Exp::new(n, d)) {
                Ok(v) => return Ok(v),
                Err(Unsupported::NotAlgebraic) => {}
                Err(e) => return Err(e),
            }
        } else {
            return Err(Unsupported::TooBig);
        }
    }
    Ok(opaque("pow", &[base, exp]))
}

/// The principal `n`-th root.
fn root(radicand: &RatFn, n: i64) -> AResult<RatFn> {
    match radicand.pow(Exp::new(1, n)) {
        Err(Unsupported::NotAlgebraic) => Ok(opaque(
            "pow",
            &[radicand, &RatFn::constant(Q::new(1.into(), n.into()))],
        )),
        other => other,
    }
}

/// Normalised text of an answer: no whitespace, `\left`/`\right`, `\!`, `$`, outer
/// braces or trailing period; `\dfrac`/`\tfrac` as `\frac`, `\text{X}` as X; a lone
/// letter (also "(b)") upper-cased.
pub fn text_form(raw: &str) -> String {
    let mut t: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
    for junk in [
        "\\left",
        "\\right",
        "\\displaystyle",
        "\\!",
        "\\,",
        "\\;",
        "\\:",
        "$",
        "\\$",
    ] {
        if t.contains(junk) {
            t = t.replace(junk, "");
        }
    }
    if t.contains('\\') {
        t = t.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac");
        for wrapper in ["\\text{", "\\textbf{", "\\mathrm{", "\\mbox{", "\\boxed{"] {
            if let Some(inner) = t.strip_prefix(wrapper).and_then(|x| x.strip_suffix('}')) {
                t = inner.to_owned();
            }
        }
    }
    // one full stop ends a sentence; "0.333..." is not 0.333
    if t.ends_with('.') && !t.ends_with("..") {
        t.pop();
    }
    let mut peeled = t.as_str();
    for _ in 0..8 {
        match peeled.strip_prefix('{').and_then(|x| x.strip_suffix('}')) {
            Some(inner) => peeled = inner,
            None => break,
        }
    }
    let inner = peeled
        .strip_prefix('(')
        .and_then(|x| x.strip_suffix(')'))
        .unwrap_or(peeled);
    if inner.len() == 1 && inner.as_bytes()[0].is_ascii_alphabetic() {
        return inner.to_ascii_uppercase();
    }
    if peeled.len() > 1 && peeled.bytes().all(|b| b.is_ascii_alphabetic()) {
        return peeled.to_ascii_lowercase(); // a word: "No" is "no"
    }
    peeled.to_owned()
}

/// A label: a variable, a tuple of variables (`(p, q)`), a call `f(x)`, `\zzz`, a
/// segment or its length (`AB`, `|AB|`), a ratio of labels (`A:B`).
fn label(node: &Node) -> Option<String> {
    let upper = |n: &Node| matches!(n, Node::Sym(s) if s.len() == 1 && s.as_bytes()[0].is_ascii_uppercase());
    match node {
        Node::Sym(s) => Some(s.clone()),
        Node::Mul(fs) if fs.len() >= 2 && fs.iter().all(upper) => {
            Some(fs.iter().filter_map(label).collect::<Vec<_>>().concat())
        }
        Node::Abs(inner) => label(inner).map(|l| format!("|{l}|")),
        Node::Div(a, b) => Some(format!("{}/{}", label(a)?, label(b)?)),
        Node::Ratio(parts) => {
            let names: Option<Vec<String>> = parts.iter().map(label).collect();
            names.map(|n| n.join(":"))
        }
        Node::Group('(', ')', items) => {
            let names: Option<Vec<String>> = items.iter().map(label).collect();
            names.map(|n| format!("({})", n.join(",")))
        }
        Node::Mul(fs) if fs.len() == 2 => match (&fs[0], &fs[1]) {
            (Node::Sym(f), Node::Sym(x)) if f.len() == 1 && x.len() == 1 => {
                Some(format!("{f}({x})"))
            }
            _ => None,
        },
        _ => None,
    }
}

/// Whether `n` is a number: single-valued, arithmetic and free of variables.
fn constant(n: &Node) -> bool {
    eval(n)
        .ok()
        .and_then(|v| single(v).ok())
        .is_some_and(|v| !v.has_symbols())
}

/// The difference `a - b` of two single-valued sides, when both are arithmetic.
fn difference(a: &Node, b: &Node) -> Option<RatFn> {
    let a = single(eval(a).ok()?).ok()?;
    let b = single(eval(b).ok()?).ok()?;
    a.sub(&b).ok()
}

fn relation(parts: &[Node], ops: &[RelOp]) -> Option<Value> {
    // Parts after an approximation are dropped: "x = 1/3 \approx 0.33" answers 1/3.
    let (parts, ops) = match ops.iter().position(|o| *o == RelOp::Approx) {
        Some(0) => (&parts[..2], &[RelOp::Eq][..]),
        Some(k) => (&parts[..=k], &ops[..k]),
        None => (parts, ops),
    };
    if ops.iter().all(|o| *o == RelOp::Eq) {
        let first_label = label(&parts[0]);
        let last = parts.last()?;
        if parts.len() == 2 {
            let diff = difference(&parts[0], &parts[1]);
            let (label, value) = match (first_label, label(&parts[1])) {
                (Some(l), _) => (Some(l), Some(Box::new(canonical(&parts[1])))),
                (None, Some(r)) => (Some(r), Some(Box::new(canonical(&parts[0])))),
                // "3 + 4 = 7" answers its result, as a chain does (math-verify's rule);
                // "2x + z = 1" and "7 = 11a + c" are equations to meet, not values
                (None, None) if constant(&parts[0]) && constant(&parts[1]) => {
                    (None, Some(Box::new(canonical(&parts[1]))))
                }
                (None, None) => (None, None),
            };
            return Some(Value::Equation { label, value, diff });
        }
        // A solution chain "x = 5 + 6 = 11" answers its last part. Its steps are not
        // checked: the stated final value is the answer ("x = 2 + 2 = 5" answers 5), as
        // for math-verify, and a chain offers no second candidate to pay for.
        return Some(Value::Equation {
            label: first_label,
            value: Some(Box::new(canonical(last))),
            diff: None,
        });
    }
    if ops.len() == 1 && ops[0] == RelOp::In {
        return Some(Value::Equation {
            label: label(&parts[0]),
            value: Some(Box::new(canonical(&parts[1]))),
            diff: None,
        });
    }
    if ops
        .iter()
        .any(|o| matches!(o, RelOp::Eq | RelOp::In | RelOp::Approx))
    {
        return None;
    }
    let mut rels = Vec::with_capacity(ops.len());
    for (k, op) in ops.iter().enumerate() {
        let (a, b) = (&parts[k], &parts[k + 1]);
        let rel = match op {
            RelOp::Lt => (difference(b, a)?, Ineq::Pos),
            RelOp::Le => (difference(b, a)?, Ineq::NonNeg),
            RelOp::Gt => (difference(a, b)?, Ineq::Pos),
            RelOp::Ge => (difference(a, b)?, Ineq::NonNeg),
            RelOp::Ne => (difference(a, b)?, Ineq::NonZero),
            _ => return None,
        };
        rels.push(rel);
    }
    let interval = interval_of(parts, ops)
        .or_else(|| abs_interval(parts, ops))
        .map(Box::new);
    Some(Value::Inequality { rels, interval })
}

/// The interval of `a ⋈ x ⋈ b` / `x ⋈ b` / `b ⋈ x` for one variable `x` and numeric
/// bounds, when the relations are all `<`/`<=` or all `>`/`>=`.
fn interval_of(parts: &[Node], ops: &[RelOp]) -> Option<Value> {
    let numeric = |n: &Node| -> Option<Value> {
        let v = single(eval(n).ok()?).ok()?;
        (!v.has_symbols()).then_some(Value::Expr {
            e: v,
            percent: false,
        })
    };
    // a variable or a call such as f(x); not |x| (|x| < 3 is (-3, 3), not (-∞, 3))
    let is_var = |n: &Node| !matches!(n, Node::Abs(_)) && label(n).is_some();
    let up = |o: &RelOp| matches!(o, RelOp::Lt | RelOp::Le);
    let down = |o: &RelOp| matches!(o, RelOp::Gt | RelOp::Ge);
    let strict = |o: &RelOp| matches!(o, RelOp::Lt | RelOp::Gt);
    let (lo, lo_open, hi, hi_open) = match (parts, ops) {
        ([a, x, b], [o1, o2]) if is_var(x) && up(o1) && up(o2) => {
            (numeric(a)?, strict(o1), numeric(b)?, strict(o2))
        }
        ([a, x, b], [o1, o2]) if is_var(x) && down(o1) && down(o2) => {
            (numeric(b)?, strict(o2), numeric(a)?, strict(o1))
        }
        ([x, b], [o]) if is_var(x) && up(o) => (Value::Inf(true), true, numeric(b)?, strict(o)),
        ([x, b], [o]) if is_var(x) && down(o) => (numeric(b)?, strict(o), Value::Inf(false), true),
        ([b, x], [o]) if is_var(x) && up(o) => (numeric(b)?, strict(o), Value::Inf(false), true),
        ([b, x], [o]) if is_var(x) && down(o) => (Value::Inf(true), true, numeric(b)?, strict(o)),
        _ => return None,
    };
    let open = if lo_open { '(' } else { '[' };
    let close = if hi_open { ')' } else { ']' };
    Some(Value::Tuple(open, close, vec![lo, hi]))
}

/// The set `a ⋈ |x| ⋈ b` (or `|x| ⋈ b`, `b ⋈ |x|`) describes, as an interval or a union
/// of two: `1 <= |z| <= 3/2` is `[-3/2, -1] ∪ [1, 3/2]`, `|x| < 3` is `(-3, 3)`.
fn abs_interval(parts: &[Node], ops: &[RelOp]) -> Option<Value> {
    let k = parts.iter().position(|p| matches!(p, Node::Abs(_)))?;
    let Node::Abs(inner) = &parts[k] else {
        return None;
    };
    label(inner)?;
    let mut plain = parts.to_vec();
    plain[k] = inner.as_ref().clone();
    let Value::Tuple(open, close, bounds) = interval_of(&plain, ops)? else {
        return None;
    };
    let [lo, hi] = &bounds[..] else {
        return None;
    };
    let neg = |v: &Value| match v {
        Value::Expr { e, .. } => Some(Value::Expr {
            e: e.neg(),
            percent: false,
        }),
        Value::Inf(minus) => Some(Value::Inf(!minus)),
        _ => None,
    };
    // a lower bound of |x| that is not positive bounds nothing
    let positive = |v: &Value| match v {
        Value::Expr { e, .. } => e.rational_sign() == Some(std::cmp::Ordering::Greater),
        _ => false,
    };
    let mirror = |o: char| if o == '(' { ')' } else { ']' };
    let unmirror = |c: char| if c == ')' { '(' } else { '[' };
    if matches!(hi, Value::Inf(_)) && !positive(lo) {
        return None; // |x| > -1 holds everywhere
    }
    if !positive(lo) {
        // -hi ⋈ x ⋈ hi
        return Some(Value::Tuple(
            unmirror(close),
            close,
            vec![neg(hi)?, hi.clone()],
        ));
    }
    Some(Value::Union(vec![
        Value::Tuple(unmirror(close), mirror(open), vec![neg(hi)?, neg(lo)?]),
        Value::Tuple(open, close, vec![lo.clone(), hi.clone()]),
    ]))
}

/// Whether a sum or product has a matrix among its terms.
fn holds_matrix(node: &Node) -> bool {
    match node {
        Node::Matrix(_) => true,
        Node::Add(v) | Node::Mul(v) => v.iter().any(holds_matrix),
        Node::Neg(a) => holds_matrix(a),
        _ => false,
    }
}

/// A matrix as (columns, row-major entries).
type Mat = (usize, Vec<RatFn>);

/// The value of sums, products and scalar multiples of matrices, exactly.
fn matrix_eval(node: &Node) -> AResult<Mat> {
    let scalar = |n: &Node| single(eval(n)?);
    match node {
        Node::Matrix(rows) => {
            let cols = rows.first().map_or(0, Vec::len);
            let entries = rows.iter().flatten().map(scalar).collect::<AResult<_>>()?;
            Ok((cols, entries))
        }
        Node::Neg(a) => {
            let (c, e) = matrix_eval(a)?;
            Ok((c, e.iter().map(RatFn::neg).collect()))
        }
        Node::Add(terms) => {
            let mut acc: Option<Mat> = None;
            for t in terms {
                let (c, e) = matrix_eval(t)?;
                acc = Some(match acc {
                    None => (c, e),
                    Some((c0, e0)) if c0 == c && e0.len() == e.len() => {
                        let sum = e0
                            .iter()
                            .zip(&e)
                            .map(|(a, b)| a.add(b))
                            .collect::<AResult<_>>()?;
                        (c, sum)
                    }
                    Some(_) => return Err(Unsupported::NotAlgebraic),
                });
            }
            acc.ok_or(Unsupported::NotAlgebraic)
        }
        Node::Mul(factors) => {
            let mut acc: Option<Mat> = None;
            let mut k = RatFn::int(1);
            for f in factors {
                if !holds_matrix(f) {
                    k = k.mul(&scalar(f)?)?;
                    continue;
                }
                let (c, e) = matrix_eval(f)?;
                acc = Some(match acc {
                    None => (c, e),
                    Some((c0, e0)) => {
                        let (n, m) = (e0.len() / c0.max(1), c);
                        if c0 == 0 || c == 0 || e.len() != c0 * m {
                            return Err(Unsupported::NotAlgebraic);
                        }
                        let mut out = Vec::with_capacity(n * m);
                        for i in 0..n {
                            for j in 0..m {
                                let mut cell = RatFn::int(0);
                                for t in 0..c0 {
                                    cell = cell.add(&e0[i * c0 + t].mul(&e[t * m + j])?)?;
                                }
                                out.push(cell);
                            }
                        }
                        (m, out)
                    }
                });
            }
            let (c, e) = acc.ok_or(Unsupported::NotAlgebraic)?;
            Ok((c, e.iter().map(|x| x.mul(&k)).collect::<AResult<_>>()?))
        }
        _ => Err(Unsupported::NotAlgebraic),
    }
}

/// Flattens `±` branches of list items into the list.
fn items(nodes: &[Node]) -> Vec<Value> {
    let mut out = Vec::with_capacity(nodes.len());
    for n in nodes {
        match canonical(n) {
            Value::List(vs) => out.extend(vs),
            v => out.push(v),
        }
    }
    out
}

/// The canonical value of an answer tree (text where no exact form exists).
pub fn canonical(node: &Node) -> Value {
    match node {
        Node::Inf => Value::Inf(false),
        Node::Neg(inner) if matches!(inner.as_ref(), Node::Inf) => Value::Inf(true),
        Node::Text(t) => Value::Text(text_form(t)),
        Node::Sym(s) if s.len() == 1 && s.as_bytes()[0].is_ascii_uppercase() => {
            Value::Text(s.clone()) // a choice letter: "B" equals "(B)" and "\text{b}"
        }
        Node::Percent(inner) => match eval(inner).ok().and_then(|v| single(v).ok()) {
            Some(e) => Value::Expr { e, percent: true },
            None => Value::Text(String::new()),
        },
        Node::Group(open, close, nodes) => Value::Tuple(*open, *close, items(nodes)),
        Node::Set(nodes) => Value::Set(items(nodes)),
        Node::List(nodes) => list(items(nodes)),
        Node::Union(nodes) => Value::Union(nodes.iter().map(canonical).collect()),
        Node::Ratio(nodes) => Value::Tuple(':', ':', items(nodes)),
        Node::Matrix(rows) => {
            let width = rows.first().map_or(0, Vec::len);
            Value::Matrix(width, rows.iter().flatten().map(canonical).collect())
        }
        Node::Rel(parts, ops) => relation(parts, ops).unwrap_or(Value::Text(String::new())),
        Node::Intersection(_) => Value::Text(String::new()),
        Node::Add(_) | Node::Mul(_) | Node::Neg(_) if holds_matrix(node) => {
            match matrix_eval(node) {
                Ok((cols, entries)) => Value::Matrix(
                    cols,
                    entries
                        .into_iter()
                        .map(|e| Value::Expr { e, percent: false })
                        .collect(),
                ),
                Err(_) => Value::Text(String::new()),
            }
        }
        arithmetic => match eval(arithmetic) {
            Ok(mut vs) if vs.len() == 1 => Value::Expr {
                e: vs.pop().unwrap_or_else(|| RatFn::int(0)),
                percent: false,
            },
            Ok(vs) => Value::List(
                vs.into_iter()
                    .map(|e| Value::Expr { e, percent: false })
                    .collect(),
            ),
            Err(_) => Value::Text(String::new()),
        },
    }
}

/// Several answers: equations answering the same label give their values
/// (`x = 1 or x = 2` is the list 1, 2); one answer is itself.
fn list(mut vs: Vec<Value>) -> Value {
    let labels: Vec<Option<&String>> = vs
        .iter()
        .map(|v| match v {
            Value::Equation {
                label: Some(l),
                value: Some(_),
                ..
            } => Some(l),
            _ => None,
        })
        .collect();
    let labelled = labels.iter().all(Option::is_some);
    let distinct = labels
        .iter()
        .enumerate()
        .all(|(i, l)| !labels[..i].contains(l));
    if labelled && distinct && vs.len() > 1 {
        // "x = 1, y = 2": which value goes to which label is part of the answer
        let names: Vec<String> = labels.iter().flatten().map(|l| (*l).clone()).collect();
        let values = vs.into_iter().map(|v| match v {
            Value::Equation {
                value: Some(value), ..
            } => *value,
            other => other,
        });
        return Value::Assignments(names.into_iter().zip(values).collect());
    }
    if labelled && labels.windows(2).all(|w| w[0] == w[1]) {
        vs = vs
            .into_iter()
            .map(|v| match v {
                Value::Equation {
                    value: Some(value), ..
                } => *value,
                other => other,
            })
            .collect();
    }
    if vs.len() == 1 {
        return vs.pop().unwrap_or(Value::Text(String::new()));
    }
    Value::List(vs)
}

/// Whether `v` holds an unreadable part (an empty text), so that the answer as a whole
/// is compared as text instead.
pub fn has_gap(v: &Value) -> bool {
    match v {
        Value::Text(t) => t.is_empty(),
        Value::Tuple(_, _, vs) | Value::Set(vs) | Value::List(vs) | Value::Union(vs) => {
            vs.iter().any(has_gap)
        }
        Value::Matrix(_, vs) => vs.iter().any(has_gap),
        Value::Assignments(vs) => vs.iter().any(|(_, v)| has_gap(v)),
        Value::Equation { value, .. } => value.as_deref().is_some_and(has_gap),
        Value::Inequality { interval, .. } => interval.as_deref().is_some_and(has_gap),
        Value::Expr { .. } | Value::Inf(_) => false,
    }
}
