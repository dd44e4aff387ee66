"""The one record format and its JSONL reader (``orbiter.train.records``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orbiter.train.errors import TrainerError
from orbiter.train.records import Example, parse_record, read_jsonl


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\u0085", "\x1c", "\x0b"])
def test_records_may_hold_unicode_line_separators(tmp_path: Path, separator: str) -> None:
    """Only "\\n" ends a JSON line (issue 14: str.splitlines() split these records)."""
    record = {"input": f"a{separator}b", "answer": "c"}
    path = tmp_path / "data.jsonl"
    path.write_text(json.dumps(record, ensure_ascii=False) + "\r\n\n", encoding="utf-8")
    assert read_jsonl(path, "train_data") == [record]


def test_bad_lines_are_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"input": "a"}\n{oops\n', encoding="utf-8")
    with pytest.raises(
        TrainerError, match=r"train_data\[1\]: line 2 of '.*bad\.jsonl': invalid JSON"
    ):
        read_jsonl(path, "train_data")
    with pytest.raises(TrainerError, match="cannot read"):
        read_jsonl(tmp_path / "missing.jsonl", "train_data")


def test_parse_record() -> None:
    assert parse_record({"prompt": "p", "expected": 42}, "r") == Example("p", "42")
    assert parse_record({"input": "p"}, "r") == Example("p", "")
    with pytest.raises(TrainerError, match=r"r: missing key 'answer'"):
        parse_record({"input": "p"}, "r", require_answer=True)
    with pytest.raises(TrainerError, match=r"r: 'input' must be a str, got int"):
        parse_record({"input": 3}, "r")
    with pytest.raises(TrainerError, match="r must be a dict, got list"):
        parse_record(["input"], "r")
