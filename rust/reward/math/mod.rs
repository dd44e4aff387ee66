//! `math_equal`: isolate the final answer of a response and decide exactly whether it
//! equals the gold answer, with a status saying why when it does not.
//!
//! Laid out by stage:
//! - [`extract`]: where the final answer is (reasoning cut off; boxes, `####`, "answer
//!   is"; else the last math; else a bare last line; else a final sentence's one number);
//! - [`lex`] and [`parse`]: the answer text as a tree (LaTeX and plain math);
//! - [`canonical`] with [`algebra`]: the tree as an exact canonical value;
//! - [`compare`]: equality of canonical values (sets, intervals, relations, …), with
//!   [`enclose`]'s exact bounds deciding whether a decimal is a value's correct rounding.
//!
//! No false positives by construction: the whole extracted answer must equal the whole
//! gold. A number inside a larger expression (`4\sqrt{2}`, `x^2`, `100!`, `x \le 3`,
//! "4, not 3", "either 7 or 9", "5 thousand") is that expression, never the number.

pub mod algebra;
pub mod canonical;
pub mod compare;
pub mod enclose;
pub mod extract;
pub mod lex;
pub mod parse;

use crate::batch::{check_same_len, map_rows};
use crate::error::{CoreError, CoreResult};
use canonical::{canonical, has_gap, text_form, Value};
use extract::Reasoning;
use lex::tokenize;
use parse::{parse, ParseError};

/// Where `math_equal` looks for the response's final answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MathStyle {
    /// The stated answer (boxes, then "####", then "answer is", which also wins after the
    /// last box), else the last math, else a bare last line.
    Auto,
    /// Only the last `\boxed{}` / `\fbox{}` (and the boxes joined to it).
    Boxed,
    /// Only the text after the last "####".
    Gsm8k,
    /// Only the last number of the response, when it stands alone.
    LastNumber,
    /// The whole response is the answer.
    Full,
}

impl MathStyle {
    pub fn parse(style: &str) -> CoreResult<Self> {
        match style {
            "auto" => Ok(MathStyle::Auto),
            "boxed" => Ok(MathStyle::Boxed),
            "gsm8k" => Ok(MathStyle::Gsm8k),
            "last_number" => Ok(MathStyle::LastNumber),
            "full" => Ok(MathStyle::Full),
            other => Err(CoreError::arg(
                "style",
                format!("'{other}' is not one of 'auto', 'boxed', 'gsm8k', 'last_number', 'full'"),
            )),
        }
    }
}

/// The verdict on one response, as the `uint8` `math_equal` reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Status {
    /// An answer was found and it differs from the gold.
    Incorrect = 0,
    /// The answer equals the gold.
    Correct = 1,
    /// No final answer could be isolated (none in the style's place, unfinished
    /// reasoning, or a hedged answer such as "4, not 3").
    NoAnswer = 2,
    /// The gold answer is empty, unbalanced, too large, or prose with no math in it.
    GoldUnparseable = 3,
}

/// Bytes an answer may have to be parsed; a longer one is compared as text (linear).
pub const MAX_ANSWER_BYTES: usize = 16 * 1024;

/// A read answer.
enum Read {
    Value(Value),
    Hedged,
}

/// A plain decimal answer ("1234", "-1,234.5", "$42$"): its value without the parser.
fn plain_number(raw: &str) -> Option<Value> {
    let s = raw.trim().trim_matches('$').trim();
    let (neg, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let groups_ok = if int.contains(',') {
        let mut parts = int.split(',');
        let lead = parts.next()?;
        (1..=3).contains(&lead.len()) && !lead.starts_with('0') && parts.all(|g| g.len() == 3)
    } else {
        true
    };
    let digits: std::borrow::Cow<'_, str> = if int.contains(',') {
        int.replace(',', "").into()
    } else {
        int.into()
    };
    let all_digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if !groups_ok || digits.is_empty() || !all_digits(&digits) || !all_digits(frac) {
        return None;
    }
    if digits.len() + frac.len() > lex::MAX_DIGITS {
        return Some(Value::Text(text_form(raw))); // beyond the bound on numbers: as text
    }
    let q = parse::decimal(&digits, frac);
    let e = algebra::RatFn::constant(if neg { -q } else { q });
    Some(Value::Expr { e, percent: false })
}

