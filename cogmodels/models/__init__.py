"""The model zoo: cognitive models written once for simulation and likelihood."""

from __future__ import annotations

from typing import Any

from cogmodels.model import CognitiveModel
from cogmodels.models.actor_critic import ActorCritic
from cogmodels.models.heuristics import RandomBias, WinStayLoseShift
from cogmodels.models.kalman import KalmanFilter
from cogmodels.models.q_learning import QLearning
from cogmodels.models.reversal_hmm import ReversalHMM
from cogmodels.models.rlwm import RLWM, StimulusRL
from cogmodels.models.two_step import TwoStepHybrid, TwoStepModelBased, TwoStepModelFree

__all__ = [
    "MODELS",
    "ActorCritic",
    "KalmanFilter",
    "QLearning",
    "RLWM",
    "RandomBias",
    "ReversalHMM",
    "StimulusRL",
    "TwoStepHybrid",
    "TwoStepModelBased",
    "TwoStepModelFree",
    "WinStayLoseShift",
    "make_model",
]

#: registered model name -> class
MODELS: dict[str, type[CognitiveModel]] = {
    cls.name: cls
    for cls in (
        RandomBias,
        WinStayLoseShift,
        QLearning,
        ActorCritic,
        KalmanFilter,
        ReversalHMM,
        TwoStepModelFree,
        TwoStepModelBased,
        TwoStepHybrid,
        StimulusRL,
        RLWM,
    )
}


def make_model(name: str, **structure: Any) -> CognitiveModel:
    """Build the registered model ``name`` with its structural options."""
    if name not in MODELS:
        raise ValueError(f"model must be one of {sorted(MODELS)}, got {name!r}")
    return MODELS[name](**structure)
