"""Text rewards against plain-Python reference implementations written here."""

from __future__ import annotations

import collections
import importlib.util
import re
import string
import unicodedata
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orbiter.train.errors import TrainerError
from orbiter.train.rewards import (
    exact_text_match,
    extract_answer,
    normalized_exact_match,
    regex_match,
    word_f1,
)

# ---------------------------------------------------------------- references (SQuAD, verl)


PUNCT = set(string.punctuation)


def squad_normalize(s: str) -> str:
    """SQuAD v1.1 / v2 ``normalize_answer``."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in PUNCT)
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def squad_f1(prediction: str, reference: str) -> float:
    pred = squad_normalize(prediction).split()
    gold = squad_normalize(reference).split()
    if not pred or not gold:
        return float(pred == gold)
    common = collections.Counter(pred) & collections.Counter(gold)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(gold)
    return 2 * precision * recall / (precision + recall)


def ref_gsm8k(text: str) -> str | None:
    """verl's strict GSM8K extraction over the whole text."""
    found = re.findall(r"#### (\-?[0-9\.\,]+)", text)
    return found[-1].replace(",", "").replace("$", "") if found else None


def ref_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...}/\\fbox{...}, balanced braces; \\boxed x form."""
    starts = [m.start() for m in re.finditer(r"\\boxed|\\fbox", text)]
    if not starts:
        return None
    pos = starts[-1]
    rest = text[pos + (6 if text.startswith("\\boxed", pos) else 5) :]
    body = rest.lstrip(" ")
    if body.startswith("{"):
        depth = 0
        for i, ch in enumerate(body):
            depth += ch == "{"
            depth -= ch == "}"
            if depth == 0:
                return body[1:i]
        return None
    if len(body) < len(rest):
        m = re.match(r"[^\s$]+", body)
        return m.group(0) if m else None
    return None


LAST_NUMBER = re.compile(
    r"(?:(?<![A-Za-z0-9)])-)?(?:[0-9]+(?:,[0-9]{3}(?![0-9]))*(?:\.[0-9]+)?|\.[0-9]+)"
)


def ref_last_number(text: str) -> str | None:
    found = LAST_NUMBER.findall(text)
    return found[-1].replace(",", "") if found else None


def load_verl_gsm8k() -> ModuleType | None:
    """verl's gsm8k.py loaded by path (importing the verl package needs ray)."""
    spec = importlib.util.find_spec("verl")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "utils/reward_score/gsm8k.py"
    if not path.exists():
        return None
    mspec = importlib.util.spec_from_file_location("verl_gsm8k", path)
    assert mspec is not None and mspec.loader is not None
    module = importlib.util.module_from_spec(mspec)
    mspec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------- strategies

WORDS = ["a", "an", "the", "The", "A", "cat", "Cat", "dog", "théâtre", "naïve", "x_y", "ΣΟΦΙΑ"]
piece = st.one_of(
    st.sampled_from(WORDS),
    st.sampled_from(list(string.punctuation + " \t\n")),
    st.text(alphabet=string.ascii_letters + "éßΣ-_' ", max_size=6),
)
texts = st.lists(piece, max_size=12).map("".join)

# ---------------------------------------------------------------- SQuAD


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(texts, texts), min_size=1, max_size=20))
def test_exact_match_matches_squad(pairs: list[tuple[str, str]]) -> None:
    preds = [p for p, _ in pairs]
    refs = [r for _, r in pairs]
    got = normalized_exact_match(preds, refs)
    want = np.array([squad_normalize(p) == squad_normalize(r) for p, r in pairs], np.float32)
    assert got.dtype == np.float32 and got.shape == (len(pairs),)
    np.testing.assert_array_equal(got, want)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(texts, texts), min_size=1, max_size=20))
def test_word_f1_matches_squad(pairs: list[tuple[str, str]]) -> None:
    got = word_f1([p for p, _ in pairs], [r for _, r in pairs])
    want = np.array([squad_f1(p, r) for p, r in pairs], np.float32)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)


def test_word_f1_identical_texts_score_one() -> None:
    words = ["The quick brown fox!", "jumps over the lazy dog", "a b c"]
    np.testing.assert_array_equal(word_f1(words, words), np.ones(3, np.float32))


