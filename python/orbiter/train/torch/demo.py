"""``orbiter-train demo``: RL on the built-in arithmetic task, nothing downloaded.

A :class:`TinyCausalLM` with the :class:`ByteTokenizer` gets a short supervised warm-up
(so it knows the answer format), is evaluated on held-out problems, is trained with GRPO
against the core's ``math_equal`` reward, and is evaluated again.

The recipe (:class:`DemoSettings`): additions ``a+b=`` with ``a, b <= 19``, 300 training and
100 held-out problems; 150 supervised steps (batch 64, lr 3e-3) teach the format and reach
~35-50% held-out accuracy; 1000 GRPO steps (32 prompts x 8 completions, lr 5e-4, no KL)
then take it to ~80-90%. A higher RL learning rate (1e-3 and up) first unlearns part of the
warm-up and then climbs more slowly; harder sums (``a, b <= 29``) need more steps than fit
in the three minutes the demo aims for on two CPU cores.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from orbiter.train.errors import TrainerError
from orbiter.train.torch.agent import PolicyAgent
from orbiter.train.torch.checkpoint import CHECKPOINT_DIR
from orbiter.train.torch.config import TorchTrainConfig
from orbiter.train.torch.export import FINAL_DIR
from orbiter.train.torch.model import TinyCausalLM
from orbiter.train.torch.task import arithmetic_task
from orbiter.train.torch.tokenizer import ByteTokenizer
from orbiter.train.torch.trainer import METRICS_FILE, TorchTrainer
from orbiter.train.trainer import TrainMetrics

logger = logging.getLogger("orbiter.train.demo")


@dataclass(frozen=True, slots=True)
class DemoSettings:
    """The demo's recipe; the defaults are what ``orbiter-train demo`` runs."""

    seed: int = 0
    max_operand: int = 19
    n_train: int = 300
    n_test: int = 100
    d_model: int = 64
    warmup_steps: int = 150
    warmup_lr: float = 3e-3
    rl_steps: int = 1000
    rl_lr: float = 5e-4
    batch_size: int = 32
    group_size: int = 8
    threads: int = 2


@dataclass(frozen=True, slots=True)
class DemoResult:
    before: TrainMetrics
    after: TrainMetrics
    rl: TrainMetrics
    warmup_seconds: float
    rl_seconds: float
    output_dir: Path

    @property
    def gain_points(self) -> float:
        return 100.0 * (self.after.accuracy - self.before.accuracy)


async def run_phase(
    agent: PolicyAgent,
    train: list[dict[str, Any]],
    test: list[dict[str, Any]],
    config: TorchTrainConfig,
) -> tuple[TrainMetrics, TrainMetrics]:
    """Train *agent* on *train* under *config* against ``math_equal``, then evaluate it on
    *test*: the training metrics and the evaluation's."""
    trainer = TorchTrainer(config)
    trainer.check_config()
    trainer.check_agent(agent)
    trainer.check_dataset(train, test)
    trainer.check_reward("math_equal")
    trainer.mark_validated()
    metrics = await trainer.train()
    return metrics, await trainer.evaluate()


async def warmup_then_grpo(
    agent: PolicyAgent,
    out: Path,
    test: list[dict[str, Any]],
    common: dict[str, Any],
    warmup: tuple[list[dict[str, Any]], dict[str, Any]],
    rl: tuple[list[dict[str, Any]], dict[str, Any]],
) -> DemoResult:
    """A demo's two phases, each evaluated on *test* (:func:`run_phase`): the supervised
    warm-up on *warmup*'s data (in ``out/warmup``), then GRPO on *rl*'s (in *out*), under
    the *common* settings and each phase's own."""
    (warmup_data, warmup_settings), (rl_data, rl_settings) = warmup, rl
    t0 = time.perf_counter()
    _, before = await run_phase(
        agent,
        warmup_data,
        test,
        TorchTrainConfig(
            algorithm="sft", output_dir=str(out / "warmup"), **{**common, **warmup_settings}
        ),
    )
    t1 = time.perf_counter()
    rl_run, after = await run_phase(
        agent,
        rl_data,
        test,
        TorchTrainConfig(algorithm="grpo", output_dir=str(out), **{**common, **rl_settings}),
    )
    return DemoResult(before, after, rl_run, t1 - t0, time.perf_counter() - t1, out)


