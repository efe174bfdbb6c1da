"""A finished (or running) experiment as a value: what the summary, the plots and the reports read.

:class:`RunResult` is built from the run's files alone - ``record.h5`` (rows, overview, candidates,
truth, maps, events, resolved config) - with no driver, no model and no refit, so a run can be
summarised, plotted and compared on any machine, long after the instrument was released.
It stands on :func:`agent.record_reader.read_record` (the one parser of a record, SWMR-safe, both
layouts): the loop builds one at its end from its open record with :meth:`RunResult.from_record`
(the wall time is the only thing it adds); reports and notebooks use :meth:`RunResult.from_run_dir`;
a :class:`~agent.record_reader.RunData` already read becomes one with :meth:`RunResult.from_data`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from drivers.frames import Axis, Frame

from .record import Record, RecordError
from .record_reader import RunData, parse_config, read_record, read_run
from .reward_info import RewardInfo, recorded_reward_info

__all__ = ["RewardInfo", "RunResult"]


def _reward(data: RunData, config: dict[str, Any], switched: bool) -> RewardInfo:
    """The reward's description as the record states it (``@reward_*`` at the start, the last
    ``reward_switched`` event after a mid-run switch: :func:`agent.reward_info.recorded_reward_info`);
    a record from before both is described from the final reward's config node."""
    return recorded_reward_info(data.reward_name, data.reward_units, data.reward_windows, data.events,
                                data.axis_units, config.get("reward"), legacy_switched=switched)


def _final_truth(start: np.ndarray | None, final_map: np.ndarray | None) -> np.ndarray | None:
    """The truth under the run's final reward: ``/maps/truth`` where the loop wrote it (per candidate),
    else the truth recorded at the start."""
    if final_map is None or start is None:
        return start
    flat = np.asarray(final_map, dtype=np.float64).reshape(start.shape[0], -1)
    return flat[:, 0] if flat.shape[1] == 1 and start.ndim == 1 else flat


def _target_name(node: Any) -> str | None:
    if not isinstance(node, dict) or "_target_" not in node:
        return None
    return str(node["_target_"]).rsplit(".", 1)[-1]


def reward_switches(events: list[dict[str, Any]]) -> list[str]:
    """The ``reward...=`` arguments of every applied mid-run ``set`` (``autoscope-ctl RUN set
    reward=...``), in order: cumulative, as the loop applies them."""
    out: list[str] = []
    for ev in events:
        if ev.get("kind") == "intervention" and ev.get("verb") == "set" and ev.get("outcome") == "applied":
            out += [str(a) for a in ev.get("args") or [] if str(a).split("=", 1)[0].split(".")[0] == "reward"]
    return out


def final_reward_node(config: dict[str, Any], switches: list[str]) -> dict[str, Any]:
    """The reward's config node after the ``switches`` (``reward=<conf/reward/NAME>``, ``reward.key=value``),
    interpolations resolved: the node the loop built its final reward from."""
    from omegaconf import OmegaConf

    from .confdir import CONF_DIR

    node: Any = dict(config.get("reward") or {})
    for item in switches:
        key, value = item.split("=", 1)
        if key == "reward":
            node = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "reward" / f"{value}.yaml"))
        else:
            sub = OmegaConf.create(node)
            OmegaConf.update(sub, key[len("reward") + 1:], yaml.safe_load(value), force_add=True)
            node = OmegaConf.to_container(sub)
    root = OmegaConf.create({"seed": int(config.get("seed", 0) or 0), "reward": node})
    resolved = OmegaConf.to_container(root, resolve=True)
    assert isinstance(resolved, dict)
    return dict(resolved["reward"])


def _rescored(columns: dict[str, np.ndarray], node: dict[str, Any], axis: Axis | None) -> None:
    """``reward``/``objectives`` columns recomputed from the recorded spectra under the reward of
    ``node`` (in place), as the loop's state is after a mid-run reward switch."""
    from hydra.utils import instantiate

    from rewards import evaluate

    spectra = columns["spectrum"]
    if not spectra.shape[0] or axis is None:
        return
    values = np.asarray(evaluate(instantiate(node), spectra, axis), dtype=np.float64)
    columns["reward"] = values if values.ndim == 1 else values[:, 0]
    columns["objectives"] = values if values.ndim == 2 else np.zeros((values.shape[0], 0))


