"""What the run is doing now, from its events: the point in flight, the next planned point, and
when the predicted maps were made (the loop's ``decision`` events, :mod:`agent.run.live`)."""

from __future__ import annotations

from typing import Any

from .runview import Snapshot

__all__ = ["planned_points", "maps_as_of"]


def planned_points(snap: Snapshot) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(point in flight, next planned point), each ``{"step", "index", "yx_px"}``, from the
    ``decision`` events the loop journals before an acquisition (``agent.run.live``: ``step`` of
    its first point, ``indices``, ``yx_px`` ``[[y, x], ...]``; point k becomes step ``step + k``).
    A point whose step is past every row and failure is open: the first is in flight, the second
    the next planned; a step decided twice (a resume) counts once, its last decision. ``(None, None)``
    when nothing is open or the run has ended."""
    if snap.state in ("finished", "stopped"):
        return None, None
    frontier = max((r.step + 1 for r in snap.rows), default=0)
    points: dict[int, dict[str, Any]] = {}
    for ev in snap.events:
        if ev.get("kind") == "measurement_failed":  # its step is the one after the failed point
            frontier = max(frontier, int(_num(ev.get("step"), 0)))
        elif ev.get("kind") == "decision" and isinstance(ev.get("yx_px"), list):
            yx = ev["yx_px"]
            yx_list = yx if yx and isinstance(yx[0], list) else [yx]
            indices = ev.get("indices", [ev.get("index")])
            for k, (pt, i) in enumerate(zip(yx_list, indices)):
                step = int(_num(ev.get("step"), -1)) + k
                points[step] = {"step": step, "index": i, "yx_px": pt, "phase": ev.get("phase")}
    open_ = [points[s] for s in sorted(points) if s >= frontier]
    inflight = open_[0] if open_ else None
    planned = open_[1] if len(open_) > 1 else None
    return inflight, planned


def _num(value: Any, default: float) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def maps_as_of(snap: Snapshot) -> str:
    """When the predicted maps were made: ``"final fit"`` once the run has its summary, else
    ``"as of step N"`` from the last decision that wrote them (``maps_n`` in its event); ``""`` when
    unknown (a run recorded before live maps)."""
    if snap.summary is not None:
        return "final fit"
    steps = [ev.get("step") for ev in snap.events if ev.get("kind") == "decision" and "maps_n" in ev]
    return f"as of step {steps[-1]}" if steps else ""
