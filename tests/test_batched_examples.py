"""A dataset read as columns and tokenized in batches gives what reading and tokenizing it
one record at a time gives: the same examples, the same ids, the same first error."""

from __future__ import annotations

from collections import UserDict
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orbiter.train.data import RaggedTokens
from orbiter.train.errors import TrainerError, TrainerTypeError, TrainerValueError
from orbiter.train.records import (
    Columns,
    Example,
    Examples,
    missing_reference,
    parse_record,
    require_references,
)

torch = pytest.importorskip("torch")

from orbiter.train.agents import Environment  # noqa: E402
from orbiter.train.torch import ByteTokenizer, PolicyAgent, TinyCausalLM  # noqa: E402
from orbiter.train.torch.agent import TokenizerAdapter  # noqa: E402
from orbiter.train.torch.batches import column_names, prompt_ids, tokenize  # noqa: E402
from orbiter.train.torch.dataset import load_examples  # noqa: E402

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)


class Text(str):
    """A str subclass: read by parse_record, not by the core's walk."""


def _reference(records: list[Any], name: str, columns: Columns | None = None) -> list[Example]:
    return [parse_record(r, f"{name}[{i}]", columns=columns) for i, r in enumerate(records)]


# ---------------------------------------------------------------- byte rows in the core


@settings(max_examples=60, deadline=None)
@given(
    texts=st.lists(TEXT, max_size=20),
    prefix=TEXT,
    bos=st.booleans(),
    eos=st.booleans(),
)
def test_from_utf8_is_the_byte_tokenizer_row_by_row(
    texts: list[str], prefix: str, bos: bool, eos: bool
) -> None:
    tok = ByteTokenizer()
    rows = tok.encode_batch(texts, prefix=prefix, add_bos=bos, add_eos=eos)
    assert rows.dtype == np.int32
    assert len(rows) == len(texts)
    for i, text in enumerate(texts):
        assert rows[i].tolist() == tok.encode(prefix + text, add_bos=bos, add_eos=eos)


def test_from_utf8_names_the_bad_text() -> None:
    with pytest.raises(TrainerTypeError, match=r"texts\[2\]: expected a str, got int"):
        RaggedTokens.from_utf8(["a", "b", 3])
    with pytest.raises(TrainerValueError, match=r"texts\[1\]: not UTF-8 text \(a lone surrogate"):
        RaggedTokens.from_utf8(["a", "x\ud800"])
    with pytest.raises(TrainerValueError, match="bos: 4294967296 does not fit int32"):
        RaggedTokens.from_utf8(["a"], bos=2**32)
    with pytest.raises(TrainerValueError, match="eos"):
        RaggedTokens.from_utf8(["a"], eos=-1)
    assert len(RaggedTokens.from_utf8([])) == 0


# ---------------------------------------------------------------- batched prompts and answers


