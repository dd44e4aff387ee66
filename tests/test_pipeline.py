"""RewardPipeline: weighted sum, clipping, name lookup, callables and errors."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from orbiter.train import TrainerError
from orbiter.train import rewards as rw
from orbiter.train.data import RaggedTokens
from orbiter.train.rewards import RewardPipeline


def make(rows, dtype=np.int64):
    return RaggedTokens.from_sequences(rows, dtype=dtype)


def check_error(excinfo, kind, *needles):
    assert isinstance(excinfo.value, TrainerError) and isinstance(excinfo.value, kind)
    for n in needles:
        assert n in str(excinfo.value), (n, str(excinfo.value))


finite = st.floats(-1e3, 1e3, allow_nan=False, width=32)


@given(
    st.integers(1, 30).flatmap(
        lambda n: st.lists(st.lists(finite, min_size=n, max_size=n), min_size=1, max_size=4)
    ),
    st.data(),
)
def test_weighted_sum_and_clip_match_numpy(columns, data):
    k = len(columns)
    weights = data.draw(st.lists(st.floats(-5, 5, allow_nan=False), min_size=k, max_size=k))
    clip = data.draw(st.one_of(st.none(), st.tuples(finite, finite).map(sorted).map(tuple)))
    arrays = [np.array(c, np.float32) for c in columns]
    fns = [functools.partial(lambda r, f, a: a, a=a) for a in arrays]
    entries = [(f, w) for f, w in zip(fns, weights, strict=True)]
    pipe = RewardPipeline(entries, clip=clip)
    total, parts = pipe.score(None, None)
    want = sum(w * a.astype(np.float64) for w, a in zip(weights, arrays, strict=True))
    if clip is not None:
        want = np.clip(want, clip[0], clip[1])
    assert total.dtype == np.float32 and total.shape == arrays[0].shape
    np.testing.assert_allclose(total, want.astype(np.float32), rtol=1e-6, atol=1e-5)
    assert len(parts) == k and list(parts) == list(pipe.names)
    for got, a in zip(parts.values(), arrays, strict=True):
        np.testing.assert_array_equal(got, a)
    np.testing.assert_array_equal(pipe(None, None), total)


def test_names_resolve_core_rewards_with_kwargs():
    resp = make([[1, 2, 3, 9], [4, 5], [1, 1, 1, 1, 1]])
    refs = make([[1, 2, 3, 9], [4], [1, 1]])
    pipe = RewardPipeline(
        [
            ("exact_match", 1.0),
            ("token_f1", 0.5),
            (rw.contains, 0.25),
            ("length_penalty", 0.1, {"kind": "dapo", "max_len": 4, "cache_len": 2}),
            ("repetition_penalty", 1.0, {"n": 2}),
            ("stop_token_check", 0.2, {"stop_ids": [9]}),
            ("exact_match", 2.0),
        ]
    )
    assert pipe.names == (
        "exact_match",
        "token_f1",
        "contains",
        "length_penalty",
        "repetition_penalty",
        "stop_token_check",
        "exact_match#2",
    )
    total, parts = pipe.score(resp, refs)
    np.testing.assert_array_equal(parts["exact_match"], rw.exact_match(resp, refs))
    np.testing.assert_array_equal(
        parts["length_penalty"], rw.length_penalty(resp, kind="dapo", max_len=4, cache_len=2)
    )
    np.testing.assert_array_equal(parts["repetition_penalty"], rw.repetition_penalty(resp, n=2))
    want = sum(
        w * parts[n].astype(np.float64) for n, w in zip(pipe.names, pipe.weights, strict=True)
    )
    np.testing.assert_allclose(total, want, rtol=1e-6)


def test_names_resolve_late_bound_rewards(monkeypatch):
    """Any function later added to orbiter.train.rewards (e.g. text rewards) works by name."""

    def shouting(responses, references):
        return np.array([float(r.isupper()) for r in responses], np.float32)

    monkeypatch.setattr(rw, "shouting", shouting, raising=False)
    pipe = RewardPipeline([("shouting", 2.0)])
    np.testing.assert_array_equal(pipe(["A", "b"], ["x", "y"]), [2.0, 0.0])


def test_per_item_and_mixed_token_text():
    texts = ["2", "3", "four"]
    answers = ["2", "4", "four"]
    tokens = make([[1, 2, 0], [3], [4, 0]])
    ref_tokens = make([[1], [3], [4]])

    def same(output: str, expected: str) -> float:
        return 1.0 if output.strip() == expected.strip() else 0.0

    pipe = RewardPipeline(
        [
            (RewardPipeline.per_item(same), 1.0),
            ("stop_token_check", 0.5, {"stop_ids": [0]}),
            ("prefix_match", 0.25),
            (lambda r, e: [len(x) for x in r], 0.01),
        ],
        clip=(0.0, 1.2),
    )
    assert pipe.names == ("same", "stop_token_check", "prefix_match", "<lambda>")
    total, parts = pipe.score(texts, answers, response_tokens=tokens, reference_tokens=ref_tokens)
    np.testing.assert_array_equal(parts["same"], [1.0, 0.0, 1.0])
    np.testing.assert_array_equal(parts["stop_token_check"], [1.0, 0.0, 1.0])
    np.testing.assert_array_equal(parts["<lambda>"], [1.0, 1.0, 4.0])
    want = np.clip(
        parts["same"]
        + 0.5 * parts["stop_token_check"]
        + 0.25 * parts["prefix_match"]
        + 0.01 * parts["<lambda>"].astype(np.float64),
        0.0,
        1.2,
    )
    np.testing.assert_allclose(total, want, rtol=1e-6)
    with pytest.raises(ValueError) as e:
        pipe(texts, answers)
    check_error(e, ValueError, "response_tokens", "stop_token_check")
    with pytest.raises(ValueError) as e:
        pipe(texts, answers, response_tokens=tokens)
    check_error(e, ValueError, "reference_tokens", "prefix_match")


def test_component_output_errors_name_component_and_row():
    nan_at_2 = np.array([0.0, 1.0, np.nan], np.float32)

    def broken(r, e):
        return nan_at_2

    pipe = RewardPipeline([(lambda r, e: np.ones(3), 1.0), (broken, 1.0)])
    with pytest.raises(ValueError) as e:
        pipe(None, None)
    check_error(e, ValueError, "broken[2]", "NaN")

    def inf64(r, e):
        return np.array([0.0, 1e300])  # float64 inf after narrowing to float32

    with pytest.raises(ValueError) as e:
        RewardPipeline([(inf64, 1.0)])(None, None)
    check_error(e, ValueError, "inf64[1]", "inf")

    def short(r, e):
        return np.ones(2, np.float32)

    with pytest.raises(ValueError) as e:
        RewardPipeline([(lambda r, e: np.ones(3), 1.0), (short, 1.0)])(None, None)
    check_error(e, ValueError, "short", "2 scores", "expected 3")

    def words(r, e):
        return ["a", "b"]

    with pytest.raises(TypeError) as e:
        RewardPipeline([(words, 1.0)])(None, None)
    check_error(e, TypeError, "words")

    def matrix(r, e):
        return np.ones((2, 2), np.float32)

    with pytest.raises(ValueError) as e:
        RewardPipeline([(matrix, 1.0)])(None, None)
    check_error(e, ValueError, "matrix", "1-D")

    with pytest.raises(ValueError) as e:
        RewardPipeline([(lambda r, e: np.ones(0, np.float32), 1.0)])(None, None)
    check_error(e, ValueError, "empty")

    # Against the batch: one score per response, whatever the other components return.
    def one_score(r, e):
        return np.array([1.0])

    with pytest.raises(ValueError) as e:
        RewardPipeline([(one_score, 1.0)])(["#### 5", "#### 6"], ["5", "5"])
    check_error(e, ValueError, "one_score", "shape (1,)", "(2,)")
    with pytest.raises(ValueError) as e:
        RewardPipeline([(lambda r, e: 1.0, 1.0)])(["#### 5", "#### 6"], ["5", "5"])
    check_error(e, ValueError, "shape ()")

    with pytest.raises(TypeError) as e:
        RewardPipeline([(RewardPipeline.per_item(lambda o, x: None, name="nothing"), 1.0)])(
            ["a", "b"], ["a", "b"]
        )
    check_error(e, TypeError, "nothing[0]")
    with pytest.raises(ValueError) as e:
        RewardPipeline.per_item(lambda o, x: 1.0)(["a", "b"], ["a"])
    check_error(e, ValueError, "references")


def test_user_exceptions_carry_the_component_name():
    def boom(r, e):
        raise KeyError("x")

    with pytest.raises(KeyError) as e:
        RewardPipeline([(boom, 1.0)])(None, None)
    assert any("boom" in n for n in e.value.__notes__)


@pytest.mark.parametrize(
    ("entries", "clip", "kind", "needles"),
    [
        ([], None, ValueError, ["rewards", "empty"]),
        ("exact_match", None, TypeError, ["rewards"]),
        ([("nope", 1.0)], None, ValueError, ["rewards[0]", "unknown reward 'nope'", "token_f1"]),
        ([("RewardPipeline", 1.0)], None, ValueError, ["rewards[0]", "unknown"]),
        ([("exact_match", float("nan"))], None, ValueError, ["rewards[0]", "finite"]),
        ([("exact_match", 1.0), ("token_f1", "1")], None, TypeError, ["rewards[1]", "weight"]),
        ([("exact_match", True)], None, TypeError, ["rewards[0]", "weight"]),
        ([("exact_match",)], None, TypeError, ["rewards[0]"]),
        ([(42, 1.0)], None, TypeError, ["rewards[0]", "int"]),
        ([("exact_match", 1.0, [1])], None, TypeError, ["rewards[0]", "kwargs"]),
        ([("exact_match", 1.0)], (1.0, 0.0), ValueError, ["clip"]),
        ([("exact_match", 1.0)], (float("nan"), 0.0), ValueError, ["clip"]),
        ([("exact_match", 1.0)], "ab", TypeError, ["clip"]),
    ],
)
def test_construction_errors(entries, clip, kind, needles):
    with pytest.raises(kind) as e:
        RewardPipeline(entries, clip=clip)
    check_error(e, kind, *needles)


def test_combine_checks_missing_components_and_repr():
    pipe = RewardPipeline([("exact_match", 1.0), ("token_f1", -0.5)], clip=(-1, 1))
    with pytest.raises(ValueError) as e:
        pipe.combine({"exact_match": np.ones(2, np.float32)})
    check_error(e, ValueError, "token_f1")
    assert (
        repr(pipe) == "RewardPipeline([('exact_match', 1), ('token_f1', -0.5)], clip=(-1.0, 1.0))"
    )
    assert pipe.clip == (-1.0, 1.0)


def test_columns_reach_the_components_that_name_them() -> None:
    got: dict[str, Any] = {}

    def named(responses: Any, references: Any, *, level: list[str]) -> list[float]:
        got["named"] = level
        return [float(lv == "easy") for lv in level]

    def anything(responses: Any, references: Any, **columns: Any) -> list[float]:
        got["anything"] = sorted(columns)
        return [0.0] * len(responses)

    pipe = RewardPipeline([(named, 1.0), (anything, 1.0), ("word_f1", 1.0)])
    tokens = RaggedTokens.from_sequences([[1], [2]])
    total = pipe(["a", "b"], ["a", "c"], response_tokens=tokens, level=["easy", "hard"], id=[1, 2])
    assert got == {"named": ["easy", "hard"], "anything": ["id", "level", "response_tokens"]}
    np.testing.assert_array_equal(total, [2.0, 0.0])  # word_f1 got no columns: 1 + 1, 0 + 0
    assert pipe.needs_reference
    assert not RewardPipeline([(named, 1.0), ("length_penalty", 1.0)]).needs_reference


def test_total_beyond_float32_names_row_and_component():
    pipe = RewardPipeline([("exact_text_match", 1.0), ("word_f1", 1e308)])
    want = 1.0 + 1e308 * 1.0  # float64 reference of row 1, beyond float32
    assert want > float(np.finfo(np.float32).max)
    with pytest.raises(ValueError) as e:
        pipe(["x", "a b"], ["y", "a b"])
    check_error(e, ValueError, "word_f1[1]: the weighted total overflows float32 (inf)")
    # Clipping keeps the total within float32; so does a weight that fits.
    clipped = RewardPipeline([("exact_text_match", 1.0), ("word_f1", 1e308)], clip=(-1, 1))
    np.testing.assert_array_equal(clipped(["x", "a b"], ["y", "a b"]), [0.0, 1.0])
    big = RewardPipeline([("word_f1", 3e38)])
    np.testing.assert_array_equal(big(["a b"], ["a b"]), np.array([3e38], np.float32))
    # A weighted score beyond even float64 (2 * 1e308) is refused, not returned as inf.
    pipe = RewardPipeline([("word_f1", 1e308), ("word_f1", -1e308)])
    with pytest.raises(ValueError) as e:
        pipe.combine({"word_f1": np.array([2.0], np.float32), "word_f1#2": np.ones(1, np.float32)})
    check_error(e, ValueError, "word_f1[0]", "overflows float32")


def test_per_item_int_beyond_float64_is_named():
    pipe = RewardPipeline([(RewardPipeline.per_item(lambda o, e: 10**400, name="item"), 1.0)])
    with pytest.raises(ValueError) as e:
        pipe(["a"], ["a"])
    check_error(e, ValueError, "item[0]", "beyond float64")
