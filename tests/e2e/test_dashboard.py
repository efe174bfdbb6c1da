"""The dashboard without a browser: reading a run folder, the token gate, local assets, multiruns."""

from __future__ import annotations

import json
import math
import urllib.request

import h5py
import numpy as np
import pytest
import yaml

pytest.importorskip("dash", reason="the dashboard needs the `dash` extra: pip install -e '.[dash]'")

from agent.dashboard import RunView, ensure_token, find_runs, read_token  # noqa: E402
from agent.dashboard import figures as F  # noqa: E402
from agent.dashboard.app import _last_rect, create_app  # noqa: E402
from agent.dashboard.cli import free_port, launch, main  # noqa: E402
from agent.journal import Journal  # noqa: E402
from agent.record import StepRow  # noqa: E402
from agent.runfiles import save_overview  # noqa: E402
from drivers.frames import Axis, Frame  # noqa: E402

GRID = (4, 5)


def _fake_run(path, n_rows=3, truth=True):
    """A run folder as the loop writes it: config, overview (nm-calibrated), journal, record."""
    path.mkdir(parents=True)
    (path / "config.yaml").write_text(yaml.safe_dump({
        "experiment": {"steps": 10, "maximize": True},
        "reward": {"_target_": "rewards.bands.BandIntensity", "window_eV": [1.5, 2.4], "units": "eV"}}))
    ax = (Axis.uniform("y", "m", -20e-9, 1e-9, 40), Axis.uniform("x", "m", -25e-9, 1e-9, 50))
    save_overview(path / "overview.npz", Frame(np.random.default_rng(0).random((40, 50)), ax, "ov", {}))
    yx = np.array([(4 + 8 * r, 5 + 10 * c) for r in range(GRID[0]) for c in range(GRID[1])], dtype=np.int64)
    with h5py.File(path / "record.h5", "w") as h5:
        g = h5.create_group("candidates")
        g.attrs["grid_shape"] = np.array(GRID)
        g.create_dataset("yx_px", data=yx)
        if truth:
            g.create_dataset("truth", data=np.arange(yx.shape[0], dtype=np.float64))
    journal = Journal(path / "journal.jsonl", fsync=False)
    signal = Axis.uniform("energy_loss", "eV", 0.0, 0.01, 400)
    for k in range(n_rows):
        i = 19 - k
        journal.append(StepRow(step=k, index=i, phase="init", yx_px=tuple(int(v) for v in yx[i]),
                               yx_m=(0.0, 0.0), reward=float(i) if k != 1 else float("nan"), clock_s=float(k),
                               dose_e=10.0, spectrum=np.full(400, float(k))), signal_axis=signal)
    journal.close()
    return path


def test_run_view_follows_the_journal_incrementally_and_reads_nan_and_null(tmp_path):
    run = _fake_run(tmp_path / "run")
    view = RunView(run)
    snap = view.poll()
    assert [r.step for r in snap.rows] == [0, 1, 2] and math.isnan(snap.rows[1].reward)
    assert snap.signal is not None and snap.signal[:2] == ("energy_loss", "eV")
    assert snap.spectrum is not None and snap.spectrum[0] == 2.0
    assert snap.grid_shape == GRID and snap.truth is not None and snap.overview_axes is not None
    assert view.poll().version == snap.version  # nothing new: the page is not redrawn
    row = json.loads((run / "journal.jsonl").read_text().splitlines()[-1])
    row.update(step=3, index=4, reward=None)  # strict JSON (REC): null for NaN
    event = {"type": "event", "event": json.dumps({"kind": "intervention", "verb": "pause", "outcome": "applied"})}
    switch = {"type": "event", "event": json.dumps({"kind": "intervention", "verb": "set", "args": ["policy=ucb"],
                                                    "outcome": "applied"})}
    with open(run / "journal.jsonl", "a") as fh:
        fh.write(json.dumps(row) + "\n" + json.dumps(switch) + "\n" + json.dumps(event) + "\n"
                 + '{"step": 4, "ind')  # a partial last line
    snap = view.poll()
    assert [r.step for r in snap.rows] == [0, 1, 2, 3] and math.isnan(snap.rows[3].reward)
    assert F.is_paused(snap) and F.event_rows(snap)[0]["kind"] == "intervention"
    labels = dict(F.status_lines(snap, True))
    assert labels["step"] == "4 / 10" and labels["best"] == "19" and labels["policy"] == "ucb (switched)"


