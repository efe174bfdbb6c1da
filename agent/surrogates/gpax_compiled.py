"""The compiled gpax ``viDKL`` machinery behind :class:`.gpax_vidkl.GpaxViDKL`.

:class:`Compiled` holds one model, guide and SVI per input size (the pieces of :mod:`.gpax_model`)
with the jitted functions every fit and prediction reuse (state set-up, the SVI loop, parameter
extraction, Cholesky factor, batch prediction, joint draws); :func:`bucket_size` pads growing
training sets to a few sizes so they rarely recompile.
The design and its measured effects are described in :mod:`.gpax_vidkl`.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Protocol

import numpy as np
from scipy.linalg import solve_triangular

from policies.posterior import JointSampler

from .errors import GpaxFitError, SurrogateInputError
from .gpax_model import fast_marginal_model, import_stack, masked_kernel
from .sampling import check_sampler_args
from .standardize import TargetScaler

__all__ = ["Compiled", "GpaxSettings", "bucket_size"]

logger = logging.getLogger("agent.surrogates.gpax_vidkl")

_LOC = "_auto_loc"
#: extra diagonal jitter tried, in order, when the training kernel's Cholesky factor fails.
_JITTERS = (0.0, 1e-5, 1e-4, 1e-3)


class GpaxSettings(Protocol):
    """The settings of :class:`.gpax_vidkl.GpaxViDKL` a :class:`Compiled` is built from."""

    z_dim: int
    kernel: str
    noise_floor: float
    step_size_init: float
    step_size_warm: float


def bucket_size(n: int, min_bucket: int, growth: float) -> int:
    """Padded size for ``n`` training points: ``min_bucket`` grown by ``growth`` (rounded up to a
    multiple of 16) until it holds ``n``; ``growth == 1.0`` means no padding (returns ``n``)."""
    if n < 1:
        raise SurrogateInputError(f"bucket_size: n={n} must be >= 1")
    if growth == 1.0:
        return int(n)
    b = int(min_bucket)
    while b < n:
        b = max(b + 16, int(math.ceil(b * growth / 16.0)) * 16)
    return b


class Compiled:
    """The gpax model, its SVI objects and the jitted functions every fit reuses.

    One instance per (input_dim, settings). Apart from the very first SVI initialisation (eager: it
    sets up NumPyro's guide), a fit only calls jitted functions, so after ``jax.clear_caches()`` a
    fit recompiles a handful of executables and no eager operations.
    """

    def __init__(self, owner: GpaxSettings, input_dim: int) -> None:
        s = import_stack()
        self.s = s
        jax, jnp, numpyro = s["jax"], s["jnp"], s["numpyro"]
        self.input_dim = int(input_dim)
        model = s["gpax"].viDKL(self.input_dim, owner.z_dim, kernel=owner.kernel, guide="delta")
        self.base_kernel = model.kernel
        model.kernel = masked_kernel(model.kernel, owner.noise_floor)
        self.model = model
        self.model_fn = fast_marginal_model(model.model)
        self.guide = s["AutoDelta"](self.model_fn)
        self.initialised = False

        def make_svi(step_size: float) -> Any:
            # b1=0.5 as gpax's own single_fit.
            return s["SVI"](self.model_fn, self.guide, numpyro.optim.Adam(step_size=step_size, b1=0.5),
                            s["Trace_ELBO"]())

        self.svi_init = make_svi(owner.step_size_init)
        self.svi_warm = (self.svi_init if owner.step_size_warm == owner.step_size_init
                         else make_svi(owner.step_size_warm))
        apply = model.nn_module.apply
        base = self.base_kernel
        key0 = jax.random.PRNGKey(0)
        floor = float(owner.noise_floor)
        get_haiku_dict = s["get_haiku_dict"]

        def key_of(seed, salt):
            return jax.random.fold_in(jax.random.PRNGKey(seed), salt)

        def make_fns(svi):
            def state_from(seed, salt, X, y, mask, locs):
                return svi.init(key_of(seed, salt), X, y, mask=mask, init_params=locs)

            # fori_loop with a traced trip count: one executable per bucket for any num_steps.
            def run(state, X, y, mask, num_steps):
                def body(_, carry):
                    return svi.update(carry[0], X, y, mask=mask)

                first = svi.update(state, X, y, mask=mask)
                return jax.lax.fori_loop(1, num_steps, body, first)

            def params_of(state):
                params = svi.get_params(state)
                locs = {k: v for k, v in params.items() if k.endswith(_LOC)}
                return locs, *split_locs(locs)

            return {"state_from": jax.jit(state_from), "run": jax.jit(run),
                    "params_of": jax.jit(params_of)}

        def split_locs(locs):
            point = {k[: -len(_LOC)]: v for k, v in locs.items()}
            nn_params = get_haiku_dict(point)
            kp = {k: point[k] for k in ("k_length", "k_scale", "noise")}
            return nn_params, kp

        self.fns_init = make_fns(self.svi_init)
        self.fns_warm = self.fns_init if self.svi_warm is self.svi_init else make_fns(self.svi_warm)
        self.split_locs = jax.jit(split_locs)

        def restart_locs(seed, salt, X, y, mask):
            # NumPyro's init_to_median with a new key: the median of 15 prior draws per site.
            handlers = numpyro.handlers

            def draw(k):
                tr = handlers.trace(handlers.seed(self.model_fn, k)).get_trace(X, y, mask=mask)
                return {name: site["value"] for name, site in tr.items()
                        if site["type"] == "sample" and not site["is_observed"]}

            draws = jax.vmap(draw)(jax.random.split(key_of(seed, salt), 15))
            return {name + _LOC: jnp.median(v, axis=0) for name, v in draws.items()}

        self.restart_locs = jax.jit(restart_locs)

        def factor(nn_params, kp, X, y, mask, jitter):
            z = apply(nn_params, key0, X)
            k = base(z, z, kp, kp["noise"] + floor + jitter, 1e-6)
            k = k * mask[:, None] * mask[None, :] + jnp.diag(1.0 - mask)
            chol = jnp.linalg.cholesky(k)
            alpha = jax.scipy.linalg.cho_solve((chol, True), y)
            return z, chol, alpha

        def predict(nn_params, kp, z_train, chol, alpha, mask, Xb):
            zb = apply(nn_params, key0, Xb)
            # noise = jitter = 0: gpax adds (noise + jitter) * I only to square matrices.
            kb = base(zb, z_train, kp, 0.0, 0.0) * mask[None, :]
            mean = kb @ alpha
            v = jax.scipy.linalg.solve_triangular(chol, kb.T, lower=True)
            prior = jax.vmap(lambda zi: base(zi[None, :], zi[None, :], kp, 0.0, 0.0)[0, 0])(zb)
            var = jnp.maximum(prior - jnp.sum(v * v, axis=0), 0.0)
            return mean, var, zb

        self.factor = jax.jit(factor)
        self.predict = jax.jit(predict)

    def first_state(self, seed: int, salt: int, X: Any, y: Any, mask: Any) -> Any:
        """An SVI state from NumPyro's own initialisation; the first call (eager, seconds of
        op-by-op compilation in a fresh process) sets up the guide the jitted functions need."""
        jax = self.s["jax"]
        key = jax.random.fold_in(jax.random.PRNGKey(seed), salt)
        state = self.svi_init.init(key, X, y, mask=mask)
        self.initialised = True
        return state

    def padded(self, Xf: np.ndarray, y_std: np.ndarray, bucket: int, np_dtype: Any) -> tuple[Any, Any, Any]:
        """Zero-padded inputs (bucket, d), targets (bucket,) and mask (bucket,) {0, 1}, ``np_dtype``."""
        jnp = self.s["jnp"]
        n, d = Xf.shape
        Xp = np.zeros((bucket, d), dtype=np_dtype)
        Xp[:n] = Xf
        yp = np.zeros(bucket, dtype=np_dtype)
        yp[:n] = y_std
        mask = np.zeros(bucket, dtype=np_dtype)
        mask[:n] = 1.0
        return jnp.asarray(Xp), jnp.asarray(yp), jnp.asarray(mask)

    def run(self, from_scratch: bool, seed_int: int, n_fits: int, params: Any, steps: int, Xj: Any, yj: Any,
            mj: Any) -> tuple[dict[str, Any], float, Any, Any, bool]:
        """``steps`` SVI steps from a fresh initialisation (seeded by ``seed_int``) or from ``params``.

        Returns (guide locations, last loss, haiku params, kernel params, all finite).
        """
        comp = self
        fns = comp.fns_init if from_scratch else comp.fns_warm
        seed = np.uint32(seed_int)
        if not comp.initialised:
            comp.first_state(int(seed), 0, Xj, yj, mj)  # eager, once: sets NumPyro's guide up
        if from_scratch:
            # A pure function of (seed, data): a from-scratch fit is reproducible.
            locs0 = comp.restart_locs(seed, np.uint32(0), Xj, yj, mj)
            state = fns["state_from"](seed, np.uint32(0), Xj, yj, mj, locs0)
        else:
            state = fns["state_from"](seed, np.uint32(n_fits), Xj, yj, mj, params)
        state, last_loss = fns["run"](state, Xj, yj, mj, np.int32(steps))
        locs, nn_params, kp = fns["params_of"](state)
        loss = float(np.asarray(last_loss))
        finite = math.isfinite(loss) and all(bool(np.all(np.isfinite(np.asarray(v)))) for v in locs.values())
        return locs, loss, nn_params, kp, finite

    def factors(self, nn_params: Any, kp: Any, Xj: Any, yj: Any, mj: Any, np_dtype: Any) -> tuple[Any, ...]:
        """(z_train, chol, alpha, mask, nn_params, kernel params) of a fit: the training Cholesky
        factor, with extra jitter only when it fails; GpaxFitError when even 1e-3 is not enough."""
        for jitter in _JITTERS:
            z, chol, alpha = self.factor(nn_params, kp, Xj, yj, mj, np_dtype(jitter))
            if bool(np.all(np.isfinite(np.asarray(chol)))):
                if jitter:
                    logger.warning("gpax viDKL: Cholesky needed an extra jitter of %g", jitter)
                return z, chol, alpha, mj, nn_params, kp
        raise GpaxFitError("GpaxViDKL: the training kernel is not positive definite even with jitter 1e-3")

    def predict_all(self, factors: tuple[Any, ...], Xp: np.ndarray, np_dtype: Any,
                    batch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Standardised mean (m,), variance (m,) and latent (m, z_dim) float64 of patches ``Xp``
        (m, h, w) from the fit's ``factors``, in padded batches of ``batch`` rows."""
        comp = self
        jnp = comp.s["jnp"]
        z_train, chol, alpha, mask, nn_params, kp = factors
        m = int(Xp.shape[0])
        flat = Xp.reshape(m, -1).astype(np_dtype, copy=False)
        # Fixed batch shapes (padded): a new m (the training set in the health check) reuses the
        # executable of its bucket instead of compiling again.
        b = batch
        means, variances, latents = [], [], []
        for start in range(0, m, b):
            chunk = flat[start:start + b]
            k = chunk.shape[0]
            if k < b:
                chunk = np.concatenate([chunk, np.zeros((b - k, chunk.shape[1]), np_dtype)])
            mean, var, zb = comp.predict(nn_params, kp, z_train, chol, alpha, mask, jnp.asarray(chunk))
            means.append(np.asarray(mean, dtype=np.float64)[:k])
            variances.append(np.asarray(var, dtype=np.float64)[:k])
            latents.append(np.asarray(zb, dtype=np.float64)[:k])
        return np.concatenate(means), np.concatenate(variances), np.concatenate(latents)

    def joint_sampler(self, factors: tuple[Any, ...], latent: np.ndarray, scaler: TargetScaler,
                      np_dtype: Any) -> JointSampler:
        """Joint draws of f (reward units) at chosen rows of ``latent`` (m, z_dim) from the fit's
        ``factors`` (only a k x k covariance is formed)."""
        comp = self
        z_train, chol, alpha, mask, _, kp = factors
        base, jnp, jax = comp.base_kernel, comp.s["jnp"], comp.s["jax"]
        x64, dtype = np_dtype is np.float64, np_dtype
        chol64 = np.asarray(chol, dtype=np.float64)
        alpha64 = np.asarray(alpha, dtype=np.float64)
        mask64 = np.asarray(mask, dtype=np.float64)
        ztr = np.asarray(z_train)
        m = int(latent.shape[0])

        def sampler(indices: np.ndarray, n_samples: int, rng: np.random.Generator) -> np.ndarray:
            idx = check_sampler_args(indices, n_samples, rng, m)
            with jax.enable_x64(x64):
                zi = jnp.asarray(latent[idx].astype(dtype))
                k_cross = np.asarray(base(zi, jnp.asarray(ztr), kp, 0.0, 0.0), dtype=np.float64) * mask64
                k_self = np.asarray(base(zi, zi, kp, 0.0, 0.0), dtype=np.float64)
            mean = k_cross @ alpha64
            v = solve_triangular(chol64, k_cross.T, lower=True)
            cov = k_self - v.T @ v
            cov = 0.5 * (cov + cov.T)
            scale = max(float(np.max(np.abs(np.diag(cov)))), 1e-12)
            for rel in (1e-9, 1e-7, 1e-5, 1e-3):
                try:
                    lc = np.linalg.cholesky(cov + rel * scale * np.eye(len(idx)))
                    break
                except np.linalg.LinAlgError:
                    continue
            else:
                w, q = np.linalg.eigh(cov)
                lc = q * np.sqrt(np.clip(w, 0.0, None))
            draws = mean + rng.standard_normal((int(n_samples), len(idx))) @ lc.T
            return scaler.untransform_mean(draws)

        return sampler
