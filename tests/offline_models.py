"""Tokenizers and models built offline (no hub download is possible): a byte-level BPE
trained on the test's own text, wrapped as a transformers fast tokenizer, and a tiny GPT-2."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def bpe_tokenizer(texts: Iterable[str], *, vocab_size: int = 300, eos: str | None = "<eos>") -> Any:
    """A ``PreTrainedTokenizerFast`` over a byte-level BPE trained on *texts* (pad
    ``<pad>``, and *eos* when given), so any text round-trips through it."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<pad>"] + ([eos] if eos else [])
    tok.train_from_iterator(
        list(texts),
        trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=specials,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    extra = {"eos_token": eos} if eos else {}
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", **extra)


def tiny_gpt2(tokenizer: Any, seed: int = 0) -> Any:
    """A one-layer GPT-2 (width 32) over *tokenizer*'s vocabulary, seeded."""
    import torch
    import transformers

    torch.manual_seed(seed)
    config = transformers.GPT2Config(
        vocab_size=len(tokenizer),
        n_embd=32,
        n_layer=1,
        n_head=2,
        n_positions=64,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.eos_token_id,
    )
    return transformers.GPT2LMHeadModel(config)
