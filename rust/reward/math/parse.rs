//! Parsing tokens into an answer tree, by recursive descent with bounded depth.
//!
//! ```text
//! answer  := item (sep item)*            sep: , ; "and" "or"
//! item    := words | rel [units]
//! rel     := setexpr (relop setexpr)*    = < > \le \ge \ne \approx \in
//! setexpr := ratio ((\cup | \cap) ratio)*
//! ratio   := expr (":" expr)*
//! expr    := [sign] term (("+" | "-" | \pm) term)*
//! term    := factor ((\cdot | / | implicit) factor)*
//! factor  := sign factor | postfix ["^" exponent]
//! postfix := primary ("!" | "%" | "_" sub)*
//! primary := number | letter | \pi | \infty | \frac a b | \sqrt[n] a | \binom a b
//!          | \sin a | (…) | […] | \{…\} | {…} | |a| | \begin{pmatrix}…\end{pmatrix}
//! ```
//!
//! A number glued to `\frac` with integer arguments is a mixed number (`2\frac12` = 5/2).
//! Words other than units, and the hedges "not", "nor", "neither", make an answer that
//! [`ParseError::Hedged`] or [`ParseError::Invalid`] reports; the caller then compares text.

use num_bigint::BigInt;
use num_traits::{One, Zero};

use super::algebra::Q;
use super::lex::{RelOp, Tok, FUNCTIONS};

/// An answer tree.
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    Num(Q),
    /// A variable or an unknown command (`x`, `x_1`, `\alpha`, `\zzz`).
    Sym(String),
    Pi,
    Inf,
    Neg(Box<Node>),
    Add(Vec<Node>),
    /// `a ± b`.
    PlusMinus(Box<Node>, Box<Node>),
    Mul(Vec<Node>),
    Div(Box<Node>, Box<Node>),
    Pow(Box<Node>, Box<Node>),
    /// `\sqrt[index]{radicand}` (index 2 when absent).
    Root(Option<Box<Node>>, Box<Node>),
    Factorial(Box<Node>),
    Func(String, Box<Node>),
    Abs(Box<Node>),
    Binom(Box<Node>, Box<Node>),
    Percent(Box<Node>),
    /// Items between brackets: `(1, 2)`, `[0, 1)`, `\langle 1, 2 \rangle`.
    Group(char, char, Vec<Node>),
    Set(Vec<Node>),
    Matrix(Vec<Vec<Node>>),
    Union(Vec<Node>),
    Intersection(Vec<Node>),
    /// `a : b` (a ratio, kept as its parts).
    Ratio(Vec<Node>),
    /// `parts[0] ops[0] parts[1] ops[1] …`.
    Rel(Vec<Node>, Vec<RelOp>),
    /// Several answers: `1, 2`, `x = 1 or x = 2`, several boxes.
    List(Vec<Node>),
    /// Words only: `\text{Evelyn}`, `C`.
    Text(String),
}

/// Why tokens do not form an answer tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// The answer hedges ("4, not 3", "neither"): no final answer can be isolated.
    Hedged,
    /// Not an answer this grammar reads; compared as text.
    Invalid,
}

type PResult<T> = Result<T, ParseError>;

/// Nesting depth allowed (each bracket, fraction or power argument is one level).
pub const MAX_DEPTH: usize = 48;

/// Words that make an answer hedge: it names more than one candidate or denies one.
const HEDGES: &[&str] = &[
    "not", "nor", "neither", "isn't", "except", "but", "maybe", "perhaps",
];

