"""Limits of a served driver against clients that do not know the secret (or misbehave with it).

Pyro5's thread-pool server hands every accepted socket to a worker thread that blocks reading the
connect handshake, with no size limit below ``MAX_MESSAGE_SIZE`` (1 GB, checked on the header but
then read in full) and no timeout; when its 80 workers are taken, the accepting thread itself blocks
reading the handshake of the connection it denies. So a 100 MB unauthenticated handshake was read
into memory, and 120 idle sockets locked real clients out.

Here (:class:`GuardedTransport`, installed by :class:`drivers.remote.server.RemoteServer`'s daemon):

* **pre-authentication gate**: accepted sockets go to one selector thread, not to a worker. It
  reads the 40-byte Pyro header without blocking, refuses (a ``CONNECTFAIL`` naming the limit,
  then close) a message that is not a connect, is compressed, or announces more than
  ``handshake_max_bytes`` -- before reading its body -- and drops a socket that has not delivered
  its whole handshake within ``handshake_timeout_s``. At most ``max_pending`` sockets wait there
  (the oldest is dropped for a newer one), each buffering at most ``40 + handshake_max_bytes``.
  Idle or slow sockets hold no thread, so a real client's handshake is answered at once.
* only a complete, small handshake reaches a worker (``_handshake`` then reads it from the
  buffer); after it passes, the connection accepts requests up to ``request_max_bytes`` each (the
  size is checked from the header, before the body is read) and is dropped after ``idle_timeout_s``
  without a request.
* workers are bounded (``2 * max_sessions + 16``); a connection beyond them is refused with a
  message. The number of client sessions is bounded by :class:`drivers.remote.sessions.SessionTracker`
  (``max_sessions``), checked at the handshake: a session beyond it is refused with
  :data:`BUSY_MARKER` in the message (the client raises :class:`drivers.remote.errors.ServerBusy`).
"""

from __future__ import annotations

import collections
import contextlib
import logging
import queue
import selectors
import socket
import struct
import threading
import time
from dataclasses import dataclass
from typing import Any

from Pyro5 import config, protocol, socketutil
from Pyro5 import errors as pyro_errors
from Pyro5.serializers import MarshalSerializer
from Pyro5.svr_threads import ClientConnectionJob, NoFreeWorkersError, Pool, SocketServer_Threadpool, Worker

__all__ = ["ServerLimits", "GuardedTransport", "GuardedConnection", "BUSY_MARKER", "install"]

log = logging.getLogger(__name__)

#: In the refusal message of a session or connection beyond the server's bounds.
BUSY_MARKER = "autoscope-busy"

_HEADER = protocol._header_size  # 40 bytes
_HEADER_FORMAT = protocol._header_format


