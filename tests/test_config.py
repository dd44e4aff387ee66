"""The shared RL config vocabulary and its one validator (``orbiter.train.config``)."""

from __future__ import annotations

import math

import pytest

from orbiter.train.config import (
    ALGORITHM_ALIASES,
    Algorithm,
    KLEstimator,
    check_float,
    check_int,
    parse_enum,
    split_update,
)
from orbiter.train.errors import TrainerTypeError, TrainerValueError


def test_enums_and_aliases() -> None:
    assert parse_enum(Algorithm, "grpo", "algorithm") is Algorithm.GRPO
    assert parse_enum(Algorithm, "reinforce_pp", "algorithm", ALGORITHM_ALIASES) is (
        Algorithm.REINFORCE_PLUS_PLUS
    )
    assert Algorithm.GRPO.is_group and Algorithm.RLOO.is_group and not Algorithm.PPO.is_group
    assert parse_enum(KLEstimator, KLEstimator.K2, "kl_kind") is KLEstimator.K2
    with pytest.raises(TrainerValueError, match=r"config\.algorithm = 'gpro'.*did you mean 'grpo'"):
        parse_enum(Algorithm, "gpro", "algorithm")
    with pytest.raises(TrainerValueError, match=r"config\.kl_kind = 3: must be one of 'k1'"):
        parse_enum(KLEstimator, 3, "kl_kind")


def test_numbers_are_checked_by_type_and_range() -> None:
    assert check_int("epochs", 3, 1) == 3
    assert check_float("gamma", 1, 0.0, 1.0) == 1.0
    for bad in (True, 2.0, "2"):
        with pytest.raises(TrainerTypeError, match=r"config\.epochs = .*: must be an int"):
            check_int("epochs", bad, 1)
    with pytest.raises(TrainerValueError, match=r"config\.epochs = 0: must be >= 1"):
        check_int("epochs", 0, 1)
    for bad in (math.nan, math.inf):
        with pytest.raises(TrainerValueError, match="must be a finite number"):
            check_float("lam", bad, 0.0, 1.0)
    with pytest.raises(TrainerTypeError, match="must be a finite number"):
        check_float("lam", False, 0.0, 1.0)
    with pytest.raises(TrainerValueError, match=r"must be in \(0.0, inf\]"):
        check_float("learning_rate", 0.0, 0.0, open_low=True)


def test_synonyms_set_the_setting_on_either_backend() -> None:
    torch_fields = ("kl_coef", "group_size", "epochs")
    verl_fields = ("kl_coeff", "epochs")
    assert split_update({"kl_coeff": 0.1, "rollout_n": 4}, torch_fields) == (
        {"kl_coef": 0.1, "group_size": 4},
        {},
    )
    # TRL's num_iterations is verl's ppo_epochs, the field of both configs
    assert split_update({"num_iterations": 2}, ("ppo_epochs",)) == ({"ppo_epochs": 2}, {})
    # verl keeps rollout_n in extra
    assert split_update({"kl_coef": 0.1, "group_size": 4}, verl_fields, ("rollout_n",)) == (
        {"kl_coeff": 0.1},
        {"rollout_n": 4},
    )


def test_unknown_keys_go_to_extra_unless_misspelled() -> None:
    assert split_update({"my_flag": True, "extra": {"a": 1}}, ("epochs",)) == (
        {},
        {"my_flag": True, "a": 1},
    )
    with pytest.raises(TrainerValueError, match="did you mean 'epochs'"):
        split_update({"epoch": 2}, ("epochs",))
    with pytest.raises(TrainerTypeError, match="config keys must be str"):
        split_update({1: 2}, ("epochs",))
    with pytest.raises(TrainerTypeError, match="extra must be a dict"):
        split_update({"extra": [1]}, ("epochs",))
