"""TrajectoryBatch: the one check, the kernels against NumPy references and verl's own
estimators and ``agg_loss``, the exports against verl's ``AgentLoopOutput`` and TRL's
``rollout_func`` consumer, and the trainer's multi-turn path."""

from __future__ import annotations

import os
import re
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orbiter.train.data import RaggedTokens, TrajectoryBatch
from orbiter.train.errors import TrainerError, TrainerTypeError, TrainerValueError
from orbiter.train.trajectories import turn_ends_from_mask

VOCAB = 50
MODES = [
    "token-mean",
    "token-sum",
    "seq-mean-token-sum",
    "seq-mean-token-sum-norm",
    "seq-mean-token-mean",
]

# ------------------------------------------------------------------------ the test batches


@dataclass
class Row:
    """One trajectory as plain lists: turn k is a tool span (k > 0) then sampled tokens."""

    prompt: list[int]
    ids: list[int] = field(default_factory=list)
    mask: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)
    turn_rewards: list[float] = field(default_factory=list)
    reward: float = 0.0


f32s = st.floats(-4, 4, width=32, allow_subnormal=False)
logprob = st.floats(-8, 0, width=32, allow_subnormal=False)


@st.composite
def rows(draw: Any, min_turns: int = 1, max_b: int = 5) -> list[Row]:
    out = []
    for _ in range(draw(st.integers(1, max_b))):
        row = Row(prompt=draw(st.lists(st.integers(0, VOCAB - 1), max_size=4)))
        for k in range(draw(st.integers(min_turns, 3))):
            if k:
                tool = draw(st.integers(1, 3))
                row.ids += draw(st.lists(st.integers(0, VOCAB - 1), min_size=tool, max_size=tool))
                row.mask += [0] * tool
                row.logprobs += [0.0] * tool
            n = draw(st.integers(1, 4))
            row.ids += draw(st.lists(st.integers(0, VOCAB - 1), min_size=n, max_size=n))
            row.mask += [1] * n
            row.logprobs += draw(st.lists(logprob, min_size=n, max_size=n))
            row.ends.append(len(row.ids))
            row.turn_rewards.append(draw(f32s))
        trailing = draw(st.integers(0, 2))
        row.ids += [1] * trailing
        row.mask += [0] * trailing
        row.logprobs += [0.0] * trailing
        row.reward = draw(f32s)
        out.append(row)
    return out


def build(rs: list[Row], **kw: Any) -> TrajectoryBatch:
    return TrajectoryBatch.from_sequences(
        [r.prompt for r in rs],
        [r.ids for r in rs],
        [r.mask for r in rs],
        [r.logprobs for r in rs],
        [r.ends for r in rs],
        turn_rewards=[r.turn_rewards for r in rs],
        rewards=[r.reward for r in rs],
        vocab_size=VOCAB,
        **kw,
    )


def padded(rs: list[Row], values: list[list[float]], width: int | None = None) -> np.ndarray:
    """The rows right-padded with 0 (independent of the core's padding)."""
    width = max((len(r.ids) for r in rs), default=0) if width is None else width
    out = np.zeros((len(rs), width), dtype=np.float32)
    for b, v in enumerate(values):
        out[b, : len(v)] = v
    return out


def ref_token_rewards(rs: list[Row], per: str) -> list[list[float]]:
    out = []
    for r in rs:
        t = [0.0] * len(r.ids)
        m = np.asarray(r.mask)
        if per == "trajectory":
            t[int(np.flatnonzero(m)[-1])] = r.reward
        else:
            start = 0
            for end, reward in zip(r.ends, r.turn_rewards, strict=True):
                t[start + int(np.flatnonzero(m[start:end])[-1])] = reward
                start = end
        out.append(t)
    return out


def groups_of(rs: list[Row], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 3, len(rs)).astype(np.int64)


SMALL = {
    "prompt_ids": [[1, 2], [3]],
    "response_ids": [[4, 5, 6, 7], [8, 9]],
    "trainable_mask": [[1, 0, 0, 1], [1, 1]],
    "logprobs": [[-0.5, 0.0, 0.0, -0.25], [-1.0, -2.0]],
    "turn_ends": [[1, 4], [2]],
    "turn_rewards": [[0.5, 1.0], [2.0]],
    "rewards": [1.0, 0.0],
    "vocab_size": 10,
}


def small(**changes: Any) -> TrajectoryBatch:
    return TrajectoryBatch.from_sequences(**{**SMALL, **changes})


# -------------------------------------------------------------------------- construction


