"""The dashboard's plotly figures, each built from one :class:`~agent.dashboard.runview.Snapshot`.

Positions are drawn in overview pixels converted to nanometres where the overview is calibrated in
metres (``nm``), else in pixels (``px``); :func:`to_pixel` maps a point of a figure back to the
overview pixel the control commands take.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import plotly.graph_objects as go

from .inflight import maps_as_of, planned_points
from .runview import ROUTINE_EVENTS, Row, Snapshot, finite

__all__ = ["overview_figure", "maps_figure", "reward_figure", "discovery_figure", "spectrum_figure",
           "comparison_figure", "status_lines", "event_rows", "reward_label", "to_pixel", "Frame2D",
           "planned_points", "maps_as_of"]

_MARGIN = dict(l=50, r=10, t=36, b=40)


class Frame2D:
    """Pixel <-> display coordinates of the overview (linear axes; nm when calibrated in metres)."""

    def __init__(self, snap: Snapshot) -> None:
        self.unit = "px"
        self.oy, self.sy, self.ox, self.sx = 0.0, 1.0, 0.0, 1.0
        if snap.overview_axes is not None:
            y, x, units = snap.overview_axes
            if units == "m" and y.size > 1 and x.size > 1:
                self.unit = "nm"
                self.oy, self.sy = float(y[0]) * 1e9, float(y[1] - y[0]) * 1e9
                self.ox, self.sx = float(x[0]) * 1e9, float(x[1] - x[0]) * 1e9

    def y(self, py: Any) -> Any:
        return self.oy + self.sy * np.asarray(py, dtype=np.float64)

    def x(self, px: Any) -> Any:
        return self.ox + self.sx * np.asarray(px, dtype=np.float64)

    def to_pixel(self, y: float, x: float) -> tuple[float, float]:
        return (y - self.oy) / self.sy, (x - self.ox) / self.sx


def to_pixel(snap: Snapshot, y: float, x: float) -> tuple[float, float]:
    """A point of the overview/maps figures (display units) -> overview pixel ``(y, x)``."""
    return Frame2D(snap).to_pixel(y, x)


def reward_label(snap: Snapshot) -> str:
    """``"BandIntensity [1.5, 2.4] eV (counts·eV)"``: the reward's name, window and units."""
    rec = snap.config.get("_record") or {}
    node = snap.config.get("reward") or {}
    name = rec.get("reward_name") or str(node.get("_target_", "reward")).rsplit(".", 1)[-1]
    windows = _windows(snap)
    if windows and "[" not in name:
        name += " " + ", ".join(f"[{lo:g}, {hi:g}]" for lo, hi in windows) + f" {node.get('units', '')}".rstrip()
    units = rec.get("reward_units")
    return f"{name} ({units})" if units else name


def _windows(snap: Snapshot) -> list[tuple[float, float]]:
    """Every ``window*`` pair of the reward's config (axis units)."""
    node = snap.config.get("reward") or {}
    out = []
    for key, value in node.items():
        if str(key).startswith("window") and isinstance(value, (list, tuple)) and len(value) == 2:
            try:
                out.append((float(value[0]), float(value[1])))
            except (TypeError, ValueError):
                continue
    return out


def _maximize(snap: Snapshot) -> bool:
    return bool((snap.config.get("experiment") or {}).get("maximize", True))


