"""Pictures of a run: overview with the measured path, predicted and uncertainty maps, progress."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import metrics

if TYPE_CHECKING:
    from policies.posterior import Posterior

    from .loop import Experiment

__all__ = ["plot_run"]

_PREFIX = {"m": (1e9, "nm"), "px": (1.0, "px")}


def _scale(units: str) -> tuple[float, str]:
    return _PREFIX.get(units, (1.0, units))


def plot_run(exp: "Experiment", posterior: "Posterior | None", out_dir: Path) -> list[Path]:
    """Write ``overview.png``, ``predicted_mean.png``, ``uncertainty.png``, ``progress.png`` (and
    ``truth.png`` when the truth is known) into ``out_dir``; returns the paths written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    ov, cand, rec = exp.overview, exp.candidates, exp.record
    assert ov is not None and cand is not None and rec is not None
    factor, unit = _scale(ov.axes[0].units)
    ay, ax = ov.axes[0].values * factor, ov.axes[1].values * factor
    half = (abs(ax[1] - ax[0]) / 2) if ax.size > 1 else 0.5
    extent = (ax[0] - half, ax[-1] + half, ay[-1] + half, ay[0] - half)
    idx = rec.column("index").astype(np.int64)
    phase = rec.column("phase")
    truth_all = exp.truth
    truth = truth_all if truth_all is None or truth_all.ndim == 1 else truth_all[:, 0]
    pos = cand.yx_m[idx] * factor if idx.size else np.zeros((0, 2))
    seed = np.array([p == "seed" for p in phase], dtype=bool)
    written: list[Path] = []

    def save(fig, name: str) -> None:
        path = out_dir / name
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        written.append(path)

    def path_overlay(axis) -> None:
        if pos.size:
            axis.plot(pos[:, 1], pos[:, 0], "-", color="w", lw=0.6, alpha=0.7)
            axis.scatter(pos[seed, 1], pos[seed, 0], s=14, marker="s", c="cyan", label="seed")
            axis.scatter(pos[~seed, 1], pos[~seed, 0], s=14, c=np.arange((~seed).sum()),
                         cmap="autumn", label="policy")
            y = rec.column("reward")
            if np.isfinite(y).any():
                k = int(np.nanargmax(y) if exp.settings.maximize else np.nanargmin(y))
                axis.scatter([pos[k, 1]], [pos[k, 0]], s=120, marker="*", c="lime", edgecolor="k",
                             label="best")

    fig, axis = plt.subplots(figsize=(6, 5.5))
    axis.imshow(ov.data, cmap="gray", extent=extent)
    path_overlay(axis)
    axis.set(title=f"Overview and measured path ({len(idx)} points)", xlabel=f"x ({unit})",
             ylabel=f"y ({unit})")
    axis.legend(loc="upper right", fontsize=7)
    save(fig, "overview.png")

    gy, gx = cand.as_map(cand.yx_m[:, 0] * factor), cand.as_map(cand.yx_m[:, 1] * factor)
    grid_extent = (gx[0, 0], gx[0, -1], gy[-1, 0], gy[0, 0])

    def grid_map(values: np.ndarray, title: str, name: str, cmap: str, label: str) -> None:
        fig, axis = plt.subplots(figsize=(6, 5.5))
        im = axis.imshow(cand.as_map(values), cmap=cmap, extent=grid_extent)
        path_overlay(axis)
        fig.colorbar(im, ax=axis, label=label)
        axis.set(title=title, xlabel=f"x ({unit})", ylabel=f"y ({unit})")
        save(fig, name)

    if posterior is not None:
        grid_map(posterior.mean, "Predicted reward", "predicted_mean.png", "viridis", "mean")
        grid_map(posterior.std, "Uncertainty (posterior std)", "uncertainty.png", "magma", "std")
    if truth is not None:
        grid_map(truth, "Ground truth (noise-free reward)", "truth.png", "viridis", "truth")

    y = rec.column("reward")
    has_truth = truth is not None and idx.size > 0
    fig, axes = plt.subplots(1, 2 if has_truth else 1, figsize=(11 if has_truth else 6, 4),
                             squeeze=False)
    a0 = axes[0, 0]
    steps = np.arange(1, len(y) + 1)
    a0.plot(steps, y, ".", color="0.5", label="measured")
    yy = np.where(np.isfinite(y), y, -np.inf if exp.settings.maximize else np.inf)
    best = np.maximum.accumulate(yy) if exp.settings.maximize else np.minimum.accumulate(yy)
    a0.plot(steps, np.where(np.isfinite(best), best, np.nan), "-", color="C3", label="best so far")
    a0.axvline(seed.sum() + 0.5, color="k", ls=":", lw=0.8)
    a0.set(xlabel="measurement", ylabel="reward", title="Reward per step")
    a0.legend(fontsize=8)
    if has_truth:
        a1 = axes[0, 1]
        for frac, col in ((0.01, "C0"), (0.05, "C1")):
            curve = metrics.recall_curve(idx, truth, frac, exp.settings.maximize)
            a1.plot(np.arange(1, curve.size + 1), curve, color=col, label=f"top {frac:.0%} found")
        a1.plot(steps, np.minimum(1.0, steps / cand.n), "k--", lw=0.8, label="random (expected)")
        a1.set(xlabel="measurement", ylabel="recall", title="Discovery", ylim=(0, 1.02))
        a1.legend(fontsize=8)
    save(fig, "progress.png")

    objectives = rec.column("objectives")
    if objectives.ndim == 2 and objectives.shape[0] and objectives.shape[1] >= 2:
        from policies.pareto import pareto_mask

        fig, axis = plt.subplots(figsize=(5.5, 5))
        if truth_all is not None and truth_all.ndim == 2:
            axis.scatter(truth_all[:, 0], truth_all[:, 1], s=3, c="0.8", label="truth, all candidates")
        ok = np.all(np.isfinite(objectives), axis=1)
        sign = 1.0 if exp.settings.maximize else -1.0
        front = np.zeros(len(objectives), dtype=bool)
        front[ok] = pareto_mask(sign * objectives[ok])
        axis.scatter(objectives[ok, 0], objectives[ok, 1], s=12, c="C0", label="measured")
        f = objectives[front]
        f = f[np.argsort(f[:, 0])]
        axis.plot(f[:, 0], f[:, 1], "o-", color="C3", ms=5, label="measured Pareto front")
        axis.set(xlabel="objective 1", ylabel="objective 2", title="Objectives")
        axis.legend(fontsize=8)
        save(fig, "pareto.png")
    return written
