"""Behavioural signatures: the curves that summarise choices in a trial table.

Each signature is a function of a trial table returning a tidy DataFrame, computed the same way
on real and on simulated data, so that a model can be checked against behaviour
(:mod:`cogmodels.fits.ppc`) and tasks can be described without a model:

- :func:`learning_curve`: P(best choice) by trial;
- :func:`reversal_curve`: P(choosing the pre-reversal correct option) around reversals
  (e.g. Cools et al. 2002, J Neurosci 22, 4563-4567);
- :func:`stay_probabilities`: two-step P(repeat the first-stage choice) by the previous
  reward × transition (Daw et al. 2011, Neuron 69, 1204-1215), with :func:`stay_effects`,
  :func:`stay_effects_by_subject` and the logistic :func:`stay_regression`
  (Miller, Botvinick & Brody 2017; Wang et al. 2018, Nat Neurosci 21, 860-868);
- :func:`setsize_curves`: RLWM accuracy by set size × stimulus iteration (Collins & Frank 2012,
  Eur J Neurosci 35, 1024-1035);
- :func:`stay_by_reward`: P(repeat the previous choice) after reward and after no reward
  (win-stay / lose-shift) in one-stage tasks;
- :func:`quantile_probability`: RT quantiles of each response against its probability, per
  condition (the quantile-probability plot of Ratcliff & McKoon 2008, Neural Comput 20,
  873-922), for models of choices and RTs.

:data:`CURVES` catalogues them for plotting (x, y and hue columns, y label) and
:func:`signature_kinds` names those that fit a model and its task.

Every curve first averages within subject (over trials, reversals and simulations of that
subject), then across subjects: the value is the mean of the subject means, ``sem`` their
standard error (``std(ddof=1) / sqrt(n)``, NaN with one subject) and ``n`` the number of
subjects (:func:`stay_probabilities` can pool all trials instead: ``pooled=True``). Trials
with a missing choice count as presented but are left out of the averages.
Sequences (for lags, previous trials and presentation counts) are the rows of one ``subject``
(and ``sim``, ``session`` where present), in ``trial`` order.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from cogmodels.model import CognitiveModel
from cogmodels.validation import check_bool

__all__ = [
    "CURVES",
    "STAY_TERMS",
    "learning_curve",
    "quantile_probability",
    "reversal_curve",
    "setsize_curves",
    "signature_kinds",
    "stay_by_reward",
    "stay_effects",
    "stay_effects_by_subject",
    "stay_probabilities",
    "stay_regression",
]


# -- helpers -----------------------------------------------------------------------------------
def _require(trials: Any, columns: list[str], fn: str, hint: str = "") -> pd.DataFrame:
    if not isinstance(trials, pd.DataFrame):
        raise TypeError(f"{fn}: trials must be a pandas DataFrame (a trial table), got {type(trials).__name__}")
    missing = [c for c in columns if c not in trials.columns]
    if missing:
        raise ValueError(
            f"{fn} needs columns {columns}; missing {missing} (columns present: {list(trials.columns)})"
            + (f". {hint}" if hint else "")
        )
    if trials.empty:
        raise ValueError(f"{fn}: trials is empty")
    return trials


def _num(df: pd.DataFrame, col: str) -> np.ndarray:
    return pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _seq_keys(df: pd.DataFrame) -> list[str]:
    return [c for c in ("subject", "sim", "session") if c in df.columns]


def _ordered(df: pd.DataFrame) -> pd.DataFrame:
    """Rows grouped by sequence, in trial order (stable: ties keep the table's order)."""
    keys = _seq_keys(df) + (["trial"] if "trial" in df.columns else [])
    return df.sort_values(keys, kind="stable").reset_index(drop=True)


def _sequence_id(df: pd.DataFrame) -> np.ndarray:
    return df.groupby(_seq_keys(df), sort=False).ngroup().to_numpy()


def _summarise(df: pd.DataFrame, keys: list[str], value: str, *, pooled: bool = False) -> pd.DataFrame:
    """Mean within subject, then mean, SEM and count across subjects, by ``keys``.

    ``pooled=True`` skips the subject level: the mean over all rows of a cell, the binomial
    standard error ``sqrt(p (1 - p) / n)`` (``value`` is 0/1) and ``n`` the number of rows.
    """
    df = df.dropna(subset=[value])
    if pooled:
        g = df.groupby(keys, observed=True, sort=True)[value]
        p, n = g.mean(), g.size()
        return pd.DataFrame({value: p, "sem": np.sqrt(p * (1.0 - p) / n), "n": n}).reset_index()
    per_subject = df.groupby(["subject", *keys], observed=True, sort=True)[value].mean()
    g = per_subject.groupby(level=list(range(1, len(keys) + 1)), observed=True, sort=True)
    out = pd.DataFrame({value: g.mean(), "sem": g.std(ddof=1) / np.sqrt(g.size()), "n": g.size()})
    return out.reset_index()


def _best_arm_by_reward(choice: np.ndarray, reward: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Per group, the chosen arm with the highest mean observed reward (ties: lowest index)."""
    ok = ~np.isnan(choice)
    tab = pd.DataFrame({"g": group[ok], "a": choice[ok].astype(np.int64), "r": reward[ok]})
    rates = tab.groupby(["g", "a"])["r"].mean().unstack("a")
    best = rates.idxmax(axis=1)  # first maximum: the lowest arm index among ties
    return pd.Series(group).map(best).to_numpy(dtype=np.float64)


def _correct(df: pd.DataFrame) -> np.ndarray:
    """1.0 for a best choice, 0.0 otherwise, NaN for a missing choice (see :func:`learning_curve`)."""
    choice = _num(df, "choice")
    miss = np.isnan(choice)
    if "correct" in df.columns:
        out = _num(df, "correct")
    elif "correct_action" in df.columns:
        out = (choice == _num(df, "correct_action")).astype(float)
    else:
        means = sorted((c for c in df.columns if re.fullmatch(r"mean_\d+", str(c))), key=lambda c: int(c[5:]))
        if means:
            m = df[means].to_numpy(dtype=np.float64)
            idx = np.where(miss, 0, choice).astype(np.int64)
            if idx.max(initial=0) >= m.shape[1]:
                raise ValueError(f"learning_curve: a choice exceeds the arms of the columns {means}")
            chosen = m[np.arange(len(df)), idx]
            out = (chosen >= m.max(axis=1) - 1e-12).astype(float)
        elif "reward" in df.columns:
            grp = df[_seq_keys(df) + (["block"] if "block" in df.columns else [])]
            gid = grp.groupby(list(grp.columns), sort=False).ngroup().to_numpy()
            out = (choice == _best_arm_by_reward(choice, _num(df, "reward"), gid)).astype(float)
        else:
            raise ValueError(
                "learning_curve needs one of the columns 'correct', 'correct_action', 'mean_<arm>' or "
                f"'reward' to define the best choice (columns present: {list(df.columns)})"
            )
    out = np.where(miss, np.nan, out)
    return out


# -- signature curves ------------------------------------------------------------------------------
def learning_curve(trials: pd.DataFrame, *, bin_size: int = 1) -> pd.DataFrame:
    """P(best choice) by trial: columns ``trial``, ``p_correct``, ``sem``, ``n``.

    The best choice is, in order of preference: the ``correct`` column (1/0) when present;
    ``choice == correct_action``; the arm with the highest true mean (``mean_0``, ``mean_1``,
    ... columns of the bandits; ties all count as best); else the arm with the highest observed
    mean reward in the subject's session (block when there is a ``block`` column), a post-hoc
    definition that flatters early trials. ``bin_size > 1`` pools trials into bins labelled by
    their first trial (``trial // bin_size * bin_size``).
    """
    df = _ordered(_require(trials, ["subject", "trial", "choice"], "learning_curve"))
    if isinstance(bin_size, bool) or not isinstance(bin_size, int | np.integer) or bin_size < 1:
        raise ValueError(f"bin_size must be an integer >= 1, got {bin_size!r}")
    tab = pd.DataFrame({
        "subject": df["subject"].to_numpy(),
        "trial": df["trial"].to_numpy() // bin_size * bin_size,
        "p_correct": _correct(df),
    })
    return _summarise(tab, ["trial"], "p_correct")


def reversal_curve(trials: pd.DataFrame, window: tuple[int, int] = (-5, 15)) -> pd.DataFrame:
    """P(choosing the pre-reversal correct option) around reversals: ``lag``, ``p_pre``, ``sem``, ``n``.

    A reversal is a row with ``reversal`` True (the first trial of the new contingency, as in
    ``cogmodels/ReversalLearning-v0``) or, without that column, a row whose ``block`` differs
    from the previous row's. Lag 0 is that trial; lags run from ``window[0]`` to ``window[1]``
    inclusive and stop at the neighbouring reversals (a trial counts only for the reversals on
    either side of it), so a curve never mixes contingencies. The pre-reversal correct option is
    ``correct_action`` on the trial before the reversal, else the option with the highest
    observed mean reward since the previous reversal.
    """
    df = _require(trials, ["subject", "choice"], "reversal_curve")
    if "reversal" not in df.columns and "block" not in df.columns:
        raise ValueError(
            "reversal_curve needs a 'reversal' (True on the first trial after a reversal) or a 'block' "
            f"column to find the reversals (columns present: {list(df.columns)})"
        )
    try:
        lo, hi = (int(w) for w in window)
    except (TypeError, ValueError):
        raise ValueError(f"window must be a pair of integers (first lag, last lag), got {window!r}") from None
    if lo > hi:
        raise ValueError(f"window must have first lag <= last lag, got {window!r}")
    df = _ordered(df)
    choice = _num(df, "choice")
    has_correct = "correct_action" in df.columns
    correct = _num(df, "correct_action") if has_correct else None
    reward = _num(df, "reward") if "reward" in df.columns else None
    if not has_correct and reward is None:
        raise ValueError("reversal_curve needs 'correct_action' or 'reward' to find the pre-reversal correct option")
    seq = _sequence_id(df)
    if "reversal" in df.columns:
        rev = df["reversal"].fillna(False).to_numpy(dtype=bool).copy()
    else:
        block = df["block"].to_numpy()
        rev = np.r_[False, block[1:] != block[:-1]]
    first = np.r_[True, seq[1:] != seq[:-1]]
    rev = rev & ~first
    lags = np.arange(lo, hi + 1)
    rows = []
    subjects = df["subject"].to_numpy()
    starts = np.flatnonzero(first)
    ends = np.r_[starts[1:], len(df)]
    for s0, s1 in zip(starts, ends):
        r = s0 + np.flatnonzero(rev[s0:s1])
        bounds = np.r_[s0, r, s1]
        for k, rk in enumerate(r):
            seg0, seg1 = bounds[k], bounds[k + 2]
            if has_correct:
                pre = correct[rk - 1]
            else:
                c, w = choice[seg0:rk], reward[seg0:rk]
                ok = ~np.isnan(c)
                if not ok.any():
                    continue
                rates = pd.Series(w[ok]).groupby(c[ok].astype(np.int64)).mean()
                pre = float(rates.idxmax())
            pos = rk + lags
            inside = (pos >= seg0) & (pos < seg1)
            val = np.where(np.isnan(choice[pos[inside]]), np.nan, (choice[pos[inside]] == pre).astype(float))
            rows.append(pd.DataFrame({"subject": subjects[rk], "lag": lags[inside], "p_pre": val}))
    if not rows:
        return pd.DataFrame({"lag": pd.Series(dtype=np.int64), "p_pre": pd.Series(dtype=float),
                             "sem": pd.Series(dtype=float), "n": pd.Series(dtype=np.int64)})
    return _summarise(pd.concat(rows, ignore_index=True), ["lag"], "p_pre")


_REWARD_LEVELS = ["rewarded", "unrewarded"]
_TRANSITION_LEVELS = ["common", "rare"]


def _previous_trials(trials: pd.DataFrame, fn: str) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Return the two-step table in trial order and the previous-trial arrays.

    For every trial with a valid previous trial of the same sequence: ``row`` (its index),
    ``stay``, ``rewarded`` and ``common`` (of the previous trial).
    """
    df = _require(trials, ["subject", "choice", "reward"], fn)
    if "common" not in df.columns and "state2" not in df.columns:
        raise ValueError(
            f"{fn} needs a 'common' (bool) or a 'state2' column for the transition type "
            f"(columns present: {list(df.columns)})"
        )
    df = _ordered(df)
    choice = _num(df, "choice")
    common = _num(df, "common") if "common" in df.columns else (_num(df, "state2") == choice).astype(float)
    common = np.where(np.isnan(choice) & ("common" not in df.columns), np.nan, common)
    reward = _num(df, "reward")
    seq = _sequence_id(df)
    first = np.r_[True, seq[1:] != seq[:-1]]
    prev = lambda a: np.r_[np.nan, a[:-1]]  # noqa: E731
    p_choice, p_common, p_reward = prev(choice), prev(common), prev(reward)
    ok = ~first & ~np.isnan(choice) & ~np.isnan(p_choice) & ~np.isnan(p_common) & ~np.isnan(p_reward)
    row = np.flatnonzero(ok)
    return df, {
        "row": row,
        "stay": (choice[ok] == p_choice[ok]).astype(float),
        "rewarded": p_reward[ok] > 0,
        "common": p_common[ok] > 0,
    }


def stay_probabilities(trials: pd.DataFrame, *, pooled: bool = False) -> pd.DataFrame:
    r"""Two-step stay probabilities (Daw et al. 2011, Neuron, Fig. 2).

    P(repeat the previous first-stage ``choice``) by the previous trial's outcome
    (``rewarded`` when ``reward > 0``) and transition (``common`` column when present, else
    ``state2 == choice``: second-stage state ``i`` is the common destination of action ``i``).
    Model-free learners show a main effect of reward; model-based ones a reward × transition
    interaction (see :func:`stay_effects`, and :func:`stay_regression` for tasks where a
    model-free learner mimics it).

    Parameters
    ----------
    trials : pandas.DataFrame
        A two-step trial table: ``subject``, ``choice``, ``reward`` and ``common`` or ``state2``.
    pooled : bool
        How subjects are combined in each cell ``c``. ``False`` (the default, as every curve of
        this module): the mean of the subject means,

        .. math:: \hat p_c = \frac{1}{S_c} \sum_s \frac{k_{sc}}{n_{sc}}, \qquad
                  \mathrm{sem} = \frac{\mathrm{sd}_s(k_{sc}/n_{sc})}{\sqrt{S_c}},

        with ``k_sc`` the stays among the ``n_sc`` trials of subject ``s`` in cell ``c`` and
        ``S_c`` the subjects with at least one such trial: every subject weighs the same, as in
        the group figures of Daw et al. (2011). ``True``: all trials pooled,
        ``p_c = sum_s k_sc / sum_s n_sc`` with the binomial ``sem = sqrt(p (1 - p) / n)``: every
        trial weighs the same (subjects with more trials in a cell count more), the estimate for
        a single long sequence or a simulation whose subjects are exchangeable.

    Returns
    -------
    pandas.DataFrame
        Columns ``previous_reward``, ``previous_transition``, ``p_stay``, ``sem``, ``n`` (the
        number of subjects, or of trials when ``pooled``); one row per cell in the order
        rewarded/common, rewarded/rare, unrewarded/common, unrewarded/rare.
    """
    pooled = check_bool("pooled", pooled)
    df, p = _previous_trials(trials, "stay_probabilities")
    tab = pd.DataFrame({
        "subject": df["subject"].to_numpy()[p["row"]],
        "previous_reward": pd.Categorical(np.where(p["rewarded"], "rewarded", "unrewarded"),
                                          categories=_REWARD_LEVELS),
        "previous_transition": pd.Categorical(np.where(p["common"], "common", "rare"),
                                              categories=_TRANSITION_LEVELS),
        "p_stay": p["stay"],
    })
    out = _summarise(tab, ["previous_reward", "previous_transition"], "p_stay", pooled=pooled)
    full = pd.MultiIndex.from_product([_REWARD_LEVELS, _TRANSITION_LEVELS],
                                      names=["previous_reward", "previous_transition"])
    out = out.set_index(["previous_reward", "previous_transition"]).reindex(full).reset_index()
    out["n"] = out["n"].fillna(0).astype(np.int64)
    for c in ("previous_reward", "previous_transition"):
        out[c] = out[c].astype(str)
    return out


_P_REWARD = [f"p_reward_{s}{a}" for s in (0, 1) for a in (0, 1)]
STAY_TERMS = ("intercept", "correct", "reward", "transition", "reward:transition")


def stay_regression(
    trials: pd.DataFrame,
    *,
    correct: bool | None = None,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Logistic regression of repeating the first-stage choice on the previous trial.

        logit P(stay_t) = b0 + b_c·C + b_r·R + b_t·T + b_rt·R·T

    with ``R = ±1`` (previous trial rewarded or not), ``T = ±1`` (its transition common or rare)
    and ``C = ±1`` whether the previous first-stage choice leads commonly to the second-stage
    state that was better on that trial (0 on ties), from the ``p_reward_SA`` columns the
    environments record. ``b_rt`` is the model-based index (Daw et al. 2011, Neuron), ``b_r`` the
    model-free one. Without ``C`` a model-free learner on a task whose good state persists
    (reversal schedules) shows a spurious ``b_rt > 0``: the rewarded-rare trials are mostly those
    on which it chose its worse option; ``C`` absorbs that (Akam, Costa & Dayan 2015, PLoS Comput
    Biol). ``correct=None`` includes ``C`` when the ``p_reward_SA`` columns are present.

    The fit pools all subjects (maximum likelihood by Newton's method on the counts of the 12
    predictor cells); confidence intervals are percentile intervals at ``level`` over ``n_boot``
    bootstrap resamples of subjects (sessions). Returns a DataFrame indexed by term
    (:data:`STAY_TERMS`, ``correct`` only when used) with ``coef``, ``ci_low``, ``ci_high``;
    ``.attrs`` holds ``n_trials`` and ``n_subjects``.
    """
    if not (isinstance(level, float) and 0.0 < level < 1.0):
        raise ValueError(f"level must be a float in (0, 1), got {level!r}")
    if isinstance(n_boot, bool) or not isinstance(n_boot, int | np.integer) or n_boot < 0:
        raise ValueError(f"n_boot must be an integer >= 0, got {n_boot!r}")
    if correct not in (None, True, False):
        raise ValueError(f"correct must be None, True or False, got {correct!r}")
    df, p = _previous_trials(trials, "stay_regression")
    has_p = all(c in df.columns for c in _P_REWARD)
    use_c = has_p if correct is None else correct
    if use_c and not has_p:
        raise ValueError(f"stay_regression(correct=True) needs the columns {_P_REWARD} "
                         f"(columns present: {list(df.columns)})")
    r = np.where(p["rewarded"], 1, -1)
    t = np.where(p["common"], 1, -1)
    prev_choice = _num(df, "choice")[p["row"] - 1]
    if not np.isin(prev_choice, (0.0, 1.0)).all():
        raise ValueError(
            "stay_regression needs first-stage choices coded 0 and 1 (action i leads commonly to "
            f"state i), got {np.unique(prev_choice)[:10].tolist()} in column 'choice'"
        )
    if use_c:
        prev_p = df[_P_REWARD].to_numpy(dtype=float)[p["row"] - 1]
        bad = np.isnan(prev_p).any(axis=1)
        if bad.any():
            raise ValueError(
                f"stay_regression: the columns {_P_REWARD} are missing (NaN) on {int(bad.sum())} "
                f"trials followed by a scored trial (rows {(p['row'] - 1)[bad][:5].tolist()} of the "
                "ordered table, ...); fill them or pass correct=False"
            )
        value = prev_p.reshape(-1, 2, 2).max(axis=2)
        choice = prev_choice.astype(np.int64)
        lanes = np.arange(choice.size)
        c = np.sign(value[lanes, choice] - value[lanes, 1 - choice])
    else:
        c = np.zeros_like(r)
    cell = ((c + 1) * 4 + (r + 1) + (t + 1) // 2).astype(np.int64)  # 12 cells: 3 levels of C x 2 of R x 2 of T
    subjects, s_idx = np.unique(df["subject"].to_numpy()[p["row"]], return_inverse=True)
    n_sub = subjects.size
    counts = np.zeros((n_sub, 12))
    stays = np.zeros((n_sub, 12))
    np.add.at(counts, (s_idx, cell), 1.0)
    np.add.at(stays, (s_idx, cell), p["stay"])
    levels = np.array([(ci, ri, ti) for ci in (-1, 0, 1) for ri in (-1, 1) for ti in (-1, 1)], float)
    X = np.column_stack([np.ones(12), levels[:, 0], levels[:, 1], levels[:, 2], levels[:, 1] * levels[:, 2]])
    terms = list(STAY_TERMS)
    if not use_c:
        X, terms = np.delete(X, 1, axis=1), [k for k in terms if k != "correct"]
    coef = _logistic_counts(X, stays.sum(0), counts.sum(0))
    out = pd.DataFrame({"coef": coef}, index=pd.Index(terms, name="term"))
    if n_boot:
        rng = np.random.default_rng(seed)
        w = rng.multinomial(n_sub, np.full(n_sub, 1.0 / n_sub), size=n_boot).astype(float)
        boots = np.array([_logistic_counts(X, wi @ stays, wi @ counts) for wi in w])
        lo, hi = np.nanpercentile(boots, [50 * (1 - level), 50 * (1 + level)], axis=0)
        out["ci_low"], out["ci_high"] = lo, hi
    out.attrs.update(n_trials=int(counts.sum()), n_subjects=int(n_sub))
    return out


def _logistic_counts(X: np.ndarray, y: np.ndarray, n: np.ndarray, max_iter: int = 100) -> np.ndarray:
    """Fit a maximum-likelihood logistic regression on binomial counts by Newton's method.

    ``y`` successes of ``n`` per row of ``X``; empty rows are dropped. A tiny ridge (1e-8) keeps
    the Hessian invertible; with complete separation the coefficients stop growing at
    ``max_iter``.
    """
    keep = n > 0
    X, y, n = X[keep], y[keep], n[keep]
    beta = np.zeros(X.shape[1])
    for _ in range(max_iter):
        eta = X @ beta
        mu = 1.0 / (1.0 + np.exp(-eta))
        grad = X.T @ (y - n * mu) - 1e-8 * beta
        hess = (X * (n * mu * (1 - mu))[:, None]).T @ X + 1e-8 * np.eye(X.shape[1])
        step = np.linalg.solve(hess, grad)
        beta = beta + step
        if np.max(np.abs(step)) < 1e-10:
            break
    return beta


def stay_effects(stay: pd.DataFrame) -> pd.Series:
    """Return the main effects and interaction of a :func:`stay_probabilities` table.

    They are differences of P(stay):

    ``reward = (rc + rr - uc - ur) / 2``, ``transition = (rc + uc - rr - ur) / 2``,
    ``interaction = (rc - rr) - (uc - ur)`` with ``r``/``u`` rewarded/unrewarded and
    ``c``/``r`` common/rare. Model-free: ``reward > 0``, ``interaction ≈ 0``; model-based:
    ``interaction > 0`` (Daw et al. 2011).
    """
    _require(stay, ["previous_reward", "previous_transition", "p_stay"], "stay_effects")
    p = stay.set_index(["previous_reward", "previous_transition"])["p_stay"]
    try:
        rc, rr = p[("rewarded", "common")], p[("rewarded", "rare")]
        uc, ur = p[("unrewarded", "common")], p[("unrewarded", "rare")]
    except KeyError as err:
        raise ValueError(f"stay_effects: the stay table lacks the cell {err}; pass stay_probabilities(...)") from None
    return pd.Series({
        "reward": (rc + rr - uc - ur) / 2,
        "transition": (rc + uc - rr - ur) / 2,
        "interaction": (rc - rr) - (uc - ur),
    }, name="effect")


def stay_effects_by_subject(trials: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Return :func:`stay_effects` of each subject, and their mean with a confidence interval.

    Each subject (or simulated session) gives one row; the mean is across subjects.

    Returns one row per subject (its sessions pooled; ``subject``, ``reward``, ``transition``,
    ``interaction``) with the summary in ``.attrs["summary"]``: a DataFrame indexed by effect with
    ``mean``, ``sem``, ``ci_low``, ``ci_high`` (Student-t interval at ``level``, n − 1 degrees of
    freedom) and ``n`` (subjects with all four cells observed; the others have NaN effects). The
    interaction is the raw model-based signature of Daw et al. (2011) in probability units: > 0
    for a model-based learner, 0 for a model-free one on the drifting task; on tasks whose good
    state persists a model-free learner shows one too (see :func:`stay_regression`).
    """
    from scipy.stats import t as student_t

    if not (isinstance(level, float) and 0.0 < level < 1.0):
        raise ValueError(f"level must be a float in (0, 1), got {level!r}")
    df = _require(trials, ["subject", "choice", "reward"], "stay_effects_by_subject")
    rows = []
    for subject, g in df.groupby("subject", sort=True):
        rows.append({"subject": subject, **stay_effects(stay_probabilities(g)).to_dict()})
    out = pd.DataFrame(rows, columns=["subject", "reward", "transition", "interaction"])
    eff = out[["reward", "transition", "interaction"]]
    n = eff.notna().sum()
    sem = eff.std(ddof=1) / np.sqrt(n)
    q = student_t.ppf(0.5 + level / 2, np.maximum(n - 1, 1))
    out.attrs["summary"] = pd.DataFrame({
        "mean": eff.mean(), "sem": sem, "ci_low": eff.mean() - q * sem,
        "ci_high": eff.mean() + q * sem, "n": n,
    })
    return out


def setsize_curves(trials: pd.DataFrame) -> pd.DataFrame:
    """RLWM accuracy by set size × stimulus iteration (Collins & Frank 2012, Fig. 2).

    Columns ``set_size``, ``iteration``, ``p_correct``, ``sem``, ``n``. Correct is the
    ``correct`` column when present, else ``reward > 0``. ``iteration`` is taken from the table
    when present, else counted as the 1-based presentation number of the stimulus (``state``)
    within its ``block`` (missing responses count as presentations).
    """
    need = ["subject", "set_size", "state", "block", "choice"]
    df = _require(trials, need, "setsize_curves")
    if "correct" not in df.columns and "reward" not in df.columns:
        raise ValueError(f"setsize_curves needs a 'correct' or 'reward' column (columns present: {list(df.columns)})")
    df = _ordered(df)
    if "iteration" in df.columns:
        iteration = df["iteration"].to_numpy()
    else:
        iteration = df.groupby(_seq_keys(df) + ["block", "state"], sort=False).cumcount().to_numpy() + 1
    acc = _num(df, "correct") if "correct" in df.columns else (_num(df, "reward") > 0).astype(float)
    acc = np.where(np.isnan(_num(df, "choice")), np.nan, acc)
    tab = pd.DataFrame({
        "subject": df["subject"].to_numpy(),
        "set_size": df["set_size"].to_numpy(),
        "iteration": iteration,
        "p_correct": acc,
    })
    return _summarise(tab, ["set_size", "iteration"], "p_correct")


def stay_by_reward(trials: pd.DataFrame) -> pd.DataFrame:
    """P(repeat the previous choice) after a rewarded and after an unrewarded trial.

    The win-stay / lose-shift signature of one-stage tasks (bandits, reversal learning): a
    reinforcement learner stays more after a reward than after none, by an amount that grows
    with its learning rate and inverse temperature (Wilson & Collins 2019, eLife, tell their
    five bandit models apart with it). Rewarded means ``reward > 0``. A pair of trials counts when both are answered and follow
    each other in one sequence (``subject``, ``sim``, ``session``). Columns
    ``previous_reward`` (``rewarded``, ``unrewarded``), ``p_stay``, ``sem``, ``n``.
    """
    df = _ordered(_require(trials, ["subject", "choice", "reward"], "stay_by_reward"))
    choice, reward = _num(df, "choice"), _num(df, "reward")
    seq = _sequence_id(df)
    first = np.r_[True, seq[1:] != seq[:-1]]
    p_choice, p_reward = np.r_[np.nan, choice[:-1]], np.r_[np.nan, reward[:-1]]
    ok = ~first & ~np.isnan(choice) & ~np.isnan(p_choice) & ~np.isnan(p_reward)
    tab = pd.DataFrame({
        "subject": df["subject"].to_numpy()[ok],
        "previous_reward": pd.Categorical(np.where(p_reward[ok] > 0, "rewarded", "unrewarded"),
                                          categories=_REWARD_LEVELS),
        "p_stay": (choice[ok] == p_choice[ok]).astype(float),
    })
    out = _summarise(tab, ["previous_reward"], "p_stay").set_index("previous_reward")
    out = out.reindex(pd.Index(_REWARD_LEVELS, name="previous_reward")).reset_index()
    out["n"] = out["n"].fillna(0).astype(np.int64)
    out["previous_reward"] = out["previous_reward"].astype(str)
    return out


#: kind -> (curve function, x column, y column, hue column, y label)
CURVES: dict[str, tuple[Any, str, str, str | None, str]] = {
    "learning": (learning_curve, "trial", "p_correct", None, "P(best choice)"),
    "reversal": (reversal_curve, "lag", "p_pre", None, "P(pre-reversal option)"),
    "stay": (stay_probabilities, "previous_reward", "p_stay", "previous_transition", "P(stay)"),
    "setsize": (setsize_curves, "iteration", "p_correct", "set_size", "P(correct)"),
    "winstay": (stay_by_reward, "previous_reward", "p_stay", None, "P(stay)"),
}

#: kinds whose x axis is the categories rewarded / unrewarded
_CATEGORICAL = ("stay", "winstay")


def signature_kinds(model: CognitiveModel, trials: pd.DataFrame) -> list[str]:
    """Return the signature curves (keys of :data:`CURVES`) that fit a model and its task.

    Two-step models (a ``choice2`` stage): ``stay``. Tables with ``set_size`` (RLWM):
    ``setsize``. Tables with a ``reversal`` column: ``learning``, ``reversal``, ``winstay``.
    Otherwise (bandits): ``learning``, ``winstay``.
    """
    if not isinstance(model, CognitiveModel):
        raise TypeError(f"model must be a CognitiveModel, got {type(model).__name__}")
    _require(trials, ["subject", "choice"], "signature_kinds")
    if "choice2" in model.choice_columns:
        return ["stay"]
    if "set_size" in trials.columns:
        return ["setsize"]
    if "reversal" in trials.columns:
        return ["learning", "reversal", "winstay"]
    return ["learning", "winstay"]


def _infer_kind(curve: pd.DataFrame) -> str:
    for kind, (_, x, y, hue, _) in CURVES.items():
        if {x, y} <= set(curve.columns) and (hue is None or hue in curve.columns):
            return kind
    raise ValueError(f"cannot tell the kind of curve from its columns {list(curve.columns)}; pass kind=")


#: RT quantiles of the quantile-probability plot (Ratcliff & McKoon 2008)
QP_QUANTILES: tuple[float, ...] = (0.1, 0.3, 0.5, 0.7, 0.9)


def quantile_probability(
    trials: pd.DataFrame, *, by: str | None = "state", quantiles: tuple[float, ...] = QP_QUANTILES,
) -> pd.DataFrame:
    """Return the RT quantiles of each response against its probability, per condition.

    For each condition (column ``by``; one condition when None) and response ``c``: ``p`` the
    proportion of answered trials with choice ``c`` and the ``quantiles`` of their RTs,
    pooled over subjects (Ratcliff & McKoon 2008, *Neural Computation* 20, 873-922, the
    quantile-probability plot). Trials without a choice or an RT are left out.

    Parameters
    ----------
    trials : pandas.DataFrame
        A trial table with ``choice`` and ``rt`` (and ``by``).
    by : str or None
        The condition column.
    quantiles : tuple of float
        The RT quantiles, each in (0, 1).

    Returns
    -------
    pandas.DataFrame
        One row per condition × response × quantile: ``condition, choice, p, n, quantile, rt``.
    """
    fn = "quantile_probability"
    df = _require(trials, ["choice", "rt"] + ([by] if by else []), fn)
    q = np.asarray(quantiles, dtype=np.float64)
    if q.ndim != 1 or q.size == 0 or ((q <= 0) | (q >= 1)).any():
        raise ValueError(f"{fn}: quantiles must be numbers in (0, 1), got {quantiles!r}")
    choice, rt = _num(df, "choice"), _num(df, "rt")
    keep = np.isfinite(choice) & np.isfinite(rt)
    condition = df[by].to_numpy()[keep] if by else np.zeros(int(keep.sum()))
    choice, rt = choice[keep], rt[keep]
    rows = []
    for level in pd.unique(condition):
        here = condition == level
        for c in np.unique(choice[here]):
            sel = here & (choice == c)
            values = np.quantile(rt[sel], q)
            for qi, v in zip(q, values, strict=True):
                rows.append({"condition": level, "choice": int(c), "p": sel.sum() / here.sum(),
                             "n": int(sel.sum()), "quantile": float(qi), "rt": float(v)})
    return pd.DataFrame(rows, columns=["condition", "choice", "p", "n", "quantile", "rt"])
