"""What the parts of a run share: the loop state a checkpoint holds, why a run stops, the stop flag."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LoopState", "StopReason", "StopFlag"]


class StopReason:
    """The ``stop_reason`` strings a run ends with (``summary.json``, the ``stopped`` event)."""

    BUDGET = "steps budget reached"
    WALL_TIME = "wall-time budget reached"
    DOSE = "total-dose budget reached"
    EXHAUSTED = "no candidates left"
    SAFETY = "safety interlock"
    USER = "stopped by the user"
    SIGNAL = "stopped by signal"
    FAILING = "failing measurements"  # experiment.max_consecutive_failures unusable in a row


@dataclass
class LoopState:
    """Mutable state of a run: what a checkpoint holds besides random state and weights.

    Candidate indices refer to the run's :class:`~agent.candidates.CandidateSet`; ``y`` holds one
    float per measured candidate, or a list of k floats for a vector reward.
    """

    measured: list[int] = field(default_factory=list)
    y: list[Any] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    vetoed: list[int] = field(default_factory=list)
    forced: list[int] = field(default_factory=list)
    step: int = 0
    n_rows: int = 0
    n_degenerate: int = 0
    total_dose_e: float = 0.0
    paused: bool = False
    stop_reason: str = ""
    drift_px: list[float] = field(default_factory=lambda: [0.0, 0.0])
    last_index: int = -1  # the candidate the probe last measured (travel costs start there)
    overrides: list[str] = field(default_factory=list)
    labels: list[list[Any]] = field(default_factory=list)  # few-shot labels sent: [candidate, positive]
    consecutive_failures: int = 0  # unusable measurements in a row (failed, or no reward)

    @property
    def n_done(self) -> int:
        """Candidates finished: measured with a usable reward, or failed."""
        return len(self.measured) + len(self.failed)


class StopFlag:
    """A stop request with its reason; thread- and signal-safe. The first reason given wins."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = ""

    def request(self, reason: str = StopReason.USER) -> None:
        if not self.reason:
            self.reason = reason
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()
