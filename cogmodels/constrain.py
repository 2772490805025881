"""Say the model you mean: fix, tie or split the parameters of any model.

:func:`constrain` wraps a :class:`~cogmodels.model.CognitiveModel` into another one whose
``param_specs`` are only the free parameters, and which maps them, trial by trial, onto the
parameters of the model inside:

- **fix** ``fix={"beta": 3.0}``: ``beta`` is 3 for every subject and is not fitted;
- **tie** ``tie=[("alpha1", "alpha2")]``: one free parameter, named after the first of the group
  (``alpha1``), gives both; the group's range is the intersection of their ranges;
- **split** ``by={"w": "stakes"}``: one free parameter per level of the condition column
  (``w_1``, ``w_5`` for stakes coded 1 and 5, as the low- and high-stakes trials of Kool,
  Gershman & Cushman 2016), and each trial uses the one of its level.

The wrapper is itself a model of the one-definition protocol: the same wrapped object is
simulated and fitted, so simulation and likelihood still cannot disagree, and every fit, table
and comparison counts its free parameters (``n_params``, AIC, BIC) without knowing about it.

A split parameter needs the model to read it on every trial (from ``state["params"]``, as every
model of the zoo does): a parameter that sets the initial state (e.g. ``q0``) cannot change from
trial to trial, and ``by`` refuses it.

References
----------
Kool, W., Gershman, S. J. & Cushman, F. A. (2016). Cost-benefit arbitration between multiple
reinforcement-learning systems. Psychological Science 28, 1321–1333.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from cogmodels.model import CognitiveModel, State, full, pick
from cogmodels.parameters import ParamSpec
from cogmodels.validation import check_number, describe
from cogmodels.xp import as_namespace, namespace

__all__ = ["ConstrainedModel", "condition_levels", "constrain", "model_from_name"]


def _label(level: float) -> str:
    """Return a split parameter's name suffix for one level: ``1`` for 1.0, ``0.5`` for 0.5."""
    return str(int(level)) if float(level).is_integer() else repr(float(level))


def condition_levels(data: pd.DataFrame, column: str) -> tuple[float, ...]:
    """Return the sorted distinct numbers of ``data[column]`` (missing values left out).

    Parameters
    ----------
    data : pandas.DataFrame
        A trial table.
    column : str
        The condition column, e.g. ``"stakes"``, ``"session"``.

    Returns
    -------
    levels : tuple of float
        The levels of the condition, in increasing order.
    """
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame (a trial table), got {type(data).__name__}")
    if column not in data.columns:
        raise ValueError(
            f"by: the condition column {column!r} is not in the trial table; columns: "
            f"{[str(c) for c in data.columns]}"
        )
    raw = data[column]
    values = pd.to_numeric(raw, errors="coerce")
    bad = values.isna() & raw.notna()
    if bad.any():
        raise ValueError(
            f"by: the condition column {column!r} must hold numbers (code the conditions as "
            f"numbers, e.g. 0 and 1); got {describe(raw[bad].unique()[:5].tolist())}"
        )
    values = values.to_numpy(dtype=np.float64)
    levels = np.unique(values[np.isfinite(values)])
    if levels.size == 0:
        raise ValueError(f"by: the condition column {column!r} holds no finite value")
    return tuple(levels.tolist())


