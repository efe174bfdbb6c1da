"""The published reference loop (gpax 0.1.9 ``viDKL``), as the AE notebook / gpax README run it.

Every step, faithfully:

1. a fresh ``gpax.viDKL(input_dim, z_dim=2)`` (RBF kernel, 64-64-2 MLP, delta guide);
2. ``dkl.fit(key, X_measured, y_measured, num_steps=100, step_size=0.05)`` on the raw targets (no
   standardisation; gpax's defaults ``progress_bar=True, print_summary=True``, their output silenced);
3. ``gpax.acquisition.UCB(key, dkl, X_unmeasured, beta=0.25, maximize=True)`` (gpax 0.1.9 signature
   ``UCB(rng_key, model, X, beta=.25, maximize=False, n=1, noiseless=False, penalty=None, ...)``),
   which forms the full predictive covariance of the unmeasured candidates;
4. ``argmax`` -> the next candidate, measured by the oracle.

Inputs are 16x16 patches min-max normalised over the whole patch stack (the notebook's
``norm_(features)``), flattened; the notebook also calls ``gpax.utils.enable_x64()`` (``x64``).
Nothing is cleared between steps unless ``clear_caches=True`` (``jax.clear_caches()`` +
``gc.collect()`` after each step, the fix DESIGN.md section 4 describes).

CLI (synthetic or emulator data, see :mod:`benchmarks._common`)::

    python -m benchmarks.reference_gpax --n-side 57 --n-init 10 --steps 20 --out ref.json
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["run_reference", "reference_fit_predict", "predict_mean", "x64_enabled", "main"]


@contextlib.contextmanager
def x64_enabled(enabled: bool) -> Iterator[None]:
    """Set jax's ``jax_enable_x64`` inside the block and restore the previous value after."""
    import jax

    previous = bool(jax.config.read("jax_enable_x64"))
    jax.config.update("jax_enable_x64", bool(enabled))
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", previous)


def _minmax_flat(patches: np.ndarray) -> np.ndarray:
    """(m, h, w) patches -> (m, h*w) float64 min-max normalised over the whole stack."""
    p = np.asarray(patches, dtype=np.float64)
    if p.ndim != 3:
        raise ValueError(f"patches must be (m, h, w), got shape {p.shape}")
    lo, hi = float(p.min()), float(p.max())
    p = (p - lo) / (hi - lo) if hi > lo else np.zeros_like(p)
    return p.reshape(p.shape[0], -1)


def _rss_mb() -> float:
    import os

    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _quiet() -> contextlib.ExitStack:
    """Silence gpax's progress bar and printed summary (they still run, as in the notebook)."""
    stack = contextlib.ExitStack()
    stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
    stack.enter_context(contextlib.redirect_stderr(io.StringIO()))
    return stack


def _latent_spread(dkl: Any, X: Any) -> float:
    """Median pairwise latent distance of ``X`` in units of the fitted lengthscales (collapse <~ 0.05)."""
    from agent.surrogates.health import latent_spread

    z = np.asarray(dkl.embed(X), dtype=np.float64)
    ls = np.asarray(dkl.kernel_params["k_length"], dtype=np.float64)
    return latent_spread(z, ls)


