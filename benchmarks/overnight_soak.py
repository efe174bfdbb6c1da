"""Overnight soak: a long ``driver=emulator_faulty`` run killed with SIGKILL about every 100 steps.

    .venv/bin/python -m benchmarks.overnight_soak --steps 1000 --out benchmarks/results/overnight_soak.json

Two runs of the same seed, each an ``autoscope`` process as an operator starts it:

* the reference, uninterrupted;
* the soaked run, killed with ``kill -9`` at a random moment in every window of ``--kill-every``
  steps (a row count drawn in the window, then a random delay of up to 0.5 s so the kill lands
  anywhere in a step: mid-acquisition, mid-journal line, mid-checkpoint) and continued each time
  with ``autoscope-resume RUN_DIR experiment.steps=N``.

After every kill, before the resume, the journal's events are kept; the run's files are checked
read-only (:func:`agent.consistency.check_store`). At the end:

* journal rows == record rows == checkpoint rows == N;
* every event journaled before each kill is present, in order, in the final (rebuilt) record, and
  the record's events are the journal's events;
* the positions (candidate index of every row, in order) are identical to the reference's;
* RSS of each ``autoscope`` process sampled from /proc while it runs; growth per step is the
  least-squares slope of RSS against rows over the second half of the reference run (after the
  start-up allocations) and over each resumed segment.

The code and configs are hashed before the reference and after the soaked run: in a shared working
tree an edit in between (a surrogate tuned by someone else) would make the positions differ for a
reason that is not the kills (``code_unchanged_during_benchmark``).

Exit status 0 when every check passes. The processes run one at a time.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.consistency import RunStoreError, check_store  # noqa: E402
from agent.journal import scan_journal  # noqa: E402
from agent.record import Record  # noqa: E402

BIN = Path(sys.executable).parent
PAGE = os.sysconf("SC_PAGE_SIZE")
REPO = Path(__file__).resolve().parents[1]


def _code_fingerprint() -> str:
    """Hash of the code and configs a run imports: a change while the benchmark runs (a shared
    working tree) would make the two runs differ for a reason that is not the kills."""
    h = hashlib.sha256()
    for top in ("agent", "drivers", "policies", "rewards", "conf"):
        for path in sorted((REPO / top).rglob("*")):
            if path.suffix in (".py", ".yaml", ".yml", ".pt", ".npz") and "__pycache__" not in path.parts:
                h.update(str(path.relative_to(REPO)).encode())
                h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/statm") as fh:
            return int(fh.read().split()[1]) * PAGE / 2**20
    except (OSError, IndexError, ValueError):
        return None


def _rows(run_dir: Path) -> int:
    path = run_dir / "journal.jsonl"
    # measurement lines only (the journal also holds events and the signal axis)
    return path.read_bytes().count(b'"spectrum_b64"') if path.exists() else 0


def _slope(samples: list[tuple[int, float]]) -> float | None:
    """MB per step: least-squares slope of (rows, rss) where rows vary."""
    if len(samples) < 3 or len({r for r, _ in samples}) < 2:
        return None
    x = np.array([r for r, _ in samples], dtype=float)
    y = np.array([m for _, m in samples], dtype=float)
    return float(np.polyfit(x, y, 1)[0])


class Watched:
    """An ``autoscope``/``autoscope-resume`` process with its RSS sampled against journal rows."""

    def __init__(self, args: list[str], run_dir: Path, log: Path) -> None:
        self.run_dir = run_dir
        self.log = open(log, "ab")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        self.samples: list[tuple[int, float]] = []
        self.t0 = time.perf_counter()

    def sample(self) -> None:
        rss = _rss_mb(self.proc.pid)
        if rss:  # None or 0: the process is gone (or a zombie)
            self.samples.append((_rows(self.run_dir), rss))

    def running_samples(self) -> list[tuple[int, float]]:
        """Samples after the first row this process measured (start-up and replay left out)."""
        if not self.samples:
            return []
        first = self.samples[0][0]
        return [(r, m) for r, m in self.samples if r > first]

    def segment(self) -> dict[str, Any]:
        run = self.running_samples()
        return {"start_rows": self.samples[0][0] if self.samples else None, "end_rows": _rows(self.run_dir),
                "rss_mb_per_step": _slope(run),
                "rss_mb_first_last_row": [run[0][1], run[-1][1]] if run else None,
                "peak_rss_mb": max((m for _, m in self.samples), default=None)}

    def wait_rows(self, k: int, timeout_s: float) -> bool:
        """Sample until the journal holds ``k`` rows; False if the process ended or time ran out."""
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            self.sample()
            if _rows(self.run_dir) >= k:
                return True
            if self.proc.poll() is not None:
                return False
            time.sleep(0.05)
        return False

    def finish(self, timeout_s: float) -> int:
        deadline = time.time() + timeout_s
        while self.proc.poll() is None and time.time() < deadline:
            self.sample()
            time.sleep(0.1)
        if self.proc.poll() is None:
            self.proc.kill()
        rc = self.proc.wait()
        self.log.close()
        return rc

    def kill9(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.log.close()


def _record_state(run_dir: Path) -> dict[str, Any]:
    with Record.open(run_dir / "record.h5") as rec:
        return {"index": rec.column("index").tolist(), "events": rec.event_texts(), "rows": len(rec)}


def _is_prefix(prefix: list[str], full: list[str]) -> bool:
    return full[: len(prefix)] == prefix


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--kill-every", type=int, default=100, help="one kill in every window of this many steps")
    ap.add_argument("--kill-seed", type=int, default=7, help="seed of the kill moments")
    ap.add_argument("--timeout-s", type=float, default=3600.0, help="limit per process")
    ap.add_argument("--work-dir", type=Path, default=None, help="keep the runs here (default: a temp dir)")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/overnight_soak.json"))
    args = ap.parse_args(argv)
    n = args.steps
    base = [f"seed={args.seed}", "driver=emulator_faulty", f"experiment.steps={n}",
            "experiment.plots=false", "experiment.progress=false"]
    tmp = None
    if args.work_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="soak-")
        work = Path(tmp.name)
    else:
        work = args.work_dir
        work.mkdir(parents=True, exist_ok=True)
    ref_dir, run_dir = work / "reference", work / "soaked"
    command = "python -m benchmarks.overnight_soak " + " ".join(argv if argv is not None else sys.argv[1:])

    # --- the uninterrupted reference
    code_before = _code_fingerprint()
    t0 = time.perf_counter()
    ref = Watched([str(BIN / "autoscope"), f"hydra.run.dir={ref_dir}", *base], ref_dir, work / "reference.log")
    ref_rc = ref.finish(args.timeout_s)
    ref_wall = time.perf_counter() - t0
    print(f"reference: exit {ref_rc}, {_rows(ref_dir)} rows in {ref_wall:.0f} s", flush=True)
    ref_state = _record_state(ref_dir)
    ref_run = ref.running_samples()
    ref_slope = _slope([(r, m) for r, m in ref_run if r >= n // 2])
    ref_slope_all = _slope(ref_run)
    # RSS when the journal first held k rows, every tenth of the run (the curve in the JSON)
    ref_curve: dict[int, float] = {}
    for r, m in ref_run:
        k = (r // max(1, n // 10)) * max(1, n // 10)
        ref_curve.setdefault(k, m)

    # --- the soaked run: kill -9 once in every window, then resume
    rng = np.random.default_rng(args.kill_seed)
    windows = range(args.kill_every, n, args.kill_every)
    kill_rows = sorted({int(min(n - 1, max(1, w - args.kill_every // 2 + rng.integers(0, args.kill_every))))
                        for w in windows})
    t0 = time.perf_counter()
    proc = Watched([str(BIN / "autoscope"), f"hydra.run.dir={run_dir}", *base], run_dir, work / "soaked.log")
    kills: list[dict[str, Any]] = []
    segments: list[dict[str, Any]] = []
    journal_events_at_kills: list[list[str]] = []
    for k in kill_rows:
        if not proc.wait_rows(k, args.timeout_s):
            print(f"the run ended (exit {proc.proc.poll()}) before row {k}", flush=True)
            break
        time.sleep(float(rng.uniform(0.0, 0.5)))  # a random moment inside the step
        proc.kill9()
        segments.append(proc.segment())
        contents = scan_journal(run_dir / "journal.jsonl")
        journal_events_at_kills.append(list(contents.events))
        entry: dict[str, Any] = {"target_row": k, "journal_rows": len(contents.rows),
                                 "journal_events": len(contents.events),
                                 "partial_line_bytes": len(contents.partial)}
        try:
            check = check_store(run_dir)
            entry.update(record_rows=check.record_rows, checkpoint_rows=check.checkpoint_rows,
                         record_problem=check.record_problem, record_unclean=check.record_unclean,
                         store=check.summary())
        except RunStoreError as err:
            entry["store_error"] = str(err)
        kills.append(entry)
        print(f"kill {len(kills)} at {entry['journal_rows']} rows: {entry.get('store', entry.get('store_error'))}",
              flush=True)
        proc = Watched([str(BIN / "autoscope-resume"), str(run_dir), f"experiment.steps={n}"], run_dir,
                       work / "soaked.log")
    rc = proc.finish(args.timeout_s)
    segments.append(proc.segment())
    soak_wall = time.perf_counter() - t0
    print(f"soaked: exit {rc}, {_rows(run_dir)} rows in {soak_wall:.0f} s, {len(kills)} kills", flush=True)

    # --- checks
    code_after = _code_fingerprint()
    final = check_store(run_dir)
    contents = final.journal
    state = _record_state(run_dir)
    events_kept = [_is_prefix(ev, state["events"]) for ev in journal_events_at_kills]
    summary = json.loads((run_dir / "summary.json").read_text()) if (run_dir / "summary.json").exists() else {}
    ref_summary = json.loads((ref_dir / "summary.json").read_text()) if (ref_dir / "summary.json").exists() else {}
    checks = {
        "reference_exit_0": ref_rc == 0,
        "soaked_exit_0": rc == 0,
        "every_kill_done": len(kills) == len(kill_rows),
        "rows_equal_n": len(contents.rows) == state["rows"] == final.checkpoint_rows == n,
        "record_events_equal_journal_events": state["events"] == list(contents.events),
        "every_event_kept_after_every_rebuild": all(events_kept),
        "positions_identical_to_reference": state["index"] == ref_state["index"],
        "store_consistent": final.summary().endswith("consistent"),
        "code_unchanged_during_benchmark": code_before == code_after,
        "no_store_error_at_any_kill": not any("store_error" in k for k in kills),
    }
    seg_slopes = [s["rss_mb_per_step"] for s in segments if s["rss_mb_per_step"] is not None]
    out = {
        "command": command.strip(),
        "steps": n,
        "seed": args.seed,
        "kill_every": args.kill_every,
        "code_fingerprint": [code_before, code_after],
        "kills": len(kills),
        "kill_log": kills,
        "journal_rows": len(contents.rows),
        "record_rows": state["rows"],
        "checkpoint_rows": final.checkpoint_rows,
        "journal_events": len(contents.events),
        "record_events": len(state["events"]),
        "events_kept_per_kill": events_kept,
        "positions_compared": len(ref_state["index"]),
        "positions_differing": int(sum(a != b for a, b in zip(state["index"], ref_state["index"]))
                                   + abs(len(state["index"]) - len(ref_state["index"]))),
        "reference": {"wall_s": ref_wall, "peak_rss_mb": max((m for _, m in ref.samples), default=None),
                      "rss_mb_per_step_second_half": ref_slope,
                      "rss_mb_per_step_from_first_row": ref_slope_all,
                      "rss_mb_at_rows": {str(k): v for k, v in sorted(ref_curve.items())},
                      "n_measured": ref_summary.get("n_measured"), "n_failed": ref_summary.get("n_failed")},
        "soaked": {"wall_s": soak_wall, "segments": segments,
                   "rss_mb_per_step_median_segment": float(np.median(seg_slopes)) if seg_slopes else None,
                   "n_measured": summary.get("n_measured"), "n_failed": summary.get("n_failed"),
                   "stop_reason": summary.get("stop_reason")},
        "checks": checks,
    }
    print(json.dumps({k: v for k, v in out.items() if k not in ("kill_log", "soaked")}, indent=1))
    print(json.dumps(out["soaked"], indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))
    print(f"saved {args.out}")
    if tmp is not None:
        tmp.cleanup()
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
