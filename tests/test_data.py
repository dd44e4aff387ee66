"""RaggedTokens, validate_tokens and validate_records against plain NumPy/Python references."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orbiter.train import TrainerError
from orbiter.train.data import (
    DatasetReport,
    RaggedTokens,
    RecordReport,
    validate_records,
    validate_tokens,
)

DTYPES = [np.int32, np.int64]

rows_st = st.lists(st.lists(st.integers(-3, 40), max_size=12), max_size=25)


def make(rows, dtype=np.int64):
    values = np.array([t for r in rows for t in r], dtype=dtype)
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(r) for r in rows])
    return RaggedTokens(values, offsets)


def as_lists(rt):
    return [rt[i].tolist() for i in range(len(rt))]


def ref_pad(rows, pad, side, max_len=None):
    width = max_len if max_len is not None else max((len(r) for r in rows), default=0)
    ids = np.full((len(rows), width), pad, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=bool)
    for b, row in enumerate(rows):
        r = row[:width]
        if side == "right":
            ids[b, : len(r)] = r
            mask[b, : len(r)] = True
        else:
            ids[b, width - len(r) :] = r
            mask[b, width - len(r) :] = True
    return ids, mask


def expect_error(kind, *needles):
    """pytest.raises for a TrainerError that is also `kind`, message containing needles."""

    class _Ctx:
        def __enter__(self):
            self.cm = pytest.raises(kind)
            self.info = self.cm.__enter__()
            return self.info

        def __exit__(self, *exc):
            handled = self.cm.__exit__(*exc)
            assert isinstance(self.info.value, TrainerError), type(self.info.value)
            for n in needles:
                assert n in str(self.info.value), (n, str(self.info.value))
            return handled

    return _Ctx()


# ---------------------------------------------------------------- construction


@given(rows_st, st.sampled_from(DTYPES))
def test_from_sequences_round_trip(rows, dtype):
    rt = RaggedTokens.from_sequences(rows, dtype=dtype)
    assert rt.values.dtype == dtype
    assert len(rt) == len(rows)
    assert as_lists(rt) == rows
    np.testing.assert_array_equal(rt.lengths(), [len(r) for r in rows])
    assert rt.lengths().dtype == np.int64


def test_from_sequences_arrays_keep_int32():
    rt = RaggedTokens.from_sequences([np.array([1, 2], np.int32), np.array([], np.int32)])
    assert rt.values.dtype == np.int32 and as_lists(rt) == [[1, 2], []]
    rt = RaggedTokens.from_sequences([[1, 2], np.array([3], np.int32)])
    assert rt.values.dtype == np.int64
    assert len(RaggedTokens.from_sequences([])) == 0


def test_from_sequences_bad_input():
    with expect_error(ValueError, "sequences[1]", "token 1"):
        RaggedTokens.from_sequences([[1], [2, 2**40]], dtype=np.int32)
    with expect_error(TypeError, "sequences"):
        RaggedTokens.from_sequences([[1.5, 2.0]])
    with expect_error(TypeError, "sequences[1]"):
        RaggedTokens.from_sequences([[1], "ab"])
    with expect_error(TypeError, "sequences[0]"):
        RaggedTokens.from_sequences([np.array([1.0])])
    with expect_error(TypeError, "dtype"):
        RaggedTokens.from_sequences([[1]], dtype=np.int16)  # type: ignore[arg-type]
    for bad in (True, "\ud800", "not a dtype", 1.5, object(), "int16", np.float32):
        for rows in ([[1]], [np.array([1])]):
            with expect_error(TypeError, "dtype: expected int32 or int64"):
                RaggedTokens.from_sequences(rows, dtype=bad)  # type: ignore[arg-type]
    # Rows nested past numpy's 64 dimensions (or Python's stack), next to an array row
    # that sends every row through numpy.
    deep: list = [1]
    for _ in range(64):
        deep = [deep]
    for depth_row in (deep, [deep]):
        with expect_error(TypeError, "sequences[1]", "flat sequence"):
            RaggedTokens.from_sequences([np.array([1]), depth_row])
        with expect_error(TypeError, "sequences[0]"):
            RaggedTokens.from_sequences([depth_row])
    # Lists and tuples go through the core's walk: the row and position at fault are named.
    with expect_error(TypeError, "sequences[1][2]", "expected an int, got float"):
        RaggedTokens.from_sequences([[1], (2, 3, 4.0)])
    with expect_error(TypeError, "sequences[0][1]", "got bool"):
        RaggedTokens.from_sequences([[1, True]])
    with expect_error(TypeError, "sequences[0][0]", "got str"):
        RaggedTokens.from_sequences([["1"]])
    with expect_error(ValueError, "sequences[2][0]", "does not fit int64"):
        RaggedTokens.from_sequences([[], [1], [2**63]])


def test_from_sequences_mixed_row_kinds_agree():
    """Lists, tuples, ranges, numpy ints and arrays give the same batch by either path."""
    rows = [[1, 2], (3,), [], [np.int64(4), np.int32(5)]]
    fast = RaggedTokens.from_sequences(rows)
    general = RaggedTokens.from_sequences([*rows, range(6, 8)])
    assert as_lists(fast) == [[1, 2], [3], [], [4, 5]]
    assert as_lists(general) == [*as_lists(fast), [6, 7]]
    assert fast.values.dtype == general.values.dtype == np.int64


@given(rows_st, st.sampled_from(DTYPES), st.sampled_from(["left", "right"]), st.integers(-5, 5))
def test_padded_round_trip(rows, dtype, side, pad):
    rt = make(rows, dtype)
    ids, mask = rt.to_padded(pad_id=pad, side=side)
    want_ids, want_mask = ref_pad(rows, pad, side)
    assert ids.dtype == dtype and mask.dtype == np.bool_
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_array_equal(mask, want_mask)
    back = RaggedTokens.from_padded(ids, mask)
    assert as_lists(back) == rows
    back = RaggedTokens.from_padded(ids, mask.astype(np.int64))
    assert as_lists(back) == rows


@given(rows_st, st.sampled_from(["left", "right"]), st.integers(0, 6))
def test_to_padded_max_len_truncates(rows, side, max_len):
    ids, mask = make(rows).to_padded(side=side, max_len=max_len)
    want_ids, want_mask = ref_pad(rows, 0, side, max_len)
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_array_equal(mask, want_mask)


@settings(max_examples=50)
@given(
    st.integers(0, 6),
    st.integers(0, 9),
    st.sampled_from([np.bool_, np.int8, np.uint8, np.int16, np.int32, np.int64]),
    st.sampled_from(DTYPES),
    st.randoms(use_true_random=False),
)
def test_from_padded_any_mask(b, t, mask_dtype, dtype, rnd):
    gen = np.random.default_rng(rnd.randint(0, 2**32))
    ids = gen.integers(0, 100, size=(b, t)).astype(dtype)
    mask = (gen.random((b, t)) < 0.6).astype(mask_dtype)
    rt = RaggedTokens.from_padded(ids, mask)
    assert rt.values.dtype == dtype
    assert as_lists(rt) == [ids[i][mask[i] != 0].tolist() for i in range(b)]


def np_pad(values, offsets, pad, side, width):
    """Padding vectorised in NumPy: a column index per token, one fancy assignment."""
    lengths = np.minimum(np.diff(offsets), width)
    rows = np.repeat(np.arange(len(lengths)), lengths)
    first = np.repeat(offsets[:-1], lengths)
    within = np.arange(len(rows)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    cols = within if side == "right" else within + np.repeat(width - lengths, lengths)
    ids = np.full((len(lengths), width), pad, values.dtype)
    mask = np.zeros((len(lengths), width), bool)
    ids[rows, cols] = values[first + within]
    mask[rows, cols] = True
    return ids, mask


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("side", ["left", "right"])
def test_padding_above_the_parallel_threshold_matches_numpy(dtype, side):
    """Batches of 65k+ padded elements are written in row chunks on rayon's threads."""
    gen = np.random.default_rng(3)
    info = np.iinfo(dtype)
    lengths = gen.integers(0, 90, size=4000)
    lengths[::7] = 0
    offsets = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    values = gen.integers(info.min, info.max, size=int(offsets[-1]), dtype=dtype, endpoint=True)
    rt = RaggedTokens(values, offsets)
    for pad, max_len in [(0, None), (int(info.min), 40), (int(info.max), 120), (-1, 0)]:
        width = int(lengths.max()) if max_len is None else max_len
        ids, mask = rt.to_padded(pad_id=pad, side=side, max_len=max_len)
        want_ids, want_mask = np_pad(values, offsets, pad, side, width)
        assert ids.dtype == dtype and ids.flags.c_contiguous and ids.flags.writeable
        np.testing.assert_array_equal(ids, want_ids)
        np.testing.assert_array_equal(mask, want_mask)
        back = RaggedTokens.from_padded(ids, mask)
        np.testing.assert_array_equal(back.lengths(), np.minimum(lengths, width))
        cut = np.minimum(lengths, width)
        kept = [values[o : o + k] for o, k in zip(offsets[:-1], cut, strict=True)]
        np.testing.assert_array_equal(back.values, np.concatenate(kept))


