"""The live dashboard (``autoscope-dash RUN_DIR``): watch and steer a run from a browser.

It reads the run folder only (``journal.jsonl``, ``record.h5`` read-only, ``overview.npz``,
``config.yaml``, ``summary.json``) and writes control commands into ``control/inbox/`` exactly
as ``autoscope-ctl`` does. Dash (plotly) serves every script from the installed package, so the
page works on an offline instrument PC. Needs the ``dash`` extra (``pip install autoscope[dash]``);
importing this package does not import Dash.
"""

from .access import TOKEN_NAME, ensure_token, read_token
from .cli import launch, main
from .runview import RunView, Snapshot, find_runs

__all__ = ["RunView", "Snapshot", "find_runs", "ensure_token", "read_token", "TOKEN_NAME", "launch", "main"]
