"""The one record format every trainer and the validator read, and its one JSONL reader.

A record is a dict (a line of JSONL, an item of a list, a row of a ``datasets.Dataset``)
with the prompt under ``input`` (or ``prompt``) and, when the reward needs a reference,
the reference answer under ``answer`` (or ``expected``, or ``output``): the original
package's format. A number as the answer is read as its text (``42`` → ``"42"``).
:class:`Columns` names other keys instead (``prompt_column="question"``,
``answer_column="solution"``: GSM8K, MATH, TRL datasets). The prompt is text or a
conversation, a non-empty list of ``{"role": str, "content": str}`` messages (rendered by
:mod:`orbiter.train.prompts`). Every other key of a record is one of its *columns*, handed
to batched rewards that ask for it.

A record without a prompt key may instead hold a demonstration under ``messages``, in the
OpenAI / TRL form: system and user messages (the prompt), then assistant messages, each
with optional ``tool_calls`` (``[{"type": "function", "function": {"name": str,
"arguments": {...} or a JSON str}, "id": ...}]``) answered, one ``tool`` message a call and
in the calls' order, by ``tool`` messages (``content``, optionally ``name`` and
``tool_call_id``), and last an assistant message without calls: the answer, which is the
reference unless the record has an answer key. That is the shape of a multi-turn rollout
(:mod:`orbiter.train.torch.agent_rollout`), which has no user turn after the first
assistant turn and ends at a turn without calls; :func:`parse_record` refuses any other,
naming the row and the message.

:func:`read_jsonl` reads a file of such records; :func:`parse_record` checks one and
returns an :class:`Example`; :class:`Examples` reads a whole dataset, the records that
hold only a text prompt and a text answer in one walk in the core;
:func:`require_references` refuses examples without an answer when the reward compares
with one. The torch trainer, the verl backend and
``orbiter-train validate`` use them, so this module imports neither torch nor verl.
"""

from __future__ import annotations

import difflib
import json
import operator
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, overload

import numpy as np

from orbiter.train import _core
from orbiter.train.errors import TrainerTypeError, TrainerValueError
from orbiter.train.prompts import Message, Prompt

if TYPE_CHECKING:
    from orbiter.train.data import RaggedTokens

__all__ = [
    "ANSWER_KEYS",
    "CONVERSATION_KEY",
    "PROMPT_KEYS",
    "AssistantTurn",
    "Columns",
    "Example",
    "Examples",
    "answer_key_of",
    "missing_reference",
    "parse_record",
    "prompt_key_of",
    "read_jsonl",
    "require_references",
]

PROMPT_KEYS = ("input", "prompt")
"""Keys that hold the prompt, the first present wins."""
ANSWER_KEYS = ("answer", "expected", "output")
"""Keys that hold the reference answer, the first present wins."""
PROMPT_HINTS = ("question", "problem", "query", "instruction", "messages", "conversation")
"""Prompt columns of well-known datasets (GSM8K, MATH, chat sets), suggested in errors."""
CONVERSATION_KEY = "messages"
"""The key of a demonstration conversation, read when a record has no prompt key."""
ROLES = ("system", "user", "assistant", "tool")
"""The roles of a demonstration's messages."""
ANSWER_HINTS = ("solution", "ground_truth", "reference", "target", "label", "final_answer")
"""Answer columns of well-known datasets (MATH, TRL, verl), suggested in errors."""


@dataclass(frozen=True, slots=True)
class Columns:
    """Which keys of a record hold the prompt and the answer (None: the default keys,
    :data:`PROMPT_KEYS` and :data:`ANSWER_KEYS`). A named column must be in every record.

    Raises:
        TrainerTypeError: a name that is neither a non-empty str nor None.
    """

    prompt: str | None = None
    answer: str | None = None

    def __post_init__(self) -> None:
        for name, value in (("prompt_column", self.prompt), ("answer_column", self.answer)):
            if value is not None and not (isinstance(value, str) and value):
                raise TrainerTypeError(
                    f"{name} = {value!r}: must be a column name (a non-empty str) or None"
                )


