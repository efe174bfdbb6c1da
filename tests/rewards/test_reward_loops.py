"""Loop rewards against a synthetic tanh hysteresis loop with known coercive biases, area, imprint."""

from __future__ import annotations

import numpy as np
import pytest

from drivers import Axis
from rewards import (
    CoerciveBias,
    EmptySpectrum,
    Imprint,
    InvalidRewardConfig,
    LoopArea,
    LoopHeight,
    RewardError,
    WrongAxis,
    despike,
)
from rewards.loops import coercive_biases

V_MAX, V_PLUS, V_MINUS, WIDTH = 8.0, 2.0, -1.0, 0.4


def triangle(step_V: float) -> np.ndarray:
    """Bias in sweep order: 0 -> +V_MAX -> -V_MAX -> 0 (last 0 V sample dropped, as recorded)."""
    n = int(round(V_MAX / step_V))
    up1 = np.linspace(0.0, V_MAX, n + 1)
    down = np.linspace(V_MAX, -V_MAX, 2 * n + 1)[1:]
    up2 = np.linspace(-V_MAX, 0.0, n + 1)[1:-1]
    return np.concatenate([up1, down, up2])


def loop(bias: np.ndarray) -> np.ndarray:
    """Up branch switches at V_PLUS, down branch at V_MINUS (tanh of width WIDTH)."""
    rising = np.r_[True, np.diff(bias) > 0]
    return np.where(rising, np.tanh((bias - V_PLUS) / WIDTH), np.tanh((bias - V_MINUS) / WIDTH))


def lncosh(u: float) -> float:
    return abs(u) + np.log1p(np.exp(-2 * abs(u))) - np.log(2.0)


AREA = WIDTH * (lncosh((V_MAX - V_MINUS) / WIDTH) - lncosh((-V_MAX - V_MINUS) / WIDTH)) - WIDTH * (
    lncosh((V_MAX - V_PLUS) / WIDTH) - lncosh((-V_MAX - V_PLUS) / WIDTH)
)
FINE = triangle(0.005)
AXIS = Axis("bias", "V", FINE)
RESPONSE = loop(FINE)


def test_synthetic_loop_is_what_the_tests_assume() -> None:
    assert FINE[0] == 0.0 and FINE.max() == V_MAX and FINE.min() == -V_MAX
    assert AREA == pytest.approx(2 * (V_PLUS - V_MINUS), rel=1e-6)  # saturated tanh loop


def test_loop_area_matches_the_analytic_area() -> None:
    assert LoopArea(despike=False)(RESPONSE, AXIS) == pytest.approx(AREA, rel=1e-5)
    # the traversal sense does not matter (|area|)
    assert LoopArea(despike=False)(RESPONSE[::-1], Axis("bias", "V", FINE[::-1])) == pytest.approx(AREA, rel=1e-5)


def test_coercive_biases_and_imprint() -> None:
    assert CoerciveBias("positive", despike=False)(RESPONSE, AXIS) == pytest.approx(V_PLUS, abs=1e-6)
    assert CoerciveBias("negative", despike=False)(RESPONSE, AXIS) == pytest.approx(V_MINUS, abs=1e-6)
    assert CoerciveBias("width", despike=False)(RESPONSE, AXIS) == pytest.approx(V_PLUS - V_MINUS, abs=1e-6)
    assert Imprint(despike=False)(RESPONSE, AXIS) == pytest.approx(0.5 * (V_PLUS + V_MINUS), abs=1e-6)


def test_coarse_recorded_style_sweep_still_close() -> None:
    bias = triangle(0.5)  # 64 steps, like the recorded BEPS loops
    assert bias.size == 64
    r, axis = loop(bias), Axis("bias", "V", bias)
    assert Imprint()(r, axis) == pytest.approx(0.5, abs=0.05)
    assert CoerciveBias("width")(r, axis) == pytest.approx(3.0, abs=0.1)
    assert LoopArea()(r, axis) == pytest.approx(AREA, rel=0.05)


def test_loop_height_full_and_at_zero_bias() -> None:
    assert LoopHeight(despike=False)(RESPONSE, AXIS) == pytest.approx(
        np.tanh((V_MAX - V_MINUS) / WIDTH) - np.tanh((-V_MAX - V_PLUS) / WIDTH), rel=1e-12
    )
    remanent = np.tanh((0 - V_MINUS) / WIDTH) - np.tanh((0 - V_PLUS) / WIDTH)
    assert LoopHeight(at_zero_bias=True, despike=False)(RESPONSE, AXIS) == pytest.approx(remanent, rel=1e-9)