def test_a_batch_holds_its_parts_in_the_list_layout() -> None:
    b = small()
    assert len(b) == 2 and b.vocab_size == 10
    assert b.response_ids.offsets.tolist() == [0, 4, 6]
    assert b.trainable_mask.dtype == np.uint8 and b.trainable_mask.tolist() == [1, 0, 0, 1, 1, 1]
    assert b.logprobs.dtype == np.float32
    assert b.turn_ends.values.tolist() == [1, 4, 2] and b.turn_ends.offsets.tolist() == [0, 2, 3]
    assert b.turn_rewards.tolist() == [0.5, 1.0, 2.0] and b.rewards.tolist() == [1.0, 0.0]
    assert b.lengths().tolist() == [4, 2]
    # what the batch relies on without looking again is its own and read-only
    for owned in (b.turn_ends.values, b.turn_rewards, b.rewards):
        assert not owned.flags.writeable


def test_arrays_are_held_without_a_copy() -> None:
    prompts = RaggedTokens(np.array([1, 2, 3], np.int32), np.array([0, 2, 3]))
    responses = RaggedTokens(np.array([4, 5, 6, 8, 9], np.int32), np.array([0, 3, 5]))
    mask = np.array([True, False, True, True, True])
    logprobs = np.array([-1, 0, -1, -2, -3], np.float32)
    rewards = np.array([1.0, 2.0], np.float32)
    b = TrajectoryBatch(prompts, responses, mask, logprobs, rewards=rewards)
    assert b.logprobs is logprobs
    assert np.shares_memory(b.trainable_mask, mask) and b.trainable_mask.dtype == np.uint8
    assert np.shares_memory(b.response_ids.values, responses.values)
    rewards[0] = 7.0  # the batch's rewards are its own copy
    assert b.rewards.tolist() == [1.0, 2.0]
    # no turn ends given: each run of trainable tokens is a turn
    assert b.turn_ends.values.tolist() == [1, 3, 2]
    # an int8, int64 or float32 mask is checked, then held as uint8
    for dtype in (np.int8, np.int64, np.float32):
        b2 = TrajectoryBatch(prompts, responses, mask.astype(dtype), logprobs)
        assert b2.trainable_mask.dtype == np.uint8 and not b2.trainable_mask.flags.writeable
        np.testing.assert_array_equal(b2.trainable_mask, mask)


@given(rows(min_turns=0))
@settings(max_examples=60, deadline=None)
def test_from_sequences_and_flat_arrays_build_the_same_batch(rs: list[Row]) -> None:
    a = build(rs)
    flat = TrajectoryBatch(
        RaggedTokens.from_sequences([r.prompt for r in rs], dtype=np.int64),
        RaggedTokens.from_sequences([r.ids for r in rs], dtype=np.int64),
        np.array([m for r in rs for m in r.mask], dtype=np.uint8),
        np.array([x for r in rs for x in r.logprobs], dtype=np.float32),
        [r.ends for r in rs],
        turn_rewards=np.array([x for r in rs for x in r.turn_rewards], dtype=np.float32),
        rewards=np.array([r.reward for r in rs], dtype=np.float32),
    )
    for x, y in [
        (a.prompt_ids.values, flat.prompt_ids.values),
        (a.response_ids.offsets, flat.response_ids.offsets),
        (a.trainable_mask, flat.trainable_mask),
        (a.logprobs, flat.logprobs),
        (a.turn_ends.values, flat.turn_ends.values),
        (a.turn_rewards, flat.turn_rewards),
    ]:
        np.testing.assert_array_equal(x, y)
    # the generated turns are the runs of trainable tokens
    read = turn_ends_from_mask([r.mask for r in rs])
    np.testing.assert_array_equal(read.values, a.turn_ends.values)
    np.testing.assert_array_equal(read.offsets, a.turn_ends.offsets)


def test_pickle_rebuilds_the_batch() -> None:
    import pickle

    b = pickle.loads(pickle.dumps(small()))
    assert b.turn_rewards.tolist() == [0.5, 1.0, 2.0] and b.vocab_size == 10
    assert b.response_ids.values.tolist() == [4, 5, 6, 7, 8, 9]
    assert "trajectories=2" in repr(b)


# --------------------------------------------------------------------------- bad inputs

