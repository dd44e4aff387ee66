"""The tools of one agent, checked once: its own and those of its environment.

Tools are accepted duck-typed, as orbiter's ``Agent.tools`` holds them: any object with a
``name``, a ``description``, a JSON-schema ``parameters`` and ``async execute(**kwargs)``;
a plain function is made a tool with :func:`~orbiter.train.agents.tool`.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from orbiter.train.agents.tools import Tool, ToolSchemaError, tool

__all__ = ["ToolSet", "check_tool", "function_schemas"]


def check_tool(obj: Any, index: int) -> Tool:
    """*obj* as a :class:`~orbiter.train.agents.Tool`: a plain callable goes through
    :func:`tool`; anything else needs orbiter's shape.

    Raises:
        ToolSchemaError: naming ``tools[index]`` (and its name once known) and the field.
    """
    if not hasattr(obj, "execute") and callable(obj):
        obj = tool(obj)
    name = getattr(obj, "name", None)
    where = f"tools[{index}]" + (f" ({name!r})" if isinstance(name, str) else "")
    if not isinstance(name, str) or not name.isidentifier():
        raise ToolSchemaError(f"{where}: name must be an identifier str, got {name!r}")
    if not isinstance(getattr(obj, "description", None), str):
        raise ToolSchemaError(f"{where}: description must be a str")
    execute = getattr(obj, "execute", None)
    if not callable(execute) or not inspect.iscoroutinefunction(execute):
        raise ToolSchemaError(f"{where}: needs an `async def execute(**kwargs)`")
    params = getattr(obj, "parameters", None)
    if not isinstance(params, Mapping) or params.get("type", "object") != "object":
        raise ToolSchemaError(f"{where}: parameters must be a JSON schema of type 'object'")
    properties = params.get("properties", {})
    if not isinstance(properties, Mapping):
        raise ToolSchemaError(f"{where}: parameters.properties must be an object")
    for key, prop in properties.items():
        if not isinstance(prop, Mapping):
            raise ToolSchemaError(f"{where}, parameter {key!r}: its schema must be an object")
    for key in params.get("required", []):
        if key not in properties:
            raise ToolSchemaError(f"{where}, parameter {key!r}: required but not in properties")
    try:
        import jsonschema
    except ImportError:
        return obj  # type: ignore[no-any-return]
    try:
        jsonschema.validators.validator_for(params).check_schema(params)
    except jsonschema.exceptions.SchemaError as err:
        path = ".".join(str(p) for p in err.absolute_path)
        raise ToolSchemaError(f"{where}: parameters.{path}: {err.message}") from err
    return obj  # type: ignore[no-any-return]


class ToolSet:
    """Tools by name, in order: checked with :func:`check_tool`, names unique."""

    def __init__(self, tools: Iterable[Any] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for index, obj in enumerate(tools):
            checked = check_tool(obj, index)
            if checked.name in self._tools:
                raise ToolSchemaError(f"tools[{index}]: a second tool named {checked.name!r}")
            self._tools[checked.name] = checked

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    @property
    def names(self) -> list[str]:
        return list(self._tools)

    def schemas(self) -> list[dict[str, Any]]:
        """:func:`function_schemas` of these tools."""
        return function_schemas(self)


def function_schemas(tools: Iterable[Tool]) -> list[dict[str, Any]]:
    """The tools in the OpenAI / Hugging Face format a chat template's ``tools=`` takes:
    ``{"type": "function", "function": {"name", "description", "parameters"}}``."""
    return [
        {
            "type": "function",
            "function": {
                "name": t.name,
                "description": t.description,
                "parameters": dict(t.parameters),
            },
        }
        for t in tools
    ]
