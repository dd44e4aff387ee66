"""Multi-turn agents across turns and runs: the turn-prefix check of chat templates (against
TRL's verdict on the real templates TRL ships) and exact resume of a multi-turn run."""

from __future__ import annotations

import asyncio
import functools
import json
import os
from pathlib import Path
from typing import Any

import pytest

from orbiter.train import TrainerError
from orbiter.train.agents import (
    CompactFormat,
    HermesFormat,
    check_turn_prefix,
    function_schemas,
    tool,
)

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from tests.offline_models import bpe_tokenizer, tiny_gpt2  # noqa: E402


@tool
def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: The first addend.
        b: The second.
    """
    return a + b


def _byte_tokenizer(eos: str = "<eos>") -> Any:
    """A byte-level tokenizer with no merges (token i is byte i of the UTF-8 text), so a
    token prefix is a byte prefix and the templates' texts decide."""
    tok = bpe_tokenizer(["x"], vocab_size=258, eos=eos)
    assert len(tok) == 258
    return tok


# -- the turn-prefix check ---------------------------------------------------------------------


def _trl_templates() -> list[str]:
    """The chat templates TRL ships that support tool calling, by TRL's own test."""
    try:
        import trl
        from trl.chat_template_utils import supports_tool_calling
    except ImportError:
        return []
    tok = _byte_tokenizer()
    found = []
    for path in sorted((Path(trl.__file__).parent / "chat_templates").glob("*.jinja")):
        tok.chat_template = path.read_text(encoding="utf-8")
        if supports_tool_calling(tok):
            found.append(str(path))
    return found


@pytest.mark.parametrize("path", _trl_templates(), ids=os.path.basename)
def test_the_check_agrees_with_trl_on_its_shipped_templates(path: str) -> None:
    # TRL ships the original chat templates of the models it supports, and patched
    # "_training" ones, and decides with is_chat_template_prefix_preserving which need the
    # patch: on every template that supports tool calling, our verdict is TRL's.
    from trl.chat_template_utils import is_chat_template_prefix_preserving

    tok = _byte_tokenizer()
    tok.chat_template = Path(path).read_text(encoding="utf-8")
    preserving = is_chat_template_prefix_preserving(tok)
    try:
        check_turn_prefix(tok, "Be brief.", [add], CompactFormat())
    except TrainerError as err:
        assert not preserving, f"TRL finds it prefix-preserving; we said: {err}"
        assert "does not keep each turn a prefix of the next" in str(err)
    else:
        assert preserving, "TRL finds it not prefix-preserving; we passed it"


def test_trl_templates_are_found() -> None:
    pytest.importorskip("trl")
    names = {os.path.basename(p) for p in _trl_templates()}
    assert {"qwen3.jinja", "qwen3_training.jinja", "qwen2_5.jinja"} <= names
    assert len(names) >= 30


def _trl_template(name: str) -> str:
    trl = pytest.importorskip("trl")
    return (Path(trl.__file__).parent / "chat_templates" / name).read_text(encoding="utf-8")


def _first_byte_difference(a: str, b: str) -> int:
    x, y = a.encode(), b.encode()
    return next((i for i, (p, q) in enumerate(zip(x, y, strict=False)) if p != q), len(x))


def test_qwen3s_template_fails_naming_the_first_differing_token() -> None:
    # Qwen3's original template writes an empty <think></think> into the last assistant
    # turn and drops it once a tool result follows.
    tok = _byte_tokenizer()
    tok.chat_template = _trl_template("qwen3.jinja")
    call = {"type": "function", "function": {"name": "add", "arguments": {"a": 1, "b": 1}}}
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is the answer?"},
        {"role": "assistant", "content": "", "tool_calls": [call]},
    ]
    schemas = function_schemas([add])
    before = tok.apply_chat_template(messages, tokenize=False, tools=schemas)
    after = tok.apply_chat_template(
        [*messages, {"role": "tool", "name": "add", "content": "42"}],
        tokenize=False,
        add_generation_prompt=True,
        tools=schemas,
    )
    i = _first_byte_difference(before, after)
    assert i < len(before.encode())
    with pytest.raises(
        TrainerError, match=rf"re-renders the assistant's tool call differently, from token {i}: "
    ) as err:
        check_turn_prefix(tok, "Be brief.", [add], HermesFormat())
    assert repr(before.encode()[i : i + 1].decode()) in str(err.value)


