"""LoRA through peft: adapter-only training, checkpoints and resume, the KL reference."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
peft = pytest.importorskip("peft")

from safetensors import safe_open  # noqa: E402

from orbiter.train import TrainerError  # noqa: E402
from orbiter.train.torch.checkpoint import CHECKPOINT_DIR  # noqa: E402
from orbiter.train.torch.generation import completion_logprobs  # noqa: E402
from tests.test_torch_trainer import ready_trainer, tied_gpt2  # noqa: E402

SMALL = {"batch_size": 2, "group_size": 2, "max_new_tokens": 2, "kl_coef": 0.1}


def lora(r: int = 4) -> Any:
    return peft.LoraConfig(r=r, lora_alpha=8, target_modules=["c_attn"], lora_dropout=0.0)


async def _trained(out: Path, steps: int, model: Any = None, **overrides: Any) -> Any:
    trainer = ready_trainer(
        out, tied_gpt2() if model is None else model, max_steps=steps, **SMALL, **overrides
    )
    trainer.mark_validated()
    await trainer.train()
    return trainer


async def test_lora_trains_the_adapter_alone_and_resumes_exactly(tmp_path: Path) -> None:
    full = await _trained(tmp_path / "full", 4, peft_config=lora())
    await _trained(tmp_path / "split", 2, peft_config=lora())
    second = await _trained(tmp_path / "split", 4, peft_config=lora())
    model = second._agent.model
    assert isinstance(model, peft.PeftModel)
    # The checkpoint holds the adapter and its optimizer state, nothing of the base.
    root = tmp_path / "split" / CHECKPOINT_DIR
    assert not (root / "model.safetensors").exists()
    with safe_open(root / "adapter_model.safetensors", "pt") as f:
        saved = set(f.keys())
    assert saved == set(peft.get_peft_model_state_dict(model))
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert len(saved) == len(trainable) == 2
    with safe_open(root / "optimizer.safetensors", "pt") as f:
        assert {k.split(".")[0] for k in list(f.keys())} == {"0", "1"}
    # The base stays as it was built; the adapter moved, identically in both runs.
    base = tied_gpt2().state_dict()
    for key, value in model.get_base_model().state_dict().items():
        if "lora_" not in key:
            name = key.replace(".base_layer", "")
            torch.testing.assert_close(value, base[name], rtol=0, atol=0, msg=key)
    want = full._agent.model.state_dict()
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, want[key], rtol=0, atol=0, msg=key)
    assert float(peft.get_peft_model_state_dict(model)[sorted(saved)[1]].abs().max()) > 0
    # peft's own loader reads the checkpoint, with the adapter config beside it.
    loaded = peft.PeftModel.from_pretrained(tied_gpt2(), str(root)).eval()
    ids = torch.tensor([[257, 49, 43, 50, 61]])
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids).logits, model(ids).logits, rtol=0, atol=0)


@pytest.mark.parametrize("handed_in", [False, True])
def test_the_kl_reference_is_the_base_with_the_adapter_disabled(handed_in: bool) -> None:
    base = tied_gpt2().eval()
    policy = tied_gpt2()
    if handed_in:
        policy = peft.get_peft_model(policy, lora())
    trainer = ready_trainer(None, policy, **SMALL, peft_config=None if handed_in else lora())
    ctx = trainer._start(*trainer._require_ready())
    assert isinstance(ctx.model, peft.PeftModel) and ctx.reference is not None
    assert ctx.reference.model is ctx.model  # the policy itself, not a copy
    with torch.no_grad():
        for name, p in ctx.model.named_parameters():
            if "lora_B" in name:
                p.normal_()
    prompt = torch.tensor([[257, 49, 43, 50, 61]])
    completion = torch.tensor([[52, 10]])
    ones_p, ones_c = torch.ones_like(prompt, dtype=torch.bool), torch.ones_like(completion).bool()
    ref = ctx.reference.logprobs(prompt, ones_p, completion, ones_c)
    want, _ = completion_logprobs(base, prompt, ones_p, completion, ones_c)
    torch.testing.assert_close(ref, want, rtol=0, atol=0)
    ctx.model.eval()
    with torch.no_grad():
        adapted, _ = completion_logprobs(ctx.model, prompt, ones_p, completion, ones_c)
    assert not torch.equal(adapted, want)


def test_a_peft_config_must_be_one() -> None:
    with pytest.raises(TrainerError, match=r"config\.peft_config = .*PeftConfig"):
        ready_trainer(None, peft_config={"r": 4})


async def test_resume_refuses_another_adapter(tmp_path: Path) -> None:
    await _trained(tmp_path, 1, peft_config=lora(4))
    state = json.loads((tmp_path / CHECKPOINT_DIR / "trainer_state.json").read_text())
    assert state["config"]["peft_config"]["r"] == 4
    trainer = ready_trainer(tmp_path, tied_gpt2(), max_steps=2, **SMALL, peft_config=lora(8))
    trainer.mark_validated()
    with pytest.raises(TrainerError, match="peft_config"):
        await trainer.train()


def test_a_full_copy_stays_the_reference_without_an_adapter() -> None:
    trainer = ready_trainer(None, tied_gpt2(), **SMALL)
    ctx = trainer._start(*trainer._require_ready())
    assert ctx.reference is not None and ctx.reference.model is not ctx.model