@dataclass(frozen=True, slots=True)
class AssistantTurn:
    """One assistant message of a demonstration: its text, the calls it makes (name and
    arguments) and the results of the tool messages that answer them (tool name and
    content), in order; *message* is its index in the record's ``messages``."""

    content: str
    calls: tuple[tuple[str, Mapping[str, Any]], ...] = ()
    results: tuple[tuple[str, str], ...] = ()
    message: int = 0


@dataclass(slots=True)
class Example:
    """One prompt and its reference answer ("" when there is none).

    Not frozen: one is made per record, and a frozen dataclass's ``__init__`` costs three
    times as much (``object.__setattr__`` per field); nothing changes an example once made.

    ``prompt_ids`` holds the prompt's token ids when the data came pre-tokenized; they are
    used as they are (no instructions prepended) and ``prompt`` is then empty.
    ``answer_key`` is the key the answer came from (None: the record has none), ``keys``
    the record's keys (for errors) and ``columns`` its other keys and values.
    ``demonstration`` holds the assistant turns of a ``messages`` record (whose system and
    user messages are ``prompt``), None for other records.
    """

    prompt: Prompt
    answer: str
    prompt_ids: tuple[int, ...] | None = None
    answer_key: str | None = None
    keys: tuple[str, ...] = ()
    columns: Mapping[str, Any] = field(default_factory=dict)
    demonstration: tuple[AssistantTurn, ...] | None = None


_DEFAULT_COLUMNS = Columns()


def prompt_key_of(record: Mapping[str, Any]) -> str | None:
    """The key holding the prompt: the first of :data:`PROMPT_KEYS` present."""
    for key in PROMPT_KEYS:
        if key in record:
            return key
    return None


def answer_key_of(record: Mapping[str, Any]) -> str | None:
    """The key holding the reference answer: the first of :data:`ANSWER_KEYS` present."""
    for key in ANSWER_KEYS:
        if key in record:
            return key
    return None


# The columns of a record that holds only its prompt and answer: one shared, read-only
# mapping instead of an empty dict per record.
_NO_COLUMNS: Mapping[str, Any] = MappingProxyType({})


def _keys(keys: Iterable[Any]) -> str:
    names = [repr(k) for k in keys]
    return f"its keys are {', '.join(names)}" if names else "it has no keys"


def _hint(
    keys: Iterable[Any], option: str, hints: tuple[str, ...], defaults: tuple[str, ...]
) -> str:
    """``"; did you mean answer_column='solution'?"`` for a well-known column name or one
    close to a default key, else ``""``."""
    names = [k for k in keys if isinstance(k, str)]
    known = [k for k in hints if k in names]
    close = [k for k in names if difflib.get_close_matches(k, defaults, n=1, cutoff=0.75)]
    found = known or close
    return f"; did you mean {option}={found[0]!r}?" if found else ""


def _text(value: Any, where: str, key: str, numbers: bool) -> str:
    if type(value) is str:  # the common case first: one type check per record
        return value
    if numbers and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        allowed = "a str (or a number)" if numbers else "a str"
        raise TrainerTypeError(f"{where}: {key!r} must be {allowed}, got {type(value).__name__}")
    return value


