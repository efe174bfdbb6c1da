"""Candidate grid: exact index <-> pixel <-> metre mapping, patches at edges, odd/even windows."""

import numpy as np
import pytest

from agent.candidates import CandidateConfigError, make_candidates, normalise_image
from drivers import Axis, Frame


def _frame(ny=20, nx=24, pitch=0.5e-9, data=None):
    if data is None:
        data = np.arange(ny * nx, dtype=np.float64).reshape(ny, nx)
    ay = Axis.uniform("y", "m", -ny / 2 * pitch + pitch / 2, pitch, ny)
    ax = Axis.uniform("x", "m", -nx / 2 * pitch + pitch / 2, pitch, nx)
    return Frame(data, (ay, ax), "ov-1")


def test_grid_counts_and_index_mapping():
    f = _frame()
    c = make_candidates(f, window_px=4, stride_px=3, margin_px=2, normalise="none")
    # y: 2, 5, ..., 17 -> 6 rows; x: 2, 5, ..., 20 -> 7 cols (last must stay < n - margin)
    assert c.grid_shape == (6, 7)
    assert c.n == 42
    i = 3 * 7 + 4
    assert tuple(c.yx_px[i]) == (2 + 3 * 3, 2 + 4 * 3)
    assert c.index_of_pixel((11, 14)) == i
    with pytest.raises(CandidateConfigError):
        c.index_of_pixel((12, 14))  # between grid points
    assert c.as_map(np.arange(c.n))[3, 4] == i


def test_metres_and_fractions_are_pixel_centres():
    f = _frame()
    c = make_candidates(f, window_px=3, stride_px=1, margin_px=0, normalise="none")
    assert np.allclose(c.yx_m[0], [f.axes[0].values[0], f.axes[1].values[0]])
    # pixel 0 centre is half a pixel inside the field; fraction (i + 0.5) / n
    assert np.allclose(c.yx_frac[0], [0.5 / 20, 0.5 / 24])
    assert np.allclose(c.yx_frac[-1], [19.5 / 20, 23.5 / 24])
    # metres from fractions: -fov/2 + frac * fov
    fov = np.array([20, 24]) * 0.5e-9
    assert np.allclose(-fov / 2 + c.yx_frac * fov, c.yx_m)


@pytest.mark.parametrize("window", [3, 4, 5, 16])
def test_patch_content_odd_and_even(window):
    f = _frame(ny=32, nx=32)
    c = make_candidates(f, window_px=window, stride_px=5, margin_px=window // 2 + 1, normalise="none")
    i = 7
    py, px = c.yx_px[i]
    top, left = py - window // 2, px - window // 2
    assert np.array_equal(c.patches[i], f.data[top:top + window, left:left + window])
    # the candidate pixel sits at index window // 2 of its patch
    assert c.patches[i][window // 2, window // 2] == f.data[py, px]


def test_patches_reflect_at_edges():
    f = _frame(ny=10, nx=10)
    c = make_candidates(f, window_px=4, stride_px=9, margin_px=0, normalise="none")
    p = c.patches[0]  # candidate at pixel (0, 0): rows -2..1 reflect to 2, 1, 0, 1
    assert p.shape == (4, 4)
    assert p[2, 2] == f.data[0, 0]
    assert p[0, 2] == f.data[2, 0] and p[1, 2] == f.data[1, 0]
    assert c.patches.dtype == np.float32


def test_bad_settings_name_the_field():
    f = _frame()
    with pytest.raises(CandidateConfigError, match="window_px"):
        make_candidates(f, window_px=0)
    with pytest.raises(CandidateConfigError, match="stride_px"):
        make_candidates(f, stride_px=0)
    with pytest.raises(CandidateConfigError, match="margin_px"):
        make_candidates(f, margin_px=15)
    with pytest.raises(CandidateConfigError, match="normalise"):
        make_candidates(f, normalise="median")


def test_default_grid_is_3249():
    f = _frame(ny=256, nx=256, data=np.random.default_rng(0).random((256, 256)))
    c = make_candidates(f, window_px=16, stride_px=4, margin_px=14)
    assert c.n == 3249 and c.patches.shape == (3249, 16, 16)
    assert abs(float(c.patches.mean())) < 0.1  # z-scored overview


def test_normalise_constant_image_is_zero():
    assert np.all(normalise_image(np.full((4, 4), 3.0)) == 0)
    mm = normalise_image(np.array([[0.0, 2.0]]), "minmax")
    assert np.allclose(mm, [[0.0, 1.0]])
