"""Shared benchmark harness: cases, interleaved timing, result rows, table, JSON and chart.

A :class:`Case` is one operation at one size: our function and its baselines. :func:`measure`
warms every function up once, then runs them in turn (ours, baseline 1, baseline 2, ...,
ours, ...) ``runs`` times and keeps the median of each, so that all of them see the same
machine state. Baselines too slow to run on the whole input (Python loops, math-verify)
run on a sample of ``items`` rows and are scaled linearly to the case's rows (marked ``*``).

When a case knows how many bytes it reads (``nbytes``), the memory ceiling, a NumPy copy of
that many bytes, is timed with it and ``ceiling_pct`` says how much of the copy's throughput
ours reaches (100 % = as fast as copying the input once).
"""

from __future__ import annotations

import json
import math
import platform
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

Fn = Callable[[], Any]

CEILING = "numpy copy (memory ceiling)"


@dataclass
class Baseline:
    """A baseline implementation; ``items`` < the case's rows means it runs on a sample."""

    name: str
    fn: Fn
    items: int | None = None


@dataclass
class Case:
    """One operation at one size, with its baselines."""

    group: str
    op: str
    size: str
    rows: int
    ours: Fn
    baselines: list[Baseline] = field(default_factory=list)
    nbytes: int | None = None
    target: str = ""
    # (baseline name, minimum ratio baseline/ours) the target is checked against; the
    # ceiling name checks ceiling_pct / 100.
    target_check: tuple[str, float] | None = None
    notes: list[str] = field(default_factory=list)
    runs: int | None = None
    # (amount of work, unit): ours' throughput is reported as amount / ours_s per second,
    # e.g. (6.4e6 * 4 / 1e9, "GB") -> GB/s; checked against min_throughput when given.
    throughput: tuple[float, str] | None = None
    min_throughput: float | None = None


@dataclass
class Result:
    """One measured case: median seconds of ours and every baseline, and their ratios."""

    group: str
    op: str
    size: str
    rows: int
    ours_s: float
    baselines_s: dict[str, float]
    ratios: dict[str, float]
    sampled: dict[str, int]
    nbytes: int | None
    ceiling_pct: float | None
    ours_rate: float
    target: str
    met: bool | None
    runs: int
    notes: list[str]
    extra: dict[str, Any] = field(default_factory=dict)


