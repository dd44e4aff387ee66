"""evaluate(): greedy or k samples, accuracy at a threshold, pass@k and maj@k, against
math.comb and extract_answer."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from orbiter.train import TrainerError  # noqa: E402
from orbiter.train.rewards import extract_answer  # noqa: E402
from orbiter.train.torch.evaluation import majority_correct, pass_at_k, pass_ks  # noqa: E402
from tests.test_torch_trainer import ready_trainer, small_model  # noqa: E402


@pytest.mark.parametrize("n", range(1, 11))
def test_pass_at_k_is_chen_et_al_s_estimator(n: int) -> None:
    for c in range(n + 1):
        for k in range(1, n + 1):
            want = 1 - math.comb(n - c, k) / math.comb(n, k)
            assert pass_at_k(n, c, k) == pytest.approx(want, rel=1e-12, abs=1e-12)


def test_majority_votes_on_extracted_answers() -> None:
    yes, no = True, False
    assert majority_correct(["3", "4", "4", None], np.array([yes, no, no, yes])) is False
    assert majority_correct(["3", "4", "3", None], np.array([yes, no, yes, no])) is True
    assert majority_correct(["4", "3"], np.array([no, yes])) is False  # a tie: the first
    assert majority_correct([None, None], np.array([yes, yes])) is False
    assert pass_ks(1) == [1] and pass_ks(4) == [1, 2, 4] and pass_ks(6) == [1, 2, 4, 6]


class Recording:
    """A per-item reward (the completion's last digit is the answer's) that keeps what it
    scored, so the test computes the metrics again on its own."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def __call__(self, output: str, expected: str) -> float:
        self.seen.append((output, expected))
        return 1.0 if output[-1:] == expected[-1:] else 0.5 if output[-1:].isdigit() else 0.0


class DigitBiased(torch.nn.Module):
    """The small model with its digits' logits raised, so that samples hold answers."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = small_model()

    def forward(self, input_ids: Any, attention_mask: Any = None) -> Any:
        logits = self.inner(input_ids, attention_mask)
        return logits + 4.0 * (torch.arange(logits.shape[-1]) - 48).clamp(0, 10).lt(10)


async def test_k_samples_report_mean_pass_and_majority() -> None:
    trainer = ready_trainer(model=DigitBiased(), max_new_tokens=1, accuracy_threshold=1.0)
    reward = Recording()
    trainer.check_reward(reward)
    reward.seen.clear()  # the probe's call
    k = 8
    metrics = await trainer.evaluate(n_samples=k, temperature=1.5)
    items = len(reward.seen) // k
    assert metrics.steps == items == 16
    scores = np.array([reward(o, e) for o, e in reward.seen[: items * k]]).reshape(items, k)
    correct = scores >= 1.0
    assert metrics.accuracy == pytest.approx(correct.mean())
    assert metrics.extra["reward_mean"] == pytest.approx(scores.mean())
    for j in (1, 2, 4, 8):
        want = np.mean([1 - math.comb(k - c, j) / math.comb(k, j) for c in correct.sum(1)])
        assert metrics.extra[f"pass@{j}"] == pytest.approx(want)
    outputs = [o for o, _ in reward.seen[: items * k]]
    answers = extract_answer(outputs, "last_number")
    maj = []
    for i in range(items):
        votes = [a for a in answers[i * k : (i + 1) * k] if a is not None]
        if not votes:
            maj.append(False)
            continue
        top = max(votes, key=lambda a: (votes.count(a), -votes.index(a)))
        maj.append(bool(correct[i, answers[i * k : (i + 1) * k].index(top)]))
    assert metrics.extra[f"maj@{k}"] == pytest.approx(np.mean(maj))
    # the figures are not all alike: some items pass, not all, and the k matter
    assert 0 < metrics.accuracy < metrics.extra["pass@8"] < 1 and 0 < np.mean(maj) < 1
    # sampling differs between items' k draws, and is seeded: the same again
    assert len(set(outputs)) > 1
    reward.seen.clear()
    again = await trainer.evaluate(n_samples=k, temperature=1.5)
    assert again.extra == metrics.extra
    # a lower threshold counts the half marks as correct too
    trainer.check_config({"accuracy_threshold": 0.5})
    lenient = await trainer.evaluate(n_samples=k, temperature=1.5)
    assert lenient.accuracy == pytest.approx((scores >= 0.5).mean())


async def test_greedy_is_the_default_and_the_old_threshold_spelling_holds() -> None:
    trainer = ready_trainer()
    greedy = await trainer.evaluate()
    assert greedy.extra["n_samples"] == 1 and greedy.extra["temperature"] == 0.0
    assert greedy.extra["pass@1"] == pytest.approx(greedy.accuracy)
    trainer.check_config({"extra": {}, "accuracy_threshold": 0.0})
    assert (await trainer.evaluate()).accuracy == 1.0
    legacy = ready_trainer(extra={"accuracy_threshold": 0.0})
    assert legacy.torch_config.accuracy_threshold == 0.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_samples": 0}, r"evaluate\(n_samples=0\): must be an int >= 1"),
        ({"n_samples": 2}, r"greedy decoding gives one completion"),
        ({"temperature": -1.0}, r"evaluate\(temperature=-1.0\)"),
        ({"answer_style": "xml"}, r"evaluate\(answer_style='xml'\)"),
    ],
)
async def test_bad_evaluation_arguments_are_named(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(TrainerError, match=message):
        await ready_trainer().evaluate(**kwargs)
