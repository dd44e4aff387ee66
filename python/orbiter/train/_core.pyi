"""Type stubs and documentation of the native module ``orbiter.train._core``.

The module is built from the Rust crate in ``rust/``. Errors from bad input are
:class:`orbiter.train.errors.TrainerValueError` / ``TrainerTypeError`` (both
``TrainerError``); refused lifecycle transitions are ``TrainerError``.
"""

from collections.abc import Sequence
from typing import Any, Final, final

import numpy as np
import numpy.typing as npt
from numpy.typing import NDArray

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

def _allocator_purge_delay_ms() -> int:
    """The core allocator's purge delay in ms (-1: freed memory is kept for reuse)."""

def _panic_guard_selftest(detached: bool) -> None:
    """Panic on purpose inside the panic guard; always raises ``TrainerError``.

    Exists so the test suite can prove a Rust panic never reaches Python as a
    ``PanicException``. *detached* panics in a kernel running without the GIL.
    """

# ---------------------------------------------------------------------------
# Ragged tokens and dataset validation (rust/ragged.rs, rust/validate.rs).
# Token buffers are 1-D int32 or int64, offsets 1-D int64 (Arrow's list layout), all
# C-contiguous and taken without a copy; errors name the argument and first bad index.

_Tokens = NDArray[np.int32] | NDArray[np.int64]
_Offsets = NDArray[np.int64]
_Scores = NDArray[np.float32]

class RaggedTokens:
    """A ragged batch checked once: ``values`` held as given, ``offsets`` copied read-only."""

    def __init__(self, values: _Tokens, offsets: _Offsets) -> None:
        """Check ``offsets[0] == 0``, non-decreasing, ``offsets[-1] == len(values)``."""

    @property
    def values(self) -> _Tokens: ...
    @property
    def offsets(self) -> _Offsets: ...
    def __len__(self) -> int: ...
    def lengths(self) -> NDArray[np.int64]:
        """Row lengths ``offsets[1:] - offsets[:-1]``."""

    def to_padded(
        self, pad_id: int, side: str, max_len: int | None = None
    ) -> tuple[_Tokens, NDArray[np.bool_]]:
        """``(ids (n, width), mask (n, width))``; ``width = max_len`` or the longest row (longer
        rows keep their first ``max_len`` tokens); ``side`` is ``"left"`` or ``"right"``."""

    def slice(self, start: int, stop: int) -> RaggedTokens:
        """Rows ``start..stop`` over a view of ``values``."""

    @staticmethod
    def from_padded(ids: _Tokens, mask: NDArray[Any]) -> RaggedTokens:
        """The tokens where ``mask`` (bool or int, non-zero) is set, row by row."""

    @staticmethod
    def from_lists(rows: list[Any]) -> RaggedTokens | None:
        """An int64 batch of rows that are all lists or tuples of ints, in one walk;
        ``None`` when some row is another kind of sequence. A non-int element (bool
        included) is a ``TypeError`` naming ``sequences[row][position]``; an int beyond
        int64 a ``ValueError``."""

    @staticmethod
    def from_utf8(
        texts: list[Any], prefix: str, bos: int | None = None, eos: int | None = None
    ) -> RaggedTokens | None:
        """Byte-level int32 rows: row ``i`` is ``[bos] + UTF-8 of (prefix + texts[i]) +
        [eos]``, in one pass; ``None`` when some item is not a str or has no UTF-8 (a
        lone surrogate)."""

# ---------------------------------------------------------------------------
# Trajectory batches (rust/trajectory/, rust/py/trajectory.rs; wrapper and formulas in
# orbiter.train.trajectories). Flat per-token arrays lie on the response offsets.

