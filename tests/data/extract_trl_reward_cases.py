"""Extract TRL's own test cases for its math accuracy rewards into ``trl_reward_cases.jsonl``.

Source: https://github.com/huggingface/trl (Apache-2.0, see its LICENSE), read from a git mirror
(default ``/work/.mirror/huggingface+trl/repo``) with ``git show <commit>:<path>``. The delivered
file was made from f2cd57710ae345ea6428ae95363267fcf38a3dc8 (24 July 2026). Cases come from

* ``tests/test_rewards.py``: the test classes of ``accuracy_reward``,
  ``reasoning_accuracy_reward`` and ``get_cosine_scaled_reward`` (all three in
  ``trl/rewards/accuracy_rewards.py``, built on math-verify);
* the ``>>>`` examples in those three functions' docstrings (``source`` ends in
  ``[docstring]``).

No TRL code is stored here. Each test body is run statement by statement with the three reward
functions replaced by recorders, so the completions, solutions and keyword arguments are exactly
those the test passes; each assertion on a reward (``rewards[i] == v``, ``rewards[i] is None``,
``rewards == [v, pytest.approx(w, abs=t)]``) gives the expected value of that completion. Other
assertions (orderings such as ``rewards[0] > rewards[1]``, ``__name__`` checks) are kept as text in
``note``.

Each line: ``source`` (``huggingface/trl@<commit>:<path>::<Class.test>``), ``function`` (the TRL
reward the case is for), ``kwargs`` (what the test passes besides completions and solutions;
``completion_ids`` as its length, ``completion_tokens``), ``completion`` (the assistant content),
``solution``, ``expected`` (the asserted reward: 1.0 / 0.0, a cosine-scaled float, or null when
TRL skips an unparseable gold), ``approx`` (the pytest.approx tolerance, when used), ``correct``
(true / false / null: whether the reward says the answer is right; for the cosine reward, its
sign), ``note`` (the test's docstring, in-line comments are not kept, and its other assertions).

With ``--verdicts``, run in a Python with math-verify: each case is also scored by TRL's own
function, executed from the mirror's ``trl/rewards/accuracy_rewards.py`` (its one relative import,
``is_math_verify_available``, is replaced by ``lambda: True``), and ``trl`` records that reward.

Run::

    .venv-math-verify/bin/python tests/data/extract_trl_reward_cases.py --verdicts
"""

from __future__ import annotations

import argparse
import ast
import doctest
import json
import math
import pickle
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

MIRROR = Path("/work/.mirror/huggingface+trl/repo")
OUT = Path(__file__).with_name("trl_reward_cases.jsonl")
TEST_FILE = "tests/test_rewards.py"
REWARD_FILE = "trl/rewards/accuracy_rewards.py"
FUNCTIONS = ("accuracy_reward", "reasoning_accuracy_reward", "get_cosine_scaled_reward")
CLASSES = {
    "TestAccuracyReward": "accuracy_reward",
    "TestReasoningAccuracyReward": "reasoning_accuracy_reward",
    "TestCosineScaledReward": "get_cosine_scaled_reward",
}


def git(mirror: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(mirror), *args], check=True, capture_output=True, text=True
    ).stdout


# --------------------------------------------------------------------------- recorders


class Call:
    """One call of a reward function in a test: its inputs, and the per-item results."""

    def __init__(self, function: str, args: tuple, kwargs: dict[str, Any]) -> None:
        self.function = function
        names = ("completions", "solution", "completion_ids")
        bound = dict(zip(names, args, strict=False)) | kwargs
        self.completions = bound.pop("completions")
        self.solutions = bound.pop("solution")
        self.kwargs = bound
        self.items = [Item(self, i) for i in range(len(self.completions))]


class Item:
    """The reward of one completion of a Call; comparisons with it are read from the AST."""

    def __init__(self, call: Call, index: int) -> None:
        self.call = call
        self.index = index

    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = object.__hash__


def recorder(function: str, **factory_kwargs: Any) -> Any:
    def reward(*args: Any, **kwargs: Any) -> list[Item]:
        return Call(function, args, factory_kwargs | kwargs).items

    reward.__name__ = function
    return reward


