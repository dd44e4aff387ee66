"""Validation overhead of the trainer lifecycle, against the same checks in plain Python.

Part of the suite (``python benches/run.py``); alone, after ``maturin develop -r``::

    python benches/bench_validation.py [--runs 5] [--smoke]

The full lifecycle is what ``orbiter-train demo`` does before training: a fresh
``TorchTrainer``, ``check_config``, ``check_agent`` (the demo's TinyCausalLM with the byte
tokenizer), ``check_dataset`` on arithmetic records (``{"input": "123+456=", "answer":
"579"}``), ``check_reward("math_equal")`` and ``mark_validated``. The split per check comes
from the trainer's own records (``trainer.checks``).

Share of a training epoch: the demo's GRPO step (batch 32 prompts x group 8, 4 new tokens,
d_model 64, torch with the demo's 2 threads) is timed as the difference between a run of
``k2`` and one of ``k1`` steps divided by ``k2 - k1`` (setup and the final checkpoint cancel
out); one epoch of ``n`` samples is ``ceil(n / 32)`` steps.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
from harness import Baseline, Case, Result, fmt_s, print_results, run_cases

from orbiter.train import _core

GROUP = "validation overhead"
CHECKS = ("check_config", "check_agent", "check_dataset", "check_reward")


def arithmetic_records(n: int, seed: int = 0) -> list[dict[str, str]]:
    """``n`` records shaped like the demo's task (operands up to 6 digits, so that 1M
    distinct problems exist)."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 1_000_000, n).tolist()
    b = rng.integers(0, 1_000_000, n).tolist()
    return [{"input": f"{x}+{y}=", "answer": str(x + y)} for x, y in zip(a, b, strict=True)]


def _agent() -> Any:
    from orbiter.train.torch import ByteTokenizer, PolicyAgent, TinyCausalLM

    return PolicyAgent(TinyCausalLM(d_model=64, n_layers=2, n_heads=4), ByteTokenizer())


def _config(out: str, **kw: Any) -> Any:
    from orbiter.train.torch import TorchTrainConfig

    base: dict[str, Any] = {
        "output_dir": out,
        "device": "cpu",
        "batch_size": 32,
        "group_size": 8,
        "max_new_tokens": 4,
        "checkpoint_every": 0,
        "log_every": 10_000,
        "seed": 0,
    }
    return TorchTrainConfig(**(base | kw))


def lifecycle(records: list[dict[str, str]], agent: Any, out: str) -> Any:
    """The full validation lifecycle; returns the validated trainer."""
    from orbiter.train.torch import TorchTrainer

    trainer = TorchTrainer(_config(out))
    trainer.check_config()
    trainer.check_agent(agent)
    trainer.check_dataset(records)
    trainer.check_reward("math_equal")
    trainer.mark_validated()
    return trainer


# ---------------------------------------------------------------- plain Python version


class PyLifecycle:
    """The state machine in plain Python: a lock, a state and a table of legal moves."""

    MOVES: ClassVar[dict[str, set[str]]] = {
        "created": {"validated"},
        "validated": {"training"},
        "training": {"completed", "failed"},
    }

    def __init__(self) -> None:
        self.state = "created"
        self.lock = threading.Lock()
        self.history: list[tuple[str, str, int]] = []

    def transition(self, target: str) -> None:
        with self.lock:
            if target not in self.MOVES.get(self.state, ()):
                raise RuntimeError(f"cannot move from {self.state} to {target}")
            self.history.append((self.state, target, time.monotonic_ns()))
            self.state = target

    def check(self, target: str) -> None:
        if target not in self.MOVES.get(self.state, ()):
            raise RuntimeError(f"cannot move from {self.state} to {target}")


