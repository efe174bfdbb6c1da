"""Denoising of a recorded cube for the ground truth (scoring only, never for what the agent sees).

Methods (``method=``):

* ``"none"``: the recorded values.
* ``"box"``: ``box_px x box_px`` spatial mean (odd ``box_px``; edges reflected), per channel.
* ``"gaussian"``: spatial Gaussian of ``sigma_px`` pixels (edges reflected), per channel.
* ``"pca"``: keep the first ``n_components`` principal components of the (pixels x channels) matrix,
  centred on the mean spectrum. For counts, the matrix is first Poisson-scaled (Keenan & Kotula
  weighting, as HyperSpy's ``normalize_poissonian_noise``): each value is divided by
  ``sqrt(g_i * h_j)``, ``g`` the per-pixel total over its mean and ``h`` the mean spectrum, which makes
  the noise variance roughly uniform; the reconstruction is scaled back and clipped at 0 (an
  expected count is never negative). Pixels or channels with no counts at all keep weight 1.
"""

from __future__ import annotations

import contextlib

import numpy as np
from scipy import ndimage

from ..errors import InvalidArgument

__all__ = ["DENOISE_METHODS", "check_denoise", "denoise_cube", "pca_reconstruct", "blas_thread_limit"]

DENOISE_METHODS = ("none", "box", "gaussian", "pca")


def blas_thread_limit(threads: int | None) -> contextlib.AbstractContextManager[object]:
    """Context limiting BLAS threads (threadpoolctl, a botorch dependency); ``None``: no limit.

    Measured on the shared 2-core project machine under load: the PCA of the 30x30x1190 cube took
    0.29 s with one OpenBLAS thread and 2.5 s with two.
    """
    if threads is None:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - installed with botorch
        return contextlib.nullcontext()
    return threadpool_limits(limits=int(threads), user_api="blas")


def check_denoise(
    method: str,
    sigma_px: float,
    box_px: int,
    n_components: int,
    shape: tuple[int, int, int] | None = None,
    blas_threads: int | None = 1,
) -> None:
    """Validate denoise settings; ``InvalidArgument`` names the field and the fix."""
    if blas_threads is not None and (int(blas_threads) != blas_threads or blas_threads < 1):
        raise InvalidArgument(f"blas_threads={blas_threads} must be an integer >= 1, or null for the BLAS default")
    if method not in DENOISE_METHODS:
        raise InvalidArgument(f"denoise={method!r} is not known; use one of {list(DENOISE_METHODS)}")
    if method == "gaussian" and not (np.isfinite(sigma_px) and sigma_px > 0):
        raise InvalidArgument(f"sigma_px={sigma_px} must be > 0 (pixels) for denoise='gaussian'")
    if method == "box" and (int(box_px) != box_px or box_px < 1 or box_px % 2 == 0):
        raise InvalidArgument(f"box_px={box_px} must be an odd integer >= 1 (3 = 3x3 mean) for denoise='box'")
    if method == "pca":
        if int(n_components) != n_components or n_components < 1:
            raise InvalidArgument(f"n_components={n_components} must be an integer >= 1 for denoise='pca'")
        if shape is not None:
            limit = min(shape[0] * shape[1], shape[2])
            if n_components > limit:
                raise InvalidArgument(
                    f"n_components={n_components} exceeds min(pixels, channels)={limit} of the "
                    f"recorded cube {shape}; use fewer components"
                )


def pca_reconstruct(matrix: np.ndarray, n_components: int) -> np.ndarray:
    """Rank-``n_components`` reconstruction of ``matrix`` (n, c) float64 around its column mean.

    Uses the eigen-decomposition of the smaller Gram matrix (``c x c`` or ``n x n``).
    """
    mean = matrix.mean(axis=0, keepdims=True)
    centred = matrix - mean
    n, c = centred.shape
    if c <= n:
        _, vecs = np.linalg.eigh(centred.T @ centred)
        basis = vecs[:, ::-1][:, :n_components]  # (c, k) leading spectral components
        recon = (centred @ basis) @ basis.T
    else:
        _, vecs = np.linalg.eigh(centred @ centred.T)
        basis = vecs[:, ::-1][:, :n_components]  # (n, k) leading score directions
        recon = basis @ (basis.T @ centred)
    return recon + mean


def denoise_cube(
    cube: np.ndarray,
    method: str = "box",
    sigma_px: float = 1.0,
    box_px: int = 3,
    n_components: int = 8,
    counts: bool = False,
    blas_threads: int | None = 1,
) -> np.ndarray:
    """Denoise a spectrum image.

    Args:
        cube: (ny, nx, nE) counts (any integer dtype) or float values.
        method: ``"none"``, ``"box"``, ``"gaussian"`` or ``"pca"`` (see the module docstring).
        sigma_px: Gaussian sigma in pixels (``"gaussian"``).
        box_px: odd box side in pixels (``"box"``).
        n_components: components kept (``"pca"``).
        counts: the cube holds Poisson counts (Poisson-scale before PCA; clip at 0).
        blas_threads: BLAS threads for the PCA (``None``: the library default); see
            :func:`blas_thread_limit`.

    Returns:
        (ny, nx, nE) float32, a new array.
    """
    check_denoise(method, sigma_px, box_px, n_components, tuple(cube.shape), blas_threads)
    data = np.asarray(cube, dtype=np.float64)
    if method == "none":
        out = data
    elif method == "box":
        out = ndimage.uniform_filter(data, size=(int(box_px), int(box_px), 1), mode="reflect")
    elif method == "gaussian":
        out = ndimage.gaussian_filter(data, sigma=(float(sigma_px), float(sigma_px), 0.0), mode="reflect")
    else:
        ny, nx, ne = data.shape
        matrix = data.reshape(ny * nx, ne)
        if counts:
            totals = matrix.sum(axis=1)
            g = totals / totals.mean() if totals.mean() > 0 else np.ones_like(totals)
            h = matrix.mean(axis=0)
            weight = np.sqrt(np.outer(g, h))
            weight[weight <= 0] = 1.0
            with blas_thread_limit(blas_threads):
                recon = pca_reconstruct(matrix / weight, int(n_components))
            out = np.clip(recon * weight, 0.0, None)
        else:
            with blas_thread_limit(blas_threads):
                out = pca_reconstruct(matrix, int(n_components))
        out = out.reshape(ny, nx, ne)
    return np.ascontiguousarray(out, dtype=np.float32)
