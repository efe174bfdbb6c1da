"""rewards.evaluate: the one reward evaluation (call, shape rule, finiteness, typed errors)."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from drivers.frames import Axis
from rewards import (
    BandIntensity,
    EmptySpectrum,
    InvalidRewardConfig,
    InvalidRewardValue,
    RewardError,
    Vector,
    evaluate,
    evaluate_at,
    evaluate_one,
    first_objective,
)

AXIS = Axis("energy_loss", "eV", np.linspace(0.0, 3.0, 31))
SPECTRA = np.arange(4 * 31, dtype=np.float64).reshape(4, 31)


def total(spectrum: np.ndarray, axis: Axis) -> float:
    return float(spectrum.sum())


def test_scalar_reward_gives_n_values_and_vector_reward_gives_n_by_k() -> None:
    scalar = evaluate(total, SPECTRA, AXIS)
    assert scalar.shape == (4,) and scalar.dtype == np.float64
    np.testing.assert_array_equal(scalar, SPECTRA.sum(axis=1))
    one_element = evaluate(lambda s, a: np.array([s[0]]), SPECTRA, AXIS)  # a (1,) value is a scalar
    assert one_element.shape == (4,)
    vector = Vector([BandIntensity(window_eV=[0.0, 1.0]), BandIntensity(window_eV=[1.0, 2.0])])
    values = evaluate(vector, SPECTRA, AXIS)
    assert values.shape == (4, 2)
    np.testing.assert_array_equal(values[2], vector(SPECTRA[2], AXIS))
    np.testing.assert_array_equal(first_objective(values), values[:, 0])
    np.testing.assert_array_equal(first_objective(scalar), scalar)
    assert evaluate(total, [SPECTRA[0], SPECTRA[1]], AXIS).shape == (2,)  # a sequence of spectra
    assert evaluate(total, np.empty((0, 31)), AXIS).shape == (0,)


def test_failed_spectra_are_nan_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    def picky(spectrum: np.ndarray, axis: Axis) -> float:
        if spectrum[0] == 31.0:
            raise EmptySpectrum("no counts")
        if spectrum[0] == 62.0:
            return float("inf")
        return float(spectrum[0])

    with caplog.at_level(logging.WARNING, logger="rewards.evaluate"):
        values = evaluate(picky, SPECTRA, AXIS)
    np.testing.assert_array_equal(np.isnan(values), [False, True, True, False])
    assert values[3] == 93.0
    assert "failed on 2 of 4 spectra" in caplog.text and "EmptySpectrum: no counts" in caplog.text
    vector_fails = evaluate(lambda s, a: np.array([1.0, np.nan]) if s[0] else np.array([1.0, 2.0]), SPECTRA, AXIS)
    assert vector_fails.shape == (4, 2) and np.isnan(vector_fails[1:]).all() and not np.isnan(vector_fails[0]).any()

    def never(spectrum: np.ndarray, axis: Axis) -> float:
        raise RewardError("never")

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="rewards.evaluate"):
        assert np.isnan(evaluate(never, SPECTRA, AXIS)).all()
    assert "failed on every one of 4" in caplog.text


def test_broken_contracts_raise_typed_errors() -> None:
    with pytest.raises(InvalidRewardValue, match=r"shape \(2, 2\)"):
        evaluate(lambda s, a: np.ones((2, 2)), SPECTRA, AXIS)
    with pytest.raises(InvalidRewardValue, match=r"shape \(0,\)"):
        evaluate(lambda s, a: np.zeros(0), SPECTRA, AXIS)
    with pytest.raises(InvalidRewardValue, match="same number of objectives"):
        evaluate(lambda s, a: np.ones(2) if s[0] else 1.0, SPECTRA, AXIS)

    def buggy(spectrum: np.ndarray, axis: Axis) -> float:
        raise KeyError("a bug, not a spectrum the reward cannot score")

    with pytest.raises(KeyError):  # only RewardError means "this spectrum failed"
        evaluate(buggy, SPECTRA, AXIS)


def test_evaluate_one_returns_k_values_or_raises() -> None:
    out = evaluate_one(total, SPECTRA[1], AXIS)
    assert out.shape == (1,) and out[0] == SPECTRA[1].sum()
    assert evaluate_one(lambda s, a: [1.0, 2.0], SPECTRA[1].astype(np.int64), AXIS).tolist() == [1.0, 2.0]
    with pytest.raises(InvalidRewardValue, match=r"reward returned \[nan\]"):
        evaluate_one(lambda s, a: float("nan"), SPECTRA[0], AXIS)
    with pytest.raises(InvalidRewardValue, match="shape"):
        evaluate_one(lambda s, a: np.ones((1, 1, 1)), SPECTRA[0], AXIS)
    with pytest.raises(EmptySpectrum):
        evaluate_one(BandIntensity(window_eV=[1.0, 2.0]), np.full(31, np.nan), AXIS)


def test_evaluate_at_blocks_give_the_same_values_as_one_call() -> None:
    rng = np.random.default_rng(3)
    points = rng.uniform(-1.0, 1.0, size=(37, 2))
    calls: list[int] = []

    def expected_spectra(yx_m: np.ndarray) -> np.ndarray:
        calls.append(len(yx_m))
        return np.exp(-((AXIS.values[None, :] - 1.5 - yx_m[:, :1]) ** 2)) * (2.0 + yx_m[:, 1:])

    whole = evaluate(total, expected_spectra(points), AXIS)
    calls.clear()
    blocked = evaluate_at(total, expected_spectra, AXIS, points, chunk=10)
    assert calls == [10, 10, 10, 7]
    np.testing.assert_array_equal(blocked, whole)
    assert evaluate_at(total, expected_spectra, AXIS, np.empty((0, 2))).shape == (0,)
    with pytest.raises(InvalidRewardConfig, match="chunk"):
        evaluate_at(total, expected_spectra, AXIS, points, chunk=0)