squad_pieces = st.one_of(
    st.sampled_from(["a", "an", "the", "The", "A", " ", "\n", "\x1c", "_", ".", "'", "-"]),
    st.sampled_from(["\u093e", "\u0301", "\u0bcd", "\u00b2", "\u2160", "\u24b6", "\u00e9"]),
    st.characters(blacklist_categories=("Cs", "Cn")),
)
squad_texts = st.lists(squad_pieces, max_size=12).map("".join)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.tuples(squad_texts, squad_texts), min_size=1, max_size=8))
def test_squad_matches_official_script_on_unicode(pairs: list[tuple[str, str]]) -> None:
    preds, refs = [p for p, _ in pairs], [r for _, r in pairs]
    want = [float(squad_normalize(p) == squad_normalize(r)) for p, r in pairs]
    np.testing.assert_array_equal(normalized_exact_match(preds, refs), np.float32(want))
    same = [float(squad_normalize(p) == squad_normalize(p.upper())) for p in preds]
    np.testing.assert_array_equal(
        normalized_exact_match(preds, [p.upper() for p in preds]), np.float32(same)
    )
    want_f1 = [squad_f1(p, r) for p, r in pairs]
    np.testing.assert_allclose(word_f1(preds, refs), np.float32(want_f1), atol=1e-6)


def test_squad_article_before_a_combining_mark() -> None:
    # U+093E is not `\w` for Python's re: "the" before it is a whole word, removed.
    text = "the\u093e cat"
    assert normalized_exact_match([text], [squad_normalize(text)])[0] == 1.0
    assert normalized_exact_match([text], ["the\u093e cat"])[0] == 1.0
    assert squad_normalize(text) == "\u093e cat"


def test_large_batch_runs_parallel_path_and_agrees() -> None:
    # above the rayon threshold (16k rows)
    base = ["The Cat sat.", "a dog", "an apple pie", "the end"]
    preds = base * 5000
    refs = (base[1:] + base[:1]) * 5000
    want_em = np.array(
        [squad_normalize(p) == squad_normalize(r) for p, r in zip(preds, refs, strict=True)]
    )
    np.testing.assert_array_equal(normalized_exact_match(preds, refs), want_em.astype(np.float32))
    want_f1 = np.array([squad_f1(p, r) for p, r in zip(preds, refs, strict=True)], np.float32)
    np.testing.assert_allclose(word_f1(preds, refs), want_f1, atol=1e-6)


# Pieces that drive every branch of the one-pass normaliser: articles in every case and
# at every word edge (next to punctuation, control characters, marks, digits), runs of
# punctuation, the separators only Python counts as whitespace (0x1c-0x1f), Unicode
# whitespace (and U+200B, which is not), characters whose lowercase is longer (İ) or
# depends on context (Σ), and the empty string.
# fmt: off
EDGE_PIECES = [
    "a", "an", "the", "A", "An", "AN", "The", "THE", "tHe", "a.", "t.he", "a-n", ".the",
    "the_", "_a", "x", "cat", "Cat", "theatre", "anthem", "9", "a1", "2the", "",
    " ", "  ", "\t", "\n", "\r\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f",
    "\x01", "\x7f", "\x00", "...", "!?", "--", "'", "\"", "(", ")", "[]", "{}", "@#$%",
]
WIDE_PIECES = [
    "\u00a0", "\u0085", "\u1680", "\u2000", "\u2028", "\u2029", "\u202f", "\u3000",
    "\u200b", "İ", "Σ", "ΣΑΣ", "\u03c3", "\u03c2", "ß", "ẞ", "\u212a", "\u212b", "ǅ", "Ǆ", "é", "É",
    "\u093e", "\u0301", "\u00b2", "\u2160", "\u24b6", "日本", "€", "\U0001f600",
]
# fmt: on
ascii_texts = st.lists(st.sampled_from(EDGE_PIECES), max_size=24).map("".join)
wide_texts = st.lists(
    st.one_of(
        st.sampled_from(EDGE_PIECES),
        st.sampled_from(WIDE_PIECES),
        # assigned code points only, as for the test above (surrogates cannot be encoded)
        st.characters(blacklist_categories=("Cs", "Cn")),
    ),
    max_size=24,
).map("".join)


