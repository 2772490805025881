"""Fitting models of behaviour: MLE, MAP, hierarchical EM, comparison, recovery, predictive checks.

Estimators follow scikit-learn's vocabulary: ``fit(trials)`` returns the estimator with fitted
attributes ending in ``_``; ``score(trials)`` gives the summed log-likelihood of (held-out) trials.
"""

from __future__ import annotations

from cogmodels.fits.em import HierarchicalEM
from cogmodels.fits.mle import (
    ConvergenceWarning,
    FitError,
    MaximumAPosteriori,
    MaximumLikelihood,
    SubjectFit,
)
from cogmodels.fits.optimize import minimize_batched

__all__ = [
    "ConvergenceWarning",
    "FitError",
    "HierarchicalEM",
    "MaximumAPosteriori",
    "MaximumLikelihood",
    "SubjectFit",
    "make_estimator",
    "minimize_batched",
]

ESTIMATORS = {"mle": MaximumLikelihood, "map": MaximumAPosteriori, "em": HierarchicalEM}


def make_estimator(method: str, model, **kwargs) -> SubjectFit:
    """The estimator for ``method`` in {"mle", "map", "em"}."""
    if method not in ESTIMATORS:
        raise ValueError(f"method must be one of {sorted(ESTIMATORS)}, got {method!r}")
    return ESTIMATORS[method](model, **kwargs)