MARKER = ".orbiter-demo"
"""The file that marks a directory as a demo run (written first, so a crashed run counts)."""
_FILES = (METRICS_FILE, "reward_curve.png", "summary.json")
_CHECKPOINTS = tuple(
    name + suffix for name in (CHECKPOINT_DIR, FINAL_DIR) for suffix in ("", ".new", ".old")
)


def _clear(run_dir: Path, subdirs: tuple[str, ...]) -> None:
    """Remove exactly the names a demo run writes in *run_dir*, nothing else."""
    for name in _FILES:
        path = run_dir / name
        if path.is_symlink() or path.is_file():
            path.unlink()
    for name in _CHECKPOINTS:
        path = run_dir / name
        if path.is_symlink():
            path.unlink()  # the link is ours to drop; what it points to is not touched
        elif path.is_dir():
            shutil.rmtree(path)
    for name in subdirs:
        if (run_dir / name).is_dir():
            _clear(run_dir / name, ())


def prepare_run_dir(out: Path) -> None:
    """Make *out* ready for a fresh demo run, deleting nothing the demo did not write.

    A new or empty directory is used as it is. A directory of an earlier demo run (it holds
    the :data:`MARKER` file, or only names a demo writes) loses exactly those names: its
    ``metrics.jsonl``, plot, summary, ``checkpoint``/``checkpoint.new``/
    ``checkpoint.old`` (which would otherwise be resumed) and ``final`` (the export, with
    its ``.new``/``.old``), in it and in ``warmup/``; other
    entries stay. Any other non-empty directory is refused.

    Raises:
        TrainerError: *out* is a file, or a non-empty directory that is not a demo run.
    """
    if out.exists() and not out.is_dir():
        raise TrainerError(f"demo output_dir {str(out)!r} is a file, not a directory")
    out.mkdir(parents=True, exist_ok=True)
    ours = {*_FILES, MARKER, *_CHECKPOINTS, "warmup"}
    entries = sorted(e.name for e in out.iterdir())
    if entries and not (out / MARKER).is_file() and not set(entries) <= ours:
        shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
        raise TrainerError(
            f"demo output_dir {str(out)!r} is not empty and is not an earlier demo run "
            f"(it holds {shown}); choose a new or empty directory"
        )
    (out / MARKER).write_text("orbiter-train demo run\n", encoding="utf-8")
    _clear(out, ("warmup",))


async def run_demo(output_dir: str | Path, settings: DemoSettings | None = None) -> DemoResult:
    """Run the demo into *output_dir* (metrics.jsonl, reward_curve.png, summary.json, and
    the trained model in ``checkpoint/`` and ``final/``, which ``orbiter-train eval``
    loads)."""
    s = settings or DemoSettings()
    out = Path(output_dir)
    prepare_run_dir(out)
    torch.set_num_threads(s.threads)
    torch.manual_seed(s.seed)
    train, test = arithmetic_task(s.n_train, s.n_test, max_operand=s.max_operand, seed=s.seed)
    agent = PolicyAgent(TinyCausalLM(d_model=s.d_model, n_layers=2, n_heads=4), ByteTokenizer())
    common: dict[str, Any] = {
        "seed": s.seed,
        "batch_size": s.batch_size,
        "max_new_tokens": 4,
        "checkpoint_every": 0,
        "device": "cpu",
        "log_every": 25,
    }
    result = await warmup_then_grpo(
        agent,
        out,
        test,
        common,
        warmup=(
            train,
            {"learning_rate": s.warmup_lr, "max_steps": s.warmup_steps, "batch_size": 64},
        ),
        rl=(
            train,
            {"learning_rate": s.rl_lr, "group_size": s.group_size, "max_steps": s.rl_steps},
        ),
    )
    write_summary(result, s)
    plot_run(
        out / METRICS_FILE,
        out / "reward_curve.png",
        result.before.accuracy,
        result.after.accuracy,
        title="orbiter-train demo: GRPO on a+b with TinyCausalLM",
    )
    return result


