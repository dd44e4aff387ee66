"""VeRLTrainer with tools: the tool config read back by verl's own tool registry, the adapter
driven through verl's ``BaseTool`` interface and by verl's own ``ToolAgentLoop`` (its
rollout server scripted: the policy's turns are fixed text), the dataset rows read by verl's
``RLHFDataset``, the score through verl's reward manager, and the overrides composed with
verl's Hydra config."""

from __future__ import annotations

import asyncio
import gc
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from orbiter.train import TrainerError, TrainerState
from orbiter.train.agents import CompactFormat, Environment, HermesFormat, function_schemas, tool
from orbiter.train.integrations import verl as score
from orbiter.train.verl import VeRLTrainer
from orbiter.train.verl.overrides import NO_CUT
from orbiter.train.verl.tools import ADAPTER_CLASS, ROW_KEY, locate
from tests.test_verl import _verl_config_dir

pytest.importorskip("verl.tools.tool_registry")

from verl.tools.base_tool import BaseTool
from verl.tools.tool_registry import initialize_tools_from_config, load_all_tools

from orbiter.train.verl.tool_adapter import OrbiterTool

ROOT = Path(__file__).resolve().parent.parent

# -- tools and an environment verl's workers can import (this module: tests.test_verl_tools) --


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers.

    Args:
        a: The first factor.
        b: The second.
    """
    return a * b


@tool
def explode(reason: str) -> str:
    """Fail with *reason*."""
    raise RuntimeError(reason)


@tool
async def wait(seconds: float) -> str:
    """Sleep for *seconds*."""
    await asyncio.sleep(seconds)
    return "woke"


def add(a: int, b: int) -> int:
    """Add two integers (a plain function).

    Args:
        a: The first addend.
        b: The second.
    """
    return a + b


# a tool made from a plain function under another name: its reference is the function's
ADD_AS_OPEN = tool(add, name="open_vault")


class Echo:
    """An orbiter-style tool object: name, description, parameters, async execute."""

    name = "echo"
    description = "Say it back."
    parameters: dict[str, Any] = {  # noqa: RUF012
        "type": "object",
        "properties": {"text": {"type": "string"}},
        "required": ["text"],
    }

    async def execute(self, **kwargs: Any) -> str:
        return str(kwargs["text"])


ECHO = Echo()

EVENTS: list[tuple[str, str]] = []


class Vault(Environment):
    """Per-trajectory state: opening counts, peeking reads the count."""

    def reset(self, secret: str = "", **row: Any) -> None:
        self.secret, self.opened, self.row = secret, 0, row
        EVENTS.append(("reset", secret))

    @tool
    def open_vault(self) -> str:
        """Open the vault (each opening costs ${5})."""
        self.opened += 1
        return self.secret

    @tool
    def peek(self, times: int) -> str:
        """How often the vault was opened.

        Args:
            times: Repeat the answer this often.
        """
        return " ".join([f"{self.secret}:{self.opened}"] * times)

    def reward(self) -> float:
        return 0.25 * self.opened

    def close(self) -> None:
        EVENTS.append(("close", self.secret))


class Failing(Environment):
    def reset(self, **row: Any) -> None:
        raise KeyError("no such row")

    @tool
    def poke(self) -> str:
        """Never reached."""
        return ""


class Spec:
    """A PolicyAgent-like spec: a model name, instructions, tools, an environment."""

    def __init__(self, tools: Any = (), environment: Any = None, tool_format: Any = None):
        self.model_name = "Qwen/Qwen2.5-0.5B-Instruct"
        self.instructions = "Use the tools."
        self.tools = tools
        self.environment = environment
        self.tool_format = tool_format


DATA = [
    {"input": "Open the vault.", "answer": "42", "secret": "s0", "level": 1},
    {"input": "Open it twice.", "answer": "43", "secret": "s1", "level": [2, 3]},
]


def dry_run(tmp_path: Path, agent: Any = None, **config: Any) -> tuple[VeRLTrainer, Any]:
    trainer = VeRLTrainer()
    trainer.check_agent(agent or Spec([multiply, add, ECHO, explode, wait], Vault))
    trainer.check_dataset(DATA)
    trainer.check_config({"output_dir": str(tmp_path / "out"), "dry_run": True, **config})
    trainer.mark_validated()
    return trainer, asyncio.run(trainer.train())


def by_name(tools: list[Any]) -> dict[str, Any]:
    return {t.name: t for t in tools}


# -- check_agent ---------------------------------------------------------------------------


def test_check_agent_takes_the_tools_torch_trainer_takes() -> None:
    trainer = VeRLTrainer()
    trainer.check_agent("org/model", tools=[multiply, add, ECHO], environment=Vault)
    specs = {s.name: s for s in trainer._tool_plan.tools}
    assert list(specs) == ["multiply", "add", "echo", "open_vault", "peek"]
    assert specs["multiply"].reference == f"{__name__}:multiply"
    assert specs["add"].reference == f"{__name__}:add"
    assert specs["echo"].reference == f"{__name__}:ECHO"
    assert {specs[n].reference for n in ("open_vault", "peek")} == {f"{__name__}:Vault"}
    assert {s.kind for s in specs.values()} == {"tool", "environment"}
    assert specs["multiply"].search_path == str(ROOT)
    assert specs["add"].schema == function_schemas([tool(add)])[0]
    # orbiter's Agent: instructions and a dict of tools; a PolicyAgent-like spec
    trainer.check_agent(Spec({"m": multiply}, Vault, HermesFormat()), tools=[add])
    assert [s.name for s in trainer._tool_plan.tools] == ["multiply", "add", "open_vault", "peek"]
    assert trainer._instructions == "Use the tools."
    trainer.check_agent("org/model")
    assert not trainer._tool_plan.enabled
    from orbiter.train.torch import PolicyAgent, TinyCausalLM

    with pytest.raises(TypeError, match="verl loads the model by its path or hub name"):
        trainer.check_agent(PolicyAgent(TinyCausalLM(), tools=[multiply]))


def test_tools_verl_workers_cannot_import_are_refused_by_name() -> None:
    @tool
    def nested(x: int) -> int:
        """Defined in a function."""
        return x

    class Local(Environment):
        @tool
        def ping(self) -> str:
            """Pong."""
            return "pong"

    trainer = VeRLTrainer()
    with pytest.raises(TrainerError, match=r"tools\[1\] \('nested'\) cannot be imported"):
        trainer.check_agent("m", tools=[multiply, nested])
    with pytest.raises(TrainerError, match=r"tools\[0\] \('echo'\) cannot be imported"):
        trainer.check_agent("m", tools=[Echo()])  # not bound to a module-level name
    with pytest.raises(TrainerError, match=r"tools\[0\].*'<lambda>'"):
        trainer.check_agent("m", tools=[lambda x: x])
    with pytest.raises(TrainerError, match=r"environment '.*Local' cannot be imported"):
        trainer.check_agent("m", environment=Local)
    assert locate(nested) is None and locate(multiply) == (__name__, "multiply")
    assert not trainer._tool_plan.enabled  # a refused agent changes nothing


def test_a_tool_defined_in_main_is_refused_by_name(tmp_path: Path) -> None:
    script = tmp_path / "main.py"
    script.write_text(
        textwrap.dedent(
            """
            from orbiter.train.agents import tool
            from orbiter.train.verl import VeRLTrainer

            @tool
            def lookup(key: str) -> str:
                '''Look it up.'''
                return key

            try:
                VeRLTrainer().check_agent("m", tools=[lookup])
            except Exception as err:
                print(err)
            """
        )
    )
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True)
    assert "tools[0] ('lookup') cannot be imported by verl's workers" in out.stdout
    assert "__main__" in out.stdout


def test_tools_verl_cannot_run_are_refused() -> None:
    @tool
    def untyped(x):  # type: ignore[no-untyped-def]
        """No hint: no JSON type."""
        return x

    trainer = VeRLTrainer()
    with pytest.raises(TrainerError, match=r"tools\[0\] \('untyped'\), parameter 'x'.*'type'"):
        trainer.check_agent("m", tools=[untyped])
    with pytest.raises(TrainerError, match="Hermes format"):
        trainer.check_agent(Spec([multiply], tool_format=CompactFormat()))
    with pytest.raises(TrainerError, match="tool 'open_vault': a tool of tools has the same"):
        trainer.check_agent("m", tools=[ADD_AS_OPEN], environment=Vault)
    with pytest.raises(TrainerError, match=r"tools\[1\]: a second tool named 'multiply'"):
        trainer.check_agent("m", tools=[multiply, multiply])
    with pytest.raises(TrainerError, match="tools must be a list"):
        trainer.check_agent("m", tools="multiply")  # type: ignore[arg-type]
    with pytest.raises(TrainerError, match="not Environments"):
        trainer.check_agent("m", environment=Echo)


# -- the files a dry run writes, read by verl's own code ------------------------------------


def test_dry_run_writes_and_shows_the_tool_config(tmp_path: Path, capsys: Any) -> None:
    trainer, metrics = dry_run(tmp_path, tool_timeout=0.5)
    assert trainer.state is TrainerState.COMPLETED
    path = tmp_path / "out" / "tools.yaml"
    assert metrics.extra["tool_config"] == str(path)
    printed = capsys.readouterr().out
    assert f"# {path}\n{path.read_text()}" in printed
    assert f"actor_rollout_ref.rollout.multi_turn.tool_config_path={path}" in printed
    loaded = initialize_tools_from_config(str(path))  # verl's loader imports the adapter
    assert [type(t) for t in loaded] == [OrbiterTool] * 7
    assert all(isinstance(t, BaseTool) for t in loaded)
    names = [t.name for t in loaded]
    assert names == ["multiply", "add", "echo", "explode", "wait", "open_vault", "peek"]
    assert all(e["class_name"] == ADAPTER_CLASS for e in trainer._tool_plan.config(0.5)["tools"])


def test_verls_registry_reads_back_every_tool_and_schema(tmp_path: Path) -> None:
    _, metrics = dry_run(tmp_path, tool_timeout=0.5)
    loaded = load_all_tools(tool_config_path=metrics.extra["tool_config"], function_tool_path=None)
    tools = by_name(loaded)
    assert list(tools) == ["multiply", "add", "echo", "explode", "wait", "open_vault", "peek"]
    expected = by_name([multiply, tool(add), ECHO, explode, wait, Vault.open_vault, Vault.peek])
    for name, found in expected.items():
        schema = tools[name].tool_schema.model_dump(exclude_unset=True, exclude_none=True)
        assert schema == function_schemas([found])[0], name
    opened = tools["open_vault"].tool_schema.function.description
    assert opened == "Open the vault (each opening costs ${5})."  # not an interpolation
    assert all(t.config["type"] == "native" for t in loaded)
    assert {t.config["timeout"] for t in loaded} == {0.5}


def test_overrides_compose_with_verls_config(tmp_path: Path) -> None:
    """``main_ppo``'s composition of ``ppo_trainer.yaml`` with the dry run's overrides, and
    verl's own dataclass of the multi-turn section."""
    hydra = pytest.importorskip("hydra")
    from verl.utils.config import omega_conf_to_dataclass
    from verl.workers.config import MultiTurnConfig

    _, metrics = dry_run(
        tmp_path, max_turns=3, max_tool_calls=2, max_total_tokens=700, max_tool_result_tokens=None
    )
    with hydra.initialize_config_dir(config_dir=str(_verl_config_dir()), version_base=None):
        cfg = hydra.compose("ppo_trainer", overrides=metrics.extra["overrides"])
    path = metrics.extra["tool_config"]
    multi_turn = omega_conf_to_dataclass(cfg.actor_rollout_ref.rollout.multi_turn)
    assert isinstance(multi_turn, MultiTurnConfig)
    assert multi_turn.enable is True and multi_turn.tool_config_path == path
    assert (multi_turn.max_assistant_turns, multi_turn.max_parallel_calls) == (3, 2)
    assert multi_turn.max_tool_response_length == NO_CUT and multi_turn.format == "hermes"
    assert cfg.actor_rollout_ref.rollout.agent.default_agent_loop == "tool_agent"
    assert cfg.data.tool_config_path == path  # verl's dataset reads the same file
    assert cfg.data.return_raw_chat is True
    assert cfg.data.max_response_length == 700 == cfg.actor_rollout_ref.rollout.response_length
    kwargs = cfg.reward.custom_reward_function.reward_kwargs
    assert kwargs.tool_rewards == "sum" and kwargs.reward_name == "math_equal"
    # without an environment no tool reward is added; without tools, no multi-turn keys
    _, plain = dry_run(tmp_path / "plain", agent=Spec([multiply]))
    assert not any("tool_rewards" in o for o in plain.extra["overrides"])
    _, none = dry_run(tmp_path / "none", agent="m")
    assert not any("multi_turn" in o for o in none.extra["overrides"])
    assert "tool_config" not in none.extra


