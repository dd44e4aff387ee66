"""Load and latency of ``orbiter-train serve`` against an OpenRLHF-style server (issue 16, item 4).

Both servers run as subprocesses on localhost and get the same load: ``clients`` concurrent
aiohttp clients, each posting OpenRLHF ``/get_reward`` requests of one batch size (1, 64 and
1,024 responses) back to back for ``seconds`` (every client finishes at least one). The
baseline is ``openrlhf_reward_server.py``: FastAPI/uvicorn as OpenRLHF's reference server,
math-verify per item. It runs in the first Python of ``$ORBITER_SERVE_BASELINE_PYTHON``, this
one, ``$ORBITER_MATH_VERIFY_PYTHON`` that imports fastapi, uvicorn and math_verify; without
one it is skipped with a note.

Per server and batch size, over the ``n`` requests answered in ``wall`` seconds:
``requests/s = n / wall``; ``responses/s = n * batch / wall``; latency is each request's
time from send to parsed answer, and ``pXX`` its nearest-rank percentile, the
``ceil(XX/100 * n)``-th smallest. Every answer of ours is checked against ``math_equal``
called in this process (``wrong`` counts mismatches; the baseline's are math-verify's).

Targets (reported, not asserted): ours >= 100x the baseline's responses/s on 1,024-response
batches; ours p99 < 50 ms on 64-response batches. The clients share the machine with the
server (2 cores here), so the figures include the clients' own cost.

The fault run: good clients as above, and among them clients that hang up mid-body or right
after sending a whole request, bodies over the size limit (413) and garbage bodies (400).
Every good request must still get its right answer, and the server must still be up.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
GROUP = "serve"
BASELINE_SCRIPT = HERE / "openrlhf_reward_server.py"
FAULT_LIMIT = 1 << 20  # the fault run's --max-body-bytes


@dataclass
class Cell:
    """One server under one load."""

    server: str
    batch: int
    clients: int
    requests: int
    seconds: float
    requests_per_s: float
    responses_per_s: float
    p50_ms: float
    p99_ms: float
    wrong: int


def percentile(values: list[float], p: float) -> float:
    """Nearest rank: the ``ceil(p/100 * n)``-th smallest of *values*."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def corpus(n: int, seed: int = 0) -> tuple[list[str], list[str], list[str], list[str]]:
    """``(prompts, queries, labels, responses)``: GSM8K/MATH-like worked answers, in boxed,
    ``####`` and "the answer is" forms, about half of them right."""
    rng = np.random.default_rng(seed)
    prompts, queries, labels, responses = [], [], [], []
    for i in range(n):
        a, b = (int(x) for x in rng.integers(2, 999, 2))
        value = a * b
        right = bool(rng.random() < 0.5)
        said = value if right else value + int(rng.integers(1, 9))
        work = (
            f"We multiply {a} by {b}. First {a} * {b // 2} = {a * (b // 2)}, then we add the rest. "
        )
        form = i % 3
        if form == 0:
            response = work * 3 + f"So the answer is $\\boxed{{{said}}}$."
        elif form == 1:
            response = work * 3 + f"\n#### {said}"
        else:
            response = work * 3 + f"The answer is {said}."
        prompt = f"<|im_start|>user\nWhat is {a} times {b}?<|im_end|>\n<|im_start|>assistant\n"
        prompts.append(prompt)
        responses.append(response)
        queries.append(prompt + response)
        labels.append(str(value))
    return prompts, queries, labels, responses


class Server:
    """A server subprocess that prints ``… on http://HOST:PORT`` to stderr once it listens;
    stderr is drained by a thread (a full pipe would stall the server's logging)."""

    def __init__(self, cmd: list[str], env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=env)
        self.lines: list[str] = []
        found: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._drain, args=(found,), daemon=True).start()
        try:
            self.url = found.get(timeout=120)
        except queue.Empty:
            self.stop()
            raise RuntimeError(f"{cmd[0]}: the server did not start: {self.lines}") from None

    def _drain(self, found: queue.Queue[str]) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)
            if " on http://" in line:
                found.put(line.split(" on ", 1)[1].strip())

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> int:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def ours(max_body_bytes: int = 64 << 20) -> Server:
    cmd = [sys.executable, "-m", "orbiter.train", "serve", "--port", "0"]
    return Server([*cmd, "--max-body-bytes", str(max_body_bytes)])


