"""One loop that drives any agent in any cognitive task and returns the trial table.

:func:`rollout` plays an :class:`~cogmodels.agent.Agent` in single environments (one per lane,
each recorded by :class:`~cogmodels.envs.wrappers.RecordTrials`) or in a native vector environment
(one copy per lane), until each lane has played one session, ``n_trials`` trials, ``n_steps``
steps or ``seconds`` of task time, and returns the canonical trial table (``subject``,
``session``, ``trial``, ``choice``, ``reward`` and the task's own columns) with the agent's
``trial_columns(state)`` appended. ``record="steps"`` returns one row per environment step
instead (``subject``, ``session``, ``step``, ``trial``, ``time``, ``action``, ``reward``, the
step's scalar ``info`` entries), for step-level tasks and learners such as TD(λ) (Pavlovian
conditioning, continuous control); it plays any Gymnasium environment, not only cogmodels tasks,
and native vector environments (the BCI cursor's included).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import pandas as pd
from gymnasium import spaces
from gymnasium.envs.registration import load_env_creator
from gymnasium.vector import AutoresetMode

from cogmodels.agent import Agent, Transition
from cogmodels.envs.core import MAX_ENVS, TaskEnv, TaskVectorEnv
from cogmodels.envs.wrappers import RecordTrials, trial_table
from cogmodels.progress import progress_bar
from cogmodels.trials import validate_trials
from cogmodels.validation import (
    check_bool,
    check_choice,
    check_int,
    check_number,
    describe,
    int_seed,
    seed_sequence,
)

__all__ = ["RECORDS", "STEP_COLUMNS", "bin_width", "rollout", "seed_sequence"]

#: what a row of the returned table is: a completed trial, or an environment step
RECORDS = ("trials", "steps")
#: the leading columns of a step table (``record="steps"``); ``time`` only for tasks with a ``dt``
STEP_COLUMNS = ("subject", "session", "step", "trial", "time", "action", "reward", "terminated",
                "truncated")


def rollout(
    agent: Agent,
    env: str | gym.Env | Sequence[gym.Env] | TaskVectorEnv,
    *,
    n_trials: int | None = None,
    n_steps: int | None = None,
    seconds: float | None = None,
    seed: int | np.random.SeedSequence | np.random.Generator | None = None,
    n_subjects: int | None = None,
    subjects: Sequence[Hashable] | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
    progress: bool = False,
    description: str | None = None,
    record: str | None = "trials",
    options: Mapping[str, Any] | None = None,
    reseed: bool = True,
    env_seed: int | None = None,
    vectorize: bool = False,
) -> pd.DataFrame | None:
    """Play ``agent`` in ``env`` and return the canonical trial table, one subject per lane.

    Each step the agent acts on every lane (``agent.act(observation, state, rng)``), every lane
    still playing is stepped, and a learner sees the outcome (``agent.learn(transition)``, where
    ``transition.trial_end`` says which lanes completed a trial). A lane whose session ends before
    its budget is spent starts a new session (``session`` + 1); the observation that ended the
    old session is then in ``transition.info[lane]["final_obs"]`` (single environments), as in
    Gymnasium's vector environments.

    A native vector environment restarts a lane as its ``autoreset_mode`` metadata says
    (Gymnasium 1.x, :class:`gymnasium.vector.AutoresetMode`). ``SAME_STEP``: the step that ends a
    session returns the next session's first observation. ``NEXT_STEP``: the step that ends it
    returns its last observation and the following step resets the lane, ignoring its action;
    that reset step is no agent step of the lane (``transition.stepped`` is False there and
    ``transition.autoreset`` True, its reward 0, no row, no trial; where every copy resets the
    agent does not act, unless its ``acts_on_autoreset`` attribute is True), but it is a step of
    the environment's clock, so it counts in an ``n_steps`` / ``seconds`` budget, which every copy
    of a vector environment spends together.

    Parameters
    ----------
    agent : Agent
        Anything with ``initial_state(n_lanes)`` and ``act(observation, state, rng)``; optionally
        ``learn(transition)``, ``trial_columns(state)`` and ``observation_columns``.
    env : str, gymnasium.Env, sequence of gymnasium.Env or TaskVectorEnv
        A registered id (``n_subjects`` single environments built with ``env_kwargs``), one
        cogmodels task environment (one lane), several (one lane each), or a native vector
        environment (one lane per copy; or a wrapper or proxy of one, whose ``unwrapped`` is
        it), ``autoreset_mode`` ``"same_step"`` or ``"next_step"``,
        of a task whose vector class records trials (``trial_rows``: the bandit, reversal
        learning and the two-step task).
    n_trials, n_steps, seconds : int, int, float, optional
        The budget of each lane, at most one of them: trials completed, environment steps, or
        seconds of task time (``steps = round(seconds / dt)``, for tasks with a bin width ``dt``).
        None of them: one session per lane.
    seed : int, SeedSequence, Generator or None
        ``SeedSequence(seed).spawn(lanes + 1)``: the first child seeds the agent's generator, the
        others the lanes' environments (a vector environment is seeded by the second), unless
        ``env_seed`` is given.
    n_subjects : int, optional
        Lanes when ``env`` is an id (default 1); else it must match the number of environments.
    subjects : sequence of hashable, optional
        The ``subject`` of each lane (default ``0 .. lanes - 1``).
    env_kwargs : Mapping, optional
        Arguments of the environment when ``env`` is an id.
    progress : bool
        Draw a bar of the steps played (on a terminal only).
    description : str, optional
        The bar's label (default ``"rollout <agent name>"``).
    record : {"trials", "steps"} or None
        ``"trials"``: one row per completed trial (the canonical trial table). ``"steps"``: one
        row per environment step of each lane, in single environments (any
        :class:`gymnasium.Env`; a step of an environment that is not a cogmodels task completes
        one trial) or in a native vector environment whose trials end where its ``trial_rows``
        or its ``info["trial_completed"]`` say (the bandit, reversal learning, the two-step
        task, the BCI cursor; an ``info`` entry of a vector environment is a column where it has
        one number per lane, missing where its ``_key`` mask is False): ``subject``,
        ``session``, ``step`` and ``trial`` (0-based within the
        session; ``trial`` counts the trials completed before the step), ``time`` (the step's
        start in seconds, ``step * dt``, for tasks with a bin width ``dt``), ``action`` (or
        ``action_0 ...`` for vector actions), ``reward``, ``terminated``, ``truncated``, then the
        step's scalar ``info`` entries (prefixed ``info_`` where a name is taken) and the
        agent's ``trial_columns(state)``, which it then reports after every step. None: no table
        (the agent keeps what it needs, e.g.
        :class:`~cogmodels.agents.decoders.closed_loop.ClosedLoopAgent` its trials); trials are
        counted as for ``"steps"``.
    options : Mapping, optional
        The options of the environments' first reset (e.g. ``{"day": 3}`` for the BCI cursor).
    reseed : bool, default True
        Seed the environments from ``seed`` at their first reset. False: reset them without a
        seed, so they go on with their own random streams (the BCI cursor keeps its subjects: a
        session that follows another); ``seed`` then seeds the agent only.
    env_seed : int, optional
        The seed of the environments' first reset, in place of the one drawn from ``seed``
        (which then seeds the agent only): a vector environment's ``reset(seed=env_seed)``; lane
        ``i`` of single environments ``env_seed + i``, as Gymnasium's vector environments seed
        their copies. Not with ``reseed=False``.
    vectorize : bool, default False
        With ``env`` an id and ``record="trials"``: play the lanes as the copies of the task's
        native vector environment where it has one that records trials (the bandit, reversal
        learning, the two-step task; ``same_step`` autoreset), each copy drawing from its own
        generator seeded as the single environment of its lane
        (:class:`~cogmodels.envs.core.LaneGenerators`), so the table is the one the single
        environments give, byte for byte, in one array step per step of all lanes. Other tasks
        play in single environments. :func:`cogmodels.simulate.simulate` sets it.

    Returns
    -------
    pandas.DataFrame or None
        The trial table, validated (:func:`cogmodels.trials.validate_trials`), or the step table
        (``record="steps"``); rows ordered by subject then time, with the agent's columns
        appended.
    """
    if not (callable(getattr(agent, "act", None)) and callable(getattr(agent, "initial_state", None))):
        raise TypeError(
            "agent must be an Agent with initial_state(n_lanes) and act(observation, state, rng) "
            f"(e.g. model.as_agent(params)), got {type(agent).__name__}"
        )
    progress = check_bool("progress", progress)
    keep = record is not None  # build a table
    steps = not keep or check_choice("record", record, RECORDS) == "steps"
    name = getattr(agent, "name", type(agent).__name__)
    vectorize = check_bool("vectorize", vectorize)
    lane_seeds = False  # a vector env whose copies draw from the lanes' seeds
    if vectorize and not steps and isinstance(env, str):
        copies = _lane_vector(env, n_subjects, env_kwargs)
        if copies is not None:
            env, env_kwargs, lane_seeds = copies, None, True
    envs, vector, lanes = _environments(env, n_subjects, env_kwargs, any_env=steps)
    subjects = _subjects(subjects, lanes)
    budget = _budget(n_trials, n_steps, seconds, envs[0] if vector is None else vector)
    action_space = vector.single_action_space if vector is not None else envs[0].action_space
    n_agent = getattr(agent, "n_actions", None)
    if isinstance(action_space, spaces.Discrete) and n_agent is not None and n_agent != action_space.n:
        raise ValueError(
            f"agent {name!r} has n_actions={n_agent} but the "
            f"environment has {int(action_space.n)} actions"
        )
    # children by index: the agent's and the first lane's seeds are the same for both kinds of env
    seeds = seed_sequence(seed).spawn(2 if vector is not None and not lane_seeds else lanes + 1)
    rng = np.random.default_rng(seeds[0])
    if options is not None and not isinstance(options, Mapping):
        raise TypeError(f"options must be a mapping of reset options or None, got {describe(options)}")
    reset = {"options": None if options is None else dict(options),
             "reseed": check_bool("reseed", reseed), "env_seed": _env_seed(env_seed, reseed)}
    bar = progress_bar(progress, unit="step", desc=description or f"rollout {name}")
    if vector is not None:
        table, columns = _vector_loop(agent, vector, lanes, budget, seeds[1:] if lane_seeds else seeds[1],
                                      rng, subjects, bar, steps, reset, keep)
    else:
        table, columns = _single_loop(agent, envs, budget, seeds[1:], rng, subjects, bar, steps, reset,
                                      keep)
    bar.close()
    if not keep:
        return None
    if steps:
        return _attach_columns(table, columns, lanes)
    n_actions = int(action_space.n) if isinstance(action_space, spaces.Discrete) else None
    table = validate_trials(table, n_actions=n_actions, source=f"rollout({name!r})")
    return _attach_columns(table, columns, lanes)


# -- arguments ----------------------------------------------------------------------------------

def _environments(env: Any, n_subjects: int | None, env_kwargs: Mapping[str, Any] | None,
                  any_env: bool = False):
    """``(single envs, vector env or None, lanes)``; ``any_env``: not only cogmodels tasks."""
    if env_kwargs is not None and not isinstance(env_kwargs, Mapping):
        raise TypeError(f"env_kwargs must be a mapping of environment arguments or None, got {env_kwargs!r}")
    if n_subjects is not None:
        n_subjects = check_int("n_subjects", n_subjects, minimum=1)
    if isinstance(env, str):
        if env not in gym.registry:
            raise ValueError(f"env must be a registered environment id, got {env!r}")
        lanes = n_subjects or 1
        # the bare task: its own step checks the order of calls and the actions, so the
        # order-enforcing and checking wrappers of gym.make would only add overhead
        return [gym.make(env, **dict(env_kwargs or {})).unwrapped for _ in range(lanes)], None, lanes
    if env_kwargs:
        raise ValueError(f"env_kwargs applies only when env is an id, got env={describe(env)}")
    if isinstance(env, gym.vector.VectorEnv) or isinstance(getattr(env, "unwrapped", None), TaskVectorEnv):
        # a vector env, or a proxy of one (reset / step / num_envs / metadata passed through)
        if not isinstance(env.unwrapped, TaskVectorEnv):
            raise TypeError(f"env must be a cogmodels native vector environment, got {type(env).__name__}")
        lanes = env.num_envs
        envs: list[gym.Env] = []
        vector = env
    else:
        envs = [env] if isinstance(env, gym.Env) else list(env) if isinstance(env, Sequence) else []
        if not envs or not all(isinstance(e, gym.Env) and (any_env or isinstance(e.unwrapped, TaskEnv))
                               for e in envs):
            kind = "a gymnasium environment" if any_env else "a cogmodels task environment"
            raise TypeError(
                f"env must be a registered id, {kind}, a sequence of them or a "
                f"native vector environment, got {describe(env)}"
            )
        lanes, vector = len(envs), None
    if n_subjects is not None and n_subjects != lanes:
        raise ValueError(f"n_subjects must match the {lanes} environment copies given, got {n_subjects}")
    return envs, vector, lanes


def _lane_vector(env_id: str, n_subjects: int | None, env_kwargs: Mapping[str, Any] | None) -> TaskVectorEnv | None:
    """Return the task's native vector env of one copy per lane, each with its own stream, or None.

    None where the task has no native vector class that records trials (``trial_rows``) with
    per-copy generators (``lane_streams``), or for more lanes than a vector env holds.
    """
    if env_id not in gym.registry:
        return None  # _environments names the id
    entry = gym.registry[env_id].vector_entry_point
    cls = load_env_creator(entry) if isinstance(entry, str) else entry
    if not (isinstance(cls, type) and issubclass(cls, TaskVectorEnv) and cls.lane_streams
            and callable(getattr(cls, "trial_rows", None))):
        return None
    if env_kwargs is not None and not isinstance(env_kwargs, Mapping):
        return None  # _environments names it
    lanes = 1 if n_subjects is None else check_int("n_subjects", n_subjects, minimum=1)
    kwargs = dict(env_kwargs or {})
    if lanes > MAX_ENVS or {"num_envs", "autoreset_mode"} & set(kwargs):
        return None  # the single envs' gym.make names what is wrong with the arguments
    try:
        return cls(num_envs=lanes, autoreset_mode="same_step", **kwargs)
    except TypeError:
        return None  # an argument the vector class does not take: gym.make says so, naming the id


def _env_seed(env_seed: Any, reseed: bool) -> int | None:
    if env_seed is None:
        return None
    if not reseed:
        raise ValueError(f"env_seed seeds the first reset: give it with reseed=True, got "
                         f"env_seed={env_seed!r} and reseed=False")
    return check_int("env_seed", env_seed, minimum=0)


def _reset_seed(reset: Mapping[str, Any] | None, seed: np.random.SeedSequence, lane: int) -> int | None:
    """Return the seed of lane ``lane``'s first reset: ``env_seed + lane``, else from ``seed``."""
    reset = reset or {}
    if not reset.get("reseed", True):
        return None
    env_seed = reset.get("env_seed")
    return int_seed(seed) if env_seed is None else env_seed + lane