# A Qwen2.5-like template that, as DeepSeek-R1's does, cuts the reasoning out of every
# assistant turn but the last.
THINK_STRIPPING = (
    "{% if tools %}<|im_start|>system\n# Tools{% for t in tools %}\n{{ t | tojson }}"
    "{% endfor %}<|im_end|>\n{% endif %}"
    "{% for m in messages %}"
    "{% if m.role == 'assistant' %}{% set c = m.content %}"
    "{% if not loop.last and '</think>' in c %}{% set c = c.split('</think>')[-1] | trim %}"
    "{% endif %}<|im_start|>assistant\n{{ c }}"
    "{% for t in m.tool_calls or [] %}\n<tool_call>\n{{ t.function | tojson }}\n</tool_call>"
    "{% endfor %}<|im_end|>\n"
    "{% elif m.role == 'tool' %}<|im_start|>user\n<tool_response>\n{{ m.content }}\n"
    "</tool_response><|im_end|>\n"
    "{% else %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def test_a_template_that_drops_earlier_reasoning_fails() -> None:
    tok = _byte_tokenizer()
    tok.chat_template = THINK_STRIPPING
    with pytest.raises(
        TrainerError, match=r"prefix of the next \(assistant turns opening with a <think> block\)"
    ):
        check_turn_prefix(tok, "Be brief.", [add], CompactFormat())
    # the same template without the cut passes
    tok.chat_template = THINK_STRIPPING.replace("not loop.last and ", "false and ")
    check_turn_prefix(tok, "Be brief.", [add], CompactFormat())


def test_the_rollout_layout_is_the_templates_and_a_wrong_eos_is_named() -> None:
    # Qwen2.5's real template: the rollout's prompt + call up to eos + results span, encoded
    # apart, is the template's rendering token for token when eos is its end of turn.
    tok = bpe_tokenizer(["x"], vocab_size=258, eos="<eos>")
    tok.add_tokens(["<|im_end|>"], special_tokens=True)
    tok.eos_token = "<|im_end|>"
    tok.chat_template = _trl_template("qwen2_5.jinja")
    check_turn_prefix(tok, "Be brief.", [add], HermesFormat())
    # An eos that is not the template's end of turn: the rollout would append it after the
    # sampled call, where the template has "<|im_end|>".
    tok.eos_token = "<eos>"
    with pytest.raises(
        TrainerError, match=r"rollout's tokens .* differ .* the rollout has '<eos>'"
    ):
        check_turn_prefix(tok, "Be brief.", [add], HermesFormat())


def test_check_agent_runs_the_check() -> None:
    from orbiter.train.torch import PolicyAgent, TorchTrainer

    tok = _byte_tokenizer()
    model = tiny_gpt2(tok)
    tok.chat_template = _trl_template("qwen3.jinja")
    with pytest.raises(TrainerError, match="does not keep each turn a prefix"):
        TorchTrainer().check_agent(
            PolicyAgent(model, tok, tools=[add], tool_format=CompactFormat())
        )
    tok.chat_template = _trl_template("qwen3_training.jinja")
    TorchTrainer().check_agent(PolicyAgent(model, tok, tools=[add], tool_format=CompactFormat()))
    # without tools the single-turn rollout never appends a turn: nothing to check
    tok.chat_template = _trl_template("qwen3.jinja")
    TorchTrainer().check_agent(PolicyAgent(model, tok))


# -- exact resume of a multi-turn run ----------------------------------------------------------


def _multi_turn_trainer(
    out: Path, max_steps: int, monkeypatch: pytest.MonkeyPatch, algorithm: str = "grpo"
) -> Any:
    from orbiter.train.torch import ByteTokenizer, PolicyAgent, TinyCausalLM, TorchTrainer
    from orbiter.train.torch import agent_rollout as agent_rollout_module
    from orbiter.train.torch.agent_rollout import MultiTurnRollout
    from tests.test_agents import Calculator, _first_turn_calls

    # The real sampler, except that each first turn calls the tool (with the model's own
    # logprobs): every step trains on a tool call, its result and a sampled answer.
    monkeypatch.setattr(
        agent_rollout_module,
        "MultiTurnRollout",
        functools.partial(MultiTurnRollout, sampler=_first_turn_calls),
    )
    torch.manual_seed(0)
    trainer = TorchTrainer()
    trainer.check_config(
        {
            "algorithm": algorithm,
            "batch_size": 2,
            "group_size": 2,
            "max_new_tokens": 6,
            "max_turns": 2,
            "max_steps": max_steps,
            "checkpoint_every": 2,
            "learning_rate": 1e-3,
            "kl_coef": 0.1,
            "device": "cpu",
            "output_dir": str(out),
        }
    )
    model = TinyCausalLM(d_model=32, n_layers=1, n_heads=2)
    trainer.check_agent(
        PolicyAgent(model, ByteTokenizer(), instructions="Add.", environment=Calculator)
    )
    trainer.check_dataset([{"input": f"{a}+3=", "answer": str(a + 3)} for a in range(6)])
    trainer.check_reward("exact_match")
    trainer.mark_validated()
    return trainer


def test_a_multi_turn_run_resumes_exactly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    torch.set_num_threads(1)
    full = _multi_turn_trainer(tmp_path / "full", 5, monkeypatch)
    asyncio.run(full.train())
    assert full.last_step_metrics["tool_calls"] == 1.0
    first = _multi_turn_trainer(tmp_path / "split", 3, monkeypatch)
    asyncio.run(first.train())  # checkpoints at steps 2 and 3
    second = _multi_turn_trainer(tmp_path / "split", 5, monkeypatch)
    metrics = asyncio.run(second.train())
    assert metrics.steps == 5
    a, b = full._agent.model.state_dict(), second._agent.model.state_dict()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)

    # metrics.jsonl was cut back to the checkpoint and continued: the same per-step figures
    def figures(run: str) -> list[tuple[Any, ...]]:
        rows = [
            json.loads(x) for x in (tmp_path / run / "metrics.jsonl").read_text().split("\n") if x
        ]
        return [
            (r["step"], r["loss"], r["reward_mean"], r["tool_calls"]) for r in rows if "loss" in r
        ]

    assert figures("split") == figures("full") and len(figures("full")) == 5


