"""Agents that act and learn in the tasks: TD learners, RNN policies, baselines, BCI decoders.

Every agent follows one protocol, :class:`cogmodels.agent.Agent` (``initial_state``, ``act``,
optionally ``learn``), and plays with one loop, :func:`cogmodels.rollout.rollout`; a learning rule
that a cognitive model of :mod:`cogmodels.models` already defines is not written again here.

Contents (one algorithm per module):

- :mod:`~cogmodels.agents.features`: state representations of time and stimuli for TD learners
  (complete serial compound, microstimuli, presence, tabular one-hots);
- :mod:`~cogmodels.agents.td`: linear TD(λ) learners: :class:`TDCritic` (the dopamine prediction
  error), :class:`QLearningAgent`, :class:`SarsaAgent`, :class:`ActorCriticAgent`;
- :mod:`~cogmodels.agents.continuous`: :class:`GaussianActorCritic`, the continuous-action
  actor-critic (reward-trained decoders);
- :mod:`~cogmodels.agents.bandit_baselines`: reference policies of the Bernoulli bandit
  (:class:`BayesOptimal`, :class:`ThompsonSampling`, :class:`UCB1`, :class:`Greedy`,
  :class:`RandomPolicy`) and the regret scorer :func:`evaluate`;
- :mod:`~cogmodels.agents.rnn`, :mod:`~cogmodels.agents.a2c`: recurrent policies and their
  batched A2C trainer (meta-RL); :mod:`~cogmodels.agents.rnn_model`: a frozen policy as a model
  of choices; :mod:`~cogmodels.agents.tiny_rnn`: tiny RNNs fitted to choices;
- :mod:`~cogmodels.agents.decoders` and :mod:`~cogmodels.agents.decoders.reward`: BCI decoders
  and closed-loop adaptation;
- :mod:`~cogmodels.agents.plots`: figures of TD step tables.

The names below import from here on first use, so ``import cogmodels.agents`` stays light (torch
is loaded only with the RNN modules). Studies that use the agents live in
:mod:`cogmodels.experiments` (e.g. the Pavlovian dopamine study in
:mod:`cogmodels.experiments.dopamine`).
"""

from __future__ import annotations

import importlib
from typing import Any

#: public name -> the module that defines it
_CONTENTS: dict[str, str] = {
    **dict.fromkeys(["CompleteSerialCompound", "Microstimulus", "Presence", "Representation",
                     "TabularOneHot", "make_representation"], "features"),
    **dict.fromkeys(["ActorCriticAgent", "QLearningAgent", "SarsaAgent", "TDAgent", "TDCritic"], "td"),
    **dict.fromkeys(["GaussianActorCritic", "linear_schedule"], "continuous"),
    **dict.fromkeys(["BayesOptimal", "Greedy", "RandomPolicy", "ThompsonSampling", "UCB1",
                     "bayes_optimal_regret", "evaluate"], "bandit_baselines"),
    **dict.fromkeys(["A2CConfig", "A2CTrainer"], "a2c"),
    "RecurrentPolicy": "rnn",
    "RecurrentModel": "rnn_model",
    "TinyRNN": "tiny_rnn",
    "plot_prediction_errors": "plots",
}

__all__ = sorted(_CONTENTS)


def __getattr__(name: str) -> Any:
    """Import ``name`` from its module (see the table of contents) on first use."""
    module = _CONTENTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_CONTENTS})