def overview_figure(snap: Snapshot, mouse: str = "zoom", pending: dict[str, Any] | None = None) -> go.Figure:
    """The overview image with the measured path, the latest, in-flight and planned points and the
    vetoed boxes. ``mouse``: ``"veto"`` (drag a rectangle), ``"force"`` (click a point) or ``"zoom"``;
    ``pending``: a command not sent yet (``{"verb": "veto"|"force", "args": [...]}`` in pixels), drawn
    dashed."""
    f = Frame2D(snap)
    fig = go.Figure()
    if snap.overview is not None:
        img = snap.overview
        step = max(1, int(math.ceil(max(img.shape) / 256)))
        img = img[::step, ::step].astype(np.float64)
        lo, hi = np.nanpercentile(img, [0.5, 99.5]) if np.isfinite(img).any() else (0.0, 1.0)
        # 8 bits are plenty for a grey overview and keep each redraw small (~90 kB for 256 x 256)
        img = np.clip(255 * (img - lo) / (hi - lo if hi > lo else 1.0), 0, 255)
        img = np.nan_to_num(img).astype(np.uint8)
        fig.add_trace(go.Heatmap(z=img, x=f.x(np.arange(0, snap.overview.shape[1], step)),
                                 y=f.y(np.arange(0, snap.overview.shape[0], step)), colorscale="gray",
                                 showscale=False, hovertemplate=f"x %{{x:.1f}} {f.unit}<br>y %{{y:.1f}} {f.unit}"
                                                                f"<extra>overview</extra>", name="overview"))
    if snap.rows:
        py = np.array([r.yx_px[0] for r in snap.rows])
        px = np.array([r.yx_px[1] for r in snap.rows])
        rewards = finite([r.reward for r in snap.rows])
        fig.add_trace(go.Scatter(x=f.x(px), y=f.y(py), mode="lines+markers", name="measured path",
                                 line=dict(color="rgba(0,180,255,0.6)", width=1),
                                 marker=dict(size=6, color=[v if v is not None else np.nan for v in rewards],
                                             colorscale="Viridis", line=dict(width=0.5, color="white")),
                                 customdata=[[r.step, r.reward] for r in snap.rows],
                                 hovertemplate="step %{customdata[0]}<br>reward %{customdata[1]:.4g}<extra></extra>"))
        last = snap.rows[-1]
        fig.add_trace(go.Scatter(x=[f.x(last.yx_px[1])], y=[f.y(last.yx_px[0])], mode="markers",
                                 name=f"latest (step {last.step})",
                                 marker=dict(size=14, symbol="circle-open", color="orange", line=dict(width=3))))
    inflight, planned = planned_points(snap)
    for ev, label, colour, symbol in ((inflight, "in flight", "red", "x"), (planned, "next planned", "magenta",
                                                                              "diamond-open")):
        if ev is not None:
            y, x = ev["yx_px"][:2]
            fig.add_trace(go.Scatter(x=[f.x(x)], y=[f.y(y)], mode="markers", name=f"{label} (step {ev.get('step')})",
                                     marker=dict(size=14, symbol=symbol, color=colour, line=dict(width=2))))
    for ev in snap.events:
        if ev.get("kind") == "intervention" and ev.get("outcome") == "applied" and ev.get("verb") == "veto" \
                and not ev.get("metres"):
            y0, y1, x0, x1 = (float(v) for v in ev.get("args", [0, 0, 0, 0])[:4])
            fig.add_shape(type="rect", x0=f.x(x0), x1=f.x(x1), y0=f.y(y0), y1=f.y(y1),
                          line=dict(color="red", width=2, dash="dot"), fillcolor="rgba(255,0,0,0.12)")
    if pending and pending.get("verb") == "veto" and len(pending.get("args", [])) == 4:
        y0, y1, x0, x1 = (float(v) for v in pending["args"])
        fig.add_shape(type="rect", x0=f.x(x0), x1=f.x(x1), y0=f.y(y0), y1=f.y(y1),
                      line=dict(color="orange", width=2, dash="dash"), name="pending veto")
    elif pending and pending.get("verb") == "force" and len(pending.get("args", [])) == 2:
        y, x = (float(v) for v in pending["args"])
        fig.add_trace(go.Scatter(x=[f.x(x)], y=[f.y(y)], mode="markers", name="pending force (not sent)",
                                 marker=dict(size=16, symbol="cross-thin-open", color="orange", line=dict(width=3))))
    recorded = any(ev.get("kind") == "decision" for ev in snap.events) or not snap.rows
    fig.update_layout(title="overview" + ("" if recorded else " (the run journals no in-flight point)"),
                      margin=_MARGIN, height=480, legend=dict(orientation="h", y=-0.12),
                      dragmode="drawrect" if mouse == "veto" else "zoom", uirevision=snap.name,
                      newshape=dict(line=dict(color="red", width=2), fillcolor="rgba(255,0,0,0.15)"),
                      xaxis=dict(title=f"x ({f.unit})", constrain="domain"),
                      yaxis=dict(title=f"y ({f.unit})", autorange="reversed", scaleanchor="x"))
    return fig


