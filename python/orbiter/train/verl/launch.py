"""Launching ``verl.trainer.main_ppo``: Hydra overrides, the subprocess, its metrics.

verl logs each step with its console logger as one line::

    step:3 - actor/pg_loss:-0.012 - critic/score/mean:0.25 - val-core/orbiter/reward/mean@1:0.5

(under Ray the line may carry a ``(TaskRunner pid=...)`` prefix). :func:`parse_metric_line`
reads such lines; :func:`run_streaming` runs the command with asyncio, streams every line
to ``logging`` and a log file, and collects the metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import functools
import importlib
import importlib.util
import logging
import math
import os
import re
import shlex
import signal
import sys
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orbiter.train.errors import TrainerValueError
from orbiter.train.verl.config import VeRLAlgorithm, VeRLConfig

__all__ = [
    "DEFAULT_ENTRY",
    "RunResult",
    "build_command",
    "build_overrides",
    "hydra_value",
    "parse_metric_line",
    "run_streaming",
    "summarize",
]

logger = logging.getLogger("orbiter.train.verl")

DEFAULT_ENTRY = "verl.trainer.main_ppo"
TAIL_LINES = 40

_SAFE = re.compile(r"[A-Za-z0-9_./~@+-][A-Za-z0-9_./~@+:-]*")
_STEP = re.compile(r"(?:^|\s|\))step:(\d+)((?: - [^\n]*)?)$")
_NUMBER = re.compile(r"^(?:np\.\w+\()?([-+0-9.eEinfaINF]+)\)?$")


def hydra_value(value: Any) -> str:
    """*value* written in Hydra's override grammar (strings quoted when they need it)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ",".join(hydra_value(v) for v in value) + "]"
    text = str(value)
    if _SAFE.fullmatch(text) and text.lower() not in ("null", "true", "false"):
        return text
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def build_overrides(
    config: VeRLConfig,
    *,
    train_file: Path,
    val_file: Path,
    reward_path: Path,
    reward_name: str = "compute_score",
    output_dir: Path,
    val_only: bool = False,
) -> list[str]:
    """Hydra overrides for ``verl.trainer.main_ppo`` (see :class:`VeRLConfig` for the map).

    ``extra["verl_overrides"]`` is appended verbatim, so it wins over every value here.
    """
    extra = config.extra
    algorithm = VeRLAlgorithm(config.algorithm)
    micro = int(extra.get("micro_batch_size_per_gpu", 1))
    model = config.model_name
    o: dict[str, Any] = {
        "algorithm.adv_estimator": algorithm.adv_estimator,
        "algorithm.gamma": float(config.gamma),
        "algorithm.lam": float(config.lam),
        "data.train_files": str(train_file),
        "data.val_files": str(val_file),
        "data.max_prompt_length": config.max_prompt_length,
        "data.max_response_length": config.max_response_length,
        "data.train_batch_size": config.rollout_batch_size,
        "actor_rollout_ref.model.path": model,
        "actor_rollout_ref.actor.optim.lr": float(config.learning_rate),
        "actor_rollout_ref.actor.ppo_mini_batch_size": config.ppo_mini_batch_size,
        "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu": micro,
        "actor_rollout_ref.actor.ppo_epochs": config.ppo_epochs,
        # verl >= 0.4 reads the two-sided bounds when set, and its actor.yaml sets them.
        "actor_rollout_ref.actor.clip_ratio": float(config.clip_range),
        "actor_rollout_ref.actor.clip_ratio_low": float(config.clip_range),
        "actor_rollout_ref.actor.clip_ratio_high": float(config.clip_range),
        "actor_rollout_ref.rollout.name": extra.get("rollout_engine", "vllm"),
        "actor_rollout_ref.rollout.tensor_model_parallel_size": int(extra.get("rollout_tp", 1)),
        "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu": micro,
        "actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu": micro,
    }
    if config.tokenizer_name:
        o["actor_rollout_ref.model.tokenizer_path"] = config.tokenizer_name
    if algorithm.is_group or "rollout_n" in extra:
        o["actor_rollout_ref.rollout.n"] = int(extra.get("rollout_n", 5))
    kl = float(config.kl_coeff)
    in_loss = algorithm is not VeRLAlgorithm.PPO
    o["actor_rollout_ref.actor.use_kl_loss"] = in_loss and kl > 0
    o["algorithm.use_kl_in_reward"] = (not in_loss) and kl > 0
    if in_loss:
        o["actor_rollout_ref.actor.kl_loss_coef"] = kl
    else:
        o["algorithm.kl_ctrl.kl_coef"] = kl
    if algorithm is VeRLAlgorithm.PPO:
        o["critic.model.path"] = model
        if config.tokenizer_name:
            o["critic.model.tokenizer_path"] = config.tokenizer_name
        o["critic.optim.lr"] = float(extra.get("critic_lr", 1e-5))
        o["critic.ppo_micro_batch_size_per_gpu"] = micro
    o["custom_reward_function.path"] = str(reward_path)
    o["custom_reward_function.name"] = reward_name
    o["trainer.total_epochs"] = config.epochs
    o["trainer.default_local_dir"] = str(output_dir / "checkpoints")
    o["trainer.n_gpus_per_node"] = int(extra.get("n_gpus_per_node", 1))
    o["trainer.nnodes"] = int(extra.get("nnodes", 1))
    o["trainer.logger"] = ["console"]
    o["trainer.project_name"] = extra.get("project_name", "orbiter-train")
    default_name = f"{algorithm.value}-{Path(model).name or 'model'}"
    o["trainer.experiment_name"] = extra.get("experiment_name", default_name)
    if val_only:
        o["trainer.val_before_train"] = True
        o["trainer.val_only"] = True
    overrides = [f"{key}={hydra_value(value)}" for key, value in o.items()]
    user = extra.get("verl_overrides", [])
    if isinstance(user, str):
        user = [user]
    overrides.extend(str(item) for item in user)
    return overrides


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for key, value in tree.items():
        keys.add(prefix + str(key))
        if isinstance(value, Mapping):
            keys |= _flatten(value, f"{prefix}{key}.")
    return keys


