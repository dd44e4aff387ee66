"""Advantage estimators: orbiter-train's Rust core against verl, torch, NumPy and Python.

Part of the suite (``python benches/run.py``); alone::

    python benches/bench_advantages.py [--runs 7] [--smoke]

Run after a release build (``maturin develop -r``), with torch and verl installed
(``pip install -e '.[bench]' && pip install --no-deps verl``); missing baselines are
skipped with a note. torch runs with one thread. Ours gets the same float32 mask as verl.
"""

from __future__ import annotations

import argparse
import types
from collections import defaultdict
from typing import Any

import numpy as np
from harness import Baseline, Case, print_results, run_cases

from orbiter.train import advantages as adv

GROUP = "advantages"


def uneven_groups(rng: np.random.Generator, b: int, groups: int) -> np.ndarray:
    """``b`` responses in ``groups`` groups of uneven sizes (mean b/groups), shuffled,
    arbitrary id values."""
    sizes = np.ones(groups, np.int64)
    sizes += rng.multinomial(b - groups, rng.dirichlet(np.ones(groups) * 2))
    ids = rng.choice(2**40, groups, replace=False).astype(np.int64)
    out = np.repeat(ids, sizes)
    rng.shuffle(out)
    return out


def py_grpo(scores: list[float], ids: list[int], eps: float = 1e-6) -> list[float]:
    """GRPO in plain Python: group lists, mean and unbiased std per group."""
    groups: dict[int, list[float]] = defaultdict(list)
    for s, g in zip(scores, ids, strict=True):
        groups[g].append(s)
    stats = {}
    for g, xs in groups.items():
        n = len(xs)
        if n == 1:
            stats[g] = (0.0, 1.0)
            continue
        m = sum(xs) / n
        stats[g] = (m, (sum((x - m) ** 2 for x in xs) / (n - 1)) ** 0.5)
    return [(s - stats[g][0]) / (stats[g][1] + eps) for s, g in zip(scores, ids, strict=True)]


