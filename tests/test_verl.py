"""VeRLTrainer: config, reward specs, data files, Hydra overrides against verl's own
config, the static score module against verl's own loader, metrics from verl's own file
logger, and the launch lifecycle against a stand-in entry point."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from orbiter.train import TrainConfig, TrainerError, TrainerState
from orbiter.train.integrations import verl as score
from orbiter.train.rewards.registry import REWARDS, text_reward
from orbiter.train.verl import RewardSpec, VeRLAlgorithm, VeRLConfig, VeRLTrainer
from orbiter.train.verl.config import EXTRA_KEYS
from orbiter.train.verl.metrics import read_metrics, summarize
from orbiter.train.verl.overrides import (
    RUNTIME_ENV_VARS,
    build_overrides,
    format_override,
    override_value,
    reward_function_sections,
)
from orbiter.train.verl.process import build_command
from orbiter.train.verl.reward import CORE_REWARDS

FAKE_MAIN = str(Path(__file__).with_name("fake_verl_main.py"))
DATA = [
    {"input": "What is 2 + 3?", "answer": "5"},
    {"prompt": "What is 7 * 6?", "expected": "42"},
    {"input": "Capital of France?", "output": "Paris"},
]
TEST = [{"input": "What is 1 + 1?", "answer": "2"}]


# -- reward functions importable by module path (this module is ``tests.test_verl``) --


def first_word_reward(output: str, expected: str) -> float:
    """1 when the first word of *output* is *expected*."""
    words = output.split()
    return 1.0 if words and words[0] == expected else 0.0


def verl_style_reward(
    data_source: str, solution_str: str, ground_truth: str, extra_info: Any = None
) -> float:
    return float(len(solution_str) == len(ground_truth)) + (0.5 if data_source == "x" else 0.0)


def three_args(a: str, b: str, c: str) -> float:
    return 0.0


NOT_CALLABLE = 3


class Agent:
    def __init__(self, model_name: str = "Qwen/Qwen2.5-0.5B-Instruct", instructions: str = ""):
        self.model_name = model_name
        self.instructions = instructions


def make_trainer(
    tmp_path: Path,
    *,
    reward: Any = None,
    agent: Any = None,
    test: Any = TEST,
    **config: Any,
) -> VeRLTrainer:
    trainer = VeRLTrainer()
    trainer.check_agent(agent if agent is not None else Agent(instructions="Answer briefly."))
    trainer.check_dataset(DATA, test)
    trainer.check_reward(reward)
    trainer.check_config({"output_dir": str(tmp_path / "out"), "verl_entry": FAKE_MAIN, **config})
    trainer.mark_validated()
    return trainer


# -- module --------------------------------------------------------------------------


def test_module_imports_without_verl_or_pyarrow(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "sys.modules['verl'] = None\nsys.modules['pyarrow'] = None\n"
        "from orbiter.train.verl import VeRLTrainer, VeRLConfig, VeRLAlgorithm, RewardSpec\n"
        "from orbiter.train.verl.overrides import build_overrides\n"
        "from pathlib import Path\n"
        "t = VeRLTrainer(VeRLConfig(model_name='m'))\n"
        "p = Path('x')\n"
        "o = build_overrides(t.verl_config, train_file=p, val_file=p, output_dir=p)\n"
        "assert 'custom_reward_function.name=compute_score' in o, o\n"
        "assert o and VeRLAlgorithm('rloo') is VeRLAlgorithm.RLOO\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_algorithm_values_match_the_original_and_verl() -> None:
    assert [a.value for a in VeRLAlgorithm] == ["ppo", "grpo", "rloo", "reinforce_plus_plus"]
    assert VeRLAlgorithm.PPO.adv_estimator == "gae"
    assert VeRLAlgorithm.GRPO.adv_estimator == "grpo"
    assert VeRLAlgorithm.GRPO.is_group and VeRLAlgorithm.RLOO.is_group
    assert not VeRLAlgorithm.PPO.is_group


# -- config ----------------------------------------------------------------------------


def test_config_defaults_are_the_original_ones() -> None:
    cfg = VeRLConfig()
    assert isinstance(cfg, TrainConfig)
    assert (cfg.algorithm, cfg.rollout_batch_size, cfg.ppo_epochs) == (VeRLAlgorithm.GRPO, 4, 4)
    assert (cfg.kl_coeff, cfg.clip_range, cfg.gamma, cfg.lam) == (0.1, 0.2, 1.0, 0.95)
    assert (cfg.max_prompt_length, cfg.max_response_length) == (1024, 512)
    assert (cfg.model_name, cfg.tokenizer_name) == ("", "")
    assert not hasattr(cfg, "__dict__")  # slotted


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("rollout_batch_size", 0),
        ("ppo_epochs", 0),
        ("epochs", 0),
        ("batch_size", -1),
        ("max_prompt_length", 0),
        ("max_response_length", 0),
        ("clip_range", 1.5),
        ("clip_range", -0.1),
        ("kl_coeff", -0.01),
        ("gamma", 1.01),
        ("lam", -0.5),
        ("learning_rate", 0.0),
        ("learning_rate", float("nan")),
        ("learning_rate", float("inf")),
        ("kl_coeff", float("inf")),
        ("algorithm", "dpo"),
    ],
)
def test_config_range_checks_name_the_field(field: str, value: Any) -> None:
    with pytest.raises(ValueError, match=field) as info:
        VeRLConfig(**{field: value})
    assert isinstance(info.value, TrainerError)
    trainer = VeRLTrainer()
    with pytest.raises(TrainerError, match=field):
        trainer.check_config({field: value})
    assert trainer.checks[-1].passed is False


def test_config_type_checks() -> None:
    with pytest.raises(TypeError, match="ppo_epochs"):
        VeRLConfig(ppo_epochs=2.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="gamma"):
        VeRLConfig(gamma="high")  # type: ignore[arg-type]


def test_mini_batch_must_divide_rollout_batch() -> None:
    assert VeRLConfig(batch_size=8, rollout_batch_size=4).ppo_mini_batch_size == 4
    assert VeRLConfig(batch_size=4, rollout_batch_size=16).ppo_mini_batch_size == 4
    with pytest.raises(TrainerError, match="rollout_batch_size"):
        VeRLConfig(batch_size=8, rollout_batch_size=12)


def test_the_shared_spellings_set_verl_settings() -> None:
    """kl_coef (the torch trainer's name) sets kl_coeff; group_size sets rollout_n."""
    trainer = VeRLTrainer()
    trainer.check_config({"kl_coef": 0.05, "group_size": 6, "algorithm": "reinforce_pp"})
    cfg = trainer.verl_config
    assert (cfg.kl_coeff, cfg.extra["rollout_n"]) == (0.05, 6)
    assert cfg.algorithm is VeRLAlgorithm.REINFORCE_PLUS_PLUS


def test_check_config_dict_sets_fields_and_extra() -> None:
    trainer = VeRLTrainer()
    trainer.check_config({"algorithm": "ppo", "epochs": 3, "rollout_n": 8, "my_flag": True})
    cfg = trainer.verl_config
    assert cfg.algorithm is VeRLAlgorithm.PPO and cfg.epochs == 3
    assert cfg.extra == {"rollout_n": 8, "my_flag": True}
    trainer.check_config({"extra": {"nnodes": 2}})
    assert trainer.verl_config.extra == {"rollout_n": 8, "my_flag": True, "nnodes": 2}


@pytest.mark.parametrize(
    ("key", "suggestion"),
    [
        ("epoch", "epochs"),
        ("learning_rte", "learning_rate"),
        ("clip_rang", "clip_range"),
        ("rollout_batchsize", "rollout_batch_size"),
        ("n_gpu_per_node", "n_gpus_per_node"),
    ],
)
def test_check_config_misspelled_key_did_you_mean(key: str, suggestion: str) -> None:
    trainer = VeRLTrainer()
    with pytest.raises(TrainerError, match=f"did you mean '{suggestion}'"):
        trainer.check_config({key: 1})
    assert key not in trainer.verl_config.extra


def test_check_config_accepts_train_and_verl_configs() -> None:
    trainer = VeRLTrainer(TrainConfig(epochs=2, extra={"a": 1}))
    assert isinstance(trainer.config, VeRLConfig)
    assert trainer.verl_config.epochs == 2 and trainer.verl_config.extra == {"a": 1}
    trainer.check_config(TrainConfig(epochs=5, batch_size=2, output_dir="o", extra={"b": 2}))
    cfg = trainer.verl_config
    assert (cfg.epochs, cfg.batch_size, cfg.output_dir) == (5, 2, "o")
    assert cfg.extra == {"a": 1, "b": 2}
    replacement = VeRLConfig(algorithm=VeRLAlgorithm.RLOO)
    trainer.check_config(replacement)
    assert trainer.config is replacement
    replacement.clip_range = 3.0  # mutable dataclass: validated again on check
    with pytest.raises(TrainerError, match="clip_range"):
        trainer.check_config(None)
    with pytest.raises(TypeError, match="config must be"):
        trainer.check_config(["epochs"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"rollout_n": 0}, r"extra\['rollout_n'\] = 0: must be >= 1"),
        ({"rollout_n": 1}, r"extra\['rollout_n'\] must be >= 2 for grpo"),
        ({"rollout_n": 2.0}, r"extra\['rollout_n'\] = 2.0: must be an int"),
        ({"n_gpus_per_node": 0}, r"extra\['n_gpus_per_node'\]"),
        ({"nnodes": True}, r"extra\['nnodes'\] = True: must be an int"),
        ({"micro_batch_size_per_gpu": -2}, r"extra\['micro_batch_size_per_gpu'\]"),
        ({"rollout_tp": 0}, r"extra\['rollout_tp'\]"),
        ({"verl_overrides": ["trainer.save_freq"]}, "key=value"),
        ({"verl_overrides": 3}, "key=value"),
        ({"env": ["A=1"]}, r"extra\['env'\]"),
        ({"verl_entry": ""}, r"extra\['verl_entry'\]"),
        ({"critic_lr": 0}, r"extra\['critic_lr'\]"),
        ({"kill_grace_s": -1}, r"extra\['kill_grace_s'\]"),
        ({"critic_lr": float("inf")}, r"extra\['critic_lr'\]"),
        ({"dry_run": "no"}, r"extra\['dry_run'\] must be True or False"),
    ],
)
def test_extra_values_are_checked(extra: dict[str, Any], message: str) -> None:
    trainer = VeRLTrainer()
    with pytest.raises(TrainerError, match=message):
        trainer.check_config(extra)
    with pytest.raises(TrainerError, match=message):
        VeRLConfig(extra=extra)


