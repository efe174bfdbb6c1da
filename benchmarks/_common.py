"""Shared helpers of the benchmarks: benchmark data, thread settings, memory probes, statistics.

Benchmark data: an overview (the plasmon emulator's HAADF image, or a synthetic blob image when the
emulator cannot be built), a candidate grid with 16x16 patches whose side count is exact
(:func:`grid_for`), and the noise-free target at every candidate (the emulator's ground truth of the
edge-band intensity reward, or a synthetic edge-strength map), min-max normalised to [0, 1] over the
candidates (as the published notebook normalised its spectra) so the reference's un-standardised
targets are not penalised by the reward's units.
"""

from __future__ import annotations

import gc
import math
import os
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agent.candidates import CandidateSet, make_candidates
from drivers.errors import AutoscopeError
from drivers.frames import Axis, Frame

__all__ = [
    "jsonable",
    "BenchData",
    "BenchDataError",
    "collect",
    "configure_threads",
    "grid_for",
    "make_bench_data",
    "pearson",
    "peak_rss_mb",
    "r2_score",
    "rss_mb",
    "slope_per_step",
    "synthetic_overview",
    "timed",
]

#: side of the benchmark overview (pixels); the candidate grids below are laid on it.
OVERVIEW_PX = 256


class BenchDataError(AutoscopeError, ValueError):
    """A benchmark grid or data setting cannot be honoured (the message names the setting)."""


# ---------------------------------------------------------------------- process settings
def configure_threads(n_threads: int) -> dict[str, Any]:
    """Use ``n_threads`` intra-op threads for torch, and for XLA if jax is not imported yet.

    XLA reads its thread settings once, when jax starts: ``XLA_FLAGS`` is set here only if
    ``jax`` is not in ``sys.modules``; ``OMP_WAIT_POLICY=PASSIVE`` likewise only before torch is
    imported (the returned dict says what took effect).
    """
    if int(n_threads) < 1:
        raise BenchDataError(f"--threads={n_threads} must be >= 1")
    omp_applied = False
    if "torch" not in sys.modules and "OMP_WAIT_POLICY" not in os.environ:
        # After torch has run, busy-waiting OpenMP workers slowed jax's 50-point SVI refits 14x
        # (0.06 -> 0.83 s) on the 2-core machines; passive workers sleep instead.
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
        omp_applied = True
    import torch

    torch.set_num_threads(int(n_threads))
    xla_applied = False
    if "jax" not in sys.modules:
        flags = os.environ.get("XLA_FLAGS", "")
        if int(n_threads) == 1 and "xla_cpu_multi_thread_eigen" not in flags:
            flags = (flags + " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1").strip()
            os.environ["XLA_FLAGS"] = flags
        xla_applied = True
    return {"torch_threads": torch.get_num_threads(), "xla_threads_applied": xla_applied,
            "xla_flags": os.environ.get("XLA_FLAGS", ""), "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
            "omp_wait_policy_applied": omp_applied}


