"""``autoscope-serve`` (drivers.remote.serve.main): how it builds the driver, and its refusals."""

from __future__ import annotations

import pytest

from drivers.errors import InvalidArgument
from drivers.remote.serve import build_driver, main
from drivers.remote.testing import FakeDriver


@pytest.fixture()
def config_dir(tmp_path):
    (tmp_path / "driver").mkdir()
    (tmp_path / "driver" / "fake.yaml").write_text(
        "_target_: drivers.remote.testing.FakeDriver\nseed: 4\nn_channels: 128\n"
    )
    (tmp_path / "safety").mkdir()
    (tmp_path / "safety" / "default.yaml").write_text("_target_: drivers.safety.SafetyLimits\n")
    return tmp_path


def test_driver_from_a_config_group_with_overrides(config_dir):
    driver = build_driver(None, ["driver=fake", "driver.seed=9"], config_dir)
    assert isinstance(driver, FakeDriver) and driver.seed == 9 and driver.n_channels == 128


def test_driver_from_the_primary_config_resolves_interpolations(tmp_path):
    (tmp_path / "driver").mkdir()
    (tmp_path / "driver" / "fake.yaml").write_text(
        "_target_: drivers.remote.testing.FakeDriver\nseed: ${seed}\n"
    )
    (tmp_path / "driver" / "other.yaml").write_text("_target_: not.importable.Thing\n")
    (tmp_path / "config.yaml").write_text("defaults:\n  - driver: other\n  - _self_\nseed: 11\n")
    assert build_driver(None, ["driver=fake"], tmp_path).seed == 11
    assert build_driver(None, ["driver=fake", "seed=12"], tmp_path).seed == 12
    with pytest.raises(InvalidArgument, match="only driver"):
        build_driver("drivers.remote.testing.FakeDriver", ["seed=3"], tmp_path)


def test_driver_from_a_target_or_a_file(config_dir):
    driver = build_driver("drivers.remote.testing.FakeDriver", ["driver.delay_s=0.5"], config_dir)
    assert isinstance(driver, FakeDriver) and driver.delay_s == 0.5
    driver = build_driver(str(config_dir / "driver" / "fake.yaml"), [], config_dir)
    assert driver.seed == 4


def test_bad_driver_specifications_are_refused(config_dir):
    with pytest.raises(InvalidArgument, match="exactly one"):
        build_driver("drivers.remote.testing.FakeDriver", ["driver=fake"], config_dir)
    with pytest.raises(InvalidArgument, match="exactly one"):
        build_driver(None, [], config_dir)
    with pytest.raises(InvalidArgument, match="no "):
        build_driver(None, ["driver=absent"], config_dir)
    with pytest.raises(InvalidArgument, match="only driver"):
        build_driver(None, ["driver=fake", "seed=3"], config_dir)


def test_main_reports_start_up_failures_with_exit_status_2(config_dir, capsys):
    assert main(["driver=absent", "--config-dir", str(config_dir)]) == 2
    assert "absent" in capsys.readouterr().err
    # a non-loopback address without a secret is refused (and the driver is closed again)
    assert main(["driver=fake", "--config-dir", str(config_dir), "--host", "0.0.0.0", "--no-safety"]) == 2
    assert "secret" in capsys.readouterr().err
    assert main(["driver=fake", "--config-dir", str(config_dir), "--safety", "missing"]) == 2


def test_the_config_folder_comes_from_the_entry_point(config_dir, capsys, monkeypatch):
    """drivers.remote.serve imports nothing from agent: the config folder is main's argument
    (autoscope-serve = agent.serve:main gives the shipped conf/), --config-dir still wins."""
    import tomllib
    from pathlib import Path

    import drivers.remote.serve as serve
    from agent.confdir import CONF_DIR
    from agent.serve import main as autoscope_serve

    pyproject = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"]["autoscope-serve"] == "agent.serve:main"
    assert autoscope_serve(["driver=absent"]) == 2
    assert str(CONF_DIR / "driver" / "absent.yaml") in capsys.readouterr().err
    assert main(["driver=absent"], config_dir=config_dir) == 2
    assert str(config_dir / "driver" / "absent.yaml") in capsys.readouterr().err
    assert main(["driver=absent", "--config-dir", str(config_dir)], config_dir=CONF_DIR) == 2
    assert str(config_dir / "driver" / "absent.yaml") in capsys.readouterr().err
    # `python -m drivers.remote.serve` in a checkout: the repository's conf/; without one it asks for it
    assert (serve.repository_config_dir() / "driver" / "emulator.yaml").is_file()
    monkeypatch.setattr(serve, "repository_config_dir", lambda: None)
    assert main(["driver=fake"]) == 2
    assert "--config-dir" in capsys.readouterr().err
    assert main(["--driver", "drivers.remote.testing.FakeDriver"]) == 2  # its safety limits need one
    assert "--config-dir" in capsys.readouterr().err
