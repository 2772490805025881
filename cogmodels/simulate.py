"""Simulate a model of behaviour in a task environment: the canonical trial table plus latents."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import pandas as pd

from cogmodels.agent import ModelAgent
from cogmodels.model import CognitiveModel
from cogmodels.rollout import rollout
from cogmodels.validation import check_bool, check_int

__all__ = ["VECTOR_MIN_SUBJECTS", "Simulation", "simulate"]

#: from this many subjects on, a task with a native vector class plays in it (same tables): below,
#: its per-step overhead costs more than the single environments' Python loop (measured
#: 2026-12-04: break-even at about 8 bandit, 8-16 reversal and 16-20 two-step subjects)
VECTOR_MIN_SUBJECTS = 16


@dataclass
class Simulation:
    """A simulated dataset: the trial table (with latents as extra columns) and the true params."""

    trials: pd.DataFrame
    params: pd.DataFrame


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
    its own environment, seeded from ``SeedSequence(seed).spawn``: in the tasks with a native
    vector class (the bandit, reversal learning, the two-step task), from
    :data:`VECTOR_MIN_SUBJECTS` subjects on, the subjects are the copies of one vector
    environment, each drawing from its own generator seeded so (the same table as single
    environments, byte for byte, in one array step for all subjects; below that the single
    environments are cheaper); choices are drawn from
    ``model.action_probabilities`` with a generator from the same sequence, and the state is
    advanced by ``model.update``: the same code that scores choices when fitting.
    ``latents=True`` adds the model's trial-wise latents as columns; ``record_probabilities=True``
    adds ``p_choice``, the probability with which each trial's choices were drawn (the product
    over stages). ``progress`` draws a bar of the steps played (on a terminal only).

    It is the rollout of the model as an agent, ``rollout(model.as_agent(params), env, ...,
    vectorize=n_subjects >= VECTOR_MIN_SUBJECTS)``
    (:func:`cogmodels.rollout.rollout`, :class:`cogmodels.agent.ModelAgent`), with the model's
    checks and the true parameters added.

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
    check_bool("progress", progress)
    if n_subjects is not None:
        n_subjects = check_int("n_subjects", n_subjects, minimum=1)
    agent = ModelAgent(model, params, latents=latents, record_probabilities=record_probabilities)
    lanes = n_subjects or agent.n_lanes
    p = model.check_params(params, n_lanes=lanes)
    trials = rollout(agent, env, n_subjects=lanes, seed=seed, env_kwargs=env_kwargs,
                     progress=progress, description=f"simulate {model.name}",
                     vectorize=lanes >= VECTOR_MIN_SUBJECTS)
    truth = pd.DataFrame({"subject": np.arange(lanes), **{k: v for k, v in p.items()}})
    return Simulation(trials, truth)
