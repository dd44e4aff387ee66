"""Agents: tools, environments and tool-call formats for multi-turn rollouts.

- :func:`tool` makes a tool of a plain sync or async function (its JSON-schema parameters
  from the signature, the type hints and the docstring); orbiter-style tools (``name``,
  ``description``, ``parameters``, ``async execute(**kwargs)``) are accepted as they are.
- :class:`Environment` holds per-rollout state: one instance per trajectory, ``reset(**row)``
  with the record's fields, its ``@tool`` methods as tools, ``reward()`` and ``close()``.
- :class:`HermesFormat` and :class:`CompactFormat` write the tool list into the prompt, parse
  calls from generated text and render the results.

The torch rollout that uses them is :mod:`orbiter.train.torch.agent_rollout`. This package
imports neither torch nor verl.
"""

from __future__ import annotations

from orbiter.train.agents.environment import (
    Environment,
    check_reset_fields,
    environment_tools,
    reset_fields,
)
from orbiter.train.agents.execution import execute_call, execute_calls
from orbiter.train.agents.formats import (
    CompactFormat,
    HermesFormat,
    ToolCall,
    ToolCallFormat,
    ToolResult,
    default_format,
)
from orbiter.train.agents.tools import (
    FunctionTool,
    Tool,
    ToolArgumentError,
    ToolSchemaError,
    check_arguments,
    schema_of,
    tool,
)
from orbiter.train.agents.toolset import ToolSet, check_tool, function_schemas
from orbiter.train.agents.turn_prefix import check_turn_prefix

__all__ = [
    "CompactFormat",
    "Environment",
    "FunctionTool",
    "HermesFormat",
    "Tool",
    "ToolArgumentError",
    "ToolCall",
    "ToolCallFormat",
    "ToolResult",
    "ToolSchemaError",
    "ToolSet",
    "check_arguments",
    "check_reset_fields",
    "check_tool",
    "check_turn_prefix",
    "default_format",
    "environment_tools",
    "execute_call",
    "execute_calls",
    "function_schemas",
    "reset_fields",
    "schema_of",
    "tool",
]
