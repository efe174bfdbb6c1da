"""drivers.protocol: the optional verbs are declared protocols, and the safety layer passes on exactly those."""

from __future__ import annotations

from drivers import Driver, GroundTruth, Stage, Stateful, TimedAcquisition
from drivers.emulator import PlasmonEmulator
from drivers.safety import SafeDriver, SafetyLimits


def test_emulators_declare_state_and_timing_but_no_stage() -> None:
    em = PlasmonEmulator(seed=0)
    assert isinstance(em, Driver) and isinstance(em, Stateful) and isinstance(em, TimedAcquisition)
    assert not isinstance(em, Stage)
    assert em.acquisition_time_s("acquire_spectrum", exposure_s=0.5) == 0.5 + em.readout_s


def test_safety_layer_passes_on_the_declared_optional_verbs_only() -> None:
    em = PlasmonEmulator(seed=0)
    safe = SafeDriver(em, SafetyLimits(), register_atexit=False)
    assert safe.capabilities().verbs == ("state",)
    assert isinstance(safe, Stateful) and not isinstance(safe, GroundTruth)
    assert safe.state()["backend"] == "emulator" and "safety" in safe.state()

    class NoState(PlasmonEmulator):
        state = None  # type: ignore[assignment]  # an explicit "not offered"

    bare = SafeDriver(NoState(seed=0), SafetyLimits(), register_atexit=False)
    assert bare.capabilities().verbs == ()
    assert set(bare.state()) == {"safety"}
    safe.close()
    bare.close()
