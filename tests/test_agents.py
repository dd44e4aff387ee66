"""Agents: @tool schemas and argument checks, environments, tool-call formats, and the
multi-turn rollout's token layout (a scripted sampler at the seam), its zero gradient on
tool tokens, and a real multi-turn TorchTrainer run."""

from __future__ import annotations

import asyncio
import functools
from typing import Any, ClassVar, Literal

import numpy as np
import pytest

from orbiter.train import TrainerError
from orbiter.train.agents import (
    CompactFormat,
    Environment,
    HermesFormat,
    ToolArgumentError,
    ToolCall,
    ToolResult,
    ToolSchemaError,
    ToolSet,
    check_arguments,
    environment_tools,
    execute_calls,
    tool,
)

torch = pytest.importorskip("torch")

from orbiter.train.config import Algorithm  # noqa: E402
from orbiter.train.records import Columns  # noqa: E402
from orbiter.train.rewards.registry import resolve_reward  # noqa: E402
from orbiter.train.torch import (  # noqa: E402
    ByteTokenizer,
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
from orbiter.train.torch.generation import Sampling, completion_logprobs, sample  # noqa: E402
from orbiter.train.torch.losses import OBJECTIVES, outcome_rewards  # noqa: E402
from orbiter.train.torch.runtime import Distributed  # noqa: E402
from orbiter.train.torch.steps import StepContext, rl_step  # noqa: E402

torch.set_num_threads(1)
BYTES = ByteTokenizer()
EOS = BYTES.eos_token_id


@tool
def add(a: int, b: int = 0, mode: Literal["int", "str"] = "int") -> int:
    """Add two integers.

    Args:
        a (int): The first
            addend.
        b: The second.
        mode: How to answer.

    Returns:
        The sum.
    """
    return a + b


@tool
async def lookup(key: str, keys: list[str] | None = None) -> str:
    """Look a key up."""
    return key.upper()


# -- @tool and argument checks ---------------------------------------------------------------


def test_tool_schema_from_signature_hints_and_docstring() -> None:
    assert add.name == "add" and add.description == "Add two integers."
    assert add.parameters == {
        "type": "object",
        "properties": {
            "a": {"type": "integer", "description": "The first addend."},
            "b": {"type": "integer", "description": "The second.", "default": 0},
            "mode": {"enum": ["int", "str"], "description": "How to answer.", "default": "int"},
        },
        "required": ["a"],
    }
    assert lookup.parameters["properties"]["keys"] == {
        "anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}],
        "default": None,
    }
    assert add(2, 3) == 5  # still the function


def test_tool_schemas_are_valid_json_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    for t in (add, lookup):
        jsonschema.Draft202012Validator.check_schema(t.parameters)
    jsonschema.validate({"a": 1, "b": 2}, add.parameters)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"a": "1"}, add.parameters)


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({"b": 1}, "'a'"),
        ({"a": "one"}, "'a'"),
        ({"a": True}, "'a'"),
        ({"a": 1, "mode": "float"}, "'mode'"),
        ({"a": 1, "c": 2}, "'c'"),
        ([1, 2], "JSON object"),
    ],
)
def test_bad_arguments_name_the_tool_and_argument(arguments: Any, named: str) -> None:
    with pytest.raises(ToolArgumentError, match=named) as err:
        check_arguments(add.parameters, arguments, "add")
    assert "tool 'add'" in str(err.value)
    assert isinstance(err.value, TrainerError) and isinstance(err.value, ValueError)


def test_schema_errors_name_the_tool_and_parameter() -> None:
    def bad(when: complex) -> None:
        """No schema for complex."""

    with pytest.raises(ToolSchemaError, match="tool 'bad', parameter 'when'"):
        tool(bad)
    with pytest.raises(ToolSchemaError, match=r"tools\[1\]: a second tool named .add."):
        ToolSet([add, add])

    class NotAsync:
        name, description, parameters = "x", "", {"type": "object"}

        def execute(self, **kwargs: Any) -> None: ...

    with pytest.raises(ToolSchemaError, match=r"tools\[0\] \('x'\).*async def execute"):
        ToolSet([NotAsync()])


