"""The ORNL DigitalMicrograph "array server" verb set, served on top of any :class:`drivers.Driver`.

ORNL's Pyro5 server beside DigitalMicrograph exposes a handful of verbs and returns arrays as
``(list, shape, dtype)``. This adapter keeps the verb names and argument order so clients written for
it work unchanged, but returns arrays as ``(bytes, shape, dtype)`` (``bytes``: C-ordered raw data,
``shape``: list of ints, ``dtype``: ``numpy.dtype.str`` such as ``"<f4"``); a list costs seconds for a
megapixel image, bytes milliseconds. Serpent delivers the bytes as a base64 dict: decode with
``serpent.tobytes`` (:func:`drivers.remote.wire.decode_array_tuple` does it).

Verbs (units as in DigitalMicrograph's DigiScan where it has one):

``get_ds(size, pixel_time)``
    Survey image ``size x size`` pixels, ``pixel_time`` in **microseconds** per pixel, over the
    adapter's ``fov_m`` (``None``: the driver's default field). Returns ``(bytes, shape, dtype)``.
``set_beam_pos(x, y)``
    Park the beam at fractions ``x`` (column) and ``y`` (row), each in [0, 1], of the last survey.
``activate_camera()``
    Ready the spectrometer; must precede ``acquire_camera``.
``acquire_camera(exposure)``
    Expose ``exposure`` **seconds** at the beam position; returns the spectrum counts as
    ``(bytes, shape, dtype)`` in the driver's own dtype (bit-exact).
``get_eels()``
    The last spectrum with its energy axis: a ``(2, n)`` float64 array, row 0 energy loss (eV), row 1
    counts, as ``(bytes, shape, dtype)``.

Extensions (not in ORNL's set): ``blank()``, ``unblank()``, ``stop()``, ``heartbeat()``,
``goodbye()``, ``server_status()``. The adapter neither blanks nor unblanks around acquisitions:
serve a :class:`drivers.safety.SafeDriver` (``autoscope-serve`` does by default) so the beam is
open only during each acquisition. Token, serializer and watchdog rules are those of
:mod:`drivers.remote.server`; ``watchdog_s`` defaults to ``None`` here because ORNL clients send no
heartbeat (a dropped connection still blanks).
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any

import numpy as np
import Pyro5.api

from drivers.errors import InvalidArgument, NotSupported
from drivers.frames import Frame
from drivers.protocol import Driver

from .server import RemoteServer, ServerLimits, ServiceBase, start_service

__all__ = ["ArrayServerService", "serve_array_server", "ARRAY_SERVER_OBJECT_ID", "array_tuple"]

ARRAY_SERVER_OBJECT_ID = "array.server"


def array_tuple(array: np.ndarray) -> tuple[bytes, list[int], str]:
    """``(bytes, shape, dtype)`` of a numeric array (C order)."""
    arr = np.asarray(array)
    if not arr.flags.c_contiguous:
        arr = np.array(arr, order="C")
    if arr.dtype.kind not in "biufc":
        raise InvalidArgument(f"array dtype {arr.dtype} cannot travel; use a numeric array")
    return arr.tobytes(order="C"), [int(n) for n in arr.shape], arr.dtype.str


@Pyro5.api.expose
class ArrayServerService(ServiceBase):
    """ORNL-style verbs over a driver.

    Args:
        driver: the driver to expose (ideally wrapped in :class:`drivers.safety.SafeDriver`).
        fov_m: survey field of view (metres); ``None``: the driver's default.
        detector: image detector used by ``get_ds``.
        spectrometer: detector used by ``acquire_camera``.
        secret: shared token or ``None``.
        watchdog_s: silence after which a session trips (seconds), ``None``: only drops trip.
    """

    def __init__(
        self,
        driver: Driver,
        fov_m: float | None = None,
        detector: str = "HAADF",
        spectrometer: str = "EELS",
        secret: str | bytes | None = None,
        watchdog_s: float | None = None,
        limits: ServerLimits | None = None,
    ) -> None:
        super().__init__(driver, secret=secret, watchdog_s=watchdog_s, limits=limits)
        self._fov_m = fov_m
        self._detector = detector
        self._spectrometer = spectrometer
        self._state_lock = threading.Lock()
        self._survey: Frame | None = None
        self._spectrum: Frame | None = None
        self._camera_active = False

    # -- ORNL verbs ----------------------------------------------------------------------
    def get_ds(self, size: int, pixel_time: float) -> tuple[bytes, list[int], str]:
        with self._call(), self._driver_call() as driver:
            if isinstance(size, bool) or int(size) != size or int(size) < 1:
                raise InvalidArgument(f"size={size!r} must be a positive integer (pixels per side)")
            pixel_time_us = float(pixel_time)
            if not (math.isfinite(pixel_time_us) and pixel_time_us > 0):
                raise InvalidArgument(f"pixel_time={pixel_time!r} must be > 0 (microseconds)")
            frame = driver.acquire_overview(
                self._fov_m, (int(size), int(size)), pixel_time_us * 1e-6, detector=self._detector
            )
            with self._state_lock:
                self._survey = frame
            return array_tuple(frame.data)

    def set_beam_pos(self, x: float, y: float) -> None:
        with self._call(), self._driver_call() as driver:
            with self._state_lock:
                survey = self._survey
            if survey is None:
                raise InvalidArgument("no survey image yet: call get_ds(size, pixel_time) first")
            driver.set_probe(survey.frame_id, yx_frac=(float(y), float(x)))

    def activate_camera(self) -> None:
        with self._call():
            with self._state_lock:
                self._camera_active = True

    def acquire_camera(self, exposure: float) -> tuple[bytes, list[int], str]:
        with self._call(), self._driver_call() as driver:
            with self._state_lock:
                active = self._camera_active
            if not active:
                raise InvalidArgument("camera not active: call activate_camera() first")
            frame = driver.acquire_spectrum(float(exposure), detector=self._spectrometer)
            with self._state_lock:
                self._spectrum = frame
            return array_tuple(frame.data)

    def get_eels(self) -> tuple[bytes, list[int], str]:
        with self._call():
            with self._state_lock:
                frame = self._spectrum
            if frame is None:
                raise InvalidArgument("no spectrum yet: call acquire_camera(exposure) first")
            if frame.data.ndim != 1:
                raise NotSupported(f"get_eels needs a 1-D spectrum, the driver gave shape {frame.data.shape}")
            axis = frame.signal_axis
            if axis.units != "eV":
                raise NotSupported(f"get_eels needs an energy axis in eV, the driver gave {axis.units!r}")
            return array_tuple(np.stack([axis.values, frame.data.astype(np.float64)]))

    # -- extensions ----------------------------------------------------------------------
    def blank(self) -> None:
        with self._call(), self._driver_call() as driver:
            driver.blank()

    def unblank(self) -> None:
        with self._call(), self._driver_call() as driver:
            driver.unblank()

    def stop(self) -> None:
        with self._call():
            self._driver.stop()

    def heartbeat(self) -> float:
        with self._call():
            return time.time()

    def goodbye(self) -> None:
        with self._call():
            pass
        session_id = self._session_id()
        if session_id is not None:
            self.sessions.goodbye(session_id)

    def server_status(self) -> dict[str, Any]:
        with self._call():
            status = self._status()
            status["fov_m"] = self._fov_m
            return status


def serve_array_server(
    driver: Driver,
    host: str = "127.0.0.1",
    port: int = 0,
    secret: str | bytes | None = None,
    watchdog_s: float | None = None,
    fov_m: float | None = None,
    detector: str = "HAADF",
    spectrometer: str = "EELS",
    object_id: str = ARRAY_SERVER_OBJECT_ID,
    allow_insecure: bool = False,
    limits: ServerLimits | None = None,
) -> RemoteServer:
    """Serve ``driver`` with the ORNL verb set; returns the running :class:`RemoteServer`.

    Arguments as :func:`drivers.remote.serve`, plus the survey ``fov_m`` (metres), the image
    ``detector`` and the ``spectrometer`` used by the verbs.
    """
    service = ArrayServerService(
        driver, fov_m=fov_m, detector=detector, spectrometer=spectrometer, secret=secret, watchdog_s=watchdog_s,
        limits=limits,
    )
    return start_service(service, host, port, secret, object_id, allow_insecure)
