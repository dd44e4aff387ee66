"""What a run reports: metrics.jsonl, the report_to trackers, the progress and the summary."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from orbiter.train.torch.checkpoint import atomic_write
from orbiter.train.torch.trackers import Tracker
from orbiter.train.trainer import TrainMetrics

logger = logging.getLogger("orbiter.train.torch")
progress_logger = logging.getLogger("orbiter.train.progress")
"""Where the progress lines go: a run's one sign of life in a log with no terminal (the
command line shows this logger at INFO even without ``--verbose``)."""

METRICS_FILE = "metrics.jsonl"

TIME_KEYS = ("time_generate", "time_score", "time_advantage", "time_update")


def cut_back(path: Path, step: int) -> list[dict[str, Any]]:
    """Keep only the lines of the metrics file *path* up to *step* (the checkpoint a run
    resumes from; 0 when it starts afresh), so that replayed steps are not written twice;
    return the training steps' rows among them (those with an ``epoch``).

    A line that is not a JSON object with an int ``step`` (the torn last line of a crash)
    goes too. The file is replaced atomically.
    """
    if not path.is_file():
        return []
    kept: list[tuple[str, dict[str, Any]]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and isinstance(row.get("step"), int) and row["step"] <= step:
            kept.append((line, row))
    text = "".join(line + "\n" for line, _ in kept)
    atomic_write(path, lambda p: Path(p).write_text(text, encoding="utf-8"))
    return [row for _, row in kept if "epoch" in row]


class MetricsWriter:
    """``metrics.jsonl``: one JSON object a step (trackers: :mod:`orbiter.train.torch.trackers`).

    The file is first cut back to the run's *start* step (:func:`cut_back`), whose rows
    are kept in :attr:`earlier`.
    """

    def __init__(self, out_dir: Path | None, *, start: int, enabled: bool) -> None:
        self._file = None
        self.earlier: list[dict[str, Any]] = []
        if out_dir is None or not enabled:
            return
        out_dir.mkdir(parents=True, exist_ok=True)
        self.earlier = cut_back(out_dir / METRICS_FILE, start)
        self._file = open(out_dir / METRICS_FILE, "a", encoding="utf-8")  # noqa: SIM115

    def write(self, metrics: dict[str, Any]) -> None:
        if self._file is None:
            return
        self._file.write(json.dumps(metrics) + "\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


class Progress:
    """A tqdm bar (main rank only, on a terminal) and a log line every *every* steps on
    :data:`progress_logger` (``step 40/200 (20%): loss=... reward_mean=...``)."""

    def __init__(self, total: int, start: int, *, enabled: bool) -> None:
        self._bar: Any = None
        self._total = total
        self._enabled = enabled
        if enabled:
            from tqdm.auto import tqdm

            self._bar = tqdm(
                total=total,
                initial=start,
                desc="train",
                unit="step",
                dynamic_ncols=True,
                disable=None,
            )

    def update(self, metrics: dict[str, float], every: int) -> None:
        step = int(metrics["step"])
        if self._bar is not None:
            self._bar.update(1)
            if step % every == 0:
                shown = {
                    k: f"{metrics[k]:.3g}"
                    for k in ("loss", "reward_mean", "accuracy", "kl")
                    if k in metrics
                }
                self._bar.set_postfix(shown, refresh=False)
        if self._enabled and (step % every == 0 or step == self._total):
            progress_logger.info(
                "step %d/%d (%.0f%%): %s",
                step,
                self._total,
                100.0 * step / max(self._total, 1),
                " ".join(f"{k}={v:.4g}" for k, v in metrics.items() if isinstance(v, float)),
            )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


class RunReport:
    """A run's reporting: every step's metrics kept, written and shown (main rank only).

    :attr:`history` starts with the steps before *start* that ``metrics.jsonl`` holds, so
    a resumed run reports on the whole run."""

    def __init__(
        self,
        out_dir: Path | None,
        *,
        total: int,
        start: int,
        log_every: int,
        enabled: bool,
        trackers: Sequence[Tracker] = (),
    ) -> None:
        self._trackers = list(trackers)
        self._writer = MetricsWriter(out_dir, start=start, enabled=enabled)
        self.history: list[dict[str, float]] = list(self._writer.earlier)
        self._progress = Progress(total, start, enabled=enabled)
        self._log_every = log_every

    def step(self, metrics: dict[str, float]) -> None:
        self.history.append(metrics)
        self._writer.write(metrics)
        for tracker in self._trackers:
            tracker.log(metrics, int(metrics["step"]))
        self._progress.update(metrics, self._log_every)

    def write(self, metrics: dict[str, Any]) -> None:
        """A line of ``metrics.jsonl`` that is not a step's (an evaluation's)."""
        self._writer.write(metrics)

    def close(self) -> None:
        self._progress.close()
        self._writer.close()
        for tracker in self._trackers:
            tracker.close()


def summarize(history: list[dict[str, float]], steps: int, total: int) -> TrainMetrics:
    """``TrainMetrics`` of a run: loss, accuracy and ``reward_mean_last10pct`` are means over
    the last tenth of the steps (at least one), ``extra`` holds the last step's other metrics,
    ``total_steps`` and ``time_split`` (each stage's share of the summed step time)."""
    if not history:
        return TrainMetrics(steps=steps, extra={"total_steps": total})
    last = history[-1]
    window = history[-max(1, len(history) // 10) :]

    def mean(key: str) -> float:
        values = [h[key] for h in window if key in h]
        return float(np.mean(values)) if values else 0.0

    extra: dict[str, Any] = {k: v for k, v in last.items() if k not in ("loss", "accuracy", "step")}
    extra["reward_mean_last10pct"] = mean("reward_mean")
    extra["total_steps"] = total
    timing = {k: sum(h.get(k, 0.0) for h in history) for k in TIME_KEYS}
    step_total = sum(h.get("time_step", 0.0) for h in history) or 1.0
    extra["time_split"] = {k[5:]: v / step_total for k, v in timing.items()}
    return TrainMetrics(loss=mean("loss"), accuracy=mean("accuracy"), steps=steps, extra=extra)