# ---------------------------------------------------------------------- memory and timing
def rss_mb() -> float:
    """Resident set size of this process now, MiB (from ``/proc/self/statm``)."""
    with open("/proc/self/statm") as fh:
        resident_pages = int(fh.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (``ru_maxrss``), MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def slope_per_step(values: list[float] | np.ndarray) -> float:
    """Least-squares slope of ``values`` against their index (units per step); NaN if < 2 values."""
    v = np.asarray(values, dtype=np.float64)
    if v.size < 2:
        return float("nan")
    x = np.arange(v.size, dtype=np.float64)
    x -= x.mean()
    return float(np.dot(x, v - v.mean()) / np.dot(x, x))


class timed:
    """``with timed() as t: ...`` then ``t.s`` holds the wall time in seconds."""

    def __enter__(self) -> timed:
        self._t0 = time.perf_counter()
        self.s = float("nan")
        return self

    def __exit__(self, *exc: object) -> None:
        self.s = time.perf_counter() - self._t0


# ---------------------------------------------------------------------- statistics
def r2_score(truth: np.ndarray, pred: np.ndarray) -> float:
    """Coefficient of determination of ``pred`` against ``truth`` (both (n,)); 1 is perfect."""
    t = np.asarray(truth, dtype=np.float64)
    p = np.asarray(pred, dtype=np.float64)
    sst = float(np.sum((t - t.mean()) ** 2))
    if sst == 0.0:
        return float("nan")
    return 1.0 - float(np.sum((t - p) ** 2)) / sst


def pearson(truth: np.ndarray, pred: np.ndarray) -> float:
    """Pearson correlation of two (n,) arrays; NaN when either is constant."""
    t = np.asarray(truth, dtype=np.float64)
    p = np.asarray(pred, dtype=np.float64)
    if t.std() == 0.0 or p.std() == 0.0:
        return float("nan")
    return float(np.corrcoef(t, p)[0, 1])


# ---------------------------------------------------------------------- data
def grid_for(n_side: int, overview_px: int = OVERVIEW_PX) -> tuple[int, int]:
    """``(stride_px, margin_px)`` that put exactly ``n_side`` x ``n_side`` candidates on a square
    overview of ``overview_px`` (the largest stride that fits, the grid centred).

    57 -> (4, 15), 127 -> (2, 1), 256 -> (1, 0) on a 256 px overview.
    """
    n_side, size = int(n_side), int(overview_px)
    if n_side < 2 or n_side > size:
        raise BenchDataError(f"n_side={n_side} must lie in [2, {size}] for a {size} px overview")
    stride = (size - 1) // (n_side - 1)
    margin = (size - 1 - (n_side - 1) * stride) // 2
    rows = (size - 2 * margin - 1) // stride + 1
    if rows != n_side:  # pragma: no cover - the arithmetic above guarantees it
        raise BenchDataError(f"no grid gives {n_side} candidates per side on {size} px")
    return stride, margin


def synthetic_overview(shape_px: int, seed: int, n_blobs: int = 14) -> tuple[np.ndarray, np.ndarray]:
    """A blob image and its edge-strength map: ``(image (n, n) float64, edge (n, n) float64)``.

    Bright soft-edged ellipses on a noisy background; the edge map (the synthetic target) is the
    smoothed gradient magnitude of the clean image, high at particle edges like an edge plasmon.
    """
    from scipy.ndimage import gaussian_filter, gaussian_gradient_magnitude

    rng = np.random.default_rng([int(seed), 0x5E7])
    n = int(shape_px)
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float64)
    clean = np.zeros((n, n))
    for _ in range(int(n_blobs)):
        cy, cx = rng.uniform(0.08 * n, 0.92 * n, size=2)
        ry, rx = rng.uniform(0.03 * n, 0.09 * n, size=2)
        th = rng.uniform(0, math.pi)
        u = ((yy - cy) * math.cos(th) + (xx - cx) * math.sin(th)) / ry
        v = (-(yy - cy) * math.sin(th) + (xx - cx) * math.cos(th)) / rx
        clean = np.maximum(clean, 1.0 / (1.0 + np.exp((np.hypot(u, v) - 1.0) * 8.0)))
    clean = gaussian_filter(clean, 1.0)
    image = clean + 0.05 * rng.standard_normal((n, n))
    edge = gaussian_filter(gaussian_gradient_magnitude(clean, 1.5), 3.0)
    return image, edge


