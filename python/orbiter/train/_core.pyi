"""Type stubs and documentation of the native module ``orbiter.train._core``.

The module is built from the Rust crate in ``rust/``. Errors from bad input are
:class:`orbiter.train.errors.TrainerValueError` / ``TrainerTypeError`` (both
``TrainerError``); refused lifecycle transitions are ``TrainerError``.
"""

from typing import Any, Final, final

import numpy as np
import numpy.typing as npt

# Advantages section: array aliases (the core checks dtypes itself; stubs stay permissive).
_F32 = npt.NDArray[np.float32]
_I64 = npt.NDArray[np.int64]
_Mask = npt.NDArray[Any]

__version__: Final[str]

@final
class Lifecycle:
    """Thread-safe trainer lifecycle: CREATED → VALIDATED → TRAINING → COMPLETED | FAILED.

    Each transition is an atomic compare-and-set: of any number of threads racing on
    the same transition exactly one succeeds. Times are monotonic nanoseconds since the
    lifecycle was created.
    """

    def __init__(self) -> None: ...
    @property
    def state(self) -> str:
        """The current state's value: "created", "validated", "training", "completed" or "failed"."""
    @property
    def validation_ns(self) -> int:
        """Total nanoseconds of the recorded check runs."""
    @property
    def elapsed_ns(self) -> int:
        """Monotonic nanoseconds since creation."""
    def transition(self, target: str) -> int:
        """Move to *target*; return the transition's time in ns since creation.

        Raises:
            TrainerError: the transition is not legal from the current state; the
                message names the current state and the attempted transition.
            TrainerValueError: *target* is not a state's value.
        """
    def check(self, target: str) -> None:
        """Raise ``TrainerError`` unless moving to *target* is legal now; moves nowhere."""
    def history(self) -> list[tuple[str, str, int]]:
        """Accepted transitions as ``(source, target, ns since creation)``, oldest first."""
    def record_check(self, name: str, passed: bool, duration_ns: int) -> None:
        """Record one run of a validation check and how long it took."""
    def checks(self) -> list[tuple[str, bool, int, int]]:
        """Check runs as ``(name, passed, duration ns, ns since creation at its end)``."""

# --- advantages (documented in orbiter.train.advantages; formulas there) -------------------
# Arrays are taken as they are: exact dtype, C-contiguous, no copy. ``mask`` is (B, T) of
# dtype bool, int8, uint8 or float32 holding only 0/1. Bad input raises TrainerValueError /
# TrainerTypeError naming the argument and the first bad index.

def grpo(
    scores: _F32, group_ids: _I64, normalize_std: bool = True, eps: float = 1e-6
) -> _F32:
    """GRPO advantages (n,): (s - mean_g) / (std_g + eps); singletons mean 0, std 1."""

def grpo_broadcast(
    scores: _F32, group_ids: _I64, mask: _Mask, normalize_std: bool = True, eps: float = 1e-6
) -> _F32:
    """GRPO advantages broadcast onto ``mask`` (n, T) in one pass."""

def rloo(scores: _F32, group_ids: _I64) -> _F32:
    """RLOO advantages (n,): s * n / (n - 1) - mean_g * n / (n - 1); singletons keep s."""

def rloo_broadcast(scores: _F32, group_ids: _I64, mask: _Mask) -> _F32:
    """RLOO advantages broadcast onto ``mask`` (n, T) in one pass."""

def broadcast(advantages: _F32, mask: _Mask) -> _F32:
    """advantages[:, None] * mask as float32 (B, T)."""

def discounted_returns(rewards: _F32, mask: _Mask, gamma: float) -> _F32:
    """G_t = m_t (r_t + gamma G_next), G_next carried across masked positions."""

def reinforce_pp(rewards: _F32, mask: _Mask, gamma: float) -> tuple[_F32, _F32]:
    """(whiten(returns, mask) * mask, returns)."""

def gae(
    rewards: _F32, values: _F32, mask: _Mask, gamma: float, lam: float, whiten: bool = True
) -> tuple[_F32, _F32]:
    """(advantages, returns) as verl's compute_gae_advantage_return."""

def whiten(x: _F32, mask: _Mask, shift_mean: bool = True) -> _F32:
    """verl masked_whiten: (x - mean) * rsqrt(unbiased var + 1e-8) over mask == 1."""

def kl_divergence(logp: _F32, ref_logp: _F32, kind: str = "k1") -> _F32:
    """Per-token KL estimate: k1/kl, abs, k2/mse, k3/low_var_kl (optionally with '+')."""
