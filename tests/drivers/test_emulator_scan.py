"""The scan keywords every emulator shares (issue 12, "repeated shells"): declared once in
``drivers.emulator.ScanSettings``, taken as flat keywords by every constructor, each emulator with
its own ``SCAN_DEFAULTS``."""

from __future__ import annotations

import dataclasses

import pytest
from emulator_checks import CONF
from hydra.utils import instantiate
from omegaconf import OmegaConf

from drivers import InvalidArgument
from drivers.emulator import CoreLossEmulator, PlasmonEmulator, ScanSettings
from drivers.fourd import FourDSTEMEmulator
from drivers.pfm import PFMEmulator

EMULATORS = {"emulator": PlasmonEmulator, "emulator_coreloss": CoreLossEmulator,
             "pfm_emulator": PFMEmulator, "fourd_emulator": FourDSTEMEmulator}
SCAN_FIELDS = [f.name for f in dataclasses.fields(ScanSettings)]


def _build(cls: type, **scan: object) -> object:
    extra = {"edge_database": "builtin"} if cls is CoreLossEmulator else {}
    return cls(**extra, **scan)


@pytest.mark.parametrize("cls", EMULATORS.values(), ids=EMULATORS.keys())
def test_each_emulator_keeps_its_own_defaults_and_takes_every_scan_keyword(cls):
    em = _build(cls)
    assert em.scan == cls.SCAN_DEFAULTS
    for name in SCAN_FIELDS:
        value = getattr(cls.SCAN_DEFAULTS, name)
        attribute = "clock_kind" if name == "clock" else name
        expected = cls.SCAN_DEFAULTS.fov_m if name == "overview_fov_m" else value
        assert getattr(em, attribute) == expected, name
    em = _build(cls, seed=7, readout_s=0.125, overview_shape_px=[40, 56], drift_m_per_s=[1e-12, 0])
    assert (em.seed, em.readout_s, em.overview_shape_px, em.drift_m_per_s) == (7, 0.125, (40, 56), (1e-12, 0.0))
    # the keywords not given keep this emulator's defaults
    assert em.scan == dataclasses.replace(cls.SCAN_DEFAULTS, seed=7, readout_s=0.125, overview_shape_px=(40, 56),
                                          drift_m_per_s=(1e-12, 0.0))


def test_the_emulators_defaults_are_their_instruments():
    pfm, fourd = PFMEmulator.SCAN_DEFAULTS, FourDSTEMEmulator.SCAN_DEFAULTS
    assert (pfm.sample_extent_m, pfm.default_exposure_s, pfm.max_exposure_s, pfm.overview_dwell_s) == (
        2e-6, 1.0, 60.0, 1e-3)
    assert (fourd.default_exposure_s, fourd.readout_s, fourd.overview_dwell_s) == (1e-3, 1e-4, 1e-5)
    assert PlasmonEmulator.SCAN_DEFAULTS == CoreLossEmulator.SCAN_DEFAULTS == ScanSettings()
    assert PFMEmulator().acquisition_time_s("acquire_spectrum") == 1.0 + 0.01


def test_a_default_field_of_view_follows_a_changed_sample_extent():
    em = PFMEmulator(sample_extent_m=1e-6, domain_size_m=1e-7)
    assert em.scan.overview_fov_m is None and em.overview_fov_m == 1e-6
    assert em.acquire_overview(shape_px=(8, 8)).metadata["fov_m"] == 1e-6
    assert PlasmonEmulator(overview_fov_m=1e-7).overview_fov_m == 1e-7


@pytest.mark.parametrize("name, value, message", [
    ("readout_s", -1, "readout_s=-1 must be >= 0 s"),
    ("seed", True, "seed=True must be an integer"),
    ("clock", "wall", "clock='wall' is not known; use one of ['virtual', 'real']"),
    ("overview_shape_px", (3, 4, 5), "overview_shape_px=(3, 4, 5) must be (ny, nx) pixels"),
    ("drift_m_per_s", (1.0,), "drift_m_per_s=(1.0,) must be a (y, x) pair"),
    ("overview_fov_m", 1.0, "overview_fov_m=1.0 exceeds the maximum"),
    ("default_exposure_s", 1e9, "default_exposure_s=1000000000.0 exceeds the maximum"),
])
@pytest.mark.parametrize("cls", EMULATORS.values(), ids=EMULATORS.keys())
def test_a_bad_scan_keyword_is_refused_in_one_line_naming_it(cls, name, value, message):
    with pytest.raises(InvalidArgument) as err:
        _build(cls, **{name: value})
    assert str(err.value).startswith(message) and "\n" not in str(err.value)
    with pytest.raises(InvalidArgument, match=f"^{name}="):
        ScanSettings(**{name: value})


def test_constructors_take_keywords_only_and_refuse_unknown_ones():
    with pytest.raises(TypeError):
        PlasmonEmulator(3)  # once the seed; must not become n_particles silently
    with pytest.raises(TypeError, match="readout"):
        PFMEmulator(readout=0.1)


def test_scan_settings_are_cleaned_and_frozen():
    s = ScanSettings(overview_shape_px=64, drift_m_per_s=OmegaConf.create([1e-12, 2e-12]), seed=3)
    assert s.overview_shape_px == (64, 64) and s.drift_m_per_s == (1e-12, 2e-12)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.seed = 4  # type: ignore[misc]
    assert dataclasses.replace(s, readout_s=0.0).readout_s == 0.0 and s.readout_s == 0.005


@pytest.mark.parametrize("name", EMULATORS)
def test_flat_hydra_overrides_reach_the_scan_settings(name):
    cfg = OmegaConf.merge(OmegaConf.load(CONF / "driver" / f"{name}.yaml"), OmegaConf.from_dotlist([
        "seed=5", "readout_s=0.02", "overview_fov_m=1.5e-7", "overview_shape_px=[40,56]", "edge_database=builtin"
        if name == "emulator_coreloss" else "settle_s=0.002"]))
    em = instantiate(cfg)
    assert (em.seed, em.readout_s, em.overview_fov_m, em.overview_shape_px) == (5, 0.02, 1.5e-7, (40, 56))
    assert em.acquire_overview().data.shape == (40, 56)
