"""Recurrent actor-critic policies for meta-reinforcement learning.

A :class:`RecurrentPolicy` reads, on every trial, the task observation together with the one-hot
previous action and the previous reward, ``x_t = [o_t, onehot(a_{t-1}), r_{t-1}]`` (zeros on the
first trial), updates its hidden state ``h_t = f(x_t, h_{t-1})`` with an Elman RNN, GRU (Cho et al.
2014) or LSTM (Hochreiter & Schmidhuber 1997) cell, and outputs policy logits ``W_π h_t`` and a
state value ``w_v·h_t``. With continuous actions (``action_kind="gaussian"``, e.g. a BCI
decoder's cursor velocity) the previous action is read as a vector and the policy is a Gaussian
``N(mu(h_t), diag sigma^2)`` squashed or clipped into the task's box. Trained across many sessions (:mod:`cogmodels.agents.a2c`), the weights
are frozen and the hidden-state dynamics carry out the within-session learning (Wang et al. 2018,
Nat Neurosci; Duan et al. 2016, arXiv:1611.02779).

Saving writes ``weights.pt`` (a ``state_dict`` through :func:`torch.save`) and ``config.json``;
loading reads the JSON and ``torch.load(..., weights_only=True)``, so nothing unpickles arbitrary
objects.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from cogmodels.agents.bandit_baselines import SessionPolicy
from cogmodels.agents.checkpoint import (
    load_json,
    load_tensors,
    save_tensors,
    short_error,
    write_text,
)
from cogmodels.agents.saving import subclasses_by_name
from cogmodels.validation import check_bool, check_choice, check_int, check_number, int_seed

__all__ = ["ACTION_KINDS", "CELLS", "RecurrentAgent", "RecurrentPolicy", "RecurrentRolloutAgent"]

CELLS = ("rnn", "gru", "lstm")
#: the policy's action distributions: a softmax over discrete actions, a Gaussian in a box
ACTION_KINDS = ("discrete", "gaussian")
SQUASHES = ("tanh", "clip")
LOG_STDS = ("parameter", "state")
#: bounds of log sigma, so that a runaway read-out never gives a zero or infinite spread
LOG_STD_RANGE = (-5.0, 2.0)
_CORES = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}

Hidden = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


def _check_box(low: Any, high: Any, n: int) -> tuple[list[float], list[float]]:
    """Return the bounds of a box of ``n`` dimensions as lists (finite, ``low < high``)."""
    try:
        lo = np.broadcast_to(np.asarray(low, dtype=float), (n,))
        hi = np.broadcast_to(np.asarray(high, dtype=float), (n,))
        ok = bool(np.isfinite(lo).all() and np.isfinite(hi).all() and (lo < hi).all())
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(
            f"action_low and action_high must be finite bounds with low < high, {n} of each (or "
            f"one number each), for Gaussian actions; got action_low={low!r}, action_high={high!r}"
        )
    return lo.tolist(), hi.tolist()


class RecurrentPolicy(nn.Module):
    """Recurrent actor-critic: ``[obs, prev action, prev reward]`` -> (policy output, value).

    Parameters
    ----------
    n_actions : int, default 2
        Discrete actions: their number (2 for the two-armed bandit). Gaussian actions: the
        action's dimension (2 for a cursor velocity).
    obs_dim : int, default 1
        Size of the task observation (1 for the bandit's constant ``[1.0]``).
    hidden_size : int, default 64
        Units of the recurrent cell.
    cell : {"gru", "rnn", "lstm"}
        ``"gru"`` (default), ``"rnn"`` (tanh Elman) or ``"lstm"``.
    action_kind : {"discrete", "gaussian"}
        ``"discrete"`` (default): a softmax over ``n_actions`` logits, the previous action read
        one-hot. ``"gaussian"``: ``u ~ N(mu(h), diag(sigma^2))`` in ``R^n_actions``, mapped
        into the box ``[action_low, action_high]`` by ``squash``; the previous action is read
        as the vector the task received.
    action_low, action_high : sequence of float, optional
        The box of Gaussian actions (the task's ``Box`` bounds; finite, ``low < high``).
    squash : {"tanh", "clip"}
        Gaussian actions: ``a = low + (tanh(u) + 1)(high - low) / 2`` with the change of
        variables in the log-density (Haarnoja et al. 2018, ICML, appendix C), or
        ``a = clip(u, low, high)`` with the log-density of ``u`` (Stable-Baselines3's default).
    log_std : {"parameter", "state"}
        Gaussian actions: ``log sigma`` a learnt vector independent of the state (A3C's and
        SB3's default), or a second linear read-out of the hidden state.
    log_std_init : float, default -0.5
        The initial ``log sigma`` (the read-out's bias with ``log_std="state"``).

    Notes
    -----
    The input size is ``obs_dim + n_actions + 1``. Shapes: :meth:`step` takes ``(batch, input)``,
    :meth:`forward` a time-major ``(time, batch, input)`` sequence; the hidden state is a
    ``(1, batch, hidden)`` tensor, a pair of them for the LSTM. The policy output is the logits
    (discrete) or ``[mu, log sigma]`` (Gaussian); :meth:`log_prob_entropy`, :meth:`sample` and
    :meth:`env_action` read it. The Gaussian's entropy is that of ``u`` (with ``tanh`` the
    squashed action's has no closed form; SB3 does the same).
    """

    def __init__(
        self,
        n_actions: int = 2,
        obs_dim: int = 1,
        hidden_size: int = 64,
        cell: str = "gru",
        *,
        action_kind: str = "discrete",
        action_low: Any = None,
        action_high: Any = None,
        squash: str = "tanh",
        log_std: str = "parameter",
        log_std_init: float = -0.5,
    ) -> None:
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {list(CELLS)}, got {cell!r}")
        self.action_kind = check_choice("action_kind", action_kind, ACTION_KINDS)
        gaussian = self.action_kind == "gaussian"
        self.n_actions = check_int("n_actions", n_actions, 1 if gaussian else 2)
        self.obs_dim = check_int("obs_dim", obs_dim, 0)
        self.hidden_size = check_int("hidden_size", hidden_size, 1)
        self.cell = cell
        self.input_size = self.obs_dim + self.n_actions + 1
        self.core = _CORES[cell](self.input_size, self.hidden_size)
        self.squash = check_choice("squash", squash, SQUASHES)
        self.log_std_kind = check_choice("log_std", log_std, LOG_STDS)
        self.log_std_init = check_number("log_std_init", log_std_init, -20.0, 5.0)
        n_out = self.n_actions * (2 if gaussian and self.log_std_kind == "state" else 1)
        self.policy_head = nn.Linear(self.hidden_size, n_out)
        self.value_head = nn.Linear(self.hidden_size, 1)
        with torch.no_grad():  # small initial logits / means: start near the uniform policy
            self.policy_head.weight.mul_(0.1)
            self.policy_head.bias.zero_()
            if gaussian and self.log_std_kind == "state":
                self.policy_head.bias[self.n_actions:] = self.log_std_init
        if gaussian:
            low, high = _check_box(action_low, action_high, self.n_actions)
            self.register_buffer("action_low", torch.tensor(low, dtype=torch.float32))
            self.register_buffer("action_high", torch.tensor(high, dtype=torch.float32))
            if self.log_std_kind == "parameter":
                self.log_std = nn.Parameter(torch.full((self.n_actions,), self.log_std_init))
        elif action_low is not None or action_high is not None:
            raise ValueError("action_low and action_high are for action_kind='gaussian' only, "
                             f"got action_low={action_low!r}, action_high={action_high!r}")

    # -- configuration and persistence ----------------------------------------------------------
    @property
    def config(self) -> dict[str, Any]:
        """Constructor arguments, JSON-serialisable (Gaussian settings only for Gaussian actions)."""
        cfg: dict[str, Any] = {
            "n_actions": self.n_actions,
            "obs_dim": self.obs_dim,
            "hidden_size": self.hidden_size,
            "cell": self.cell,
        }
        if self.action_kind == "gaussian":
            cfg.update(action_kind="gaussian", action_low=self.action_low.tolist(),
                       action_high=self.action_high.tolist(), squash=self.squash,
                       log_std=self.log_std_kind, log_std_init=self.log_std_init)
        return cfg

    def save(self, path_dir: str | os.PathLike) -> Path:
        """Write ``weights.pt`` (state_dict) and ``config.json`` into ``path_dir``; return it."""
        d = Path(path_dir)
        d.mkdir(parents=True, exist_ok=True)
        save_tensors(self.state_dict(), d / "weights.pt")
        write_text(d / "config.json", json.dumps({"class": type(self).__name__, **self.config}, indent=2))
        return d

    @classmethod
    def load(cls, path_dir: str | os.PathLike) -> RecurrentPolicy:
        """Rebuild a policy saved by :meth:`save` (``torch.load(weights_only=True)``)."""
        d, writer = Path(path_dir), f"{cls.__name__}.save"
        if not (d / "config.json").is_file() or not (d / "weights.pt").is_file():
            raise ValueError(
                f"path_dir must be a folder written by {writer} holding config.json and "
                f"weights.pt, got {str(d)!r}"
            )
        cfg = load_json(d / "config.json", writer)
        saved = cfg.pop("class", "RecurrentPolicy") if isinstance(cfg, dict) else None
        # "RecurrentPolicy": also a subclass saved before the class was named by its own name
        if saved != cls.__name__ and saved != "RecurrentPolicy":
            hint = f": load it with {saved}.load" if saved in subclasses_by_name(RecurrentPolicy) else ""
            raise ValueError(
                f"{d / 'config.json'}: must be a cogmodels {cls.__name__} config (written by "
                f"{writer}), got {saved!r:.60}{hint}"
            )
        try:
            model = cls(**cfg)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{d / 'config.json'}: not a valid {cls.__name__} config ({exc})") from None
        state = load_tensors(d / "weights.pt", writer)
        try:
            model.load_state_dict(state)
        except (RuntimeError, TypeError, AttributeError, KeyError) as exc:
            raise ValueError(
                f"{d / 'weights.pt'}: not a cogmodels checkpoint of the network that config.json "
                f"describes ({short_error(exc)}); load only folders written by {writer}"
            ) from None
        return model

    # -- dynamics ---------------------------------------------------------------------------------
    def initial_state(self, batch: int) -> Hidden:
        """Zero hidden state for ``batch`` sessions."""
        batch = check_int("batch", batch, 1)
        p = self.policy_head.weight
        h = torch.zeros(1, batch, self.hidden_size, dtype=p.dtype, device=p.device)
        return (h, torch.zeros_like(h)) if self.cell == "lstm" else h

    def make_input(
        self,
        obs: torch.Tensor | np.ndarray,
        prev_action: torch.Tensor | np.ndarray | None,
        prev_reward: torch.Tensor | np.ndarray | None,
    ) -> torch.Tensor:
        """``(batch, input)`` input ``[obs, prev action, prev_reward]``.

        The previous action is read one-hot (discrete; a negative action marks a session without
        a previous trial) or as the ``(batch, n_actions)`` vector the task received (Gaussian).
        ``prev_action=None`` (the first trial) gives zeros for the action and the reward.
        """
        obs = torch.as_tensor(obs, dtype=torch.float32)
        if obs.ndim == 1:
            obs = obs[:, None]
        if obs.shape[1] != self.obs_dim:
            raise ValueError(f"obs must have {self.obs_dim} features, got shape {tuple(obs.shape)}")
        b = obs.shape[0]
        x = torch.zeros(b, self.input_size)
        x[:, : self.obs_dim] = obs
        if prev_action is None:
            return x
        if self.action_kind == "gaussian":
            x[:, self.obs_dim : self.obs_dim + self.n_actions] = torch.as_tensor(
                prev_action, dtype=torch.float32).reshape(b, self.n_actions)
            x[:, -1] = torch.as_tensor(prev_reward, dtype=torch.float32)
            return x
        a = torch.as_tensor(prev_action, dtype=torch.long)
        valid = a >= 0
        x[valid, self.obs_dim + a[valid]] = 1.0
        x[:, -1] = torch.where(valid, torch.as_tensor(prev_reward, dtype=torch.float32), 0.0)
        return x

    def write_prev(self, x: torch.Tensor, env_action: torch.Tensor, reward: torch.Tensor) -> None:
        """Write the previous step's action and reward into the input ``x`` in place.

        ``env_action`` is the action index ``(batch,)`` (discrete; read one-hot) or the
        ``(batch, n_actions)`` vector the task received (Gaussian).
        """
        if self.action_kind == "gaussian":
            x[:, self.obs_dim : self.obs_dim + self.n_actions] = env_action
        else:
            x[torch.arange(x.shape[0]), self.obs_dim + env_action] = 1.0
        x[:, -1] = reward

    def step(self, x: torch.Tensor, h: Hidden) -> tuple[torch.Tensor, torch.Tensor, Hidden]:
        """One trial: ``x`` of shape ``(batch, input)`` -> ``(logits, value, h)``."""
        out, h = self.core(x.unsqueeze(0), h)
        out = out.squeeze(0)
        return self.policy_head(out), self.value_head(out).squeeze(-1), h

    def forward(
        self, x: torch.Tensor, h: Hidden | None = None, keep: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, Hidden]:
        """Run a time-major sequence ``(time, batch, input)`` through the network.

        ``keep`` (``(time, batch)``, 1 or 0) masks the recurrent state: before step ``t`` the
        state of a lane with ``keep[t] = 0`` is held (its session has ended, the step is padding),
        ``h_t = keep_t f(x_t, h_{t-1}) + (1 - keep_t) h_{t-1}``; ``None``: every step counts.

        Returns the policy output ``(time, batch, .)``, values ``(time, batch)`` and the final
        hidden state.
        """
        if h is None:
            h = self.initial_state(x.shape[1])
        if keep is None:
            out, h = self.core(x, h)
        else:
            outs = []
            for t in range(x.shape[0]):
                o, h_new = self.core(x[t : t + 1], h)
                k = keep[t].to(o.dtype)[None, :, None]
                h = (tuple(k * a + (1 - k) * b for a, b in zip(h_new, h)) if isinstance(h, tuple)
                     else k * h_new + (1 - k) * h)
                outs.append(o)
            out = torch.cat(outs)
        return self.policy_head(out), self.value_head(out).squeeze(-1), h

    # -- the action distribution --------------------------------------------------------------
    def _gaussian(self, out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(mu, log sigma)`` of the Gaussian from the policy output."""
        n = self.n_actions
        log_std = out[..., n:] if self.log_std_kind == "state" else self.log_std.expand_as(out)
        return out[..., :n], log_std.clamp(*LOG_STD_RANGE)

    def log_prob_entropy(
        self, out: torch.Tensor, raw: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return the log-probabilities of the drawn actions, the entropies and the log-probs' table.

        Parameters
        ----------
        out : torch.Tensor
            The policy output, ``(..., .)``.
        raw : torch.Tensor
            The drawn actions before the map into the box (:meth:`sample`'s first output):
            indices ``(...)`` or Gaussian draws ``(..., n_actions)``.

        Returns
        -------
        log_prob, entropy : torch.Tensor
            ``log pi(a | h)`` and the entropy, ``(...)``; with ``squash="tanh"`` the
            log-density of the action in the box, ``log N(u; mu, sigma) - sum log((1 -
            tanh(u)^2)(high - low) / 2)``.
        """
        if self.action_kind == "discrete":
            logp_all = torch.log_softmax(out, dim=-1)
            logp = logp_all.gather(-1, raw.unsqueeze(-1)).squeeze(-1)
            return logp, -(logp_all.exp() * logp_all).sum(-1)
        mu, log_std = self._gaussian(out)
        z = (raw - mu) / log_std.exp()
        logp = (-0.5 * z.pow(2) - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        if self.squash == "tanh":
            half = (self.action_high - self.action_low) / 2
            # log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u)), numerically stable
            logp = logp - (2 * (math.log(2) - raw - nn.functional.softplus(-2 * raw))
                           + half.log()).sum(-1)
        entropy = (log_std + 0.5 * math.log(2 * math.pi * math.e)).sum(-1)
        return logp, entropy

    def sample(self, out: torch.Tensor, gen: torch.Generator, greedy: bool = False) -> torch.Tensor:
        """Draw one action per row of the policy output ``out`` ``(batch, .)`` with ``gen``.

        Discrete: the index, by inverting the softmax's CDF with one uniform per row (argmax when
        ``greedy``). Gaussian: ``u = mu + sigma eps`` (``mu`` when ``greedy``), before the map into
        the box (:meth:`env_action`).
        """
        if self.action_kind == "discrete":
            if greedy:
                return out.argmax(dim=-1)
            p = torch.softmax(out, dim=-1)
            u = torch.rand(p.shape[0], generator=gen)
            if p.shape[1] == 2:
                return (u >= p[:, 0]).long()
            return (u[:, None] >= p.cumsum(-1)).sum(-1).clamp_(max=p.shape[1] - 1)
        mu, log_std = self._gaussian(out)
        if greedy:
            return mu
        return mu + log_std.exp() * torch.randn(mu.shape, generator=gen)

    def env_action(self, raw: torch.Tensor) -> torch.Tensor:
        """Map drawn actions into the task's action space (Gaussian: squash or clip into the box)."""
        if self.action_kind == "discrete":
            return raw
        if self.squash == "tanh":
            return self.action_low + (torch.tanh(raw) + 1) * (self.action_high - self.action_low) / 2
        return torch.maximum(torch.minimum(raw, self.action_high), self.action_low)

    def as_agent(self, *, greedy: bool = False) -> RecurrentRolloutAgent:
        """Return the frozen network as an :class:`~cogmodels.agent.Agent` for :func:`~cogmodels.rollout.rollout`.

        Parameters
        ----------
        greedy : bool, default False
            Take the most probable action (the Gaussian's mean) instead of sampling.

        Returns
        -------
        agent : RecurrentRolloutAgent
        """
        return RecurrentRolloutAgent(self, greedy=greedy)

    def as_session_policy(self, greedy: bool = True) -> RecurrentAgent:
        """Return the network as a :class:`~cogmodels.agents.bandit_baselines.SessionPolicy`."""
        if self.action_kind != "discrete":
            raise ValueError(f"as_session_policy needs discrete actions, got action_kind={self.action_kind!r}")
        return RecurrentAgent(self, greedy=greedy)


class RecurrentAgent(SessionPolicy):
    """Play sessions with a frozen :class:`RecurrentPolicy` (for :func:`bandit_baselines.evaluate`).

    ``greedy=True`` takes the most probable action (ties to the lower index); ``greedy=False``
    samples from the softmax policy with the numpy generator handed to :meth:`choose`.
    """

    def __init__(self, model: RecurrentPolicy, greedy: bool = True) -> None:
        if not isinstance(model, RecurrentPolicy):
            raise TypeError(f"model must be a RecurrentPolicy, got {type(model).__name__}")
        self.model = model
        self.greedy = bool(greedy)
        self.name = f"{model.cell}{model.hidden_size}-{'greedy' if greedy else 'sampled'}"

    def start(self, n_sessions: int, n_actions: int) -> None:
        """Begin ``n_sessions`` sessions from the network's initial hidden state."""
        if n_actions != self.model.n_actions:
            raise ValueError(
                f"the network has {self.model.n_actions} actions, the task n_actions={n_actions}"
            )
        self._h = self.model.initial_state(n_sessions)
        self._prev_a: np.ndarray | None = None
        self._prev_r: np.ndarray | None = None

    @torch.no_grad()
    def choose(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Step the network and return one action per session (argmax or sampled)."""
        x = self.model.make_input(obs, self._prev_a, self._prev_r)
        logits, _, self._h = self.model.step(x, self._h)
        if self.greedy:
            return logits.argmax(dim=1).numpy()
        p = torch.softmax(logits.double(), dim=1).numpy()
        u = rng.random(p.shape[0])[:, None]
        return np.minimum((u > np.cumsum(p, axis=1)).sum(axis=1), p.shape[1] - 1)

    def observe(self, actions: np.ndarray, rewards: np.ndarray) -> None:
        """Keep the actions and rewards: the next step's input."""
        self._prev_a = np.asarray(actions)
        self._prev_r = np.asarray(rewards, dtype=np.float32)


class RecurrentRolloutAgent:
    """A frozen :class:`RecurrentPolicy` as an :class:`~cogmodels.agent.Agent`, discrete or Gaussian.

    Each step reads ``[obs, previous action, previous reward]`` (:meth:`RecurrentPolicy.make_input`;
    zeros for the action and reward at the first step), advances the hidden state and draws the
    action with :meth:`RecurrentPolicy.sample` (argmax or the Gaussian's mean when ``greedy``),
    mapped into the task's action space (:meth:`RecurrentPolicy.env_action`). A lane that has
    finished its rollout gets reward 0 as its previous reward, as in the trainer's sessions.

    The draws come from a ``torch.Generator`` seeded once per rollout with
    ``int_seed(rng.bit_generator.seed_seq)``, the root of the generator :func:`~cogmodels.rollout.rollout`
    hands to :meth:`act`: ``rollout(model.as_agent(), env, seed=s)`` draws what
    :meth:`~cogmodels.agents.a2c.A2CTrainer.play` drew with ``seed=s`` before it became this
    rollout.

    Parameters
    ----------
    model : RecurrentPolicy
        The network (not trained further).
    greedy : bool, default False
        Take the most probable action instead of sampling.
    """

    def __init__(self, model: RecurrentPolicy, *, greedy: bool = False) -> None:
        if not isinstance(model, RecurrentPolicy):
            raise TypeError(f"model must be a RecurrentPolicy, got {type(model).__name__}")
        self.model = model
        self.greedy = check_bool("greedy", greedy)
        if model.action_kind == "discrete":
            self.n_actions = model.n_actions  # checked by rollout against the task
        self.name = f"{model.cell}{model.hidden_size}-{'greedy' if self.greedy else 'sampled'}"

    def initial_state(self, n_lanes: int) -> dict[str, Any]:
        """Return ``{"h": zero hidden state, "action": None, "reward": None, "generator": None}``."""
        return {"h": self.model.initial_state(n_lanes), "action": None, "reward": None,
                "generator": None}

    @torch.no_grad()
    def act(self, observation: Any, state: dict[str, Any],
            rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
        """Step the network on ``observation["obs"]`` and return one action per lane."""
        gen = state["generator"]
        if gen is None:
            seq = getattr(rng.bit_generator, "seed_seq", None)
            root = seq if isinstance(seq, np.random.SeedSequence) else int(rng.integers(2**32))
            gen = state["generator"] = torch.Generator().manual_seed(int_seed(root))
        model = self.model
        x = model.make_input(observation["obs"], state["action"], state["reward"])
        out, _, state["h"] = model.step(x, state["h"])
        action = model.env_action(model.sample(out, gen, greedy=self.greedy))
        state["action"] = action
        return action.numpy(), state

    def learn(self, transition: Any) -> dict[str, Any]:
        """Keep the step's rewards (0 where a lane did not step): the next step's input."""
        state = transition.state
        state["reward"] = torch.from_numpy(np.asarray(transition.reward, dtype=np.float32))
        return state

    def __repr__(self) -> str:
        return f"RecurrentRolloutAgent({self.name})"

