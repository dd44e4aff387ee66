"""One prompt rendering for both backends (``orbiter.train.prompts``): TorchTrainer's prompt
ids equal what verl's workers make of the chat messages VeRLTrainer writes, with a real
transformers tokenizer and chat template built offline; the byte tokenizer's fallback
keeps the original text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

from orbiter.train.torch import (  # noqa: E402
    ByteTokenizer,
    PolicyAgent,
    TinyCausalLM,
    TorchTrainer,
)
from orbiter.train.torch.agent import TokenizerAdapter  # noqa: E402
from orbiter.train.verl import VeRLTrainer  # noqa: E402

SPECIAL = ["[UNK]", "[PAD]", "<s>", "</s>", "<|system|>", "<|user|>", "<|assistant|>"]
# A Zephyr-style template: the role tags are special tokens, the generation prompt opens
# the assistant's turn.
TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} "
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
INSTRUCTIONS = "Be brief ."
CHAT = [
    {"role": "user", "content": "What is 2 + 3 ?"},
    {"role": "assistant", "content": "5"},
    {"role": "user", "content": "And 1 + 1 ?"},
]
RECORDS = [
    {"prompt": "What is 2 + 3 ?", "answer": "5"},
    {"prompt": CHAT, "answer": "2"},
    {"prompt": [{"role": "system", "content": "Show work ."}, *CHAT], "answer": "2"},
]


def chat_tokenizer(template: str | None = TEMPLATE) -> Any:
    """A word-level PreTrainedTokenizerFast trained on the test's text, with *template*."""
    model = tokenizers.Tokenizer(tokenizers.models.WordLevel(unk_token="[UNK]"))
    model.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    text = "Be brief . Show work . What is 2 + 3 ? 5 And 1 + 1 ? 2"
    model.train_from_iterator([text], tokenizers.trainers.WordLevelTrainer(special_tokens=SPECIAL))
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=model,
        unk_token="[UNK]",
        pad_token="[PAD]",
        bos_token="<s>",
        eos_token="</s>",
    )
    fast.chat_template = template
    return fast


def expected_messages(prompt: Any) -> list[dict[str, str]]:
    """The messages each record stands for, written out by hand."""
    if isinstance(prompt, str):
        return [{"role": "system", "content": INSTRUCTIONS}, {"role": "user", "content": prompt}]
    if prompt[0]["role"] == "system":
        head = {"role": "system", "content": f"{INSTRUCTIONS}\n{prompt[0]['content']}"}
        return [head, *prompt[1:]]
    return [{"role": "system", "content": INSTRUCTIONS}, *prompt]


def torch_prompt_ids(tokenizer: Any, records: list[dict[str, Any]]) -> list[list[int]]:
    model = TinyCausalLM(vocab_size=max(len(tokenizer), 259), d_model=16, n_layers=1, n_heads=2)
    trainer = TorchTrainer()
    trainer.check_agent(PolicyAgent(model, tokenizer, INSTRUCTIONS))
    trainer.check_dataset(records)
    assert trainer._train_tokens is not None
    return trainer._train_tokens.prompts


def verl_rows(tmp_path: Path, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows VeRLTrainer writes (a dry run: files written, verl not launched)."""

    class Agent:
        model_name = "org/model"
        instructions = INSTRUCTIONS

    trainer = VeRLTrainer()
    trainer.check_agent(Agent())
    trainer.check_dataset(records)
    trainer.check_config({"output_dir": str(tmp_path), "dry_run": True})
    trainer.mark_validated()
    import asyncio

    asyncio.run(trainer.train())
    rows: list[dict[str, Any]] = pq.read_table(tmp_path / "data" / "train.parquet").to_pylist()
    return rows


def test_torch_and_verl_train_on_the_same_prompt(tmp_path: Path) -> None:
    tokenizer = chat_tokenizer()
    rows = verl_rows(tmp_path, RECORDS)
    assert [row["prompt"] for row in rows] == [expected_messages(r["prompt"]) for r in RECORDS]
    # what verl's single-turn agent loop feeds the model for each row
    verl_ids = [
        list(
            tokenizer.apply_chat_template(row["prompt"], add_generation_prompt=True, tokenize=True)[
                "input_ids"
            ]
        )
        for row in rows
    ]
    assert torch_prompt_ids(tokenizer, RECORDS) == verl_ids
    text = tokenizer.decode(verl_ids[0])
    assert text.startswith("<s> <|system|> Be brief . <|user|> What is 2 + 3 ?")
    assert text.endswith("<|assistant|>")


def test_a_plain_prompt_under_the_byte_tokenizer_is_unchanged() -> None:
    # The original rendering, instructions + "\n" + input, byte for byte (the demo's prompts).
    byte = ByteTokenizer()
    ids = torch_prompt_ids(byte, [{"input": "3+4=", "answer": "7"}])
    assert ids == [byte.encode(f"{INSTRUCTIONS}\n3+4=", add_bos=True)]
    trainer = TorchTrainer()
    trainer.check_agent(TinyCausalLM(d_model=16, n_layers=1, n_heads=2))  # no instructions
    trainer.check_dataset([{"input": "3+4=", "answer": "7"}])
    assert trainer._train_tokens is not None
    assert trainer._train_tokens.prompts == [byte.encode("3+4=", add_bos=True)]


def test_without_a_chat_template_a_conversation_is_its_contents_by_line() -> None:
    contents = "\n".join(m["content"] for m in expected_messages(RECORDS[2]["prompt"]))
    assert torch_prompt_ids(ByteTokenizer(), RECORDS[2:]) == [
        ByteTokenizer().encode(contents, add_bos=True)
    ]
    plain = chat_tokenizer(template=None)
    assert torch_prompt_ids(plain, RECORDS[2:]) == [plain.encode(contents)]


def test_the_adapter_renders_with_the_tokenizers_own_template() -> None:
    tokenizer = chat_tokenizer()
    adapter = TokenizerAdapter(tokenizer)
    ids = adapter.prompt_ids(tuple(CHAT), "")
    reference = tokenizer.apply_chat_template(CHAT, add_generation_prompt=True, tokenize=True)
    assert ids == list(reference["input_ids"])
