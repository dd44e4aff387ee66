"""The built-in arithmetic task: ``"a+b="`` prompts with integer answers, no download."""

from __future__ import annotations

import random


def arithmetic_task(
    n_train: int = 2000,
    n_test: int = 200,
    *,
    max_operand: int = 99,
    min_operand: int = 0,
    seed: int = 0,
) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Disjoint train and test splits of additions ``a+b=`` with ``min_operand <= a, b <=
    max_operand``.

    Records use the original package's format: ``{"input": "12+34=", "answer": "46"}``.

    Raises:
        ValueError: ``0 <= min_operand <= max_operand`` does not hold, or there are fewer
            distinct problems than ``n_train + n_test``.
    """
    if not 0 <= min_operand <= max_operand:
        raise ValueError(
            f"need 0 <= min_operand <= max_operand, got {min_operand} and {max_operand}"
        )
    width = max_operand - min_operand + 1
    space = width**2
    if n_train + n_test > space:
        raise ValueError(
            f"n_train + n_test = {n_train + n_test} exceeds the {space} distinct problems"
        )
    rng = random.Random(seed)
    picks = rng.sample(range(space), n_train + n_test)
    records = []
    for p in picks:
        a, b = (min_operand + x for x in divmod(p, width))
        records.append({"input": f"{a}+{b}=", "answer": str(a + b)})
    return records[:n_train], records[n_train:]
