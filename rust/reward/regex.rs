//! Regular-expression rewards: 1 where a pattern matches a text.
//!
//! Patterns are compiled once per batch with `regex-automata`'s meta engine (no
//! backtracking), so the time per text is linear in its length, with a factor bounded by
//! the pattern's size, itself bounded by [`MAX_PATTERN_CHARS`] and [`NFA_SIZE_LIMIT`].
//!
//! The pattern is read with Python `re`'s meaning where the two syntaxes share a
//! spelling: the parsed pattern (regex-syntax's AST) is rewritten before it is compiled
//! (see [`python_semantics`]).

use regex_automata::meta::Regex;
use regex_syntax::ast::{
    self, Assertion, AssertionKind, Ast, ClassBracketed, ClassPerl, ClassPerlKind, ClassSet,
    ClassSetItem, ClassSetRange, ClassSetUnion, ClassUnicode, ClassUnicodeKind, Flag, Literal,
    LiteralKind, Repetition, RepetitionKind, RepetitionOp, Span,
};
use regex_syntax::hir::{Hir, Look};

use crate::batch::{check_nonempty, map_rows, score};
use crate::error::{CoreError, CoreResult};

/// Longest accepted pattern, in characters (a named error above it).
pub const MAX_PATTERN_CHARS: usize = 4096;
/// Deepest accepted nesting of groups, classes and repetitions.
pub const MAX_NEST: u32 = 64;
/// Largest compiled NFA, in bytes: `\w{1000}` is short text but a huge automaton.
pub const NFA_SIZE_LIMIT: usize = 8 << 20;
/// Per-thread cache of the lazy DFA. The default (2 MiB) is too small for the states of
/// a long literal (the DFA state after `k` matched characters holds `k` NFA states), and
/// a lazy DFA whose cache keeps filling up gives up for the PikeVM, whose time per byte
/// grows with the pattern: a 2,000-character literal over 100 rows of 10,000 characters
/// took 11 s with the default and takes 20 ms with this (benches, not tests, say so).
const HYBRID_CACHE_BYTES: usize = 32 << 20;

/// Python's `\Z` (the absolute end of the text) is Rust's `\z`; Rust has no `\Z`.
fn python_escapes(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '\\' {
            match chars.next() {
                Some('Z') => out.push('z'),
                Some(n) => out.push(n),
                None => {}
            }
        }
    }
    out
}

/// The flags in force while rewriting: `m` (multi-line) and `u` (Unicode).
#[derive(Clone, Copy)]
struct Flags {
    multi_line: bool,
    unicode: bool,
    full: bool,
}

impl Flags {
    fn apply(&mut self, flags: &ast::Flags) {
        if let Some(on) = flags.flag_state(Flag::MultiLine) {
            self.multi_line = on;
        }
        if let Some(on) = flags.flag_state(Flag::Unicode) {
            self.unicode = on;
        }
    }
}

fn literal(span: Span, c: char) -> Literal {
    Literal {
        span,
        kind: LiteralKind::Verbatim,
        c,
    }
}

/// Python's `\w` for `str` (`c.isalnum() or c == "_"`: general categories L and N, the
/// characters with a numeric value, and the underscore) as `[\p{L}\p{N}_]`; Rust's
/// `\w` adds the combining marks and connector punctuation and drops `No` and `Nl`.
/// Python's `\s` (`str.isspace()`) is Unicode White_Space plus the ASCII separators
/// 0x1C-0x1F. Python's `\d` is `\p{Nd}`, Rust's too: left alone.
fn python_class(perl: &ClassPerl) -> Option<ClassBracketed> {
    let span = perl.span;
    let items = match perl.kind {
        ClassPerlKind::Word => vec![
            ClassSetItem::Unicode(ClassUnicode {
                span,
                negated: false,
                kind: ClassUnicodeKind::OneLetter('L'),
            }),
            ClassSetItem::Unicode(ClassUnicode {
                span,
                negated: false,
                kind: ClassUnicodeKind::OneLetter('N'),
            }),
            ClassSetItem::Literal(literal(span, '_')),
        ],
        ClassPerlKind::Space => vec![
            ClassSetItem::Perl(ClassPerl {
                span,
                kind: ClassPerlKind::Space,
                negated: false,
            }),
            ClassSetItem::Range(ClassSetRange {
                span,
                start: literal(span, '\u{1c}'),
                end: literal(span, '\u{1f}'),
            }),
        ],
        ClassPerlKind::Digit => return None,
    };
    Some(ClassBracketed {
        span,
        negated: perl.negated,
        kind: ClassSet::union(ClassSetUnion { span, items }),
    })
}

