"""Serve any :class:`drivers.Driver` over Pyro5 (serpent serializer, loopback by default).

``serve(driver)`` starts a Pyro5 daemon in a background thread and returns a :class:`RemoteServer`
handle (``.uri``, ``.shutdown()``, ``.wait()``). The exposed object, :class:`DriverService`, offers the
driver's verbs with arrays as bytes (see :mod:`drivers.remote.wire`) plus ``heartbeat``, ``goodbye``,
``ping`` and ``server_status``.

Security and safety:

* ``secret``: a shared token. The client sends it in the connect handshake and in every call (Pyro5
  annotation ``AUTH``); a missing or wrong token is refused with
  :class:`drivers.remote.errors.AuthenticationError`. This is a token check, not encryption: outside
  loopback, tunnel the port (ssh -L). Serving on a non-loopback address without a secret is refused.
* only the serpent serializer is accepted (Pyro5 has no pickle; marshal/json/msgpack are refused).
* watchdog (:mod:`drivers.remote.sessions`): a session silent for ``watchdog_s`` or whose connection
  drops trips it; the server then blanks the beam (``driver.stop()`` if an acquisition is running,
  which aborts it and blanks).
* the driver is called by one request at a time (a lock), except ``stop()``, which must get through
  while an acquisition runs.
* limits (:class:`drivers.remote.limits.ServerLimits`): a handshake larger than a few kB is refused
  from its header before its body is read, a socket that does not complete its handshake within
  ``handshake_timeout_s`` is dropped, idle sockets hold no thread, requests after authentication
  are bounded, idle connections are dropped, and at most ``max_sessions`` client sessions are served
  (a new one beyond is refused with :class:`drivers.remote.errors.ServerBusy`).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import Pyro5.api
import Pyro5.server
import serpent
from Pyro5.callcontext import current_context
from Pyro5.serializers import SerpentSerializer

from drivers.errors import InvalidArgument, NotSupported
from drivers.protocol import Driver

from .errors import AuthenticationError, ServerBusy, as_driver_error, register_error_classes
from .limits import BUSY_MARKER, ServerLimits, authenticated, install
from .sessions import SessionLimit, SessionTracker
from .wire import capabilities_to_wire, frame_to_wire, probe_to_wire, to_wire

__all__ = ["serve", "start_service", "is_loopback", "RemoteServer", "DriverService", "ServiceBase", "AUTH_MARKER",
           "BUSY_MARKER", "DEFAULT_OBJECT_ID", "ServerLimits"]

log = logging.getLogger(__name__)

AUTH_MARKER = "autoscope-auth"
DEFAULT_OBJECT_ID = "autoscope.driver"


def _token_bytes(secret: str | bytes | None) -> bytes | None:
    if secret is None:
        return None
    return secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            return ipaddress.ip_address(socket.gethostbyname(host)).is_loopback
        except OSError:
            return False


class ServiceBase:
    """Shared machinery of the exposed services: token check, sessions, watchdog, driver lock.

    Args:
        driver: the driver to expose.
        secret: shared token (str or bytes) or ``None`` for none.
        watchdog_s: silence after which a session trips (seconds); ``None``: only dropped
            connections trip.
        limits: the server's bounds (sessions, message sizes, timeouts); default :class:`ServerLimits`.
    """

    def __init__(self, driver: Driver, secret: str | bytes | None = None, watchdog_s: float | None = 5.0,
                 limits: ServerLimits | None = None) -> None:
        self._driver = driver
        self._token = _token_bytes(secret)
        self._driver_lock = threading.RLock()
        self._busy = 0
        self._busy_lock = threading.Lock()
        self._started_s = time.time()
        self.calls = 0
        self._local = threading.local()  # the session of the call on this thread
        self._owner: str | None = None  # the session whose request holds the driver now
        self.limits = limits if limits is not None else ServerLimits()
        self.sessions = SessionTracker(watchdog_s, self._on_trip, max_sessions=self.limits.max_sessions)
        self.transport: Any = None  # the daemon's GuardedTransport, set by start_service

    # -- authentication -------------------------------------------------------------------
    def _token_ok(self, token: bytes | None) -> bool:
        if self._token is None:
            return True
        return token is not None and hmac.compare_digest(self._token, token)

    def _check_handshake(self, data: Any) -> None:
        token = None
        if isinstance(data, Mapping) and data.get("token") is not None:
            try:
                token = serpent.tobytes(data["token"])
            except TypeError:
                token = _token_bytes(str(data["token"]))
        if not self._token_ok(token):
            raise AuthenticationError(f"{AUTH_MARKER}: missing or wrong secret")

    @contextmanager
    def _call(self) -> Iterator[None]:
        """Wrap one remote call: check serializer and token, track the session, type the errors."""
        if current_context.serializer_id != SerpentSerializer.serializer_id:
            raise AuthenticationError("only the serpent serializer is accepted")
        annotations = current_context.annotations or {}
        auth = annotations.get("AUTH")
        if not self._token_ok(None if auth is None else bytes(auth)):
            raise AuthenticationError(f"{AUTH_MARKER}: missing or wrong secret")
        conn = current_context.client
        sess = annotations.get("SESS")
        session_id = bytes(sess).decode("ascii", "replace") if sess else f"conn-{id(conn)}"
        self._begin_session(session_id, conn)
        self._local.session = session_id
        self.calls += 1
        try:
            yield
        except Exception as exc:  # noqa: BLE001 - every error leaves typed
            raise as_driver_error(exc) from None
        finally:
            self.sessions.end_call(session_id)

    def _begin_session(self, session_id: str, conn: Any) -> None:
        try:
            self.sessions.begin_call(session_id, conn)
        except SessionLimit as exc:
            log.warning("refused a new session: %s", exc)
            raise ServerBusy(f"{BUSY_MARKER}: {exc}") from None

    @contextmanager
    def _driver_call(self) -> Iterator[Driver]:
        """Hold the driver lock (one driver request at a time) and mark the driver busy."""
        with self._driver_lock:
            with self._busy_lock:
                self._busy += 1
                previous, self._owner = self._owner, getattr(self._local, "session", None)
            try:
                yield self._driver
            finally:
                with self._busy_lock:
                    self._busy -= 1
                    self._owner = previous

    def _session_id(self) -> str | None:
        sess = (current_context.annotations or {}).get("SESS")
        return bytes(sess).decode("ascii", "replace") if sess else None

    # -- watchdog action ------------------------------------------------------------------
    def _on_trip(self, session_id: str, reason: str) -> None:
        """Stop only what the tripping session runs: another session's acquisition goes on (it
        holds the beam, and its own watchdog guards it); an idle driver is blanked."""
        with self._busy_lock:
            busy, owner = self._busy > 0, self._owner
        if busy and owner == session_id:
            self._driver.stop()  # aborts the tripping session's acquisition and blanks
        elif busy:
            log.warning("watchdog: session %s tripped (%s) while session %s acquires: left running",
                        session_id[:8], reason, str(owner)[:8])
        else:
            with self._driver_lock:
                self._driver.blank()

    # -- verbs common to both services ---------------------------------------------------
    def _status(self) -> dict[str, Any]:
        return {
            "uptime_s": time.time() - self._started_s,
            "calls": self.calls,
            "sessions": self.sessions.session_count(),
            "watchdog_s": self.sessions.watchdog_s,
            "watchdog_trips": len(self.sessions.trips),
            "trip_reasons": [reason for _, _, reason in self.sessions.trips],
            "secret_required": self._token is not None,
            "max_sessions": self.limits.max_sessions,
            "sessions_refused": self.sessions.refused,
            "handshakes_pending": None if self.transport is None else self.transport.gate.pending_count(),
            "connections_refused": {} if self.transport is None else dict(self.transport.gate.refused),
            # the server's own safety layer opens the beam inside each acquisition and refuses
            # an unblank from outside; a client then leaves blanking to it
            "beam_managed_by_server": type(self._driver).__name__ == "SafeDriver",
        }

    def _shutdown(self) -> None:
        self.sessions.close()


@Pyro5.api.expose
class DriverService(ServiceBase):
    """The exposed driver: protocol verbs in wire form plus session verbs."""

    def ping(self) -> str:
        with self._call():
            return "pong"

    def heartbeat(self) -> float:
        """Keep the session alive; returns the server time (s since the epoch)."""
        with self._call():
            return time.time()

    def goodbye(self) -> None:
        """End this session on purpose (the watchdog will not trip for it)."""
        with self._call():
            pass
        session_id = self._session_id()
        if session_id is not None:
            self.sessions.goodbye(session_id)

    def server_status(self) -> dict[str, Any]:
        with self._call():
            return self._status()

    def capabilities(self) -> dict[str, Any]:
        with self._call(), self._driver_call() as driver:
            return capabilities_to_wire(driver.capabilities())

    def state(self) -> dict[str, Any]:
        with self._call(), self._driver_call() as driver:
            fn = getattr(driver, "state", None)
            if fn is None:
                raise NotSupported(f"{type(driver).__name__} has no state() verb")
            return to_wire(dict(fn()))

    def acquire_overview(
        self,
        fov_m: float | None,
        shape_px: list[int] | tuple[int, int] | None,
        dwell_s: float | None,
        detector: str = "HAADF",
        timeout_s: float | None = None,
    ) -> dict[str, Any]:
        with self._call(), self._driver_call() as driver:
            shape = None if shape_px is None else (int(shape_px[0]), int(shape_px[1]))
            frame = driver.acquire_overview(fov_m, shape, dwell_s, detector=detector, timeout_s=timeout_s)
            return frame_to_wire(frame)

    def set_probe(
        self,
        frame_id: str,
        yx_frac: list[float] | tuple[float, float] | None = None,
        yx_m: list[float] | tuple[float, float] | None = None,
    ) -> dict[str, Any]:
        with self._call(), self._driver_call() as driver:
            frac = None if yx_frac is None else (float(yx_frac[0]), float(yx_frac[1]))
            metres = None if yx_m is None else (float(yx_m[0]), float(yx_m[1]))
            return probe_to_wire(driver.set_probe(frame_id, yx_frac=frac, yx_m=metres))

    def acquire_spectrum(self, exposure_s: float, detector: str = "EELS",
                         timeout_s: float | None = None) -> dict[str, Any]:
        with self._call(), self._driver_call() as driver:
            return frame_to_wire(driver.acquire_spectrum(exposure_s, detector=detector, timeout_s=timeout_s))

    def move_stage(self, dy_m: float, dx_m: float, relative: bool = True, timeout_s: float | None = None) -> None:
        with self._call(), self._driver_call() as driver:
            fn = getattr(driver, "move_stage", None)
            if fn is None:
                raise NotSupported(f"{type(driver).__name__} has no move_stage() verb")
            fn(dy_m, dx_m, relative=relative, timeout_s=timeout_s)

    def blank(self) -> None:
        with self._call(), self._driver_call() as driver:
            driver.blank()

    def unblank(self) -> None:
        with self._call(), self._driver_call() as driver:
            driver.unblank()

    def stop(self) -> None:
        """Abort and blank; does not wait for the driver lock (it must interrupt a running call)."""
        with self._call():
            self._driver.stop()


class _Daemon(Pyro5.server.Daemon):
    """Pyro5 daemon that checks the token at connect time and reports dropped connections."""

    def __init__(self, service: ServiceBase, host: str, port: int) -> None:
        super().__init__(host=host, port=port)
        self._service = service
        # accepted sockets wait for their handshake in one selector thread, bounded in size and time
        service.transport = install(self, service.limits)

    def _handshake(self, conn: Any, denied_reason: str | None = None) -> bool:
        ok = super()._handshake(conn, denied_reason)
        if ok:
            authenticated(conn, self._service.limits)
        return ok

    def validateHandshake(self, conn: Any, data: Any) -> Any:  # noqa: N802 - Pyro5 API name
        self._service._check_handshake(data)
        if isinstance(data, Mapping) and isinstance(data.get("session"), str):
            # bind the connection to its session now, so a drop before any call still trips; a new
            # session beyond max_sessions is refused here, before it costs a worker for long
            self._service._begin_session(data["session"], conn)
            self._service.sessions.end_call(data["session"])
        return "hello"

    def clientDisconnect(self, conn: Any) -> None:  # noqa: N802 - Pyro5 API name
        self._service.sessions.disconnected(conn)


class RemoteServer:
    """Handle of a running server: ``uri``, ``shutdown()``, ``wait()``; a context manager."""

    def __init__(self, daemon: _Daemon, service: ServiceBase, uri: str) -> None:
        self._daemon = daemon
        self.service = service
        self.uri = uri
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="autoscope-pyro-daemon", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._daemon.requestLoop(lambda: not self._stopped.is_set())
        finally:
            self._stopped.set()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the server stops (or ``timeout_s`` passes); True if it stopped."""
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def shutdown(self) -> None:
        """Stop serving (idempotent). The driver is left open: its owner closes it."""
        if not self._stopped.is_set():
            self._stopped.set()
            self._daemon.shutdown()
        self._thread.join(timeout=5.0)
        self.service._shutdown()
        self._daemon.close()

    def __enter__(self) -> RemoteServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


