"""Several rewards, weighted and clipped, scored in one call.

A :class:`RewardPipeline` holds components ``(reward, weight)``. A reward is

- a reward name of :data:`~orbiter.train.rewards.registry.REWARDS` (looked up when the
  pipeline is built),
- any batched callable ``fn(responses, references) -> array-like (n,)``, or
- a per-item callable ``fn(output: str, expected: str) -> float`` wrapped with
  :meth:`RewardPipeline.per_item` (a Python loop over rows: the only per-row Python in
  the pipeline, and only for such callables).

An entry may carry keyword arguments as a third element:
``("length_penalty", -0.5, {"kind": "dapo", "max_len": 4096, "cache_len": 512})``.

Token rewards (``exact_match``, ``token_f1``, ``length_penalty``, …) are scored on
``responses`` / ``references`` when those are :class:`~orbiter.train.data.RaggedTokens`,
else on ``response_tokens`` / ``reference_tokens``; reward functions that take only
responses (``length_penalty``, ``repetition_penalty``, ``stop_token_check``) get only
them. Every other component gets ``(responses, references)`` as passed, so text and
token rewards mix in one pipeline.

Other keyword arguments of a call are the dataset's columns (TRL's ``**columns``: a list of
values per column, one per response): a component that is the user's callable gets those
its signature names (and ``response_tokens`` / ``reference_tokens`` when it names them),
or all of them when it takes ``**kwargs``
(:class:`~orbiter.train.rewards.registry.Keywords`); reward names and the package's own
functions get none.

The total ``clip(Σ_k w_k · r_k, lo, hi)`` is computed in Rust (accumulated in float64,
returned as float32) after checking that each component returned ``n`` finite scores;
an error names the component and the first bad row.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence, Sized
from typing import Any, TypeAlias

import numpy as np
from numpy.typing import NDArray

from orbiter.train import _core
from orbiter.train.data import RaggedTokens
from orbiter.train.errors import TrainerTypeError, TrainerValueError
from orbiter.train.rewards.registry import Keywords, compares_pairs, lookup
from orbiter.train.rewards.tokens import REWARD_INPUTS

__all__ = ["PerItemReward", "RewardPipeline"]

Scores = NDArray[np.float32]
Reward: TypeAlias = str | Callable[..., Any]
Entry: TypeAlias = tuple[Reward, float] | tuple[Reward, float, Mapping[str, Any]]


class PerItemReward:
    """A per-item callable ``fn(output: str, expected: str) -> float`` as a batched reward:
    ``scores[i] = float(fn(responses[i], references[i]))``, float32 ``(n,)``."""

    __slots__ = ("__name__", "fn")

    def __init__(self, fn: Callable[[Any, Any], float], name: str | None = None) -> None:
        if not callable(fn):
            raise TrainerTypeError(f"fn: expected a callable, got {type(fn).__name__}")
        self.fn = fn
        self.__name__ = name or getattr(fn, "__name__", type(fn).__name__)

    def __call__(self, responses: Sequence[Any], references: Sequence[Any]) -> Scores:
        if len(references) != len(responses):
            raise TrainerValueError(
                f"references: has {len(references)} items, responses has {len(responses)}"
            )
        fn = self.fn
        out = [fn(o, e) for o, e in zip(responses, references, strict=True)]
        try:
            scores = np.fromiter(map(float, out), dtype=np.float64, count=len(out))
        except (TypeError, ValueError, OverflowError):
            for i, x in enumerate(out):
                try:
                    float(x)
                except OverflowError:  # an int beyond float64
                    raise TrainerValueError(
                        f"{self.__name__}[{i}]: returned an int beyond float64"
                    ) from None
                except (TypeError, ValueError):
                    raise TrainerTypeError(
                        f"{self.__name__}[{i}]: returned {type(x).__name__}, expected a float"
                    ) from None
            raise
        with np.errstate(over="ignore"):  # an overflow becomes inf, which combine reports
            return scores.astype(np.float32)

    def __repr__(self) -> str:
        return f"RewardPipeline.per_item({self.__name__})"


def _base(fn: Any) -> Any:
    while isinstance(fn, functools.partial):
        fn = fn.func
    return fn


def _resolve(reward: Reward, where: str) -> tuple[str, Callable[..., Any]]:
    if isinstance(reward, str):
        from orbiter.train import rewards as module

        return reward, getattr(module, lookup(reward, where).function)
    if not callable(reward):
        raise TrainerTypeError(
            f"{where}: expected a reward name or a callable, got {type(reward).__name__}"
        )
    base = _base(reward)
    name = getattr(base, "__name__", None) or type(base).__name__
    return str(name), reward


def _weight(where: str, weight: Any) -> float:
    """A component's weight: a number (not a bool) that is a finite float64."""
    if isinstance(weight, bool) or not isinstance(weight, int | float | np.floating | np.integer):
        raise TrainerTypeError(f"{where}: weight must be a number, got {weight!r}")
    try:
        value = float(weight)
    except OverflowError:  # an int beyond float64
        value = math.inf
    if not math.isfinite(value):
        raise TrainerValueError(f"{where}: weight must be a finite float64")
    return value


