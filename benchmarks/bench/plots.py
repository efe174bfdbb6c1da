"""Discovery curves: recall vs measurement step per method, mean over seeds with a 95 % bootstrap
band (whole runs resampled, fixed seed), and random search's exact expected curve."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

__all__ = ["Curve", "band", "plot_discovery"]

#: One method's curves: ``(steps (m,) int64, values (n_runs, m) float64)``; NaN after a run's end.
Curve = tuple[np.ndarray, np.ndarray]


def band(values: np.ndarray, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-column mean and Student-t interval of ``values: (n_runs, m)`` (NaN ignored).

    Returns ``(mean, lo, hi)``, each ``(m,)`` float64; ``lo = hi = mean`` where fewer than two
    runs have a value.
    """
    from scipy import stats

    v = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(v)
    n = ok.sum(axis=0)
    safe_n = np.maximum(n, 1)
    mean = np.where(n > 0, np.nansum(np.where(ok, v, 0.0), axis=0) / safe_n, np.nan)
    dev = np.where(ok, v - mean, 0.0)
    sd = np.sqrt(np.sum(dev * dev, axis=0) / np.maximum(n - 1, 1))
    t = stats.t.ppf(0.5 + confidence / 2.0, np.maximum(n - 1, 1))
    half = np.where(n >= 2, t * sd / np.sqrt(safe_n), 0.0)
    return mean, mean - half, mean + half


def plot_discovery(dataset: str, panels: Mapping[str, Mapping[str, Curve]], path: str | Path,
                   dpi: int = 90, reference: tuple[np.ndarray, np.ndarray] | None = None,
                   reference_label: str = "random (expected, n/N)") -> Path:
    """Write ``path`` (PNG): one panel per entry of ``panels`` (title -> method -> curve).

    Args:
        dataset: figure title.
        panels: e.g. ``{"recall of the top 1 %": {"random": (steps, values), ...}, ...}``.
        path: output file.
        dpi: resolution (90 keeps a 2-panel figure near 60 kB).
        reference: ``(steps, expected recall)`` drawn dashed on every panel: random search's
            expectation (the same ``n / N`` for any top set).
        reference_label: its legend entry.
    """
    import matplotlib

    from .stats import bootstrap_band

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.6), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    methods = list(dict.fromkeys(m for curves in panels.values() for m in curves))
    for ax, (title, curves) in zip(axes[0], panels.items()):
        for method, (steps, values) in curves.items():
            colour = colours[methods.index(method) % len(colours)]
            mean, lo, hi = bootstrap_band(values)
            n_runs = int(np.isfinite(values).any(axis=1).sum())
            ax.plot(steps, mean, color=colour, lw=1.6, label=f"{method} (n={n_runs})")
            ax.fill_between(steps, lo, hi, color=colour, alpha=0.18, lw=0)
        if reference is not None:
            ax.plot(reference[0], reference[1], color="k", ls="--", lw=1.2, label=reference_label)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("measurements")
        ax.set_ylabel("recall")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8, loc="upper left")
    fig.suptitle(f"{dataset}: discovery (mean and 95 % bootstrap interval over seeds)", fontsize=11)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path