def predict_mean(model: Any, X: np.ndarray, batch: int = 1024, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A fitted viDKL's predictive mean and variance over ``X`` (m, d), ``batch`` rows at a time
    (gpax's own ``predict`` per batch: a batch x batch covariance, never m x m). Float64 (m,)."""
    import jax

    key = jax.random.PRNGKey(int(seed))
    means, variances = [], []
    for start in range(0, X.shape[0], int(batch)):
        mean, var = model.predict(key, X[start:start + int(batch)])
        means.append(np.asarray(mean, dtype=np.float64))
        variances.append(np.asarray(var, dtype=np.float64))
    return np.concatenate(means), np.concatenate(variances)


def reference_fit_predict(X_train: np.ndarray, y_train: np.ndarray, X_candidates: np.ndarray, seed: int = 0,
                          num_steps: int = 100, step_size: float = 0.05, beta: float = 0.25,
                          progress_bar: bool = True) -> dict[str, Any]:
    """One reference decision: fresh viDKL, fit, UCB over ``X_candidates``, argmax.

    Args:
        X_train: (n, d) float inputs (already min-max normalised and flattened).
        y_train: (n,) float raw targets.
        X_candidates: (m, d) inputs of the unmeasured candidates.

    Returns:
        dict with ``fit_s``, ``predict_s`` (the UCB call: prediction + acquisition), ``select_s``
        (argmax), ``choice`` (row of ``X_candidates``), ``model`` (the fitted viDKL), ``acq`` (m,).
    """
    import gpax
    import jax
    import jax.numpy as jnp

    key1, key2 = jax.random.split(jax.random.PRNGKey(int(seed)))
    Xt, yt, Xc = jnp.asarray(X_train), jnp.asarray(y_train), jnp.asarray(X_candidates)
    t0 = time.perf_counter()
    dkl = gpax.viDKL(Xt.shape[-1], 2)
    with _quiet():
        dkl.fit(key1, Xt, yt, num_steps=num_steps, step_size=step_size, progress_bar=progress_bar)
    jax.block_until_ready(dkl.kernel_params)
    t1 = time.perf_counter()
    acq = gpax.acquisition.UCB(key2, dkl, Xc, beta=beta, maximize=True)
    acq = np.asarray(jax.block_until_ready(acq))
    t2 = time.perf_counter()
    choice = int(acq.argmax())
    t3 = time.perf_counter()
    return {"fit_s": t1 - t0, "predict_s": t2 - t1, "select_s": t3 - t2, "choice": choice,
            "model": dkl, "acq": acq}


def run_reference(
    patches: np.ndarray,
    targets: np.ndarray | Callable[[int], float],
    n_init: int,
    steps: int,
    seed: int = 0,
    *,
    num_steps: int = 100,
    step_size: float = 0.05,
    beta: float = 0.25,
    x64: bool = True,
    clear_caches: bool = False,
    progress_bar: bool = True,
    final_batch: int = 1024,
    track_health: bool = True,
) -> dict[str, Any]:
    """Run the reference loop for ``steps`` decisions after ``n_init`` random seed points.

    Args:
        patches: (m, h, w) candidate patches (any scale: min-max normalised here, as the notebook).
        targets: (m,) oracle values (``targets[i]`` is what measuring candidate ``i`` returns), or a
            callable ``oracle(i) -> float`` measuring candidate ``i``.
        n_init: random seed points measured before the first decision (>= 2).
        steps: reference decisions (fit + UCB + argmax + measure), >= 0.
        seed: seeds the seed design and the jax keys.
        num_steps, step_size, beta: the notebook's 100 / 0.05 / 0.25.
        x64: the notebook's ``gpax.utils.enable_x64()`` (restored afterwards).
        clear_caches: ``jax.clear_caches()`` + ``gc.collect()`` after every step (not in the notebook).
        progress_bar: gpax's default (the per-step jit loop with a tqdm bar); False uses ``lax.scan``.
        final_batch: batch size of the final full-map prediction (:func:`predict_mean`).
        track_health: record the latent spread (lengthscale units) of all candidates per step.

    Returns:
        dict: ``picks`` (steps,) candidate indices, ``measured`` (n_init + steps,), ``y`` values,
        per-step ``fit_s``, ``predict_s``, ``select_s``, ``total_s``, ``rss_mb`` (after each step),
        ``latent_spread``, ``lengthscale`` (steps, 2), ``first_fit_s``, and ``final_mean`` (m,) /
        ``final_var`` (m,): the last model's prediction over all candidates (``None`` if steps = 0).
    """
    import jax

    m = int(np.asarray(patches).shape[0])
    if n_init < 2 or n_init > m:
        raise ValueError(f"n_init={n_init} must lie in [2, {m}]")
    if steps < 0 or n_init + steps > m:
        raise ValueError(f"steps={steps} must be >= 0 with n_init + steps <= {m} candidates")
    if callable(targets):
        oracle = targets
    else:
        values = np.asarray(targets, dtype=np.float64).reshape(-1)
        if values.shape[0] != m:
            raise ValueError(f"targets has {values.shape[0]} values for {m} candidates")
        oracle = lambda i: float(values[i])  # noqa: E731
    X = _minmax_flat(patches)
    rng = np.random.default_rng([int(seed), 0xEF])
    measured = [int(i) for i in rng.choice(m, size=n_init, replace=False)]
    y = [float(oracle(i)) for i in measured]
    out: dict[str, Any] = {"picks": [], "fit_s": [], "predict_s": [], "select_s": [], "total_s": [],
                           "rss_mb": [], "latent_spread": [], "lengthscale": [], "x64": bool(x64),
                           "clear_caches": bool(clear_caches), "num_steps": num_steps,
                           "step_size": step_size, "beta": beta}
    model = None
    with x64_enabled(x64):
        dtype = np.float64 if x64 else np.float32
        Xd = X.astype(dtype)
        for step in range(steps):
            avail = np.ones(m, dtype=bool)
            avail[measured] = False
            unmeasured = np.flatnonzero(avail)
            r = reference_fit_predict(Xd[measured], np.asarray(y, dtype=dtype), Xd[unmeasured],
                                      seed=int(seed) * 100_003 + step, num_steps=num_steps,
                                      step_size=step_size, beta=beta, progress_bar=progress_bar)
            model = r["model"]
            pick = int(unmeasured[r["choice"]])
            measured.append(pick)
            y.append(float(oracle(pick)))
            out["picks"].append(pick)
            for k in ("fit_s", "predict_s", "select_s"):
                out[k].append(r[k])
            out["total_s"].append(r["fit_s"] + r["predict_s"] + r["select_s"])
            out["lengthscale"].append(np.asarray(model.kernel_params["k_length"], np.float64).tolist())
            if track_health:
                out["latent_spread"].append(_latent_spread(model, Xd))
            del r
            if clear_caches:
                jax.clear_caches()
                gc.collect()
            out["rss_mb"].append(_rss_mb())
        if model is not None:
            out["final_mean"], out["final_var"] = predict_mean(model, Xd, final_batch, seed)
        else:
            out["final_mean"] = out["final_var"] = None
    out["first_fit_s"] = out["fit_s"][0] if out["fit_s"] else float("nan")
    out["measured"] = measured
    out["y"] = y
    return out


def main(argv: list[str] | None = None) -> int:
    """CLI: run the reference loop on benchmark data and print/save its timings and quality."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.reference_gpax", description=__doc__.split("\n")[0])
    parser.add_argument("--n-side", type=int, default=57, help="candidates per grid side (57 -> 3,249)")
    parser.add_argument("--n-init", type=int, default=10, help="random seed points before the first decision")
    parser.add_argument("--steps", type=int, default=20, help="reference decisions to run")
    parser.add_argument("--seed", type=int, default=0, help="data and loop seed")
    parser.add_argument("--source", default="auto", choices=["auto", "emulator", "synthetic"],
                        help="benchmark data: plasmon emulator or synthetic blobs")
    parser.add_argument("--noise", type=float, default=0.02, help="measurement noise std (normalised truth units)")
    parser.add_argument("--threads", type=int, default=1, help="XLA/torch intra-op threads")
    parser.add_argument("--clear-caches", action="store_true", help="jax.clear_caches() + gc.collect() per step")
    parser.add_argument("--x32", action="store_true", help="do not enable x64 (the notebook enables it)")
    parser.add_argument("--out", type=Path, default=None, help="write the result as JSON here")
    args = parser.parse_args(argv)

    from benchmarks._common import configure_threads, jsonable, make_bench_data, pearson, r2_score

    threads = configure_threads(args.threads)
    data = make_bench_data(args.n_side, args.source, args.seed, args.noise)
    res = run_reference(data.patches_minmax(), data.oracle(args.seed), args.n_init, args.steps, args.seed,
                        x64=not args.x32, clear_caches=args.clear_caches)
    if res["final_mean"] is not None:
        res["final_r2"] = r2_score(data.truth, res["final_mean"])
        res["final_pearson"] = pearson(data.truth, res["final_mean"])
    top = data.truth >= np.quantile(data.truth, 0.99)
    res["top1pct_found"] = int(np.count_nonzero(top[res["picks"]]))
    res.update(n_candidates=data.n, source=data.source, threads=threads)
    med = {k: float(np.median(res[k])) if res[k] else float("nan") for k in ("fit_s", "predict_s", "select_s")}
    print(f"reference gpax viDKL on {data.n} candidates ({data.source}), {args.steps} steps after {args.n_init}:")
    print(f"  median fit {med['fit_s']:.2f} s, UCB {med['predict_s']:.2f} s, argmax {med['select_s'] * 1e3:.2f} ms; "
          f"first fit {res['first_fit_s']:.2f} s")
    if res["latent_spread"]:
        print(f"  latent spread (lengthscales) last {res['latent_spread'][-1]:.3g}; "
              f"R^2 {res.get('final_r2', float('nan')):.3f}; top-1% found {res['top1pct_found']}")
    if res["rss_mb"]:
        print(f"  RSS {res['rss_mb'][0]:.0f} -> {res['rss_mb'][-1]:.0f} MB")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(jsonable(res), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