class TrajectoryBatch:
    """Agent trajectories checked once: ids as ``RaggedTokens``, the trainable mask (0/1
    bytes) and logprobs held as given, turns and rewards copied read-only. Errors name the
    argument, the trajectory and the position (``logprobs[2][5]: NaN is not allowed``)."""

    def __init__(
        self,
        prompt_ids: RaggedTokens,
        response_ids: RaggedTokens,
        trainable_mask: NDArray[Any],
        logprobs: _F32,
        turn_ends: _I64 | None = None,
        turn_offsets: _I64 | None = None,
        *,
        mask_offsets: _I64 | None = None,
        logprob_offsets: _I64 | None = None,
        turn_rewards: _F32 | None = None,
        turn_reward_offsets: _I64 | None = None,
        rewards: _F32 | None = None,
        vocab_size: int | None = None,
    ) -> None:
        """Check every part (``trainable_mask`` bool, int8, uint8, int64 or float32, 1-D; ids
        of one dtype); ``*_offsets`` given when a column came in rows of its own; no turn ends:
        one turn per run of trainable tokens."""

    @property
    def prompt_ids(self) -> RaggedTokens: ...
    @property
    def response_ids(self) -> RaggedTokens: ...
    @property
    def trainable_mask(self) -> NDArray[np.uint8]: ...
    @property
    def logprobs(self) -> _F32: ...
    @property
    def turn_ends(self) -> RaggedTokens: ...
    @property
    def turn_rewards(self) -> _F32 | None: ...
    @property
    def rewards(self) -> _F32 | None: ...
    @property
    def vocab_size(self) -> int | None: ...
    def __len__(self) -> int: ...
    def token_rewards(self, per: str = "trajectory") -> _F32:
        """Each reward on its trajectory's (turn's) last trainable token, 0 elsewhere."""

    def outcome_scores(self, per: str = "trajectory") -> _F32:
        """``s_b``: ``rewards[b]`` or ``sum_k turn_rewards[b][k]``."""

    def grpo(
        self,
        group_ids: _I64,
        per: str = "trajectory",
        normalize_std: bool = True,
        eps: float = 1e-6,
    ) -> _F32:
        """``(s_b - mean_g) / (std_g + eps)`` (or ``s_b - mean_g``) on trainable tokens."""

    def rloo(self, group_ids: _I64, per: str = "trajectory") -> _F32:
        """``s_b n / (n - 1) - mean_g n / (n - 1)`` (singletons ``s_b``) on trainable tokens."""

    def broadcast(self, advantages: _F32) -> _F32:
        """``advantages[b] * trainable_mask[b, t]``."""

    def loss_weights(
        self,
        mode: str,
        dp_size: int = 1,
        batch_num_tokens: float | None = None,
        global_batch_size: float | None = None,
        loss_scale_factor: float | None = None,
    ) -> _F32:
        """verl ``agg_loss`` weights ``w``: ``agg_loss(L) == sum(w * L)``."""

    def aggregate(
        self,
        values: _F32,
        mode: str,
        dp_size: int = 1,
        batch_num_tokens: float | None = None,
        global_batch_size: float | None = None,
        loss_scale_factor: float | None = None,
    ) -> float:
        """``sum w * values`` over trainable tokens (values flat or right-padded (B, W))."""

    def num_turns(self) -> NDArray[np.int64]:
        """verl's ``num_turns``: ``1 + turns + tool spans`` per trajectory."""

    def pad(
        self, values: NDArray[Any], fill: float, side: str = "right", max_len: int | None = None
    ) -> NDArray[Any]:
        """A flat float32 or uint8 per-token array as (B, W)."""

    @staticmethod
    def turn_ends_from_mask(mask: NDArray[Any], offsets: _I64) -> RaggedTokens:
        """One turn per run of trainable tokens, ending after its last."""

class TokenIssue:
    row: int
    kind: str
    length: int
    position: int | None
    value: int | None
    message: str

class DatasetReport:
    rows: int
    tokens: int
    vocab_size: int
    min_len: int
    max_len: int
    mean_len: float
    p50_len: float
    p95_len: float
    too_short: int
    too_long: int
    bad_ids: int
    @property
    def errors(self) -> tuple[TokenIssue, ...]: ...
    @property
    def ok(self) -> bool: ...

class RecordIssue:
    index: int
    key: str | None
    kind: str
    message: str

class RecordReport:
    records: int
    bad_records: int
    total_errors: int
    @property
    def errors(self) -> tuple[RecordIssue, ...]: ...
    @property
    def ok(self) -> bool: ...

def validate_tokens(
    tokens: RaggedTokens,
    vocab_size: int,
    min_len: int,
    max_len: int | None,
    max_errors: int,
) -> DatasetReport:
    """Lengths in ``[min_len, max_len]`` and ids in ``[0, vocab_size)``: statistics and the
    first ``max_errors`` problems in row order."""

def validate_records(
    records: Any,
    required: list[tuple[str, Any, str]],
    optional: list[tuple[str, Any, str]],
    max_errors: int,
) -> RecordReport:
    """Counts of all problems and the first ``max_errors``; rules are ``(key, types, name)``,
    checked with ``isinstance``."""

def scan_text_records(
    records: list[Any], prompt_keys: list[str], answer_keys: list[str]
) -> tuple[list[Any], list[Any], NDArray[np.uint8]]:
    """One walk over *records*: for each dict of exactly two str keys, one of
    *prompt_keys* and one of *answer_keys*, both holding a str (exact types), its prompt,
    its answer and its layout code ``(prompt_index * len(answer_keys) + answer_index) * 2
    + answer_first``; ``None``, ``None`` and 255 for every other record."""

