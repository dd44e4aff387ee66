"""Token rows: tokenized once per dataset, the prompts of each step, padding, micro-batches."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

import numpy as np
import torch
from torch import nn

from orbiter.train.agents import check_reset_fields
from orbiter.train.data import RaggedTokens, validate_tokens
from orbiter.train.errors import TrainerError
from orbiter.train.records import Example, Examples
from orbiter.train.torch.agent import PolicyAgent, TokenizerAdapter
from orbiter.train.torch.turns import Demonstration, demonstration_ids


class TokenRows(Sequence[list[int]]):
    """The rows of a :class:`RaggedTokens` (``tokens``) as lists of ints, each made when it
    is asked for: a step takes a few rows of a dataset tokenized once."""

    __slots__ = ("_offsets", "_values", "tokens")

    def __init__(self, tokens: RaggedTokens) -> None:
        self.tokens = tokens
        self._values, self._offsets = tokens.values, tokens.offsets

    def __len__(self) -> int:
        return len(self.tokens)

    @overload
    def __getitem__(self, index: int) -> list[int]: ...
    @overload
    def __getitem__(self, index: slice) -> list[list[int]]: ...
    def __getitem__(self, index: int | slice) -> list[int] | list[list[int]]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"row {index} is out of range for {n} rows")
        i = index + n if index < 0 else index
        rows: list[int] = self._values[self._offsets[i] : self._offsets[i + 1]].tolist()
        return rows

    def lengths(self) -> np.ndarray[Any, np.dtype[np.int64]]:
        """Each row's length (int64)."""
        return self.tokens.lengths()

    def __eq__(self, other: object) -> bool:
        """Equal to a sequence of the same rows (a list of lists, as a tokenizer gives)."""
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(self) == len(other) and self[:] == [list(row) for row in other]

    __hash__ = None  # type: ignore[assignment]


@dataclass(slots=True)
class Tokenized:
    """A dataset in tokens: per example its prompt ids and its answer ids (eos-terminated),
    the names of the columns its records have besides prompt and answer, and the
    demonstrations of its ``messages`` records by row, laid out with tool results cut to
    *max_result_tokens*."""

    examples: Sequence[Example]
    prompts: TokenRows
    answers: TokenRows
    longest_prompt: int
    column_names: tuple[str, ...] = ()
    demonstrations: dict[int, Demonstration] = field(default_factory=dict)
    max_result_tokens: int | None = None

    def columns(self, rows: Sequence[int]) -> dict[str, list[Any]]:
        """:func:`columns_of` the examples *rows* (indices, repeats allowed)."""
        return columns_of([self.examples[i] for i in rows], self.column_names)

    def target(self, row: int) -> tuple[list[int], list[bool]]:
        """What a supervised step trains on after the prompt of *row*: its demonstration's
        ids and trainable mask, else its answer ids, every one trainable."""
        demo = self.demonstrations.get(row)
        if demo is not None:
            return demo.ids, demo.trainable
        return self.answers[row], [True] * len(self.answers[row])


def column_names(examples: Sequence[Example]) -> tuple[str, ...]:
    """Every column of *examples* besides prompt and answer, in the order first seen."""
    if isinstance(examples, Examples):
        return examples.column_names()
    return tuple(dict.fromkeys(k for e in examples for k in e.columns))


def columns_of(
    examples: Sequence[Example], names: Sequence[str] | None = None
) -> dict[str, list[Any]]:
    """The columns *names* (default: :func:`column_names`) of *examples*, a list of values
    per column, None where a record lacks one: what batched rewards get as keywords."""
    names = column_names(examples) if names is None else names
    return {k: [e.columns.get(k) for e in examples] for k in names}


def prompt_ids(tok: TokenizerAdapter, agent: PolicyAgent, example: Example) -> list[int]:
    """The example's own ids when pre-tokenized, else its prompt rendered for the agent
    (:meth:`TokenizerAdapter.prompt_ids`, with the agent's tools written in by its format)."""
    if example.prompt_ids is not None:
        return list(example.prompt_ids)
    instructions, tools = agent.prompt_parts()
    return tok.prompt_ids(example.prompt, instructions, tools)


