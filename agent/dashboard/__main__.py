"""``python -m agent.dashboard RUN_DIR``: the same as ``autoscope-dash RUN_DIR``."""

import sys

from .cli import main

sys.exit(main())
