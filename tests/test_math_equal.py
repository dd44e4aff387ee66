"""``math_equal``: exact answer equivalence.

Checked three ways: properties against :class:`fractions.Fraction` (the reference for
exactness), the corpus in ``tests/data/math_corpus.jsonl`` (its ``equal`` labels are decided
by construction in ``make_math_corpus.py``), and agreement with math-verify on that corpus.

math-verify runs as a separate script (``math_verify_reference.py``) in the Python named by
``$ORBITER_MATH_VERIFY_PYTHON`` (default: this one), because its full LaTeX grammar needs the
ANTLR 4.13.2 runtime, which cannot share an environment with the hydra-core the verl tests use.
Without math-verify the two math-verify tests skip, except under CI, where they fail.

Disagreements with math-verify that we accept (each listed in ``ACCEPTED`` below; 8 of the
3,252 pairs, 99.75 % agreement):

- float tolerance: math-verify rounds both numbers to 6 decimal places, so it calls
  ``0.6666666 == 2/3`` and ``0.30000000000000004 == 0.3`` equal. We take a decimal only as
  the correct rounding, at its own places (at least 6), of a value with no finite decimal
  expansion (``0.6666667`` is ``2/3``, ``0.6666666`` is not), and compare finite decimals
  exactly.
- binary floats in scientific notation: math-verify evaluates ``8.04\\cdot10^{8}`` with the
  binary float nearest 8.04, which lands 1e-7 away from 804000000, so it calls them unequal;
  in exact decimal arithmetic they are equal.
- a decimal percentage against its bare number: both sides read ``p%`` as ``p`` and as
  ``p/100``, but math-verify allows the first reading only when ``p`` is an integer
  (``50\\% == 50`` but ``12.5\\% != 12.5``); we allow it for every ``p``.
- an unbalanced ``\\boxed{\\frac{1}{2}`` (missing brace): math-verify still reads ``1/2``; we
  treat an unbalanced box as no box and fall back to the last number ("2").
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orbiter.train.errors import TrainerError
from orbiter.train.rewards import math_equal

CORPUS = Path(__file__).parent / "data" / "math_corpus.jsonl"

# (response, answer) pairs where we knowingly differ from math-verify (see the docstring).
ACCEPTED: dict[tuple[str, str], str] = {
    ("\\boxed{0.30000000000000004}", "0.3"): "math-verify float tolerance",
    ("\\boxed{0.6666666}", "\\frac{2}{3}"): "math-verify float tolerance",
    ("\\boxed{12.5\\%}", "12.5"): "math-verify: p% == p only for integer p",
    ("\\boxed{\\frac{1}{2}", "0.5"): "unbalanced box: math-verify reads it anyway",
    ("I think it is 3, no wait, 4.", "4"): "prose states no final answer; math-verify takes 4",
}
# Generated responses (their last characters, and the answer) that hit the same rules.
ACCEPTED_SUFFIXES: dict[tuple[str, str], str] = {
    ("\\boxed{12.5\\%}$.", "12.5"): "math-verify: p% == p only for integer p",
    ("\\boxed{8.04\\cdot10^{8}}\\]", "804000000"): "math-verify: binary float mantissa",
    ("\\boxed{8.22\\times10^{6}}$.", "8220000"): "math-verify: binary float mantissa",
}


def load_corpus() -> list[dict[str, Any]]:
    with CORPUS.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_corpus_is_large_and_varied() -> None:
    rows = load_corpus()
    assert len(rows) >= 2000
    forms = {r["form"] for r in rows}
    assert len(forms) >= 12
    for form in forms:
        labels = {r["equal"] for r in rows if r["form"] == form}
        # never equal by design: non-terminating fractions against short roundings
        if form != "repeating":
            assert labels == {True, False}, form


def test_corpus_labels() -> None:
    rows = load_corpus()
    got = math_equal([r["response"] for r in rows], [r["answer"] for r in rows])
    want = np.array([r["equal"] for r in rows], np.float32)
    bad = [
        (r["response"][-60:], r["answer"])
        for r, g, w in zip(rows, got, want, strict=True)
        if g != w
    ]
    assert not bad, bad[:10]


def accepted(response: str, answer: str) -> bool:
    if (response, answer) in ACCEPTED:
        return True
    return any(response.endswith(s) and answer == a for s, a in ACCEPTED_SUFFIXES)


MATH_VERIFY_SCRIPT = Path(__file__).with_name("math_verify_reference.py")
MATH_VERIFY_UNAVAILABLE = 3  # math_verify_reference.UNAVAILABLE


def math_verify(pairs: list[tuple[str, str]]) -> list[bool]:
    """math-verify's verdicts on ``(answer, response)`` pairs (see ``math_verify_reference.py``)."""
    python = os.environ.get("ORBITER_MATH_VERIFY_PYTHON") or sys.executable
    proc = subprocess.run(
        [python, str(MATH_VERIFY_SCRIPT)],
        input=json.dumps(pairs),
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode == MATH_VERIFY_UNAVAILABLE:
        reason = f"math-verify reference unavailable: {proc.stderr.strip()}"
        if os.environ.get("CI"):
            pytest.fail(reason)  # CI builds the reference environment; a skip there hides a gap
        pytest.skip(reason)
    assert proc.returncode == 0, proc.stderr
    verdicts: list[bool] = json.loads(proc.stdout)
    assert len(verdicts) == len(pairs)
    return verdicts


def test_agrees_with_math_verify_on_corpus() -> None:
    rows = load_corpus()
    ours = math_equal([r["response"] for r in rows], [r["answer"] for r in rows])
    theirs = math_verify([(r["answer"], r["response"]) for r in rows])
    disagree = [
        (r["response"], r["answer"])
        for r, o, t in zip(rows, ours, theirs, strict=True)
        if bool(o) != t
    ]
    rate = 1 - len(disagree) / len(rows)
    assert rate >= 0.995, (rate, disagree[:20])
    unexplained = [d for d in disagree if not accepted(*d)]
    assert not unexplained, unexplained


def test_percent_readings_agree_with_math_verify() -> None:
    """A percentage ``p%`` equals ``p`` and ``p/100``, boxed or not, on either side."""
    pairs = [
        ("50\\%", "$\\boxed{50}$"),
        ("50\\%", "$\\boxed{0.5}$"),
        ("50\\%", "$\\boxed{\\frac{1}{2}}$"),
        ("50\\%", "$\\boxed{50\\%}$"),
        ("50", "$\\boxed{50\\%}$"),
        ("0.5", "$\\boxed{50\\%}$"),
        ("0.5", "The answer is 50%."),
        ("50", "The answer is 50%."),
        ("50\\%", "$\\boxed{5}$"),
        ("50\\%", "$\\boxed{0.05}$"),
        ("5", "$\\boxed{50\\%}$"),
        ("0.05", "$\\boxed{50\\%}$"),
    ]
    theirs = math_verify(pairs)
    ours = math_equal([r for _, r in pairs], [a for a, _ in pairs])
    assert theirs == [True] * 8 + [False] * 4
    assert [bool(x) for x in ours] == theirs


# ---------------------------------------------------------------- exactness properties


def frac_tex(x: Fraction) -> str:
    sign = "-" if x < 0 else ""
    return f"{sign}\\frac{{{abs(x.numerator)}}}{{{x.denominator}}}"


def exact_decimal(x: Fraction) -> str | None:
    for places in range(12):
        scaled = x * 10**places
        if scaled.denominator == 1:
            digits = str(abs(scaled.numerator)).rjust(places + 1, "0")
            sign = "-" if x < 0 else ""
            return sign + (digits if places == 0 else f"{digits[:-places]}.{digits[-places:]}")
    return None


fractions_st = st.builds(
    Fraction,
    st.integers(-(10**6), 10**6),
    st.sampled_from([1, 2, 3, 4, 5, 7, 8, 10, 16, 20, 25, 125, 1000, 1024]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(fractions_st, fractions_st), min_size=1, max_size=30))
def test_fraction_equality_is_exact(pairs: list[tuple[Fraction, Fraction]]) -> None:
    responses = [f"so \\boxed{{{frac_tex(a)}}}" for a, _ in pairs]
    answers = [f"{b.numerator}/{b.denominator}" for _, b in pairs]
    want = np.array([a == b for a, b in pairs], np.float32)
    np.testing.assert_array_equal(math_equal(responses, answers), want)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(fractions_st, fractions_st), min_size=1, max_size=30))