def py_lifecycle(records: list[dict[str, str]], agent: Any, out: str) -> PyLifecycle:
    """The same four checks and transition with every loop in Python: config ranges, the
    same agent probe (a torch forward), records -> examples -> tokens with a per-token range
    check, a reward probe; then the Python state machine."""
    from orbiter.train.rewards.registry import probe_reward, resolve_reward
    from orbiter.train.torch.agent import check_policy
    from orbiter.train.torch.config import validate_config

    life = PyLifecycle()
    validate_config(_config(out))  # check_config (the same code: it is Python already)
    policy, tok = check_policy(agent)  # check_agent (the same torch forward)
    prompts, answers = [], []  # check_dataset
    for i, r in enumerate(records):
        if not isinstance(r, dict):
            raise TypeError(f"train_data[{i}]: expected a dict")
        p, a = r.get("input"), r.get("answer")
        if not isinstance(p, str) or not isinstance(a, str):
            raise TypeError(f"train_data[{i}]: input/answer must be str")
        prompts.append(tok.encode_prompt(policy.prompt_text(p)))
        answers.append(tok.encode_answer(a))
    vocab = tok.vocab_size
    for i, row in enumerate(prompts):
        if not row:
            raise ValueError(f"train_data[{i}]: empty prompt")
        for t in row:
            if not 0 <= t < vocab:
                raise ValueError(f"train_data[{i}]: token {t} out of range")
    name, scorer = resolve_reward("math_equal")  # check_reward
    probe_reward(name, scorer, records[0]["answer"], records[0]["answer"])
    life.transition("validated")
    return life


# ---------------------------------------------------------------- epoch estimate


def demo_step_seconds(k1: int, k2: int) -> float:
    """Seconds per demo GRPO step: (time of k2 steps - time of k1 steps) / (k2 - k1)."""
    import torch

    from orbiter.train.torch import TorchTrainer
    from orbiter.train.torch.task import arithmetic_task

    train, _ = arithmetic_task(700, 200, max_operand=29, seed=0)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # the demo's setting
    try:
        walls = []
        for k in (k1, k1, k2):  # the first run warms torch up
            with tempfile.TemporaryDirectory() as out:
                trainer = TorchTrainer(_config(out, algorithm="grpo", max_steps=k, epochs=10_000))
                trainer.check_config()
                trainer.check_agent(_agent())
                trainer.check_dataset(train)
                trainer.check_reward("math_equal")
                trainer.mark_validated()
                t0 = time.perf_counter()
                asyncio.run(trainer.train())
                walls.append(time.perf_counter() - t0)
        return (walls[2] - walls[1]) / (k2 - k1)
    finally:
        torch.set_num_threads(threads)


# ---------------------------------------------------------------- cases


