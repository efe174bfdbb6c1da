"""Pictures of a run, from its :class:`agent.result.RunResult` alone (no driver, no model).

Every map is in nm with the reward's name and units on its colour bar; the predicted mean and the
truth share one colour scale; the gate (where one was active) is outlined on the overview and the
maps; the best measurement's spectrum is drawn with the reward's window(s) shaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from . import metrics
from .result import RunResult

__all__ = ["plot_run", "shared_limits", "PLOT_NAMES"]

#: every file :func:`plot_run` may write (those without data are skipped)
PLOT_NAMES = ("overview.png", "predicted_mean.png", "uncertainty.png", "truth.png", "best_spectrum.png",
              "progress.png", "pareto.png")

_PREFIX = {"m": (1e9, "nm"), "px": (1.0, "px")}


def _scale(units: str) -> tuple[float, str]:
    return _PREFIX.get(units, (1.0, units))


def shared_limits(*arrays: np.ndarray | None) -> tuple[float, float] | None:
    """``(vmin, vmax)`` over the finite values of every array given (one colour scale for all)."""
    finite = [np.asarray(a, np.float64)[np.isfinite(a)] for a in arrays if a is not None]
    finite = [a for a in finite if a.size]
    if not finite:
        return None
    lo, hi = min(float(a.min()) for a in finite), max(float(a.max()) for a in finite)
    return (lo, hi) if hi > lo else (lo - 0.5, hi + 0.5)


def _first(values: np.ndarray | None) -> np.ndarray | None:
    return values if values is None or values.ndim == 1 else values[:, 0]


def plot_run(result: RunResult, out_dir: str | Path) -> list[Path]:
    """Write the plots of :data:`PLOT_NAMES` that the run has data for into ``out_dir``; returns
    the paths written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def save(fig: Any, name: str) -> None:
        path = out / name
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        written.append(path)

    view = _View(result)
    for name, draw in (("overview.png", view.overview), ("predicted_mean.png", view.mean),
                       ("uncertainty.png", view.std), ("truth.png", view.truth),
                       ("best_spectrum.png", view.best_spectrum), ("progress.png", view.progress),
                       ("pareto.png", view.pareto)):
        fig = draw(plt)
        if fig is not None:
            save(fig, name)
    return written


