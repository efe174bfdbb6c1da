"""The ``autoscope-bench`` console script: one benchmark run per Hydra job.

Examples::

    autoscope-bench                                   # dataset=jeol_eds method=dkl_ei seed=0
    autoscope-bench dataset=kpfm method=random experiment.steps=20
    autoscope-bench --multirun dataset=kpfm,pto_beps method=random,raster,coord_gp_ei,dkl_ei,dkl_ucb \\
        seed=0,1,2,3,4                                # parallel (joblib, 2 jobs); report at the end

Every job writes the normal run outputs and ``metrics.csv`` into its own folder
(``hydra.sweep.dir``/``hydra.sweep.subdir``); the :class:`~benchmarks.bench.callback.ReportCallback`
aggregates the sweep (``autoscope-bench-report``) when the multirun ends.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from agent.app import CONF_DIR

from .runner import run_benchmark

__all__ = ["main"]


@hydra.main(config_path=str(CONF_DIR), config_name="bench", version_base="1.3")
def _hydra_main(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig

    runtime = HydraConfig.get().runtime
    run_benchmark(cfg, runtime.output_dir, choices=dict(runtime.choices))


def main() -> None:
    """Console entry point (``autoscope-bench``)."""
    _hydra_main()


if __name__ == "__main__":  # pragma: no cover
    main()
