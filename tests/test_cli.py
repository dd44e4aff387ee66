"""The ``orbiter-train`` command line: demo, train, eval, validate."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

from orbiter.train.cli import main
from orbiter.train.torch import arithmetic_task


def write_jsonl(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_module_entry_point_prints_help() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "orbiter.train", "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    for command in ("demo", "train", "eval", "validate"):
        assert command in out


def test_demo_writes_metrics_curve_and_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "demo"
    summaries = []
    for _ in range(2):  # a second run in the same directory starts afresh, not resumed
        rc = main(["demo", "--output-dir", str(out), "--warmup-steps", "10", "--rl-steps", "4"])
        assert rc == 0
        table = capsys.readouterr().out
        assert "before RL" in table and "after RL" in table and "gain" in table
        rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
        assert [r["step"] for r in rows if "reward_mean" in r] == [1, 2, 3, 4]
        assert (out / "reward_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        summary = json.loads((out / "summary.json").read_text())
        assert summary["rl_steps"] == 4 and summary["settings"]["warmup_steps"] == 10
        gain = summary["held_out_accuracy_after_rl"] - summary["held_out_accuracy_after_warmup"]
        assert summary["gain_points"] == pytest.approx(100 * gain)
        summaries.append(summary)
    # Same seed, same start: the same result.
    assert summaries[0]["gain_points"] == summaries[1]["gain_points"]
    # `eval` loads the demo's model (its final/ export) and scores it as the demo did.
    assert sorted(p.name for p in (out / "final").iterdir()) == [
        "model.safetensors",
        "model_config.json",
    ]
    _, test = arithmetic_task(300, 100, max_operand=19, seed=0)  # the demo's held-out set
    data = write_jsonl(tmp_path / "held_out.jsonl", test)
    assert main(["eval", str(out), str(data), "--max-new-tokens", "4"]) == 0
    evaluation = json.loads(capsys.readouterr().out)
    assert evaluation["items"] == 100
    assert evaluation["accuracy"] == summaries[1]["held_out_accuracy_after_rl"]
    # the reference answers' NLL pins the weights (chunks of other sizes: float rounding)
    assert evaluation["loss"] == pytest.approx(summaries[1]["held_out_nll_after_rl"], rel=1e-5)


def test_agent_demo_writes_metrics_curve_and_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "demo-agent"
    (out / "warmup").mkdir(parents=True)  # an earlier run's
    (out / "warmup" / "metrics.jsonl").write_text('{"step": 99}\n')
    rc = main(
        ["demo", "--agent", "--output-dir", str(out), "--warmup-steps", "3", "--rl-steps", "2"]
    )
    assert rc == 0
    table = capsys.readouterr().out
    assert "before RL" in table and "tool-use rate" in table and "gain" in table
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in rows if "reward_mean" in r]
    assert [r["step"] for r in steps] == [1, 2]
    assert all("tool_use_rate" in r and "turns" in r for r in steps)  # multi-turn GRPO
    warmup = [json.loads(x) for x in (out / "warmup" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in warmup] == [1, 2, 3]  # the supervised warm-up, run afresh
    assert (out / "reward_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rl_steps"] == 2 and summary["settings"]["warmup_steps"] == 3
    assert summary["settings"]["max_turns"] == 2
    for key in ("held_out_tool_use_rate_after_warmup", "held_out_tool_use_rate_after_rl"):
        assert 0.0 <= summary[key] <= 1.0
    gain = summary["held_out_accuracy_after_rl"] - summary["held_out_accuracy_after_warmup"]
    assert summary["gain_points"] == pytest.approx(100 * gain)
    assert (out / "final" / "model.safetensors").is_file()


def test_agent_demo_task_and_its_demonstrations() -> None:
    from orbiter.train.torch.agent_demo import demonstration

    train, test = arithmetic_task(50, 10, min_operand=50_000, max_operand=99_999, seed=3)
    pairs = [tuple(int(x) for x in r["input"][:-1].split("+")) for r in train + test]
    assert all(50_000 <= x <= 99_999 for pair in pairs for x in pair)
    assert len(set(pairs)) == 60  # disjoint splits, no repeats
    assert all(r["answer"] == str(a + b) for r, (a, b) in zip(train + test, pairs, strict=True))
    # a lower bound of 0 draws the problems it always drew
    assert arithmetic_task(5, 2, max_operand=19, min_operand=0, seed=0) == arithmetic_task(
        5, 2, max_operand=19, seed=0
    )
    with pytest.raises(ValueError, match="min_operand <= max_operand"):
        arithmetic_task(1, 1, min_operand=5, max_operand=4)
    (a, b), record = pairs[0], train[0]
    messages = demonstration(record)["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "assistant"]
    assert messages[1]["tool_calls"][0]["function"] == {
        "name": "add",
        "arguments": {"a": a, "b": b},
    }
    assert messages[2]["content"] == messages[3]["content"] == record["answer"]
    assert demonstration(record, use_tool=False)["messages"][1:] == [
        {"role": "assistant", "content": record["answer"]}
    ]


def test_train_then_eval_from_a_toml_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train, test = arithmetic_task(48, 8, max_operand=9, seed=0)
    run = tmp_path / "run"
    config = tmp_path / "run.toml"
    config.write_text(
        f"""
