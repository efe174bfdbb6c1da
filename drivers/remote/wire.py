"""What travels over the wire: arrays as raw bytes plus a small header, frames and states as dicts.

Pyro5's serpent serializer carries only Python literals (dict, list, tuple, str, int, float, bool,
None, bytes). Arrays therefore travel as an *array envelope*::

    {"__ndarray__": True, "dtype": "<f4", "shape": [256, 256], "data": b"..."}

``dtype`` is ``numpy.dtype.str`` (byte order included), ``shape`` a list of ints and ``data`` the
C-ordered raw bytes. Serpent sends ``bytes`` as a base64 dict (``{"data": ..., "encoding":
"base64"}``) that arrives as that dict, not as bytes: :func:`decode_array` turns it back with
``serpent.tobytes``. Nothing is pickled and no array is ever turned into a Python list (a 1024 x 1024
image as a list costs seconds; as bytes a few milliseconds).

:class:`drivers.Frame`, :class:`drivers.Axis`, :class:`drivers.ProbeState` and
:class:`drivers.Capabilities` become plain dicts (:func:`frame_to_wire` ...) and come back as the same
classes (:func:`frame_from_wire` ...). Metadata values that are not plain literals are converted
(numpy scalars to Python numbers, arrays to envelopes, other objects to their ``repr``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import serpent

from drivers.errors import InvalidArgument
from drivers.frames import Axis, Capabilities, Frame, ProbeState

__all__ = [
    "ARRAY_TAG",
    "encode_array",
    "decode_array",
    "decode_array_tuple",
    "to_wire",
    "from_wire",
    "frame_to_wire",
    "frame_from_wire",
    "probe_to_wire",
    "probe_from_wire",
    "capabilities_to_wire",
    "capabilities_from_wire",
    "WireFormatError",
]

ARRAY_TAG = "__ndarray__"


class WireFormatError(InvalidArgument):
    """A message does not have the shape this module writes (wrong keys, sizes or dtype)."""


def encode_array(array: np.ndarray) -> dict[str, Any]:
    """Array -> envelope ``{"__ndarray__": True, "dtype", "shape", "data": bytes}`` (C order).

    Object, structured and unicode dtypes are refused (``WireFormatError``): only numeric and bool
    arrays travel.
    """
    arr = np.asarray(array)
    if arr.dtype.kind not in "biufc" or arr.dtype.fields is not None:
        raise WireFormatError(
            f"array dtype {arr.dtype} cannot travel; use a numeric or bool array"
        )
    if not arr.flags.c_contiguous:
        arr = np.array(arr, order="C")  # (np.ascontiguousarray would turn 0-d into 1-d)
    return {
        ARRAY_TAG: True,
        "dtype": arr.dtype.str,
        "shape": [int(n) for n in arr.shape],
        "data": arr.tobytes(order="C"),
    }


def decode_array(envelope: Mapping[str, Any]) -> np.ndarray:
    """Envelope (as written by :func:`encode_array`, after serpent) -> a writable numpy array.

    Accepts ``data`` as bytes, bytearray, memoryview or serpent's base64 dict.
    """
    try:
        dtype = np.dtype(str(envelope["dtype"]))
        shape = tuple(int(n) for n in envelope["shape"])
        raw = serpent.tobytes(envelope["data"])
    except (KeyError, TypeError, ValueError) as exc:
        raise WireFormatError(f"malformed array envelope: {exc}") from exc
    if dtype.kind not in "biufc" or dtype.fields is not None:
        raise WireFormatError(f"array envelope has dtype {dtype}; only numeric or bool arrays travel")
    expected = dtype.itemsize * math.prod(shape)
    if len(raw) != expected:
        raise WireFormatError(
            f"array envelope: {len(raw)} bytes for shape {shape} of {dtype} (expected {expected})"
        )
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


def decode_array_tuple(message: Any) -> np.ndarray:
    """``(data, shape, dtype)`` -> array. ``data`` may be bytes (or serpent's base64 dict of them),
    as this project's array server sends, or a nested list, as ORNL's original server sends."""
    try:
        data, shape, dtype_str = message
        dtype = np.dtype(str(dtype_str))
        shape_t = tuple(int(n) for n in shape)
    except (TypeError, ValueError) as exc:
        raise WireFormatError(f"expected (data, shape, dtype), got {type(message).__name__}: {exc}") from exc
    if isinstance(data, list):
        if dtype.kind not in "biufc":
            raise WireFormatError(f"array tuple has dtype {dtype}; only numeric or bool arrays travel")
        arr = np.asarray(data, dtype=dtype)
        if arr.size != math.prod(shape_t):
            raise WireFormatError(f"array tuple: {arr.size} values for shape {shape_t}")
        return arr.reshape(shape_t)
    return decode_array({"dtype": dtype.str, "shape": list(shape_t), "data": data})


def _is_envelope(value: Any) -> bool:
    return isinstance(value, Mapping) and value.get(ARRAY_TAG) is True


def to_wire(value: Any) -> Any:
    """Any metadata value -> serpent-safe literals (arrays become envelopes, numpy scalars numbers).

    Non-finite floats are kept (serpent transports them). Objects of other types become ``repr``.
    """
    if isinstance(value, np.generic):  # first: np.float64 is also a float, but serpent writes it as a call
        return value.item()
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, np.ndarray):
        return encode_array(value)
    if isinstance(value, Mapping):
        return {str(k): to_wire(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(to_wire(v) for v in value)
    if isinstance(value, (list, set, frozenset)):
        return [to_wire(v) for v in value]
    return repr(value)


def from_wire(value: Any) -> Any:
    """Inverse of :func:`to_wire`: envelopes back to arrays, serpent bytes dicts back to bytes."""
    if _is_envelope(value):
        return decode_array(value)
    if isinstance(value, Mapping):
        if set(value.keys()) == {"data", "encoding"} and value.get("encoding") == "base64":
            return serpent.tobytes(value)
        return {k: from_wire(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(from_wire(v) for v in value)
    if isinstance(value, list):
        return [from_wire(v) for v in value]
    return value


def _need(message: Mapping[str, Any], key: str, what: str) -> Any:
    if not isinstance(message, Mapping) or key not in message:
        raise WireFormatError(f"{what} message lacks the field {key!r}")
    return message[key]


def frame_to_wire(frame: Frame) -> dict[str, Any]:
    """Frame -> ``{"data": envelope, "axes": [{"name", "units", "values": envelope}], "frame_id",
    "metadata"}``."""
    return {
        "data": encode_array(frame.data),
        "axes": [
            {"name": a.name, "units": a.units, "values": encode_array(a.values)} for a in frame.axes
        ],
        "frame_id": str(frame.frame_id),
        "metadata": to_wire(dict(frame.metadata)),
    }


def frame_from_wire(message: Mapping[str, Any]) -> Frame:
    """Inverse of :func:`frame_to_wire`; data keep their dtype bit for bit."""
    data = decode_array(_need(message, "data", "frame"))
    axes = []
    for axis in _need(message, "axes", "frame"):
        axes.append(
            Axis(
                str(_need(axis, "name", "axis")),
                str(_need(axis, "units", "axis")),
                decode_array(_need(axis, "values", "axis")),
            )
        )
    metadata = from_wire(message.get("metadata", {}) or {})
    return Frame(data, tuple(axes), str(_need(message, "frame_id", "frame")), metadata)


def probe_to_wire(probe: ProbeState) -> dict[str, Any]:
    return {
        "frame_id": probe.frame_id,
        "yx_m": [float(probe.yx_m[0]), float(probe.yx_m[1])],
        "yx_frac": [float(probe.yx_frac[0]), float(probe.yx_frac[1])],
        "blanked": bool(probe.blanked),
    }


def probe_from_wire(message: Mapping[str, Any]) -> ProbeState:
    yx_m = _need(message, "yx_m", "probe")
    yx_frac = _need(message, "yx_frac", "probe")
    return ProbeState(
        frame_id=str(_need(message, "frame_id", "probe")),
        yx_m=(float(yx_m[0]), float(yx_m[1])),
        yx_frac=(float(yx_frac[0]), float(yx_frac[1])),
        blanked=bool(_need(message, "blanked", "probe")),
    )


def capabilities_to_wire(caps: Capabilities) -> dict[str, Any]:
    return {
        "detectors": list(caps.detectors),
        "signal_units": {str(k): str(v) for k, v in caps.signal_units.items()},
        "max_fov_m": float(caps.max_fov_m),
        "max_exposure_s": float(caps.max_exposure_s),
        "verbs": list(caps.verbs),
        "backend": str(caps.backend),
        "intensity_units": {str(k): str(v) for k, v in caps.intensity_units.items()},
    }


def capabilities_from_wire(message: Mapping[str, Any]) -> Capabilities:
    return Capabilities(
        detectors=tuple(str(d) for d in _need(message, "detectors", "capabilities")),
        signal_units={str(k): str(v) for k, v in _need(message, "signal_units", "capabilities").items()},
        max_fov_m=float(_need(message, "max_fov_m", "capabilities")),
        max_exposure_s=float(_need(message, "max_exposure_s", "capabilities")),
        verbs=tuple(str(v) for v in message.get("verbs", ())),
        backend=str(message.get("backend", "")),
        intensity_units={str(k): str(v) for k, v in message.get("intensity_units", {}).items()},
    )
