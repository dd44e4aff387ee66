"""Loading the datasets TorchTrainer accepts into prompt/answer records."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orbiter.train.trainer import TrainerError

PROMPT_KEYS = ("input", "prompt")
ANSWER_KEYS = ("answer", "expected", "output")


@dataclass(frozen=True, slots=True)
class Example:
    """One prompt and its reference answer ("" when there is none).

    ``prompt_ids`` holds the prompt's token ids when the data came pre-tokenized; they are
    used as they are (no instructions prepended) and ``prompt`` is then empty.
    """

    prompt: str
    answer: str
    prompt_ids: tuple[int, ...] | None = None


def _from_tokens(data: Any, name: str) -> list[Example] | None:
    """Examples from ``RaggedTokens`` or ``(RaggedTokens, answers)``; None for other data."""
    from orbiter.train.data import RaggedTokens

    if isinstance(data, RaggedTokens):
        tokens, answers = data, None
    elif isinstance(data, tuple) and len(data) == 2 and isinstance(data[0], RaggedTokens):
        tokens, answers = data
        answers = list(answers)
        if len(answers) != len(tokens):
            raise TrainerError(f"{name}: {len(tokens)} token rows but {len(answers)} answers")
        for i, answer in enumerate(answers):
            if not isinstance(answer, str):
                raise TrainerError(
                    f"{name}: answers[{i}]: expected str, got {type(answer).__name__}"
                )
    else:
        return None
    values, bounds = tokens.values.tolist(), tokens.offsets.tolist()
    return [
        Example("", "" if answers is None else answers[i], tuple(values[lo:hi]))
        for i, (lo, hi) in enumerate(itertools.pairwise(bounds))
    ]


def _first_key(record: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        if key in record:
            return key
    return None


def _from_mapping(record: Any, where: str) -> Example:
    if not isinstance(record, Mapping):
        raise TrainerError(f"{where}: expected a dict record, got {type(record).__name__}")
    prompt_key = _first_key(record, PROMPT_KEYS)
    if prompt_key is None:
        raise TrainerError(f"{where}: missing key 'input' (or 'prompt')")
    prompt = record[prompt_key]
    if not isinstance(prompt, str):
        raise TrainerError(f"{where}['{prompt_key}']: expected str, got {type(prompt).__name__}")
    answer_key = _first_key(record, ANSWER_KEYS)
    answer: Any = "" if answer_key is None else record[answer_key]
    if isinstance(answer, int | float) and not isinstance(answer, bool):
        answer = str(answer)
    if not isinstance(answer, str):
        raise TrainerError(f"{where}['{answer_key}']: expected str, got {type(answer).__name__}")
    return Example(prompt, answer)


def _read_jsonl(path: Path, name: str) -> list[Any]:
    records = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise TrainerError(f"{name}: cannot read {path}: {err}") from err
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as err:
            raise TrainerError(f"{name}: {path}:{number}: invalid JSON ({err.msg})") from err
    return records


def load_examples(data: Any, name: str) -> list[Example]:
    """Examples from a list of dicts, a JSONL path, a ``datasets.Dataset``, or
    pre-tokenized prompts: a :class:`~orbiter.train.data.RaggedTokens` (no references) or
    a pair ``(RaggedTokens, answers)`` with one answer string per row."""
    pretokenized = _from_tokens(data, name)
    if pretokenized is not None:
        if not pretokenized:
            raise TrainerError(f"{name} is empty")
        return pretokenized
    if isinstance(data, str | Path):
        path = Path(data)
        if not path.is_file():
            raise TrainerError(f"{name}: no such file {str(path)!r}")
        records: Iterable[Any] = _read_jsonl(path, name)
    elif isinstance(data, list | tuple):
        records = data
    elif type(data).__module__.startswith("datasets"):
        records = iter(data)
    else:
        raise TrainerError(
            f"{name} must be a list of dicts, a JSONL path, a datasets.Dataset or "
            f"RaggedTokens, got {type(data).__name__}"
        )
    examples = [_from_mapping(r, f"{name}[{i}]") for i, r in enumerate(records)]
    if not examples:
        raise TrainerError(f"{name} is empty")
    return examples
