"""The ``orbiter-train`` command line (also ``python -m orbiter.train``).

Commands: ``demo`` (the main job), ``train CONFIG.toml``, ``eval``, ``validate DATA.jsonl``,
``bench`` (the benchmark suite of a source checkout, ``benches/run.py``), ``serve`` (the
reward server, :mod:`orbiter.train.serve`).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from orbiter.train.errors import TrainerError

logger = logging.getLogger("orbiter.train.cli")


def _cmd_demo(args: argparse.Namespace) -> int:
    chosen = {
        key: value
        for key, value in (
            ("seed", args.seed),
            ("warmup_steps", args.warmup_steps),
            ("rl_steps", args.rl_steps),
            ("threads", args.threads),
        )
        if value is not None
    }
    if args.agent:
        from orbiter.train.torch import agent_demo

        out = args.output_dir or "runs/demo-agent"
        agent_demo.main(out, agent_demo.AgentDemoSettings(**chosen))
    else:
        from orbiter.train.torch import demo

        demo.main(args.output_dir or "runs/demo", demo.DemoSettings(**chosen))
    return 0


def _tiny_agent(model_cfg: dict[str, Any], checkpoint: Path | None) -> Any:
    from orbiter.train.torch import ByteTokenizer, PolicyAgent, TinyCausalLM
    from orbiter.train.torch.checkpoint import load_checkpoint

    try:
        model = TinyCausalLM(**{k: v for k, v in model_cfg.items() if k != "instructions"})
    except (TypeError, ValueError) as err:
        raise TrainerError(f"[model]: {err}") from err
    if checkpoint is not None:
        load_checkpoint(checkpoint, {"model": model}, None)
    return PolicyAgent(model, ByteTokenizer(), instructions=model_cfg.get("instructions", ""))


def _cmd_train(args: argparse.Namespace) -> int:
    """Train from a TOML run file (:mod:`orbiter.train.run_file`, ``train --help``)."""
    from orbiter.train.run_file import load_run_file
    from orbiter.train.torch import TorchTrainer

    run = load_run_file(args.config)
    trainer = TorchTrainer()
    trainer.check_config(run.table("trainer"))
    trainer.check_agent(run.build_agent())
    train, test = run.data("train"), run.data("test")
    trainer.check_dataset(
        train,
        test,
        prompt_column=run.data("prompt_column"),
        answer_column=run.data("answer_column"),
    )
    trainer.check_reward(run.reward())
    trainer.mark_validated()
    # the model's sizes are saved in each checkpoint (checkpoint/model_config.json), with
    # the weights they fit, so that `eval` rebuilds the model a checkpoint holds
    metrics = asyncio.run(trainer.train())
    print(json.dumps({"loss": metrics.loss, "accuracy": metrics.accuracy, "steps": metrics.steps}))
    if test:
        evaluation = asyncio.run(trainer.evaluate())
        print(json.dumps({"eval_accuracy": evaluation.accuracy, "eval_loss": evaluation.loss}))
    return 0


def _eval_agent(run: Path) -> Any:
    """The policy ``eval`` scores: the export in ``RUN/final/`` (or *run* itself when it is
    an export), else the built-in model rebuilt from the checkpoint's model config."""
    from orbiter.train.torch.export import FINAL_DIR, load_exported

    for candidate in (run / FINAL_DIR, run):
        if (candidate / "config.json").is_file() or (
            (candidate / "model_config.json").is_file()
            and (candidate / "model.safetensors").is_file()
        ):
            return load_exported(candidate)
    return _checkpoint_agent(run)


