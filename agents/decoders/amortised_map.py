r"""A GRU meta-trained to carry out the error-map inference in its hidden state (amortised inference).

:class:`~cogmodels.agents.decoders.map_inference.ErrorMapInference` finds a decoder's read-out
map from the error signal by Bayesian inference over a grid of maps. Here a recurrent network
learns to do the same inference in its state, across many simulated subjects and days, and then
adapts on a new subject-day with frozen weights (meta-learning; the network is the learning
algorithm). It reads only what a deployed decoder has, as the meta-trained GRU of
:mod:`~cogmodels.agents.decoders.meta_rnn` does: the two re-estimated, whitened spike
components ``z_t``, its own velocity ``a_t``, the environment's feedback ``r_t`` (success +
decoded error signal) and the start of a session. Never the target, the cursor, the intended
velocity or a label.

The network (:class:`AmortisedMapNet`) is a GRU that steps once per chunk of
:data:`CHUNK_BINS` bins (0.25 s at 50 ms bins) on the chunk's summary (:data:`SUMMARY_NAMES`:
mean features, mean velocity, the mean products ``a_t z_tᵀ`` — a fixed bilinear input layer,
the statistic an evaluation of a held exploratory move is about — the counts of errors and of
correct evaluations, and whether the session started in the chunk). From its state it reads a
2 × 2 map ``\hat M`` and an exploration logit; the velocity of each bin until the next step is

.. math::

    a_t = \tanh\big(g\, \mathrm{polar}(\hat M)\, z_t\big)

(``polar`` the nearest rotation or reflection, ``g`` the teacher's design gain 0.3), or, while
the logit is positive, a random velocity ``\tanh(\sigma \xi)`` held for one evaluation interval,
as the teacher explores.

Training (:func:`distil`) is imitation of the Bayesian learner with DAgger (Ross, Gordon &
Bagnell 2011): round 0 records the teacher driving, later rounds record the network driving
with the teacher shadowing it on the same inputs (:meth:`ErrorMapInference.sent`: it judges
the displacement actually made), and the network is fitted to the union — the teacher's mode
map (mean squared error) and its explore-or-exploit decision (cross-entropy) at the end of
every chunk — by backpropagation through whole sequences (a first session on day ``d`` and a
second on day ``d + 1`` with the features and the hidden state carried over: a decoder used day
after day). The teacher sees nothing the network does not; what is imitated is an inference
from the same inputs, not a hidden state of the task. Weights are frozen afterwards.

References
----------
- Ross, S., Gordon, G., & Bagnell, D. (2011). A reduction of imitation learning and structured
  prediction to no-regret online learning. AISTATS. (DAgger.)
- Mikulik, V., Delétang, G., McGrath, T., et al. (2020). Meta-trained agents implement
  Bayes-optimal agents. NeurIPS. (A recurrent network's state as an amortised posterior.)
- Ortega, P. A., Wang, J. X., Rowland, M., et al. (2019). Meta-learning of sequential
  strategies. arXiv:1905.03030.
- Wang, J. X., et al. (2018). Prefrontal cortex as a meta-reinforcement learning system.
  Nat Neurosci 21, 860–868.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from cogmodels._threads import torch_threads
from cogmodels.agents.decoders.map_inference import (
    ErrorMapInference,
    channel_kwargs,
    learner_sessions,
)
from cogmodels.agents.decoders.meta_rnn import MetaDecoderConfig, MetaDecoderEnv
from cogmodels.progress import progress_bar
from cogmodels.validation import SeedLike, as_generator, check_int, check_number

__all__ = ["CHUNK_BINS", "SUMMARY_NAMES", "AmortisedMapDecoder", "AmortisedMapNet", "ChunkSummary",
           "amortised_map_sessions", "distil", "record_sessions"]

#: bins per step of the network
CHUNK_BINS = 5
#: what the network reads at each step, in order (means over the chunk's bins, counts of events)
SUMMARY_NAMES = ("feature_0", "feature_1", "velocity_x", "velocity_y", "velocity_x*feature_0",
                 "velocity_x*feature_1", "velocity_y*feature_0", "velocity_y*feature_1",
                 "errors", "correct", "session_start")
#: the maps' gain (features to widths/s): the teacher's design value
GAIN = 0.3


class ChunkSummary:
    """Accumulate ``(z_t, a_t, r_t)`` bin by bin; every :data:`CHUNK_BINS` bins return the summary.

    The one definition of :data:`SUMMARY_NAMES`, used by the decoder when it plays and by
    :func:`record_sessions` when the teacher drives. ``r_t`` is the feedback shown after bin
    ``t``: ``-1`` an error, ``+1`` a correct evaluation or a success, ``+2`` both.
    """

    def __init__(self, n_lanes: int) -> None:
        self.n_lanes = check_int("n_lanes", n_lanes, 1)
        self.new_session()

    def new_session(self) -> None:
        """Start a session: the next summary is flagged ``session_start``."""
        self._sums = np.zeros((self.n_lanes, len(SUMMARY_NAMES)))
        self._bins = 0
        self._start = 1.0

    def add(self, z: np.ndarray, a: np.ndarray, r: np.ndarray) -> np.ndarray | None:
        """Add one bin; return the ``(n_lanes, 11)`` float32 summary when the chunk is complete."""
        r = np.asarray(r, dtype=float).reshape(self.n_lanes)
        s = self._sums
        s[:, 0:2] += z
        s[:, 2:4] += a
        s[:, 4:8] += (a[:, :, None] * z[:, None, :]).reshape(self.n_lanes, 4)
        s[:, 8] += r < 0
        s[:, 9] += (r == 1) | (r == 2)
        self._bins += 1
        if self._bins < CHUNK_BINS:
            return None
        out = s.copy()
        out[:, :8] /= CHUNK_BINS
        out[:, 10] = self._start
        self._sums[:] = 0.0
        self._bins, self._start = 0, 0.0
        return out.astype(np.float32)


class AmortisedMapNet(nn.Module):
    """GRU over chunk summaries; reads out a 2 × 2 map (4 numbers) and an exploration logit.

    Parameters
    ----------
    hidden_size : int
        GRU units.
    """

    def __init__(self, hidden_size: int = 128) -> None:
        super().__init__()
        self.hidden_size = check_int("hidden_size", hidden_size, 1)
        self.gru = nn.GRU(len(SUMMARY_NAMES), hidden_size, batch_first=True)
        self.map = nn.Linear(hidden_size, 4)
        self.explore = nn.Linear(hidden_size, 1)

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``x`` ``(batch, steps, 11)`` → maps ``(batch, steps, 4)``, logits ``(batch, steps)``, state."""
        out, h = self.gru(x, h)
        return self.map(out), self.explore(out).squeeze(-1), h


