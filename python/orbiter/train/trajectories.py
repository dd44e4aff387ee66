"""Batches of agent trajectories, token in, token out, checked once in the Rust core.

A trajectory is its prompt ids and a response that interleaves the ids the policy sampled
with the tool results and template tokens between turns, exactly as the policy read them.
:class:`TrajectoryBatch` holds a batch of them in Arrow's list layout (the layout of
:class:`~orbiter.train.data.RaggedTokens`): prompt ids and response ids, each ragged; on the
response offsets a trainable mask (1: sampled by the policy, 0: tool results and
scaffolding) and the rollout logprobs; per trajectory the turn ends (the response length
after each assistant turn, ragged) and optional per-turn rewards; and optional rewards, one
per trajectory.

The batch is checked once when it is built, every error naming the argument, the
trajectory and the position (``trainable_mask[3][17]: must be 0 or 1, got 2``); the kernels
(reward placement, GRPO and RLOO, verl's loss aggregation modes) then trust it, run in Rust
with the GIL released and return flat arrays on the response offsets, which :meth:`pad`
turns into ``(B, N)``. Exports to verl's ``AgentLoopOutput`` and to TRL's ``rollout_func``
output are lossless: :meth:`to_agent_loop_outputs` / :meth:`from_agent_loop_outputs` and
:meth:`to_trl_rollout` / :meth:`from_trl_rollout` round-trip every array.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import numpy as np
from numpy.typing import NDArray

from orbiter.train import _args, _core
from orbiter.train.advantages import _arr, _group_ids
from orbiter.train.errors import TrainerTypeError, TrainerValueError

if TYPE_CHECKING:
    from orbiter.train.data import RaggedTokens

__all__ = [
    "LossAggMode",
    "PaddedTrajectories",
    "Per",
    "TrajectoryBatch",
    "given_or_mask_turn_ends",
    "turn_ends_from_mask",
]

F32: TypeAlias = NDArray[np.float32]
TokenArray: TypeAlias = NDArray[np.int32] | NDArray[np.int64]
Per = Literal["trajectory", "turn"]
"""Which rewards a kernel reads: ``rewards`` (one per trajectory) or ``turn_rewards``."""
LossAggMode = Literal[
    "token-mean",
    "token-sum",
    "seq-mean-token-sum",
    "seq-mean-token-sum-norm",
    "seq-mean-token-mean",
]
"""verl's ``loss_agg_mode`` names (``verl.trainer.ppo.core_algos.agg_loss``)."""


def _ragged_class() -> type[RaggedTokens]:
    # orbiter.train.data re-exports this module's class, so it is imported when used.
    from orbiter.train.data import RaggedTokens

    return RaggedTokens


def _ragged(value: Any, name: str) -> RaggedTokens:
    """*value* as int64 ``RaggedTokens`` (as given when it is one); errors name *name*."""
    ragged = _ragged_class()
    if isinstance(value, ragged):
        return value
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise TrainerTypeError(
            f"{name}: expected RaggedTokens or a sequence of sequences, got {type(value).__name__}"
        )
    try:
        return ragged.from_sequences(value, dtype=np.int64)
    except (TrainerTypeError, TrainerValueError) as err:
        # from_sequences names its argument "sequences"; here it is *name*.
        message = str(err)
        if message.startswith("sequences"):
            message = name + message.removeprefix("sequences")
        raise type(err)(message) from None


def _flatten(
    rows: Any, name: str, dtype: type[np.generic]
) -> tuple[NDArray[Any], NDArray[np.int64]]:
    """Rows of numbers as ``(values, offsets)``; a row that is not a sequence of numbers is
    a ``TrainerTypeError`` naming it."""
    if isinstance(rows, str | bytes) or not isinstance(rows, Iterable):
        raise TrainerTypeError(
            f"{name}: expected a sequence of sequences, got {type(rows).__name__}"
        )
    rows = list(rows)
    for i, row in enumerate(rows):
        if isinstance(row, str | bytes) or not isinstance(row, Sequence | np.ndarray):
            raise TrainerTypeError(
                f"{name}[{i}]: expected a sequence of numbers, got {type(row).__name__}"
            )
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, rows), np.int64, len(rows)), out=offsets[1:])
    try:
        values = np.fromiter(itertools.chain.from_iterable(rows), dtype, int(offsets[-1]))
    except (TypeError, ValueError, OverflowError) as err:
        raise TrainerTypeError(f"{name}: expected sequences of numbers ({err})") from None
    return values, offsets


