"""The gpax ``viDKL`` model pieces :class:`.gpax_compiled.Compiled` drives (imported lazily).

:func:`import_stack` imports gpax, jax and numpyro on first use (:class:`GpaxUnavailable` when they
cannot be); :func:`masked_kernel` detaches zero-padded training rows; :func:`fast_marginal_model`
scores the observed site with a closed-form-gradient GP marginal; :func:`in_precision` runs a
method inside ``jax.enable_x64`` for the surrogate's own calls only.
"""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Callable
from typing import Any

from .errors import SurrogateError

__all__ = ["GpaxUnavailable", "fast_marginal_model", "import_stack", "in_precision", "masked_kernel"]


class GpaxUnavailable(SurrogateError, ImportError):
    """gpax (with jax==0.9.2, jaxlib==0.9.2, numpyro==0.20.0) cannot be imported."""


def import_stack() -> dict[str, Any]:
    """gpax and the pieces of jax/numpyro this class drives, imported on first use."""
    try:
        import gpax
        import jax
        import jax.numpy as jnp
        import numpyro
        from gpax.utils import get_haiku_dict
        from numpyro.infer import SVI, Trace_ELBO
        from numpyro.infer.autoguide import AutoDelta
    except Exception as exc:  # noqa: BLE001 - any import failure means the backend is unusable
        raise GpaxUnavailable(
            "GpaxViDKL needs gpax 0.1.9 with jax==0.9.2, jaxlib==0.9.2 and numpyro==0.20.0 "
            f"({type(exc).__name__}: {exc}); install them or choose surrogate=dkl"
        ) from exc
    return {
        "gpax": gpax,
        "jax": jax,
        "jnp": jnp,
        "numpyro": numpyro,
        "SVI": SVI,
        "Trace_ELBO": Trace_ELBO,
        "AutoDelta": AutoDelta,
        "get_haiku_dict": get_haiku_dict,
    }


def masked_kernel(base: Callable[..., Any], noise_floor: float) -> Callable[..., Any]:
    """Wrap a gpax kernel so that a ``mask`` keyword (n,) {0, 1} detaches padded rows.

    For the square training kernel, ``K * m m^T + diag(1 - m) + noise_floor * diag(m)``: padded rows
    become independent unit-variance points, uncorrelated with the real ones, and the real rows get
    a noise floor (Cholesky factors of a nearly noise-free, collapsed kernel fail). Without ``mask`` it
    is ``base`` itself.
    """

    def kernel(X, Z, params, noise=0.0, jitter=1e-6, mask=None, **kwargs):
        k = base(X, Z, params, noise, jitter, **kwargs)
        if mask is None:
            return k
        import jax.numpy as jnp

        return k * mask[:, None] * mask[None, :] + jnp.diag(1.0 - mask + noise_floor * mask)

    return kernel


def fast_marginal_model(model_fn: Callable[..., Any]) -> Callable[..., Any]:
    """``model_fn`` with its observed ``"y"`` site scored by a closed-form-gradient GP marginal.

    gpax's model scores ``y`` with ``MultivariateNormal(0, covariance_matrix=K)``; here the same log
    density is computed from one Cholesky factor and differentiated in closed form,
    ``dlogp/dK = (alpha alpha^T - K^-1) / 2`` with ``alpha = K^-1 (y - loc)``, instead of reverse-mode
    autodiff through the factor (about 15 % faster per SVI step at n = 500; the loss is unchanged).
    """
    import jax
    import jax.numpy as jnp
    import numpyro.distributions as dist
    from jax.scipy.linalg import cho_solve, solve_triangular
    from numpyro.distributions import constraints
    from numpyro.primitives import Messenger

    log_2pi = math.log(2.0 * math.pi)

    def forward(K, r):
        chol = jnp.linalg.cholesky(K)
        alpha = cho_solve((chol, True), r)
        value = -0.5 * r @ alpha - jnp.sum(jnp.log(jnp.diag(chol))) - 0.5 * r.shape[-1] * log_2pi
        return value, (chol, alpha)

    @jax.custom_vjp
    def gp_log_marginal(K, r):
        return forward(K, r)[0]

    def backward(res, g):
        chol, alpha = res
        inv_chol = solve_triangular(chol, jnp.eye(chol.shape[0], dtype=chol.dtype), lower=True)
        return 0.5 * g * (jnp.outer(alpha, alpha) - inv_chol.T @ inv_chol), -g * alpha

    gp_log_marginal.defvjp(forward, backward)

    class GPMarginal(dist.Distribution):
        arg_constraints: dict[str, Any] = {}
        support = constraints.real_vector

        def __init__(self, loc, covariance_matrix):
            self.loc, self.covariance_matrix = loc, covariance_matrix
            super().__init__(batch_shape=(), event_shape=jnp.shape(covariance_matrix)[-1:])

        def log_prob(self, value):
            return gp_log_marginal(self.covariance_matrix, value - self.loc)

    class FastMarginal(Messenger):
        def process_message(self, msg):
            fn = msg.get("fn")
            if (msg["type"] == "sample" and msg["name"] == "y" and msg.get("is_observed")
                    and isinstance(fn, dist.MultivariateNormal) and jnp.ndim(fn.covariance_matrix) == 2):
                msg["fn"] = GPMarginal(fn.loc, fn.covariance_matrix)

    return FastMarginal(model_fn)


def in_precision(method: Callable[..., Any]) -> Callable[..., Any]:
    """Run a method inside ``jax.enable_x64(self.dtype == "float64")`` (scoped, not global)."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        jax: Any = sys.modules.get("jax")
        if jax is None:
            try:
                import jax
            except Exception:  # noqa: BLE001 - the method itself reports the missing backend
                return method(self, *args, **kwargs)
        with jax.enable_x64(self.dtype == "float64"):
            return method(self, *args, **kwargs)

    return wrapper
