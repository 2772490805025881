r"""A recurrent decoder meta-trained to adapt within a session from the error signal alone.

Meta-reinforcement learning (Wang et al. 2018, Nat Neurosci 21, 860–868; Duan et al. 2016,
arXiv:1611.02779) applied to intracortical decoding: a GRU policy outputs the cursor velocity
from what a deployed decoder has — the spikes, its own previous output and the decoded error
signal — and is trained with the package's A2C (:func:`cogmodels.agents.a2c.a2c_loss` over
:class:`~cogmodels.agents.rollout_buffer.SessionBatch` rollouts) across many simulated subjects
and days of drift. Its weights are then frozen: on a new subject-day it must adapt *within the
session*, in its hidden state, from the feedback it reads.

What the network sees at bin ``t`` (:data:`INPUT_NAMES`, nothing else):

- ``feature_0 … feature_{k-1}``: unsupervised spike features
  (:class:`~cogmodels.agents.spike_features.SpikeFeatures`): the smoothed counts, z-scored and
  projected on their top ``k`` whitened principal components, estimated from this session's
  spikes only (zeros during the first ``calibration_s`` seconds, then re-estimated every
  ``refit_s`` seconds with half-life ``half_life_s``, each new projection Procrustes-aligned
  onto the previous one). Cosine-tuned units put the intended velocity in the leading
  components up to an unknown rotation, reflection and gain — which the network must infer.
- ``prev_velocity_x``, ``prev_velocity_y``: the velocity it sent in the previous bin;
- ``prev_feedback``: the environment's reward of the previous bin, ``r_t = s_t + e_t`` (``s_t =
  1`` on the bin that completes a successful trial, ``e_t \in \{-1, 0, +1\}`` the delivered
  evaluation of the error-signal channel, :mod:`cogmodels.envs.bci.error_signal`). With
  ``inputs="none"`` (the ablation) it is 0: the network then reads spikes and its own output only.

The velocity is read out of the GRU state (``head="linear"``) or, with ``head="plastic"``, as
a fast-weight map of the features held in the recurrent state and changed by the feedback it
reads (:class:`~cogmodels.agents.decoders.plastic_policy.PlasticReadoutPolicy`: with principal
components the unknown map is a rotation, a reflection and a gain, which a state can hold).

Never the target, the cursor, the intended velocity or any label. The training loss is A2C's
on the environment's reward ``r_t`` (the same in the ablation, which is trained from the error
signal but cannot read it), with the realistic channel by default (``error_signal="realistic"``;
``"idealised"`` only as a labelled ablation).

The training distribution: every batch of ``num_envs`` sessions draws new subjects (populations
and drift trajectories, :class:`~cogmodels.envs.bci.vector.CursorBCIVector`) from the batch's
seed and a day in ``[0, max_day]`` per session ("typical" drift), and plays ``session_s``
seconds (long enough to span the adaptation), with truncated backpropagation every
``rollout_len`` bins (the hidden state carried over). Budgets are CPU seconds of one thread
(``clock="cpu"``, the default: comparable on a shared machine) or wall seconds.

Evaluation (:meth:`MetaRNNDecoder.play`) runs held-out subject-days (seeds of another stream)
from a fresh hidden state and fresh spike features, the actions sampled as in training (its
exploration is part of what it learnt); :func:`fresh_kalman_sessions` plays the reference on the
same subjects and days: a steady-state Kalman filter freshly calibrated on a 60 s block of that
day, then driving the cursor.

References
----------
- Wang, J. X., Kurth-Nelson, Z., Kumaran, D., et al. (2018). Prefrontal cortex as a
  meta-reinforcement learning system. Nat Neurosci 21, 860–868.
- Duan, Y., Schulman, J., Chen, X., et al. (2016). RL²: fast reinforcement learning via slow
  reinforcement learning. arXiv:1611.02779.
- Mnih, V., et al. (2016). Asynchronous methods for deep reinforcement learning. ICML.
- Even-Chen, N., et al. (2018). Feasibility of automatic error detect-and-undo system in human
  intracortical brain-computer interfaces. IEEE TBME 65, 1771–1784.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from cogmodels._threads import check_threads, torch_threads
from cogmodels.agents.a2c import a2c_loss
from cogmodels.agents.decoders.plastic_policy import PlasticReadoutPolicy
from cogmodels.agents.rnn import RecurrentPolicy
from cogmodels.agents.rollout_buffer import RolloutBuffer, SessionBatch
from cogmodels.agents.saving import Reader, Saveable, Writer
from cogmodels.agents.schedules import LinearSchedule
from cogmodels.agents.spike_features import SpikeFeatures
from cogmodels.envs.bci.loop import RESULT_KEYS
from cogmodels.envs.bci.realism import REALISM_LEVELS, realism
from cogmodels.envs.bci.vector import CursorBCIVector
from cogmodels.progress import progress_bar
from cogmodels.validation import check_bool, check_choice, check_int, check_number

__all__ = ["CEILING_MOVEMENTS", "CEILING_READOUTS", "CLOCKS", "HEADS", "INPUTS", "MetaDecoderConfig",
           "MetaDecoderEnv", "MetaRNNDecoder", "PRIVILEGED", "TrialRecorder", "fresh_kalman_sessions",
           "input_names", "linear_readout_sessions", "per_minute", "play_policy", "play_sessions",
           "subject_days"]

#: what the network reads besides the spike features and its previous velocity: ``"error"`` the
#: environment's reward (success + error signal), ``"none"`` nothing (the ablation)
INPUTS = ("error", "none")
#: budget clocks: CPU seconds of this process (one torch thread) or wall seconds
CLOCKS = ("cpu", "wall")
#: the velocity read-out: ``"linear"`` a linear map of the GRU state (the plain GRU decoder),
#: ``"plastic"`` a fast-weight map of the features changed by the feedback
#: (:class:`~cogmodels.agents.decoders.plastic_policy.PlasticReadoutPolicy`)
HEADS = ("linear", "plastic")
#: the Gaussian's log standard deviation: a trained vector, or a read-out of the state
LOG_STDS = ("parameter", "state")
#: latents of the environment that a deployed decoder does not have
PRIVILEGED = ("target", "target_radius", "cursor", "intended_velocity", "in_target",
              "movement_error", "trial", "state", "success")
#: subject-days of training and of evaluation come from different seed streams
_TRAIN, _HELD_OUT = 0, 1


def input_names(n_features: int) -> tuple[str, ...]:
    """Return the names of the network's inputs, in order (the module docstring).

    Parameters
    ----------
    n_features : int
        Spike features.

    Returns
    -------
    tuple of str
        ``feature_0 … feature_{k-1}``, ``prev_velocity_x``, ``prev_velocity_y``,
        ``prev_feedback``.
    """
    return (*(f"feature_{i}" for i in range(n_features)), "prev_velocity_x", "prev_velocity_y",
            "prev_feedback")


@dataclass
class MetaDecoderConfig:
    """Settings of :class:`MetaRNNDecoder` (JSON-serialisable).

    Parameters
    ----------
    inputs : str
        One of :data:`INPUTS` (``"none"``: the no-error-input ablation).
    error_signal : str or list of float
        The channel: a preset of :data:`~cogmodels.envs.bci.error_signal.ERROR_SIGNAL_PRESETS`
        (``"realistic"``; ``"idealised"`` only as a labelled ablation) or what
        :func:`~cogmodels.envs.bci.error_signal.make_error_signal` accepts (JSON-serialisable).
    drift : str
        Drift preset of the subjects.
    max_day : int
        Training and held-out days are drawn in ``[0, max_day]``.
    train_pool : int or None
        Training batches cycle over this many batches of subject-days (``num_envs`` each);
        None: new subjects and days every batch (meta-training). 1 with ``max_day=0``: one
        decoder learnt for fixed subjects (a check of the training loop).
    session_s : float
        Seconds per training session.
    env_kwargs : dict
        Further :class:`~cogmodels.envs.bci.vector.CursorBCIVector` arguments (``dt`` 0.05 s).
    realism : str
        The simulator's realism, one of :data:`~cogmodels.envs.bci.realism.REALISM_LEVELS`
        (``"off"``: the plain feedback user every meta-decoder figure before 2026-12-07 used;
        ``"realistic"``: Willett et al.'s user; ``"full"``: all of issue 14 section 1). Its
        user, population and within-session drift are then not ``env_kwargs``.
    n_components : int or None
        Principal components of the spike features (None: every unit, z-scored, no PCA).
    calibration_s, half_life_s, refit_s : float
        The spike features (module docstring).
    num_envs, hidden_size : int
        Sessions per batch; GRU units.
    head : str
        One of :data:`HEADS`: the velocity read-out.
    plastic_lr, trace_decay, map_decay : float
        Initial plasticity rate, eligibility-trace decay per bin and fast-map decay per bin of
        the ``"plastic"`` head (trained further).
    log_std : str
        One of :data:`LOG_STDS`: exploration independent of the state, or read from it (the
        network can then explore less once its map works).
    rollout_len : int
        Bins per update (truncated backpropagation through time).
    gamma, gae_lambda, lr, lr_end, entropy_coef, entropy_coef_end, value_coef, max_grad_norm : float
        A2C (:mod:`cogmodels.agents.a2c`); learning rate and entropy weight decay linearly over
        the budget.
    log_std_init : float
        Initial log standard deviation of the Gaussian (before the ``tanh`` into the box).
    budget_s : float
        Training budget in seconds of ``clock``.
    clock : str
        One of :data:`CLOCKS`.
    seed : int
        Weights, training subjects and action sampling.
    threads : int or None
        torch threads while training and playing (1 by default: the machine is shared).
    """

    inputs: str = "error"
    error_signal: Any = "realistic"
    drift: str = "typical"
    max_day: int = 60
    train_pool: int | None = None
    session_s: float = 120.0
    env_kwargs: dict[str, Any] = field(default_factory=lambda: {"dt": 0.05})
    realism: str = "off"
    n_components: int | None = 4
    calibration_s: float = 5.0
    half_life_s: float = 30.0
    refit_s: float = 10.0
    num_envs: int = 32
    hidden_size: int = 64
    head: str = "linear"
    plastic_lr: float = 0.05
    trace_decay: float = 0.95
    map_decay: float = 1e-3
    log_std: str = "parameter"
    rollout_len: int = 100
    gamma: float = 0.98
    gae_lambda: float = 0.95
    lr: float = 2e-3
    lr_end: float = 2e-4
    entropy_coef: float = 1e-3
    entropy_coef_end: float = 0.0
    value_coef: float = 0.5
    max_grad_norm: float = 1.0
    log_std_init: float = -0.7
    budget_s: float = 300.0
    clock: str = "cpu"
    seed: int = 0
    threads: int | None = 1

    def __post_init__(self) -> None:
        check_choice("inputs", self.inputs, INPUTS)
        check_choice("clock", self.clock, CLOCKS)
        check_choice("realism", self.realism, REALISM_LEVELS)
        check_choice("head", self.head, HEADS)
        check_choice("log_std", self.log_std, LOG_STDS)
        check_number("plastic_lr", self.plastic_lr, 0.0, low_open=True)
        for name in ("trace_decay", "map_decay"):
            check_number(name, getattr(self, name), 0.0, 1.0, low_open=True, high_open=True)
        check_threads("threads", self.threads)
        for name in ("max_day",):
            check_int(name, getattr(self, name), 0)
        if self.train_pool is not None:
            check_int("train_pool", self.train_pool, 1)
        if self.n_components is not None:
            check_int("n_components", self.n_components, 1)
        for name in ("num_envs", "hidden_size", "rollout_len"):
            check_int(name, getattr(self, name), 1)
        check_int("seed", self.seed, 0)
        for name in ("session_s", "calibration_s", "half_life_s", "refit_s", "budget_s", "lr",
                     "lr_end"):
            check_number(name, getattr(self, name), 0.0, low_open=True)
        for name in ("gamma", "gae_lambda"):
            check_number(name, getattr(self, name), 0.0, 1.0)
        for name in ("entropy_coef", "entropy_coef_end", "value_coef", "max_grad_norm"):
            check_number(name, getattr(self, name), 0.0)
        check_number("log_std_init", self.log_std_init, -20.0, 5.0)
        if not isinstance(self.env_kwargs, dict):
            raise TypeError(f"env_kwargs must be a dict, got {type(self.env_kwargs).__name__}")
        clash = sorted(set(self.env_kwargs) & {"num_envs", "n_trials", "drift", "error_signal"})
        if clash:
            raise ValueError(f"env_kwargs must not hold {clash}: they are MetaDecoderConfig fields "
                             "(num_envs, drift, error_signal) or fixed (n_trials)")
        clash = sorted(set(self.env_kwargs) & set(realism(self.realism))) if self.realism != "off" else []
        if clash:
            raise ValueError(f"env_kwargs must not hold {clash} with realism={self.realism!r}, which "
                             "sets them; use realism='off' to give them yourself")

    def make_env(self, num_envs: int) -> CursorBCIVector:
        """Return the task's :class:`~cogmodels.envs.bci.vector.CursorBCIVector` of ``num_envs`` sessions."""
        extra = {} if self.realism == "off" else realism(self.realism)
        return CursorBCIVector(num_envs=num_envs, n_trials=10**6, drift=self.drift,
                               error_signal=self.error_signal, **extra, **self.env_kwargs)

    def to_dict(self) -> dict[str, Any]:
        """Return the settings as a plain dict."""
        return asdict(self)


class MetaDecoderEnv:
    """What the meta-trained decoder interacts with: a cursor BCI seen through its inputs only.

    A :class:`~cogmodels.envs.bci.vector.CursorBCIVector` of ``num_envs`` sessions whose
    observation is the spike features and whose reward, as the network reads it, is the
    feedback of :data:`INPUTS`; ``info["reward"]`` keeps the environment's reward (the training
    signal) and ``info`` the environment's latents (for scoring, never for the network).
    :meth:`reset` with a seed draws new subjects and, unless ``days`` is set, one day per session
    in ``[0, max_day]`` from the same seed.

    Parameters
    ----------
    config : MetaDecoderConfig
        The task, the features and ``inputs``.
    num_envs : int
        Sessions played together.
    days : sequence of int, optional
        Fixed day of each session (held-out evaluation); None draws them.
    """

    def __init__(self, config: MetaDecoderConfig, num_envs: int,
                 days: Sequence[int] | None = None) -> None:
        self.config = config
        self.num_envs = check_int("num_envs", num_envs, 1)
        self.base = config.make_env(self.num_envs)
        self.dt = float(self.base.config.task.dt)
        self.days = None if days is None else _check_days(days, self.num_envs)
        n_units = self.base.single_observation_space.shape[0]
        self.features = SpikeFeatures(
            n_units, self.num_envs, n_components=config.n_components, dt=self.dt,
            calibration_bins=max(2, int(round(config.calibration_s / self.dt))),
            half_life_s=config.half_life_s, refit_s=config.refit_s)
        self.n_features = self.features.n_features
        self.observation_names = input_names(self.n_features)[:self.n_features]
        self.action_space = self.base.single_action_space

    def reset(self, *, seed: int | None = None, days: Sequence[int] | None = None,
              carry_features: bool = False) -> tuple[np.ndarray, dict[str, Any]]:
        """Start new sessions (new subjects with a ``seed``). Returns obs, info.

        ``days`` replaces the fixed days (one per session) from now on. The features start afresh
        (zeros while they calibrate) unless ``carry_features``: then their running statistics and
        basis are kept from the last session and only the smoothing restarts — the same subjects'
        next session (same ``seed``) with a decoder that ran before, whose new re-estimates are
        Procrustes-aligned to its old basis (:class:`~cogmodels.agents.spike_features.SpikeFeatures`).
        """
        if days is not None:
            self.days = _check_days(days, self.num_envs)
        days = self.days
        if days is None:
            days = np.random.default_rng(seed).integers(0, self.config.max_day + 1, self.num_envs)
        counts, info = self.base.reset(seed=seed, options={"day": days})
        if check_bool("carry_features", carry_features) and self.features.ready:
            self.features.restart()
        else:
            self.features.reset()
        return self.features(counts).astype(np.float32), info

    def step(self, actions: np.ndarray):
        """One bin: returns features, the feedback the network reads, terminated, truncated, info."""
        counts, reward, terminated, truncated, info = self.base.step(actions)
        info["reward"] = reward
        shown = reward if self.config.inputs == "error" else np.zeros_like(reward)
        return self.features(counts).astype(np.float32), shown, terminated, truncated, info


def _check_days(days: Sequence[int], num_envs: int) -> np.ndarray:
    out = np.asarray(days, dtype=np.int64)
    if out.shape != (num_envs,) or (out < 0).any():
        raise ValueError(f"days must be {num_envs} day numbers >= 0, got {days!r}")
    return out


class MetaRNNDecoder(Saveable):
    """A GRU decoder meta-trained with A2C to adapt within a session (module docstring).

    ``MetaRNNDecoder(config)`` (or keyword overrides) builds the network; :meth:`fit` trains it
    for ``config.budget_s`` seconds of ``config.clock``; :meth:`play` scores it on held-out
    subject-days.

    Parameters
    ----------
    config : MetaDecoderConfig, optional
        The settings (default: ``MetaDecoderConfig(**overrides)``).
    **overrides
        Fields of :class:`MetaDecoderConfig` replacing those of ``config``.

    Attributes
    ----------
    model_ : RecurrentPolicy
        The network (built at construction: an untrained one plays too); a
        :class:`~cogmodels.agents.decoders.plastic_policy.PlasticReadoutPolicy` with
        ``head="plastic"``.
    history_ : pandas.DataFrame
        One row per training batch: ``batch``, ``updates``, ``sessions``, ``feedback`` (the
        environment's reward per session-minute), ``successes_per_min``, ``entropy``,
        ``policy_loss``, ``value_loss``, ``lr``, ``cpu_s``, ``wall_s``.
    cpu_s_, wall_s_ : float
        Training seconds spent (CPU of this process; wall).
    n_sessions_, n_updates_ : int
        Training sessions played; A2C updates made.

    Notes
    -----
    ``save(path)`` writes the config (``MetaDecoderConfig.to_dict()``) and the training
    counters and history to ``<path>.json`` and the network's ``state_dict`` and the Adam
    optimiser's state to ``<path>.npz`` (one array per key, no pickle);
    :func:`~cogmodels.agents.decoders.base.load_decoder` rebuilds a decoder that plays, and goes
    on training with :meth:`fit`, as the saved one would.
    """

    #: the training state saved besides the network and the optimiser
    _TRAINING_STATE = ("cpu_s_", "wall_s_", "_planned_batches", "_batches_done", "n_sessions_",
                       "n_updates_", "_rows")

    def __init__(self, config: MetaDecoderConfig | None = None, **overrides: Any) -> None:
        if config is None:
            config = MetaDecoderConfig(**overrides)
        elif not isinstance(config, MetaDecoderConfig):
            raise TypeError(f"config must be a MetaDecoderConfig, got {type(config).__name__}")
        elif overrides:
            config = MetaDecoderConfig(**{**config.to_dict(), **overrides})
        self.config = cfg = config
        self.env = MetaDecoderEnv(cfg, cfg.num_envs)
        space = self.env.action_space
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            common = dict(n_actions=2, obs_dim=self.env.n_features, hidden_size=cfg.hidden_size,
                          cell="gru", action_kind="gaussian", action_low=space.low.tolist(),
                          action_high=space.high.tolist(), squash="tanh", log_std=cfg.log_std,
                          log_std_init=cfg.log_std_init)
            if cfg.head == "plastic":
                self.model_ = PlasticReadoutPolicy(plastic_lr=cfg.plastic_lr,
                                                   trace_decay=cfg.trace_decay,
                                                   map_decay=cfg.map_decay, **common)
            else:
                self.model_ = RecurrentPolicy(**common)
        self.optimizer = torch.optim.Adam(self.model_.parameters(), lr=cfg.lr)
        self.lr_schedule = LinearSchedule(cfg.lr, cfg.lr_end)
        self.entropy_schedule = LinearSchedule(cfg.entropy_coef, cfg.entropy_coef_end)
        self.cpu_s_ = self.wall_s_ = 0.0
        self._planned_batches: int | None = None
        self._batches_done = 0
        self.n_sessions_ = 0
        self.n_updates_ = 0
        self._rows: list[dict[str, float]] = []

    def _save_node(self, writer: Writer, key: str) -> dict[str, Any]:
        """Return the JSON node: config, training state; the weights and Adam's state as arrays."""
        plain = self.config.to_dict()["env_kwargs"]
        lost = sorted(k for k, v in self.config.env_kwargs.items() if plain[k] != v)
        if lost:  # asdict flattens a spec (a UserSpec) to a dict the environment would refuse
            raise TypeError(f"cannot save a MetaRNNDecoder whose config.env_kwargs {lost} are not "
                            "plain JSON values (numbers, strings, lists, dicts): they would not "
                            "load back; give the environment's settings as such values")
        return {"class": type(self).__name__,
                "params": writer.value(self.config.to_dict(), f"{key}config"),
                "model": writer.value(dict(self.model_.state_dict()), f"{key}model_"),
                "optimizer": writer.value(self.optimizer.state_dict(), f"{key}optimizer"),
                "state": writer.value({k: getattr(self, k) for k in self._TRAINING_STATE},
                                      f"{key}state")}

    @classmethod
    def _load_node(cls, node: dict[str, Any], reader: Reader, key: str, base: Any) -> MetaRNNDecoder:
        """Rebuild from :meth:`_save_node`'s node: the config's network, then its saved state."""
        dec = cls(MetaDecoderConfig(**reader.value(node["params"])))
        dec.model_.load_state_dict(reader.value(node["model"]))
        dec.optimizer.load_state_dict(reader.value(node["optimizer"]))
        dec.__dict__.update(reader.value(node["state"]))
        return dec

    @property
    def input_names(self) -> tuple[str, ...]:
        """The names of the network's inputs (:func:`input_names`)."""
        return input_names(self.env.n_features)

    @property
    def history_(self) -> pd.DataFrame:
        """Training history, one row per batch of sessions."""
        return pd.DataFrame.from_records(self._rows)

    def _spent(self) -> float:
        return self.cpu_s_ if self.config.clock == "cpu" else self.wall_s_

    def _schedule_fraction(self) -> float:
        """Return how far the learning-rate and entropy schedules are, in [0, 1].

        By batches when :meth:`fit` was given ``n_batches`` (the same seeds then give the same
        network), else by the clock.
        """
        if self._planned_batches:
            return min(1.0, self._batches_done / self._planned_batches)
        return min(1.0, self._spent() / self.config.budget_s)

    # -- training -------------------------------------------------------------------------------
    def fit(self, n_batches: int | None = None, *, progress: bool = True) -> MetaRNNDecoder:
        """Train until the budget is spent (or ``n_batches`` more batches); return ``self``.

        Parameters
        ----------
        n_batches : int, optional
            Stop after this many batches of ``num_envs`` sessions even within the budget; the
            schedules then run over these batches, not over the clock, and the run is
            reproducible from the seed (a clock budget is not: it depends on the machine's speed).
        progress : bool
            Show a progress bar (in seconds of the budget).

        Returns
        -------
        MetaRNNDecoder
            ``self``, with :attr:`history_`, ``cpu_s_``, ``wall_s_``.
        """
        cfg = self.config
        if n_batches is not None:
            check_int("n_batches", n_batches, 1)
        n_bins = max(1, int(round(cfg.session_s / self.env.dt)))
        done = 0
        self._planned_batches, self._batches_done = n_batches, 0
        with torch_threads(cfg.threads), progress_bar(
                progress, total=round(cfg.budget_s), desc="meta-RNN decoder", unit="s") as bar:
            while self._spent() < cfg.budget_s and (n_batches is None or done < n_batches):
                before = self._spent()
                self._train_batch(n_bins)
                done += 1
                self._batches_done = done
                bar.update(round(self._spent()) - round(before))
        return self

    def training_subjects(self, batch: int = 0) -> tuple[int, list[int]]:
        """Return the seed and the days of training batch ``batch`` (for :meth:`play` on them).

        Parameters
        ----------
        batch : int
            The batch index (with ``train_pool``, batches cycle over the first ``train_pool``).

        Returns
        -------
        seed : int
            The environment seed that draws the batch's subjects.
        days : list of int
            Their days, one per session.
        """
        batch = check_int("batch", batch, 0)
        if self.config.train_pool is not None:
            batch %= self.config.train_pool
        seed = self._seeds(_TRAIN, batch)[0]
        days = np.random.default_rng(seed).integers(0, self.config.max_day + 1, self.config.num_envs)
        return seed, days.tolist()

    def _seeds(self, stream: int, index: int) -> tuple[int, int]:
        env_seed, torch_seed = np.random.SeedSequence(
            [self.config.seed, stream, index]).generate_state(2)
        return int(env_seed), int(torch_seed)

    def _train_batch(self, n_bins: int) -> None:
        cfg = self.config
        c0, w0 = time.process_time(), time.perf_counter()
        index = self.n_sessions_ // cfg.num_envs
        _, torch_seed = self._seeds(_TRAIN, index)
        env_seed, _ = self._seeds(_TRAIN, index if cfg.train_pool is None else index % cfg.train_pool)
        recorder = TrialRecorder(self.env.dt)
        batch = SessionBatch(self.env, self.model_, recorder, env_seed=env_seed,
                             torch_seed=torch_seed, fixed_steps=n_bins)
        stats: dict[str, list[float]] = {"entropy": [], "policy_loss": [], "value_loss": []}
        feedback = 0.0
        while not batch.done:
            buffer = batch.collect(cfg.rollout_len)
            feedback += float(buffer.signals.sum())
            for k, v in self._update(buffer).items():
                stats[k].append(v)
        minutes = batch.steps * self.env.dt / 60.0
        self.n_sessions_ += cfg.num_envs
        self.cpu_s_ += time.process_time() - c0
        self.wall_s_ += time.perf_counter() - w0
        self._rows.append({
            "batch": len(self._rows) + 1, "updates": self.n_updates_, "sessions": self.n_sessions_,
            "feedback": feedback / cfg.num_envs / minutes,
            "successes_per_min": recorder.successes / cfg.num_envs / minutes,
            "lr": self.optimizer.param_groups[0]["lr"],
            **{k: float(np.mean(v)) for k, v in stats.items()},
            "cpu_s": self.cpu_s_, "wall_s": self.wall_s_,
        })

    def _update(self, buffer: RolloutBuffer) -> dict[str, float]:
        cfg = self.config
        frac = self._schedule_fraction()
        for g in self.optimizer.param_groups:
            g["lr"] = self.lr_schedule(frac)
        loss, parts = a2c_loss(self.model_, buffer, gamma=cfg.gamma, gae_lambda=cfg.gae_lambda,
                               value_coef=cfg.value_coef, entropy_coef=self.entropy_schedule(frac),
                               normalize_advantages=True)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model_.parameters(), cfg.max_grad_norm)
        self.optimizer.step()
        self.n_updates_ += 1
        return {k: float(v) for k, v in parts.items()}

    # -- evaluation -----------------------------------------------------------------------------
    @torch.no_grad()
    def play(self, days: Sequence[int], seconds: float = 120.0, *, seed: int = 0) -> pd.DataFrame:
        """Play one session per held-out subject-day with frozen weights; return its trials.

        Parameters
        ----------
        days : sequence of int
            One day per held-out subject (the number of subjects is ``len(days)``).
        seconds : float
            Session length.
        seed : int
            Draws the subjects (as ``CursorBCIVector.reset(seed=seed)``: the same subjects as
            :func:`fresh_kalman_sessions` with this seed) and the action noise.

        Returns
        -------
        pandas.DataFrame
            One row per completed trial: ``subject`` (the session), ``day``, ``time`` (seconds
            into the session at the trial's end), ``state`` and the outcome columns
            (``success``, ``time_to_target``, ``trial_time``, ...), as
            :func:`~cogmodels.agents.decoders.session.run_closed_loop` returns them, for
            :func:`cogmodels.envs.bci.metrics.summarize`.
        """
        days = [check_int("day", d, 0) for d in days]
        env = MetaDecoderEnv(self.config, len(days), days=days)
        recorder = TrialRecorder(env.dt)
        n_bins = max(1, int(round(check_number("seconds", seconds, 0.0, low_open=True) / env.dt)))
        _, torch_seed = self._seeds(_HELD_OUT, seed)
        with torch_threads(self.config.threads):
            batch = SessionBatch(env, self.model_, recorder, env_seed=seed, torch_seed=torch_seed,
                                 fixed_steps=n_bins)
            batch.collect(None)
        return recorder.table()


