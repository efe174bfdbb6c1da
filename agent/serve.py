"""``autoscope-serve``: serve a driver over Pyro5 with the shipped configs.

The application entry point of :func:`drivers.remote.serve.main` (documented there): it gives the
server the configuration folder of the installed package (:data:`agent.confdir.CONF_DIR`, the
``conf/`` tree, also inside a wheel), so ``autoscope-serve driver=emulator`` composes
``conf/driver/emulator.yaml`` and wraps it in ``conf/safety/default.yaml``'s limits from any folder.
The server itself lives on the drivers floor and imports nothing from ``agent``.
"""

from __future__ import annotations

from collections.abc import Sequence

from drivers.remote.serve import main as serve_main

from .confdir import CONF_DIR

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point (``autoscope-serve``); returns the process exit status."""
    return serve_main(argv, config_dir=CONF_DIR)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
