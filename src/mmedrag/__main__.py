"""``python -m mmedrag``: the CLI, for launchers that start a module (``accelerate launch -m mmedrag train-dpo``)."""

from __future__ import annotations

import sys

from mmedrag.cli import main

sys.exit(main())
