"""``python -m flup``: the ``flup`` command (flup/cli.py)."""

import sys

from flup.cli import main

sys.exit(main())
