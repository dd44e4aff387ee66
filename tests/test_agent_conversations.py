"""Supervised training on tool-use conversations (``messages`` records) and multi-turn
evaluation: a demonstration's tokens are those a multi-turn rollout produces for the same
turns (scripted samplers at the seam), the loss covers the assistant's tokens only
(against an independent cross-entropy), bad conversations are refused naming the row and
the message, and evaluate() of an agent scores multi-turn trajectories with tool-use
metrics."""

from __future__ import annotations

import asyncio
import functools
import json
import re
from typing import Any

import pytest

from orbiter.train import TrainerError
from orbiter.train.agents import HermesFormat, tool

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402, N812

from orbiter.train.config import Algorithm  # noqa: E402
from orbiter.train.records import Columns  # noqa: E402
from orbiter.train.rewards.registry import resolve_reward  # noqa: E402
from orbiter.train.torch import (  # noqa: E402
    PolicyAgent,
    TinyCausalLM,
    TorchTrainConfig,
    TorchTrainer,
)
from orbiter.train.torch import agent_rollout as agent_rollout_module  # noqa: E402
from orbiter.train.torch.agent import TokenizerAdapter  # noqa: E402
from orbiter.train.torch.agent_rollout import MultiTurnRollout, TurnLimits  # noqa: E402
from orbiter.train.torch.batches import tokenize  # noqa: E402
from orbiter.train.torch.dataset import load_examples  # noqa: E402
from orbiter.train.torch.generation import Sampling  # noqa: E402
from orbiter.train.torch.losses import OBJECTIVES  # noqa: E402
from orbiter.train.torch.runtime import Distributed  # noqa: E402
from orbiter.train.torch.steps import StepContext, sft_step  # noqa: E402
from tests.test_agents import (  # noqa: E402
    BYTES,
    CALL,
    QWEN_LIKE_TEMPLATE,
    Calculator,
    ScriptedSampler,
    _ids,
    _row,
    retained_logits,
)

torch.set_num_threads(1)


def _call(name: str, arguments: Any, call_id: str | None = None) -> dict[str, Any]:
    call: dict[str, Any] = {"type": "function", "function": {"name": name, "arguments": arguments}}
    if call_id is not None:
        call["id"] = call_id
    return call


def _conversation(answer: str = "5") -> dict[str, Any]:
    """2+3= answered with a call of add, its result, and *answer*."""
    return {
        "messages": [
            {"role": "user", "content": "2+3="},
            {"role": "assistant", "content": None, "tool_calls": [_call("add", {"a": 2, "b": 3})]},
            {"role": "tool", "name": "add", "content": "5"},
            {"role": "assistant", "content": answer},
        ]
    }


def _calculator_agent(model: Any | None = None) -> PolicyAgent:
    model = model or TinyCausalLM(d_model=16, n_layers=1, n_heads=2)
    return PolicyAgent(model, BYTES, instructions="Use tools.", environment=Calculator)


def _rollout_of(
    agent: PolicyAgent, tok: TokenizerAdapter, record: dict[str, Any], script: Any, **limits: Any
) -> tuple[Any, ScriptedSampler]:
    """One trajectory of *record*'s prompt under *agent* with the scripted *script*."""
    data = tokenize(load_examples([record], "train_data", Columns()), "train_data", agent, tok)
    sampler = ScriptedSampler(script)
    rollout = MultiTurnRollout(
        data,
        tok,
        resolve_reward("exact_match")[1],
        1,
        Sampling(64, tok.eos_token_id, tok.pad_token_id),
        torch.device("cpu"),
        tools=list(agent.tools),
        tool_format=agent.format,
        environment=agent.environment,
        limits=TurnLimits(max_turns=3, **limits),
        sampler=sampler,
    )
    return rollout.collect(agent.model, [0], torch.Generator()), sampler


# -- the layout: a demonstration is what the rollout produces ---------------------------------


def test_demonstration_tokens_are_the_rollouts_for_the_same_turns() -> None:
    agent = _calculator_agent()
    tok = TokenizerAdapter(BYTES)
    record = _conversation()
    (demo,) = tokenize(
        load_examples([record], "train_data", Columns()), "train_data", agent, tok
    ).demonstrations.values()
    # the rollout of the plain record with the same prompt, sampling the same turns
    plain = {"input": "2+3=", "answer": "5"}
    batch, _ = _rollout_of(agent, tok, plain, [[CALL, _ids("5")]])
    ids, trainable, _ = _row(batch, 0)
    assert demo.ids == ids and demo.trainable == trainable
    assert ids == CALL + BYTES.encode("\n<result>5</result>\n") + _ids("5")
    # and the prompts: the messages record's system and user messages render as the rollout's
    data = tokenize(load_examples([record], "t", Columns()), "t", agent, tok)
    assert data.prompts[0] == batch.prompt_ids[0][batch.prompt_mask[0]].tolist()
    assert data.examples[0].answer == "5"  # the final answer is the reference


