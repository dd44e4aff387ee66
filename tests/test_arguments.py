"""Scalar arguments of the public API: a wrong type or value is a TrainerError naming the
argument, never a bare TypeError / OverflowError from the binding layer nor a silent
coercion (True as 1, 3.7 truncated to 3, "3" parsed)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from orbiter.train import advantages as adv
from orbiter.train import rewards
from orbiter.train.data import RaggedTokens, validate_tokens
from orbiter.train.errors import TrainerError, TrainerTypeError, TrainerValueError

TOKENS = RaggedTokens.from_sequences([[1, 2], [3]])
S = np.array([1.0, 2.0, 3.0], np.float32)
G = np.array([0, 0, 1], np.int64)
M = np.ones((2, 3), np.float32)

CASES: list[tuple[str, Callable[[], Any], type[Exception], str]] = [
    (
        "vocab float",
        lambda: validate_tokens(TOKENS, vocab_size=10.5),
        TrainerTypeError,
        "vocab_size",
    ),
    (
        "vocab None",
        lambda: validate_tokens(TOKENS, vocab_size=None),
        TrainerTypeError,
        "vocab_size",
    ),
    (
        "vocab bool",
        lambda: validate_tokens(TOKENS, vocab_size=True),
        TrainerTypeError,
        "vocab_size",
    ),
    (
        "vocab huge",
        lambda: validate_tokens(TOKENS, vocab_size=2**63),
        TrainerValueError,
        "vocab_size",
    ),
    (
        "max_errors float",
        lambda: validate_tokens(TOKENS, vocab_size=10, max_errors=1.5),
        TrainerTypeError,
        "max_errors",
    ),
    ("pad_id float", lambda: TOKENS.to_padded(pad_id=1.5), TrainerTypeError, "pad_id"),
    ("max_len float", lambda: TOKENS.to_padded(max_len=2.5), TrainerTypeError, "max_len"),
    ("side None", lambda: TOKENS.to_padded(side=None), TrainerTypeError, "side"),
    ("index float", lambda: TOKENS[1.5], TrainerTypeError, "index"),
    ("sequences int", lambda: RaggedTokens.from_sequences(5), TrainerTypeError, "sequences"),
    (
        "nested row",
        lambda: RaggedTokens.from_sequences([np.array([1]), [[1, 2]]]),
        TrainerTypeError,
        "sequences[1]",
    ),
    ("eps str", lambda: adv.grpo(S, G, eps="x"), TrainerTypeError, "eps"),
    (
        "normalize_std int",
        lambda: adv.grpo(S, G, normalize_std=0),
        TrainerTypeError,
        "normalize_std",
    ),
    ("gamma str", lambda: adv.gae(M, M, M, gamma="1", lam=1.0), TrainerTypeError, "gamma"),
    ("lam None", lambda: adv.gae(M, M, M, gamma=1.0, lam=None), TrainerTypeError, "lam"),
    ("shift_mean str", lambda: adv.whiten(M, M, shift_mean="no"), TrainerTypeError, "shift_mean"),
    ("kind None", lambda: adv.kl_divergence(M, M, None), TrainerTypeError, "kind"),
    ("pattern None", lambda: rewards.regex_match(["a"], None), TrainerTypeError, "pattern"),
    ("full int", lambda: rewards.regex_match(["a"], "a", full=1), TrainerTypeError, "full"),
    ("style None", lambda: rewards.extract_answer(["a"], style=None), TrainerTypeError, "style"),
    ("math style", lambda: rewards.math_equal(["1"], ["1"], style=3), TrainerTypeError, "style"),
    (
        "dapo max_len str",
        lambda: rewards.length_penalty(TOKENS, kind="dapo", max_len="x", cache_len=1),
        TrainerTypeError,
        "max_len",
    ),
    (
        "dapo max_len float",
        lambda: rewards.length_penalty(TOKENS, kind="dapo", max_len=3.7, cache_len=1),
        TrainerTypeError,
        "max_len",
    ),
    (
        "linear target str",
        lambda: rewards.length_penalty(TOKENS, target="3"),
        TrainerTypeError,
        "target",
    ),
    ("ngram float", lambda: rewards.repetition_penalty(TOKENS, n=2.5), TrainerTypeError, "n:"),
    ("ngram zero", lambda: rewards.repetition_penalty(TOKENS, n=0), TrainerValueError, "n:"),
    (
        "stop huge",
        lambda: rewards.stop_token_check(TOKENS, [2**70]),
        TrainerValueError,
        "stop_ids[0]",
    ),
    ("stop None", lambda: rewards.stop_token_check(TOKENS, None), TrainerTypeError, "stop_ids"),
    (
        "stop bool",
        lambda: rewards.stop_token_check(TOKENS, [1, True]),
        TrainerTypeError,
        "stop_ids[1]",
    ),
    # issue 14: bad arguments that ended in a bare ValueError / TypeError / OverflowError /
    # UnicodeEncodeError
    ("scores str", lambda: adv.grpo("abc", G), TrainerTypeError, "scores"),
    ("scores bytes", lambda: adv.grpo(b"abc", G), TrainerTypeError, "scores"),
    ("scores words", lambda: adv.grpo(["1", "x", "2"], G), TrainerTypeError, "scores"),
    ("mask str", lambda: adv.broadcast(S, "mask"), TrainerTypeError, "mask"),
    ("eps 1e400", lambda: adv.grpo(S, G, eps=10**400), TrainerValueError, "eps"),
    (
        "gamma 1e5000",
        lambda: adv.discounted_returns(M, M, gamma=10**5000),
        TrainerValueError,
        "gamma",
    ),
    (
        "masked scores",
        lambda: adv.grpo(np.ma.masked_array(S, mask=[0, 1, 0]), G),
        TrainerTypeError,
        "masked",
    ),
    ("mixed group ids", lambda: adv.grpo(S, [1, "1", 2]), TrainerTypeError, "one type"),
    (
        "surrogate pattern",
        lambda: rewards.regex_match(["a"], "\ud800"),
        TrainerValueError,
        "pattern",
    ),
    (
        "surrogate style",
        lambda: rewards.math_equal(["a"], ["a"], style="\ud800"),
        TrainerValueError,
        "style",
    ),
    (
        "surrogate kind",
        lambda: adv.kl_divergence(M, M, kind="\ud800"),  # type: ignore[arg-type]
        TrainerValueError,
        "kind",
    ),
    ("surrogate side", lambda: TOKENS.to_padded(side="\ud800"), TrainerValueError, "side"),
]
# found by the fuzz suite
CASES += [
    ("group ids None", lambda: adv.grpo(S, None), TrainerTypeError, "group_ids"),  # type: ignore[arg-type]
    (
        "pipeline weight 1e400",
        lambda: rewards.RewardPipeline([("word_f1", 10**400)]),
        TrainerValueError,
        "weight",
    ),
    (
        "length kind array",
        lambda: rewards.length_penalty(TOKENS, kind=np.array([1, 2])),  # type: ignore[arg-type]
        TrainerTypeError,
        "kind",
    ),
]
RECORD_MAX_ERRORS = [1.5, "3", 2**70, True]


@pytest.mark.parametrize(
    ("call", "kind", "name"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_scalar_arguments_name_themselves(
    call: Callable[[], Any], kind: type[Exception], name: str
) -> None:
    with pytest.raises(kind) as info:
        call()
    assert isinstance(info.value, TrainerError)
    assert name in str(info.value), str(info.value)


def test_numpy_scalars_are_accepted() -> None:
    report = validate_tokens(TOKENS, vocab_size=np.int64(10), max_errors=np.int32(3))
    assert report.ok
    ids, _ = TOKENS.to_padded(pad_id=np.int64(0), max_len=np.int16(2))
    assert ids.shape == (2, 2)
    np.testing.assert_array_equal(TOKENS[np.int64(1)], [3])
    got = adv.grpo(S, G, eps=np.float32(1e-6), normalize_std=np.bool_(True))
    np.testing.assert_allclose(got, adv.grpo(S, G))
    stops = rewards.stop_token_check(TOKENS, np.int64(2))
    np.testing.assert_array_equal(stops, [1.0, 0.0])


@pytest.mark.parametrize("max_errors", RECORD_MAX_ERRORS)
def test_validate_records_max_errors_is_an_int(max_errors: Any) -> None:
    from orbiter.train.data import validate_records

    with pytest.raises(TrainerError, match="max_errors"):
        validate_records([{"a": 1}], required={"a": int}, max_errors=max_errors)


def test_grouping_by_ids_of_one_type_still_works() -> None:
    np.testing.assert_array_equal(adv.grpo(S, ["a", "a", "b"]), adv.grpo(S, G))
    np.testing.assert_array_equal(adv.grpo(S, [7, np.int64(7), 8]), adv.grpo(S, G))


def test_a_zero_d_stop_id_is_one_id() -> None:
    np.testing.assert_array_equal(rewards.stop_token_check(TOKENS, np.array(2)), [1.0, 0.0])