def _grid_axes(snap: Snapshot) -> tuple[np.ndarray, np.ndarray]:
    """Display coordinates of the candidate grid's rows and columns."""
    f = Frame2D(snap)
    assert snap.cand_yx_px is not None and snap.grid_shape is not None
    rows, cols = snap.grid_shape
    yx = snap.cand_yx_px.reshape(rows, cols, 2)
    return f.y(yx[:, 0, 0]), f.x(yx[0, :, 1])


def maps_figure(snap: Snapshot) -> go.Figure:
    """Predicted mean, its uncertainty (std) and the truth where known. Mean and truth share one
    colour scale; the std has its own (same units); every colour bar names the reward and units."""
    from plotly.subplots import make_subplots

    label = reward_label(snap)
    panels: list[tuple[str, np.ndarray]] = []
    grid_ok = snap.cand_yx_px is not None and snap.grid_shape is not None
    if grid_ok:
        assert snap.grid_shape is not None
        for key, title in (("mean", "predicted mean"), ("std", "uncertainty (std)")):
            arr = snap.maps.get(key)
            if arr is not None and arr.ndim == 3:  # a vector reward: its first objective, as the summary
                arr = arr[..., 0]
            if arr is not None and arr.shape == snap.grid_shape:
                panels.append((title, arr))
        if snap.truth is not None and snap.truth.size == snap.grid_shape[0] * snap.grid_shape[1]:
            panels.append(("truth", snap.truth.reshape(snap.grid_shape)))
    if not panels:
        fig = go.Figure()
        fig.update_layout(title="maps: none yet (predicted maps appear after the model's first fit)",
                          margin=_MARGIN, height=300)
        return fig
    gy, gx = _grid_axes(snap)
    as_of = maps_as_of(snap) if "mean" in snap.maps else ""
    shared = [a for t, a in panels if not t.startswith("uncertainty")]
    finite_vals = np.concatenate([a[np.isfinite(a)] for a in shared]) if shared else np.zeros(0)
    lo, hi = (float(finite_vals.min()), float(finite_vals.max())) if finite_vals.size else (0.0, 1.0)
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[t for t, _ in panels],
                        shared_xaxes=True, shared_yaxes=True, horizontal_spacing=0.03)
    for k, (title, arr) in enumerate(panels):
        is_std = title.startswith("uncertainty")
        fig.add_trace(go.Heatmap(z=np.where(np.isfinite(arr), arr, np.nan), x=gx, y=gy, name=title,
                                 coloraxis="coloraxis2" if is_std else "coloraxis",
                                 hovertemplate="%{z:.4g}<extra>" + title + "</extra>"), row=1, col=k + 1)
        fig.update_yaxes(autorange="reversed", scaleanchor=f"x{k + 1 if k else ''}", row=1, col=k + 1)
        fig.update_xaxes(constrain="domain", row=1, col=k + 1)
    # one colour scale (and one bar) for the prediction and the truth; the std has its own bar below
    fig.update_layout(
        coloraxis=dict(colorscale="Viridis", cmin=lo, cmax=hi,
                       colorbar=dict(title=dict(text=label, side="right"), thickness=12, len=0.9)),
        coloraxis2=dict(colorscale="Cividis", colorbar=dict(
            title=dict(text="std (same units)", side="top"), orientation="h", thickness=10, len=0.3,
            x=(_index(panels, "uncertainty (std)") + 0.5) / len(panels), y=-0.12, yanchor="top")),
        title=f"maps{' (' + as_of + ')' if as_of else ''}, one colour scale for prediction and truth: {label}"
        + ("" if "mean" in snap.maps else "<br><sub>predicted maps: none in the record yet (written after the "
                                           "model's first fit)</sub>"), margin=dict(l=50, r=10, t=60, b=80),
        height=400, uirevision=snap.name)
    return fig


def _index(panels: list[tuple[str, np.ndarray]], title: str) -> int:
    return next((k for k, (t, _) in enumerate(panels) if t == title), 0)


def reward_figure(snap: Snapshot) -> go.Figure:
    """Reward of each measurement and the best so far, per step."""
    steps = [r.step for r in snap.rows]
    vals = np.array([r.reward for r in snap.rows], dtype=np.float64)
    best = _best_so_far(vals, _maximize(snap))
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=steps, y=finite(vals.tolist()), mode="markers", name="reward"))
    fig.add_trace(go.Scatter(x=steps, y=finite(best.tolist()), mode="lines", name="best so far",
                             line=dict(shape="hv")))
    fig.update_layout(title="reward per step", margin=_MARGIN, height=300, uirevision=snap.name,
                      xaxis_title="step", yaxis_title=reward_label(snap), legend=dict(orientation="h", y=1.1))
    return fig


