"""Atomic writes: fsync before the rename, nothing partial left behind, one helper for every writer."""

import os

import pandas as pd
import pytest

import cogmodels.atomic as atomic
from cogmodels.atomic import atomic_path, atomic_write_bytes, atomic_write_text
from cogmodels.io import write_trials


def _calls(monkeypatch):
    calls = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(atomic.os, "fsync", lambda fd: (calls.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(atomic.os, "replace", lambda a, b: (calls.append("replace"), real_replace(a, b))[1])
    return calls


def test_the_file_is_flushed_to_disk_before_it_is_renamed(tmp_path, monkeypatch):
    calls = _calls(monkeypatch)
    atomic_write_text(tmp_path / "a.txt", "é\n")
    assert (tmp_path / "a.txt").read_bytes() == "é\n".encode()
    # file data, then the rename, then the folder entry (POSIX)
    assert calls[:2] == ["fsync", "replace"]
    assert calls == (["fsync", "replace", "fsync"] if os.name == "posix" else ["fsync", "replace"])


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = atomic_write_bytes(tmp_path / "sub" / "b.bin", b"old")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"partial")
            raise RuntimeError("boom")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in target.parent.iterdir()) == ["b.bin"]


def test_write_trials_goes_through_the_atomic_writer(tmp_path, monkeypatch):
    calls = _calls(monkeypatch)
    df = pd.DataFrame({"subject": [0, 0], "trial": [0, 1], "choice": [1, 0], "reward": [1.0, 0.0]})
    out = write_trials(df, tmp_path / "t.csv")
    assert calls[:2] == ["fsync", "replace"]
    assert pd.read_csv(out)["choice"].tolist() == [1, 0]


def test_the_rnn_checkpoint_writers_are_the_atomic_ones(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    from cogmodels.agents import checkpoint

    calls = _calls(monkeypatch)
    checkpoint.save_tensors({"w": torch.zeros(2)}, tmp_path / "w.pt")
    checkpoint.write_text(tmp_path / "c.json", "{}")
    assert calls.count("replace") == 2 and calls.count("fsync") >= 2
    assert torch.load(tmp_path / "w.pt", weights_only=True)["w"].tolist() == [0.0, 0.0]
