"""The autonomous experiment: candidates, surrogate, loop, record.

The Python API for notebooks (:mod:`agent.api`) is exported here (``agent.run`` is the loop's
package of parts, hence ``run_experiment``): ``agent.run_experiment(...)``,
``agent.Run.load(RUN_DIR)``, ``agent.Session`` (ask/tell), ``agent.RunResult``. They load on first
use, so ``import agent`` stays light (no torch, no Hydra).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .api import Run, Session, StepUpdate, Suggestion, compose, run_experiment
    from .result import RunResult

__all__ = ["Run", "RunResult", "Session", "StepUpdate", "Suggestion", "compose", "run_experiment"]


def __getattr__(name: str) -> Any:
    if name == "RunResult":
        from .result import RunResult

        return RunResult
    if name in __all__:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'agent' has no attribute {name!r}")
