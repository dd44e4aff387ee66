"""Tool-call formats: the tool list in the prompt, calls parsed from generated text, and the
text of the tool results that follows an assistant turn.

Two built-ins:

- :class:`HermesFormat`, the Hermes / Qwen form that TRL and verl parse by default: a call is
  ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` and a result
  ``<tool_response>...</tool_response>``. With a transformers tokenizer whose chat template
  takes ``tools=``, the template renders the tool list and the result turns.
- :class:`CompactFormat`, short enough for the byte-level ``TinyCausalLM``: the tool list is
  written into the instructions, a call is ``<call>name {"arg": value}</call>`` (the
  arguments optional) and a result ``<result>...</result>``.

A malformed call is data, never an exception: it parses to a :class:`ToolCall` with an
``error``, which the rollout answers with an error result.

This module imports neither torch nor verl.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from orbiter.train.agents.tools import Tool
from orbiter.train.agents.toolset import function_schemas
from orbiter.train.prompts import has_chat_template

__all__ = [
    "CompactFormat",
    "HermesFormat",
    "ToolCall",
    "ToolCallFormat",
    "ToolResult",
    "default_format",
]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One call parsed from generated text; *error* says why it could not be parsed."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What a call gave back, as the text the policy reads; *error*: it failed."""

    name: str
    content: str
    error: bool = False


class ToolCallFormat(Protocol):
    """How tools and their calls and results are written in a conversation."""

    def instructions(self, instructions: str, tools: Sequence[Tool]) -> str:
        """The agent's instructions with whatever this format writes about *tools*."""
        ...

    def template_tools(self, tools: Sequence[Tool]) -> list[dict[str, Any]] | None:
        """What the chat template's ``tools=`` gets (None: nothing)."""
        ...

    def parse(self, text: str) -> list[ToolCall]:
        """The calls in one assistant turn's *text*, in order (none: the final answer)."""
        ...

    def turn_text(self, content: str, calls: Sequence[ToolCall]) -> str:
        """The text of an assistant turn that says *content* and makes *calls*, as the
        policy samples it before its eos (:meth:`parse` of it gives back *calls*): what a
        demonstration's assistant message trains on."""
        ...

    def results_text(self, results: Sequence[ToolResult], tokenizer: Any) -> str:
        """The text after the assistant turn's end (its eos) up to the next assistant turn's
        start: the results and the template's scaffolding around them."""
        ...


def _call_of(payload: str, name: str | None = None) -> ToolCall:
    """A call from its JSON: ``{"name", "arguments"}``, or, with *name* known, the
    arguments object alone (empty: none)."""
    try:
        data = json.loads(payload) if payload.strip() else {}
    except json.JSONDecodeError as err:
        return ToolCall(name or "", error=f"the call is not valid JSON ({err.msg})")
    if name is None:
        if not isinstance(data, dict) or not isinstance(data.get("name"), str):
            return ToolCall("", error='a call must be {"name": str, "arguments": {...}}')
        name, data = data["name"], data.get("arguments", {})
        if isinstance(data, str):  # OpenAI's wire format holds the arguments as a string
            return _call_of(data, name)
    if not isinstance(data, dict):
        return ToolCall(name, error="the arguments must be a JSON object")
    return ToolCall(name, data)


def _json(value: Any) -> str:
    """*value* as the JSON a call carries: ``json.dumps``' default separators, non-ASCII
    text kept as it is."""
    return json.dumps(value, ensure_ascii=False)


