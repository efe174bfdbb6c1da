"""Human in the loop: ``autoscope-ctl RUN_DIR pause|resume|stop|veto|force|set|label|status``.

Commands travel as small JSON files through ``RUN_DIR/control/inbox/`` (written atomically, named
in time order); the running loop polls the inbox before every decision, applies each command,
records it as an ``intervention`` event and moves the file to ``control/done/``. Nothing needs a
network or a second process on the instrument PC, and a command sent while the agent is down is
applied when it resumes.

Every command is validated when it is sent and again when the loop applies it; one that is invalid
then (a hand-written file, a field it does not fit) is moved to ``control/rejected/`` with a
``.reason.txt`` beside it and recorded as a rejected intervention: it never stops the run. ``set``
changes only the existing plain keys of the ``policy`` and ``reward`` groups (or switches to one of
the project's ``conf/policy|reward/*.yaml``): never ``_target_``, never a nested object.

Commands (positions in overview pixels, or metres with ``--metres``)::

    pause | resume | stop
    veto Y0 Y1 X0 X1          never measure candidates inside this box
    force Y X                 measure the candidate nearest (Y, X) next
    label Y X [--negative]    the candidate nearest (Y, X) shows the feature (--negative: it does
                              not): a label for the run's few-shot scorer (gate=fewshot,
                              prior=fewshot), whose scores are recomputed at once
    set policy=ucb policy.beta=4      switch the policy (or reward=..., reward.window_eV=[1,2])
    status                    print progress from the journal (:mod:`agent.status`)

This module is the command grammar (:func:`parse`, :func:`validate_set`, :func:`check_against_run`),
the inbox both ends share (:func:`send`, :class:`Inbox`) and the ``autoscope-ctl`` entry point; the
``status`` report, which reads and rescores a run, is :func:`agent.status.run_status`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drivers.errors import AutoscopeError

from .confdir import CONF_DIR as _CONF_DIR  # the shipped configs (agent/conf): `set group=NAME`

__all__ = ["Command", "ControlError", "send", "Inbox", "main", "VERBS", "SET_GROUPS", "validate_set",
           "to_pixels", "is_run_dir", "LABELS", "has_fewshot", "parse", "check_against_run"]

VERBS = ("pause", "resume", "stop", "veto", "force", "set", "label")
#: the third argument of ``label``
LABELS = ("positive", "negative")
#: the config groups ``set`` may change mid-run
SET_GROUPS = ("policy", "reward")

_RUN_FILES = ("config.yaml", "journal.jsonl", "record.h5", "overview.npz")


def is_run_dir(path: Path) -> bool:
    """A folder an autoscope run wrote (its config, journal, record or overview)."""
    return path.is_dir() and any((path / name).exists() for name in _RUN_FILES)


def _plain(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    if isinstance(value, float):
        return math.isfinite(value)
    return value is None or isinstance(value, (bool, int, str))


def validate_set(args: Sequence[str], nodes: Mapping[str, Any] | None = None) -> None:
    """Refuse a ``set`` that is not a whitelisted change (:class:`ControlError` with the reason).

    Args:
        args: ``["policy=ucb", "policy.beta=4"]``.
        nodes: the run's current ``{"policy": {...}, "reward": {...}}`` configs; a key must exist in
            it (or in the config a ``group=NAME`` in the same command switches to). None: keys are
            checked for form only (the loop checks them against the live config).
    """
    import yaml

    if not args or any("=" not in a for a in args):
        raise ControlError("`set` takes key=value pairs, e.g. `set policy=ucb policy.beta=4`")
    current = {g: (dict(nodes[g]) if nodes and isinstance(nodes.get(g), Mapping) else None)
               for g in SET_GROUPS}
    for a in args:
        key, value = a.split("=", 1)
        parts = key.split(".")
        group = parts[0]
        if group not in SET_GROUPS:
            raise ControlError(f"`set {a}`: only policy=..., policy.*=, reward=..., reward.*= can change mid-run")
        if any(not p.isidentifier() or p.startswith("_") for p in parts):
            raise ControlError(f"`set {a}`: {key!r} is not a settable key (no `_target_` or other `_` keys)")
        if len(parts) == 1:
            if not value.isidentifier() or not (_CONF_DIR / group / f"{value}.yaml").exists():
                known = sorted(q.stem for q in (_CONF_DIR / group).glob("*.yaml"))
                raise ControlError(f"`set {a}`: no conf/{group}/{value}.yaml; known: {', '.join(known)}")
            current[group] = _load_group(group, value)
            continue
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError as err:
            raise ControlError(f"`set {a}`: the value is not valid YAML ({str(err).splitlines()[0]})") from None
        if not _plain(parsed) or (isinstance(parsed, str) and "${" in parsed):
            raise ControlError(f"`set {a}`: only numbers, text, true/false or lists of them may be set "
                               f"(no objects, no interpolations, no NaN/inf)")
        node = current[group]
        if node is not None:
            for p in parts[1:-1]:
                node = node.get(p) if isinstance(node, Mapping) else None
            if not isinstance(node, Mapping) or parts[-1] not in node or isinstance(node[parts[-1]], Mapping):
                raise ControlError(f"`set {a}`: the current {group} has no plain setting {'.'.join(parts[1:])!r}")


def _load_group(group: str, name: str) -> dict[str, Any] | None:
    import yaml

    try:
        node = yaml.safe_load((_CONF_DIR / group / f"{name}.yaml").read_text())
    except (OSError, yaml.YAMLError):
        return None
    return node if isinstance(node, dict) else None


def to_pixels(verb: str, values: Sequence[float], metres: bool, axes: Sequence[Any] | None,
              shape: tuple[int, int] | None) -> list[float]:
    """veto/force positions in overview pixels, refused when not finite or outside the field.

    ``axes``: the overview's (y, x) axes (needed for ``--metres``); ``shape``: its (ny, nx).
    """
    vals = [float(v) for v in values]
    if not all(math.isfinite(v) for v in vals):
        raise ControlError(f"`{verb} {' '.join(map(str, values))}`: positions must be finite numbers")
    if metres:
        if axes is None:
            return vals
        ay, ax = axes
        out = []
        for k, v in enumerate(vals):
            axis = ay if (verb in ("force", "label") and k == 0) or (verb == "veto" and k < 2) else ax
            out.append((v - axis.offset) / axis.scale if axis.scale else float("nan"))
        vals = out
    if shape is not None:
        ny, nx = shape
        ys, xs = (vals[:2], vals[2:]) if verb == "veto" else ([vals[0]], [vals[1]])
        if not all(-0.5 <= y <= ny - 0.5 for y in ys) or not all(-0.5 <= x <= nx - 0.5 for x in xs):
            unit = " (metres converted)" if metres else ""
            raise ControlError(f"`{verb} {' '.join(map(str, values))}`: outside the field of view "
                               f"(overview pixels y 0..{ny - 1}, x 0..{nx - 1}{unit})")
    return vals


class ControlError(AutoscopeError, ValueError):
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
    def from_json(cls, text: str) -> Command:
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
        except (TypeError, ValueError) as err:
            raise ControlError(f"`{form}`: {err}") from err
        to_pixels(verb, values, metres, None, None)  # finite
    elif verb == "label":
        if len(args) not in (2, 3) or (len(args) == 3 and str(args[2]) not in LABELS):
            raise ControlError("`label` needs a position and optionally its class: label Y X [positive|negative] "
                               "(autoscope-ctl RUN_DIR label Y X [--negative])")
        try:
            values = [float(a) for a in args[:2]]
        except (TypeError, ValueError) as err:
            raise ControlError(f"`label Y X`: {err}") from err
        to_pixels(verb, values, metres, None, None)  # finite
        values.append(str(args[2]) if len(args) == 3 else "positive")
    else:  # set
        validate_set([str(a) for a in args])
        values = [str(a) for a in args]
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
        out: list[tuple[Command | None, str, Path]] = []
        for path in sorted(self.inbox.glob("*.json")):
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
                out.append((Command.from_json(text), text, path))
            except (ValueError, KeyError, TypeError, AttributeError, OSError) as err:
                out.append((None, f"unreadable command ({type(err).__name__}: {err})", path))
        return out

    def archive(self, path: Path) -> None:
        os.replace(path, self.done / path.name)

    def reject(self, path: Path, reason: str) -> Path:
        """Move a refused command to ``control/rejected/`` with ``<name>.reason.txt`` beside it."""
        rejected = self.inbox.parent / "rejected"
        rejected.mkdir(parents=True, exist_ok=True)
        (rejected / f"{path.name}.reason.txt").write_text(reason + "\n")
        os.replace(path, rejected / path.name)
        return rejected / path.name


def has_fewshot(node: Any) -> bool:
    """Whether a (plain) config holds a few-shot scorer that labels can reach
    (``FewShotCandidateScorer``; ``FewShotReward`` in runs started before the rename)."""
    if isinstance(node, Mapping):
        target = node.get("_target_")
        if isinstance(target, str) and target.rsplit(".", 1)[-1] in ("FewShotCandidateScorer", "FewShotReward"):
            return True
        return any(has_fewshot(v) for v in node.values())
    if isinstance(node, (list, tuple)):
        return any(has_fewshot(v) for v in node)
    return False


def check_against_run(run_dir: Path, cmd: Command) -> None:
    """Raise :class:`ControlError` for a command that does not fit the run: veto/force/label against
    the run's overview, set against its config, label against its gate (where those files are
    readable). ``autoscope-ctl`` and the dashboard both check every command with it before sending."""
    if cmd.verb == "label" and (run_dir / "config.yaml").exists():
        import yaml

        try:
            cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
        except (OSError, yaml.YAMLError):
            cfg = None
        if isinstance(cfg, dict) and not (has_fewshot(cfg.get("gate")) or has_fewshot(cfg.get("prior"))):
            raise ControlError("`label`: this run has no few-shot scorer to learn from labels (it was started "
                               "without gate=fewshot or prior=fewshot)")
    if cmd.verb in ("veto", "force", "label") and (run_dir / "overview.npz").exists():
        from .record import RecordError
        from .runfiles import load_overview

        try:
            ov = load_overview(run_dir / "overview.npz")
        except RecordError:
            return
        to_pixels(cmd.verb, cmd.args[:4 if cmd.verb == "veto" else 2], cmd.metres, ov.axes, tuple(ov.data.shape))
    elif cmd.verb == "set" and (run_dir / "config.yaml").exists():
        import yaml

        try:
            cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
        except (OSError, yaml.YAMLError):
            return
        if isinstance(cfg, dict):
            validate_set(cmd.args, cfg)


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point (``autoscope-ctl``)."""
    ap = argparse.ArgumentParser(prog="autoscope-ctl", description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir", type=Path, help="the run directory (holds record.h5)")
    ap.add_argument("verb", choices=VERBS + ("status",))
    ap.add_argument("args", nargs="*", help="command arguments (see `autoscope-ctl --help`)")
    ap.add_argument("--metres", action="store_true", help="veto/force/label positions are in metres")
    ap.add_argument("--negative", action="store_true", help="label: the spot does not show the feature")
    try:
        ns = ap.parse_args(argv)
    except SystemExit as exit_:  # argparse printed its one-line usage error
        return int(exit_.code or 0) and 2
    if not is_run_dir(ns.run_dir):
        print(f"autoscope-ctl: {ns.run_dir} is not a run directory (no config.yaml, journal.jsonl, "
              f"record.h5 or overview.npz); give the folder the run writes", file=sys.stderr)
        return 2
    if ns.verb == "status":
        from .record import RecordError
        from .status import run_status

        try:
            print(run_status(ns.run_dir))
        except RecordError as err:
            print(f"autoscope-ctl: {str(err).splitlines()[0]}", file=sys.stderr)
            return 3
        return 0
    if ns.negative:
        if ns.verb != "label":
            print("autoscope-ctl: --negative belongs to `label`", file=sys.stderr)
            return 2
        if len(ns.args) == 3 and ns.args[2] != "negative":
            print(f"autoscope-ctl: `label ... {ns.args[2]} --negative` contradicts itself", file=sys.stderr)
            return 2
        ns.args = ns.args[:2] + ["negative"]
    try:
        cmd = parse(ns.verb, ns.args, ns.metres)
        check_against_run(ns.run_dir, cmd)
    except ControlError as err:
        print(f"autoscope-ctl: {err}", file=sys.stderr)
        return 2
    path = send(ns.run_dir, cmd)
    print(f"sent {cmd.verb} {' '.join(map(str, cmd.args))} -> {path.name}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
