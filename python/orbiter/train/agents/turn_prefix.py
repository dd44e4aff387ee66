"""The turn-prefix check: a chat template must keep each turn of a tool-use conversation a
prefix of the next, or training on the rollout's tokens does not match inference.

The multi-turn rollout never re-renders a conversation: each turn appends exactly the ids the
policy sampled, then the tool results as a span rendered on its own
(:meth:`ToolCallFormat.results_text`). A serving stack renders the whole history with the
chat template at every turn instead. The two agree only when the template renders turn
``k + 1`` as turn ``k`` followed by more tokens. Templates that drop earlier reasoning
(``<think>`` blocks cut from past assistant turns, as DeepSeek-R1's does) or restyle past
tool calls break this, and the policy is then trained on sequences it never reads when
deployed: the field's most reported multi-turn bug.

:func:`check_turn_prefix` renders the agent's own message pattern, a system prompt with its
instructions and tools, a user message, an assistant turn calling the agent's first tool,
the tool's result and a final assistant answer (without and, when the template knows them,
with ``<think>`` blocks), tokenizes each rendering, and checks that the history after the
call is a token prefix of the history after the result (with the next generation prompt),
and that one of the final answer: the property TRL's ``is_chat_template_prefix_preserving``
tests, on this agent's tools and instructions. A generation prompt is not compared with the
assistant turn after it, since a template may prefill ``<think>`` there that the sampled text
closes. With the Hermes format and a template that does not prefill, it also checks that the
rollout's own layout of turn 2 (the rendered prompt, the call as the template writes it up to
its eos, and the results span encoded on its own) is the template's rendering token for
token, which fails when the tokenizer's eos is not the template's end of turn. A failure
names the first differing token. Tokenizers without a chat template render with this
package's fallback, whose turns are prefixes by construction: nothing to check.

This module imports neither torch nor verl.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from orbiter.train.agents.formats import HermesFormat, ToolCallFormat, ToolResult
from orbiter.train.agents.tools import Tool
from orbiter.train.agents.toolset import function_schemas
from orbiter.train.errors import TrainerError
from orbiter.train.prompts import has_chat_template, messages_of

__all__ = ["check_turn_prefix"]

_PROMPT, _CALL, _RESULT_PROMPT, _RESULT, _ANSWER = range(5)
_STAGE_NAMES = (
    "the prompt",
    "the assistant's tool call",
    "the tool result and the next generation prompt",
    "the tool result",
    "the final answer",
)
_KEPT = ((_CALL, _RESULT_PROMPT), (_RESULT, _ANSWER))
"""Renderings that must extend each other: history followed by more history. A generation
prompt is not history (a template may prefill ``<think>`` there that the sampled text closes),
so the prompt stage is only compared for the rollout's layout."""
_EXAMPLE_VALUES: dict[str, Any] = {
    "integer": 1,
    "number": 1.5,
    "string": "x",
    "boolean": True,
    "array": [],
    "object": {},
}


def _example_arguments(tool: Tool) -> dict[str, Any]:
    """A value of its declared type for each required parameter of *tool*."""
    props: dict[str, Any] = tool.parameters.get("properties", {})
    required = tool.parameters.get("required", list(props))
    out: dict[str, Any] = {}
    for name in required:
        spec = props.get(name, {})
        if spec.get("enum"):
            out[name] = spec["enum"][0]
            continue
        kind = spec.get("type", "string")
        kind = kind[0] if isinstance(kind, list) and kind else kind
        out[name] = _EXAMPLE_VALUES.get(kind, "x") if isinstance(kind, str) else "x"
    return out


def _conversation(instructions: str, tool: Tool, thinks: bool) -> list[dict[str, Any]]:
    """The agent's message pattern: its prompt, one call of *tool*, the result, an answer
    (each assistant turn opening with a reasoning block when the template knows them)."""
    think = "<think>\nI should use the tool.\n</think>\n\n" if thinks else ""
    call = {
        "type": "function",
        "function": {"name": tool.name, "arguments": _example_arguments(tool)},
    }
    return [
        *messages_of("What is the answer?", instructions),
        {"role": "assistant", "content": think, "tool_calls": [call]},
        {"role": "tool", "name": tool.name, "content": "42"},
        {"role": "assistant", "content": f"{think}The answer is 42."},
    ]


def _first_difference(a: Sequence[int], b: Sequence[int]) -> int:
    """The first index where *a* is not a prefix of *b* (``len(a)`` when it is)."""
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i
    return min(len(a), len(b))


def _piece(tokenizer: Any, ids: Sequence[int], i: int) -> str:
    if i >= len(ids):
        return "the end"
    return f"{tokenizer.decode([ids[i]])!r} (id {ids[i]})"


