r"""A frozen recurrent policy as a model of choices: its state is the network's hidden state.

:class:`RecurrentModel` wraps a trained :class:`~cogmodels.agents.rnn.RecurrentPolicy` in the
model protocol of :mod:`cogmodels.model`, so the network is simulated, scored, fitted and
compared with the same code as every cognitive model (DESIGN.md, "one definition, two uses").
On trial ``t`` the network reads ``x_t = [o_t, onehot(a_{t-1}), r_{t-1}]``, updates its hidden
state and gives logits ``z_t``; the model's choice probabilities are

.. math::

    P(a_t = a) \propto \exp(\beta\, z_t(a)),

with one free parameter, the inverse temperature ``beta`` (1 is the network as trained), which
absorbs how much more or less deterministic a subject is than the network. The weights stay
frozen: the network's within-session learning is all in its hidden state (Wang et al. 2018, Nat
Neurosci).

Examples
--------
A network meta-trained on the two-armed bandit (here barely: ``A2CTrainer(seed=0).train(300)``
for a real one) becomes a model with one parameter, fitted per subject like any other and
comparable with them (``compare_models(trials, {"q": make_model("q_learning"), "rnn": model})``):

>>> from cogmodels.agents.a2c import A2CTrainer
>>> from cogmodels.agents.rnn_model import RecurrentModel
>>> from cogmodels.fits import MaximumLikelihood
>>> trainer = A2CTrainer(num_envs=8, n_trials=20, hidden_size=8, seed=0).train(2, progress=False)
>>> model = RecurrentModel(trainer.model)
>>> model.name, model.param_names
('rnn_gru8', ('beta',))
>>> trials = trainer.play(2, seed=1)             # or people's choices in the same task
>>> fit = MaximumLikelihood(model, n_starts=1, seed=0).fit(trials)
>>> fit.params_.columns.tolist()                 # beta per subject
['beta']
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from cogmodels.agents.rnn import RecurrentPolicy
from cogmodels.model import CognitiveModel, State, softmax
from cogmodels.parameters import ParamSpec

__all__ = ["RecurrentModel"]


class RecurrentModel(CognitiveModel):
    """A frozen :class:`RecurrentPolicy` as a :class:`CognitiveModel` (see the module docstring).

    Parameters
    ----------
    policy : RecurrentPolicy
        The trained network; tasks without a stimulus need ``obs_dim = 1`` (the constant
        observation ``[1.0]`` of the bandit and reversal tasks).
    beta_max : float, default 10.0
        Upper bound of the inverse temperature ``beta``.
    name : str, optional
        The model's name in comparisons (default ``"rnn_<cell><hidden_size>"``).

    Notes
    -----
    Latents: ``h_0 ... h_{H-1}``, the hidden units on the trial (before its choice; for an LSTM
    the cell state follows as ``c_0 ...``).
    """

    tasks = ("cogmodels/MultiArmedBandit-v0", "cogmodels/ReversalLearning-v0")

    def __init__(self, policy: RecurrentPolicy, *, beta_max: float = 10.0, name: str | None = None) -> None:
        if not isinstance(policy, RecurrentPolicy):
            raise TypeError(f"policy must be a RecurrentPolicy, got {type(policy).__name__}")
        if policy.obs_dim != 1:
            raise ValueError(
                "policy must read the constant observation of a task without stimulus "
                f"(obs_dim=1), got obs_dim={policy.obs_dim}"
            )
        if not (np.isfinite(beta_max) and beta_max > 1.0):
            raise ValueError(f"beta_max must be a finite number > 1, got {beta_max!r}")
        super().__init__(policy.n_actions)
        self.policy = policy.eval()
        self.name = name or f"rnn_{policy.cell}{policy.hidden_size}"
        self.param_specs = (
            ParamSpec("beta", 0.0, float(beta_max), 1.0,
                      description="scale of the network's logits (1: as trained)"),
        )

    # the hidden state lives in numpy arrays with a leading lanes axis, so that the likelihood
    # can mask and reset it per lane like any other model state
    def _to_torch(self, h: np.ndarray):
        t = torch.from_numpy(np.ascontiguousarray(h, dtype=np.float32))[None]
        if self.policy.cell == "lstm":
            n = self.policy.hidden_size
            return (t[..., :n].contiguous(), t[..., n:].contiguous())
        return t

    def _to_numpy(self, h) -> np.ndarray:
        if isinstance(h, tuple):
            h = torch.cat(h, dim=-1)
        return h[0].numpy().astype(np.float64)

    @torch.no_grad()
    def _step(self, h: np.ndarray | None, lanes: int, action, reward) -> State:
        x = self.policy.make_input(np.ones((lanes, 1), dtype=np.float32), action, reward)
        h_in = self.policy.initial_state(lanes) if h is None else self._to_torch(h)
        logits, _, h_out = self.policy.step(x, h_in)
        return {"h": self._to_numpy(h_out), "logits": logits.numpy().astype(np.float64)}

    def initial_state(self, params: Mapping[str, np.ndarray]) -> State:
        """Return the network's state after its first step from the initial hidden state."""
        lanes = params["beta"].shape[0]
        return {"params": params, **self._step(None, lanes, None, None)}

    def action_probabilities(self, state: State, observation: Mapping[str, np.ndarray]) -> np.ndarray:
        """Return ``softmax(beta * logits)`` of the network's current logits."""
        return softmax(state["params"]["beta"][:, None] * state["logits"])

    def update(self, state, observation, action, reward, next_observation) -> State:
        """Step the network with the trial's action and reward."""
        lanes = state["logits"].shape[0]
        nxt = self._step(state["h"], lanes, np.asarray(action, dtype=np.int64),
                         np.asarray(reward, dtype=np.float32))
        return {"params": state["params"], **nxt}

    def latents(self, state, observation, action, reward) -> dict[str, np.ndarray]:
        """Return the hidden units ``h_i`` (and an LSTM's cell state ``c_i``) before the choice."""
        h = state["h"]
        n = self.policy.hidden_size
        out = {f"h_{i}": h[:, i].copy() for i in range(n)}
        if h.shape[1] > n:
            out.update({f"c_{i}": h[:, n + i].copy() for i in range(n)})
        return out

    def __repr__(self) -> str:
        return f"RecurrentModel({self.policy.cell}, hidden_size={self.policy.hidden_size})"
