"""The TOML file of ``orbiter-train train``: its schema, checked strictly, and what it builds.

Paths are relative to the working directory. One table per concern; every table and key
not in :data:`SCHEMA` is an error naming it, with the closest known name ("did you mean").
``[trainer]`` holds :class:`~orbiter.train.torch.TorchTrainConfig` fields, which its own
validator checks.
:func:`schema_help` writes the schema for ``orbiter-train train --help`` and the README's
table comes from the same :data:`SCHEMA`; ``examples/train.toml`` is a complete file.
"""

from __future__ import annotations

import importlib
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orbiter.train._args import did_you_mean
from orbiter.train.errors import TrainerError

__all__ = ["SCHEMA", "RunFile", "load_run_file", "schema_help"]

TINY_SIZES = ("vocab_size", "d_model", "n_layers", "n_heads", "max_positions", "dropout")
"""The sizes of the built-in TinyCausalLM (:class:`orbiter.train.torch.model.TinyConfig`)."""

SCHEMA: dict[str, dict[str, str]] = {
    "trainer": {"*": "any TorchTrainConfig field (algorithm, learning_rate, max_steps, ...)"},
    "data": {
        "train": "JSONL file of training records (required)",
        "test": "JSONL file of held-out records, evaluated after training",
        "prompt_column": "the record key holding the prompt (default: input or prompt)",
        "answer_column": "the record key holding the answer (default: answer, expected, output)",
    },
    "reward": {
        "name": "a core reward name (default math_equal)",
        "function": "a reward of your own, 'module:name' (fn(output, expected) or batched)",
        "search_path": "a directory put first on sys.path to import function's module",
    },
    "model": {
        "path": "a local transformers model directory (model, tokenizer); else TinyCausalLM",
        "instructions": "the system prompt of every prompt",
        **{size: "a TinyCausalLM size (without path)" for size in TINY_SIZES},
    },
}
"""Tables and their keys (``"*"``: the table's keys are checked by its own validator)."""


def schema_help() -> str:
    """The schema as ``orbiter-train train --help`` prints it."""
    lines = ["config tables and keys (unknown ones are errors):"]
    for table, keys in SCHEMA.items():
        lines.append(f"  [{table}]")
        lines += [f"    {key:<14} {doc}" for key, doc in keys.items()]
    lines.append("a complete example: examples/train.toml")
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class RunFile:
    """A checked run file: its tables, and where it lives (relative paths start there)."""

    path: Path
    tables: Mapping[str, Mapping[str, Any]]

    def table(self, name: str) -> dict[str, Any]:
        return dict(self.tables.get(name, {}))

    def data(self, key: str) -> str | None:
        """A ``[data]`` string (a path, relative to the working directory, or a column)."""
        value = self.tables.get("data", {}).get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise TrainerError(f"{self.path}: [data] {key} must be a string, got {value!r}")
        return value

    def build_agent(self) -> Any:
        """The ``[model]`` policy: a local transformers model and its tokenizer (``path``), or
        the built-in TinyCausalLM of the given sizes."""
        from orbiter.train.torch import ByteTokenizer, PolicyAgent, TinyCausalLM

        model_cfg = self.table("model")
        instructions = model_cfg.pop("instructions", "")
        if not isinstance(instructions, str):
            raise TrainerError(f"{self.path}: [model] instructions must be a string")
        if "path" in model_cfg:
            sizes = sorted(set(model_cfg) - {"path"})
            if sizes:
                raise TrainerError(
                    f"{self.path}: [model] {', '.join(sizes)} size the built-in model only; "
                    "a model loaded from path keeps its own config"
                )
            model, tokenizer = _load_transformers(self._string(model_cfg["path"], "path"))
            return PolicyAgent(model, tokenizer, instructions=instructions)
        try:
            model = TinyCausalLM(**model_cfg)
        except (TypeError, ValueError) as err:
            raise TrainerError(f"[model]: {err}") from err
        return PolicyAgent(model, ByteTokenizer(), instructions=instructions)

    def reward(self) -> Any:
        """The ``[reward]``: a core name, or the user's function imported from
        ``module:name`` (with ``search_path`` first on ``sys.path``)."""
        reward = self.table("reward")
        if "name" in reward and "function" in reward:
            raise TrainerError(f"{self.path}: [reward] takes name or function, not both")
        if "function" not in reward:
            return reward.get("name", "math_equal")
        spec = reward["function"]
        if not isinstance(spec, str) or spec.count(":") != 1:
            raise TrainerError(
                f"{self.path}: [reward] function must be 'module:name', got {spec!r}"
            )
        if "search_path" in reward:
            folder = self._string(reward["search_path"], "search_path")
            if folder not in sys.path:
                sys.path.insert(0, folder)
        module_name, name = spec.split(":")
        try:
            fn: Any = importlib.import_module(module_name)
            for part in name.split("."):
                fn = getattr(fn, part)
        except (ImportError, AttributeError) as err:
            raise TrainerError(f"{self.path}: [reward] function {spec!r}: {err}") from None
        if not callable(fn):
            raise TrainerError(f"{self.path}: [reward] function {spec!r} is not callable")
        return fn

    def _string(self, value: Any, key: str) -> str:
        if not isinstance(value, str):
            raise TrainerError(f"{self.path}: {key} must be a path, got {value!r}")
        return value


def _load_transformers(path: str) -> tuple[Any, Any]:
    if not Path(path).is_dir():
        raise TrainerError(f"[model] path {path!r} is not a directory")
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError:
        raise TrainerError(
            "[model] path needs transformers: pip install 'orbiter-train[torch]' transformers"
        ) from None
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError) as err:
        raise TrainerError(f"[model] path {path!r}: {err}") from None
    return model, tokenizer


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise TrainerError(f"cannot read config {path}: not UTF-8 (byte {err.start})") from None
    except RecursionError:
        raise TrainerError(f"cannot read config {path}: nested too deeply") from None
    except tomllib.TOMLDecodeError as err:
        raise TrainerError(f"cannot read config {path}: {err}") from None
    except ValueError:  # an integer of more digits than int() takes
        digits = sys.get_int_max_str_digits()
        raise TrainerError(
            f"cannot read config {path}: an integer of more than {digits} digits"
        ) from None
    except OSError as err:
        raise TrainerError(f"cannot read config {path}: {err}") from err


def load_run_file(path: str | Path) -> RunFile:
    """The TOML run file at *path*, every table and key checked against :data:`SCHEMA`."""
    where = Path(path)
    tables = _read(where)
    for table, value in tables.items():
        if table not in SCHEMA:
            raise TrainerError(
                f"{where}: unknown table {table!r} (tables: {', '.join(SCHEMA)})"
                f"{did_you_mean(table, tuple(SCHEMA))}"
            )
        if not isinstance(value, dict):
            raise TrainerError(f"{where}: {table} must be a [{table}] table, got {value!r}")
        known = tuple(SCHEMA[table])
        if "*" in known:
            continue
        for key in value:
            if key not in known:
                raise TrainerError(
                    f"{where}: [{table}] unknown key {key!r} (keys: {', '.join(known)})"
                    f"{did_you_mean(key, known)}"
                )
    if "train" not in tables.get("data", {}):
        raise TrainerError(f"{where}: [data] needs 'train'")
    return RunFile(where, tables)
