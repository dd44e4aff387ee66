"""Type stubs and documentation of the native module ``orbiter.train._core``.

The module is built from the Rust crate in ``rust/``. Errors from bad input are
:class:`orbiter.train.errors.TrainerValueError` / ``TrainerTypeError`` (both
``TrainerError``); refused lifecycle transitions are ``TrainerError``.
"""

from typing import Final, final

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
        """The current state's value: "created", "validated", "training", ... ."""
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

def _panic_guard_selftest(detached: bool) -> None:
    """Panic on purpose inside the panic guard; always raises ``TrainerError``.

    Exists so the test suite can prove a Rust panic never reaches Python as a
    ``PanicException``. *detached* panics in a kernel running without the GIL.
    """