class _View:
    """The quantities every plot shares: positions in nm, labels with units, the colour scale."""

    def __init__(self, result: RunResult) -> None:
        self.r = result
        ov = result.overview
        self.factor, self.unit = _scale(ov.axes[0].units)
        ay, ax = ov.axes[0].values * self.factor, ov.axes[1].values * self.factor
        half = (abs(ax[1] - ax[0]) / 2) if ax.size > 1 else 0.5
        self.extent = (ax[0] - half, ax[-1] + half, ay[-1] + half, ay[0] - half)
        idx = np.asarray(result.columns["index"], dtype=np.int64)
        self.pos = result.candidate_yx_m[idx] * self.factor if idx.size else np.zeros((0, 2))
        self.seed = np.array([p == "seed" for p in result.columns["phase"]], dtype=bool)
        gy = result.as_map(result.candidate_yx_m[:, 0] * self.factor)
        gx = result.as_map(result.candidate_yx_m[:, 1] * self.factor)
        self.grid_extent = (gx[0, 0], gx[0, -1], gy[-1, 0], gy[0, 0])
        self.truth_v = _first(result.truth)
        self.mean_v = _first(result.per_candidate("mean"))
        self.std_v = _first(result.per_candidate("std"))
        self.gate = _first(result.per_candidate("gate"))
        self.limits = shared_limits(self.mean_v, self.truth_v)  # prediction and truth: one scale
        self.reward_label = result.reward.label
        self.xlabel, self.ylabel = f"x ({self.unit})", f"y ({self.unit})"

    # ------------------------------------------------------------------ overlays
    def _path(self, axis: Any) -> None:
        pos, seed = self.pos, self.seed
        if not pos.size:
            return
        axis.plot(pos[:, 1], pos[:, 0], "-", color="w", lw=0.6, alpha=0.7)
        axis.scatter(pos[seed, 1], pos[seed, 0], s=14, marker="s", c="cyan", label="seed")
        axis.scatter(pos[~seed, 1], pos[~seed, 0], s=14, c=np.arange((~seed).sum()), cmap="autumn",
                     label="policy")
        row = self.r.best_row
        if row is not None:
            axis.scatter([pos[row, 1]], [pos[row, 0]], s=120, marker="*", c="lime", edgecolor="k",
                         label="best")

    def _gate(self, axis: Any) -> None:
        """Outline the candidates the gate passes (weight > 0; a prior: weight above its median)."""
        if self.gate is None:
            return
        g = np.asarray(self.gate, dtype=np.float64)
        level = 0.5 if np.all((g == 0) | (g == 1)) else float(np.median(g))
        grid = self.r.as_map((g > level).astype(np.float64))
        if grid.min() == grid.max():
            return
        ys = self.r.as_map(self.r.candidate_yx_m[:, 0] * self.factor)
        xs = self.r.as_map(self.r.candidate_yx_m[:, 1] * self.factor)
        axis.contour(xs, ys, grid, levels=[0.5], colors="deepskyblue", linewidths=0.9)
        axis.plot([], [], color="deepskyblue", lw=0.9, label="gate passes")

    # ------------------------------------------------------------------ plots
    def overview(self, plt: Any) -> Any:
        fig, axis = plt.subplots(figsize=(6, 5.5))
        im = axis.imshow(self.r.overview.data, cmap="gray", extent=self.extent)
        fig.colorbar(im, ax=axis, label=f"{self.r.overview.metadata.get('detector', 'overview')} "
                                         f"(counts)")
        self._gate(axis)
        self._path(axis)
        axis.set(title=f"Overview and measured path ({self.r.n_rows} points)", xlabel=self.xlabel,
                 ylabel=self.ylabel)
        axis.legend(loc="upper right", fontsize=7)
        return fig

    def _grid_map(self, plt: Any, values: np.ndarray, title: str, cmap: str, label: str,
                  limits: tuple[float, float] | None) -> Any:
        fig, axis = plt.subplots(figsize=(6, 5.5))
        vmin, vmax = limits if limits is not None else (None, None)
        im = axis.imshow(self.r.as_map(values), cmap=cmap, extent=self.grid_extent, vmin=vmin, vmax=vmax)
        self._gate(axis)
        self._path(axis)
        fig.colorbar(im, ax=axis, label=label)
        axis.set(title=title, xlabel=self.xlabel, ylabel=self.ylabel)
        return fig

    def mean(self, plt: Any) -> Any:
        if self.mean_v is None:
            return None
        return self._grid_map(plt, self.mean_v, "Predicted reward (posterior mean)", "viridis",
                              f"predicted {self.reward_label}", self.limits)

    def std(self, plt: Any) -> Any:
        if self.std_v is None:
            return None
        return self._grid_map(plt, self.std_v, "Uncertainty (posterior std)", "magma",
                              f"std of {self.reward_label}", None)

    def truth(self, plt: Any) -> Any:
        if self.truth_v is None:
            return None
        return self._grid_map(plt, self.truth_v, "Ground truth (noise-free reward)", "viridis",
                              f"true {self.reward_label}", self.limits)

    def best_spectrum(self, plt: Any) -> Any:
        row, axis_ = self.r.best_row, self.r.signal_axis
        spectra = self.r.columns["spectrum"]
        if row is None or axis_ is None or spectra.ndim != 2 or spectra.shape[1] != axis_.size:
            return None
        fig, axis = plt.subplots(figsize=(7, 4))
        axis.plot(axis_.values, spectra[row], lw=0.8, color="k")
        for k, (lo, hi) in enumerate(self.r.reward.windows):
            axis.axvspan(lo, hi, color=f"C{k}", alpha=0.25,
                         label=f"reward window [{lo:g}, {hi:g}] {axis_.units}")
        index = int(self.r.columns["index"][row])
        yx = self.r.candidate_yx_m[index] * self.factor
        value = float(self.r.columns["reward"][row])
        axis.set(xlabel=f"{axis_.name} ({axis_.units})", ylabel="intensity (counts)",
                 title=f"Best spectrum: {self.reward_label} = {value:.4g} at y={yx[0]:.1f}, "
                       f"x={yx[1]:.1f} {self.unit} (step {int(self.r.columns['step'][row])})")
        if self.r.reward.windows:
            axis.legend(fontsize=8)
        return fig

    def progress(self, plt: Any) -> Any:
        r, y = self.r, np.asarray(self.r.columns["reward"], dtype=np.float64)
        idx, truth = r.measured, self.truth_v
        has_truth = truth is not None and idx.size > 0
        fig, axes = plt.subplots(1, 2 if has_truth else 1, figsize=(11 if has_truth else 6, 4), squeeze=False)
        a0 = axes[0, 0]
        steps = np.arange(1, len(y) + 1)
        a0.plot(steps, y, ".", color="0.5", label="measured")
        yy = np.where(np.isfinite(y), y, -np.inf if r.maximize else np.inf)
        best = np.maximum.accumulate(yy) if r.maximize else np.minimum.accumulate(yy)
        a0.plot(steps, np.where(np.isfinite(best), best, np.nan), "-", color="C3", label="best so far")
        a0.axvline(self.seed.sum() + 0.5, color="k", ls=":", lw=0.8)
        a0.set(xlabel="measurement", ylabel=self.reward_label, title="Reward per step")
        a0.legend(fontsize=8)
        if truth is not None and has_truth:
            a1 = axes[0, 1]
            for frac, col in ((0.01, "C0"), (0.05, "C1")):
                curve = metrics.recall_curve(idx, truth, frac, r.maximize)
                a1.plot(np.arange(1, curve.size + 1), curve, color=col, label=f"top {frac:.0%} found")
            a1.plot(steps, np.minimum(1.0, steps / r.n_candidates), "k--", lw=0.8, label="random (expected)")
            a1.set(xlabel="measurement", ylabel="recall (fraction of the true top found)",
                   title="Discovery", ylim=(0, 1.02))
            a1.legend(fontsize=8)
        return fig

    def pareto(self, plt: Any) -> Any:
        objectives = self.r.columns["objectives"]
        if not (objectives.ndim == 2 and objectives.shape[0] and objectives.shape[1] >= 2):
            return None
        from policies.pareto import pareto_mask

        fig, axis = plt.subplots(figsize=(5.5, 5))
        truth_all = self.r.truth
        if truth_all is not None and truth_all.ndim == 2:
            axis.scatter(truth_all[:, 0], truth_all[:, 1], s=3, c="0.8", label="truth, all candidates")
        ok = np.all(np.isfinite(objectives), axis=1)
        sign = 1.0 if self.r.maximize else -1.0
        front = np.zeros(len(objectives), dtype=bool)
        front[ok] = pareto_mask(sign * objectives[ok])
        axis.scatter(objectives[ok, 0], objectives[ok, 1], s=12, c="C0", label="measured")
        f = objectives[front]
        f = f[np.argsort(f[:, 0])]
        axis.plot(f[:, 0], f[:, 1], "o-", color="C3", ms=5, label="measured Pareto front")
        axis.set(xlabel=f"objective 1 of {self.reward_label}", ylabel=f"objective 2 of {self.reward_label}",
                 title="Objectives")
        axis.legend(fontsize=8)
        return fig
