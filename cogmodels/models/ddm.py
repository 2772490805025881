r"""The drift-diffusion model of choices and reaction times, and the base of models that use it.

Ratcliff (1978); Ratcliff & McKoon (2008), *Neural Computation* 20(4), 873-922. A diffusion
starts at ``z a`` between boundaries at 0 and ``a``, drifts at ``v`` and ends at the boundary it
hits: choice 1 at the upper boundary (HDDM's coding: the response coded 1, often the correct or
better option), 0 at the lower one. The reaction time is the hitting time plus the non-decision
time ``t0``. Density, choice probabilities, survival and the RT sampler are in
:mod:`cogmodels.wiener`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy import stats

from cogmodels import wiener
from cogmodels.model import CognitiveModel, State
from cogmodels.parameters import ParamSpec
from cogmodels.priors import rate_prior, signed_prior
from cogmodels.validation import check_number

__all__ = ["DDM", "DiffusionChoice", "diffusion_specs", "non_decision_time_spec"]


def diffusion_specs(*, drift: bool = True, starting_point: bool = True) -> list[ParamSpec]:
    """Return the parameter specs of the diffusion: ``v`` (optional), ``a``, ``z`` (optional), ``t0``.

    Parameters
    ----------
    drift : bool
        Include the drift rate ``v`` (models that compute the drift from values leave it out).
    starting_point : bool
        Include the relative starting point ``z`` (else it is fixed at 0.5, unbiased).

    Returns
    -------
    list of ParamSpec
        Ranges as HDDM's (Wiecki, Sofer & Frank 2013): ``v`` in [-8, 8], ``a`` in [0.3, 5],
        ``z`` in [0.05, 0.95]; ``t0 >= 0`` seconds (default 0.1, prior ``Gamma(2, 0.15)``).
    """
    specs = []
    if drift:
        specs.append(ParamSpec("v", -8.0, 8.0, 1.0, signed_prior(-8.0, 8.0), description="drift rate"))
    specs.append(ParamSpec("a", 0.3, 5.0, 1.5, rate_prior(0.3, 5.0), description="boundary separation"))
    if starting_point:
        specs.append(ParamSpec("z", 0.05, 0.95, 0.5, rate_prior(0.05, 0.95),
                               description="relative starting point (upper boundary = choice 1)"))
    specs.append(non_decision_time_spec())
    return specs


def non_decision_time_spec() -> ParamSpec:
    """Return the spec of the non-decision time ``t0`` shared by the models of choices and RTs.

    Returns
    -------
    ParamSpec
        ``t0 >= 0`` seconds, default 0.1, prior ``Gamma(2, 0.15)``. Only bounded below (a log
        transform): random starts, 0.1 s times a lognormal factor, then fall mostly below the
        fastest RTs, where the likelihood is finite (an RT below ``t0`` has density 0, and the
        optimiser drops a start with an infinite objective).
    """
    return ParamSpec("t0", 0.0, math.inf, 0.1, stats.gamma(2.0, scale=0.15), description="non-decision time, s")


class DiffusionChoice(CognitiveModel):
    r"""Base of the models whose choice rule is a drift-diffusion process (two actions).

    A subclass implements :meth:`diffusion_parameters`, the ``(v, a, z, t0)`` of the coming
    trial; this class turns them into the choice probabilities (the boundary-absorption
    probabilities), the joint log density of (choice, rt), the log probability of an omission at
    the response ``deadline`` and the RT sampler, all from :mod:`cogmodels.wiener`.

    Missing data: a trial with a choice and no RT contributes its choice probability; an
    omission (no choice) contributes ``log P(no boundary by the deadline)`` when ``deadline``
    is given (censoring), and is skipped otherwise.

    Contaminants (``p_outlier``, HDDM's option of the same name; Ratcliff & Tuerlinckx 2002;
    Wiecki, Sofer & Frank 2013): with probability :math:`p` a trial is not a diffusion but a
    response with either option at a time uniform on :math:`(0, W)`, :math:`W` =
    ``OUTLIER_WINDOW`` = 5 s, so each (choice, rt) has density :math:`1 / (2W) = 0.1` (HDDM's
    ``w_outlier``):

    .. math::

        p(c, rt) = (1 - p)\, f_c(rt - t_0) + p \, \frac{[rt < W]}{2W}, \qquad
        P(c) = (1 - p)\, P_{\text{diffusion}}(c) + p / 2.

    One response faster than :math:`t_0` then costs a factor :math:`p / 10` instead of ruling that
    :math:`t_0` out. The simulator draws the same mixture; an omission at ``deadline`` has
    probability :math:`(1 - p) S(\text{deadline}) + p \max(0, 1 - \text{deadline} / W)`.
    """

    rt_column = "rt"
    #: seconds: a contaminant's response time is uniform on (0, OUTLIER_WINDOW)
    OUTLIER_WINDOW = 5.0

    def __init__(self, *, deadline: float | None = None, p_outlier: float = 0.0) -> None:
        super().__init__(2)
        self.deadline = None if deadline is None else check_number("deadline", deadline, 0.0, low_open=True)
        self.p_outlier = check_number("p_outlier", p_outlier, 0.0, 1.0, high_open=True)

    def diffusion_parameters(self, state: State, observation: Mapping[str, Any]) -> tuple[Any, Any, Any, Any]:
        """Return the ``(lanes,)`` drift, boundary separation, starting point, non-decision time."""
        raise NotImplementedError

    def action_probabilities(self, state: State, observation: Mapping[str, Any]) -> Any:
        """Return ``(P(lower), P(upper))`` per lane, a ``(lanes, 2)`` array (choice 0, choice 1)."""
        v, a, z, _ = self.diffusion_parameters(state, observation)
        lower, upper = wiener.choice_probabilities(v, a, z)
        probs = wiener.namespace_of(lower).stack([lower, upper], axis=1)
        return probs if not self.p_outlier else (1.0 - self.p_outlier) * probs + 0.5 * self.p_outlier

    def log_density_rt(self, state: State, observation: Mapping[str, Any], action: Any, rt: Any) -> Any:
        """Return the log joint density of ``action`` at ``rt`` (:func:`cogmodels.wiener.log_density`)."""
        return self.log_density_rt_from(self.diffusion_parameters(state, observation), action, rt)

    def rt_parameters(self, state: State, observation: Mapping[str, Any]) -> tuple[Any, Any, Any, Any]:
        """Return ``(v, a, z, t0)``: the likelihood then scores all trials' RTs in one call."""
        return self.diffusion_parameters(state, observation)

    def log_density_rt_from(self, parameters: tuple[Any, ...], action: Any, rt: Any) -> Any:
        """Return the log joint density of ``action`` at ``rt`` under the diffusion ``(v, a, z, t0)`` (and ``p_outlier``)."""
        log_f = wiener.log_density(rt, action, *parameters)
        if not self.p_outlier:
            return log_f
        xp = wiener.namespace_of(log_f)
        p = self.p_outlier
        mixed = xp.logaddexp(math.log1p(-p) + log_f, xp.zeros_like(log_f) + math.log(p / (2.0 * self.OUTLIER_WINDOW)))
        return xp.where(rt < self.OUTLIER_WINDOW, mixed, math.log1p(-p) + log_f)

    def log_omission(self, state: State, observation: Mapping[str, Any]) -> Any:
        """Return ``log P(no response by the deadline)`` (None without a deadline)."""
        if self.deadline is None:
            return None
        v, a, z, t0 = self.diffusion_parameters(state, observation)
        log_s = wiener.log_survival(self.deadline, v, a, z, t0)
        late = max(0.0, 1.0 - self.deadline / self.OUTLIER_WINDOW)  # a contaminant's chance to come after it
        if not self.p_outlier:
            return log_s
        if not late:
            return math.log1p(-self.p_outlier) + log_s
        xp = wiener.namespace_of(log_s)
        return xp.logaddexp(math.log1p(-self.p_outlier) + log_s, xp.zeros_like(log_s) + math.log(self.p_outlier * late))

    def sample_rt(self, state: State, observation: Mapping[str, Any], action: Any,
                  rng: np.random.Generator) -> np.ndarray:
        """Draw the RT of ``action`` from its conditional distribution (:func:`cogmodels.wiener.sample_rt`).

        With ``p_outlier``, the response was a contaminant with probability
        :math:`(p/2) / P(c)` given the choice, and its RT is then uniform on (0, ``OUTLIER_WINDOW``).
        """
        v, a, z, t0 = (np.asarray(x, dtype=np.float64) for x in self.diffusion_parameters(state, observation))
        action = np.asarray(action)
        rt = wiener.sample_rt(action, v, a, z, t0, rng)
        if not self.p_outlier:
            return rt
        chosen = np.take_along_axis(np.asarray(self.action_probabilities(state, observation), dtype=np.float64),
                                    action.astype(np.int64)[:, None], axis=1)[:, 0]
        contaminant = rng.uniform(size=rt.shape) < 0.5 * self.p_outlier / chosen
        return np.where(contaminant, rng.uniform(0.0, self.OUTLIER_WINDOW, rt.shape), rt)

    def _start(self, params: Mapping[str, Any]) -> Any:
        return params["z"] if "z" in params else 0.5 * wiener.namespace_of(params["a"]).ones_like(params["a"])

    def __repr__(self) -> str:
        outlier = f", p_outlier={self.p_outlier}" if self.p_outlier else ""
        return f"{type(self).__name__}(deadline={self.deadline}{outlier})"