def test_reinforce_plus_plus_allows_one_response_per_prompt() -> None:
    cfg = VeRLConfig(algorithm=VeRLAlgorithm.REINFORCE_PLUS_PLUS, extra={"rollout_n": 1})
    assert cfg.extra["rollout_n"] == 1


def test_extra_keys_are_documented() -> None:
    assert {"rollout_n", "n_gpus_per_node", "nnodes", "verl_overrides", "dry_run"} <= set(
        EXTRA_KEYS
    )


# -- RewardSpec ----------------------------------------------------------------------------


def test_reward_spec_needs_exactly_one_form() -> None:
    with pytest.raises(TrainerError, match="either 'callable' or both"):
        RewardSpec()
    with pytest.raises(TrainerError, match="either 'callable' or both"):
        RewardSpec(module_path="tests.test_verl")
    with pytest.raises(TrainerError, match="not both"):
        RewardSpec(callable=first_word_reward, module_path="m", func_name="f")
    with pytest.raises(TypeError, match="must be callable"):
        RewardSpec(callable=3)  # type: ignore[arg-type]


def test_reward_spec_is_frozen() -> None:
    spec = RewardSpec(callable=first_word_reward)
    with pytest.raises(AttributeError):
        spec.func_name = "x"  # type: ignore[misc]


