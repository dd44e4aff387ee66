"""The one table of reward names, and the one path from what a user passes to a scorer.

Every place that takes a reward by name reads :data:`REWARDS`: ``check_reward`` of both
trainers, :class:`~orbiter.train.rewards.RewardPipeline` and the verl score module. A name
has one meaning everywhere; where it can be scored both on token ids and on text
(``exact_match``: the response equals the reference), :attr:`RewardName.text` names the
text function, used where the responses are strings.

:func:`resolve_reward` turns a name, a pipeline, a :class:`~.spec.RewardSpec` or a callable
into one batched scorer whose output is checked (shape ``(n,)``, finite) on every call;
:func:`probe_reward` scores one example up front so that a broken reward fails at check
time, not after the first rollout; :func:`needs_reference` says whether a reward compares
each response with the record's reference answer.

**What a scorer hands on.** A trainer calls the scorer as ``scorer(responses, references,
response_tokens=..., columns=...)``: the generated token ids as
:class:`~orbiter.train.data.RaggedTokens`, and the dataset's other columns, one list of
values per column, a value per response (TRL's ``**columns``). A
:class:`~orbiter.train.rewards.RewardPipeline` gets all of them (and gives each component
what it takes); a batched callable of the user's gets, as keyword arguments, the columns
its signature names (every one when it has ``**kwargs``) and ``response_tokens`` when it
names it (or has ``**kwargs``); a per-item callable, a reward name and the package's own
functions get ``(responses, references)`` only.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import NDArray

from orbiter.train._args import did_you_mean
from orbiter.train.errors import TrainerError, TrainerTypeError, TrainerValueError
from orbiter.train.rewards.spec import RewardSpec
from orbiter.train.rewards.tokens import REWARD_INPUTS

if TYPE_CHECKING:
    from orbiter.train.data import RaggedTokens

__all__ = [
    "REWARDS",
    "TEXT_REWARDS",
    "BatchedReward",
    "Keywords",
    "RewardName",
    "compares_pairs",
    "lookup",
    "needs_reference",
    "probe_reward",
    "resolve_reward",
    "text_reward",
]


@dataclass(frozen=True, slots=True)
class RewardName:
    """One reward name: the function of :mod:`orbiter.train.rewards` that scores it, what
    that function reads, and the function that scores it on text pairs (``None`` when the
    reward needs token ids)."""

    name: str
    function: str
    inputs: Literal["texts", "text_pairs", "token_pairs", "token_responses"]
    text: str | None


def _entries() -> dict[str, RewardName]:
    texts = ("math_equal", "exact_text_match", "normalized_exact_match", "word_f1")
    entries = [RewardName(n, n, "text_pairs", n) for n in texts]
    entries.append(RewardName("regex_match", "regex_match", "texts", None))
    entries.append(RewardName("exact_match", "exact_match", "token_pairs", "exact_text_match"))
    entries += [RewardName(n, n, "token_pairs", None) for n in ("prefix_match", "contains")]
    entries.append(RewardName("token_f1", "token_f1", "token_pairs", None))
    entries += [
        RewardName(n, n, "token_responses", None)
        for n in ("length_penalty", "repetition_penalty", "stop_token_check")
    ]
    return {e.name: e for e in entries}


REWARDS: dict[str, RewardName] = _entries()
"""Every reward name the package knows."""
TEXT_REWARDS: tuple[str, ...] = tuple(n for n, e in REWARDS.items() if e.text is not None)
"""The names that score ``(responses: list[str], references: list[str])`` pairs."""


def lookup(name: str, where: str, choices: Sequence[str] | None = None) -> RewardName:
    """The entry of *name* among *choices* (default: every name, and any function added to
    :mod:`orbiter.train.rewards` at run time); *where* names the argument in the error.

    Raises:
        TrainerValueError: an unknown name, with the known ones and the closest.
    """
    known = tuple(REWARDS) if choices is None else tuple(choices)
    if name not in known and choices is None:
        # a function added to orbiter.train.rewards at run time (a plugin, a test) is
        # a reward by its name too; the table lists the package's own
        from orbiter.train import rewards

        fn = getattr(rewards, name, None)
        if callable(fn) and not isinstance(fn, type) and not name.startswith("_"):
            inputs = getattr(fn, REWARD_INPUTS, None)
            kind: Any = "token_responses" if inputs == "responses" else "text_pairs"
            return RewardName(name, name, "token_pairs" if inputs == "pair" else kind, None)
    if name not in known:
        raise TrainerValueError(
            f"{where}: unknown reward {name!r} (known: {', '.join(known)})"
            f"{did_you_mean(name, known)}"
        )
    return REWARDS[name]


def text_reward(name: str, where: str = "reward_fn") -> Callable[..., Any]:
    """The function scoring the reward *name* on text pairs."""
    from orbiter.train import rewards

    entry = lookup(name, where, TEXT_REWARDS)
    assert entry.text is not None
    fn: Callable[..., Any] = getattr(rewards, entry.text)
    return fn


@dataclass(frozen=True, slots=True)
class Keywords:
    """The keyword arguments a reward callable takes besides ``(responses, references)``:
    those it names (``names``), or every one offered (``any``: it has ``**kwargs``)."""

    names: frozenset[str] = frozenset()
    any: bool = False

    @classmethod
    def of(cls, fn: Callable[..., Any]) -> Keywords:
        """What *fn* accepts, read once from its signature (none for the package's own
        functions, whose keywords are parameters such as ``style``, not columns)."""
        base = fn
        while isinstance(base, functools.partial):
            base = base.func
        if getattr(base, "__module__", "").startswith("orbiter.train."):
            return cls()
        try:
            params = list(inspect.signature(fn).parameters.values())
        except (TypeError, ValueError):
            return cls()
        if any(p.kind is p.VAR_KEYWORD for p in params):
            return cls(any=True)
        named = [p for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        # the first two positional parameters are the responses and the references
        keyword = [p.name for p in named if p.kind is p.KEYWORD_ONLY]
        positional = [p.name for p in named if p.kind is p.POSITIONAL_OR_KEYWORD]
        return cls(frozenset(keyword + positional[2:]))

    def pick(self, offered: Mapping[str, Any]) -> dict[str, Any]:
        """The entries of *offered* this callable takes."""
        if self.any:
            return dict(offered)
        return {k: v for k, v in offered.items() if k in self.names}


_ALL = Keywords(any=True)


@dataclass(frozen=True, slots=True)
class BatchedReward:
    """A checked batched scorer, what :func:`resolve_reward` returns: float32 ``(n,)`` for
    ``n`` responses, checked on every call (shape, finiteness), the reward *fn* handed the
    keywords it takes (see the module docstring)."""

    name: str
    fn: Callable[..., Any]
    keywords: Keywords

    def __call__(
        self,
        responses: Sequence[str],
        references: Sequence[str],
        *,
        response_tokens: RaggedTokens | None = None,
        reference_tokens: RaggedTokens | None = None,
        columns: Mapping[str, Sequence[Any]] | None = None,
    ) -> NDArray[np.float32]:
        offered: dict[str, Any] = dict(columns or {})
        for key, tokens in (
            ("response_tokens", response_tokens),
            ("reference_tokens", reference_tokens),
        ):
            if tokens is not None:
                offered[key] = tokens
        name = self.name
        values = np.asarray(
            self.fn(responses, references, **self.keywords.pick(offered)), dtype=np.float32
        )
        if values.shape != (len(responses),):
            raise TrainerError(
                f"reward {name} returned shape {values.shape}, expected ({len(responses)},)"
            )
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise TrainerError(
                f"reward {name} returned {values[bad[0]]} for item {bad[0]} "
                f"(output={responses[bad[0]]!r})"
            )
        return values


def _checked(name: str, fn: Callable[..., Any], keywords: Keywords | None = None) -> BatchedReward:
    return BatchedReward(name, fn, keywords or Keywords())


def _takes_pairs(fn: Callable[..., Any], name: str) -> None:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return  # builtins without a signature: trusted
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    positional = [p for p in params if p.kind in (*kinds, inspect.Parameter.VAR_POSITIONAL)]
    if len(positional) < 2 and not any(p.kind == p.VAR_POSITIONAL for p in positional):
        raise TrainerError(
            f"reward_fn {name} must take (output: str, expected: str), "
            f"its signature takes {len(positional)} positional argument(s)"
        )


def resolve_reward(reward_fn: Any | None, default: str = "math_equal") -> tuple[str, BatchedReward]:
    """``(name, scorer)`` for a text reward name (:data:`TEXT_REWARDS`), a
    :class:`~orbiter.train.rewards.RewardPipeline`, a batched callable (marked
    ``fn.batched = True``, or any function of ``orbiter.train.rewards``), a per-item callable
    ``fn(output: str, expected: str) -> float``, or a :class:`~.spec.RewardSpec`.

    The scorer returns float32 ``(n,)`` and raises :class:`TrainerError` naming the reward
    and the item when the function returns another shape or a non-finite score.
    """
    from orbiter.train.rewards.pipeline import PerItemReward, RewardPipeline

    if reward_fn is None:
        reward_fn = default
    if isinstance(reward_fn, str):
        return reward_fn, _checked(reward_fn, text_reward(reward_fn))
    if isinstance(reward_fn, RewardSpec):
        reward_fn = reward_fn.resolve()
    if not callable(reward_fn):
        raise TrainerTypeError(
            f"reward_fn must be a core reward name, a RewardPipeline, a callable or a "
            f"RewardSpec, got {type(reward_fn).__name__}"
        )
    name = getattr(reward_fn, "__name__", type(reward_fn).__name__)
    if isinstance(reward_fn, RewardPipeline):
        return name, _checked(name, reward_fn, _ALL)
    batched = (
        getattr(reward_fn, "batched", False) is True
        or isinstance(reward_fn, PerItemReward)
        or getattr(reward_fn, "__module__", "").startswith("orbiter.train.rewards")
    )
    if batched:
        return name, _checked(name, reward_fn, Keywords.of(reward_fn))
    _takes_pairs(reward_fn, name)
    return name, _checked(name, PerItemReward(reward_fn, name))


def needs_reference(reward_fn: Any | None) -> bool:
    """Whether *reward_fn* (as :func:`resolve_reward` takes it) compares each response with
    the record's reference answer: a reward name (every text reward does; None is
    ``math_equal``), a package function scored on pairs, or a
    :class:`~orbiter.train.rewards.RewardPipeline` with such a component. The user's own
    function decides for itself (it gets ``""`` for a record without an answer)."""
    from orbiter.train.rewards.pipeline import RewardPipeline

    if reward_fn is None or isinstance(reward_fn, str):
        return True
    if isinstance(reward_fn, RewardPipeline):
        return reward_fn.needs_reference
    return compares_pairs(reward_fn)


def compares_pairs(fn: Any) -> bool:
    """Whether the package's reward *fn* (a name or one of its functions) scores a response
    against a reference; False for anything else."""
    if isinstance(fn, str):
        entry = REWARDS.get(fn)
        return entry is not None and entry.inputs in ("text_pairs", "token_pairs")
    while isinstance(fn, functools.partial):
        fn = fn.func
    if getattr(fn, REWARD_INPUTS, None) == "pair":
        return True
    if not getattr(fn, "__module__", "").startswith("orbiter.train.rewards"):
        return False
    return compares_pairs(getattr(fn, "__name__", ""))


def probe_reward(
    name: str,
    scorer: BatchedReward,
    output: str,
    expected: str,
    *,
    response_tokens: RaggedTokens | None = None,
    reference_tokens: RaggedTokens | None = None,
    columns: Mapping[str, Sequence[Any]] | None = None,
) -> float:
    """Score one example (its own reference as the output, with *response_tokens* and the
    example's *columns*) to catch broken rewards early."""
    try:
        value = float(
            scorer(
                [output],
                [expected],
                response_tokens=response_tokens,
                reference_tokens=reference_tokens,
                columns=columns,
            )[0]
        )
    except TrainerError:
        raise
    except Exception as err:
        raise TrainerError(f"reward {name} failed on a probe example: {err!r}") from err
    if not math.isfinite(value):
        raise TrainerError(f"reward {name} returned {value} on a probe example")
    return value
