"""Extract math-verify's own test cases into ``math_verify_suite.jsonl``, with its verdicts.

Sources (Apache-2.0, see the LICENCE file of https://github.com/huggingface/Math-Verify; the
file header of its ``tests/test_all.py`` carries an MIT notice of The HuggingFace Team):

* the git mirror of huggingface/Math-Verify (by default
  ``/work/.mirror/huggingface+Math-Verify/repo``), read with ``git show <commit>:tests/<file>``;
  the delivered file was made from ``main`` at 5d148cfaaf99214c2e4ffb4bc497ab042c592a7a
  (2 July 2025, just after the 0.8.0 tag);
* optionally the math-verify sdist from PyPI (``--sdist``), whose ``tests/`` is that of the
  released version. The delivered file used ``math_verify-0.9.0.tar.gz`` (sha256
  45ac6c61344ba056b9e99a660a4bc8d044ed408f730aed68c60435aa5eec4645), the version the verdicts
  come from; its tests add six percentage cases and ``test_gamma_func.py`` to the mirror's.
  A case found in both keeps the mirror's ``source``; one only in the sdist gets
  ``pypi:math-verify==<version>:tests/<file>::<test>``.

No math-verify code is stored here: the test modules are read at run time, their parametrize lists
are evaluated from the AST (so commented-out cases never appear), and their helpers (e.g.
``compare_strings`` of ``tests/test_all.py``) are executed from that same source text.

Each line: ``source``, ``case`` (``param[i]``: i-th entry of the parametrize list; ``assert[i]``:
i-th assertion of a test without parametrize), ``gold``, ``pred``, ``expected`` (bool),
``options`` (the assertion as written and the helper arguments it resolves to, defaults filled
in), ``kind`` (a heuristic class), ``math_verify`` (math-verify's verdict when the test's own
assertion is evaluated: equal to ``expected`` exactly when math-verify passes that case) and, for
rows that are not a (gold, pred, expected) triple in the test itself, ``derived`` (how gold and
expected were read off the assertion: ``parse(pred) == [...]`` string extractions, ``len(x) == n``
and ``x[0] == value`` parse checks). Tests without string cases (mocks, timeouts, direct
``sympy_expr_eq`` calls) are skipped and listed on stderr.

Run, in a Python with math-verify (and the antlr4-python3-runtime 4.13.2 it needs)::

    pip download math-verify==0.9.0 --no-deps --no-binary :all: -d /tmp/mv09
    .venv-math-verify/bin/python tests/data/extract_math_verify_suite.py \\
        --sdist /tmp/mv09/math_verify-0.9.0.tar.gz
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import inspect
import itertools
import json
import re
import subprocess
import sys
import tarfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MIRROR = Path("/work/.mirror/huggingface+Math-Verify/repo")
OUT = Path(__file__).with_name("math_verify_suite.jsonl")
KINDS = (
    "number",
    "fraction",
    "percent",
    "latex_notation",
    "set_interval",
    "relation_equation",
    "matrix",
    "expression",
    "text_choice",
    "extraction_long",
    "other",
)


# --------------------------------------------------------------------------- reading the tests


def git_tests(mirror: Path, ref: str) -> tuple[str, dict[str, str]]:
    """(commit, {file name: text}) of ``tests/*.py`` at ``ref`` of a bare mirror."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(mirror), *args], check=True, capture_output=True, text=True
        ).stdout

    commit = git("rev-parse", f"{ref}^{{commit}}").strip()
    names = [
        n.removeprefix("tests/")
        for n in git("ls-tree", "--name-only", commit, "tests/").split()
        if n.endswith(".py")
    ]
    return commit, {n: git("show", f"{commit}:tests/{n}") for n in names}


def sdist_tests(path: Path) -> tuple[str, dict[str, str]]:
    """(version, {file name: text}) of ``tests/*.py`` in a math-verify sdist."""
    version = re.fullmatch(r"math_verify-(.+)\.tar\.gz", path.name)
    if version is None:
        raise SystemExit(f"not a math-verify sdist name: {path.name}")
    out = {}
    with tarfile.open(path) as tar:
        for member in tar.getmembers():
            parts = member.name.split("/")
            if len(parts) == 3 and parts[1] == "tests" and parts[2].endswith(".py"):
                fh = tar.extractfile(member)
                if fh is not None:
                    out[parts[2]] = fh.read().decode()
    return version.group(1), out


# --------------------------------------------------------------------------- executing them


class _Param:
    def __init__(self, *values: Any, id: str | None = None, marks: Any = ()) -> None:
        self.values = values
        self.id = id


class _PytestStub:
    """Just enough of pytest for parametrize lists: ``pytest.param``."""

    param = _Param

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(f"pytest.{name} is not available to the extractor")


PYTEST = _PytestStub()


class Modules:
    """Module namespaces of the test files: imports, constants and helpers, no test bodies."""

    def __init__(self, files: dict[str, str]) -> None:
        self.files = files
        self.trees = {name: ast.parse(text) for name, text in files.items()}
        self.cache: dict[str, dict[str, Any]] = {}

    def namespace(self, name: str) -> dict[str, Any]:
        if name in self.cache:
            return self.cache[name]
        ns: dict[str, Any] = {"__name__": f"math_verify_tests.{name[:-3]}", "pytest": PYTEST}
        for node in self.trees[name].body:
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tests."):
                other = self.namespace(node.module.removeprefix("tests.") + ".py")
                for alias in node.names:
                    ns[alias.asname or alias.name] = other[alias.name]
            elif isinstance(node, ast.Import) and any(a.name == "pytest" for a in node.names):
                continue
            elif isinstance(node, ast.Import | ast.ImportFrom | ast.Assign) or (
                isinstance(node, ast.FunctionDef) and not node.name.startswith("test_")
            ):
                exec(compile(ast.Module([node], []), name, "exec"), ns)
        self.cache[name] = ns
        return ns

    def helper_source(self, helper: str) -> tuple[str, ast.FunctionDef] | None:
        for name, tree in self.trees.items():
            for node in tree.body:
                if isinstance(node, ast.FunctionDef) and node.name == helper:
                    return name, node
        return None


@dataclass
class Check:
    """One assertion of a test body and whether it held."""

    node: ast.Assert
    passed: bool
    env: dict[str, Any]
    parses: dict[str, tuple[ast.Call, Any]] = field(default_factory=dict)


def call_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Call):
        f = node.func
        if isinstance(f, ast.Name):
            return f.id
        if isinstance(f, ast.Attribute):
            return f.attr
    return None


def run_body(fn: ast.FunctionDef, ns: dict[str, Any], bind: dict[str, Any]) -> list[Check]:
    """Run a test body statement by statement, recording each assertion instead of raising."""
    env = dict(bind)
    parses: dict[str, tuple[ast.Call, Any]] = {}
    checks = []
    for stmt in fn.body:
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue
        if isinstance(stmt, ast.Assert):
            try:
                passed = bool(eval(compile(ast.Expression(stmt.test), "<test>", "eval"), ns, env))
            except Exception:  # an exception fails the test
                passed = False
            checks.append(Check(stmt, passed, dict(env), dict(parses)))
            continue
        if isinstance(stmt, ast.Assign) and call_name(stmt.value) == "parse":
            assert isinstance(stmt.value, ast.Call)
            first = eval(compile(ast.Expression(stmt.value.args[0]), "<a>", "eval"), ns, env)
            for target in stmt.targets:
                names = target.elts if isinstance(target, ast.List | ast.Tuple) else [target]
                for t in names:
                    if isinstance(t, ast.Name):
                        parses[t.id] = (stmt.value, first)
        with contextlib.suppress(Exception):  # a failing statement fails the assertions after it
            exec(compile(ast.Module([stmt], []), "<test>", "exec"), ns, env)
    return checks


# --------------------------------------------------------------------------- cases to rows


def parametrize_lists(fn: ast.FunctionDef) -> list[ast.Call] | None:
    """The parametrize decorators, or None when the test has other decorators (mocks)."""
    out = []
    for dec in fn.decorator_list:
        if isinstance(dec, ast.Call) and ast.unparse(dec.func) == "pytest.mark.parametrize":
            out.append(dec)
        else:
            return None
    return out


def argnames(node: ast.AST) -> list[str]:
    value = ast.literal_eval(node)
    if isinstance(value, str):
        return [a.strip() for a in value.split(",") if a.strip()]
    return list(value)


def expand(dec: ast.Call, ns: dict[str, Any]) -> list[tuple[int, dict[str, Any], ast.AST]]:
    names = argnames(dec.args[0])
    values_node = dec.args[1]
    assert isinstance(values_node, ast.List | ast.Tuple)
    out = []
    for i, elt in enumerate(values_node.elts):
        value = eval(compile(ast.Expression(elt), "<parametrize>", "eval"), ns)
        if isinstance(value, _Param):
            value = value.values
        elif len(names) == 1:
            value = (value,)
        out.append((i, dict(zip(names, value, strict=True)), elt))
    return out


def jsonable(value: Any) -> Any:
    if isinstance(value, str | bool | int | float) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return repr(value)


def helper_options(
    call: ast.Call, ns: dict[str, Any], env: dict[str, Any], modules: Modules
) -> dict[str, Any]:
    """The arguments a helper call receives (defaults filled in) and the configs it builds."""
    name = call_name(call)
    opts: dict[str, Any] = {"helper": name}
    func = ns.get(name or "")
    if func is None:
        return opts
    args = [eval(compile(ast.Expression(a), "<a>", "eval"), ns, env) for a in call.args]
    kwargs = {
        k.arg: eval(compile(ast.Expression(k.value), "<k>", "eval"), ns, env)
        for k in call.keywords
        if k.arg
    }
    try:
        bound = inspect.signature(func).bind(*args, **kwargs)
    except (TypeError, ValueError):
        return opts
    bound.apply_defaults()
    for key, value in bound.arguments.items():
        if key not in {"gold", "pred"}:
            opts[key] = jsonable(value)
    found = modules.helper_source(name or "")
    if found is not None and isinstance(opts.get("match_types"), list):
        built = match_type_configs(found[1])
        opts["extraction_config"] = [built.get(m, f"? {m}") for m in opts["match_types"]]
        for config in opts["extraction_config"]:
            m = re.search(r"boxed_match_priority=(-?\d+)", config)
            if m:
                opts["boxed_match_priority"] = int(m.group(1))
    return opts


def match_type_configs(helper: ast.FunctionDef) -> dict[str, str]:
    """{match type: config source} from the helper's ``if match_type == "...": append(...)``."""
    out = {}
    for node in ast.walk(helper):
        if not (isinstance(node, ast.If) and isinstance(node.test, ast.Compare)):
            continue
        value = node.test.comparators[0]
        if not isinstance(value, ast.Constant):
            continue
        for stmt in node.body:
            for call in ast.walk(stmt):
                if call_name(call) == "append" and isinstance(call, ast.Call) and call.args:
                    out[value.value] = ast.unparse(call.args[0])
    return out


def default_verify_options() -> dict[str, Any]:
    """What ``verify(parse(gold), parse(pred))`` runs with: the library's defaults."""
    from math_verify import parse, verify

    config = inspect.signature(parse).parameters["extraction_config"].default
    opts: dict[str, Any] = {"extraction_config": [f"{type(c).__name__}()" for c in config]}
    for key in ("float_rounding", "strict", "allow_set_relation_comp"):
        opts[key] = inspect.signature(verify).parameters[key].default
    return opts


def parse_options(call: ast.Call) -> dict[str, Any]:
    opts: dict[str, Any] = {"helper": "parse", "call": ast.unparse(call)}
    if len(call.args) > 1:
        opts["extraction_config"] = ast.unparse(call.args[1])
    for k in call.keywords:
        if k.arg:
            try:
                opts[k.arg] = ast.literal_eval(k.value)
            except ValueError:
                opts[k.arg] = ast.unparse(k.value)
    return opts


def sympy_gold(value: Any) -> str:
    import sympy

    return f"${sympy.latex(value)}$"


BOXED = re.compile(r"\\boxed\{([^{}]*)\}")


def rows_for_function(
    fname: str, fn: ast.FunctionDef, modules: Modules, skipped: list[str]
) -> list[dict[str, Any]]:
    ns = modules.namespace(fname)
    decs = parametrize_lists(fn)
    if decs is None:
        skipped.append(f"{fname}::{fn.name} (decorated: mocks)")
        return []
    rows: list[dict[str, Any]] = []
    if decs:
        for combo in itertools.product(*(expand(d, ns) for d in decs)):
            bind: dict[str, Any] = {}
            for _, b, _ in combo:
                bind.update(b)
            case = "param[" + ",".join(str(i) for i, _, _ in combo) + "]"
            checks = run_body(fn, ns, bind)
            if len(checks) != 1:
                skipped.append(f"{fname}::{fn.name} {case} ({len(checks)} assertions)")
                continue
            rows.append(param_row(checks[0], bind, case, ns, modules, combo[-1][2]))
        return rows
    checks = run_body(fn, ns, {})
    if not checks:
        skipped.append(f"{fname}::{fn.name} (no top-level assertion: mocks, pytest.raises)")
    golds: dict[str, str] = {}
    pending: list[tuple[int, Check, str, bool, dict[str, Any]]] = []
    for i, chk in enumerate(checks):
        row = assert_row(chk, ns, modules)
        if row is None:
            skipped.append(f"{fname}::{fn.name} assert[{i}] ({ast.unparse(chk.node.test)[:60]})")
            continue
        gold, pred, expected, options, derived = row
        if gold is not None:
            golds[pred] = gold
        pending.append((i, chk, pred, expected, {"gold": gold, **options, "derived": derived}))
    for i, chk, pred, expected, extra in pending:
        gold = extra.pop("gold")
        derived = extra.pop("derived")
        if gold is None:
            gold = golds.get(pred)
            boxed = BOXED.findall(pred)
            if gold is None and len(boxed) == 1:
                gold = boxed[0]
                derived += "; gold is the content of the input's \\boxed{}"
            elif gold is not None:
                derived += "; gold from another assertion on the same input"
        if gold is None:
            skipped.append(f"{fname}::{fn.name} assert[{i}] (no gold)")
            continue
        row: dict[str, Any] = {
            "case": f"assert[{i}]",
            "gold": gold,
            "pred": pred,
            "expected": expected,
            "options": extra,
            "math_verify": expected if chk.passed else not expected,
        }
        if derived:
            row["derived"] = derived
        rows.append(row)
    return rows


def param_row(
    chk: Check,
    bind: dict[str, Any],
    case: str,
    ns: dict[str, Any],
    modules: Modules,
    elt: ast.AST,
) -> dict[str, Any]:
    test = chk.node.test
    calls = [n for n in ast.walk(test) if isinstance(n, ast.Call)]
    helper = next((c for c in calls if call_name(c) == "compare_strings"), None)
    if helper is not None:
        options = {"assertion": ast.unparse(test), **helper_options(helper, ns, bind, modules)}
    elif "config" in bind:
        options = {
            "assertion": ast.unparse(test),
            "helper": "parse",
            "extraction_config": [ast.unparse(elt.elts[-1])]
            if isinstance(elt, ast.Tuple)
            else repr(bind["config"]),
        }
    else:
        options = {"assertion": ast.unparse(test), "helper": "verify(parse(gold), parse(pred))"}
        if any(c.keywords or len(c.args) > 2 for c in calls if call_name(c) in {"verify", "parse"}):
            options["non_default_arguments"] = True  # not met in 0.9.0; recorded, not resolved
        else:
            options.update(default_verify_options())
    row: dict[str, Any] = {"case": case}
    if "gold" in bind:
        exp_key = "expected" if "expected" in bind else "result"
        expected = bool(bind[exp_key])
        row.update(gold=bind["gold"], pred=bind["pred"], expected=expected)
    else:
        extracted = list(bind["expected"])
        expected = bool(extracted)
        row.update(gold=extracted[-1] if extracted else "", pred=bind["pred"], expected=expected)
        row["derived"] = (
            f"string extraction: the test asserts parse(pred, [config]) == {extracted!r}; gold is "
            "the extracted string as written (empty when nothing may be extracted)"
        )
        options["extracted"] = extracted
    row["options"] = options
    row["math_verify"] = expected if chk.passed else not expected
    return row


def assert_row(
    chk: Check, ns: dict[str, Any], modules: Modules
) -> tuple[str | None, str, bool, dict[str, Any], str] | None:
    """(gold, pred, expected, options, derived) of an assertion in a test without parametrize."""
    test = chk.node.test
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1):
        return None
    left, right, op = test.left, test.comparators[0], test.ops[0]
    if not isinstance(op, ast.Eq):
        return None
    # compare_strings("gold", "pred", ...) == n
    if call_name(left) == "compare_strings" and isinstance(left, ast.Call):
        gold, pred = (ast.literal_eval(a) for a in left.args[:2])
        opts = {"assertion": ast.unparse(test), **helper_options(left, ns, chk.env, modules)}
        return gold, pred, bool(ast.literal_eval(right)), opts, ""
    # len(x) == n, x[0] == value, sympy.simplify(x - expected) == 0
    var, gold = None, None
    derived = ""
    if call_name(left) == "len" and isinstance(left, ast.Call):
        var = left.args[0]
        n = ast.literal_eval(right)
        expected = n > 0
        derived = f"parse check `{ast.unparse(test)}`: expected is whether anything is extracted"
    elif isinstance(left, ast.Subscript) and ast.unparse(left.slice) == "0":
        var = left.value
        gold = sympy_gold(eval(compile(ast.Expression(right), "<v>", "eval"), ns, chk.env))
        expected = True
        derived = f"parse check `{ast.unparse(test)}`: gold is sympy.latex of the value"
    elif call_name(left) == "simplify" and isinstance(left, ast.Call):
        diff = left.args[0]
        if not (isinstance(diff, ast.BinOp) and isinstance(diff.op, ast.Sub)):
            return None
        var = diff.left
        value = eval(compile(ast.Expression(diff.right), "<v>", "eval"), ns, chk.env)
        gold = sympy_gold(value)
        expected = True
        derived = f"parse check `{ast.unparse(test)}`: gold is sympy.latex of the value"
    if not isinstance(var, ast.Name) or var.id not in chk.parses:
        return None
    call, pred = chk.parses[var.id]
    opts = {"assertion": ast.unparse(test), **parse_options(call)}
    return gold, pred, expected, opts, derived


# --------------------------------------------------------------------------- kinds

FIXED_KIND = {
    "test_number_extraction": "number",
    "test_simple_fraction_notation": "fraction",
    "test_sets_handling": "set_interval",
    "test_set_rel_assymetry": "set_interval",
    "test_latex_notation": "latex_notation",
    "test_symbols": "latex_notation",
    "test_percent_notation": "percent",
    "test_relations_math": "relation_equation",
    "test_matrix_extraction": "matrix",
    "test_strict_variable_comparison": "expression",
}
NUM = r"[-+]?(?:\d{1,3}(?:(?:,|\{,\}|,\\!\s?)\d{3})+|\d+)?(?:[.,]\d+)?"
NUMBER_RE = re.compile(rf"^{NUM}$")
FRAC_RE = re.compile(r"^-?(?:\\[dtc]?frac(?:\{-?\d+\}|\d)(?:\{\d+\}|\d)|-?\d+/\d+)$")
MATH_RE = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$|\\\[(.+?)\\\]|\\\((.+?)\\\)", re.S)


def last_boxed(text: str) -> str | None:
    start = text.rfind("\\boxed{")
    if start < 0:
        return None
    depth, i = 0, start + len("\\boxed")
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i + 1 : j]
    return None


def core(text: str) -> str:
    """The answer part of a string: its last \\boxed{} or last math span, without spaces."""
    for _ in range(4):
        inner = last_boxed(text)
        if inner is None:
            spans = [next(g for g in m.groups() if g is not None) for m in MATH_RE.finditer(text)]
            inner = spans[-1] if spans else None
        if inner is None or inner == text:
            break
        text = inner
    return text.strip().strip("$").strip().rstrip(".").replace(" ", "")


def top_level_commas(text: str) -> bool:
    depth = 0
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0 and not re.match(r"(?:\\!)?\d{3}(?!\d)", text[i + 1 :]):
            return True
    return False


RELATION_RE = re.compile(r"(?<![\\{])[=<>]|\\[lg]e(?:q|qslant)?(?![a-z])|\\neq?|\\approx|\\[lg]t\b")
SET_RE = re.compile(r"\\in\b|\\cup|\\cap|\\infty|\\emptyset|\\varnothing|\\\{|\\pm")
TEXT_RE = re.compile(r"\\text\{[^{}]*[A-Za-z][^{}]*\}|\(?[A-Za-z]\)?|[A-Za-z]{2,}")


def classify(test: str, gold: str, pred: str, options: dict[str, Any]) -> str:
    """Heuristic class of a case: by test function where it has one theme, else by content
    (the gold's answer part first: its last \\boxed{} or math span)."""
    if test in FIXED_KIND:
        return FIXED_KIND[test]
    if len(gold) > 100 or len(pred) > 100:
        return "extraction_long"
    if "StringExtractionConfig" in json.dumps(options):
        return "text_choice"
    g, p = core(gold), core(pred)
    if "matrix}" in g + p:
        return "matrix"
    if re.search(r"%|percent|\bpct\b", g + p):
        return "percent"
    if TEXT_RE.fullmatch(g) and not re.search(r"\\text\{[^}]*\d", g):
        return "text_choice"
    if SET_RE.search(g + p):
        return "set_interval"
    if RELATION_RE.search(g):
        return "relation_equation"
    if any(
        top_level_commas(x)
        or re.search(r"\band\b|\bor\b|;|\\boxed\{[^}]*\}.*\\boxed", x)
        or re.fullmatch(r"[(\[{].*,.*[)\]}]", x)
        for x in (g, p, gold)
    ):
        return "set_interval"
    if RELATION_RE.search(p):
        return "relation_equation"
    if NUMBER_RE.match(g) and NUMBER_RE.match(p):
        return "number"
    if (FRAC_RE.match(g) or NUMBER_RE.match(g)) and (FRAC_RE.match(p) or NUMBER_RE.match(p)):
        return "fraction"
    if re.search(r"\\text|\\mbox|\\mathrm|\\circ|_\d|_\{|\\[a-z]*frac\d", gold + pred):
        return "latex_notation"
    if re.search(r"\\[a-zA-Z]+|\^|[a-zA-Z]", g + p):
        return "expression"
    if NUMBER_RE.match(g):
        return "number"
    return "other"


# --------------------------------------------------------------------------- main


def extract(files: dict[str, str], label: str) -> tuple[list[dict[str, Any]], list[str]]:
    modules = Modules(files)
    rows: list[dict[str, Any]] = []
    skipped: list[str] = []
    for fname in sorted(files):
        for fn in modules.trees[fname].body:
            if not (isinstance(fn, ast.FunctionDef) and fn.name.startswith("test_")):
                continue
            for row in rows_for_function(fname, fn, modules, skipped):
                row["source"] = f"{label}:tests/{fname}::{fn.name}"
                row["kind"] = classify(fn.name, row["gold"], row["pred"], row["options"])
                rows.append(row)
    return rows, skipped


def key(row: dict[str, Any]) -> str:
    src = row["source"].split(":tests/", 1)[1]
    return json.dumps([src, row["gold"], row["pred"], row["expected"], row["options"]])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mirror", type=Path, default=MIRROR)
    parser.add_argument("--ref", default="HEAD")
    parser.add_argument("--sdist", type=Path, help="math_verify-<version>.tar.gz from PyPI")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    from importlib.metadata import version

    commit, files = git_tests(args.mirror, args.ref)
    rows, skipped = extract(files, f"huggingface/Math-Verify@{commit}")
    if args.sdist is not None:
        sd_version, sd_files = sdist_tests(args.sdist)
        sd_rows, sd_skipped = extract(sd_files, f"pypi:math-verify=={sd_version}")
        have = Counter(key(r) for r in rows)
        for r in sd_rows:
            k = key(r)
            if have[k] > 0:
                have[k] -= 1
            else:
                rows.append(r)
        extra = sorted(set(sd_skipped) - set(skipped))
        skipped += [f"{s} [sdist]" for s in extra]
        missing = sum(have.values())
        if missing:
            print(f"{missing} mirror cases are not in the sdist", file=sys.stderr)

    order = ("source", "case", "kind", "gold", "pred", "expected", "math_verify", "options")
    with args.out.open("w") as fh:
        for r in rows:
            ordered = {k: r[k] for k in order} | {k: v for k, v in r.items() if k not in order}
            fh.write(json.dumps(ordered, ensure_ascii=False) + "\n")

    agree = sum(r["expected"] == r["math_verify"] for r in rows)
    print(
        f"{len(rows)} cases, math-verify {version('math-verify')} agrees on {agree} "
        f"({100 * agree / len(rows):.1f} %) -> {args.out}"
    )
    by_kind: dict[str, list[int]] = {}
    for r in rows:
        tally = by_kind.setdefault(r["kind"], [0, 0])
        tally[0] += 1
        tally[1] += r["expected"] == r["math_verify"]
    for kind in KINDS:
        if kind in by_kind:
            n, ok = by_kind[kind]
            print(f"  {kind:18} {ok:4} / {n:4}")
    for s in skipped:
        print(f"skipped: {s}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
