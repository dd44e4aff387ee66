"""orbiter-train's benchmark suite: every benchmark against its baselines, in one process.

    python benches/run.py            # full run (~10 min on 2 cores); also: orbiter-train bench
    python benches/run.py --smoke    # tiny sizes, seconds; what the test suite runs

Build the extension in release mode first (``maturin develop -r``); install the baselines
with ``pip install -e '.[bench]' && pip install --no-deps verl``. Baselines that are not
importable are skipped with a note. Every figure is the median of >= 5 runs after a
warm-up, ours and its baselines interleaved; torch runs with one thread.

Writes a table to stdout, ``bench.json`` (``bench-smoke.json`` in smoke mode) and
``bench.png`` (``bench-smoke.png``) under ``--out`` (default ``benches/results/``).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import bench_advantages  # noqa: E402
import bench_data  # noqa: E402
import bench_e2e  # noqa: E402
import bench_growth  # noqa: E402
import bench_serve  # noqa: E402
import bench_text  # noqa: E402
import bench_validation  # noqa: E402
import harness  # noqa: E402
from harness import CEILING, Result  # noqa: E402

SECTIONS = ("advantages", "data", "text", "validation", "growth", "threads", "serve", "e2e")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="orbiter-train bench",
        description="Benchmarks of orbiter-train's core against its baselines.",
    )
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, verl core_algos skipped")
    ap.add_argument("--runs", type=int, default=5, help="timed runs per figure (>= 5)")
    ap.add_argument("--out", default=str(HERE / "results"), help="directory for JSON and PNG")
    ap.add_argument("--only", nargs="*", choices=SECTIONS, help="run only these sections")
    ap.add_argument("--no-verl", action="store_true", help="skip verl core_algos (slow import)")
    ap.add_argument("--no-plot", action="store_true", help="no PNG")
    return ap.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:  # noqa: PLR0912, PLR0915
    args = parse_args(argv)
    runs = max(5, args.runs)
    only = set(args.only or SECTIONS)
    started = time.perf_counter()
    ceiling = harness.Ceiling()
    results: list[Result] = []
    notes: list[str] = []
    payload: dict[str, Any] = {
        "mode": "smoke" if args.smoke else "full",
        "runs": runs,
        "machine": harness.machine(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    try:
        import torch

        torch.set_num_threads(1)
        payload["torch_threads"] = 1
    except ImportError:
        notes.append("torch not installed: torch baselines and validation overhead skipped")
        torch = None  # type: ignore[assignment]

    def section(name: str, cases: list[harness.Case], more: list[str]) -> list[Result]:
        print(f"# {name} ({len(cases)} cases)", flush=True)
        notes.extend(more)
        out = harness.run_cases(cases, runs, ceiling)
        results.extend(out)
        return out

    if "advantages" in only:
        cases, more = bench_advantages.cases(args.smoke, verl=not (args.smoke or args.no_verl))
        section("advantages", cases, more)
    if "data" in only:
        section("data", *bench_data.cases(args.smoke))
    if "text" in only:
        section("text rewards", *bench_text.cases(args.smoke))
    validation: dict[str, Any] | None = None
    if "validation" in only and torch is not None:
        cases, more, finish = bench_validation.cases(args.smoke, runs)
        validation = finish(section("validation overhead", cases, more))
    if "growth" in only:
        section("growth with rows", *bench_growth.cases(args.smoke))
    threads: dict[str, Any] | None = None
    if "threads" in only:
        print("# threads (subprocesses)", flush=True)
        threads = bench_growth.threads_sweep(args.smoke, runs)
    serve: dict[str, Any] | None = None
    if "serve" in only:
        print("# serve (HTTP servers in subprocesses)", flush=True)
        serve, more = bench_serve.run(args.smoke)
        notes.extend(more)
    e2e: dict[str, Any] | None = None
    if "e2e" in only and torch is not None:
        print("# e2e (TRL's GRPOTrainer and TorchTrainer)", flush=True)
        e2e, more = bench_e2e.run(args.smoke)
        notes.extend(more)

    groups = list(dict.fromkeys(r.group for r in results))
    for group in groups:
        harness.print_results([r for r in results if r.group == group], group)
        if group == bench_validation.GROUP and validation is not None:
            print()
            print(bench_validation.describe(validation, results))
    if threads is not None:
        print("\n## growth with threads (RAYON_NUM_THREADS)\n")
        print(bench_growth.describe_threads(threads))
    if serve is not None:
        print("\n## serve: load and latency over HTTP (OpenRLHF /get_reward)\n")
        print(bench_serve.describe(serve))
    if e2e is not None:
        print("\n## e2e: a GRPO step, TRL's GRPOTrainer and TorchTrainer\n")
        print(bench_e2e.describe(e2e))
    print()
    machine = payload["machine"]
    print(
        f"machine: {machine.get('cpu', machine['machine'])}, {machine['cpu_count']} cores, "
        f"load average {machine['loadavg_1m']:.2f} at start, "
        f"{harness.machine()['loadavg_1m']:.2f} at end; torch threads 1"
    )
    print(f"median of {runs} runs after a warm-up; * = baseline timed on a sample, scaled")
    print("ratio = baseline time / our time; % of memory ceiling = copy time / our time")
    for note in dict.fromkeys(notes):
        print(f"note: {note}")
    targets = [r for r in results if r.met is not None]
    serve_targets = serve["targets"] if serve is not None else []
    serve_targets += e2e["targets"] if e2e is not None else []
    if targets or serve_targets:
        print("\ntargets:")
        for r in targets:
            print(f"  {'met   ' if r.met else 'MISSED'} {r.op} [{r.size}]: {_target_text(r)}")
        for t in serve_targets:
            print(f"  {'met   ' if t['met'] else 'MISSED'} {t['text']} ({t['target']})")
    payload |= {
        "loadavg_1m_at_end": harness.machine()["loadavg_1m"],
        "seconds": time.perf_counter() - started,
        "results": results,
        "validation": validation,
        "threads": threads,
        "serve": serve,
        "e2e": e2e,
        "notes": list(dict.fromkeys(notes)),
    }
    out = Path(args.out)
    stem = "bench-smoke" if args.smoke else "bench"
    harness.write_json(out / f"{stem}.json", payload)
    print(f"\nwrote {out / (stem + '.json')}", end="")
    if not args.no_plot:
        try:
            plot(results, threads, out / f"{stem}.png")
            print(f" and {out / (stem + '.png')}", end="")
        except ImportError:
            print(" (matplotlib not installed: no chart)", end="")
    print()
    return 0


def _target_text(r: Result) -> str:
    if "throughput" in r.extra:
        return f"{r.extra['throughput']:.3g} {r.extra['throughput_unit']} ({r.target})"
    parts = [
        f"{n} {r.ratios[n]:.2f}x" for n in r.ratios if n != CEILING and n.split()[0] in r.target
    ]
    if "copy" in r.target and r.ceiling_pct is not None:
        parts.append(f"{r.ceiling_pct:.0f} % of the copy's throughput")
    return "; ".join(parts) + f" ({r.target})"


def plot(  # noqa: PLR0915
    results: Sequence[Result], threads: dict[str, Any] | None, path: Path
) -> None:
    """Four panels: speed-ups, % of the memory ceiling, growth with rows and threads."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(15, 11), dpi=100)
    main_rows = [r for r in results if r.group != bench_growth.GROUP]
    bars = [
        (f"{r.op} vs {name}", ratio)
        for r in main_rows
        for name, ratio in r.ratios.items()
        if name != CEILING and math.isfinite(ratio)
    ]
    ax = axes[0][0]
    if bars:
        labels, values = zip(*bars, strict=True)
        colors = ["#31a354" if v >= 1 else "#de2d26" for v in values]
        ax.barh(range(len(values)), values, color=colors)
        ax.set_yticks(range(len(values)), [lab[:70] for lab in labels], fontsize=6)
        ax.set_xscale("log")
        ax.axvline(1, color="black", lw=0.8)
        ax.invert_yaxis()
    ax.set_title("speed-up: baseline time / our time (log)")
    ax = axes[0][1]
    ceil = [(f"{r.op} [{r.size}]", r.ceiling_pct) for r in main_rows if r.ceiling_pct is not None]
    if ceil:
        labels, values = zip(*ceil, strict=True)
        ax.barh(range(len(values)), values, color="#3182bd")
        ax.set_yticks(range(len(values)), [lab[:70] for lab in labels], fontsize=6)
        ax.axvline(100, color="black", lw=0.8)
        ax.axvline(50, color="#de2d26", lw=0.8, ls="--")
        ax.invert_yaxis()
    ax.set_title("% of the memory ceiling (a NumPy copy)")
    ax = axes[1][0]
    series = bench_growth.growth_series(results)
    for name, pts in series.items():
        xs, ys = zip(*pts, strict=True)
        ax.loglog(xs, [y * 1e3 for y in ys], marker="o", label=name)
    ax.set_xlabel("rows")
    ax.set_ylabel("ms (median)")
    ax.set_title("growth with rows" if series else "growth with rows (section not run)")
    ax.grid(alpha=0.3, which="both")
    if series:  # a run with --only and no growth section has nothing to label
        ax.legend(fontsize=7)
    ax = axes[1][1]
    if threads is not None:
        secs = threads["seconds"]
        counts = list(secs)
        names = list(secs[counts[0]])
        width = 0.8 / len(counts)
        for k, c in enumerate(counts):
            ax.bar(
                [i + k * width for i in range(len(names))],
                [secs[c][n] * 1e3 for n in names],
                width,
                label=f"{c} thread(s)",
            )
        ax.set_xticks(
            [i + 0.4 - width / 2 for i in range(len(names))], names, fontsize=7, rotation=15
        )
        ax.set_ylabel("ms (median)")
        ax.legend(fontsize=8)
        ax.set_title(f"threads (RAYON_NUM_THREADS), {threads['rows']:,} rows")
    else:
        ax.set_title("threads: not run")
    fig.suptitle("orbiter-train benchmarks", fontsize=12)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
