"""The one record format every trainer and the validator read, and its one JSONL reader.

A record is a dict (a line of JSONL, an item of a list, a row of a ``datasets.Dataset``)
with the prompt under ``input`` (or ``prompt``) and, when the reward needs a reference,
the reference answer under ``answer`` (or ``expected``, or ``output``): the original
package's format. A number as the answer is read as its text (``42`` → ``"42"``).

:func:`read_jsonl` reads a file of such records; :func:`parse_record` checks one and
returns an :class:`Example`. The torch trainer, the verl backend and ``orbiter-train
validate`` use both, so this module imports neither torch nor verl.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orbiter.train.errors import TrainerTypeError, TrainerValueError

__all__ = [
    "ANSWER_KEYS",
    "PROMPT_KEYS",
    "Example",
    "answer_key_of",
    "parse_record",
    "prompt_key_of",
    "read_jsonl",
]

PROMPT_KEYS = ("input", "prompt")
"""Keys that hold the prompt, the first present wins."""
ANSWER_KEYS = ("answer", "expected", "output")
"""Keys that hold the reference answer, the first present wins."""


@dataclass(frozen=True, slots=True)
class Example:
    """One prompt and its reference answer ("" when there is none).

    ``prompt_ids`` holds the prompt's token ids when the data came pre-tokenized; they are
    used as they are (no instructions prepended) and ``prompt`` is then empty.
    """

    prompt: str
    answer: str
    prompt_ids: tuple[int, ...] | None = None


def prompt_key_of(record: Mapping[str, Any]) -> str | None:
    """The key holding the prompt: the first of :data:`PROMPT_KEYS` present."""
    return next((k for k in PROMPT_KEYS if k in record), None)


def answer_key_of(record: Mapping[str, Any]) -> str | None:
    """The key holding the reference answer: the first of :data:`ANSWER_KEYS` present."""
    return next((k for k in ANSWER_KEYS if k in record), None)


def _text(value: Any, where: str, key: str, numbers: bool) -> str:
    if numbers and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        allowed = "a str (or a number)" if numbers else "a str"
        raise TrainerTypeError(f"{where}: {key!r} must be {allowed}, got {type(value).__name__}")
    return value


def parse_record(record: Any, where: str, *, require_answer: bool = False) -> Example:
    """The :class:`Example` of one record; *where* names it in errors (``train_data[3]``).

    Raises:
        TrainerTypeError: the record is not a mapping, or its prompt or answer is not text.
        TrainerValueError: it has no prompt key, or no answer key when *require_answer*.
    """
    if not isinstance(record, Mapping):
        raise TrainerTypeError(f"{where} must be a dict, got {type(record).__name__}")
    prompt_key = prompt_key_of(record)
    if prompt_key is None:
        raise TrainerValueError(f"{where}: missing required 'input' key (or 'prompt')")
    prompt = _text(record[prompt_key], where, prompt_key, numbers=False)
    answer_key = answer_key_of(record)
    if answer_key is None:
        if require_answer:
            raise TrainerValueError(f"{where}: missing key 'answer' (or 'expected', 'output')")
        return Example(prompt, "")
    return Example(prompt, _text(record[answer_key], where, answer_key, numbers=True))


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
