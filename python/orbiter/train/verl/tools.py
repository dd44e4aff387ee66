"""The tools of a verl run: the user's tools and environment checked, each found by an
importable reference, and verl's tool config file.

verl's workers build their tools from a YAML file
(``actor_rollout_ref.rollout.multi_turn.tool_config_path``, read by
``verl.tools.tool_registry.initialize_tools_from_config``), one entry a tool::

    tools:
      - class_name: orbiter.train.verl.tool_adapter.OrbiterTool
        config:
          type: native                   # verl's tool type
          kind: tool                     # or environment: a @tool method of an Environment
          reference: my_tools:multiply   # "module:qualname", imported in verl's workers
          name: multiply
          search_path: /home/me/project  # put on sys.path first, so the module imports
          timeout: 30.0                  # tool_timeout (null: none)
        tool_schema:                     # OpenAI function format, what the chat template gets
          type: function
          function: {name: multiply, description: ..., parameters: {...}}

:class:`~orbiter.train.verl.tool_adapter.OrbiterTool` (a subclass of verl's ``BaseTool``)
imports the reference and runs the calls. A tool verl's workers cannot import — a lambda, a
nested function, one defined in ``__main__`` — is refused here, by name, before anything is
written. An environment's tools get the record each trajectory starts from through verl's
``tools_kwargs`` (``extra_info.tools_kwargs.<tool>.create_kwargs`` of the dataset rows,
:func:`tools_kwargs`).

Nothing here imports verl; omegaconf (verl's own dependency) only when the file is written.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from orbiter.train.agents import (
    Environment,
    FunctionTool,
    HermesFormat,
    Tool,
    ToolSet,
    environment_tools,
    function_schemas,
)
from orbiter.train.errors import TrainerTypeError, TrainerValueError
from orbiter.train.integrations.verl import resolve
from orbiter.train.verl.reward import import_root

__all__ = [
    "ADAPTER_CLASS",
    "AGENT_LOOP",
    "ROW_KEY",
    "TOOL_FORMAT",
    "ToolPlan",
    "ToolSpec",
    "locate",
    "plan_tools",
    "resolve_reference",
    "tools_kwargs",
]

ADAPTER_CLASS = "orbiter.train.verl.tool_adapter.OrbiterTool"
"""The ``class_name`` of every entry: verl's tool registry imports it in each worker."""

AGENT_LOOP = "tool_agent"
"""verl's multi-turn tool agent loop (``ToolAgentLoop``, registered under this name): the
``agent_name`` column of the dataset rows and ``rollout.agent.default_agent_loop``."""

TOOL_FORMAT = "hermes"
"""verl's tool-call parser (``rollout.multi_turn.format``): orbiter's
:class:`~orbiter.train.agents.HermesFormat`."""

ROW_KEY = "orbiter_row"
"""The key of ``create_kwargs`` holding the record as JSON: parquet needs one struct type
for every row, and records' columns differ in type from row to row."""

_IMPORTABLE = (
    "verl's worker processes import each tool by its module and name: define it at module "
    "level in an importable module (not __main__, not a lambda or a nested function)"
)


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """One tool as verl's workers rebuild it.

    Attributes:
        name: The tool's name (the function name the policy calls).
        kind: ``"tool"``: *reference* is the tool (a ``@tool`` function, a plain function or
            an orbiter-style tool object); ``"environment"``: *reference* is an
            :class:`~orbiter.train.agents.Environment` class (or factory) and the tool is
            its ``@tool`` method *name*.
        reference: ``"module:qualname"``.
        search_path: The directory the module imports from ("" when it has no file).
        schema: The tool in the OpenAI function format.
    """

    name: str
    kind: Literal["tool", "environment"]
    reference: str
    search_path: str
    schema: dict[str, Any]

    def entry(self, timeout: float | None) -> dict[str, Any]:
        """This tool's entry of verl's tool config file."""
        return {
            "class_name": ADAPTER_CLASS,
            "config": {
                "type": "native",
                "kind": self.kind,
                "reference": self.reference,
                "name": self.name,
                "search_path": self.search_path,
                "timeout": None if timeout is None else float(timeout),
            },
            "tool_schema": self.schema,
        }