/// Words that change, scale or deny the number before them: "5 thousand" is not 5,
/// "at least 3" not 3, "5 tenths" not 5, "6 wrong" not 6.
const QUANTITY_WORDS: &[&str] = &[
    "thousand",
    "thousands",
    "million",
    "millions",
    "billion",
    "billions",
    "trillion",
    "hundred",
    "hundreds",
    "dozen",
    "dozens",
    "times",
    "plus",
    "minus",
    "less",
    "more",
    "than",
    "over",
    "under",
    "least",
    "most",
    "about",
    "approximately",
    "around",
    "nearly",
    "almost",
    "roughly",
    "between",
    "from",
    "to",
    "up",
    "half",
    "double",
    "twice",
    "per",
    "squared",
    "cubed",
    "percentile",
    "is",
    "of",
    "if",
    "when",
    "where",
    "with",
    "without",
    "all",
    "any",
    "none",
    "no",
    "every",
    "each",
    "only",
    "also",
    "then",
    "so",
    "we",
    "it",
    "the",
    "answer",
    "result",
    "total",
    // scale, order, sign and judgement words: "5 tenths", "5 below zero", "6 wrong"&str] = &[
    "ten",
    "tens",
    "hundredth",
    "thousandth",
    "millionth",
    "billionth",
    "tenth",
    "third",
    "fourth",
    "fifth",
    "sixth",
    "seventh",
    "eighth",
    "ninth",
    "half",
    "quarter",
    "quadrillion",
    "quadrillions",
    "quintillion",
    "quintillions",
    "sextillion",
    "trillions",
    "kilo",
    "mega",
    "giga",
    "tera",
    "micro",
    "milli",
    "nano",
    "below",
    "above",
    "zero",
    "permille",
    "basis",
    "percentiles",
    "ppm",
    "ppb",
    "off",
    "short",
    "less",
    "greater",
    "fewer",
    "plus",
    "minus",
    "wrong",
    "rejected",
    "reject",
    "incorrect",
    "invalid",
    "false",
    "impossible",
    "extraneous",
    "discarded",
    "factorial",
    "inverse",
    "reciprocal",
    "negative",
    "lakh",
    "lakhs",
    "crore",
    "crores",
    "grand",
    "gross",
    "score",
    "halves",
    "thirds",
    "quarters",
    "fourths",
    "root",
    "roots",
    "power",
    "powers",
    "digits",
    "decimal",
    "fraction",
    "ratio",
    "odds",
    "mod",
    "modulo",
    "remainder",
    "base",
];

/// Units of two or three letters (a longer word after a number is taken as its unit:
/// "apples", "dollars"; a shorter one must be known, so "2xyz" is not 2).
const SHORT_UNITS: &[&str] = &[
    "cm", "mm", "km", "kg", "mg", "ml", "mL", "ft", "in", "yd", "mi", "hr", "hrs", "min", "sec",
    "lb", "lbs", "oz", "mph", "kph", "deg", "cal", "pt", "qt", "gal", "sq", "cu", "cc", "ha", "kW",
    "kWh", "Hz", "kHz", "MHz", "GHz", "dB", "mol", "eV", "ms", "ns", "men", "cms", "kms", "yds",
    "mins", "secs", "pts", "ozs", "day", "yr", "yrs", "wk", "wks", "cent", "km2", "m2",
];

/// One-letter SI units (metre, gram, second, litre, hour, ampere, volt, watt, newton,
/// joule); not K, M, B or T, which scale money ("5K", "2M").
const ONE_LETTER_UNITS: &str = "mgslLhAVWNJ";

/// Whether a word after a number is read as its unit (and dropped).
fn is_unit(word: &str) -> bool {
    let lower = word.to_ascii_lowercase();
    let fraction_word = lower.ends_with("ths") && !lower.starts_with("month");
    if !word.is_ascii() || fraction_word {
        return false;
    }
    match word.len() {
        1 => ONE_LETTER_UNITS.contains(word),
        2 | 3 => SHORT_UNITS.contains(&word) || SHORT_UNITS.contains(&lower.as_str()),
        _ => true,
    }
}

/// Whether a word after a number keeps it a number: a unit or a percent word.
pub fn is_trailing_word(word: &str) -> bool {
    let lower = word.to_ascii_lowercase();
    PERCENT_WORDS.contains(&lower.as_str())
        || (!QUANTITY_WORDS.contains(&lower.as_str())
            && !HEDGES.contains(&lower.as_str())
            && is_unit(word))
}

/// Words read as a percent sign.
const PERCENT_WORDS: &[&str] = &["percent", "pct", "percentage", "percents", "per cent"];

/// The exact value of the decimal `int.frac`.
pub fn decimal(int: &str, frac: &str) -> Q {
    let (int, frac) = (int.trim_start_matches('0'), frac.trim_end_matches('0'));
    let den = if frac.len() <= 18 {
        BigInt::from(10u64.pow(frac.len() as u32))
    } else {
        num_traits::pow(BigInt::from(10u8), frac.len())
    };
    let n: BigInt = if int.len() + frac.len() <= 18 {
        // the common case: one machine word, no string building
        let v = int
            .bytes()
            .chain(frac.bytes())
            .fold(0u64, |acc, b| acc * 10 + u64::from(b - b'0'));
        BigInt::from(v)
    } else {
        format!("{int}{frac}").parse().unwrap_or_default()
    };
    if frac.is_empty() {
        return Q::from_integer(n); // already reduced: no gcd
    }
    Q::new(n, den)
}

