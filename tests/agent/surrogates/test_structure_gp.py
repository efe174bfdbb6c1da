"""The structure-aware GP: inputs from the overview, view selection by leave-one-out, persistence."""

from __future__ import annotations

import numpy as np
import pytest

from agent.candidates import make_candidates
from agent.structure import StructurePropertyModel, TrainingSet, structure_features
from agent.surrogates import StructureGP, Surrogate, SurrogateConfigError, SurrogateInputError, SurrogateStateError
from drivers.frames import Axis, Frame


def _specimen(seed: int):
    """A 128 px, 1 nm/px overview with 6 random disks; the target is a near-field signal peaking
    2 nm outside each outline and decaying over 5 nm (what the image shows, not where it is)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:128, 0:128]
    img = np.ones((128, 128))
    for _ in range(6):
        cy, cx, r = rng.uniform(15, 113), rng.uniform(15, 113), rng.uniform(5, 12)
        img[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = 30.0
    img = rng.poisson(img).astype(np.float64)
    ax = (Axis.uniform("y", "m", 0.0, 1e-9, 128), Axis.uniform("x", "m", 0.0, 1e-9, 128))
    cand = make_candidates(Frame(img, ax, f"ov-{seed}", {}), window_px=8, stride_px=4, margin_px=2)
    d = structure_features(cand.image, cand.yx_px, cand.pixel_m).column("signed_distance_nm")
    target = np.where(d > 0, np.exp(-np.abs(d - 2.0) / 5.0), 0.1)
    return cand, target


def _train_rows(n: int, total: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).choice(total, n, replace=False)


def test_inputs_describe_every_candidate_in_unit_range_and_are_cached():
    cand, _ = _specimen(0)
    s = StructureGP()
    X = s.inputs(cand)
    assert X.shape == (cand.n, len(s.input_names)) and "pretrained" not in s.input_names
    assert X.min() >= 0.0 and X.max() <= 1.0
    assert s.inputs(cand) is X
    assert s.views == ("coords", "structure")  # no file: the pretrained views drop out
    assert isinstance(s, Surrogate)


def test_a_target_set_by_the_structure_selects_the_structure_view_and_predicts_it():
    cand, y = _specimen(1)
    s = StructureGP(seed=0)
    X = s.inputs(cand)
    idx = _train_rows(60, cand.n)
    s.fit(X[idx], y[idx])
    assert s.view == "structure"
    summary = s.fit_summary()
    assert summary["model"] == "structure"
    assert summary["views_loo_lpd"]["structure"] > summary["views_loo_lpd"]["coords"]
    post = s.posterior(X)
    r2 = 1 - np.sum((post.mean - y) ** 2) / np.sum((y - y.mean()) ** 2)
    assert r2 > 0.6
    assert s.health(X).ok


def test_a_pretrained_model_from_other_specimens_is_used_on_a_new_one(tmp_path):
    sets = []
    for seed in (10, 11, 12):
        cand, y = _specimen(seed)
        sets.append(TrainingSet(structure_features(cand.image, cand.yx_px, cand.pixel_m).values, y, f"s{seed}"))
    path = StructurePropertyModel().fit(sets, epochs=15, progress=False).save(tmp_path / "m.pt")
    cand, y = _specimen(2)
    s = StructureGP(pretrained=str(path), views=["coords", "pretrained"])
    X = s.inputs(cand)
    assert s.input_names[-1] == "pretrained"
    idx = _train_rows(15, cand.n, seed=3)
    s.fit(X[idx], y[idx])
    assert s.view == "pretrained"
    post = s.posterior(X)
    assert 1 - np.sum((post.mean - y) ** 2) / np.sum((y - y.mean()) ** 2) > 0.6


def test_state_dict_round_trip_decides_as_before():
    cand, y = _specimen(3)
    a = StructureGP(refit_every=5)
    X = a.inputs(cand)
    idx = _train_rows(40, cand.n)
    for n in (20, 21, 22):
        a.fit(X[idx[:n]], y[idx[:n]])
    b = StructureGP(refit_every=5)
    b.inputs(cand)
    b.load_state_dict(a.state_dict())
    a.fit(X[idx[:23]], y[idx[:23]])
    b.fit(X[idx[:23]], y[idx[:23]])
    assert a.view == b.view
    np.testing.assert_allclose(a.posterior(X).mean, b.posterior(X).mean, rtol=1e-9)


def test_bad_settings_inputs_and_states_are_refused_by_name():
    with pytest.raises(SurrogateConfigError, match="views"):
        StructureGP(views=["patches"])
    with pytest.raises(SurrogateConfigError, match="pretrained"):
        StructureGP(views=["pretrained"])
    s = StructureGP()
    with pytest.raises(SurrogateInputError, match="inputs\\(candidates\\)"):
        s.fit(np.zeros((3, 4)), np.zeros(3))
    cand, y = _specimen(0)
    X = s.inputs(cand)
    with pytest.raises(SurrogateInputError, match="rows of inputs"):
        s.fit(X[:5, :3], y[:5])
    with pytest.raises(SurrogateStateError, match="not a StructureGP state"):
        s.load_state_dict({"format": "other"})
