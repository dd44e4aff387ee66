"""TRL reward functions scored by orbiter's core: pass them in ``GRPOTrainer(reward_funcs=...)``.

TRL calls a reward function with keywords,
``f(prompts=, completions=, completion_ids=, **columns)``, where ``columns`` holds every
other dataset column (one value per completion), and takes one ``float`` (or ``None``, which
it treats as "no reward") per completion. :func:`reward_function` builds such a callable:

- completions are strings, or conversations (a list of ``{"role", "content"}`` messages):
  then the content of the last assistant message is scored (a content given as a list of
  parts is its text parts joined);
- the references come from ``columns[answer_column]``; ints and floats are written as text,
  a list of references means any of them (the best score counts);
- with ``math_equal`` an item whose gold cannot be judged (empty, unbalanced, too large:
  :attr:`~orbiter.train.rewards.MathStatus.GOLD_UNPARSEABLE`) gets ``None`` rather than a
  punishing 0;
- a :class:`~orbiter.train.rewards.RewardPipeline` with token rewards also gets TRL's
  ``completion_ids`` as ``response_tokens``.

The callable is an instance of a module-level class, so it pickles (TRL's async rollout
worker needs that), and has a ``__name__`` (``orbiter_math_equal``) for TRL's logs.
:func:`async_reward_function` gives the same reward as a coroutine function that scores in a
worker thread: the core releases the GIL, so TRL's ``asyncio.gather`` overlaps it with its
other async rewards.
"""

from __future__ import annotations

import asyncio
import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from orbiter.train._args import did_you_mean
from orbiter.train.data import RaggedTokens
from orbiter.train.errors import TrainerTypeError, TrainerValueError
from orbiter.train.rewards.pipeline import RewardPipeline
from orbiter.train.rewards.registry import TEXT_REWARDS, lookup, resolve_reward
from orbiter.train.rewards.text import MathStatus, math_equal

__all__ = ["AsyncTRLReward", "TRLReward", "async_reward_function", "reward_function"]

# Reference columns of the datasets TRL users bring, named in an error when
# ``answer_column`` is missing: TRL's own (solution), GSM8K (answer), MATH (solution).
_COMMON_ANSWER_COLUMNS = ("solution", "answer", "ground_truth", "reference", "target", "label")


