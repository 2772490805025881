r"""In-session Bayesian inference of the read-out map from the error signal (state only).

A decoder for the meta-decoder's task (:mod:`~cogmodels.agents.decoders.meta_rnn`): it reads
the same inputs — two re-estimated, whitened principal components ``z_t`` of the spikes and the
feedback ``r_t`` (success + the decoded error signal) — and adapts within the session without
any weight update: its state is a posterior over a grid of read-out maps. It is not trained; the
few constants (the map's gain, the channel's nominal rates, latency and interval) are design
values, the gain measured on training subject-days. It answers the question the meta-trained
networks left open: how fast can the error signal identify the map at all?

Hypotheses: with whitened components and isotropic intended velocities, the map from ``z`` to
the intended velocity is close to a scaled rotation or reflection (its two singular values are
0.30–0.45 on 16 training subject-days, ratio 0.7–0.95), so

.. math::

    M_j = g\, R(\theta_j)\, S_j, \qquad \theta_j \in \{0, \tfrac{2\pi}{n}, \dots\},\
    S_j \in \{I, \operatorname{diag}(1, -1)\}

(``2 n`` hypotheses, a uniform prior). The velocity sent is ``a_t = \tanh(M_{\hat j} z_t)``
with ``\hat j`` the posterior's mode (exploitation), or, while the posterior mass within
``near_deg`` of the mode is below ``confidence``, a random velocity ``\tanh(\sigma \xi)``,
``\xi \sim N(0, I)``, held for one evaluation interval (exploration: a displacement independent of
``z``; with the decoder's own map moving the cursor, every hypothesis that is a rotation of it
predicts the same evaluation, and the data confound).

Likelihood (the realistic channel's ``"window"`` events, :mod:`cogmodels.envs.bci.error_signal`:
every ``interval`` an error if the cursor did not get closer to the target, delivered ``latency``
later, read as an error with probability ``h`` and a correct move as one with probability ``f``):
an evaluation arriving at bin ``t`` judges the displacement ``D = \sum_s a_s`` of the bins
``s \in (t - L - I, t - L]``; under hypothesis ``j`` the user intended ``U_j = \sum_s M_j z_s``
over them, and

.. math::

    P(\text{error} \mid j) = f + (h - f)\, \sigma\!\big(-\kappa \cos(D, U_j)\big), \qquad
    \log p_j \mathrel{+}= \log P(r_t \mid j)

with ``r_t < 0`` an error and ``r_t > 0`` a correct move (a success counts as one).

Between sessions (:meth:`ErrorMapInference.new_session` with ``gap_days``) the carried posterior
is diffused as a random walk of the map's angle over the days since the last session: circularly
convolved, within each reflection, with a wrapped normal of SD
``drift_deg_per_sqrt_day * sqrt(gap_days)``; optionally a share ``(1 - (1 - 2 e)^G) / 2`` moves to
the other reflection (a flip of hazard ``e`` per day) and a share ``1 - (1 - u)^G`` is spread
uniformly (a floor of ``u`` per day). The gap is information a deployed decoder has (the calendar),
not a label.

References
----------
- Iturrate, I., Chavarriaga, R., Montesano, L., Minguez, J., & Millán, J. d. R. (2015).
  Teaching brain-machine interfaces as an alternative paradigm to neuroprosthetics control.
  Sci Rep 5, 13893. (Learning a device's mapping from decoded error potentials.)
- Even-Chen, N., et al. (2018). Feasibility of automatic error detect-and-undo system in human
  intracortical brain-computer interfaces. IEEE TBME 65, 1771–1784. (The channel's rates.)
- Thompson, W. R. (1933); Chaloner, K., & Verdinelli, I. (1995). Bayesian experimental design:
  a review. Stat Sci 10, 273–304. (Explore until the posterior is confident, then exploit.)
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from cogmodels.agents.decoders.meta_rnn import MetaDecoderConfig, MetaDecoderEnv, play_sessions
from cogmodels.validation import SeedLike, as_generator, check_bool, check_int, check_number

__all__ = ["ErrorMapInference", "JudgedWindow", "channel_kwargs", "check_channel_rates",
           "check_gap_days", "drift_kernel", "error_probability", "learner_sessions", "map_grid", "map_inference_sessions"]


class JudgedWindow:
    r"""The last ``L + I`` bins of features ``z`` and velocities ``a``: what an evaluation judges.

    An evaluation arriving after bin ``t`` judges the bins ``s \in (t - L - I, t - L]`` (the
    channel's interval ``I`` and latency ``L``). The one definition of that window, read by
    :class:`ErrorMapInference` and by the network's evaluation inputs
    (:class:`~cogmodels.agents.decoders.amortised_map.ChunkSummary`).
    """

    def __init__(self, n_lanes: int, interval_bins: int, latency_bins: int,
                 n_features: int = 2) -> None:
        self.n_lanes = check_int("n_lanes", n_lanes, 1)
        self.interval_bins = check_int("interval_bins", interval_bins, 1)
        self.latency_bins = check_int("latency_bins", latency_bins, 0)
        self.n_features = check_int("n_features", n_features, 1)
        self.clear()

    def clear(self) -> None:
        """Empty the history (a new session): zeros, index 0 the latest bin."""
        n_hist = self.latency_bins + self.interval_bins
        self.z = np.zeros((n_hist, self.n_lanes, self.n_features))
        self.a = np.zeros((n_hist, self.n_lanes, 2))

    def push(self, z: np.ndarray, a: np.ndarray) -> None:
        """Remember one bin's features ``(n_lanes, n_features)`` and velocity ``(n_lanes, 2)``."""
        self.z = np.roll(self.z, 1, axis=0)
        self.a = np.roll(self.a, 1, axis=0)
        self.z[0], self.a[0] = z, a

    def judged(self, lanes: Any = slice(None)) -> tuple[np.ndarray, np.ndarray]:
        """Return the judged bins' features ``(I, n_lanes, n_features)`` and velocities ``(I, n_lanes, 2)``."""
        window = slice(self.latency_bins, self.latency_bins + self.interval_bins)
        return self.z[window, lanes], self.a[window, lanes]


class ErrorMapInference:
    """Posterior over scaled rotations/reflections of 2 features, updated by the feedback.

    Batched over lanes; see the module docstring for the model.

    Parameters
    ----------
    n_lanes : int
        Independent sessions.
    gain : float
        ``g``, the maps' gain (features to widths/s; 0.3: 0.7 times the 0.42 fitted on training
        subject-days, the gain at which the supervised read-out works best).
    n_angles : int
        Rotations ``n`` in the grid (each with and without the reflection).
    hit_rate, false_alarm_rate : float
        The channel's nominal ``h`` and ``f``.
    interval_bins, latency_bins : int
        The channel's evaluation interval ``I`` and latency ``L`` in bins.
    sharpness : float
        ``kappa``: how sharply the evaluation follows the cosine.
    explore_sd : float
        ``sigma`` of the exploratory velocity (before the ``tanh``).
    confidence : float
        Posterior mass within ``near_deg`` of the mode at which exploration stops.
    near_deg : float
        Half-width (degrees) of the neighbourhood of the mode.
    seed : int, SeedSequence, Generator or None
        The exploratory velocities.
    drift_deg_per_sqrt_day : float
        The between-session kernel's SD of the map's angle after one day (degrees); after ``G``
        days ``drift_deg_per_sqrt_day * sqrt(G)``. Used only by :meth:`new_session` with
        ``gap_days``. The default, 9.4, is the least-squares fit of ``sd(G)^2 = c^2 G`` to the
        circular SD of the best-fitting map's angle change from day d to day d + G (G = 1, 2, 3,
        7, 14; 32 training-stream subject-days, seeds 7 and 8;
        ``benchmarks/measure_map_drift.py``).
    reflection_flip_per_day : float
        Daily hazard ``e`` of the map's reflection flipping (kernel only; in ``[0, 0.5]``).
    floor_per_day : float
        Daily share ``u`` of the posterior spread uniformly (kernel only; in ``[0, 1]``).

    Attributes
    ----------
    maps : numpy.ndarray
        ``(2 n, 2, 2)`` the hypotheses ``M_j``.
    log_posterior : numpy.ndarray
        ``(n_lanes, 2 n)`` unnormalised log posterior.
    explored : numpy.ndarray
        ``(n_lanes,)`` bins spent exploring since the last :meth:`reset`.

    Notes
    -----
    The defaults of ``sharpness``, ``explore_sd`` and ``confidence`` were chosen on 16
    training-stream subject-days (``seed`` 7), never on held-out ones.
    """

    def __init__(self, n_lanes: int, *, gain: float = 0.3, n_angles: int = 36,
                 hit_rate: float = 0.75, false_alarm_rate: float = 0.03, interval_bins: int = 20,
                 latency_bins: int = 6, sharpness: float = 2.0, explore_sd: float = 1.5,
                 confidence: float = 0.8, near_deg: float = 20.0,
                 seed: SeedLike = None, drift_deg_per_sqrt_day: float = 9.4,
                 reflection_flip_per_day: float = 0.0, floor_per_day: float = 0.0) -> None:
        self.n_lanes = check_int("n_lanes", n_lanes, 1)
        self.gain = check_number("gain", gain, 0.0, low_open=True)
        n = check_int("n_angles", n_angles, 4)
        self.hit_rate, self.false_alarm_rate = check_channel_rates(hit_rate, false_alarm_rate)
        self.interval_bins = check_int("interval_bins", interval_bins, 1)
        self.latency_bins = check_int("latency_bins", latency_bins, 0)
        self.sharpness = check_number("sharpness", sharpness, 0.0)
        self.explore_sd = check_number("explore_sd", explore_sd, 0.0)
        self.confidence = check_number("confidence", confidence, 0.0, 1.0)
        self.rng = as_generator(seed)
        self.drift_deg_per_sqrt_day = check_number("drift_deg_per_sqrt_day", drift_deg_per_sqrt_day, 0.0)
        self.reflection_flip_per_day = check_number("reflection_flip_per_day", reflection_flip_per_day,
                                                    0.0, 0.5)
        self.floor_per_day = check_number("floor_per_day", floor_per_day, 0.0, 1.0)
        self.maps, self._near = map_grid(self.gain, n, near_deg)
        self.reset()

    def reset(self) -> ErrorMapInference:
        """Forget everything: a uniform posterior, empty histories (a new subject)."""
        self.log_posterior = np.zeros((self.n_lanes, len(self.maps)))
        return self.new_session()

    def new_session(self, gap_days: int | Sequence[int] | None = None) -> ErrorMapInference:
        """Start a new session of the same subjects: empty histories, the posterior kept (the next day).

        Parameters
        ----------
        gap_days : int, sequence of int or None
            Calendar days since each lane's last session (one int for all lanes, or one per
            lane). None (the default) keeps the posterior as it is; otherwise it is first diffused
            by the between-session drift kernel (:meth:`drift`). A gap of 0 leaves it unchanged.

        Raises
        ------
        ValueError
            If ``gap_days`` is not None, an integer >= 0 or ``n_lanes`` of them.
        """
        if gap_days is not None:
            self.drift(gap_days)
        self.window = JudgedWindow(self.n_lanes, self.interval_bins, self.latency_bins)
        self._explore_a = np.zeros((self.n_lanes, 2))
        self.explored = np.zeros(self.n_lanes, dtype=np.int64)
        self._t = 0
        return self

    def drift(self, gap_days: int | Sequence[int]) -> None:
        """Diffuse the posterior over ``gap_days`` days of drift (the module docstring's kernel).

        Lanes with a gap of 0 are left exactly as they are; the others' log posterior becomes the
        log of the diffused, normalised posterior.
        """
        gaps = check_gap_days(gap_days, self.n_lanes)
        lanes = np.flatnonzero(gaps > 0)
        if not lanes.size:
            return
        p = self.posterior()[lanes]
        n = len(self.maps) // 2
        out = np.empty_like(p)
        for row, (q, g) in enumerate(zip(p.reshape(-1, 2, n), gaps[lanes])):
            kernel = drift_kernel(n, self.drift_deg_per_sqrt_day * np.sqrt(g))
            # circular convolution over the angles within each reflection (kernel symmetric)
            q = np.stack([np.real(np.fft.ifft(np.fft.fft(h) * np.fft.fft(kernel))) for h in q])
            flip = 0.5 * (1.0 - (1.0 - 2.0 * self.reflection_flip_per_day) ** g)
            q = (1.0 - flip) * q + flip * q[::-1]
            floor = 1.0 - (1.0 - self.floor_per_day) ** g
            q = (1.0 - floor) * q.reshape(-1) + floor / (2 * n)
            out[row] = np.maximum(q, 0.0) / np.maximum(q, 0.0).sum()
        self.log_posterior[lanes] = np.log(np.maximum(out, np.finfo(float).tiny))

    def posterior(self) -> np.ndarray:
        """Return the normalised posterior ``(n_lanes, 2 n)``."""
        p = np.exp(self.log_posterior - self.log_posterior.max(axis=1, keepdims=True))
        return p / p.sum(axis=1, keepdims=True)

    def decision(self) -> tuple[np.ndarray, np.ndarray]:
        """Return the posterior's mode map ``(n_lanes, 2, 2)`` and whether each lane explores.

        A lane explores while the posterior mass within ``near_deg`` of the mode is below
        ``confidence``; what :meth:`act` does next, and the targets a network imitating this
        inference learns (:mod:`~cogmodels.agents.decoders.amortised_map`).
        """
        mode = self.log_posterior.argmax(axis=1)
        sure = np.einsum("lk,lk->l", self._near[mode], self.posterior())
        return self.maps[mode], sure < self.confidence

    def act(self, z: np.ndarray) -> np.ndarray:
        """Return the velocity ``(n_lanes, 2)`` for features ``z`` ``(n_lanes, 2)``; remember both."""
        z = np.asarray(z, dtype=float)
        if z.shape != (self.n_lanes, 2):
            raise ValueError(f"z must have shape {(self.n_lanes, 2)}, got {z.shape}")
        mode_map, explore = self.decision()
        if self._t % self.interval_bins == 0:
            self._explore_a = np.tanh(self.explore_sd
                                      * self.rng.standard_normal((self.n_lanes, 2)))
        action = np.where(explore[:, None], self._explore_a, np.tanh(np.einsum("lij,lj->li", mode_map, z)))
        self.explored += explore
        self._t += 1
        self.window.push(z, action)
        return action

    def sent(self, action: np.ndarray) -> None:
        """Replace the velocity remembered for the last bin by the one actually sent.

        For a learner that shadows another decoder (the teacher of
        :mod:`~cogmodels.agents.decoders.amortised_map`): it then judges the evaluations by the
        displacement the cursor made. Call after :meth:`act`, before :meth:`observe`.
        """
        action = np.asarray(action, dtype=float)
        if action.shape != (self.n_lanes, 2):
            raise ValueError(f"action must have shape {(self.n_lanes, 2)}, got {action.shape}")
        self.window.a[0] = action

    def _p_error(self, d: np.ndarray, u: np.ndarray) -> np.ndarray:
        """``P(error | j) = f + (h - f) sigmoid(-kappa cos(d, u_j))``, broadcast over ``d, u``."""
        cos = (d * u).sum(-1) / (np.linalg.norm(d, axis=-1) * np.linalg.norm(u, axis=-1) + 1e-9)
        return error_probability(cos, self.hit_rate, self.false_alarm_rate, self.sharpness)

    def observe(self, feedback: np.ndarray) -> None:
        """Update the posterior of the lanes whose ``feedback`` (the bin's reward) is not 0."""
        r = np.asarray(feedback, dtype=float).reshape(self.n_lanes)
        lanes = np.flatnonzero(r != 0)
        if not lanes.size:
            return
        z, a = self.window.judged(lanes)  # (I, l, 2)
        d = a.sum(axis=0)  # (l, 2)
        u = np.einsum("jab,tlb->lja", self.maps, z)  # (l, J, 2)
        p_error = self._p_error(d[:, None, :], u)
        self.log_posterior[lanes] += np.log(np.where(r[lanes, None] < 0, p_error, 1.0 - p_error))


def check_channel_rates(hit_rate: float, false_alarm_rate: float) -> tuple[float, float]:
    """Return the channel's nominal ``(h, f)``, each in (0, 1) and ``h > f`` (else ``ValueError``).

    With ``h <= f`` an error would be evidence of a good move: every map learner would learn
    backwards.
    """
    h = check_number("hit_rate", hit_rate, 0.0, 1.0, low_open=True, high_open=True)
    f = check_number("false_alarm_rate", false_alarm_rate, 0.0, 1.0, low_open=True, high_open=True)
    if h <= f:
        raise ValueError(f"hit_rate must exceed false_alarm_rate, got hit_rate={hit_rate!r}, "
                         f"false_alarm_rate={false_alarm_rate!r}")
    return h, f


def error_probability(cos: np.ndarray, hit_rate: float, false_alarm_rate: float,
                      sharpness: float) -> np.ndarray:
    r"""Return ``P(error) = f + (h - f) sigmoid(-kappa cos)``: the channel's evaluation of a move.

    ``cos`` is the cosine between the judged displacement and the displacement the user intended;
    ``h``, ``f`` the channel's hit and false-alarm rates, ``kappa`` (``sharpness``) how sharply
    the evaluation follows the cosine. The likelihood of both map learners
    (:class:`ErrorMapInference`, :class:`~cogmodels.agents.decoders.gaussian_map.GaussianMapInference`).
    """
    h, f = hit_rate, false_alarm_rate
    return f + (h - f) / (1.0 + np.exp(sharpness * cos))


def map_grid(gain: float, n_angles: int = 36, near_deg: float = 20.0) -> tuple[np.ndarray, np.ndarray]:
    """Return the hypotheses ``M_j = g R(θ_j) S_j`` ``(2 n, 2, 2)`` and which are near each other.

    ``near[j, k]`` is 1 when ``M_k`` is ``M_j`` turned by at most ``near_deg`` (the same
    reflection): ``tr(M_jᵀ M_k) = 2 g² cos Δθ``. The grid of :class:`ErrorMapInference`.
    """
    gain = check_number("gain", gain, 0.0, low_open=True)
    n = check_int("n_angles", n_angles, 4)
    near = np.deg2rad(check_number("near_deg", near_deg, 0.0, 180.0))
    theta = np.arange(n) * 2.0 * np.pi / n
    c, s = np.cos(theta), np.sin(theta)
    rot = np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], 1)
    maps = gain * np.concatenate([rot, rot @ np.diag([1.0, -1.0])])
    similarity = np.einsum("jab,kab->jk", maps, maps) / (2.0 * gain**2)
    return maps, (similarity > np.cos(near) - 1e-9).astype(float)


