//! Answer extraction: where a response states its final answer, for every style of
//! `math_equal` and `extract_answer`. One scanner per marker, shared by both.
//!
//! A response is first cut to its final segment: the text after the last reasoning marker
//! (`</think>` by default), when there is one; a response that opens `<think>` and never
//! closes it has no final answer. Then, by style:
//!
//! - `boxed`: the last `\boxed{…}` / `\fbox{…}` (balanced braces), together with the boxes
//!   just before it that only `,`, "and", "or", `$` or spaces separate from it
//!   (`\boxed{1}, \boxed{2}` is the two answers 1, 2: math-verify's rule).
//! - `gsm8k`: the rest of the line after the last `####`.
//! - `answer`: the rest of the sentence after the last "answer is" / "answer:" (any case);
//!   after "answer:" a sentence "… is X" gives X ("Final Answer: The largest n is 34").
//! - `math`: the last inline or display math (`$…$`, `$$…$$`, `\(…\)`, `\[…\]`), with the
//!   math just before it that "and"/"or"/`,` join to it, when no digit follows it.
//! - `bare`: the last line, when it is math alone: no words, only numbers, symbols and
//!   operators (`42`, `-3/4`, `\frac{1}{2}`, `x^2+1`, `(1, 2)`).
//! - `sentence`: the one number of the final sentence, standing alone
//!   ([`final_sentence_number`]): "so she has 42 apples" answers 42, "I got 3 then 5"
//!   nothing, and a number inside an expression never.
//!
//! `auto` tries boxed, gsm8k, answer, math, bare, sentence in that order and takes the
//! first found, in the text before a chat turn token ([`before_turn_end`]).

use memchr::memmem;

use super::lex::{tokenize, Tok};

/// The default reasoning marker: only the text after the last one is scored.
pub const THINK_MARKER: &str = "</think>";

/// A reasoning marker, its searchers built once per batch.
pub struct Reasoning {
    /// The marker (`</think>`); `None` scores whole responses.
    close: Option<memmem::FinderRev<'static>>,
    close_len: usize,
    /// Its opening tag (`<think` for `</think>`), when the marker is a closing tag.
    open: Option<memmem::Finder<'static>>,
}

impl Reasoning {
    pub fn new(marker: Option<&str>) -> Reasoning {
        let marker = marker.filter(|m| !m.is_empty());
        Reasoning {
            close: marker.map(|m| memmem::FinderRev::new(m.as_bytes()).into_owned()),
            close_len: marker.map_or(0, str::len),
            open: marker
                .and_then(|m| m.strip_prefix("</"))
                .map(|name| memmem::Finder::new(format!("<{name}").as_bytes()).into_owned()),
        }
    }

    /// The final segment of `text`: after the last marker when present; `None` when the
    /// marker's opening tag (`<think>` for `</think>`) opens and the marker never follows.
    pub fn final_segment<'a>(&self, text: &'a str) -> Option<&'a str> {
        let Some(close) = &self.close else {
            return Some(text);
        };
        if let Some(pos) = close.rfind(text.as_bytes()) {
            let rest = &text[pos + self.close_len..];
            // "</think> \boxed{5} <think> hmm": thinking again, with no end
            let reopened = self
                .open
                .as_ref()
                .is_some_and(|o| o.find(rest.as_bytes()).is_some());
            return (!reopened).then_some(rest);
        }
        let opened = self
            .open
            .as_ref()
            .is_some_and(|o| o.find(text.as_bytes()).is_some());
        (!opened).then_some(text)
    }
}

/// [`Reasoning::final_segment`] for a one-off marker.
pub fn final_segment<'a>(text: &'a str, marker: Option<&str>) -> Option<&'a str> {
    Reasoning::new(marker).final_segment(text)
}

/// Byte offsets of every `####` run's end, from the right (each run once).
fn hash_markers(text: &str) -> impl Iterator<Item = usize> + '_ {
    let b = text.as_bytes();
    memchr::memrchr_iter(b'#', b).filter(move |&p| {
        p >= 3 && b[p - 3..p].iter().all(|&c| c == b'#') && b.get(p + 1) != Some(&b'#')
    })
}

/// The rest of the line after the last `####`.
pub fn after_hashes(text: &str) -> Option<&str> {
    let end = hash_markers(text).next()?;
    let rest = &text[end + 1..];
    Some(rest.split('\n').next().unwrap_or(rest).trim())
}

