"""Probabilistic reversal learning, single and natively vectorised.

Both classes run the same array code (:class:`_Contingencies`, over a leading lane axis; the single
task is one lane), so their semantics cannot drift apart, and with ``num_envs=1`` the vector task
reproduces the single task's rollout for the same seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium import spaces

from cogmodels.deprecation import renamed_arguments, renamed_attribute
from cogmodels.envs.core import (
    MAX_ACTIONS,
    MAX_TRIALS,
    PLAIN_INTS,
    TaskEnv,
    TaskVectorEnv,
    lane_draws,
    named_arguments,
    named_errors,
)
from cogmodels.validation import (
    check_choice,
    check_int,
    check_int_pair,
    check_ints,
    check_number,
    check_probability,
    describe,
)

__all__ = ["ReversalLearning", "ReversalLearningVector"]

MODES = ("schedule", "criterion")
DEFAULT_EVERY = 40
DEFAULT_CRITERION = (8, 10)
#: the longest criterion window (``n`` of ``criterion=(k, n)``), in trials
MAX_WINDOW = 1_000


@dataclass(frozen=True)
class _Config:
    """Validated static configuration shared by the single and the vector task."""

    n_actions: int
    n_trials: int
    p_reward: float
    p_low: float
    mode: str
    reverse_at: np.ndarray  # bool (n_trials + 1,): trial t starts a new contingency (schedule mode)
    criterion: tuple[int, int]
    criterion_delay: tuple[int, int]
    p_reversal: float
    initial_correct: int | None


def _check_schedule(schedule: Any, n_trials: int) -> np.ndarray:
    trials = check_ints("schedule", schedule, 1, n_trials - 1)
    if any(b <= a for a, b in zip(trials, trials[1:])):
        raise ValueError(
            f"schedule must be a strictly increasing sequence of integers in [1, {n_trials - 1}], "
            f"got {describe(schedule)}"
        )
    return np.asarray(trials, dtype=np.int64)


def _check_initial_correct(value: Any, n_actions: int, name: str = "initial_correct") -> int:
    try:
        return check_int(name, value, 0, n_actions - 1)
    except ValueError:
        raise ValueError(
            f"{name} must be an option index in [0, {n_actions - 1}], got {describe(value)}"
        ) from None


_MODE_DEFAULTS: dict[str, Any] = {
    "criterion": None,
    "criterion_delay": (0, 0),
    "p_reversal": 1.0,
    "reversal_every": None,
    "schedule": None,
}


def _reject_other_mode(owner: str, **values: Any) -> None:
    """Raise if an argument of the other mode (``owner``) was given a non-default value."""
    other = "schedule" if owner == "criterion" else "criterion"
    for name, value in values.items():
        if value is not None and (_MODE_DEFAULTS[name] is None or value != _MODE_DEFAULTS[name]):
            raise ValueError(
                f"{name} applies only to mode={owner!r}, got {name}={value!r} with mode={other!r}"
            )


def _schedule_trials(reversal_every: Any, schedule: Any, n_trials: int) -> np.ndarray:
    """Return the trials that start a new contingency in schedule mode."""
    if reversal_every is not None and schedule is not None:
        raise ValueError(
            "give one of reversal_every or schedule, not both, got "
            f"reversal_every={reversal_every!r} and schedule={schedule!r}"
        )
    if schedule is not None:
        return _check_schedule(schedule, n_trials)
    every = check_int(
        "reversal_every", DEFAULT_EVERY if reversal_every is None else reversal_every, 1, MAX_TRIALS
    )
    return np.arange(every, n_trials, every)


def _check_config(
    n_actions: int,
    n_trials: int,
    p_reward: float,
    p_low: float | None,
    mode: str,
    reversal_every: int | None,
    schedule: Sequence[int] | None,
    criterion: tuple[int, int] | None,
    criterion_delay: tuple[int, int],
    p_reversal: float,
    initial_correct: int | None,
) -> _Config:
    n_actions = check_int("n_actions", n_actions, 2, MAX_ACTIONS)
    n_trials = check_int("n_trials", n_trials, 1, MAX_TRIALS)
    p_reward = check_probability("p_reward", p_reward)
    p_low = round(1.0 - p_reward, 12) if p_low is None else check_probability("p_low", p_low)
    if p_low > p_reward:
        raise ValueError(
            f"p_low must be <= p_reward={p_reward} (the correct option pays more), got {p_low!r}"
        )
    check_choice("mode", mode, MODES)
    delay = check_int_pair("criterion_delay", criterion_delay, 0, MAX_TRIALS)
    p_reversal = check_number("p_reversal", p_reversal, 0.0, 1.0, low_open=True)
    if mode == "schedule":
        _reject_other_mode("criterion", criterion=criterion, criterion_delay=delay,
                           p_reversal=p_reversal)
        trials = _schedule_trials(reversal_every, schedule, n_trials)
        criterion = DEFAULT_CRITERION
    else:
        _reject_other_mode("schedule", reversal_every=reversal_every, schedule=schedule)
        trials = np.zeros(0, dtype=np.int64)
        criterion = check_int_pair(
            "criterion",
            DEFAULT_CRITERION if criterion is None else criterion,
            1,
            MAX_WINDOW,
            labels=("k", "n"),
        )
    reverse_at = np.zeros(n_trials + 1, dtype=bool)
    reverse_at[trials] = True
    if initial_correct is not None:
        initial_correct = _check_initial_correct(initial_correct, n_actions)
    return _Config(n_actions, n_trials, p_reward, p_low, mode, reverse_at, criterion, delay,
                   p_reversal, initial_correct)


class _Contingencies:
    """The task state of ``n`` lanes and its dynamics, as array operations over the lanes.

    Per lane: the trial index ``t``, the ``correct`` option, the ``block`` (contingency period),
    whether the current trial starts a new contingency (``reversal``), and for the criterion mode a
    ring buffer of the correctness of the choices since the last reversal, ``window`` (lanes × n of
    ``criterion=(k, n)``), with the count of those choices ``since``, and ``countdown``: -1 until the criterion is met, then the
    trials left before the reversal may happen.
    """

    def __init__(self, cfg: _Config, n: int) -> None:
        self.cfg = cfg
        self.lanes = np.arange(n)
        self.t = np.zeros(n, dtype=np.int64)
        self.correct = np.zeros(n, dtype=np.int64)
        self.block = np.zeros(n, dtype=np.int64)
        self.reversal = np.zeros(n, dtype=bool)
        self.window = np.zeros((n, cfg.criterion[1]), dtype=bool)
        self.since = np.zeros(n, dtype=np.int64)
        self.countdown = np.full(n, -1, dtype=np.int64)

    def p_reward(self) -> np.ndarray:
        """Reward probability of every option in every lane, (n, n_actions)."""
        p = np.full((self.lanes.size, self.cfg.n_actions), self.cfg.p_low)
        p[self.lanes, self.correct] = self.cfg.p_reward
        return p

    def reset(self, mask: np.ndarray, rng: np.random.Generator, options: dict | None) -> None:
        k = int(mask.sum())
        first = (options or {}).get("correct_action", self.cfg.initial_correct)
        if first is None:
            self.correct[mask] = lane_draws(rng, mask).integers(0, self.cfg.n_actions, size=k)
        else:
            self.correct[mask] = _check_initial_correct(
                first, self.cfg.n_actions, 'options["correct_action"]'
            )
        self.t[mask] = 0
        self.block[mask] = 0
        self.reversal[mask] = False
        self._clear_window(mask)

    def _clear_window(self, mask: np.ndarray) -> None:
        self.window[mask] = False
        self.since[mask] = 0
        self.countdown[mask] = -1

    def step(self, actions: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
        """Play one trial in every lane; return the rewards and the latents of that trial."""
        cfg = self.cfg
        p = self.p_reward()
        reward = (rng.random(self.lanes.size) < p[self.lanes, actions]).astype(np.float64)
        latents = {
            "correct_action": self.correct.copy(),
            "reversal": self.reversal.copy(),
            "block": self.block.copy(),
            "p_reward": p,
            "trial": self.t.copy(),
        }
        self.t += 1
        if cfg.mode == "schedule":
            flip = cfg.reverse_at[np.minimum(self.t, cfg.n_trials)]
        else:
            flip = self._criterion(actions == self.correct, rng)
        self._reverse(flip, rng)
        return reward, latents

    def _criterion(self, correct: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Record the choices' correctness; return the lanes whose contingency reverses now.

        Once ``k`` of the last ``n`` choices since the last reversal are correct, the lane waits
        ``d ~ U{low..high}`` further trials and then reverses with probability ``p_reversal`` per
        trial, so the new contingency starts ``d + 1`` trials after the criterion trial at the
        earliest.
        """
        cfg = self.cfg
        k, n = cfg.criterion
        self.window[self.lanes, self.since % n] = correct
        self.since += 1
        met = (self.countdown < 0) & (self.window.sum(axis=1) >= k)
        low, high = cfg.criterion_delay
        if high > low:
            self.countdown[met] = lane_draws(rng, met).integers(low, high + 1, size=int(met.sum()))
        else:
            self.countdown[met] = low
        due = self.countdown == 0
        if cfg.p_reversal < 1.0:
            flip = np.zeros_like(due)
            flip[due] = lane_draws(rng, due).random(int(due.sum())) < cfg.p_reversal
        else:
            flip = due
        self.countdown[self.countdown > 0] -= 1
        return flip

    def _reverse(self, flip: np.ndarray, rng: np.random.Generator) -> None:
        """Make another option correct in the lanes ``flip`` (uniformly among the others)."""
        m = int(flip.sum())
        if m:
            n = self.cfg.n_actions
            shift = 1 + (lane_draws(rng, flip).integers(0, n - 1, size=m) if n > 2 else 0)
            self.correct[flip] = (self.correct[flip] + shift) % self.cfg.n_actions
            self.block[flip] += 1
            self._clear_window(flip)
        self.reversal = flip.copy()