def _prompt(value: Any, where: str, key: str) -> Prompt:
    """Plain text, or a conversation as a tuple of ``{"role", "content"}`` messages."""
    if type(value) is str or isinstance(value, str):
        return value
    if not isinstance(value, list | tuple) or not all(isinstance(m, Mapping) for m in value):
        got = type(value).__name__
        if isinstance(value, list | tuple):
            first = next(m for m in value if not isinstance(m, Mapping))
            got = f"a {got} holding a {type(first).__name__}"
        raise TrainerTypeError(
            f"{where}: {key!r} must be a str or a list of {{'role', 'content'}} messages, got {got}"
        )
    if not value:
        raise TrainerValueError(f"{where}: {key!r} is an empty conversation")
    messages = []
    for i, message in enumerate(value):
        if not all(isinstance(message.get(k), str) for k in ("role", "content")):
            raise TrainerTypeError(
                f"{where}: {key!r}[{i}] must be a message {{'role': str, 'content': str}}, "
                f"got {message!r:.80}"
            )
        messages.append({"role": message["role"], "content": message["content"]})
    return tuple(messages)


def _text_of(message: Mapping[str, Any], at: str, *, optional: bool = False) -> str:
    """A message's ``content``: a str (None or absent too when *optional*: "")."""
    content = message.get("content")
    if content is None and optional:
        return ""
    if not isinstance(content, str):
        got = "no 'content'" if "content" not in message else type(content).__name__
        raise TrainerTypeError(f"{at}: 'content' must be a str, got {got}")
    return content


def _calls_of(message: Mapping[str, Any], at: str) -> list[tuple[str, Mapping[str, Any], Any]]:
    """An assistant message's ``tool_calls`` as (name, arguments, id); none when absent."""
    raw = message.get("tool_calls")
    if raw is None:
        return []
    if not isinstance(raw, list | tuple):
        raise TrainerTypeError(f"{at}: 'tool_calls' must be a list, got {type(raw).__name__}")
    calls = []
    for j, call in enumerate(raw):
        here = f"{at}.tool_calls[{j}]"
        function = call.get("function") if isinstance(call, Mapping) else None
        if not isinstance(function, Mapping):
            raise TrainerTypeError(
                f'{here} must be {{"type": "function", "function": {{"name": str, '
                f'"arguments": {{...}}}}}}, got {call!r:.80}'
            )
        if call.get("type", "function") != "function":
            raise TrainerValueError(f"{here}: type {call['type']!r} is not 'function'")
        name = function.get("name")
        if not isinstance(name, str) or not name:
            raise TrainerTypeError(f"{here}.function.name must be a non-empty str, got {name!r}")
        arguments = function.get("arguments", {})
        if isinstance(arguments, str):  # OpenAI's wire format holds the arguments as JSON
            try:
                arguments = json.loads(arguments) if arguments.strip() else {}
            except json.JSONDecodeError as err:
                raise TrainerValueError(
                    f"{here}.function.arguments is not valid JSON ({err.msg})"
                ) from None
        if not isinstance(arguments, Mapping):
            raise TrainerTypeError(
                f"{here}.function.arguments must be a JSON object, got {type(arguments).__name__}"
            )
        calls.append((name, arguments, call.get("id")))
    return calls


