"""Property fuzzing of every public entry point and every native function of the core.

``targets.py`` holds one target per entry point (how to draw its arguments and what a
well-formed result is), ``hostile.py`` the hypothesis strategies of hostile values, and
``run.py`` the runner that executes them in subprocesses (see its docstring for the
commands). ``test_fuzz.py`` is what CI runs.
"""
