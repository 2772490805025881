r"""ChEES-HMC: Hamiltonian Monte Carlo whose chains all move in one batched gradient call.

Every chain takes the same number of leapfrog steps with the same step size, so each leapfrog
step is one call of ``log_density_and_gradient`` on a ``(chains, dim)`` array: for the
hierarchical models that is one likelihood call over chains × subjects lanes, the lanes the
package batches over. The chains share three tuning values, adapted during warm-up:

- the step size :math:`\epsilon`, by dual averaging (Nesterov 2009; Hoffman & Gelman 2014,
  Alg. 5) so that the mean acceptance probability of the chains is ``target_accept``; the final
  :math:`\epsilon` is then read off the acceptance law fitted to the terminal window's iterates
  (:func:`_step_size_for`, below) instead of dual averaging's averaged iterate;
- a diagonal inverse mass matrix, the variance of the chains' warm-up draws over Stan's
  doubling windows (Stan Development Team, *Reference Manual*, "HMC algorithm parameters");
- the trajectory length :math:`T`, by stochastic gradient ascent (Adam on :math:`\log T`) on the
  Change-in-the-Estimator-of-the-Expected-Square criterion of Hoffman, Radul & Sountsov (2021),

  .. math::

      \mathrm{ChEES}(T) = \tfrac14 \mathbb E\big[(\lVert\theta' - \bar\theta\rVert^2
      - \lVert\theta - \bar\theta\rVert^2)^2\big],

  whose gradient per chain is estimated by
  :math:`(\lVert\theta'-\bar\theta'\rVert^2 - \lVert\theta-\bar\theta\rVert^2)\,
  (\theta'-\bar\theta')\cdot p'\; u`, weighted by the chain's acceptance probability
  (their eq. 5; :math:`u` the jitter, distances in the preconditioned space).

The chains may be split over processes (``gather``): each process moves its own chains, and
every warm-up iteration the processes exchange their chains' statistics (positions before and
after the proposal, the proposal's velocity, the acceptance probabilities) so that every process
computes the same adaptation from all the chains — the criterion of Hoffman et al. is a statistic
across chains — and takes the same number of leapfrog steps. Each chain draws its momenta and
Metropolis uniforms from its own generator, so the draws do not depend on how the chains are
split (up to the rounding of the batched log density).

Each iteration's trajectory length is jittered, :math:`t = u T` with :math:`u` from a Halton
sequence on (0, 1] (their §3.2), giving ``ceil(t / ε)`` leapfrog steps. After warm-up the three
values are fixed, so the draws are those of an HMC kernel that leaves the target invariant
(the leapfrog map is volume-preserving and reversible for any position-dependent force, and the
Metropolis step uses the exact log density). A transition whose energy error exceeds 1,000 is
divergent (Stan's threshold).

References
----------
Hoffman, M. D., Radul, A. & Sountsov, P. (2021). An adaptive-MCMC scheme for setting trajectory
lengths in Hamiltonian Monte Carlo. AISTATS, PMLR 130, 3907–3915.

Hoffman, M. D. & Gelman, A. (2014). The No-U-Turn sampler. JMLR 15, 1593–1623.

Beskos, A., Pillai, N., Roberts, G., Sanz-Serna, J.-M. & Stuart, A. (2013). Optimal tuning of the
hybrid Monte Carlo algorithm. Bernoulli 19(5A), 1501–1534.

Neal, R. M. (2011). MCMC using Hamiltonian dynamics. In Handbook of Markov Chain Monte Carlo,
CRC Press, ch. 5.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import ndtr, ndtri

from cogmodels.fits.checkpoint import (
    CheckpointFile,
    fingerprint,
    generator_states,
    restore_generators,
)
from cogmodels.progress import progress_bar
from cogmodels.validation import check_int, check_number

__all__ = ["CheesResult", "chain_generators", "chees_hmc", "pipe_gather"]

#: an energy error above this marks a divergent transition (Stan's threshold)
DIVERGENCE_ENERGY = 1000.0

LogDensity = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
#: ``gather(local) -> all``: every process's ``(chains, m)`` statistics, stacked in process order
Gather = Callable[[np.ndarray], np.ndarray]


@dataclass
class CheesResult:
    """The draws and statistics of :func:`chees_hmc`.

    Attributes
    ----------
    draws : numpy.ndarray
        ``(chains, draws, dim)`` positions after warm-up.
    accept_prob : numpy.ndarray
        ``(chains, draws)`` Metropolis acceptance probabilities.
    diverging : numpy.ndarray
        ``(chains, draws)`` bool, energy error above 1,000.
    n_leapfrog : numpy.ndarray
        ``(draws,)`` leapfrog steps of each iteration (shared by the chains).
    step_size : float
        The adapted step size.
    trajectory_length : float
        The adapted trajectory length :math:`T`.
    inverse_mass : numpy.ndarray
        ``(dim,)`` the adapted diagonal inverse mass matrix.
    n_gradients : int
        Calls of the log density (each scores every chain), the step-size heuristic's included.
    warmup_n_leapfrog : numpy.ndarray
        ``(n_warmup,)`` leapfrog steps of each warm-up iteration.
    warmup_trajectory_length : numpy.ndarray
        ``(n_warmup,)`` the trajectory length :math:`T` after each warm-up iteration's update: whether
        it settled or still drifts by the end of warm-up.
    """

    draws: np.ndarray
    accept_prob: np.ndarray
    diverging: np.ndarray
    n_leapfrog: np.ndarray
    step_size: float
    trajectory_length: float
    inverse_mass: np.ndarray
    n_gradients: int
    warmup_n_leapfrog: np.ndarray
    warmup_trajectory_length: np.ndarray


def _halton(i: int, base: int = 2) -> float:
    """Return the ``i``-th (``i >= 1``) element of the van der Corput sequence in ``base``: in (0, 1)."""
    f, r = 1.0, 0.0
    while i > 0:
        f /= base
        r += f * (i % base)
        i //= base
    return r


def _adaptation_windows(n_warmup: int) -> set[int]:
    """Return the iterations after which the mass matrix is re-estimated: Stan's doubling windows.

    A fast interval of 15 % (at most 75 iterations), windows of 25, 50, 100 ... iterations, and a
    terminal fast interval of 10 % (at most 50) for the step size alone.
    """
    start = min(75, int(0.15 * n_warmup))
    end = n_warmup - min(50, int(0.1 * n_warmup))
    out, size, at = set(), 25, start
    while at + size <= end:
        nxt = at + size
        if nxt + 2 * size > end:  # the last window runs to the terminal interval
            nxt = end
        out.add(nxt)
        at, size = nxt, 2 * size
    return out


class _DualAveraging:
    """Nesterov's dual averaging of ``log ε`` (Hoffman & Gelman 2014, Alg. 5; Stan's constants)."""

    def __init__(self, step_size: float, target: float) -> None:
        self.restart(step_size)
        self.target = target

    def restart(self, step_size: float) -> None:
        self.mu = np.log(10 * step_size)
        self.h_bar, self.log_eps_bar, self.t = 0.0, 0.0, 0

    def update(self, accept: float) -> float:
        self.t += 1
        eta = 1.0 / (self.t + 10.0)
        self.h_bar = (1 - eta) * self.h_bar + eta * (self.target - accept)
        log_eps = self.mu - np.sqrt(self.t) / 0.05 * self.h_bar
        w = self.t ** -0.75
        self.log_eps_bar = w * log_eps + (1 - w) * self.log_eps_bar
        return float(np.exp(log_eps))

    @property
    def final(self) -> float:
        return float(np.exp(self.log_eps_bar))


def _leapfrog(log_density: LogDensity, x: np.ndarray, p: np.ndarray, grad: np.ndarray, eps: float,
              inv_mass: np.ndarray, n_steps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``n_steps`` leapfrog steps of every chain: one log-density call per step."""
    logp = None
    p = p + 0.5 * eps * grad
    for i in range(n_steps):
        x = x + eps * inv_mass * p
        logp, grad = log_density(x)
        p = p + (eps if i < n_steps - 1 else 0.5 * eps) * grad
    return x, p, logp, grad


