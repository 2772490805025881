"""Day-by-day runs that survive a stop: each day's trials appended, the next day's state saved.

A long protocol (:func:`~cogmodels.agents.decoders.wilson_study.run_wilson_protocol`: 60 days
of 96 subjects take hours) writes, after each finished day, that day's trials to
``<name>.csv`` and the whole state that plays the next day to ``<name>.checkpoint.pkl``. Run
again with the same options, it resumes from the checkpoint and plays the same trials, bit for
bit, as a run that never stopped.

- The trials are appended and flushed to disk (``fsync``) before the checkpoint is written,
  and the checkpoint is written atomically (:func:`~cogmodels.atomic.atomic_write_bytes`) with
  the trial file's size: a stop between the two leaves rows the checkpoint does not know, and
  they are cut on resume.
- The checkpoint carries a fingerprint of the run's options (:func:`fingerprint`: dictionaries
  by key, numpy scalars as numbers, arrays by their bytes) and of the simulator's and decoders'
  source code; a checkpoint that does not match raises ``ValueError`` naming the differences,
  so trials of two configurations or two code versions are never joined.
- A trial file without its checkpoint (a run that predates checkpoints, or whose checkpoint was
  deleted) is never overwritten: ``ValueError`` asks to move it away.

The checkpoint is a pickle (the environment and decoder as they are, generators included):
load only checkpoints your own runs wrote.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pickle
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cogmodels.atomic import atomic_write_bytes

__all__ = ["DayCheckpoint", "checkpoint_paths", "fingerprint", "saved_day"]

#: read_csv's exact float parsing: pandas 3's default, pandas 2's ``"round_trip"``
_ROUND_TRIP = {"float_precision": "round_trip"} if int(pd.__version__.split(".")[0]) < 3 else {}


def _canonical(value: Any) -> Any:
    """Return a form of ``value`` that compares equal exactly when the values do.

    Dictionaries by key, sequences item by item, numpy scalars as Python numbers, arrays by
    dtype, shape and the SHA-256 of their bytes, dataclasses field by field; other objects by
    ``repr``, or, when the ``repr`` holds a memory address, by their attributes (else the hash
    of their pickle).
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        digest = hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()
        return f"array(dtype={value.dtype}, shape={value.shape}, sha256={digest})"
    if isinstance(value, dict):
        return {str(k): _canonical(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"dataclass": type(value).__qualname__,
                **{f.name: _canonical(getattr(value, f.name)) for f in dataclasses.fields(value)}}
    text = repr(value)
    if " at 0x" not in text:
        return text
    # the default repr holds identity, not state: compare the attributes, else the pickle
    if isinstance(getattr(value, "__dict__", None), dict):
        return {"object": type(value).__qualname__, **_canonical(vars(value))}
    return f"{type(value).__qualname__}(pickle sha256={_digest(pickle.dumps(value))})"


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@cache
def code_version() -> str:
    """Return the SHA-256 of the BCI simulator's and decoders' source (``envs/bci``, ``agents/decoders``)."""
    import cogmodels.agents.decoders
    import cogmodels.envs.bci

    h = hashlib.sha256()
    for package in (cogmodels.envs.bci, cogmodels.agents.decoders):
        root = Path(package.__file__).parent
        for path in sorted(root.glob("*.py")):
            h.update(f"{package.__name__}.{path.stem}\0".encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def fingerprint(name: str, options: dict[str, Any]) -> dict[str, str]:
    """Return what a checkpoint of run ``name`` must match to be resumed.

    One entry per option (its :func:`_canonical` form, as text), the run's name and
    :func:`code_version`.
    """
    out = {key: repr(_canonical(value)) for key, value in sorted(options.items())}
    return {"name": name, "code": code_version(), **out}


def checkpoint_paths(folder: str | os.PathLike, name: str) -> tuple[Path, Path]:
    """Return run ``name``'s trial file and checkpoint file in ``folder``."""
    folder = Path(folder)
    return folder / f"{name}.csv", folder / f"{name}.checkpoint.pkl"


def saved_day(folder: str | os.PathLike, name: str) -> int | None:
    """Return the first day the checkpoint of ``name`` in ``folder`` would play (None: none)."""
    path = checkpoint_paths(folder, name)[1]
    if not path.exists():
        return None
    with open(path, "rb") as f:
        return int(pickle.load(f)["day"])  # noqa: S301 - the run's own file


class DayCheckpoint:
    """The trials of run ``name`` in ``folder``, day by day, and the state that plays on.

    Parameters
    ----------
    folder : str or os.PathLike
        Where ``<name>.csv`` and ``<name>.checkpoint.pkl`` are written (created).
    name : str
        The run's name (a strategy).
    options : dict
        The options the run's trials depend on (:func:`fingerprint`); a checkpoint written
        with others is not resumed.
    """

    def __init__(self, folder: str | os.PathLike, name: str, options: dict[str, Any]) -> None:
        self.folder = Path(folder)
        self.csv, self.path = checkpoint_paths(folder, name)
        self.name = name
        self.fingerprint = fingerprint(name, options)

    def read(self) -> dict[str, Any] | None:
        """Return the saved state (None: no checkpoint and no trials: a fresh run).

        Raises ``ValueError`` when the checkpoint was written with other options or code, when
        its trial file is missing or shorter than it was, or when trials exist without one.
        """
        if not self.path.exists():
            if self.csv.exists():
                raise ValueError(
                    f"save_dir {str(self.folder)!r} holds trials of {self.name!r} without a "
                    f"checkpoint ({str(self.csv)!r}: a run from before checkpoints, one stopped "
                    f"while its first day's checkpoint was being written, or one whose "
                    f"checkpoint was deleted), which a new run would overwrite: move it away or "
                    f"delete it to start over, or use another save_dir")
            return None
        with open(self.path, "rb") as f:
            state = pickle.load(f)  # noqa: S301 - the run's own file
        saved, now = state["fingerprint"], self.fingerprint
        if saved != now:
            diff = {key: (saved.get(key), now.get(key)) for key in sorted(set(saved) | set(now))
                    if saved.get(key) != now.get(key)}
            raise ValueError(
                f"save_dir {str(self.folder)!r} holds a run of {self.name!r} with other options "
                f"or code (option: (saved, now)): {diff}; use another save_dir, or delete "
                f"{str(self.path)!r} and {str(self.csv)!r} to start over")
        size = self.csv.stat().st_size if self.csv.exists() else None
        if size is None or size < state["csv_bytes"]:
            found = "is missing" if size is None else f"has {size} bytes"
            raise ValueError(
                f"save_dir {str(self.folder)!r}: the trials of {self.name!r} ({str(self.csv)!r}) "
                f"{found}, its checkpoint expects {state['csv_bytes']} bytes through day "
                f"{state['day'] - 1}: restore the file, or delete {str(self.path)!r} and it to "
                f"start over")
        return state

    def resume(self) -> tuple[dict[str, Any], pd.DataFrame] | None:
        """Return the saved state and the trials of the days it finished (None: a fresh run).

        Rows written after the checkpoint (a stop between the two writes) are cut from the file.
        """
        state = self.read()
        if state is None:
            return None
        with open(self.csv, "r+b") as f:
            f.truncate(state["csv_bytes"])
        table = pd.read_csv(self.csv, **_ROUND_TRIP)
        return state, table

    def append(self, trials: pd.DataFrame, first: bool) -> None:
        """Write a day's ``trials`` to the trial file (a new file, with header, if ``first``), on disk."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.csv, "w" if first else "a", newline="") as f:
            trials.to_csv(f, header=first, index=False)
            f.flush()
            os.fsync(f.fileno())

    def save(self, state: dict[str, Any]) -> None:
        """Write ``state`` (its ``"day"``: the next day to play) atomically with the fingerprint."""
        state = {**state, "fingerprint": self.fingerprint, "csv_bytes": self.csv.stat().st_size}
        atomic_write_bytes(self.path, pickle.dumps(state, protocol=5))
