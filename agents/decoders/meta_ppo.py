"""sb3-contrib RecurrentPPO on the meta-decoder task, for the comparison at the same budget.

The LSTM policy of RecurrentPPO (Schulman et al. 2017; sb3-contrib, Raffin et al. 2021) sees
exactly the inputs of :class:`~cogmodels.agents.decoders.meta_rnn.MetaRNNDecoder` (the spike
features, its previous velocity and the feedback of ``config.inputs``), is trained on the same
reward (the environment's: success + error signal) across the same distribution of subjects and
days, for ``config.budget_s`` seconds of ``config.clock``, and is scored on the same held-out
subject-days.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecEnv

from cogmodels._threads import torch_threads
from cogmodels.agents.decoders.meta_rnn import MetaDecoderConfig, MetaDecoderEnv, TrialRecorder
from cogmodels.validation import check_int, int_seed

__all__ = ["PPO_SETTINGS", "MetaDecoderVecEnv", "play_recurrent_ppo", "train_recurrent_ppo"]

#: sb3-contrib's RecurrentPPO settings used (its defaults, except rollouts of 100 bins = 5 s and
#: an LSTM of 64 units like the GRU's); recorded with the results
PPO_SETTINGS: dict[str, Any] = {
    "n_steps": 100, "batch_size": 400, "n_epochs": 4, "learning_rate": 3e-4, "gamma": 0.98,
    "gae_lambda": 0.95, "clip_range": 0.2, "ent_coef": 0.0, "vf_coef": 0.5, "max_grad_norm": 0.5,
}


class MetaDecoderVecEnv(VecEnv):
    """SB3's ``VecEnv`` over :class:`MetaDecoderEnv`: sessions of ``session_s`` s, all lanes at once.

    Observations are ``[features, previous velocity, feedback]`` (the network inputs of
    :func:`~cogmodels.agents.decoders.meta_rnn.input_names`); the reward is the environment's.
    Every ``session_s`` seconds all sessions end (truncated) and new subject-days start, seeded
    from ``(config.seed, stream, index)`` as the A2C decoder's batches; ``recorder`` (optional)
    collects the completed trials.

    Parameters
    ----------
    config : MetaDecoderConfig
        The task and the features.
    days : sequence of int, optional
        Fixed days (evaluation); None draws them.
    seed : int, optional
        Fixed subjects (evaluation: ``reset(seed=seed)``); None: a new batch each session.
    recorder : TrialRecorder, optional
        Records the completed trials.
    """

    def __init__(self, config: MetaDecoderConfig, *, days: Sequence[int] | None = None,
                 seed: int | None = None, recorder: TrialRecorder | None = None) -> None:
        from gymnasium import spaces

        n = config.num_envs if days is None else len(days)
        self.env = MetaDecoderEnv(config, n, days=days)
        self.config, self.fixed_seed, self.recorder = config, seed, recorder
        self.n_bins = max(1, int(round(config.session_s / self.env.dt)))
        k = self.env.n_features
        obs_space = spaces.Box(-np.inf, np.inf, shape=(k + 3,), dtype=np.float32)
        super().__init__(n, obs_space, self.env.action_space)
        self._index, self._t = 0, 0
        self._actions = np.zeros((n, 2), dtype=np.float32)

    def _start(self) -> np.ndarray:
        if self.fixed_seed is None:
            seed = int_seed(np.random.SeedSequence([self.config.seed, 2, self._index]))
        else:
            seed = self.fixed_seed
        self._index += 1
        self._t = 0
        feats, _ = self.env.reset(seed=seed)
        return np.concatenate([feats, np.zeros((self.num_envs, 3), dtype=np.float32)], axis=1)

    def reset(self) -> np.ndarray:
        """Start new sessions (new subject-days)."""
        return self._start()

    def step_async(self, actions: np.ndarray) -> None:
        """Keep the actions, clipped to the box, for :meth:`step_wait`."""
        space = self.action_space
        self._actions = np.clip(np.asarray(actions, dtype=np.float32), space.low, space.high)

    def step_wait(self):
        """One bin in every session; all end together after ``session_s``."""
        feats, shown, term, trunc, info = self.env.step(self._actions)
        if self.recorder is not None:
            self.recorder(None, self._actions, info)
        self._t += 1
        obs = np.concatenate([feats, self._actions, np.asarray(shown, np.float32)[:, None]], axis=1)
        reward = np.asarray(info["reward"], dtype=np.float32)
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        if self._t < self.n_bins:
            return obs, reward, np.zeros(self.num_envs, dtype=bool), infos
        for i, d in enumerate(infos):
            d["terminal_observation"], d["TimeLimit.truncated"] = obs[i], True
        return self._start(), reward, np.ones(self.num_envs, dtype=bool), infos

    def close(self) -> None:
        """Nothing to release."""

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        """SB3's API: the attribute of the wrapped environment (None if absent), once per lane."""
        return [getattr(self.env, attr_name, None)] * self.num_envs

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        """SB3's API: set an attribute of the wrapped environment."""
        setattr(self.env, attr_name, value)

    def env_method(self, method_name: str, *args: Any, indices: Any = None, **kwargs: Any) -> list:
        """SB3's API: call a method of the wrapped environment."""
        return [getattr(self.env, method_name)(*args, **kwargs)]

    def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
        """SB3's API: no Gymnasium wrappers."""
        return [False] * self.num_envs