def check_gap_days(gap_days: Any, n_lanes: int) -> np.ndarray:
    """Return ``gap_days`` as ``(n_lanes,)`` ints >= 0 (one int is every lane's)."""
    allowed = f"an integer >= 0 or a sequence of {n_lanes} of them (one per lane)"
    if isinstance(gap_days, bool | np.bool_ | str | bytes):
        raise ValueError(f"gap_days must be {allowed}, got {gap_days!r}")
    if isinstance(gap_days, numbers.Integral):
        gaps = np.full(n_lanes, int(gap_days))
    else:
        try:
            arr = np.asarray(gap_days)
        except Exception:  # noqa: BLE001  (anything unreadable is refused below)
            arr = np.asarray(None)
        if (arr.shape != (n_lanes,) or not np.issubdtype(arr.dtype, np.integer)
                or arr.dtype == np.bool_):
            raise ValueError(f"gap_days must be {allowed}, got {gap_days!r}")
        gaps = arr.astype(np.int64)
    if (gaps < 0).any():
        raise ValueError(f"gap_days must be {allowed}, got {gap_days!r}")
    return gaps


def drift_kernel(n_angles: int, sd_deg: float) -> np.ndarray:
    """Return the wrapped normal of SD ``sd_deg`` on the grid's angle offsets ``(n_angles,)``, sum 1.

    Offset ``k`` is a turn by ``360 k / n_angles`` degrees; SD 0 gives the identity (1 at 0).
    """
    n = check_int("n_angles", n_angles, 1)
    sd = check_number("sd_deg", sd_deg, 0.0)
    w = np.zeros(n)
    if sd == 0.0:
        w[0] = 1.0
        return w
    offset = np.arange(n) * 360.0 / n
    wraps = np.arange(-(int(np.ceil(6.0 * sd / 360.0)) + 1), int(np.ceil(6.0 * sd / 360.0)) + 2)
    w = np.exp(-0.5 * ((offset[:, None] + 360.0 * wraps[None, :]) / sd) ** 2).sum(axis=1)
    return w / w.sum()