BAD = [
    ({"trainable_mask": [[1, 0, 0, 1], [1, 2]]}, "trainable_mask[1][1]: must be 0 or 1, got 2"),
    ({"logprobs": [[-0.5, 0.0, 0.0, 0.25], [-1.0, -2.0]]}, "logprobs[0][3]: 0.25 is above 0"),
    ({"logprobs": [[-0.5, 0.0, 0.0, -0.25], [float("nan"), -2.0]]}, "logprobs[1][0]: NaN"),
    # a logprob vLLM could not give (TRL passes None) is a NaN at its position
    ({"logprobs": [[-0.5, 0.0, None, -0.25], [-1.0, -2.0]]}, "logprobs[0][2]: NaN is not"),
    ({"logprobs": [[-0.5, float("inf"), 0.0, -0.25], [-1, -2]]}, "logprobs[0][1]: inf"),
    (
        {"logprobs": [[-0.5, 0.0, 0.0], [-1.0, -2.0, -3.0]]},
        "logprobs[0]: has 3 values but response_ids[0] has 4 tokens",
    ),
    (
        {"trainable_mask": [[1, 0, 0, 1], [1]]},
        "trainable_mask[1]: has 1 values but response_ids[1] has 2 tokens",
    ),
    (
        {"response_ids": [[4, 5, 6, 7], [10, 9]]},
        "response_ids[1][0]: id 10 is outside the vocabulary [0, 10)",
    ),
    ({"prompt_ids": [[1, -2], [3]]}, "prompt_ids[0][1]: id -2 is outside the vocabulary"),
    ({"turn_ends": [[4, 1], [2]]}, "turn_ends[0][1]: 1 does not increase on turn_ends[0][0] = 4"),
    ({"turn_ends": [[1, 5], [2]]}, "turn_ends[0][1]: 5 is past the end of the response (4 tok"),
    ({"turn_ends": [[0, 4], [2]]}, "turn_ends[0][0]: must be > 0"),
    ({"turn_ends": [[4]]}, "turn_ends: has 1 trajectories but response_ids has 2"),
    (
        {"turn_rewards": [[0.5], [2.0]]},
        "turn_rewards[0]: has 1 values but turn_ends[0] has 2 turns",
    ),
    ({"turn_rewards": [[0.5, 1.0], [float("nan")]]}, "turn_rewards[1][0]: NaN is not allowed"),
    ({"rewards": [1.0]}, "rewards: has 1 values but the batch has 2 trajectories"),
    ({"rewards": [float("-inf"), 0.0]}, "rewards[0]: -inf is not allowed"),
    ({"prompt_ids": [[1, 2]]}, "response_ids: has 2 trajectories but prompt_ids has 1"),
    ({"vocab_size": 0}, "vocab_size: must be > 0, got 0"),
]


@pytest.mark.parametrize(("change", "message"), BAD)
def test_each_bad_input_names_the_trajectory_and_position(
    change: dict[str, Any], message: str
) -> None:
    with pytest.raises(TrainerValueError) as err:
        small(**change)
    assert str(err.value).startswith(message), str(err.value)
    assert isinstance(err.value, ValueError) and isinstance(err.value, TrainerError)


def test_wrong_types_are_type_errors_naming_the_argument() -> None:
    prompts = RaggedTokens(np.array([1], np.int32), np.array([0, 1]))
    responses = RaggedTokens(np.array([1, 2], np.int64), np.array([0, 2]))
    lp = np.zeros(2, np.float32)
    cases = [
        (lambda: small(trainable_mask=["ab", [1, 1]]), "trainable_mask[0]: expected a sequence"),
        (lambda: small(logprobs=[["x", 0, 0, 0], [0, 0]]), "logprobs: expected sequences"),
        (lambda: small(response_ids=5), "response_ids: expected a sequence of sequences"),
        (lambda: small(prompt_ids=[[1, "a"], [3]]), "prompt_ids[0][1]: expected an int, got str"),
        (
            lambda: TrajectoryBatch(prompts, responses, np.ones(2, np.int32), lp),
            "trainable_mask: expected a 1-D numpy.ndarray of bool, int8, uint8, int64 or "
            "float32, got int32",
        ),
        (
            lambda: TrajectoryBatch(prompts, responses, np.ones(2, np.uint8), lp),
            "response_ids: dtype int64 differs from prompt_ids' int32",
        ),
        (
            lambda: TrajectoryBatch(prompts, prompts, np.ones(1, np.uint8), np.zeros(1)),
            "logprobs: expected dtype float32, got float64",
        ),
    ]
    for make, message in cases:
        with pytest.raises(TrainerTypeError) as err:
            make()
        assert str(err.value).startswith(message), str(err.value)
    flat = TrajectoryBatch(prompts, prompts, np.ones(1, np.uint8), np.zeros(1, np.float32))
    with pytest.raises(TrainerValueError, match=r"^trainable_mask: has 2 values but resp"):
        TrajectoryBatch(prompts, prompts, np.ones(2, np.uint8), np.zeros(1, np.float32))
    assert len(flat) == 1


