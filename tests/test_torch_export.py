"""The export of a trained policy to ``output_dir/final``, read back by transformers' and
peft's own loaders, and by ``orbiter-train eval``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from orbiter.train import TrainerError  # noqa: E402
from orbiter.train.torch import (  # noqa: E402
    PolicyAgent,
    TorchTrainer,
    arithmetic_task,
    export,
    load_exported,
)
from tests.test_torch_trainer import ready_trainer, small_model, tied_gpt2  # noqa: E402

SMALL = {"batch_size": 2, "group_size": 2, "max_new_tokens": 2, "max_steps": 2}
IDS = torch.tensor([[5, 9, 3, 7, 2]])


def bpe_tokenizer() -> Any:
    """A BPE tokenizer trained offline on the task's text, as transformers wraps one."""
    tokenizers = pytest.importorskip("tokenizers")
    tok = tokenizers.Tokenizer(tokenizers.models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = tokenizers.decoders.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<unk>", "<pad>", "<eos>"]
    )
    train, _ = arithmetic_task(64, 1, max_operand=9, seed=0)
    tok.train_from_iterator([r["input"] + r["answer"] for r in train], trainer)
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", eos_token="<eos>"
    )


def logits(model: Any) -> Any:
    model.eval()
    with torch.no_grad():
        return model(IDS).logits


async def test_a_transformers_run_exports_what_from_pretrained_loads(tmp_path: Path) -> None:
    tokenizer = bpe_tokenizer()
    trainer = ready_trainer(tmp_path, tied_gpt2(), **SMALL)
    trainer.check_agent(PolicyAgent(trainer._agent.model, tokenizer))
    trainer.mark_validated()
    await trainer.train()
    final = tmp_path / "final"
    loaded = transformers.AutoModelForCausalLM.from_pretrained(final)
    trained = trainer._agent.model
    torch.testing.assert_close(logits(loaded), logits(trained), rtol=0, atol=0)
    assert loaded.lm_head.weight is loaded.transformer.wte.weight  # still tied
    reread = transformers.AutoTokenizer.from_pretrained(final)
    assert reread("3+4=7")["input_ids"] == tokenizer("3+4=7")["input_ids"]
    assert reread.eos_token == "<eos>"
    # the same directory back as a policy, for evaluation
    again = load_exported(final)
    torch.testing.assert_close(logits(again.model), logits(trained), rtol=0, atol=0)


async def test_a_lora_run_exports_the_adapter_alone(tmp_path: Path) -> None:
    peft = pytest.importorskip("peft")
    config = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["c_attn"], lora_dropout=0.0)
    trainer = ready_trainer(tmp_path, tied_gpt2(), **SMALL, peft_config=config)
    trainer.mark_validated()
    await trainer.train()
    final = tmp_path / "final"
    assert (final / "adapter_model.safetensors").is_file()
    assert not (final / "model.safetensors").exists() and not (final / "config.json").exists()
    loaded = peft.PeftModel.from_pretrained(tied_gpt2(), final)
    torch.testing.assert_close(logits(loaded), logits(trainer._agent.model), rtol=0, atol=0)
    with pytest.raises(TrainerError, match="holds an adapter"):
        load_exported(final)


def test_the_built_in_model_exports_its_own_format(tmp_path: Path) -> None:
    model = small_model(3)
    path = export(PolicyAgent(model, instructions="Add."), tmp_path / "out")
    assert sorted(p.name for p in path.iterdir()) == ["model.safetensors", "model_config.json"]
    again = load_exported(path)
    assert again.instructions == "Add." and again.model.config == model.config
    for key, value in model.state_dict().items():
        torch.testing.assert_close(again.model.state_dict()[key], value, rtol=0, atol=0)
    # a second export replaces the first whole
    export(small_model(4), path)
    assert not torch.equal(load_exported(path).model.embed.weight, model.embed.weight)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


async def test_save_final_false_writes_no_export(tmp_path: Path) -> None:
    trainer = ready_trainer(tmp_path, **SMALL, save_final=False)
    trainer.mark_validated()
    await trainer.train()
    assert not (tmp_path / "final").exists()
    assert (trainer.export() / "model_config.json").is_file()
    with pytest.raises(TrainerError, match="export\\(\\) needs check_agent"):
        TorchTrainer().export(tmp_path / "x")
