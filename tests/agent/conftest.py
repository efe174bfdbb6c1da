"""Small, honest stand-ins for the loop's collaborators (the real ones have their own tests)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from agent.surrogates.protocol import SurrogateBase
from drivers import Axis, Capabilities, Frame, InvalidArgument, ProbeState, Timeout
from policies import PolicyBase, Posterior, Selection


class FakeDriver:
    """A 64x64 sample with a bright blob; the spectrum peak height follows the local intensity."""

    def __init__(self, seed: int = 0, fail_at: set[int] | None = None, flaky_every: int = 0):
        rng = np.random.default_rng(seed)
        yy, xx = np.mgrid[0:64, 0:64]
        self.image = np.exp(-((yy - 40) ** 2 + (xx - 22) ** 2) / 60.0) + 0.05 * rng.random((64, 64))
        self.energy = Axis.uniform("energy_loss", "eV", 0.0, 0.1, 32)
        self.fail_at = fail_at or set()  # pixels (y, x) where every acquisition times out
        self.flaky_every = flaky_every  # every k-th acquisition times out once
        self.n_calls = 0
        self.blanked = True
        self.calls: list[str] = []
        self._ids = itertools.count(1)
        self._frames: set[str] = set()
        self.probe_px = (0, 0)

    def capabilities(self):
        return Capabilities(("HAADF", "EELS"), {"EELS": "eV"}, 1e-6, 1.0)

    def acquire_overview(self, fov_m, shape_px, dwell_s, detector="HAADF", timeout_s=None):
        self.calls.append("overview")
        fid = f"ov-{next(self._ids)}"
        self._frames.add(fid)
        ax = Axis.uniform("y", "m", -31.5e-9, 1e-9, 64), Axis.uniform("x", "m", -31.5e-9, 1e-9, 64)
        return Frame(self.image.copy(), ax, fid, {"time_s": 0.0})

    def set_probe(self, frame_id, yx_frac=None, yx_m=None):
        if frame_id not in self._frames:
            raise InvalidArgument(f"unknown frame {frame_id}")
        if (yx_frac is None) == (yx_m is None):
            raise InvalidArgument("give exactly one of yx_frac, yx_m")
        self.probe_px = (int(yx_frac[0] * 64), int(yx_frac[1] * 64))
        self.calls.append(f"probe {self.probe_px}")
        return ProbeState(frame_id, (0.0, 0.0), tuple(yx_frac), self.blanked)

    def acquire_spectrum(self, exposure_s, detector="EELS", timeout_s=None):
        self.n_calls += 1
        self.calls.append("spectrum")
        if self.probe_px in self.fail_at:
            raise Timeout(f"detector timed out at {self.probe_px}")
        if self.flaky_every and self.n_calls % self.flaky_every == 0:
            raise Timeout("transient timeout")
        height = 100.0 * self.image[self.probe_px]
        spec = 5.0 + height * np.exp(-((self.energy.values - 1.5) ** 2) / 0.1)
        return Frame(spec, (self.energy,), f"sp-{self.n_calls}",
                     {"time_s": 0.1 * self.n_calls, "dose_e": 1e6, "exposure_s": exposure_s})

    def blank(self):
        self.blanked = True
        self.calls.append("blank")

    def unblank(self):
        self.blanked = False

    def stop(self):
        self.blank()

    def close(self):
        self.calls.append("close")

    @property
    def signal_axis(self):
        return self.energy

    def expected_spectra(self, yx_m):
        out = []
        for y, x in np.asarray(yx_m):
            py, px = int(round((y + 31.5e-9) / 1e-9)), int(round((x + 31.5e-9) / 1e-9))
            height = 100.0 * self.image[py, px]
            out.append(5.0 + height * np.exp(-((self.energy.values - 1.5) ** 2) / 0.1))
        return np.asarray(out)


def peak_reward(spectrum, axis):
    """Integrated counts between 1 and 2 eV (a minimal band intensity)."""
    m = (axis.values >= 1.0) & (axis.values <= 2.0)
    return float(spectrum[m].sum())


class NearestSurrogate(SurrogateBase):
    """Kernel regression on flattened patches: honest but tiny; deterministic."""

    input_kind = "patches"

    def __init__(self):
        self.n_fits = 0
        self._X = None
        self._y = None

    def fit(self, X, y):
        self._X = X.reshape(len(X), -1).astype(np.float64)
        self._y = np.asarray(y, np.float64)
        self.n_fits += 1
        return self

    def posterior(self, X):
        Z = X.reshape(len(X), -1).astype(np.float64)
        d2 = ((Z[:, None, :] - self._X[None]) ** 2).sum(-1) / Z.shape[1]
        w = np.exp(-d2 / 0.5)
        mean = (w @ self._y + 1e-9 * self._y.mean()) / (w.sum(1) + 1e-9)
        std = 1.0 / np.sqrt(1.0 + w.sum(1)) * (self._y.std() + 1e-9)
        return Posterior(mean, std)

    def health(self, X=None):
        return None

    def state_dict(self):
        return {"n_fits": self.n_fits}

    def load_state_dict(self, state):
        self.n_fits = int(state["n_fits"])


class GreedyUCB(PolicyBase):
    def select(self, posterior, state, q=1):
        score = posterior.mean + 2.0 * posterior.std + 1e-9 * state.rng.random(posterior.n)
        score[~state.available] = -np.inf
        return Selection(np.argsort(-score)[:q], "acquisition")


@pytest.fixture
def fakes():
    return {"driver": FakeDriver, "reward": peak_reward, "surrogate": NearestSurrogate, "policy": GreedyUCB}
