//! Cleaning an extracted answer (LaTeX wrappers, `\text{}`, currency, units) and deciding
//! whether two answers are equal: exactly as numbers when both parse as numbers,
//! otherwise as normalised strings.

use super::number::{numbers_equal, parse_numeric, Parsed};

/// An answer after cleaning: a number, or a normalised string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    Number(Parsed),
    Text(String),
}

/// Commands whose braced argument is kept and the command dropped.
const UNWRAP: [&str; 9] = [
    "\\text",
    "\\textbf",
    "\\textit",
    "\\textrm",
    "\\mathrm",
    "\\mathbf",
    "\\mbox",
    "\\mathit",
    "\\operatorname",
];

/// Pieces deleted outright.
const DELETE: [&str; 14] = [
    "\\left",
    "\\right",
    "\\displaystyle",
    "\\!",
    "\\,",
    "\\;",
    "\\:",
    "\\ ",
    "^{\\circ}",
    "^\\circ",
    "\\circ",
    "\\degree",
    "\\$",
    "$",
];

/// Strips one layer of `$$…$$`, `$…$`, `\(…\)`, `\[…\]`, `\boxed{…}` / `\fbox{…}`
/// enclosing the whole string; `None` when there is none.
fn unwrap_outer(s: &str) -> Option<&str> {
    for (open, close) in [("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")] {
        if s.len() >= open.len() + close.len() && s.starts_with(open) && s.ends_with(close) {
            return Some(s[open.len()..s.len() - close.len()].trim());
        }
    }
    let body = s
        .strip_prefix("\\boxed")
        .or_else(|| s.strip_prefix("\\fbox"))?
        .trim_start_matches(' ')
        .strip_prefix('{')?;
    let mut depth = 1usize;
    for (i, b) in body.bytes().enumerate() {
        match b {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    // only when this box encloses the whole string
                    return (i + 1 == body.len()).then(|| body[..i].trim());
                }
            }
            _ => {}
        }
    }
    None
}

/// Layers of wrappers (`$…$`, `\boxed{}`, `\text{}` inside `\text{}`, outer braces)
/// peeled at most: real answers have one or two, and each layer costs a pass over the text,
/// so an adversarial answer of thousands of layers must not cost thousands of passes.
const MAX_LAYERS: usize = 8;

/// Every `{` of `s` with the position of its matching `}` (`usize::MAX` when unclosed),
/// in order, from one pass with a stack: the same partner a depth count from that `{`
/// finds, without rescanning the rest of the text for each brace.
fn brace_partners(s: &str) -> Vec<(usize, usize)> {
    let (mut open, mut partners) = (Vec::new(), Vec::new());
    for (i, b) in s.bytes().enumerate() {
        match b {
            b'{' => {
                open.push(partners.len());
                partners.push((i, usize::MAX));
            }
            b'}' => {
                if let Some(k) = open.pop() {
                    partners[k].1 = i;
                }
            }
            _ => {}
        }
    }
    partners
}

/// Byte position of the `{` opening the argument of an [`UNWRAP`] command that starts at
/// byte `i` of `s` (the name must end there: `\textbf` is not `\text` + "bf").
fn command_brace(s: &str, i: usize) -> Option<usize> {
    UNWRAP.iter().find_map(|cmd| {
        let after = s[i..].strip_prefix(cmd)?.trim_start_matches(' ');
        after.starts_with('{').then(|| s.len() - after.len())
    })
}

/// Replaces `\cmd{X}` by `X` for the commands in [`UNWRAP`] (one layer); `None` when
/// nothing was replaced (then nothing is allocated either).
fn unwrap_commands(s: &str) -> Option<String> {
    let mut partners: Option<Vec<(usize, usize)>> = None;
    let mut out = String::new();
    let mut done = 0; // bytes of `s` already copied or consumed
    for (i, _) in s.match_indices('\\') {
        if i < done {
            continue; // inside an argument just copied: the next pass unwraps it
        }
        let Some(open) = command_brace(s, i) else {
            continue;
        };
        let partners = partners.get_or_insert_with(|| brace_partners(s));
        let Some(close) = partners
            .binary_search_by_key(&open, |&(o, _)| o)
            .ok()
            .map(|k| partners[k].1)
            .filter(|&c| c != usize::MAX)
        else {
            continue;
        };
        out.push_str(&s[done..i]);
        out.push_str(&s[open + 1..close]);
        done = close + 1;
    }
    if done == 0 {
        return None;
    }
    out.push_str(&s[done..]);
    Some(out)
}

