"""Recurrent actor-critic policies for meta-reinforcement learning.

A :class:`RecurrentPolicy` reads, on every trial, the task observation together with the one-hot
previous action and the previous reward, ``x_t = [o_t, onehot(a_{t-1}), r_{t-1}]`` (zeros on the
first trial), updates its hidden state ``h_t = f(x_t, h_{t-1})`` with an Elman RNN, GRU (Cho et al.
2014) or LSTM (Hochreiter & Schmidhuber 1997) cell, and outputs policy logits ``W_π h_t`` and a
state value ``w_v·h_t``. Trained across many sessions (:mod:`cogmodels.agents.a2c`), the weights
are frozen and the hidden-state dynamics carry out the within-session learning (Wang et al. 2018,
Nat Neurosci; Duan et al. 2016, arXiv:1611.02779).

Saving writes ``weights.pt`` (a ``state_dict`` through :func:`torch.save`) and ``config.json``;
loading reads the JSON and ``torch.load(..., weights_only=True)``, so nothing unpickles arbitrary
objects.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from cogmodels.agents.bandit_baselines import SessionPolicy
from cogmodels.atomic import atomic_path
from cogmodels.atomic import atomic_write_text as _atomic_write_text
from cogmodels.validation import check_int

__all__ = ["CELLS", "RecurrentAgent", "RecurrentPolicy"]

CELLS = ("rnn", "gru", "lstm")
_CORES = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}

Hidden = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


class RecurrentPolicy(nn.Module):
    """Recurrent actor-critic: ``[obs, onehot(prev action), prev reward]`` -> (logits, value).

    Parameters
    ----------
    n_actions : int, default 2
        Number of discrete actions (2 for the two-armed bandit).
    obs_dim : int, default 1
        Size of the task observation (1 for the bandit's constant ``[1.0]``).
    hidden_size : int, default 64
        Units of the recurrent cell.
    cell : {"gru", "rnn", "lstm"}
        ``"gru"`` (default), ``"rnn"`` (tanh Elman) or ``"lstm"``.

    Notes
    -----
    The input size is ``obs_dim + n_actions + 1``. Shapes: :meth:`step` takes ``(batch, input)``,
    :meth:`forward` a time-major ``(time, batch, input)`` sequence; the hidden state is a
    ``(1, batch, hidden)`` tensor, a pair of them for the LSTM.
    """

    def __init__(
        self, n_actions: int = 2, obs_dim: int = 1, hidden_size: int = 64, cell: str = "gru"
    ) -> None:
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {list(CELLS)}, got {cell!r}")
        self.n_actions = check_int("n_actions", n_actions, 2)
        self.obs_dim = check_int("obs_dim", obs_dim, 0)
        self.hidden_size = check_int("hidden_size", hidden_size, 1)
        self.cell = cell
        self.input_size = self.obs_dim + self.n_actions + 1
        self.core = _CORES[cell](self.input_size, self.hidden_size)
        self.policy_head = nn.Linear(self.hidden_size, self.n_actions)
        self.value_head = nn.Linear(self.hidden_size, 1)
        with torch.no_grad():  # small initial logits: start near the uniform policy
            self.policy_head.weight.mul_(0.1)
            self.policy_head.bias.zero_()

    # -- configuration and persistence ----------------------------------------------------------
    @property
    def config(self) -> dict[str, Any]:
        """Constructor arguments, JSON-serialisable."""
        return {
            "n_actions": self.n_actions,
            "obs_dim": self.obs_dim,
            "hidden_size": self.hidden_size,
            "cell": self.cell,
        }

    def save(self, path_dir: str | os.PathLike) -> Path:
        """Write ``weights.pt`` (state_dict) and ``config.json`` into ``path_dir``; return it."""
        d = Path(path_dir)
        d.mkdir(parents=True, exist_ok=True)
        _atomic_torch_save(self.state_dict(), d / "weights.pt")
        _atomic_write_text(d / "config.json", json.dumps({"class": "RecurrentPolicy", **self.config}, indent=2))
        return d

    @classmethod
    def load(cls, path_dir: str | os.PathLike) -> RecurrentPolicy:
        """Rebuild a policy saved by :meth:`save` (``torch.load(weights_only=True)``)."""
        d = Path(path_dir)
        if not (d / "config.json").is_file() or not (d / "weights.pt").is_file():
            raise ValueError(
                f"path_dir must be a folder written by RecurrentPolicy.save holding config.json and "
                f"weights.pt, got {str(d)!r}"
            )
        cfg = _load_json(d / "config.json", "RecurrentPolicy.save")
        if not isinstance(cfg, dict) or cfg.pop("class", "RecurrentPolicy") != "RecurrentPolicy":
            raise ValueError(
                f"{d / 'config.json'}: not a cogmodels RecurrentPolicy config (written by "
                f"RecurrentPolicy.save); load only folders that RecurrentPolicy.save wrote"
            )
        try:
            model = cls(**cfg)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{d / 'config.json'}: not a valid RecurrentPolicy config ({exc})") from None
        state = _load_checkpoint(d / "weights.pt", "RecurrentPolicy.save")
        try:
            model.load_state_dict(state)
        except (RuntimeError, TypeError, AttributeError, KeyError) as exc:
            raise ValueError(
                f"{d / 'weights.pt'}: not a cogmodels checkpoint of the network that config.json "
                f"describes ({_short_error(exc)}); load only folders written by RecurrentPolicy.save"
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
        """``(batch, input)`` input ``[obs, onehot(prev_action), prev_reward]``.

        ``prev_action=None`` (the first trial) gives zeros for the action and the reward; a
        negative action marks a session without a previous trial.
        """
        obs = torch.as_tensor(obs, dtype=torch.float32)
        if obs.ndim == 1:
            obs = obs[:, None]
        if obs.shape[1] != self.obs_dim:
            raise ValueError(f"obs must have {self.obs_dim} features, got shape {tuple(obs.shape)}")
        b = obs.shape[0]
        x = torch.zeros(b, self.input_size)
        x[:, : self.obs_dim] = obs
        if prev_action is not None:
            a = torch.as_tensor(prev_action, dtype=torch.long)
            valid = a >= 0
            x[valid, self.obs_dim + a[valid]] = 1.0
            x[:, -1] = torch.where(valid, torch.as_tensor(prev_reward, dtype=torch.float32), 0.0)
        return x

    def step(self, x: torch.Tensor, h: Hidden) -> tuple[torch.Tensor, torch.Tensor, Hidden]:
        """One trial: ``x`` of shape ``(batch, input)`` -> ``(logits, value, h)``."""
        out, h = self.core(x.unsqueeze(0), h)
        out = out.squeeze(0)
        return self.policy_head(out), self.value_head(out).squeeze(-1), h

    def forward(
        self, x: torch.Tensor, h: Hidden | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, Hidden]:
        """Run a time-major sequence ``(time, batch, input)`` through the network.

        Returns logits ``(time, batch, actions)``, values ``(time, batch)`` and the final hidden
        state.
        """
        if h is None:
            h = self.initial_state(x.shape[1])
        out, h = self.core(x, h)
        return self.policy_head(out), self.value_head(out).squeeze(-1), h

    def as_session_policy(self, greedy: bool = True) -> RecurrentAgent:
        """Return the network as a :class:`~cogmodels.agents.bandit_baselines.SessionPolicy`."""
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

    def start(self, n_sessions: int, n_arms: int) -> None:
        """Begin ``n_sessions`` sessions from the network's initial hidden state."""
        if n_arms != self.model.n_actions:
            raise ValueError(
                f"the network has {self.model.n_actions} actions, the task n_arms={n_arms}"
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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _short_error(exc: BaseException, n: int = 160) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= n else text[: n - 3] + "..."


def _load_checkpoint(path: Path, writer: str) -> Any:
    """Load a checkpoint with ``torch.load(weights_only=True)``, refusing any other file.

    Any file that is not a cogmodels checkpoint (tampered, foreign, truncated) gets one message
    naming ``path``; never torch's advice to load it with ``weights_only=False``, which would
    run whatever code a tampered file holds.
    """
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError, RuntimeError, EOFError, ... for a foreign file
        reason = ("not a file of plain tensors that torch loads safely" if "weights_only" in str(exc)
                  else _first_line(exc))
        raise ValueError(
            f"{path}: not a cogmodels checkpoint ({reason}); it was refused unread. Load only "
            f"files written by {writer}"
        ) from None


def _load_json(path: Path, writer: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(
            f"{path}: not a cogmodels config ({_first_line(exc)}); load only files written by {writer}"
        ) from None


def _atomic_torch_save(obj: Any, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
