"""One error root: every package's errors sit under ``AutoscopeError``, every bad-setting error under
``ConfigurationError``, and the shared checks of :mod:`drivers.validation` raise one-line messages
that name the field."""

from __future__ import annotations

import math

import numpy as np
import pytest

from drivers import validation
from drivers.errors import AutoscopeError, ConfigurationError, DriverError, InvalidArgument

CONFIG_ERRORS = [
    ("agent.settings", "ConfigError"),
    ("agent.preflight", "PreflightError"),
    ("agent.candidates", "CandidateConfigError"),
    ("agent.surrogates.errors", "SurrogateConfigError"),
    ("agent.vision.errors", "VisionConfigError"),
    ("policies.errors", "PolicyConfigError"),
    ("rewards.errors", "InvalidRewardConfig"),
    ("benchmarks.bench.errors", "BenchConfigError"),
]

OTHER_ERRORS = [
    ("drivers.errors", "DriverError", None),
    ("drivers.replay.errors", "ReplayFormatError", ValueError),
    ("drivers.remote.errors", "AuthenticationError", PermissionError),
    ("rewards.errors", "EmptySpectrum", ValueError),
    ("policies.errors", "PolicyInputError", ValueError),
    ("agent.surrogates.errors", "SurrogateInputError", ValueError),
    ("agent.surrogates.errors", "SurrogateStateError", ValueError),
    ("agent.surrogates.errors", "SurrogateNotFittedError", RuntimeError),
    ("agent.surrogates.errors", "GpaxFitError", RuntimeError),
    ("agent.vision.errors", "VisionInputError", ValueError),
    ("agent.vision.errors", "VisionNotFittedError", RuntimeError),
    ("agent.structure.errors", "StructureError", ValueError),
    ("agent.structure.errors", "PretrainedModelError", ValueError),
    ("agent.record", "RecordError", RuntimeError),
    ("agent.journal", "JournalError", RuntimeError),
    ("agent.checkpoint", "CheckpointError", RuntimeError),
    ("agent.control", "ControlError", ValueError),
    ("benchmarks.bench.errors", "NoMetricsFound", FileNotFoundError),
]


def _cls(module: str, name: str) -> type:
    return getattr(__import__(module, fromlist=[name]), name)


@pytest.mark.parametrize("module,name", CONFIG_ERRORS)
def test_every_configuration_error_sits_under_the_root_and_stays_a_value_error(module: str, name: str) -> None:
    cls = _cls(module, name)
    assert issubclass(cls, ConfigurationError)
    assert issubclass(cls, AutoscopeError)
    assert issubclass(cls, ValueError)  # ``except ValueError`` callers still catch it


@pytest.mark.parametrize("module,name,builtin", OTHER_ERRORS)
def test_every_package_error_sits_under_the_root_and_keeps_its_builtin_base(
        module: str, name: str, builtin: type | None) -> None:
    cls = _cls(module, name)
    assert issubclass(cls, AutoscopeError)
    if builtin is not None:
        assert issubclass(cls, builtin)


def test_the_surrogate_modules_share_one_gpax_fit_error() -> None:
    from agent.surrogates import GpaxFitError
    from agent.surrogates.errors import GpaxFitError as from_errors
    from agent.surrogates.gpax_vidkl import GpaxFitError as from_module

    assert GpaxFitError is from_errors is from_module


def test_the_roots_do_not_travel_over_the_wire() -> None:
    from drivers.remote.errors import ERROR_CLASSES

    assert all(issubclass(cls, DriverError) for cls in ERROR_CLASSES.values())
    assert "drivers.errors.AutoscopeError" not in ERROR_CLASSES


@pytest.mark.parametrize("call,message", [
    (lambda: validation.positive("experiment.exposure_s", 0, unit=" s"),
     "experiment.exposure_s=0 must be > 0 s"),
    (lambda: validation.positive("x", math.nan), "x=nan must be a finite number > 0"),
    (lambda: validation.positive("x", "1"), "x='1' must be a finite number > 0"),
    (lambda: validation.positive("dwell_s", 2.0, maximum=1.0),
     "dwell_s=2.0 exceeds the maximum 1.0; give a value <= 1.0"),
    (lambda: validation.nonnegative("beta", -1), "beta=-1 must be >= 0"),
    (lambda: validation.probability("p", 1.5, fix="give a value in [0, 1]"),
     "p=1.5 must lie in [0, 1]; give a value in [0, 1]"),
    (lambda: validation.probability("f", 1.0, hi_open=True), "f=1.0 must lie in [0, 1)"),
    (lambda: validation.in_range("lr", 0.0, 0.0, lo_open=True), "lr=0.0 must be > 0"),
    (lambda: validation.integer("steps", True, 1), "steps=True must be an integer >= 1"),
    (lambda: validation.integer("steps", 2.0, 1), "steps=2.0 must be an integer >= 1"),
    (lambda: validation.integer("q", 0, 1, 4), "q=0 must be in [1, 4]"),
    (lambda: validation.choice("init", "grid", ("sobol", "random")),
     "init='grid' is not known; use one of ['sobol', 'random']"),
    (lambda: validation.pair("yx_m", (1.0, math.inf)), "yx_m=(1.0, inf) must be a (y, x) pair of finite numbers"),
    (lambda: validation.array_shape("X", np.zeros((3, 3)), (None, 2)), "X has shape (3, 3), expected (n, 2)"),
    (lambda: validation.array_shape("y", [1.0, np.nan], (None,)),
     "y holds NaN or infinite values; drop or repair those entries"),
])
def test_validation_raises_one_line_naming_the_field(call, message: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        call()
    assert str(info.value) == message
    assert "\n" not in str(info.value)


def test_validation_raises_the_callers_error_class_and_returns_clean_values() -> None:
    with pytest.raises(InvalidArgument, match="timeout_s"):
        validation.positive("timeout_s", -1, error=InvalidArgument)
    assert validation.positive("x", np.float32(0.5)) == 0.5
    assert type(validation.integer("n", np.int64(3), 1)) is int
    assert validation.probability("p", 0) == 0.0
    assert validation.pair("yx", [1, 2]) == (1.0, 2.0)
    assert validation.array_shape("X", [[1, 2]], (None, 2)).dtype == np.float64


def test_every_exception_class_the_project_defines_sits_under_the_root() -> None:
    # walks the four packages (modules whose optional dependency is missing are skipped): a new
    # exception class outside AutoscopeError fails here (NoCandidatesLeft and MeasurementFailed did)
    import importlib
    import inspect
    import pkgutil

    outside = []
    for package in ("agent", "drivers", "policies", "rewards"):
        root = importlib.import_module(package)
        for info in pkgutil.walk_packages(root.__path__, package + "."):
            if info.name.endswith("__main__"):
                continue
            try:
                module = importlib.import_module(info.name)
            except ImportError:
                continue
            for name, cls in inspect.getmembers(module, inspect.isclass):
                if (cls.__module__ == info.name and issubclass(cls, BaseException)
                        and not issubclass(cls, AutoscopeError)):
                    outside.append(f"{info.name}.{name}")
    assert outside == []
