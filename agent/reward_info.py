"""What a plot or a record says about the reward, read from its configuration node alone.

Nothing is built and nothing of the project imported: the record (``agent.record``, writing
``@reward_name``/``@reward_units``) and the run result (``agent.result``, reading them) both stand on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["RewardInfo", "reward_info"]

#: value units of the built-in rewards, from their definitions: ``{axis}`` is the spectrum axis' units;
#: an integral carries the spectrum's own intensity units, which only the instrument knows
_VALUE_UNITS = {
    "BandIntensity": "spectrum units x {axis}", "EdgeIntensity": "spectrum units x {axis}",
    "LoopArea": "spectrum units x {axis}", "LoopHeight": "spectrum units", "PeakPosition": "{axis}",
    "CoerciveBias": "{axis}", "Imprint": "{axis}", "ContactPotential": "{axis}", "CoMShift": "mrad",
    "PeakRatio": "ratio", "EdgeRatio": "ratio", "ElementFraction": "fraction",
}

#: config keys of the built-in rewards that hold a spectral window ``[lo, hi]`` (axis units)
_WINDOW_KEYS = ("window_eV", "window_a", "window_b", "pre_edge_eV", "fit_window_V", "background_eV")


@dataclass(frozen=True)
class RewardInfo:
    """What a plot says about the reward.

    Attributes:
        name: e.g. ``"BandIntensity"`` (the configured class or function).
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


def reward_info(node: dict[str, Any] | None) -> RewardInfo:
    """The reward's description from its resolved config node (``cfg.reward``).

    Reads the configuration only (nothing is built). Windows: every ``[lo, hi]`` setting of the
    built-in rewards, and an edge's ``[onset, onset + integration_width]``; value units of the
    built-in rewards (a user function's are unknown: ``""``).
    """
    node = dict(node or {})
    target = str(node.get("_target_", "reward"))
    inner = node.get("reward")
    if isinstance(inner, dict) and "_target_" in inner:  # combinators (Negate, Scaled, Checked)
        wrapped = reward_info(inner)
        return RewardInfo(f"{target.rsplit('.', 1)[-1]}({wrapped.name})", wrapped.units,
                          wrapped.axis_units, wrapped.windows)
    windows: list[tuple[float, float]] = []
    for key in _WINDOW_KEYS:
        value = node.get(key)
        if isinstance(value, (list, tuple)) and len(value) == 2:
            windows.append((float(value[0]), float(value[1])))
    if node.get("edge_onset_eV") is not None and node.get("integration_width_eV") is not None:
        onset = float(node["edge_onset_eV"])
        windows.append((onset, onset + float(node["integration_width_eV"])))
    name, axis_units = target.rsplit(".", 1)[-1], str(node.get("units", "") or "")
    units = _VALUE_UNITS.get(name, "").format(axis=axis_units or "axis units")
    return RewardInfo(name=name, units=units, axis_units=axis_units, windows=tuple(windows))
