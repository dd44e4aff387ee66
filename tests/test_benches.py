"""The benchmark suite's smoke mode: structure of the table, JSON and chart, never timings.

Passes whether or not torch, verl and math-verify are installed (their baselines are skipped).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "benches" / "run.py"

pytestmark = pytest.mark.skipif(not RUN.is_file(), reason="benches/ not in this tree")


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("orbiter_benches_run_test", RUN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, str, dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("bench")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = _load().main(["--smoke", "--out", str(out)])
    payload = json.loads((out / "bench-smoke.json").read_text())
    return rc, buf.getvalue(), payload, out


def test_exit_code_and_files(smoke):
    rc, _, payload, out = smoke
    assert rc == 0
    assert payload["mode"] == "smoke"
    assert payload["runs"] >= 5
    if _has("matplotlib"):
        png = out / "bench-smoke.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_json_rows(smoke):
    _, _, payload, _ = smoke
    results = payload["results"]
    groups = {r["group"] for r in results}
    assert {"advantages", "data", "text rewards", "growth"} <= groups
    for r in results:
        assert r["ours_s"] > 0
        assert r["runs"] >= 5
        assert set(r["ratios"]) == set(r["baselines_s"])
        for name, ratio in r["ratios"].items():
            assert ratio == pytest.approx(r["baselines_s"][name] / r["ours_s"])
        if r["nbytes"]:
            assert r["ceiling_pct"] > 0
    ops = {r["op"] for r in results}
    for op in ("grpo (fused broadcast)", "gae", "exact_match (50% equal)", "validate_tokens int32"):
        assert op in ops
    assert any(op.startswith("math_equal") for op in ops)
    growth = [r for r in results if r["group"] == "growth"]
    assert len({r["rows"] for r in growth}) >= 2
    assert set(payload["threads"]["seconds"]) == {"1", "2"}
    assert payload["machine"]["cpu_count"] >= 1


def test_optional_baselines(smoke):
    _, _, payload, _ = smoke
    names = {n for r in payload["results"] for n in r["baselines_s"]}
    assert "python loop + numpy broadcast" in names
    assert ("torch view/mean/std * mask" in names) == _has("torch")
    assert any(n.startswith("math-verify") for n in names) == _has("math_verify")
    assert ("verl gsm8k.compute_score" in names) == _has("verl")
    assert not any("core_algos" in n or n.startswith("verl compute") for n in names)  # smoke
    if _has("torch"):
        sizes = payload["validation"]["sizes"]
        assert sizes
        for s in sizes.values():
            assert set(s["split_s"]) >= {"check_config", "check_agent", "check_dataset"}
    else:
        assert payload["validation"] is None


def test_printed_table(smoke):
    _, text, payload, _ = smoke
    assert "| operation | size | ours |" in text
    assert "% of memory ceiling" in text
    for r in payload["results"]:
        assert f"| {r['op']} | {r['size']} |" in text
    assert "growth with threads" in text


def test_cli_bench(tmp_path):
    from orbiter.train import cli

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        args = ["--smoke", "--only", "data", "--no-plot", "--out", str(tmp_path)]
        rc = cli.main(["bench", *args, "--suite", str(RUN)])
    assert rc == 0
    payload = json.loads((tmp_path / "bench-smoke.json").read_text())
    assert {r["group"] for r in payload["results"]} == {"data"}
    assert "| operation | size | ours |" in buf.getvalue()


def test_serve_section(smoke):
    """Both servers' cells, the targets and the fault run (issue 16, item 4)."""
    _, text, payload, _ = smoke
    serve = payload["serve"]
    if not all(_has(m) for m in ("aiohttp", "starlette", "uvicorn")):
        assert serve is None
        return
    ours = [c for c in serve["cells"] if c["server"] == "orbiter-train serve"]
    assert [c["batch"] for c in ours] == [1, 64]  # smoke sizes; the full run adds 1,024
    for c in serve["cells"]:
        assert c["requests"] >= c["clients"]
        assert c["p50_ms"] <= c["p99_ms"]
        assert c["responses_per_s"] == pytest.approx(c["requests_per_s"] * c["batch"])
    assert all(c["wrong"] == 0 for c in ours)
    assert any(t["target"].startswith("p99") for t in serve["targets"])
    faults = serve["faults"]
    assert faults["ok"], faults
    assert faults["good_wrong"] == 0
    assert faults["exit_code"] == 0
    assert "## serve: load and latency" in text


def test_e2e_section(smoke):
    """TRL's GRPOTrainer with orbiter's reward and TorchTrainer, step for step (issue 16,
    item 5); TRL's own accuracy_reward runs where math-verify is installed."""
    _, text, payload, _ = smoke
    e2e = payload["e2e"]
    if not (_has("trl") and _has("torch")):
        assert e2e is None
        return
    assert e2e["shape"]["steps"] == 2
    for name in ("trl + orbiter", "TorchTrainer"):
        run = e2e[name]
        assert run["steps"] == 2 and run["s_per_step"] > 0
        assert 0.0 < run["reward_share"] < 1.0
    assert ("trl + accuracy_reward" in e2e) == _has("math_verify")
    assert {t["target"] for t in e2e["targets"]} == {"< 1 %", ">= 1x"}
    assert "## e2e: a GRPO step" in text
