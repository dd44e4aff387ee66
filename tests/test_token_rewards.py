"""Token rewards against plain Python references (and SQuAD's / DAPO's formulas)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orbiter.train import TrainerError
from orbiter.train import rewards as rw
from orbiter.train.data import RaggedTokens

DTYPES = [np.int32, np.int64]

# A small alphabet so that matches, prefixes and repeats actually happen.
row_st = st.lists(st.integers(0, 4), max_size=10)


@st.composite
def pair_st(draw):
    n = draw(st.integers(1, 20))
    resp = draw(st.lists(row_st, min_size=n, max_size=n))
    # Some references are copies / prefixes / slices of the response, the rest random.
    refs = []
    for r in resp:
        mode = draw(st.sampled_from(["copy", "prefix", "slice", "random"]))
        if mode == "copy":
            refs.append(list(r))
        elif mode == "prefix":
            refs.append(r[: draw(st.integers(0, len(r)))])
        elif mode == "slice":
            a = draw(st.integers(0, len(r)))
            refs.append(r[a : draw(st.integers(a, len(r)))])
        else:
            refs.append(draw(row_st))
    return resp, refs


def make(rows, dtype=np.int64):
    return RaggedTokens.from_sequences(rows, dtype=dtype)


# ---------------------------------------------------------------- references


def ref_exact(a, b):
    return float(a == b)


def ref_prefix(a, b):
    return float(a[: len(b)] == b)


def ref_contains(a, b):
    return float(any(a[i : i + len(b)] == b for i in range(len(a) - len(b) + 1)))


def squad_f1(prediction_tokens, ground_truth_tokens):
    """SQuAD v1.1's f1_score, over token ids instead of normalised words."""
    if len(prediction_tokens) == 0 or len(ground_truth_tokens) == 0:
        return float(prediction_tokens == ground_truth_tokens)
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0.0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    return (2 * precision * recall) / (precision + recall)


def ref_repetition(row, n, max_penalty):
    if len(row) < n:
        return 0.0
    grams = [tuple(row[i : i + n]) for i in range(len(row) - n + 1)]
    return max_penalty * (1 - len(set(grams)) / len(grams))


def verl_dapo_overlong(length, max_resp_len, buffer_len, factor):
    """verl DAPORewardManager's overlong reward (responses truncated at max_resp_len)."""
    expected_len = max_resp_len - buffer_len
    exceed_len = length - expected_len
    return min(-exceed_len / buffer_len * factor, 0)


def ref_dapo_paper(length, max_len, cache_len):
    if length <= max_len - cache_len:
        return 0.0
    if length <= max_len:
        return (max_len - cache_len - length) / cache_len
    return -1.0


PAIR_REFS = [
    (rw.exact_match, ref_exact),
    (rw.prefix_match, ref_prefix),
    (rw.contains, ref_contains),
    (rw.token_f1, squad_f1),
]


@pytest.mark.parametrize(("fn", "ref"), PAIR_REFS, ids=lambda x: getattr(x, "__name__", ""))
@given(pair=pair_st(), dtype=st.sampled_from(DTYPES))
def test_pair_rewards_match_reference(fn, ref, pair, dtype):
    resp, refs = pair
    got = fn(make(resp, dtype), make(refs, dtype))
    assert got.dtype == np.float32 and got.shape == (len(resp),)
    want = np.array([ref(a, b) for a, b in zip(resp, refs, strict=True)], dtype=np.float32)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=0)


@pytest.mark.parametrize(("fn", "ref"), PAIR_REFS, ids=lambda x: getattr(x, "__name__", ""))
def test_pair_rewards_parallel_path(fn, ref):
    """Above the rayon threshold (16k rows), with long rows for KMP and the hash table."""
    gen = np.random.default_rng(1)
    n = 20_000
    resp = [gen.integers(0, 6, size=gen.integers(0, 40)).tolist() for _ in range(n)]
    refs = []
    for i, r in enumerate(resp):
        k = i % 3
        refs.append(r if k == 0 else r[1:7] if k == 1 else gen.integers(0, 6, size=5).tolist())
    for dtype in DTYPES:
        got = fn(make(resp, dtype), make(refs, dtype))
        want = np.array([ref(a, b) for a, b in zip(resp, refs, strict=True)], dtype=np.float32)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=0)


def test_token_f1_large_vocab_rows():
    gen = np.random.default_rng(2)
    resp = [gen.integers(-(2**31), 2**31 - 1, size=300).tolist() for _ in range(50)]
    refs = [r[:100] + gen.integers(0, 5, size=400).tolist() for r in resp]
    got = rw.token_f1(make(resp), make(refs))
    want = [squad_f1(a, b) for a, b in zip(resp, refs, strict=True)]
    np.testing.assert_allclose(got, want, rtol=1e-6)


