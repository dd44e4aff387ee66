"""Token-level rewards over :class:`~orbiter.train.data.RaggedTokens`.

Each function scores ``n`` responses (against ``n`` references where it takes them)
and returns a float32 array of shape ``(n,)``. The work is one Rust kernel over the
token buffers with the GIL released (rayon above 16k rows); no Python object is made
per row. Responses and references must share a dtype (int32 or int64). An empty batch,
a row-count mismatch or a bad parameter raises ``TrainerValueError`` /
``TrainerTypeError`` naming the argument (and the first bad index).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable
from typing import Any, Literal, TypeVar

import numpy as np
from numpy.typing import NDArray

from orbiter.train import _args, _core
from orbiter.train.data import RaggedTokens
from orbiter.train.errors import TrainerTypeError, TrainerValueError

__all__ = [
    "contains",
    "exact_match",
    "length_penalty",
    "prefix_match",
    "repetition_penalty",
    "stop_token_check",
    "token_f1",
]

Scores = NDArray[np.float32]

#: Attribute marking a reward that is scored on tokens: RewardPipeline hands it
#: ``RaggedTokens``; its value says whether it takes references ("pair") or not
#: ("responses").
REWARD_INPUTS = "__orbiter_token_reward__"

F = TypeVar("F", bound=Callable[..., Any])


def _token_reward(inputs: Literal["pair", "responses"]) -> Callable[[F], F]:
    def mark(fn: F) -> F:
        setattr(fn, REWARD_INPUTS, inputs)
        return fn

    return mark


def _ragged(x: object, name: str) -> RaggedTokens:
    if not isinstance(x, RaggedTokens):
        raise TrainerTypeError(
            f"{name}: expected RaggedTokens, got {type(x).__name__} "
            "(build one with RaggedTokens.from_sequences / from_padded / from_arrow)"
        )
    return x


def _pair(reward: str, responses: RaggedTokens, references: RaggedTokens) -> NDArray[np.float32]:
    r = _ragged(responses, "responses")
    f = _ragged(references, "references")
    return _core.token_pair_reward(reward, r._native, f._native)


@_token_reward("pair")
def exact_match(responses: RaggedTokens, references: RaggedTokens) -> Scores:
    """``1.0`` where response ``i`` equals reference ``i`` token for token, else ``0.0``.

    Lengths are compared first, then the rows byte for byte.
    """
    return _pair("exact_match", responses, references)


@_token_reward("pair")
def prefix_match(responses: RaggedTokens, references: RaggedTokens) -> Scores:
    """``1.0`` where response ``i`` starts with reference ``i`` (an empty reference
    always matches), else ``0.0``."""
    return _pair("prefix_match", responses, references)


@_token_reward("pair")
def contains(responses: RaggedTokens, references: RaggedTokens) -> Scores:
    """``1.0`` where reference ``i`` occurs as a contiguous run of response ``i`` (an empty
    reference always does), else ``0.0``. Knuth-Morris-Pratt, linear per row."""
    return _pair("contains", responses, references)


@_token_reward("pair")
def token_f1(responses: RaggedTokens, references: RaggedTokens) -> Scores:
    """Bag-of-tokens F1 with counts (SQuAD's F1 over token ids).

    ``common = Σ_t min(count_resp(t), count_ref(t))``, ``P = common / len(resp)``,
    ``R = common / len(ref)``, ``F1 = 2·P·R / (P + R) = 2·common / (len(resp) + len(ref))``;
    ``0`` when ``common == 0``. When either row is empty: ``1`` if both are, else ``0``.
    """
    return _pair("token_f1", responses, references)


@_token_reward("responses")
def length_penalty(
    responses: RaggedTokens,
    *,
    kind: Literal["linear", "dapo"] = "linear",
    target: float | None = None,
    scale: float | None = None,
    max_len: int | None = None,
    cache_len: int | None = None,
    penalty_factor: float = 1.0,
) -> Scores:
    """A length penalty per response, ``L = len(response)``.

    ``kind="linear"`` (needs ``target``): ``-|L - target| / scale``, ``scale``
    defaulting to ``max(target, 1)`` (so ``-1`` at twice the target length).

    ``kind="dapo"`` (needs ``max_len``, ``cache_len``): DAPO's overlong soft penalty
    (Yu et al., 2025, eq. 13), times ``penalty_factor``::

        0                                        if L <= max_len - cache_len
        (max_len - cache_len - L) / cache_len    if max_len - cache_len < L <= max_len
        -1                                       if L > max_len

    This equals verl's ``DAPORewardManager`` overlong reward
    ``min(-(L - (max_len - cache_len)) / cache_len * penalty_factor, 0)`` for every
    ``L <= max_len`` (verl truncates responses at ``max_len``); beyond ``max_len`` the
    paper's ``-1`` is used where verl's formula would keep decreasing.

    Penalties are computed in float64 and rounded to float32; one beyond float32 (a
    ``target`` or ``penalty_factor`` near ``1e308``, a ``scale`` near ``5e-324``) raises
    ``TrainerValueError`` naming the first such row, ``responses[i]``.
    """
    r = _ragged(responses, "responses")
    kind = _args.text("kind", kind)  # type: ignore[assignment]
    if kind == "linear":
        if target is None:
            raise TrainerValueError("target: required for kind='linear'")
        goal = _args.real("target", target)
        s = _args.real("scale", scale) if scale is not None else max(goal, 1.0)
        return _core.length_penalty_linear(r._native, goal, s)
    if kind == "dapo":
        if max_len is None or cache_len is None:
            raise TrainerValueError(
                f"{'max_len' if max_len is None else 'cache_len'}: required for kind='dapo'"
            )
        return _core.length_penalty_dapo(
            r._native,
            _args.integer("max_len", max_len),
            _args.integer("cache_len", cache_len),
            _args.real("penalty_factor", penalty_factor),
        )
    raise TrainerValueError(f"kind: must be 'linear' or 'dapo', got {kind!r}")


@_token_reward("responses")
def repetition_penalty(responses: RaggedTokens, *, n: int = 3, max_penalty: float = -1.0) -> Scores:
    """N-gram repetition penalty: ``max_penalty · (1 - unique / total)`` where ``total =
    L - n + 1`` is the number of n-grams of the row and ``unique`` the number of distinct
    ones (compared exactly); ``0`` for rows shorter than ``n``.

    With the default ``max_penalty=-1`` a row without repeats scores 0 and one made of a
    single repeated n-gram approaches -1 (the form of open-r1's repetition reward);
    ``max_penalty=1`` gives the plain repeat rate ``1 - unique / total``. Cost per row is
    O(L·n) for ``n < 32`` and O(L·log n) from there (rank doubling), so long n-grams stay
    cheap.
    """
    r = _ragged(responses, "responses")
    return _core.repetition_penalty(
        r._native,
        _args.integer("n", n, minimum=1),
        _args.real("max_penalty", max_penalty),
    )


@_token_reward("responses")
def stop_token_check(responses: RaggedTokens, stop_ids: Iterable[int] | int) -> Scores:
    """Format check: ``1.0`` where the response's last token is one of ``stop_ids``
    (e.g. EOS), else ``0.0``; an empty response scores ``0.0``."""
    r = _ragged(responses, "responses")
    given: Any = stop_ids
    if isinstance(given, np.ndarray) and given.ndim == 0:
        given = given.item()  # a 0-d array is one id
    if isinstance(given, numbers.Integral):
        given = [given]
    if not isinstance(given, Iterable):
        raise TrainerTypeError(f"stop_ids: expected an int or ints, got {type(given).__name__}")
    stops = [_args.integer(f"stop_ids[{i}]", x) for i, x in enumerate(given)]
    return _core.stop_token_check(r._native, stops)
