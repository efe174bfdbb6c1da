"""QualityGate: a CNN on survey patches with an F(1/3)-optimal threshold.

Fast tests use a synthetic problem with a known answer (a disc just beside the patch centre is
positive; no disc, a disc over the centre or a far disc are negative). The emulator test trains on
some specimens and scores precision / recall on an unseen one.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agent.vision import (
    QualityGate,
    VisionConfigError,
    VisionInputError,
    VisionNotFittedError,
    VisionStateError,
    emulator_view,
    train_gate_on_emulator,
)
from policies import CandidateGate

torch.set_num_threads(1)

W = 12


def synthetic(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, 12, 12) float32 patches and labels: positive = a disc edge 1-2 px beside the centre."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:W, 0:W] - (W - 1) / 2.0
    patches = np.empty((n, W, W), np.float32)
    labels = rng.random(n) < 0.3
    for i in range(n):
        ang = rng.uniform(0, 2 * np.pi)
        if labels[i]:
            dist = rng.uniform(5.0, 6.0)  # radius 4: the edge lies 1-2 px from the centre
        else:
            dist = rng.choice([0.0, 9.0, 99.0])  # over the centre, far, absent
        cy, cx = dist * np.sin(ang), dist * np.cos(ang)
        disc = ((yy - cy) ** 2 + (xx - cx) ** 2 <= 16.0).astype(np.float32)
        patches[i] = 2.0 * disc + 0.3 * rng.standard_normal((W, W))
    return patches, labels


@pytest.fixture(scope="module")
def trained():
    x, y = synthetic(1200, 0)
    gate = QualityGate(channels=4, epochs=6, batch_size=64, seed=1)
    return gate.fit(x, y)


def test_fit_learns_the_rule_and_picks_a_precise_threshold(trained):
    xt, yt = synthetic(600, 1)
    res = trained.evaluate(xt, yt)
    assert 0.0 < trained.threshold < 1.0
    assert res["precision"] >= 0.9 and res["recall"] >= 0.7
    assert res["auroc"] >= 0.97
    assert res["threshold"] == trained.threshold
    assert res["n"] == 600 and res["n_positive"] == yt.sum()
    assert trained.val_metrics["f_beta"] > 0.85  # the automatic stratified hold-out was used
    p = trained.predict_proba(xt)
    assert p.shape == (600,) and p.dtype == np.float64 and np.all((p >= 0) & (p <= 1))
    assert np.array_equal(trained.predict(xt), p >= trained.threshold)
    assert trained.predict(xt, threshold=1.0).sum() <= trained.predict(xt, threshold=0.0).sum()
    assert trained.predict_proba(xt[0]).shape == (1,)  # one (w, w) patch


def test_predictions_are_rotation_invariant_with_tta(trained):
    xt, _ = synthetic(40, 2)
    p = trained.predict_proba(xt)
    p_rot = trained.predict_proba(np.rot90(xt, 1, axes=(1, 2)).copy())
    assert np.allclose(p, p_rot, atol=1e-5)


def test_state_round_trip_and_file(trained, tmp_path):
    xt, _ = synthetic(50, 3)
    path = tmp_path / "gate.pt"
    trained.save(path)
    loaded = QualityGate(channels=4, weights_path=str(path))
    assert loaded.threshold == trained.threshold and loaded.window == W
    assert np.allclose(loaded.predict_proba(xt), trained.predict_proba(xt))
    with pytest.raises(VisionStateError, match="channels=4"):
        QualityGate(channels=8).load(path)
    with pytest.raises(VisionConfigError, match="does not exist"):
        QualityGate(weights_path=str(tmp_path / "missing.pt"))
    fixed = QualityGate(channels=4, threshold=0.9).load(path)
    assert fixed.threshold == 0.9  # a fixed threshold wins over the saved one


def test_gate_protocol_over_candidates(trained):
    """Declared as a policies.CandidateGate: scores over the candidates, mask = scores >= threshold,
    and its validation figures for the run's record."""
    gate = trained
    cands = emulator_view(5, shape_px=64, window_px=W, stride_px=8, margin_px=8).candidates
    assert isinstance(gate, CandidateGate) and gate.has_scores and gate.threshold is not None
    scores = gate.gate_scores(cands)
    assert scores.shape == (cands.n,) and np.all((scores >= 0) & (scores <= 1))
    assert np.array_equal(gate.gate_mask(cands), scores >= gate.threshold)
    info = gate.describe()
    assert info["gate"] == "QualityGate" and info["beta"] == pytest.approx(gate.beta)
    assert info["validation"]["precision"] == pytest.approx(gate.val_metrics["precision"])
    assert info["train_time_s"] > 0
    with pytest.raises(VisionInputError, match="CandidateSet"):
        gate.gate_mask(cands.patches)


def test_benchmark_reports_single_and_batch_times(trained):
    b = trained.benchmark_inference(n_repeats=20, batch_n=256)
    assert 0 < b["single_median_s"] <= b["single_p90_s"]
    assert b["batch_s"] > 0 and b["batch_per_patch_s"] == pytest.approx(b["batch_s"] / 256)
    assert b["single_median_s"] < 0.5


def test_errors_name_the_field():
    gate = QualityGate(channels=2, epochs=1)
    with pytest.raises(VisionNotFittedError, match="fit"):
        gate.predict_proba(np.zeros((2, W, W), np.float32))
    x, y = synthetic(60, 4)
    with pytest.raises(VisionInputError, match="positives and negatives"):
        gate.fit(x, np.zeros(60, bool), x, y)
    with pytest.raises(VisionInputError, match="labels"):
        gate.fit(x, y[:10])
    with pytest.raises(VisionInputError, match="both"):
        gate.fit(x, y, val_patches=x)
    with pytest.raises(VisionConfigError, match="epochs"):
        QualityGate(epochs=0)
    with pytest.raises(VisionConfigError, match="threshold"):
        QualityGate(threshold=1.5)
    gate.fit(x, y)
    with pytest.raises(VisionInputError, match="window_px=12"):
        gate.predict_proba(np.zeros((2, 16, 16), np.float32))
    with pytest.raises(VisionInputError, match="NaN"):
        gate.predict_proba(np.full((1, W, W), np.nan, np.float32))


@pytest.mark.slow
def test_emulator_gate_on_an_unseen_specimen():
    """Train on three emulator specimens, choose the threshold on a fourth, score a fifth."""
    gate = train_gate_on_emulator(QualityGate(channels=8, epochs=4), train_seeds=(100, 101, 102),
                                  val_seeds=(200,))
    view = emulator_view(300)
    res = gate.evaluate(view.candidates.patches, view.labels("hotspot"))
    assert res["auroc"] > 0.95
    assert res["precision"] >= 0.6 and res["recall"] >= 0.25
    assert res["f_beta"] >= 0.55
    mask = gate.gate_mask(view.candidates)
    assert mask.shape == (view.candidates.n,) and 0 < mask.sum() < 0.1 * view.candidates.n