def test_reward_spec_resolve() -> None:
    assert RewardSpec(callable=first_word_reward).resolve() is first_word_reward
    spec = RewardSpec(module_path="tests.test_verl", func_name="first_word_reward")
    assert spec.resolve() is first_word_reward
    spec = RewardSpec(module_path="tests.test_verl", func_name="verl_style_reward")
    assert spec.resolve() is verl_style_reward
    dotted = RewardSpec(module_path="tests.test_verl", func_name="Agent.__init__")
    assert dotted.resolve() is Agent.__init__  # a dotted name walks attributes


@pytest.mark.parametrize(
    ("module_path", "func_name", "message"),
    [
        ("tests.no_such_module", "f", "cannot import module"),
        ("tests.test_verl", "missing", "Cannot find 'missing'"),
        ("tests.test_verl", "NOT_CALLABLE", "not callable"),
    ],
)
def test_reward_spec_resolve_errors(module_path: str, func_name: str, message: str) -> None:
    with pytest.raises(TrainerError, match=message):
        RewardSpec(module_path=module_path, func_name=func_name).resolve()


def test_reward_spec_resolve_leaves_the_signature_to_the_trainer() -> None:
    """As in the original package; check_reward checks it, saying how it will be called."""
    spec = RewardSpec(module_path="tests.test_verl", func_name="three_args")
    assert spec.resolve() is three_args
    with pytest.raises(TrainerError, match=r"must accept.*called as fn\(output: str"):
        VeRLTrainer().check_reward(spec)


# -- check_reward ----------------------------------------------------------------------


def test_check_reward_forms() -> None:
    trainer = VeRLTrainer()
    trainer.check_reward()
    assert (trainer._reward_plan.kind, trainer._reward_plan.name) == ("core", "math_equal")
    for name in CORE_REWARDS:  # the registry's text form of each name
        trainer.check_reward(name)
        assert (trainer._reward_plan.kind, trainer._reward_plan.name) == (
            "core",
            REWARDS[name].text,
        )
    trainer.check_reward(first_word_reward)
    plan = trainer._reward_plan
    assert (plan.kind, plan.module, plan.name) == ("pair", "tests.test_verl", "first_word_reward")
    assert Path(plan.search_path) == Path(__file__).resolve().parents[1]
    trainer.check_reward(RewardSpec(callable=verl_style_reward))
    assert trainer._reward_plan.kind == "verl"
    trainer.check_reward(RewardSpec(module_path="tests.test_verl", func_name="first_word_reward"))
    assert trainer._reward_plan.kind == "pair"


def test_check_reward_rejects_what_verl_workers_cannot_import() -> None:
    trainer = VeRLTrainer()

    def nested(output: str, expected: str) -> float:
        return 0.0

    for fn in (lambda o, e: 1.0, nested, RewardSpec(callable=lambda o, e: 1.0)):
        with pytest.raises(TrainerError, match=r"RewardSpec\(module_path="):
            trainer.check_reward(fn)
    with pytest.raises(TrainerError, match="unknown reward 'f1'"):
        trainer.check_reward("f1")
    with pytest.raises(TypeError, match="reward_fn must be"):
        trainer.check_reward(3)
    with pytest.raises(TrainerError, match="must accept"):
        trainer.check_reward(three_args)


# -- check_agent / check_dataset ---------------------------------------------------------


def test_check_agent_forms() -> None:
    trainer = VeRLTrainer()
    trainer.check_agent("/models/qwen")
    assert (trainer.model_name, trainer._instructions) == ("/models/qwen", "")
    trainer.check_agent(Path("/models/llama"))
    assert trainer.model_name == "/models/llama"
    trainer.check_agent(Agent("org/model", "Be brief."))
    assert (trainer.model_name, trainer._instructions) == ("org/model", "Be brief.")
    with pytest.raises(TrainerError, match="non-None"):
        trainer.check_agent(None)
    with pytest.raises(TrainerError, match="no model"):
        trainer.check_agent(Agent(""))
    with pytest.raises(TypeError, match="instructions"):
        trainer.check_agent(Agent("m", 3))  # type: ignore[arg-type]
    trainer.check_config({"model_name": "cfg/model"})
    trainer.check_agent(Agent("", "hi"))  # the config names the model
    assert trainer.model_name == "cfg/model"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "train_data must be a non-empty list"),
        ((), "train_data must be a non-empty list"),
        ({"input": "a"}, "train_data must be a list"),
        ("not a file", "train_data must be a list or tuple of dicts, or the path of a JSONL"),
        ([{"input": "a", "answer": "b"}, "row"], r"train_data\[1\] must be a dict"),
        (
            [{"input": "a", "answer": "b"}, {"answer": "b"}],
            r"train_data\[1\]: missing required 'input' key",  # the original package's words
        ),
        ([{"input": ["a"], "answer": "b"}], r"train_data\[0\]: 'input' must be a str"),
        ([{"input": "a", "expected": None}], r"train_data\[0\]: 'expected' must be a str"),
        ([{"input": "a", "answer": "b", "data_source": 1}], r"\[0\]: 'data_source'"),
    ],
)
def test_check_dataset_errors_name_index_and_key(data: Any, message: str) -> None:
    trainer = VeRLTrainer()
    with pytest.raises(TrainerError, match=message):
        trainer.check_dataset(data)