def test_decimal_vs_fraction_is_exact(pairs: list[tuple[Fraction, Fraction]]) -> None:
    rows = [(exact_decimal(a), b) for a, b in pairs]
    rows = [(d, b) for d, b in rows if d is not None]
    if not rows:  # no terminating decimal drawn (an empty batch is an error)
        return
    responses = [f"The answer is ${d}$." for d, _ in rows]
    answers = [frac_tex(b) for _, b in rows]
    want = np.array([Fraction(d) == b for d, b in rows], np.float32)
    np.testing.assert_array_equal(math_equal(responses, answers), want)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(-(10**30), 10**30), st.integers(-3, 3)), min_size=1, max_size=30)
)
def test_large_integers_beyond_f64(pairs: list[tuple[int, int]]) -> None:
    responses = [f"#### {n + d:,}" for n, d in pairs]
    answers = [str(n) for n, _ in pairs]
    want = np.array([d == 0 for _, d in pairs], np.float32)
    np.testing.assert_array_equal(math_equal(responses, answers), want)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 999), st.integers(1, 9)), min_size=1, max_size=30))
def test_decimal_sums_are_exact(pairs: list[tuple[int, int]]) -> None:
    # a/10 + b/10 written exactly equals the exact sum; the float sum's repr may not
    responses, answers, want = [], [], []
    for a, b in pairs:
        exact = Fraction(a, 10) + Fraction(b, 10)
        floaty = repr(a / 10 + b / 10)
        responses += [f"\\boxed{{{exact_decimal(exact)}}}", f"\\boxed{{{floaty}}}"]
        answers += [frac_tex(exact), frac_tex(exact)]
        want += [True, Fraction(floaty) == exact]
    np.testing.assert_array_equal(math_equal(responses, answers), np.array(want, np.float32))


