"""Type stubs and documentation of the native module ``orbiter.train._core``.

The module is built from the Rust crate in ``rust/``. Errors from bad input are
:class:`orbiter.train.errors.TrainerValueError` / ``TrainerTypeError`` (both
``TrainerError``); refused lifecycle transitions are ``TrainerError``.
"""

from collections.abc import Sequence
from typing import Any, Final, final

import numpy as np
import numpy.typing as npt

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

# --- Text rewards (rust/reward/text.rs, rust/reward/math.rs; wrappers in rewards/text.py) ---
# Texts are a list / tuple / 1-D numpy array of str; a non-str item raises TrainerTypeError
# naming the argument and index, unequal lengths TrainerValueError. Empty in, empty out.

def normalized_exact_match(
    predictions: Sequence[str] | npt.NDArray[Any], references: Sequence[str] | npt.NDArray[Any]
) -> npt.NDArray[np.float32]:
    """1.0 where SQuAD-normalised prediction and reference are equal."""

def word_f1(
    predictions: Sequence[str] | npt.NDArray[Any], references: Sequence[str] | npt.NDArray[Any]
) -> npt.NDArray[np.float32]:
    """SQuAD word F1 per row (both sides empty: 1.0)."""

def regex_match(
    texts: Sequence[str] | npt.NDArray[Any], pattern: str, full: bool
) -> npt.NDArray[np.float32]:
    """1.0 where *pattern* (Rust regex syntax) matches; the whole text with *full*."""

def extract_answer(texts: Sequence[str] | npt.NDArray[Any], style: str) -> list[str | None]:
    """Answer per text by *style* ("gsm8k", "boxed", "last_number"), None where absent."""

def math_equal(
    responses: Sequence[str] | npt.NDArray[Any],
    answers: Sequence[str] | npt.NDArray[Any],
    style: str,
) -> npt.NDArray[np.float32]:
    """1.0 where the response's final answer equals the reference exactly.

    *style*: "auto", "boxed", "gsm8k", "last_number" or "full".
    """
