"""Outputs and tables too large for the machine are named errors, never an abort.

Each case runs in a subprocess under ``ulimit -v`` (address space), so an allocation the
limit refuses is what a machine without the memory would do; the child must exit 0
after catching ``TrainerValueError``, not die with SIGABRT (exit 134).

The core's allocator (mimalloc) reserves address space in arenas of 1 GiB; under a limit
this tight the child gives it 64 MiB arenas (``MIMALLOC_ARENA_RESERVE``, as the README
says a user under ``ulimit -v`` would), so that NumPy's own arrays still fit.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="ulimit -v is Linux's")

PRELUDE = """
import numpy as np
from orbiter.train import advantages, rewards
from orbiter.train.data import RaggedTokens
from orbiter.train.errors import TrainerError

def expect(fn, *words):
    try:
        fn()
    except TrainerError as e:
        assert isinstance(e, ValueError), type(e)
        for w in words:
            assert w in str(e), (w, str(e))
        print("raised:", e)
    else:
        raise SystemExit("no error")
"""


def run_limited(body: str, limit_kib: int) -> subprocess.CompletedProcess[str]:
    script = PRELUDE + textwrap.dedent(body)
    return subprocess.run(
        ["bash", "-c", f'ulimit -v {limit_kib} && exec "$0" -c "$1"', sys.executable, script],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "RAYON_NUM_THREADS": "2", "MIMALLOC_ARENA_RESERVE": "64MiB"},
    )


def check(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 0, (proc.returncode, proc.stdout, proc.stderr[-2000:])
    assert "raised:" in proc.stdout


def test_repetition_penalty_table_of_one_long_row_is_an_error() -> None:
    # One 128 MB row: its n-gram table (16 bytes a slot, 2 slots an n-gram) is 1 GiB.
    check(
        run_limited(
            """
            row = np.arange(32 << 20, dtype=np.int32)
            tokens = RaggedTokens(row, np.array([0, row.size], np.int64))
            expect(lambda: rewards.repetition_penalty(tokens, n=2), "responses[0]", "bytes")
            """,
            1_000_000,
        )
    )


def test_token_f1_table_of_one_long_row_is_an_error() -> None:
    check(
        run_limited(
            """
            row = np.arange(32 << 20, dtype=np.int32)
            a = RaggedTokens(row, np.array([0, row.size], np.int64))
            b = RaggedTokens(row[::-1].copy(), np.array([0, row.size], np.int64))
            expect(lambda: rewards.token_f1(a, b), "references[0]", "bytes")
            """,
            1_000_000,
        )
    )


def test_broadcast_and_grpo_outputs_too_large_are_errors() -> None:
    # A 1 GB mask (never touched) whose float32 output needs 4 GB.
    check(
        run_limited(
            """
            mask = np.zeros((1000, 1_000_000), bool)
            scores = np.zeros(1000, np.float32)
            expect(lambda: advantages.broadcast(scores, mask), "mask", "cannot be allocated")
            ids = np.arange(1000)
            expect(lambda: advantages.grpo(scores, ids, mask=mask), "mask", "cannot be allocated")
            expect(lambda: advantages.rloo(scores, ids, mask=mask), "mask", "cannot be allocated")
            """,
            3_000_000,
        )
    )


def test_token_grid_outputs_too_large_are_errors() -> None:
    # Inputs of 1 GB (float32 zeros, never touched) whose outputs do not fit.
    check(
        run_limited(
            """
            x = np.zeros((256, 1_000_000), np.float32)
            mask = np.ones((256, 1_000_000), bool)
            expect(lambda: advantages.kl_divergence(x, x), "logp", "cannot be allocated")
            returns = lambda: advantages.discounted_returns(x, mask, gamma=1.0)
            expect(returns, "rewards", "cannot be allocated")
            """,
            2_000_000,
        )
    )


REUSE = """
import resource
import numpy as np
from orbiter.train import _core, advantages

rng = np.random.default_rng(0)
r = rng.standard_normal((2048, 1024), dtype=np.float32)
v = rng.standard_normal((2048, 1024), dtype=np.float32)
m = np.ones((2048, 1024), dtype=np.float32)
advantages.gae(r, v, m, gamma=1.0, lam=0.95)  # outputs freed at once
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
advantages.gae(r, v, m, gamma=1.0, lam=0.95)
after = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
print(_core._allocator_purge_delay_ms(), after - before)
"""


def page_faults_of_second_call(env: dict[str, str]) -> tuple[int, int]:
    """(purge delay, minor page faults) of a second same-size ``gae`` in a fresh process."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("MIMALLOC_")}
    proc = subprocess.run(
        [sys.executable, "-c", REUSE],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
        env={**base, **env},
    )
    delay, faults = proc.stdout.split()
    return int(delay), int(faults)


def test_freed_outputs_are_reused_without_page_faults() -> None:
    # The core keeps freed memory committed (a step's outputs are the next step's), and
    # a user's MIMALLOC_PURGE_DELAY still wins: with 0 (return at once), the second
    # call's two 8 MiB outputs are faulted in afresh, which is what the default avoids.
    kept_delay, kept = page_faults_of_second_call({})
    purged_delay, purged = page_faults_of_second_call({"MIMALLOC_PURGE_DELAY": "0"})
    assert (kept_delay, purged_delay) == (-1, 0)
    assert purged > 200, purged
    assert kept * 10 < purged, (kept, purged)