def _completion_text(completion: Any, index: int) -> str:
    """A standard completion (str) or the last assistant message of a conversational one."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Sequence) and not isinstance(completion, bytes):
        for message in reversed(completion):
            if isinstance(message, dict) and message.get("role", "assistant") == "assistant":
                return _content_text(message.get("content"), index)
        raise TrainerTypeError(
            f"completions[{index}]: a conversation with no assistant message "
            f"(roles: {[m.get('role') for m in completion if isinstance(m, dict)]})"
        )
    raise TrainerTypeError(
        f"completions[{index}]: expected a str or a list of messages, "
        f"got {type(completion).__name__}"
    )


def _content_text(content: Any, index: int) -> str:
    if isinstance(content, str):
        return content
    if content is None:
        return ""
    if isinstance(content, Sequence):  # multimodal parts: [{"type": "text", "text": ...}]
        parts = [p.get("text", "") for p in content if isinstance(p, dict)]
        return "".join(str(p) for p in parts)
    raise TrainerTypeError(
        f"completions[{index}]: message content must be a str or a list of parts, "
        f"got {type(content).__name__}"
    )


def _reference_texts(value: Any, column: str, index: int) -> list[str] | None:
    """The accepted answers of one row (a list means any of them); ``None``: no reference."""
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, bool):
        raise TrainerTypeError(f"{column}[{index}]: a bool is not a reference answer")
    if isinstance(value, numbers.Integral):
        return [str(int(value))]
    if isinstance(value, numbers.Real):
        x = float(value)
        return [repr(x)] if math.isfinite(x) else None
    if isinstance(value, Sequence | np.ndarray) and not isinstance(value, bytes):
        texts: list[str] = []
        for item in value:
            more = _reference_texts(item, column, index)
            texts += more or []
        return texts or None
    raise TrainerTypeError(
        f"{column}[{index}]: expected a str, int, float or a list of them, "
        f"got {type(value).__name__}"
    )


def _spec_name(spec: Any) -> str:
    if isinstance(spec, str):
        return spec
    return str(getattr(spec, "__name__", type(spec).__name__))


class TRLReward:
    """A reward for TRL's ``GRPOTrainer`` (see the module docs). Build with
    :func:`reward_function`."""

    def __init__(self, spec: Any = "math_equal", *, answer_column: str = "solution") -> None:
        if not isinstance(answer_column, str) or not answer_column:
            raise TrainerTypeError(f"answer_column: expected a column name, got {answer_column!r}")
        if isinstance(spec, str):
            lookup(spec, "spec", TEXT_REWARDS)  # an unknown name lists the choices
        elif not callable(spec):
            raise TrainerTypeError(
                "spec: expected a core reward name, a RewardPipeline or a text function "
                f"fn(responses, references), got {type(spec).__name__}"
            )
        self.spec = spec
        self.answer_column = answer_column
        self.__name__ = f"orbiter_{_spec_name(spec)}"

    def _references(self, columns: dict[str, Any], n: int) -> list[list[str] | None]:
        if self.answer_column not in columns:
            names = [k for k in columns if k not in ("trainer_state", "log_extra", "log_metric")]
            common = [c for c in _COMMON_ANSWER_COLUMNS if c in names]
            hint = f"; pass answer_column={common[0]!r}" if common else ""
            raise TrainerValueError(
                f"answer_column: {self.answer_column!r} is not a dataset column "
                f"(columns: {', '.join(names) or 'none'}){hint}"
                f"{did_you_mean(self.answer_column, names) if not common else ''}"
            )
        values = list(columns[self.answer_column])
        if len(values) != n:
            raise TrainerValueError(
                f"{self.answer_column}: {len(values)} values for {n} completions"
            )
        return [_reference_texts(v, self.answer_column, i) for i, v in enumerate(values)]

    def _score_pairs(
        self, responses: list[str], golds: list[str], tokens: RaggedTokens | None
    ) -> list[float | None]:
        """One core call over the (response, gold) pairs."""
        if not responses:
            return []
        if self.spec == "math_equal":
            scores, status = math_equal(responses, golds, with_status=True)
            unjudged = status == MathStatus.GOLD_UNPARSEABLE
            return [None if u else float(s) for s, u in zip(scores, unjudged, strict=True)]
        if isinstance(self.spec, RewardPipeline):
            return [float(s) for s in self.spec(responses, golds, response_tokens=tokens)]
        _, scorer = resolve_reward(self.spec)
        return [float(s) for s in scorer(responses, golds)]

    def __call__(
        self,
        prompts: Sequence[Any] | None = None,
        completions: Sequence[Any] | None = None,
        completion_ids: Sequence[Sequence[int]] | None = None,
        **columns: Any,
    ) -> list[float | None]:
        """One score per completion; ``None`` where it cannot be judged."""
        if completions is None:
            raise TrainerTypeError("completions: required (TRL passes it by keyword)")
        texts = [_completion_text(c, i) for i, c in enumerate(completions)]
        references = self._references(columns, len(texts))
        owner: list[int] = []
        pairs: list[str] = []
        golds: list[str] = []
        for i, refs in enumerate(references):
            for gold in refs or []:
                owner.append(i)
                pairs.append(texts[i])
                golds.append(gold)
        tokens = None
        if completion_ids is not None and isinstance(self.spec, RewardPipeline):
            rows = [list(completion_ids[i]) for i in owner]
            tokens = RaggedTokens.from_sequences(rows)
        best: list[float | None] = [None] * len(texts)
        for i, s in zip(owner, self._score_pairs(pairs, golds, tokens), strict=True):
            current = best[i]
            if s is not None and (current is None or s > current):
                best[i] = s
        return best

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec!r}, answer_column={self.answer_column!r})"


class AsyncTRLReward(TRLReward):
    """:class:`TRLReward` as a coroutine function: it scores in a worker thread (the core
    runs without the GIL), so TRL gathers it alongside its other async rewards."""

    async def __call__(  # type: ignore[override]
        self,
        prompts: Sequence[Any] | None = None,
        completions: Sequence[Any] | None = None,
        completion_ids: Sequence[Sequence[int]] | None = None,
        **columns: Any,
    ) -> list[float | None]:
        score: Callable[..., list[float | None]] = super().__call__
        return await asyncio.to_thread(score, prompts, completions, completion_ids, **columns)


def reward_function(spec: Any = "math_equal", *, answer_column: str = "solution") -> TRLReward:
    """A TRL reward function scoring with *spec* (a core text reward name, a
    :class:`~orbiter.train.rewards.RewardPipeline` or a batched text function
    ``fn(responses, references) -> scores``) against the dataset column *answer_column*."""
    return TRLReward(spec, answer_column=answer_column)


def async_reward_function(
    spec: Any = "math_equal", *, answer_column: str = "solution"
) -> AsyncTRLReward:
    """:func:`reward_function` as a coroutine function (see :class:`AsyncTRLReward`)."""
    return AsyncTRLReward(spec, answer_column=answer_column)
