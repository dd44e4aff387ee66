"""Advantage estimators: orbiter-train's Rust core against verl and vectorised torch.

Run after a release build (``maturin develop -r`` or
``pip install -e . --no-deps --config-settings=build-args=--release``), with torch and verl
installed (``pip install -e '.[test-verl]' && pip install --no-deps verl``)::

    python benches/bench_advantages.py [--runs 7]

Baselines run with ``torch.set_num_threads(1)``; every figure is the median of ``--runs``
timed runs after one warm-up, all in this process. Ours gets the same float32 mask as verl.
"""

from __future__ import annotations

import argparse
import statistics
import time
import types
from collections.abc import Callable
from typing import Any

import numpy as np

from orbiter.train import advantages as adv

B, T, GROUPS, G_EQUAL = 4096, 1024, 512, 8


def median_ms(fn: Callable[[], Any], runs: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def uneven_groups(rng: np.random.Generator) -> np.ndarray:
    """4096 responses in 512 groups of sizes 1..15 (mean 8), shuffled, arbitrary id values."""
    sizes = np.ones(GROUPS, np.int64)
    extra = rng.multinomial(B - GROUPS, rng.dirichlet(np.ones(GROUPS) * 2))
    sizes += extra
    ids = rng.choice(2**40, GROUPS, replace=False).astype(np.int64)
    out = np.repeat(ids, sizes)
    rng.shuffle(out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    runs = max(5, args.runs)

    import torch
    from verl.trainer.ppo import core_algos

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    ids = uneven_groups(rng)
    scores = (rng.integers(0, 2, B) * 1.0 + rng.standard_normal(B) * 0.1).astype(np.float32)
    lengths = rng.integers(1, T + 1, B)
    mask_bool = np.arange(T)[None, :] < lengths[:, None]
    mask = mask_bool.astype(np.float32)
    token_rewards = np.zeros((B, T), np.float32)
    token_rewards[np.arange(B), lengths - 1] = scores
    rewards = rng.standard_normal((B, T)).astype(np.float32) * mask
    values = rng.standard_normal((B, T)).astype(np.float32)

    t_mask = torch.from_numpy(mask)
    t_tok = torch.from_numpy(token_rewards)
    t_rewards = torch.from_numpy(rewards)
    t_values = torch.from_numpy(values)
    t_scores = torch.from_numpy(scores)
    cfg = types.SimpleNamespace(gamma=1.0)

    def torch_equal_groups() -> Any:
        s = t_scores.view(-1, G_EQUAL)
        a = (s - s.mean(dim=-1, keepdim=True)) / (s.std(dim=-1, keepdim=True) + 1e-6)
        return a.view(-1).unsqueeze(-1) * t_mask

    dense_ids = np.unique(ids, return_inverse=True)[1].astype(
        np.int64
    )  # verl's vectorised form indexes by id
    ids_equal = np.repeat(np.arange(B // G_EQUAL, dtype=np.int64), G_EQUAL)
    rows: list[tuple[str, float, str, float, str]] = []

    def row(
        name: str, ours: Callable[[], Any], base_name: str, base: Callable[[], Any], target: str
    ) -> None:
        o = median_ms(ours, runs)
        b = median_ms(base, runs)
        rows.append((name, o, base_name, b, target))

    row(
        "grpo, uneven groups, fused to (B,T)",
        lambda: adv.grpo(scores, ids, mask=mask),
        "verl compute_grpo_outcome_advantage",
        lambda: core_algos.compute_grpo_outcome_advantage(t_tok, t_mask, ids),
        ">= 30x",
    )
    row(
        "grpo, uneven groups, grpo + broadcast",
        lambda: adv.broadcast(adv.grpo(scores, ids), mask),
        "verl compute_grpo_outcome_advantage",
        lambda: core_algos.compute_grpo_outcome_advantage(t_tok, t_mask, ids),
        ">= 30x",
    )
    row(
        "grpo, uneven groups, fused, bool mask",
        lambda: adv.grpo(scores, ids, mask=mask_bool),
        "verl compute_grpo_vectorized_outcome_advantage",
        lambda: core_algos.compute_grpo_vectorized_outcome_advantage(t_tok, t_mask, dense_ids),
        "(info)",
    )
    row(
        "grpo, equal groups of 8, fused to (B,T)",
        lambda: adv.grpo(scores, ids_equal, mask=mask),
        "torch view/mean/std * mask (equal groups only)",
        torch_equal_groups,
        ">= 1x",
    )
    row(
        "rloo, uneven groups, fused to (B,T)",
        lambda: adv.rloo(scores, ids, mask=mask),
        "verl compute_rloo_outcome_advantage",
        lambda: core_algos.compute_rloo_outcome_advantage(t_tok, t_mask, ids),
        "(report)",
    )
    row(
        "gae (4096, 1024)",
        lambda: adv.gae(rewards, values, mask, gamma=1.0, lam=0.95),
        "verl compute_gae_advantage_return",
        lambda: core_algos.compute_gae_advantage_return(t_rewards, t_values, t_mask, 1.0, 0.95),
        ">= 10x",
    )
    row(
        "reinforce_pp (4096, 1024)",
        lambda: adv.reinforce_pp(rewards, mask, gamma=1.0),
        "verl compute_reinforce_plus_plus_outcome_advantage",
        lambda: core_algos.compute_reinforce_plus_plus_outcome_advantage(
            t_rewards, t_mask, config=cfg
        ),
        "(report)",
    )
    row(
        "kl_divergence k3 (4096, 1024)",
        lambda: adv.kl_divergence(rewards, values, "k3"),
        "verl kl_penalty low_var_kl",
        lambda: core_algos.kl_penalty(t_rewards, t_values, "low_var_kl"),
        "(report)",
    )

    print(f"median of {runs} runs after warm-up; torch threads = {torch.get_num_threads()}")
    print(f"{'ours':44} {'ms':>8}  {'baseline':50} {'ms':>8} {'speed-up':>9}  target")
    for name, o, base_name, b, target in rows:
        print(f"{name:44} {o:8.2f}  {base_name:50} {b:8.2f} {b / o:8.1f}x  {target}")


if __name__ == "__main__":
    main()
