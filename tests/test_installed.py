"""What users get from a wheel: the installed package, its version, its typing, no torch."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import orbiter.train
from orbiter.train import _core

ROOT = Path(__file__).resolve().parent.parent


def test_version_has_one_source() -> None:
    cargo = tomllib.loads((ROOT / "Cargo.toml").read_text())["package"]["version"]
    assert orbiter.train.__version__ == cargo
    assert importlib.metadata.version("orbiter-train") == cargo


def test_package_ships_types() -> None:
    package = Path(orbiter.train.__file__).parent
    assert (package / "py.typed").is_file()
    assert (package / "_core.pyi").is_file()
    assert Path(_core.__file__).name.endswith(".abi3.so")


@pytest.mark.skipif(
    os.environ.get("ORBITER_TEST_INSTALLED") != "1",
    reason="only when the suite runs against an installed wheel (scripts/test.sh)",
)
def test_tests_run_against_the_installed_wheel() -> None:
    assert "site-packages" in Path(orbiter.train.__file__).parts
    assert not Path(orbiter.train.__file__).is_relative_to(ROOT / "python")


def test_import_needs_no_torch() -> None:
    code = (
        "import sys\n"
        "sys.modules['torch'] = None  # any import of torch now fails\n"
        "import orbiter.train, orbiter.train.trainer, orbiter.train.errors\n"
        "print('ok')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "ok"