def _all_chains(local: np.ndarray) -> np.ndarray:
    """Return ``local``: the ``gather`` of one process holding every chain."""
    return local


def chain_generators(seed: int | np.random.Generator | Sequence[np.random.Generator] | None,
                     n_chains: int) -> list[np.random.Generator]:
    """Return one generator per chain.

    ``seed`` itself when it is a sequence of ``n_chains`` generators, else ``n_chains`` children
    spawned from ``seed`` (:meth:`numpy.random.Generator.spawn`).

    Parameters
    ----------
    seed : int, numpy.random.Generator, sequence of numpy.random.Generator or None
        The seed of the chains, or each chain's own generator.
    n_chains : int
        The chains.

    Returns
    -------
    generators : list of numpy.random.Generator
        ``n_chains`` independent streams.
    """
    if isinstance(seed, Sequence):
        rngs = list(seed)
        if len(rngs) != n_chains or not all(isinstance(r, np.random.Generator) for r in rngs):
            raise ValueError(f"seed must be an int, a Generator or one Generator per chain ({n_chains}), "
                             f"got a sequence of {len(rngs)} {sorted({type(r).__name__ for r in rngs})}")
        return rngs
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    return rng.spawn(n_chains)


def _momenta(rngs: list[np.random.Generator], dim: int, inv_mass: np.ndarray) -> np.ndarray:
    """``(chains, dim)`` momenta ``p ~ N(0, M)``, each chain's from its own generator."""
    return np.stack([r.standard_normal(dim) for r in rngs]) / np.sqrt(inv_mass)


