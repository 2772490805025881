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

Two options bring the network to its teacher's level on every training seed tried
(``benchmarks/RESULTS.md``, sixth step): ``evaluations=True`` adds, at each evaluation, the
judged displacement times the features over the judged window (:class:`ChunkSummary`: exactly
what the teacher's likelihood reads, which the per-bin products cannot give), and
``head="posterior"`` reads out and fits the teacher's whole posterior over its 72 hypotheses
(Kullback-Leibler divergence) instead of its mode. The network then follows its teacher: with a
less sharp one (``teacher={"sharpness": 1.0}``, seventh step) three training seeds reach 84–87 %
of a freshly calibrated Kalman filter on the next day. :mod:`~cogmodels.agents.decoders.amortised_a2c`
fine-tunes the network with A2C on the task's reward.

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
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from cogmodels._threads import torch_threads
from cogmodels.agents.decoders.map_inference import (
    ErrorMapInference,
    JudgedWindow,
    channel_kwargs,
    check_gap_days,
    learner_sessions,
    map_grid,
)
from cogmodels.agents.decoders.meta_rnn import MetaDecoderConfig, MetaDecoderEnv, subject_days
from cogmodels.agents.saving import Saveable
from cogmodels.progress import progress_bar
from cogmodels.validation import SeedLike, as_generator, check_int, check_number

__all__ = ["CHUNK_BINS", "EVALUATION_NAMES", "GAP_NAME", "HEADS", "READOUTS", "SUMMARY_NAMES",
           "AmortisedMapDecoder", "AmortisedMapNet", "ChunkSummary", "amortised_map_sessions",
           "distil", "imitation_loss", "record_sessions"]

#: bins per step of the network
CHUNK_BINS = 5
#: what the network reads at each step, in order (means over the chunk's bins, counts of events)
SUMMARY_NAMES = ("feature_0", "feature_1", "velocity_x", "velocity_y", "velocity_x*feature_0",
                 "velocity_x*feature_1", "velocity_y*feature_0", "velocity_y*feature_1",
                 "errors", "correct", "session_start")
#: with the channel's nominal window, what the network also reads: the judged displacement times the
#: features (normalised) summed over the chunk's errors and over its correct evaluations
EVALUATION_NAMES = tuple(f"{event}*velocity_{v}*feature_{f}" for event in ("errors", "correct")
                         for v in "xy" for f in "01")
#: with ``gap_input``, what the network also reads last: ``log(1 + G)`` in the first chunk of a session
#: that follows the last one by ``G`` calendar days (0 in every other chunk and in a first session)
GAP_NAME = "log1p_gap_days"
#: the maps' gain (features to widths/s): the teacher's design value
GAIN = 0.3
#: what the network reads out: a 2 × 2 map, or a posterior over the teacher's grid of maps
HEADS = ("map", "posterior")
#: how a ``"posterior"`` head's map is read: the mean of the hypotheses near the mode, the mode, or a
#: hypothesis drawn from the posterior each step (the stochastic policy of A2C fine-tuning)
READOUTS = ("local_mean", "mode", "sample")


class ChunkSummary:
    r"""Accumulate ``(z_t, a_t, r_t)`` bin by bin; every :data:`CHUNK_BINS` bins return the summary.

    The one definition of :data:`SUMMARY_NAMES` (and :data:`EVALUATION_NAMES`), used by the
    decoder when it plays and by :func:`record_sessions` when the teacher drives. ``r_t`` is the
    feedback shown after bin ``t``: ``-1`` an error, ``+1`` a correct evaluation or a success,
    ``+2`` both.

    With ``window = (interval_bins, latency_bins)`` (the channel's nominal evaluation interval
    ``I`` and latency ``L``, the teacher's design constants) the summary also holds, for the
    evaluations arriving in the chunk, the sum over errors and the sum over correct evaluations of

    .. math::

        \hat E = \frac{D\, Z^\top}{\lVert D \rVert\, \lVert Z \rVert}, \qquad
        D = \sum_s a_s,\ Z = \sum_s z_s,\ s \in (t - L - I, t - L]

    the displacement judged and the features over the same bins. For a hypothesis ``M = g Q``
    (``Q`` a rotation or reflection) ``\cos(D, M Z) = \operatorname{tr}(Q^\top \hat E)``: the
    four numbers are all an evaluation says about every hypothesis of the teacher (its
    likelihood, :mod:`~cogmodels.agents.decoders.map_inference`), a fixed input layer.
    """

    def __init__(self, n_lanes: int, window: tuple[int, int] | None = None, gap_input: bool = False) -> None:
        self.n_lanes = check_int("n_lanes", n_lanes, 1)
        self._judged = None if window is None else JudgedWindow(self.n_lanes, *window)
        self.window = None if window is None else (self._judged.interval_bins, self._judged.latency_bins)
        self.gap_input = bool(gap_input)
        self.n_inputs = (len(SUMMARY_NAMES) + (0 if window is None else len(EVALUATION_NAMES))
                         + int(self.gap_input))
        self.new_session()

    def new_session(self, gap_days: Any = None) -> None:
        """Start a session: the next summary is flagged ``session_start``; the judged window emptied.

        With ``gap_input`` the next summary also holds :data:`GAP_NAME` of ``gap_days`` (one int
        or one per lane: the calendar days since the lanes' last session; None: a first session).
        """
        self._sums = np.zeros((self.n_lanes, self.n_inputs))
        self._bins = 0
        self._start = 1.0
        self._gap = 0.0 if gap_days is None else np.log1p(check_gap_days(gap_days, self.n_lanes))
        if self._judged is not None:
            self._judged.clear()

    def add(self, z: np.ndarray, a: np.ndarray, r: np.ndarray) -> np.ndarray | None:
        """Add one bin; return the ``(n_lanes, n_inputs)`` float32 summary when the chunk is complete."""
        r = np.asarray(r, dtype=float).reshape(self.n_lanes)
        s = self._sums
        s[:, 0:2] += z
        s[:, 2:4] += a
        s[:, 4:8] += (a[:, :, None] * z[:, None, :]).reshape(self.n_lanes, 4)
        s[:, 8] += r < 0
        s[:, 9] += (r == 1) | (r == 2)
        if self._judged is not None:
            self._judge(z, a, r)
        self._bins += 1
        if self._bins < CHUNK_BINS:
            return None
        out = s.copy()
        out[:, :8] /= CHUNK_BINS
        out[:, 10] = self._start
        if self.gap_input:
            out[:, -1] = self._gap * self._start
        self._sums[:] = 0.0
        self._bins, self._start = 0, 0.0
        return out.astype(np.float32)

    def _judge(self, z: np.ndarray, a: np.ndarray, r: np.ndarray) -> None:
        r"""Add ``\hat E`` of the evaluations shown after this bin (class docstring)."""
        self._judged.push(z, a)
        zs, d = (x.sum(axis=0) for x in self._judged.judged())
        e = (d[:, :, None] * zs[:, None, :]).reshape(self.n_lanes, 4)
        e /= (np.linalg.norm(d, axis=1) * np.linalg.norm(zs, axis=1) + 1e-9)[:, None]
        n = len(SUMMARY_NAMES)
        self._sums[:, n:n + 4] += np.where((r < 0)[:, None], e, 0.0)
        self._sums[:, n + 4:n + 8] += np.where((r > 0)[:, None], e, 0.0)


class AmortisedMapNet(Saveable, nn.Module):
    """GRU over chunk summaries; reads out a map and an exploration logit.

    Parameters
    ----------
    hidden_size : int
        GRU units.
    head : {"map", "posterior"}
        ``"map"``: a 2 × 2 map (4 numbers), fitted to the teacher's mode; ``"posterior"``: the
        log-probabilities of the teacher's ``n_maps`` hypotheses (:func:`map_grid`), fitted to its
        whole posterior (an amortised posterior; Mikulik et al. 2020).
    n_maps : int
        Hypotheses of the ``"posterior"`` head (twice the teacher's ``n_angles``).
    evaluations : bool
        Read :data:`EVALUATION_NAMES` too (:class:`ChunkSummary` with the channel's window).
    gap_input : bool
        Read :data:`GAP_NAME` too: the calendar days since the last session.

    Notes
    -----
    ``save(path)`` writes :attr:`config` to ``<path>.json`` and the ``state_dict`` to
    ``<path>.npz`` (one array per key, no pickle); ``load_decoder(path)`` rebuilds the network.
    """

    def __init__(self, hidden_size: int = 128, head: str = "map", n_maps: int = 72,
                 evaluations: bool = False, gap_input: bool = False) -> None:
        super().__init__()
        self.hidden_size = check_int("hidden_size", hidden_size, 1)
        if head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}, got {head!r}")
        self.head = head
        n_out = 4 if head == "map" else check_int("n_maps", n_maps, 8)
        if n_out % 2:
            raise ValueError(f"n_maps must be even (rotations with and without the reflection), got {n_maps!r}")
        self.evaluations = bool(evaluations)
        self.gap_input = bool(gap_input)
        self.input_size = (len(SUMMARY_NAMES) + (len(EVALUATION_NAMES) if self.evaluations else 0)
                           + int(self.gap_input))
        self.gru = nn.GRU(self.input_size, hidden_size, batch_first=True)
        self.map = nn.Linear(hidden_size, n_out)
        self.explore = nn.Linear(hidden_size, 1)

    @property
    def config(self) -> dict[str, Any]:
        """The constructor arguments, JSON-serialisable."""
        n_maps = self.map.out_features if self.head == "posterior" else 72
        return {"hidden_size": self.hidden_size, "head": self.head, "n_maps": n_maps,
                "evaluations": self.evaluations, "gap_input": self.gap_input}

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor]) -> AmortisedMapNet:
        """Rebuild a saved network (its size, head and inputs read from the weights' shapes)."""
        n_out = state["map.weight"].shape[0]
        extra = state["gru.weight_ih_l0"].shape[1] - len(SUMMARY_NAMES)  # 0, 1, 8 or 9 inputs more
        net = cls(state["gru.weight_hh_l0"].shape[1], "map" if n_out == 4 else "posterior",
                  max(n_out, 8), evaluations=extra >= len(EVALUATION_NAMES),
                  gap_input=extra % len(EVALUATION_NAMES) == 1)
        net.load_state_dict(state)
        return net.eval()

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``x`` ``(batch, steps, input_size)`` → maps (or log-probabilities), logits ``(batch, steps)``, state.

        The maps are ``(batch, steps, 4)``, the log-probabilities ``(batch, steps, n_maps)``.
        """
        out, h = self.gru(x, h)
        return (*self.read(out), h)

    def read(self, out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Read the maps (or log-probabilities) and the exploration logits from GRU outputs ``out``."""
        m = self.map(out)
        if self.head == "posterior":
            m = torch.log_softmax(m, dim=-1)
        return m, self.explore(out).squeeze(-1)