class CosineRecorder:
    """Stands for the callable returned by ``get_cosine_scaled_reward``; picklable."""

    __name__ = "cosine_scaled_reward"

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs

    def __call__(self, *args: Any, **kwargs: Any) -> list[Item]:
        return Call("get_cosine_scaled_reward", args, self.kwargs | kwargs).items


class Approx(float):
    def __new__(cls, value: float, **tolerance: float) -> Approx:
        obj = super().__new__(cls, value)
        obj.tolerance = tolerance
        return obj


class PytestStub:
    @staticmethod
    def approx(value: float, **tolerance: float) -> Approx:
        return Approx(value, **tolerance)


def namespace() -> dict[str, Any]:
    return {
        "accuracy_reward": recorder("accuracy_reward"),
        "reasoning_accuracy_reward": recorder("reasoning_accuracy_reward"),
        "get_cosine_scaled_reward": CosineRecorder,
        "pytest": PytestStub(),
        "pickle": pickle,
        "threading": threading,
        "math": math,
    }


# --------------------------------------------------------------------------- reading tests


def expected_pairs(test: ast.expr, env: dict[str, Any]) -> list[tuple[Item, Any]] | None:
    """(item, expected value) pairs an assertion states, or None for other assertions."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1):
        return None
    op, right = test.ops[0], test.comparators[0]
    try:
        left = eval(compile(ast.Expression(test.left), "<a>", "eval"), env)
        value = eval(compile(ast.Expression(right), "<a>", "eval"), env)
    except Exception:
        return None
    if isinstance(op, ast.Is) and isinstance(left, Item) and value is None:
        return [(left, None)]
    if not isinstance(op, ast.Eq):
        return None
    if isinstance(left, Item):
        return [(left, value)]
    if (
        isinstance(left, list)
        and left
        and all(isinstance(x, Item) for x in left)
        and isinstance(value, list)
        and len(value) == len(left)
    ):
        return list(zip(left, value, strict=True))
    return None


def run_statements(body: list[ast.stmt], env: dict[str, Any], source: str) -> list[dict[str, Any]]:
    found: dict[tuple[int, int], dict[str, Any]] = {}
    notes: list[str] = []
    doc = ast.get_docstring(ast.Module(body, [])) or ""
    for stmt in body:
        if isinstance(stmt, ast.Assert):
            pairs = expected_pairs(stmt.test, env)
            if pairs is None:
                notes.append(f"also asserts `{ast.unparse(stmt.test)}`")
                continue
            for item, value in pairs:
                found[(id(item.call), item.index)] = {"item": item, "value": value}
            continue
        exec(compile(ast.Module([stmt], []), source, "exec"), env)
    rows = []
    for entry in found.values():
        rows.append(make_row(entry["item"], entry["value"], source, doc, notes))
    return rows


def make_row(item: Item, value: Any, source: str, doc: str, notes: list[str]) -> dict[str, Any]:
    call = item.call
    kwargs = {}
    for key, val in call.kwargs.items():
        if key == "completion_ids":
            kwargs["completion_tokens"] = len(val[item.index])
        else:
            kwargs[key] = val
    expected = None if value is None else float(value)
    if expected is None:
        correct = None
    elif call.function == "get_cosine_scaled_reward":
        correct = expected > 0
    else:
        correct = expected == 1.0
    row: dict[str, Any] = {
        "source": source,
        "function": call.function,
        "kwargs": kwargs,
        "completion": call.completions[item.index][0]["content"],
        "solution": call.solutions[item.index],
        "expected": expected,
    }
    if isinstance(value, Approx) and value.tolerance:
        row["approx"] = value.tolerance
    elif isinstance(value, Approx):
        row["approx"] = {"rel": 1e-6, "abs": 1e-12}
    row["correct"] = correct
    row["note"] = " ".join([doc.strip(), *notes]).strip()
    return row


def test_cases(text: str, label: str) -> list[dict[str, Any]]:
    tree = ast.parse(text)
    rows = []
    for cls in tree.body:
        if not (isinstance(cls, ast.ClassDef) and cls.name in CLASSES):
            continue
        for fn in cls.body:
            if isinstance(fn, ast.FunctionDef) and fn.name.startswith("test_"):
                source = f"{label}:{TEST_FILE}::{cls.name}.{fn.name}"
                rows += run_statements(fn.body, namespace(), source)
    return rows


def docstring_cases(text: str, label: str) -> list[dict[str, Any]]:
    tree = ast.parse(text)
    rows = []
    parser = doctest.DocTestParser()
    for fn in tree.body:
        if not (isinstance(fn, ast.FunctionDef) and fn.name in FUNCTIONS):
            continue
        examples = parser.get_examples(ast.get_docstring(fn) or "")
        env = namespace()
        source = f"{label}:{REWARD_FILE}::{fn.name}[docstring]"
        for ex in examples:
            if ex.source.startswith("from "):
                continue
            want = ex.want.split("```")[0].strip()  # the docstring's closing code fence
            if want:
                expr = ast.parse(ex.source, mode="eval").body
                items = eval(compile(ast.Expression(expr), source, "eval"), env)
                wanted = ast.literal_eval(want)
                note = f"docstring example of {fn.name}: `{ex.source.strip()}` -> {want}"
                for item, value in zip(items, wanted, strict=True):
                    rows.append(make_row(item, value, source, note, []))
            else:
                exec(compile(ex.source, source, "exec"), env)
    return rows


# --------------------------------------------------------------------------- TRL's verdicts


def trl_functions(text: str) -> dict[str, Any]:
    """TRL's reward functions, executed from the mirror's source (no TRL package needed)."""
    relative = "from ..import_utils import is_math_verify_available"
    if relative not in text:
        raise SystemExit(f"{REWARD_FILE}: its import of is_math_verify_available has changed")
    ns: dict[str, Any] = {"__name__": "trl_accuracy_rewards"}
    code = text.replace(relative, "is_math_verify_available = lambda: True  # noqa: E731")
    exec(compile(code, REWARD_FILE, "exec"), ns)
    return ns


def trl_verdict(row: dict[str, Any], fns: dict[str, Any]) -> float | None:
    completions = [[{"role": "assistant", "content": row["completion"]}]]
    solutions = [row["solution"]]
    kwargs = dict(row["kwargs"])
    if row["function"] == "get_cosine_scaled_reward":
        tokens = kwargs.pop("completion_tokens")
        fn = fns["get_cosine_scaled_reward"](**kwargs)
        return fn(completions, solutions, [[1] * tokens])[0]
    return fns[row["function"]](completions, solutions, **kwargs)[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mirror", type=Path, default=MIRROR)
    parser.add_argument("--ref", default="HEAD")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--verdicts", action="store_true", help="also run TRL's functions")
    args = parser.parse_args()

    commit = git(args.mirror, "rev-parse", f"{args.ref}^{{commit}}").strip()
    label = f"huggingface/trl@{commit}"
    tests = git(args.mirror, "show", f"{commit}:{TEST_FILE}")
    rewards = git(args.mirror, "show", f"{commit}:{REWARD_FILE}")
    rows = test_cases(tests, label) + docstring_cases(rewards, label)

    if args.verdicts:
        fns = trl_functions(rewards)
        for row in rows:
            row["trl"] = trl_verdict(row, fns)

    with args.out.open("w") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    by_fn: dict[str, int] = {}
    for row in rows:
        by_fn[row["function"]] = by_fn.get(row["function"], 0) + 1
    print(f"{len(rows)} cases from {label} -> {args.out}: {by_fn}")
    if args.verdicts:
        off = [r for r in rows if not close(r["trl"], r["expected"])]
        print(f"TRL's own functions disagree with the expected value on {len(off)}")
        for r in off:
            print(f"  {r['source']}: expected {r['expected']}, TRL {r['trl']}")
    return 0


def close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= 1e-4


if __name__ == "__main__":
    sys.exit(main())
