"""The token spans of a multi-turn trajectory, built in one place for the rollout and for
supervised demonstrations, so that both lay a conversation out alike.

After the prompt, a trajectory alternates

- an assistant turn: the ids the policy samples, its text then eos (trainable), and
- the span that answers the turn's calls: eos when the turn did not end with one, then the
  tool-call format's text of the results (:meth:`ToolCallFormat.results_text`, each
  result's content cut to ``max_result_tokens``) encoded on its own (not trainable).

:class:`~orbiter.train.torch.agent_rollout.MultiTurnRollout` appends the span after the ids
it sampled; :func:`demonstration_ids` lays out a ``messages`` record with the same two
functions, its assistant messages written by the format as the policy would sample them
(:meth:`ToolCallFormat.turn_text`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from orbiter.train.agents import ToolCall, ToolCallFormat, ToolResult
from orbiter.train.errors import TrainerValueError
from orbiter.train.records import AssistantTurn
from orbiter.train.torch.agent import TokenizerAdapter


@dataclass(frozen=True, slots=True)
class Demonstration:
    """A demonstration's response after its prompt: every id, and which the policy samples
    (the loss's mask)."""

    ids: list[int]
    trainable: list[bool]


def capped_result(tok: TokenizerAdapter, result: ToolResult, limit: int) -> ToolResult:
    """*result* with its content cut to *limit* tokens and marked ``[truncated]`` when
    longer."""
    ids = tok.encode_text(result.content)
    if len(ids) <= limit:
        return result
    return dataclasses.replace(result, content=f"{tok.decode(ids[:limit])} [truncated]")


def results_span(
    tok: TokenizerAdapter,
    fmt: ToolCallFormat,
    results: Sequence[ToolResult],
    *,
    ended: bool,
    max_result_tokens: int | None,
) -> list[int]:
    """The non-trainable span after a turn: eos unless the turn *ended* with one, then the
    ids of the format's text of *results* (each content :func:`capped_result` to
    *max_result_tokens*; None: uncut)."""
    if max_result_tokens is not None:
        results = [capped_result(tok, r, max_result_tokens) for r in results]
    text = fmt.results_text(results, tok.inner)
    head = [] if ended else [tok.eos_token_id]
    return head + tok.encode_text(text)


def turn_ids(tok: TokenizerAdapter, text: str) -> list[int]:
    """The ids the policy samples for an assistant turn of *text*: its ids, then eos."""
    return [*tok.encode_text(text), tok.eos_token_id]


def demonstration_ids(
    tok: TokenizerAdapter,
    fmt: ToolCallFormat,
    turns: Sequence[AssistantTurn],
    *,
    tools: Sequence[str],
    max_result_tokens: int | None,
    where: str,
) -> Demonstration:
    """The response of a demonstration as a multi-turn rollout lays it out: each assistant
    turn's :func:`turn_ids` of ``fmt.turn_text(content, calls)`` (trainable), and after a
    turn with calls the :func:`results_span` of its tool messages (not trainable).

    Raises:
        TrainerValueError: a call of a tool not in *tools*, or a turn whose text the format
            parses to other calls than the message's (an answer that reads as a call would
            not end a rollout), naming *where* and the message.
    """
    ids: list[int] = []
    trainable: list[bool] = []
    for turn in turns:
        at = f"{where}: messages[{turn.message}]"
        for j, (name, _) in enumerate(turn.calls):
            if name not in tools:
                known = ", ".join(tools) if tools else "the agent has none"
                raise TrainerValueError(
                    f"{at}.tool_calls[{j}] calls {name!r}, which is not one of the agent's "
                    f"tools ({known})"
                )
        calls = [ToolCall(name, dict(arguments)) for name, arguments in turn.calls]
        text = fmt.turn_text(turn.content, calls)
        if fmt.parse(text) != calls:
            what = "its tool calls" if calls else "no tool call (it is the answer)"
            raise TrainerValueError(
                f"{at}: its text, as the agent's tool-call format writes it ({text!r:.80}), "
                f"does not parse back to {what}"
            )
        sampled = turn_ids(tok, text)
        ids += sampled
        trainable += [True] * len(sampled)
        if calls:
            results = [ToolResult(name, content) for name, content in turn.results]
            span = results_span(tok, fmt, results, ended=True, max_result_tokens=max_result_tokens)
            ids += span
            trainable += [False] * len(span)
    return Demonstration(ids, trainable)
