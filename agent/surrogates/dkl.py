"""Deep Kernel Learning surrogate: a feature network on image patches feeding an exact GP.

Model: ``f(x) = GP(c, s * k(g(x), g(x')))`` with ``g`` an MLP or CNN (:mod:`.extractors`) mapping a
patch to ``latent_dim`` numbers, ``k`` an ARD RBF or Matern-5/2 kernel, a constant mean ``c`` and a
Gaussian likelihood whose noise variance is floored by a gpytorch constraint. Network and GP
hyperparameters are learned together by Adam on the full-batch exact marginal log-likelihood, on
targets standardised with the current training set's mean/std.

The model is a botorch ``SingleTaskGP`` over *flattened* patches whose input transform is the
network (:class:`.extractors.PatchEmbedding`), so it plugs into botorch acquisition functions; the
surrogate's own ``posterior`` embeds the candidates once and computes the diagonal predictive
variance from the training Cholesky factor (:class:`.exact.ExactPredictor`).
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Sequence
from typing import Any, Literal

import gpytorch
import numpy as np
import torch
from botorch.models import SingleTaskGP
from gpytorch.means import ConstantMean

from .dkl_training import FitInfo, adam_exact_mll
from .errors import SurrogateConfigError, SurrogateInputError
from .extractors import EXTRACTORS, PatchEmbedding, build_extractor
from .inputs import as_patches, as_targets
from .kernels import KERNELS, make_covar_module, make_likelihood
from .settings import bool_setting, float_setting, int_list, int_setting
from .shell import ExactGPShell, module_tensors
from .standardize import TargetScaler
from .threads import torch_threads

__all__ = ["DKLSurrogate", "FitInfo"]

logger = logging.getLogger(__name__)

#: exact Cholesky (never CG/Lanczos) up to this many training points while fitting.
_MAX_CHOLESKY = 100_000
_DTYPES = {"float64": torch.float64, "float32": torch.float32}


class DKLSurrogate(ExactGPShell):
    """Deep-kernel GP surrogate on image patches (``input_kind = "patches"``).

    Args:
        extractor: ``"mlp"`` (flatten -> hidden layers) or ``"cnn"`` (conv blocks -> hidden layers).
        latent_dim: dimension of the latent space the GP works in.
        hidden: widths of the fully connected hidden layers (MLP body, or the CNN's head).
        cnn_channels: output channels of the CNN's 3x3 conv + 2x2 max-pool blocks (CNN only).
        kernel: ``"rbf"`` or ``"matern52"``, ARD over the latent dimensions, with an output scale.
        noise_lower_bound: floor of the noise variance, standardised target units.
        noise_init: initial noise variance, standardised target units.
        lr: Adam learning rate of the GP hyperparameters (noise, output scale, lengthscales, mean).
        lr_network: Adam learning rate of the feature network's weights.
        n_iter_init: Adam iterations of a fit from scratch.
        n_iter_warm: Adam iterations of a warm-started refit (continues from the last weights).
        warm_start: False refits from scratch at every ``fit``.
        refit_every: optimise on every K-th warm fit only; the fits in between keep the network and
            hyperparameters and condition the GP exactly on the new data (an embedding and an
            n x n Cholesky: milliseconds). 1 = optimise at every fit.
        seed: seed of the network initialisation (a collapse recovery derives new seeds from it).
        threads: torch intra-op threads during fit/predict (the previous count is restored after).
        network_dtype: ``"float64"`` or ``"float32"``: precision of the feature network only
            (float32 halves the embedding time of the candidates); the GP always runs in float64
            (in float32 its Cholesky failed once the noise reached its floor).
        collapse_fraction: health: collapsed when the median pairwise latent distance of the
            candidates is below this many kernel lengthscales.
        flat_fraction: health: flat when the std of the predicted mean over the candidates is
            below this fraction of the training-target std.
        health_max_points: health: at most this many candidates (evenly spaced) enter the
            pairwise-distance computation.

    Units: ``fit`` takes targets in reward units; ``posterior`` returns reward units;
    ``botorch_model()`` also predicts in reward units (an exact ``Standardize`` is attached).
    """

    input_kind: Literal["patches", "coords"] = "patches"
    _state_format = "autoscope.surrogates.DKLSurrogate/1"
    #: settings that fix the architecture: a saved state only loads into a surrogate sharing them.
    _structural = ("extractor", "latent_dim", "hidden", "cnn_channels", "kernel", "network_dtype")
    _label = "DKL surrogate"
    _summary_name = "dkl"

    def __init__(
        self,
        extractor: str = "mlp",
        latent_dim: int = 2,
        hidden: Sequence[int] = (256, 128, 64),
        cnn_channels: Sequence[int] = (8, 16),
        kernel: str = "rbf",
        noise_lower_bound: float = 1e-4,
        noise_init: float = 0.1,
        lr: float = 1e-2,
        lr_network: float = 2e-3,
        n_iter_init: int = 300,
        n_iter_warm: int = 50,
        warm_start: bool = True,
        refit_every: int = 5,
        seed: int = 0,
        threads: int = 1,
        network_dtype: str = "float64",
        collapse_fraction: float = 0.05,
        flat_fraction: float = 0.05,
        health_max_points: int = 256,
    ) -> None:
        if extractor not in EXTRACTORS:
            raise SurrogateConfigError(f"extractor={extractor!r} is not known; use one of {EXTRACTORS}")
        if kernel not in KERNELS:
            raise SurrogateConfigError(f"kernel={kernel!r} is not known; use one of {KERNELS}")
        if network_dtype not in _DTYPES:
            raise SurrogateConfigError(
                f"network_dtype={network_dtype!r} is not known; use 'float64' or 'float32'"
            )
        self.extractor_kind = str(extractor)
        self.latent_dim = int_setting("latent_dim", latent_dim, 1)
        self.hidden = int_list("hidden", hidden, allow_empty=True)
        self.cnn_channels = int_list("cnn_channels", cnn_channels, allow_empty=False)
        if len(self.cnn_channels) > 4:
            raise SurrogateConfigError(f"cnn_channels={list(self.cnn_channels)} allows at most 4 blocks")
        self.kernel = str(kernel)
        self.noise_lower_bound = float_setting("noise_lower_bound", noise_lower_bound, 0.0, True)
        self.noise_init = float_setting("noise_init", noise_init, self.noise_lower_bound, True)
        self.lr = float_setting("lr", lr, 0.0, True)
        self.lr_network = float_setting("lr_network", lr_network, 0.0, True)
        self.n_iter_init = int_setting("n_iter_init", n_iter_init, 1)
        self.n_iter_warm = int_setting("n_iter_warm", n_iter_warm, 0)
        self.warm_start = bool_setting("warm_start", warm_start)
        self.refit_every = int_setting("refit_every", refit_every, 1)
        self.seed = int_setting("seed", seed, 0)
        self.threads = int_setting("threads", threads, 1)
        self.network_dtype = str(network_dtype)
        self.collapse_fraction = float_setting("collapse_fraction", collapse_fraction, 0.0, False)
        self.flat_fraction = float_setting("flat_fraction", flat_fraction, 0.0, False)
        self.health_max_points = int_setting("health_max_points", health_max_points, 2)
        self._reset()

    # ------------------------------------------------------------------ state
    def _reset(self) -> None:
        super()._reset()
        self._net: torch.nn.Module | None = None
        self._model: SingleTaskGP | None = None
        self._patch_shape: tuple[int, int] | None = None
        self._init_seed = self.seed
        self._n_restarts = 0
        self._total_iterations = 0
        self._since_optimised = 0
        self.last_fit: FitInfo | None = None

    @property
    def _net_dtype(self) -> torch.dtype:
        return _DTYPES[self.network_dtype]

    @property
    def extractor(self) -> torch.nn.Module:
        """The feature network (``.out`` is its final linear layer)."""
        self._require_fitted("extractor")
        assert self._net is not None
        return self._net

    @property
    def n_restarts(self) -> int:
        """How many times a collapsed network was re-initialised from a new seed."""
        return self._n_restarts

    @property
    def total_iterations(self) -> int:
        """Adam iterations over all fits since construction (or since the loaded state)."""
        return self._total_iterations

    def _check_inputs(self, X: Any, owner: str) -> np.ndarray:
        return as_patches(X, owner, "X", self._patch_shape)

    # ------------------------------------------------------------------ building
    def _build_modules(self, patch_shape: tuple[int, int], seed: int) -> None:
        net = build_extractor(
            self.extractor_kind, patch_shape, self.latent_dim, self.hidden, self.cnn_channels, seed
        )
        self._net = net.to(self._net_dtype)
        self._covar = make_covar_module(self.kernel, self.latent_dim).double()
        self._likelihood = make_likelihood(self.noise_lower_bound, self.noise_init).double()
        self._mean = ConstantMean().double()
        self._patch_shape = patch_shape
        self._init_seed = int(seed)

    def _make_model(self, X: np.ndarray, y_std: np.ndarray) -> SingleTaskGP:
        assert self._net is not None and self._patch_shape is not None
        tx = torch.as_tensor(X.reshape(X.shape[0], -1), dtype=torch.float64)
        ty = torch.as_tensor(y_std, dtype=torch.float64).unsqueeze(-1)
        model = SingleTaskGP(
            tx,
            ty,
            likelihood=self._likelihood,
            covar_module=self._covar,
            mean_module=self._mean,
            outcome_transform=None,
            input_transform=PatchEmbedding(self._net, self._patch_shape),
        )
        # SingleTaskGP casts every submodule to the inputs' float64; the network keeps its own
        # precision (PatchEmbedding casts rows in and embeddings out). The round trip is exact.
        self._net.to(self._net_dtype)
        return model

    def _train(self, model: SingleTaskGP, iterations: int) -> tuple[int, float]:
        """Full-batch Adam on the exact MLL. Returns (iterations run, last loss)."""
        assert self._net is not None
        return adam_exact_mll(model, self._net, self.lr_network, self.lr, iterations, logger)

    def _snapshot(self) -> dict[str, Any]:
        """References (and, for a warm start, weight copies) to undo a fit that fails midway."""
        modules = {"net": self._net, "covar": self._covar, "likelihood": self._likelihood, "mean": self._mean}
        weights = {
            k: copy.deepcopy(m.state_dict()) for k, m in modules.items() if m is not None
        }
        return {
            "modules": modules,
            "weights": weights,
            "model": self._model,
            "patch_shape": self._patch_shape,
            "init_seed": self._init_seed,
            "n_restarts": self._n_restarts,
            "data": (self._X, self._y, self._scaler),
        }

    def _restore(self, saved: dict[str, Any]) -> None:
        modules = saved["modules"]
        for key, module in modules.items():
            if module is not None:
                module.load_state_dict(saved["weights"][key])
        self._net, self._covar = modules["net"], modules["covar"]
        self._likelihood, self._mean = modules["likelihood"], modules["mean"]
        self._model = saved["model"]
        self._patch_shape = saved["patch_shape"]
        self._init_seed = saved["init_seed"]
        self._n_restarts = saved["n_restarts"]
        self._X, self._y, self._scaler = saved["data"]
        if self._net is not None:
            self._net.to(self._net_dtype)

    def _restart_seed(self) -> int:
        return int(np.random.SeedSequence([self.seed, self._n_restarts]).generate_state(1)[0])

    # ------------------------------------------------------------------ fit
    def fit(self, X: np.ndarray, y: np.ndarray) -> DKLSurrogate:
        """Fit on patches ``X`` (n, h, w) float32 and targets ``y`` (n,) float64, reward units.

        The first fit (and every fit when ``warm_start=False``, after a collapse, or when the
        patch size changes) initialises network and GP and runs ``n_iter_init`` iterations; later
        fits continue from the current weights for ``n_iter_warm`` iterations (on every
        ``refit_every``-th warm fit; the others only condition the GP on the new data). The target
        standardisation is always recomputed from this ``y``.
        """
        owner = "DKLSurrogate.fit"
        Xp = as_patches(X, owner, "X")
        yy = as_targets(y, Xp.shape[0], owner, "y")
        t0 = time.perf_counter()
        scaler = TargetScaler.from_targets(yy)
        patch_shape = (int(Xp.shape[1]), int(Xp.shape[2]))
        reinitialised = False
        from_scratch = (
            not self.warm_start
            or self._net is None
            or self._reinit_pending
            or patch_shape != self._patch_shape
        )
        saved = self._snapshot()
        try:
            with torch_threads(self.threads), gpytorch.settings.max_cholesky_size(_MAX_CHOLESKY):
                if from_scratch:
                    seed = self._init_seed
                    if self._reinit_pending:
                        self._n_restarts += 1
                        seed = self._restart_seed()
                        reinitialised = True
                        logger.warning(
                            "DKL latent space was collapsed after the last fit: abandoning the warm "
                            "start and re-initialising the network with seed %d (restart %d)",
                            seed,
                            self._n_restarts,
                        )
                    elif self._patch_shape is not None and patch_shape != self._patch_shape:
                        logger.info(
                            "DKL patch size changed from %s to %s: fitting from scratch",
                            self._patch_shape,
                            patch_shape,
                        )
                    self._build_modules(patch_shape, seed)
                assert self._net is not None
                self._net.to(self._net_dtype)
                model = self._make_model(Xp, scaler.transform(yy))
                optimise = from_scratch or self._since_optimised + 1 >= self.refit_every
                iterations = (self.n_iter_init if from_scratch
                              else self.n_iter_warm if optimise else 0)
                done, last_loss = self._train(model, iterations)
                model.eval()
                model.outcome_transform = scaler.as_outcome_transform()
                self._model = model
                self._X, self._y, self._scaler = Xp, yy, scaler
                report = self._health_over(Xp)
        except BaseException:
            # An interrupted or failed fit leaves the previous fit in place, consistent.
            self._restore(saved)
            raise
        self._n_fits += 1
        self._total_iterations += done
        self._since_optimised = 0 if optimise else self._since_optimised + 1
        self._reinit_pending = report.collapsed
        if report.collapsed:
            logger.warning(
                "DKL fit ended collapsed (%s); the next fit re-initialises the network",
                report.message,
            )
        self.last_fit = FitInfo(
            n=int(Xp.shape[0]),
            iterations=done,
            from_scratch=from_scratch,
            reinitialised=reinitialised,
            seed=self._init_seed,
            final_loss=last_loss,
            seconds=time.perf_counter() - t0,
            health=report,
        )
        return self

    # ------------------------------------------------------------------ prediction
    def _embed_tensor(self, Xp: np.ndarray) -> torch.Tensor:
        """(m, h, w) float32 patches -> (m, latent_dim) float64 latent points, no autograd."""
        assert self._net is not None
        # botorch acquisitions call ``.to(X)`` on the model, casting the network with it: restore.
        self._net.to(self._net_dtype)
        with torch.no_grad():
            z = self._net(torch.as_tensor(Xp, dtype=self._net_dtype))
        return z.to(torch.float64)

    def _latent(self, inputs: np.ndarray) -> torch.Tensor:
        return self._embed_tensor(inputs)

    def embed(self, X: np.ndarray) -> np.ndarray:
        """Latent points of patches ``X`` (m, h, w): (m, latent_dim) float64."""
        self._require_fitted("embed")
        Xp = as_patches(X, "DKLSurrogate.embed", "X", self._patch_shape)
        with torch_threads(self.threads):
            return self._embed_tensor(Xp).numpy()

    # ------------------------------------------------------------------ botorch
    def botorch_model(self, latent: bool = False) -> SingleTaskGP:
        """The fitted GP as a botorch ``SingleTaskGP`` in eval mode, predicting in reward units.

        Args:
            latent: False (default): the model itself, over *flattened patches* ``(..., h*w)``
                float64 (see :meth:`botorch_inputs`), with the network as its input transform:
                it runs once per input row. True: a frozen copy of the GP over *latent points*
                ``(..., latent_dim)`` float64 (feed it :meth:`embed` output), for evaluating
                several acquisitions over the same embedded candidates without re-embedding.

        Both carry an exact ``Standardize`` outcome transform, so ``best_f`` of EI-type
        acquisitions is the best measured reward. Build it again after every ``fit``. Evaluate
        acquisitions under ``torch.no_grad()`` unless gradients are wanted.
        """
        self._require_fitted("botorch_model")
        assert self._model is not None and self._X is not None
        assert self._scaler is not None and self._y is not None
        with torch_threads(self.threads):
            if latent:
                gp = SingleTaskGP(
                    torch.as_tensor(self.embed(self._X)),
                    torch.as_tensor(self._scaler.transform(self._y)).unsqueeze(-1),
                    likelihood=copy.deepcopy(self._likelihood),
                    covar_module=copy.deepcopy(self._covar),
                    mean_module=copy.deepcopy(self._mean),
                    outcome_transform=None,
                )
                gp.eval()
                gp.outcome_transform = self._scaler.as_outcome_transform()
                return gp
            # Re-embed the training inputs from the current weights and drop prediction caches.
            self._model.train()
            self._model.eval()
        return self._model

    def botorch_inputs(self, X: np.ndarray, q: int = 1) -> torch.Tensor:
        """Patches ``X`` (m, h, w) -> ``(m // q, q, h*w)`` float64 tensor for botorch acquisitions."""
        self._require_fitted("botorch_inputs")
        Xp = as_patches(X, "DKLSurrogate.botorch_inputs", "X", self._patch_shape)
        q = int_setting("q", q, 1)
        if Xp.shape[0] % q:
            raise SurrogateInputError(
                f"DKLSurrogate.botorch_inputs: X has {Xp.shape[0]} rows, not a multiple of q={q}"
            )
        return torch.as_tensor(Xp.reshape(Xp.shape[0] // q, q, -1), dtype=torch.float64)

    # ------------------------------------------------------------------ persistence
    def _config(self) -> dict[str, Any]:
        return {
            "extractor": self.extractor_kind,
            "latent_dim": self.latent_dim,
            "hidden": list(self.hidden),
            "cnn_channels": list(self.cnn_channels),
            "kernel": self.kernel,
            "network_dtype": self.network_dtype,
        }

    def state_dict(self) -> dict[str, Any]:
        """Weights (tensors), training data, counters and structural settings.

        Plain python and tensors only: round-trips through ``torch.save`` and
        ``torch.load(weights_only=True)``.
        """
        state = self._state_header(
            init_seed=int(self._init_seed),
            n_fits=int(self._n_fits),
            n_restarts=int(self._n_restarts),
            total_iterations=int(self._total_iterations),
            since_optimised=int(self._since_optimised),
            reinit_pending=bool(self._reinit_pending),
        )
        if not self.is_fitted:
            return state
        assert self._net is not None and self._patch_shape is not None
        state.update(
            patch_shape=[int(self._patch_shape[0]), int(self._patch_shape[1])],
            extractor=module_tensors(self._net),
            **self._gp_tensors(),
        )
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`; the posterior is then identical to the saved one's.

        Raises :class:`SurrogateStateError` when the state comes from another format or from a
        surrogate with other structural settings (extractor, latent_dim, hidden, cnn_channels,
        kernel, network_dtype).
        """
        self._check_state(state)
        self._reset()
        self._n_fits = int(state["n_fits"])
        self._n_restarts = int(state["n_restarts"])
        self._total_iterations = int(state["total_iterations"])
        self._since_optimised = int(state.get("since_optimised", 0))
        self._reinit_pending = bool(state["reinit_pending"])
        self._init_seed = int(state["init_seed"])
        if not state["fitted"]:
            return
        patch_shape = (int(state["patch_shape"][0]), int(state["patch_shape"][1]))
        X = state["train_X"].numpy().astype(np.float32, copy=True)
        y = state["train_y"].numpy().astype(np.float64, copy=True)
        scaler = TargetScaler.from_targets(y)
        with torch_threads(self.threads):
            self._build_modules(patch_shape, self._init_seed)
            assert self._net is not None
            self._load_gp_tensors(state, {"extractor": self._net})
            model = self._make_model(X, scaler.transform(y))
            model.eval()
            model.outcome_transform = scaler.as_outcome_transform()
        self._model = model
        self._X, self._y, self._scaler = X, y, scaler
