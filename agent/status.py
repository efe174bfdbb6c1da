"""``autoscope-ctl RUN_DIR status``: a run's progress, read from its folder.

One line from the journal (measurements, those without a reward, the best value or, for a vector
reward, the size of the Pareto set, whether the run finished, the commands waiting in its inbox),
then the store's consistency check. After a mid-run ``set reward...`` the journal's values are the
old reward's: every journaled spectrum is rescored under the reward the loop switched to, with the
loop's own pieces (:func:`agent.result.reward_switches`, :func:`agent.result.final_reward_node`,
:func:`rewards.evaluate`), so the status names the best of the reward the run is using.

Reads the run folder only; imports nothing from :mod:`agent.control` (``autoscope-ctl`` calls
:func:`run_status`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from drivers.frames import Axis

from .consistency import check_store
from .result import final_reward_node, reward_switches

__all__ = ["run_status"]


def run_status(run_dir: Path) -> str:
    """Progress of the run in ``run_dir`` (text, first line the summary, then the store check).

    Raises:
        agent.record.RecordError: the journal or record is damaged (``RunStoreError``).
    """
    check = check_store(run_dir)
    rows = check.journal.rows
    store = check.summary() + "".join(f"\n  {n}" for n in check.notes)
    if not rows:
        return f"{run_dir}: no measurements yet\n{store}"
    maximize = _run_maximizes(run_dir)
    values = np.array([float(r.reward) for r in rows], dtype=np.float64)
    objectives = [np.asarray(r.objectives, dtype=np.float64) for r in rows]
    label = ""
    switch = reward_switches(_event_dicts(check.journal.events))
    if switch:  # the loop rescored every spectrum with the new reward: so does the status
        try:
            values, objectives = _rescore(run_dir, rows, check.journal.signal_axis, switch)
            label = f" under `set {' '.join(switch)}` (rescored)"
        except Exception as err:  # noqa: BLE001 - status still reports the progress
            label = f" under the reward before `set {' '.join(switch)}` (could not rescore: {err})"
    good = [i for i, v in enumerate(values) if math.isfinite(v)]
    pending = len(list((run_dir / "control" / "inbox").glob("*.json")))
    line = f"{run_dir}: {len(rows)} measurements ({len(rows) - len(good)} without reward)"
    if good and any(o.size > 1 for o in objectives):
        from policies.pareto import pareto_mask

        usable = [i for i in good if objectives[i].size > 1 and np.all(np.isfinite(objectives[i]))]
        y = np.stack([objectives[i] for i in usable]) if usable else np.zeros((0, 2))
        front = pareto_mask(y if maximize else -y) if len(usable) else np.zeros(0, bool)
        line += f", {y.shape[1]} objectives: Pareto set of {int(front.sum())}{label}"
    elif good:
        k = (max if maximize else min)(good, key=lambda i: values[i])
        line += f", best {values[k]:.4g} at pixel {rows[k].yx_px} (step {rows[k].step}){label}"
    if (run_dir / "summary.json").exists():
        line += ", finished (summary.json written)"
    return line + f", {pending} command(s) waiting\n{store}"


def _event_dicts(events: Sequence[str]) -> list[dict[str, Any]]:
    """The journal's event texts as dicts (an unreadable one is skipped: status must still print)."""
    out: list[dict[str, Any]] = []
    for text in events:
        try:
            ev = json.loads(text)
        except ValueError:
            continue
        if isinstance(ev, dict):
            out.append(ev)
    return out


def _run_maximizes(run_dir: Path) -> bool:
    import yaml

    try:
        cfg = yaml.safe_load((run_dir / "config.yaml").read_text()) or {}
        return bool((cfg.get("experiment") or {}).get("maximize", True))
    except (OSError, yaml.YAMLError, AttributeError):
        return True


def _rescore(run_dir: Path, rows: Sequence[Any], axis: Axis | None,
             switch: list[str]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Every journaled spectrum under the reward the run switched to (as the loop does).

    Returns ``(values (m,), objectives)``: the first objective per row (NaN where the reward failed)
    and, per row, the ``(k,)`` objectives of a vector reward (``(0,)`` for a scalar one).
    """
    from hydra.utils import instantiate
    from omegaconf import DictConfig, OmegaConf

    from rewards import evaluate, first_objective

    if axis is None:
        raise ValueError("the journal holds no signal axis")
    cfg = OmegaConf.load(run_dir / "config.yaml")
    if not isinstance(cfg, DictConfig):
        raise ValueError(f"{run_dir / 'config.yaml'} is not a mapping")
    config = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(config, dict)
    reward = instantiate(final_reward_node({str(k): v for k, v in config.items()}, switch))
    targets = evaluate(reward, [np.asarray(row.spectrum, dtype=np.float64) for row in rows], axis)
    values = np.asarray(first_objective(targets), dtype=np.float64)
    if targets.ndim == 2:
        return values, list(targets)
    return values, [np.zeros(0) for _ in rows]