@given(
    st.lists(row_st, min_size=1, max_size=20),
    st.sampled_from(DTYPES),
    st.integers(1, 4),
    st.sampled_from([-1.0, 1.0, -0.5]),
)
def test_repetition_penalty_matches_reference(rows, dtype, n, max_penalty):
    got = rw.repetition_penalty(make(rows, dtype), n=n, max_penalty=max_penalty)
    want = [ref_repetition(r, n, max_penalty) for r in rows]
    np.testing.assert_allclose(got, np.array(want, np.float32), rtol=1e-6, atol=1e-7)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(st.integers(0, 2), min_size=0, max_size=300),
        min_size=1,
        max_size=8,
    ),
    st.integers(30, 130),
)
def test_repetition_penalty_long_ngrams_match_reference(rows, n):
    """Long n-grams (counted by rank doubling from n = 32) over a 3-token alphabet."""
    got = rw.repetition_penalty(make(rows, np.int32), n=n)
    want = [ref_repetition(r, n, 1.0) for r in rows]
    np.testing.assert_allclose(got, np.array(want, np.float32), rtol=1e-6, atol=1e-7)


# Ids that take every way of counting: a few small ones (rows that repeat), int32
# extremes, and for int64 ids past 32 bits and negative ones.
small_ids = st.integers(0, 3)
int32_ids = st.one_of(small_ids, st.integers(-(2**31), 2**31 - 1))
int64_ids = st.one_of(small_ids, st.integers(-(2**63), 2**63 - 1), st.just(2**32 + 1))


@settings(max_examples=150)
@given(
    st.data(),
    st.sampled_from(DTYPES),
    st.integers(1, 9),
)
def test_repetition_penalty_of_any_ids_matches_reference(data, dtype, n):
    ids = int32_ids if dtype == np.int32 else int64_ids
    rows = data.draw(st.lists(st.lists(ids, max_size=60), min_size=1, max_size=12))
    got = rw.repetition_penalty(make(rows, dtype), n=n, max_penalty=1.0)
    want = [ref_repetition(r, n, 1.0) for r in rows]
    np.testing.assert_allclose(got, np.array(want, np.float32), rtol=1e-6, atol=1e-7)