class AmortisedMapDecoder:
    """Play an :class:`AmortisedMapNet` with frozen weights (the protocol of :class:`ErrorMapInference`).

    ``act(z)`` returns the velocity of every lane, ``observe(feedback)`` hands it the feedback
    shown after the bin, ``new_session()`` keeps the hidden state (the same subjects' next day),
    ``reset()`` forgets it (new subjects).

    Parameters
    ----------
    net : AmortisedMapNet
        The trained network (not changed).
    n_lanes : int
        Independent sessions.
    gain : float
        ``g`` of the module docstring.
    explore_sd : float
        ``sigma`` of the exploratory velocity (before the ``tanh``).
    interval_bins : int
        Bins an exploratory velocity is held (the channel's evaluation interval).
    seed : int, SeedSequence, Generator or None
        The exploratory velocities.
    """

    def __init__(self, net: AmortisedMapNet, n_lanes: int, *, gain: float = GAIN,
                 explore_sd: float = 1.5, interval_bins: int = 20, seed: SeedLike = None) -> None:
        self.net = net
        self.n_lanes = check_int("n_lanes", n_lanes, 1)
        self.gain = check_number("gain", gain, 0.0, low_open=True)
        self.explore_sd = check_number("explore_sd", explore_sd, 0.0)
        self.interval_bins = check_int("interval_bins", interval_bins, 1)
        self.rng = as_generator(seed)
        self.summary = ChunkSummary(self.n_lanes)
        self.reset()

    def reset(self) -> AmortisedMapDecoder:
        """Forget the subjects: a zero hidden state, exploring."""
        self.h: torch.Tensor | None = None
        self.map_ = np.zeros((self.n_lanes, 2, 2))
        self.exploring_ = np.ones(self.n_lanes, dtype=bool)
        self._explore_logit = np.ones(self.n_lanes)
        return self.new_session()

    def new_session(self) -> AmortisedMapDecoder:
        """Start a new session of the same subjects: the hidden state kept."""
        self.summary.new_session()
        self._t = 0
        self._held = np.zeros((self.n_lanes, 2))
        return self

    def act(self, z: np.ndarray) -> np.ndarray:
        """Return the velocity ``(n_lanes, 2)`` for features ``z`` ``(n_lanes, 2)``."""
        z = np.asarray(z, dtype=float)
        if z.shape != (self.n_lanes, 2):
            raise ValueError(f"z must have shape {(self.n_lanes, 2)}, got {z.shape}")
        if self._t % self.interval_bins == 0:
            self._held = np.tanh(self.explore_sd * self.rng.standard_normal((self.n_lanes, 2)))
            self.exploring_ = self._explore_logit > 0
        action = np.where(self.exploring_[:, None], self._held,
                          np.tanh(np.einsum("lij,lj->li", self.map_, z)))
        self._t += 1
        self._z, self._a = z, action
        return action

    def observe(self, feedback: np.ndarray) -> None:
        """Take the feedback shown after the last bin; step the network at the end of a chunk."""
        x = self.summary.add(self._z, self._a, feedback)
        if x is None:
            return
        with torch.no_grad():
            m, logit, self.h = self.net(torch.from_numpy(x)[:, None], self.h)
        self.map_ = polar_map(m[:, 0].numpy().astype(float), self.gain)
        self._explore_logit = logit[:, 0].numpy().astype(float)


