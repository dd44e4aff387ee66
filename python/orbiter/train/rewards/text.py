"""Rewards over text: SQuAD exact match and F1, regex match, answer extraction, math equality.

Every function takes sequences of ``str`` (a ``list``, ``tuple`` or 1-D numpy array of
``object`` / ``StringDType`` / ``str_`` items) and returns one ``float32`` per row, except
:func:`extract_answer`, which returns the extracted strings. The work runs in the Rust core
with the GIL released (in parallel for large batches).

Bad input raises an error that is a :class:`~orbiter.train.errors.TrainerError` and a
``ValueError`` / ``TypeError``, naming the argument and the first bad index: an empty batch,
a single ``str`` instead of a sequence, a non-``str`` item, arguments of different lengths,
an unknown ``style``, an invalid ``pattern``.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum
from typing import Literal, TypeAlias, overload

import numpy as np
import numpy.typing as npt

from orbiter.train import _args, _core

__all__ = [
    "MathStatus",
    "exact_text_match",
    "extract_answer",
    "math_answer",
    "math_equal",
    "normalized_exact_match",
    "regex_match",
    "word_f1",
]

Texts: TypeAlias = Sequence[str] | npt.NDArray[np.object_] | npt.NDArray[np.str_]
"""A batch of strings: ``list[str]`` or a 1-D numpy array of ``str`` items."""

ExtractStyle: TypeAlias = Literal["gsm8k", "boxed", "last_number"]
MathStyle: TypeAlias = Literal["auto", "boxed", "gsm8k", "last_number", "full"]


def exact_text_match(predictions: Texts, references: Texts) -> npt.NDArray[np.float32]:
    """Exact match of strings: ``score[i] = 1.0 if p.strip() == r.strip()``.

    ``p = predictions[i]``, ``r = references[i]``; only surrounding whitespace (Python's
    ``str.strip()``) is ignored, case and punctuation count.
    """
    return _core.exact_text_match(predictions, references)


def normalized_exact_match(predictions: Texts, references: Texts) -> npt.NDArray[np.float32]:
    """SQuAD exact match: ``score[i] = 1.0 if norm(predictions[i]) == norm(references[i])``.

    ``norm`` is SQuAD's ``normalize_answer``: lowercase, remove ASCII punctuation, remove
    the articles ``a``/``an``/``the`` (whole words), collapse whitespace.
    """
    return _core.normalized_exact_match(predictions, references)


def word_f1(predictions: Texts, references: Texts) -> npt.NDArray[np.float32]:
    """SQuAD word F1 over normalised words (bag of words with counts).

    With ``P``/``R`` the word lists of ``norm(prediction)``/``norm(reference)`` and
    ``c = |P ∩ R|`` (multiset intersection): ``precision = c/|P|``, ``recall = c/|R|``,
    ``f1 = 2·precision·recall / (precision + recall)``, 0 when ``c = 0``. When either
    side has no words, 1.0 if both are empty else 0.0 (SQuAD v2's rule).
    """
    return _core.word_f1(predictions, references)


def regex_match(texts: Texts, pattern: str, *, full: bool = False) -> npt.NDArray[np.float32]:
    """``score[i] = 1.0`` if *pattern* matches ``texts[i]``, else 0.0.

    ``full=False`` searches anywhere (``re.search``); ``full=True`` requires the whole
    text to match (``re.fullmatch``). The pattern is compiled once, with Rust's ``regex``
    syntax (Python's without look-around and back-references); an invalid one raises
    ``TrainerValueError`` naming ``pattern``, as does one over 4,096 characters, nested
    over 64 deep, or compiling to an automaton over 8 MiB (``\\w{2000}``). The time is
    linear in each text's length.

    Where the syntaxes share a spelling, the meaning is ``re``'s: ``$`` also matches
    before a final newline (with ``full=False``; a pattern that goes on to match that
    newline after ``$`` does not), ``\\Z`` is the end of the text, ``\\w`` is
    ``str.isalnum()`` or ``_``, ``\\s`` is ``str.isspace()``, ``\\d`` is ``\\p{Nd}``.
    One difference remains: ``\\b``/``\\B`` use Unicode's word characters, which
    include combining marks (Python's do not).
    """
    return _core.regex_match(texts, _args.text("pattern", pattern), _args.flag("full", full))


def extract_answer(texts: Texts, style: ExtractStyle = "gsm8k") -> list[str | None]:
    """The final answer of each text, or ``None`` where there is none.

    - ``"gsm8k"``: the number after the last ``#### `` (regex ``#### (-?[0-9.,]+)``, commas
      removed), as verl's ``gsm8k.extract_solution(method="strict")`` but over the whole text
      (verl looks only at the last 300 characters).
    - ``"boxed"``: the content of the last ``\\boxed{...}`` / ``\\fbox{...}`` (nested braces;
      ``None`` when unbalanced), or ``\\boxed x`` up to the next space or ``$``.
    - ``"last_number"``: the last number (``-?d[,ddd]*[.d*]`` or ``.d*``), commas removed.
    """
    return _core.extract_answer(texts, _args.text("style", style))


class MathStatus(IntEnum):
    """Why :func:`math_equal` scored a response as it did (its ``uint8`` status array)."""

    INCORRECT = 0
    """An answer was found and it differs from the gold."""
    CORRECT = 1
    """The answer equals the gold (score 1.0)."""
    NO_ANSWER = 2
    """No final answer could be isolated: none where the style looks, reasoning opened
    with ``<think>`` and never closed, or a hedged answer ("4, not 3")."""
    GOLD_UNPARSEABLE = 3
    """The gold answer is empty, has unbalanced braces or is too large to judge: skip the
    item rather than punish the policy (TRL's reward contract returns ``None`` here)."""


@overload
def math_equal(
    responses: Texts,
    answers: Texts,
    *,
    style: MathStyle = ...,
    think_marker: str | None = ...,
    with_status: Literal[False] = ...,
) -> npt.NDArray[np.float32]: ...


@overload
def math_equal(
    responses: Texts,
    answers: Texts,
    *,
    style: MathStyle = ...,
    think_marker: str | None = ...,
    with_status: Literal[True],
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.uint8]]: ...


def math_equal(
    responses: Texts,
    answers: Texts,
    *,
    style: MathStyle = "auto",
    think_marker: str | None = "</think>",
    with_status: bool = False,
) -> npt.NDArray[np.float32] | tuple[npt.NDArray[np.float32], npt.NDArray[np.uint8]]:
    """``score[i] = 1.0`` if the final answer of ``responses[i]`` equals ``answers[i]``, else 0.0.

    With ``with_status=True`` it returns ``(scores, status)``, ``status`` a ``uint8`` array of
    :class:`MathStatus` (0 incorrect, 1 correct, 2 no answer found, 3 gold unparseable).

    **Final answer.** Only the text after the last *think_marker* (``"</think>"``; ``None``
    keeps the whole response) is read, up to a chat turn token (``<|im_start|>``,
    ``<|im_end|>``, ``<|endoftext|>``, ``<|eot_id|>``); a response that opens ``<think>``
    and never closes it has no answer. Then, for ``style="auto"``, the first of:

    1. the last ``\\boxed{…}``/``\\fbox{…}`` (balanced braces), with the boxes just before it
       that only ``,``, "and", "or", ``$``, spaces, a unit before "and" ("\\boxed{1} papers
       and \\boxed{2}") or the next box's label (``y_2 =``) separate from it, or that share
       one math span with it (several answers) — unless an "answer is" sentence (3) comes
       after it, which is then the final statement;
    2. the rest of the line after the last ``####``;
    3. the rest of the sentence after the last "answer is" / "answer:" (any case; after
       "answer:", a sentence "… is X" gives X);
    4. the last math (``$…$``, ``$$…$$``, ``\\(…\\)``, ``\\[…\\]``) and the math joined to it
       by ``,``/"and"/"or", when no digit follows it;
    5. the last line, when it is math alone: no words, only numbers, symbols and operators
       (``42``, ``-3/4``, ``\\frac{1}{2}``, ``(1, 2)``);
    6. the number of the final sentence (after the last ". ", "! ", "? ", line break or
       "Therefore"/"Thus"/"Hence", a closing "I hope it is correct." dropped), when that
       sentence has no math markup (``$``, ``\\``, ``=``), is no question, and holds exactly
       one number (an integer, a decimal or ``a/b``, optionally ``%``) that stands alone (as
       for ``"last_number"`` below) and follows no reference word ("step 3"): "Therefore,
       the probability that Alice wins is 2/3." answers 2/3; "I got 3 then 5." nothing.

    The answer's sentence must not hedge it: a denial or doubt ("not", "rule out",
    "wrong", "maybe") in it, "or"/"either" among the three words before the answer, or a
    question mark right after it, make it no answer.

    Other styles use one rule: ``"boxed"`` (1), ``"gsm8k"`` (2), ``"full"`` (the whole
    text), ``"last_number"`` (the last number, only when it stands alone: not glued to a
    letter, a power, a root, a fraction bar, a factorial, a relation, a bracket or a scale
    word such as "thousand", and not after "not"/"or"/"than"). The gold is its boxed
    content, the text after its ``####``, or all of it.

    **Equality** of the whole extracted answer with the whole gold, exactly (no floating
    point; a number inside a larger expression never matches on its own). A decimal equals a
    value with no finite decimal expansion only as its correct rounding with at least 6
    decimal places and 6 significant digits: ``|v - d| < 10^{-k}/2`` for ``d`` of ``k``
    places, decided on exact rational bounds of ``v`` (``0.142857`` is ``1/7``; ``0.14`` and
    ``0.142858`` are not; a finite decimal such as ``0.3`` is compared exactly):

    - numbers: integers, decimals, separators (``1,000``, ``1{,}000``, ``12,\\!345``,
      ``1 000``; a comma inside ``(…)`` separates items), signs, ``a/b``, ``\\frac``,
      ``\\dfrac``, ``\\cfrac``, ``\\frac12``, mixed numbers (``2\\frac12 = 5/2``), powers,
      scientific notation, ``1.5e-3``, ``n!``, ``\\binom``, ``|x|``, a unit after a number
      (``5 cm``, ``3 apples``: a known short unit, a one-letter SI unit, or a word of four
      letters or more that neither scales nor qualifies it, so not "5 thousand", "5 tenths",
      "5K", "6 wrong"), degrees (``90^\\circ = 90``); numbers side by side (``3 4``) are not
      a product; ``p%`` (or "percent") equals ``p`` and
      ``p/100`` (math-verify's and the Qwen2.5-Math grader's rule);
    - exact algebra with big rationals: radicals (``\\sqrt{8} = 2\\sqrt{2}``,
      ``\\frac{\\sqrt2}{2} = \\frac{1}{\\sqrt2}``), rational multiples of ``\\pi``, and
      polynomial and rational expressions in any variables (``\\frac{x+2}{7} = \\frac{x}{7} +
      \\frac{2}{7}``), compared in a canonical form; functions (``\\sin``, ``\\log``) are kept
      whole, so there are no trigonometric identities and no calculus: those compare as
      canonical text;
    - structures: tuples and points (ordered), intervals (open/closed ends, ``\\infty``,
      unions), sets ``\\{…\\}`` (unordered, duplicates removed), several answers
      (``x=1 or x=2``, ``1, 2``, several boxes: a set; a bare list equals the tuple with
      the same order; ``;`` separates groups: ``p=5,q=2;p=7,q=2``), bounds on ``|x|`` as the
      intervals they describe (``1 \\le |z| \\le 2`` is ``[-2,-1] \\cup [1,2]``), matrices
      (``pmatrix``, ``bmatrix``, ``array``);
    - relations: ``x = 3`` equals ``3``; ``y = 2x+1`` equals ``2x+1``; a chain ``x = 5+6 =
      11`` (or ``3 + 4 = 7``) answers its last part, its steps unchecked, as math-verify
      reads it (parts after ``\\approx`` are dropped); two equations are
      equal when ``L₁ - R₁ = c (L₂ - R₂)`` for a rational ``c ≠ 0``; inequalities in any
      spelling and direction (``x \\ge 5``, ``5 <= x``); a gold inequality in one variable
      equals its interval, but a gold interval is not answered by an inequality;
    - anything else compares as normalised text (spaces, ``\\left``/``\\right``, outer braces,
      trailing period dropped; a lone letter is a choice: ``(B)`` equals ``B``).

    A hostile input costs bounded work: answers over 16 KiB compare as text, nesting,
    tokens, terms, exponents and number sizes are bounded.
    """
    scores, status = _core.math_equal(
        responses,
        answers,
        _args.text("style", style),
        None if think_marker is None else _args.text("think_marker", think_marker),
    )
    if _args.flag("with_status", with_status):
        return scores, status
    return scores


def math_answer(
    responses: Texts, *, style: MathStyle = "auto", think_marker: str | None = "</think>"
) -> list[str | None]:
    """The final answer :func:`math_equal` reads from each response, as it would compare it
    with a gold answer (several answers joined by ``", "``), or ``None`` where it finds none
    (the same cases as :attr:`MathStatus.NO_ANSWER`, before the answer is parsed).

    This is what the framework adapters report as the prediction (verl's ``"pred"``) and
    what majority voting counts.
    """
    return _core.math_answer(
        responses,
        _args.text("style", style),
        None if think_marker is None else _args.text("think_marker", think_marker),
    )