def write_summary(result: DemoResult, settings: Any, more: dict[str, Any] | None = None) -> None:
    """``summary.json`` of a demo run: the held-out accuracy before and after RL, the gain,
    the phases' times, the RL time split, *more*, and every setting of *settings* (a slots
    dataclass)."""
    summary = {
        "held_out_accuracy_after_warmup": result.before.accuracy,
        "held_out_accuracy_after_rl": result.after.accuracy,
        "held_out_nll_after_rl": result.after.loss,
        "gain_points": result.gain_points,
        "warmup_seconds": result.warmup_seconds,
        "rl_seconds": result.rl_seconds,
        "rl_steps": result.rl.steps,
        "time_split": result.rl.extra.get("time_split", {}),
        **(more or {}),
        "settings": {k: getattr(settings, k) for k in settings.__slots__},
    }
    (result.output_dir / "summary.json").write_text(json.dumps(summary, indent=2))


def plot_run(
    metrics: Path,
    png: Path,
    before: float,
    after: float,
    *,
    title: str,
    rate: tuple[str, str] | None = None,
    window: int = 20,
) -> None:
    """Plot a run's batch mean reward (and its *window*-step moving mean) by GRPO step from
    *metrics*, the held-out accuracy *before* and *after* RL as lines, and, with *rate*
    (a metric's key and its label), that metric by step too."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if "reward_mean" in r]
    steps = [r["step"] for r in rows]

    def moving_mean(values: list[float]) -> list[float]:
        spans = [values[max(0, i + 1 - window) : i + 1] for i in range(len(values))]
        return [sum(span) / len(span) for span in spans]

    rewards = [r["reward_mean"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    ax.plot(steps, rewards, color="#9ecae1", lw=0.8, label="batch mean reward")
    ax.plot(steps, moving_mean(rewards), color="#08519c", lw=2, label=f"{window}-step moving mean")
    if rate is not None:
        key, label = rate
        values = [float(r.get(key, 0.0)) for r in rows]
        ax.plot(steps, values, color="#756bb1", lw=1.5, label=label)
    ax.axhline(
        before, color="#e6550d", ls="--", lw=1, label=f"held-out acc. before RL {before:.0%}"
    )
    ax.axhline(after, color="#31a354", ls="--", lw=1, label=f"held-out acc. after RL {after:.0%}")
    ax.set_xlabel("GRPO step")
    ax.set_ylabel("reward (math_equal)")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(png)
    plt.close(fig)


def table(rows: list[tuple[str, str]]) -> str:
    """*rows* of (name, value) as an aligned table between rules."""
    width = max(len(r[0]) for r in rows)
    lines = [f"{name:<{width}}  {value}" for name, value in rows]
    rule = "-" * max(len(line) for line in lines)
    return "\n".join([rule, *lines, rule])


def format_table(result: DemoResult) -> str:
    rows = [
        (
            "held-out accuracy after supervised warm-up (before RL)",
            f"{result.before.accuracy:6.1%}",
        ),
        ("held-out accuracy after RL (GRPO)", f"{result.after.accuracy:6.1%}"),
        ("gain", f"{result.gain_points:+5.1f} pts"),
        ("warm-up time", f"{result.warmup_seconds:6.1f} s"),
        ("RL time", f"{result.rl_seconds:6.1f} s ({result.rl.steps} steps)"),
    ]
    return table([*rows, *time_split_row(result.rl)])


def time_split_row(rl: TrainMetrics) -> list[tuple[str, str]]:
    """The table row of the RL steps' time split (none when the run has none)."""
    split = rl.extra.get("time_split", {})
    if not split:
        return []
    return [("RL step time split", " ".join(f"{k} {v:.0%}" for k, v in split.items()))]


def main(output_dir: str, settings: DemoSettings | None = None) -> DemoResult:
    result = asyncio.run(run_demo(output_dir, settings))
    print(format_table(result))
    print(f"wrote {result.output_dir / METRICS_FILE} and {result.output_dir / 'reward_curve.png'}")
    return result
