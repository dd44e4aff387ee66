"""Token batches and dataset validation.

:class:`RaggedTokens` holds a batch of token sequences of different lengths in Arrow's
list layout: ``values`` (1-D int32 or int64) and ``offsets`` (1-D int64, ``n + 1``
entries, ``offsets[0] == 0``, non-decreasing, ``offsets[-1] == len(values)``); row ``i``
is ``values[offsets[i]:offsets[i + 1]]``. A pyarrow ``ListArray`` / ``LargeListArray``
(and so a Hugging Face ``datasets`` column) maps onto it without copying the tokens.

:class:`~orbiter.train.trajectories.TrajectoryBatch` (re-exported here) holds agent
trajectories in the same layout: prompt and response ids, the trainable mask and rollout
logprobs on the response offsets, turn ends and rewards, checked once.

:func:`validate_tokens` checks lengths and id range in one pass over the buffers;
:func:`validate_records` checks list-of-dict datasets (keys and value types). Both
return a report instead of raising on bad data; they raise only on bad arguments.
"""

from __future__ import annotations

import types
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, TypeAlias, overload

import numpy as np
from numpy.typing import NDArray

from orbiter.train import _args, _core
from orbiter.train.errors import TrainerTypeError, TrainerValueError
from orbiter.train.trajectories import TrajectoryBatch

__all__ = [
    "DatasetReport",
    "RaggedTokens",
    "RecordIssue",
    "RecordReport",
    "TokenIssue",
    "TrajectoryBatch",
    "validate_records",
    "validate_tokens",
]

TokenArray: TypeAlias = NDArray[np.int32] | NDArray[np.int64]

_TOKEN_DTYPES: tuple[np.dtype[Any], ...] = (np.dtype(np.int32), np.dtype(np.int64))


def _token_dtype(dtype: Any) -> np.dtype[Any]:
    """``dtype`` as int32 or int64; anything else (another dtype, ``True``, a str numpy
    cannot read, a lone surrogate) is a ``TrainerTypeError`` naming ``dtype``."""
    try:
        target = None if isinstance(dtype, bool) else np.dtype(dtype)
    except (TypeError, ValueError, UnicodeError):
        target = None
    if target is None:
        raise TrainerTypeError(f"dtype: expected int32 or int64, got {dtype!r}")
    for known in _TOKEN_DTYPES:
        if target == known:
            return known
    raise TrainerTypeError(f"dtype: expected int32 or int64, got {target}")


