"""Per-spectrum round trip over loopback: the emulator served by ``autoscope-serve`` in another process.

    .venv/bin/python -m benchmarks.remote_roundtrip --n 300 --out benchmarks/results/remote_roundtrip.json

The server runs the real command (``python -m agent.serve driver=emulator`` = ``autoscope-serve``, with the safety
layer) in a child process; the client is :class:`drivers.remote.RemoteDriver` (autoscope protocol)
or :class:`drivers.remote.ArrayServerDriver` (``--protocol array-server``). Timed per spectrum:
``set_probe`` + ``acquire_spectrum`` with a 1 microsecond exposure on the emulator's virtual
clock, so what is measured is the network, serialisation and server work, not the exposure.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from drivers.remote.testing import ServerProcess  # noqa: E402


def measure(protocol: str, n: int, seed: int) -> dict:
    argv = ["driver=emulator", f"seed={seed}", "--protocol", protocol]
    if protocol == "array-server":
        argv += ["--fov-m", "2e-7"]
    with ServerProcess(argv, module="agent.serve") as server:
        if protocol == "autoscope":
            from drivers.remote import RemoteDriver

            client = RemoteDriver(server.uri, heartbeat_s=1.0)
        else:
            from drivers.remote import ArrayServerDriver

            client = ArrayServerDriver(server.uri, fov_m=2e-7)
        try:
            t0 = time.perf_counter()
            overview = client.acquire_overview(2e-7, (256, 256), 2e-6)
            t_overview = time.perf_counter() - t0
            rng = np.random.default_rng(seed)
            times, nbytes = [], 0
            for _ in range(n):
                yx = tuple(float(v) for v in rng.uniform(0.05, 0.95, 2))
                t0 = time.perf_counter()
                client.set_probe(overview.frame_id, yx_frac=yx)
                frame = client.acquire_spectrum(1e-6)
                times.append(time.perf_counter() - t0)
                nbytes = int(np.asarray(frame.data).nbytes)
        finally:
            client.close()
    t = np.asarray(times) * 1e3
    return {"protocol": protocol, "n": n, "spectrum_bytes": nbytes, "overview_256px_s": t_overview,
            "median_ms": float(np.median(t)), "p90_ms": float(np.percentile(t, 90)),
            "max_ms": float(t.max()), "times_ms": t.tolist()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=300, help="spectra per protocol")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--protocols", nargs="+", default=["autoscope", "array-server"])
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/remote_roundtrip.json"))
    args = ap.parse_args(argv)
    rows = [measure(p, args.n, args.seed) for p in args.protocols]
    for r in rows:
        print(f"{r['protocol']:13s} {r['n']} spectra ({r['spectrum_bytes']} B): median {r['median_ms']:.2f} ms, "
              f"p90 {r['p90_ms']:.2f} ms, max {r['max_ms']:.1f} ms; 256 px overview {r['overview_256px_s']:.3f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"rows": rows}, indent=1))
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
