"""Human in the loop: ``autoscope-ctl RUN_DIR pause|resume|stop|veto|force|set|status``.

Commands travel as small JSON files through ``RUN_DIR/control/inbox/`` (written atomically, named
in time order); the running loop polls the inbox before every decision, applies each command,
records it as an ``intervention`` event and moves the file to ``control/done/``. Nothing needs a
network or a second process on the instrument PC, and a command sent while the agent is down is
applied when it resumes.

Commands (positions in overview pixels, or metres with ``--metres``)::

    pause | resume | stop
    veto Y0 Y1 X0 X1          never measure candidates inside this box
    force Y X                 measure the candidate nearest (Y, X) next
    set policy=ucb policy.beta=4      switch the policy (or reward=..., reward.window_eV=[1,2])
    status                    print progress from the journal
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

__all__ = ["Command", "ControlError", "send", "Inbox", "main", "VERBS"]

VERBS = ("pause", "resume", "stop", "veto", "force", "set")


class ControlError(ValueError):
    """A control command is malformed; the message says the expected form."""


@dataclass(frozen=True)
class Command:
    verb: str
    args: list[Any] = field(default_factory=list)
    metres: bool = False
    sent_at: float = 0.0
    id: str = ""

    def to_json(self) -> str:
        return json.dumps({"verb": self.verb, "args": self.args, "metres": self.metres,
                           "sent_at": self.sent_at, "id": self.id})

    @classmethod
    def from_json(cls, text: str) -> "Command":
        d = json.loads(text)
        return cls(d["verb"], list(d.get("args", [])), bool(d.get("metres", False)),
                   float(d.get("sent_at", 0.0)), str(d.get("id", "")))


def parse(verb: str, args: Sequence[str], metres: bool = False) -> Command:
    """Validate a command line into a :class:`Command` (raises :class:`ControlError`)."""
    if verb not in VERBS:
        raise ControlError(f"unknown command {verb!r}; use one of {', '.join(VERBS)} or status")
    values: list[Any]
    if verb in ("pause", "resume", "stop"):
        if args:
            raise ControlError(f"`{verb}` takes no arguments")
        values = []
    elif verb in ("veto", "force"):
        need = 4 if verb == "veto" else 2
        form = "veto Y0 Y1 X0 X1" if verb == "veto" else "force Y X"
        if len(args) != need:
            raise ControlError(f"`{verb}` needs {need} numbers: {form}")
        try:
            values = [float(a) for a in args]
        except ValueError as err:
            raise ControlError(f"`{form}`: {err}") from err
    else:  # set
        if not args or any("=" not in a for a in args):
            raise ControlError("`set` takes key=value pairs, e.g. `set policy=ucb policy.beta=4`")
        for a in args:
            key = a.split("=", 1)[0]
            if key.split(".")[0] not in ("policy", "reward"):
                raise ControlError(f"`set {a}`: only policy=..., policy.*=, reward=..., reward.*= can change mid-run")
        values = list(args)
    return Command(verb, values, metres, time.time(), uuid.uuid4().hex[:8])


def send(run_dir: str | Path, command: Command) -> Path:
    """Drop a command into the run's inbox atomically; returns its path."""
    inbox = Path(run_dir) / "control" / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    name = f"{time.time_ns():020d}-{command.id or uuid.uuid4().hex[:8]}.json"
    tmp = inbox / f".{name}.tmp"
    tmp.write_text(command.to_json())
    os.replace(tmp, inbox / name)
    return inbox / name


class Inbox:
    """Reader side, used by the loop."""

    def __init__(self, run_dir: str | Path) -> None:
        self.inbox = Path(run_dir) / "control" / "inbox"
        self.done = Path(run_dir) / "control" / "done"
        self.inbox.mkdir(parents=True, exist_ok=True)
        self.done.mkdir(parents=True, exist_ok=True)

    def take(self) -> list[tuple[Command | None, str, Path]]:
        """Every pending command in order as ``(command or None if unreadable, text, path)``."""
        out = []
        for path in sorted(self.inbox.glob("*.json")):
            text = path.read_text()
            try:
                out.append((Command.from_json(text), text, path))
            except (ValueError, KeyError) as err:
                out.append((None, f"{text!r}: {err}", path))
        return out

    def archive(self, path: Path) -> None:
        os.replace(path, self.done / path.name)


def _status(run_dir: Path) -> str:
    from .journal import read_journal

    rows = read_journal(run_dir / "journal.jsonl")
    if not rows:
        return f"{run_dir}: no measurements yet"
    import math

    good = [r for r in rows if math.isfinite(r.reward)]
    best = max(good, key=lambda r: r.reward) if good else None
    pending = len(list((run_dir / "control" / "inbox").glob("*.json")))
    line = f"{run_dir}: {len(rows)} measurements ({len(rows) - len(good)} without reward)"
    if best is not None:
        line += f", best {best.reward:.4g} at pixel {best.yx_px} (step {best.step})"
    if (run_dir / "summary.json").exists():
        line += ", finished (summary.json written)"
    return line + f", {pending} command(s) waiting"


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point (``autoscope-ctl``)."""
    ap = argparse.ArgumentParser(prog="autoscope-ctl", description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir", type=Path, help="the run directory (holds record.h5)")
    ap.add_argument("verb", choices=VERBS + ("status",))
    ap.add_argument("args", nargs="*", help="command arguments (see `autoscope-ctl --help`)")
    ap.add_argument("--metres", action="store_true", help="veto/force positions are in metres")
    ns = ap.parse_args(argv)
    if not ns.run_dir.is_dir():
        print(f"autoscope-ctl: {ns.run_dir} is not a run directory", file=sys.stderr)
        return 2
    if ns.verb == "status":
        print(_status(ns.run_dir))
        return 0
    try:
        cmd = parse(ns.verb, ns.args, ns.metres)
    except ControlError as err:
        print(f"autoscope-ctl: {err}", file=sys.stderr)
        return 2
    path = send(ns.run_dir, cmd)
    print(f"sent {cmd.verb} {' '.join(map(str, cmd.args))} -> {path.name}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
