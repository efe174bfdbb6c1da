"""Read any spectrum image HyperSpy / RosettaSciIO can load (``.hspy``, ``.dm4``, ``.emd``, ``.bcf``...).

Only the libraries' own readers are used (``hyperspy.api.load``). A file may hold several signals: a
Bruker ``.bcf`` returns its images first and the spectrum image last. The spectrum image is the last
signal with two navigation axes and one signal axis; the structure image is chosen among the 2-D
images (signal dimension 2, no navigation axes) of ``image_path`` or, without it, of the spectrum
file itself, by ``image_index``. Without either, the structure image is the spectrum image summed
over its signal axis, and the recording's metadata says so.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import NotSupported
from ..frames import Axis
from .errors import ReplayFormatError
from .recording import Recording, calibration_m, spectrum_detector_name

__all__ = ["load_hyperspy", "load_signals", "pick_spectrum_image", "pick_image", "recording_from_signals"]

log = logging.getLogger(__name__)


def _text(value: Any) -> str:
    """A hyperspy name/units/title as plain text (``traits.Undefined`` -> ``""``)."""
    if value is None:
        return ""
    text = str(value)
    return "" if text == "<undefined>" else text


def _describe(signal: Any) -> str:
    am = signal.axes_manager
    return (
        f"{type(signal).__name__} {_text(signal.metadata.General.title)!r} "
        f"(navigation {am.navigation_shape}, signal {am.signal_shape})"
    )


def load_signals(path: Path, load_kwargs: Mapping[str, Any] | None = None) -> list[Any]:
    """All signals ``hyperspy.api.load`` returns for ``path`` (a list, even for one signal).

    Raises:
        NotSupported: HyperSpy is not installed (``pip install autoscope[replay]``).
        ReplayFormatError: the reader failed; its message is kept.
    """
    try:
        import hyperspy.api as hs
    except ImportError as exc:  # pragma: no cover - the project venv has it
        raise NotSupported(
            f"reading {path.suffix} files needs HyperSpy/RosettaSciIO: pip install 'autoscope[replay]'"
        ) from exc
    kwargs = dict(load_kwargs or {})
    kwargs.setdefault("lazy", False)
    try:
        loaded = hs.load(str(path), **kwargs)
    except Exception as exc:  # third-party readers raise anything; keep their words, typed
        raise ReplayFormatError(f"{path}: HyperSpy could not read it ({type(exc).__name__}: {exc})") from exc
    return list(loaded) if isinstance(loaded, (list, tuple)) else [loaded]


def pick_spectrum_image(signals: Sequence[Any], source: str) -> Any:
    """The last signal with 2 navigation axes and 1 signal axis.

    Raises:
        ReplayFormatError: none qualifies; lists what the file holds.
    """
    for signal in reversed(list(signals)):
        am = signal.axes_manager
        if am.navigation_dimension == 2 and am.signal_dimension == 1:
            return signal
    found = "; ".join(_describe(s) for s in signals) or "nothing"
    raise ReplayFormatError(
        f"{source}: no spectrum image (2 navigation axes x 1 signal axis) among: {found}"
    )


def pick_image(signals: Sequence[Any], image_index: int | None, source: str) -> Any:
    """The ``image_index``-th 2-D image (signal dimension 2, no navigation) among ``signals``.

    Raises:
        ReplayFormatError: no image, or the index is out of range (lists the images).
    """
    images = [
        s for s in signals if s.axes_manager.signal_dimension == 2 and s.axes_manager.navigation_dimension == 0
    ]
    index = 0 if image_index is None else int(image_index)
    if not images:
        found = "; ".join(_describe(s) for s in signals) or "nothing"
        raise ReplayFormatError(f"{source}: no 2-D image among: {found}; give image_path=... or leave image_index null")
    if not -len(images) <= index < len(images):
        listing = ", ".join(f"{i}: {_describe(s)}" for i, s in enumerate(images))
        raise ReplayFormatError(
            f"{source}: image_index={image_index} is out of range; the file holds {len(images)} "
            f"image(s): {listing}"
        )
    return images[index]


def _bin_to(image: np.ndarray, shape: tuple[int, int], source: str) -> tuple[np.ndarray, int]:
    """Block-average ``image`` to ``shape`` when it is an integer multiple of it (same factor on both
    axes, e.g. a .bcf loaded with ``downsample=2``); returns the image and the factor."""
    if image.shape == shape:
        return image, 1
    fy, ry = divmod(image.shape[0], shape[0])
    fx, rx = divmod(image.shape[1], shape[1])
    if ry or rx or fy != fx or fy < 1:
        raise ReplayFormatError(
            f"{source}: structure image shape {image.shape} is not co-registered with the spectrum "
            f"image grid {shape} (nor an integer multiple of it); give the matching image"
        )
    binned = image.reshape(shape[0], fy, shape[1], fx).mean(axis=(1, 3))
    return binned, fy


def recording_from_signals(
    spectrum_image: Any,
    image: Any | None,
    source: str,
    pixel_size_m: tuple[float, float] | None = None,
    extra_meta: Mapping[str, Any] | None = None,
) -> Recording:
    """Build a :class:`Recording` from a hyperspy spectrum image and (optionally) a 2-D image signal.

    Args:
        spectrum_image: signal with navigation (x, y) and one signal axis.
        image: 2-D image signal co-registered with it, or ``None`` to use the summed intensity.
        source: description for metadata and errors.
        pixel_size_m: (dy, dx) override of the navigation calibration, metres.
        extra_meta: added to the recording's metadata.
    """
    am = spectrum_image.axes_manager
    ax_x, ax_y = am.navigation_axes  # hyperspy lists navigation axes x first
    ax_e = am.signal_axes[0]
    data = np.asarray(spectrum_image.data)
    cube = np.transpose(data, (ax_y.index_in_array, ax_x.index_in_array, ax_e.index_in_array))
    cube = np.ascontiguousarray(cube)
    signal_axis = Axis(_text(ax_e.name) or "signal", _text(ax_e.units), np.asarray(ax_e.axis, dtype=np.float64))
    if pixel_size_m is None:
        pixel_size_m = calibration_m(
            (float(ax_y.scale), float(ax_x.scale)),
            (_text(ax_y.units), _text(ax_x.units)),
            source,
            "navigation axis units",
        )
    shape = (cube.shape[0], cube.shape[1])
    title = _text(spectrum_image.metadata.General.title)
    signal_type = _text(spectrum_image.metadata.get_item("Signal.signal_type", ""))
    meta: dict[str, Any] = {"kind": f"{signal_type or 'spectrum image'} {title}".strip(), "source_file": source}
    for mode in ("TEM", "SEM"):
        live = spectrum_image.metadata.get_item(f"Acquisition_instrument.{mode}.Detector.EDS.live_time")
        if live is not None:
            meta["recorded_live_time_s"] = float(live)
    if image is None:
        structure = cube.sum(axis=2, dtype=np.float64).astype(np.float32)
        image_name = "sum"
        meta["structure_image"] = "sum of the spectrum image over its signal axis (no image given)"
        log.info("%s: no structure image given; using the summed spectrum-image intensity", source)
    else:
        if image.axes_manager.signal_dimension != 2 or image.axes_manager.navigation_dimension != 0:
            raise ReplayFormatError(f"{source}: the structure image must be a single 2-D image, got {_describe(image)}")
        sx, sy = image.axes_manager.signal_axes  # x first
        raw = np.transpose(np.asarray(image.data, dtype=np.float64), (sy.index_in_array, sx.index_in_array))
        structure, factor = _bin_to(raw, shape, source)
        structure = structure.astype(np.float32)
        image_name = _text(image.metadata.General.title) or "image"
        meta["structure_image"] = f"recorded image {image_name!r}" + (
            f" block-averaged {factor}x{factor} to the spectrum-image grid" if factor > 1 else ""
        )
        meta["image_title"] = image_name
    meta.update(extra_meta or {})
    return Recording(
        image=structure,
        cube=cube,
        signal_axis=signal_axis,
        pixel_size_m=pixel_size_m,
        source=source,
        image_name=image_name,
        spectrum_name=spectrum_detector_name(f"{signal_type} {title}"),
        metadata=meta,
    )


def load_hyperspy(
    spectrum_path: Path,
    image_path: Path | None = None,
    image_index: int | None = None,
    load_kwargs: Mapping[str, Any] | None = None,
    pixel_size_m: tuple[float, float] | None = None,
) -> Recording:
    """Read a spectrum image (and its structure image) through ``hyperspy.api.load``.

    Args:
        spectrum_path: file holding the spectrum image (last qualifying signal is used).
        image_path: file holding the structure image; ``None`` looks in ``spectrum_path`` only when
            ``image_index`` is given, else uses the summed spectrum-image intensity.
        image_index: which 2-D image, counted among the images of the file (0 = first).
        load_kwargs: passed to ``hyperspy.api.load`` (``downsample=2``, ``cutoff_at_kV=10``...).
        pixel_size_m: (dy, dx) metres, overriding the file's navigation calibration.
    """
    source = str(spectrum_path)
    signals = load_signals(spectrum_path, load_kwargs)
    spectrum_image = pick_spectrum_image(signals, source)
    image = None
    if image_path is not None:
        image = pick_image(load_signals(image_path), image_index, str(image_path))
    elif image_index is not None:
        image = pick_image([s for s in signals if s is not spectrum_image], image_index, source)
    extra = {"image_file": str(image_path)} if image_path is not None else {}
    return recording_from_signals(spectrum_image, image, source, pixel_size_m, extra)
