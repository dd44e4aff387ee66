"""orbiter.train.integrations.trl: TRL's reward contract, and TRL's own GRPOTrainer
training a few steps on the CPU with the reward (a tiny GPT-2 built from a config and a BPE
tokenizer trained offline). Expected scores come from math_equal called directly."""

from __future__ import annotations

import asyncio
import math
import pickle
from typing import Any

import numpy as np
import pytest

from orbiter.train.errors import TrainerTypeError, TrainerValueError
from orbiter.train.integrations.trl import async_reward_function, reward_function
from orbiter.train.rewards import RewardPipeline, math_equal
from tests.offline_models import bpe_tokenizer, tiny_gpt2

RESPONSES = ["so \\boxed{7}", "It is $\\frac{1}{2}$.", "The answer is 41.", "42"]
SOLUTIONS = ["7", "0.5", "42", "42"]


def direct(responses: list[str], solutions: list[str]) -> list[float]:
    return [float(x) for x in math_equal(responses, solutions)]


def test_standard_and_conversational_completions_score_as_math_equal() -> None:
    reward = reward_function("math_equal")
    want = direct(RESPONSES, SOLUTIONS)
    assert want == [1.0, 1.0, 0.0, 1.0]
    assert reward(prompts=["q"] * 4, completions=RESPONSES, solution=SOLUTIONS) == want
    conversational = [[{"role": "assistant", "content": r}] for r in RESPONSES[:3]] + [
        [{"role": "assistant", "content": [{"type": "text", "text": RESPONSES[3]}]}]
    ]
    assert reward(prompts=None, completions=conversational, solution=SOLUTIONS) == want


def test_references_of_other_types_and_lists() -> None:
    reward = reward_function(answer_column="answer")
    got = reward(completions=["\\boxed{12}", "0.25", "9", "x"], answer=[12, 0.25, ["8", 9], None])
    assert got == [1.0, 1.0, 1.0, None]
    with pytest.raises(TrainerTypeError, match=r"answer\[0\]"):
        reward(completions=["1"], answer=[True])


def test_an_unjudgeable_gold_is_none_not_a_punishment() -> None:
    reward = reward_function()
    got = reward(completions=["\\boxed{1}", "\\boxed{1}"], solution=["", "\\frac{1"])
    assert got == [None, None]


def test_pipelines_and_text_functions() -> None:
    pipeline = RewardPipeline([("math_equal", 1.0), ("stop_token_check", 0.5, {"stop_ids": [0]})])
    reward = reward_function(pipeline)
    ids = [[5, 0], [5, 6], [0], [1, 2, 0]]
    got = reward(completions=RESPONSES, completion_ids=ids, solution=SOLUTIONS)
    from orbiter.train.data import RaggedTokens

    want = pipeline(RESPONSES, SOLUTIONS, response_tokens=RaggedTokens.from_sequences(ids))
    assert got == [float(x) for x in want]

    def first_char(responses: list[str], references: list[str]) -> np.ndarray:
        return np.array(
            [float(r[:1] == f[:1]) for r, f in zip(responses, references, strict=True)], np.float32
        )

    first_char.batched = True  # type: ignore[attr-defined]
    assert reward_function(first_char)(completions=["42", "x"], solution=["4", "y"]) == [1.0, 0.0]


def test_name_pickle_and_async() -> None:
    reward = reward_function()
    assert reward.__name__ == "orbiter_math_equal"
    twin = pickle.loads(pickle.dumps(reward))
    assert twin(completions=RESPONSES, solution=SOLUTIONS) == direct(RESPONSES, SOLUTIONS)
    async_reward = async_reward_function()
    assert asyncio.iscoroutinefunction(async_reward.__call__)
    got = asyncio.run(async_reward(completions=RESPONSES, solution=SOLUTIONS))
    assert got == direct(RESPONSES, SOLUTIONS)


def test_bad_input_names_itself() -> None:
    with pytest.raises(TrainerValueError, match="math_equal"):
        reward_function("math_eqaul")  # unknown spec: lists the choices
    reward = reward_function()
    with pytest.raises(TrainerValueError, match="answer_column='answer'"):
        reward(completions=["1"], answer=["1"], question=["q"])
    with pytest.raises(TrainerTypeError, match=r"completions\[1\]"):
        reward(completions=["1", 5], solution=["1", "1"])
    with pytest.raises(TrainerTypeError, match=r"completions\[0\]"):
        reward(completions=[[{"role": "user", "content": "hi"}]], solution=["1"])
    with pytest.raises(TrainerValueError, match="solution"):
        reward(completions=["1", "2"], solution=["1"])


# ---------------------------------------------------------------- TRL's own trainer


def _tiny_model_and_tokenizer(texts: list[str]) -> tuple[Any, Any]:
    pytest.importorskip("transformers")
    pytest.importorskip("torch")
    tokenizer = bpe_tokenizer(texts)
    return tiny_gpt2(tokenizer), tokenizer


def test_trls_grpo_trainer_trains_with_the_reward(tmp_path: Any) -> None:
    trl = pytest.importorskip("trl")
    datasets = pytest.importorskip("datasets")
    prompts = [f"What is {a} + {b}? " for a, b in [(1, 2), (3, 4), (2, 2), (5, 1)]]
    solutions = ["3", "7", "4", "6"]
    model, tokenizer = _tiny_model_and_tokenizer([*prompts, "\\boxed{7} 3 4 6"])
    dataset = datasets.Dataset.from_dict({"prompt": prompts, "solution": solutions})
    seen: list[tuple[list[str], list[str]]] = []

    def spy(completions: list[str], solution: list[str], **kwargs: Any) -> list[float]:
        seen.append((list(completions), list(solution)))
        return [0.0] * len(completions)

    reward = reward_function("math_equal")
    args = trl.GRPOConfig(
        output_dir=str(tmp_path),
        per_device_train_batch_size=4,
        num_generations=2,
        max_completion_length=6,
        max_steps=2,
        learning_rate=1e-3,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        bf16=False,
        seed=0,
    )
    trainer = trl.GRPOTrainer(
        model=model,
        reward_funcs=[reward, spy],
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
    )
    trainer.train()
    logged = [h for h in trainer.state.log_history if "rewards/orbiter_math_equal/mean" in h]
    assert len(logged) == 2 and len(seen) == 2
    for entry, (completions, golds) in zip(logged, seen, strict=True):
        want = float(np.mean(direct(completions, golds)))
        assert math.isclose(entry["rewards/orbiter_math_equal/mean"], want, abs_tol=1e-6)
