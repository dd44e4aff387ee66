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

:func:`read_jsonl` reads a file of such records; :func:`parse_record` checks one and
returns an :class:`Example`; :func:`require_references` refuses examples without an
answer when the reward compares with one. The torch trainer, the verl backend and
``orbiter-train validate`` use them, so this module imports neither torch nor verl.
"""

from __future__ import annotations

import difflib
import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from orbiter.train.errors import TrainerTypeError, TrainerValueError
from orbiter.train.prompts import Prompt

__all__ = [
    "ANSWER_KEYS",
    "PROMPT_KEYS",
    "Columns",
    "Example",
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


@dataclass(slots=True)
class Example:
    """One prompt and its reference answer ("" when there is none).

    Not frozen: one is made per record, and a frozen dataclass's ``__init__`` costs three
    times as much (``object.__setattr__`` per field); nothing changes an example once made.

    ``prompt_ids`` holds the prompt's token ids when the data came pre-tokenized; they are
    used as they are (no instructions prepended) and ``prompt`` is then empty.
    ``answer_key`` is the key the answer came from (None: the record has none), ``keys``
    the record's keys (for errors) and ``columns`` its other keys and values.
    """

    prompt: Prompt
    answer: str
    prompt_ids: tuple[int, ...] | None = None
    answer_key: str | None = None
    keys: tuple[str, ...] = ()
    columns: Mapping[str, Any] = field(default_factory=dict)


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
