"""The package installs anywhere: a wheel carries the Hydra configs and the pretrained model,
declares ranges (not exact pins) for the runtime stack, an SPDX licence and every import."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    build = tmp_path_factory.mktemp("build")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO_ROOT), "--no-deps", "--no-build-isolation",
         "-q", "-w", str(out)],
        capture_output=True, text=True, timeout=300, cwd=build,
    )
    if proc.returncode != 0 and "No module named pip" in proc.stderr:
        pytest.skip("pip is not available in this interpreter")
    assert proc.returncode == 0, proc.stderr[-3000:]
    wheels = list(out.glob("autoscope-*.whl"))
    assert len(wheels) == 1
    return wheels[0]


def test_wheel_ships_the_configs_and_the_pretrained_model(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    conf = sorted(p.relative_to(REPO_ROOT / "conf").as_posix() for p in (REPO_ROOT / "conf").rglob("*.yaml"))
    assert conf and all(f"agent/conf/{name}" in names for name in conf), \
        [name for name in conf if f"agent/conf/{name}" not in names]
    models = [p.relative_to(REPO_ROOT).as_posix() for p in (REPO_ROOT / "agent" / "structure" / "models").glob("*.pt")]
    assert all(model in names for model in models)
    assert any(name.endswith("licenses/LICENSE") for name in names)


def test_metadata_has_ranges_an_spdx_licence_and_pyyaml(wheel):
    with zipfile.ZipFile(wheel) as zf:
        meta = zf.read(next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    assert "License-Expression: MIT" in meta
    requires = re.findall(r"^Requires-Dist: (.+)$", meta, flags=re.M)
    core = [r for r in requires if "extra ==" not in r]
    for name in ("torch", "botorch", "gpytorch", "hydra-core", "PyYAML"):
        spec = next((r for r in core if re.match(rf"{name}\b", r, flags=re.I)), None)
        assert spec is not None, f"{name} is not declared"
        assert "==" not in spec, f"{spec}: an exact pin forces a user's environment to change"
    assert not any(r.lower().startswith("scikit-learn") for r in core)  # only the extras that use it
    assert any(r.startswith("scikit-learn") and 'extra == "particles"' in r for r in requires)


def test_constraints_pin_what_pyproject_allows():
    text = (REPO_ROOT / "constraints.txt").read_text()
    pins = dict(re.findall(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)$", text, flags=re.M))
    for name in ("torch", "botorch", "gpytorch", "hydra-core", "PyYAML"):
        assert name in pins, f"constraints.txt does not pin {name}"
    assert "+" not in pins["torch"]  # no local build tag: the same file serves CPU and CUDA installs
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert "-c $(CONSTRAINTS)" in makefile and "download.pytorch.org/whl/cpu" in makefile