@dataclass(frozen=True)
class ServerLimits:
    """Bounds of one server.

    Attributes:
        handshake_max_bytes: largest connect handshake (annotations + data) read before the secret
            is checked; a client's handshake is a few hundred bytes.
        handshake_timeout_s: a socket must deliver its whole handshake within this time.
        request_max_bytes: largest request after authentication (requests are small: replies,
            which carry the frames, are not limited here).
        idle_timeout_s: an authenticated connection without a request for this long is dropped
            (its session then trips the watchdog, which blanks); ``None``: never.
        max_sessions: client sessions at once (one :class:`RemoteDriver` is one session on two
            connections); a new one beyond is refused.
        max_pending: sockets waiting to complete their handshake; the oldest is dropped for a new one.
    """

    handshake_max_bytes: int = 8192
    handshake_timeout_s: float = 5.0
    request_max_bytes: int = 64 * 2**20
    idle_timeout_s: float | None = 3600.0
    max_sessions: int = 64
    max_pending: int = 256

    def __post_init__(self) -> None:
        for name in ("handshake_max_bytes", "request_max_bytes", "max_sessions", "max_pending"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.handshake_timeout_s > 0:
            raise ValueError(f"handshake_timeout_s must be > 0, got {self.handshake_timeout_s}")
        if self.idle_timeout_s is not None and not self.idle_timeout_s > 0:
            raise ValueError(f"idle_timeout_s must be > 0 or None, got {self.idle_timeout_s}")

    @property
    def max_workers(self) -> int:
        return 2 * int(self.max_sessions) + 16


class GuardedConnection(socketutil.SocketConnection):
    """A client socket that serves an already-read prefix first and refuses oversized messages.

    ``recv(size)`` raises ``ProtocolError`` *before reading* when ``size`` exceeds ``max_recv``:
    Pyro5 reads a message as header (6 + 34 bytes), then one ``recv`` of the whole body.
    """

    def __init__(self, sock: socket.socket, prefix: bytes, max_recv: int) -> None:
        super().__init__(sock)
        self._prefix = bytes(prefix)
        self.max_recv = int(max_recv)
        self.authenticated = False

    def recv(self, size: int) -> bytes:
        if size > self.max_recv:
            what = "request" if self.authenticated else "message before authentication"
            raise pyro_errors.ProtocolError(f"{what} of {size} bytes refused: more than {self.max_recv} bytes")
        if self._prefix:
            head, self._prefix = self._prefix[:size], self._prefix[size:]
            if len(head) == size:
                return head
            return head + super().recv(size - len(head))
        return super().recv(size)


class _SizedPool(Pool):
    """Pyro5's worker pool with its own maximum (instead of the process-wide THREADPOOL_SIZE)."""

    def __init__(self, max_workers: int) -> None:
        super().__init__()
        self.max_workers = int(max_workers)

    def process(self, job: Any) -> None:
        if self.closed:
            raise pyro_errors.PyroError("job queue is closed")
        if self.idle:
            worker = self.idle.pop()
        elif self.num_workers() < self.max_workers:
            worker = Worker(self)
            worker.start()
        else:
            raise NoFreeWorkersError(f"{BUSY_MARKER}: all {self.max_workers} connections of the server "
                                     f"are in use; close another client")
        self.busy.add(worker)
        worker.process(job)


class _Job(ClientConnectionJob):
    def __init__(self, conn: GuardedConnection, addr: Any, daemon: Any) -> None:
        self.csock = conn
        self.caddr = addr
        self.daemon = daemon


@dataclass
class _Pending:
    sock: socket.socket
    addr: Any
    deadline: float
    buf: bytearray
    need: int = _HEADER  # bytes wanted in total: header first, then header + body


class _Gate:
    """The pre-authentication stage: one selector thread for every socket not yet through its handshake."""

    def __init__(self, transport: GuardedTransport, limits: ServerLimits) -> None:
        self.transport = transport
        self.limits = limits
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)
        self._incoming: queue.SimpleQueue[tuple[socket.socket, Any]] = queue.SimpleQueue()
        self._pending: collections.OrderedDict[int, _Pending] = collections.OrderedDict()
        self._stop = threading.Event()
        self.refused: collections.Counter[str] = collections.Counter()
        self._thread = threading.Thread(target=self._loop, name="autoscope-handshake-gate", daemon=True)
        self._thread.start()

    # called by the accepting thread
    def admit(self, sock: socket.socket, addr: Any) -> None:
        self._incoming.put((sock, addr))
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")

    def pending_count(self) -> int:
        return len(self._pending)

    def _drop(self, p: _Pending, reason: str) -> None:
        self._pending.pop(id(p.sock), None)
        with contextlib.suppress(Exception):
            self._sel.unregister(p.sock)
        self.refused[reason] += 1
        log.debug("handshake gate: dropped %s (%s)", p.addr, reason)
        with contextlib.suppress(OSError):
            p.sock.close()

    def _refuse(self, p: _Pending, message: str, reason: str) -> None:
        """Answer with a CONNECTFAIL naming the limit (best effort, without reading more), then drop."""
        log.warning("handshake gate: refused %s: %s", p.addr, message)
        with contextlib.suppress(Exception):
            p.sock.setblocking(True)
            p.sock.settimeout(0.5)
            ser = MarshalSerializer()  # what Pyro5's own handshake failure answers with
            p.sock.sendall(protocol.SendingMessage(protocol.MSG_CONNECTFAIL, 0, 0, ser.serializer_id,
                                                   ser.dumps(message)).data)
        self._drop(p, reason)

    def _register_incoming(self) -> None:
        while True:
            try:
                sock, addr = self._incoming.get_nowait()
            except queue.Empty:
                return
            while len(self._pending) >= self.limits.max_pending:
                _, oldest = next(iter(self._pending.items()))
                self._drop(oldest, "evicted by newer connection")
            try:
                sock.setblocking(False)
                p = _Pending(sock, addr, time.monotonic() + self.limits.handshake_timeout_s, bytearray())
                self._sel.register(sock, selectors.EVENT_READ, p)
            except (OSError, ValueError):
                with contextlib.suppress(OSError):
                    sock.close()
                continue
            self._pending[id(sock)] = p

    def _read(self, p: _Pending) -> None:
        try:
            chunk = p.sock.recv(p.need - len(p.buf))
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._drop(p, "connection error")
            return
        if not chunk:
            self._drop(p, "closed before the handshake")
            return
        p.buf.extend(chunk)
        if p.need == _HEADER and len(p.buf) == _HEADER:
            try:
                protocol.ReceivingMessage.validate(bytes(p.buf))
                (_tag, _ver, msgtype, _ser, flags, _seq, data_size, ann_size, _corr, _r, _magic
                 ) = struct.unpack(_HEADER_FORMAT, bytes(p.buf))
            except (pyro_errors.ProtocolError, ValueError, struct.error):
                self._drop(p, "not a Pyro message")
                return
            if msgtype != protocol.MSG_CONNECT:
                self._refuse(p, "a connect handshake must come first", "not a connect")
                return
            if flags & protocol.FLAGS_COMPRESSED:
                self._refuse(p, "a compressed handshake is refused", "compressed")
                return
            size = int(data_size) + int(ann_size)
            if size > self.limits.handshake_max_bytes:
                self._refuse(p, f"handshake of {size} bytes refused before authentication: more than "
                                f"{self.limits.handshake_max_bytes} bytes", "handshake too large")
                return
            p.need = _HEADER + size
        if len(p.buf) == p.need:
            self._pending.pop(id(p.sock), None)
            self._sel.unregister(p.sock)
            self.transport.dispatch(p.sock, p.addr, bytes(p.buf))

    def _expire(self) -> float:
        now = time.monotonic()
        while self._pending:
            _, oldest = next(iter(self._pending.items()))
            if oldest.deadline > now:
                return oldest.deadline - now
            self._drop(oldest, "handshake timeout")
        return 1.0

    def _loop(self) -> None:
        while not self._stop.is_set():
            timeout = min(self._expire(), 1.0)
            try:
                events = self._sel.select(max(0.0, timeout))
            except OSError:
                events = []
            for key, _ in events:
                if key.data is None:
                    with contextlib.suppress(OSError):
                        while self._wake_r.recv(4096):
                            pass
                    continue
                if id(key.fileobj) in self._pending:
                    try:
                        self._read(key.data)
                    except Exception:  # noqa: BLE001 - one bad socket must not stop the gate
                        log.exception("handshake gate: reading %s failed", key.data.addr)
                        self._drop(key.data, "error")
            self._register_incoming()

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        self._thread.join(timeout=2.0)
        for p in list(self._pending.values()):
            self._drop(p, "server shutdown")
        while True:
            try:
                sock, _ = self._incoming.get_nowait()
            except queue.Empty:
                break
            with contextlib.suppress(OSError):
                sock.close()
        with contextlib.suppress(Exception):
            self._sel.close()
        for s in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                s.close()


