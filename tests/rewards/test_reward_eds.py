"""ElementFraction against synthetic EDS spectra built from exspy's line energies."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import erf

pytest.importorskip("exspy.material")

from exspy.material import elements  # noqa: E402

from drivers import Axis  # noqa: E402
from rewards import (  # noqa: E402
    ElementFraction,
    EmptySpectrum,
    InvalidRewardConfig,
    WindowOutsideAxis,
    WrongAxis,
)
from rewards.eds import detector_fwhm_keV, xray_line_energy_keV  # noqa: E402

STEP_KEV = 0.01
ENERGY = np.arange(0.1, 10.0, STEP_KEV)
AXIS = Axis("energy", "keV", ENERGY)


def spectrum(counts: dict[str, float], sigma_keV: float | None = None, line: str = "Ka",
             baseline: tuple[float, float] = (20.0, 2.0)) -> np.ndarray:
    """Counts per channel: Gaussian lines of the given total counts on a linear baseline."""
    y = baseline[0] + baseline[1] * ENERGY
    for element, n in counts.items():
        e = xray_line_energy_keV(element, line)
        s = sigma_keV if sigma_keV is not None else detector_fwhm_keV(e) / (2 * np.sqrt(2 * np.log(2)))
        y = y + n * STEP_KEV * np.exp(-0.5 * ((ENERGY - e) / s) ** 2) / (s * np.sqrt(2 * np.pi))
    return y


def test_line_energies_come_from_exspy() -> None:
    assert xray_line_energy_keV("Fe", "Ka") == elements.Fe.Atomic_properties.Xray_lines.Ka["energy (keV)"]
    assert xray_line_energy_keV("Pd", "La") == elements.Pd.Atomic_properties.Xray_lines.La["energy (keV)"]
    windows = ElementFraction().line_windows_keV()
    assert set(windows) == {"Fe_Ka", "Mg_Ka", "Si_Ka"}
    lo, hi = windows["Fe_Ka"]
    assert 0.5 * (lo + hi) == pytest.approx(6.4039)
    # detector FWHM: 130 eV at Mn Ka by definition, narrower below it
    assert detector_fwhm_keV(xray_line_energy_keV("Mn", "Ka")) == pytest.approx(0.130)
    assert detector_fwhm_keV(1.2536) < 0.09


def test_fraction_of_known_net_counts() -> None:
    counts = {"Fe": 3000.0, "Mg": 5000.0, "Si": 2000.0}
    y = spectrum(counts)
    reward = ElementFraction(["Fe"], ["Fe", "Mg", "Si"])
    assert reward(y, AXIS) == pytest.approx(0.3, rel=1e-3)
    # each net count: the line window is +-1 FWHM, so it holds erf(FWHM / (sigma sqrt 2)) of the line
    captured = erf(np.sqrt(2 * np.log(2)) * 2 / np.sqrt(2))
    net = reward.net_counts(y, AXIS)
    for element, n in counts.items():
        assert net[element] == pytest.approx(captured * n, rel=5e-3)
    assert ElementFraction(["Mg"], ["Mg", "Si"])(y, AXIS) == pytest.approx(5000 / 7000, rel=1e-3)


def test_fixed_width_and_uint16_counts() -> None:
    counts = {"Fe": 400.0, "Mg": 100.0, "Si": 500.0}
    y = np.rint(spectrum(counts, sigma_keV=0.03) * 10).astype(np.uint16)  # integer counts
    reward = ElementFraction(["Fe"], ["Fe", "Mg", "Si"], width_keV=0.2)
    assert reward(y, AXIS) == pytest.approx(0.4, abs=2e-3)


def test_background_none_counts_the_baseline_too() -> None:
    y = spectrum({"Fe": 1000.0, "Si": 1000.0}, baseline=(0.0, 0.0))
    flat = ElementFraction(["Fe"], ["Fe", "Si"], background="none")
    assert flat(y, AXIS) == pytest.approx(0.5, rel=1e-3)
    assert flat(y + 50.0, AXIS) != pytest.approx(0.5, rel=1e-2)  # baseline leaks in


def test_explicit_lines_mix_with_a_family() -> None:
    reward = ElementFraction(["Pd"], ["Pd", "Ti"], lines=["Pd_La", "K"])
    assert set(reward.line_windows_keV()) == {"Pd_La", "Ti_Ka"}
    y = spectrum({"Ti": 600.0}) + spectrum({"Pd": 200.0}, line="La", baseline=(0.0, 0.0))
    assert reward(y, AXIS) == pytest.approx(0.25, rel=2e-3)


def test_negative_net_counts_are_clipped_to_zero() -> None:
    y = spectrum({"Mg": 1000.0, "Si": 1000.0})
    fe = xray_line_energy_keV("Fe", "Ka")
    y = y - 30.0 * np.exp(-0.5 * ((ENERGY - fe) / 0.05) ** 2)  # a dip where Fe would be
    reward = ElementFraction()
    assert reward.net_counts(y, AXIS)["Fe"] == 0.0
    assert reward(y, AXIS) == 0.0


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"numerator": ["Xx"]}, "Xx"),
        ({"numerator": ["fe"]}, "'fe' is not a chemical symbol"),
        ({"lines": "L"}, "Mg_La"),
        ({"lines": ["Fe_Ka"]}, "element 'Mg' has no line"),
        ({"lines": ["Fe_Kz", "K"]}, "Fe_Kz"),
        ({"lines": ["K", "L"]}, "two families"),
        ({"lines": ["Ka"]}, "neither a family"),
        ({"denominator": []}, "at least one element"),
        ({"background": "spline"}, "background=.* use one of"),
        ({"width_keV": -0.1}, "width_keV"),
    ],
)
def test_bad_configuration_names_the_element_or_field(kwargs: dict, words: str) -> None:
    with pytest.raises(InvalidRewardConfig, match=words):
        ElementFraction(**kwargs)


def test_call_time_errors() -> None:
    reward = ElementFraction()
    with pytest.raises(EmptySpectrum, match="no net counts"):
        reward(np.full(ENERGY.size, 5.0), AXIS)
    with pytest.raises(WrongAxis, match="expects 'keV'"):
        reward(spectrum({"Fe": 10.0}), Axis("energy", "eV", ENERGY * 1000))
    short = ENERGY < 5.0  # Fe Ka at 6.4 keV is off this axis
    with pytest.raises(WindowOutsideAxis, match="Fe_Ka window"):
        reward(spectrum({"Fe": 10.0})[short], Axis("energy", "keV", ENERGY[short]))
    with pytest.raises(EmptySpectrum):
        reward(np.full(ENERGY.size, np.nan), AXIS)
    with pytest.raises(WrongAxis, match="values but the spectrum has"):
        reward(np.ones(5), AXIS)


def test_repr() -> None:
    assert repr(ElementFraction()).startswith(
        "ElementFraction(numerator=['Fe'], denominator=['Fe', 'Mg', 'Si'], lines=['K'], width_keV=None"
    )