class OrbiterTool:
    """An orbiter-style tool: only the duck-typed shape."""

    name = "weather"
    description = "The weather of a city."
    parameters: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    }

    async def execute(self, **kwargs: Any) -> str:
        return f"sunny in {kwargs['city']}"


class OrbiterAgent:
    name = "forecaster"
    instructions = "Answer about the weather."
    tools: ClassVar[list[Any]] = [OrbiterTool()]


def test_execution_turns_every_failure_into_an_error_result() -> None:
    @tool
    def boom() -> None:
        """Fails."""
        raise RuntimeError("no")

    @tool
    async def slow() -> None:
        """Sleeps."""
        await asyncio.sleep(5)

    tools = ToolSet([add, lookup, boom, slow, OrbiterTool()])
    calls = [
        ToolCall("add", {"a": 2, "b": 3}),
        ToolCall("lookup", {"key": "k"}),
        ToolCall("weather", {"city": "Oslo"}),
        ToolCall("boom"),
        ToolCall("slow"),
        ToolCall("nope"),
        ToolCall("add", {"a": "x"}),
        ToolCall("", error="the call is not valid JSON"),
    ]
    results = asyncio.run(execute_calls(tools, calls, timeout=0.05))
    assert [r.content for r in results[:3]] == ["5", "K", "sunny in Oslo"]
    assert [r.error for r in results] == [False] * 3 + [True] * 5
    assert "raised RuntimeError: no" in results[3].content
    assert "did not answer within 0.05 s" in results[4].content
    assert "no tool named 'nope'" in results[5].content
    assert "argument 'a'" in results[6].content


def test_formats_parse_calls_and_malformed_ones_are_data() -> None:
    hermes = HermesFormat()
    text = '<tool_call>\n{"name": "add", "arguments": {"a": 1}}\n</tool_call><tool_call>{"x": 1}'
    assert hermes.parse(text) == [ToolCall("add", {"a": 1})]
    assert hermes.parse('<tool_call>{"name": "add", "arguments": "{\\"a\\": 2}"}</tool_call>') == [
        ToolCall("add", {"a": 2})
    ]
    assert hermes.parse("<tool_call>{oops</tool_call>")[0].error
    assert hermes.parse("<tool_call>{}")[0].error
    assert hermes.parse("The answer is 5.") == []
    compact = CompactFormat()
    assert compact.parse('<call>add {"a": 2, "b": 3}</call> and <call>lookup</call>') == [
        ToolCall("add", {"a": 2, "b": 3}),
        ToolCall("lookup", {}),
    ]
    assert compact.parse("<call>add [1]</call>")[0].error == "the arguments must be a JSON object"
    written = compact.instructions("Be brief.", [add])
    assert written.startswith("Be brief.\nTools:\nadd(a: integer, b: integer, mode: any)")


def test_hermes_results_through_a_chat_template_with_tools() -> None:
    transformers = pytest.importorskip("transformers")
    tok = transformers.PreTrainedTokenizerFast(
        tokenizer_object=_word_tokenizer(), eos_token="<|im_end|>", pad_token="<|im_end|>"
    )
    tok.chat_template = QWEN_LIKE_TEMPLATE
    text = HermesFormat().results_text([ToolResult("add", "5")], tok)
    # the "\n" the template writes after the assistant's <|im_end|> (the sampled eos) comes
    # first; transformers renders with trim_blocks, so no newline follows a block tag
    assert text == (
        "\n<|im_start|>user<tool_response>\n5\n</tool_response><|im_end|>\n<|im_start|>assistant\n"
    )