def _training_signal(reward: torch.Tensor, actions: np.ndarray, info: dict) -> torch.Tensor:
    """Return the A2C training signal: the environment's reward (``info["reward"]``), whatever is shown."""
    return torch.from_numpy(np.asarray(info["reward"], dtype=np.float32))


class TrialRecorder:
    """A training signal that also records each completed trial's row (for held-out scoring)."""

    def __init__(self, dt: float) -> None:
        self.dt, self.t, self.chunks, self.successes = dt, 0, [], 0

    def __call__(self, reward: Any, actions: np.ndarray, info: dict) -> torch.Tensor:
        """Record the trials completed in this bin; return the training signal."""
        self.t += 1
        done = np.asarray(info["trial_completed"], dtype=bool)
        if done.any():
            chunk = {k: np.asarray(info[k])[done]
                     for k in ("state", *RESULT_KEYS, "index_of_difficulty")}
            chunk.update(subject=np.flatnonzero(done), day=np.asarray(info["day"])[done],
                         time=np.full(int(done.sum()), self.t * self.dt))
            self.chunks.append(chunk)
            self.successes += int(np.asarray(chunk["success"]).sum())
        return _training_signal(reward, actions, info)

    def table(self) -> pd.DataFrame:
        """Return the recorded trials, one row per completed trial (``trial`` numbered per lane)."""
        if not self.chunks:
            return pd.DataFrame(columns=["subject", "day", "time", "state", *RESULT_KEYS,
                                         "index_of_difficulty"])
        table = pd.DataFrame({k: np.concatenate([c[k] for c in self.chunks]) for k in self.chunks[0]})
        table = table.sort_values(["subject", "time"], kind="stable").reset_index(drop=True)
        table.insert(1, "trial", table.groupby("subject").cumcount())
        return table


