"""Loading the datasets TorchTrainer accepts into prompt/answer records."""

from __future__ import annotations

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
    """One prompt and its reference answer ("" when there is none)."""

    prompt: str
    answer: str


def _from_mapping(record: Any, where: str) -> Example:
    if not isinstance(record, Mapping):
        raise TrainerError(f"{where}: expected a dict record, got {type(record).__name__}")
    prompt_key = next((k for k in PROMPT_KEYS if k in record), None)
    if prompt_key is None:
        raise TrainerError(f"{where}: missing key 'input' (or 'prompt')")
    prompt = record[prompt_key]
    if not isinstance(prompt, str):
        raise TrainerError(f"{where}['{prompt_key}']: expected str, got {type(prompt).__name__}")
    answer_key = next((k for k in ANSWER_KEYS if k in record), None)
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
    """Examples from a list of dicts, a JSONL path, a ``datasets.Dataset``, or a
    :class:`~orbiter.train.data.RaggedTokens` of prompts (decoded later by the tokenizer
    is not possible, so those need a tokenizer-free path: see ``load_token_prompts``)."""
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
