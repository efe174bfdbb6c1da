"""Ask/tell for users who drive their instrument themselves: :class:`Session` (``suggest`` ->
positions in metres and pixels with the reason; ``observe(position, spectrum, axis)``), on the
``autoscope`` loop's own seam, with its journal, record, checkpoint and resume::

    session = agent.Session.start(overview, "experiment.steps=30", out_dir="runs/mine")
    while not session.done:
        (s,) = session.suggest()                     # s.yx_m (metres), s.yx_px (overview pixel), s.reason
        spectrum, axis = my_microscope.measure(s.yx_m)
        session.observe(s, spectrum, axis)
    run = session.finish()                           # summary.json, plots; an agent.Run
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from drivers.errors import AutoscopeError, ConfigurationError, InvalidArgument
from drivers.frames import Axis, Frame

from .compose_config import compose, default_out_dir
from .record import RecordError, StepRow
from .run_folder import Run
from .runfiles import save_overview
from .user_instrument import UserInstrument

if TYPE_CHECKING:
    from omegaconf import DictConfig

    from .loop import Experiment

__all__ = ["RunFinished", "Session", "Suggestion"]

#: where the instrument's overview given to :meth:`Session.start` is kept (the run's own copy is
#: ``overview.npz``, written by the loop)
_INSTRUMENT_OVERVIEW = "instrument_overview.npz"
#: the driver target of a session's config (``agent.api.UserInstrument`` before the module split:
#: sessions started then still resume; agent.api re-exports the class)
_INSTRUMENT_TARGET = f"{UserInstrument.__module__}.{UserInstrument.__qualname__}"
_INSTRUMENT_TARGETS = (_INSTRUMENT_TARGET, "agent.api.UserInstrument")


@dataclass(frozen=True)
class Suggestion:
    """A position to measure next.

    Attributes:
        index: candidate index.
        yx_m: (y, x) in metres, in the overview's calibration (pixel centre of the candidate).
        yx_px: (row, col) pixel of the overview.
        yx_frac: (y, x) fraction of the overview field (what ``Driver.set_probe(yx_frac=...)`` takes).
        reason: why it was chosen (``"seed"``, ``"acquisition"``, the policy's own reason, ...).
    """

    index: int
    yx_m: tuple[float, float]
    yx_px: tuple[int, int]
    yx_frac: tuple[float, float]
    reason: str


class RunFinished(AutoscopeError, RuntimeError):
    """The session's budget is spent (or it was stopped): call :meth:`Session.finish`."""


class Session:
    """Ask/tell on the ``autoscope`` loop: :meth:`suggest` decides, :meth:`observe` records.

    Built on the loop's own ask/tell seam (``Experiment.suggest`` / ``Experiment.observe``): every
    observation is checked, journaled (fsync), recorded and checkpointed exactly as in the CLI loop,
    so :meth:`resume` continues a killed session with every observation kept. Build one with
    :meth:`start` or :meth:`resume`.
    """

    def __init__(self, exp: Experiment) -> None:
        self._exp = exp
        self._finished: Run | None = None

    # ------------------------------------------------------------------ construction
    @classmethod
    def start(cls, overview: Frame, *overrides: str, out_dir: str | Path | None = None,
              spectrum_units: str | None = None) -> Session:
        """A new session on ``overview`` (a 2-D :class:`drivers.frames.Frame` with calibrated y/x
        axes in metres) with ``autoscope`` overrides; ``spectrum_units`` (e.g. ``"eV"``) lets the
        preflight check the reward against them."""
        from omegaconf import OmegaConf, open_dict

        cfg = compose(*overrides)
        out = Path(out_dir) if out_dir is not None else default_out_dir()
        out.mkdir(parents=True, exist_ok=True)
        if (out / "record.h5").exists():
            raise RecordError(f"{out} already holds a run; continue it with Session.resume({str(out)!r})")
        save_overview(out / _INSTRUMENT_OVERVIEW, overview)
        s = cfg.experiment
        units = {str(s.detector): spectrum_units} if spectrum_units else {}
        with open_dict(cfg):
            cfg.driver = OmegaConf.create({"_target_": _INSTRUMENT_TARGET,
                                           "overview_path": str((out / _INSTRUMENT_OVERVIEW).resolve()),
                                           "detectors": [str(s.overview.detector), str(s.detector)],
                                           "signal_units": units})
        (out / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
        return cls._open(cfg, out)

    @classmethod
    def resume(cls, run_dir: str | Path) -> Session:
        """Continue the session in ``run_dir`` (killed or not finished): every observation is kept."""
        from omegaconf import OmegaConf

        d = Path(run_dir)
        if not (d / "config.yaml").exists():
            raise RecordError(f"{d} holds no config.yaml: not a run folder")
        cfg = OmegaConf.load(d / "config.yaml")
        if str(cfg.driver.get("_target_", "")) not in _INSTRUMENT_TARGETS:
            raise RecordError(f"{d} is not an ask/tell session (its driver is {cfg.driver.get('_target_')}); "
                              f"continue a CLI run with `autoscope-resume {d}`")
        exp = cls._build(cfg, d)  # type: ignore[arg-type]
        exp.resume()
        return cls._ready(exp)

    @classmethod
    def _open(cls, cfg: DictConfig, out: Path) -> Session:
        return cls._ready(cls._build(cfg, out))

    @staticmethod
    def _build(cfg: DictConfig, out: Path) -> Experiment:
        from .app import build_experiment

        return build_experiment(cfg, out)

    @classmethod
    def _ready(cls, exp: Experiment) -> Session:
        import torch

        torch.set_num_threads(int(exp.settings.threads))  # as the CLI loop does: the same numbers
        exp.begin()  # a new run: overview, candidates, files; the control inbox (autoscope-ctl works)
        return cls(exp)

    # ------------------------------------------------------------------ ask / tell
    @property
    def path(self) -> Path:
        return self._exp.out_dir

    @property
    def experiment(self) -> Experiment:
        """The loop object underneath (candidates, settings, state)."""
        return self._exp

    @property
    def done(self) -> bool:
        """True when the budget is spent or the run was stopped (then :meth:`finish`)."""
        return self._finished is not None or not self._exp.before_decision()

    def suggest(self, q: int | None = None) -> list[Suggestion]:
        """The next position(s) to measure (``q``: how many; default ``experiment.q``). Positions
        suggested but not yet observed count as in flight: the next ``suggest`` avoids them.

        Raises:
            RunFinished: the budget is spent or the run was stopped.
        """
        from policies.protocol import NoCandidatesLeft

        exp = self._exp
        if q is not None and q < 1:
            raise ConfigurationError(f"q={q} must be >= 1 (positions wanted per suggest)")
        while True:
            if self._finished is not None or not exp.before_decision():
                raise RunFinished(f"the session is over ({exp.state.stop_reason or 'stopped'}): call finish()")
            try:
                decision = exp.suggest(q)
            except NoCandidatesLeft:
                exp.exhausted()
                raise RunFinished("every candidate was measured, failed or vetoed: call finish()") from None
            if not exp.store.n_replay:
                break
            # observations journaled after the last checkpoint of a killed session: the journal's
            # rows are taken again (the same decisions), nothing is asked of the user
            rows = [exp.complete(decision, exp.acquire(int(i))) for i in decision.indices.tolist()]
            exp.after([r for r in rows if r is not None])
        cand = exp.candidates
        assert cand is not None
        return [Suggestion(index=int(i), yx_m=(float(cand.yx_m[i, 0]), float(cand.yx_m[i, 1])),
                           yx_px=(int(cand.yx_px[i, 0]), int(cand.yx_px[i, 1])),
                           yx_frac=(float(cand.yx_frac[i, 0]), float(cand.yx_frac[i, 1])),
                           reason=decision.reason) for i in decision.indices.tolist()]

    def observe(self, position: Suggestion | int | tuple[float, float], spectrum: np.ndarray, axis: Axis,
                *, dose_e: float = math.nan, time_s: float = math.nan) -> StepRow | None:
        """Record a measurement: ``position`` (a :class:`Suggestion`, a candidate index, or (y, x)
        metres: the nearest candidate), ``spectrum`` ``(n_signal,)`` on ``axis``; optional dose (e)
        and instrument clock (s). Returns the recorded row (its ``reward``), or None when the
        spectrum was refused (wrong shape, NaN: recorded as a failed measurement, as in the CLI)."""
        exp = self._exp
        cand = exp.candidates
        assert cand is not None
        where: int | tuple[float, float]
        if isinstance(position, Suggestion):
            where = position.index
        elif isinstance(position, (int, np.integer)):
            if not 0 <= int(position) < cand.n:
                raise InvalidArgument(f"candidate index {position} is outside [0, {cand.n})")
            where = int(position)
        else:
            yx = np.asarray(position, dtype=np.float64)
            if yx.shape != (2,):
                raise InvalidArgument(f"position {position!r}: give a Suggestion, a candidate index or "
                                      f"(y, x) in metres")
            where = (float(yx[0]), float(yx[1]))
        data = np.asarray(spectrum, dtype=np.float64)
        if data.ndim != 1 or data.shape[0] != axis.size:
            raise InvalidArgument(f"spectrum has shape {data.shape} but axis {axis.name!r} has {axis.size} "
                                  f"values: give the (n_signal,) spectrum and its own axis")
        frame = Frame(data, (axis,), f"user-{exp.state.step}", {"dose_e": float(dose_e), "time_s": float(time_s)})
        return exp.observe(where, frame)

    # ------------------------------------------------------------------ end
    def finish(self) -> Run:
        """Write the final maps, ``summary.json`` and the plots, close the files; returns the
        finished :class:`Run` (idempotent)."""
        if self._finished is not None:
            return self._finished
        exp = self._exp
        try:
            if not exp.state.stop_reason and not exp.stop.is_set():
                exp.request_stop("finished by the user")
            exp.finish()
        finally:
            exp.close()
        self._finished = Run(exp.out_dir)
        return self._finished

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.finish()
