"""Your own model in TorchTrainer: a transformers GPT-2 built from a config, a BPE tokenizer
trained on the task's text (nothing downloaded), a ``datasets.Dataset`` with TRL-style
columns (a conversational ``prompt`` and a ``solution``), LoRA, GRPO with two passes over
each rollout and DAPO's clip-higher, pass@4 evaluation and a Hugging Face export.

    python examples/own_model.py [--warmup-steps 300] [--steps 40] [--output-dir runs/own-model]

Needs ``pip install 'orbiter-train[torch,lora,trl]' transformers`` (trl brings datasets).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

import datasets
import peft
import torch
import transformers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from orbiter.train.torch import PolicyAgent, TorchTrainer
from orbiter.train.torch.task import arithmetic_task

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def tokenizer_for(texts: list[str]) -> transformers.PreTrainedTokenizerFast:
    """A byte-level BPE trained on the task's text, with a chat template."""
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(
        texts,
        trainers.BpeTrainer(
            vocab_size=320,
            special_tokens=["<pad>", "<eos>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=bpe, pad_token="<pad>", eos_token="<eos>"
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def trl_style(rows: list[dict[str, str]]) -> datasets.Dataset:
    """TRL's columns: a conversational ``prompt`` and the reference ``solution``."""
    return datasets.Dataset.from_dict(
        {
            "prompt": [[{"role": "user", "content": r["input"]}] for r in rows],
            "solution": [r["answer"] for r in rows],
        }
    )


def main(steps: int, warmup_steps: int, output_dir: str) -> dict[str, float]:
    train, test = arithmetic_task(320, 80, max_operand=19, seed=0)
    texts = [r["input"] + r["answer"] for r in train] + ["<|user|><|assistant|>"]
    tokenizer = tokenizer_for(texts)
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(
        transformers.GPT2Config(
            vocab_size=len(tokenizer),
            n_embd=64,
            n_layer=2,
            n_head=2,
            n_positions=64,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            bos_token_id=tokenizer.eos_token_id,
        )
    )
    # A short supervised warm-up of the whole model, so that RL has rewards to work with.
    warmup = TorchTrainer()
    warmup.check_config(
        {
            "algorithm": "sft",
            "batch_size": 16,
            "learning_rate": 3e-3,
            "max_steps": warmup_steps,
            "device": "cpu",
            "seed": 0,
        }
    )
    warmup.check_agent(PolicyAgent(model, tokenizer))
    warmup.check_dataset(trl_style(train), answer_column="solution")
    warmup.check_reward("math_equal")
    warmup.mark_validated()
    asyncio.run(warmup.train())
    before = asyncio.run(warmup.evaluate(trl_style(test)))

    trainer = TorchTrainer()
    trainer.check_config(
        {
            "algorithm": "grpo",
            "batch_size": 4,
            "group_size": 4,
            "max_new_tokens": 4,
            "learning_rate": 5e-3,
            "max_steps": steps,
            "ppo_epochs": 2,  # two passes over each rollout: the clip now bites
            "clip_range": 0.2,
            "clip_range_high": 0.28,  # DAPO's clip-higher
            "peft_config": peft.LoraConfig(r=8, lora_alpha=16, target_modules=["c_attn"]),
            "device": "cpu",
            "seed": 0,
            "output_dir": output_dir,
            "checkpoint_every": max(steps // 2, 1),
        }
    )
    trainer.check_agent(PolicyAgent(model, tokenizer))
    trainer.check_dataset(trl_style(train), trl_style(test), answer_column="solution")
    trainer.check_reward("math_equal")
    trainer.mark_validated()
    trained = asyncio.run(trainer.train())
    after = asyncio.run(trainer.evaluate())  # greedy, as before RL
    evaluation = asyncio.run(trainer.evaluate(n_samples=4, temperature=1.0))
    final = Path(output_dir) / "final"  # the adapter and the tokenizer, save_pretrained's way
    base = transformers.GPT2LMHeadModel(model.config)
    exported = peft.PeftModel.from_pretrained(base, final)
    summary = {
        "steps": trained.steps,
        "eval_accuracy_before_rl": before.accuracy,
        "train_reward_last10pct": float(trained.extra.get("reward_mean_last10pct", 0.0)),
        "eval_accuracy_after_rl": after.accuracy,
        "sampled_accuracy": evaluation.accuracy,
        "pass@1": evaluation.extra["pass@1"],
        "pass@4": evaluation.extra["pass@4"],
        "maj@4": evaluation.extra["maj@4"],
        "exported_adapter_parameters": sum(
            p.numel() for n, p in exported.named_parameters() if "lora_" in n
        ),
    }
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=40, help="GRPO steps")
    ap.add_argument("--warmup-steps", type=int, default=300, help="supervised steps first")
    ap.add_argument("--output-dir", default="runs/own-model")
    args = ap.parse_args()
    main(args.steps, args.warmup_steps, args.output_dir)
