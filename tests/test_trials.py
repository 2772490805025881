"""The trial-table validator: canonical dtypes, and a ValueError naming file, column, rows, fix."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cogmodels.trials import OPTIONAL_COLUMNS, REQUIRED_COLUMNS, n_valid_trials, validate_trials


def _table(**columns):
    df = pd.DataFrame({"subject": [1, 1, 1, 2, 2], "trial": [0, 1, 2, 0, 1],
                       "choice": [0, 1, 1, 0, 1], "reward": [1.0, 0.0, 1.0, 0.0, 1.0]})
    for name, values in columns.items():
        df[name] = values
    return df


def test_schema_constants():
    assert REQUIRED_COLUMNS == ("subject", "trial", "choice", "reward")
    assert {"session", "block", "state", "rt", "choice2", "state2", "set_size", "correct_action"} <= set(OPTIONAL_COLUMNS)


def test_valid_table_gets_canonical_dtypes_and_keeps_missing_responses():
    df = _table(choice=[0, np.nan, 1, 0, 1], reward=[1, np.nan, 1, 0, 1], rt=[1, 2, np.nan, 1, 1],
                choice2=[1.0, np.nan, 0.0, 1.0, 0.0], trial=[1.0, 2.0, 5.0, 0.0, 3.0], extra=list("abcde"))
    out = validate_trials(df, n_actions=2)
    assert out["choice"].dtype == pd.Int64Dtype() and out["choice2"].dtype == pd.Int64Dtype()
    assert out["choice"].isna().tolist() == [False, True, False, False, False]
    assert out["choice"].dropna().tolist() == [0, 1, 0, 1]
    assert out["reward"].dtype == np.float64 and out["rt"].dtype == np.float64
    assert out["trial"].dtype == np.int64 and out["trial"].tolist() == [1, 2, 5, 0, 3]
    assert list(out.columns) == list(df.columns) and out["extra"].tolist() == list("abcde")
    assert df["choice"].dtype == np.float64  # the input is left alone


def test_missing_response_may_keep_its_reward_and_index_is_kept():
    df = _table(choice=[0, None, 1, 0, 1], reward=[1.0, 0.0, 1.0, 0.0, 1.0])
    df.index = [10, 11, 12, 13, 14]
    out = validate_trials(df)
    assert out.index.tolist() == [10, 11, 12, 13, 14] and out.loc[11, "reward"] == 0.0


def test_n_valid_trials_counts_answered_trials_per_subject():
    df = _table(choice=[0, np.nan, 1, np.nan, np.nan], reward=[1.0, np.nan, 1.0, np.nan, np.nan])
    assert n_valid_trials(validate_trials(df)).to_dict() == {1: 2, 2: 0}


def test_interleaved_subjects_and_sessions_are_fine():
    df = _table(subject=[1, 2, 1, 2, 1], trial=[0, 0, 1, 1, 2])
    assert len(validate_trials(df)) == 5
    # the same trial number in two sessions of one subject is not a duplicate
    assert len(validate_trials(_table(session=[0, 0, 1, 0, 0], trial=[0, 1, 1, 0, 1]))) == 5


def test_missing_column_names_file_and_suggests_the_rename():
    df = _table().rename(columns={"subject": "subjID", "reward": "outcome"})
    with pytest.raises(
        ValueError,
        match=r"^data\.csv: missing required columns 'subject', 'reward'; columns present: "
        r"\['subjID', 'trial', 'choice', 'outcome'\].*df\.rename\(columns=\{'subjID': 'subject', "
        r"'outcome': 'reward'\}\)",
    ):
        validate_trials(df, source="data.csv")


def test_missing_column_without_a_close_match_and_extra_required():
    with pytest.raises(ValueError, match=r"missing required column 'trial'.*add the missing columns"):
        validate_trials(_table().drop(columns="trial"))
    with pytest.raises(ValueError, match=r"f\.csv: missing required column 'set_size'"):
        validate_trials(_table(), extra_required=["set_size"], source="f.csv")


def test_duplicated_column_names():
    df = pd.concat([_table(), _table()[["choice"]]], axis=1)
    with pytest.raises(ValueError, match=r"column\(s\) \['choice'\] appear more than once"):
        validate_trials(df)


@pytest.mark.parametrize(
    "choice, n_actions, match",
    [
        ([0, 1.5, 1, 0, 1], 2, r"^f\.csv: column 'choice': not an integer action index in 1 row: row 1 \(1\.5\)"),
        ([0, "left", 1, 0, 1], 2, r"column 'choice': not an integer action index in 1 row: row 1 \('left'\)"),
        ([0, np.inf, 1, 0, 1], None, r"column 'choice': not an integer action index in 1 row: row 1 \(inf\)"),
        ([0, 1, 2, 0, 3], 2, r"column 'choice': out of range in 2 rows: row 2 \(2\), row 4 \(3\)\. Expected integers 0\.\.1"),
        ([0, 1, -1, 0, 1], 2, r"column 'choice': out of range in 1 row: row 2 \(-1\)"),
        ([0, 1, -1, 0, 1], None, r"out of range in 1 row: row 2 \(-1\)\. Expected integers >= 0"),
    ],
)
def test_bad_choices_name_file_column_rows_and_values(choice, n_actions, match):
    with pytest.raises(ValueError, match=match):
        validate_trials(_table(choice=choice), n_actions=n_actions, source="f.csv")


def test_bad_choice2_is_checked_like_choice():
    with pytest.raises(ValueError, match=r"column 'choice2': out of range in 1 row: row 3 \(5\)"):
        validate_trials(_table(choice2=[0, 1, 0, 5, 1]), n_actions=2)


def test_one_based_choices_get_the_fix():
    with pytest.raises(ValueError, match=r"Fix: the choices look 1-based: use df\['choice'\] = df\['choice'\] - 1"):
        validate_trials(_table(choice=[1, 2, 3, 1, 2]), n_actions=3, source="f.csv")


def test_many_bad_rows_are_counted_and_index_labels_named():
    df = pd.DataFrame({"subject": 1, "trial": range(20), "choice": [7] * 20, "reward": 1.0},
                      index=[f"r{i}" for i in range(20)])
    with pytest.raises(ValueError, match=r"out of range in 20 rows: row 0 \[index 'r0'\] \(7\), .*"
                                         r"row 4 \[index 'r4'\] \(7\) and 15 more"):
        validate_trials(df, n_actions=3)


def test_duplicate_subject_trial():
    with pytest.raises(
        ValueError,
        match=r"^s\.parquet: column 'trial': the same \(subject, trial\) repeats in 2 rows: "
        r"row 1 \(subject 1, trial 1\), row 2 \(subject 1, trial 1\).*Fix: drop the duplicates",
    ):
        validate_trials(_table(trial=[0, 1, 1, 0, 1]), source="s.parquet")
    with pytest.raises(ValueError, match=r"the same \(subject, session, trial\) repeats in 2 rows"):
        validate_trials(_table(session=["a"] * 5, trial=[0, 1, 1, 0, 1]))


def test_trials_out_of_order():
    with pytest.raises(
        ValueError,
        match=r"column 'trial': trials out of order in 1 row: row 2 \(subject 1, trial 3 after trial 5\)"
        r".*strictly increasing in row order within each subject.*sort_values\(\['subject', 'trial'\]",
    ):
        validate_trials(_table(trial=[0, 5, 3, 0, 1]))


def test_nan_reward_where_a_choice_exists():
    with pytest.raises(
        ValueError,
        match=r"^t\.csv: column 'reward': no finite reward for an answered trial in 1 row: row 3 \(nan\)",
    ):
        validate_trials(_table(reward=[1.0, 0.0, 1.0, np.nan, 1.0]), source="t.csv")


@pytest.mark.parametrize(
    "column, values, match",
    [
        ("reward", [1, "a", 0, 0, 1], r"column 'reward': not a number in 1 row: row 1 \('a'\)"),
        ("rt", [0.5, -1.0, 0.4, 0.3, 0.2], r"column 'rt': negative reaction time in 1 row: row 1 \(-1\.0\).*NaN"),
        ("rt", [0.5, "slow", 0.4, 0.3, 0.2], r"column 'rt': not a number in 1 row: row 1 \('slow'\)"),
        ("trial", [0, 1, 2.5, 0, 1], r"column 'trial': not an integer trial number in 1 row: row 2 \(2\.5\)"),
        ("trial", [0, 1, None, 0, 1], r"column 'trial': not an integer trial number in 1 row: row 2"),
        ("subject", [1, 1, None, 2, 2], r"column 'subject': no subject id in 1 row: row 2"),
    ],
)
def test_other_bad_columns(column, values, match):
    with pytest.raises(ValueError, match=match):
        validate_trials(_table(**{column: values}))


def test_type_errors_and_bad_arguments():
    with pytest.raises(TypeError, match="must be a pandas DataFrame, got list"):
        validate_trials([1, 2, 3])
    with pytest.raises(TypeError, match="n_actions must be a positive integer"):
        validate_trials(_table(), n_actions=2.0)
    with pytest.raises(ValueError, match="n_actions must be a positive integer or None, got 0"):
        validate_trials(_table(), n_actions=0)
    with pytest.raises(TypeError, match="extra_required"):
        validate_trials(_table(), extra_required="state")


def test_200k_rows_validate_in_well_under_a_second():
    n = 200_000
    df = pd.DataFrame({"subject": np.repeat(np.arange(1000), 200), "session": 0,
                       "trial": np.tile(np.arange(200), 1000),
                       "choice": np.where(np.arange(n) % 9 == 0, np.nan, np.arange(n) % 3),
                       "reward": np.ones(n), "rt": np.full(n, 0.5)})
    validate_trials(df.head(100), n_actions=3)  # warm up
    t0 = time.perf_counter()
    out = validate_trials(df, n_actions=3)
    assert time.perf_counter() - t0 < 0.5
    assert out["choice"].isna().sum() == len(range(0, n, 9))


# --- fuzz: random small tables never raise anything but ValueError / TypeError -----------------

NAMES = ["subject", "session", "trial", "choice", "choice2", "reward", "rt", "state", "x", 0]
VALUES = st.one_of(
    st.none(), st.integers(-3, 5), st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(["a", "1", "", "nan", "1.5"]),
    st.booleans(), st.just(pd.NA), st.just(pd.Timestamp("2020-01-01")),
)
DTYPED = {
    "int": st.integers(-2, 4), "float": st.one_of(st.floats(-2, 4), st.just(np.nan)), "bool": st.booleans(),
    "str": st.sampled_from(["0", "1", "b"]), "object": VALUES,
}


@st.composite
def tables(draw):
    n = draw(st.integers(0, 8))
    names = draw(st.lists(st.sampled_from(NAMES), max_size=7))  # may repeat a name
    if draw(st.booleans()):
        names = [*REQUIRED_COLUMNS, *names]
    data = {}
    for name in names:
        kind = draw(st.sampled_from(sorted(DTYPED)))
        values = draw(st.lists(DTYPED[kind], min_size=n, max_size=n))
        data[name] = pd.Series(values, dtype=object if kind == "object" else None)
    df = pd.DataFrame(data) if data else pd.DataFrame(index=range(n))
    if draw(st.booleans()) and len(names) > 1:
        df = pd.concat([df, df.iloc[:, :1]], axis=1)  # a duplicated column name
    return df


@given(df=tables(), n_actions=st.one_of(st.none(), st.integers(1, 4)))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_fuzz_validator_only_raises_value_or_type_errors(df, n_actions):
    try:
        out = validate_trials(df, n_actions=n_actions, source="fuzz.csv")
    except (ValueError, TypeError) as err:
        assert str(err)
        return
    # what passes satisfies the schema
    assert len(out) == len(df) and out["choice"].dtype == pd.Int64Dtype()
    choices = out["choice"].dropna().to_numpy()
    assert (choices >= 0).all() and (n_actions is None or (choices < n_actions).all())
    assert np.isfinite(out.loc[out["choice"].notna().to_numpy(), "reward"]).all()
    assert out["trial"].dtype == np.int64
    keys = ["subject", "session"] if "session" in out.columns else ["subject"]
    steps = out.groupby(keys, dropna=False, sort=False)["trial"].diff().dropna()
    assert (steps > 0).all()
