"""One writer per run folder: ``RUN_DIR/run.lock`` names the process that writes the run.

A second ``autoscope`` / ``autoscope-resume`` on a live run would append the same rows twice and
leave the record half-written; it is refused with the PID of the first. The lock is an advisory
``flock`` on the lock file where the OS has one (released by the kernel when the holder dies, even by
``kill -9``), else an exclusively created PID file whose holder is checked for life. A lock left by
a process that no longer runs is taken over, and said so.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from .record import RecordError

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows instrument PCs
    fcntl = None  # type: ignore[assignment]

__all__ = ["RunLock", "RunLocked", "LOCK_NAME"]

LOCK_NAME = "run.lock"


class RunLocked(RecordError):
    """Another live process writes this run folder; the message names its PID."""


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    except OSError:
        return False
    return True


def _read_holder(text: str) -> dict[str, Any]:
    try:
        d = json.loads(text)
        return d if isinstance(d, dict) else {}
    except ValueError:
        return {}


class RunLock:
    """``with RunLock(run_dir):`` or :meth:`acquire` / :meth:`release`.

    Attributes:
        took_over: the holder record (``pid``, ``host``, ``since``) of a stale lock this one replaced.
    """

    def __init__(self, run_dir: str | Path, use_flock: bool | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_NAME
        self._flock = fcntl is not None if use_flock is None else (use_flock and fcntl is not None)
        self._fh: Any = None
        self.took_over: dict[str, Any] | None = None

    @property
    def held(self) -> bool:
        return self._fh is not None

    def _refuse(self, holder: dict[str, Any]) -> RunLocked:
        since = holder.get("since")
        when = time.strftime(" since %Y-%m-%d %H:%M:%S", time.localtime(since)) if since else ""
        return RunLocked(
            f"{self.run_dir} is being written by PID {holder.get('pid', '?')} on "
            f"{holder.get('host', '?')}{when}; a second writer would duplicate rows. Wait for it to end "
            f"or stop it (`autoscope-ctl {self.run_dir} stop`), then resume")

    def acquire(self) -> RunLock:
        if self._fh is not None:
            return self
        self.run_dir.mkdir(parents=True, exist_ok=True)
        me = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
        if self._flock:
            fh = open(self.path, "a+", encoding="utf-8")
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                fh.seek(0)
                holder = _read_holder(fh.read())
                fh.close()
                raise self._refuse(holder) from None
            fh.seek(0)
            previous = _read_holder(fh.read())
        else:
            previous = {}
            while True:
                try:
                    fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
                    fh = os.fdopen(fd, "r+", encoding="utf-8")
                    break
                except FileExistsError:
                    previous = _read_holder(self.path.read_text(encoding="utf-8", errors="replace"))
                    pid = int(previous.get("pid", -1)) if str(previous.get("pid", "")).isdigit() else -1
                    same_host = previous.get("host") in (None, me["host"])
                    if pid == os.getpid() or (same_host and _pid_alive(pid)) or (not same_host and pid > 0):
                        raise self._refuse(previous) from None
                    self.path.unlink(missing_ok=True)  # stale: its process is gone
        if previous.get("pid") not in (None, me["pid"]):
            self.took_over = previous
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps(me))
        fh.flush()
        os.fsync(fh.fileno())
        self._fh = fh
        return self

    def release(self) -> None:
        fh, self._fh = self._fh, None
        if fh is None:
            return
        try:
            fh.seek(0)
            fh.truncate()
            fh.flush()
        finally:
            if self._flock:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
                fh.close()
            else:
                fh.close()
                self.path.unlink(missing_ok=True)

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
