"""Nonstationarity within a session: baseline shifts and transient loss-and-recovery of channels.

The day-to-day processes of :mod:`.drift` change a population between sessions; the processes here
change what it fires during one. They act on the expected counts of the bin, after the tuning::

    lambda'_i(t) = max(g_i(t) lambda_i(t) + o_i(t), 0),

with ``o_i`` a baseline offset (Hz) and ``g_i`` in {0, 1} a channel gate. Both are updated every
``update_s`` seconds (1 s by default; the counts stay Poisson within a bin).

- :class:`BaselineShift`: Perge et al. (2013) found that within a day 84 % of units changed their
  firing rate, by 3.8 ± 8.7 Hz (mean ± sd of the absolute change). Here a fraction ``fraction`` of
  the units walk: ``o_i`` is a Brownian motion with ``Var o_i(span) = sigma_i^2``, so the change
  over ``span`` seconds is ``N(0, sigma_i^2)``; ``sigma_i`` is log-normal across units with the
  parameters that give ``E|Δ| = mean_abs`` and ``sd|Δ| = sd_abs`` (``|Δ| = sigma |z|``: with
  ``c = sqrt(2/pi)``, ``E sigma = mean_abs / c`` and ``E sigma^2 = sd_abs^2 + mean_abs^2``); the
  other units stay put.
- :class:`TransientLoss`: channels go silent and come back (a two-state Markov chain per channel:
  lost with hazard ``rate`` per hour, back after an exponential time of mean ``duration`` s), the
  intermittent signal loss of chronic arrays (Perge et al. 2013; Barrese et al. 2013). In the
  long run a channel is lost a fraction ``rate d / (3600 + rate d)`` of the time.

A lane's processes draw from ``default_rng([subject_seed, STREAM, 1 + day])``: the same subject
on the same day meets the same within-session changes whatever the decoder does, and identical
seeds give identical bytes. The processes run on the day's clock, which calibration blocks
advance (open-loop blocks, and any session reset with ``options={"calibration_block": True}``:
:func:`~cogmodels.agents.decoders.session.calibration_block` and ReFIT's closed-loop block set
it): a block goes on from where the day's last one ended, and every other session of the day
starts where the last block ended (at the day's start before any). So a decoder calibrated on a
block meets baselines that go on moving from where the block left them (Perge et al. 2013's
point), not the block's walk replayed from zero, while the decoders compared on a subject's day
(each in its own sessions) meet the same changes. Each day keeps its own clock: a lane that
plays another day and comes back starts where that day's last block ended. A new subject starts
every day afresh.

References
----------
- Perge, J. A., et al. (2013). Intra-day signal instabilities affect decoding performance in an
  intracortical neural interface system. J Neural Eng 10:036004.
- Barrese, J. C., et al. (2013). Failure mode analysis of silicon-based intracortical
  microelectrode arrays in non-human primates. J Neural Eng 10:066014.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cogmodels.validation import check_number, check_probability, describe

__all__ = ["SESSION_STREAM", "BaselineShift", "SessionDrift", "SessionProcess", "TransientLoss",
           "make_session_drift"]

#: the stream of the within-session processes, ``default_rng([seed, SESSION_STREAM, 1 + day])``
SESSION_STREAM = 0x5E55
#: the longest update interval and span (s)
MAX_SECONDS = 1e6


class SessionProcess:
    """One within-session process: per-lane state, advanced every update (see module docstring).

    An update is split in two so that many lanes advance together while each draws from its own
    generator: :meth:`draw` takes one lane's random numbers (per-lane stream, Python loop over
    lanes), :meth:`update` applies them to a state whose arrays have a leading lane axis (or
    none: one lane), element by element. :meth:`advance` is both for one lane.
    """

    def start(self, rng: np.random.Generator, n_units: int) -> dict[str, np.ndarray]:
        """Return the state of one lane's session start."""
        raise NotImplementedError

    def draw(self, rng: np.random.Generator, out: np.ndarray) -> None:
        """Fill ``out`` (float64, ``(n_units,)``) with one lane's random numbers of an update."""
        raise NotImplementedError

    def update(self, state: dict[str, np.ndarray], draws: np.ndarray, seconds: float) -> None:
        """Advance ``state`` by ``seconds`` with the random numbers ``draws``, in place."""
        raise NotImplementedError

    def advance(self, state: dict[str, np.ndarray], rng: np.random.Generator, seconds: float) -> None:
        """Advance one lane's ``state`` by ``seconds``, in place."""
        first = next(iter(state.values()))
        draws = np.empty(first.shape)
        self.draw(rng, draws)
        self.update(state, draws, seconds)

    def contribute(self, state: dict[str, np.ndarray], offset: np.ndarray, gate: np.ndarray) -> None:
        """Add this process's baseline offset (Hz) to ``offset`` and multiply its gate into ``gate``."""


