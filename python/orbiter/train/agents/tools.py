"""Tools: ``@tool`` on a plain function, its JSON-schema parameters, and argument checks.

A tool is what a policy may call during a rollout: a name, a description, a JSON schema of
its keyword arguments (``{"type": "object", "properties": ..., "required": ...}``, the
OpenAI / Hugging Face function format) and ``async execute(**kwargs)``. :func:`tool` makes
one from a sync or async function, reading the schema from its signature, its type hints
and the ``Args:`` section of its docstring (Google style, as transformers'
``get_json_schema`` reads it). Arguments are checked against the schema before a call,
with ``jsonschema`` when it is installed and a minimal type check otherwise.

This module imports neither torch nor verl.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from orbiter.train.errors import TrainerTypeError, TrainerValueError

__all__ = [
    "FunctionTool",
    "Tool",
    "ToolArgumentError",
    "ToolSchemaError",
    "check_arguments",
    "schema_of",
    "tool",
]


class ToolSchemaError(TrainerTypeError):
    """A tool's schema cannot be built or is malformed; the message names the tool and the
    parameter."""


class ToolArgumentError(TrainerValueError):
    """A call's arguments do not match the tool's schema; the message names the tool and
    the argument."""


@runtime_checkable
class Tool(Protocol):
    """What a rollout calls: orbiter's tool shape, which any object may have (duck-typed)."""

    name: str
    description: str
    parameters: dict[str, Any]

    async def execute(self, **kwargs: Any) -> Any: ...


_SCALARS: dict[Any, str] = {
    int: "integer",
    float: "number",
    str: "string",
    bool: "boolean",
    type(None): "null",
}


def _type_schema(hint: Any, where: str) -> dict[str, Any]:
    """The JSON schema of one type hint (*where* names the tool and parameter in errors)."""
    if hint is inspect.Parameter.empty or hint is Any:
        return {}
    hint = type(None) if hint is None else hint
    if hint in _SCALARS:
        return {"type": _SCALARS[hint]}
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint in (list, tuple, dict) or origin in (list, tuple, dict):
        return _container_schema(hint, origin, args, where)
    if origin is Literal:
        return {"enum": list(args)}
    if origin in (typing.Union, types.UnionType):
        options = [_type_schema(a, where) for a in args]
        if all(set(o) == {"type"} and isinstance(o["type"], str) for o in options):
            return {"type": [o["type"] for o in options]}
        return {"anyOf": options}
    raise ToolSchemaError(
        f"{where}: type {hint!r} has no JSON schema (use int, float, str, bool, "
        "list[...], dict, Literal[...] or a union of them)"
    )


def _container_schema(hint: Any, origin: Any, args: tuple[Any, ...], where: str) -> dict[str, Any]:
    """``dict`` is an object; ``list[X]`` and ``tuple[X, ...]`` arrays of X."""
    if hint is dict or origin is dict:
        return {"type": "object"}
    schema: dict[str, Any] = {"type": "array"}
    items = [a for a in args if a is not Ellipsis]
    if len(items) == 1:
        schema["items"] = _type_schema(items[0], where)
    return schema


_ARG_LINE = re.compile(r"^\s*(\*{0,2}\w+)\s*(?:\(([^)]*)\))?\s*:\s*(.*)$")


def _docstring_parts(doc: str | None) -> tuple[str, dict[str, str]]:
    """The description (the text before the first section) and the ``Args:`` entries."""
    text = inspect.cleandoc(doc or "")
    lines = text.splitlines()
    description: list[str] = []
    args: dict[str, str] = {}
    section = None
    current: str | None = None
    args_indent = 0
    for line in lines:
        header = line.strip().rstrip(":")
        if line and not line[0].isspace() and line.strip().endswith(":") and header.isalpha():
            section, current = header.lower(), None
            continue
        if section is None:
            description.append(line)
        elif section in ("args", "arguments", "parameters"):
            match = _ARG_LINE.match(line)
            indent = len(line) - len(line.lstrip())
            if match and (current is None or indent <= args_indent):
                current, args_indent = match.group(1).lstrip("*"), indent
                args[current] = match.group(3).strip()
            elif current is not None and line.strip():
                args[current] = f"{args[current]} {line.strip()}".strip()
    return " ".join(" ".join(description).split()), args


def schema_of(fn: Callable[..., Any], name: str | None = None) -> dict[str, Any]:
    """The JSON-schema ``parameters`` of *fn*: one property per parameter (``self``,
    ``*args`` and ``**kwargs`` excepted) typed from its hint and described from the
    docstring's ``Args:``; ``required`` lists those without a default.

    Raises:
        ToolSchemaError: a hint with no JSON schema, or a parameter that cannot be passed by
            keyword, naming the tool and the parameter.
    """
    tool_name = name or fn.__name__
    try:
        hints = typing.get_type_hints(fn)
    except Exception as err:  # a forward reference that does not resolve
        raise ToolSchemaError(f"tool {tool_name!r}: its type hints do not resolve: {err}") from err
    _, described = _docstring_parts(fn.__doc__)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for param in inspect.signature(fn).parameters.values():
        if param.name == "self" or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        where = f"tool {tool_name!r}, parameter {param.name!r}"
        if param.kind is param.POSITIONAL_ONLY:
            raise ToolSchemaError(f"{where}: is positional-only; tools are called by keyword")
        prop = _type_schema(hints.get(param.name, inspect.Parameter.empty), where)
        if param.name in described:
            prop["description"] = described[param.name]
        if param.default is param.empty:
            required.append(param.name)
        elif param.default is None or isinstance(param.default, int | float | str | bool):
            prop["default"] = param.default
        properties[param.name] = prop
    return {"type": "object", "properties": properties, "required": required}