def _subjects(subjects: Sequence[Hashable] | None, lanes: int) -> list[Hashable]:
    if subjects is None:
        return list(range(lanes))
    subjects = list(subjects)
    if len(subjects) != lanes or len(set(subjects)) != lanes:
        raise ValueError(f"subjects must be {lanes} distinct ids, one per lane, got {describe(subjects)}")
    return subjects


def _budget(n_trials: Any, n_steps: Any, seconds: Any, env: Any) -> tuple[str, int]:
    given = {k: v for k, v in (("n_trials", n_trials), ("n_steps", n_steps), ("seconds", seconds))
             if v is not None}
    if len(given) > 1:
        raise ValueError(f"give at most one of n_trials, n_steps and seconds, got {sorted(given)}")
    if not given:
        return "session", 1
    if n_trials is not None:
        return "trials", check_int("n_trials", n_trials, minimum=1)
    if n_steps is not None:
        return "steps", check_int("n_steps", n_steps, minimum=1)
    dt = bin_width(env)
    if dt is None:
        raise ValueError(
            f"seconds needs a task with a bin width dt (e.g. CursorBCI); {type(env.unwrapped).__name__} "
            "has none: give n_trials or n_steps"
        )
    seconds = check_number("seconds", seconds, 0.0, low_open=True)
    return "steps", max(1, round(seconds / float(dt)))