class ReversalLearning(TaskEnv):
    """Probabilistic reversal learning: the rewarded option switches during the session.

    ## Description
    On each trial choose one of ``n_actions`` options (2 in the classic task). The correct option
    pays 1 with probability ``p_reward`` (0.8), every other option with ``p_low`` (``1 -
    p_reward`` unless given); so feedback is misleading on some trials and a single loss is weak
    evidence of a reversal. The correct option changes (to one of the others, uniformly) either

    - ``mode="schedule"``: at fixed trials, every ``reversal_every`` trials (``t = e, 2e, ...``;
      40 by default) or at the explicit trials ``schedule`` (0-based indices of the first trial of
      each new contingency); or
    - ``mode="criterion"``: once the agent has made ``k`` correct choices among the last ``n``
      since the previous reversal (``criterion=(k, n)``, default ``(8, 10)``; ``k = n`` asks for
      ``n`` consecutive correct choices). As in typical designs (Cools et al. 2002; den Ouden et
      al. 2013), which make the reversal point less predictable, the reversal can then wait
      ``d ~ U{low..high}`` more trials (``criterion_delay``) and after that happen with
      probability ``p_reversal`` per trial. With the defaults ``(0, 0)`` and ``1`` the new
      contingency starts on the trial right after the criterion is met. Correctness counts the
      choice, not the (probabilistic) outcome, and the count restarts at every reversal.

    ## Action Space
    ``Discrete(n_actions)``: the option chosen.

    ## Observation Space
    ``Box(0, 1, (1,), float32)``, always ``[1.0]``: no stimulus; a recurrent agent learns from the
    previous action and reward (see ``PreviousActionReward``).

    ## Rewards
    1 with probability ``p_reward`` for the correct option and ``p_low`` for the others, else 0.

    ## Starting State
    The first correct option is ``options["correct_action"]``, else ``initial_correct``, else
    uniform over the options.

    ## Episode End
    One episode is one session: ``terminated`` after ``n_trials`` trials.

    ## Information
    At reset: ``correct_action``, ``p_reward`` and ``block`` of trial 0. After a step, about the
    trial just played: ``correct_action`` (the option rewarded with ``p_reward`` on it),
    ``reversal`` (True on the first trial of a new contingency, i.e. the first trial on which the
    new ``correct_action`` holds; False on trial 0), ``block`` (0-based index of the contingency
    period, +1 at each reversal), ``p_reward`` (tuple, the reward probability of every option) and
    ``trial`` (0-based).

    ## Arguments
    - ``n_actions`` (int in [2, 1000], 2): number of options (``n_options``: deprecated spelling).
    - ``n_trials`` (int in [1, 10^6], 200): trials per session.
    - ``p_reward`` (float, 0.8): reward probability of the correct option.
    - ``p_low`` (float | None): reward probability of the other options; ``None`` is ``1 - p_reward``.
    - ``mode`` ("schedule" | "criterion"): what triggers a reversal.
    - ``reversal_every`` (int | None): schedule mode, period of the reversals (default 40).
    - ``schedule`` (sequence of int | None): schedule mode, the trials that start a new contingency.
    - ``criterion`` ((int, int) | None): criterion mode, ``(k, n)`` with
      ``1 <= k <= n <= 1000`` (default ``(8, 10)``).
    - ``criterion_delay`` ((int, int), (0, 0)): criterion mode, bounds ``0 <= low <= high <=
      10^6`` of the extra uniform delay.
    - ``p_reversal`` (float in (0, 1], 1): criterion mode, per-trial reversal probability after
      the criterion and the delay.
    - ``initial_correct`` (int | None): the first correct option; ``None`` draws it.

    Bad arguments raise ``ValueError`` when the task is built; ``step`` refuses anything but an
    option index (``ValueError``) and stepping after the session ended (``SessionEndedError``).

    ## References
    - Cools, R., Clark, L., Owen, A. M. & Robbins, T. W. (2002). Defining the neural mechanisms
      of probabilistic reversal learning using event-related functional magnetic resonance
      imaging. Journal of Neuroscience 22, 4563–4567.
    - den Ouden, H. E. M., Daw, N. D., Fernandez, G., Elshout, J. A., Rijpkema, M., Hoogman, M.,
      Franke, B. & Cools, R. (2013). Dissociable effects of dopamine and serotonin on reversal
      learning. Neuron 80, 1090–1100.
    - Izquierdo, A., Brigman, J. L., Radke, A. K., Rudebeck, P. H. & Holmes, A. (2017). The neural
      basis of reversal learning: an updated perspective. Neuroscience 345, 12–26.
    """

    n_options = renamed_attribute("n_options", "n_actions")

    @renamed_arguments(n_options="n_actions")
    @named_arguments
    def __init__(
        self,
        n_actions: int = 2,
        n_trials: int = 200,
        p_reward: float = 0.8,
        p_low: float | None = None,
        mode: str = "schedule",
        reversal_every: int | None = None,
        schedule: Sequence[int] | None = None,
        criterion: tuple[int, int] | None = None,
        criterion_delay: tuple[int, int] = (0, 0),
        p_reversal: float = 1.0,
        initial_correct: int | None = None,
    ) -> None:
        self.config = _check_config(n_actions, n_trials, p_reward, p_low, mode, reversal_every,
                                    schedule, criterion, criterion_delay, p_reversal, initial_correct)
        self.n_actions, self.n_trials, self.mode = (
            self.config.n_actions, self.config.n_trials, self.config.mode)
        self.action_space = spaces.Discrete(self.n_actions)
        self.observation_space = spaces.Box(0.0, 1.0, shape=(1,), dtype=np.float32)
        self._obs = np.ones(1, dtype=np.float32)
        self._task = _Contingencies(self.config, 1)  # starts the sessions (reset)
        # the scalar state of the session, as in _Contingencies (see step)
        self._t = self._correct = self._block = self._since = 0
        self._countdown = -1
        self._reversal = False
        self._window = [False] * self.config.criterion[1]
        self._p_info: tuple[float, ...] = ()

    @property
    def correct_action(self) -> int:
        """The option that is correct on the coming trial."""
        return self._correct

    def _set_correct(self, correct: int) -> None:
        self._correct = correct
        p = [self.config.p_low] * self.n_actions
        p[correct] = self.config.p_reward
        self._p_info = tuple(p)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start a session; ``info`` holds ``correct_action``, ``p_reward`` and ``block``."""
        super().reset(seed=seed)
        with named_errors(f"{type(self).__name__}.reset"):
            self._task.reset(np.ones(1, dtype=bool), self.np_random, options)
        self._set_correct(int(self._task.correct[0]))
        self._t = self._block = 0
        self._reversal = False
        self._clear_window()
        self._done = False
        info = {"correct_action": self._correct, "p_reward": self._p_info, "block": 0}
        return self._obs.copy(), info

    def _clear_window(self) -> None:
        self._window = [False] * self.config.criterion[1]
        self._since = 0
        self._countdown = -1

    def step(self, action):
        """Choose option ``action``; ``info`` says whether the contingency then reversed.

        A scalar transcription of ``_Contingencies.step`` (numpy calls on one-lane arrays cost
        more than the task): the same random numbers, drawn in the same order.
        """
        if self._done or type(action) not in PLAIN_INTS or not 0 <= action < self.n_actions:
            action = self._checked_action(action)
        cfg = self.config
        rng = self.np_random
        correct = self._correct
        p = cfg.p_reward if action == correct else cfg.p_low
        reward = 1.0 if rng.random() < p else 0.0
        info = {"correct_action": correct, "reversal": self._reversal, "block": self._block,
                "p_reward": self._p_info, "trial": self._t}
        self._t += 1
        if cfg.mode == "schedule":
            flip = bool(cfg.reverse_at[min(self._t, cfg.n_trials)])
        else:
            flip = self._criterion(action == correct, rng)
        if flip:
            n = cfg.n_actions
            shift = 1 + (int(rng.integers(0, n - 1)) if n > 2 else 0)
            self._set_correct((correct + shift) % n)
            self._block += 1
            self._clear_window()
        self._reversal = flip
        self._done = terminated = self._t >= self.n_trials
        return self._obs.copy(), reward, terminated, False, info

    def _criterion(self, correct: bool, rng: np.random.Generator) -> bool:
        """``_Contingencies._criterion`` for one lane: whether the contingency reverses now."""
        cfg = self.config
        k, n = cfg.criterion
        self._window[self._since % n] = correct
        self._since += 1
        if self._countdown < 0 and sum(self._window) >= k:
            low, high = cfg.criterion_delay
            self._countdown = int(rng.integers(low, high + 1)) if high > low else low
        flip = due = self._countdown == 0
        if due and cfg.p_reversal < 1.0:
            flip = rng.random() < cfg.p_reversal
        if self._countdown > 0:
            self._countdown -= 1
        return flip

    def trial_row(self, action: Any, reward: float, info: dict) -> dict:
        """Return the trial's block, choice, reward, ``correct_action`` and ``reversal``."""
        return {
            "block": int(info["block"]),
            "state": 0,
            "choice": int(action),
            "reward": float(reward),
            "correct_action": int(info["correct_action"]),
            "reversal": bool(info["reversal"]),
        }