def test_no_float_fuzz() -> None:
    """A decimal equals an exact value only as its correct rounding to 6 or more places."""
    responses = [
        "\\boxed{0.333}",
        "\\boxed{0.3333333333}",
        "\\boxed{0.3333333334}",
        "\\boxed{0.30000000000000004}",
        "\\boxed{0.142857}",
        "\\boxed{0.142858}",
    ]
    answers = ["1/3", "\\frac{1}{3}", "\\frac{1}{3}", "0.3", "1/7", "1/7"]
    np.testing.assert_array_equal(
        math_equal(responses, answers), np.array([0, 1, 0, 0, 1, 0], np.float32)
    )
    two53 = 2**53
    got = math_equal(
        [f"\\boxed{{{two53 + 1}}}", f"\\boxed{{{two53 + 1}}}"], [str(two53), str(two53 + 1)]
    )
    np.testing.assert_array_equal(got, np.array([0, 1], np.float32))


def plain_decimal(x: Decimal) -> str:
    """Exact positional writing of a decimal (no exponent), as a reference answer."""
    return format(x, "f")


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(-(10**6), 10**6), st.integers(0, 4), st.integers(-20, 45)),
        min_size=1,
        max_size=20,
    )
)
def test_scientific_notation_is_exact(items: list[tuple[int, int, int]]) -> None:
    """``m \\times 10^{k}`` equals the decimal ``m`` shifted by ``k`` places, even past i128."""
    responses, answers, want = [], [], []
    for digits, places, exp in items:
        mantissa = Decimal(digits).scaleb(-places)
        shown = plain_decimal(mantissa)
        op = "\\times" if exp % 2 else "\\cdot"
        for shift, equal in ((exp, True), (exp + 1, digits == 0)):
            responses.append(f"so \\boxed{{{shown} {op} 10^{{{exp}}}}}")
            answers.append(plain_decimal(mantissa.scaleb(shift)))
            want.append(equal)
    got = math_equal(responses, answers)
    assert got.tolist() == [float(w) for w in want]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(-12, 12), st.integers(0, 30)), min_size=1, max_size=20))
def test_integer_powers_are_exact(items: list[tuple[int, int]]) -> None:
    responses = [
        f"\\boxed{{{b}^{{{e}}}}}" if b >= 0 else f"\\boxed{{-{-b}^{{{e}}}}}" for b, e in items
    ]
    # "-b^{e}" is -(b^e): the sign applies to the power
    want = [Fraction(b) ** e if b >= 0 else -(Fraction(-b) ** e) for b, e in items]
    got = math_equal(responses, [str(w) for w in want])
    assert got.tolist() == [1.0] * len(items)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 400), st.integers(0, 400)), min_size=1, max_size=30))
def test_percent_rule(pairs: list[tuple[int, int]]) -> None:
    # p% equals p/100 and p (the include_percentage rule)
    responses = [f"\\boxed{{{p}\\%}}" for p, _ in pairs]
    answers = [exact_decimal(Fraction(q, 100)) or "" for _, q in pairs]
    want = np.array([p == q or Fraction(p) == Fraction(q, 100) for p, q in pairs], np.float32)
    np.testing.assert_array_equal(math_equal(responses, answers), want)


