"""math-verify's verdicts on (answer, response) pairs, the reference of ``math_equal``.

Runs as a script, in whichever Python has math-verify installed with the ANTLR 4.13.2 runtime
(``pip install math-verify 'antlr4-python3-runtime==4.13.2'``). That runtime cannot share an
environment with hydra-core / omegaconf, which pin ``antlr4-python3-runtime==4.9.*`` and are
needed by the verl tests, so the test suite calls this script through
``$ORBITER_MATH_VERIFY_PYTHON`` (``scripts/test.sh`` builds that environment).

Under the 4.9.3 runtime, latex2sympy2_extended falls back to an older grammar that has no
percentage rule: ``\\boxed{50\\%}`` does not parse at all and ``$50\\%$`` reads as 50, so
math-verify's verdicts on percentages change with the runtime. This script refuses that
runtime rather than report them.

stdin: a JSON list of ``[answer, response]`` pairs. stdout: a JSON list of booleans, math-verify's
``verify(parse("$" + answer + "$"), parse(response))`` (its documented use: the gold answer as
LaTeX in ``$…$``). Exit status ``UNAVAILABLE`` (3) with the reason on stderr when math-verify or
the right runtime is missing.
"""

from __future__ import annotations

import json
import sys
from importlib.metadata import PackageNotFoundError, version

UNAVAILABLE = 3
MIN_ANTLR = (4, 13)


def unavailable_reason() -> str | None:
    try:
        math_verify = version("math-verify")
        antlr = version("antlr4-python3-runtime")
    except PackageNotFoundError as e:
        return f"{e.name} is not installed in {sys.executable}"
    if tuple(int(x) for x in antlr.split(".")[:2]) < MIN_ANTLR:
        return (
            f"math-verify {math_verify} in {sys.executable} runs on antlr4-python3-runtime "
            f"{antlr}, whose grammar has no percentages; "
            "install antlr4-python3-runtime==4.13.2 there"
        )
    return None


def main() -> int:
    reason = unavailable_reason()
    if reason is not None:
        print(reason, file=sys.stderr)
        return UNAVAILABLE
    from math_verify import parse, verify

    pairs = json.load(sys.stdin)
    verdicts = [
        bool(verify(parse("$" + answer + "$"), parse(response))) for answer, response in pairs
    ]
    json.dump(verdicts, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