class GuardedTransport(SocketServer_Threadpool):
    """Pyro5's thread-pool transport with the pre-authentication gate and bounded workers."""

    limits: ServerLimits
    gate: _Gate
    pool: Any  # Pyro5's worker pool, replaced by a bounded one in guard()

    def guard(self, limits: ServerLimits) -> None:
        self.limits = limits
        old, self.pool = self.pool, _SizedPool(limits.max_workers)
        old.close()
        self.gate = _Gate(self, limits)

    def events(self, eventsockets: Any) -> None:
        assert self.sock in eventsockets
        with contextlib.suppress(socket.timeout):
            if not self._selector.select(config.POLLTIMEOUT):
                return
            csock, caddr = self.sock.accept()
            if self.shutting_down:
                csock.close()
                return
            self.gate.admit(csock, caddr)

    def dispatch(self, sock: socket.socket, addr: Any, handshake: bytes) -> None:
        """A complete handshake arrived (gate thread): run it, and the connection, on a worker."""
        sock.setblocking(True)
        sock.settimeout(self.limits.handshake_timeout_s)
        conn = GuardedConnection(sock, handshake, self.limits.handshake_max_bytes)
        job = _Job(conn, addr, self.daemon)
        try:
            self.pool.process(job)
        except NoFreeWorkersError as exc:
            # answered from the buffered handshake: no blocking read on this thread
            job.denyConnection(str(exc))
        except pyro_errors.PyroError:
            conn.close()

    def close(self) -> None:
        gate = getattr(self, "gate", None)
        if gate is not None:
            gate.close()
        super().close()


def authenticated(conn: Any, limits: ServerLimits) -> None:
    """The handshake passed: requests may now be up to ``request_max_bytes``; idle timeout applies."""
    if isinstance(conn, GuardedConnection):
        conn.authenticated = True
        conn.max_recv = int(limits.request_max_bytes)
        conn.settimeout(limits.idle_timeout_s)


def install(daemon: Any, limits: ServerLimits) -> GuardedTransport:
    """Turn a freshly built Pyro5 daemon's thread-pool transport into a :class:`GuardedTransport`."""
    transport = daemon.transportServer
    if not isinstance(transport, SocketServer_Threadpool):
        raise TypeError(f"the server limits need Pyro5's thread server (SERVERTYPE='thread'), "
                        f"got {type(transport).__name__}")
    transport.__class__ = GuardedTransport
    transport.guard(limits)
    return transport