class DDM(DiffusionChoice):
    r"""The drift-diffusion model with starting point and non-decision time, the same every trial.

    .. math::

        p(c, rt) = f_c(rt - t_0 \mid v, a, z)

    with ``f_c`` the Wiener first-passage-time density (Navarro & Fuss 2009; see
    :mod:`cogmodels.wiener`) at the upper boundary for ``c = 1`` and the lower one for
    ``c = 0``. ``free_starting_point=False`` fixes ``z = 0.5``. ``deadline`` (seconds) censors
    omissions at the response deadline; ``p_outlier`` mixes in contaminant responses
    (:class:`DiffusionChoice`). Reference: Ratcliff (1978), *Psychological Review* 85,
    59-108; Ratcliff & McKoon (2008), *Neural Computation* 20, 873-922.
    """

    name = "ddm"

    def __init__(self, *, free_starting_point: bool = True, deadline: float | None = None,
                 p_outlier: float = 0.0) -> None:
        super().__init__(deadline=deadline, p_outlier=p_outlier)
        self.free_starting_point = bool(free_starting_point)
        self.param_specs = tuple(diffusion_specs(starting_point=self.free_starting_point))

    def initial_state(self, params: Mapping[str, Any]) -> State:
        """Return the parameters as the state: nothing is learned."""
        return {"params": params}

    def diffusion_parameters(self, state: State, observation: Mapping[str, Any]) -> tuple[Any, Any, Any, Any]:
        """Return ``(v, a, z, t0)``: the parameters themselves."""
        p = state["params"]
        return p["v"], p["a"], self._start(p), p["t0"]

    def update(self, state: State, observation, action, reward, next_observation) -> State:
        """Nothing changes from trial to trial."""
        return state