def start_service(
    service: ServiceBase,
    host: str,
    port: int,
    secret: str | bytes | None,
    object_id: str,
    allow_insecure: bool,
) -> RemoteServer:
    """Start a daemon for ``service`` (shared by :func:`serve` and the array server)."""
    register_error_classes()
    if not (0 <= int(port) <= 65535):
        raise InvalidArgument(f"port={port} outside 0..65535 (0 picks a free port)")
    if not is_loopback(host) and secret is None and not allow_insecure:
        raise InvalidArgument(
            f"host={host!r} is not loopback and no secret was given: pass secret=... "
            "(or allow_insecure=True on a trusted network)"
        )
    daemon = _Daemon(service, host, int(port))
    uri = daemon.register(service, objectId=object_id)
    return RemoteServer(daemon, service, str(uri))


def serve(
    driver: Driver,
    host: str = "127.0.0.1",
    port: int = 0,
    secret: str | bytes | None = None,
    watchdog_s: float | None = 5.0,
    object_id: str = DEFAULT_OBJECT_ID,
    allow_insecure: bool = False,
    limits: ServerLimits | None = None,
) -> RemoteServer:
    """Expose ``driver`` over Pyro5; returns the running :class:`RemoteServer` (non-blocking).

    Args:
        driver: any object implementing :class:`drivers.Driver` (optionally ``state`` and
            ``move_stage``).
        host: address to bind; loopback by default.
        port: TCP port; 0 picks a free one (read it from ``.uri``).
        secret: shared token the clients must send; ``None``: none required (loopback only unless
            ``allow_insecure``).
        watchdog_s: a client silent this long (seconds) gets the beam blanked; ``None`` disables
            the silence check (dropped connections still blank).
        object_id: Pyro5 object name in the URI.
        allow_insecure: permit a non-loopback ``host`` without a secret.
        limits: sessions, message sizes and timeouts (:class:`ServerLimits`; default: its defaults).
    """
    service = DriverService(driver, secret=secret, watchdog_s=watchdog_s, limits=limits)
    return start_service(service, host, port, secret, object_id, allow_insecure)
