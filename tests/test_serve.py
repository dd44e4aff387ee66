"""``orbiter-train serve``: the reward server (issue 16, item 3).

Bad requests go through Starlette's TestClient (the app in this process); the end-to-end
cases, SIGTERM and OpenRLHF's own remote-reward client run against the real command, uvicorn
in a subprocess on a free port. Scores are checked against ``math_equal`` called directly,
and for a few cases against math-verify's judgement. No timing is asserted.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from starlette.testclient import TestClient  # noqa: E402

from orbiter.train import TrainerError  # noqa: E402
from orbiter.train.cli import main  # noqa: E402
from orbiter.train.rewards import exact_text_match, math_equal  # noqa: E402
from orbiter.train.serve import STATUS_NAMES, create_app  # noqa: E402

CORPUS = Path(__file__).with_name("data") / "math_corpus.jsonl"


def _corpus(n: int = 200) -> list[dict[str, Any]]:
    lines = CORPUS.read_text(encoding="utf-8").splitlines()[:n]
    return [json.loads(line) for line in lines]


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app("math_equal", max_body_bytes=20_000)) as c:
        yield c


# ---------------------------------------------------------------- the app, in process


def test_health(client):
    r = client.get("/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "reward": "math_equal"}


def test_get_reward_equals_math_equal(client):
    rows = _corpus(40)
    prompts = [f"Question {i}: solve it.\n" for i in range(len(rows))]
    body = {
        "query": [p + r["response"] for p, r in zip(prompts, rows, strict=True)],
        "prompts": prompts,
        "labels": [r["answer"] for r in rows],
    }
    r = client.post("/get_reward", json=body)
    assert r.status_code == 200, r.text
    got = r.json()
    scores, status = math_equal(
        [r["response"] for r in rows], [r["answer"] for r in rows], with_status=True
    )
    assert got["rewards"] == scores.tolist()
    assert got["scores"] == scores.tolist()
    assert got["extra_logs"] == {"math_status": status.tolist()}
    assert 0 < sum(got["rewards"]) < len(rows)  # the corpus has both verdicts


def test_get_reward_prompt_is_cut_only_as_a_prefix(client):
    # the prompt shows a boxed answer: cut off, it is not the response's answer; a query
    # that does not start with its prompt (a tokenizer round trip) is scored whole
    prompt = "What is 3+4? Reply like \\boxed{7}.\n"
    queries = [prompt + "It is \\boxed{7}", prompt + "I do not know", "What is 3+4? \\boxed{7}"]
    r = client.post(
        "/get_reward", json={"query": queries, "prompts": [prompt] * 3, "labels": ["7", 7, "7"]}
    )
    assert r.json()["rewards"] == [1.0, 0.0, 1.0]
    assert r.json()["extra_logs"]["math_status"] == [1, 2, 1]
    # no prompts (the reference server reads only `query`): the whole query is the
    # response, and the prompt's box is taken for its answer
    r = client.post("/get_reward", json={"query": queries[1:2], "labels": ["7"]})
    assert r.json()["rewards"] == [1.0]


def test_v1_score(client):
    responses = ["\\boxed{0.5}", "\\boxed{3}", "no answer here", "\\boxed{1}"]
    references = ["\\frac{1}{2}", "4", "5", ""]
    r = client.post("/v1/score", json={"responses": responses, "references": references})
    assert r.status_code == 200, r.text
    scores, status = math_equal(responses, references, with_status=True)
    assert r.json() == {
        "reward": "math_equal",
        "scores": scores.tolist(),
        "status": [STATUS_NAMES[s] for s in status],
    }
    assert r.json()["status"] == ["correct", "incorrect", "no_answer", "gold_unparseable"]


def test_v1_score_other_reward(client):
    body = {"responses": ["a b", "c"], "references": ["a b", "d"], "reward": "exact_match"}
    r = client.post("/v1/score", json=body)
    assert r.json() == {
        "reward": "exact_match",
        "scores": exact_text_match(["a b", "c"], ["a b", "d"]).tolist(),
        "status": None,
    }


def test_empty_batch(client):
    r = client.post("/v1/score", json={"responses": [], "references": []})
    assert r.json() == {"reward": "math_equal", "scores": [], "status": []}


GOOD = {"query": ["p \\boxed{2}"], "prompts": ["p"], "labels": ["2"]}

BAD = [
    ("/get_reward", b"{bad", 400, "body: not valid JSON"),
    ("/get_reward", b"\xff\xfe\x00", 400, "body: not"),
    ("/get_reward", b"[1, 2]", 400, "body: expected a JSON object, got a list"),
    ("/get_reward", b'"x"', 400, "body: expected a JSON object, got a string"),
    ("/get_reward", b"[" * 3000 + b"]" * 3000, 400, "body"),
    ("/get_reward", {"prompts": ["p"], "labels": ["2"]}, 400, "query: missing"),
    ("/get_reward", {"query": "p 2", "labels": ["2"]}, 400, "query: expected a list of strings"),
    ("/get_reward", {"query": ["a", 3], "labels": ["2", "3"]}, 400, "query[1]: expected a string"),
    (
        "/get_reward",
        {"query": ["a", "b", "c"], "labels": ["1", "2"]},
        400,
        "labels: expected a list of 3 strings, got 2",
    ),
    (
        "/get_reward",
        {"query": ["a"], "prompts": ["a", "b"], "labels": ["1"]},
        400,
        "prompts: expected a list of 1 strings, got 2",
    ),
    ("/get_reward", {"query": ["a"], "labels": [True]}, 400, "labels[0]: expected a string"),
    (
        "/get_reward",
        {"query": ["a"], "labels": [None]},
        400,
        "labels[0]: expected a string, got null",
    ),
    ("/get_reward", {"query": ["a"], "labels": [{"x": 1}]}, 400, "got an object"),
    (
        "/v1/score",
        {"responses": ["a"], "references": ["1"], "reward": "math_equl"},
        400,
        "did you mean 'math_equal'",
    ),
    (
        "/v1/score",
        {"responses": ["a"], "references": ["1"], "reward": "regex_match"},
        400,
        "unknown reward 'regex_match'",
    ),
    (
        "/v1/score",
        {"responses": ["a"], "references": ["1"], "reward": 3},
        400,
        "reward: expected a reward name",
    ),
    ("/v1/score", {"responses": ["a"]}, 400, "references: missing"),
    ("/v1/score", {"responses": ["a"], "references": [float("nan")]}, 400, "body: not valid JSON"),
    ("/v1/score", b'{"responses": ["a"], "references": [NaN]}', 400, "references[0]"),
    ("/get_reward", b"x" * 30_000, 413, "over the limit of 20000"),
]


@pytest.mark.parametrize(("path", "body", "status", "error"), BAD)
def test_bad_request_names_the_field(client, caplog, path, body, status, error):
    with caplog.at_level(logging.WARNING, logger="orbiter.train.serve"):
        if isinstance(body, bytes):
            r = client.post(path, content=body, headers={"content-type": "application/json"})
        else:
            try:
                r = client.post(path, json=body)
            except ValueError:  # httpx refuses NaN itself: the raw form is the case below
                return
    assert r.status_code == status, r.text
    assert error in r.json()["error"]
    assert any(error in rec.getMessage() for rec in caplog.records)
    # and the server goes on serving
    assert client.post("/get_reward", json=GOOD).json()["rewards"] == [1.0]


def test_streamed_body_over_the_limit(client):
    # no Content-Length (chunked): refused while reading, not after
    def chunks() -> Iterator[bytes]:
        for _ in range(30):
            yield b" " * 1000

    r = client.post("/get_reward", content=chunks())
    assert r.status_code == 413
    assert "over the limit of 20000 bytes" in r.json()["error"]


def test_unknown_path_and_method_are_json(client):
    r = client.get("/get_reward")
    assert r.status_code == 405
    assert "GET /get_reward" in r.json()["error"]
    r = client.post("/nowhere", json={})
    assert r.status_code == 404
    assert r.json()["error"].startswith("POST /nowhere")


def test_bearer_token():
    with TestClient(create_app("math_equal", token="s3cret")) as c:
        r = c.post("/get_reward", json=GOOD)
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == "Bearer"
        assert "authorization" in r.json()["error"]
        r = c.post("/get_reward", json=GOOD, headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401
        r = c.post("/get_reward", json=GOOD, headers={"Authorization": "Bearer s3cret"})
        assert r.json()["rewards"] == [1.0]
        assert c.get("/health").status_code == 200  # a liveness probe needs no token


def test_create_app_refuses_unknown_reward():
    with pytest.raises(TrainerError, match="did you mean 'math_equal'"):
        create_app("math_eqaul")
    with pytest.raises(TrainerError, match="unknown reward 'length_penalty'"):
        create_app("length_penalty")  # token ids, not text: not servable


# ---------------------------------------------------------------- the command line


def test_cli_unknown_reward_is_one_line(capsys):
    assert main(["serve", "--reward", "word_f11"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("orbiter-train: error: --reward: unknown reward 'word_f11' (known: ")
    assert "did you mean 'word_f1'" in err
    assert "\n" not in err


def test_cli_port_in_use_is_one_line(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"orbiter-train: error: cannot listen on 127.0.0.1:{port}")
    assert "\n" not in err


@pytest.mark.parametrize(
    ("argv", "error"),
    [(["--port", "70000"], "must be <= 65535"), (["--max-body-bytes", "0"], "must be >= 1")],
)
def test_cli_bad_numbers(capsys, argv, error):
    with pytest.raises(SystemExit) as exc:
        main(["serve", *argv])
    assert exc.value.code == 2
    assert error in capsys.readouterr().err


# ---------------------------------------------------------------- the real server


class Server:
    """``orbiter-train serve --port 0`` in a subprocess; its stderr is drained by a thread
    (a full pipe would block the server's logging) and kept in :attr:`lines`."""

    def __init__(self, *args: str) -> None:
        cmd = [sys.executable, "-m", "orbiter.train", "serve", "--port", "0", *args]
        self.proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        found: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._drain, args=(found,), daemon=True).start()
        try:
            self.url = found.get(timeout=60)
        except queue.Empty:
            self.proc.kill()
            raise AssertionError(f"the server did not start: {self.lines}") from None
        self.port = int(self.url.rsplit(":", 1)[1])

    def _drain(self, found: queue.Queue[str]) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)
            if line.startswith("orbiter-train serve: ") and " on http://" in line:
                found.put(line.split(" on ", 1)[1].strip())

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    s = Server("--max-body-bytes", "100000")
    yield s
    if s.proc.poll() is None:
        s.proc.kill()
        s.proc.wait()


