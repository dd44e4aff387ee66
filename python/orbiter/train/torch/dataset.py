"""Loading the datasets TorchTrainer accepts into :class:`~orbiter.train.records.Examples`."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from orbiter.train.errors import TrainerError
from orbiter.train.records import Columns, Example, Examples, read_jsonl

__all__ = ["Example", "Examples", "load_examples"]


def _from_tokens(data: Any, name: str) -> Examples | None:
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
    return Examples.of_tokens(tokens, answers)


def load_examples(data: Any, name: str, columns: Columns | None = None) -> Examples:
    """Examples from a list of dicts, a JSONL path, a ``datasets.Dataset`` (their keys
    mapped by *columns*), or pre-tokenized prompts: a
    :class:`~orbiter.train.data.RaggedTokens` (no references) or a pair ``(RaggedTokens,
    answers)`` with one answer string per row."""
    pretokenized = _from_tokens(data, name)
    if pretokenized is not None:
        if not pretokenized:
            raise TrainerError(f"{name} is empty")
        return pretokenized
    if isinstance(data, str | Path):
        path = Path(data)
        if not path.is_file():
            raise TrainerError(f"{name}: no such file {str(path)!r}")
        records: Iterable[Any] = read_jsonl(path, name)
    elif isinstance(data, list | tuple):
        records = data
    elif type(data).__module__.startswith("datasets"):
        records = iter(data)
    else:
        raise TrainerError(
            f"{name} must be a list of dicts, a JSONL path, a datasets.Dataset or "
            f"RaggedTokens, got {type(data).__name__}"
        )
    examples = Examples.of_records(
        records if isinstance(records, list) else list(records), name, columns
    )
    if not examples:
        raise TrainerError(f"{name} is empty")
    return examples
