"""Bad input never becomes a wrong answer: mutated trial tables through every door.

Each example starts from a clean table (3 subjects x 12 trials) and applies one to three
mutations. Some keep the table valid (rows shuffled, a choice written as ``Fraction(1)`` or
``"1"``, a missing response); the others break it (a Timestamp, complex or out-of-range choice,
a NaN reward on an answered trial, repeated trial numbers, two subjects sharing an id, a
duplicated row or column, a list as a subject id...). The property, for ``validate_trials``,
``log_likelihood`` and every estimator and entry point that takes a table: either a clean
``ValueError`` / ``TypeError`` naming the broken column, or exactly the result of the same call
on the clean table in trial order. Never another exception, never an invalid table accepted.
"""

from __future__ import annotations

import datetime
import decimal
import warnings
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

import cogmodels  # noqa: F401
from cogmodels.fits import (
    HierarchicalEM,
    MaximumAPosteriori,
    MaximumLikelihood,
    check,
    compare_models,
    cross_validate,
)
from cogmodels.likelihood import log_likelihood
from cogmodels.models import make_model
from cogmodels.trials import validate_trials

N_SUB, N_TRIALS = 3, 12
SUBJECTS = (10, 11, 12)
MODEL = make_model("q_learning")  # n_actions = 2
PARAMS = {"alpha": 0.3, "beta": 2.5, "kappa": 0.4}
FUZZ = {"derandomize": True, "deadline": None,
        "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large]}


def _base() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    n = N_SUB * N_TRIALS
    return pd.DataFrame({
        "subject": np.repeat(SUBJECTS, N_TRIALS),
        "session": 1,
        "trial": np.tile(np.arange(N_TRIALS), N_SUB) + np.repeat([0, 1, 5], N_TRIALS),
        "choice": rng.integers(0, 2, n).astype(np.int64),
        "reward": rng.integers(0, 2, n).astype(np.float64),
        "rt": rng.uniform(0.2, 0.9, n).round(3),
    })


BASE = _base()

# values that mean the same number, written differently
EQUIVALENT = [Fraction, float, str, np.int8, decimal.Decimal, bool]
# values that are not a valid action index for a model with 2 actions
BAD_CHOICES = [pd.Timestamp("2021-03-04"), Fraction(1, 2), datetime.timedelta(seconds=1), complex(1, 0),
               complex(1, 1), "a", [1], 1.5, -1, 2, 7, 2**40, np.inf, -np.inf, np.datetime64("2020-01-01")]
BAD_REWARDS = [np.nan, np.inf, -np.inf, pd.Timestamp("2021-03-04"), datetime.timedelta(seconds=1),
               complex(1, 1), complex(0, 0), "a", [1], None]
BAD_TRIALS = [1.5, np.nan, "x", complex(2, 1), pd.Timestamp("2021-03-04"), [3], np.inf]
BAD_SUBJECTS = [[10], {"id": 10}, np.nan, None]
BAD_RTS = [-1.0, "slow", complex(0.5, 0.1), pd.Timedelta(1, "s")]
#: mutation -> (column, values that break it)
BAD_VALUES = {"choice_bad": ("choice", BAD_CHOICES), "reward_bad": ("reward", BAD_REWARDS),
              "trial_bad": ("trial", BAD_TRIALS), "subject_bad": ("subject", BAD_SUBJECTS),
              "rt_bad": ("rt", BAD_RTS)}

VALID_KINDS = ["choice_equivalent", "choice_missing", "reward_equivalent", "reward_half"]
INVALID_KINDS = ["choice_bad", "reward_bad", "trial_bad", "trial_repeat", "shared_id", "subject_bad",
                 "rt_bad", "duplicated_rows", "duplicated_column", "dropped_column"]


@dataclass
class Case:
    """A mutated table, the clean table it should behave as (None: invalid) and the columns an
    error may name."""

    table: pd.DataFrame
    clean: pd.DataFrame | None
    columns: set[str]
    mutations: list[str]


def _set(df: pd.DataFrame, row: int, col: str, value) -> None:
    if df[col].dtype != object:
        df[col] = df[col].astype(object)
    df.at[row, col] = value


@st.composite
def cases(draw) -> Case:
    df, clean = BASE.copy(), BASE.copy()
    clean["choice"] = clean["choice"].astype(float)
    pool = VALID_KINDS if draw(st.booleans()) else VALID_KINDS + INVALID_KINDS  # about half stay valid
    kinds = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3, unique=True))
    rows = draw(st.lists(st.integers(0, len(BASE) - 1), min_size=len(kinds), max_size=len(kinds),
                         unique=True))
    invalid, named = False, set()
    for kind, row in zip(kinds, rows):
        if kind == "choice_equivalent":
            c = int(BASE.at[row, "choice"])
            _set(df, row, "choice", draw(st.sampled_from(EQUIVALENT))(c))
        elif kind == "choice_missing":
            _set(df, row, "choice", draw(st.sampled_from([np.nan, None, pd.NA])))
            clean.at[row, "choice"] = np.nan
        elif kind == "reward_equivalent":
            r = int(BASE.at[row, "reward"])
            _set(df, row, "reward", draw(st.sampled_from([Fraction, str, decimal.Decimal, np.float32, bool]))(r))
        elif kind == "reward_half":
            _set(df, row, "reward", draw(st.sampled_from([Fraction(1, 2), "0.5", decimal.Decimal("0.5")])))
            clean.at[row, "reward"] = 0.5
        else:
            invalid = True
            if kind in BAD_VALUES:
                col, values = BAD_VALUES[kind]
                _set(df, row, col, draw(st.sampled_from(values)))
                named.add(col)
            elif kind == "trial_repeat":  # another trial number of the same subject
                s = row // N_TRIALS
                other = s * N_TRIALS + (row % N_TRIALS + draw(st.integers(1, N_TRIALS - 1))) % N_TRIALS
                df.at[row, "trial"] = BASE.at[other, "trial"]
                named.add("trial")
            elif kind == "shared_id":  # subject b's rows recorded under subject a's id
                a, b = draw(st.permutations(SUBJECTS))[:2]
                df.loc[BASE["subject"] == b, "subject"] = a
                df.loc[BASE["subject"] == b, "trial"] = BASE.loc[BASE["subject"] == a, "trial"].to_numpy()
                named.add("trial")
    # the table as a whole: rows and columns
    structural = [k for k in kinds if k in ("duplicated_rows", "duplicated_column", "dropped_column")]
    for kind in structural:
        if kind == "duplicated_rows":
            extra = draw(st.lists(st.integers(0, len(BASE) - 1), min_size=1, max_size=3))
            df = pd.concat([df, df.iloc[extra]])
            named.add("trial")
        elif kind == "duplicated_column":
            col = draw(st.sampled_from([c for c in ["subject", "session", "trial", "choice", "reward", "rt"]
                                        if c in df.columns]))
            df = pd.concat([df, df[[col]]], axis=1)
            named.add(col)
        else:
            col = draw(st.sampled_from(["subject", "trial", "choice", "reward"]))
            if col in df.columns:
                df = df.drop(columns=col)
            named.add(col)
    if draw(st.booleans()):  # shuffle the rows: valid, sorted with a warning
        order = draw(st.permutations(range(len(df))))
        df = df.iloc[list(order)]
        kinds = [*kinds, "shuffle"]
    if invalid:
        return Case(df, None, named, kinds)
    # the clean table in trial order, subjects in order of first appearance in the mutated one
    first = {s: i for i, s in reversed(list(enumerate(df["subject"])))}
    clean = clean.loc[df.index]
    clean = clean.assign(_s=clean["subject"].map(first)).sort_values(["_s", "trial"]).drop(columns="_s")
    return Case(df, clean, set(), kinds)