def _turns(turn_ends: Any) -> tuple[NDArray[np.int64] | None, NDArray[np.int64] | None]:
    """``(values, offsets)`` of the turn ends, or ``(None, None)`` for the core to read them
    off the mask."""
    if turn_ends is None:
        return None, None
    ragged = _ragged(turn_ends, "turn_ends")
    return ragged.values.astype(np.int64, copy=False), ragged.offsets


@dataclass(frozen=True, slots=True)
class PaddedTrajectories:
    """A batch padded for a model: prompts on the left, responses on the right.

    Attributes:
        prompt_ids: (B, P) ids, left-padded with the pad id.
        prompt_mask: (B, P) bool, true on prompt tokens.
        response_ids: (B, N) ids, right-padded.
        response_mask: (B, N) bool, true on response tokens (sampled and tool tokens).
        trainable_mask: (B, N) bool, true on the tokens the policy sampled.
        logprobs: (B, N) float32 rollout logprobs, 0 on padding.
    """

    prompt_ids: TokenArray
    prompt_mask: NDArray[np.bool_]
    response_ids: TokenArray
    response_mask: NDArray[np.bool_]
    trainable_mask: NDArray[np.bool_]
    logprobs: F32


class TrajectoryBatch:
    """A batch of agent trajectories in Arrow's list layout, checked once, then trusted.

    ``TrajectoryBatch(prompt_ids, response_ids, trainable_mask, logprobs, turn_ends)`` takes
    prompts and responses as :class:`~orbiter.train.data.RaggedTokens` (or sequences of id
    sequences, as int64), and flat arrays on the response offsets: ``trainable_mask`` (bool,
    uint8 held as given; int8, int64 or float32 copied to uint8 after the check) and
    ``logprobs``
    (float32, held as given). ``turn_ends`` is ragged (RaggedTokens or sequences): per
    trajectory, the response length after each assistant turn; None reads them off the
    mask (:func:`turn_ends_from_mask`: each run of trainable tokens is one turn).
    ``turn_rewards`` (flat float32 on the turns' offsets) and ``rewards`` (float32, one per
    trajectory) are optional. ``vocab_size`` bounds every id. :meth:`from_sequences` builds
    from per-trajectory lists.

    Checked once, in Rust: as many trajectories in each part; ids, mask and logprobs of
    equal length per trajectory; masks 0/1; logprobs finite everywhere and ``<= 0`` on
    trainable tokens; ids in ``[0, vocab_size)``; turn ends strictly increasing, ``> 0`` and
    at most the response length; one finite reward per turn and per trajectory. An error
    is a ``TrainerValueError`` / ``TrainerTypeError`` naming the argument, the trajectory and
    the position. The batch keeps read-only copies of the turns and rewards; the id, mask
    and logprob arrays are the caller's, and must not be written while the batch lives.

    Kernels return float32 arrays flat on the response offsets (``B`` rows of the
    responses' lengths, concatenated); :meth:`pad` makes them ``(B, N)``.
    """

    __slots__ = ("_native",)

    _native: _core.TrajectoryBatch

    def __init__(
        self,
        prompt_ids: RaggedTokens | Sequence[Sequence[int]],
        response_ids: RaggedTokens | Sequence[Sequence[int]],
        trainable_mask: NDArray[Any],
        logprobs: F32,
        turn_ends: RaggedTokens | Sequence[Sequence[int]] | None = None,
        *,
        turn_rewards: F32 | None = None,
        rewards: F32 | Sequence[float] | None = None,
        vocab_size: int | None = None,
    ) -> None:
        prompts = _ragged(prompt_ids, "prompt_ids")
        responses = _ragged(response_ids, "response_ids")
        ends, offsets = _turns(turn_ends)
        self._native = _core.TrajectoryBatch(
            prompts._native,
            responses._native,
            _arr("trainable_mask", trainable_mask, np.float32),
            _arr("logprobs", logprobs, np.float32),
            ends,
            offsets,
            turn_rewards=None
            if turn_rewards is None
            else _arr("turn_rewards", turn_rewards, np.float32),
            rewards=None if rewards is None else _arr("rewards", rewards, np.float32),
            vocab_size=_args.optional_integer("vocab_size", vocab_size),
        )

    @classmethod
    def from_sequences(
        cls,
        prompt_ids: Iterable[Sequence[int]],
        response_ids: Iterable[Sequence[int]],
        trainable_mask: Iterable[Sequence[int | bool]],
        logprobs: Iterable[Sequence[float]],
        turn_ends: Iterable[Sequence[int]] | None = None,
        *,
        turn_rewards: Iterable[Sequence[float]] | None = None,
        rewards: Sequence[float] | F32 | None = None,
        vocab_size: int | None = None,
    ) -> TrajectoryBatch:
        """Build from one list per trajectory in each part (ids as int64, masks and logprobs
        as float32 before the check): a row of another length than its response is named
        (``logprobs[2]: has 5 values but response_ids[2] has 6 tokens``)."""
        prompts = _ragged(_rows(prompt_ids, "prompt_ids"), "prompt_ids")
        responses = _ragged(_rows(response_ids, "response_ids"), "response_ids")
        mask, mask_offsets = _flatten(trainable_mask, "trainable_mask", np.float32)
        lp, lp_offsets = _flatten(logprobs, "logprobs", np.float32)
        ends, offsets = _turns(None if turn_ends is None else _rows(turn_ends, "turn_ends"))
        tr, tr_offsets = (None, None)
        if turn_rewards is not None:
            tr, tr_offsets = _flatten(turn_rewards, "turn_rewards", np.float32)
        batch = cls.__new__(cls)
        batch._native = _core.TrajectoryBatch(
            prompts._native,
            responses._native,
            mask,
            lp,
            ends,
            offsets,
            mask_offsets=mask_offsets,
            logprob_offsets=lp_offsets,
            turn_rewards=tr,
            turn_reward_offsets=tr_offsets,
            rewards=None if rewards is None else _arr("rewards", rewards, np.float32),
            vocab_size=_args.optional_integer("vocab_size", vocab_size),
        )
        return batch

    # -- accessors ---------------------------------------------------------------------

    @property
    def prompt_ids(self) -> RaggedTokens:
        """The prompts (ragged ids)."""
        return _ragged_class()._wrap(self._native.prompt_ids)

    @property
    def response_ids(self) -> RaggedTokens:
        """The responses (ragged ids): sampled and tool/template tokens, as sampled."""
        return _ragged_class()._wrap(self._native.response_ids)

    @property
    def trainable_mask(self) -> NDArray[np.uint8]:
        """1 on tokens the policy sampled, 0 elsewhere (uint8, flat on the response offsets)."""
        return self._native.trainable_mask

    @property
    def logprobs(self) -> F32:
        """Rollout logprob of each response token (float32, flat on the response offsets)."""
        return self._native.logprobs

    @property
    def turn_ends(self) -> RaggedTokens:
        """Per trajectory, the response length after each assistant turn (int64, read-only)."""
        return _ragged_class()._wrap(self._native.turn_ends)

    @property
    def turn_rewards(self) -> F32 | None:
        """One reward per turn, flat on the turns' offsets (float32, read-only), or None."""
        return self._native.turn_rewards

    @property
    def rewards(self) -> F32 | None:
        """One reward per trajectory (float32, read-only), or None."""
        return self._native.rewards

    @property
    def vocab_size(self) -> int | None:
        """The vocabulary the ids were checked against, or None."""
        return self._native.vocab_size

    def __len__(self) -> int:
        return len(self._native)

    def lengths(self) -> NDArray[np.int64]:
        """Response lengths, tool tokens included (int64)."""
        return self.response_ids.lengths()

    def num_turns(self) -> NDArray[np.int64]:
        """verl's ``AgentLoopOutput.num_turns`` per trajectory (user, assistant and tool
        turns, as its ``ToolAgentLoop`` counts them): ``1 + T_b + U_b``, with ``T_b`` the
        assistant turns and ``U_b`` the turn ends followed by a non-trainable token (a tool
        result)."""
        return self._native.num_turns()

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild,
            (
                self.prompt_ids,
                self.response_ids,
                self.trainable_mask,
                self.logprobs,
                self.turn_ends,
                self.turn_rewards,
                self.rewards,
                self.vocab_size,
            ),
        )

    def __repr__(self) -> str:
        return (
            f"TrajectoryBatch(trajectories={len(self)}, tokens={len(self.logprobs)}, "
            f"turns={len(self.turn_ends.values)}, rewards={self.rewards is not None}, "
            f"turn_rewards={self.turn_rewards is not None})"
        )

    # -- rewards and advantages -----------------------------------------------------------

    def token_rewards(self, per: Per = "trajectory") -> F32:
        """Token-level rewards, flat on the response offsets (float32).

        ``per="trajectory"``: ``r[b, t] = rewards[b]`` at trajectory ``b``'s last trainable
        token, 0 elsewhere. ``per="turn"``: ``r[b, t] = turn_rewards[b][k]`` at the last
        trainable token of turn ``k`` (the tokens after ``turn_ends[b][k - 1]``, or from 0,
        up to ``turn_ends[b][k]``). A trajectory or turn without a trainable token raises,
        naming it.
        """
        return self._native.token_rewards(_args.text("per", per))

    def outcome_scores(self, per: Per = "trajectory") -> F32:
        """Each trajectory's outcome score ``s_b = sum_t r[b, t]`` (verl's
        ``token_level_rewards.sum(-1)``): ``rewards[b]``, or ``sum_k turn_rewards[b][k]``
        (float64, rounded once)."""
        return self._native.outcome_scores(_args.text("per", per))

    def grpo(
        self,
        group_ids: Any,
        *,
        per: Per = "trajectory",
        normalize_std: bool = True,
        eps: float = 1e-6,
    ) -> F32:
        """GRPO advantages on trainable tokens (verl ``compute_grpo_outcome_advantage`` with
        ``response_mask`` = the trainable mask), flat on the response offsets::

            A_b = (s_b - mean_g) / (std_g + eps)     if normalize_std
            A_b =  s_b - mean_g                      otherwise (Dr. GRPO)
            out[b, t] = A_b * trainable_mask[b, t]

        with ``s_b`` the :meth:`outcome_scores`, ``g`` the group of ``b`` (``group_ids`` as
        :func:`orbiter.train.advantages.grpo` takes them), ``std_g`` unbiased, and a
        singleton group's mean 0 and std 1. Group statistics in float64, rounded once.
        """
        return self._native.grpo(
            _group_ids(group_ids),
            _args.text("per", per),
            normalize_std=_args.flag("normalize_std", normalize_std),
            eps=_args.real("eps", eps),
        )

    def rloo(self, group_ids: Any, *, per: Per = "trajectory") -> F32:
        """RLOO advantages on trainable tokens (verl ``compute_rloo_outcome_advantage`` with
        ``response_mask`` = the trainable mask), flat on the response offsets::

            A_b = s_b * n / (n - 1) - mean_g * n / (n - 1)   for a group of n > 1
            A_b = s_b                                        for a singleton
            out[b, t] = A_b * trainable_mask[b, t]
        """
        return self._native.rloo(_group_ids(group_ids), _args.text("per", per))

    def broadcast(self, advantages: Any) -> F32:
        """``out[b, t] = advantages[b] * trainable_mask[b, t]``, flat (float32 ``(B,)`` in)."""
        return self._native.broadcast(_arr("advantages", advantages, np.float32))

    # -- loss aggregation ---------------------------------------------------------------

    def loss_weights(
        self,
        mode: LossAggMode = "token-mean",
        *,
        dp_size: int = 1,
        batch_num_tokens: float | None = None,
        global_batch_size: float | None = None,
        loss_scale_factor: float | None = None,
    ) -> F32:
        """Per-token weights ``w`` of verl's ``agg_loss`` mode, flat on the response offsets,
        so that ``agg_loss(L) == sum(w * L)`` (pad them and keep autograd in torch).

        With ``m`` the trainable mask, ``n_b`` trajectory ``b``'s trainable tokens, ``N`` all
        of them (or ``batch_num_tokens``), ``S`` the trajectories with ``n_b > 0`` (or
        ``global_batch_size``), ``H`` = ``loss_scale_factor`` (None: the longest response,
        verl's ``loss_mask.shape[-1]`` for a batch padded to its longest; pass the padded
        width to match a verl batch padded further) and ``D`` = ``dp_size``:

        - ``token-mean``: ``w = m D / N``
        - ``token-sum``: ``w = m D``
        - ``seq-mean-token-sum``: ``w = m D / S``
        - ``seq-mean-token-sum-norm`` (Dr. GRPO): ``w = m D / (S H)``
        - ``seq-mean-token-mean``: ``w = m D / ((n_b + 1e-8) S)`` (``n_b + 1e-8`` in float32,
          as verl)

        As verl, ``dp_size > 1`` needs the global normaliser of the mode. Where verl divides
        0 by 0 (no trainable token: ``N = 0`` or ``S = 0``) the weights are 0.
        """
        return self._native.loss_weights(
            _args.text("mode", mode),
            *_norms(dp_size, batch_num_tokens, global_batch_size, loss_scale_factor),
        )

    def aggregate(
        self,
        values: Any,
        mode: LossAggMode = "token-mean",
        *,
        dp_size: int = 1,
        batch_num_tokens: float | None = None,
        global_batch_size: float | None = None,
        loss_scale_factor: float | None = None,
    ) -> float:
        """verl's ``agg_loss`` of a per-token array: ``sum_bt w[b, t] values[b, t]`` with the
        :meth:`loss_weights` of *mode* (float64 sums). *values* is float32, flat on the
        response offsets or padded ``(B, W)`` with each response's tokens first (right
        padding, ``W`` at least the longest response). Values off the trainable mask are
        not read; a non-finite value on it raises, naming trajectory and position."""
        return self._native.aggregate(
            _arr("values", values, np.float32),
            _args.text("mode", mode),
            *_norms(dp_size, batch_num_tokens, global_batch_size, loss_scale_factor),
        )

    # -- padding ------------------------------------------------------------------------

    def pad(
        self,
        values: NDArray[Any],
        *,
        fill: float = 0.0,
        side: Literal["right", "left"] = "right",
        max_len: int | None = None,
    ) -> NDArray[Any]:
        """A per-token array flat on the response offsets (float32, uint8 or bool) as
        ``(B, W)``, ``W = max_len`` or the longest response, the rest ``fill`` (rows longer
        than ``max_len`` keep their first tokens)."""
        flags = isinstance(values, np.ndarray) and values.dtype == np.bool_
        padded = self._native.pad(
            values.view(np.uint8) if flags else values,
            _args.real("fill", fill),
            _args.text("side", side),
            _args.optional_integer("max_len", max_len),
        )
        return padded.view(np.bool_) if flags else padded

    def to_padded(self, pad_id: int = 0, *, max_len: int | None = None) -> PaddedTrajectories:
        """Prompts left-padded to the longest, responses and their mask and logprobs
        right-padded to ``max_len`` or the longest response, padding ids ``pad_id``."""
        prompt_ids, prompt_mask = self.prompt_ids.to_padded(pad_id, "left")
        response_ids, response_mask = self.response_ids.to_padded(pad_id, "right", max_len)
        trainable = self.pad(self.trainable_mask, max_len=max_len).view(np.bool_)
        return PaddedTrajectories(
            prompt_ids=prompt_ids,
            prompt_mask=prompt_mask,
            response_ids=response_ids,
            response_mask=response_mask,
            trainable_mask=trainable,
            logprobs=self.pad(self.logprobs, max_len=max_len),
        )

    # -- exports ------------------------------------------------------------------------

    def to_agent_loop_outputs(
        self, *, metrics: Mapping[str, float] | Sequence[Mapping[str, float]] | None = None
    ) -> list[dict[str, Any]]:
        """One dict of verl ``AgentLoopOutput`` fields per trajectory (``AgentLoopOutput(**d)``);
        see :func:`orbiter.train.integrations.verl_agent_loop.to_agent_loop_outputs`."""
        from orbiter.train.integrations import verl_agent_loop

        return verl_agent_loop.to_agent_loop_outputs(self, metrics=metrics)

    @classmethod
    def from_agent_loop_outputs(
        cls, outputs: Sequence[Any], *, vocab_size: int | None = None
    ) -> TrajectoryBatch:
        """The batch of verl ``AgentLoopOutput`` objects (or dicts of their fields); see
        :func:`orbiter.train.integrations.verl_agent_loop.from_agent_loop_outputs`."""
        from orbiter.train.integrations import verl_agent_loop

        return verl_agent_loop.from_agent_loop_outputs(outputs, vocab_size=vocab_size)

    def to_trl_rollout(self) -> dict[str, list[Any]]:
        """The dict a TRL ``GRPOTrainer`` ``rollout_func`` returns; see
        :func:`orbiter.train.integrations.trl_rollout.to_trl_rollout`."""
        from orbiter.train.integrations import trl_rollout

        return trl_rollout.to_trl_rollout(self)

    @classmethod
    def from_trl_rollout(
        cls, output: Mapping[str, Any], *, vocab_size: int | None = None
    ) -> TrajectoryBatch:
        """The batch of a TRL ``rollout_func`` output; see
        :func:`orbiter.train.integrations.trl_rollout.from_trl_rollout`."""
        from orbiter.train.integrations import trl_rollout

        return trl_rollout.from_trl_rollout(output, vocab_size=vocab_size)