def _best_so_far(vals: np.ndarray, maximize: bool) -> np.ndarray:
    out = np.full(vals.shape, np.nan)
    best = np.nan
    for k, v in enumerate(vals):
        if math.isfinite(v) and (not math.isfinite(best) or (v > best if maximize else v < best)):
            best = v
        out[k] = best
    return out


def discovery(snap: Snapshot, fraction: float = 0.01) -> tuple[np.ndarray, np.ndarray] | None:
    """(recall of the true top ``fraction`` after each measurement, random's expectation), or None
    without a truth. Random sampling without replacement finds on average ``k / n`` of them."""
    if snap.truth is None or not snap.rows:
        return None
    from ..metrics import recall_curve

    idx = np.array([r.index for r in snap.rows], dtype=np.int64)
    idx = idx[(idx >= 0) & (idx < snap.truth.size)]
    if not idx.size:
        return None
    curve = recall_curve(idx, snap.truth, fraction, _maximize(snap))
    seen: set[int] = set()
    distinct = np.empty(idx.size, dtype=np.float64)
    for k, i in enumerate(idx.tolist()):
        seen.add(i)
        distinct[k] = len(seen)
    return curve, distinct / np.isfinite(snap.truth).sum()


def discovery_figure(snap: Snapshot) -> go.Figure:
    fig = go.Figure()
    got = discovery(snap)
    if got is None:
        fig.update_layout(title="discovery: no truth for this run (emulators and denoised replays have one)",
                          margin=_MARGIN, height=300)
        return fig
    curve, rand = got
    steps = np.arange(1, curve.size + 1)
    fig.add_trace(go.Scatter(x=steps, y=100 * curve, mode="lines", name="this run", line=dict(shape="hv")))
    fig.add_trace(go.Scatter(x=steps, y=100 * rand, mode="lines", name="random (expected)",
                             line=dict(dash="dash", color="grey")))
    fig.update_layout(title="discovery: share of the true top 1 % measured", margin=_MARGIN, height=300,
                      xaxis_title="measurements", yaxis_title="found (%)", uirevision=snap.name,
                      legend=dict(orientation="h", y=1.1))
    return fig


def comparison_figure(snaps: list[Snapshot]) -> go.Figure:
    """The discovery curves of several runs (a multirun) on one plot, with random's expectation."""
    fig = go.Figure()
    longest: np.ndarray | None = None
    for snap in snaps:
        got = discovery(snap)
        if got is None:
            continue
        curve, rand = got
        fig.add_trace(go.Scatter(x=np.arange(1, curve.size + 1), y=100 * curve, mode="lines", name=snap.name,
                                 line=dict(shape="hv")))
        if longest is None or rand.size > longest.size:
            longest = rand
    if longest is not None:
        fig.add_trace(go.Scatter(x=np.arange(1, longest.size + 1), y=100 * longest, mode="lines",
                                 name="random (expected)", line=dict(dash="dash", color="grey")))
    fig.update_layout(title="discovery curves of every run" + ("" if longest is not None else ": no truth"),
                      margin=_MARGIN, height=320, xaxis_title="measurements", yaxis_title="found (%)")
    return fig


def spectrum_figure(snap: Snapshot) -> go.Figure:
    """The latest spectrum with the reward's window(s) shaded."""
    fig = go.Figure()
    if snap.spectrum is None or not snap.rows:
        fig.update_layout(title="latest spectrum: none yet", margin=_MARGIN, height=300)
        return fig
    spec = snap.spectrum
    last = snap.rows[-1]
    shape = snap.pattern_shape
    if shape is not None and spec.size == shape[0] * shape[1]:
        fig.add_trace(go.Heatmap(z=spec.reshape(shape), colorscale="Magma", colorbar=dict(title="counts")))
        fig.update_layout(title=f"latest diffraction pattern (step {last.step}, reward {last.reward:.4g})",
                          margin=_MARGIN, height=300, yaxis=dict(autorange="reversed", scaleanchor="x"),
                          xaxis_title="kx (px)", yaxis_title="ky (px)", uirevision=snap.name)
        return fig
    if snap.signal is not None and snap.signal[2].size == spec.size:
        name, units, x = snap.signal
    else:
        name, units, x = "channel", "", np.arange(spec.size, dtype=np.float64)
    fig.add_trace(go.Scatter(x=x, y=finite(spec.tolist()), mode="lines", name="spectrum"))
    for lo, hi in _windows(snap):
        fig.add_vrect(x0=lo, x1=hi, fillcolor="orange", opacity=0.25, line_width=0,
                      annotation_text="reward window", annotation_position="top left")
    fig.update_layout(title=f"latest spectrum (step {last.step}, reward {last.reward:.4g})", margin=_MARGIN,
                      height=300, xaxis_title=f"{name} ({units})" if units else name, yaxis_title="counts",
                      uirevision=snap.name)
    return fig


