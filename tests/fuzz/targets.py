"""One fuzz target per entry point: how to draw its arguments and what a good result is.

A target is ``fn(draw) -> Case``. The runner calls ``case.call()`` and applies the oracle:
the call returns a result that ``case.check`` accepts (right type, dtype and shape; finite
and in range where documented), or it raises a ``TrainerError`` whose message names one of
``case.names``. Anything else is a failure. ``case.mutable`` lists the writeable input
arrays a second thread may overwrite while the call runs (the kernels release the GIL);
then only the structure of the result is checked, since its values follow no formula.

The public API (``advantages``, ``rewards``, ``data``, ``records``, ``config``) gets hostile
values in every argument; the native functions of ``_core`` get hostile arrays and texts but
scalars of the types their Python wrappers guarantee (the wrappers are what checks a bool
or a ``10**400`` before the core sees it, and they are fuzzed with those).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import strategies as st

from orbiter.train import _core, config, records
from orbiter.train import advantages as adv
from orbiter.train import errors as rw_errors
from orbiter.train import rewards as rw
from orbiter.train.data import DatasetReport, RaggedTokens, RecordReport, TrajectoryBatch
from orbiter.train.data import validate_records as public_validate_records
from orbiter.train.data import validate_tokens as public_validate_tokens
from orbiter.train.records import Example
from orbiter.train.rewards import RewardPipeline
from tests.fuzz import hostile as h

Draw = Callable[[Any], Any]
Check = Callable[[Any, bool], None]


@dataclass
class Case:
    call: Callable[[], Any]
    names: tuple[str, ...]
    check: Check
    mutable: list[np.ndarray] = field(default_factory=list)


Target = Callable[[Draw], Case]
TARGETS: dict[str, Target] = {}


def target(name: str) -> Callable[[Target], Target]:
    def register(fn: Target) -> Target:
        TARGETS[name] = fn
        return fn

    return register


P_BAD = 0.12  # per argument; a case has several, so about half the cases hold a hostile one


# --- result checks ----------------------------------------------------------------------------


def f32(
    shape: tuple[int, ...],
    *,
    finite: bool = True,
    lo: float | None = None,
    hi: float | None = None,
    values: tuple[float, ...] | None = None,
) -> Check:
    def check(out: Any, strict: bool) -> None:
        assert isinstance(out, np.ndarray), f"returned {type(out).__name__}, not an ndarray"
        assert out.dtype == np.float32, f"dtype {out.dtype}, expected float32"
        assert out.shape == shape, f"shape {out.shape}, expected {shape}"
        if not strict:
            return
        if finite:
            bad = np.flatnonzero(~np.isfinite(out))
            assert not bad.size, f"non-finite {out.flat[bad[0]]} at flat index {bad[0]}"
        if lo is not None:
            assert not (out < lo).any(), f"value {out.min()} below {lo}"
        if hi is not None:
            assert not (out > hi).any(), f"value {out.max()} above {hi}"
        if values is not None:
            assert np.isin(out, values).all(), f"values outside {values}"

    return check


def pair(a: Check, b: Check) -> Check:
    def check(out: Any, strict: bool) -> None:
        assert isinstance(out, tuple) and len(out) == 2, f"returned {type(out).__name__}"
        a(out[0], strict)
        b(out[1], strict)

    return check


def anything(out: Any, strict: bool) -> None:
    return None


# --- shared drawers ---------------------------------------------------------------------------


def sizes(draw: Draw) -> tuple[int, int]:
    """``(B, T)``: mostly small (empty included), sometimes past the rayon threshold."""
    if h.chance(draw, 0.01):
        n = draw(st.sampled_from([16_385, 40_000, h.MAX_ROWS]))
        t = draw(st.sampled_from([1, 2, 8]))
        return n, max(1, min(t, h.MAX_2D // n))
    return draw(st.integers(0, 9)), draw(st.integers(0, 9))


def gamma_like(draw: Draw, p_bad: float = P_BAD) -> Any:
    good = st.sampled_from([0.0, 1.0, 0.99, 0.5]) | st.floats(0, 1)
    return h.scalar(draw, good | st.sampled_from([-0.1, 1.5, 2]), p_bad)


def writeable(*xs: Any) -> list[np.ndarray]:
    return [x for x in xs if type(x) is np.ndarray and x.flags.writeable and x.flags.c_contiguous]


def token_values(draw: Draw, size: int, dtype: Any) -> np.ndarray:
    r = h.rng(draw)
    info = np.iinfo(dtype)
    style = draw(st.sampled_from(["small", "small", "vocab", "extreme", "repeat"]))
    if style == "vocab":
        return r.integers(0, 50_000, size).astype(dtype)
    if style == "extreme":
        return r.choice([info.min, info.max, -1, 0, 1], size).astype(dtype)
    if style == "repeat":
        return np.tile(np.arange(3, dtype=dtype), size // 3 + 1)[:size]
    return r.integers(0, 5, size).astype(dtype)


def ragged_parts(draw: Draw, n: int, dtype: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Valid ``(values, offsets)`` of ``n`` rows."""
    dtype = dtype or draw(st.sampled_from([np.int32, np.int64]))
    r = h.rng(draw)
    top = draw(st.sampled_from([0, 1, 4, 12, 40]))
    lengths = r.integers(0, top + 1, n)
    if n and h.chance(draw, 0.03):
        lengths[draw(st.integers(0, n - 1))] = draw(st.sampled_from([1000, 100_000]))
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return token_values(draw, int(offsets[-1]), dtype), offsets


