"""Text reward throughput: ours against the field's implementations, in one process.

Part of the suite (``python benches/run.py``); alone, after ``maturin develop -r``::

    python benches/bench_text.py [--runs 7] [--smoke]

Baselines: verl ``reward_score.gsm8k.compute_score`` and ``math_reward.compute_score``
(loaded by path, if verl is installed), math-verify ``parse`` + ``verify`` (on a small sample,
per answer), and plain Python loops doing the same work (``re`` + ``fractions``); the slow
ones run on a sample and are scaled to the batch.
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import random
import re
import string
from fractions import Fraction
from pathlib import Path
from types import ModuleType

try:
    from math_verify import parse as mv_parse
    from math_verify import verify as mv_verify
except ImportError:  # optional baseline
    mv_parse = mv_verify = None

from harness import Baseline, Case, print_results, run_cases

from orbiter.train.rewards import (
    extract_answer,
    math_equal,
    normalized_exact_match,
    regex_match,
    word_f1,
)

FILLER = (
    "Natalia sold 48 clips in April and half as many in May, so she sold 48 / 2 = 24 in May. "
    "Altogether she sold 48 + 24 = 72 clips, and each clip costs 3 dollars so that is 216. "
)


GROUP = "text rewards"


def make_batch(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """GSM8K/MATH-like responses of ~200 characters with their reference answers."""
    rng = random.Random(seed)
    responses, answers = [], []
    for _ in range(n):
        value = rng.randint(1, 5000)
        body = FILLER[: rng.randint(120, 180)]
        kind = rng.random()
        shown = value if rng.random() < 0.7 else value + 1
        if kind < 0.5:
            responses.append(f"{body}\n#### {shown:,}")
            answers.append(str(value))
        elif kind < 0.8:
            q = rng.choice([2, 4, 5, 8])
            responses.append(f"{body} The answer is $\\boxed{{\\frac{{{shown * q}}}{{{q}}}}}$.")
            answers.append(str(value))
        else:
            responses.append(f"{body} So the answer is {shown}.")
            answers.append(str(value))
    return responses, answers


STRUCTURED = [
    ("\\boxed{\\{2, 1, 1\\}}", "\\{1,2\\}"),
    ("The answer is $(1, \\frac{9}{2}]$.", "(1, 4.5]"),
    ("so $x = \\boxed{2\\sqrt{2}}$", "\\sqrt{8}"),
    ("Thus $x = 3$.", "3"),
    ("\\boxed{\\frac{x}{7}+\\frac{2}{7}}", "\\frac{x+2}{7}"),
    ("\\boxed{[-1, 0) \\cup (1, \\infty)}", "[-1,0)\\cup(1,\\infty)"),
    ("We get $y=-\\frac{1}{2}x+\\frac{3}{4}$.", "2x+4y-3=0"),
    (
        "\\boxed{\\begin{pmatrix}1 & 2 \\\\ 3 & 4\\end{pmatrix}}",
        "\\begin{bmatrix}1&2\\\\3&5\\end{bmatrix}",
    ),
]


def make_structured_batch(n: int) -> tuple[list[str], list[str]]:
    """Structured answers (sets, intervals, radicals, equations, matrices) after some working."""
    rows = [STRUCTURED[i % len(STRUCTURED)] for i in range(n)]
    return [FILLER[:100] + r for r, _ in rows], [a for _, a in rows]


def hostile_answers() -> list[str]:
    """Responses of about 1 MB built to be expensive: deep nesting, brackets, digits, powers."""
    k = 1 << 20
    return [
        "\\boxed{" + "\\frac{1}{" * (k // 9) + "2" + "}" * (k // 9) + "}",
        "\\boxed{" + "(" * (k // 2) + "1" + ")" * (k // 2) + "}",
        "\\boxed{" + "9" * k + "}",
        "\\boxed{" + "(x+1)^{1000}" * (k // 12) + "}",
        "$" + "1+" * (k // 2) + "1$",
        "<think>" * (k // 7),
    ]


def load_by_path(package: str, relative: str, name: str) -> ModuleType | None:
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    mspec = importlib.util.spec_from_file_location(name, path)
    if mspec is None or mspec.loader is None or not path.exists():
        return None
    module = importlib.util.module_from_spec(mspec)
    mspec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------- plain Python baselines

BOXED = re.compile(r"\\boxed\{((?:[^{}]|\{[^{}]*\})*)\}")
HASHES = re.compile(r"####\s*([^\n]*)")
ANSWER_IS = re.compile(r"answer is:?\s*([^\n]*?)\.?\s*$", re.IGNORECASE)
NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
FRAC = re.compile(r"\\[dt]?frac\{([^{}]*)\}\{([^{}]*)\}")


def py_value(s: str) -> Fraction | str:
    s = s.strip().strip("$").replace(",", "").replace("\\$", "").rstrip(".")
    m = FRAC.fullmatch(s)
    try:
        if m:
            return Fraction(m.group(1)) / Fraction(m.group(2))
        return Fraction(s)
    except (ValueError, ZeroDivisionError):
        return s


def py_math_equal(response: str, answer: str) -> float:
    found = BOXED.findall(response) or HASHES.findall(response)
    if found:
        cand = found[-1]
    else:
        m = ANSWER_IS.search(response)
        nums = NUMBER.findall(response)
        cand = m.group(1) if m else (nums[-1] if nums else "")
    return float(py_value(cand) == py_value(answer))


PUNCT = set(string.punctuation)


def squad_normalize(s: str) -> str:
    """SQuAD's official normalize_answer."""
    s = "".join(ch for ch in s.lower() if ch not in PUNCT)
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", s).split())


