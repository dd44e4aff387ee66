"""Hypothesis strategies of hostile values, drawn through ``data.draw`` inside a target.

Each drawer takes ``draw`` (a :class:`hypothesis.strategies.DataObject`'s ``draw``) and
returns either a valid value for the slot or, with ``p_bad``, one of the hostile classes of
issue 14: wrong types (str, bytes, masked arrays, objects where arrays go), wrong dtypes
(byte-swapped and unaligned ones too), non-contiguous arrays, wrong shapes and lengths,
NaN/inf, huge integers (``10**400``, ``2**70``), bools where ints go, lone surrogates,
deep nesting, large sizes (within a few MB) and mixed-type group ids. Array contents come
from a numpy generator seeded by a drawn integer, so a case stays cheap and reproducible.

No known defect is fenced off: finite values up to the float32 maximum reach every
kernel (``max_abs`` of :func:`floats` defaults to it, and no target lowers it), and so do
weights and length-penalty parameters near 1e308, nesting past numpy's 64 dimensions, and
dtypes numpy cannot read. The bounds that remain keep the suite fast and its memory small:

* ``MAX_2D`` caps the elements of a drawn (B, T) array at 4 MiB of float32. A (B, T)
  kernel's output has as many elements as its largest input (``broadcast`` writes 4
  bytes per 1-byte mask element), and inputs are C-contiguous arrays that exist, so an
  output the machine cannot allocate needs an input nearly as large: too slow to draw.
  The fuzz draws the unallocatable case where the output outgrows its input,
  ``to_padded(max_len=2**44)`` and ``2**62``; ``tests/test_allocation.py`` drives each
  kernel's failing allocation (broadcast, grpo/rloo with ``mask=``, the (B, T) grids,
  token_f1's and repetition_penalty's tables) under an address-space limit.
* ``to_padded``'s target draws no ``max_len`` between 64 and ``2**44``: an (n, max_len)
  that the machine can allocate but that would take gigabytes and seconds to fill.
* ``MAX_TEXT`` / ``MAX_PATTERN`` keep generated texts and patterns short, for speed; the
  regex target also draws long literals (2,000 characters) and patterns over the
  length, nesting and automaton limits.
* ``MAX_ROWS`` caps a 1-D batch just above rayon's parallel threshold.
"""

from __future__ import annotations

import functools
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np
from hypothesis import strategies as st

MAX_2D = 1 << 20  # elements of a (B, T) array: 4 MiB of float32 (speed and memory)
MAX_ROWS = 1 << 17  # rows of a 1-D batch: above rayon's 16k threshold
MAX_TEXT = 4096  # characters of a text item (speed)
MAX_PATTERN = 24  # characters of a generated regex pattern (speed)
F32_MAX = float(np.finfo(np.float32).max)

HUGE_INTS: tuple[int, ...] = (
    10**400,
    -(10**400),
    2**70,
    -(2**70),
    2**63,
    -(2**63) - 1,
    2**64,
    2**64 - 1,
)
SURROGATE_TEXTS: tuple[str, ...] = ("\ud800", "a\udfffb", "\udc80\udc80", "ok\ud83d")
NON_FINITE: tuple[float, ...] = (float("nan"), float("inf"), float("-inf"), -float("nan"))


class Opaque:
    """An object with no numeric, sequence or ordering behaviour."""

    def __repr__(self) -> str:
        return "Opaque()"


class Sub(np.ndarray):
    """An ndarray subclass (numpy.matrix-like users' arrays)."""


def hostile_scalars() -> list[Any]:
    """Scalars of every wrong kind, plus edge values of the right kinds."""
    return [
        None,
        True,
        False,
        np.bool_(True),
        *HUGE_INTS,
        *NON_FINITE,
        np.float32("nan"),
        np.float64("inf"),
        "3",
        "",
        b"3",
        *SURROGATE_TEXTS,
        1.5,
        -1,
        0,
        -0.0,
        5e-324,
        1e308,
        -1e308,
        complex(1, 1),
        [],
        [1],
        (),
        {},
        Opaque(),
        np.array(1.0),
        np.array([1, 2]),
        np.int64(3),
        np.int8(-1),
        np.uint64(2**64 - 1),
        Fraction(1, 3),
        Decimal("1.5"),
    ]