/// verl's GSM8K strict rule (`gsm8k.extract_solution(method="strict")`, without its
/// 300-character clip): the last match of `#### (-?[0-9.,]+)`, commas removed.
pub fn gsm8k_strict(text: &str) -> Option<String> {
    let b = text.as_bytes();
    for p in hash_markers(text) {
        if b.get(p + 1) != Some(&b' ') {
            continue;
        }
        let start = p + 2;
        let mut i = start + usize::from(b.get(start) == Some(&b'-'));
        let digits = i;
        while b
            .get(i)
            .is_some_and(|c| c.is_ascii_digit() || *c == b'.' || *c == b',')
        {
            i += 1;
        }
        if i > digits {
            return Some(text[start..i].replace(',', ""));
        }
    }
    None
}

/// Whether a box command (`\\boxed`, `\\fbox`) starts at `pos`.
fn is_box_command(text: &str, pos: usize) -> bool {
    let rest = &text[pos + 1..];
    rest.starts_with("boxed") || rest.starts_with("fbox")
}

/// Span `(command start, content start, content end, end)` of the box command at `pos`;
/// `None` when it has no content (unbalanced braces, nothing after it).
fn box_at(text: &str, pos: usize) -> Option<(usize, usize, usize, usize)> {
    let skip = if text[pos + 1..].starts_with("boxed") {
        6
    } else if text[pos + 1..].starts_with("fbox") {
        5
    } else {
        return None;
    };
    let after = &text[pos + skip..];
    let trimmed = after.trim_start_matches(' ');
    let open = pos + skip + (after.len() - trimmed.len());
    if let Some(body) = trimmed.strip_prefix('{') {
        let mut depth = 1usize;
        for (i, c) in body.bytes().enumerate() {
            match c {
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        return Some((pos, open + 1, open + 1 + i, open + 2 + i));
                    }
                }
                _ => {}
            }
        }
        return None; // unbalanced: no box
    }
    if open > pos + skip {
        // "\\boxed 5": up to whitespace or '$'
        let len = trimmed
            .find(|c: char| c.is_whitespace() || c == '$')
            .unwrap_or(trimmed.len());
        if len > 0 {
            return Some((pos, open, open + len, open + len));
        }
    }
    None
}

/// Box commands looked at, from the right: each costs a scan to its closing brace, so a
/// crafted nest of boxes must not cost one scan per box.
const MAX_BOXES: usize = 64;

/// Positions of the last [`MAX_BOXES`] box commands in `text`, from the right.
fn box_commands(text: &str) -> impl Iterator<Item = usize> + '_ {
    memchr::memrchr_iter(b'\\', text.as_bytes())
        .filter(|&p| is_box_command(text, p))
        .take(MAX_BOXES)
}

/// Whether `gap` only joins two answers: spaces, `$`, `,`, `.`-less "and"/"or",
/// `\text{ and }`, `\quad`, and a unit of the answer before it ("\\boxed{1} papers and
/// \\boxed{2} bins").
fn joins(gap: &str) -> bool {
    let g = gap
        .replace("\\text{", "")
        .replace("\\(", " ")
        .replace("\\)", " ")
        .replace("\\[", " ")
        .replace("\\]", " ")
        .replace("\\quad", "")
        .replace("\\qquad", "")
        .replace(['$', '}', '{', ',', ';', ' ', '\n', '~'], " ");
    // "\\(y_1 = \\boxed{…}\\) and \\(y_2 = \\boxed{…}\\)": the next box's label ends the gap
    let g = match g.trim_end().strip_suffix('=') {
        Some(head) => {
            let head = head.trim_end();
            let label = head.rsplit(' ').next().unwrap_or("");
            let is_label = !label.is_empty()
                && label.len() <= 8
                && label.starts_with(|c: char| c.is_ascii_alphabetic())
                && label
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'_');
            if !is_label {
                return false;
            }
            head[..head.len() - label.len()].to_owned()
        }
        None => g,
    };
    let mut words = g.split_whitespace().peekable();
    let unit = words
        .next_if(|w| *w != "and" && *w != "or" && crate::reward::math::parse::is_trailing_word(w))
        .is_some();
    // a unit is followed by a conjunction: "\\boxed{200} then \\boxed{10455}" is two steps
    (!unit || words.peek().is_some()) && words.all(|w| w == "and" || w == "or")
}

/// The content of the last box command (`None` when that one is unbalanced).
pub fn last_box(text: &str) -> Option<&str> {
    let pos = box_commands(text).next()?;
    box_at(text, pos).map(|(_, s, e, _)| &text[s..e])
}

/// Whether one math span of `spans` holds both `a` and `b` (byte offsets, `a <= b`).
fn same_math_span(spans: &[(usize, usize, usize, usize)], a: usize, b: usize) -> bool {
    let k = spans.partition_point(|s| s.2 < b);
    spans.get(k).is_some_and(|s| s.1 <= a && b <= s.2)
}