# A Qwen2.5-like template: tools in the system prompt, tool turns as <tool_response>.
QWEN_LIKE_TEMPLATE = (
    "{% if tools %}<|im_start|>system\n# Tools{% for t in tools %}\n{{ t | tojson }}"
    "{% endfor %}<|im_end|>\n{% endif %}"
    "{% for m in messages %}"
    "{% if m.role == 'tool' %}"
    "{% if loop.first or messages[loop.index0 - 1].role != 'tool' %}<|im_start|>user{% endif %}"
    "\n<tool_response>\n{{ m.content }}\n</tool_response>"
    "{% if loop.last or messages[loop.index0 + 1].role != 'tool' %}<|im_end|>\n{% endif %}"
    "{% elif m.role == 'assistant' and m.tool_calls %}<|im_start|>assistant\n{{ m.content }}"
    "{% for c in m.tool_calls %}\n<tool_call>\n{{ c.function | tojson }}\n</tool_call>"
    "{% endfor %}<|im_end|>\n"
    "{% else %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _word_tokenizer() -> Any:
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"[UNK]": 0, "<|im_end|>": 1}
    inner = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    inner.pre_tokenizer = pre_tokenizers.Whitespace()
    return inner


# -- environments ----------------------------------------------------------------------------


class Calculator(Environment):
    """Per-row state: the row's answer, whether the tool was used; counts its instances."""

    closed = 0

    def reset(self, answer: str = "", **row: Any) -> None:
        self.answer, self.used = answer, False

    @tool
    def add(self, a: int, b: int) -> int:
        """Add two integers."""
        self.used = True
        return a + b

    @tool
    def boom(self) -> int:
        """Always fails."""
        raise RuntimeError("broken")

    def reward(self) -> float:
        return 0.25 if self.used else 0.0

    def close(self) -> None:
        type(self).closed += 1


def test_environment_tools_are_its_decorated_methods_bound() -> None:
    env = Calculator()
    env.reset(answer="5")
    tools = environment_tools(env)
    assert [t.name for t in tools] == ["add", "boom"]
    assert "self" not in tools[0].parameters["properties"]
    assert asyncio.run(tools[0].execute(a=2, b=3)) == 5 and env.used


# -- the multi-turn rollout: exact token layout ------------------------------------------------


class ScriptedSampler:
    """Stands in for ``sample``: turn k of row b emits ``script[b][k]`` with logprob
    ``-(100 * turn + position + 1) / 1000``, and records every context it was given."""

    def __init__(self, script: list[list[list[int]]]) -> None:
        self.script = script
        self.contexts: list[list[list[int]]] = []
        self.logprobs: list[list[list[float]]] = []

    def __call__(self, model: Any, ids: Any, mask: Any, sampling: Sampling, gen: Any) -> Any:
        turn = len(self.contexts)
        self.contexts.append([row[m].tolist() for row, m in zip(ids, mask.bool(), strict=True)])
        live = [b for b in range(len(self.script)) if len(self.script[b]) > turn]
        rows = [self.script[b][turn] for b in live]
        width = max(len(r) for r in rows) + 2  # trailing pads, as sample() leaves them
        out = torch.full((len(rows), width), BYTES.pad_token_id, dtype=torch.long)
        out_mask = torch.zeros(len(rows), width, dtype=torch.bool)
        logprobs = torch.zeros(len(rows), width)
        self.logprobs.append([])
        for j, r in enumerate(rows):
            out[j, : len(r)] = torch.tensor(r)
            out_mask[j, : len(r)] = True
            lp = [-(100 * turn + p + 1) / 1000 for p in range(len(r))]
            logprobs[j, : len(r)] = torch.tensor(lp)
            self.logprobs[-1].append(lp)
        return out, out_mask, logprobs


def _ids(text: str, eos: bool = True) -> list[int]:
    return BYTES.encode(text, add_eos=eos)


CALL = _ids('<call>add {"a": 2, "b": 3}</call>')
BAD_CALL = _ids("<call>boom</call>")