HOSTILE_SCALARS = st.sampled_from(hostile_scalars())


def scalar(draw: Any, good: st.SearchStrategy[Any], p_bad: float) -> Any:
    """A value of ``good`` or, with probability ``p_bad``, a hostile scalar."""
    if chance(draw, p_bad):
        return draw(HOSTILE_SCALARS)
    return draw(good)


def chance(draw: Any, p: float) -> bool:
    """True with probability ``p``, shrinking towards False (hypothesis draws 0.0 from
    ``floats(0, 1)`` far more often than uniform, which would make most cases hostile)."""
    return draw(st.integers(0, 999)) >= 1000 * (1 - p)


def rng(draw: Any) -> np.random.Generator:
    return np.random.default_rng(draw(st.integers(0, 2**32 - 1)))


def floats(draw: Any, shape: tuple[int, ...], max_abs: float = F32_MAX) -> np.ndarray:
    """A finite float32 array of ``shape`` in one of several value styles."""
    r = rng(draw)
    style = draw(st.sampled_from(["normal", "zeros", "const", "extreme", "tiny", "ints", "big"]))
    size = int(np.prod(shape, dtype=np.int64))
    if style == "zeros":
        x = np.zeros(size)
    elif style == "const":
        x = np.full(size, r.normal() * 10)
    elif style == "extreme":
        x = r.choice([max_abs, -max_abs, 0.0, 1.0, -1.0, max_abs / 2], size)
    elif style == "tiny":
        x = r.choice([1e-45, -1e-45, 1e-38, 0.0, -0.0], size)
    elif style == "ints":
        x = r.integers(-3, 4, size).astype(np.float64)
    elif style == "big":
        x = r.normal(0, 1, size) * min(max_abs, 1e30)
    else:
        x = r.normal(0, 1, size) * 3
    return np.clip(x, -max_abs, max_abs).astype(np.float32).reshape(shape)


def mask(draw: Any, shape: tuple[int, ...]) -> np.ndarray:
    """A 0/1 response mask of one of the accepted dtypes."""
    r = rng(draw)
    p = draw(st.sampled_from([0.0, 0.5, 0.9, 1.0]))
    m = r.random(shape) < p
    dtype = draw(st.sampled_from([np.bool_, np.int8, np.uint8, np.float32]))
    return m.astype(dtype)


