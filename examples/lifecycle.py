"""The trainer lifecycle end to end, with its validation overhead read back from the core.

Run: ``python examples/lifecycle.py``
"""

from __future__ import annotations

import asyncio
from typing import Any

from orbiter.train import TrainConfig, Trainer, TrainerError, TrainerState, TrainMetrics


class KeywordTrainer(Trainer):
    """Scores a rule-based agent on a tiny question set; no learning, just the lifecycle."""

    def check_agent(self, agent: Any) -> None:
        if not callable(agent):
            raise TrainerError("agent must be callable: fn(prompt: str) -> str")
        self.agent = agent

    def check_dataset(self, train_data: Any, test_data: Any | None = None) -> None:
        for i, record in enumerate(train_data):
            if "input" not in record or "answer" not in record:
                raise TrainerError(f"train_data[{i}] needs 'input' and 'answer'")
        self.train_data, self.test_data = train_data, test_data or train_data

    def check_reward(self, reward_fn: Any | None = None) -> None:
        self.reward = reward_fn or (lambda out, exp: float(out.strip() == exp.strip()))

    def check_config(self, config: TrainConfig | dict[str, Any] | None = None) -> None:
        if self.config.epochs < 1:
            raise TrainerError("epochs must be >= 1")

    async def train(self) -> TrainMetrics:
        self._require_validated()
        self._state = TrainerState.TRAINING
        try:
            scores = [
                self.reward(self.agent(r["input"]), r["answer"])
                for _ in range(self.config.epochs)
                for r in self.train_data
            ]
        except Exception as exc:
            self._state = TrainerState.FAILED
            raise TrainerError("training failed") from exc
        self._state = TrainerState.COMPLETED
        return TrainMetrics(accuracy=sum(scores) / len(scores), steps=len(scores))

    async def evaluate(self, test_data: Any | None = None) -> TrainMetrics:
        data = test_data or self.test_data
        hits = [self.reward(self.agent(r["input"]), r["answer"]) for r in data]
        return TrainMetrics(accuracy=sum(hits) / len(hits), steps=len(hits))


def agent(prompt: str) -> str:
    a, _, b = prompt.partition("+")
    return str(int(a) + int(b)) if b else "?"


async def main() -> None:
    data = [{"input": f"{a}+{b}", "answer": str(a + b)} for a in range(5) for b in range(5)]
    trainer = KeywordTrainer(TrainConfig(epochs=2))
    trainer.check_agent(agent)
    trainer.check_dataset(data)
    trainer.check_reward()
    trainer.check_config()
    trainer.mark_validated()
    metrics = await trainer.train()
    print(f"trained: accuracy={metrics.accuracy:.2f} steps={metrics.steps} -> {trainer.state}")
    print("transitions (monotonic ns since creation):")
    for t in trainer.history:
        print(f"  {t.source:>9} -> {t.target:<9} at {t.at_ns:>10,d} ns")
    print("checks:")
    for c in trainer.checks:
        print(f"  {c.name:<14} {'passed' if c.passed else 'FAILED'} in {c.duration_ns:>8,d} ns")
    print(f"validation overhead: {trainer.validation_ns / 1e3:.1f} us in total")
    try:
        trainer.mark_validated()
    except TrainerError as err:
        print(f"and a second mark_validated() is refused: {err}")


if __name__ == "__main__":
    asyncio.run(main())
