"""The Dash application: one page per run folder (or per run of a multirun folder).

Every ``poll_s`` the page asks the server for what changed; the server reads the run folder
(:class:`~agent.dashboard.runview.RunView`) and answers "nothing" (no redraw) until a new row or
event arrives. Controls write the same command files as ``autoscope-ctl`` (:func:`agent.control.send`)
into the selected run's ``control/inbox/``; the loop applies and records them as interventions.
They work only when the page was opened with the folder's token (:mod:`agent.dashboard.access`).
All scripts (Dash, React, plotly.js) are served from the installed packages: no network needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dash
from dash import Input, Output, State, dcc, html
from dash.exceptions import PreventUpdate

from ..confdir import CONF_DIR
from ..control import Command, ControlError, check_against_run, parse, send
from . import figures as F
from .access import read_token, token_from_search, token_matches
from .runview import RunView, find_runs

__all__ = ["create_app", "DEFAULT_POLL_S"]

#: the page's polling interval: a new measurement shows within about this plus one redraw
DEFAULT_POLL_S = 0.5


class _Runs:
    """The run folders under the dashboard's root, each with its incremental reader."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._views: dict[str, RunView] = {}
        self._walked_at = -1e9
        self.refresh()

    def refresh(self, every_s: float = 5.0) -> list[str]:
        """The runs' keys; the folder is walked again for new runs at most every ``every_s``."""
        import time

        if time.monotonic() - self._walked_at < every_s:
            return list(self._views)
        self._walked_at = time.monotonic()
        for path in find_runs(self.root):
            key = "." if path == self.root else str(path.relative_to(self.root))
            if key not in self._views:
                self._views[key] = RunView(path, name=path.name if key == "." else key)
        return list(self._views)

    def view(self, key: str | None) -> RunView:
        if key not in self._views:
            self.refresh(every_s=0.0)
        if key not in self._views:
            if not self._views:
                raise PreventUpdate
            key = next(iter(self._views))
        return self._views[str(key)]


def _button(label: str, id_: str, colour: str) -> html.Button:
    return html.Button(label, id=id_, n_clicks=0, disabled=True,
                       style={"marginRight": "6px", "padding": "6px 14px", "background": colour, "color": "white",
                              "border": "none", "borderRadius": "4px", "cursor": "pointer"})


def _graph(id_: str, width: str = "49%") -> dcc.Graph:
    return dcc.Graph(id=id_, config={"displaylogo": False}, style={"width": width, "display": "inline-block",
                                                                       "verticalAlign": "top"})