def baseline_python() -> tuple[str | None, str]:
    """The first Python that runs the baseline server, and why none does."""
    names = ("ORBITER_SERVE_BASELINE_PYTHON", None, "ORBITER_MATH_VERIFY_PYTHON")
    tried = []
    for name in names:
        python = sys.executable if name is None else os.environ.get(name)
        if not python:
            continue
        probe = [python, "-c", "import fastapi, uvicorn, math_verify"]
        if subprocess.run(probe, capture_output=True, check=False).returncode == 0:
            return python, ""
        tried.append(python)
    return None, f"no Python with fastapi, uvicorn and math_verify (tried {', '.join(tried)})"


def _body(batch: int, start: int, data: tuple[list[str], ...]) -> bytes:
    prompts, queries, labels, _ = data
    idx = [(start + k) % len(queries) for k in range(batch)]
    body = {
        "query": [queries[i] for i in idx],
        "prompts": [prompts[i] for i in idx],
        "labels": [labels[i] for i in idx],
    }
    return json.dumps(body).encode()


async def _load(
    url: str, bodies: list[tuple[bytes, list[float] | None]], clients: int, seconds: float
) -> tuple[list[float], int, float]:
    """``(latencies, wrong, wall)``: *clients* posting *bodies* in turn until *seconds* pass."""
    import aiohttp

    latencies: list[float] = []
    wrong = 0
    headers = {"Content-Type": "application/json"}
    started = time.perf_counter()
    deadline = started + seconds

    async def client(session: aiohttp.ClientSession, k: int) -> None:
        nonlocal wrong
        first = True
        while first or time.perf_counter() < deadline:
            first = False
            body, expected = bodies[k % len(bodies)]
            k += clients
            t0 = time.perf_counter()
            async with session.post(url + "/get_reward", data=body, headers=headers) as r:
                got = await r.json()
            latencies.append(time.perf_counter() - t0)
            if expected is not None and got.get("rewards") != expected:
                wrong += 1

    timeout = aiohttp.ClientTimeout(total=600)
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        await asyncio.gather(*(client(session, k) for k in range(clients)))
    return latencies, wrong, time.perf_counter() - started


def measure(name: str, url: str, batch: int, clients: int, seconds: float, check: bool) -> Cell:
    """One cell: the load at one batch size (a short warm-up first)."""
    from orbiter.train.rewards import math_equal

    data = corpus(max(batch * 4, 256))
    bodies: list[tuple[bytes, list[float] | None]] = []
    for j in range(4):
        expected = None
        if check:
            start = j * batch
            idx = [(start + k) % len(data[1]) for k in range(batch)]
            responses = [data[3][i] for i in idx]
            expected = math_equal(responses, [data[2][i] for i in idx]).tolist()
        bodies.append((_body(batch, j * batch, data), expected))
    asyncio.run(_load(url, bodies[:1], 1, 0.0))  # warm-up: one request
    latencies, wrong, wall = asyncio.run(_load(url, bodies, clients, seconds))
    n = len(latencies)
    return Cell(
        server=name,
        batch=batch,
        clients=clients,
        requests=n,
        seconds=wall,
        requests_per_s=n / wall,
        responses_per_s=n * batch / wall,
        p50_ms=1e3 * percentile(latencies, 50),
        p99_ms=1e3 * percentile(latencies, 99),
        wrong=wrong,
    )