class _Demonstration:
    """Reads a demonstration's messages in order (see the module docstring): the prompt,
    then assistant turns, each answered in full by tool messages before the next."""

    def __init__(self, where: str, key: str) -> None:
        self.where, self.key = where, key
        self.prompt: list[Message] = []
        self.turns: list[AssistantTurn] = []
        self.calls: list[tuple[str, Mapping[str, Any], Any]] = []  # the last turn's
        self.results: list[tuple[str, str]] = []

    def read(self, value: Any) -> tuple[tuple[Message, ...], tuple[AssistantTurn, ...]]:
        """The prompt (its system and user messages) and the assistant turns of *value*."""
        key = self.key
        if not isinstance(value, list | tuple) or not value:
            got = "an empty list" if isinstance(value, list | tuple) else type(value).__name__
            raise TrainerTypeError(
                f"{self.where}: {key!r} must be a non-empty list of messages, got {got}"
            )
        for i, message in enumerate(value):
            at = f"{self.where}: {key}[{i}]"
            if not isinstance(message, Mapping):
                raise TrainerTypeError(
                    f"{at} must be a message (a dict), got {type(message).__name__}"
                )
            role = message.get("role")
            if role in ("system", "user"):
                self._prompt_message(role, message, at)
            elif role == "assistant":
                self._assistant(message, at, i)
            elif role == "tool":
                self._tool(message, at)
            else:
                raise TrainerValueError(
                    f"{at}: role {role!r} is not one of {', '.join(map(repr, ROLES))}"
                )
        if self.turns and self.calls:
            raise TrainerValueError(
                f"{self.where}: {key} must end with the assistant's answer (a message "
                f"without tool calls), after {key}[{self.turns[-1].message}]'s calls"
            )
        return tuple(self.prompt), tuple(self.turns)

    def _prompt_message(self, role: str, message: Mapping[str, Any], at: str) -> None:
        if self.turns:
            raise TrainerValueError(
                f"{at}: a {role!r} message after the first assistant message: a multi-turn "
                "rollout has only tool results between assistant turns"
            )
        self.prompt.append({"role": role, "content": _text_of(message, at)})

    def _assistant(self, message: Mapping[str, Any], at: str, index: int) -> None:
        if not self.prompt:
            raise TrainerValueError(
                f"{at}: the conversation starts with the assistant; the prompt (system and "
                "user messages) comes first"
            )
        if self.turns:
            self._close_turn(at)
        content = _text_of(message, at, optional=True)
        self.calls, self.results = _calls_of(message, at), []
        self.turns.append(AssistantTurn(content, message=index))

    def _close_turn(self, at: str) -> None:
        """The last assistant turn, answered in full before the message *at* goes on."""
        last, calls, results = self.turns[-1], self.calls, self.results
        if not calls:
            raise TrainerValueError(
                f"{at}: follows {self.key}[{last.message}], an assistant message without "
                "tool calls, where a multi-turn rollout ends"
            )
        if len(results) < len(calls):
            raise TrainerValueError(
                f"{self.where}: {self.key}[{last.message}] makes {len(calls)} tool call(s) "
                f"but {len(results)} tool message(s) answer them"
            )
        self.turns[-1] = AssistantTurn(
            last.content, tuple((n, a) for n, a, _ in calls), tuple(results), last.message
        )

    def _tool(self, message: Mapping[str, Any], at: str) -> None:
        calls, results = self.calls, self.results
        if not self.turns or len(results) >= len(calls):
            answered = f" ({self.key}[{self.turns[-1].message}]'s are answered)" if calls else ""
            raise TrainerValueError(f"{at}: a tool message without a preceding call{answered}")
        name, _, call_id = calls[len(results)]
        answers = f"{self.key}[{self.turns[-1].message}].tool_calls[{len(results)}]"
        given = message.get("name")
        if given is not None and given != name:
            raise TrainerValueError(
                f"{at}: name {given!r}, but it answers {answers}, a call of {name!r}"
            )
        given_id = message.get("tool_call_id")
        if given_id is not None and call_id is not None and given_id != call_id:
            raise TrainerValueError(
                f"{at}: tool_call_id {given_id!r}, but it answers {answers}, whose id is "
                f"{call_id!r} (tool messages answer the calls in order)"
            )
        results.append((name, _text_of(message, at)))