def mask_of_shapes(gen, b, t):
    """Rows of every shape the gather tells apart: empty, full, right and left padded,
    one run in the middle, and holes."""
    mask = np.zeros((b, t), np.int64)
    for i in range(b):
        lo, hi = np.sort(gen.integers(0, t + 1, size=2))
        kind = i % 6
        if kind == 1:
            mask[i] = 1
        elif kind == 2:
            mask[i, :hi] = 1
        elif kind == 3:
            mask[i, lo:] = 1
        elif kind == 4:
            mask[i, lo:hi] = 1
        elif kind == 5:
            mask[i] = gen.random(t) < 0.5
    return mask


@pytest.mark.parametrize("shape", [(7, 5), (3000, 41), (30, 4000), (1, 1)])
@pytest.mark.parametrize("mask_dtype", [np.bool_, np.int8, np.uint8, np.int16, np.int32, np.int64])
def test_from_padded_of_every_row_shape_matches_numpy(shape, mask_dtype):
    gen = np.random.default_rng(shape[0] * 31 + shape[1])
    for dtype in DTYPES:
        ids = gen.integers(-(2**31), 2**31, size=shape).astype(dtype)
        mask = mask_of_shapes(gen, *shape)
        # Non-zero is set, whatever the value (numpy's truth).
        typed = (mask * gen.integers(1, 3, size=shape)).astype(mask_dtype)
        if mask_dtype is np.int8:
            typed = -typed
        rt = RaggedTokens.from_padded(ids, typed)
        np.testing.assert_array_equal(rt.values, ids[typed != 0])
        want_offsets = np.concatenate([[0], np.cumsum((typed != 0).sum(axis=1))])
        np.testing.assert_array_equal(rt.offsets, want_offsets)
        assert rt.values.dtype == dtype