async def _faults(
    url: str, good: list[tuple[bytes, list[float] | None]], rounds: int
) -> dict[str, Any]:
    import aiohttp

    host, port = url.removeprefix("http://").rsplit(":", 1)
    statuses: dict[str, list[int]] = {"oversized": [], "garbage": [], "wrong_types": []}
    hangups = {"mid_body": 0, "mid_scoring": 0}
    big = good[-1][0]

    async def hang_up(data: bytes, kind: str) -> None:
        _, writer = await asyncio.open_connection(host, int(port))
        writer.write(data)
        await writer.drain()
        writer.close()
        await writer.wait_closed()
        hangups[kind] += 1

    async def post(session: aiohttp.ClientSession, body: bytes, kind: str) -> None:
        async with session.post(url + "/get_reward", data=body) as r:
            await r.read()
            statuses[kind].append(r.status)

    head = f"POST /get_reward HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(big)}\r\n\r\n"
    async with aiohttp.ClientSession() as session:
        tasks = []
        for _ in range(rounds):
            tasks += [
                hang_up(head.encode() + big[: len(big) // 2], "mid_body"),
                hang_up(head.encode() + big, "mid_scoring"),
                post(session, b" " * (FAULT_LIMIT + 1), "oversized"),
                post(session, b"\x00{{garbage", "garbage"),
                post(session, b'{"query": [1], "labels": "x"}', "wrong_types"),
            ]
        load = _load(url, good, 4, 0.0 if rounds == 1 else 2.0)
        latencies, wrong, _ = (await asyncio.gather(load, *tasks))[0]
    return {
        "good_requests": len(latencies),
        "good_wrong": wrong,
        "hangups": hangups,
        "statuses": {k: sorted(set(v)) for k, v in statuses.items()},
        "bad_answered": sum(len(v) for v in statuses.values()),
    }


def fault_run(smoke: bool) -> dict[str, Any]:
    """Good requests among faulty clients against our server: every good answer right."""
    from orbiter.train.rewards import math_equal

    data = corpus(256, seed=1)
    good = []
    for batch in (1, 64, 256):
        responses, labels = data[3][:batch], data[2][:batch]
        good.append((_body(batch, 0, data), math_equal(responses, labels).tolist()))
    server = ours(FAULT_LIMIT)
    try:
        out = asyncio.run(_faults(server.url, good, 1 if smoke else 10))
        out["alive_after"] = server.alive()
    finally:
        out_code = server.stop()
    out["exit_code"] = out_code
    out["ok"] = bool(
        out["good_wrong"] == 0
        and out["alive_after"]
        and out["statuses"] == {"oversized": [413], "garbage": [400], "wrong_types": [400]}
    )
    return out


def run(smoke: bool) -> tuple[dict[str, Any] | None, list[str]]:
    """The serve section: cells of both servers, targets, the fault run, notes."""
    notes: list[str] = []
    try:
        import aiohttp  # noqa: F401
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as err:
        return None, [
            f"serve section skipped: {err.name} not installed (pip install -e '.[bench]')"
        ]
    batches = (1, 64) if smoke else (1, 64, 1024)
    clients, seconds = (2, 0.2) if smoke else (4, 3.0)
    cells: list[Cell] = []
    server = ours()
    try:
        for batch in batches:
            cells.append(measure("orbiter-train serve", server.url, batch, clients, seconds, True))
    finally:
        server.stop()
    python, why = baseline_python()
    if python is None:
        notes.append(f"serve: OpenRLHF-style math-verify server skipped: {why}")
    else:
        base = Server([python, str(BASELINE_SCRIPT), "--port", "0"])
        try:
            for batch in batches:
                cells.append(
                    measure(
                        "openrlhf-style + math-verify", base.url, batch, clients, seconds, False
                    )
                )
        finally:
            base.stop()
        if python != sys.executable:
            notes.append(f"serve: the OpenRLHF-style server ran in {python}")
    faults = fault_run(smoke)
    return {
        "cells": [asdict(c) for c in cells],
        "targets": targets(cells),
        "faults": faults,
    }, notes


def targets(cells: list[Cell]) -> list[dict[str, Any]]:
    """The issue's two targets, as far as this run measured them."""
    by = {(c.server, c.batch): c for c in cells}
    out: list[dict[str, Any]] = []
    mine, theirs = (
        by.get(("orbiter-train serve", 1024)),
        by.get(("openrlhf-style + math-verify", 1024)),
    )
    if mine is not None and theirs is not None:
        ratio = mine.responses_per_s / theirs.responses_per_s
        out.append(
            {
                "target": ">= 100x responses/s on 1,024-response batches",
                "value": ratio,
                "text": f"{ratio:.0f}x",
                "met": ratio >= 100,
            }
        )
    mine = by.get(("orbiter-train serve", 64))
    if mine is not None:
        out.append(
            {
                "target": "p99 < 50 ms on 64-response batches",
                "value": mine.p99_ms,
                "text": f"p99 {mine.p99_ms:.1f} ms",
                "met": mine.p99_ms < 50,
            }
        )
    return out


def describe(serve: dict[str, Any]) -> str:
    """The section as a Markdown table, then the targets and the fault run."""
    lines = [
        "| server | batch | clients | requests | requests/s | responses/s | p50 | p99 | wrong |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in serve["cells"]:
        lines.append(
            f"| {c['server']} | {c['batch']:,} | {c['clients']} | {c['requests']} "
            f"| {c['requests_per_s']:,.1f} | {c['responses_per_s']:,.0f} "
            f"| {c['p50_ms']:.2f} ms | {c['p99_ms']:.2f} ms | {c['wrong']} |"
        )
    for t in serve["targets"]:
        lines.append(f"\n{'met' if t['met'] else 'MISSED'}: {t['target']}: {t['text']}")
    f = serve["faults"]
    lines.append(
        f"\nfault run: {f['good_requests']} good requests, {f['good_wrong']} wrong; hang-ups "
        f"{f['hangups']}; bad bodies answered {f['statuses']}; server up after: "
        f"{f['alive_after']}, exit code on SIGTERM {f['exit_code']} -> "
        f"{'ok' if f['ok'] else 'FAILED'}"
    )
    return "\n".join(lines)
