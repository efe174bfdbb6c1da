"""The GP shell (agent.surrogates.shell) the DKL, the coordinate GP and the gpax backend share:
one ``_require_fitted``, one health check, one versioned state-dict header and check."""

from __future__ import annotations

import numpy as np
import pytest

from agent.surrogates import CoordinateGP, DKLSurrogate, GpaxViDKL, SurrogateNotFittedError, SurrogateStateError
from agent.surrogates.shell import ExactGPShell, GPShell

SHELL_MEMBERS = ("is_fitted", "n_fits", "scaler", "_require_fitted", "_assess", "health", "_check_state",
                 "_state_header")
EXACT_MEMBERS = ("noise_variance", "lengthscale", "_predictor", "_health_over", "loo", "fit_summary", "posterior")


@pytest.mark.parametrize("cls", [DKLSurrogate, CoordinateGP, GpaxViDKL])
def test_the_three_gp_surrogates_inherit_one_shell_and_do_not_redefine_it(cls: type) -> None:
    assert issubclass(cls, GPShell)
    for name in SHELL_MEMBERS:
        assert name not in vars(cls) or (cls is GpaxViDKL and name == "health"), f"{cls.__name__}.{name}"
    if issubclass(cls, ExactGPShell):
        for name in EXACT_MEMBERS:
            assert name not in vars(cls), f"{cls.__name__}.{name}"


@pytest.mark.parametrize("cls, label", [(DKLSurrogate, "DKL surrogate"), (CoordinateGP, "coordinate GP"),
                                        (GpaxViDKL, "gpax viDKL surrogate")])
def test_before_the_first_fit(cls: type, label: str) -> None:
    model = cls()
    assert not model.is_fitted and model.n_fits == 0 and model.fit_summary() == {}
    report = model.health()
    assert not report.ok and report.message == f"{label} not fitted yet"
    with pytest.raises(SurrogateNotFittedError, match=rf"{cls.__name__}\.posterior: call fit"):
        model.posterior(np.zeros((2, 2)))
    state = model.state_dict()
    assert state["format"] == f"autoscope.surrogates.{cls.__name__}/1" and state["fitted"] is False
    clone = cls()
    clone.load_state_dict(state)
    assert not clone.is_fitted


def test_a_state_of_another_model_or_structure_is_refused_by_name() -> None:
    coord = CoordinateGP().state_dict()
    with pytest.raises(SurrogateStateError, match=r"DKLSurrogate\.load_state_dict: not a DKLSurrogate state"):
        DKLSurrogate().load_state_dict(coord)
    with pytest.raises(SurrogateStateError, match=r"not a CoordinateGP state \(format None"):
        CoordinateGP().load_state_dict({"weights": 1})
    rbf = CoordinateGP(kernel="rbf").state_dict()
    with pytest.raises(SurrogateStateError, match=r"\(kernel: saved 'rbf' vs 'matern52'\); construct the surrogate"):
        CoordinateGP().load_state_dict(rbf)


def test_coordinate_gp_through_the_shell_round_trips_its_state() -> None:
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(20, 2))
    y = np.sin(4 * X[:, 0]) + X[:, 1]
    gp = CoordinateGP(seed=0).fit(X[:12], y[:12])
    post = gp.posterior(X)
    assert gp.health(X).ok == (not post.degenerate)
    assert gp.fit_summary()["model"] == "coord_gp"
    clone = CoordinateGP()
    clone.load_state_dict(gp.state_dict())
    again = clone.posterior(X)
    assert np.array_equal(post.mean, again.mean) and np.array_equal(post.std, again.std)
    assert clone.n_fits == gp.n_fits == 1
