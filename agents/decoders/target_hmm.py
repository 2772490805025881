r"""Probabilistic retrospective inference of targets (PRI-T; Wilson et al. 2023): an HMM of the goal.

The user's target is a hidden state on a grid of ``S`` candidate positions ``g_i`` covering the
workspace. It stays put from one bin to the next with probability ``p`` (``stay``) and otherwise
jumps to any other grid point, uniformly:

.. math::

    P(s_t = j \mid s_{t-1} = i) = p\ (i = j), \qquad q = \frac{1 - p}{S - 1}\ (i \ne j)

Each bin emits the direction of the decoded velocity ``v_t``; given the target ``g_i`` it is
von Mises around the direction from the cursor ``p_t`` to ``g_i``, with a concentration that
falls to 0 near the target (a user on the target no longer aims anywhere):

.. math::

    \log P(v_t \mid s_t = i) = κ_{ti} \cos(θ(v_t) - θ(g_i - p_t)) - \log(2π I_0(κ_{ti})),
    \qquad κ_{ti} = \frac{κ}{1 + e^{-(|g_i - p_t| - δ) σ}}

(``kappa``, ``inflection`` δ and ``slope`` σ; Wilson et al.'s logistic adjustment of κ). A bin
whose decoded speed is 0 carries no direction and emits nothing. With a click (a selection:
here the bin at which the task registers a success), each bin also emits whether the user
clicked, a Bernoulli with probability ``click_hit`` when the cursor is within ``click_radius`` of
``g_i`` and ``click_false_alarm`` elsewhere — Wilson et al.'s click integration.

The transition matrix is never formed: with its two values, the forward recursion is
``α_t ∝ e_t ⊙ ((p - q) α_{t-1} + q Σα_{t-1})``, the backward one
``β_t = (p - q) e_{t+1} β_{t+1} + q Σ(e_{t+1} β_{t+1})``, and Viterbi's best predecessor of a
state is either itself or the best state of the previous bin — ``O(T S)`` instead of
``O(T S²)``.

:meth:`TargetHMM.infer` returns the Viterbi path's targets and each bin's posterior probability
of that target; :func:`hmm_labels` turns them into ReFIT-style intention labels (the decoded
velocity rotated toward the inferred target, 0 on it) weighted by the squared posterior
probability, as Wilson et al.'s weighted least-squares recalibration of real sessions does
(their simulator regresses the counts on the position error ``g - p`` toward the Viterbi
targets, unweighted; :func:`infer_lanes` returns those targets for it).

- Wilson, G. H., Willett, F. R., Stein, E. A., Kamdar, F., Avansino, D. T., Hochberg, L. R.,
  Shenoy, K. V., Druckmann, S., & Henderson, J. M. (2023). Long-term unsupervised recalibration
  of cursor BCIs. bioRxiv 2023.02.03.527022.
- Rabiner, L. R. (1989). A tutorial on hidden Markov models and selected applications in speech
  recognition. Proc IEEE 77:257–286 (the scaled forward-backward and Viterbi recursions).
"""

from __future__ import annotations

from concurrent.futures import Executor
from typing import Any

import numpy as np
from scipy.special import i0e

from cogmodels.agents.decoders.clda import refit_intention
from cogmodels.agents.saving import Saveable
from cogmodels.validation import check_int, check_number, check_probability

__all__ = ["TargetHMM", "hmm_labels", "infer_lanes", "target_grid"]


def target_grid(workspace: float, n: int) -> np.ndarray:
    """Return the ``(n², 2)`` centres of an ``n × n`` grid of cells tiling ``[-w, w]²``.

    Parameters
    ----------
    workspace : float
        Half-width ``w`` of the square workspace.
    n : int
        Cells per side.

    Returns
    -------
    numpy.ndarray
        Cell centres, row by row.
    """
    w = check_number("workspace", workspace, 0.0, low_open=True)
    n = check_int("n", n, 1)
    c = -w + (np.arange(n) + 0.5) * (2.0 * w / n)
    gx, gy = np.meshgrid(c, c)
    return np.stack([gx.ravel(), gy.ravel()], axis=1)


def _sequence(name: str, value: Any, length: int | None, width: int | None) -> np.ndarray:
    a = np.asarray(value, dtype=np.float64)
    want = (length if length is not None else a.shape[0] if a.ndim else 0,)
    if width is not None:
        want = (*want, width)
    if a.shape != want or not np.isfinite(a).all():
        raise ValueError(f"{name} must be a finite array of shape {want}, got shape {a.shape}")
    return a


