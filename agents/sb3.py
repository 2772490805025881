r"""stable-baselines3 inside cogmodels: train, play and fit SB3 / sb3-contrib policies.

Train any algorithm on a task, then play the trained policy as an agent or fit it to behaviour
as a cognitive model.

Three pieces, kept apart as in SB3 (the algorithm trains, the policy acts, the rollout plays):

- :class:`SB3Trainer` trains any algorithm of stable-baselines3 or sb3-contrib (``PPO``, ``A2C``,
  ``DQN``, ``RecurrentPPO``, ..., given as a class or a name) on any registered environment id,
  through :class:`TaskVecEnv` (SB3's ``VecEnv`` over the task's native vector environment) or
  SB3's ``DummyVecEnv``; it is seeded (the same seed gives the same weights, byte for byte), draws
  a progress bar and writes checkpoints that a run resumes from.
- :class:`SB3Agent` plays a trained policy as an :class:`~cogmodels.agent.Agent`, batched over
  lanes (with the LSTM state of a ``RecurrentPPO`` policy), so :func:`cogmodels.rollout.rollout`
  returns its trial table.
- :class:`SB3Model` is the policy as a :class:`~cogmodels.model.CognitiveModel`: its choice
  probabilities come from the policy's action distribution, tempered by one free parameter, the
  inverse temperature :math:`\beta`,

  .. math::

      P(a_t = a) = \frac{\pi(a \mid x_t)^{\beta}}{\sum_b \pi(b \mid x_t)^{\beta}}
                 = \operatorname{softmax}_a\big(\beta \log \pi(a \mid x_t)\big),

  (for a Q-network, :math:`\operatorname{softmax}(\beta Q(x_t, \cdot))`), so that it is fitted
  (MLE, MAP, EM) and compared (:func:`cogmodels.fits.compare_models`) beside the cognitive models
  and the GRU of :mod:`cogmodels.agents.rnn_model`. :math:`\beta = 1` is the policy as trained.
  The policy's input :math:`x_t` is rebuilt from the trial table (see :data:`TASK_STEPS`).

Checkpoints are a folder with ``policy.pt`` (the policy's and optimiser's ``state_dict``, written
with ``torch.save`` and read with ``torch.load(weights_only=True)``, which unpickles tensors and
plain containers only) and ``config.json`` (algorithm, environment id and arguments, policy
arguments, hyperparameters, seed, steps done). SB3's own ``.zip`` files unpickle arbitrary Python
objects (``cloudpickle``), which can run code: :func:`load_sb3_zip` reads one only with
``trusted=True``.

References
----------
Raffin, A., Hill, A., Gleave, A., Kanervisto, A., Ernestus, M. & Dormann, N. (2021).
Stable-Baselines3: reliable reinforcement learning implementations. JMLR 22(268), 1-8.
Wang, J. X. et al. (2018). Prefrontal cortex as a meta-reinforcement learning system. Nat Neurosci
21, 860-868 (the previous action and reward as the input of a recurrent policy).

Examples
--------
>>> from cogmodels.agents.sb3 import SB3Trainer
>>> from cogmodels.rollout import rollout
>>> trainer = SB3Trainer("PPO", "cogmodels/MultiArmedBandit-v0", env_kwargs={"n_trials": 20},
...                      hyperparameters={"n_steps": 32, "batch_size": 32, "n_epochs": 1},
...                      num_envs=2, seed=0).train(64)
>>> trainer.steps_done_
64
>>> table = rollout(trainer.as_agent(), "cogmodels/MultiArmedBandit-v0", n_trials=5, seed=0)
>>> len(table)
5
>>> trainer.as_model().param_names
('beta',)
"""

from __future__ import annotations

import inspect
import io
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.policies import BaseModel, BasePolicy
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

from cogmodels.agent import Observation, Transition, draw_categorical
from cogmodels.envs.core import TaskVectorEnv
from cogmodels.envs.wrappers import PreviousActionReward
from cogmodels.experiments.runner import atomic_write_bytes, atomic_write_text
from cogmodels.model import CognitiveModel, State, softmax
from cogmodels.parameters import ParamSpec
from cogmodels.progress import progress_bar
from cogmodels.rollout import seed_sequence
from cogmodels.validation import (
    check_bool,
    check_choice,
    check_int,
    check_number,
    describe,
    int_seed,
)

__all__ = [
    "CHECKPOINT_FORMAT",
    "TASK_STEPS",
    "SB3Agent",
    "SB3Model",
    "SB3Trainer",
    "TaskVecEnv",
    "algorithms",
    "load_sb3_zip",
    "make_vec_env",
    "resolve_algorithm",
    "with_previous",
]

#: the ``format`` entry of a checkpoint's ``config.json``
CHECKPOINT_FORMAT = "cogmodels.sb3/1"
_POLICY_FILE, _CONFIG_FILE = "policy.pt", "config.json"
_VECTOR_MODES = ("auto", "native", "dummy")


# -- algorithms -----------------------------------------------------------------------------------

def algorithms() -> dict[str, type[BaseAlgorithm]]:
    """Return every algorithm of stable-baselines3 and sb3-contrib, by class name."""
    import sb3_contrib
    import stable_baselines3

    out: dict[str, type[BaseAlgorithm]] = {}
    for module in (stable_baselines3, sb3_contrib):
        for name in module.__all__:
            obj = getattr(module, name, None)
            if inspect.isclass(obj) and issubclass(obj, BaseAlgorithm):
                out[name] = obj
    return out


def resolve_algorithm(algorithm: str | type[BaseAlgorithm]) -> type[BaseAlgorithm]:
    """Return the algorithm class of ``algorithm``: a class, or a name (any case, ``"ppo"``).

    Raises
    ------
    ValueError
        For a name that is no algorithm of stable-baselines3 or sb3-contrib (listing them).
    TypeError
        For anything else than a name or a ``BaseAlgorithm`` subclass.
    """
    if inspect.isclass(algorithm) and issubclass(algorithm, BaseAlgorithm):
        return algorithm
    known = algorithms()
    if isinstance(algorithm, str):
        by_lower = {k.lower(): v for k, v in known.items()}
        if algorithm.lower() in by_lower:
            return by_lower[algorithm.lower()]
        raise ValueError(f"algorithm must be one of {sorted(known)} (or the class), got {algorithm!r}")
    raise TypeError(
        f"algorithm must be a stable-baselines3 / sb3-contrib algorithm class or its name "
        f"({sorted(known)}), got {describe(algorithm)}"
    )


# -- the previous action and reward in the observation ------------------------------------------

def with_previous(obs: np.ndarray, action: np.ndarray, reward: np.ndarray, n_actions: int) -> np.ndarray:
    """Return ``[obs, onehot(a_{t-1}), r_{t-1}]`` per lane: the input of a meta-RL policy.

    The batched form of :class:`~cogmodels.envs.wrappers.PreviousActionReward` (Wang et al.
    2018), used by the vector environment, the agent and the model alike.

    Parameters
    ----------
    obs : numpy.ndarray
        ``(lanes, d)`` the task's observations.
    action : numpy.ndarray
        ``(lanes,)`` the previous step's action; -1 where there is none (a session's first step),
        which gives zeros for both the one-hot action and the reward.
    reward : numpy.ndarray
        ``(lanes,)`` the previous step's reward.
    n_actions : int
        The number of actions.

    Returns
    -------
    numpy.ndarray
        ``(lanes, d + n_actions + 1)`` float32.
    """
    obs = np.asarray(obs, dtype=np.float32)
    lanes, d = obs.shape
    action = np.asarray(action, dtype=np.int64)
    out = np.zeros((lanes, d + n_actions + 1), dtype=np.float32)
    out[:, :d] = obs
    has = action >= 0
    out[np.flatnonzero(has), d + action[has]] = 1.0
    out[:, -1] = np.where(has, reward, 0.0)
    return out


# -- vector environments --------------------------------------------------------------------------

class TaskVecEnv(VecEnv):
    """SB3's ``VecEnv`` over a cogmodels native vector environment: every copy in one array step.

    The task runs with ``autoreset_mode="same_step"``, SB3's semantics: the step that ends a
    session returns the next session's first observation, the last one in
    ``infos[i]["terminal_observation"]``. All copies share the task's one generator, seeded by
    :meth:`seed` at the next :meth:`reset`.

    Parameters
    ----------
    env : TaskVectorEnv
        A native vector task built with ``autoreset_mode="same_step"``.
    previous_action_reward : bool
        Append the one-hot previous action and the previous reward to the observation
        (:func:`with_previous`), as :class:`~cogmodels.envs.wrappers.PreviousActionReward` does
        for one environment.
    """

    def __init__(self, env: TaskVectorEnv, previous_action_reward: bool = False) -> None:
        base = getattr(env, "unwrapped", None)
        if not isinstance(base, TaskVectorEnv) or base._autoreset != "same_step":
            raise TypeError(
                "env must be a cogmodels native vector environment built with "
                f"autoreset_mode='same_step', got {describe(env)}"
            )
        self.venv = env
        self.previous_action_reward = check_bool("previous_action_reward", previous_action_reward)
        obs_space, act_space = env.single_observation_space, env.single_action_space
        if self.previous_action_reward:
            obs_space = PreviousActionReward(_SpacesOnly(obs_space, act_space, base)).observation_space
            self._n_actions = int(act_space.n)
        n = env.num_envs
        self._prev_action = np.full(n, -1, dtype=np.int64)
        self._prev_reward = np.zeros(n)
        self._actions: np.ndarray | None = None
        super().__init__(n, obs_space, act_space)

    def _observe(self, obs: np.ndarray) -> np.ndarray:
        if not self.previous_action_reward:
            return obs
        return with_previous(obs, self._prev_action, self._prev_reward, self._n_actions)

    def reset(self) -> np.ndarray:
        """Start a session in every copy, seeded by the last :meth:`seed` (if any)."""
        obs, _ = self.venv.reset(seed=self._seeds[0])
        self._reset_seeds()
        self._prev_action[:] = -1
        self._prev_reward[:] = 0.0
        return self._observe(obs)

    def step_async(self, actions: np.ndarray) -> None:
        """Keep the actions for :meth:`step_wait`."""
        self._actions = np.asarray(actions)

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        """Step every copy; ``infos`` carry the final observation of the sessions that ended."""
        actions = self._actions
        obs, reward, terminated, truncated, info = self.venv.step(actions)
        done = terminated | truncated
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        if self.previous_action_reward:
            self._prev_action = actions.astype(np.int64)
            self._prev_reward = np.asarray(reward, dtype=np.float64)
        if done.any():
            final = self._observe(info["final_obs"]) if "final_obs" in info else obs
            for i in np.flatnonzero(done).tolist():
                infos[i]["terminal_observation"] = final[i]
                infos[i]["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
            if self.previous_action_reward:
                self._prev_action[done] = -1
                self._prev_reward[done] = 0.0
        return self._observe(obs), np.asarray(reward, dtype=np.float32), done, infos

    def close(self) -> None:
        """Close the task."""
        self.venv.close()

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        """Return the task's attribute ``attr_name``, once per copy asked for."""
        value = getattr(self.venv.unwrapped, attr_name)
        return [value] * len(self._get_indices(indices))

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        """Set the task's attribute (shared by every copy)."""
        setattr(self.venv.unwrapped, attr_name, value)

    def env_method(self, method_name: str, *args: Any, indices: Any = None, **kwargs: Any) -> list[Any]:
        """Call the task's method once and hand its result to every copy asked for."""
        value = getattr(self.venv.unwrapped, method_name)(*args, **kwargs)
        return [value] * len(self._get_indices(indices))

    def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
        """Return False for every copy: a native vector task has no Gymnasium wrappers."""
        return [False] * len(self._get_indices(indices))


class _SpacesOnly(gym.Env):
    """Just the spaces and reward range of a task, to compute a wrapper's observation space."""

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, base: Any) -> None:
        self.observation_space, self.action_space = observation_space, action_space
        self.reward_bounds = getattr(base, "reward_bounds", (-np.inf, np.inf))


