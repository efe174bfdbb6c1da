"""The HDF5 record: every row flushed, never overwritten, corrupt files refused clearly."""

import numpy as np
import pytest

from agent.candidates import make_candidates
from agent.record import Record, RecordError, StepRow
from drivers import Axis, Frame


def _setup(tmp_path):
    ov = Frame(np.random.default_rng(0).random((16, 16)),
               (Axis.uniform("y", "m", 0, 1e-9, 16), Axis.uniform("x", "m", 0, 1e-9, 16)), "ov")
    cand = make_candidates(ov, 4, 4, 2)
    return ov, cand


def _row(step, n_signal=8, reward=1.0):
    return StepRow(step=step, index=step, phase="seed", yx_px=(2, 2), yx_m=(1e-9, 2e-9),
                   reward=reward, spectrum=np.arange(n_signal, dtype=float) + step)


def test_rows_are_readable_by_another_reader_after_each_append(tmp_path):
    ov, cand = _setup(tmp_path)
    path = tmp_path / "record.h5"
    rec = Record.create(path, ov, cand, "seed: 0\n", truth=np.arange(cand.n, dtype=float))
    axis = Axis.uniform("energy_loss", "eV", 0.5, 0.1, 8)
    for k in range(3):
        rec.append(_row(k), axis)
    rec.event("fault", verb="acquire_spectrum")
    # a second process opening the file now (without close) sees every row: flushed
    import h5py

    with h5py.File(path, "r", locking=False) as h5:
        assert h5["steps/reward"].shape == (3,)
        assert h5["steps/spectrum"][2, 0] == 2.0
    rec.close()
    with Record.open(path) as r:
        assert len(r) == 3
        assert r.column("phase").tolist() == ["seed"] * 3
        assert r.events()[0]["kind"] == "fault"
        assert r.truth is not None and r.truth.shape == (cand.n,)
        with pytest.raises(RecordError, match="no step field"):
            r.column("nope")


def test_never_overwrites(tmp_path):
    ov, cand = _setup(tmp_path)
    Record.create(tmp_path / "record.h5", ov, cand).close()
    with pytest.raises(RecordError, match="never overwritten"):
        Record.create(tmp_path / "record.h5", ov, cand)


def test_wrong_length_spectrum_is_kept_as_nan_row_with_event(tmp_path):
    ov, cand = _setup(tmp_path)
    with Record.create(tmp_path / "r.h5", ov, cand) as rec:
        rec.append(_row(0, 8))
        rec.append(_row(1, 5))
        assert len(rec) == 2
        assert np.all(np.isnan(rec.column("spectrum")[1]))
        assert rec.events()[0]["kind"] == "spectrum_shape_mismatch"