def _checkpoint_agent(run: Path) -> Any:
    # written with the checkpoint; runs of earlier versions kept it next to it
    model_cfg_path = run / "checkpoint" / "model_config.json"
    if not model_cfg_path.is_file():
        model_cfg_path = run / "model_config.json"
    model_cfg: Any = {}
    if model_cfg_path.is_file():
        try:
            model_cfg = json.loads(model_cfg_path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as err:
            raise TrainerError(f"{model_cfg_path}: not a model config: {err}") from None
        if not isinstance(model_cfg, dict):
            raise TrainerError(f"{model_cfg_path}: not a model config (a JSON object)")
    return _tiny_agent(model_cfg, run)


def _cmd_eval(args: argparse.Namespace) -> int:
    from orbiter.train.torch import TorchTrainer

    trainer = TorchTrainer()
    trainer.check_config({"max_new_tokens": args.max_new_tokens})
    trainer.check_agent(_eval_agent(Path(args.run_dir)))
    trainer.check_reward(args.reward)
    metrics = asyncio.run(
        trainer.evaluate(args.data, n_samples=args.n_samples, temperature=args.temperature)
    )
    print(
        json.dumps(
            {"accuracy": metrics.accuracy, "loss": metrics.loss, "items": metrics.steps}
            | {k: v for k, v in metrics.extra.items() if k != "samples"}
        )
    )
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from orbiter.train.data import validate_records
    from orbiter.train.records import read_jsonl

    records = read_jsonl(Path(args.data), args.data)
    required = {key: str for key in args.require}
    report = validate_records(records, required=required)
    print(report)
    return 0 if report.ok else 1


def _find_suite(explicit: str | None) -> Path:
    """``benches/run.py``: the given path, else under the current directory, else in the
    source tree this package was installed from (an editable install)."""
    if explicit is not None:
        candidates = [Path(explicit)]
    else:
        candidates = [
            Path.cwd() / "benches" / "run.py",
            Path(__file__).resolve().parents[3] / "benches" / "run.py",
        ]
    for path in candidates:
        if path.is_file():
            return path
    raise TrainerError(
        "bench needs the benchmark suite of a source checkout (benches/run.py): run it from "
        "the repository root or pass --suite PATH"
    )


def _cmd_bench(args: argparse.Namespace) -> int:
    path = _find_suite(args.suite)
    spec = importlib.util.spec_from_file_location("orbiter_benches_run", path)
    if spec is None or spec.loader is None:
        raise TrainerError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    argv = ["--runs", str(args.runs)]
    argv += ["--smoke"] * args.smoke + ["--no-verl"] * args.no_verl + ["--no-plot"] * args.no_plot
    if args.out is not None:
        argv += ["--out", args.out]
    if args.only:
        argv += ["--only", *args.only]
    return int(module.main(argv))


def _cmd_serve(args: argparse.Namespace) -> int:
    from orbiter.train.rewards.registry import TEXT_REWARDS, lookup

    lookup(args.reward, "--reward", TEXT_REWARDS)
    try:
        from orbiter.train.serve import serve
    except ImportError as err:
        raise TrainerError(
            f"serve needs starlette and uvicorn ({err.name} is missing): "
            "pip install 'orbiter-train[serve]'"
        ) from None

    def ready(url: str) -> None:
        print(f"orbiter-train serve: {args.reward} on {url}", file=sys.stderr, flush=True)

    limit = {} if args.max_body_bytes is None else {"max_body_bytes": args.max_body_bytes}
    serve(
        args.reward,
        host=args.host,
        port=args.port,
        token=args.token or os.environ.get("ORBITER_SERVE_TOKEN") or None,
        access_log=args.verbose,
        ready=ready,
        **limit,
    )
    return 0


def _port(text: str) -> int:
    """An argparse type: a TCP port, 0 (any free one) to 65535."""
    value = _count(0)(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"must be <= 65535, got {value}")
    return value


def _count(low: int) -> Callable[[str], int]:
    """An argparse type: an integer ``>= low`` (argparse prints the one-line error)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {value}")
        return value

    parse.__name__ = "integer"
    return parse


def build_parser() -> argparse.ArgumentParser:
    from orbiter.train import __version__
    from orbiter.train.run_file import schema_help

    # -v before or after the command: each subcommand takes it too, without a default of its
    # own, so that `orbiter-train -v demo` is not undone by the subcommand's parser
    verbose = argparse.ArgumentParser(add_help=False)
    verbose.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log at INFO level"
    )
    parser = argparse.ArgumentParser(
        prog="orbiter-train",
        description="Fine-tune agents with rewards on a Rust core.",
        parents=[verbose],
    )
    parser.add_argument("--version", action="version", version=f"orbiter-train {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    add_parser = sub.add_parser

    def command(name: str, **kwargs: Any) -> argparse.ArgumentParser:
        return add_parser(name, parents=[verbose], **kwargs)

    demo = command("demo", help="GRPO on the built-in arithmetic task (no download)")
    demo.add_argument(
        "--agent",
        action="store_true",
        help="a tool-using agent instead: big sums with a calculator tool, multi-turn GRPO "
        "(default output dir: runs/demo-agent)",
    )
    demo.add_argument(
        "--output-dir", default=None, help="default: runs/demo (--agent: runs/demo-agent)"
    )
    defaults = "default: the demo's recipe"
    demo.add_argument("--seed", type=_count(0), help=f"random seed ({defaults})")
    demo.add_argument(
        "--warmup-steps", type=_count(0), help=f"supervised warm-up steps ({defaults})"
    )
    demo.add_argument("--rl-steps", type=_count(1), help=f"GRPO steps ({defaults})")
    demo.add_argument("--threads", type=_count(1), help=f"torch CPU threads ({defaults})")
    demo.set_defaults(run=_cmd_demo)

    train = command(
        "train",
        help="train from a TOML config",
        description="Train TorchTrainer from a TOML run file.",
        epilog=schema_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument("config")
    train.set_defaults(run=_cmd_train)

    evaluate = command("eval", help="greedy evaluation of a trained run on a JSONL file")
    evaluate.add_argument(
        "run_dir", help="an output_dir (its final/ export or its checkpoint), or an export"
    )
    evaluate.add_argument("data", help="JSONL with input and answer")
    evaluate.add_argument("--reward", default="math_equal")
    evaluate.add_argument("--max-new-tokens", type=_count(1), default=32)
    evaluate.add_argument(
        "--n-samples", type=_count(1), default=1, help="completions per item (pass@k, maj@k)"
    )
    evaluate.add_argument(
        "--temperature", type=float, default=0.0, help="sampling temperature (0: greedy)"
    )
    evaluate.set_defaults(run=_cmd_eval)

    validate = command("validate", help="validate a JSONL dataset in the core")
    validate.add_argument("data")
    validate.add_argument("--require", nargs="*", default=["input", "answer"])
    validate.set_defaults(run=_cmd_validate)

    bench = command("bench", help="run the benchmark suite (benches/run.py of a source checkout)")
    bench.add_argument("--smoke", action="store_true", help="tiny sizes, seconds")
    bench.add_argument("--runs", type=_count(5), default=5, help="timed runs per figure (>= 5)")
    bench.add_argument("--out", default=None, help="directory for JSON and PNG")
    bench.add_argument("--only", nargs="*", default=None, help="sections to run")
    bench.add_argument("--no-verl", action="store_true", help="skip verl core_algos")
    bench.add_argument("--no-plot", action="store_true", help="no PNG")
    bench.add_argument("--suite", default=None, help="path of benches/run.py")
    bench.set_defaults(run=_cmd_bench)

    serve = command("serve", help="HTTP reward server (OpenRLHF's /get_reward, /v1/score, /health)")
    serve.add_argument("--reward", default="math_equal", help="a text reward (math_equal)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    serve.add_argument("--port", type=_port, default=8000, help="port (8000; 0: any free one)")
    serve.add_argument(
        "--token",
        default=None,
        help="require 'Authorization: Bearer TOKEN' (default: $ORBITER_SERVE_TOKEN, else none)",
    )
    serve.add_argument(
        "--max-body-bytes",
        type=_count(1),
        default=None,
        help="largest request body accepted, larger ones get 413 (default 16 MiB)",
    )
    serve.set_defaults(run=_cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # -v's action is shared by every parser, so its default is left unset (a set_defaults
    # would reach the subcommands' copies and undo a -v given before the command)
    args.verbose = getattr(args, "verbose", False)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    # a training run's progress lines reach the log where no bar is drawn (no terminal)
    if not sys.stderr.isatty():
        logging.getLogger("orbiter.train.progress").setLevel(logging.INFO)
    try:
        return int(args.run(args))
    except TrainerError as err:
        print(f"orbiter-train: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a full disk, a permission: the user's to fix, no traceback
        print(f"orbiter-train: error: {err}", file=sys.stderr)
        return 2
    except Exception as err:
        # a bug of ours: one line for the user, the traceback in the log (--verbose)
        logger.info("internal error", exc_info=True)
        print(
            f"orbiter-train: error: internal error: {err!r} (run with --verbose for the "
            "traceback, and please report it)",
            file=sys.stderr,
        )
        return 3


if __name__ == "__main__":
    sys.exit(main())
