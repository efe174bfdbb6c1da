"""SafeDriver over the recording FakeDriver: blanking, refusals, dose budgets, audit log, timeouts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from drivers import Driver
from drivers.errors import Aborted, InstrumentError, InvalidArgument, NotSupported, SafetyInterlock, Timeout
from drivers.remote.testing import REPO_ROOT, FakeDriver
from drivers.safety import SafeDriver, SafetyLimits

E_CHARGE = 1.602176634e-19
SPECTRUM_E = 50e-12 * 0.1 / E_CHARGE  # FakeDriver's 50 pA for 0.1 s


def _safe(fake: FakeDriver | None = None, **limits) -> tuple[SafeDriver, FakeDriver]:
    fake = fake or FakeDriver(start_blanked=False)
    return SafeDriver(fake, SafetyLimits(**limits), register_atexit=False), fake


def _ready(safe: SafeDriver, frac=(0.5, 0.5)):
    frame = safe.acquire_overview(100e-9, (16, 16), 1e-6)
    safe.set_probe(frame.frame_id, yx_frac=frac)
    return frame


def test_beam_is_blanked_except_during_acquisitions():
    safe, fake = _safe()
    assert isinstance(safe, Driver)
    assert fake.blanked and fake.verbs_called() == ["blank", "state"]  # blanked on construction
    _ready(safe)
    assert fake.blanked
    safe.acquire_spectrum(0.1)
    assert fake.blanked
    with pytest.raises(NotSupported):
        safe.acquire_spectrum(0.1, detector="EDS")  # fails inside the driver, after the unblank
    assert fake.blanked
    assert fake.verbs_called()[2:] == [
        "unblank", "acquire_overview", "blank",
        "set_probe",
        "unblank", "acquire_spectrum", "blank",
        "unblank", "acquire_spectrum", "blank",
    ]
    with pytest.raises(SafetyInterlock, match="unblank refused"):
        safe.unblank()
    assert fake.blanked and fake.verbs_called()[-1] == "blank"  # the refusal never reached the driver
    safe.close()
    safe.close()
    assert fake.verbs_called()[-2:] == ["blank", "close"]
    with pytest.raises(InstrumentError, match="closed"):
        safe.acquire_spectrum(0.1)


def test_out_of_limit_requests_are_refused_never_clamped():
    safe, fake = _safe(max_exposure_s=1.0, max_dwell_s=1e-5, max_fov_m=200e-9,
                       stage_limits_m=((-1e-6, 1e-6), (-2e-7, 2e-7)), default_timeout_s=5.0,
                       timeout_factor=None)  # a fixed timeout, as before timeouts followed the acquisition
    _ready(safe)
    calls = len(fake.calls)
    refusals = [
        lambda: safe.acquire_spectrum(1.5),
        lambda: safe.acquire_spectrum(float("nan")),
        lambda: safe.acquire_spectrum(0.0),
        lambda: safe.acquire_spectrum(0.5, timeout_s=0.4),  # shorter than the exposure
        lambda: safe.acquire_overview(300e-9, (16, 16), 1e-6),
        lambda: safe.acquire_overview(100e-9, (16, 16), 2e-5),
        lambda: safe.acquire_overview(100e-9, (16, 0), 1e-6),
        lambda: safe.acquire_overview(100e-9, (1000, 1000), 1e-5),  # 10 s of scanning > 5 s timeout
        lambda: safe.move_stage(0.0, 3e-7),
        lambda: safe.move_stage(float("inf"), 0.0),
        lambda: safe.set_probe("x"),
    ]
    for refuse in refusals:
        with pytest.raises(InvalidArgument):
            refuse()
    assert len(fake.calls) == calls  # none of them reached the driver
    safe.move_stage(5e-7, 1.5e-7)
    with pytest.raises(InvalidArgument, match="stage_limits_m"):
        safe.move_stage(0.0, 1e-7)  # cumulative: 2.5e-7 > 2e-7
    assert safe.state()["safety"]["stage_travel_yx_m"] == (5e-7, 1.5e-7)
    assert fake.state()["stage_yx_m"] == (5e-7, 1.5e-7)
    safe.move_stage(0.0, 0.0, relative=False)  # absolute: back to the start
    assert fake.state()["stage_yx_m"] == pytest.approx((0.0, 0.0))
    caps = safe.capabilities()
    assert caps.max_exposure_s == 1.0 and caps.max_fov_m == 200e-9
    assert caps.verbs == ("state", "move_stage") and caps.backend == "safe(fake)"
    safe.close()


def test_total_dose_budget_runs_out():
    safe, fake = _safe(max_total_dose_e=3.5 * SPECTRUM_E + 1e6)
    assert safe.beam_current_A == 50e-12  # read from the driver's state()
    frame = safe.acquire_overview(100e-9, (16, 16), 1e-6)  # 256 us of beam: 8e4 electrons
    safe.set_probe(frame.frame_id, yx_frac=(0.5, 0.5))
    for _ in range(3):
        safe.acquire_spectrum(0.1)
    with pytest.raises(SafetyInterlock, match="total dose budget"):
        safe.acquire_spectrum(0.1)
    assert fake.verbs_called().count("acquire_spectrum") == 3
    assert fake.verbs_called()[-1] == "blank"
    total = safe.state()["safety"]["total_dose_e"]
    assert total == pytest.approx(3 * SPECTRUM_E + frame.metadata["dose_e"], rel=1e-12)
    safe.close()


def test_dose_comes_from_metadata_else_from_current_times_time():
    # the driver reports its dose (50 pA): the ledger takes it, not the 100 pA the limits assume
    safe, _ = _safe(beam_current_A=100e-12)
    _ready(safe)
    frame = safe.acquire_spectrum(0.1)
    assert frame.metadata["dose_e"] == pytest.approx(SPECTRUM_E)
    spectra_dose = safe.state()["safety"]["total_dose_e"] - 50e-12 * 256e-6 / E_CHARGE
    assert spectra_dose == pytest.approx(SPECTRUM_E, rel=1e-9)
    # a driver that reports nothing: beam current x time
    safe, _ = _safe(FakeDriver(report_dose=False), beam_current_A=100e-12)
    _ready(safe)
    safe.acquire_spectrum(0.1)
    expected = 100e-12 * (256e-6 + 0.1) / E_CHARGE
    assert safe.state()["safety"]["total_dose_e"] == pytest.approx(expected, rel=1e-9)


def test_dose_per_area_budget_is_per_spot():
    # probe 1 nm: area pi / 4 * 100 A^2; one 0.1 s spectrum puts about 3.97e5 e/A^2 there
    per_spectrum = SPECTRUM_E / (3.141592653589793 / 4 * 100.0)
    safe, fake = _safe(max_dose_per_area_e_per_A2=2.5 * per_spectrum, probe_diameter_m=1e-9)
    frame = _ready(safe, frac=(0.5, 0.5))
    safe.acquire_spectrum(0.1)
    safe.acquire_spectrum(0.1)
    with pytest.raises(SafetyInterlock, match="dose per area"):
        safe.acquire_spectrum(0.1)
    safe.set_probe(frame.frame_id, yx_frac=(0.6, 0.5))  # 10 nm away: a fresh spot
    safe.acquire_spectrum(0.1)
    assert fake.verbs_called().count("acquire_spectrum") == 3
    summary = safe.state()["safety"]
    assert summary["max_spot_e_per_A2"] == pytest.approx(2 * per_spectrum + summary["background_e_per_A2"])
    safe.close()


def test_dose_budget_needs_a_known_beam_current():
    class NoState(FakeDriver):
        state = None  # type: ignore[assignment]

    fake = NoState()
    with pytest.raises(InvalidArgument, match="beam_current_A"):
        SafeDriver(fake, SafetyLimits(max_total_dose_e=1e9), register_atexit=False)
    assert fake.verbs_called() == ["blank", "blank", "close"]  # blanked and closed again


def test_audit_log_has_one_json_line_per_command(tmp_path):
    path = tmp_path / "logs" / "audit.jsonl"
    fake = FakeDriver()
    safe = SafeDriver(fake, SafetyLimits(max_exposure_s=1.0), audit_log_path=path, register_atexit=False)
    frame = _ready(safe)
    safe.acquire_spectrum(0.1)
    with pytest.raises(InvalidArgument):
        safe.acquire_spectrum(2.0)
    with pytest.raises(InvalidArgument):
        safe.set_probe(frame.frame_id, yx_frac=(2.0, 0.5))  # refused by the driver itself
    safe.close()
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(r["verb"], r["outcome"]) for r in records] == [
        ("blank", "ok"), ("unblank", "ok"), ("blank", "ok"), ("acquire_overview", "ok"),
        ("set_probe", "ok"),
        ("unblank", "ok"), ("blank", "ok"), ("acquire_spectrum", "ok"),
        ("acquire_spectrum", "refused"),
        ("set_probe", "refused"),
        ("blank", "ok"), ("close", "ok"),
    ]
    for record in records:
        assert {"time", "time_s", "verb", "args", "outcome", "duration_s"} <= set(record)
        assert record["duration_s"] >= 0 and record["time"].endswith("+00:00")
    assert records[0]["args"] == {"auto": True, "reason": "construction"}
    assert records[3]["args"] == {"fov_m": 1e-7, "shape_px": [16, 16], "dwell_s": 1e-6,
                                  "detector": "HAADF", "timeout_s": None}
    assert records[3]["result"]["frame_id"] == frame.frame_id
    assert records[7]["result"]["dose_e"] == pytest.approx(SPECTRUM_E)
    assert records[8]["error_type"] == "InvalidArgument" and "max_exposure_s" in records[8]["message"]
    assert records[9]["args"]["yx_frac"] == [2.0, 0.5]
    assert records[3]["time_s"] <= records[1]["time_s"]  # each line carries its command's start time


def test_timeout_enforced_when_the_driver_ignores_it():
    fake = FakeDriver(delay_s=3.0)  # ignores timeout_s
    safe = SafeDriver(fake, SafetyLimits(timeout_grace_s=0.2), register_atexit=False)
    t0 = time.perf_counter()
    with pytest.raises(Timeout, match="timeout_s=0.3"):
        safe.acquire_overview(100e-9, (8, 8), 1e-6, timeout_s=0.3)
    assert time.perf_counter() - t0 < 1.5
    assert "stop" in fake.verbs_called() and fake.blanked
    records = list(safe.audit.records)
    assert [r["outcome"] for r in records if r["verb"] == "acquire_overview"] == ["timeout"]
    assert any(r["verb"] == "stop" and r["args"].get("auto") for r in records)
    fake.delay_s = 0.0
    assert _wait_until(lambda: fake.verbs_called()[-1] == "blank", 2.0)  # the hung call blanked as it ended
    _ready(safe)  # usable again
    assert fake.blanked
    safe.close()


def _wait_until(predicate, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def test_stop_aborts_and_blanks():
    safe, fake = _safe()
    _ready(safe)
    fake.delay_s = 3.0
    outcome: dict[str, object] = {}

    def run() -> None:
        t0 = time.perf_counter()
        try:
            safe.acquire_spectrum(0.1)
        except BaseException as exc:  # noqa: BLE001 - inspected below
            outcome["error"] = exc
        outcome["elapsed"] = time.perf_counter() - t0

    worker = threading.Thread(target=run)
    worker.start()
    assert _wait_until(lambda: fake.verbs_called()[-1] == "acquire_spectrum", 2.0)
    assert not fake.blanked  # the acquisition holds the beam open
    safe.stop()
    worker.join(timeout=5)
    assert isinstance(outcome.get("error"), Aborted) and outcome["elapsed"] < 1.5
    assert fake.blanked and safe.blanked
    assert "stop" in fake.verbs_called()
    assert safe.audit.records[-1]["verb"] in ("stop", "acquire_spectrum")
    safe.close()


def test_context_manager_and_atexit_blank_and_close(tmp_path):
    fake = FakeDriver()
    with SafeDriver(fake, register_atexit=False) as safe:
        _ready(safe)
    assert fake.state()["closed"] and fake.blanked
    audit = tmp_path / "crash.jsonl"
    script = textwrap.dedent(
        f"""
        from drivers.remote.testing import FakeDriver
        from drivers.safety import SafeDriver
        safe = SafeDriver(FakeDriver(), audit_log_path={str(audit)!r})
        frame = safe.acquire_overview(100e-9, (8, 8), 1e-6)
        raise RuntimeError("the experiment crashed")
        """
    )
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    result = subprocess.run([sys.executable, "-c", script], cwd=str(REPO_ROOT), env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "the experiment crashed" in result.stderr
    records = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [(r["verb"], r["args"].get("reason")) for r in records[-2:]] == [("blank", "atexit"), ("close", "atexit")]


def test_limits_validate_and_the_config_builds_them():
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    limits = instantiate(OmegaConf.load(REPO_ROOT / "conf" / "safety" / "default.yaml"))
    assert limits == SafetyLimits()
    cfg = OmegaConf.load(REPO_ROOT / "conf" / "safety" / "default.yaml")
    cfg.stage_limits_m = [[-1e-6, 1e-6], [-1e-6, 1e-6]]
    assert instantiate(cfg).stage_limits_m == ((-1e-6, 1e-6), (-1e-6, 1e-6))
    with pytest.raises(InvalidArgument, match="max_exposure_s"):
        SafetyLimits(max_exposure_s=-1.0)
    with pytest.raises(InvalidArgument, match="stage_limits_m"):
        SafetyLimits(stage_limits_m=((1e-6, 2e-6), (-1.0, 1.0)))  # must contain the start
    with pytest.raises(InvalidArgument, match="max_total_dose_e"):
        SafetyLimits(max_total_dose_e=float("nan"))
    with pytest.raises(InvalidArgument, match="SafetyLimits"):
        SafeDriver(FakeDriver(), limits={"max_exposure_s": 1.0}, register_atexit=False)  # type: ignore[arg-type]


def test_timeout_follows_the_acquisition_the_driver_declares():
    """A 256 x 256 PFM overview at 1 ms per pixel (65.5 s of scanning plus 2.6 s of flyback) was
    refused by the fixed 60 s default timeout; the timeout now follows the declared duration."""
    from drivers.pfm import PFMEmulator

    pfm = PFMEmulator(seed=0)
    declared = pfm.acquisition_time_s("acquire_overview", shape_px=(256, 256), dwell_s=1e-3)
    assert declared == pytest.approx(256 * 256 * 1e-3 + 256 * pfm.line_flyback_s)
    seen: list[float] = []
    inner = pfm.acquire_overview

    def spy(*args, timeout_s=None, **kwargs):
        seen.append(timeout_s)
        return inner(*args, timeout_s=timeout_s, **kwargs)

    pfm.acquire_overview = spy
    safe = SafeDriver(pfm, SafetyLimits(), register_atexit=False)
    frame = safe.acquire_overview(2e-6, (256, 256), 1e-3, detector="amplitude")
    assert frame.data.shape == (256, 256)
    assert seen == [pytest.approx(60.0 + 1.5 * declared)]
    safe.close()
    # with a fixed timeout (timeout_factor=null) the refusal names the command-line override
    fixed = SafeDriver(PFMEmulator(seed=0), SafetyLimits(timeout_factor=None), register_atexit=False)
    with pytest.raises(InvalidArgument, match=r"safety\.default_timeout_s=\d+"):
        fixed.acquire_overview(2e-6, (256, 256), 1e-3, detector="amplitude")
    fixed.close()
    with pytest.raises(InvalidArgument, match="timeout_factor"):
        SafetyLimits(timeout_factor=0.5)


def test_safety_limits_take_inf_as_no_limit_through_the_shared_validator():
    """SafetyLimits checks its limits with drivers.validation (no validator of its own): +inf stays
    "no limit" (validation.positive(..., allow_inf=True)), NaN, -inf and <= 0 are refused in one line."""
    from drivers import validation
    from drivers.errors import ConfigurationError

    inf = float("inf")
    limits = SafetyLimits(max_exposure_s=inf, max_total_dose_e=inf, timeout_grace_s=inf, max_fov_m="2e-6")
    assert (limits.max_exposure_s, limits.max_total_dose_e, limits.timeout_grace_s) == (inf, inf, inf)
    assert limits.max_fov_m == 2e-6
    nan_message = r"^SafetyLimits\.max_fov_m=nan must be a number > 0; use null for no limit$"
    with pytest.raises(InvalidArgument, match=nan_message):
        SafetyLimits(max_fov_m=float("nan"))
    with pytest.raises(InvalidArgument, match=r"^SafetyLimits\.max_dwell_s=-inf must be a number > 0$"):
        SafetyLimits(max_dwell_s=-inf)
    with pytest.raises(InvalidArgument, match=r"^SafetyLimits\.timeout_factor=inf must be a finite number"):
        SafetyLimits(timeout_factor=inf)
    assert validation.positive("x", inf, allow_inf=True) == inf
    assert validation.nonnegative("x", inf, allow_inf=True) == inf
    with pytest.raises(ConfigurationError, match=r"^x=inf must be a finite number > 0$"):
        validation.positive("x", inf)
    with pytest.raises(ConfigurationError, match=r"^x=-inf must be a number > 0$"):
        validation.positive("x", -inf, allow_inf=True)