class ConstrainedModel(CognitiveModel):
    """A model with some parameters fixed, tied or split by a condition: see :func:`constrain`.

    Parameters
    ----------
    model : CognitiveModel
        The model inside.
    fixed : dict of str to float
        Inner parameter -> its value.
    source : dict of str to str
        Inner parameter -> the free parameter that gives it (itself, or a tie group's leader).
    split : dict of str to tuple of (str, tuple of float)
        Free parameter -> the condition column and its levels.

    Attributes
    ----------
    model : CognitiveModel
        The model inside.
    fixed, source, split : dict
        As above.
    """

    def __init__(
        self,
        model: CognitiveModel,
        fixed: Mapping[str, float],
        source: Mapping[str, str],
        split: Mapping[str, tuple[str, tuple[float, ...]]],
    ) -> None:
        super().__init__(model.n_actions)
        self.model = model
        self.fixed = dict(fixed)
        self.source = dict(source)
        self.split = {k: (col, tuple(lv)) for k, (col, lv) in split.items()}
        self.name = model.name + "".join(self._suffixes())
        self.tasks = model.tasks
        self.choice_columns = model.choice_columns
        self.reset_on_block = model.reset_on_block
        columns = [col for col, _ in self.split.values()]
        self.observation_columns = tuple(dict.fromkeys((*model.observation_columns, *columns)))
        self._levels = {k: np.asarray(lv, dtype=np.float64) for k, (_, lv) in self.split.items()}
        self._members = {k: [n for n, f in self.source.items() if f == k] for k in self.split}
        self.param_specs = self._free_specs()

    def _suffixes(self) -> list[str]:
        out = [f"|{k}={_label(v)}" for k, v in self.fixed.items()]
        groups: dict[str, list[str]] = {}
        for inner, free in self.source.items():
            groups.setdefault(free, []).append(inner)
        out += ["|" + "=".join(g) for g in groups.values() if len(g) > 1]
        out += [f"|{k}~{col}" for k, (col, _) in self.split.items()]
        return out

    def _free_specs(self) -> tuple[ParamSpec, ...]:
        specs: list[ParamSpec] = []
        for free in dict.fromkeys(self.source.values()):
            members = [self.model.spec(n) for n in self.source if self.source[n] == free]
            low = max(s.low for s in members)
            high = min(s.high for s in members)
            lead = self.model.spec(free)
            base = ParamSpec(free, low, high, float(np.clip(lead.default, low, high)), lead.prior,
                             lead.description)
            if free not in self.split:
                specs.append(base)
                continue
            col, levels = self.split[free]
            specs += [
                ParamSpec(f"{free}_{_label(lv)}", low, high, base.default, lead.prior,
                          f"{lead.description}, {col} = {_label(lv)}")
                for lv in levels
            ]
        return tuple(specs)

    # -- parameters of the model inside -----------------------------------------------------
    def _inner_params(self, params: Mapping[str, np.ndarray]) -> dict[str, Any]:
        """Return the parameter record kept in the state.

        The record holds the inner parameters that do not change by trial (``"base"``), plus a
        ``(lanes, levels)`` table for each split parameter under its free name (``"tables"``).
        """
        lanes = next(iter(params.values())).shape[0] if params else 1
        base: dict[str, np.ndarray] = {}
        tables: dict[str, np.ndarray] = {}
        xp = namespace(params)
        like = next(iter(params.values()), None)
        for free, (_, levels) in self.split.items():
            tables[free] = xp.stack([params[f"{free}_{_label(lv)}"] for lv in levels], axis=1)
        for inner in self.model.param_names:
            if inner in self.fixed:
                base[inner] = full(np.empty(0) if like is None else like, (lanes,), self.fixed[inner])
            elif self.source[inner] in tables:
                base[inner] = tables[self.source[inner]][:, 0]  # a placeholder before trial 1
            else:
                base[inner] = params[self.source[inner]]
        return {"base": base, "tables": tables}

    def _trial_params(self, record: Mapping[str, Any], observation: Mapping[str, np.ndarray]) -> dict:
        """Return the inner parameters of this trial: each split parameter at the trial's level."""
        tables = record["tables"]
        if not tables:
            return record["base"]
        out = dict(record["base"])
        for free, table in tables.items():
            col = self.split[free][0]
            levels = self._levels[free]
            # levels were checked on answered trials; padding and skipped trials map anywhere
            obs = observation[col]
            xp = namespace(obs)
            idx = xp.searchsorted(as_namespace(xp, levels, obs), obs)
            value = pick(table, xp.clip(idx, 0, levels.size - 1))
            for inner in self._members[free]:
                out[inner] = value
        return out

    def inner_params(self, params: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Return the inner model's parameters of ``params`` that do not vary by trial.

        Parameters
        ----------
        params : mapping of str to array_like
            Free parameters (scalars or one value per lane).

        Returns
        -------
        inner : dict of str to numpy.ndarray
            Every fixed and tied parameter of the inner model, one value per lane; split
            parameters are left out (they vary by trial).
        """
        record = self._inner_params(self.check_params(params))
        split_inner = {n for n, f in self.source.items() if f in self.split}
        return {k: v for k, v in record["base"].items() if k not in split_inner}

    # -- dynamics: the inner model's, with the trial's parameters ----------------------------
    def _inner_state(self, state: State, observation: Mapping[str, np.ndarray]) -> State:
        return {**state, "params": self._trial_params(state["params"], observation)}

    def initial_state(self, params: Mapping[str, np.ndarray]) -> State:
        """Return the inner model's initial state, with the parameter record under ``"params"``."""
        record = self._inner_params(params)
        state = self.model.initial_state(record["base"])
        return {**state, "params": record}

    def action_probabilities(self, state: State, observation: Mapping[str, np.ndarray]) -> np.ndarray:
        """Return the inner model's choice probabilities under this trial's parameters."""
        return self.model.action_probabilities(self._inner_state(state, observation), observation)

    def update(self, state, observation, action, reward, next_observation) -> State:
        """Return the inner model's next state under this trial's parameters, record kept."""
        new = self.model.update(self._inner_state(state, observation), observation, action, reward,
                                next_observation)
        return {**new, "params": state["params"]}

    def latents(self, state, observation, action, reward) -> dict[str, np.ndarray]:
        """Return the inner model's latent variables under this trial's parameters."""
        return self.model.latents(self._inner_state(state, observation), observation, action, reward)

    @property
    def observation_limits(self) -> dict[str, tuple[int, int | None]]:
        """The inner model's integer observation columns and their ranges."""
        from cogmodels.likelihood import _observation_limits

        return {c: (lo, hi) for c, (lo, hi, _) in _observation_limits(self.model).items()}

    @property
    def observation_levels(self) -> dict[str, tuple[float, ...]]:
        """Condition column -> the levels it may take on an answered trial."""
        return {col: levels for col, levels in self.split.values()}

    def __repr__(self) -> str:
        parts = [repr(self.model)]
        if self.fixed:
            parts.append(f"fix={self.fixed!r}")
        groups: dict[str, list[str]] = {}
        for inner, free in self.source.items():
            groups.setdefault(free, []).append(inner)
        ties = [tuple(g) for g in groups.values() if len(g) > 1]
        if ties:
            parts.append(f"tie={ties!r}")
        if self.split:
            parts.append(f"by={ {k: col for k, (col, _) in self.split.items()} !r}")
        return f"constrain({', '.join(parts)})"


def _check_name(model: CognitiveModel, name: Any, arg: str) -> str:
    if not isinstance(name, str) or name not in model.param_names:
        close = difflib.get_close_matches(str(name), model.param_names, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(
            f"{arg}: model {model.name!r} has no parameter {name!r}{hint}; its parameters are "
            f"{list(model.param_names)}"
        )
    return name


def _initial_state_depends_on(model: CognitiveModel, name: str) -> bool:
    """Whether ``model.initial_state`` changes with parameter ``name`` (probed on two lanes)."""
    spec = model.spec(name)
    params = {s.name: np.full(2, s.default) for s in model.param_specs}
    lo = spec.low if np.isfinite(spec.low) else spec.default - 1.0
    hi = spec.high if np.isfinite(spec.high) else spec.default + 1.0
    params[name] = np.array([lo + 0.25 * (hi - lo), lo + 0.75 * (hi - lo)])
    state = model.initial_state(model.check_params(params))
    for key, value in state.items():
        if key == "params":
            continue
        a = np.asarray(value)
        if a.ndim and a.shape[0] == 2 and not np.array_equal(a[0], a[1]):
            return True
    return False


def constrain(
    model: CognitiveModel,
    *,
    fix: Mapping[str, float] | None = None,
    tie: Sequence[Sequence[str]] | None = None,
    by: Mapping[str, str] | None = None,
    levels: Mapping[str, Sequence[float]] | None = None,
    data: pd.DataFrame | None = None,
) -> CognitiveModel:
    r"""Return the model with parameters fixed, tied, or split by a condition column.

    For inner parameter :math:`\theta_j` the wrapped model uses, on trial :math:`t`,

    .. math::

        \theta_j(t) = c_j \ (\text{fixed}), \qquad
        \theta_j(t) = \phi_{g(j)} \ (\text{tied into group } g), \qquad
        \theta_j(t) = \phi_{j, \ell(t)} \ (\text{split by a column with level } \ell(t)),

    with :math:`\phi` the free parameters, the only ones fitted and counted (``n_params``, AIC,
    BIC). Used in Kool, Gershman & Cushman (2016) to estimate the model-based weight ``w``
    separately on low- and high-stakes trials.

    Parameters
    ----------
    model : CognitiveModel
        Any model of the protocol (e.g. ``make_model("two_step_hybrid")``).
    fix : mapping of str to float, optional
        Parameter -> value within its bounds; the parameter is not fitted.
    tie : sequence of sequences of str, optional
        Groups of parameters that take one value, e.g. ``[("alpha1", "alpha2"), ("beta1",
        "beta2")]``; the free parameter is named after the group's first member, its range is
        the intersection of the members' ranges and its prior the first member's.
    by : mapping of str to str, optional
        Parameter (or a tie group's first member) -> condition column of the trial table; one
        free parameter ``<name>_<level>`` per level. The column must be numeric and given on
        every answered trial; the model must read the parameter on every trial (a parameter of
        the initial state, e.g. ``q0``, is refused).
    levels : mapping of str to sequence of float, optional
        Condition column -> its levels. Columns not given here take their levels from ``data``.
    data : pandas.DataFrame, optional
        The trial table the model will be fitted to, to read the levels from.

    Returns
    -------
    model : ConstrainedModel
        The wrapped model (``model`` itself when nothing is constrained).

    Raises
    ------
    ValueError
        Naming the argument (``fix``, ``tie``, ``by``, ``levels``), the model's parameters and
        the value received: an unknown parameter, one named twice, a value out of bounds, tied
        ranges that do not overlap, a condition column without levels.

    Notes
    -----
    :func:`cogmodels.simulate.simulate` reads a split parameter's condition from the task's
    ``trial_context`` before each choice, as the likelihood reads it from the trial table.
    :func:`~cogmodels.fits.recovery.parameter_recovery`,
    :func:`~cogmodels.fits.recovery.model_recovery` and ``cogmodels recover --by`` refuse a
    task that does not give the column, naming the columns its trials give
    (:func:`~cogmodels.fits.recovery.task_condition_levels`); ``simulate`` itself does not
    check (a missing column reads as 0: every trial takes the lowest level at or above 0, and
    the table has no such column). To simulate a design the task
    lacks (e.g. stakes in the two-step task), simulate each condition as its own session and add
    the column to the table (the state restarts at each session, as the likelihood assumes).

    Examples
    --------
    >>> from cogmodels.constrain import constrain
    >>> from cogmodels.models import make_model
    >>> m = constrain(make_model("two_step_hybrid"), fix={"lam": 1.0},
    ...               tie=[("alpha1", "alpha2")], by={"w": "stakes"}, levels={"stakes": [1, 5]})
    >>> m.param_names
    ('alpha1', 'beta1', 'beta2', 'w_1', 'w_5', 'kappa')
    >>> m.n_params
    6
    """
    if not isinstance(model, CognitiveModel):
        raise TypeError(f"model must be a CognitiveModel (e.g. make_model('q_learning')), got "
                        f"{type(model).__name__}")
    for arg, value in (("fix", fix), ("by", by), ("levels", levels)):
        if value is not None and not isinstance(value, Mapping):
            raise TypeError(f"{arg} must be a mapping {{parameter: ...}} or None, got {describe(value)}")
    if tie is not None and (isinstance(tie, str) or not isinstance(tie, Sequence)):
        raise TypeError(f"tie must be a sequence of groups of parameter names, e.g. "
                        f"[('alpha1', 'alpha2')], got {describe(tie)}")
    fix, by, levels = dict(fix or {}), dict(by or {}), dict(levels or {})
    if not (fix or tie or by):
        return model
    named: dict[str, str] = {}

    def claim(name: Any, arg: str) -> str:
        name = _check_name(model, name, arg)
        if name in named:
            raise ValueError(f"{arg}: parameter {name!r} is already constrained by {named[name]}; "
                             "name each parameter once in fix and tie")
        named[name] = arg
        return name

    fixed = {}
    for name, value in fix.items():
        name = claim(name, "fix")
        s = model.spec(name)
        fixed[name] = check_number(f"fix {name}", value, s.low, s.high)
    source = {n: n for n in model.param_names if n not in fixed}
    for group in tie or ():
        if isinstance(group, str) or not isinstance(group, Sequence) or len(group) < 2:
            raise ValueError(f"tie: each group must name at least two parameters, e.g. "
                             f"('alpha1', 'alpha2'); got {describe(group)}")
        members = [claim(n, "tie") for n in group]
        low = max(model.spec(n).low for n in members)
        high = min(model.spec(n).high for n in members)
        if not low < high:
            ranges = {n: model.spec(n).bounds for n in members}
            raise ValueError(f"tie: the ranges of {members} do not overlap: {ranges}")
        for n in members:
            source[n] = members[0]
    split = {}
    for name, column in by.items():
        name = _check_name(model, name, "by")
        if name in fixed or source[name] != name:
            lead = "fixed" if name in fixed else f"tied to {source[name]!r}: split {source[name]!r}"
            raise ValueError(f"by: parameter {name!r} is {lead}")
        if not isinstance(column, str) or not column:
            raise TypeError(f"by {name}: the condition must be a column name, got {describe(column)}")
        if column in levels:
            raw = levels[column]
            lv = np.asarray(raw, dtype=np.float64) if isinstance(raw, Sequence | np.ndarray) else None
            if lv is None or lv.ndim != 1 or lv.size == 0 or not np.isfinite(lv).all() or \
                    np.unique(lv).size != lv.size:
                raise ValueError(f"levels {column}: need distinct finite numbers, got {describe(raw)}")
            lv = tuple(np.sort(lv).tolist())
        elif data is not None:
            lv = condition_levels(data, column)
        else:
            raise ValueError(f"by {name}: the levels of column {column!r} are unknown; pass "
                             f"levels={{{column!r}: [...]}} or data=<the trial table>")
        members = [n for n, f in source.items() if f == name]
        fixed_by_state = [n for n in members if _initial_state_depends_on(model, n)]
        if fixed_by_state:
            raise ValueError(
                f"by {name}: model {model.name!r} uses {fixed_by_state[0]!r} to set its initial "
                "state, so it cannot change from trial to trial; split a parameter that enters "
                f"every trial (parameters: {list(model.param_names)})"
            )
        split[name] = (column, lv)
    return ConstrainedModel(model, fixed, source, split)


def model_from_name(
    text: str, *, data: pd.DataFrame | None = None, **structure: Any
) -> CognitiveModel:
    """Make a model from its name, constraints included: the inverse of ``ConstrainedModel.name``.

    ``"two_step_hybrid|lam=1|alpha1=alpha2|w~stakes"`` is ``make_model("two_step_hybrid")`` with
    ``lam`` fixed at 1, ``alpha1`` and ``alpha2`` tied and ``w`` split by ``stakes``: after the
    registered name, each ``|``-separated part is ``name=value`` (fix), ``a=b[=c]`` (tie, all
    parameter names) or ``name~column`` (by).

    Parameters
    ----------
    text : str
        The name, e.g. ``"q_learning|kappa=0"``.
    data : pandas.DataFrame, optional
        The trial table, for the levels of ``by`` columns.
    **structure
        Structure options of the registered model (:func:`cogmodels.models.make_model`).

    Returns
    -------
    model : CognitiveModel
        The (constrained) model.

    Raises
    ------
    ValueError
        Naming the part that is none of the three forms, and the forms.

    Examples
    --------
    >>> from cogmodels.constrain import model_from_name
    >>> model_from_name("q_learning|kappa=0").param_names
    ('alpha', 'beta')
    """
    from cogmodels.models import make_model

    if not isinstance(text, str):
        raise TypeError(f"a model name must be a str, got {type(text).__name__}")
    base, *parts = (p.strip() for p in text.split("|"))
    model = make_model(base, **structure)
    fix: dict[str, float] = {}
    tie: list[list[str]] = []
    by: dict[str, str] = {}
    for part in parts:
        name, sep, column = (x.strip() for x in part.partition("~"))
        names = [x.strip() for x in part.split("=")]
        if sep:
            by[name] = column
        elif len(names) >= 2 and all(n in model.param_names for n in names):
            tie.append(names)
        elif len(names) == 2 and names[0]:
            try:
                fix[names[0]] = float(names[1])
            except ValueError:
                raise ValueError(f"model {text!r}: {part!r} fixes {names[0]!r} to {names[1]!r}, "
                                 "which is not a number") from None
        else:
            raise ValueError(
                f"model {text!r}: {part!r} is not a constraint; after {base!r}, each '|' part is "
                "name=value (fix), a=b (tie) or name~column (by), e.g. 'two_step_hybrid|lam=1|w~stakes'"
            )
    return constrain(model, fix=fix, tie=tie, by=by, data=data)