class AmortisedMapDecoder(Saveable):
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
        Bins an exploratory velocity is held (the channel's evaluation interval ``I``).
    latency_bins : int
        The channel's latency ``L`` (read by a network with ``evaluations``).
    readout : {"local_mean", "mode", "sample"}
        The map of a ``"posterior"`` head (:meth:`posterior_map`).
    sample_explore : bool
        Draw each explore-or-exploit decision from ``sigmoid(logit)`` (the stochastic policy
        :mod:`~cogmodels.agents.decoders.amortised_a2c` trains) instead of ``logit > 0``.
    seed : int, SeedSequence, Generator or None
        The exploratory velocities (and the draws).

    Attributes
    ----------
    exploring_ : numpy.ndarray
        ``(n_lanes,)`` whether each lane explores, decided every ``interval_bins`` bins.
    decided_ : bool
        Whether the last :meth:`act` took that decision.

    Notes
    -----
    ``save(path)`` writes the settings, the network (config and weights), the hidden state,
    the chunk summary in progress, the held exploration and the random generator's state;
    ``load_decoder(path)`` rebuilds a decoder that acts as this one would.
    """

    def __init__(self, net: AmortisedMapNet, n_lanes: int, *, gain: float = GAIN,
                 explore_sd: float = 1.5, interval_bins: int = 20, latency_bins: int = 6,
                 readout: str = "local_mean", sample_explore: bool = False,
                 seed: SeedLike = None) -> None:
        self.net = net
        if readout not in READOUTS:
            raise ValueError(f"readout must be one of {READOUTS}, got {readout!r}")
        if readout == "sample" and net.head != "posterior":
            raise ValueError(f"readout='sample' needs a 'posterior' head, got head={net.head!r}")
        self.readout = readout
        self.sample_explore = bool(sample_explore)
        self.n_lanes = check_int("n_lanes", n_lanes, 1)
        self.gain = check_number("gain", gain, 0.0, low_open=True)
        self.explore_sd = check_number("explore_sd", explore_sd, 0.0)
        self.interval_bins = check_int("interval_bins", interval_bins, 1)
        latency_bins = check_int("latency_bins", latency_bins, 0)
        self.rng = as_generator(seed)
        self.summary = ChunkSummary(self.n_lanes, (self.interval_bins, latency_bins) if net.evaluations else None,
                                    gap_input=net.gap_input)
        if net.head == "posterior":
            self._grid, self._near = map_grid(self.gain, net.map.out_features // 2)
        self.reset()

    def reset(self) -> AmortisedMapDecoder:
        """Forget the subjects: a zero hidden state, exploring (until the network has stepped)."""
        self.h: torch.Tensor | None = None
        self.map_ = np.zeros((self.n_lanes, 2, 2))
        self.choice_ = np.zeros(self.n_lanes, dtype=np.int64)
        self.exploring_ = np.ones(self.n_lanes, dtype=bool)
        self.decided_ = False
        self._explore_logit = np.full(self.n_lanes, np.inf)
        return self.new_session()

    def new_session(self, gap_days: Any = None) -> AmortisedMapDecoder:
        """Start a new session of the same subjects: the hidden state kept.

        ``gap_days``: the calendar days since the last session (one int or one per lane), read by
        a network with ``gap_input``; ignored by one without.
        """
        self.summary.new_session(gap_days)
        self._t = 0
        self._held = np.zeros((self.n_lanes, 2))
        return self

    def act(self, z: np.ndarray) -> np.ndarray:
        """Return the velocity ``(n_lanes, 2)`` for features ``z`` ``(n_lanes, 2)``."""
        z = np.asarray(z, dtype=float)
        if z.shape != (self.n_lanes, 2):
            raise ValueError(f"z must have shape {(self.n_lanes, 2)}, got {z.shape}")
        self.decided_ = self._t % self.interval_bins == 0
        if self.decided_:
            self._held = np.tanh(self.explore_sd * self.rng.standard_normal((self.n_lanes, 2)))
            if self.sample_explore:
                p = 1.0 / (1.0 + np.exp(-self._explore_logit))
                self.exploring_ = self.rng.random(self.n_lanes) < p
            else:
                self.exploring_ = self._explore_logit > 0
        action = np.where(self.exploring_[:, None], self._held,
                          np.tanh(np.einsum("lij,lj->li", self.map_, z)))
        self._t += 1
        self._z, self._a = z, action
        return action

    def observe(self, feedback: np.ndarray) -> np.ndarray | None:
        """Take the feedback shown after the last bin; step the network at the end of a chunk.

        Returns the chunk's summary when the network stepped (else ``None``).
        """
        x = self.summary.add(self._z, self._a, feedback)
        if x is None:
            return None
        with torch.no_grad():
            m, logit, self.h = self.net(torch.from_numpy(x)[:, None], self.h)
        m = m[:, 0].numpy().astype(float)
        if self.net.head == "posterior":
            m = self.posterior_map(np.exp(m))
        self.map_ = polar_map(m, self.gain)
        self._explore_logit = logit[:, 0].numpy().astype(float)
        return x

    def posterior_map(self, p: np.ndarray) -> np.ndarray:
        """Return the map read from the head's posterior ``p`` ``(n_lanes, 2 n)``, flat ``(n_lanes, 4)``.

        ``readout="local_mean"``: the posterior mean of the hypotheses near the mode (one map, no
        averaging across modes: a rotation and its reflection); ``"mode"``: the mode itself;
        ``"sample"``: a hypothesis drawn from ``p`` (kept in ``choice_``).
        """
        if self.readout == "sample":
            c = np.cumsum(p, axis=1)
            u = self.rng.random(len(p)) * c[:, -1]
            self.choice_ = np.minimum((c < u[:, None]).sum(axis=1), p.shape[1] - 1)
            return self._grid[self.choice_].reshape(-1, 4)
        mode = p.argmax(axis=1)
        self.choice_ = mode
        if self.readout == "mode":
            return self._grid[mode].reshape(-1, 4)
        w = self._near[mode] * p
        return np.einsum("lj,jab->lab", w / w.sum(axis=1, keepdims=True), self._grid).reshape(-1, 4)


def polar_map(m: np.ndarray, gain: float) -> np.ndarray:
    """``g U Vᵀ`` of each 4-vector read as a 2 × 2 ``U S Vᵀ``: the nearest scaled rotation or reflection."""
    u, _, vt = np.linalg.svd(np.asarray(m, dtype=float).reshape(-1, 2, 2))
    return gain * u @ vt


def record_sessions(config: MetaDecoderConfig, seed: int, n_lanes: int = 16, *,
                    first_s: float = 360.0, next_s: float = 120.0, gap: int | Sequence[int] = 1,
                    student: AmortisedMapNet | None = None, evaluations: bool = False,
                    gap_input: bool = False, teacher: dict[str, Any] | None = None,
                    readout: str = "local_mean", sample_explore: bool = False) -> dict[str, np.ndarray]:
    """Record the teacher's decisions on one batch of training subject-days (DAgger data).

    ``n_lanes`` subjects of ``seed`` on days drawn in ``[0, config.max_day]`` play a session of
    ``first_s`` and, carried over, one of ``next_s`` on day + ``gap`` (an int, or a sequence of
    gaps each lane draws one of, uniformly, from ``seed``: repeat a gap to weight it). With
    ``gap_input`` (or a ``student`` that reads it) the summaries hold :data:`GAP_NAME` and the
    teacher diffuses its posterior over the gap (:meth:`ErrorMapInference.new_session` with
    ``gap_days``, the between-session drift kernel) before the second session. The teacher
    (:class:`ErrorMapInference`, its defaults and the channel's nominal values) drives, or with
    ``student`` the network drives and the teacher shadows it. With ``evaluations`` (or a
    ``student`` that reads them) the summaries hold :data:`EVALUATION_NAMES` too. ``teacher``:
    :class:`ErrorMapInference` arguments replacing its defaults (e.g. ``{"sharpness": 1.0}``).
    ``readout``, ``sample_explore``: how the ``student`` reads its map and decides to explore
    (:class:`AmortisedMapDecoder`).

    Returns
    -------
    dict of numpy.ndarray
        ``x`` ``(n_lanes, steps, 11 or 19)`` the summaries; ``map`` ``(n_lanes, steps, 4)``,
        ``posterior`` ``(n_lanes, steps, 72)`` and ``explore`` ``(n_lanes, steps)`` the teacher's
        mode, posterior and decision after each chunk (what the network should read out after
        its step). With a ``student`` also, per chunk, ``choice`` the hypothesis it read after its
        step (:attr:`AmortisedMapDecoder.choice_`), ``explored`` whether it explored during the
        chunk, ``decided`` whether it decided so at the chunk's start and ``reward`` the
        environment's reward summed over the chunk's bins.
    """
    seed = check_int("seed", seed, 0)
    evaluations = evaluations or (student is not None and student.evaluations)
    gap_input = bool(gap_input) or (student is not None and student.gap_input)
    days = np.asarray(subject_days(config, seed, n_lanes))
    if isinstance(gap, Sequence):
        choices = [check_int("gap", g, 1) for g in gap]
        if not choices:
            raise ValueError("gap must be an int >= 1 or a non-empty sequence of them, got []")
        gaps = np.asarray(choices)[np.random.default_rng([seed, 13]).integers(len(choices), size=n_lanes)]
    else:
        gaps = np.full(n_lanes, check_int("gap", gap, 1))
    recorders: list[_TeacherRecorder] = []

    def make(env: MetaDecoderEnv) -> _TeacherRecorder:
        recorders.append(_TeacherRecorder(env, seed, student, evaluations, teacher or {}, readout,
                                          sample_explore, gap_input))
        return recorders[0]

    learner_sessions(config, days, make, first_s, seed=seed, then=[(days + gaps, next_s)], gaps=gap_input)
    return recorders[0].arrays()


class _TeacherRecorder:
    """The learner :func:`record_sessions` plays, recording the teacher's decisions.

    The teacher (or the network, the teacher shadowing it) drives; after every chunk the summary
    and the teacher's decision are kept.
    """

    def __init__(self, env: MetaDecoderEnv, seed: int, student: AmortisedMapNet | None,
                 evaluations: bool, teacher: dict[str, Any], readout: str = "local_mean",
                 sample_explore: bool = False, gap_input: bool = False) -> None:
        n = env.num_envs
        self.teacher = ErrorMapInference(n, seed=np.random.default_rng([seed, 11]),
                                         **{**channel_kwargs(env), **teacher})
        window = (self.teacher.interval_bins, self.teacher.latency_bins)
        self.driver = None if student is None else AmortisedMapDecoder(
            student, n, interval_bins=window[0], latency_bins=window[1], readout=readout,
            sample_explore=sample_explore, seed=np.random.default_rng([seed, 12]))
        self.summary = ChunkSummary(n, window if evaluations else None, gap_input=gap_input)
        self.rows: dict[str, list[np.ndarray]] = {"x": [], "map": [], "posterior": [], "explore": []}
        if self.driver is not None:
            self.rows.update(choice=[], explored=[], decided=[], reward=[])
            self._reward = np.zeros(n)
            self._decided = False

    def new_session(self, gap_days: Any = None) -> None:
        self.teacher.new_session(gap_days)
        if self.driver is not None:
            self.driver.new_session(gap_days)
            self._decided = False
        self.summary.new_session(gap_days)

    def act(self, z: np.ndarray) -> np.ndarray:
        self._z = np.asarray(z, dtype=float)
        self._a = self.teacher.act(self._z)
        if self.driver is not None:
            self._a = self.driver.act(self._z)
            self._decided |= self.driver.decided_
            self.teacher.sent(self._a)
        return self._a

    def observe(self, shown: np.ndarray) -> None:
        self.teacher.observe(shown)
        if self.driver is not None:
            self._reward += shown
            self._explored = self.driver.exploring_.copy()
            self.driver.observe(shown)
        x = self.summary.add(self._z, self._a, shown)
        if x is not None:
            mode_map, explore = self.teacher.decision()
            self.rows["x"].append(x)
            self.rows["map"].append(mode_map.reshape(len(x), 4))
            self.rows["posterior"].append(self.teacher.posterior().astype(np.float32))
            self.rows["explore"].append(explore)
            if self.driver is not None:
                self.rows["choice"].append(self.driver.choice_.copy())
                self.rows["explored"].append(self._explored)
                self.rows["decided"].append(np.full(len(x), self._decided))
                self._decided = False
                self.rows["reward"].append(self._reward)
                self._reward = np.zeros(len(x))

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: np.stack(v, 1).astype(np.float32) for k, v in self.rows.items()}


def imitation_loss(head: str, m: torch.Tensor, logit: torch.Tensor, target: dict[str, torch.Tensor]
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the fit to the teacher's map or posterior and the explore decision's cross-entropy.

    ``head="map"``: the squared error to the teacher's mode ``target["map"]`` (over ``g²``);
    ``"posterior"``: the Kullback-Leibler divergence from its posterior ``target["posterior"]``
    to the head's log-probabilities ``m``. Then the binary cross-entropy of ``logit`` against
    ``target["explore"]``.
    """
    if head == "map":
        fit = ((m - target["map"]) ** 2).mean() / GAIN**2
    else:
        p = target["posterior"]
        fit = (p * (torch.log(p.clamp_min(1e-12)) - m)).sum(-1).mean()
    return fit, nn.functional.binary_cross_entropy_with_logits(logit, target["explore"])


def _fit(net: AmortisedMapNet, data: dict[str, torch.Tensor], epochs: int, *,
         batch: int, lr: float, generator: torch.Generator, shards: int = 1,
         pool: ProcessPoolExecutor | None = None) -> tuple[list[float], float]:
    """Adam on the imitation loss for ``epochs`` passes; return epoch losses and the pool's CPU s.

    ``shards > 1``: each batch's gradient is the sum of its ``shards`` parts' (each part's mean
    loss weighted by its share of the batch: the batch's mean loss), computed by
    :func:`_shard_gradient` in ``pool``'s processes, or one after the other without a pool —
    the same numbers either way, different roundings from ``shards=1``.
    """
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    losses = []
    n = len(data["x"])
    pool_cpu_s = 0.0
    for _ in range(epochs):
        total = 0.0
        for i in torch.randperm(n, generator=generator).split(batch):
            opt.zero_grad()
            if shards == 1:
                m, logit, _ = net(data["x"][i])
                fit, bce = imitation_loss(net.head, m, logit, {k: v[i] for k, v in data.items()})
                loss = fit + bce
                loss.backward()
                value = float(loss.detach())
            else:
                value, cpu_s = _sharded_backward(net, data, i, shards, pool)
                pool_cpu_s += cpu_s
            nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            total += value * len(i)
        losses.append(total / n)
    return losses, pool_cpu_s


def _sharded_backward(net: AmortisedMapNet, data: dict[str, torch.Tensor], index: torch.Tensor,
                      shards: int, pool: ProcessPoolExecutor | None) -> tuple[float, float]:
    """Set ``net``'s gradients to the batch ``index``'s, summed over its parts.

    Returns the batch's loss and the CPU seconds spent in ``pool``'s processes.
    """
    state = {k: v.numpy() for k, v in net.state_dict().items()}
    parts = [p for p in index.tensor_split(shards) if len(p)]
    tasks = [(state, {k: v[p].numpy() for k, v in data.items()}, len(p) / len(index)) for p in parts]
    results = list(pool.map(_shard_gradient, *zip(*tasks)) if pool is not None
                   else (_shard_gradient(*t) for t in tasks))
    for k, param in enumerate(net.parameters()):
        grad = torch.from_numpy(results[0][0][k]).clone()
        for grads, *_ in results[1:]:
            grad += torch.from_numpy(grads[k])
        param.grad = grad
    return sum(r[1] for r in results), sum(r[2] for r in results) if pool is not None else 0.0


def _shard_gradient(state: dict[str, np.ndarray], data: dict[str, np.ndarray], weight: float
                    ) -> tuple[list[np.ndarray], float, float]:
    """One part of a batch on one thread: ``weight`` × its mean loss's gradients, loss, CPU s."""
    t0 = time.process_time()
    with torch_threads(1):
        net = AmortisedMapNet.from_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
        target = {k: torch.from_numpy(v) for k, v in data.items()}
        m, logit, _ = net(target["x"])
        fit, bce = imitation_loss(net.head, m, logit, target)
        loss = weight * (fit + bce)
        loss.backward()
    return [p.grad.numpy() for p in net.parameters()], float(loss.detach()), time.process_time() - t0


def distil(config: MetaDecoderConfig | None = None, *, rounds: Sequence[tuple[int, int]] = ((64, 20), (32, 8), (32, 8)),
           n_lanes: int = 16, first_s: float = 360.0, next_s: float = 120.0, hidden_size: int = 128,
           head: str = "map", evaluations: bool = False, lr: float = 2e-3, batch: int = 32,
           teacher: dict[str, Any] | None = None, seed: int = 0, jobs: int = 1,
           gap: int | Sequence[int] = 1, gap_input: bool = False, fit_shards: int = 1,
           progress: bool = True) -> tuple[AmortisedMapNet, pd.DataFrame]:
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
    head : {"map", "posterior"}
        What the network reads out and is fitted to (:class:`AmortisedMapNet`): the teacher's
        mode map, or its whole posterior.
    evaluations : bool
        The network reads :data:`EVALUATION_NAMES` too.
    teacher : dict, optional
        :class:`ErrorMapInference` arguments replacing the teacher's defaults.
    seed : int
        Weights and the training subjects (a stream apart from held-out seeds).
    jobs : int
        Processes recording the batches and computing the parts of a gradient (the result does
        not depend on it).
    fit_shards : int
        Parts each gradient step's batch is split into, their gradients summed (with ``jobs``
        processes computed side by side, so the fit is no longer one core's work). The same
        loss; 1 (the default) keeps the rounding of the single-process fit, and so the weights
        recorded before it existed.
    gap, gap_input : int or sequence of int, bool
        The days between a sequence's two sessions and whether the network reads them (and the
        teacher diffuses its posterior over them): :func:`record_sessions`.
    progress : bool
        A progress bar over the recorded batches.

    Returns
    -------
    net : AmortisedMapNet
        The trained network.
    history : pandas.DataFrame
        One row per round: ``round``, ``sequences``, ``record_cpu_s`` (all processes),
        ``fit_cpu_s`` (all processes), ``wall_s``, ``epochs``, ``loss_first``, ``loss_last``.
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
        net = AmortisedMapNet(hidden_size, head, evaluations=evaluations, gap_input=gap_input)
        data: dict[str, list[np.ndarray]] = {"x": [], "map" if head == "map" else "posterior": [],
                                             "explore": []}
        jobs = check_int("jobs", jobs, 1)
        fit_shards = check_int("fit_shards", fit_shards, 1)
        pool = ProcessPoolExecutor(jobs) if jobs > 1 else None
        rows = []
        rounds = [(check_int("rounds batches", b, 1), check_int("rounds epochs", e, 1)) for b, e in rounds]
        bar = progress_bar(progress, total=sum(b for b, _ in rounds), desc="DAgger batches")
        for r, (n_batches, epochs) in enumerate(rounds):
            w0 = time.perf_counter()
            net.eval()
            seeds = [int(np.random.SeedSequence([seed, 1, r, b]).generate_state(1)[0]) for b in range(n_batches)]
            record = partial(_record_batch, config, n_lanes=n_lanes, first_s=first_s, next_s=next_s,
                             student=None if r == 0 else net, evaluations=evaluations, teacher=teacher,
                             keys=tuple(data), gap=gap, gap_input=gap_input)
            record_s = 0.0
            for rec, cpu_s in (map(record, seeds) if pool is None else pool.map(record, seeds)):
                for k in data:
                    data[k].append(rec[k])
                record_s += cpu_s
                bar.update()
            net.train()
            tensors = {k: torch.from_numpy(np.concatenate(v)) for k, v in data.items()}
            t0 = time.process_time()
            losses, pool_cpu_s = _fit(net, tensors, epochs, batch=batch, lr=lr, generator=generator,
                                      shards=fit_shards, pool=pool)
            rows.append({"round": r, "sequences": len(tensors["x"]), "record_cpu_s": record_s,
                         "fit_cpu_s": time.process_time() - t0 + pool_cpu_s,
                         "wall_s": time.perf_counter() - w0,
                         "epochs": len(losses),
                         "loss_first": losses[0], "loss_last": losses[-1]})
        bar.close()
        if pool is not None:
            pool.shutdown()
        net.eval()
    return net, pd.DataFrame(rows)


def _record_batch(config: MetaDecoderConfig, seed: int, *, keys: tuple[str, ...],
                  **kwargs: Any) -> tuple[dict[str, np.ndarray], float]:
    """Run :func:`record_sessions` on one thread; return the arrays ``keys`` and its CPU seconds."""
    t0 = time.process_time()
    with torch_threads(1):
        rec = record_sessions(config, seed, **kwargs)
    return {k: rec[k] for k in keys}, time.process_time() - t0


def amortised_map_sessions(net: AmortisedMapNet, config: MetaDecoderConfig, days: Sequence[int],
                           seconds: float = 120.0, *, seed: int = 0,
                           then: Sequence[tuple[Sequence[int], float]] = (), **kwargs: Any) -> pd.DataFrame:
    """Play the trained network on held-out subject-days (as :func:`map_inference_sessions`).

    A network with ``gap_input`` is told each later session's days since the previous one.
    ``**kwargs`` go to :class:`AmortisedMapDecoder` (``interval_bins`` and ``latency_bins``
    default to the channel's).
    """
    def make(env: MetaDecoderEnv) -> AmortisedMapDecoder:
        channel = channel_kwargs(env)
        window = {"interval_bins": channel.get("interval_bins", 20), "latency_bins": channel.get("latency_bins", 6)}
        return AmortisedMapDecoder(net, env.num_envs, seed=np.random.default_rng([check_int("seed", seed, 0), 11]),
                                   **{**window, **kwargs})

    return learner_sessions(config, days, make, seconds, seed=seed, then=then, gaps=net.gap_input)