class RaggedTokens:
    """A batch of token sequences in Arrow's list layout (``values`` + ``offsets``).

    ``RaggedTokens(values, offsets)`` takes ``values`` as it is (no copy): a C-contiguous
    1-D int32 or int64 array. ``offsets`` is a C-contiguous 1-D int64 array of ``n + 1``
    entries with ``offsets[0] == 0``, never decreasing, and ``offsets[-1] == len(values)``.
    The check is O(n) in Rust, done once: an error names the argument and the first bad
    index. The batch keeps a read-only copy of the offsets (``n + 1`` int64, never the
    tokens), so every later kernel trusts them instead of checking again. Build from
    other shapes with :meth:`from_sequences`, :meth:`from_padded` and :meth:`from_arrow`.
    """

    __slots__ = ("_native",)

    _native: _core.RaggedTokens

    def __init__(self, values: TokenArray, offsets: NDArray[np.int64]) -> None:
        self._native = _core.RaggedTokens(values, offsets)

    @classmethod
    def _wrap(cls, native: _core.RaggedTokens) -> RaggedTokens:
        """A batch around a native one that the core built (and so needs no check)."""
        batch = cls.__new__(cls)
        batch._native = native
        return batch

    @property
    def values(self) -> TokenArray:
        """All tokens, row after row (1-D int32 or int64): the array it was built on."""
        return self._native.values

    @property
    def offsets(self) -> NDArray[np.int64]:
        """Row boundaries (1-D int64, ``n + 1`` entries, read-only)."""
        return self._native.offsets

    @property
    def dtype(self) -> np.dtype[Any]:
        """The token dtype (int32 or int64)."""
        return self._native.values.dtype

    def __reduce__(self) -> tuple[type[RaggedTokens], tuple[TokenArray, NDArray[np.int64]]]:
        return (type(self), (self.values, self.offsets))

    @classmethod
    def from_sequences(
        cls,
        sequences: Iterable[Sequence[int] | NDArray[np.integer[Any]]],
        *,
        dtype: type[np.int32] | type[np.int64] | None = None,
    ) -> RaggedTokens:
        """Build from a sequence of token sequences (lists or 1-D integer arrays).

        ``dtype`` defaults to the arrays' common dtype when every row is an int32/int64
        ndarray, and to int64 otherwise. Ids that do not fit ``dtype`` raise. A
        ``dtype`` that is not int32 or int64 (``True``, ``"int16"``, a str numpy cannot
        read) raises ``TrainerTypeError`` naming ``dtype``; a row that is not a flat
        sequence of ints (nested ones included, however deep) one naming ``sequences[i]``.
        """
        target = None if dtype is None else _token_dtype(dtype)
        try:
            rows = list(sequences)
        except TypeError:
            raise TrainerTypeError(
                f"sequences: expected an iterable of token sequences, got "
                f"{type(sequences).__name__}"
            ) from None
        # Lists and tuples of ints (tokenizer output): one walk in the core.
        from_lists = _core.RaggedTokens.from_lists(rows)
        if from_lists is not None:
            if target is None or target == np.int64:
                return cls._wrap(from_lists)
            return cls._from_flat(from_lists.values, from_lists.offsets, target)
        arrays = []
        for i, r in enumerate(rows):
            if not isinstance(r, np.ndarray) and (
                isinstance(r, str | bytes) or not isinstance(r, Sequence)
            ):
                raise TrainerTypeError(
                    f"sequences[{i}]: expected a sequence of ints, got {type(r).__name__}"
                )
            try:
                a = np.asarray(r)
            except (ValueError, TypeError, OverflowError, RecursionError):
                # ragged rows, nesting past numpy's 64 dimensions or Python's stack
                raise TrainerTypeError(
                    f"sequences[{i}]: expected a flat sequence of ints, got a nested or "
                    f"ragged {type(r).__name__}"
                ) from None
            # An empty list has no dtype to speak of; an array always does.
            if (a.size or isinstance(r, np.ndarray)) and (a.ndim != 1 or a.dtype.kind not in "iu"):
                raise TrainerTypeError(
                    f"sequences[{i}]: expected a flat sequence of ints, got {a.dtype} "
                    f"with shape {a.shape}"
                )
            arrays.append(a)
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(np.array([a.size for a in arrays], dtype=np.int64), out=offsets[1:])
        if target is None:
            kinds = {r.dtype for r in rows if isinstance(r, np.ndarray)}
            all_arrays = len(kinds) > 0 and all(isinstance(r, np.ndarray) for r in rows)
            target = _TOKEN_DTYPES[0 if all_arrays and kinds == {_TOKEN_DTYPES[0]} else 1]
        nonempty = [a for a in arrays if a.size]
        flat = np.concatenate(nonempty) if nonempty else np.zeros(0, np.int64)
        return cls._from_flat(flat, offsets, target)

    @classmethod
    def from_utf8(
        cls,
        texts: Sequence[str],
        *,
        prefix: str = "",
        bos: int | None = None,
        eos: int | None = None,
    ) -> RaggedTokens:
        """Byte-level token rows (int32) of *texts*, in one pass in the core: row ``i`` is
        ``[bos] + list((prefix + texts[i]).encode("utf-8")) + [eos]`` (``bos`` / ``eos``
        left out when None), what :class:`~orbiter.train.torch.ByteTokenizer` gives one
        text at a time.

        Raises ``TrainerTypeError`` naming ``texts[i]`` for an item that is not a str,
        ``TrainerValueError`` naming it for one UTF-8 cannot encode (a lone surrogate).
        """
        found = cls._utf8_or_none(texts, prefix=prefix, bos=bos, eos=eos)
        if found is not None:
            return found
        for i, text in enumerate(texts):
            _args.text(f"texts[{i}]", text)
        raise AssertionError("unreachable: from_utf8 refused valid texts")  # pragma: no cover

    @classmethod
    def _utf8_or_none(
        cls, texts: Sequence[str], *, prefix: str, bos: int | None, eos: int | None
    ) -> RaggedTokens | None:
        """:meth:`from_utf8`, or None when some text is not a str or has no UTF-8 (for a
        caller with a general path for those)."""
        rows = texts if type(texts) is list else list(texts)
        frame = [_args.optional_integer(k, v, minimum=0) for k, v in (("bos", bos), ("eos", eos))]
        for key, value in zip(("bos", "eos"), frame, strict=True):
            if value is not None and value > np.iinfo(np.int32).max:
                raise TrainerValueError(f"{key}: {value} does not fit int32")
        native = _core.RaggedTokens.from_utf8(rows, _args.text("prefix", prefix), *frame)
        return None if native is None else cls._wrap(native)

    @classmethod
    def _from_flat(
        cls, flat: NDArray[np.integer[Any]], offsets: NDArray[np.int64], target: np.dtype[Any]
    ) -> RaggedTokens:
        """``flat`` cast to ``target`` (int32 or int64), naming the first id that does not fit."""
        info = np.iinfo(np.int32) if target == np.int32 else np.iinfo(np.int64)
        bad = np.flatnonzero((flat < info.min) | (flat > info.max))
        if bad.size:
            row = int(np.searchsorted(offsets, bad[0], side="right")) - 1
            raise TrainerValueError(
                f"sequences[{row}]: token {int(bad[0] - offsets[row])} = {flat[bad[0]]} "
                f"does not fit {target}"
            )
        values = flat.astype(target, copy=False)
        return cls(values, offsets)

    @classmethod
    def from_padded(
        cls, ids: NDArray[np.int32] | NDArray[np.int64], mask: NDArray[Any]
    ) -> RaggedTokens:
        """Build from padded ``ids (B, T)`` and ``mask (B, T)``: row ``b`` holds
        ``ids[b, mask[b] != 0]`` in order, so left padding, right padding (or holes) all
        work. ``mask`` is bool or int8/uint8/int16/int32/int64 (non-zero = token);
        ``ids`` int32 or int64. Both C-contiguous. The gather runs in Rust.
        """
        return cls._wrap(_core.RaggedTokens.from_padded(ids, mask))

    @classmethod
    def from_arrow(cls, array: Any) -> RaggedTokens:
        """Build from a pyarrow ``ListArray`` / ``LargeListArray`` of int32 or int64 (or a
        ``ChunkedArray`` of one such chunk) without copying the tokens.

        ``values`` is a numpy view of the Arrow value buffer. The offsets are copied once
        (``n + 1`` int64), as for every batch: ``ListArray`` offsets (int32) are widened to
        int64 and a sliced array's offsets rebased to start at 0.
        Null rows or null tokens raise.
        """
        try:
            import pyarrow as pa  # type: ignore[import-untyped,import-not-found,unused-ignore]
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise TrainerTypeError("array: from_arrow needs pyarrow installed") from e
        if isinstance(array, pa.ChunkedArray):
            if array.num_chunks != 1:
                raise TrainerValueError(
                    f"array: expected a ChunkedArray of 1 chunk, got {array.num_chunks} "
                    "(combine_chunks() first; that copies)"
                )
            array = array.chunk(0)
        if not isinstance(array, pa.ListArray | pa.LargeListArray):
            raise TrainerTypeError(
                f"array: expected a pyarrow ListArray or LargeListArray, got {type(array).__name__}"
            )
        value_type = array.type.value_type
        if value_type not in (pa.int32(), pa.int64()):
            raise TrainerTypeError(f"array: expected list<int32> or list<int64>, got {array.type}")
        if array.null_count:
            first = int(np.flatnonzero(~np.asarray(array.is_valid()))[0])
            raise TrainerValueError(f"array[{first}]: null row")
        raw_offsets = array.offsets.to_numpy(zero_copy_only=True)
        start, stop = int(raw_offsets[0]), int(raw_offsets[-1])
        # Only the slice's own ids: a sliced array's child may hold nulls outside it.
        child = array.values.slice(start, stop - start)
        if child.null_count:
            k = int(np.flatnonzero(~np.asarray(child.is_valid()))[0]) + start
            row = int(np.searchsorted(raw_offsets, k, side="right")) - 1
            raise TrainerValueError(f"array[{row}][{k - int(raw_offsets[row])}]: null token id")
        values = child.to_numpy(zero_copy_only=True)
        if raw_offsets.dtype == np.int64 and start == 0:
            offsets = raw_offsets
        else:
            offsets = raw_offsets.astype(np.int64)
            offsets -= start
        return cls(values, offsets)

    def to_padded(
        self,
        pad_id: int = 0,
        side: Literal["right", "left"] = "right",
        max_len: int | None = None,
    ) -> tuple[TokenArray, NDArray[np.bool_]]:
        """Pad to ``(n, width)``, ``width = max_len`` or the longest row.

        Returns ``(ids, mask)``: ``ids`` of the tokens' dtype, padding ``pad_id``;
        ``mask`` bool, true on tokens. ``side="right"`` puts tokens first,
        ``"left"`` last. Rows longer than ``max_len`` keep their first ``max_len`` tokens.
        """
        ids, mask = self._native.to_padded(
            _args.integer("pad_id", pad_id),
            _args.text("side", side),
            _args.optional_integer("max_len", max_len),
        )
        return ids, mask

    def lengths(self) -> NDArray[np.int64]:
        """Row lengths: ``offsets[1:] - offsets[:-1]`` (int64)."""
        return self._native.lengths()

    def __len__(self) -> int:
        return len(self._native)

    @overload
    def __getitem__(self, index: int) -> TokenArray: ...
    @overload
    def __getitem__(self, index: slice) -> RaggedTokens: ...
    def __getitem__(self, index: int | slice) -> TokenArray | RaggedTokens:
        """Row ``index`` as a view of ``values``; a step-1 slice as a new batch."""
        n = len(self)
        if isinstance(index, slice):
            start, stop, step = index.indices(n)
            if step != 1:
                raise TrainerValueError("index: only slices with step 1 are supported")
            return type(self)._wrap(self._native.slice(start, max(start, stop)))
        i = _args.integer("index", index)
        if not -n <= i < n:
            raise IndexError(f"index {index} is out of range for {n} rows")
        if i < 0:
            i += n
        offsets = self._native.offsets
        return self.values[int(offsets[i]) : int(offsets[i + 1])]

    def __repr__(self) -> str:
        values = self.values
        return f"RaggedTokens(rows={len(self)}, tokens={len(values)}, dtype={values.dtype})"


