"""The trial-table validator: canonical dtypes, and a ValueError naming file, column, rows, fix."""

from __future__ import annotations

import datetime
import decimal
import time
import warnings
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
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
    t0 = time.process_time()  # CPU seconds: a loaded machine stretches the wall clock, not these
    out = validate_trials(df, n_actions=3)
    assert time.process_time() - t0 < 0.5
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
# found by the fuzzer: a two-step trial whose second stage was missed has a choice and no reward
@example(df=pd.DataFrame({"subject": [False], "trial": [False], "choice": [False],
                          "reward": [np.nan], "choice2": [np.nan]}), n_actions=None)
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
    # the outcome follows the trial's last choice: the second-stage one in the two-step task
    last = "choice2" if "choice2" in out.columns else "choice"
    assert np.isfinite(out.loc[out[last].notna().to_numpy(), "reward"]).all()
    assert out["trial"].dtype == np.int64
    keys = ["subject", "session"] if "session" in out.columns else ["subject"]
    steps = out.groupby(keys, dropna=False, sort=False)["trial"].diff().dropna()
    assert (steps > 0).all()


# --- issue 16: what fuzzing found -------------------------------------------------------------


@pytest.mark.parametrize("column", ["session", "rt", "block", "trial"])
def test_a_duplicated_optional_column_is_refused(column):
    df = _table(session=0, rt=0.5, block=1)
    df = pd.concat([df, df[[column]]], axis=1)
    with pytest.raises(ValueError, match=rf"^f\.csv: column\(s\) \['{column}'\] appear more than once \(columns "
                                         rf"present: \[.*'{column}'.*'{column}'\]\); keep one of each"):
        validate_trials(df, source="f.csv")


@pytest.mark.parametrize("column", ["subject", "session", "block"])
def test_a_list_as_an_id_is_refused(column):
    values = [[1], [1], 1, 2, 2] if column == "subject" else [0, [0, 1], 0, 0, 0]
    rows = r"2 rows: row 0 \(\[1\]\), row 1 \(\[1\]\)" if column == "subject" else r"1 row: row 1 \(\[0, 1\]\)"
    with pytest.raises(ValueError, match=rf"^column '{column}': not a usable id in {rows}\. Ids must be hashable "
                                         rf"values such as numbers or strings, got list\. Fix: .*\.map\(str\)"):
        validate_trials(_table(**{column: pd.Series(values, dtype=object)}))


@pytest.mark.parametrize(
    "column, value, match",
    [
        ("reward", 1 + 2j, r"column 'reward': not a number in 1 row: row 1 \(\(1\+2j\)\)"),
        ("reward", 1 + 0j, r"column 'reward': not a number in 1 row: row 1 \(\(1\+0j\)\)"),
        ("choice", 1 + 0j, r"column 'choice': not an integer action index in 1 row: row 1 \(\(1\+0j\)\)"),
        ("trial", np.complex128(1), r"column 'trial': not an integer trial number in 1 row: row 1 \(\(1\+0j\)\)"),
        ("rt", 0.5j, r"column 'rt': not a number in 1 row: row 1 \(0\.5j\)"),
    ],
)
def test_complex_numbers_in_an_object_column_are_refused_not_truncated(column, value, match):
    values = _table()[column].astype(object).tolist() if column != "rt" else [0.4] * 5
    values[1] = value
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ComplexWarning: nothing is cast
        with pytest.raises(ValueError, match=match):
            validate_trials(_table(**{column: pd.Series(values, dtype=object)}))


