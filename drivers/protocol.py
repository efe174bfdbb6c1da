"""The ``Driver`` protocol: the small verb set every instrument backend implements.

Modelled on Nion Swift instrumentation's hardware sources and the ORNL remote-server verbs. A driver
owns only its connection; the experiment loop owns all experiment state. Every verb raises the typed
errors of :mod:`drivers.errors`; none clamps an out-of-range argument.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from .frames import Axis, Capabilities, Frame, ProbeState

if TYPE_CHECKING:  # the replay package imports its denoisers: only runs that replay pay for it
    from .replay.recording import Recording

__all__ = ["Driver", "GroundTruth", "Replay", "Stage", "Stateful", "TimedAcquisition", "Wrapper"]


@runtime_checkable
class Driver(Protocol):
    def capabilities(self) -> Capabilities:
        """Detectors, signal units, limits and optional verbs of this backend."""
        ...

    def acquire_overview(
        self,
        fov_m: float | None,
        shape_px: tuple[int, int] | None,
        dwell_s: float | None,
        detector: str = "HAADF",
        timeout_s: float | None = None,
    ) -> Frame:
        """Scan a square field of view ``fov_m`` (metres) into a ``(ny, nx)`` image.

        ``None`` for ``fov_m``, ``shape_px`` or ``dwell_s`` means the backend's own default (a replay
        of recorded data has only its native field and shape, and refuses any other with
        ``InvalidArgument``). Returns a frame whose two axes are calibrated (metres, or ``"px"`` where
        the recording has no calibration), values at pixel centres.
        """
        ...

    def set_probe(
        self,
        frame_id: str,
        yx_frac: tuple[float, float] | None = None,
        yx_m: tuple[float, float] | None = None,
    ) -> ProbeState:
        """Park the probe, given exactly one of: a (y, x) fraction in [0, 1] of the overview
        ``frame_id``, or (y, x) metres in that frame's calibration. Out of range: ``InvalidArgument``."""
        ...

    def acquire_spectrum(
        self, exposure_s: float, detector: str = "EELS", timeout_s: float | None = None
    ) -> Frame:
        """Expose at the current probe position; returns a 1-D frame with a calibrated signal axis."""
        ...

    def blank(self) -> None: ...

    def unblank(self) -> None: ...

    def stop(self) -> None:
        """Abort whatever is running and blank the beam."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class Stateful(Protocol):
    """Optional verb: a plain-dict snapshot of the instrument (probe, beam, dose, stage, clock)."""

    def state(self) -> dict[str, Any]: ...


@runtime_checkable
class Stage(Protocol):
    """Optional verb: a motorised stage."""

    def move_stage(self, dy_m: float, dx_m: float, relative: bool = True,
                   timeout_s: float | None = None) -> None:
        """Move by ``(dy_m, dx_m)`` metres (``relative``) or to that position."""
        ...


@runtime_checkable
class TimedAcquisition(Protocol):
    """Optional verb: how long an acquisition with these arguments takes on this instrument (the
    safety layer sizes its timeouts from it)."""

    def acquisition_time_s(self, verb: str, **args: Any) -> float:
        """Seconds of instrument time ``verb`` (``"acquire_overview"``, ``"acquire_spectrum"``)
        needs with these keyword arguments (``shape_px``, ``dwell_s``, ``exposure_s``)."""
        ...


@runtime_checkable
class GroundTruth(Protocol):
    """Optional capability of drivers that know the noise-free signal at any position (emulators, the
    replay's denoised cube). Scoring only: the truth never reaches the policy. A driver hands out
    spectra, never target values: a reward is applied by :func:`rewards.evaluate_at`."""

    @property
    def signal_axis(self) -> Axis:
        """The signal axis of every expected spectrum, ``(n_channels,)`` values."""
        ...

    def expected_spectra(self, yx_m: np.ndarray) -> np.ndarray:
        """Noise-free signal at ``yx_m: (n, 2)`` (y, x) metres in the overview calibration ->
        ``(n, n_channels)`` float64 (emulators: expected counts at their ``default_exposure_s``;
        a replay: the denoised spectrum of the nearest recorded pixel). A position outside the
        field or a malformed ``yx_m`` raises ``InvalidArgument``."""
        ...


@runtime_checkable
class Wrapper(Protocol):
    """A driver that wraps another one and forwards to it (the safety layer, the fault injector)."""

    inner: Driver
    """The wrapped driver."""


@runtime_checkable
class Replay(Driver, Protocol):
    """Optional capability of a driver that replays one recording (:class:`drivers.replay.ReplayDriver`):
    one field, one grid and the recorded detectors, which the experiment's settings must fit
    (:func:`agent.preflight.fit_recording`). Checking it imports nothing from :mod:`drivers.replay`."""

    @property
    def recording(self) -> Recording:
        """The recorded data: ``cube`` ``(ny, nx, n_channels)``, ``image`` ``(ny, nx)``,
        ``shape_px``, detector names (``spectrum_name``, ``image_name``, ``extra_images``)."""
        ...

    @property
    def native_fov_m(self) -> float | None:
        """Largest side of the recorded field (metres; ``None`` when uncalibrated)."""
        ...
