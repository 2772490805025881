r"""Outcome-informed target-inference recalibration: no label after day 0, spikes and errors only.

A Kalman filter drives the cursor; at times within a session (every 15 s in
:func:`run_reward_drift`, :func:`refit_times`; the session goes on with the new filter) PRI-T (:class:`~cogmodels.agents.decoders.target_hmm.TargetHMM`,
Wilson et al. 2023; candidate targets on a grid or the task's layout, :func:`pri_t_model`)
infers the user's target in every bin from the decoded velocity, the cursor it moved and the
task's selections (the click), and the filter is refit on all of the session's counts so far
against Wilson et al.'s position-error labels ``g_t - p_t`` toward the inferred targets
(``n_iter`` rounds: the counts decoded again by each new fit before PRI-T runs again). The decoder never sees
the shown target, the user's intended velocity or any label after the day-0 calibration block
(and, in the variant without any label, not even then: the first filter is fit on a session
driven by the reward-trained decoder, :class:`~cogmodels.agents.reward_decoder.RewardDecoder`).

The decoded error signal (:mod:`cogmodels.envs.bci.error_signal`) enters in two ways:

- **in the target inference** (``error_hmm``): an evaluation says whether the cursor's distance
  to the target shrank over the window it judges (an event at bin ``e``, delivered ``L`` bins
  later), so for every candidate target ``g_i`` it is a Bernoulli observation,

  .. math::

      P(\epsilon_e = -1 \mid s_e = i) = h\ \text{if}\ \mathrm{err}_i(e)\ \text{else}\ f,
      \qquad \mathrm{err}_i(e) = |g_i - p_e| > r \,\wedge\, |g_i - p_e| \ge |g_i - p_{\text{ref}(e)}|

  with the channel's nominal hit and false-alarm rates ``h``, ``f`` and ``p_{ref(e)}`` the cursor
  at the window's start; its log likelihood is added to PRI-T's emissions of bin ``e``, as the
  click is (Wilson et al.'s click integration);
- **as weights of the refit** (``error_weight``, ``failed_trial_weight``): the bins of a window
  judged "error" and the bins of a trial that ended without a selection (a timeout) enter the
  weighted least squares of the encoding model (:mod:`.stats`) with these weights (1: ungated,
  0: dropped); a lane gated down to less than one second of bins (every trial failed) is refit
  ungated.

The refit is blended with the filter the session started from, ``θ ← k θ_{old} + (1 - k)
θ_{fit}`` for the encoding parameters ``θ = (H, d, q)`` (SmoothBatch's blend, Orsborn et al.
2012), with ``k = max(keep, p / (p + n))`` for ``n`` bins and a prior worth ``p`` bins
(``prior_s``),
and renormalised to the day-0 readout norm (Wilson et al.'s ``renormalizeDecoder``,
:class:`~cogmodels.agents.decoders.wilson_study.OutputScale`). The filter reads either the
counts (``features="counts"``) or factor-analysis latents
(:class:`~cogmodels.agents.decoders.stabilizer.ProcrustesStabilizer`): re-estimated on each
session's counts and aligned to day 0 on the stable channels (``"aligned"``) or the day-0
projection kept (``"frozen"``). The output gain and smoothing are tuned online, trial by
trial, by :class:`~cogmodels.agents.reward_learners.GainBandit` from the trial outcomes.

:func:`play_session` is the closed loop; what it hands to the recalibration
(:class:`OutcomeRecord`) holds only the counts, the decoder's output, the velocity applied, the
cursor, the error signal, the selections and the trial ends.

References
----------
- Wilson, G. H., et al. (2023). Long-term unsupervised recalibration of cursor BCIs. bioRxiv
  2023.02.03.527022.
- Orsborn, A. L., et al. (2012). Closed-loop decoder adaptation on intermediate time-scales
  facilitates rapid BMI performance improvements independent of decoder initialization
  conditions. IEEE TNSRE 20, 468–477.
- Iturrate, I., et al. (2015). Teaching brain-machine interfaces as an alternative paradigm to
  neuroprosthetics control. Sci Rep 5, 13893.
- Even-Chen, N., et al. (2018). Feasibility of automatic error detect-and-undo system in human
  intracortical brain-computer interfaces. IEEE TBME 65, 1771–1784.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from cogmodels.agents.decoders.bias import BiasCorrection
from cogmodels.agents.decoders.kalman import SteadyStateKalmanDecoder
from cogmodels.agents.decoders.session import SessionRecord, trial_chunk, trial_table
from cogmodels.agents.decoders.stabilizer import ProcrustesStabilizer
from cogmodels.agents.decoders.target_hmm import TargetHMM, target_grid
from cogmodels.agents.decoders.wilson_study import OutputScale, readout_norm
from cogmodels.agents.reward_learners import GainBandit
from cogmodels.agents.saving import Saveable
from cogmodels.deprecation import renamed_arguments, renamed_attribute
from cogmodels.envs.bci.error_signal import ErrorSignalSpec
from cogmodels.envs.bci.task import center_out_positions
from cogmodels.envs.bci.vector import CursorBCIVector
from cogmodels.rollout import rollout
from cogmodels.validation import check_bool, check_choice, check_int, check_number, describe

__all__ = ["FEATURES", "RECALIBRATIONS", "STRATEGIES", "OutcomeRecalibration", "OutcomeRecord",
           "OutcomeSessionAgent", "error_log_emission", "gate_weights", "play_session", "pri_t_model", "refit_times",
           "run_reward_drift", "window_evaluations"]

#: what the filter reads: the counts, or factor-analysis latents re-estimated and aligned daily
#: or frozen at day 0
FEATURES = ("counts", "aligned", "frozen")


class OutcomeRecord(SessionRecord):
    """What the recalibration may know of a session, bin by bin (and nothing else).

    Keys (:attr:`KEYS`): ``counts (T, L, N)``; ``velocity (T, L, 2)`` the decoder's output;
    ``cursor (T, L, 2)`` the cursor the bin's move started from and ``next_cursor`` the cursor
    after the bin (back at the centre after a trial's end in the centre-out task); the delivered
    ``error_signal (T, L)`` (-1, 0, +1); ``click (T, L)`` (the task registered a selection of
    the target); ``trial_end (T, L)``.
    """

    KEYS = ("counts", "velocity", "cursor", "next_cursor", "error_signal", "click", "trial_end")
    FILLED_BY = "play_session"


def play_session(env: Any, decoder: Any, seconds: float, *, day: Any = None,
                 bandit: GainBandit | None = None, bias: BiasCorrection | None = None,
                 record: OutcomeRecord | None = None, refit_at: Sequence[float] = (),
                 refit: Callable[[], Any] | None = None) -> pd.DataFrame:
    """Let ``decoder`` drive the cursor for ``seconds`` of a new session in every lane.

    Parameters
    ----------
    env : CursorBCIVector
        The environment (each lane a subject).
    decoder : object
        ``reset(mask=None)`` and ``step(counts (L, N)) -> (L, 2)``.
    seconds : float
        Duration of the session.
    day : int or sequence of int, optional
        The session's day (the lanes' current days when None).
    bandit : GainBandit, optional
        Chooses each trial's output gain and smoothing, ``u_t = s u_{t-1} + (1 - s) g v_t``,
        and learns from the trial's outcome (selection, duration); gain 1 and no smoothing
        without it.
    bias : BiasCorrection, optional
        Subtracts a running estimate of the decoded velocity's bias (Jarosiewicz et al. 2015)
        from the decoder's output; the corrected output is what is recorded.
    record : OutcomeRecord, optional
        Filled with the bins.
    refit_at : sequence of float
        Times (s from the session's start) after which ``refit`` is called.
    refit : callable, optional
        ``refit() -> decoder``: recalibrates from ``record`` (the bins so far) and returns the
        decoder that drives the cursor from then on (reset first); the session goes on, the
        trial in progress included.

    Returns
    -------
    pandas.DataFrame
        The trial table of :func:`~cogmodels.agents.decoders.session.run_closed_loop`
        (scoring only: the ``info`` it is built from never reaches the decoder or the bandit).

    Notes
    -----
    The loop is :func:`cogmodels.rollout.rollout` of an :class:`OutcomeSessionAgent` for
    ``seconds`` of the environment's clock, which goes on with its own random stream and
    subjects (no reseeding). A lane whose session ends (``n_trials``) starts the next session of
    the same subject with its decoder state reset; with Gymnasium's ``next_step`` autoreset the
    bin that resets every lane at once is not decoded nor recorded (it still counts on the
    clock).
    """
    if not isinstance(getattr(env, "unwrapped", env), CursorBCIVector):
        raise TypeError(f"env must be a CursorBCIVector, got {type(env).__name__}")
    task = env.config.task
    dt = float(task.dt)
    seconds = check_number("seconds", seconds, dt)
    agent = OutcomeSessionAgent(decoder, dt, n_lanes=env.num_envs, bandit=bandit, bias=bias,
                                record=record, refit_at=refit_at, refit=refit,
                                n_targets=task.n_targets if task.selects else None)
    rollout(agent, env, n_steps=int(round(seconds / dt)), reseed=False,
            options={"day": env.day if day is None else day}, record=None)
    return agent.trial_table()


class OutcomeSessionAgent:
    """The decoder of :func:`play_session` as a :class:`~cogmodels.agent.Learner`.

    :func:`cogmodels.rollout.rollout` drives it on a ``CursorBCIVector``. ``act`` decodes the
    bin's counts, bias-corrects them and applies the bandit's gain and smoothing,
    ``u_t = s u_{t-1} + (1 - s) g v_t``; ``learn`` records the bin in an :class:`OutcomeRecord`
    (nothing of the task but the cursor, the error signal, the selections and the trial ends),
    scores the trials that ended, lets the bandit learn from them and choose the next gain
    (Thompson sampling), restarts the decoder of the lanes whose session ended and calls
    ``refit`` at the times of ``refit_at``. The agent draws no random number: every one is the
    environment's or the bandit's.

    Parameters
    ----------
    decoder : object
        ``reset(mask=None)`` and ``step(counts (L, N)) -> (L, 2)``.
    dt : float
        Seconds per bin.
    n_lanes : int
        Lanes of the environment (the bandit's must match).
    bandit, bias, record, refit_at, refit
        As :func:`play_session`.
    n_targets : int, optional
        For a task that selects (grid, clicks; :func:`play_session` passes it): its number of
        possible targets; the trial table then also holds ``wrong_selection`` and ``n_targets``.

    Attributes
    ----------
    bins_ : int
        Bins of the clock played since :meth:`initial_state` (reset bins included).
    chunks_ : list of dict
        The :func:`~cogmodels.agents.decoders.closed_loop.trial_chunk` of every bin that
        completed trials; :meth:`trial_table` the table.
    """

    #: the vector info entries read with each observation: the cursor the bin's move starts from
    info_columns = ("cursor",)

    def __init__(self, decoder: Any, dt: float, *, n_lanes: int, bandit: GainBandit | None = None,
                 bias: BiasCorrection | None = None, record: OutcomeRecord | None = None,
                 refit_at: Sequence[float] = (), refit: Callable[[], Any] | None = None,
                 n_targets: int | None = None) -> None:
        if bandit is not None and not isinstance(bandit, GainBandit):
            raise TypeError(f"bandit must be a GainBandit or None, got {describe(bandit)}")
        if bandit is not None and bandit.n_lanes != n_lanes:
            raise ValueError(f"bandit has {bandit.n_lanes} lanes but env has {n_lanes}")
        if record is not None and not isinstance(record, OutcomeRecord):
            raise TypeError(f"record must be an OutcomeRecord or None, got {describe(record)}")
        if bias is not None and not isinstance(bias, BiasCorrection):
            raise TypeError(f"bias must be a BiasCorrection or None, got {describe(bias)}")
        if refit is not None and not callable(refit):
            raise TypeError(f"refit must be callable or None, got {describe(refit)}")
        if (refit is None) != (not len(refit_at)) or (refit is not None and record is None):
            raise ValueError(f"refit_at and refit come together, with a record: got refit_at="
                             f"{list(refit_at)!r}, refit={describe(refit)}, record="
                             f"{describe(record)}")
        self.decoder, self.dt = decoder, float(dt)
        self.bandit, self.bias, self.record, self.refit = bandit, bias, record, refit
        self.refit_bins = {int(round(float(s) / self.dt)) for s in refit_at}
        self.n_targets = n_targets  # a task that selects: its trial rows carry the selection
        self.name = type(decoder).__name__

    def initial_state(self, n_lanes: int) -> None:
        """Restart the decoder, the smoothing and the clock; the bandit chooses the first gains."""
        self.decoder.reset()
        self._out = np.zeros((n_lanes, 2))
        self._steps = np.zeros(n_lanes, dtype=np.int64)  # bins into each lane's trial
        self._none = np.zeros(n_lanes)
        self._cursor = self._v = None
        if self.bandit is not None:
            self.bandit.choose()
        self.bins_ = 0
        self.chunks_: list[dict[str, np.ndarray]] = []

    def act(self, observation: Any, state: None, rng: np.random.Generator) -> tuple[np.ndarray, None]:
        """Return the cursor velocity of each lane: decoded, bias-corrected, gained, smoothed."""
        self._cursor = np.asarray(observation["cursor"], dtype=np.float64)
        v = np.asarray(self.decoder.step(observation["obs"]), dtype=np.float64).copy()
        if self.bias is not None:
            v = self.bias(v)
        self._v = v
        bandit = self.bandit
        if bandit is None:
            self._out = v
        else:
            s = bandit.smoothing[:, None]
            self._out = s * self._out + (1.0 - s) * bandit.gain[:, None] * v
        return self._out, state

    def learn(self, transition: Any) -> None:
        """Record the bin, score its trials, update the bandit, restart lanes, refit on time."""
        t = self.bins_
        self.bins_ = t + 1
        info, steps, bandit = transition.info, self._steps, self.bandit
        steps += 1
        if np.any(transition.stepped):  # else next_step reset every lane: nothing was decoded
            done = np.asarray(transition.trial_end, dtype=bool)
            click = np.asarray(info["success"], dtype=bool) & done
            if self.record is not None:
                self.record.add(counts=transition.observation["obs"], velocity=self._v,
                                cursor=self._cursor,
                                next_cursor=np.asarray(info["cursor"], dtype=np.float64),
                                error_signal=np.asarray(info.get("error_signal", self._none),
                                                        dtype=np.float64),
                                click=click, trial_end=done)
            if done.any():
                self.chunks_.append(trial_chunk(info, done, (t + 1) * self.dt,
                                                info["target_radius"], self.n_targets))
                if bandit is not None:
                    bandit.observe(done, click, steps * self.dt)
                    bandit.choose(done)
                    self._out[done] = 0.0
                steps[done] = 0
        ended = np.asarray(transition.terminated, dtype=bool)
        if ended.any():
            self.decoder.reset(ended)
        if t + 1 in self.refit_bins:
            self.decoder = self.refit()
            self.decoder.reset()
        return transition.state

    def trial_table(self) -> pd.DataFrame:
        """Return the trial table of the trials completed since :meth:`initial_state`."""
        return trial_table(self.chunks_, selects=self.n_targets is not None)

    def __repr__(self) -> str:
        return f"OutcomeSessionAgent({self.decoder!r}, bandit={self.bandit!r})"


def window_evaluations(error_signal: np.ndarray, trial_end: np.ndarray, cursor: np.ndarray,
                       next_cursor: np.ndarray, window: int, latency: int
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return each window evaluation of one lane at the bin of the event it judges.

    The channel (:class:`~cogmodels.envs.bci.error_signal.ErrorChannel`, ``"window"`` events)
    evaluates the bins ``s - 1 + k w`` of a trial starting at bin ``s`` (``k = 1, 2, …``, not
    the bin that ends the trial) and delivers each evaluation ``latency`` bins later; the
    evaluation compares the cursor after the event bin with the cursor after the previous
    evaluation (the trial's start position for the first).

    Parameters
    ----------
    error_signal : numpy.ndarray
        ``(T,)`` the delivered evaluations (-1, 0, +1).
    trial_end : numpy.ndarray
        ``(T,)`` booleans: a trial ended at this bin.
    cursor, next_cursor : numpy.ndarray
        ``(T, 2)`` the cursor before and after each bin.
    window, latency : int
        The channel's interval and latency, in bins.

    Returns
    -------
    judged : numpy.ndarray
        ``(T,)`` the evaluation of the event at each bin (0 where none, or not yet delivered).
    position, reference : numpy.ndarray
        ``(T, 2)`` the cursor after the event bin and at the start of its window.
    """
    window, latency = check_int("window", window, 1), check_int("latency", latency, 0)
    T = len(error_signal)
    judged = np.zeros(T)
    position = np.zeros((T, 2))
    reference = np.zeros((T, 2))
    ends = np.flatnonzero(trial_end)
    starts = np.concatenate([[0], ends + 1])
    stops = np.concatenate([ends, [T]])  # exclusive bound of the window events of each trial
    for s, stop in zip(starts.tolist(), stops.tolist()):
        ref = cursor[s] if s < T else None
        for e in range(s - 1 + window, stop, window):
            if e + latency < T:
                judged[e] = error_signal[e + latency]
            position[e], reference[e] = next_cursor[e], ref
            ref = next_cursor[e]
    return judged, position, reference


def error_log_emission(targets: np.ndarray, judged: np.ndarray, position: np.ndarray,
                       reference: np.ndarray, radius: float, hit_rate: float,
                       false_alarm_rate: float) -> np.ndarray:
    """Return the log likelihood ``(T, S)`` of the evaluations under each candidate target.

    See the module docstring: an "error" (-1) has probability ``hit_rate`` where the target
    ``g_i`` would make the move an error (outside the target and no closer than at the window's
    start) and ``false_alarm_rate`` elsewhere; bins without an evaluation contribute 0.

    Parameters
    ----------
    targets : numpy.ndarray
        ``(S, 2)`` candidate targets (PRI-T's grid).
    judged, position, reference : numpy.ndarray
        From :func:`window_evaluations`.
    radius : float
        The target radius.
    hit_rate, false_alarm_rate : float
        The channel's rates (kept within [0.001, 0.999]).

    Returns
    -------
    numpy.ndarray
        ``(T, S)``.
    """
    out = np.zeros((len(judged), len(targets)))
    at = np.flatnonzero(judged)
    if not at.size:
        return out
    h = float(np.clip(hit_rate, 1e-3, 1 - 1e-3))
    f = float(np.clip(false_alarm_rate, 1e-3, 1 - 1e-3))
    now = np.linalg.norm(targets[None] - position[at, None], axis=2)
    before = np.linalg.norm(targets[None] - reference[at, None], axis=2)
    error = (now > radius) & (now >= before)
    minus = judged[at, None] < 0
    p_minus = np.where(error, h, f)
    out[at] = np.log(np.where(minus, p_minus, 1.0 - p_minus))
    return out


def gate_weights(judged: np.ndarray, trial_end: np.ndarray, click: np.ndarray, window: int,
                 error_weight: float = 1.0, failed_trial_weight: float = 1.0) -> np.ndarray:
    """Return the refit weight ``(T,)`` of each bin of one lane from the error signal and outcomes.

    Parameters
    ----------
    judged : numpy.ndarray
        ``(T,)`` evaluations at their event bins (:func:`window_evaluations`).
    trial_end, click : numpy.ndarray
        ``(T,)`` booleans: trial ends and selections.
    window : int
        Bins judged by one evaluation (the event bin and the ``window - 1`` before it, within
        its trial).
    error_weight : float
        Weight of the bins of a window judged "error" (1: ungated).
    failed_trial_weight : float
        Weight multiplying every bin of a trial that ended without a selection.

    Returns
    -------
    numpy.ndarray
        ``(T,)`` weights in [0, 1].
    """
    T = len(judged)
    w = np.ones(T)
    starts = np.concatenate([[0], np.flatnonzero(trial_end) + 1])
    first_of = np.maximum.accumulate(np.isin(np.arange(T), starts) * np.arange(T))
    if error_weight != 1.0:
        for e in np.flatnonzero(judged < 0).tolist():
            w[max(e - window + 1, int(first_of[e])):e + 1] = error_weight
    if failed_trial_weight != 1.0:
        for s, e in zip(starts[:-1].tolist(), np.flatnonzero(trial_end).tolist()):
            if not click[e]:
                w[s:e + 1] *= failed_trial_weight
    return w


class OutcomeRecalibration(Saveable):
    """A Kalman filter recalibrated after each session by outcome-informed PRI-T (module doc).

    Parameters
    ----------
    hmm : TargetHMM
        PRI-T's model (grid, concentration, click rates).
    channel : ErrorSignalSpec or None
        The error signal's timing and nominal rates (None: no error information).
    dt : float
        Bin width (s).
    error_hmm : bool
        Add the evaluations' likelihood to PRI-T's emissions.
    error_weight, failed_trial_weight : float
        Refit weights of the bins judged "error" and of failed trials, in [0, 1] (1: ungated).
    click : bool
        Give PRI-T the task's selections.
    keep : float
        Fraction ``k`` in [0, 1) of the previous encoding model kept at each refit.
    renormalize : bool
        Keep the readout norm at its first value (:class:`OutputScale`).
    features : {"counts", "aligned", "frozen"}
        What the filter reads (:data:`FEATURES`).
    n_factors : int
        Latent factors of the ``"aligned"`` / ``"frozen"`` features.
    prior_s : float
        The previous filter counts as this many seconds of bins: the blend keeps
        ``max(keep, p / (p + n))`` of it for a refit on ``n`` bins (``p`` bins of prior), so an
        early refit on a few seconds of a session stays close to the filter it started from
        (the prior of Dangi et al. 2014's recursive estimate, on the parameters).
    n_iter : int
        Rounds of inference and refit per update: after the first, the session's counts are
        decoded again by the new fit and PRI-T infers the targets from those velocities (the
        cursor positions stay those of the session) — self-training on the session.

    Attributes
    ----------
    decoder_ : SteadyStateKalmanDecoder or ProcrustesStabilizer
        The current decoder (without the output scale).
    scale_ : numpy.ndarray
        ``(L,)`` the renormalising output factors.
    n_updates_ : int
        Sessions recalibrated on.

    Notes
    -----
    ``save(path)`` writes the settings, PRI-T's model, the channel, the current decoder, the
    filter of the session's start (:meth:`begin_session`), the reference readout norm and the
    output scale (JSON + ``.npz``, no pickle);
    :func:`~cogmodels.agents.decoders.base.load_decoder` rebuilds a recalibration that refits as
    this one would.
    """

    prior_seconds = renamed_attribute("prior_seconds", "prior_s")

    @renamed_arguments(prior_seconds="prior_s")
    def __init__(self, hmm: TargetHMM, channel: ErrorSignalSpec | None, *, dt: float = 0.02,
                 error_hmm: bool = True, error_weight: float = 1.0,
                 failed_trial_weight: float = 1.0, click: bool = True, keep: float = 0.0,
                 renormalize: bool = True, features: str = "counts", n_factors: int = 10,
                 n_iter: int = 1, prior_s: float = 0.0) -> None:
        if not isinstance(hmm, TargetHMM):
            raise TypeError(f"hmm must be a TargetHMM, got {describe(hmm)}")
        if channel is not None and not isinstance(channel, ErrorSignalSpec):
            raise TypeError(f"channel must be an ErrorSignalSpec or None, got {describe(channel)}")
        self.hmm, self.channel = hmm, channel
        self.dt = check_number("dt", dt, 0.0, low_open=True)
        self.error_hmm = check_bool("error_hmm", error_hmm)
        self.error_weight = check_number("error_weight", error_weight, 0.0, 1.0)
        self.failed_trial_weight = check_number("failed_trial_weight", failed_trial_weight,
                                                0.0, 1.0)
        uses_errors = self.error_hmm or self.error_weight != 1.0
        if uses_errors and channel is None:
            raise ValueError("error_hmm=True or error_weight < 1 needs the error signal's "
                             "channel, got channel=None")
        if uses_errors and channel.events != ("window",):
            raise ValueError(f"the channel must evaluate 'window' events only, got events="
                             f"{channel.events!r}")
        self.click = check_bool("click", click)
        self.keep = check_number("keep", keep, 0.0, 1.0, high_open=True)
        self.renormalize = check_bool("renormalize", renormalize)
        self.features = check_choice("features", features, FEATURES)
        self.n_factors = check_int("n_factors", n_factors, 1)
        self.n_iter = check_int("n_iter", n_iter, 1)
        self.prior_s = check_number("prior_s", prior_s, 0.0)
        self.n_updates_ = 0

    # -- the decoder ----------------------------------------------------------------------------
    def start(self, decoder: SteadyStateKalmanDecoder | ProcrustesStabilizer
              ) -> OutcomeRecalibration:
        """Start from a fitted day-0 decoder (its readout norm is the reference); return ``self``."""
        want = SteadyStateKalmanDecoder if self.features == "counts" else ProcrustesStabilizer
        if not isinstance(decoder, want):
            raise TypeError(f"features={self.features!r} needs a fitted {want.__name__}, got "
                            f"{describe(decoder)}")
        self.decoder_ = decoder
        self._reference = readout_norm(self._filter(decoder))
        self.scale_ = np.ones(len(self._reference))
        return self

    def start_unlabelled(self, record: OutcomeRecord) -> OutcomeRecalibration:
        """Start from a session driven by another decoder, with no label at all; return ``self``.

        The first filter is fit on PRI-T's labels of that session, and its output is scaled so
        that its median decoded speed on the session's counts is that of the decoder that drove
        it (the speed the user saw).
        """
        rec = record.arrays()
        labels, weights = self._labels(rec)
        counts = rec["counts"]
        if self.features == "counts":
            dec = SteadyStateKalmanDecoder(dt=self.dt).fit(counts, labels, sample_weight=weights)
        else:
            dec = ProcrustesStabilizer(self.n_factors, dt=self.dt).fit(counts, labels)
            dec.decoder_ = SteadyStateKalmanDecoder(ridge=dec.ridge, dt=self.dt).fit(
                dec.transform(counts), labels, sample_weight=weights)
        self.start(dec)
        decoded = np.linalg.norm(copy.deepcopy(dec).decode(counts), axis=2)
        driven = np.linalg.norm(rec["velocity"], axis=2)
        self.scale_ = np.median(driven, axis=0) / np.maximum(np.median(decoded, axis=0), 1e-9)
        self._reference = self.scale_ * self._reference
        self.n_updates_ += 1
        return self

    def driver(self) -> OutputScale:
        """Return the decoder to play: :attr:`decoder_` times :attr:`scale_`."""
        if not hasattr(self, "decoder_"):
            raise ValueError("call start(decoder) or start_unlabelled(record) first")
        return OutputScale(self.decoder_, self.scale_)

    @staticmethod
    def _filter(decoder: Any) -> SteadyStateKalmanDecoder:
        return decoder if isinstance(decoder, SteadyStateKalmanDecoder) else decoder.decoder_

    # -- the recalibration ----------------------------------------------------------------------
    def _labels(self, rec: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """PRI-T's position-error labels ``(T, L, 2)`` and the gate's weights ``(T, L)``."""
        T, L = rec["click"].shape
        labels = np.empty((T, L, 2))
        weights = np.ones((T, L))
        window = latency = 1
        if self.channel is not None:
            window, latency = self.channel.bins(self.dt)
        for lane in range(L):
            v, p = rec["velocity"][:, lane], rec["cursor"][:, lane]
            log_e = self.hmm.log_emission(v, p, rec["click"][:, lane] if self.click else None)
            judged = None
            if self.channel is not None:
                judged, pos, ref = window_evaluations(
                    rec["error_signal"][:, lane], rec["trial_end"][:, lane], p,
                    rec["next_cursor"][:, lane], window, latency)
            if self.error_hmm:
                log_e = log_e + error_log_emission(
                    self.hmm.targets, judged, pos, ref, self.hmm.click_radius,
                    self.channel.hit_rate, self.channel.false_alarm_rate)
            goal = self.hmm.targets[self.hmm.viterbi(log_e)]
            labels[:, lane] = goal - p
            if judged is not None:
                weights[:, lane] = gate_weights(judged, rec["trial_end"][:, lane],
                                                rec["click"][:, lane], window, self.error_weight,
                                                self.failed_trial_weight)
            elif self.failed_trial_weight != 1.0:
                weights[:, lane] = gate_weights(np.zeros(T), rec["trial_end"][:, lane],
                                                rec["click"][:, lane], window, 1.0,
                                                self.failed_trial_weight)
            if weights[:, lane].sum() < 1.0 / self.dt:  # gated to under 1 s of bins: ungated
                weights[:, lane] = 1.0
        return labels, weights

    def begin_session(self) -> OutcomeRecalibration:
        """Mark a session's start: :meth:`update` blends with the filter of this moment."""
        self._previous = self._filter(self.decoder_)
        return self

    def update(self, records: OutcomeRecord | list[OutcomeRecord]) -> OutcomeRecalibration:
        """Recalibrate on the blocks of one session played so far; return ``self``.

        Each :class:`OutcomeRecord` is one sequence for PRI-T; the filter is refit on all their
        bins, blended (``keep``) with the filter at :meth:`begin_session` (the current one if it
        was not called) and renormalised.
        """
        if not hasattr(self, "decoder_"):
            raise ValueError("call start(decoder) or start_unlabelled(record) first")
        if isinstance(records, OutcomeRecord):
            records = [records]
        if not records or not all(isinstance(r, OutcomeRecord) for r in records):
            raise TypeError(f"records must be an OutcomeRecord or a non-empty list of them, got "
                            f"{describe(records)}")
        arrays = [r.arrays() for r in records]
        counts = np.concatenate([a["counts"] for a in arrays])
        dec = self.decoder_
        if self.features == "aligned":
            dec.realign(counts)
        x = counts if self.features == "counts" else dec.transform(counts)
        old = getattr(self, "_previous", None) or self._filter(dec)
        fit: SteadyStateKalmanDecoder | None = None
        for _ in range(self.n_iter):
            if fit is not None:  # the bins decoded again by the last fit: better directions
                decoded = np.split(fit.decode(x), np.cumsum([len(a["counts"]) for a in arrays]))
                for a, v in zip(arrays, decoded):
                    a["velocity"] = v
            labelled = [self._labels(a) for a in arrays]
            labels = np.concatenate([lw[0] for lw in labelled])
            weights = np.concatenate([lw[1] for lw in labelled])
            fit = SteadyStateKalmanDecoder(ridge=old.ridge, dt=self.dt).fit(
                x, labels, sample_weight=weights)
        prior = self.prior_s / self.dt
        k = max(self.keep, prior / (prior + len(counts)))
        if k > 0:
            fit.set_encoding(k * old.H_ + (1 - k) * fit.H_, k * old.d_ + (1 - k) * fit.d_,
                             k * old.q_ + (1 - k) * fit.q_)
        if self.features == "counts":
            self.decoder_ = fit
        else:
            dec.decoder_ = fit
        if self.renormalize:
            self.scale_ = self._reference / readout_norm(fit)
        self.n_updates_ += 1
        return self

@renamed_arguments(session_seconds="session_s", update_seconds="update_s",
                   early_update_seconds="early_update_s", early_seconds="early_s")
def refit_times(session_s: float, update_s: float | None = 15.0,
                early_update_s: float | None = None, early_s: float = 30.0
                ) -> np.ndarray:
    """Return the times (s from a session's start) after which the recalibration refits.

    The first ``early_s`` of the session are cut into blocks of about
    ``early_update_s`` (none when it is None) and the rest into blocks of about
    ``update_s`` (one block when it is None): each part is divided into
    ``max(1, round(length / interval))`` equal blocks, so the last time is ``session_s``.
    Early refits shorten the stretch a session plays with the filter of the last session, the
    stale start after days of drift.

    Parameters
    ----------
    session_s : float
        Duration of the session (> 0).
    update_s : float or None
        Interval between refits after the early part (> 0); None: one refit at the end.
    early_update_s : float or None
        Interval between refits within the first ``early_s`` (> 0); None: no early part.
    early_s : float
        Duration of the early part (> 0; cut at ``session_s``).

    Returns
    -------
    numpy.ndarray
        Increasing refit times, the last equal to ``session_s``.
    """
    session = check_number("session_s", session_s, 0.0, low_open=True)
    early = 0.0
    if early_update_s is not None:
        early_every = check_number("early_update_s", early_update_s, 0.0,
                                   low_open=True)
        early = min(check_number("early_s", early_s, 0.0, low_open=True), session)
    parts = []
    for start, length, every in ((0.0, early, early_every if early else None),
                                 (early, session - early, update_s)):
        if length <= 1e-9:
            continue
        n = 1 if every is None else max(1, int(round(
            length / check_number("update_s", every, 0.0, low_open=True))))
        parts.append(start + length * np.arange(1, n + 1) / n)
    return np.concatenate(parts)


def pri_t_model(env: CursorBCIVector, grid: int | None = 20) -> TargetHMM:
    """Return PRI-T's model for ``env``'s task (Wilson et al.'s settings, as in their protocol).

    The candidate targets are a ``grid × grid`` grid over the workspace (Wilson et al.), or
    with ``grid=None`` the task's layout — the positions where a centre-out target can appear
    (task design, as the keys of a keyboard are: which one the user wants stays unknown); the
    click's per-bin rate is ``1 / (hold_steps + 1)`` and its radius the task's largest target
    radius.
    """
    task = env.config.task
    if grid is None:
        if not task.center_out:
            raise ValueError("grid=None (the task's layout) needs a centre-out task, got "
                             f"task={task.task!r}")
        targets = center_out_positions(task.n_directions, task.target_distance)
    else:
        targets = target_grid(task.workspace, check_int("grid", grid, 2))
    return TargetHMM(targets, click_hit=1.0 / (task.hold_steps + 1),
                     click_radius=float(np.max(task.target_radius)))


#: the recalibrations of :func:`run_reward_drift`: name -> :class:`OutcomeRecalibration` settings
RECALIBRATIONS: dict[str, dict[str, Any]] = {
    # PRI-T with the click, no error information (Wilson et al.'s method)
    "pri_t": {"error_hmm": False},
    # the error signal gates the refit: bins judged "error" and failed trials dropped
    "pri_t_gated": {"error_hmm": False, "error_weight": 0.0, "failed_trial_weight": 0.0},
    # the error signal's evaluations in PRI-T's likelihood
    "pri_t_errors": {"error_hmm": True},
    # the same from a session of the reward-trained decoder: no label ever
    "no_labels": {"error_hmm": True},
}
#: the recalibrations whose bandit's grid moves after each session (:meth:`GainBandit.recentre`):
#: ``"no_labels"``' first filter takes its speed from the reward-trained decoder's session, and
#: no label ever says what the right speed is — only the outcomes do
RECENTRED = frozenset({"no_labels"})
#: every strategy of :func:`run_reward_drift`
STRATEGIES = ("fixed", "daily_recalibration", *RECALIBRATIONS, "reward_only")


def _new_env(n_subjects: int, seed: int, opts: dict[str, Any]) -> CursorBCIVector:
    env = CursorBCIVector(num_envs=n_subjects, n_trials=10**6, drift=opts["drift"],
                          error_signal=opts["error_signal"], **opts["env_kwargs"])
    env.reset(seed=seed, options={"day": 0})  # the subjects of compare_under_drift
    return env


def _refit(recal: OutcomeRecalibration, record: OutcomeRecord, bias: BiasCorrection | None
           ) -> OutputScale:
    """Recalibrate on the session so far (``bias`` re-estimated with it); return the driver."""
    recal.update(record)
    if bias is not None:
        bias.reset()
    return recal.driver()


@renamed_arguments(session_seconds="session_s", calibration_seconds="calibration_s",
                   reward_warmup="reward_warmup_s", update_seconds="update_s",
                   early_update_seconds="early_update_s", early_seconds="early_s",
                   interim_seconds="interim_s", prior_seconds="prior_s")
def run_reward_drift(
    strategies: Any = STRATEGIES,
    days: Any = (0, 7, 14, 28, 42, 60),
    n_subjects: int = 4,
    session_s: float = 120.0,
    *,
    calibration_s: float = 60.0,
    reward_warmup_s: float = 480.0,
    error_signal: Any = "realistic",
    drift: Any = "typical",
    features: str = "counts",
    keep: float = 0.0,
    update_s: float | None = 15.0,
    early_update_s: float | None = None,
    early_s: float = 30.0,
    report_days: Any = None,
    interim_s: float | None = None,
    bias_tau: float | None = None,
    grid: int | None = None,
    n_iter: int = 3,
    prior_s: float = 30.0,
    gains: Any = (0.7, 1.0, 1.4),
    smoothing: Any = (0.0,),
    seed: int = 0,
    progress: bool = False,
    carry_policy: bool = True,
    recentred: Any = RECENTRED,
    **env_kwargs: Any,
) -> pd.DataFrame:
    """Play every strategy on the same subjects and days; return all their trials.

    Strategies (:data:`STRATEGIES`): ``"fixed"`` and ``"daily_recalibration"`` (a steady-state
    Kalman filter from a supervised ``calibration_s`` block of day 0, or of every day:
    :func:`~cogmodels.agents.decoders.drift_study.compare_under_drift`); the recalibrations of
    :data:`RECALIBRATIONS` (:class:`OutcomeRecalibration` after every session, the output gain
    and smoothing tuned by a :class:`~cogmodels.agents.reward_learners.GainBandit`), which start
    from the same day-0 filter — except ``"no_labels"``, which starts from a session of the
    reward-trained decoder, its first filter scaled to that decoder's speed, and moves its
    bandit's grid after each session (``recentred``); ``"reward_only"``: the
    :class:`~cogmodels.agents.reward_decoder.RewardDecoder`, learning from no decoder for
    ``reward_warmup_s`` seconds of day 0 and in every session after.

    Every strategy plays one session on each of ``days`` and on no other day: the
    recalibrations learn from those sessions only, refitting at :func:`refit_times` within
    each. Sessions on ``report_days`` last ``session_s``, the others ``interim_s``;
    ``"fixed"`` and ``"daily_recalibration"`` carry nothing from one session to the next (a
    subject's day is the same whichever days were played before:
    :class:`~cogmodels.envs.bci.drift.NeuralTrajectory`), so they play the ``report_days``
    only.

    Parameters
    ----------
    strategies : sequence of str
        Names among :data:`STRATEGIES`.
    days : sequence of int
        Increasing session days, starting at 0 (e.g. ``range(61)``: a session every day).
    n_subjects : int
        Simulated subjects (lanes), the same for every strategy (environment seed ``seed``).
    session_s, calibration_s, reward_warmup_s : float
        Durations (s).
    error_signal : str or ErrorSignalSpec
        The channel (:data:`~cogmodels.envs.bci.error_signal.ERROR_SIGNAL_PRESETS`).
    drift : str or drift processes
        The neural drift (default the ``"typical"`` preset).
    features : {"counts", "aligned", "frozen"}
        What the recalibrated filters read (:data:`FEATURES`).
    keep : float
        The recalibrations' blend with the filter of the session's start.
    update_s : float or None
        The recalibrations refit every ``update_s`` within a session, on all of the
        session's bins so far, and the session goes on with the new filter (the trial in
        progress too); None: once, after the session.
    early_update_s, early_s : float or None, float
        Refit every ``early_update_s`` during the first ``early_s`` of a session
        instead (None: no early refits; :func:`refit_times`).
    report_days : sequence of int or None
        The days among ``days`` played for ``session_s`` (None: all of them).
    interim_s : float or None
        Duration of the sessions on the other days (None: ``session_s``).
    bias_tau : float or None
        The recalibrations' bias correction's time constant (s; None: none): the day's
        baseline drift is subtracted from the output until the first refit of the session
        re-estimates it (:class:`~cogmodels.agents.decoders.bias.BiasCorrection`).
    grid : int or None
        PRI-T's candidate targets: a ``grid × grid`` grid, or the task's layout (None;
        :func:`pri_t_model`).
    n_iter, prior_s : int, float
        Rounds of inference and refit per update, and the previous filter's weight in seconds
        of bins (:class:`OutcomeRecalibration`).
    gains, smoothing : sequence of float
        The bandit's grid.
    seed : int
        Environment seed (subjects, drift, targets); the bandits and the reward decoder are
        seeded from it too.
    progress : bool
        Show a progress bar over the strategies.
    carry_policy : bool
        The reward-trained decoder's ``carry_policy`` (``"no_labels"``' day 0 and
        ``"reward_only"``): its learnt weights carried through each re-estimate of its
        features, the decoder's default (True); False is the decoder before that mend (an
        ablation: ``bench_reward_drift.py --warmup-policy uncarried``).
    recentred : collection of str
        The recalibrations whose bandit's grid moves after each session
        (:meth:`~cogmodels.agents.reward_learners.GainBandit.recentre`; default
        :data:`RECENTRED`; empty: every grid fixed, as before git ``a8aac13``).
    **env_kwargs
        More :class:`~cogmodels.envs.bci.vector.CursorBCIVector` arguments.

    Returns
    -------
    pandas.DataFrame
        ``decoder`` plus the trial columns that :func:`cogmodels.envs.bci.metrics.summarize`
        reads (``subject`` is the lane, ``day``, ``time`` within the session).
    """
    from cogmodels.agents.decoders.reward import GreedyPolicy, RewardDecoder
    from cogmodels.agents.decoders.session import calibration_block
    from cogmodels.experiments.drift_study import compare_under_drift
    from cogmodels.progress import progress_bar

    names = [strategies] if isinstance(strategies, str) else list(strategies)
    unknown = [s for s in names if s not in STRATEGIES]
    if unknown or not names:
        raise ValueError(f"strategies must be a non-empty list of {list(STRATEGIES)}, got "
                         f"{names!r}")
    recentred = frozenset(recentred)
    if not recentred <= set(RECALIBRATIONS):
        raise ValueError(f"recentred must name recalibrations among {list(RECALIBRATIONS)}, got "
                         f"{sorted(recentred)!r}")
    days = [int(d) for d in days]
    if not days or any(d < 0 for d in days) or days != sorted(set(days)) or days[0] != 0:
        raise ValueError(f"days must be increasing day numbers starting at 0, got {days!r}")
    report = days if report_days is None else sorted({int(d) for d in report_days})
    if not report or not set(report) <= set(days):
        raise ValueError(f"report_days must be a non-empty subset of days {days!r}, got "
                         f"{report_days!r}")
    n_subjects = check_int("n_subjects", n_subjects, 1)
    session_s = check_number("session_s", session_s, 0.0, low_open=True)
    interim_s = session_s if interim_s is None else check_number(
        "interim_s", interim_s, 0.0, low_open=True)
    reward_warmup_s = check_number("reward_warmup_s", reward_warmup_s, 0.0, low_open=True)
    check_choice("features", features, FEATURES)
    seconds = {d: session_s if d in report else interim_s for d in days}
    refits = {d: refit_times(seconds[d], update_s, early_update_s, early_s)
              for d in days}
    opts = {"drift": drift, "error_signal": error_signal, "env_kwargs": env_kwargs}
    seeds = dict(zip(STRATEGIES, np.random.SeedSequence(seed).spawn(len(STRATEGIES))))
    tables = []
    warm: list[RewardDecoder] = []  # the reward decoder's day-0 learning, shared

    def reward_warm() -> tuple[CursorBCIVector, RewardDecoder]:
        env = _new_env(n_subjects, seed, opts)
        if not warm:
            dec = RewardDecoder(env.single_observation_space.shape[0], n_subjects, seed=seed,
                                carry_policy=carry_policy)
            dec.train(env, seconds=reward_warmup_s, options={"day": 0})
            warm.append(dec)
            env = _new_env(n_subjects, seed, opts)
        return env, copy.deepcopy(warm[0])

    with progress_bar(progress, total=len(names), desc="decoders", unit="decoder") as bar:
        for name in names:
            if name in ("fixed", "daily_recalibration"):
                t = compare_under_drift([name], report, n_subjects, session_s,
                                        calibration_s, seed, drift,
                                        error_signal=error_signal, **env_kwargs)
                tables.append(t.drop(columns=["decoder", "session", "phase"]).assign(
                    decoder=name))
                bar.update()
                continue
            if name == "reward_only":
                env, dec = reward_warm()
                for day in days:
                    h = dec.train(env, seconds=seconds[day], options={"day": day})
                    tables.append(h.drop(columns="calibrating").assign(decoder=name))
                bar.update()
                continue
            bandit = GainBandit(n_subjects, gains, smoothing, seed=seeds[name])
            if name == "no_labels":
                env, dec = reward_warm()
            else:
                env = _new_env(n_subjects, seed, opts)
            bias = None if bias_tau is None else BiasCorrection(bias_tau, dt=env.config.task.dt)
            recal = OutcomeRecalibration(pri_t_model(env, grid), env.config.error_signal,
                                         dt=env.config.task.dt, features=features, keep=keep,
                                         n_iter=n_iter, prior_s=prior_s,
                                         **RECALIBRATIONS[name])
            rest = days
            if name == "no_labels":  # day 0: the reward decoder plays, the first filter is fit
                rec = OutcomeRecord()
                t = play_session(env, GreedyPolicy(dec), seconds[0], day=0, record=rec)
                tables.append(t.assign(decoder=name))
                recal.start_unlabelled(rec)
                rest = days[1:]
            else:
                labelled = calibration_block(env, calibration_s, day=0)
                first = (SteadyStateKalmanDecoder(dt=recal.dt) if features == "counts" else
                         ProcrustesStabilizer(recal.n_factors, dt=recal.dt))
                recal.start(first.fit(*labelled))
            for day in rest:
                recal.begin_session()
                rec = OutcomeRecord()
                t = play_session(env, recal.driver(), seconds[day], day=day, bandit=bandit,
                                 bias=bias, record=rec, refit_at=refits[day],
                                 refit=partial(_refit, recal, rec, bias))
                tables.append(t.assign(decoder=name))
                if name in recentred:
                    bandit.recentre()
            bar.update()
    out = pd.concat(tables, ignore_index=True)
    return out[["decoder", *[c for c in out.columns if c != "decoder"]]]