def _call(fn, table):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning)  # sorted rows, bounds, convergence
        return fn(table)


def assert_clean_error_or_same_result(case: Case, fn, same) -> None:
    """``fn(case.table)`` raises a clean error naming the broken column, or equals ``fn(clean)``."""
    try:
        result = _call(fn, case.table)
    except (ValueError, TypeError) as err:
        msg = str(err)
        assert case.clean is None, f"{case.mutations}: a valid table was refused: {msg}"
        assert any(repr(c) in msg for c in case.columns), f"{case.mutations}: {msg} names none of {case.columns}"
        return
    assert case.clean is not None, f"{case.mutations}: an invalid table was accepted:\n{case.table}"
    same(result, _call(fn, case.clean))


def _equal_frames(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))


# --- the doors --------------------------------------------------------------------------------


@given(case=cases())
@settings(max_examples=200, **FUZZ)
def test_validate_trials(case):
    assert_clean_error_or_same_result(case, lambda t: validate_trials(t, n_actions=2, sort=True), _equal_frames)


@given(case=cases())
@settings(max_examples=150, **FUZZ)
def test_log_likelihood(case):
    def same(a, b):
        np.testing.assert_array_equal(a, b)  # exactly: a sorted table is the ordered one

    assert_clean_error_or_same_result(case, lambda t: log_likelihood(MODEL, PARAMS, t), same)


def _fitted(est):
    return pd.concat([est.params_, est.loglik_, est.n_trials_], axis=1)


def _same_fit(a, b):
    pd.testing.assert_frame_equal(a, b)


ESTIMATORS = {
    "mle": lambda: MaximumLikelihood(MODEL, n_starts=1, max_iter=4, min_trials=1, seed=0),
    "map": lambda: MaximumAPosteriori(MODEL, n_starts=1, max_iter=4, min_trials=1, seed=0,
                                      priors={"beta": stats.gamma(2.0, scale=2.0)}),
    "em": lambda: HierarchicalEM(MODEL, n_starts=1, max_iter=4, max_em_iter=2, min_trials=1, seed=0),
}


@pytest.mark.parametrize("method", sorted(ESTIMATORS))
@given(case=cases())
@settings(max_examples=25, **FUZZ)
def test_estimators(method, case):
    fit = ESTIMATORS[method]
    assert_clean_error_or_same_result(case, lambda t: _fitted(fit().fit(t, progress=False)), _same_fit)