def parse_record(
    record: Any, where: str, *, columns: Columns | None = None, require_answer: bool = False
) -> Example:
    """The :class:`Example` of one record; *where* names it in errors (``train_data[3]``).

    Raises:
        TrainerTypeError: the record is not a mapping, or its prompt or answer is not text.
        TrainerValueError: it has no prompt key, a named column is missing, or it has no
            answer key when *require_answer*.
    """
    # a dict is checked without the Mapping ABC's slower isinstance
    if type(record) is not dict and not isinstance(record, Mapping):
        raise TrainerTypeError(f"{where} must be a dict, got {type(record).__name__}")
    columns = columns or _DEFAULT_COLUMNS
    keys = tuple(record)
    prompt_key = columns.prompt or prompt_key_of(record)
    if prompt_key is None and CONVERSATION_KEY in record:
        return _demonstration_record(record, where, columns, keys)
    if prompt_key is None:
        hint = _hint(keys, "prompt_column", PROMPT_HINTS, PROMPT_KEYS)
        raise TrainerValueError(
            f"{where}: missing required 'input' key (or 'prompt'); {_keys(keys)}{hint}"
        )
    if prompt_key not in record:
        raise TrainerValueError(
            f"{where}: missing the prompt column prompt_column={prompt_key!r}; {_keys(keys)}"
        )
    prompt = _prompt(record[prompt_key], where, prompt_key)
    answer_key = columns.answer or answer_key_of(record)
    if columns.answer is not None and answer_key not in record:
        raise TrainerValueError(
            f"{where}: missing the answer column answer_column={answer_key!r}; {_keys(keys)}"
        )
    used = 1 if answer_key is None or answer_key not in record else 2
    extra = (
        {k: v for k, v in record.items() if k not in (prompt_key, answer_key)}
        if len(record) > used
        else _NO_COLUMNS
    )
    if answer_key is None:
        if require_answer:
            raise missing_reference(where, keys)
        return Example(prompt, "", keys=keys, columns=extra)
    answer = _text(record[answer_key], where, answer_key, numbers=True)
    return Example(prompt, answer, answer_key=answer_key, keys=keys, columns=extra)


def _demonstration_record(
    record: Mapping[str, Any], where: str, columns: Columns, keys: tuple[str, ...]
) -> Example:
    """The :class:`Example` of a ``messages`` record: its prompt and assistant turns, and
    as the answer the record's own, else the last assistant message's text."""
    prompt, turns = _Demonstration(where, CONVERSATION_KEY).read(record[CONVERSATION_KEY])
    answer_key = columns.answer or answer_key_of(record)
    if columns.answer is not None and answer_key not in record:
        raise TrainerValueError(
            f"{where}: missing the answer column answer_column={answer_key!r}; {_keys(keys)}"
        )
    extra = {k: v for k, v in record.items() if k not in (CONVERSATION_KEY, answer_key)}
    if answer_key is not None:
        answer = _text(record[answer_key], where, answer_key, numbers=True)
    elif turns:
        answer, answer_key = turns[-1].content, CONVERSATION_KEY
    else:
        answer = ""
    return Example(
        prompt,
        answer,
        answer_key=answer_key,
        keys=keys,
        columns=extra or _NO_COLUMNS,
        demonstration=turns or None,
    )


# The layout code of a record the core leaves to parse_record (rust/records.rs, OTHER).
_PARSED = 255


