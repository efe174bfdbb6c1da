"""Typed errors of the offline benchmark (every message names the setting or file and the fix)."""

from __future__ import annotations

from drivers.errors import AutoscopeError, ConfigurationError

__all__ = ["BenchError", "BenchConfigError", "NoMetricsFound", "MetricsFormatError"]


class BenchError(AutoscopeError, RuntimeError):
    """Base class of the benchmark's errors."""


class BenchConfigError(BenchError, ConfigurationError):
    """A ``bench.*`` setting or a composed benchmark configuration is unusable."""


class NoMetricsFound(BenchError, FileNotFoundError):
    """A results folder holds no ``metrics.csv`` (wrong folder, or every run failed early)."""


class MetricsFormatError(BenchError, ValueError):
    """A ``metrics.csv`` lacks a required column or holds an unreadable value."""