/// The last box and the boxes joined to it, in order (none when the last box command is
/// unbalanced). Boxes join when only `joins` words separate them, or when one math
/// span holds both (`$\\boxed{(3,3)} \\text{ for (a) and } \\boxed{(1,1)}$`: math-verify
/// reads every box of one math environment).
pub fn boxes(text: &str) -> Vec<&str> {
    let mut found: Vec<(usize, usize, usize, usize)> = Vec::new();
    // computed only when two boxes do not join by their gap alone
    let mut spans: Option<Vec<(usize, usize, usize, usize)>> = None;
    for p in box_commands(text) {
        let Some(span) = box_at(text, p) else {
            if found.is_empty() {
                return Vec::new();
            }
            continue;
        };
        match found.last() {
            None => found.push(span),
            // a box around the one found replaces it, unless it holds only that box
            // (`\\boxed{\\boxed{5}}` is 5): then the content stays, the extent grows
            Some(&(start, content_start, content_end, end)) if span.3 > start => {
                let only_that = text[span.1..span.2].trim() == &text[start..end];
                if let Some(last) = found.last_mut() {
                    *last = if only_that {
                        (span.0, content_start, content_end, span.3)
                    } else {
                        span
                    };
                }
            }
            Some(&(start, ..)) if joins(&text[span.3..start]) => found.push(span),
            Some(&(start, ..)) => {
                let spans = spans.get_or_insert_with(|| math_spans(text));
                if same_math_span(spans, span.0, start) {
                    found.push(span);
                } else {
                    break;
                }
            }
        }
    }
    found.reverse();
    found.iter().map(|&(_, s, e, _)| &text[s..e]).collect()
}

/// The rest of the sentence after the last "answer is" / "answer:" (ASCII any case).
pub fn after_answer_marker(text: &str) -> Option<&str> {
    let b = text.as_bytes();
    let (pos, label) = memchr::memrchr2_iter(b'a', b'A', b).find_map(|p| {
        let w = b.get(p..p + 6)?;
        if !w.eq_ignore_ascii_case(b"answer") {
            return None;
        }
        // "**Answer:** 42", "**Final answer**: 3": markdown bold around the label
        let after = text.get(p + 6..)?.trim_start_matches([' ', '*']);
        if after.len() >= 2 && after.as_bytes()[..2].eq_ignore_ascii_case(b"is") {
            let end = text.len() - after.len() + 2;
            // "answer is" but not "answer isn't" / "answer issues"
            if !b.get(end).is_some_and(u8::is_ascii_alphabetic) {
                return Some((end, false));
            }
        }
        after
            .starts_with(':')
            .then(|| (text.len() - after.len() + 1, true))
    })?;
    let rest = text[pos..].trim_start_matches([':', ' ', '*']);
    let line = rest.split('\n').next().unwrap_or(rest);
    let mut sentence = sentence_end(line);
    if label {
        // "Answer: The largest $n$ is 34." answers 34
        // only one " is ": "Answer: x is 5 or x is 6" has no single answer
        if let (Some(k), 1) = (sentence.rfind(" is "), sentence.matches(" is ").count()) {
            sentence = &sentence[k + 4..];
        }
    }
    Some(
        sentence
            .trim()
            .trim_matches('*')
            .trim_end_matches('.')
            .trim_matches('*')
            .trim(),
    )
}

/// `line` up to its first sentence break: ". " followed by more text, outside `$…$`.
fn sentence_end(line: &str) -> &str {
    let b = line.as_bytes();
    let mut in_math = false;
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'$' => in_math = !in_math,
            b'.' if !in_math && b.get(i + 1) == Some(&b' ') => return &line[..i],
            _ => {}
        }
    }
    line
}

/// The first position of a one- or two-byte delimiter (`$`, `$$`, `\\)`, `\\]`) in `hay`.
fn find_delimiter(hay: &[u8], delim: &[u8]) -> Option<usize> {
    match *delim {
        [a] => memchr::memchr(a, hay),
        [a, b] => memchr::memchr_iter(b, hay)
            .find(|&p| p > 0 && hay[p - 1] == a)
            .map(|p| p - 1),
        _ => memmem::find(hay, delim),
    }
}