def test_timestamps_fractions_and_durations():
    with pytest.raises(ValueError, match=r"column 'choice': not an integer action index in 1 row: row 1 "
                                         r"\(Timestamp\('2020-01-01 00:00:00'\)\)"):
        validate_trials(_table(choice=pd.Series([0, pd.Timestamp("2020-01-01"), 1, 0, 1], dtype=object)))
    with pytest.raises(ValueError, match=r"column 'choice': not an integer action index in 1 row: row 0 "
                                         r"\(Fraction\(1, 2\)\)"):
        validate_trials(_table(choice=pd.Series([Fraction(1, 2), 1, 1, 0, 1], dtype=object)))
    with pytest.raises(ValueError, match=r"column 'reward': not a number in 5 rows: row 0 \(Timedelta\("):
        validate_trials(_table(reward=pd.to_timedelta([1, 2, 3, 4, 5], unit="s")))
    with pytest.raises(ValueError, match=r"column 'reward': not a number in 1 row: row 2 \(datetime.timedelta"):
        validate_trials(_table(reward=pd.Series([1.0, 0.0, datetime.timedelta(seconds=1), 0, 1], dtype=object)))
    # a Fraction, Decimal or numeric string that is a whole number is that number, wherever it stands
    for first in (Fraction(1), decimal.Decimal(1), "1"):
        out = validate_trials(_table(choice=pd.Series([first, Fraction(1), 1, 0, 1], dtype=object)))
        assert out["choice"].tolist() == [1, 1, 1, 0, 1]


def test_out_of_range_choices_say_which_n_actions_to_use():
    with pytest.raises(ValueError, match=r"column 'choice': out of range in 1 row: row 2 \(3\)\. Expected integers "
                                         r"0\.\.1 .*Fix: the table has choices up to 3: if the task has 4 options, "
                                         r"pass n_actions=4; otherwise recode"):
        validate_trials(_table(choice=[0, 1, 3, 0, 1]), n_actions=2)


def test_a_repeated_trial_names_the_rows_and_the_shared_id():
    # subject 2's trials recorded under subject 1's id: its trial numbers repeat
    df = _table(subject=[1, 1, 1, 1, 1], trial=[0, 1, 2, 0, 1])
    with pytest.raises(ValueError, match=r"^column 'trial': the same \(subject, trial\) repeats in 4 rows: row 0 "
                                         r"\(subject 1, trial 0\), row 1 \(subject 1, trial 1\), row 3 \(subject 1, "
                                         r"trial 0\), row 4 \(subject 1, trial 1\)\. Each trial appears once per "
                                         r"subject: a repeat is a duplicated row, or two subjects sharing an id\. "
                                         r"Fix: drop the duplicates .*give each subject its own id"):
        validate_trials(df, sort=True)  # never sorted away


def test_sort_puts_shuffled_rows_in_trial_order_with_a_warning():
    df = _table(trial=[0, 2, 1, 0, 1], extra=list("abcde"))
    df.index = [10, 11, 12, 13, 14]
    with pytest.raises(ValueError, match="trials out of order"):
        validate_trials(df)
    with pytest.warns(UserWarning, match=r"^f\.csv: the rows were not in trial order within each subject \(trials "
                                         r"out of order in 1 row: row 2 \[index 12\] \(subject 1, trial 1 after "
                                         r"trial 2\)\); sorted them by \(subject, trial\), the subjects and sessions "
                                         r"in order of first appearance \(2 rows moved\)\. To silence this, sort "
                                         r"the table first: df = df\.sort_values\(\['subject', 'trial'\], "
                                         r"kind='stable'\)$"):
        out = validate_trials(df, sort=True, source="f.csv")
    assert out.index.tolist() == [10, 12, 11, 13, 14] and out["extra"].tolist() == list("acbde")
    assert out["trial"].tolist() == [0, 1, 2, 0, 1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # in order: no warning, same rows
        pd.testing.assert_frame_equal(validate_trials(out, sort=True), validate_trials(out))


def test_sort_makes_a_subjects_sessions_contiguous():
    # valid as a table, but a model would restart at every switch between the sessions
    df = _table(subject=[1, 1, 1, 1, 2], session=["a", "b", "a", "b", "a"], trial=[0, 0, 1, 1, 0])
    assert validate_trials(df).index.tolist() == [0, 1, 2, 3, 4]
    with pytest.warns(UserWarning, match=r"within each subject and session \(the sessions of subject 1 are "
                                         r"interleaved\); sorted them by \(subject, session, trial\)"):
        out = validate_trials(df, sort=True)
    assert out.index.tolist() == [0, 2, 1, 3, 4]


def test_sort_keeps_interleaved_subjects_in_place():
    df = _table(subject=[1, 2, 1, 2, 1], trial=[0, 0, 1, 1, 2])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert validate_trials(df, sort=True).index.tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(TypeError, match="sort must be True or False, got 'yes'"):
        validate_trials(df, sort="yes")
