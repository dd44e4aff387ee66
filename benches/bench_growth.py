"""Growth: how our kernels' time grows with rows (1k -> 1M) and with threads (1, 2).

Part of the suite (``python benches/run.py``); alone, after ``maturin develop -r``::

    python benches/bench_growth.py [--runs 5] [--smoke]

The kernels run on rayon's global pool above a size threshold (16k rows / elements), so
the thread count is fixed when the pool starts: each thread count runs in a fresh
subprocess with ``RAYON_NUM_THREADS`` set, which prints its medians as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from harness import Case, Ceiling, Result, fmt_s, median_s, print_results, run_cases

from orbiter.train import advantages as adv
from orbiter.train import rewards as rw
from orbiter.train.data import RaggedTokens, validate_tokens

GROUP = "growth"
HERE = Path(__file__).resolve().parent
ROW_TOKENS = 64
VOCAB = 50_000


def _tokens(rows: int, seed: int) -> RaggedTokens:
    gen = np.random.default_rng(seed)
    offsets = np.arange(rows + 1, dtype=np.int64) * ROW_TOKENS
    return RaggedTokens(gen.integers(0, VOCAB, rows * ROW_TOKENS, dtype=np.int32), offsets)


def kernels(rows: int) -> list[tuple[str, Any, int]]:
    """(name, zero-argument call, bytes read) for each kernel at ``rows`` rows."""
    from bench_text import make_batch

    gen = np.random.default_rng(0)
    scores = gen.standard_normal(rows).astype(np.float32)
    ids = np.repeat(np.arange(rows // 8 + 1, dtype=np.int64), 8)[:rows]
    gen.shuffle(ids)
    resp = _tokens(rows, 1)
    ref_values = resp.values.copy()
    ref_values[::97] += 1
    refs = RaggedTokens(ref_values, resp.offsets.copy())
    n_text = min(rows, 1_000_000)
    responses, answers = make_batch(n_text)
    pair_bytes = 2 * (resp.values.nbytes + resp.offsets.nbytes)
    return [
        ("grpo (per response)", lambda: adv.grpo(scores, ids), scores.nbytes + ids.nbytes),
        ("exact_match (64 tokens/row)", lambda: rw.exact_match(resp, refs), pair_bytes),
        ("token_f1 (64 tokens/row)", lambda: rw.token_f1(resp, refs), pair_bytes),
        (
            "validate_tokens (64 tokens/row)",
            lambda: validate_tokens(resp, vocab_size=VOCAB),
            resp.values.nbytes + resp.offsets.nbytes,
        ),
        ("math_equal", lambda: rw.math_equal(responses, answers), 0),
    ]


def row_sizes(smoke: bool) -> list[int]:
    return [1_000, 10_000] if smoke else [1_000, 10_000, 100_000, 1_000_000]


def cases(smoke: bool = False) -> tuple[list[Case], list[str]]:
    """One case per kernel and row count (ours and the memory ceiling)."""
    out = []
    for rows in row_sizes(smoke):
        for name, fn, nbytes in kernels(rows):
            out.append(Case(GROUP, name, f"{rows:,} rows", rows, fn, nbytes=nbytes or None))
    return out, []


def thread_rows(smoke: bool) -> int:
    return 20_000 if smoke else 1_000_000


def worker(rows: int, runs: int) -> dict[str, float]:
    """Medians (seconds) of every kernel at ``rows`` rows, in this process's rayon pool."""
    return {name: median_s(fn, runs) for name, fn, _ in kernels(rows)}


def threads_sweep(smoke: bool, runs: int, counts: Sequence[int] = (1, 2)) -> dict[str, Any]:
    """Each thread count in a fresh interpreter with ``RAYON_NUM_THREADS``."""
    rows = thread_rows(smoke)
    by_threads: dict[str, dict[str, float]] = {}
    for t in counts:
        env = os.environ | {"RAYON_NUM_THREADS": str(t)}
        cmd = [sys.executable, str(HERE / "bench_growth.py"), "--worker", str(rows)]
        cmd += ["--runs", str(runs)]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
        by_threads[str(t)] = json.loads(done.stdout.strip().splitlines()[-1])
    return {"rows": rows, "seconds": by_threads}


def describe_threads(sweep: dict[str, Any]) -> str:
    secs = sweep["seconds"]
    counts = list(secs)
    head = "| kernel | " + " | ".join(f"{c} thread(s)" for c in counts) + " | speed-up |"
    lines = [f"rows: {sweep['rows']:,}", "", head, "|---|" + "---:|" * (len(counts) + 1)]
    for name in secs[counts[0]]:
        cells = [fmt_s(secs[c][name]) for c in counts]
        speed = secs[counts[0]][name] / secs[counts[-1]][name]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {speed:.2f}x |")
    return "\n".join(lines)


def growth_series(results: Sequence[Result]) -> dict[str, list[tuple[int, float]]]:
    series: dict[str, list[tuple[int, float]]] = {}
    for r in results:
        if r.group == GROUP:
            series.setdefault(r.op, []).append((r.rows, r.ours_s))
    return series


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--worker", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    runs = max(5, args.runs)
    if args.worker:
        print(json.dumps(worker(args.worker, runs)))
        return
    found, _ = cases(args.smoke)
    print_results(run_cases(found, runs, Ceiling()), "growth with rows")
    print()
    print(describe_threads(threads_sweep(args.smoke, runs)))


if __name__ == "__main__":
    main()
