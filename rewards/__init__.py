"""Rewards (scalarizers): measured spectrum -> target value.

A reward is a callable ``reward(spectrum: (n,) array, axis: drivers.Axis) -> float`` (the
:class:`Reward` protocol). The built-in ones are small classes built from plain arguments, so Hydra
instantiates them from ``conf/reward/<name>.yaml``:

* bands (EELS low loss, plasmons): :class:`BandIntensity`, :class:`PeakRatio`, :class:`PeakPosition`
* EDS: :class:`ElementFraction` (line energies from exspy's element database)
* EELS core loss: :class:`EdgeIntensity`, :class:`EdgeRatio`
* switching-spectroscopy loops (bias sweep in sweep order): :class:`LoopArea`, :class:`LoopHeight`,
  :class:`CoerciveBias`, :class:`Imprint`, with :func:`despike`
* KPFM: :class:`ContactPotential`
* combinators: :class:`Negate` (the loop maximises; negate to minimise), :class:`Scaled`,
  :class:`Checked`, :class:`Vector` (a ``(k,)`` array for later multi-objective use; the loop
  currently takes scalars only)

Conventions: windows are inclusive ``[lo, hi]`` in axis values; integration is trapezoidal over the
actual axis values (non-uniform and descending axes are fine), see :mod:`rewards.windows`. Each
reward checks its input and raises :class:`EmptySpectrum` (empty / NaN / infinite spectrum),
:class:`WrongAxis` (units other than its ``units`` argument, length mismatch),
:class:`WindowOutsideAxis` (window off the axis) or :class:`RewardError`; bad constructor arguments
raise :class:`InvalidRewardConfig`. All are :class:`RewardError` (a ``ValueError``); the loop counts
a reward error as a failed measurement.

Evaluation: :func:`evaluate` (many spectra), :func:`evaluate_one` (one spectrum, raising) and
:func:`evaluate_at` (a driver's noise-free ``expected_spectra`` at positions: the truth maps) are the
only places a reward is called; they check the value (:class:`InvalidRewardValue`) and give ``(n,)``
for a scalar reward, ``(n, k)`` for a vector one (:mod:`rewards.evaluate`).

What a reward declares (:mod:`rewards.protocol`, defaults on :class:`RewardBase`): ``name``,
``windows`` (the spectral windows it reads, axis units) and ``value_units(axis_units,
intensity_units)``; plots shade the windows and label colour bars with the name and units.

Plugging in your own reward
---------------------------
Write a function ``myfun(spectrum, axis, **settings) -> float`` in an importable module and point a
config at it with ``_partial_: true``, so Hydra binds the settings and the loop calls
``myfun(spectrum, axis)``::

    # conf/reward/my_reward.yaml
    _target_: mypkg.mymod.myfun
    _partial_: true
    threshold_eV: 1.5          # any keyword settings of myfun

A plain function gets the protocol's defaults (:func:`as_reward` wraps it in :class:`FunctionReward`:
its name, no windows, no units); derive :class:`RewardBase` to declare them.
``conf/reward/custom_example.yaml`` does exactly this for :func:`rewards.examples.peak_to_background`.
Without Hydra, :func:`load_callable` ``("mypkg.mymod.myfun", threshold_eV=1.5)`` does the same.
Call :func:`check_spectrum` at the top of the function (or wrap it, ``_target_: rewards.Checked``
with ``reward: {_target_: mypkg.mymod.myfun, _partial_: true}``) to get the typed errors above.
Combinators nest the same way, e.g. to minimise a band::

    _target_: rewards.Negate
    reward:
      _target_: rewards.BandIntensity
      window_eV: [1.0, 2.0]
"""

from .bands import BandIntensity, PeakPosition, PeakRatio
from .compose import Checked, Negate, Scaled, Vector
from .diffraction import CoMShift, centre_of_mass_px
from .eds import ElementFraction
from .eels import EdgeIntensity, EdgeRatio
from .errors import EmptySpectrum, InvalidRewardConfig, InvalidRewardValue, RewardError, WindowOutsideAxis, WrongAxis
from .evaluate import evaluate, evaluate_at, evaluate_one, first_objective
from .kpfm import ContactPotential
from .loading import load_callable
from .loops import CoerciveBias, Imprint, LoopArea, LoopHeight, despike
from .protocol import FunctionReward, Reward, RewardBase, Window, as_reward, integral_units
from .validation import ascending, check_spectrum
from .windows import integrate_window

__all__ = [
    "BandIntensity",
    "Checked",
    "CoMShift",
    "CoerciveBias",
    "ContactPotential",
    "EdgeIntensity",
    "EdgeRatio",
    "ElementFraction",
    "EmptySpectrum",
    "FunctionReward",
    "Imprint",
    "InvalidRewardConfig",
    "InvalidRewardValue",
    "LoopArea",
    "LoopHeight",
    "Negate",
    "PeakPosition",
    "PeakRatio",
    "Reward",
    "RewardBase",
    "RewardError",
    "Scaled",
    "Vector",
    "Window",
    "WindowOutsideAxis",
    "WrongAxis",
    "centre_of_mass_px",
    "as_reward",
    "ascending",
    "check_spectrum",
    "despike",
    "evaluate",
    "evaluate_at",
    "evaluate_one",
    "first_objective",
    "integral_units",
    "integrate_window",
    "load_callable",
]
