"""Default weakly-informative priors of the model zoo, and a parser for priors written as text.

Every :class:`~cogmodels.parameters.ParamSpec` of a registered model carries one of three
default priors, over the natural scale of the parameter. Only MAP fits use them
(:class:`~cogmodels.fits.MaximumAPosteriori`); maximum likelihood never does.

- :func:`rate_prior`: ``Beta(1.1, 1.1)`` stretched over the parameter's bounds, for learning rates,
  weights, decays, lapses and other bounded quantities. On ``[0, 1]`` it is the prior of Daw et
  al. (2011) on learning rates, the eligibility trace and the model-based weight: nearly flat,
  but it vanishes at the bounds, so MAP estimates leave them.
- :func:`inverse_temperature_prior`: ``Gamma(1.2, scale = high / 4)``. With ``high = 20`` it is
  Daw et al.'s ``Gamma(1.2, 5)`` on inverse temperatures; the scale follows the upper bound so
  that models on other reward scales (RLWM's ``[0, 100]``, the Kalman filter's points) get the
  same shape relative to their range.
- :func:`signed_prior`: ``Normal(centre, (high - low) / 4)`` for signed quantities (stickiness,
  biases, uncertainty bonuses, initial values), centred on the middle of the range: two
  standard deviations reach the bounds. This choice is ours; it is as weak as the two above.

Gershman (2016) reviews why such priors help (fewer estimates stuck on bounds, better
predictive accuracy) and estimates stronger empirical ones; pass those with ``priors=`` or
``--prior`` (:func:`parse_prior`).

References
----------
Daw, N. D., Gershman, S. J., Seymour, B., Dayan, P. & Dolan, R. J. (2011). Model-based influences
on humans' choices and striatal prediction errors. Neuron 69, 1204–1215.

Gershman, S. J. (2016). Empirical priors for reinforcement learning models. Journal of
Mathematical Psychology 71, 1–6.
"""

from __future__ import annotations

import ast
import math
import re
from typing import Any

from scipy import stats

__all__ = [
    "PRIOR_FAMILIES",
    "describe_prior",
    "inverse_temperature_prior",
    "parse_prior",
    "rate_prior",
    "signed_prior",
]


def rate_prior(low: float = 0.0, high: float = 1.0) -> Any:
    """``Beta(1.1, 1.1)`` over ``[low, high]`` (Daw et al. 2011 on ``[0, 1]``).

    Parameters
    ----------
    low, high : float
        The parameter's bounds.

    Returns
    -------
    prior : scipy.stats frozen distribution
        ``scipy.stats.beta(1.1, 1.1, loc=low, scale=high - low)``.
    """
    return stats.beta(1.1, 1.1, loc=low, scale=high - low)


def inverse_temperature_prior(high: float = 20.0) -> Any:
    """``Gamma(1.2, scale = high / 4)`` (Daw et al. 2011's ``Gamma(1.2, 5)`` for ``high = 20``).

    Parameters
    ----------
    high : float
        The upper bound of the inverse temperature.

    Returns
    -------
    prior : scipy.stats frozen distribution
        ``scipy.stats.gamma(1.2, scale=high / 4)``.
    """
    return stats.gamma(1.2, scale=high / 4.0)


def signed_prior(low: float, high: float) -> Any:
    """``Normal((low + high) / 2, (high - low) / 4)`` for signed parameters.

    Parameters
    ----------
    low, high : float
        The parameter's bounds.

    Returns
    -------
    prior : scipy.stats frozen distribution
        ``scipy.stats.norm(loc=(low + high) / 2, scale=(high - low) / 4)``.
    """
    return stats.norm(loc=0.5 * (low + high), scale=0.25 * (high - low))


def describe_prior(prior: Any) -> str:
    """Describe a prior in short text: ``"beta(1.1, 1.1, loc=0, scale=1)"``; ``"flat"`` if None.

    Parameters
    ----------
    prior : scipy.stats frozen distribution or None
        The prior.

    Returns
    -------
    text : str
        The family and its scipy arguments (``"flat"`` for no prior, the ``repr`` of an object
        that is not a frozen scipy distribution).
    """
    if prior is None:
        return "flat"
    dist = getattr(prior, "dist", None)
    if dist is None:
        return repr(prior)
    args = [f"{float(a):g}" for a in prior.args]
    args += [f"{k}={float(v):g}" for k, v in prior.kwds.items()]
    return f"{dist.name}({', '.join(args)})"