def _native_vector(env_id: str) -> bool:
    entry = gym.spec(env_id).vector_entry_point
    if entry is None:
        return False
    cls = gym.envs.registration.load_env_creator(entry) if isinstance(entry, str) else entry
    return inspect.isclass(cls) and issubclass(cls, TaskVectorEnv)


def _check_env_id(env_id: Any) -> str:
    if not isinstance(env_id, str) or env_id not in gym.registry:
        from cogmodels.envs import env_ids

        raise ValueError(
            f"env_id must be a registered environment id, e.g. one of {env_ids()}, got {describe(env_id)}"
        )
    return env_id


def make_vec_env(
    env_id: str,
    num_envs: int = 1,
    *,
    env_kwargs: Mapping[str, Any] | None = None,
    previous_action_reward: bool = False,
    vector: str = "auto",
) -> VecEnv:
    """Return an SB3 ``VecEnv`` of ``num_envs`` copies of a registered task.

    Parameters
    ----------
    env_id : str
        A registered environment id (``cogmodels/TwoStep-v0``, or any Gymnasium id).
    num_envs : int
        Copies stepped together.
    env_kwargs : Mapping, optional
        The task's arguments.
    previous_action_reward : bool
        Append the previous action (one-hot) and reward to the observation (discrete actions).
    vector : {"auto", "native", "dummy"}
        ``"native"``: :class:`TaskVecEnv` over the task's native vector environment (one array
        step for all copies); ``"dummy"``: SB3's ``DummyVecEnv`` over single environments (a
        Python loop); ``"auto"``: native where the task has one.

    Returns
    -------
    stable_baselines3.common.vec_env.VecEnv
        The environments, not yet reset.
    """
    env_id = _check_env_id(env_id)
    num_envs = check_int("num_envs", num_envs, 1)
    kwargs = dict(_check_mapping("env_kwargs", env_kwargs))
    previous_action_reward = check_bool("previous_action_reward", previous_action_reward)
    vector = check_choice("vector", vector, _VECTOR_MODES)
    native = _native_vector(env_id)
    if vector == "native" and not native:
        raise ValueError(f"vector='native' needs a task with a native vector environment; {env_id} "
                         "has none: use vector='auto' or 'dummy'")
    if native and vector != "dummy":
        venv = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point",
                            autoreset_mode="same_step", **kwargs)
        return TaskVecEnv(venv, previous_action_reward)

    def make() -> gym.Env:
        env = gym.make(env_id, **kwargs)
        return PreviousActionReward(env) if previous_action_reward else env

    return DummyVecEnv([make] * num_envs)


def _check_mapping(name: str, value: Any) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise TypeError(f"{name} must be a mapping of argument names to values or None, got {describe(value)}")
    return value


def _check_json(name: str, value: Mapping[str, Any]) -> dict[str, Any]:
    """Return a JSON round trip of ``value`` (what a checkpoint's config keeps), or raise."""
    try:
        return json.loads(json.dumps(dict(value)))
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must hold only numbers, strings, booleans, None, lists and dicts, so that the "
            f"checkpoint's config.json records it (give activation_fn by name, e.g. 'Tanh'), got "
            f"{describe(value)}"
        ) from None


# -- training -------------------------------------------------------------------------------------

class SB3Trainer:
    """Train a stable-baselines3 / sb3-contrib algorithm on a registered task, with checkpoints.

    Parameters
    ----------
    algorithm : str or type
        The algorithm: a class (``PPO``, ``sb3_contrib.RecurrentPPO``) or its name (``"ppo"``).
    env_id : str
        A registered environment id.
    env_kwargs : Mapping, optional
        The task's arguments.
    policy : str, optional
        The policy name of the algorithm (default ``"MlpLstmPolicy"`` for recurrent
        algorithms, else ``"MlpPolicy"``).
    policy_kwargs : Mapping, optional
        The policy's arguments (``net_arch``, ``lstm_hidden_size``; ``activation_fn`` by name,
        e.g. ``"Tanh"``); JSON values only, recorded in the checkpoint.
    hyperparameters : Mapping, optional
        The algorithm's other arguments (``learning_rate``, ``n_steps``, ``gamma``...); JSON
        values only.
    num_envs : int, default 4
        Environment copies stepped together.
    previous_action_reward : bool, default False
        Give the policy the previous action and reward (the meta-RL input, Wang et al. 2018).
    vector : {"auto", "native", "dummy"}
        Which vector environment (:func:`make_vec_env`).
    seed : int, SeedSequence, Generator or None
        One integer seed is drawn from it (:func:`cogmodels.validation.int_seed`); it seeds the
        initial weights and, with the steps done, each call of :meth:`train` (torch, numpy, the
        environments and the action space, which SB3 seeds globally): the same seed and the same
        calls give the same weights, byte for byte. ``None`` draws a fresh one, recorded in
        :attr:`config`.
    checkpoint_dir : str or Path, optional
        Where :meth:`train` writes checkpoints (:meth:`save`): every ``checkpoint_every`` steps
        and at the end.
    checkpoint_every : int, optional
        Steps between checkpoints (default: only at the end of :meth:`train`).

    Attributes
    ----------
    model_ : stable_baselines3.common.base_class.BaseAlgorithm
        The algorithm, its policy in ``model_.policy``.
    steps_done_ : int
        Environment steps trained so far (``model_.num_timesteps``).

    Notes
    -----
    A run interrupted after a checkpoint continues with ``SB3Trainer.load(checkpoint_dir)
    .train(total_timesteps)``: the policy's and the optimiser's state are restored and training
    goes on from ``steps_done`` (learning-rate schedules included). The environments and SB3's
    rollout or replay buffers restart (seeded from ``seed`` and ``steps_done``), so a resumed run
    is reproducible but not identical to one that was never interrupted.

    SB3 itself seeds the global ``random``, numpy and torch generators (``set_random_seed``);
    train in a separate process where that matters.
    """

    def __init__(
        self,
        algorithm: str | type[BaseAlgorithm],
        env_id: str,
        *,
        env_kwargs: Mapping[str, Any] | None = None,
        policy: str | None = None,
        policy_kwargs: Mapping[str, Any] | None = None,
        hyperparameters: Mapping[str, Any] | None = None,
        num_envs: int = 4,
        previous_action_reward: bool = False,
        vector: str = "auto",
        seed: int | np.random.SeedSequence | np.random.Generator | None = None,
        checkpoint_dir: str | Path | None = None,
        checkpoint_every: int | None = None,
    ) -> None:
        self.algorithm = resolve_algorithm(algorithm)
        self.env_id = _check_env_id(env_id)
        self.env_kwargs = _check_json("env_kwargs", _check_mapping("env_kwargs", env_kwargs))
        aliases = getattr(self.algorithm, "policy_aliases", {})
        default = "MlpLstmPolicy" if "MlpLstmPolicy" in aliases else "MlpPolicy"
        self.policy = check_choice("policy", default if policy is None else policy, sorted(aliases))
        self.policy_kwargs = _check_json("policy_kwargs", _check_mapping("policy_kwargs", policy_kwargs))
        self.hyperparameters = _check_json("hyperparameters", _check_mapping("hyperparameters", hyperparameters))
        self._check_hyperparameters()
        self.num_envs = check_int("num_envs", num_envs, 1)
        self.previous_action_reward = check_bool("previous_action_reward", previous_action_reward)
        self.vector = check_choice("vector", vector, _VECTOR_MODES)
        self.seed = int_seed(seed_sequence(seed))
        self.checkpoint_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
        self.checkpoint_every = (None if checkpoint_every is None
                                 else check_int("checkpoint_every", checkpoint_every, 1))
        self.model_ = self._build(self.seed)

    def _check_hyperparameters(self) -> None:
        allowed = set(inspect.signature(self.algorithm.__init__).parameters) - {
            "self", "policy", "env", "policy_kwargs", "seed", "device", "verbose", "_init_setup_model"}
        unknown = sorted(set(self.hyperparameters) - allowed)
        if unknown:
            raise ValueError(
                f"hyperparameters of {self.algorithm.__name__} must be among {sorted(allowed)}, got {unknown}"
            )

    def _build(self, seed: int) -> BaseAlgorithm:
        venv = make_vec_env(self.env_id, self.num_envs, env_kwargs=self.env_kwargs,
                            previous_action_reward=self.previous_action_reward, vector=self.vector)
        policy_kwargs = dict(self.policy_kwargs)
        if isinstance(policy_kwargs.get("activation_fn"), str):
            name = policy_kwargs["activation_fn"]
            fn = getattr(torch.nn, name, None)
            if not (inspect.isclass(fn) and issubclass(fn, torch.nn.Module)):
                raise ValueError(f"policy_kwargs['activation_fn'] must name a torch.nn module "
                                 f"(e.g. 'Tanh', 'ReLU'), got {name!r}")
            policy_kwargs["activation_fn"] = fn
        try:
            return self.algorithm(self.policy, venv, policy_kwargs=policy_kwargs or None,
                                  seed=seed, device="cpu", verbose=0, **self.hyperparameters)
        except AssertionError as exc:  # SB3 asserts the action space an algorithm supports
            venv.close()
            raise ValueError(
                f"algorithm {self.algorithm.__name__} cannot train on {self.env_id} (action space "
                f"{venv.action_space}): {str(exc).strip() or 'unsupported action space'}"
            ) from None

    @property
    def steps_done_(self) -> int:
        """Environment steps trained so far."""
        return int(self.model_.num_timesteps)

    @property
    def config(self) -> dict[str, Any]:
        """The configuration that rebuilds this trainer, as written to ``config.json``."""
        return {
            "format": CHECKPOINT_FORMAT,
            "algorithm": self.algorithm.__name__,
            "env_id": self.env_id,
            "env_kwargs": self.env_kwargs,
            "policy": self.policy,
            "policy_kwargs": self.policy_kwargs,
            "hyperparameters": self.hyperparameters,
            "num_envs": self.num_envs,
            "previous_action_reward": self.previous_action_reward,
            "vector": self.vector,
            "seed": self.seed,
            "steps_done": self.steps_done_,
        }

    def train(self, total_timesteps: int, *, progress: bool = False) -> SB3Trainer:
        """Train until ``total_timesteps`` environment steps are done in all (from ``steps_done_``).

        SB3 collects whole rollouts, so it may stop a few steps past ``total_timesteps`` (at most
        one rollout). With ``checkpoint_dir`` a checkpoint is written every ``checkpoint_every``
        steps and at the end.

        Parameters
        ----------
        total_timesteps : int
            The target number of steps, counting those already done (a resumed run passes the
            same total as the interrupted one).
        progress : bool
            Draw a bar of the steps (on a terminal only).

        Returns
        -------
        SB3Trainer
            ``self``.
        """
        total = check_int("total_timesteps", total_timesteps, 1)
        progress = check_bool("progress", progress)
        remaining = total - self.steps_done_
        if remaining <= 0:
            return self
        # SB3 draws from the global torch and numpy generators: seed them (and the environments,
        # at their next reset) here, from the run's seed and the steps done, so that each call
        # is reproducible whatever ran in the process before it
        self.model_.set_random_seed(int_seed(np.random.SeedSequence([self.seed, self.steps_done_])))
        desc = f"{self.algorithm.__name__} {self.env_id}"
        with progress_bar(progress, total=total, initial=self.steps_done_, unit="step", desc=desc) as bar:
            self.model_.learn(remaining, callback=_TrainingCallback(self, bar), reset_num_timesteps=False)
        if self.checkpoint_dir is not None:
            self.save(self.checkpoint_dir)
        return self

    # -- checkpoints ------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write a checkpoint folder: ``policy.pt`` (state dicts) and ``config.json``.

        Parameters
        ----------
        path : str or Path
            The folder (created if needed; an earlier checkpoint in it is replaced, file by file,
            atomically).

        Returns
        -------
        Path
            The folder.
        """
        path = Path(path)
        policy = self.model_.policy
        state = {"policy": policy.state_dict()}
        optimizer = getattr(policy, "optimizer", None)
        if optimizer is not None:
            state["optimizer"] = optimizer.state_dict()
        buffer = io.BytesIO()
        torch.save(state, buffer)
        atomic_write_bytes(path / _POLICY_FILE, buffer.getvalue())
        atomic_write_text(path / _CONFIG_FILE, json.dumps(self.config, indent=2, sort_keys=True) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path, *, checkpoint_dir: str | Path | None = None,
             checkpoint_every: int | None = None) -> SB3Trainer:
        """Rebuild a trainer from a checkpoint folder written by :meth:`save` (or :meth:`train`).

        The weights are read with ``torch.load(weights_only=True)``: tensors and plain containers
        only, never code. ``.train(total_timesteps)`` continues the run from ``steps_done``.

        Parameters
        ----------
        path : str or Path
            The checkpoint folder.
        checkpoint_dir : str or Path, optional
            Where further training writes checkpoints (default ``path``).
        checkpoint_every : int, optional
            Steps between them.

        Returns
        -------
        SB3Trainer
            The trainer, its policy holding the checkpoint's weights.
        """
        path = Path(path)
        config = _read_config(path / _CONFIG_FILE)
        state = _read_weights(path / _POLICY_FILE)
        keys = ("env_kwargs", "policy", "policy_kwargs", "hyperparameters", "num_envs",
                "previous_action_reward", "vector", "seed")
        missing = [k for k in ("algorithm", "env_id", *keys, "steps_done") if k not in config]
        if missing:
            raise ValueError(f"{path / _CONFIG_FILE}: a checkpoint config needs the keys {missing}")
        trainer = cls(config["algorithm"], config["env_id"], **{k: config[k] for k in keys},
                      checkpoint_dir=path if checkpoint_dir is None else checkpoint_dir,
                      checkpoint_every=checkpoint_every)
        model = trainer.model_
        try:
            model.policy.load_state_dict(state["policy"])
            if "optimizer" in state and getattr(model.policy, "optimizer", None) is not None:
                model.policy.optimizer.load_state_dict(state["optimizer"])
        except (KeyError, RuntimeError, ValueError) as exc:
            raise ValueError(f"{path / _POLICY_FILE}: the weights do not fit the policy of "
                             f"{path / _CONFIG_FILE} ({str(exc).splitlines()[0]})") from None
        model.num_timesteps = check_int(f"{path / _CONFIG_FILE}: steps_done", config["steps_done"], 0)
        return trainer

    # -- the trained policy -----------------------------------------------------------------
    def as_agent(self, *, beta: float = 1.0, deterministic: bool = False) -> SB3Agent:
        """Return the trained policy as an :class:`SB3Agent` with this run's observations."""
        return SB3Agent(self.model_, previous_action_reward=self.previous_action_reward, beta=beta,
                        deterministic=deterministic)

    def as_model(self, *, beta_max: float = 10.0, name: str | None = None) -> SB3Model:
        """Return the trained policy as an :class:`SB3Model` of this run's task."""
        return SB3Model(self.model_, self.env_id, previous_action_reward=self.previous_action_reward,
                        beta_max=beta_max, name=name or f"sb3_{self.algorithm.__name__.lower()}")

    def __repr__(self) -> str:
        return f"SB3Trainer({self.algorithm.__name__}, {self.env_id!r}, steps_done={self.steps_done_})"


