"""Nion Swift instrumentation backend (and its headless ``nionswift-usim`` simulator)."""

from .driver import NionDriver
from .session import UsimSession

__all__ = ["NionDriver", "UsimSession"]