def tampered_offsets(draw: Draw, values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    bad = offsets.copy()
    how = draw(st.sampled_from(["first", "last", "decrease", "negative", "huge", "short"]))
    k = draw(st.integers(0, len(bad) - 1))
    if how == "first":
        bad[0] = draw(st.sampled_from([1, -1, len(values) + 1]))
    elif how == "last":
        bad[-1] = draw(st.sampled_from([len(values) + 1, len(values) - 1, 2**62]))
    elif how == "decrease" and len(bad) > 2:
        bad[1], bad[2] = bad[2] + 3, 0
    elif how == "negative":
        bad[k] = -(2**63)
    elif how == "huge":
        bad[k] = 2**63 - 1
    else:
        bad = bad[:-1].copy() if len(bad) > 1 else np.zeros(0, np.int64)
    return bad


def ragged_arrays(draw: Draw, n: int, dtype: Any = None) -> tuple[Any, Any]:
    """``(values, offsets)`` for a native function: valid, or hostile in either or in their
    relation (bad offsets)."""
    values, offsets = ragged_parts(draw, n, dtype)
    if h.chance(draw, P_BAD):
        offsets = tampered_offsets(draw, values, offsets)
    return h.array(draw, values, P_BAD), h.array(draw, offsets, P_BAD)


def ragged(draw: Draw, n: int, dtype: Any = None) -> Any:
    """A ``RaggedTokens`` of ``n`` rows, or a hostile stand-in: another type, a batch whose
    offsets were overwritten after the check (it holds the caller's arrays), another dtype."""
    values, offsets = ragged_parts(draw, n, dtype)
    tokens = RaggedTokens(values, offsets)
    if not h.chance(draw, P_BAD):
        return tokens
    kind = draw(st.sampled_from(["lists", "none", "str", "array", "tampered", "int32", "int64"]))
    if kind == "lists":
        return [tokens[i].tolist() for i in range(n)] if n < 100 else [[0]] * n
    if kind == "none":
        return None
    if kind == "str":
        return "1 2 3"
    if kind == "array":
        return values
    if kind == "tampered":
        # The batch owns its checked offsets; what a caller can still change under it is
        # the length of the values array.
        own = values.copy()
        resized = RaggedTokens(own, offsets)
        own.resize(len(own) + 1, refcheck=False)
        return resized
    return RaggedTokens(values.astype(np.int32 if kind == "int32" else np.int64), offsets)


def arrays_of(tokens: Any) -> list[np.ndarray]:
    return writeable(tokens.values, tokens.offsets) if isinstance(tokens, RaggedTokens) else []


# --- advantages -------------------------------------------------------------------------------

ADV_NAMES = ("scores", "group_ids", "mask", "normalize_std", "eps", "advantages")


def _ids(draw: Draw, n: int) -> Any:
    if h.chance(draw, P_BAD):
        return h.hostile_group_ids(draw, n)
    ids = h.group_ids(draw, n)
    # ndarrays get every hostile stand-in (deep nesting, None, a 0-d array, text ...)
    return h.array(draw, ids, P_BAD / 2) if isinstance(ids, np.ndarray) else ids


def _group_shape(scores: Any, mask: Any, n: int, t: int) -> tuple[int, ...]:
    """The output shape of a group estimator: one row per score actually passed (a hostile
    draw may lengthen scores and group ids alike, and the call is then valid) and the mask's
    width when there is one."""
    rows = scores.shape[0] if isinstance(scores, np.ndarray) and scores.ndim == 1 else n
    return (rows,) if mask is None else (rows, t)


@target("advantages.grpo")
def t_grpo(draw: Draw) -> Case:
    n, t = sizes(draw)
    scores = h.array(draw, h.floats(draw, (n,)), P_BAD)
    ids = _ids(draw, n)
    norm = h.scalar(draw, st.booleans(), P_BAD)
    eps = h.scalar(draw, st.sampled_from([1e-6, 0.0, 1e-3, 1.0, 1e30]), P_BAD)
    m = h.array(draw, h.mask(draw, (n, t)), P_BAD) if draw(st.booleans()) else None
    shape = _group_shape(scores, m, n, t)
    return Case(
        lambda: adv.grpo(scores, ids, normalize_std=norm, eps=eps, mask=m),
        ADV_NAMES,
        f32(shape),
        writeable(scores, ids, m),
    )


@target("advantages.rloo")
def t_rloo(draw: Draw) -> Case:
    n, t = sizes(draw)
    scores = h.array(draw, h.floats(draw, (n,)), P_BAD)
    ids = _ids(draw, n)
    m = h.array(draw, h.mask(draw, (n, t)), P_BAD) if draw(st.booleans()) else None
    shape = _group_shape(scores, m, n, t)
    return Case(
        lambda: adv.rloo(scores, ids, mask=m), ADV_NAMES, f32(shape), writeable(scores, ids, m)
    )


@target("advantages.broadcast")
def t_broadcast(draw: Draw) -> Case:
    n, t = sizes(draw)
    a = h.array(draw, h.floats(draw, (n,)), P_BAD)
    m = h.array(draw, h.mask(draw, (n, t)), P_BAD)
    return Case(lambda: adv.broadcast(a, m), ("advantages", "mask"), f32((n, t)), writeable(a, m))


@target("advantages.discounted_returns")
def t_discounted(draw: Draw) -> Case:
    n, t = sizes(draw)
    r = h.array(draw, h.floats(draw, (n, t)), P_BAD)
    m = h.array(draw, h.mask(draw, (n, t)), P_BAD)
    g = gamma_like(draw)
    return Case(
        lambda: adv.discounted_returns(r, m, gamma=g),
        ("rewards", "mask", "gamma"),
        f32((n, t)),
        writeable(r, m),
    )


@target("advantages.reinforce_pp")
def t_reinforce_pp(draw: Draw) -> Case:
    n, t = sizes(draw)
    r = h.array(draw, h.floats(draw, (n, t)), P_BAD)
    m = h.array(draw, h.mask(draw, (n, t)), P_BAD)
    g = gamma_like(draw)
    return Case(
        lambda: adv.reinforce_pp(r, m, gamma=g),
        ("rewards", "mask", "gamma"),
        pair(f32((n, t)), f32((n, t))),
        writeable(r, m),
    )


@target("advantages.gae")
def t_gae(draw: Draw) -> Case:
    n, t = sizes(draw)
    r = h.array(draw, h.floats(draw, (n, t)), P_BAD)
    v = h.array(draw, h.floats(draw, (n, t)), P_BAD)
    m = h.array(draw, h.mask(draw, (n, t)), P_BAD)
    g, lam = gamma_like(draw), gamma_like(draw)
    w = h.scalar(draw, st.booleans(), P_BAD)
    return Case(
        lambda: adv.gae(r, v, m, gamma=g, lam=lam, whiten_advantages=w),
        ("rewards", "values", "mask", "gamma", "lam", "whiten_advantages"),
        pair(f32((n, t)), f32((n, t))),
        writeable(r, v, m),
    )


@target("advantages.whiten")
def t_whiten(draw: Draw) -> Case:
    n, t = sizes(draw)
    x = h.array(draw, h.floats(draw, (n, t)), P_BAD)
    m = h.array(draw, h.mask(draw, (n, t)), P_BAD)
    shift = h.scalar(draw, st.booleans(), P_BAD)
    return Case(
        lambda: adv.whiten(x, m, shift_mean=shift),
        ("x", "mask", "shift_mean"),
        f32((n, t)),
        writeable(x, m),
    )


KL_KINDS = ["k1", "kl", "abs", "k2", "mse", "k3", "low_var_kl", "k3+", "k1+", "K1", "k4", ""]


@target("advantages.kl_divergence")
def t_kl(draw: Draw) -> Case:
    n, t = sizes(draw)
    a = h.array(draw, h.floats(draw, (n, t)), P_BAD)
    b = h.array(draw, h.floats(draw, (n, t)), P_BAD)
    kind = h.scalar(draw, st.sampled_from(KL_KINDS), P_BAD)
    return Case(
        lambda: adv.kl_divergence(a, b, kind),
        ("logp", "ref_logp", "kind"),
        f32((n, t)),
        writeable(a, b),
    )


# --- token rewards ----------------------------------------------------------------------------

PAIR_NAMES = ("responses", "references")


def _token_pair(draw: Draw) -> tuple[int, Any, Any]:
    n = sizes(draw)[0]
    dtype = draw(st.sampled_from([np.int32, np.int64]))
    resp = ragged(draw, n, dtype)
    m = n + draw(st.sampled_from([0, 0, 0, 0, 1, -1])) if n else n
    ref = ragged(draw, max(m, 0), dtype)
    return n, resp, ref


def _pair_target(fn: Callable[[Any, Any], Any], check: Callable[[int], Check]) -> Target:
    def build(draw: Draw) -> Case:
        n, resp, ref = _token_pair(draw)
        return Case(lambda: fn(resp, ref), PAIR_NAMES, check(n), arrays_of(resp) + arrays_of(ref))

    return build


for _name, _fn, _chk in [
    ("exact_match", rw.exact_match, lambda n: f32((n,), values=(0.0, 1.0))),
    ("prefix_match", rw.prefix_match, lambda n: f32((n,), values=(0.0, 1.0))),
    ("contains", rw.contains, lambda n: f32((n,), values=(0.0, 1.0))),
    ("token_f1", rw.token_f1, lambda n: f32((n,), lo=0.0, hi=1.0)),
]:
    target(f"rewards.{_name}")(_pair_target(_fn, _chk))


@target("rewards.length_penalty")
def t_length_penalty(draw: Draw) -> Case:
    n = sizes(draw)[0]
    resp = ragged(draw, n)
    kind = h.scalar(draw, st.sampled_from(["linear", "dapo"]), P_BAD / 2)
    # magnitudes whose penalty overflows float32 (1e308 / 1, 3 / 5e-324) among ordinary ones
    nums = st.sampled_from([0, 1, 4, 16, 100.0, 0.5, 1e-3, 1e308, 3e38, 1e-38, 5e-324])
    kwargs = {
        "kind": kind,
        "target": h.scalar(draw, nums | st.none(), P_BAD),
        "scale": h.scalar(draw, nums | st.none(), P_BAD),
        "max_len": h.scalar(draw, st.sampled_from([None, 0, 4, 16, 64]), P_BAD),
        "cache_len": h.scalar(draw, st.sampled_from([None, 0, 2, 8, 64]), P_BAD),
        "penalty_factor": h.scalar(draw, st.sampled_from([1.0, 0.5, 0.0, -2.0, 1e300]), P_BAD),
    }
    return Case(
        lambda: rw.length_penalty(resp, **kwargs),
        ("responses", *kwargs),
        f32((n,)),
        arrays_of(resp),
    )


@target("rewards.repetition_penalty")
def t_repetition(draw: Draw) -> Case:
    n = sizes(draw)[0]
    resp = ragged(draw, n)
    k = h.scalar(draw, st.sampled_from([1, 2, 3, 5, 31, 32, 40, 0, -1]), P_BAD)
    mp = h.scalar(draw, st.sampled_from([-1.0, 1.0, 0.0, 2.5]), P_BAD)
    lo = min(0.0, mp) if isinstance(mp, float) else None
    hi = max(0.0, mp) if isinstance(mp, float) else None
    return Case(
        lambda: rw.repetition_penalty(resp, n=k, max_penalty=mp),
        ("responses", "n", "max_penalty"),
        f32((n,), lo=lo, hi=hi),
        arrays_of(resp),
    )


@target("rewards.stop_token_check")
def t_stop(draw: Draw) -> Case:
    n = sizes(draw)[0]
    resp = ragged(draw, n)
    good = st.sampled_from([[0], [1, 2], 3, [], (4,), np.array([1, 2]), [2**31 - 1]])
    stops = h.scalar(draw, good, P_BAD)  # a 0-d array among the hostile scalars
    if h.chance(draw, P_BAD):
        stops = [1, draw(st.sampled_from([True, 1.5, "2", None, *h.HUGE_INTS]))]
    return Case(
        lambda: rw.stop_token_check(resp, stops),
        ("responses", "stop_ids"),
        f32((n,), values=(0.0, 1.0)),
        arrays_of(resp),
    )


# --- text rewards -----------------------------------------------------------------------------


def rows_of(texts: Any, n: int) -> int:
    """The batch size a call must answer for: that of the texts passed, when they are a
    sized batch (a hostile one of another length, passed to both sides, is still valid)."""
    if isinstance(texts, list | tuple) or (isinstance(texts, np.ndarray) and texts.ndim == 1):
        return len(texts)
    return n


def _text_pair(draw: Draw) -> tuple[int, Any, Any]:
    n = draw(st.integers(0, 6)) if not h.chance(draw, 0.01) else 20_000
    if n > 50:
        a: Any = ["x = 1"] * n
        b: Any = ["1"] * n
    else:
        a, b = h.texts(draw, n), h.texts(draw, n)
    a, b = h.hostile_texts(draw, a, P_BAD), h.hostile_texts(draw, b, P_BAD)
    return rows_of(a, n), a, b


UNIT = f32  # alias for readability below

for _name, _fn, _args in [
    ("exact_text_match", rw.exact_text_match, ("predictions", "references")),
    ("normalized_exact_match", rw.normalized_exact_match, ("predictions", "references")),
    ("word_f1", rw.word_f1, ("predictions", "references")),
]:

    def _build(draw: Draw, fn: Any = _fn, names: tuple[str, ...] = _args) -> Case:
        n, a, b = _text_pair(draw)
        return Case(lambda: fn(a, b), names, UNIT((n,), lo=0.0, hi=1.0))

    target(f"rewards.{_name}")(_build)


REGEX_PIECES = st.sampled_from(
    ["a", "b", ".", "*", "+", "?", "|", "(", ")", "[a-z]", "\\d", "\\w", "\\s", "^", "$",
     "{2}", "{0,3}", "\\b", "(?i)", "\\p{L}", "[^x]", "é", "\\\\", "\\", "(?P<x>a)"]
)  # fmt: skip


@target("rewards.regex_match")
def t_regex(draw: Draw) -> Case:
    n = draw(st.integers(0, 6))
    texts = h.hostile_texts(draw, h.texts(draw, n), P_BAD)
    n = rows_of(texts, n)
    pieces = draw(st.lists(REGEX_PIECES, max_size=8))
    pattern: Any = "".join(pieces)[: h.MAX_PATTERN]
    if h.chance(draw, P_BAD):
        pattern = draw(
            st.sampled_from(
                [
                    "(",
                    "[",
                    "a{99999999}",
                    "(a*)*$",
                    "(?=a)",
                    "\\1",
                    "a{1000}{1000}",
                    "(?<",
                    "",
                    "a" * 1999 + "b",
                    "a" * 5000,
                    "(" * 100 + ")" * 100,
                    "\\w{3000}",
                    "x$\\Z",
                ]
            )
            | st.sampled_from(h.hostile_scalars())
        )
    full = h.scalar(draw, st.booleans(), P_BAD)
    return Case(
        lambda: rw.regex_match(texts, pattern, full=full),
        ("texts", "pattern", "full"),
        UNIT((n,), values=(0.0, 1.0)),
    )


def _answers(n: int) -> Check:
    def check(out: Any, strict: bool) -> None:
        assert isinstance(out, list), f"returned {type(out).__name__}, not a list"
        assert len(out) == n, f"{len(out)} answers for {n} texts"
        assert all(x is None or isinstance(x, str) for x in out), "an answer is not str | None"

    return check


@target("rewards.extract_answer")
def t_extract(draw: Draw) -> Case:
    n = draw(st.integers(0, 6))
    texts = h.hostile_texts(draw, h.texts(draw, n), P_BAD)
    n = rows_of(texts, n)
    style = h.scalar(draw, st.sampled_from(["gsm8k", "boxed", "last_number", "auto"]), P_BAD)
    return Case(lambda: rw.extract_answer(texts, style), ("texts", "style"), _answers(n))


def _math(n: int, with_status: Any) -> Check:
    scores = f32((n,), values=(0.0, 1.0))

    def check(out: Any, strict: bool) -> None:
        if with_status is not True:
            scores(out, strict)
            return
        assert isinstance(out, tuple) and len(out) == 2, f"returned {type(out).__name__}"
        scores(out[0], strict)
        status = out[1]
        assert isinstance(status, np.ndarray) and status.dtype == np.uint8, "status not uint8"
        assert status.shape == (n,), f"status shape {status.shape}"
        assert (status <= 3).all(), f"status {status.max()} is no MathStatus"
        assert ((status == 1) == (out[0] == 1.0)).all(), "score 1 iff status CORRECT"

    return check


@target("rewards.math_equal")
def t_math(draw: Draw) -> Case:
    n, a, b = _text_pair(draw)
    style = h.scalar(draw, st.sampled_from(["auto", "boxed", "gsm8k", "last_number", "full"]), 0.1)
    marker = h.scalar(draw, st.sampled_from(["</think>", None, "", "####"]), 0.1)
    ws = h.scalar(draw, st.booleans(), 0.1)
    return Case(
        lambda: rw.math_equal(a, b, style=style, think_marker=marker, with_status=ws),
        ("responses", "answers", "style", "think_marker", "with_status"),
        _math(n, ws),
    )


# --- reward pipeline --------------------------------------------------------------------------


def _per_item_result(draw: Draw) -> Any:
    return draw(st.sampled_from([1.0, 0, True, np.float32(2), float("nan"), "x", None, 10**400]))


@target("rewards.RewardPipeline")
def t_pipeline(draw: Draw) -> Case:
    n = draw(st.integers(0, 5))
    responses = h.texts(draw, n)
    references = h.hostile_texts(draw, h.texts(draw, n), P_BAD)
    tokens = ragged(draw, n)
    value = _per_item_result(draw)
    choices: list[Any] = [
        ("exact_text_match", 1.0),
        ("word_f1", 0.5),
        ("length_penalty", -0.5, {"kind": "dapo", "max_len": 8, "cache_len": 4}),
        ("repetition_penalty", 1.0, {"n": h.scalar(draw, st.just(2), P_BAD)}),
        (RewardPipeline.per_item(lambda o, e, v=value: v, name="item"), 2.0),
        (lambda r, f: np.ones(draw(st.sampled_from([n, n + 1]))), 1.0),
        ("exact_match", 1.0),
        ("nope", 1.0),
        # 1e308 times a match is a total beyond float32, named by the component
        ("word_f1", draw(st.sampled_from([float("nan"), True, "1", 2**70, 1e30, 1e308]))),
        ("exact_text_match", -1e308),
        ("word_f1",),
        ["word_f1", 1.0],
        ("word_f1", 1.0, ["not", "a", "mapping"]),
        (h.Opaque(), 1.0),
    ]
    picks = draw(st.lists(st.sampled_from(range(len(choices))), min_size=0, max_size=4))
    entries = [choices[i] for i in picks]
    clip = h.scalar(draw, st.sampled_from([None, (-1.0, 1.0), (0, 0), (1.0, -1.0)]), P_BAD)
    ref_tokens = ragged(draw, n) if draw(st.booleans()) else None

    def call() -> Any:
        pipe = RewardPipeline(entries, clip=clip)
        return pipe(responses, references, response_tokens=tokens, reference_tokens=ref_tokens)

    lo, hi = clip if isinstance(clip, tuple) and len(clip) == 2 else (None, None)
    names = (
        "rewards", "clip", "references", "predictions", "response_tokens", "reference_tokens",
        "responses", "item", "<lambda>", "n", "components", "fn",
        "exact_text_match", "word_f1", "length_penalty", "repetition_penalty", "exact_match",
    )  # fmt: skip
    return Case(call, names, f32((n,), lo=lo, hi=hi))


# --- data -------------------------------------------------------------------------------------


def _well_formed(tokens: Any, rows: int | None, strict: bool = True) -> None:
    assert isinstance(tokens, RaggedTokens), f"returned {type(tokens).__name__}"
    if not strict:  # the batch holds the caller's arrays, which a thread overwrote
        return
    off = tokens.offsets
    assert off.dtype == np.int64 and off.ndim == 1 and off[0] == 0, "offsets malformed"
    assert (np.diff(off) >= 0).all() and off[-1] == len(tokens.values), "offsets malformed"
    assert tokens.values.dtype in (np.int32, np.int64), f"values dtype {tokens.values.dtype}"
    if rows is not None:
        assert len(tokens) == rows, f"{len(tokens)} rows, expected {rows}"


@target("data.RaggedTokens")
def t_ragged_init(draw: Draw) -> Case:
    n = sizes(draw)[0]
    values, offsets = ragged_arrays(draw, n)

    def call() -> Any:
        tokens = RaggedTokens(values, offsets)
        return tokens, tokens.lengths()

    def check(out: Any, strict: bool) -> None:
        tokens, lengths = out
        _well_formed(tokens, None, strict)
        assert lengths.dtype == np.int64 and lengths.shape == (len(tokens),), "lengths"
        if strict:
            assert int(lengths.sum()) == len(tokens.values), "lengths do not sum to tokens"

    return Case(call, ("values", "offsets"), check, writeable(values, offsets))


def _row(draw: Draw) -> Any:
    r = h.rng(draw)
    k = draw(st.integers(0, 5))
    form = draw(st.sampled_from(["list", "tuple", "i32", "i64", "u8", "range"]))
    ints = r.integers(-3, 100, k)
    if form == "list":
        return ints.tolist()
    if form == "tuple":
        return tuple(ints.tolist())
    if form == "range":
        return range(k)
    return ints.astype({"i32": np.int32, "i64": np.int64, "u8": np.uint8}[form])


def _bad_row(draw: Draw) -> Any:
    rows = [
        h.deep_list(60, 1),
        h.deep_list(64, 1),
        h.deep_list(1000, 1),
        [1, True],
        [1.5],
        ["1"],
        "123",
        b"\x01\x02",
        None,
        5,
        [[1, 2]],
        [10**400],
        [2**70],
        [2**63],
        [np.float32(1)],
        np.array([1.5]),
        np.array([[1, 2]]),
        np.array([2**64 - 1], np.uint64),
        np.array(["a"]),
        {1: 2},
        h.Opaque(),
    ]
    return rows[draw(st.integers(0, len(rows) - 1))]


@target("data.RaggedTokens.from_sequences")
def t_from_sequences(draw: Draw) -> Case:
    n = draw(st.integers(0, 8))
    rows = [_row(draw) for _ in range(n)]
    clean = not h.chance(draw, 2 * P_BAD)
    if not clean:
        rows.insert(draw(st.integers(0, n)), _bad_row(draw))
    seqs: Any = rows
    if h.chance(draw, P_BAD):
        seqs = draw(st.sampled_from([None, 5, "abc", h.Opaque(), iter(rows), tuple(rows)]))
    dtype = draw(
        st.sampled_from([None, np.int32, np.int64, None, np.float32, "int64", np.uint8, "i2"])
    )
    if h.chance(draw, P_BAD):  # what numpy cannot read as a dtype at all
        dtype = draw(st.sampled_from([True, 1.5, h.Opaque(), "not a dtype", *h.SURROGATE_TEXTS]))

    def check(out: Any, strict: bool) -> None:
        _well_formed(out, len(rows) if isinstance(seqs, list | tuple) else None)
        if strict and clean and isinstance(seqs, list | tuple):
            for i, row in enumerate(rows):
                want = np.asarray(list(row), dtype=np.int64)
                assert np.array_equal(out[i].astype(np.int64), want), f"row {i} differs"

    return Case(
        lambda: RaggedTokens.from_sequences(seqs, dtype=dtype), ("sequences", "dtype"), check
    )


@target("data.RaggedTokens.from_padded")
def t_from_padded(draw: Draw) -> Case:
    n, t = sizes(draw)
    dtype = draw(st.sampled_from([np.int32, np.int64]))
    ids0 = token_values(draw, n * t, dtype).reshape(n, t)
    m0 = h.mask(draw, (n, t))
    if draw(st.booleans()):
        m0 = m0.astype(draw(st.sampled_from([np.int16, np.int32, np.int64, np.bool_])))
    ids, m = h.array(draw, ids0, P_BAD), h.array(draw, m0, P_BAD)

    def check(out: Any, strict: bool) -> None:
        _well_formed(out, n, strict)
        if strict:
            assert np.array_equal(out.values, ids0[m0 != 0]), "tokens differ from ids[mask]"

    names = ("ids", "mask", "offsets", "values")  # the last two: a mask rewritten mid-gather
    return Case(lambda: RaggedTokens.from_padded(ids, m), names, check, writeable(ids, m))


@target("data.RaggedTokens.from_arrow")
def t_from_arrow(draw: Draw) -> Case:
    try:
        import pyarrow as pa
    except ImportError:  # the no-extras environment: the entry point refuses, as documented
        return Case(lambda: RaggedTokens.from_arrow([[1]]), ("array",), anything)
    n = draw(st.integers(0, 6))
    rows: list[Any] = [draw(st.lists(st.integers(-5, 5), max_size=4)) for _ in range(n)]
    kind = draw(st.sampled_from(["list", "large", "sliced", "null_row", "null_tok", "bad"]))
    typ = draw(st.sampled_from([pa.int32(), pa.int64(), pa.int8(), pa.float32()]))
    if kind == "null_row" and rows:
        rows[0] = None
    if kind == "null_tok" and rows:
        rows[-1] = [*rows[-1], None]
    if kind == "large":
        arr: Any = pa.array(rows, type=pa.large_list(typ))
    elif kind == "bad":
        arr = draw(st.sampled_from([pa.array([1, 2]), [[1]], None, pa.chunked_array([[1]])]))
    else:
        arr = pa.array(rows, type=pa.list_(typ))
        if kind == "sliced" and n:
            arr = arr.slice(1)
    return Case(
        lambda: RaggedTokens.from_arrow(arr), ("array",), lambda o, s: _well_formed(o, None)
    )


@target("data.RaggedTokens.to_padded")
def t_to_padded(draw: Draw) -> Case:
    n = sizes(draw)[0]
    tokens = RaggedTokens(*ragged_parts(draw, n))
    pad = h.scalar(draw, st.sampled_from([0, -1, 2**31 - 1, 2**31, 2**62]), P_BAD)
    side = h.scalar(draw, st.sampled_from(["left", "right", "middle"]), P_BAD)
    # max_len either fits easily or is impossible to allocate (a named error); the middle,
    # an (n, max_len) that allocates but takes gigabytes to fill, is kept out for speed
    max_len = h.scalar(draw, st.sampled_from([None, 0, 1, 3, 64, 2**44, 2**62, -1]), P_BAD)
    if isinstance(max_len, int) and 64 < max_len < 2**44:
        max_len = 64
    lengths = np.diff(tokens.offsets)

    def check(out: Any, strict: bool) -> None:
        ids, m = out
        assert isinstance(ids, np.ndarray) and ids.dtype == tokens.dtype, "ids dtype"
        assert isinstance(m, np.ndarray) and m.dtype == np.bool_, "mask dtype"
        assert ids.shape == m.shape and ids.shape[0] == n, f"shapes {ids.shape} {m.shape}"
        if strict:
            cap = lengths if max_len is None else np.minimum(lengths, max_len)
            assert np.array_equal(m.sum(axis=1), cap), "mask row sums"

    return Case(
        lambda: tokens.to_padded(pad_id=pad, side=side, max_len=max_len),
        ("pad_id", "side", "max_len", "values", "offsets"),
        check,
        arrays_of(tokens),
    )


@target("data.RaggedTokens.__getitem__")
def t_getitem(draw: Draw) -> Case:
    n = draw(st.integers(0, 6))
    tokens = RaggedTokens(*ragged_parts(draw, n))
    index = h.scalar(draw, st.integers(-8, 8) | st.sampled_from([slice(1, None), slice(0, 2)]), 0.3)
    if h.chance(draw, 0.1):
        index = draw(st.sampled_from([slice(None, None, 2), slice(None, None, -1), slice(5, 1)]))

    def call() -> Any:
        try:
            return tokens[index]
        except IndexError as e:  # documented: a row index out of range, as for a list
            return e

    def check(out: Any, strict: bool) -> None:
        if isinstance(out, IndexError):
            return
        if isinstance(out, RaggedTokens):
            _well_formed(out, None)
        else:
            assert isinstance(out, np.ndarray) and out.dtype == tokens.dtype, "row dtype"

    return Case(call, ("index",), check)


def _report(n: int, max_errors: Any) -> Check:
    def check(out: Any, strict: bool) -> None:
        assert isinstance(out, DatasetReport), f"returned {type(out).__name__}"
        assert out.rows == n, f"rows {out.rows} != {n}"
        assert min(out.too_short, out.too_long, out.bad_ids) >= 0, "negative count"
        assert len(out.errors) <= max_errors, "more errors than max_errors"
        if strict:
            assert np.isfinite([out.mean_len, out.p50_len, out.p95_len]).all(), "stats"
        str(out)

    return check


@target("data.validate_tokens")
def t_validate_tokens(draw: Draw) -> Case:
    n = sizes(draw)[0]
    tokens = ragged(draw, n)
    kw = {
        "vocab_size": h.scalar(draw, st.sampled_from([1, 5, 32_000, 2**62, 0, -1]), P_BAD),
        "min_len": h.scalar(draw, st.sampled_from([0, 1, 3, -1]), P_BAD),
        "max_len": h.scalar(draw, st.sampled_from([None, 0, 2, 100, 2**62]), P_BAD),
        "max_errors": h.scalar(draw, st.sampled_from([0, 1, 20, 2**40]), P_BAD),
    }
    me = kw["max_errors"]
    me = me if isinstance(me, int | np.integer) and not isinstance(me, bool) else 2**62
    return Case(
        lambda: public_validate_tokens(tokens, **kw),
        ("tokens", "responses", *kw),
        _report(n, me),
        arrays_of(tokens),
    )


class WeirdDict(dict):  # type: ignore[type-arg]
    """A dict subclass whose ``__getitem__`` disagrees with its storage."""

    def __getitem__(self, key: Any) -> Any:
        return 1


def _record(draw: Draw) -> Any:
    kind = draw(st.sampled_from(["ok", "ok", "ok", "missing", "type", "not_dict", "deep", "weird"]))
    if kind == "ok":
        return {"input": draw(h.TEXT_PIECES), "answer": draw(h.TEXT_PIECES)}
    if kind == "missing":
        return {"input": "x"}
    if kind == "type":
        return {"input": draw(st.sampled_from(h.hostile_scalars())), "answer": "a"}
    if kind == "deep":
        return {"input": h.deep_list(10_000, "x"), "answer": "a"}
    if kind == "weird":
        return WeirdDict(input="x")
    return draw(st.sampled_from([None, "x", 5, ["input", "answer"], h.Opaque()]))


@target("data.validate_records")
def t_validate_records(draw: Draw) -> Case:
    recs: Any = [_record(draw) for _ in range(draw(st.integers(0, 8)))]
    n = len(recs)
    if h.chance(draw, P_BAD):
        recs = draw(st.sampled_from([None, "x", 5, {"input": "a"}, iter(recs), h.Opaque()]))
    required: Any = {"input": str, "answer": str}
    if h.chance(draw, P_BAD):
        required = draw(
            st.sampled_from(
                [{"input": "str"}, {1: str}, ["input"], None, {"input": (str, 3)}, {"x": int | str}]
            )
        )
    optional = draw(st.sampled_from([None, {"id": int}, {"meta": dict | None}]))
    me = h.scalar(draw, st.sampled_from([0, 1, 20]), P_BAD)

    def check(out: Any, strict: bool) -> None:
        assert isinstance(out, RecordReport), f"returned {type(out).__name__}"
        if isinstance(recs, list):
            assert out.records == n, f"records {out.records} != {n}"
        assert 0 <= out.bad_records <= out.records, "bad_records"
        assert out.total_errors >= len(out.errors), "total_errors"
        if type(me) is int:
            assert len(out.errors) <= me, "more errors than max_errors"
        str(out)

    return Case(
        lambda: public_validate_records(recs, required=required, optional=optional, max_errors=me),
        ("records", "required", "optional", "max_errors"),
        check,
    )


# --- trajectories -----------------------------------------------------------------------------

TRAJECTORY_NAMES = (
    "prompt_ids", "response_ids", "trainable_mask", "logprobs", "turn_ends", "turn_offsets",
    "turn_rewards", "rewards", "vocab_size", "group_ids", "per", "mode", "values", "advantages",
    "fill", "side", "max_len", "dp_size", "batch_num_tokens", "global_batch_size",
    "loss_scale_factor", "eps", "normalize_std", "index",
)  # fmt: skip

TRAJECTORY_OPS = (
    "token_rewards", "grpo", "rloo", "broadcast", "loss_weights", "aggregate", "pad",
    "num_turns", "to_padded", "exports",
)  # fmt: skip


_LOSS_MODES = (
    "token-mean", "token-sum", "seq-mean-token-sum", "seq-mean-token-sum-norm",
    "seq-mean-token-mean",
)  # fmt: skip


def _turn_parts(draw: Draw, lengths: np.ndarray, mask: np.ndarray) -> tuple[Any, int]:
    """Turn ends for responses of *lengths*: one turn per non-empty row, None (read off the
    *mask*: a turn per run of trainable tokens within a row), lists, or hostile; and how many
    turns the good ones hold."""
    ends = lengths[lengths > 0]
    offsets = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(lengths > 0, out=offsets[1:])
    kind = draw(st.sampled_from(["ragged", "ragged", "none", "lists", "hostile"]))
    if kind == "none":
        m = mask != 0
        run_end = m.copy()
        run_end[:-1] &= ~m[1:]
        row_last = np.cumsum(lengths)[lengths > 0] - 1
        run_end[row_last] = m[row_last]
        return None, int(run_end.sum())
    if kind == "lists":
        return [[int(x)] if x else [] for x in lengths], len(ends)
    if kind == "hostile":
        return h.array(draw, ends.astype(np.int64), 1.0), len(ends)
    return RaggedTokens(ends.astype(np.int64), offsets), len(ends)


@target("data.TrajectoryBatch")
def t_trajectory_batch(draw: Draw) -> Case:
    """A batch (good or hostile parts) and one of its kernels (good or hostile arguments)."""
    n = sizes(draw)[0] if h.chance(draw, 0.9) else draw(st.integers(0, 3))
    dtype = draw(st.sampled_from([np.int32, np.int64]))
    prompts = ragged(draw, n, dtype)
    rv, ro = ragged_parts(draw, n, dtype)
    responses = RaggedTokens(rv, ro)
    total = len(rv)
    good_mask = h.mask(draw, (total,))
    mask = h.array(draw, good_mask, P_BAD)
    logprobs = h.array(draw, -np.abs(h.floats(draw, (total,))), P_BAD)
    turns, n_turns = _turn_parts(draw, np.diff(ro), good_mask)
    with_turn_rewards = h.chance(draw, 0.7)
    turn_rewards = h.array(draw, h.floats(draw, (n_turns,)), P_BAD) if with_turn_rewards else None
    rewards = h.array(draw, h.floats(draw, (n,)), P_BAD) if h.chance(draw, 0.85) else None
    vocab = h.scalar(draw, st.sampled_from([None, None, 5, 50_000, 2**31]), P_BAD)
    op = draw(st.sampled_from(TRAJECTORY_OPS))
    ids = _ids(draw, n)
    per = h.scalar(draw, st.sampled_from(["trajectory", "turn"]), P_BAD)
    mode = h.scalar(draw, st.sampled_from(list(_LOSS_MODES)), P_BAD)
    norm = h.scalar(draw, st.sampled_from([None, None, 1.0, 1e-30, 1e30, 3.0]), P_BAD)
    dp = h.scalar(draw, st.sampled_from([1, 1, 2]), P_BAD)
    values = h.array(draw, h.floats(draw, (total,)), P_BAD)
    advantages = h.array(draw, h.floats(draw, (n,)), P_BAD)
    fill = h.scalar(draw, st.sampled_from([0.0, -1.0, 1e39]), P_BAD)
    max_len = h.scalar(draw, st.sampled_from([None, None, 0, 3, 2**62]), P_BAD)

    def run(b: TrajectoryBatch) -> Any:
        if op == "token_rewards":
            return b.token_rewards(per)
        if op in ("grpo", "rloo"):
            return getattr(b, op)(ids, per=per)
        if op == "broadcast":
            return b.broadcast(advantages)
        if op == "loss_weights":
            return b.loss_weights(mode, dp_size=dp, global_batch_size=norm, batch_num_tokens=norm)
        if op == "aggregate":
            return b.aggregate(values, mode, loss_scale_factor=norm)
        if op == "pad":
            return b.pad(values, fill=fill, max_len=max_len)
        if op == "num_turns":
            return b.num_turns()
        if op == "to_padded":
            return b.to_padded(max_len=max_len)
        rebuilt = TrajectoryBatch.from_trl_rollout(b.to_trl_rollout())
        again = TrajectoryBatch.from_agent_loop_outputs(b.to_agent_loop_outputs())
        return rebuilt, again

    def call() -> Any:
        b = TrajectoryBatch(
            prompts,
            responses,
            mask,
            logprobs,
            turns,
            turn_rewards=turn_rewards,
            rewards=rewards,
            vocab_size=vocab,
        )
        return b, run(b)

    def check(out: Any, strict: bool) -> None:
        b, got = out
        assert isinstance(b, TrajectoryBatch), f"returned {type(b).__name__}"
        tokens, rows = len(b.logprobs), len(b)
        assert b.trainable_mask.shape == (tokens,), "mask shape"
        if op in ("token_rewards", "grpo", "rloo", "broadcast", "loss_weights"):
            f32((tokens,))(got, strict)
        elif op == "aggregate":
            assert isinstance(got, float), f"returned {type(got).__name__}"
            assert not strict or np.isfinite(got), f"aggregate {got}"
        elif op == "pad":
            assert got.shape[0] == rows and got.dtype == np.float32, "padded"
        elif op == "num_turns":
            assert got.dtype == np.int64 and got.shape == (rows,), "num_turns"
            assert not strict or (got >= 1).all(), "num_turns below 1"
        elif op == "to_padded":
            assert got.logprobs.shape == got.trainable_mask.shape, "padded shapes"
        elif strict:
            for again in got:
                assert np.array_equal(again.logprobs, b.logprobs), "round trip logprobs"
                assert np.array_equal(again.turn_ends.values, b.turn_ends.values), "turns"

    return Case(call, TRAJECTORY_NAMES, check, writeable(mask, logprobs, rv, ro, values))


# --- records and config -----------------------------------------------------------------------


@target("records.parse_record")
def t_parse_record(draw: Draw) -> Case:
    rec = _record(draw)
    if isinstance(rec, dict) and draw(st.booleans()):
        rec = {draw(st.sampled_from(["prompt", "input"])): rec.get("input"), "expected": 10**400}
    where = "train_data[3]"
    req = h.scalar(draw, st.booleans(), 0.05)

    def check(out: Any, strict: bool) -> None:
        assert isinstance(out, Example), f"returned {type(out).__name__}"
        assert isinstance(out.prompt, str) and isinstance(out.answer, str), "Example fields"

    return Case(
        lambda: records.parse_record(rec, where, require_answer=req), (where, "train_data"), check
    )


JSONL_LINES = st.sampled_from(
    [
        b'{"input": "a", "answer": "b"}',
        b'{"input": "a\xe2\x80\xa8b", "answer": "\xc2\x85"}',
        b"",
        b"   ",
        b"\r",
        b"[1, 2]",
        b"{bad json",
        b"\xff\xfe",
        b"\xed\xa0\x80",
        b'{"a": "\\ud800"}',
        b"1" * 5000,
        b"[" * 100_000 + b"]" * 100_000,
        b'{"x": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        b"NaN",
        b"\x00",
        b'"\\u0000"',
    ]
)
_TMP = Path(tempfile.mkdtemp(prefix="orbiter-fuzz-"))
atexit.register(shutil.rmtree, _TMP, ignore_errors=True)


@target("records.read_jsonl")
def t_read_jsonl(draw: Draw) -> Case:
    lines = draw(st.lists(JSONL_LINES, max_size=5))
    sep = draw(st.sampled_from([b"\n", b"\r\n"]))
    path = _TMP / f"data-{os.getpid()}.jsonl"
    path.write_bytes(sep.join(lines))
    if h.chance(draw, 0.05):
        path = _TMP / "missing.jsonl"

    def check(out: Any, strict: bool) -> None:
        assert isinstance(out, list), f"returned {type(out).__name__}"

    return Case(lambda: records.read_jsonl(path, "train_data"), ("train_data",), check)


@target("config.checks")
def t_config(draw: Draw) -> Case:
    value = draw(st.sampled_from(h.hostile_scalars()) | st.integers() | st.floats() | st.text())
    which = draw(st.sampled_from(["int", "float", "choice", "enum_alg", "enum_kl"]))
    name = draw(st.sampled_from(["group_size", "gamma", "kl_estimator"]))

    def call() -> Any:
        if which == "int":
            return config.check_int(name, value, 1)
        if which == "float":
            return config.check_float(name, value, 0.0, 1.0, open_low=True)
        if which == "choice":
            return config.check_choice(name, value, ("cpu", "cuda"))
        if which == "enum_alg":
            return config.parse_enum(config.Algorithm, value, name, config.ALGORITHM_ALIASES)
        return config.parse_enum(config.KLEstimator, value, name)

    def check(out: Any, strict: bool) -> None:
        kinds = {"int": int, "float": float, "choice": str, "enum_alg": config.Algorithm}
        assert isinstance(out, kinds.get(which, config.KLEstimator)), f"returned {out!r}"

    return Case(call, (f"config.{name}",), check)


@target("config.split_update")
def t_split_update(draw: Draw) -> Case:
    keys = st.sampled_from(["kl_coef", "kl_coeff", "rollout_n", "gamma", "gama", "extra", "zzz"])
    key_any = keys | st.sampled_from([1, None, ("a",), "\ud800", b"gamma"]) | st.text(max_size=5)
    changes = draw(st.dictionaries(key_any, st.sampled_from([1, {}, {"a": 1}, None, "x"])))
    fields = ("kl_coef", "group_size", "gamma", "lam")

    def check(out: Any, strict: bool) -> None:
        known, extra = out
        assert isinstance(known, dict) and isinstance(extra, dict), "not two dicts"
        assert set(known) <= set(fields), f"unknown fields {set(known) - set(fields)}"

    return Case(
        lambda: config.split_update(changes, fields, ("rollout_n",)),
        ("config", "extra"),
        check,
    )


# --- native functions, called directly --------------------------------------------------------


def _rows(offsets: Any, n: int) -> int:
    """Rows of a call given these offsets: a hostile offsets array of another length that a
    thread made valid during the call is scored as what it then was."""
    if isinstance(offsets, np.ndarray) and offsets.ndim == 1 and offsets.size:
        return offsets.size - 1
    return n


def _core_pair(fn: Callable[..., Any], check: Callable[[int], Check]) -> Target:
    def build(draw: Draw) -> Case:
        n = sizes(draw)[0]
        dtype = draw(st.sampled_from([np.int32, np.int64]))
        rv, ro = ragged_arrays(draw, n, dtype)
        m = n + draw(st.sampled_from([0, 0, 0, 1, -1])) if n else 0
        fv, fo = ragged_arrays(draw, max(m, 0), dtype)
        names = ("responses", "references", "values", "offsets")

        def call() -> Any:
            return fn(_core.RaggedTokens(rv, ro), _core.RaggedTokens(fv, fo))

        return Case(call, names, check(_rows(ro, n)), writeable(rv, ro, fv, fo))

    return build


def _pair_reward(name: str) -> Callable[[Any, Any], Any]:
    return lambda a, b: _core.token_pair_reward(name, a, b)


for _name, _chk in [
    ("exact_match", lambda n: f32((n,), values=(0.0, 1.0))),
    ("prefix_match", lambda n: f32((n,), values=(0.0, 1.0))),
    ("contains", lambda n: f32((n,), values=(0.0, 1.0))),
    ("token_f1", lambda n: f32((n,), lo=0.0, hi=1.0)),
]:
    target(f"_core.{_name}")(_core_pair(_pair_reward(_name), _chk))


def _over_responses(scores: Callable[[Draw], Callable[[Any], Any]]) -> Target:
    """A native function over a batch built from hostile ``(values, offsets)``;
    ``scores(draw)`` draws its scalars up front and returns ``fn(batch)``."""

    def make(draw: Draw) -> Case:
        n = sizes(draw)[0]
        v, o = ragged_arrays(draw, n)
        fn = scores(draw)
        names = ("values", "offsets", "responses", "max_len", "cache_len", "n", "stop_ids")
        return Case(
            lambda: fn(_core.RaggedTokens(v, o)), names, f32((_rows(o, n),)), writeable(v, o)
        )

    return make


def _lp_linear(draw: Draw) -> Callable[[Any], Any]:
    goal = draw(st.sampled_from([0.0, 5.0, 1e6]))
    scale = draw(st.sampled_from([1.0, 1e-3, 100.0]))
    return lambda r: _core.length_penalty_linear(r, goal, scale)


def _lp_dapo(draw: Draw) -> Callable[[Any], Any]:
    max_len = draw(st.sampled_from([4, 16, 0]))
    cache_len = draw(st.sampled_from([0, 2, 8]))
    return lambda r: _core.length_penalty_dapo(r, max_len, cache_len, 1.0)


def _repetition(draw: Draw) -> Callable[[Any], Any]:
    k = draw(st.sampled_from([1, 2, 3, 32, 50]))
    return lambda r: _core.repetition_penalty(r, k, -1.0)


def _stops(draw: Draw) -> Callable[[Any], Any]:
    stops = draw(st.sampled_from([[0], [], [1, 2, 3]]))
    return lambda r: _core.stop_token_check(r, stops)


target("_core.length_penalty_linear")(_over_responses(_lp_linear))
target("_core.length_penalty_dapo")(_over_responses(_lp_dapo))
target("_core.repetition_penalty")(_over_responses(_repetition))
target("_core.stop_token_check")(_over_responses(_stops))


@target("_core.ragged")
def t_core_ragged(draw: Draw) -> Case:
    n = sizes(draw)[0]
    v, o = ragged_arrays(draw, n)
    op = draw(st.sampled_from(["check", "lengths", "pad", "validate"]))
    side = draw(st.sampled_from(["left", "right", "up"]))
    max_len = draw(st.sampled_from([None, 0, 3, 64]))

    def call() -> Any:
        batch = _core.RaggedTokens(v, o)
        if op == "check":
            return len(batch)
        if op == "lengths":
            return batch.lengths()
        if op == "pad":
            return batch.to_padded(0, side, max_len)
        return _core.validate_tokens(batch, 10, 1, max_len, 5)

    names = ("values", "offsets", "side", "max_len", "vocab_size", "tokens")
    return Case(call, names, anything, writeable(v, o))


@target("_core.ragged_from_lists")
def t_core_from_lists(draw: Draw) -> Case:
    rows: Any = [_row(draw) for _ in range(draw(st.integers(0, 6)))]
    rows = [r.tolist() if isinstance(r, np.ndarray) else r for r in rows]
    if draw(st.booleans()):
        rows.insert(draw(st.integers(0, len(rows))), _bad_row(draw))

    def check(out: Any, strict: bool) -> None:
        if out is not None:
            values, offsets = out.values, out.offsets
            assert values.dtype == np.int64 and offsets.dtype == np.int64, "dtypes"
            assert len(offsets) == len(rows) + 1 and offsets[-1] == len(values), "offsets"

    return Case(lambda: _core.RaggedTokens.from_lists(rows), ("sequences",), check)


@target("_core.ragged_from_padded")
def t_core_from_padded(draw: Draw) -> Case:
    n, t = sizes(draw)
    ids = h.array(draw, token_values(draw, n * t, np.int64).reshape(n, t), 0.3)
    m = h.array(draw, h.mask(draw, (n, t)), 0.3)
    return Case(lambda: _core.RaggedTokens.from_padded(ids, m), ("ids", "mask"), anything)


@target("_core.combine_rewards")
def t_core_combine(draw: Draw) -> Case:
    n = draw(st.integers(0, 6))
    k = draw(st.integers(0, 3))
    names = [f"r{i}" for i in range(k)]
    scores = [h.array(draw, h.floats(draw, (n,)), 0.3) for _ in range(k)]
    # totals beyond float32 (and weighted scores beyond float64) are named errors
    weights = [draw(st.sampled_from([1.0, -0.5, 0.0, 1e3, 1e30, 1e308, -1e308])) for _ in range(k)]
    if draw(st.booleans()) and k:
        weights.pop()
    clip = draw(st.sampled_from([None, (-1.0, 1.0), (0.0, 0.0), (-1e39, 1e39)]))
    return Case(
        lambda: _core.combine_rewards(names, scores, weights, clip),
        ("names", "scores", "weights", "clip", "components", *names),
        f32((n,), finite=True),
    )


def _bad(draw: Draw, x: np.ndarray) -> Any:
    return h.array(draw, x, 0.3)


@target("_core.grpo")
def t_core_grpo(draw: Draw) -> Case:
    n = sizes(draw)[0]
    s = _bad(draw, h.floats(draw, (n,)))
    g = _bad(draw, np.arange(n) % 3)
    call = lambda: _core.grpo(s, g, normalize_std=True, eps=1e-6)  # noqa: E731
    return Case(call, ("scores", "group_ids"), anything)


@target("_core.rloo_broadcast")
def t_core_rloo(draw: Draw) -> Case:
    n, t = sizes(draw)
    s = _bad(draw, h.floats(draw, (n,)))
    g = _bad(draw, np.arange(n) % 2)
    m = _bad(draw, h.mask(draw, (n, t)))
    return Case(lambda: _core.rloo_broadcast(s, g, m), ("scores", "group_ids", "mask"), anything)


@target("_core.gae")
def t_core_gae(draw: Draw) -> Case:
    n, t = sizes(draw)
    r = _bad(draw, h.floats(draw, (n, t)))
    v = _bad(draw, h.floats(draw, (n, t)))
    m = _bad(draw, h.mask(draw, (n, t)))
    call = lambda: _core.gae(r, v, m, gamma=1.0, lam=0.95)  # noqa: E731
    return Case(call, ("rewards", "values", "mask"), anything)


@target("_core.kl_divergence")
def t_core_kl(draw: Draw) -> Case:
    n, t = sizes(draw)
    a = _bad(draw, h.floats(draw, (n, t)))
    b = _bad(draw, h.floats(draw, (n, t)))
    return Case(lambda: _core.kl_divergence(a, b, "k3"), ("logp", "ref_logp"), anything)


def _core_texts(fn: Callable[..., Any], extra: tuple[Any, ...], names: tuple[str, ...]) -> Target:
    def build(draw: Draw) -> Case:
        _, a, b = _text_pair(draw)
        args = (a, b, *extra) if len(names) == 2 else (a, *extra)
        return Case(lambda: fn(*args), names, anything)

    return build


for _name, _fn, _extra, _names in [
    ("exact_text_match", _core.exact_text_match, (), ("predictions", "references")),
    ("normalized_exact_match", _core.normalized_exact_match, (), ("predictions", "references")),
    ("word_f1", _core.word_f1, (), ("predictions", "references")),
    ("regex_match", _core.regex_match, ("a+", True), ("texts",)),
    ("extract_answer", _core.extract_answer, ("boxed",), ("texts",)),
    ("math_equal", _core.math_equal, ("auto", "</think>"), ("responses", "answers")),
]:
    target(f"_core.{_name}")(_core_texts(_fn, _extra, _names))


STATES = ["created", "validated", "training", "completed", "failed", "", "CREATED", "x" * 1000]


@target("_core.Lifecycle")
def t_lifecycle(draw: Draw) -> Case:
    steps = draw(st.lists(st.sampled_from(STATES), max_size=6))
    checks = draw(st.lists(st.tuples(st.text(max_size=8), st.booleans()), max_size=3))
    checks = [(name, ok) for name, ok in checks if name.isascii()]

    def call() -> Any:
        life = _core.Lifecycle()
        accepted = []
        for name, ok in checks:
            life.record_check(name, ok, 5)
        for s in steps:
            try:
                life.check(s)
                life.transition(s)
                accepted.append(s)
            except Exception as e:
                if not isinstance(e, rw_errors.TrainerError) or (s and s not in str(e)):
                    raise
        return life, accepted

    def check(out: Any, strict: bool) -> None:
        life, accepted = out
        assert [t for _, t, _ in life.history()] == accepted, "history differs"
        assert len(life.checks()) == len(checks), "checks lost"
        assert life.validation_ns == 5 * len(checks), "validation_ns"

    return Case(call, ("target",), check)
