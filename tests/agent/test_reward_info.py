"""The reward's own description (name, value units, windows) reaches the record, the result and the
plots; units come from the driver's declared capabilities; old records are still read."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

import agent
from agent.record import Record
from agent.result import RunResult
from agent.reward_info import SWITCH_EVENT, legacy_reward_info, recorded_reward_info, reward_info
from drivers.frames import Capabilities
from rewards import BandIntensity, LoopArea, Negate, as_reward

_SMALL = ("experiment.steps=6", "experiment.n_init=3", "experiment.progress=false", "experiment.plots=false",
          "surrogate=coord_gp", "experiment.overview.shape_px=[96,96]")


@pytest.fixture(scope="module")
def band_run(tmp_path_factory):
    return agent.run_experiment(*_SMALL, out_dir=tmp_path_factory.mktemp("band") / "run").path


def test_reward_info_asks_the_built_reward():
    info = reward_info(Negate(BandIntensity([1.5, 2.4])), "eV", "counts")
    assert (info.name, info.units, info.axis_units, info.windows) == ("Negate(BandIntensity)", "counts eV", "eV",
                                                                       ((1.5, 2.4),))
    assert info.label == "Negate(BandIntensity) (counts eV)"
    assert reward_info(LoopArea(), "V", "pm").units == "pm V"
    user = reward_info(as_reward(lambda s, a: 1.0), "eV", "counts")
    assert (user.units, user.windows, user.label) == ("", (), "<lambda>")


def test_capabilities_declare_intensity_units_per_detector():
    from drivers.emulator.driver import PlasmonEmulator
    from drivers.pfm.driver import PFMEmulator
    from drivers.remote.wire import capabilities_from_wire, capabilities_to_wire
    from drivers.safety import SafeDriver, SafetyLimits

    pfm = PFMEmulator(seed=0)
    caps = pfm.capabilities()
    assert caps.intensity_units_of("PFM") == "pm" and caps.signal_units["PFM"] == "V"
    assert SafeDriver(pfm, SafetyLimits()).capabilities().intensity_units_of("PFM") == "pm"
    assert capabilities_from_wire(capabilities_to_wire(caps)).intensity_units_of("PFM") == "pm"
    assert PlasmonEmulator(seed=0).capabilities().intensity_units_of("EELS") == "counts"
    assert Capabilities(("EELS",), {"EELS": "eV"}, 1e-6, 1.0).intensity_units_of("EELS") == "counts"  # default


def test_the_record_states_the_rewards_name_units_and_windows(band_run):
    with h5py.File(band_run / "record.h5", "r", locking=False) as h5:
        assert h5.attrs["reward_name"] == "BandIntensity"
        assert h5.attrs["reward_units"] == "counts eV"
        assert json.loads(h5.attrs["reward_windows"]) == [[1.5, 2.4]]
    result = RunResult.from_run_dir(band_run)
    assert (result.reward.name, result.reward.units, result.reward.axis_units, result.reward.windows) == (
        "BandIntensity", "counts eV", "eV", ((1.5, 2.4),))


def test_a_user_function_reward_is_recorded_with_the_defaults(tmp_path):
    from conftest import FakeDriver, GreedyUCB, NearestSurrogate, peak_reward

    from agent.loop import Experiment
    from agent.settings import ExperimentSettings

    settings = ExperimentSettings.from_mapping(dict(
        steps=6, n_init=3, progress=False, plots=False,
        overview={"fov_m": None, "shape_px": None, "dwell_s": None},
        candidates={"window_px": 6, "stride_px": 4, "margin_px": 8}))
    exp = Experiment(FakeDriver(), peak_reward, NearestSurrogate(), GreedyUCB(), settings, tmp_path / "u", seed=0)
    exp.run()
    with Record.open(tmp_path / "u" / "record.h5") as rec:
        attrs = dict(rec.h5.attrs)
    assert (attrs["reward_name"], attrs["reward_units"], json.loads(attrs["reward_windows"])) == (
        "peak_reward", "", [])
    assert RunResult.from_run_dir(tmp_path / "u").reward.label == "peak_reward"


def test_a_mid_run_switch_records_the_new_rewards_description(tmp_path):
    from agent.control import parse, send

    out = tmp_path / "switched"

    def switch_once(update) -> None:
        if update.n_done == 3:
            send(out, parse("set", ["reward.window_eV=[2.0,2.8]"]))

    run = agent.run_experiment(*_SMALL, out_dir=out, on_step=switch_once)
    with Record.open(run.path / "record.h5") as rec:
        events = [ev for ev in rec.events() if ev["kind"] == SWITCH_EVENT]
        assert json.loads(rec.h5.attrs["reward_windows"]) == [[1.5, 2.4]]  # the reward at the start
    assert len(events) == 1
    assert (events[0]["name"], events[0]["units"], events[0]["windows"]) == ("BandIntensity", "counts eV",
                                                                             [[2.0, 2.8]])
    assert RunResult.from_run_dir(run.path).reward.windows == ((2.0, 2.8),)


def test_an_older_record_without_reward_windows_is_read_from_its_config(band_run, tmp_path):
    import shutil

    old = tmp_path / "old"
    shutil.copytree(band_run, old)
    with h5py.File(old / "record.h5", "a", locking=False) as h5:  # as written before @reward_windows existed
        del h5.attrs["reward_windows"]
        h5.attrs["reward_units"] = "spectrum units x eV"
    info = RunResult.from_run_dir(old).reward
    assert (info.name, info.units, info.windows) == ("BandIntensity", "spectrum units x eV", ((1.5, 2.4),))
    node = {"_target_": "rewards.eels.EdgeIntensity", "edge_onset_eV": 284.0, "pre_edge_eV": [234, 279],
            "integration_width_eV": 50.0}
    assert legacy_reward_info(node).windows == ((234.0, 279.0), (284.0, 334.0))
    # a new record's attributes are used as they are, never the config
    new = recorded_reward_info("Mine", "", "[]", [], "eV", node)
    assert (new.name, new.windows) == ("Mine", ())


def test_the_best_spectrum_plot_shades_the_rewards_window(band_run):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from agent.plots import _View

    fig = _View(RunResult.from_run_dir(band_run)).best_spectrum(plt)
    assert fig is not None
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["reward window [1.5, 2.4] eV"]
    spans = [p for p in ax.patches if p.get_label().startswith("reward window")]
    xs = np.asarray(spans[0].get_extents().get_points())  # the shaded band covers the window only
    assert len(spans) == 1 and xs[1, 0] > xs[0, 0]
    plt.close(fig)


def test_a_replay_declares_counts_only_for_a_counts_cube():
    from drivers.replay import ReplayDriver

    rng = np.random.default_rng(0)
    counts = rng.poisson(5.0, (6, 6, 20)).astype(np.uint16)
    image, energy = counts.sum(axis=2).astype(np.float32), 0.5 + 0.01 * np.arange(20)
    caps = ReplayDriver.from_arrays(image, counts, energy, "E", "keV", pixel_size_m=2e-9).capabilities()
    assert caps.intensity_units_of(caps.detectors[-1]) == "counts"
    floats = ReplayDriver.from_arrays(image, counts.astype(np.float32) * 0.1, energy, "E", "keV",
                                      pixel_size_m=2e-9).capabilities()
    assert floats.intensity_units_of(floats.detectors[-1]) == "a.u."  # the file does not say: no claim of counts
