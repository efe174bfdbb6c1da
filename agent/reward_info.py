"""What a plot or a record says about the reward: its name, value units and spectral windows.

The reward declares them itself (:class:`rewards.RewardBase`: ``name``, ``windows``,
``value_units(axis_units, intensity_units)``); :func:`reward_info` asks the built reward, given the
spectrum's axis and intensity units (the driver's :class:`drivers.frames.Capabilities`). The record
stores the result at the start (``@reward_name``, ``@reward_units``, ``@reward_windows``) and a
``reward_switched`` event for every mid-run switch; :func:`recorded_reward_info` reads them back.
:func:`legacy_reward_info` reads the configuration node of a record written before
``@reward_windows`` existed - and only such a record.

This module imports no torch and builds nothing: the record (writing) and the run result (reading)
both stand on it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rewards.protocol import Reward

__all__ = ["RewardInfo", "reward_info", "recorded_reward_info", "legacy_reward_info", "windows_json",
           "SWITCH_EVENT"]

#: the event the loop records when a mid-run ``set reward=...`` changes the reward
SWITCH_EVENT = "reward_switched"


@dataclass(frozen=True)
class RewardInfo:
    """What a plot says about the reward.

    Attributes:
        name: e.g. ``"BandIntensity"`` (the reward's declared name).
        units: units of the reward's value (``""`` when the reward does not say).
        axis_units: units of the spectrum axis the reward reads (``"eV"``, ``"V"``, ...).
        windows: ``((lo, hi), ...)`` spectral windows the reward integrates or fits, in axis units.
    """

    name: str
    units: str = ""
    axis_units: str = ""
    windows: tuple[tuple[float, float], ...] = ()

    @property
    def label(self) -> str:
        """``"BandIntensity (counts eV)"``, or the bare name when the units are unknown."""
        return f"{self.name} ({self.units})" if self.units else self.name

    def to_event(self) -> dict[str, Any]:
        """The payload of a :data:`SWITCH_EVENT` (JSON-ready)."""
        return {"name": self.name, "units": self.units, "axis_units": self.axis_units,
                "windows": [[lo, hi] for lo, hi in self.windows]}


def reward_info(reward: Reward, axis_units: str, intensity_units: str) -> RewardInfo:
    """The description the built ``reward`` declares, for spectra of ``intensity_units`` (``"counts"``,
    ``"pm"``) on an axis in ``axis_units`` (``"eV"``, ``"V"``)."""
    windows = tuple((float(lo), float(hi)) for lo, hi in reward.windows)
    return RewardInfo(reward.name, reward.value_units(axis_units, intensity_units), axis_units, windows)


def windows_json(windows: Sequence[tuple[float, float]]) -> str:
    """``@reward_windows``: ``"[[lo, hi], ...]"`` (axis units)."""
    return json.dumps([[float(lo), float(hi)] for lo, hi in windows])


def _windows(value: Any) -> tuple[tuple[float, float], ...]:
    items = json.loads(value) if isinstance(value, (str, bytes)) else value
    return tuple((float(lo), float(hi)) for lo, hi in items or ())


def recorded_reward_info(name: str, units: str, windows: str | None, events: Sequence[Mapping[str, Any]],
                         axis_units: str, legacy_node: Mapping[str, Any] | None = None,
                         legacy_switched: bool = False) -> RewardInfo:
    """The reward a record states, for the final reward of the run.

    Args:
        name, units, windows: the record's ``@reward_name``, ``@reward_units``, ``@reward_windows``
            (JSON; ``None`` where the record has no such attribute: written before it existed).
        events: the record's events; the last :data:`SWITCH_EVENT` (a mid-run ``set reward=...``)
            describes the final reward.
        axis_units: the spectra's axis units (the record's signal axis; ``""`` before a spectrum).
        legacy_node, legacy_switched: only for a record without ``@reward_windows``: the final
            reward's config node, and whether the reward was switched mid-run (then the attributes,
            which describe the reward at the start, are ignored) - see :func:`legacy_reward_info`.
    """
    switches = [ev for ev in events if ev.get("kind") == SWITCH_EVENT]
    if switches:
        ev = switches[-1]
        return RewardInfo(str(ev.get("name", "")), str(ev.get("units", "")),
                          str(ev.get("axis_units", "") or axis_units), _windows(ev.get("windows")))
    if windows is not None:
        return RewardInfo(name, units, axis_units, _windows(windows))
    legacy = legacy_reward_info(legacy_node)
    if legacy_switched:
        return legacy
    return RewardInfo(name or legacy.name, units or legacy.units, legacy.axis_units, legacy.windows)


# ---------------------------------------------------------------------------------------- legacy
#: value units of the built-in rewards as records written before ``@reward_windows`` implied them
_LEGACY_VALUE_UNITS = {
    "BandIntensity": "spectrum units x {axis}", "EdgeIntensity": "spectrum units x {axis}",
    "LoopArea": "spectrum units x {axis}", "LoopHeight": "spectrum units", "PeakPosition": "{axis}",
    "CoerciveBias": "{axis}", "Imprint": "{axis}", "ContactPotential": "{axis}", "CoMShift": "mrad",
    "PeakRatio": "ratio", "EdgeRatio": "ratio", "ElementFraction": "fraction",
}
_LEGACY_WINDOW_KEYS = ("window_eV", "window_a", "window_b", "pre_edge_eV", "fit_window_V", "background_eV")


def legacy_reward_info(node: Mapping[str, Any] | None) -> RewardInfo:
    """For records written before the rewards declared their description (no ``@reward_windows``):
    the description read from the reward's resolved config node (``cfg.reward``), nothing built."""
    node = dict(node or {})
    target = str(node.get("_target_", "reward"))
    inner = node.get("reward")
    if isinstance(inner, dict) and "_target_" in inner:  # combinators (Negate, Scaled, Checked)
        wrapped = legacy_reward_info(inner)
        return RewardInfo(f"{target.rsplit('.', 1)[-1]}({wrapped.name})", wrapped.units,
                          wrapped.axis_units, wrapped.windows)
    windows: list[tuple[float, float]] = []
    for key in _LEGACY_WINDOW_KEYS:
        value = node.get(key)
        if isinstance(value, (list, tuple)) and len(value) == 2:
            windows.append((float(value[0]), float(value[1])))
    if node.get("edge_onset_eV") is not None and node.get("integration_width_eV") is not None:
        onset = float(node["edge_onset_eV"])
        windows.append((onset, onset + float(node["integration_width_eV"])))
    name, axis_units = target.rsplit(".", 1)[-1], str(node.get("units", "") or "")
    units = _LEGACY_VALUE_UNITS.get(name, "").format(axis=axis_units or "axis units")
    return RewardInfo(name=name, units=units, axis_units=axis_units, windows=tuple(windows))
