"""Rewards on the recorded data sets in ../shared/data (skipped when absent).

The folder is ``<repo>/../shared/data``; set ``AUTOSCOPE_DATA_DIR`` to point elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from drivers import Axis
from rewards import ContactPotential, Imprint, LoopArea, LoopHeight, RewardError, despike

DATA = Path(os.environ.get("AUTOSCOPE_DATA_DIR", Path(__file__).resolve().parents[2] / ".." / "shared" / "data"))


def _load(name: str) -> dict[str, np.ndarray]:
    path = DATA / name
    if not path.is_file():
        pytest.skip(f"recorded data {path} not present")
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def _axis(d: dict[str, np.ndarray]) -> Axis:
    return Axis(str(d["axis_name"]), str(d["axis_units"]), d["axis"])


def test_loop_area_on_recorded_beps_pixels() -> None:
    d = _load("dtmicroscope_pto_beps_50x50.npz")
    axis = _axis(d)
    assert axis.units == "V" and d["cube"].shape[-1] == axis.size
    area = LoopArea()
    pixels = [(10, 20), (25, 25), (40, 7), (3, 45), (33, 12)]
    values = np.array([area(d["cube"][p], axis) for p in pixels])
    assert np.isfinite(values).all() and (values > 0).all()
    # the recorded spikes dwarf the loops: despiking must change the area of a spiky pixel
    assert LoopArea(despike=False)(d["cube"][25, 25], axis) > 1.5 * area(d["cube"][25, 25], axis)
    # loop height (max - min) after despiking is of the loop's own size, not a spike's
    assert LoopHeight()(d["cube"][25, 25], axis) < 0.1 * LoopHeight(despike=False)(d["cube"][25, 25], axis)


def test_despike_on_the_whole_beps_cube_and_imprint_spread() -> None:
    d = _load("dtmicroscope_pto_beps_50x50.npz")
    cube = d["cube"]
    cleaned = despike(cube)
    replaced = float((cleaned != cube).mean())
    assert 0.0 < replaced < 0.1  # a few points per loop, never the bulk
    axis, imprint, ok = _axis(d), Imprint(despike=False), []
    for i in range(0, 50, 5):
        for j in range(0, 50, 5):
            try:
                ok.append(imprint(cleaned[i, j], axis))
            except RewardError:
                pass  # a pixel whose loop does not switch is a failed measurement, by design
    assert len(ok) >= 50
    assert np.all(np.abs(ok) < 8.5)  # inside the sweep


def test_fe_fraction_of_the_summed_idp_spectrum() -> None:
    pytest.importorskip("exspy.material")
    from rewards import ElementFraction

    d = _load("ncem_idp_eds_0deg_bin4.npz")
    axis = _axis(d)
    assert axis.units == "keV"
    total = d["cube"].sum(axis=(0, 1))
    reward = ElementFraction(["Fe"], ["Fe", "Mg", "Si"])
    fraction = reward(total, axis)
    assert 0.0 < fraction < 1.0
    counts = reward.net_counts(total, axis)
    assert all(v > 1000 for v in counts.values())  # all three lines stand clear of the background


def test_contact_potential_on_recorded_kpfm_pixels() -> None:
    d = _load("nanonis_kpfm_grid_20x20.npz")
    axis = _axis(d)
    reward = ContactPotential()
    values = np.array([reward(d["cube"][i, j], axis) for i in range(0, 20, 4) for j in range(0, 20, 4)])
    assert np.isfinite(values).all()
    assert (values > axis.values.min()).all() and (values < axis.values.max()).all()
