"""Every command in the README's code blocks and components table runs as written (with a small
budget) and means something: exit 0, and where the run knows a truth, a finite, non-constant target
with fewer than half the measurements failed. Commands that need hardware, a cluster, the shared
recordings or hours of compute are listed with the reason they are skipped, so the README cannot
drift from the code unnoticed."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from agent.confdir import APP_GROUPS
from drivers.remote.testing import ServerProcess

REPO_ROOT = Path(__file__).resolve().parents[2]
README = (REPO_ROOT / "README.md").read_text()
BUDGET = ["experiment.steps=6", "experiment.plots=false", "experiment.progress=false"]

SKIP = {  # command (prefix) -> why it is not run here
    "make ": "builds a virtual environment / runs the whole suite",
    "autoscope-ctl": "needs a running run folder (RUN_DIR): tests/agent/test_control_channel.py",
    "autoscope-resume": "needs a killed run folder (RUN_DIR): tests/agent/test_persistence.py",
    "autoscope-bench": "offline benchmark on ../shared/data (Benchmarks section, its own tests)",
    ".venv/bin/autoscope-bench": "offline benchmark on ../shared/data (Benchmarks section, its own tests)",
    ".venv/bin/python": "a benchmark script (minutes to hours): tests/benchmarks/test_scripts_smoke.py",
    "pip install": "installs packages: tests/test_packaging.py builds the wheel",
    "cd ": "the install check (tests/test_packaging.py)",
    "autoscope driver=nion_usim": "Nion's simulator, minutes to bring up: tests/e2e/test_instrument_loops.py",
    "autoscope driver=replay_": "needs the recordings in ../shared/data: tests/drivers/test_replay_experiment.py",
    "autoscope +dataset=": "needs the recordings in ../shared/data: tests/drivers/test_replay_experiment.py",
    "autoscope driver=remote": "run with its server in test_remote_pairs",
    "autoscope driver=ornl_array_server": "run with its server in test_remote_pairs",
    "autoscope-serve": "run with its client in test_remote_pairs",
    "autoscope gate=": "trains a vision model for minutes on a 2-core machine: tests/e2e/test_app_gates.py",
    "autoscope prior=": "trains a vision model for minutes on a 2-core machine: tests/e2e/test_app_gates.py",
}


def _code_commands() -> list[str]:
    out = []
    for block in re.findall(r"```bash\n(.*?)```", README, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" # ")[0].split("  #")[0].strip()
            if line and not line.startswith("#"):
                out.append(re.sub(r"\s+", " ", line))
    return out


def _table_commands() -> list[str]:
    out = []
    section = README.split("## Components", 1)[1].split("\n## ", 1)[0]
    for row in section.splitlines():
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        if len(cells) < 3 or cells[0].startswith("---") or cells[0] == "component":
            continue
        for span in re.findall(r"`([^`]+)`", cells[-1]):
            words = span.split()
            if span.startswith(("autoscope", "autoscope-serve")):
                out.append(span)
            elif words and all("=" in w and w.split("=")[0].split(".")[0] in APP_GROUPS for w in words):
                out.append(f"autoscope {span}")
    return out


COMMANDS = list(dict.fromkeys(_code_commands() + _table_commands()))


def _skip_reason(command: str) -> str | None:
    if any(mark in command for mark in ("...", "<", "[[y,x]", "RUN_DIR", "mypkg", "[overrides]")):
        return "a placeholder the user fills in"
    words = command.split()[1:]
    if command.startswith("autoscope ") and words and all("." in w.split("=")[0] for w in words):
        return "a setting of the component named before it in the README row, not a command by itself"
    if "my.pt" in command:
        return "needs the file autoscope-pretrain writes (tests/agent/structure)"
    for prefix, reason in SKIP.items():
        if command.startswith(prefix):
            return reason
    if not command.startswith("autoscope"):
        return "not an autoscope command"
    return None


def _check_run(run_dir: Path) -> dict:
    summary = json.loads((run_dir / "summary.json").read_text())
    n, failed = summary["n_measured"], summary.get("n_failed", 0)
    assert n > 0 and failed < 0.5 * (n + failed), f"{run_dir}: {failed} of {n + failed} failed"
    if summary.get("best_value") is not None:
        assert np.isfinite(summary["best_value"])
    with h5py.File(run_dir / "record.h5", "r") as h5:
        truth = h5["candidates/truth"][...] if "truth" in h5["candidates"] else None
    if truth is not None:
        finite = truth[np.isfinite(truth)]
        assert finite.size > 0, f"{run_dir}: the truth is NaN at every candidate"
        assert np.ptp(finite) > 0, f"{run_dir}: the truth is constant ({finite[0]})"
    return summary


def _autoscope(args: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    code = "import sys; from agent.app import main; sys.argv[0] = 'autoscope'; main()"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def test_the_readme_lists_commands_and_every_one_is_run_or_skipped_for_a_reason():
    assert len(COMMANDS) >= 10
    ran = [c for c in COMMANDS if _skip_reason(c) is None]
    assert any("pfm_emulator" in c for c in ran) and any("peak_position" in c for c in ran)


@pytest.mark.slow
@pytest.mark.parametrize("command", COMMANDS)
def test_readme_command(command, tmp_path):
    reason = _skip_reason(command)
    if reason:
        pytest.skip(reason)
    args = shlex.split(command)[1:]
    multirun = "--multirun" in args or "-m" in args
    args = [a for a in args if not a.startswith(("experiment.steps=", "experiment.wall_time_s="))]
    if multirun:  # the sweep as written, one seed: keeps it small
        args = [re.sub(r"^seed=.*", "seed=0", a) for a in args] + [f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    else:
        args += [f"hydra.run.dir={tmp_path / 'run'}"]
    if "experiment.n_init" not in command:
        args.append("experiment.n_init=3")
    proc = _autoscope([*args, *BUDGET], cwd=tmp_path)
    assert proc.returncode == 0, f"{command}: exit {proc.returncode}\n{proc.stderr[-3000:]}"
    runs = sorted(p.parent for p in tmp_path.rglob("summary.json"))
    assert runs, f"{command}: no summary.json"
    for run in runs:
        _check_run(run)


@pytest.mark.slow
@pytest.mark.parametrize("protocol, client", [
    ("autoscope", ["driver=remote"]),
    ("array-server", ["driver=ornl_array_server", "driver.fov_m=2e-7"]),
])
def test_remote_pairs(protocol, client, tmp_path):
    """autoscope-serve plus its client, both with their safety layers (the README's defaults)."""
    argv = ["driver=emulator"] + (["--protocol", "array-server", "--fov-m", "2e-7"] if protocol != "autoscope" else [])
    with ServerProcess(argv, module="agent.serve") as server:  # autoscope-serve
        proc = _autoscope([*client, f"driver.uri={server.uri}", "experiment.n_init=3", *BUDGET,
                           f"hydra.run.dir={tmp_path / 'run'}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    _check_run(tmp_path / "run")