def subject_days(config: MetaDecoderConfig, seed: int, n: int) -> list[int]:
    """Return the days of drift of ``n`` subject-days drawn for ``seed`` (uniform on ``[0, max_day]``).

    The one draw of the held-out evaluation days (``bench_meta_decoder.py``, the
    ``bci_meta_decoder`` experiment) and of a recorded DAgger batch; the subjects themselves come
    from ``reset(seed=seed)``.
    """
    return np.random.default_rng([seed, 1]).integers(0, config.max_day + 1, n).tolist()


def fresh_kalman_sessions(config: MetaDecoderConfig, days: Sequence[int], seconds: float = 120.0,
                          *, seed: int = 0, calibration_s: float = 60.0) -> pd.DataFrame:
    """Play the reference: a Kalman filter freshly calibrated on each held-out subject-day.

    The subjects of ``CursorBCIVector.reset(seed=seed)`` with the task of ``config`` (the same
    as :meth:`MetaRNNDecoder.play` with ``seed``); each calibrates on a ``calibration_s`` block
    of its day (supervised: the intended velocity as labels,
    :func:`~cogmodels.agents.decoders.session.calibrate`), then drives the cursor for
    ``seconds``.

    Parameters
    ----------
    config : MetaDecoderConfig
        The task (``drift``, ``error_signal``, ``env_kwargs``).
    days : sequence of int
        One day per subject.
    seconds : float
        Closed-loop session length after the calibration block.
    seed : int
        The subjects.
    calibration_s : float
        Length of the calibration block.

    Returns
    -------
    pandas.DataFrame
        The trial table of :func:`~cogmodels.agents.decoders.session.run_closed_loop`.
    """
    from cogmodels.agents.decoders.kalman import SteadyStateKalmanDecoder
    from cogmodels.agents.decoders.session import calibrate, run_closed_loop

    days = np.asarray([check_int("day", d, 0) for d in days])
    env = config.make_env(len(days))
    env.reset(seed=seed, options={"day": days})
    dec = calibrate(env, SteadyStateKalmanDecoder(dt=env.config.task.dt), calibration_s, day=days)
    return run_closed_loop(env, dec, seconds, day=days)