fn rewrite_set(set: &mut ClassSet, flags: Flags) {
    match set {
        ClassSet::Item(item) => rewrite_item(item, flags),
        ClassSet::BinaryOp(op) => {
            rewrite_set(&mut op.lhs, flags);
            rewrite_set(&mut op.rhs, flags);
        }
    }
}

fn rewrite_item(item: &mut ClassSetItem, flags: Flags) {
    match item {
        ClassSetItem::Perl(perl) if flags.unicode => {
            if let Some(class) = python_class(perl) {
                *item = ClassSetItem::Bracketed(Box::new(class));
            }
        }
        ClassSetItem::Bracketed(class) => rewrite_set(&mut class.kind, flags),
        ClassSetItem::Union(union) => {
            for it in &mut union.items {
                rewrite_item(it, flags);
            }
        }
        _ => {}
    }
}

/// Rewrites `ast` in place to Python's meaning, `flags` being those in force; returns
/// the flags in force after it (a bare `(?m)` holds to the end of its group).
fn rewrite(ast: &mut Ast, mut flags: Flags) -> Flags {
    match ast {
        Ast::Flags(set) => flags.apply(&set.flags),
        Ast::Assertion(a) if a.kind == AssertionKind::EndLine && !flags.multi_line => {
            // Python's `$` (no MULTILINE): the end, or just before a final "\n". With no
            // look-ahead, the search consumes that newline (`\n?\z`), which is the same
            // match unless the pattern goes on to match the newline itself after `$`.
            // A full match cannot end before the final newline, so there `$` is `\z`.
            let span = a.span;
            let end = Ast::assertion(Assertion {
                span,
                kind: AssertionKind::EndText,
            });
            *ast = if flags.full {
                end
            } else {
                Ast::concat(ast::Concat {
                    span,
                    asts: vec![
                        Ast::repetition(Repetition {
                            span,
                            op: RepetitionOp {
                                span,
                                kind: RepetitionKind::ZeroOrOne,
                            },
                            greedy: true,
                            ast: Box::new(Ast::literal(literal(span, '\n'))),
                        }),
                        end,
                    ],
                })
            };
        }
        Ast::ClassPerl(perl) if flags.unicode => {
            if let Some(class) = python_class(perl) {
                *ast = Ast::class_bracketed(class);
            }
        }
        Ast::ClassBracketed(class) if flags.unicode => rewrite_set(&mut class.kind, flags),
        Ast::Repetition(rep) => {
            rewrite(&mut rep.ast, flags);
        }
        Ast::Group(group) => {
            let mut inner = flags;
            if let Some(f) = group.flags() {
                inner.apply(f);
            }
            rewrite(&mut group.ast, inner);
        }
        Ast::Alternation(alt) => {
            for a in &mut alt.asts {
                rewrite(a, flags);
            }
        }
        Ast::Concat(cat) => {
            let mut now = flags;
            for a in &mut cat.asts {
                now = rewrite(a, now);
            }
            return now;
        }
        _ => {}
    }
    flags
}

/// Parses `pattern` with Python `re`'s meaning of the spellings the two syntaxes share:
///
/// - `$` (without `(?m)`) also matches before a final newline; `\Z` is the end of text;
/// - `\w`/`\W` are `str.isalnum()` or `_` (categories L and N), `\s`/`\S` are
///   `str.isspace()` (White_Space plus 0x1C-0x1F), `\d` is `\p{Nd}` as in both.
///
/// `\b`/`\B` keep Unicode's word definition (which counts combining marks as word
/// characters, unlike Python's): an assertion cannot be rewritten without look-around.
pub fn python_semantics(pattern: &str, full: bool) -> CoreResult<Hir> {
    let invalid =
        |e: &dyn std::fmt::Display| CoreError::arg("pattern", format!("invalid regex: {e}"));
    let chars = pattern.chars().count();
    if chars > MAX_PATTERN_CHARS {
        return Err(CoreError::arg(
            "pattern",
            format!("{chars} characters, more than the supported {MAX_PATTERN_CHARS}"),
        ));
    }
    let text = python_escapes(pattern);
    let mut ast = ast::parse::ParserBuilder::new()
        .nest_limit(MAX_NEST)
        .build()
        .parse(&text)
        .map_err(|e| invalid(&e))?;
    let flags = Flags {
        multi_line: false,
        unicode: true,
        full,
    };
    rewrite(&mut ast, flags);
    regex_syntax::hir::translate::TranslatorBuilder::new()
        .build()
        .translate(&text, &ast)
        .map_err(|e| invalid(&e))
}