def test_rows_are_read_by_verls_dataset(tmp_path: Path) -> None:
    from omegaconf import OmegaConf
    from verl.utils.dataset.rl_dataset import RLHFDataset

    from tests.offline_models import bpe_tokenizer

    dry_run(tmp_path)
    train = tmp_path / "out" / "data" / "train.parquet"
    assert pq.read_table(train).column_names[-1] == "agent_name"
    tokenizer = bpe_tokenizer([r["input"] for r in DATA] * 3)
    config = OmegaConf.create({"filter_overlong_prompts": False, "cache_dir": str(tmp_path)})
    dataset = RLHFDataset([str(train)], tokenizer, config)
    for index, record in enumerate(DATA):
        item = dataset[index]
        assert item["agent_name"] == "tool_agent"
        assert set(item["tools_kwargs"]) == {"open_vault", "peek"}  # the environment's tools
        row = json.loads(item["tools_kwargs"]["peek"]["create_kwargs"][ROW_KEY])
        assert row == {
            "prompt": record["input"],
            "answer": record["answer"],
            "secret": record["secret"],
            "level": record["level"],
        }
        assert item["raw_prompt"][-1] == {"role": "user", "content": record["input"]}


# -- the adapter through verl's BaseTool interface ------------------------------------------


def _loaded(tmp_path: Path, **config: Any) -> dict[str, Any]:
    _, metrics = dry_run(tmp_path, **config)
    return by_name(initialize_tools_from_config(metrics.extra["tool_config"]))


