"""Reward functions the compatibility tests import by name (as verl's workers would)."""

from __future__ import annotations


def length_reward(output: str, expected: str) -> float:
    """Needs no reference: ``expected`` is ``""`` for records without one."""
    return float(len(output)) + (100.0 if expected else 0.0)


def one_argument(output: str) -> float:
    return float(len(output))