[trainer]
algorithm = "grpo"
batch_size = 4
group_size = 4
max_new_tokens = 3
learning_rate = 1e-3
max_steps = 3
device = "cpu"
output_dir = "{run}"
[data]
train = "{write_jsonl(tmp_path / "train.jsonl", train)}"
test = "{write_jsonl(tmp_path / "test.jsonl", test)}"
[reward]
name = "math_equal"
[model]
d_model = 32
n_layers = 1
n_heads = 2
"""
    )
    assert main(["train", str(config)]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert lines[0]["steps"] == 3 and "eval_accuracy" in lines[1]
    assert main(["eval", str(run), str(tmp_path / "test.jsonl"), "--max-new-tokens", "3"]) == 0
    evaluation = json.loads(capsys.readouterr().out)
    assert evaluation["items"] == len(test)
    assert 0.0 <= evaluation["accuracy"] <= 1.0


def test_train_with_a_bad_config_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", str(tmp_path / "missing.toml")]) == 2
    assert "cannot read config" in capsys.readouterr().err
    config = tmp_path / "typo.toml"
    config.write_text('[trainer]\nlearnig_rate = 0.1\n[data]\ntrain = "x.jsonl"\n')
    assert main(["train", str(config)]) == 2
    assert "did you mean 'learning_rate'" in capsys.readouterr().err


def test_eval_without_a_checkpoint_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_jsonl(tmp_path / "test.jsonl", [{"input": "1+1=", "answer": "2"}])
    assert main(["eval", str(tmp_path / "no-run"), str(data)]) == 2
    assert "no checkpoint in" in capsys.readouterr().err
    (tmp_path / "bad-model").mkdir()
    (tmp_path / "bad-model" / "model_config.json").write_text('{"d_modle": 8}')
    assert main(["eval", str(tmp_path / "bad-model"), str(data)]) == 2
    assert "[model]" in capsys.readouterr().err


def test_validate_reports_good_and_bad_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = write_jsonl(tmp_path / "good.jsonl", [{"input": "1+1=", "answer": "2"}] * 3)
    assert main(["validate", str(good)]) == 0
    assert capsys.readouterr().out.startswith("OK: 3 records")
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"input": "1+1=", "answer": "2"}, {"input": "2+2="}])
    assert main(["validate", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "FAILED: 1 of 2 records" in out and "record 1: key 'answer' is missing" in out


def test_validate_runs_without_torch(tmp_path: Path) -> None:
    """``validate`` reads records through ``orbiter.train.records``, which needs no torch."""
    good = write_jsonl(tmp_path / "good.jsonl", [{"input": "1+1=", "answer": "2"}])
    script = (
        "import sys; sys.modules['torch'] = None\n"  # any 'import torch' now fails
        "from orbiter.train.cli import main\n"
        f"sys.exit(main(['validate', {str(good)!r}]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("OK: 1 records")
