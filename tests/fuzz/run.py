"""Run the fuzz targets of :mod:`tests.fuzz.targets` in subprocesses, and report.

Commands, from the repository root (with ``orbiter.train`` importable):

    # what CI runs (tests/fuzz/test_fuzz.py): >= 20,000 cases over every target, 2 workers
    python -m tests.fuzz.run --cases 20000 --seed 0 --jobs 2

    # the long campaign, on demand (not in CI): millions of cases, a fresh seed, all cores
    python -m tests.fuzz.run --cases 2000000 --seed random --jobs "$(nproc)" --timeout 0

    # the same through pytest: ORBITER_FUZZ_CASES / ORBITER_FUZZ_SEED / ORBITER_FUZZ_JOBS
    ORBITER_FUZZ_CASES=2000000 ORBITER_FUZZ_SEED=random python -m pytest tests/fuzz

    # reproduce one failure: the command the report prints, e.g.
    python -m tests.fuzz.run --targets advantages.gae --cases 500 --seed 0 --verbose

A worker process runs a batch of targets, each as a hypothesis test with ``max_examples``
cases and a seed derived from ``--seed`` and the target's name (so a target's cases do not
depend on how targets are batched). The oracle per call (see ``targets.py``): a well-formed
result, or a ``TrainerError`` naming an argument of the call; any other exception is a
failure, shrunk by hypothesis. A worker that dies (abort, segfault, out of memory) or
hangs (no case may take longer than ``--case-timeout``; faulthandler dumps the stacks)
fails the target it was running; the rest of its batch is run again in a new worker. The
exit status is 0 only when every target ran its cases without a failure.

Workers run under an address-space limit (``--memory-mb``), so a kernel that allocates
far more than its inputs justify fails here instead of swapping the machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import secrets
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
MUTATE_P = 0.05  # share of cases whose input arrays a thread overwrites during the call
MUTATE_MAX = 4096  # elements: overwritten offsets can make every row span the whole batch


def target_seed(seed: int, name: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{name}".encode()).digest()[:8], "big")


# --- worker -----------------------------------------------------------------------------------


class FuzzFailure(AssertionError):  # noqa: N818  (reads as what it is)
    """The oracle rejected a call."""


def _names_in(message: str, names: Sequence[str]) -> bool:
    return any(re.search(rf"(?<![\w]){re.escape(n)}(?![\w])", message) for n in names)


def _mutator(arrays: list[Any], stop: threading.Event) -> threading.Thread:
    import numpy as np

    def run() -> None:
        rng = np.random.default_rng(0)
        spins = 0
        while not stop.is_set() and spins < 200_000:
            spins += 1
            for a in arrays:
                if a.size == 0:
                    continue
                i = int(rng.integers(0, a.size))
                if a.dtype.kind == "f":
                    a.flat[i] = rng.choice([np.nan, np.inf, 1e30, 0.0, 1.0])
                elif a.dtype.kind == "b":
                    a.flat[i] = not a.flat[i]
                else:
                    info = np.iinfo(a.dtype)
                    a.flat[i] = rng.choice([info.max, info.min, 0, 1, a.size + 7, -1])

    return threading.Thread(target=run, daemon=True)


def run_case(case: Any, mutate: bool) -> None:
    from orbiter.train.errors import TrainerError

    stop = threading.Event()
    thread = _mutator(case.mutable, stop) if mutate else None
    if thread is not None:
        thread.start()
    try:
        out = case.call()
    except TrainerError as e:
        message = "\n".join([str(e), *getattr(e, "__notes__", [])])
        if not _names_in(message, case.names):
            raise FuzzFailure(f"{type(e).__name__} names none of {case.names}: {message!r}") from e
        return
    except FuzzFailure:
        raise
    except BaseException as e:
        if isinstance(e, KeyboardInterrupt):
            raise
        raise FuzzFailure(f"raised {type(e).__module__}.{type(e).__name__}: {e!r}"[:2000]) from e
    finally:
        stop.set()
        if thread is not None:
            thread.join()
    try:
        case.check(out, not mutate)
    except AssertionError as e:
        raise FuzzFailure(f"malformed result: {e}") from e


def run_target(name: str, cases: int, seed: int, case_timeout: float, verbose: bool) -> dict:
    import faulthandler

    from hypothesis import HealthCheck, Phase, Verbosity, given, settings
    from hypothesis import reporting as hreporting
    from hypothesis import seed as hseed
    from hypothesis import strategies as st

    from tests.fuzz.targets import TARGETS

    build = TARGETS[name]
    count = 0

    @hseed(target_seed(seed, name))
    @settings(
        max_examples=cases,
        database=None,
        deadline=None,
        derandomize=False,
        report_multiple_bugs=False,
        suppress_health_check=list(HealthCheck),
        phases=(Phase.explicit, Phase.generate, Phase.shrink),
        verbosity=Verbosity.verbose if verbose else Verbosity.normal,
        print_blob=False,
    )
    @given(st.data())
    def test(data: Any) -> None:
        nonlocal count
        count += 1
        case = build(data.draw)
        arrays = [a for a in case.mutable if a.dtype.kind in "biuf"]
        small = 0 < sum(a.size for a in arrays) <= MUTATE_MAX
        mutate = small and data.draw(st.integers(0, 999), label="mutate") >= 1000 * (1 - MUTATE_P)
        case.mutable = arrays
        if case_timeout > 0:
            faulthandler.dump_traceback_later(case_timeout, exit=True)
        try:
            run_case(case, mutate)
        finally:
            if case_timeout > 0:
                faulthandler.cancel_dump_traceback_later()

    lines: list[str] = []
    start = time.monotonic()
    failure = None
    with hreporting.with_reporter(lines.append):
        try:
            test()
        except Exception as e:
            while isinstance(e, BaseExceptionGroup) and e.exceptions:  # hypothesis' FlakyFailure
                lines.append(f"(flaky: {type(e).__name__}, a thread mutated inputs)")
                e = e.exceptions[0]
            failure = {
                "error": f"{type(e).__name__}: {e}"[:4000],
                "example": "\n".join([*lines, *getattr(e, "__notes__", [])])[-4000:],
                "traceback": "".join(traceback.format_exception(e))[-4000:],
            }
    return {
        "target": name,
        "cases": count,
        "seconds": round(time.monotonic() - start, 2),
        "failure": failure,
    }


def worker(names: list[str], cases: int, seed: int, case_timeout: float, verbose: bool) -> int:
    import faulthandler

    faulthandler.enable()
    for name in names:
        print(json.dumps({"start": name}), flush=True)
        result = run_target(name, cases, seed, case_timeout, verbose)
        print(json.dumps(result), flush=True)
    return 0


def _limit_memory(mb: int) -> None:
    if mb <= 0:
        return
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (mb << 20, mb << 20))


# --- orchestrator -----------------------------------------------------------------------------


@dataclass
class Report:
    seed: int
    per_target: int
    results: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def cases(self) -> int:
        return sum(r["cases"] for r in self.results)

    @property
    def failures(self) -> list[dict]:
        return [r for r in self.results if r["failure"]]

    def repro(self, name: str) -> str:
        return (
            f"python -m tests.fuzz.run --targets {name} --cases {self.per_target} "
            f"--seed {self.seed}"
        )

    def summary(self) -> str:
        lines = [
            f"fuzz: {self.cases} cases over {len(self.results)} targets in {self.seconds:.1f} s, "
            f"seed {self.seed}, {len(self.failures)} failing"
        ]
        for r in self.results:
            mark = "FAIL" if r["failure"] else "ok"
            lines.append(f"  {mark:4} {r['target']:40} {r['cases']:7} cases {r['seconds']:7.1f} s")
        for f in self.failures:
            lines.append(f"\nFAILED {f['target']}: {f['failure']['error']}")
            lines.append(f"  reproduce: {self.repro(f['target'])}")
            if f["failure"].get("example"):
                lines.append("  " + f["failure"]["example"].replace("\n", "\n  "))
            if f["failure"].get("stderr"):
                lines.append("  stderr:\n  " + f["failure"]["stderr"].replace("\n", "\n  "))
        return "\n".join(lines)


def _command(names: list[str], args: argparse.Namespace, seed: int, per_target: int) -> list[str]:
    cmd = [sys.executable, "-m", "tests.fuzz.run", "--worker", "--targets", ",".join(names)]
    cmd += ["--cases", str(per_target), "--seed", str(seed)]
    cmd += ["--case-timeout", str(args.case_timeout), "--memory-mb", str(args.memory_mb)]
    cmd += [f"--extra={e}" for e in args.extra]
    return cmd


def campaign(args: argparse.Namespace, names: list[str], seed: int) -> Report:
    per_target = max(1, -(-args.cases // len(names)))
    report = Report(seed, per_target)
    size = max(1, min(args.batch, -(-len(names) // max(args.jobs, 1))))
    queue = [names[i : i + size] for i in range(0, len(names), size)]
    running: list[tuple[subprocess.Popen, list[str], float, Any]] = []
    start = time.monotonic()
    env = dict(os.environ, PYTHONFAULTHANDLER="1")
    while queue or running:
        while queue and len(running) < args.jobs:
            batch = queue.pop(0)
            err = open(_errfile(batch), "w+")  # noqa: SIM115
            proc = subprocess.Popen(
                _command(batch, args, seed, per_target),
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                env=env,
            )
            running.append((proc, batch, time.monotonic(), err))
        time.sleep(0.05)
        for item in list(running):
            proc, batch, began, err = item
            timed_out = args.timeout > 0 and time.monotonic() - start > args.timeout
            if proc.poll() is None and not timed_out:
                continue
            if proc.poll() is None:
                proc.kill()
            out, _ = proc.communicate()
            running.remove(item)
            err.seek(0)
            stderr = err.read()[-6000:]
            err.close()
            os.unlink(err.name)
            done, current = [], None
            for line in out.splitlines():
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue
                if "start" in msg:
                    current = msg["start"]
                else:
                    done.append(msg["target"])
                    report.results.append(msg)
                    current = None
            if current is not None or proc.returncode != 0:
                name = current or "?"
                why = "timed out (campaign --timeout)" if timed_out else _death(proc.returncode)
                report.results.append(
                    {
                        "target": name,
                        "cases": 0,
                        "seconds": round(time.monotonic() - began, 2),
                        "failure": {"error": f"worker {why}", "stderr": stderr},
                    }
                )
                rest = [n for n in batch if n not in done and n != name]
                if rest and not timed_out:
                    queue.append(rest)
    report.seconds = time.monotonic() - start
    order = {n: i for i, n in enumerate(names)}
    report.results.sort(key=lambda r: order.get(r["target"], -1))
    return report


def _errfile(batch: list[str]) -> str:
    """A fresh file for a worker's stderr (a pipe could fill and block it)."""
    import tempfile

    fd, path = tempfile.mkstemp(prefix="orbiter-fuzz-", suffix=".stderr")
    os.close(fd)
    return path


