"""``ReplayDriver``: the Driver and GroundTruth protocols over a recorded spectrum image.

Offline benchmarking: the overview is the recorded structure image, a spectrum is the recorded one at
the probe pixel (optionally thinned to a shorter dwell for count data), and the ground truth is a
denoised copy of the cube (:meth:`ReplayDriver.expected_spectra`). Time is a virtual clock
(:attr:`ReplayDriver.time_s`) that advances by each emulated exposure plus ``overhead_s``; nothing
sleeps.

Beam: as in the emulator, the beam is blanked except during an acquisition (and after an explicit
``unblank()`` until the next acquisition ends); acquisitions never need ``unblank()``. After
``close()`` every instrument verb raises :class:`ConnectionLost`; scoring keeps working.

Detectors: the overview detector is the recorded image's name (``"HAADF"``, ``"BSE"``, ``"sum"``,
plus any extra recorded image such as the KPFM ``image_df``), the spectrometer is the recorded kind
(``"EDS"``, ``"BEPS"``, ``"KPFM"``). The protocol's default names ``"HAADF"`` (overview) and
``"EELS"`` (spectrum) are accepted as "the recorded one" so a loop written for the emulator runs
unchanged; any other unknown name raises :class:`NotSupported`.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import validation
from ..errors import ConnectionLost, InvalidArgument, NotSupported, Timeout
from ..frames import Axis, Capabilities, Frame, ProbeState
from .calibration import frac_from_value, pixel_from_frac, spatial_axes
from .denoise import check_denoise, denoise_cube
from .hyperspy_io import load_hyperspy
from .paths import resolve_data_path
from .recording import Recording, load_npz
from .thinning import thin_counts

__all__ = ["ReplayDriver", "ReplayProbeState"]

log = logging.getLogger(__name__)

_DEFAULT_IMAGE_DETECTOR = "HAADF"
_DEFAULT_SPECTRUM_DETECTOR = "EELS"
_REPLAY_HINT = ("a replay has only its recorded field and shape: leave experiment.overview fov_m/shape_px null "
                "for replay")


@dataclass(frozen=True)
class ReplayProbeState(ProbeState):
    """:class:`ProbeState` plus the recorded pixel the probe snapped to.

    ``yx_m`` and ``yx_frac`` are that pixel's centre (where the replayed spectrum comes from).

    Args:
        yx_px: (row, col) of the recorded pixel.
    """

    yx_px: tuple[int, int]


def _pixel_size_pair(value: float | Sequence[float] | None) -> tuple[float, float] | None:
    if value is None:
        return None
    if isinstance(value, (int, float)):
        pair = (float(value), float(value))
    else:
        items = list(value)
        if len(items) != 2:
            raise InvalidArgument(f"pixel_size_m={value!r} must be one number or [dy, dx] in metres")
        pair = (float(items[0]), float(items[1]))
    if not all(math.isfinite(v) and v > 0 for v in pair):
        raise InvalidArgument(f"pixel_size_m={value!r} must be > 0 metres")
    return pair


def _positive(name: str, value: float | None, allow_zero: bool = False) -> float:
    return validation.positive(name, value, allow_zero=allow_zero, error=InvalidArgument)


def _pair(name: str, value: Any) -> tuple[float, float]:
    return validation.pair(name, value, error=InvalidArgument)


class ReplayDriver:
    """Replay of a recorded spectrum image and its co-registered structure image.

    Build it with ``ReplayDriver(path=...)`` (Hydra; dispatches on the suffix: ``.npz`` -> the
    project format, anything else -> HyperSpy/RosettaSciIO), :meth:`from_npz`, :meth:`from_file`,
    :meth:`from_arrays` or :meth:`from_recording`.

    Args:
        path: recorded file: absolute, or a name looked up in ``$AUTOSCOPE_DATA_DIR``, then
            ``<repo root>/../shared/data``, then the working directory; or a short name of
            :data:`drivers.replay.DATASET_ALIASES`.
        image_path: HyperSpy sources only: file with the co-registered structure image (looked up
            beside ``path`` first). ``None`` with ``image_index=None``: the summed spectrum image.
        image_index: HyperSpy sources only: which 2-D image of ``image_path`` (or of ``path`` when
            ``image_path`` is ``None``; a ``.bcf`` lists its images first), 0 = first.
        load_kwargs: HyperSpy sources only: keyword arguments of ``hyperspy.api.load``
            (``downsample``, ``cutoff_at_kV``, ``sum_frames``...).
        seed: non-negative seed of the thinning streams (one stream per pixel and exposure).
        counts: the cube holds counts (thinning allowed). ``None``: integer cube dtype means counts.
        recorded_exposure_s: the recorded dwell per pixel, seconds; an ``exposure_s`` equal to it
            (or ``None``) replays the raw counts.
        dwell_fraction: global thinning factor in (0, 1] applied on top of ``exposure_s``; counts
            only (1.0 for other data).
        overhead_s: virtual-clock time added to every acquisition (readout, beam move), seconds.
        denoise: ground-truth denoising: ``"box"``, ``"gaussian"``, ``"pca"`` or ``"none"``.
        sigma_px: Gaussian sigma, pixels (``denoise="gaussian"``).
        box_px: odd box side, pixels (``denoise="box"``).
        n_components: PCA components kept (``denoise="pca"``).
        pixel_size_m: override of the recorded pixel pitch: metres, one number or ``[dy, dx]``.
        blas_threads: BLAS threads for the PCA denoising (``None``: library default); one thread
            was 3-10x faster than two on the shared 2-core machines.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        image_path: str | os.PathLike[str] | None = None,
        image_index: int | None = None,
        load_kwargs: Mapping[str, Any] | None = None,
        seed: int = 0,
        counts: bool | None = None,
        recorded_exposure_s: float = 1.0,
        dwell_fraction: float = 1.0,
        overhead_s: float = 0.0,
        denoise: str = "box",
        sigma_px: float = 1.0,
        box_px: int = 3,
        n_components: int = 8,
        pixel_size_m: float | Sequence[float] | None = None,
        blas_threads: int | None = 1,
    ) -> None:
        resolved = resolve_data_path(path)
        size = _pixel_size_pair(pixel_size_m)
        if resolved.suffix.lower() == ".npz":
            if image_path is not None or image_index is not None or load_kwargs:
                raise InvalidArgument(
                    f"{resolved.name}: image_path, image_index and load_kwargs apply to HyperSpy "
                    f"files only; a replay .npz holds its own image: leave them null"
                )
            recording = load_npz(resolved, pixel_size_m=size)
        else:
            image = None if image_path is None else resolve_data_path(image_path, near=resolved.parent)
            recording = load_hyperspy(resolved, image, image_index, load_kwargs, size)
        self._setup(
            recording,
            seed=seed,
            counts=counts,
            recorded_exposure_s=recorded_exposure_s,
            dwell_fraction=dwell_fraction,
            overhead_s=overhead_s,
            denoise=denoise,
            sigma_px=sigma_px,
            box_px=box_px,
            n_components=n_components,
            blas_threads=blas_threads,
        )

    # ----------------------------------------------------------------------------- constructors
    @classmethod
    def from_npz(cls, path: str | os.PathLike[str], **options: Any) -> ReplayDriver:
        """Replay a project ``.npz`` (``shared/data/README.md`` format); ``options`` as the constructor."""
        if Path(os.fspath(path)).suffix.lower() != ".npz":
            raise InvalidArgument(f"from_npz: {os.fspath(path)!r} is not a .npz file; "
                                  "use from_file for HyperSpy formats")
        return cls(path, **options)

    @classmethod
    def from_file(
        cls,
        spectrum_path: str | os.PathLike[str],
        image_path: str | os.PathLike[str] | None = None,
        image_index: int | None = None,
        **options: Any,
    ) -> ReplayDriver:
        """Replay any spectrum image HyperSpy/RosettaSciIO reads (``.hspy``, ``.dm4``, ``.emd``,
        ``.bcf``...). See the constructor for ``image_path``/``image_index`` and ``options``."""
        if Path(os.fspath(spectrum_path)).suffix.lower() == ".npz":
            raise InvalidArgument(f"from_file: {os.fspath(spectrum_path)!r} is a replay .npz; use from_npz")
        return cls(spectrum_path, image_path=image_path, image_index=image_index, **options)

    @classmethod
    def from_recording(cls, recording: Recording, **options: Any) -> ReplayDriver:
        """Replay an in-memory :class:`Recording`; ``options`` as the constructor (from ``seed`` on)."""
        driver = cls.__new__(cls)
        driver._setup(recording, **options)
        return driver

    @classmethod
    def from_arrays(
        cls,
        image: np.ndarray,
        cube: np.ndarray,
        axis: np.ndarray,
        axis_name: str = "signal",
        axis_units: str = "",
        pixel_size_m: float | Sequence[float] | None = None,
        **options: Any,
    ) -> ReplayDriver:
        """Replay arrays: ``image`` (ny, nx), ``cube`` (ny, nx, nE), ``axis`` (nE,); pixel pitch in metres
        (``None``: uncalibrated, pixels)."""
        recording = Recording(
            image=image,
            cube=cube,
            signal_axis=Axis(axis_name, axis_units, np.asarray(axis, dtype=np.float64)),
            pixel_size_m=_pixel_size_pair(pixel_size_m),
            source="arrays",
            metadata={"structure_image": "image array given by the caller"},
        )
        return cls.from_recording(recording, **options)

    def _setup(
        self,
        recording: Recording,
        seed: int = 0,
        counts: bool | None = None,
        recorded_exposure_s: float = 1.0,
        dwell_fraction: float = 1.0,
        overhead_s: float = 0.0,
        denoise: str = "box",
        sigma_px: float = 1.0,
        box_px: int = 3,
        n_components: int = 8,
        blas_threads: int | None = 1,
    ) -> None:
        if isinstance(seed, bool) or int(seed) != seed or seed < 0:
            raise InvalidArgument(f"seed={seed!r} must be an integer >= 0")
        cube = recording.cube
        if counts is None:
            counts = cube.dtype.kind in "iu"
        elif counts and cube.dtype.kind == "f":
            finite = np.isfinite(cube).all()
            if not finite or (cube < 0).any() or (cube != np.round(cube)).any():
                raise InvalidArgument(
                    f"counts=True but {recording.source} holds non-integer or negative values; "
                    f"leave counts null (float data cannot be thinned)"
                )
        self._recording = recording
        self._counts = bool(counts)
        self._seed = int(seed)
        self._recorded_exposure_s = _positive("recorded_exposure_s", recorded_exposure_s)
        self._dwell_fraction = _positive("dwell_fraction", dwell_fraction)
        if self._dwell_fraction > 1.0:
            raise InvalidArgument(
                f"dwell_fraction={dwell_fraction} must be in (0, 1]: thinning can remove counts, never create them"
            )
        if not self._counts and self._dwell_fraction != 1.0:
            raise InvalidArgument(
                f"dwell_fraction={dwell_fraction}: {recording.source} is not count data, so it cannot "
                f"be thinned; set dwell_fraction: 1.0 (or counts: true for integral counts in a float cube)"
            )
        self._overhead_s = _positive("overhead_s", overhead_s, allow_zero=True)
        check_denoise(denoise, sigma_px, box_px, n_components, tuple(cube.shape), blas_threads)
        self._denoise: dict[str, Any] = {
            "method": denoise,
            "sigma_px": sigma_px,
            "box_px": box_px,
            "n_components": n_components,
            "blas_threads": blas_threads,
        }
        self._denoised: np.ndarray | None = None
        self._axes = spatial_axes(recording.shape_px, recording.pixel_size_m)
        self._pitch = recording.pixel_size_m or (1.0, 1.0)
        self._name = Path(recording.source).stem or "replay"
        self._closed = False
        self._blanked = True
        self._time_s = 0.0
        self._overview_ids: set[str] = set()
        self._n_frames = 0
        self._probe: ReplayProbeState | None = None

    # ----------------------------------------------------------------------------- properties
    @property
    def recording(self) -> Recording:
        """The recorded data (read-only arrays)."""
        return self._recording

    @property
    def shape_px(self) -> tuple[int, int]:
        """(ny, nx) of the recorded grid."""
        return self._recording.shape_px

    @property
    def overview_axes(self) -> tuple[Axis, Axis]:
        """(y, x) axes of every overview frame (metres, or ``"px"`` when uncalibrated)."""
        return self._axes

    @property
    def seed(self) -> int:
        """Seed of the thinning streams."""
        return self._seed

    @property
    def counts(self) -> bool:
        """Whether spectra are counts (and can be thinned)."""
        return self._counts

    @property
    def time_s(self) -> float:
        """Virtual clock, seconds: the sum of every emulated acquisition's duration."""
        return self._time_s

    @property
    def native_fov_m(self) -> float | None:
        """Largest side of the recorded field in metres (``None`` when uncalibrated)."""
        size = self._recording.pixel_size_m
        if size is None:
            return None
        ny, nx = self.shape_px
        return max(ny * size[0], nx * size[1])

    # ----------------------------------------------------------------------------- guards
    def _check_open(self) -> None:
        if self._closed:
            raise ConnectionLost(f"replay of {self._name} is closed; build a new driver")

    def _check_timeout(self, duration_s: float, timeout_s: float | None, verb: str) -> None:
        if timeout_s is None:
            return
        limit = _positive("timeout_s", timeout_s)
        if duration_s > limit:
            self._time_s += limit
            raise Timeout(f"{verb}: the emulated acquisition takes {duration_s:.6g} s > timeout_s={limit:.6g}")

    def _resolve_detector(self, detector: str | None, spectrum: bool) -> str:
        rec = self._recording
        names = [rec.spectrum_name] if spectrum else [rec.image_name, *rec.extra_images]
        default = _DEFAULT_SPECTRUM_DETECTOR if spectrum else _DEFAULT_IMAGE_DETECTOR
        if detector is None:
            return names[0]
        for name in names:
            if detector.lower() == name.lower():
                return name
        if detector == default:
            return names[0]
        raise NotSupported(
            f"detector={detector!r} is not recorded in {self._name}; available: {names} "
            f"(or {default!r}, the protocol default, meaning {names[0]!r})"
        )

    def _next_id(self, kind: str) -> str:
        self._n_frames += 1
        return f"replay-{self._name}-{kind}{self._n_frames}"

    # ----------------------------------------------------------------------------- protocol verbs
    def capabilities(self) -> Capabilities:
        """Recorded detectors, the signal units, the native field (NaN when uncalibrated) and the
        longest exposure (the recorded one: counts cannot be created)."""
        self._check_open()
        rec = self._recording
        fov = self.native_fov_m
        return Capabilities(
            detectors=(rec.image_name, *rec.extra_images, rec.spectrum_name),
            signal_units={rec.spectrum_name: rec.signal_axis.units},
            max_fov_m=float("nan") if fov is None else fov,
            max_exposure_s=self._recorded_exposure_s,
            verbs=("state", "expected_spectra", "denoised_cube"),
            backend=f"replay:{Path(rec.source).name}",
            # counts where the cube holds counts; a float cube's units only where the file says them
            intensity_units={rec.spectrum_name: "counts" if self._counts
                             else str(rec.metadata.get("intensity_units", "a.u."))},
        )

    def state(self) -> dict[str, Any]:
        """Blanked, probe, virtual time and field of view."""
        self._check_open()
        return {
            "backend": "replay",
            "source": self._recording.source,
            "blanked": self._blanked,
            "probe": self._probe,
            "time_s": self._time_s,
            "fov_m": self.native_fov_m,
            "shape_px": self.shape_px,
        }

    def acquire_overview(
        self,
        fov_m: float | None = None,
        shape_px: tuple[int, int] | None = None,
        dwell_s: float | None = None,
        detector: str | None = _DEFAULT_IMAGE_DETECTOR,
        timeout_s: float | None = None,
    ) -> Frame:
        """The recorded structure image as a ``(ny, nx)`` float32 frame.

        Args:
            fov_m: ``None`` or the native field (largest side, metres, within 1e-6 relative).
            shape_px: ``None`` or exactly the recorded ``(ny, nx)``.
            dwell_s: per-pixel dwell, only advances the virtual clock by ``dwell_s * ny * nx``.
            detector: the recorded image name, an extra recorded image, or ``"HAADF"``/``None``
                for the main one.
            timeout_s: refuse with :class:`Timeout` when the emulated scan would take longer.

        Raises:
            InvalidArgument: ``fov_m``/``shape_px`` other than the native ones (never resampled).
        """
        self._check_open()
        name = self._resolve_detector(detector, spectrum=False)
        ny, nx = self.shape_px
        if fov_m is not None:
            native = self.native_fov_m
            requested = _positive("fov_m", fov_m)
            if native is None:
                raise InvalidArgument(
                    f"acquire_overview: fov_m={fov_m} but {self._name} has no spatial calibration "
                    f"(units px); {_REPLAY_HINT}"
                )
            if not math.isclose(requested, native, rel_tol=1e-6):
                raise InvalidArgument(
                    f"acquire_overview: fov_m={fov_m} differs from the recorded field {native:.6g} m; {_REPLAY_HINT}"
                )
        if shape_px is not None:
            try:
                shape = tuple(int(v) for v in shape_px)
            except (TypeError, ValueError) as exc:
                raise InvalidArgument(f"acquire_overview: shape_px={shape_px!r} must be (ny, nx)") from exc
            if shape != (ny, nx):
                raise InvalidArgument(
                    f"acquire_overview: shape_px={tuple(shape_px)} differs from the recorded grid {(ny, nx)}; "
                    f"{_REPLAY_HINT}"
                )
        dwell = None if dwell_s is None else _positive("dwell_s", dwell_s)
        duration = self._overhead_s + (dwell * ny * nx if dwell is not None else 0.0)
        self._check_timeout(duration, timeout_s, "acquire_overview")
        rec = self._recording
        image = rec.image if name == rec.image_name else rec.extra_images[name]
        frame_id = self._next_id("overview")
        self._overview_ids.add(frame_id)
        start = self._time_s
        self._time_s += duration
        self._blanked = True
        return Frame(
            data=image.copy(),
            axes=self._axes,
            frame_id=frame_id,
            metadata={
                "backend": "replay",
                "source": rec.source,
                "detector": name,
                "time_s": self._time_s,
                "start_time_s": start,
                "duration_s": duration,
                "dwell_s": dwell,
                "calibrated": rec.pixel_size_m is not None,
                "pixel_size_m": rec.pixel_size_m,
                "fov_m": self.native_fov_m,
                "structure_image": rec.metadata.get("structure_image", ""),
                "recording": dict(rec.metadata),
            },
        )

    def set_probe(
        self,
        frame_id: str,
        yx_frac: tuple[float, float] | None = None,
        yx_m: tuple[float, float] | None = None,
    ) -> ReplayProbeState:
        """Park the probe on the nearest recorded pixel.

        Args:
            frame_id: an overview frame of this driver.
            yx_frac: (y, x) fractions in [0, 1]; pixel ``i`` spans ``[i / n, (i + 1) / n)``.
            yx_m: (y, x) in the frame calibration (metres; pixels when uncalibrated), centred on 0.

        Raises:
            InvalidArgument: not exactly one position, unknown frame, or outside the field.
        """
        self._check_open()
        if (yx_frac is None) == (yx_m is None):
            raise InvalidArgument("set_probe: give exactly one of yx_frac or yx_m")
        if frame_id not in self._overview_ids:
            hint = ("call acquire_overview first" if not self._overview_ids
                    else "use an overview frame_id of this driver")
            raise InvalidArgument(f"set_probe: frame_id={frame_id!r} is not an overview of this replay; {hint}")
        ny, nx = self.shape_px
        if yx_frac is not None:
            fy, fx = _pair("yx_frac", yx_frac)
            py = int(pixel_from_frac(np.array(fy), ny, "yx_frac[0]"))
            px = int(pixel_from_frac(np.array(fx), nx, "yx_frac[1]"))
        else:
            (py, px), = self.pixels_of([_pair("yx_m", yx_m)], field="yx_m")
        ay, ax = self._axes
        self._probe = ReplayProbeState(
            frame_id=frame_id,
            yx_m=(float(ay.values[py]), float(ax.values[px])),
            yx_frac=((py + 0.5) / ny, (px + 0.5) / nx),
            blanked=self._blanked,
            yx_px=(int(py), int(px)),
        )
        return self._probe

    def acquire_spectrum(
        self,
        exposure_s: float | None = None,
        detector: str | None = _DEFAULT_SPECTRUM_DETECTOR,
        timeout_s: float | None = None,
    ) -> Frame:
        """The recorded spectrum at the probe pixel, a 1-D float64 frame on the recorded signal axis.

        Count data are thinned binomially with
        ``fraction = dwell_fraction * exposure_s / recorded_exposure_s`` (``exposure_s=None`` means
        the recorded exposure); the random stream depends only on (seed, pixel, fraction). The
        virtual clock advances by ``fraction * recorded_exposure_s + overhead_s``.

        Raises:
            InvalidArgument: no probe set, ``exposure_s <= 0``, a fraction above 1 (counts cannot be
                created), or an exposure other than the recorded one for non-count data.
        """
        self._check_open()
        name = self._resolve_detector(detector, spectrum=True)
        if self._probe is None:
            raise InvalidArgument("acquire_spectrum: no probe position; call set_probe first")
        recorded = self._recorded_exposure_s
        requested = recorded if exposure_s is None else _positive("exposure_s", exposure_s)
        if not self._counts and not math.isclose(requested, recorded, rel_tol=1e-9):
            raise InvalidArgument(
                f"acquire_spectrum: exposure_s={exposure_s} but {self._name} is not count data and "
                f"was recorded at {recorded} s; leave exposure_s null (or equal to recorded_exposure_s)"
            )
        fraction = self._dwell_fraction * requested / recorded
        if fraction > 1.0 + 1e-9:
            raise InvalidArgument(
                f"acquire_spectrum: exposure_s={exposure_s} asks for {fraction:.6g} x the recorded "
                f"dwell ({recorded} s, dwell_fraction={self._dwell_fraction}); a replay cannot create "
                f"counts: use exposure_s <= {recorded / self._dwell_fraction:.6g}"
            )
        fraction = min(fraction, 1.0)
        duration = fraction * recorded + self._overhead_s
        self._check_timeout(duration, timeout_s, "acquire_spectrum")
        py, px = self._probe.yx_px
        raw = self._recording.cube[py, px]
        if self._counts:
            data = thin_counts(raw, fraction, self._seed, (py, px)).astype(np.float64)
        else:
            data = raw.astype(np.float64)
        start = self._time_s
        self._time_s += duration
        self._blanked = True
        return Frame(
            data=data,
            axes=(self._recording.signal_axis,),
            frame_id=self._next_id("spectrum"),
            metadata={
                "backend": "replay",
                "source": self._recording.source,
                "detector": name,
                "time_s": self._time_s,
                "start_time_s": start,
                "duration_s": duration,
                "exposure_s": fraction * recorded,
                "requested_exposure_s": exposure_s,
                "recorded_exposure_s": recorded,
                "thinning_fraction": fraction if self._counts else 1.0,
                "counts": self._counts,
                "seed": self._seed,
                "probe_yx_m": self._probe.yx_m,
                "probe_yx_px": self._probe.yx_px,
                "probe_yx_frac": self._probe.yx_frac,
                "probe_frame_id": self._probe.frame_id,
                "units": "counts" if self._counts else "",
            },
        )

    def blank(self) -> None:
        """Blank the beam (it is blanked anyway except during an acquisition)."""
        self._check_open()
        self._blanked = True

    def unblank(self) -> None:
        """Open the beam until the next acquisition ends (state only: a replay has no dose)."""
        self._check_open()
        self._blanked = False

    def stop(self) -> None:
        """Nothing runs in a replay (virtual clock); blanks the beam as the protocol asks."""
        self._check_open()
        self._blanked = True

    def close(self) -> None:
        """Close (idempotent); later verbs raise :class:`ConnectionLost`. Scoring (``expected_spectra``,
        ``denoised_cube``) still works on the recorded data."""
        self._closed = True

    # ----------------------------------------------------------------------------- ground truth
    def pixels_of(self, yx_m: Sequence[tuple[float, float]] | np.ndarray, field: str = "yx_m") -> np.ndarray:
        """Nearest recorded pixel of each position.

        Args:
            yx_m: (n, 2) positions in the overview calibration (metres; pixels when uncalibrated).

        Returns:
            (n, 2) int64 (row, col).

        Raises:
            InvalidArgument: wrong shape, NaN, or a position outside the recorded field.
        """
        points = np.asarray(yx_m, dtype=np.float64)
        if points.ndim != 2 or points.shape[1] != 2:
            raise InvalidArgument(f"{field} must have shape (n, 2) (y, x), got {points.shape}")
        ay, ax = self._axes
        ny, nx = self.shape_px
        fy = frac_from_value(points[:, 0], ay, self._pitch[0], f"{field}[:, 0]")
        fx = frac_from_value(points[:, 1], ax, self._pitch[1], f"{field}[:, 1]")
        rows = pixel_from_frac(fy, ny, f"{field}[:, 0]")
        cols = pixel_from_frac(fx, nx, f"{field}[:, 1]")
        return np.stack([rows, cols], axis=1)

    def denoised_cube(self) -> np.ndarray:
        """(ny, nx, nE) float32 read-only denoised cube (computed once, see :mod:`.denoise`)."""
        if self._denoised is None:
            cube = denoise_cube(self._recording.cube, counts=self._counts, **self._denoise)
            cube.setflags(write=False)
            self._denoised = cube
        return self._denoised

    @property
    def signal_axis(self) -> Axis:
        """The recorded signal axis, ``(nE,)`` values (:class:`drivers.GroundTruth`)."""
        return self._recording.signal_axis

    def expected_spectra(self, yx_m: np.ndarray) -> np.ndarray:
        """The noise-free truth (:class:`drivers.GroundTruth`): the denoised spectrum at the
        nearest recorded pixel of each position.

        Args:
            yx_m: (n, 2) positions in the overview calibration.

        Returns:
            (n, nE) float64.

        Raises:
            InvalidArgument: wrong shape, NaN, or a position outside the recorded field.
        """
        pixels = self.pixels_of(yx_m)
        return self.denoised_cube()[pixels[:, 0], pixels[:, 1]].astype(np.float64)

    def __repr__(self) -> str:
        ny, nx = self.shape_px
        return (
            f"ReplayDriver({self._name!r}, {ny}x{nx}x{self._recording.signal_axis.size}, "
            f"counts={self._counts}, denoise={self._denoise['method']!r})"
        )