def test_plain_tools_through_base_tool(tmp_path: Path) -> None:
    tools = _loaded(tmp_path, tool_timeout=0.2)

    async def call(name: str, parameters: Any) -> tuple[str, float, dict[str, Any]]:
        instance, created = await tools[name].create(create_kwargs={})
        assert created.is_empty()
        response, reward, metrics = await tools[name].execute(instance, parameters)
        assert await tools[name].calc_reward(instance) == 0.0
        await tools[name].release(instance)
        return response.text, reward, metrics

    async def main() -> None:
        assert await call("multiply", {"a": 6, "b": 7}) == ("42", 0.0, {"tool_error": False})
        assert (await call("add", {"a": 2, "b": 3}))[0] == "5"
        assert (await call("echo", {"text": "hi"}))[0] == "hi"
        text, reward, metrics = await call("multiply", {"a": "6", "b": 7})
        assert text.startswith("error: tool 'multiply': argument 'a'") and "integer" in text
        assert (reward, metrics) == (0.0, {"tool_error": True})
        text, _, _ = await call("multiply", {"a": 6})
        assert text.startswith("error: tool 'multiply'") and "'b'" in text
        text, _, _ = await call("multiply", {"a": 6, "b": 7, "c": 1})
        assert text.startswith("error: tool 'multiply'") and "'c'" in text
        text, _, _ = await call("multiply", [6, 7])
        assert text == "error: tool 'multiply': arguments must be a JSON object, got list"
        text, _, _ = await call("explode", {"reason": "boom"})
        assert text == "error: tool 'explode' raised RuntimeError: boom"
        text, _, _ = await call("wait", {"seconds": 60.0})  # cancelled at tool_timeout
        assert text == "error: tool 'wait' did not answer within 0.2 s"
        response, _, metrics = await tools["echo"].execute("never-created", {"text": "x"})
        assert response.text.startswith("error: tool 'echo' has no instance") and metrics

    asyncio.run(main())