@dataclass(frozen=True, eq=False)
class RunResult:
    """Everything known about a run, read from its record. Arrays are read-only copies.

    Attributes:
        run_dir: the run folder (None for a record outside one).
        config: the resolved configuration (``config.yaml`` / the record's ``config`` attribute).
        overview: the structure image with its calibrated axes (metres) and metadata.
        candidate_yx_m: ``(n, 2)`` candidate positions in the overview's units (metres).
        candidate_yx_px: ``(n, 2)`` candidate overview pixels.
        grid_shape: ``(rows, cols)``; candidate index = row * cols + col.
        columns: every ``/steps`` field, ``(m, ...)`` in measurement order (``"index"``,
            ``"reward"``, ``"phase"``, ``"yx_m"``, timings in s, ``"dose_e"``, ``"spectrum"``
            ``(m, n_signal)``, ``"objectives"`` ``(m, k)`` or ``(m, 0)``).
        signal_axis: the spectra's axis (None before the first spectrum).
        truth: ``(n,)`` (or ``(n, k)``) noise-free reward per candidate (emulators and replays only).
        maps: ``"mean"``/``"std"`` ``(rows, cols)`` final predicted maps; ``"gate"`` the gate's
            per-candidate weights where a gate or prior was active.
        events: every event (faults, fits, interventions, the stop), in order.
        reward: the reward's name, value units and spectral windows.
        wall_time_s: wall time of the run (given by the loop, or read back from ``summary.json``).
    """

    run_dir: Path | None
    config: dict[str, Any]
    overview: Frame
    candidate_yx_m: np.ndarray
    candidate_yx_px: np.ndarray
    grid_shape: tuple[int, int]
    columns: dict[str, np.ndarray]
    signal_axis: Axis | None
    truth: np.ndarray | None
    maps: dict[str, np.ndarray]
    events: list[dict[str, Any]]
    reward: RewardInfo
    wall_time_s: float | None = None

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_data(cls, data: RunData, config_yaml: str | None = None, wall_time_s: float | None = None,
                  run_dir: str | Path | None = None) -> RunResult:
        """The run in ``data`` (:func:`agent.record_reader.read_run`), with the mid-run reward switches
        applied (rescored under the final reward, as the loop's state is); ``config_yaml`` replaces the
        record's config (``config.yaml`` of the run folder, or the loop's own)."""
        config = data.config if config_yaml is None else parse_config(config_yaml, data.path)
        columns = {**data.rows, "spectrum": data.spectra, "objectives": data.objectives}
        switches = reward_switches(data.events)
        if switches:  # the loop rescored every spectrum under the new reward: so does the summary
            node = final_reward_node(config, switches)
            config = {**config, "reward": node}
            _rescored(columns, node, data.signal_axis)
        return cls(
            run_dir=Path(run_dir) if run_dir is not None else data.path.parent,
            config=config,
            overview=data.overview,
            candidate_yx_m=data.candidates_yx_m,
            candidate_yx_px=data.candidates_yx_px,
            grid_shape=data.grid_shape,
            columns=columns,
            signal_axis=data.signal_axis,
            truth=_final_truth(data.truth, data.maps.get("truth")),
            maps=data.maps,
            events=data.events,
            reward=_reward(data, config, switched=bool(switches)),
            wall_time_s=wall_time_s,
        )

    @classmethod
    def from_record(cls, record: Record, config_yaml: str | None = None,
                    wall_time_s: float | None = None, run_dir: str | Path | None = None) -> RunResult:
        """Read a run from an open record (the loop's own, at the end of a run, or one opened to read)."""
        return cls.from_data(read_record(record), config_yaml, wall_time_s, run_dir)

    @classmethod
    def from_run_dir(cls, run_dir: str | Path) -> RunResult:
        """Read a run folder (finished, running or killed) without touching it: ``record.h5`` is
        opened read-only; ``config.yaml`` (the resumable config) wins over the record's copy."""
        d = Path(run_dir)
        if not (d / "record.h5").exists():
            raise RecordError(f"{d} holds no record.h5: give a run folder (config.yaml, journal.jsonl, "
                              f"record.h5), e.g. outputs/<date>/<time>")
        cfg = (d / "config.yaml").read_text() if (d / "config.yaml").exists() else None
        wall = None
        if (d / "summary.json").exists():
            try:
                wall = json.loads((d / "summary.json").read_text()).get("wall_time_s")
            except (OSError, ValueError):
                wall = None
        return cls.from_data(read_run(d), cfg, wall_time_s=wall, run_dir=d)

    # ------------------------------------------------------------------ derived values
    @property
    def n_candidates(self) -> int:
        return int(self.candidate_yx_m.shape[0])

    @property
    def n_rows(self) -> int:
        """Measurements recorded (usable or not)."""
        return int(self.columns["index"].shape[0])

    @property
    def settings(self) -> dict[str, Any]:
        """The ``experiment`` section of the config."""
        return dict(self.config.get("experiment") or {})

    @property
    def maximize(self) -> bool:
        return bool(self.settings.get("maximize", True))

    @property
    def seed(self) -> int:
        return int(self.config.get("seed", 0) or 0)

    @property
    def policy_name(self) -> str:
        """The configured policy (``PolicyName`` of its ``_target_``); a gate's or prior's in front."""
        policy = _target_name(self.config.get("policy")) or "unknown"
        for group in ("prior", "gate"):
            wrapper = _target_name(self.config.get(group))
            policy = f"{wrapper}({policy})" if wrapper else policy
        return policy

    @property
    def surrogate_name(self) -> str | None:
        return _target_name(self.config.get("surrogate"))

    @property
    def stop_reason(self) -> str:
        """Reason of the last ``stopped`` event (``""`` for a run still going or killed)."""
        for ev in reversed(self.events):
            if ev.get("kind") == "stopped":
                return str(ev.get("reason", ""))
        return ""

    @property
    def values(self) -> np.ndarray:
        """``(m,)`` reward per row, or ``(m, k)`` objectives of a vector reward; NaN where it failed."""
        obj = self.columns["objectives"]
        return obj if obj.ndim == 2 and obj.shape[1] > 1 else np.asarray(self.columns["reward"], np.float64)

    @property
    def usable(self) -> np.ndarray:
        """``(m,)`` bool: rows whose reward (every objective) is finite."""
        v = self.values
        return np.all(np.isfinite(v), axis=1) if v.ndim == 2 else np.isfinite(v)

    @property
    def measured(self) -> np.ndarray:
        """``(m_ok,)`` candidate indices of the usable rows, in measurement order."""
        return np.asarray(self.columns["index"], dtype=np.int64)[self.usable]

    @property
    def targets(self) -> np.ndarray:
        """``(m_ok,)`` (or ``(m_ok, k)``) targets of the usable rows."""
        return self.values[self.usable]

    @property
    def n_failed(self) -> int:
        """Failed acquisitions (``measurement_failed`` events) plus rows whose reward failed."""
        lost = sum(1 for ev in self.events if ev.get("kind") == "measurement_failed")
        return int(lost + np.count_nonzero(~self.usable))

    @property
    def n_degenerate(self) -> int:
        return sum(1 for ev in self.events if ev.get("kind") == "surrogate_unhealthy")

    @property
    def best_row(self) -> int | None:
        """Row of the best usable value (first objective for a vector reward); None when none."""
        v = self.values if self.values.ndim == 1 else self.values[:, 0]
        ok = np.nonzero(self.usable)[0]
        if not ok.size:
            return None
        sub = v[ok]
        return int(ok[int(np.argmax(sub) if self.maximize else np.argmin(sub))])

    def per_candidate(self, name: str) -> np.ndarray | None:
        """A final map (``"mean"``, ``"std"``, ``"gate"``) per candidate: ``(n,)``, or ``(n, k)``
        for a vector reward's maps; None when the run has no such map."""
        grid = self.maps.get(name)
        if grid is None or np.asarray(grid).size % max(self.n_candidates, 1):
            return None
        flat = np.asarray(grid).reshape(self.n_candidates, -1)
        return flat[:, 0] if flat.shape[1] == 1 else flat

    def as_map(self, values: np.ndarray) -> np.ndarray:
        """Per-candidate ``(n,)`` values as the ``(rows, cols)`` grid."""
        return np.asarray(values).reshape(self.grid_shape + np.asarray(values).shape[1:])
