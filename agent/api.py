"""The Python API for notebooks: run an experiment, or drive your own instrument with ask/tell.

Run one experiment (the safety layer is on unless ``"safety=none"`` is given)::

    import agent
    run = agent.run_experiment("experiment.steps=20", out_dir="runs/first")   # any `autoscope` override
    run.summary["best_value"], run.record.measured                  # summary.json, the record
    run.plot()                                                      # the plots, shown in the notebook

Ask/tell, for an instrument you drive yourself (same journal, record, checkpoint and resume as the
``autoscope`` loop; the positions are the ones the loop would choose)::

    session = agent.Session.start(overview, "experiment.steps=30", out_dir="runs/mine")
    while not session.done:
        (s,) = session.suggest()                     # s.yx_m (metres), s.yx_px (overview pixel), s.reason
        spectrum, axis = my_microscope.measure(s.yx_m)
        session.observe(s, spectrum, axis)
    run = session.finish()                           # summary.json, plots; the same Run object

``Run.load(RUN_DIR)`` reloads any finished run; ``Session.resume(RUN_DIR)`` continues a killed session.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from drivers.errors import AutoscopeError, ConfigurationError, InvalidArgument, NotSupported
from drivers.frames import Axis, Capabilities, Frame, ProbeState

from .record import RecordError, StepRow
from .result import RunResult
from .runfiles import load_overview, save_overview

if TYPE_CHECKING:
    from omegaconf import DictConfig

    from .loop import Experiment

__all__ = ["Run", "Session", "StepUpdate", "Suggestion", "UserInstrument", "compose", "run_experiment"]

#: where the instrument's overview given to :meth:`Session.start` is kept (the run's own copy is
#: ``overview.npz``, written by the loop)
_INSTRUMENT_OVERVIEW = "instrument_overview.npz"


def compose(*overrides: str) -> DictConfig:
    """The ``autoscope`` configuration with command-line style ``overrides`` (``"policy=ucb"``,
    ``"experiment.steps=20"``), resolved exactly as the console script composes it."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from .confdir import CONF_DIR, normalise_overrides

    for item in overrides:
        if not isinstance(item, str) or "=" not in item:
            raise ConfigurationError(f"override {item!r} is not a 'key=value' string; e.g. 'experiment.steps=20'")
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return hydra_compose(config_name="config", overrides=normalise_overrides(list(overrides)))


def _default_out_dir() -> Path:
    return Path("outputs") / "api" / _dt.datetime.now().strftime("%Y-%m-%d_%H-%M-%S-%f")


@dataclass(frozen=True)
class StepUpdate:
    """What an ``on_step`` callback receives after each decision's measurements (for live plots).

    Attributes:
        n_done: measurements done (failed ones included); ``steps``: the budget.
        rows: the rows just recorded (``agent.record.StepRow``: index, yx_m in m, reward, spectrum).
        best_value: best usable reward so far (None before the first).
        mean, std: ``(rows, cols)`` predicted reward and its std at the last decision (None before a model).
        grid_yx_m: ``(rows, cols, 2)`` candidate positions in metres.
    """

    n_done: int
    steps: int
    rows: tuple[StepRow, ...]
    best_value: float | None
    mean: np.ndarray | None
    std: np.ndarray | None
    grid_yx_m: np.ndarray


def _update(exp: Experiment, rows: Sequence[StepRow]) -> StepUpdate:
    cand = exp.candidates
    assert cand is not None
    post = exp.last_posterior
    y = exp.targets()
    y1 = y if y.ndim == 1 else y[:, 0] if y.size else y
    best = None if not y1.size else float(np.max(y1) if exp.settings.maximize else np.min(y1))

    def grid(values: np.ndarray | None) -> np.ndarray | None:
        if values is None:
            return None
        v = np.asarray(values, dtype=np.float64)
        return cand.as_map(v if v.ndim == 1 else v[:, 0])

    return StepUpdate(n_done=exp.n_done, steps=exp.settings.steps,
                      rows=tuple(rows), best_value=best, mean=grid(post.mean if post is not None else None),
                      std=grid(post.std if post is not None else None), grid_yx_m=cand.as_map(cand.yx_m))


class Run:
    """A run folder (finished, killed or running), read from its files; no instrument needed.

    Attributes:
        path: the run folder.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not (self.path / "record.h5").exists():
            raise RecordError(f"{self.path} holds no record.h5: give a run folder (config.yaml, "
                              f"journal.jsonl, record.h5)")

    @classmethod
    def load(cls, path: str | Path) -> Run:
        """Reload a run from its folder (the object :func:`run_experiment` and :meth:`Session.finish` return)."""
        return cls(path)

    @property
    def record(self) -> RunResult:
        """The record's content, read now (rows, spectra, overview, candidates, truth, maps, events)."""
        return RunResult.from_run_dir(self.path)

    @property
    def summary(self) -> dict[str, Any]:
        """``summary.json`` as written at the end of the run; recomputed from the record when the run
        has none (running or killed)."""
        import json

        from .summary import summarise

        path = self.path / "summary.json"
        return json.loads(path.read_text()) if path.exists() else summarise(self.record)

    def plot(self, out_dir: str | Path | None = None) -> PlotSet:
        """Rebuild every plot from the record into ``out_dir`` (default: the run's ``plots/``); in a
        notebook the returned set shows them."""
        from .plots import plot_run

        return PlotSet(plot_run(self.record, Path(out_dir) if out_dir is not None else self.path / "plots"))

    def to_hyperspy(self) -> Any:
        """The spectra as a HyperSpy signal (navigation = measurement, positions in the metadata),
        through ``autoscope-export`` (needs the ``[replay]`` extra)."""
        from .export import to_hyperspy

        return to_hyperspy(self.path)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"


class PlotSet(list[Path]):
    """The paths of a run's plots; a notebook shows them as images."""

    def _repr_html_(self) -> str:
        import base64

        return "".join(f'<img style="max-width:48%" alt="{p.stem}" src="data:image/png;base64,'
                       f'{base64.b64encode(Path(p).read_bytes()).decode()}">' for p in self)


def run_experiment(*overrides: str, out_dir: str | Path | None = None,
        on_step: Callable[[StepUpdate], None] | None = None) -> Run:
    """Run one experiment, as ``autoscope OVERRIDES...`` would, into ``out_dir`` (default
    ``outputs/api/<time>``); returns the finished :class:`Run`.

    The safety layer wraps the driver unless ``"safety=none"`` is given. ``on_step(update)`` is called
    after each decision's measurements (see :class:`StepUpdate`)."""
    from omegaconf import OmegaConf

    from .app import build_experiment

    cfg = compose(*overrides)
    out = Path(out_dir) if out_dir is not None else _default_out_dir()
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    exp = build_experiment(cfg, out)
    if on_step is not None:
        exp.on_step = lambda e, rows: on_step(_update(e, rows))
    try:
        exp.run()
    finally:
        exp.driver.close()
    return Run(out)


# ====================================================================== ask/tell
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
        out = Path(out_dir) if out_dir is not None else _default_out_dir()
        out.mkdir(parents=True, exist_ok=True)
        if (out / "record.h5").exists():
            raise RecordError(f"{out} already holds a run; continue it with Session.resume({str(out)!r})")
        save_overview(out / _INSTRUMENT_OVERVIEW, overview)
        s = cfg.experiment
        units = {str(s.detector): spectrum_units} if spectrum_units else {}
        with open_dict(cfg):
            cfg.driver = OmegaConf.create({"_target_": f"{__name__}.UserInstrument",
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
        if str(cfg.driver.get("_target_", "")) != f"{__name__}.UserInstrument":
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
