"""The Rust lifecycle behind ``Trainer``: transitions, errors, threads, timing data."""

from __future__ import annotations

import itertools
import threading
from typing import Any

import pytest

from orbiter.train import TrainConfig, TrainerError, TrainerState, TrainMetrics, _core
from orbiter.train._core import Lifecycle
from orbiter.train.errors import TrainerValueError

from .conftest import RecordingTrainer

LEGAL = {
    (TrainerState.CREATED, TrainerState.VALIDATED),
    (TrainerState.VALIDATED, TrainerState.TRAINING),
    (TrainerState.TRAINING, TrainerState.COMPLETED),
    (TrainerState.TRAINING, TrainerState.FAILED),
}

PATH = {
    TrainerState.CREATED: [],
    TrainerState.VALIDATED: [TrainerState.VALIDATED],
    TrainerState.TRAINING: [TrainerState.VALIDATED, TrainerState.TRAINING],
    TrainerState.COMPLETED: [
        TrainerState.VALIDATED,
        TrainerState.TRAINING,
        TrainerState.COMPLETED,
    ],
    TrainerState.FAILED: [TrainerState.VALIDATED, TrainerState.TRAINING, TrainerState.FAILED],
}


def trainer_in(state: TrainerState) -> RecordingTrainer:
    trainer = RecordingTrainer()
    for step in PATH[state]:
        trainer._state = step
    assert trainer.state is state
    return trainer


@pytest.mark.parametrize(("source", "target"), list(itertools.product(TrainerState, TrainerState)))
def test_every_transition_is_legal_or_refused(source: TrainerState, target: TrainerState) -> None:
    trainer = trainer_in(source)
    before = trainer.history
    if (source, target) in LEGAL:
        trainer._state = target
        assert trainer.state is target
        assert trainer.history[-1][:2] == (source, target)
        return
    if source is target is TrainerState.CREATED:
        trainer._state = target  # re-stating the initial state is accepted, moves nothing
        assert trainer.history == before
        return
    with pytest.raises(TrainerError) as info:
        trainer._state = target
    message = str(info.value)
    assert f"'{source.value}'" in message
    assert f"{source.value} -> {target.value}" in message
    assert trainer.state is source
    assert trainer.history == before


@pytest.mark.parametrize("state", [s for s in TrainerState if s is not TrainerState.CREATED])
def test_mark_validated_outside_created_says_cannot_validate(state: TrainerState) -> None:
    trainer = trainer_in(state)
    with pytest.raises(TrainerError, match=r"^Cannot validate trainer in state '" + state.value):
        trainer.mark_validated()
    assert trainer.state is state


@pytest.mark.parametrize("state", [s for s in TrainerState if s is not TrainerState.VALIDATED])
def test_training_outside_validated_says_must_be_validated(state: TrainerState) -> None:
    trainer = trainer_in(state)
    with pytest.raises(TrainerError, match="must be validated"):
        trainer._require_validated()
    if state is not TrainerState.TRAINING:
        with pytest.raises(TrainerError, match="must be validated"):
            trainer._state = TrainerState.TRAINING
    assert trainer.state is state


async def test_train_before_validation_fails_and_stays_created() -> None:
    trainer = RecordingTrainer()
    with pytest.raises(TrainerError, match="must be validated"):
        await trainer.train()
    assert trainer.state is TrainerState.CREATED


async def test_second_train_is_refused() -> None:
    trainer = RecordingTrainer()
    trainer.mark_validated()
    await trainer.train()
    with pytest.raises(TrainerError, match="current state is 'completed'"):
        await trainer.train()


def test_assigning_a_non_state_is_refused(trainer: RecordingTrainer) -> None:
    with pytest.raises(TrainerError, match="not a TrainerState"):
        trainer._state = "running"
    assert trainer.state is TrainerState.CREATED


def test_core_rejects_unknown_state_names() -> None:
    lifecycle = Lifecycle()
    with pytest.raises(TrainerValueError, match="target: 'bogus' is not a trainer state"):
        lifecycle.transition("bogus")
    with pytest.raises(ValueError):
        lifecycle.check("bogus")