def edited(text: str, how: int) -> str:
    """A text that agrees with *text* for a long prefix (exact match compares in steps)."""
    edits = [
        lambda t: t,
        lambda t: t.upper(),
        lambda t: t + " the",
        lambda t: t + " x",
        lambda t: t + ".",
        lambda t: t + "\u3000",
        lambda t: t.replace(" ", "  ", 2),
        lambda t: t.replace("a", "b", 1),
        lambda t: "The " + t,
        lambda t: t[: len(t) // 2],
    ]
    return edits[how % len(edits)](text)


def check_against_squad(pairs: list[tuple[str, str]]) -> None:
    preds, refs = [p for p, _ in pairs], [r for _, r in pairs]
    want_em = np.float32([squad_normalize(p) == squad_normalize(r) for p, r in pairs])
    np.testing.assert_array_equal(normalized_exact_match(preds, refs), want_em)
    # the same f64 formula, rounded once to float32: equal, not merely close
    want_f1 = np.float32([squad_f1(p, r) for p, r in pairs])
    np.testing.assert_array_equal(word_f1(preds, refs), want_f1)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(ascii_texts, ascii_texts, st.integers(0, 9)), min_size=1, max_size=12))
def test_ascii_fast_path_equals_official_squad(rows: list[tuple[str, str, int]]) -> None:
    pairs = [(p, r) for p, r, _ in rows] + [(p, edited(p, k)) for p, _, k in rows]
    check_against_squad(pairs)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(wide_texts, wide_texts, st.integers(0, 9)), min_size=1, max_size=12))
def test_unicode_path_equals_official_squad(rows: list[tuple[str, str, int]]) -> None:
    pairs = [(p, r) for p, r, _ in rows] + [(p, edited(p, k)) for p, _, k in rows]
    # an ASCII text against a non-ASCII one takes both paths in one pair
    pairs += [(p, p + "\u00a0é") for p, _, _ in rows]
    check_against_squad(pairs)


