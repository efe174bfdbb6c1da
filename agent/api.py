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
The parts live in their own modules: :mod:`agent.compose_config`, :mod:`agent.run_folder` (``Run``),
:mod:`agent.asktell` (``Session``), :mod:`agent.user_instrument`; this module runs an experiment.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .asktell import RunFinished, Session, Suggestion
from .compose_config import compose, default_out_dir
from .record import StepRow
from .run_folder import PlotSet, Run
from .user_instrument import UserInstrument

if TYPE_CHECKING:
    from .loop import Experiment

__all__ = ["PlotSet", "Run", "RunFinished", "Session", "StepUpdate", "Suggestion", "UserInstrument", "compose",
           "run_experiment"]


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


def run_experiment(*overrides: str, out_dir: str | Path | None = None,
        on_step: Callable[[StepUpdate], None] | None = None) -> Run:
    """Run one experiment, as ``autoscope OVERRIDES...`` would, into ``out_dir`` (default
    ``outputs/api/<time>``); returns the finished :class:`Run`.

    The safety layer wraps the driver unless ``"safety=none"`` is given. ``on_step(update)`` is called
    after each decision's measurements (see :class:`StepUpdate`)."""
    from omegaconf import OmegaConf

    from .app import build_experiment

    cfg = compose(*overrides)
    out = Path(out_dir) if out_dir is not None else default_out_dir()
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