def test_percent_rule_agrees_with_verls_prime_math_grader() -> None:
    """The rule's reference: verl's ``prime_math`` grader (Qwen2.5-Math's ``math_equal`` with
    ``include_percentage=True``), on bare answers in both directions, ``%`` and ``\\%``."""
    pytest.importorskip("pylatexenc")
    grader = pytest.importorskip("verl.utils.reward_score.prime_math.grader")
    predictions, references = [], []
    for p in ["0", "5", "12.5", "50", "100", "150", "0.5", "37.25"]:
        value = Fraction(p)
        plain = [p, exact_decimal(value / 100), str(value + 1), exact_decimal(value / 100 + 1)]
        for percent in (f"{p}\\%", f"{p}%"):
            for other in filter(None, plain):
                predictions += [percent, other]
                references += [other, percent]
    ours = math_equal(predictions, references, style="full")
    theirs = [bool(grader.math_equal(a, b)) for a, b in zip(predictions, references, strict=True)]
    assert len(predictions) >= 100
    assert ours.astype(bool).tolist() == theirs


# ---------------------------------------------------------------- styles and bad input


def test_trailing_zeros_and_marker_case() -> None:
    zeros = "0" * 45  # more digits than an i128 holds
    responses = [f"1.{zeros}", f"\\boxed{{0.5{zeros}}}", f"-0.{zeros}", "THE ANSWER IS 5. Not 3."]
    np.testing.assert_array_equal(math_equal(responses, ["1", "1/2", "0", "5"]), [1, 1, 1, 1])


def test_styles_pick_their_answer() -> None:
    response = "\\boxed{3}\n#### 4\nfinally 5"
    for style, answer in [("boxed", "3"), ("gsm8k", "4"), ("last_number", "5"), ("auto", "3")]:
        got = math_equal([response] * 3, ["3", "4", "5"], style=style)  # type: ignore[arg-type]
        want = np.array([a == answer for a in ["3", "4", "5"]], np.float32)
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(math_equal([" $\\frac12$ "], ["0.5"], style="full"), [1.0])


def test_accepts_numpy_arrays() -> None:
    responses = ["#### 5", "\\boxed{\\frac{1}{2}}"]
    answers = ["5", "0.5"]
    want = math_equal(responses, answers)
    np.testing.assert_array_equal(want, [1.0, 1.0])
    for arr in (
        np.array(responses, dtype=object),
        np.array(responses, dtype=np.dtypes.StringDType()),
    ):
        np.testing.assert_array_equal(math_equal(arr, np.array(answers)), want)


def test_large_batch_parallel_path() -> None:
    responses = ["so #### 42", "\\boxed{\\dfrac{1}{4}}", "The answer is 7 cm.", "#### 41"] * 6000
    answers = ["42", "0.25", "7", "42"] * 6000
    got = math_equal(responses, answers)
    np.testing.assert_array_equal(got, np.array([1, 1, 1, 0] * 6000, np.float32))


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="answers") as info:
        math_equal(["a", "b"], ["a"])
    assert isinstance(info.value, TrainerError)
    with pytest.raises(TypeError, match=r"responses\[1\]") as tinfo:
        math_equal(["a", 2], ["a", "b"])  # type: ignore[list-item]
    assert isinstance(tinfo.value, TrainerError)
    with pytest.raises(TypeError, match=r"answers\[0\]"):
        math_equal(["a"], [5])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="style"):
        math_equal(["a"], ["a"], style="fuzzy")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="responses"):
        math_equal("#### 5", ["5"])
    with pytest.raises(ValueError, match=r"responses: empty batch") as einfo:
        math_equal([], [])
    assert isinstance(einfo.value, TrainerError)
    # Deeply nested \frac (a stack-exhaustion attempt) is no answer, not a crash: the
    # parallel path (many rows, small thread stacks) included.
    deep = "\\boxed{" + "\\frac{1}{" * 30_000 + "2" + "}" * 30_000 + "}"
    assert math_equal([deep], ["1"]).tolist() == [0.0]
    nested = "\\boxed{" + "\\frac{1}{" * 5_000 + "2" + "}" * 5_000 + "}"
    rows = 20_000  # above the parallel threshold: scored on rayon's worker threads
    got = math_equal(["\\boxed{1}"] * (rows - 1) + [nested], ["1"] * rows)
    assert got[:-1].all() and got[-1] == 0.0


