"""Environment: per-rollout state whose ``@tool`` methods are the policy's tools.

As TRL's ``environment_factory``: the trainer makes one instance per rollout (a
trajectory), calls ``reset(**row)`` with the dataset record's fields, lets the policy call
the instance's tools, adds ``reward()`` (when overridden) to the trajectory's reward, and
calls ``close()`` at the end, also when the rollout fails.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import Any

from orbiter.train.agents.tools import FunctionTool
from orbiter.train.errors import TrainerError
from orbiter.train.records import Example

__all__ = ["Environment", "check_reset_fields", "environment_tools", "reset_fields"]


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


def check_reset_fields(
    environment: type[Environment] | Callable[[], Environment] | None,
    examples: Iterable[Example],
    name: str,
) -> None:
    """Check that ``reset(**row)`` of the *environment* class takes every record of the
    dataset *name*: each record's :func:`reset_fields` cover the parameters ``reset``
    requires, and, unless it takes ``**row``, name none it lacks. A
    factory that is not a class is not inspected (its instances are made per rollout).

    Raises:
        TrainerError: naming the row, the field and the environment.
    """
    if not (isinstance(environment, type) and issubclass(environment, Environment)):
        return
    params = list(inspect.signature(environment.reset).parameters.values())[1:]  # self
    named = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    required = [
        p.name
        for p in params
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.default is p.empty
    ]
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params)
    where = f"{environment.__name__}.reset"
    for i, example in enumerate(examples):
        fields = reset_fields(example).keys()
        missing = [k for k in required if k not in fields]
        if missing:
            raise TrainerError(
                f"{name}[{i}]: {where} requires {missing[0]!r}, which the record lacks "
                f"(it has {', '.join(sorted(fields))})"
            )
        if not takes_any:
            extra = sorted(k for k in fields if k not in named)
            if extra:
                raise TrainerError(
                    f"{name}[{i}]: {where} takes no field {extra[0]!r}; accept the other "
                    "fields with **row"
                )


def reset_fields(example: Example) -> dict[str, Any]:
    """The keywords :meth:`Environment.reset` gets for a record: ``prompt``, ``answer`` and
    the record's other columns."""
    return {"prompt": example.prompt, "answer": example.answer, **example.columns}