/// Spans `(start, content start, content end, end)` of the math delimiters in `text`.
fn math_spans(text: &str) -> Vec<(usize, usize, usize, usize)> {
    let b = text.as_bytes();
    let mut spans = Vec::new();
    // a closer found missing once is missing for every later opener too (linear time on
    // thousands of unclosed "\\(")
    let mut missing = [false; 4];
    let mut i = 0;
    while i < b.len() {
        let (kind, open, close): (usize, &str, &str) =
            if b[i] == b'$' && b.get(i + 1) == Some(&b'$') {
                (0, "$$", "$$")
            } else if b[i] == b'$' && (i == 0 || b[i - 1] != b'\\') {
                (1, "$", "$")
            } else if b[i] == b'\\' && b.get(i + 1) == Some(&b'(') {
                (2, "\\(", "\\)")
            } else if b[i] == b'\\' && b.get(i + 1) == Some(&b'[') {
                (3, "\\[", "\\]")
            } else {
                i += 1;
                continue;
            };
        if missing[kind] {
            i += open.len();
            continue;
        }
        let body = i + open.len();
        let mut j = body;
        let found = loop {
            match find_delimiter(&b[j..], close.as_bytes()) {
                Some(k) if close == "$" && j + k > 0 && b[j + k - 1] == b'\\' => j += k + 1,
                Some(k) => break Some(j + k),
                None => break None,
            }
        };
        // inline math ($…$, \\(…\\)) stays on one line; display math may span lines
        let inline = open == "$" || open == "\\(";
        match found {
            Some(end) if inline && b[body..end].contains(&b'\n') => {
                // not inline math; openers before the line break would meet the same closer
                i = body + memchr::memchr(b'\n', &b[body..end]).map_or(0, |k| k + 1);
            }
            Some(end) => {
                spans.push((i, body, end, end + close.len()));
                i = end + close.len();
            }
            None => {
                missing[kind] = true;
                i = body;
            }
        }
    }
    spans
}

/// The last math in `text` and the math joined to it, when no digit follows it.
pub fn last_math(text: &str) -> Vec<&str> {
    let spans = math_spans(text);
    let Some(&(_, _, _, end)) = spans.last() else {
        return Vec::new();
    };
    if text[end..].bytes().any(|c| c.is_ascii_digit()) {
        return Vec::new();
    }
    let mut out = vec![spans[spans.len() - 1]];
    for w in spans.windows(2).rev() {
        let (prev, next) = (w[0], w[1]);
        if joins(&text[prev.3..next.0]) {
            out.push(prev);
        } else {
            break;
        }
    }
    out.reverse();
    out.iter()
        .map(|&(_, s, e, _)| text[s..e].trim())
        .filter(|s| !s.is_empty())
        .collect()
}

/// The last non-empty line of `text` when it is math alone: no word before or between
/// its math tokens (unit words after them are allowed: "28 percent", "5 cm").
pub fn bare_line(text: &str) -> Option<&str> {
    let line = text.trim_end().rsplit('\n').next()?.trim();
    let line = line.strip_suffix('.').unwrap_or(line).trim();
    if line.is_empty() {
        return None;
    }
    let tokens = tokenize(line).ok()?;
    let math = tokens
        .iter()
        .position(|t| matches!(t, Tok::Word(_)))
        .unwrap_or(tokens.len());
    if math == tokens.len() || tokens.len() == 1 {
        return Some(line); // math alone, or one word ("Evelyn", "C")
    }
    // words only as trailing units of a number: "28 percent", "15 cm^2", "3 m/s"
    let numeric = tokens[..math].iter().any(|t| matches!(t, Tok::Num(..)))
        && !tokens[..math].iter().any(|t| matches!(t, Tok::Letter(_)));
    let mut rest = tokens[math..].iter().peekable();
    let mut units = true;
    while let Some(t) = rest.next() {
        units &= match t {
            Tok::Word(w) => crate::reward::math::parse::is_trailing_word(w),
            Tok::Caret => matches!(rest.next(), Some(Tok::Num(..))),
            Tok::Divide => matches!(rest.peek(), Some(Tok::Word(_))),
            _ => false,
        };
    }
    (numeric && units).then_some(line)
}

/// Chat-template tokens that end a turn or open another: what follows is not the
/// response's (a model that runs on into "<|im_start|>user …").
const TURN_TOKENS: &[&str] = &[
    "<|im_start|>",
    "<|im_end|>",
    "<|endoftext|>",
    "<|eot_id|>",
    "<|end_of_text|>",
    "<|start_header_id|>",
];

/// `text` up to its first turn token (see `TURN_TOKENS`).
pub fn before_turn_end(text: &str) -> &str {
    let b = text.as_bytes();
    for at in memchr::memchr_iter(b'<', b) {
        if b.get(at + 1) == Some(&b'|') && TURN_TOKENS.iter().any(|t| text[at..].starts_with(t)) {
            return &text[..at];
        }
    }
    text
}

