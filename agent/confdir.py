"""Where the Hydra configs live, command-line normalisation and the ``autoscope --help`` text.

Light on purpose (standard library only): ``autoscope --help`` must not import torch.

The configs are ``agent/conf``: in the repository a link to the top-level ``conf/``, in a wheel the
files themselves (``[tool.setuptools.package-data]``), so an installed ``autoscope`` runs from any
folder. Where the link did not survive a checkout (a file system without links), the repository's
``conf/`` is used.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

__all__ = ["CONF_DIR", "normalise_overrides", "help_text", "APP_GROUPS"]


def _find_conf_dir() -> Path:
    here = Path(__file__).resolve().parent
    for candidate in (here / "conf", here.parent / "conf"):
        if (candidate / "config.yaml").is_file():
            return candidate
    return here / "conf"


#: The Hydra configuration tree of ``autoscope`` (``config.yaml`` plus one folder per group).
CONF_DIR = _find_conf_dir()

#: The config groups of the ``autoscope`` app, in the order ``--help`` lists them (``conf/dataset``
#: and ``conf/method`` belong to ``autoscope-bench``).
APP_GROUPS = ("driver", "reward", "surrogate", "policy", "gate", "prior", "safety", "experiment")


def normalise_overrides(argv: Sequence[str], conf_dir: Path | None = None) -> list[str]:
    """``group=null`` -> ``group=none`` where ``conf/<group>/none.yaml`` exists.

    Hydra refuses a null group override (``Config group override must be a string or a list. Got
    NoneType``); ``safety=none`` is the config group option that removes the safety layer, and
    ``safety=null`` is read as the same. The former ``gate=weight_fewshot|weight_segmentation`` (and
    their ``gate.*`` keys) are read as ``prior=fewshot|segmentation`` (``prior.*``)."""
    conf = CONF_DIR if conf_dir is None else conf_dir
    # the priors were options of the gate group before they got their own: `gate=weight_fewshot
    # gate.prior.x=..` is read as `prior=fewshot prior.prior.x=..`
    old_prior = any(re.fullmatch(r"gate=weight_(fewshot|segmentation)", item) for item in argv)
    out: list[str] = []
    for item in argv:
        match = re.fullmatch(r"([+~]?)([A-Za-z_][\w/]*)=(null|None|~)", item)
        if match and (conf / match.group(2) / "none.yaml").is_file():
            item = f"{match.group(1)}{match.group(2)}=none"
        elif old_prior and item.startswith("gate"):
            item = re.sub(r"^gate=weight_", "prior=", item)
            item = re.sub(r"^gate\.", "prior.", item)
        out.append(item)
    return out


def _first_comment(path: Path) -> str:
    """The first comment line of a YAML file (not the ``# @package`` directive)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return ""
    for line in lines:
        text = line.strip()
        if not text.startswith("#"):
            if text:
                break
            continue
        text = text.lstrip("#").strip()
        if text and not text.startswith("@package"):
            return text
    return ""


def _defaults(conf: Path) -> dict[str, str | None]:
    """``{group: default option}`` from ``config.yaml``'s defaults list."""
    import yaml

    try:
        root = yaml.safe_load((conf / "config.yaml").read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return {}
    out: dict[str, str | None] = {}
    for entry in root.get("defaults", []) or []:
        if isinstance(entry, dict):
            for key, value in entry.items():
                out[str(key).removeprefix("override ").split("@")[0].strip().lstrip("/")] = value
    return out


_SETTING = re.compile(r"^(?P<indent>\s*)(?P<key>[A-Za-z_]\w*):\s*(?P<value>[^#]*?)\s*(?:#\s*(?P<doc>.*))?$")


def _settings(path: Path, prefix: str) -> Iterable[tuple[str, str]]:
    """``(key=value, comment)`` for every key of a YAML file with its inline comment, nested keys
    dotted (``experiment.overview.fov_m``)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return
    parents: list[tuple[int, str]] = []
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#") or line.lstrip().startswith("-"):
            continue
        match = _SETTING.match(line)
        if not match:
            continue
        indent = len(match.group("indent"))
        while parents and parents[-1][0] >= indent:
            parents.pop()
        key, value = match.group("key"), match.group("value")
        if key in ("_target_", "defaults"):
            continue
        if value == "":
            parents.append((indent, key))
            continue
        dotted = ".".join([prefix, *(p for _, p in parents), key])
        yield f"{dotted}={value}", (match.group("doc") or "").strip()


def _rows(rows: list[tuple[str, str]], width: int = 34, line_width: int = 118) -> list[str]:
    out = []
    for left, doc in rows:
        pad = max(width, len(left) + 2)
        line = f"  {left:<{pad}}{doc}".rstrip()
        if len(line) > line_width:
            line = line[: line_width - 3].rstrip() + "..."
        out.append(line)
    return out


def help_text(conf_dir: Path | None = None) -> str:
    """``autoscope --help``: one line per option, from the YAML files' comments."""
    conf = CONF_DIR if conf_dir is None else conf_dir
    defaults = _defaults(conf)
    lines = [
        "autoscope: an autonomous experiment on an instrument, an emulator or recorded data.",
        "",
        "usage: autoscope [group=option ...] [key=value ...]      (Hydra overrides; --multirun sweeps)",
        "       e.g. autoscope policy=ucb policy.beta=4 experiment.steps=60",
        "       autoscope +dataset=ncem_eds   (a recording with the benchmark's driver, target and budget:",
        "       conf/dataset/; `+` because the group is autoscope-bench's, not in the default list)",
        "       autoscope-resume RUN_DIR | autoscope-ctl RUN_DIR status | autoscope-serve driver=...",
        "",
        f"Config groups (group=option, * = default; files in {conf}):",
    ]
    for group in APP_GROUPS:
        folder = conf / group
        if not folder.is_dir():
            continue
        default = defaults.get(group)
        lines.append(f"{group}=")
        rows = []
        for path in sorted(folder.glob("*.yaml")):
            mark = " *" if path.stem == default else ""
            rows.append((f"  {path.stem}{mark}", _first_comment(path)))
        if group == "gate" and default is None:
            rows.insert(0, ("  null *", "no gate: every candidate may be measured"))
        if group == "prior" and default is None:
            rows.insert(0, ("  null *", "no prior: the policy's acquisition as it is"))
        lines.extend(_rows(rows))
    lines += ["", "Settings (key=default  meaning):"]
    lines.extend(_rows([("seed=0", "seeds the experiment and, through ${seed}, the emulator")]))
    exp_default = defaults.get("experiment") or "default"
    lines.extend(_rows(list(_settings(conf / "experiment" / f"{exp_default}.yaml", "experiment"))))
    safety_default = defaults.get("safety")
    if safety_default:
        lines.extend(_rows(list(_settings(conf / "safety" / f"{safety_default}.yaml", "safety"))))
    lines += [
        "",
        "Options of the chosen driver, reward, surrogate and policy: their keys in the files above",
        "(e.g. policy.beta=4, reward.window_eV=[1.5,2.4]); print the composed config with",
        "`autoscope --cfg job`; Hydra's own flags: `autoscope --hydra-help`.",
        "Exit codes: 0 finished, 2 configuration refused, 3 run folder damaged, 5 signal, 6 safety,",
        "7 failing measurements, 8 nothing measured, 9 stopped by autoscope-ctl (README).",
    ]
    return "\n".join(lines) + "\n"


def _register_schemas() -> None:
    """The typed settings (:func:`agent.settings.register_configs`) go into Hydra's ConfigStore
    before any composition of these configs: ``config.yaml`` composes ``experiment`` from them."""
    from .settings import register_configs

    register_configs()


_register_schemas()
