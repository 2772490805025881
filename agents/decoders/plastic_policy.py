r"""A recurrent decoder whose read-out is a fast weight matrix changed by the feedback it reads.

:class:`PlasticReadoutPolicy` is a :class:`~cogmodels.agents.rnn.RecurrentPolicy` (GRU core,
Gaussian velocity squashed into the box, value head) whose velocity mean is a *plastic* linear map
of the spike features held in its recurrent state, in the manner of differentiable neuromodulated
plasticity (Miconi et al. 2018, 2019): the weights of the network are trained across sessions and
frozen; within a session the map ``F_t`` changes by a reward-modulated perturbation rule whose
rate, trace, baseline and gating are among those trained weights. Its recurrent state is

- ``h_t``: the GRU's hidden state (reads ``x_t = [z_t, a_{t-1}, r_{t-1}]`` as any
  ``RecurrentPolicy``);
- ``E_t``: an eligibility trace of the exploration, ``E_t = \lambda E_{t-1} + (u_{t-1} -
  \mu_{t-1}) z_{t-1}^\top`` (``u`` the Gaussian draw behind the velocity sent, recovered from
  the input by inverting the ``tanh``, ``\mu`` the mean it was drawn around: the perturbation the
  network made, computed from its own input and state; in the draw's space, where it has mean
  zero whatever the mean — the squashed difference would be biased against the box's walls and
  make the map run away);
- ``\bar r_t``: the running mean of the evaluations, ``\bar r_t = \bar r_{t-1} + \kappa
  |r_{t-1}| (r_{t-1} - \bar r_{t-1})`` (``|r|`` marks the bins in which feedback arrived);
- ``F_t``: the fast map, ``F_t = (1 - \rho) F_{t-1} + \eta\, g_t\, (r_{t-1} - (\bar r_{t-1} +
  b) |r_{t-1}|)\, E_t`` with ``g_t = 2\,\sigma(w_g \cdot h_t + c_g)`` a gate of the GRU (the
  neuromodulator of Miconi et al. 2019): a reward-prediction error, so that a run of equal
  evaluations (a map that always fails, or always succeeds) stops moving the map.

The policy is ``u_t \sim N(\mu_t, \sigma_t^2)``, ``a_t = \tanh`` of it into the box, with

.. math::

    \mu_t = 5 \tanh\big((\gamma\, F_t z_t + W_\mu h_t + c_\mu) / 5\big)

(the soft bound only keeps a runaway map finite: ``tanh(5)`` is the box's edge).

With ``\eta = 0`` it is a plain GRU decoder plus a zero map. The update is node perturbation
(Williams 1992; Fiete & Seung 2006): ``E[(r - b) (a - \bar a) z^\top]`` is proportional to the
gradient of the expected evaluation with respect to the map, so the rule climbs the error
signal from the session's own exploration. Which rate, trace length, baseline, gain and
exploration work on the channel's delays and rates is what the meta-training (A2C across
subjects and days) learns; with the feedback input zeroed (the ablation) ``F`` stays 0.

References
----------
- Miconi, T., Stanley, K. O., & Clune, J. (2018). Differentiable plasticity: training plastic
  neural networks with backpropagation. ICML.
- Miconi, T., Rawal, A., Clune, J., & Stanley, K. O. (2019). Backpropamine: training
  self-modifying neural networks with differentiable neuromodulated plasticity. ICLR.
- Williams, R. J. (1992). Simple statistical gradient-following algorithms for connectionist
  reinforcement learning. Machine Learning 8, 229–256.
- Fiete, I. R., & Seung, H. S. (2006). Gradient learning in spiking neural networks by dynamic
  perturbation of conductances. Phys Rev Lett 97, 048104.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from cogmodels.agents.rnn import Hidden, RecurrentPolicy
from cogmodels.validation import check_number

__all__ = ["PlasticReadoutPolicy"]

#: the Gaussian's mean is softly bounded to +-this (``tanh(5)`` is already the box's edge), so a
#: runaway map cannot overflow the perturbation ``u - mu``
_MEAN_LIMIT = 5.0


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


class PlasticReadoutPolicy(RecurrentPolicy):
    """GRU decoder with a fast-weight read-out of the features (module docstring).

    Parameters
    ----------
    n_actions : int
        The velocity's dimension.
    obs_dim : int
        Spike features ``z`` (the first ``obs_dim`` inputs).
    hidden_size : int
        GRU units.
    plastic_lr : float
        Initial plasticity rate ``eta`` (> 0; trained on the log scale).
    trace_decay : float
        Initial trace decay ``lambda`` per bin, in (0, 1) (trained on the logit scale).
    map_decay : float
        Initial decay ``rho`` of the fast map per bin, in (0, 1) (logit scale).
    feedback_rate : float
        Initial rate ``kappa`` of the running mean of the evaluations, in (0, 1) (logit scale).
    **kwargs
        Further :class:`~cogmodels.agents.rnn.RecurrentPolicy` arguments (``action_kind`` must
        be ``"gaussian"``; ``cell`` ``"gru"`` or ``"rnn"``).
    """

    def __init__(self, n_actions: int = 2, obs_dim: int = 4, hidden_size: int = 64, *,
                 plastic_lr: float = 0.05, trace_decay: float = 0.95, map_decay: float = 1e-3,
                 feedback_rate: float = 0.1, **kwargs: Any) -> None:
        if kwargs.get("action_kind", "gaussian") != "gaussian":
            raise ValueError("PlasticReadoutPolicy needs action_kind='gaussian', got "
                             f"{kwargs['action_kind']!r}")
        if kwargs.get("cell", "gru") == "lstm":
            raise ValueError("PlasticReadoutPolicy needs cell 'gru' or 'rnn', got 'lstm'")
        kwargs["action_kind"] = "gaussian"
        super().__init__(n_actions, obs_dim, hidden_size, **kwargs)
        check_number("plastic_lr", plastic_lr, 0.0, low_open=True)
        check_number("trace_decay", trace_decay, 0.0, 1.0, low_open=True, high_open=True)
        check_number("map_decay", map_decay, 0.0, 1.0, low_open=True, high_open=True)
        check_number("feedback_rate", feedback_rate, 0.0, 1.0, low_open=True, high_open=True)
        self.plastic_init = {"plastic_lr": float(plastic_lr), "trace_decay": float(trace_decay),
                             "map_decay": float(map_decay),
                             "feedback_rate": float(feedback_rate)}
        self.log_eta = nn.Parameter(torch.tensor(math.log(plastic_lr)))
        self.logit_trace = nn.Parameter(torch.tensor(_logit(trace_decay)))
        self.logit_decay = nn.Parameter(torch.tensor(_logit(map_decay)))
        self.baseline = nn.Parameter(torch.tensor(0.0))
        self.logit_expect = nn.Parameter(torch.tensor(_logit(feedback_rate)))
        self.log_gain = nn.Parameter(torch.tensor(0.0))
        self.gate = nn.Linear(self.hidden_size, 1)
        with torch.no_grad():
            self.gate.weight.zero_()
            self.gate.bias.zero_()

    @property
    def config(self) -> dict[str, Any]:
        """Constructor arguments, JSON-serialisable."""
        return {**super().config, **self.plastic_init}

    @property
    def _map_size(self) -> int:
        return self.n_actions * self.obs_dim

    def initial_state(self, batch: int) -> Hidden:
        """Zero state ``(h, F, E, [z_prev, mean_prev, expected feedback])`` for ``batch`` sessions, each ``(1, batch, .)``."""
        h = super().initial_state(batch)
        zeros = h.new_zeros
        return (h, zeros(1, batch, self._map_size), zeros(1, batch, self._map_size),
                zeros(1, batch, self.obs_dim + self.n_actions + 1))

    def _unsquash(self, action: torch.Tensor) -> torch.Tensor:
        """Return the Gaussian draw ``u`` behind a velocity sent into the box (``tanh`` inverted)."""
        if self.squash != "tanh":
            return action
        unit = 2.0 * (action - self.action_low) / (self.action_high - self.action_low) - 1.0
        return torch.atanh(unit.clamp(-1.0 + 1e-6, 1.0 - 1e-6))

    def _advance(self, x: torch.Tensor, state: Hidden) -> tuple[torch.Tensor, torch.Tensor, Hidden]:
        """One bin: ``x`` ``(batch, input)`` -> policy output, value, new state."""
        h, fast, trace, prev = state
        k, n = self.obs_dim, self.n_actions
        z, a_prev, r_prev = x[:, :k], x[:, k:k + n], x[:, -1]
        z_prev, mean_prev, expected = prev[0, :, :k], prev[0, :, k:k + n], prev[0, :, -1]
        b = x.shape[0]
        perturbation = (self._unsquash(a_prev) - mean_prev)[:, :, None] * z_prev[:, None, :]
        lam = torch.sigmoid(self.logit_trace)
        trace = lam * trace[0] + perturbation.reshape(b, -1)
        out, h = self.core(x.unsqueeze(0), h)
        hv = out[0]
        gate = 2.0 * torch.sigmoid(self.gate(hv)).squeeze(-1)
        evaluated = r_prev.abs()
        surprise = r_prev - (expected + self.baseline) * evaluated
        expected = expected + torch.sigmoid(self.logit_expect) * evaluated * (r_prev - expected)
        modulation = self.log_eta.exp() * gate * surprise
        fast = (1.0 - torch.sigmoid(self.logit_decay)) * fast[0] + modulation[:, None] * trace
        head = self.policy_head(hv)
        mean = self.log_gain.exp() * torch.bmm(fast.view(b, n, k), z[:, :, None]).squeeze(-1)
        mean = _MEAN_LIMIT * torch.tanh((mean + head[:, :n]) / _MEAN_LIMIT)
        policy = torch.cat([mean, head[:, n:]], dim=-1)
        new_prev = torch.cat([z, mean, expected[:, None]], dim=-1)
        state = (h, fast[None], trace[None], new_prev[None])
        return policy, self.value_head(hv).squeeze(-1), state

    def step(self, x: torch.Tensor, h: Hidden) -> tuple[torch.Tensor, torch.Tensor, Hidden]:
        """One bin: ``x`` of shape ``(batch, input)`` -> ``(policy output, value, state)``."""
        return self._advance(x, h)

    def forward(self, x: torch.Tensor, h: Hidden | None = None,
                keep: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, Hidden]:
        """Run a time-major ``(time, batch, input)`` sequence (``keep`` as in the parent class)."""
        if h is None:
            h = self.initial_state(x.shape[1])
        outs, values = [], []
        for t in range(x.shape[0]):
            out, value, new = self._advance(x[t], h)
            if keep is not None:
                k = keep[t].to(out.dtype)[None, :, None]
                new = tuple(k * a + (1 - k) * b for a, b in zip(new, h))
            h = new
            outs.append(out)
            values.append(value)
        return torch.stack(outs), torch.stack(values), h
