"""Generate ``reasoning_gym_corpus.jsonl``: responses built around reasoning-gym answers.

Gold answers come from reasoning-gym (https://github.com/open-thought/reasoning-gym, Apache-2.0),
version 0.1.25 from PyPI, generated with a fixed seed from thirteen datasets whose answers are
integers, decimals (some in ``e`` notation) or fractions (some written ``$a/b$``, ``\\frac`` or
``\\dfrac``): see ``DATASETS``. The questions are not stored, only the answers.

For each item, several responses are written around its gold answer G, each with ``equal``
decided here by construction, with :class:`fractions.Fraction` (never by orbiter or
math-verify); a template whose value would happen to equal G (``G^2`` for G = 1, ...) is left
out for that item. Equal forms: G as the dataset writes it, ``\\boxed{G}`` after some working,
"The answer is G.", GSM8K's ``#### G``, inline ``$G$`` (``\\frac{a}{b}`` for a fraction,
``m \\times 10^{e}`` for e notation), a fraction gold as its terminating decimal or a decimal gold
as its fraction, and a ``<think>`` block with a wrong ``\\boxed{}`` before the right final answer.
Non-equal forms: G with one digit changed, "The answer is W, not G.", "The answer is either W or
G.", expressions around G's digits (``\\sqrt{G}``, ``G^2``, ``4\\sqrt{G}``, ``x^{G}``, ``G!``,
``\\frac{\\pi}{G}``, ``x \\le G``, "the probability is 1/G"), a ``<think>`` block with the right
``\\boxed{G}`` before a wrong final answer, and ``\\boxed{G or W}`` (``or`` bare or in
``\\text{ or }``). W is always G with one digit changed, so its value differs from G's (often only
in a far decimal place: math-verify, rounding to 6 digits, calls some of those equal). No
``\\boxed{G thousand}``-style unit words.

Each line: ``source`` (``reasoning-gym <version> <dataset> seed=<s> idx=<i>``), ``dataset``,
``gold`` (the item's answer exactly as the dataset gives it), ``response``, ``equal``, ``form``.

Deterministic: fixed seeds, and one ``random.Random`` per item seeded by its dataset and index.
Run (in a venv with ``pip install reasoning-gym==0.1.25``; rewrites the file next to this
script)::

    /tmp/rg-venv/bin/python tests/data/make_reasoning_gym_corpus.py
"""

from __future__ import annotations

import json
import math
import random
import re
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from importlib.metadata import version
from pathlib import Path

import reasoning_gym

RG_VERSION = "0.1.25"
SEED = 20260801
PER_DATASET = 24
DATASETS = (
    "basic_arithmetic",
    "chain_sum",
    "products",
    "gcd",
    "lcm",
    "simple_equations",
    "leg_counting",
    "gsm_symbolic",
    "decimal_arithmetic",
    "decimal_chain_sum",
    "power_function",
    "fraction_simplification",
    "dice",
)
OUT = Path(__file__).with_name("reasoning_gym_corpus.jsonl")

# --------------------------------------------------------------------------- numbers

INT_RE = re.compile(r"-?\d+")
DEC_RE = re.compile(r"-?\d+\.\d+")
SCI_RE = re.compile(r"(-?\d+(?:\.\d+)?)e([-+]?\d+)")
FRAC_RE = re.compile(r"(-?\d+)/(\d+)")
TEX_FRAC_RE = re.compile(r"(-?)\\[dt]?frac\{(\d+)\}\{(\d+)\}")


@dataclass(frozen=True)
class Num:
    """A number as written in plain text, with its exact value and a LaTeX writing."""

    plain: str
    value: Fraction
    shape: str  # int, decimal, sci or fraction

    @property
    def latex(self) -> str:
        if self.shape == "fraction":
            sign = "-" if self.value < 0 else ""
            num, den = self.plain.lstrip("-").split("/")
            return f"{sign}\\frac{{{num}}}{{{den}}}"
        if self.shape == "sci":
            m = SCI_RE.fullmatch(self.plain)
            assert m is not None
            return f"{m.group(1)} \\times 10^{{{int(m.group(2))}}}"
        return self.plain

    @property
    def is_integer(self) -> bool:
        return self.shape == "int"