#: family -> its arguments, in order (see :func:`parse_prior`)
PRIOR_FAMILIES: dict[str, tuple[str, ...]] = {
    "beta": ("a", "b"),
    "gamma": ("shape", "scale"),
    "norm": ("mean", "sd"),
    "lognorm": ("sigma", "median"),
    "uniform": ("low", "high"),
    "expon": ("scale",),
    "flat": (),
}


def _families() -> str:
    return ", ".join(f"{k}({', '.join(v)})" for k, v in PRIOR_FAMILIES.items())


def _build(family: str, values: dict[str, float]) -> Any:
    v = values
    if family == "beta":
        return stats.beta(v["a"], v["b"])
    if family == "gamma":
        return stats.gamma(v["shape"], scale=v["scale"])
    if family == "norm":
        return stats.norm(loc=v["mean"], scale=v["sd"])
    if family == "lognorm":
        return stats.lognorm(v["sigma"], scale=v["median"])
    if family == "uniform":
        return stats.uniform(loc=v["low"], scale=v["high"] - v["low"])
    if family == "expon":
        return stats.expon(scale=v["scale"])
    return None  # flat


_CALL = re.compile(r"^\s*([A-Za-z_]\w*)\s*\((.*)\)\s*$", re.S)


def parse_prior(text: str, *, flag: str = "prior") -> Any:
    """Parse a prior from text, e.g. ``"gamma(2, 1)"``, into a frozen ``scipy.stats`` distribution.

    The families and their arguments, by position or by name (``gamma(shape=2, scale=1)``):
    ``beta(a, b)`` on [0, 1]; ``gamma(shape, scale)``; ``norm(mean, sd)``;
    ``lognorm(sigma, median)`` (log x ~ Normal(log median, sigma)); ``uniform(low, high)``;
    ``expon(scale)``; ``flat()`` (no prior). Positive arguments (all but ``mean``, ``low``,
    ``high``) must be > 0 and ``uniform`` needs ``low < high``.

    Parameters
    ----------
    text : str
        The prior, e.g. ``"beta(1.1, 1.1)"``.
    flag : str
        The name of the option the text came from, for error messages (``--prior beta``).

    Returns
    -------
    prior : scipy.stats frozen distribution or None
        ``None`` for ``flat()``.

    Raises
    ------
    ValueError
        Naming ``flag``, the allowed families and the text received.

    Examples
    --------
    >>> from cogmodels.priors import parse_prior
    >>> round(float(parse_prior("gamma(2, 1)").mean()), 3)
    2.0
    >>> round(float(parse_prior("norm(mean=0, sd=2)").std()), 3)
    2.0
    """
    def fail(why: str) -> ValueError:
        return ValueError(f"{flag}: {why}; got {text!r}. Allowed priors: {_families()}")

    if not isinstance(text, str):
        raise TypeError(f"{flag} must be a text such as 'gamma(2, 1)', got {type(text).__name__}")
    m = _CALL.match(text)
    if not m:
        raise fail("write a prior as family(arguments), e.g. gamma(2, 1)")
    family = m.group(1).lower()
    if family not in PRIOR_FAMILIES:
        raise fail(f"unknown family {m.group(1)!r}")
    names = PRIOR_FAMILIES[family]
    try:
        call = ast.parse(f"f({m.group(2)})", mode="eval").body
    except SyntaxError:
        raise fail("the arguments must be numbers separated by commas") from None
    if not isinstance(call, ast.Call):
        raise fail("write one prior as family(arguments)")
    given: dict[str, Any] = {}
    if len(call.args) > len(names):
        raise fail(f"{family} takes {len(names)} argument(s) ({', '.join(names)})")
    for name, node in zip(names, call.args):
        given[name] = node
    for kw in call.keywords:
        if kw.arg not in names or kw.arg in given:
            raise fail(f"{family} takes the arguments ({', '.join(names)}), each once")
        given[kw.arg] = kw.value
    missing = [n for n in names if n not in given]
    if missing:
        raise fail(f"{family} needs {', '.join(names)}; missing {', '.join(missing)}")
    values = {}
    for name, node in given.items():
        try:
            x = float(ast.literal_eval(node))
        except (ValueError, TypeError, SyntaxError):
            raise fail(f"argument {name} must be a number") from None
        if not math.isfinite(x):
            raise fail(f"argument {name} must be finite")
        if name not in ("mean", "low", "high") and x <= 0:
            raise fail(f"argument {name} must be > 0")
        values[name] = x
    if family == "uniform" and not values["low"] < values["high"]:
        raise fail("uniform needs low < high")
    return _build(family, values)
