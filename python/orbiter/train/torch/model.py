"""TinyCausalLM: a small decoder-only transformer with a KV cache, for the demo and tests.

It follows the causal-LM calling convention ``forward(input_ids, attention_mask) -> logits``
(B, T, V), with left or right padding: positions come from the attention mask, so a
left-padded prompt sees the same positions as an unpadded one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

KVCache = list[tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True, slots=True)
class TinyConfig:
    """Sizes of a :class:`TinyCausalLM`."""

    vocab_size: int = 259
    d_model: int = 128
    n_layers: int = 2
    n_heads: int = 4
    max_positions: int = 256
    dropout: float = 0.0

    def __post_init__(self) -> None:
        for name in ("vocab_size", "d_model", "n_layers", "n_heads", "max_positions"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        dropout = self.dropout
        if isinstance(dropout, bool) or not isinstance(dropout, int | float):
            raise ValueError(f"dropout must be a number in [0, 1), got {dropout!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")


class _Block(nn.Module):
    def __init__(self, cfg: TinyConfig) -> None:
        super().__init__()
        self.n_heads = cfg.n_heads
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.mlp = nn.Sequential(
            nn.Linear(cfg.d_model, 4 * cfg.d_model),
            nn.GELU(),
            nn.Linear(4 * cfg.d_model, cfg.d_model),
        )
        self.dropout = cfg.dropout

    def forward(
        self,
        x: torch.Tensor,
        attn_mask: torch.Tensor,
        past: tuple[torch.Tensor, torch.Tensor] | None,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        b, t, d = x.shape
        h = self.n_heads
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=-1)
        q, k, v = (z.view(b, t, h, d // h).transpose(1, 2) for z in (q, k, v))
        if past is not None:
            k = torch.cat([past[0], k], dim=2)
            v = torch.cat([past[1], v], dim=2)
        drop = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=drop)
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, d))
        x = x + self.mlp(self.ln2(x))
        return x, (k, v)


class TinyCausalLM(nn.Module):
    """A small pre-LayerNorm GPT: token + learned position embeddings, ``n_layers``
    attention/MLP blocks, tied output embedding.

    ``forward(input_ids, attention_mask=None, past_key_values=None, use_cache=False)``
    returns logits (B, T, V), or ``(logits, cache)`` when ``use_cache`` is true, for
    incremental decoding (pass the cache back with the next token and the full mask).
    """

    supports_kv_cache = True

    def __init__(self, config: TinyConfig | None = None, **sizes: int | float) -> None:
        super().__init__()
        cfg = config or TinyConfig(**sizes)  # type: ignore[arg-type]
        if cfg.d_model % cfg.n_heads:
            raise ValueError(f"d_model ({cfg.d_model}) must be divisible by n_heads")
        self.config = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.positions = nn.Embedding(cfg.max_positions, cfg.d_model)
        self.blocks = nn.ModuleList(_Block(cfg) for _ in range(cfg.n_layers))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.apply(self._init)
        for block in self.blocks:
            # GPT-2's scaled init of residual projections keeps deep stacks stable.
            assert isinstance(block, _Block)
            nn.init.normal_(block.proj.weight, std=0.02 / math.sqrt(2 * cfg.n_layers))

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)

    @property
    def vocab_size(self) -> int:
        return self.config.vocab_size

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        past_key_values: KVCache | None = None,
        use_cache: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, KVCache]:
        hidden, cache = self._run(input_ids, attention_mask, past_key_values)
        logits = hidden @ self.embed.weight.T
        return (logits, cache) if use_cache else logits

    def hidden_states(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Final (layer-normed) hidden states (B, T, d_model): what a value head reads."""
        return self._run(input_ids, attention_mask, None)[0]

    def _run(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None,
        past_key_values: KVCache | None,
    ) -> tuple[torch.Tensor, KVCache]:
        b, t = input_ids.shape
        past_len = past_key_values[0][0].shape[2] if past_key_values else 0
        total = past_len + t
        if attention_mask is None:
            attention_mask = torch.ones(b, total, dtype=torch.bool, device=input_ids.device)
        keep = attention_mask.bool()
        if keep.shape != (b, total):
            raise ValueError(
                f"attention_mask must have shape {(b, total)} (past + new tokens), "
                f"got {tuple(keep.shape)}"
            )
        positions = (keep.long().cumsum(-1) - 1).clamp(min=0)[:, past_len:]
        positions = positions.clamp(max=self.config.max_positions - 1)
        x = self.embed(input_ids) + self.positions(positions)
        causal = torch.ones(t, total, dtype=torch.bool, device=x.device).tril(past_len)
        attn = causal[None, None] & keep[:, None, None, :]
        # A fully padded query row (left padding) would softmax over nothing: let it
        # see itself; its output is masked out downstream anyway.
        rows = torch.arange(t, device=x.device)[:, None] + past_len
        attn = attn | (rows == torch.arange(total, device=x.device)[None, :])[None, None]
        cache: KVCache = []
        for i, block in enumerate(self.blocks):
            past = past_key_values[i] if past_key_values else None
            x, kv = block(x, attn, past)
            cache.append(kv)
        return self.ln_f(x), cache
