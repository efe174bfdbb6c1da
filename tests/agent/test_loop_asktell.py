"""Ask/tell: a caller that measures the suggested candidates itself (a notebook driving its own
instrument) gets the same positions as the loop for the same seed, with the same journal and record."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import FakeDriver, GreedyUCB, NearestSurrogate, peak_reward

from agent.journal import read_journal
from agent.loop import Experiment
from agent.record import Record
from agent.settings import ExperimentSettings
from drivers.frames import Frame


def _settings(**kw):
    base = dict(steps=14, n_init=4, progress=False, plots=False, retry_backoff_s=0.0,
                overview={"fov_m": None, "shape_px": None, "dwell_s": None},
                candidates={"window_px": 6, "stride_px": 4, "margin_px": 2})
    base.update(kw)
    return ExperimentSettings.from_mapping(base)


def _experiment(path, **kw):
    return Experiment(FakeDriver(), peak_reward, NearestSurrogate(), GreedyUCB(), _settings(**kw), path, seed=5)


def _measure(driver: FakeDriver, frame_id: str, yx_frac) -> Frame:
    """What a notebook does with its own instrument: place the probe, take a spectrum."""
    driver.set_probe(frame_id, yx_frac=tuple(float(v) for v in yx_frac))
    return driver.acquire_spectrum(0.05)


@pytest.mark.parametrize("q", [1, 2])
def test_ask_tell_chooses_the_loops_positions(tmp_path, q):
    loop = _experiment(tmp_path / "loop", q=q)
    loop.run()
    expected = [r.index for r in read_journal(tmp_path / "loop" / "journal.jsonl")]

    exp = _experiment(tmp_path / "asktell", q=q)
    own = FakeDriver()  # the user's instrument: the run's driver is used only for the overview
    exp.begin()
    frame_id = own.acquire_overview(None, None, None).frame_id
    try:
        while exp.before_decision():
            decision = exp.suggest()
            for i in decision.indices.tolist():
                exp.observe(int(i), _measure(own, frame_id, exp.candidates.yx_frac[i]))
        summary = exp.finish()
    finally:
        exp.close()
    got = [r.index for r in read_journal(tmp_path / "asktell" / "journal.jsonl")]
    assert got == expected and len(got) == 14
    assert summary["n_measured"] == 14
    with Record.open(tmp_path / "asktell" / "record.h5") as rec:
        assert rec.column("phase").tolist()[:4] == ["seed"] * 4
        assert {"mean", "std", "truth"} <= set(rec.h5["maps"])


def test_suggested_points_are_pending_until_observed(tmp_path):
    exp = _experiment(tmp_path / "r", n_init=2)
    exp.begin()
    try:
        first = exp.suggest()
        second = exp.suggest()  # nothing observed yet: the first suggestion is not offered again
        assert first.indices[0] != second.indices[0]
        assert first.phase == "seed" and second.phase == "seed"
        # a position in metres is matched to the nearest candidate
        i = int(first.indices[0])
        y, x = exp.candidates.yx_m[i]
        row = exp.observe((float(y), float(x)), _measure(exp.driver, exp.measurer.probe_frame_id,
                                                         exp.candidates.yx_frac[i]))
        assert row is not None and row.index == i and row.phase == "seed"
        # a spectrum the checks refuse is a failed measurement, journaled as such
        bad = Frame(np.full(32, np.nan), row_axis(exp), "bad", {})
        assert exp.observe(int(second.indices[0]), bad) is None
        assert exp.state.failed == [int(second.indices[0])]
    finally:
        exp.close()


def row_axis(exp: Experiment):
    assert exp.signal_axis is not None
    return (exp.signal_axis,)
