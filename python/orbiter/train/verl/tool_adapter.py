"""verl's side of orbiter's tools: :class:`OrbiterTool`, the ``BaseTool`` that verl's workers
build from the tool config file (:mod:`orbiter.train.verl.tools`) by its ``class_name``.

This module imports verl (``verl.tools.base_tool``, ``verl.tools.schemas``): verl's tool
registry imports it in verl's processes; :mod:`orbiter.train.verl` never does.

**Lifecycle.** verl's ``BaseTool`` has four methods; each maps onto an orbiter tool or an
:class:`~orbiter.train.agents.Environment`:

* ``create(instance_id=None, create_kwargs={...})`` → a new instance holding the record
  (``create_kwargs[ROW_KEY]``, the JSON written into the dataset's ``tools_kwargs``; other
  ``create_kwargs`` are the record's fields themselves). The environment is made when
  first used: a fresh instance, ``reset(**record)``.
* ``execute(instance_id, parameters, **kwargs)`` → the call, run as
  :func:`orbiter.train.agents.execute_call` runs it: arguments checked against the tool's
  schema, async tools awaited and sync ones run in a thread, under ``timeout``; an invalid
  argument, an exception or a timeout is an ``error: ...`` result, never an exception. It
  returns ``(ToolResponse(text=...), reward, {"tool_error": bool})`` where, for an
  environment's tool, reward is the change of ``environment.reward()`` over the call (the
  first call's from 0), so a trajectory's step rewards add up to ``reward()`` after its
  last call.
* ``calc_reward(instance_id)`` → ``environment.reward()`` (0 for a plain tool).
* ``release(instance_id)`` → ``environment.close()``.

**Trajectories.** verl 0.9's tool agent loop (``ToolAgentLoop._call_tool``) does not keep an
instance for a trajectory: it calls ``create``, ``execute`` and ``release`` around every
call, and passes its per-trajectory ``AgentData`` to ``execute`` as ``agent_data``. So that an
environment holds its state across a trajectory's calls (and across its several tools), the
environment of a call made with an ``agent_data`` belongs to that trajectory: made at its
first call, shared by every tool of the same environment, and closed when verl lets the
trajectory's ``AgentData`` go (the end of the rollout), not at ``release``. Without an
``agent_data`` an instance has an environment of its own, closed at ``release``.

The step rewards reach the score through verl's ``tool_rewards`` (the agent loop's
``extra_fields``, which verl's reward loop merges into ``extra_info``):
:func:`orbiter.train.integrations.verl.compute_score` adds their sum when
``reward_kwargs`` has ``tool_rewards="sum"``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

from verl.tools.base_tool import BaseTool
from verl.tools.schemas import OpenAIFunctionToolSchema, ToolResponse

from orbiter.train.agents import (
    ToolCall,
    ToolSet,
    environment_tools,
    execute_call,
    function_schemas,
    tool,
)
from orbiter.train.errors import TrainerError, TrainerTypeError, TrainerValueError
from orbiter.train.verl.tools import ROW_KEY, resolve_reference

__all__ = ["OrbiterTool"]

logger = logging.getLogger("orbiter.train.verl")

KINDS = ("tool", "environment")


@dataclass(slots=True)
class _Session:
    """One environment and its tools, for a trajectory or an instance."""

    env: Any
    tools: ToolSet
    reward: float = 0.0  # reward() after the last call: the baseline of the next step reward
    closed: bool = False

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self.env.close()
        except Exception as err:  # at the end of a rollout there is no one to raise to
            logger.warning("%s.close raised %r", type(self.env).__name__, err)


@dataclass(slots=True)
class _Instance:
    row: dict[str, Any]
    session: _Session | None = None
    owned: bool = False  # the session is this instance's own (closed at release)


def _close_all(sessions: dict[str, _Session]) -> None:
    for session in sessions.values():
        session.close()


# The environments of live trajectories: verl's AgentData -> {reference: session}; an entry
# goes, and its environments are closed, when verl drops the AgentData.
_TRAJECTORIES: weakref.WeakKeyDictionary[Any, dict[str, _Session]] = weakref.WeakKeyDictionary()


def _row(create_kwargs: Any) -> dict[str, Any]:
    if create_kwargs is None:
        return {}
    if not isinstance(create_kwargs, Mapping):
        raise TrainerTypeError(
            "create_kwargs must be a dict of the record's fields, got "
            f"{type(create_kwargs).__name__}"
        )
    if ROW_KEY in create_kwargs:
        row = json.loads(create_kwargs[ROW_KEY])
        if not isinstance(row, dict):
            raise TrainerTypeError(f"create_kwargs[{ROW_KEY!r}] must hold a JSON object")
        return row
    return dict(create_kwargs)


class OrbiterTool(BaseTool):
    """An orbiter tool, or one ``@tool`` method of an orbiter Environment, as a verl tool.

    *config* (the entry's ``config`` in the tool config file): ``kind`` (``"tool"`` or
    ``"environment"``), ``reference`` (``"module:qualname"``), ``name`` (the tool's name),
    ``search_path`` (put on ``sys.path`` first) and ``timeout`` (seconds a call may take,
    None: no limit). *tool_schema* is the OpenAI function schema (built from the tool when
    None). See the module docstring for the lifecycle.

    Raises:
        TrainerError: When the config is malformed, the reference does not import, or it
            has no tool of that name: a worker that cannot run the tool stops at start.
    """

    def __init__(
        self, config: dict[str, Any], tool_schema: OpenAIFunctionToolSchema | None
    ) -> None:
        kind = config.get("kind")
        if kind not in KINDS:
            raise TrainerValueError(
                f"OrbiterTool config['kind'] must be one of {KINDS}, got {kind!r}"
            )
        name = config.get("name")
        if not isinstance(name, str) or not name:
            raise TrainerValueError(f"OrbiterTool config['name'] must be a tool name, got {name!r}")
        timeout = config.get("timeout")
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0
        ):
            raise TrainerValueError(
                f"OrbiterTool config['timeout'] must be None or a number > 0, got {timeout!r}"
            )
        self._kind: str = kind
        self._reference = str(config.get("reference", ""))
        self._timeout: float | None = None if timeout is None else float(timeout)
        try:
            target = resolve_reference(self._reference, str(config.get("search_path", "")))
        except TrainerError:
            raise
        except Exception as err:
            raise TrainerError(
                f"tool {name!r}: cannot import {self._reference!r} in this worker: {err!r}"
            ) from err
        self._factory: Any = None
        self._tools: ToolSet | None = None
        if kind == "tool":
            if callable(target) and not hasattr(target, "execute"):
                target = tool(target, name=name)  # a plain function, made a tool as it was
            self._tools = ToolSet([target])
            found = self._tools.get(name)
        else:
            self._factory = target
            klass = target if isinstance(target, type) else type(target())
            found = next((t for t in environment_tools(klass) if t.name == name), None)
        if found is None:
            raise TrainerValueError(f"{self._reference!r} has no tool named {name!r}")
        if tool_schema is None:
            tool_schema = OpenAIFunctionToolSchema.model_validate(function_schemas([found])[0])
        if tool_schema.function.name != name:
            raise TrainerValueError(
                f"tool_schema names {tool_schema.function.name!r}, the config {name!r}"
            )
        super().__init__(config, tool_schema)
        self._instances: dict[str, _Instance] = {}

    # -- sessions ------------------------------------------------------------------------

    def _new_session(self, row: dict[str, Any]) -> _Session:
        env = self._factory()
        try:
            env.reset(**row)
            tools = ToolSet(environment_tools(env))
        except BaseException:
            with contextlib.suppress(Exception):
                env.close()
            raise
        return _Session(env, tools)

    def _session(self, instance: _Instance, agent_data: Any) -> _Session:
        """The environment of *instance*: its trajectory's when *agent_data* names one."""
        if instance.session is not None and not instance.session.closed:
            return instance.session
        sessions: dict[str, _Session] | None = None
        if agent_data is not None:
            try:
                sessions = _TRAJECTORIES.get(agent_data)
                if sessions is None:
                    sessions = {}
                    _TRAJECTORIES[agent_data] = sessions
                    weakref.finalize(agent_data, _close_all, sessions)
            except TypeError:  # not weakly referable: the instance keeps its own
                sessions = None
        if sessions is None:
            instance.session, instance.owned = self._new_session(instance.row), True
            return instance.session
        session = sessions.get(self._reference)
        if session is None or session.closed:
            session = sessions[self._reference] = self._new_session(instance.row)
        instance.session = session
        return session

    # -- verl's BaseTool -----------------------------------------------------------------

    async def create(
        self, instance_id: str | None = None, **kwargs: Any
    ) -> tuple[str, ToolResponse]:
        """A new instance for one trajectory (verl 0.9: for one call) holding the record
        from ``create_kwargs`` (verl 0.9 passes ``create_kwargs=``; earlier versions the
        fields themselves)."""
        instance_id = instance_id or uuid4().hex
        fields = kwargs.get("create_kwargs", kwargs)
        self._instances[instance_id] = _Instance(_row(fields))
        return instance_id, ToolResponse()

    async def execute(
        self, instance_id: str, parameters: dict[str, Any], **kwargs: Any
    ) -> tuple[ToolResponse, float, dict[str, Any]]:
        """Run the call with *parameters*; never raises for what the call does (see the
        module docstring). An exception from the environment's ``reward()`` is the
        environment's bug, not the call's, and propagates (verl's loop then answers the
        call with its own error text)."""

        def failed(message: str) -> tuple[ToolResponse, float, dict[str, Any]]:
            return ToolResponse(text=f"error: {message}"), 0.0, {"tool_error": True}

        instance = self._instances.get(instance_id)
        if instance is None:
            return failed(f"tool {self.name!r} has no instance {instance_id!r} (create it first)")
        call = ToolCall(self.name, parameters)  # a non-object is an error result, checked there
        if self._tools is not None:
            result = await execute_call(self._tools, call, self._timeout)
            return ToolResponse(text=result.content), 0.0, {"tool_error": result.error}
        try:
            session = self._session(instance, kwargs.get("agent_data"))
        except Exception as err:
            label = getattr(self._factory, "__qualname__", self._reference)
            logger.warning("%s.reset raised %r", label, err)
            return failed(f"the environment of tool {self.name!r} failed to reset: {err!r}")
        result = await execute_call(session.tools, call, self._timeout)
        reward = float(session.env.reward())
        step, session.reward = reward - session.reward, reward
        return ToolResponse(text=result.content), step, {"tool_error": result.error}

    async def calc_reward(self, instance_id: str, **kwargs: Any) -> float:
        """``environment.reward()`` of the instance (0 for a plain tool)."""
        if self._tools is not None:
            return 0.0
        instance = self._instances.get(instance_id)
        if instance is None:
            raise TrainerValueError(f"tool {self.name!r} has no instance {instance_id!r}")
        return float(self._session(instance, kwargs.get("agent_data")).env.reward())

    async def release(self, instance_id: str, **kwargs: Any) -> None:
        """Forget the instance; close its environment when it is the instance's own (a
        trajectory's closes when the trajectory ends)."""
        instance = self._instances.pop(instance_id, None)
        if instance is not None and instance.owned and instance.session is not None:
            instance.session.close()