def test_long_texts_and_reused_buffers_equal_official_squad() -> None:
    # rows of very different lengths in one batch (the buffers grow and are reused), on
    # both sides of the parallel threshold
    rng = np.random.default_rng(5)
    pieces = EDGE_PIECES + WIDE_PIECES
    texts = ["".join(rng.choice(pieces, size=int(rng.integers(0, 400)))) for _ in range(300)]
    pairs = [(t, edited(t, i)) for i, t in enumerate(texts)]
    pairs += [(t, texts[(i + 1) % len(texts)]) for i, t in enumerate(texts)]
    check_against_squad(pairs)
    big = pairs * (20_000 // len(pairs) + 1)
    check_against_squad(big)


def test_text_errors_keep_their_order() -> None:
    # every type error (predictions first) before any encoding error
    with pytest.raises(TypeError, match=r"references\[1\]"):
        normalized_exact_match(["a", "\ud800"], ["a", 2])  # type: ignore[list-item]
    with pytest.raises(ValueError, match=r"predictions\[1\]: cannot be encoded as UTF-8"):
        word_f1(["a", "\ud800", "\udfff"], ["a", "b", "\ud800"])
    with pytest.raises(ValueError, match=r"references\[2\]: cannot be encoded as UTF-8"):
        word_f1(["a", "b", "c"], ["a", "b", "\ud800"])


# ---------------------------------------------------------------- regex

ATOMS = ["a", "b", "c", "1", ".", "[ab]", "[^a]", "\\d", "\\w", "\\s", "(ab|c)", "(a|b)", " "]
QUANT = ["", "", "*", "+", "?", "{2}", "{1,3}"]
patterns = st.lists(
    st.tuples(st.sampled_from(ATOMS), st.sampled_from(QUANT)), min_size=1, max_size=5
).map(lambda parts: "".join(a + q for a, q in parts))
anchored = st.tuples(st.booleans(), patterns, st.booleans()).map(
    lambda t: ("^" if t[0] else "") + t[1] + ("$" if t[2] else "")
)
# Newlines (for `$`), a combining mark, numbers outside Nd, the separators Python counts
# as whitespace and Unicode does not, and the underscore: where Rust's and Python's
# classes differ.
regex_texts = st.text(alphabet="abc1 2x\n\u093e\u00b2\u2160\x1c\x1f_\u00e9\u3000", max_size=12)


@settings(max_examples=300, deadline=None)
@given(anchored, st.lists(regex_texts, min_size=1, max_size=10), st.booleans())
def test_regex_match_agrees_with_python_re(pattern: str, items: list[str], full: bool) -> None:
    compiled = re.compile(pattern)
    matcher = compiled.fullmatch if full else compiled.search
    want = np.array([matcher(t) is not None for t in items], np.float32)
    np.testing.assert_array_equal(regex_match(items, pattern, full=full), want)


def _assigned_chars() -> list[str]:
    """Every code point this Python's Unicode tables assign (not surrogates)."""
    return [
        chr(c)
        for c in range(0x110000)
        if not 0xD800 <= c <= 0xDFFF and unicodedata.category(chr(c)) != "Cn"
    ]


@pytest.mark.parametrize(
    "pattern", [r"\w", r"\W", r"\s", r"\S", r"\d", r"\D", r"[\w.]", r"[^\w]", r"[\s\d]"]
)
def test_regex_classes_are_python_re_classes_over_every_character(pattern: str) -> None:
    chars = _assigned_chars()
    compiled = re.compile(pattern)
    want = np.array([compiled.fullmatch(c) is not None for c in chars], np.float32)
    got = regex_match(chars, pattern, full=True)
    differ = [f"U+{ord(c):04X}" for c, g, w in zip(chars, got, want, strict=True) if g != w]
    assert not differ, f"{len(differ)} characters differ, e.g. {differ[:10]}"


@pytest.mark.parametrize("pattern", ["a$", "a$|b", "(a$)", "^$", "a\\Z", "(?m)a$", "a$$"])
@pytest.mark.parametrize("text", ["a", "a\n", "a\n\n", "\n", "", "b\n", "a\nb"])
@pytest.mark.parametrize("full", [False, True])
def test_regex_dollar_is_python_re_dollar(pattern: str, text: str, full: bool) -> None:
    compiled = re.compile(pattern)
    want = (compiled.fullmatch if full else compiled.search)(text) is not None
    assert regex_match([text], pattern, full=full)[0] == float(want)


def test_regex_long_literal_matches_as_re_does() -> None:
    literal = "a" * 1999 + "b"
    texts = ["a" * 10_000, "a" * 5000 + "b" + "a" * 10, "x" * 100 + literal, literal[:-1]]
    want = np.array([re.search(literal, t) is not None for t in texts], np.float32)
    np.testing.assert_array_equal(regex_match(texts, literal), want)


def test_regex_pattern_size_is_bounded() -> None:
    with pytest.raises(ValueError, match="pattern: 4097 characters") as info:
        regex_match(["x"], "a" * 4097)
    assert isinstance(info.value, TrainerError)
    assert regex_match(["a" * 4096], "a" * 4096)[0] == 1.0
    with pytest.raises(ValueError, match=r"pattern:.*larger than the supported"):
        regex_match(["x"], r"\w{5000}")
    with pytest.raises(ValueError, match="pattern:"):
        regex_match(["x"], "(" * 200 + ")" * 200)


def test_regex_bad_pattern_names_pattern() -> None:
    with pytest.raises(ValueError, match="pattern") as info:
        regex_match(["x"], "(unclosed")
    assert isinstance(info.value, TrainerError)


# ---------------------------------------------------------------- extraction

gsm_piece = st.one_of(
    st.sampled_from(["#### ", "####", "##### ", "#### -", "-", ",", ".", " ", "\n", "$", "x"]),
    st.integers(-5000, 100000).map(str),
    st.integers(0, 10**7).map(lambda n: f"{n:,}"),
)
gsm_texts = st.lists(gsm_piece, max_size=15).map("".join)


@settings(max_examples=400, deadline=None)
@given(st.lists(gsm_texts, max_size=10))
def test_extract_gsm8k_matches_reference(items: list[str]) -> None:
    assert extract_answer(items, style="gsm8k") == [ref_gsm8k(t) for t in items]


VERL = load_verl_gsm8k()


@pytest.mark.skipif(VERL is None, reason="verl is not installed")
@settings(max_examples=400, deadline=None)
@given(st.lists(gsm_texts.filter(lambda t: len(t) <= 300), max_size=10))
def test_extract_gsm8k_matches_verl_strict(items: list[str]) -> None:
    # verl clips to the last 300 characters; on shorter texts the two agree exactly.
    assert VERL is not None
    want = [VERL.extract_solution(t, method="strict") for t in items]
    assert extract_answer(items, style="gsm8k") == want


def test_extract_gsm8k_reads_the_whole_text_unlike_verl_clip() -> None:
    text = "#### 42\n" + "x" * 400
    assert extract_answer([text], "gsm8k") == ["42"]


boxed_piece = st.one_of(
    st.sampled_from(["\\boxed{", "\\fbox{", "\\boxed ", "{", "}", " ", "$", "\\frac{1}{2}", "x"]),
    st.integers(-100, 1000).map(str),
)
boxed_texts = st.lists(boxed_piece, max_size=12).map("".join)


@settings(max_examples=400, deadline=None)
@given(st.lists(boxed_texts, max_size=10))
def test_extract_boxed_matches_reference(items: list[str]) -> None:
    assert extract_answer(items, style="boxed") == [ref_boxed(t) for t in items]


def test_extract_boxed_nested() -> None:
    got = extract_answer(["so \\boxed{1} and \\boxed{\\frac{a^{2}}{b}} end", "\\fbox{7}"], "boxed")
    assert got == ["\\frac{a^{2}}{b}", "7"]


num_piece = st.one_of(
    st.sampled_from(["-", ",", ".", " ", "x", ")", "a-", "1,234", "12,3456", "--", ".5"]),
    st.integers(-1000, 10**6).map(str),
    st.floats(-1e4, 1e4, allow_nan=False).map(lambda f: f"{f:.3f}"),
)
num_texts = st.lists(num_piece, max_size=12).map("".join)


@settings(max_examples=400, deadline=None)
@given(st.lists(num_texts, max_size=10))
def test_extract_last_number_matches_reference(items: list[str]) -> None:
    assert extract_answer(items, style="last_number") == [ref_last_number(t) for t in items]


# ---------------------------------------------------------------- input forms and bad input

FUNCS_2 = [normalized_exact_match, word_f1]


@pytest.mark.parametrize("func", FUNCS_2)
def test_numpy_string_arrays_accepted(func) -> None:  # type: ignore[no-untyped-def]
    preds = ["The cat", "dog", "a b"]
    refs = ["cat", "Dog!", "b c"]
    want = func(preds, refs)
    for arr in (
        np.array(preds, dtype=object),
        np.array(preds),  # fixed-width '<U'
        np.array(preds, dtype=np.dtypes.StringDType()),
    ):
        np.testing.assert_array_equal(func(arr, tuple(refs)), want)


@pytest.mark.parametrize("func", FUNCS_2)
def test_length_mismatch(func) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="references") as info:
        func(["a", "b"], ["a"])
    assert isinstance(info.value, TrainerError)