struct Parser<'t> {
    t: &'t [Tok],
    i: usize,
    depth: usize,
    /// How many function arguments (`\sin …`) enclose the position.
    in_function: usize,
}

fn is_word(t: Option<&Tok>, w: &str) -> bool {
    matches!(t, Some(Tok::Word(x)) if x.eq_ignore_ascii_case(w))
}

impl<'t> Parser<'t> {
    fn peek(&self) -> Option<&'t Tok> {
        self.t.get(self.i)
    }

    fn peek_at(&self, k: usize) -> Option<&'t Tok> {
        self.t.get(self.i + k)
    }

    fn bump(&mut self) -> Option<&'t Tok> {
        let t = self.t.get(self.i);
        self.i += 1;
        t
    }

    fn eat(&mut self, t: &Tok) -> bool {
        if self.peek() == Some(t) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, t: &Tok) -> PResult<()> {
        if self.eat(t) {
            Ok(())
        } else {
            Err(ParseError::Invalid)
        }
    }

    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            Err(ParseError::Invalid)
        } else {
            Ok(())
        }
    }

    fn at_separator(&self) -> bool {
        matches!(self.peek(), Some(Tok::Comma | Tok::Semicolon))
            || is_word(self.peek(), "and")
            || is_word(self.peek(), "or")
    }

    fn at_end(&self, close: &[Tok]) -> bool {
        self.peek().is_none_or(|t| close.contains(t))
    }

    /// `item (sep item)*` up to one of `close` (not consumed). A `;` separates groups
    /// of `,`-separated items: `p=5, q=2; p=7, q=2` is two answers of two labels each.
    fn answer(&mut self, close: &[Tok]) -> PResult<Node> {
        let gather = |mut items: Vec<Node>| {
            if items.len() == 1 {
                items.pop().unwrap_or(Node::List(Vec::new()))
            } else {
                Node::List(items)
            }
        };
        let mut items = Vec::new();
        let mut groups = Vec::new();
        if is_word(self.peek(), "either") {
            self.i += 1;
        }
        loop {
            items.push(self.item(close)?);
            if !self.at_separator() {
                break;
            }
            if self.peek() == Some(&Tok::Semicolon) {
                groups.push(gather(std::mem::take(&mut items)));
            }
            self.i += 1;
            // "1, and 2" / "1, or 2"
            if is_word(self.peek(), "and") || is_word(self.peek(), "or") {
                self.i += 1;
            }
            if self.at_end(close) {
                break; // a trailing separator
            }
        }
        if groups.is_empty() {
            return Ok(gather(items));
        }
        if !items.is_empty() {
            groups.push(gather(items));
        }
        Ok(gather(groups))
    }

    fn item(&mut self, close: &[Tok]) -> PResult<Node> {
        // Words alone: a text answer ("Evelyn", "C").
        let start = self.i;
        let mut words = Vec::new();
        while let Some(Tok::Word(w)) = self.peek() {
            if self.at_separator() {
                break;
            }
            words.push(w.as_str());
            self.i += 1;
        }
        if !words.is_empty() && (self.at_end(close) || self.at_separator()) {
            return Ok(Node::Text(words.join(" ")));
        }
        self.i = start;
        let node = self.rel(close)?;
        self.units(node, close)
    }

    /// Trailing unit words after a value: dropped ("5 dollars"), or a percent ("28 pct");
    /// a quantity word ("thousand") makes the answer unreadable.
    fn units(&mut self, node: Node, close: &[Tok]) -> PResult<Node> {
        let mut node = node;
        let mut braces = 0usize;
        loop {
            match self.peek() {
                Some(Tok::Word(w)) if !self.at_separator() => {
                    if !is_trailing_word(w) {
                        return Err(ParseError::Invalid);
                    }
                    if PERCENT_WORDS.contains(&w.to_ascii_lowercase().as_str()) {
                        node = Node::Percent(Box::new(node));
                    }
                    self.i += 1;
                }
                Some(Tok::LBrace) if matches!(self.peek_at(1), Some(Tok::Word(_))) => {
                    braces += 1;
                    self.i += 1;
                }
                Some(Tok::RBrace) if braces > 0 => {
                    braces -= 1;
                    self.i += 1;
                }
                // unit powers and ratios: cm^2, cm^{2}, m/s
                Some(Tok::Caret) if matches!(self.peek_at(1), Some(Tok::Num(..))) => self.i += 2,
                Some(Tok::Caret)
                    if self.peek_at(1) == Some(&Tok::LBrace)
                        && matches!(self.peek_at(2), Some(Tok::Num(..)))
                        && self.peek_at(3) == Some(&Tok::RBrace) =>
                {
                    self.i += 4
                }
                Some(Tok::Divide) if matches!(self.peek_at(1), Some(Tok::Word(_))) => self.i += 1,
                _ => break,
            }
        }
        if braces > 0 || !(self.at_end(close) || self.at_separator()) {
            return Err(ParseError::Invalid);
        }
        Ok(node)
    }

    fn rel(&mut self, close: &[Tok]) -> PResult<Node> {
        let first = self.setexpr()?;
        let (mut parts, mut ops) = (vec![first], Vec::new());
        while let Some(Tok::Rel(op)) = self.peek() {
            self.i += 1;
            ops.push(*op);
            parts.push(self.setexpr()?);
        }
        let _ = close;
        Ok(if ops.is_empty() {
            parts.pop().unwrap_or(Node::List(Vec::new()))
        } else {
            Node::Rel(parts, ops)
        })
    }

    fn setexpr(&mut self) -> PResult<Node> {
        let first = self.ratio()?;
        let cup = matches!(self.peek(), Some(Tok::Cup));
        if !matches!(self.peek(), Some(Tok::Cup | Tok::Cap)) {
            return Ok(first);
        }
        let op = if cup { Tok::Cup } else { Tok::Cap };
        let mut parts = vec![first];
        while self.eat(&op) {
            parts.push(self.ratio()?);
        }
        if matches!(self.peek(), Some(Tok::Cup | Tok::Cap)) {
            return Err(ParseError::Invalid); // mixed ∪ and ∩ without brackets
        }
        Ok(if cup {
            Node::Union(parts)
        } else {
            Node::Intersection(parts)
        })
    }

    /// `a : b : …`, or one expression.
    fn ratio(&mut self) -> PResult<Node> {
        let first = self.expr()?;
        if self.peek() != Some(&Tok::Colon) {
            return Ok(first);
        }
        let mut parts = vec![first];
        while self.eat(&Tok::Colon) {
            parts.push(self.expr()?);
        }
        Ok(Node::Ratio(parts))
    }

    fn expr(&mut self) -> PResult<Node> {
        self.enter()?;
        let mut terms = Vec::new();
        let lead = match self.peek() {
            Some(Tok::Minus) => Some(Tok::Minus),
            Some(Tok::Plus) => Some(Tok::Plus),
            Some(Tok::PlusMinus) => Some(Tok::PlusMinus),
            _ => None,
        };
        let mut pm: Option<Node> = None;
        if let Some(l) = &lead {
            self.i += 1;
            let t = self.term()?;
            match l {
                Tok::Minus => terms.push(Node::Neg(Box::new(t))),
                Tok::PlusMinus => pm = Some(t),
                _ => terms.push(t),
            }
        } else {
            terms.push(self.term()?);
        }
        loop {
            match self.peek() {
                Some(Tok::Plus) => {
                    self.i += 1;
                    terms.push(self.term()?);
                }
                Some(Tok::Minus) => {
                    self.i += 1;
                    let t = self.term()?;
                    terms.push(Node::Neg(Box::new(t)));
                }
                Some(Tok::PlusMinus) => {
                    self.i += 1;
                    if pm.is_some() {
                        return Err(ParseError::Invalid);
                    }
                    pm = Some(self.term()?);
                }
                _ => break,
            }
        }
        self.depth -= 1;
        let sum = match terms.len() {
            0 => Node::Num(Q::zero()),
            1 => terms.pop().unwrap_or(Node::Num(Q::zero())),
            _ => Node::Add(terms),
        };
        Ok(match pm {
            Some(b) => Node::PlusMinus(Box::new(sum), Box::new(b)),
            None => sum,
        })
    }

    /// Whether the next token can start a factor multiplied by juxtaposition.
    fn starts_factor(&self) -> bool {
        match self.peek() {
            // not `{`: "\boxed{1}\boxed{2}" is two answers, not a product
            Some(Tok::Num(..) | Tok::Letter(_) | Tok::Open('(') | Tok::Begin(_)) => true,
            Some(Tok::Cmd(c)) => c != "infty",
            _ => false,
        }
    }

    fn term(&mut self) -> PResult<Node> {
        let mut acc = self.factor()?;
        let mut divisions = 0usize; // "a/b/c/…" nests left: bounded like any nesting
        loop {
            match self.peek() {
                Some(Tok::Times) => {
                    self.i += 1;
                    let f = self.factor()?;
                    acc = mul(acc, f);
                }
                Some(Tok::Divide) => {
                    self.i += 1;
                    divisions += 1;
                    if divisions > MAX_DEPTH {
                        return Err(ParseError::Invalid);
                    }
                    let f = self.factor()?;
                    acc = Node::Div(Box::new(acc), Box::new(f));
                }
                _ if self.starts_factor() => {
                    // "3 4" reads 34 when typeset, "1 2 3" 123: numbers side by side are
                    // not a product
                    if matches!(self.peek(), Some(Tok::Num(..))) {
                        return Err(ParseError::Invalid);
                    }
                    // A mixed number: an integer glued to \frac of integers.
                    if let (Node::Num(n), Some(Tok::Cmd(c))) = (&acc, self.peek()) {
                        if c == "frac" && n.is_integer() {
                            let save = self.i;
                            let f = self.factor()?;
                            if let Node::Div(a, b) = &f {
                                if let (Node::Num(a), Node::Num(b)) = (a.as_ref(), b.as_ref()) {
                                    if a.is_integer() && b.is_integer() && !b.is_zero() {
                                        acc = Node::Num(n + a / b);
                                        continue;
                                    }
                                }
                            }
                            self.i = save;
                        }
                    }
                    let f = self.factor()?;
                    acc = mul(acc, f);
                }
                _ => break,
            }
        }
        Ok(acc)
    }

    fn factor(&mut self) -> PResult<Node> {
        self.enter()?;
        let node = match self.peek() {
            Some(Tok::Minus) => {
                self.i += 1;
                Node::Neg(Box::new(self.factor()?))
            }
            Some(Tok::Plus) => {
                self.i += 1;
                self.factor()?
            }
            _ => {
                let base = self.postfix()?;
                self.power(base)?
            }
        };
        self.depth -= 1;
        Ok(node)
    }

    /// `base ^ exponent` (right-associative), or a degree sign `^\circ` (dropped).
    fn power(&mut self, base: Node) -> PResult<Node> {
        if !self.eat(&Tok::Caret) {
            return Ok(base);
        }
        self.enter()?;
        let node = self.power_rest(base);
        self.depth -= 1;
        node
    }

    fn power_rest(&mut self, base: Node) -> PResult<Node> {
        let braced_degree =
            self.peek() == Some(&Tok::LBrace) && self.peek_at(1) == Some(&Tok::Degree);
        if self.eat(&Tok::Degree) || braced_degree {
            if braced_degree {
                self.i += 2;
                self.expect(&Tok::RBrace)?;
            }
            // an angle answer "90^\circ" is 90; inside \sin it is 90·π/180
            let base = if self.in_function > 0 {
                let radians =
                    Node::Div(Box::new(Node::Pi), Box::new(Node::Num(decimal("180", ""))));
                mul(base, radians)
            } else {
                base
            };
            return self.postfix_ops(base);
        }
        let exponent = match self.peek() {
            Some(Tok::Minus) => {
                self.i += 1;
                Node::Neg(Box::new(self.exponent_atom()?))
            }
            _ => self.exponent_atom()?,
        };
        let exponent = self.power(exponent)?;
        Ok(Node::Pow(Box::new(base), Box::new(exponent)))
    }

    /// The exponent after `^`: a braced answer, a digit run (`10^12` means 10^{12}), a
    /// letter or a command.
    fn exponent_atom(&mut self) -> PResult<Node> {
        match self.peek() {
            Some(Tok::Num(i, f)) => {
                self.i += 1;
                Ok(Node::Num(decimal(i, f)))
            }
            _ => self.primary(),
        }
    }

    fn postfix(&mut self) -> PResult<Node> {
        let p = self.primary()?;
        self.postfix_ops(p)
    }

    fn postfix_ops(&mut self, mut node: Node) -> PResult<Node> {
        // Each wrapper nests the tree one level: a few are real ("5!%"), a run of them
        // ("x!!!!…") would nest without bound. `n!!` (double factorial) is not read.
        let mut wrappers = 0usize;
        loop {
            if wrappers > 2 {
                return Err(ParseError::Invalid);
            }
            match self.peek() {
                Some(Tok::Bang) => {
                    self.i += 1;
                    if matches!(node, Node::Factorial(_)) {
                        return Err(ParseError::Invalid);
                    }
                    node = Node::Factorial(Box::new(node));
                    wrappers += 1;
                }
                Some(Tok::Percent) => {
                    self.i += 1;
                    node = Node::Percent(Box::new(node));
                    wrappers += 1;
                }
                Some(Tok::Degree) => self.i += 1,
                Some(Tok::Underscore) => {
                    self.i += 1;
                    let sub = self.subscript()?;
                    node = match node {
                        Node::Sym(s) => Node::Sym(format!("{s}_{sub}")),
                        Node::Num(n) => Node::Sym(format!("{n}_{sub}")),
                        _ => return Err(ParseError::Invalid),
                    };
                }
                Some(Tok::Prime) => return Err(ParseError::Invalid),
                _ => return Ok(node),
            }
        }
    }

    /// The text of a subscript: one token or a braced run of plain tokens.
    fn subscript(&mut self) -> PResult<String> {
        let one = |t: &Tok| -> Option<String> {
            match t {
                Tok::Num(i, f) if f.is_empty() => Some(i.clone()),
                Tok::Letter(l) | Tok::Word(l) => Some(l.clone()),
                Tok::Minus => Some("-".into()),
                Tok::Plus => Some("+".into()),
                Tok::Comma => Some(",".into()),
                _ => None,
            }
        };
        if self.eat(&Tok::LBrace) {
            let mut s = String::new();
            while let Some(t) = self.peek() {
                if t == &Tok::RBrace {
                    self.i += 1;
                    return Ok(s);
                }
                s.push_str(&one(t).ok_or(ParseError::Invalid)?);
                self.i += 1;
            }
            return Err(ParseError::Invalid);
        }
        let t = self.bump().ok_or(ParseError::Invalid)?;
        one(t).ok_or(ParseError::Invalid)
    }

    /// A `\frac`/`\sqrt` argument: a braced answer or one token (`\frac12`, `\sqrt3`).
    fn argument(&mut self, whole_number: bool) -> PResult<Node> {
        match self.peek() {
            Some(Tok::LBrace) => self.primary(),
            Some(Tok::Num(i, f)) => {
                self.i += 1;
                // LaTeX reads one digit ("\frac12" is split by `frac_args`); a radicand
                // may be a whole number ("\sqrt 12" as written)
                if whole_number || (i.len() == 1 && f.is_empty()) {
                    Ok(Node::Num(decimal(i, f)))
                } else {
                    Err(ParseError::Invalid)
                }
            }
            Some(Tok::Letter(l)) => {
                self.i += 1;
                Ok(Node::Sym(l.clone()))
            }
            Some(Tok::Cmd(_)) => self.primary(),
            _ => Err(ParseError::Invalid),
        }
    }

    fn frac_args(&mut self) -> PResult<(Node, Node)> {
        // "\frac12" lexes as one number "12": split it into two one-digit arguments.
        if let Some(Tok::Num(i, f)) = self.peek() {
            if i.len() == 2 && f.is_empty() {
                self.i += 1;
                let (a, b) = i.split_at(1);
                return Ok((Node::Num(decimal(a, "")), Node::Num(decimal(b, ""))));
            }
        }
        let a = self.argument(false)?;
        let b = self.argument(false)?;
        Ok((a, b))
    }

    fn primary(&mut self) -> PResult<Node> {
        self.enter()?;
        let t = self.bump().ok_or(ParseError::Invalid)?;
        let node = match t {
            Tok::Num(i, f) => Node::Num(decimal(i, f)),
            Tok::Letter(l) => Node::Sym(l.clone()),
            Tok::Cmd(c) => self.command(c)?,
            Tok::LBrace => {
                let inner = self.answer(&[Tok::RBrace])?;
                self.expect(&Tok::RBrace)?;
                inner
            }
            Tok::Open(open) => self.bracketed(*open)?,
            Tok::OpenSet => {
                let inner = if self.peek() == Some(&Tok::CloseSet) {
                    Node::List(Vec::new())
                } else {
                    self.answer(&[Tok::CloseSet])?
                };
                self.expect(&Tok::CloseSet)?;
                match inner {
                    Node::List(items) => Node::Set(items),
                    one => Node::Set(vec![one]),
                }
            }
            Tok::Bar => {
                let inner = self.expr()?;
                self.expect(&Tok::Bar)?;
                Node::Abs(Box::new(inner))
            }
            Tok::Begin(env) => self.matrix(env)?,
            _ => return Err(ParseError::Invalid),
        };
        self.depth -= 1;
        Ok(node)
    }

    fn command(&mut self, c: &str) -> PResult<Node> {
        Ok(match c {
            "pi" => Node::Pi,
            "infty" => Node::Inf,
            "frac" => {
                let (a, b) = self.frac_args()?;
                Node::Div(Box::new(a), Box::new(b))
            }
            "binom" => {
                let (a, b) = self.frac_args()?;
                Node::Binom(Box::new(a), Box::new(b))
            }
            "sum" | "prod" => {
                // \sum_{k=0}^{n-1} body: kept whole, keyed by its bounds and its term
                let mut bounds = Vec::new();
                for mark in [Tok::Underscore, Tok::Caret] {
                    if self.eat(&mark) {
                        bounds.push(self.exponent_atom()?);
                    }
                }
                let body = self.term()?;
                Node::Func(format!("{c}{bounds:?}"), Box::new(body))
            }
            "sqrt" => {
                let index = if self.eat(&Tok::Open('[')) {
                    let n = self.expr()?;
                    self.expect(&Tok::Close(']'))?;
                    Some(Box::new(n))
                } else {
                    None
                };
                // one digit unbraced, as LaTeX reads it: "\\sqrt3" is √3, "\\sqrt12" is not √12
                let radicand = self.argument(false)?;
                Node::Root(index, Box::new(radicand))
            }
            f if FUNCTIONS.contains(&f) => {
                // \sin^2 x is (\sin x)^2
                let power = if self.eat(&Tok::Caret) {
                    Some(self.exponent_atom()?)
                } else {
                    None
                };
                self.in_function += 1;
                let arg = self.function_argument();
                self.in_function -= 1;
                let arg = arg?;
                // \\sin^{-1} x is arcsin x, not 1 / sin x
                let inverse =
                    matches!(&power, Some(Node::Neg(one)) if **one == Node::Num(Q::one()));
                if inverse && f.len() == 3 && !f.starts_with('a') {
                    return Ok(Node::Func(format!("arc{f}"), Box::new(arg)));
                }
                let call = Node::Func(f.to_owned(), Box::new(arg));
                match power {
                    Some(p) => Node::Pow(Box::new(call), Box::new(p)),
                    None => call,
                }
            }
            other => Node::Sym(other.to_owned()),
        })
    }

    /// The argument of `\sin`, `\log`, …: a parenthesised one, or the factors that follow.
    fn function_argument(&mut self) -> PResult<Node> {
        if self.peek() == Some(&Tok::Open('(')) {
            return self.primary();
        }
        // "\sin 2x" is sin(2x): the factors that follow, up to an operator, a number or
        // the next function ("2 \sin b \cos a")
        let base = self.postfix()?;
        let mut arg = self.power(base)?;
        while self.starts_factor()
            && !matches!(self.peek(), Some(Tok::Cmd(c)) if FUNCTIONS.contains(&c.as_str()))
            && !matches!(self.peek(), Some(Tok::Num(..)))
        {
            let f = self.factor()?;
            arg = mul(arg, f);
        }
        Ok(arg)
    }

    /// `(` … `)` / `]`, `[` … `]` / `)`, `\langle` … `\rangle`: one item is a grouping,
    /// several are a tuple or an interval.
    fn bracketed(&mut self, open: char) -> PResult<Node> {
        let closers = [Tok::Close(')'), Tok::Close(']'), Tok::Close('>')];
        let inner = self.answer(&closers)?;
        let close = match self.bump() {
            Some(Tok::Close(c)) => *c,
            _ => return Err(ParseError::Invalid),
        };
        Ok(match inner {
            Node::List(items) => Node::Group(open, close, items),
            one if open == '(' && close == ')' || open == '[' && close == ']' => one,
            one => Node::Group(open, close, vec![one]),
        })
    }

    fn matrix(&mut self, env: &str) -> PResult<Node> {
        // not vmatrix/Vmatrix: a determinant or a norm is a number, not the matrix
        const MATRICES: &[&str] = &[
            "pmatrix",
            "bmatrix",
            "Bmatrix",
            "matrix",
            "smallmatrix",
            "array",
        ];
        if !MATRICES.contains(&env) {
            return Err(ParseError::Invalid);
        }
        let end = Tok::End(env.to_owned());
        let stop = [Tok::Amp, Tok::RowSep, end.clone()];
        let mut rows: Vec<Vec<Node>> = vec![Vec::new()];
        loop {
            if self.eat(&end) {
                break;
            }
            if self.eat(&Tok::RowSep) {
                rows.push(Vec::new());
                continue;
            }
            let cell = self.rel(&stop)?;
            rows.last_mut().ok_or(ParseError::Invalid)?.push(cell);
            if !self.eat(&Tok::Amp)
                && !matches!(self.peek(), Some(Tok::RowSep))
                && self.peek() != Some(&end)
            {
                return Err(ParseError::Invalid);
            }
        }
        if rows.last().is_some_and(Vec::is_empty) {
            rows.pop(); // a trailing "\\"
        }
        let width = rows.first().map_or(0, Vec::len);
        if width == 0 || rows.iter().any(|r| r.len() != width) {
            return Err(ParseError::Invalid);
        }
        Ok(Node::Matrix(rows))
    }
}