@dataclass
class BenchData:
    """Candidates and targets for one benchmark size.

    Args:
        candidates: the grid with z-scored 16x16 patches (what autoscope's surrogates take).
        truth: (n,) float64 noise-free target at every candidate, min-max normalised to [0, 1].
        noise_std: std of the measurement noise added by :meth:`measure` (truth units).
        source: ``"emulator"`` or ``"synthetic"``.
        seed: seed of the overview/sample and of the measurement noise.
    """

    candidates: CandidateSet
    truth: np.ndarray
    noise_std: float
    source: str
    seed: int
    overview: Frame
    _minmax: np.ndarray | None = field(default=None, repr=False)

    @property
    def n(self) -> int:
        return self.candidates.n

    @property
    def patches(self) -> np.ndarray:
        """(n, 16, 16) float32 patches of the z-scored overview."""
        return self.candidates.patches

    def patches_minmax(self) -> np.ndarray:
        """(n, 16, 16) float32 patches min-max normalised over the whole stack (the notebook's
        ``norm_(features)``), same grid."""
        if self._minmax is None:
            c = self.candidates
            p = make_candidates(self.overview, c.window, c.stride, c.margin, normalise="none").patches
            lo, hi = float(p.min()), float(p.max())
            self._minmax = ((p - lo) / (hi - lo) if hi > lo else np.zeros_like(p)).astype(np.float32)
        return self._minmax

    def measure(self, indices: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Noisy targets at candidate ``indices`` (k,) -> (k,) float64: truth + N(0, noise_std^2)."""
        idx = np.asarray(indices, dtype=np.int64)
        return self.truth[idx] + self.noise_std * rng.standard_normal(idx.shape[0])

    def oracle(self, seed: int) -> Callable[[int], float]:
        """``oracle(index) -> float``: one noisy measurement (own random stream)."""
        rng = np.random.default_rng([int(seed), 0x0AC1E])
        return lambda i: float(self.measure(np.array([int(i)]), rng)[0])


def _emulator_overview_and_truth(cand_for: Callable[[Frame], CandidateSet], seed: int,
                                 overview_px: int) -> tuple[Frame, CandidateSet, np.ndarray]:
    from drivers.emulator import EDGE_BAND_EV, PlasmonEmulator
    from rewards import evaluate_at
    from rewards.bands import BandIntensity

    emu = PlasmonEmulator(seed=int(seed))
    try:
        frame = emu.acquire_overview(None, (overview_px, overview_px), None, "HAADF")
        cand = cand_for(frame)
        truth = evaluate_at(BandIntensity(window_eV=list(EDGE_BAND_EV)), emu.expected_spectra, emu.signal_axis,
                            cand.yx_m)
    finally:
        emu.close()
    return frame, cand, np.asarray(truth, dtype=np.float64)


def make_bench_data(n_side: int, source: str = "auto", seed: int = 0, noise_std: float = 0.02,
                    overview_px: int = OVERVIEW_PX, window_px: int = 16) -> BenchData:
    """Benchmark data with exactly ``n_side**2`` candidates.

    Args:
        n_side: candidates per grid side (57 -> 3,249; 127 -> 16,129; 256 -> 65,536).
        source: ``"emulator"`` (plasmon emulator + band-intensity ground truth), ``"synthetic"``
            (blob image + edge-strength map) or ``"auto"`` (emulator, else synthetic).
        seed: sample / image seed.
        noise_std: measurement noise std, in units of the [0, 1]-normalised truth.
        overview_px: overview side in pixels.
        window_px: patch side in pixels.
    """
    if source not in ("auto", "emulator", "synthetic"):
        raise BenchDataError(f"source={source!r} is not known; use 'auto', 'emulator' or 'synthetic'")
    if not (noise_std >= 0 and math.isfinite(noise_std)):
        raise BenchDataError(f"noise_std={noise_std} must be a finite number >= 0")
    stride, margin = grid_for(n_side, overview_px)

    def cand_for(frame: Frame) -> CandidateSet:
        return make_candidates(frame, window_px, stride, margin, normalise="zscore")

    used = source
    truth: np.ndarray | None = None
    if source in ("auto", "emulator"):
        try:
            frame, cand, truth = _emulator_overview_and_truth(cand_for, seed, overview_px)
            used = "emulator"
        except ImportError:
            if source == "emulator":
                raise
            truth = None
    if truth is None:
        image, edge = synthetic_overview(overview_px, seed)
        ax = Axis.uniform("y", "m", 0.5e-9, 1e-9, overview_px)
        frame = Frame(image, (ax, Axis("x", "m", ax.values)), f"synthetic-{seed}")
        cand = cand_for(frame)
        truth = edge[cand.yx_px[:, 0], cand.yx_px[:, 1]]
        used = "synthetic"
    if not np.all(np.isfinite(truth)):
        raise BenchDataError(f"the {used} ground truth holds non-finite values")
    lo, hi = float(truth.min()), float(truth.max())
    truth = (truth - lo) / (hi - lo) if hi > lo else np.zeros_like(truth)
    return BenchData(candidates=cand, truth=truth, noise_std=float(noise_std), source=used,
                     seed=int(seed), overview=frame)


def collect() -> None:
    """``gc.collect()`` twice (cycles freed by the first pass can hold more cycles)."""
    gc.collect()
    gc.collect()


def jsonable(value: Any) -> Any:
    """``value`` with numpy arrays, scalars and non-finite floats made JSON-safe (NaN/inf -> None)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (np.floating, float)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value
