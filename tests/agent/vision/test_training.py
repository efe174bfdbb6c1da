"""agent.vision.training: each model trained on emulator surveys, kept in and reloaded from
``cache_path``; the survey may be rectangular (``experiment.overview.shape_px`` is [ny, nx])."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agent.vision import (
    ParticleSegmenter,
    QualityGate,
    VisionConfigError,
    emulator_view,
    train_gate_on_emulator,
    train_segmenter_on_emulator,
)

torch.set_num_threads(1)


def test_gate_is_trained_once_then_loaded_from_its_cache(tmp_path):
    cache = tmp_path / "gate.pt"
    small = dict(train_seeds=[100], val_seeds=[200], shape_px=[96, 64], window_px=12, stride_px=8,
                 margin_px=8, cache_path=str(cache))
    gate = train_gate_on_emulator(QualityGate(channels=2, epochs=1), **small)
    assert cache.is_file() and gate.threshold is not None and gate.train_time_s > 0
    again = train_gate_on_emulator(QualityGate(channels=2, epochs=1), **small)
    assert again.threshold == gate.threshold and np.isnan(again.train_time_s)  # loaded, not trained
    patches = emulator_view(5, shape_px=64, window_px=12, stride_px=8, margin_px=8).candidates.patches
    assert np.array_equal(again.predict_proba(patches), gate.predict_proba(patches))


def test_segmenter_cache_and_empty_seeds(tmp_path):
    cache = tmp_path / "unet.pt"
    seg = train_segmenter_on_emulator(ParticleSegmenter(iterations=2), train_seeds=[100], shape_px=64,
                                      cache_path=str(cache))
    assert cache.is_file() and seg.net is not None
    loaded = train_segmenter_on_emulator(ParticleSegmenter(iterations=2), train_seeds=[100], shape_px=64,
                                         cache_path=str(cache))
    image = emulator_view(5, shape_px=64).overview.data
    assert np.array_equal(loaded.predict(image), seg.predict(image))
    with pytest.raises(VisionConfigError, match="train_seeds is empty"):
        train_segmenter_on_emulator(ParticleSegmenter(iterations=2), train_seeds=[], shape_px=64)