def bin_width(env: Any) -> float | None:
    """Return the seconds of one step of ``env`` (its ``dt``, or its task configuration's), or None.

    Parameters
    ----------
    env : gymnasium.Env or gymnasium.vector.VectorEnv
        A single or vector environment (wrapped or not).

    Returns
    -------
    float or None
        ``env.unwrapped.dt``, else ``env.unwrapped.config.task.dt`` (the BCI cursor tasks), else
        None: a task in discrete trials without a clock.
    """
    base = env.unwrapped
    dt = getattr(base, "dt", None)
    if dt is None:
        dt = getattr(getattr(getattr(base, "config", None), "task", None), "dt", None)
    return None if dt is None else float(dt)


# -- loops --------------------------------------------------------------------------------------

def _context(envs: list[gym.Env], cols: tuple[str, ...]) -> dict[str, np.ndarray]:
    if not cols:
        return {}
    ctx = [e.trial_context() for e in envs]
    return {c: np.array([x.get(c, 0) for x in ctx], dtype=np.float64) for c in cols}


class _Observation(dict):
    """The observation handed to an agent: its trial columns, and ``"obs"`` built when first read.

    ``"obs"`` (the environments' observations stacked over lanes) is built only when first read,
    so agents that never read it do not pay for it.
    """

    __slots__ = ("_raw",)

    def __init__(self, raw: list[Any], columns: dict[str, np.ndarray]) -> None:
        super().__init__(columns)
        self._raw = raw

    def __missing__(self, key: str) -> np.ndarray:
        if key != "obs":
            raise KeyError(key)
        raw = self._raw
        # one lane: a view with a lane axis (np.stack costs more than the step of a small task)
        self["obs"] = obs = np.asarray(raw[0])[None] if len(raw) == 1 else np.stack(raw)
        return obs


