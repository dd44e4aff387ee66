"""Error texts the original package's tests match on, with this package's detail added."""

from __future__ import annotations

from pathlib import Path

import pytest

from orbiter.train import TrainerError
from orbiter.train.verl import RewardSpec, VeRLTrainer


@pytest.mark.parametrize("data", [[], ()], ids=["list", "tuple"])
def test_empty_data_is_non_empty(data: object) -> None:
    with pytest.raises(TrainerError, match="train_data must be a non-empty"):
        VeRLTrainer().check_dataset(data)
    with pytest.raises(TrainerError, match="test_data must be a non-empty"):
        VeRLTrainer().check_dataset([{"input": "q"}], data)


def test_an_empty_jsonl_file_is_non_empty_and_named(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("\n\n", encoding="utf-8")
    with pytest.raises(TrainerError, match=r"must be a non-empty .*empty\.jsonl' has no records"):
        VeRLTrainer().check_dataset(path)


def test_missing_input_key() -> None:
    with pytest.raises(TrainerError, match=r"train_data\[1\]: missing required 'input' key"):
        VeRLTrainer().check_dataset([{"input": "q"}, {"output": "no input key"}])


@pytest.mark.parametrize("reward", ["not callable", 3, ["math_equal"]])
def test_a_reward_that_is_neither_callable_nor_a_spec(reward: object) -> None:
    with pytest.raises(TrainerError, match="callable or RewardSpec"):
        VeRLTrainer().check_reward(reward)


def test_an_unknown_reward_name_still_lists_the_known_ones() -> None:
    with pytest.raises(TrainerError, match=r"unknown reward 'f1' \(known: math_equal.*RewardSpec"):
        VeRLTrainer().check_reward("f1")


def test_reward_spec_cannot_find_and_not_callable() -> None:
    with pytest.raises(TrainerError, match="Cannot find 'nonexistent_fn_xyz' in 'math'"):
        RewardSpec(module_path="math", func_name="nonexistent_fn_xyz").resolve()
    with pytest.raises(TrainerError, match=r"math\.pi is not callable"):
        RewardSpec(module_path="math", func_name="pi").resolve()
