r"""A cursor-BCI decoder trained from reward alone: re-estimated spike features + a linear policy.

The decoder never sees the target, the user's intended velocity or any label. It sees the spike
counts ``c_t`` (``n_units`` per bin of ``dt`` seconds) and a scalar reward ``r_t`` — the decoded
error signal's -1/+1 (:mod:`cogmodels.envs.bci.error_signal`) plus 1 on a success — and learns
the map from the spikes to the cursor velocity: the reinforcement-learning BCI decoders of
DiGiovanna et al. (2009) and Pohlmeyer et al. (2014), taught by an error-related signal as in
Iturrate et al. (2015). Of the channel it knows only the timing (the evaluation interval and the
latency, from ``error_signal`` or the environment's channel), never its outcomes' causes.

Features (:class:`~cogmodels.agents.spike_features.SpikeFeatures`, from the spikes only):
smoothed, z-scored, whitened top-``k`` principal components, first estimated from
``calibration_s`` seconds (while the decoder outputs exploration noise only) and then either
re-estimated with a half-life ``half_life_s`` (default 60 s; each new projection rotated onto the
previous one) or frozen (``half_life_s=None``, the original day-0 projection). With
``carry_policy`` (default) each re-estimate carries the policy with it: its weights ``W`` become
``W M``, ``M`` the least-squares map from the new features to the old
(:attr:`SpikeFeatures.carry_`), so what was learnt keeps its meaning; without it (the decoder
before 2026-12-07's thirty-sixth wave) the policy reads the re-whitened features with its old
weights, and on a population with a large shared drive (the ``full_m1`` realism) each re-estimate
undoes some of what it learnt.

Learning rules (:mod:`cogmodels.agents.reward_learners`): ``"outcome_weighted"`` (default) —
exploration held over each evaluation window, each evaluation credited to the window it judges
(``latency`` bins back) and weighting the update by its advantage over a running baseline, and
exploration shrinking with the running rate of "error"; ``"actor_critic"`` — the original
REINFORCE-with-critic over the bins since the last nonzero reward, kept as the baseline (it needs
the dense idealised channel).

References
----------
- Williams, R. J. (1992). Simple statistical gradient-following algorithms for connectionist
  reinforcement learning. Machine Learning 8, 229–256.
- DiGiovanna, J., Mahmoudi, B., Fortes, J., Principe, J. C., & Sanchez, J. C. (2009).
  Coadaptive brain–machine interface via reinforcement learning. IEEE TBME 56, 54–64.
- Pohlmeyer, E. A., Mahmoudi, B., Geng, S., Prins, N. W., & Sanchez, J. C. (2014). Using
  reinforcement learning to provide stable brain-machine interface control despite neural
  input reorganization. PLoS ONE 9, e87253.
- Iturrate, I., Chavarriaga, R., Montesano, L., Minguez, J., & Millán, J. d. R. (2015).
  Teaching brain-machine interfaces as an alternative paradigm to neuroprosthetics control.
  Sci Rep 5, 13893.

Examples
--------
Three simulated minutes with the realistic channel (75 % hits, 3 % false alarms, one evaluation
per second, 300 ms late), from no decoder at all (20 s of them to estimate the features), then a
greedy evaluation on the same subject:

>>> from cogmodels.agents.decoders.reward import RewardDecoder, per_minute
>>> from cogmodels.envs.bci import CursorBCI
>>> env = CursorBCI(n_trials=10**6, error_signal="realistic")
>>> dec = RewardDecoder(calibration_s=20, seed=0)     # the channel's timing from env
>>> hist = dec.train(env, seconds=180, seed=0)     # a per-trial table
>>> per_minute(hist)[["minute", "n_trials", "successes_per_min"]]
   minute  n_trials  successes_per_min
0     0.0         5                0.0
1     1.0        10                6.0
2     2.0        10                7.0
>>> test = dec.evaluate(env, seconds=30)           # greedy, no learning, same subject
>>> sorted(test.columns)[:4]
['calibrating', 'day', 'dial_in_time', 'distance']
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from cogmodels.agents.reward_learners import ActorCriticLanes, OutcomeWeightedLanes
from cogmodels.agents.saving import Saveable
from cogmodels.agents.spike_features import SpikeFeatures
from cogmodels.deprecation import renamed_arguments, require_columns, warn_renamed
from cogmodels.envs.bci.error_signal import (
    ERROR_SIGNAL_PRESETS,
    ErrorSignalSpec,
    make_error_signal,
)
from cogmodels.rollout import rollout
from cogmodels.validation import check_bool, check_choice, check_int, check_number, int_seed

__all__ = ["GreedyPolicy", "RewardDecoder", "RewardDecoderAgent", "SpikeFeatures", "TrialLog",
           "per_minute"]


#: the trial outcomes recorded per trial (``success`` first)
_OUTCOMES = ("success", "time_to_target", "dial_in_time", "trial_time", "path_efficiency",
             "distance", "index_of_difficulty")


class RewardDecoder(Saveable):
    """A reward-trained cursor decoder: re-estimated spike features into one policy per lane.

    Works with :class:`~cogmodels.envs.bci.CursorBCI` (one lane) and
    :class:`~cogmodels.envs.bci.CursorBCIVector` (``n_lanes = num_envs``: each copy is its own
    subject, so each gets its own features and policy; the lanes are stepped together). The
    training signal is the environment's reward only; ``info`` is read for the trial table
    (metrics) and never reaches the decoder.

    Parameters
    ----------
    n_units, n_lanes : int
        Spike channels (192) and lanes (1).
    rule : str
        ``"outcome_weighted"`` (default) or ``"actor_critic"`` (the original decoder).
    error_signal : None, str or ErrorSignalSpec
        The channel whose timing (interval, latency) the outcome-weighted rule uses; None (default)
        takes the environment's at the first run.
    n_components : int or None
        Principal components (4); None: every z-scored unit.
    tau : float
        Spike smoothing (0.1 s).
    calibration_s : float
        Seconds of spikes for the first feature estimate (30).
    half_life_s : float or None
        Half-life of the re-estimated features (60 s of spikes); None freezes them.
    refit_s : float
        Seconds between feature re-estimates (5).
    carry_policy : bool
        Carry the policy's weights through each re-estimate (``W -> W M``; default True).
    std : float
        Exploration noise (0.3 widths/s; the outcome-weighted rule scales it by the error rate).
    alpha : float
        Outcome-weighted step size per second of judged movement (0.05: an evaluation of a
        window of ``w`` bins steps by ``alpha w dt / (n_features + 1)``).
    baseline_rate : float
        Rate of the running baseline and error rate (0.05 per evaluation).
    min_std_fraction : float
        Smallest fraction of ``std`` the exploration shrinks to (0.25).
    alpha_actor, alpha_critic, credit, max_window_s, agent_kwargs
        The actor-critic rule's settings (0.01, 0.05, ``"window"``, 1 s; see
        :class:`~cogmodels.agents.reward_learners.ActorCriticLanes`).
    seed : int or None
        Seeds the exploration noise.

    Notes
    -----
    ``save(path)`` writes the settings, the channel, the spike features (running moments,
    projection, smoothing, the block in progress), the learner (weights, baselines, traces,
    each lane's exploration ``Generator`` state) and ``n_bins`` to ``<path>.json`` +
    ``<path>.npz`` (no pickle); :func:`~cogmodels.agents.decoders.base.load_decoder` rebuilds a
    decoder that acts and learns exactly as this one would.

    Measured (``benchmarks/bench_reward_decoder.py``, centre-out task, realistic channel, 4
    subjects, seed 0): from no decoder, 1.0, 2.2, 3.2, 7.5 and 15.2 successes/min in minutes 1-5
    and 14-20/min in minutes 5-13 (frozen features: 12-14/min; the ideal decoder: 55/min, a
    supervised Kalman filter 45/min). The actor-critic rule reaches 20-25/min with the idealised
    channel but never 3/min with the realistic one. Under "typical" drift, 2-minute sessions on
    days 7 and 28 give 9.9 and 0.4/min (daily recalibration: 45 and 47); see
    ``benchmarks/RESULTS.md``.
    """

    CREDITS = ("window", "step")
    RULES = ("outcome_weighted", "actor_critic")
    #: a decoder saved before the policy was carried through re-estimates continues as it did
    carry_policy: bool = False
    _carried: int = 0

    def __init__(
        self,
        n_units: int = 192,
        n_lanes: int = 1,
        *,
        rule: str = "outcome_weighted",
        error_signal: Any = None,
        n_components: int | None = 4,
        tau: float = 0.1,
        dt: float = 0.02,
        calibration_s: float = 30.0,
        half_life_s: float | None = 60.0,
        refit_s: float = 5.0,
        carry_policy: bool = True,
        std: float = 0.3,
        alpha: float = 0.05,
        baseline_rate: float = 0.05,
        min_std_fraction: float = 0.25,
        alpha_actor: float = 0.01,
        alpha_critic: float = 0.05,
        credit: str = "window",
        max_window_s: float = 1.0,
        seed: int | None = None,
        **agent_kwargs: Any,
    ) -> None:
        self.rule = check_choice("rule", rule, self.RULES)
        self.credit = check_choice("credit", credit, self.CREDITS)
        self.error_signal = make_error_signal(error_signal)  # None: the environment's channel
        calibration_s = check_number("calibration_s", calibration_s, 0.0, low_open=True)
        dt = check_number("dt", dt, 0.0, low_open=True)
        self.features = SpikeFeatures(
            n_units, n_lanes, n_components=n_components, tau=tau, dt=dt,
            calibration_bins=max(2, int(round(calibration_s / dt))), half_life_s=half_life_s,
            refit_s=refit_s,
        )
        self.n_lanes, self.dt = self.features.n_lanes, dt
        self.carry_policy = check_bool("carry_policy", carry_policy)
        self._carried = 0  # the features' re-estimates the policy has been carried through
        check_number("std", std, 0.0, low_open=True)
        self.alpha_actor = check_number("alpha_actor", alpha_actor, 0.0)
        self.alpha_critic = check_number("alpha_critic", alpha_critic, 0.0)
        self.max_window = max(1, int(round(
            check_number("max_window_s", max_window_s, 0.0, low_open=True) / dt)))
        self._seeds = np.random.SeedSequence(seed).spawn(self.n_lanes)
        self._std, self._agent_kwargs = std, agent_kwargs
        self._alpha = check_number("alpha", alpha, 0.0)
        self._baseline_rate = check_number("baseline_rate", baseline_rate, 0.0, 1.0)
        self._min_std_fraction = check_number("min_std_fraction", min_std_fraction, 0.0, 1.0,
                                               low_open=True)
        if self.rule == "outcome_weighted" and agent_kwargs:
            raise TypeError(f"rule='outcome_weighted' takes no agent arguments, got "
                            f"{sorted(agent_kwargs)}")
        self.learner: ActorCriticLanes | OutcomeWeightedLanes | None = None
        if self.rule == "actor_critic" or self.error_signal is not None:
            self._build_learner(self.error_signal)
        self.n_bins = 0  # bins played so far (all calls)

    def _build_learner(self, channel: ErrorSignalSpec | None) -> None:
        n = self.features.n_features
        if self.rule == "actor_critic":
            self.learner = ActorCriticLanes(
                n, self.n_lanes, std=self._std, alpha_actor=self.alpha_actor,
                alpha_critic=self.alpha_critic, credit=self.credit, max_window=self.max_window,
                seeds=self._seeds, **self._agent_kwargs)
            return
        if channel is None:
            raise ValueError("rule='outcome_weighted' needs the timing of an error signal: give "
                             f"error_signal (one of {list(ERROR_SIGNAL_PRESETS)} or an "
                             "ErrorSignalSpec) or an environment with one, got neither")
        self.error_signal = channel
        window, latency = channel.bins(self.dt)
        # alpha per second of judged movement: a 0.2 s window steps a fifth of a 1 s one
        self.learner = OutcomeWeightedLanes(
            n, self.n_lanes, std=self._std, alpha=self._alpha * window * self.dt, window=window,
            latency=latency,
            baseline_rate=self._baseline_rate, min_std_fraction=self._min_std_fraction,
            seeds=self._seeds)

    # -- decoding -------------------------------------------------------------------------------
    def _carry(self) -> None:
        """Carry the policy through the features' latest re-estimate (if any since the last)."""
        M, self._carried = self.features.carry_since(self._carried)
        if M is not None and self.carry_policy and self.learner is not None:
            self.learner.carry(M)  # M is None too in a file saved before carry_ existed

    def weights(self) -> np.ndarray:
        """Return the policies' mean weights ``W``, ``(n_lanes, 2, n_features + 1)``."""
        if self.learner is None:
            return np.zeros((self.n_lanes, 2, self.features.n_features + 1))
        return self.learner.weights()

    def _act(self, y: np.ndarray, greedy: bool) -> np.ndarray:
        if not self.features.ready:  # calibrating: exploration noise only
            if greedy:
                return np.zeros((self.n_lanes, 2))
            return self.learner.explore()
        return self.learner.act(y, greedy)

    def as_agent(self, *, learn: bool = True, greedy: bool = False) -> RewardDecoderAgent:
        """Return the decoder as an :class:`~cogmodels.agent.Agent` (:class:`RewardDecoderAgent`).

        :meth:`run` is :func:`~cogmodels.rollout.rollout` of this agent (with its seeds and a
        :class:`TrialLog` for its trial table); ``rollout`` drives it like any other agent, e.g.
        with ``record="steps"``.

        Parameters
        ----------
        learn : bool, default True
            Learn from each step's reward (never while the features calibrate, nor when greedy).
        greedy : bool, default False
            Act with the policies' means (no exploration).

        Returns
        -------
        agent : RewardDecoderAgent
        """
        return RewardDecoderAgent(self, learn=learn, greedy=greedy)

    # -- playing --------------------------------------------------------------------------------
    @renamed_arguments(progress_every_s="callback_every_s", n_seconds="seconds")
    def train(self, env: Any, *, seconds: float | None = None, n_bins: int | None = None,
              seed: int | None = None, options: dict | None = None,
              progress: bool = False, callback: Callable[[dict], None] | None = None,
              callback_every_s: float = 60.0) -> pd.DataFrame:
        """Learn online for ``seconds`` (or ``n_bins``) of simulated time; see :meth:`run`."""
        return self.run(env, seconds=seconds, n_bins=n_bins, seed=seed, options=options,
                        learn=True, greedy=False, progress=progress, callback=callback,
                        callback_every_s=callback_every_s)

    @renamed_arguments(n_seconds="seconds")
    def evaluate(self, env: Any, *, seconds: float | None = None, n_bins: int | None = None,
                 seed: int | None = None, options: dict | None = None,
                 greedy: bool = True) -> pd.DataFrame:
        """Play without learning (the mean decoder if ``greedy``); see :meth:`run`."""
        return self.run(env, seconds=seconds, n_bins=n_bins, seed=seed, options=options,
                        learn=False, greedy=greedy)

    @renamed_arguments(progress_every_s="callback_every_s", n_seconds="seconds")
    def run(
        self,
        env: Any,
        *,
        seconds: float | None = None,
        n_bins: int | None = None,
        seed: int | None = None,
        options: dict | None = None,
        learn: bool = True,
        greedy: bool = False,
        progress: bool = False,
        callback: Callable[[dict], None] | None = None,
        callback_every_s: float = 60.0,
    ) -> pd.DataFrame:
        """Play ``n_bins`` bins (or ``seconds`` of simulated time) in ``env`` from a new session.

        The session starts with ``env.reset(seed=seed)``: ``seed`` draws a new subject; None
        keeps the current one, e.g. to evaluate on the subject just trained on; ``options`` go to
        ``env.reset``, e.g. ``{"day": 14}``.

        Returns the per-trial table: ``subject`` (the lane: its subject), ``trial`` (from 0 in
        each subject, over the sessions of this call), ``time`` (simulated seconds since the
        start of this call at the trial's end), ``calibrating``, ``day`` and the outcome
        columns (``success``, ``time_to_target``, ``dial_in_time``, ``trial_time``,
        ``path_efficiency``, ``distance``, ``index_of_difficulty``: what
        :func:`cogmodels.envs.bci.metrics.summarize` reads); ``attrs["wall_s"]`` and
        ``attrs["n_bins"]``. ``progress`` draws a bar of the bins played (on a terminal only);
        ``callback(d)`` is called every ``callback_every_s`` simulated seconds with ``time_s``,
        ``wall_s``, ``n_trials``, ``success_rate`` (of the trials in that stretch). A callable
        passed as ``progress`` (``progress_every_s``: ``callback_every_s``), as before, is taken
        as the callback, with a ``DeprecationWarning``.
        """
        if callable(progress):
            warn_renamed("a callable progress", "callback (progress is a bool)")
            if callback is not None:
                raise TypeError("give the callback once: as callback, not also as progress")
            progress, callback = False, progress
        progress = check_bool("progress", progress)
        if callback is not None and not callable(callback):
            raise TypeError(f"callback must be a callable taking a dict or None, got {callback!r}")
        if (seconds is None) == (n_bins is None):
            raise ValueError(f"give exactly one of seconds and n_bins, got seconds={seconds!r}, "
                             f"n_bins={n_bins!r}")
        if n_bins is None:
            n_bins = max(1, int(round(check_number("seconds", seconds, 0.0, low_open=True)
                                      / self.dt)))
        n_bins = check_int("n_bins", n_bins, 1)
        vector = hasattr(env, "num_envs")
        n_env = int(env.num_envs) if vector else 1
        if n_env != self.n_lanes:
            raise ValueError(f"env has {n_env} lanes but the decoder n_lanes={self.n_lanes}")
        if env.observation_space.shape[-1] != self.features.n_units:
            raise ValueError(f"env has {env.observation_space.shape[-1]} units but the decoder "
                             f"n_units={self.features.n_units}")
        env_dt = float(env.config.task.dt)
        if not np.isclose(env_dt, self.dt):
            raise ValueError(f"env dt={env_dt} but the decoder dt={self.dt}")
        every = max(1, int(round(check_number("callback_every_s", callback_every_s, 0.0, low_open=True)
                                 / self.dt)))
        if self.learner is None:  # the channel's timing (interval, latency), never its outcomes
            self._build_learner(getattr(env.config, "error_signal", None))
        if seed is not None:
            env_seed = int_seed(np.random.SeedSequence([seed, 1]))
            self.learner.seed(np.random.SeedSequence([seed, 2]).spawn(self.n_lanes))
        else:
            env_seed = None
        log = TrialLog(self.n_lanes, self.dt, n_bins, callback, every)
        agent = RewardDecoderAgent(self, learn=learn, greedy=greedy, log=log)
        rollout(agent, env, n_steps=n_bins, seed=seed, options=options, reseed=seed is not None,
                env_seed=env_seed, record=None, progress=progress, description="reward decoder")
        return log.table()


class TrialLog:
    """The per-trial table of :meth:`RewardDecoder.run`, filled from each step's ``info``.

    One row per trial a lane completed: ``subject`` (the lane), ``trial`` (per subject, from 0),
    ``time`` (the simulated seconds since the start of the run at the end of the bin),
    ``calibrating``, ``day`` and the outcome columns; ``callback(d)`` every ``every`` bins and at
    the last (``time_s``, ``wall_s``, ``n_trials``, ``success_rate`` of the trials since the last
    report: a report, not a table row).

    Parameters
    ----------
    n_lanes : int
        Lanes.
    dt : float
        Seconds per bin.
    n_bins : int
        Bins of the run (the last one reports to the callback).
    callback : callable or None
        Called with the report dict.
    every : int
        Bins between reports.
    """

    COLUMNS = ("subject", "trial", "time", "calibrating", "day", *_OUTCOMES)

    def __init__(self, n_lanes: int, dt: float, n_bins: int,
                 callback: Callable[[dict], None] | None = None, every: int = 1) -> None:
        self.dt, self.n_bins, self.callback, self.every = dt, n_bins, callback, every
        self.rows: dict[str, list] = {k: [] for k in self.COLUMNS}
        self.n_trial = np.zeros(n_lanes, dtype=np.int64)
        self.t = 0  # bins played
        self._last_report = 0
        self._wall0 = time.perf_counter()

    def add(self, transition: Any, calibrating: bool) -> None:
        """Record the trials the step of ``transition`` completed (its ``trial_end`` lanes)."""
        self.t += 1
        done = transition.trial_end
        if done is not None and done.any():
            info, rows = transition.info, self.rows
            for i in done.nonzero()[0]:
                # a vector env's info holds arrays over the lanes; a single env's, its trial_result
                result = info[i]["trial_result"] if isinstance(info, list) else {
                    k: info[k][i] for k in ("day", *_OUTCOMES)}
                rows["subject"].append(int(i))
                rows["trial"].append(int(self.n_trial[i]))
                rows["time"].append(self.t * self.dt)
                rows["calibrating"].append(calibrating)
                rows["day"].append(int(result["day"]))
                rows["success"].append(bool(result["success"]))
                for k in _OUTCOMES[1:]:
                    rows[k].append(float(result[k]))
                self.n_trial[i] += 1
        if self.callback is not None and (self.t % self.every == 0 or self.t == self.n_bins):
            succ = self.rows["success"][self._last_report:]
            self.callback({"time_s": self.t * self.dt, "wall_s": time.perf_counter() - self._wall0,
                           "n_trials": len(succ),
                           "success_rate": float(np.mean(succ)) if succ else float("nan")})
            self._last_report = len(self.rows["success"])

    def table(self) -> pd.DataFrame:
        """Return the trial table, with ``attrs`` ``wall_s``, ``n_bins`` and ``sim_s``."""
        df = pd.DataFrame(self.rows)
        df.attrs["wall_s"] = time.perf_counter() - self._wall0
        df.attrs["n_bins"] = self.n_bins
        df.attrs["sim_s"] = self.n_bins * self.dt
        return df


class RewardDecoderAgent:
    """A :class:`RewardDecoder` as an :class:`~cogmodels.agent.Agent`: one bin a step.

    :meth:`act` reads the spike features of the bin (:class:`SpikeFeatures`, re-estimated from
    the spikes only) and draws the velocity (exploration noise only while the features
    calibrate); :meth:`learn` reads the next bin's features and updates the policies from the
    reward (never while calibrating, never when greedy), restarting the smoothing and the
    learner's traces of the lanes whose session ended. The decoder holds the learnt state; the
    agent state holds the current features and whether the bin was calibrating. It acts on every
    bin of the clock (``acts_on_autoreset``): on a ``next_step`` bin where every lane resets it
    still reads the spikes and draws its exploration, as it does on any other bin.

    Parameters
    ----------
    decoder : RewardDecoder
        The decoder (its learner is built from the channel's timing at the first :meth:`RewardDecoder.run`,
        or from ``error_signal``).
    learn : bool, default True
        Learn from the reward.
    greedy : bool, default False
        Act with the mean policy, without exploration.
    log : TrialLog, optional
        Records the trials each step completed (what :meth:`RewardDecoder.run` returns).
    """

    #: act on next_step steps where every lane resets too (:func:`~cogmodels.rollout.rollout`)
    acts_on_autoreset = True

    def __init__(self, decoder: RewardDecoder, *, learn: bool = True, greedy: bool = False,
                 log: TrialLog | None = None) -> None:
        if not isinstance(decoder, RewardDecoder):
            raise TypeError(f"decoder must be a RewardDecoder, got {type(decoder).__name__}")
        if decoder.learner is None:
            raise ValueError("decoder has no learner yet: give the RewardDecoder an error_signal, "
                             "or run it once in an environment with one")
        self.decoder = decoder
        self.learning = check_bool("learn", learn)
        self.greedy = check_bool("greedy", greedy)
        if log is not None and not isinstance(log, TrialLog):
            raise TypeError(f"log must be a TrialLog or None, got {type(log).__name__}")
        self.log = log
        self.name = f"reward_decoder-{decoder.rule}"

    def initial_state(self, n_lanes: int) -> dict[str, Any]:
        """Restart the features' smoothing and the learner's traces; return the empty state."""
        dec = self.decoder
        if n_lanes != dec.n_lanes:
            raise ValueError(f"n_lanes must be the decoder's {dec.n_lanes} lanes, got {n_lanes}")
        dec.features.restart()
        dec.learner.restart(np.arange(dec.n_lanes))
        return {"y": None, "calibrating": None}

    def _features(self, obs: Any) -> np.ndarray:
        dec = self.decoder
        return dec.features(np.asarray(obs, dtype=np.float64).reshape(dec.n_lanes, -1))

    def act(self, observation: Any, state: dict[str, Any], rng: Any) -> tuple[np.ndarray, dict[str, Any]]:
        """Return the velocity of each lane, ``(n_lanes, 2)``, for the bin's spike counts."""
        if state["y"] is None:  # the first bin of the rollout
            state["y"] = self._features(observation["obs"])
            self.decoder._carry()
        state["calibrating"] = not self.decoder.features.ready
        return self.decoder._act(state["y"], self.greedy), state

    def learn(self, transition: Any) -> dict[str, Any]:
        """Read the next bin's features and learn from the step's reward; return the state."""
        dec, state = self.decoder, transition.state
        ends = np.asarray(transition.terminated, dtype=bool) | np.asarray(transition.truncated, dtype=bool)
        if ends.any():
            dec.features.restart(ends.nonzero()[0])
        y_next = self._features(transition.next_observation["obs"])
        if self.learning and not state["calibrating"] and not self.greedy:
            dec.learner.learn(state["y"], transition.action,
                              np.asarray(transition.reward, dtype=np.float64), y_next, ends)
        if ends.any():
            dec.learner.restart(ends.nonzero()[0])
        dec._carry()  # after learning from this bin: its credit was in the old features
        state["y"] = y_next
        dec.n_bins += 1
        if self.log is not None:
            self.log.add(transition, state["calibrating"])
        return state

    def __repr__(self) -> str:
        return f"RewardDecoderAgent({self.name}, learn={self.learning}, greedy={self.greedy})"


class GreedyPolicy:
    """A trained :class:`RewardDecoder`'s mean policy as a step decoder (no exploration, no learning).

    It has the ``reset(mask=None)`` / ``step(counts) -> (L, 2)`` interface of the decoders of
    :mod:`cogmodels.agents.decoders`, so the closed loops written for them can drive the cursor
    with it (e.g. to record a session for a recalibration that starts from it). The features keep
    re-estimating themselves if the decoder's do.

    Parameters
    ----------
    decoder : RewardDecoder
        A decoder whose features are ready.
    """

    def __init__(self, decoder: RewardDecoder) -> None:
        if not isinstance(decoder, RewardDecoder):
            raise TypeError(f"decoder must be a RewardDecoder, got {type(decoder).__name__}")
        if decoder.learner is None or not decoder.features.ready:
            raise ValueError("decoder must be trained first (its features are not estimated)")
        self.decoder = decoder

    def reset(self, mask: np.ndarray | None = None) -> GreedyPolicy:
        """Restart the spike smoothing of the lanes in ``mask`` (all when None)."""
        self.decoder.features.restart(None if mask is None else np.flatnonzero(mask))
        return self

    def step(self, counts: np.ndarray) -> np.ndarray:
        """Return the mean velocity ``(L, 2)`` for one bin of counts ``(L, N)``."""
        y = self.decoder.features(counts)
        self.decoder._carry()
        return self.decoder.learner.act(y, greedy=True)


def per_minute(history: pd.DataFrame, minutes: float = 1.0, *,
               by_subject: bool = False) -> pd.DataFrame:
    """Bin a trial table into stretches of ``minutes`` simulated minutes, pooled or per subject.

    ``history`` is a table of :meth:`RewardDecoder.run` (``subject``, ``time``, ``success``,
    ``time_to_target``). The columns are ``minute`` (start of the stretch), ``n_trials``,
    ``success_rate``, ``successes_per_min`` (per subject) and ``time_to_target`` (median over
    successes); pooled, the stretches without a trial are left out. With ``by_subject`` there is
    one row per subject and stretch (a ``subject`` column first), every subject of ``history``
    in every stretch up to the last one that holds a trial (a subject without trials in a
    stretch: 0 trials, 0 successes/min): a mean over subjects can hide subjects that never
    learn. A subject with no trial at all is not in ``history`` and so not in the table.
    """
    minutes = check_number("minutes", minutes, 0.0, low_open=True)
    by_subject = check_bool("by_subject", by_subject)
    require_columns("history", history, ("subject", "time", "success", "time_to_target"),
                    "a trial table of RewardDecoder.run")
    n_lanes = max(1, int(history["subject"].nunique())) if len(history) else 1
    b = np.floor(history["time"] / (60.0 * minutes)) * minutes
    keys = ["subject", "minute"] if by_subject else ["minute"]
    g = history.assign(minute=b).groupby(keys)
    out = pd.DataFrame({
        "n_trials": g.size(),
        "success_rate": g["success"].mean(),
        "successes_per_min": g["success"].sum() / (minutes * (1 if by_subject else n_lanes)),
        "time_to_target": g["time_to_target"].median(),
    })
    if by_subject and len(out):
        stretches = np.arange(0.0, b.max() + minutes / 2, minutes)
        full = pd.MultiIndex.from_product([np.unique(history["subject"]), stretches],
                                          names=keys)
        out = out.reindex(full)
        out[["n_trials", "successes_per_min"]] = out[["n_trials", "successes_per_min"]].fillna(0)
        out["n_trials"] = out["n_trials"].astype(np.int64)
    return out.reset_index()