def test_environment_through_base_tool(tmp_path: Path) -> None:
    tools = _loaded(tmp_path)
    rows = pq.read_table(tmp_path / "out" / "data" / "train.parquet").to_pylist()
    create_kwargs = rows[1]["extra_info"]["tools_kwargs"]["open_vault"]["create_kwargs"]
    EVENTS.clear()

    async def main() -> None:
        vault = tools["open_vault"]
        instance, _ = await vault.create(create_kwargs=create_kwargs)
        assert EVENTS == []  # made when first used
        assert await vault.calc_reward(instance) == 0.0
        assert EVENTS == [("reset", "s1")]
        for opened in (1, 2):
            response, step, metrics = await vault.execute(instance, {})
            assert (response.text, step, metrics) == ("s1", 0.25, {"tool_error": False})
            assert await vault.calc_reward(instance) == 0.25 * opened
        response, step, _ = await vault.execute(instance, {"extra": 1})
        assert response.text.startswith("error: tool 'open_vault'") and step == 0.0
        await vault.release(instance)
        assert EVENTS == [("reset", "s1"), ("close", "s1")]
        # the record's fields as they are, when create_kwargs are not orbiter's JSON
        instance, _ = await tools["peek"].create(create_kwargs={"secret": "plain"})
        response, _, _ = await tools["peek"].execute(instance, {"times": 2})
        assert response.text == "plain:0 plain:0"
        await tools["peek"].release(instance)

    asyncio.run(main())


