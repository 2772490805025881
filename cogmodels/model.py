"""The model protocol: one definition of a model of behaviour, used to act and to score.

A model is structure plus parameters. Structure is the object (number of actions, variant
switches) fixed at construction; parameters are a record of ``(lanes,)`` arrays described by
:class:`~cogmodels.parameters.ParamSpec`. The dynamics are three methods vectorised over a
leading batch of lanes (subjects × parameter sets × starts):

- ``initial_state(params) -> state``
- ``action_probabilities(state, observation) -> (lanes, n_actions)``
- ``update(state, observation, action, reward, next_observation) -> state``

``observation`` is a dict of ``(lanes,)`` arrays holding the trial-table columns the model reads
(``observation_columns``, e.g. ``state``, ``set_size``). The same three methods drive
:func:`cogmodels.simulate.simulate` (draw actions from the probabilities) and
:func:`cogmodels.likelihood.log_likelihood` (score observed actions), so simulation and
likelihood cannot disagree.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from cogmodels.parameters import ParamSpec
from cogmodels.validation import check_int

__all__ = ["CognitiveModel", "State", "merge_state", "onehot", "pick", "softmax"]

State = dict[str, Any]


# Arrays of shape (lanes, actions) are best kept in Fortran order: numpy's inner loops then run
# over the long lanes axis instead of the 2-4 actions, which is several times faster. The helpers
# below compute on the transposed (actions, lanes) view and return Fortran-ordered results.


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis of ``(lanes, actions)`` logits, stable for large logits."""
    x = logits.T
    if x.shape[0] == 2 and x.ndim == 2:  # the logistic function: one exp instead of two
        out = np.empty_like(x)
        e = np.exp(np.clip(x[1] - x[0], -700.0, 700.0))  # clipped: e stays finite
        np.divide(1.0, 1.0 + e, out=out[0])
        np.multiply(e, out[0], out=out[1])
        return out.T
    e = np.exp(x - x.max(axis=0))
    return (e / e.sum(axis=0)).T


@functools.lru_cache(maxsize=64)
def _arange(n: int, column: bool = False) -> np.ndarray:
    a = np.arange(n)
    a.flags.writeable = False
    return a[:, None] if column else a


def onehot(action: np.ndarray, n_actions: int) -> np.ndarray:
    """``(lanes, n_actions)`` boolean one-hot of integer actions (Fortran order)."""
    return (_arange(n_actions, True) == action).T


def pick(values: np.ndarray, action: np.ndarray) -> np.ndarray:
    """``values[lane, action[lane]]`` for every lane."""
    n = values.shape[0]
    if values.flags.f_contiguous:
        return values.T.reshape(-1)[action * n + _arange(n)]
    return values.reshape(-1)[_arange(n) * values.shape[1] + action]


def merge_state(mask: np.ndarray, new: State, old: State) -> State:
    """Per lane, ``new`` where ``mask`` is True, else ``old``; the ``params`` entry passes through."""
    out = {}
    for k, a in new.items():
        if k == "params":
            out[k] = a
            continue
        m = mask.reshape(mask.shape + (1,) * (np.ndim(a) - 1))
        out[k] = np.where(m, a, old[k])
    return out


