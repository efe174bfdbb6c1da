"""Dataset facts: split-half reliability of the ground truth and the blocked-CV supervised ceiling."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from benchmarks.bench.ceiling import blocked_folds, ceiling_r2, structure_features
from benchmarks.bench.reliability import (
    UNRELIABLE_OVERLAP,
    binomial_halves,
    channel_halves,
    split_half_reliability,
    top_overlap,
)
from drivers.frames import Axis

DATA = Path(os.environ.get("AUTOSCOPE_DATA_DIR", Path(__file__).resolve().parents[2] / ".." / "shared" / "data"))


def _grid(n: int = 30) -> np.ndarray:
    r, c = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    return np.stack([r.ravel(), c.ravel()], axis=1)


def _sum_reward(spectrum: np.ndarray, axis: Axis) -> float:
    return float(np.sum(spectrum))


def test_binomial_halves_add_up_and_are_reproducible() -> None:
    cube = np.random.default_rng(0).poisson(20.0, size=(8, 9, 30))
    a, b = binomial_halves(cube)
    np.testing.assert_array_equal(a + b, cube)
    assert abs(a.mean() - 10.0) < 0.3 and abs(b.mean() - 10.0) < 0.3
    a2, _ = binomial_halves(cube)
    np.testing.assert_array_equal(a, a2)
    (even, ve), (odd, vo) = channel_halves(cube.astype(float), np.arange(30.0))
    assert even.shape[-1] == odd.shape[-1] == 15 and ve[1] == 2.0 and vo[0] == 1.0


def test_top_overlap_counts_the_shared_top_set() -> None:
    a = np.arange(200.0)
    assert top_overlap(a, a) == 1.0
    b = a.copy()
    b[-1], b[0] = b[0], b[-1]  # one of the two top-1 % members swapped out
    assert top_overlap(a, b) == 0.5
    assert top_overlap(a, -a) == 0.0


def test_split_half_separates_a_strong_signal_from_noise() -> None:
    rng = np.random.default_rng(1)
    n = 30
    yy, xx = np.mgrid[0:n, 0:n]
    hot = 5.0 + 200.0 * np.exp(-((yy - 7) ** 2 + (xx - 20) ** 2) / 8.0)  # one bright, unique spot
    axis = Axis("energy", "eV", np.arange(16.0))
    strong = rng.poisson(np.repeat(hot[..., None], 16, axis=2))
    flat = rng.poisson(np.full((n, n, 16), 5.0))
    identity = lambda c: np.asarray(c, dtype=np.float32)  # noqa: E731
    rel_s, a, b = split_half_reliability(strong, axis, _grid(n), _sum_reward, identity, counts=True)
    assert rel_s.spearman > 0.3 and rel_s.top1_overlap >= 0.6 and not rel_s.unreliable
    assert rel_s.method.startswith("binomial") and a.shape == (n * n,)
    rel_f, _, _ = split_half_reliability(flat, axis, _grid(n), _sum_reward, identity, counts=True)
    assert rel_f.top1_overlap < UNRELIABLE_OVERLAP and rel_f.unreliable and abs(rel_f.spearman) < 0.2
    # float data: even/odd channels, the maps agree on a smooth signal plus white noise
    floats = np.repeat(hot[..., None], 16, axis=2) + rng.normal(0, 1.0, size=(n, n, 16))
    rel_c, _, _ = split_half_reliability(floats, axis, _grid(n), _sum_reward, identity, counts=False)
    assert rel_c.method == "even/odd signal channels" and rel_c.spearman > 0.3 and rel_c.top1_overlap >= 0.6
    noise_only = rng.normal(0, 1.0, size=(n, n, 16))
    rel_n, _, _ = split_half_reliability(noise_only, axis, _grid(n), _sum_reward, identity, counts=False)
    assert rel_n.unreliable


def test_blocked_folds_are_a_latin_square_of_blocks() -> None:
    rows, cols = np.divmod(np.arange(40 * 40), 40)
    folds = blocked_folds(rows, cols, (40, 40))
    assert sorted(np.unique(folds)) == [0, 1, 2, 3] and np.all(np.bincount(folds) == 400)
    blocks = (rows // 10) * 4 + cols // 10
    for b in range(16):  # a block is never split between folds
        assert len(np.unique(folds[blocks == b])) == 1
    for f in range(4):  # each fold holds one block of every block row and block column
        assert sorted(np.unique(rows[folds == f] // 10)) == [0, 1, 2, 3]
        assert sorted(np.unique(cols[folds == f] // 10)) == [0, 1, 2, 3]


def test_ceiling_learns_a_structure_target_and_not_noise() -> None:
    rng = np.random.default_rng(2)
    n = 40
    image = rng.normal(size=(n, n))
    from scipy import ndimage

    image = ndimage.gaussian_filter(image, 2.0)
    yx = _grid(n)
    frac = (yx + 0.5) / n
    patches = np.stack([np.pad(image, 3, mode="reflect")[r:r + 6, c:c + 6] for r, c in yx])
    X, names = structure_features(image, yx, frac, patches)
    assert X.shape == (n * n, 2 + 4 + 2 + 16) and names[:3] == ["y_frac", "x_frac", "blur_s1"]
    folds = blocked_folds(yx[:, 0], yx[:, 1], (n, n))
    y_struct = ndimage.gaussian_filter(image, 2.0)[yx[:, 0], yx[:, 1]]  # a function of the local structure
    good = ceiling_r2(X, y_struct, folds)
    assert good["r2"] > 0.8 and len(good["fold_r2"]) == 4
    noise = ceiling_r2(X, rng.normal(size=n * n), folds)
    assert noise["r2"] < 0.1


def test_dataset_facts_on_recorded_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not (DATA / "nanonis_kpfm_grid_20x20.npz").is_file():
        pytest.skip("recorded data not present")
    from benchmarks.bench.ceiling import main

    monkeypatch.setenv("AUTOSCOPE_DATA_DIR", str(DATA))
    out = tmp_path / "facts.json"
    assert main(["--datasets", "kpfm", "--out", str(out)]) == 0
    facts = json.loads(out.read_text())["datasets"]["kpfm"]
    assert facts["n_candidates"] == 400 and facts["reliability"]["method"] == "even/odd signal channels"
    assert -1.0 <= facts["reliability"]["spearman"] <= 1.0 and 0.0 <= facts["reliability"]["top1_overlap"] <= 1.0
    assert facts["ceiling"]["folds"] == 4 and np.isfinite(facts["ceiling"]["r2"])