def cases(
    smoke: bool = False, runs: int = 5
) -> tuple[list[Case], list[str], Callable[[list[Result]], dict[str, Any]]]:
    """Lifecycle cases, notes, and a function that adds the per-check split and the
    epoch share to the measured results (returns the section's summary)."""
    sizes = [1_000, 5_000] if smoke else [10_000, 100_000, 1_000_000]
    agent = _agent()
    tmp = tempfile.mkdtemp(prefix="orbiter-bench-")
    splits: dict[str, list[dict[str, int]]] = {}
    out: list[Case] = []
    for n in sizes:
        records = arithmetic_records(n)
        key = f"{n:,} samples"
        splits[key] = []

        def ours(records: list[dict[str, str]] = records, key: str = key) -> None:
            t0 = time.perf_counter_ns()
            trainer = lifecycle(records, agent, tmp)
            total = time.perf_counter_ns() - t0
            split = {c.name: c.duration_ns for c in trainer.checks}
            split["mark_validated + trainer creation"] = total - trainer.validation_ns
            split["total"] = total
            splits[key].append(split)

        out.append(
            Case(
                GROUP,
                "full lifecycle (4 checks + mark_validated)",
                key,
                n,
                ours,
                [
                    Baseline(
                        "same checks in plain Python",
                        lambda records=records: py_lifecycle(records, agent, tmp),
                    )
                ],
                runs=runs,
            )
        )
    n_tr = 10_000 if smoke else 200_000
    pools: dict[str, list[list[Any]]] = {"rust": [], "py": []}
    for _ in range(runs + 1):
        pools["rust"].append([_core.Lifecycle() for _ in range(n_tr)])
        pools["py"].append([PyLifecycle() for _ in range(n_tr)])

    def transitions(kind: str) -> Callable[[], None]:
        def fn() -> None:
            for lc in pools[kind].pop():
                lc.transition("validated")

        return fn

    out.append(
        Case(
            GROUP,
            "Lifecycle.transition (from Python)",
            f"{n_tr:,} transitions",
            n_tr,
            transitions("rust"),
            [Baseline("python state machine (lock + dict)", transitions("py"))],
            runs=runs,
        )
    )
    one = _core.Lifecycle()
    py_one = PyLifecycle()

    def checks_rust() -> None:
        for _ in range(n_tr):
            one.check("validated")

    def checks_py() -> None:
        for _ in range(n_tr):
            py_one.check("validated")

    out.append(
        Case(
            GROUP,
            "Lifecycle.check (from Python)",
            f"{n_tr:,} checks",
            n_tr,
            checks_rust,
            [Baseline("python state machine (dict)", checks_py)],
            runs=runs,
        )
    )
    notes = ["smoke mode: demo step not timed, no epoch share"] if smoke else []
    k1, k2 = 3, 13

    def finish(results: list[Result]) -> dict[str, Any]:
        step = math.nan if smoke else demo_step_seconds(k1, k2)
        summary: dict[str, Any] = {
            "demo_step_s": step,
            "demo_step_estimate": f"(time of {k2} steps - time of {k1} steps) / {k2 - k1} "
            "after a warm-up run, demo GRPO config, torch 2 threads; epoch = ceil(n / 32) steps",
            "sizes": {},
        }
        for r in results:
            if r.op.startswith("Lifecycle."):
                r.extra["ns_per_call"] = r.ours_s / r.rows * 1e9
                r.extra["python_ns_per_call"] = next(iter(r.baselines_s.values())) / r.rows * 1e9
                continue
            split = {
                name: statistics.median(s.get(name, 0) for s in splits[r.size]) / 1e9
                for name in (*CHECKS, "mark_validated + trainer creation")
            }
            epoch = math.ceil(r.rows / 32) * step
            r.extra |= {
                "split_s": split,
                "epoch_s": epoch,
                "share_of_epoch": r.ours_s / epoch,
            }
            summary["sizes"][r.size] = {
                "total_s": r.ours_s,
                "split_s": split,
                "epoch_s": epoch,
                "share_of_epoch": r.ours_s / epoch,
                "plain_python_s": r.baselines_s["same checks in plain Python"],
            }
        return summary

    return out, notes, finish


def _s(x: float) -> str:
    return fmt_s(x) if math.isfinite(x) else "n/a"


def _pct(x: float) -> str:
    return f"{100 * x:.2f} %" if math.isfinite(x) else "n/a"


def describe(summary: dict[str, Any], results: list[Result]) -> str:
    """The section's text: split per check, epoch share, transition cost."""
    lines = [
        f"demo GRPO step: {_s(summary['demo_step_s'])} ({summary['demo_step_estimate']})",
        "",
        "| samples | total | " + " | ".join(CHECKS) + " | mark_validated + creation "
        "| plain Python | one demo epoch (est.) | share of epoch |",
        "|---|---:|" + "---:|" * (len(CHECKS) + 4),
    ]
    for size, s in summary["sizes"].items():
        split = s["split_s"]
        cells = [fmt_s(split[c]) for c in (*CHECKS, "mark_validated + trainer creation")]
        lines.append(
            f"| {size} | {fmt_s(s['total_s'])} | " + " | ".join(cells) + f" | "
            f"{fmt_s(s['plain_python_s'])} | {_s(s['epoch_s'])} | "
            f"{_pct(s['share_of_epoch'])} |"
        )
    for r in results:
        if "ns_per_call" in r.extra:
            lines.append(
                f"\n{r.op}: {r.extra['ns_per_call']:.0f} ns per call "
                f"(plain Python state machine: {r.extra['python_ns_per_call']:.0f} ns)"
            )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)  # as in run.py (the demo step itself is timed with 2)
    found, notes, finish = cases(args.smoke, max(5, args.runs))
    results = run_cases(found, max(5, args.runs))
    summary = finish(results)
    print_results(results, GROUP)
    print()
    print(describe(summary, results))
    for note in notes:
        print(f"note: {note}")


if __name__ == "__main__":
    main()