def test_a_failing_reset_is_an_error_result(tmp_path: Path) -> None:
    _, metrics = dry_run(tmp_path, agent=Spec(environment=Failing))
    (poke,) = initialize_tools_from_config(metrics.extra["tool_config"])

    async def main() -> str:
        instance, _ = await poke.create(create_kwargs={})
        response, step, _ = await poke.execute(instance, {})
        await poke.release(instance)
        return f"{response.text} {step}"

    assert asyncio.run(main()) == (
        "error: the environment of tool 'poke' failed to reset: KeyError('no such row') 0.0"
    )


async def test_an_unjson_column_fails_before_launch(tmp_path: Path) -> None:
    trainer = VeRLTrainer()
    trainer.check_agent("m", environment=Vault)
    trainer.check_dataset([*DATA, {"input": "x", "answer": "1", "when": object()}])
    trainer.check_config({"output_dir": str(tmp_path), "dry_run": True})
    trainer.mark_validated()
    with pytest.raises(TrainerError, match=r"train_data\[2\]: column 'when' is not JSON"):
        await trainer.train()


def test_release_keeps_a_trajectorys_environment_until_it_ends(tmp_path: Path) -> None:
    """verl 0.9 creates and releases an instance around every call and passes the
    trajectory's AgentData: the environment lives for the trajectory, across tools."""
    from verl.experimental.agent_loop.tool_agent_loop import AgentData

    tools = _loaded(tmp_path)
    EVENTS.clear()

    async def main() -> list[float]:
        data = AgentData([], [], [], None, None, {}, "r", {})
        steps = []
        for name, parameters in (("open_vault", {}), ("open_vault", {}), ("peek", {"times": 1})):
            instance, _ = await tools[name].create(create_kwargs={"secret": "t"})
            response, step, _ = await tools[name].execute(instance, parameters, agent_data=data)
            await tools[name].release(instance)
            steps.append(step)
        assert response.text == "t:2"  # peek sees what open_vault did
        assert EVENTS == [("reset", "t")]
        return steps

    assert asyncio.run(main()) == [0.25, 0.25, 0.0]
    gc.collect()
    assert EVENTS == [("reset", "t"), ("close", "t")]


# -- verl's own tool agent loop, its rollout server scripted ----------------------------------

# A Qwen-style template: the tool list in the system turn, calls as <tool_call> JSON, results
# as <tool_response> in a user turn (what verl's default Continuous Token builder renders).
CHAT_TEMPLATE = """\
{%- if tools %}<|im_start|>system
{% if messages[0].role == 'system' %}{{ messages[0].content }}
{% endif %}<tools>
{% for t in tools %}{{ t | tojson }}
{% endfor %}</tools><|im_end|>
{% elif messages[0].role == 'system' %}<|im_start|>system
{{ messages[0].content }}<|im_end|>
{% endif %}
{%- for message in messages %}
{%- if message.role == 'user' %}<|im_start|>user
{{ message.content }}<|im_end|>
{% elif message.role == 'assistant' %}<|im_start|>assistant
{{ message.content }}{% for call in message.tool_calls or [] %}<tool_call>
{"name": "{{ call.function.name }}", "arguments": {{ call.function.arguments | tojson }}}
</tool_call>{% endfor %}<|im_end|>
{% elif message.role == 'tool' %}<|im_start|>user
<tool_response>
{{ message.content }}
</tool_response><|im_end|>
{% endif %}
{%- endfor %}
{%- if add_generation_prompt %}<|im_start|>assistant
{% endif %}"""