@dataclass(frozen=True)
class BaselineShift(SessionProcess):
    """Units' baselines walk within a session (Perge et al. 2013; module docstring).

    Parameters
    ----------
    fraction : float
        Fraction of units that walk (0.84).
    mean_abs, sd_abs : float
        Mean and standard deviation of the absolute change over ``span`` (3.8 and 8.7 Hz);
        ``sd_abs >= mean_abs sqrt(pi / 2 - 1)`` (the spread of a single half-normal).
    span : float
        The time (s) over which the change has that size (3600 s: Perge et al. compared
        "several-minute epochs of tasks performed on a single session"; how far apart the epochs
        were is not in their abstract, so the hour is chosen here, not taken from the paper).
        The walk runs on the day's clock (module docstring): it grows over a day's calibration
        blocks.
    """

    fraction: float = 0.84
    mean_abs: float = 3.8
    sd_abs: float = 8.7
    span: float = 3600.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "fraction", check_probability("fraction", self.fraction))
        object.__setattr__(self, "mean_abs", check_number("mean_abs", self.mean_abs, 0.0, 1e3,
                                                          low_open=True))
        low = self.mean_abs * np.sqrt(np.pi / 2 - 1)
        object.__setattr__(self, "sd_abs", check_number(f"sd_abs (with mean_abs={self.mean_abs:g})",
                                                        self.sd_abs, low, 1e4))
        object.__setattr__(self, "span", check_number("span", self.span, 0.0, MAX_SECONDS,
                                                      low_open=True))

    def lognormal(self) -> tuple[float, float]:
        """Return ``(mu, s)`` of the log-normal ``sigma_i``: ``E|Δ| = mean_abs``, ``sd|Δ| = sd_abs``."""
        c = np.sqrt(2.0 / np.pi)
        mean_sigma = self.mean_abs / c
        s2 = np.log((self.sd_abs**2 + self.mean_abs**2) / mean_sigma**2)
        return float(np.log(mean_sigma) - s2 / 2), float(np.sqrt(s2))

    def start(self, rng, n_units):
        """Draw which units walk and their scales ``sigma_i``; offsets start at 0."""
        mu, s = self.lognormal()
        walks = rng.random(n_units) < self.fraction
        sigma = np.where(walks, np.exp(mu + s * rng.standard_normal(n_units)), 0.0)
        return {"sigma": sigma, "offset": np.zeros(n_units)}

    def draw(self, rng, out):
        """Draw standard normals ``z_i``."""
        rng.standard_normal(out=out)

    def update(self, state, draws, seconds):
        """Add ``sigma_i sqrt(seconds / span) z_i`` to each offset."""
        state["offset"] += state["sigma"] * np.sqrt(seconds / self.span) * draws

    def contribute(self, state, offset, gate):
        """Add the offsets (Hz)."""
        offset += state["offset"]


