"""A Pyro5 proxy with the autoscope conventions: serpent only, token and session annotations,
typed errors, a per-call timeout, ``ConnectionLost`` on a dropped link.

Used by :class:`drivers.remote.RemoteDriver` and :class:`drivers.remote.ArrayServerDriver`. A Pyro5
proxy belongs to one thread at a time; :class:`Connection` serialises its calls with a lock and
claims the proxy for the calling thread, so any thread may use it.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

import Pyro5.api
import Pyro5.errors
from Pyro5.callcontext import current_context

from drivers.errors import ConnectionLost, DriverError, InvalidArgument, NotSupported, Timeout

from .errors import AuthenticationError, ServerBusy, register_error_classes
from .server import AUTH_MARKER, BUSY_MARKER

__all__ = ["Connection", "new_session_id"]


def new_session_id() -> str:
    return uuid.uuid4().hex


class Connection:
    """One Pyro5 connection to a served object.

    Args:
        uri: ``PYRO:<object>@<host>:<port>``.
        secret: shared token or ``None``.
        session_id: sent with every call (``SESS`` annotation) so the server's watchdog can tell
            sessions apart; several connections of one client share it.
        timeout_s: default network timeout of a call (seconds).
    """

    def __init__(self, uri: str, secret: str | bytes | None, session_id: str, timeout_s: float) -> None:
        register_error_classes()
        try:
            Pyro5.api.URI(uri)
        except Pyro5.errors.PyroError as exc:
            raise InvalidArgument(f"uri={uri!r} is not a Pyro5 URI (PYRO:name@host:port): {exc}") from exc
        if not timeout_s > 0:
            raise InvalidArgument(f"timeout_s must be > 0, got {timeout_s}")
        self.uri = uri
        self.timeout_s = float(timeout_s)
        if secret is None:
            self._secret = None
        else:
            self._secret = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
        self._session_id = session_id
        self._lock = threading.Lock()
        self._proxy: Pyro5.api.Proxy | None = None
        self._closed = False

    def _make_proxy(self) -> Pyro5.api.Proxy:
        proxy = Pyro5.api.Proxy(self.uri)
        proxy._pyroSerializer = "serpent"
        proxy._pyroHandshake = {
            "token": self._secret,
            "session": self._session_id,
        }
        return proxy

    def _annotations(self) -> dict[str, bytes]:
        ann = {"SESS": self._session_id.encode("ascii")}
        if self._secret is not None:
            ann["AUTH"] = self._secret
        return ann

    def call(self, verb: str, *args: Any, timeout_s: float | None = None, **kwargs: Any) -> Any:
        """Call ``verb`` remotely; returns its (wire-form) result.

        Raises the server's typed error, ``Timeout`` when no answer came within ``timeout_s``
        (default: the connection's), ``ConnectionLost`` when the link dropped or the server is
        gone, ``AuthenticationError`` when the secret is refused.
        """
        with self._lock:
            if self._closed:
                raise ConnectionLost(f"connection to {self.uri} is closed")
            if self._proxy is None:
                self._proxy = self._make_proxy()
            proxy = self._proxy
            proxy._pyroClaimOwnership()
            proxy._pyroTimeout = float(timeout_s) if timeout_s is not None else self.timeout_s
            old_annotations = current_context.annotations
            current_context.annotations = self._annotations()
            try:
                return getattr(proxy, verb)(*args, **kwargs)
            except DriverError:
                raise
            except AttributeError as exc:
                raise NotSupported(f"{verb}: the object at {self.uri} has no such verb ({exc})") from exc
            except Pyro5.errors.TimeoutError as exc:
                self._drop_locked()
                raise Timeout(f"{verb}: no answer from {self.uri} within {proxy._pyroTimeout:g} s") from exc
            except Pyro5.errors.CommunicationError as exc:
                self._drop_locked()
                if AUTH_MARKER in str(exc):
                    raise AuthenticationError(f"{self.uri} refused the connection: wrong or missing secret") from exc
                if BUSY_MARKER in str(exc):
                    text = str(exc).split(BUSY_MARKER + ":", 1)[-1].strip()
                    raise ServerBusy(f"{self.uri} refused the connection: {text}") from exc
                raise ConnectionLost(f"{verb}: connection to {self.uri} lost: {exc}") from exc
            except (ConnectionError, OSError) as exc:
                self._drop_locked()
                raise ConnectionLost(f"{verb}: connection to {self.uri} lost: {exc}") from exc
            finally:
                current_context.annotations = old_annotations

    def _drop_locked(self) -> None:
        if self._proxy is not None:
            try:
                self._proxy._pyroRelease()
            except Exception:  # noqa: BLE001 - the link is already broken
                pass
            self._proxy = None

    def close(self) -> None:
        """Close the socket (idempotent)."""
        with self._lock:
            self._closed = True
            if self._proxy is not None:
                try:
                    self._proxy._pyroClaimOwnership()
                except Exception:  # noqa: BLE001
                    pass
            self._drop_locked()