def test_figures_label_the_reward_shade_its_window_and_compare_with_random(tmp_path):
    snap = RunView(_fake_run(tmp_path / "run")).poll()
    assert F.reward_label(snap) == "BandIntensity [1.5, 2.4] eV"
    spec = F.spectrum_figure(snap)
    assert [(s.x0, s.x1) for s in spec.layout.shapes] == [(1.5, 2.4)]
    curve, rand = F.discovery(snap)
    assert curve[0] == 1.0 and rand[-1] == pytest.approx(3 / 20)  # the top 1 % of 20 is candidate 19
    overview = F.overview_figure(snap, "veto")
    assert overview.layout.dragmode == "drawrect" and overview.layout.xaxis.title.text == "x (nm)"
    assert F.overview_figure(snap, "force").layout.dragmode == "zoom"
    maps = F.maps_figure(snap)  # truth only (no predicted maps yet), colour bar names the reward
    assert [t.name for t in maps.data] == ["truth"] and "BandIntensity" in maps.layout.coloraxis.colorbar.title.text


def test_a_rectangle_and_a_click_become_overview_pixels(tmp_path):
    snap = RunView(_fake_run(tmp_path / "run")).poll()
    # the overview is drawn in nm: pixel (y, x) sits at (-20 + y, -25 + x) nm
    assert F.to_pixel(snap, -10.0, 5.0) == pytest.approx((10.0, 30.0))
    rect = _last_rect({"shapes": [{"type": "rect", "x0": -20.0, "y0": -15.0, "x1": 0.0, "y1": -5.0}]})
    assert rect == (-20.0, -15.0, 0.0, -5.0)
    assert _last_rect({"shapes[0].x0": 1, "shapes[0].y0": 2, "shapes[0].x1": 3, "shapes[0].y1": 4}) == (1, 2, 3, 4)
    assert _last_rect({"autosize": True}) is None


def _control(client, search, button="btn-pause"):
    buttons = ("btn-pause", "btn-resume", "btn-stop", "btn-policy", "btn-send")
    body = {"output": "control-msg.children", "outputs": {"id": "control-msg", "property": "children"},
            "inputs": [{"id": b, "property": "n_clicks", "value": int(b == button)} for b in buttons],
            "state": [{"id": "policy", "property": "value", "value": "ucb"},
                      {"id": "pending", "property": "data", "value": {"verb": "force", "args": [12, 20]}},
                      {"id": "run", "property": "value", "value": "."},
                      {"id": "url", "property": "search", "value": search}],
            "changedPropIds": [f"{button}.n_clicks"]}
    reply = client.post("/_dash-update-component", json=body)
    assert reply.status_code == 200, reply.data
    return reply.get_json()["response"]["control-msg"]["children"]


def test_controls_need_the_token_and_write_the_ctl_inbox(tmp_path):
    from agent.control import Command

    run = _fake_run(tmp_path / "run")
    token = ensure_token(run)
    assert read_token(run) == token and (run / "dashboard.token").stat().st_mode & 0o077 == 0
    client = create_app(run).server.test_client()
    inbox = run / "control" / "inbox"
    assert _control(client, "").startswith("refused")
    assert _control(client, "?token=wrong").startswith("refused")
    assert not inbox.exists() or not list(inbox.glob("*.json"))
    assert _control(client, f"?token={token}").startswith("sent pause")
    assert _control(client, f"?token={token}", "btn-policy").startswith("sent set policy=ucb")
    assert _control(client, f"?token={token}", "btn-send").startswith("sent force 12.0 20.0")
    sent = [Command.from_json(p.read_text()) for p in sorted(inbox.glob("*.json"))]
    assert [(c.verb, c.args) for c in sent] == [("pause", []), ("set", ["policy=ucb"]), ("force", [12.0, 20.0])]


def test_the_page_loads_every_script_from_the_dashboard_itself(tmp_path):
    client = create_app(_fake_run(tmp_path / "run")).server.test_client()
    page = client.get("/").get_data(as_text=True)
    import re

    refs = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert refs and all(r.startswith("/") for r in refs), refs
    for ref in refs:
        assert client.get(ref).status_code == 200, ref


def test_a_multirun_folder_lists_its_runs_and_compares_their_discovery(tmp_path):
    for k in range(2):
        _fake_run(tmp_path / "multi" / "2026-12-06" / f"{k}", n_rows=2 + k)
    runs = find_runs(tmp_path / "multi")
    assert [p.name for p in runs] == ["0", "1"]
    fig = F.comparison_figure([RunView(p, name=p.name).poll() for p in runs])
    assert [t.name for t in fig.data] == ["0", "1", "random (expected)"]
    layout = create_app(tmp_path / "multi").layout
    dropdown = next(c for c in layout.children[4].children if getattr(c, "id", None) == "run")
    assert [o["value"] for o in dropdown.options] == ["2026-12-06/0", "2026-12-06/1"]


def test_cli_refuses_a_folder_without_a_run(tmp_path, capsys):
    assert main([str(tmp_path)]) == 2
    assert "holds no autoscope run" in capsys.readouterr().err


