"""The built-in arithmetic task: ``"a+b="`` prompts with integer answers, no download."""

from __future__ import annotations

import random


def arithmetic_task(
    n_train: int = 2000,
    n_test: int = 200,
    *,
    max_operand: int = 99,
    seed: int = 0,
) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Disjoint train and test splits of additions ``a+b=`` with ``0 <= a, b <= max_operand``.

    Records use the original package's format: ``{"input": "12+34=", "answer": "46"}``.
    """
    space = (max_operand + 1) ** 2
    if n_train + n_test > space:
        raise ValueError(
            f"n_train + n_test = {n_train + n_test} exceeds the {space} distinct problems"
        )
    rng = random.Random(seed)
    picks = rng.sample(range(space), n_train + n_test)
    records = []
    for p in picks:
        a, b = divmod(p, max_operand + 1)
        records.append({"input": f"{a}+{b}=", "answer": str(a + b)})
    return records[:n_train], records[n_train:]
