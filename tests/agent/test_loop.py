"""The loop's mechanics with stand-in components: record, faults, control, crash and resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import FakeDriver, GreedyUCB, NearestSurrogate, peak_reward

from agent.control import parse, send
from agent.journal import read_journal
from agent.loop import Experiment
from agent.record import Record, RecordError
from agent.settings import ExperimentSettings


def _settings(**kw):
    base = dict(steps=20, n_init=4, progress=False, plots=False, retry_backoff_s=0.0,
                overview={"fov_m": None, "shape_px": None, "dwell_s": None},
                candidates={"window_px": 6, "stride_px": 4, "margin_px": 2})
    base.update(kw)
    return ExperimentSettings.from_mapping(base)


def _run(tmp_path, name="run", driver=None, **kw):
    exp = Experiment(driver or FakeDriver(), peak_reward, NearestSurrogate(), GreedyUCB(),
                     _settings(**kw), tmp_path / name, seed=3)
    return exp, exp.run()


def test_twenty_steps_complete_record_and_summary(tmp_path):
    exp, summary = _run(tmp_path)
    with Record.open(tmp_path / "run" / "record.h5") as rec:
        assert len(rec) == 20
        idx = rec.column("index")
        assert len(set(idx.tolist())) == 20  # never re-measured
        assert rec.column("phase").tolist()[:4] == ["seed"] * 4
        assert np.all(np.isfinite(rec.column("reward")))
        assert np.all(np.isfinite(rec.column("t_fit_s")[4:])) and np.all(np.isnan(rec.column("t_fit_s")[:4]))
        assert np.all(np.isfinite(rec.column("pred_std")[4:]))
        assert rec.column("spectrum").shape == (20, 32)
        assert "mean" in rec.h5["maps"]
    assert summary["n_measured"] == 20
    assert summary["best_value"] == pytest.approx(max(exp.state.y))
    assert summary["truth"]["top1_total"] >= 1
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["n_measured"] == 20
    assert len(read_journal(tmp_path / "run" / "journal.jsonl")) == 20
    # the beam was blanked at the end
    assert exp.driver.calls[-1] == "blank"


def test_greedy_finds_the_blob(tmp_path):
    exp, summary = _run(tmp_path, steps=30)
    # the blob centre (40, 22) is the global maximum; a model-guided search gets close to it
    best = exp.candidates.yx_px[summary["best_index"]]
    assert np.hypot(best[0] - 40, best[1] - 22) <= 4


def test_run_directory_is_never_overwritten(tmp_path):
    _run(tmp_path)
    with pytest.raises(RecordError, match="autoscope-resume"):
        _run(tmp_path)


def test_faults_are_retried_and_failing_candidates_skipped(tmp_path):
    d = FakeDriver(flaky_every=3)
    exp, summary = _run(tmp_path, driver=d, max_retries=2)
    events = Record.open(tmp_path / "run" / "record.h5").events()
    faults = [e for e in events if e["kind"] == "fault"]
    assert faults and all(e["error"] == "Timeout" for e in faults)
    assert summary["n_measured"] == 20 and summary["n_failed"] == 0  # each retried successfully

    d2 = FakeDriver()
    # make one seed candidate fail forever: it is recorded as failed and never chosen again
    exp2 = Experiment(d2, peak_reward, NearestSurrogate(), GreedyUCB(), _settings(), tmp_path / "r2", seed=3)
    exp2.setup()
    bad = exp2.design[1]
    py, px = exp2.candidates.yx_px[bad]
    d2.fail_at = {(int(py), int(px))}
    s2 = exp2.run()
    assert s2["n_failed"] == 1 and bad in exp2.state.failed and bad not in exp2.state.measured
    ev = [e for e in Record.open(tmp_path / "r2" / "record.h5").events() if e["kind"] == "measurement_failed"]
    assert ev and ev[0]["index"] == bad


def test_control_commands(tmp_path):
    run_dir = tmp_path / "ctl"
    seen = {}

    def on_step(exp, rows):
        n = exp.n_done
        if n == 5:
            send(run_dir, parse("veto", ["0", "63", "0", "30"]))  # left half of the field
            send(run_dir, parse("force", ["10", "50"]))
        if n == 6:
            seen["forced_row"] = rows[-1]
        if n == 9:
            send(run_dir, parse("pause", []))
            send(run_dir, parse("resume", []))
        if n == 12:
            send(run_dir, parse("stop", []))

    exp = Experiment(FakeDriver(), peak_reward, NearestSurrogate(), GreedyUCB(), _settings(steps=40),
                     run_dir, seed=3, on_step=on_step)
    summary = exp.run()
    assert summary["stop_reason"] == "stopped by the user"
    assert 12 <= summary["n_measured"] <= 13
    forced = seen["forced_row"]
    assert forced.phase == "forced" and abs(forced.yx_px[0] - 10) <= 2 and abs(forced.yx_px[1] - 50) <= 2
    later = exp.candidates.yx_px[exp.state.measured[6:]]
    assert np.all(later[:, 1] > 30)  # nothing measured inside the veto after it arrived
    events = Record.open(run_dir / "record.h5").events()
    verbs = [e.get("verb") for e in events if e["kind"] == "intervention"]
    assert verbs == ["veto", "force", "pause", "resume", "stop"]
    assert not list((run_dir / "control" / "inbox").glob("*.json"))


class _Crash(Exception):
    pass


def test_crash_then_resume_keeps_everything_and_chooses_the_same(tmp_path):
    _, ref = _run(tmp_path, name="ref", steps=16)
    ref_idx = Record.open(tmp_path / "ref" / "record.h5").column("index").tolist()

    def crash(exp, rows):
        if exp.n_done == 9:
            raise _Crash()

    run_dir = tmp_path / "crashed"
    exp = Experiment(FakeDriver(), peak_reward, NearestSurrogate(), GreedyUCB(), _settings(steps=16),
                     run_dir, seed=3, on_step=crash)
    with pytest.raises(_Crash):
        exp.run()
    assert len(read_journal(run_dir / "journal.jsonl")) == 9
    exp2 = Experiment(FakeDriver(), peak_reward, NearestSurrogate(), GreedyUCB(), _settings(steps=16),
                      run_dir, seed=3)
    exp2.resume()
    exp2.run()
    idx = Record.open(run_dir / "record.h5").column("index").tolist()
    assert idx == ref_idx


def test_resume_replays_rows_journaled_after_the_last_checkpoint(tmp_path):
    _run(tmp_path, name="ref", steps=14)
    ref_idx = Record.open(tmp_path / "ref" / "record.h5").column("index").tolist()
    run_dir = tmp_path / "lag"
    snapshots = {}

    def snap(exp, rows):
        if exp.n_done == 8:
            snapshots["ckpt"] = (run_dir / "checkpoint.pt").read_bytes()
        if exp.n_done == 10:
            raise _Crash()

    exp = Experiment(FakeDriver(), peak_reward, NearestSurrogate(), GreedyUCB(), _settings(steps=14),
                     run_dir, seed=3, on_step=snap)
    with pytest.raises(_Crash):
        exp.run()
    # pretend the kill came right after row 10 was journaled but the checkpoint was still at row 8
    (run_dir / "checkpoint.pt").write_bytes(snapshots["ckpt"])
    driver = FakeDriver()
    exp2 = Experiment(driver, peak_reward, NearestSurrogate(), GreedyUCB(), _settings(steps=14), run_dir, seed=3)
    exp2.resume()
    exp2.run()
    assert Record.open(run_dir / "record.h5").column("index").tolist() == ref_idx
    assert driver.calls.count("spectrum") == 4  # rows 9 and 10 replayed, not re-measured


def test_corrupt_record_is_rebuilt_from_the_journal(tmp_path):
    def crash(exp, rows):
        if exp.n_done == 6:
            raise _Crash()

    run_dir = tmp_path / "c"
    exp = Experiment(FakeDriver(), peak_reward, NearestSurrogate(), GreedyUCB(), _settings(steps=10),
                     run_dir, seed=3, on_step=crash)
    with pytest.raises(_Crash):
        exp.run()
    (run_dir / "record.h5").write_bytes(b"\0" * 100)
    exp2 = Experiment(FakeDriver(), peak_reward, NearestSurrogate(), GreedyUCB(), _settings(steps=10), run_dir, seed=3)
    exp2.resume()
    exp2.run()
    rec = Record.open(run_dir / "record.h5")
    assert len(rec) == 10
    assert any(e["kind"] == "record_rebuilt_from_journal" for e in rec.events())
    assert list(run_dir.glob("record.corrupt-*.h5"))


def test_pipelined_loop_measures_the_budget_without_repeats(tmp_path):
    exp, summary = _run(tmp_path, steps=18, pipeline=True, q=2)
    idx = Record.open(tmp_path / "run" / "record.h5").column("index").tolist()
    assert len(idx) == 18 and len(set(idx)) == 18


def test_pipelined_detector_starts_the_next_point_once_the_last_is_journaled(tmp_path, monkeypatch):
    """Journal (fsync) first, then the next acquisition starts, then record + checkpoint overlap it."""
    import threading

    from agent.journal import Journal

    events: list[str] = []
    probe_set = threading.Event()

    class Driver(FakeDriver):
        def set_probe(self, *a, **k):
            events.append("probe")
            probe_set.set()
            return super().set_probe(*a, **k)

    journal_append, record_append = Journal.append, Record.append

    def journal(self, row, *a, **k):
        journal_append(self, row, *a, **k)
        events.append("journal")
        probe_set.clear()

    def record(self, row, axis=None, *a, **k):
        overlapped = probe_set.wait(2.0)  # the worker placed the next probe meanwhile
        events.append("record+" if overlapped else "record")
        record_append(self, row, axis, *a, **k)

    monkeypatch.setattr(Journal, "append", journal)
    monkeypatch.setattr(Record, "append", record)
    exp, summary = _run(tmp_path, driver=Driver(), steps=12, pipeline=True, q=1)
    assert summary["n_measured"] == 12
    records = [e for e in events if e.startswith("record")]
    assert len(records) == 12
    # every step but the last overlaps its bookkeeping with the next acquisition, whose probe is
    # placed only after the previous measurement was journaled ("record+": a probe came between)
    assert records[:-1] == ["record+"] * 11 and records[-1] == "record"


def test_pipelined_loop_stops_submitting_after_an_interlock(tmp_path):
    from drivers import SafetyInterlock

    class Driver(FakeDriver):
        def acquire_spectrum(self, *a, **k):
            if self.n_calls == 7:
                self.n_calls += 1
                raise SafetyInterlock("dose limit of the area reached")
            return super().acquire_spectrum(*a, **k)

    driver = Driver()
    exp, summary = _run(tmp_path, driver=driver, steps=20, pipeline=True, q=1)
    assert summary["n_measured"] == 7
    assert driver.calls.count("spectrum") == 7  # nothing acquired after the interlock
    assert exp.state.stop_reason.startswith("safety")


def test_instrument_time_counts_from_the_run_start_not_the_epoch(tmp_path):
    """Nion Swift (and the remote servers) stamp frames with epoch seconds: summary.json said
    instrument_time_s = 1.8e9. It is now the clock from the first overview to the last spectrum."""
    from drivers.frames import Frame

    epoch = 1.8e9

    class EpochClock(FakeDriver):
        def acquire_overview(self, *args, **kwargs):
            frame = super().acquire_overview(*args, **kwargs)
            return Frame(frame.data, frame.axes, frame.frame_id, {**frame.metadata, "time_s": epoch})

        def acquire_spectrum(self, *args, **kwargs):
            frame = super().acquire_spectrum(*args, **kwargs)
            return Frame(frame.data, frame.axes, frame.frame_id,
                         {**frame.metadata, "time_s": epoch + frame.metadata["time_s"]})

    _, summary = _run(tmp_path, driver=EpochClock(), steps=6)
    assert 0 < summary["instrument_time_s"] < 60
    _, plain = _run(tmp_path, name="plain", steps=6)
    assert plain["instrument_time_s"] == pytest.approx(summary["instrument_time_s"])


def test_dose_budget_is_never_overshot(tmp_path):
    """The budget was checked after each spectrum, so the last one overshot it (1.06e8 e for 1e8);
    now the next spectrum must fit (the fake driver books 1e6 e per spectrum)."""
    exp, summary = _run(tmp_path, steps=20, max_total_dose_e=3.5e6)
    assert summary["n_measured"] == 3 and summary["total_dose_e"] <= 3.5e6
    assert summary["stop_reason"].startswith("total-dose")
    _, exact = _run(tmp_path, name="exact", steps=20, max_total_dose_e=4e6)
    assert exact["n_measured"] == 4 and exact["total_dose_e"] == pytest.approx(4e6)
