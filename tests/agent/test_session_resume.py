"""An ask/tell session killed (kill -9) between journaling an observation and checkpointing it
resumes where the CLI loop would be: the journaled observation is replayed (acquire -> complete, the
same decision), nothing is asked twice, and the positions continue as an uninterrupted CLI run's."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from hydra.utils import instantiate

from agent.api import Session, compose

_OVERRIDES = ("experiment.steps=8", "experiment.n_init=4", "experiment.progress=false",
              "experiment.plots=false", "surrogate=coord_gp", "experiment.overview.shape_px=[96,96]", "seed=0")
_KILLED_AT = 5  # observations fully stored before the kill; the 6th is journaled, then the process dies

# The user's notebook: the emulator of the same config driven by hand through suggest/observe; at
# the 6th observation the process is killed right after the journal's fsync, before the record row
# and the checkpoint are written (RunStore.append is the first write after Ledger.secure).
_NOTEBOOK = r"""
import os, signal, sys
from hydra.utils import instantiate
from agent.api import Session, compose

out, n, *overrides = sys.argv[1:]
cfg = compose(*overrides)
s = cfg.experiment
em = instantiate(cfg.driver)
overview = em.acquire_overview(s.overview.fov_m, tuple(s.overview.shape_px), s.overview.dwell_s,
                               s.overview.detector)
session = Session.start(overview, *overrides, out_dir=out)
for k in range(int(n) + 1):
    if k == int(n):
        session.experiment.store.append = lambda *a, **kw: os.kill(os.getpid(), signal.SIGKILL)
    (sug,) = session.suggest()
    em.set_probe(overview.frame_id, yx_frac=sug.yx_frac)
    f = em.acquire_spectrum(s.exposure_s, s.detector)
    session.observe(sug, f.data, f.signal_axis, dose_e=f.metadata["dose_e"], time_s=f.metadata["time_s"])
"""


def _positions(run_dir: Path) -> list[int]:
    rows = [json.loads(line) for line in (run_dir / "journal.jsonl").read_text().splitlines() if line.strip()]
    return [r["index"] for r in rows if "index" in r and "step" in r]


def test_a_session_killed_after_the_journal_write_resumes_as_the_cli_loop_runs(tmp_path):
    cli = tmp_path / "cli"
    code = "import sys; from agent.app import main; sys.argv = ['autoscope'] + sys.argv[1:]; main()"
    subprocess.run([sys.executable, "-c", code, *_OVERRIDES, f"hydra.run.dir={cli}"], check=True, timeout=600,
                   capture_output=True)
    expected = _positions(cli)
    assert len(expected) == 8

    killed = tmp_path / "killed"
    proc = subprocess.run([sys.executable, "-c", _NOTEBOOK, str(killed), str(_KILLED_AT), *_OVERRIDES],
                          timeout=600, capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert _positions(killed) == expected[:_KILLED_AT + 1]  # the 6th is in the journal only

    session = Session.resume(killed)
    exp = session.experiment
    assert exp.n_done == _KILLED_AT and exp.store.n_replay == 1
    cfg = compose(*_OVERRIDES)
    s = cfg.experiment
    em = instantiate(cfg.driver)  # a new instrument process: its noise is seeded by position
    overview = em.acquire_overview(s.overview.fov_m, tuple(s.overview.shape_px), s.overview.dwell_s,
                                   s.overview.detector)
    asked = []
    while not session.done:
        (sug,) = session.suggest()  # the first suggest replays the journaled 6th observation
        asked.append(sug.index)
        em.set_probe(overview.frame_id, yx_frac=sug.yx_frac)
        f = em.acquire_spectrum(s.exposure_s, s.detector)
        session.observe(sug, f.data, f.signal_axis, dose_e=f.metadata["dose_e"], time_s=f.metadata["time_s"])
    run = session.finish()
    assert asked == expected[_KILLED_AT + 1:]  # nothing asked twice: the replayed one is not asked again
    assert _positions(run.path) == expected
    assert run.summary["n_measured"] == 8 and exp.store.n_replay == 0
