r"""Which parameters the data inform at all: a structural identifiability check.

A parameter that no trial of a subject informs leaves that subject's likelihood unchanged: its
maximum-likelihood estimate is wherever the optimiser stopped (its start point), a MAP or
hierarchical estimate is the prior's, and neither says anything about the subject. It happens
when a model's mechanism never fires in the data, e.g. a learning rate for negative outcomes on
a task whose rewards are all positive, a working-memory capacity when every set size is 1, a
stickiness bonus with a single trial. The test is on the likelihood alone, so it serves every
estimator (MLE, MAP, hierarchical EM) and every model of the protocol.

For each subject ``i`` and parameter ``j``, at ``n_points`` random points ``z`` of the
unconstrained space (drawn as the optimisers' start points), compare

.. math::

    \Delta_{ij}(z) = \ell_i(z + h\, e_j) - \ell_i(z),

with ``l_i`` the subject's log-likelihood and ``h`` a step in the unconstrained space. Parameter
``j`` is *uninformed* for subject ``i`` when ``|Delta_ij(z)| <= rtol * max(1, |l_i(z)|)`` at every
point where both values are finite: the likelihood does not depend on it anywhere the probe
looked. This is the practical form of the structural (non-)identifiability checks of the
modelling literature (Wilson & Collins 2019, eLife, "Ten simple rules for the computational
modeling of behavioral data", on parameter recovery; Raue et al. 2009, Bioinformatics,
profile-likelihood identifiability: a flat profile). A parameter the data inform only weakly is
not flagged: check it with parameter recovery (:func:`cogmodels.fits.parameter_recovery`). One
that acts only in a corner of the parameter space that no probe point reaches would be flagged:
raise ``n_points`` when in doubt.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from cogmodels.likelihood import TrialArrays, log_likelihood, trial_arrays
from cogmodels.model import CognitiveModel
from cogmodels.parameters import unpack
from cogmodels.validation import as_generator, check_int, check_number

__all__ = ["IdentifiabilityWarning", "uninformed_parameters", "warn_uninformed"]


class IdentifiabilityWarning(UserWarning):
    """A parameter that no trial informs was estimated anyway."""


def uninformed_parameters(
    model: CognitiveModel,
    trials: pd.DataFrame | TrialArrays,
    *,
    n_points: int = 5,
    step: float = 1.0,
    rtol: float = 1e-9,
    seed: int | np.random.SeedSequence | np.random.Generator | None = 0,
) -> pd.DataFrame:
    """Flag, per subject, the parameters on which the subject's likelihood does not depend.

    Parameters
    ----------
    model : CognitiveModel
        The model whose parameters are probed.
    trials : pandas.DataFrame or TrialArrays
        The trial table (validated for ``model``) or its padded arrays.
    n_points : int
        Random points of the unconstrained parameter space at which the likelihood is probed; a
        parameter informs a subject when it changes the likelihood at any of them.
    step : float
        The step ``h`` in the unconstrained space (1 moves a logit-transformed parameter in the
        middle of its range by about a quarter of the range).
    rtol : float
        Changes of the log-likelihood up to ``rtol * max(1, |l_i|)`` count as none (rounding).
    seed : int, SeedSequence, Generator or None
        Seeds the probe points.

    Returns
    -------
    pandas.DataFrame
        Booleans, one row per subject (index ``subject``), one column per parameter: ``True``
        where no trial of the subject informs the parameter.
    """
    from cogmodels.fits.mle import start_points  # the optimisers' own start distribution

    n_points = check_int("n_points", n_points, minimum=1)
    step = check_number("step", step)
    rtol = check_number("rtol", rtol, 0.0)
    if step == 0.0:
        raise ValueError(f"step must be a non-zero number, got {step!r}")
    data = trials if isinstance(trials, TrialArrays) else trial_arrays(trials, model)
    specs, k, n_sub = model.param_specs, model.n_params, data.n_subjects
    rng = as_generator(seed)
    z = start_points(specs, n_sub * n_points, rng)  # (subjects * points, k), subject-major
    # every point once as drawn (variant 0) and once with parameter j moved (variant j + 1)
    variants = np.repeat(z[:, None, :], k + 1, axis=1)
    variants[:, 1:, :] += step * np.eye(k)
    lanes = np.repeat(np.arange(n_sub), n_points * (k + 1))
    with np.errstate(all="ignore"):
        ll = log_likelihood(model, unpack(specs, variants.reshape(-1, k)), data, lanes)
    ll = ll.reshape(n_sub, n_points, k + 1)
    base, moved = ll[:, :, :1], ll[:, :, 1:]
    finite = np.isfinite(base) & np.isfinite(moved)
    # one side finite and the other not: the parameter decides whether a choice is possible
    decides = np.isfinite(base) != np.isfinite(moved)
    changes = finite & (np.abs(moved - base) > rtol * np.maximum(1.0, np.abs(base)))
    informed = (changes | decides).any(axis=1)
    return pd.DataFrame(~informed, index=pd.Index(data.subjects, name="subject"),
                        columns=list(model.param_names))


def warn_uninformed(uninformed: pd.DataFrame, model_name: str, *, stacklevel: int = 2) -> None:
    """Warn about the parameters flagged by :func:`uninformed_parameters`.

    An :class:`IdentifiabilityWarning` names them and the subjects; silent when none is.

    Parameters
    ----------
    uninformed : pandas.DataFrame
        The table returned by :func:`uninformed_parameters`.
    model_name : str
        The model's name, to start the message.
    stacklevel : int
        Passed to :func:`warnings.warn`.
    """
    flagged = uninformed.any(axis=0)
    if not flagged.any():
        return
    parts = []
    for name in flagged.index[flagged.to_numpy()]:
        who = uninformed.index[uninformed[name].to_numpy()]
        parts.append(f"{name!r} for {len(who)} of {len(uninformed)} subject(s) (e.g. {who[:5].tolist()})")
    warnings.warn(
        f"{model_name}: no trial informs {'; '.join(parts)}: the likelihood does not change with "
        f"it, so its maximum-likelihood estimate is arbitrary (MAP and hierarchical estimates are "
        f"the prior's); fix it, or fit the model without it (a structure option) (see uninformed_)",
        IdentifiabilityWarning,
        stacklevel=stacklevel + 1,
    )