#: the read-out of :func:`linear_readout_sessions`: a fixed linear map, or a steady-state Kalman
#: filter whose observations are the features
CEILING_READOUTS = ("linear", "kalman")
#: how the cursor moves while :func:`linear_readout_sessions` records its calibration block: at
#: random, or with the user's intended velocity (the fresh Kalman filter's block)
CEILING_MOVEMENTS = ("random", "intention")


def linear_readout_sessions(config: MetaDecoderConfig, days: Sequence[int], seconds: float = 120.0,
                            *, seed: int = 0, calibration_s: float = 60.0, gain: float = 1.0,
                            ridge: float = 10.0, readout: str = "linear",
                            movement: str = "random", dynamics: str = "physical",
                            rotation: float = 0.0,
                            then: Sequence[tuple[Sequence[int], float]] = (),
                            carry: bool = False) -> pd.DataFrame:
    r"""Play the supervised ceiling of a fixed read-out of the network's own spike features.

    A supervised diagnostic, not a decoder of the benchmark: on each held-out subject-day
    (the subjects of ``seed``, as :meth:`MetaRNNDecoder.play`), the features ``z_t`` of
    :class:`MetaDecoderEnv` are recorded for ``calibration_s`` seconds while the cursor moves at
    random (``movement="random"``: ``a = tanh(u)``, ``u ~ N(0, 0.5^2)``) or follows the user's
    intended velocity (``"intention"``: the block :func:`fresh_kalman_sessions` calibrates on),
    a read-out is fitted per subject on them and the intended velocity ``v``, and it then drives
    the cursor for ``seconds`` (the features keep being re-estimated as in play). It bounds
    what a read-out of these features can reach once its parameters are known (what a plastic
    head has to find from the feedback). The read-outs (``readout``):

    - ``"linear"``: ``a_t = tanh(gain R W z_t)``, ``W = V^T Z (Z^T Z + ridge I)^{-1}`` (ridge),
      ``R`` the rotation by ``rotation`` degrees (a deliberately wrong map: how precisely must
      an in-session learner find ``W``?);
    - ``"kalman"``: the package's steady-state Kalman filter
      (:class:`~cogmodels.agents.decoders.kalman.SteadyStateKalmanDecoder`, Wu et al. 2006;
      Malik et al. 2011) with the features as its observations,
      ``z_t = H v_t + d + q_t``, ``v_t = A v_{t-1} + w_t``, decoding
      ``v_t = M v_{t-1} + K_\infty (z_t - d)``, ``M = (I - K_\infty H) A``; ``H, d, q`` fitted
      on the block, ``A, W`` physical or fitted (``dynamics``); ``a_t = gain R v_t``.

    Parameters
    ----------
    config : MetaDecoderConfig
        The task and the features.
    days : sequence of int
        One day per subject.
    seconds : float
        Closed-loop session length after the calibration block.
    seed : int
        The subjects and the random movements.
    calibration_s : float
        Length of the calibration block (the features' first ``config.calibration_s`` seconds,
        zeros, are left out of the fit).
    gain : float
        Gain of the read-out (before the ``tanh`` of the linear one).
    rotation : float
        Degrees by which the read-out's output is rotated (0: the fitted read-out).
    then : sequence of (days, seconds)
        Later sessions of the same subjects with the read-out kept, unrefitted: one day per
        subject and the session's length; the features carry their statistics and basis over
        (each new day's re-estimates Procrustes-aligned to it,
        :meth:`MetaDecoderEnv.reset` with ``carry_features``). What a map known perfectly on one
        day is worth on a later one, through the features' own alignment.
    carry : bool
        Carry the linear read-out through each of the features' re-estimates, ``W -> W M``
        (:attr:`~cogmodels.agents.spike_features.SpikeFeatures.carry_`, the least-squares map
        from the new features to the old), as the reward-trained decoder carries its policy;
        False (default) keeps ``W`` on whatever the re-estimated features have become.
    ridge : float
        Ridge penalty of the linear regression.
    readout : str
        One of :data:`CEILING_READOUTS`.
    movement : str
        One of :data:`CEILING_MOVEMENTS`: the cursor during the calibration block.
    dynamics : str
        The Kalman filter's kinematic prior, one of
        :data:`~cogmodels.agents.decoders.kalman.DYNAMICS` (``readout="kalman"`` only).

    Returns
    -------
    pandas.DataFrame
        The trial table of :meth:`MetaRNNDecoder.play`, times counted from the closed loop's start;
        with ``then``, the sessions' tables one after the other with their index in ``session``
        (0: the first), times counted from each session's start.
    """
    from cogmodels.agents.decoders.kalman import DYNAMICS, SteadyStateKalmanDecoder

    days = [check_int("day", d, 0) for d in days]
    check_choice("readout", readout, CEILING_READOUTS)
    check_choice("movement", movement, CEILING_MOVEMENTS)
    check_choice("dynamics", dynamics, DYNAMICS)
    if check_bool("carry", carry) and readout != "linear":
        raise ValueError(f"carry needs readout='linear' (a map of the features), got {readout!r}")
    later_sessions = [([check_int("day", d, 0) for d in later],
                       check_number("seconds", length, 0.0, low_open=True)) for later, length in then]
    for later, _ in later_sessions:
        if len(later) != len(days):
            raise ValueError(f"then's days must be one per subject ({len(days)}), got {later}")
    env = MetaDecoderEnv(config, len(days), days=days)
    rng = np.random.default_rng([check_int("seed", seed, 0), 7])
    obs, info = env.reset(seed=seed)
    skip = int(round(config.calibration_s / env.dt)) + 1
    feats, velocity = [], []
    for t in range(max(skip + 1, int(round(calibration_s / env.dt)))):
        if movement == "intention":
            action = np.asarray(info["intended_velocity"], dtype=np.float32)
        else:
            action = np.tanh(0.5 * rng.standard_normal((len(days), 2))).astype(np.float32)
        obs, *_, info = env.step(action)
        if t >= skip:
            feats.append(obs)
            velocity.append(np.asarray(info["intended_velocity"], dtype=float))
    theta = np.deg2rad(check_number("rotation", rotation, -360.0, 360.0))
    turn = gain * np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    new_session: Callable[[], Any] = lambda: None  # noqa: E731 - a stateless read-out
    if readout == "kalman":
        kf = SteadyStateKalmanDecoder(dynamics=dynamics, dt=env.dt).fit(np.stack(feats), np.stack(velocity))
        new_session = kf.reset  # each session starts at rest

        def decode(z: np.ndarray) -> np.ndarray:
            return kf.step(z) @ turn.T
    else:
        z, v = np.stack(feats, axis=1), np.stack(velocity, axis=1)  # (lanes, time, .)
        eye = ridge * np.eye(z.shape[2])
        maps = turn @ np.stack([np.linalg.solve(zi.T @ zi + eye, zi.T @ vi).T
                                for zi, vi in zip(z, v)])

        carried = env.features.n_refits

        def decode(z: np.ndarray) -> np.ndarray:
            nonlocal maps, carried
            if carry:  # z may be a new re-estimate's
                M, carried = env.features.carry_since(carried)
                if M is not None:
                    maps = np.einsum("bik,bkj->bij", maps, M)
            return np.tanh(np.einsum("bij,bj->bi", maps, z))
    return play_sessions(env, obs, decode, seconds, seed=seed, then=later_sessions,
                         new_session=lambda later: new_session())


