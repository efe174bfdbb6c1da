"""Quality gate: a small CNN that decides, from the cheap survey patch alone, which candidates may
receive an expensive (long) acquisition.

A false positive costs a long acquisition at a useless spot, a false negative only a missed chance,
so the decision threshold maximises F-beta with beta = 1/3 on validation data (precision weighted
9:1 over recall). :class:`policies.GatedPolicy` applies the gate in the loop (``gate=quality``).

Training data come from anywhere; :func:`train_gate_on_emulator` labels emulator surveys with the
exact particle geometry (default rule ``"hotspot"``: within 5 nm outside a rod tip or a triangle
corner, where the low-energy dipole modes of the default reward are strongest).

Measured with the defaults (one CPU thread): trained on emulator seeds 100-103 (12,996 patches,
3 % positive) in 28 s, threshold 0.963 chosen on seed 200; on held-out seeds 300-304 (16,245
candidates, 507 positive) precision 0.88, recall 0.48, F(1/3) 0.81, AUROC 0.987 (per seed precision
0.85-0.94). One patch takes 1.0 ms with the 8-fold test-time augmentation (0.22 ms without, F(1/3)
0.80); the 3,249 candidates of an overview 3.8 s (0.31 s without).

Against the measured target instead of the geometry labels (the default reward's top 5 % by the
emulator's noise-free truth, ``benchmarks/vision_gate.py``) the same gate's precision is 0.34
(AUROC 0.82); trained on that target (``rule="reward_top"``) 0.32: the geometry label itself, as a
gate, reaches 0.45. The 16 px patch does not see enough of what the band signal depends on.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from policies.candidate_models import CandidateGate, CandidateView, OverviewImage

from ._checks import candidate_patches, check_float, check_int, check_labels, check_patches
from ._state_file import read_state, save_state
from .augment import Augmenter, dihedral_stack
from .errors import VisionInputError, VisionNotFittedError, VisionStateError
from .metrics import auroc, best_fbeta_threshold, fbeta_scores
from .patch_cnn import PatchCNN
from .progress import training_progress

__all__ = ["QualityGate"]

log = logging.getLogger(__name__)

_STATE_VERSION = 1
_CHUNK = 2048  # patches per inference pass
#: seconds per training patch and epoch on one idle CPU thread (measured: 28 s for 12,996 patches x 8
#: epochs); only for the a-priori estimate in the log line before training
_S_PER_PATCH_EPOCH = 2.7e-4


class QualityGate(CandidateGate):
    """Binary patch classifier with an F-beta-optimal threshold.

    Args:
        channels: width of the :class:`~agent.vision.patch_cnn.PatchCNN` (>= 1).
        epochs: passes over the training patches (>= 1).
        batch_size: patches per optimiser step (>= 8), plus ``positive_fraction`` extra positives.
        lr: peak learning rate of the one-cycle schedule (AdamW).
        weight_decay: AdamW weight decay (>= 0).
        positive_fraction: extra positives drawn into every batch, as a fraction of
            ``batch_size`` (>= 0): positives are rare (about 3 % of candidates for ``"hotspot"``).
        beta: F-beta weight of recall (1/3: precision weighted 9:1).
        val_fraction: share of the training patches held out to choose the threshold when
            ``fit`` gets no validation set (in (0, 0.9]).
        tta: average the probability over the 8 flips / quarter turns at inference.
        noise_std, contrast, brightness: training augmentation (flips and quarter turns always;
            no shifts: the label belongs to the patch centre).
        threshold: fixed decision threshold in [0, 1]; None = choose it on validation data.
        seed: seed of the initial weights, the batches and the augmentation.
        weights_path: a file written by :meth:`save` to load at construction (None: untrained).
    """

    def __init__(self, channels: int = 16, epochs: int = 8, batch_size: int = 128,
                 lr: float = 3e-3, weight_decay: float = 1e-4, positive_fraction: float = 0.25,
                 beta: float = 1.0 / 3.0, val_fraction: float = 0.25, tta: bool = True,
                 noise_std: float = 0.1, contrast: float = 0.15, brightness: float = 0.1,
                 threshold: float | None = None, seed: int = 0,
                 weights_path: str | None = None) -> None:
        owner = "QualityGate"
        self.channels = check_int(owner, "channels", channels, 1, 512)
        self.epochs = check_int(owner, "epochs", epochs, 1, 10_000)
        self.batch_size = check_int(owner, "batch_size", batch_size, 8, 65_536)
        self.lr = check_float(owner, "lr", lr, lo=0.0, lo_open=True)
        self.weight_decay = check_float(owner, "weight_decay", weight_decay, lo=0.0)
        self.positive_fraction = check_float(owner, "positive_fraction", positive_fraction,
                                             0.0, 4.0)
        self.beta = check_float(owner, "beta", beta, lo=0.0, lo_open=True)
        self.val_fraction = check_float(owner, "val_fraction", val_fraction, 0.0, 0.9,
                                        lo_open=True)
        self.tta = bool(tta)
        self.augmenter = Augmenter(dihedral=True, shift_px=0, noise_std=noise_std,
                                   contrast=contrast, brightness=brightness)
        self.fixed_threshold = (None if threshold is None
                                else check_float(owner, "threshold", threshold, 0.0, 1.0))
        self.threshold: float | None = self.fixed_threshold
        self.seed = int(seed)
        self.weights_path = weights_path
        self.net: PatchCNN | None = None
        self.window: int | None = None
        self.val_metrics: dict[str, float] = {}
        self.train_time_s = float("nan")
        if weights_path is not None:
            self.load(weights_path)

    def __repr__(self) -> str:
        state = "untrained" if self.net is None else f"window={self.window}"
        return f"QualityGate(channels={self.channels}, {state}, threshold={self.threshold})"

    # ------------------------------------------------------------------ training
    def fit(self, patches: Any, labels: Any, val_patches: Any = None,
            val_labels: Any = None) -> QualityGate:
        """Train on ``patches: (n, w, w)`` float32 with ``labels: (n,)`` bool (True = worth an
        expensive measurement), then choose the threshold on the validation set.

        Args:
            patches, labels: training data; at least one positive and one negative.
            val_patches, val_labels: validation data (preferably other specimens); None = a
                stratified random ``val_fraction`` of the training data is held out.
        """
        x = check_patches(patches, "patches")
        y = check_labels(labels, x.shape[0])
        if x.shape[1] != x.shape[2] or x.shape[1] < 4:
            raise VisionInputError(f"patches must be square and at least 4 px, got {x.shape[1:]}")
        if (val_patches is None) != (val_labels is None):
            raise VisionInputError("give both val_patches and val_labels, or neither")
        if val_patches is None:
            x, y, xv, yv = self._split(x, y)
        else:
            xv = check_patches(val_patches, "val_patches", x.shape[1])
            yv = check_labels(val_labels, xv.shape[0], "val_labels")
        if y.sum() == 0 or y.all():
            raise VisionInputError(f"training labels need positives and negatives, got {int(y.sum())}"
                                   f" positives of {y.size}")
        if yv.sum() == 0 and self.fixed_threshold is None:
            raise VisionInputError("validation labels hold no positive; the threshold cannot be "
                                   "chosen: add positives or set threshold=")
        t0 = time.perf_counter()
        self.window = int(x.shape[1])
        self._train(x, y)
        self.train_time_s = time.perf_counter() - t0
        pv = self.predict_proba(xv)
        if self.fixed_threshold is None:
            self.threshold, _ = best_fbeta_threshold(pv, yv, self.beta)
        self.val_metrics = self.evaluate(xv, yv)
        return self

    def _split(self, x: np.ndarray, y: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        rng = np.random.default_rng(self.seed)
        val = np.zeros(y.size, dtype=bool)
        for cls in (True, False):
            idx = np.flatnonzero(y == cls)
            k = int(round(self.val_fraction * idx.size))
            if idx.size >= 2:
                k = min(max(k, 1), idx.size - 1)
                val[rng.choice(idx, k, replace=False)] = True
        return x[~val], y[~val], x[val], y[val]

    def _train(self, x: np.ndarray, y: np.ndarray) -> None:
        g = torch.Generator().manual_seed(self.seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            net = PatchCNN(self.channels, 1)
        X = torch.from_numpy(np.ascontiguousarray(x))
        Y = torch.from_numpy(y.astype(np.float32))
        pos = torch.from_numpy(np.flatnonzero(y))
        n_extra = int(round(self.positive_fraction * self.batch_size))
        steps = max(1, x.shape[0] // self.batch_size)
        opt = torch.optim.AdamW(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=self.lr,
                                                    total_steps=self.epochs * steps)
        threads = torch.get_num_threads()
        log.info("training the quality gate (PatchCNN, %d channels): %d epochs over %d patches "
                 "(%d positive), about %.0f s on %d idle CPU thread(s), longer on a loaded machine",
                 self.channels, self.epochs, x.shape[0], int(y.sum()),
                 _S_PER_PATCH_EPOCH * x.shape[0] * self.epochs / max(1, min(threads, 4)), threads)
        bar = training_progress(self.epochs * steps, "quality gate", "step")
        t0 = time.perf_counter()
        net.train()
        for epoch in range(self.epochs):
            if epoch == 1:  # measured: the estimate a log file (no progress bar) can rely on
                took = time.perf_counter() - t0
                log.info("quality gate: epoch 1 of %d took %.1f s, about %.0f s left", self.epochs,
                         took, took * (self.epochs - 1))
            perm = torch.randperm(x.shape[0], generator=g)
            for i in range(steps):
                idx = perm[i * self.batch_size:(i + 1) * self.batch_size]
                if n_extra:
                    idx = torch.cat([idx, pos[torch.randint(0, pos.numel(), (n_extra,),
                                                            generator=g)]])
                xb = self.augmenter(X[idx], g)
                loss = torch.nn.functional.binary_cross_entropy_with_logits(net(xb), Y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                bar.update(1)
        bar.close()
        net.eval()
        self.net = net

    # ------------------------------------------------------------------ inference
    def _require(self) -> PatchCNN:
        if self.net is None:
            raise VisionNotFittedError("QualityGate is untrained: call fit(patches, labels), "
                                       "train_gate_on_emulator(...) or load(path) first")
        return self.net

    def predict_proba(self, patches: Any) -> np.ndarray:
        """Probability that each patch is worth an expensive measurement.

        Args:
            patches: (n, w, w) float32 (or one (w, w) patch), w = the training window.

        Returns:
            (n,) float64 in [0, 1].
        """
        net = self._require()
        x = torch.from_numpy(np.ascontiguousarray(check_patches(patches, "patches", self.window)))
        out = []
        with torch.no_grad():
            for i in range(0, x.shape[0], _CHUNK):
                xb = x[i:i + _CHUNK]
                if self.tta:
                    views = dihedral_stack(xb).reshape(-1, xb.shape[1], xb.shape[2])
                    p = torch.sigmoid(net(views)).reshape(8, xb.shape[0]).mean(0)
                else:
                    p = torch.sigmoid(net(xb))
                out.append(p)
        return torch.cat(out).double().numpy()

    def predict(self, patches: Any, threshold: float | None = None) -> np.ndarray:
        """(n,) bool: ``predict_proba >= threshold`` (default: the fitted threshold)."""
        thr = self._threshold(threshold)
        return self.predict_proba(patches) >= thr

    def _threshold(self, threshold: float | None) -> float:
        if threshold is not None:
            return check_float("QualityGate", "threshold", threshold, 0.0, 1.0)
        if self.threshold is None:
            raise VisionNotFittedError("QualityGate has no threshold yet: fit it (the threshold is "
                                       "chosen on validation data) or pass threshold=")
        return self.threshold

    def evaluate(self, patches: Any, labels: Any, threshold: float | None = None
                 ) -> dict[str, float]:
        """Score the gate on labelled patches.

        Returns:
            ``{"precision", "recall", "f_beta", "threshold", "auroc", "n", "n_positive",
            "n_passed"}``; ``auroc`` is NaN when ``labels`` hold one class only.
        """
        p = self.predict_proba(patches)
        y = check_labels(labels, p.shape[0])
        thr = self._threshold(threshold)
        s = fbeta_scores(p >= thr, y, self.beta)
        roc = auroc(p, y) if 0 < y.sum() < y.size else float("nan")
        return {"precision": s["precision"], "recall": s["recall"], "f_beta": s["f_beta"],
                "threshold": thr, "auroc": roc, "n": float(y.size),
                "n_positive": float(y.sum()), "n_passed": float(np.sum(p >= thr))}

    def benchmark_inference(self, n_repeats: int = 200, batch_n: int = 3249) -> dict[str, float]:
        """Time the gate on one patch (the latency of a single decision) and on a batch.

        Args:
            n_repeats: single-patch calls timed (after 5 warm-up calls).
            batch_n: patches of the batch timing (default: the loop's 57 x 57 candidate grid).

        Returns:
            ``{"single_median_s", "single_p90_s", "batch_s", "batch_per_patch_s", "threads"}``
            (wall-clock seconds through :meth:`predict_proba`, TTA included when on).
        """
        self._require()
        n_repeats = check_int("benchmark_inference", "n_repeats", n_repeats, 1, 1_000_000)
        batch_n = check_int("benchmark_inference", "batch_n", batch_n, 1, 1_000_000)
        rng = np.random.default_rng(0)
        w = int(self.window or 16)
        one = rng.standard_normal((1, w, w)).astype(np.float32)
        for _ in range(5):
            self.predict_proba(one)
        times = []
        for _ in range(n_repeats):
            t0 = time.perf_counter()
            self.predict_proba(one)
            times.append(time.perf_counter() - t0)
        batch = rng.standard_normal((batch_n, w, w)).astype(np.float32)
        t0 = time.perf_counter()
        self.predict_proba(batch)
        batch_s = time.perf_counter() - t0
        return {"single_median_s": float(np.median(times)),
                "single_p90_s": float(np.quantile(times, 0.9)),
                "batch_s": batch_s, "batch_per_patch_s": batch_s / batch_n,
                "threads": float(torch.get_num_threads())}

    # ------------------------------------------------------------------ gate protocol
    has_scores = True  # gate_scores: the CNN's probability; gate_mask == gate_scores >= threshold

    def gate_mask(self, candidates: CandidateView, overview: OverviewImage | None = None) -> np.ndarray:
        """(n,) bool over ``candidates``: the ones the gate lets through."""
        return self.predict(candidate_patches("QualityGate.gate_mask", candidates))

    def gate_scores(self, candidates: CandidateView) -> np.ndarray:
        """(n,) float64 probability in [0, 1] that each candidate is worth a long acquisition."""
        return self.predict_proba(candidate_patches("QualityGate.gate_scores", candidates))

    def describe(self) -> dict[str, Any]:
        """Its validation figures (precision, recall, F-beta at the threshold) and training time,
        for the run's record."""
        out: dict[str, Any] = {"gate": type(self).__name__}
        if self.val_metrics:
            out["validation"] = {k: float(v) for k, v in self.val_metrics.items()}
            out["beta"] = float(self.beta)
        if not math.isnan(self.train_time_s):
            out["train_time_s"] = float(self.train_time_s)
        return out

    # ------------------------------------------------------------------ persistence
    def state_dict(self) -> dict[str, Any]:
        """Weights and settings as tensors and numbers (``torch.load(weights_only=True)`` safe)."""
        net = self._require()
        return {"version": _STATE_VERSION, "kind": "QualityGate", "channels": self.channels,
                "window": int(self.window or 0), "tta": self.tta,
                "threshold": float("nan") if self.threshold is None else float(self.threshold),
                "beta": self.beta, "net": net.state_dict(),
                "val_metrics": {k: float(v) for k, v in self.val_metrics.items()}}

    def load_state_dict(self, state: Mapping[str, Any]) -> QualityGate:
        if state.get("kind") != "QualityGate" or state.get("version") != _STATE_VERSION:
            raise VisionStateError(f"not a QualityGate state of version {_STATE_VERSION} "
                                   f"(kind={state.get('kind')!r}, version={state.get('version')!r})")
        if int(state["channels"]) != self.channels:
            raise VisionStateError(f"saved gate has channels={state['channels']} but this one "
                                   f"{self.channels}; build it with channels={state['channels']}")
        net = PatchCNN(self.channels, 1)
        try:
            net.load_state_dict(state["net"])
        except RuntimeError as err:
            raise VisionStateError(f"saved weights do not fit the PatchCNN: {err}") from None
        net.eval()
        self.net = net
        self.window = int(state["window"])
        thr = float(state["threshold"])
        if self.fixed_threshold is None:
            self.threshold = None if math.isnan(thr) else thr
        self.val_metrics = dict(state.get("val_metrics", {}))
        return self

    def save(self, path: str | Path) -> None:
        """Write :meth:`state_dict` to ``path`` (parent folders are created)."""
        save_state(self.state_dict(), path)

    def load(self, path: str | Path) -> QualityGate:
        return self.load_state_dict(read_state(
            path, f"QualityGate: weights_path={str(path)!r} does not exist; train the gate "
            "(train_gate_on_emulator) and save it there first"))