def _as_ragged(tokens: RaggedTokens, name: str) -> RaggedTokens:
    if not isinstance(tokens, RaggedTokens):
        raise TrainerTypeError(
            f"{name}: expected RaggedTokens, got {type(tokens).__name__} "
            "(build one with RaggedTokens.from_sequences / from_padded / from_arrow)"
        )
    return tokens


TokenIssue = _core.TokenIssue
DatasetReport = _core.DatasetReport
RecordIssue = _core.RecordIssue
RecordReport = _core.RecordReport


def validate_tokens(
    tokens: RaggedTokens,
    *,
    vocab_size: int,
    min_len: int = 1,
    max_len: int | None = None,
    max_errors: int = 20,
) -> DatasetReport:
    """Check every row's length is in ``[min_len, max_len]`` and every id in
    ``[0, vocab_size)``; return statistics and the first ``max_errors`` problems in row
    order (for ids, each row's first bad id with its position and value).

    Statistics: rows, tokens, min/max/mean length, and the p50/p95 length (numpy's
    default linear interpolation). One vectorised pass over the ids (rayon over chunks)
    and one over the offsets, in Rust with the GIL released.

    Raises ``TrainerValueError`` for ``vocab_size <= 0``, ``min_len < 0``,
    ``max_len < min_len``, ``max_errors < 0`` or an empty dataset.
    """
    tokens = _as_ragged(tokens, "tokens")
    vocab_size = _args.integer("vocab_size", vocab_size)
    max_errors = _args.integer("max_errors", max_errors, minimum=0)
    return _core.validate_tokens(
        tokens._native,
        vocab_size,
        _args.integer("min_len", min_len),
        _args.optional_integer("max_len", max_len),
        max_errors,
    )


