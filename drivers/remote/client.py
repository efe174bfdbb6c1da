"""``RemoteDriver``: the Driver protocol over Pyro5, talking to :func:`drivers.remote.serve`.

It holds two connections to the server under one session id: the *main* one for the verbs, and a
*control* one for ``stop()`` (which must get through while an acquisition occupies the main one) and
for the heartbeat thread, which calls ``heartbeat()`` every ``heartbeat_s`` so the server's watchdog
knows the client is alive. ``close()`` blanks the beam, says goodbye (the watchdog then leaves the
session alone) and closes both sockets; it does not close the instrument (the server owns it).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
from typing import Any

from drivers.errors import ConnectionLost, DriverError, InvalidArgument
from drivers.frames import Capabilities, Frame, ProbeState

from .connection import Connection, new_session_id
from .wire import capabilities_from_wire, frame_from_wire, from_wire, probe_from_wire

__all__ = ["RemoteDriver"]

log = logging.getLogger(__name__)

_CLIENT_VERBS = ("state", "move_stage")

# a call that passes its own timeout_s to the instrument gets this much extra time on the wire
_WIRE_MARGIN_S = 5.0


class RemoteDriver:
    """Driver protocol client for a served driver.

    Args:
        uri: the server's URI, ``PYRO:autoscope.driver@127.0.0.1:<port>`` (printed by
            ``autoscope-serve``).
        secret: shared token if the server wants one.
        timeout_s: network timeout of a call that has no ``timeout_s`` of its own (seconds).
        heartbeat_s: period of the heartbeat (seconds); keep it well below the server's
            ``watchdog_s``. ``None`` disables the heartbeat (the watchdog then trips after
            ``watchdog_s`` of silence).
        connect: contact the server in the constructor (``ping``) so a wrong URI or secret fails
            here rather than at the first verb.
    """

    def __init__(
        self,
        uri: str,
        secret: str | None = None,
        timeout_s: float = 30.0,
        heartbeat_s: float | None = 1.0,
        connect: bool = True,
    ) -> None:
        if heartbeat_s is not None and not (math.isfinite(heartbeat_s) and heartbeat_s > 0):
            raise InvalidArgument(f"heartbeat_s must be > 0 or None, got {heartbeat_s}")
        self.uri = uri
        self.timeout_s = float(timeout_s)
        self.heartbeat_s = heartbeat_s
        self.session_id = new_session_id()
        self._main = Connection(uri, secret, self.session_id, timeout_s)
        self._control = Connection(uri, secret, self.session_id, timeout_s)
        self._closed = False
        self._heartbeat_stop = threading.Event()
        self._heartbeat_thread: threading.Thread | None = None
        self.heartbeat_failures = 0
        self._beam_managed: bool | None = None
        if connect:
            self._main.call("ping")
        if heartbeat_s is not None:
            self._heartbeat_thread = threading.Thread(
                target=self._heartbeat_loop, name="autoscope-heartbeat", daemon=True
            )
            self._heartbeat_thread.start()

    # -- plumbing ------------------------------------------------------------------------
    def _call(self, verb: str, *args: Any, timeout_s: float | None = None, **kwargs: Any) -> Any:
        if self._closed:
            raise ConnectionLost("RemoteDriver is closed")
        wire_timeout = None if timeout_s is None else max(self.timeout_s, float(timeout_s) + _WIRE_MARGIN_S)
        return self._main.call(verb, *args, timeout_s=wire_timeout, **kwargs)

    def _heartbeat_loop(self) -> None:
        assert self.heartbeat_s is not None
        while not self._heartbeat_stop.wait(self.heartbeat_s):
            try:
                self._control.call("heartbeat", timeout_s=max(self.heartbeat_s, 1.0) * 5)
            except DriverError as exc:
                self.heartbeat_failures += 1
                log.warning("heartbeat to %s failed: %s", self.uri, exc)

    def pause_heartbeat(self) -> None:
        """Stop sending heartbeats (for tests of the server's watchdog; not undone)."""
        self._heartbeat_stop.set()
        if self._heartbeat_thread is not None:
            self._heartbeat_thread.join(timeout=5.0)

    # -- protocol ------------------------------------------------------------------------
    def capabilities(self) -> Capabilities:
        """The served driver's capabilities; ``verbs`` lists only the optional verbs this client
        offers (``state``, ``move_stage``) that the served driver has."""
        caps = capabilities_from_wire(self._call("capabilities"))
        return dataclasses.replace(caps, verbs=tuple(v for v in caps.verbs if v in _CLIENT_VERBS))

    def state(self) -> dict[str, Any]:
        """The server-side driver's ``state()`` (``NotSupported`` if it has none)."""
        return from_wire(self._call("state"))

    def server_status(self) -> dict[str, Any]:
        """Server bookkeeping: calls, sessions, ``watchdog_trips`` and their reasons."""
        return from_wire(self._call("server_status"))

    def acquire_overview(
        self,
        fov_m: float | None,
        shape_px: tuple[int, int] | None,
        dwell_s: float | None,
        detector: str = "HAADF",
        timeout_s: float | None = None,
    ) -> Frame:
        shape = None if shape_px is None else [int(shape_px[0]), int(shape_px[1])]
        message = self._call(
            "acquire_overview", fov_m, shape, dwell_s, detector=detector, timeout_s=timeout_s
        )
        return frame_from_wire(message)

    def set_probe(
        self,
        frame_id: str,
        yx_frac: tuple[float, float] | None = None,
        yx_m: tuple[float, float] | None = None,
    ) -> ProbeState:
        frac = None if yx_frac is None else [float(yx_frac[0]), float(yx_frac[1])]
        metres = None if yx_m is None else [float(yx_m[0]), float(yx_m[1])]
        return probe_from_wire(self._call("set_probe", frame_id, yx_frac=frac, yx_m=metres))

    def acquire_spectrum(self, exposure_s: float, detector: str = "EELS", timeout_s: float | None = None) -> Frame:
        return frame_from_wire(
            self._call("acquire_spectrum", float(exposure_s), detector=detector, timeout_s=timeout_s)
        )

    def move_stage(self, dy_m: float, dx_m: float, relative: bool = True, timeout_s: float | None = None) -> None:
        self._call("move_stage", float(dy_m), float(dx_m), relative=bool(relative), timeout_s=timeout_s)

    def blank(self) -> None:
        self._call("blank")

    def unblank(self) -> None:
        """Unblank on the server, unless the server's safety layer manages the beam itself (it
        opens the beam inside every acquisition and refuses an unblank from outside): then a no-op,
        so a client-side safety layer and the server's can both be on."""
        if self._beam_managed is None:
            self._beam_managed = bool(self.server_status().get("beam_managed_by_server", False))
        if not self._beam_managed:
            self._call("unblank")

    def stop(self) -> None:
        """Abort the running acquisition and blank (over the control connection)."""
        if self._closed:
            raise ConnectionLost("RemoteDriver is closed")
        self._control.call("stop")

    def close(self) -> None:
        """Blank, say goodbye, close the sockets (idempotent; the server keeps running)."""
        if self._closed:
            return
        self._heartbeat_stop.set()
        if self._heartbeat_thread is not None:
            self._heartbeat_thread.join(timeout=5.0)
        try:
            self._control.call("blank", timeout_s=min(self.timeout_s, 10.0))
            self._control.call("goodbye", timeout_s=min(self.timeout_s, 10.0))
        except DriverError as exc:
            log.warning("closing RemoteDriver: could not blank/goodbye on %s: %s", self.uri, exc)
        finally:
            self._closed = True
            self._main.close()
            self._control.close()

    def __enter__(self) -> RemoteDriver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
