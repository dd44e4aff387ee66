"""The one table of reward names (``orbiter.train.rewards.registry``)."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orbiter.train import rewards
from orbiter.train.data import RaggedTokens
from orbiter.train.errors import TrainerError
from orbiter.train.rewards.registry import (
    REWARDS,
    TEXT_REWARDS,
    lookup,
    resolve_reward,
    text_reward,
)
from orbiter.train.rewards.spec import RewardSpec

NOT_REWARDS = {"extract_answer", "MathStatus", "PerItemReward", "RewardPipeline"}


def test_the_table_is_the_package() -> None:
    """Every reward function of ``orbiter.train.rewards`` has one entry, and every entry's
    functions exist."""
    public = {n for n in rewards.__all__ if n not in NOT_REWARDS}
    assert public == set(REWARDS)
    for entry in REWARDS.values():
        assert callable(getattr(rewards, entry.function))
        if entry.text is not None:
            params = inspect.signature(getattr(rewards, entry.text)).parameters.values()
            required = [p for p in params if p.default is inspect.Parameter.empty]
            assert len(required) == 2, entry  # (responses, references)
    assert set(TEXT_REWARDS) == {n for n, e in REWARDS.items() if e.text is not None}


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.text("ab \n", max_size=5), st.text("ab \n", max_size=5)),
        min_size=1,
        max_size=8,
    )
)
def test_exact_match_has_one_meaning(pairs: list[tuple[str, str]]) -> None:
    """``exact_match`` on text (what ``check_reward`` scores) and on token ids (what a
    ``RewardPipeline`` scores) agree: the response equals the reference."""
    outputs, expected = [p[0] for p in pairs], [p[1] for p in pairs]
    on_text = text_reward("exact_match")(outputs, expected)
    as_bytes = [list(s.strip().encode()) for s in outputs]
    ref_bytes = [list(s.strip().encode()) for s in expected]
    on_tokens = rewards.exact_match(
        RaggedTokens.from_sequences(as_bytes, dtype=np.int32),
        RaggedTokens.from_sequences(ref_bytes, dtype=np.int32),
    )
    np.testing.assert_array_equal(on_text, on_tokens)


def test_unknown_names_say_what_is_known() -> None:
    with pytest.raises(ValueError, match=r"unknown reward 'math_equl'.*did you mean 'math_equal'"):
        lookup("math_equl", "reward_fn")
    with pytest.raises(TrainerError, match=r"reward_fn: unknown reward 'token_f1'"):
        text_reward("token_f1")  # a token reward has no text form
    with pytest.raises(TrainerError, match="known: math_equal"):
        resolve_reward("nope")


def test_a_reward_spec_resolves_to_its_function() -> None:
    spec = RewardSpec(module_path="orbiter.train.rewards", func_name="word_f1")
    name, score = resolve_reward(spec)
    assert name == "word_f1"
    np.testing.assert_array_equal(score(["a b"], ["a b"]), [1.0])
    _, per_item = resolve_reward(RewardSpec(callable=lambda o, e: float(o == e)))
    np.testing.assert_array_equal(per_item(["a", "b"], ["a", "c"]), [1.0, 0.0])
