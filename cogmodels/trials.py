"""The canonical trial table: one row per trial, validated once at the door.

Every loader, environment recorder and simulation produces this schema (DESIGN.md, "Data"):

=========================  =================================================================
column                     meaning
=========================  =================================================================
``subject``                subject id (any hashable); required
``session``, ``block``     optional grouping; a model resets at a block boundary where the
                           task says so
``trial``                  order within subject (and session): integers strictly increasing
                           in row order; required
``state``                  observation / stimulus id where the task has one
``choice``                 action index, 0-based; a missing response is NaN (kept, and skipped
                           by the likelihood); required
``reward``                 outcome; NaN only where the choice is missing; required
``rt``                     optional reaction time, seconds
``choice2``, ``state2``    two-step task: second-stage choice and state
``set_size``,              RLWM task: stimuli in the block, rewarded action (0-based)
``correct_action``
``option1``, ``option2``   probabilistic selection (hBayesDM ``pst``): the 0-based ids of the
                           two stimuli shown; ``choice`` 0 = option1, 1 = option2
``delay_later``,           delay discounting (hBayesDM ``dd``): delay and amount of the later
``amount_later``,          and the sooner option; ``choice`` 1 = later, 0 = sooner
``delay_sooner``,
``amount_sooner``
=========================  =================================================================

:func:`validate_trials` checks a table against this schema and returns a copy with canonical
dtypes. Each error names the file (when known), the column, the offending rows and the fix.
"""

from __future__ import annotations

import difflib
import numbers
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "ACTION_COLUMNS",
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "n_valid_trials",
    "validate_trials",
]

REQUIRED_COLUMNS: tuple[str, ...] = ("subject", "trial", "choice", "reward")
OPTIONAL_COLUMNS: tuple[str, ...] = (
    "session",
    "block",
    "state",
    "rt",
    "choice2",
    "state2",
    "set_size",
    "correct_action",
    "option1",
    "option2",
    "delay_later",
    "amount_later",
    "delay_sooner",
    "amount_sooner",
)
#: Columns of 0-based action indices, nullable (NaN = no response): checked and cast to ``Int64``.
ACTION_COLUMNS: tuple[str, ...] = ("choice", "choice2")

#: Names the field uses for the required columns (lower case), to suggest a rename.
_ALIASES: dict[str, tuple[str, ...]] = {
    "subject": ("subjid", "subj", "sub", "subject_id", "subjectid", "participant",
                "participant_id", "id", "subno", "subnum", "sid", "pid", "ppt", "worker_id"),
    "trial": ("trial_num", "trialnum", "trial_number", "trial_index", "trial_idx", "t", "trials",
              "trial_block", "trial_no"),
    "choice": ("action", "response", "resp", "choice1", "level1_choice", "chosen", "decision",
               "actions", "choices", "key"),
    "reward": ("outcome", "feedback", "rew", "payoff", "points", "rewards", "outcomes", "money",
               "win", "r"),
}

_SHOW = 5  # offending rows named in a message before "... and N more"
_MAX_INDEX = 2**31  # larger action indices cannot be meant (and would not fit the likelihood arrays)


