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
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from orbiter.train import _args, _core

__all__ = [
    "exact_text_match",
    "extract_answer",
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
    ``TrainerValueError`` naming ``pattern``.
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


def math_equal(
    responses: Texts, answers: Texts, *, style: MathStyle = "auto"
) -> npt.NDArray[np.float32]:
    """``score[i] = 1.0`` if the final answer of ``responses[i]`` equals ``answers[i]``, else 0.0.

    Extraction (``style="auto"``): the last ``\\boxed{}``, else the text after the last
    ``####``, else after the last "answer is", else the whole response when it is a number
    (a bare ``\\frac{1}{2}``) or the reference is not one, else its last number. Other
    styles use one rule: ``"boxed"``, ``"gsm8k"``, ``"last_number"``, ``"full"`` (the whole
    response). The reference is its ``\\boxed{}`` content, the text after
    its ``####``, or all of it.

    Equality is exact, with rational arithmetic (``i128`` fractions; larger values compare
    by canonical decimal digits): integers, decimals, thousands separators (``1,000``,
    ``1{,}000``), signs, ``a/b``, ``\\frac``/``\\dfrac``/``\\tfrac`` (also ``\\frac12``), mixed
    numbers (``2\\frac{1}{2} = 5/2``), powers and scientific notation (``2^{10}``,
    ``10^{-3}``, ``6.02\\times10^{23}``, exact past ``i128`` for powers of ten), the typeset
    minus sign (U+2212) and one number in parentheses, around ``$…$``, ``\\(…\\)``, ``\\text{}``,
    ``\\mathrm{}``, currency (``\\$``), degree signs, ``x = 5`` and unit words (``5 dollars``,
    ``5 cm``; a one-letter SI unit only when set upright, ``5\\,\\mathrm{m}``). A
    percentage ``p%`` (or ``p percent``) equals both ``p/100`` and ``p``, as in math-verify and
    the Qwen2.5-Math grader. ``1/3`` does not equal ``0.333``: there is no float tolerance.
    Answers that are not numbers compare as strings after dropping spaces,
    ``\\left``/``\\right``, outer braces and a trailing period (``(B)`` equals ``B``).
    """
    return _core.math_equal(responses, answers, _args.text("style", style))
