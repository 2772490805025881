"""The estimators by method name: the one registry that the CLI, comparison and recovery use.

``"mle"`` is :class:`~cogmodels.fits.MaximumLikelihood`, ``"map"``
:class:`~cogmodels.fits.MaximumAPosteriori` and ``"em"`` :class:`~cogmodels.fits.HierarchicalEM`
(the hierarchical expectation-maximisation of Huys et al. 2011, PLoS Comput Biol 7:e1002028),
``"nuts"`` :class:`~cogmodels.fits.HierarchicalNUTS` and ``"vi"``
:class:`~cogmodels.fits.HierarchicalVI` (the hierarchical Bayesian posteriors of
:mod:`cogmodels.fits.bayes`, sampled by Pyro's NUTS or ChEES-HMC, or approximated by NumPy ADVI).
"""

from __future__ import annotations

from typing import Any

from cogmodels.fits.bayes import HierarchicalNUTS, HierarchicalVI
from cogmodels.fits.em import HierarchicalEM
from cogmodels.fits.mle import MaximumAPosteriori, MaximumLikelihood, SubjectFit
from cogmodels.model import CognitiveModel

__all__ = ["ESTIMATORS", "estimator_class", "make_estimator"]

#: the estimator class of each method name
ESTIMATORS: dict[str, type[SubjectFit]] = {
    "mle": MaximumLikelihood,
    "map": MaximumAPosteriori,
    "em": HierarchicalEM,
    "nuts": HierarchicalNUTS,
    "vi": HierarchicalVI,
}


def estimator_class(method: Any) -> type[SubjectFit]:
    """Return the estimator class registered under ``method``.

    Parameters
    ----------
    method : {"em", "map", "mle", "nuts", "vi"}
        The method name.

    Returns
    -------
    cls : type
        A :class:`~cogmodels.fits.SubjectFit` subclass.

    Raises
    ------
    ValueError
        Listing the method names when ``method`` is not one of them.
    """
    if not isinstance(method, str) or method not in ESTIMATORS:
        raise ValueError(f"method must be one of {sorted(ESTIMATORS)}, got {method!r}")
    return ESTIMATORS[method]


def make_estimator(method: Any, model: CognitiveModel, **kwargs: Any) -> SubjectFit:
    """Return the estimator for ``method`` in :data:`ESTIMATORS`, built with ``kwargs``.

    Parameters
    ----------
    method : {"em", "map", "mle", "nuts", "vi"}
        The method name.
    model : CognitiveModel
        The model to fit.
    **kwargs
        The estimator's keyword arguments (``n_starts``, ``seed``, ...).

    Returns
    -------
    estimator : SubjectFit
        Not fitted yet.
    """
    return estimator_class(method)(model, **kwargs)
