"""The instrument of a user who measures by hand (ask/tell, :class:`agent.asktell.Session`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from drivers.errors import InvalidArgument, NotSupported
from drivers.frames import Capabilities, Frame, ProbeState

from .runfiles import load_overview

__all__ = ["UserInstrument"]


class UserInstrument:
    """The instrument of a user who measures by hand (ask/tell): a :class:`drivers.Driver` whose
    overview is the one given to :meth:`Session.start` and whose spectrum is the one handed to
    :meth:`Session.observe` (never through ``acquire_spectrum``). It never moves anything; the safety
    layer wraps it like any driver.

    Args:
        overview_path: ``.npz`` written by :func:`agent.runfiles.save_overview` (the user's overview).
        detectors: names the run may ask for (``experiment.detector``, ``experiment.overview.detector``).
        signal_units: ``{detector: units}`` of the spectra (for the preflight's reward check).
    """

    def __init__(self, overview_path: str, detectors: Sequence[str] = ("HAADF", "EELS"),
                 signal_units: dict[str, str] | None = None) -> None:
        self.overview = load_overview(Path(overview_path))
        self.detectors = tuple(detectors)
        self.signal_units = dict(signal_units or {})
        self._probe: ProbeState | None = None

    def capabilities(self) -> Capabilities:
        return Capabilities(detectors=self.detectors, signal_units=self.signal_units, max_fov_m=math.inf,
                            max_exposure_s=math.inf, backend="user instrument (ask/tell)")

    def acquire_overview(self, fov_m: float | None, shape_px: tuple[int, int] | None, dwell_s: float | None,
                         detector: str = "HAADF", timeout_s: float | None = None) -> Frame:
        return self.overview

    def set_probe(self, frame_id: str, yx_frac: tuple[float, float] | None = None,
                  yx_m: tuple[float, float] | None = None) -> ProbeState:
        if yx_frac is None:
            raise InvalidArgument("UserInstrument.set_probe needs yx_frac (the loop always gives it)")
        ay, ax = self.overview.axes
        pos = (float(ay.values[0] + yx_frac[0] * (ay.values[-1] - ay.values[0])),
               float(ax.values[0] + yx_frac[1] * (ax.values[-1] - ax.values[0])))
        self._probe = ProbeState(frame_id, pos, (float(yx_frac[0]), float(yx_frac[1])), False)
        return self._probe

    def acquire_spectrum(self, exposure_s: float, detector: str = "EELS", timeout_s: float | None = None) -> Frame:
        raise NotSupported("the user measures: hand each spectrum in with Session.observe(position, "
                           "spectrum, axis)")

    def blank(self) -> None:
        return None

    def unblank(self) -> None:
        return None

    def stop(self) -> None:
        return None

    def close(self) -> None:
        return None