def tokenize(
    examples: Sequence[Example],
    name: str,
    agent: PolicyAgent,
    tok: TokenizerAdapter,
    *,
    max_result_tokens: int | None = 256,
) -> Tokenized:
    """Tokenize *examples* once, in batches (:meth:`TokenizerAdapter.prompt_tokens` and
    :meth:`~TokenizerAdapter.answer_tokens`), and check both in the core: prompt ids
    within the vocabulary, at least one token, and room for one generated token within
    the model's positions; answer ids within the vocabulary. A ``messages`` record's
    demonstration is laid out as a multi-turn rollout of the agent lays it out
    (:func:`~orbiter.train.torch.turns.demonstration_ids`, tool results cut to
    *max_result_tokens*, the config's ``max_tool_result_tokens``) and must fit the model's
    positions after its prompt; and the agent's environment must ``reset`` on each record
    (:func:`~orbiter.train.agents.check_reset_fields`)."""
    table = examples if isinstance(examples, Examples) else Examples.of_examples(examples)
    check_reset_fields(agent.environment, table, name)
    instructions, tools = agent.prompt_parts()  # once: an agent's tools are rendered once
    prompts = _prompt_tokens(table, tok, instructions, tools)
    answers = tok.answer_tokens(table.answers)
    context = context_length(agent.model)
    report = validate_tokens(
        prompts,
        vocab_size=tok.vocab_size,
        min_len=1,
        max_len=None if context is None else context - 1,
    )
    if not report.ok:
        raise TrainerError(f"{name}: {report}")
    answer_report = validate_tokens(answers, vocab_size=tok.vocab_size, min_len=1)
    if not answer_report.ok:
        raise TrainerError(f"{name} answers: {answer_report}")
    rows = TokenRows(prompts)
    demonstrations = _demonstrations(table, rows, name, agent, tok, max_result_tokens)
    return Tokenized(
        table,
        rows,
        TokenRows(answers),
        report.max_len,
        column_names(table),
        demonstrations,
        max_result_tokens,
    )


def _prompt_tokens(
    table: Examples,
    tok: TokenizerAdapter,
    instructions: str,
    tools: list[dict[str, Any]] | None,
) -> RaggedTokens:
    """The prompts' ids: the pre-tokenized ones as given, the others rendered for the
    agent and encoded in one batch."""
    if table.prompt_tokens is not None:
        return table.prompt_tokens
    tokens = tok.prompt_tokens(table.prompts, instructions, tools)
    given = [(i, e.prompt_ids) for i, e in table.parsed() if e.prompt_ids is not None]
    if not given:
        return tokens
    rows = TokenRows(tokens)[:]
    for i, ids in given:
        rows[i] = list(ids)
    return RaggedTokens.from_sequences(rows)


def _demonstrations(
    examples: Examples,
    prompts: TokenRows,
    name: str,
    agent: PolicyAgent,
    tok: TokenizerAdapter,
    max_result_tokens: int | None,
) -> dict[int, Demonstration]:
    """The laid-out demonstration of each example that has one, by row."""
    # a row of two text keys holds no demonstration: only parsed rows can
    rows = [(i, e) for i, e in examples.parsed() if e.demonstration is not None]
    if not rows:
        return {}
    fmt = agent.format
    tools = agent.toolset().names if agent.is_agentic else []
    context = context_length(agent.model)
    found = {}
    for i, example in rows:
        turns = example.demonstration
        assert turns is not None
        where = f"{name}[{i}]"
        demo = demonstration_ids(
            tok, fmt, turns, tools=tools, max_result_tokens=max_result_tokens, where=where
        )
        prompt_len = len(prompts[i])
        if context is not None and prompt_len + len(demo.ids) > context:
            raise TrainerError(
                f"{where}: its prompt ({prompt_len} tokens) and demonstration "
                f"({len(demo.ids)} tokens) exceed the model's {context} positions"
            )
        found[i] = demo
    return found


def context_length(model: nn.Module) -> int | None:
    """Positions the model can attend over (TinyCausalLM's ``max_positions``, a transformers
    config's ``max_position_embeddings`` / ``n_positions``), or None when it does not say."""
    config = getattr(model, "config", None)
    for key in ("max_positions", "max_position_embeddings", "n_positions"):
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def model_vocab_size(model: nn.Module) -> int | None:
    """Ids the model can emit: the rows of its output embedding (transformers'
    ``get_output_embeddings``), else its config's ``vocab_size``; None when neither says."""
    get_output = getattr(model, "get_output_embeddings", None)
    output = get_output() if callable(get_output) else None
    weight = getattr(output, "weight", None)
    if isinstance(weight, torch.Tensor) and weight.ndim == 2:
        return int(weight.shape[0])
    value = getattr(getattr(model, "config", None), "vocab_size", None)
    return value if isinstance(value, int) and value > 0 else None


