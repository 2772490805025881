"""The model zoo: cognitive models written once for simulation and likelihood."""

from __future__ import annotations

from typing import Any

from cogmodels.model import CognitiveModel
from cogmodels.models.q_learning import QLearning

__all__ = ["MODELS", "QLearning", "make_model"]

#: registered model name -> class
MODELS: dict[str, type[CognitiveModel]] = {QLearning.name: QLearning}


def make_model(name: str, **structure: Any) -> CognitiveModel:
    """Build the registered model ``name`` with its structural options."""
    if name not in MODELS:
        raise ValueError(f"model must be one of {sorted(MODELS)}, got {name!r}")
    return MODELS[name](**structure)