def validate_trials(
    df: pd.DataFrame,
    *,
    n_actions: int | None = None,
    source: str | None = None,
    extra_required: Sequence[str] = (),
    sort: bool = False,
) -> pd.DataFrame:
    """Check ``df`` against the canonical trial table; return a copy with canonical dtypes.

    Parameters
    ----------
    df
        One row per trial with at least :data:`REQUIRED_COLUMNS`.
    n_actions
        When given, each non-missing ``choice`` (and ``choice2``) must lie in
        ``0 .. n_actions - 1``. Negative choices are always invalid.
    source
        Where the table came from (a file name); error messages start with it.
    extra_required
        Further columns the caller needs, e.g. ``("state", "set_size")``.
    sort
        When the only fault is the order of the rows (trials not increasing within a subject and
        session, or a subject's sessions interleaved), return the rows sorted by subject (in order
        of first appearance), session (likewise) and ``trial`` with a ``UserWarning`` saying so,
        instead of raising. The fits sort this way: the order is unambiguous by ``trial``.

    Returns
    -------
    pandas.DataFrame
        A copy with the same index labels and column order; ``choice``/``choice2`` nullable
        ``Int64``, ``reward``/``rt`` ``float64``, ``trial`` ``int64``. Other columns are unchanged.
        With ``sort=True`` the rows may be reordered (their index labels travel with them).

    Raises
    ------
    TypeError
        ``df`` is not a DataFrame; ``n_actions`` is not an integer; ``extra_required`` is not a
        sequence of names; ``sort`` is not a bool.
    ValueError
        A required or canonical optional column is missing or duplicated; a choice is not an
        integer or out of range; a reward, trial or rt is not a number (complex numbers, dates
        and durations are not numbers); an answered trial has no finite reward; an rt is
        negative; a subject id is missing, or a subject, session or block id is not hashable (a
        list); a ``(subject, [session,] trial)`` repeats (duplicated rows, or two subjects
        sharing an id); or trials are not strictly increasing in row order within a subject (and
        session) and ``sort`` is False. Missing responses (NaN choice) are allowed and kept.
    """
    out, order = _validate(df, n_actions, source, extra_required, sort)
    return out if order is None else out.iloc[order]