def test_check_dataset_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in DATA) + "\n\n", encoding="utf-8")
    trainer = VeRLTrainer()
    trainer.check_dataset(path, str(path))
    assert [r["answer"] for r in trainer._train_records] == ["5", "42", "Paris"]
    assert trainer._test_records is not None and len(trainer._test_records) == 3
    path.write_text(json.dumps(DATA[0]) + "\n{broken\n", encoding="utf-8")
    with pytest.raises(TrainerError, match=r"test_data\[1\]: line 2 of .*: invalid JSON"):
        trainer.check_dataset(DATA, path)
    with pytest.raises(TrainerError, match="cannot read"):
        trainer.check_dataset(tmp_path / "missing.jsonl")


def test_numbers_are_accepted_as_answers() -> None:
    trainer = VeRLTrainer()
    trainer.check_dataset([{"input": "2+2", "answer": 4}])
    assert trainer._train_records[0]["answer"] == "4"


# -- Hydra overrides against verl's own config ----------------------------------------------


def _verl_config_dir() -> Path:
    spec = importlib.util.find_spec("verl")
    if spec is None or spec.origin is None:
        pytest.skip("verl is not installed (pip install --no-deps verl)")
    path = Path(spec.origin).parent / "trainer" / "config"
    assert (path / "ppo_trainer.yaml").is_file()
    return path


def _flatten(tree: dict[str, Any], prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for key, value in tree.items():
        keys.add(prefix + key)
        if isinstance(value, dict):
            keys |= _flatten(value, f"{prefix}{key}.")
    return keys


CASES = [
    {"algorithm": VeRLAlgorithm.GRPO},
    {"algorithm": VeRLAlgorithm.PPO, "tokenizer_name": "org/tok"},
    {"algorithm": VeRLAlgorithm.RLOO, "kl_coeff": 0.0, "n_gpus_per_node": 8, "nnodes": 2},
    {"algorithm": VeRLAlgorithm.REINFORCE_PLUS_PLUS, "rollout_n": 4, "rollout_tp": 2},
]


REWARD_KWARGS = {
    "reward_kind": "pair",
    "reward_module": "tests.test_verl",
    "reward_name": "first_word_reward",
    "search_path": "/a dir/with 'quotes', commas=and {braces}",
}


def _overrides(tmp_path: Path, case: dict[str, Any], val_only: bool = False) -> list[str]:
    fields = {k: v for k, v in case.items() if k not in EXTRA_KEYS}
    extra = {k: v for k, v in case.items() if k in EXTRA_KEYS}
    cfg = VeRLConfig(model_name="Qwen/Qwen2.5-0.5B", extra=extra, **fields)
    out = tmp_path / "run dir's"  # a space and a quote: must survive Hydra's parser
    return build_overrides(
        cfg,
        train_file=out / "data" / "train.parquet",
        val_file=out / "data" / "test.parquet",
        output_dir=out,
        reward_kwargs=REWARD_KWARGS,
        env_vars={"VERL_FILE_LOGGER_PATH": str(out / "verl_metrics.jsonl")},
        val_only=val_only,
    )


def test_clip_range_sets_both_of_verls_clip_bounds(tmp_path: Path) -> None:
    """verl's actor.yaml sets clip_ratio_low/high, which win over clip_ratio when set."""
    overrides = dict(o.split("=", 1) for o in _overrides(tmp_path, {"clip_range": 0.1}))
    for key in ("clip_ratio", "clip_ratio_low", "clip_ratio_high"):
        assert float(overrides[f"actor_rollout_ref.actor.{key}"]) == 0.1


def test_a_relative_entry_file_is_made_absolute(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    command = build_command(["a=1"], entry="tools/main.py")
    assert command[1] == str(tmp_path / "tools" / "main.py")
    assert build_command([], entry="verl.trainer.main_ppo")[1:] == ["-m", "verl.trainer.main_ppo"]


@pytest.mark.parametrize("case", CASES, ids=lambda c: str(c["algorithm"]))
def test_every_override_key_exists_in_verls_shipped_config(
    tmp_path: Path, case: dict[str, Any]
) -> None:
    yaml = pytest.importorskip("yaml")
    config_dir = _verl_config_dir()
    generated = yaml.safe_load((config_dir / "_generated_ppo_trainer.yaml").read_text())
    known = _flatten(generated)
    for val_only in (False, True):
        for override in _overrides(tmp_path, case, val_only):
            key = override.split("=", 1)[0]
            if key.startswith("++"):  # keys verl's config lacks, under ones it has
                key = key[2:]
                if key.startswith(RUNTIME_ENV_VARS):
                    key = RUNTIME_ENV_VARS.rpartition(".")[0]
                else:
                    assert key.endswith("custom_reward_function.reward_kwargs"), override
                    key = key.rpartition(".")[0]
            assert not key.startswith(("+", "~")), override
            assert key in known, f"{key} is not in verl's ppo_trainer config"


@pytest.mark.parametrize("case", CASES, ids=lambda c: str(c["algorithm"]))
def test_overrides_compose_with_verls_hydra_config(tmp_path: Path, case: dict[str, Any]) -> None:
    """Compose ``ppo_trainer.yaml`` exactly as ``main_ppo`` does: Hydra rejects unknown
    keys and unparsable values, and the composed values are the ones we meant."""
    config_dir = _verl_config_dir()
    hydra = pytest.importorskip("hydra")
    overrides = _overrides(tmp_path, case)
    with hydra.initialize_config_dir(config_dir=str(config_dir), version_base=None):
        cfg = hydra.compose("ppo_trainer", overrides=overrides)
    algorithm = VeRLAlgorithm(case["algorithm"])
    out = tmp_path / "run dir's"
    assert cfg.algorithm.adv_estimator == algorithm.adv_estimator
    assert cfg.data.train_files == str(out / "data" / "train.parquet")
    # verl 0.9 reads reward.custom_reward_function; the top-level section is its legacy one
    for section in (cfg.reward.custom_reward_function, cfg.custom_reward_function):
        assert section.path == str(Path(score.__file__).resolve())
        assert section.name == "compute_score"
        assert section.reward_kwargs == REWARD_KWARGS
    assert cfg.trainer.default_local_dir == str(out / "checkpoints")
    assert cfg.trainer.logger == ["console", "file"]
    env_vars = cfg.ray_kwargs.ray_init.runtime_env.env_vars
    assert env_vars == {"VERL_FILE_LOGGER_PATH": str(out / "verl_metrics.jsonl")}
    assert cfg.actor_rollout_ref.model.path == "Qwen/Qwen2.5-0.5B"
    assert cfg.actor_rollout_ref.actor.clip_ratio == 0.2
    assert cfg.actor_rollout_ref.actor.ppo_epochs == 4
    assert cfg.data.train_batch_size == 4 and cfg.actor_rollout_ref.actor.ppo_mini_batch_size == 4
    assert cfg.trainer.n_gpus_per_node == case.get("n_gpus_per_node", 1)
    assert cfg.trainer.nnodes == case.get("nnodes", 1)
    assert cfg.actor_rollout_ref.rollout.name == "vllm"
    assert cfg.actor_rollout_ref.rollout.tensor_model_parallel_size == case.get("rollout_tp", 1)
    expected_n = case.get("rollout_n", 5 if algorithm.is_group else 1)
    assert cfg.actor_rollout_ref.rollout.n == expected_n
    kl = case.get("kl_coeff", 0.1)
    if algorithm is VeRLAlgorithm.PPO:
        assert cfg.algorithm.use_kl_in_reward is True and cfg.algorithm.kl_ctrl.kl_coef == kl
        assert cfg.actor_rollout_ref.actor.use_kl_loss is False
        assert cfg.critic.model.path == "Qwen/Qwen2.5-0.5B"
        assert cfg.critic.model.tokenizer_path == "org/tok"
    else:
        assert cfg.actor_rollout_ref.actor.use_kl_loss is (kl > 0)
        assert cfg.algorithm.use_kl_in_reward is False
        if kl > 0:
            assert cfg.actor_rollout_ref.actor.kl_loss_coef == kl
    assert cfg.trainer.val_only is False


def test_user_overrides_are_appended_verbatim(tmp_path: Path) -> None:
    cfg = VeRLConfig(model_name="m", extra={"verl_overrides": ["trainer.save_freq=10"]})
    p = tmp_path / "x"
    overrides = build_overrides(cfg, train_file=p, val_file=p, output_dir=p)
    assert overrides[-1] == "trainer.save_freq=10"
    assert sum(o.startswith("trainer.val_only") for o in overrides) == 0


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "null"),
        (True, "true"),
        (3, "3"),
        (1e-06, "1e-06"),
        ("org/model-1.5B", "org/model-1.5B"),
        ("a b", "a b"),  # Hydra reads inner spaces bare
        (" a", "' a'"),
        ("it's", "'it\\'s'"),
        ("null", "'null'"),
        ("1.5", "'1.5'"),
        ("~/models", "'~/models'"),
        ("a,b", "'a,b'"),
        ("", ""),
        (["console", ""], "[console,'']"),
        ({"k": "v w", "n": 1}, "{k:v w,n:1}"),
    ],
)
def test_override_value(value: Any, text: str) -> None:
    assert override_value(value) == text
    assert format_override("a.b", value) == f"a.b={text}"  # parses back to the value