def squad_f1(p: str, r: str) -> float:
    pt, rt = squad_normalize(p).split(), squad_normalize(r).split()
    if not pt or not rt:
        return float(pt == rt)
    same = sum((collections.Counter(pt) & collections.Counter(rt)).values())
    if same == 0:
        return 0.0
    prec, rec = same / len(pt), same / len(rt)
    return 2 * prec * rec / (prec + rec)


# ---------------------------------------------------------------- cases


def cases(smoke: bool = False, mv_sample: int = 200) -> tuple[list[Case], list[str]]:
    """Text reward cases and notes on skipped baselines."""
    n = 5_000 if smoke else 100_000
    sub = min(n, 2_000 if smoke else 20_000)
    notes: list[str] = []
    responses, answers = make_batch(n)
    pairs = list(zip(responses[:sub], answers[:sub], strict=True))
    gsm_idx = [i for i, r in enumerate(responses) if "####" in r]
    gsm_resp = [responses[i].replace(",", "") for i in gsm_idx]
    gsm_ans = [answers[i] for i in gsm_idx]
    gsm_pairs = list(zip(gsm_resp[:sub], gsm_ans[:sub], strict=True))
    mean_len = sum(map(len, responses)) / n
    size = f"{n // 1000}k responses, ~{mean_len:.0f} chars"

    base = [
        Baseline(
            "python loop (re + Fraction)",
            lambda: [py_math_equal(r, a) for r, a in pairs],
            items=len(pairs),
        )
    ]
    math_reward = load_by_path("verl", "utils/reward_score/math_reward.py", "verl_math_reward")
    if math_reward is not None:
        base.append(
            Baseline(
                "verl math_reward.compute_score",
                lambda: [math_reward.compute_score(r, a) for r, a in pairs],
                items=len(pairs),
            )
        )
    else:
        notes.append("verl not installed: verl reward_score baselines skipped")
    if mv_parse is not None and mv_verify is not None:
        parse, verify = mv_parse, mv_verify
        k = min(mv_sample, n, 20 if smoke else mv_sample)
        mv_pairs = pairs[:k]
        base.append(
            Baseline(
                f"math-verify parse+verify ({k} sample)",
                lambda: [verify(parse("$" + a + "$"), parse(r)) for r, a in mv_pairs],
                items=k,
            )
        )
    else:
        notes.append("math-verify not installed: its baseline skipped")
    out = [
        Case(
            GROUP,
            "math_equal (mixed: ####, boxed frac, 'answer is')",
            size,
            n,
            lambda: math_equal(responses, answers),
            base,
            target=">= 1M answers/s",
            throughput=(n / 1e6, "M answers"),
            min_throughput=1.0,
        )
    ]
    s_resp_structured, s_ans_structured = make_structured_batch(n)
    out.append(
        Case(
            GROUP,
            "math_equal structured (sets, intervals, radicals, equations, polynomials)",
            f"{n // 1000}k responses",
            n,
            lambda: math_equal(s_resp_structured, s_ans_structured),
            [],
            throughput=(n / 1e6, "M answers"),
        )
    )
    hostile = hostile_answers()
    out.append(
        Case(
            GROUP,
            "math_equal hostile 1 MB answers (nested \\frac, brackets, digits, powers)",
            f"{len(hostile)} responses of ~1 MB",
            len(hostile),
            lambda: math_equal(hostile, ["1"] * len(hostile)),
            [],
        )
    )
    gsm_base = []
    gsm8k = load_by_path("verl", "utils/reward_score/gsm8k.py", "verl_gsm8k")
    if gsm8k is not None:
        gsm_base.append(
            Baseline(
                "verl gsm8k.compute_score",
                lambda: [gsm8k.compute_score(r, a) for r, a in gsm_pairs],
                items=len(gsm_pairs),
            )
        )
    out.append(
        Case(
            GROUP,
            "math_equal style=gsm8k ('####' rows)",
            f"{len(gsm_resp):,} responses",
            len(gsm_resp),
            lambda: math_equal(gsm_resp, gsm_ans, style="gsm8k"),
            gsm_base,
            throughput=(len(gsm_resp) / 1e6, "M answers"),
        )
    )
    out.append(
        Case(
            GROUP,
            "extract_answer gsm8k",
            size,
            n,
            lambda: extract_answer(responses, "gsm8k"),
            [
                Baseline(
                    "python re.findall loop",
                    lambda: [HASHES.findall(r)[-1:] for r in responses],
                )
            ],
        )
    )
    s_resp, _ = make_batch(n, seed=1)
    preds = [r[:80] for r in s_resp]
    refs = [r[40:120] for r in s_resp]
    sq = list(zip(preds[:sub], refs[:sub], strict=True))
    out.append(
        Case(
            GROUP,
            "normalized_exact_match (SQuAD)",
            f"{n // 1000}k pairs, 80 chars",
            n,
            lambda: normalized_exact_match(preds, refs),
            [
                Baseline(
                    "python SQuAD normalize loop",
                    lambda: [squad_normalize(p) == squad_normalize(r) for p, r in sq],
                    items=len(sq),
                )
            ],
        )
    )
    out.append(
        Case(
            GROUP,
            "word_f1 (SQuAD)",
            f"{n // 1000}k pairs, 80 chars",
            n,
            lambda: word_f1(preds, refs),
            [
                Baseline(
                    "python SQuAD f1 loop",
                    lambda: [squad_f1(p, r) for p, r in sq],
                    items=len(sq),
                )
            ],
        )
    )
    pattern = r"#### -?[0-9][0-9,]*$"
    compiled = re.compile(pattern)
    out.append(
        Case(
            GROUP,
            "regex_match",
            size,
            n,
            lambda: regex_match(responses, pattern),
            [
                Baseline(
                    "python re.search loop",
                    lambda: [compiled.search(r) is not None for r in responses],
                )
            ],
        )
    )
    return out, notes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--mv-sample", type=int, default=200)
    args = ap.parse_args()
    found, notes = cases(args.smoke, args.mv_sample)
    print_results(run_cases(found, max(5, args.runs)), "text rewards")
    for note in notes:
        print(f"note: {note}")


if __name__ == "__main__":
    main()