def _validate(df: pd.DataFrame, n_actions: int | None = None, source: str | None = None,
              extra_required: Sequence[str] = (), sort: bool = False,
              stacklevel: int = 3) -> tuple[pd.DataFrame, np.ndarray | None]:
    """Run :func:`validate_trials` without the final reordering.

    Returns the checked copy in the rows' order and, when ``sort`` found them out of order, the
    permutation that sorts them (``order[i]`` is the position in ``df`` of row ``i`` of the sorted
    table; None when no sorting is needed). Callers run further checks on the copy, whose row
    positions are ``df``'s, then reorder it.
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(
            f"{_where(source)}a trial table must be a pandas DataFrame, got {type(df).__name__}; "
            f"build one with pd.DataFrame(...) or read a file with cogmodels.io.read_trials(path)"
        )
    n_actions = _check_n_actions(n_actions)
    if isinstance(extra_required, str) or not all(isinstance(c, str) for c in extra_required):
        raise TypeError(f"extra_required must be a sequence of column names, got {extra_required!r}")
    if not isinstance(sort, bool | np.bool_):
        raise TypeError(f"sort must be True or False, got {sort!r}")
    _check_columns(df, [*REQUIRED_COLUMNS, *extra_required], source)

    out = df.copy()
    for col in ACTION_COLUMNS:
        if col in out.columns:
            out[col] = _actions(out, col, n_actions, source)
    out["reward"] = _rewards(out, source)
    if "rt" in out.columns:
        out["rt"] = _reaction_times(out, source)
    _check_subjects(out, source)
    out["trial"] = _trial_numbers(out, source)
    return out, _check_order(out, source, bool(sort), stacklevel + 1)


def n_valid_trials(df: pd.DataFrame) -> pd.Series:
    """Answered trials (non-missing ``choice``) per subject, in order of first appearance."""
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"a trial table must be a pandas DataFrame, got {type(df).__name__}")
    _check_columns(df, ["subject", "choice"], None)
    return df["choice"].notna().groupby(df["subject"], sort=False).sum().rename("n_valid")


# ---------------------------------------------------------------------------------------------
# checks


def _where(source: str | None) -> str:
    return f"{source}: " if source else ""


def _check_n_actions(n_actions: Any) -> int | None:
    if n_actions is None:
        return None
    if isinstance(n_actions, bool) or not isinstance(n_actions, int | np.integer):
        raise TypeError(f"n_actions must be a positive integer or None, got {n_actions!r}")
    if n_actions < 1:
        raise ValueError(f"n_actions must be a positive integer or None, got {n_actions!r}")
    return int(n_actions)


def _check_columns(df: pd.DataFrame, required: Sequence[str], source: str | None) -> None:
    present = [str(c) for c in df.columns]
    repeated = set(df.columns[df.columns.duplicated()])
    dupes = [c for c in dict.fromkeys([*required, *OPTIONAL_COLUMNS]) if c in repeated]
    if dupes:
        raise ValueError(
            f"{_where(source)}column(s) {dupes} appear more than once (columns present: "
            f"{present}); keep one of each, e.g. df = df.loc[:, ~df.columns.duplicated()]"
        )
    missing = [c for c in dict.fromkeys(required) if c not in df.columns]
    if not missing:
        return
    renames = {}
    for col in missing:
        near = [p for p in _close_matches(col, present) if p not in renames]
        if near:
            renames[near[0]] = col
    what = "column" if len(missing) == 1 else "columns"
    listed = ", ".join(repr(c) for c in missing)
    if renames:
        fix = f"rename with df = df.rename(columns={renames!r})"
    else:
        fix = "add the missing columns or rename the ones that hold them"
    hbayesdm = "; hBayesDM text files load with cogmodels.io.read_hbayesdm" if "subjID" in present else ""
    raise ValueError(
        f"{_where(source)}missing required {what} {listed}; columns present: {present}. A trial "
        f"table needs {list(REQUIRED_COLUMNS)} (one row per trial, choice 0-based): {fix}{hbayesdm}"
    )


def _close_matches(col: str, present: list[str]) -> list[str]:
    aliases = _ALIASES.get(col, ())
    exact = [p for p in present if p.lower() == col or p.lower() in aliases]
    fuzzy = difflib.get_close_matches(col, present, n=3, cutoff=0.75)
    return list(dict.fromkeys(exact + fuzzy))


def _actions(df: pd.DataFrame, col: str, n_actions: int | None, source: str | None) -> pd.Series:
    values, not_number = _coerce(df[col])
    with np.errstate(invalid="ignore"):
        not_int = not_number | np.isinf(values) | (np.isfinite(values) & (values != np.round(values)))
    expected = (
        f"integers 0..{n_actions - 1}" if n_actions is not None else "integers >= 0"
    ) + " (0-based action indices; a missing response is NaN)"
    if not_int.any():
        raise ValueError(
            f"{_where(source)}column {col!r}: not an integer action index in "
            f"{_rows(df, not_int, _shown(df[col]))}. Expected {expected}. Fix: recode the "
            f"choices as 0-based integers, e.g. df[{col!r}] = df[{col!r}].map({{'left': 0, "
            f"'right': 1}}), and code missing responses as NaN"
        )
    upper = n_actions if n_actions is not None else _MAX_INDEX
    with np.errstate(invalid="ignore"):
        out_of_range = (values < 0) | (values >= upper)
    if out_of_range.any():
        answered = values[~np.isnan(values)]
        if n_actions is not None:
            fix = action_fix(col, answered, n_actions, "pass n_actions={n}")
        else:
            fix = "recode the choices as 0-based action indices (missing responses as NaN)"
        raise ValueError(
            f"{_where(source)}column {col!r}: out of range in "
            f"{_rows(df, out_of_range, _shown(df[col]))}. Expected {expected}. Fix: {fix}"
        )
    missing = np.isnan(values)
    ints = np.where(missing, 0, values).astype(np.int64)
    return pd.Series(pd.arrays.IntegerArray(ints, missing), index=df.index, name=col)


def action_fix(col: str, answered: np.ndarray, n_actions: int, more: str) -> str:
    """Return the fix for choices outside ``0 .. n_actions - 1``: 1-based coding, or more actions.

    ``more`` is how to ask for ``{n}`` actions, e.g. ``"pass n_actions={n}"``.
    """
    lo, hi = answered.min(), answered.max()
    if lo >= 1 and hi <= n_actions:
        return f"the choices look 1-based: use df[{col!r}] = df[{col!r}] - 1"
    if lo >= 0:
        n = int(hi) + 1
        return (f"the table has choices up to {int(hi)}: if the task has {n} options, "
                f"{more.format(n=n)}; otherwise recode the choices as 0-based action indices")
    return "recode the choices as 0-based action indices (missing responses as NaN)"


def _rewards(df: pd.DataFrame, source: str | None) -> np.ndarray:
    reward = _numbers(df, "reward", source)
    # the outcome follows the last choice of a trial: in the two-step task the second-stage one,
    # so a trial whose second-stage response was missed has a first-stage choice and no reward
    last = "choice2" if "choice2" in df.columns else "choice"
    answered = df[last].notna().to_numpy()
    require_answered(df, "reward", reward, answered, source, "no finite reward for an answered trial",
                     "Every trial with a choice needs its outcome (a missing response is a NaN choice, "
                     "and then the reward may be NaN; in the two-step task the outcome follows "
                     "'choice2'). Fix: fill in those rewards, or set the choices of trials without "
                     "feedback to NaN")
    return reward


def require_answered(df: pd.DataFrame, col: str, values: np.ndarray, answered: np.ndarray,
                     source: str | None, problem: str, explanation: str) -> None:
    """Raise when ``values`` (column ``col``) is not finite on an answered trial."""
    absent = answered & ~np.isfinite(values)
    if absent.any():
        raise ValueError(f"{_where(source)}column {col!r}: {problem} in "
                         f"{_rows(df, absent, _shown(df[col]))}. {explanation}")


def _reaction_times(df: pd.DataFrame, source: str | None) -> np.ndarray:
    rt = _numbers(df, "rt", source)
    with np.errstate(invalid="ignore"):
        negative = rt < 0
    if negative.any():
        raise ValueError(
            f"{_where(source)}column 'rt': negative reaction time in "
            f"{_rows(df, negative, _shown(df['rt']))}. Expected seconds >= 0, NaN where missing. "
            f"Fix: replace missing-value codes such as -1 with NaN (df['rt'] = df['rt'].where("
            f"df['rt'] >= 0))"
        )
    return rt


def _check_subjects(df: pd.DataFrame, source: str | None) -> None:
    for col in _KEY_COLUMNS:
        if col in df.columns:
            _check_hashable(df, col, source)
    missing = df["subject"].isna().to_numpy()
    if missing.any():
        raise ValueError(
            f"{_where(source)}column 'subject': no subject id in {_rows(df, missing)}. Every "
            f"trial must say whose it is. Fix: fill in the ids or drop those rows"
        )


#: Columns that group the trials: their values must be hashable ids.
_KEY_COLUMNS: tuple[str, ...] = ("subject", "session", "block")
#: ``pd.api.types.infer_dtype`` kinds of object columns that hold only hashable scalars.
_SCALAR_KINDS = frozenset({
    "string", "bytes", "integer", "floating", "mixed-integer-float", "decimal", "boolean", "empty",
    "datetime", "datetime64", "date", "time", "timedelta", "timedelta64", "period", "categorical",
})


def _check_hashable(df: pd.DataFrame, col: str, source: str | None) -> None:
    series = df[col]
    if not pd.api.types.is_object_dtype(series.dtype) or pd.api.types.infer_dtype(series, skipna=True) in _SCALAR_KINDS:
        return
    bad = np.array([not _is_hashable(v) for v in series], dtype=bool)
    if bad.any():
        kinds = sorted({type(v).__name__ for v in series[bad]})
        raise ValueError(
            f"{_where(source)}column {col!r}: not a usable id in {_rows(df, bad, _shown(series))}. "
            f"Ids must be hashable values such as numbers or strings, got {', '.join(kinds)}. Fix: "
            f"turn them into strings or numbers, e.g. df[{col!r}] = df[{col!r}].map(str)"
        )


def _is_hashable(v: Any) -> bool:
    try:
        hash(v)
    except TypeError:
        return False
    return True


def _trial_numbers(df: pd.DataFrame, source: str | None) -> np.ndarray:
    values, not_number = _coerce(df["trial"])
    with np.errstate(invalid="ignore"):
        bad = not_number | ~np.isfinite(values) | (values != np.round(values)) | (np.abs(values) >= 2.0**62)
    if bad.any():
        raise ValueError(
            f"{_where(source)}column 'trial': not an integer trial number in "
            f"{_rows(df, bad, _shown(df['trial']))}. 'trial' is the order of the trial within its "
            f"subject (and session). Fix: number the trials, e.g. df['trial'] = "
            f"df.groupby('subject').cumcount()"
        )
    return values.astype(np.int64)


def _check_order(df: pd.DataFrame, source: str | None, sort: bool = False,
                 stacklevel: int = 4) -> np.ndarray | None:
    """Refuse repeated trials; refuse (or, with ``sort``, sort) rows out of trial order.

    Returns the sorting permutation, or None when the rows are in order.
    """
    keys = ["subject", "session"] if "session" in df.columns else ["subject"]
    within = " and ".join(keys)
    subject = pd.factorize(df["subject"])[0]
    group = subject
    if len(keys) > 1:  # (subject, session) pairs numbered in order of first appearance
        session = pd.factorize(df["session"], use_na_sentinel=False)[0]
        group = pd.factorize(subject * (int(session.max(initial=0)) + 1) + session)[0]
    trial = df["trial"].to_numpy()
    cols = [*keys, "trial"]

    def where(p: int) -> str:
        return ", ".join(f"{c} {_plain(df[c].iloc[p])!r}" for c in cols)

    by_trial = np.lexsort((trial, group))
    same = (group[by_trial][1:] == group[by_trial][:-1]) & (trial[by_trial][1:] == trial[by_trial][:-1])
    dup = np.zeros(len(trial), dtype=bool)
    dup[by_trial[1:][same]] = dup[by_trial[:-1][same]] = True
    if dup.any():
        raise ValueError(
            f"{_where(source)}column 'trial': the same ({', '.join(cols)}) repeats in "
            f"{_rows(df, dup, where)}. Each trial appears once per {within}: a repeat is a "
            f"duplicated row, or two {keys[-1]}s sharing an id. Fix: drop the duplicates "
            f"(df.drop_duplicates({cols!r})), give each {keys[-1]} its own id, or renumber the trials"
        )
    by_group = np.argsort(group, kind="stable")  # each group's rows, in row order
    g = group[by_group]
    step = np.full(len(trial), np.nan)
    step[by_group[1:]] = np.where(g[1:] == g[:-1], np.diff(trial[by_group]), np.nan)
    with np.errstate(invalid="ignore"):
        backwards = step < 0  # NaN (the first trial of a group) compares False

    def after(p: int) -> str:
        return f"{where(p)} after trial {int(trial[p] - step[p])}"

    if backwards.any() and not sort:
        raise ValueError(
            f"{_where(source)}column 'trial': trials out of order in {_rows(df, backwards, after)}. "
            f"Trials must be strictly increasing in row order within each {within}. Fix: sort the "
            f"table, df = df.sort_values({cols!r}, kind='stable')"
        )
    if not sort:
        return None
    interleaved = _interleaved_sessions(subject, group) if len(keys) > 1 else None
    if not backwards.any() and interleaved is None:
        return None
    order = np.lexsort((trial, group, subject))  # (group, trial) is unique: no ties
    if backwards.any():
        reason = f"trials out of order in {_rows(df, backwards, after)}"
    else:
        reason = f"the sessions of subject {_plain(df['subject'].iloc[interleaved])!r} are interleaved"
    moved = int((order != np.arange(len(order))).sum())
    warnings.warn(
        f"{_where(source)}the rows were not in trial order within each {within} ({reason}); "
        f"sorted them by ({', '.join(cols)}), the subjects and sessions in order of first "
        f"appearance ({moved} rows moved). To silence this, sort the table first: "
        f"df = df.sort_values({cols!r}, kind='stable')",
        UserWarning,
        stacklevel=stacklevel,
    )
    return order


def _interleaved_sessions(subject: np.ndarray, group: np.ndarray) -> int | None:
    """Position of a row that resumes a session of its subject after another session, or None.

    Trials of a session are contiguous within the subject's rows when the number of runs of
    equal ``group`` along each subject's rows equals the number of groups.
    """
    if len(subject) == 0:
        return None
    by_subject = np.arange(len(subject)) if np.all(subject[1:] >= subject[:-1]) else \
        np.argsort(subject, kind="stable")
    s, g = subject[by_subject], group[by_subject]
    run_start = np.r_[True, (s[1:] != s[:-1]) | (g[1:] != g[:-1])]
    if run_start.sum() == group.max() + 1:
        return None
    seen = np.zeros(group.max() + 1, dtype=bool)
    for i in np.flatnonzero(run_start):  # only on the rare interleaved table
        if seen[g[i]]:
            return int(by_subject[i])
        seen[g[i]] = True
    return None  # pragma: no cover (a repeated run always resumes a seen group)


# ---------------------------------------------------------------------------------------------
# helpers


def _coerce(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """``series`` as float64 and the mask of entries that are present but not numbers."""
    present = series.notna().to_numpy()
    dtype = series.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
        return np.full(len(series), np.nan), present
    if pd.api.types.is_complex_dtype(dtype):
        return np.full(len(series), np.nan), present
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
        return series.to_numpy(dtype=np.float64, na_value=np.nan), np.zeros(len(series), dtype=bool)
    complex_ = None
    if pd.api.types.is_object_dtype(dtype) and pd.api.types.infer_dtype(series, skipna=True) not in _REAL_KINDS:
        # pandas would drop the imaginary part of a complex number (with a ComplexWarning)
        complex_ = np.array([isinstance(v, complex | np.complexfloating) for v in series], dtype=bool)
        if complex_.any():
            series = series.where(~complex_, np.nan)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError, OverflowError):
        values = np.array([_to_float(v) for v in series], dtype=np.float64)
    bad = present & np.isnan(values)
    if bad.any():  # pandas coerces some real numbers (a Fraction first in the column) to NaN
        values = values.copy()
        for p in np.flatnonzero(bad):
            v = series.iloc[p]
            if isinstance(v, numbers.Real) and not (complex_ is not None and complex_[p]):
                values[p] = float(v)
        bad = present & np.isnan(values)
    if complex_ is not None:
        bad |= complex_
    return values, bad


#: ``pd.api.types.infer_dtype`` kinds of object columns that cannot hold a complex number.
_REAL_KINDS = frozenset({"string", "integer", "floating", "mixed-integer-float", "decimal", "boolean",
                         "empty"})


def _to_float(v: Any) -> float:
    try:
        return float(pd.to_numeric(v))
    except (TypeError, ValueError, OverflowError):
        return np.nan


def _numbers(df: pd.DataFrame, col: str, source: str | None) -> np.ndarray:
    values, not_number = _coerce(df[col])
    if not_number.any():
        raise ValueError(
            f"{_where(source)}column {col!r}: not a number in "
            f"{_rows(df, not_number, _shown(df[col]))}. Expected numbers (NaN where missing). "
            f"Fix: recode the column as numbers, e.g. pd.to_numeric(df[{col!r}], errors='coerce') "
            f"to turn the rest into NaN"
        )
    return values


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _shown(series: pd.Series) -> Callable[[int], str]:
    """Describe row ``p`` of ``series`` by its value."""
    return lambda p: repr(_plain(series.iloc[p]))


def _rows(df: pd.DataFrame, bad: np.ndarray, describe: Callable[[int], str] | None = None) -> str:
    """'2 rows: row 1 (1.5), row 4 ('left')': row positions, index labels where they differ."""
    pos = np.flatnonzero(bad)
    index = df.index
    plain = isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1
    parts = []
    for p in pos[:_SHOW]:
        text = f"row {p}" if plain else f"row {p} [index {_plain(index[p])!r}]"
        if describe is not None:
            text += f" ({describe(int(p))})"
        parts.append(text)
    more = f" and {len(pos) - _SHOW} more" if len(pos) > _SHOW else ""
    return f"{len(pos)} row{'s' if len(pos) != 1 else ''}: {', '.join(parts)}{more}"