def result_content(value: Any) -> str:
    """A tool's return value as text: JSON for dicts and lists, else ``str``."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list | tuple):
        try:
            return _json(value)
        except (TypeError, ValueError):
            pass
    return str(value)


@dataclass(frozen=True, slots=True)
class HermesFormat:
    """``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` calls and
    ``<tool_response>`` results, rendered by the tokenizer's chat template when it has one
    (the tool list through ``tools=``; each result turn as the difference between a
    conversation ending in a tool call and the same one with the results and the generation
    prompt, as TRL renders it)."""

    pattern: re.Pattern[str] = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.DOTALL)

    def instructions(self, instructions: str, tools: Sequence[Tool]) -> str:
        return instructions

    def template_tools(self, tools: Sequence[Tool]) -> list[dict[str, Any]] | None:
        return function_schemas(tools) if tools else None

    def parse(self, text: str) -> list[ToolCall]:
        calls = [_call_of(m.group(1)) for m in self.pattern.finditer(text)]
        if not calls and "<tool_call>" in text:
            calls.append(ToolCall("", error="a <tool_call> is not closed by </tool_call>"))
        return calls

    def turn_text(self, content: str, calls: Sequence[ToolCall]) -> str:
        """*content*, then one ``<tool_call>`` block a call, a line each (Qwen's chat
        templates write an assistant's tool calls so)."""
        blocks = [
            f"<tool_call>\n{_json({'name': c.name, 'arguments': c.arguments})}\n</tool_call>"
            for c in calls
        ]
        return "\n".join(p for p in (content, *blocks) if p)

    def results_text(self, results: Sequence[ToolResult], tokenizer: Any) -> str:
        if not has_chat_template(tokenizer):
            body = "".join(f"<tool_response>\n{r.content}\n</tool_response>\n" for r in results)
            return f"\n{body}"
        call = {"type": "function", "function": {"name": results[0].name, "arguments": {}}}
        head = [
            {"role": "user", "content": "."},
            {"role": "assistant", "content": "", "tool_calls": [call]},
        ]
        tool_turns = [{"role": "tool", "name": r.name, "content": r.content} for r in results]
        prefix = str(tokenizer.apply_chat_template(head, tokenize=False))
        full = str(
            tokenizer.apply_chat_template(
                head + tool_turns, tokenize=False, add_generation_prompt=True
            )
        )
        if not full.startswith(prefix):
            raise ValueError(
                "the chat template does not extend a conversation ending in a tool call "
                "with its tool results: a multi-turn rollout cannot append them"
            )
        # The sampled turn ends with eos; what the template writes after it (Qwen's "\n")
        # is scaffolding too.
        eos = getattr(tokenizer, "eos_token", None)
        bridge = ""
        if isinstance(eos, str) and eos and eos in prefix:
            bridge = prefix[prefix.rindex(eos) + len(eos) :]
        return bridge + full[len(prefix) :]


@dataclass(frozen=True, slots=True)
class CompactFormat:
    """``<call>name {"arg": value}</call>`` calls and ``<result>...</result>`` results, the
    tool list written into the instructions (one ``name(arg: type, ...): description`` a
    line)."""

    pattern: re.Pattern[str] = re.compile(r"<call>\s*(\w*)\s*(.*?)\s*</call>", re.DOTALL)

    def instructions(self, instructions: str, tools: Sequence[Tool]) -> str:
        if not tools:
            return instructions
        lines = []
        for t in tools:
            props = t.parameters.get("properties", {})
            args = ", ".join(f"{k}: {v.get('type', 'any')}" for k, v in props.items())
            lines.append(f"{t.name}({args}): {t.description}".rstrip(": "))
        listed = "\n".join(lines)
        usage = 'Call a tool as <call>name {"arg": value}</call>.'
        return "\n".join(p for p in (instructions, f"Tools:\n{listed}", usage) if p)

    def template_tools(self, tools: Sequence[Tool]) -> list[dict[str, Any]] | None:
        return None

    def parse(self, text: str) -> list[ToolCall]:
        calls = []
        for m in self.pattern.finditer(text):
            if not m.group(1):
                calls.append(ToolCall("", error="a <call> names no tool"))
            else:
                calls.append(_call_of(m.group(2), m.group(1)))
        if not calls and "<call>" in text:
            calls.append(ToolCall("", error="a <call> is not closed by </call>"))
        return calls

    def turn_text(self, content: str, calls: Sequence[ToolCall]) -> str:
        """*content* followed by ``<call>name {"arg": value}</call>`` a call (the
        arguments left out when there are none)."""
        written = [
            f"<call>{c.name} {_json(c.arguments)}</call>"
            if c.arguments
            else f"<call>{c.name}</call>"
            for c in calls
        ]
        return content + "".join(written)

    def results_text(self, results: Sequence[ToolResult], tokenizer: Any) -> str:
        return "".join(f"\n<result>{r.content}</result>" for r in results) + "\n"


def default_format(tokenizer: Any) -> ToolCallFormat:
    """:class:`HermesFormat` for a tokenizer with a chat template, else
    :class:`CompactFormat`."""
    return HermesFormat() if has_chat_template(tokenizer) else CompactFormat()
