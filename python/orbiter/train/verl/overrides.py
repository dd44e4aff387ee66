"""Hydra overrides for ``verl.trainer.main_ppo``, built with OmegaConf and Hydra's grammar.

:func:`build_overrides` maps a :class:`~orbiter.train.verl.config.VeRLConfig` onto verl's
config keys as an OmegaConf config (which holds only values OmegaConf can), and writes each
leaf as ``key=value`` in Hydra's override grammar: a string stays bare when Hydra's parser
reads it back unchanged, and is otherwise quoted by Hydra's own ``QuotedString``; every
override is parsed back with Hydra's ``OverridesParser`` to the value meant.
:func:`check_override_keys` parses the user's overrides with the same parser and checks
every key against the installed verl's config before anything is launched.

omegaconf and hydra-core are verl's own dependencies (``pip install 'orbiter-train[verl]'``)
and are imported only here, when overrides are built or checked.
"""

from __future__ import annotations

import difflib
import functools
import importlib.util
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orbiter.train.errors import TrainerTypeError, TrainerValueError
from orbiter.train.integrations import verl as score
from orbiter.train.verl.config import VeRLAlgorithm, VeRLConfig
from orbiter.train.verl.tools import AGENT_LOOP, TOOL_FORMAT

if TYPE_CHECKING:
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import Override

__all__ = [
    "REWARD_FUNCTION_SECTIONS",
    "RUNTIME_ENV_VARS",
    "build_overrides",
    "check_override_keys",
    "format_override",
    "override_value",
    "parse_override",
    "reward_function_sections",
    "verl_config_keys",
]

logger = logging.getLogger("orbiter.train.verl")

RUNTIME_ENV_VARS = "ray_kwargs.ray_init.runtime_env.env_vars"
"""Environment variables verl merges into ``ray.init(runtime_env=...)`` (``main_ppo``'s
``run_ppo``), so they reach its ``TaskRunner`` on a cluster started with ``ray start``,
whose workers do not inherit the launching process's environment."""

REWARD_FUNCTION_SECTIONS = ("reward.custom_reward_function", "custom_reward_function")
"""Where verl reads its custom reward function: ``reward.custom_reward_function`` in verl
0.9 (``verl/trainer/ppo/reward.py``: ``get_custom_reward_fn``), the top-level section in
earlier versions (0.9 keeps it in ``legacy_reward_impl.yaml`` and moves it into ``reward``
only in its fully-async trainer). Each one the installed verl's config has is set."""

MULTI_TURN = "actor_rollout_ref.rollout.multi_turn"
"""verl's multi-turn rollout section (``verl.workers.config.MultiTurnConfig``)."""

NO_CUT = 2**31 - 1
"""``max_tool_response_length`` for ``max_tool_result_tokens=None``: verl's field is an int,
so "no cut" is a length no result reaches."""

_MISSING_DEPS = (
    "building verl's overrides needs omegaconf and hydra-core (verl's own dependencies): "
    "pip install 'orbiter-train[verl]'"
)


@functools.cache
def _parser() -> OverridesParser:
    try:
        from hydra.core.override_parser.overrides_parser import OverridesParser
    except ImportError as exc:
        raise TrainerTypeError(_MISSING_DEPS) from exc
    return OverridesParser.create()


def parse_override(text: str) -> Override:
    """*text* parsed by Hydra's override parser.

    Raises:
        TrainerValueError: naming the override and Hydra's reason when it does not parse.
    """
    parser = _parser()
    from hydra.errors import HydraException

    try:
        return parser.parse_override(text)
    except HydraException as exc:
        raise TrainerValueError(f"verl override {text!r} does not parse: {exc}") from None


def _reads_back(text: str, nested: bool) -> bool:
    # Hydra's grammar allows less bare inside brackets (no empty string, no spaces at ends)
    try:
        if nested:
            return bool(_parser().parse_override(f"k=[{text}]").value() == [text])
        return bool(_parser().parse_override(f"k={text}").value() == text)
    except Exception:
        return False


