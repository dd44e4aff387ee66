"""``math_equal`` against other projects' own cases and against reasoning-gym's truth.

Three corpora in ``tests/data/`` (each cites its source per row; the scripts next to them
rebuild them):

- ``math_verify_suite.jsonl``: every gold/prediction case with an expected verdict in
  math-verify's own ``tests/`` (huggingface/Math-Verify, Apache-2.0), 290 cases;
- ``trl_reward_cases.jsonl``: TRL's test cases of its math rewards (huggingface/trl,
  Apache-2.0), 38 cases, ``None`` where TRL skips an unparseable gold;
- ``reasoning_gym_corpus.jsonl``: 5,665 responses built from reasoning-gym items
  (Apache-2.0), right ones reformatted (boxed, "the answer is", GSM8K, inline LaTeX,
  fraction vs decimal, after ``</think>``) and wrong ones (perturbed digits, "W, not G",
  "either W or G", expressions containing the gold's digits, a right answer only inside
  the reasoning), labelled by construction.

Every disagreement with math-verify's expected verdicts is listed below with its reason;
the test fails on an unlisted one and on a listed one that agrees again (a stale entry).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from orbiter.train.rewards import MathStatus, math_equal

DATA = Path(__file__).parent / "data"

PROSE = "prose ending in a number states no final answer; math-verify takes the number"
DECIMAL_COMMA = "a comma separates thousands or items, never decimals ('-2,1' is two roots)"
EXACT = "exact: no float tolerance (math-verify rounds to its precision argument)"
OPTION = "the verdict depends on a non-default math-verify option this test passes"
FALSE_STEP = "a chain with a false step (5+5+1 = 7) answers nothing; math-verify takes its end"
NO_IDENTITIES = "no trigonometric identities; functions are kept whole"

# (test function, case) -> reason, for every disagreement with math-verify's expected verdicts
ACCEPTED: dict[tuple[str, str], str] = {
    ("test_number_extraction", "param[5]"): DECIMAL_COMMA,  # 1000.99 vs 1000,99
    ("test_number_extraction", "param[6]"): DECIMAL_COMMA,  # 1,22 vs 1.22
    ("test_number_extraction", "param[17]"): DECIMAL_COMMA,  # 0,111 vs 0.111
    ("test_number_extraction", "param[7]"): PROSE,  # "Soucis : 2,74 $ a.."
    ("test_number_extraction", "param[13]"): PROSE,  # "the number is not 10 which is ..."
    ("test_number_extraction", "param[14]"): PROSE,
    ("test_number_extraction", "param[15]"): PROSE,  # "... which is 1,000.99m²"
    ("test_number_extraction", "param[16]"): PROSE,
    ("test_math_extraction_edge_cases", "param[0]"): PROSE,  # "... wins the game is 2/3."
    ("test_math_extraction_edge_cases", "param[1]"): PROSE,  # "there are 12 distinct ..."
    ("test_math_extraction_additional_cases", "param[1]"): PROSE,  # "... Sphere 3 hours ago."
    ("test_math_extraction_additional_cases", "param[8]"): PROSE,  # "... increases by 100%."
    ("test_precision", "assert[4]"): EXACT,  # 1/3 vs 0.3333 at precision 4
    ("test_complex_math_expressions", "param[0]"): EXACT,  # 1/12 vs 0.0833333333333333
    ("test_complex_math_expressions", "param[7]"): EXACT,  # (1/3, 1/5) vs (0.33, 0.2)
    ("test_complex_math_expressions", "param[13]"): EXACT,  # (3/5, 8/3] vs (0.6, 2.6667]
    ("test_float_precision", "param[0]"): EXACT,  # 4.123105625617661 vs sqrt(17)
    ("test_complex_math_expressions", "param[3]"): NO_IDENTITIES,  # tan^2 y + 1 vs sec^2 y
    ("test_set_rel_assymetry", "param[2]"): OPTION,  # allow_set_relation_comp=True
    ("test_boxed_match_priority", "assert[1]"): OPTION,  # boxed matching switched off
    ("test_boxed_match_priority", "assert[2]"): OPTION,  # "final answer is" over a later box
    ("test_normalization_config", "assert[0]"): OPTION,  # malformed \frac12 refused
    ("test_strict_variable_comparison", "param[1]"): OPTION,  # strict=False: f(x) = f(y)
    ("test_string_extraction", "param[4]"): OPTION,  # letter-choice extraction config
    ("test_string_extraction", "param[6]"): OPTION,
    ("test_string_extraction", "param[9]"): "upstream expects 1 - 1/e to equal 1 + 1/e",
    ("test_latex_notation", "param[9]"): "a false equation (1/2 = 10/9) answers nothing",
    ("test_relations_math", "param[10]"): FALSE_STEP,  # x = 5+5+1 = 7 = 11
    ("test_relations_math", "param[12]"): FALSE_STEP,
    ("test_relations_math", "param[13]"): FALSE_STEP,  # x = 5+5+1 = 1/3 \approx 11
    ("test_relations_math", "param[21]"): FALSE_STEP,  # 1 = \zzz = x = 0 (the gold)
    ("test_relations_math", "param[26]"): FALSE_STEP,  # z = 3+3 = 2
    ("test_relations_math", "param[27]"): FALSE_STEP,
    ("test_gamma_as_constant", "assert[0]"): "\\gamma vs \\Gamma read as one constant",
    ("test_boxed", "param[0]"): "two boxes joined by '++++++' are not one answer",
    ("test_numina_cases", "param[3]"): "|z| bounds vs a union of intervals: not solved",
    ("test_numina_cases", "param[9]"): "p=5,q=2;p=7,q=2 as pairs: not read",
    ("test_numina_cases", "param[24]"): "the gold's \\boxed{ is unbalanced: not judged",
    ("test_open_thoughts", "param[14]"): "boxes joined by 'for part (a) and': not one answer",
    ("test_open_thoughts", "param[24]"): "two equations against two boxed forms: not read",
    ("test_open_thoughts", "param[27]"): "gold boxes joined by 'papers and': not one answer",
}


def load(name: str) -> list[dict[str, Any]]:
    with (DATA / name).open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_math_verify_suite_agreement() -> None:
    rows = load("math_verify_suite.jsonl")
    assert len(rows) >= 280
    got = math_equal([r["pred"] for r in rows], [r["gold"] for r in rows])
    disagree = {
        (r["source"].split("::")[-1], r["case"]): r
        for r, g in zip(rows, got, strict=True)
        if bool(g) != r["expected"]
    }
    unexplained = {k: (r["gold"][-80:], r["pred"][-80:]) for k, r in disagree.items()}
    unexplained = {k: v for k, v in unexplained.items() if k not in ACCEPTED}
    assert not unexplained, unexplained
    stale = [k for k in ACCEPTED if k not in disagree]
    assert not stale, stale
    # A wrong answer paid: only where a non-default option of the test decides the verdict.
    paid = [k for k, r in disagree.items() if not r["expected"] and ACCEPTED[k] != OPTION]
    assert not paid, paid
    agreement = 1 - len(disagree) / len(rows)
    assert agreement >= 0.85, agreement


def test_math_verify_itself_passes_its_suite() -> None:
    """The corpus is faithful: math-verify's own verdicts, recorded when it was built."""
    rows = load("math_verify_suite.jsonl")
    assert all(r["math_verify"] == r["expected"] for r in rows)