def _rollout(
    script: list[list[list[int]]], *, group: int = 2, **limits: Any
) -> tuple[MultiTurnRollout, ScriptedSampler, Any]:
    agent = PolicyAgent(
        TinyCausalLM(d_model=16, n_layers=1, n_heads=2),
        BYTES,
        instructions="Use tools.",
        environment=Calculator,
    )
    tok = TokenizerAdapter(BYTES)
    examples = load_examples([{"input": "2+3=", "answer": "5"}], "train_data", Columns())
    data = tokenize(examples, "train_data", agent, tok)
    _, reward = resolve_reward("exact_match")
    sampler = ScriptedSampler(script)
    rollout = MultiTurnRollout(
        data,
        tok,
        reward,
        group,
        Sampling(32, EOS, BYTES.pad_token_id),
        torch.device("cpu"),
        tools=[],
        tool_format=agent.format,
        environment=Calculator,
        limits=TurnLimits(max_turns=limits.pop("max_turns", 2), **limits),
        sampler=sampler,
    )
    return rollout, sampler, agent


def _row(batch: Any, b: int) -> tuple[list[int], list[bool], list[float]]:
    n = int(batch.completion_mask[b].sum())
    assert bool(batch.completion_mask[b, :n].all())  # response tokens come first, contiguous
    return (
        batch.completion_ids[b, :n].tolist(),
        batch.trainable_mask[b, :n].tolist(),
        batch.rollout_logprobs[b, :n].tolist(),
    )


def test_trajectory_is_prompt_sampled_tool_result_sampled_tokens() -> None:
    answer, wrong = _ids("5"), _ids("6")
    rollout, sampler, agent = _rollout([[CALL, answer], [CALL, wrong]])
    Calculator.closed = 0
    batch = rollout.collect(agent.model, [0], torch.Generator())
    prompt = rollout.data.prompts[0]
    result = BYTES.encode("\n<result>5</result>\n")
    assert prompt == BYTES.encode(agent.prompt_text("2+3="), add_bos=True)
    assert "Tools:\nadd(a: integer, b: integer)" in agent.prompt_text("2+3=")
    for b, final in enumerate([answer, wrong]):
        ids, trainable, logprobs = _row(batch, b)
        assert ids == CALL + result + final
        assert trainable == [True] * len(CALL) + [False] * len(result) + [True] * len(final)
        sampled = [lp for lp, keep in zip(logprobs, trainable, strict=True) if keep]
        assert sampled == pytest.approx(sampler.logprobs[0][b] + sampler.logprobs[1][b])
        assert all(lp == 0.0 for lp, keep in zip(logprobs, trainable, strict=True) if not keep)
        assert batch.prompt_ids[b][batch.prompt_mask[b]].tolist() == prompt
        # turn 2 read the exact ids of turn 1 and the result: nothing re-tokenized
        assert sampler.contexts[1][b] == prompt + CALL + result
        assert batch.turn_ends[b] == [len(CALL), len(ids)]
    # the reward of the final text, plus the environment's for using its tool
    assert batch.rewards.tolist() == [1.25, 0.25]
    assert Calculator.closed == 2
    assert batch.metrics == {
        "turns": 2.0,
        "tool_calls": 1.0,
        "tool_use_rate": 1.0,
        "tool_error_rate": 0.0,
        "trajectory_len": float(len(CALL + result + answer)),
        "truncation_rate": 0.0,
    }
    # the reward lands on the last trainable token
    rewards = outcome_rewards(batch.rewards, batch.trainable_mask.numpy().astype(np.float32))
    for b in range(2):
        n = int(batch.completion_mask[b].sum())
        assert rewards[b].nonzero()[0].tolist() == [n - 1]


