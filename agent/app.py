"""The ``autoscope`` console script: a Hydra app composing driver, reward, surrogate and policy.

Examples::

    autoscope                                   # default experiment on the emulator
    autoscope policy=ucb policy.beta=4 experiment.steps=60
    autoscope --multirun policy=logei,random seed=0,1,2
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import hydra
from omegaconf import DictConfig, OmegaConf

from .confdir import CONF_DIR, help_text, normalise_overrides
from .exitcodes import ExitCode, exit_code_for, exit_code_for_error
from .record import RecordError
from .settings import ConfigError, ExperimentSettings, check_overrides

if TYPE_CHECKING:  # torch, botorch and the rest load only when an experiment is built
    from .loop import Experiment

__all__ = ["CONF_DIR", "build_experiment", "run_from_config", "resume_run", "main", "resume_main"]

log = logging.getLogger(__name__)


def _instantiate(cfg: DictConfig, group: str) -> Any:
    from hydra.utils import instantiate

    node = cfg.get(group)
    if node is None:
        return None
    try:
        return instantiate(node)
    except Exception as err:  # Hydra wraps constructor errors; name the group and keep the cause
        raise ConfigError(f"could not build `{group}` from {OmegaConf.to_container(node)}: {err}") from err


def build_experiment(cfg: DictConfig, out_dir: str | Path) -> Experiment:
    """Instantiate every component from a composed config and return the (not yet run) experiment."""
    from .loop import Experiment

    for group in ("driver", "reward", "policy"):
        if cfg.get(group) is None:
            raise ConfigError(f"config has no `{group}`; choose one, e.g. `{group}=...` (see conf/{group}/)")
    settings = ExperimentSettings.from_mapping(cfg.experiment)
    reward = _instantiate(cfg, "reward")
    # a gate (conf/gate/) or a prior (conf/prior/) wraps the chosen policy (its `policy: ${policy}`):
    # a gate lets only some candidates receive an expensive measurement, a prior weighs them all
    if cfg.get("gate") is not None and cfg.get("prior") is not None:
        raise ConfigError("gate=... and prior=... together are not supported: choose one "
                          "(a gate excludes candidates, a prior only weighs them)")
    wrapper = "gate" if cfg.get("gate") is not None else "prior" if cfg.get("prior") is not None else None
    policy = _instantiate(cfg, wrapper) if wrapper is not None else _instantiate(cfg, "policy")
    surrogate = _instantiate(cfg, "surrogate")
    driver = _wrap_safety(cfg, _instantiate(cfg, "driver"), Path(out_dir))
    # a replay has only its recorded field, grid and detectors: the experiment's, where they do not
    # apply to it (the default experiment is written for the emulator), give way to the recorded ones
    from .preflight import fit_recording

    settings = fit_recording(settings, driver)
    return Experiment(
        driver=driver,
        reward=reward,
        surrogate=surrogate,
        policy=policy,
        settings=settings,
        out_dir=out_dir,
        seed=int(cfg.seed),
        config_yaml=OmegaConf.to_yaml(cfg, resolve=True),
        rebuild=_rebuilder(cfg),
    )


def _wrap_safety(cfg: DictConfig, driver: Any, out_dir: Path) -> Any:
    """Put the safety layer around the driver (unless ``safety=none``); its audit log goes in the run."""
    if cfg.get("safety") is None:
        log.warning("safety layer disabled (safety=none): limits, blanking and audit log are off")
        return driver
    from drivers.safety import SafeDriver

    limits = _instantiate(cfg, "safety")
    out_dir.mkdir(parents=True, exist_ok=True)
    return SafeDriver(driver, limits, audit_log_path=out_dir / "audit.jsonl")


def _rebuilder(cfg: DictConfig):
    """``rebuild(group, ["policy=ucb", "policy.beta=4"])`` -> a new component, for mid-run switches."""
    import yaml

    def rebuild(group: str, overrides: list[str]) -> Any:
        from .control import ControlError, validate_set

        node = OmegaConf.to_container(cfg[group]) if cfg.get(group) is not None else {}
        try:  # the whitelist again, against the live config: never `_target_`, never a new object
            validate_set(overrides, {group: node})
        except ControlError as err:
            raise ConfigError(str(err)) from None
        for item in overrides:
            key, value = item.split("=", 1)
            if key == group:
                path = CONF_DIR / group / f"{value}.yaml"
                if not path.exists():
                    known = sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))
                    raise ConfigError(f"`{group}={value}`: no conf/{group}/{value}.yaml; known: {known}")
                node = OmegaConf.to_container(OmegaConf.load(path))
            else:
                sub = OmegaConf.create(node)
                OmegaConf.update(sub, key[len(group) + 1:], yaml.safe_load(value), force_add=True)
                node = OmegaConf.to_container(sub)
        root = OmegaConf.create({"seed": int(cfg.seed), group: node})
        return _instantiate(root, group)

    return rebuild


def run_from_config(cfg: DictConfig, out_dir: str | Path) -> dict[str, Any]:
    """Run one experiment from a composed config into ``out_dir``; returns the summary."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    exp = build_experiment(cfg, out)
    if cfg.experiment.get("dashboard"):  # its own process; it reads the run folder only
        from .dashboard import launch

        launch(out)
    try:
        summary = exp.run()
    finally:
        exp.driver.close()  # Driver declares close()
    _log_summary(summary, out)
    return summary