def polar_map(m: np.ndarray, gain: float) -> np.ndarray:
    """``g U Vᵀ`` of each 4-vector read as a 2 × 2 ``U S Vᵀ``: the nearest scaled rotation or reflection."""
    u, _, vt = np.linalg.svd(np.asarray(m, dtype=float).reshape(-1, 2, 2))
    return gain * u @ vt


def record_sessions(config: MetaDecoderConfig, seed: int, n_lanes: int = 16, *,
                    first_s: float = 360.0, next_s: float = 120.0, gap: int = 1,
                    student: AmortisedMapNet | None = None) -> dict[str, np.ndarray]:
    """Record the teacher's decisions on one batch of training subject-days (DAgger data).

    ``n_lanes`` subjects of ``seed`` on days drawn in ``[0, config.max_day]`` play a session of
    ``first_s`` and, carried over, one of ``next_s`` on day + ``gap``. The teacher
    (:class:`ErrorMapInference`, its defaults and the channel's nominal values) drives, or with
    ``student`` the network drives and the teacher shadows it.

    Returns
    -------
    dict of numpy.ndarray
        ``x`` ``(n_lanes, steps, 11)`` the summaries, ``map`` ``(n_lanes, steps, 4)`` and
        ``explore`` ``(n_lanes, steps)`` the teacher's decision after each chunk (what the
        network should read out after its step).
    """
    seed = check_int("seed", seed, 0)
    days = np.random.default_rng([seed, 1]).integers(0, config.max_day + 1, n_lanes)
    recorders: list[_TeacherRecorder] = []

    def make(env: MetaDecoderEnv) -> _TeacherRecorder:
        recorders.append(_TeacherRecorder(env, seed, student))
        return recorders[0]

    learner_sessions(config, days, make, first_s, seed=seed, then=[(days + gap, next_s)])
    return recorders[0].arrays()


class _TeacherRecorder:
    """The learner :func:`record_sessions` plays, recording the teacher's decisions.

    The teacher (or the network, the teacher shadowing it) drives; after every chunk the summary
    and the teacher's decision are kept.
    """

    def __init__(self, env: MetaDecoderEnv, seed: int, student: AmortisedMapNet | None) -> None:
        n = env.num_envs
        self.teacher = ErrorMapInference(n, seed=np.random.default_rng([seed, 11]), **channel_kwargs(env))
        self.driver = None if student is None else AmortisedMapDecoder(
            student, n, interval_bins=self.teacher.interval_bins, seed=np.random.default_rng([seed, 12]))
        self.summary = ChunkSummary(n)
        self.rows: dict[str, list[np.ndarray]] = {"x": [], "map": [], "explore": []}

    def new_session(self) -> None:
        self.teacher.new_session()
        if self.driver is not None:
            self.driver.new_session()
        self.summary.new_session()

    def act(self, z: np.ndarray) -> np.ndarray:
        self._z = np.asarray(z, dtype=float)
        self._a = self.teacher.act(self._z)
        if self.driver is not None:
            self._a = self.driver.act(self._z)
            self.teacher.sent(self._a)
        return self._a

    def observe(self, shown: np.ndarray) -> None:
        self.teacher.observe(shown)
        if self.driver is not None:
            self.driver.observe(shown)
        x = self.summary.add(self._z, self._a, shown)
        if x is not None:
            mode_map, explore = self.teacher.decision()
            self.rows["x"].append(x)
            self.rows["map"].append(mode_map.reshape(len(x), 4))
            self.rows["explore"].append(explore)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"x": np.stack(self.rows["x"], 1), "map": np.stack(self.rows["map"], 1).astype(np.float32),
                "explore": np.stack(self.rows["explore"], 1).astype(np.float32)}


def _fit(net: AmortisedMapNet, data: dict[str, torch.Tensor], epochs: int, *,
         batch: int, lr: float, generator: torch.Generator) -> list[float]:
    """Adam on the imitation loss for ``epochs`` passes over the sequences; return epoch losses."""
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    losses = []
    n = len(data["x"])
    for _ in range(epochs):
        total = 0.0
        for i in torch.randperm(n, generator=generator).split(batch):
            m, logit, _ = net(data["x"][i])
            loss = (((m - data["map"][i]) ** 2).mean() / GAIN**2
                    + nn.functional.binary_cross_entropy_with_logits(logit, data["explore"][i]))
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            total += float(loss.detach()) * len(i)
        losses.append(total / n)
    return losses


