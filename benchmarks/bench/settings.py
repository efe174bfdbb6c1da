"""The ``bench`` config node: what a benchmark run needs besides the normal experiment groups."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from .errors import BenchConfigError

__all__ = ["BenchSettings"]


@dataclass(frozen=True)
class BenchSettings:
    """Settings of one benchmark run (``bench:`` in ``conf/bench.yaml``).

    Args:
        dataset: the dataset label written into ``metrics.csv`` (set by ``conf/dataset/<name>.yaml``).
        method: the method label (policy + surrogate pair, set by ``conf/method/<name>.yaml``).
        r2_every: model-free policies (random, raster) never fit a model, so every ``r2_every``
            measurements (and at the last one) the run's surrogate is fitted on the measured points
            only to score its map (R^2); >= 1.
        threads: torch intra-op threads of the job (1 per job: jobs run side by side).
        fail_fast: re-raise a run's error (ends the whole sweep); False: write ``failed.json`` in the
            run folder, log it and let the other runs go on (the report counts failed runs).
        report: aggregate the sweep folder (``autoscope-bench-report``) when a multirun ends.
    """

    dataset: str
    method: str
    r2_every: int = 5
    threads: int = 1
    fail_fast: bool = False
    report: bool = True

    def __post_init__(self) -> None:
        for name in ("dataset", "method"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value or "," in value:
                raise BenchConfigError(
                    f"bench.{name}={value!r} must be a non-empty label without commas; it is set by "
                    f"conf/{name}/<name>.yaml (choose one with `{name}=<name>`)"
                )
        if isinstance(self.r2_every, bool) or int(self.r2_every) != self.r2_every or self.r2_every < 1:
            raise BenchConfigError(f"bench.r2_every={self.r2_every!r} must be an integer >= 1 (measurements)")
        if isinstance(self.threads, bool) or int(self.threads) != self.threads or self.threads < 1:
            raise BenchConfigError(f"bench.threads={self.threads!r} must be an integer >= 1")

    @classmethod
    def from_mapping(cls, node: Mapping[str, Any] | None) -> BenchSettings:
        """Build from the ``bench`` node (plain mapping or OmegaConf); unknown keys are refused by name."""
        from omegaconf import DictConfig, OmegaConf

        if node is None:
            raise BenchConfigError("config has no `bench` node; compose conf/bench.yaml (autoscope-bench)")
        data = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise BenchConfigError(f"bench.{unknown[0]} is not a setting; known: {', '.join(sorted(known))}")
        missing = [name for name in ("dataset", "method") if data.get(name) in (None, "???")]
        if missing:
            raise BenchConfigError(
                f"bench.{missing[0]} is not set; choose `{missing[0]}=<name>` (conf/{missing[0]}/)"
            )
        return cls(**data)