def test_tool_errors_become_tool_messages_and_metrics() -> None:
    answer = _ids("5")
    malformed = _ids("<call>add {nope</call>")
    rollout, _, agent = _rollout([[BAD_CALL, answer], [malformed, answer]])
    batch = rollout.collect(agent.model, [0], torch.Generator())
    texts = [
        BYTES.decode([i for i, k in zip(*_row(batch, b)[:2], strict=True) if not k])
        for b in range(2)
    ]
    assert texts[0] == "\n<result>error: tool 'boom' raised RuntimeError: broken</result>\n"
    assert texts[1].startswith("\n<result>error: the call is not valid JSON")
    assert batch.metrics["tool_error_rate"] == 1.0
    assert batch.rewards.tolist() == [1.0, 1.0]  # the tool never ran: no environment reward


def test_turn_and_token_limits() -> None:
    # one turn: a call is not answered, the trajectory is the sampled ids alone
    rollout, sampler, agent = _rollout([[CALL], [CALL]], max_turns=1)
    batch = rollout.collect(agent.model, [0], torch.Generator())
    assert _row(batch, 0)[0] == CALL and all(_row(batch, 0)[1])
    assert len(sampler.contexts) == 1 and batch.metrics["truncation_rate"] == 1.0
    # a cap on the whole response cuts the sampled ids, never the tool span
    rollout, sampler, agent = _rollout([[CALL, _ids("5")]] * 2, max_total_tokens=len(CALL) + 5)
    batch = rollout.collect(agent.model, [0], torch.Generator())
    assert _row(batch, 0)[0] == CALL and batch.metrics["truncation_rate"] == 1.0
    # more calls than max_tool_calls: the extra ones get an error result
    two = _ids('<call>add {"a": 1, "b": 1}</call><call>add {"a": 2, "b": 2}</call>')
    rollout, _, agent = _rollout([[two, _ids("5")]] * 2, max_tool_calls=1)
    batch = rollout.collect(agent.model, [0], torch.Generator())
    spans = BYTES.decode([i for i, k in zip(*_row(batch, 0)[:2], strict=True) if not k])
    assert (
        spans
        == "\n<result>2</result>\n<result>error: more than 1 tool calls in one turn</result>\n"
    )


def test_reset_failure_names_the_row() -> None:
    class Broken(Environment):
        def reset(self, **row: Any) -> None:
            raise KeyError("secret")

    rollout, _, agent = _rollout([[CALL]] * 2)
    rollout.environment = Broken
    with pytest.raises(TrainerError, match=r"train_data\[0\]: Broken.reset raised KeyError"):
        rollout.collect(agent.model, [0], torch.Generator())


# -- training: tool tokens get exactly zero gradient --------------------------------------------


def retained_logits(model: Any) -> list[Any]:
    """The logits of each of *model*'s forward passes under autograd, gradients retained."""
    captured: list[Any] = []

    def keep_logits(module: Any, args: Any, output: Any) -> None:
        if isinstance(output, torch.Tensor) and output.requires_grad:
            output.retain_grad()
            captured.append(output)

    model.register_forward_hook(keep_logits)
    return captured


def test_loss_gives_tool_result_tokens_zero_gradient() -> None:
    torch.manual_seed(0)
    rollout, _, agent = _rollout([[CALL, _ids("5")], [CALL, _ids("6")]])
    model = agent.model
    cfg = TorchTrainConfig(algorithm="grpo", group_size=2, batch_size=1, device="cpu")
    captured = retained_logits(model)
    collected: list[Any] = []

    class Recorded:
        def collect(self, *args: Any) -> Any:
            collected.append(rollout.collect(*args))
            return collected[-1]

    ctx = StepContext(
        cfg=cfg,
        objective=OBJECTIVES[Algorithm.GRPO],
        model=model,
        policy=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.0),
        dist=Distributed(),
        device=torch.device("cpu"),
        tok=rollout.tok,
        data=rollout.data,
        rollout=Recorded(),
    )
    metrics = rl_step(ctx, [0], 0)
    assert metrics["tool_calls"] == 1.0 and metrics["turns"] == 2.0
    (logits,) = captured
    (batch,) = collected
    width = batch.prompt_ids.shape[1]
    # logits at P + t - 1 predict response token t
    grad = logits.grad[:, width - 1 : -1].abs().sum(-1)
    trainable = batch.trainable_mask
    tool_tokens = batch.completion_mask & ~trainable
    assert int(tool_tokens.sum()) > 0
    assert bool((grad[tool_tokens] == 0).all())
    assert bool((grad[trainable] > 0).all())