class _TrainingCallback(BaseCallback):
    """Advance the progress bar and write the periodic checkpoints."""

    def __init__(self, trainer: SB3Trainer, bar: Any) -> None:
        super().__init__()
        self.trainer, self.bar = trainer, bar
        every = trainer.checkpoint_every
        self.next_checkpoint = None
        if every is not None and trainer.checkpoint_dir is not None:
            self.next_checkpoint = (trainer.steps_done_ // every + 1) * every

    def _on_step(self) -> bool:
        self.bar.update(self.training_env.num_envs)
        if self.next_checkpoint is not None and self.num_timesteps >= self.next_checkpoint:
            self.trainer.save(self.trainer.checkpoint_dir)
            every = self.trainer.checkpoint_every
            self.next_checkpoint = (self.num_timesteps // every + 1) * every
        return True


def _read_config(path: Path) -> dict[str, Any]:
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{path}: no checkpoint config here (written by SB3Trainer.save)") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a checkpoint config ({exc})") from None
    if not isinstance(config, dict) or config.get("format") != CHECKPOINT_FORMAT:
        got = config.get("format") if isinstance(config, dict) else describe(config)
        raise ValueError(f"{path}: format must be {CHECKPOINT_FORMAT!r}, got {got!r}")
    return config


def _read_weights(path: Path) -> dict[str, Any]:
    """Read ``policy.pt`` with ``weights_only=True``; refuse any file that needs more."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ValueError(f"{path}: no checkpoint weights here (written by SB3Trainer.save)") from None
    except Exception as exc:  # UnpicklingError, RuntimeError, EOFError: a foreign or broken file
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"{path}: not a file of plain tensors that torch loads safely ({reason}); "
                         "refused unread. Load only checkpoints written by SB3Trainer.save") from None
    if not isinstance(state, dict) or "policy" not in state:
        raise ValueError(f"{path}: a checkpoint holds a dict with a 'policy' state dict, got {describe(state)}")
    return state


def load_sb3_zip(path: str | Path, algorithm: str | type[BaseAlgorithm], *, trusted: bool = False,
                 **kwargs: Any) -> BaseAlgorithm:
    """Load a model saved by SB3's own ``model.save(path)`` (a ``.zip``), if you trust the file.

    SB3's zip stores parts of the model (spaces, schedules, the class of the policy) with
    ``cloudpickle``; unpickling a file can run any code its author put in it. So this reads a
    zip only with ``trusted=True``, for files you made or got from someone you trust; the
    checkpoints of :class:`SB3Trainer` (weights as plain tensors, configuration as JSON) need no
    such trust.

    Parameters
    ----------
    path : str or Path
        The ``.zip`` file.
    algorithm : str or type
        Its algorithm (:func:`resolve_algorithm`).
    trusted : bool, default False
        Must be True: you vouch that the file runs no harmful code when unpickled.
    **kwargs
        Passed to ``algorithm.load`` (``env``, ``custom_objects``...).

    Returns
    -------
    stable_baselines3.common.base_class.BaseAlgorithm
        The model.
    """
    cls = resolve_algorithm(algorithm)
    if check_bool("trusted", trusted) is not True:
        raise ValueError(
            f"trusted must be True to load {path}: SB3's zip format unpickles Python objects, which "
            "can run arbitrary code; pass trusted=True only for a file you trust, or save with "
            "SB3Trainer.save (weights_only checkpoints) instead"
        )
    return cls.load(path, device="cpu", **kwargs)


# -- the policy network, numpy in and out ----------------------------------------------------------

class _PolicyNetwork:
    """One forward step of an SB3 policy on ``(lanes, d)`` observations, numpy in and out.

    ``kind`` is ``"categorical"`` (actor-critic policies on discrete actions: the distribution's
    normalised logits ``log pi``), ``"q"`` (Q-networks, DQN / QR-DQN: the Q-values as logits) or
    ``"gaussian"`` (actor-critic policies on continuous actions: mean and standard deviation).
    A recurrent policy's LSTM state travels as ``(lanes, 2, layers, hidden)`` arrays (h, c).
    """

    def __init__(self, policy: Any) -> None:
        if isinstance(policy, BaseAlgorithm):
            policy = policy.policy
        if not isinstance(policy, BasePolicy):
            raise TypeError(
                f"policy must be a stable-baselines3 algorithm or policy (e.g. PPO(...) or "
                f"model.policy), got {describe(policy)}"
            )
        self.policy = policy
        self.recurrent = hasattr(policy, "lstm_actor")
        space = policy.action_space
        if hasattr(policy, "get_distribution"):
            kinds = {spaces.Discrete: "categorical", spaces.Box: "gaussian"}
        elif hasattr(policy, "q_net") or hasattr(policy, "quantile_net"):
            kinds = {spaces.Discrete: "q"}
        else:
            kinds = {}
        kind = kinds.get(type(space))
        if kind is None or (kind == "gaussian" and getattr(policy, "squash_output", False)):
            supported = ("Discrete actions of actor-critic policies (PPO, A2C, TRPO, RecurrentPPO) and "
                         "Q-networks (DQN, QR-DQN), Box actions of Gaussian actor-critic policies")
            raise ValueError(
                f"policy's action space must be one the adapter handles ({supported}), got "
                f"{space} of {type(policy).__name__}"
            )
        self.kind = kind
        self.action_space = space
        self.n_actions = int(space.n) if isinstance(space, spaces.Discrete) else None
        self.obs_shape = policy.observation_space.shape
        policy.set_training_mode(False)

    def initial_hidden(self, lanes: int) -> np.ndarray | None:
        """Zero LSTM state ``(lanes, 2, layers, hidden)``, or None for a feed-forward policy."""
        if not self.recurrent:
            return None
        layers, _, hidden = self.policy.lstm_hidden_state_shape
        return np.zeros((lanes, 2, layers, hidden), dtype=np.float32)

    def check_observation(self, x: np.ndarray, hint: str) -> None:
        """Refuse observations of another shape than the policy's input, saying why."""
        if x.shape[1:] != self.obs_shape:
            raise ValueError(
                f"observation must have the policy's input shape {self.obs_shape} per lane, got "
                f"{x.shape[1:]}{hint}"
            )

    @torch.no_grad()
    def step(self, x: np.ndarray, hidden: np.ndarray | None) -> tuple[Any, np.ndarray | None]:
        """Return the step's output (logits, or ``(mean, std)``) and the next hidden state.

        Categorical policies are evaluated as SB3's ``get_distribution`` does (features of the
        actor, the LSTM, the actor's layers, ``action_net``) without building a torch
        distribution, which costs as much as the network itself; a test checks the result
        against ``get_distribution``.
        """
        obs = torch.as_tensor(np.asarray(x, dtype=np.float32))
        policy = self.policy
        if self.kind == "q":
            if hasattr(policy, "q_net"):
                return policy.q_net(obs).double().numpy(), None
            return policy.quantile_net(obs).mean(dim=1).double().numpy(), None
        if self.kind == "gaussian":
            d = policy.get_distribution(obs).distribution
            return (d.mean.double().numpy(), d.stddev.double().numpy()), None
        features = BaseModel.extract_features(policy, obs, policy.pi_features_extractor)
        if self.recurrent:
            h = torch.from_numpy(np.ascontiguousarray(hidden.transpose(1, 2, 0, 3)))  # (2, layers, lanes, H)
            features, (h_out, c_out) = policy._process_sequence(
                features, (h[0], h[1]), torch.zeros(obs.shape[0]), policy.lstm_actor)
            hidden = torch.stack([h_out, c_out]).numpy().transpose(2, 0, 1, 3).copy()
        logits = policy.action_net(policy.mlp_extractor.forward_actor(features))
        return torch.log_softmax(logits.double(), dim=1).numpy(), hidden


# -- the agent ------------------------------------------------------------------------------------

class SB3Agent:
    r"""A trained SB3 policy as an :class:`~cogmodels.agent.Agent`, batched over lanes.

    Each step the policy reads the task's observation (with the previous action and reward
    appended when it was trained so, :func:`with_previous`) and the LSTM state of a recurrent
    policy; discrete actions are drawn from :math:`\operatorname{softmax}(\beta \log\pi)`
    (Q-networks: :math:`\operatorname{softmax}(\beta Q)`) with the rollout's generator
    (:func:`~cogmodels.agent.draw_categorical`), continuous ones from the Gaussian
    :math:`\mathcal{N}(\mu, \sigma^2)` and clipped to the action space, as SB3's ``predict``
    does. At the end of a session the previous action, reward and LSTM state restart.

    Parameters
    ----------
    policy : BaseAlgorithm or BasePolicy
        The trained algorithm (its ``.policy``) or policy.
    previous_action_reward : bool, default False
        Whether the policy was trained on ``[obs, onehot(a_{t-1}), r_{t-1}]``.
    beta : float, default 1.0
        Inverse temperature of discrete choices (1: the policy as trained).
    deterministic : bool, default False
        Take the most probable action (the Gaussian mean) instead of drawing one.
    """

    def __init__(self, policy: Any, *, previous_action_reward: bool = False, beta: float = 1.0,
                 deterministic: bool = False) -> None:
        self.network = _PolicyNetwork(policy)
        self.previous_action_reward = check_bool("previous_action_reward", previous_action_reward)
        if self.previous_action_reward and self.network.n_actions is None:
            raise ValueError("previous_action_reward=True needs a policy with Discrete actions, got "
                             f"{self.network.action_space}")
        self.beta = check_number("beta", beta, 0.0, 1e6)
        self.deterministic = check_bool("deterministic", deterministic)
        self.n_actions = self.network.n_actions
        self.name = f"sb3_{type(self.network.policy).__name__}"

    def initial_state(self, n_lanes: int) -> dict[str, Any]:
        """No previous action or reward, and a zero LSTM state, in each lane."""
        return {"hidden": self.network.initial_hidden(n_lanes),
                "prev_action": np.full(n_lanes, -1, dtype=np.int64), "prev_reward": np.zeros(n_lanes)}

    def act(self, observation: Observation, state: dict[str, Any], rng: np.random.Generator):
        """Step the policy and return one action per lane (drawn with ``rng``)."""
        x = np.asarray(observation["obs"], dtype=np.float32).reshape(len(state["prev_action"]), -1)
        if self.previous_action_reward:
            x = with_previous(x, state["prev_action"], state["prev_reward"], self.n_actions)
        self.network.check_observation(x, f" (previous_action_reward={self.previous_action_reward})")
        out, state["hidden"] = self.network.step(x, state["hidden"])
        if self.network.kind == "gaussian":
            mean, std = out
            action = mean if self.deterministic else mean + std * rng.standard_normal(mean.shape)
            space = self.network.action_space
            return np.clip(action, space.low, space.high), state
        if self.deterministic:
            return out.argmax(axis=1), state
        return draw_categorical(softmax(self.beta * out), rng), state

    def learn(self, transition: Transition) -> dict[str, Any]:
        """Keep each stepped lane's action and reward; restart the lanes whose session ended."""
        state = transition.state
        stepped = transition.stepped
        if self.previous_action_reward:
            state["prev_action"] = np.where(stepped, transition.action, state["prev_action"])
            state["prev_reward"] = np.where(stepped, transition.reward, state["prev_reward"])
        ended = (transition.terminated | transition.truncated) & stepped
        if ended.any():
            state["prev_action"][ended] = -1
            state["prev_reward"][ended] = 0.0
            if state["hidden"] is not None:
                state["hidden"][ended] = 0.0
        return state

    def __repr__(self) -> str:
        return f"SB3Agent({type(self.network.policy).__name__}, beta={self.beta})"


# -- the cognitive model --------------------------------------------------------------------------

@dataclass(frozen=True)
class TaskSteps:
    """How a task's steps and observations follow from its trial table.

    Attributes
    ----------
    observation_columns : tuple of str
        The trial-table columns the observations are built from.
    choice_columns : tuple of str
        The choice of each step (stage) of a trial.
    observe : callable
        ``observe(columns, stage, lanes) -> (lanes, d)`` the task's observation before the choice
        of ``stage``, from the trial's ``columns`` (``(lanes,)`` arrays).
    """

    observation_columns: tuple[str, ...]
    choice_columns: tuple[str, ...]
    observe: Callable[[Mapping[str, np.ndarray], int, int], np.ndarray]


def _no_stimulus(columns: Mapping[str, np.ndarray], stage: int, lanes: int) -> np.ndarray:
    """Return the constant observation ``[1.0]`` of the tasks without a stimulus."""
    return np.ones((lanes, 1), dtype=np.float32)


def _two_step(columns: Mapping[str, np.ndarray], stage: int, lanes: int) -> np.ndarray:
    """One-hot ``[first stage, second-stage state 0, state 1]`` (:class:`~cogmodels.envs.two_step.TwoStep`)."""
    obs = np.zeros((lanes, 3), dtype=np.float32)
    if stage == 0:
        obs[:, 0] = 1.0
    else:
        obs[np.arange(lanes), 1 + np.asarray(columns["state2"], dtype=np.int64)] = 1.0
    return obs


#: env id -> how its observations follow from the trial table (the tasks :class:`SB3Model` fits)
TASK_STEPS: dict[str, TaskSteps] = {
    "cogmodels/MultiArmedBandit-v0": TaskSteps((), ("choice",), _no_stimulus),
    "cogmodels/ReversalLearning-v0": TaskSteps((), ("choice",), _no_stimulus),
    "cogmodels/TwoStep-v0": TaskSteps(("state2",), ("choice", "choice2"), _two_step),
}


class SB3Model(CognitiveModel):
    r"""A trained SB3 policy as a :class:`~cogmodels.model.CognitiveModel` of choices in a task.

    On each step of a trial the policy reads the observation the task showed (rebuilt from the
    trial table by :data:`TASK_STEPS`; with the previous action and reward appended when
    ``previous_action_reward``), steps its LSTM state if it has one, and gives the choice
    probabilities

    .. math::

        P(a) = \operatorname{softmax}_a\big(\beta \log \pi(a \mid x)\big)

    (:math:`\operatorname{softmax}(\beta Q(x, \cdot))` for a Q-network), with one free
    parameter, the inverse temperature :math:`\beta \in [0, \beta_{max}]`, 1 the policy as
    trained. The weights stay frozen: whatever the policy learns within a session lives in its
    LSTM state (Wang et al. 2018). The state restarts at each session, as in the task.

    Parameters
    ----------
    policy : BaseAlgorithm or BasePolicy
        The trained algorithm or policy, with Discrete actions.
    env_id : str
        The task it was trained on: one of :data:`TASK_STEPS`.
    previous_action_reward : bool, default False
        Whether the policy reads ``[obs, onehot(a_{t-1}), r_{t-1}]``.
    beta_max : float, default 10.0
        Upper bound of ``beta``.
    name : str, optional
        The model's name (default ``"sb3_<policy class>"``).

    Notes
    -----
    The recurrent state is recomputed from the trial's start at each stage of a multi-stage
    trial (the protocol's ``action_probabilities`` does not return a state), which costs one
    extra network step per stage.
    """

    tasks: ClassVar[tuple[str, ...]] = tuple(TASK_STEPS)

    def __init__(self, policy: Any, env_id: str, *, previous_action_reward: bool = False,
                 beta_max: float = 10.0, name: str | None = None) -> None:
        self.network = _PolicyNetwork(policy)
        if self.network.n_actions is None:
            raise ValueError(f"policy's action space must be Discrete for a model of choices, got "
                             f"{self.network.action_space}")
        if env_id not in TASK_STEPS:
            raise ValueError(f"env_id must be one of {list(TASK_STEPS)} (tasks whose observations "
                             f"follow from the trial table), got {describe(env_id)}")
        super().__init__(self.network.n_actions)
        self.steps = TASK_STEPS[env_id]
        self.env_id = env_id
        self.tasks = (env_id,)
        self.observation_columns = self.steps.observation_columns
        self.choice_columns = self.steps.choice_columns
        self.previous_action_reward = check_bool("previous_action_reward", previous_action_reward)
        beta_max = check_number("beta_max", beta_max, 1.0, 1e6, low_open=True)
        self.name = name or f"sb3_{type(self.network.policy).__name__}"
        self.param_specs = (
            ParamSpec("beta", 0.0, beta_max, 1.0, description="inverse temperature on log pi (1: as trained)"),
        )
        x = self._input({}, 0, np.full(1, -1), np.zeros(1), 1)
        self.network.check_observation(x, f" (previous_action_reward={self.previous_action_reward}, "
                                          f"observations of {env_id})")

    def _input(self, columns, stage: int, prev_action, prev_reward, lanes: int) -> np.ndarray:
        x = self.steps.observe(columns, stage, lanes)
        if self.previous_action_reward:
            x = with_previous(x, prev_action, prev_reward, self.n_actions)
        return x

    def _run(self, state: State, observation: Mapping[str, np.ndarray], choices: np.ndarray, last: int):
        """Step the network over stages ``0..last`` of the trial; return the last logits, state."""
        lanes = state["prev_action"].shape[0]
        hidden, prev_a, prev_r = state.get("hidden"), state["prev_action"], state["prev_reward"]
        logits = None
        for j in range(last + 1):
            logits, hidden = self.network.step(self._input(observation, j, prev_a, prev_r, lanes), hidden)
            if j < last:  # within a trial, the previous step is the stage before, unrewarded
                prev_a, prev_r = choices[:, j], np.zeros(lanes)
        return logits, hidden

    def initial_state(self, params: Mapping[str, np.ndarray]) -> State:
        """No previous action or reward, and a zero LSTM state, in each lane."""
        lanes = params["beta"].shape[0]
        state = {"params": params, "prev_action": np.full(lanes, -1, dtype=np.int64),
                 "prev_reward": np.zeros(lanes)}
        hidden = self.network.initial_hidden(lanes)
        if hidden is not None:
            state["hidden"] = hidden
        return state

    def action_probabilities(self, state: State, observation: Mapping[str, np.ndarray]) -> np.ndarray:
        """Return ``softmax(beta * log pi)`` at the observation's stage."""
        stage = int(observation.get("stage", 0))
        choices = observation.get("choices")
        logits, _ = self._run(state, observation, choices, stage)
        return softmax(state["params"]["beta"][:, None] * logits)

    def update(self, state, observation, action, reward, next_observation) -> State:
        """Keep the trial's last action and its reward; step the LSTM through the trial."""
        action = np.asarray(action, dtype=np.int64)
        choices = action[:, None] if action.ndim == 1 else action
        new = {"params": state["params"], "prev_action": choices[:, -1].copy(),
               "prev_reward": np.asarray(reward, dtype=np.float64).copy()}
        if "hidden" in state:
            _, new["hidden"] = self._run(state, observation, choices, choices.shape[1] - 1)
        return new

    def __repr__(self) -> str:
        return f"SB3Model({type(self.network.policy).__name__}, {self.env_id!r})"
