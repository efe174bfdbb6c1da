"""drivers.emulator.labels: position labels, pixel masks and top shares from the exact particle geometry."""

from __future__ import annotations

import numpy as np
import pytest

from drivers.emulator import PlasmonEmulator, Rod, Sample, Triangle
from drivers.emulator.labels import (
    KIND_CODES,
    emulator_masks,
    frame_positions_m,
    label_positions,
    top_labels,
)
from drivers.errors import ConfigurationError, InvalidArgument

NM = 1e-9


@pytest.fixture(scope="module")
def two_particles():
    rod = Rod((0.0, -20 * NM), 0.0, 10 * NM, length_m=40 * NM, width_m=10 * NM)
    tri = Triangle((0.0, 30 * NM), 0.0, 20 * NM, side_m=30 * NM, corner_radius_m=2 * NM)
    return Sample((rod, tri), 100 * NM, 0.0, np.zeros((0, 4)))


def test_rules_on_known_points(two_particles):
    tri = two_particles.particles[1]
    corner_out = tri.hotspots_m(3 * NM)[0]  # 3 nm beyond the rounded corner on +x
    pts = np.array([
        [0.0, 2 * NM],            # 2 nm beyond the rod's +x tip (tip at x = 0)
        [0.0, 10 * NM],           # 10 nm beyond it
        [7 * NM, -20 * NM],       # 2 nm off the rod's long side, at its middle
        [0.0, -20 * NM],          # rod centre (inside)
        corner_out,
        [0.0, 30 * NM],           # triangle centre
        [45 * NM, -45 * NM],      # bare film
    ])
    expect = {
        "hotspot":  [1, 0, 0, 0, 1, 0, 0],
        "rod_tip":  [1, 0, 0, 0, 0, 0, 0],
        "corner":   [0, 0, 0, 0, 1, 0, 0],
        "inside":   [0, 0, 0, 1, 0, 1, 0],
        "edge":     [1, 0, 1, 0, 1, 0, 0],
        "particle": [1, 0, 1, 1, 1, 1, 0],
    }
    for rule, want in expect.items():
        got = label_positions(two_particles, pts, rule, distance_m=5 * NM)
        assert got.tolist() == [bool(v) for v in want], rule
    # a wider distance reaches the point 10 nm beyond the tip
    assert label_positions(two_particles, pts[:2], "rod_tip", distance_m=11 * NM).tolist() == [
        True, True]
    custom = label_positions(two_particles, pts, lambda s, p: p[:, 1] > 0)
    assert custom.tolist() == [True, True, False, False, True, True, False]


def test_label_errors(two_particles):
    with pytest.raises(ConfigurationError, match="rule='tips'"):
        label_positions(two_particles, np.zeros((1, 2)), "tips")
    with pytest.raises(InvalidArgument, match=r"\(n, 2\)"):
        label_positions(two_particles, np.zeros((3,)), "inside")
    with pytest.raises(InvalidArgument, match="PlasmonEmulator"):
        label_positions(object(), np.zeros((1, 2)), "inside")
    with pytest.raises(ConfigurationError, match="distance_m"):
        label_positions(two_particles, np.zeros((1, 2)), "edge", distance_m=0.0)


def test_masks_and_candidate_labels_of_an_overview(two_particles):
    em = PlasmonEmulator.with_sample(two_particles)
    frame = em.acquire_overview(100 * NM, (64, 64), 2e-6)
    masks = emulator_masks(em, frame)
    px_m = 100 * NM / 64
    assert masks.kind.shape == (64, 64) and masks.particle_kinds == ("rod", "triangle")
    # rod centre (0, -20 nm) -> pixel (32, 19); triangle centre (0, 30 nm) -> (32, 51)
    assert masks.kind[32, 19] == KIND_CODES["rod"] and masks.instance[32, 19] == 1
    assert masks.kind[32, 51] == KIND_CODES["triangle"] and masks.instance[32, 51] == 2
    assert masks.kind[5, 5] == 0 and not masks.particles[5, 5]
    rod_area = np.pi * (5 * NM) ** 2 + 10 * NM * 30 * NM
    assert (masks.instance == 1).sum() * px_m ** 2 == pytest.approx(rod_area, rel=0.1)
    labels = label_positions(em, frame_positions_m(frame), "inside").reshape(64, 64)
    assert np.array_equal(labels, masks.particles)  # same geometry at the same pixel centres
    with pytest.raises(InvalidArgument, match="Frame"):
        frame_positions_m(frame.data)


def test_top_labels_mark_the_top_share_of_finite_values():
    t = np.array([1.0, 5.0, np.nan, 3.0, 9.0, 7.0, 2.0, 8.0, 4.0, 6.0, 0.0])
    lab = top_labels(t, 0.2)
    assert lab.tolist() == [False, False, False, False, True, False, False, True, False, False, False]
    with pytest.raises(ConfigurationError, match="top_fraction"):
        top_labels(t, 0.0)
    with pytest.raises(InvalidArgument, match="NaN"):
        top_labels(np.full(4, np.nan), 0.1)


def test_labels_import_nothing_from_the_agent():
    import subprocess
    import sys

    code = ("import sys, drivers.emulator.labels; "
            "bad = [m for m in sys.modules if m == 'agent' or m.startswith('agent.')]; "
            "sys.exit(1 if bad else 0)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
