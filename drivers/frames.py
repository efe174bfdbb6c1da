"""Self-describing results: data plus calibrated axes plus metadata.

Conventions
-----------
* An :class:`Axis` holds one calibrated value per sample (``values``, float64). For an image axis
  the value of index ``i`` is the *centre* of pixel ``i``; ``scale`` is the pixel pitch.
* Spatial axes are in metres (``units="m"``); signal axes carry their own units (``"eV"``,
  ``"keV"``, ``"V"``). Signal axes need not be monotonic (a bias triangle sweep is not).
* A :class:`PatternAxis` is the signal axis of a flattened 2-D diffraction pattern; it also carries
  the camera's ``pattern_shape`` and ``k_mrad_per_px``.
* This module is the floor every package stands on: it imports nothing from the project.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Axis", "PatternAxis", "Frame", "ProbeState", "Capabilities"]


@dataclass(frozen=True, eq=False)
class Axis:
    """One calibrated axis.

    Args:
        name: e.g. ``"y"``, ``"x"``, ``"energy_loss"``, ``"bias"``.
        units: SI-style unit string, e.g. ``"m"``, ``"eV"``, ``"V"``.
        values: (n,) float64 calibrated coordinate of each sample.
    """

    name: str
    units: str
    values: np.ndarray

    def __post_init__(self) -> None:
        values = np.asarray(self.values, dtype=np.float64)
        if values.ndim != 1:
            raise ValueError(f"Axis {self.name!r}: values must be 1-D, got shape {values.shape}")
        values.setflags(write=False)
        object.__setattr__(self, "values", values)

    @classmethod
    def uniform(cls, name: str, units: str, offset: float, scale: float, size: int) -> Axis:
        """Axis whose sample ``i`` sits at ``offset + i * scale``."""
        return cls(name, units, offset + scale * np.arange(int(size), dtype=np.float64))

    @property
    def size(self) -> int:
        return int(self.values.shape[0])

    @property
    def offset(self) -> float:
        """Value of sample 0."""
        return float(self.values[0])

    @property
    def scale(self) -> float:
        """Mean step between samples (the pitch of a uniform axis)."""
        if self.size < 2:
            return 0.0
        return float((self.values[-1] - self.values[0]) / (self.size - 1))

    def is_uniform(self, rtol: float = 1e-6) -> bool:
        if self.size < 3:
            return True
        d = np.diff(self.values)
        return bool(np.allclose(d, d[0], rtol=rtol, atol=0.0))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "units": self.units, "values": self.values.tolist()}


@dataclass(frozen=True, eq=False)
class PatternAxis(Axis):
    """The signal axis of a flattened diffraction pattern (4D-STEM, :mod:`drivers.fourd.patterns`):
    reshape the data with ``data.reshape(axis.pattern_shape)``.

    Args:
        name: ``"k_index"``.
        units: ``"px"`` (the values are flat pixel indices).
        values: (ky * kx,) float64 ``0 .. ky * kx - 1``.
        pattern_shape: (ky, kx) camera pixels.
        k_mrad_per_px: camera pixel pitch (mrad).
    """

    pattern_shape: tuple[int, int] = (0, 0)
    k_mrad_per_px: float = math.nan

    def __post_init__(self) -> None:
        super().__post_init__()
        shape = (int(self.pattern_shape[0]), int(self.pattern_shape[1]))
        if shape[0] * shape[1] != self.size:
            raise ValueError(f"PatternAxis: pattern_shape {shape} holds {shape[0] * shape[1]} "
                             f"pixels but the axis has {self.size} values")
        object.__setattr__(self, "pattern_shape", shape)
        object.__setattr__(self, "k_mrad_per_px", float(self.k_mrad_per_px))

    @classmethod
    def for_camera(cls, shape: tuple[int, int], k_mrad_per_px: float) -> PatternAxis:
        """The axis of a flattened ``shape`` pattern."""
        n = int(shape[0]) * int(shape[1])
        return cls("k_index", "px", np.arange(n, dtype=np.float64), pattern_shape=shape,
                   k_mrad_per_px=k_mrad_per_px)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "pattern_shape": list(self.pattern_shape),
                "k_mrad_per_px": self.k_mrad_per_px}


@dataclass(frozen=True, eq=False)
class Frame:
    """One acquisition: an overview image ``(ny, nx)`` or a spectrum ``(n_signal,)``.

    Args:
        data: the array; its dimensions match ``axes`` one to one.
        axes: one :class:`Axis` per data dimension.
        frame_id: unique identifier; probe positions given as fractions refer to it.
        metadata: timestamps (``time_s``), ``exposure_s`` or ``dwell_s``, probe position in metres
            (``probe_yx_m``), ``dose_e`` (electrons), ``detector``, ``backend``.
    """

    data: np.ndarray
    axes: tuple[Axis, ...]
    frame_id: str
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        data = np.asarray(self.data)
        object.__setattr__(self, "data", data)
        object.__setattr__(self, "axes", tuple(self.axes))
        if data.ndim != len(self.axes):
            raise ValueError(f"Frame {self.frame_id}: {data.ndim}-D data but {len(self.axes)} axes")
        for dim, axis in enumerate(self.axes):
            if axis.size != data.shape[dim]:
                raise ValueError(
                    f"Frame {self.frame_id}: axis {axis.name!r} has {axis.size} values "
                    f"but data dimension {dim} has {data.shape[dim]}"
                )

    @property
    def signal_axis(self) -> Axis:
        """The last axis (the energy or bias axis of a spectrum)."""
        return self.axes[-1]


@dataclass(frozen=True)
class ProbeState:
    """Where the probe is: metres in the sample frame and the fraction of the named overview frame."""

    frame_id: str
    yx_m: tuple[float, float]
    yx_frac: tuple[float, float]
    blanked: bool


@dataclass(frozen=True)
class Capabilities:
    """What a backend offers, so the agent can refuse a configuration before it starts.

    Args:
        detectors: image detectors (``"HAADF"``) and spectrometers (``"EELS"``).
        signal_units: units of each spectrometer's signal axis, e.g. ``{"EELS": "eV"}``.
        max_fov_m: largest overview field of view.
        max_exposure_s: longest single exposure.
        verbs: optional verbs on top of the core protocol (``"acquire_points"``, ``"move_stage"``).
        backend: human-readable name.
        intensity_units: units of each spectrometer's values, e.g. ``{"PFM": "pm"}``; a detector not
            named here gives ``"counts"`` (:meth:`intensity_units_of`).
    """

    detectors: tuple[str, ...]
    signal_units: Mapping[str, str]
    max_fov_m: float
    max_exposure_s: float
    verbs: tuple[str, ...] = ()
    backend: str = ""
    intensity_units: Mapping[str, str] = field(default_factory=dict)

    def intensity_units_of(self, detector: str) -> str:
        """Units of ``detector``'s values (``"counts"`` unless the backend declares others)."""
        return str(self.intensity_units.get(detector, "counts"))