def group_ids(draw: Any, n: int) -> Any:
    """Group ids of ``n`` responses: int64, or verl-style string uids (valid forms)."""
    r = rng(draw)
    groups = draw(st.sampled_from([1, 2, 3, max(1, n // 4), max(1, n)]))
    ids = r.integers(0, groups, n) * draw(st.sampled_from([1, -7, 2**40]))
    form = draw(st.sampled_from(["i64", "i64", "str", "list", "u8"]))
    if form == "str":
        return np.array([f"uid-{i}" for i in ids.tolist()], dtype=object)
    if form == "list":
        return ids.tolist()
    if form == "u8":
        return np.abs(ids).astype(np.uint8)
    return ids.astype(np.int64)


def hostile_group_ids(draw: Any, n: int) -> Any:
    """Group ids that must be refused (or grouped by equality): mixed types, floats, bools,
    huge ints, objects, surrogates."""
    base = list(range(max(n, 1)))
    kind = draw(
        st.sampled_from(
            ["mixed", "float", "bool", "huge", "opaque", "surrogate", "nested", "nan", "bytes"]
        )
    )
    k = draw(st.integers(0, max(n, 1) - 1))
    if kind == "mixed":
        base[k] = str(base[k])
    elif kind == "float":
        return np.arange(n, dtype=np.float64) + 0.5
    elif kind == "bool":
        return [bool(i % 2) for i in range(n)]
    elif kind == "huge":
        base[k] = draw(st.sampled_from(HUGE_INTS))
    elif kind == "opaque":
        return [Opaque() for _ in range(n)]
    elif kind == "surrogate":
        return [draw(st.sampled_from(SURROGATE_TEXTS)) + str(i) for i in range(n)]
    elif kind == "nested":
        base[k] = [base[k]]
    elif kind == "nan":
        base[k] = float("nan")
    else:
        return [bytes([i % 256]) for i in range(n)]
    return base


@functools.cache
def deep_list(depth: int, leaf: Any = 1.0) -> list[Any]:
    """``[[[...[leaf]...]]]``, ``depth`` levels deep (cached: building one costs ms, and no
    entry point may modify its input)."""
    out: list[Any] = [leaf]
    for _ in range(depth):
        out = [out]
    return out


def _noncontiguous(good: np.ndarray) -> np.ndarray:
    wide = np.repeat(good, 2, axis=-1) if good.ndim else good
    return wide[..., ::2] if good.ndim else good


def _unaligned(good: np.ndarray) -> np.ndarray:
    buf = np.zeros(good.nbytes + 1, np.uint8)
    out = np.frombuffer(buf.data, dtype=good.dtype, count=good.size, offset=1)
    out = out.reshape(good.shape)
    return out


BAD_DTYPES = (
    np.float64,
    np.float16,
    np.int32,
    np.int64,
    np.uint64,
    np.int16,
    np.bool_,
    np.complex64,
    object,
    "U3",
    "S2",
    "datetime64[s]",
    "m8[ms]",
)


def array(draw: Any, good: np.ndarray, p_bad: float) -> Any:
    """``good`` or, with probability ``p_bad``, a hostile stand-in for it."""
    if not chance(draw, p_bad):
        return good
    try:
        return _hostile_array(draw, good)
    except (TypeError, ValueError):  # a variant numpy cannot build from good (str ids)
        return np.zeros(good.shape, np.float64)


def _hostile_array(draw: Any, good: np.ndarray) -> Any:
    kind = draw(
        st.sampled_from(
            [
                "str",
                "bytes",
                "none",
                "opaque",
                "dict",
                "scalar",
                "masked",
                "dtype",
                "byteswap",
                "noncontig",
                "fortran",
                "reversed",
                "unaligned",
                "readonly",
                "shape",
                "nonfinite",
                "list",
                "list_bad_item",
                "deep",
                "generator",
                "huge_ints",
                "bools",
                "subclass",
            ]
        )
    )
    if kind == "str":
        return draw(st.sampled_from(["1,2,3", "", "\ud800", "[1.0]"]))
    if kind == "bytes":
        return good.tobytes()
    if kind == "none":
        return None
    if kind == "opaque":
        return Opaque()
    if kind == "dict":
        return {"values": good}
    if kind == "scalar":
        return draw(st.sampled_from([1.0, 0, np.float32(1.0), np.array(1.0, np.float32)]))
    if kind == "masked":
        return np.ma.masked_array(good, mask=np.zeros(good.shape, bool))
    if kind == "dtype":
        try:
            return good.astype(draw(st.sampled_from(BAD_DTYPES)))
        except (TypeError, ValueError):
            return good.astype(np.float64)
    if kind == "byteswap":
        return good.astype(good.dtype.newbyteorder())
    if kind == "noncontig":
        return _noncontiguous(good)
    if kind == "fortran":
        return np.asfortranarray(good) if good.ndim == 2 else good.T
    if kind == "reversed":
        return good[::-1]
    if kind == "unaligned":
        return _unaligned(good)
    if kind == "readonly":
        out = good.copy()
        out.flags.writeable = False
        return out
    if kind == "shape":
        choice = draw(st.sampled_from(["extra_row", "drop_row", "add_dim", "zero_d", "flat", "T"]))
        if choice == "extra_row":
            return np.concatenate([good, good[:1] if len(good) else np.zeros_like(good[:0])])
        if choice == "drop_row":
            return good[1:].copy()
        if choice == "add_dim":
            return good[None].copy()
        if choice == "zero_d":
            return np.array(good.flat[0] if good.size else 0, good.dtype)
        if choice == "flat":
            return good.reshape(-1).copy()
        return np.ascontiguousarray(good.T)
    if kind == "nonfinite":
        if good.size == 0 or good.dtype.kind != "f":
            return good.astype(np.float32) * np.float32("nan")
        out = good.copy()
        out.flat[draw(st.integers(0, good.size - 1))] = draw(st.sampled_from(NON_FINITE))
        return out
    if kind == "list":
        return good.tolist()
    if kind == "list_bad_item":
        items: list[Any] = good.tolist()
        bad = draw(st.sampled_from([None, "x", b"x", 10**400, 2**70, True, [1, [2]], Opaque()]))
        if items:
            items[draw(st.integers(0, len(items) - 1))] = bad
        else:
            items.append(bad)
        return items
    if kind == "deep":
        return deep_list(draw(st.sampled_from([40, 64, 1000, 5000])))
    if kind == "generator":
        return (x for x in good.tolist())
    if kind == "huge_ints":
        return [draw(st.sampled_from(HUGE_INTS))] * max(len(good), 1)
    if kind == "bools":
        return good.astype(bool).tolist()
    return good.view(Sub)


# --- text -----------------------------------------------------------------------------------

_ALPHABET = st.characters(codec="utf-8") | st.sampled_from(
    [*"0123456789$\\{}()[]^_=+-*/.,;: \n\t#", "</think>", "\\boxed{", "####", "answer is"]
)
TEXT_PIECES = st.lists(_ALPHABET, max_size=12).map("".join)


def text_item(draw: Any) -> str:
    """One valid text (UTF-8 encodable), math-flavoured, sometimes long."""
    style = draw(st.sampled_from(["piece", "piece", "math", "long", "nul", "empty"]))
    if style == "math":
        return draw(
            st.sampled_from(
                [
                    "\\boxed{\\frac{1}{2}}",
                    "#### 1,000",
                    "The answer is 3.",
                    "$x = 5$, not $6$",
                    "\\boxed{" * 50,
                    "{" * 300 + "}" * 299,
                    "1" * 500,
                    "2^{2^{2^{2^{99}}}}",
                    "10^{100000}",
                    "\\sqrt{" * 40 + "2" + "}" * 40,
                    "(" * 200 + "1" + ")" * 200,
                    "x^{99999}-1",
                    "\\frac{" * 30 + "1" + "}{2}" * 30,
                    "0.142857",
                    "1e999999",
                    "99999999999999999999!",
                    "\\binom{1000000}{500000}",
                ]
            )
        )
    if style == "long":
        return draw(TEXT_PIECES) * draw(st.integers(1, MAX_TEXT // 8))
    if style == "nul":
        return "a\x00b"
    if style == "empty":
        return ""
    return draw(TEXT_PIECES)


def texts(draw: Any, n: int) -> Any:
    """A valid batch of ``n`` texts in one of the accepted containers."""
    items = [text_item(draw) for _ in range(n)]
    form = draw(st.sampled_from(["list", "list", "tuple", "object", "str_"]))
    if form == "tuple":
        return tuple(items)
    if form == "object":
        return np.array(items, dtype=object)
    if form == "str_" and items and "\x00" not in "".join(items):
        return np.array(items, dtype=np.str_)
    return items


def hostile_texts(draw: Any, good: Any, p_bad: float) -> Any:
    """``good`` or a hostile stand-in: one str, bytes, a non-str item, a lone surrogate,
    another length, deep nesting, an opaque object."""
    if not chance(draw, p_bad):
        return good
    items = list(good)
    kind = draw(
        st.sampled_from(
            ["str", "bytes", "item", "surrogate", "extra", "drop", "deep", "opaque", "2d", "gen"]
        )
    )
    k = draw(st.integers(0, max(len(items) - 1, 0)))
    if kind == "str":
        return "just one string"
    if kind == "bytes":
        return b"abc"
    if kind == "item":
        bad = draw(st.sampled_from([None, 1, 1.5, b"x", True, ["x"], Opaque(), np.float32(1)]))
        return [*items[:k], bad, *items[k + 1 :]] if items else [bad]
    if kind == "surrogate":
        bad = draw(st.sampled_from(SURROGATE_TEXTS))
        return [*items[:k], bad, *items[k + 1 :]] if items else [bad]
    if kind == "extra":
        return [*items, "x"]
    if kind == "drop":
        return items[1:]
    if kind == "deep":
        return deep_list(draw(st.sampled_from([3, 100, 5000])), "x")
    if kind == "opaque":
        return Opaque()
    if kind == "2d":
        return np.array([items, items], dtype=object)
    return (x for x in items)