def _constant(a: np.ndarray) -> np.ndarray:
    """Make ``a`` read-only and return it, to hand out every step without copying."""
    a.flags.writeable = False
    return a


def _single_loop(agent, envs, budget, seeds, rng, subjects, bar, steps=False, reset=None, keep=True):
    lanes = len(envs)
    bases = [e.unwrapped for e in envs]
    tasks = all(isinstance(b, TaskEnv) for b in bases)
    # trials: recorded rows; steps: whether a step completed a trial (every step of an environment
    # that is not a cogmodels task)
    recorders = None if steps else [RecordTrials(e, subject=s) for e, s in zip(envs, subjects)]
    resets = [r.reset for r in recorders] if recorders is not None else [e.reset for e in envs]
    records = [r.record for r in recorders] if recorders is not None else None
    trial_rows = [b.trial_row for b in bases] if steps and tasks else None
    step_fns = [e.step for e in envs]
    options = (reset or {}).get("options")
    raw = [start(seed=_reset_seed(reset, s, i), options=options)[0]
           for i, (start, s) in enumerate(zip(resets, seeds))]
    cols = tuple(getattr(agent, "observation_columns", ()))
    learn = getattr(agent, "learn", None)
    trial_columns = getattr(agent, "trial_columns", None)
    discrete = isinstance(envs[0].action_space, spaces.Discrete)
    kind, limit = budget
    used = [0] * lanes  # sessions, trials or steps spent
    playing = list(range(lanes))
    obs = _Observation(raw, _context(bases, cols))
    state = agent.initial_state(lanes)
    columns: list[tuple[np.ndarray, Mapping[str, np.ndarray]]] = []
    every, none = _constant(np.ones(lanes, dtype=bool)), _constant(np.zeros(lanes, dtype=bool))
    log = _StepLog(lanes, subjects, bases[0], discrete) if steps and keep else None
    while playing:
        bar.update()
        action, state = agent.act(obs, state, rng)
        reward = [0.0] * lanes
        terminated = [False] * lanes
        truncated = [False] * lanes
        session_ended = False
        new_rows = [False] * lanes
        infos: list[dict] = [{}] * lanes
        raw = list(raw)
        acts = action.tolist() if discrete else action
        stepped = playing
        playing = []
        for i in stepped:
            a = acts[i]
            o, r, term, trunc, info = step_fns[i](a)
            reward[i], infos[i] = r, info
            if records is not None:
                made = new_rows[i] = records[i](a, r, info)
            else:
                made = new_rows[i] = trial_rows is None or trial_rows[i](a, r, info) is not None
            if log is not None:
                log.add(i, a, r, term, trunc, info, made)
            if kind == "trials":
                used[i] += made
            elif kind == "steps" or term or trunc:
                used[i] += 1
            if term or trunc:
                terminated[i], truncated[i] = term, trunc
                session_ended = True
                if used[i] < limit:
                    infos[i] = {**info, "final_obs": o}
                    o, _ = resets[i]()
                    if log is not None:
                        log.new_session(i)
            if used[i] < limit:
                playing.append(i)
            raw[i] = o
        nxt = _Observation(raw, _context(bases, cols))
        if len(stepped) == lanes:
            mask = every
        else:
            mask = np.zeros(lanes, dtype=bool)
            mask[stepped] = True
        made_rows = np.array(new_rows)
        if learn is not None:
            term_mask, trunc_mask = ((np.array(terminated), np.array(truncated)) if session_ended
                                     else (none, none))
            state = learn(Transition(obs, state, action, np.array(reward), nxt, term_mask, trunc_mask,
                                     mask, infos, made_rows))
        if keep and trial_columns is not None and (log is not None or True in new_rows):
            extra = trial_columns(state)
            if extra:
                columns.append((mask if log is not None else made_rows, extra))
        obs = nxt
    if log is not None:
        return log.table(), columns
    if recorders is None:
        return None, columns
    return trial_table([row for r in recorders for row in r.rows]), columns


