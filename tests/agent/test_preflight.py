"""Preflight (issue 13): what depends on the instrument or the data is refused before the first dose."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import FakeDriver, GreedyUCB, NearestSurrogate, peak_reward

from agent.loop import Experiment
from agent.preflight import PreflightError, check_driver, check_overview, check_reward, fit_recording
from agent.settings import ConfigError, ExperimentSettings
from drivers import Axis, Capabilities


def _settings(**kw):
    base = dict(steps=10, n_init=3, progress=False, plots=False, retry_backoff_s=0.0,
                overview={"fov_m": None, "shape_px": None, "dwell_s": None},
                candidates={"window_px": 6, "stride_px": 4, "margin_px": 2})
    for k, v in kw.items():
        if isinstance(v, dict):
            base[k] = {**base.get(k, {}), **v}
        else:
            base[k] = v
    return ExperimentSettings.from_mapping(base)


class AxisDriver(FakeDriver):
    """Declares its limits and its signal axis like the emulators do."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self._axis = self.energy
        self.spectra = 0

    def capabilities(self):
        return Capabilities(("HAADF", "EELS"), {"EELS": "eV"}, 1e-6, 10.0)

    def acquire_spectrum(self, *a, **k):
        self.spectra += 1
        return super().acquire_spectrum(*a, **k)


def _window_reward(lo, hi):
    from rewards.bands import BandIntensity

    return BandIntensity(window_eV=[lo, hi])


@pytest.mark.parametrize("kw, reward, match", [
    (dict(exposure_s=100.0), peak_reward, r"experiment.exposure_s=100 exceeds .* 10 s"),
    (dict(detector="EDS"), peak_reward, r"experiment.detector='EDS'"),
    (dict(overview={"fov_m": 1.0}), peak_reward, r"experiment.overview.fov_m=1 exceeds"),
    (dict(), _window_reward(100, 200), r"reward cannot evaluate on the driver's signal axis"),
    (dict(candidates={"window_px": 1000}), peak_reward, r"window_px=1000 is larger than the overview"),
    (dict(steps=1000), peak_reward, r"experiment.steps=1000 exceeds the \d+ candidates"),
    (dict(candidates={"margin_px": 40}), peak_reward, r"margin_px=40"),
])
def test_refused_before_any_spectrum(tmp_path, kw, reward, match):
    driver = AxisDriver()
    exp = Experiment(driver, reward, NearestSurrogate(), GreedyUCB(), _settings(**kw), tmp_path / "r", seed=0)
    with pytest.raises(PreflightError, match=match) as info:
        exp.run()
    assert driver.spectra == 0 and "\n" not in str(info.value)
    assert isinstance(info.value, ConfigError)
    assert not (tmp_path / "r" / "record.h5").exists()


def test_a_reward_window_inside_the_axis_passes():
    axis = Axis.uniform("energy_loss", "eV", 0.0, 0.1, 32)
    check_reward(_window_reward(1.0, 2.0), axis)
    with pytest.raises(PreflightError, match=r"\[0, 3.1\] eV"):
        check_reward(_window_reward(100, 200), axis)


def test_memory_estimate_refuses_a_grid_that_does_not_fit(monkeypatch):
    import agent.preflight as pf

    monkeypatch.setattr(pf, "available_memory_bytes", lambda: 2**30)
    s = _settings(steps=5, candidates={"window_px": 200, "stride_px": 1, "margin_px": 0})
    with pytest.raises(PreflightError, match="GiB"):
        pf._check_grid(s, (256, 256))


def test_nan_in_replay_data_or_overview_is_refused():
    from drivers.replay import ReplayDriver
    from drivers.safety import SafeDriver, SafetyLimits

    def replay(cube, image):
        return ReplayDriver.from_arrays(image, cube, np.linspace(1.0, 3.0, 8))

    cube, image = np.ones((4, 4, 8), np.float32), np.ones((4, 4), np.float32)
    cube[1, 2, 3] = np.nan
    with pytest.raises(PreflightError, match="replay's spectrum cube holds 1 NaN"):
        d = replay(cube, image)
        check_driver(fit_recording(_settings(), d), d)
    cube, image = np.ones((4, 4, 8), np.float32), np.ones((4, 4), np.float32)  # the replay froze the first
    image[0, 0] = np.inf
    with pytest.raises(PreflightError, match="structure image"):  # found behind the safety layer too
        d = SafeDriver(replay(cube, image), SafetyLimits())
        check_driver(fit_recording(_settings(), d), d)
    ov = FakeDriver().acquire_overview(None, None, None)
    data = ov.data.copy()
    data[3, 3] = np.nan
    with pytest.raises(PreflightError, match="overview image holds 1 NaN"):
        check_overview(_settings(), type(ov)(data, ov.axes, ov.frame_id, ov.metadata))


