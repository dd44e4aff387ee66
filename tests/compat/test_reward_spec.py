"""``RewardSpec.resolve()`` returns what it was given, as the original's did; the trainer
that calls the function checks its signature and says how it will call it."""

from __future__ import annotations

import math

import pytest

from orbiter.train import TrainerError
from orbiter.train.rewards.registry import resolve_reward
from orbiter.train.verl import RewardSpec, VeRLTrainer
from tests.compat.rewards_for_tests import one_argument


def test_resolve_returns_a_one_argument_callable_as_given() -> None:
    def my_reward(x: str) -> float:
        return 1.0

    assert RewardSpec(callable=my_reward).resolve() is my_reward
    assert RewardSpec(callable=one_argument).resolve() is one_argument


def test_resolve_imports_any_callable() -> None:
    fn = RewardSpec(module_path="math", func_name="sqrt").resolve()
    assert fn is math.sqrt and fn(4.0) == 2.0


@pytest.mark.parametrize(
    "spec",
    [
        RewardSpec(callable=one_argument),
        RewardSpec(module_path="tests.compat.rewards_for_tests", func_name="one_argument"),
        RewardSpec(module_path="math", func_name="sqrt"),
    ],
    ids=["callable", "module_path", "builtin"],
)
def test_the_verl_trainer_checks_the_signature_and_says_how_it_calls(spec: RewardSpec) -> None:
    with pytest.raises(TypeError, match="must accept \\(output, expected\\)") as info:
        VeRLTrainer().check_reward(spec)
    message = str(info.value)
    assert isinstance(info.value, TrainerError)
    assert "it will be called as fn(output: str, expected: str) -> float" in message
    assert "fn(data_source=..., solution_str=..., ground_truth=..., extra_info=...)" in message
    assert "its signature is (" in message


def test_the_torch_trainers_registry_still_checks_the_signature() -> None:
    with pytest.raises(TrainerError, match=r"must take \(output: str, expected: str\)"):
        resolve_reward(RewardSpec(callable=one_argument))