@dataclass(frozen=True, slots=True)
class ToolPlan:
    """The tools of a run (none: the single-turn rollout, as without this plan)."""

    tools: tuple[ToolSpec, ...] = ()

    @property
    def enabled(self) -> bool:
        """Whether verl's tool agent loop runs."""
        return bool(self.tools)

    @property
    def environment_tools(self) -> list[str]:
        """The names of the tools whose ``create`` gets the record (an environment's)."""
        return [t.name for t in self.tools if t.kind == "environment"]

    @property
    def reward_kwargs(self) -> dict[str, str]:
        """The keywords of :func:`orbiter.train.integrations.verl.compute_score` that add
        the environment's reward (verl's ``tool_rewards``) to the score."""
        return {"tool_rewards": "sum"} if self.environment_tools else {}

    def config(self, timeout: float | None) -> dict[str, Any]:
        """verl's tool config: ``{"tools": [entry, ...]}``."""
        return {"tools": [t.entry(timeout) for t in self.tools]}

    def write(self, path: Path, timeout: float | None) -> str:
        """Write :meth:`config` as YAML to *path* (parents created) and return the text.

        A ``${`` in a string is escaped: verl reads the file with OmegaConf, which would
        take it for an interpolation.

        Raises:
            TrainerTypeError: If omegaconf is not installed.
        """
        try:
            from omegaconf import OmegaConf
        except ImportError as exc:
            raise TrainerTypeError(
                "writing verl's tool config needs omegaconf (verl's own dependency): "
                "pip install 'orbiter-train[verl]'"
            ) from exc
        text = OmegaConf.to_yaml(OmegaConf.create(_escaped(self.config(timeout))))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return text