fn mul(a: Node, b: Node) -> Node {
    match a {
        Node::Mul(mut v) => {
            v.push(b);
            Node::Mul(v)
        }
        other => Node::Mul(vec![other, b]),
    }
}

/// Parses the tokens of one extracted answer.
pub fn parse(tokens: &[Tok]) -> PResult<Node> {
    if tokens
        .iter()
        .any(|t| matches!(t, Tok::Word(w) if HEDGES.contains(&w.to_ascii_lowercase().as_str())))
    {
        return Err(ParseError::Hedged);
    }
    if tokens.iter().any(|t| matches!(t, Tok::Ellipsis)) {
        return Err(ParseError::Invalid);
    }
    let mut p = Parser {
        t: tokens,
        i: 0,
        depth: 0,
        in_function: 0,
    };
    if tokens.is_empty() {
        return Err(ParseError::Invalid);
    }
    let node = p.answer(&[])?;
    if p.i != tokens.len() {
        return Err(ParseError::Invalid);
    }
    Ok(node)
}

#[cfg(test)]
mod tests {
    use super::super::lex::tokenize;
    use super::*;

    fn p(s: &str) -> PResult<Node> {
        parse(&tokenize(s).map_err(|_| ParseError::Invalid)?)
    }

    fn n(v: i64) -> Node {
        Node::Num(Q::from_integer(BigInt::from(v)))
    }