/// Reads one extracted answer: its canonical value, or its normalised text where it has
/// none (an answer over [`MAX_ANSWER_BYTES`] is compared as text, in linear time).
fn read(raw: &str) -> Read {
    algebra::reset_work();
    if let Some(v) = plain_number(raw) {
        return Read::Value(v);
    }
    if raw.len() > MAX_ANSWER_BYTES {
        return Read::Value(Value::Text(text_form(raw)));
    }
    let value = match tokenize(raw) {
        Ok(tokens) => match parse(&tokens) {
            Ok(node) => {
                let v = canonical(&node);
                if has_gap(&v) {
                    Value::Text(text_form(raw))
                } else {
                    v
                }
            }
            Err(ParseError::Hedged) => return Read::Hedged,
            Err(ParseError::Invalid) => Value::Text(text_form(raw)),
        },
        Err(_) => Value::Text(text_form(raw)),
    };
    Read::Value(value)
}

/// Whether a text gold is prose: two or more words and no digit, command or math sign
/// ("Answer is forty two."). It has no exact answer to compare with, so it is not judged
/// (TRL's math rewards return `None` for it); one word ("Evelyn", "C") is judged as text.
fn is_prose(gold: &str) -> bool {
    gold.split_whitespace().count() >= 2
        && !gold
            .bytes()
            .any(|b| b.is_ascii_digit() || matches!(b, b'\\' | b'$' | b'=' | b'^' | b'+' | b'/'))
}

/// Whether two answers have the same normalised text (see `canonical::text_form`).
fn same_text(a: &str, b: &str) -> bool {
    let a = text_form(a);
    !a.is_empty() && a == text_form(b)
}

/// Whether braces balance (an unbalanced gold cannot be judged).
fn balanced(s: &str) -> bool {
    let mut depth = 0i64;
    for b in s.bytes() {
        match b {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => {}
        }
    }
    depth == 0
}

/// The stated final answer of `text`: its last box group, else the text after its last
/// "####", else its sentence after the last "answer is"; but an "answer is" sentence after
/// the last box is the final statement and wins ("\\boxed{255} … The final answer is
/// $10,455$" answers 10,455).
fn stated_answer(text: &str) -> Option<Found<'_>> {
    let boxes = extract::boxes(text);
    // "Final Answer: Jane started 3 hours ago" states 3
    let marker = extract::after_answer_marker(text)
        .filter(|a| !a.is_empty())
        .map(|a| extract::final_sentence_number(a).unwrap_or(a));
    if let Some(last) = boxes.last() {
        let box_end = extract::offset(text, last) + last.len();
        // … unless that sentence states no answer ("The answer is in the box above.")
        let states = |a: &str| {
            a.bytes()
                .any(|c| c.is_ascii_digit() || c == b'\\' || c == b'$')
        };
        return match marker {
            Some(a) if extract::offset(text, a) > box_end && states(a) => Found::one(text, a),
            _ => Found::several(text, boxes),
        };
    }
    extract::after_hashes(text)
        .filter(|h| !h.is_empty())
        .or(marker)
        .and_then(|a| Found::one(text, a))
}

/// An extracted answer: its pieces (several answers when more than one) and where they
/// stand in the text.
struct Found<'a> {
    pieces: Vec<&'a str>,
    start: usize,
    end: usize,
}

impl<'a> Found<'a> {
    fn several(text: &'a str, pieces: Vec<&'a str>) -> Option<Found<'a>> {
        let (first, last) = (*pieces.first()?, *pieces.last()?);
        let start = extract::offset(text, first);
        let end = extract::offset(text, last) + last.len();
        Some(Found { pieces, start, end })
    }

    fn one(text: &'a str, piece: &'a str) -> Option<Found<'a>> {
        Found::several(text, vec![piece])
    }

    fn text(&self) -> String {
        self.pieces.join(", ")
    }
}

/// The gold answer: its stated final answer (box, "####", "answer is"), or all of it.
fn gold_answer(answer: &str) -> Option<String> {
    let raw = stated_answer(answer).map_or_else(|| answer.to_owned(), |f| f.text());
    let raw = raw.trim();
    (!raw.is_empty() && balanced(raw) && raw.len() <= MAX_ANSWER_BYTES).then(|| raw.to_owned())
}