def test_launch_serves_the_run_beside_it_and_prints_the_url(tmp_path, capsys):
    run = _fake_run(tmp_path / "run")
    port = free_port()
    proc = launch(run, port=port)
    try:
        out = capsys.readouterr().out
        assert f"http://127.0.0.1:{port}/?token={read_token(run)}" in out
        import time

        for _ in range(200):
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1).status == 200:
                    break
            except OSError:
                time.sleep(0.1)
        else:
            raise AssertionError((run / "dashboard.log").read_text())
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _event(fh, **ev):
    fh.write(json.dumps({"type": "event", "event": json.dumps(ev)}) + "\n")


def test_decision_events_mark_the_point_in_flight_and_the_next_planned(tmp_path):
    run = _fake_run(tmp_path / "run")  # rows of steps 0, 1, 2
    view = RunView(run)
    names = [t.name for t in F.overview_figure(view.poll()).data]
    assert not any("in flight" in n for n in names)
    with open(run / "journal.jsonl", "a") as fh:  # as agent.run.live writes them
        _event(fh, kind="decision", step=2, indices=[17], yx_px=[[20, 25]], yx_m=[[0.0, 0.0]], phase="seed",
               reason="seed")  # its row exists: done
        _event(fh, kind="decision", step=3, indices=[7], yx_px=[[12, 15]], yx_m=[[0.0, 0.0]], phase="policy",
               reason="acquisition")
        _event(fh, kind="decision", step=4, indices=[8], yx_px=[[20, 25]], yx_m=[[0.0, 0.0]], phase="policy",
               reason="acquisition")
    snap = view.poll()
    snap.state = "running"
    inflight, planned = F.planned_points(snap)
    assert (inflight["step"], inflight["index"], inflight["yx_px"]) == (3, 7, [12, 15])
    assert (planned["step"], planned["index"]) == (4, 8)
    names = [t.name for t in F.overview_figure(snap).data]
    assert "in flight (step 3)" in names and "next planned (step 4)" in names
    assert not any(row["kind"] == "decision" for row in F.event_rows(snap))  # drawn, not listed
    with open(run / "journal.jsonl", "a") as fh:
        # step 3 failed (its event carries the step after it); a resume decided step 4 again; q = 2
        _event(fh, kind="measurement_failed", step=4, index=7)
        _event(fh, kind="decision", step=4, indices=[9, 10], yx_px=[[4, 5], [28, 35]], yx_m=[[0, 0], [0, 0]],
               phase="policy", reason="acquisition")
    snap = view.poll()
    snap.state = "running"
    inflight, planned = F.planned_points(snap)
    assert (inflight["step"], inflight["index"], planned["step"], planned["index"]) == (4, 9, 5, 10)
    snap.state = "finished"
    assert F.planned_points(snap) == (None, None)


def test_live_maps_are_labelled_with_the_step_they_are_as_of(tmp_path):
    run = _fake_run(tmp_path / "run")
    with h5py.File(run / "record.h5", "a") as h5:
        h5.create_group("maps").create_dataset("mean", data=np.ones(GRID))
        h5["maps"].create_dataset("std", data=np.ones(GRID + (2,)))  # a vector reward: its first objective
    with open(run / "journal.jsonl", "a") as fh:
        _event(fh, kind="decision", step=3, indices=[7], yx_px=[[12, 15]], yx_m=[[0.0, 0.0]], phase="policy",
               reason="acquisition", maps_n=3)
        _event(fh, kind="decision", step=4, indices=[8], yx_px=[[12, 15]], yx_m=[[0.0, 0.0]], phase="policy",
               reason="acquisition")
    snap = RunView(run).poll()
    fig = F.maps_figure(snap)
    assert "maps (as of step 3)" in fig.layout.title.text
    assert [t.name for t in fig.data][:2] == ["predicted mean", "uncertainty (std)"]
    snap.summary = {"n_measured": 3}
    assert "maps (final fit)" in F.maps_figure(snap).layout.title.text


def test_a_4d_stem_pattern_is_drawn_as_an_image(tmp_path):
    run = _fake_run(tmp_path / "run", n_rows=0)
    axis = {"name": "k_index", "units": "px", "values": list(range(400)), "pattern_shape": [20, 20],
            "k_mrad_per_px": 0.5}
    row = {"step": 0, "index": 3, "phase": "init", "yx_px": [4, 35], "yx_m": [0.0, 0.0], "reward": 0.5,
           "spectrum_b64": __import__("base64").b64encode(np.arange(400, dtype="<f8").tobytes()).decode(),
           "spectrum_n": 400}
    with open(run / "journal.jsonl", "a") as fh:
        fh.write(json.dumps({"type": "signal_axis", "axis": axis}) + "\n" + json.dumps(row) + "\n")
    snap = RunView(run).poll()
    assert snap.pattern_shape == (20, 20)
    fig = F.spectrum_figure(snap)
    assert fig.data[0].type == "heatmap" and fig.data[0].z.shape == (20, 20)
