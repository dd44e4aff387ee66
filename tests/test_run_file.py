"""`orbiter-train train CONFIG.toml`: the strict schema, the complete example file, a local
transformers model, a reward of the user's own, --version, -v anywhere and progress lines."""

from __future__ import annotations

import json
import logging
import shutil
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

import orbiter.train
from orbiter.train.cli import build_parser, main
from orbiter.train.errors import TrainerError
from orbiter.train.run_file import SCHEMA, load_run_file, schema_help
from tests.offline_models import bpe_tokenizer, tiny_gpt2

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of examples/ in a fresh working directory (the example's paths are relative)."""
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_example_file_is_complete_and_runs(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = load_run_file("examples/train.toml")
    written = {table: set(keys) for table, keys in run.tables.items()}
    for table, keys in SCHEMA.items():
        assert table in written, table
        if "*" not in keys:
            # every key of the schema is shown, set or in a comment
            text = (EXAMPLES / "train.toml").read_text()
            assert all(f"{key} =" in text for key in keys), table
    assert main(["train", "examples/train.toml"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert lines[0]["steps"] == run.tables["trainer"]["max_steps"]
    assert "eval_accuracy" in lines[1]
    assert (workdir / "runs" / "example" / "final" / "model.safetensors").is_file()


@pytest.mark.parametrize(
    ("table", "key", "hint"),
    [
        ("data", "tarin", "did you mean 'train'"),
        ("reward", "nmae", "did you mean 'name'"),
        ("model", "d_modle", "did you mean 'd_model'"),
        ("data", "answer_col", "did you mean 'answer_column'"),
    ],
)
def test_unknown_keys_are_errors_with_did_you_mean(
    tmp_path: Path, table: str, key: str, hint: str
) -> None:
    path = tmp_path / "run.toml"
    body = f'[{table}]\n{key} = "x"\n' + ('[data]\ntrain = "t.jsonl"\n' if table != "data" else "")
    path.write_text(body)
    with pytest.raises(TrainerError, match=f"\\[{table}\\] unknown key '{key}'.*{hint}"):
        load_run_file(path)


def test_schema_help_is_train_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    assert schema_help() in out
    for table, keys in SCHEMA.items():
        assert f"[{table}]" in out
        assert all(key in out for key in keys)


def test_version_and_verbose_anywhere(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"orbiter-train {orbiter.train.__version__}"
    parser = build_parser()
    assert parser.parse_args(["-v", "validate", "x.jsonl"]).verbose is True
    assert parser.parse_args(["validate", "x.jsonl", "-v"]).verbose is True
    assert getattr(parser.parse_args(["validate", "x.jsonl"]), "verbose", False) is False


def _tiny_run(workdir: Path, model: str, reward: str, steps: int = 2) -> Path:
    path = workdir / "run.toml"
    path.write_text(
        f"""
[trainer]
batch_size = 2
group_size = 2
max_new_tokens = 2
max_steps = {steps}
device = "cpu"
output_dir = "{workdir / "out"}"
[data]
train = "examples/arithmetic-train.jsonl"
[reward]
{reward}
[model]
{model}
"""
    )
    return path


def test_a_local_transformers_model_trains_and_exports(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    transformers = pytest.importorskip("transformers")
    texts = (workdir / "examples" / "arithmetic-train.jsonl").read_text().splitlines()
    tokenizer = bpe_tokenizer(texts)
    tiny_gpt2(tokenizer).save_pretrained(workdir / "gpt2")
    tokenizer.save_pretrained(workdir / "gpt2")
    run = _tiny_run(workdir, 'path = "gpt2"', 'name = "math_equal"')
    assert main(["train", str(run)]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[0])["steps"] == 2
    final = workdir / "out" / "final"
    loaded = transformers.AutoModelForCausalLM.from_pretrained(final, local_files_only=True)
    assert loaded.config.n_embd == 32
    # a model from path keeps its own sizes
    bad = _tiny_run(workdir, 'path = "gpt2"\nd_model = 8', 'name = "math_equal"')
    assert main(["train", str(bad)]) == 2
    assert "d_model size the built-in model only" in capsys.readouterr().err


def test_a_reward_of_ones_own_from_module_name(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (workdir / "my_rewards.py").write_text(
        "CALLS = []\n"
        "def starts_right(output, expected):\n"
        "    CALLS.append((output, expected))\n"
        "    return float(output.strip()[:1] == expected[:1])\n"
    )
    monkeypatch.delitem(sys.modules, "my_rewards", raising=False)
    run = _tiny_run(workdir, "d_model = 16\nn_layers = 1\nn_heads = 2",
                    'function = "my_rewards:starts_right"\nsearch_path = "."')  # fmt: skip
    assert main(["train", str(run)]) == 0
    import my_rewards  # type: ignore[import-not-found]

    assert len(my_rewards.CALLS) >= 2 * 2 * 2  # steps x prompts x group, plus the probe
    both = _tiny_run(workdir, "", 'name = "math_equal"\nfunction = "my_rewards:starts_right"')
    assert main(["train", str(both)]) == 2
    assert "name or function, not both" in capsys.readouterr().err
    missing = _tiny_run(workdir, "", 'function = "my_rewards:nope"')
    assert main(["train", str(missing)]) == 2
    assert "nope" in capsys.readouterr().err


def test_progress_lines_reach_the_log_without_a_terminal(
    workdir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    run = _tiny_run(workdir, "d_model = 16\nn_layers = 1\nn_heads = 2", 'name = "math_equal"', 3)
    with caplog.at_level(logging.INFO, logger="orbiter.train.progress"):
        assert main(["train", str(run)]) == 0
    lines = [r.getMessage() for r in caplog.records if r.name == "orbiter.train.progress"]
    assert [line.split(":")[0] for line in lines] == [
        "step 1/3 (33%)",
        "step 2/3 (67%)",
        "step 3/3 (100%)",
    ]
