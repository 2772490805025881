r"""A2C fine-tuning of the amortised-inference GRU from the environment's reward (kickstarting).

:func:`~cogmodels.agents.decoders.amortised_map.distil` trains an
:class:`~cogmodels.agents.decoders.amortised_map.AmortisedMapNet` by imitating a Bayesian
learner. Here the package's A2C (:func:`cogmodels.agents.a2c.a2c_loss`) trains the same network
further on the task's own reward — success plus the decoded error signal, what the decoder
reads — so that it is no longer bounded by its teacher, while a distillation term keeps it near
the teacher's inference (kickstarting; Schmitt et al. 2018):

.. math::

    L = L_{\mathrm{A2C}}(\theta) + \beta\, \mathrm{KL}\big(p^{\mathrm{teacher}}_t \,\|\, \pi_\theta(\cdot \mid h_t)\big)
        + \beta_e\, \mathrm{BCE}\big(e^{\mathrm{teacher}}_t, \ell_\theta(h_t)\big)

The policy is the network's ``"posterior"`` head read as a distribution over the teacher's
72 hypotheses: after each chunk of :data:`~cogmodels.agents.decoders.amortised_map.CHUNK_BINS`
bins a lane draws a hypothesis ``j ~ \pi_\theta(\cdot \mid h_t)`` and sends ``\tanh(M_j z)``
over the next chunk (``readout="sample"``); the training signal of step ``t`` is the reward
summed over that chunk. Chunks where the lane explores do not use the drawn map and carry no
policy gradient for it. The explore-or-exploit decision, taken at the channel's evaluation
interval from the exploration logit ``\ell_t``, is either kept as in play (``logit > 0``,
trained by the distillation term only) or, with ``learn_explore``, drawn ``e \sim
\mathrm{Bernoulli}(\sigma(\ell_t))`` and scored too, so that A2C also learns when to stop
exploring — the decision the teacher takes by a fixed confidence threshold:

.. math::

    \log \pi(a_t \mid h_t) = d_{t+1} \log \mathrm{Bernoulli}(e_{t+1}; \sigma(\ell_t))
        + (1 - e_{t+1}) \log \pi_\theta(j_t \mid h_t)

with ``d_{t+1}`` whether chunk ``t + 1`` starts an evaluation interval (a decision) and
``e_{t+1}`` whether the lane explored during it. The critic is a linear read-out of the GRU's state,
detached from it, so only the policy gradient and the distillation term change the network.
``\beta = 0`` is plain A2C from the imitation start. Played afterwards with frozen weights, as
before (the posterior's local mean).

The teacher shadows the network on the same inputs
(:meth:`~cogmodels.agents.decoders.map_inference.ErrorMapInference.sent`), as in DAgger's later
rounds; it reads nothing the network does not.

References
----------
- Schmitt, S., Hudson, J. J., Zidek, A., et al. (2018). Kickstarting deep reinforcement
  learning. arXiv:1803.03835.
- Mnih, V., et al. (2016). Asynchronous methods for deep reinforcement learning. ICML. (A2C.)
- Wang, J. X., et al. (2018). Prefrontal cortex as a meta-reinforcement learning system.
  Nat Neurosci 21, 860–868.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from cogmodels._threads import torch_threads
from cogmodels.agents.a2c import a2c_loss
from cogmodels.agents.decoders.amortised_map import AmortisedMapNet, _record_batch, imitation_loss
from cogmodels.agents.decoders.meta_rnn import MetaDecoderConfig
from cogmodels.agents.rollout_buffer import RolloutBuffer
from cogmodels.progress import progress_bar
from cogmodels.validation import check_int, check_number

__all__ = ["MapActorCritic", "finetune", "rollout_buffer"]

_KEYS = ("x", "posterior", "explore", "choice", "explored", "decided", "reward")


class MapActorCritic(nn.Module):
    """An :class:`AmortisedMapNet` with a ``"posterior"`` head as the recurrent policy of A2C.

    The interface :func:`~cogmodels.agents.a2c.a2c_loss` reads: ``forward`` over a time-major
    sequence returns the policy output (the head's log-probabilities and the exploration logit),
    the critic's values and the state; :meth:`log_prob_entropy` scores the actions.
    """

    def __init__(self, net: AmortisedMapNet) -> None:
        super().__init__()
        if net.head != "posterior":
            raise ValueError(f"net must have a 'posterior' head, got head={net.head!r}")
        self.net = net
        self.value = nn.Linear(net.hidden_size, 1)
        nn.init.zeros_(self.value.weight)
        nn.init.zeros_(self.value.bias)

    def forward(self, inputs: torch.Tensor, h0: torch.Tensor | None = None,
                alive: torch.Tensor | None = None
                ) -> tuple[tuple[torch.Tensor, torch.Tensor], torch.Tensor, torch.Tensor]:
        """Run over ``inputs`` ``(T, B, input_size)``: ((log-probabilities, logits), values ``(T, B)``, state)."""
        out, h = self.net.gru(inputs.transpose(0, 1), h0)
        logp, logit = self.net.read(out)
        values = self.value(out.detach()).squeeze(-1)
        return (logp.transpose(0, 1), logit.transpose(0, 1)), values.transpose(0, 1), h

    @staticmethod
    def log_prob_entropy(out: tuple[torch.Tensor, torch.Tensor], actions: torch.Tensor
                         ) -> tuple[torch.Tensor, torch.Tensor]:
        """``log pi(a_t)`` and the policy's entropy ``(T, B)`` (module docstring).

        ``actions`` ``(T, B, 3)``: the drawn hypothesis ``j_t`` (``-1`` where the lane explored:
        no term for the map), whether the lane explored ``e_{t+1}`` and whether that was a
        decision to score ``d_{t+1}`` (all 0 when the decisions were not drawn).
        """
        logp, logit = out
        choice, explored, decided = actions.unbind(-1)
        used = (choice >= 0).to(logp.dtype)
        chosen = logp.gather(-1, choice.clamp_min(0)[..., None]).squeeze(-1)
        log_prob, entropy = chosen * used, -(logp.exp() * logp).sum(-1) * used
        if decided.any():
            d = decided.to(logp.dtype)
            e = explored.to(logp.dtype)
            up, down = nn.functional.logsigmoid(logit), nn.functional.logsigmoid(-logit)
            log_prob = log_prob + d * (e * up + (1.0 - e) * down)
            entropy = entropy - d * (up.exp() * up + down.exp() * down)
        return log_prob, entropy


def rollout_buffer(rec: dict[str, np.ndarray], learn_explore: bool = False
                   ) -> tuple[RolloutBuffer, dict[str, torch.Tensor]]:
    """Turn recorded chunks into an A2C rollout and the teacher's targets.

    ``rec``: :func:`~cogmodels.agents.decoders.amortised_map.record_sessions` with a ``student``
    and ``readout="sample"``. Step ``t`` reads the summary of chunk ``t``; its action is the
    hypothesis drawn after it (``-1`` if the lane explored during chunk ``t + 1``, which ignores
    it), whether the lane explored during chunk ``t + 1`` and, with ``learn_explore`` (the
    decisions were drawn: ``sample_explore``), whether that chunk started with a decision; its
    signal is the reward summed over chunk ``t + 1``. The sequence ends after the last full step
    (no bootstrap).
    """
    x = torch.from_numpy(rec["x"][:, :-1]).transpose(0, 1).contiguous()
    explored = torch.from_numpy(rec["explored"][:, 1:] > 0)
    choice = torch.from_numpy(rec["choice"][:, :-1].astype(np.int64))
    choice[explored] = -1
    decided = torch.from_numpy(rec["decided"][:, 1:] > 0) if learn_explore else torch.zeros_like(explored)
    actions = torch.stack([choice, explored.long(), decided.long()], -1).transpose(0, 1).contiguous()
    signals = torch.from_numpy(rec["reward"][:, 1:].astype(np.float32))
    buffer = RolloutBuffer(inputs=x, actions=actions, signals=signals.T.contiguous(),
                           h0=None, v_boot=torch.zeros(x.shape[1]))
    targets = {"posterior": torch.from_numpy(rec["posterior"][:, :-1]).transpose(0, 1),
               "explore": torch.from_numpy(rec["explore"][:, :-1]).T}
    return buffer, targets


def finetune(net: AmortisedMapNet, config: MetaDecoderConfig | None = None, *, updates: int = 100,
             n_lanes: int = 16, batches: int = 2, first_s: float = 360.0, next_s: float = 120.0,
             kick: float = 1.0, kick_explore: float | None = None, gamma: float = 0.9,
             gae_lambda: float = 0.95, lr: float = 3e-4, value_coef: float = 0.5,
             entropy_coef: float = 0.0, learn_explore: bool = False,
             teacher: dict[str, Any] | None = None, seed: int = 0, jobs: int = 1,
             gap: int | Sequence[int] = 1, progress: bool = True) -> tuple[AmortisedMapNet, pd.DataFrame]:
    """A2C with a distillation term on a copy of ``net`` (module docstring); return it and its history.

    Parameters
    ----------
    net : AmortisedMapNet
        The network to start from (a ``"posterior"`` head; not changed).
    config : MetaDecoderConfig, optional
        The task (``n_components`` 2, ``inputs="error"``: the feedback read is the reward).
    updates : int
        A2C updates; each plays ``batches`` × ``n_lanes`` new training subject-days (a first
        session of ``first_s`` on day ``d``, then ``next_s`` on ``d + gap``, the state carried).
    kick : float
        ``beta``, the weight of the distillation term (0: plain A2C).
    kick_explore : float, optional
        ``beta_e``, the weight of its explore-decision part (default ``kick``; 0 with
        ``learn_explore``: A2C alone decides when to stop exploring while the map read-out is
        kept near the teacher's inference on the states the network now visits).
    gamma, gae_lambda, lr, value_coef, entropy_coef : float
        Discount per chunk, GAE's lambda, Adam's step size, the critic's and the entropy's weights.
    learn_explore : bool
        Draw the explore-or-exploit decisions from the exploration logit and train them by the
        policy gradient too (else ``logit > 0``, trained by the distillation term only).
    teacher : dict, optional
        :class:`~cogmodels.agents.decoders.map_inference.ErrorMapInference` arguments.
    seed : int
        The training subjects and the draws (a stream apart from DAgger's and held-out seeds).
    jobs : int
        Processes playing the batches (the result does not depend on it).
    gap : int or sequence of int
        Days between a sequence's two sessions, or gaps each subject draws one of
        (:func:`~cogmodels.agents.decoders.amortised_map.record_sessions`; a network with
        ``gap_input`` reads it and its teacher diffuses its posterior over it).
    progress : bool
        A progress bar over the updates.

    Returns
    -------
    net : AmortisedMapNet
        The fine-tuned network (eval mode).
    history : pandas.DataFrame
        One row per update: ``update``, ``reward_per_chunk`` (the signal's mean),
        ``explore_share`` (of the chunks played), ``policy_loss``, ``value_loss``, ``entropy``,
        ``kl``, ``explore_bce``, ``play_cpu_s``, ``fit_cpu_s``, ``wall_s``.
    """
    config = MetaDecoderConfig(n_components=2) if config is None else config
    if config.n_components != 2 or config.inputs != "error":
        raise ValueError("config must have n_components=2 and inputs='error', got "
                         f"n_components={config.n_components!r}, inputs={config.inputs!r}")
    updates = check_int("updates", updates, 1)
    batches = check_int("batches", batches, 1)
    kick = check_number("kick", kick, 0.0)
    kick_explore = kick if kick_explore is None else check_number("kick_explore", kick_explore, 0.0)
    seed = check_int("seed", seed, 0)
    jobs = check_int("jobs", jobs, 1)
    model = MapActorCritic(copy.deepcopy(net))
    torch_seed, *_ = np.random.SeedSequence([seed, 3]).generate_state(1)
    rows = []
    with torch_threads(config.threads):
        torch.manual_seed(int(torch_seed))
        opt = torch.optim.Adam(model.parameters(), lr=check_number("lr", lr, 0.0, low_open=True))
        pool = ProcessPoolExecutor(jobs) if jobs > 1 else None
        bar = progress_bar(progress, total=updates, desc="A2C updates")
        for u in range(updates):
            w0 = time.perf_counter()
            model.eval()
            seeds = [int(np.random.SeedSequence([seed, 4, u, b]).generate_state(1)[0]) for b in range(batches)]
            play = partial(_record_batch, config, n_lanes=n_lanes, first_s=first_s, next_s=next_s,
                           student=model.net, readout="sample", sample_explore=learn_explore,
                           teacher=teacher, keys=_KEYS, gap=gap)
            recs = list(map(play, seeds) if pool is None else pool.map(play, seeds))
            rec = {k: np.concatenate([r[k] for r, _ in recs]) for k in _KEYS}
            buffer, targets = rollout_buffer(rec, learn_explore)
            model.train()
            t0 = time.process_time()
            loss, parts = a2c_loss(model, buffer, gamma=gamma, gae_lambda=gae_lambda,
                                   value_coef=value_coef, entropy_coef=entropy_coef,
                                   normalize_advantages=True)
            (logp, logit), _, _ = model(buffer.inputs)
            kl, bce = imitation_loss("posterior", logp, logit, targets)
            opt.zero_grad()
            # one weight: beta (KL + BCE) as before this option existed (the same float rounding)
            distil = kick * (kl + bce) if kick_explore == kick else kick * kl + kick_explore * bce
            (loss + distil).backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            rows.append({"update": u, "reward_per_chunk": float(buffer.signals.mean()),
                         "explore_share": float(rec["explored"].mean()),
                         **{k: float(v) for k, v in parts.items()}, "kl": float(kl.detach()),
                         "explore_bce": float(bce.detach()), "play_cpu_s": sum(c for _, c in recs),
                         "fit_cpu_s": time.process_time() - t0, "wall_s": time.perf_counter() - w0})
            bar.update()
        bar.close()
        if pool is not None:
            pool.shutdown()
    model.net.eval()
    return model.net, pd.DataFrame(rows)
