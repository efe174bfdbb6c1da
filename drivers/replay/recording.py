"""A recorded spectrum image in memory, and the reader of the project's ``.npz`` format.

The ``.npz`` format (``shared/data/README.md``): ``image`` (ny, nx) float32, ``cube`` (ny, nx, nE)
uint16 counts or float32, ``axis`` (nE,) float32, ``axis_name``, ``axis_units``, ``pixel_size``
(float, NaN where unknown), ``pixel_units``, ``meta`` (JSON string); any further (ny, nx) array (the
KPFM file's ``image_df``) is kept as an extra overview image.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..frames import Axis
from .calibration import metres_per_unit
from .errors import ReplayFormatError

__all__ = ["Recording", "load_npz", "calibration_m", "spectrum_detector_name"]

_NPZ_KEYS = ("image", "cube", "axis", "axis_name", "axis_units", "pixel_size", "pixel_units", "meta")


@dataclass(frozen=True, eq=False)
class Recording:
    """A co-registered structure image and spectrum image.

    Args:
        image: (ny, nx) float32 structure image (the overview).
        cube: (ny, nx, nE) spectrum at every pixel; integer dtype for counts, float32 otherwise.
        signal_axis: the recorded signal axis, (nE,) values in recorded order (bias sweeps are not
            monotonic), with its name and units (``"keV"``, ``"V"``).
        pixel_size_m: (dy, dx) pixel pitch in metres, or ``None`` where the recording has none.
        source: where it came from (a path), for metadata.
        image_name: detector name of ``image`` (``"HAADF"``, ``"BSE"``, ``"sum"``).
        spectrum_name: detector name of the spectra (``"EDS"``, ``"BEPS"``, ``"KPFM"``).
        extra_images: further (ny, nx) float32 images by name (e.g. the KPFM ``image_df``).
        metadata: free-form description (the file's ``meta``, what the structure image is).
    """

    image: np.ndarray
    cube: np.ndarray
    signal_axis: Axis
    pixel_size_m: tuple[float, float] | None
    source: str = ""
    image_name: str = "image"
    spectrum_name: str = "spectrum"
    extra_images: Mapping[str, np.ndarray] = field(default_factory=dict)
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        image = np.asarray(self.image, dtype=np.float32)
        cube = np.asarray(self.cube)
        if image.ndim != 2:
            raise ReplayFormatError(f"{self.source}: image must be 2-D (ny, nx), got shape {image.shape}")
        if cube.ndim != 3:
            raise ReplayFormatError(
                f"{self.source}: cube must be 3-D (ny, nx, n_signal), got shape {cube.shape}"
            )
        if cube.shape[:2] != image.shape:
            raise ReplayFormatError(
                f"{self.source}: image shape {image.shape} does not match the cube's grid "
                f"{cube.shape[:2]}; the structure image must be co-registered pixel for pixel"
            )
        if cube.shape[2] != self.signal_axis.size:
            raise ReplayFormatError(
                f"{self.source}: signal axis has {self.signal_axis.size} values but the cube has "
                f"{cube.shape[2]} channels"
            )
        if cube.dtype.kind not in "iuf":
            raise ReplayFormatError(f"{self.source}: cube dtype {cube.dtype} is not numeric")
        if self.pixel_size_m is not None:
            dy, dx = (float(v) for v in self.pixel_size_m)
            if not (math.isfinite(dy) and math.isfinite(dx) and dy > 0 and dx > 0):
                raise ReplayFormatError(f"{self.source}: pixel_size_m={self.pixel_size_m} must be > 0")
            object.__setattr__(self, "pixel_size_m", (dy, dx))
        extras = {}
        for name, extra in dict(self.extra_images).items():
            extra = np.asarray(extra, dtype=np.float32)
            if extra.shape != image.shape:
                raise ReplayFormatError(
                    f"{self.source}: extra image {name!r} has shape {extra.shape}, expected {image.shape}"
                )
            extra.setflags(write=False)
            extras[name] = extra
        image.setflags(write=False)
        cube.setflags(write=False)
        object.__setattr__(self, "image", image)
        object.__setattr__(self, "cube", cube)
        object.__setattr__(self, "extra_images", extras)
        object.__setattr__(self, "metadata", dict(self.metadata))

    @property
    def shape_px(self) -> tuple[int, int]:
        """(ny, nx) of the grid."""
        return int(self.image.shape[0]), int(self.image.shape[1])


def calibration_m(
    size: tuple[float, float], units: tuple[str, str], source: str, field_name: str
) -> tuple[float, float] | None:
    """Pixel pitch ``size`` in ``units`` (per axis, y then x) -> metres, ``None`` when uncalibrated.

    A NaN, zero or negative size, or pixel-like units (``"px"``, ``""``), means uncalibrated.

    Raises:
        ReplayFormatError: units that are not a length; names ``field_name`` and the override.
    """
    out = []
    for value, unit in zip(size, units):
        value = float(value)
        if not math.isfinite(value) or value <= 0:
            return None
        try:
            factor = metres_per_unit(unit)
        except ValueError as exc:
            raise ReplayFormatError(
                f"{source}: {field_name}: {exc}; pass pixel_size_m=<metres> to calibrate it yourself"
            ) from exc
        if factor is None:
            return None
        out.append(value * factor)
    return out[0], out[1]


def spectrum_detector_name(kind: str) -> str:
    """A detector name from a free-text description (``"STEM-EDS SI"`` -> ``"EDS"``)."""
    tokens = set(re.split(r"[^A-Z0-9]+", kind.upper()))
    for name in ("EELS", "EDS", "EDX", "BEPS", "KPFM", "CL"):
        if name in tokens:
            return "EDS" if name == "EDX" else name
    return "spectrum"


def _text(value: np.ndarray, key: str, source: str) -> str:
    if value.ndim != 0 or value.dtype.kind not in "US":
        raise ReplayFormatError(f"{source}: key {key!r} must be a string, got {value.dtype} {value.shape}")
    return str(value.item())


def load_npz(path: Path, pixel_size_m: tuple[float, float] | None = None) -> Recording:
    """Read a recorded set in the project's ``.npz`` format (``allow_pickle=False``).

    Args:
        path: the ``.npz`` file.
        pixel_size_m: (dy, dx) metres overriding the file's ``pixel_size``/``pixel_units``.

    Raises:
        ReplayFormatError: a key is missing or has the wrong shape.
    """
    source = str(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (OSError, ValueError) as exc:
        raise ReplayFormatError(f"{source}: not a readable .npz file ({exc})") from exc
    missing = [key for key in _NPZ_KEYS if key not in arrays]
    if missing:
        raise ReplayFormatError(
            f"{source}: missing key(s) {missing}; a replay .npz needs {list(_NPZ_KEYS)} "
            f"(see shared/data/README.md)"
        )
    meta_text = _text(arrays["meta"], "meta", source)
    try:
        meta = json.loads(meta_text) if meta_text else {}
    except json.JSONDecodeError as exc:
        raise ReplayFormatError(f"{source}: key 'meta' is not valid JSON ({exc})") from exc
    if not isinstance(meta, dict):
        raise ReplayFormatError(f"{source}: key 'meta' must hold a JSON object")
    axis_values = np.asarray(arrays["axis"], dtype=np.float64)
    if axis_values.ndim != 1:
        raise ReplayFormatError(f"{source}: key 'axis' must be 1-D, got shape {axis_values.shape}")
    signal_axis = Axis(
        _text(arrays["axis_name"], "axis_name", source),
        _text(arrays["axis_units"], "axis_units", source),
        axis_values,
    )
    pixel_size = np.asarray(arrays["pixel_size"], dtype=np.float64)
    if pixel_size.size != 1:
        raise ReplayFormatError(f"{source}: key 'pixel_size' must be a scalar, got shape {pixel_size.shape}")
    units = _text(arrays["pixel_units"], "pixel_units", source)
    size = float(pixel_size.reshape(()))
    if pixel_size_m is None:
        pixel_size_m = calibration_m((size, size), (units, units), source, "pixel_units")
    image = arrays["image"]
    extras = {
        key: value
        for key, value in arrays.items()
        if key not in _NPZ_KEYS and value.ndim == 2 and value.shape == image.shape
    }
    return Recording(
        image=image,
        cube=arrays["cube"],
        signal_axis=signal_axis,
        pixel_size_m=pixel_size_m,
        source=source,
        image_name=str(meta.get("image_title") or "image"),
        spectrum_name=spectrum_detector_name(str(meta.get("kind", ""))),
        extra_images=extras,
        metadata={
            **meta,
            "structure_image": f"recorded image ({meta.get('image_title') or 'key image'})",
            "pixel_size_recorded": size,
            "pixel_units_recorded": units,
        },
    )
