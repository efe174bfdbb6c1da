"""gpax ``viDKL`` (haiku MLP feature extractor -> exact GP, fitted by NumPyro SVI) as a surrogate.

The model is gpax 0.1.9's own ``viDKL.model`` (same network, priors, kernel and guide); this wrapper
changes how it is driven, fixing what the published reference loop gets wrong (DESIGN.md section 4):

* **targets are standardised** at every fit (the reference fits raw targets with a zero-mean GP);
* **compiled once**: one model, guide and SVI per surrogate; apart from the very first SVI
  initialisation, a fit calls only jitted functions (state set-up, the SVI loop, parameter
  extraction, Cholesky factor, batch prediction). The training set is zero-padded to a few *bucket*
  sizes (``min_bucket`` growing by ``bucket_growth``) and a mask turns the padded rows into
  independent unit-variance points with target 0, which only adds a constant to the ELBO: a growing
  training set recompiles only when it enters a new bucket. (The reference builds a new model at
  every fit and recompiles everything: seconds each.)
* **warm start**: a fit starts from the previous fit's parameters (``init_params`` of NumPyro's
  ``SVI.init``) and runs ``num_steps_warm`` steps; the first fit, and the fit after a collapse or a
  non-finite loss, run the library default of ``num_steps_init`` = 1000 steps at 5e-3 from a fresh
  initialisation (NumPyro's init-to-median with a new key);
* **memory**: ``jax.clear_caches()`` then ``gc.collect()`` when the bucket changes
  (``clear_caches="new_bucket"``; executables of past buckets are never needed again) or after every
  fit (``"always"``). Dropping only this model's jitted executables was not enough: 30-40 MB stayed
  per bucket. The reference, recompiling at every fit, kept 50-100 MB per refit without the clear;
* **cheaper gradients**: the observed site ``y ~ MultivariateNormal(0, K)`` of gpax's model is
  scored by the same log density with a closed-form gradient (:func:`_fast_marginal_model`) instead
  of autodiff through the Cholesky factor: 100 warm steps at n = 500 took 3.2 s instead of 3.8 s;
* **float64** inside this surrogate's calls only (``jax.enable_x64`` as a scoped context, as the
  notebook's global ``enable_x64``): float32 halves the step time but its fits at n = 500 on the
  emulator data went NaN;
* **prediction** computes the *marginal* variance only, in fixed-size batches of candidates, from a
  Cholesky factor of the training kernel computed once per fit (the reference forms the m x m
  predictive covariance: 4.5 GB for 12,769 candidates);
* **health**: the latent spread of the inputs in lengthscale units and the spread of the predicted
  mean (:func:`.health.assess_health`); a collapsed fit makes the next fit start from scratch with a
  new seed.

gpax, jax and numpyro are imported lazily (on the first fit or state load), so this module imports
without them. The XLA CPU thread count is fixed when jax starts (``XLA_FLAGS``), not by this class.
"""

from __future__ import annotations

import gc
import logging
import math
import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from policies.posterior import Posterior

from .errors import GpaxFitError, SurrogateConfigError, SurrogateStateError
from .gpax_compiled import Compiled, bucket_size
from .gpax_model import GpaxUnavailable, in_precision
from .inputs import as_patches, as_targets
from .protocol import HealthReport
from .settings import bool_setting, float_setting, int_setting
from .shell import GPShell
from .standardize import TargetScaler

__all__ = ["GpaxViDKL", "GpaxFitInfo", "GpaxFitError", "GpaxUnavailable", "bucket_size"]

logger = logging.getLogger(__name__)

_KERNELS = ("RBF", "Matern")
_CLEAR = ("new_bucket", "always", "never")
_DTYPES = {"float64": np.float64, "float32": np.float32}


@dataclass(frozen=True)
class GpaxFitInfo:
    """What the last ``fit`` did.

    Args:
        n: number of training points.
        bucket: padded training-set size the compiled functions ran at.
        steps: SVI steps run.
        from_scratch: True when the parameters were (re)initialised before training.
        reinitialised: True when that was a recovery from a collapsed (or non-finite) fit.
        new_bucket: True when this fit entered a bucket not compiled before (expect a compile).
        seed: the initialisation seed of the parameters now in use.
        final_loss: negative ELBO at the last step (standardised units, padded rows included).
        seconds: wall time of the fit (including any compilation and the health check).
        health: health judged on the training inputs at the end of the fit.
    """

    n: int
    bucket: int
    steps: int
    from_scratch: bool
    reinitialised: bool
    new_bucket: bool
    seed: int
    final_loss: float
    seconds: float
    health: HealthReport