# Pieces of answer syntax, so that random texts hit the parser's corners (unbalanced and
# nested braces, signs, separators, percents, markers) and not just plain prose.
ANSWER_PIECES = st.sampled_from(
    [
        "\\frac", "\\dfrac", "\\boxed{", "\\fbox{", "{", "}", "$", "\\(", "\\)", "####",
        "answer is", "%", "\\%", "-", "+", "/", ".", ",", "{,}", " ", "\n", "0", "1", "7",
        "12", "3.5", "1e5", "\\text{", "apples", "\\left(", "\\right)", "(B)", "é", "\x00",
    ]
)  # fmt: skip
answer_texts = st.one_of(st.text(max_size=40), st.lists(ANSWER_PIECES, max_size=25).map("".join))


@settings(max_examples=500, deadline=None)
@given(st.lists(st.tuples(answer_texts, answer_texts), min_size=1, max_size=8))
def test_any_text_scores_zero_or_one(pairs: list[tuple[str, str]]) -> None:
    """Arbitrary texts never raise or crash and score 0 or 1 in every style, the same
    whichever side of a batch they sit in."""
    responses = [r for r, _ in pairs]
    answers = [a for _, a in pairs]
    for style in ("auto", "boxed", "gsm8k", "last_number", "full"):
        got = math_equal(responses, answers, style=style)  # type: ignore[arg-type]
        assert got.dtype == np.float32 and set(got.tolist()) <= {0.0, 1.0}
        alone = [math_equal([r], [a], style=style)[0] for r, a in pairs]  # type: ignore[arg-type]
        assert got.tolist() == alone


# ---------------------------------------------------------------- no reward for a wrong answer


def _embeddings(g: int, h: int) -> list[str]:
    """Responses whose final answer holds the digits of ``g >= 2`` but is not ``g`` (``h != g``)."""
    out = [
        f"$x^{{{g}}}$",
        f"$\\frac{{\\pi}}{{{g}}}$",
        f"$x \\le {g}$",
        f"$({h}, {g})$",
        f"The answer is either {h} or {g}.",
        f"The answer is {h}, not {g}.",
        f"\\boxed{{{g} or {h}}}",
        f"\\boxed{{{g} thousand}}",
        f"the probability is 1/{g}",
        f"<think>\\boxed{{{g}}}</think> so \\boxed{{{h}}}",
        f"{g}x",
        f"$-[0, {g})$",
    ]
    out += [f"${g}^2$", f"$\\sqrt{{{g}}}$" if int(g**0.5) ** 2 != g else f"${g}^3$"]
    if g != 16:  # 4 sqrt(16) is 16
        out.append(f"$4\\sqrt{{{g}}}$")
    if g != 2:
        out.append(f"${g}!$")
    return out


@settings(max_examples=200, deadline=None)
@given(st.integers(2, 10**6), st.integers(0, 10**6))
def test_a_number_inside_a_larger_answer_never_pays(g: int, h: int) -> None:
    if g == h:
        h = g + 1
    responses = _embeddings(g, h)
    for style in ("auto", "boxed", "last_number", "full"):
        got = math_equal(responses, [str(g)] * len(responses), style=style)  # type: ignore[arg-type]
        assert not got.any(), [r for r, s in zip(responses, got, strict=True) if s]


def test_statuses_name_why() -> None:
    from orbiter.train.rewards import MathStatus

    responses = ["\\boxed{3}", "\\boxed{4}", "I think about it", "<think>\\boxed{3}", "\\boxed{3}"]
    answers = ["3", "3", "3", "3", "\\boxed{3"]
    scores, status = math_equal(responses, answers, with_status=True)
    assert status.dtype == np.uint8 and scores.dtype == np.float32
    assert [MathStatus(s) for s in status] == [
        MathStatus.CORRECT,
        MathStatus.INCORRECT,
        MathStatus.NO_ANSWER,
        MathStatus.NO_ANSWER,
        MathStatus.GOLD_UNPARSEABLE,
    ]
    assert scores.tolist() == [1.0, 0.0, 0.0, 0.0, 0.0]
    # the reasoning marker is configurable, and None scores the whole text
    text = ["REASONING \\boxed{3} DONE \\boxed{4}"]
    assert math_equal(text, ["4"], think_marker="DONE").tolist() == [1.0]
    assert math_equal(["<think>\\boxed{3}"], ["3"], think_marker=None).tolist() == [1.0]
    with pytest.raises(TypeError, match="with_status"):
        math_equal(["1"], ["1"], with_status=1)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="think_marker"):
        math_equal(["1"], ["1"], think_marker=5)  # type: ignore[call-overload]
