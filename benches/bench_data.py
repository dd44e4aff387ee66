"""Token rewards, dataset validation and ragged conversions against NumPy, Python and the
memory ceiling.

Part of the suite (``python benches/run.py``); alone, after ``maturin develop -r``::

    python benches/bench_data.py [--runs 7] [--smoke]

The batch is 100k responses / 6.4M int32 tokens per side (rows of 32..96 tokens); the
memory ceiling is a NumPy copy of both sides' values and offsets.
"""

from __future__ import annotations

import argparse
from collections import Counter

import numpy as np
from harness import Baseline, Case, Ceiling, print_results, run_cases

from orbiter.train import rewards as rw
from orbiter.train.data import RaggedTokens, validate_records, validate_tokens

GROUP = "data"
VOCAB = 50_000


def batch(
    gen: np.random.Generator, rows: int, tokens: int, same: float
) -> tuple[RaggedTokens, RaggedTokens]:
    """``rows`` responses of ``tokens`` int32 tokens in all (rows of 32..96), and
    references of which a share ``same`` equal the response; the rest differ in one token."""
    lengths = gen.integers(32, 97, size=rows)
    diff = tokens - int(lengths.sum())  # spread the difference: exactly `tokens` in all
    lengths[: abs(diff)] += np.sign(diff)
    offsets = np.zeros(rows + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    values = gen.integers(0, VOCAB, size=tokens, dtype=np.int32)
    ref_values = values.copy()
    differ = gen.random(rows) >= same
    pos = offsets[:-1] + (gen.random(rows) * lengths).astype(np.int64)
    ref_values[pos[differ]] = (ref_values[pos[differ]] + 1) % VOCAB
    return RaggedTokens(values, offsets), RaggedTokens(ref_values, offsets.copy())


def np_exact_match(a: RaggedTokens, b: RaggedTokens) -> np.ndarray:
    """Exact match vectorised in NumPy: equal lengths and no differing token per row."""
    la, lb = np.diff(a.offsets), np.diff(b.offsets)
    out = np.zeros(len(la), np.float32)
    if np.array_equal(a.offsets, b.offsets):  # the common case: compare the buffers at once
        ne = (a.values != b.values).astype(np.int32)
        bad = np.add.reduceat(ne, a.offsets[:-1]) if len(ne) else np.zeros(len(la))
        bad[la == 0] = 0
        out[:] = bad == 0
        return out
    for i in np.flatnonzero(la == lb):  # different layouts: row by row
        out[i] = np.array_equal(
            a.values[a.offsets[i] : a.offsets[i + 1]], b.values[b.offsets[i] : b.offsets[i + 1]]
        )
    return out


def py_token_f1(a: list[list[int]], b: list[list[int]]) -> list[float]:
    """Bag-of-tokens F1 with collections.Counter (SQuAD's F1 over ids)."""
    out = []
    for x, y in zip(a, b, strict=True):
        common = sum((Counter(x) & Counter(y)).values())
        if common == 0:
            out.append(0.0)
            continue
        p, r = common / len(x), common / len(y)
        out.append(2 * p * r / (p + r))
    return out


def cases(smoke: bool = False) -> tuple[list[Case], list[str]]:
    rows, tokens = (2_000, 128_000) if smoke else (100_000, 6_400_000)
    n_rec = 20_000 if smoke else 1_000_000
    gen = np.random.default_rng(0)
    resp, refs = batch(gen, rows, tokens, same=0.5)
    nbytes = 2 * (resp.values.nbytes + resp.offsets.nbytes)
    size = f"{rows // 1000}k rows, {tokens / 1e6:g}M int32 tokens"
    sample = min(rows, 10_000)
    rows_a = [resp.values[resp.offsets[i] : resp.offsets[i + 1]].tolist() for i in range(sample)]
    rows_b = [refs.values[refs.offsets[i] : refs.offsets[i + 1]].tolist() for i in range(sample)]
    # References drawn independently of the responses: no shared prefix or suffix to trim,
    # every row goes through the full multiset count.
    unrelated = RaggedTokens(
        gen.integers(0, VOCAB, size=len(refs.values), dtype=np.int32), refs.offsets.copy()
    )
    rows_u = [
        unrelated.values[unrelated.offsets[i] : unrelated.offsets[i + 1]].tolist()
        for i in range(sample)
    ]

    def py_exact() -> list[float]:
        v, o, w = resp.values.tolist(), resp.offsets.tolist(), refs.values.tolist()
        return [float(v[o[i] : o[i + 1]] == w[o[i] : o[i + 1]]) for i in range(rows)]

    out = [
        Case(
            GROUP,
            "exact_match (50% equal)",
            size,
            rows,
            lambda: rw.exact_match(resp, refs),
            [
                Baseline("python loop (tolist + slices)", py_exact),
                Baseline("numpy (!= + add.reduceat)", lambda: np_exact_match(resp, refs)),
            ],
            nbytes=nbytes,
            target=">= 0.5 of copy",
            target_check=("numpy copy (memory ceiling)", 0.5),
        ),
        Case(
            GROUP,
            "token_f1 (50% equal)",
            size,
            rows,
            lambda: rw.token_f1(resp, refs),
            [
                Baseline(
                    "python Counter loop",
                    lambda: py_token_f1(rows_a, rows_b),
                    items=sample,
                )
            ],
            nbytes=nbytes,
            target=">= 0.5 of copy",
            target_check=("numpy copy (memory ceiling)", 0.5),
        ),
        Case(
            GROUP,
            "token_f1 (unrelated rows)",
            size,
            rows,
            lambda: rw.token_f1(resp, unrelated),
            [
                Baseline(
                    "python Counter loop",
                    lambda: py_token_f1(rows_a, rows_u),
                    items=sample,
                )
            ],
            nbytes=nbytes,
        ),
        Case(
            GROUP,
            "prefix_match (50% equal)",
            size,
            rows,
            lambda: rw.prefix_match(resp, refs),
            nbytes=nbytes,
        ),
        Case(
            GROUP,
            "contains (50% equal)",
            size,
            rows,
            lambda: rw.contains(resp, refs),
            nbytes=nbytes,
        ),
        Case(
            GROUP,
            "repetition_penalty n=3",
            size,
            rows,
            lambda: rw.repetition_penalty(resp, n=3),
            nbytes=nbytes // 2,
        ),
        Case(
            GROUP,
            "length_penalty dapo",
            size,
            rows,
            lambda: rw.length_penalty(resp, kind="dapo", max_len=90, cache_len=20),
            [Baseline("numpy (diff + where)", lambda: _np_dapo(resp.offsets, 90, 20))],
            nbytes=resp.offsets.nbytes,
        ),
    ]
    pipe = rw.RewardPipeline(
        [("exact_match", 1.0), ("token_f1", 0.5), ("length_penalty", 0.1, {"target": 64})],
        clip=(-1.0, 1.0),
    )
    out.append(
        Case(
            GROUP,
            "RewardPipeline (3 components)",
            size,
            rows,
            lambda: pipe(resp, refs),
            nbytes=nbytes,
        )
    )
    vals = resp.values

    def np_validate() -> bool:
        lengths = np.diff(resp.offsets)
        return bool(((vals < 0) | (vals >= VOCAB)).any() or (lengths > 4096).any())

    py_vals = vals[: min(len(vals), 640_000)].tolist()

    def py_validate() -> int:
        return sum(1 for v in py_vals if not 0 <= v < VOCAB)

    out.append(
        Case(
            GROUP,
            "validate_tokens int32",
            size,
            len(vals),
            lambda: validate_tokens(resp, vocab_size=VOCAB, max_len=4096),
            [
                Baseline("numpy range + length check", np_validate),
                Baseline("python loop", py_validate, items=len(py_vals)),
            ],
            nbytes=vals.nbytes + resp.offsets.nbytes,
            target=">= 1 GB/s",
            throughput=(vals.nbytes / 1e9, "GB"),
            min_throughput=1.0,
        )
    )
    ids, mask = resp.to_padded()

    def np_to_padded() -> tuple[np.ndarray, np.ndarray]:
        lengths = np.diff(resp.offsets)
        width = int(lengths.max())
        m = np.arange(width)[None, :] < lengths[:, None]
        out_ids = np.zeros((rows, width), np.int32)
        out_ids[m] = vals
        return out_ids, m

    out.append(
        Case(
            GROUP,
            "to_padded (right)",
            f"{size} -> {ids.shape}",
            rows,
            resp.to_padded,
            [Baseline("numpy (mask + boolean assign)", np_to_padded)],
            nbytes=vals.nbytes,
        )
    )
    out.append(
        Case(
            GROUP,
            "from_padded",
            f"{ids.shape} -> {size}",
            rows,
            lambda: RaggedTokens.from_padded(ids, mask),
            [Baseline("numpy (boolean index + cumsum)", lambda: _np_from_padded(ids, mask))],
            nbytes=ids.nbytes + mask.nbytes,
        )
    )
    records = [{"input": f"{i}+{i + 1}=", "answer": str(2 * i + 1), "id": i} for i in range(n_rec)]

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

    out.append(
        Case(
            GROUP,
            "validate_records (2 str keys)",
            f"{n_rec // 1000}k records",
            n_rec,
            lambda: validate_records(records),
            [Baseline("python loop (isinstance)", py_records)],
        )
    )
    return out, ["token rewards: no torch baseline (torch has no ragged segment ops)"]


def _np_dapo(offsets: np.ndarray, max_len: int, cache_len: int) -> np.ndarray:
    lengths = np.diff(offsets)
    start = max_len - cache_len
    pen = np.where(lengths <= start, 0.0, (start - lengths) / cache_len)
    return np.where(lengths > max_len, -1.0, pen).astype(np.float32)


def _np_from_padded(ids: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    m = mask.astype(bool)
    offsets = np.zeros(len(ids) + 1, np.int64)
    np.cumsum(m.sum(axis=1), out=offsets[1:])
    return ids[m], offsets


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args()
    found, notes = cases(args.smoke)
    results = run_cases(found, max(5, args.runs), Ceiling())
    print_results(results, "data and token rewards")
    for note in notes:
        print(f"note: {note}")


if __name__ == "__main__":
    main()
