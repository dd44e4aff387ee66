"""Stand-in for ``python -m verl.trainer.main_ppo`` in the VeRLTrainer launch tests.

It reads the same Hydra overrides with Hydra's own override parser into an OmegaConf
config, and does what verl 0.9 does with the parts VeRLTrainer relies on:

* metrics: with ``"file"`` in ``trainer.logger`` it writes one ``{"step", "data"}`` JSON
  line per step where verl's ``FileLogger`` would (``verl/utils/tracking.py``:
  ``$VERL_FILE_LOGGER_PATH``, else
  ``$VERL_FILE_LOGGER_ROOT/<project_name>/<experiment_name>.jsonl``, root ``.``; NaN as
  ``null``, as orjson writes it); with ``"console"`` it prints the same steps as verl's
  console logger does (``verl/utils/logger/aggregate_logger.py``), under Ray's
  ``(TaskRunner pid=..)`` prefix, after some noise;
* the reward: it reads ``reward.custom_reward_function`` (else the top-level section) and
  loads ``path``/``name`` by file path, wrapped with ``reward_kwargs`` as verl's
  ``get_custom_reward_fn`` does (``verl/trainer/ppo/reward.py``,
  ``verl/utils/import_utils.py``: ``load_module``), then calls it with keywords per row as
  verl's naive reward manager does (``verl/experimental/reward_loop/reward_manager/naive.py``).

Behaviour is set by environment variables:

    FAKE_VERL_ARGS     write the received overrides there, as JSON
    FAKE_VERL_STEPS    number of training steps to log (default 3)
    FAKE_VERL_NOISE    lines of noise to print first (default 5)
    FAKE_VERL_EXIT     exit status (default 0)
    FAKE_VERL_PIDFILE  write this process's pid there
    FAKE_VERL_SLEEP    seconds to sleep before exiting (for cancellation)
    FAKE_VERL_IGNORE_TERM  when "1", ignore SIGTERM (only SIGKILL stops it)
    FAKE_VERL_SCORE    when "1", score the training file's ground truths against themselves
                       with the custom reward function; the mean is critic/score/mean
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import pprint
import signal
import sys
import time
from functools import partial
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf


def parse_config(argv: list[str]) -> DictConfig:
    """The overrides as a config: Hydra's parser reads each, OmegaConf nests the keys."""
    config = OmegaConf.create()
    for override in OverridesParser.create().parse_overrides(argv):
        OmegaConf.update(config, override.key_or_group, override.value(), force_add=True)
    return config


def custom_reward_fn(config: DictConfig) -> Any:
    """verl's ``get_custom_reward_fn``, over either section of the reward config."""
    reward = config.get("reward") or {}
    fn_config = reward.get("custom_reward_function") or config.get("custom_reward_function")
    path = fn_config.get("path")
    spec = importlib.util.spec_from_file_location(
        f"custom_module_{hash(os.path.abspath(path))}", path
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    raw_fn = getattr(module, fn_config.get("name"))
    reward_kwargs = dict(fn_config.get("reward_kwargs", {}))

    def call_with_kwargs(extra: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        return raw_fn(*args, **{**kwargs, **extra})

    return partial(call_with_kwargs, reward_kwargs)


def file_logger_path(config: DictConfig) -> str:
    path = os.getenv("VERL_FILE_LOGGER_PATH")
    if path is None:
        root = os.path.expanduser(os.getenv("VERL_FILE_LOGGER_ROOT", "."))
        directory = os.path.join(root, config.trainer.project_name)
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, f"{config.trainer.experiment_name}.jsonl")
    return path


def main() -> int:
    if os.environ.get("FAKE_VERL_IGNORE_TERM") == "1":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    config = parse_config(sys.argv[1:])
    if path := os.environ.get("FAKE_VERL_ARGS"):
        with open(path, "w", encoding="utf-8") as f:
            json.dump(sys.argv[1:], f)
    if path := os.environ.get("FAKE_VERL_PIDFILE"):
        with open(path, "w", encoding="utf-8") as f:
            f.write(str(os.getpid()))
    prefix = f"(TaskRunner pid={os.getpid()})"
    for i in range(int(os.environ.get("FAKE_VERL_NOISE", "5"))):
        print(f"{prefix} INFO noise line {i}", flush=True)
    print("WARNING: a line on stderr", file=sys.stderr, flush=True)
    score_mean = None
    if os.environ.get("FAKE_VERL_SCORE") == "1":
        import pyarrow.parquet as pq

        compute_score = custom_reward_fn(config)
        rows = pq.read_table(config.data.train_files).to_pylist()
        scores = [
            compute_score(
                data_source=r["data_source"],
                solution_str=r["reward_model"]["ground_truth"],
                ground_truth=r["reward_model"]["ground_truth"],
                extra_info=r["extra_info"],
            )
            for r in rows
        ]
        # as verl's naive reward manager: a dict result is rewarded by its "score"
        values = [s["score"] if isinstance(s, dict) else s for s in scores]
        score_mean = sum(values) / len(values)
    loggers = list(config.trainer.logger)
    file = open(file_logger_path(config), "wb", buffering=0) if "file" in loggers else None  # noqa: SIM115

    def log(data: dict[str, Any], step: int) -> None:
        if "console" in loggers:
            parts = [f"{k}:{pprint.pformat(v)}" for k, v in data.items()]
            print(f"{prefix} " + " - ".join([f"step:{step}", *parts]), flush=True)
        if file is not None:
            finite = {k: v if math.isfinite(v) else None for k, v in data.items()}
            file.write(json.dumps({"step": step, "data": finite}).encode() + b"\n")

    log({"val-core/orbiter/reward/mean@1": 0.25, "val-aux/nan": math.nan}, 0)
    if not config.trainer.get("val_only", False):
        for step in range(1, int(os.environ.get("FAKE_VERL_STEPS", "3")) + 1):
            score = score_mean if score_mean is not None else step / 10
            data = {
                "actor/pg_loss": -step / 100,
                "critic/score/mean": score,
                "response_length/mean": 100 + step,
                "timing_s/step": 0.5,
            }
            log(data, step)
    if file is not None:
        file.close()
    time.sleep(float(os.environ.get("FAKE_VERL_SLEEP", "0")))
    status = int(os.environ.get("FAKE_VERL_EXIT", "0"))
    if status:
        print("Traceback (most recent call last):\nRuntimeError: CUDA out of memory", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
