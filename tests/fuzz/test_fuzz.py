"""CI's fuzz run: every target of ``tests/fuzz/targets.py`` in worker subprocesses.

The default is at least 20,000 cases (``ORBITER_FUZZ_CASES``) with a fixed seed
(``ORBITER_FUZZ_SEED``, an int or ``random``) over ``ORBITER_FUZZ_JOBS`` workers (default:
the CPU count), so a red run reproduces. The long campaign is run on demand, not here; see
``tests/fuzz/run.py``. A second test proves the harness itself reports what it must: a
wrong exception, a malformed result, an abort and a hang, each as a failure with the seed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CASES = int(os.environ.get("ORBITER_FUZZ_CASES", "20000"))
SEED = os.environ.get("ORBITER_FUZZ_SEED", "0")
JOBS = os.environ.get("ORBITER_FUZZ_JOBS", str(os.cpu_count() or 1))


def _run(*args: str, timeout: float) -> tuple[subprocess.CompletedProcess[str], dict]:
    report = ROOT / "tests" / "fuzz" / f".report-{os.getpid()}.json"
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "tests.fuzz.run", *args, "--json", str(report)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        data = json.loads(report.read_text()) if report.exists() else {}
    finally:
        report.unlink(missing_ok=True)
    return proc, data


def test_fuzz_every_entry_point() -> None:
    proc, report = _run(
        "--cases", str(CASES), "--seed", SEED, "--jobs", JOBS, timeout=max(600, CASES / 20)
    )
    assert proc.returncode == 0, proc.stdout[-20_000:] + proc.stderr[-5000:]
    results = report["results"]
    assert sum(r["cases"] for r in results) >= CASES, proc.stdout
    from tests.fuzz.targets import TARGETS

    assert {r["target"] for r in results} == set(TARGETS), "a target did not run"
    assert all(r["cases"] > 0 for r in results), proc.stdout


BROKEN = textwrap.dedent(
    """
    import os, time
    import numpy as np
    from tests.fuzz.targets import TARGETS, Case, f32

    def wrong_exception(draw):
        return Case(lambda: int("x"), ("x",), f32((1,)))

    def malformed(draw):
        return Case(lambda: np.zeros(2, np.float64), ("x",), f32((2,)))

    def aborts(draw):
        return Case(os.abort, ("x",), f32((1,)))

    def hangs(draw):
        return Case(lambda: time.sleep(60), ("x",), f32((1,)))

    for fn in (wrong_exception, malformed, aborts, hangs):
        TARGETS["selftest." + fn.__name__] = fn
    """
)


def test_runner_reports_broken_targets(tmp_path: Path) -> None:
    extra = tmp_path / "broken.py"
    extra.write_text(BROKEN)
    names = ["wrong_exception", "malformed", "aborts", "hangs"]
    proc, report = _run(
        "--extra", str(extra), "--targets", ",".join(f"selftest.{n}" for n in names),
        "--cases", "40", "--seed", "7", "--jobs", "2", "--batch", "4", "--case-timeout", "3",
        timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    failures = {r["target"]: r["failure"]["error"] for r in report["results"] if r["failure"]}
    assert set(failures) == {f"selftest.{n}" for n in names}, proc.stdout
    assert "builtins.ValueError" in failures["selftest.wrong_exception"]
    assert "dtype float64" in failures["selftest.malformed"]
    assert "SIGABRT" in failures["selftest.aborts"]
    assert "hung" in failures["selftest.hangs"]
    assert "--seed 7" in proc.stdout
