//! `math_equal`: extract the final answer of a response and decide exactly whether it
//! equals the reference answer.
//!
//! Extraction (style "auto"): the last `\boxed{}` / `\fbox{}`, else the text after the
//! last "####", else the text after the last "answer is", else the whole response when it
//! is a number or the reference is not, else the last number of the response. Equality:
//! [`equal`] (exact rationals for numbers, normalised strings otherwise).

pub mod equal;
pub mod number;
pub mod power;

use crate::error::{CoreError, CoreResult};
use crate::reward::text::{check_same_len, extract_boxed, last_number_span, map_rows};
use equal::{answers_equal, parse_answer, Answer};

/// Where `math_equal` looks for the response's final answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MathStyle {
    /// boxed, then "####", then "answer is", then the whole response / its last number.
    Auto,
    /// Only the last `\boxed{}` / `\fbox{}` (none: not equal).
    Boxed,
    /// Only the text after the last "####" (none: not equal).
    Gsm8k,
    /// Only the last number of the response.
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

/// The rest of the line after the last "####".
fn after_hashes(text: &str) -> Option<&str> {
    let b = text.as_bytes();
    // the last '#' that ends a "####"
    let end = memchr::memrchr_iter(b'#', b)
        .find(|&p| p >= 3 && b[p - 3..p].iter().all(|&c| c == b'#'))?;
    let rest = text[end + 1..].trim_start_matches('#');
    Some(rest.split('\n').next().unwrap_or(rest).trim())
}

/// The rest of the sentence after the last "answer is" (ASCII case-insensitive).
fn after_answer_is(text: &str) -> Option<&str> {
    const MARKER: &[u8] = b"answer is";
    let b = text.as_bytes();
    // Candidates are the a/A bytes, from the end (memrchr2 is vectorised).
    let pos = memchr::memrchr2_iter(b'a', b'A', b).find(|&p| {
        b.get(p..p + MARKER.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(MARKER))
    })?;
    let rest = text[pos + 9..].trim_start_matches([':', ' ']);
    let line = rest.split('\n').next().unwrap_or(rest);
    let sentence = match line.find(". ") {
        Some(i) => &line[..i],
        None => line,
    };
    Some(sentence.trim())
}

/// The last number of `text` (with a trailing '%' kept).
fn last_number(text: &str) -> Option<&str> {
    let (s, e) = last_number_span(text)?;
    let tail = &text[e..];
    let pct = if tail.starts_with('%') {
        1
    } else if tail.starts_with("\\%") {
        2
    } else {
        0
    };
    Some(&text[s..e + pct])
}

/// The answer written after "####" / "answer is"; when the reference is a number and
/// the text there is not, the last number in it ("#### she has 42 apples left").
fn marker_answer(c: &str, numeric_ref: bool) -> Answer {
    let parsed = parse_answer(c);
    if numeric_ref && !matches!(parsed, Answer::Number(_)) {
        if let Some(n) = last_number(c) {
            return parse_answer(n);
        }
    }
    parsed
}

/// The reference answer: the content of its box, the text after its "####", or all of it.
pub fn reference_answer(answer: &str) -> Answer {
    let raw = extract_boxed(answer)
        .or_else(|| after_hashes(answer))
        .unwrap_or(answer);
    parse_answer(raw)
}

/// The response's final answer by `style`, given the parsed reference.
pub fn response_answer(response: &str, style: MathStyle, reference: &Answer) -> Option<Answer> {
    let numeric_ref = matches!(reference, Answer::Number(_));
    match style {
        MathStyle::Boxed => extract_boxed(response).map(parse_answer),
        MathStyle::Gsm8k => after_hashes(response).map(|c| marker_answer(c, numeric_ref)),
        MathStyle::LastNumber => last_number(response).map(parse_answer),
        MathStyle::Full => Some(parse_answer(response)),
        MathStyle::Auto => {
            if let Some(b) = extract_boxed(response) {
                return Some(parse_answer(b));
            }
            if let Some(c) = after_hashes(response).or_else(|| after_answer_is(response)) {
                return Some(marker_answer(c, numeric_ref));
            }
            let whole = parse_answer(response);
            if !numeric_ref || matches!(whole, Answer::Number(_)) {
                // A bare answer ("\\frac{1}{2}", "2/4", "1{,}000") is read whole, not
                // through its last number.
                return Some(whole);
            }
            last_number(response).map(parse_answer)
        }
    }
}

