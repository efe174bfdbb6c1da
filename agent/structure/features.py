"""Label-free structure descriptors of every candidate, computed from the whole overview.

What a spectrum at a probe position depends on is rarely inside a 12 nm patch: a plasmon's energy is
set by the whole particle's size, shape and thickness, its field decays over ~10 nm outside the
edge and neighbours add up; an EDS signal depends on which phase the probe sits in and how far the
interface is. :func:`structure_features` turns the overview into such descriptors before the first
spectrum, from the image alone:

* a segmentation (Gaussian smoothing, Otsu threshold, small specks removed, holes filled, connected
  components) into *regions* (particles, grains, phases);
* per candidate: signed distance to the nearest outline (negative inside), the size, elongation,
  solidity and mean intensity of the nearest region, the position on that region along and across
  its principal axes, the local convexity of the nearest outline point (lower at corners and tips
  than along straight edges), the distance to the second- and third-nearest region and the size
  and shape of the second, proximity sums over all regions, and multi-scale context
  (Gaussian-smoothed intensity and foreground fraction at 4 scales, 2-16 nm but at least 1-8 px);
* the probe coordinates.

Lengths are in nanometres (from the overview's calibration) so a model trained on one specimen
applies to another with a different pixel size; intensities are in units of the overview's robust
spread. Every column is named (:data:`FEATURE_NAMES`), shape ``(n_candidates, n_features)``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .errors import StructureError

__all__ = ["FEATURE_NAMES", "CONTEXT_SCALES_NM", "StructureFeatures", "otsu_threshold", "segment", "structure_features"]

log = logging.getLogger(__name__)

#: context scales (Gaussian sigma, nm) of the smoothed intensity and the foreground fraction.
CONTEXT_SCALES_NM = (2.0, 4.0, 8.0, 16.0)

FEATURE_NAMES: tuple[str, ...] = (
    "y", "x",                                   # probe coordinates, fractions of the overview
    "signed_distance_nm",                       # to the nearest outline; negative inside a region
    "log_abs_distance_nm",                      # log(1 + |d|): the near field resolved finely
    "region_diameter_nm",                       # equivalent-circle diameter of the nearest region
    "region_elongation",                        # major / minor principal axis (1 = round)
    "region_solidity",                          # area / convex-hull area (triangles ~0.9, rods ~1)
    "region_intensity",                         # mean intensity (thickness, Z) in robust-spread units
    "along_major",                              # |position along the major axis| / half-length
    "across_minor",                             # |position across| / half-width
    "outline_convexity",                        # foreground share of a disk at the nearest outline point
    "second_distance_nm",                       # to the second-nearest region (gaps between neighbours)
    "third_distance_nm",
    "second_diameter_nm",                       # size and shape of the second-nearest region
    "second_elongation",
    "second_solidity",
    "second_intensity",
    *(f"proximity_l{int(l)}nm" for l in (4, 8, 16)),   # sum over regions of exp(-distance / l)
    *(f"intensity_s{int(s)}nm" for s in CONTEXT_SCALES_NM),
    *(f"foreground_s{int(s)}nm" for s in CONTEXT_SCALES_NM),
)

_FAR_NM = 100.0  # distance given for "no second/third region" (beyond every decay length)


@dataclass(frozen=True)
class StructureFeatures:
    """Descriptors of every candidate.

    Args:
        values: (n, len(FEATURE_NAMES)) float64, finite.
        names: column names (:data:`FEATURE_NAMES`).
        mask: (ny, nx) bool foreground of the segmentation.
        labels: (ny, nx) int32 region labels (0 = background).
        n_regions: number of regions found.
        pixel_nm: (y, x) pixel size in nanometres.
    """

    values: np.ndarray
    names: tuple[str, ...]
    mask: np.ndarray
    labels: np.ndarray
    n_regions: int
    pixel_nm: tuple[float, float]

    def column(self, name: str) -> np.ndarray:
        """One descriptor, (n,) float64."""
        return self.values[:, self.names.index(name)]


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold of ``values`` (any shape): maximises the between-class variance."""
    v = np.asarray(values, dtype=np.float64).ravel()
    lo, hi = float(v.min()), float(v.max())
    if not hi > lo:
        return lo
    hist, edges = np.histogram(v, bins=bins, range=(lo, hi))
    centres = 0.5 * (edges[:-1] + edges[1:])
    w0 = np.cumsum(hist)
    w1 = w0[-1] - w0
    m0 = np.cumsum(hist * centres)
    mu0 = m0 / np.maximum(w0, 1)
    mu1 = (m0[-1] - m0) / np.maximum(w1, 1)
    between = (w0 * w1 * (mu0 - mu1) ** 2)[:-1]
    # an empty gap between the modes gives a plateau of equal maxima: take its middle
    best = np.flatnonzero(between >= between.max() * (1 - 1e-9))
    return float(0.5 * (centres[best[0]] + centres[best[-1]]))


