"""Typed errors across the wire.

The server turns every exception a driver raises into a :class:`drivers.errors.DriverError` subclass
(:func:`as_driver_error`); Pyro5 sends it as ``{"__class__": "drivers.errors.InvalidArgument",
"args": [...], "attributes": {...}}`` and the client recreates the *same* class with its message
(:func:`register_error_classes` teaches Pyro5's serializers these classes; only these, never
arbitrary classes).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from Pyro5.serializers import SerializerBase

from drivers import errors as driver_errors
from drivers.errors import DriverError, InstrumentError

__all__ = ["AuthenticationError", "ServerBusy", "as_driver_error", "register_error_classes", "ERROR_CLASSES"]


class AuthenticationError(DriverError, PermissionError):
    """The server wants a shared secret and the client sent none or a wrong one."""


class ServerBusy(DriverError):
    """The server already holds as many client sessions (or connections) as it allows."""


def _error_classes() -> dict[str, type[DriverError]]:
    classes: dict[str, type[DriverError]] = {}
    for name in driver_errors.__all__:
        cls = getattr(driver_errors, name)
        if issubclass(cls, DriverError):  # the project-wide roots are not sent over the wire
            classes[f"{cls.__module__}.{cls.__name__}"] = cls
    for cls in (AuthenticationError, ServerBusy):
        classes[f"{cls.__module__}.{cls.__name__}"] = cls
    return classes


ERROR_CLASSES: dict[str, type[DriverError]] = _error_classes()

_registered = False
_register_lock = threading.Lock()


def _recreate(classname: str, data: Mapping[str, Any]) -> DriverError:
    cls = ERROR_CLASSES[classname]
    args = tuple(data.get("args", ()) or ())
    message = str(args[0]) if args else ""
    attributes = dict(data.get("attributes", {}) or {})
    exc: DriverError
    if cls is InstrumentError:
        # the combined message already holds the vendor text: keep it as is
        exc = InstrumentError.__new__(InstrumentError)
        Exception.__init__(exc, message)
        exc.vendor_message = attributes.get("vendor_message")
    else:
        exc = cls(message)
    remote_tb = attributes.get("_pyroTraceback")
    if remote_tb is not None:
        # Pyro5's own attribute (it prints the server-side traceback); not part of DriverError
        setattr(exc, "_pyroTraceback", remote_tb)  # noqa: B010
    return exc


def register_error_classes() -> None:
    """Let Pyro5 recreate the driver error classes on this side (idempotent, process-wide)."""
    global _registered
    with _register_lock:
        if _registered:
            return
        for classname in ERROR_CLASSES:
            SerializerBase.register_dict_to_class(classname, _recreate)
        _registered = True


def as_driver_error(exc: BaseException) -> DriverError:
    """Any exception -> a DriverError (typed ones unchanged; others wrapped as InstrumentError)."""
    if isinstance(exc, DriverError):
        if type(exc).__module__ + "." + type(exc).__name__ in ERROR_CLASSES:
            return exc
        # a backend's own subclass: send the nearest standard class the client knows
        for base in type(exc).__mro__:
            key = f"{base.__module__}.{base.__name__}"
            if key in ERROR_CLASSES and base is not DriverError:
                cls = ERROR_CLASSES[key]
                if cls is InstrumentError:
                    return InstrumentError(str(exc))
                return cls(str(exc))
        return InstrumentError(f"{type(exc).__name__}: {exc}")
    return InstrumentError("driver raised an untyped error", f"{type(exc).__name__}: {exc}")
