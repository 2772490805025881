"""Fitting models of behaviour: MLE, MAP, hierarchical EM and Bayes, comparison, recovery, predictive checks.

Behavioural signatures (learning, reversal, two-step stay, set-size curves) live in
:mod:`cogmodels.fits.signatures`; posterior predictive checks in :mod:`cogmodels.fits.ppc`.

Estimators follow scikit-learn's vocabulary: ``fit(trials)`` returns the estimator with fitted
attributes ending in ``_``; ``score(trials)`` gives the summed log-likelihood of (held-out) trials.
"""

from __future__ import annotations

from cogmodels.fits.bayes import HierarchicalBayes, HierarchicalNUTS, HierarchicalVI
from cogmodels.fits.bms import BetweenGroupsBMS, BMSResult, bms, bms_between_groups
from cogmodels.fits.compare import Comparison, CVResult, compare_models, cross_validate, fold_labels
from cogmodels.fits.em import HierarchicalEM
from cogmodels.fits.estimators import ESTIMATORS, estimator_class, make_estimator
from cogmodels.fits.identifiability import IdentifiabilityWarning, uninformed_parameters
from cogmodels.fits.mle import (
    ConvergenceWarning,
    FitError,
    MaximumAPosteriori,
    MaximumLikelihood,
    SubjectFit,
)
from cogmodels.fits.optimize import minimize_batched
from cogmodels.fits.ppc import check, plot_ppc, plot_quantile_probability, posterior_predictive
from cogmodels.fits.recovery import model_recovery, parameter_recovery, sample_parameters
from cogmodels.fits.replay import replay
from cogmodels.fits.signatures import (
    learning_curve,
    quantile_probability,
    reversal_curve,
    setsize_curves,
    stay_by_reward,
    stay_probabilities,
)

__all__ = [
    "ESTIMATORS",
    "BMSResult",
    "BetweenGroupsBMS",
    "CVResult",
    "Comparison",
    "ConvergenceWarning",
    "FitError",
    "HierarchicalBayes",
    "HierarchicalEM",
    "HierarchicalNUTS",
    "HierarchicalVI",
    "IdentifiabilityWarning",
    "MaximumAPosteriori",
    "MaximumLikelihood",
    "SubjectFit",
    "bms",
    "bms_between_groups",
    "check",
    "compare_models",
    "cross_validate",
    "estimator_class",
    "fold_labels",
    "learning_curve",
    "make_estimator",
    "minimize_batched",
    "model_recovery",
    "parameter_recovery",
    "plot_ppc",
    "plot_quantile_probability",
    "posterior_predictive",
    "quantile_probability",
    "replay",
    "reversal_curve",
    "sample_parameters",
    "setsize_curves",
    "stay_by_reward",
    "stay_probabilities",
    "uninformed_parameters",
]