def distil(config: MetaDecoderConfig | None = None, *, rounds: Sequence[tuple[int, int]] = ((64, 20), (32, 8), (32, 8)),
           n_lanes: int = 16, first_s: float = 360.0, next_s: float = 120.0, hidden_size: int = 128,
           lr: float = 2e-3, batch: int = 32, seed: int = 0, progress: bool = True
           ) -> tuple[AmortisedMapNet, pd.DataFrame]:
    """Meta-train an :class:`AmortisedMapNet` by DAgger on the error-map inference (module docstring).

    Parameters
    ----------
    config : MetaDecoderConfig, optional
        The task and the features (``n_components`` must be 2); default the meta-decoder's
        task with 2 components.
    rounds : sequence of (batches, epochs)
        Per round: batches of ``n_lanes`` new training subject-days to record (round 0: the
        teacher drives; later: the network of the previous round drives) and the epochs of
        fitting on everything recorded so far (Adam restarted each round).
    n_lanes : int
        Subjects per recorded batch.
    first_s, next_s : float
        The two sessions of a recorded sequence (day d, then day d + 1).
    hidden_size, lr, batch : int, float, int
        GRU units, Adam's step size, sequences per gradient step.
    seed : int
        Weights and the training subjects (a stream apart from held-out seeds).
    progress : bool
        A progress bar over the recorded batches.

    Returns
    -------
    net : AmortisedMapNet
        The trained network.
    history : pandas.DataFrame
        One row per round: ``round``, ``sequences``, ``record_cpu_s``, ``fit_cpu_s``,
        ``epochs``, ``loss_first``, ``loss_last``.
    """
    config = MetaDecoderConfig(n_components=2) if config is None else config
    if config.n_components != 2:
        raise ValueError(f"config.n_components must be 2, got {config.n_components!r}")
    seed = check_int("seed", seed, 0)
    if not rounds:
        raise ValueError("rounds must hold at least one (batches, epochs) pair, got none")
    torch_seed, *_ = np.random.SeedSequence([seed, 0]).generate_state(1)
    generator = torch.Generator().manual_seed(int(torch_seed))
    with torch_threads(config.threads):
        torch.manual_seed(int(torch_seed))
        net = AmortisedMapNet(hidden_size)
        data: dict[str, list[np.ndarray]] = {"x": [], "map": [], "explore": []}
        rows = []
        rounds = [(check_int("rounds batches", b, 1), check_int("rounds epochs", e, 1)) for b, e in rounds]
        bar = progress_bar(progress, total=sum(b for b, _ in rounds), desc="DAgger batches")
        for r, (n_batches, epochs) in enumerate(rounds):
            t0 = time.process_time()
            net.eval()
            for b in range(n_batches):
                env_seed = int(np.random.SeedSequence([seed, 1, r, b]).generate_state(1)[0])
                rec = record_sessions(config, env_seed, n_lanes, first_s=first_s, next_s=next_s,
                                      student=None if r == 0 else net)
                for k in data:
                    data[k].append(rec[k])
                bar.update()
            record_s = time.process_time() - t0
            net.train()
            tensors = {k: torch.from_numpy(np.concatenate(v)) for k, v in data.items()}
            t0 = time.process_time()
            losses = _fit(net, tensors, epochs, batch=batch, lr=lr, generator=generator)
            rows.append({"round": r, "sequences": len(tensors["x"]), "record_cpu_s": record_s,
                         "fit_cpu_s": time.process_time() - t0, "epochs": len(losses),
                         "loss_first": losses[0], "loss_last": losses[-1]})
        bar.close()
        net.eval()
    return net, pd.DataFrame(rows)


def amortised_map_sessions(net: AmortisedMapNet, config: MetaDecoderConfig, days: Sequence[int],
                           seconds: float = 120.0, *, seed: int = 0,
                           then: Sequence[tuple[Sequence[int], float]] = (), **kwargs: Any) -> pd.DataFrame:
    """Play the trained network on held-out subject-days (as :func:`map_inference_sessions`).

    ``**kwargs`` go to :class:`AmortisedMapDecoder` (``interval_bins`` defaults to the channel's).
    """
    def make(env: MetaDecoderEnv) -> AmortisedMapDecoder:
        interval = channel_kwargs(env).get("interval_bins", 20)
        return AmortisedMapDecoder(net, env.num_envs, seed=np.random.default_rng([check_int("seed", seed, 0), 11]),
                                   **{"interval_bins": interval, **kwargs})

    return learner_sessions(config, days, make, seconds, seed=seed, then=then)
