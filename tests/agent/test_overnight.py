"""A long virtual-clock run under injected faults, and the guardians."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import FakeDriver, GreedyUCB, NearestSurrogate, peak_reward

from agent.guardians import DoseGuardian, register_shift
from agent.journal import read_journal
from agent.loop import Experiment
from agent.record import Record
from agent.settings import ExperimentSettings
from drivers import InvalidArgument
from drivers.faults import FaultInjector


def test_fault_injection_long_run_loses_nothing(tmp_path):
    rates = dict(timeout=0.06, nan=0.04, wrong_shape=0.04, saturated=0.04, connection_lost=0.03)
    driver = FaultInjector(FakeDriver(), seed=1, **rates)
    settings = ExperimentSettings.from_mapping(dict(
        steps=300, n_init=5, progress=False, plots=False, retry_backoff_s=0.0, max_retries=3,
        overview={"fov_m": None, "shape_px": None, "dwell_s": None},
        candidates={"window_px": 4, "stride_px": 2, "margin_px": 1}))
    exp = Experiment(driver, peak_reward, NearestSurrogate(), GreedyUCB(), settings, tmp_path / "f", seed=0)
    summary = exp.run()
    injected = sum(driver.injected.values())
    assert injected > 40 and all(v > 0 for v in driver.injected.values())
    rec = Record.open(tmp_path / "f" / "record.h5")
    faults = [e for e in rec.events() if e["kind"] == "fault"]
    # every injected fault was seen and recorded by the agent (none slipped into the data)
    assert len(faults) == injected
    assert {e["error"] for e in faults} == {"Timeout", "ConnectionLost", "SpectrumRejected"}
    spectra = rec.column("spectrum")
    assert np.all(np.isfinite(spectra)) and spectra.shape[1] == 32
    assert np.all(spectra < driver.saturation_counts)
    assert summary["n_measured"] + summary["n_failed"] == 300
    assert len(read_journal(tmp_path / "f" / "journal.jsonl")) == len(rec)


def test_fault_rates_are_validated():
    with pytest.raises(InvalidArgument, match="faults.timeout"):
        FaultInjector(FakeDriver(), timeout=1.5)
    with pytest.raises(InvalidArgument, match="add up"):
        FaultInjector(FakeDriver(), timeout=0.6, nan=0.6)


@pytest.mark.parametrize("shift", [(3, -5), (-7.0, 2.0), (0, 0)])
def test_register_shift_recovers_a_known_shift(shift):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:96, 0:96]
    blobs = sum(np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 18.0)
                for cy, cx in rng.uniform(15, 80, size=(12, 2)))
    moved = np.roll(blobs, shift, axis=(0, 1)) + 0.02 * rng.standard_normal(blobs.shape)
    dy, dx = register_shift(blobs, moved)
    assert dy == pytest.approx(shift[0], abs=0.3) and dx == pytest.approx(shift[1], abs=0.3)


class DriftingDriver(FakeDriver):
    """The sample moves 1 px in +x every 10 spectra (seen in overviews and spectra alike)."""

    def _offset(self):
        return self.n_calls // 10

    def acquire_overview(self, *a, **k):
        f = super().acquire_overview(*a, **k)
        from drivers import Frame

        return Frame(np.roll(self.image, self._offset(), axis=1), f.axes, f.frame_id, f.metadata)

    def acquire_spectrum(self, exposure_s, detector="EELS", timeout_s=None):
        y, x = self.probe_px
        self.probe_px = (y, x - self._offset())  # the feature under the probe came from x - offset
        try:
            return super().acquire_spectrum(exposure_s, detector, timeout_s)
        finally:
            self.probe_px = (y, x)


def test_drift_guardian_keeps_the_probe_on_the_feature(tmp_path):
    settings = ExperimentSettings.from_mapping(dict(
        steps=45, n_init=4, progress=False, plots=False, drift_every=10,
        overview={"fov_m": None, "shape_px": None, "dwell_s": None},
        candidates={"window_px": 6, "stride_px": 4, "margin_px": 8}))
    driver = DriftingDriver()
    exp = Experiment(driver, peak_reward, NearestSurrogate(), GreedyUCB(), settings, tmp_path / "d", seed=0)
    exp.run()
    drift = [e for e in Record.open(tmp_path / "d" / "record.h5").events() if e["kind"] == "drift"]
    assert len(drift) >= 3
    last = drift[-1]
    # the overview at the last check showed the sample moved by (spectra so far) // 10 pixels
    expected_dx = last["n_done"] // 10
    assert expected_dx >= 3
    assert last["dx_px"] == pytest.approx(expected_dx, abs=0.4) and abs(last["dy_px"]) < 0.4
    # rewards measured with the correction equal the truth at the intended candidates
    rec = Record.open(tmp_path / "d" / "record.h5")
    idx, y = rec.column("index"), rec.column("reward")
    truth = rec.truth
    assert np.allclose(y[-5:], truth[idx[-5:]], rtol=0.05)


def test_dose_guardian_blocks_a_damaged_region():
    yx = np.array([[0.0, 0.0], [0.0, 1e-9], [0.0, 5e-9]])
    g = DoseGuardian(yx, max_e_per_A2=100.0, radius_m=2e-9)
    assert g.add((0.0, 0.0), 60.0).tolist() == []
    assert g.add((0.0, 0.0), 60.0).tolist() == [0, 1]
    assert g.damaged.tolist() == [True, True, False]
