"""Typed experiment settings (the ``experiment`` config group) with validation that names the fix."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from drivers.errors import ConfigurationError

__all__ = [
    "ConfigError",
    "OverviewSettings",
    "CandidateSettings",
    "ExperimentSettings",
    "register_configs",
    "compose_error",
    "check_overrides",
]


class ConfigError(ConfigurationError):
    """A setting is invalid; the message names the field and how to fix it."""


def _fields(cls: Any) -> dict[str, dataclasses.Field[Any]]:
    """The dataclass fields of a settings class by name."""
    return {f.name: f for f in dataclasses.fields(cls)}


def _coerce(name: str, value: Any, annotation: Any) -> Any:
    """``value`` as the type the field declares, or :class:`ConfigError` (field, value, fix).

    Integers must be whole numbers (``1e9`` is taken as 1000000000, ``12.7`` and ``"abc"`` are
    refused, never rounded); reals must be finite numbers; switches true/false; texts text.
    """
    kind = str(annotation).replace("typing.", "")
    optional = kind.startswith("Optional[") or kind.endswith(" | None")
    if kind.startswith("Optional["):
        kind = kind[len("Optional["):-1]
    elif optional:
        kind = kind[: -len(" | None")]
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{name}=null is not allowed; give a value (see conf/experiment/default.yaml)")
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{name}={value!r} is not an integer; give a whole number, e.g. {name}=10")
        if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
            raise ConfigError(f"{name}={value!r} is not a whole number (it is never rounded); "
                              f"give an integer, e.g. {name}={int(value) if math.isfinite(value) else 10}")
        return int(value)
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"{name}={value!r} is not a finite number; give one, e.g. {name}=0.05")
        return float(value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{name}={value!r} is not a switch; give {name}=true or {name}=false")
        return value
    if kind == "str":
        if not isinstance(value, str):
            raise ConfigError(f"{name}={value!r} is not text; give a name, e.g. {name}=...")
        return value
    if kind == "list[int]":
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{name}={value!r} must be a list [ny, nx] of integers")
        return [_coerce(f"{name}[{k}]", v, "int") for k, v in enumerate(value)]
    return value


@dataclass
class OverviewSettings:
    """The structure image. ``None`` leaves a value to the driver (replays have a native field)."""

    fov_m: float | None = 200e-9
    shape_px: list[int] | None = field(default_factory=lambda: [256, 256])
    dwell_s: float | None = 2e-6
    detector: str = "HAADF"


@dataclass
class CandidateSettings:
    """The candidate grid over the overview (see :func:`agent.candidates.make_candidates`)."""

    window_px: int = 16
    stride_px: int = 4
    margin_px: int | None = 14
    normalise: str = "zscore"


@dataclass
class ExperimentSettings:
    """One autonomous experiment.

    ``steps`` is the measurement budget in total, seed points included: the first ``n_init``
    positions come from the ``init`` design (``"sobol"`` or ``"random"``), the rest from the policy;
    ``n_init=None`` takes 10 seed points, at most half the budget (``steps=5``: 2), so a short
    run needs no second setting.
    ``max_consecutive_failures`` unusable measurements in a row (failed, or without a reward) stop
    the run with its own stop reason (0: never).
    """

    steps: int = 100
    n_init: int | None = None
    init: str = "sobol"
    wall_time_s: float | None = None
    exposure_s: float = 0.05
    detector: str = "EELS"
    maximize: bool = True
    q: int = 1
    allow_remeasure: bool = False
    max_retries: int = 2
    max_consecutive_failures: int = 5
    retry_backoff_s: float = 0.05
    threads: int = 1
    pipeline: bool = False
    checkpoint: bool = True
    drift_every: int = 0
    max_total_dose_e: float | None = None
    max_dose_e_per_A2: float | None = None
    dose_radius_m: float = 2e-9
    progress: bool = True
    plots: bool = True
    dashboard: bool = False
    overview: OverviewSettings = field(default_factory=OverviewSettings)
    candidates: CandidateSettings = field(default_factory=CandidateSettings)

    def __post_init__(self) -> None:
        if self.n_init is None and isinstance(self.steps, int):
            self.n_init = min(10, max(1, self.steps // 2))

    def validate(self) -> ExperimentSettings:
        """Raise :class:`ConfigError` naming the first bad field; return self when all are sound."""
        checks: list[tuple[bool, str]] = [
            (self.steps >= 1, f"experiment.steps={self.steps} must be >= 1"),
            (self.n_init is not None and 0 <= self.n_init <= self.steps,
             f"experiment.n_init={self.n_init} must lie in [0, experiment.steps={self.steps}]"),
            (self.init in ("sobol", "random"),
             f"experiment.init={self.init!r}: use 'sobol' or 'random'"),
            (self.wall_time_s is None or self.wall_time_s > 0,
             f"experiment.wall_time_s={self.wall_time_s} must be > 0 or null (no limit)"),
            (self.exposure_s > 0, f"experiment.exposure_s={self.exposure_s} must be > 0 seconds"),
            (self.q >= 1, f"experiment.q={self.q} must be >= 1 (points chosen per decision)"),
            (self.max_retries >= 0, f"experiment.max_retries={self.max_retries} must be >= 0"),
            (self.max_consecutive_failures >= 0,
             f"experiment.max_consecutive_failures={self.max_consecutive_failures} must be >= 0 (0: off)"),
            (self.threads >= 1, f"experiment.threads={self.threads} must be >= 1"),
            (self.drift_every >= 0,
             f"experiment.drift_every={self.drift_every} must be >= 0 (0: no drift correction)"),
            (self.max_total_dose_e is None or self.max_total_dose_e > 0,
             f"experiment.max_total_dose_e={self.max_total_dose_e} must be > 0 electrons or null"),
            (self.max_dose_e_per_A2 is None or self.max_dose_e_per_A2 > 0,
             f"experiment.max_dose_e_per_A2={self.max_dose_e_per_A2} must be > 0 or null"),
            (self.dose_radius_m > 0, f"experiment.dose_radius_m={self.dose_radius_m} must be > 0"),
            (self.candidates.window_px >= 1,
             f"experiment.candidates.window_px={self.candidates.window_px} must be >= 1"),
            (self.candidates.stride_px >= 1,
             f"experiment.candidates.stride_px={self.candidates.stride_px} must be >= 1"),
            (self.overview.fov_m is None or self.overview.fov_m > 0,
             f"experiment.overview.fov_m={self.overview.fov_m} must be > 0 metres or null"),
            (self.overview.shape_px is None or (len(self.overview.shape_px) == 2
                                                and min(self.overview.shape_px) >= 2),
             f"experiment.overview.shape_px={self.overview.shape_px} must be [ny, nx] >= 2 or null"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        return self

    @classmethod
    def from_mapping(cls, cfg: Any) -> ExperimentSettings:
        """Build from a plain mapping or OmegaConf node; unknown keys are refused by name."""
        from omegaconf import DictConfig, OmegaConf

        data: dict[str, Any] = (OmegaConf.to_container(cfg, resolve=True)  # type: ignore[assignment]
                                if isinstance(cfg, DictConfig) else dict(cfg))
        nested: dict[str, Any] = {"overview": OverviewSettings, "candidates": CandidateSettings}
        kwargs: dict[str, Any] = {}
        known = set(_fields(cls))
        for key, value in data.items():
            if key not in known:
                raise ConfigError(
                    f"experiment.{key} is not a setting; known: {', '.join(sorted(known))}"
                )
            if key in nested:
                sub = nested[key]
                if value is not None and not isinstance(value, dict):
                    raise ConfigError(f"experiment.{key}={value!r} must be a group of settings "
                                      f"({', '.join(sorted(_fields(sub)))})")
                unknown = set(value or {}) - set(_fields(sub))
                if unknown:
                    raise ConfigError(
                        f"experiment.{key}.{sorted(unknown)[0]} is not a setting; known: "
                        f"{', '.join(sorted(_fields(sub)))}"
                    )
                value = sub(**{k: _coerce(f"experiment.{key}.{k}", v, _fields(sub)[k].type)
                               for k, v in (value or {}).items()})
            else:
                value = _coerce(f"experiment.{key}", value, _fields(cls)[key].type)
            kwargs[key] = value
        return cls(**kwargs).validate()


def register_configs() -> None:
    """Register :class:`ExperimentSettings` in Hydra's ConfigStore as ``experiment/schema``.

    ``conf/config.yaml`` starts the ``experiment`` group from it (``- experiment/schema`` before
    ``- experiment: default``), so every ``experiment.*`` value is type-checked when the
    configuration is composed: ``experiment.steps=abc`` or ``experiment.stepz=3`` fails before
    anything runs, with an error naming the key. Idempotent; :mod:`agent.confdir` calls it, so any
    composition of the shipped configs has the schema.
    """
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(group="experiment", name="schema", node=ExperimentSettings)


def _field_type(path: list[str]) -> Any:
    """The declared type of ``experiment.<path>`` (``None`` when there is no such setting)."""
    cls: Any = ExperimentSettings
    annotation: Any = None
    for part in path:
        fields = _fields(cls) if cls is not None else {}
        if part not in fields:
            return None
        annotation = fields[part].type
        cls = {"overview": OverviewSettings, "candidates": CandidateSettings}.get(part)
    return annotation


def compose_error(err: BaseException, overrides: list[str]) -> ConfigError:
    """One line for a refused composition (wrong type or unknown ``experiment.*`` key, bad override),
    in the words :meth:`ExperimentSettings.from_mapping` uses: the key, the value and the fix."""
    cause = err.__cause__
    key = str(getattr(cause, "full_key", "") or "")
    raw = next((o.split("=", 1)[1] for o in overrides if o.lstrip("+~").split("=", 1)[0] == key and "=" in o), None)
    if key.startswith("experiment.") and raw is not None:
        annotation = _field_type(key.split(".")[1:])
        if annotation is None:
            parent = key.rsplit(".", 1)[0]
            sub = {"experiment": ExperimentSettings, "experiment.overview": OverviewSettings,
                   "experiment.candidates": CandidateSettings}.get(parent, ExperimentSettings)
            return ConfigError(f"{key} is not a setting; known: {', '.join(sorted(_fields(sub)))}")
        from hydra.core.override_parser.overrides_parser import OverridesParser

        value = OverridesParser.create().parse_override(f"{key}={raw}").value()
        try:
            _coerce(key, value, annotation)
        except ConfigError as refused:
            return refused
        kind = str(annotation).replace("typing.", "").replace("Optional[", "").rstrip("]").replace(" | None", "")
        return ConfigError(f"{key}={raw} is not of type {kind}; give e.g. {key}={_coerce(key, value, annotation)!r}")
    first = str(err).splitlines()[0] if str(err) else type(err).__name__
    detail = str(cause).splitlines()[0] if cause is not None and str(cause) else ""
    return ConfigError(f"{first} {detail}".strip())


def check_overrides(overrides: list[str], conf_dir: Any) -> None:
    """Compose ``config.yaml`` of ``conf_dir`` with these command-line ``overrides`` and raise
    :class:`ConfigError` (one line, see :func:`compose_error`) if Hydra refuses them, e.g. a value
    of the wrong type for a typed ``experiment.*`` setting. Hydra's own flags (``-m``, ``--cfg``,
    ...) and sweeps are left to Hydra: nothing is checked then."""
    if any(o.startswith("-") for o in overrides):
        return
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException

    try:
        with initialize_config_dir(config_dir=str(conf_dir), version_base="1.3"):
            compose(config_name="config", overrides=list(overrides))
    except HydraException as err:
        raise compose_error(err, list(overrides)) from err