class _StepLog:
    """The columns of a step table (``record="steps"``), one dict of lists per lane.

    Columns, not a dict per row: a long rollout then keeps lists of numbers, not thousands of
    small containers for the garbage collector to walk.
    """

    def __init__(self, lanes: int, subjects: list[Hashable], env: gym.Env, discrete: bool) -> None:
        self.dt = bin_width(env)
        self.discrete = discrete
        self.subjects = subjects
        self.columns: list[dict[str, list]] = [{} for _ in range(lanes)]
        self.n = [0] * lanes  # rows of each lane
        self.session = [0] * lanes
        self.step = [0] * lanes
        self.trial = [0] * lanes
        self._names: dict[str, str] = {}  # info key -> column
        self._kinds: dict[type, int] = {}  # type of an info value -> _kind
        self.n_fixed = 0  # columns every row has (the step's own, before the info entries)

    def _column(self, i: int, name: str) -> list:
        """Return the column ``name`` of lane ``i``, created with None in the rows before."""
        col = self.columns[i].get(name)
        if col is None:
            col = self.columns[i][name] = [None] * self.n[i]
        return col

    def add(self, i: int, action: Any, reward: float, terminated: bool, truncated: bool,
            info: Mapping[str, Any], made: bool) -> None:
        c = self.columns[i]
        if not c:
            for name in ("session", "step", "trial", *(("time",) if self.dt is not None else ()),
                         *(("action",) if self.discrete else ()), "reward", "terminated", "truncated"):
                c[name] = []
        step = self.step[i]
        c["session"].append(self.session[i])
        c["step"].append(step)
        c["trial"].append(self.trial[i])
        if self.dt is not None:
            c["time"].append(step * self.dt)
        if self.discrete:
            c["action"].append(action)
        else:
            for j, v in enumerate(np.ravel(action).tolist()):
                self._column(i, f"action_{j}").append(v)
        c["reward"].append(float(reward))
        c["terminated"].append(bool(terminated))
        c["truncated"].append(bool(truncated))
        appended = self.n_fixed or len(c)  # the fixed columns (known after the first step)
        self.n_fixed = appended
        names, kinds = self._names, self._kinds
        for k, v in info.items():
            kind = kinds.get(type(v))
            if kind is None:
                kind = kinds[type(v)] = _kind(v)
            if kind:
                name = names.get(k)
                if name is None:
                    name = names[k] = f"info_{k}" if k in STEP_COLUMNS or k.startswith("action_") else k
                col = c.get(name)
                if col is None:
                    col = self._column(i, name)
                col.append(v.item() if kind == 2 else v)
                appended += 1
        self.n[i] += 1
        if appended != len(c):  # an info entry missing at this step
            for col in c.values():
                if len(col) < self.n[i]:
                    col.append(None)
        self.step[i] = step + 1
        self.trial[i] += made

    def new_session(self, i: int) -> None:
        self.session[i] += 1
        self.step[i] = self.trial[i] = 0

    def table(self) -> pd.DataFrame:
        parts = [pd.DataFrame({"subject": [s] * n, **cols})
                 for s, n, cols in zip(self.subjects, self.n, self.columns) if n]
        return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


