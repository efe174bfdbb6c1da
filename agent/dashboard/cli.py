"""``autoscope-dash RUN_DIR``: the live dashboard of a run (or of every run of a multirun folder).

It serves on 127.0.0.1 (this computer only) unless ``--host`` says otherwise, prints the URL with
the folder's token (controls work only from a page opened with it; see
:mod:`agent.dashboard.access`), and reads the run folder only: start it, stop it or restart it at
any time, during the run or after it. :func:`launch` starts it beside a run
(``experiment.dashboard=true``).
"""

from __future__ import annotations

import argparse
import atexit
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from .access import ensure_token

__all__ = ["main", "launch", "url_for", "free_port", "DEFAULT_PORT"]

DEFAULT_PORT = 8050


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on now (the OS's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _port_taken(host: str, port: int) -> bool:
    """Whether another server listens there (a port left in TIME_WAIT by a restart is free)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def url_for(host: str, port: int, token: str | None) -> str:
    """The URL to open; with ``token`` it enables the controls."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")


def launch(run_dir: str | Path, port: int | None = None, host: str = "127.0.0.1") -> subprocess.Popen[bytes]:
    """Start ``autoscope-dash RUN_DIR`` in its own process beside a run and print its URL.

    The dashboard's output goes to ``RUN_DIR/dashboard.log``; it is stopped when this process exits
    (reopen a finished run with ``autoscope-dash RUN_DIR``). ``port`` None: 8050, or a free port
    when 8050 is taken.
    """
    import importlib.util

    from ..settings import ConfigError

    if importlib.util.find_spec("dash") is None:
        raise ConfigError("experiment.dashboard=true needs the dashboard's extra: pip install -e '.[dash]' "
                          "(or set experiment.dashboard=false)")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    token = ensure_token(run_dir)
    if port is None:
        port = DEFAULT_PORT if not _port_taken(host, DEFAULT_PORT) else free_port(host)
    log = open(run_dir / "dashboard.log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", "agent.dashboard", str(run_dir), "--host", host,
                             "--port", str(port), "--quiet"], stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    log.close()

    def stop() -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()

    atexit.register(stop)
    print(f"[autoscope] dashboard: {url_for(host, port, token)}  (read-only without the token; "
          f"log {run_dir / 'dashboard.log'})", flush=True)
    return proc


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point (``autoscope-dash``)."""
    from ..control import is_run_dir

    ap = argparse.ArgumentParser(prog="autoscope-dash", description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("run_dir", type=Path, help="a run folder, or a folder of runs (multirun)")
    ap.add_argument("--host", default="127.0.0.1",
                    help="interface to listen on (default 127.0.0.1: this computer only)")
    ap.add_argument("--port", type=int, default=DEFAULT_PORT, help="TCP port (default 8050; 0: any free port)")
    ap.add_argument("--poll-s", type=float, default=None, help="page refresh interval in s (default 0.5, at most 1)")
    ap.add_argument("--quiet", action="store_true", help="do not log every request")
    ns = ap.parse_args(argv)
    from .app import DEFAULT_POLL_S, create_app
    from .runview import find_runs

    if not ns.run_dir.is_dir():
        print(f"autoscope-dash: {ns.run_dir} is not a folder; give a run folder (it holds journal.jsonl) "
              f"or a multirun folder", file=sys.stderr)
        return 2
    if not is_run_dir(ns.run_dir) and not find_runs(ns.run_dir):
        print(f"autoscope-dash: {ns.run_dir} holds no autoscope run yet (no journal.jsonl, record.h5, "
              f"config.yaml or overview.npz in it or below it)", file=sys.stderr)
        return 2
    poll_s = DEFAULT_POLL_S if ns.poll_s is None else ns.poll_s
    if not 0.05 <= poll_s <= 1.0:
        print(f"autoscope-dash: --poll-s {poll_s} must lie in [0.05, 1] s", file=sys.stderr)
        return 2
    port = free_port(ns.host) if ns.port == 0 else ns.port
    if _port_taken(ns.host, port):
        print(f"autoscope-dash: port {port} on {ns.host} is in use; give another with --port (0: any free)",
              file=sys.stderr)
        return 2
    try:
        token: str | None = ensure_token(ns.run_dir)
    except OSError as err:  # a read-only folder (an archive): watch it, steer nothing
        token = None
        print(f"autoscope-dash: cannot write {ns.run_dir / 'dashboard.token'} ({err.strerror}): read-only",
              file=sys.stderr)
    app = create_app(ns.run_dir, poll_s=poll_s)
    if ns.quiet:
        import logging

        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    note = (f"controls need that token; without it the page is read-only; token file "
            f"{ns.run_dir / 'dashboard.token'}" if token else "read-only: no token")
    print(f"autoscope-dash: {url_for(ns.host, port, token)}\n  ({note})", flush=True)
    app.run(host=ns.host, port=port, debug=False)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
