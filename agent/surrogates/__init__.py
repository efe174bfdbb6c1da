"""Surrogate models: structure (image patches or probe coordinates) -> predicted target."""

from .protocol import HealthReport, Surrogate

__all__ = ["HealthReport", "Surrogate"]