@settings(max_examples=60)
@given(
    st.lists(st.lists(st.integers(-(2**31), 2**31 - 1), max_size=40), max_size=30),
    st.sampled_from(DTYPES),
    st.sampled_from(["left", "right"]),
    st.one_of(st.none(), st.integers(0, 45)),
    st.sampled_from([0, -1, 7, -(2**31), 2**31 - 1]),
)
def test_padding_of_any_rows_matches_numpy(rows, dtype, side, max_len, pad):
    rt = make(rows, dtype)
    width = max((len(r) for r in rows), default=0) if max_len is None else max_len
    ids, mask = rt.to_padded(pad_id=pad, side=side, max_len=max_len)
    want_ids, want_mask = np_pad(rt.values, rt.offsets, pad, side, width)
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_array_equal(mask, want_mask)
    # Rows cut at max_len come back cut; the others whole.
    assert as_lists(RaggedTokens.from_padded(ids, mask)) == [r[:width] for r in rows]


def test_getitem_and_repr():
    rt = make([[1, 2], [], [3, 4, 5]], np.int32)
    assert rt[-1].tolist() == [3, 4, 5] and rt[1].tolist() == []
    assert np.shares_memory(rt[2], rt.values)
    assert as_lists(rt[1:]) == [[], [3, 4, 5]]
    assert as_lists(rt[5:7]) == []
    with pytest.raises(IndexError):
        rt[3]
    with pytest.raises(IndexError):
        rt[-4]
    with expect_error(ValueError, "step"):
        rt[::2]
    assert repr(rt) == "RaggedTokens(rows=3, tokens=5, dtype=int32)"


def test_constructor_is_zero_copy_for_tokens_and_owns_checked_offsets():
    values = np.arange(6, dtype=np.int32)
    offsets = np.array([0, 2, 6], dtype=np.int64)
    rt = RaggedTokens(values, offsets)
    assert rt.values is values
    # The offsets were checked once: the batch keeps its own read-only copy, so a later
    # change to the caller's array cannot make them wrong under the kernels.
    assert np.array_equal(rt.offsets, offsets) and not np.shares_memory(rt.offsets, offsets)
    offsets[1] = 9
    assert rt[0].tolist() == [0, 1]
    with pytest.raises(ValueError, match="read-only"):
        rt.offsets[1] = 9
    with pytest.raises(ValueError):
        rt.offsets.flags.writeable = True