def read_plain(text: str) -> Num:
    """A plain number: ``-12``, ``7.140``, ``1.75e-22``, ``138/583``."""
    if INT_RE.fullmatch(text):
        return Num(text, Fraction(int(text)), "int")
    if DEC_RE.fullmatch(text):
        return Num(text, Fraction(text), "decimal")
    m = SCI_RE.fullmatch(text)
    if m:
        return Num(text, Fraction(m.group(1)) * Fraction(10) ** int(m.group(2)), "sci")
    m = FRAC_RE.fullmatch(text)
    if m and int(m.group(2)) != 0:
        return Num(text, Fraction(int(m.group(1)), int(m.group(2))), "fraction")
    raise ValueError(f"not a plain number: {text!r}")


def read_gold(gold: str) -> Num:
    """A dataset answer: a plain number, optionally in ``$...$``, or ``\\frac``/``\\dfrac``."""
    text = gold.strip()
    if text.startswith("$") and text.endswith("$"):
        text = text[1:-1].strip()
    m = TEX_FRAC_RE.fullmatch(text)
    if m:
        text = f"{m.group(1)}{m.group(2)}/{m.group(3)}"
    return read_plain(text)


def terminating_decimal(x: Fraction) -> str | None:
    """The exact decimal writing of x when it terminates (at most 12 places)."""
    for places in range(13):
        scaled = x * 10**places
        if scaled.denominator == 1:
            digits = str(abs(scaled.numerator)).rjust(places + 1, "0")
            sign = "-" if x < 0 else ""
            if places == 0:
                return sign + digits
            return f"{sign}{digits[:-places]}.{digits[-places:]}"
    return None


def exact_sqrt(x: Fraction) -> Fraction | None:
    """sqrt(x) when it is rational, else None (irrational or imaginary: never equals G)."""
    if x < 0:
        return None
    n, d = math.isqrt(x.numerator), math.isqrt(x.denominator)
    if n * n == x.numerator and d * d == x.denominator:
        return Fraction(n, d)
    return None


def perturb(text: str, rng: random.Random) -> str:
    """text with one digit changed (a mantissa or numerator/denominator digit; no new leading 0)."""
    body = text.split("e", maxsplit=1)[0]
    positions = [i for i, ch in enumerate(body) if ch.isdigit()]
    while True:
        i = rng.choice(positions)
        leading = i == 0 or (not body[i - 1].isdigit() and body[i - 1] != ".")
        more_digits = i + 1 < len(body) and body[i + 1].isdigit()
        choices = [
            d for d in "0123456789" if d != text[i] and not (d == "0" and leading and more_digits)
        ]
        if choices:
            return text[:i] + rng.choice(choices) + text[i + 1 :]


def wrong_number(g: Num, rng: random.Random) -> Num:
    """G with one digit changed, re-read: a different value, and never a zero denominator."""
    while True:
        try:
            w = read_plain(perturb(g.plain, rng))
        except ValueError:
            continue
        if w.value != g.value:
            return w


def wrapped(g: Num) -> str:
    """G in LaTeX, parenthesised when a power or factorial sign would otherwise bind inside it."""
    if g.shape in {"int", "decimal"} and g.value >= 0:
        return g.latex
    return f"\\left({g.latex}\\right)"


# --------------------------------------------------------------------------- responses

NAMES = ["Ada", "Bo", "Chen", "Dara", "Eli", "Fay", "Gus", "Hana"]


def working(rng: random.Random) -> str:
    """One or two sentences of arithmetic working with small numbers."""
    a, b, c = rng.randint(2, 40), rng.randint(2, 40), rng.randint(2, 9)
    steps = [
        f"First, {a} + {b} = {a + b}.",
        f"Then {a + b} \\cdot {c} = {(a + b) * c}.",
        f"{rng.choice(NAMES)} checks that {a} - {b} = {a - b}.",
        f"Halving {2 * a} gives {a}.",
    ]
    rng.shuffle(steps)
    return " ".join(steps[: rng.randint(1, 2)])


