"""Environment: per-rollout state whose ``@tool`` methods are the policy's tools.

As TRL's ``environment_factory``: the trainer makes one instance per rollout (a
trajectory), calls ``reset(**row)`` with the dataset record's fields, lets the policy call
the instance's tools, adds ``reward()`` (when overridden) to the trajectory's reward, and
calls ``close()`` at the end, also when the rollout fails.
"""

from __future__ import annotations

from typing import Any

from orbiter.train.agents.tools import FunctionTool
from orbiter.train.records import Example

__all__ = ["Environment", "environment_tools", "reset_fields"]


class Environment:
    """Subclass it: decorate methods with :func:`~orbiter.train.agents.tool` and override
    what you need.

    Example:
        >>> from orbiter.train.agents import Environment, tool
        >>> class Vault(Environment):
        ...     def reset(self, secret: str = "", **row: object) -> None:
        ...         self.secret, self.opened = secret, False
        ...     @tool
        ...     def open_vault(self) -> str:
        ...         '''The secret of this row.'''
        ...         self.opened = True
        ...         return self.secret
        ...     def reward(self) -> float:
        ...         return 0.1 if self.opened else 0.0
        >>> [t.name for t in environment_tools(Vault())]
        ['open_vault']
    """

    def reset(self, **row: Any) -> None:
        """Start a rollout on the record *row* (its prompt, answer and other columns)."""

    def reward(self) -> float:
        """Added to the trajectory's reward when the rollout ends (default 0)."""
        return 0.0

    def close(self) -> None:
        """Release what the rollout held (called once, after :meth:`reward`)."""


def environment_tools(env: Environment | type[Environment]) -> list[FunctionTool]:
    """The ``@tool`` methods of *env* (bound when *env* is an instance), in definition order
    along the class hierarchy, base classes first."""
    owner = env if isinstance(env, type) else type(env)
    names: dict[str, None] = {}
    for klass in reversed(owner.__mro__):
        for key, value in vars(klass).items():
            if isinstance(value, FunctionTool):
                names[key] = None
    found = [getattr(env, key) for key in names]
    return [t for t in found if isinstance(t, FunctionTool)]


def reset_fields(example: Example) -> dict[str, Any]:
    """The keywords :meth:`Environment.reset` gets for a record: ``prompt``, ``answer`` and
    the record's other columns."""
    return {"prompt": example.prompt, "answer": example.answer, **example.columns}