def chees_hmc(
    log_density: LogDensity,
    init: np.ndarray,
    *,
    n_warmup: int = 1000,
    n_draws: int = 1000,
    target_accept: float = 0.8,
    max_leapfrog: int = 1000,
    seed: int | np.random.Generator | Sequence[np.random.Generator] | None = None,
    gather: Gather | None = None,
    progress: bool = False,
    callback: Callable[[int], None] | None = None,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int = 50,
) -> CheesResult:
    r"""Sample every chain by ChEES-adapted HMC, one batched log-density call per leapfrog step.

    Parameters
    ----------
    log_density : callable
        ``log_density(x) -> (logp, grad)`` for ``x`` of shape ``(chains, dim)``: the
        ``(chains,)`` log densities (up to a constant) and their ``(chains, dim)`` gradients.
        ``-inf`` or NaN marks a point outside the support (the move is rejected).
    init : numpy.ndarray
        ``(chains, dim)`` starting points of this process's chains (at least 2 chains in all: the
        criterion compares them).
    n_warmup, n_draws : int
        Adaptation iterations (discarded) and kept draws per chain.
    target_accept : float, default 0.8
        The mean acceptance probability the step size adapts to.
    max_leapfrog : int, default 1000
        The most leapfrog steps of one iteration (bounds :math:`T / \epsilon`).
    seed : int, numpy.random.Generator or sequence of numpy.random.Generator, optional
        Momenta and Metropolis draws: one generator per chain (given, or spawned from ``seed``).
    gather : callable, optional
        With chains in several processes: ``gather(local) -> all``, the ``(chains, m)`` arrays of
        every process stacked in process order (the same in every process, e.g.
        :func:`pipe_gather`). Called at the same points in every process; the adaptation then uses
        every chain. None: this process holds every chain.
    progress : bool, default False
        Draw a bar of the iterations.
    callback : callable, optional
        Called with the iteration number after each iteration.
    checkpoint : str or os.PathLike, optional
        A file (``.npz``) the whole state is written to every ``checkpoint_every`` iterations and
        at the end (:class:`~cogmodels.fits.checkpoint.CheckpointFile`: atomic, the previous
        generation kept as ``<file>.prev``). If it exists when the run starts, the run resumes
        from it and gives the same draws, to the byte, as a run never stopped; a file written by
        another run (other ``init``, settings, generators or log density at ``init``) is refused.
        With ``gather``, each process passes its own file; the processes resume from the newest
        iteration all of them hold. The files are left in place: delete them when done.
    checkpoint_every : int, default 50
        Iterations between checkpoints.

    Returns
    -------
    result : CheesResult
        Draws, acceptance probabilities, divergences and the adapted tuning.
    """
    x = np.array(init, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 1:
        raise ValueError(f"init must be a (chains, dim) array, got shape {x.shape}")
    n_warmup = check_int("n_warmup", n_warmup, minimum=1)
    n_draws = check_int("n_draws", n_draws, minimum=1)
    max_leapfrog = check_int("max_leapfrog", max_leapfrog, minimum=1)
    target_accept = check_number("target_accept", target_accept, 0.0, 1.0, low_open=True, high_open=True)
    gather = _all_chains if gather is None else gather
    n_chains, dim = x.shape
    rngs = chain_generators(seed, n_chains)
    calls = [0]
    score = log_density

    def log_density(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # counted: the step-size heuristic's too
        calls[0] += 1
        return score(z)

    logp, grad = log_density(x)
    every_logp = gather(logp[:, None])[:, 0]
    if every_logp.shape[0] < 2:
        raise ValueError(f"init must hold at least 2 chains in all (the ChEES criterion compares them), "
                         f"got {every_logp.shape[0]}")
    if not np.all(np.isfinite(every_logp)):
        raise ValueError("the log density is not finite at every starting point: choose init inside the support")
    store = None
    if checkpoint is not None:
        every_n = check_int("checkpoint_every", checkpoint_every, minimum=1)
        store = CheckpointFile(checkpoint, fingerprint(x, logp, generator_states(rngs), n_warmup, n_draws,
                                                       target_accept, max_leapfrog))
    start = 0 if store is None else _agreed_start(store.available(), gather, n_chains)
    inv_mass = np.ones(dim)
    windows = _adaptation_windows(n_warmup)
    window_draws: list[np.ndarray] = []
    tried: list[tuple[float, float]] = []  # (step size, mean acceptance) since dual averaging restarted
    draws = np.zeros((n_chains, n_draws, dim))
    accept = np.zeros((n_chains, n_draws))
    diverging = np.zeros((n_chains, n_draws), dtype=bool)
    steps = np.zeros(n_draws, dtype=np.int64)
    warm_steps = np.zeros(n_warmup, dtype=np.int64)
    warm_length = np.zeros(n_warmup)
    total = n_warmup + n_draws
    if start == 0:
        eps = _initial_step_size(log_density, x, logp, grad, inv_mass, rngs, gather)
        dual = _DualAveraging(eps, target_accept)
        log_t, adam_m, adam_v, adam_i = np.log(eps), 0.0, 0.0, 0  # T starts at one step
    else:  # resume: every value the loop carries, as it was after iteration start - 1
        state = store.load(start)
        x, logp, grad, inv_mass = state["x"], state["logp"], state["grad"], state["inv_mass"]
        draws, accept, diverging, steps = state["draws"], state["accept"], state["diverging"], state["steps"]
        warm_steps, warm_length = state["warm_steps"], state["warm_length"]
        window_draws, tried = list(state["window_draws"]), [tuple(t) for t in state["tried"].tolist()]
        eps, log_t, adam_m, adam_v = (float(v) for v in state["floats"])
        adam_i, calls[0] = (int(v) for v in state["ints"])
        dual = _DualAveraging(eps, target_accept)
        dual.mu, dual.h_bar, dual.log_eps_bar = (float(v) for v in state["dual"])
        dual.t = int(state["dual_t"])
        restore_generators(rngs, str(state["rngs"]))

    def snapshot() -> dict[str, Any]:
        """Return the loop's state after the current iteration (read through the closure)."""
        return {"x": x, "logp": logp, "grad": grad, "inv_mass": inv_mass, "draws": draws, "accept": accept,
                "diverging": diverging, "steps": steps, "warm_steps": warm_steps, "warm_length": warm_length,
                "window_draws": (np.stack(window_draws) if window_draws
                                 else np.zeros((0, len(every_logp), dim))),
                "tried": np.array(tried, dtype=np.float64).reshape(-1, 2),
                "floats": np.array([eps, log_t, adam_m, adam_v]), "ints": np.array([adam_i, calls[0]]),
                "dual": np.array([dual.mu, dual.h_bar, dual.log_eps_bar]), "dual_t": np.array(dual.t),
                "rngs": np.array(generator_states(rngs))}

    with progress_bar(progress, total=total, initial=start, unit="iteration", desc="chees-hmc") as bar:
        for it in range(start, total):
            warm = it < n_warmup
            u = _halton(it + 1)
            n_steps = int(min(max_leapfrog, max(1, np.ceil(u * np.exp(log_t) / eps))))
            p0 = _momenta(rngs, dim, inv_mass)
            x1, p1, logp1, grad1 = _leapfrog(log_density, x, p0, grad, eps, inv_mass, n_steps)
            with np.errstate(invalid="ignore", over="ignore"):
                h0 = -logp + 0.5 * np.sum(inv_mass * p0**2, axis=1)
                h1 = -logp1 + 0.5 * np.sum(inv_mass * p1**2, axis=1)
                delta = h0 - h1
            delta = np.where(np.isfinite(delta), delta, -np.inf)
            prob = np.exp(np.minimum(delta, 0.0))
            take = np.array([r.uniform() for r in rngs]) < prob
            x0 = x
            x = np.where(take[:, None], x1, x)
            logp = np.where(take, logp1, logp)
            grad = np.where(take[:, None], grad1, grad)
            if warm:
                # every chain's statistics, in every process: one exchange per warm-up iteration
                scale = 1.0 / np.sqrt(inv_mass)  # distances in the preconditioned space
                every = gather(np.concatenate([x0 * scale, x1 * scale, p1 * inv_mass * scale, x, prob[:, None]],
                                              axis=1))
                e_x0, e_x1, e_v1, e_x = np.split(every[:, :-1], 4, axis=1)
                e_prob = every[:, -1]
                g = _chees_gradient(e_x0, e_x1, e_v1, e_prob, u, float(np.exp(log_t)))
                # Adam on log T (Hoffman et al. 2021 use Adam, learning rate 0.025)
                adam_i += 1
                adam_m = 0.9 * adam_m + 0.1 * g
                adam_v = 0.999 * adam_v + 0.001 * g * g
                m_hat, v_hat = adam_m / (1 - 0.9**adam_i), adam_v / (1 - 0.999**adam_i)
                log_t += 0.025 * m_hat / (np.sqrt(v_hat) + 1e-8)
                log_t = float(np.clip(log_t, np.log(eps), np.log(eps * max_leapfrog)))
                warm_steps[it], warm_length[it] = n_steps, np.exp(log_t)
                tried.append((eps, float(np.mean(e_prob))))
                eps = dual.update(tried[-1][1])
                window_draws.append(e_x)
                if it + 1 in windows:  # a new mass matrix: the chains' variance over the window
                    pooled = np.concatenate(window_draws)
                    n = pooled.shape[0]
                    # Stan's regularisation toward 1e-3 with weight 5 / (n + 5)
                    inv_mass = (n / (n + 5.0)) * pooled.var(axis=0) + 1e-3 * (5.0 / (n + 5.0))
                    window_draws = []
                    eps = _initial_step_size(log_density, x, logp, grad, inv_mass, rngs, gather)
                    dual.restart(eps)
                    tried = []
                if it + 1 == n_warmup:
                    eps = _step_size_for(tried, target_accept, dual.final)
            else:
                j = it - n_warmup
                draws[:, j], accept[:, j], steps[j] = x, prob, n_steps
                diverging[:, j] = -delta > DIVERGENCE_ENERGY
            bar.update()
            if callback is not None:
                callback(it)
            if store is not None and ((it + 1) % every_n == 0 or it + 1 == total):
                store.save(it + 1, snapshot())
    return CheesResult(draws, accept, diverging, steps, float(eps), float(np.exp(log_t)), inv_mass, calls[0],
                       warm_steps, warm_length)


def _agreed_start(available: Sequence[int], gather: Gather, n_chains: int) -> int:
    """Return the newest checkpointed iteration that every process holds (0: none; start afresh).

    Each process offers its (at most two) generations on each of its chains' rows; the processes
    then choose the same iteration from the same gathered table.
    """
    offer = np.full((n_chains, 2), -1.0)
    offer[:, : len(available[:2])] = available[:2]
    table = gather(offer)
    common = set.intersection(*({int(v) for v in row if v > 0} for row in table))
    return max(common, default=0)


def _step_size_for(tried: Sequence[tuple[float, float]], target: float, fallback: float) -> float:
    r"""Return the step size whose mean acceptance is ``target`` by the acceptance law fitted to ``tried``.

    Dual averaging makes the mean acceptance *over its iterates* :math:`\epsilon_t` equal the
    target; with a few chains the iterates spread widely (their log has an SD of ~0.5 on a
    hierarchical posterior), and as acceptance is concave in :math:`\log\epsilon` above 1/2, the
    averaged iterate's acceptance is higher than the target (0.90–0.92 for 0.8), each draw taking
    more leapfrog steps than needed. Instead the acceptance law of HMC in many dimensions
    (Beskos et al. 2013: the limit as the dimension grows, for targets of independent components),

    .. math:: a(\epsilon) = 2\,\Phi(-\kappa\,\epsilon^2),

    is fitted by least squares to the pairs (step size, mean acceptance of the chains) of the last
    dual-averaging run (the terminal window, with the final mass matrix), and solved for the
    target: :math:`\epsilon = \sqrt{-\Phi^{-1}(\text{target}/2) / \kappa}`, kept within the range
    of the step sizes tried (no extrapolation). ``fallback`` (the averaged iterate) is returned
    when fewer than 5 pairs or a single step size were tried.
    """
    if len(tried) < 5:
        return fallback
    eps, accept = np.array(tried, dtype=np.float64).T
    ok = np.isfinite(eps) & np.isfinite(accept) & (eps > 0)
    eps, accept = eps[ok], accept[ok]
    if eps.size < 5 or eps.min() == eps.max():
        return fallback
    sq = eps**2

    def loss(log_kappa: float) -> float:
        return float(np.sum((accept - 2.0 * ndtr(-np.exp(log_kappa) * sq)) ** 2))

    # a(eps) spans 0.99 .. 0.01 for kappa eps^2 from 0.0125 to 2.6: bracket every kappa that can
    # move the acceptance between the smallest and largest step tried
    low, high = np.log(0.001 / sq.max()), np.log(10.0 / sq.min())
    kappa = float(np.exp(minimize_scalar(loss, bounds=(low, high), method="bounded",
                                         options={"xatol": 1e-6}).x))
    best = float(np.sqrt(-ndtri(target / 2.0) / kappa))
    return float(np.clip(best, eps.min(), eps.max()))


def _chees_gradient(x0: np.ndarray, x1: np.ndarray, v1: np.ndarray, prob: np.ndarray, u: float,
                    length: float) -> float:
    r"""Return the acceptance-weighted ChEES gradient estimate w.r.t. ``log T`` (Hoffman et al. 2021, eq. 5).

    ``x0``, ``x1`` are the chains' positions before and after the proposal and ``v1`` the velocity
    at the proposal (preconditioned space). With :math:`a = \lVert c_1\rVert^2 - \lVert c_0\rVert^2`
    (centred positions) the criterion is :math:`a^2 / 4`, its derivative w.r.t. the proposal
    :math:`a\,c_1`, and the proposal moves with :math:`\mathrm d\theta'/\mathrm d\log T = u T v'`.
    Chains whose proposal is not finite carry no weight.
    """
    ok = np.all(np.isfinite(x1), axis=1) & np.all(np.isfinite(v1), axis=1) & (prob > 0)
    if ok.sum() < 2:
        return 0.0
    x0, x1, v1, w = x0[ok], x1[ok], v1[ok], prob[ok]
    c0 = x0 - x0.mean(axis=0)
    c1 = x1 - np.sum(w[:, None] * x1, axis=0) / np.sum(w)  # centred on the accepted-weighted mean
    change = np.sum(c1**2, axis=1) - np.sum(c0**2, axis=1)
    per_chain = change * np.sum(c1 * v1, axis=1) * u * length
    return float(np.sum(w * per_chain) / np.sum(w))


def _initial_step_size(log_density: LogDensity, x: np.ndarray, logp: np.ndarray, grad: np.ndarray,
                       inv_mass: np.ndarray, rngs: list[np.random.Generator], gather: Gather) -> float:
    """Hoffman & Gelman's (2014, Alg. 4) heuristic: halve or double ε until one step accepts about 1/2.

    Chains move together: the criterion is the mean acceptance probability of one leapfrog step
    over every chain (of every process: ``gather``), so every process makes the same choices.
    """
    eps = 0.1
    p = _momenta(rngs, x.shape[1], inv_mass)
    h0 = -logp + 0.5 * np.sum(inv_mass * p**2, axis=1)

    def mean_accept(e: float) -> float:
        _, p1, logp1, _ = _leapfrog(log_density, x, p, grad, e, inv_mass, 1)
        with np.errstate(invalid="ignore", over="ignore"):
            d = h0 - (-logp1 + 0.5 * np.sum(inv_mass * p1**2, axis=1))
        d = np.where(np.isfinite(d), d, -np.inf)
        return float(np.mean(gather(np.exp(np.minimum(d, 0.0))[:, None])))

    a = mean_accept(eps)
    direction = 1.0 if a > 0.5 else -1.0
    for _ in range(30):  # at most 2^30 apart: enough for any scale
        if (a > 0.5) != (direction > 0):
            break
        eps *= 2.0**direction
        a = mean_accept(eps)
    return eps


def pipe_gather(index: int, connections: Mapping[int, Any]) -> Gather:
    """Return the ``gather`` of process ``index`` whose peers are at the ends of ``connections``.

    Each pair of processes shares one duplex :func:`multiprocessing.Pipe`; of a pair, the lower
    index sends first and the higher receives first, so two processes never both wait to send
    (the pairs are visited in the same order everywhere: no cycle of waits).

    Parameters
    ----------
    index : int
        This process's position (0 .. n - 1).
    connections : mapping of int to multiprocessing.connection.Connection
        Peer index -> this process's end of the pipe to it (every other process).

    Returns
    -------
    gather : callable
        ``gather(local) -> all``: the arrays of processes 0 .. n - 1 stacked along axis 0.
    """
    peers = sorted(connections)

    def gather(local: np.ndarray) -> np.ndarray:
        parts = {index: local}
        for j in peers:
            conn = connections[j]
            if index < j:
                conn.send(local)
                parts[j] = conn.recv()
            else:
                parts[j] = conn.recv()
                conn.send(local)
        return np.concatenate([parts[i] for i in sorted(parts)])

    return gather
