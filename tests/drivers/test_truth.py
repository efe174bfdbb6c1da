"""drivers.truth: the GroundTruth contract of every emulator and where a run finds it through wrappers."""

from __future__ import annotations

import numpy as np
import pytest

from drivers import Driver, GroundTruth, InvalidArgument, Wrapper, truth_source
from drivers.emulator import CoreLossEmulator, PlasmonEmulator
from drivers.faults import FaultInjector
from drivers.fourd import FourDSTEMEmulator
from drivers.pfm import PFMEmulator
from drivers.safety import SafeDriver, SafetyLimits

EMULATORS = [PlasmonEmulator, CoreLossEmulator, PFMEmulator, FourDSTEMEmulator]


@pytest.mark.parametrize("kind", EMULATORS, ids=lambda k: k.__name__)
def test_every_emulator_hands_out_expected_spectra_on_its_signal_axis(kind: type) -> None:
    em = kind(seed=0)
    assert isinstance(em, GroundTruth) and isinstance(em, Driver)
    half = 0.4 * em.sample_extent_m
    pts = np.array([[0.0, 0.0], [-half, half], [half, -half]])
    spectra = em.expected_spectra(pts)
    assert spectra.shape == (3, em.signal_axis.size) and spectra.dtype == np.float64
    assert np.all(np.isfinite(spectra))
    np.testing.assert_allclose(em.expected_spectra(pts[1:2])[0], spectra[1], rtol=1e-12)  # (BLAS round-off)
    frame = em.acquire_overview(None, None, None, em.image_detectors[0])
    em.set_probe(frame.frame_id, yx_frac=(0.5, 0.5))
    measured = em.acquire_spectrum(em.default_exposure_s, em.spectrometers[0])
    assert np.array_equal(measured.signal_axis.values, em.signal_axis.values)  # the measured axis
    with pytest.raises(InvalidArgument, match="yx_m"):
        em.expected_spectra(np.zeros((2, 3)))
    em.close()


def test_truth_source_looks_through_the_safety_layer_and_the_fault_injector() -> None:
    em = PlasmonEmulator(seed=0)
    assert truth_source(em) is em
    safe = SafeDriver(em, SafetyLimits(), register_atexit=False)
    assert isinstance(safe, Wrapper) and not isinstance(safe, GroundTruth)  # the safety layer hands out no truth
    assert truth_source(safe) is em
    faulty = FaultInjector(em, seed=0)
    source = truth_source(SafeDriver(faulty, SafetyLimits(), register_atexit=False))
    assert source is not None
    pts = np.array([[1e-8, -2e-8]])
    np.testing.assert_array_equal(source.expected_spectra(pts), em.expected_spectra(pts))
    assert truth_source(None) is None
    safe.close()


class _Instrument:
    """A driver without a ground truth (a real microscope)."""

    def capabilities(self): ...
    def acquire_overview(self, fov_m, shape_px, dwell_s, detector="HAADF", timeout_s=None): ...
    def set_probe(self, frame_id, yx_frac=None, yx_m=None): ...
    def acquire_spectrum(self, exposure_s, detector="EELS", timeout_s=None): ...
    def blank(self): ...
    def unblank(self): ...
    def stop(self): ...
    def close(self): ...


class _Loop:
    """A wrapper that wraps itself: the walk stops after 8 links."""

    def __init__(self) -> None:
        self.inner = self


def test_truth_source_is_none_for_a_real_instrument_and_bounded() -> None:
    real = _Instrument()
    assert isinstance(real, Driver) and truth_source(real) is None
    assert truth_source(FaultInjector(real, seed=0)) is None
    assert truth_source(_Loop()) is None  # type: ignore[arg-type]