@pytest.mark.parametrize("func", FUNCS_2)
def test_non_str_item_names_argument_and_index(func) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TypeError, match=r"predictions\[2\]") as info:
        func(["a", "b", 3], ["a", "b", "c"])
    assert isinstance(info.value, TrainerError)
    with pytest.raises(TypeError, match=r"references\[0\]"):
        func(["a"], [None])
    with pytest.raises(TypeError, match=r"predictions\[1\]"):
        func(np.array(["a", b"b"], dtype=object), ["a", "b"])


@pytest.mark.parametrize("func", FUNCS_2)
def test_single_string_or_non_sequence_rejected(func) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TypeError, match="predictions"):
        func("abc", ["abc"])
    with pytest.raises(TypeError, match="references"):
        func(["abc"], 5)


def test_empty_batches_are_errors() -> None:
    """As for the token rewards and advantages: an empty batch is a caller's bug."""
    for score in (normalized_exact_match, word_f1, exact_text_match):
        with pytest.raises(ValueError, match=r"predictions: empty batch") as info:
            score([], [])
        assert isinstance(info.value, TrainerError)
    with pytest.raises(ValueError, match=r"texts: empty batch"):
        regex_match([], "a")
    assert extract_answer([], "boxed") == []  # extraction, not scoring: nothing to extract


def test_extract_bad_style_and_items() -> None:
    with pytest.raises(ValueError, match="style") as info:
        extract_answer(["x"], style="nope")  # type: ignore[arg-type]
    assert isinstance(info.value, TrainerError)
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        extract_answer(["x", 1.5], "gsm8k")  # type: ignore[list-item]
    with pytest.raises(TypeError, match=r"texts\[0\]"):
        regex_match([None], "a")  # type: ignore[list-item]


def test_lone_surrogate_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"texts\[1\]") as info:
        regex_match(["ok", "bad \ud800"], "a")
    assert isinstance(info.value, TrainerError)
