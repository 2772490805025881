"""Checkpoint files of a long sampler run: atomic, two generations, tied to the run that wrote them.

A run that stops (a killed job, a closed laptop) keeps what it sampled: every so many iterations
the sampler writes its whole state to ``path`` (a NumPy ``.npz``), first moving the previous
file to ``path.prev``, and writing through a temporary file renamed into place, so that a kill
at any instant leaves at least one complete generation. Two generations let processes that
checkpoint together agree on an iteration all of them hold (one may die mid-write).

Each file carries a *fingerprint* of the run (its starting points, settings, random states and
log density at the start): a file written by another run is refused with an error that names
it, never silently resumed.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["CheckpointFile", "fingerprint", "generator_states", "restore_generators"]


def fingerprint(*parts: Any) -> str:
    """Return the SHA-256 hex digest of ``parts``: arrays by their dtype, shape and bytes, others by ``repr``."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            a = np.ascontiguousarray(part)
            h.update(f"{a.dtype.str}{a.shape}".encode())
            h.update(a.tobytes())
        else:
            h.update(repr(part).encode())
        h.update(b"|")
    return h.hexdigest()


def generator_states(rngs: list[np.random.Generator]) -> str:
    """Return the bit-generator states of ``rngs`` as JSON text (their integers are exact)."""
    return json.dumps([r.bit_generator.state for r in rngs])


def restore_generators(rngs: list[np.random.Generator], text: str) -> None:
    """Set each of ``rngs`` to the state saved by :func:`generator_states`."""
    states = json.loads(text)
    if len(states) != len(rngs):
        raise ValueError(f"checkpoint: it holds {len(states)} generator states, the run has {len(rngs)}")
    for r, s in zip(rngs, states, strict=True):
        r.bit_generator.state = s


class CheckpointFile:
    """The checkpoint ``path`` (and its previous generation ``path.prev``) of one run.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write (``.npz`` is used as given; its folder is created).
    key : str
        The run's fingerprint (:func:`fingerprint`); a file with another key is refused.
    """

    def __init__(self, path: str | os.PathLike, key: str) -> None:
        self.path = Path(path)
        self.prev = self.path.with_name(self.path.name + ".prev")
        self.key = key

    def _read(self, path: Path) -> dict[str, np.ndarray] | None:
        try:
            with np.load(path, allow_pickle=False) as f:
                state = {k: f[k] for k in f.files}
        except FileNotFoundError:
            return None
        except (OSError, ValueError, EOFError):  # a torn file cannot occur (atomic rename), but be safe
            return None
        if str(state.get("key", "")) != self.key:
            raise ValueError(
                f"checkpoint: {path} was written by a different run (other data, starting points or "
                f"settings); delete it, or give this run another checkpoint path")
        return state

    def available(self) -> list[int]:
        """Return the iterations (``next_it``) of the readable generations, newest first."""
        out = []
        for path in (self.path, self.prev):
            state = self._read(path)
            if state is not None:
                out.append(int(state["next_it"]))
        return sorted(set(out), reverse=True)

    def load(self, next_it: int) -> dict[str, np.ndarray]:
        """Return the generation written at ``next_it``."""
        for path in (self.path, self.prev):
            state = self._read(path)
            if state is not None and int(state["next_it"]) == next_it:
                return state
        raise FileNotFoundError(f"checkpoint: no generation of {self.path} at iteration {next_it}")

    def save(self, next_it: int, state: dict[str, Any]) -> None:
        """Write ``state`` as the generation at ``next_it``; the current file becomes ``path.prev``."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "wb") as f:
            np.savez(f, key=np.array(self.key), next_it=np.array(next_it), **state)
            f.flush()
            os.fsync(f.fileno())
        if self.path.exists():
            os.replace(self.path, self.prev)
        os.replace(tmp, self.path)

    def remove(self) -> None:
        """Delete both generations (and a temporary file left by a kill)."""
        for path in (self.path, self.prev, self.path.with_name(self.path.name + ".tmp")):
            path.unlink(missing_ok=True)