/// `s` without up to [`MAX_LAYERS`] enclosing delimiters (see [`unwrap_outer`]).
fn unwrap_layers(mut s: &str) -> &str {
    for _ in 0..MAX_LAYERS {
        match unwrap_outer(s) {
            Some(inner) => s = inner,
            None => break,
        }
    }
    s
}

/// Cleans an extracted answer: outer delimiters, `\text{}`-style wrappers, spacing
/// commands, `\left`/`\right`, `$`, degree signs, `\dfrac`/`\tfrac`, trailing period.
pub fn clean(raw: &str) -> String {
    let s = unwrap_layers(raw.trim());
    let mut t = s.to_owned();
    // Nested wrappers ("\text{\textbf{5}}") come off one layer per pass.
    for _ in 0..MAX_LAYERS {
        match unwrap_commands(&t) {
            Some(unwrapped) => t = unwrapped,
            None => break,
        }
    }
    for d in DELETE {
        if t.contains(d) {
            t = t.replace(d, "");
        }
    }
    if t.contains('\\') {
        t = t
            .replace("\\dfrac", "\\frac")
            .replace("\\tfrac", "\\frac")
            .replace("\\%", "%");
    }
    // "~" is LaTeX's unbreakable space; U+2212 is the typeset minus sign.
    if t.contains(['\n', '\t', '\r', '~']) {
        t = t.replace(['\n', '\t', '\r', '~'], " ");
    }
    if t.contains('\u{2212}') {
        t = t.replace('\u{2212}', "-");
    }
    let trimmed = t.trim().trim_end_matches('.').trim_end();
    // one more layer of delimiters may have been exposed ("\text{$5$}")
    unwrap_layers(trimmed).to_owned()
}

/// Splits "x = 5" / "n=5" into its right-hand side when the left is a plain name.
fn after_assignment(s: &str) -> Option<&str> {
    let (lhs, rhs) = s.split_once('=')?;
    let lhs = lhs.trim();
    let ok = !lhs.is_empty()
        && lhs.len() <= 12
        && lhs
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'\\' || b == b' ')
        && (lhs.as_bytes()[0].is_ascii_alphabetic() || lhs.starts_with('\\'));
    if ok && !rhs.contains('=') {
        Some(rhs.trim())
    } else {
        None
    }
}

/// One-letter SI units (metre, gram, second, litre, hour, kelvin, ampere, volt, watt,
/// newton, joule), read as a unit only when set in upright text (`5\mathrm{~m}`,
/// `5\,\text{m/s}`): in "5 m" or "2h" the letter may just as well be a variable.
const ONE_LETTER_UNITS: &[u8] = b"mgslLhKAVWNJ";

/// Commands that set upright text: a letter in one is a word or unit, not a variable.
const UPRIGHT: [&str; 4] = ["\\mathrm{", "\\text{", "\\textrm{", "\\mbox{"];

/// Whether `raw` sets the one-letter unit `letter` in upright text: an [`UPRIGHT`] command
/// whose argument, after spacing (` `, `~`, `\,`, `\;`, `\ `), starts with that letter
/// alone (`\mathrm{~m}`, `\text{ m/s}`, not `\text{min}`).
fn upright_unit(raw: &str, letter: u8) -> bool {
    UPRIGHT.iter().any(|cmd| {
        raw.match_indices(cmd).any(|(i, _)| {
            let mut arg = &raw[i + cmd.len()..];
            loop {
                let next = arg
                    .strip_prefix([' ', '~'])
                    .or_else(|| arg.strip_prefix("\\,"))
                    .or_else(|| arg.strip_prefix("\\;"))
                    .or_else(|| arg.strip_prefix("\\ "));
                match next {
                    Some(rest) => arg = rest,
                    None => break,
                }
            }
            let b = arg.as_bytes();
            b.first() == Some(&letter) && !b.get(1).is_some_and(u8::is_ascii_alphabetic)
        })
    })
}

/// Whether a unit is one compact symbol: letters and `/`, with integer exponents
/// (`m`, `m/s`, `m^2`, `m/s^{-2}`); no spaces, signs or loose digits ("m - 1").
fn compact_unit(unit: &str) -> bool {
    let b = unit.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_alphabetic() || b[i] == b'/' {
            i += 1;
            continue;
        }
        if b[i] != b'^' {
            return false;
        }
        i += 1;
        let braced = b.get(i) == Some(&b'{');
        i += usize::from(braced);
        i += usize::from(b.get(i) == Some(&b'-'));
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start || (braced && b.get(i) != Some(&b'}')) {
            return false;
        }
        i += usize::from(braced);
    }
    true
}