@pytest.mark.parametrize("key, value, match", [
    ("steps", "abc", r"experiment.steps='abc' is not an integer"),
    ("steps", 12.7, r"experiment.steps=12.7 is not a whole number"),
    ("steps", True, r"not an integer"),
    ("q", float("nan"), r"experiment.q=nan"),
    ("exposure_s", "fast", r"experiment.exposure_s='fast' is not a finite number"),
    ("exposure_s", float("inf"), r"not a finite number"),
    ("maximize", "yes", r"experiment.maximize='yes' is not a switch"),
    ("max_consecutive_failures", -1, r"max_consecutive_failures=-1"),
    ("candidates", 5, r"experiment.candidates=5 must be a group"),
])
def test_integer_and_typed_settings_are_really_typed(key, value, match):
    with pytest.raises(ConfigError, match=match):
        _settings(**{key: value})


def test_whole_float_is_taken_as_integer():
    assert _settings(steps=1e1).steps == 10 and isinstance(_settings(steps=1e1).steps, int)
    assert _settings(candidates={"window_px": 4.0}).candidates.window_px == 4


def test_k_consecutive_unusable_measurements_stop_the_run(tmp_path):
    from agent.exitcodes import ExitCode, exit_code_for

    def broken(spectrum, axis):
        from rewards.errors import RewardError

        raise RewardError("no edge here")

    class NoTruth(AxisDriver):
        expected_spectra = None  # no noise-free truth, as on a real instrument

    exp = Experiment(NoTruth(), broken, NearestSurrogate(), GreedyUCB(),
                     _settings(steps=40, max_consecutive_failures=4), tmp_path / "k", seed=0)
    summary = exp.run()
    assert summary["stop_reason"].startswith("failing measurements")
    assert summary["n_failed"] == 4 and summary["n_measured"] == 0
    assert exit_code_for(summary) == ExitCode.FAILING
    exp2 = Experiment(NoTruth(), broken, NearestSurrogate(), GreedyUCB(),
                      _settings(steps=6, max_consecutive_failures=0), tmp_path / "off", seed=0)
    summary = exp2.run()
    assert summary["n_failed"] == 6 and exit_code_for(summary) == ExitCode.NOTHING_MEASURED


def test_a_reward_that_finds_no_counts_on_the_test_spectrum_is_left_to_real_spectra():
    """EDS element fractions raise EmptySpectrum on the smooth test shape (no net counts above
    their background): that is data, not configuration, and used to refuse every recorded EDS set."""
    from agent.preflight import PreflightError, check_reward
    from drivers.frames import Axis
    from rewards.errors import EmptySpectrum, WindowOutsideAxis

    axis = Axis.uniform("energy", "keV", 0.1, 0.01, 500)

    def no_counts(spectrum, ax):
        raise EmptySpectrum("no net counts above background")

    def off_axis(spectrum, ax):
        raise WindowOutsideAxis("window [100, 200] keV outside the axis")

    check_reward(no_counts, axis)
    with pytest.raises(PreflightError, match="cannot evaluate"):
        check_reward(off_axis, axis)


def test_a_replay_is_found_by_its_declared_protocol_behind_any_wrapper():
    """preflight finds the replay through drivers.Replay (no sys.modules lookup): the replay itself
    behind the fault injector (which forwards every attribute) and the safety layer, nothing in a
    driver that does not replay; a replay-like driver of the user's own is fitted too."""
    import subprocess
    import sys
    from pathlib import Path

    import agent.preflight as pf
    from drivers import Replay
    from drivers.faults import FaultInjector
    from drivers.replay import ReplayDriver
    from drivers.safety import SafeDriver, SafetyLimits

    replay = ReplayDriver.from_arrays(np.ones((4, 4), np.float32), np.ones((4, 4, 8), np.float32),
                                      np.linspace(1.0, 3.0, 8))
    assert isinstance(replay, Replay) and not isinstance(FakeDriver(), Replay)
    assert pf._replay_driver(SafeDriver(FaultInjector(replay), SafetyLimits())) is replay
    assert pf._replay_driver(FaultInjector(FakeDriver())) is None

    class OwnReplay(FakeDriver):  # a user's replay of a 4 x 4 recording: declares the protocol
        recording = replay.recording
        native_fov_m = None

    fitted = fit_recording(_settings(overview={"shape_px": [256, 256]}), OwnReplay())
    assert fitted.overview.shape_px is None  # the recorded grid, not the experiment's
    code = ("import sys; from agent.preflight import check_driver, fit_recording; from conftest import FakeDriver; "
            "from agent.settings import ExperimentSettings as S; d = FakeDriver(); "
            "check_driver(fit_recording(S(), d), d); assert 'drivers.replay' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(Path(__file__).resolve().parent))