def test_despike_removes_a_spike_that_would_corrupt_every_reward() -> None:
    spiky = RESPONSE.copy()
    spiky[1200] += 50.0  # far larger than the loop, as in the recorded data
    spiky[2100] -= 30.0
    assert LoopArea(despike=False)(spiky, AXIS) != pytest.approx(AREA, rel=1e-3)
    assert LoopHeight(despike=False)(spiky, AXIS) > 40.0
    assert LoopArea()(spiky, AXIS) == pytest.approx(AREA, rel=1e-5)
    assert LoopHeight()(spiky, AXIS) == pytest.approx(2.0, abs=1e-3)
    assert Imprint()(spiky, AXIS) == pytest.approx(0.5, abs=1e-6)
    cleaned = despike(spiky)
    np.testing.assert_array_equal(np.flatnonzero(cleaned != spiky), [1200, 2100])
    assert abs(cleaned[1200] - RESPONSE[1200]) < 1e-3


def test_despike_leaves_a_clean_loop_alone_and_handles_spike_pairs() -> None:
    np.testing.assert_array_equal(despike(RESPONSE), RESPONSE)
    curve = np.linspace(0.0, 1.0, 20)
    curve[[6, 8]] = [-40.0, -60.0]  # spike, good, spike: the middle one must stay good
    out = despike(curve)
    np.testing.assert_allclose(out, np.linspace(0.0, 1.0, 20), atol=1.0 / 19 + 1e-12)
    assert out[7] == pytest.approx(7 / 19)
    pair = np.linspace(0.0, 1.0, 20)
    pair[[9, 10]] = 30.0  # two adjacent spikes: k=3 cannot, k=5 can
    assert despike(pair, k=3).max() > 1.0
    assert despike(pair, k=5).max() <= 1.0


def test_despike_works_along_the_last_axis_of_a_cube() -> None:
    cube = np.tile(RESPONSE, (2, 3, 1))
    cube[1, 2, 700] = 99.0
    out = despike(cube)
    assert out.shape == cube.shape
    np.testing.assert_array_equal(out[0, 0], RESPONSE)
    assert out[1, 2, 700] == pytest.approx(RESPONSE[700], abs=1e-3)


def test_loop_error_paths() -> None:
    flat = np.zeros(FINE.size)
    with pytest.raises(RewardError, match="flat"):
        CoerciveBias()(flat, AXIS)
    half = FINE[: FINE.size // 2]  # 0 -> 8 -> 0: switches up, never back down
    with pytest.raises(RewardError, match="down"):
        coercive_biases(half, np.where(np.r_[True, np.diff(half) > 0], np.tanh((half - 2) / 0.4), 1.0))
    positive = np.abs(FINE) + 1.0  # never reaches 0 V
    with pytest.raises(RewardError, match="0 V"):
        LoopHeight(at_zero_bias=True)(RESPONSE, Axis("bias", "V", positive))
    with pytest.raises(WrongAxis, match="expects 'V'"):
        LoopArea()(RESPONSE, Axis("bias", "mV", FINE * 1000))
    millivolts = Axis("bias", "mV", FINE * 1000)
    assert LoopArea(units="mV", despike=False)(RESPONSE, millivolts) == pytest.approx(1000 * AREA, rel=1e-5)
    with pytest.raises(WrongAxis, match="at least 4"):
        LoopArea()(np.ones(3), Axis("bias", "V", np.array([0.0, 1.0, 0.0])))
    with pytest.raises(WrongAxis, match="k=5 needs at least 5 bias steps"):
        LoopArea(k=5)(np.array([0.0, 1.0, 0.0, -1.0]), Axis("bias", "V", np.array([0.0, 1.0, 0.0, -1.0])))
    with pytest.raises(WrongAxis, match="constant"):
        LoopArea()(np.arange(5.0), Axis("bias", "V", np.zeros(5)))
    with pytest.raises(WrongAxis, match="values but the spectrum has"):
        LoopArea()(RESPONSE[:-1], AXIS)
    with pytest.raises(EmptySpectrum):
        LoopArea()(np.full(FINE.size, np.nan), AXIS)
    with pytest.raises(EmptySpectrum):
        Imprint()(np.array([]), Axis("bias", "V", np.array([])))


@pytest.mark.parametrize(
    "build, words",
    [
        (lambda: CoerciveBias("both"), "which=.* use one of"),
        (lambda: LoopArea(k=4), "odd integer"),
        (lambda: LoopArea(threshold=0), "threshold"),
        (lambda: LoopArea(despike="yes"), "despike must be true or false"),
        (lambda: LoopHeight(at_zero_bias=1), "at_zero_bias"),
        (lambda: despike(np.ones(2)), "at least k=3"),
    ],
)
def test_bad_configuration(build, words: str) -> None:
    with pytest.raises(InvalidRewardConfig, match=words):
        build()


def test_reprs() -> None:
    assert repr(LoopArea()) == "LoopArea(units='V', despike=True, k=3, threshold=5.0)"
    assert repr(CoerciveBias("width", k=5)) == (
        "CoerciveBias(which='width', units='V', despike=True, k=5, threshold=5.0)"
    )
    assert repr(LoopHeight(True)).startswith("LoopHeight(at_zero_bias=True,")