class TargetHMM(Saveable):
    """The PRI-T hidden Markov model of the user's target (module docstring).

    Parameters
    ----------
    targets : numpy.ndarray
        ``(S, 2)`` candidate target positions (e.g. :func:`target_grid`).
    stay : float
        Probability ``p`` in (0, 1) that the target stays put for one more bin.
    kappa : float
        Von Mises concentration ``κ`` > 0 far from the target.
    inflection : float
        Distance ``δ`` >= 0 at which the concentration is halved.
    slope : float
        Steepness ``σ`` > 0 of the logistic fall of the concentration (per workspace width).
    click_hit, click_false_alarm : float
        Probability of a click in *one bin* with the cursor within ``click_radius`` of the
        target, and elsewhere. A per-bin rate: with a selection after a 0.5 s dwell in 20 ms
        bins, about 1/26 (the default 0.04). A large value (0.5) makes every bin spent on a
        target without a click strong evidence against it, and drags the inferred target off
        the true one during holds.
    click_radius : float
        Distance within which a click selects the target.

    Notes
    -----
    ``save(path)`` writes the settings (``targets`` to the ``.npz``);
    :func:`~cogmodels.agents.decoders.base.load_decoder` reads them back.
    """

    def __init__(self, targets: Any, stay: float = 0.999, kappa: float = 2.0,
                 inflection: float = 0.05, slope: float = 32.0, click_hit: float = 0.04,
                 click_false_alarm: float = 1e-4, click_radius: float = 0.075) -> None:
        t = np.asarray(targets, dtype=np.float64)
        if t.ndim != 2 or t.shape[1] != 2 or t.shape[0] < 2 or not np.isfinite(t).all():
            raise ValueError(f"targets must be a finite (S, 2) array with S >= 2, got shape "
                             f"{t.shape}")
        self.targets = t
        self.stay = check_probability("stay", stay, open_interval=True)
        self.kappa = check_number("kappa", kappa, 0.0, low_open=True)
        self.inflection = check_number("inflection", inflection, 0.0)
        self.slope = check_number("slope", slope, 0.0, low_open=True)
        self.click_hit = check_probability("click_hit", click_hit, open_interval=True)
        self.click_false_alarm = check_probability("click_false_alarm", click_false_alarm,
                                                   open_interval=True)
        self.click_radius = check_number("click_radius", click_radius, 0.0)

    @property
    def n_states(self) -> int:
        """The number ``S`` of candidate targets."""
        return self.targets.shape[0]

    def log_emission(self, velocity: Any, cursor: Any, click: Any = None) -> np.ndarray:
        """Return ``log P(observation_t | s_t = i)``, ``(T, S)``.

        Parameters
        ----------
        velocity, cursor : numpy.ndarray
            ``(T, 2)``: the decoded velocity of each bin and the cursor it moved from.
        click : numpy.ndarray, optional
            ``(T,)`` booleans: whether the bin held a click (None: no click model).

        Returns
        -------
        numpy.ndarray
            The per-bin, per-state log likelihoods.
        """
        v = _sequence("velocity", velocity, None, 2)
        p = _sequence("cursor", cursor, v.shape[0], 2)
        # written in place, operation for operation as
        # cos = (err · v) / max(|err| |v|, 1e-12),  κ_ti = κ / (1 + exp(-(|err| - δ) σ))
        # (0 where |v| <= 1e-9),  out = κ_ti cos - (log(2π i0e(κ_ti)) + κ_ti)
        err = self.targets[None] - p[:, None]  # (T, S, 2)
        dist = np.hypot(err[..., 0], err[..., 1])
        speed = np.hypot(v[:, 0], v[:, 1])
        out = np.einsum("tsk,tk->ts", err, v)
        del err
        den = np.multiply(dist, speed[:, None])
        np.divide(out, np.maximum(den, 1e-12, out=den), out=out)  # cos
        kappa = np.subtract(dist, self.inflection, out=den)
        np.negative(kappa, out=kappa)
        kappa *= self.slope
        np.exp(kappa, out=kappa)
        kappa += 1.0
        np.divide(self.kappa, kappa, out=kappa)
        kappa[~(speed > 1e-9)] = 0.0
        out *= kappa
        norm = i0e(kappa)
        norm *= 2.0 * np.pi
        np.log(norm, out=norm)
        norm += kappa
        out -= norm
        if click is not None:
            c = np.asarray(click, dtype=bool)
            if c.shape != (v.shape[0],):
                raise ValueError(f"click must have shape {(v.shape[0],)}, got shape {c.shape}")
            hit = np.where(dist <= self.click_radius, self.click_hit, self.click_false_alarm)
            out = out + np.log(np.where(c[:, None], hit, 1.0 - hit))
        return out

    def _jump(self) -> float:
        return (1.0 - self.stay) / (self.n_states - 1)

    def viterbi(self, log_e: np.ndarray) -> np.ndarray:
        """Return the most probable state sequence ``(T,)`` for log emissions ``(T, S)``.

        The start is uniform over the states. ``(T, L, S)`` emissions (``L`` independent
        sequences) give ``(T, L)`` paths, each the same as alone.
        """
        one = log_e.ndim == 2
        log_e = log_e[:, None] if one else log_e
        T, L, S = log_e.shape
        lanes = np.arange(L)
        log_p, log_q = np.log(self.stay), np.log(self._jump())
        delta = log_e[0] - np.log(S)
        stayed = np.zeros((T, L, S), dtype=bool)
        best_prev = np.zeros((T, L), dtype=np.int64)
        for t in range(1, T):
            j = np.argmax(delta, axis=1)
            keep = delta + log_p
            jump = (delta[lanes, j] + log_q)[:, None]
            stayed[t] = keep >= jump
            best_prev[t] = j
            delta = np.maximum(keep, jump) + log_e[t]
        path = np.empty((T, L), dtype=np.int64)
        path[-1] = np.argmax(delta, axis=1)
        for t in range(T - 1, 0, -1):
            path[t - 1] = np.where(stayed[t, lanes, path[t]], path[t], best_prev[t])
        return path[:, 0] if one else path

    def posterior(self, log_e: np.ndarray) -> tuple[np.ndarray, float]:
        """Return the posterior ``P(s_t = i | all bins)`` ``(T, S)`` and the log likelihood.

        Scaled forward-backward (Rabiner 1989) with the structured transitions of the module
        docstring; the start is uniform.
        """
        post = np.empty(log_e.shape)
        loglik = self._forward_backward(log_e[:, None], post=post[:, None])
        return post, float(loglik[0])

    def _forward_backward(self, log_e: np.ndarray, post: np.ndarray | None = None,
                          path: np.ndarray | None = None) -> np.ndarray:
        """Run the scaled forward-backward on ``(T, L, S)`` log emissions of ``L`` sequences.

        Fills ``post`` ``(T, L, S)`` with the posteriors and returns the ``(L,)`` log
        likelihoods; or, given a ``(T, L)`` ``path``, returns the ``(T, L)`` posteriors of the
        path's states (no ``(T, L, S)`` posterior is kept).
        """
        T, L, S = log_e.shape
        lanes = np.arange(L)
        p, q = self.stay, self._jump()
        shift = log_e.max(axis=2, keepdims=True)
        e = np.exp(log_e - shift)
        alpha = np.empty((T, L, S))
        scale = np.empty((T, L))
        a = e[0] / S
        for t in range(T):
            if t:
                a = e[t] * ((p - q) * alpha[t - 1] + q)  # Σα_{t-1} = 1
            scale[t] = a.sum(axis=1)
            alpha[t] = a / scale[t][:, None]
        beta = np.ones((L, S))
        conf = None if path is None else np.empty((T, L))
        for t in range(T - 1, -1, -1):
            if t < T - 1:
                eb = e[t + 1] * beta
                beta = ((p - q) * eb + (q * eb.sum(axis=1))[:, None]) / scale[t + 1][:, None]
            row = alpha[t] * beta
            if conf is None:
                post[t] = row
            else:
                conf[t] = row[lanes, path[t]] / row.sum(axis=1)
        loglik = np.log(scale).sum(axis=0) + shift[..., 0].sum(axis=0)
        if conf is not None:
            return conf
        post /= post.sum(axis=2, keepdims=True)
        return loglik

    def infer(self, velocity: Any, cursor: Any, click: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Infer the targets of a sequence of bins.

        Parameters
        ----------
        velocity, cursor : numpy.ndarray
            ``(T, 2)`` decoded velocities and the cursor positions they moved from.
        click : numpy.ndarray, optional
            ``(T,)`` click indicators (None: the model without clicks).

        Returns
        -------
        targets : numpy.ndarray
            ``(T, 2)`` the Viterbi path's target positions.
        confidence : numpy.ndarray
            ``(T,)`` the posterior probability of the Viterbi state in each bin.
        """
        goals, conf = infer_lanes(self, np.asarray(velocity, dtype=np.float64)[:, None],
                                  np.asarray(cursor, dtype=np.float64)[:, None],
                                  None if click is None else np.asarray(click)[:, None])
        return goals[:, 0], conf[:, 0]


#: float64 elements of one ``(T, lanes, S)`` block of emissions inferred at once (256 MB)
_BLOCK_ELEMENTS = 2**25


def _infer_block(hmm: TargetHMM, v: np.ndarray, p: np.ndarray, click: np.ndarray | None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Viterbi targets and their posteriors for ``(T, L, ·)`` bins, all ``L`` lanes at once."""
    T, L = p.shape[:2]
    log_e = np.empty((T, L, hmm.n_states))
    for lane in range(L):
        log_e[:, lane] = hmm.log_emission(v[:, lane], p[:, lane],
                                          None if click is None else click[:, lane])
    path = hmm.viterbi(log_e)
    return hmm.targets[path], hmm._forward_backward(log_e, path=path)


def infer_lanes(hmm: TargetHMM, velocity: np.ndarray, cursor: np.ndarray,
                click: np.ndarray | None = None, *, executor: Executor | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """Run :meth:`TargetHMM.infer` on each lane of ``(T, L, ·)`` closed-loop bins.

    Lanes are inferred in blocks, each block's recursions stepping all its lanes at once (the
    same numbers as lane by lane); with an ``executor`` (e.g. a
    :class:`concurrent.futures.ProcessPoolExecutor`) the blocks run in its workers.

    Parameters
    ----------
    hmm : TargetHMM
        The model; each lane's bins are one sequence.
    velocity, cursor : numpy.ndarray
        ``(T, L, 2)`` decoded velocities and cursor positions.
    click : numpy.ndarray, optional
        ``(T, L)`` click indicators.
    executor : concurrent.futures.Executor, optional
        Where to run the blocks (None: here, one after another).

    Returns
    -------
    targets : numpy.ndarray
        ``(T, L, 2)`` the inferred target of each bin.
    confidence : numpy.ndarray
        ``(T, L)`` the posterior probability of that target.
    """
    v, p = np.asarray(velocity, dtype=np.float64), np.asarray(cursor, dtype=np.float64)
    T, L = p.shape[:2]
    width = max(1, _BLOCK_ELEMENTS // max(1, T * hmm.n_states))
    if executor is not None:  # at least one block per worker
        width = min(width, -(-L // getattr(executor, "_max_workers", 1)))
    blocks = [slice(i, min(i + width, L)) for i in range(0, L, width)]
    args = [(hmm, v[:, b], p[:, b], None if click is None else np.asarray(click)[:, b])
            for b in blocks]
    parts = (list(executor.map(_infer_block, *zip(*args, strict=True))) if executor is not None
             else [_infer_block(*a) for a in args])
    return (np.concatenate([g for g, _ in parts], axis=1),
            np.concatenate([c for _, c in parts], axis=1))


def hmm_labels(hmm: TargetHMM, velocity: np.ndarray, cursor: np.ndarray, radius: Any,
               click: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return PRI-T's intention labels and weights for ``(T, L, ·)`` closed-loop bins.

    Parameters
    ----------
    hmm : TargetHMM
        The model; each lane's bins are one sequence.
    velocity, cursor : numpy.ndarray
        ``(T, L, 2)`` decoded velocities (the speed the labels keep) and cursor positions.
    radius : float or numpy.ndarray
        Target radius (scalar or ``(T, L)``) within which a label is 0 (holding still).
    click : numpy.ndarray, optional
        ``(T, L)`` click indicators.

    Returns
    -------
    labels : numpy.ndarray
        ``(T, L, 2)``: :func:`~cogmodels.agents.decoders.clda.refit_intention` toward the
        inferred targets.
    weights : numpy.ndarray
        ``(T, L)``: the squared posterior probability of each inferred target (Wilson et al.'s
        weighted least squares).
    """
    goals, conf = infer_lanes(hmm, velocity, cursor, click)
    return refit_intention(np.asarray(velocity, dtype=np.float64), cursor, goals, radius), conf**2