TypeSpec: TypeAlias = type | tuple[type, ...] | types.UnionType | None


def _type_name(spec: TypeSpec) -> str:
    if isinstance(spec, type):
        return spec.__name__
    if isinstance(spec, tuple):
        return " | ".join(_type_name(t) for t in spec)
    return str(spec)


def _rules(spec: Mapping[str, TypeSpec] | None, name: str) -> list[tuple[str, Any, str]]:
    if spec is None:
        return []
    if not isinstance(spec, Mapping):
        raise TrainerTypeError(
            f"{name}: expected a mapping of key -> type, got {type(spec).__name__}"
        )
    rules: list[tuple[str, Any, str]] = []
    for key, t in spec.items():
        if not isinstance(key, str):
            raise TrainerTypeError(f"{name}: keys must be str, got {type(key).__name__}")
        accepted: Any = object if t is None or t is Any else t
        ok = isinstance(accepted, type | types.UnionType) or (
            isinstance(accepted, tuple) and all(isinstance(x, type) for x in accepted)
        )
        if not ok:
            raise TrainerTypeError(
                f"{name}[{key!r}]: expected a type, a tuple of types or a union, got {t!r}"
            )
        rules.append((key, accepted, _type_name(accepted)))
    return rules


_DEFAULT_REQUIRED: Mapping[str, TypeSpec] = types.MappingProxyType({"input": str, "answer": str})


def validate_records(
    records: Iterable[Any],
    *,
    required: Mapping[str, TypeSpec] = _DEFAULT_REQUIRED,
    optional: Mapping[str, TypeSpec] | None = None,
    max_errors: int = 20,
) -> RecordReport:
    """Check a list-of-dict dataset: every record is a ``dict`` holding each ``required``
    key with a value that passes ``isinstance(value, type)``, and each ``optional`` key,
    when present, passes its type too. Types are a class, a tuple of classes or a union
    (``str | None``); ``None`` or ``object`` accepts anything. As with ``isinstance``,
    ``bool`` values pass as ``int``. Extra keys are allowed.

    The walk over the records is a Rust loop (no Python-level loop); it counts every
    problem and keeps the first ``max_errors`` in order, each naming the record index
    and the key.
    """
    max_errors = _args.integer("max_errors", max_errors, minimum=0)
    req = _rules(required, "required")
    opt = _rules(optional, "optional")
    return _core.validate_records(records, req, opt, max_errors)