def test_real_server_plain_http(server):
    assert server.url.startswith("http://127.0.0.1:")  # the default bind
    rows = _corpus()
    responses = [r["response"] for r in rows]
    references = [r["answer"] for r in rows]
    scores, status = math_equal(responses, references, with_status=True)
    with httpx.Client(base_url=server.url) as c:
        assert c.get("/health").json()["status"] == "ok"
        got = c.post("/v1/score", json={"responses": responses, "references": references}).json()
        assert got["scores"] == scores.tolist()
        assert got["status"] == [STATUS_NAMES[s] for s in status]
        body = {"query": responses, "prompts": [""] * len(rows), "labels": references}
        assert c.post("/get_reward", json=body).json()["rewards"] == scores.tolist()


def test_real_server_concurrent_requests_each_get_their_answer(server):
    rows = _corpus()
    batches = [rows[i::8] for i in range(8)]

    def post(batch: list[dict[str, Any]]) -> list[float]:
        body = {
            "responses": [r["response"] for r in batch],
            "references": [r["answer"] for r in batch],
        }
        return httpx.post(server.url + "/v1/score", json=body, timeout=60).json()["scores"]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(post, batches * 4))
    for batch, got in zip(batches * 4, results, strict=True):
        expected = math_equal([r["response"] for r in batch], [r["answer"] for r in batch])
        assert got == expected.tolist()


