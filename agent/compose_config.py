"""The ``autoscope`` configuration composed in Python, exactly as the console script composes it."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import TYPE_CHECKING

from drivers.errors import ConfigurationError

if TYPE_CHECKING:
    from omegaconf import DictConfig

__all__ = ["compose", "default_out_dir"]


def compose(*overrides: str) -> DictConfig:
    """The ``autoscope`` configuration with command-line style ``overrides`` (``"policy=ucb"``,
    ``"experiment.steps=20"``), resolved exactly as the console script composes it."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from .confdir import CONF_DIR, normalise_overrides

    for item in overrides:
        if not isinstance(item, str) or "=" not in item:
            raise ConfigurationError(f"override {item!r} is not a 'key=value' string; e.g. 'experiment.steps=20'")
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return hydra_compose(config_name="config", overrides=normalise_overrides(list(overrides)))


def default_out_dir() -> Path:
    """``outputs/api/<local time>``: where a notebook's run goes when no folder is given."""
    return Path("outputs") / "api" / _dt.datetime.now().strftime("%Y-%m-%d_%H-%M-%S-%f")


