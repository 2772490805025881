"""Simulate a model of behaviour in a task environment: the canonical trial table plus latents."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import pandas as pd

from cogmodels.envs.wrappers import RecordTrials
from cogmodels.model import CognitiveModel, merge_state, pick
from cogmodels.progress import progress_bar
from cogmodels.trials import validate_trials
from cogmodels.validation import check_bool, check_int, check_seed, int_seed

__all__ = ["Simulation", "simulate"]


@dataclass
class Simulation:
    """A simulated dataset: the trial table (with latents as extra columns) and the true params."""

    trials: pd.DataFrame
    params: pd.DataFrame


def _draw(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One categorical draw per row of ``probs`` by inverting the cumulative distribution."""
    return inverse_cdf(probs, rng.random(probs.shape[0]))


def inverse_cdf(probs: np.ndarray, u: np.ndarray) -> np.ndarray:
    """The category of each row of ``probs`` that the uniform ``u`` (one per row) falls in."""
    return np.minimum((probs.cumsum(axis=1) <= u[:, None]).sum(axis=1), probs.shape[1] - 1)


def simulate(
    model: CognitiveModel,
    params: Mapping[str, Any],
    env: str,
    *,
    n_subjects: int | None = None,
    seed: int | np.random.SeedSequence | np.random.Generator | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
    latents: bool = True,
    record_probabilities: bool = False,
    progress: bool = True,
) -> Simulation:
    """Play ``model`` with ``params`` in environment ``env`` (a registered id), one subject a lane.

    ``params`` maps each parameter to a scalar or to one value per subject. Every subject gets
    its own environment, seeded from ``SeedSequence(seed).spawn``; choices are drawn from
    ``model.action_probabilities`` with a generator from the same sequence, and the state is
    advanced by ``model.update``: the same code that scores choices when fitting.
    ``latents=True`` adds the model's trial-wise latents as columns; ``record_probabilities=True``
    adds ``p_choice``, the probability with which each trial's choices were drawn (the product
    over stages). ``progress`` draws a bar of the trials played (on a terminal only).

    The trial table is checked against the schema (:func:`cogmodels.trials.validate_trials`)
    before it is returned, so fits may take it as validated.
    """
    if not isinstance(model, CognitiveModel):
        raise TypeError(f"model must be a CognitiveModel (e.g. make_model('q_learning')), got {type(model).__name__}")
    if not isinstance(env, str) or env not in gym.registry:
        raise ValueError(f"env must be a registered environment id, got {env!r}")
    spec_tasks = getattr(model, "tasks", ())
    if spec_tasks and env not in spec_tasks:
        raise ValueError(f"model {model.name!r} fits tasks {list(spec_tasks)}, not {env!r}")
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a mapping {{parameter: value(s)}} for {list(model.param_names)}, "
                        f"got {params!r}")
    if env_kwargs is not None and not isinstance(env_kwargs, Mapping):
        raise TypeError(f"env_kwargs must be a mapping of environment arguments or None, got {env_kwargs!r}")
    latents = check_bool("latents", latents)
    record_probabilities = check_bool("record_probabilities", record_probabilities)
    progress = check_bool("progress", progress)
    if n_subjects is not None:
        n_subjects = check_int("n_subjects", n_subjects, minimum=1)
    lanes = n_subjects or max((np.size(v) for v in params.values()), default=1)
    p = model.check_params(params, n_lanes=lanes)
    seeds = _seed_sequence(seed).spawn(lanes + 1)
    rng = np.random.default_rng(seeds[0])
    envs = [RecordTrials(gym.make(env, **dict(env_kwargs or {})), subject=i) for i in range(lanes)]
    n_act = envs[0].action_space.n
    if n_act != model.n_actions:
        raise ValueError(
            f"model {model.name!r} has n_actions={model.n_actions} but {env} has {n_act} actions"
        )
    for e, s in zip(envs, seeds[1:]):
        e.reset(seed=int_seed(s))
    state = model.initial_state(p)
    init = state if model.reset_on_block else None
    cols = model.observation_columns
    obs = _context(envs, cols)
    block = _context(envs, ("block",)).get("block") if init is not None else None
    lat_rows: list[dict[str, np.ndarray]] = []
    done = np.zeros(lanes, dtype=bool)
    n_stages = len(model.choice_columns)
    bar = progress_bar(progress, unit="trial", desc=f"simulate {model.name}")
    while not done.all():
        bar.update()
        stage_actions = []
        reward = np.zeros(lanes)
        p_choice = np.ones(lanes)
        for j in range(n_stages):
            if n_stages > 1:
                ctx = obs if j == 0 else {**obs, **_context(envs, cols)}
                obs_j = {**ctx, "stage": j, "choices": np.stack(stage_actions, axis=1) if j else
                         np.zeros((lanes, 0), dtype=np.int64)}
            else:
                obs_j = obs
            probs = model.action_probabilities(state, obs_j)
            action = _draw(probs, rng)
            p_choice = p_choice * pick(probs, action)
            stage_actions.append(action)
            for i, e in enumerate(envs):
                if not done[i]:
                    _, r, term, trunc, _ = e.step(int(action[i]))
                    reward[i] += r
                    done[i] = term or trunc
        actions = stage_actions[0] if n_stages == 1 else np.stack(stage_actions, axis=1)
        if n_stages > 1:  # the update sees the trial's observation without the stage keys
            obs = {k: v for k, v in obs_j.items() if k not in ("stage", "choices")}
        lat = model.latents(state, obs, actions, reward) if latents else {}
        if record_probabilities:
            lat = {**lat, "p_choice": p_choice}
        if lat:
            lat_rows.append({k: np.asarray(v) for k, v in lat.items()})
        nxt = _context(envs, cols)
        state = model.update(state, obs, actions, reward, nxt)
        obs = nxt
        if init is not None:
            new_block = _context(envs, ("block",))["block"]
            changed = new_block != block
            if changed.any():
                state = merge_state(changed, init, state)
            block = new_block
    bar.close()
    trials = validate_trials(pd.concat([e.table() for e in envs], ignore_index=True),
                             n_actions=model.n_actions, source=f"simulate({model.name!r}, {env!r})")
    if lat_rows:
        trials = _attach_latents(trials, lat_rows, lanes)
    truth = pd.DataFrame({"subject": np.arange(lanes), **{k: v for k, v in p.items()}})
    return Simulation(trials, truth)


def _seed_sequence(seed: Any) -> np.random.SeedSequence:
    seed = check_seed("seed", seed)
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, np.random.Generator):
        return np.random.SeedSequence(int(seed.integers(2**63)))
    return np.random.SeedSequence(seed)


def _context(envs: list[gym.Env], cols: tuple[str, ...]) -> dict[str, np.ndarray]:
    if not cols:
        return {}
    ctx = [e.unwrapped.trial_context() for e in envs]
    return {c: np.array([x.get(c, 0) for x in ctx], dtype=np.float64) for c in cols}


def _attach_latents(trials: pd.DataFrame, rows: list[dict[str, np.ndarray]], lanes: int) -> pd.DataFrame:
    n_per = trials.groupby("subject", sort=False).size().reindex(range(lanes)).to_numpy()
    out = trials.copy()
    for key in rows[0]:
        mat = np.stack([r[key] for r in rows], axis=1)  # (lanes, steps)
        out[key] = np.concatenate([mat[i, : n_per[i]] for i in range(lanes)])
    return out
