r"""Unsupervised spike features for a reward-trained decoder, re-estimated as the neurons drift.

From spike counts ``c_t`` (``n_units`` per bin of ``dt`` seconds), batched over lanes:

.. math::

    s_t = \rho\, s_{t-1} + (1 - \rho)\, c_t, \quad \rho = e^{-dt/\tau}
    \qquad\text{(exponential smoothing)}

    y_t = R\, \Lambda_k^{-1/2} U_k^\top D^{-1/2} (s_t - m)
    \qquad\text{(z-score, whitened top-}k\text{ principal components, aligned)}

with ``m``, ``D`` the mean and the variances of ``s`` and ``U_k``, ``Λ_k`` the top ``k``
eigenvectors and eigenvalues of its correlation matrix. They are first estimated from
``calibration_bins`` bins. With ``half_life_s=None`` they are then frozen (a day-0 projection);
with a half-life they keep being re-estimated, as exponentially weighted running moments,

.. math::

    m \leftarrow \beta m + (1 - \beta)\, \bar s_{\text{block}}, \qquad
    S \leftarrow \beta S + (1 - \beta)\, \overline{s s^\top}_{\text{block}}, \qquad
    \beta = 2^{-n_{\text{block}}\, dt / t_{1/2}},

folded in every ``refit_s`` seconds of spikes (a block), after which the projection is recomputed:
data ``t_{1/2}`` seconds old weigh half as much as new data, so a day's new tuning replaces the
old one in a few half-lives of use. Each new projection is rotated onto the previous one
(orthogonal Procrustes on the current covariance: ``R = U V^\top`` from the SVD
``A_{\text{old}} C A_{\text{new}}^\top = U S V^\top``), so the features stay white and change as
little as the new statistics allow — a policy learnt on them keeps most of its meaning (the
alignment of latent factors across days of Degenhart et al. 2020, Nat Biomed Eng 4, 672–685,
here on principal components and without labels).

At each re-estimate :attr:`SpikeFeatures.carry_` records the least-squares map from the new
features to the previous ones on the current statistics,

.. math::

    y_{\text{old}} \approx M\, y_{\text{new}}, \qquad
    M = A_{\text{old}} C A_{\text{new}}^\top (A_{\text{new}} C A_{\text{new}}^\top)^{-1},

so that a linear read-out learnt on the old features, ``W``, becomes ``W M`` on the new ones and
keeps its output as far as the new features allow (for whitened features the second factor is
the identity, unless an eigenvalue had to be clamped). The rotation alone does not keep it: each
re-estimate scales every component back to unit variance, so a read-out's gain moves with the
statistics — on a population with a large shared drive, as the user's commands change with the
decoder's own progress (:class:`~cogmodels.agents.decoders.reward.RewardDecoder` carries its
policy through ``M``). The map is between the centred features: the shift of the running mean
itself, ``A_old (m_new - m_old)``, is not carried (tracking the mean is what the re-estimate is
for).

Cosine-tuned units put the intended velocity in a 2-D subspace of the rates, which the leading
components pick up (Gallego et al. 2020, Nat Neurosci 23, 260–270: a stable low-dimensional
manifold read through drifting units).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cogmodels.validation import check_int, check_number

__all__ = ["SpikeFeatures"]

#: bins of smoothed counts buffered between two updates of the second moments
_CHUNK = 128


def _check_components(n_components: Any, n_units: int) -> int | None:
    if n_components is None:
        return None
    if isinstance(n_components, bool) or not isinstance(n_components, int | np.integer) or not (
            1 <= n_components <= n_units):
        raise ValueError(f"n_components must be an integer in [1, n_units={n_units}] or None, "
                         f"got {n_components!r}")
    return int(n_components)


class SpikeFeatures:
    """Smoothed, z-scored, whitened principal components of spike counts, batched over lanes.

    ``__call__(counts)`` takes ``(n_lanes, n_units)`` counts and returns ``(n_lanes,
    n_features)`` features (zeros until :attr:`ready`). See the module docstring.

    Parameters
    ----------
    n_units : int
        Spike channels.
    n_lanes : int
        Independent streams (subjects).
    n_components : int or None
        Principal components kept (4); None keeps every z-scored unit (no PCA).
    tau : float
        Smoothing time constant (s; 0: none).
    dt : float
        Bin width (s).
    calibration_bins : int
        Bins of spikes for the first estimate (>= 2).
    half_life_s : float or None
        Half-life (s of spikes) of the running estimates; None freezes the first estimate.
    refit_s : float
        Seconds of spikes between re-estimates (with a half-life).

    Attributes
    ----------
    projection : numpy.ndarray or None
        ``(n_lanes, n_features, n_units)``, None while calibrating.
    offset : numpy.ndarray or None
        ``(n_lanes, n_features)``: the features are ``projection @ s - offset``.
    explained : numpy.ndarray or None
        Variance fraction of each component (of the correlation matrix).
    n_refits : int
        Re-estimates since the first one.
    carry_ : numpy.ndarray or None
        ``(n_lanes, n_features, n_features)``: the map ``M`` from the latest re-estimate's
        features to the previous ones (``y_old ≈ M y_new``, least squares on the current
        statistics); None before the first re-estimate.
    """

    #: set by each re-estimate (None in a file saved before it existed)
    carry_: np.ndarray | None = None

    def __init__(
        self,
        n_units: int,
        n_lanes: int = 1,
        *,
        n_components: int | None = 4,
        tau: float = 0.1,
        dt: float = 0.02,
        calibration_bins: int = 3000,
        half_life_s: float | None = None,
        refit_s: float = 10.0,
    ) -> None:
        self.n_units = check_int("n_units", n_units, 1)
        self.n_lanes = check_int("n_lanes", n_lanes, 1)
        self.n_components = _check_components(n_components, self.n_units)
        self.tau = check_number("tau", tau, 0.0)
        self.dt = check_number("dt", dt, 0.0, low_open=True)
        self.calibration_bins = check_int("calibration_bins", calibration_bins, 2)
        self.half_life_s = (None if half_life_s is None else
                            check_number("half_life_s", half_life_s, 0.0, low_open=True))
        self.refit_s = check_number("refit_s", refit_s, 0.0, low_open=True)
        self.refit_bins = max(2, int(round(self.refit_s / self.dt)))
        self.rho = float(np.exp(-self.dt / self.tau)) if self.tau > 0 else 0.0
        self.n_features = self.n_components or self.n_units
        self.reset()

    def reset(self) -> SpikeFeatures:
        """Forget the statistics and the projection (back to calibrating)."""
        n, u = self.n_lanes, self.n_units
        self._clear_block()
        self.mean_: np.ndarray | None = None  # running moments (after the first estimate)
        self.second_: np.ndarray | None = None
        self.projection: np.ndarray | None = None
        self.offset: np.ndarray | None = None
        self.explained: np.ndarray | None = None
        self.n_refits = 0
        self.carry_ = None
        self.smoothed = np.zeros((n, u))
        self._started = np.zeros(n, dtype=bool)
        return self

    def _clear_block(self) -> None:
        n, u = self.n_lanes, self.n_units
        self.n_seen = 0
        self._sum = np.zeros((n, u))
        self._sum2 = np.zeros((n, u, u)) if self.n_components else np.zeros((n, u))
        self._buffer = np.zeros((n, _CHUNK, u))  # smoothed counts not yet in _sum2
        self._n_buffered = 0

    def _flush(self) -> None:
        """Add the buffered bins' outer products to ``_sum2`` (one matrix product per lane)."""
        x = self._buffer[:, :self._n_buffered]
        if self.n_components:
            self._sum2 += np.matmul(x.transpose(0, 2, 1), x)
        else:
            self._sum2 += (x * x).sum(axis=1)
        self._n_buffered = 0

    @property
    def ready(self) -> bool:
        """Whether the first estimate is done (the features are no longer zeros)."""
        return self.projection is not None

    def carry_since(self, seen: int | None) -> tuple[np.ndarray | None, int]:
        """Return ``(M, n_refits)``: :attr:`carry_` if a re-estimate happened since ``seen``, else None.

        The one way a reader of the features (a policy, a read-out, a posterior over a map)
        follows their re-estimates: keep the count returned, pass it back at the next bin, and
        re-express what was learnt by ``M`` when it is not None (``y_old ≈ M y_new``). Called every
        bin, ``M`` is the one re-estimate since the last call; None too after a :meth:`reset` or
        before the first re-estimate (nothing to carry).
        """
        if seen == self.n_refits:
            return None, self.n_refits
        return self.carry_, self.n_refits

    def restart(self, lanes: np.ndarray | None = None) -> None:
        """Restart the smoothing (a new session) in ``lanes`` (default: all)."""
        if lanes is None:
            self._started[:] = False
        else:
            self._started[lanes] = False

    def __call__(self, counts: np.ndarray) -> np.ndarray:
        """Return the features ``(n_lanes, n_features)`` of one bin (zeros while calibrating)."""
        c = np.asarray(counts, dtype=np.float64).reshape(self.n_lanes, self.n_units)
        s = self.smoothed
        fresh = ~self._started
        s[fresh] = c[fresh]
        s[~fresh] = self.rho * s[~fresh] + (1.0 - self.rho) * c[~fresh]
        self._started[:] = True
        if self.projection is None or self.half_life_s is not None:
            self._accumulate(s)
        if self.projection is None:
            return np.zeros((self.n_lanes, self.n_features))
        return np.einsum("lkn,ln->lk", self.projection, s) - self.offset

    def _accumulate(self, s: np.ndarray) -> None:
        self._sum += s
        self._buffer[:, self._n_buffered] = s
        self._n_buffered += 1
        self.n_seen += 1
        done = (self.n_seen >= self.calibration_bins if self.projection is None
                else self.n_seen >= self.refit_bins)
        if self._n_buffered == _CHUNK or done:
            self._flush()
        if self.projection is None and self.n_seen >= self.calibration_bins:
            self.mean_, self.second_ = self._sum / self.n_seen, self._sum2 / self.n_seen
            self._fit()
            self._clear_block()
        elif self.projection is not None and self.n_seen >= self.refit_bins:
            beta = 0.5 ** (self.n_seen * self.dt / self.half_life_s)
            self.mean_ = beta * self.mean_ + (1.0 - beta) * self._sum / self.n_seen
            self.second_ = beta * self.second_ + (1.0 - beta) * self._sum2 / self.n_seen
            self._fit()
            self.n_refits += 1
            self._clear_block()

    def _fit(self) -> None:
        mean = self.mean_
        if not self.n_components:
            var = self.second_ - mean**2
            scale = 1.0 / np.sqrt(np.maximum(var, 1e-8))
            if self.projection is not None:  # z-scores: M is diagonal, the ratio of the scales
                old = np.einsum("lnn->ln", self.projection)
                self.carry_ = np.einsum("ln,nm->lnm", old / scale, np.eye(self.n_units))
            self.projection = np.einsum("ln,nm->lnm", scale, np.eye(self.n_units))
            self.explained = np.full((self.n_lanes, self.n_units), 1.0 / self.n_units)
            self.offset = np.einsum("lkn,ln->lk", self.projection, mean)
            return
        cov = self.second_ - mean[:, :, None] * mean[:, None, :]
        sd = np.sqrt(np.maximum(np.einsum("lnn->ln", cov), 1e-8))
        corr = cov / (sd[:, :, None] * sd[:, None, :])
        evals, evecs = np.linalg.eigh(corr)  # ascending
        k = self.n_components
        lam = np.maximum(evals[:, ::-1][:, :k], 1e-8)
        vecs = evecs[:, :, ::-1][:, :, :k]  # (l, n, k)
        # a deterministic sign: the largest-magnitude loading of each component positive
        big = np.take_along_axis(vecs, np.abs(vecs).argmax(axis=1)[:, None, :], axis=1)
        vecs = vecs * np.sign(big)
        new = np.einsum("lnk,ln,lk->lkn", vecs, 1.0 / sd, 1.0 / np.sqrt(lam))
        if self.projection is not None:  # rotate onto the previous features (Procrustes)
            cross = np.einsum("lkn,lnm,ljm->lkj", self.projection, cov, new)
            u, _, vt = np.linalg.svd(cross)
            new = np.einsum("lkj,ljn->lkn", u @ vt, new)
            # M = A_old C A_new^T (A_new C A_new^T)^+: the second factor is I unless an
            # eigenvalue was clamped (more components than the correlation matrix's rank)
            cross = np.einsum("lkn,lnm,ljm->lkj", self.projection, cov, new)
            clamped = (evals[:, ::-1][:, :k] < 1e-8).any(axis=1)
            if clamped.any():
                gram = np.einsum("lkn,lnm,ljm->lkj", new[clamped], cov[clamped], new[clamped])
                cross[clamped] = cross[clamped] @ np.linalg.pinv(gram, hermitian=True)
            self.carry_ = cross
        self.projection = new
        self.explained = lam / evals.sum(axis=1, keepdims=True)
        self.offset = np.einsum("lkn,ln->lk", self.projection, mean)