def check_turn_prefix(
    tokenizer: Any, instructions: str, tools: Sequence[Tool], fmt: ToolCallFormat
) -> None:
    """Check that *tokenizer*'s chat template keeps each turn of this agent's conversation
    a token prefix of the next (see the module docstring), for assistant turns without and,
    when the template knows ``<think>`` blocks, with one.

    Raises:
        TrainerError: a rendering after message ``k + 1`` does not extend the one after
            message ``k``, token for token, or the rollout's layout of the second turn is not
            the template's; the message names the stage and the first differing token.
    """
    if not tools or not has_chat_template(tokenizer):
        return
    patterns = [False, True] if "think>" in str(tokenizer.chat_template) else [False]
    for thinks in patterns:
        stages = _renderings(tokenizer, _conversation(instructions, tools[0], thinks), tools)
        kind = " (assistant turns opening with a <think> block)" if thinks else ""
        for before, after in _KEPT:
            a, b = stages[before], stages[after]
            i = _first_difference(a, b)
            if i < len(a):
                raise TrainerError(
                    f"agent.tokenizer's chat template does not keep each turn a prefix of "
                    f"the next{kind}: after {_STAGE_NAMES[after]} it re-renders "
                    f"{_STAGE_NAMES[before]} differently, from token {i}: "
                    f"{_piece(tokenizer, a, i)} became {_piece(tokenizer, b, i)}. Training "
                    "on the rollout's tokens would not match what the policy reads when "
                    "deployed; use a template that renders earlier turns unchanged"
                )
        if isinstance(fmt, HermesFormat):
            _check_rollout_layout(tokenizer, fmt, tools[0].name, stages)


def _renderings(
    tokenizer: Any, messages: list[dict[str, Any]], tools: Sequence[Tool]
) -> list[list[int]]:
    """The ids of *messages* rendered after the prompt (with the generation prompt), the
    call, the result (with it) and the answer."""
    schemas = function_schemas(tools)
    cut = len(messages) - 3  # the prompt's messages

    def render(upto: int, prompt: bool, chat: list[dict[str, Any]]) -> list[int]:
        text = tokenizer.apply_chat_template(
            chat[:upto], tokenize=False, add_generation_prompt=prompt, tools=schemas
        )
        return list(tokenizer.encode(str(text), add_special_tokens=False))

    def render_all(chat: list[dict[str, Any]]) -> list[list[int]]:
        steps = ((0, True), (1, False), (2, True), (2, False), (3, False))
        return [render(cut + n, prompt, chat) for n, prompt in steps]

    try:
        try:
            return render_all(messages)
        except TypeError:
            # Templates that concatenate the arguments as text (DeepSeek-V3's) take them in
            # OpenAI's wire format, a JSON string.
            return render_all(_string_arguments(messages))
    except Exception as err:
        raise TrainerError(
            f"agent.tokenizer's chat template cannot render a tool-use conversation "
            f"(a call of {tools[0].name!r} and its result): {err}"
        ) from err


def _string_arguments(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """*messages* with each call's arguments as a JSON string."""

    def wire(call: dict[str, Any]) -> dict[str, Any]:
        function = call["function"]
        return {**call, "function": {**function, "arguments": json.dumps(function["arguments"])}}

    return [
        {**m, "tool_calls": [wire(c) for c in m["tool_calls"]]} if m.get("tool_calls") else m
        for m in messages
    ]


def _check_rollout_layout(
    tokenizer: Any, fmt: HermesFormat, name: str, stages: list[list[int]]
) -> None:
    """The rollout's turn-2 context, the prompt + the call as sampled (up to its eos) + the
    results span encoded on its own, equals the template's rendering after the result."""
    prompt, called, expected = stages[_PROMPT], stages[_CALL], stages[_RESULT_PROMPT]
    if _first_difference(prompt, called) < len(prompt):
        return  # the generation prompt prefills what the sampled text completes
    eos = tokenizer.eos_token_id
    sampled = called[len(prompt) :]
    if eos in sampled:
        sampled = sampled[: sampled.index(eos) + 1]
    try:
        span = fmt.results_text([ToolResult(name, "42")], tokenizer)
    except ValueError as err:
        raise TrainerError(f"agent.tokenizer's chat template: {err}") from err
    ended = bool(sampled) and sampled[-1] == eos
    built = [*prompt, *sampled, *([] if ended else [eos])]
    built += tokenizer.encode(span, add_special_tokens=False)
    i = _first_difference(built, expected)
    if i < len(built) or len(built) != len(expected):
        raise TrainerError(
            "the multi-turn rollout's tokens for a tool call and its result differ from the "
            f"chat template's rendering from token {i}: the rollout has "
            f"{_piece(tokenizer, built, i)}, the template {_piece(tokenizer, expected, i)}"
        )
