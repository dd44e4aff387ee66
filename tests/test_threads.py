"""The core's thread pool: the first thread to call a kernel works on its own calls as one
of the pool's workers (``batch::ensure_pool``), so calls from other Python threads, and
from any thread after that first one has exited, must still run and agree.

Each case runs in a fresh interpreter, since the pool is built once per process; a hang
fails the test through the subprocess timeout.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

SCRIPT = """
import threading
import numpy as np
from orbiter.train import advantages as adv

rng = np.random.default_rng(0)
r = rng.standard_normal((512, 300), dtype=np.float32)
v = rng.standard_normal((512, 300), dtype=np.float32)
m = (rng.random((512, 300)) < 0.8).astype(np.float32)

def run():
    a, g = adv.gae(r, v, m, gamma=0.99, lam=0.95)
    p, q = adv.reinforce_pp(r, m, gamma=0.99)
    k = adv.kl_divergence(r, v, "k3")
    return [a, g, p, q, k]

if FIRST == "thread":
    # The first caller is a thread that exits before anyone else calls.
    box = []
    t = threading.Thread(target=lambda: box.append(run()))
    t.start()
    t.join()
    want = box[0]
else:
    want = run()
results = [None] * 6

def worker(i):
    results[i] = run()

threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
for t in threads:
    t.start()
for t in threads:
    t.join()
again = run()
for got in results + [again]:
    for x, y in zip(got, want, strict=True):
        assert np.array_equal(x, y)
print("ok")
"""


@pytest.mark.parametrize("first", ["main", "thread"])
@pytest.mark.parametrize("threads", ["1", "2", "3"])
def test_calls_from_many_threads_agree_and_never_hang(first: str, threads: str) -> None:
    env = {**os.environ, "RAYON_NUM_THREADS": threads}
    proc = subprocess.run(
        [sys.executable, "-c", f"FIRST = {first!r}\n" + SCRIPT],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "ok"
