"""One writer per run folder (issue 13): a second writer is refused with the PID of the first."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import FakeDriver, GreedyUCB, NearestSurrogate, peak_reward

from agent.loop import Experiment
from agent.runlock import RunLock, RunLocked
from agent.settings import ExperimentSettings


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


@pytest.mark.parametrize("use_flock", [True, False])
def test_second_writer_is_refused_with_the_pid(tmp_path, use_flock):
    first = RunLock(tmp_path, use_flock=use_flock).acquire()
    with pytest.raises(RunLocked, match=f"PID {os.getpid()}"):
        RunLock(tmp_path, use_flock=use_flock).acquire()
    first.release()
    with RunLock(tmp_path, use_flock=use_flock):  # free again once released
        pass


@pytest.mark.parametrize("use_flock", [True, False])
def test_stale_lock_of_a_dead_pid_is_taken_over(tmp_path, use_flock):
    import socket

    pid = _dead_pid()
    (tmp_path / "run.lock").write_text(json.dumps({"pid": pid, "host": socket.gethostname(), "since": 1.0}))
    lock = RunLock(tmp_path, use_flock=use_flock).acquire()
    assert lock.took_over["pid"] == pid
    assert json.loads((tmp_path / "run.lock").read_text())["pid"] == os.getpid()
    lock.release()


def test_lock_held_by_another_live_process_is_refused(tmp_path):
    code = (f"import sys,time; sys.path.insert(0, {os.getcwd()!r}); from agent.runlock import RunLock; "
            f"lock = RunLock({str(tmp_path)!r}).acquire(); print('held', flush=True); time.sleep(30)")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "held"
        with pytest.raises(RunLocked, match=f"PID {p.pid}"):
            RunLock(tmp_path).acquire()
    finally:
        p.kill()
        p.wait()
    RunLock(tmp_path).acquire().release()  # the kernel dropped the dead holder's lock


def _settings():
    return ExperimentSettings.from_mapping(dict(
        steps=8, n_init=3, progress=False, plots=False, retry_backoff_s=0.0,
        overview={"fov_m": None, "shape_px": None, "dwell_s": None},
        candidates={"window_px": 6, "stride_px": 4, "margin_px": 2}))


def test_second_resume_of_a_live_run_is_refused_and_changes_nothing(tmp_path):
    class _Crash(Exception):
        pass

    def crash(exp, rows):
        if exp.n_done == 4:
            raise _Crash()

    d = tmp_path / "run"
    with pytest.raises(_Crash):
        Experiment(FakeDriver(), peak_reward, NearestSurrogate(), GreedyUCB(), _settings(), d, seed=1,
                   on_step=crash).run()
    live = Experiment(FakeDriver(), peak_reward, NearestSurrogate(), GreedyUCB(), _settings(), d, seed=1)
    live.resume()  # holds the lock now
    journal = (d / "journal.jsonl").read_bytes()
    second = Experiment(FakeDriver(), peak_reward, NearestSurrogate(), GreedyUCB(), _settings(), d, seed=1)
    with pytest.raises(RunLocked, match=f"PID {os.getpid()}"):
        second.resume()
    assert (d / "journal.jsonl").read_bytes() == journal
    summary = live.run()
    assert summary["n_measured"] == 8
    second2 = Experiment(FakeDriver(), peak_reward, NearestSurrogate(), GreedyUCB(), _settings(), d, seed=1)
    second2.resume()  # released at the end of the run
    second2.record.close()
    second2.journal.close()
    second2.close()
