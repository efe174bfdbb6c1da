"""Label-free structure descriptors on synthetic overviews whose geometry is known."""

from __future__ import annotations

import numpy as np
import pytest

from agent.structure import FEATURE_NAMES, StructureError, otsu_threshold, segment, structure_features

PIX_M = (1e-9, 1e-9)  # 1 nm pixels: distances in nm equal pixels


def _scene(seed: int = 0) -> np.ndarray:
    """A 128 px image: a disk of radius 12 at (40, 40), a 50 x 8 rod at (95, 70), Poisson noise."""
    yy, xx = np.mgrid[0:128, 0:128]
    img = np.zeros((128, 128))
    img[(yy - 40) ** 2 + (xx - 40) ** 2 <= 12**2] = 40.0
    img[(np.abs(yy - 95) <= 4) & (np.abs(xx - 70) <= 25)] = 40.0
    return np.random.default_rng(seed).poisson(img + 1.0).astype(np.float64)


def _at(points: list[tuple[int, int]]) -> np.ndarray:
    return np.array(points, dtype=np.int64)


def test_otsu_splits_a_bimodal_histogram_between_its_modes():
    v = np.concatenate([np.full(500, 1.0), np.full(300, 9.0)]) + np.random.default_rng(0).normal(0, 0.3, 800)
    assert 2.0 < otsu_threshold(v) < 8.0


def test_segmentation_finds_the_two_particles():
    mask, labels, n = segment(_scene(), smooth_px=1.0, min_area_px=20)
    assert n == 2
    assert mask[40, 40] and mask[95, 70] and not mask[5, 5]


def test_descriptors_follow_the_geometry():
    pts = _at([(40, 40), (40, 60), (95, 70), (95, 96), (5, 5), (102, 98), (103, 70)])
    f = structure_features(_scene(), pts, PIX_M)
    assert f.values.shape == (7, len(FEATURE_NAMES)) and np.all(np.isfinite(f.values))
    d = f.column("signed_distance_nm")
    assert d[0] < -8                       # the disk's centre is ~12 nm inside its outline
    assert 6 < d[1] < 10                   # 8 nm outside the disk
    assert d[3] > 0 and d[4] > 30          # beyond the rod's tip; far from everything
    diam = f.column("region_diameter_nm")
    assert 20 < diam[0] < 28               # equivalent diameter of a radius-12 disk
    elong = f.column("region_elongation")
    assert elong[0] < 1.3 and elong[2] > 3  # round disk, long rod
    along = f.column("along_major")
    assert along[2] < 0.2 and along[3] > 0.9   # centre of the rod vs beyond its tip
    # the outline is more convex (less material around it) at the rod's corner than along its side
    convexity = f.column("outline_convexity")
    assert convexity[5] < convexity[6] - 0.1


def test_lengths_are_in_nanometres_whatever_the_pixel_size():
    pts = _at([(40, 60)])
    fine = structure_features(_scene(), pts, (1e-9, 1e-9)).column("signed_distance_nm")[0]
    coarse = structure_features(_scene(), pts, (2e-9, 2e-9)).column("signed_distance_nm")[0]
    assert coarse == pytest.approx(2 * fine, rel=0.15)  # one pixel of outline discretisation


def test_an_uncalibrated_overview_uses_pixels_and_a_blank_one_gives_no_regions():
    pts = _at([(40, 60)])
    f = structure_features(_scene(), pts, (float("nan"), float("nan")))
    assert 6 < f.column("signed_distance_nm")[0] < 10
    blank = structure_features(np.ones((64, 64)), _at([(10, 10)]), PIX_M)
    assert blank.n_regions == 0 and np.all(np.isfinite(blank.values))


def test_bad_overviews_are_refused():
    with pytest.raises(StructureError, match="finite 2-D"):
        structure_features(np.full((8, 8), np.nan), _at([(1, 1)]), PIX_M)
    with pytest.raises(StructureError, match="yx_px"):
        structure_features(np.ones((8, 8)), np.zeros((3, 3), dtype=int), PIX_M)
