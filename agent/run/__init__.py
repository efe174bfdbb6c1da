"""The parts of a run, composed by :class:`agent.loop.Experiment`.

- :mod:`.state`: :class:`LoopState` (what a checkpoint holds), :class:`StopReason`, :class:`StopFlag`;
- :mod:`.store`: :class:`RunStore` - lock, journal, record, checkpoint, resume and replay;
- :mod:`.measurer`: :class:`Measurer` - retries, spectrum checks, reward, rows; :class:`Acquisition`;
- :mod:`.decision`, :mod:`.decider`: :class:`Decision`, :class:`Decider` - seed design, forced points,
  fit/predict, the policy (through :mod:`.policy_port`, the one door to a policy);
- :mod:`.guardians`: :class:`Guardians` - budgets, failure streak, drift, dose;
- :mod:`.interventions`: :class:`Interventions` - the control inbox;
- :mod:`.scheduler`: :func:`run_sequential`, :func:`run_pipelined`;
- :mod:`.ending`: final maps, summary and plots from the record.
"""

from .decider import Decider
from .decision import AnyPosterior, Decision, Phase
from .guardians import Guardians
from .interventions import Components, Interventions
from .measurer import TRANSIENT, Acquisition, MeasurementFailed, Measurer, SpectrumRejected, Status
from .scheduler import Steps, run_pipelined, run_sequential
from .state import LoopState, StopFlag, StopReason
from .store import Restored, RunStore

__all__ = [
    "TRANSIENT",
    "Acquisition",
    "AnyPosterior",
    "Components",
    "Decider",
    "Decision",
    "Guardians",
    "Interventions",
    "LoopState",
    "MeasurementFailed",
    "Measurer",
    "Phase",
    "Restored",
    "RunStore",
    "SpectrumRejected",
    "Status",
    "StopFlag",
    "StopReason",
    "Steps",
    "run_pipelined",
    "run_sequential",
]