def test_real_server_scores_as_math_verify_judges(server):
    from tests.test_math_equal import math_verify

    cases = [  # (gold, response): cases math_equal and math-verify both judge
        ("\\frac{1}{2}", "So the answer is $\\boxed{0.5}$."),
        ("4", "The answer is \\boxed{5}."),
        ("3\\sqrt{2}", "We get $\\boxed{3\\sqrt{2}}$."),
        ("-7", "Therefore $x = \\boxed{-7}$."),
        ("12", "It is \\boxed{21}."),
    ]
    theirs = [float(v) for v in math_verify(cases)]
    body = {"query": [r for _, r in cases], "labels": [g for g, _ in cases]}
    got = httpx.post(server.url + "/get_reward", json=body, timeout=60).json()
    assert got["rewards"] == theirs == [1.0, 0.0, 1.0, 1.0, 0.0]


def _openrlhf_executor() -> Any:
    if importlib.util.find_spec("openrlhf") is None:
        if os.environ.get("CI"):
            pytest.fail("openrlhf is not installed (scripts/test.sh installs it --no-deps)")
        pytest.skip("openrlhf is not installed (pip install --no-deps openrlhf)")
    pytest.importorskip("aiohttp")
    from openrlhf.utils.agent import SingleTurnAgentExecutor

    return SingleTurnAgentExecutor