@pytest.mark.parametrize("round_", range(25))
def test_sixteen_threads_racing_on_mark_validated_have_one_winner(round_: int) -> None:
    trainer = RecordingTrainer()
    barrier = threading.Barrier(16)
    outcomes: list[str] = []
    lock = threading.Lock()

    def race() -> None:
        barrier.wait()
        try:
            trainer.mark_validated()
            result = "won"
        except TrainerError as err:
            assert str(err).startswith("Cannot validate")
            result = "lost"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=race) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["lost"] * 15 + ["won"]
    assert trainer.state is TrainerState.VALIDATED
    assert len(trainer.history) == 1


def test_threads_racing_through_the_whole_lifecycle() -> None:
    """Every thread tries every step; each step is taken exactly once overall."""
    trainer = RecordingTrainer()
    barrier = threading.Barrier(8)
    wins: list[TrainerState] = []
    lock = threading.Lock()

    def race(final: TrainerState) -> None:
        barrier.wait()
        for target in (TrainerState.VALIDATED, TrainerState.TRAINING, final):
            try:
                trainer._state = target
            except TrainerError:
                continue
            with lock:
                wins.append(target)

    finals = [TrainerState.COMPLETED, TrainerState.FAILED] * 4
    threads = [threading.Thread(target=race, args=(f,)) for f in finals]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == sorted([TrainerState.VALIDATED, TrainerState.TRAINING, trainer.state])
    assert trainer.state in (TrainerState.COMPLETED, TrainerState.FAILED)
    assert [t.target for t in trainer.history] == [
        TrainerState.VALIDATED,
        TrainerState.TRAINING,
        trainer.state,
    ]


async def test_history_is_monotonic_and_complete(trainer: RecordingTrainer) -> None:
    trainer.mark_validated()
    await trainer.train()
    history = trainer.history
    assert [(t.source, t.target) for t in history] == [
        (TrainerState.CREATED, TrainerState.VALIDATED),
        (TrainerState.VALIDATED, TrainerState.TRAINING),
        (TrainerState.TRAINING, TrainerState.COMPLETED),
    ]
    times = [t.at_ns for t in history]
    assert times == sorted(times)
    assert all(isinstance(t, int) and t >= 0 for t in times)
    assert trainer._lifecycle.elapsed_ns >= times[-1]


def test_checks_are_timed_and_recorded(trainer: RecordingTrainer) -> None:
    trainer.check_agent("a")
    trainer.check_dataset([1])
    trainer.fail_on.add("reward")
    with pytest.raises(TrainerError, match="reward rejected"):
        trainer.check_reward(None)
    records = trainer.checks
    assert [(r.name, r.passed) for r in records] == [
        ("check_agent", True),
        ("check_dataset", True),
        ("check_reward", False),
    ]
    assert all(r.duration_ns > 0 for r in records)
    assert [r.at_ns for r in records] == sorted(r.at_ns for r in records)
    assert trainer.validation_ns == sum(r.duration_ns for r in records)


def test_super_calls_are_timed_once() -> None:
    class Outer(RecordingTrainer):
        def check_agent(self, agent: Any) -> None:
            super().check_agent(agent)
            self.seen["outer"] = True

    trainer = Outer()
    trainer.check_agent("a")
    assert trainer.seen == {"agent": "a", "outer": True}
    assert [r.name for r in trainer.checks] == ["check_agent"]


def test_checks_keep_their_names_and_docs() -> None:
    assert RecordingTrainer.check_agent.__name__ == "check_agent"
    assert RecordingTrainer.check_agent.__qualname__ == "RecordingTrainer.check_agent"


def test_repr_names_state_and_config() -> None:
    text = repr(RecordingTrainer(TrainConfig(epochs=4)))
    assert text.startswith("RecordingTrainer(state='created'")
    assert "epochs=4" in text


async def test_evaluate_works_in_any_state(trainer: RecordingTrainer) -> None:
    assert await trainer.evaluate([1]) == TrainMetrics(accuracy=1.0, steps=1)


@pytest.mark.parametrize("detached", [False, True])
def test_rust_panics_surface_as_trainer_error(detached: bool) -> None:
    with pytest.raises(TrainerError, match="internal error in _panic_guard_selftest") as info:
        _core._panic_guard_selftest(detached)
    assert type(info.value) is TrainerError
    assert "deliberate panic" in str(info.value)