def test_kernels_refuse_what_they_cannot_do_by_name() -> None:
    b = small()
    cases = [
        (lambda: small(rewards=None).token_rewards(), "rewards: the batch holds no trajectory"),
        (lambda: b.grpo([0, 0, 1]), "group_ids: has 3 ids but the batch has 2 trajectories"),
        (lambda: b.rloo([0, 0], per="step"), "per: must be 'trajectory' or 'turn', got 'step'"),
        (lambda: b.loss_weights("seq-mean"), "mode: must be one of token-mean,"),
        (
            lambda: b.aggregate(np.array([0, 0, 0, np.nan, 0, 0], np.float32)),
            "values[0][3]: NaN is not finite on a trainable token",
        ),
        (lambda: b.loss_weights(dp_size=2), "batch_num_tokens: required when dp_size > 1"),
        (lambda: b.loss_weights(batch_num_tokens=-1.0), "batch_num_tokens: must be a finite"),
        (lambda: b.pad(np.zeros(3, np.float32)), "values: has 3 values but response_ids has 6"),
        (lambda: b.aggregate(np.zeros((2, 3), np.float32)), "values: its width 3 is narrower"),
        (lambda: b.broadcast([1.0]), "advantages: has 1 values but the batch has 2 traj"),
        (lambda: b.pad(b.logprobs, fill=1e39), "fill: 1e39 is not a finite float32 value"),
        (
            lambda: b.loss_weights("seq-mean-token-sum-norm", loss_scale_factor=1e-300),
            "loss_scale_factor: a loss weight overflows float32 (inf)",
        ),
        (
            lambda: b.aggregate(b.logprobs, "token-mean", batch_num_tokens=1e-300),
            "batch_num_tokens: a loss weight overflows float32 (inf)",
        ),
        (
            lambda: small(trainable_mask=[[1, 0, 0, 0], [1, 1]]).token_rewards("turn"),
            "turn_rewards[0][1]: turn 1 of trajectory 0 (response positions 1..4) has no "
            "trainable token",
        ),
    ]
    for make, message in cases:
        with pytest.raises(TrainerValueError) as err:
            make()
        assert str(err.value).startswith(message), str(err.value)


# ------------------------------------------------------------------ kernels against NumPy


@given(rows(), st.sampled_from(["trajectory", "turn"]))
@settings(max_examples=80, deadline=None)
def test_rewards_sit_on_the_last_trainable_token(rs: list[Row], per: str) -> None:
    b = build(rs)
    want = np.concatenate([np.asarray(t, np.float32) for t in ref_token_rewards(rs, per)])
    np.testing.assert_array_equal(b.token_rewards(per), want)
    scores = [r.reward for r in rs] if per == "trajectory" else [sum(r.turn_rewards) for r in rs]
    np.testing.assert_allclose(b.outcome_scores(per), scores, rtol=1e-6, atol=1e-6)


@given(rows(min_turns=0), st.integers(0, 2**16))
@settings(max_examples=60, deadline=None)
def test_advantages_are_the_group_estimators_on_trainable_tokens_only(
    rs: list[Row], seed: int
) -> None:
    from orbiter.train import advantages

    b = build(rs)
    ids = groups_of(rs, seed)
    mask = np.concatenate([np.asarray(r.mask, bool) for r in rs]) if rs else np.zeros(0, bool)
    starts = b.response_ids.offsets
    for per in ("trajectory", "turn"):
        scores = b.outcome_scores(per)
        for got, per_row in [
            (b.grpo(ids, per=per), advantages.grpo(scores, ids)),
            (b.rloo(ids, per=per), advantages.rloo(scores, ids)),
        ]:
            assert np.all(got[~mask] == 0.0)
            row_of = np.searchsorted(starts, np.arange(len(got)), side="right") - 1
            np.testing.assert_array_equal(got[mask], per_row[row_of[mask]])