def _g(value: Any, digits: int = 4) -> str:
    """A number for the console: ``70.39199999999997`` -> ``70.39``; None/NaN -> ``n/a``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "n/a"
    return f"{number:.{digits}g}" if number == number else "n/a"


def _log_summary(summary: dict[str, Any], out: Path) -> None:
    objectives = summary.get("objectives")
    if summary.get("best_value") is not None:
        best = f"best {_g(summary['best_value'])}"
    elif objectives:
        hv = objectives.get("hypervolume")
        best = (f"Pareto set of {len(objectives.get('pareto_indices', []))} over {objectives.get('k')} objectives"
                + (f", hypervolume {_g(hv)}" if hv is not None else ""))
    else:
        best = "no usable measurement"
    line = f"{summary['n_measured']} measured, {best}, median decision {_g(summary['median_t_decision_s'], 3)} s"
    truth = summary.get("truth")
    if truth:
        line += (f", top-1% found {truth['top1_found']}/{truth['top1_total']}, map Pearson r="
                 f"{_g(truth.get('map_pearson'), 3)}, R^2={_g(truth.get('map_r2'), 3)}")
    elif objectives and objectives.get("hypervolume_ratio") is not None:
        line += f", hypervolume of the truth reached {_g(100 * objectives['hypervolume_ratio'], 3)} %"
    log.info("%s; results in %s", line, out)
    print(f"[autoscope] {line}\n[autoscope] results in {out}")


class RunDamaged(RecordError):
    """A run file that the journal cannot rebuild (config.yaml) is damaged; the message names the fix."""


def resume_run(run_dir: str | Path, overrides: list[str] | None = None) -> dict[str, Any]:
    """Continue the run in ``run_dir`` (its ``config.yaml`` plus dotted ``overrides``)."""
    run_dir = Path(run_dir)
    cfg_path = run_dir / "config.yaml"
    if not cfg_path.exists():
        raise RunDamaged(f"{cfg_path} is missing: {run_dir} is not an autoscope run directory (give the "
                         f"folder that holds config.yaml, journal.jsonl and record.h5)")
    try:
        cfg = OmegaConf.load(cfg_path)
        if not isinstance(cfg, DictConfig) or cfg.get("driver") is None:
            raise ValueError("it holds no driver/reward/policy configuration")
    except Exception as err:  # noqa: BLE001 - YAML, OmegaConf and decoding errors alike
        raise RunDamaged(
            f"{cfg_path} is damaged ({type(err).__name__}: {str(err).splitlines()[0][:120]}); restore it "
            f"from a backup or from record.h5 (attribute `config` holds the resolved config)") from None
    if overrides:
        for item in overrides:
            if "=" not in item or item.startswith("="):
                raise ConfigError(f"override {item!r} is not key=value; e.g. experiment.steps=200")
        try:
            merged = OmegaConf.merge(cfg, OmegaConf.from_dotlist(list(overrides)))
        except Exception as err:  # noqa: BLE001 - OmegaConf grammar errors
            raise ConfigError(f"overrides {list(overrides)}: {str(err).splitlines()[0]}") from None
        assert isinstance(merged, DictConfig)  # a mapping merged with a dotlist stays a mapping
        cfg = merged
        # refused before config.yaml is rewritten
        ExperimentSettings.from_mapping(cfg.experiment)
        tmp = run_dir / "config.yaml.tmp"
        tmp.write_text(OmegaConf.to_yaml(cfg, resolve=True))
        os.replace(tmp, run_dir / "config.yaml")
    if (run_dir / "summary.json").exists():
        (run_dir / "summary.json").rename(run_dir / f"summary.before-resume-{int(__import__('time').time())}.json")
    exp = build_experiment(cfg, run_dir)
    exp.resume()
    try:
        summary = exp.run()
    finally:
        exp.driver.close()  # Driver declares close()
    _log_summary(summary, run_dir)
    return summary


def _report(prog: str, err: BaseException) -> int:
    """One line for a refusal, its exit code; a bug (no code) is re-raised with its traceback."""
    import sys

    code = exit_code_for_error(err)
    if code is None:
        raise err
    print(f"{prog}: {str(err).splitlines()[0] if str(err) else type(err).__name__}", file=sys.stderr)
    return int(code)


def _finish_code(prog: str, summary: dict[str, Any]) -> int:
    import sys

    code = exit_code_for(summary)
    if code != ExitCode.FINISHED:
        print(f"{prog}: {summary.get('stop_reason') or 'stopped'} ({summary.get('n_measured', 0)} usable "
              f"measurements): exit code {int(code)} {code.name}", file=sys.stderr)
    return int(code)


def resume_main(argv: list[str] | None = None) -> int:
    """Console entry point (``autoscope-resume RUN_DIR [key=value ...]``); exit codes:
    :mod:`agent.exitcodes`."""
    import argparse
    import sys

    ap = argparse.ArgumentParser(prog="autoscope-resume",
                                 description="Continue an interrupted autoscope run; nothing measured is lost.")
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("overrides", nargs="*", help="dotted overrides, e.g. experiment.steps=200")
    ns = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s")
    if not ns.run_dir.is_dir():
        print(f"autoscope-resume: {ns.run_dir} is not a directory; give the run folder", file=sys.stderr)
        return int(ExitCode.DAMAGED)
    try:
        summary = resume_run(ns.run_dir, ns.overrides)
    except Exception as err:  # noqa: BLE001 - refusals get one line; _report re-raises bugs
        return _report("autoscope-resume", err)
    return _finish_code("autoscope-resume", summary)


#: exit code of the last run in this process (a single run; a multirun reports its worst)
_EXIT: list[int] = []


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def _hydra_main(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig

    try:
        summary = run_from_config(cfg, HydraConfig.get().runtime.output_dir)
    except Exception as err:  # noqa: BLE001 - refusals get one line; _report re-raises bugs
        _EXIT.append(_report("autoscope", err))
        return
    _EXIT.append(_finish_code("autoscope", summary))


def main() -> None:
    """Console entry point (``autoscope``); exit codes: :mod:`agent.exitcodes`."""
    import sys

    _EXIT.clear()
    args = sys.argv[1:]
    if "--help" in args or "-h" in args:  # one line per option, without importing torch
        sys.stdout.write(help_text())
        sys.exit(0)
    sys.argv[1:] = normalise_overrides(args)  # safety=null -> safety=none (Hydra refuses a null group)
    try:  # a mistyped or unknown setting: one line and exit code 2 before Hydra starts the run
        check_overrides(sys.argv[1:], CONF_DIR)
    except ConfigError as err:
        sys.exit(_report("autoscope", err))
    _hydra_main()
    sys.exit(max(_EXIT, default=0))