# ---------------------------------------------------------------------------
# Token rewards and the reward pipeline (rust/reward/token.rs, rust/reward/pipeline.rs).
# Each returns float32 (n,); responses and references must share their dtype.

def token_pair_reward(reward: str, responses: RaggedTokens, references: RaggedTokens) -> _Scores:
    """``reward`` of each response against its reference: ``exact_match`` (1 where the rows
    are equal), ``prefix_match`` (1 where the response starts with the reference),
    ``contains`` (1 where the reference is a contiguous run of the response) or
    ``token_f1`` (``2·common / (len(resp) + len(ref))``, ``common`` the multiset
    intersection size)."""

def length_penalty_linear(responses: RaggedTokens, target: float, scale: float) -> _Scores:
    """``-|len - target| / scale`` in float64; one beyond float32 names ``responses[i]``."""

def length_penalty_dapo(
    responses: RaggedTokens, max_len: int, cache_len: int, penalty_factor: float
) -> _Scores:
    """DAPO's overlong soft penalty, times ``penalty_factor``; one beyond float32 names
    ``responses[i]``."""

def repetition_penalty(responses: RaggedTokens, n: int, max_penalty: float) -> _Scores:
    """``max_penalty · (1 - unique n-grams / n-grams)``; 0 for rows shorter than ``n``."""

def stop_token_check(responses: RaggedTokens, stop_ids: list[int]) -> _Scores:
    """1 where the row's last token is in ``stop_ids``."""

def combine_rewards(
    names: list[str],
    scores: list[_Scores],
    weights: list[float],
    clip: tuple[float, float] | None = None,
) -> _Scores:
    """``clip(Σ_k weights[k] · scores[k])`` (float64 accumulation); every score finite, a
    total beyond float32 an error naming its row and largest component."""

# --- advantages (documented in orbiter.train.advantages; formulas there) -------------------
# Arrays are taken as they are: exact dtype, C-contiguous, no copy. ``mask`` is (B, T) of
# dtype bool, int8, uint8 or float32 holding only 0/1. Bad input raises TrainerValueError /
# TrainerTypeError naming the argument and the first bad index.

def grpo(scores: _F32, group_ids: _I64, normalize_std: bool = True, eps: float = 1e-6) -> _F32:
    """GRPO advantages (n,): (s - mean_g) / (std_g + eps); singletons mean 0, std 1.
    Float64, rounded once; a centred score beyond float32 names ``scores[i]``."""

def grpo_broadcast(
    scores: _F32, group_ids: _I64, mask: _Mask, normalize_std: bool = True, eps: float = 1e-6
) -> _F32:
    """GRPO advantages broadcast onto ``mask`` (n, T) in one pass."""

def rloo(scores: _F32, group_ids: _I64) -> _F32:
    """RLOO advantages (n,): s * n / (n - 1) - mean_g * n / (n - 1); singletons keep s.
    Float64, rounded once; an advantage beyond float32 names ``scores[i]``."""

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

# --- Text rewards (rust/reward/text.rs, rust/reward/math.rs; wrappers in rewards/text.py) ---
# Texts are a list / tuple / 1-D numpy array of str; a non-str item raises TrainerTypeError
# naming the argument and index; unequal lengths or an empty batch are TrainerValueError.

def exact_text_match(predictions: Any, references: Any) -> NDArray[np.float32]:
    """1.0 where ``predictions[i].strip() == references[i].strip()``."""

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
    """1.0 where *pattern* (Rust regex syntax, ``re``'s ``$ \\Z \\w \\s``) matches; the whole text
    with *full*. Patterns over 4,096 characters, 64 levels or an 8 MiB automaton raise."""

def extract_answer(texts: Sequence[str] | npt.NDArray[Any], style: str) -> list[str | None]:
    """Answer per text by *style* ("gsm8k", "boxed", "last_number"), None where absent."""

def math_answer(
    responses: Sequence[str] | npt.NDArray[Any], style: str, think_marker: str | None
) -> list[str | None]:
    """The final answer ``math_equal`` reads from each response, or None."""

def math_equal(
    responses: Sequence[str] | npt.NDArray[Any],
    answers: Sequence[str] | npt.NDArray[Any],
    style: str,
    think_marker: str | None,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.uint8]]:
    """Scores (1.0 where the final answer equals the gold) and statuses per response.

    *style*: "auto", "boxed", "gsm8k", "last_number" or "full". *think_marker*: only the
    text after its last occurrence is scored (None: the whole response). Statuses:
    0 incorrect, 1 correct, 2 no answer found, 3 gold unparseable.
    """