def play_policy(env: MetaDecoderEnv, obs: np.ndarray, act: Callable[[np.ndarray], np.ndarray], seconds: float,
                observe: Callable[[np.ndarray], None] | None = None) -> pd.DataFrame:
    """Let ``act`` drive ``env`` for ``seconds`` from ``obs``; return the trial table.

    Each bin the action is ``act(obs)`` (the features of every lane, ``(lanes, 2)`` out), and
    ``observe`` (if given) is handed the feedback the environment then shows (a learner's input).
    The table is that of :meth:`MetaRNNDecoder.play`, times counted from this call.
    """
    recorder = TrialRecorder(env.dt)
    for _ in range(max(1, int(round(check_number("seconds", seconds, 0.0, low_open=True) / env.dt)))):
        action = np.asarray(act(obs)).astype(np.float32)
        obs, shown, _, _, info = env.step(action)
        if observe is not None:
            observe(shown)
        recorder(shown, action, info)
    return recorder.table()


def play_sessions(env: MetaDecoderEnv, obs: np.ndarray, act: Callable[[np.ndarray], np.ndarray],
                  seconds: float, *, seed: int, then: Sequence[tuple[Sequence[int], float]] = (),
                  observe: Callable[[np.ndarray], None] | None = None,
                  new_session: Callable[[Sequence[int]], None] | None = None) -> pd.DataFrame:
    """:func:`play_policy` for ``seconds``, then each later session of ``then`` (days, seconds).

    A later session is the same subjects (``seed``) on its days with the features carried over
    (:meth:`MetaDecoderEnv.reset` with ``carry_features``); ``new_session(days)`` is called at its
    start. Returns the first table alone without ``then``, else the sessions' tables one after
    the other with their index in ``session`` (0: the first).
    """
    table = play_policy(env, obs, act, seconds, observe=observe)
    if not then:
        return table
    tables = [table.assign(session=0)]
    for i, (later, length) in enumerate(then, start=1):
        obs, _ = env.reset(seed=seed, days=later, carry_features=True)
        if new_session is not None:
            new_session(later)
        tables.append(play_policy(env, obs, act, length, observe=observe).assign(session=i))
    return pd.concat(tables, ignore_index=True)


def per_minute(trials: pd.DataFrame, by: Sequence[str] = ("decoder",)) -> pd.DataFrame:
    """Return :func:`cogmodels.envs.bci.metrics.summarize` per simulated minute of the session.

    Parameters
    ----------
    trials : pandas.DataFrame
        Trial tables with ``time`` (seconds into the session at each trial's end) and the
        columns of ``by``.
    by : sequence of str
        Grouping columns besides ``minute`` (0-based: trials that ended in ``(60 m, 60 (m+1)]``).

    Returns
    -------
    pandas.DataFrame
        One row per group and minute: successes/min, success rate, time to target, bitrate, ...
    """
    from cogmodels.envs.bci.metrics import summarize

    minute = np.maximum(np.ceil(trials["time"].to_numpy() / 60.0) - 1, 0).astype(int)
    return summarize(trials.assign(minute=minute), by=[*by, "minute"], n_targets=8)
