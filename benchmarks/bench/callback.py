"""Hydra callback: aggregate the sweep folder when ``autoscope-bench --multirun`` ends."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from .errors import MetricsFormatError, NoMetricsFound

__all__ = ["ReportCallback"]

log = logging.getLogger(__name__)


class ReportCallback(Callback):
    """Runs :func:`benchmarks.bench.aggregate.write_report` on ``hydra.sweep.dir`` after a multirun.

    Configured in ``conf/bench.yaml`` under ``hydra.callbacks.report``. A sweep whose every run
    failed (no ``metrics.csv``) is logged, never raised: the runs' own folders say why.

    Args:
        enabled: False skips the report (run ``autoscope-bench-report DIR`` later).
        plots: write the discovery PNGs.
    """

    def __init__(self, enabled: bool = True, plots: bool = True) -> None:
        self.enabled = bool(enabled)
        self.plots = bool(plots)
        self.last_report: Any = None

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if not self.enabled:
            return
        from .aggregate import write_report

        sweep_dir = Path(str(config.hydra.sweep.dir))
        try:
            self.last_report = write_report(sweep_dir, plots=self.plots)
        except (NoMetricsFound, MetricsFormatError) as err:
            log.error("benchmark report skipped: %s", err)
            return
        rep = self.last_report
        log.info("benchmark report: %d runs (%d failed) -> %s", rep.n_runs, rep.n_failed, rep.results_md)
        print(f"[autoscope-bench] report: {rep.results_md} ({rep.n_runs} runs, {rep.n_failed} failed)")