def _escaped(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("${", "\\${")
    if isinstance(value, Mapping):
        return {k: _escaped(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_escaped(v) for v in value]
    return value


def _walk(obj: Any, qualname: str) -> Any:
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _candidates(obj: Any) -> list[tuple[Any, Any]]:
    if isinstance(obj, FunctionTool):
        return [(getattr(obj.fn, "__module__", None), getattr(obj.fn, "__qualname__", None))]
    if isinstance(getattr(obj, "__qualname__", None), str):
        return [(getattr(obj, "__module__", None), obj.__qualname__)]
    module = sys.modules.get(type(obj).__module__)
    names = [name for name, value in vars(module).items() if value is obj] if module else []
    return [(type(obj).__module__, name) for name in names]


def locate(obj: Any) -> tuple[str, str] | None:
    """``(module, qualname)`` whose import gives *obj* back, or None.

    A function or class is found by its own ``__module__`` and ``__qualname__``; a
    ``@tool`` function by its function's (the module attribute is the tool, or the plain
    function it was made from); an orbiter-style tool object by a module-level name bound
    to it in the module that defines its class. Nothing in ``__main__`` is found: verl's
    workers run another main.
    """
    accepted = (obj, obj.fn) if isinstance(obj, FunctionTool) else (obj,)
    for module, qualname in _candidates(obj):
        if not module or not qualname or module == "__main__" or "<" in qualname:
            continue
        try:
            found = _walk(importlib.import_module(module), qualname)
        except Exception:
            continue
        if any(found is a for a in accepted):
            return module, qualname
    return None


def resolve_reference(reference: str, search_path: str = "") -> Any:
    """The object ``"module:qualname"`` names, imported once per process (*search_path*
    first on ``sys.path``)."""
    module, _, qualname = reference.partition(":")
    if not module or not qualname:
        raise TrainerValueError(f"reference {reference!r} must be 'module:qualname'")
    return resolve("tool", module, qualname, search_path)


def _reference(obj: Any, where: str) -> tuple[str, str]:
    found = locate(obj)
    if found is None:
        raise TrainerValueError(f"{where} cannot be imported by verl's workers: {_IMPORTABLE}")
    module, qualname = found
    return f"{module}:{qualname}", import_root(sys.modules[module])


def _check_verl_schema(tool: Tool, where: str) -> None:
    """verl's schema model (``OpenAIFunctionPropertySchema``) needs a JSON type for every
    parameter: a str or a list of str."""
    for key, prop in tool.parameters.get("properties", {}).items():
        kind = prop.get("type")
        kinds = [kind] if isinstance(kind, str) else kind
        if not isinstance(kinds, list) or not kinds or not all(isinstance(k, str) for k in kinds):
            raise TrainerValueError(
                f"{where}, parameter {key!r}: verl's tool schema needs a JSON 'type' for every "
                f"parameter, got {dict(prop)!r} (give the parameter a type hint: int, str, "
                "list[...], ...; a union of scalars is a list of types)"
            )


def _environment_class(environment: Any) -> Any:
    if isinstance(environment, type):
        return environment
    return type(environment())  # a factory: its instances' class holds the tools


def plan_tools(
    tools: Sequence[Any] = (), environment: Any = None, tool_format: Any = None
) -> ToolPlan:
    """Check *tools* and *environment* for verl and find each by an importable reference.

    *tools* are ``@tool`` functions, plain functions or orbiter-style tools (``name``,
    ``description``, ``parameters``, ``async execute(**kwargs)``); *environment* an
    :class:`~orbiter.train.agents.Environment` subclass or a factory of instances, whose
    ``@tool`` methods are tools too. verl parses calls in the Hermes format only, so
    *tool_format* must be None or :class:`~orbiter.train.agents.HermesFormat`.

    Raises:
        TrainerError: naming ``tools[i]`` (and its name) or the environment: a bad schema,
            a name used twice, a parameter without a JSON type, or a tool verl's workers
            cannot import.
    """
    if tool_format is not None and not isinstance(tool_format, HermesFormat):
        raise TrainerValueError(
            f"tool_format {type(tool_format).__name__}: verl parses tool calls in the Hermes "
            "format (<tool_call>...</tool_call>) only; use HermesFormat (the default with a "
            "chat template)"
        )
    if isinstance(tools, str | bytes) or not isinstance(tools, Sequence | set | frozenset):
        raise TrainerTypeError(f"tools must be a list of tools, got {type(tools).__name__}")
    specs: list[ToolSpec] = []
    checked = ToolSet(tools)  # errors name tools[i]
    for index, (obj, found) in enumerate(zip(tools, checked, strict=True)):
        where = f"tools[{index}] ({found.name!r})"
        _check_verl_schema(found, where)
        reference, search_path = _reference(obj, where)
        schema = function_schemas([found])[0]
        specs.append(ToolSpec(found.name, "tool", reference, search_path, schema))
    if environment is not None:
        if not callable(environment):
            raise TrainerTypeError(
                "environment must be an Environment subclass or a factory of instances, got "
                f"{type(environment).__name__}"
            )
        label = getattr(environment, "__qualname__", type(environment).__name__)
        klass = _environment_class(environment)
        if not issubclass(klass, Environment):
            raise TrainerTypeError(
                f"environment {label!r} makes {klass.__name__} instances, not Environments"
            )
        reference, search_path = _reference(environment, f"environment {label!r}")
        own = environment_tools(klass)
        if not own:
            raise TrainerValueError(f"environment {label!r} has no @tool methods")
        for found in ToolSet(own):
            where = f"environment {label!r}, tool {found.name!r}"
            if checked.get(found.name) is not None:
                raise TrainerValueError(f"{where}: a tool of tools has the same name")
            _check_verl_schema(found, where)
            schema = function_schemas([found])[0]
            specs.append(ToolSpec(found.name, "environment", reference, search_path, schema))
    return ToolPlan(tuple(specs))


def tools_kwargs(plan: ToolPlan, fields: Mapping[str, Any], where: str) -> dict[str, Any]:
    """verl's ``tools_kwargs`` of one dataset row: each environment tool's ``create_kwargs``
    hold the record's *fields* (:func:`~orbiter.train.agents.reset_fields`) as JSON under
    :data:`ROW_KEY`; *where* names the record in errors.

    Raises:
        TrainerTypeError: If a field is not JSON (verl's dataset carries it as text).
    """
    names = plan.environment_tools
    if not names:
        return {}
    try:
        row = json.dumps(dict(fields), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as err:
        bad = next((k for k, v in fields.items() if not _is_json(v)), "?")
        raise TrainerTypeError(
            f"{where}: column {bad!r} is not JSON ({err}); an environment's reset gets the "
            "record through verl's dataset as JSON"
        ) from None
    return {name: {"create_kwargs": {ROW_KEY: row}} for name in names}


def _is_json(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True
