"""Orthogonalised go/no-go: Rescorla-Wagner with irreducible noise, go bias and Pavlovian bias.

The models of Guitart-Masip, Huys, Fuentemilla, Dayan, Duzel & Dolan (2012), NeuroImage, "Go and
no-go learning in reward and punishment: interactions between affect and effect", and their
reward/punishment variant (Cavanagh, Eisenberg, Guitart-Masip, Huys & Frank 2013, J Neurosci,
"Frontal theta overrides Pavlovian learning biases"), as hBayesDM (Ahn, Haines & Zhang 2017,
Computational Psychiatry) defines them in ``gng_m1`` ... ``gng_m4``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np
from scipy import stats

from cogmodels.model import CognitiveModel, State, full, put, take
from cogmodels.parameters import ParamSpec
from cogmodels.xp import Array, namespace

__all__ = ["GoNoGo", "GoNoGoM1", "GoNoGoM2", "GoNoGoM3", "GoNoGoM4"]

NO_GO, GO = 0, 1
#: the four cues of the orthogonalised task (:data:`cogmodels.envs.go_nogo.CUES`): go to win,
#: no-go to win, go to avoid losing, no-go to avoid losing (hBayesDM's ``cue`` 1-4; ``state`` 0-3)
N_CUES = 4


def _probit_uniform() -> stats.rv_continuous:
    """HBayesDM's prior on a [0, 1] parameter, ``Phi(N(0, 1))``: the uniform distribution."""
    return stats.uniform(0.0, 1.0)


