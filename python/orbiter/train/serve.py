"""The reward server of ``orbiter-train serve``: an ASGI app scoring text rewards over HTTP.

Endpoints (JSON in, JSON out):

- ``POST /get_reward``: OpenRLHF's remote-reward protocol, as its reference server
  (``openrlhf/cli/serve_rm.py``) and client (``SingleTurnAgentExecutor._fetch_rewards_via_http``
  in ``openrlhf/utils/agent.py``) speak it: ``{"query": [...], "prompts": [...], "labels":
  [...]}`` → ``{"rewards": [...], "scores": [...], "extra_logs": {...}}``. OpenRLHF's
  ``query[i]`` is the prompt and the response decoded together, so the response scored is
  ``query[i][len(prompts[i]):]`` when ``query[i]`` starts with ``prompts[i]``, else the whole
  query (a tokenizer round trip can change the prompt's text; the final answer is read from
  the end either way). ``rewards`` and ``scores`` are the same scores (OpenRLHF trains on the
  first and filters on the second); for ``math_equal``, ``extra_logs["math_status"]`` holds
  each item's :class:`~orbiter.train.rewards.MathStatus` code, numbers, as OpenRLHF turns
  every ``extra_logs`` value into a tensor.
- ``POST /v1/score``: ours, ``{"responses": [...], "references": [...], "reward":
  "math_equal"}`` (``reward`` optional: the server's) → ``{"reward": name, "scores": [...],
  "status": [...]}``, ``status`` the names of :class:`~orbiter.train.rewards.MathStatus`
  (``"correct"``, ``"incorrect"``, ``"no_answer"``, ``"gold_unparseable"``) for
  ``math_equal``, ``null`` for the other rewards.
- ``GET /health``: ``{"status": "ok", "reward": name}`` (no token needed: a liveness probe).

References and labels may be JSON numbers (``42`` is the gold ``"42"``).

Scoring runs in the Rust core, which releases the GIL, in a worker thread
(:func:`anyio.to_thread.run_sync`), so the event loop keeps reading requests and concurrent
batches are scored at the same time.

Safe by default: :func:`serve` binds 127.0.0.1; with a token, every request but ``/health``
needs ``Authorization: Bearer TOKEN`` (401 otherwise); a body over ``max_body_bytes`` is
refused with 413 before it is read whole; malformed JSON, a wrong type or mismatched lengths
are a 400 ``{"error": "labels: expected a list of 3 strings, got 2"}`` naming the field, logged
through :mod:`logging`, and the server goes on serving; SIGTERM (and Ctrl-C) shut it down
gracefully, letting requests in flight finish, and :func:`serve` returns.

The stack is Starlette on uvicorn: small, typed, well kept, and what FastAPI itself sits on.
Four JSON endpoints whose bodies are checked by hand (to name the field and index in each
error) need no pydantic models or dependency injection, so FastAPI would add only weight.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import signal
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any

import anyio.to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from orbiter.train.errors import TrainerError
from orbiter.train.rewards import MathStatus, math_equal
from orbiter.train.rewards.registry import TEXT_REWARDS, lookup, text_reward

__all__ = ["DEFAULT_MAX_BODY_BYTES", "create_app", "serve"]

logger = logging.getLogger("orbiter.train.serve")

DEFAULT_MAX_BODY_BYTES = 16 * 2**20
"""The default request size limit: 16 MiB, some thousands of long responses."""

STATUS_NAMES: tuple[str, ...] = tuple(s.name.lower() for s in MathStatus)
"""``STATUS_NAMES[code]``: the name ``/v1/score`` gives a :class:`MathStatus` code."""


class RequestError(Exception):
    """A request refused with *status* and a JSON ``{"error": message}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Scored:
    """One batch's scores, and each item's :class:`MathStatus` code (``None`` for rewards
    other than ``math_equal``)."""

    scores: list[float]
    status: list[int] | None


def score_batch(reward: str, responses: list[str], references: list[str]) -> Scored:
    """Score *responses* against *references* with the text reward *reward* (in the core);
    an empty batch is an empty answer (the core refuses to score none)."""
    if not responses:
        return Scored([], [] if reward == "math_equal" else None)
    if reward == "math_equal":
        scores, status = math_equal(responses, references, with_status=True)
        return Scored(scores.tolist(), status.tolist())
    return Scored([float(s) for s in text_reward(reward)(responses, references)], None)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object"


def _texts(body: dict[str, Any], field: str, n: int | None, *, numbers: bool = False) -> list[str]:
    """``body[field]`` checked to be a list of strings (of *n* of them when given); with
    *numbers*, JSON numbers are taken as their text (``42`` → ``"42"``)."""
    if field not in body:
        raise RequestError(400, f"{field}: missing (expected a list of strings)")
    value = body[field]
    if not isinstance(value, list):
        raise RequestError(400, f"{field}: expected a list of strings, got {_json_type(value)}")
    if n is not None and len(value) != n:
        raise RequestError(400, f"{field}: expected a list of {n} strings, got {len(value)}")
    out: list[str] = []
    for i, item in enumerate(value):
        if isinstance(item, str):
            out.append(item)
        elif numbers and isinstance(item, int) and not isinstance(item, bool):
            out.append(str(item))
        elif numbers and isinstance(item, float) and math.isfinite(item):
            out.append(repr(item))
        else:
            raise RequestError(400, f"{field}[{i}]: expected a string, got {_json_type(item)}")
    return out