/// Splits "5 dollars" / "2.5cm" / "3 square feet" into the number and its unit words.
/// The unit starts at the first letter outside a `\command` and must be words of
/// letters (the first at least two letters long, or a compact [`ONE_LETTER_UNITS`] one,
/// which the caller accepts only when typeset upright; and not "pi"), with `^n`, `/`, `.`,
/// spaces and braces between them.
fn split_unit(s: &str) -> Option<(&str, &str)> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            i += 1;
            while i < b.len() && b[i].is_ascii_alphabetic() {
                i += 1;
            }
            continue;
        }
        if b[i].is_ascii_alphabetic() {
            break;
        }
        i += 1;
    }
    if i == 0 || i >= b.len() {
        return None;
    }
    let (num, unit) = (s[..i].trim_end(), &s[i..]);
    let first_word = unit.bytes().take_while(u8::is_ascii_alphabetic).count();
    let word_ok = first_word >= 2
        || (first_word == 1
            && ONE_LETTER_UNITS.contains(&unit.as_bytes()[0])
            && compact_unit(unit.trim()));
    let unit_ok = word_ok
        && !unit[..first_word].eq_ignore_ascii_case("pi")
        && unit.bytes().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, b' ' | b'^' | b'/' | b'.' | b'{' | b'}' | b'-')
        });
    if unit_ok && !num.is_empty() {
        Some((num, unit.trim()))
    } else {
        None
    }
}

/// Parses a cleaned answer as a number: directly, in parentheses, after "x =", or before
/// unit words ("percent" as a unit makes it a percentage).
fn parse_cleaned_number(s: &str, raw: &str) -> Option<Parsed> {
    if let Some(p) = parse_numeric(s) {
        return Some(p);
    }
    // one number in parentheses: "(2500)", "\left(-\frac{3}{4}\right)"; with a comma
    // inside it is a pair ("(3,500)"), not a thousands separator
    if let Some(inner) = s.strip_prefix('(').and_then(|x| x.strip_suffix(')')) {
        if let Some(p) = parse_numeric(inner.trim()).filter(|_| !inner.contains(',')) {
            return Some(p);
        }
    }
    let s = after_assignment(s).unwrap_or(s);
    if let Some(p) = parse_numeric(s) {
        return Some(p);
    }
    let (num, unit) = split_unit(s)?;
    let one_letter = unit.bytes().take_while(u8::is_ascii_alphabetic).count() == 1;
    if one_letter && !upright_unit(raw, unit.as_bytes()[0]) {
        return None;
    }
    let mut p = parse_numeric(num)?;
    if unit.eq_ignore_ascii_case("percent") {
        if p.percent {
            return None;
        }
        p.percent = true;
    }
    Some(p)
}

/// Normalises a non-numeric answer: no whitespace, no trailing period, no outer braces,
/// and a multiple-choice letter "(b)" / "b" read as "B".
fn normalize_text(s: &str) -> String {
    let mut t: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    while t.ends_with('.') {
        t.pop();
    }
    let mut peeled = t.as_str();
    for _ in 0..MAX_LAYERS {
        match peeled.strip_prefix('{').and_then(|x| x.strip_suffix('}')) {
            Some(inner) => peeled = inner,
            None => break,
        }
    }
    let t = peeled.to_owned();
    let inner = t
        .strip_prefix('(')
        .and_then(|x| x.strip_suffix(')'))
        .unwrap_or(&t);
    if inner.len() == 1 && inner.as_bytes()[0].is_ascii_alphabetic() {
        return inner.to_ascii_uppercase();
    }
    t
}

/// Parses an extracted answer.
pub fn parse_answer(raw: &str) -> Answer {
    // fast path: plain integers and decimals ("42", "-3.5", "1,000")
    if let Some(p) = parse_numeric(raw.trim()) {
        return Answer::Number(p);
    }
    let cleaned = clean(raw);
    match parse_cleaned_number(&cleaned, raw) {
        Some(p) => Answer::Number(p),
        None => Answer::Text(normalize_text(&cleaned)),
    }
}