@functools.lru_cache(maxsize=1)
def verl_config_keys() -> frozenset[str] | None:
    """Every key of the installed verl's PPO trainer config (its shipped
    ``trainer/config/_generated_ppo_trainer.yaml``, flattened with dots), or ``None`` when
    verl or PyYAML is not importable here (the launch then goes ahead unchecked)."""
    spec = importlib.util.find_spec("verl")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "trainer" / "config" / "_generated_ppo_trainer.yaml"
    try:
        yaml = importlib.import_module("yaml")  # a dependency of verl, not of this package
    except ImportError:
        return None
    if not path.is_file():
        return None
    tree = yaml.safe_load(path.read_text(encoding="utf-8"))
    return frozenset(_flatten(tree)) if isinstance(tree, Mapping) else None


def check_override_keys(overrides: Sequence[str]) -> None:
    """Raise :class:`TrainerValueError` for an override whose key verl's config lacks (a
    typo would otherwise surface only after Ray and the workers have started). Keys with
    Hydra's ``+`` (add) or ``~`` (delete) prefix are left to Hydra."""
    known = verl_config_keys()
    if known is None:
        logger.debug("verl's config is not readable here; overrides are not checked")
        return
    for override in overrides:
        key = override.split("=", 1)[0]
        if key.startswith(("+", "~")) or key in known:
            continue
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else " (prefix it with '+' to add a key)"
        raise TrainerValueError(
            f"verl override {override!r}: {key!r} is not in verl's config{hint}"
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


def _number(text: str) -> float | None:
    match = _NUMBER.match(text.strip())
    if match is None:
        return None
    try:
        return float(match.group(1))
    except ValueError:
        return None


def parse_metric_line(line: str) -> tuple[int, dict[str, float]] | None:
    """``(step, {key: value})`` for one of verl's console metric lines, else ``None``.

    Values that are not numbers are skipped (verl's console logger prints numbers only).
    """
    match = _STEP.search(line.rstrip())
    if match is None:
        return None
    metrics: dict[str, float] = {}
    for part in match.group(2).split(" - ")[1:]:
        key, sep, raw = part.rpartition(":")
        if not sep or not key:
            continue
        value = _number(raw)
        if value is not None:
            metrics[key.strip()] = value
    return int(match.group(1)), metrics


@dataclass(slots=True)
class RunResult:
    """What a verl run left: exit status, per-step metrics in order, the log's last lines."""

    returncode: int
    steps: list[tuple[int, dict[str, float]]] = field(default_factory=list)
    tail: list[str] = field(default_factory=list)


def summarize(steps: Sequence[tuple[int, Mapping[str, float]]]) -> dict[str, Any]:
    """``loss``, ``accuracy``, ``steps`` and ``extra`` (the last metrics) from parsed lines.

    ``loss`` is the last ``actor/pg_loss``; ``accuracy`` the last ``critic/score/mean``
    (the mean training reward) or, when there is none (validation-only runs), the mean of
    the last ``val-core/*`` metrics; ``steps`` the last step number.
    """
    loss = accuracy = math.nan
    last_step = 0
    merged: dict[str, float] = {}
    for step, metrics in steps:
        last_step = max(last_step, step)
        merged.update(metrics)
        if "actor/pg_loss" in metrics:
            loss = metrics["actor/pg_loss"]
        if "critic/score/mean" in metrics:
            accuracy = metrics["critic/score/mean"]
    if math.isnan(accuracy):
        val = [v for k, v in merged.items() if k.startswith("val-core/")]
        if val:
            accuracy = sum(val) / len(val)
    return {
        "loss": 0.0 if math.isnan(loss) else loss,
        "accuracy": 0.0 if math.isnan(accuracy) else accuracy,
        "steps": last_step,
        "extra": merged,
    }


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
                parsed = parse_metric_line(line)
                if parsed is not None:
                    result.steps.append(parsed)
        result.returncode = await process.wait()
    except BaseException:
        await _stop(process, kill_grace_s)
        raise
    finally:
        result.tail = list(tail)
    return result