class _Budget(BaseCallback):
    """Stop learning once ``seconds`` of the clock (``"cpu"``: this process) are spent."""

    def __init__(self, seconds: float, clock: str) -> None:
        super().__init__()
        self.seconds, self.clock = seconds, clock
        self.read = time.process_time if clock == "cpu" else time.perf_counter
        self.t0 = self.read()

    def _on_step(self) -> bool:
        return self.read() - self.t0 < self.seconds


def train_recurrent_ppo(config: MetaDecoderConfig,
                        settings: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
    """Train RecurrentPPO (``MlpLstmPolicy``) on the meta-decoder task for ``config.budget_s``.

    Parameters
    ----------
    config : MetaDecoderConfig
        Task, inputs, budget, clock, seed, threads (``hidden_size`` sets the LSTM's units).
    settings : dict, optional
        Overrides of :data:`PPO_SETTINGS`.

    Returns
    -------
    model : sb3_contrib.RecurrentPPO
        The trained model.
    cost : dict
        ``cpu_s``, ``wall_s``, ``env_steps`` and the settings used.
    """
    from sb3_contrib import RecurrentPPO

    kw = {**PPO_SETTINGS, **(settings or {})}
    unknown = sorted(set(kw) - set(PPO_SETTINGS))
    if unknown:
        raise ValueError(f"settings keys must be among {sorted(PPO_SETTINGS)}, got {unknown}")
    c0, w0 = time.process_time(), time.perf_counter()
    with torch_threads(config.threads):
        venv = MetaDecoderVecEnv(config)
        model = RecurrentPPO("MlpLstmPolicy", venv, seed=config.seed, verbose=0, device="cpu",
                             policy_kwargs={"lstm_hidden_size": config.hidden_size}, **kw)
        model.learn(total_timesteps=10**12, callback=_Budget(config.budget_s, config.clock))
    cost = {"cpu_s": time.process_time() - c0, "wall_s": time.perf_counter() - w0,
            "env_steps": int(model.num_timesteps),
            "sessions": int(model.num_timesteps) // venv.n_bins, "settings": kw}
    return model, cost


def play_recurrent_ppo(model: Any, config: MetaDecoderConfig, days: Sequence[int],
                       seconds: float = 120.0, *, seed: int = 0) -> pd.DataFrame:
    """Play a trained RecurrentPPO on held-out subject-days; return the trial table.

    The subjects of ``reset(seed=seed)`` on ``days`` (those of
    :meth:`~cogmodels.agents.decoders.meta_rnn.MetaRNNDecoder.play`), actions sampled.

    Returns
    -------
    pandas.DataFrame
        One row per completed trial, as :meth:`MetaRNNDecoder.play`.
    """
    days = [check_int("day", d, 0) for d in days]
    recorder = TrialRecorder(0.0)
    cfg = MetaDecoderConfig(**{**config.to_dict(), "session_s": seconds})
    venv = MetaDecoderVecEnv(cfg, days=days, seed=seed, recorder=recorder)
    recorder.dt = venv.env.dt
    model.set_random_seed(seed)
    obs = venv.reset()
    state, start = None, np.ones(venv.num_envs, dtype=bool)
    with torch_threads(config.threads):
        for _ in range(venv.n_bins):
            action, state = model.predict(obs, state=state, episode_start=start, deterministic=False)
            obs, _, done, _ = venv.step(action)
            start = done
            if done.all():
                break
    return recorder.table()