def turn_ends_from_mask(trainable_mask: Iterable[Sequence[int | bool]]) -> RaggedTokens:
    """Turn ends read off per-trajectory trainable masks, for outputs that carry only the
    mask (TRL's ``env_mask``, verl's ``response_mask``): each maximal run of trainable
    tokens is one assistant turn, ending after its last token (int64, ragged)."""
    flat, offsets = _flatten(trainable_mask, "trainable_mask", np.float32)
    return _ragged_class()._wrap(_core.TrajectoryBatch.turn_ends_from_mask(flat, offsets))


def given_or_mask_turn_ends(
    trainable_mask: Sequence[Sequence[int | bool]], given: Sequence[Sequence[int] | None]
) -> list[Any]:
    """Each trajectory's *given* turn ends, or (None) those :func:`turn_ends_from_mask`
    reads off its mask."""
    if all(g is not None for g in given):
        return list(given)
    inferred = turn_ends_from_mask(trainable_mask)
    values, offsets = inferred.values.tolist(), inferred.offsets
    return [
        g if g is not None else values[int(offsets[b]) : int(offsets[b + 1])]
        for b, g in enumerate(given)
    ]


def _rows(rows: Any, name: str) -> list[Any]:
    if isinstance(rows, str | bytes) or not isinstance(rows, Iterable):
        raise TrainerTypeError(
            f"{name}: expected a sequence of sequences, got {type(rows).__name__}"
        )
    return list(rows)