def check_fits_context(
    model: nn.Module, data: Tokenized, new_tokens: int, name: str = "train_data"
) -> None:
    """Raise when the longest prompt plus *new_tokens* exceeds the model's positions;
    *name* names the data in the error."""
    context = context_length(model)
    if context is None or data.longest_prompt + new_tokens <= context:
        return
    # The longest length came from the core's report; its row is looked up only to name it.
    row = int(np.argmax(data.prompts.lengths()))
    raise TrainerError(
        f"{name}[{row}]: a prompt of {data.longest_prompt} tokens plus "
        f"max_new_tokens = {new_tokens} exceeds the model's {context} positions"
    )


@dataclass(frozen=True, slots=True)
class Schedule:
    """Which examples each step trains on: epoch ``e`` visits the permutation
    ``default_rng([seed, e]).permutation(n)`` in slices of ``batch_size``."""

    n: int
    batch_size: int
    seed: int
    steps_per_epoch: int
    total: int

    @classmethod
    def of(
        cls, n: int, *, batch_size: int, seed: int, epochs: int, max_steps: int | None
    ) -> Schedule:
        """``steps_per_epoch = ceil(n / batch_size)``; ``total = max_steps`` when given
        (as many epochs as that takes, the last one possibly cut short), else ``epochs *
        steps_per_epoch``."""
        steps_per_epoch = math.ceil(n / batch_size)
        total = epochs * steps_per_epoch if max_steps is None else max_steps
        return cls(n, batch_size, seed, steps_per_epoch, total)

    def epoch_of(self, step: int) -> int:
        return step // self.steps_per_epoch

    def indices(self, step: int, *, world: int, rank: int) -> list[int]:
        """This rank's share of the step's examples (every ``world``-th, from ``rank``)."""
        epoch, offset = divmod(step, self.steps_per_epoch)
        order = np.random.default_rng([self.seed, epoch]).permutation(self.n)
        batch = order[offset * self.batch_size : (offset + 1) * self.batch_size]
        # Equal shards: an epoch's short last batch is topped up from the start of
        # the permutation, so every rank runs the same number of backward passes.
        if len(batch) % world:
            top_up = world - len(batch) % world
            batch = np.concatenate([batch, order[:top_up]])
        return [int(i) for i in batch[rank::world]]


def pad(
    rows: list[list[int]], pad_id: int, *, left: bool, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad token rows to (B, T) in the Rust core; returns ids (long) and a bool mask."""
    ragged = RaggedTokens.from_sequences(rows)
    ids, mask = ragged.to_padded(pad_id=pad_id, side="left" if left else "right")
    return (
        torch.from_numpy(np.ascontiguousarray(ids)).long().to(device),
        torch.from_numpy(np.ascontiguousarray(mask)).bool().to(device),
    )


def response_tokens(ids: torch.Tensor, mask: torch.Tensor) -> RaggedTokens:
    """The responses (B, N) as token rows: ``ids[b, mask[b]]``, gathered in the core."""
    return RaggedTokens.from_padded(
        np.ascontiguousarray(ids.cpu().numpy(), dtype=np.int64),
        np.ascontiguousarray(mask.cpu().numpy(), dtype=np.bool_),
    )


def micro_batches(n: int, parts: int) -> Iterator[slice]:
    """Slices of ``ceil(n / parts)`` rows covering ``range(n)``; the last may be shorter."""
    size = math.ceil(n / parts)
    for lo in range(0, n, size):
        yield slice(lo, min(n, lo + size))


def mini_batch_rows(
    n_rows: int, n_prompts: int, batch_size: int, mini_batch_size: int | None
) -> list[slice]:
    """The rows of each optimizer update of a pass over a rollout of *n_rows* trajectories
    answering *n_prompts* prompts (this rank's share of *batch_size*): ``ceil(batch_size /
    mini_batch_size)`` slices of whole prompt groups, in order (one slice when None).

    Every rank holds as many prompts (equal shards), so every rank takes as many updates.
    """
    if mini_batch_size is None:
        return [slice(0, n_rows)]
    group = n_rows // n_prompts
    parts = micro_batches(n_prompts, math.ceil(batch_size / mini_batch_size))
    return [slice(p.start * group, p.stop * group) for p in parts]
