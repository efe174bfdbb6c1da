"""Client sessions and the server-side watchdog.

Every client picks a session id (a random hex string) and sends it with every call (Pyro5 annotation
``SESS``), from its main connection and from its heartbeat connection alike. The tracker remembers,
per session, when it was last heard from and which connections it uses. The watchdog *trips* (calls
``on_trip(session_id, reason)``, which blanks the beam) when

* a session has been silent for longer than ``watchdog_s`` while none of its calls is running, or
* one of a session's connections drops before the session said ``goodbye``.

A tripped session is forgotten; its next call starts it afresh. A client that sends no session id
gets one session per connection (so a dropped connection still blanks).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from ..errors import AutoscopeError

__all__ = ["SessionTracker", "SessionLimit"]

log = logging.getLogger(__name__)


class SessionLimit(AutoscopeError):
    """A new session would exceed ``max_sessions`` (the message says so and names the bound)."""


@dataclass
class _Session:
    last_contact_s: float
    connections: set[int] = field(default_factory=set)
    active_calls: int = 0


class SessionTracker:
    """Thread-safe session bookkeeping plus a watchdog thread.

    Args:
        watchdog_s: silence (seconds) after which a session trips; ``None`` disables the silence
            check (dropped connections still trip).
        on_trip: called as ``on_trip(session_id, reason)`` from the watchdog thread or the thread
            that saw the connection drop; exceptions it raises are logged, never propagated.
        poll_s: how often the watchdog looks (seconds); default ``min(0.05, watchdog_s / 4)``.
        max_sessions: sessions at once; ``begin_call`` of a new session beyond raises
            :class:`SessionLimit` (``None``: unbounded).
    """

    def __init__(
        self,
        watchdog_s: float | None,
        on_trip: Callable[[str, str], None],
        poll_s: float | None = None,
        max_sessions: int | None = None,
    ) -> None:
        if watchdog_s is not None and not watchdog_s > 0:
            raise ValueError(f"watchdog_s must be > 0 or None, got {watchdog_s}")
        self.watchdog_s = watchdog_s
        self.max_sessions = max_sessions
        self.refused = 0
        self._on_trip = on_trip
        self._poll_s = poll_s if poll_s is not None else (0.05 if watchdog_s is None else min(0.05, watchdog_s / 4))
        self._lock = threading.Lock()
        self._sessions: dict[str, _Session] = {}
        self._conn_to_session: dict[int, str] = {}
        self._stop = threading.Event()
        self.trips: list[tuple[float, str, str]] = []
        self._thread = threading.Thread(target=self._loop, name="autoscope-watchdog", daemon=True)
        self._thread.start()

    @staticmethod
    def _conn_key(conn: Hashable | Any) -> int:
        return id(conn)

    def begin_call(self, session_id: str, conn: Any) -> None:
        """A call from ``session_id`` over ``conn`` starts (counts as contact).

        Raises:
            SessionLimit: ``session_id`` is new and ``max_sessions`` sessions are open already.
        """
        key = self._conn_key(conn)
        with self._lock:
            if (session_id not in self._sessions and self.max_sessions is not None
                    and len(self._sessions) >= self.max_sessions):
                self.refused += 1
                raise SessionLimit(f"{len(self._sessions)} client sessions are open, the most this server "
                                   f"allows (max_sessions={self.max_sessions}); close another client or "
                                   f"restart autoscope-serve with a larger --max-sessions")
            session = self._sessions.setdefault(session_id, _Session(time.monotonic()))
            session.last_contact_s = time.monotonic()
            session.connections.add(key)
            session.active_calls += 1
            self._conn_to_session[key] = session_id

    def end_call(self, session_id: str) -> None:
        with self._lock:
            session = self._sessions.get(session_id)
            if session is not None:
                session.active_calls = max(0, session.active_calls - 1)
                session.last_contact_s = time.monotonic()

    def goodbye(self, session_id: str) -> None:
        """The client leaves on purpose: forget the session without tripping."""
        with self._lock:
            session = self._sessions.pop(session_id, None)
            if session is not None:
                for key in session.connections:
                    self._conn_to_session.pop(key, None)

    def disconnected(self, conn: Any) -> None:
        """A connection dropped: trip its session if that session is still live."""
        key = self._conn_key(conn)
        with self._lock:
            session_id = self._conn_to_session.pop(key, None)
            if session_id is None or session_id not in self._sessions:
                return
            session = self._sessions.pop(session_id)
            for other in session.connections:
                self._conn_to_session.pop(other, None)
        self._trip(session_id, "connection dropped")

    def session_count(self) -> int:
        with self._lock:
            return len(self._sessions)

    def silence_s(self, session_id: str) -> float | None:
        with self._lock:
            session = self._sessions.get(session_id)
            return None if session is None else time.monotonic() - session.last_contact_s

    def _trip(self, session_id: str, reason: str) -> None:
        self.trips.append((time.time(), session_id, reason))
        log.warning("watchdog: session %s tripped (%s): blanking the beam", session_id[:8], reason)
        try:
            self._on_trip(session_id, reason)
        except Exception:  # noqa: BLE001 - a failing trip action must not kill the watchdog
            log.exception("watchdog: blanking after session %s tripped failed", session_id[:8])

    def _loop(self) -> None:
        while not self._stop.wait(self._poll_s):
            if self.watchdog_s is None:
                continue
            now = time.monotonic()
            silent: list[str] = []
            with self._lock:
                for session_id, session in list(self._sessions.items()):
                    if session.active_calls == 0 and now - session.last_contact_s > self.watchdog_s:
                        silent.append(session_id)
                        self._sessions.pop(session_id)
                        for key in session.connections:
                            self._conn_to_session.pop(key, None)
            for session_id in silent:
                self._trip(session_id, f"silent for more than {self.watchdog_s:g} s")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
