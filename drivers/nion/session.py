"""``UsimSession``: Nion's simulated STEM (``nionswift-usim``) brought up headless, in plain Python.

Bring-up (no Qt, no Swift document): ``HardwareSource.run()``, ``camera_base.run(folder)``,
``scan_base.run(folder)``, then ``DeviceConfiguration.AcquisitionContextConfiguration(
set_configuration_location=False).run()`` registers the simulated instrument, its scan device and
its cameras, which then appear in ``HardwareSourceManager()`` as ``"usim_scan_device"``,
``"usim_eels_camera"`` and ``"usim_ronchigram_camera"``. Settings persist in the configuration
folder, so each session gets a fresh temporary one unless told otherwise.

Nion's registries are process-wide: one session per process at a time (a second raises
``InstrumentError``). ``close()`` undoes the bring-up in reverse and is idempotent.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from pathlib import Path
from typing import Any

from drivers.errors import InstrumentError

__all__ = ["UsimSession"]

log = logging.getLogger(__name__)

_active_lock = threading.Lock()
_active: UsimSession | None = None


class UsimSession:
    """The simulator, up and registered.

    Args:
        config_dir: configuration folder for the hardware sources; ``None``: a fresh temporary
            folder, deleted on close.
        sample_index: usim sample (0: flakes of Ni/Ge/Si with plasmons at 20/16.2/16.8 eV,
            1: amorphous carbon, 2: gold balls on carbon).
    """

    def __init__(self, config_dir: str | Path | None = None, sample_index: int = 0) -> None:
        global _active
        if sample_index not in (0, 1, 2):
            raise InstrumentError(f"sample_index={sample_index}: usim has samples 0, 1 and 2")
        with _active_lock:
            if _active is not None:
                raise InstrumentError(
                    "a usim session is already open in this process (Nion's registries are global): close it first"
                )
            _active = self
        self._closed = False
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        try:
            self._bring_up(config_dir, sample_index)
        except BaseException:
            self.close()
            raise

    def _bring_up(self, config_dir: str | Path | None, sample_index: int) -> None:
        from nion.instrumentation import HardwareSource, camera_base, scan_base
        from nion.usim_device import DeviceConfiguration
        from nion.utils import Registry

        if config_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="autoscope-usim-")
            folder = Path(self._tmp.name)
        else:
            folder = Path(config_dir)
            folder.mkdir(parents=True, exist_ok=True)
        self.config_dir = folder
        self._started: list[str] = []
        HardwareSource.run()
        self._started.append("hardware_source")
        camera_base.run(folder)
        self._started.append("camera_base")
        scan_base.run(folder)
        self._started.append("scan_base")
        self._configuration = DeviceConfiguration.AcquisitionContextConfiguration(
            sample_index=sample_index, set_configuration_location=False
        )
        self._configuration.run()
        self._started.append("configuration")
        manager = HardwareSource.HardwareSourceManager()
        self.scan = manager.get_hardware_source_for_hardware_source_id("usim_scan_device")
        self.eels = manager.get_hardware_source_for_hardware_source_id("usim_eels_camera")
        self.instrument: Any = Registry.get_component("stem_controller")
        if self.scan is None or self.eels is None or self.instrument is None:
            raise InstrumentError("usim bring-up: the scan device, EELS camera or STEM controller did not register")

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Abort acquisitions, unregister everything, remove the temporary folder (idempotent)."""
        global _active
        if self._closed:
            return
        self._closed = True
        started = getattr(self, "_started", [])
        try:
            from nion.instrumentation import HardwareSource, camera_base, scan_base

            for source in (getattr(self, "eels", None), getattr(self, "scan", None)):
                if source is not None:
                    try:
                        source.abort_playing(sync_timeout=5.0)
                    except Exception as exc:  # noqa: BLE001 - keep tearing down
                        log.warning("usim close: aborting %s failed: %s", source, exc)
            if "configuration" in started:
                self._configuration.stop()
            if "scan_base" in started:
                scan_base.stop()
            if "camera_base" in started:
                camera_base.stop()
            if "hardware_source" in started:
                HardwareSource.stop()
                HardwareSource.HardwareSourceManager().close()
        finally:
            if self._tmp is not None:
                self._tmp.cleanup()
                self._tmp = None
            with _active_lock:
                if _active is self:
                    _active = None
