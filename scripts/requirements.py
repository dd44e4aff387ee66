"""Print orbiter-train's dependencies (plus the named extras) from pyproject.toml, one a line.

Lets a fresh environment take the dependencies from the package index while the package
itself is installed only from a wheel file: ``pip install $(python scripts/requirements.py dev)``.
An extra naming another (``orbiter-train[serve]``) brings that one's requirements in.
With ``--extras-only`` the project's own dependencies are left out (an environment that holds
only an extra's tools, such as the ``math-reference`` one).
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path


def requirements(extras: list[str], *, extras_only: bool = False) -> list[str]:
    project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())[
        "project"
    ]
    optional: dict[str, list[str]] = project.get("optional-dependencies", {})
    unknown = [e for e in extras if e not in optional]
    if unknown:
        raise SystemExit(f"unknown extra(s) {unknown}; known: {sorted(optional)}")
    found: list[str] = [] if extras_only else list(project.get("dependencies", []))
    pending, seen = list(extras), set()
    while pending:
        extra = pending.pop(0)
        if extra in seen:
            continue
        seen.add(extra)
        for req in optional[extra]:
            if req.startswith("orbiter-train["):
                pending += req.removeprefix("orbiter-train[").rstrip("]").split(",")
            else:
                found.append(req)
    return list(dict.fromkeys(found))


if __name__ == "__main__":
    args = sys.argv[1:]
    only = "--extras-only" in args
    print("\n".join(requirements([a for a in args if a != "--extras-only"], extras_only=only)))