def segment(image: np.ndarray, smooth_px: float, min_area_px: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Foreground mask and region labels of an overview.

    Args:
        image: (ny, nx) finite intensities (bright = more material, as HAADF/BSE).
        smooth_px: Gaussian sigma applied before thresholding (pixels).
        min_area_px: regions smaller than this are removed as noise.

    Returns:
        ``(mask (ny, nx) bool, labels (ny, nx) int32, n_regions)``.
    """
    smooth = ndimage.gaussian_filter(np.asarray(image, dtype=np.float64), smooth_px, mode="nearest")
    mask = smooth > otsu_threshold(smooth)
    mask = ndimage.binary_opening(mask, iterations=1)
    mask = ndimage.binary_fill_holes(mask)
    labels, n = ndimage.label(mask)
    if n:
        areas = ndimage.sum_labels(np.ones_like(labels), labels, index=np.arange(1, n + 1))
        keep = np.flatnonzero(areas >= min_area_px) + 1
        lut = np.zeros(n + 1, dtype=np.int32)
        lut[keep] = np.arange(1, keep.size + 1)
        labels = lut[labels]
        n = int(keep.size)
        mask = labels > 0
    return mask, labels.astype(np.int32), n


def _region_table(labels: np.ndarray, n: int, norm_image: np.ndarray, pixel_nm: np.ndarray) -> dict[str, np.ndarray]:
    """Per-region geometry (index 0 = background, unused): centroid, axes, size, solidity, intensity."""
    cy = np.zeros(n + 1)
    cx = np.zeros(n + 1)
    major = np.ones((n + 1, 2))   # unit vector of the major axis (y, x) in nm space
    half_len = np.ones(n + 1)
    half_wid = np.ones(n + 1)
    diameter = np.zeros(n + 1)
    elong = np.ones(n + 1)
    solidity = np.ones(n + 1)
    intensity = np.zeros(n + 1)
    objects = ndimage.find_objects(labels)
    for k, sl in enumerate(objects, start=1):
        if sl is None:
            continue
        sub = labels[sl] == k
        yy, xx = np.nonzero(sub)
        py = (yy + sl[0].start) * pixel_nm[0]
        px = (xx + sl[1].start) * pixel_nm[1]
        cy[k], cx[k] = py.mean(), px.mean()
        pts = np.stack([py - cy[k], px - cx[k]], axis=1)
        cov = pts.T @ pts / max(len(pts), 1) + 1e-9 * np.eye(2)
        evals, evecs = np.linalg.eigh(cov)
        major[k] = evecs[:, 1]
        along = pts @ evecs[:, 1]
        across = pts @ evecs[:, 0]
        half_len[k] = max(float(np.abs(along).max()), 0.5 * pixel_nm.mean())
        half_wid[k] = max(float(np.abs(across).max()), 0.5 * pixel_nm.mean())
        area_nm2 = len(pts) * pixel_nm[0] * pixel_nm[1]
        diameter[k] = 2.0 * np.sqrt(area_nm2 / np.pi)
        elong[k] = float(np.sqrt(evals[1] / max(evals[0], 1e-12)))
        solidity[k] = _solidity(pts, area_nm2, pixel_nm)
        intensity[k] = float(norm_image[sl][sub].mean())
    return {"cy": cy, "cx": cx, "major": major, "half_len": half_len, "half_wid": half_wid,
            "diameter": diameter, "elong": elong, "solidity": solidity, "intensity": intensity}


def _solidity(pts: np.ndarray, area_nm2: float, pixel_nm: np.ndarray) -> float:
    """Area over convex-hull area of a region's pixel centres (pixel corners approximated)."""
    from scipy.spatial import ConvexHull, QhullError

    if len(pts) < 4:
        return 1.0
    try:
        hull = ConvexHull(pts)
    except QhullError:
        return 1.0
    # hull of pixel centres misses half a pixel all round: add perimeter * half pixel
    hull_area = hull.volume + hull.area * 0.5 * float(pixel_nm.mean()) + float(pixel_nm.mean()) ** 2
    return float(np.clip(area_nm2 / hull_area, 0.0, 1.0))


def structure_features(
    image: np.ndarray,
    yx_px: np.ndarray,
    pixel_m: tuple[float, float],
    smooth_nm: float = 1.0,
    min_area_nm2: float = 20.0,
    max_regions: int = 200,
) -> StructureFeatures:
    """Descriptors of every candidate (see the module docstring).

    Args:
        image: (ny, nx) overview, finite (bright = material).
        yx_px: (n, 2) integer overview pixels of the candidates.
        pixel_m: (y, x) pixel size in metres.
        smooth_nm: Gaussian sigma before thresholding, nm.
        min_area_nm2: regions smaller than this are noise, nm^2.
        max_regions: above this many regions only the nearest ``max_regions`` by count of pixels
            are kept for the neighbour distances (memory: one distance map per region).

    Returns:
        :class:`StructureFeatures` with ``values`` (n, len(FEATURE_NAMES)) float64.
    """
    img = np.asarray(image, dtype=np.float64)
    if img.ndim != 2 or not np.all(np.isfinite(img)):
        raise StructureError("structure_features: the overview must be a finite 2-D image")
    yx = np.asarray(yx_px, dtype=np.int64)
    if yx.ndim != 2 or yx.shape[1] != 2:
        raise StructureError(f"structure_features: yx_px must be (n, 2) pixels, got {yx.shape}")
    pixel_nm = np.abs(np.asarray(pixel_m, dtype=np.float64)) * 1e9
    if not np.all(np.isfinite(pixel_nm)) or np.any(pixel_nm <= 0):
        pixel_nm = np.ones(2)  # uncalibrated overview: lengths in pixels
    ny, nx = img.shape
    med = float(np.median(img))
    spread = float(np.percentile(img, 99) - np.percentile(img, 1)) or 1.0
    norm = (img - med) / spread
    smooth_px = max(smooth_nm / float(pixel_nm.mean()), 0.5)
    min_area_px = max(int(round(min_area_nm2 / float(pixel_nm[0] * pixel_nm[1]))), 4)
    mask, labels, n = segment(img, smooth_px, min_area_px)
    frac = mask.mean()
    iy, ix = yx[:, 0], yx[:, 1]
    cols: dict[str, np.ndarray] = {
        "y": (iy + 0.5) / ny,
        "x": (ix + 0.5) / nx,
    }
    sampling = (float(pixel_nm[0]), float(pixel_nm[1]))
    if n == 0 or frac > 0.95:
        log.info("structure features: no usable segmentation (%d regions, foreground %.2f)", n, frac)
        zeros = np.zeros(len(yx))
        for name in FEATURE_NAMES[2:]:
            cols[name] = zeros
        cols["second_distance_nm"] = zeros + _FAR_NM
        cols["third_distance_nm"] = zeros + _FAR_NM
    else:
        d_out, nearest = ndimage.distance_transform_edt(~mask, sampling=sampling, return_indices=True)
        d_in, nearest_bg = ndimage.distance_transform_edt(mask, sampling=sampling, return_indices=True)
        inside = mask[iy, ix]
        signed = np.where(inside, -d_in[iy, ix], d_out[iy, ix])
        # nearest region: the one containing the point, else the one owning the nearest foreground pixel
        region = np.where(inside, labels[iy, ix], labels[nearest[0][iy, ix], nearest[1][iy, ix]])
        # nearest outline point: inside -> the nearest background pixel's neighbour; outside -> nearest foreground
        oy = np.where(inside, nearest_bg[0][iy, ix], nearest[0][iy, ix])
        ox = np.where(inside, nearest_bg[1][iy, ix], nearest[1][iy, ix])
        table = _region_table(labels, n, norm, pixel_nm)
        py, px = iy * pixel_nm[0], ix * pixel_nm[1]
        rel = np.stack([py - table["cy"][region], px - table["cx"][region]], axis=1)
        maj = table["major"][region]
        along = np.abs((rel * maj).sum(1)) / table["half_len"][region]
        across = np.abs(rel[:, 0] * maj[:, 1] - rel[:, 1] * maj[:, 0]) / table["half_wid"][region]
        r_px = max(3.0 / float(pixel_nm.mean()), 2.0)
        rr = int(np.ceil(r_px))
        gy, gx = np.mgrid[-rr:rr + 1, -rr:rr + 1]
        disk = ((gy ** 2 + gx ** 2) <= r_px ** 2).astype(np.float64)
        convex = ndimage.convolve(mask.astype(np.float64), disk / disk.sum(), mode="nearest")
        cols.update({
            "signed_distance_nm": signed,
            "log_abs_distance_nm": np.sign(signed) * np.log1p(np.abs(signed)),
            "region_diameter_nm": table["diameter"][region],
            "region_elongation": table["elong"][region],
            "region_solidity": table["solidity"][region],
            "region_intensity": table["intensity"][region],
            "along_major": np.minimum(along, 3.0),
            "across_minor": np.minimum(across, 3.0),
            "outline_convexity": convex[oy, ox],
        })
        cols.update(_neighbours(labels, n, yx, sampling, max_regions, table))
    for k, s in enumerate(CONTEXT_SCALES_NM):
        # at least 1, 2, 4, 8 px: on coarse pixels (recorded maps at tens of nm to um per pixel)
        # the nanometre scales would vanish below one pixel
        sig = (max(s / pixel_nm[0], 2.0**k), max(s / pixel_nm[1], 2.0**k))
        cols[f"intensity_s{int(s)}nm"] = ndimage.gaussian_filter(norm, sig, mode="reflect")[iy, ix]
        cols[f"foreground_s{int(s)}nm"] = ndimage.gaussian_filter(mask.astype(np.float64), sig, mode="reflect")[iy, ix]
    values = np.stack([np.asarray(cols[name], dtype=np.float64) for name in FEATURE_NAMES], axis=1)
    values = np.where(np.isfinite(values), values, 0.0)
    return StructureFeatures(values=values, names=FEATURE_NAMES, mask=mask, labels=labels,
                             n_regions=n, pixel_nm=(float(pixel_nm[0]), float(pixel_nm[1])))


def _neighbours(labels: np.ndarray, n: int, yx: np.ndarray, sampling: tuple[float, float],
               max_regions: int, table: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Neighbour descriptors of each candidate: distance (nm) to its 2nd and 3rd nearest region
    (0 inside a region), the 2nd region's size/shape/intensity, and proximity sums
    ``sum_k exp(-d_k / l)`` over all regions (fields of neighbours add up)."""
    iy, ix = yx[:, 0], yx[:, 1]
    ks = np.arange(1, n + 1)
    if n > max_regions:
        areas = ndimage.sum_labels(np.ones_like(labels), labels, index=ks)
        ks = ks[np.argsort(-areas)[:max_regions]]
    dist = np.full((len(ks), len(yx)), _FAR_NM)
    for j, k in enumerate(ks):
        dist[j] = np.minimum(ndimage.distance_transform_edt(labels != k, sampling=sampling)[iy, ix], _FAR_NM)
    order = np.argsort(dist, axis=0, kind="stable")
    ranked = np.take_along_axis(dist, order, axis=0)
    far = np.full(len(yx), _FAR_NM)
    out = {
        "second_distance_nm": ranked[1] if len(ks) > 1 else far,
        "third_distance_nm": ranked[2] if len(ks) > 2 else far,
    }
    second = ks[order[1]] if len(ks) > 1 else np.zeros(len(yx), dtype=np.int64)
    for name, key in (("second_diameter_nm", "diameter"), ("second_elongation", "elong"),
                      ("second_solidity", "solidity"), ("second_intensity", "intensity")):
        out[name] = table[key][second] if len(ks) > 1 else np.zeros(len(yx))
    pixel = float(np.mean(sampling))
    for level, l in enumerate((4, 8, 16)):
        # at least 2, 4, 8 px, for the same reason as the context scales
        out[f"proximity_l{l}nm"] = np.exp(-dist / max(l, 2.0 ** (level + 1) * pixel)).sum(axis=0)
    return out