def test_resized_values_are_refused_not_read_past_their_end():
    values = np.arange(6, dtype=np.int64)
    rt = RaggedTokens(values, np.array([0, 2, 6], dtype=np.int64))
    values.resize(3, refcheck=False)
    with expect_error(ValueError, "offsets", "resized"):
        rt.lengths()


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("values", "offsets", "kind", "needles"),
    [
        (np.arange(4, dtype=np.float64), np.array([0, 4]), TypeError, ["values", "float64"]),
        (np.arange(4, dtype=np.int16), np.array([0, 4]), TypeError, ["values", "int16"]),
        ([0, 1, 2, 3], np.array([0, 4]), TypeError, ["values", "list"]),
        (np.arange(4, dtype=np.int32), np.array([0, 4], np.int32), TypeError, ["offsets", "int32"]),
        (
            np.arange(4, dtype=np.int32).reshape(2, 2),
            np.array([0, 4]),
            ValueError,
            ["values", "1-D"],
        ),
        (np.arange(4, dtype=np.int32), np.array([[0, 4]]), ValueError, ["offsets", "1-D"]),
        (np.arange(8, dtype=np.int32)[::2], np.array([0, 4]), ValueError, ["values", "contiguous"]),
        (
            np.arange(4, dtype=np.int32),
            np.array([0, 0, 2, 4])[::2].copy()[:0],
            ValueError,
            ["offsets"],
        ),
        (
            np.arange(4, dtype=np.int32),
            np.arange(0, 8, dtype=np.int64)[::2],
            ValueError,
            ["offsets", "contiguous"],
        ),
        (np.arange(4, dtype=np.int32), np.array([1, 4]), ValueError, ["offsets[0]", "must be 0"]),
        (
            np.arange(4, dtype=np.int32),
            np.array([0, 3, 2, 4]),
            ValueError,
            ["offsets[2]", "decrease"],
        ),
        (
            np.arange(4, dtype=np.int32),
            np.array([0, 5, 4]),
            ValueError,
            ["offsets[1]", "past the end"],
        ),
        (
            np.arange(4, dtype=np.int32),
            np.array([0, 2, 3]),
            ValueError,
            ["offsets[2]", "len(values)"],
        ),
        (
            np.arange(4, dtype=np.int32),
            np.array([0, -1, 4]),
            ValueError,
            ["offsets[1]", "decrease"],
        ),
    ],
)
def test_ragged_bad_input(values, offsets, kind, needles):
    with expect_error(kind, *needles):
        RaggedTokens(values, offsets)


def test_padding_bad_input():
    rt = make([[1, 2], [3]], np.int32)
    with expect_error(ValueError, "pad_id"):
        rt.to_padded(pad_id=2**40)
    with expect_error(ValueError, "side"):
        rt.to_padded(side="middle")  # type: ignore[arg-type]
    with expect_error(ValueError, "max_len"):
        rt.to_padded(max_len=-1)
    ids = np.zeros((2, 3), np.int64)
    with expect_error(ValueError, "mask", "shape"):
        RaggedTokens.from_padded(ids, np.ones((2, 4), bool))
    with expect_error(TypeError, "mask", "float32"):
        RaggedTokens.from_padded(ids, np.ones((2, 3), np.float32))
    with expect_error(TypeError, "ids", "float64"):
        RaggedTokens.from_padded(ids.astype(float), np.ones((2, 3), bool))
    with expect_error(ValueError, "ids", "2-D"):
        RaggedTokens.from_padded(np.zeros(3, np.int64), np.ones(3, bool))
    with expect_error(ValueError, "ids", "contiguous"):
        RaggedTokens.from_padded(np.zeros((2, 6), np.int64)[:, ::2], np.ones((2, 3), bool))


# ---------------------------------------------------------------- arrow

try:
    import pyarrow as pa  # type: ignore[no-redef]
except ImportError:  # pragma: no cover
    pa = None

needs_arrow = pytest.mark.skipif(pa is None, reason="pyarrow not installed")