@pytest.fixture(scope="module")
def fitted():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return ESTIMATORS["mle"]().fit(BASE, progress=False)


@given(case=cases())
@settings(max_examples=60, **FUZZ)
def test_score(fitted, case):
    def same(a, b):
        pd.testing.assert_series_equal(a, b)

    assert_clean_error_or_same_result(case, fitted.score_subjects, same)


@given(case=cases())
@settings(max_examples=15, **FUZZ)
def test_cross_validate(case):
    def run(t):
        cv = cross_validate(MODEL, t, folds=2, n_starts=1, max_iter=4, min_trials=1, seed=0, progress=False)
        return cv.per_subject, cv.trialwise.sort_index()

    def same(a, b):
        pd.testing.assert_frame_equal(a[0], b[0])
        pd.testing.assert_frame_equal(a[1], b[1])

    assert_clean_error_or_same_result(case, run, same)


@given(case=cases())
@settings(max_examples=10, **FUZZ)
def test_compare_models(case):
    def run(t):
        return compare_models(t, {"q": MODEL, "wsls": make_model("wsls")}, n_starts=1, max_iter=4, min_trials=1,
                              seed=0, bms_samples=1000, progress=False).table

    assert_clean_error_or_same_result(case, run, pd.testing.assert_frame_equal)


@given(case=cases())
@settings(max_examples=10, **FUZZ)
def test_predictive_check(fitted, case):
    def run(t):
        data_curve, sim_curve, _ = check(fitted, t, "cogmodels/ReversalLearning-v0", n_sims=1, seed=0,
                                         env_kwargs={"n_trials": N_TRIALS}, progress=False)
        return data_curve, sim_curve

    def same(a, b):
        pd.testing.assert_frame_equal(a[0], b[0])
        pd.testing.assert_frame_equal(a[1], b[1])

    assert_clean_error_or_same_result(case, run, same)


# --- model-specific columns: two-step and RLWM --------------------------------------------------

TWO_STEP = make_model("two_step_hybrid")
RLWM = make_model("rlwm")


def _two_step_base() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    n = 2 * N_TRIALS
    return pd.DataFrame({
        "subject": np.repeat(["a", "b"], N_TRIALS), "trial": np.tile(np.arange(N_TRIALS), 2),
        "choice": rng.integers(0, 2, n), "state2": rng.integers(0, 2, n),
        "choice2": rng.integers(0, 2, n), "reward": rng.integers(0, 2, n).astype(float),
    })


def _rlwm_base() -> pd.DataFrame:
    rng = np.random.default_rng(2)
    n = 2 * N_TRIALS
    set_size = np.tile(np.repeat([2, 6], N_TRIALS // 2), 2)
    return pd.DataFrame({
        "subject": np.repeat([1, 2], N_TRIALS), "trial": np.tile(np.arange(N_TRIALS), 2),
        "block": np.tile(np.repeat([0, 1], N_TRIALS // 2), 2), "set_size": set_size,
        "state": rng.integers(0, 2, n), "choice": rng.integers(0, 3, n),
        "reward": rng.integers(0, 2, n).astype(float),
    })


SPECIFIC = {
    "two_step": (TWO_STEP, _two_step_base(), {
        "choice": [2, -1, 1.5, "x", complex(1, 1)],
        "choice2": [2, 3, -1, 0.5, pd.Timestamp("2020-01-01"), complex(0, 1), "left"],
        "state2": [2, -1, 0.5, np.nan, np.inf, "x", complex(1, 0), None],
    }),
    "rlwm": (RLWM, _rlwm_base(), {
        "choice": [3, -1, 2.5],
        "state": [6, 7, -1, 0.5, np.nan, np.inf, "s", [0]],
        "set_size": [0, 7, -2, 1.5, np.nan, np.inf, "six", complex(6, 0)],
    }),
}


@st.composite
def specific_cases(draw):
    name = draw(st.sampled_from(sorted(SPECIFIC)))
    model, base, bad = SPECIFIC[name]
    df = base.copy()
    col = draw(st.sampled_from(sorted(bad)))
    row = draw(st.integers(0, len(df) - 1))
    _set(df, row, col, draw(st.sampled_from(bad[col])))
    drop = draw(st.booleans()) and draw(st.sampled_from(sorted(bad)))
    if drop:
        df = df.drop(columns=drop)
    return model, df, {col, drop} - {False}


@given(case=specific_cases())
@settings(max_examples=150, **FUZZ)
def test_model_specific_columns_are_checked_against_the_model(case):
    model, df, named = case
    params = model.default_params()
    with pytest.raises((ValueError, TypeError)) as info:
        log_likelihood(model, params, df)
    msg = str(info.value)
    assert any(repr(c) in msg for c in named), msg


@pytest.mark.parametrize("name", sorted(SPECIFIC))
def test_the_clean_model_specific_tables_are_accepted(name):
    model, base, _ = SPECIFIC[name]
    ll = log_likelihood(model, model.default_params(), base)
    assert ll.shape == (2,) and np.isfinite(ll).all()