def _time(fn: Fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def median_s(fn: Fn, runs: int = 5) -> float:
    """Median seconds of ``runs`` timed calls after one warm-up call."""
    fn()
    return statistics.median(_time(fn) for _ in range(runs))


class Ceiling:
    """Memory ceiling: ``np.copyto`` of a given number of bytes (buffers reused)."""

    def __init__(self) -> None:
        self._buffers: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def fn(self, nbytes: int) -> Fn:
        if nbytes not in self._buffers:
            src = np.random.default_rng(0).integers(0, 255, nbytes, dtype=np.uint8)
            self._buffers[nbytes] = (src, np.empty_like(src))
        src, dst = self._buffers[nbytes]
        return lambda: np.copyto(dst, src)


def measure(case: Case, runs: int, ceiling: Ceiling | None = None) -> Result:
    """Time ``case`` interleaved: warm-up of each, then ``runs`` rounds of all of them."""
    runs = case.runs or runs
    fns: list[tuple[str, Fn]] = [("ours", case.ours)]
    fns += [(b.name, b.fn) for b in case.baselines]
    if case.nbytes and ceiling is not None:
        fns.append((CEILING, ceiling.fn(case.nbytes)))
    for _, fn in fns:
        fn()  # warm-up
    times: dict[str, list[float]] = {name: [] for name, _ in fns}
    for _ in range(runs):
        for name, fn in fns:
            times[name].append(_time(fn))
    med = {name: statistics.median(ts) for name, ts in times.items()}
    ours = med.pop("ours")
    sampled: dict[str, int] = {}
    for b in case.baselines:
        if b.items is not None and b.items != case.rows:
            med[b.name] *= case.rows / b.items
            sampled[b.name] = b.items
    ratios = {name: t / ours for name, t in med.items()}
    pct = 100.0 * med[CEILING] / ours if CEILING in med else None
    met: bool | None = None
    extra: dict[str, Any] = {}
    if case.throughput is not None:
        amount, unit = case.throughput
        extra["throughput"] = amount / ours
        extra["throughput_unit"] = f"{unit}/s"
        if case.min_throughput is not None:
            met = extra["throughput"] >= case.min_throughput
    if case.target_check is not None:
        name, minimum = case.target_check
        if name in ratios:
            met = ratios[name] >= minimum
    return Result(
        group=case.group,
        op=case.op,
        size=case.size,
        rows=case.rows,
        ours_s=ours,
        baselines_s=med,
        ratios=ratios,
        sampled=sampled,
        nbytes=case.nbytes,
        ceiling_pct=pct,
        ours_rate=case.rows / ours,
        target=case.target,
        met=met,
        runs=runs,
        notes=list(case.notes),
        extra=extra,
    )


def run_cases(
    cases: Iterable[Case],
    runs: int,
    ceiling: Ceiling | None = None,
    log: Callable[[str], None] | None = print,
) -> list[Result]:
    """Measure every case in turn (printing a one-line progress note per case)."""
    out = []
    for case in cases:
        r = measure(case, runs, ceiling)
        if log is not None:
            log(f"  {r.op} [{r.size}]: ours {fmt_s(r.ours_s)}")
        out.append(r)
    return out


# ---------------------------------------------------------------- formatting


def fmt_s(seconds: float) -> str:
    """Seconds in the unit that keeps 3-4 significant digits."""
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    if seconds >= 1e-6:
        return f"{seconds * 1e6:.1f} us"
    return f"{seconds * 1e9:.0f} ns"


def fmt_ratio(r: float) -> str:
    return f"{r:.0f}x" if r >= 100 else f"{r:.1f}x" if r >= 1 else f"{r:.2f}x"


def table(results: Sequence[Result]) -> str:
    """Markdown table: operation, size, ours, each baseline (time and ratio), % of ceiling."""
    head = (
        "| operation | size | ours | baseline: time (baseline / ours) "
        "| % of memory ceiling | throughput, target |"
    )
    lines = [head, "|---|---|---:|---|---:|---|"]
    for r in results:
        parts = []
        for name, t in r.baselines_s.items():
            if name == CEILING:
                continue
            star = "*" if name in r.sampled else ""
            parts.append(f"{name}{star}: {fmt_s(t)} ({fmt_ratio(r.ratios[name])})")
        pct = f"{r.ceiling_pct:.0f} %" if r.ceiling_pct is not None else ""
        if r.ceiling_pct is not None:
            pct += f" (copy {fmt_s(r.baselines_s[CEILING])})"
        target = r.target
        if "throughput" in r.extra:
            target = f"{r.extra['throughput']:.3g} {r.extra['throughput_unit']} {target}".strip()
        if r.met is not None:
            target += " met" if r.met else " MISSED"
        base = "<br>".join(parts) if parts else "-"
        lines.append(f"| {r.op} | {r.size} | {fmt_s(r.ours_s)} | {base} | {pct} | {target} |")
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    import os

    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "numpy": np.__version__,
        # other work on the machine skews the figures: the 1-minute load when measured
        "loadavg_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
        info["memory_gb"] = round(mem_kb / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    for mod in ("torch", "verl", "math_verify"):
        try:
            from importlib.metadata import version

            info[mod] = version(mod.replace("_", "-"))
        except Exception:  # not installed
            info[mod] = None
    return info


def to_jsonable(obj: Any) -> Any:
    """Results and nested dicts as plain JSON (NaN/inf as null)."""
    if isinstance(obj, Result):
        return to_jsonable(asdict(obj))
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_jsonable(payload), indent=1) + "\n")


def print_results(results: Sequence[Result], title: str = "") -> None:
    if title:
        print(f"\n## {title}\n")
    print(table(results))
