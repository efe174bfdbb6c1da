"""Offline policy benchmark over recorded datasets (``autoscope-bench``, ``autoscope-bench-report``).

Datasets x methods x seeds run as a Hydra multirun (``conf/bench.yaml``, ``conf/dataset/``,
``conf/method/``); each run scores every step against the denoised ground truth
(:class:`MetricsRecorder` -> ``metrics.csv``) and :func:`write_report` aggregates a sweep into
``results.csv``, ``results.md`` and ``discovery_<dataset>.png``.
"""

from .aggregate import (
    METHOD_ORDER,
    CellSummary,
    Report,
    RunFinal,
    curves,
    final_of_run,
    find_failed,
    load_results,
    read_metrics,
    render_markdown,
    summarise_cells,
    write_report,
    write_results_csv,
)
from .callback import ReportCallback
from .errors import BenchConfigError, BenchError, MetricsFormatError, NoMetricsFound
from .plots import band, plot_discovery
from .recorder import METRIC_COLUMNS, MetricsRecorder, RunLabels
from .runner import component_name, run_benchmark, set_job_threads
from .settings import BenchSettings
from .stats import Interval, t_interval

__all__ = [
    "METHOD_ORDER",
    "METRIC_COLUMNS",
    "BenchConfigError",
    "BenchError",
    "BenchSettings",
    "CellSummary",
    "Interval",
    "MetricsFormatError",
    "MetricsRecorder",
    "NoMetricsFound",
    "Report",
    "ReportCallback",
    "RunFinal",
    "RunLabels",
    "band",
    "component_name",
    "curves",
    "final_of_run",
    "find_failed",
    "load_results",
    "plot_discovery",
    "read_metrics",
    "render_markdown",
    "run_benchmark",
    "set_job_threads",
    "summarise_cells",
    "t_interval",
    "write_report",
    "write_results_csv",
]
