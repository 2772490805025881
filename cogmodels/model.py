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

The dynamics are written once against the array API (:mod:`cogmodels.xp`): ``xp =
namespace(...)`` and ``xp.*`` calls, plus the helpers below (:func:`softmax`, :func:`onehot`,
:func:`pick`, :func:`take`, :func:`put`, :func:`full`, :func:`merge_state`), which keep numpy's
fast paths and take torch tensors too. Given ``(lanes,)`` float64 tensors as parameters, the same
code runs in torch, so autograd differentiates the likelihood exactly (on a GPU when the tensors
are there). Indexed writes are functional (:func:`put`, ``xp.where``), never in place.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from cogmodels.parameters import ParamSpec
from cogmodels.validation import check_int
from cogmodels.xp import as_namespace, device, is_torch, namespace, to_numpy

# the clip ufunc itself: np.clip's Python wrapper costs as much as the arithmetic at a few hundred
# lanes; it computes min(max(x, lo), hi), the same bits (NaN stays NaN)
try:
    from numpy._core.umath import clip as _clip
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.umath import clip as _clip

__all__ = ["CognitiveModel", "State", "full", "merge_state", "onehot", "pick", "put", "softmax", "take"]

State = dict[str, Any]


# Arrays of shape (lanes, actions) are best kept in Fortran order: numpy's inner loops then run
# over the long lanes axis instead of the 2-4 actions, which is several times faster. The helpers
# below compute on the transposed (actions, lanes) view and return Fortran-ordered results. Each
# takes numpy arrays or torch tensors (cogmodels.xp): numpy keeps these fast paths, torch gets the
# array-API form, so a model written with them runs unchanged on both.


def softmax(logits: Any) -> Any:
    r"""Softmax over the last axis of ``(lanes, actions)`` logits, stable for large logits.

    .. math:: \mathrm{softmax}(x)_a = e^{x_a - \max x} / \sum_b e^{x_b - \max x}

    With two actions (numpy) it is the logistic function of the difference: one ``exp``.
    """
    if type(logits) is not np.ndarray and namespace(logits) is not np:
        xp = namespace(logits)
        e = xp.exp(logits - xp.max(logits, axis=-1, keepdims=True))
        return e / xp.sum(e, axis=-1, keepdims=True)
    x = logits.T
    if x.shape[0] == 2 and x.ndim == 2:  # the logistic function: one exp instead of two
        # in place on one fresh array, the ufuncs called directly (np.clip's Python wrapper costs
        # as much as the arithmetic at a few hundred lanes); the same operations, the same bits
        e = np.subtract(x[1], x[0])
        _clip(e, -700.0, 700.0, out=e)  # clipped: e stays finite
        np.exp(e, out=e)
        out = np.empty_like(x)
        np.divide(1.0, np.add(1.0, e, out=out[0]), out=out[0])
        np.multiply(e, out[0], out=out[1])
        return out.T
    e = np.exp(x - x.max(axis=0))
    return (e / e.sum(axis=0)).T


@functools.lru_cache(maxsize=64)
def _arange(n: int, column: bool = False) -> np.ndarray:
    a = np.arange(n)
    a.flags.writeable = False
    return a[:, None] if column else a


def onehot(action: Any, n_actions: int) -> Any:
    """``(lanes, n_actions)`` boolean one-hot of integer actions (Fortran order for numpy)."""
    if type(action) is not np.ndarray and namespace(action) is not np:
        return action[:, None] == namespace(action).arange(n_actions, device=device(action))
    return (_arange(n_actions, True) == action).T


def pick(values: Any, action: Any) -> Any:
    """``values[lane, action[lane]]`` for every lane."""
    if (type(values) is not np.ndarray or type(action) is not np.ndarray) and namespace(values, action) is not np:
        xp = namespace(values, action)
        return xp.take_along_axis(values, xp.astype(action, xp.int64, copy=False)[:, None], axis=1)[:, 0]
    n = values.shape[0]
    if values.ndim == 2 and values.shape[1] == 2:  # two options: a select, no index arithmetic
        v = values.T
        return np.where(action, v[1], v[0])
    if values.flags.f_contiguous:  # the flat index of (lane, action) in the (actions, lanes) layout
        index = action * n
        index += _arange(n)  # in place: one temporary instead of two
        return values.T.reshape(-1)[index]
    return values.reshape(-1)[_arange(n) * values.shape[1] + action]