def np_grpo(scores: np.ndarray, ids: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """GRPO vectorised in NumPy for groups of any size (unique + bincount)."""
    _, inv, counts = np.unique(ids, return_inverse=True, return_counts=True)
    s = scores.astype(np.float64)
    mean = np.bincount(inv, s) / counts
    var = np.bincount(inv, (s - mean[inv]) ** 2) / np.maximum(counts - 1, 1)
    std = np.where(counts > 1, np.sqrt(var), 1.0)
    mean = np.where(counts > 1, mean, 0.0)
    return ((s - mean[inv]) / (std[inv] + eps)).astype(np.float32)


def np_gae(
    rewards: np.ndarray, values: np.ndarray, mask: np.ndarray, gamma: float, lam: float
) -> np.ndarray:
    """GAE as verl computes it, in NumPy: a loop over time, vectorised over the batch."""
    b, t = rewards.shape
    nextvalues = np.zeros(b, np.float32)
    lastgae = np.zeros(b, np.float32)
    out = np.empty_like(rewards)
    for i in range(t - 1, -1, -1):
        delta = rewards[:, i] + gamma * nextvalues - values[:, i]
        new = delta + gamma * lam * lastgae
        m = mask[:, i]
        nextvalues = values[:, i] * m + (1 - m) * nextvalues
        lastgae = new * m + (1 - m) * lastgae
        out[:, i] = lastgae
    return out


def py_gae_rows(
    rewards: list[list[float]],
    values: list[list[float]],
    mask: list[list[float]],
    gamma: float,
    lam: float,
) -> list[list[float]]:
    """GAE in plain Python, row by row (no whitening)."""
    out = []
    for r, v, m in zip(rewards, values, mask, strict=True):
        nv = last = 0.0
        row = [0.0] * len(r)
        for i in range(len(r) - 1, -1, -1):
            if m[i]:
                last = r[i] + gamma * nv - v[i] + gamma * lam * last
                nv = v[i]
            row[i] = last
        out.append(row)
    return out


def cases(  # noqa: PLR0915 (a flat list of cases)
    smoke: bool = False, verl: bool = True
) -> tuple[list[Case], list[str]]:
    """The advantage cases and notes on skipped baselines."""
    b, t, n_groups, g_eq = (256, 64, 32, 8) if smoke else (4096, 1024, 512, 8)
    notes: list[str] = []
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        torch = None  # type: ignore[assignment]
        notes.append("torch not installed: torch baselines skipped")
    core_algos: Any = None
    if not verl:
        notes.append("verl baselines skipped (--no-verl / smoke mode)")
    elif torch is not None:
        try:
            from verl.trainer.ppo import core_algos
        except ImportError:
            notes.append("verl not installed: verl core_algos baselines skipped")
    rng = np.random.default_rng(0)
    ids = uneven_groups(rng, b, n_groups)
    scores = (rng.integers(0, 2, b) * 1.0 + rng.standard_normal(b) * 0.1).astype(np.float32)
    lengths = rng.integers(1, t + 1, b)
    mask_bool = np.arange(t)[None, :] < lengths[:, None]
    mask = mask_bool.astype(np.float32)
    token_rewards = np.zeros((b, t), np.float32)
    token_rewards[np.arange(b), lengths - 1] = scores
    rewards = rng.standard_normal((b, t)).astype(np.float32) * mask
    values = rng.standard_normal((b, t)).astype(np.float32)
    ids_equal = np.repeat(np.arange(b // g_eq, dtype=np.int64), g_eq)
    scores_l, ids_l = scores.tolist(), ids.tolist()
    py_rows = 16 if not smoke else 4
    r_l, v_l, m_l = (x[:py_rows].tolist() for x in (rewards, values, mask))
    size = f"{b} resp, {n_groups} uneven groups -> ({b},{t})"

    def py_grpo_bcast() -> Any:
        return np.asarray(py_grpo(scores_l, ids_l), np.float32)[:, None] * mask

    grpo_base = [
        Baseline("python loop + numpy broadcast", py_grpo_bcast),
        Baseline("numpy unique/bincount + broadcast", lambda: np_grpo(scores, ids)[:, None] * mask),
    ]
    grpo_eq = [Baseline("numpy equal groups (reshape)", lambda: _np_equal(scores, mask, g_eq))]
    rloo_base: list[Baseline] = []
    gae_base = [
        Baseline("numpy loop over T", lambda: np_gae(rewards, values, mask, 1.0, 0.95)),
        Baseline(
            "python loop (per row)",
            lambda: py_gae_rows(r_l, v_l, m_l, 1.0, 0.95),
            items=py_rows * t,
        ),
    ]
    rpp_base: list[Baseline] = []
    kl_base = [
        Baseline(
            "numpy k3",
            lambda: np.clip(np.exp(values - rewards) - (values - rewards) - 1, -10, 10),
        )
    ]
    if torch is not None:
        t_mask, t_tok = torch.from_numpy(mask), torch.from_numpy(token_rewards)
        t_rewards, t_values = torch.from_numpy(rewards), torch.from_numpy(values)
        t_scores = torch.from_numpy(scores)

        def torch_equal_groups() -> Any:
            s = t_scores.view(-1, g_eq)
            a = (s - s.mean(dim=-1, keepdim=True)) / (s.std(dim=-1, keepdim=True) + 1e-6)
            return a.view(-1).unsqueeze(-1) * t_mask

        grpo_eq.insert(0, Baseline("torch view/mean/std * mask", torch_equal_groups))
        kl_base.append(
            Baseline(
                "torch k3",
                lambda: torch.clamp(
                    torch.exp(t_values - t_rewards) - (t_values - t_rewards) - 1, -10, 10
                ),
            )
        )
        if core_algos is not None:
            cfg = types.SimpleNamespace(gamma=1.0)
            verl_grpo = Baseline(
                "verl compute_grpo_outcome_advantage",
                lambda: core_algos.compute_grpo_outcome_advantage(t_tok, t_mask, ids),
            )
            grpo_base.insert(0, verl_grpo)
            rloo_base.append(
                Baseline(
                    "verl compute_rloo_outcome_advantage",
                    lambda: core_algos.compute_rloo_outcome_advantage(t_tok, t_mask, ids),
                )
            )
            gae_base.insert(
                0,
                Baseline(
                    "verl compute_gae_advantage_return",
                    lambda: core_algos.compute_gae_advantage_return(
                        t_rewards, t_values, t_mask, 1.0, 0.95
                    ),
                ),
            )
            rpp_base.append(
                Baseline(
                    "verl compute_reinforce_plus_plus_outcome_advantage",
                    lambda: core_algos.compute_reinforce_plus_plus_outcome_advantage(
                        t_rewards, t_mask, config=cfg
                    ),
                )
            )
            kl_base.insert(
                0,
                Baseline(
                    "verl kl_penalty low_var_kl",
                    lambda: core_algos.kl_penalty(t_rewards, t_values, "low_var_kl"),
                ),
            )
    grid = b * t * 4
    out = [
        Case(
            GROUP,
            "grpo (fused broadcast)",
            size,
            b,
            lambda: adv.grpo(scores, ids, mask=mask),
            grpo_base,
            nbytes=grid + scores.nbytes + ids.nbytes,
            target=">= 30x verl",
            target_check=("verl compute_grpo_outcome_advantage", 30.0),
        ),
        Case(
            GROUP,
            "grpo + broadcast (two calls)",
            size,
            b,
            lambda: adv.broadcast(adv.grpo(scores, ids), mask),
            [x for x in grpo_base if x.name.startswith("verl")],
            nbytes=grid + scores.nbytes + ids.nbytes,
        ),
        Case(
            GROUP,
            "grpo, equal groups (fused broadcast)",
            f"{b} resp, groups of {g_eq} -> ({b},{t})",
            b,
            lambda: adv.grpo(scores, ids_equal, mask=mask),
            grpo_eq,
            nbytes=grid + scores.nbytes + ids.nbytes,
            target=">= 1x torch",
            target_check=("torch view/mean/std * mask", 1.0) if torch is not None else None,
        ),
        Case(
            GROUP,
            "rloo (fused broadcast)",
            size,
            b,
            lambda: adv.rloo(scores, ids, mask=mask),
            rloo_base,
            nbytes=grid + scores.nbytes + ids.nbytes,
        ),
        Case(
            GROUP,
            "gae",
            f"({b},{t})",
            b * t,
            lambda: adv.gae(rewards, values, mask, gamma=1.0, lam=0.95),
            gae_base,
            nbytes=3 * grid,
            target=">= 10x verl",
            target_check=("verl compute_gae_advantage_return", 10.0),
            notes=["python loop: GAE without whitening, on a row sample"],
        ),
        Case(
            GROUP,
            "reinforce_pp",
            f"({b},{t})",
            b * t,
            lambda: adv.reinforce_pp(rewards, mask, gamma=1.0),
            rpp_base,
            nbytes=2 * grid,
        ),
        Case(
            GROUP,
            "kl_divergence k3",
            f"({b},{t})",
            b * t,
            lambda: adv.kl_divergence(rewards, values, "k3"),
            kl_base,
            nbytes=2 * grid,
        ),
    ]
    # The other kinds: one NumPy expression each as the baseline.
    other_kl = {
        "k1": lambda: rewards - values,
        "abs": lambda: np.abs(rewards - values),
        "k2": lambda: 0.5 * np.square(rewards - values),
    }
    for kind, np_fn in other_kl.items():
        out.append(
            Case(
                GROUP,
                f"kl_divergence {kind}",
                f"({b},{t})",
                b * t,
                lambda kind=kind: adv.kl_divergence(rewards, values, kind),
                [Baseline(f"numpy {kind}", np_fn)],
                nbytes=2 * grid,
            )
        )
    return out, notes


def _np_equal(scores: np.ndarray, mask: np.ndarray, g: int) -> np.ndarray:
    s = scores.reshape(-1, g)
    a = (s - s.mean(axis=1, keepdims=True)) / (s.std(axis=1, ddof=1, keepdims=True) + 1e-6)
    return a.reshape(-1, 1) * mask


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args()
    from harness import Ceiling

    found, notes = cases(args.smoke, verl=not args.smoke)
    results = run_cases(found, max(5, args.runs), Ceiling())
    print_results(results, "advantages")
    for note in notes:
        print(f"note: {note}")


if __name__ == "__main__":
    main()
