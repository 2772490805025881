r"""Latent-space stabiliser: factor analysis + Procrustes on stable channels (Degenhart et al. 2020).

The decoder reads the ``k`` factors of a factor-analysis model of the counts, not the counts
(:mod:`.factor_analysis`). On the calibration day the model ``Λ_0, μ_0, ψ_0`` is fit and a Kalman
filter is trained on the factors ``z = β_0 (y - μ_0)``. On a later day a new model ``Λ_d, μ_d, ψ_d``
is fit on that day's counts alone — no labels — and rotated back onto the calibration day's factors
by orthogonal Procrustes on the channels whose loadings did not change:

.. math::

    O = \arg\min_{OᵀO = I} \| Λ_d[s] O - Λ_0[s] \|_F = U Vᵀ, \qquad
    U Σ Vᵀ = Λ_d[s]ᵀ Λ_0[s]

The stable set ``s`` starts with all channels; each round aligns on ``s``, measures every channel's
mismatch ``‖Λ_d[i] O - Λ_0[i]‖`` and drops the worst channel of ``s`` until ``stable_fraction``
of the channels are left: Degenhart et al.'s greedy selection of ``B`` stable channels from the
data, one channel a round as in Wilson et al. (2023)'s ``identifyGoodChannels``. Wilson et al.'s
simulator example keeps ``B = 60`` of 192 units where 60 units keep their tuning
(``n_stable = 60``, ``simulator_notebooks/example_SubspaceStabilizer.ipynb``).
The day's factors are then read from the stable channels alone with the aligned model,
``z = β_d (y - μ_d)`` with ``β_d`` the posterior projection of ``Λ_d[s] O, ψ_d[s]``, and the
calibration day's decoder is used unchanged. The day's mean ``μ_d`` absorbs baseline shifts, and
also the block's mean intention when that is not zero (a user pushing one way for long against a
biased decoder): read through ``μ_d`` that push decodes as rest. In Wilson et al.'s task this
fed back day after day and their stabiliser copied with a daily mean failed like a fixed decoder;
:class:`~cogmodels.agents.decoders.wilson_decoder.WilsonLatentDecoder` therefore centres every
day at the calibration day's mean (``benchmarks/RESULTS.md``, E13). Here ``μ_d`` stays as
Degenhart et al. fit it: in a centre-out block with a working decoder the mean intention is
near zero (at most 0.05 SD per axis over 120 s, 16 simulated subjects), but with a failing
decoder (another subject's) it was 0.87 SD (median; up to 2.2), so the same loop can act on
this stabiliser once it falls behind.

The alignment assumes that the instabilities are confined to some channels (Degenhart et al.'s
recordings: a few electrodes lose or gain units); a drift that rotates every unit's tuning leaves
no stable channel, and then the alignment to the calibration day can only undo the rotation the
factors share. Wilson et al.'s simulator therefore **chains** the alignment (``chained: True`` in
``simulator_notebooks/performance_sweep.py``, with ``B = 190`` of 192 channels and 4 components):
each day is aligned to the previous day's aligned model, ``Λ_ref ← Λ_d O``, so a drift that changes
every channel a little each day is followed step by step (``chained=True`` here); their
unchained "static" stabiliser is this class's default.

- Degenhart, A. D., Bishop, W. E., Oby, E. R., Tyler-Kabara, E. C., Chase, S. M., Batista, A. P.,
  & Yu, B. M. (2020). Stabilization of a brain–computer interface via the alignment of
  low-dimensional spaces of neural activity. Nat Biomed Eng 4:672–685.
- Wilson, G. H., et al. (2023). Long-term unsupervised recalibration of cursor BCIs. bioRxiv
  10.1101/2023.02.03.527022 (their simulator: github guyhwilson/nonstationarities,
  ``utils/recalibration/stabilizer_utils.py``).
- Schönemann, P. H. (1966). A generalized solution of the orthogonal Procrustes problem.
  Psychometrika 31:1–10.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from cogmodels.agents import saving
from cogmodels.agents.decoders.base import Decoder, check_calibration
from cogmodels.agents.decoders.factor_analysis import (
    fit_factor_analysis,
    fit_pca,
    pca_projection,
    posterior_projection,
)
from cogmodels.agents.decoders.kalman import SteadyStateKalmanDecoder
from cogmodels.agents.decoders.stats import as_lanes
from cogmodels.validation import check_bool, check_choice, check_int, check_number

__all__ = ["LATENT_MODELS", "READ", "ProcrustesStabilizer", "align_lanes", "align_loadings",
           "check_day_counts", "fit_latent_model", "latent_projection", "procrustes_rotation",
           "project", "read_projection"]

#: which channels :meth:`ProcrustesStabilizer.realign` reads the factors from
READ = ("stable", "all")
#: the latent model: factor analysis (Degenhart et al.) or PCA (Wilson et al.'s simulator)
LATENT_MODELS = ("fa", "pca")


def procrustes_rotation(new: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Return the orthogonal ``O = U Vᵀ`` minimising ``‖new O - reference‖_F`` (Schönemann 1966).

    Parameters
    ----------
    new, reference : numpy.ndarray
        ``(n, k)`` matrices, ``U Σ Vᵀ = newᵀ reference``.

    Returns
    -------
    numpy.ndarray
        ``(k, k)`` orthogonal ``O``.
    """
    u, _, vt = np.linalg.svd(new.T @ reference)
    return u @ vt


