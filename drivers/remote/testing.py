"""A small deterministic fake driver for tests of the remote server, the array server and the safety
layer. It implements the :class:`drivers.Driver` protocol with synthetic frames and records every
call, so a test can check what reached the "instrument".

Determinism: the ``k``-th acquisition of a ``FakeDriver(seed=s)`` draws its noise from
``numpy.random.default_rng([s, k])``, so two fakes with the same seed given the same sequence of
calls return bit-identical frames (a test builds a local twin and compares).
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from drivers.errors import Aborted, InstrumentError, InvalidArgument, NotSupported, SafetyInterlock
from drivers.frames import Axis, Capabilities, Frame, ProbeState

__all__ = ["FakeDriver", "ServerProcess", "ELEMENTARY_CHARGE_C", "REPO_ROOT"]

REPO_ROOT = Path(__file__).resolve().parents[2]

ELEMENTARY_CHARGE_C = 1.602176634e-19

# particles of the synthetic sample: (y_m, x_m, sigma_m, height), in the scan frame at stage (0, 0)
_PARTICLES = ((-20e-9, -15e-9, 6e-9, 1.0), (10e-9, 18e-9, 9e-9, 0.7), (25e-9, -30e-9, 4e-9, 1.3))


class FakeDriver:
    """Synthetic Driver: Gaussian particles on a dark background, spectra brighter on particles.

    Args:
        seed: noise seed (see module docstring).
        n_channels: spectrum length.
        energy_offset_eV: energy of spectrum channel 0 (eV); channels are ``energy_scale_eV`` apart.
        energy_scale_eV: spectrum channel width (eV).
        delay_s: each acquisition takes this long (seconds); ``stop()`` cuts it short with
            ``Aborted``. The fake ignores ``timeout_s`` (to test timeout enforcement from outside).
        beam_current_A: probe current (A) used for the reported dose.
        report_dose: put ``dose_e`` (electrons) in frame metadata.
        require_unblanked: refuse acquisitions while blanked (``SafetyInterlock``), like the Nion
            driver does.
        start_blanked: blanked when constructed.
        overview_dtype: dtype of overview data (``"float32"``, ``"uint16"`` ...).
        spectrum_dtype: dtype of spectrum data.
        max_fov_m: largest field of view (metres).
        max_exposure_s: longest exposure (seconds).
    """

    def __init__(
        self,
        seed: int = 0,
        n_channels: int = 256,
        energy_offset_eV: float = -5.0,
        energy_scale_eV: float = 0.05,
        delay_s: float = 0.0,
        beam_current_A: float = 50e-12,
        report_dose: bool = True,
        require_unblanked: bool = True,
        start_blanked: bool = True,
        overview_dtype: str = "float32",
        spectrum_dtype: str = "float64",
        max_fov_m: float = 1e-6,
        max_exposure_s: float = 10.0,
    ) -> None:
        if n_channels < 2:
            raise InvalidArgument(f"n_channels must be >= 2, got {n_channels}")
        self.seed = int(seed)
        self.n_channels = int(n_channels)
        self.energy_offset_eV = float(energy_offset_eV)
        self.energy_scale_eV = float(energy_scale_eV)
        self.delay_s = float(delay_s)
        self.beam_current_A = float(beam_current_A)
        self.report_dose = bool(report_dose)
        self.require_unblanked = bool(require_unblanked)
        self.overview_dtype = np.dtype(overview_dtype)
        self.spectrum_dtype = np.dtype(spectrum_dtype)
        self.max_fov_m = float(max_fov_m)
        self.max_exposure_s = float(max_exposure_s)
        self._lock = threading.Lock()
        self._stop_event = threading.Event()
        self._blanked = bool(start_blanked)
        self._closed = False
        self._counter = 0
        self._frames: dict[str, tuple[float, tuple[int, int]]] = {}
        self._probe: ProbeState | None = None
        self._stage_yx_m = (0.0, 0.0)
        self.calls: list[tuple[str, dict[str, Any]]] = []

    # ------------------------------------------------------------------ bookkeeping
    def _record(self, verb: str, **args: Any) -> None:
        with self._lock:
            self.calls.append((verb, args))

    def verbs_called(self) -> list[str]:
        """Names of the verbs called so far, in order."""
        with self._lock:
            return [verb for verb, _ in self.calls]

    @property
    def blanked(self) -> bool:
        return self._blanked

    def _check_open(self) -> None:
        if self._closed:
            raise InstrumentError("FakeDriver is closed")

    def _check_beam(self) -> None:
        if self.require_unblanked and self._blanked:
            raise SafetyInterlock("beam is blanked: unblank() before acquiring")

    def _wait(self) -> None:
        """Sleep ``delay_s`` in small steps; ``stop()`` aborts."""
        end = time.monotonic() + self.delay_s
        while True:
            if self._stop_event.is_set():
                raise Aborted("acquisition stopped")
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, 0.01))

    def _rng(self) -> np.random.Generator:
        with self._lock:
            k = self._counter
            self._counter += 1
        return np.random.default_rng([self.seed, k])

    @staticmethod
    def _sample(y_m: np.ndarray, x_m: np.ndarray) -> np.ndarray:
        img = np.zeros(np.broadcast(y_m, x_m).shape, dtype=np.float64)
        for py, px, sigma, height in _PARTICLES:
            img += height * np.exp(-((y_m - py) ** 2 + (x_m - px) ** 2) / (2 * sigma**2))
        return img

    # ------------------------------------------------------------------ protocol
    def capabilities(self) -> Capabilities:
        self._record("capabilities")
        return Capabilities(
            detectors=("HAADF", "EELS"),
            signal_units={"EELS": "eV"},
            max_fov_m=self.max_fov_m,
            max_exposure_s=self.max_exposure_s,
            verbs=("state", "move_stage"),
            backend="fake",
        )

    def state(self) -> dict[str, Any]:
        self._record("state")
        probe = self._probe
        return {
            "blanked": self._blanked,
            "beam_current_A": self.beam_current_A,
            "stage_yx_m": self._stage_yx_m,
            "probe_yx_m": None if probe is None else probe.yx_m,
            "closed": self._closed,
            "verbs": self.verbs_called(),
        }

    def acquire_overview(
        self,
        fov_m: float | None,
        shape_px: tuple[int, int] | None,
        dwell_s: float | None,
        detector: str = "HAADF",
        timeout_s: float | None = None,
    ) -> Frame:
        self._record("acquire_overview", fov_m=fov_m, shape_px=shape_px, dwell_s=dwell_s,
                     detector=detector, timeout_s=timeout_s)
        self._check_open()
        fov = 100e-9 if fov_m is None else float(fov_m)
        shape = (64, 64) if shape_px is None else (int(shape_px[0]), int(shape_px[1]))
        dwell = 1e-6 if dwell_s is None else float(dwell_s)
        if detector != "HAADF":
            raise NotSupported(f"detector {detector!r} is not an image detector here; use 'HAADF'")
        if not (math.isfinite(fov) and 0 < fov <= self.max_fov_m):
            raise InvalidArgument(f"fov_m={fov_m} outside (0, {self.max_fov_m}]")
        if shape[0] < 1 or shape[1] < 1:
            raise InvalidArgument(f"shape_px={shape_px} must be positive")
        if not (math.isfinite(dwell) and dwell > 0):
            raise InvalidArgument(f"dwell_s={dwell_s} must be > 0")
        self._check_beam()
        self._stop_event.clear()
        self._wait()
        rng = self._rng()
        pitch = fov / np.array(shape, dtype=np.float64)
        ys = -fov / 2 + (np.arange(shape[0]) + 0.5) * pitch[0]
        xs = -fov / 2 + (np.arange(shape[1]) + 0.5) * pitch[1]
        clean = self._sample(ys[:, None] + self._stage_yx_m[0], xs[None, :] + self._stage_yx_m[1])
        noisy = 1000.0 * clean + rng.normal(100.0, 5.0, size=shape)
        if self.overview_dtype.kind in "iu":
            noisy = np.clip(np.rint(noisy), 0, np.iinfo(self.overview_dtype).max)
        data = noisy.astype(self.overview_dtype)
        frame_id = f"fake-{uuid.uuid4().hex[:12]}"
        self._frames[frame_id] = (fov, shape)
        metadata: dict[str, Any] = {
            "time_s": time.time(),
            "dwell_s": dwell,
            "fov_m": fov,
            "detector": detector,
            "backend": "fake",
            "stage_yx_m": self._stage_yx_m,
        }
        if self.report_dose:
            metadata["dose_e"] = self.beam_current_A * dwell * shape[0] * shape[1] / ELEMENTARY_CHARGE_C
        return Frame(data, (Axis("y", "m", ys), Axis("x", "m", xs)), frame_id, metadata)

    def set_probe(
        self,
        frame_id: str,
        yx_frac: tuple[float, float] | None = None,
        yx_m: tuple[float, float] | None = None,
    ) -> ProbeState:
        self._record("set_probe", frame_id=frame_id, yx_frac=yx_frac, yx_m=yx_m)
        self._check_open()
        if frame_id not in self._frames:
            raise InvalidArgument(f"unknown frame_id {frame_id!r}: acquire an overview first")
        if (yx_frac is None) == (yx_m is None):
            raise InvalidArgument("give exactly one of yx_frac or yx_m")
        fov, _shape = self._frames[frame_id]
        if yx_frac is not None:
            frac = (float(yx_frac[0]), float(yx_frac[1]))
        else:
            assert yx_m is not None
            frac = (float(yx_m[0]) / fov + 0.5, float(yx_m[1]) / fov + 0.5)
        if not all(math.isfinite(f) and 0.0 <= f <= 1.0 for f in frac):
            raise InvalidArgument(f"probe position {frac} (fraction) is outside [0, 1] of frame {frame_id}")
        metres = ((frac[0] - 0.5) * fov, (frac[1] - 0.5) * fov)
        self._probe = ProbeState(frame_id, metres, frac, self._blanked)
        return self._probe

    def acquire_spectrum(
        self, exposure_s: float, detector: str = "EELS", timeout_s: float | None = None
    ) -> Frame:
        self._record("acquire_spectrum", exposure_s=exposure_s, detector=detector, timeout_s=timeout_s)
        self._check_open()
        if detector != "EELS":
            raise NotSupported(f"detector {detector!r} is not a spectrometer here; use 'EELS'")
        exposure = float(exposure_s)
        if not (math.isfinite(exposure) and 0 < exposure <= self.max_exposure_s):
            raise InvalidArgument(f"exposure_s={exposure_s} outside (0, {self.max_exposure_s}]")
        if self._probe is None:
            raise InvalidArgument("no probe position: call set_probe first")
        self._check_beam()
        self._stop_event.clear()
        self._wait()
        rng = self._rng()
        energy = self.energy_offset_eV + self.energy_scale_eV * np.arange(self.n_channels)
        py, px = self._probe.yx_m
        brightness = float(self._sample(np.array(py + self._stage_yx_m[0]), np.array(px + self._stage_yx_m[1])))
        electrons = self.beam_current_A * exposure / ELEMENTARY_CHARGE_C
        shape = np.exp(-0.5 * (energy / 0.2) ** 2) + brightness * np.exp(-0.5 * ((energy - 2.0) / 0.3) ** 2)
        expected = 1e-3 * electrons * shape / shape.sum()
        counts = rng.poisson(expected).astype(self.spectrum_dtype)
        metadata: dict[str, Any] = {
            "time_s": time.time(),
            "exposure_s": exposure,
            "probe_yx_m": self._probe.yx_m,
            "detector": detector,
            "backend": "fake",
        }
        if self.report_dose:
            metadata["dose_e"] = electrons
        return Frame(counts, (Axis("energy_loss", "eV", energy),), f"fake-{uuid.uuid4().hex[:12]}", metadata)

    def move_stage(self, dy_m: float, dx_m: float, relative: bool = True, timeout_s: float | None = None) -> None:
        self._record("move_stage", dy_m=dy_m, dx_m=dx_m, relative=relative, timeout_s=timeout_s)
        self._check_open()
        if not (math.isfinite(dy_m) and math.isfinite(dx_m)):
            raise InvalidArgument(f"stage move ({dy_m}, {dx_m}) must be finite")
        if relative:
            self._stage_yx_m = (self._stage_yx_m[0] + float(dy_m), self._stage_yx_m[1] + float(dx_m))
        else:
            self._stage_yx_m = (float(dy_m), float(dx_m))

    def blank(self) -> None:
        self._record("blank")
        self._blanked = True

    def unblank(self) -> None:
        self._record("unblank")
        self._check_open()
        self._blanked = False

    def stop(self) -> None:
        self._record("stop")
        self._stop_event.set()
        self._blanked = True

    def close(self) -> None:
        self._record("close")
        self._stop_event.set()
        self._blanked = True
        self._closed = True


class ServerProcess:
    """``python -m <module> <argv>`` (default ``drivers.remote.serve``) in a child process, for tests
    (a context manager).

    Waits (at most ``start_timeout_s``) for the URI, which the server writes to a temporary file;
    ``terminate()`` sends SIGTERM (the server blanks and closes its driver), ``kill()`` SIGKILL.

    Args:
        argv: arguments after ``-m <module>``.
        env: extra environment variables (e.g. the secret).
        start_timeout_s: how long to wait for the URI (seconds).
        module: the server's module: ``drivers.remote.serve`` (the bare server: ``--driver``, or
            ``driver=<name>`` with ``--config-dir``), or ``agent.serve`` (``autoscope-serve``: composes
            the project's configs, ``driver=emulator``).
    """

    def __init__(self, argv: Sequence[str], env: Mapping[str, str] | None = None,
                 start_timeout_s: float = 60.0, module: str = "drivers.remote.serve") -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="autoscope-serve-")
        uri_file = Path(self._dir.name) / "uri.txt"
        self._stderr_path = Path(self._dir.name) / "stderr.txt"
        full_env = dict(os.environ)
        full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), full_env.get("PYTHONPATH", "")]))
        full_env.update(env or {})
        self._stderr = self._stderr_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", module, *argv, "--uri-file", str(uri_file)],
            cwd=str(REPO_ROOT), env=full_env, stdout=subprocess.DEVNULL, stderr=self._stderr,
        )
        deadline = time.monotonic() + start_timeout_s
        while True:
            if uri_file.is_file() and uri_file.read_text().strip():
                self.uri = uri_file.read_text().strip()
                break
            if self.process.poll() is not None:
                self._cleanup()
                raise RuntimeError(f"server exited with {self.process.returncode}: {self.stderr_text()}")
            if time.monotonic() > deadline:
                self.kill()
                raise TimeoutError(f"server did not print its URI within {start_timeout_s} s: {self.stderr_text()}")
            time.sleep(0.02)

    def stderr_text(self) -> str:
        try:
            return self._stderr_path.read_text()
        except OSError:
            return ""

    def terminate(self, timeout_s: float = 15.0) -> int | None:
        """SIGTERM and wait; SIGKILL if it does not exit in ``timeout_s``. Returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout_s)
        self._cleanup()
        return self.process.returncode

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=15.0)
        self._cleanup()

    def _cleanup(self) -> None:
        if not self._stderr.closed:
            self._stderr.close()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.terminate()
        self._dir.cleanup()