def _death(rc: int | None) -> str:
    if rc is None:
        return "did not exit"
    if rc < 0:
        import signal

        try:
            return f"killed by {signal.Signals(-rc).name} (exit {rc})"
        except ValueError:
            return f"killed by signal {-rc}"
    if rc == 1:
        return "exited 1 (a case hung past --case-timeout, or an uncaught error; see stderr)"
    return f"exited {rc}"


def load_extra(paths: Sequence[str]) -> None:
    """Run each file, which may add targets to ``TARGETS`` (used to test the runner)."""
    import runpy

    for p in paths:
        runpy.run_path(p, run_name="fuzz_extra")


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tests.fuzz.run", description=__doc__.split("\n")[0])
    p.add_argument("--cases", type=int, default=20_000, help="total cases, split over targets")
    p.add_argument("--seed", default="0", help="an int, or 'random'")
    p.add_argument("--targets", default="", help="comma-separated names (default: all)")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    p.add_argument("--batch", type=int, default=6, help="targets per worker process")
    p.add_argument("--case-timeout", type=float, default=20.0, help="seconds; 0: none")
    p.add_argument("--timeout", type=float, default=0.0, help="whole campaign, seconds; 0: none")
    p.add_argument("--memory-mb", type=int, default=4096, help="worker address space; 0: none")
    p.add_argument("--extra", action="append", default=[], help="a file adding targets")
    p.add_argument("--json", help="write the report here")
    p.add_argument("--verbose", action="store_true")
    p.add_argument("--list", action="store_true", help="list the targets and exit")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    seed = secrets.randbelow(2**32) if args.seed == "random" else int(args.seed)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests.fuzz.targets import TARGETS

    load_extra(args.extra)
    names = [n for n in args.targets.split(",") if n] or [
        n for n in TARGETS if not n.startswith("selftest.")
    ]
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        print(f"unknown targets: {', '.join(unknown)}; --list shows them", file=sys.stderr)
        return 2
    if args.list:
        print("\n".join(names))
        return 0
    if args.worker:
        _limit_memory(args.memory_mb)
        return worker(names, args.cases, seed, args.case_timeout, args.verbose)
    if args.verbose:  # one process, in the foreground, to watch the draws
        _limit_memory(args.memory_mb)
        per = max(1, -(-args.cases // len(names)))
        results = [run_target(n, per, seed, args.case_timeout, True) for n in names]
        print(json.dumps(results, indent=1))
        return 1 if any(r["failure"] for r in results) else 0
    report = campaign(args, names, seed)
    print(report.summary())
    if args.json:
        Path(args.json).write_text(json.dumps(report.__dict__, indent=1, default=str))
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
