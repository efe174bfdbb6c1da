"""Preflight: settings checked against the instrument and the data before the first dose.

Found one measurement at a time these cost a night: an exposure above the driver's limit or a reward
that cannot evaluate on the driver's signal axis burn the whole dose budget with nothing usable, a
window of 1000 px on a 256 px overview allocates gigabytes, NaN in a replay makes every truth metric
NaN. Each check raises :class:`PreflightError` (a :class:`~agent.settings.ConfigError`: exit code 2)
whose one-line message names the setting, its value and the fix.

* :func:`check_driver` -- before the overview: exposure, detectors and field of view against
  ``driver.capabilities()``, the reward on the driver's signal axis, NaN/inf in replay data;
* :func:`fit_recording` -- before both, replays only: the recording's field, grid and detector
  names where the experiment's (written for a live instrument) cannot apply to it;
* :func:`check_overview` -- after the overview, before the candidates are built: NaN/inf in the
  image, window and margin against its size, a memory estimate of the candidate arrays against the
  available memory, the step budget against the number of candidates.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from drivers.errors import DriverError
from drivers.frames import Axis, Frame
from drivers.protocol import Replay, Wrapper
from drivers.truth import truth_source

from .candidates import CandidateConfigError, _axis_counts
from .settings import ConfigError, ExperimentSettings

__all__ = ["PreflightError", "check_driver", "check_overview", "driver_signal_axis",
           "candidate_bytes", "available_memory_bytes", "fit_recording"]

log = logging.getLogger(__name__)

#: Bytes per patch pixel at the peak of building the candidates (a float64 gather, then float32).
_BYTES_PER_PATCH_PX = 12
#: Share of the available memory the candidate arrays may take (models and copies need the rest).
_MEMORY_SHARE = 0.5


class PreflightError(ConfigError):
    """A setting does not fit the instrument, the data or the machine (field, value, fix)."""


def _inner_chain(driver: Any, depth: int = 8) -> Iterator[Any]:
    """The driver and every wrapped driver (safety layer, fault injector) through ``Wrapper.inner``."""
    seen = 0
    while driver is not None and seen < depth:
        yield driver
        driver, seen = (driver.inner if isinstance(driver, Wrapper) else None), seen + 1


def driver_signal_axis(driver: Any) -> Axis | None:
    """The signal axis the driver's spectra will have, when the driver knows it without measuring
    (a :class:`drivers.protocol.GroundTruth`: emulators, replays); else None."""
    oracle = truth_source(driver)
    if oracle is None:
        return None
    try:
        axis = oracle.signal_axis
    except Exception:  # noqa: BLE001 - a property that needs a connection
        return None
    return axis if isinstance(axis, Axis) else None


def _replay_driver(driver: Any) -> Replay | None:
    """The innermost :class:`drivers.protocol.Replay` in ``driver``'s chain (a wrapper that forwards
    attributes, such as the fault injector, also looks like one: the replay itself answers), or None.
    Imports nothing from :mod:`drivers.replay`."""
    for d in reversed(list(_inner_chain(driver))):
        if isinstance(d, Replay):
            return d
    return None


#: The protocol's default detector names: a replay reads them as "the recorded one".
_DEFAULT_DETECTORS = {"spectrum": "EELS", "image": "HAADF"}


def fit_recording(settings: ExperimentSettings, driver: Any) -> ExperimentSettings:
    """``settings`` with a replay's recorded field, grid and detector names where the experiment's
    cannot apply to the recording; any other driver gets ``settings`` unchanged.

    A replay has one field and one grid, and it cannot resample: ``experiment.overview.fov_m`` /
    ``shape_px`` other than the recorded ones (the default experiment's 200 nm and 256 x 256 px,
    written for the emulator) are read as null (the recorded field and grid), the overview dwell as
    irrelevant, and the protocol's default detector names (``EELS``, ``HAADF``) as the recorded
    spectrometer and image, as the replay driver itself reads them; the default experiment's exposure
    (the emulator's 0.05 s) as the recorded exposure, not as thinning the counts to 5 %. Each
    replacement is logged. Anything else the recording can honour (another exposure, to thin to; a
    recorded detector name; the candidate grid) is kept, and a detector that is neither recorded nor
    a default is still refused by :func:`check_driver`.
    """
    import dataclasses

    replay = _replay_driver(driver)
    if replay is None:
        return settings
    rec = replay.recording
    ov = settings.overview
    changes: dict[str, Any] = {}
    notes: list[str] = []
    native_fov = replay.native_fov_m
    if ov.fov_m is not None and (native_fov is None or not math.isclose(ov.fov_m, native_fov, rel_tol=1e-6)):
        changes["fov_m"] = None
        notes.append(f"overview.fov_m={ov.fov_m:g} -> the recorded field "
                     + ("(uncalibrated)" if native_fov is None else f"{native_fov:.4g} m"))
    if ov.shape_px is not None and tuple(int(v) for v in ov.shape_px) != tuple(rec.shape_px):
        changes["shape_px"] = None
        notes.append(f"overview.shape_px={list(ov.shape_px)} -> the recorded grid {list(rec.shape_px)}")
    if ov.dwell_s is not None:
        changes["dwell_s"] = None  # the recorded image is what it is
    images = [rec.image_name, *rec.extra_images]
    if ov.detector == _DEFAULT_DETECTORS["image"] and ov.detector not in images:
        changes["detector"] = rec.image_name
        notes.append(f"overview.detector={ov.detector} -> the recorded image {rec.image_name!r}")
    top: dict[str, Any] = {}
    if settings.detector == _DEFAULT_DETECTORS["spectrum"] and settings.detector != rec.spectrum_name:
        top["detector"] = rec.spectrum_name
        notes.append(f"detector={settings.detector} -> the recorded spectra {rec.spectrum_name!r}")
    recorded = replay.capabilities().max_exposure_s  # the recorded dwell
    if (recorded is not None and settings.exposure_s == ExperimentSettings.exposure_s
            and not math.isclose(settings.exposure_s, recorded)):
        # the default experiment's exposure is the emulator's (0.05 s), not a request to thin the
        # recorded counts to 5 %: another experiment.exposure_s (or driver.dwell_fraction) thins
        top["exposure_s"] = float(recorded)
        notes.append(f"exposure_s={settings.exposure_s:g} (the default experiment's) -> the recorded "
                     f"{recorded:g} s (give another experiment.exposure_s, or driver.dwell_fraction, to thin)")
    if not changes and not top:
        return settings
    if notes:
        log.warning("replay of %s: the experiment's settings do not apply to the recording: %s "
                    "(set them to the recorded values, or null, to silence this)",
                    rec.source or "a recording", "; ".join(notes))
    return dataclasses.replace(settings, overview=dataclasses.replace(ov, **changes), **top)


def _nonfinite(name: str, arr: Any, fix: str) -> None:
    a = np.asarray(arr)
    if a.dtype.kind not in "fc":
        return
    bad = int(a.size - np.count_nonzero(np.isfinite(a)))
    if bad:
        raise PreflightError(f"{name} holds {bad} NaN/inf value(s) of {a.size}; {fix}")


def check_reward(reward: Callable[[np.ndarray, Axis], Any], axis: Axis, label: str = "reward") -> None:
    """Evaluate ``reward`` on a smooth positive test spectrum on ``axis``; refuse one that cannot
    evaluate there (window off the axis, wrong units, bad arguments). A reward that merely
    dislikes the test spectrum (``EmptySpectrum``: no net counts above its background, a flat
    window) passes: that depends on the data, and real spectra decide it (an EDS element fraction
    refused every recorded EDS set on this smooth test shape)."""
    from rewards.errors import InvalidRewardConfig, WindowOutsideAxis, WrongAxis

    x = np.linspace(0.0, 1.0, axis.size)
    test = 100.0 + 50.0 * np.exp(-((x - 0.5) ** 2) / 0.02)
    lo, hi = (float(np.nanmin(axis.values)), float(np.nanmax(axis.values))) if axis.size else (0, 0)
    try:
        reward(test, axis)
    except (WindowOutsideAxis, WrongAxis, InvalidRewardConfig) as err:
        raise PreflightError(
            f"{label} cannot evaluate on the driver's signal axis {axis.name!r} [{lo:g}, {hi:g}] "
            f"{axis.units}: {str(err).splitlines()[0]}; set its window inside that range "
            f"(e.g. reward.window_eV=[lo,hi]) or choose a reward for this detector") from None
    except Exception as err:  # noqa: BLE001 - judged on real spectra, not on a test shape
        log.debug("preflight: reward on a test spectrum raised %s (not refused)", err)


def check_driver(settings: ExperimentSettings, driver: Any,
                 reward: Callable[[np.ndarray, Axis], Any] | None = None) -> None:
    """Settings against ``driver.capabilities()``, the reward against the signal axis, replay data."""
    s = settings
    try:
        caps = driver.capabilities()
    except (DriverError, AttributeError) as err:
        log.warning("preflight: the driver declares no capabilities (%s); its limits are unchecked", err)
        caps = None
    if caps is not None:
        max_exp = float(caps.max_exposure_s)
        if math.isfinite(max_exp) and s.exposure_s > max_exp:
            raise PreflightError(f"experiment.exposure_s={s.exposure_s:g} exceeds the driver's longest "
                                 f"exposure of {max_exp:g} s; set experiment.exposure_s<={max_exp:g}")
        dets = tuple(caps.detectors)
        if dets and s.detector not in dets:
            raise PreflightError(f"experiment.detector={s.detector!r} is not on this instrument; "
                                 f"use one of {', '.join(dets)}")
        if dets and s.overview.detector not in dets:
            raise PreflightError(f"experiment.overview.detector={s.overview.detector!r} is not on this "
                                 f"instrument; use one of {', '.join(dets)}")
        max_fov = float(caps.max_fov_m)
        if s.overview.fov_m is not None and math.isfinite(max_fov) and s.overview.fov_m > max_fov:
            raise PreflightError(f"experiment.overview.fov_m={s.overview.fov_m:g} exceeds the driver's "
                                 f"largest field of {max_fov:g} m; set experiment.overview.fov_m<={max_fov:g}")
    replay = _replay_driver(driver)
    if replay is not None:
        rec = replay.recording
        fix = "clean the recording (or mask those pixels) before replaying it"
        _nonfinite("the replay's spectrum cube", rec.cube, fix)
        _nonfinite("the replay's structure image", rec.image, fix)
    if reward is not None:
        axis = driver_signal_axis(driver)
        if axis is not None:
            check_reward(reward, axis)
    if s.overview.shape_px is not None:
        _check_grid(s, (int(s.overview.shape_px[0]), int(s.overview.shape_px[1])))


def _check_grid(s: ExperimentSettings, shape: tuple[int, int]) -> int:
    """Window, margin and memory against an overview of ``shape``; returns the candidate count."""
    c = s.candidates
    ny, nx = shape
    if c.window_px > min(ny, nx):
        raise PreflightError(f"experiment.candidates.window_px={c.window_px} is larger than the overview "
                             f"({ny} x {nx} px); set it to at most {min(ny, nx)} (typically 8-32)")
    margin = c.window_px // 2 if c.margin_px is None else c.margin_px
    try:
        n = _axis_counts(ny, margin, c.stride_px, "y") * _axis_counts(nx, margin, c.stride_px, "x")
    except CandidateConfigError as err:
        raise PreflightError(f"experiment.{err}") from None
    need = candidate_bytes(n, c.window_px)
    avail = available_memory_bytes()
    if avail is not None and need > _MEMORY_SHARE * avail:
        raise PreflightError(
            f"experiment.candidates.window_px={c.window_px} with stride_px={c.stride_px} makes {n} patches "
            f"needing ~{need / 2**30:.1f} GiB, over half the {avail / 2**30:.1f} GiB available; use a "
            f"smaller window_px or a larger stride_px")
    if not s.allow_remeasure and s.steps > n:
        raise PreflightError(f"experiment.steps={s.steps} exceeds the {n} candidates (each measured once); "
                             f"set experiment.steps<={n} or experiment.allow_remeasure=true")
    return n


def check_overview(settings: ExperimentSettings, overview: Frame) -> int:
    """The acquired overview: finite values, room for the grid, memory; returns the candidate count."""
    data = np.asarray(overview.data)
    if data.ndim != 2 or min(data.shape) < 2:
        raise PreflightError(f"the overview has shape {data.shape}; expected a 2-D image (check "
                             f"experiment.overview.shape_px and the driver)")
    _nonfinite("the overview image", data, "check the detector or the replayed image")
    return _check_grid(settings, (int(data.shape[0]), int(data.shape[1])))


def candidate_bytes(n: int, window_px: int) -> int:
    """Peak bytes of building ``n`` patches of ``window_px``^2 (float64 gather + float32 copy)."""
    return int(n) * int(window_px) ** 2 * _BYTES_PER_PATCH_PX


def available_memory_bytes() -> int | None:
    """Memory available to this process (Linux ``MemAvailable``; None where unknown)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None
