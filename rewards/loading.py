"""Load a user reward function by its dotted path (the non-Hydra way to plug one in)."""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import Any

from .errors import InvalidRewardConfig

__all__ = ["load_callable"]


def load_callable(path: str, **kwargs: Any) -> Callable[..., Any]:
    """Import ``"package.module.function"`` (or ``"package.module:function"``) and return it.

    Args:
        path: dotted path of a callable ``f(spectrum, axis, **kwargs) -> float``; a ``:`` may
            separate the module from the attribute (needed for nested attributes).
        **kwargs: keyword arguments bound with :func:`functools.partial`, like Hydra's ``_partial_``.

    Raises:
        InvalidRewardConfig: the module cannot be imported, has no such attribute, or it is not
            callable; the message names ``path``.
    """
    if not isinstance(path, str) or not path.strip():
        raise InvalidRewardConfig(f"load_callable: path must be a dotted name like 'mypkg.mymod.myfun', got {path!r}")
    path = path.strip()
    if ":" in path:
        module_name, _, attr_path = path.partition(":")
    else:
        module_name, _, attr_path = path.rpartition(".")
    if not module_name or not attr_path:
        raise InvalidRewardConfig(
            f"load_callable: {path!r} needs a module and a name, e.g. 'mypkg.mymod.myfun' or 'mypkg.mymod:myfun'"
        )
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise InvalidRewardConfig(
            f"load_callable: cannot import module {module_name!r} of {path!r} ({exc}); check the name and "
            "that the package is on the Python path"
        ) from exc
    for part in attr_path.split("."):
        if not hasattr(obj, part):
            raise InvalidRewardConfig(f"load_callable: {module_name!r} has no attribute {attr_path!r} ({path!r})")
        obj = getattr(obj, part)
    if not callable(obj):
        raise InvalidRewardConfig(f"load_callable: {path!r} is a {type(obj).__name__}, not a callable")
    return functools.partial(obj, **kwargs) if kwargs else obj
