"""Generate ``math_corpus.jsonl``: (response, answer) pairs for ``math_equal``.

Deterministic (fixed seed). Each line is ``{"form", "response", "answer", "equal"}``;
``equal`` is decided here by construction with :class:`fractions.Fraction` (a percentage
``p%`` equals both ``p/100`` and ``p``), independently of the Rust code. The forms cover
integers, decimals, thousands separators, signs, ``a/b``, ``\\frac``/``\\dfrac``/``\\tfrac``
(and ``\\frac12``), mixed numbers, percentages, powers and scientific notation, typeset
minus signs and parentheses, ``$…$``/``\\(…\\)``, ``\\text{}``/``\\mathrm{}``,
units and currency, degrees, ``x = …``, large integers, and non-numeric answers, each with
equal and non-equal pairs.

Run: ``python tests/data/make_math_corpus.py`` (rewrites the file next to this script).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

SEED = 20261125
OUT = Path(__file__).with_name("math_corpus.jsonl")

R = random.Random(SEED)

NAMES = ["Janet", "Tom", "Aisha", "Carlos", "Mei", "Olga", "Ravi", "Lena"]
THINGS = ["apples", "marbles", "pencils", "cookies", "stickers", "books", "eggs"]


def reasoning() -> str:
    """A few sentences of GSM8K-like working with small numbers."""
    name, thing = R.choice(NAMES), R.choice(THINGS)
    a, b = R.randint(2, 60), R.randint(2, 60)
    steps = [
        f"{name} has {a} {thing} and buys {b} more, so {name} has {a} + {b} = {a + b} {thing}.",
        f"Each box holds {b} {thing}, so {a} boxes hold {a} * {b} = {a * b}.",
        f"Then {name} gives away {min(a, b)} of them.",
        f"We compute {a} - {b} = {a - b} first.",
    ]
    R.shuffle(steps)
    return " ".join(steps[: R.randint(1, 3)])


def fmt_thousands(n: int) -> str:
    return f"{n:,}"


def decimal_str(x: Fraction) -> str | None:
    """Exact decimal writing of x when it terminates (at most 6 places)."""
    for places in range(7):
        scaled = x * 10**places
        if scaled.denominator == 1:
            v = abs(scaled.numerator)
            sign = "-" if x < 0 else ""
            if places == 0:
                return f"{sign}{v}"
            s = str(v).rjust(places + 1, "0")
            return f"{sign}{s[:-places]}.{s[-places:]}"
    return None


def frac_tex(x: Fraction, cmd: str = "\\frac") -> str:
    sign = "-" if x < 0 else ""
    return f"{sign}{cmd}{{{abs(x.numerator)}}}{{{x.denominator}}}"


def wrap_response(ans: str) -> str:
    """Put an answer written in LaTeX/plain form at the end of a response."""
    style = R.randrange(5)
    body = reasoning()
    if style == 0:
        return f"{body} The final answer is $\\boxed{{{ans}}}$."
    if style == 1:
        return f"{body}\nTherefore the answer is \\boxed{{{ans}}}"
    if style == 2:
        return f"{body}\n\\[\\boxed{{{ans}}}\\]"
    if style == 3:
        return f"{body} So the answer is ${ans}$."
    return f"{body} The answer is \\({ans}\\)."


Pair = tuple[str, str, str, bool]  # form, response, answer, equal
rows: list[Pair] = []


def add(form: str, response: str, answer: str, equal: bool) -> None:
    rows.append((form, response, answer, equal))


def other_int(n: int) -> int:
    return n + R.choice([-10, -2, -1, 1, 2, 7, 100])


def gen_gsm8k(k: int) -> None:
    for _ in range(k):
        n = R.choice([R.randint(0, 200), R.randint(1000, 99999), -R.randint(1, 500)])
        eq = R.random() < 0.6
        got = n if eq else other_int(n)
        shown = fmt_thousands(got) if abs(got) >= 1000 and R.random() < 0.5 else str(got)
        ref = fmt_thousands(n) if abs(n) >= 1000 and R.random() < 0.3 else str(n)
        tail = R.choice(["", "", " dollars", " " + R.choice(THINGS)])
        add("gsm8k", f"{reasoning()}\n#### {shown}{tail}", ref, eq)


def gen_boxed_int(k: int) -> None:
    for _ in range(k):
        n = R.randint(-999, 99999)
        eq = R.random() < 0.6
        got = n if eq else other_int(n)
        forms = [str(got), f"{got}.0", f"{got}.00"]
        if abs(got) >= 1000:
            forms += [fmt_thousands(got), fmt_thousands(got).replace(",", "{,}")]
        if got > 0:
            forms.append(f"+{got}")
        add("boxed_int", wrap_response(R.choice(forms)), str(n), eq)


def gen_decimal(k: int) -> None:
    for _ in range(k):
        x = Fraction(R.randint(-99999, 99999), 10 ** R.randint(1, 4))
        eq = R.random() < 0.55
        got = x if eq else x + Fraction(R.choice([1, -1, 3]), 10 ** R.randint(1, 4))
        shown = decimal_str(got)
        assert shown is not None
        if R.random() < 0.3:
            shown += "0" if "." in shown else ".0"
        ref = decimal_str(x)
        assert ref is not None
        add("decimal", wrap_response(shown), ref, eq)


def random_fraction() -> Fraction:
    while True:
        q = R.choice([2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 16, 20, 25, 40])
        p = R.randint(-3 * q, 3 * q)
        x = Fraction(p, q)
        if x.denominator > 1:
            return x


def fraction_forms(x: Fraction) -> list[str]:
    forms = [frac_tex(x), frac_tex(x, "\\dfrac"), frac_tex(x, "\\tfrac")]
    forms.append(f"{x.numerator}/{x.denominator}")
    m = R.choice([2, 3])
    forms.append(f"{x.numerator * m}/{x.denominator * m}")
    if 0 < x.numerator < 10 and x.denominator < 10:
        forms.append(f"\\frac{x.numerator}{x.denominator}")
    if x < 0:
        forms.append(f"\\frac{{{x.numerator}}}{{{x.denominator}}}")
    d = decimal_str(x)
    if d is not None:
        forms.append(d)
    return forms


def gen_fraction(k: int) -> None:
    for _ in range(k):
        x = random_fraction()
        eq = R.random() < 0.55
        got = x if eq else x + Fraction(R.choice([1, -1]), R.choice([2, 3, 5, 10]))
        if not eq and got == x:
            got += 1
        shown = R.choice(fraction_forms(got))
        ref = R.choice(
            [frac_tex(x), f"{x.numerator}/{x.denominator}", decimal_str(x) or frac_tex(x)]
        )
        add("fraction", wrap_response(shown), ref, eq)


def gen_repeating(k: int) -> None:
    """Non-terminating fractions against short roundings: never equal (no float fuzz)."""
    for _ in range(k):
        q = R.choice([3, 6, 7, 9, 11])
        p = R.choice([i for i in range(1, q) if Fraction(i, q).denominator == q])
        x = Fraction(p, q)
        places = R.choice([2, 3])
        shown = f"{float(x):.{places}f}"
        add("repeating", wrap_response(shown), frac_tex(x), False)


def gen_mixed(k: int) -> None:
    for _ in range(k):
        whole, q = R.randint(1, 9), R.choice([2, 3, 4, 5, 8])
        p = R.randint(1, q - 1)
        x = whole + Fraction(p, q)
        eq = R.random() < 0.6
        ref_x = x if eq else x + 1
        shown = f"{whole}\\frac{{{p}}}{{{q}}}"
        ref = decimal_str(ref_x) or frac_tex(ref_x)
        add("mixed", wrap_response(shown), ref, eq)


def gen_percent(k: int) -> None:
    for _ in range(k):
        p = R.choice([5, 10, 12.5, 20, 25, 40, 50, 75, 80, 150])
        pf = Fraction(p).limit_denominator(10)
        p_str = decimal_str(pf)
        assert p_str is not None
        kind = R.randrange(4)
        if kind == 0:  # percent response, fraction/decimal reference
            ref_v = pf / 100 if R.random() < 0.6 else pf / 100 + Fraction(1, 10)
            ref = decimal_str(ref_v) or frac_tex(ref_v)
            add("percent", wrap_response(f"{p_str}\\%"), ref, ref_v == pf / 100)
        elif kind == 1:  # percent response, reference = the bare percentage number
            ref_v = pf if R.random() < 0.6 else pf + 5
            ref = decimal_str(ref_v)
            assert ref is not None
            add("percent", wrap_response(f"{p_str}\\%"), ref, ref_v == pf)
        elif kind == 2:  # decimal response, percent reference
            got = pf / 100 if R.random() < 0.6 else pf / 1000
            shown = decimal_str(got)
            assert shown is not None
            add("percent", wrap_response(shown), f"{p_str}\\%", got == pf / 100)
        else:  # gsm8k style percent
            got = pf if R.random() < 0.6 else pf + 1
            shown = decimal_str(got)
            add("percent", f"{reasoning()}\n#### {shown}%", p_str, got == pf)


def gen_units(k: int) -> None:
    units = ["dollars", "cm", "meters", "hours", "minutes", "square feet", "km"]
    for _ in range(k):
        n = R.randint(1, 5000)
        eq = R.random() < 0.6
        got = n if eq else other_int(n)
        unit = R.choice(units)
        kind = R.randrange(5)
        if kind == 0:
            shown = f"{got}\\text{{ {unit}}}"
        elif kind == 1:
            shown = f"{got} \\text{{{unit}}}"
        elif kind == 2:
            shown = f"\\${got}"
        elif kind == 3:
            shown = f"{got}\\mathrm{{ {unit}}}"
        else:
            shown = f"{got}^\\circ" if R.random() < 0.5 else f"{got}^{{\\circ}}"
        add("units", wrap_response(shown), str(n), eq)


def gen_answer_is(k: int) -> None:
    for _ in range(k):
        n = R.randint(0, 9999)
        eq = R.random() < 0.6
        got = n if eq else other_int(n)
        unit = R.choice(["", " " + R.choice(THINGS), " dollars"])
        lead = R.choice(["The answer is", "So the final answer is", "Therefore, the answer is:"])
        add("answer_is", f"{reasoning()} {lead} {got}{unit}.", str(n), eq)


def gen_last_number(k: int) -> None:
    for _ in range(k):
        n = R.randint(1, 999)
        eq = R.random() < 0.6
        got = n if eq else other_int(n)
        name, thing = R.choice(NAMES), R.choice(THINGS)
        # A final sentence that states one number answers it (math-verify reads prose so);
        # a number inside an expression never does (see the "expression" forms).
        text = f"{reasoning()} In the end {name} has {got} {thing}."
        add("last_number", text, str(n), eq)


def gen_assignment(k: int) -> None:
    for _ in range(k):
        n = R.randint(-50, 50)
        eq = R.random() < 0.6
        got = n if eq else other_int(n)
        var = R.choice(["x", "y", "n", "k"])
        add("assignment", wrap_response(f"{var} = {got}"), str(n), eq)


def gen_large(k: int) -> None:
    for _ in range(k):
        n = R.randint(10**17, 10**25)
        eq = R.random() < 0.5
        got = n if eq else n + R.choice([1, -1, 2])
        shown = str(got) if R.random() < 0.7 else fmt_thousands(got)
        add("large_int", wrap_response(shown), str(n), eq)


def gen_signs(k: int) -> None:
    for _ in range(k):
        x = R.choice([Fraction(R.randint(1, 500)), random_fraction()])
        x = -abs(x)
        eq = R.random() < 0.5
        got = x if eq else -x
        forms = [decimal_str(got) or frac_tex(got), frac_tex(got)]
        if got < 0:
            forms.append(f"-\\frac{{{-got.numerator}}}{{{got.denominator}}}")
        add("sign", wrap_response(R.choice(forms)), decimal_str(x) or frac_tex(x), eq)


def gen_text(k: int) -> None:
    choices = "ABCDE"
    exprs = [
        ("\\sqrt{2}", "\\sqrt{3}"),
        ("(1,2)", "(1,3)"),
        ("\\pi", "2\\pi"),
        ("3\\sqrt{5}", "5\\sqrt{3}"),
        ("[0,1]", "[0,2]"),
        ("\\frac{\\sqrt{3}}{2}", "\\frac{\\sqrt{2}}{2}"),
        ("2^{10}", "2^{11}"),
        ("\\{1,2,3\\}", "\\{1,2,4\\}"),
    ]
    for _ in range(k):
        kind = R.randrange(3)
        eq = R.random() < 0.6
        if kind == 0:
            c = R.choice(choices)
            got = c if eq else R.choice([x for x in choices if x != c])
            shown = R.choice([got, f"\\text{{{got}}}", f"\\text{{({got})}}", f"\\mathrm{{{got}}}"])
            add("choice", wrap_response(shown), c, eq)
        else:
            a, b = R.choice(exprs)
            got = a if eq else b
            shown = (
                got.replace("(", "\\left(").replace(")", "\\right)") if R.random() < 0.3 else got
            )
            add("expression", wrap_response(shown), a, eq)


def gen_powers(k: int) -> None:
    """Scientific notation and integer powers (``2.5\\times10^{3}``, ``10^{-2}``, ``3^{4}``)."""
    for _ in range(k):
        kind = R.randrange(3)
        if kind == 0:
            mant = Fraction(R.randint(100, 999), 100)
            e = R.randint(-3, 12)
            op = R.choice(["\\times", "\\cdot"])
            gap = R.choice(["", " "])
            shown = f"{decimal_str(mant)}{gap}{op}{gap}10^{{{e}}}"
            value = mant * Fraction(10) ** e
        elif kind == 1:
            e = R.randint(-4, 15)
            shown = f"10^{{{e}}}"
            value = Fraction(10) ** e
        else:
            base, e = R.randint(2, 12), R.randint(2, 6)
            shown = f"{base}^{{{e}}}"
            value = Fraction(base) ** e
        other = value if R.random() < 0.6 else value * R.choice([10, Fraction(1, 10), 2])
        plain = decimal_str(other)
        assert plain is not None
        if R.random() < 0.7:  # the power in the response, the plain number as reference
            add("powers", wrap_response(shown), plain, other == value)
        else:
            add("powers", wrap_response(plain), shown, other == value)


def gen_typeset(k: int) -> None:
    """Typeset signs and spacing: U+2212 minus, parenthesised numbers, ``~`` spaces."""
    for _ in range(k):
        n = Fraction(R.randint(1, 999), R.choice([1, 2, 4, 10]))
        got = -n if R.random() < 0.6 else n
        body = decimal_str(n)
        assert body is not None
        kind = R.randrange(4)
        if kind == 0:
            shown = f"\u2212{body}"
        elif kind == 1:
            shown = f"\\left(-{body}\\right)"
        elif kind == 2:
            shown = f"(-{frac_tex(n)})"
        else:
            shown = f"-{body}\\mathrm{{~{R.choice(['cm', 'kg', 'm'])}}}"
        add("typeset", wrap_response(shown), decimal_str(got) or "", got == -n)


# Hand-picked edge cases: (response, answer, equal by our rules).
TRICKY: list[tuple[str, str, bool]] = [
    ("\\boxed{0.1}", "\\frac{1}{10}", True),
    ("\\boxed{0.3}", "\\frac{3}{10}", True),
    ("\\boxed{0.30000000000000004}", "0.3", False),  # float sum 0.1 + 0.2: not exact
    ("\\boxed{0.333}", "\\frac{1}{3}", False),
    ("\\boxed{0.3333333}", "\\frac{1}{3}", True),  # the correct rounding, 7 places
    ("\\boxed{0.6666667}", "\\frac{2}{3}", True),
    ("\\boxed{0.6666666}", "\\frac{2}{3}", False),  # truncated, not rounded
    ("\\boxed{0.33333}", "\\frac{1}{3}", False),  # 5 places: too few to stand for 1/3
    ("\\boxed{1.414214}", "\\sqrt{2}", True),
    ("\\boxed{3.141592}", "\\pi", False),  # pi is 3.1415926…: rounds to 3.141593
    ("\\boxed{9007199254740993}", "9007199254740992", False),  # 2**53 + 1 vs 2**53
    ("\\boxed{9007199254740993}", "9007199254740993", True),
    ("\\boxed{123456789012345678901234567890}", "123456789012345678901234567891", False),
    ("\\boxed{123456789012345678901234567890}", "123456789012345678901234567890", True),
    ("\\boxed{1.0000000000000001}", "1", False),
    ("\\boxed{\\frac{6}{8}}", "0.75", True),
    ("\\boxed{\\frac{-5}{-2}}", "2.5", True),
    ("\\boxed{-\\frac{-1}{2}}", "0.5", True),
    ("\\boxed{\\frac12}", "0.5", True),
    ("\\boxed{\\dfrac12}", "\\frac{1}{2}", True),
    ("\\boxed{\\tfrac{3}{4}}", "3/4", True),
    ("\\boxed{1{,}000{,}000}", "1000000", True),
    ("\\boxed{1,000,000}", "1000000", True),
    ("\\boxed{.5}", "\\frac{1}{2}", True),
    ("\\boxed{05}", "5", True),
    ("\\boxed{-0}", "0", True),
    ("\\boxed{- 5}", "-5", True),
    ("\\boxed{+5}", "5", True),
    ("\\boxed{\\$1,250}", "1250", True),
    ("\\boxed{\\$12.50}", "12.5", True),
    ("\\boxed{50\\%}", "0.5", True),
    ("\\boxed{50\\%}", "50", True),
    ("\\boxed{50\\%}", "5", False),
    ("\\boxed{0.5}", "50\\%", True),
    ("\\boxed{12.5\\%}", "12.5", True),  # math-verify: not equal (see the test)
    ("\\boxed{2\\frac{1}{2}}", "2.5", True),
    ("\\boxed{3\\frac{3}{4}}", "\\frac{15}{4}", True),
    ("\\boxed{30^\\circ}", "30", True),
    ("\\boxed{x = 7}", "7", True),
    ("\\boxed{7 \\text{ cm}}", "7", True),
    ("\\boxed{\\text{(C)}}", "C", True),
    ("\\boxed{\\textbf{D}}", "D", True),
    ("\\boxed{\\left(1, 2\\right)}", "(1,2)", True),
    ("\\boxed{\\sqrt{2}}", "\\sqrt{2}", True),
    ("\\boxed{\\sqrt{2}}", "\\sqrt{3}", False),
    ("\\boxed{1/0}", "1", False),
    ("\\boxed{}", "0", False),
    ("no answer here", "4", False),
    ("\\boxed{\\frac{1}{2}", "0.5", False),  # unbalanced box: falls back to the last number 2
    ("#### 1,234", "1234", True),
    ("#### -17", "-17", True),
    ("#### 17", "-17", False),
    ("The answer is 5 apples.", "5", True),
    ("$\\frac{3}{4}$ of 20 is 15, so the answer is \\(15\\).", "15", True),
    ("I think it is 3, no wait, 4.", "4", False),  # prose: no final answer stated
    ("I think it is 3, no wait, 4.", "3", False),
]


def gen_tricky(_k: int) -> None:
    for response, answer, equal in TRICKY:
        add("tricky", response, answer, equal)


GENERATORS: list[tuple[Callable[[int], None], int]] = [
    (gen_gsm8k, 500),
    (gen_boxed_int, 300),
    (gen_decimal, 250),
    (gen_fraction, 450),
    (gen_repeating, 60),
    (gen_mixed, 80),
    (gen_percent, 200),
    (gen_units, 250),
    (gen_answer_is, 200),
    (gen_last_number, 150),
    (gen_assignment, 80),
    (gen_large, 80),
    (gen_signs, 150),
    (gen_text, 250),
    (gen_powers, 120),
    (gen_typeset, 80),
    (gen_tricky, 0),
]


def main() -> None:
    for gen, k in GENERATORS:
        gen(k)
    with OUT.open("w", encoding="utf-8") as f:
        for form, response, answer, equal in rows:
            line = {"form": form, "response": response, "answer": answer, "equal": equal}
            f.write(json.dumps(line, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} pairs to {OUT}")


if __name__ == "__main__":
    main()