/// Words that open a concluding sentence.
const CONCLUSIONS: &[&str] = &["Therefore", "Thus", "Hence"];

/// Words before a number that name a part of the work, not an answer ("step 3").
const REFERENCE_WORDS: &[&str] = &[
    "step", "case", "part", "equation", "eq", "problem", "question", "exercise", "example",
    "figure", "fig", "table", "section", "chapter", "line", "page", "lemma", "theorem",
];

/// The spans of the numbers in `text` (see `number_at`), at most `limit` + 1 of them.
fn number_spans(text: &str, limit: usize) -> Vec<(usize, usize)> {
    let b = text.as_bytes();
    let mut spans = Vec::new();
    let mut i = 0;
    while i < b.len() && spans.len() <= limit {
        match number_at(text, i) {
            Some((s, e)) => {
                spans.push((s, e));
                i = e;
            }
            None => i += 1,
        }
    }
    spans
}

/// The number of the final sentence, when that sentence states exactly one, standing
/// alone: the math-verify reading of prose ("Therefore, the probability that Alice wins
/// is 2/3.", "Final Answer: Jane started 3 hours ago. I hope it is correct."), kept
/// safe by its conditions:
///
/// - the final sentence is what follows the last sentence break (". ", "! ", "? ", a new
///   line) or the last "Therefore" / "Thus" / "Hence", after a closing "I hope it is
///   correct." and without a final period;
/// - it is a statement (no "?"), has no math markup (`$`, `\\`, `=`), and holds exactly
///   one number: an integer, a decimal, a fraction `a/b`, with an optional `%`;
/// - that number [stands alone](standalone) and follows no reference word ("step 3");
/// - the sentence does not hedge it (checked by the caller, as for every style).
pub fn final_sentence_number(text: &str) -> Option<&str> {
    let mut t = text.trim_end();
    for closing in ["I hope it is correct.", "I hope it is correct"] {
        if t.len() >= closing.len()
            && t.is_char_boundary(t.len() - closing.len())
            && t[t.len() - closing.len()..].eq_ignore_ascii_case(closing)
        {
            t = t[..t.len() - closing.len()].trim_end();
            break;
        }
    }
    let t = t.strip_suffix('.').unwrap_or(t).trim_end();
    let b = t.as_bytes();
    let start = memchr::memrchr3_iter(b'.', b'!', b'?', b)
        .find(|&i| b.get(i + 1).is_some_and(u8::is_ascii_whitespace))
        .into_iter()
        .chain(memchr::memrchr_iter(b'\n', b).next())
        .map(|i| i + 1)
        // a conclusion opens a sentence even after math with no period ("… = 2/3
        // Therefore, the probability is 2/3")
        .chain(
            CONCLUSIONS
                .iter()
                .filter_map(|w| memmem::rfind(b, w.as_bytes())),
        )
        .max()
        .unwrap_or(0);
    let sentence = &t[start..];
    if sentence
        .bytes()
        .any(|c| matches!(c, b'$' | b'\\' | b'=' | b'?'))
    {
        return None;
    }
    let spans = number_spans(sentence, 2);
    let (s, e) = match spans[..] {
        [one] => one,
        [(s, m), (n, e)] if &sentence[m..n] == "/" => (s, e),
        _ => return None,
    };
    let (s, e) = (start + s, start + e);
    let word_before = t[..s]
        .trim_end()
        .rsplit(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or("");
    if REFERENCE_WORDS
        .iter()
        .any(|w| word_before.eq_ignore_ascii_case(w))
    {
        return None;
    }
    // a fraction's '/' is inside the span: standalone() looks at what is around it
    let end = e + usize::from(t[e..].starts_with('%'));
    standalone(t, s, e).then_some(&t[s..end])
}

/// Words that, in the sentence of a final answer, deny it or doubt it.
const CONTEXT_HEDGES: &[&str] = &[
    "not",
    "nor",
    "neither",
    "isn't",
    "wasn't",
    "aren't",
    "except",
    "rather",
    "instead",
    "wrong",
    "incorrect",
    "rejected",
    "reject",
    "rule",
    "ruled",
    "maybe",
    "perhaps",
    "possibly",
    "unsure",
    "doubt",
    "impossible",
    "cannot",
    "can't",
    "doesn't",
    "don't",
    "false",
    "fails",
    "invalid",
    "actually",
    "wait",
    "mistake",
    "oops",
];

/// Words that, anywhere after the final answer, take it back ("… $5$. Actually no, 6.").
const RETRACTIONS: &[&str] = &[
    "no",
    "actually",
    "wait",
    "mistake",
    "oops",
    "wrong",
    "incorrect",
];

/// Words that offer another answer when they come just before this one ("5 or $6$").
const ALTERNATIVES: &[&str] = &["or", "either", "no"];

/// Whether the sentence around `text[start..end]` hedges the answer there: a hedge word
/// in the sentence before or after the answer, an alternative among the three words just
/// before it, or a question mark right after it ("we can rule out $6$", "$6$? No.").
pub fn hedged<'a>(text: &'a str, start: usize, end: usize) -> bool {
    let b = text.as_bytes();
    let (start, end) = (start.min(b.len()), end.min(b.len()));
    let is_break = |i: usize| match b[i] {
        b'\n' => true,
        b'.' | b'!' | b'?' => b
            .get(i + 1)
            .is_none_or(|&c| c.is_ascii_whitespace() || c == b'$'),
        _ => false,
    };
    let sentence_start = memchr::memrchr3_iter(b'\n', b'.', b'?', &b[..start])
        .find(|&i| is_break(i))
        .map_or(0, |i| i + 1);
    let sentence_end = memchr::memchr3_iter(b'\n', b'.', b'?', &b[end..])
        .map(|i| i + end)
        .find(|&i| is_break(i))
        .unwrap_or(b.len());
    let after = text[end..].trim_start_matches(['$', '}', ' ', ')', ']']);
    if after.starts_with('?') {
        return true;
    }
    let words = |part: &'a str| {
        part.split(|c: char| !(c.is_ascii_alphabetic() || c == '\''))
            .filter(|w| !w.is_empty())
    };
    // most words are not hedges: reject by length and first letter before comparing
    let any_of = |w: &str, list: &[&str]| {
        let first = w.as_bytes()[0].to_ascii_lowercase();
        (2..=10).contains(&w.len())
            && list
                .iter()
                .any(|h| h.as_bytes()[0] == first && w.eq_ignore_ascii_case(h))
    };
    let before = &text[sentence_start..start];
    let offers = words(before).rev().take(3).any(|w| any_of(w, ALTERNATIVES));
    offers
        || words(before).any(|w| any_of(w, CONTEXT_HEDGES))
        || words(&text[end..sentence_end.max(end)]).any(|w| any_of(w, CONTEXT_HEDGES))
        || words(&text[sentence_end.max(end)..]).any(|w| any_of(w, RETRACTIONS))
}

