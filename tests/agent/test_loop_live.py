"""What a run shows while it runs (agent.run.live): a ``decision`` event before each acquisition,
naming the candidates the next rows measure, and the predicted maps in the record before the end."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from conftest import FakeDriver, GreedyUCB, NearestSurrogate, peak_reward

from agent.journal import read_journal
from agent.loop import Experiment
from agent.record import Record
from agent.record_layout import n_complete_rows, read_event_texts
from agent.run.live import LiveView
from agent.settings import ExperimentSettings
from policies.posterior import Posterior


def _settings(**kw):
    base = dict(steps=16, n_init=4, progress=False, plots=False, retry_backoff_s=0.0,
                overview={"fov_m": None, "shape_px": None, "dwell_s": None},
                candidates={"window_px": 6, "stride_px": 4, "margin_px": 2})
    base.update(kw)
    return ExperimentSettings.from_mapping(base)


def _experiment(path, seed=5, on_step=None, **kw):
    return Experiment(FakeDriver(), peak_reward, NearestSurrogate(), GreedyUCB(), _settings(**kw), path, seed=seed,
                      on_step=on_step)


def _live_read(run_dir):
    """The record opened as the dashboard opens it (raw h5py, SWMR, no file lock)."""
    return h5py.File(run_dir / "record.h5", "r", swmr=True, locking=False)


def _lines(run_dir):
    """The journal in order: ("row", step, index) and ("decision", event dict)."""
    out = []
    for line in (run_dir / "journal.jsonl").read_text().splitlines():
        d = json.loads(line)
        if d.get("type") == "event":
            ev = json.loads(d["event"])
            if ev["kind"] == "decision":
                out.append(("decision", ev))
        elif "step" in d:
            out.append(("row", d["step"], d["index"]))
    return out


@pytest.mark.parametrize("kw", [dict(), dict(pipeline=True), dict(q=2)], ids=["sequential", "pipelined", "q2"])
def test_each_row_was_announced_by_a_decision_event_naming_its_candidate(tmp_path, kw):
    _experiment(tmp_path / "r", **kw).run()
    lines = _lines(tmp_path / "r")
    rows = [x for x in lines if x[0] == "row"]
    assert len(rows) == 16
    announced: dict[int, tuple[int, list[int], list[float]]] = {}  # step -> (journal position, index, yx)
    inflight_at_decision = []
    for pos, x in enumerate(lines):
        if x[0] != "decision":
            continue
        ev = x[1]
        assert set(ev) >= {"step", "indices", "yx_px", "yx_m", "phase", "reason"}
        assert len(ev["indices"]) == len(ev["yx_px"]) == len(ev["yx_m"])
        for k, i in enumerate(ev["indices"]):
            announced[ev["step"] + k] = (pos, i, ev["yx_px"][k])
        inflight_at_decision.append(ev["step"] - sum(1 for y in lines[:pos] if y[0] == "row"))
    journal_rows = {r.step: r for r in read_journal(tmp_path / "r" / "journal.jsonl")}
    for pos, x in enumerate(lines):
        if x[0] == "row":
            _, step, index = x
            at, i, yx = announced[step]
            assert at < pos and i == index, (step, index, i)  # decided before it was measured
            assert yx == list(journal_rows[step].yx_px)
    if kw.get("pipeline"):  # the next point is decided while the current one acquires
        assert max(inflight_at_decision) == 1
    else:  # nothing in flight when a decision is made
        assert max(inflight_at_decision) == 0
    phases = [x[1]["phase"] for x in lines if x[0] == "decision"]
    assert phases[0] == "seed" and phases[-1] == "policy"


def test_predicted_maps_are_in_the_record_before_the_end(tmp_path):
    seen = {}

    def look(exp, rows):
        if exp.n_done == 20:  # read the file as the dashboard does, while the run holds it open
            with _live_read(tmp_path / "r") as h5:
                seen.update(maps={k: h5["maps"][k][...] for k in h5["maps"]}, n_rows=n_complete_rows(h5),
                            grid=tuple(int(v) for v in h5["candidates"].attrs["grid_shape"]),
                            events=[e for e in map(json.loads, read_event_texts(h5)) if e["kind"] == "decision"])

    _experiment(tmp_path / "r", steps=40, on_step=look).run()
    assert seen["n_rows"] == 20
    assert {"mean", "std"} <= set(seen["maps"])
    for name in ("mean", "std"):
        assert seen["maps"][name].shape == seen["grid"] and np.isfinite(seen["maps"][name]).all()
    with_maps = [e for e in seen["events"] if "maps_n" in e]
    assert with_maps and with_maps[0]["maps_n"] == with_maps[0]["step"] >= 4  # fitted on every row before it
    with Record.open(tmp_path / "r" / "record.h5") as rec:  # the end wrote the final fit over them
        assert np.isfinite(rec.h5["maps/mean"][...]).all()


def test_live_maps_are_the_decisions_posterior_written_at_most_every_interval(tmp_path):
    checked = []

    def look(exp, rows):
        with _live_read(tmp_path / "r") as h5:
            maps = {k: h5["maps"][k][...] for k in h5["maps"]}
        if "mean" in maps and exp.last_posterior is not None:
            checked.append(np.array_equal(maps["mean"], exp.candidates.as_map(exp.last_posterior.mean)))

    exp = _experiment(tmp_path / "r", on_step=look)
    exp.live.min_interval_s = 0.0  # every new fit is written: the record holds this decision's posterior
    exp.run()
    assert len(checked) >= 10 and all(checked)
    assert len(exp.live.write_s) >= 10 and max(exp.live.write_s) < 0.5

    # the cadence: the first fit is written, then none until min_interval_s has passed
    now = [0.0]
    writes = []

    class Store:
        def write_maps(self, **maps):
            writes.append(sorted(maps))

        def event(self, kind, **fields):
            writes.append(fields.get("maps_n"))

    live = LiveView(Store(), min_interval_s=2.0, clock=lambda: now[0])
    decision = exp.decider.decide()
    post = exp.last_posterior
    other = Posterior(post.mean + 1.0, post.std)
    for t, fit in ((0.0, post), (1.0, None), (1.5, other), (2.5, post), (2.6, Posterior(post.mean, post.std))):
        now[0] = t
        live.decided(decision, 3, exp.candidates, fit, 7)
    # t=0 new fit: written; t=1 no fit; t=1.5 new fit, too soon; t=2.5 the fit already written; t=2.6 new fit
    assert writes == [["mean", "std"], 7, None, None, None, ["mean", "std"], 7]
    exp.close()


def test_a_decision_journaled_but_not_recorded_before_a_crash_is_completed_on_resume(tmp_path, monkeypatch):
    ref = _experiment(tmp_path / "ref")
    ref.run()
    expected = [r.index for r in read_journal(tmp_path / "ref" / "journal.jsonl")]

    class Crash(Exception):
        pass

    original = Record.append_event_text

    def crash_on_decision_9(self, text):
        if '"kind": "decision", "step": 9' in text:
            raise Crash()  # the journal holds the event, the record not
        return original(self, text)

    monkeypatch.setattr(Record, "append_event_text", crash_on_decision_9)
    with pytest.raises(Crash):
        _experiment(tmp_path / "r").run()
    monkeypatch.setattr(Record, "append_event_text", original)
    exp = _experiment(tmp_path / "r")
    exp.resume()
    exp.run()
    assert [r.index for r in read_journal(tmp_path / "r" / "journal.jsonl")] == expected
    with Record.open(tmp_path / "r" / "record.h5") as rec:
        steps = [e["step"] for e in rec.events() if e["kind"] == "decision"]
        assert rec.column("index").tolist() == expected
    assert steps.count(9) == 2 and sorted(set(steps)) == list(range(16))  # decided again after the resume
