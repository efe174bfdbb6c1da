"""Remote operation over Pyro5: serve any driver, drive it from elsewhere, and the ORNL verb set.

* :func:`serve` / :class:`RemoteDriver`: the Driver protocol over the wire (arrays as bytes).
* :func:`serve_array_server` / :class:`ArrayServerDriver`: ORNL's DigitalMicrograph "array server"
  verbs (``get_ds``, ``set_beam_pos``, ``activate_camera``, ``acquire_camera``, ``get_eels``).
* ``python -m drivers.remote.serve`` (``autoscope-serve``): the command line server.
"""

from .array_client import ArrayServerDriver
from .array_server import ArrayServerService, serve_array_server
from .client import RemoteDriver
from .errors import AuthenticationError, ServerBusy, register_error_classes
from .limits import ServerLimits
from .server import DriverService, RemoteServer, serve

# teach Pyro5 the driver error classes, so even a plain Pyro5 proxy gets them back typed
register_error_classes()

__all__ = [
    "ArrayServerDriver",
    "ArrayServerService",
    "AuthenticationError",
    "DriverService",
    "RemoteDriver",
    "RemoteServer",
    "ServerBusy",
    "ServerLimits",
    "serve",
    "serve_array_server",
]