/// Byte offset of `part` (a slice of `text`) in `text`.
pub fn offset(text: &str, part: &str) -> usize {
    (part.as_ptr() as usize).saturating_sub(text.as_ptr() as usize)
}

/// The span of the last number in `text` (see `number_at`).
pub fn last_number_span(text: &str) -> Option<(usize, usize)> {
    let b = text.as_bytes();
    let mut last = None;
    let mut i = 0;
    while i < b.len() {
        match number_at(text, i) {
            Some((s, e)) => {
                last = Some((s, e));
                i = e.max(i + 1);
            }
            None => i += 1,
        }
    }
    last
}

/// The span of the number that starts at byte `i` of `text`: an optional `-` or U+2212
/// minus not glued to a preceding letter or digit, digits with `,ddd` groups, an optional
/// `.digits`; or `.digits`.
fn number_at(text: &str, i: usize) -> Option<(usize, usize)> {
    let b = text.as_bytes();
    let starts =
        b[i].is_ascii_digit() || (b[i] == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit));
    if !starts {
        return None;
    }
    let mut start = i;
    let minus = if text[..start].ends_with('-') {
        1
    } else if text[..start].ends_with('\u{2212}') {
        3
    } else {
        0
    };
    if minus > 0 {
        let before = start - minus;
        let glued = before >= 1 && (b[before - 1].is_ascii_alphanumeric() || b[before - 1] == b')');
        if !glued {
            start = before;
        }
    }
    let mut j = i;
    while j < b.len() && b[j].is_ascii_digit() {
        j += 1;
    }
    while j + 3 < b.len()
        && b[j] == b','
        && b[j + 1..j + 4].iter().all(u8::is_ascii_digit)
        && !b.get(j + 4).is_some_and(u8::is_ascii_digit)
    {
        j += 4;
    }
    if j < b.len() && b[j] == b'.' && b.get(j + 1).is_some_and(u8::is_ascii_digit) {
        j += 1;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
    }
    Some((start, j))
}

/// Words before a number that make it one of several candidates or a denied one.
const HEDGE_WORDS: &[&str] = &[
    "not", "or", "nor", "than", "either", "neither", "except", "but", "and",
];