def _rate(rows: list[Row]) -> float:
    """Measurements per second over the last (up to) 20 rows, from the run's clock."""
    clocks = [r.clock_s for r in rows[-20:] if math.isfinite(r.clock_s)]
    if len(clocks) < 2 or clocks[-1] <= clocks[0]:
        return float("nan")
    return (len(clocks) - 1) / (clocks[-1] - clocks[0])


def status_lines(snap: Snapshot, paused: bool) -> list[tuple[str, str]]:
    """(label, value) pairs: state, step, rate, ETA, dose, best, stop reason."""
    exp = snap.config.get("experiment") or {}
    total = exp.get("steps")
    n = len(snap.rows)
    rate = _rate(snap.rows)
    stop = None
    for ev in snap.events:
        if ev.get("kind") == "stopped":
            stop = ev.get("reason")
    if snap.summary is not None:
        stop = snap.summary.get("stop_reason", stop)
    live = snap.state.startswith("running")
    state = snap.state + (" (paused)" if paused and live else "")
    eta = "-"
    if live and isinstance(total, int) and math.isfinite(rate) and rate > 0:
        eta = f"{max(total - n, 0) / rate:.0f} s"
    doses = [r.dose_e for r in snap.rows if math.isfinite(r.dose_e)]
    vals = [r.reward for r in snap.rows if math.isfinite(r.reward)]
    best = (max if _maximize(snap) else min)(vals) if vals else float("nan")
    return [("state", state), ("policy", current_policy(snap)), ("step", f"{n}" + (f" / {total}" if total else "")),
            ("rate", f"{60 * rate:.1f} /min" if math.isfinite(rate) else "-"), ("ETA", eta),
            ("dose", f"{sum(doses):.3g} e" if doses else "-"), ("best", f"{best:.4g}" if vals else "-"),
            ("stop reason", str(stop) if stop else "-")]


def current_policy(snap: Snapshot) -> str:
    """The policy's class from the config, or the last ``set policy=NAME`` the run applied."""
    node = snap.config.get("policy") or {}
    name = str(node.get("_target_", "?")).rsplit(".", 1)[-1]
    for ev in snap.events:
        if ev.get("kind") == "intervention" and ev.get("verb") == "set" and ev.get("outcome") == "applied":
            for arg in ev.get("args") or []:
                key, _, value = str(arg).partition("=")
                if key == "policy":
                    name = f"{value} (switched)"
    return name


def is_paused(snap: Snapshot) -> bool:
    """Whether the last applied pause/resume was a pause."""
    paused = False
    for ev in snap.events:
        if ev.get("kind") == "intervention" and ev.get("outcome") == "applied":
            if ev.get("verb") == "pause":
                paused = True
            elif ev.get("verb") in ("resume", "stop"):
                paused = False
    return paused


def event_rows(snap: Snapshot, limit: int = 200) -> list[dict[str, str]]:
    """Newest first: faults, health warnings, guardian trips, interventions, ... (routine fits left out)."""
    out = []
    for k, ev in enumerate(snap.events):
        kind = str(ev.get("kind", "?"))
        if kind in ROUTINE_EVENTS:
            continue
        rest = {key: v for key, v in ev.items() if key not in ("kind", "step")}
        out.append({"#": str(k), "kind": kind, "step": str(ev.get("step", "")),
                    "details": ", ".join(f"{key}={v}" for key, v in rest.items())[:300]})
    return out[::-1][:limit]