class GoNoGo(CognitiveModel):
    r"""Go/no-go Rescorla-Wagner model with noise, go bias and Pavlovian bias.

    For the cue :math:`s_t` of trial :math:`t` (``state``, 0-3) the action weights are

    .. math::

        W(s, \text{go}) = Q(s, \text{go}) + b + \pi V(s), \qquad
        W(s, \text{no-go}) = Q(s, \text{no-go})

        P(\text{go} \mid s) = (1 - \xi)\, \sigma\big(W(s, \text{go}) - W(s, \text{no-go})\big)
        + \xi / 2

    with :math:`\sigma` the logistic function and :math:`\xi` the irreducible noise. After the
    outcome :math:`r_t \in \{1, 0, -1\}` the chosen action's value and the cue's (Pavlovian)
    value move toward the scaled outcome:

    .. math::

        Q(s_t, a_t) \leftarrow Q(s_t, a_t) + \epsilon (\rho r_t - Q(s_t, a_t)), \qquad
        V(s_t) \leftarrow V(s_t) + \epsilon (\rho r_t - V(s_t))

    All values start at 0. ``choice`` 1 is go (a key press), 0 no-go. Structure (fixed at
    construction):

    - ``go_bias``: the go bias :math:`b` (else :math:`b = 0`);
    - ``pavlovian_bias``: the Pavlovian bias :math:`\pi` and the cue values :math:`V`
      (else :math:`\pi = 0`);
    - ``separate_sensitivities``: :math:`\rho` is ``rho_rew`` when :math:`r_t \ge 0` and
      ``rho_pun`` when :math:`r_t < 0` (hBayesDM's ``rhoRew``, ``rhoPun``), else one ``rho``.

    The registered models :class:`GoNoGoM1` ... :class:`GoNoGoM4` are hBayesDM's ``gng_m1`` (RW +
    noise), ``gng_m2`` (+ go bias), ``gng_m3`` (+ Pavlovian bias), ``gng_m4`` (+ separate reward
    and punishment sensitivities): models 1-4 of Guitart-Masip et al. (2012) as coded in
    hBayesDM's ``commons/stan_files/gng_m*.stan``. Parameters and their priors follow hBayesDM:
    ``xi``, ``ep`` in [0, 1] with the uniform prior (hBayesDM's ``Phi_approx(N(0, 1))``); ``b``
    and ``pi`` unbounded with the prior N(0, 10); ``rho`` (and ``rho_rew``, ``rho_pun``) positive
    with the log-normal prior ``exp(N(0, 1))``.

    References
    ----------
    Guitart-Masip, M., Huys, Q. J. M., Fuentemilla, L., Dayan, P., Duzel, E., & Dolan, R. J.
    (2012). Go and no-go learning in reward and punishment: interactions between affect and
    effect. NeuroImage, 62(1), 154-166.

    Cavanagh, J. F., Eisenberg, I., Guitart-Masip, M., Huys, Q., & Frank, M. J. (2013). Frontal
    theta overrides Pavlovian learning biases. Journal of Neuroscience, 33(19), 8541-8548.

    Ahn, W.-Y., Haines, N., & Zhang, L. (2017). Revealing neurocomputational mechanisms of
    reinforcement learning and decision-making with the hBayesDM package. Computational
    Psychiatry, 1, 24-57.
    """

    name = "gng"
    tasks = ("cogmodels/GoNoGo-v0",)
    observation_columns = ("state",)
    n_states: ClassVar[int] = N_CUES

    def __init__(
        self,
        *,
        go_bias: bool = True,
        pavlovian_bias: bool = True,
        separate_sensitivities: bool = True,
    ) -> None:
        super().__init__(2)
        self.go_bias = bool(go_bias)
        self.pavlovian_bias = bool(pavlovian_bias)
        self.separate_sensitivities = bool(separate_sensitivities)
        specs = [
            ParamSpec("xi", 0.0, 1.0, 0.1, prior=_probit_uniform(), description="irreducible noise"),
            ParamSpec("ep", 0.0, 1.0, 0.2, prior=_probit_uniform(), description="learning rate"),
        ]
        if self.go_bias:
            specs.append(ParamSpec("b", -np.inf, np.inf, 0.0, prior=stats.norm(0.0, 10.0),
                                   description="go bias"))
        if self.pavlovian_bias:
            specs.append(ParamSpec("pi", -np.inf, np.inf, 0.0, prior=stats.norm(0.0, 10.0),
                                   description="Pavlovian bias"))
        rho = stats.lognorm(s=1.0, scale=1.0)  # exp(N(0, 1))
        if self.separate_sensitivities:
            specs += [
                ParamSpec("rho_rew", 0.0, np.inf, float(np.exp(2.0)), prior=rho,
                          description="reward sensitivity (outcome >= 0)"),
                ParamSpec("rho_pun", 0.0, np.inf, float(np.exp(2.0)), prior=rho,
                          description="punishment sensitivity (outcome < 0)"),
            ]
        else:
            specs.append(ParamSpec("rho", 0.0, np.inf, float(np.exp(2.0)), prior=rho,
                                   description="outcome sensitivity"))
        self.param_specs = tuple(specs)

    # The state holds one array ``values`` of shape (lanes, cues, kinds): kind 0 the go values
    # Q(s, go), 1 the no-go values Q(s, no-go), 2 (with the Pavlovian bias) the cue values V(s).
    # Each trial reads and writes one cue's row per lane (take / put).
    @property
    def _kinds(self) -> int:
        return 3 if self.pavlovian_bias else 2

    def initial_state(self, params: Mapping[str, Array]) -> State:
        """Start every cue's go, no-go (and cue) values at zero."""
        xi = params["xi"]
        return {"params": params, "values": full(xi, (xi.shape[0], N_CUES, self._kinds))}

    def _weights(self, params: Mapping[str, Array], v: Array) -> tuple[Array, Array]:
        """``W(s, go)``, ``W(s, no-go)`` from the cue's values ``v`` (lanes, kinds)."""
        w_go = v[:, 0]
        if self.go_bias:
            w_go = w_go + params["b"]
        if self.pavlovian_bias:
            w_go = w_go + params["pi"] * v[:, 2]
        return w_go, v[:, 1]

    def _cue_values(self, state: State, observation: Mapping[str, Array]) -> Array:
        """Return the ``(lanes, kinds)`` values of each lane's cue."""
        return take(state["values"], observation["state"])

    def action_probabilities(self, state: State, observation: Mapping[str, Array]) -> Array:
        """Return ``P(go) = (1 - xi) sigma(W(s, go) - W(s, no-go)) + xi / 2`` and ``P(no-go)``."""
        params = state["params"]
        xi = params["xi"]
        xp = namespace(xi)
        w_go, w_nogo = self._weights(params, self._cue_values(state, observation))
        p_go = 0.5 * (1.0 + xp.tanh(0.5 * (w_go - w_nogo)))  # the logistic function
        p_go = p_go * (1.0 - xi) + 0.5 * xi
        columns = [None, None]
        columns[NO_GO], columns[GO] = 1.0 - p_go, p_go
        return xp.stack(columns, axis=0).T  # Fortran order (numpy)

    def _sensitivity(self, params: Mapping[str, Array], reward: Array) -> Array:
        if self.separate_sensitivities:
            return namespace(params).where(reward >= 0, params["rho_rew"], params["rho_pun"])
        return params["rho"]

    def latents(self, state, observation, action, reward) -> dict[str, Array]:
        """Return hBayesDM's model regressors of the trial's cue, before the update.

        These are ``q_go``, ``q_nogo``, ``w_go``, ``w_nogo`` (and ``sv`` with the Pavlovian bias).
        """
        v = self._cue_values(state, observation)
        w_go, w_nogo = self._weights(state["params"], v)
        out = {"q_go": v[:, 0], "q_nogo": v[:, 1], "w_go": w_go, "w_nogo": w_nogo}
        if self.pavlovian_bias:
            out["sv"] = v[:, 2]
        return out

    def update(self, state, observation, action, reward, next_observation) -> State:
        """Move the cue's chosen-action value (and cue value) toward ``rho r`` at rate ``ep``."""
        params = state["params"]
        xp = namespace(params)
        v = self._cue_values(state, observation)
        target = self._sensitivity(params, reward) * reward
        go = action == GO
        # the chosen action's value moves (go or no-go), and the cue value always does
        learns = [go, ~go, xp.ones_like(go)][: self._kinds]
        learns = xp.stack(learns, axis=1)
        new = v + learns * params["ep"][:, None] * (target[:, None] - v)
        return {"params": params, "values": put(state["values"], observation["state"], new)}

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(go_bias={self.go_bias}, pavlovian_bias={self.pavlovian_bias}, "
                f"separate_sensitivities={self.separate_sensitivities})")