def test_overrides_parse_back_through_hydras_parser(tmp_path: Path) -> None:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    overrides = _overrides(tmp_path, CASES[1], val_only=True)
    parsed = {
        o.key_or_group: o.value() for o in OverridesParser.create().parse_overrides(overrides)
    }
    out = tmp_path / "run dir's"
    assert parsed["data.train_files"] == str(out / "data" / "train.parquet")
    assert parsed["trainer.val_only"] is True and parsed["algorithm.gamma"] == 1.0
    for section in reward_function_sections():
        assert parsed[f"{section}.reward_kwargs"] == REWARD_KWARGS


async def test_user_overrides_that_do_not_parse_fail_before_launch(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path, dry_run=True, verl_overrides=["trainer.save_freq=[1,"])
    with pytest.raises(TrainerError, match=r"'trainer.save_freq=\[1,' does not parse"):
        await trainer.train()
    assert trainer.state is TrainerState.FAILED


# -- metric lines ------------------------------------------------------------------------


def test_read_metrics(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    lines = [
        {"step": 0, "data": {"val-core/gsm8k/reward/mean@4": 1.0}},
        {"step": 7, "data": {"actor/pg_loss": -0.5, "a": None, "b": "x", "c": [1], "d": True}},
    ]
    path.write_text("\n".join(json.dumps(x) for x in lines) + '\n{"step": 8, "da', "utf-8")
    assert read_metrics(path) == [
        (0, {"val-core/gsm8k/reward/mean@4": 1.0}),
        (7, {"actor/pg_loss": -0.5}),
    ]
    assert read_metrics(tmp_path / "missing.jsonl") == []


def test_read_metrics_reads_verls_own_file_logger(tmp_path: Path, monkeypatch: Any) -> None:
    """verl's ``FileLogger`` (``verl/utils/tracking.py``) writes; the reader reads."""
    tracking = pytest.importorskip("verl.utils.tracking")
    np = pytest.importorskip("numpy")
    path = tmp_path / "verl_metrics.jsonl"
    monkeypatch.setenv("VERL_FILE_LOGGER_PATH", str(path))
    file_logger = tracking.FileLogger("orbiter-train", "grpo-m")
    file_logger.log({"actor/pg_loss": np.float32(-0.25), "critic/score/mean": 0.5}, step=1)
    file_logger.log({"val-core/x/reward/mean@1": np.float64(0.75), "nan": np.nan}, step=2)
    file_logger.finish()
    steps = read_metrics(path)
    assert steps == [(1, {"actor/pg_loss": -0.25, "critic/score/mean": 0.5}), (2, steps[1][1])]
    assert steps[1][1] == {"val-core/x/reward/mean@1": 0.75}
    assert summarize(steps)["loss"] == -0.25


def test_summarize() -> None:
    steps = [
        (0, {"val-core/a/reward/mean@1": 0.4}),
        (1, {"actor/pg_loss": 0.3, "critic/score/mean": 0.5}),
        (2, {"actor/pg_loss": 0.1, "critic/score/mean": 0.7}),
    ]
    s = summarize(steps)
    assert (s["loss"], s["accuracy"], s["steps"]) == (0.1, 0.7, 2)
    assert s["extra"]["val-core/a/reward/mean@1"] == 0.4
    assert summarize(steps[:1])["accuracy"] == 0.4
    assert summarize([]) == {"loss": 0.0, "accuracy": 0.0, "steps": 0, "extra": {}}


# -- data files and the reward module ----------------------------------------------------


async def test_an_unknown_override_key_fails_before_launch(tmp_path: Path) -> None:
    """Checked against the installed verl's config: a typo fails fast, with a suggestion."""
    _verl_config_dir()  # skips without verl
    trainer = make_trainer(
        tmp_path, dry_run=True, verl_overrides=["trainer.save_freqq=5", "+trainer.new_key=1"]
    )
    with pytest.raises(
        TrainerError, match=r"'trainer.save_freqq'.*did you mean 'trainer.save_freq'"
    ):
        await trainer.train()
    assert trainer.state is TrainerState.FAILED
    assert not (tmp_path / "out" / "verl.log").exists()  # nothing was launched
    added = make_trainer(tmp_path / "b", dry_run=True, verl_overrides=["+trainer.new_key=1"])
    metrics = await added.train()  # Hydra's '+' adds a key: left to Hydra
    assert "+trainer.new_key=1" in metrics.extra["command"]


async def test_dry_run_writes_parquet_in_verls_schema(tmp_path: Path, capsys: Any) -> None:
    trainer = make_trainer(tmp_path, dry_run=True, data_source="arith")
    metrics = await trainer.train()
    assert trainer.state is TrainerState.COMPLETED
    command = metrics.extra["command"]
    assert command[:2] == [sys.executable, FAKE_MAIN]
    assert command[2:] == metrics.extra["overrides"]
    assert "custom_reward_function.name=compute_score" in command
    assert f"custom_reward_function.path={Path(score.__file__).resolve()}" in command
    printed = capsys.readouterr().out
    assert "trainer.logger=[console,file]" in printed and FAKE_MAIN in printed
    out = tmp_path / "out"
    assert not (out / "verl.log").exists()  # nothing ran
    table = pq.read_table(out / "data" / "train.parquet")
    assert table.column_names == ["data_source", "prompt", "ability", "reward_model", "extra_info"]
    rows = table.to_pylist()
    assert len(rows) == len(DATA)
    for i, (row, record) in enumerate(zip(rows, DATA, strict=True)):
        prompt = record.get("input", record.get("prompt"))
        answer = record.get("answer", record.get("expected", record.get("output")))
        assert row["data_source"] == "arith" and row["ability"] == "agent"
        assert row["prompt"] == [
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": prompt},
        ]
        assert row["reward_model"] == {"style": "rule", "ground_truth": answer}
        assert row["extra_info"] == {"split": "train", "index": i, "question": prompt}
    test_rows = pq.read_table(out / "data" / "test.parquet").to_pylist()
    assert [r["extra_info"]["split"] for r in test_rows] == ["test"]
    assert f"data.val_files={out / 'data' / 'test.parquet'}" in command


async def test_no_system_message_without_instructions_and_train_file_as_val(
    tmp_path: Path,
) -> None:
    trainer = make_trainer(tmp_path, agent="org/model", test=None, dry_run=True)
    metrics = await trainer.train()
    rows = pq.read_table(tmp_path / "out" / "data" / "train.parquet").to_pylist()
    assert all(len(r["prompt"]) == 1 and r["prompt"][0]["role"] == "user" for r in rows)
    train_file = tmp_path / "out" / "data" / "train.parquet"
    assert f"data.val_files={train_file}" in metrics.extra["command"]
    assert "actor_rollout_ref.model.path=org/model" in metrics.extra["command"]


def test_score_module_calls_user_functions() -> None:
    trainer = VeRLTrainer()
    responses = ["5 apples", "41", "Paris is", ""]
    answers = ["5", "42", "Paris", "x"]
    for fn in (first_word_reward, verl_style_reward):
        trainer.check_reward(fn)
        kwargs = trainer._reward_plan.reward_kwargs
        sources = ["x", "y", "x", "y"]
        batch = score.compute_score_batch(sources, responses, answers, None, **kwargs)
        got = [d["score"] for d in batch]
        if fn is first_word_reward:
            expected = [fn(r, a) for r, a in zip(responses, answers, strict=True)]
        else:
            expected = [fn(s, r, a) for s, r, a in zip(sources, responses, answers, strict=True)]
        assert got == expected
        singles = [  # as verl's reward manager calls it: keywords, reward_kwargs merged in
            score.compute_score(
                data_source=s, solution_str=r, ground_truth=a, extra_info={}, **kwargs
            )["score"]
            for s, r, a in zip(sources, responses, answers, strict=True)
        ]
        assert singles == expected


def _verl_get_custom_reward_fn() -> Any:
    reward = pytest.importorskip("verl.trainer.ppo.reward")
    return reward.get_custom_reward_fn


@pytest.mark.parametrize("reward", [None, first_word_reward, verl_style_reward])
def test_verls_own_loader_scores_through_the_score_module(tmp_path: Path, reward: Any) -> None:
    """Compose verl's config with the overrides as ``main_ppo`` does, load the reward
    function with verl's ``get_custom_reward_fn`` and call it as its naive reward manager
    does (keywords, ``reward_kwargs`` merged in)."""
    config_dir = _verl_config_dir()
    hydra = pytest.importorskip("hydra")
    get_custom_reward_fn = _verl_get_custom_reward_fn()
    trainer = VeRLTrainer()
    trainer.check_reward(reward)
    cfg = VeRLConfig(model_name="m")
    p = tmp_path / "x"
    overrides = build_overrides(
        cfg,
        train_file=p,
        val_file=p,
        output_dir=p,
        reward_kwargs=trainer._reward_plan.reward_kwargs,
    )
    with hydra.initialize_config_dir(config_dir=str(config_dir), version_base=None):
        composed = hydra.compose("ppo_trainer", overrides=overrides)
    fn = get_custom_reward_fn(composed)
    assert fn is not None
    cases = [("x", "5 apples", "5"), ("y", "41", "42"), ("x", "\\frac{1}{2}", "0.5")]
    got = [
        fn(data_source=d, solution_str=r, ground_truth=a, extra_info={"index": 0})["score"]
        for d, r, a in cases
    ]
    if reward is None:
        from orbiter.train import rewards

        expected = [float(rewards.math_equal([r], [a])[0]) for _, r, a in cases]
    elif reward is first_word_reward:
        expected = [first_word_reward(r, a) for _, r, a in cases]
    else:
        expected = [verl_style_reward(d, r, a) for d, r, a in cases]
    assert got == expected


def test_score_module_runs_in_a_fresh_process(tmp_path: Path) -> None:
    """verl's workers load the file by path, under another name, with no ``tests`` on
    sys.path: the user's module is found through ``search_path``."""
    trainer = VeRLTrainer()
    trainer.check_reward(first_word_reward)
    kwargs = trainer._reward_plan.reward_kwargs
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('custom_module_1', {score.__file__!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        f"kw = {kwargs!r}\n"
        "print(m.compute_score('s', '5 apples', '5', **kw)['score'],"
        " m.compute_score('s', 'no', '5', **kw)['score'])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1.0", "0.0"]


@pytest.mark.parametrize("name", CORE_REWARDS)
def test_score_module_scores_exactly_like_the_core(name: str) -> None:
    """Needs ``orbiter.train.rewards`` (the scoring core)."""

    responses = ["The answer is 5", "42", "\\frac{1}{2}", "0.5", "Paris", "paris.", "", "x y z"]
    answers = ["5", "42", "0.5", "\\frac{1}{2}", "Paris", "Paris", "1", "x y"]
    trainer = VeRLTrainer()
    trainer.check_reward(name)
    kwargs = trainer._reward_plan.reward_kwargs
    expected = [float(x) for x in text_reward(name)(responses, answers)]
    sources = ["s"] * len(responses)
    batch = score.compute_score_batch(sources, responses, answers, None, **kwargs)
    assert [d["score"] for d in batch] == expected
    assert [d["acc"] for d in batch] == [x >= 1.0 for x in expected]
    singles = [
        score.compute_score("s", r, a, **kwargs) for r, a in zip(responses, answers, strict=True)
    ]
    assert singles == batch


async def test_evaluate_scores_generations_in_process(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path, reward=first_word_reward)
    generations = [
        {"input": "q1", "answer": "5", "response": "5 because"},
        {"input": "q2", "expected": "42", "output": "41"},
        {"input": "q3", "answer": "Paris", "output": "Paris!"},
        {"input": "q4", "answer": "x", "response": "x"},
    ]
    metrics = await trainer.evaluate(generations)
    expected = [1.0, 0.0, 0.0, 1.0]
    assert metrics.extra["scores"] == expected
    assert metrics.accuracy == sum(expected) / 4 and metrics.steps == 4
    assert (metrics.extra["min"], metrics.extra["max"], metrics.extra["n"]) == (0.0, 1.0, 4)
    assert trainer.state is TrainerState.VALIDATED  # evaluation does not move the lifecycle


async def test_evaluate_default_reward_is_the_cores_math_equal(tmp_path: Path) -> None:
    """Needs ``orbiter.train.rewards`` (the scoring core)."""
    from orbiter.train import rewards

    trainer = make_trainer(tmp_path)
    responses, answers = ["5", "6", "\\frac{1}{2}"], ["5", "5", "0.5"]
    metrics = await trainer.evaluate(
        [
            {"input": "q", "answer": a, "response": r}
            for r, a in zip(responses, answers, strict=True)
        ]
    )
    assert metrics.extra["scores"] == [float(x) for x in rewards.math_equal(responses, answers)]


# -- launching (stand-in entry point) ----------------------------------------------------------


def _env(tmp_path: Path, **values: Any) -> dict[str, str]:
    env = {"FAKE_VERL_ARGS": str(tmp_path / "args.json")}
    env.update({f"FAKE_VERL_{k.upper()}": str(v) for k, v in values.items()})
    return env


async def test_train_launches_streams_and_parses_metrics(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    trainer = make_trainer(tmp_path, env=_env(tmp_path, steps=4))
    with caplog.at_level(logging.INFO, logger="orbiter.train.verl"):
        metrics = await trainer.train()
    assert trainer.state is TrainerState.COMPLETED
    assert [t.target for t in trainer.history][-2:] == [
        TrainerState.TRAINING,
        TrainerState.COMPLETED,
    ]
    assert metrics.steps == 4
    assert metrics.loss == -0.04
    assert metrics.accuracy == 0.4
    assert metrics.extra["response_length/mean"] == 104
    assert metrics.extra["val-core/orbiter/reward/mean@1"] == 0.25
    received = json.loads((tmp_path / "args.json").read_text())
    assert received == metrics.extra["command"][2:]
    log = (tmp_path / "out" / "verl.log").read_text().splitlines()
    assert "WARNING: a line on stderr" in log  # stderr is merged
    assert log[0].startswith("=== orbiter-train: ") and FAKE_MAIN in log[0]
    assert sum("step:" in line for line in log) == 5  # the console logger, streamed
    assert (tmp_path / "out" / "verl_metrics.jsonl").is_file()  # where the metrics came from
    assert "val-aux/nan" not in metrics.extra  # orjson's null for NaN is not a metric
    logged = [r.getMessage() for r in caplog.records]
    assert any(m.endswith("INFO noise line 0") for m in logged)
    assert any("step:4 - actor/pg_loss:-0.04" in m for m in logged)
    assert metrics.extra["log"] == str(tmp_path / "out" / "verl.log")


async def test_metrics_come_from_the_file_logger_path_in_extra_env(tmp_path: Path) -> None:
    env = {**_env(tmp_path, steps=2), "VERL_FILE_LOGGER_PATH": "logs/m.jsonl"}
    trainer = make_trainer(tmp_path, env=env)
    metrics = await trainer.train()
    path = tmp_path / "out" / "logs" / "m.jsonl"  # relative to output_dir, verl's cwd
    assert [json.loads(line)["step"] for line in path.read_text().splitlines()] == [0, 1, 2]
    assert (metrics.steps, metrics.loss) == (2, -0.02)
    assert f"++{RUNTIME_ENV_VARS}.VERL_FILE_LOGGER_PATH={path}" in metrics.extra["command"]


async def test_a_user_logger_override_keeps_the_file_logger(tmp_path: Path) -> None:
    overrides = ["trainer.logger=[console,wandb]", "trainer.save_freq=5"]
    trainer = make_trainer(tmp_path, env=_env(tmp_path), verl_overrides=overrides)
    metrics = await trainer.train()
    assert metrics.extra["command"][-2:] == ["trainer.logger=[console,wandb,file]", overrides[1]]
    assert metrics.steps == 3 and metrics.loss == -0.03


async def test_reward_module_is_the_one_verl_is_pointed_at(tmp_path: Path) -> None:
    """The stand-in loads ``custom_reward_function.path``/``.name`` and scores the
    training file's ground truths against themselves, as verl's reward manager would."""
    trainer = make_trainer(tmp_path, reward=verl_style_reward, env=_env(tmp_path, score=1))
    metrics = await trainer.train()
    assert metrics.accuracy == 1.0  # len(x) == len(x), data_source "orbiter" adds nothing


async def test_nonzero_exit_fails_with_the_log_tail(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path, env=_env(tmp_path, exit=3, noise=100, steps=0))
    with pytest.raises(TrainerError, match="verl exited with status 3") as info:
        await trainer.train()
    assert trainer.state is TrainerState.FAILED
    message = str(info.value)
    assert "RuntimeError: CUDA out of memory" in message
    assert "noise line 99" in message
    assert "noise line 50" not in message  # only the last 40 lines
    tail = message.split(":\n", 1)[1].splitlines()
    assert len(tail) == 40


async def test_missing_entry_point_fails(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path, verl_entry="orbiter_no_such_verl_module")
    with pytest.raises(TrainerError, match="No module named"):
        await trainer.train()
    assert trainer.state is TrainerState.FAILED


@pytest.mark.parametrize("ignore_term", [0, 1], ids=["sigterm", "sigkill-after-grace"])
async def test_cancellation_kills_the_process_and_leaves_failed(
    tmp_path: Path, ignore_term: int
) -> None:
    pidfile = tmp_path / "pid"
    env = _env(tmp_path, sleep=60, pidfile=pidfile, ignore_term=ignore_term)
    trainer = make_trainer(tmp_path, env=env, kill_grace_s=0.5)
    task = asyncio.create_task(trainer.train())
    for _ in range(200):
        if pidfile.exists() and pidfile.read_text():
            break
        await asyncio.sleep(0.05)
    pid = int(pidfile.read_text())
    assert trainer.state is TrainerState.TRAINING
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert trainer.state is TrainerState.FAILED
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail(f"verl stand-in {pid} still alive after cancellation")


async def test_train_requires_validation_and_a_model(tmp_path: Path) -> None:
    trainer = VeRLTrainer()
    with pytest.raises(TrainerError, match="must be validated"):
        await trainer.train()
    assert trainer.state is TrainerState.CREATED
    trainer.check_dataset(DATA)
    trainer.mark_validated()
    with pytest.raises(TrainerError, match="no model to train"):
        await trainer.train()
    assert trainer.state is TrainerState.VALIDATED


async def test_evaluate_without_generations_runs_val_only(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path, env=_env(tmp_path))
    metrics = await trainer.evaluate()
    command = metrics.extra["command"]
    assert "trainer.val_only=true" in command and "trainer.val_before_train=true" in command
    assert metrics.accuracy == 0.25 and metrics.steps == 0
    assert trainer.state is TrainerState.VALIDATED
    metrics = await trainer.evaluate([{"input": "q", "output": "Paris"}])  # answers only
    assert "trainer.val_only=true" in metrics.extra["command"]


async def test_evaluate_val_only_failure_raises(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path, env=_env(tmp_path, exit=1))
    with pytest.raises(TrainerError, match="status 1"):
        await trainer.evaluate()
    assert trainer.state is TrainerState.VALIDATED
