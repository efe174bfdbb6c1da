"""Journal, checkpoint and control-channel files: damage is detected and named."""

from __future__ import annotations

import numpy as np
import pytest

from agent.checkpoint import CheckpointError, load_checkpoint, restore_rng, save_checkpoint
from agent.control import ControlError, Inbox, parse, send
from agent.control import main as ctl_main
from agent.journal import Journal, JournalError, read_journal
from agent.record import StepRow


def _row(k):
    return StepRow(step=k, index=10 + k, phase="policy", yx_px=(k, 2 * k), yx_m=(1e-9 * k, 2e-9),
                   reward=0.5 * k, spectrum=np.linspace(0, 1, 7) * k)


def test_journal_round_trip_and_truncated_last_line(tmp_path):
    j = Journal(tmp_path / "journal.jsonl")
    for k in range(3):
        j.append(_row(k))
    j.close()
    rows = read_journal(tmp_path / "journal.jsonl")
    assert [r.index for r in rows] == [10, 11, 12]
    assert np.array_equal(rows[2].spectrum, np.linspace(0, 1, 7) * 2)
    assert rows[1].yx_px == (1, 2)
    text = (tmp_path / "journal.jsonl").read_text()
    (tmp_path / "cut.jsonl").write_text(text[:-40])  # a kill in the middle of the last line
    assert len(read_journal(tmp_path / "cut.jsonl")) == 2
    lines = text.split("\n")
    lines[0] = lines[0][:50]
    (tmp_path / "bad.jsonl").write_text("\n".join(lines))
    with pytest.raises(JournalError, match="line 1"):
        read_journal(tmp_path / "bad.jsonl")


def test_checkpoint_round_trip_rng_and_corruption(tmp_path):
    import torch

    rng = np.random.default_rng(5)
    rng.random(3)
    save_checkpoint(tmp_path / "c.pt", loop={"measured": np.array([1, 2])}, rng=rng,
                    surrogate_state={"w": torch.ones(2)})
    expected = rng.random(4)
    ck = load_checkpoint(tmp_path / "c.pt")
    assert ck["loop"]["measured"] == [1, 2]
    assert torch.equal(ck["surrogate"]["w"], torch.ones(2))
    assert np.array_equal(restore_rng(ck).random(4), expected)
    data = (tmp_path / "c.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(tmp_path / "cut.pt")
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path / "none.pt")
    torch.save({"version": 99}, tmp_path / "old.pt")
    with pytest.raises(CheckpointError, match="version"):
        load_checkpoint(tmp_path / "old.pt")


@pytest.mark.parametrize("verb, args, match", [
    ("jump", [], "unknown command"),
    ("pause", ["now"], "takes no arguments"),
    ("veto", ["1", "2", "3"], "veto Y0 Y1 X0 X1"),
    ("force", ["a", "b"], "force Y X"),
    ("set", ["policy"], "key=value"),
    ("set", ["experiment.steps=5"], "only policy"),
])
def test_control_parse_refuses_malformed(verb, args, match):
    with pytest.raises(ControlError, match=match):
        parse(verb, args)


def test_ctl_cli_writes_ordered_commands(tmp_path, capsys):
    (tmp_path / "journal.jsonl").touch()  # a run folder (autoscope-ctl refuses any other)
    assert ctl_main([str(tmp_path), "veto", "0", "10", "5", "6"]) == 0
    assert ctl_main([str(tmp_path), "set", "policy=ucb", "policy.beta=4"]) == 0
    assert ctl_main([str(tmp_path), "force", "1"]) == 2
    assert "force Y X" in capsys.readouterr().err
    taken = Inbox(tmp_path).take()
    assert [c.verb for c, _, _ in taken] == ["veto", "set"]
    assert taken[1][0].args == ["policy=ucb", "policy.beta=4"]
    assert ctl_main([str(tmp_path / "missing"), "pause"]) == 2
    send(tmp_path, parse("stop", []))
    assert ctl_main([str(tmp_path), "status"]) == 0
    assert "no measurements yet" in capsys.readouterr().out