@given(rows(), st.sampled_from(MODES))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_loss_weights_and_aggregate_follow_their_formulas(rs: list[Row], mode: str) -> None:
    b = build(rs)
    rng = np.random.default_rng(len(rs))
    loss = rng.normal(size=len(b.logprobs)).astype(np.float32)
    m = b.trainable_mask.astype(np.float64)
    offsets = b.response_ids.offsets
    n_b = np.array([sum(r.mask) for r in rs], dtype=np.float64)
    row = np.repeat(np.arange(len(rs)), np.diff(offsets))
    s = float((n_b > 0).sum())
    coefficient = {
        "token-mean": np.full(len(rs), 1 / m.sum()),
        "token-sum": np.ones(len(rs)),
        "seq-mean-token-sum": np.full(len(rs), 1 / s),
        "seq-mean-token-sum-norm": np.full(len(rs), 1 / (s * np.diff(offsets).max())),
        "seq-mean-token-mean": 1 / (n_b * s),
    }[mode]
    want_w = coefficient[row] * m
    np.testing.assert_allclose(b.loss_weights(mode), want_w, rtol=1e-6)
    want = float((want_w * loss).sum())
    assert b.aggregate(loss, mode) == pytest.approx(want, rel=1e-9, abs=1e-12)
    # padded values give the same, whatever sits in the padding
    wide = np.full((len(rs), int(np.diff(offsets).max()) + 2), np.nan, np.float32)
    for k in range(len(rs)):
        wide[k, : offsets[k + 1] - offsets[k]] = loss[offsets[k] : offsets[k + 1]]
    assert b.aggregate(wide, mode) == pytest.approx(want, rel=1e-9, abs=1e-12)


@given(rows(min_turns=0))
@settings(max_examples=40, deadline=None)
def test_padding_keeps_every_row(rs: list[Row]) -> None:
    b = build(rs)
    p = b.to_padded(pad_id=3)
    assert p.response_ids.shape == p.trainable_mask.shape == p.logprobs.shape
    np.testing.assert_array_equal(p.trainable_mask, padded(rs, [r.mask for r in rs]) != 0)
    np.testing.assert_array_equal(p.logprobs, padded(rs, [r.logprobs for r in rs]))
    back = RaggedTokens.from_padded(p.response_ids, p.response_mask)
    np.testing.assert_array_equal(back.values, b.response_ids.values)
    prompts = RaggedTokens.from_padded(p.prompt_ids, p.prompt_mask)
    np.testing.assert_array_equal(prompts.offsets, b.prompt_ids.offsets)
    wide = b.to_padded(max_len=p.response_ids.shape[1] + 3)
    assert wide.logprobs.shape[1] == p.logprobs.shape[1] + 3


# ---------------------------------------------------------------------- verl's own code


@pytest.fixture(scope="module")
def verl() -> Any:
    torch = pytest.importorskip("torch")
    core_algos = pytest.importorskip("verl.trainer.ppo.core_algos")
    return types.SimpleNamespace(torch=torch, core=core_algos)


@given(rows(), st.integers(0, 2**16), st.sampled_from(["trajectory", "turn"]))
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_grpo_and_rloo_equal_verls_estimators(
    verl: Any, rs: list[Row], seed: int, per: str
) -> None:
    torch = verl.torch
    b = build(rs)
    ids = groups_of(rs, seed)
    rewards = torch.from_numpy(padded(rs, ref_token_rewards(rs, per)))
    mask = torch.from_numpy(padded(rs, [r.mask for r in rs]))
    for normalize in (True, False):
        want, _ = verl.core.compute_grpo_outcome_advantage(
            rewards.clone(), mask, ids, norm_adv_by_std_in_grpo=normalize
        )
        got = b.pad(b.grpo(ids, per=per, normalize_std=normalize))
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-5, atol=1e-5)
    want, _ = verl.core.compute_rloo_outcome_advantage(rewards.clone(), mask, ids)
    np.testing.assert_allclose(b.pad(b.rloo(ids, per=per)), want.numpy(), rtol=1e-5, atol=1e-5)


