"""Shared machinery of the cognitive task environments.

Every task is a session of trials. Single environments subclass :class:`TaskEnv`; the native
vectorised versions subclass :class:`TaskVectorEnv`, which steps every copy with one array
operation and implements Gymnasium's autoreset modes once for all tasks.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.error import ResetNeeded
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from cogmodels.validation import check_choice, check_int, describe, real_array

__all__ = [
    "LaneGenerators",
    "MAX_ACTIONS",
    "MAX_ENVS",
    "MAX_LANE_VALUES",
    "MAX_MAGNITUDE",
    "MAX_STEPS",
    "MAX_TRIALS",
    "PLAIN_INTS",
    "SessionEndedError",
    "TaskEnv",
    "TaskVectorEnv",
    "lane_draws",
    "named_arguments",
    "named_errors",
]

# Upper limits of the tasks' sizes, so that no argument can ask for absurd memory or time (a
# typo such as ``n_trials=10**12`` is refused when the environment is built, not when numpy
# tries to allocate terabytes). Every task documents the limits of its arguments.
#: trials in one session
MAX_TRIALS = 1_000_000
#: time steps of one period of a trial (sample, delay, inter-trial interval, ...)
MAX_STEPS = 1_000_000
#: actions, arms, options or stimuli of a task
MAX_ACTIONS = 1_000
#: copies of a native vector environment
MAX_ENVS = 100_000
#: ``num_envs`` times the values one copy holds (an n-back stream, a neural population)
MAX_LANE_VALUES = 100_000_000
#: magnitude of rewards, payoffs and their scales and spreads
MAX_MAGNITUDE = 1e6

#: the action types of the fast path of ``TaskEnv.step`` (checked by ``type(action) in``)
PLAIN_INTS = frozenset({int, np.int64, np.int32})


class SessionEndedError(ResetNeeded, RuntimeError):
    """Raised by ``step`` when no session is running.

    The last session ended, or ``reset`` was never called. A Gymnasium
    :class:`~gymnasium.error.ResetNeeded` and a ``RuntimeError``.
    """


@contextmanager
def named_errors(owner: Any) -> Iterator[None]:
    """Prefix the ``ValueError`` / ``TypeError`` raised inside with ``owner``'s class name.

    Wraps an environment's argument checks, so that ``n_trials must be ...`` reads
    ``ReversalLearning: n_trials must be ...``; nested uses name the outermost owner only.
    """
    name = owner if isinstance(owner, str) else type(owner).__name__
    try:
        yield
    except (ValueError, TypeError) as err:
        if type(err) not in (ValueError, TypeError):
            raise
        bare = getattr(err, "bare_message", str(err))
        named = type(err)(f"{name}: {bare}")
        named.bare_message = bare
        raise named from None


def named_arguments(init: Callable[..., None]) -> Callable[..., None]:
    """Decorate an environment's ``__init__`` so that its argument errors name the class.

    :func:`named_errors` is wrapped around the whole constructor.
    """

    @functools.wraps(init)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> None:
        with named_errors(self):
            init(self, *args, **kwargs)

    return wrapper


def _session_ended(env: Any, detail: str = "") -> SessionEndedError:
    detail = detail or "the last one ended, or reset() was never called"
    return SessionEndedError(
        f"{type(env).__name__}.step: no session is running ({detail}): call reset() before step()"
    )


def _allowed(space: gym.Space) -> str:
    if isinstance(space, spaces.Discrete):
        return f"an integer in [{int(space.start)}, {int(space.start + space.n - 1)}]"
    return (
        f"finite numbers of shape {space.shape} (values outside [{space.low.min():g}, "
        f"{space.high.max():g}] are clipped)"
    )


def _valid_action(space: gym.Space, action: Any) -> Any:
    """Return ``action`` as the task uses it (``int`` or float64 array), or ``None`` if invalid.

    Discrete: ``space.contains`` (Python or numpy integers, 0-d integer arrays) but not ``bool``.
    Box (continuous control): real numbers of the space's shape, finite; the task clips them.
    """
    if isinstance(space, spaces.Discrete):
        if isinstance(action, bool) or not space.contains(action):
            return None
        return int(action)
    a = real_array(action)
    if a is None or a.shape != space.shape or not np.isfinite(a).all():
        return None
    return a.astype(np.float64, copy=False)


_UNSIGNED = {size: np.dtype(f"u{size}") for size in (1, 2, 4, 8)}


def _in_range(a: np.ndarray, n: int) -> bool:
    """``0 <= a < n`` for an integer array, in one pass: seen as unsigned, negatives are huge."""
    if a.dtype.isnative:
        return bool((a.view(_UNSIGNED[a.dtype.itemsize]) < n).all())
    return bool(a.min() >= 0 and a.max() < n)


class LaneGenerators:
    """One random generator per copy of a vector environment: each copy draws from its own stream.

    A task's array code takes it in place of the shared ``np_random``. Every draw is laid out
    lanes first (``size=(k, ...)`` for the ``k`` copies drawn for, all copies or those that
    :meth:`select` picks) and copy ``i``'s share, of shape ``size[1:]``, comes from its own
    generator with the call the single task makes (``random()``, ``integers(low, high)``,
    ``uniform(low, high, shape)``, ``standard_normal(shape)``). So a vector environment whose
    copies are seeded with ``[s_0, s_1, ...]`` (``reset(seed=[...])``) draws what the single
    environments seeded with ``s_i`` draw, whatever the other copies do: Gymnasium's
    ``SyncVectorEnv`` with ``reset(seed=[...])``.

    Parameters
    ----------
    generators : list of numpy.random.Generator
        One per copy drawn for, in lane order (shared with the object they were selected from).
    """

    __slots__ = ("generators",)

    def __init__(self, generators: list[np.random.Generator]) -> None:
        self.generators = generators

    def select(self, mask: np.ndarray) -> LaneGenerators:
        """Return the generators of the copies where the bool array ``mask`` is True."""
        gens = self.generators
        return LaneGenerators([gens[i] for i in np.flatnonzero(mask).tolist()])

    @contextmanager
    def muted(self, mask: np.ndarray) -> Iterator[None]:
        """Draw for the copies ``mask`` from a scratch generator inside, leaving their streams alone.

        For the step of a ``"next_step"`` vector env whose results are discarded in the copies it
        resets: ``SyncVectorEnv`` does not step those copies, it resets them.
        """
        lanes = np.flatnonzero(mask).tolist()
        kept = [self.generators[i] for i in lanes]
        scratch = np.random.default_rng(0)
        for i in lanes:
            self.generators[i] = scratch
        try:
            yield
        finally:
            for i, g in zip(lanes, kept):
                self.generators[i] = g

    def _shape(self, size: int | tuple[int, ...] | None) -> tuple[int, ...]:
        size = (size,) if isinstance(size, int | np.integer) else tuple(size or ())
        if not size or size[0] != len(self.generators):
            raise ValueError(f"LaneGenerators: size must start with the {len(self.generators)} copies "
                             f"drawn for (lanes first), got {size!r}")
        return size[1:]

    def _draw(self, size: Any, dtype: type, draw: Callable[[np.random.Generator, Any], Any]) -> np.ndarray:
        one = self._shape(size)
        gens = self.generators
        if not one:
            return np.fromiter((draw(g, None) for g in gens), dtype=dtype, count=len(gens))
        if not gens:
            return np.empty((0, *one), dtype=dtype)
        return np.stack([draw(g, one) for g in gens])

    def random(self, size: int | tuple[int, ...]) -> np.ndarray:
        """Draw uniform floats in [0, 1): ``Generator.random`` of each copy."""
        return self._draw(size, np.float64, lambda g, one: g.random(one))

    def integers(self, low: int, high: int | None = None, size: int | tuple[int, ...] | None = None) -> np.ndarray:
        """Draw integers in ``[low, high)`` (``[0, low)`` without ``high``): ``Generator.integers``."""
        return self._draw(size, np.int64, lambda g, one: g.integers(low, high, one))

    def uniform(self, low: float, high: float, size: int | tuple[int, ...]) -> np.ndarray:
        """Draw uniform floats in ``[low, high)``: ``Generator.uniform`` of each copy."""
        return self._draw(size, np.float64, lambda g, one: g.uniform(low, high, one))

    def standard_normal(self, size: int | tuple[int, ...]) -> np.ndarray:
        """Draw standard normal floats: ``Generator.standard_normal`` of each copy."""
        return self._draw(size, np.float64, lambda g, one: g.standard_normal(one))


def lane_draws(rng: np.random.Generator | LaneGenerators, mask: np.ndarray) -> Any:
    """Return what draws for the copies ``mask``: ``rng`` itself if shared, else their generators.

    A shared ``Generator`` draws ``size=(mask.sum(), ...)`` numbers in one call, as before; a
    :class:`LaneGenerators` draws each copy's share from its own stream.
    """
    return rng.select(mask) if isinstance(rng, LaneGenerators) else rng


class TaskEnv(gym.Env):
    """Base class of the single cognitive-task environments.

    Subclasses follow Gymnasium's conventions (randomness only through ``self.np_random``; static
    configuration in the constructor, per-episode changes through ``reset(options=...)``) and add
    one method, :meth:`trial_row`, which :class:`cogmodels.envs.wrappers.RecordTrials` uses to
    write a session as the canonical trial table.

    Every ``step`` refuses what is not an element of the action space (``ValueError`` naming the
    task, the action and the space; a ``bool`` is not a discrete action, and continuous actions
    outside the bounds are clipped) and stepping when no session runs
    (:class:`SessionEndedError`). ``step`` keeps that cheap with a fast path::

        if self._done or type(action) not in PLAIN_INTS or not 0 <= action < self.n_actions:
            action = self._checked_action(action)  # raises, or returns a valid action as an int

    ``_done`` is True until ``reset`` and from the step that ends the session on; ``reset`` sets it
    to False and ``step`` to its ``terminated``.
    """

    #: True when no session is running (before the first reset and once a session has ended)
    _done: bool = True

    metadata: dict[str, Any] = {"render_modes": []}
    #: the range of the reward (used to bound observations that carry it, e.g. meta-RL inputs)
    reward_bounds: tuple[float, float] = (-np.inf, np.inf)
    #: whether every session has exactly ``n_trials`` trials (else ``n_trials`` is the maximum)
    fixed_length: bool = True
    #: environment steps per trial (``None`` when it varies from trial to trial)
    steps_per_trial: int | None = 1

    @property
    def steps_per_session(self) -> int | None:
        """Environment steps in one session, or ``None`` when sessions differ in length."""
        n_trials = getattr(self, "n_trials", None)
        if not self.fixed_length or self.steps_per_trial is None or n_trials is None:
            return None
        return int(n_trials) * int(self.steps_per_trial)

    def trial_row(self, action: Any, reward: float, info: Mapping[str, Any]) -> dict | None:
        """Return the trial-table fields of the trial this step completed, else ``None``.

        Called right after :meth:`step` with its action, reward and info. The row holds
        ``state``, ``choice``, ``reward`` and the task's own columns and latents; the recorder adds
        ``subject``, ``session`` and ``trial``.
        """
        raise NotImplementedError(f"{type(self).__name__} does not define trial_row()")

    def trial_context(self) -> dict[str, Any]:
        """Trial-table fields known before the choice of the upcoming trial.

        For example ``state`` (the stimulus), ``set_size`` or ``block``. A cognitive model reads
        its ``observation_columns`` from here when it is simulated in the task, and from the same
        columns of a trial table when it is fitted. Tasks without a stimulus return ``{}``.
        """
        return {}

    def _checked_action(self, action: Any) -> Any:
        """Return ``action`` as the task uses it, or raise: the slow path of ``step``'s checks.

        Raises unless a session runs and ``action`` is an element of the action space; returns an
        ``int``, or a float64 array for continuous actions.
        """
        if self._done:
            raise _session_ended(self)
        valid = _valid_action(self.action_space, action)
        if valid is None:
            raise ValueError(
                f"{type(self).__name__}.step: action must be {_allowed(self.action_space)} "
                f"(action_space {self.action_space}), got {describe(action)}"
            )
        return valid


class TaskVectorEnv(VectorEnv):
    """Base class of the native vectorised tasks: every copy stepped by one array operation.

    Subclasses hold the state of all copies as arrays with a leading ``num_envs`` axis and
    implement three methods:

    - ``_reset_lanes(mask, options)``: start a new session in the copies where ``mask`` is True,
      drawing from ``self.np_random``;
    - ``_observe()``: the batch of current observations;
    - ``_step(actions)``: advance every copy one step, return ``(reward, terminated, info)``;
    - optionally ``trial_rows(actions, reward, info) -> (mask, fields)``: the copies that completed
      a trial on the step just played and the trial-table fields of that step (one array per
      column, over all copies), the vector form of :meth:`TaskEnv.trial_row` that
      :func:`cogmodels.rollout.rollout` records;
    - optionally ``_reset_info()``: the ``info`` of a reset (default empty), which ``reset``
      returns; a ``"next_step"`` step that resets every copy returns it, and one that resets some
      copies returns it in those copies (the step's info in the others), as ``SyncVectorEnv``;
      so does a ``"same_step"`` step in the copies whose session it ended, the step's own info
      of those copies then in ``info["final_info"]`` (each entry with its ``_key`` mask, and
      ``info["_final_info"]``) beside ``info["final_obs"]``; a ``reset`` with a ``reset_mask``
      returns it with its ``_key`` masks False in the copies not reset (which hold their current
      values there; ``SyncVectorEnv`` leaves 0). Under ``"next_step"`` autoreset, copies that finished on the previous step are stepped too
      and then reset, their results discarded, so ``_step`` must tolerate a copy past its last
      trial (clip indices rather than fail).

    Randomness goes through ``self._rng``: the shared ``np_random``, or, for tasks that declare
    ``lane_streams = True`` (every draw laid out lanes first, masked draws through
    :func:`lane_draws`), one generator per copy after ``reset(seed=[s_0, s_1, ...])``.

    The base class handles seeding, the checks of the actions (``ValueError`` naming the task,
    the actions and the space: integers of shape ``(num_envs,)`` in range for a discrete space,
    finite real numbers of shape ``(num_envs, *shape)`` for a continuous one) and the autoreset
    mode: ``"next_step"`` (Gymnasium's default) or ``"same_step"``, so the semantics match
    ``SyncVectorEnv`` of the single task; or ``"disabled"``, where stepping after a copy's session
    ended raises :class:`SessionEndedError` until ``reset()`` or
    ``reset(options={"reset_mask": mask})`` (a bool array, the copies to reset) starts it anew.
    ``reset(seed=int)`` seeds one generator that all copies share: the same seed gives the same
    rollout. Tasks with ``lane_streams`` also take ``reset(seed=[s_0, ..., s_{n-1}])`` (an int
    ``>= 0`` or None per copy, as ``SyncVectorEnv``): copy ``i`` then draws from its own generator,
    seeded as the single task's ``reset(seed=s_i)``, so the copies reproduce the single
    environments seeded with ``s_i``, step for step in every autoreset mode (the discarded step of
    a copy that ``"next_step"`` resets draws from a scratch generator, not from its stream); later
    resets without a seed go on with the copies' streams, and ``reset(seed=int)`` returns to one
    shared generator. ``num_envs`` is at most ``MAX_ENVS`` (10^5), and ``num_envs`` times the values one copy
    holds (an n-back stream, a neural population) at most ``MAX_LANE_VALUES`` (10^8).
    """

    #: every draw is laid out lanes first, so each copy may draw from its own generator
    lane_streams: bool = False

    _AUTORESET = {
        "next_step": AutoresetMode.NEXT_STEP,
        "same_step": AutoresetMode.SAME_STEP,
        "disabled": AutoresetMode.DISABLED,
    }

    def __init__(
        self,
        num_envs: int,
        single_observation_space: gym.Space,
        single_action_space: gym.Space,
        autoreset_mode: str = "next_step",
        lane_values: int = 1,
    ) -> None:
        """Check ``num_envs`` and ``autoreset_mode`` and build the batched spaces.

        ``lane_values``: how many values one copy holds at most (e.g. its n-back stream), so that
        ``num_envs * lane_values <= MAX_LANE_VALUES`` keeps the copies' memory sane.
        """
        self.num_envs = check_int("num_envs", num_envs, 1, MAX_ENVS)
        if self.num_envs * lane_values > MAX_LANE_VALUES:
            raise ValueError(
                f"num_envs must be at most {MAX_LANE_VALUES // lane_values} here (num_envs times "
                f"the {lane_values} values each copy holds must be <= {MAX_LANE_VALUES}), got "
                f"{num_envs!r}"
            )
        check_choice("autoreset_mode", autoreset_mode, tuple(self._AUTORESET))
        self.metadata = {"render_modes": [], "autoreset_mode": self._AUTORESET[autoreset_mode]}
        self._autoreset = autoreset_mode
        self.single_observation_space = single_observation_space
        self.single_action_space = single_action_space
        self.observation_space = batch_space(single_observation_space, self.num_envs)
        self.action_space = batch_space(single_action_space, self.num_envs)
        self._discrete = isinstance(single_action_space, spaces.Discrete)
        self._n_actions = int(single_action_space.n) if self._discrete else 0
        self._action_shape = (self.num_envs, *single_action_space.shape)
        self._started = False
        self._needs_reset = np.zeros(self.num_envs, dtype=bool)
        self._all = np.ones(self.num_envs, dtype=bool)
        self._false = np.zeros(self.num_envs, dtype=bool)
        self._lanes_rng: LaneGenerators | None = None  # one generator per copy (reset(seed=[...]))

    # -- to implement -------------------------------------------------------------------------
    def _reset_lanes(self, mask: np.ndarray, options: dict | None) -> None:
        raise NotImplementedError

    def _observe(self) -> np.ndarray:
        raise NotImplementedError

    def _step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
        raise NotImplementedError

    def _reset_info(self) -> dict[str, Any]:
        """Return the ``info`` of a reset: arrays over the copies, each with its ``_key`` mask.

        ``reset`` returns it, and so does a ``"next_step"`` step in the copies it resets
        (Gymnasium's ``SyncVectorEnv`` returns the reset info of each copy it resets). Empty
        unless a task overrides it.
        """
        return {}

    def _in_every_copy(self, entries: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Return ``entries`` (one array over the copies each) with an all-True ``_key`` mask each."""
        info: dict[str, np.ndarray] = {}
        for key, value in entries.items():
            info[key], info[f"_{key}"] = value, self._all.copy()
        return info

    def _masked_info(self, info: dict[str, Any], keep: np.ndarray) -> dict[str, Any]:
        """Return ``info`` with its per-copy entries only where ``keep`` (copies, never views).

        Elsewhere an entry is 0 (``None`` for objects) and its ``_key`` mask False, as
        ``VectorEnv._add_info`` leaves the copies that did not report it.
        """
        out: dict[str, Any] = {}
        for key, value in info.items():
            if key.startswith("_") and key[1:] in info:
                continue  # a mask: written with its entry
            if isinstance(value, np.ndarray) and value.shape[:1] == (self.num_envs,):
                value = value.copy()
                value[~keep] = None if value.dtype == object else 0
                has = info.get(f"_{key}")
                out[key], out[f"_{key}"] = value, keep.copy() if has is None else has & keep
            else:
                out[key] = value
        return out

    def _with_reset_info(self, info: dict[str, Any], mask: np.ndarray) -> dict[str, Any]:
        """Return the ``info`` of a step (or a partial reset) that reset the copies in ``mask``.

        As Gymnasium's ``SyncVectorEnv`` (``VectorEnv._add_info``): the reset copies hold their
        reset's info, not the step's (discarded under ``"next_step"``, in ``final_info`` under
        ``"same_step"``). An entry of the step's only is 0 (``None`` for objects) with its
        ``_key`` False there; an entry of the reset holds the reset's values with its ``_key``
        True there. The step's arrays are copied, never written into. Call it after the reset.
        """
        out = self._masked_info(info, ~mask)
        reset = self._reset_info()
        for key, value in reset.items():
            if key.startswith("_") and key[1:] in reset:
                continue
            value = np.asarray(value)
            merged = out.get(key)
            if not (isinstance(merged, np.ndarray) and merged.shape == value.shape):
                merged = np.zeros_like(value)
            merged[mask] = value[mask]
            has = np.asarray(reset.get(f"_{key}", self._all), dtype=bool)
            out[key] = merged
            out[f"_{key}"] = out.get(f"_{key}", self._false) | (has & mask)
        return out

    @property
    def _rng(self) -> np.random.Generator | LaneGenerators:
        """What the copies draw from: their own generators (``reset(seed=[...])``) or ``np_random``."""
        return self._lanes_rng if self._lanes_rng is not None else self.np_random

    def _seed_lanes(self, seeds: Any, mask: np.ndarray) -> None:
        """Give the copies ``mask`` their own generators, seeded with ``seeds[i]`` (a list)."""
        name = type(self).__name__
        if not self.lane_streams:
            raise ValueError(f"{name}.reset: seed must be an int >= 0 or None (this task's copies share "
                             f"one generator), got {describe(seeds)}")
        if len(seeds) != self.num_envs or not all(
                s is None or (isinstance(s, int | np.integer) and not isinstance(s, bool) and s >= 0)
                for s in seeds):
            raise ValueError(f"{name}.reset: seed must be an int >= 0, None or a list of {self.num_envs} "
                             f"of them (one per copy), got {describe(seeds)}")
        if self._lanes_rng is None:
            if not mask.all():
                raise ValueError(f'{name}.reset: a list of seeds with options["reset_mask"] needs '
                                 "per-copy generators already: reset every copy with a list of seeds first")
            self._lanes_rng = LaneGenerators([None] * self.num_envs)
        gens = self._lanes_rng.generators
        for i in np.flatnonzero(mask).tolist():
            gens[i] = seeding.np_random(None if seeds[i] is None else int(seeds[i]))[0]

    def trial_context(self) -> dict[str, np.ndarray]:
        """Trial-table fields known before the upcoming choice, one ``(num_envs,)`` array each.

        The vector form of :meth:`TaskEnv.trial_context` (e.g. the two-step task's ``state2``
        before a second-stage choice); a field that a copy's single task would not report is 0
        there. Tasks without a stimulus return ``{}``.
        """
        return {}

    # -- checks --------------------------------------------------------------------------------
    def _checked_actions(self, actions: Any) -> np.ndarray:
        """``actions`` as an array the task can index with, or ``ValueError``."""
        a = actions if type(actions) is np.ndarray else real_array(actions)
        if a is not None and a.shape == self._action_shape:
            if self._discrete:
                if a.dtype.kind in "iu" and _in_range(a, self._n_actions):
                    return a
            elif a.dtype.kind in "iuf" and np.isfinite(a).all():
                return a.astype(np.float64, copy=False)
        got = describe(actions)
        if isinstance(a, np.ndarray):
            got += f" (shape {a.shape}, dtype {a.dtype})"
        raise ValueError(
            f"{type(self).__name__}.step: actions must be an array of shape {self._action_shape}, "
            f"one action per copy (num_envs={self.num_envs}), each {_allowed(self.single_action_space)} "
            f"(single_action_space {self.single_action_space}), got {got}"
        )

    def _reset_mask(self, options: dict | None) -> tuple[np.ndarray, dict | None]:
        """Return the copies to reset (``options["reset_mask"]``, else all), other options."""
        if not options or "reset_mask" not in options:
            return self._all, options
        options = dict(options)
        mask = options.pop("reset_mask")
        if not (
            isinstance(mask, np.ndarray) and mask.dtype == np.bool_
            and mask.shape == (self.num_envs,) and mask.any()
        ):
            raise ValueError(
                f'{type(self).__name__}.reset: options["reset_mask"] must be a bool array of shape '
                f"({self.num_envs},) with at least one True, got {describe(mask)}"
            )
        return mask, options

    # -- Gymnasium API -------------------------------------------------------------------------
    def reset(self, *, seed: int | list[int | None] | None = None, options: dict | None = None):
        """Start new sessions in all copies, or in those of ``options["reset_mask"]``.

        ``seed``: an int seeds the generator all copies share; a list (tasks with
        ``lane_streams``) seeds one generator per copy, as the single task's ``reset(seed=s_i)``.
        """
        mask, options = self._reset_mask(options)
        if isinstance(seed, list | tuple):
            self._seed_lanes(seed, mask)
        elif seed is not None:
            super().reset(seed=seed)
            self._lanes_rng = None
        with named_errors(f"{type(self).__name__}.reset"):
            self._reset_lanes(mask, options)
        self._needs_reset[mask] = False
        self._started = True
        info = self._reset_info()
        if not mask.all():  # SyncVectorEnv reports the reset copies only: the others' masks False
            for key in [k for k in info if f"_{k}" in info]:
                info[f"_{key}"] = info[f"_{key}"] & mask
        return self._observe(), info

    def step(self, actions):
        """Step every copy with its action; finished copies reset per ``autoreset_mode``."""
        if not self._started:
            raise _session_ended(self, "reset() was never called")
        actions = self._checked_actions(actions)
        if self._autoreset == "next_step" and self._needs_reset.any():
            mask = self._needs_reset.copy()
            if mask.all():  # no copy plays this step: the info is the reset's, as in SyncVectorEnv
                self._reset_lanes(mask, None)
                self._needs_reset[:] = False
                return (
                    self._observe(),
                    np.zeros(self.num_envs, dtype=np.float64),
                    self._false.copy(),
                    self._false.copy(),
                    self._reset_info(),
                )
            if self._lanes_rng is None:
                reward, terminated, info = self._step(actions)
            else:  # the reset copies' results are discarded: their streams do not move
                with self._lanes_rng.muted(mask):
                    reward, terminated, info = self._step(actions)
            self._reset_lanes(mask, None)
            reward = np.where(mask, 0.0, reward)
            terminated = terminated & ~mask
            obs = self._observe()
            info = self._with_reset_info(info, mask)
        elif self._autoreset == "disabled" and self._needs_reset.any():
            ended = np.flatnonzero(self._needs_reset).tolist()
            raise _session_ended(
                self, f"the sessions of copies {describe(ended)} ended and autoreset_mode="
                "'disabled'; reset them with reset(options={'reset_mask': mask}) or reset()"
            )
        else:
            reward, terminated, info = self._step(actions)
            obs = self._observe()
        truncated = self._false.copy()
        if self._autoreset == "next_step":
            self._needs_reset[:] = terminated
        elif self._autoreset == "disabled":
            self._needs_reset |= terminated
        elif terminated.any():  # same_step: as SyncVectorEnv, the step's info in final_info
            final = self._masked_info(info, terminated)
            self._reset_lanes(terminated, None)
            info = self._with_reset_info(info, terminated)
            info.update(final_obs=obs.copy(), _final_obs=terminated.copy(), final_info=final,
                        _final_info=terminated.copy())
            obs = self._observe()
        return obs, reward, terminated, truncated, info
