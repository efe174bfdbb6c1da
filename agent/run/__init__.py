"""The parts of a run, composed by :class:`agent.loop.Experiment`.

- :mod:`.state`: :class:`LoopState` (what a checkpoint holds), :class:`StopReason`, :class:`StopFlag`;
- :mod:`.store`: :class:`RunStore` - lock, journal, record, checkpoint, resume and replay;
- :mod:`.measurer`: :class:`Measurer` - retries, spectrum checks, reward, rows; :class:`Acquisition`;
- :mod:`.decision`, :mod:`.decider`: :class:`Decision`, :class:`Decider` - seed design, forced points,
  fit/predict, the policy (through :mod:`.policy_port`, the one door to a policy);
- :mod:`.guardians`: :class:`Guardians` - budgets, failure streak, drift, dose;
- :mod:`.interventions`: :class:`Interventions` - the control inbox;
- :mod:`.ledger`: :class:`Ledger` - what one acquisition does to journal, record, checkpoint and state;
- :mod:`.opening`: :class:`Opener` - a new run, or a resumed one;
- :mod:`.components`: :class:`Switchboard` - ``set policy=/reward=`` and few-shot labels mid-run;
- :mod:`.scheduler`: :func:`run_sequential`, :func:`run_pipelined`;
- :mod:`.signals`: SIGINT/SIGTERM handling; :mod:`.ending`: final maps, summary and plots from the record;
- :mod:`.live`: :class:`LiveView` - ``decision`` events and the predicted maps while the run runs.
"""

from .components import Switchboard
from .decider import Decider
from .decision import AnyPosterior, Decision, Phase
from .guardians import Guardians
from .interventions import Components, Interventions
from .ledger import Ledger
from .measurer import TRANSIENT, Acquisition, MeasurementFailed, Measurer, SpectrumRejected, Status
from .opening import Opener
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
    "Ledger",
    "LoopState",
    "MeasurementFailed",
    "Measurer",
    "Opener",
    "Phase",
    "Restored",
    "RunStore",
    "SpectrumRejected",
    "Status",
    "StopFlag",
    "StopReason",
    "Steps",
    "Switchboard",
    "run_pipelined",
    "run_sequential",
]