def align_loadings(new: np.ndarray, reference: np.ndarray, n_stable: int, thresh: float = 0.0
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Align one lane's loadings ``new (N, k)`` onto ``reference (N, k)`` on stable channels.

    Parameters
    ----------
    new, reference : numpy.ndarray
        ``(N, k)`` loadings of the day to align and of the calibration day.
    n_stable : int
        How many channels to keep as stable (``k <= n_stable <= N``).
    thresh : float
        Channels whose ``reference`` loadings have a norm below ``thresh`` are dropped first
        (Wilson et al.'s ``identifyGoodChannels``: 0.05); if fewer than ``n_stable`` are left,
        the rotation is found on those alone.

    Returns
    -------
    rotation : numpy.ndarray
        ``(k, k)`` orthogonal ``O`` with ``new[stable] @ O ≈ reference[stable]``.
    stable : numpy.ndarray
        ``(N,)`` booleans: the channels kept.
    """
    stable = np.linalg.norm(reference, axis=1) >= thresh
    while True:
        rotation = procrustes_rotation(new[stable], reference[stable])
        left = int(stable.sum())
        if left <= n_stable:
            return rotation, stable
        mismatch = np.linalg.norm(new @ rotation - reference, axis=1)
        mismatch[~stable] = -np.inf
        stable[int(np.argmax(mismatch))] = False


def fit_latent_model(counts: np.ndarray, model: str, n_factors: int, n_iter: int = 200
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the latent model ``(Λ, μ, ψ)`` ``(L, N, k)``, ``(L, N)``, ``(L, N)`` of ``(T, L, N)`` counts.

    ``model``: ``"fa"``, factor analysis by EM (``n_iter`` iterations at most), or ``"pca"``,
    whose private variances are 0 (:mod:`.factor_analysis`).
    """
    if model == "pca":
        return fit_pca(counts, n_factors)
    return fit_factor_analysis(counts, n_factors, n_iter)


def latent_projection(model: str, loadings: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """Return the map ``(L, k, N)`` from centred counts to latents; channels with infinite ψ unread.

    PCA's projection on the loadings, or factor analysis's posterior mean ``β``.
    """
    if model == "pca":
        return pca_projection(np.where(np.isinf(noise)[..., None], 0.0, loadings))
    return np.nan_to_num(posterior_projection(loadings, noise))


def align_lanes(loadings: np.ndarray, reference: np.ndarray, n_stable: int,
                stable: np.ndarray | None = None, thresh: float = 0.0
                ) -> tuple[np.ndarray, np.ndarray]:
    """Align each lane's ``loadings (L, N, k)`` onto ``reference`` by Procrustes on stable channels.

    The stable channels are selected per lane (:func:`align_loadings`, keeping ``n_stable``
    of those whose reference loadings' norm reaches ``thresh``) or, when ``stable`` ``(L, N)``
    is given, taken as they are. Returns the aligned loadings ``Λ_d O`` ``(L, N, k)`` and the
    channels used ``(L, N)``.
    """
    aligned = np.zeros_like(loadings)
    used = np.zeros(loadings.shape[:2], dtype=bool)
    for lane in range(loadings.shape[0]):
        if stable is None:
            rot, keep = align_loadings(loadings[lane], reference[lane], n_stable, thresh)
        else:
            keep = stable[lane]
            rot = procrustes_rotation(loadings[lane, keep], reference[lane, keep])
        aligned[lane] = loadings[lane] @ rot
        used[lane] = keep
    return aligned, used


def read_projection(model: str, aligned: np.ndarray, noise: np.ndarray, mean: np.ndarray,
                    stable: np.ndarray, read: str) -> tuple[np.ndarray, np.ndarray]:
    """Return the projection ``(L, k, N)`` and offset ``(L, k)`` that read a day's aligned latents.

    ``read="all"``: every channel through the aligned model (Wilson et al.'s simulator);
    ``"stable"``: the ``stable`` channels alone, the others given infinite private variance.
    The latents are ``projection @ y - offset``.
    """
    if read == "stable":
        noise = np.where(stable, noise, np.inf)
        aligned = np.where(stable[..., None], aligned, 0.0)
        mean = np.where(stable, mean, 0.0)
    projection = latent_projection(model, aligned, noise)
    return projection, np.einsum("lkn,ln->lk", projection, mean)


def project(y: np.ndarray, projection: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """Return the latents ``(T, L, k)`` of counts ``(T, L, N)``: ``projection @ y - offset``."""
    z = y.astype(np.float64).transpose(1, 0, 2) @ np.swapaxes(projection, 1, 2)
    return z.transpose(1, 0, 2) - offset


def check_day_counts(counts: Any, n_lanes: int, n_units: int) -> np.ndarray:
    """Return a new day's counts as ``(T, L, N)``; raise unless ``T >= 3`` and ``L, N`` fit."""
    y, _ = as_lanes(counts)
    if y.shape[1:] != (n_lanes, n_units) or y.shape[0] < 3:
        raise ValueError(f"counts must have shape (T >= 3, {n_lanes}, {n_units}), got shape "
                         f"{np.shape(counts)}")
    return y


class ProcrustesStabilizer(Decoder):
    """A Kalman filter on factor-analysis latents, realigned each day (module docstring).

    Parameters
    ----------
    n_factors : int
        Number ``k`` of latent factors (Degenhart et al. used 10).
    stable_fraction : float
        Fraction of the channels kept as stable by :meth:`realign`, in (0, 1] (Degenhart et
        al.'s ``B`` over the number of channels).
    read : {"stable", "all"}
        Which channels the realigned factors are read from: ``"stable"``, the stable channels
        alone (the others get infinite private variance); ``"all"``, every channel through the
        new day's aligned model ``Λ_d O, ψ_d`` — the rotation is still found on the stable
        channels only (Wilson et al. 2023's simulator: ``new_model.transform(data) @ R``).
    n_iter : int
        Largest number of EM iterations of each factor-analysis fit.
    ridge, dt : float
        The inner :class:`~cogmodels.agents.decoders.kalman.SteadyStateKalmanDecoder`'s ridge
        penalty and bin width (its other settings are its defaults).
    chained : bool
        Align each day to the last aligned day (Wilson et al.'s simulator) instead of to the
        calibration day (Degenhart et al.).
    model : {"fa", "pca"}
        The latent model: factor analysis (Degenhart et al.) or PCA, whose latents are the
        projections on the leading eigenvectors (Wilson et al.'s simulator: ``model_type='PCA'``).

    Attributes
    ----------
    loadings_, mean_, noise_ : numpy.ndarray
        The calibration day's model: ``(L, N, k)``, ``(L, N)``, ``(L, N)``; with ``chained``,
        ``loadings_`` is the last aligned day's ``Λ_d O``, the next alignment's reference.
    projection_ : numpy.ndarray
        ``(L, k, N)`` the current map from counts to factors (0 on unstable channels).
    offset_ : numpy.ndarray
        ``(L, k)``: ``projection_ @ μ``, subtracted from the projected counts.
    stable_ : numpy.ndarray
        ``(L, N)`` the channels used since the last :meth:`realign` (all after :meth:`fit`).
    decoder_ : SteadyStateKalmanDecoder
        The filter on the factors.
    """

    _model_arrays = ("loadings_", "mean_", "noise_", "projection_", "offset_", "stable_")
    _state_arrays = ()

    def __init__(self, n_factors: int = 10, stable_fraction: float = 0.5, n_iter: int = 200,
                 ridge: float = 1e-3, dt: float = 0.02, read: str = "stable",
                 chained: bool = False, model: str = "fa") -> None:
        self.n_factors = check_int("n_factors", n_factors, 1)
        self.stable_fraction = check_number("stable_fraction", stable_fraction, 0.0, 1.0,
                                            low_open=True)
        self.read = check_choice("read", read, READ)
        self.n_iter = check_int("n_iter", n_iter, 1)
        self.ridge = check_number("ridge", ridge, 0.0)
        self.dt = check_number("dt", dt, 0.0, low_open=True)
        self.chained = check_bool("chained", chained)
        self.model = check_choice("model", model, LATENT_MODELS)

    def fit(self, counts: Any, velocity: Any) -> ProcrustesStabilizer:
        """Fit the calibration day's factor model and the filter on its factors; return ``self``."""
        y, x, single = check_calibration(counts, velocity)
        if y.shape[2] < self.n_factors:
            raise ValueError(f"counts must have at least n_factors={self.n_factors} channels, "
                             f"got {y.shape[2]}")
        self.loadings_, self.mean_, self.noise_ = self._fit_latents(y)
        self._fitted(y.shape[1], y.shape[2], single)
        self.stable_ = np.ones((self.n_lanes_, self.n_units_), dtype=bool)
        self.projection_, self.offset_ = read_projection(self.model, self.loadings_, self.noise_,
                                                         self.mean_, self.stable_, "all")
        self.decoder_ = SteadyStateKalmanDecoder(ridge=self.ridge, dt=self.dt)
        self.decoder_.fit(self.transform(y), x)
        return self

    def _fit_latents(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return the latent model ``(Λ, μ, ψ)`` of counts ``(T, L, N)``."""
        return fit_latent_model(y, self.model, self.n_factors, self.n_iter)

    def transform(self, counts: Any) -> np.ndarray:
        """Return the factors ``(T, L, k)`` of counts ``(T, L, N)`` under the current alignment."""
        self._check_fitted()
        y, _ = as_lanes(counts)
        return project(y, self.projection_, self.offset_)

    def realign(self, counts: Any, stable: Any = None) -> ProcrustesStabilizer:
        """Fit a factor model on a new day's counts ``(T, L, N)`` and align it; return ``self``.

        No labels are used: this is the unsupervised daily step of Degenhart et al. (2020).

        Parameters
        ----------
        counts : numpy.ndarray
            ``(T, L, N)`` (or ``(T, N)`` for one lane) counts of the new day.
        stable : numpy.ndarray, optional
            ``(N,)`` or ``(L, N)`` booleans: align on these channels instead of selecting them
            from the data — an oracle for ablations (a simulator's hidden stable set), not
            Degenhart et al.'s method. At least ``n_factors`` channels per lane.

        Returns
        -------
        ProcrustesStabilizer
            ``self``, realigned.
        """
        self._check_fitted()
        y = check_day_counts(counts, self.n_lanes_, self.n_units_)
        given = None if stable is None else self._check_stable(stable)
        lam, mean, psi = self._fit_latents(y)
        n_stable = max(self.n_factors, int(round(self.stable_fraction * self.n_units_)))
        aligned, self.stable_ = align_lanes(lam, self.loadings_, n_stable, given)
        if self.chained:
            self.loadings_ = aligned  # a fresh array: the next day aligns to it
        self.projection_, self.offset_ = read_projection(self.model, aligned, psi, mean,
                                                         self.stable_, self.read)
        return self

    def _check_stable(self, stable: Any) -> np.ndarray:
        """Return ``stable`` as ``(L, N)`` booleans with at least ``n_factors`` per lane."""
        s = np.asarray(stable)
        shape = (self.n_lanes_, self.n_units_)
        if s.dtype != bool or s.shape not in {shape, shape[1:]}:
            raise ValueError(f"stable must be booleans of shape {shape[1:]} or {shape}, got "
                             f"dtype {s.dtype} and shape {s.shape}")
        s = np.broadcast_to(s, shape)
        if (s.sum(axis=1) < self.n_factors).any():
            raise ValueError(f"stable must mark at least n_factors={self.n_factors} channels per "
                             f"lane, got {s.sum(axis=1).min()}")
        return s

    def _reset_state(self, mask: np.ndarray | None) -> None:
        self.decoder_.reset(mask)

    def _step(self, y: np.ndarray) -> np.ndarray:
        z = np.einsum("lkn,ln->lk", self.projection_, y.astype(np.float64)) - self.offset_
        return self.decoder_.step(z).copy()

    def steady_gain(self) -> np.ndarray:
        """Return the inner filter's steady-state gain ``(L, 2, 2)`` (see ``EncodingDecoder``)."""
        return self.decoder_.steady_gain()

    def _save_extra(self, writer: Any, key: str) -> dict[str, Any]:
        """Return the inner filter's node: saved in the same files, its arrays under ``decoder_.``."""
        return {"inner": writer.node(self.decoder_, f"{key}decoder_.")}

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        super()._restore(arrays)
        self.stable_ = self.stable_.astype(bool)

    def _load_extra(self, node: dict[str, Any], reader: Any, key: str, base: Path | None) -> None:
        if "inner" in node:
            self.decoder_ = reader.node(node["inner"], f"{key}decoder_.")
        elif node.get("format") == saving.FORMATS[0]:  # format 1: the filter in <path>_decoder.*
            from cogmodels.agents.decoders.base import load_decoder

            self.decoder_ = load_decoder(_inner_path(base))
        else:
            raise reader.error(f"{key}decoder_", "be saved under 'inner' (format 2)", "none")


def _inner_path(base: Path) -> Path:
    return base.with_name(base.name + "_decoder")
