"""DayCheckpoint: a day-by-day run's trials and state on disk, resumed only when they match."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cogmodels.agents.decoders.day_checkpoint import DayCheckpoint, fingerprint, saved_day
from cogmodels.envs.bci import UserSpec


class Opaque:
    """An option whose default repr holds an address: its attributes are compared."""

    def __init__(self, v):
        self.v = v


def _day(day: int) -> pd.DataFrame:
    return pd.DataFrame({"subject": [0, 1], "day": [day, day], "trial_time": [0.1 + day, 1 / 3],
                         "success": [True, False], "decoder": ["x", "x"]})


def _run(folder, days, options=None) -> DayCheckpoint:
    ck = DayCheckpoint(folder, "x", options or {"seed": 0})
    rng = np.random.default_rng(0)
    for day in days:
        ck.append(_day(day), first=not day)
        ck.save({"day": day + 1, "rng": rng})
    return ck


def test_resume_returns_the_state_and_the_finished_days_exactly(tmp_path):
    ck = _run(tmp_path, range(3))
    assert saved_day(tmp_path, "x") == 3 and saved_day(tmp_path, "y") is None
    state, table = ck.resume()
    assert state["day"] == 3
    assert isinstance(state["rng"], np.random.Generator)
    pd.testing.assert_frame_equal(table, pd.concat([_day(d) for d in range(3)], ignore_index=True),
                                  check_exact=True)
    assert DayCheckpoint(tmp_path / "fresh", "x", {}).resume() is None


def test_rows_written_after_the_checkpoint_are_cut(tmp_path):
    ck = _run(tmp_path, range(2))
    size = ck.csv.stat().st_size
    ck.append(_day(2), first=False)  # stopped before the checkpoint of day 2...
    with open(ck.csv, "a") as f:
        f.write("0,3,0.4")  # ...or in the middle of a row
    state, table = ck.resume()
    assert ck.csv.stat().st_size == size and set(table["day"]) == {0, 1} and state["day"] == 2


def test_a_checkpoint_of_other_options_or_missing_trials_is_refused(tmp_path):
    _run(tmp_path, range(2))
    with pytest.raises(ValueError, match=r"holds a run of 'x' with other options or code .*"
                                         r"'seed': \('0', '1'\)"):
        DayCheckpoint(tmp_path, "x", {"seed": 1}).read()
    ck = DayCheckpoint(tmp_path, "x", {"seed": 0})
    data = ck.csv.read_bytes()
    ck.csv.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"has \d+ bytes, its checkpoint expects \d+ bytes through day 1"):
        ck.read()
    ck.csv.unlink()
    with pytest.raises(ValueError, match="is missing, its checkpoint expects"):
        ck.read()


def test_trials_without_a_checkpoint_are_never_overwritten(tmp_path):
    ck = _run(tmp_path, range(2))
    ck.path.unlink()
    with pytest.raises(ValueError, match="holds trials of 'x' without a checkpoint"):
        ck.read()


def test_the_fingerprint_is_the_options_values_not_their_spelling():
    a = {"env": {"n_units": 32, "noise": "additive"}, "seed": 0, "gains": (1.0, 2.0)}
    b = {"gains": (1.0, 2.0), "seed": np.int64(0), "env": {"noise": "additive", "n_units": 32}}
    assert fingerprint("x", a) == fingerprint("x", b)
    x = np.array([0.075, 0.1])
    assert fingerprint("x", {"r": x}) != fingerprint("x", {"r": x + 1e-12})  # repr would agree
    assert fingerprint("x", {"u": UserSpec()}) == fingerprint("x", {"u": UserSpec()})
    assert fingerprint("x", {"u": UserSpec()}) != fingerprint("x", {"u": UserSpec(model="wilson")})

    assert fingerprint("x", {"o": Opaque(1)}) == fingerprint("x", {"o": Opaque(1)})
    assert fingerprint("x", {"o": Opaque(1)}) != fingerprint("x", {"o": Opaque(2)})
    assert fingerprint("x", {}) != fingerprint("y", {})