/// Compiles `pattern` once; `full` anchors it at both ends (Python's `re.fullmatch`).
pub fn compile_pattern(pattern: &str, full: bool) -> CoreResult<Regex> {
    let hir = python_semantics(pattern, full)?;
    // Anchored on the parsed pattern, not by pasting `\A(?:…)\z` around its text: the
    // pattern can then neither close the group early nor comment the anchor away.
    let hir = if full {
        Hir::concat(vec![Hir::look(Look::Start), hir, Hir::look(Look::End)])
    } else {
        hir
    };
    Regex::builder()
        .configure(
            Regex::config()
                .nfa_size_limit(Some(NFA_SIZE_LIMIT))
                .hybrid_cache_capacity(HYBRID_CACHE_BYTES),
        )
        .build_from_hir(&hir)
        .map_err(|e| {
            if e.size_limit().is_some() {
                CoreError::arg(
                    "pattern",
                    format!(
                        "compiles to an automaton larger than the supported {NFA_SIZE_LIMIT} bytes"
                    ),
                )
            } else {
                CoreError::arg("pattern", format!("invalid regex: {e}"))
            }
        })
}

/// 1.0 where `pattern` matches (anywhere, or the whole text with `full`).
pub fn regex_match(texts: &[&str], pattern: &str, full: bool) -> CoreResult<Vec<f32>> {
    check_nonempty("texts", texts.len())?;
    let re = compile_pattern(pattern, full)?;
    map_rows("texts", texts.len(), |i| score(re.is_match(texts[i])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_match_anchors_the_parsed_pattern() {
        // Pasting the text into \A(?:…)\z would let this close the group and match "xxb".
        assert!(compile_pattern("a)|(?:b", true).is_err());
        let commented = compile_pattern("(?x)abc # the answer", true).unwrap();
        assert!(commented.is_match("abc") && !commented.is_match("abcd"));
        let alternation = compile_pattern("a|ab", true).unwrap();
        assert!(
            alternation.is_match("ab") && alternation.is_match("a") && !alternation.is_match("abc")
        );
        assert!(compile_pattern("b", false).unwrap().is_match("abc"));
    }

    #[test]
    fn regex_search_and_full() {
        assert_eq!(
            regex_match(&["abc", "xbz"], "b.", false).unwrap(),
            vec![1.0, 1.0]
        );
        assert_eq!(
            regex_match(&["abc", "ab"], "a.", true).unwrap(),
            vec![0.0, 1.0]
        );
        assert_eq!(
            regex_match(&["a", "b", "ab"], "a|b", true).unwrap(),
            vec![1.0, 1.0, 0.0]
        );
        let e = regex_match(&["x"], "(", false).unwrap_err();
        assert!(e.message.starts_with("pattern:"), "{}", e.message);
    }

    #[test]
    fn pattern_size_is_bounded() {
        let long = "a".repeat(MAX_PATTERN_CHARS + 1);
        let e = compile_pattern(&long, false).unwrap_err();
        assert!(
            e.message.starts_with("pattern: 4097 characters"),
            "{}",
            e.message
        );
        assert!(compile_pattern(&long[1..], false).is_ok());
        let deep = "(".repeat(100) + &")".repeat(100);
        assert!(compile_pattern(&deep, false)
            .unwrap_err()
            .message
            .starts_with("pattern:"));
        let huge = compile_pattern(r"\w{2000}", false).unwrap_err();
        assert!(
            huge.message.contains("larger than the supported"),
            "{}",
            huge.message
        );
    }

    #[test]
    fn python_spellings() {
        // `$` before a final newline, `\Z` at the very end, `(?m)` unchanged.
        let m = |p: &str, t: &str, full: bool| compile_pattern(p, full).unwrap().is_match(t);
        assert!(m("a$", "a\n", false) && !m("a$", "a\n\n", false));
        assert!(!m("a$", "a\n", true) && m("a$", "a", true));
        assert!(!m(r"a\Z", "a\n", false) && m(r"a\Z", "a", false));
        assert!(m("(?m)a$", "a\nb", false) && !m("a$", "a\nb", false));
        assert!(m("(?m:a$)|x$", "a\nb", false));
        // \w: no combining marks, all numbers; \s: 0x1C-0x1F.
        assert!(!m(r"^\w$", "\u{93e}", false) && m(r"^\W$", "\u{93e}", false));
        assert!(m(r"^\w$", "\u{b2}", false) && m(r"^[\w]$", "\u{2160}", false));
        assert!(m(r"^\s$", "\u{1c}", false) && !m(r"^[^\s]$", "\u{1f}", false));
        assert!(m(r"(?-u:\w)", "a", false));
    }
}