def create_app(root: str | Path, poll_s: float = DEFAULT_POLL_S) -> dash.Dash:
    """The dashboard for ``root``: a run folder, or a folder holding runs (a multirun)."""
    root = Path(root).resolve()
    runs = _Runs(root)
    keys = runs.refresh()
    policies = sorted(p.stem for p in (CONF_DIR / "policy").glob("*.yaml"))
    # update_title="": no "Updating..." flicker in the tab at every poll
    app = dash.Dash(__name__, title=f"autoscope: {root.name}", serve_locally=True, update_title="")
    app.layout = html.Div(style={"fontFamily": "sans-serif", "margin": "8px"}, children=[
        dcc.Location(id="url"),
        dcc.Interval(id="tick", interval=int(poll_s * 1000)),
        dcc.Store(id="rendered"),
        dcc.Store(id="pending"),
        html.Div([
            html.H2(f"autoscope: {root.name}", style={"display": "inline-block", "margin": "0 16px 0 0"}),
            dcc.Dropdown(id="run", options=[{"label": k, "value": k} for k in keys],
                         value=keys[0] if keys else None, clearable=False,
                         style={"width": "420px", "display": "inline-block" if len(keys) > 1 else "none",
                                "verticalAlign": "middle"}),
        ]),
        html.Div(id="access", style={"margin": "6px 0", "color": "#555"}),
        html.Div(id="status", style={"margin": "6px 0", "fontSize": "15px"}),
        html.Div(id="controls", style={"margin": "8px 0"}, children=[
            _button("pause", "btn-pause", "#c77c00"), _button("resume", "btn-resume", "#2b8a3e"),
            _button("stop", "btn-stop", "#c92a2a"),
            dcc.Dropdown(id="policy", options=policies, placeholder="policy", clearable=False,
                         style={"width": "180px", "display": "inline-block", "verticalAlign": "middle"}),
            _button("switch policy", "btn-policy", "#1864ab"),
            html.Span("overview mouse:", style={"margin": "0 6px 0 14px"}),
            dcc.RadioItems(id="mouse", options=[{"label": " drag a box to veto", "value": "veto"},
                                                {"label": " click to force", "value": "force"},
                                                {"label": " zoom", "value": "zoom"}],
                           value="zoom", inline=True, inputStyle={"marginLeft": "8px"},
                           style={"display": "inline-block"}),
            html.Span(id="pending-text", style={"margin": "0 8px"}),
            _button("send", "btn-send", "#5f3dc4"),
            html.Div(id="control-msg", style={"marginTop": "4px", "color": "#1864ab"}),
        ]),
        _graph("overview", "49%"), _graph("maps", "49%"),
        _graph("reward", "33%"), _graph("discovery", "33%"), _graph("spectrum", "33%"),
        dcc.Graph(id="compare", config={"displaylogo": False},
                  style={"display": "block" if len(keys) > 1 else "none"}),
        html.H4("events (newest first)"),
        html.Div(id="events", style={"maxHeight": "260px", "overflowY": "auto", "fontSize": "13px"}),
    ])

    def authorised(search: str | None) -> bool:
        return token_matches(read_token(root), token_from_search(search))

    @app.callback(Output("access", "children"),
                  *[Output(b, "disabled") for b in ("btn-pause", "btn-resume", "btn-stop", "btn-policy")],
                  Output("mouse", "style"), Input("url", "search"))
    def _access(search: str | None) -> tuple[Any, ...]:
        ok = authorised(search)
        text = ("controls enabled (opened with the run's token)" if ok else
                f"read-only: open the URL printed by autoscope-dash (it ends with ?token=..., the token is in "
                f"{root / 'dashboard.token'}) to steer the run")
        return (text,) + (not ok,) * 4 + ({"display": "inline-block" if ok else "none"},)

    @app.callback(Output("rendered", "data"), Output("status", "children"), Output("overview", "figure"),
                  Output("maps", "figure"), Output("reward", "figure"), Output("discovery", "figure"),
                  Output("spectrum", "figure"), Output("events", "children"), Output("compare", "figure"),
                  Input("tick", "n_intervals"), Input("run", "value"), Input("url", "search"), Input("mouse", "value"),
                  Input("pending", "data"), State("rendered", "data"))
    def _update(_n: int | None, key: str | None, search: str | None, mouse: str | None, pending: Any,
                rendered: Any) -> tuple[Any, ...]:
        view = runs.view(key)
        snap = view.poll()
        mouse = mouse if authorised(search) else "zoom"
        keys = runs.refresh()
        others = [runs.view(k).poll() for k in keys] if len(keys) > 1 else []
        stamp = [view.name, list(snap.version), mouse, pending, [list(s.version) for s in others]]
        if rendered == stamp:
            raise PreventUpdate
        paused = F.is_paused(snap)
        status = [html.Span([html.B(f"{label}: "), html.Span(value, id=f"status-{label.replace(' ', '-')}")],
                            style={"marginRight": "18px"}) for label, value in F.status_lines(snap, paused)]
        events = html.Table([html.Thead(html.Tr([html.Th(c, style={"textAlign": "left", "paddingRight": "10px"})
                                                 for c in ("#", "kind", "step", "details")]))] +
                            [html.Tr([html.Td(r[c], style={"paddingRight": "10px"}) for c in ("#", "kind", "step",
                                                                                               "details")],
                                     className=f"event event-{r['kind']}") for r in F.event_rows(snap)])
        compare = F.comparison_figure(others) if others else dash.no_update
        return (stamp, status, F.overview_figure(snap, str(mouse), pending), F.maps_figure(snap), F.reward_figure(snap),
                F.discovery_figure(snap), F.spectrum_figure(snap), events, compare)

    @app.callback(Output("run", "options"), Output("run", "style"), Output("compare", "style"),
                  Input("tick", "n_intervals"), State("run", "options"), State("run", "style"))
    def _runs(_n: int | None, options: Any, style: Any) -> tuple[Any, ...]:
        keys = runs.refresh()  # a multirun still running adds runs
        if [o["value"] for o in options or []] == keys:
            raise PreventUpdate
        many = len(keys) > 1
        shown = {**(style or {}), "display": "inline-block" if many else "none"}
        return [{"label": k, "value": k} for k in keys], shown, {"display": "block" if many else "none"}

    @app.callback(Output("pending", "data"), Output("pending-text", "children"), Output("btn-send", "disabled"),
                  Input("overview", "clickData"), Input("overview", "relayoutData"), Input("btn-send", "n_clicks"),
                  State("run", "value"), State("url", "search"), prevent_initial_call=True)
    def _pick(click: Any, relayout: Any, _sent: int | None, key: str | None, search: str | None) -> tuple[Any, ...]:
        """A click (force) or a drawn box (veto) becomes the pending command; "send" clears it (the
        control callback, fired by the same click, still reads it)."""
        if not authorised(search):
            raise PreventUpdate
        trigger = dash.ctx.triggered_id and dash.ctx.triggered[0]["prop_id"]
        if trigger == "btn-send.n_clicks":
            return None, "", True
        snap = runs.view(key).poll()
        if trigger == "overview.clickData" and click and click.get("points"):
            p = click["points"][0]
            py, px = F.to_pixel(snap, float(p["y"]), float(p["x"]))
            args = [round(py, 1), round(px, 1)]
            return ({"verb": "force", "args": args}, f"pending: force the candidate nearest pixel (y {args[0]}, "
                                                     f"x {args[1]})", False)
        shape = _last_rect(relayout)
        if shape is None:
            raise PreventUpdate
        (y0, x0), (y1, x1) = (F.to_pixel(snap, shape[1], shape[0]), F.to_pixel(snap, shape[3], shape[2]))
        args = [round(min(y0, y1), 1), round(max(y0, y1), 1), round(min(x0, x1), 1), round(max(x0, x1), 1)]
        return ({"verb": "veto", "args": args},
                f"pending: veto pixels y {args[0]}..{args[1]}, x {args[2]}..{args[3]}", False)

    @app.callback(Output("control-msg", "children"),
                  Input("btn-pause", "n_clicks"), Input("btn-resume", "n_clicks"), Input("btn-stop", "n_clicks"),
                  Input("btn-policy", "n_clicks"), Input("btn-send", "n_clicks"),
                  State("policy", "value"), State("pending", "data"), State("run", "value"),
                  State("url", "search"), prevent_initial_call=True)
    def _control(*values: Any) -> str:
        policy, pending, key, search = values[5:]
        if not authorised(search):  # the server checks, whatever the page shows
            return "refused: this page was not opened with the run's token"
        trigger = dash.ctx.triggered_id
        if trigger in ("btn-pause", "btn-resume", "btn-stop"):
            verb, args = str(trigger)[4:], []
        elif trigger == "btn-policy":
            if not policy:
                return "choose a policy first"
            verb, args = "set", [f"policy={policy}"]
        elif trigger == "btn-send" and pending:
            verb, args = str(pending["verb"]), [str(a) for a in pending["args"]]
        else:
            raise PreventUpdate
        run_dir = runs.view(key).run_dir
        try:
            cmd: Command = parse(verb, args)
            check_against_run(run_dir, cmd)
        except ControlError as err:
            return f"refused: {err}"
        path = send(run_dir, cmd)
        return (f"sent {cmd.verb} {' '.join(map(str, cmd.args))} ({path.name}); the run applies it before "
                f"its next decision")

    return app


def _last_rect(relayout: Any) -> tuple[float, float, float, float] | None:
    """(x0, y0, x1, y1) of the rectangle just drawn (or edited) on the overview, in display units."""
    if not isinstance(relayout, dict):
        return None
    shapes = relayout.get("shapes")
    if isinstance(shapes, list) and shapes:
        s = shapes[-1]
        try:
            return float(s["x0"]), float(s["y0"]), float(s["x1"]), float(s["y1"])
        except (KeyError, TypeError, ValueError):
            return None
    edited = {k.split(".", 1)[1]: v for k, v in relayout.items() if k.startswith("shapes[") and "." in k}
    try:
        return float(edited["x0"]), float(edited["y0"]), float(edited["x1"]), float(edited["y1"])
    except (KeyError, TypeError, ValueError):
        return None