def forms(gold: str, g: Num, rng: random.Random) -> Iterator[tuple[str, str, bool]]:
    """(form, response, equal) for one gold answer."""
    w = wrong_number(g, rng)
    w2 = wrong_number(g, rng)
    v = g.value

    # equal
    yield "alone", gold, True
    yield "boxed", f"{working(rng)} Therefore the answer is $\\boxed{{{g.latex}}}$.", True
    yield "answer_is", f"The answer is {g.plain}.", True
    yield "gsm8k", f"{working(rng)}\n#### {g.plain}", True
    yield "inline_latex", f"So the result is ${g.latex}$.", True
    if g.shape == "fraction":
        dec = terminating_decimal(v)
        if dec is not None:
            yield "decimal_of_fraction", f"The answer is {dec}.", True
    elif g.shape in {"decimal", "sci"} and v.denominator > 1 and v.denominator <= 10**6:
        frac = Num(f"{v.numerator}/{v.denominator}", v, "fraction")
        yield "fraction_of_decimal", f"The answer is ${frac.latex}$.", True
    final = rng.choice(
        [f"The final answer is $\\boxed{{{g.latex}}}$.", f"The answer is {g.plain}."]
    )
    yield (
        "think_wrong_then_right",
        f"<think>\n{working(rng)} So it is \\boxed{{{w.latex}}}. No, that step was wrong; "
        f"redo it.\n</think>\n{final}",
        True,
    )

    # not equal
    yield "perturbed", perturb_gold(gold, g, w), False
    yield "w_not_g", f"The answer is {w.plain}, not {g.plain}.", False
    yield "either_w_or_g", f"The answer is either {w.plain} or {g.plain}.", False
    root = exact_sqrt(v)
    if root != v:
        yield "sqrt", f"The answer is $\\sqrt{{{g.latex}}}$.", False
    if v * v != v:
        yield "square", f"The answer is ${wrapped(g)}^2$.", False
    if root is None or 4 * root != v:
        yield "four_sqrt", f"The answer is $4\\sqrt{{{g.latex}}}$.", False
    yield "x_power", f"The answer is $x^{{{g.latex}}}$.", False
    if g.is_integer and v >= 0 and v not in {1, 2}:  # n! = n only for n = 1, 2
        yield "factorial", f"The answer is ${g.latex}!$.", False
    if v != 0:
        yield "pi_over", f"The answer is $\\frac{{\\pi}}{{{g.latex}}}$.", False
    yield "x_le", f"The answer is $x \\le {g.latex}$.", False
    if g.shape in {"int", "decimal"} and v > 0 and v * v != 1:
        yield "probability_reciprocal", f"So the probability is 1/{g.plain}.", False
    yield (
        "think_right_then_wrong",
        f"<think>\n{working(rng)} So it is \\boxed{{{g.latex}}}.\n</think>\n"
        f"The final answer is $\\boxed{{{w2.latex}}}$.",
        False,
    )
    either = rng.choice([" or ", " \\text{ or } "])
    yield "boxed_g_or_w", f"The answer is $\\boxed{{{g.latex}{either}{w.latex}}}$.", False


def perturb_gold(gold: str, g: Num, w: Num) -> str:
    """The gold string as the dataset writes it, with W's digits in place of G's."""
    if g.plain in gold:
        return gold.replace(g.plain, w.plain, 1)
    gn, gd = g.plain.lstrip("-").split("/")
    wn, wd = w.plain.lstrip("-").split("/")
    out = gold.replace(f"{{{gn}}}{{{gd}}}", f"{{{wn}}}{{{wd}}}", 1)
    assert out != gold, gold
    return out


# --------------------------------------------------------------------------- main


def main() -> int:
    if version("reasoning-gym") != RG_VERSION:
        print(
            f"expected reasoning-gym {RG_VERSION}, found {version('reasoning-gym')}",
            file=sys.stderr,
        )
        return 1
    rows = []
    for name in DATASETS:
        ds = reasoning_gym.create_dataset(name, size=PER_DATASET, seed=SEED)
        for idx in range(PER_DATASET):
            gold = ds[idx]["answer"]
            g = read_gold(gold)
            rng = random.Random(f"{name}:{idx}")
            for form, response, equal in forms(gold, g, rng):
                if form == "perturbed":
                    assert read_gold(response).value != g.value
                rows.append(
                    {
                        "source": f"reasoning-gym {RG_VERSION} {name} seed={SEED} idx={idx}",
                        "dataset": name,
                        "gold": gold,
                        "response": response,
                        "equal": equal,
                        "form": form,
                    }
                )
    with OUT.open("w") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    items = len(DATASETS) * PER_DATASET
    counts = Counter((r["form"], r["equal"]) for r in rows)
    print(f"{len(rows)} rows from {items} items of {len(DATASETS)} datasets -> {OUT}")
    for (form, equal), n in sorted(counts.items(), key=lambda kv: (not kv[0][1], kv[0][0])):
        print(f"  {'equal' if equal else 'differ':6} {form:24} {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
