"""A structure -> property model learned offline, stored as a file the configuration names.

Before the first spectrum of a run, nothing about the property is known but the physics is the same
as on other specimens: a model trained on earlier runs or on emulator specimens (their overviews and
measured or simulated targets) predicts the property from the label-free descriptors of
:mod:`.features`. In the loop it is frozen; its prediction becomes one input of a small GP
(:class:`agent.surrogates.StructureGP`) that does the small-data work on this specimen, and model
selection by leave-one-out likelihood drops it when it does not fit this specimen.

The model: an MLP (two hidden layers, SiLU) on standardised descriptors, trained on targets
standardised per specimen (the scale of a signal differs between runs; its ranking transfers).
The file is a ``torch.save`` dict of tensors, numbers and strings: ``torch.load(weights_only=True)``
reads it, so a model file cannot run code.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import PretrainedModelError
from .features import FEATURE_NAMES

__all__ = ["FORMAT", "INPUT_NAMES", "StructurePropertyModel", "TrainingSet"]

log = logging.getLogger(__name__)

FORMAT = "autoscope.structure.StructurePropertyModel/1"
#: descriptors the model reads: everything but the probe coordinates (they do not transfer).
INPUT_NAMES: tuple[str, ...] = tuple(n for n in FEATURE_NAMES if n not in ("y", "x"))


@dataclass
class TrainingSet:
    """Descriptors and targets of one specimen.

    Args:
        features: (n, len(FEATURE_NAMES)) float64 descriptors (columns in FEATURE_NAMES order).
        targets: (n,) float64 target values in any units (standardised per specimen here).
        source: where they came from (a run folder, ``emulator seed 1003``).
    """

    features: np.ndarray
    targets: np.ndarray
    source: str = ""


def _mlp(n_in: int, hidden: Sequence[int]) -> torch.nn.Sequential:
    layers: list[torch.nn.Module] = []
    width = n_in
    for h in hidden:
        layers += [torch.nn.Linear(width, int(h)), torch.nn.SiLU()]
        width = int(h)
    layers.append(torch.nn.Linear(width, 1))
    return torch.nn.Sequential(*layers)


@dataclass
class StructurePropertyModel:
    """Frozen descriptor -> standardised-property regressor.

    Args:
        hidden: widths of the hidden layers.
        input_mean, input_std: (len(INPUT_NAMES),) standardisation of the descriptors.
        state: the network's weights (None before :meth:`fit`).
        info: provenance (sources, target description, training R^2), stored in the file.
    """

    hidden: tuple[int, ...] = (128, 128)
    input_mean: np.ndarray = field(default_factory=lambda: np.zeros(len(INPUT_NAMES)))
    input_std: np.ndarray = field(default_factory=lambda: np.ones(len(INPUT_NAMES)))
    state: dict[str, torch.Tensor] | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def _net(self) -> torch.nn.Sequential:
        if self.state is None:
            raise PretrainedModelError("StructurePropertyModel: not trained; call fit() or load a file")
        net = _mlp(len(INPUT_NAMES), self.hidden).double()
        net.load_state_dict(self.state)
        return net.eval()

    def _inputs(self, features: np.ndarray) -> torch.Tensor:
        f = np.asarray(features, dtype=np.float64)
        if f.ndim != 2 or f.shape[1] != len(FEATURE_NAMES):
            raise PretrainedModelError(
                f"StructurePropertyModel: features must be (n, {len(FEATURE_NAMES)}) in FEATURE_NAMES order, "
                f"got {f.shape}")
        cols = [FEATURE_NAMES.index(n) for n in INPUT_NAMES]
        return torch.as_tensor((f[:, cols] - self.input_mean) / self.input_std)

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Predicted property, standardised units: (n,) float64 from (n, len(FEATURE_NAMES))."""
        net = self._net()
        with torch.no_grad():
            return net(self._inputs(features)).squeeze(-1).numpy().astype(np.float64)

    # ------------------------------------------------------------------ training
    def fit(self, sets: Sequence[TrainingSet], epochs: int = 30, batch: int = 1024, lr: float = 3e-3,
            weight_decay: float = 1e-5, seed: int = 0, progress: bool = True,
            threads: int = 1) -> StructurePropertyModel:
        """Train on several specimens (targets standardised per specimen); deterministic for a
        seed and thread count. The network trains in float32 (2-3x faster here) and is stored in
        float64."""
        usable = [s for s in sets if np.isfinite(s.targets).sum() > 2 and np.nanstd(s.targets) > 0]
        if not usable:
            raise PretrainedModelError("StructurePropertyModel.fit: no specimen with finite, varying targets")
        cols = [FEATURE_NAMES.index(n) for n in INPUT_NAMES]
        xs, ys = [], []
        for s in usable:
            ok = np.isfinite(s.targets)
            t = s.targets[ok]
            xs.append(np.asarray(s.features, dtype=np.float64)[ok][:, cols])
            ys.append((t - t.mean()) / t.std())
        X = np.concatenate(xs)
        Y = np.concatenate(ys)
        self.input_mean = X.mean(0)
        self.input_std = np.where(X.std(0) > 0, X.std(0), 1.0)
        gen = torch.Generator().manual_seed(int(seed))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            net = _mlp(len(INPUT_NAMES), self.hidden)
        Xt = torch.as_tensor((X - self.input_mean) / self.input_std, dtype=torch.float32)
        Yt = torch.as_tensor(Y, dtype=torch.float32)
        previous_threads = torch.get_num_threads()
        torch.set_num_threads(int(threads))
        opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=int(epochs))
        log.info("pretraining on %d specimens, %d candidates, %d epochs", len(usable), len(Y), epochs)
        t0 = time.perf_counter()
        bar = _progress(int(epochs), progress)
        for _ in range(int(epochs)):
            perm = torch.randperm(len(Yt), generator=gen)
            for i in range(0, len(Yt), int(batch)):
                b = perm[i:i + int(batch)]
                opt.zero_grad()
                loss = ((net(Xt[b]).squeeze(-1) - Yt[b]) ** 2).mean()
                loss.backward()
                opt.step()
            sched.step()
            bar.update(1)
        bar.close()
        torch.set_num_threads(previous_threads)
        self.state = {k: v.detach().clone().double() for k, v in net.state_dict().items()}
        pred = self.predict_inputs(Xt.double())
        self.info.update({
            "sources": [s.source for s in usable],
            "n_candidates": int(len(Y)),
            "train_r2": float(1 - np.mean((pred - Y) ** 2) / np.var(Y)),
            "seconds": time.perf_counter() - t0,
        })
        return self

    def predict_inputs(self, Xt: torch.Tensor) -> np.ndarray:
        with torch.no_grad():
            return self._net()(Xt).squeeze(-1).numpy()

    # ------------------------------------------------------------------ files
    def save(self, path: str | Path) -> Path:
        """Write the model (tensors and strings only) to ``path``."""
        if self.state is None:
            raise PretrainedModelError("StructurePropertyModel.save: not trained")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({
            "format": FORMAT,
            "inputs": list(INPUT_NAMES),
            "hidden": list(self.hidden),
            "input_mean": torch.as_tensor(self.input_mean),
            "input_std": torch.as_tensor(self.input_std),
            "state": self.state,
            "info": json.dumps(self.info, default=str),
        }, path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> StructurePropertyModel:
        """Read a file written by :meth:`save` (``PretrainedModelError`` naming the fix otherwise)."""
        path = Path(path)
        if not path.is_file():
            raise PretrainedModelError(
                f"surrogate.pretrained={str(path)!r}: no such file; build one with autoscope-pretrain "
                "or set surrogate.pretrained=null")
        try:
            raw = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # torch raises several unrelated types for a damaged file
            raise PretrainedModelError(
                f"surrogate.pretrained={str(path)!r} cannot be read ({type(err).__name__}); rebuild it with "
                "autoscope-pretrain or set surrogate.pretrained=null") from None
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            raise PretrainedModelError(
                f"surrogate.pretrained={str(path)!r} is not a structure -> property model ({FORMAT})")
        if list(raw["inputs"]) != list(INPUT_NAMES):
            raise PretrainedModelError(
                f"surrogate.pretrained={str(path)!r} was built for other descriptors; rebuild it with "
                "autoscope-pretrain")
        return cls(hidden=tuple(int(h) for h in raw["hidden"]),
                   input_mean=raw["input_mean"].numpy(), input_std=raw["input_std"].numpy(),
                   state=raw["state"], info=json.loads(raw["info"]))


def _progress(total: int, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="pretraining", unit="epoch", disable=not enabled, leave=False)