CONVERSATIONS: list[Any] = [
    "12+30=",
    "",
    "héllo ∑",
    ({"role": "user", "content": "2+2="},),
    ({"role": "system", "content": "be brief"}, {"role": "user", "content": "3+4="}),
    ({"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}),
]


@pytest.mark.parametrize("instructions", ["", "Answer with a number."])
def test_byte_prompt_tokens_match_prompt_ids(instructions: str) -> None:
    tok = TokenizerAdapter(ByteTokenizer())
    for prompts in (CONVERSATIONS, [p for p in CONVERSATIONS if isinstance(p, str)]):
        rows = tok.prompt_tokens(prompts, instructions)
        assert [rows[i].tolist() for i in range(len(rows))] == [
            tok.prompt_ids(p, instructions) for p in prompts
        ]
    answers = ["579", "", "ünï"]
    rows = tok.answer_tokens(answers)
    assert [rows[i].tolist() for i in range(len(rows))] == [tok.encode_answer(a) for a in answers]


@pytest.mark.parametrize("template", [False, True])
def test_transformers_prompt_tokens_match_prompt_ids(template: bool) -> None:
    pytest.importorskip("transformers")
    from tests.offline_models import bpe_tokenizer

    hf = bpe_tokenizer(["12+30=42 héllo ∑ be brief 2+2=4 3+4=7"] * 4)
    if template:
        hf.chat_template = (
            "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}\n{% endfor %}"
            "{% if add_generation_prompt %}<assistant>{% endif %}"
        )
    tok = TokenizerAdapter(hf)
    rows = tok.prompt_tokens(CONVERSATIONS, "Answer.")
    assert [rows[i].tolist() for i in range(len(rows))] == [
        tok.prompt_ids(p, "Answer.") for p in CONVERSATIONS
    ]
    answers = ["42", "", "héllo"]
    rows = tok.answer_tokens(answers)
    assert [rows[i].tolist() for i in range(len(rows))] == [tok.encode_answer(a) for a in answers]


# ---------------------------------------------------------------- examples as columns

VALUE = st.one_of(
    TEXT,
    TEXT.map(Text),
    st.integers(-5, 5),
    st.floats(allow_nan=False, width=32),
    st.none(),
)
KEY = st.sampled_from(["input", "prompt", "answer", "expected", "output", "id", "question"])
RECORD = st.one_of(
    # two text keys, in either order: the core's walk
    st.tuples(
        st.sampled_from(["input", "prompt"]), TEXT, st.sampled_from(["answer", "output"])
    ).flatmap(lambda t: st.sampled_from([{t[0]: t[1], t[2]: "a"}, {t[2]: "a", t[0]: t[1]}])),
    st.dictionaries(KEY, VALUE, max_size=4),
    st.dictionaries(KEY, TEXT, max_size=3).map(UserDict),
    st.just([1, 2]),
)


def _outcome(read: Any) -> tuple[str, Any]:
    try:
        return "ok", read()
    except TrainerError as err:
        return type(err).__name__, str(err)


@settings(max_examples=150, deadline=None)
@given(
    records=st.lists(RECORD, min_size=1, max_size=12),
    columns=st.sampled_from([None, Columns(answer="question"), Columns(prompt="question")]),
)
def test_examples_of_records_are_parse_record_row_by_row(
    records: list[Any], columns: Columns | None
) -> None:
    ours = _outcome(lambda: Examples.of_records(records, "train_data", columns))
    reference = _outcome(lambda: _reference(records, "train_data", columns))
    assert ours[0] == reference[0]
    if ours[0] != "ok":
        assert ours[1] == reference[1]  # the same row, the same message
        return
    table, examples = ours[1], reference[1]
    assert len(table) == len(examples)
    assert list(table) == examples
    assert [table[i] for i in range(-len(examples), 0)] == examples
    assert table[1:] == examples[1:]
    assert table.prompts == [e.prompt for e in examples]
    assert table.answers == [e.answer for e in examples]
    assert column_names(table) == column_names(examples)
    missing = [i for i, e in enumerate(examples) if e.answer_key is None]
    assert table.first_without_answer() == (missing[0] if missing else None)
    shown = dict(table.shapes())
    assert all(shown[i] == examples[i] for i in shown)
    # every shape of record is shown once at least, at its first row
    first_of = {}
    for i, e in enumerate(examples):
        first_of.setdefault((e.answer_key, e.keys, tuple(e.columns)), i)
    assert set(first_of.values()) <= set(shown)
    assert _outcome(lambda: require_references(table, "t", "math_equal")) == _outcome(
        lambda: require_references(examples, "t", "math_equal")
    )


def test_examples_take_the_text_records_in_the_core() -> None:
    records = [{"input": f"{i}+1=", "answer": str(i + 1)} for i in range(1000)]
    records[600] = {"answer": "x", "prompt": "p", "id": 3}
    table = Examples.of_records(records, "train_data", None)
    assert [i for i, _ in table.parsed()] == [600]
    assert table[5] == Example("5+1=", "6", answer_key="answer", keys=("input", "answer"))
    assert table[600].columns == {"id": 3}
    assert column_names(table) == ("id",)


def test_the_first_bad_record_is_named_as_before() -> None:
    records: list[Any] = [{"input": f"{i}+1=", "answer": str(i + 1)} for i in range(2000)]
    records[1500] = {"input": 7, "answer": "8"}
    records[1700] = {"answer": "8"}
    with pytest.raises(TrainerTypeError) as ours:
        load_examples(records, "train_data")
    with pytest.raises(TrainerValueError, match=r"t\[1700\]: missing required"):
        load_examples([*records[:1500], {"input": "7", "answer": "8"}, *records[1501:]], "t")
    with pytest.raises(TrainerTypeError) as reference:
        _reference(records, "train_data")
    assert str(ours.value) == str(reference.value)
    assert str(ours.value).startswith("train_data[1500]: 'input' must be")
    records[1500] = {"input": "7", "answer": "8"}
    records[1700] = {"input": "q"}
    records[42] = {"input": "q"}
    table = load_examples(records, "train_data")
    with pytest.raises(TrainerValueError) as err:
        require_references(table, "train_data", "math_equal")
    assert str(err.value) == str(missing_reference("train_data[42]", ("input",), "math_equal"))


def test_pretokenized_examples() -> None:
    tokens = RaggedTokens.from_sequences([[1, 2], [3]])
    table = load_examples((tokens, ["a", "b"]), "train_data")
    assert list(table) == [
        Example("", "a", (1, 2), answer_key="answers"),
        Example("", "b", (3,), answer_key="answers"),
    ]
    assert load_examples(tokens, "train_data").first_without_answer() == 0


# ---------------------------------------------------------------- tokenize


def _agent(instructions: str = "", **kw: Any) -> tuple[PolicyAgent, TokenizerAdapter]:
    model = TinyCausalLM(d_model=16, n_layers=1, n_heads=2, max_positions=64)
    agent = PolicyAgent(model, ByteTokenizer(), instructions=instructions, **kw)
    return agent, TokenizerAdapter(agent.tokenizer)


@pytest.mark.parametrize("instructions", ["", "Add the numbers."])
def test_tokenize_gives_the_ids_of_one_record_at_a_time(instructions: str) -> None:
    records: list[Any] = [{"input": f"{i}+{i}=", "answer": str(2 * i)} for i in range(50)]
    records[7] = {"prompt": [{"role": "user", "content": "1+1="}], "answer": 2, "level": 1}
    agent, tok = _agent(instructions)
    table = load_examples(records, "train_data")
    data = tokenize(table, "train_data", agent, tok)
    examples = _reference(records, "train_data")
    assert [data.prompts[i] for i in range(len(examples))] == [
        prompt_ids(tok, agent, e) for e in examples
    ]
    assert data.answers[:] == [tok.encode_answer(e.answer) for e in examples]
    assert data.longest_prompt == max(len(prompt_ids(tok, agent, e)) for e in examples)
    assert data.column_names == ("level",)
    # a plain list of examples is tokenized alike
    again = tokenize(examples, "train_data", agent, tok)
    assert again.prompts[:] == data.prompts[:]
    assert again.answers[:] == data.answers[:]


def test_tokenize_names_the_row_too_long_for_the_model() -> None:
    records = [{"input": "1+1=", "answer": "2"}] * 30
    records = [*records, {"input": "9" * 80, "answer": "9"}]
    agent, tok = _agent()
    with pytest.raises(TrainerError, match=r"(?s)train_data: FAILED: 31 rows.*row 30: too long"):
        tokenize(load_examples(records, "train_data"), "train_data", agent, tok)


def test_reset_fields_are_checked_on_every_kind_of_row() -> None:
    class Needs(Environment):
        def reset(self, prompt: str, answer: str, level: int) -> None:
            self.level = level

    records: list[Any] = [{"input": "1+1=", "answer": "2", "level": 1}] * 5
    records += [{"input": "2+2=", "answer": "4"}] * 5
    agent, tok = _agent(environment=Needs)
    with pytest.raises(TrainerError, match=r"train_data\[5\]: Needs.reset requires 'level'"):
        tokenize(load_examples(records, "train_data"), "train_data", agent, tok)
