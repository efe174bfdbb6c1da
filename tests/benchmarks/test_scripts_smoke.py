"""The note's smaller benchmark scripts run end to end on tiny settings and write their JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks import overnight_faults, remote_roundtrip  # noqa: E402


def test_overnight_faults_short_night_loses_nothing(tmp_path: Path) -> None:
    out = tmp_path / "faults.json"
    assert overnight_faults.main(["--steps", "40", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert all(res["checks"].values())
    assert sum(res["injected"].values()) == sum(res["recorded_faults"].values()) > 0
    assert res["journal_rows"] == res["record_rows"] == 40


def test_remote_roundtrip_through_a_served_emulator(tmp_path: Path) -> None:
    out = tmp_path / "rt.json"
    assert remote_roundtrip.main(["--n", "5", "--protocols", "autoscope", "--out", str(out)]) == 0
    (row,) = json.loads(out.read_text())["rows"]
    assert row["n"] == 5 and len(row["times_ms"]) == 5 and 0 < row["median_ms"] < 1000
    assert row["spectrum_bytes"] == 1024 * 8
