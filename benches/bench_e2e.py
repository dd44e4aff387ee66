"""End to end: a GRPO step of TRL's ``GRPOTrainer`` and of ``TorchTrainer``, and the reward's
share of it, on the same tiny model, task and shapes, in one process.

Three runs of ``steps`` GRPO steps each, on the CPU with one torch thread:

- ``trl + accuracy_reward``: TRL's ``GRPOTrainer`` scoring with TRL's own ``accuracy_reward``
  (math-verify, one completion at a time);
- ``trl + orbiter``: the same trainer scoring with
  :func:`orbiter.train.integrations.trl.reward_function` (``math_equal`` in the Rust core);
- ``TorchTrainer``: orbiter's trainer (GRPO, ``math_equal``).

All three start from the same GPT-2 (one layer, width 32, built from a config with seed 0)
and a byte-level BPE with a chat template trained on the task, and take ``batch`` prompts of
the built-in arithmetic task per step, ``group`` completions each, up to ``new_tokens``
tokens. Seconds per step is the median over the steps after the first (a warm-up); the
reward's share is its time over the step's; "reward after N steps" is the last step's mean.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


class Timed:
    """A reward function (TRL's keyword contract) that adds up the seconds it runs."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self.__name__ = getattr(fn, "__name__", type(fn).__name__)
        self.seconds: list[float] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        out = self.fn(*args, **kwargs)
        self.seconds.append(time.perf_counter() - t0)
        return out


def _task(batch: int, steps: int) -> tuple[list[dict[str, Any]], Any]:
    from orbiter.train.torch.task import arithmetic_task

    rows, _ = arithmetic_task(batch * steps, 1, max_operand=19, seed=0)
    records = [
        {"prompt": [{"role": "user", "content": r["input"]}], "solution": r["answer"]} for r in rows
    ]
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests.offline_models import bpe_tokenizer

    texts = [r["input"] + " = \\boxed{" + r["answer"] + "}" for r in rows]
    tokenizer = bpe_tokenizer([*texts, "<|user|><|assistant|>"])
    tokenizer.chat_template = CHAT_TEMPLATE
    return records, tokenizer


def _model(tokenizer: Any) -> Any:
    from tests.offline_models import tiny_gpt2

    return tiny_gpt2(tokenizer, seed=0)


def _trl_run(
    reward: Any, records: list[dict[str, Any]], tokenizer: Any, shape: dict[str, int]
) -> dict[str, Any]:
    import datasets
    import trl
    from transformers import PrinterCallback, ProgressCallback, TrainerCallback

    step_seconds: list[float] = []

    class StepTimer(TrainerCallback):  # type: ignore[misc]
        def on_step_begin(self, *args: Any, **kwargs: Any) -> None:
            self.t0 = time.perf_counter()

        def on_step_end(self, *args: Any, **kwargs: Any) -> None:
            step_seconds.append(time.perf_counter() - self.t0)

    timed = Timed(reward)
    with tempfile.TemporaryDirectory() as out:
        args = trl.GRPOConfig(
            output_dir=out,
            per_device_train_batch_size=shape["batch"] * shape["group"],
            num_generations=shape["group"],
            max_completion_length=shape["new_tokens"],
            max_steps=shape["steps"],
            learning_rate=1e-3,
            temperature=1.0,
            logging_steps=1,
            save_strategy="no",
            report_to="none",
            use_cpu=True,
            bf16=False,
            seed=0,
        )
        trainer = trl.GRPOTrainer(
            model=_model(tokenizer),
            reward_funcs=[timed],
            args=args,
            train_dataset=datasets.Dataset.from_list(records),
            processing_class=tokenizer,
            callbacks=[StepTimer()],
        )
        for quiet in (PrinterCallback, ProgressCallback):  # the bench prints its own table
            trainer.remove_callback(quiet)
        trainer.train()
    key = f"rewards/{timed.__name__}/mean"
    rewards = [h[key] for h in trainer.state.log_history if key in h]
    return _summary(step_seconds, timed.seconds, rewards[-1] if rewards else float("nan"))


def _torch_run(
    records: list[dict[str, Any]], tokenizer: Any, shape: dict[str, int]
) -> dict[str, Any]:
    import asyncio
    import json

    from orbiter.train.torch import PolicyAgent, TorchTrainer

    with tempfile.TemporaryDirectory() as out:
        trainer = TorchTrainer()
        trainer.check_config(
            {
                "algorithm": "grpo",
                "batch_size": shape["batch"],
                "group_size": shape["group"],
                "max_new_tokens": shape["new_tokens"],
                "max_steps": shape["steps"],
                "learning_rate": 1e-3,
                "temperature": 1.0,
                "kl_coef": 0.0,
                "seed": 0,
                "device": "cpu",
                "output_dir": out,
                "checkpoint_every": 10**6,
                "save_final": False,
            }
        )
        trainer.check_agent(PolicyAgent(_model(tokenizer), tokenizer))
        trainer.check_dataset([{"prompt": r["prompt"], "answer": r["solution"]} for r in records])
        trainer.check_reward("math_equal")
        trainer.mark_validated()
        asyncio.run(trainer.train())
        lines = (Path(out) / "metrics.jsonl").read_text().splitlines()
        metrics = [json.loads(line) for line in lines if line.strip()]
    return _summary(
        [m["time_step"] for m in metrics],
        [m["time_score"] for m in metrics],
        metrics[-1]["reward_mean"],
    )


def _summary(steps: list[float], reward: list[float], final: float) -> dict[str, Any]:
    """Median seconds per step after the first, the reward's share of a step (total reward
    seconds over total step seconds, the same steps), and the last step's mean reward."""
    kept = slice(1, None) if len(steps) > 1 else slice(None)
    step_s = statistics.median(steps[kept])
    share = sum(reward[kept]) / max(sum(steps[kept]), 1e-12)
    return {"s_per_step": step_s, "reward_share": share, "reward_after": final, "steps": len(steps)}


def run(smoke: bool) -> tuple[dict[str, Any] | None, list[str]]:
    """The three runs, or ``None`` with a note when TRL or its reward cannot run here."""
    try:
        import trl  # noqa: F401
        from trl.rewards import accuracy_reward
    except ImportError as err:
        return None, [f"e2e: TRL not importable ({err}): pip install 'orbiter-train[trl]'"]
    import torch

    from orbiter.train.integrations.trl import reward_function

    torch.set_num_threads(1)
    shape = {"batch": 2, "group": 4, "new_tokens": 8, "steps": 2 if smoke else 12}
    records, tokenizer = _task(shape["batch"], shape["steps"])
    notes: list[str] = []
    runs: dict[str, Any] = {"shape": shape}
    try:
        accuracy_reward([[{"role": "assistant", "content": "\\boxed{1}"}]], ["1"])
        runs["trl + accuracy_reward"] = _trl_run(accuracy_reward, records, tokenizer, shape)
    except ImportError as err:  # TRL raises this without math-verify
        notes.append(f"e2e: TRL's accuracy_reward needs math-verify ({err})")
    runs["trl + orbiter"] = _trl_run(reward_function("math_equal"), records, tokenizer, shape)
    runs["TorchTrainer"] = _torch_run(records, tokenizer, shape)
    runs["targets"] = targets(runs)
    return runs, notes


def targets(runs: dict[str, Any]) -> list[dict[str, Any]]:
    """orbiter's reward under 1 % of TRL's step; TorchTrainer at least as fast as TRL."""
    out = []
    ours = runs["trl + orbiter"]
    out.append(
        {
            "text": f"orbiter's reward {100 * ours['reward_share']:.3f} % of a TRL step",
            "target": "< 1 %",
            "met": ours["reward_share"] < 0.01,
        }
    )
    ratio = ours["s_per_step"] / runs["TorchTrainer"]["s_per_step"]
    out.append(
        {
            "text": f"TorchTrainer {ratio:.2f}x TRL GRPOTrainer's steps per second",
            "target": ">= 1x",
            "met": ratio >= 1.0,
        }
    )
    return out


def _reward_seconds(run: dict[str, Any]) -> float:
    return float(run["reward_share"] * run["s_per_step"])


def describe(runs: dict[str, Any]) -> str:
    shape = runs["shape"]
    lines = [
        f"{shape['steps']} GRPO steps of {shape['batch']} prompts x {shape['group']} completions, "
        f"<= {shape['new_tokens']} new tokens, tiny GPT-2, CPU, 1 torch thread",
        "",
        "| run | s / step | reward's share of a step | reward after the last step |",
        "|---|---:|---:|---:|",
    ]
    for name in ("trl + accuracy_reward", "trl + orbiter", "TorchTrainer"):
        if name in runs:
            r = runs[name]
            lines.append(
                f"| {name} | {r['s_per_step']:.3f} | {100 * r['reward_share']:.3f} % "
                f"| {r['reward_after']:.3f} |"
            )
    if "trl + accuracy_reward" in runs:
        base, ours = runs["trl + accuracy_reward"], runs["trl + orbiter"]
        lines.append("")
        lines.append(
            "reward time per step, math-verify / orbiter: "
            f"{_reward_seconds(base) / max(_reward_seconds(ours), 1e-12):.1f}x"
        )
    return "\n".join(lines)
