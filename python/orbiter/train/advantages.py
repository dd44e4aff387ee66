"""Advantage estimators for RL fine-tuning, on the Rust core.

Numerics follow verl's ``verl/trainer/ppo/core_algos.py`` (version 0.9.1) and
``verl.utils.torch_functional.masked_whiten`` to 1e-5 on the same inputs; the tests check
this against verl itself. Per-step arithmetic is float32 in verl's order; sums for
means and variances are accumulated in float64.

Array conventions (checked, never silently cast or copied):

* ``scores``: float32 ``(n,)``, one scalar reward per response; finite.
* ``group_ids``: int64 ``(n,)``, any values; groups of any size, in any order. Strings
  (verl's per-prompt ``uid``) and other comparable objects are grouped by equality
  (``numpy.unique(uids, return_inverse=True)``); float or bool ids are an error.
* ``rewards``, ``values``, ``logp``, ``ref_logp``, ``x``: float32 ``(B, T)``; finite.
* ``mask``: ``(B, T)`` response mask of dtype ``bool``, ``int8``, ``uint8`` or
  ``float32``. A position counts when the element is true / 1. Numeric masks must hold
  exactly 0 or 1: any other value (0.5, 2, -1, NaN) is an error naming its position,
  because fractional weights would make the estimators silently differ from verl.

ndarrays must have exactly these dtypes and be C-contiguous (else
:class:`~orbiter.train.errors.TrainerTypeError` / ``TrainerValueError``); plain Python
sequences are converted (masks to float32, so a stray 2 is still reported). Every bad
input raises an error that is a :class:`~orbiter.train.trainer.TrainerError` and a
``ValueError`` or ``TypeError``, naming the argument and the first bad index (``[row,
col]`` and the flat index for 2-D arrays).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from orbiter.train import _args, _core
from orbiter.train.errors import TrainerTypeError, TrainerValueError

__all__ = [
    "KlKind",
    "broadcast",
    "discounted_returns",
    "gae",
    "grpo",
    "kl_divergence",
    "reinforce_pp",
    "rloo",
    "whiten",
]

F32 = npt.NDArray[np.float32]
KlKind = Literal["k1", "kl", "abs", "k2", "mse", "k3", "low_var_kl"]


def _arr(name: str, x: Any, dtype: type[np.generic]) -> Any:
    """ndarrays pass through untouched (the core checks them); sequences are converted.

    A masked array is refused: its mask would be silently ignored. Text and sequences
    that are not numbers are refused with the argument's name.
    """
    if isinstance(x, np.ma.MaskedArray):
        raise TrainerTypeError(
            f"{name}: a numpy masked array's mask would be ignored; pass plain arrays "
            "(x.filled(...)) and the positions to use as a mask argument"
        )
    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, str | bytes):
        raise TrainerTypeError(f"{name}: expected an array of numbers, got {type(x).__name__}")
    try:
        return np.asarray(x, dtype=dtype)
    except (TypeError, ValueError, OverflowError, RecursionError) as err:
        raise TrainerTypeError(f"{name}: expected an array of numbers ({err})") from None


def _group_ids(ids: Any) -> Any:
    """Group ids as the core takes them (int64). Integer arrays pass through (the core checks
    dtype and length); strings or other hashable objects (verl's per-prompt ``uid``) are
    grouped by equality through ``np.unique``; floats and bools are refused rather than
    truncated, which would merge groups."""
    if isinstance(ids, np.ma.MaskedArray):
        raise TrainerTypeError("group_ids: a numpy masked array's mask would be ignored")
    if isinstance(ids, np.ndarray) and ids.dtype.kind not in "USO":
        return ids
    if isinstance(ids, str | bytes) or not isinstance(ids, Iterable):
        raise TrainerTypeError(f"group_ids: expected a sequence of ids, got {type(ids).__name__}")
    if isinstance(ids, np.ndarray) and ids.ndim == 0:  # iterable in type, not in fact
        raise TrainerValueError("group_ids: expected a 1-D sequence, got shape ()")
    if not isinstance(ids, np.ndarray) or ids.dtype.kind == "O":
        # numpy would turn [1, "1"] into two equal strings, merging two groups
        kinds = {type(v) for v in ids}
        if len(kinds) > 1 and not all(issubclass(k, int | np.integer) for k in kinds):
            names = sorted(k.__name__ for k in kinds)
            raise TrainerTypeError(
                f"group_ids: ids must be mutually comparable, of one type (got {', '.join(names)})"
            )
    try:
        arr = np.asarray(ids)
    except (ValueError, TypeError, OverflowError, RecursionError):
        # ragged or nested ids: past numpy's 64 dimensions, or deeper than Python's stack
        raise TrainerValueError(
            "group_ids: expected a 1-D sequence of ids, got nested or ragged sequences"
        ) from None
    if arr.size == 0:
        return arr.astype(np.int64)  # the core reports the empty batch
    if arr.ndim != 1:
        raise TrainerValueError(f"group_ids: expected a 1-D sequence, got shape {arr.shape}")
    if arr.dtype.kind in "USO":
        try:
            _, inverse = np.unique(arr, return_inverse=True)
        except TypeError as err:  # objects without an order, e.g. mixed str and int
            raise TrainerTypeError(f"group_ids: ids must be mutually comparable: {err}") from err
        return inverse.astype(np.int64).reshape(-1)
    if arr.dtype.kind == "i" or (arr.dtype.kind == "u" and arr.max() <= np.iinfo(np.int64).max):
        return arr.astype(np.int64)
    raise TrainerTypeError(f"group_ids: expected integer or string ids, got {arr.dtype}")


def grpo(
    scores: npt.ArrayLike,
    group_ids: npt.ArrayLike,
    *,
    normalize_std: bool = True,
    eps: float = 1e-6,
    mask: npt.ArrayLike | None = None,
) -> F32:
    """GRPO outcome advantages (verl ``compute_grpo_outcome_advantage``).

    For response ``i`` in group ``g`` of size ``n_g``::

        A_i = (s_i - mean_g) / (std_g + eps)      if normalize_std
        A_i =  s_i - mean_g                       otherwise (Dr. GRPO)

    with ``mean_g`` the group mean and ``std_g`` the unbiased standard deviation
    ``sqrt(sum_g (s - mean_g)^2 / (n_g - 1))``; a singleton group uses ``mean = 0``,
    ``std = 1`` as verl does (so ``A_i = s_i / (1 + eps)``).

    Returns float32 ``(n,)``, or, when ``mask`` ``(n, T)`` is given, the broadcast
    ``A_i * mask[i, t]`` as float32 ``(n, T)`` computed in one pass (what verl returns).

    Deviation from verl: group means, variances and the advantages themselves are
    computed in float64 and rounded once to float32 (verl works in float32), so scores
    sharing a large offset (``1000 +- 1``) differ from verl's by more than 1e-5, ours
    being the closer to the exact value; ordinary scores agree to 1e-6. Scores near the
    float32 maximum need no float32 intermediate: ``grpo([-3e38, 3e38], [0, 0])`` is
    ``[-0.707, 0.707]``, and a normalised advantage always fits float32.

    Raises ``TrainerValueError`` for an empty batch, ``group_ids`` of another length or
    nesting, a non-finite score, ``eps < 0`` (or not finite), ``eps == 0`` with a group
    of equal scores (0 / 0), and, with ``normalize_std=False``, a centred score beyond
    float32 (``scores[i]: the centred score s - mean overflows float32 (inf)``, the first
    such ``i``).
    """
    s = _arr("scores", scores, np.float32)
    g = _group_ids(group_ids)
    normalize_std = _args.flag("normalize_std", normalize_std)
    eps = _args.real("eps", eps)
    if mask is None:
        return _core.grpo(s, g, normalize_std=normalize_std, eps=eps)
    return _core.grpo_broadcast(
        s, g, _arr("mask", mask, np.float32), normalize_std=normalize_std, eps=eps
    )


def rloo(
    scores: npt.ArrayLike,
    group_ids: npt.ArrayLike,
    *,
    mask: npt.ArrayLike | None = None,
) -> F32:
    """RLOO outcome advantages (verl ``compute_rloo_outcome_advantage``).

    For response ``i`` in a group ``g`` of ``n > 1`` responses::

        A_i = s_i * n / (n - 1) - mean_g * n / (n - 1)

    which is ``s_i`` minus the mean of the other ``n - 1`` scores; a singleton group keeps
    its score (``A_i = s_i``), as verl does. Computed in float64 and rounded once to
    float32 (verl's float32 ``s_i * n`` overflows near the float32 maximum); an advantage
    beyond float32 (``rloo([3e38, -3e38], [0, 0])`` is ``6e38``) raises
    ``TrainerValueError`` naming the first such score, ``scores[i]``.

    Returns float32 ``(n,)``, or ``A_i * mask[i, t]`` as float32 ``(n, T)`` when ``mask``
    is given.
    """
    s = _arr("scores", scores, np.float32)
    g = _group_ids(group_ids)
    if mask is None:
        return _core.rloo(s, g)
    return _core.rloo_broadcast(s, g, _arr("mask", mask, np.float32))


def broadcast(advantages: npt.ArrayLike, mask: npt.ArrayLike) -> F32:
    """One advantage per response onto its tokens: ``out[i, t] = advantages[i] * mask[i, t]``.

    ``advantages`` is float32 ``(B,)``, ``mask`` ``(B, T)``; returns float32 ``(B, T)``
    (0 where the mask is 0).
    """
    return _core.broadcast(
        _arr("advantages", advantages, np.float32), _arr("mask", mask, np.float32)
    )


def discounted_returns(rewards: npt.ArrayLike, mask: npt.ArrayLike, *, gamma: float) -> F32:
    """Discounted returns per row, from the last position backwards (verl REINFORCE++).

    ``G_t = m_t * (r_t + gamma * G_next(t))``, where ``G_next(t)`` is the return at the
    next position after ``t`` whose mask is 1 (0 if there is none). Masked positions get
    0, their rewards are ignored, and the running return carries across them (verl 0.9.1;
    earlier verl versions reset it at masked positions instead).

    ``rewards`` float32 ``(B, T)``, ``gamma`` in ``[0, 1]``; returns float32 ``(B, T)``.
    The recursion is float32, as verl's; a return that finite rewards take beyond float32
    raises ``TrainerValueError`` naming the first such position
    (``rewards[r, c] (flat index i): the discounted return overflows float32 (inf)``).
    """
    return _core.discounted_returns(
        _arr("rewards", rewards, np.float32),
        _arr("mask", mask, np.float32),
        gamma=_args.real("gamma", gamma),
    )


def reinforce_pp(rewards: npt.ArrayLike, mask: npt.ArrayLike, *, gamma: float) -> tuple[F32, F32]:
    """REINFORCE++ (verl ``compute_reinforce_plus_plus_outcome_advantage``).

    ``returns = discounted_returns(rewards, mask, gamma=gamma)`` and
    ``advantages = whiten(returns, mask) * mask`` (batch-wide masked whitening with the
    unbiased variance). Returns ``(advantages, returns)``, both float32 ``(B, T)``, as verl.
    Needs at least two positions where the mask is 1. A return, whitening statistic or
    advantage beyond float32 (from finite rewards near the float32 maximum) raises
    ``TrainerValueError`` naming ``rewards`` and, for a return or an advantage, the first
    such position, as :func:`discounted_returns`.
    """
    return _core.reinforce_pp(
        _arr("rewards", rewards, np.float32),
        _arr("mask", mask, np.float32),
        gamma=_args.real("gamma", gamma),
    )


def gae(
    rewards: npt.ArrayLike,
    values: npt.ArrayLike,
    mask: npt.ArrayLike,
    *,
    gamma: float,
    lam: float,
    whiten_advantages: bool = True,
) -> tuple[F32, F32]:
    """Generalised advantage estimation (verl ``compute_gae_advantage_return``).

    Per row, backwards over all ``T`` positions, with ``V_next = 0`` and ``A_next = 0``
    at the end::

        delta_t = r_t + gamma * V_next - V_t
        if m_t == 1:  A_t = delta_t + gamma * lam * A_next;  V_next = V_t
        if m_t == 0:  A_t = A_next                            (V_next unchanged)

    so observation / padding tokens are skipped. ``returns = A + V`` (at every position);
    ``advantages = whiten(A, mask)`` when ``whiten_advantages`` (verl always whitens; the
    whitened values are not multiplied by the mask, as in verl), else ``A``.

    ``rewards``, ``values`` float32 ``(B, T)``; ``gamma``, ``lam`` in ``[0, 1]``. Returns
    ``(advantages, returns)``, both float32 ``(B, T)``. The recursion is float32, as
    verl's; an advantage or return that finite inputs take beyond float32 (``r - V`` of
    ``3.4e38 - (-3.4e38)``) raises ``TrainerValueError`` naming the first such position
    of ``rewards`` (``rewards[r, c] (flat index i): the advantage overflows float32
    (inf)``); whitening statistics beyond float32 name ``rewards`` too.
    """
    return _core.gae(
        _arr("rewards", rewards, np.float32),
        _arr("values", values, np.float32),
        _arr("mask", mask, np.float32),
        gamma=_args.real("gamma", gamma),
        lam=_args.real("lam", lam),
        whiten=_args.flag("whiten_advantages", whiten_advantages),
    )


def whiten(x: npt.ArrayLike, mask: npt.ArrayLike, *, shift_mean: bool = True) -> F32:
    """Masked whitening (verl ``masked_whiten``).

    ``out = (x - mean) / sqrt(var + 1e-8)`` (``+ mean`` when ``shift_mean`` is false),
    where ``mean = sum(m x) / sum(m)`` and the unbiased
    ``var = sum(m (x - mean)^2) / (sum(m) - 1)`` run over the positions where the mask is
    1. Every position is transformed, masked ones included (verl does the same). Needs at
    least two positions where the mask is 1 (verl raises too).
    """
    return _core.whiten(
        _arr("x", x, np.float32),
        _arr("mask", mask, np.float32),
        shift_mean=_args.flag("shift_mean", shift_mean),
    )


def kl_divergence(logp: npt.ArrayLike, ref_logp: npt.ArrayLike, kind: KlKind = "k1") -> F32:
    """Per-token KL penalty estimate (verl ``kl_penalty``), with ``d = logp - ref_logp``.

    * ``"k1"`` / ``"kl"``: ``d``
    * ``"abs"``: ``|d|``
    * ``"k2"`` / ``"mse"``: ``0.5 * d^2``
    * ``"k3"`` / ``"low_var_kl"``: ``clamp(exp(k) - k - 1, -10, 10)`` with
      ``k = clamp(-d, -20, 20)`` (verl's clamping)

    verl's ``"+"`` variants (``"k3+"`` ...) are accepted too: they differ only in the
    gradient, not the value. ``logp``, ``ref_logp`` float32 ``(B, T)``, finite; returns
    float32 ``(B, T)``. An estimate that finite inputs take beyond float32 (k1's
    difference or k2's square near the float32 maximum) raises ``TrainerValueError``
    naming the first such position of ``logp``; k3 is clamped and never overflows.
    """
    return _core.kl_divergence(
        _arr("logp", logp, np.float32),
        _arr("ref_logp", ref_logp, np.float32),
        _args.text("kind", kind),
    )