# -- a real multi-turn TorchTrainer run ---------------------------------------------------------


def _first_turn_calls(model: Any, ids: Any, mask: Any, sampling: Sampling, gen: Any) -> Any:
    """The real sampler, except that a first turn (no result yet) is a call to ``add``
    whose logprobs are the model's own, so a short run trains on real tool use."""
    if any(
        BYTES.encode("<result>")[0:8] == row[i : i + 8]
        for row in ids.tolist()
        for i in range(len(row) - 7)
    ):
        return sample(model, ids, mask, sampling, gen)
    call = torch.tensor([CALL] * ids.shape[0])
    call_mask = torch.ones_like(call, dtype=torch.bool)
    with torch.no_grad():
        logprobs, _ = completion_logprobs(model, ids, mask, call, call_mask)
    return call, call_mask, logprobs


def test_multi_turn_training_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setattr(
        agent_rollout_module,
        "MultiTurnRollout",
        functools.partial(MultiTurnRollout, sampler=_first_turn_calls),
    )
    torch.manual_seed(0)
    policy = PolicyAgent(TinyCausalLM(d_model=32, n_layers=1, n_heads=2), BYTES)
    trainer = TorchTrainer()
    trainer.check_config(
        {
            "algorithm": "grpo",
            "batch_size": 2,
            "group_size": 2,
            "max_new_tokens": 4,
            "max_turns": 2,
            "max_steps": 2,
            "learning_rate": 1e-3,
            "device": "cpu",
            "output_dir": str(tmp_path),
        }
    )
    trainer.check_agent(
        PolicyAgent(policy.model, BYTES, instructions="Add.", environment=Calculator)
    )
    trainer.check_dataset([{"input": f"{a}+3=", "answer": str(a + 3)} for a in range(4)])
    trainer.check_reward("exact_match")
    trainer.mark_validated()
    before = [p.detach().clone() for p in policy.model.parameters()]
    metrics = asyncio.run(trainer.train())
    assert metrics.steps == 2
    last = trainer.last_step_metrics
    assert last["turns"] == 2.0 and last["tool_calls"] == 1.0 and last["tool_error_rate"] == 0.0
    assert last["trajectory_len"] > len(CALL)
    assert any(
        not torch.equal(a, b) for a, b in zip(before, policy.model.parameters(), strict=True)
    )


def test_check_agent_takes_an_orbiter_agent_with_a_policy() -> None:
    model = TinyCausalLM(d_model=16, n_layers=1, n_heads=2)
    trainer = TorchTrainer()
    trainer.check_agent(OrbiterAgent(), policy=PolicyAgent(model, BYTES))
    agent = trainer._agent
    assert agent is not None and agent.instructions == "Answer about the weather."
    assert [t.name for t in agent.toolset()] == ["weather"]
    assert "weather(city: string): The weather of a city." in agent.prompt_text("Oslo?")
    with pytest.raises(TrainerError, match="policy=PolicyAgent"):
        trainer.check_agent(OrbiterAgent())

    class BadTool(OrbiterTool):
        parameters: ClassVar[dict[str, Any]] = {
            "type": "object",
            "properties": {"city": {"type": "town"}},
        }

    class BadAgent(OrbiterAgent):
        tools: ClassVar[list[Any]] = [BadTool()]

    pytest.importorskip("jsonschema")
    with pytest.raises(TrainerError, match=r"agent.tools\[0\] \('weather'\): parameters"):
        trainer.check_agent(BadAgent(), policy=model)
