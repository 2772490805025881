r"""Rollout collection for recurrent actor-critic training: sessions played in lockstep.

:class:`SessionBatch` plays one batch of sessions of a task on its vector environment, one lane
per session, with a :class:`~cogmodels.agents.rnn.RecurrentPolicy` and without gradients; each
call of :meth:`SessionBatch.collect` returns a :class:`RolloutBuffer` of the next steps (the
network's inputs, the drawn actions, the training signal and, when sessions end at different
steps, the mask of the lanes still in their session). The algorithm (:mod:`cogmodels.agents.a2c`)
re-runs the network over the buffer with gradients; :func:`gae` turns its values into advantages.

Sessions of varying length (a trial lasts until success or a timeout, as in the cursor BCI) end
at different steps across lanes. A lane whose session has ended is padding until the batch ends:
its steps are masked out of the loss (``alive = 0``), its return stops at the end (the value
after the last step is 0) and its recurrent state is held. The batch ends when every session has
(or at ``max_steps``, where the sessions still running are truncated and bootstrapped from their
value).

Generalised advantage estimation with episode ends (Schulman et al. 2016, ICLR):

.. math::

    \delta_t = r_t + \gamma\, m_{t+1} V_{t+1} - V_t, \qquad
    A_t = \delta_t + \gamma \lambda\, m_{t+1} A_{t+1},

where ``m_{t+1}`` is 1 if the lane's session goes on after step ``t`` (else 0); the return
target is ``G_t = A_t + V_t``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from cogmodels.agents.rnn import Hidden, RecurrentPolicy

__all__ = ["RolloutBuffer", "SessionBatch", "gae"]

#: ``signal(reward, env_action, info) -> (batch,) float32 tensor``: what the learner is trained on
Signal = Callable[[torch.Tensor, np.ndarray, dict], torch.Tensor]


@dataclass
class RolloutBuffer:
    """The steps of one rollout over a batch of lanes (time-major).

    Attributes
    ----------
    inputs : torch.Tensor
        ``(T, B, input_size)``: the network's inputs, ``[obs, prev action, prev reward]``.
    actions : torch.Tensor
        ``(T, B)`` action indices or ``(T, B, n_actions)`` Gaussian draws (before the box).
    signals : torch.Tensor
        ``(T, B)``: what the learner is trained on at each step.
    h0 : torch.Tensor or tuple
        The recurrent state before the first step.
    v_boot : torch.Tensor
        ``(B,)``: the value after the last step (0 where the session ended).
    alive : torch.Tensor or None
        ``(T, B)``: 1 where the lane is in its session, 0 for padding after its end; ``None`` when
        every lane is in its session on every step (sessions of fixed length).
    alive_after : torch.Tensor or None
        ``(B,)``: 1 where the session goes on after the last step (with ``alive``).
    """

    inputs: torch.Tensor
    actions: torch.Tensor
    signals: torch.Tensor
    h0: Hidden
    v_boot: torch.Tensor
    alive: torch.Tensor | None = None
    alive_after: torch.Tensor | None = None

    @property
    def n_steps(self) -> int:
        """Steps in the rollout (``T``)."""
        return int(self.inputs.shape[0])


def gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    v_boot: torch.Tensor,
    gamma: float,
    lam: float,
    alive: torch.Tensor | None = None,
    alive_after: torch.Tensor | None = None,
) -> torch.Tensor:
    """Return generalised advantage estimates over a ``(time, batch)`` rollout.

    Parameters
    ----------
    rewards, values : torch.Tensor
        ``(T, B)``: the training signal and the critic's values.
    v_boot : torch.Tensor
        ``(B,)``: the value after the last step (0 where the session ended).
    gamma, lam : float
        Discount and GAE parameter (``lam = 1``: n-step returns).
    alive : torch.Tensor, optional
        ``(T, B)`` mask of the steps inside a session (module docstring); ``None``: no session
        ends inside the rollout.
    alive_after : torch.Tensor, optional
        ``(B,)``: 1 where the session goes on after the last step (needed with ``alive``).

    Returns
    -------
    advantages : torch.Tensor
        ``(T, B)``, ``A_t`` of the module docstring (0 on padding steps).
    """
    T = rewards.shape[0]
    adv = torch.empty_like(rewards)
    nxt = v_boot
    last = torch.zeros_like(v_boot)
    for t in range(T - 1, -1, -1):
        if alive is None:
            delta = rewards[t] + gamma * nxt - values[t]
            last = delta + gamma * lam * last
        else:
            going_on = alive[t + 1] if t + 1 < T else alive_after
            delta = rewards[t] + gamma * going_on * nxt - values[t]
            last = alive[t] * (delta + gamma * lam * going_on * last)
        adv[t] = last
        nxt = values[t]
    return adv


class SessionBatch:
    """One batch of sessions played in lockstep on a vector environment (module docstring).

    Parameters
    ----------
    env : gymnasium.vector.VectorEnv
        The task's vector environment, one lane per session.
    model : RecurrentPolicy
        The network that acts.
    signal : callable
        ``signal(reward, env_action, info)`` -> the ``(B,)`` training signal of the step.
    env_seed, torch_seed : int
        Seeds of the batch: the environment's reset and the generator that draws actions.
    fixed_steps : int or None
        Steps of every session when all end together; ``None`` when they vary.
    max_steps : int or None
        Sessions of varying length: the batch ends at this step at the latest.

    Attributes
    ----------
    total_reward : torch.Tensor
        ``(B,)`` float64: the sampled reward summed over each session so far.
    total_regret : numpy.ndarray or None
        ``(B,)``: the pseudo-regret summed over each session, where the task reports it.
    lengths : numpy.ndarray
        ``(B,)``: steps played in each session so far.
    """

    def __init__(
        self,
        env: Any,
        model: RecurrentPolicy,
        signal: Signal,
        *,
        env_seed: int,
        torch_seed: int,
        fixed_steps: int | None,
        max_steps: int | None = None,
    ) -> None:
        self.env, self.model, self.signal = env, model, signal
        self.fixed_steps, self.max_steps = fixed_steps, max_steps
        self.obs, _ = env.reset(seed=env_seed)
        self.gen = torch.Generator()
        self.gen.manual_seed(torch_seed)
        B = env.num_envs
        self.h = model.initial_state(B)
        self.prev: tuple[torch.Tensor, torch.Tensor] | None = None
        self.total_reward = torch.zeros(B, dtype=torch.float64)
        self.total_regret: np.ndarray | None = np.zeros(B)
        self.lengths = np.zeros(B, dtype=np.int64)
        self.steps = 0
        self._alive = torch.ones(B)

    @property
    def done(self) -> bool:
        """Whether every session of the batch has ended (or ``max_steps`` is reached)."""
        if self.fixed_steps is not None:
            return self.steps >= self.fixed_steps
        return not bool(self._alive.any()) or (self.max_steps is not None and self.steps >= self.max_steps)

    def _input(self) -> torch.Tensor:
        model = self.model
        x = torch.zeros(self.env.num_envs, model.input_size)
        x[:, : model.obs_dim] = torch.from_numpy(np.asarray(self.obs, dtype=np.float32))
        if self.prev is not None:
            model.write_prev(x, *self.prev)
        return x

    @torch.no_grad()
    def collect(self, n_steps: int | None = None) -> RolloutBuffer:
        """Play the next ``n_steps`` steps (``None``: to the end of the batch); return them.

        With sessions of varying length the rollout stops early when every session has ended.
        """
        model, env = self.model, self.env
        h0 = _detach(self.h)
        xs, actions, signals, alive = [], [], [], []
        varying = self.fixed_steps is None
        t = 0
        while not self.done and (n_steps is None or t < n_steps):
            x = self._input()
            out, _, h_new = model.step(x, self.h)
            raw = model.sample(out, self.gen)
            a_env = model.env_action(raw)
            obs, reward, terminated, truncated, info = env.step(a_env.numpy())
            r = torch.from_numpy(np.asarray(reward, dtype=np.float32))
            xs.append(x)
            actions.append(raw)
            if varying:
                keep = self._alive
                alive.append(keep)
                self.h = _hold(h_new, self.h, keep)
                self.total_reward += r * keep
                self.lengths += keep.numpy().astype(np.int64)
                ended = torch.from_numpy(np.asarray(terminated) | np.asarray(truncated))
                self._alive = keep * (~ended).to(keep.dtype)
            else:
                self.h = h_new
                self.total_reward += r
                self.lengths += 1
            if self.total_regret is not None and "regret" in info:
                self.total_regret += np.asarray(info["regret"]) * (alive[-1].numpy() if varying else 1)
            else:
                self.total_regret = None
            signals.append(self.signal(r, a_env.numpy(), info))
            self.obs, self.prev = obs, (a_env, r)
            self.steps += 1
            t += 1
        if self.fixed_steps is not None and self.done or varying and not self._alive.any():
            v_boot = torch.zeros(env.num_envs)
        else:  # the sessions go on (or are truncated at max_steps): bootstrap from their value
            _, v_boot, _ = model.step(self._input(), self.h)
            if varying:
                v_boot = v_boot * self._alive
        return RolloutBuffer(
            inputs=torch.stack(xs), actions=torch.stack(actions), signals=torch.stack(signals),
            h0=h0, v_boot=v_boot, alive=torch.stack(alive) if varying else None,
            alive_after=self._alive.clone() if varying else None,
        )


def _detach(h: Hidden) -> Hidden:
    return tuple(x.detach() for x in h) if isinstance(h, tuple) else h.detach()


def _hold(h_new: Hidden, h_old: Hidden, keep: torch.Tensor) -> Hidden:
    """Return the new recurrent state where ``keep`` is 1, the old one where it is 0."""
    k = keep[None, :, None]
    if isinstance(h_new, tuple):
        return tuple(k * a + (1 - k) * b for a, b in zip(h_new, h_old))
    return k * h_new + (1 - k) * h_old
