"""The original package's records: ``input`` is the one required key; a reference answer
is required only by a reward that compares with one, and then before anything is written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from orbiter.train import TrainerError, TrainerState
from orbiter.train.verl import RewardSpec, VeRLTrainer
from tests.compat.rewards_for_tests import length_reward

FAKE_MAIN = str(Path(__file__).parents[1] / "fake_verl_main.py")
INPUTS = [{"input": "q1"}, {"input": "q2"}, {"input": "q3"}]


def trainer_for(tmp_path: Path, reward: Any, data: Any = INPUTS, **extra: Any) -> VeRLTrainer:
    trainer = VeRLTrainer()
    trainer.check_agent("org/model")
    trainer.check_dataset(data)
    trainer.check_reward(reward)
    trainer.check_config({"output_dir": str(tmp_path / "out"), "verl_entry": FAKE_MAIN, **extra})
    trainer.mark_validated()
    return trainer


@pytest.mark.parametrize("data", [INPUTS, tuple(INPUTS)], ids=["list", "tuple"])
def test_records_with_only_input_are_accepted(data: Any) -> None:
    trainer = VeRLTrainer()
    trainer.check_dataset(data, test_data=[{"input": "t1"}])
    assert [r["prompt"] for r in trainer._train_records] == ["q1", "q2", "q3"]
    assert [r["answer"] for r in trainer._train_records] == ["", "", ""]


def test_a_jsonl_file_of_input_only_records_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in INPUTS), encoding="utf-8")
    trainer = VeRLTrainer()
    trainer.check_dataset(str(path))
    assert len(trainer._train_records) == 3


async def test_a_reward_of_ones_own_trains_without_references(tmp_path: Path) -> None:
    trainer = trainer_for(tmp_path, length_reward, dry_run=True)
    await trainer.train()
    assert trainer.state is TrainerState.COMPLETED
    rows = pq.read_table(tmp_path / "out" / "data" / "train.parquet").to_pylist()
    assert [r["reward_model"]["ground_truth"] for r in rows] == ["", "", ""]


@pytest.mark.parametrize("reward", [None, "exact_match", "word_f1"])
async def test_a_core_reward_needs_references_and_says_why_before_writing(
    tmp_path: Path, reward: Any
) -> None:
    data = [{"input": "q0", "answer": "a"}, {"input": "q1"}]
    trainer = trainer_for(tmp_path, reward, data)
    with pytest.raises(ValueError, match=r"train_data\[1\] has no reference answer") as info:
        await trainer.train()
    assert isinstance(info.value, TrainerError)
    assert "scores each response against one" in str(info.value)
    assert trainer.state is TrainerState.FAILED
    assert not (tmp_path / "out").exists()  # nothing written


async def test_test_data_without_references_is_caught_too(tmp_path: Path) -> None:
    trainer = VeRLTrainer()
    trainer.check_agent("org/model")
    trainer.check_dataset([{"input": "q", "answer": "a"}], test_data=[{"input": "t"}])
    trainer.check_config({"output_dir": str(tmp_path / "out"), "verl_entry": FAKE_MAIN})
    with pytest.raises(TrainerError, match=r"test_data\[0\] has no reference answer"):
        await trainer.evaluate()
    assert not (tmp_path / "out").exists()


async def test_evaluate_scores_generations_without_references_by_ones_own_reward() -> None:
    trainer = VeRLTrainer()
    trainer.check_reward(
        RewardSpec(module_path="tests.compat.rewards_for_tests", func_name="length_reward")
    )
    metrics = await trainer.evaluate([{"input": "q", "response": "abc"}])
    assert metrics.extra["scores"] == [3.0]
    trainer.check_reward(None)
    with pytest.raises(TrainerError, match=r"test_data\[0\] has no reference answer"):
        await trainer.evaluate([{"input": "q", "response": "abc"}])


def test_a_str_that_is_not_a_file_is_the_originals_type_error() -> None:
    trainer = VeRLTrainer()
    with pytest.raises(TypeError, match="list or tuple") as info:
        trainer.check_dataset("not a list")
    assert isinstance(info.value, TrainerError)
    message = str(info.value)
    assert "train_data must be a list or tuple of dicts, or the path of a JSONL file" in message
    assert "'not a list', which is not a file" in message
    with pytest.raises(TrainerError, match="test_data must be a list or tuple"):
        trainer.check_dataset(INPUTS, "missing.jsonl")


def test_a_directory_named_by_a_str_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(TrainerError, match=r"list or tuple.*which is not a file"):
        VeRLTrainer().check_dataset(str(tmp_path))