def _kind(value: Any) -> int:
    """How a step table keeps an ``info`` value: 0 not (not a scalar), 1 as it is, 2 as ``.item()``."""
    if isinstance(value, np.bool_ | np.integer | np.floating):
        return 2
    return int(isinstance(value, bool | int | float | str))


def _autoreset_mode(env: gym.vector.VectorEnv) -> AutoresetMode:
    """Return ``env``'s autoreset mode from its metadata (Gymnasium 1.x; NEXT_STEP by default)."""
    mode = env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
    return mode if isinstance(mode, AutoresetMode) else AutoresetMode(mode)


def _info_columns(agent: Any) -> tuple[str, ...]:
    cols = getattr(agent, "info_columns", ())
    if isinstance(cols, str) or not all(isinstance(c, str) for c in cols):
        raise TypeError(f"agent.info_columns must be a sequence of info keys, got {cols!r}")
    return tuple(cols)


def _vector_context(base: TaskVectorEnv, cols: tuple[str, ...], lanes: int) -> dict[str, np.ndarray]:
    """Return the trial columns ``cols`` of every copy (``base.trial_context()``; 0 where absent)."""
    if not cols:
        return {}
    ctx = base.trial_context()
    return {c: np.asarray(ctx[c], dtype=np.float64) if c in ctx else np.zeros(lanes) for c in cols}


def _with_info(obs: np.ndarray, info: Mapping[str, Any], cols: tuple[str, ...], env: Any,
               context: Mapping[str, np.ndarray]) -> dict:
    """Return the observation handed to an agent: ``"obs"``, its trial columns and ``info`` entries."""
    if not cols:
        return {"obs": obs, **context}
    missing = [c for c in cols if c not in info]
    if missing:
        why = (" (every copy was reset on this step: Gymnasium's next_step autoreset returns the "
               "reset info then, which is empty here)" if not info else "")
        raise KeyError(f"the agent reads info entries {missing} that {type(env.unwrapped).__name__}'s "
                       f"info does not hold{why}")
    return {"obs": obs, **context, **{c: info[c] for c in cols}}


