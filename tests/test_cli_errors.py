"""Every CLI failure is one line, ``orbiter-train: error: …``, and a non-zero exit: never a
traceback (issue 14, item 4: bad inputs that ended in one)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")

from orbiter.train.cli import main

GOOD = '{"input": "1+1=", "answer": "2"}\n'


def _files(tmp: Path) -> dict[str, Path]:
    files = {
        "good.jsonl": GOOD.encode(),
        "bad_utf8.jsonl": b'{"input": "\xff", "answer": "1"}\n',
        "big_int.jsonl": ('{"input": "a", "answer": ' + "9" * 5000 + "}\n").encode(),
        "deep.jsonl": ('{"input": ' + "[" * 100_000 + "]" * 100_000 + "}\n").encode(),
        "bad_utf8.toml": b"\xff = 1\n",
        "big_int.toml": ("[trainer]\nseed = " + "9" * 5000 + "\n").encode(),
        "deep.toml": ("x = " + "[" * 5000 + "]" * 5000 + "\n").encode(),
        "reward_str.toml": b'reward = "x"\n[data]\ntrain = "good.jsonl"\n',
        "model_str.toml": b'model = "x"\n[data]\ntrain = "good.jsonl"\n',
        "unknown_table.toml": b'[trainr]\nseed = 1\n[data]\ntrain = "good.jsonl"\n',
        "heads0.toml": b'[model]\nn_heads = 0\n[data]\ntrain = "good.jsonl"\n',
        "d_model_neg.toml": b'[model]\nd_model = -8\n[data]\ntrain = "good.jsonl"\n',
        "nul_dir.toml": b'[trainer]\noutput_dir = "a\\u0000b"\n[data]\ntrain = "good.jsonl"\n',
        "no_train.toml": b"[data]\n",
    }
    for name, data in files.items():
        (tmp / name).write_bytes(data)
    (tmp / "run_bad_cfg").mkdir()
    (tmp / "run_bad_cfg" / "model_config.json").write_text("{bad")
    (tmp / "run_list_cfg").mkdir()
    (tmp / "run_list_cfg" / "model_config.json").write_text(json.dumps([1]))
    return {name: tmp / name for name in files}


CASES = [
    (["validate", "bad_utf8.jsonl"], "not UTF-8"),
    (["validate", "big_int.jsonl"], "more than"),
    (["validate", "deep.jsonl"], "nested too deeply"),
    (["validate", "missing.jsonl"], "cannot read"),
    (["train", "bad_utf8.toml"], "not UTF-8"),
    (["train", "big_int.toml"], "more than"),
    (["train", "deep.toml"], "nested too deeply"),
    (["train", "reward_str.toml"], "[reward] table"),
    (["train", "model_str.toml"], "[model] table"),
    (["train", "unknown_table.toml"], "did you mean 'trainer'"),
    (["train", "heads0.toml"], "n_heads"),
    (["train", "d_model_neg.toml"], "d_model"),
    (["train", "nul_dir.toml"], "output_dir"),
    (["train", "no_train.toml"], "needs 'train'"),
    (["train", "missing.toml"], "cannot read config"),
    (["eval", "run_bad_cfg", "good.jsonl"], "not a model config"),
    (["eval", "run_list_cfg", "good.jsonl"], "not a model config"),
    (["eval", "nowhere", "good.jsonl"], "no checkpoint"),
    (["demo", "--threads", "0"], "--threads"),
    (["demo", "--rl-steps", "x"], "--rl-steps"),
    (["eval", "nowhere", "good.jsonl", "--max-new-tokens", "0"], "--max-new-tokens"),
]


@pytest.mark.parametrize(("argv", "message"), CASES, ids=[" ".join(c[0]) for c in CASES])
def test_one_line_error(
    argv: list[str],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _files(tmp_path)
    monkeypatch.chdir(tmp_path)
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse's own usage errors
        code = int(exit_.code or 0)
    err = capsys.readouterr().err
    assert code != 0
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("orbiter-train"), err
    assert ": error: " in last and message in last, err
