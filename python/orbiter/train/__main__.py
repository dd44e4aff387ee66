"""``python -m orbiter.train``: the ``orbiter-train`` command line."""

import sys

from orbiter.train.cli import main

sys.exit(main())