def test_chat_template_demonstration_matches_the_hermes_rollout() -> None:
    pytest.importorskip("transformers")
    from tests.offline_models import bpe_tokenizer

    @tool
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @tool
    def lookup(key: str) -> str:
        """Look a key up."""
        return key.upper()

    texts = ['<tool_call>\n{"name": "add", "arguments": {"a": 2}}\n</tool_call>', "2+3= abc"]
    hf = bpe_tokenizer(texts, eos="<|im_end|>")
    hf.chat_template = QWEN_LIKE_TEMPLATE
    tok = TokenizerAdapter(hf)
    model = TinyCausalLM(vocab_size=len(hf), d_model=16, n_layers=1, n_heads=2, max_positions=1024)
    agent = PolicyAgent(model, hf, instructions="Use tools.", tools=[add, lookup])
    assert isinstance(agent.format, HermesFormat)
    record = {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "2+3= and abc?"},
            {
                "role": "assistant",
                "content": "Two calls.",
                "tool_calls": [
                    _call("add", json.dumps({"a": 2, "b": 3}), "c1"),  # OpenAI's JSON string
                    _call("lookup", {"key": "abc"}, "c2"),
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "5"},
            {"role": "tool", "tool_call_id": "c2", "name": "lookup", "content": "ABC"},
            {"role": "assistant", "content": "5 ABC"},
        ]
    }
    data = tokenize(load_examples([record], "train_data", Columns()), "train_data", agent, tok)
    demo = data.demonstrations[0]
    first = (
        'Two calls.\n<tool_call>\n{"name": "add", "arguments": {"a": 2, "b": 3}}\n</tool_call>'
        '\n<tool_call>\n{"name": "lookup", "arguments": {"key": "abc"}}\n</tool_call>'
    )
    script = [[[*tok.encode_text(text), tok.eos_token_id] for text in (first, "5 ABC")]]
    batch, sampler = _rollout_of(agent, tok, {"prompt": record["messages"][:2]}, script)
    ids, trainable, _ = _row(batch, 0)
    assert demo.ids == ids and demo.trainable == trainable
    # the span is the chat template's tool turn, as the rollout appended it
    span = [i for i, keep in zip(ids, trainable, strict=True) if not keep]
    # (transformers renders with trim_blocks: no newline after a block tag)
    assert hf.decode(span) == (
        "\n<|im_start|>user<tool_response>\n5\n</tool_response><tool_response>\nABC\n"
        "</tool_response><|im_end|>\n<|im_start|>assistant\n"
    )
    assert data.prompts[0] == sampler.contexts[0][0]


def test_long_tool_results_are_cut_as_the_rollout_cuts_them() -> None:
    agent = _calculator_agent(TinyCausalLM(d_model=16, n_layers=1, n_heads=2, max_positions=512))
    long = "9" * 40
    record = _conversation(long)
    record["messages"][2]["content"] = long
    trainer = TorchTrainer(TorchTrainConfig(max_tool_result_tokens=8))
    trainer.check_agent(agent)
    trainer.check_dataset([record])
    assert trainer._train_tokens is not None
    demo = trainer._train_tokens.demonstrations[0]
    span = BYTES.decode([i for i, k in zip(demo.ids, demo.trainable, strict=True) if not k])
    assert span == "\n<result>99999999 [truncated]</result>\n"
    # a config changed after check_dataset lays the demonstrations out again for training
    trainer.check_config({"max_tool_result_tokens": None, "algorithm": "sft", "max_steps": 1})
    trainer.check_reward("exact_match")
    trainer.mark_validated()
    asyncio.run(trainer.train())
    demo = trainer._train_tokens.demonstrations[0]
    assert BYTES.decode([i for i, k in zip(demo.ids, demo.trainable, strict=True) if not k]) == (
        f"\n<result>{long}</result>\n"
    )


# -- the loss: assistant tokens only ------------------------------------------------------------


