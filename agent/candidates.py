"""Candidate probe positions on a grid over the overview, with an image patch around each.

Index <-> pixel <-> metre mapping (all exact, no rounding drift):

* candidate ``i`` sits at grid ``(row, col) = divmod(i, cols)``;
* its overview pixel is ``(margin_y + row * stride, margin_x + col * stride)`` (integer pixel
  indices, pixel centres);
* its position in metres is the overview frame's calibrated value of that pixel
  (``axis.values[px]``: pixel centres), and its fraction of the frame is ``(px + 0.5) / n_px``.

The patch of candidate ``i`` covers rows ``[py - window // 2, py - window // 2 + window)`` (same for
columns): centred for odd windows, one pixel more above/left of centre for even windows. Pixels
outside the overview are filled by reflection, so any margin >= 0 is valid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from drivers.errors import ConfigurationError
from drivers.frames import Axis, Frame

__all__ = ["CandidateSet", "CandidateConfigError", "make_candidates", "normalise_image"]


class CandidateConfigError(ConfigurationError):
    """The candidate grid settings (stride, margin, window) do not fit the overview."""


@dataclass(frozen=True, eq=False)
class CandidateSet:
    """The candidate grid.

    Args:
        yx_px: (n, 2) int64 overview pixel (row, col) of each candidate.
        yx_m: (n, 2) float64 position in metres (overview calibration, pixel centres).
        yx_frac: (n, 2) float64 fraction of the overview frame, in (0, 1).
        patches: (n, window, window) float32 normalised image patches.
        grid_shape: (rows, cols); candidate index = row * cols + col.
        frame_id: the overview frame the positions refer to.
        image_shape: (ny, nx) of the overview.
        window: patch side in pixels.
        stride: grid pitch in pixels.
        margin: (margin_y, margin_x) pixel offset of the first candidate.
        image: (ny, nx) float32 the overview as acquired (not normalised): what whole-image
            structure descriptors are computed from.
        pixel_m: (y, x) overview pixel size in metres; NaN when the overview is not calibrated in
            metres.
    """

    yx_px: np.ndarray
    yx_m: np.ndarray
    yx_frac: np.ndarray
    patches: np.ndarray
    grid_shape: tuple[int, int]
    frame_id: str
    image_shape: tuple[int, int]
    window: int
    stride: int
    margin: tuple[int, int]
    image: np.ndarray
    pixel_m: tuple[float, float]

    @property
    def n(self) -> int:
        return int(self.yx_px.shape[0])

    @property
    def coords01(self) -> np.ndarray:
        """(n, 2) float64 positions scaled to [0, 1] over the grid (inputs of a coordinate GP)."""
        return self.yx_frac.copy()

    def index_of_pixel(self, yx_px: tuple[int, int]) -> int:
        """Candidate index at an overview pixel; ``CandidateConfigError`` if none sits there."""
        py, px = int(yx_px[0]), int(yx_px[1])
        row, rem_r = divmod(py - self.margin[0], self.stride)
        col, rem_c = divmod(px - self.margin[1], self.stride)
        rows, cols = self.grid_shape
        if rem_r or rem_c or not (0 <= row < rows and 0 <= col < cols):
            raise CandidateConfigError(f"no candidate at overview pixel {(py, px)}")
        return row * cols + col

    def nearest_index(self, yx_m: tuple[float, float], metres_per_px: tuple[float, float],
                      origin_m: tuple[float, float]) -> int:
        """Candidate nearest to a position in metres (used when a user forces a point)."""
        py = (yx_m[0] - origin_m[0]) / metres_per_px[0]
        px = (yx_m[1] - origin_m[1]) / metres_per_px[1]
        d2 = (self.yx_px[:, 0] - py) ** 2 + (self.yx_px[:, 1] - px) ** 2
        return int(np.argmin(d2))

    def as_map(self, values: np.ndarray) -> np.ndarray:
        """Reshape per-candidate values (n,) into the (rows, cols) grid."""
        values = np.asarray(values)
        if values.shape[0] != self.n:
            raise ValueError(f"as_map: expected {self.n} values, got {values.shape[0]}")
        return values.reshape(self.grid_shape + values.shape[1:])


def normalise_image(image: np.ndarray, how: str = "zscore") -> np.ndarray:
    """Normalise an overview before patching. ``how``: ``"zscore"``, ``"minmax"`` or ``"none"``.

    Returns float32 of the same shape. A constant image maps to zeros (no division by zero).
    """
    img = np.asarray(image, dtype=np.float64)
    if how == "none":
        return img.astype(np.float32)
    if how == "zscore":
        sd = img.std()
        out = (img - img.mean()) / sd if sd > 0 else np.zeros_like(img)
    elif how == "minmax":
        lo, hi = img.min(), img.max()
        out = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
    else:
        raise CandidateConfigError(
            f"candidates.normalise={how!r} is not known; use 'zscore', 'minmax' or 'none'"
        )
    return out.astype(np.float32)


def _axis_counts(size: int, margin: int, stride: int, name: str) -> int:
    if margin < 0:
        raise CandidateConfigError(f"candidates.margin_px={margin} must be >= 0")
    span = size - 2 * margin
    if span <= 0:
        raise CandidateConfigError(
            f"candidates.margin_px={margin} leaves no room on the overview {name} axis of {size} px; "
            f"use a margin below {size // 2}"
        )
    return (span - 1) // stride + 1


def make_candidates(
    overview: Frame,
    window_px: int = 16,
    stride_px: int = 4,
    margin_px: int | tuple[int, int] | None = None,
    normalise: str = "zscore",
) -> CandidateSet:
    """Build the candidate grid and its patches from an overview frame.

    Args:
        overview: (ny, nx) image frame with two spatial axes (metres, pixel centres).
        window_px: patch side (odd or even), >= 1.
        stride_px: grid pitch in pixels, >= 1.
        margin_px: offset of the first candidate from the image edge; default ``window_px // 2``
            so patches stay inside the image. An int or (margin_y, margin_x).
        normalise: how the overview is normalised before patching (see :func:`normalise_image`).
    """
    if overview.data.ndim != 2:
        raise CandidateConfigError(f"overview must be 2-D, got shape {overview.data.shape}")
    if int(window_px) < 1:
        raise CandidateConfigError(f"candidates.window_px={window_px} must be >= 1")
    if int(stride_px) < 1:
        raise CandidateConfigError(f"candidates.stride_px={stride_px} must be >= 1")
    window, stride = int(window_px), int(stride_px)
    ny, nx = overview.data.shape
    if margin_px is None:
        margin = (window // 2, window // 2)
    elif isinstance(margin_px, (int, np.integer)):
        margin = (int(margin_px), int(margin_px))
    else:
        margin = (int(margin_px[0]), int(margin_px[1]))
    rows = _axis_counts(ny, margin[0], stride, "y")
    cols = _axis_counts(nx, margin[1], stride, "x")

    r, c = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    yx_px = np.stack([margin[0] + r.ravel() * stride, margin[1] + c.ravel() * stride], axis=1)
    yx_px = yx_px.astype(np.int64)
    ax_y, ax_x = overview.axes
    yx_m = np.stack([ax_y.values[yx_px[:, 0]], ax_x.values[yx_px[:, 1]]], axis=1)
    yx_frac = (yx_px + 0.5) / np.array([ny, nx], dtype=np.float64)

    img = normalise_image(overview.data, normalise)
    lo = window // 2
    pad = window  # enough on every side for any candidate inside the image
    padded = np.pad(img, pad, mode="reflect")
    # Sliding windows over the padded image; index [top-left row, top-left col].
    views = np.lib.stride_tricks.sliding_window_view(padded, (window, window))
    top = yx_px[:, 0] - lo + pad
    left = yx_px[:, 1] - lo + pad
    patches = np.ascontiguousarray(views[top, left], dtype=np.float32)

    return CandidateSet(
        yx_px=yx_px,
        yx_m=yx_m,
        yx_frac=yx_frac,
        patches=patches,
        grid_shape=(rows, cols),
        frame_id=overview.frame_id,
        image_shape=(ny, nx),
        window=window,
        stride=stride,
        margin=margin,
        image=np.asarray(overview.data, dtype=np.float32),
        pixel_m=(_pixel_m(ax_y), _pixel_m(ax_x)),
    )


def _pixel_m(axis: Axis) -> float:
    """Pixel pitch of a spatial axis in metres (NaN when it is not calibrated in metres)."""
    return abs(axis.scale) if axis.units == "m" and axis.size > 1 else float("nan")
