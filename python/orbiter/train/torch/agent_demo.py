"""``orbiter-train demo --agent``: a tool-using agent trained with multi-turn GRPO, nothing
downloaded.

The task: sums ``a+b=`` of two 5-digit numbers (``50000 <= a, b <= 99999``), far beyond
what a :class:`TinyCausalLM` adds by itself, with a calculator tool ``add(a, b)``. The
agent solves one in two turns: it calls the tool with the prompt's numbers
(``<call>add {"a": 73919, "b": 64394}</call>``, the compact tool-call format of the byte
tokenizer), reads its result (``<result>138313</result>``) and answers with it. The reward
is the core's ``math_equal`` of the final turn; held-out accuracy is measured with greedy
multi-turn rollouts, with the tool-use rate beside it.

The recipe (:class:`AgentDemoSettings`): one demonstration conversation per training
problem (``messages`` records), of which only 35 % call the tool; the others answer at once,
as a demonstrator who adds in their head would. 500 supervised steps (batch 32, lr 3e-3, on
the assistant tokens only, laid out as the rollout lays them out) teach the tool's format
and the copying of digits into the call and out of the result (held-out NLL of tool
demonstrations ~0.02), but the policy mostly answers at once, as most demonstrations do,
and so is wrong: held-out accuracy and tool-use rate 0-50 % (seeds 0-2: 0 %). 40 GRPO steps
(16 prompts x 8 trajectories, up to 2 turns of 44 tokens, temperature 1, lr 1e-3, no KL)
then find that calling pays: the sampled trajectories call the tool ~95 % of the time
after ~10 steps, and held-out accuracy ends at 100 %.

Why this recipe: the copying is learnt at a sharp transition (~300 steps here); before it
the policy calls the tool with wrong digits and GRPO sees no reward to climb, after it a
policy warmed up on tool demonstrations alone is right already. Operands of five digits
from 50000 up give six-digit sums, so every number sits at the same place in the text:
with operands of 4-6 digits no copying was learnt within 600 supervised steps, and with
10000-99999 (five- and six-digit sums) the answer's last digits came out wrong half the
time. A share of tool demonstrations near one half makes the greedy
choice (call or answer) flip from step to step; 35 % keeps it on answering.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from orbiter.train.agents import tool
from orbiter.train.torch.agent import PolicyAgent
from orbiter.train.torch.demo import (
    DemoResult,
    plot_run,
    prepare_run_dir,
    table,
    time_split_row,
    warmup_then_grpo,
    write_summary,
)
from orbiter.train.torch.model import TinyCausalLM
from orbiter.train.torch.task import arithmetic_task
from orbiter.train.torch.tokenizer import ByteTokenizer
from orbiter.train.torch.trainer import METRICS_FILE

__all__ = ["AgentDemoSettings", "add", "demonstration", "main", "run_agent_demo"]


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@dataclass(frozen=True, slots=True)
class AgentDemoSettings:
    """The agent demo's recipe; the defaults are what ``orbiter-train demo --agent`` runs.

    ``tool_share`` of the warm-up's demonstrations (one per training problem) call the
    tool, the others answer at once; ``max_new_tokens`` bounds a turn (a call of two
    5-digit operands is 41 bytes and eos).
    """

    seed: int = 0
    low: int = 50_000
    high: int = 99_999
    n_train: int = 2000
    n_test: int = 100
    tool_share: float = 0.35
    d_model: int = 64
    n_layers: int = 2
    warmup_steps: int = 500
    warmup_lr: float = 3e-3
    warmup_batch_size: int = 32
    rl_steps: int = 40
    rl_lr: float = 1e-3
    batch_size: int = 16
    group_size: int = 8
    max_turns: int = 2
    max_new_tokens: int = 44
    threads: int = 2


def demonstration(record: dict[str, str], *, use_tool: bool = True) -> dict[str, Any]:
    """The demonstration conversation of a sum: the user's ``a+b=``, the assistant's call of
    ``add`` with its operands, the tool's result, and the assistant's answer; or, without
    *use_tool*, the answer at once."""
    user = {"role": "user", "content": record["input"]}
    answer = {"role": "assistant", "content": record["answer"]}
    if not use_tool:
        return {"messages": [user, answer]}
    a, b = (int(x) for x in record["input"].rstrip("=").split("+"))
    call = {"type": "function", "function": {"name": "add", "arguments": {"a": a, "b": b}}}
    result = {"role": "tool", "name": "add", "content": str(add(a, b))}
    return {
        "messages": [
            user,
            {"role": "assistant", "content": "", "tool_calls": [call]},
            result,
            answer,
        ]
    }


async def run_agent_demo(
    output_dir: str | Path, settings: AgentDemoSettings | None = None
) -> DemoResult:
    """Run the agent demo into *output_dir* (metrics.jsonl, reward_curve.png, summary.json,
    the warm-up's run in ``warmup/``, and the trained model in ``checkpoint/`` and
    ``final/``)."""
    s = settings or AgentDemoSettings()
    out = Path(output_dir)
    prepare_run_dir(out)
    torch.set_num_threads(s.threads)
    torch.manual_seed(s.seed)
    train, test = arithmetic_task(
        s.n_train, s.n_test, min_operand=s.low, max_operand=s.high, seed=s.seed
    )
    demos = [
        demonstration(r, use_tool=int((i + 1) * s.tool_share) > int(i * s.tool_share))
        for i, r in enumerate(train)
    ]
    # held out as tool demonstrations: the same prompts and answers as the plain records,
    # and the evaluation's loss is the NLL of the tool-using answer
    held_out = [demonstration(r) for r in test]
    model = TinyCausalLM(d_model=s.d_model, n_layers=s.n_layers, n_heads=4)
    agent = PolicyAgent(model, ByteTokenizer(), tools=[add])
    common: dict[str, Any] = {
        "seed": s.seed,
        "batch_size": s.batch_size,
        "max_new_tokens": s.max_new_tokens,
        "max_turns": s.max_turns,
        "checkpoint_every": 0,
        "device": "cpu",
        "log_every": 10,
    }
    result = await warmup_then_grpo(
        agent,
        out,
        held_out,
        common,
        warmup=(
            demos,
            {
                "learning_rate": s.warmup_lr,
                "max_steps": s.warmup_steps,
                "batch_size": s.warmup_batch_size,
                "log_every": 50,
            },
        ),
        rl=(
            train,
            {"learning_rate": s.rl_lr, "group_size": s.group_size, "max_steps": s.rl_steps},
        ),
    )
    before, after = result.before, result.after
    write_summary(
        result,
        s,
        {
            "held_out_nll_after_warmup": before.loss,
            "held_out_tool_use_rate_after_warmup": before.extra["tool_use_rate"],
            "held_out_tool_use_rate_after_rl": after.extra["tool_use_rate"],
            "held_out_tool_error_rate_after_warmup": before.extra["tool_error_rate"],
            "held_out_tool_error_rate_after_rl": after.extra["tool_error_rate"],
            "samples_after_rl": after.extra["samples"],
        },
    )
    plot_run(
        out / METRICS_FILE,
        out / "reward_curve.png",
        before.accuracy,
        after.accuracy,
        title="orbiter-train demo --agent: multi-turn GRPO on big sums with a tool",
        rate=("tool_use_rate", "batch tool-use rate"),
        window=5,
    )
    return result


def format_table(result: DemoResult) -> str:
    before, after = result.before, result.after
    rows = [
        ("held-out accuracy after supervised warm-up (before RL)", f"{before.accuracy:6.1%}"),
        ("held-out accuracy after RL (multi-turn GRPO)", f"{after.accuracy:6.1%}"),
        ("gain", f"{result.gain_points:+5.1f} pts"),
        (
            "held-out tool-use rate before -> after RL",
            f"{before.extra['tool_use_rate']:6.1%} -> {after.extra['tool_use_rate']:.1%}",
        ),
        (
            "held-out tool error rate before -> after RL",
            f"{before.extra['tool_error_rate']:6.1%} -> {after.extra['tool_error_rate']:.1%}",
        ),
        (
            "held-out NLL of tool demonstrations before -> after RL",
            f"{before.loss:6.3f} -> {after.loss:.3f}",
        ),
        ("warm-up time", f"{result.warmup_seconds:6.1f} s"),
        ("RL time", f"{result.rl_seconds:6.1f} s ({result.rl.steps} steps)"),
    ]
    return table([*rows, *time_split_row(result.rl)])


def main(output_dir: str, settings: AgentDemoSettings | None = None) -> DemoResult:
    result = asyncio.run(run_agent_demo(output_dir, settings))
    print(format_table(result))
    for sample in result.after.extra["samples"][:2]:
        print(f"  {sample['input']} -> {sample['transcript']!r}")
    print(f"wrote {result.output_dir / METRICS_FILE} and {result.output_dir / 'reward_curve.png'}")
    return result
