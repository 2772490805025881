"""Batched log-likelihood of observed choices under a model, over many lanes at once.

The trial table is turned once into padded ``(subjects, trials)`` arrays
(:func:`trial_arrays`); :func:`log_likelihood` then runs the model's own
``action_probabilities`` / ``update`` over every lane together, looping only over trials.
Missing responses (NaN choice) and padding are skipped: they add nothing to the likelihood and
leave the state unchanged.

The loop runs in the namespace of the parameters: numpy arrays give numpy arrays, float64 torch
tensors give a torch tensor with its autograd graph (the data are moved next to the parameters),
from the same model code (:mod:`cogmodels.xp`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cogmodels.model import CognitiveModel, full, merge_state, pick
from cogmodels.trials import (
    _coerce,
    _numbers,
    _rows,
    _shown,
    _validate,
    _where,
    action_fix,
    require_answered,
)
from cogmodels.xp import as_namespace, namespace, to_numpy

__all__ = [
    "CheckedTrials",
    "TrialArrays",
    "log_likelihood",
    "prepare_trials",
    "trial_arrays",
    "trial_latents",
]

@dataclass
class TrialArrays:
    """A trial table as padded time-major arrays: trials × subjects.

    ``choices`` has one layer per column of ``model.choice_columns`` (``choice``, and e.g.
    ``choice2`` for the second stage of the two-step task); -1 marks a missing response or
    padding, and ``valid`` is False there.
    """

    subjects: np.ndarray  # (S,) subject ids, in order of first appearance
    choices: np.ndarray  # (C, T, S) int64
    valid: np.ndarray  # (C, T, S) bool
    reward: np.ndarray  # (T, S) float64, 0 where missing
    observations: dict[str, np.ndarray]  # column -> (T, S)
    block_start: np.ndarray  # (T, S) bool, True on the first trial of a new block (t > 0)
    session_start: np.ndarray  # (T, S) bool, True on the first trial of a new session (t > 0)
    row_index: np.ndarray  # (T, S) int64 position of the row in the table, -1 for padding
    # the lane layouts of recent likelihood calls (_lane_plan); the arrays are not to be changed
    # in place once a likelihood has been computed on them
    _plans: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def n_subjects(self) -> int:
        """Number of subjects."""
        return self.choices.shape[2]

    @property
    def n_trials(self) -> int:
        """Trials per subject (the longest subject's; shorter ones are padded)."""
        return self.choices.shape[1]

    @property
    def n_valid(self) -> np.ndarray:
        """Valid (non-missing) first-stage choices per subject."""
        return self.valid[0].sum(axis=0)

    def subset(self, subjects: np.ndarray) -> TrialArrays:
        """Return the arrays of the subjects at positions ``subjects``."""
        return TrialArrays(
            self.subjects[subjects],
            self.choices[:, :, subjects],
            self.valid[:, :, subjects],
            self.reward[:, subjects],
            {k: v[:, subjects] for k, v in self.observations.items()},
            self.block_start[:, subjects],
            self.session_start[:, subjects],
            self.row_index[:, subjects],
        )


@dataclass(frozen=True, eq=False)
class CheckedTrials:
    """A trial table validated once, for the models in ``models``: see :func:`prepare_trials`.

    ``table`` is the validated copy (canonical dtypes), its rows sorted into sequence order when
    they were not; ``order[i]`` is the position in the caller's table of row ``i`` of ``table``
    (None when the rows kept their order). Entry points validate once and hand this on, so inner
    calls (a fit per model, a fit per fold) do not validate again.
    """

    table: pd.DataFrame
    order: np.ndarray | None = None
    source: str | None = None
    models: tuple[CognitiveModel, ...] = ()

    @property
    def positions(self) -> np.ndarray:
        """The caller's row position of each row of ``table``."""
        return np.arange(len(self.table)) if self.order is None else self.order

    def to_caller(self, values: np.ndarray) -> np.ndarray:
        """``values`` aligned with the rows of ``table``, put in the caller's row order."""
        if self.order is None:
            return values
        out = np.empty_like(values)
        out[self.order] = values
        return out

    def caller_index(self) -> pd.Index:
        """Return the caller's index labels, in the caller's row order."""
        if self.order is None:
            return self.table.index
        return self.table.index.take(np.argsort(self.order))

    def checked_for(self, model: CognitiveModel) -> bool:
        """Whether ``model``'s own checks already ran on this table."""
        return any(m is model for m in self.models)


def prepare_trials(
    df: pd.DataFrame,
    models: CognitiveModel | Sequence[CognitiveModel],
    *,
    source: str | None = None,
    validated: bool = False,
) -> CheckedTrials:
    """Validate a trial table once for ``models``: the door of every fit and likelihood.

    1. the columns each model reads are present (``choice_columns``, ``reward``,
       ``observation_columns``, ``block`` where the model resets at block boundaries);
    2. :func:`cogmodels.trials.validate_trials` (skipped when ``validated``, for a table an
       outer call has just validated, e.g. a simulation's), sorting rows that are out of trial
       order with a warning;
    3. each model's own needs: choices within its ``n_actions`` (with the ``n_actions`` to use
       when the table has more options), its observation columns numbers present on every
       answered trial, and index columns (``state``, ``state2``, ``set_size``) integers within
       the model's range.

    Raises ``ValueError`` / ``TypeError`` naming the file (``source``), column and rows.
    """
    if isinstance(models, CognitiveModel):
        models = (models,)
    models = tuple(models)
    if not isinstance(df, pd.DataFrame):
        raise TypeError(
            f"data must be a pandas DataFrame (a trial table), got {type(df).__name__}; build one with "
            "pd.DataFrame(...) or read a file with cogmodels.io.read_trials(path)"
        )
    for model in models:
        _check_model_columns(df, model, source)
    if validated:
        out, order = df, None
    else:
        out, order = _validate(df, None, source, (), True, stacklevel=5)
    for model in models:
        _check_model_values(out, model, source)
    if order is not None:
        out = out.iloc[order]
    return CheckedTrials(out, order, source, models)


def _model_columns(model: CognitiveModel) -> list[str]:
    needed = ["subject", *model.choice_columns, "reward", *model.observation_columns]
    if model.reset_on_block:
        needed.append("block")
    return list(dict.fromkeys(needed))


def _check_model_columns(df: pd.DataFrame, model: CognitiveModel, source: str | None) -> None:
    needed = _model_columns(model)
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise ValueError(
            f"{_where(source)}model {model.name!r} needs columns {needed}; missing {missing} "
            f"(columns present: {[str(c) for c in df.columns]})"
        )


def _observation_limits(model: CognitiveModel) -> dict[str, tuple[int, int | None, str | None]]:
    """Return ``column -> (low, high, structure argument)`` for a model's index columns.

    ``[low, high)`` is the integer range of an observation column the model uses as an index, and
    the structure argument is the one that sets ``high``.

    A model may declare ``observation_limits`` (a mapping ``column -> (low, high)``); otherwise
    the canonical columns follow the model's structure: ``state`` below ``n_states`` (or
    ``max_set_size``), ``state2`` below ``n_actions`` (two-step: one second-stage state per
    first-stage action), ``set_size`` in ``1 .. max_set_size``.
    """
    declared = getattr(model, "observation_limits", None)
    if declared is not None:
        return {c: (int(lo), None if hi is None else int(hi), None) for c, (lo, hi) in dict(declared).items()}
    n_states = getattr(model, "n_states", None)
    max_set = getattr(model, "max_set_size", None)
    out: dict[str, tuple[int, int | None, str | None]] = {}
    for col in model.observation_columns:
        if col == "state":
            if isinstance(n_states, int):
                out[col] = (0, n_states, "n_states")
            elif isinstance(max_set, int):
                out[col] = (0, max_set, "max_set_size")
            else:
                out[col] = (0, None, None)
        elif col == "state2":
            out[col] = (0, model.n_actions, None)
        elif col == "set_size":
            out[col] = (1, max_set + 1 if isinstance(max_set, int) else None, "max_set_size")
    return out


def _check_model_values(df: pd.DataFrame, model: CognitiveModel, source: str | None) -> None:
    """Check the model's own needs on a table already checked by ``validate_trials``."""
    where, name, n = _where(source), model.name, model.n_actions
    answered = np.zeros(len(df), dtype=bool)
    for col in model.choice_columns:
        values, not_number = _coerce(df[col])
        if not_number.any():  # a choice column the schema does not know
            raise ValueError(f"{where}column {col!r}: not an action index in "
                             f"{_rows(df, not_number, _shown(df[col]))}")
        answered |= ~np.isnan(values)
        with np.errstate(invalid="ignore"):
            bad = ~np.isnan(values) & ((values >= n) | (values < 0) | (values != np.round(values)))
        if bad.any():
            more = (f"use n_actions={{n}} (make_model({name!r}, n_actions={{n}}); on the command "
                    f"line --structure n_actions={{n}})")
            raise ValueError(
                f"{where}column {col!r}: outside the {n} actions of model {name!r} (0..{n - 1}) in "
                f"{_rows(df, bad, _shown(df[col]))}. Fix: "
                f"{action_fix(col, values[~np.isnan(values)], n, more)}"
            )
    limits = _observation_limits(model)
    levels = dict(getattr(model, "observation_levels", None) or {})
    for col in model.observation_columns:
        values = _numbers(df, col, source)
        require_answered(df, col, values, answered, source, "missing or not finite on an answered trial",
                         f"Model {name!r} reads {col!r} on every trial with a choice. Fix: fill it in, "
                         f"or set the choices of those trials to NaN")
        if col in levels:  # a condition column: only its declared levels
            bad = answered & np.isfinite(values) & ~np.isin(values, levels[col])
            if bad.any():
                raise ValueError(
                    f"{where}column {col!r} must hold one of the levels {list(levels[col])} of model "
                    f"{name!r} on answered trials; not so in {_rows(df, bad, _shown(df[col]))}. Fix: "
                    f"build the model with the table's levels (constrain(..., data=table))"
                )
        if col not in limits:
            continue
        low, high, arg = limits[col]
        with np.errstate(invalid="ignore"):
            bad = np.isfinite(values) & ((values != np.round(values)) | (values < low))
            if high is not None:
                bad |= values >= high
            bad |= np.isinf(values)
        if bad.any():
            span = f"[{low}, {high - 1}]" if high is not None else f"[{low}, ...)"
            build = f", or build the model for larger ones (its {arg} argument)" if arg else ""
            what = "counts" if low else "0-based indices"
            raise ValueError(
                f"{where}column {col!r} must hold integers in {span} for model {name!r}; not so in "
                f"{_rows(df, bad, _shown(df[col]))}. Fix: code {col!r} as {what} in {span}{build}"
            )


def trial_arrays(
    df: pd.DataFrame | CheckedTrials, model: CognitiveModel, *, source: str | None = None
) -> TrialArrays:
    """Validate ``df`` for ``model`` (:func:`prepare_trials`) and pad it into arrays.

    Raises ``ValueError`` before any optimisation when the table breaks the trial-table schema,
    a column the model needs is missing, or a choice lies outside the model's actions. Rows out
    of trial order are sorted (with a warning); ``row_index`` refers to the caller's rows. A
    :class:`CheckedTrials` is not validated again.
    """
    if isinstance(df, CheckedTrials):
        checked = df
        if not checked.checked_for(model):
            checked = prepare_trials(checked.table, model, source=checked.source, validated=True)
            checked = CheckedTrials(checked.table, df.order, df.source, (*df.models, model))
    else:
        checked = prepare_trials(df, model, source=source)
    return _pad(checked, model)


def _pad(checked: CheckedTrials, model: CognitiveModel) -> TrialArrays:
    df = checked.table
    stage_choices = [_coerce(df[col])[0] for col in model.choice_columns]
    reward = df["reward"].to_numpy(dtype=np.float64, na_value=np.nan)
    valid_rows = ~np.isnan(np.sum(stage_choices, axis=0))  # every stage answered: the outcome exists
    codes, subjects = pd.factorize(df["subject"], sort=False)
    n_sub = len(subjects)
    t_max = int(np.bincount(codes, minlength=n_sub).max()) if n_sub else 0
    pos = pd.Series(codes).groupby(codes).cumcount().to_numpy()
    shape = (t_max, n_sub)

    def scatter(values: np.ndarray, fill: Any, dtype: Any) -> np.ndarray:
        a = np.full(shape, fill, dtype=dtype)
        a[pos, codes] = values
        return a

    choices = np.stack([scatter(np.nan_to_num(c, nan=-1), -1, np.int64) for c in stage_choices])
    valid = choices >= 0
    obs = {col: scatter(np.nan_to_num(_coerce(df[col])[0]), 0.0, np.float64) for col in model.observation_columns}
    idx = scatter(checked.positions, -1, np.int64)
    rt_col = getattr(model, "rt_column", None)
    if rt_col is not None:  # NaN where missing: such a trial is scored by its choice alone
        rt = (df[rt_col].to_numpy(dtype=np.float64, na_value=np.nan) if rt_col in df.columns
              else np.full(len(df), np.nan))
        obs[rt_col] = scatter(rt, np.nan, np.float64)

    def starts(cols: list[str]) -> np.ndarray:
        out = np.zeros(shape, dtype=bool)
        if all(c in df.columns for c in cols):
            codes_ = pd.MultiIndex.from_frame(df[cols]).factorize()[0]
            g = scatter(codes_, -1, np.int64)
            out[1:] = (g[1:] != g[:-1]) & (idx[1:] >= 0)
        return out

    return TrialArrays(
        np.asarray(subjects),
        choices,
        valid,
        scatter(np.where(valid_rows, reward, 0.0), 0.0, np.float64),
        obs,
        starts(["session", "block"] if "session" in df.columns else ["block"]),
        starts(["session"]),
        idx,
    )


def log_likelihood(
    model: CognitiveModel,
    params: Mapping[str, Any],
    data: TrialArrays | pd.DataFrame,
    lanes: np.ndarray | None = None,
    *,
    trialwise: bool = False,
) -> Any:
    r"""Return the summed log-probability of each lane's choices.

    .. math:: \log L_\ell = \sum_t \sum_j \log P(c_{tj} \mid \text{history}_t, \theta_\ell)

    Parameters
    ----------
    model : CognitiveModel
        The model whose ``action_probabilities`` / ``update`` are run.
    params : mapping of str to array_like
        Each parameter: a scalar or one value per lane. With torch tensors (``(lanes,)`` float64,
        e.g. with ``requires_grad=True``, on any device) the same model code runs in torch and the
        result is a tensor through which autograd gives exact gradients and Hessians.
    data : TrialArrays or pandas.DataFrame
        A trial table (validated by :func:`trial_arrays`, subjects in order of first appearance)
        or the :class:`TrialArrays` it returns.
    lanes : numpy.ndarray of int, optional
        The subject of ``data`` of each lane (default: one lane per subject), so one call can
        score subjects × parameter sets × starts (or × MCMC chains).
    trialwise : bool, default False
        Return the ``(lanes, trials)`` log-probabilities instead (0 for skipped trials; the
        stages of a multi-stage trial are summed).

    Returns
    -------
    loglik : numpy.ndarray or torch.Tensor
        ``(lanes,)`` (or ``(lanes, trials)``), in the namespace and on the device of ``params``.

    Multi-stage models (``len(model.choice_columns) > 1``) are asked for the probabilities of
    each stage with ``observation["stage"] = j`` and the trial's earlier choices in
    ``observation["choices"]``; ``update`` then receives the ``(lanes, stages)`` choices.
    """
    if not isinstance(data, TrialArrays):
        data = trial_arrays(data, model)
    with np.errstate(divide="ignore"):  # log(0) = -inf is a valid answer, checked by the caller
        return _log_likelihood(model, params, data, lanes, trialwise)[0]


def trial_latents(
    model: CognitiveModel, params: Mapping[str, Any], trials: pd.DataFrame
) -> pd.DataFrame:
    """Return the model's trial-wise latents (values, prediction errors, WM weight...) for a table.

    Runs the model over each subject's observed choices with that subject's parameters
    (``params`` maps each parameter to one value per subject, in order of first appearance, or
    a scalar) and returns a DataFrame aligned with ``trials`` (same index), one column per latent
    plus ``p_choice``, the probability the model gave to the observed choice(s). Missing
    responses get NaN. This is what model-based analyses of neural data regress on.
    """
    data = trial_arrays(trials, model)
    with np.errstate(divide="ignore"):
        logp, lat = _log_likelihood(model, params, data, None, True, record_latents=True)
    rows = data.row_index.T  # (S, T)
    keep = rows >= 0
    out = pd.DataFrame(index=trials.index)
    valid_trial = data.valid.all(axis=0).T[keep]
    columns = {"p_choice": np.exp(logp)[keep], **{k: v.T[keep] for k, v in lat.items()}}
    for name, values in columns.items():
        col = np.full(len(trials), np.nan)
        col[rows[keep]] = np.where(valid_trial, values, np.nan)
        out[name] = col
    return out


@dataclass(frozen=True, eq=False)
class _LanePlan:
    """The data side of a likelihood call: a :class:`TrialArrays` laid out for ``lanes``.

    It depends only on the data, the lanes and two switches of the model (``reset_on_block``,
    ``rt_column``), not on the parameters, so it is built once and kept on the data
    (:func:`_lane_plan`): a fit that scores the same lanes thousands of times (an optimiser, a
    sampler's leapfrog steps) does not gather them again each call. Its arrays are read-only.
    """

    safe: np.ndarray  # (C, T, L) choices, 0 where missing
    valid: np.ndarray  # (C, T, L)
    trial_valid: np.ndarray  # (T, L) every stage answered
    block_start: np.ndarray | None  # (T, L) the state restarts, None when it never does
    reward: np.ndarray  # (T, L)
    observations: dict[str, np.ndarray]  # column -> (T, L)
    rt: np.ndarray | None  # (T, L) RTs of a model of RTs, NaN where none
    has_rt: np.ndarray | None  # (T, L)
    omitted: np.ndarray | None  # (T, L) a row with no response
    rt_filled: np.ndarray | None  # (T, L) RTs with 1 s where there is none
    all_valid: list[bool]  # per trial: no lane needs its state held
    any_invalid_stage: list[bool]  # per trial: some lane lacks some stage's choice
    any_reset: list[bool]  # per trial: some lane restarts
    rt_everywhere: list[bool]  # per trial: every lane scored by its choice has an RT


def _read_only(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


_PLANS_KEPT = 4  # plans cached per TrialArrays (a fit uses one or two lane layouts)
_PLAN_CACHE_BYTES = 1 << 27  # a larger plan (128 MiB: ~10^7 lane-trials) is rebuilt each call


def _lane_plan(data: TrialArrays, lanes: np.ndarray, model: CognitiveModel) -> _LanePlan:
    """Return the :class:`_LanePlan` of ``data`` for ``lanes`` and ``model``, cached on ``data``."""
    key = (lanes.tobytes(), lanes.dtype.str, bool(model.reset_on_block), model.rt_column)
    plan = data._plans.get(key)
    if plan is None:
        plan = _make_lane_plan(data, lanes, model)
        if _plan_bytes(plan) <= _PLAN_CACHE_BYTES:
            if len(data._plans) >= _PLANS_KEPT:
                data._plans.clear()  # (atomic: threads may share the data)
            data._plans[key] = plan
    return plan


def _plan_bytes(plan: _LanePlan) -> int:
    arrays = [plan.safe, plan.valid, plan.trial_valid, plan.block_start, plan.reward, plan.rt, plan.has_rt,
              plan.omitted, plan.rt_filled, *plan.observations.values()]
    return sum(a.nbytes for a in arrays if a is not None)


def _make_lane_plan(data: TrialArrays, lanes: np.ndarray, model: CognitiveModel) -> _LanePlan:
    choices = data.choices[:, :, lanes]
    valid = data.valid[:, :, lanes]
    safe = np.where(valid, choices, 0)
    # the state starts afresh in each session, and in each block where the model says so
    resets = data.block_start | data.session_start if model.reset_on_block else data.session_start
    block_start = resets[:, lanes] if resets.any() else None
    n_stages, n_trials, n_lanes = choices.shape
    trial_valid = valid.all(axis=0)  # the update needs every stage's choice
    rt = has_rt = omitted = rt_filled = None
    if model.rt_column is not None and n_stages == 1 and model.rt_column in data.observations:
        rt = data.observations[model.rt_column][:, lanes]
    scored = trial_valid
    if rt is not None:  # models of choices and RTs: which trials have an RT, which none
        has_rt = valid[0] & np.isfinite(rt)
        omitted = (data.row_index[:, lanes] >= 0) & ~valid[0]
        scored = trial_valid | omitted
        rt_filled = np.where(has_rt, rt, 1.0)
    # after a lane's last scored trial its state no longer matters: no need to hold it
    last = n_trials - 1 - np.argmax(scored[::-1], axis=0)
    spent = np.arange(n_trials)[:, None] > last[None, :]
    arrays = [safe, valid, trial_valid, block_start, data.reward[:, lanes], rt, has_rt, omitted, rt_filled]
    observations = {k: _read_only(a[:, lanes]) for k, a in data.observations.items()}
    safe, valid, trial_valid, block_start, reward, rt, has_rt, omitted, rt_filled = (
        None if a is None else _read_only(a) for a in arrays)
    return _LanePlan(
        safe, valid, trial_valid, block_start, reward, observations, rt, has_rt, omitted, rt_filled,
        # the per-trial switches as Python lists: the loop's tests then cost no numpy scalar each
        all_valid=(trial_valid | spent).all(axis=1).tolist(),
        any_invalid_stage=(~valid.all(axis=(0, 2))).tolist(),
        any_reset=block_start.any(axis=1).tolist() if block_start is not None else [False] * n_trials,
        # the other lanes (padding, a lane past its last trial, an omission) score 0 from the choice
        # probability either way: the masked log-probability would be 0.0
        rt_everywhere=(~(valid[0] & ~has_rt).any(axis=1)).tolist() if rt is not None else [False] * n_trials,
    )


def _log_likelihood(model, params, data, lanes, trialwise, record_latents=False):
    """Run the one trial loop of the likelihood, in the namespace of ``params`` (numpy or torch).

    Control flow (resets, missing trials) is decided on numpy copies of the masks; the arrays the
    model sees (observations, actions, rewards, masks) are in the parameters' namespace and device.
    """
    lanes = np.arange(data.n_subjects) if lanes is None else np.asarray(lanes)
    p = model.check_params(params, n_lanes=lanes.shape[0])
    xp = namespace(p)
    like = next(iter(p.values()), None)

    def to_xp(x: np.ndarray) -> Any:  # C order: each trial's row of lanes is contiguous
        # (a copy for torch: the plan's arrays are read-only, a CPU tensor would share them)
        return as_namespace(xp, x if xp is np else np.array(x, order="C"), like)

    plan = _lane_plan(data, lanes, model)
    safe, valid, trial_valid, block_start = plan.safe, plan.valid, plan.trial_valid, plan.block_start
    rt_np, has_rt, omitted = plan.rt, plan.has_rt, plan.omitted
    all_valid, any_invalid_stage, any_reset = plan.all_valid, plan.any_invalid_stage, plan.any_reset
    n_stages, n_trials, n_lanes = safe.shape
    if xp is not np:  # the arrays the model sees, as tensors next to the parameters
        valid_x, trial_valid_x, safe = to_xp(valid), to_xp(trial_valid), to_xp(safe)
        block_start_x = None if block_start is None else to_xp(block_start)
    else:
        valid_x, trial_valid_x, block_start_x = valid, trial_valid, block_start
    reward = to_xp(plan.reward)
    obs_all = {k: to_xp(a) for k, a in plan.observations.items()}
    if rt_np is not None:  # RTs of 1 s stand in where there is none (masked out below)
        rt_x, has_rt_x, omitted_x = to_xp(plan.rt_filled), to_xp(has_rt), to_xp(omitted)
    state = init = model.initial_state(p)
    obs = {k: a[0] for k, a in obs_all.items()}
    # a model that gives its RT distribution's parameters has its densities computed once for
    # all trials after the loop (one vectorised call instead of one per trial)
    batched = rt_np is not None and model.rt_parameters(state, obs) is not None
    rt_params: list = []
    per_trial = trialwise or batched
    # where every lane scored on the trial has an RT, the joint density replaces the choice
    # probability: skip it (a race's choice probabilities are an integral over time, most of a
    # racing model's cost; _make_lane_plan)
    rt_everywhere = plan.rt_everywhere
    out = [] if per_trial else 0.0
    latents: dict[str, np.ndarray] = {}
    for t in range(n_trials):
        if any_reset[t]:
            state = merge_state(block_start_x[t], init, state)
        lp = full(like, (n_lanes,)) if rt_everywhere[t] else None
        for j in range(0 if rt_everywhere[t] else n_stages):
            obs_j = {**obs, "stage": j, "choices": safe[:j, t].T} if n_stages > 1 else obs
            probs = model.action_probabilities(state, obs_j)
            lpj = xp.log(pick(probs, safe[j, t]))
            if any_invalid_stage[t]:
                lpj = xp.where(valid_x[j, t], lpj, 0.0)
            lp = lpj if lp is None else lp + lpj  # log never gives -0.0: the bits of 0.0 + lpj
        if rt_np is not None:
            if batched:
                rt_params.append(model.rt_parameters(state, obs))
            else:
                lp = _rt_term(xp, model, state, obs, safe[0, t], rt_x[t], has_rt[t], has_rt_x[t], lp)
            lp = _omission_term(xp, model, state, obs, omitted[t], omitted_x[t], lp)
        if per_trial:
            out.append(lp)
        else:
            out = out + lp
        nxt = {k: x[t + 1] for k, x in obs_all.items()} if t + 1 < n_trials else obs
        action = safe[0, t] if n_stages == 1 else safe[:, t].T
        if record_latents:
            for k, v in model.latents(state, obs, action, reward[t]).items():
                latents.setdefault(k, np.full((n_trials, n_lanes), np.nan))[t] = to_numpy(v)
        new = model.update(state, obs, action, reward[t], nxt)
        state = new if all_valid[t] else merge_state(trial_valid_x[t], new, state)
        obs = nxt
    if per_trial:  # (trials, lanes)
        out = xp.stack(out, axis=0) if n_trials else full(like, (0, n_lanes))
        if batched and has_rt.any():  # the joint densities replace the choice probabilities
            out = xp.where(has_rt_x, _rt_densities(xp, model, rt_params, safe[0], rt_x, has_rt, to_xp), out)
        out = out.T if trialwise else xp.sum(out, axis=0)
    elif n_trials == 0:
        out = full(like, (n_lanes,))
    return out, latents


def _rt_densities(xp, model, rt_params, action, rt, has_rt, to_xp):
    """Return ``model.log_density_rt_from`` of the ``(trials, lanes)`` elements where ``has_rt``.

    ``rt_params`` holds each trial's :meth:`~cogmodels.model.CognitiveModel.rt_parameters`. The
    density is computed on the elements with an RT alone (gathered along the flattened
    ``(trials, lanes)`` axes, any trailing axes kept) and scattered back; the other elements hold
    an arbitrary finite value, for the caller to mask. Padding (subjects with fewer trials than
    the longest) then costs nothing: about half of the elements of HDDM's data set.
    """
    stacked = [xp.stack(x) for x in zip(*rt_params, strict=True)]
    if has_rt.all():
        return model.log_density_rt_from(stacked, action, rt)
    flat = np.flatnonzero(has_rt)
    index = to_xp(flat)
    # each element's position among the gathered ones (0 where there is none: masked later)
    position = np.zeros(has_rt.size, dtype=np.int64)
    position[flat] = np.arange(flat.size)

    def gather(x: Any) -> Any:
        return xp.take(xp.reshape(x, (has_rt.size, *x.shape[2:])), index, axis=0)

    dens = model.log_density_rt_from([gather(x) for x in stacked], gather(action), gather(rt))
    return xp.reshape(xp.take(dens, to_xp(position), axis=0), has_rt.shape)


def _rt_term(xp, model, state, obs, action, rt, has_rt, has_rt_x, lp):
    """Replace the choice probability by the joint density of (choice, rt) where there is an RT."""
    if has_rt.any():
        lp = xp.where(has_rt_x, model.log_density_rt(state, obs, action, rt), lp)
    return lp


def _omission_term(xp, model, state, obs, omitted, omitted_x, lp):
    """Score an omission by ``model.log_omission`` (censored at a deadline) when it is not None."""
    if omitted.any():
        log_none = model.log_omission(state, obs)
        if log_none is not None:
            lp = xp.where(omitted_x, log_none, lp)
    return lp
