#!/usr/bin/env bash
# Every test, run the way users get the package: build the abi3 manylinux2014 wheel and the
# sdist, install the wheel into a fresh virtual environment (dependencies from the package
# index, orbiter-train itself only from dist/), run pytest against that installed wheel, then
# the Rust unit tests.
set -euo pipefail
cd "$(dirname "$0")/.."

rm -rf dist .venv .venv-build .venv-math-verify
python3 -m venv .venv-build
# maturin finds zig through the python on PATH, so the build venv goes first on it.
(
  export PATH="$PWD/.venv-build/bin:$PATH"
  python -m pip install -q 'maturin[zig]>=1.9.4,<2' 'auditwheel>=6'
  maturin build --release --zig --compatibility manylinux2014 --out dist
  maturin sdist --out dist
  auditwheel show dist/*.whl
)

python3 -m venv .venv
.venv/bin/python -m pip install -q $(.venv/bin/python scripts/requirements.py dev torch test-verl test-serve trl lora tensorboard wandb)
# verl is only read by the tests (its shipped configs and core_algos); its own dependency
# tree (ray, vLLM, ...) is not needed for that.
.venv/bin/python -m pip install -q --no-deps verl
# openrlhf likewise: the serve tests drive its remote-reward client (openrlhf/utils/agent.py),
# which needs aiohttp (test-serve) and what openrlhf.utils imports (torch, transformers).
.venv/bin/python -m pip install -q --no-deps openrlhf
.venv/bin/python -m pip install --no-index --find-links dist orbiter-train
# The sdist must build from scratch too: a wheel built from it alone, outside the tree.
.venv/bin/python -m pip wheel -q --no-deps --wheel-dir .venv-build/from-sdist dist/*.tar.gz

# math-verify, the reference math_equal is tested against, in an environment of its own: its
# LaTeX grammar needs the ANTLR 4.13.2 runtime, which hydra-core above cannot share.
python3 -m venv .venv-math-verify
.venv-math-verify/bin/python -m pip install -q $(python3 scripts/requirements.py --extras-only math-reference)

ORBITER_TEST_INSTALLED=1 ORBITER_MATH_VERIFY_PYTHON="$PWD/.venv-math-verify/bin/python" \
  .venv/bin/python -m pytest
cargo test
