"""The emulator's sample drift is what the drift guardian measures."""

import numpy as np
import pytest

from agent.guardians import register_shift
from drivers.emulator import PlasmonEmulator


def test_drift_moves_the_overview_by_velocity_times_time():
    emu = PlasmonEmulator(seed=2, drift_m_per_s=(0.0, 2e-9))
    first = emu.acquire_overview(shape_px=(128, 128))
    emu.set_probe(first.frame_id, yx_frac=(0.5, 0.5))
    for _ in range(40):
        emu.acquire_spectrum(0.1)
    second = emu.acquire_overview(shape_px=(128, 128))
    pixel_m = first.axes[1].scale
    dy, dx = register_shift(first.data, second.data)
    expected = 2e-9 * (second.metadata["start_time_s"] - first.metadata["start_time_s"]) / pixel_m
    assert expected > 2.0
    assert dx == pytest.approx(expected, abs=0.5) and abs(dy) < 0.5


def test_no_drift_by_default_keeps_spectra_identical():
    emu = PlasmonEmulator(seed=2)
    ov = emu.acquire_overview(shape_px=(64, 64))
    emu.set_probe(ov.frame_id, yx_frac=(0.3, 0.6))
    a = emu.acquire_spectrum(0.05).data
    for _ in range(10):
        emu.acquire_spectrum(0.05)
    assert np.array_equal(emu.acquire_spectrum(0.05).data, a)