@given(rows(), st.sampled_from(MODES), st.integers(0, 3))
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_weights_and_aggregate_equal_verls_agg_loss(
    verl: Any, rs: list[Row], mode: str, extra: int
) -> None:
    """verl's ``agg_loss`` on the padded loss matrix (padded *extra* columns past the longest
    response: its ``loss_mask.shape[-1]`` is then the horizon we are given)."""
    torch = verl.torch
    b = build(rs)
    width = int(b.lengths().max()) + extra
    loss = np.random.default_rng(width).normal(size=(len(rs), width)).astype(np.float32)
    mask = padded(rs, [r.mask for r in rs], width)
    loss *= mask != 0  # the padding of a real loss matrix is finite; verl multiplies it in
    horizon = None if extra == 0 else float(width)
    # verl sums in float32: agreement to float32 rounding of the sum of magnitudes
    close = {"rel": 1e-5, "abs": 1e-6 * b.aggregate(np.abs(loss), mode, loss_scale_factor=horizon)}
    want = float(verl.core.agg_loss(torch.from_numpy(loss), torch.from_numpy(mask), mode))
    assert b.aggregate(loss, mode, loss_scale_factor=horizon) == pytest.approx(want, **close)
    w = b.pad(b.loss_weights(mode, loss_scale_factor=horizon), max_len=width)
    assert float((torch.from_numpy(w) * torch.from_numpy(loss)).sum()) == pytest.approx(
        want, **close
    )
    # the global normalisers of data parallelism, as verl takes them
    tokens, seqs, scale = float(mask.sum() * 2), float(len(rs) * 2), 7.0
    want = float(
        verl.core.agg_loss(
            torch.from_numpy(loss),
            torch.from_numpy(mask),
            mode,
            dp_size=2,
            batch_num_tokens=tokens,
            global_batch_size=seqs,
            loss_scale_factor=scale,
        )
    )
    norms = {
        "dp_size": 2,
        "batch_num_tokens": tokens,
        "global_batch_size": seqs,
        "loss_scale_factor": scale,
    }
    close["abs"] = 1e-6 * b.aggregate(np.abs(loss), mode, **norms)
    assert b.aggregate(loss, mode, **norms) == pytest.approx(want, **close)


@pytest.fixture(scope="module")
def agent_loop() -> Any:
    pytest.importorskip("torch")
    return pytest.importorskip("verl.experimental.agent_loop.agent_loop")


def test_agent_loop_outputs_are_verls_own(agent_loop: Any) -> None:
    torch = pytest.importorskip("torch")
    b = small()
    metrics = [{"generate_sequences": 0.5, "tool_calls": 0.25}, {"num_preempted": 0}]
    outputs = [agent_loop.AgentLoopOutput(**d) for d in b.to_agent_loop_outputs(metrics=metrics)]
    assert [o.num_turns for o in outputs] == [4, 2]  # user, assistant, tool, assistant | 2
    assert outputs[0].metrics.generate_sequences == 0.5 and outputs[1].metrics.num_preempted == 0
    offsets = b.response_ids.offsets
    for k, o in enumerate(outputs):
        d = o.as_dict()
        lo, hi = int(offsets[k]), int(offsets[k + 1])
        assert d["prompts"].tolist() == SMALL["prompt_ids"][k]
        assert d["responses"].tolist() == b.response_ids.values[lo:hi].tolist()
        assert d["response_mask"].tolist() == b.trainable_mask[lo:hi].tolist()
        assert torch.equal(d["rollout_log_probs"], torch.from_numpy(b.logprobs[lo:hi].copy()))
        # verl's reward: on the last response token, which is the last trainable one here
        assert d["rm_scores"].tolist() == b.token_rewards()[lo:hi].tolist()
        assert d["extra_fields"]["turn_ends"] == SMALL["turn_ends"][k]
    back = TrajectoryBatch.from_agent_loop_outputs(outputs, vocab_size=10)
    assert_same(back, b)


def assert_same(a: TrajectoryBatch, b: TrajectoryBatch) -> None:
    for x, y in [
        (a.prompt_ids.values, b.prompt_ids.values),
        (a.prompt_ids.offsets, b.prompt_ids.offsets),
        (a.response_ids.values, b.response_ids.values),
        (a.response_ids.offsets, b.response_ids.offsets),
        (a.trainable_mask, b.trainable_mask),
        (a.logprobs, b.logprobs),
        (a.turn_ends.values, b.turn_ends.values),
        (a.turn_ends.offsets, b.turn_ends.offsets),
    ]:
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(x, y)
    for x, y in [(a.rewards, b.rewards), (a.turn_rewards, b.turn_rewards)]:
        assert (x is None) == (y is None)
        if x is not None:
            np.testing.assert_array_equal(x, y)


@given(rows(), st.booleans(), st.booleans())
@settings(max_examples=40, deadline=None)
def test_exports_round_trip_every_array(rs: list[Row], with_rewards: bool, per_turn: bool) -> None:
    b = TrajectoryBatch.from_sequences(
        [r.prompt for r in rs],
        [r.ids for r in rs],
        [r.mask for r in rs],
        [r.logprobs for r in rs],
        [r.ends for r in rs],
        turn_rewards=[r.turn_rewards for r in rs] if per_turn else None,
        rewards=[r.reward for r in rs] if with_rewards else None,
    )
    assert_same(TrajectoryBatch.from_agent_loop_outputs(b.to_agent_loop_outputs()), b)
    assert_same(TrajectoryBatch.from_trl_rollout(b.to_trl_rollout()), b)
    # without the turn ends (what verl's and TRL's own loops return), the mask gives them
    outputs = b.to_agent_loop_outputs()
    for o in outputs:
        del o["extra_fields"]["turn_ends"]
    assert_same(TrajectoryBatch.from_agent_loop_outputs(outputs), b)
    rollout = b.to_trl_rollout()
    del rollout["turn_ends"]
    assert_same(TrajectoryBatch.from_trl_rollout(rollout), b)