def _optional_real(name: str, value: float | None) -> float | None:
    return None if value is None else _args.real(name, value)


def _norms(
    dp_size: int,
    batch_num_tokens: float | None,
    global_batch_size: float | None,
    loss_scale_factor: float | None,
) -> tuple[int, float | None, float | None, float | None]:
    """``agg_loss``'s normalisers, checked for type: ``(dp_size, batch_num_tokens,
    global_batch_size, loss_scale_factor)``."""
    return (
        _args.integer("dp_size", dp_size),
        _optional_real("batch_num_tokens", batch_num_tokens),
        _optional_real("global_batch_size", global_batch_size),
        _optional_real("loss_scale_factor", loss_scale_factor),
    )


def _rebuild(
    prompt_ids: RaggedTokens,
    response_ids: RaggedTokens,
    trainable_mask: NDArray[np.uint8],
    logprobs: F32,
    turn_ends: RaggedTokens,
    turn_rewards: F32 | None,
    rewards: F32 | None,
    vocab_size: int | None,
) -> TrajectoryBatch:
    return TrajectoryBatch(
        prompt_ids,
        response_ids,
        trainable_mask,
        logprobs,
        turn_ends,
        turn_rewards=turn_rewards,
        rewards=rewards,
        vocab_size=vocab_size,
    )
