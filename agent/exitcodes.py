"""Exit codes of ``autoscope`` and ``autoscope-resume`` that a scheduler can act on.

==  =======================  ==========================================================
0   FINISHED                 a budget ended the run (steps, wall time, total dose, no
                             candidates left) with at least one usable measurement
1   ERROR                    an unexpected error (a bug: the traceback is printed)
2   CONFIG                   configuration refused before anything was measured (one
                             line: field, value, fix), preflight included
3   DAMAGED                  the run folder's files disagree beyond repair, or the folder
                             is not a run (one line: file and fix)
4   LOCKED                   another live process writes the run folder (its PID is named)
5   SIGNAL                   stopped by SIGINT / SIGTERM (resume it)
6   SAFETY                   stopped by a safety interlock or guardian
7   FAILING                  stopped after ``experiment.max_consecutive_failures`` unusable
                             measurements in a row
8   NOTHING_MEASURED         the run ended without a single usable measurement
9   USER_STOP                stopped by ``autoscope-ctl RUN stop``
==  =======================  ==========================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum
from typing import Any

__all__ = ["ExitCode", "exit_code_for", "exit_code_for_error"]


class ExitCode(IntEnum):
    FINISHED = 0
    ERROR = 1
    CONFIG = 2
    DAMAGED = 3
    LOCKED = 4
    SIGNAL = 5
    SAFETY = 6
    FAILING = 7
    NOTHING_MEASURED = 8
    USER_STOP = 9


def exit_code_for(summary: Mapping[str, Any]) -> ExitCode:
    """The code for a run that ended with ``summary`` (its ``stop_reason`` and ``n_measured``)."""
    from .run.state import StopReason

    reason = str(summary.get("stop_reason", ""))
    if reason.startswith(StopReason.SIGNAL):
        return ExitCode.SIGNAL
    if reason.startswith(StopReason.SAFETY):
        return ExitCode.SAFETY
    if reason.startswith(StopReason.FAILING):
        return ExitCode.FAILING
    if not int(summary.get("n_measured") or 0):
        return ExitCode.NOTHING_MEASURED
    if reason.startswith(StopReason.USER):
        return ExitCode.USER_STOP
    return ExitCode.FINISHED


def exit_code_for_error(err: BaseException) -> ExitCode | None:
    """The code for a refusal (None: not a refusal but a bug)."""
    from .record import RecordError
    from .runlock import RunLocked
    from .settings import ConfigError

    if isinstance(err, ConfigError):
        return ExitCode.CONFIG
    if isinstance(err, RunLocked):
        return ExitCode.LOCKED
    if isinstance(err, RecordError):
        return ExitCode.DAMAGED
    return None
