"""Checks shared by the emulator tests (PlasmonEmulator, PFMEmulator, FourDSTEMEmulator).

Imported by the test modules beside it (``from emulator_checks import ...``, pytest's rootdir
import mode puts this folder on ``sys.path``); not a test module itself.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf

CONF = Path(__file__).resolve().parents[2] / "conf"


def check_same_seed_same_data(make: Callable[[int], Any], seed: int, overview_args: Sequence[Any],
                              yx_frac: tuple[float, float], exposure_s: float
                              ) -> tuple[list[Any], list[Any], list[np.ndarray]]:
    """Build emulators ``make(seed)`` twice and ``make(seed + 1)``; assert that the first two give
    identical overviews (``acquire_overview(*overview_args)``) and spectra (at ``yx_frac``, for
    ``exposure_s``) and the third differs. Returns ``(emulators, overview frames, spectra)``."""
    emulators = [make(seed), make(seed), make(seed + 1)]
    frames = [e.acquire_overview(*overview_args) for e in emulators]
    np.testing.assert_array_equal(frames[0].data, frames[1].data)
    assert not np.array_equal(frames[0].data, frames[2].data)
    spectra = []
    for e, f in zip(emulators, frames):
        e.set_probe(f.frame_id, yx_frac=yx_frac)
        spectra.append(e.acquire_spectrum(exposure_s).data)
    np.testing.assert_array_equal(spectra[0], spectra[1])
    assert not np.array_equal(spectra[0], spectra[2])
    return emulators, frames, spectra


def keywords(cls: type) -> tuple[list[str], dict[str, Any]]:
    """The emulator's own keywords in signature order (``**scan`` / ``**options`` left out) and
    their defaults."""
    params = inspect.signature(cls.__init__).parameters
    own = {k: p.default for k, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}
    return list(own), own


def check_driver_yaml(cls: type, name: str, target: str, seed: int) -> Any:
    """``conf/driver/<name>.yaml`` targets ``target`` and lists every keyword of ``cls`` once: its
    own arguments in signature order with their defaults, and every
    :class:`drivers.emulator.ScanSettings` field in field order whose values give exactly
    ``cls.SCAN_DEFAULTS`` (``seed`` follows the run's ``${seed}``); it builds, both under a root
    config and with an explicit ``seed`` override. Returns the emulator built with ``seed``."""
    from dataclasses import fields, replace

    from hydra.utils import instantiate

    from drivers.emulator import ScanSettings

    path = CONF / "driver" / f"{name}.yaml"
    plain = OmegaConf.to_container(OmegaConf.load(path))
    assert plain.pop("_target_") == target
    own, defaults = keywords(cls)
    scan = [f.name for f in fields(ScanSettings)]
    assert sorted(plain) == sorted(own + scan)
    assert [k for k in plain if k in own] == own and [k for k in plain if k in scan] == scan
    assert plain["seed"] == "${seed}"  # the sample follows the run's seed
    for key in own:
        default = defaults[key]
        assert (list(default) if isinstance(default, tuple) else default) == plain[key], key
    listed = ScanSettings(**{**{k: plain[k] for k in scan}, "seed": cls.SCAN_DEFAULTS.seed})
    assert listed == cls.SCAN_DEFAULTS
    root = OmegaConf.create({"seed": seed, "driver": {"_target_": target, **plain}})
    em = instantiate(root.driver)
    assert isinstance(em, cls) and em.seed == seed and em.scan == replace(cls.SCAN_DEFAULTS, seed=seed)
    em = instantiate(OmegaConf.load(path), seed=seed)
    assert isinstance(em, cls) and em.seed == seed
    return em


def run_ten_steps(driver: Any, reward: Any, experiment: str, tmp_path: Path
                  ) -> tuple[dict[str, Any], dict[str, np.ndarray], str]:
    """Run ``conf/experiment/<experiment>.yaml`` for 10 steps (4 initial, random policy, 48 x 48
    overview, 8 px windows) on ``driver``; returns ``(summary, record, signal_axis)`` where
    ``record`` holds the ``spectrum``, ``reward``, ``index`` step columns and the candidates'
    ``truth``, and ``signal_axis`` is the JSON the record keeps for the spectra's axis."""
    import h5py
    import torch

    from agent.loop import Experiment
    from agent.settings import ExperimentSettings
    from policies import RandomPolicy

    torch.set_num_threads(1)
    cfg = OmegaConf.load(CONF / "experiment" / f"{experiment}.yaml")
    cfg.merge_with({"steps": 10, "n_init": 4, "plots": False, "progress": False,
                    "checkpoint": False, "overview": {"shape_px": [48, 48]},
                    "candidates": {"window_px": 8, "stride_px": 4, "margin_px": 4}})
    settings = ExperimentSettings.from_mapping(cfg)
    exp = Experiment(driver, reward, None, RandomPolicy(), settings, tmp_path / "run", seed=1)
    summary = exp.run()
    with h5py.File(tmp_path / "run" / "record.h5", "r") as h5:
        record = {column: h5[f"steps/{column}"][...] for column in ("spectrum", "reward", "index")}
        record["truth"] = h5["candidates/truth"][...]
        signal_axis = h5["steps"].attrs["signal_axis"]
    if isinstance(signal_axis, bytes):  # a fixed-length HDF5 string attribute reads back as bytes
        signal_axis = signal_axis.decode()
    return summary, record, signal_axis
