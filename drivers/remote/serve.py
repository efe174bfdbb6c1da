"""Command line server: ``autoscope-serve`` / ``python -m drivers.remote.serve``.

Examples::

    autoscope-serve driver=emulator                      # conf/driver/emulator.yaml, loopback
    autoscope-serve driver=nion_usim driver.default_fov_m=2e-7 --watchdog-s 3
    python -m drivers.remote.serve --driver drivers.remote.testing.FakeDriver
    python -m drivers.remote.serve --driver path/to/my_driver.yaml --protocol array-server

The driver comes from (exactly one of)

* ``driver=<name>`` plus optional overrides (``driver.<key>=<value>``, and ``seed=<n>`` or other
  top-level keys): composed with Hydra from ``<config-dir>/config.yaml`` with the driver group set
  to ``<config-dir>/driver/<name>.yaml`` (so interpolations such as ``${seed}`` resolve), or from
  the group file alone where the folder has no ``config.yaml``;
* ``--driver <dotted.path.Class>``: a Hydra-style ``_target_``, built with no arguments (plus any
  ``driver.<key>=<value>`` overrides as keyword arguments);
* ``--driver <file.yaml>``: a config file with a ``_target_``.

By default the driver is wrapped in :class:`drivers.safety.SafeDriver` with the limits of
``<config-dir>/safety/<--safety>.yaml`` (``default``); ``--no-safety`` serves it bare. The secret is
read from the environment variable named by ``--secret-env`` (default ``AUTOSCOPE_SERVE_SECRET``),
never from the command line (it would show in ``ps``). The URI is printed as ``URI <uri>`` on
stdout (and written to ``--uri-file``); the server runs until SIGINT/SIGTERM, then blanks and closes
the driver.

The config folder (``--config-dir``) defaults to the one the entry point gives :func:`main`:
``autoscope-serve`` (:mod:`agent.serve`, also ``python -m agent.serve``) gives the shipped configs
(``agent/conf``, also in a wheel) with their typed schemas registered, so ``driver=<name>`` composes
the project's ``config.yaml``. This module imports nothing from ``agent`` (the drivers floor):
``python -m drivers.remote.serve`` is the bare server, for ``--driver`` (its safety limits from the
repository's ``conf/`` in a checkout, else ``--config-dir``) or ``driver=<name>`` in a config folder
of your own.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from drivers.errors import DriverError, InvalidArgument

__all__ = ["main", "build_driver", "repository_config_dir", "SECRET_ENV"]

SECRET_ENV = "AUTOSCOPE_SERVE_SECRET"


def repository_config_dir() -> Path | None:
    """The repository's ``conf/`` (beside ``drivers/`` in a checkout), or None where it is absent
    (an installed wheel: there ``autoscope-serve`` gives its configs)."""
    conf = Path(__file__).resolve().parents[2] / "conf"
    return conf if (conf / "config.yaml").is_file() else None


def _parse_value(text: str) -> Any:
    import yaml

    return yaml.safe_load(text)


def build_driver(driver_spec: str | None, overrides: Sequence[str], config_dir: Path | None) -> Any:
    """Instantiate the driver described by ``--driver`` / ``driver=<name>`` and overrides
    (``config_dir``: the Hydra config root that ``driver=<name>`` needs; None: there is none)."""
    from hydra.utils import instantiate
    from omegaconf import DictConfig, OmegaConf

    group = [o for o in overrides if o.startswith("driver=") or o.startswith("+driver=")]
    rest = [o for o in overrides if o not in group]
    if (driver_spec is None) == (not group):
        raise InvalidArgument("give exactly one of driver=<name> or --driver <target|file.yaml>")
    if len(group) > 1:
        raise InvalidArgument(f"several driver=<name> given: {group}")
    primary = config_dir is not None and (config_dir / "config.yaml").is_file()
    for item in rest:
        if "=" not in item:
            raise InvalidArgument(f"override {item!r}: write <key>=<value>")
        if not (group and primary) and not item.lstrip("+~").startswith("driver."):
            raise InvalidArgument(
                f"override {item!r}: only driver.<key>=<value> overrides apply here "
                "(other keys need driver=<name> and a config.yaml in the config dir)"
            )
    if group:
        from hydra import compose, initialize_config_dir

        name = group[0].split("=", 1)[1]
        if config_dir is None:
            raise InvalidArgument(f"driver={name}: no config folder; pass --config-dir DIR (or use autoscope-serve)")
        if not (config_dir / "driver" / f"{name}.yaml").is_file():
            raise InvalidArgument(
                f"driver={name}: no {config_dir / 'driver' / (name + '.yaml')}; pass --config-dir or another name"
            )
        with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
            if primary:
                # the project's config.yaml: the driver resolves its interpolations (e.g. ${seed})
                cfg = compose(config_name="config", overrides=[f"driver={name}", *rest])
            else:
                cfg = compose(overrides=[f"+driver={name}", *rest])
        return instantiate(cfg.driver)
    assert driver_spec is not None
    spec_path = Path(driver_spec)
    if spec_path.suffix in (".yaml", ".yml"):
        if not spec_path.is_file():
            raise InvalidArgument(f"--driver {driver_spec}: no such file")
        node = OmegaConf.load(spec_path)
        if not isinstance(node, DictConfig):
            raise InvalidArgument(f"--driver {driver_spec}: the file must hold a mapping with _target_")
    else:
        if "." not in driver_spec:
            raise InvalidArgument(f"--driver {driver_spec!r}: give a dotted class path or a .yaml file")
        node = OmegaConf.create({"_target_": driver_spec})
    for item in rest:
        key, value = item.lstrip("+").split("=", 1)
        node[key.split(".", 1)[1]] = _parse_value(value)
    return instantiate(node)


def _safety_limits(config_dir: Path | None, name: str) -> Any:
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from drivers.safety import SafetyLimits

    if config_dir is None:
        raise InvalidArgument(f"--safety {name}: no config folder; pass --config-dir DIR (or use autoscope-serve) "
                              "or --no-safety")
    path = config_dir / "safety" / f"{name}.yaml"
    if not path.is_file():
        raise InvalidArgument(f"--safety {name}: no {path}")
    limits = instantiate(OmegaConf.load(path))
    if not isinstance(limits, SafetyLimits):
        raise InvalidArgument(f"{path} does not build a SafetyLimits")
    return limits


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="autoscope-serve", description="Serve an autoscope driver over Pyro5.")
    p.add_argument("overrides", nargs="*", help="driver=<name> and driver.<key>=<value> overrides")
    p.add_argument("--driver", default=None, help="dotted class path or a .yaml config with _target_")
    p.add_argument("--config-dir", type=Path, default=None,
                   help="Hydra config root (default: the shipped configs, conf/)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    p.add_argument("--port", type=int, default=0, help="TCP port (0 picks a free one)")
    p.add_argument("--protocol", choices=("autoscope", "array-server"), default="autoscope")
    p.add_argument("--watchdog-s", type=float, default=None,
                   help="blank after this much client silence, <= 0: off (default 5 s; array-server: off)")
    p.add_argument("--secret-env", default=SECRET_ENV, help="environment variable holding the secret")
    p.add_argument("--safety", default="default", help="conf/safety/<name>.yaml limits")
    p.add_argument("--no-safety", action="store_true", help="serve the driver without SafeDriver")
    p.add_argument("--audit-log", type=Path, default=None, help="JSON-lines audit log of the safety layer")
    p.add_argument("--fov-m", type=float, default=None, help="array-server survey field of view (m)")
    p.add_argument("--uri-file", type=Path, default=None, help="also write the URI here")
    p.add_argument("--allow-insecure", action="store_true", help="allow a non-loopback host without a secret")
    p.add_argument("--max-sessions", type=int, default=64,
                   help="client sessions at once; a new one beyond is refused (default 64)")
    p.add_argument("--idle-timeout-s", type=float, default=3600.0,
                   help="drop an authenticated connection idle this long, <= 0: never (default 3600 s)")
    p.add_argument("--handshake-timeout-s", type=float, default=5.0,
                   help="drop a socket that has not completed its handshake in this time (default 5 s)")
    return p


def main(argv: Sequence[str] | None = None, *, config_dir: Path | None = None) -> int:
    """Entry point; returns the process exit status.

    Args:
        argv: the command line after the program name (None: ``sys.argv[1:]``).
        config_dir: the config folder when ``--config-dir`` is not given (``autoscope-serve`` passes
            the shipped configs); None: the repository's ``conf/`` (:func:`repository_config_dir`).
    """
    args = _parser().parse_args(argv)
    if args.config_dir is None:
        args.config_dir = config_dir or repository_config_dir()
    secret = os.environ.get(args.secret_env) or None
    driver: Any = None
    try:
        from .limits import ServerLimits

        limits = ServerLimits(max_sessions=args.max_sessions, handshake_timeout_s=args.handshake_timeout_s,
                              idle_timeout_s=None if args.idle_timeout_s <= 0 else args.idle_timeout_s)
    except ValueError as exc:
        print(f"autoscope-serve: {exc}", file=sys.stderr)
        return 2
    try:
        driver = build_driver(args.driver, args.overrides, args.config_dir)
        if not args.no_safety:
            from drivers.safety import SafeDriver

            driver = SafeDriver(driver, _safety_limits(args.config_dir, args.safety), audit_log_path=args.audit_log)
        if args.protocol == "array-server":
            from .array_server import serve_array_server

            watchdog = None if args.watchdog_s is None or args.watchdog_s <= 0 else args.watchdog_s
            server = serve_array_server(driver, host=args.host, port=args.port, secret=secret,
                                        watchdog_s=watchdog, fov_m=args.fov_m,
                                        allow_insecure=args.allow_insecure, limits=limits)
        else:
            from .server import serve

            watchdog = 5.0 if args.watchdog_s is None else (None if args.watchdog_s <= 0 else args.watchdog_s)
            server = serve(driver, host=args.host, port=args.port, secret=secret, watchdog_s=watchdog,
                           allow_insecure=args.allow_insecure, limits=limits)
    except Exception as exc:  # noqa: BLE001 - report any start-up failure as an exit status
        print(f"autoscope-serve: {type(exc).__name__}: {exc}", file=sys.stderr)
        if driver is not None:
            try:
                driver.close()
            except Exception as close_exc:  # noqa: BLE001
                print(f"autoscope-serve: closing the driver failed: {close_exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def handle(signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)
    if args.uri_file is not None:
        args.uri_file.write_text(server.uri + "\n", encoding="utf-8")
    print(f"URI {server.uri}", flush=True)
    try:
        while not stop.wait(0.2):
            if server.wait(0):
                break
    finally:
        server.shutdown()
        try:
            driver.stop()
        except DriverError:
            pass
        driver.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
