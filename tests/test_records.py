"""The one record format and its JSONL reader (``orbiter.train.records``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orbiter.train.errors import TrainerError
from orbiter.train.records import Columns, Example, parse_record, read_jsonl, require_references


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
    assert parse_record({"prompt": "p", "expected": 42, "id": 7}, "r") == Example(
        "p", "42", answer_key="expected", keys=("prompt", "expected", "id"), columns={"id": 7}
    )
    assert parse_record({"input": "p"}, "r") == Example("p", "", keys=("input",))
    with pytest.raises(TrainerError, match=r"r has no reference answer .*its keys are 'input'"):
        parse_record({"input": "p"}, "r", require_answer=True)
    with pytest.raises(
        TrainerError, match=r"r: 'input' must be a str or a list of .* messages, got int"
    ):
        parse_record({"input": 3}, "r")
    with pytest.raises(TrainerError, match="r must be a dict, got list"):
        parse_record(["input"], "r")


# A row of each dataset as its hub card shows it (GSM8K main, MATH / competition_math, TRL's
# prompt + solution), and the mapping that reads it.
GSM8K = {"question": "Natalia sold 48 clips ...", "answer": "She sold 24 ... #### 72"}
MATH = {"problem": "What is $1+1$?", "solution": "$\\boxed{2}$", "level": "Level 1"}
TRL = {"prompt": "Solve 2+3.", "solution": "5"}


@pytest.mark.parametrize(
    ("record", "columns", "prompt", "answer", "extra"),
    [
        (GSM8K, Columns(prompt="question"), GSM8K["question"], GSM8K["answer"], {}),
        (
            MATH,
            Columns("problem", "solution"),
            MATH["problem"],
            MATH["solution"],
            {"level": "Level 1"},
        ),
        (TRL, Columns(answer="solution"), "Solve 2+3.", "5", {}),
    ],
    ids=["gsm8k", "math", "trl"],
)
def test_column_mapping_reads_well_known_datasets(
    record: dict[str, str], columns: Columns, prompt: str, answer: str, extra: dict[str, str]
) -> None:
    example = parse_record(record, "train_data[0]", columns=columns)
    assert (example.prompt, example.answer, dict(example.columns)) == (prompt, answer, extra)


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (
            GSM8K,
            r"train_data\[0\]: missing required 'input' key "
            r".*did you mean prompt_column='question'",
        ),
        (
            MATH,
            r"missing required 'input' key .*'problem', 'solution', 'level'; "
            r"did you mean prompt_column='problem'",
        ),
    ],
)
def test_a_missing_prompt_suggests_the_column(record: dict[str, str], message: str) -> None:
    with pytest.raises(TrainerError, match=message):
        parse_record(record, "train_data[0]")


def test_an_unknown_answer_column_is_refused_when_the_reward_needs_one() -> None:
    # Without the mapping every reference was "" and every reward 0 (issue 13).
    example = parse_record(TRL, "train_data[0]")
    assert example.answer_key is None and dict(example.columns) == {"solution": "5"}
    with pytest.raises(ValueError, match=r"train_data\[0\] has no reference answer") as info:
        require_references([example], "train_data", "math_equal")
    message = str(info.value)
    assert "its keys are 'prompt', 'solution'" in message
    assert "the reward 'math_equal' scores each response against one" in message
    assert "did you mean answer_column='solution'?" in message
    require_references([parse_record(TRL, "r", columns=Columns(answer="solution"))], "t", "x")


def test_named_columns_must_be_present() -> None:
    with pytest.raises(
        TrainerError,
        match=r"t\[0\]: missing the answer column answer_column='sol'; "
        r"its keys are 'input', 'answer'",
    ):
        parse_record({"input": "q", "answer": "a"}, "t[0]", columns=Columns(answer="sol"))
    with pytest.raises(TrainerError, match=r"missing the prompt column prompt_column='q'"):
        parse_record({"input": "q"}, "t[0]", columns=Columns(prompt="q"))
    with pytest.raises(TrainerError, match=r"answer_column = 3: must be a column name"):
        Columns(answer=3)  # type: ignore[arg-type]


def test_conversational_prompts_are_checked_messages() -> None:
    chat = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}]
    example = parse_record({"prompt": chat, "answer": "4"}, "r")
    assert example.prompt == tuple(chat)
    for bad, message in [
        ([], "'prompt' is an empty conversation"),
        ([{"role": "user"}], r"'prompt'\[0\] must be a message"),
        ([{"role": "user", "content": 3}], r"'prompt'\[0\] must be a message"),
        (7, "'prompt' must be a str or a list of"),
    ]:
        with pytest.raises(TrainerError, match=message):
            parse_record({"prompt": bad, "answer": "4"}, "r")
