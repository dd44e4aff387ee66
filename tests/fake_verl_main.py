"""Stand-in for ``python -m verl.trainer.main_ppo`` in the VeRLTrainer launch tests.

It takes the same Hydra ``key=value`` overrides, prints log lines the way verl does
(noise, then one console-logger metric line per step, under Ray's ``(TaskRunner pid=..)``
prefix) and exits with a chosen status. Behaviour is set by environment variables:

    FAKE_VERL_ARGS     write the received overrides there, as JSON
    FAKE_VERL_STEPS    number of training steps to log (default 3)
    FAKE_VERL_NOISE    lines of noise to print first (default 5)
    FAKE_VERL_EXIT     exit status (default 0)
    FAKE_VERL_PIDFILE  write this process's pid there
    FAKE_VERL_SLEEP    seconds to sleep before exiting (for cancellation)
    FAKE_VERL_IGNORE_TERM  when "1", ignore SIGTERM (only SIGKILL stops it)
    FAKE_VERL_SCORE    when "1", score the training file's ground truths with the reward
                       module named by custom_reward_function.path/.name, as verl would
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import sys
import time


def main() -> int:
    if os.environ.get("FAKE_VERL_IGNORE_TERM") == "1":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    overrides = dict(arg.split("=", 1) for arg in sys.argv[1:])
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

        spec = importlib.util.spec_from_file_location(
            "reward", overrides["custom_reward_function.path"]
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        fn = getattr(module, overrides["custom_reward_function.name"])
        rows = pq.read_table(overrides["data.train_files"]).to_pylist()
        scores = [
            fn(
                r["data_source"],
                r["reward_model"]["ground_truth"],
                r["reward_model"]["ground_truth"],
                r["extra_info"],
            )
            for r in rows
        ]
        score_mean = sum(scores) / len(scores)
    val_only = overrides.get("trainer.val_only") == "true"
    print(f"{prefix} step:0 - val-core/orbiter/reward/mean@1:np.float64(0.25)", flush=True)
    if not val_only:
        for step in range(1, int(os.environ.get("FAKE_VERL_STEPS", "3")) + 1):
            score = score_mean if score_mean is not None else step / 10
            print(
                f"{prefix} step:{step} - actor/pg_loss:{-step / 100} - critic/score/mean:{score}"
                f" - response_length/mean:{100 + step} - timing_s/step:0.5",
                flush=True,
            )
    time.sleep(float(os.environ.get("FAKE_VERL_SLEEP", "0")))
    status = int(os.environ.get("FAKE_VERL_EXIT", "0"))
    if status:
        print("Traceback (most recent call last):\nRuntimeError: CUDA out of memory", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