/// Words after a number that change it ("5 thousand") or offer another ("5 or 6").
const SCALE_WORDS: &[&str] = &[
    "thousand", "million", "billion", "trillion", "hundred", "dozen", "or", "times", "percent",
];

/// Whether the number at `text[s..e]` stands alone: not glued to a letter, a command, a
/// power, a subscript, a root, a fraction bar or a factorial (`4\sqrt{2}`, `x^2`, `2/3`,
/// `100!`, `3\pi` all contain a number that is not the answer).
pub fn standalone(text: &str, s: usize, e: usize) -> bool {
    let b = text.as_bytes();
    let head = text[..s].trim_end_matches(' ');
    let glued_before = s > 0 && b[s - 1].is_ascii_alphabetic();
    let glued_after = b.get(e).is_some_and(|c| c.is_ascii_alphabetic());
    // the braces of \boxed{} and \text{} hold an answer; those of \sqrt{}, ^{} do not
    let holder = [
        "\\boxed", "\\fbox", "\\text", "\\mathrm", "\\textbf", "\\mbox",
    ];
    let bad_before = match head.as_bytes().last() {
        // an operand of an operator or a relation ("3 + 5", "2:1", "x ≤ 3", "√3"); a '-'
        // here is a binary minus ("3-5"): a sign would be part of the number
        Some(
            b'^' | b'_' | b'/' | b'\\' | b'<' | b'>' | b'|' | b',' | b'+' | b'*' | b':' | b'-',
        ) => true,
        Some(c) if !c.is_ascii() => true,
        Some(b'{') => !holder
            .iter()
            .any(|h| head[..head.len() - 1].trim_end().ends_with(h)),
        Some(c) if c.is_ascii_alphabetic() => {
            // a relation or operator command ("x \le 3"), or a hedge ("4, not 3")
            let word = head.trim_end_matches(|c: char| c.is_ascii_alphabetic());
            let last = &head[word.len()..];
            word.ends_with('\\') || HEDGE_WORDS.iter().any(|h| last.eq_ignore_ascii_case(h))
        }
        _ => false,
    };
    let tail = text[e..].trim_start_matches(' ');
    let bad_after = tail.starts_with([
        '^', '!', '_', '/', '(', '{', '[', ')', ']', '+', '-', '*', ':',
    ]) || tail
        .chars()
        .next()
        .is_some_and(|c| !c.is_ascii() && !c.is_whitespace())
        || (tail.starts_with('\\')
            && !["\\%", "\\$", "\\)", "\\]", "\\text", "\\mathrm", "\\,"]
                .iter()
                .any(|ok| tail.starts_with(ok)));
    let next_word: String = tail.chars().take_while(char::is_ascii_alphabetic).collect();
    let scaled = SCALE_WORDS
        .iter()
        .any(|w| next_word.eq_ignore_ascii_case(w));
    !(glued_before || glued_after || bad_before || bad_after || scaled)
}

/// The last number of `text` with a `%` / `\%` right after it, when it stands alone.
pub fn last_standalone_number(text: &str) -> Option<&str> {
    let (s, e) = last_number_span(text)?;
    if !standalone(text, s, e) {
        return None;
    }
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

/// The last number in `text`, thousands separators removed and a typeset minus as "-".
pub fn last_number(text: &str) -> Option<String> {
    last_number_span(text).map(|(s, e)| text[s..e].replace(',', "").replace('\u{2212}', "-"))
}

/// Which answer `extract_answer` pulls out of a text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExtractStyle {
    /// verl's GSM8K strict mode: the last `#### <number>`, commas removed.
    Gsm8k,
    /// The content of the last `\boxed{...}` / `\fbox{...}` (nested braces).
    Boxed,
    /// The last number in the text, thousands separators removed.
    LastNumber,
}

impl ExtractStyle {
    pub fn parse(style: &str) -> crate::error::CoreResult<Self> {
        match style {
            "gsm8k" => Ok(ExtractStyle::Gsm8k),
            "boxed" => Ok(ExtractStyle::Boxed),
            "last_number" => Ok(ExtractStyle::LastNumber),
            other => Err(crate::error::CoreError::arg(
                "style",
                format!("'{other}' is not one of 'gsm8k', 'boxed', 'last_number'"),
            )),
        }
    }
}