def test_corrupt_and_truncated_files_are_refused(tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not an hdf5 file at all")
    with pytest.raises(RecordError, match="truncated or corrupt"):
        Record.open(bad)
    ov, cand = _setup(tmp_path)
    good = tmp_path / "good.h5"
    Record.create(good, ov, cand).close()
    data = good.read_bytes()
    (tmp_path / "cut.h5").write_bytes(data[: len(data) // 3])
    with pytest.raises(RecordError):
        Record.open(tmp_path / "cut.h5")
    with pytest.raises(RecordError, match="no record"):
        Record.open(tmp_path / "missing.h5")


def test_events_from_two_threads_are_all_kept(tmp_path):
    """A pipelined loop records faults from its acquisition thread while the main thread writes."""
    import threading

    from conftest import FakeDriver

    from agent.candidates import make_candidates

    drv = FakeDriver()
    ov = drv.acquire_overview(None, None, None)
    rec = Record.create(tmp_path / "r.h5", ov, make_candidates(ov, 6, 4, 2), "cfg: 1", None)
    n = 300

    def writer(tag):
        for k in range(n):
            rec.event("fault", tag=tag, k=k)

    threads = [threading.Thread(target=writer, args=(t,)) for t in ("a", "b", "c")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    events = rec.events()
    assert len(events) == 3 * n
    assert {(e["tag"], e["k"]) for e in events} == {(t, k) for t in "abc" for k in range(n)}


# ------------------------------------------------------------------ layout 2: units, NeXus, SWMR
def test_layout_has_units_everywhere_uniform_axes_nexus_views_and_provenance(tmp_path):
    import h5py

    ov, cand = _setup(tmp_path)
    path = tmp_path / "record.h5"
    rec = Record.create(path, ov, cand, "seed: 3\n", truth=np.zeros(cand.n), reward_name="BandIntensity",
                        reward_units="counts eV")
    axis = Axis.uniform("energy_loss", "eV", 0.5, 0.1, 8)
    rec.append(_row(0), axis)
    rec.event("fault", value=float("nan"))
    rec.write_maps(mean=np.ones(cand.grid_shape), std=np.zeros(cand.grid_shape))
    rec.close()
    with h5py.File(path, "r") as h5:
        missing = []
        h5.visititems(lambda name, obj: missing.append(name)
                      if isinstance(obj, h5py.Dataset) and "units" not in obj.attrs else None)
        assert missing == []
        assert h5.attrs["NX_class"] == "NXroot" and h5["entry"].attrs["NX_class"] == "NXentry"
        sp = h5["entry/spectra"]
        assert sp.attrs["NX_class"] == "NXdata" and sp.attrs["signal"] == "spectrum"
        assert list(sp.attrs["axes"]) == ["measurement", "signal_axis"]
        assert sp["spectrum"] == h5["steps/spectrum"]  # one dataset, two paths (hard links)
        ax = h5["steps/signal_axis"]
        assert (ax.attrs["offset"], ax.attrs["scale"]) == pytest.approx((0.5, 0.1))
        assert ax.attrs["units"] == b"eV" and ax.attrs["long_name"] == b"energy_loss"
        assert h5["steps/reward"].attrs["units"] == "counts eV"
        assert h5["maps/mean"].attrs["units"] == "counts eV"
        assert list(h5["entry/maps"].attrs["axes"]) == [b"y", b"x"]
        assert h5.attrs["reward_name"] == "BandIntensity" and h5.attrs["config"] == "seed: 3\n"
        assert h5.attrs["start_time"].endswith("+00:00") and h5.attrs["software_version"]
        assert h5["overview/x"].attrs["scale"] == pytest.approx(1e-9)
    with Record.open(path) as r:
        assert r.events() == [{"kind": "fault", "value": None}]  # strict JSON: NaN -> null


def test_long_events_and_strings_round_trip(tmp_path):
    ov, cand = _setup(tmp_path)
    with Record.create(tmp_path / "r.h5", ov, cand) as rec:
        texts = ["é" * 3000, "x" * 1024, "", "y" * 1025]
        for t in texts:
            rec.event("note", text=t)
        rec.append(StepRow(step=0, index=0, phase="policy", yx_px=(1, 1), yx_m=(0.0, 0.0), reward=1.0,
                           reason="ü" * 10, spectrum=np.zeros(4)))
        assert [e["text"] for e in rec.events()] == texts
        assert rec.column("reason").tolist() == ["ü" * 10]


def _write_layout1(path, ov, cand):
    """A record as the code before SWMR wrote it (variable-length strings, version 1)."""
    import json

    import h5py

    s = h5py.string_dtype()
    with h5py.File(path, "w", libver=("earliest", "v108")) as h5:
        h5.attrs.update(version=1, closed_cleanly=1, config="seed: 1\n")
        g = h5.create_group("overview")
        g.create_dataset("image", data=np.asarray(ov.data, np.float32))
        g.attrs.update(frame_id="ov", axes=json.dumps([a.to_dict() for a in ov.axes]), metadata="{}")
        c = h5.create_group("candidates")
        c.create_dataset("yx_px", data=cand.yx_px)
        c.create_dataset("yx_m", data=cand.yx_m)
        c.attrs.update(grid_shape=cand.grid_shape, window=cand.window, stride=cand.stride, margin=cand.margin)
        st = h5.create_group("steps")
        from agent.record import STEP_FIELDS

        for name, (dtype, shape) in STEP_FIELDS.items():
            dtype = s if name in ("phase", "reason") else dtype
            st.create_dataset(name, shape=(2,) + shape, maxshape=(None,) + shape, dtype=dtype)
        st["phase"][:] = ["seed", "policy"]
        st["index"][:] = [3, 5]
        st.create_dataset("spectrum", data=np.arange(8.0).reshape(2, 4), maxshape=(None, 4))
        st.attrs["signal_axis"] = json.dumps(Axis.uniform("e", "eV", 0, 1, 4).to_dict())
        h5.create_dataset("events", data=['{"kind": "a"}'], dtype=s, maxshape=(None,))


def test_layout1_record_is_read_and_copied_into_layout2_to_append(tmp_path):
    from agent.record_reader import read_run

    ov, cand = _setup(tmp_path)
    path = tmp_path / "record.h5"
    _write_layout1(path, ov, cand)
    old = read_run(path)
    assert old.layout == 1 and old.rows["phase"].tolist() == ["seed", "policy"]
    assert old.events == [{"kind": "a"}] and old.axis_units == "eV"
    with Record.open(path, "a") as rec:  # a resume of an old run
        assert rec.layout == 2
        rec.append(_row(2, n_signal=4), Axis.uniform("e", "eV", 0, 1, 4))
    new = read_run(path)
    assert new.layout == 2 and new.rows["index"].tolist() == [3, 5, 2]
    assert np.array_equal(new.spectra[:2], old.spectra) and new.events == old.events
    assert len(list(tmp_path.glob("record.layout1-*.h5"))) == 1


def test_journal_lines_are_strict_json_and_bare_nan_journals_still_read(tmp_path):
    import json

    from agent.journal import Journal, read_journal, scan_journal

    def strict(text):
        return json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))

    j = Journal(tmp_path / "journal.jsonl")
    j.append(StepRow(step=0, index=1, phase="seed", yx_px=(1, 2), yx_m=(float("nan"), 1.0), reward=float("nan"),
                     objectives=np.array([np.nan, np.inf]), spectrum=np.array([1.0, np.nan])),
             Axis.uniform("e", "eV", 0, 1, 2))
    j.event(json.dumps({"kind": "x"}))
    j.close()
    for line in (tmp_path / "journal.jsonl").read_text().splitlines():
        strict(line)
    row = scan_journal(tmp_path / "journal.jsonl").rows[0]
    assert np.isnan(row.reward) and np.isnan(row.pred_mean) and np.isnan(row.yx_m[0])
    assert np.isnan(row.objectives).all() and np.isnan(row.spectrum[1])
    # a journal from before (bare NaN, no hashes) still reads
    old = ('{"step": 0, "index": 1, "phase": "seed", "yx_px": [1, 2], "yx_m": [0.0, 1.0], "reward": NaN, '
           '"spectrum_b64": "", "spectrum_n": 0}\n')
    (tmp_path / "old.jsonl").write_text(old)
    assert np.isnan(read_journal(tmp_path / "old.jsonl")[0].reward)


# ------------------------------------------------------------------ the real run: live reads, kill -9
def _journal_rows(run_dir):
    path = run_dir / "journal.jsonl"
    return path.read_text().count('"spectrum_b64"') if path.exists() else 0


@pytest.mark.slow
def test_record_is_read_100_times_during_a_300_step_run_and_after_kill_9_then_exported(tmp_path):
    """h5py opens and reads the live record 100 times while a 300-step run appends (0 failures
    allowed), again right after a kill -9; the resumed run's export loads in HyperSpy with the
    driver's energy axis and one navigation position per measurement."""
    import json
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    import h5py

    from agent.export import export_run
    from agent.journal import scan_journal
    from agent.metrics import write_metrics_csv

    bin_dir = Path(sys.executable).parent
    run_dir = tmp_path / "run"
    proc = subprocess.Popen([str(bin_dir / "autoscope"), f"hydra.run.dir={run_dir}", "experiment.progress=false",
                             "experiment.plots=false", "policy=random", "~surrogate", "experiment.steps=300"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    path = run_dir / "record.h5"
    reads, failures, seen = 0, [], []
    deadline = time.time() + 240
    try:
        while not path.exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.005)
        while reads < 100 and proc.poll() is None and time.time() < deadline:
            try:
                with h5py.File(path, "r", swmr=True, locking=False) as h5:
                    n = h5["steps/step"].shape[0]
                    if n:
                        h5["steps/spectrum"][n - 1]
                    seen.append(n)
                reads += 1
            except (OSError, KeyError, ValueError) as err:
                failures.append(repr(err))
            time.sleep(0.01)
        while _journal_rows(run_dir) < 150 and proc.poll() is None and time.time() < deadline:
            time.sleep(0.01)
        assert proc.poll() is None, "the run ended before the kill: " + proc.stdout.read()[-2000:]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert reads == 100 and failures == [], failures[:5]
    assert seen[-1] > seen[0]  # the reads followed the run
    kept = _journal_rows(run_dir)
    with h5py.File(path, "r", swmr=True, locking=False) as h5:  # right after the kill
        n_after = h5["steps/spectrum"].shape[0]
    assert kept - 1 <= n_after <= kept and 150 <= kept < 300
    proc = subprocess.run([str(bin_dir / "autoscope-resume"), str(run_dir)], capture_output=True, text=True,
                          timeout=240)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    n_measured = json.loads((run_dir / "summary.json").read_text())["n_measured"]
    assert n_measured == 300
    t0 = time.perf_counter()
    paths = export_run(run_dir, "hspy")
    t_export = time.perf_counter() - t0
    import hyperspy.api as hs

    spectra = hs.load(paths[0])
    axis = scan_journal(run_dir / "journal.jsonl").signal_axis  # the axis the driver gave
    got = spectra.axes_manager.signal_axes[0]
    assert (got.offset, got.scale, got.units) == (axis.values[0], axis.scale, axis.units)
    assert spectra.axes_manager.navigation_size == n_measured
    assert spectra.metadata.Autoscope.positions_yx_m.shape == (n_measured, 2)
    # the record itself is NeXus: HyperSpy reads its NXdata groups (spectra, overview, maps)
    direct = hs.load(run_dir / "record.h5", file_format="nxs", nxdata_only=True)
    nexus = next(s for s in direct if s.metadata.General.title == "spectra")
    got = nexus.axes_manager["signal_axis"]
    assert nexus.data.shape == (n_measured, axis.size) and got.units == axis.units
    assert (got.offset, got.scale) == pytest.approx((axis.values[0], axis.scale))
    overview = hs.load(next(p for p in paths if p.stem == "overview"))
    assert {a.units for a in overview.axes_manager.signal_axes} == {"nm"}
    assert t_export < 30
    assert write_metrics_csv(run_dir) == run_dir / "metrics.csv"
    from benchmarks.bench.aggregate import read_metrics

    rows = read_metrics(run_dir / "metrics.csv")
    assert len(rows) == 300 and rows[-1]["n_measured"] == 300


def test_reward_name_units_and_windows_are_stored_as_given(tmp_path):
    """The record states the built reward's own description (agent.reward_info), not the config's."""
    from agent.record_reader import read_run

    ov, cand = _setup(tmp_path)
    cfg = "reward:\n  _target_: rewards.BandIntensity\n  window_eV: [1.0, 2.0]\n  units: eV\n"
    Record.create(tmp_path / "record.h5", ov, cand, cfg, reward_name="BandIntensity", reward_units="counts eV",
                  reward_windows=((1.0, 2.0),)).close()
    data = read_run(tmp_path)
    assert (data.reward_name, data.reward_units, data.reward_windows) == ("BandIntensity", "counts eV",
                                                                          "[[1.0, 2.0]]")


def test_every_run_writes_metrics_csv_from_its_record(tmp_path):
    from conftest import FakeDriver, GreedyUCB, NearestSurrogate, peak_reward

    from agent.loop import Experiment
    from agent.settings import ExperimentSettings
    from benchmarks.bench.aggregate import read_metrics

    settings = ExperimentSettings.from_mapping(dict(
        steps=12, n_init=4, progress=False, plots=False,
        overview={"fov_m": None, "shape_px": None, "dwell_s": None},
        candidates={"window_px": 6, "stride_px": 4, "margin_px": 8}))
    exp = Experiment(FakeDriver(), peak_reward, NearestSurrogate(), GreedyUCB(), settings, tmp_path / "m", seed=0)
    exp.run()
    rows = read_metrics(tmp_path / "m" / "metrics.csv")
    assert [r["step"] for r in rows] == list(range(1, 13)) and rows[-1]["n_measured"] == 12
    with Record.open(tmp_path / "m" / "record.h5") as rec:
        assert [r["index"] for r in rows] == rec.column("index").tolist()
        assert [r["value"] for r in rows] == pytest.approx(rec.column("reward").tolist())


def test_run_result_reads_through_the_one_reader_while_the_run_writes(tmp_path, monkeypatch):
    # RunResult (summary, plots, report, agent.Run) and read_run (export, metrics.csv) are one code
    # path: the loop's open handle and a second reader of the live folder give the same rows
    import agent.record_reader as reader
    from agent.result import RunResult

    ov, cand = _setup(tmp_path)
    rec = Record.create(tmp_path / "record.h5", ov, cand, "seed: 3\nexperiment: {maximize: false}\n",
                        reward_name="BandIntensity", reward_units="counts eV", reward_windows=((0.6, 0.9),))
    axis = Axis.uniform("energy_loss", "eV", 0.5, 0.1, 8)
    for k in range(4):
        rec.append(_row(k, reward=float(k)), axis)
    calls = []
    real = reader.read_record
    monkeypatch.setattr(reader, "read_record", lambda r: calls.append(r) or real(r))
    import agent.result

    monkeypatch.setattr(agent.result, "read_record", reader.read_record)
    live = RunResult.from_run_dir(tmp_path)  # the writer is still open (SWMR)
    own = RunResult.from_record(rec)
    assert len(calls) == 2
    assert live.n_rows == own.n_rows == 4 and live.seed == 3 and not live.maximize
    assert np.array_equal(live.columns["spectrum"], own.columns["spectrum"])
    assert live.columns["phase"].tolist() == ["seed"] * 4 and live.best_row == 0
    assert live.reward.label == "BandIntensity (counts eV)" and live.reward.windows == ((0.6, 0.9),)
    assert live.signal_axis is not None and live.signal_axis.units == "eV"
    # the reader's close (in the writer's own process HDF5 shares the open file) ended nothing:
    # the run appends on and closes cleanly
    rec.append(_row(4), axis)
    rec.close()
    done = reader.read_run(tmp_path)
    assert done.n_rows == 5 and done.closed_cleanly
