"""A tool-using agent on a transformers model: a GPT-2 built from a config, a BPE tokenizer
trained offline whose chat template takes ``tools=`` (the Hermes/Qwen form: tools in the
system prompt, ``<tool_call>`` calls, ``<tool_response>`` results), an environment with a
per-row lookup tool, and multi-turn GRPO. Nothing is downloaded.

    python examples/agent_transformers.py [--steps 4] [--output-dir runs/agent-transformers]

``check_agent`` checks that the template keeps each turn a prefix of the next and that the
rollout's tokens are the template's. Needs ``pip install 'orbiter-train[torch]' transformers``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

import torch
import transformers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from orbiter.train.agents import Environment, tool
from orbiter.train.torch import PolicyAgent, TorchTrainer

# Qwen2.5's layout, shortened: the tool list in the system turn, each call and each result in
# the form TRL's and verl's Hermes parsers read.
CHAT_TEMPLATE = (
    "{%- if tools %}<|im_start|>system\n"
    "{%- if messages[0].role == 'system' %}{{ messages[0].content }}\n\n{% endif %}"
    "# Tools\n<tools>{% for t in tools %}\n{{ t | tojson }}{% endfor %}\n</tools>\n"
    'Call a tool as <tool_call>{"name": ..., "arguments": ...}</tool_call><|im_end|>\n'
    "{%- elif messages[0].role == 'system' %}"
    "<|im_start|>system\n{{ messages[0].content }}<|im_end|>\n{% endif %}"
    "{%- for m in messages %}"
    "{%- if m.role == 'user' %}<|im_start|>user\n{{ m.content }}<|im_end|>\n"
    "{%- elif m.role == 'assistant' %}<|im_start|>assistant\n{{ m.content }}"
    "{%- for c in m.tool_calls or [] %}\n<tool_call>\n"
    '{"name": "{{ c.function.name }}", "arguments": {{ c.function.arguments | tojson }}}'
    "\n</tool_call>{% endfor %}<|im_end|>\n"
    "{%- elif m.role == 'tool' %}"
    "{%- if loop.first or messages[loop.index0 - 1].role != 'tool' %}<|im_start|>user{% endif %}"
    "\n<tool_response>\n{{ m.content }}\n</tool_response>"
    "{%- if loop.last or messages[loop.index0 + 1].role != 'tool' %}<|im_end|>\n{% endif %}"
    "{%- endif %}{% endfor %}"
    "{%- if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIALS = ["<pad>", "<|im_start|>", "<|im_end|>"]


class Vault(Environment):
    """One secret code per row, readable only through the ``lookup`` tool."""

    def reset(self, answer: str = "", name: str = "", **row: Any) -> None:
        self.codes, self.looked_up = {name: answer}, False

    @tool
    def lookup(self, name: str) -> str:
        """The secret code of a person.

        Args:
            name: Whose code.
        """
        self.looked_up = True
        return self.codes.get(name, "unknown")

    def reward(self) -> float:
        return 0.1 if self.looked_up else 0.0


def tokenizer_for(texts: list[str]) -> transformers.PreTrainedTokenizerFast:
    """A byte-level BPE trained on *texts*, with the chat template; ``<|im_end|>`` ends a
    turn, so it is the eos the sampler stops at."""
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(
        texts,
        trainers.BpeTrainer(
            vocab_size=400,
            special_tokens=SPECIALS,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=bpe, pad_token="<pad>", eos_token="<|im_end|>"
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--output-dir", default="runs/agent-transformers")
    args = parser.parse_args()
    torch.manual_seed(0)
    names = ["ada", "bob", "cyd", "dan", "eve", "fay", "gus", "hal"]
    rows = [
        {
            "prompt": [{"role": "user", "content": f"What is {n}'s code?"}],
            "answer": str(101 * i),
            "name": n,
        }
        for i, n in enumerate(names, start=1)
    ]
    texts = [json.dumps(r) for r in rows] + ['<tool_call>{"name": "lookup"}</tool_call>']
    tokenizer = tokenizer_for(texts * 20)
    model = transformers.GPT2LMHeadModel(
        transformers.GPT2Config(
            vocab_size=len(tokenizer), n_embd=64, n_layer=2, n_head=2, n_positions=512,
            pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
            bos_token_id=tokenizer.eos_token_id,
        )
    )  # fmt: skip

    trainer = TorchTrainer()
    trainer.check_config(
        {
            "algorithm": "grpo",
            "max_turns": 2,
            "max_steps": args.steps,
            "batch_size": 4,
            "group_size": 2,
            "max_new_tokens": 24,
            "learning_rate": 1e-4,
            "device": "cpu",
            "output_dir": args.output_dir,
        }
    )
    trainer.check_agent(
        PolicyAgent(model, tokenizer, instructions="Answer with the code.", environment=Vault)
    )
    trainer.check_dataset(rows)
    trainer.check_reward("exact_match")
    trainer.mark_validated()
    metrics = asyncio.run(trainer.train())
    last = trainer.last_step_metrics
    keys = ("turns", "tool_calls", "tool_error_rate", "trajectory_len", "truncation_rate")
    print(json.dumps({"steps": metrics.steps, **{k: last[k] for k in keys}}))


if __name__ == "__main__":
    main()