def map_inference_sessions(config: MetaDecoderConfig, days: Sequence[int], seconds: float = 120.0, *,
                           seed: int = 0, then: Sequence[tuple[Sequence[int], float]] = (),
                           gap_kernel: bool = False, **kwargs) -> pd.DataFrame:
    """Play :class:`ErrorMapInference` on held-out subject-days of the meta-decoder's task.

    The subjects of ``seed`` (as :meth:`~cogmodels.agents.decoders.meta_rnn.MetaRNNDecoder.play`),
    from a uniform posterior and fresh spike features; it reads the features and the feedback the
    network reads (none with ``config.inputs="none"``: the ablation, which never stops exploring).
    With ``then``, later sessions of the same subjects follow (a decoder used day after day): each
    keeps the features' running statistics and basis (the new day's re-estimates are
    Procrustes-aligned to it, :meth:`~cogmodels.agents.decoders.meta_rnn.MetaDecoderEnv.reset`
    with ``carry_features``) and the posterior (:meth:`ErrorMapInference.new_session`).

    Parameters
    ----------
    config : MetaDecoderConfig
        The task and the features (``n_components`` must be 2).
    days : sequence of int
        One day per subject.
    seconds : float
        Session length.
    seed : int
        The subjects and the exploration.
    then : sequence of (days, seconds)
        Later sessions: one day per subject (e.g. ``days + 1``) and the session's length.
    gap_kernel : bool
        Hand each later session's days since the previous session (per subject) to
        :meth:`ErrorMapInference.new_session` (the between-session drift kernel); False keeps the
        posterior as it was.
    **kwargs
        :class:`ErrorMapInference` arguments (the channel's nominal rates, interval and
        latency default to the task's ``error_signal``, at the environment's ``dt``).

    Returns
    -------
    pandas.DataFrame
        The trial table of :meth:`~cogmodels.agents.decoders.meta_rnn.MetaRNNDecoder.play`; with
        ``then``, the sessions' tables one after the other with their index in ``session``
        (0: the first), times counted from each session's start.
    """
    if config.n_components != 2:
        raise ValueError(f"config.n_components must be 2 for the map inference, got "
                         f"{config.n_components!r}")

    def make(env: MetaDecoderEnv) -> ErrorMapInference:
        return ErrorMapInference(env.num_envs, seed=np.random.default_rng([check_int("seed", seed, 0), 11]),
                                 **{**channel_kwargs(env), **kwargs})

    return learner_sessions(config, days, make, seconds, seed=seed, then=then, gaps=gap_kernel)