def test_repetition_penalty_parallel_path_with_rows_changing_kind():
    """Above the rayon threshold; runs of repetitive rows (counted in one pass) between
    rows of mostly distinct ids (counted in two), for each way of keying n-grams."""
    gen = np.random.default_rng(4)
    rows = []
    for i in range(20_000):
        length = int(gen.integers(0, 50))
        alphabet = 3 if (i // 40) % 2 else 50_000
        rows.append(gen.integers(0, alphabet, size=length))
    for dtype, shift in [(np.int32, 0), (np.int64, 0), (np.int64, 2**40)]:
        batch = make([(r + shift).astype(dtype) for r in rows], dtype)
        for n in (1, 2, 3, 4, 6):
            got = rw.repetition_penalty(batch, n=n, max_penalty=1.0)
            want = [ref_repetition(r.tolist(), n, 1.0) for r in rows]
            np.testing.assert_allclose(got, np.array(want, np.float32), rtol=1e-6, atol=1e-7)


@given(
    st.lists(st.integers(0, 30), min_size=1, max_size=30),
    st.integers(1, 20),
    st.integers(1, 20),
    st.sampled_from([1.0, 0.5]),
)
def test_dapo_length_penalty(lengths, max_len, cache_len, factor):
    cache_len = min(cache_len, max_len)
    rows = [[1] * k for k in lengths]
    got = rw.length_penalty(
        make(rows), kind="dapo", max_len=max_len, cache_len=cache_len, penalty_factor=factor
    )
    want = [factor * ref_dapo_paper(k, max_len, cache_len) for k in lengths]
    np.testing.assert_allclose(got, np.array(want, np.float32), rtol=1e-6, atol=1e-7)
    # verl's DAPO reward manager agrees wherever it applies (L <= max_len).
    for k, g in zip(lengths, got, strict=True):
        if k <= max_len:
            assert g == pytest.approx(verl_dapo_overlong(k, max_len, cache_len, factor), abs=1e-6)


@given(
    st.lists(st.integers(0, 30), min_size=1, max_size=30),
    st.integers(0, 20),
    st.one_of(st.none(), st.floats(0.5, 10)),
)
def test_linear_length_penalty(lengths, target, scale):
    got = rw.length_penalty(make([[0] * k for k in lengths]), target=target, scale=scale)
    s = scale if scale is not None else max(target, 1)
    want = [-abs(k - target) / s for k in lengths]
    np.testing.assert_allclose(got, np.array(want, np.float32), rtol=1e-6, atol=1e-7)


@given(
    st.lists(row_st, min_size=1, max_size=20),
    st.lists(st.integers(0, 4), min_size=1, max_size=3),
    st.sampled_from(DTYPES),
)
def test_stop_token_check(rows, stops, dtype):
    got = rw.stop_token_check(make(rows, dtype), stops)
    want = [float(bool(r) and r[-1] in stops) for r in rows]
    np.testing.assert_array_equal(got, np.array(want, np.float32))
    single = rw.stop_token_check(make(rows, dtype), stops[0])
    np.testing.assert_array_equal(single, [float(bool(r) and r[-1] == stops[0]) for r in rows])


# ---------------------------------------------------------------- bad input


def check_error(excinfo, kind, *needles):
    assert isinstance(excinfo.value, TrainerError) and isinstance(excinfo.value, kind)
    for n in needles:
        assert n in str(excinfo.value), (n, str(excinfo.value))


@pytest.mark.parametrize("fn", [f for f, _ in PAIR_REFS], ids=lambda f: f.__name__)
def test_pair_bad_input(fn):
    a = make([[1, 2], [3]])
    with pytest.raises(ValueError) as e:
        fn(a, make([[1]]))
    check_error(e, ValueError, "references", "1 rows", "2")
    with pytest.raises(ValueError) as e:
        fn(make([]), make([]))
    check_error(e, ValueError, "responses", "empty")
    with pytest.raises(TypeError) as e:
        fn(a, make([[1, 2], [3]], np.int32))
    check_error(e, TypeError, "references.values", "int32")
    with pytest.raises(TypeError) as e:
        fn([[1, 2], [3]], a)
    check_error(e, TypeError, "responses", "RaggedTokens")
    with pytest.raises(TypeError) as e:
        fn(a, None)
    check_error(e, TypeError, "references")
    # The offsets cannot be corrupted after construction; values resized under the batch
    # are refused by name.
    values = np.array([1, 2, 3], dtype=np.int64)
    bad = RaggedTokens(values, np.array([0, 2, 3], dtype=np.int64))
    with pytest.raises(ValueError, match="read-only"):
        bad.offsets[0] = 1
    values.resize(2, refcheck=False)
    with pytest.raises(ValueError) as e:
        fn(a, bad)
    check_error(e, ValueError, "references.offsets", "resized")


def test_single_rewards_bad_input():
    a = make([[1, 2], [3]])
    cases = [
        (lambda: rw.length_penalty(a), ValueError, "target"),
        (lambda: rw.length_penalty(a, target=-1), ValueError, "target"),
        (lambda: rw.length_penalty(a, target=3, scale=0), ValueError, "scale"),
        (lambda: rw.length_penalty(a, kind="dapo", max_len=4), ValueError, "cache_len"),
        (lambda: rw.length_penalty(a, kind="dapo", cache_len=4), ValueError, "max_len"),
        (
            lambda: rw.length_penalty(a, kind="dapo", max_len=4, cache_len=5),
            ValueError,
            "cache_len",
        ),
        (lambda: rw.length_penalty(a, kind="dapo", max_len=0, cache_len=0), ValueError, "max_len"),
        (
            lambda: rw.length_penalty(
                a, kind="dapo", max_len=4, cache_len=2, penalty_factor=float("nan")
            ),
            ValueError,
            "penalty_factor",
        ),
        (lambda: rw.length_penalty(a, kind="cubic", target=1), ValueError, "kind"),  # type: ignore[arg-type]
        (lambda: rw.length_penalty(make([]), target=1), ValueError, "responses"),
        (lambda: rw.repetition_penalty(a, n=0), ValueError, "n"),
        (
            lambda: rw.repetition_penalty(a, n=2, max_penalty=float("inf")),
            ValueError,
            "max_penalty",
        ),
        (lambda: rw.repetition_penalty(make([])), ValueError, "responses"),
        (lambda: rw.stop_token_check(a, []), ValueError, "stop_ids"),
        (lambda: rw.stop_token_check(a, [1.5]), TypeError, "stop_ids"),
        (lambda: rw.stop_token_check(make([]), [1]), ValueError, "responses"),
        (lambda: rw.stop_token_check("abc", [1]), TypeError, "responses"),  # type: ignore[arg-type]
    ]
    for call, kind, needle in cases:
        with pytest.raises(kind) as e:
            call()
        check_error(e, kind, needle)


def test_length_penalty_beyond_float32_names_the_row():
    rows = make([[], [0, 0, 0]])
    # Float64 references: row 0's penalty fits float32, row 1's does not.
    assert abs(-abs(3 - 0) / 5e-324) > float(np.finfo(np.float32).max)
    with pytest.raises(ValueError) as e:
        rw.length_penalty(rows, target=0, scale=5e-324)
    check_error(e, ValueError, "responses[1]: the length penalty", "overflows float32 (-inf)")
    with pytest.raises(ValueError) as e:
        rw.length_penalty(rows, target=1e308, scale=1.0)
    check_error(e, ValueError, "responses[0]:", "overflows float32")
    with pytest.raises(ValueError) as e:
        rw.length_penalty(rows, kind="dapo", max_len=1, cache_len=1, penalty_factor=1e300)
    check_error(e, ValueError, "responses[1]:", "times penalty_factor")
    # Near the limit but within it: the float64 penalty, rounded once.
    got = rw.length_penalty(rows, target=3, scale=1e-38)
    np.testing.assert_array_equal(got, np.array([-3 / 1e-38, 0.0], np.float32))
    got = rw.length_penalty(rows, target=1e308)  # scale defaults to the target
    np.testing.assert_allclose(got, [-1.0, -(1e308 - 3) / 1e308])
