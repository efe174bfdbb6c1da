"""The end of a run: the final maps into the record, then ``summary.json`` and the plots, both built
from the record alone (:class:`agent.result.RunResult`)."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from typing import Any

import numpy as np

from ..candidates import CandidateSet
from ..result import RunResult
from ..settings import ExperimentSettings
from ..summary import write_summary
from .decider import Decider
from .live import posterior_maps
from .store import RunStore

__all__ = ["finish_run", "write_final_maps"]

log = logging.getLogger(__name__)


def write_final_maps(store: RunStore, decider: Decider, candidates: CandidateSet) -> None:
    """``/maps/mean`` and ``/maps/std`` (one refit on every target, predicted at every candidate) and
    ``/maps/truth`` (the noise-free truth under the run's final reward, where the driver knows it),
    each ``(rows, cols)`` or ``(rows, cols, k)``. A failing refit is recorded, never raised."""
    maps: dict[str, np.ndarray] = {}
    try:
        posterior = decider.final_posterior()
    except Exception as err:  # noqa: BLE001 - the run's data is safe; report and carry on
        log.error("final fit failed (%s); summary without maps", err)
        store.event("final_fit_failed", message=repr(err))
        posterior = None
    if posterior is not None:
        maps.update(posterior_maps(candidates, posterior))  # over the live maps written during the run
    if store.truth is not None:
        maps["truth"] = candidates.as_map(store.truth)
    if maps:
        store.write_maps(**maps)


def finish_run(store: RunStore, decider: Decider, candidates: CandidateSet, settings: ExperimentSettings,
               wall_time_s: float, seed: int) -> dict[str, Any]:
    """Final maps, then the summary (returned, and written to ``summary.json``) and the plots."""
    write_final_maps(store, decider, candidates)
    assert store.record is not None
    config = store.config_yaml or _config_text(settings, seed, decider)
    result = RunResult.from_record(store.record, config, wall_time_s=wall_time_s, run_dir=store.out_dir)
    summary = write_summary(result, store.out_dir)
    if settings.plots:
        from ..plots import plot_run

        try:
            plot_run(result, store.out_dir / "plots")
        except Exception as err:  # noqa: BLE001 - a plot must never cost the run its summary
            log.error("plotting failed: %s", err)
            store.event("plot_failed", message=repr(err))
    return summary


def _config_text(settings: ExperimentSettings, seed: int, decider: Decider) -> str:
    """The config of an experiment built without one (tests, notebooks): its settings and the names
    of its policy and surrogate (JSON is YAML)."""
    names: dict[str, Any] = {"policy": {"_target_": type(decider.policy).__name__}}
    if decider.surrogate is not None:
        names["surrogate"] = {"_target_": type(decider.surrogate).__name__}
    return json.dumps({"experiment": asdict(settings), "seed": seed, **names}, default=str)
