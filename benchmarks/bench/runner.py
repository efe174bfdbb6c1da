"""One benchmark run: build the experiment from a composed config, score every step, write files.

A run folder holds the normal run outputs (``config.yaml``, ``record.h5``, ``journal.jsonl``,
``overview.npz``, ``summary.json``; ``plots/`` when ``experiment.plots``) plus ``metrics.csv``
(:mod:`.recorder`), or ``failed.json`` when the run raised and ``bench.fail_fast`` is off.
"""

from __future__ import annotations

import json
import logging
import os
import time
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from agent.app import build_experiment

from .errors import BenchConfigError
from .recorder import MetricsRecorder, RunLabels
from .settings import BenchSettings

__all__ = ["component_name", "run_benchmark", "set_job_threads"]

log = logging.getLogger(__name__)


def component_name(cfg: DictConfig, group: str, choices: Mapping[str, Any] | None = None) -> str:
    """Short name of the component of ``group``: Hydra's choice (``"logei"``) when known, else the
    ``_target_`` class name in lower case; ``"none"`` when the group is unset."""
    if choices and choices.get(group):
        return str(choices[group])
    node = cfg.get(group)
    if node is None:
        return "none"
    target = str(node.get("_target_", "")) if isinstance(node, DictConfig) else ""
    return target.rsplit(".", 1)[-1].lower() or "custom"


def set_job_threads(n_threads: int) -> None:
    """One job's compute threads: torch intra-op and (when threadpoolctl is present) BLAS/OpenMP."""
    import torch

    torch.set_num_threads(int(n_threads))
    os.environ.setdefault("OMP_NUM_THREADS", str(int(n_threads)))
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl ships with joblib's usual installs
        return
    threadpool_limits(int(n_threads))


def run_benchmark(cfg: DictConfig, out_dir: str | Path,
                  choices: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Run one experiment of the benchmark into ``out_dir`` and return its summary.

    Args:
        cfg: a config composed from ``conf/bench.yaml`` (``bench``, ``driver``, ``reward``,
            ``policy``, ``surrogate``, ``experiment``, ``seed``).
        out_dir: the run folder (Hydra's job output directory).
        choices: Hydra's group choices (``HydraConfig.get().runtime.choices``), for the policy and
            surrogate labels; None in the compose API (labels then come from the class names).

    Returns:
        The experiment summary (``summary.json``) plus ``"metrics_csv"`` and ``"wall_s"``; on a
        caught failure ``{"failed": True, "error": ...}``.

    Raises:
        BenchConfigError: the ``bench`` node is unusable (always raised, whatever ``fail_fast``).
    """
    settings = BenchSettings.from_mapping(cfg.get("bench"))
    set_job_threads(settings.threads)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    labels = RunLabels(
        dataset=settings.dataset,
        method=settings.method,
        policy=component_name(cfg, "policy", choices),
        surrogate=component_name(cfg, "surrogate", choices),
        seed=int(cfg.seed),
    )
    recorder = MetricsRecorder(out / "metrics.csv", labels, settings.r2_every)
    t0 = time.perf_counter()
    exp = None
    try:
        exp = build_experiment(cfg, out)
        exp.on_step = recorder
        summary = exp.run()
    except BenchConfigError:
        raise
    except Exception as err:  # noqa: BLE001 - one broken run must not cost the sweep its report
        if settings.fail_fast:
            raise
        info = {"error": type(err).__name__, "message": str(err), "traceback": traceback.format_exc(),
                "labels": labels.__dict__, "wall_s": time.perf_counter() - t0}
        (out / "failed.json").write_text(json.dumps(info, indent=2))
        log.error("benchmark run %s failed: %s: %s (see %s)", labels, type(err).__name__, err,
                  out / "failed.json")
        return {"failed": True, "error": f"{type(err).__name__}: {err}"}
    finally:
        recorder.close()
        close = getattr(getattr(exp, "driver", None), "close", None)
        if close is not None:
            close()
    summary = dict(summary)
    summary.update(metrics_csv=str(out / "metrics.csv"), wall_s=time.perf_counter() - t0,
                   labels=labels.__dict__)
    truth = summary.get("truth") or {}
    log.info("%s/%s seed %d: %d measured, recall top-1%% %.2f, top-5%% %.2f in %.1f s -> %s",
             labels.dataset, labels.method, labels.seed, summary.get("n_measured", 0),
             truth.get("recall_top1", float("nan")), truth.get("recall_top5", float("nan")),
             summary["wall_s"], out)
    return summary