@needs_arrow
@settings(max_examples=40)
@given(
    rows_st.filter(lambda r: all(t >= 0 for row in r for t in row)),
    st.sampled_from(["int32", "int64"]),
    st.booleans(),
    st.integers(0, 3),
)
def test_from_arrow_round_trip(rows, value_type, large, cut):
    list_type = (
        pa.large_list(getattr(pa, value_type)()) if large else pa.list_(getattr(pa, value_type)())
    )
    arr = pa.array(rows, type=list_type)
    sliced = arr.slice(min(cut, len(rows)))
    rt = RaggedTokens.from_arrow(sliced)
    assert as_lists(rt) == rows[min(cut, len(rows)) :]
    assert rt.values.dtype == np.dtype(value_type)
    rt2 = RaggedTokens.from_arrow(pa.chunked_array([arr], type=list_type))
    assert as_lists(rt2) == rows


@needs_arrow
def test_from_arrow_does_not_copy_values():
    arr = pa.array([[1, 2, 3], [4], [5, 6]], type=pa.large_list(pa.int32()))
    rt = RaggedTokens.from_arrow(arr)
    child = arr.values
    address = child.buffers()[1].address + child.offset * 4
    assert rt.values.__array_interface__["data"][0] == address
    # The offsets (n + 1 int64, never the tokens) are the batch's own checked copy.
    assert rt.offsets.tolist() == [0, 3, 4, 6] and not rt.offsets.flags.writeable
    small = pa.array([[1, 2, 3], [4], [5, 6]], type=pa.list_(pa.int64())).slice(1)
    rt = RaggedTokens.from_arrow(small)
    child = small.values
    assert rt.values.__array_interface__["data"][0] == child.buffers()[1].address + 3 * 8


@needs_arrow
def test_from_arrow_bad_input():
    with expect_error(ValueError, "array[1]", "null"):
        RaggedTokens.from_arrow(pa.array([[1], None, [2]], type=pa.list_(pa.int32())))
    with expect_error(ValueError, "array[0][1]", "null token"):
        RaggedTokens.from_arrow(pa.array([[1, None]], type=pa.list_(pa.int32())))
    sliced = pa.array([[None], [1], [3, 4, None]], type=pa.list_(pa.int64())).slice(1)
    with expect_error(ValueError, "array[1][2]", "null token"):
        RaggedTokens.from_arrow(sliced)
    # A null outside the slice is not the slice's business.
    clean = pa.array([[None], [1, 2]], type=pa.list_(pa.int64())).slice(1)
    assert as_lists(RaggedTokens.from_arrow(clean)) == [[1, 2]]
    with expect_error(TypeError, "list<int32> or list<int64>"):
        RaggedTokens.from_arrow(pa.array([[1.0]], type=pa.list_(pa.float32())))
    with expect_error(TypeError, "ListArray"):
        RaggedTokens.from_arrow(pa.array([1, 2]))
    two = pa.chunked_array([pa.array([[1]]), pa.array([[2]])])
    with expect_error(ValueError, "1 chunk"):
        RaggedTokens.from_arrow(two)


# ---------------------------------------------------------------- validate_tokens


def ref_report(rows, vocab, min_len, max_len, max_errors):
    lengths = np.array([len(r) for r in rows], dtype=np.int64)
    hi = np.iinfo(np.int64).max if max_len is None else max_len
    issues = []
    for i, r in enumerate(rows):
        if len(r) < min_len:
            issues.append((i, "too_short", len(r), None, None))
        elif len(r) > hi:
            issues.append((i, "too_long", len(r), None, None))
        bad = [(p, t) for p, t in enumerate(r) if not 0 <= t < vocab]
        if bad:
            issues.append((i, "id_out_of_range", len(r), bad[0][0], bad[0][1]))
    flat = np.array([t for r in rows for t in r], dtype=np.int64)
    return {
        "rows": len(rows),
        "tokens": int(lengths.sum()),
        "min_len": int(lengths.min()),
        "max_len": int(lengths.max()),
        "mean_len": float(lengths.mean()),
        "p50_len": float(np.percentile(lengths, 50)),
        "p95_len": float(np.percentile(lengths, 95)),
        "too_short": int((lengths < min_len).sum()),
        "too_long": int((lengths > hi).sum()),
        "bad_ids": int(((flat < 0) | (flat >= vocab)).sum()),
        "errors": issues[:max_errors],
    }