TURNS = [
    '<tool_call>\n{"name": "open_vault", "arguments": {}}\n</tool_call>',
    '<tool_call>\n{"name": "peek", "arguments": {"times": 2}}\n</tool_call>',
    "The answer is 42",
]


def test_verls_tool_agent_loop_runs_the_environment_and_scores_it(tmp_path: Path) -> None:
    """One trajectory through verl's ``ToolAgentLoop.run`` (its parser, tool calls, token
    merging) with the tools verl's registry loads from the dry run's file and the row verl's
    dataset reads, then verl's reward path (``AgentLoopWorker._compute_score`` and the reward
    manager verl loads for the composed config). Only the rollout server is scripted: the
    policy's three turns are fixed text."""
    hydra = pytest.importorskip("hydra")
    agent_loop = pytest.importorskip("verl.experimental.agent_loop.agent_loop")
    from omegaconf import OmegaConf
    from verl.experimental.agent_loop.tool_agent_loop import ToolAgentLoop
    from verl.experimental.reward_loop.reward_loop import migrate_legacy_reward_impl
    from verl.trainer.ppo.reward import load_reward_manager
    from verl.utils.dataset.rl_dataset import RLHFDataset
    from verl.workers.rollout.replica import TokenOutput

    from tests.offline_models import bpe_tokenizer

    _, metrics = dry_run(tmp_path, agent=Spec(environment=Vault), max_turns=4)
    with hydra.initialize_config_dir(config_dir=str(_verl_config_dir()), version_base=None):
        cfg = hydra.compose("ppo_trainer", overrides=metrics.extra["overrides"])
    tokenizer = bpe_tokenizer([*TURNS, CHAT_TEMPLATE, "s0:1"] * 4, eos="<|im_end|>")
    tokenizer.add_special_tokens({"additional_special_tokens": ["<|im_start|>"]})
    tokenizer.chat_template = CHAT_TEMPLATE
    dataset = RLHFDataset(
        [str(tmp_path / "out" / "data" / "train.parquet")],
        tokenizer,
        OmegaConf.create({"filter_overlong_prompts": False, "cache_dir": str(tmp_path)}),
    )
    item = dataset[0]  # secret s0, answer 42
    tool_config = cfg.actor_rollout_ref.rollout.multi_turn.tool_config_path
    tools = load_all_tools(tool_config_path=tool_config, function_tool_path=None)

    class Server:
        def __init__(self) -> None:
            self.prompts: list[str] = []

        async def generate(self, request_id: str, prompt_ids: list[int], **_: Any) -> Any:
            self.prompts.append(tokenizer.decode(prompt_ids))
            text = TURNS[len(self.prompts) - 1]
            ids = [*tokenizer.encode(text, add_special_tokens=False), tokenizer.eos_token_id]
            return TokenOutput(token_ids=ids, log_probs=[-0.5] * len(ids))

    class Remote:  # a Ray actor handle's .compute_score.remote, in this process
        def __init__(self, manager: Any) -> None:
            self.compute_score = self
            self.manager = manager

        def remote(self, data: Any) -> Any:
            return self.manager.run_single(data)

    server = Server()
    EVENTS.clear()

    async def main() -> Any:
        loop = ToolAgentLoop(
            trainer_config=agent_loop.DictConfigWrap(cfg),
            server_manager=server,
            tokenizer=tokenizer,
            processor=None,
            dataset_cls=RLHFDataset,
            data_config=agent_loop.DictConfigWrap(cfg.data),
            tools=agent_loop.ToolListWrap(tools),
        )
        kwargs = {k: item[k] for k in ("raw_prompt", "tools_kwargs", "extra_info")}
        output = await loop.run({"temperature": 1.0}, **kwargs)
        del loop
        gc.collect()
        assert EVENTS == [("reset", "s0"), ("close", "s0")]  # closed when the rollout ended
        worker = agent_loop.AgentLoopWorker.__new__(agent_loop.AgentLoopWorker)
        worker.processor = None
        worker.mm_processor_kwargs = {}
        reward_config = migrate_legacy_reward_impl(OmegaConf.create(OmegaConf.to_container(cfg)))
        worker.reward_loop_worker_handles = [Remote(load_reward_manager(reward_config, tokenizer))]
        keys = ("data_source", "reward_model", "extra_info", "raw_prompt", "tools_kwargs")
        await worker._compute_score([output], kwargs={k: item[k] for k in keys})
        return output

    output = asyncio.run(main())
    assert len(server.prompts) == 3 and output.num_turns == 6
    assert "<tool_response>\ns0\n</tool_response>" in server.prompts[1]
    assert "<tool_response>\ns0:1 s0:1\n</tool_response>" in server.prompts[2]
    assert '"name": "peek"' in server.prompts[0]  # the tool list went to the template
    assert output.extra_fields["tool_rewards"] == [0.25, 0.0]
    # math_equal("... The answer is 42", "42") = 1, plus the environment's reward() = 0.25
    assert output.reward_score == 1.25
    info = output.extra_fields["reward_extra_info"]
    assert info["tool_reward"] == 0.25 and info["acc"] is True and info["pred"] == "42"
    sampled = sum(output.response_mask)
    assert 0 < sampled < len(output.response_mask)  # tool results are not trainable