def test_trl_reward_cases() -> None:
    """TRL's accuracy rewards: the same verdict, and ``None`` exactly where the gold is
    unparseable (``GOLD_UNPARSEABLE``)."""
    rows = load("trl_reward_cases.jsonl")
    assert {r["function"] for r in rows} >= {"accuracy_reward", "reasoning_accuracy_reward"}
    for r in rows:
        delimiters = (r.get("kwargs") or {}).get("reasoning_delimiters") or ["</think>"]
        scores, status = math_equal(
            [r["completion"]], [r["solution"]], think_marker=delimiters[-1], with_status=True
        )
        if r["expected"] is None:
            assert status[0] == MathStatus.GOLD_UNPARSEABLE, r
        else:
            assert bool(scores[0]) == r["correct"], r


def test_reasoning_gym_corpus() -> None:
    rows = load("reasoning_gym_corpus.jsonl")
    assert len(rows) >= 5000
    assert len({r["dataset"] for r in rows}) >= 10
    got = math_equal([r["response"] for r in rows], [r["gold"] for r in rows])
    want = np.array([r["equal"] for r in rows])
    paid = [
        (r["response"][-80:], r["gold"])
        for r, g in zip(rows, got, strict=True)
        if g and not r["equal"]
    ]
    assert not paid, paid[:10]
    agreement = float(np.mean(got.astype(bool) == want))
    missed = [
        (r["response"][-80:], r["gold"])
        for r, g, w in zip(rows, got, want, strict=True)
        if bool(g) != w
    ]
    assert agreement >= 0.99, missed[:10]
    assert not missed, missed[:10]  # every remaining disagreement would be listed here