def test_openrlhf_client(server):
    """OpenRLHF's own client: ``SingleTurnAgentExecutor._fetch_rewards_via_http``, which its
    rollout calls with ``[query], [prompt], [label]`` and which shards a batch across the
    reward URLs it is given (here the same server twice)."""
    executor_cls = _openrlhf_executor()
    rows = _corpus(30)
    prompts = [f"<|im_start|>user\nQuestion {i}<|im_end|>\n" for i in range(len(rows))]
    queries = [p + r["response"] for p, r in zip(prompts, rows, strict=True)]
    labels = [r["answer"] for r in rows]
    expected = math_equal([r["response"] for r in rows], labels).tolist()
    url = server.url + "/get_reward"

    one = executor_cls(url)
    (reply,) = asyncio.run(one._fetch_rewards_via_http(queries, prompts, labels))
    assert reply["rewards"] == expected
    assert reply["scores"] == expected
    assert set(reply["extra_logs"]) == {"math_status"}
    assert len(reply["extra_logs"]["math_status"]) == len(rows)

    two = executor_cls([url, url])
    shards = asyncio.run(two._fetch_rewards_via_http(queries, prompts, labels))
    assert [s for shard in shards for s in shard["rewards"]] == expected

    single = asyncio.run(one._fetch_rewards_via_http(queries[:1], prompts[:1], labels[:1]))
    assert single[0]["rewards"] == expected[:1]


def test_faults_among_good_requests(server):
    """Clients that hang up mid-body or mid-scoring, oversized and garbage bodies, sent
    between good requests: every good request gets its right answer."""
    rows = _corpus()
    good_body = {
        "responses": [r["response"] for r in rows],
        "references": [r["answer"] for r in rows],
    }
    expected = math_equal(good_body["responses"], good_body["references"]).tolist()
    host, port = "127.0.0.1", server.port

    def raw(data: bytes, *, read: bool) -> bytes:
        with socket.create_connection((host, port), timeout=30) as s:
            s.sendall(data)
            if not read:
                return b""  # hang up without waiting
            s.shutdown(socket.SHUT_WR)
            return b"".join(iter(lambda: s.recv(65536), b""))

    payload = json.dumps(good_body).encode()
    head = "POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"

    def fault(kind: int) -> str:
        if kind == 0:  # a body cut off: the client hangs up
            raw(
                (head + f"Content-Length: {len(payload)}\r\n\r\n").encode() + payload[:100],
                read=False,
            )
        elif kind == 1:  # a whole request, then gone before the answer
            raw((head + f"Content-Length: {len(payload)}\r\n\r\n").encode() + payload, read=False)
        elif kind == 2:
            return str(httpx.post(server.url + "/v1/score", content=b"x" * 200_000).status_code)
        elif kind == 3:
            return str(httpx.post(server.url + "/v1/score", content=b"\x00garbage{").status_code)
        else:  # not HTTP at all
            raw(b"\x16\x03\x01 hello tls\r\n\r\n", read=True)
        return "sent"

    def good(_: int) -> list[float]:
        return httpx.post(server.url + "/v1/score", json=good_body, timeout=60).json()["scores"]

    with ThreadPoolExecutor(8) as pool:
        goods = [pool.submit(good, i) for i in range(12)]
        faults = [pool.submit(fault, i % 5) for i in range(25)]
        outcomes = [f.result() for f in faults]
        answers = [g.result() for g in goods]
    assert all(a == expected for a in answers)
    assert outcomes.count("413") == 5 and outcomes.count("400") == 5
    time.sleep(0.2)
    assert httpx.get(server.url + "/health").json()["status"] == "ok"
    assert server.proc.poll() is None
    assert any("over the limit" in line for line in server.lines)  # logged


def test_sigterm_stops_cleanly():
    s = Server("--reward", "word_f1", "--token", "t")
    r = httpx.post(
        s.url + "/v1/score",
        json={"responses": ["a b"], "references": ["a b"]},
        headers={"Authorization": "Bearer t"},
    )
    assert r.json()["scores"] == [1.0]
    assert s.stop() == 0
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", s.port), timeout=2):
        pass