class GpaxViDKL(GPShell):
    """gpax 0.1.9 ``viDKL`` on image patches (``input_kind = "patches"``), compiled and warm-started.

    Args:
        z_dim: latent dimension of gpax's MLP (64-64-z_dim).
        kernel: gpax kernel name on the latent space: ``"RBF"`` or ``"Matern"``.
        num_steps_init: SVI steps of a fit from scratch (library default 1000).
        step_size_init: Adam step size of a fit from scratch (library default 5e-3).
        num_steps_warm: SVI steps of a warm-started refit (continues from the last parameters).
        step_size_warm: Adam step size of a warm-started refit (equal step sizes share one
            compiled training loop; different ones compile two).
        warm_start: False re-initialises at every ``fit`` (then every fit runs ``num_steps_init``).
        standardize: standardise the targets per fit (False fits raw targets, as the reference).
        min_bucket: smallest padded training-set size.
        bucket_growth: each bucket is this factor larger than the last (rounded up to a multiple of
            16); 1.0 disables padding (then every new training-set size recompiles).
        predict_batch: candidates per compiled prediction call (the last batch is padded).
        noise_floor: added to the fitted noise variance on the training diagonal, standardised
            units (keeps the Cholesky factors finite).
        dtype: ``"float64"`` (jax's x64 mode inside this surrogate's calls only, as the notebook's
            ``enable_x64``; a float32 Cholesky of a collapsed 500-point kernel went NaN) or
            ``"float32"``.
        clear_caches: when to call ``jax.clear_caches()``: ``"new_bucket"`` (when the padded
            training size changes: compiled executables never accumulate), ``"always"`` (after every
            fit: every fit recompiles) or ``"never"`` (memory grows by tens of MB per bucket).
        gc_collect: run ``gc.collect()`` right after each ``jax.clear_caches()`` (a full collection
            costs ~0.2 s with torch and jax loaded, so it is not run after in-bucket refits, which
            allocate no new executables).
        seed: seed of the parameter initialisation and the SVI keys (a collapse recovery derives new
            seeds from it).
        collapse_fraction: health: collapsed when the median pairwise latent distance is below this
            many kernel lengthscales.
        flat_fraction: health: flat when the std of the predicted mean is below this fraction of the
            training-target std.
        health_max_points: health: at most this many inputs (evenly spaced) enter the pairwise
            distances.

    Units: ``fit`` takes targets in reward units, ``posterior`` returns reward units.
    """

    input_kind: Literal["patches", "coords"] = "patches"
    _state_format = "autoscope.surrogates.GpaxViDKL/1"
    #: settings that fix the parameter structure: a saved state only loads into a surrogate sharing them.
    _structural = ("z_dim", "kernel")
    _label = "gpax viDKL surrogate"

    def __init__(
        self,
        z_dim: int = 2,
        kernel: str = "RBF",
        num_steps_init: int = 1000,
        step_size_init: float = 5e-3,
        num_steps_warm: int = 100,
        step_size_warm: float = 5e-3,
        warm_start: bool = True,
        standardize: bool = True,
        min_bucket: int = 32,
        bucket_growth: float = 1.25,
        predict_batch: int = 4096,
        noise_floor: float = 1e-4,
        dtype: str = "float64",
        clear_caches: str = "new_bucket",
        gc_collect: bool = True,
        seed: int = 0,
        collapse_fraction: float = 0.05,
        flat_fraction: float = 0.05,
        health_max_points: int = 256,
    ) -> None:
        if kernel not in _KERNELS:
            raise SurrogateConfigError(f"kernel={kernel!r} is not known; use one of {_KERNELS}")
        if dtype not in _DTYPES:
            raise SurrogateConfigError(f"dtype={dtype!r} is not known; use 'float64' or 'float32'")
        if clear_caches not in _CLEAR:
            raise SurrogateConfigError(f"clear_caches={clear_caches!r} is not known; use one of {_CLEAR}")
        self.z_dim = int_setting("z_dim", z_dim, 1)
        self.kernel = str(kernel)
        self.num_steps_init = int_setting("num_steps_init", num_steps_init, 1)
        self.step_size_init = float_setting("step_size_init", step_size_init, 0.0, True)
        self.num_steps_warm = int_setting("num_steps_warm", num_steps_warm, 1)
        self.step_size_warm = float_setting("step_size_warm", step_size_warm, 0.0, True)
        self.warm_start = bool_setting("warm_start", warm_start)
        self.standardize = bool_setting("standardize", standardize)
        self.min_bucket = int_setting("min_bucket", min_bucket, 1)
        self.bucket_growth = float_setting("bucket_growth", bucket_growth, 1.0, False)
        self.predict_batch = int_setting("predict_batch", predict_batch, 1)
        self.noise_floor = float_setting("noise_floor", noise_floor, 0.0, False)
        self.dtype = str(dtype)
        self._np_dtype = _DTYPES[self.dtype]
        self.clear_caches = str(clear_caches)
        self.gc_collect = bool_setting("gc_collect", gc_collect)
        self.seed = int_setting("seed", seed, 0)
        self.collapse_fraction = float_setting("collapse_fraction", collapse_fraction, 0.0, False)
        self.flat_fraction = float_setting("flat_fraction", flat_fraction, 0.0, False)
        self.health_max_points = int_setting("health_max_points", health_max_points, 2)
        self._compiled: Compiled | None = None
        self._reset()

    def __repr__(self) -> str:
        return (f"GpaxViDKL(z_dim={self.z_dim}, kernel={self.kernel!r}, num_steps_init={self.num_steps_init}, "
                f"num_steps_warm={self.num_steps_warm}, warm_start={self.warm_start}, "
                f"standardize={self.standardize}, seed={self.seed})")

    # ------------------------------------------------------------------ state
    def _reset(self) -> None:
        super()._reset()
        self._params: dict[str, Any] | None = None  # guide locations (constrained), jax arrays
        self._patch_shape: tuple[int, int] | None = None
        self._factors: tuple[Any, ...] | None = None
        self._kp: dict[str, np.ndarray] | None = None
        self._bucket: int | None = None
        self._init_seed = self.seed
        self._n_restarts = 0
        self._total_steps = 0
        self.last_fit: GpaxFitInfo | None = None

    @property
    def n_restarts(self) -> int:
        """How many times a collapsed (or non-finite) fit was re-initialised from a new seed."""
        return self._n_restarts

    @property
    def total_steps(self) -> int:
        """SVI steps over all fits since construction (or since the loaded state)."""
        return self._total_steps

    @property
    def kernel_params(self) -> dict[str, np.ndarray]:
        """Fitted ``k_length`` (z_dim,), ``k_scale`` () and ``noise`` () float64, standardised units."""
        self._require_fitted("kernel_params")
        assert self._kp is not None
        return {k: v.copy() for k, v in self._kp.items()}

    @property
    def lengthscale(self) -> np.ndarray:
        """(z_dim,) float64 kernel lengthscales in latent units."""
        ls = self.kernel_params["k_length"].reshape(-1)
        return np.broadcast_to(ls, (self.z_dim,)).copy()

    @property
    def noise_variance(self) -> float:
        """Fitted noise variance plus ``noise_floor``, standardised units."""
        return float(self.kernel_params["noise"].reshape(-1)[0]) + self.noise_floor

    def _check_inputs(self, X: Any, owner: str) -> np.ndarray:
        return as_patches(X, owner, "X", self._patch_shape)

    def _make_scaler(self, y: np.ndarray) -> TargetScaler:
        scaler = TargetScaler.from_targets(y)
        if self.standardize:
            return scaler
        return TargetScaler(mean=0.0, std=1.0, constant=scaler.constant)

    def _compiled_for(self, input_dim: int) -> Compiled:
        if self._compiled is None or self._compiled.input_dim != input_dim:
            self._compiled = Compiled(self, input_dim)
            self._bucket = None
        return self._compiled

    def _restart_seed(self) -> int:
        return int(np.random.SeedSequence([self.seed, self._n_restarts]).generate_state(1)[0] % (2**31))

    def _clear(self) -> None:
        assert self._compiled is not None
        self._compiled.s["jax"].clear_caches()
        if self.gc_collect:
            gc.collect()

    # ------------------------------------------------------------------ fit
    @in_precision
    def fit(self, X: np.ndarray, y: np.ndarray) -> GpaxViDKL:
        """Fit on patches ``X`` (n, h, w) float32 and targets ``y`` (n,) float64, reward units.

        The first fit (and every fit when ``warm_start=False``, after a collapse, or when the patch
        size changes) initialises the parameters and runs ``num_steps_init`` steps; later fits
        continue from the current parameters for ``num_steps_warm`` steps. The target
        standardisation is recomputed from this ``y``.
        """
        owner = "GpaxViDKL.fit"
        Xp = as_patches(X, owner, "X")
        yy = as_targets(y, Xp.shape[0], owner, "y")
        t0 = time.perf_counter()
        n = int(Xp.shape[0])
        patch_shape = (int(Xp.shape[1]), int(Xp.shape[2]))
        comp = self._compiled_for(patch_shape[0] * patch_shape[1])
        scaler = self._make_scaler(yy)
        bucket = bucket_size(n, self.min_bucket, self.bucket_growth)
        new_bucket = bucket != self._bucket
        if new_bucket and self._bucket is not None and self.clear_caches == "new_bucket":
            self._clear()  # the old bucket's executables are never needed again
        self._bucket = bucket
        Xj, yj, mj = comp.padded(Xp.reshape(n, -1), scaler.transform(yy), bucket, self._np_dtype)

        from_scratch = (
            not self.warm_start
            or self._params is None
            or self._reinit_pending
            or patch_shape != self._patch_shape
        )
        reinitialised = False
        if from_scratch and self._reinit_pending:
            self._n_restarts += 1
            self._init_seed = self._restart_seed()
            reinitialised = True
            logger.warning(
                "gpax viDKL was collapsed after the last fit: re-initialising with seed %d (restart %d)",
                self._init_seed, self._n_restarts,
            )
        steps = self.num_steps_init if from_scratch else self.num_steps_warm
        result = comp.run(from_scratch, self._init_seed, self._n_fits, self._params, steps, Xj, yj, mj)
        if not result[-1]:
            # One recovery: a fresh initialisation from a new seed.
            self._n_restarts += 1
            self._init_seed = self._restart_seed()
            reinitialised, from_scratch = True, True
            logger.warning("gpax viDKL fit went non-finite: re-initialising with seed %d", self._init_seed)
            result = comp.run(True, self._init_seed, self._n_fits, self._params, self.num_steps_init, Xj, yj, mj)
            steps += self.num_steps_init
            if not result[-1]:
                raise GpaxFitError(
                    f"GpaxViDKL.fit: SVI diverged (loss {result[1]}) twice at n={n}; lower "
                    "step_size_init / step_size_warm or check the targets"
                )
        locs, loss, nn_params, kp, _ = result
        self._params = locs
        self._kp = {k: np.asarray(v, dtype=np.float64) for k, v in kp.items()}
        self._patch_shape = patch_shape
        self._X, self._y, self._scaler = Xp, yy, scaler
        self._factors = comp.factors(nn_params, kp, Xj, yj, mj, self._np_dtype)
        report = self._health_over(Xp)
        self._n_fits += 1
        self._total_steps += steps
        self._reinit_pending = report.collapsed
        if report.collapsed:
            logger.warning("gpax viDKL fit ended collapsed (%s); the next fit re-initialises", report.message)
        if self.clear_caches == "always":
            self._clear()
        self.last_fit = GpaxFitInfo(
            n=n,
            bucket=bucket,
            steps=steps,
            from_scratch=from_scratch,
            reinitialised=reinitialised,
            new_bucket=new_bucket,
            seed=self._init_seed,
            final_loss=loss,
            seconds=time.perf_counter() - t0,
            health=report,
        )
        return self

    # ------------------------------------------------------------------ prediction
    def _predict_all(self, Xp: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Standardised mean (m,), variance (m,) and latent (m, z_dim) float64, in batches."""
        assert self._compiled is not None and self._factors is not None
        batch = min(self.predict_batch, bucket_size(int(Xp.shape[0]), self.min_bucket, self.bucket_growth))
        return self._compiled.predict_all(self._factors, Xp, self._np_dtype, batch)

    def _health_over(self, Xp: np.ndarray) -> HealthReport:
        assert self._scaler is not None
        mean_s, _, z = self._predict_all(Xp)
        return self._assess(z, self._scaler.untransform_mean(mean_s))

    @in_precision
    def posterior(self, X: np.ndarray) -> Posterior:
        """Predictive distribution at patches ``X`` (m, h, w) float32.

        Mean and marginal variance in batches of ``predict_batch`` (no m x m matrix). Returns
        :class:`Posterior` with ``mean`` (m,) and ``std`` (m,) of the latent function in reward
        units, ``noise_std`` in reward units, a joint ``sampler`` over candidate indices, and
        ``degenerate=True`` when the health check over ``X`` is not ok.
        """
        self._require_fitted("posterior")
        assert self._scaler is not None
        Xp = as_patches(X, "GpaxViDKL.posterior", "X", self._patch_shape)
        mean_s, var_s, z = self._predict_all(Xp)
        scaler = self._scaler
        mean = scaler.untransform_mean(mean_s)
        std = scaler.untransform_std(np.sqrt(var_s))
        report = self._assess(z, mean)
        assert self._compiled is not None and self._factors is not None
        return Posterior(
            mean=mean,
            std=std,
            noise_std=float(scaler.untransform_std(math.sqrt(self.noise_variance))),
            sampler=self._compiled.joint_sampler(self._factors, z, scaler, self._np_dtype),
            degenerate=not report.ok,
        )

    @in_precision
    def embed(self, X: np.ndarray) -> np.ndarray:
        """Latent points of patches ``X`` (m, h, w): (m, z_dim) float64."""
        self._require_fitted("embed")
        Xp = as_patches(X, "GpaxViDKL.embed", "X", self._patch_shape)
        return self._predict_all(Xp)[2]

    @in_precision
    def health(self, X: np.ndarray | None = None) -> HealthReport:
        """:meth:`GPShell.health` in this surrogate's precision."""
        return super().health(X)

    # ------------------------------------------------------------------ persistence
    def _config(self) -> dict[str, Any]:
        return {"z_dim": self.z_dim, "kernel": self.kernel}

    def state_dict(self) -> dict[str, Any]:
        """Parameters (torch tensors), training data, counters and structural settings.

        Plain python and tensors only: round-trips through ``torch.save`` and
        ``torch.load(weights_only=True)``.
        """
        import torch

        state = self._state_header(
            init_seed=int(self._init_seed),
            n_fits=int(self._n_fits),
            n_restarts=int(self._n_restarts),
            total_steps=int(self._total_steps),
            reinit_pending=bool(self._reinit_pending),
        )
        if self._params is None:
            return state
        assert self._X is not None and self._y is not None and self._patch_shape is not None
        state.update(
            patch_shape=[int(self._patch_shape[0]), int(self._patch_shape[1])],
            params={k: torch.from_numpy(np.array(v, copy=True)) for k, v in self._params.items()},
            train_X=torch.from_numpy(self._X.copy()),
            train_y=torch.from_numpy(self._y.copy()),
        )
        return state

    @in_precision
    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`; the posterior is then identical to the saved one's.

        Raises :class:`SurrogateStateError` when the state comes from another format or from a
        surrogate with other structural settings (z_dim, kernel).
        """
        self._check_state(state)
        self._reset()
        self._n_fits = int(state["n_fits"])
        self._n_restarts = int(state["n_restarts"])
        self._total_steps = int(state["total_steps"])
        self._reinit_pending = bool(state["reinit_pending"])
        self._init_seed = int(state["init_seed"])
        if not state["fitted"]:
            return
        patch_shape = (int(state["patch_shape"][0]), int(state["patch_shape"][1]))
        X = np.asarray(state["train_X"].numpy(), dtype=np.float32).copy()
        y = np.asarray(state["train_y"].numpy(), dtype=np.float64).copy()
        comp = self._compiled_for(patch_shape[0] * patch_shape[1])
        jnp = comp.s["jnp"]
        scaler = self._make_scaler(y)
        n = int(X.shape[0])
        bucket = bucket_size(n, self.min_bucket, self.bucket_growth)
        Xj, yj, mj = comp.padded(X.reshape(n, -1), scaler.transform(y), bucket, self._np_dtype)
        if not comp.initialised:
            comp.first_state(self._init_seed, 0, Xj, yj, mj)  # sets NumPyro's guide up
        template = comp.restart_locs(np.uint32(0), np.uint32(0), Xj, yj, mj)
        try:
            params = {str(k): jnp.asarray(v.numpy(), dtype=template[k].dtype) for k, v in state["params"].items()
                      if k in template}
            wrong = sorted(set(template) ^ set(state["params"]))
            wrong += [k for k in params if tuple(params[k].shape) != tuple(template[k].shape)]
            if wrong:
                raise ValueError(f"parameter names or shapes differ from this model's: {wrong[:6]}")
        except (ValueError, TypeError, AttributeError) as exc:
            self._reset()
            raise SurrogateStateError(f"GpaxViDKL.load_state_dict: parameters do not fit: {exc}") from exc
        nn_params, kp = comp.split_locs(params)
        self._bucket = bucket
        self._params = params
        self._kp = {k: np.asarray(v, dtype=np.float64) for k, v in kp.items()}
        self._patch_shape = patch_shape
        self._X, self._y, self._scaler = X, y, scaler
        self._factors = comp.factors(nn_params, kp, Xj, yj, mj, self._np_dtype)