class _Component:
    __slots__ = ("columns", "fn", "inputs", "kwargs", "name", "reference", "weight")

    def __init__(
        self,
        name: str,
        fn: Callable[..., Any],
        weight: float,
        kwargs: Mapping[str, Any],
        reference: bool,
    ) -> None:
        self.name = name
        self.fn = fn
        self.weight = weight
        self.kwargs = dict(kwargs)
        self.inputs: str | None = getattr(_base(fn), REWARD_INPUTS, None)
        self.reference = reference
        # a token reward's keywords are its parameters, never columns
        self.columns = Keywords() if self.inputs is not None else Keywords.of(fn)


class RewardPipeline:
    """Weighted rewards scored in one call: ``clip(Σ_k w_k · r_k(responses, references))``.

    ``rewards`` is a non-empty sequence of ``(reward, weight)`` or
    ``(reward, weight, kwargs)``; ``clip`` an optional ``(lo, hi)`` applied to the total.
    Component names (keys of :meth:`score_components`) are the reward names, with
    ``#2``, ``#3`` … appended to repeats.
    """

    __slots__ = ("_clip", "_components")

    def __init__(
        self, rewards: Sequence[Entry], *, clip: tuple[float, float] | None = None
    ) -> None:
        if isinstance(rewards, str | bytes) or not isinstance(rewards, Sequence):
            raise TrainerTypeError(
                "rewards: expected a sequence of (reward, weight) pairs, got "
                f"{type(rewards).__name__}"
            )
        if len(rewards) == 0:
            raise TrainerValueError("rewards: empty; give at least one (reward, weight)")
        components: list[_Component] = []
        seen: dict[str, int] = {}
        for i, entry in enumerate(rewards):
            where = f"rewards[{i}]"
            if not isinstance(entry, tuple) or len(entry) not in (2, 3):
                raise TrainerTypeError(
                    f"{where}: expected (reward, weight) or (reward, weight, kwargs), got {entry!r}"
                )
            reward, weight = entry[0], entry[1]
            kwargs: Any = entry[2] if len(entry) == 3 else {}
            if not isinstance(kwargs, Mapping):
                raise TrainerTypeError(f"{where}: kwargs must be a mapping, got {kwargs!r}")
            weight = _weight(where, weight)
            name, fn = _resolve(reward, where)
            seen[name] = seen.get(name, 0) + 1
            if seen[name] > 1:
                name = f"{name}#{seen[name]}"
            reference = compares_pairs(reward)
            components.append(_Component(name, fn, float(weight), kwargs, reference))
        if clip is not None:
            try:
                lo, hi = (float(clip[0]), float(clip[1]))
            except (TypeError, ValueError, IndexError):
                raise TrainerTypeError(f"clip: expected (lo, hi) or None, got {clip!r}") from None
            if len(clip) != 2 or math.isnan(lo) or math.isnan(hi) or lo > hi:
                raise TrainerValueError(f"clip: needs (lo, hi) with lo <= hi, got {clip!r}")
            self._clip: tuple[float, float] | None = (lo, hi)
        else:
            self._clip = None
        self._components = tuple(components)

    @staticmethod
    def per_item(fn: Callable[[Any, Any], float], *, name: str | None = None) -> PerItemReward:
        """Wrap a per-item reward ``fn(output: str, expected: str) -> float``."""
        return PerItemReward(fn, name)

    @property
    def names(self) -> tuple[str, ...]:
        """Component names, in order."""
        return tuple(c.name for c in self._components)

    @property
    def weights(self) -> tuple[float, ...]:
        """Component weights, in order."""
        return tuple(c.weight for c in self._components)

    @property
    def needs_reference(self) -> bool:
        """Whether a component compares each response with its reference (a reward name
        or package function scored on pairs)."""
        return any(c.reference for c in self._components)

    @property
    def clip(self) -> tuple[float, float] | None:
        """The ``(lo, hi)`` bounds of the total, or ``None``."""
        return self._clip

    def score_components(
        self,
        responses: Any,
        references: Any,
        *,
        response_tokens: RaggedTokens | None = None,
        reference_tokens: RaggedTokens | None = None,
        **columns: Sequence[Any],
    ) -> dict[str, Scores]:
        """Each component's raw (unweighted) float32 scores, by name; *columns* go to the
        components that take them."""
        tok_resp = responses if isinstance(responses, RaggedTokens) else response_tokens
        tok_ref = references if isinstance(references, RaggedTokens) else reference_tokens
        rows = _batch_rows(responses, tok_resp)
        offered: dict[str, Any] = dict(columns)
        for key, tokens in (("response_tokens", tok_resp), ("reference_tokens", tok_ref)):
            if tokens is not None:
                offered[key] = tokens
        out: dict[str, Scores] = {}
        for c in self._components:
            if c.inputs is not None and tok_resp is None:
                raise TrainerValueError(
                    f"response_tokens: component {c.name!r} scores tokens; pass RaggedTokens "
                    "as responses or as response_tokens="
                )
            if c.inputs == "pair" and tok_ref is None:
                raise TrainerValueError(
                    f"reference_tokens: component {c.name!r} scores tokens; pass RaggedTokens "
                    "as references or as reference_tokens="
                )
            try:
                if c.inputs == "pair":
                    raw = c.fn(tok_resp, tok_ref, **c.kwargs)
                elif c.inputs == "responses":
                    raw = c.fn(tok_resp, **c.kwargs)
                else:
                    raw = c.fn(responses, references, **{**c.columns.pick(offered), **c.kwargs})
            except Exception as e:
                e.add_note(f"in reward component {c.name!r}")
                raise
            out[c.name] = _as_scores(raw, c.name, rows)
        return out

    def combine(self, components: Mapping[str, Scores]) -> Scores:
        """``clip(Σ_k w_k · components[name_k])`` in Rust, summed in float64 and rounded
        once to float32; checks lengths and finiteness. A total beyond float32 (after
        ``clip``) raises ``TrainerValueError`` naming the row and the component of the
        largest ``|w_k · r_k|`` there: ``word_f1[3]: the weighted total overflows float32
        (inf); lower its weight or clip the total``."""
        missing = [c.name for c in self._components if c.name not in components]
        if missing:
            raise TrainerValueError(f"components: missing {missing[0]!r}")
        names = [c.name for c in self._components]
        arrays = [_as_scores(components[n], n) for n in names]
        return _core.combine_rewards(names, arrays, list(self.weights), self._clip)

    def score(
        self,
        responses: Any,
        references: Any,
        *,
        response_tokens: RaggedTokens | None = None,
        reference_tokens: RaggedTokens | None = None,
        **columns: Sequence[Any],
    ) -> tuple[Scores, dict[str, Scores]]:
        """``(total, components)`` in one pass."""
        parts = self.score_components(
            responses,
            references,
            response_tokens=response_tokens,
            reference_tokens=reference_tokens,
            **columns,
        )
        return self.combine(parts), parts

    def __call__(
        self,
        responses: Any,
        references: Any,
        *,
        response_tokens: RaggedTokens | None = None,
        reference_tokens: RaggedTokens | None = None,
        **columns: Sequence[Any],
    ) -> Scores:
        """The total: ``clip(Σ_k w_k · r_k)``, float32 ``(n,)``."""
        return self.score(
            responses,
            references,
            response_tokens=response_tokens,
            reference_tokens=reference_tokens,
            **columns,
        )[0]

    def __repr__(self) -> str:
        parts = ", ".join(f"({c.name!r}, {c.weight:g})" for c in self._components)
        clip = f", clip={self._clip}" if self._clip is not None else ""
        return f"RewardPipeline([{parts}]{clip})"


def _batch_rows(responses: Any, tokens: RaggedTokens | None) -> int | None:
    """How many scores each component must return, when the batch says."""
    for batch in (responses, tokens):
        if isinstance(batch, Sized):
            return len(batch)
    return None


def _as_scores(raw: Any, name: str, rows: int | None = None) -> Scores:
    """A component's output as a C-contiguous float32 ``(rows,)`` array (converted if
    needed); a scalar or an array of another shape is an error naming the component."""
    arr = np.asarray(raw)
    if arr.ndim != 1 or (rows is not None and arr.shape[0] != rows):
        want = "1-D (n,)" if rows is None else f"1-D ({rows},), one per response"
        raise TrainerValueError(f"{name}: returned scores of shape {arr.shape}, expected {want}")
    if arr.dtype == np.float32 and arr.flags.c_contiguous:
        return arr
    if arr.dtype.kind not in "fiub":
        raise TrainerTypeError(
            f"{name}: returned an array of {arr.dtype}, expected numbers (float32 (n,))"
        )
    with np.errstate(over="ignore", invalid="ignore"):  # inf/NaN are reported by combine
        return np.ascontiguousarray(arr, dtype=np.float32)