def _vector_loop(agent, env, lanes, budget, seed, rng, subjects, bar, steps=False, reset=None, keep=True):
    base = env.unwrapped
    mode = _autoreset_mode(env)
    if mode not in (AutoresetMode.SAME_STEP, AutoresetMode.NEXT_STEP):
        raise ValueError(
            f"rollout needs a vector environment whose copies start their next session by "
            f"themselves (autoreset_mode 'same_step' or 'next_step'), got {mode.value!r}"
        )
    next_step = mode == AutoresetMode.NEXT_STEP
    trial_rows = getattr(base, "trial_rows", None)
    if not callable(trial_rows):
        trial_rows = None
        if not steps:
            raise TypeError(f"{type(base).__name__} does not record trials (no trial_rows method); "
                            "record='steps' plays it if its info reports trial_completed")
    # one seed (the copies share a generator), or one per copy (seed: the lanes' children)
    first_seed = ([_reset_seed(reset, s, i) for i, s in enumerate(seed)] if isinstance(seed, list)
                  else _reset_seed(reset, seed, 0))
    first, info = env.reset(seed=first_seed, options=(reset or {}).get("options"))
    cols = tuple(getattr(agent, "observation_columns", ()))
    info_cols = _info_columns(agent)
    learn = getattr(agent, "learn", None)
    trial_columns = getattr(agent, "trial_columns", None)
    acts_always = getattr(agent, "acts_on_autoreset", False) is True
    kind, limit = budget
    used = np.zeros(lanes, dtype=np.int64)
    session = np.zeros(lanes, dtype=np.int64)
    trial = np.zeros(lanes, dtype=np.int64)
    playing = np.ones(lanes, dtype=bool)
    none = np.zeros(lanes, dtype=bool)
    resetting = none  # next_step: the lanes this step resets (their sessions ended on the last)
    obs = _with_info(first, info, info_cols, env, _vector_context(base, cols, lanes))
    state = agent.initial_state(lanes)
    rows: list[tuple[np.ndarray, dict[str, np.ndarray]]] = []  # (lanes with a row, fields)
    columns: list[tuple[np.ndarray, Mapping[str, np.ndarray]]] = []
    step = np.zeros(lanes, dtype=np.int64)
    while playing.any():
        bar.update()
        if acts_always or resetting is none or not resetting.all():
            action, state = agent.act(obs, state, rng)
        # else next_step resets every copy and ignores the actions: the agent does not act (nor
        # draw from its generator), and the last actions are passed again; an agent with
        # acts_on_autoreset acts on every step of the clock (a BCI decoder reads every bin)
        o, reward, terminated, truncated, info = env.step(np.asarray(action))
        # the info of the step played (same_step: the ended sessions' own in final_info); info
        # itself holds the reset's there, which the next observation reads
        played = _played_info(info) if "final_info" in info else info
        # the lanes that played a step of their session (not a next_step reset, not finished)
        stepped = playing & ~resetting if resetting is not none else playing.copy()
        everyone = stepped.all()
        if not (everyone or stepped.any()):  # next_step: every copy reset (its info is the reset's)
            made, fields = none, {}
        elif trial_rows is not None:
            made, fields = trial_rows(np.asarray(action), reward, played)
        elif "trial_completed" in played:
            made, fields = np.asarray(played["trial_completed"], dtype=bool), {}
        else:
            raise TypeError(f"{type(base).__name__} reports no trial ends (no trial_rows method, no "
                            "info['trial_completed']): rollout cannot count its trials")
        made = made & stepped  # a copy: never the env's own array
        if steps:
            if keep and stepped.any():
                rows.append((stepped, _vector_step_fields(session, step, trial, action, reward,
                                                          terminated, truncated, played, lanes)))
            step += stepped
            trial += made
        elif made.any():
            rows.append((made, {"session": session.copy(), "trial": trial.copy(), **fields}))
            trial += made
        finished = terminated | truncated
        any_finished = finished.any()
        ended = finished & stepped if any_finished else none
        # a vector env's copies step together: a next_step reset spends a step of the clock
        if kind == "steps":
            used += playing
        else:
            used += made if kind == "trials" else ended
        if any_finished:
            session[ended] += 1
            trial[ended] = 0
            step[ended] = 0
        playing &= used < limit
        if not everyone:
            reward = np.where(stepped, reward, 0.0)
            terminated, truncated = terminated & stepped, truncated & stepped
        nxt = _with_info(o, info, info_cols, env, _vector_context(base, cols, lanes))
        if learn is not None:
            state = learn(Transition(obs, state, action, reward, nxt, terminated, truncated, stepped,
                                     played, made, resetting if next_step else None))
        if keep and trial_columns is not None and (steps or made.any()):
            extra = trial_columns(state)
            if extra:
                columns.append((stepped if steps else made, extra))
        obs = nxt
        if next_step:
            resetting = finished if any_finished else none
    if not keep:
        return None, columns
    if steps:
        if not rows:
            return pd.DataFrame(columns=["subject", *STEP_COLUMNS]), columns
        return _vector_step_table(rows, lanes, subjects, bin_width(env)), columns
    if not rows:
        return pd.DataFrame(columns=["subject", "session", "trial", "choice", "reward"]), columns
    return _lane_major(rows, lanes, subjects), columns


def _lane_major(rows: list[tuple[np.ndarray, dict[str, Any]]], lanes: int,
                subjects: list[Hashable]) -> pd.DataFrame:
    """Return the table of per-step fields ``(mask, {column: (lanes,) values})``, lane by lane."""
    mask = np.stack([m for m, _ in rows], axis=1)  # (lanes, steps with rows): lane-major order
    lane = np.broadcast_to(np.arange(lanes)[:, None], mask.shape)[mask]
    ids = np.asarray(subjects, dtype=object)
    table: dict[str, Any] = {"subject": lane if _is_range(subjects) else ids[lane]}
    for key in rows[0][1]:
        values = [f.get(key) for _, f in rows]
        if any(v is None for v in values):  # an info entry missing at some steps
            values = [np.full(lanes, None, dtype=object) if v is None else v for v in values]
        table[key] = np.stack([np.asarray(v) for v in values], axis=1)[mask]
    return pd.DataFrame(table)