/// Whether two parsed answers are equal (numbers exactly; strings after normalising).
pub fn answers_equal(a: &Answer, b: &Answer) -> bool {
    match (a, b) {
        (Answer::Number(x), Answer::Number(y)) => numbers_equal(x, y),
        (Answer::Text(x), Answer::Text(y)) => !x.is_empty() && x == y,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eq(a: &str, b: &str) -> bool {
        answers_equal(&parse_answer(a), &parse_answer(b))
    }

    #[test]
    fn cleaning() {
        assert_eq!(clean("$\\frac{1}{2}$."), "\\frac{1}{2}");
        assert_eq!(clean("\\boxed{\\dfrac{3}{4}}"), "\\frac{3}{4}");
        assert_eq!(clean("\\(\\text{5 cm}\\)"), "5 cm");
        assert_eq!(clean("\\$1{,}000"), "1{,}000");
        assert_eq!(clean("\\left( 1, 2 \\right)"), "( 1, 2 )");
        assert_eq!(clean("30^\\circ"), "30");
        assert_eq!(clean("\\textbf{B}"), "B");
        assert_eq!(clean("\\texttt{x}"), "\\texttt{x}");
    }

    #[test]
    fn numbers_in_many_forms() {
        assert!(eq("0.5", "\\frac{1}{2}"));
        assert!(eq("0.5", "$\\dfrac12$"));
        assert!(eq("1000", "1,000"));
        assert!(eq("1000", "\\$1{,}000.00"));
        assert!(eq("5", "5 dollars"));
        assert!(eq("5", "5\\text{ cm}"));
        assert!(eq("5", "x = 5"));
        assert!(eq("-3", "- 3"));
        assert!(eq("2.5", "2\\frac{1}{2}"));
        assert!(eq("0.5", "50\\%"));
        assert!(eq("50", "50 percent"));
        assert!(eq("12", "12^{\\circ}"));
        assert!(eq("2500", "2.5 \\times 10^{3}"));
        assert!(eq("1000000", "10^6"));
        assert!(eq("-0.75", "\u{2212}0.75"));
        assert!(eq("-0.75", "\\left(-\\frac{3}{4}\\right)"));
        assert!(eq("2500", "(2500)"));
        assert!(eq("3", "3\\mathrm{~cm}"));
        assert!(eq("3", "3\\mathrm{~m}"));
        assert!(eq("3", "3\\,\\mathrm{m}"));
        assert!(eq("3", "3 \\text{m/s}"));
        assert!(!eq("2", "2 h"));
        assert!(!eq("2", "2h"));
        assert!(!eq("2", "2 m - 1"));
        assert!(eq("2 h", "2h")); // both the text "2h"
        assert!(!eq("2500", "(2500, 1)"));
        assert!(!eq("3500", "(3,500)"));
        assert!(eq("(3,500)", "(3, 500)"));
        assert!(!eq("100", "(0,100)"));
        assert!(!eq("100", "0,100"));
        assert!(!eq("5", "5x"));
        assert!(!eq("3", "3 pi"));
        assert!(!eq("1/3", "0.333"));
        assert!(!eq("0.3", "0.30000000000000004"));
    }

    #[test]
    fn strings() {
        assert!(eq("\\left(1,2\\right)", "(1, 2)"));
        assert!(eq("(B)", "\\text{b}"));
        assert!(eq("\\sqrt{2}", "\\sqrt{2}."));
        assert!(!eq("\\sqrt{2}", "\\sqrt{3}"));
        assert!(!eq("", ""));
        assert!(!eq("5", "five"));
    }

    #[test]
    fn assignment_and_units_are_strict() {
        assert_eq!(after_assignment("x = 5"), Some("5"));
        assert_eq!(after_assignment("1 + 2 = 3"), None);
        assert_eq!(split_unit("5 square feet"), Some(("5", "square feet")));
        assert_eq!(split_unit("5 m/s"), Some(("5", "m/s")));
        assert_eq!(split_unit("5 m - 1"), None);
        assert_eq!(split_unit("5 x"), None);
        assert!(compact_unit("m/s^{-2}") && compact_unit("m^2") && !compact_unit("m^"));
        assert!(!compact_unit("m 2") && !compact_unit("m^{2"));
        assert!(upright_unit("5\\mathrm{~m}", b'm') && upright_unit("5\\,\\text{\\, m/s}", b'm'));
        assert!(!upright_unit("5\\text{min}", b'm') && !upright_unit("5 m", b'm'));
        assert_eq!(
            split_unit("\\frac{1}{2} cup"),
            Some(("\\frac{1}{2}", "cup"))
        );
    }
}