def test_imports_refuse_incomplete_outputs() -> None:
    outputs = small().to_agent_loop_outputs()
    outputs[1]["reward_score"] = None
    with pytest.raises(TrainerValueError, match=r"^outputs\[1\]\.reward_score: None"):
        TrajectoryBatch.from_agent_loop_outputs(outputs)
    del outputs[0]["response_mask"]
    with pytest.raises(TrainerValueError, match=r"^outputs\[0\]: has no 'response_mask'"):
        TrajectoryBatch.from_agent_loop_outputs(outputs)
    with pytest.raises(TrainerValueError, match="unknown key 'tokens'"):
        small().to_agent_loop_outputs(metrics={"tokens": 3.0})
    rollout = small().to_trl_rollout()
    del rollout["logprobs"]
    with pytest.raises(TrainerValueError, match=r"^output: has no 'logprobs'"):
        TrajectoryBatch.from_trl_rollout(rollout)


# ---------------------------------------------------------------- TRL's rollout_func path


def test_trls_grpo_trainer_consumes_the_rollout(tmp_path: Path) -> None:
    """TRL's own ``_generate_and_score_completions`` on what ``to_trl_rollout`` returns: the
    padded ids, its loss mask (``completion_mask * tool_mask``), the sampling logprobs, the
    extra keys its reward functions get, and its group advantages of our rewards."""
    trl = pytest.importorskip("trl")
    datasets = pytest.importorskip("datasets")
    torch = pytest.importorskip("torch")
    from tests.offline_models import bpe_tokenizer, tiny_gpt2

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    prompts = ["What is 1 + 2? ", "What is 3 + 4? "]
    tokenizer = bpe_tokenizer([*prompts, "<call>add 1 2</call> <result>3</result> 3 7"])
    dataset = datasets.Dataset.from_dict({"prompt": prompts, "solution": ["3", "7"]})
    made: list[TrajectoryBatch] = []
    seen: dict[str, Any] = {}

    def rollout(batch_prompts: list[str], trainer: Any) -> dict[str, list[Any]]:
        rng = np.random.default_rng(len(made))
        n = len(batch_prompts)
        ids = [rng.integers(0, len(tokenizer), 4 + k).tolist() for k in range(n)]
        mask = [[1, 1, 0, 0] + [1] * k for k in range(n)]
        logprobs = [[-0.5 * (t + 1) if m else 0.0 for t, m in enumerate(r)] for r in mask]
        batch = TrajectoryBatch.from_sequences(
            [tokenizer(p)["input_ids"] for p in batch_prompts],
            ids,
            mask,
            logprobs,
            rewards=rng.normal(size=n).astype(np.float32),
            vocab_size=len(tokenizer),
        )
        made.append(batch)
        return batch.to_trl_rollout()

    def reward(prompts: list[str], completions: list[str], **kwargs: Any) -> list[float]:
        seen.update(kwargs)
        return [float(r) for r in kwargs["reward"]]

    args = trl.GRPOConfig(
        output_dir=str(tmp_path),
        per_device_train_batch_size=4,
        num_generations=2,
        max_completion_length=8,
        report_to="none",
        use_cpu=True,
        bf16=False,
        mask_truncated_completions=False,
        save_strategy="no",
    )
    trainer = trl.GRPOTrainer(
        model=tiny_gpt2(tokenizer),
        reward_funcs=[reward],
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        rollout_func=rollout,
    )
    out = trainer._generate_and_score_completions([dataset[0], dataset[0], dataset[1], dataset[1]])
    (batch,) = made
    p = batch.to_padded(pad_id=tokenizer.pad_token_id)
    assert torch.equal(out["completion_ids"], torch.from_numpy(p.response_ids))
    assert torch.equal(out["completion_mask"].bool(), torch.from_numpy(p.response_mask))
    assert torch.equal(out["prompt_ids"], torch.from_numpy(p.prompt_ids))
    loss_mask = (out["completion_mask"] * out["tool_mask"]).bool()
    assert torch.equal(loss_mask, torch.from_numpy(p.trainable_mask))
    assert torch.equal(out["sampling_per_token_logps"], torch.from_numpy(p.logprobs))
    assert seen["turn_ends"] == [[2], [2, 5], [2, 6], [2, 7]]  # one turn per trainable run
    # TRL's GRPO: (r - mean_g) / (std_g + 1e-4) per completion, ours on each trainable token
    ours = batch.grpo([0, 0, 1, 1], eps=1e-4)
    first = batch.response_ids.offsets[:-1]
    np.testing.assert_allclose(out["advantages"].numpy(), ours[first], rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------ the trainer's multi-turn path


def test_the_multi_turn_rollout_returns_its_checked_trajectories() -> None:
    torch = pytest.importorskip("torch")
    from tests.test_agents import CALL, _ids, _rollout

    rollout, _, agent = _rollout([[CALL, _ids("5")], [CALL, _ids("6")]])
    batch = rollout.collect(agent.model, [0], torch.Generator())
    traj = batch.trajectories
    assert isinstance(traj, TrajectoryBatch)
    p = traj.to_padded(pad_id=rollout.tok.pad_token_id)
    assert torch.equal(batch.completion_ids, torch.from_numpy(p.response_ids))
    assert torch.equal(batch.trainable_mask, torch.from_numpy(p.trainable_mask))
    assert torch.equal(batch.rollout_logprobs, torch.from_numpy(p.logprobs))
    assert torch.equal(batch.prompt_ids, torch.from_numpy(p.prompt_ids))
    assert traj.rewards.tolist() == batch.rewards.tolist()
    ends = traj.turn_ends
    assert [ends[b].tolist() for b in range(len(traj))] == batch.turn_ends
    # the ids are checked against the model's vocabulary when the rollout knows it
    rollout, _, agent = _rollout([[CALL, _ids("5")], [CALL, _ids("6")]])
    rollout.vocab_size = 100
    with pytest.raises(TrainerValueError, match=r"^prompt_ids\[0\]\[\d+\]: id \d+ is outside"):
        rollout.collect(agent.model, [0], torch.Generator())


def test_the_trainers_grpo_and_rloo_broadcast_is_unchanged() -> None:
    pytest.importorskip("torch")
    from orbiter.train.torch.losses import AdvantageInputs, grpo_advantages, rloo_advantages

    rng = np.random.default_rng(0)
    rs = [
        Row(prompt=[1], ids=[3, 4, 5, 6], mask=[1, 0, 1, 1], logprobs=[-1, 0, -1, -1]),
        Row(prompt=[2], ids=[3, 4], mask=[1, 1], logprobs=[-1, -2]),
        Row(prompt=[2], ids=[3, 4, 5, 6, 7], mask=[1, 1, 0, 1, 0], logprobs=[-1, -1, 0, -1, 0]),
        Row(prompt=[1], ids=[8], mask=[1], logprobs=[-3]),
    ]
    scores = rng.normal(size=4).astype(np.float32)
    b = TrajectoryBatch.from_sequences(
        [r.prompt for r in rs],
        [r.ids for r in rs],
        [r.mask for r in rs],
        [r.logprobs for r in rs],
        rewards=scores,
    )
    mask = b.to_padded().trainable_mask.astype(np.float32)
    ids = np.array([0, 0, 1, 1])
    plain = AdvantageInputs(scores, mask, ids, None, 1.0, 1.0)
    ragged = AdvantageInputs(scores, mask, ids, None, 1.0, 1.0, trajectories=b)
    for estimator in (grpo_advantages, rloo_advantages):
        np.testing.assert_array_equal(estimator(ragged)[0], estimator(plain)[0])


def test_model_vocab_size_is_what_the_model_emits() -> None:
    pytest.importorskip("torch")
    from orbiter.train.torch import TinyCausalLM
    from orbiter.train.torch.batches import model_vocab_size
    from tests.offline_models import bpe_tokenizer, tiny_gpt2

    assert model_vocab_size(TinyCausalLM(d_model=16, n_layers=1, n_heads=2)) == 259
    pytest.importorskip("transformers")
    tokenizer = bpe_tokenizer(["a few words to train on"])
    assert model_vocab_size(tiny_gpt2(tokenizer)) == len(tokenizer)


# ---------------------------------------------------------------------------- the README


def test_the_readme_example_runs() -> None:
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = text.split("## Agents: tools and multi-turn rollouts", 1)[1].split("\n## ", 1)[0]
    (code,) = [c for c in re.findall(r"```python\n(.+?)\n```", section, re.S) if "Trajectory" in c]
    exec(compile(code, "README.md", "exec"), {})