#: vector ``info`` entries that are not per-step numbers of a lane
_VECTOR_INFO_SKIP = ("final_obs", "final_info")


def _played_info(info: Mapping[str, Any]) -> dict[str, Any]:
    """Return the ``info`` of the step just played in every copy of a ``same_step`` vector env.

    Gymnasium's ``same_step`` autoreset returns the reset's info in the copies whose session
    ended on the step and the step's own in ``info["final_info"]`` (``SyncVectorEnv``): put it
    back there, with its ``_key`` masks, so every copy holds its step's entries (a trial's
    outcome, latents) and no reset-only entry.
    """
    final, ended = info["final_info"], np.asarray(info["_final_info"], dtype=bool)

    def mask_of(k: str) -> bool:
        return k.startswith("_") and (k[1:] in info or k[1:] in final)

    out = {k: v for k, v in info.items() if k.lstrip("_") in _VECTOR_INFO_SKIP}
    for key in dict.fromkeys(k for k in (*info, *final) if not mask_of(k) and k not in _VECTOR_INFO_SKIP):
        mine, theirs = info.get(key), final.get(key)
        has_mine = info.get(f"_{key}", np.ones_like(ended)) if mine is not None else np.zeros_like(ended)
        has_theirs = final.get(f"_{key}", ended) if theirs is not None else np.zeros_like(ended)
        if mine is None or theirs is None or np.shape(mine)[:1] != ended.shape:
            value = theirs if mine is None else mine  # (or not one value per copy: as it is)
        else:
            value = np.asarray(mine).copy()
            value[ended] = np.asarray(theirs)[ended]
        out[key], out[f"_{key}"] = value, np.where(ended, has_theirs, has_mine)
    return out


def _vector_step_fields(session, step, trial, action, reward, terminated, truncated, info, lanes):
    """One step of every lane as the columns of a step table (``record="steps"``)."""
    fields: dict[str, Any] = {"session": session.copy(), "step": step.copy(), "trial": trial.copy()}
    action = np.asarray(action)
    if action.ndim == 1:
        fields["action"] = action
    else:
        for j in range(action.reshape(lanes, -1).shape[1]):
            fields[f"action_{j}"] = action.reshape(lanes, -1)[:, j]
    fields.update(reward=np.asarray(reward, dtype=np.float64), terminated=np.asarray(terminated, bool),
                  truncated=np.asarray(truncated, bool))
    for key, value in info.items():
        if key.startswith("_") or key in _VECTOR_INFO_SKIP:
            continue
        value = np.asarray(value)
        if value.shape != (lanes,) or value.dtype.kind not in "biuf":
            continue
        name = f"info_{key}" if key in STEP_COLUMNS or key.startswith("action_") else key
        mask = info.get(f"_{key}")
        if mask is not None and not np.all(mask):
            value = np.where(mask, value.astype(object), None)
        fields[name] = value
    return fields


def _vector_step_table(rows, lanes, subjects, dt):
    """Return the step table of a vector rollout: the single environments' columns and dtypes."""
    table = _lane_major(rows, lanes, subjects)
    if dt is not None:
        table.insert(table.columns.get_loc("trial") + 1, "time", table["step"].to_numpy() * dt)
    for name in table.columns:
        if name != "subject" and table[name].dtype.kind == "O":  # the numbers of an info entry missing at some steps: as in single envs
            table[name] = pd.Series(table[name].tolist(), index=table.index)
    return table


def _is_range(subjects: list[Hashable]) -> bool:
    return all(isinstance(s, int) and s == i for i, s in enumerate(subjects))


def _attach_columns(table: pd.DataFrame, columns: list[tuple[np.ndarray, Mapping[str, np.ndarray]]],
                    lanes: int) -> pd.DataFrame:
    """Append the agent's trial columns: each lane's values in the order of its trials."""
    if not columns:
        return table
    mask = np.stack([m for m, _ in columns])  # (steps with rows, lanes)
    lane_of_value = np.broadcast_to(np.arange(lanes), mask.shape)[mask]
    # the values of lane 0's trials first, then lane 1's...: the table's row order
    order = np.argsort(lane_of_value, kind="stable")
    if order.size != len(table):
        raise RuntimeError(  # pragma: no cover - an agent reporting columns on steps without trials
            f"the agent reported trial columns for {order.size} trials but the table has {len(table)}"
        )
    out = table.copy()
    for key in columns[0][1]:
        values = np.array([c[key] for _, c in columns])[mask]  # one C call for the (steps, lanes) stack
        out[key] = values[order]
    return out
