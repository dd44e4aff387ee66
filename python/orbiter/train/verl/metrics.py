"""verl's metrics, read from its ``file`` logger rather than from its console lines.

With ``trainer.logger`` holding ``"file"``, verl's ``Tracking`` opens a ``FileLogger``
(``verl/utils/tracking.py``) that writes one JSON object per logged step::

    {"step": 3, "data": {"actor/pg_loss": -0.012, "critic/score/mean": 0.25, ...}}

to ``$VERL_FILE_LOGGER_PATH`` or, when that is unset,
``$VERL_FILE_LOGGER_ROOT/<trainer.project_name>/<trainer.experiment_name>.jsonl`` (the root
defaults to the working directory). orjson writes NaN and infinities as ``null``.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["FILE_LOGGER_PATH_ENV", "read_metrics", "summarize"]

logger = logging.getLogger("orbiter.train.verl")

FILE_LOGGER_PATH_ENV = "VERL_FILE_LOGGER_PATH"
"""The environment variable verl's ``FileLogger`` takes its output path from."""

Steps = list[tuple[int, dict[str, float]]]


def _numbers(data: Mapping[str, Any]) -> dict[str, float]:
    # verl's console logger shows only numbers; the same metrics are kept here.
    return {
        str(key): float(value)
        for key, value in data.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }


def read_metrics(path: Path) -> Steps:
    """``[(step, {key: value}), ...]`` in file order from verl's ``file`` logger at *path*.

    Values that are not numbers (``null`` for NaN, strings, lists) are skipped; a line that
    is not a complete JSON record (a run killed mid-write) is skipped. A missing file reads
    as no steps.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        logger.warning("verl wrote no metrics file at %s", path)
        return []
    steps: Steps = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(record, dict) or not isinstance(record.get("data"), dict):
            continue
        step = record.get("step")
        if isinstance(step, bool) or not isinstance(step, int):
            continue
        steps.append((step, _numbers(record["data"])))
    return steps


def summarize(steps: Sequence[tuple[int, Mapping[str, float]]]) -> dict[str, Any]:
    """``loss``, ``accuracy``, ``steps`` and ``extra`` (the last metrics) from logged steps.

    ``loss`` is the last ``actor/pg_loss``; ``accuracy`` the last ``critic/score/mean``
    (the mean training reward) or, when there is none (validation-only runs), the mean of
    the last ``val-core/*`` metrics; ``steps`` the last step number.
    """
    loss = accuracy = math.nan
    last_step = 0
    merged: dict[str, float] = {}
    for step, metrics in steps:
        last_step = max(last_step, step)
        merged.update(metrics)
        if "actor/pg_loss" in metrics:
            loss = metrics["actor/pg_loss"]
        if "critic/score/mean" in metrics:
            accuracy = metrics["critic/score/mean"]
    if math.isnan(accuracy):
        val = [v for k, v in merged.items() if k.startswith("val-core/")]
        if val:
            accuracy = sum(val) / len(val)
    return {
        "loss": 0.0 if math.isnan(loss) else loss,
        "accuracy": 0.0 if math.isnan(accuracy) else accuracy,
        "steps": last_step,
        "extra": merged,
    }