async def _body(request: Request, max_bytes: int) -> dict[str, Any]:
    """The request's JSON object, read up to *max_bytes* (413 past them, 400 if malformed)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise RequestError(413, f"body: {declared} bytes, over the limit of {max_bytes}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise RequestError(413, f"body: over the limit of {max_bytes} bytes")
        chunks.append(chunk)
    try:
        body = json.loads(b"".join(chunks))
    except UnicodeDecodeError:
        raise RequestError(400, "body: not UTF-8 JSON") from None
    except RecursionError:
        raise RequestError(400, "body: nested too deeply") from None
    except ValueError as err:  # JSONDecodeError, or an integer of too many digits
        raise RequestError(400, f"body: not valid JSON: {err}") from None
    if not isinstance(body, dict):
        raise RequestError(400, f"body: expected a JSON object, got {_json_type(body)}")
    return body


def create_app(
    reward: str = "math_equal",
    *,
    token: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> Starlette:
    """The ASGI app serving *reward* (one of
    :data:`~orbiter.train.rewards.registry.TEXT_REWARDS`).

    Raises:
        TrainerValueError: an unknown reward, with the choices and the closest.
    """
    lookup(reward, "--reward", TEXT_REWARDS)
    if max_body_bytes < 1:
        raise TrainerError(f"max_body_bytes: must be >= 1, got {max_body_bytes}")
    expected = f"Bearer {token}".encode() if token else None

    async def checked(request: Request) -> dict[str, Any]:
        if expected is not None:
            given = request.headers.get("authorization", "").encode()
            if not hmac.compare_digest(given, expected):
                raise RequestError(401, "authorization: expected 'Bearer <token>'")
        return await _body(request, max_body_bytes)

    async def get_reward(request: Request) -> JSONResponse:
        body = await checked(request)
        queries = _texts(body, "query", None)
        labels = _texts(body, "labels", len(queries), numbers=True)
        if body.get("prompts") is None:
            responses = queries
        else:
            prompts = _texts(body, "prompts", len(queries))
            responses = [
                q[len(p) :] if q.startswith(p) else q for q, p in zip(queries, prompts, strict=True)
            ]
        scored = await anyio.to_thread.run_sync(score_batch, reward, responses, labels)
        logs = {} if scored.status is None else {"math_status": scored.status}
        return JSONResponse({"rewards": scored.scores, "scores": scored.scores, "extra_logs": logs})

    async def score(request: Request) -> JSONResponse:
        body = await checked(request)
        name = body.get("reward", reward)
        if not isinstance(name, str):
            raise RequestError(400, f"reward: expected a reward name, got {_json_type(name)}")
        try:
            lookup(name, "reward", TEXT_REWARDS)
        except TrainerError as err:
            raise RequestError(400, str(err)) from None
        responses = _texts(body, "responses", None)
        references = _texts(body, "references", len(responses), numbers=True)
        scored = await anyio.to_thread.run_sync(score_batch, name, responses, references)
        status = None if scored.status is None else [STATUS_NAMES[s] for s in scored.status]
        return JSONResponse({"reward": name, "scores": scored.scores, "status": status})

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "reward": reward})

    async def refused(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestError)
        client = request.client.host if request.client else "?"
        path = request.url.path
        logger.warning(
            "%s %s from %s: %d %s", request.method, path, client, exc.status, exc.message
        )
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse({"error": exc.message}, status_code=exc.status, headers=headers)

    async def not_routed(request: Request, exc: Exception) -> JSONResponse:
        # Starlette's own 404 and 405 (unknown path, wrong method), as JSON like ours
        assert isinstance(exc, HTTPException)
        logger.warning("%s %s: %d", request.method, request.url.path, exc.status_code)
        error = f"{request.method} {request.url.path}: {exc.detail}"
        return JSONResponse({"error": error}, status_code=exc.status_code, headers=exc.headers)

    async def failed(request: Request, exc: Exception) -> JSONResponse:
        logger.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return JSONResponse({"error": f"internal error: {exc!r}"}, status_code=500)

    return Starlette(
        routes=[
            Route("/get_reward", get_reward, methods=["POST"]),
            Route("/v1/score", score, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
        ],
        exception_handlers={RequestError: refused, HTTPException: not_routed, Exception: failed},
    )


def serve(
    reward: str = "math_equal",
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    token: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    access_log: bool = False,
    ready: Callable[[str], None] | None = None,
) -> None:
    """Serve *reward* on *host*:*port* (``0``: a free port) until SIGTERM or SIGINT.

    The socket is bound here, before uvicorn starts, so that a port in use is a
    :class:`TrainerError` for the caller rather than uvicorn's exit. *ready* gets the base URL
    (``http://127.0.0.1:PORT``) once the socket listens.
    """
    import uvicorn

    app = create_app(reward, token=token, max_body_bytes=max_body_bytes)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP,
    # and without it Nagle's algorithm holds each keep-alive answer back ~40 ms
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise TrainerError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    config = uvicorn.Config(app, log_config=None, access_log=access_log, lifespan="off")
    server = uvicorn.Server(config)
    # uvicorn re-raises the signal that stopped it once it has shut down; a handler of
    # our own takes it, so that a graceful stop ends the command with status 0
    stopped: list[int] = []

    def note(sig: int, frame: FrameType | None) -> None:
        stopped.append(sig)

    # signals reach only the main thread (uvicorn skips its handlers elsewhere too)
    main = threading.current_thread() is threading.main_thread()
    signals = (signal.SIGTERM, signal.SIGINT) if main else ()
    previous = {sig: signal.signal(sig, note) for sig in signals}
    try:
        if ready is not None:
            ready(f"http://{shown}:{bound}")
        server.run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()
    if stopped:
        logger.info("stopped by %s", signal.Signals(stopped[0]).name)
    if not server.started:
        raise TrainerError(f"the server on {host}:{bound} did not start (see the log above)")
