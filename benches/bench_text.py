"""Text reward throughput: ours against the field's implementations, in one process.

Run after a release build::

    pip install -e . --no-deps --config-settings=build-args=--release
    python benches/bench_text.py [--rows 100000] [--repeat 7]

Prints the median of ``--repeat`` timed runs (after one warm-up) for each function and the
ratios. Baselines: verl ``reward_score.gsm8k.compute_score`` and ``math_reward.compute_score``
(loaded by path, if verl is installed), math-verify ``parse`` + ``verify`` (on a small sample,
per answer), and plain Python loops (``re`` + ``fractions``) doing the same work.
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import random
import re
import statistics
import string
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from types import ModuleType
from typing import Any

try:
    from math_verify import parse as mv_parse
    from math_verify import verify as mv_verify
except ImportError:  # optional baseline
    mv_parse = mv_verify = None

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


def timeit(fn: Callable[[], Any], repeat: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def load_by_path(package: str, relative: str, name: str) -> ModuleType | None:
    spec = importlib.util.find_spec(package)
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


# ---------------------------------------------------------------- main


class Report:
    """Timings and rates, printed as they come."""

    def __init__(self, repeat: int) -> None:
        self.repeat = repeat
        self.rate: dict[str, float] = {}

    def run(self, name: str, rows: int, fn: Callable[[], Any], repeat: int | None = None) -> None:
        seconds = timeit(fn, repeat or self.repeat)
        self.rate[name] = rows / seconds
        print(f"{name:<44} {seconds * 1e3:9.2f} ms  {rows / seconds / 1e6:8.3f} M/s")

    def ratio(self, ours: str, theirs: str) -> float:
        return self.rate[ours] / self.rate[theirs]


def bench_math(rep: Report, n: int, mv_sample: int) -> None:
    responses, answers = make_batch(n)
    gsm_idx = [i for i, r in enumerate(responses) if "####" in r]
    gsm_resp = [responses[i].replace(",", "") for i in gsm_idx]
    gsm_ans = [answers[i] for i in gsm_idx]
    mean_len = sum(map(len, responses)) / n
    print(f"batch: {n} responses, mean {mean_len:.0f} chars; {len(gsm_idx)} in '####' form")
    ours, ours_gsm = "ours math_equal (mixed batch)", "ours math_equal style=gsm8k ('####' rows)"
    rep.run(ours, n, lambda: math_equal(responses, answers))
    rep.run(ours_gsm, len(gsm_resp), lambda: math_equal(gsm_resp, gsm_ans, style="gsm8k"))
    rep.run("ours extract_answer gsm8k", n, lambda: extract_answer(responses, "gsm8k"))

    sub = min(n, 20_000)
    pairs = list(zip(responses[:sub], answers[:sub], strict=True))
    gsm_pairs = list(zip(gsm_resp, gsm_ans, strict=True))
    baselines = ["python loop (re + Fraction) math_equal"]
    rep.run(baselines[0], sub, lambda: [py_math_equal(r, a) for r, a in pairs])
    gsm8k = load_by_path("verl", "utils/reward_score/gsm8k.py", "verl_gsm8k")
    if gsm8k is not None:
        baselines.append("verl gsm8k.compute_score ('####' rows)")
        rep.run(
            baselines[-1], len(gsm_pairs), lambda: [gsm8k.compute_score(r, a) for r, a in gsm_pairs]
        )
    math_reward = load_by_path("verl", "utils/reward_score/math_reward.py", "verl_math_reward")
    if math_reward is not None:
        baselines.append("verl math_reward.compute_score")
        rep.run(baselines[-1], sub, lambda: [math_reward.compute_score(r, a) for r, a in pairs])
    if mv_parse is not None and mv_verify is not None:
        parse, verify = mv_parse, mv_verify
        k = min(mv_sample, n)
        baselines.append(f"math-verify parse+verify ({k} sample)")
        rep.run(
            baselines[-1],
            k,
            lambda: [verify(parse("$" + a + "$"), parse(r)) for r, a in pairs[:k]],
            max(1, rep.repeat // 3),
        )
    else:
        print("math-verify not installed: skipped")

    print("\nratios (ours math_equal on the mixed batch / baseline, answers per second):")
    for name in baselines:
        print(f"  vs {name:<42} {rep.ratio(ours, name):10.1f}x")
    if gsm8k is not None:
        g = rep.ratio(ours_gsm, "verl gsm8k.compute_score ('####' rows)")
        print(f"  '####' rows only, style='gsm8k' vs verl gsm8k: {g:.1f}x")


def bench_squad_regex(rep: Report, n: int) -> None:
    responses, _ = make_batch(n, seed=1)
    preds = [r[:80] for r in responses]
    refs = [r[40:120] for r in responses]
    sub = min(n, 20_000)
    pairs = list(zip(preds[:sub], refs[:sub], strict=True))
    print()
    rep.run("ours normalized_exact_match", n, lambda: normalized_exact_match(preds, refs))
    rep.run(
        "python SQuAD exact match loop",
        sub,
        lambda: [squad_normalize(p) == squad_normalize(r) for p, r in pairs],
    )
    rep.run("ours word_f1", n, lambda: word_f1(preds, refs))
    rep.run("python SQuAD word_f1 loop", sub, lambda: [squad_f1(p, r) for p, r in pairs])
    pattern = r"#### -?[0-9][0-9,]*$"
    compiled = re.compile(pattern)
    rep.run("ours regex_match", n, lambda: regex_match(responses, pattern))
    rep.run("python re.search loop", n, lambda: [compiled.search(r) is not None for r in responses])
    em = rep.ratio("ours normalized_exact_match", "python SQuAD exact match loop")
    f1 = rep.ratio("ours word_f1", "python SQuAD word_f1 loop")
    rx = rep.ratio("ours regex_match", "python re.search loop")
    print(
        f"  exact match vs python: {em:.1f}x; word_f1 vs python: {f1:.1f}x; regex vs re: {rx:.1f}x"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--mv-sample", type=int, default=200)
    args = ap.parse_args()
    rep = Report(args.repeat)
    bench_math(rep, args.rows, args.mv_sample)
    bench_squad_regex(rep, args.rows)


if __name__ == "__main__":
    main()