@given(
    rows_st.filter(len),
    st.sampled_from(DTYPES),
    st.integers(1, 45),
    st.integers(0, 3),
    st.one_of(st.none(), st.integers(3, 12)),
    st.integers(0, 8),
)
def test_validate_tokens_matches_reference(rows, dtype, vocab, min_len, max_len, max_errors):
    report = validate_tokens(
        make(rows, dtype),
        vocab_size=vocab,
        min_len=min_len,
        max_len=max_len,
        max_errors=max_errors,
    )
    want = ref_report(rows, vocab, min_len, max_len, max_errors)
    for key, value in want.items():
        if key == "errors":
            got = [(e.row, e.kind, e.length, e.position, e.value) for e in report.errors]
            assert got == value
        elif key in ("mean_len", "p50_len", "p95_len"):
            assert getattr(report, key) == pytest.approx(value, rel=1e-12, abs=1e-12)
        else:
            assert getattr(report, key) == value, key
    assert report.ok == (want["too_short"] + want["too_long"] + want["bad_ids"] == 0)
    assert report.vocab_size == vocab
    text = str(report)
    assert text.startswith("OK" if report.ok else "FAILED")
    for e in report.errors:
        assert e.message in text
    # The summary line is the core's; Python's own formatting of the reference is the judge.
    head = (
        f"{want['rows']} rows, {want['tokens']} tokens; length min {want['min_len']}, "
        f"p50 {want['p50_len']:g}, mean {want['mean_len']:.1f}, p95 {want['p95_len']:g}, "
        f"max {want['max_len']}; vocab_size {vocab}"
    )
    assert text.splitlines()[0] == f"{'OK' if report.ok else 'FAILED'}: {head}"
    # Frozen report objects compare by value, like the dataclasses they replace.
    again = validate_tokens(
        make(rows, dtype), vocab_size=vocab, min_len=min_len, max_len=max_len, max_errors=max_errors
    )
    assert again == report and again.errors == report.errors
    with pytest.raises(AttributeError):
        report.rows = 0  # type: ignore[misc]


def test_validate_tokens_large_and_int32_edge():
    gen = np.random.default_rng(0)
    lengths = gen.integers(0, 50, size=20_000)
    offsets = np.zeros(len(lengths) + 1, np.int64)
    offsets[1:] = np.cumsum(lengths)
    values = gen.integers(0, 1000, size=int(offsets[-1])).astype(np.int32)
    values[[5, 77_777, len(values) - 1]] = [-1, 1000, 2**31 - 1]
    rt = RaggedTokens(values, offsets)
    r = validate_tokens(rt, vocab_size=1000, min_len=0)
    assert r.bad_ids == 3 and [e.value for e in r.errors] == [-1, 1000, 2**31 - 1]
    assert validate_tokens(rt, vocab_size=2**40, min_len=0).bad_ids == 1
    big = validate_tokens(rt, vocab_size=2**31, min_len=0)
    assert big.bad_ids == 1


def test_validate_tokens_report_is_frozen():
    r = validate_tokens(make([[1, 2]]), vocab_size=5)
    assert isinstance(r, DatasetReport) and r.ok
    with pytest.raises(AttributeError):
        r.rows = 3  # type: ignore[misc]
    assert not hasattr(r, "__dict__")


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"vocab_size": 0}, "vocab_size"),
        ({"vocab_size": -5}, "vocab_size"),
        ({"vocab_size": 5, "min_len": -1}, "min_len"),
        ({"vocab_size": 5, "min_len": 3, "max_len": 2}, "max_len"),
        ({"vocab_size": 5, "max_errors": -1}, "max_errors"),
    ],
)
def test_validate_tokens_bad_arguments(kwargs, needle):
    with expect_error(ValueError, needle):
        validate_tokens(make([[1, 2]]), **kwargs)


def test_validate_tokens_bad_tokens():
    with expect_error(ValueError, "tokens", "empty"):
        validate_tokens(make([]), vocab_size=5)
    with expect_error(TypeError, "tokens", "RaggedTokens"):
        validate_tokens([[1, 2]], vocab_size=5)  # type: ignore[arg-type]
    # Checked once at construction: the offsets cannot be changed afterwards, and values
    # resized under the batch are refused by name instead of being read past their end.
    values = np.array([1, 2, 3], dtype=np.int64)
    rt = RaggedTokens(values, np.array([0, 2, 3], dtype=np.int64))
    with pytest.raises(ValueError, match="read-only"):
        rt.offsets[1] = 5
    values.resize(2, refcheck=False)
    with expect_error(ValueError, "tokens.offsets", "resized"):
        validate_tokens(rt, vocab_size=5)