def _check_minimal(schema: Mapping[str, Any], arguments: Mapping[str, Any], tool_name: str) -> None:
    """Unknown and missing arguments, and the JSON type of each top-level one."""
    properties = schema.get("properties", {})
    for key in schema.get("required", []):
        if key not in arguments:
            raise ToolArgumentError(f"tool {tool_name!r}: missing required argument {key!r}")
    python_types: dict[str, tuple[type, ...]] = {
        "integer": (int,),
        "number": (int, float),
        "string": (str,),
        "boolean": (bool,),
        "array": (list, tuple),
        "object": (dict,),
        "null": (type(None),),
    }
    for key, value in arguments.items():
        if key not in properties:
            if schema.get("additionalProperties", True) is False or properties:
                raise ToolArgumentError(f"tool {tool_name!r}: unknown argument {key!r}")
            continue
        kinds = properties[key].get("type")
        if kinds is None:
            continue
        kinds = [kinds] if isinstance(kinds, str) else list(kinds)
        accepted = tuple(t for k in kinds for t in python_types.get(k, (object,)))
        is_bool = isinstance(value, bool)
        if not isinstance(value, accepted) or (is_bool and "boolean" not in kinds):
            raise ToolArgumentError(
                f"tool {tool_name!r}: argument {key!r} = {value!r} is not of type "
                f"{' or '.join(kinds)}"
            )


def check_arguments(
    schema: Mapping[str, Any], arguments: Any, tool_name: str = "tool"
) -> dict[str, Any]:
    """*arguments* as a dict once they match *schema*, validated by ``jsonschema`` when it is
    installed (else :func:`_check_minimal`: missing, unknown and mistyped arguments).

    Raises:
        ToolArgumentError: naming the tool and the first offending argument.
    """
    if not isinstance(arguments, Mapping):
        raise ToolArgumentError(
            f"tool {tool_name!r}: arguments must be a JSON object, got {type(arguments).__name__}"
        )
    checked: dict[str, Any] = dict(arguments)
    try:
        import jsonschema
    except ImportError:
        _check_minimal(schema, checked, tool_name)
        return checked
    validator_class = jsonschema.validators.validator_for(schema)
    error = jsonschema.exceptions.best_match(validator_class(schema).iter_errors(checked))
    if error is not None:
        where = ".".join(str(p) for p in error.absolute_path)
        at = f"argument {where!r}" if where else "arguments"
        raise ToolArgumentError(f"tool {tool_name!r}: {at}: {error.message}")
    if schema.get("properties") and (unknown := set(checked) - set(schema["properties"])):
        raise ToolArgumentError(f"tool {tool_name!r}: unknown argument {sorted(unknown)[0]!r}")
    return checked


@dataclass(slots=True)
class FunctionTool:
    """A tool made by :func:`tool` from a sync or async function.

    Attributes:
        fn: The function (a bound method for an :class:`~orbiter.train.agents.Environment`'s).
        name: The function's name unless given.
        description: The docstring's text before its first section.
        parameters: The JSON schema of the keyword arguments (:func:`schema_of`).
    """

    fn: Callable[..., Any]
    name: str
    description: str
    parameters: dict[str, Any] = field(default_factory=dict)

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.fn)

    def check(self, arguments: Any) -> dict[str, Any]:
        """:func:`check_arguments` against this tool's schema."""
        return check_arguments(self.parameters, arguments, self.name)

    async def execute(self, **kwargs: Any) -> Any:
        """Check *kwargs* and call the function (awaited when async)."""
        arguments = self.check(kwargs)
        if self.is_async:
            return await typing.cast(Awaitable[Any], self.fn(**arguments))
        return self.fn(**arguments)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """The function itself, unchecked: a decorated function still works as one."""
        return self.fn(*args, **kwargs)

    def __get__(self, instance: Any, owner: type | None = None) -> FunctionTool:
        """On an instance (an Environment's method), the tool of the bound method."""
        if instance is None:
            return self
        bound = typing.cast(Callable[..., Any], types.MethodType(self.fn, instance))
        return FunctionTool(bound, self.name, self.description, self.parameters)


def tool(fn: Callable[..., Any] | None = None, *, name: str | None = None) -> Any:
    """Make a :class:`FunctionTool` of *fn*: ``@tool`` or ``@tool(name="...")``.

    Example:
        >>> @tool
        ... def add(a: int, b: int) -> int:
        ...     '''Add two integers.
        ...
        ...     Args:
        ...         a: The first.
        ...         b: The second.
        ...     '''
        ...     return a + b
        >>> add.parameters["required"]
        ['a', 'b']
    """

    def make(f: Callable[..., Any]) -> FunctionTool:
        if not callable(f):
            raise ToolSchemaError(f"@tool needs a function, got {type(f).__name__}")
        tool_name = name or f.__name__
        description, _ = _docstring_parts(f.__doc__)
        return FunctionTool(f, tool_name, description, schema_of(f, tool_name))

    return make if fn is None else make(fn)
