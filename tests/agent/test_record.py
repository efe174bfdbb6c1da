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

    from agent.candidates import make_candidates
    from conftest import FakeDriver

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
