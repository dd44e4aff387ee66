"""orbiter.train.integrations.verl driven by verl's own code: its loader
(``get_custom_reward_fn``), its naive and batch reward managers, on a ``DataProto`` built as
verl's rollout builds it (left-padded prompts, right-padded responses, one attention mask).
The expected scores are math_equal's own, called directly."""

from __future__ import annotations

import pickle
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

from orbiter.train.integrations import verl as orbiter_verl
from orbiter.train.rewards import math_equal
from orbiter.train.rewards.text import math_answer
from tests.offline_models import bpe_tokenizer

torch = pytest.importorskip("torch")
pytest.importorskip("verl.workers.reward_manager")
from omegaconf import OmegaConf  # noqa: E402
from transformers import PreTrainedTokenizerFast  # noqa: E402
from verl import DataProto  # noqa: E402
from verl.trainer.ppo.reward import get_custom_reward_fn  # noqa: E402
from verl.workers.reward_manager.batch import BatchRewardManager  # noqa: E402
from verl.workers.reward_manager.naive import NaiveRewardManager  # noqa: E402

PROMPTS = ["What is 3+4?", "Half of one?", "Name the capital.", "2 times 21?", "Say x."]
RESPONSES = [
    "3 + 4 = 7, so \\boxed{7}",
    "It is $\\frac{1}{2}$.",
    "<think>Paris? \\boxed{Lyon}</think> The answer is Paris",
    "The answer is 41.",
    "no idea",
]
# A list is any of its answers; an int is its text (verl datasets hold either).
GROUND_TRUTHS: list[Any] = ["7", ["0.5", "1/2"], ["Paris", "paris"], 42, "x"]


def offline_tokenizer() -> PreTrainedTokenizerFast:
    """A byte-level BPE trained on the task's text, as no hub download is possible."""
    tokenizer: PreTrainedTokenizerFast = bpe_tokenizer(
        PROMPTS + RESPONSES, vocab_size=400, eos=None
    )
    return tokenizer


def data_proto(tokenizer: PreTrainedTokenizerFast) -> DataProto:
    """Prompts left-padded, responses right-padded, attention_mask over both (verl's
    rollout layout), and the non-tensor fields verl's RL dataset carries."""
    pad = tokenizer.pad_token_id
    prompts = [tokenizer.encode(p) for p in PROMPTS]
    responses = [tokenizer.encode(r) for r in RESPONSES]
    p_len = max(map(len, prompts))
    r_len = max(map(len, responses))
    prompt_ids = torch.tensor([[pad] * (p_len - len(p)) + p for p in prompts])
    response_ids = torch.tensor([r + [pad] * (r_len - len(r)) for r in responses])
    mask = torch.tensor(
        [
            [0] * (p_len - len(p)) + [1] * len(p) + [1] * len(r) + [0] * (r_len - len(r))
            for p, r in zip(prompts, responses, strict=True)
        ]
    )
    n = len(PROMPTS)
    truths = np.empty(n, dtype=object)
    for i, g in enumerate(GROUND_TRUTHS):
        truths[i] = {"style": "rule", "ground_truth": g}
    extra = np.array([{"index": i, "split": "train"} for i in range(n)], dtype=object)
    return DataProto.from_dict(
        tensors={
            "prompts": prompt_ids,
            "responses": response_ids,
            "input_ids": torch.cat([prompt_ids, response_ids], dim=1),
            "attention_mask": mask,
        },
        non_tensors={
            "data_source": np.array(["orbiter"] * n, dtype=object),
            "reward_model": truths,
            "extra_info": extra,
        },
    )


def expected() -> tuple[list[float], list[str]]:
    """Each response's best math_equal score over its accepted answers, and its answer."""
    scores = []
    for response, truth in zip(RESPONSES, GROUND_TRUTHS, strict=True):
        golds = [str(g) for g in truth] if isinstance(truth, list) else [str(truth)]
        scores.append(float(max(math_equal([response] * len(golds), golds))))
    preds = [p or "" for p in math_answer(RESPONSES)]
    return scores, preds


def custom_reward_fn(name: str, **reward_kwargs: Any) -> Any:
    config = OmegaConf.create(
        {
            "reward": {
                "custom_reward_function": {
                    "path": orbiter_verl.__file__,
                    "name": name,
                    "reward_kwargs": reward_kwargs,
                }
            }
        }
    )
    fn = get_custom_reward_fn(config)
    assert fn is not None
    return fn


def last_token_rewards(out: dict[str, Any], data: DataProto) -> list[float]:
    prompt_len = data.batch["prompts"].shape[-1]
    lengths = data.batch["attention_mask"][:, prompt_len:].sum(-1)
    tensor = out["reward_tensor"]
    return [float(tensor[i, int(n) - 1]) for i, n in enumerate(lengths)]


def test_naive_reward_manager_scores_through_compute_score() -> None:
    tokenizer = offline_tokenizer()
    data = data_proto(tokenizer)
    manager = NaiveRewardManager(
        tokenizer, num_examine=0, compute_score=custom_reward_fn("compute_score")
    )
    out = manager(data, return_dict=True)
    scores, preds = expected()
    assert last_token_rewards(out, data) == scores
    assert scores == [1.0, 1.0, 1.0, 0.0, 0.0]  # the corpus exercises both outcomes
    info = out["reward_extra_info"]
    assert list(info["acc"]) == [s >= 1.0 for s in scores]
    assert list(info["pred"]) == preds


def test_batch_reward_manager_scores_through_compute_score_batch() -> None:
    tokenizer = offline_tokenizer()
    data = data_proto(tokenizer)
    manager = BatchRewardManager(
        tokenizer, num_examine=0, compute_score=custom_reward_fn("compute_score_batch")
    )
    out = manager(data, return_dict=True)
    scores, preds = expected()
    assert last_token_rewards(out, data) == scores
    assert list(out["reward_extra_info"]["pred"]) == preds


def test_reward_kwargs_choose_the_core_reward() -> None:
    tokenizer = offline_tokenizer()
    data = data_proto(tokenizer)
    fn = custom_reward_fn("compute_score_batch", reward="exact_text_match")
    out = BatchRewardManager(tokenizer, num_examine=0, compute_score=fn)(data, return_dict=True)
    # exact_text_match of each response against each accepted answer: only "x" vs "x" would
    # match, and "no idea" is not "x"
    assert last_token_rewards(out, data) == [0.0] * len(RESPONSES)


def test_functions_pickle_and_bad_ground_truths_are_named() -> None:
    for fn in (orbiter_verl.compute_score, orbiter_verl.compute_score_batch):
        assert pickle.loads(pickle.dumps(fn)) is fn
    with pytest.raises(ValueError, match="ground_truth"):
        orbiter_verl.compute_score("s", "1", [])
    with pytest.raises(ValueError, match="ground_truths"):
        orbiter_verl.compute_score_batch(["s"], ["1", "2"], ["1"])
    with pytest.raises(ValueError, match="reward"):
        orbiter_verl.compute_score("s", "1", "1", reward="no_such_reward")


def test_the_file_loads_by_path_in_a_fresh_process(tmp_path: Any) -> None:
    """verl's workers load the file under another module name, from another directory."""
    path = orbiter_verl.__file__
    code = (
        "import importlib.util\n"
        f"spec = importlib.util.spec_from_file_location('custom_module', {path!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "print(m.compute_score('s', 'so \\\\boxed{12}', ['11', 12])['score'])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1.0"]