# ---------------------------------------------------------------- validate_records

value_st = st.one_of(
    st.text(max_size=3), st.integers(), st.booleans(), st.none(), st.floats(allow_nan=False)
)
record_st = st.one_of(
    st.dictionaries(st.sampled_from(["input", "answer", "meta", "x"]), value_st, max_size=4),
    st.integers(),
    st.text(max_size=2),
)


def ref_records(records, required, optional, max_errors):
    issues, bad = [], set()
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            issues.append((i, None, "not_a_dict"))
            bad.add(i)
            continue
        for key, t in list(required.items()) + list(optional.items()):
            if key not in rec:
                if key in required:
                    issues.append((i, key, "missing_key"))
                    bad.add(i)
            elif not isinstance(rec[key], t):
                issues.append((i, key, "wrong_type"))
                bad.add(i)
    return len(records), len(bad), len(issues), issues[:max_errors]


@given(st.lists(record_st, max_size=30), st.integers(0, 10))
def test_validate_records_matches_reference(records, max_errors):
    required = {"input": str, "answer": (str, int)}
    optional = {"meta": float | None}
    report = validate_records(records, required=required, optional=optional, max_errors=max_errors)
    n, bad, total, issues = ref_records(records, required, optional, max_errors)
    assert (report.records, report.bad_records, report.total_errors) == (n, bad, total)
    assert [(e.index, e.key, e.kind) for e in report.errors] == issues
    for e in report.errors:
        assert f"record {e.index}" in e.message
        if e.key is not None:
            assert repr(e.key) in e.message
    assert report.ok == (total == 0)
    # Any iterable works the same as a list.
    again = validate_records(
        iter(records), required=required, optional=optional, max_errors=max_errors
    )
    assert again == report


def test_validate_records_defaults_and_messages():
    good = [{"input": "1+1", "answer": "2", "extra": 1}] * 3
    r = validate_records(good)
    assert isinstance(r, RecordReport) and r.ok and r.records == 3 and str(r) == "OK: 3 records"
    r = validate_records([{"input": "a", "answer": 2}, ["x"]])
    assert [e.message for e in r.errors] == [
        "record 0: key 'answer' should be str, got int",
        "record 1: expected a dict, got list",
    ]
    r = validate_records([{}], required={"a": None})
    assert r.errors[0].kind == "missing_key"
    assert validate_records([{"a": object()}], required={"a": None}).ok


def test_validate_records_bad_arguments():
    with expect_error(TypeError, "required['a']"):
        validate_records([{}], required={"a": "str"})  # type: ignore[dict-item]
    with expect_error(TypeError, "required"):
        validate_records([{}], required=["a"])  # type: ignore[arg-type]
    with expect_error(ValueError, "max_errors"):
        validate_records([{}], max_errors=-1)
    with expect_error(TypeError, "records", "int"):
        validate_records(5)  # type: ignore[arg-type]


def test_from_padded_reads_bool_bytes_as_numpy_does_and_refuses_impossible_sizes():
    ids = np.array([[10, 20, 30], [40, 50, 60]], np.int32)
    raw = np.array([[2, 0, 255], [0, 1, 0]], np.uint8)
    rt = RaggedTokens.from_padded(ids, raw.view(np.bool_))
    assert as_lists(rt) == [[10, 30], [50]]
    # A zero-width array can claim any number of rows without memory behind it.
    with expect_error(ValueError, "ids", "cannot be allocated"):
        RaggedTokens.from_padded(np.empty((10**15, 0), np.int32), np.empty((10**15, 0), bool))


@pytest.mark.parametrize("rows", [[], [[1, 2]]])
def test_a_width_no_array_can_describe_is_a_named_error(rows):
    """(0, 2**62) int64 needs strides past isize::MAX: numpy would index past memory."""
    with expect_error(ValueError, "max_len", "too wide"):
        make(rows).to_padded(max_len=2**62)
    ids, mask = make(rows).to_padded(max_len=2**20 if not rows else 4)
    assert ids.shape == (len(rows), 2**20 if not rows else 4) and mask.dtype == np.bool_
