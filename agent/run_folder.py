"""A run folder read from its files (finished, killed or running): :class:`Run`, what the notebook API
returns and reloads; no instrument, no model, no refit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .record import RecordError
from .result import RunResult

__all__ = ["PlotSet", "Run"]


class Run:
    """A run folder (finished, killed or running), read from its files; no instrument needed.

    Attributes:
        path: the run folder.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not (self.path / "record.h5").exists():
            raise RecordError(f"{self.path} holds no record.h5: give a run folder (config.yaml, "
                              f"journal.jsonl, record.h5)")

    @classmethod
    def load(cls, path: str | Path) -> Run:
        """Reload a run from its folder (the object :func:`run_experiment` and :meth:`Session.finish` return)."""
        return cls(path)

    @property
    def record(self) -> RunResult:
        """The record's content, read now (rows, spectra, overview, candidates, truth, maps, events)."""
        return RunResult.from_run_dir(self.path)

    @property
    def summary(self) -> dict[str, Any]:
        """``summary.json`` as written at the end of the run; recomputed from the record when the run
        has none (running or killed)."""
        import json

        from .summary import summarise

        path = self.path / "summary.json"
        return json.loads(path.read_text()) if path.exists() else summarise(self.record)

    def plot(self, out_dir: str | Path | None = None) -> PlotSet:
        """Rebuild every plot from the record into ``out_dir`` (default: the run's ``plots/``); in a
        notebook the returned set shows them."""
        from .plots import plot_run

        return PlotSet(plot_run(self.record, Path(out_dir) if out_dir is not None else self.path / "plots"))

    def to_hyperspy(self) -> Any:
        """The spectra as a HyperSpy signal (navigation = measurement, positions in the metadata),
        through ``autoscope-export`` (needs the ``[replay]`` extra)."""
        from .export import to_hyperspy

        return to_hyperspy(self.path)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"


class PlotSet(list[Path]):
    """The paths of a run's plots; a notebook shows them as images."""

    def _repr_html_(self) -> str:
        import base64

        return "".join(f'<img style="max-width:48%" alt="{p.stem}" src="data:image/png;base64,'
                       f'{base64.b64encode(Path(p).read_bytes()).decode()}">' for p in self)