# -- the score module ------------------------------------------------------------------------


def test_compute_score_adds_the_tool_rewards() -> None:
    import numpy as np

    base = score.compute_score("orbiter", "#### 42", "42")
    assert base == {"score": 1.0, "acc": True, "pred": "42"}
    info = {"tool_rewards": np.array([0.25, -0.5, 0.125])}
    assert score.compute_score("orbiter", "#### 42", "42", info) == base  # off by default
    added = score.compute_score("orbiter", "#### 41", "42", info, tool_rewards="sum")
    assert added == {"score": -0.125, "acc": False, "pred": "41", "tool_reward": -0.125}
    for none in (None, {}, {"tool_rewards": None}, {"tool_rewards": []}):
        got = score.compute_score("orbiter", "#### 42", "42", none, tool_rewards="sum")
        assert got == {**base, "tool_reward": 0.0}
    user = score.compute_score(
        "orbiter",
        "5 apples",
        "5",
        {"tool_rewards": [1.0]},
        reward_kind="pair",
        reward_module="tests.test_verl",
        reward_name="first_word_reward",
        tool_rewards="sum",
    )
    assert user["score"] == 2.0 and user["tool_reward"] == 1.0
    batch = score.compute_score_batch(
        ["a", "b"], ["#### 1", "#### 2"], ["1", "3"], [info, None], tool_rewards="sum"
    )
    assert [b["score"] for b in batch] == [1.0 - 0.125, 0.0]
    with pytest.raises(ValueError, match="tool_rewards must be one of"):
        score.compute_score("orbiter", "1", "1", info, tool_rewards="mean")


# -- the README's example ----------------------------------------------------------------------


def test_readme_verl_tools_example_runs(tmp_path: Path) -> None:
    """The README's two verl tool blocks: the module of tools, then the script (a dry run)."""
    section = (ROOT / "README.md").read_text().split("### Tools and environments on verl", 1)[1]
    blocks = re.findall(r"```python\n(.+?)\n```", section.split("\n## ", 1)[0], re.DOTALL)
    module, script = blocks[:2]
    name = re.match(r"# (\w+)\.py", module)
    assert name is not None, "the first block names its module file"
    (tmp_path / f"{name.group(1)}.py").write_text(module)
    (tmp_path / "train_tools.py").write_text(script)
    out = subprocess.run(
        [sys.executable, "train_tools.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "actor_rollout_ref.rollout.multi_turn.enable=true" in out.stdout
    loaded = initialize_tools_from_config(str(next(tmp_path.rglob("tools.yaml"))))
    assert all(isinstance(t, OrbiterTool) for t in loaded) and loaded
