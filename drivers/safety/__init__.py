"""The safety layer every driver goes through: blanking, limits, dose budgets, timeouts, audit log."""

from .audit import AuditLog
from .dose import DoseLedger
from .driver import SafeDriver
from .limits import SafetyLimits

__all__ = ["AuditLog", "DoseLedger", "SafeDriver", "SafetyLimits"]
