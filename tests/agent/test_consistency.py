"""Damaged run files (issue 13): every class is refused with a one-line fix or recovered from the
journal; nothing measured is lost or silently altered."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from conftest import FakeDriver, GreedyUCB, NearestSurrogate, peak_reward

from agent.consistency import RunStoreError, check_store
from agent.journal import JournalError, read_journal, scan_journal
from agent.loop import Experiment
from agent.record import Record, RecordError
from agent.settings import ExperimentSettings
from drivers.faults import FaultInjector


class _Crash(Exception):
    pass


def _settings(**kw):
    base = dict(steps=14, n_init=4, progress=False, plots=False, retry_backoff_s=0.0, max_retries=3,
                overview={"fov_m": None, "shape_px": None, "dwell_s": None},
                candidates={"window_px": 6, "stride_px": 4, "margin_px": 2})
    base.update(kw)
    return ExperimentSettings.from_mapping(base)


def _driver():
    return FaultInjector(FakeDriver(), seed=2, timeout=0.15, nan=0.1, wrong_shape=0.05)


def _experiment(run_dir, **kw):
    return Experiment(_driver(), peak_reward, NearestSurrogate(), GreedyUCB(), _settings(), run_dir,
                      seed=3, **kw)


@pytest.fixture(scope="module")
def crashed(tmp_path_factory):
    """A run killed after 8 measurements (faults and a veto recorded), and the reference finish."""
    base = tmp_path_factory.mktemp("store")
    ref = _experiment(base / "ref")
    ref.run()
    ref_idx = Record.open(base / "ref" / "record.h5").column("index").tolist()

    def crash(exp, rows):
        if exp.n_done == 8:
            raise _Crash()

    exp = _experiment(base / "crashed", on_step=crash)
    with pytest.raises(_Crash):
        exp.run()
    return base / "crashed", ref_idx


def _copy(crashed, tmp_path):
    d = tmp_path / "run"
    shutil.copytree(crashed[0], d)
    return d


def _resume_and_finish(d):
    exp = _experiment(d)
    exp.resume()
    exp.run()
    with Record.open(d / "record.h5") as rec:
        return rec.column("index").tolist(), rec.event_texts(), len(rec)


def test_undamaged_store_is_consistent(crashed, tmp_path):
    d = _copy(crashed, tmp_path)
    check = check_store(d)
    assert check.record_rows == len(check.journal.rows) == check.checkpoint_rows
    assert not check.record_problem and "consistent" in check.summary()
    assert check.journal.signal_axis is not None and check.journal.hashed


def test_journal_cut_mid_line_is_truncated_before_appending(crashed, tmp_path):
    d = _copy(crashed, tmp_path)
    data = (d / "journal.jsonl").read_bytes()
    # a kill in the middle of writing a ninth row: the partial line has no newline
    (d / "journal.jsonl").write_bytes(data + data[: len(data) // 20].split(b"\n")[0][:300])
    idx, events, n = _resume_and_finish(d)
    assert idx == crashed[1] and n == 14
    assert len(read_journal(d / "journal.jsonl")) == 14  # every row whole: status/resume keep working
    assert any('"store_repaired"' in e and "partial" in e for e in events)
    assert list(d.glob("journal.partial-*"))


def test_record_with_random_bytes_is_rebuilt_equal_to_the_journal(crashed, tmp_path):
    rng = np.random.default_rng(0)
    for trial in range(6):
        d = tmp_path / f"r{trial}"
        shutil.copytree(crashed[0], d)
        raw = bytearray((d / "record.h5").read_bytes())
        # even trials hit the spectra's own bytes (silent data damage), odd ones anywhere after the header
        with Record.open(d / "record.h5") as rec:
            info = rec.h5["steps/spectrum"].id.get_chunk_info(0)
            row_bytes = 8 * rec.h5["steps/spectrum"].chunks[1]  # a chunk row may be wider than a spectrum
        start, stop = (0, 8 * 32 * 8 - 48) if trial % 2 == 0 else (512, len(raw) - 64)
        pos = int(rng.integers(start, stop))
        if trial % 2 == 0:  # byte `pos` of the first 8 spectra (32 values each) in the chunk
            pos = info.byte_offset + (pos // (32 * 8)) * row_bytes + pos % (32 * 8)
        raw[pos:pos + 48] = rng.integers(0, 256, 48, dtype=np.uint8).tobytes()
        (d / "record.h5").write_bytes(bytes(raw))
        idx, events, n = _resume_and_finish(d)
        assert idx == crashed[1] and n == 14
        if trial % 2 == 0:
            assert any("record_rebuilt_from_journal" in e for e in events)
        rows = read_journal(d / "journal.jsonl")
        with Record.open(d / "record.h5") as rec:
            assert np.array_equal(rec.column("spectrum")[:8], np.stack([r.spectrum for r in rows[:8]]),
                                  equal_nan=True)


def test_zeroed_journal_is_refused_naming_the_file(crashed, tmp_path):
    d = _copy(crashed, tmp_path)
    size = (d / "journal.jsonl").stat().st_size
    (d / "journal.jsonl").write_bytes(b"\0" * size)
    before = (d / "journal.jsonl").read_bytes()
    with pytest.raises(RunStoreError, match=r"journal.jsonl holds 0 rows .* checkpoint.pt accounts for 8"):
        _experiment(d).resume()
    assert (d / "journal.jsonl").read_bytes() == before  # nothing changed on disk
    _experiment(d)  # and the folder is not left locked


@pytest.mark.parametrize("seed", range(12))
def test_fuzzed_journal_is_refused_or_recovered_never_altered(crashed, tmp_path, seed):
    """Truncation, zeroing and random bytes at random offsets of the journal."""
    d = _copy(crashed, tmp_path)
    rng = np.random.default_rng(seed)
    good = read_journal(d / "journal.jsonl")
    raw = bytearray((d / "journal.jsonl").read_bytes())
    kind = ["truncate", "zero", "random"][seed % 3]
    pos = int(rng.integers(0, len(raw)))
    if kind == "truncate":
        raw = raw[:pos]
    else:
        n = int(rng.integers(1, 64))
        raw[pos:pos + n] = bytes(n) if kind == "zero" else rng.integers(0, 256, n, dtype=np.uint8).tobytes()
    (d / "journal.jsonl").write_bytes(bytes(raw))
    exp = _experiment(d)
    try:
        exp.resume()
    except RecordError as err:
        assert "\n" not in str(err) and "journal.jsonl" in str(err)
        return
    try:
        rows = exp.record.column("index").tolist()
        # recovered: every row kept is the original one, and no checkpointed row is missing
        assert len(rows) >= 8
        assert rows == [r.index for r in good[: len(rows)]]
        assert np.array_equal(exp.record.column("spectrum"), np.stack([r.spectrum for r in good[:len(rows)]]),
                              equal_nan=True)
    finally:
        exp.record.close()
        exp.journal.close()
        exp.close()


@pytest.mark.parametrize("name", ["checkpoint.pt", "overview.npz"])
@pytest.mark.parametrize("damage", ["zero", "garbage", "truncate"])
def test_damaged_checkpoint_or_overview_gives_the_fix_not_torch_advice(crashed, tmp_path, name, damage):
    d = _copy(crashed, tmp_path)
    raw = (d / name).read_bytes()
    bad = {"zero": bytes(len(raw)), "garbage": np.random.default_rng(1).bytes(len(raw)),
           "truncate": raw[: len(raw) // 2]}[damage]
    (d / name).write_bytes(bad)
    with pytest.raises(RecordError) as info:
        _experiment(d).resume()
    msg = str(info.value)
    assert name in msg and "weights_only" not in msg and "\n" not in msg
    assert ("mv " in msg) if name == "checkpoint.pt" else ("restore" in msg)
    if name == "checkpoint.pt":  # the fix named works: moved aside, the run is replayed from the journal
        (d / name).rename(d / f"{name}.bad")
        idx, _, n = _resume_and_finish(d)
        assert idx == crashed[1] and n == 14


def test_killed_before_the_record_exists_resumes(tmp_path):
    d = tmp_path / "early"
    d.mkdir()
    # the overview was saved, then the kill came before record.h5 / journal.jsonl
    exp = _experiment(d)
    overview = exp.driver.acquire_overview(None, None, None)
    from agent.runfiles import save_overview

    save_overview(d / "overview.npz", overview)
    exp2 = _experiment(d)
    exp2.resume()
    summary = exp2.run()
    assert summary["n_measured"] + summary["n_failed"] == 14


def test_rebuilt_record_keeps_every_event_and_the_signal_axis(crashed, tmp_path):
    from agent.control import parse, send

    d = _copy(crashed, tmp_path)
    with Record.open(d / "record.h5") as rec:
        lost_events = rec.event_texts()
        lost_axis = rec.h5["steps"].attrs["signal_axis"]
    assert any('"fault"' in e for e in lost_events)
    (d / "record.h5").write_bytes(b"\0" * 4096)  # after a crash: unreadable
    # a reward switch queued while the run was down: rescored on the journaled axis, nothing failed
    send(d, parse("set", ["reward=band_intensity"]))
    exp = _experiment(d, rebuild=lambda group, ov: (lambda s, a: peak_reward(s, a) + 1.0))
    exp.resume()
    assert exp.record.event_texts()[: len(lost_events)] == lost_events
    assert exp.record.h5["steps"].attrs["signal_axis"] == lost_axis
    n_failed_before = len(exp.state.failed)
    exp.poll_control()
    assert len(exp.state.failed) == n_failed_before  # earlier rows kept their rewards
    assert exp.state.y[0] == pytest.approx(read_journal(d / "journal.jsonl")[0].reward + 1.0)
    exp.record.close()
    exp.journal.close()
    exp.close()


def test_journal_line_altered_but_parseable_is_detected(crashed, tmp_path):
    d = _copy(crashed, tmp_path)
    lines = (d / "journal.jsonl").read_text().split("\n")
    k = next(i for i, line in enumerate(lines) if '"step"' in line)
    lines[k] = lines[k].replace('"reward": ', '"reward": 1', 1)
    (d / "journal.jsonl").write_text("\n".join(lines))
    with pytest.raises(JournalError, match=f"line {k + 1}"):
        scan_journal(d / "journal.jsonl")
    with pytest.raises(RunStoreError, match="sha256"):
        check_store(d)


def test_record_ahead_of_the_journal_is_refused(crashed, tmp_path):
    d = _copy(crashed, tmp_path)
    lines = [line for line in (d / "journal.jsonl").read_text().split("\n") if line]
    rows = [line for line in lines if '"step"' in line]
    keep = [line for line in lines if line not in rows[5:]]  # three rows gone from the journal
    (d / "journal.jsonl").write_text("\n".join(keep) + "\n")
    (d / "checkpoint.pt").unlink()
    with pytest.raises(RunStoreError, match="record.h5 holds 8"):
        check_store(d)


def test_status_reports_the_store_and_refuses_a_damaged_one(crashed, tmp_path, capsys):
    from agent.control import main as ctl

    d = _copy(crashed, tmp_path)
    assert ctl([str(d), "status"]) == 0
    out = capsys.readouterr().out
    assert "journal 8 rows" in out and "consistent" in out
    (d / "journal.jsonl").write_bytes(b"\0" * 100)
    code = ctl([str(d), "status"])
    err = capsys.readouterr().err
    assert code == 3 and "journal.jsonl" in err and len(err.strip().splitlines()) == 1
    assert ctl([str(tmp_path / "nowhere"), "status"]) == 2
    (tmp_path / "plain").mkdir()
    assert ctl([str(tmp_path / "plain"), "status"]) == 2
    assert "not a run" in capsys.readouterr().err
    json  # noqa: B018


@pytest.mark.parametrize("damage", [b"\0" * 300, b"{{{{ not: [yaml", b""])
def test_damaged_config_yaml_exits_3_with_one_line(crashed, tmp_path, capsys, damage):
    from agent.app import resume_main

    d = _copy(crashed, tmp_path)
    (d / "config.yaml").write_bytes(damage)
    assert resume_main([str(d)]) == 3
    err = capsys.readouterr().err
    assert "config.yaml is damaged" in err and len(err.strip().splitlines()) == 1
    assert resume_main([str(tmp_path / "nowhere")]) == 3


def test_kill_9_mid_run_leaves_a_record_that_is_rebuilt_and_appendable(crashed, tmp_path):
    """A writer killed by the OS (no clean close): HDF5 is not trusted, the journal rebuilds it."""
    import os
    import subprocess
    import sys

    d = tmp_path / "killed"
    code = f"""
import os, sys
sys.path[:0] = [{os.getcwd()!r}, {os.path.join(os.getcwd(), 'tests', 'agent')!r}]
from test_consistency import _experiment
def die(exp, rows):
    if exp.n_done == 6:
        os._exit(9)
_experiment({str(d)!r}, on_step=die).run()
"""
    assert subprocess.run([sys.executable, "-c", code], timeout=120).returncode == 9
    check = check_store(d)
    assert check.record_unclean and "not closed cleanly" in check.summary()
    idx, events, n = _resume_and_finish(d)
    assert idx == crashed[1] and n == 14
    assert any("not closed cleanly" in e for e in events)
    assert not list(d.glob("record.unclean-*"))