class GoNoGoM1(GoNoGo):
    """hBayesDM's ``gng_m1``: Rescorla-Wagner + noise (``xi``, ``ep``, ``rho``); see :class:`GoNoGo`."""

    name = "gng_m1"

    def __init__(self) -> None:
        super().__init__(go_bias=False, pavlovian_bias=False, separate_sensitivities=False)


class GoNoGoM2(GoNoGo):
    """hBayesDM's ``gng_m2``: RW + noise + go bias (``xi``, ``ep``, ``b``, ``rho``); see :class:`GoNoGo`."""

    name = "gng_m2"

    def __init__(self) -> None:
        super().__init__(go_bias=True, pavlovian_bias=False, separate_sensitivities=False)


class GoNoGoM3(GoNoGo):
    """hBayesDM's ``gng_m3``: RW + noise + go bias + Pavlovian bias; see :class:`GoNoGo`.

    Its parameters are ``xi``, ``ep``, ``b``, ``pi`` and ``rho``.
    """

    name = "gng_m3"

    def __init__(self) -> None:
        super().__init__(go_bias=True, pavlovian_bias=True, separate_sensitivities=False)


class GoNoGoM4(GoNoGo):
    """hBayesDM's ``gng_m4``: as ``gng_m3`` with separate reward and punishment sensitivities.

    Its parameters are ``xi``, ``ep``, ``b``, ``pi``, ``rho_rew`` and ``rho_pun``; see
    :class:`GoNoGo`.
    """

    name = "gng_m4"

    def __init__(self) -> None:
        super().__init__(go_bias=True, pavlovian_bias=True, separate_sensitivities=True)
