"""Per-particle features (known shapes) and the random-forest particle classifier (emulator seeds
for training, other seeds held out)."""

from __future__ import annotations

import numpy as np
import pytest

from agent.vision import (
    FEATURE_NAMES,
    ParticleClassifier,
    VisionInputError,
    VisionNotFittedError,
    component_kinds,
    find_particles,
    particle_dataset_from_emulator,
    particle_features,
)
from drivers.emulator import Disk, Rod, Triangle

NM = 1e-9
F = {name: i for i, name in enumerate(FEATURE_NAMES)}


@pytest.fixture(scope="module")
def three_shapes():
    """A 100 x 100 px image (1 nm pixels) of a disk, a rod and a triangle, from their SDFs."""
    parts = [Disk((25 * NM, 25 * NM), 0.0, 20 * NM, diameter_m=24 * NM),
             Rod((25 * NM, 75 * NM), 0.6, 12 * NM, length_m=40 * NM, width_m=12 * NM),
             Triangle((75 * NM, 50 * NM), 0.3, 20 * NM, side_m=40 * NM, corner_radius_m=2 * NM)]
    yy, xx = np.mgrid[0:100, 0:100] + 0.5
    pts = np.stack([yy.ravel() * NM, xx.ravel() * NM], 1)
    sdf = np.stack([p.sdf(pts) for p in parts])
    instance = np.where(sdf.min(0) < 0, sdf.argmin(0) + 1, 0).reshape(100, 100)
    mask = instance > 0
    image = 40.0 * mask + np.random.default_rng(0).poisson(2.0, (100, 100))
    feats, regions, labels = particle_features(image, mask)
    order = [int(np.argmin([np.hypot(r.centroid_yx_px[0] + 0.5 - p.centre_yx_m[0] / NM,
                                     r.centroid_yx_px[1] + 0.5 - p.centre_yx_m[1] / NM)
                            for r in regions])) for p in parts]
    return feats[order], [regions[i] for i in order], labels, instance


def test_shape_features_of_known_particles(three_shapes):
    feats, regions, labels, _ = three_shapes
    disk, rod, tri = feats
    assert feats.shape == (3, len(FEATURE_NAMES))
    assert disk[F["area_px"]] == pytest.approx(np.pi * 12 ** 2, rel=0.03)
    assert rod[F["area_px"]] == pytest.approx(28 * 12 + np.pi * 6 ** 2, rel=0.03)
    assert tri[F["area_px"]] == pytest.approx(np.sqrt(3) / 4 * 40 ** 2, rel=0.03)
    assert disk[F["perimeter_px"]] == pytest.approx(2 * np.pi * 12, rel=0.05)
    assert disk[F["circularity"]] == pytest.approx(1.0, abs=0.06)
    assert disk[F["circularity"]] > tri[F["circularity"]] and disk[F["circularity"]] > rod[
        F["circularity"]]
    assert disk[F["eccentricity"]] < 0.2 and tri[F["eccentricity"]] < 0.3
    assert rod[F["eccentricity"]] > 0.9 and rod[F["aspect_ratio"]] > 2.5
    assert all(f[F["solidity"]] > 0.85 for f in feats)  # all convex (pixel corners' hull)
    # Fourier / edge symmetry: rods are 2-fold, triangles 6-fold
    assert rod[F["fft_angular_2fold"]] > 10 * max(disk[F["fft_angular_2fold"]],
                                                   tri[F["fft_angular_2fold"]])
    assert tri[F["fft_angular_6fold"]] > 10 * disk[F["fft_angular_6fold"]]
    assert tri[F["edge_orient_6fold"]] > 3 * disk[F["edge_orient_6fold"]]
    assert rod[F["edge_orient_2fold"]] > 10 * disk[F["edge_orient_2fold"]]
    for f in feats:
        radial = f[[F[f"fft_radial_{k}"] for k in range(4)]]
        assert radial.sum() == pytest.approx(1.0, abs=1e-9) and radial[0] > 0.5
    assert all(abs(f[F["intensity_mean"]] - 1.0) < 0.15 for f in feats)  # robustly rescaled


def test_components_and_their_true_kinds(three_shapes):
    _, regions, labels, instance = three_shapes
    kinds = component_kinds(labels, regions, instance, ("disk", "rod", "triangle"))
    assert kinds == ["disk", "rod", "triangle"]
    speck = np.zeros((20, 20), bool)
    speck[2, 2] = True
    speck[10:14, 10:14] = True
    speck[14, 14] = True  # diagonal neighbour: same component under 8-connectivity
    lab, regs = find_particles(speck, min_area_px=4)
    assert len(regs) == 1 and regs[0].area_px == 17 and lab[2, 2] == 0
    assert regs[0].bbox == (10, 10, 15, 15)
    assert component_kinds(lab, regs, np.zeros((20, 20), int), ("disk",)) == ["background"]
    with pytest.raises(VisionInputError, match="2-D"):
        find_particles(np.zeros(5, bool))


def test_random_forest_on_held_out_specimens():
    x_train, k_train = particle_dataset_from_emulator(range(100, 108))
    x_test, k_test = particle_dataset_from_emulator(range(300, 304))
    assert set(k_train) == {"disk", "rod", "triangle"} and len(k_train) == 8 * 12
    clf = ParticleClassifier(n_estimators=100).fit(x_train, k_train)
    res = clf.evaluate(x_test, k_test)
    assert res["n"] == 48 and res["accuracy"] >= 0.9
    assert all(r >= 0.8 for r in res["recall"].values())
    assert clf.classes == ["disk", "rod", "triangle"]
    proba = clf.predict_proba(x_test)
    assert proba.shape == (48, 3) and np.allclose(proba.sum(1), 1.0)
    imp = clf.feature_importances()
    assert set(imp) == set(FEATURE_NAMES) and sum(imp.values()) == pytest.approx(1.0)


def test_classify_image_and_errors(three_shapes):
    feats, _, _, instance = three_shapes
    clf = ParticleClassifier(n_estimators=20)
    with pytest.raises(VisionNotFittedError):
        clf.predict(feats)
    with pytest.raises(VisionInputError, match="two classes"):
        clf.fit(feats, ["rod"] * 3)
    with pytest.raises(VisionInputError, match="one class per particle"):
        clf.fit(feats, ["rod", "disk"])
    clf.fit(np.concatenate([feats] * 4), ["disk", "rod", "triangle"] * 4)
    regions, kinds = clf.classify(instance * 10.0, instance > 0)
    assert len(regions) == 3 and sorted(kinds.tolist()) == ["disk", "rod", "triangle"]
    with pytest.raises(VisionInputError, match=str(len(FEATURE_NAMES))):
        clf.predict(np.zeros((2, 3)))