def channel_kwargs(env: MetaDecoderEnv) -> dict[str, float]:
    """Return the error-signal channel's nominal interval, latency (bins) and rates (design values).

    Empty when the environment has no error signal.
    """
    spec = env.base.config.error_signal
    if spec is None:
        return {}
    interval, latency = spec.bins(env.dt)
    return {"interval_bins": interval, "latency_bins": latency, "hit_rate": spec.hit_rate,
            "false_alarm_rate": spec.false_alarm_rate}


def learner_sessions(config: MetaDecoderConfig, days: Sequence[int],
                     make_learner: Callable[[MetaDecoderEnv], Any], seconds: float = 120.0, *,
                     seed: int = 0, then: Sequence[tuple[Sequence[int], float]] = (),
                     gaps: bool = False) -> pd.DataFrame:
    """Play a learner with ``act`` / ``observe`` / ``new_session`` on held-out subject-days.

    The engine of :func:`map_inference_sessions` (see there for ``days``, ``seconds``, ``seed``,
    ``then`` and the table returned); ``make_learner(env)`` builds the learner for the
    :class:`~cogmodels.agents.decoders.meta_rnn.MetaDecoderEnv` it will drive, one lane per day.
    With ``gaps``, each later session calls ``new_session(gap_days=...)`` with every lane's days
    since its previous session (a later day before the previous one is refused); without,
    ``new_session()`` (a learner need not take a gap).
    """
    days = [check_int("day", d, 0) for d in days]
    env = MetaDecoderEnv(config, len(days), days=days)
    learner = make_learner(env)
    obs, _ = env.reset(seed=seed)
    then = [(np.asarray([check_int("day", d, 0) for d in later]), length) for later, length in then]
    gaps = check_bool("gaps", gaps) if then else gaps
    previous = np.asarray(days)

    def new_session(later: np.ndarray) -> None:
        nonlocal previous
        if gaps:
            if later.shape != previous.shape or (later < previous).any():
                raise ValueError(f"then's days must be one per subject, none before the previous "
                                 f"session's {previous.tolist()}, got {later.tolist()}")
            learner.new_session(gap_days=later - previous)
        else:
            learner.new_session()
        previous = later

    return play_sessions(env, obs, learner.act, seconds, seed=seed, then=then,
                         observe=learner.observe, new_session=new_session)