def test_sft_loss_is_the_assistant_tokens_cross_entropy_and_spares_the_rest() -> None:
    torch.manual_seed(0)
    agent = _calculator_agent()
    tok = TokenizerAdapter(BYTES)
    records = [_conversation(), {"input": "7+1=", "answer": "8"}]  # with a plain record
    data = tokenize(load_examples(records, "train_data", Columns()), "train_data", agent, tok)
    model = agent.model
    captured = retained_logits(model)
    ctx = StepContext(
        cfg=TorchTrainConfig(algorithm="sft", device="cpu"),
        objective=OBJECTIVES[Algorithm.SFT],
        model=model,
        policy=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.0),
        dist=Distributed(),
        device=torch.device("cpu"),
        tok=tok,
        data=data,
        rollout=None,  # type: ignore[arg-type]
    )
    metrics = sft_step(ctx, [0, 1])
    (logits,) = captured
    width = max(len(p) for p in data.prompts)
    # an independent reference: cross-entropy over each unpadded sequence, on the targets
    # that are the assistant's (ignore_index elsewhere)
    losses, count = 0.0, 0
    for b in (0, 1):
        ids, keep = data.target(b)
        seq = torch.tensor(data.prompts[b] + ids)
        labels = torch.tensor(
            [-100] * len(data.prompts[b])
            + [i if k else -100 for i, k in zip(ids, keep, strict=True)]
        )
        with torch.no_grad():
            out = model(seq[None])[0]
        losses += float(F.cross_entropy(out[:-1], labels[1:], reduction="sum", ignore_index=-100))
        count += sum(keep)
    assert metrics["loss"] == pytest.approx(losses / count, rel=1e-5)
    # logits at P + t - 1 predict target token t: only the trainable ones get a gradient
    grad = logits.grad.abs().sum(-1)
    assert bool((grad[:, : width - 1] == 0).all())  # the prompts
    ids, keep = data.target(0)
    demo_grad = grad[0, width - 1 : width - 1 + len(ids)]
    keep_t = torch.tensor(keep)
    assert int((~keep_t).sum()) > 0
    assert bool((demo_grad[~keep_t] == 0).all()) and bool((demo_grad[keep_t] > 0).all())
    assert bool((grad[1, width - 1 + len(data.answers[1]) :] == 0).all())  # its padding


def test_sft_on_conversations_trains_through_the_trainer(tmp_path: Any) -> None:
    torch.manual_seed(0)
    agent = _calculator_agent(TinyCausalLM(d_model=32, n_layers=1, n_heads=2))
    trainer = TorchTrainer()
    trainer.check_config(
        {
            "algorithm": "sft",
            "batch_size": 2,
            "max_steps": 30,
            "learning_rate": 3e-3,
            "device": "cpu",
            "output_dir": str(tmp_path),
        }
    )
    trainer.check_agent(agent)
    trainer.check_dataset([_conversation()] * 2)
    trainer.check_reward("exact_match")
    trainer.mark_validated()
    asyncio.run(trainer.train())
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    first = [r["loss"] for r in rows if "loss" in r]
    assert first[-1] < first[0] / 2


# -- check_dataset refuses what a rollout cannot produce ---------------------------------------


