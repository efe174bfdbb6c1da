"""``ArrayServerDriver``: the Driver protocol on top of the ORNL "array server" verbs.

Works with :func:`drivers.remote.serve_array_server` (arrays as bytes) and reads ORNL's original
``(list, shape, dtype)`` answers too. The survey has a fixed field of view set on the server, so
``acquire_overview`` accepts only ``fov_m=None`` or the configured ``fov_m``, and square shapes.
Without a configured ``fov_m`` the overview axes are in pixels (``units="px"``), as the protocol
allows for uncalibrated backends.

Spectra take two calls: ``acquire_camera(exposure)`` (counts, bit-exact) and ``get_eels()`` (the
energy axis). ``blank``/``unblank``/``stop`` use this project's extensions and raise ``NotSupported``
against a server without them. A heartbeat thread keeps the server's watchdog fed (it stops quietly if
the server has no ``heartbeat`` verb).
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from typing import Any

import numpy as np

from drivers.errors import ConnectionLost, DriverError, InstrumentError, InvalidArgument, NotSupported
from drivers.frames import Axis, Capabilities, Frame, ProbeState

from .connection import Connection, new_session_id
from .wire import decode_array_tuple, from_wire

__all__ = ["ArrayServerDriver"]

log = logging.getLogger(__name__)


def _is_missing_verb(exc: DriverError) -> bool:
    text = str(exc)
    return "AttributeError" in text or "has no attribute" in text or "not exposed" in text


class ArrayServerDriver:
    """Driver protocol client for an ORNL-style array server.

    Args:
        uri: the server's URI (``PYRO:array.server@host:port``).
        secret: shared token if the server wants one.
        timeout_s: network timeout of a call (seconds).
        fov_m: the server's survey field of view (metres); ``None``: overview axes in pixels.
        default_size_px: survey side when ``shape_px`` is ``None``.
        default_dwell_s: survey dwell when ``dwell_s`` is ``None`` (seconds; sent as microseconds).
        max_exposure_s: longest exposure this client lets through (seconds).
        heartbeat_s: heartbeat period (seconds); ``None``: no heartbeat.
    """

    def __init__(
        self,
        uri: str,
        secret: str | None = None,
        timeout_s: float = 30.0,
        fov_m: float | None = None,
        default_size_px: int = 256,
        default_dwell_s: float = 2e-6,
        max_exposure_s: float = 60.0,
        heartbeat_s: float | None = 1.0,
    ) -> None:
        if fov_m is not None and not (math.isfinite(fov_m) and fov_m > 0):
            raise InvalidArgument(f"fov_m must be > 0 or None, got {fov_m}")
        if int(default_size_px) < 1:
            raise InvalidArgument(f"default_size_px must be >= 1, got {default_size_px}")
        self.uri = uri
        self.timeout_s = float(timeout_s)
        self.fov_m = fov_m
        self.default_size_px = int(default_size_px)
        self.default_dwell_s = float(default_dwell_s)
        self.max_exposure_s = float(max_exposure_s)
        self.session_id = new_session_id()
        self._main = Connection(uri, secret, self.session_id, timeout_s)
        self._control = Connection(uri, secret, self.session_id, timeout_s)
        self._closed = False
        self._survey: tuple[str, float, int] | None = None  # frame_id, extent, size
        self._camera_active = False
        self._probe: ProbeState | None = None
        self._blanked: bool | None = None
        self._beam_managed: bool | None = None  # asked once, at the first unblank
        self._heartbeat_stop = threading.Event()
        self._heartbeat_thread: threading.Thread | None = None
        if heartbeat_s is not None:
            if not heartbeat_s > 0:
                raise InvalidArgument(f"heartbeat_s must be > 0 or None, got {heartbeat_s}")
            self._heartbeat_thread = threading.Thread(
                target=self._heartbeat_loop, args=(float(heartbeat_s),), name="autoscope-array-heartbeat", daemon=True
            )
            self._heartbeat_thread.start()

    def _call(self, verb: str, *args: Any, timeout_s: float | None = None) -> Any:
        if self._closed:
            raise ConnectionLost("ArrayServerDriver is closed")
        return self._main.call(verb, *args, timeout_s=timeout_s)

    def _extension(self, verb: str, connection: Connection | None = None) -> Any:
        try:
            return (connection or self._main).call(verb)
        except InstrumentError as exc:
            if _is_missing_verb(exc):
                raise NotSupported(f"the array server at {self.uri} has no {verb}() verb") from exc
            raise

    def _heartbeat_loop(self, period_s: float) -> None:
        while not self._heartbeat_stop.wait(period_s):
            try:
                self._control.call("heartbeat", timeout_s=max(period_s, 1.0) * 5)
            except NotSupported:
                log.info("array server %s has no heartbeat verb; heartbeat off", self.uri)
                return
            except InstrumentError as exc:
                if _is_missing_verb(exc):
                    log.info("array server %s has no heartbeat verb; heartbeat off", self.uri)
                    return
                log.warning("heartbeat to %s failed: %s", self.uri, exc)
            except DriverError as exc:
                log.warning("heartbeat to %s failed: %s", self.uri, exc)

    # -- protocol ------------------------------------------------------------------------
    def capabilities(self) -> Capabilities:
        return Capabilities(
            detectors=("HAADF", "EELS"),
            signal_units={"EELS": "eV"},
            max_fov_m=float("nan") if self.fov_m is None else self.fov_m,
            max_exposure_s=self.max_exposure_s,
            verbs=("state",),
            backend="ornl-array-server",
        )

    def state(self) -> dict[str, Any]:
        probe = self._probe
        return {
            "blanked": self._blanked,
            "probe_yx_m": None if probe is None else probe.yx_m,
            "probe_yx_frac": None if probe is None else probe.yx_frac,
            "fov_m": self.fov_m,
            "uri": self.uri,
        }

    def server_status(self) -> dict[str, Any]:
        return from_wire(self._extension("server_status"))

    def acquire_overview(
        self,
        fov_m: float | None,
        shape_px: tuple[int, int] | None,
        dwell_s: float | None,
        detector: str = "HAADF",
        timeout_s: float | None = None,
    ) -> Frame:
        if detector != "HAADF":
            raise NotSupported(f"detector {detector!r}: the array server's survey is 'HAADF'")
        if fov_m is not None and (self.fov_m is None or not math.isclose(fov_m, self.fov_m, rel_tol=1e-9)):
            raise InvalidArgument(
                f"fov_m={fov_m}: the array server's survey field is fixed "
                f"({self.fov_m if self.fov_m is not None else 'uncalibrated'}); pass fov_m=None"
            )
        size = self.default_size_px if shape_px is None else int(shape_px[0])
        if shape_px is not None and (int(shape_px[0]) != int(shape_px[1]) or size < 1):
            raise InvalidArgument(f"shape_px={shape_px}: the survey is square, give (n, n) with n >= 1")
        dwell = self.default_dwell_s if dwell_s is None else float(dwell_s)
        if not (math.isfinite(dwell) and dwell > 0):
            raise InvalidArgument(f"dwell_s={dwell_s} must be > 0")
        wire_timeout = None if timeout_s is None else max(self.timeout_s, float(timeout_s) + 5.0)
        data = decode_array_tuple(self._call("get_ds", size, dwell * 1e6, timeout_s=wire_timeout))
        if data.shape != (size, size):
            raise InstrumentError(f"get_ds({size}) returned shape {data.shape}")
        if self.fov_m is None:
            extent, units = float(size), "px"
            values = np.arange(size, dtype=np.float64) + 0.5
        else:
            extent, units = self.fov_m, "m"
            values = -extent / 2 + (np.arange(size, dtype=np.float64) + 0.5) * (extent / size)
        frame_id = f"ds-{uuid.uuid4().hex[:12]}"
        self._survey = (frame_id, extent, size)
        metadata = {
            "time_s": time.time(),
            "dwell_s": dwell,
            "fov_m": self.fov_m,
            "detector": detector,
            "backend": "ornl-array-server",
        }
        return Frame(data, (Axis("y", units, values), Axis("x", units, values.copy())), frame_id, metadata)

    def set_probe(
        self,
        frame_id: str,
        yx_frac: tuple[float, float] | None = None,
        yx_m: tuple[float, float] | None = None,
    ) -> ProbeState:
        if self._survey is None or frame_id != self._survey[0]:
            raise InvalidArgument(
                f"frame_id {frame_id!r} is not the latest survey: the array server parks the beam "
                "only in its latest survey; acquire_overview again"
            )
        if (yx_frac is None) == (yx_m is None):
            raise InvalidArgument("give exactly one of yx_frac or yx_m")
        _, extent, _size = self._survey
        if yx_frac is not None:
            frac = (float(yx_frac[0]), float(yx_frac[1]))
        else:
            assert yx_m is not None
            origin = 0.0 if self.fov_m is None else -extent / 2
            frac = ((float(yx_m[0]) - origin) / extent, (float(yx_m[1]) - origin) / extent)
        if not all(math.isfinite(f) and 0.0 <= f <= 1.0 for f in frac):
            field = "yx_frac" if yx_frac is not None else "yx_m"
            raise InvalidArgument(f"{field}: probe position {frac} (fraction) is outside [0, 1] of the survey")
        self._call("set_beam_pos", frac[1], frac[0])
        origin = 0.0 if self.fov_m is None else -extent / 2
        metres = (origin + frac[0] * extent, origin + frac[1] * extent)
        self._probe = ProbeState(frame_id, metres, frac, bool(self._blanked))
        return self._probe

    def acquire_spectrum(self, exposure_s: float, detector: str = "EELS", timeout_s: float | None = None) -> Frame:
        if detector != "EELS":
            raise NotSupported(f"detector {detector!r}: the array server's spectrometer is 'EELS'")
        exposure = float(exposure_s)
        if not (math.isfinite(exposure) and 0 < exposure <= self.max_exposure_s):
            raise InvalidArgument(f"exposure_s={exposure_s} outside (0, {self.max_exposure_s}]")
        if self._probe is None:
            raise InvalidArgument("no probe position: call set_probe first")
        if not self._camera_active:
            self._call("activate_camera")
            self._camera_active = True
        wire_timeout = max(self.timeout_s, exposure + 5.0 if timeout_s is None else float(timeout_s) + 5.0)
        counts = decode_array_tuple(self._call("acquire_camera", exposure, timeout_s=wire_timeout))
        table = decode_array_tuple(self._call("get_eels"))
        if counts.ndim != 1 or table.shape != (2, counts.shape[0]):
            raise InstrumentError(
                f"array server returned counts {counts.shape} and get_eels {table.shape}; expected (n,) and (2, n)"
            )
        metadata = {
            "time_s": time.time(),
            "exposure_s": exposure,
            "probe_yx_m": self._probe.yx_m,
            "probe_yx_frac": self._probe.yx_frac,
            "detector": detector,
            "backend": "ornl-array-server",
        }
        return Frame(counts, (Axis("energy_loss", "eV", table[0]),), f"eels-{uuid.uuid4().hex[:12]}", metadata)

    def blank(self) -> None:
        self._extension("blank")
        self._blanked = True

    def unblank(self) -> None:
        """Unblank on the server, unless the server's safety layer manages the beam itself
        (``server_status()["beam_managed_by_server"]``: it opens the beam inside every acquisition
        and refuses an unblank from outside); then a no-op, so the client's safety layer (the app's
        default) and the server's (``autoscope-serve``'s default) can both be on. A server without
        ``server_status`` (ORNL's original) is asked to unblank."""
        if self._beam_managed is None:
            try:
                self._beam_managed = bool(self.server_status().get("beam_managed_by_server", False))
            except NotSupported:
                self._beam_managed = False
        if not self._beam_managed:
            self._extension("unblank")
        self._blanked = False

    def stop(self) -> None:
        self._extension("stop", self._control)
        self._blanked = True

    def close(self) -> None:
        """Blank (if the server can), say goodbye, close the sockets (idempotent)."""
        if self._closed:
            return
        self._heartbeat_stop.set()
        if self._heartbeat_thread is not None:
            self._heartbeat_thread.join(timeout=5.0)
        for verb in ("blank", "goodbye"):
            try:
                self._extension(verb, self._control)
            except DriverError as exc:
                log.info("closing ArrayServerDriver: %s() on %s failed: %s", verb, self.uri, exc)
        self._closed = True
        self._main.close()
        self._control.close()

    def __enter__(self) -> ArrayServerDriver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