/// Extracts one answer per text (`None` where there is none).
pub fn extract_answers(
    texts: &[&str],
    style: ExtractStyle,
) -> crate::error::CoreResult<Vec<Option<String>>> {
    crate::batch::map_rows("texts", texts.len(), |i| match style {
        ExtractStyle::Gsm8k => gsm8k_strict(texts[i]),
        ExtractStyle::Boxed => last_box(texts[i]).map(str::to_owned),
        ExtractStyle::LastNumber => last_number(texts[i]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasoning_is_cut_off() {
        let t = "<think>so \\boxed{42}</think> The answer is 7.";
        assert_eq!(
            final_segment(t, Some(THINK_MARKER)),
            Some(" The answer is 7.")
        );
        assert_eq!(
            final_segment("<think>still thinking \\boxed{4}", Some(THINK_MARKER)),
            None
        );
        assert_eq!(final_segment("plain", Some(THINK_MARKER)), Some("plain"));
        assert_eq!(final_segment(t, None), Some(t));
        let custom = "reasoning END 5";
        assert_eq!(final_segment(custom, Some("END")), Some(" 5"));
    }

    #[test]
    fn boxes_join_only_when_adjacent() {
        assert_eq!(boxes("\\boxed{1}\\boxed{2}"), vec!["1", "2"]);
        // one math span holds both; a unit, then "and"; the next box's label
        assert_eq!(
            boxes("$$\\boxed{(3, 3)} \\text{ for part (a) and } \\boxed{(1, 1)}$$"),
            vec!["(3, 3)", "(1, 1)"]
        );
        assert_eq!(
            boxes("\\boxed{1} papers and \\boxed{2} bins"),
            vec!["1", "2"]
        );
        assert_eq!(boxes("\\boxed{200} then \\boxed{10455}"), vec!["10455"]);
        assert_eq!(
            boxes("\\(y_1 = \\boxed{3}\\) and \\(y_2 = \\boxed{5}\\)"),
            vec!["3", "5"]
        );
        assert_eq!(boxes("\\boxed{3} so y = \\boxed{5}"), vec!["5"]);
        assert_eq!(boxes("$\\boxed{1}$ and $\\boxed{2}$."), vec!["1", "2"]);
        assert_eq!(
            boxes("we get \\boxed{200} so then \\boxed{10455}"),
            vec!["10455"]
        );
        assert_eq!(
            boxes("\\boxed{\\frac{1}{2}} \\boxed{\\boxed{3}}"),
            vec!["\\frac{1}{2}", "3"]
        );
        assert!(boxes("\\boxed{\\frac{1}{2}").is_empty());
        assert_eq!(boxes("\\boxed 5$"), vec!["5"]);
        assert_eq!(last_box("\\boxed{1} \\fbox{2}"), Some("2"));
    }

    #[test]
    fn markers() {
        assert_eq!(after_hashes("a\n#### 42 apples\nbye"), Some("42 apples"));
        assert_eq!(gsm8k_strict("#### 3 #### -"), Some("3".into()));
        assert_eq!(gsm8k_strict("so #### 1,234"), Some("1234".into()));
        assert_eq!(gsm8k_strict("####5"), None);
        assert_eq!(
            after_answer_marker("The answer is 4, not 3."),
            Some("4, not 3")
        );
        assert_eq!(after_answer_marker("THE ANSWER IS 5. Not 3."), Some("5"));
        assert_eq!(
            after_answer_marker("Final Answer: The largest $n$ is 34."),
            Some("34")
        );
        assert_eq!(
            after_answer_marker("The final answer is $28 \\%$. I hope it is correct."),
            Some("$28 \\%$")
        );
        assert_eq!(after_answer_marker("the answer isn't clear"), None);
    }

    #[test]
    fn math_and_bare_lines() {
        assert_eq!(
            last_math("So the result is $\\frac{13}{20}$."),
            vec!["\\frac{13}{20}"]
        );
        assert_eq!(last_math("between $12$ and $13$."), vec!["12", "13"]);
        assert!(last_math("$x$ is 5").is_empty());
        assert_eq!(last_math("Answer \\[ 9 \\]"), vec!["9"]);
        assert_eq!(bare_line("work\n42"), Some("42"));
        assert_eq!(bare_line("\\frac{1}{2}."), Some("\\frac{1}{2}"));
        assert_eq!(bare_line("I got 3 then 5."), None);
    }

    #[test]
    fn standalone_numbers() {
        let cases = [
            ("it is 42", Some("42")),
            ("$4\\sqrt{2}$", None),
            ("$x^2$", None),
            ("the probability is 2/3", None),
            ("$100!$", None),
            ("AZYUK2A", None),
            ("it is 25%", Some("25%")),
            ("so it is \u{2212}5", Some("\u{2212}5")),
            ("$x \\le 3$", None),
            ("$3\\pi$", None),
            ("$-[0,1)$", None),
            ("so \\boxed{5}", Some("5")),
        ];
        for (text, want) in cases {
            assert_eq!(last_standalone_number(text), want, "{text}");
        }
    }
}
