"""Running parsed calls: arguments checked, async tools awaited under a deadline, sync ones
in a worker thread, and every failure (an unknown tool, a malformed call, invalid
arguments, an exception, a timeout) turned into an error result the policy reads.

Nothing a tool does stops a rollout: :func:`execute_calls` never raises for a call.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from orbiter.train.agents.formats import ToolCall, ToolResult, result_content
from orbiter.train.agents.tools import FunctionTool, ToolArgumentError, check_arguments
from orbiter.train.agents.toolset import ToolSet

__all__ = ["execute_call", "execute_calls"]

logger = logging.getLogger("orbiter.train.agents")


async def execute_call(tools: ToolSet, call: ToolCall, timeout: float | None) -> ToolResult:
    """The result of *call*: the tool's return value as text, or ``error: ...`` with
    ``error=True``."""

    def failed(message: str) -> ToolResult:
        return ToolResult(call.name, f"error: {message}", error=True)

    if call.error is not None:
        return failed(call.error)
    found = tools.get(call.name)
    if found is None:
        return failed(f"no tool named {call.name!r} (tools: {', '.join(tools.names)})")
    try:
        arguments = check_arguments(found.parameters, call.arguments, found.name)
        if isinstance(found, FunctionTool) and not found.is_async:
            pending = asyncio.to_thread(found.fn, **arguments)
        else:
            pending = found.execute(**arguments)
        value = await asyncio.wait_for(pending, timeout)
    except ToolArgumentError as err:
        return failed(str(err))
    except TimeoutError:
        return failed(f"tool {found.name!r} did not answer within {timeout} s")
    except Exception as err:  # a tool's own failure is the policy's to read
        logger.debug("tool %r raised %r", found.name, err)
        return failed(f"tool {found.name!r} raised {type(err).__name__}: {err}")
    return ToolResult(found.name, result_content(value))


async def execute_calls(
    tools: ToolSet, calls: Sequence[ToolCall], timeout: float | None
) -> list[ToolResult]:
    """:func:`execute_call` of every call, concurrently, results in the calls' order."""
    return list(await asyncio.gather(*(execute_call(tools, c, timeout) for c in calls)))
