"""``orbiter-train demo --output-dir D`` deletes nothing it did not write (issue 14, item 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")

from orbiter.train.errors import TrainerError
from orbiter.train.torch.demo import MARKER, prepare_run_dir


def test_a_new_or_empty_directory_is_used(tmp_path: Path) -> None:
    prepare_run_dir(tmp_path / "new" / "run")
    assert (tmp_path / "new" / "run" / MARKER).is_file()
    (tmp_path / "empty").mkdir()
    prepare_run_dir(tmp_path / "empty")


def test_someone_elses_files_are_never_deleted(tmp_path: Path) -> None:
    for name in ("checkpoint-500", "checkpoints_backup"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "weights.bin").write_bytes(b"x")
    (tmp_path / "checkpoint_notes.txt").write_text("notes")
    (tmp_path / "metrics.jsonl").write_text('{"step": 1}\n')
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    with pytest.raises(TrainerError, match="not an earlier demo run"):
        prepare_run_dir(tmp_path)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    with pytest.raises(TrainerError, match="is a file"):
        prepare_run_dir(tmp_path / "checkpoint_notes.txt")


def test_an_earlier_demo_run_loses_exactly_its_own_names(tmp_path: Path) -> None:
    prepare_run_dir(tmp_path)
    for run in (tmp_path, tmp_path / "warmup"):
        (run / "checkpoint").mkdir(parents=True)
        (run / "checkpoint" / "state.json").write_text("{}")
        (run / "checkpoint.old").mkdir()
        (run / "metrics.jsonl").write_text("{}\n")
    (tmp_path / "summary.json").write_text("{}")
    (tmp_path / "my_notes.txt").write_text("keep me")
    (tmp_path / "checkpoint-500").mkdir()  # a look-alike the demo never writes
    prepare_run_dir(tmp_path)
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    assert left == [MARKER, "checkpoint-500", "my_notes.txt", "warmup"]