/// The response's final answer by `style` (several pieces are several answers); `None`
/// also when the sentence around it hedges ("we can rule out $6$", "$6$? No.").
fn response_answer(response: &str, style: MathStyle, reasoning: &Reasoning) -> Option<String> {
    let text = extract::before_turn_end(reasoning.final_segment(response)?);
    let found = match style {
        MathStyle::Boxed => Found::several(text, extract::boxes(text)),
        MathStyle::Gsm8k => extract::after_hashes(text).and_then(|h| Found::one(text, h)),
        MathStyle::LastNumber => {
            extract::last_standalone_number(text).and_then(|n| Found::one(text, n))
        }
        MathStyle::Full => return Some(text.trim().to_owned()).filter(|t| !t.is_empty()),
        MathStyle::Auto => stated_answer(text)
            .or_else(|| Found::several(text, extract::last_math(text)))
            .or_else(|| extract::bare_line(text).and_then(|l| Found::one(text, l)))
            .or_else(|| extract::final_sentence_number(text).and_then(|n| Found::one(text, n))),
    }?;
    if extract::hedged(text, found.start, found.end) {
        return None;
    }
    let answer = found.text();
    let answer = answer.trim();
    (!answer.is_empty()).then(|| answer.to_owned())
}

/// The verdict on one response against one gold answer (`marker`: see [`Reasoning`]).
pub fn judge(response: &str, answer: &str, style: MathStyle, marker: Option<&str>) -> Status {
    judge_with(response, answer, style, &Reasoning::new(marker))
}

/// [`judge`] with the reasoning marker's searchers built once.
pub fn judge_with(response: &str, answer: &str, style: MathStyle, reasoning: &Reasoning) -> Status {
    let Some(gold_raw) = gold_answer(answer) else {
        return Status::GoldUnparseable;
    };
    let Read::Value(gold) = read(&gold_raw) else {
        return Status::GoldUnparseable;
    };
    if matches!(gold, Value::Text(_)) && is_prose(&gold_raw) {
        return Status::GoldUnparseable;
    }
    let Some(pred_raw) = response_answer(response, style, reasoning) else {
        return Status::NoAnswer;
    };
    let Read::Value(pred) = read(&pred_raw) else {
        return Status::NoAnswer;
    };
    // the same text is the same answer, whatever either reads as
    algebra::reset_work();
    if compare::equal(&gold, &pred) || same_text(&gold_raw, &pred_raw) {
        Status::Correct
    } else {
        Status::Incorrect
    }
}

/// 1.0 where the response's final answer equals the gold answer, else 0.0.
pub fn math_equal_one(response: &str, answer: &str, style: MathStyle) -> f32 {
    f32::from(u8::from(
        judge(response, answer, style, Some(extract::THINK_MARKER)) == Status::Correct,
    ))
}

/// The final answer `math_equal` reads from each response (`None` where it finds none),
/// as it would compare it with a gold answer.
pub fn math_answers(
    responses: &[&str],
    style: MathStyle,
    marker: Option<&str>,
) -> CoreResult<Vec<Option<String>>> {
    let reasoning = Reasoning::new(marker);
    map_rows("responses", responses.len(), |i| {
        response_answer(responses[i], style, &reasoning)
    })
}

/// Scores and statuses of a batch (parallel above the rayon threshold).
pub fn math_equal(
    responses: &[&str],
    answers: &[&str],
    style: MathStyle,
    marker: Option<&str>,
) -> CoreResult<(Vec<f32>, Vec<u8>)> {
    check_same_len(("responses", responses.len()), ("answers", answers.len()))?;
    let reasoning = Reasoning::new(marker);
    let status = map_rows("responses", responses.len(), |i| {
        judge_with(responses[i], answers[i], style, &reasoning) as u8
    })?;
    let scores = map_rows("responses", status.len(), |i| {
        f32::from(u8::from(status[i] == Status::Correct as u8))
    })?;
    Ok((scores, status))
}

#[cfg(test)]
mod tests;
