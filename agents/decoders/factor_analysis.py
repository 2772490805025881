r"""Factor analysis by expectation-maximisation, batched over lanes (Ghahramani & Hinton 1996).

Model of ``N`` channels with ``k`` latent factors:

.. math::

    y = Λ z + μ + ε, \qquad z \sim \mathcal N(0, I_k), \quad ε \sim \mathcal N(0, \operatorname{diag} ψ)

With the sample covariance ``S``, each EM iteration (Woodbury form, ``O(N k²)`` besides the
products with ``S``):

.. math::

    β = (I + Λᵀ Ψ^{-1} Λ)^{-1} Λᵀ Ψ^{-1}, \quad
    E = I - β Λ + β S βᵀ, \quad Λ ← S βᵀ E^{-1}, \quad ψ ← \operatorname{diag}(S - Λ β S)

The latents' posterior mean, ``E[z | y] = β (y - μ)``, is what Degenhart et al. (2020) feed the
decoder. Λ is identified only up to an orthogonal rotation of the factors, which the
stabiliser's Procrustes alignment resolves (:mod:`.stabilizer`).

- Ghahramani, Z. & Hinton, G. E. (1996). The EM algorithm for mixtures of factor analyzers.
  Tech. Rep. CRG-TR-96-1, University of Toronto.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MIN_NOISE", "fit_factor_analysis", "posterior_projection", "shared_variance_fraction"]

#: floor of the private variances ψ (counts² per bin): silent channels stay finite
MIN_NOISE = 1e-3


def posterior_projection(loadings: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """Return ``β = (I + Λᵀ Ψ^{-1} Λ)^{-1} Λᵀ Ψ^{-1}``, ``(L, k, N)``, so ``E[z | y] = β (y - μ)``.

    Parameters
    ----------
    loadings : numpy.ndarray
        ``(L, N, k)`` loadings Λ.
    noise : numpy.ndarray
        ``(L, N)`` private variances ψ.

    Returns
    -------
    numpy.ndarray
        The projection of each lane.
    """
    lt_pinv = np.swapaxes(loadings, 1, 2) / noise[:, None, :]  # Λᵀ Ψ^{-1}, (L, k, N)
    k = loadings.shape[2]
    return np.linalg.solve(np.eye(k) + lt_pinv @ loadings, lt_pinv)


def fit_factor_analysis(counts: np.ndarray, n_factors: int, n_iter: int = 200,
                        tol: float = 1e-6) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit factor analysis to each lane of ``(T, L, N)`` counts by EM (module docstring).

    Parameters
    ----------
    counts : numpy.ndarray
        ``(T, L, N)`` observations.
    n_factors : int
        Number ``k`` of factors.
    n_iter : int
        Largest number of EM iterations.
    tol : float
        Stop when no loading changes by more than ``tol`` relative to the largest loading.

    Returns
    -------
    loadings : numpy.ndarray
        ``(L, N, k)`` Λ (initialised from the principal components, so deterministic).
    mean : numpy.ndarray
        ``(L, N)`` μ.
    noise : numpy.ndarray
        ``(L, N)`` ψ, at least :data:`MIN_NOISE`.
    """
    y = np.asarray(counts, dtype=np.float64)
    mean = y.mean(axis=0)
    yc = y - mean
    lanes = yc.transpose(1, 0, 2)  # (L, T, N): one BLAS product per lane, not an einsum loop
    S = np.swapaxes(lanes, 1, 2) @ lanes / y.shape[0]
    var = np.maximum(np.einsum("lnn->ln", S), MIN_NOISE)
    evals, evecs = np.linalg.eigh(S)
    top_vals = np.maximum(evals[:, ::-1][:, :n_factors], 0.0)
    lam = evecs[:, :, ::-1][:, :, :n_factors] * np.sqrt(top_vals)[:, None, :]
    psi = np.maximum(var - np.einsum("lnk,lnk->ln", lam, lam), MIN_NOISE)
    eye = np.eye(n_factors)
    for _ in range(n_iter):
        beta = posterior_projection(lam, psi)  # (L, k, N)
        bs = beta @ S  # (L, k, N)
        ezz = eye - beta @ lam + bs @ np.swapaxes(beta, 1, 2)
        new = np.swapaxes(np.linalg.solve(ezz, bs), 1, 2)  # S βᵀ E^{-1}
        psi = np.maximum(var - np.einsum("lnk,lkn->ln", new, bs), MIN_NOISE)
        change = np.max(np.abs(new - lam)) / max(np.max(np.abs(new)), 1e-12)
        lam = new
        if change < tol:
            break
    return lam, mean, psi


def shared_variance_fraction(loadings: np.ndarray, noise: np.ndarray) -> np.ndarray:
    r"""Return each channel's share of variance that is shared, ``(L, N)`` (the "% shared variance").

    .. math:: \mathrm{\%sv}_n = \frac{\sum_k Λ_{nk}^2}{\sum_k Λ_{nk}^2 + ψ_n}

    of a fitted factor analysis (:func:`fit_factor_analysis`): Williamson et al. (2016), PLoS
    Comput Biol 12:e1005141, who average it over units. ``loadings`` is ``(L, N, k)`` and
    ``noise`` ``(L, N)`` with ``ψ > 0`` (:func:`fit_factor_analysis` keeps it >= :data:`MIN_NOISE`).
    """
    loadings, noise = np.asarray(loadings, dtype=np.float64), np.asarray(noise, dtype=np.float64)
    if loadings.ndim != 3 or noise.shape != loadings.shape[:2]:
        raise ValueError(f"loadings must be (L, N, k) and noise (L, N), got shapes "
                         f"{loadings.shape} and {noise.shape}")
    if not (noise > 0).all():
        raise ValueError(f"noise must be > 0 everywhere, got its smallest value {float(noise.min())}")
    shared = np.einsum("lnk,lnk->ln", loadings, loadings)
    return shared / (shared + noise)


def fit_pca(counts: np.ndarray, n_components: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit PCA to each lane of ``(T, L, N)`` counts; return it in factor analysis's shapes.

    The loadings are the ``k`` leading eigenvectors of each lane's sample covariance, ``(L, N, k)``
    with orthonormal columns (scikit-learn's ``PCA.components_.T``, as Wilson et al.'s simulator
    uses), the means ``(L, N)``, and zero private variances ``(L, N)``: the latents are the
    projections ``Λᵀ (y - μ)`` (:func:`pca_projection`).
    """
    y = np.asarray(counts, dtype=np.float64)
    mean = y.mean(axis=0)
    centred = (y - mean).transpose(1, 0, 2)  # (L, T, N)
    cov = np.swapaxes(centred, 1, 2) @ centred / max(y.shape[0] - 1, 1)
    _, vectors = np.linalg.eigh(cov)  # ascending eigenvalues
    loadings = vectors[:, :, ::-1][:, :, :n_components].copy()
    return loadings, mean, np.zeros_like(mean)


def pca_projection(loadings: np.ndarray) -> np.ndarray:
    """Return PCA's map ``Λᵀ`` ``(L, k, N)`` from centred counts to latents (0 where a loading is 0)."""
    return np.swapaxes(loadings, 1, 2).copy()

