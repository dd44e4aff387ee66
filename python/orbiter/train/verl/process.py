"""Running verl's entry point as a subprocess: its install checked, the command, streaming
its log, stopping it.

:func:`check_verl_install` looks, before anything is written, for what
``python -m verl.trainer.main_ppo`` imports: verl, the packages verl's own metadata requires,
and the rollout engine's package, so that a missing one is one clear error rather than a
traceback from inside the subprocess.

:func:`run_streaming` runs the command with asyncio in its own process group, streams every
output line to ``logging`` and a log file, keeps the last lines for error messages, and on
cancellation stops the whole group (SIGTERM, then SIGKILL). Metrics do not come from these
lines: see :mod:`orbiter.train.verl.metrics`.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import importlib.util
import logging
import os
import re
import shlex
import signal
import sys
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from orbiter.train.errors import TrainerError

__all__ = [
    "DEFAULT_ENTRY",
    "ROLLOUT_ENGINES",
    "TAIL_LINES",
    "RunResult",
    "VeRLNotInstalledError",
    "build_command",
    "check_verl_install",
    "run_streaming",
]

logger = logging.getLogger("orbiter.train.verl")

DEFAULT_ENTRY = "verl.trainer.main_ppo"
TAIL_LINES = 40

ROLLOUT_ENGINES = {"vllm": "vllm", "sglang": "sglang", "trtllm": "tensorrt_llm"}
"""verl's rollout engines (``actor_rollout_ref.rollout.name``) and the module each imports."""

INSTALL_HINT = "pip install 'orbiter-train[verl]'"


class VeRLNotInstalledError(TrainerError, ImportError):
    """verl, or a package a verl run imports, is not installed."""


def _marker_holds(marker: str) -> bool:
    """Whether a requirement's environment marker holds here. An extra's does not, and
    neither does one that cannot be read (no ``packaging``): such a requirement is not
    counted as missing."""
    if "extra" in marker:
        return False
    try:
        from packaging.markers import InvalidMarker, Marker
    except ImportError:
        return False
    try:
        return Marker(marker.strip()).evaluate()
    except InvalidMarker:
        return False


def _missing_requirements() -> list[str]:
    """verl's unconditional requirements (its metadata's ``Requires-Dist`` without an
    extra) that no installed distribution provides; none when the metadata is missing."""
    try:
        requires = importlib.metadata.requires("verl") or []
    except importlib.metadata.PackageNotFoundError:  # a source tree on sys.path
        return []
    missing: list[str] = []
    for requirement in requires:
        if ";" in requirement and not _marker_holds(requirement.split(";", 1)[1]):
            continue
        match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
        if match is None:
            continue
        try:
            importlib.metadata.distribution(match.group(0))
        except importlib.metadata.PackageNotFoundError:
            missing.append(match.group(0))
    return missing


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ValueError:  # in sys.modules without a __spec__ (a stand-in): it is there
        return True


def check_verl_install(rollout_engine: str = "vllm") -> None:
    """Check that ``python -m verl.trainer.main_ppo`` can run in this interpreter: verl is
    importable, the packages its metadata requires are installed, and so is the module of
    *rollout_engine* (:data:`ROLLOUT_ENGINES`; another name is left to verl). Nothing is
    imported: the run imports them itself, in its own process.

    Raises:
        VeRLNotInstalledError: (a ``TrainerError`` and an ``ImportError``) naming what is
            missing and how to install it.
    """
    if not _importable("verl"):
        raise VeRLNotInstalledError(
            f"VeRL is required for VeRLTrainer: verl is not installed. Install with: {INSTALL_HINT}"
        )
    missing = _missing_requirements()
    if missing:
        raise VeRLNotInstalledError(
            "VeRL is required for VeRLTrainer, with the packages it needs to run; missing: "
            f"{', '.join(missing)} (verl installed with --no-deps?). Install with: "
            f"{INSTALL_HINT}"
        )
    module = ROLLOUT_ENGINES.get(rollout_engine)
    if module is not None and not _importable(module):
        raise VeRLNotInstalledError(
            f"VeRL is required for VeRLTrainer, with its rollout engine {rollout_engine!r}, "
            f"whose package {module!r} is not installed. Install with: "
            f"pip install 'verl[{rollout_engine}]', or choose another engine with "
            "extra['rollout_engine']"
        )


def build_command(overrides: Sequence[str], entry: str | None = None) -> list[str]:
    """``[python, -m, entry, *overrides]``; an *entry* ending in ``.py`` is run as a file."""
    entry = entry or DEFAULT_ENTRY
    if entry.endswith(".py"):
        # Absolute: the run's working directory is its output_dir, not the caller's.
        head = [sys.executable, os.path.abspath(entry)]
    else:
        head = [sys.executable, "-m", entry]
    return [*head, *overrides]


@dataclass(slots=True)
class RunResult:
    """What a verl run left: its exit status and the log's last lines."""

    returncode: int
    tail: list[str] = field(default_factory=list)


def _signal(process: asyncio.subprocess.Process, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(sig)


async def _stop(process: asyncio.subprocess.Process, grace_s: float) -> None:
    """SIGTERM the process group, then SIGKILL it if still running after *grace_s*."""
    if process.returncode is None:
        _signal(process, signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(process.wait()), grace_s)
    _signal(process, signal.SIGKILL)
    with contextlib.suppress(Exception):
        await asyncio.shield(process.wait())


async def run_streaming(
    command: Sequence[str],
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    kill_grace_s: float = 10.0,
) -> RunResult:
    """Run *command*, streaming each output line to ``logging`` and *log_path*.

    stdout and stderr are merged. The process runs in its own session; when the awaiting
    task is cancelled the whole process group gets SIGTERM, then SIGKILL after
    *kill_grace_s* seconds, and the cancellation propagates.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    process = await asyncio.create_subprocess_exec(
        *command,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        start_new_session=True,
        limit=1 << 24,
    )
    result = RunResult(returncode=-1)
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    assert process.stdout is not None
    try:
        with log_path.open("a", encoding="utf-8") as log:
            log.write(f"=== orbiter-train: {shlex.join(command)}\n")
            while True:
                raw = await process.stdout.readline()
                if not raw:
                    break
                line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                log.write(line + "\n")
                log.flush()
                logger.info("%s", line)
                tail.append(line)
        result.returncode = await process.wait()
    except BaseException:
        await _stop(process, kill_grace_s)
        raise
    finally:
        result.tail = list(tail)
    return result
