"""The baseline of ``bench_serve.py``: a reward server built the way OpenRLHF's reference one
(``openrlhf/cli/serve_rm.py``) is, scoring with math-verify.

As there: FastAPI on uvicorn, one ``async def`` handler at ``POST /get_reward`` that reads the
JSON, scores in the handler itself (on the event loop) and answers ``{"rewards", "scores",
"extra_logs"}``. The scoring is what OpenRLHF's math ``reward_func`` examples do per item: the
response is the query after its prompt, judged by math-verify as its documentation shows,
``verify(parse("$" + label + "$"), parse(response))`` (``tests/math_verify_reference.py`` does
the same).

    python benches/openrlhf_reward_server.py --port 0

prints ``openrlhf-style server: math-verify on http://127.0.0.1:PORT`` to stderr once it
listens (the line ``orbiter-train serve`` prints too), and stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import socket
import sys
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from math_verify import parse, verify

app = FastAPI()


def _score(query: str, prompt: str, label: str) -> float:
    response = query[len(prompt) :] if query.startswith(prompt) else query
    return float(verify(parse("$" + label + "$"), parse(response)))


@app.post("/get_reward")
async def get_reward(request: Request) -> Any:
    data = await request.json()
    queries, prompts, labels = data.get("query"), data.get("prompts"), data.get("labels")
    rewards = [_score(q, p, str(lab)) for q, p, lab in zip(queries, prompts, labels, strict=True)]
    result = {"rewards": rewards, "scores": rewards, "extra_logs": {"dummy_scores": rewards}}
    return JSONResponse(result)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=5000)
    args = ap.parse_args()
    # as uvicorn.run(app, host=..., port=...) binds it (TCP_NODELAY set on each connection)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind((args.host, args.port))
    sock.listen(2048)
    url = f"http://{args.host}:{sock.getsockname()[1]}"
    print(f"openrlhf-style server: math-verify on {url}", file=sys.stderr, flush=True)
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
