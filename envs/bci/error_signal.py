r"""A decoded error signal: event-locked evaluations, a latency, measured hit and false-alarm rates.

Error-related activity decoded from the brain evaluates *what the user sees*: a cursor move, a
target entry, a trial's outcome. The decoder of that activity says "error" (-1) or "correct" (+1)
some time after the event, with a hit rate (errors called errors) and a false-alarm rate
(correct events called errors) that differ between subjects and between days. This module is that
channel, batched over the lanes of :class:`~cogmodels.envs.bci.loop.ClosedLoop`.

Events (``ErrorSignalSpec.events``), scored in the bin in which they happen:

- ``"window"``: every ``interval`` seconds of a trial (trial-locked), did the cursor get closer
  to the target since the previous evaluation? An error if the cursor is outside the target and
  the distance did not shrink (``d_t >= d_{t - interval}``) — the evaluation of one discrete
  cursor move (Iturrate et al. 2015, where each discrete move of the device is one evaluated
  event);
- ``"entry"``: entering the target is a correct event, leaving it before the hold is done an
  error;
- ``"outcome"``: the end of a trial, an error if it timed out (Even-Chen et al. 2017, 2018).

At most one evaluation per bin (outcome before entry before window). The evaluation of an event
of bin ``t`` is delivered in bin ``t + L`` with ``L = round(latency / dt)``: a delay line, which
carries evaluations over trial boundaries (the last move of a trial is judged in the next one) and
is emptied when a session restarts. An error event reads -1 with probability ``h``, a correct one
with probability ``f``; otherwise +1.

Subjects and days: ``h`` and ``f`` are drawn on the logit scale around the preset's values,

.. math::

    \operatorname{logit} h_{s,d} = \operatorname{logit} h + \sigma_s z_s + \sigma_d z_{s,d},
    \qquad z \sim N(0, 1),

(the same for ``f``) with ``z_s`` from the subject's seed and ``z_{s,d}`` from ``(seed, 1 + day)``:
a subject's rates on day ``d`` are frozen, whichever sessions were simulated before, like the
neural drift of :mod:`cogmodels.envs.bci.drift`.

References
----------
- Chavarriaga, R., Sobolewski, A., & Millán, J. d. R. (2014). Errare machinale est: the use of
  error-related potentials in brain-machine interfaces. Front Neurosci 8, 208. (ErrP components
  200–500 ms after the event.)
- Iturrate, I., Chavarriaga, R., Montesano, L., Minguez, J., & Millán, J. d. R. (2015). Teaching
  brain-machine interfaces as an alternative paradigm to neuroprosthetics control. Sci Rep 5,
  13893.
- Even-Chen, N., Stavisky, S. D., Kao, J. C., Ryu, S. I., & Shenoy, K. V. (2017). Augmenting
  intracortical brain-machine interface with neurally driven error detectors. J Neural Eng 14,
  066007. (Monkeys: trial outcomes decoded shortly after the trial's end with 96 % accuracy.)
- Even-Chen, N., Stavisky, S. D., Pandarinath, C., et al. (2018). Feasibility of automatic
  error detect-and-undo system in human intracortical brain-computer interfaces. IEEE TBME 65,
  1771–1784. (Two BrainGate2 participants: 70–85 % of errors detected with 0–3 % of successful
  selections misclassified.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cogmodels.validation import check_array, check_number, describe

__all__ = ["ERROR_EVENTS", "ERROR_SIGNAL_PRESETS", "ErrorChannel", "ErrorSignalSpec",
           "make_error_signal"]

#: the events an error signal can evaluate, in order of priority within one bin
ERROR_EVENTS = ("outcome", "entry", "window")
#: the largest latency and interval (seconds)
MAX_SECONDS = 60.0
#: the largest logit-scale standard deviation across subjects or days
MAX_LOGIT_SD = 3.0
#: appended to a subject's seed so the channel's draws differ from the neural drift's
_STREAM = 0xE5


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1.0 - 1e-6)
    return float(np.log(p / (1.0 - p)))


@dataclass(frozen=True)
class ErrorSignalSpec:
    """One error-signal channel: what it evaluates, when, and how well.

    Parameters
    ----------
    hit_rate : float
        P(-1 | error event), in [0, 1] (the population value, before subject and day variation).
    false_alarm_rate : float
        P(-1 | correct event), in [0, 1].
    interval : float
        Seconds between ``"window"`` evaluations within a trial (> 0).
    latency : float
        Seconds from the event to the delivered evaluation (>= 0).
    events : tuple of str
        The evaluated events, among :data:`ERROR_EVENTS`.
    subject_sd : float
        Logit-scale standard deviation of the rates across subjects, in [0, 3].
    day_sd : float
        Logit-scale standard deviation of the rates across days of one subject, in [0, 3].
    name : str
        The preset's name (``"custom"`` otherwise).
    """

    hit_rate: float
    false_alarm_rate: float
    interval: float = 1.0
    latency: float = 0.3
    events: tuple[str, ...] = ("window",)
    subject_sd: float = 0.0
    day_sd: float = 0.0
    name: str = "custom"

    def __post_init__(self) -> None:
        for field in ("hit_rate", "false_alarm_rate"):
            object.__setattr__(self, field, check_number(field, getattr(self, field), 0.0, 1.0))
        object.__setattr__(self, "interval",
                           check_number("interval", self.interval, 0.0, MAX_SECONDS, low_open=True))
        object.__setattr__(self, "latency", check_number("latency", self.latency, 0.0, MAX_SECONDS))
        for field in ("subject_sd", "day_sd"):
            object.__setattr__(self, field,
                               check_number(field, getattr(self, field), 0.0, MAX_LOGIT_SD))
        events = self.events
        if isinstance(events, str) or not isinstance(events, tuple | list) or not events or any(
                e not in ERROR_EVENTS for e in events) or len(set(events)) != len(events):
            raise ValueError(f"events must be a non-empty tuple of distinct values among "
                             f"{list(ERROR_EVENTS)}, got {describe(events)}")
        object.__setattr__(self, "events", tuple(e for e in ERROR_EVENTS if e in events))
        if not isinstance(self.name, str):
            raise ValueError(f"name must be a string, got {describe(self.name)}")

    def rates(self, seed: int, day: int) -> tuple[float, float]:
        """Return ``(hit_rate, false_alarm_rate)`` of subject ``seed`` on ``day`` (frozen).

        Parameters
        ----------
        seed : int
            The subject's seed (:attr:`~cogmodels.envs.bci.drift.NeuralTrajectory.seed`).
        day : int
            The day (>= 0).

        Returns
        -------
        tuple of float
            ``(h, f)`` from the logit-normal model of the module docstring; the population values
            when both standard deviations are 0.
        """
        if self.subject_sd == 0.0 and self.day_sd == 0.0:
            return self.hit_rate, self.false_alarm_rate
        # (trailing zeros do not change a SeedSequence: the day's stream is 1 + day, never 0)
        z_subject = np.random.default_rng([int(seed), _STREAM, 0]).standard_normal(2)
        z_day = np.random.default_rng([int(seed), _STREAM, 1 + int(day)]).standard_normal(2)
        z = self.subject_sd * z_subject + self.day_sd * z_day
        out = []
        for p, dz in zip((self.hit_rate, self.false_alarm_rate), z.tolist()):
            out.append(p if p in (0.0, 1.0) else float(1.0 / (1.0 + np.exp(-(_logit(p) + dz)))))
        return out[0], out[1]

    def bins(self, dt: float) -> tuple[int, int]:
        """Return ``(interval, latency)`` in bins of ``dt`` seconds (interval at least 1)."""
        return max(1, int(round(self.interval / dt))), int(round(self.latency / dt))


#: named channels: the numbers and their sources are in each spec's ``name`` entry below
ERROR_SIGNAL_PRESETS: dict[str, ErrorSignalSpec] = {
    # The channel the reward-only decoder was first built with: far denser and faster than any
    # measured error signal (an evaluation every 0.2 s, no latency). A test bed, not a model.
    "idealised": ErrorSignalSpec(0.9, 0.1, interval=0.2, latency=0.0, name="idealised"),
    # Human intracortical outcome-error decoding (Even-Chen et al. 2018, IEEE TBME): 70-85 % of
    # errors detected with 0-3 % false alarms, here 75 % / 3 % (the conservative end of the
    # false alarms), one evaluation of the cursor's progress per second (Iturrate et al. 2015
    # evaluate each discrete move, about one per 2 s), 300 ms after it (ErrP latency, Chavarriaga
    # et al. 2014); rates vary across subjects (logit sd 0.5) and days (0.25).
    "realistic": ErrorSignalSpec(0.75, 0.03, interval=1.0, latency=0.3, events=("window",),
                                 subject_sd=0.5, day_sd=0.25, name="realistic"),
    # The same rates evaluating the trial outcome only (target selection, Even-Chen et al. 2018).
    "even_chen2018": ErrorSignalSpec(0.775, 0.015, interval=1.0, latency=0.3, events=("outcome",),
                                     subject_sd=0.5, day_sd=0.25, name="even_chen2018"),
    # Monkey intracortical trial-outcome decoding shortly after the trial's end, 96 % accuracy
    # (Even-Chen et al. 2017, J Neural Eng), taken as 96 % hits / 4 % false alarms.
    "even_chen2017": ErrorSignalSpec(0.96, 0.04, interval=1.0, latency=0.3, events=("outcome",),
                                     subject_sd=0.5, day_sd=0.25, name="even_chen2017"),
}


def make_error_signal(value: Any, interval: float = 0.2) -> ErrorSignalSpec | None:
    """Return the channel named or described by ``value``.

    Parameters
    ----------
    value : None, str, ErrorSignalSpec or (float, float)
        None (no error signal), a preset name of :data:`ERROR_SIGNAL_PRESETS`, a spec, or the
        older ``(hit_rate, false_alarm_rate)`` pair: the idealised channel with those rates.
    interval : float
        Seconds between evaluations for the pair form (ignored otherwise).

    Returns
    -------
    ErrorSignalSpec or None
    """
    if value is None or isinstance(value, ErrorSignalSpec):
        return value
    what = (f"error_signal must be None or one of {list(ERROR_SIGNAL_PRESETS)}, an ErrorSignalSpec "
            "or a pair (hit_rate, false_alarm_rate) of probabilities")
    if isinstance(value, str):
        if value not in ERROR_SIGNAL_PRESETS:
            raise ValueError(f"{what}, got {describe(value)}")
        return ERROR_SIGNAL_PRESETS[value]
    try:
        pair = check_array("error_signal", value, (2,), 0.0, 1.0).tolist()
    except ValueError:
        raise ValueError(f"{what}, got {describe(value)}") from None
    interval = check_number("error_interval", interval, 0.0, MAX_SECONDS, low_open=True)
    return ErrorSignalSpec(pair[0], pair[1], interval=interval, latency=0.0, name="idealised")


class ErrorChannel:
    """The error signal of ``n`` lanes: rates per session, events, the delay line.

    Parameters
    ----------
    spec : ErrorSignalSpec
        The channel.
    dt : float
        The bin width (seconds).
    n : int
        The number of lanes.
    """

    def __init__(self, spec: ErrorSignalSpec, dt: float, n: int) -> None:
        self.spec, self.n = spec, n
        self.interval, self.latency = spec.bins(dt)
        self.hit = np.full(n, spec.hit_rate)
        self.false_alarm = np.full(n, spec.false_alarm_rate)
        size = self.latency + 1
        self._signal = np.zeros((n, size))
        self._error = np.zeros((n, size), dtype=bool)
        self._clock = 0
        self._inside = np.zeros(n, dtype=bool)

    def start_session(self, lanes: np.ndarray, seeds: list[int], days: np.ndarray) -> None:
        """Draw the rates of subject ``seeds[i]`` on ``days[i]`` and empty the delay line."""
        for i, seed, day in zip(lanes.tolist(), seeds, np.asarray(days).tolist()):
            self.hit[i], self.false_alarm[i] = self.spec.rates(seed, day)
        self._signal[lanes] = 0.0
        self._error[lanes] = False
        self._inside[lanes] = False

    def step(self, steps: np.ndarray, dist: np.ndarray, ref_distance: np.ndarray,
             inside: np.ndarray, success: np.ndarray, done: np.ndarray,
             rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Score this bin's events, push them into the delay line, return what is due now.

        Parameters
        ----------
        steps : numpy.ndarray
            Bins since the trial started, this one included.
        dist, ref_distance : numpy.ndarray
            Distance to the target now and at the previous window evaluation.
        inside, success, done : numpy.ndarray
            Cursor inside the target; the trial succeeded; the trial ended (this bin).
        rng : numpy.random.Generator
            Draws the detector's noise (one uniform per lane when any event is scored).

        Returns
        -------
        dict
            ``error_signal`` (-1, 0 or +1 per lane, delivered now), ``movement_error`` (whether
            the delivered evaluation was of an error event) and ``window`` (lanes whose window
            evaluation happened now: the caller moves ``ref_distance`` on there).
        """
        scored = np.zeros(self.n, dtype=bool)
        error = np.zeros(self.n, dtype=bool)
        window = np.zeros(self.n, dtype=bool)
        events = self.spec.events
        if "outcome" in events:
            scored |= done
            error |= done & ~success
        if "entry" in events:
            entry = ~scored & (inside != self._inside) & ~done
            error |= entry & ~inside
            scored |= entry
        if "window" in events:
            window = (steps % self.interval == 0) & ~done
            error |= window & ~scored & ~inside & (dist >= ref_distance)
            scored |= window
        self._inside = np.where(done, False, inside)
        size = self.latency + 1
        write, read = (self._clock + self.latency) % size, self._clock % size
        self._clock += 1
        if scored.any():
            p_minus = np.where(error, self.hit, self.false_alarm)
            draw = np.where(rng.random(self.n) < p_minus, -1.0, 1.0)
            self._signal[:, write] = np.where(scored, draw, 0.0)
            self._error[:, write] = scored & error
        signal, err = self._signal[:, read].copy(), self._error[:, read].copy()
        self._signal[:, read] = 0.0
        self._error[:, read] = False
        return {"error_signal": signal, "movement_error": err, "window": window}
