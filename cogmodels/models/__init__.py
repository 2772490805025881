"""The model zoo: cognitive models written once for simulation and likelihood."""

from __future__ import annotations

import difflib
import inspect
from typing import Any

from cogmodels.model import CognitiveModel
from cogmodels.models.actor_critic import ActorCritic
from cogmodels.models.ddm import DDM
from cogmodels.models.delay_discounting import HyperbolicDiscounting
from cogmodels.models.go_nogo import GoNoGo, GoNoGoM1, GoNoGoM2, GoNoGoM3, GoNoGoM4
from cogmodels.models.heuristics import RandomBias, WinStayLoseShift
from cogmodels.models.iowa_gambling import PVLDelta
from cogmodels.models.kalman import KalmanFilter
from cogmodels.models.kool_two_step import KoolTwoStep
from cogmodels.models.probabilistic_selection import GainLossQ
from cogmodels.models.q_learning import QLearning
from cogmodels.models.racing_diffusion import RLRacingDiffusion
from cogmodels.models.reversal_hmm import ReversalHMM
from cogmodels.models.rlddm import RLDDM
from cogmodels.models.rlwm import RLWM, StimulusRL
from cogmodels.models.two_step import (
    TwoStepHybrid,
    TwoStepModelBased,
    TwoStepModelFree,
    TwoStepStakes,
)

__all__ = [
    "MODELS",
    "ActorCritic",
    "DDM",
    "GainLossQ",
    "GoNoGo",
    "GoNoGoM1",
    "GoNoGoM2",
    "GoNoGoM3",
    "GoNoGoM4",
    "HyperbolicDiscounting",
    "KalmanFilter",
    "PVLDelta",
    "KoolTwoStep",
    "QLearning",
    "RLDDM",
    "RLRacingDiffusion",
    "RLWM",
    "RandomBias",
    "ReversalHMM",
    "StimulusRL",
    "TwoStepHybrid",
    "TwoStepModelBased",
    "TwoStepModelFree",
    "TwoStepStakes",
    "WinStayLoseShift",
    "make_model",
    "structure_options",
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
        TwoStepStakes,
        KoolTwoStep,
        StimulusRL,
        RLWM,
        GoNoGo,
        GoNoGoM1,
        GoNoGoM2,
        GoNoGoM3,
        GoNoGoM4,
        PVLDelta,
        GainLossQ,
        HyperbolicDiscounting,
        DDM,
        RLDDM,
        RLRacingDiffusion,
    )
}


def make_model(name: str, **structure: Any) -> CognitiveModel:
    """Build the registered model ``name`` with its structural options.

    An option the model does not have is refused with the model's options listed; an option's
    value must have the type of its default (``True``/``False`` for a switch, an integer for
    ``n_actions`` ...).
    """
    from cogmodels.validation import check_bool, check_int, check_number

    if name not in MODELS:
        close = difflib.get_close_matches(str(name), MODELS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"model must be one of {sorted(MODELS)}, got {name!r}{hint}")
    options = structure_options(name)
    for key, value in structure.items():
        if key not in options:
            close = difflib.get_close_matches(key, options, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(
                f"model {name!r} has no structure option {key!r}{hint}; its options are "
                f"{', '.join(f'{k}={v!r}' for k, v in options.items())} (shown with their defaults)"
            )
        default, what = options[key], f"structure option {key!r} of model {name!r}"
        if isinstance(default, bool):
            check_bool(what, value)
        elif isinstance(default, int):
            check_int(what, value, minimum=1 if key == "n_actions" else None)
        elif isinstance(default, float):
            check_number(what, value)
    return MODELS[name](**structure)


def structure_options(name: str) -> dict[str, Any]:
    """Return the structure options of the registered model ``name`` and their defaults."""
    params = inspect.signature(MODELS[name].__init__).parameters.values()
    return {
        p.name: p.default for p in params
        if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }
