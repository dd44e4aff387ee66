"""VeRLTrainer: hand RL fine-tuning to verl (Ray) with the original package's API."""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from orbiter.train.errors import TrainerTypeError, TrainerValueError
from orbiter.train.integrations.verl import compute_score_batch, resolve
from orbiter.train.records import Columns, require_references
from orbiter.train.trainer import TrainConfig, Trainer, TrainerError, TrainMetrics
from orbiter.train.verl.config import VeRLConfig
from orbiter.train.verl.dataset import (
    Record,
    load_records,
    to_rows,
    write_parquet,
)
from orbiter.train.verl.metrics import FILE_LOGGER_PATH_ENV, read_metrics, summarize
from orbiter.train.verl.overrides import build_overrides, check_override_keys
from orbiter.train.verl.process import (
    DEFAULT_ENTRY,
    build_command,
    check_verl_install,
    run_streaming,
)
from orbiter.train.verl.reward import RewardPlan, plan_reward
from orbiter.train.verl.tools import ToolPlan, plan_tools

__all__ = ["VeRLTrainer"]

logger = logging.getLogger("orbiter.train.verl")

DEFAULT_OUTPUT_DIR = "orbiter-verl-output"


class VeRLTrainer(Trainer):
    """Trainer that runs RL fine-tuning as a verl job (``verl.trainer.main_ppo`` on Ray).

    Lifecycle: ``check_agent``, ``check_dataset``, ``check_reward``, ``check_config`` (any
    order), ``mark_validated()``, ``await train()``, ``await evaluate(...)``.

    ``train()`` first checks that verl can run here (verl, the packages its metadata
    requires and the rollout engine, see
    :func:`~orbiter.train.verl.process.check_verl_install`; skipped for a dry run or a
    custom ``extra["verl_entry"]``) and that every record has a reference answer when the
    reward needs one; only then does it write, under ``config.output_dir`` (default
    ``./orbiter-verl-output``):
    ``data/train.parquet`` and ``data/test.parquet`` in verl's RL schema (without test
    data the training file doubles as the validation file), ``verl.log`` (the whole log of
    the run), ``verl_metrics.jsonl`` (verl's ``file`` logger), ``checkpoints/`` and, when the
    agent has tools (see :meth:`check_agent`), ``tools.yaml`` (verl's tool config). It then
    runs ``python -m verl.trainer.main_ppo <Hydra overrides>`` as a subprocess, with verl's
    ``custom_reward_function`` pointed at :mod:`orbiter.train.integrations.verl` (orbiter's core
    or the user's function, chosen by ``reward_kwargs``), streams its log to the
    ``orbiter.train.verl`` logger, and returns the metrics verl logged:
    ``loss`` = last ``actor/pg_loss``, ``accuracy`` = last ``critic/score/mean`` (mean
    training reward), ``steps`` = last step, ``extra`` = the last value of every metric
    plus ``command`` and ``log``. A non-zero exit status leaves the trainer FAILED and
    raises :class:`TrainerError` with the log's last 40 lines; cancelling ``train()``
    stops the verl process group (SIGTERM, then SIGKILL after ``extra["kill_grace_s"]``,
    default 10 s) and leaves it FAILED.

    ``extra`` keys read: see :data:`orbiter.train.verl.config.EXTRA_KEYS`. With
    ``extra["dry_run"] = True`` the files are written and the command is printed and
    returned as ``TrainMetrics(extra={"command": [...], "overrides": [...]})`` without
    running it (with tools, the tool config is printed first and its path is
    ``extra["tool_config"]``); the trainer still goes TRAINING → COMPLETED.
    """

    def __init__(self, config: TrainConfig | None = None) -> None:
        super().__init__(VeRLConfig.from_train_config(config or VeRLConfig()))
        self._agent: Any = None
        self._agent_model = ""
        self._instructions = ""
        self._train_records: list[Record] = []
        self._test_records: list[Record] | None = None
        self._columns = Columns()
        self._reward_plan: RewardPlan = plan_reward(None)
        self._tool_plan = ToolPlan()
        self._command: list[str] = []

    @property
    def verl_config(self) -> VeRLConfig:
        """Typed access to the verl-specific config."""
        if not isinstance(self._config, VeRLConfig):
            raise TrainerError(f"Expected VeRLConfig, got {type(self._config).__name__}")
        return self._config

    @property
    def output_dir(self) -> Path:
        """Absolute directory for the data, reward module, log and checkpoints."""
        return Path(self.verl_config.output_dir or DEFAULT_OUTPUT_DIR).resolve()

    @property
    def model_name(self) -> str:
        """The model verl trains: ``config.model_name``, else the agent's model."""
        return self.verl_config.model_name or self._agent_model

    # -- validation -------------------------------------------------------------------

    def check_agent(
        self,
        agent: Any,
        *,
        tools: Sequence[Any] = (),
        environment: Any = None,
    ) -> None:
        """Accept a model path/name (``str``/``PathLike``) or an agent object, and the tools
        the policy may call.

        An agent object gives its model by ``.model_name`` (or ``.model``, a str), its
        system prompt by ``.instructions``, and its tools as TorchTrainer's
        :class:`~orbiter.train.torch.PolicyAgent` holds them: ``.tools`` (a list, or
        orbiter's dict of them), ``.environment`` and ``.tool_format``; without a model of
        its own, ``config.model_name`` must be set. *tools* are added to the agent's;
        *environment* is used when the agent has none.

        Tools are ``@tool`` functions, plain functions or orbiter-style tools (``name``,
        ``description``, ``parameters``, ``async execute(**kwargs)``); an environment is an
        :class:`~orbiter.train.agents.Environment` subclass (or a factory of instances):
        one per trajectory, ``reset(**record)``, its ``@tool`` methods as tools and its
        ``reward()`` added to the score. verl's workers import each by its module and name,
        so each must be defined at module level in an importable module. With any, verl's
        multi-turn tool agent loop runs (see :class:`~orbiter.train.verl.VeRLConfig` for
        the turn limits, :mod:`orbiter.train.verl.tool_adapter` for how each call runs).

        Raises:
            TrainerError: If no model can be found, an attribute has the wrong type, or a
                tool is malformed or cannot be imported by verl's workers (naming it).
        """
        if agent is None:
            raise TrainerValueError("VeRL training requires a non-None agent")
        own_tools: Any
        if isinstance(agent, str | os.PathLike):
            model, instructions = os.fspath(agent), ""
            own_tools, own_environment, tool_format = [], None, None
        else:
            model = getattr(agent, "model_name", None) or getattr(agent, "model", None) or ""
            instructions = getattr(agent, "instructions", None) or ""
            if not isinstance(model, str):
                raise TrainerTypeError(
                    "agent.model_name must be a str (verl loads the model by its path or hub "
                    f"name), got {type(model).__name__}"
                )
            if not isinstance(instructions, str):
                raise TrainerTypeError(
                    f"agent.instructions must be a str, got {type(instructions).__name__}"
                )
            own_tools = getattr(agent, "tools", None) or []
            if isinstance(own_tools, Mapping):
                own_tools = list(own_tools.values())
            if not isinstance(own_tools, Sequence | set | frozenset) or isinstance(own_tools, str):
                raise TrainerTypeError(
                    f"agent.tools must be a list of tools, got {type(own_tools).__name__}"
                )
            own_environment = getattr(agent, "environment", None)
            tool_format = getattr(agent, "tool_format", None)
        if not model and not self.verl_config.model_name:
            raise TrainerValueError(
                "agent: no model to train; pass a model path or name, an agent with "
                ".model_name, or set VeRLConfig.model_name"
            )
        if isinstance(tools, str) or not isinstance(tools, Sequence | set | frozenset):
            raise TrainerTypeError(f"tools must be a list of tools, got {type(tools).__name__}")
        plan = plan_tools(
            [*own_tools, *tools],
            own_environment if own_environment is not None else environment,
            tool_format,
        )
        self._agent = agent
        self._agent_model = model
        self._instructions = instructions
        self._tool_plan = plan

    def check_dataset(
        self,
        train_data: Any,
        test_data: Any | None = None,
        *,
        prompt_column: str | None = None,
        answer_column: str | None = None,
    ) -> None:
        """Accept lists of ``{"input"|"prompt": ..., "answer"|"expected"|"output": ...}``
        dicts, or JSONL paths of them; *prompt_column* and *answer_column* name other keys
        (every record must have them, and :meth:`evaluate` maps its data alike). A prompt
        is text or a conversation (``[{"role": ..., "content": ...}, ...]``), written as
        the chat messages TorchTrainer renders (:mod:`orbiter.train.prompts`). The answer
        is optional here, as in the original package; ``train()`` and ``evaluate()``
        require it when the reward is a core one (they compare each response with it).

        Raises:
            TrainerError: naming the split, the record index and the key.
        """
        columns = Columns(prompt_column, answer_column)
        train = load_records(train_data, "train_data", columns)
        test = load_records(test_data, "test_data", columns) if test_data is not None else None
        self._columns, self._train_records, self._test_records = columns, train, test

    def check_reward(self, reward_fn: Any | None = None) -> None:
        """Accept ``None`` (the core's ``math_equal``), a core reward name, a
        :class:`RewardSpec`, or an importable callable ``fn(output, expected) -> float``.

        Raises:
            TrainerError: If the reward cannot be used, e.g. a lambda (verl's workers
                cannot import it: use ``RewardSpec(module_path, func_name)``).
        """
        self._reward_plan = plan_reward(reward_fn)

    def check_config(self, config: TrainConfig | dict[str, Any] | None = None) -> None:
        """Validate and merge configuration.

        A dict sets known fields and puts other keys in ``extra`` (a key close to a known
        one is rejected with "did you mean"); a ``VeRLConfig`` replaces the config; a plain
        ``TrainConfig`` sets the common fields and merges its ``extra``.

        Raises:
            TrainerError: naming the field on an invalid value or a misspelled key.
        """
        current = self.verl_config
        if config is None:
            current.validate()
        elif isinstance(config, dict):
            self._config = current.updated(config)
        elif isinstance(config, VeRLConfig):
            config.validate()
            self._config = config
        elif isinstance(config, TrainConfig):
            changes: dict[str, Any] = {
                "epochs": config.epochs,
                "batch_size": config.batch_size,
                "learning_rate": config.learning_rate,
                "extra": config.extra,
            }
            if config.output_dir:
                changes["output_dir"] = config.output_dir
            self._config = current.updated(changes)
        else:
            raise TrainerTypeError(
                f"config must be a TrainConfig, a dict or None, got {type(config).__name__}"
            )

    # -- running verl -------------------------------------------------------------------

    def _write_inputs(self, val_records: list[Record] | None) -> tuple[Path, Path]:
        cfg = self.verl_config
        out = self.output_dir
        source = str(cfg.extra.get("data_source", "orbiter"))
        ability = str(cfg.extra.get("ability", "agent"))
        tools = self._tool_plan
        train_file = out / "data" / "train.parquet"
        if self._train_records:
            rows = to_rows(self._train_records, "train", self._instructions, source, ability, tools)
            write_parquet(rows, train_file)
        val = val_records if val_records is not None else self._test_records
        if val is not None:
            rows = to_rows(val, "test", self._instructions, source, ability, tools, "test_data")
            val_file = write_parquet(rows, out / "data" / "test.parquet")
        else:
            val_file = train_file
        if not self._train_records:
            train_file = val_file
        return train_file, val_file

    @property
    def tool_config_path(self) -> Path | None:
        """Where verl's tool config is written (None: the agent has no tools)."""
        return self.output_dir / "tools.yaml" if self._tool_plan.enabled else None

    async def _launch(self, *, val_only: bool, val_records: list[Record] | None) -> TrainMetrics:
        cfg = self.verl_config
        if not self.model_name:
            raise TrainerValueError("no model to train: call check_agent or set model_name")
        if not self._train_records and val_records is None and self._test_records is None:
            raise TrainerValueError("no data: call check_dataset first")
        if not cfg.extra.get("dry_run") and not cfg.extra.get("verl_entry"):
            # before anything is written: a missing verl is one clear error, not a
            # traceback from the subprocess after the output directory was made
            check_verl_install(str(cfg.extra.get("rollout_engine", "vllm")))
        self._check_references(val_only=val_only, val_records=val_records)
        run_cfg = cfg.updated({"model_name": self.model_name})
        # parquet and file writes off the event loop
        train_file, val_file = await asyncio.to_thread(self._write_inputs, val_records)
        tool_config = self.tool_config_path
        tool_text = ""
        if tool_config is not None:
            tool_text = await asyncio.to_thread(
                self._tool_plan.write, tool_config, cfg.tool_timeout
            )
        out = self.output_dir
        env = {str(k): str(v) for k, v in dict(cfg.extra.get("env", {})).items()}
        # verl's FileLogger writes where this says (or where extra["env"] says); on a
        # cluster, output_dir must be shared by the nodes, as it is for checkpoints/
        metrics_path = out / env.get(FILE_LOGGER_PATH_ENV, "verl_metrics.jsonl")
        env[FILE_LOGGER_PATH_ENV] = str(metrics_path)
        overrides = build_overrides(
            run_cfg,
            train_file=train_file,
            val_file=val_file,
            output_dir=out,
            reward_kwargs={**self._reward_plan.reward_kwargs, **self._tool_plan.reward_kwargs},
            env_vars={FILE_LOGGER_PATH_ENV: str(metrics_path)},
            val_only=val_only,
            tool_config=tool_config,
        )
        check_override_keys(overrides)
        command = build_command(overrides, cfg.extra.get("verl_entry") or DEFAULT_ENTRY)
        self._command = command
        if cfg.extra.get("dry_run"):
            dry: dict[str, Any] = {"command": command, "overrides": overrides}
            if tool_config is not None:
                print(f"# {tool_config}\n{tool_text}")
                dry["tool_config"] = str(tool_config)
            print(shlex.join(command))
            return TrainMetrics(extra=dry)
        # verl's FileLogger opens the file without creating its directory
        metrics_path.parent.mkdir(parents=True, exist_ok=True)
        metrics_path.unlink(missing_ok=True)  # no stale metrics from an earlier run
        log_path = out / "verl.log"
        logger.info("launching verl: %s", shlex.join(command))
        grace = float(cfg.extra.get("kill_grace_s", 10.0))
        result = await run_streaming(command, log_path, env=env, cwd=out, kill_grace_s=grace)
        if result.returncode != 0:
            tail = "\n".join(result.tail)
            raise TrainerError(
                f"verl exited with status {result.returncode}; last {len(result.tail)} lines "
                f"of {log_path}:\n{tail}"
            )
        summary = summarize(await asyncio.to_thread(read_metrics, metrics_path))
        extra = {**summary["extra"], "command": command, "log": str(log_path)}
        return TrainMetrics(
            loss=summary["loss"], accuracy=summary["accuracy"], steps=summary["steps"], extra=extra
        )

    def _check_references(self, *, val_only: bool, val_records: list[Record] | None) -> None:
        """Records without a reference answer are fine unless the reward compares with one."""
        plan = self._reward_plan
        if not plan.needs_reference:
            return
        val = val_records if val_records is not None else self._test_records
        splits: list[tuple[str, list[Record]]] = []
        if not val_only or val is None:  # without test data, verl validates on train_data
            splits.append(("train_data", self._train_records))
        if val is not None:
            splits.append(("test_data", val))
        for name, records in splits:
            require_references([r["_example"] for r in records], name, plan.name)

    async def train(self) -> TrainMetrics:
        """Run verl training (see the class docstring).

        Raises:
            TrainerError: If not validated, verl is not installed ("VeRL is required ...",
                also an ``ImportError``), a record lacks the reference answer the reward
                needs, or verl fails (with the log's tail).
        """
        self._require_validated()
        if not self.model_name:
            raise TrainerValueError("no model to train: call check_agent or set model_name")
        return await self._run_training(
            self._launch(val_only=False, val_records=None),
            lambda err: f"VeRL training failed: {err}",
        )

    # -- evaluation ---------------------------------------------------------------------

    async def evaluate(self, test_data: Any | None = None) -> TrainMetrics:
        """Score generations in-process, or run verl's validation-only mode.

        When every record of *test_data* carries a generation (``response``, or ``output``
        next to an ``answer``/``expected``), each is scored by the same reward module
        verl uses (:mod:`orbiter.train.integrations.verl` with the same ``reward_kwargs``):
        ``accuracy`` = mean score, ``steps`` = number of records, ``extra`` =
        ``{"mean", "std", "min", "max", "n", "scores"}``. Otherwise (or with no
        *test_data*, using the test split, else the training data) verl runs with
        ``trainer.val_only=True`` and the validation metrics come back like ``train()``'s.
        The lifecycle state is not changed.

        Raises:
            TrainerError: On bad records or a failed verl run.
        """
        records = (
            load_records(test_data, "test_data", self._columns) if test_data is not None else None
        )
        if records is not None and all(self._generation(r) is not None for r in records):
            return self._score_generations(records)
        try:
            return await self._launch(val_only=True, val_records=records)
        except (TrainerError, asyncio.CancelledError):
            raise
        except Exception as exc:
            raise TrainerError(f"VeRL evaluation failed: {exc}") from exc

    @staticmethod
    def _generation(record: Record) -> str | None:
        if "response" in record:
            value = record["response"]
        elif "output" in record and record["_example"].answer_key != "output":
            value = record["output"]
        else:
            return None
        return value if isinstance(value, str) else str(value)

    def _score_generations(self, records: list[Record]) -> TrainMetrics:
        cfg = self.verl_config
        plan = self._reward_plan
        self._check_references(val_only=True, val_records=records)
        try:
            resolve(plan.kind, plan.module, plan.name, plan.search_path)
        except Exception as exc:
            raise TrainerError(
                f"cannot load the reward function {plan.module}.{plan.name}: {exc}"
            ) from exc
        answers = [str(r["answer"]) for r in records]
        source = str(cfg.extra.get("data_source", "orbiter"))
        scores = [
            float(s["score"])
            for s in compute_score_batch(
                [r.get("data_source", source) for r in records],
                [self._generation(r) or "" for r in records],
                answers,
                [{"split": "test", "index": i} for i in range(len(records))],
                **self._reward_plan.reward_kwargs,
            )
        ]
        mean = statistics.fmean(scores)
        stats: dict[str, Any] = {
            "n": len(scores),
            "mean": mean,
            "std": statistics.pstdev(scores),
            "min": min(scores),
            "max": max(scores),
            "scores": scores,
        }
        return TrainMetrics(accuracy=mean, steps=len(scores), extra=stats)

    def __repr__(self) -> str:
        cfg = self.verl_config
        return (
            f"VeRLTrainer(algorithm={cfg.algorithm.value!r}, epochs={cfg.epochs}, "
            f"state={self.state.value!r})"
        )