class Examples(Sequence[Example]):
    """The examples of a dataset, held as columns: ``prompts`` and ``answers`` (one entry a
    row), and the rows' :class:`Example` s made when they are asked for.

    :meth:`of_records` reads the records that hold only a text prompt and a text answer (a
    dict of two str keys; nearly every dataset's rows) in one walk in the core, which keeps
    their two strs: no Python runs per such record. Every other record is read by
    :func:`parse_record`, in row order, so an error names the same row, with the same
    message, as reading each record with it would. ``examples[i]`` equals
    ``parse_record(records[i], ...)``.

    ``prompt_tokens`` holds the prompts' ids when the data came pre-tokenized
    (:meth:`of_tokens`); ``prompts`` are then empty.
    """

    __slots__ = ("_codes", "_kinds", "_parsed", "answers", "prompt_tokens", "prompts")

    prompts: list[Prompt]
    answers: list[str]
    prompt_tokens: RaggedTokens | None

    def __init__(
        self,
        prompts: list[Prompt],
        answers: list[str],
        codes: np.ndarray[Any, np.dtype[np.uint8]],
        kinds: Sequence[tuple[str | None, tuple[str, ...]]],
        parsed: dict[int, Example],
        prompt_tokens: RaggedTokens | None = None,
    ) -> None:
        """Row ``i`` is ``parsed[i]`` when its code is 255, else an :class:`Example` of
        ``prompts[i]``, ``answers[i]`` and ``kinds[codes[i]]`` (answer key, keys)."""
        self.prompts, self.answers, self.prompt_tokens = prompts, answers, prompt_tokens
        self._codes, self._kinds, self._parsed = codes, tuple(kinds), parsed

    @classmethod
    def of_records(cls, records: Sequence[Any], name: str, columns: Columns | None) -> Examples:
        """The examples of *records* (the split *name*, keys mapped by *columns*).

        Raises:
            TrainerTypeError, TrainerValueError: as :func:`parse_record`, for the first bad
                record.
        """
        columns = columns or _DEFAULT_COLUMNS
        prompt_keys = (columns.prompt,) if columns.prompt else PROMPT_KEYS
        answer_keys = (columns.answer,) if columns.answer else ANSWER_KEYS
        rows = records if type(records) is list else list(records)
        prompts, answers, codes = _core.scan_text_records(
            rows, list(prompt_keys), list(answer_keys)
        )
        parsed = {}
        for i in np.flatnonzero(codes == _PARSED).tolist():
            example = parse_record(rows[i], f"{name}[{i}]", columns=columns)
            parsed[i] = example
            prompts[i], answers[i] = example.prompt, example.answer
        # the core's code: (prompt key * len(answer_keys) + answer key) * 2 + answer first
        kinds = [
            (answer, (answer, prompt) if answer_first else (prompt, answer))
            for prompt in prompt_keys
            for answer in answer_keys
            for answer_first in (False, True)
        ]
        return cls(prompts, answers, codes, kinds, parsed)

    @classmethod
    def of_examples(cls, examples: Iterable[Example]) -> Examples:
        """A table of examples already made."""
        rows = list(examples)
        codes = np.full(len(rows), _PARSED, dtype=np.uint8)
        return cls(
            [e.prompt for e in rows], [e.answer for e in rows], codes, (), dict(enumerate(rows))
        )

    @classmethod
    def of_tokens(cls, tokens: RaggedTokens, answers: list[str] | None) -> Examples:
        """Pre-tokenized prompts (no text) with *answers* (the key ``"answers"``), or none."""
        n = len(tokens)
        key = None if answers is None else "answers"
        return cls(
            [""] * n,
            [""] * n if answers is None else answers,
            np.zeros(n, dtype=np.uint8),
            [(key, ())],
            {},
            tokens,
        )

    def __len__(self) -> int:
        return len(self.answers)

    @overload
    def __getitem__(self, index: int) -> Example: ...
    @overload
    def __getitem__(self, index: slice) -> list[Example]: ...
    def __getitem__(self, index: int | slice) -> Example | list[Example]:
        if isinstance(index, slice):
            return [self._row(i) for i in range(*index.indices(len(self)))]
        i = operator.index(index)
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"example {index} is out of range for {n} rows")
        return self._row(i + n if i < 0 else i)

    def _row(self, i: int) -> Example:
        code = int(self._codes[i])
        if code == _PARSED:
            return self._parsed[i]
        answer_key, keys = self._kinds[code]
        ids = None
        if self.prompt_tokens is not None:
            ids = tuple(self.prompt_tokens[i].tolist())
        return Example(self.prompts[i], self.answers[i], ids, answer_key, keys, columns=_NO_COLUMNS)

    def __iter__(self) -> Iterator[Example]:
        return (self._row(i) for i in range(len(self)))

    def parsed(self) -> Iterator[tuple[int, Example]]:
        """The rows :func:`parse_record` read (every one but those of two text keys), in
        order, with their index: the only ones that can hold other columns, a
        conversation or a demonstration."""
        return iter(self._parsed.items())

    def shapes(self) -> Iterator[tuple[int, Example]]:
        """One row of each layout of two text keys (its first) and every parsed row, in row
        order: a check that looks only at a row's keys and columns sees every case, and
        its first failure is the first failing row."""
        _, first = np.unique(self._codes, return_index=True)
        rows = {int(i) for i in first if self._codes[i] != _PARSED} | self._parsed.keys()
        return ((i, self._row(i)) for i in sorted(rows))

    def first_without_answer(self) -> int | None:
        """The first row without an answer key, or None."""
        lacking = [code for code, (key, _) in enumerate(self._kinds) if key is None]
        first = None
        if lacking:
            hits = np.flatnonzero(np.isin(self._codes, lacking))
            first = int(hits[0]) if hits.size else None
        for i, example in self._parsed.items():
            if example.answer_key is None:
                return i if first is None else min(first, i)
        return first

    def column_names(self) -> tuple[str, ...]:
        """Every column of the rows besides prompt and answer, in the order first seen."""
        return tuple(dict.fromkeys(k for _, e in self._parsed.items() for k in e.columns))

    def __repr__(self) -> str:
        return f"Examples(rows={len(self)}, parsed={len(self._parsed)})"