/// 1.0 where the response's final answer equals the reference, else 0.0.
pub fn math_equal_one(response: &str, answer: &str, style: MathStyle) -> f32 {
    let reference = reference_answer(answer);
    match response_answer(response, style, &reference) {
        Some(got) => f32::from(u8::from(answers_equal(&got, &reference))),
        None => 0.0,
    }
}

/// `math_equal_one` over a batch (parallel above the rayon threshold).
pub fn math_equal(responses: &[&str], answers: &[&str], style: MathStyle) -> CoreResult<Vec<f32>> {
    check_same_len(("responses", responses.len()), ("answers", answers.len()))?;
    Ok(map_rows(responses.len(), |i| {
        math_equal_one(responses[i], answers[i], style)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auto(r: &str, a: &str) -> f32 {
        math_equal_one(r, a, MathStyle::Auto)
    }

    #[test]
    fn extraction_order() {
        assert_eq!(auto("so 3 + 4 = 7 \\boxed{7}", "7"), 1.0);
        assert_eq!(auto("2 + 2 = 4\n#### 4", "4"), 1.0);
        assert_eq!(auto("#### 4 apples\nbye 9", "4"), 1.0);
        assert_eq!(auto("The answer is $\\frac{1}{2}$. Done 7", "0.5"), 1.0);
        assert_eq!(auto("So the Answer is: 1,000 dollars.", "1000"), 1.0);
        assert_eq!(auto("THE ANSWER IS 5. I checked 3 times.", "5"), 1.0);
        assert_eq!(auto("\\boxed{\\text{\\textbf{5}}}", "5"), 1.0);
        assert_eq!(auto("\\boxed{\\text{\\textbf{5 apples}}}", "5"), 1.0);
        // An unclosed wrapper stays as it is (and costs one pass, not one per brace).
        let unclosed = "\\text{".repeat(20_000);
        assert_eq!(math_equal_one(&unclosed, "5", MathStyle::Full), 0.0);
        assert_eq!(auto("the answer IS 5. I checked 3 times.", "5"), 1.0);
        assert_eq!(auto("I got 3 then 5.", "5"), 1.0);
        // A bare answer is read whole, not as its last number.
        for (bare, reference) in [
            ("\\frac{1}{2}", "0.5"),
            ("-\\frac{1}{2}", "-0.5"),
            ("2/4", "0.5"),
            ("5/10", "1/2"),
            ("2\\frac{1}{2}", "2.5"),
            (" $1{,}000$ ", "1000"),
        ] {
            assert_eq!(auto(bare, reference), 1.0, "{bare} vs {reference}");
        }
        assert_eq!(auto("\\frac{1}{2}", "2"), 0.0);
        assert_eq!(auto("I got 3 then 5.", "3"), 0.0);
        assert_eq!(auto("it is 25%", "0.25"), 1.0);
        assert_eq!(auto("so it is \u{2212}5", "-5"), 1.0);
        assert_eq!(auto("about 2.5\\times10^{3} cells", "2500"), 0.0); // last number: 3
        assert_eq!(auto("\\boxed{2.5\\times10^{3}}", "2500"), 1.0);
        assert_eq!(auto("\\boxed{B}", "(B)"), 1.0);
        assert_eq!(auto("no number", "5"), 0.0);
        assert_eq!(auto("answer: C", "C"), 0.0);
        assert_eq!(auto("C", "C"), 1.0);
        assert_eq!(auto("\\boxed{5}", "\\boxed{5.0}"), 1.0);
        assert_eq!(auto("\\boxed{5}", "step\n#### 5"), 1.0);
    }

    #[test]
    fn styles() {
        assert_eq!(
            math_equal_one("#### 5\n\\boxed{4}", "5", MathStyle::Gsm8k),
            1.0
        );
        assert_eq!(
            math_equal_one("#### 5 \\boxed{4}", "5", MathStyle::Boxed),
            0.0
        );
        assert_eq!(
            math_equal_one("#### 5 \\boxed{4}", "4", MathStyle::LastNumber),
            1.0
        );
        assert_eq!(math_equal_one("5", "5", MathStyle::Boxed), 0.0);
        assert_eq!(math_equal_one(" $5$ ", "5", MathStyle::Full), 1.0);
        assert!(MathStyle::parse("nope").is_err());
    }

    #[test]
    fn batch_lengths() {
        assert_eq!(
            math_equal(&["\\boxed{1}", "x"], &["1", "2"], MathStyle::Auto).unwrap(),
            vec![1.0, 0.0]
        );
        let e = math_equal(&["a"], &[], MathStyle::Auto).unwrap_err();
        assert!(e.message.starts_with("answers"), "{}", e.message);
    }
}
