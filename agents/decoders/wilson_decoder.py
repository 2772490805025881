r"""Wilson et al. (2023)'s simulated decoders: a smoothed linear readout, and their stabiliser's.

- :class:`WilsonLinearDecoder`: the OLS readout every recalibration of their simulator refits,
  renormalised per output column to the decoder it replaces (``renormalizeDecoder``).
- :class:`WilsonLatentDecoder`: their stabiliser (``fit_LatentDecoder`` and
  ``recalibrate_LatentDecoder`` in ``utils/simulation/simulation_utils.py``): the same readout
  composed through a latent space (PCA of 4 components in their 60-day runs) that is realigned
  every day by Procrustes on stable channels (Degenhart et al. 2020), chained from day to day.

- Wilson, G. H., et al. (2023). Long-term unsupervised recalibration of cursor BCIs. bioRxiv
  10.1101/2023.02.03.527022 (github guyhwilson/nonstationarities, HEAD 844f489).
- Degenhart, A. D., et al. (2020). Stabilization of a brain–computer interface via the alignment
  of low-dimensional spaces of neural activity. Nat Biomed Eng 4:672–685.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cogmodels.agents.decoders.base import check_calibration
from cogmodels.agents.decoders.linear import RidgeDecoder
from cogmodels.agents.decoders.stabilizer import (
    LATENT_MODELS,
    READ,
    align_lanes,
    check_day_counts,
    fit_latent_model,
    project,
    read_projection,
)
from cogmodels.validation import check_bool, check_choice, check_int, check_number

__all__ = ["WILSON_SMOOTHING", "WilsonLatentDecoder", "WilsonLinearDecoder", "matched_columns"]


def matched_columns(new: np.ndarray, previous: np.ndarray) -> np.ndarray:
    r"""Return ``new`` ``(L, N + 1, 2)`` with each column scaled to ``previous``'s weight norm.

    Wilson et al.'s ``renormalizeDecoder``: ``W_{:,k} ← W_{:,k} ‖W^{prev}_{1:N,k}‖ /
    ‖W_{1:N,k}‖``, the intercept (last row) scaled with its column but left out of the norms.
    """
    ratio = (np.linalg.norm(previous[:, :-1], axis=1)
             / np.maximum(np.linalg.norm(new[:, :-1], axis=1), 1e-300))  # (L, 2)
    return new * ratio[:, None, :]


#: Wilson et al.'s decoder smoothing ``alpha = 0.94`` per 20 ms step (``performance_sweep.py``'s
#: ``base_opts['alpha']``, ``base_opts['delT'] = 0.02``)
WILSON_SMOOTHING = 0.94


class WilsonLinearDecoder(RidgeDecoder):
    r"""Wilson et al. (2023)'s simulated decoder: a smoothed OLS readout, refit per column-norm.

    The readout is :class:`~cogmodels.agents.decoders.linear.RidgeDecoder`'s, ``v_t = α v_{t-1}
    + (1 - α) Wᵀ [y_t, 1]``, with ``α = 0.94`` per 20 ms bin (``0.94 ** (dt / 0.02)`` for
    another bin width; their ``alpha``), and ``W`` an ordinary least-squares fit with intercept
    (scikit-learn's ``LinearRegression(fit_intercept=True)`` in their simulator):

    .. math::

        W = \operatorname*{arg\,min}_W \sum_t w_t \lVert x_t - Wᵀ z_t \rVert^2
          = (Zᵀ \Omega Z)^{+} Zᵀ \Omega X, \qquad z_t = [y_t, 1],\ \Omega = \operatorname{diag}(w)

    per lane (``w`` the bin weights: 1 on every bin, or 1 on the bins a recalibration selects;
    ``+`` the pseudo-inverse, ``numpy.linalg.lstsq``). :meth:`refit` is their recalibration
    (``simulate_RTIRecalibration``, ``simulate_HMMRecalibration`` and
    ``simulate_ClosedLoopRecalibration`` in ``utils/simulation/simulation_utils.py`` of github
    guyhwilson/nonstationarities, HEAD 844f489): a fresh OLS fit on the session's counts and
    labels, then ``renormalizeDecoder``, which rescales each output column ``k`` — weights and
    intercept together — so that the weights' norm is the **previous** decoder's:

    .. math::

        W_{:,k} \leftarrow W_{:,k}\, \frac{\lVert W^{\text{prev}}_{1:N,k} \rVert}
                                         {\lVert W_{1:N,k} \rVert}

    (``D_new /= norm(D_new[1:], axis=0) / norm(cfg['D'][1:], axis=0)``, the intercept row
    excluded from the norm but scaled). Chained from day to day, every column keeps its day-0
    norm. Their day-0 decoder is the same OLS fit on an open-loop block of 10,000 bins of random
    velocities ``x_t ~ N(0, I)`` (counts ``y_t = T x_t + b + N(0, 0.3²)``,
    ``simulate_OpenLoopRecalibration``) with each column scaled to norm 1; here :meth:`fit` is
    given the benchmark's calibration block and its columns are left as fitted (the daily gain
    sweep's grid is in our units).

    - Wilson, G. H., et al. (2023). Long-term unsupervised recalibration of cursor BCIs. bioRxiv
      10.1101/2023.02.03.527022.

    Parameters
    ----------
    dt : float
        The bin width (s), which sets the smoothing ``0.94 ** (dt / 0.02)``.
    """

    def __init__(self, dt: float = 0.02) -> None:
        self.dt = check_number("dt", dt, 0.0, low_open=True)
        super().__init__(alpha=0.0, smoothing=WILSON_SMOOTHING ** (self.dt / 0.02))

    def fit(self, counts: Any, velocity: Any, sample_weight: Any = None) -> WilsonLinearDecoder:
        """Fit ``W_`` by (weighted) least squares with intercept; return ``self``.

        ``counts`` ``(T, N)``/``(T, L, N)``, labels ``velocity`` ``(T, 2)``/``(T, L, 2)``,
        ``sample_weight`` ``(T,)``/``(T, L)`` >= 0 (None: 1). A lane whose weights are all 0 is
        fit on every bin (:meth:`refit` then keeps its previous weights).
        """
        y, x, single = check_calibration(counts, velocity)
        t, n_lanes, n = y.shape
        if sample_weight is None:
            w = np.ones((t, n_lanes))
        else:
            w = np.asarray(sample_weight, dtype=np.float64)
            if w.size != t * n_lanes or not (np.isfinite(w).all() and (w >= 0).all()):
                raise ValueError(f"sample_weight must be finite weights >= 0 of shape "
                                 f"{(t,) if single else (t, n_lanes)}, got shape "
                                 f"{np.shape(sample_weight)}")
            w = w.reshape(t, n_lanes)
        W = np.empty((n_lanes, n + 1, 2))
        for lane in range(n_lanes):
            keep = w[:, lane] > 0 if w[:, lane].any() else np.ones(t, dtype=bool)
            root = np.sqrt(np.where(w[keep, lane] > 0, w[keep, lane], 1.0))[:, None]
            z = np.hstack([y[keep, lane].astype(np.float64), np.ones((int(keep.sum()), 1))]) * root
            # normal equations through BLAS, solved by least squares (the pseudo-inverse when
            # a unit is silent or fewer bins than units are kept)
            W[lane] = np.linalg.lstsq(z.T @ z, z.T @ (x[keep, lane] * root), rcond=None)[0]
        self.W_ = W
        self._fitted(n_lanes, n, single)
        return self

    def equalize_columns(self, norm: float | None = None) -> WilsonLinearDecoder:
        """Give both output columns (weights and intercept) one norm; ``self``.

        Wilson et al.'s day-0 ``renormalizeDecoder`` without a previous decoder scales each
        column ``k`` to ``‖W_{1:N,k}‖ = 1`` in their units. ``norm`` None: the common norm is the
        RMS of the fitted ones, ``sqrt((‖W_{:,x}‖² + ‖W_{:,y}‖²) / 2)``, so the decoder's speed
        stays in the units of the gain grid while its two axes are made equal, as theirs are;
        a number: that norm (their unit norm in this simulator's channel units is
        ``0.3 / noise_sd``, :func:`run_wilson_protocol`'s ``decoder_units="wilson"``).
        """
        self._check_fitted()
        norms = np.linalg.norm(self.W_[:, :self.n_units_], axis=1)  # (L, 2)
        common = (np.sqrt((norms**2).mean(axis=1, keepdims=True)) if norm is None
                  else check_number("norm", norm, 0.0, low_open=True))
        self.W_ = self.W_ * (common / np.maximum(norms, 1e-300))[:, None, :]
        return self

    def refit(self, counts: Any, labels: Any, sample_weight: Any = None,
              renormalize: bool = True) -> WilsonLinearDecoder:
        """Return a new decoder fit on a session, each column renormalised to this one's norm.

        Wilson et al.'s recalibration (class docstring). ``renormalize=False``: the fresh OLS
        fit as it comes. A lane whose ``sample_weight`` is all 0 (no bin selected) keeps this
        decoder's weights, as their ``simulate_RTIRecalibration`` keeps ``cfg['D']``.
        """
        self._check_fitted()
        new = WilsonLinearDecoder(dt=self.dt).fit(counts, labels, sample_weight)
        if renormalize:
            new.W_ = matched_columns(new.W_, self.W_)
        if sample_weight is not None:
            empty = np.asarray(sample_weight, dtype=np.float64).reshape(
                -1, self.n_lanes_).sum(axis=0) == 0
            new.W_[empty] = self.W_[empty]
        return new


class WilsonLatentDecoder(WilsonLinearDecoder):
    r"""Wilson et al. (2023)'s stabiliser: their linear readout through a realigned latent space.

    Day 0 (:meth:`fit`): a latent model ``Λ_0, μ_0, ψ_0`` of the calibration counts (``model``:
    PCA, as their 60-day runs, or factor analysis), its latents ``z_t = β_0 (y_t - μ_0)``, and an
    OLS fit with intercept of the labels on them, ``x_t ≈ h_wᵀ z_t + h_c`` (their
    ``fit_LatentDecoder``). The decoder is :class:`WilsonLinearDecoder`'s readout with the
    composed weights

    .. math::

        W = \begin{bmatrix} β_dᵀ h_w \\ h_c - (β_d μ_0)ᵀ h_w \end{bmatrix}

    (their ``D = [intercept; h Qᵀ]``). A later day's map ``β_d`` reads the counts centred at
    ``μ_0``, the calibration block's mean (their day-0 block of random velocities: the channels'
    rates at rest), not at the day's own mean ``μ_d``: their simulated channels rest at 0 and
    their composed decoder keeps its intercept, which is this. Centring at ``μ_d`` would subtract
    the day's mean intention — in a closed-loop block with a biased decoder the user keeps
    pushing against the bias — and so build the bias into the next day's decoder, which in
    Wilson et al.'s 60-day protocol compounds until the decoder fails (``benchmarks/RESULTS.md``,
    E13). Each later day
    (:meth:`realign`, no labels): a new latent model of that day's counts, aligned onto the
    reference loadings by Procrustes on ``stable_fraction`` of the channels selected greedily
    (:func:`~cogmodels.agents.decoders.stabilizer.align_lanes`), the reference then replaced by
    the aligned loadings when ``chained`` (their ``daisy_chain``), ``W`` recomposed with the same
    ``h`` and each column renormalised to the previous decoder's weight norm (their
    ``recalibrate_LatentDecoder`` then ``renormalizeDecoder``). Their 60-day settings:
    ``model="pca"``, 4 components, ``B = 190`` of 192 channels, ``thresh`` 0.05, chained. The
    alignment is theirs: with PCA's orthonormal loadings their reference ``Λ_{d-1}`` and
    accumulated rotation ``R`` give the same map as this class's aligned reference
    ``Λ_{d-1} O`` (Procrustes commutes with it; a test runs their steps beside this class).

    Parameters
    ----------
    dt : float
        The bin width (s), which sets the readout's smoothing (:class:`WilsonLinearDecoder`).
    n_factors : int
        Latent dimensions ``k``.
    stable_fraction : float
        Share of the channels kept for the alignment, in (0, 1] (their ``B`` / channels).
    thresh : float
        Channels whose reference loadings' norm is below ``thresh`` are left out of the
        alignment before the greedy selection (their ``identifyGoodChannels``; with fewer than
        ``B`` left, none more is dropped).
    chained : bool
        Align each day to the last aligned day (their 60-day runs) instead of to day 0.
    model : {"pca", "fa"}
        The latent model.
    read : {"all", "stable"}
        Read the latents from every channel through the aligned model (theirs) or from the
        stable channels alone (:class:`~cogmodels.agents.decoders.stabilizer.ProcrustesStabilizer`).
    n_iter : int
        Largest number of EM iterations of a factor-analysis fit.

    Attributes
    ----------
    W_ : numpy.ndarray
        ``(L, N + 1, 2)`` the composed readout, the intercept last.
    h_ : numpy.ndarray
        ``(L, k + 1, 2)`` the latent readout ``[h_w; h_c]``.
    loadings_ : numpy.ndarray
        ``(L, N, k)`` the next alignment's reference (day 0's, or the last aligned day's).
    stable_ : numpy.ndarray
        ``(L, N)`` the channels of the last alignment (all after :meth:`fit`).
    centre_ : numpy.ndarray
        ``(L, N)`` the calibration block's mean counts ``μ_0``, where every day's latents are
        centred.
    """

    _model_arrays = ("W_", "h_", "loadings_", "stable_", "centre_")

    def __init__(self, dt: float = 0.02, n_factors: int = 4, stable_fraction: float = 190 / 192,
                 thresh: float = 0.05, chained: bool = True, model: str = "pca",
                 read: str = "all", n_iter: int = 200) -> None:
        super().__init__(dt=dt)
        self.n_factors = check_int("n_factors", n_factors, 1)
        self.stable_fraction = check_number("stable_fraction", stable_fraction, 0.0, 1.0,
                                            low_open=True)
        self.thresh = check_number("thresh", thresh, 0.0)
        self.chained = check_bool("chained", chained)
        self.model = check_choice("model", model, LATENT_MODELS)
        self.read = check_choice("read", read, READ)
        self.n_iter = check_int("n_iter", n_iter, 1)

    def fit(self, counts: Any, velocity: Any, sample_weight: Any = None) -> WilsonLatentDecoder:
        """Fit the day-0 latent model and the readout on its latents; return ``self``."""
        y, x, single = check_calibration(counts, velocity)
        if y.shape[2] < self.n_factors:
            raise ValueError(f"counts must have at least n_factors={self.n_factors} channels, "
                             f"got {y.shape[2]}")
        lam, mean, psi = fit_latent_model(y, self.model, self.n_factors, self.n_iter)
        stable = np.ones(y.shape[1:], dtype=bool)
        projection, offset = read_projection(self.model, lam, psi, mean, stable, "all")
        latents = project(y, projection, offset)
        self.h_ = WilsonLinearDecoder(dt=self.dt).fit(latents, x, sample_weight).W_
        self.loadings_, self.stable_, self.centre_ = lam, stable, mean
        self.W_ = self._composed(projection, offset)
        self._fitted(y.shape[1], y.shape[2], single)
        return self

    def _composed(self, projection: np.ndarray, offset: np.ndarray) -> np.ndarray:
        """Return the readout ``W`` ``(L, N + 1, 2)`` of latents ``projection @ y - offset``."""
        h_w, h_c = self.h_[:, :-1], self.h_[:, -1]
        weights = np.einsum("lkn,lkc->lnc", projection, h_w)
        intercept = h_c - np.einsum("lk,lkc->lc", offset, h_w)
        return np.concatenate([weights, intercept[:, None]], axis=1)

    def equalize_columns(self, norm: float | None = None) -> WilsonLatentDecoder:
        """:meth:`WilsonLinearDecoder.equalize_columns`, the latent readout scaled alike; ``self``."""
        before = np.linalg.norm(self.W_[:, :-1], axis=1)
        super().equalize_columns(norm)
        self.h_ = self.h_ * (np.linalg.norm(self.W_[:, :-1], axis=1)
                             / np.maximum(before, 1e-300))[:, None, :]
        return self

    def realign(self, counts: Any) -> WilsonLatentDecoder:
        """Return the decoder realigned on a new day's counts ``(T, L, N)`` (no labels)."""
        self._check_fitted()
        y = check_day_counts(counts, self.n_lanes_, self.n_units_)
        lam, _, psi = fit_latent_model(y, self.model, self.n_factors, self.n_iter)
        n_stable = max(self.n_factors, int(round(self.stable_fraction * self.n_units_)))
        aligned, stable = align_lanes(lam, self.loadings_, n_stable, thresh=self.thresh)
        new = WilsonLatentDecoder(**self.get_params())
        new.h_, new.stable_, new.centre_ = self.h_, stable, self.centre_
        new.loadings_ = aligned if self.chained else self.loadings_
        # the day's model centred where day 0's was: at the channels' rest rates, not the day's
        # mean, which holds the block's mean intention (their channels' rest rates are 0)
        new.W_ = matched_columns(new._composed(*read_projection(
            self.model, aligned, psi, self.centre_, stable, self.read)), self.W_)
        new._fitted(self.n_lanes_, self.n_units_, self._single)
        return new