def missing_reference(
    where: str, keys: Iterable[Any], reward: str | None = None
) -> TrainerValueError:
    """The error of a record without a reference answer (whose keys are *keys*) that the
    reward *reward* needs."""
    keys = tuple(keys)
    hint = _hint(keys, "answer_column", ANSWER_HINTS, ANSWER_KEYS)
    why = (
        f", and the reward {reward!r} scores each response against one: every score would "
        "be that of an empty reference"
        if reward is not None
        else ""
    )
    return TrainerValueError(
        f"{where} has no reference answer ('answer', 'expected' or 'output'; {_keys(keys)})"
        f"{why}{hint}. Name its column with answer_column=, add the answers, or pass a "
        "reward of your own to check_reward (fn(output, expected) is called with "
        "expected='' for such records)"
    )


def require_references(examples: Iterable[Example], name: str, reward: str) -> None:
    """Raise :func:`missing_reference` for the first of *examples* (the split *name*)
    without an answer; the reward *reward* compares every response with one."""
    if isinstance(examples, Examples):
        first = examples.first_without_answer()
        if first is not None:
            raise missing_reference(f"{name}[{first}]", examples[first].keys, reward)
        return
    for i, example in enumerate(examples):
        if example.answer_key is None:
            raise missing_reference(f"{name}[{i}]", example.keys, reward)


def read_jsonl(path: Path, name: str) -> list[Any]:
    """The records of the JSONL file at *path*, one JSON value per non-blank line (lines end
    at ``"\n"``; a ``"\r"`` before it is JSON whitespace).

    Raises:
        TrainerValueError: the file cannot be read, or a line is not JSON (naming *name*,
            the record's index, the file and the line number).
    """
    try:
        data = path.read_bytes()
    except OSError as err:
        raise TrainerValueError(f"{name}: cannot read {str(path)!r}: {err}") from err
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        at = data.count(b"\n", 0, err.start) + 1
        raise TrainerValueError(
            f"{name}: line {at} of {str(path)!r} is not UTF-8 (byte {err.start} of the file)"
        ) from None
    records: list[Any] = []
    # JSON lines end at "\n" only: str.splitlines() would also cut at U+2028, U+2029 and
    # U+0085, which JSON strings may hold unescaped
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        where = f"{name}[{len(records)}]: line {number} of {str(path)!r}"
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as err:
            raise TrainerValueError(f"{where}: invalid JSON ({err.msg})") from None
        except ValueError:  # an integer of more digits than int() takes
            raise TrainerValueError(
                f"{where}: invalid JSON (an integer of more than {sys.get_int_max_str_digits()} "
                "digits)"
            ) from None
        except RecursionError:
            raise TrainerValueError(f"{where}: JSON nested too deeply") from None
    return records
