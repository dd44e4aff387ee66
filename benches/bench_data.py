"""Benchmarks: token rewards, dataset validation and ragged conversions vs baselines.

Run after a release build::

    maturin develop --release
    python benches/bench_data.py

Every figure is the median of >= 5 runs after a warm-up, measured in this one process;
ratios compare against baselines measured in the same run.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from orbiter.train import rewards as rw
from orbiter.train.data import RaggedTokens, validate_records, validate_tokens

ROWS = 100_000
TOKENS = 6_400_000
VOCAB = 50_000


def bench(fn: Callable[[], Any], repeat: int = 7) -> float:
    """Median seconds of `repeat` runs after one warm-up."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def batch(gen: np.random.Generator, same: float) -> tuple[RaggedTokens, RaggedTokens]:
    """100k responses, 6.4M int32 tokens (rows of 32..96), and references of which a
    share `same` are equal to the response and the rest differ (a changed token or a
    different length)."""
    lengths = gen.integers(32, 97, size=ROWS)
    diff = TOKENS - int(lengths.sum())  # spread the difference: exactly TOKENS in all
    lengths[: abs(diff)] += np.sign(diff)
    offsets = np.zeros(ROWS + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    values = gen.integers(0, VOCAB, size=TOKENS, dtype=np.int32)
    ref_values = values.copy()
    differ = gen.random(ROWS) >= same
    # change one token in every differing row
    pos = offsets[:-1] + (gen.random(ROWS) * lengths).astype(np.int64)
    ref_values[pos[differ]] = (ref_values[pos[differ]] + 1) % VOCAB
    return RaggedTokens(values, offsets), RaggedTokens(ref_values, offsets.copy())


def shuffled(gen: np.random.Generator, tokens: RaggedTokens) -> RaggedTokens:
    """Independent references of the same shape: every row different (worst case)."""
    return RaggedTokens(gen.integers(0, VOCAB, size=TOKENS, dtype=np.int32), tokens.offsets.copy())


def main() -> None:  # noqa: PLR0915 (a flat list of measurements)
    gen = np.random.default_rng(0)
    resp, refs = batch(gen, same=0.5)
    other = shuffled(gen, resp)
    nbytes = 2 * (resp.values.nbytes + resp.offsets.nbytes)
    print(f"batch: {ROWS} rows, {TOKENS} int32 tokens per side ({nbytes / 1e6:.1f} MB both sides)")

    # Baseline: copy of the same bytes (values + offsets of both sides).
    dst = [np.empty_like(a) for a in (resp.values, resp.offsets, refs.values, refs.offsets)]
    src = [resp.values, resp.offsets, refs.values, refs.offsets]

    def copy_all() -> None:
        for d, s in zip(dst, src, strict=True):
            np.copyto(d, s)

    t_copy = bench(copy_all)
    print(f"np.copyto of both sides: {t_copy * 1e3:8.2f} ms  ({nbytes / t_copy / 1e9:.1f} GB/s)")

    def py_loop_exact() -> list[float]:
        v, o, w = resp.values.tolist(), resp.offsets.tolist(), refs.values.tolist()
        return [float(v[o[i] : o[i + 1]] == w[o[i] : o[i + 1]]) for i in range(ROWS)]

    t_py = bench(py_loop_exact, repeat=5)
    print(f"exact_match, Python loop (lists): {t_py * 1e3:8.2f} ms")

    print()
    print(f"{'reward':<34}{'ms':>9}{'x copy throughput':>20}")
    cases: list[tuple[str, Callable[[], Any]]] = [
        ("exact_match (50% equal)", lambda: rw.exact_match(resp, refs)),
        ("exact_match (all differ)", lambda: rw.exact_match(resp, other)),
        ("token_f1 (50% equal)", lambda: rw.token_f1(resp, refs)),
        ("token_f1 (all differ)", lambda: rw.token_f1(resp, other)),
        ("prefix_match (50% equal)", lambda: rw.prefix_match(resp, refs)),
        ("contains (50% equal)", lambda: rw.contains(resp, refs)),
        ("repetition_penalty n=3", lambda: rw.repetition_penalty(resp, n=3)),
        (
            "length_penalty dapo",
            lambda: rw.length_penalty(resp, kind="dapo", max_len=90, cache_len=20),
        ),
        ("stop_token_check", lambda: rw.stop_token_check(resp, [2, 3])),
    ]
    for name, fn in cases:
        t = bench(fn)
        print(f"{name:<34}{t * 1e3:9.2f}{t_copy / t:20.2f}")

    pipe = rw.RewardPipeline(
        [("exact_match", 1.0), ("token_f1", 0.5), ("length_penalty", 0.1, {"target": 64})],
        clip=(-1.0, 1.0),
    )
    t = bench(lambda: pipe(resp, refs))
    print(f"{'pipeline (3 components)':<34}{t * 1e3:9.2f}{t_copy / t:20.2f}")

    print()
    for dtype in (np.int32, np.int64):
        toks = RaggedTokens(resp.values.astype(dtype), resp.offsets)
        nb = toks.values.nbytes
        t = bench(lambda toks=toks: validate_tokens(toks, vocab_size=VOCAB, max_len=4096))
        print(
            f"validate_tokens {np.dtype(dtype).name}: {t * 1e3:8.2f} ms  "
            f"({nb / t / 1e9:.2f} GB/s of token buffer)"
        )
    bad = resp.values.copy()
    bad[::1000] = -1
    bad_t = RaggedTokens(bad, resp.offsets)
    t = bench(lambda: validate_tokens(bad_t, vocab_size=VOCAB))
    print(
        f"validate_tokens int32, 6.4k bad ids: {t * 1e3:8.2f} ms  ({bad.nbytes / t / 1e9:.2f} GB/s)"
    )
    t_np = bench(lambda: bool(((resp.values < 0) | (resp.values >= VOCAB)).any()))
    print(f"NumPy range check only (int32): {t_np * 1e3:8.2f} ms")

    print()
    ids, mask = resp.to_padded()
    t = bench(lambda: resp.to_padded(side="left"))
    print(f"to_padded left -> {ids.shape}: {t * 1e3:8.2f} ms")
    t = bench(lambda: RaggedTokens.from_padded(ids, mask))
    print(f"from_padded {ids.shape}: {t * 1e3:8.2f} ms")

    print()
    n_rec = 1_000_000
    records = [{"input": f"q{i}", "answer": str(i), "id": i} for i in range(n_rec)]

    def py_records() -> int:
        bad = 0
        for r in records:
            if not (
                isinstance(r, dict)
                and isinstance(r.get("input"), str)
                and isinstance(r.get("answer"), str)
            ):
                bad += 1
        return bad

    t = bench(lambda: validate_records(records), repeat=5)
    t_py = bench(py_records, repeat=5)
    print(
        f"validate_records 1M records: {t * 1e3:8.2f} ms  "
        f"(Python loop {t_py * 1e3:.2f} ms, {t_py / t:.1f}x)"
    )
    t = bench(
        lambda: validate_records(
            records, required={"input": str, "answer": str}, optional={"id": int, "meta": dict}
        ),
        repeat=5,
    )
    print(f"validate_records 1M, 2 required + 2 optional keys: {t * 1e3:8.2f} ms")


if __name__ == "__main__":
    main()
