"""The exceptions that the package raises across modules, one class per condition.

:class:`NotFittedError` is the one "not fitted yet" error: estimators (``cogmodels.fits``), fitted
networks (``cogmodels.agents.TinyRNN``) and BCI decoders raise it through
:func:`cogmodels.validation.check_is_fitted`, with one message. As scikit-learn's
``sklearn.exceptions.NotFittedError`` it is a ``ValueError`` and an ``AttributeError``; it is also a
``RuntimeError``, the type the BCI decoders raised before, so every ``except`` clause written for
one of the former variants still catches it.
"""

from __future__ import annotations

__all__ = ["NotFittedError"]


class NotFittedError(ValueError, AttributeError, RuntimeError):
    """Raised when a method that needs fitted attributes runs before ``fit``.

    Examples
    --------
    >>> from cogmodels.fits import MaximumLikelihood
    >>> from cogmodels.models import make_model
    >>> MaximumLikelihood(make_model("q_learning")).summary()
    Traceback (most recent call last):
    ...
    cogmodels.exceptions.NotFittedError: this MaximumLikelihood is not fitted yet: call fit(trials) first
    """