class CognitiveModel:
    """Base class of every model of behaviour (classical models, TD agents, frozen RNNs).

    Subclasses set ``name``, ``tasks`` (environment ids the model fits), build
    ``self.param_specs`` in ``__init__`` and implement the three dynamics methods. ``state`` is a
    dict of arrays with a leading lanes axis; the entry ``"params"`` holds the parameter record
    and is never masked or reset.
    """

    name: ClassVar[str] = ""
    tasks: ClassVar[tuple[str, ...]] = ()
    #: trial-table columns read into ``observation`` each trial
    observation_columns: ClassVar[tuple[str, ...]] = ()
    #: the choice of each stage of a trial (two-step: ``("choice", "choice2")``)
    choice_columns: ClassVar[tuple[str, ...]] = ("choice",)
    #: reset the state at a block boundary (new stimuli each block, e.g. RLWM)
    reset_on_block: ClassVar[bool] = False
    #: trial-table column of the reaction time for models of choices and RTs (None: choices
    #: only). Such a model implements :meth:`log_density_rt` and :meth:`sample_rt`; the
    #: likelihood then scores a trial with an RT by the joint density of (choice, rt), a trial
    #: with a choice and no RT by its choice probability, and an omission by
    #: :meth:`log_omission` (when that is not None).
    rt_column: ClassVar[str | None] = None

    def __init__(self, n_actions: int = 2) -> None:
        self.n_actions = check_int("n_actions", n_actions, 2)
        self.param_specs: tuple[ParamSpec, ...] = ()

    # -- parameters ---------------------------------------------------------------------------
    @property
    def param_names(self) -> tuple[str, ...]:
        """The parameter names, in the order of ``param_specs``."""
        return tuple(s.name for s in self.param_specs)

    @property
    def n_params(self) -> int:
        """The number of free parameters."""
        return len(self.param_specs)

    def spec(self, name: str) -> ParamSpec:
        """Return the :class:`ParamSpec` of parameter ``name`` (``ValueError`` if there is none)."""
        for s in self.param_specs:
            if s.name == name:
                return s
        raise ValueError(f"{self.name} has no parameter {name!r}; parameters: {list(self.param_names)}")

    def default_params(self) -> dict[str, float]:
        """Return each parameter's default value."""
        return {s.name: s.default for s in self.param_specs}

    def check_params(self, params: Mapping[str, Any], n_lanes: int | None = None) -> dict[str, np.ndarray]:
        """Validate a parameter record and broadcast it to ``(lanes,)`` float arrays."""
        unknown = set(params) - set(self.param_names)
        missing = set(self.param_names) - set(params)
        if unknown or missing:
            raise ValueError(
                f"{self.name} takes parameters {list(self.param_names)}; "
                f"missing {sorted(missing)}, unknown {sorted(unknown)}"
            )
        arrays = {k: np.atleast_1d(np.asarray(params[k], dtype=np.float64)) for k in self.param_names}
        lanes = n_lanes or max(a.shape[0] for a in arrays.values())
        out = {}
        for s in self.param_specs:
            a = np.broadcast_to(arrays[s.name], (lanes,)).copy()
            bad = ~((a >= s.low) & (a <= s.high))
            if bad.any():
                raise ValueError(
                    f"{self.name}: parameter {s.name!r} must lie in [{s.low}, {s.high}], "
                    f"got {a[bad][:5].tolist()}"
                )
            out[s.name] = a
        return out

    # -- dynamics (to implement) --------------------------------------------------------------
    def initial_state(self, params: Mapping[str, np.ndarray]) -> State:
        """Return the state before the first trial, for ``params`` of shape ``(lanes,)`` each."""
        raise NotImplementedError

    def action_probabilities(self, state: State, observation: Mapping[str, np.ndarray]) -> np.ndarray:
        """Return the ``(lanes, n_actions)`` choice probabilities of the coming trial."""
        raise NotImplementedError

    def update(
        self,
        state: State,
        observation: Mapping[str, np.ndarray],
        action: np.ndarray,
        reward: np.ndarray,
        next_observation: Mapping[str, np.ndarray],
    ) -> State:
        """Return the state after a trial with ``action`` and ``reward`` (``(lanes,)`` each)."""
        raise NotImplementedError

    def latents(
        self, state: State, observation: Mapping[str, np.ndarray], action: np.ndarray, reward: np.ndarray
    ) -> dict[str, np.ndarray]:
        """Trial-wise latent variables (values, prediction errors...) before the update."""
        return {}

    # -- reaction times (models with ``rt_column``) ----------------------------------------------
    def log_density_rt(
        self, state: State, observation: Mapping[str, np.ndarray], action: np.ndarray, rt: np.ndarray
    ) -> np.ndarray:
        """Return the ``(lanes,)`` log joint density of ``action`` at reaction time ``rt``."""
        raise NotImplementedError(f"{self.name} is a model of choices only (rt_column is None)")

    def rt_parameters(self, state: State, observation: Mapping[str, np.ndarray]) -> tuple[np.ndarray, ...] | None:
        """Return the ``(lanes,)`` parameters of the coming trial's RT distribution, or None.

        A model that returns them is scored by :meth:`log_density_rt_from` once for all trials
        (each parameter stacked to ``(trials, lanes)``) instead of :meth:`log_density_rt` trial
        by trial; the two must agree.
        """
        return None

    def log_density_rt_from(self, parameters: tuple[np.ndarray, ...], action: np.ndarray,
                            rt: np.ndarray) -> np.ndarray:
        """Return the log joint density of ``action`` at ``rt`` given :meth:`rt_parameters` (any shape)."""
        raise NotImplementedError(f"{self.name} does not give rt_parameters")

    def log_omission(self, state: State, observation: Mapping[str, np.ndarray]) -> np.ndarray | None:
        """Return the ``(lanes,)`` log probability of no response (None: omissions are skipped)."""
        return None

    def sample_rt(
        self, state: State, observation: Mapping[str, np.ndarray], action: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """Draw the ``(lanes,)`` reaction times of ``action``, given that it was chosen."""
        raise NotImplementedError(f"{self.name} is a model of choices only (rt_column is None)")

    # -- acting --------------------------------------------------------------------------------
    def as_agent(self, params: Mapping[str, Any], *, latents: bool = True,
                 record_probabilities: bool = False) -> Any:
        """Return the model with ``params`` as an :class:`~cogmodels.agent.Agent`.

        The agent (:class:`~cogmodels.agent.ModelAgent`) plays with
        :func:`cogmodels.rollout.rollout`.
        """
        from cogmodels.agent import ModelAgent  # the agent module builds on this one

        return ModelAgent(self, params, latents=latents, record_probabilities=record_probabilities)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_actions={self.n_actions})"
