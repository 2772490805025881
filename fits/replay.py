"""Replay: simulate a model on each subject's observed trial sequence, without an environment.

A posterior predictive check (Wilson & Collins 2019, eLife 8:e49547, rule 9; Palminteri,
Wyart & Koechlin 2017, TICS) usually plays the fitted model in the task environment. A model
written for a new task then needs a Gymnasium environment before it can be checked. Replay
needs none: every subject's own trial sequence is the task. On each answered trial the model
sees the trial's observation from the table (stimulus ``state``, ``set_size``, ...), draws its
choice from ``model.action_probabilities`` and learns from the outcome through
``model.update``: the same code that scores choices when fitting.

Outcomes (the assumption replay makes, stated in :data:`REPLAY_OUTCOMES`, in the ``attrs`` of
the table it returns and in the ``reward_source`` column):

1. ``observed``: the model chose what the subject chose (every stage of the trial): the
   subject's reward;
2. ``unchosen``: the table records the outcome of the option the subject did not choose
   (columns ``unchosen`` and ``reward_unchosen``, full-feedback tasks) and the model chose it;
3. ``schedule``: the table holds the task's reward schedule: per-option mean payoffs
   ``mean_<a>`` (the bandits; Bernoulli draws when every observed reward is 0 or 1, otherwise
   ``mean_<a>`` plus a residual ``reward - mean_<choice>`` resampled from the subject's own
   trials) or the two-step reward probabilities ``p_reward_<state2><choice2>`` (Bernoulli;
   hBayesDM's ``A1prob, A2prob, B1prob, B2prob`` are read as ``p_reward_00, _01, _10, _11``);
4. ``estimate``: otherwise the outcome is unknown and is resampled from the subject's observed
   outcomes of the same option in the same context (``session``, ``block``, ``state`` where
   the table has them). Where a ``correct_action`` column exists, "option" means correct or
   not (RLWM, reversal learning: P(reward | correct) and P(reward | error)). Options the
   subject never chose in that context fall back to the subject's outcomes of that option,
   then to every subject's, then to all observed outcomes. For binary rewards this is a
   Bernoulli draw at the empirical reward rate: exact for deterministic feedback (RLWM), an
   estimate that ignores drift within the context for drifting schedules.

Two-step tasks (``choice_columns == ("choice", "choice2")``): when the model's first choice
differs from the subject's, the second-stage state is drawn from the empirical transition
probabilities ``P(state2 | choice)`` of the whole table (all subjects); the common
destination of each choice is its most frequent ``state2``, and the ``common`` column of the
replayed table follows it. Second-stage outcomes follow the rules above with the option
``(state2, choice2)``.

The stimulus sequence, set sizes, blocks and reversals are the subject's: task events that
depended on the subject's performance (e.g. reversals after a learning criterion) are not
re-triggered by the model's choices. Trials the subject did not answer (any stage missing) stay
unanswered in the replay and leave the model's state unchanged, as in the likelihood.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from cogmodels.agent import inverse_cdf
from cogmodels.likelihood import CheckedTrials, prepare_trials
from cogmodels.model import CognitiveModel, merge_state, pick
from cogmodels.progress import progress_bar
from cogmodels.validation import check_bool, check_int, seed_sequence

__all__ = ["REPLAY_OUTCOMES", "REWARD_SOURCES", "replay", "replay_subjects"]

#: the assumption replay makes about outcomes, in one paragraph (for tables, figures, reports)
REPLAY_OUTCOMES = (
    "Replay: each subject's observed trial sequence (stimuli, set sizes, blocks) is replayed; the "
    "model draws its choices. Outcome: the observed reward where the model chose what the subject "
    "chose; the recorded outcome of the unchosen option where the table has one (reward_unchosen); "
    "the task's schedule where the table holds it (mean_<a>, p_reward_<s><a>); otherwise a reward "
    "resampled from the subject's observed outcomes of that option (correct/error where there is a "
    "correct_action column) in the same session, block and stimulus. Two-step: the second-stage "
    "state of a first choice the subject did not make is drawn from the table's empirical "
    "transition probabilities."
)

#: values of the ``reward_source`` column, from the most to the least direct
REWARD_SOURCES = ("observed", "unchosen", "schedule", "estimate")

#: columns of the observed table that describe the task (kept in the replayed table)
_TASK_COLUMNS = ("subject", "session", "block", "trial", "trial_in_block", "state", "set_size",
                 "correct_action", "iteration", "reversal", "delay")
#: the two-step reward probabilities of hBayesDM's ``ts`` files (kept by
#: :func:`cogmodels.io.read_trials`), in the order p_reward_00, _01, _10, _11: options 1-2 are
#: the choices of second-stage state 0 (A), options 3-4 those of state 1 (B)
_HBAYESDM_TWO_STEP = ("A1prob", "A2prob", "B1prob", "B2prob")
_SCHEDULE_PATTERN = re.compile(r"(mean_\d+|p_reward_\d\d|[AB][12]prob)")


def replay(
    model: CognitiveModel,
    params: pd.DataFrame | Mapping[str, Any],
    trials: pd.DataFrame,
    *,
    n_sims: int = 1,
    seed: int | np.random.SeedSequence | np.random.Generator | None = None,
    latents: bool = False,
    progress: bool = True,
) -> pd.DataFrame:
    """Simulate ``model`` ``n_sims`` times on every subject's observed trial sequence.

    Parameters
    ----------
    model : CognitiveModel
        The model (structure); see :mod:`cogmodels.model`.
    params : DataFrame or mapping
        A DataFrame indexed by subject with one column per parameter (``fit.params_`` of a
        fitted estimator), or a mapping ``{parameter: value}`` with a scalar or one value per
        subject in order of first appearance in ``trials``.
    trials : DataFrame
        The observed trial table (validated as by the fits; rows out of trial order are sorted,
        with a warning).
    n_sims : int
        Replays per subject.
    seed : int, SeedSequence, Generator or None
        The same seed gives the same table, byte for byte.
    latents : bool
        Add the model's trial-wise latents as columns.
    progress : bool
        Draw a bar of the trials replayed (on a terminal only).

    Returns
    -------
    DataFrame
        The replayed trial table in the canonical schema, subject by subject and ``sim`` by
        ``sim`` (0 .. n_sims-1) in trial order: the task columns of ``trials`` (``subject``,
        ``session``, ``block``, ``trial``, ``state``, ``set_size``, ``correct_action``,
        ``iteration``, ``reversal``, ``mean_<a>``, ``p_reward_<s><a>`` where present), the
        simulated ``choice`` (and ``choice2``, ``state2``, ``common`` for two-step models),
        ``reward``, ``correct`` (where ``correct_action`` exists) and ``reward_source`` (one of
        :data:`REWARD_SOURCES`; see the module docstring for the rules). ``attrs["replay"]``
        holds the assumption (:data:`REPLAY_OUTCOMES`) and the count of each reward source.

    Notes
    -----
    Replay needs no environment, so a new model can be checked on the data it was fitted to.
    Where the model's choices differ from the subject's the outcome is not observed: read the
    ``reward_source`` counts before trusting a curve that depends on many estimated outcomes.
    """
    if not isinstance(model, CognitiveModel):
        raise TypeError(f"model must be a CognitiveModel (e.g. make_model('q_learning')), got {type(model).__name__}")
    n_sims = check_int("n_sims", n_sims, minimum=1)
    checked = prepare_trials(trials, model)
    subjects = pd.unique(checked.table["subject"])
    per_subject = _subject_params(model, params, subjects)
    lane_params = {k: np.repeat(v, n_sims) for k, v in per_subject.items()}
    return replay_subjects(model, lane_params, checked, n_sims=n_sims, seed=seed, latents=latents,
                           progress=progress)


def _subject_params(model: CognitiveModel, params: Any, subjects: np.ndarray) -> dict[str, np.ndarray]:
    """``{parameter: (n_subjects,)}`` in the order of ``subjects``."""
    if isinstance(params, pd.DataFrame):
        missing = [c for c in model.param_names if c not in params.columns]
        if missing:
            raise ValueError(f"params lacks the parameters {missing} of model {model.name!r} "
                             f"(columns present: {list(params.columns)})")
        table = params[list(model.param_names)]
        absent = [s for s in subjects if s not in table.index]
        if absent:
            raise ValueError(
                f"params has no row for {len(absent)} subject(s) of trials, e.g. {absent[:5]}: give one row "
                f"per subject, indexed by subject id (as fit.params_)"
            )
        return model.check_params({k: table.loc[subjects, k].to_numpy(float) for k in model.param_names},
                                  n_lanes=len(subjects))
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a DataFrame indexed by subject or a mapping {{parameter: value(s)}} for "
                        f"{list(model.param_names)}, got {type(params).__name__}")
    for k, v in params.items():
        if np.ndim(v) > 0 and np.size(v) not in (1, len(subjects)):
            raise ValueError(f"params[{k!r}] has {np.size(v)} values; give a scalar or one per subject "
                             f"({len(subjects)}, in order of first appearance in trials)")
    return model.check_params(params, n_lanes=len(subjects))


def replay_subjects(
    model: CognitiveModel,
    lane_params: Mapping[str, np.ndarray],
    checked: CheckedTrials,
    *,
    n_sims: int,
    seed: int | np.random.SeedSequence | np.random.Generator | None = None,
    latents: bool = False,
    progress: bool = True,
) -> pd.DataFrame:
    """Replay a checked table with one parameter set per lane: the engine of :func:`replay`.

    The lanes' parameter sets can be, e.g., draws from a posterior, as in
    :func:`cogmodels.fits.ppc.posterior_predictive`.

    Parameters
    ----------
    model : CognitiveModel
        The model.
    lane_params : mapping
        ``{parameter: (n_subjects * n_sims,) array}``, subject-major: lane ``i * n_sims + j`` is
        simulation ``j`` of the ``i``-th subject of ``checked.table`` in order of first appearance.
    checked : CheckedTrials
        The observed table, validated for ``model`` (:func:`cogmodels.likelihood.prepare_trials`).
    n_sims : int
        Replays per subject.
    seed : int, SeedSequence, Generator or None
        The same seed gives the same table.
    latents : bool
        Add the model's trial-wise latents as columns.
    progress : bool
        Draw a bar of the trials replayed (on a terminal only).

    Returns
    -------
    DataFrame
        The replayed trial table, as :func:`replay` returns it.
    """
    latents = check_bool("latents", latents)
    progress = check_bool("progress", progress)
    table = checked.table
    codes, subjects = pd.factorize(table["subject"], sort=False)
    n_sub = len(subjects)
    lanes = n_sub * n_sims
    p = model.check_params(lane_params, n_lanes=lanes)
    pos = pd.Series(codes).groupby(codes).cumcount().to_numpy()
    grid = _Grid(table, codes, pos, n_sub)
    task = _Task(model, table, grid)
    subj = np.repeat(np.arange(n_sub), n_sims)
    rng = np.random.default_rng(seed_sequence(seed))
    n_stages = len(model.choice_columns)
    T = grid.n_trials
    out_choice = np.full((n_stages, T, lanes), np.nan)
    out_reward = np.full((T, lanes), np.nan)
    out_source = np.full((T, lanes), -1, dtype=np.int8)
    out_state2 = np.full((T, lanes), np.nan) if task.two_step else None
    lat: dict[str, np.ndarray] = {}
    resets = grid.starts(["session", "block"] if model.reset_on_block else ["session"])
    state = init = model.initial_state(p)
    cols = model.observation_columns
    bar = progress_bar(progress, total=T, unit="trial", desc=f"replay {model.name}")
    for t in range(T):
        bar.update()
        rows = grid.rows[t, subj]  # -1: padding
        if resets[t].any():
            state = merge_state(resets[t][subj], init, state)
        answered = task.answered[t, subj]
        obs = {c: grid.values(c, t)[subj] for c in cols}
        u_choice = rng.random((n_stages, lanes))
        u_outcome = rng.random(lanes)
        u_extra = rng.random(lanes)
        if task.two_step:
            a1 = inverse_cdf(model.action_probabilities(state, {**obs, "stage": 0,
                                                            "choices": np.zeros((lanes, 0), np.int64)}), u_choice[0])
            s2 = task.second_state(t, subj, a1, u_extra)
            obs["state2"] = s2.astype(np.float64)
            a2 = inverse_cdf(model.action_probabilities(state, {**obs, "stage": 1, "choices": a1[:, None]}), u_choice[1])
            reward, source = task.two_step_outcome(t, subj, rows, a1, s2, a2, u_outcome)
            action = np.stack([a1, a2], axis=1)
            out_choice[0, t], out_choice[1, t], out_state2[t] = a1, a2, s2
        else:
            action = inverse_cdf(model.action_probabilities(state, obs), u_choice[0])
            reward, source = task.outcome(t, subj, rows, action, u_outcome, u_extra)
            out_choice[0, t] = action
        reward = np.where(answered, reward, 0.0)
        out_reward[t] = reward
        out_source[t] = np.where(answered, source, -1)
        if latents:
            for k, v in model.latents(state, obs, action, reward).items():
                lat.setdefault(k, np.full((T, lanes), np.nan))[t] = np.where(answered, v, np.nan)
        nxt = {c: grid.values(c, t + 1)[subj] for c in cols} if t + 1 < T else obs
        new = model.update(state, obs, action, reward, nxt)
        state = new if answered.all() else merge_state(answered, new, state)
    bar.close()
    return _table(model, task, grid, subjects, n_sims, out_choice, out_reward, out_source, out_state2, lat)


class _Grid:
    """The checked table as padded ``(trials, subjects)`` arrays (the layout of the likelihood)."""

    def __init__(self, table: pd.DataFrame, codes: np.ndarray, pos: np.ndarray, n_sub: int) -> None:
        self.table, self.codes, self.pos, self.n_sub = table, codes, pos, n_sub
        self.n_trials = int(pos.max()) + 1 if len(pos) else 0
        self.rows = self.scatter(np.arange(len(table)), -1, np.int64)
        self._cache: dict[str, np.ndarray] = {}

    def scatter(self, values: np.ndarray, fill: Any, dtype: Any) -> np.ndarray:
        a = np.full((self.n_trials, self.n_sub), fill, dtype=dtype)
        a[self.pos, self.codes] = values
        return a

    def numeric(self, col: str) -> np.ndarray:
        if col not in self._cache:
            v = pd.to_numeric(self.table[col], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            self._cache[col] = self.scatter(v, np.nan, np.float64)
        return self._cache[col]

    def values(self, col: str, t: int) -> np.ndarray:
        """Column ``col`` on trial ``t`` of every subject, 0 for padding and missing values."""
        return np.nan_to_num(self.numeric(col)[t])

    def starts(self, cols: list[str]) -> np.ndarray:
        """Return True where the value of ``cols`` changes from the previous trial (t > 0)."""
        cols = [c for c in cols if c in self.table.columns]
        out = np.zeros(self.rows.shape, dtype=bool)
        if cols:
            g = self.scatter(pd.MultiIndex.from_frame(self.table[cols]).factorize()[0], -1, np.int64)
            out[1:] = (g[1:] != g[:-1]) & (self.rows[1:] >= 0)
        return out


class _Pools:
    """Observed values grouped by (context, option), for resampling an unobserved outcome.

    ``levels`` are ``(context columns, by option)`` from the most to the least specific; a
    query takes the first level with at least one observation.
    """

    def __init__(self, frame: pd.DataFrame, value: np.ndarray, n_options: int,
                 levels: list[tuple[list[str], bool]]) -> None:
        ok = frame["_option"].notna().to_numpy() & np.isfinite(value)
        obs = frame[ok].assign(_value=value[ok])
        self.n_options = n_options
        self.gid = np.full((len(frame), n_options), -1, dtype=np.int64)
        values, sizes, n_groups = [], [], 0
        query = pd.concat([frame.assign(_option=float(o)) for o in range(n_options)], ignore_index=True)
        for keys, by_option in levels:
            group_cols = keys + (["_option"] if by_option else [])
            if group_cols:
                groups = obs.groupby(group_cols, sort=True, dropna=False)
                ids = groups.ngroup().to_numpy()
                found = query.merge(groups.size().reset_index()[group_cols].assign(_gid=np.arange(groups.ngroups)),
                                    on=group_cols, how="left")["_gid"]
                gid = found.to_numpy(dtype=np.float64, na_value=np.nan)
            else:
                ids = np.zeros(len(obs), dtype=np.int64)
                gid = np.zeros(len(query)) if len(obs) else np.full(len(query), np.nan)
            order = np.argsort(ids, kind="stable")
            values.append(obs["_value"].to_numpy()[order])
            gid = gid.reshape(n_options, len(frame)).T + n_groups
            sizes.append(np.bincount(ids, minlength=int(ids.max(initial=-1)) + 1))
            n_groups += len(sizes[-1])
            fill = (self.gid < 0) & ~np.isnan(gid)
            self.gid[fill] = gid[fill].astype(np.int64)
        self.values = np.concatenate(values)
        self.sizes = np.concatenate(sizes).astype(np.int64)
        self.starts = np.r_[0, np.cumsum(self.sizes)[:-1]].astype(np.int64)

    def draw(self, rows: np.ndarray, option: np.ndarray, u: np.ndarray) -> np.ndarray:
        """One value per lane from the pool of ``(row, option)``, chosen by the uniform ``u``."""
        g = self.gid[np.maximum(rows, 0), np.clip(option, 0, self.n_options - 1)]
        ok = g >= 0
        g = np.where(ok, g, 0)
        if not len(self.values):
            return np.full(rows.shape, np.nan)
        idx = self.starts[g] + np.minimum((u * self.sizes[g]).astype(np.int64), self.sizes[g] - 1)
        return np.where(ok, self.values[np.clip(idx, 0, len(self.values) - 1)], np.nan)


class _Task:
    """What the table says about the task: observed choices and outcomes, schedule, pools."""

    def __init__(self, model: CognitiveModel, table: pd.DataFrame, grid: _Grid) -> None:
        self.model, self.grid = model, grid
        n = model.n_actions
        self.two_step = len(model.choice_columns) > 1
        if self.two_step and (tuple(model.choice_columns) != ("choice", "choice2")
                              or "state2" not in model.observation_columns):
            raise ValueError(
                f"replay handles one-stage models and two-step models (choice_columns ('choice', 'choice2') "
                f"reading 'state2'); model {model.name!r} has choice_columns {list(model.choice_columns)}"
            )
        self.choices = [grid.numeric(c) for c in model.choice_columns]
        answered = np.ones(grid.rows.shape, dtype=bool)
        for c in self.choices:
            answered &= ~np.isnan(c)
        self.answered = answered & (grid.rows >= 0)
        self.reward = grid.numeric("reward")
        row_choice = [pd.to_numeric(table[c], errors="coerce").to_numpy(np.float64, na_value=np.nan)
                      for c in model.choice_columns]
        row_answered = np.logical_and.reduce([~np.isnan(c) for c in row_choice])
        row_reward = pd.to_numeric(table["reward"], errors="coerce").to_numpy(np.float64, na_value=np.nan)
        row_reward = np.where(row_answered, row_reward, np.nan)
        answered_rewards = row_reward[np.isfinite(row_reward)]
        self.binary = bool(np.isin(answered_rewards, (0.0, 1.0)).all())
        context = [c for c in ("subject", "session", "block", "state") if c in table.columns]
        frame = table[context].reset_index(drop=True)
        if self.two_step:
            self._two_step_setup(table, grid, row_choice, row_answered, row_reward, frame)
            return
        self.means = None
        means = [f"mean_{a}" for a in range(n)]
        if all(c in table.columns for c in means):
            self.means = np.stack([grid.numeric(c) for c in means], axis=-1)  # (T, S, n)
            if not self.binary:
                chosen = table[means].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
                idx = np.nan_to_num(row_choice[0]).astype(np.int64).clip(0, n - 1)
                resid = row_reward - chosen[np.arange(len(table)), idx]
                self.residuals = _Pools(frame.assign(_option=0.0), resid, 1, [(["subject"], False), ([], False)])
        self.unchosen = None
        if "unchosen" in table.columns and "reward_unchosen" in table.columns:
            self.unchosen = grid.numeric("unchosen"), grid.numeric("reward_unchosen")
        self.correct_action = grid.numeric("correct_action") if "correct_action" in table.columns else None
        if self.correct_action is not None:
            ca = pd.to_numeric(table["correct_action"], errors="coerce").to_numpy(np.float64, na_value=np.nan)
            option = np.where(row_answered & ~np.isnan(ca), (row_choice[0] == ca).astype(float), np.nan)
            keys, n_opt = [c for c in context if c != "state"], 2
        else:
            option, keys, n_opt = np.where(row_answered, row_choice[0], np.nan), context, n
        self.pools = _Pools(frame.assign(_option=option), row_reward, n_opt, _levels(keys))

    def _two_step_setup(self, table, grid, row_choice, row_answered, row_reward, frame) -> None:
        n = self.model.n_actions
        self.state2 = grid.numeric("state2")
        s2_rows = pd.to_numeric(table["state2"], errors="coerce").to_numpy(np.float64, na_value=np.nan)
        ok = row_answered & ~np.isnan(s2_rows)
        counts = np.zeros((n, n))
        np.add.at(counts, (row_choice[0][ok].astype(np.int64), s2_rows[ok].astype(np.int64)), 1.0)
        if (counts.sum(axis=1) == 0).any():
            never = np.flatnonzero(counts.sum(axis=1) == 0).tolist()
            raise ValueError(f"replay: no answered trial has first-stage choice {never}, so its transition "
                             "probabilities P(state2 | choice) cannot be estimated from the table")
        self.transition = counts / counts.sum(axis=1, keepdims=True)  # P(state2 | choice)
        self.common_state = self.transition.argmax(axis=1)
        cols = [f"p_reward_{s}{a}" for s in range(n) for a in range(n)]
        if not all(c in table.columns for c in cols) and all(c in table.columns for c in _HBAYESDM_TWO_STEP):
            cols = list(_HBAYESDM_TWO_STEP)
        self.p_reward = (np.stack([grid.numeric(c) for c in cols], axis=-1)
                         if all(c in table.columns for c in cols) else None)
        option = np.where(ok, s2_rows * n + row_choice[1], np.nan)
        keys = [c for c in ("subject", "session") if c in frame.columns]
        self.pools = _Pools(frame.assign(_option=option), row_reward, n * n, _levels(keys))

    # -- one-stage outcomes ------------------------------------------------------------------
    def outcome(self, t, subj, rows, action, u, u_extra) -> tuple[np.ndarray, np.ndarray]:
        observed = self.choices[0][t, subj] == action
        reward = np.where(observed, self.reward[t, subj], np.nan)
        source = np.where(observed, 0, 3).astype(np.int8)
        todo = ~observed
        if self.unchosen is not None and todo.any():
            unchosen, r_unchosen = self.unchosen
            hit = todo & (unchosen[t, subj] == action) & ~np.isnan(r_unchosen[t, subj])
            reward = np.where(hit, r_unchosen[t, subj], reward)
            source[hit] = 1
            todo &= ~hit
        if self.means is not None and todo.any():
            mean = pick(self.means[t, subj], action)
            ok = todo & ~np.isnan(mean)
            if self.binary:
                drawn = (u < np.clip(mean, 0.0, 1.0)).astype(np.float64)
            else:
                drawn = mean + np.nan_to_num(self.residuals.draw(rows, np.zeros_like(action), u_extra))
            reward = np.where(ok, drawn, reward)
            source[ok] = 2
            todo &= ~ok
        if todo.any():
            if self.correct_action is not None:
                option = (action == self.correct_action[t, subj]).astype(np.int64)
            else:
                option = action
            reward = np.where(todo, self.pools.draw(rows, option, u), reward)
        return reward, source

    # -- two-step ----------------------------------------------------------------------------
    def second_state(self, t, subj, a1, u) -> np.ndarray:
        same = self.choices[0][t, subj] == a1
        cdf = self.transition.cumsum(axis=1)[a1]
        drawn = np.minimum((cdf <= u[:, None]).sum(axis=1), self.transition.shape[1] - 1)
        return np.where(same, np.nan_to_num(self.state2[t, subj]), drawn).astype(np.int64)

    def two_step_outcome(self, t, subj, rows, a1, s2, a2, u) -> tuple[np.ndarray, np.ndarray]:
        n = self.model.n_actions
        observed = (self.choices[0][t, subj] == a1) & (self.state2[t, subj] == s2) & (self.choices[1][t, subj] == a2)
        reward = np.where(observed, self.reward[t, subj], np.nan)
        source = np.where(observed, 0, 3).astype(np.int8)
        todo = ~observed
        option = s2 * n + a2
        if self.p_reward is not None:
            p = pick(self.p_reward[t, subj], option)
            ok = todo & ~np.isnan(p)
            reward = np.where(ok, (u < p).astype(np.float64), reward)
            source[ok] = 2
            todo &= ~ok
        if todo.any():
            reward = np.where(todo, self.pools.draw(rows, option, u), reward)
        return reward, source


def _levels(keys: list[str]) -> list[tuple[list[str], bool]]:
    """Return the context levels for :class:`_Pools`, narrowest first.

    The levels are the full context, the subject and everyone, each by option, and finally every
    observed outcome whatever the option.
    """
    levels = [(keys, True)]
    if keys != ["subject"] and "subject" in keys:
        levels.append((["subject"], True))
    return [*levels, ([], True), ([], False)]


def _actions(values: np.ndarray) -> np.ndarray | pd.arrays.IntegerArray:
    """Return action indices as int64, or nullable Int64 where some are missing (schema dtypes)."""
    missing = np.isnan(values)
    if not missing.any():
        return values.astype(np.int64)
    return pd.array(values, dtype="Float64").astype("Int64")  # NaN -> <NA>


def _table(model, task, grid, subjects, n_sims, choice, reward, source, state2, lat) -> pd.DataFrame:
    table = grid.table
    keep = [c for c in table.columns
            if c in _TASK_COLUMNS or _SCHEDULE_PATTERN.fullmatch(str(c))
            or (c in model.observation_columns and c != "state2")]
    base = table[keep].reset_index(drop=True)
    n_rows = len(base)
    rep = np.tile(np.arange(n_rows), n_sims)
    sim = np.repeat(np.arange(n_sims), n_rows)
    codes = grid.codes[rep]
    t, lane = grid.pos[rep], codes * n_sims + sim
    out = base.iloc[rep].reset_index(drop=True)
    out.insert(1, "sim", sim)
    answered = task.answered[t, codes]
    names = list(model.choice_columns)
    for j, name in enumerate(names):
        out[name] = _actions(np.where(answered, choice[j, t, lane], np.nan))
    if state2 is not None:
        s2 = np.where(answered, state2[t, lane], np.nan)
        out["state2"] = _actions(s2)
        c1 = choice[0, t, lane]
        dest = task.common_state[np.nan_to_num(c1).astype(np.int64)]
        out["common"] = pd.array(np.where(answered, s2 == dest, pd.NA), dtype="boolean")
    observed_reward = pd.to_numeric(table["reward"], errors="coerce").to_numpy(np.float64, na_value=np.nan)[rep]
    out["reward"] = np.where(answered, reward[t, lane], observed_reward)
    if "correct_action" in out.columns:
        ca = pd.to_numeric(out["correct_action"], errors="coerce").to_numpy(np.float64, na_value=np.nan)
        out["correct"] = np.where(answered, (choice[0, t, lane] == ca).astype(float), np.nan)
    src = source[t, lane]
    out["reward_source"] = pd.Categorical.from_codes(np.where(answered, src, -1), categories=list(REWARD_SOURCES))
    for k, v in lat.items():
        out[k] = v[t, lane]
    out = out.iloc[np.lexsort((grid.pos[rep], sim, codes))].reset_index(drop=True)
    counts = out["reward_source"].value_counts().reindex(list(REWARD_SOURCES), fill_value=0)
    out.attrs["replay"] = {"outcomes": REPLAY_OUTCOMES, "reward_sources": {k: int(v) for k, v in counts.items()},
                           "n_sims": int(n_sims), "model": model.name}
    return out