# -- records an environment cannot reset on ----------------------------------------------------


def test_check_dataset_reports_a_row_missing_a_field_reset_requires() -> None:
    from orbiter.train.agents import Environment
    from orbiter.train.torch import ByteTokenizer, PolicyAgent, TinyCausalLM, TorchTrainer

    class Vault(Environment):
        def reset(self, name: str, answer: str = "", **row: Any) -> None:
            self.name = name

        @tool
        def lookup(self) -> str:
            """The code."""
            return self.name

    class Strict(Vault):
        def reset(self, name: str, prompt: str = "", answer: str = "") -> None:
            self.name = name

    model = TinyCausalLM(d_model=16, n_layers=1, n_heads=2)
    rows = [{"input": "a?", "answer": "1", "name": "ada"}, {"input": "b?", "answer": "2"}]
    trainer = TorchTrainer()
    trainer.check_agent(PolicyAgent(model, ByteTokenizer(), environment=Vault))
    with pytest.raises(
        TrainerError,
        match=r"train_data\[1\]: Vault.reset requires 'name', which the record lacks "
        r"\(it has answer, prompt\)",
    ):
        trainer.check_dataset(rows)
    # the same, checked when the agent comes after the data
    late = TorchTrainer()
    late.check_dataset(rows)
    with pytest.raises(TrainerError, match=r"train_data\[1\]: Vault.reset requires 'name'"):
        late.check_agent(PolicyAgent(model, ByteTokenizer(), environment=Vault))
    trainer.check_dataset(rows[:1])
    rows[0]["extra"] = "x"
    strict = TorchTrainer()
    strict.check_agent(PolicyAgent(model, ByteTokenizer(), environment=Strict))
    with pytest.raises(TrainerError, match=r"train_data\[0\]: Strict.reset takes no field 'extra'"):
        strict.check_dataset(rows[:1])


@pytest.mark.parametrize("algorithm", ["rloo", "reinforce_pp"])
def test_multi_turn_rloo_and_reinforce_pp_train_on_tool_calls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, algorithm: str
) -> None:
    torch.set_num_threads(1)
    trainer = _multi_turn_trainer(tmp_path, 2, monkeypatch, algorithm)
    before = [p.detach().clone() for p in trainer._agent.model.parameters()]
    metrics = asyncio.run(trainer.train())
    last = trainer.last_step_metrics
    assert metrics.steps == 2 and last["tool_calls"] == 1.0 and last["turns"] == 2.0
    after = list(trainer._agent.model.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, after, strict=True))