@dataclass(frozen=True)
class TransientLoss(SessionProcess):
    """Channels go silent and recover within a session (module docstring).

    Parameters
    ----------
    rate : float
        Loss events per channel per hour (0.5).
    duration : float
        Mean duration of a loss, s (30).

    The defaults are illustrative, not fitted: a channel is lost about 0.4 % of the time.
    """

    rate: float = 0.5
    duration: float = 30.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "rate", check_number("rate", self.rate, 0.0, MAX_SECONDS))
        object.__setattr__(self, "duration", check_number("duration", self.duration, 0.0,
                                                          MAX_SECONDS, low_open=True))

    def lost_fraction(self) -> float:
        """Return the long-run fraction of time a channel is lost, ``rate d / (3600 + rate d)``."""
        return self.rate * self.duration / (3600.0 + self.rate * self.duration)

    def start(self, rng, n_units):
        """Every channel starts live."""
        return {"lost": np.zeros(n_units, dtype=bool)}

    def draw(self, rng, out):
        """Draw uniforms ``u_i`` on [0, 1)."""
        rng.random(out=out)

    def update(self, state, draws, seconds):
        """Lose each live channel w.p. ``1 - exp(-rate t)``; recover w.p. ``1 - exp(-t / d)``."""
        lost = state["lost"]
        p_loss = -np.expm1(-self.rate * seconds / 3600.0)
        p_back = -np.expm1(-seconds / self.duration)
        lost[...] = np.where(lost, draws >= p_back, draws < p_loss)

    def contribute(self, state, offset, gate):
        """Zero the gate of the lost channels."""
        gate[state["lost"]] = 0.0


