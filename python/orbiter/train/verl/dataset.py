"""Records in the original package's format → verl's RL parquet schema.

A record is a dict with the prompt under ``input`` (or ``prompt``) and, when the reward
needs one, the reference answer under ``answer`` (or ``expected``, or ``output``;
``ground_truth`` is ``""`` without one), or under the columns a
:class:`~orbiter.train.records.Columns` names; the prompt is text or a conversation. Each
becomes one row of verl's RL dataset (``verl.utils.dataset.rl_dataset.RLHFDataset``)::

    data_source   str                  which reward/source the row belongs to
    prompt        list[{role, content}] chat messages, :func:`orbiter.train.prompts.messages_of`:
                                        system (agent instructions, when non-empty) then
                                        user (the record's prompt) or the conversation
    ability       str
    reward_model  {style: "rule", ground_truth: str}
    extra_info    {split: str, index: int, question: str}

With tools (a :class:`~orbiter.train.verl.tools.ToolPlan`), verl's multi-turn convention::

    agent_name    str                  "tool_agent": verl's ToolAgentLoop runs the row
    extra_info    {..., tools_kwargs: {<environment tool>: {create_kwargs: {orbiter_row: str}}}}

where ``orbiter_row`` is the record's fields (:func:`~orbiter.train.agents.reset_fields`) as
JSON, which the environment's ``reset`` gets in verl's workers (verl's ``RLHFDataset``
hands ``extra_info.tools_kwargs`` to the agent loop, and the loop each tool's
``create_kwargs`` to its ``create``).

pyarrow is imported only when parquet is written.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from orbiter.train.agents import reset_fields
from orbiter.train.errors import TrainerTypeError, TrainerValueError
from orbiter.train.prompts import messages_of, prompt_text
from orbiter.train.records import (
    ANSWER_KEYS,
    PROMPT_KEYS,
    Columns,
    Example,
    parse_record,
    read_jsonl,
)
from orbiter.train.verl.tools import AGENT_LOOP, ROW_KEY, ToolPlan, tools_kwargs

__all__ = [
    "ANSWER_KEYS",
    "PROMPT_KEYS",
    "Columns",
    "Example",
    "Record",
    "load_records",
    "to_rows",
    "write_parquet",
]

Record = dict[str, Any]


def load_records(
    data: Any, name: str = "train_data", columns: Columns | None = None
) -> list[Record]:
    """Check *data* and return it as a list of normalized records.

    *data* is a non-empty list/tuple of dicts, or a path (``str``/``PathLike``) to a JSONL
    file of such dicts. Each needs a prompt (``input`` or ``prompt``); the reference answer
    (``answer``, ``expected`` or ``output``) is needed only by a reward that compares with
    one, which ``train()`` checks; *columns* names other keys for them. Each normalized
    record has ``prompt`` (text or messages) and ``answer`` (str, ``""`` when there is
    none), its :class:`~orbiter.train.records.Example` under ``"_example"``, and keeps
    every other key of the original.

    Raises:
        TrainerError: naming *name*, the record index and the missing or bad key.
    """
    if isinstance(data, str) and not Path(data).is_file():
        # the original package took only lists: a str that names no file is one of those
        raise TrainerTypeError(
            f"{name} must be a list or tuple of dicts, or the path of a JSONL file; got the "
            f"str {data[:80]!r}, which is not a file"
        )
    source = ""
    if isinstance(data, str | os.PathLike):
        source = f" ({os.fspath(data)!r} has no records)"
        data = read_jsonl(Path(data), name)
    if not isinstance(data, list | tuple):
        raise TrainerTypeError(
            f"{name} must be a list or tuple of dicts, or the path of a JSONL file, got "
            f"{type(data).__name__}"
        )
    if not data:
        raise TrainerValueError(f"{name} must be a non-empty list of records{source}")
    out: list[Record] = []
    for i, item in enumerate(data):
        example = parse_record(item, f"{name}[{i}]", columns=columns)
        record = dict(item)
        record["_example"] = example
        record["prompt"], record["answer"] = example.prompt, example.answer
        for key in ("data_source", "ability"):
            if key in item and not isinstance(item[key], str):
                raise TrainerTypeError(f"{name}[{i}]: {key!r} must be a str")
        out.append(record)
    return out


def to_rows(
    records: Sequence[Record],
    split: str,
    instructions: str = "",
    data_source: str = "orbiter",
    ability: str = "agent",
    tools: ToolPlan | None = None,
    name: str = "train_data",
) -> list[dict[str, Any]]:
    """verl RL rows for normalized *records* (see the module docstring for the schema); with
    *tools* enabled, the multi-turn columns too (*name* names the split in errors).

    Raises:
        TrainerTypeError: If an environment needs a record whose fields are not JSON.
    """
    rows: list[dict[str, Any]] = []
    for index, record in enumerate(records):
        messages = messages_of(record["prompt"], instructions)
        row: dict[str, Any] = {
            "data_source": record.get("data_source", data_source),
            "prompt": messages,
            "ability": record.get("ability", ability),
            "reward_model": {"style": "rule", "ground_truth": record["answer"]},
            "extra_info": {
                "split": split,
                "index": index,
                "question": prompt_text(record["prompt"]),
            },
        }
        if tools is not None and tools.enabled:
            row["agent_name"] = AGENT_LOOP
            kwargs = tools_kwargs(tools, reset_fields(record["_example"]), f"{name}[{index}]")
            if kwargs:
                row["extra_info"]["tools_kwargs"] = kwargs
        rows.append(row)
    return rows


def write_parquet(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    """Write *rows* to a parquet file at *path* (parents created) with an explicit schema
    (the multi-turn columns when the first row has them: :func:`to_rows` gives every row
    the same ones)."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise TrainerTypeError(
            "writing verl datasets needs pyarrow: pip install 'orbiter-train[verl]'"
        ) from exc
    message = pa.struct([("role", pa.string()), ("content", pa.string())])
    info: list[tuple[str, Any]] = [
        ("split", pa.string()),
        ("index", pa.int64()),
        ("question", pa.string()),
    ]
    first = rows[0] if rows else {}
    if "tools_kwargs" in first.get("extra_info", {}):
        create = pa.struct([("create_kwargs", pa.struct([(ROW_KEY, pa.string())]))])
        names = list(first["extra_info"]["tools_kwargs"])
        info.append(("tools_kwargs", pa.struct([(n, create) for n in names])))
    columns: list[tuple[str, Any]] = [
        ("data_source", pa.string()),
        ("prompt", pa.list_(message)),
        ("ability", pa.string()),
        ("reward_model", pa.struct([("style", pa.string()), ("ground_truth", pa.string())])),
        ("extra_info", pa.struct(info)),
    ]
    if "agent_name" in first:
        columns.append(("agent_name", pa.string()))
    schema = pa.schema(columns)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(list(rows), schema=schema), path)
    return path
