"""Where recorded data lives: ``$AUTOSCOPE_DATA_DIR``, then ``<repo root>/../shared/data``.

The repository never holds recorded data and never downloads it; a relative file name is looked up
in the folders below, in order, and a missing file raises :class:`ReplayDataNotFound`.

1. ``$AUTOSCOPE_DATA_DIR`` (when set),
2. ``<repo root>/../shared/data`` (repo root = the folder holding ``pyproject.toml`` above this file),
3. the current working directory (for a user's own files given relative to where they run).
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ReplayDataNotFound

__all__ = [
    "ENV_VAR",
    "DATASETS",
    "DATASET_ALIASES",
    "repo_root",
    "data_dirs",
    "data_dir",
    "resolve_data_path",
]

#: Environment variable that points at a folder of recorded data (overrides the default location).
ENV_VAR = "AUTOSCOPE_DATA_DIR"

#: Short name -> file name of every recorded set described in ``shared/data/README.md``.
DATASET_ALIASES: dict[str, str] = {
    "ncem_eds": "ncem_idp_eds_0deg_bin4.npz",
    "jeol_eds": "jeol_pts_eds_bin8.npz",
    "bruker_tem_eds": "bruker_testTEM_eds_bin2.npz",
    "bruker_mineral_eds": "bruker_30x30_mineral_sem_eds.npz",
    "bruker_p45_eds": "bruker_P45_sem_eds.npz",
    "pto_beps": "dtmicroscope_pto_beps_50x50.npz",
    "kpfm": "nanonis_kpfm_grid_20x20.npz",
}

#: File names of the known recorded ``.npz`` sets (for tests that skip when one is absent).
DATASETS: tuple[str, ...] = tuple(DATASET_ALIASES.values())

_README_HINT = "see shared/data/README.md (the recorded sets and their format)"


def repo_root() -> Path | None:
    """The folder holding ``pyproject.toml`` above this module, or ``None`` when installed elsewhere."""
    for parent in Path(__file__).resolve().parents:
        if (parent / "pyproject.toml").is_file():
            return parent
    return None


def data_dirs() -> list[Path]:
    """Candidate data folders in lookup order (they need not exist)."""
    dirs: list[Path] = []
    env = os.environ.get(ENV_VAR)
    if env:
        dirs.append(Path(env).expanduser())
    root = repo_root()
    if root is not None:
        dirs.append((root / ".." / "shared" / "data").resolve())
    return dirs


def data_dir() -> Path | None:
    """The first existing data folder (``$AUTOSCOPE_DATA_DIR``, then ``<repo>/../shared/data``);
    ``None`` when there is none, so tests can skip."""
    for folder in data_dirs():
        if folder.is_dir():
            return folder
    return None


def resolve_data_path(path: str | os.PathLike[str], near: Path | None = None) -> Path:
    """Find a recorded file.

    Args:
        path: absolute path, a file name relative to the data folders, or a short name from
            :data:`DATASET_ALIASES` (``"ncem_eds"``).
        near: a folder searched first (e.g. the spectrum file's folder when resolving its image).

    Returns:
        The absolute path of an existing file.

    Raises:
        ReplayDataNotFound: naming the path, the folders tried, ``$AUTOSCOPE_DATA_DIR`` and the README.
    """
    text = os.fspath(path)
    if not text:
        raise ReplayDataNotFound(
            f"replay path is empty; give a file name such as 'ncem_idp_eds_0deg_bin4.npz' "
            f"({_README_HINT})"
        )
    text = DATASET_ALIASES.get(text, text)
    candidate = Path(text).expanduser()
    tried: list[Path] = []
    if candidate.is_absolute():
        tried.append(candidate)
    else:
        folders: list[Path] = []
        if near is not None:
            folders.append(near)
        folders.extend(data_dirs())
        folders.append(Path.cwd())
        tried.extend(folder / candidate for folder in folders)
    for option in tried:
        if option.is_file():
            return option.resolve()
    env = os.environ.get(ENV_VAR)
    env_note = f"${ENV_VAR}={env!r}" if env else f"${ENV_VAR} is not set"
    raise ReplayDataNotFound(
        f"recorded data file {text!r} not found; tried: {', '.join(str(p) for p in tried)}. "
        f"Put the file there or set the environment variable {ENV_VAR} to the folder that holds "
        f"it ({env_note}); {_README_HINT}"
    )