    #[test]
    fn structures() {
        assert_eq!(
            p("(1, 2]").unwrap(),
            Node::Group('(', ']', vec![n(1), n(2)])
        );
        assert_eq!(p("(2500)").unwrap(), n(2500));
        assert_eq!(p("\\{1, 2\\}").unwrap(), Node::Set(vec![n(1), n(2)]));
        assert_eq!(p("1, 2").unwrap(), Node::List(vec![n(1), n(2)]));
        assert_eq!(p("12 and 13").unwrap(), Node::List(vec![n(12), n(13)]));
        assert!(matches!(p("x = 1 or x = 2").unwrap(), Node::List(v) if v.len() == 2));
        assert!(matches!(p("2\\frac{1}{2}").unwrap(), Node::Num(_)));
        assert!(matches!(
            p("\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}").unwrap(),
            Node::Matrix(r) if r.len() == 2
        ));
        assert!(matches!(p("[0,1) \\cup (2, \\infty)").unwrap(), Node::Union(v) if v.len() == 2));
        assert_eq!(p("5 dollars").unwrap(), n(5));
        assert_eq!(p("\\text{Evelyn}").unwrap(), Node::Text("Evelyn".into()));
    }

    #[test]
    fn hedges_and_quantities() {
        assert_eq!(p("4, not 3").unwrap_err(), ParseError::Hedged);
        assert_eq!(p("5 thousand").unwrap_err(), ParseError::Invalid);
        assert!(matches!(p("either 7 or 9").unwrap(), Node::List(v) if v.len() == 2));
        let deep = format!("{}1{}", "(".repeat(200), ")".repeat(200));
        assert_eq!(p(&deep).unwrap_err(), ParseError::Invalid);
    }
}