def _with(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [_conversation(), {"messages": messages}]


USER = {"role": "user", "content": "2+3="}
CALLS = {"role": "assistant", "content": "", "tool_calls": [_call("add", {"a": 2, "b": 3}, "c1")]}
RESULT = {"role": "tool", "content": "5"}
ANSWER = {"role": "assistant", "content": "5"}


@pytest.mark.parametrize(
    ("messages", "error"),
    [
        ([USER, {"role": "robot", "content": "x"}], r"messages\[1\]: role 'robot' is not one"),
        ([USER, {"role": "assistant", "content": 5}], r"messages\[1\]: 'content' must be a str"),
        ([{"role": "user"}, ANSWER], r"messages\[0\]: 'content' must be a str, got no 'content'"),
        ([USER, RESULT, ANSWER], r"messages\[1\]: a tool message without a preceding call"),
        ([USER, ANSWER, RESULT], r"messages\[2\]: a tool message without a preceding call"),
        ([USER, CALLS, RESULT, RESULT, ANSWER], r"messages\[3\]: a tool message without a prec"),
        ([USER, CALLS, ANSWER], r"messages\[1\] makes 1 tool call\(s\) but 0 tool message"),
        ([USER, CALLS, RESULT], r"messages must end with the assistant's answer"),
        ([USER, ANSWER, ANSWER], r"messages\[2\]: follows messages\[1\], an assistant message"),
        ([USER, CALLS, RESULT, USER, ANSWER], r"messages\[3\]: a 'user' message after the first"),
        ([ANSWER], r"messages\[0\]: the conversation starts with the assistant"),
        (
            [USER, CALLS, {**RESULT, "tool_call_id": "c9"}, ANSWER],
            r"messages\[2\]: tool_call_id 'c9', but it answers messages\[1\].tool_calls\[0\]",
        ),
        (
            [USER, CALLS, {**RESULT, "name": "mul"}, ANSWER],
            r"messages\[2\]: name 'mul', but it answers .* a call of 'add'",
        ),
        (
            [USER, {**CALLS, "tool_calls": [_call("add", "{oops")]}, RESULT, ANSWER],
            r"messages\[1\].tool_calls\[0\].function.arguments is not valid JSON",
        ),
        (
            [USER, {**CALLS, "tool_calls": [{"name": "add"}]}, RESULT, ANSWER],
            r"messages\[1\].tool_calls\[0\] must be \{\"type\": \"function\"",
        ),
        # the agent's own checks: its tools, and an answer that would read as a call
        (
            [USER, {**CALLS, "tool_calls": [_call("mul", {})]}, RESULT, ANSWER],
            r"messages\[1\].tool_calls\[0\] calls 'mul', which is not one of the agent's tools "
            r"\(add, boom\)",
        ),
        (
            [USER, {"role": "assistant", "content": "<call>add</call>"}],
            r"messages\[1\]: its text, as the agent's tool-call format writes it .* does not "
            r"parse back to no tool call",
        ),
    ],
)
def test_check_dataset_names_the_row_and_message(messages: Any, error: str) -> None:
    trainer = TorchTrainer()
    trainer.check_agent(_calculator_agent())
    with pytest.raises(TrainerError, match=r"train_data\[1\]: " + error):
        trainer.check_dataset(_with(messages))


def test_a_plain_agent_cannot_learn_tool_calls_but_learns_answers() -> None:
    trainer = TorchTrainer()
    trainer.check_agent(TinyCausalLM(d_model=16, n_layers=1, n_heads=2))
    with pytest.raises(
        TrainerError,
        match=r"calls 'add', which is not one of the agent's tools \(the agent has none\)",
    ):
        trainer.check_dataset([_conversation()])
    trainer.check_dataset([{"messages": [USER, ANSWER]}])
    data = trainer._train_tokens
    assert data is not None
    assert data.target(0) == (data.answers[0], [True] * len(data.answers[0]))


# -- multi-turn evaluation ----------------------------------------------------------------------


class Rules:
    """Stands in for ``sample``: from each context's text, a first turn calls ``add`` on the
    prompt's numbers when ``a`` is even, calls the failing ``boom`` when ``a % 4 == 1``, and
    answers ``0`` otherwise; a turn after a result answers with the last result."""

    def __init__(self) -> None:
        self.temperatures: list[float] = []
        self.rows: list[int] = []

    def __call__(self, model: Any, ids: Any, mask: Any, sampling: Sampling, gen: Any) -> Any:
        self.temperatures.append(sampling.temperature)
        self.rows.append(ids.shape[0])
        out = []
        for row, keep in zip(ids.tolist(), mask.bool().tolist(), strict=True):
            text = BYTES.decode([t for t, k in zip(row, keep, strict=True) if k], stop_at_eos=False)
            results = re.findall(r"<result>(.*?)</result>", text)
            if results:
                out.append(_ids(results[-1]))
                continue
            a, b = (int(x) for x in re.findall(r"(\d+)\+(\d+)=$", text)[0])
            if a % 2 == 0:
                out.append(_ids(f'<call>add {{"a": {a}, "b": {b}}}</call>'))
            elif a % 4 == 1:
                out.append(_ids("<call>boom</call>"))
            else:
                out.append(_ids("0"))
        width = max(len(r) for r in out)
        ids_out = torch.full((len(out), width), BYTES.pad_token_id, dtype=torch.long)
        mask_out = torch.zeros(len(out), width, dtype=torch.bool)
        for j, r in enumerate(out):
            ids_out[j, : len(r)] = torch.tensor(r)
            mask_out[j, : len(r)] = True
        return ids_out, mask_out, torch.zeros(len(out), width)


def test_evaluate_runs_multi_turn_trajectories_with_tool_metrics(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rules = Rules()
    monkeypatch.setattr(
        agent_rollout_module,
        "MultiTurnRollout",
        functools.partial(MultiTurnRollout, sampler=rules),
    )
    items = [(a, 3) for a in range(12)]
    test = [{"input": f"{a}+{b}=", "answer": str(a + b)} for a, b in items]
    trainer = TorchTrainer(TorchTrainConfig(max_turns=2, device="cpu", batch_size=2, group_size=2))
    # room for boom's error text after the prompt: no trajectory is cut short
    model = TinyCausalLM(d_model=16, n_layers=1, n_heads=2, max_positions=512)
    model.train()
    trainer.check_agent(_calculator_agent(model))
    trainer.check_dataset(test[:2], test)
    trainer.check_reward("exact_match")
    metrics = asyncio.run(trainer.evaluate())
    assert model.training  # its mode is restored
    # what the rules do, item by item: an even a is answered through add (and the
    # environment's 0.25 for using it), a % 4 == 1 calls boom (an error, then its error
    # text as the answer), the rest answer 0 at once
    use = [a % 2 == 0 for a, _ in items]
    boom = [a % 4 == 1 for a, _ in items]
    correct = use  # boom's error text and a bare 0 are wrong answers
    rewards = [1.25 if u else 0.0 for u in use]
    n = len(items)
    assert metrics.steps == n
    assert metrics.accuracy == pytest.approx(sum(correct) / n)
    extra = metrics.extra
    assert extra["reward_mean"] == pytest.approx(sum(rewards) / n)
    assert extra["tool_use_rate"] == pytest.approx((sum(use) + sum(boom)) / n)
    assert extra["tool_calls"] == pytest.approx((sum(use) + sum(boom)) / n)
    assert extra["tool_error_rate"] == pytest.approx(sum(boom) / (sum(use) + sum(boom)))
    assert extra["turns"] == pytest.approx(
        (2 * (sum(use) + sum(boom)) + n - sum(use) - sum(boom)) / n
    )
    assert extra["truncation_rate"] == 0.0
    assert extra["samples"][0]["transcript"] == (
        '<call>add {"a": 0, "b": 3}</call>\n<result>3</result>\n3'
    )
    assert extra["samples"][0]["tool_calls"] == 1 and extra["samples"][3]["tool_calls"] == 0
    assert metrics.loss == 0.0  # no demonstrations among the items
    assert set(rules.temperatures) == {0.0}  # greedy
    # max(batch_size * group_size, 64) trajectories a chunk: one chunk, two turns
    assert rules.rows == [n, sum(use) + sum(boom)]
    # k samples per item at a temperature: every item k times, pass@k over them
    rules.temperatures.clear()
    sampled = asyncio.run(trainer.evaluate(n_samples=3, temperature=0.7))
    assert set(rules.temperatures) == {0.7}
    assert sampled.extra["pass@2"] == pytest.approx(sum(correct) / n)  # the rules are fixed
    assert sampled.accuracy == pytest.approx(sum(correct) / n)
    assert (
        sampled.extra["n_samples"] == 3 and sampled.extra["tool_use_rate"] == extra["tool_use_rate"]
    )


def test_evaluate_of_a_real_policy_is_greedy_and_reports_demonstration_nll() -> None:
    torch.manual_seed(0)
    trainer = TorchTrainer(TorchTrainConfig(max_turns=2, max_new_tokens=12, device="cpu"))
    trainer.check_agent(_calculator_agent())
    trainer.check_dataset([_conversation()], [_conversation(), {"input": "1+1=", "answer": "2"}])
    trainer.check_reward("exact_match")
    first = asyncio.run(trainer.evaluate())
    again = asyncio.run(trainer.evaluate())
    assert first.extra["samples"] == again.extra["samples"]  # greedy: the same trajectories
    assert 0.0 <= first.extra["tool_use_rate"] <= 1.0 and first.extra["turns"] >= 1.0
    # the loss: NLL per assistant token of the one demonstration, computed here directly
    assert trainer._agent is not None and trainer._test_examples is not None
    tok = TokenizerAdapter(BYTES)
    data = tokenize(trainer._test_examples, "t", trainer._agent, tok)
    ids, keep = data.target(0)
    seq = torch.tensor(data.prompts[0] + ids)
    labels = torch.tensor(
        [-100] * len(data.prompts[0]) + [i if k else -100 for i, k in zip(ids, keep, strict=True)]
    )
    with torch.no_grad():
        logits = trainer._agent.model(seq[None])[0]
    want = float(F.cross_entropy(logits[:-1], labels[1:], ignore_index=-100))
    assert first.loss == pytest.approx(want, rel=1e-5)
