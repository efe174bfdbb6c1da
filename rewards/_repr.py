"""Uniform ``__repr__`` for rewards: ``Name(arg=value, ...)`` with windows shown as plain lists."""

from __future__ import annotations

from typing import Any

__all__ = ["format_repr"]


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def format_repr(name: str, params: dict[str, Any]) -> str:
    """``format_repr("BandIntensity", {"window_eV": (1.0, 2.0)})`` -> ``BandIntensity(window_eV=[1.0, 2.0])``."""
    args = ", ".join(f"{key}={_plain(value)!r}" for key, value in params.items())
    return f"{name}({args})"