def full(like: Any, shape: tuple[int, ...], value: Any = 0.0, order: str = "C") -> Any:
    """Return a float64 array of ``shape`` filled with ``value``, next to ``like``.

    ``value`` is a scalar or, for a ``(lanes, ...)`` shape, ``(lanes,)`` values; the result is in
    the namespace and on the device of ``like``.

    ``order`` ("C" or "F") is numpy's memory layout (Fortran for the ``(lanes, actions)`` arrays
    :func:`softmax` and :func:`pick` are fastest on); torch ignores it.
    """
    xp = namespace(like, value)
    if xp is np:
        out = np.empty(shape, order=order)
        out[...] = np.reshape(value, (-1,) + (1,) * (len(shape) - 1)) if np.ndim(value) else value
        return out
    v = as_namespace(xp, value, like, xp.float64)
    if v.ndim:
        v = xp.reshape(v, (-1,) + (1,) * (len(shape) - 1))
    return xp.zeros(shape, dtype=xp.float64, device=device(like)) + v


def take(table: Any, index: Any) -> Any:
    """``table[lane, index[lane]]`` for every lane: ``(lanes, n, ...)`` to ``(lanes, ...)``.

    ``index`` holds integers (any integer or float dtype), e.g. the trial's stimulus.
    """
    xp = namespace(table, index)
    if xp is np:
        return table[_arange(table.shape[0]), index.astype(np.intp, copy=False)]
    idx = xp.reshape(xp.astype(index, xp.int64, copy=False), (-1,) + (1,) * (table.ndim - 1))
    idx = xp.broadcast_to(idx, (table.shape[0], 1, *table.shape[2:]))
    return xp.take_along_axis(table, idx, axis=1)[:, 0]


def put(table: Any, index: Any, rows: Any) -> Any:
    """Return a copy of ``table`` with ``table[lane, index[lane]] = rows[lane]`` for every lane.

    The functional form of an indexed write: numpy copies and writes, torch selects with a
    one-hot mask (``where``), so autograd follows the values through the write.
    """
    xp = namespace(table, index, rows)
    if xp is np:
        out = table.copy(order="K")
        out[_arange(table.shape[0]), index.astype(np.intp, copy=False)] = rows
        return out
    mask = onehot(xp.astype(index, xp.int64, copy=False), table.shape[1])
    mask = xp.reshape(mask, tuple(mask.shape) + (1,) * (table.ndim - 2))
    return xp.where(mask, xp.expand_dims(rows, axis=1), table)


def merge_state(mask: Any, new: State, old: State) -> State:
    """Per lane, ``new`` where ``mask`` is True, else ``old``; the ``params`` entry passes through."""
    xp = namespace(mask)
    out = {}
    for k, a in new.items():
        if k == "params":
            out[k] = a
            continue
        m = xp.reshape(mask, tuple(mask.shape) + (1,) * (a.ndim - 1))
        out[k] = xp.where(m, a, old[k])
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

    def check_params(self, params: Mapping[str, Any], n_lanes: int | None = None) -> dict[str, Any]:
        """Validate a parameter record and broadcast it to ``(lanes,)`` float arrays.

        Parameters
        ----------
        params : mapping of str to array_like
            One entry per parameter: a scalar or one value per lane. Torch tensors stay tensors
            (float64, on their device, gradients kept): the model then runs in torch.
        n_lanes : int, optional
            The number of lanes (default: the longest entry).

        Returns
        -------
        params : dict of str to array
            ``(lanes,)`` float64 numpy arrays, or torch tensors when any entry is one.
        """
        unknown = set(params) - set(self.param_names)
        missing = set(self.param_names) - set(params)
        if unknown or missing:
            raise ValueError(
                f"{self.name} takes parameters {list(self.param_names)}; "
                f"missing {sorted(missing)}, unknown {sorted(unknown)}"
            )
        xp = namespace(*params.values())
        if xp is np:
            arrays = {k: np.atleast_1d(np.asarray(params[k], dtype=np.float64)) for k in self.param_names}
        else:
            like = next(v for v in params.values() if is_torch(v))
            arrays = {k: xp.reshape(as_namespace(xp, params[k], like, xp.float64), (-1,)) for k in self.param_names}
        lanes = n_lanes or max(a.shape[0] for a in arrays.values())
        out = {}
        for s in self.param_specs:
            a = arrays[s.name]
            a = np.broadcast_to(a, (lanes,)).copy() if xp is np else xp.broadcast_to(a, (lanes,))
            values = to_numpy(a)
            bad = ~((values >= s.low) & (values <= s.high))
            if bad.any():
                raise ValueError(
                    f"{self.name}: parameter {s.name!r} must lie in [{s.low}, {s.high}], "
                    f"got {values[bad][:5].tolist()}"
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
