"""Replay of recorded spectrum images: the Driver and GroundTruth protocols over real data.

``ReplayDriver(path="ncem_idp_eds_0deg_bin4.npz")`` replays a project ``.npz`` (see
``shared/data/README.md``); :meth:`ReplayDriver.from_file` reads any spectrum image HyperSpy /
RosettaSciIO can load. Recorded files are looked up in ``$AUTOSCOPE_DATA_DIR`` then
``<repo root>/../shared/data`` (:func:`data_dir`, :data:`DATASETS`).
"""

from .calibration import metres_per_unit, spatial_axes
from .denoise import DENOISE_METHODS, denoise_cube
from .driver import ReplayDriver, ReplayProbeState
from .errors import ReplayDataNotFound, ReplayError, ReplayFormatError
from .hyperspy_io import load_hyperspy
from .paths import DATASET_ALIASES, DATASETS, ENV_VAR, data_dir, data_dirs, repo_root, resolve_data_path
from .recording import Recording, load_npz
from .thinning import thin_counts

__all__ = [
    "DATASETS",
    "DATASET_ALIASES",
    "DENOISE_METHODS",
    "ENV_VAR",
    "Recording",
    "ReplayDataNotFound",
    "ReplayDriver",
    "ReplayError",
    "ReplayFormatError",
    "ReplayProbeState",
    "data_dir",
    "data_dirs",
    "denoise_cube",
    "load_hyperspy",
    "load_npz",
    "metres_per_unit",
    "repo_root",
    "resolve_data_path",
    "spatial_axes",
    "thin_counts",
]