class ReversalLearningVector(TaskVectorEnv):
    """``num_envs`` copies of :class:`ReversalLearning` stepped as one array operation.

    Same arguments and semantics as the single task (see its docstring), plus ``num_envs`` and
    ``autoreset_mode``; the criterion is tracked per copy in an (num_envs, n) ring buffer.
    ``info`` holds arrays over the copies, each with its ``_key`` mask: at a reset
    ``correct_action``, ``p_reward`` (num_envs × n_actions) and ``block``; after a step also
    ``reversal`` and ``trial``. ``reset(options=...)``
    accepts ``correct_action`` (one option for every copy).
    """

    lane_streams = True

    n_options = renamed_attribute("n_options", "n_actions")

    @renamed_arguments(n_options="n_actions")
    @named_arguments
    def __init__(
        self,
        num_envs: int = 1,
        n_actions: int = 2,
        n_trials: int = 200,
        p_reward: float = 0.8,
        p_low: float | None = None,
        mode: str = "schedule",
        reversal_every: int | None = None,
        schedule: Sequence[int] | None = None,
        criterion: tuple[int, int] | None = None,
        criterion_delay: tuple[int, int] = (0, 0),
        p_reversal: float = 1.0,
        initial_correct: int | None = None,
        autoreset_mode: str = "next_step",
    ) -> None:
        self.config = _check_config(n_actions, n_trials, p_reward, p_low, mode, reversal_every,
                                    schedule, criterion, criterion_delay, p_reversal, initial_correct)
        self.n_actions, self.n_trials, self.mode = (
            self.config.n_actions, self.config.n_trials, self.config.mode)
        super().__init__(
            num_envs,
            spaces.Box(0.0, 1.0, shape=(1,), dtype=np.float32),
            spaces.Discrete(self.n_actions),
            autoreset_mode,
            lane_values=self.n_actions + self.config.criterion[1],
        )
        self._task = _Contingencies(self.config, self.num_envs)
        self._obs = np.ones((self.num_envs, 1), dtype=np.float32)

    @property
    def correct_action(self) -> np.ndarray:
        """The option that is correct on the coming trial, per copy."""
        return self._task.correct.copy()

    def _reset_lanes(self, mask: np.ndarray, options: dict | None) -> None:
        self._task.reset(mask, self._rng, options)

    def _observe(self) -> np.ndarray:
        return self._obs.copy()

    def _step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
        reward, latents = self._task.step(actions.astype(np.int64), self._rng)
        terminated = self._task.t >= self.n_trials
        return reward, terminated, self._in_every_copy(latents)

    def _reset_info(self) -> dict[str, np.ndarray]:
        """Return every copy's ``correct_action``, ``p_reward`` and ``block``, as at a single reset."""
        task = self._task
        return self._in_every_copy({"correct_action": task.correct.copy(), "p_reward": task.p_reward(),
                                    "block": task.block.copy()})

    def trial_rows(self, actions: np.ndarray, reward: np.ndarray, info: dict) -> tuple[np.ndarray, dict]:
        """Return every copy and its columns of :meth:`ReversalLearning.trial_row`.

        A trial is one step, so every copy completes one.
        """
        return self._all, {
            "block": info["block"], "state": np.zeros(self.num_envs, dtype=np.int64),
            "choice": actions, "reward": np.asarray(reward, dtype=np.float64),
            "correct_action": info["correct_action"], "reversal": info["reversal"],
        }
