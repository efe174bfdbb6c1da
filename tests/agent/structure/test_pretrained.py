"""The structure -> property model: learns across specimens, files that cannot run code, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agent.structure import FEATURE_NAMES, PretrainedModelError, StructurePropertyModel, TrainingSet
from agent.structure.pretrain import main


def _set(seed: int, n: int = 1000) -> TrainingSet:
    rng = np.random.default_rng(seed)
    f = rng.normal(size=(n, len(FEATURE_NAMES)))
    d = f[:, FEATURE_NAMES.index("signed_distance_nm")]
    size = f[:, FEATURE_NAMES.index("region_diameter_nm")]
    y = 50.0 * seed + 3.0 * np.exp(-np.abs(d)) * (1 + 0.5 * size)  # each specimen on its own scale
    return TrainingSet(f, y, f"synthetic {seed}")


def test_learns_a_rule_that_transfers_to_a_held_out_specimen():
    model = StructurePropertyModel(hidden=(32, 32)).fit([_set(s) for s in range(1, 5)], epochs=60, progress=False)
    held = _set(9)
    pred = model.predict(held.features)
    assert np.corrcoef(pred, held.targets)[0, 1] > 0.8
    assert model.info["train_r2"] > 0.6 and len(model.info["sources"]) == 4


def test_file_round_trip_is_weights_only_and_refuses_bad_files(tmp_path):
    model = StructurePropertyModel(hidden=(8,)).fit([_set(1)], epochs=2, progress=False)
    path = model.save(tmp_path / "m.pt")
    again = StructurePropertyModel.load(path)
    np.testing.assert_allclose(again.predict(_set(2).features), model.predict(_set(2).features))
    assert isinstance(torch.load(path, weights_only=True), dict)
    with pytest.raises(PretrainedModelError, match="no such file.*autoscope-pretrain"):
        StructurePropertyModel.load(tmp_path / "missing.pt")
    (tmp_path / "zero.pt").write_bytes(b"\0" * 100)
    with pytest.raises(PretrainedModelError, match="cannot be read"):
        StructurePropertyModel.load(tmp_path / "zero.pt")
    torch.save({"format": "something else"}, tmp_path / "other.pt")
    with pytest.raises(PretrainedModelError, match="not a structure"):
        StructurePropertyModel.load(tmp_path / "other.pt")
    with pytest.raises(PretrainedModelError, match="features must be"):
        again.predict(np.zeros((3, 4)))


def test_the_command_builds_a_file_from_emulator_specimens_and_refuses_nothing_to_learn(tmp_path, capsys):
    out = tmp_path / "band.pt"
    assert main(["--out", str(out), "--emulator-seeds", "2000-2001", "--epochs", "2",
                 "experiment.overview.shape_px=[96,96]", "experiment.overview.fov_m=7.5e-8",
                 "experiment.candidates.margin_px=8"]) == 0
    model = StructurePropertyModel.load(out)
    assert model.info["sources"] == ["emulator seed 2000", "emulator seed 2001"]
    assert main(["--out", str(tmp_path / "x.pt")]) == 2
    assert "nothing to learn" in capsys.readouterr().err