def override_value(value: Any, *, nested: bool = False) -> str:
    """*value* written in Hydra's override grammar.

    ``None`` is ``null``, booleans are ``true``/``false``, numbers are their ``repr``, lists
    and dicts use Hydra's brackets and braces; a string is bare when Hydra reads it back as
    the same string (``org/model-1.5B``), else single-quoted by Hydra's ``QuotedString``
    (``'1.5'``, ``'null'``, ``'it\\'s'``).
    """
    from hydra.core.override_parser.types import Quote, QuotedString

    if isinstance(value, list | tuple):
        return "[" + ",".join(override_value(v, nested=True) for v in value) + "]"
    if isinstance(value, Mapping):
        items = (f"{k}:{override_value(v, nested=True)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, int | float):
        return repr(value)
    text = str(value)
    if _reads_back(text, nested):
        return text
    return QuotedString(text=text, quote=Quote.single).with_quotes()


def format_override(key: str, value: Any) -> str:
    """``key=value`` in Hydra's grammar, checked by parsing it back to *value*.

    Raises:
        TrainerValueError: If Hydra would read the override as something else.
    """
    text = f"{key}={override_value(value)}"
    parsed = parse_override(text).value()
    expected = [*value] if isinstance(value, tuple) else value
    if parsed != expected:
        raise TrainerValueError(f"verl override {text!r} reads back as {parsed!r}, not {value!r}")
    return text


def _flatten(tree: Mapping[Any, Any], prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for key, value in tree.items():
        keys.add(prefix + str(key))
        if isinstance(value, Mapping):
            keys |= _flatten(value, f"{prefix}{key}.")
    return keys


@functools.lru_cache(maxsize=1)
def verl_config_keys() -> frozenset[str] | None:
    """Every key of the installed verl's PPO trainer config (its shipped
    ``trainer/config/_generated_ppo_trainer.yaml``, loaded with OmegaConf and flattened
    with dots), or ``None`` when verl or omegaconf is not importable here (the launch then
    goes ahead unchecked)."""
    spec = importlib.util.find_spec("verl")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "trainer" / "config" / "_generated_ppo_trainer.yaml"
    try:
        from omegaconf import OmegaConf
    except ImportError:
        return None
    if not path.is_file():
        return None
    tree = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    return frozenset(_flatten(tree)) if isinstance(tree, Mapping) else None


def reward_function_sections(known: frozenset[str] | None = None) -> list[str]:
    """The custom-reward sections of :data:`REWARD_FUNCTION_SECTIONS` that the installed
    verl's config has (*known*, default :func:`verl_config_keys`); the top-level one when
    verl's config cannot be read here."""
    known = verl_config_keys() if known is None else known
    if known is None:
        return [REWARD_FUNCTION_SECTIONS[-1]]
    found = [s for s in REWARD_FUNCTION_SECTIONS if f"{s}.path" in known]
    return found or [REWARD_FUNCTION_SECTIONS[-1]]


def _settings(
    config: VeRLConfig,
    *,
    train_file: Path,
    val_file: Path,
    output_dir: Path,
    reward_kwargs: Mapping[str, str],
    env_vars: Mapping[str, str],
    val_only: bool,
    tool_config: Path | None,
) -> dict[str, Any]:
    """verl's config keys (dotted) and their values, in the order they are written."""
    extra = config.extra
    algorithm = VeRLAlgorithm(config.algorithm)
    micro = int(extra.get("micro_batch_size_per_gpu", 1))
    model = config.model_name
    response_length = config.max_response_length
    if tool_config is not None and config.max_total_tokens is not None:
        response_length = config.max_total_tokens  # verl bounds all turns with one length
    o: dict[str, Any] = {
        "algorithm.adv_estimator": algorithm.adv_estimator,
        "algorithm.gamma": float(config.gamma),
        "algorithm.lam": float(config.lam),
        "data.train_files": str(train_file),
        "data.val_files": str(val_file),
        "data.max_prompt_length": config.max_prompt_length,
        "data.max_response_length": response_length,
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
    if tool_config is not None:
        o.update(_multi_turn(config, tool_config))
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
    for section in reward_function_sections():
        o[f"{section}.path"] = str(Path(score.__file__).resolve())
        o[f"{section}.name"] = score.FUNCTION_NAME
        # verl's config has no reward_kwargs key: '++' adds it (or sets it if a verl has it)
        o[f"++{section}.reward_kwargs"] = dict(reward_kwargs)
    o["trainer.total_epochs"] = config.epochs
    o["trainer.default_local_dir"] = str(output_dir / "checkpoints")
    o["trainer.n_gpus_per_node"] = int(extra.get("n_gpus_per_node", 1))
    o["trainer.nnodes"] = int(extra.get("nnodes", 1))
    # console: the streamed log; file: the metrics (orbiter.train.verl.metrics)
    o["trainer.logger"] = ["console", "file"]
    o["trainer.project_name"] = extra.get("project_name", "orbiter-train")
    default_name = f"{algorithm.value}-{Path(model).name or 'model'}"
    o["trainer.experiment_name"] = extra.get("experiment_name", default_name)
    if val_only:
        o["trainer.val_before_train"] = True
        o["trainer.val_only"] = True
    known = verl_config_keys()
    if env_vars and (known is None or RUNTIME_ENV_VARS.rpartition(".")[0] in known):
        for name, value in env_vars.items():
            o[f"++{RUNTIME_ENV_VARS}.{name}"] = str(value)
    return o


def _multi_turn(config: VeRLConfig, tool_config: Path) -> dict[str, Any]:
    """verl's tool agent loop with the tools of *tool_config*, bounded as
    :class:`VeRLConfig` says."""
    result_length = config.max_tool_result_tokens
    return {
        f"{MULTI_TURN}.enable": True,
        f"{MULTI_TURN}.tool_config_path": str(tool_config),
        f"{MULTI_TURN}.max_assistant_turns": config.max_turns,
        f"{MULTI_TURN}.max_parallel_calls": config.max_tool_calls,
        f"{MULTI_TURN}.max_tool_response_length": NO_CUT
        if result_length is None
        else result_length,
        f"{MULTI_TURN}.format": TOOL_FORMAT,
        # rows carry agent_name too; this covers a dataset class that drops the column
        "actor_rollout_ref.rollout.agent.default_agent_loop": AGENT_LOOP,
        "data.return_raw_chat": True,  # the agent loop renders the messages itself
    }


def build_overrides(
    config: VeRLConfig,
    *,
    train_file: Path,
    val_file: Path,
    output_dir: Path,
    reward_kwargs: Mapping[str, str] | None = None,
    env_vars: Mapping[str, str] | None = None,
    val_only: bool = False,
    tool_config: Path | None = None,
) -> list[str]:
    """Hydra overrides for ``verl.trainer.main_ppo`` (see :class:`VeRLConfig` for the map).

    verl's ``custom_reward_function`` points at :mod:`orbiter.train.integrations.verl` with
    *reward_kwargs* (:attr:`orbiter.train.verl.reward.RewardPlan.reward_kwargs`; default:
    the core's ``math_equal``). *env_vars* (such as the file logger's path) go into the
    Ray runtime environment of verl's workers (:data:`RUNTIME_ENV_VARS`) where the installed
    verl has one. ``extra["verl_overrides"]`` is appended verbatim, so it wins over every
    value here, except that a ``trainer.logger`` there keeps verl's ``file`` logger.

    With *tool_config* (verl's tool config file, :mod:`orbiter.train.verl.tools`), verl's
    multi-turn tool agent loop runs: ``rollout.multi_turn`` enabled with that file, the
    Hermes parser and the turn limits of :class:`VeRLConfig`, and ``tool_agent`` as the
    default agent loop.

    Raises:
        TrainerTypeError: If omegaconf or hydra-core is not installed.
        TrainerValueError: If a value cannot be written as an override.
    """
    try:
        from omegaconf import OmegaConf
        from omegaconf.errors import OmegaConfBaseException
    except ImportError as exc:
        raise TrainerTypeError(_MISSING_DEPS) from exc
    settings = _settings(
        config,
        train_file=train_file,
        val_file=val_file,
        output_dir=output_dir,
        reward_kwargs=reward_kwargs or {},
        env_vars=env_vars or {},
        val_only=val_only,
        tool_config=tool_config,
    )
    try:
        # OmegaConf holds only what a Hydra config can (primitives, lists, dicts of them)
        checked = OmegaConf.create({key: value for key, value in settings.items()})
    except OmegaConfBaseException as exc:
        raise TrainerValueError(f"a verl override value is not a config value: {exc}") from None
    values = OmegaConf.to_container(checked)
    assert isinstance(values, dict)
    overrides = [format_override(str(key), value) for key, value in values.items()]
    user = config.extra.get("verl_overrides", [])
    if isinstance(user, str):
        user = [user]
    overrides.extend(_keep_file_logger(str(item)) for item in user)
    return overrides


def _keep_file_logger(text: str) -> str:
    """*text*, or, when it sets ``trainer.logger`` without ``"file"``, the same loggers
    with ``"file"`` added: the metrics come from that logger."""
    override = parse_override(text)
    if override.key_or_group != "trainer.logger" or override.is_delete():
        return text
    value = override.value()
    loggers = [value] if isinstance(value, str) else value
    if not isinstance(loggers, list) or "file" in loggers:
        return text
    prefix = "++" if override.is_force_add() else "+" if override.is_add() else ""
    logger.info("verl override %r: 'file' added, VeRLTrainer reads its metrics from it", text)
    return format_override(f"{prefix}trainer.logger", [*loggers, "file"])


def check_override_keys(overrides: Sequence[str]) -> None:
    """Parse each override with Hydra's parser and raise :class:`TrainerValueError` for one
    that does not parse or whose key verl's config lacks (a typo would otherwise surface
    only after Ray and the workers have started). Keys Hydra adds (``+``, ``++``) or deletes
    (``~``) are left to Hydra."""
    parsed = [(text, parse_override(text)) for text in overrides]
    known = verl_config_keys()
    if known is None:
        logger.debug("verl's config is not readable here; override keys are not checked")
        return
    for text, override in parsed:
        key = override.key_or_group
        if override.is_add() or override.is_force_add() or override.is_delete() or key in known:
            continue
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else " (prefix it with '+' to add a key)"
        raise TrainerValueError(f"verl override {text!r}: {key!r} is not in verl's config{hint}")
