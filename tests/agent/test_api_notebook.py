"""The example notebook runs from top to bottom (what a new user does first)."""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="the [dev] extra installs nbformat/nbclient")
nbclient = pytest.importorskip("nbclient", reason="the [dev] extra installs nbformat/nbclient")

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "quickstart.ipynb"


@pytest.mark.slow
def test_quickstart_notebook_executes(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOK.parents[1])}})
    client.execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs)
    assert "10 measured, stopped: steps budget reached" in text
    assert "Signal1D, title: spectra, dimensions: (10|1024)" in "".join(
        o.get("data", {}).get("text/plain", "") for o in outputs)
    assert any("image/png" in o.get("data", {}) or "text/html" in o.get("data", {}) for o in outputs)