class SessionDrift:
    """The within-session processes of ``n`` lanes and their combined offset and gate.

    ``update_s`` (1 s) is the time between updates; :meth:`apply` changes a bin's expected counts.
    Each process's state is held as arrays with a leading lane axis: an update draws each due
    lane's random numbers from its own generator, then advances all due lanes at once.
    """

    def __init__(self, processes: Sequence[SessionProcess], n: int, n_units: int, dt: float,
                 update_s: float = 1.0) -> None:
        self.processes = tuple(processes)
        self.n, self.n_units, self.dt = n, n_units, dt
        self.every = max(1, int(round(update_s / dt)))
        self.seconds = self.every * dt
        self.offset = np.zeros((n, n_units), dtype=np.float32)  # counts per bin
        self.gate = np.ones((n, n_units), dtype=np.float32)
        self._gated = False
        self._bins = np.zeros(n, dtype=np.int64)
        self._rngs: list[np.random.Generator | None] = [None] * n
        self._day_of: list[tuple[int, int] | None] = [None] * n  # (subject seed, day) running
        self._block = np.zeros(n, dtype=bool)  # whether the lane's session is a calibration block
        #: per lane and (subject seed, day) with a calibration block, where that day's sessions
        #: start: (generator state, each process's state, bins)
        self._marks: list[dict[tuple[int, int], tuple[dict, list[dict[str, np.ndarray]], int]]] = [
            {} for _ in range(n)]
        #: per process: state name -> array (n, ...) over lanes
        self._states: list[dict[str, np.ndarray]] = [{} for _ in self.processes]
        self._draws = np.empty((len(self.processes), n, n_units))

    def __bool__(self) -> bool:
        return bool(self.processes)

    def start(self, lanes: np.ndarray, seeds: Sequence[int], days: Sequence[int],
              new_subject: Sequence[bool] | None = None,
              block: Sequence[bool] | None = None) -> None:
        """Start the sessions of ``lanes`` (their subjects' seeds and days).

        ``block``: whether each new session is a calibration block. A lane starts where its
        day's last block ended (module docstring), or afresh for a ``new_subject`` (default: all)
        or a day it has not played.
        """
        k = len(lanes)
        new_subject = [True] * k if new_subject is None else new_subject
        block = [False] * k if block is None else block
        for lane, seed, day, new, is_block in zip(lanes.tolist(), seeds, days, new_subject, block,
                                                  strict=True):
            key = (int(seed), int(day))
            if self._block[lane] and self._day_of[lane] is not None:
                self._mark(lane)  # a block just ended: its day's clock moves on
            if new:
                self._marks[lane].clear()
            if key in self._marks[lane]:
                self._restore(lane, key)
            else:
                rng = np.random.default_rng([key[0], SESSION_STREAM, 1 + key[1]])
                self._rngs[lane] = rng
                for p, stacked in zip(self.processes, self._states):
                    for name, value in p.start(rng, self.n_units).items():
                        if name not in stacked:
                            stacked[name] = np.zeros((self.n, *value.shape), dtype=value.dtype)
                        stacked[name][lane] = value
                self._bins[lane] = 0  # a day without a block: its start is redrawn, not stored
                self._day_of[lane] = key
            self._block[lane] = bool(is_block)
        self._combine(lanes)

    def _mark(self, lane: int) -> None:
        """Remember the lane's processes as where its day's next sessions start."""
        states = [{name: value[lane].copy() for name, value in stacked.items()}
                  for stacked in self._states]
        self._marks[lane][self._day_of[lane]] = (self._rngs[lane].bit_generator.state, states,
                                                 int(self._bins[lane]))

    def _restore(self, lane: int, key: tuple[int, int]) -> None:
        """Put the lane's processes where day ``key``'s sessions start."""
        rng_state, states, bins = self._marks[lane][key]
        rng = np.random.default_rng([key[0], SESSION_STREAM, 1 + key[1]])
        rng.bit_generator.state = rng_state
        self._rngs[lane], self._day_of[lane] = rng, key
        for stacked, saved in zip(self._states, states):
            for name, value in saved.items():
                stacked[name][lane] = value
        self._bins[lane] = bins

    def advance(self) -> None:
        """Count one bin in every lane; update the lanes whose update is due."""
        self._bins += 1
        due = (self._bins % self.every == 0).nonzero()[0]
        if not due.size:
            return
        for lane in due.tolist():
            rng = self._rngs[lane]
            for j, p in enumerate(self.processes):
                p.draw(rng, self._draws[j, lane])
        every = due.size == self.n  # all lanes: update the arrays in place, no gather
        for j, (p, stacked) in enumerate(zip(self.processes, self._states)):
            rows = stacked if every else {k: v[due] for k, v in stacked.items()}
            p.update(rows, self._draws[j] if every else self._draws[j, due], self.seconds)
            if not every:
                for key, value in rows.items():
                    stacked[key][due] = value
        self._combine(None if every else due)

    def _combine(self, lanes: np.ndarray | None) -> None:
        """Recompute the offset and gate of ``lanes`` (None: all) from the processes' states."""
        size = self.n if lanes is None else len(lanes)
        offset = np.zeros((size, self.n_units))
        gate = np.ones((size, self.n_units))
        for p, stacked in zip(self.processes, self._states):
            rows = stacked if lanes is None else {k: v[lanes] for k, v in stacked.items()}
            p.contribute(rows, offset, gate)
        where = slice(None) if lanes is None else lanes
        self.offset[where] = offset * self.dt
        self.gate[where] = gate
        self._gated = self._gated or not gate.all()

    def apply(self, expected: np.ndarray, lanes: np.ndarray | None = None) -> np.ndarray:
        """Return ``max(gate expected + offset, 0)`` (for ``lanes`` only if given), in place."""
        offset = self.offset if lanes is None else self.offset[lanes]
        if self._gated:
            expected *= self.gate if lanes is None else self.gate[lanes]
        expected += offset
        return np.maximum(expected, 0.0, out=expected)


def make_session_drift(value: Any) -> tuple[SessionProcess, ...]:
    """Return the within-session processes from None, a process or a sequence of processes."""
    if value is None:
        return ()
    if isinstance(value, SessionProcess):
        return (value,)
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ValueError(
            f"session_drift must be None, a SessionProcess (BaselineShift(), TransientLoss()) or a "
            f"sequence of them, got {describe(value)}"
        )
    for p in value:
        if not isinstance(p, SessionProcess):
            raise ValueError(
                f"session_drift must hold SessionProcess instances (BaselineShift(), "
                f"TransientLoss()), got {describe(p)}"
            )
    return tuple(value)
