"""Loaders: round trips, the field's formats, and the real files in ../shared/data/raw."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.io import savemat

from cogmodels.io import (
    HBAYESDM_TASKS,
    RLWM_COLUMNS,
    read_hbayesdm,
    read_rlwm_mat,
    read_trials,
    read_two_step_csv,
    write_trials,
)
from cogmodels.trials import validate_trials

RAW = Path(__file__).resolve().parents[2] / "shared" / "data" / "raw"
needs_raw = pytest.mark.skipif(not RAW.is_dir(), reason="../shared/data/raw is absent")


def _table():
    return pd.DataFrame({
        "subject": ["a", "a", "a", "b", "b"], "session": [0, 0, 1, 0, 0], "block": [1, 1, 1, 2, 2],
        "trial": [1, 2, 1, 0, 7], "state": [0, 1, 0, 2, 1], "choice": [0, np.nan, 2, 1, np.nan],
        "reward": [1.0, np.nan, 0.1 + 0.2, -1.0, 0.0], "rt": [0.5, np.nan, 1 / 3, 0.4, np.nan],
        "choice2": [1, np.nan, np.nan, 1, 0], "note": ["x", "y", "z", "w", "v"],
    })


@pytest.mark.parametrize("name", ["t.csv", "t.parquet", "t.pq"])
def test_write_then_read_gives_the_same_table(tmp_path, name):
    df = _table()
    path = write_trials(df, tmp_path / "sub" / name)
    assert path == tmp_path / "sub" / name and sorted(p.name for p in path.parent.iterdir()) == [name]
    back = read_trials(path)
    expected = validate_trials(df)
    pd.testing.assert_frame_equal(back, expected)  # dtypes, NaN choices and float bits included
    assert back["choice"].isna().tolist() == [False, True, False, False, True]
    assert back["reward"].iloc[2] == 0.1 + 0.2


def test_format_argument_and_content_sniffing(tmp_path):
    df = validate_trials(_table())
    write_trials(df, tmp_path / "t.parquet")
    (tmp_path / "t.parquet").rename(tmp_path / "noext")
    pd.testing.assert_frame_equal(read_trials(tmp_path / "noext"), df)
    write_trials(df, tmp_path / "t.csv")
    (tmp_path / "t.csv").rename(tmp_path / "t.data")
    pd.testing.assert_frame_equal(read_trials(tmp_path / "t.data"), df)
    pd.testing.assert_frame_equal(read_trials(tmp_path / "t.data", format="csv"), df)
    write_trials(df, tmp_path / "table.out", format="parquet")
    pd.testing.assert_frame_equal(read_trials(tmp_path / "table.out", format="parquet"), df)
    df.to_csv(tmp_path / "t.tsv", sep="\t", index=False)
    assert read_trials(tmp_path / "t.tsv")["choice"].dtype == pd.Int64Dtype()


def test_read_and_write_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.csv: no such file"):
        read_trials(tmp_path / "missing.csv")
    (tmp_path / "x.dat").write_text("just words\n")
    with pytest.raises(ValueError, match=r"x\.dat: cannot tell the format.*pass format="):
        read_trials(tmp_path / "x.dat")
    with pytest.raises(ValueError, match=r"format must be one of \['csv', 'tsv', 'parquet'"):
        read_trials(tmp_path / "x.dat", format="xlsx")
    with pytest.raises(ValueError, match=r"t\.xlsx: write_trials writes \.csv or \.parquet"):
        write_trials(_table(), tmp_path / "t.xlsx")
    with pytest.raises(ValueError, match=r"bad\.csv: column 'choice'"):
        write_trials(_table().assign(choice=0.5), tmp_path / "bad.csv")
    assert not list(tmp_path.glob("*.tmp")) and not (tmp_path / "bad.csv").exists()


def test_bad_csv_error_names_file_column_and_row(tmp_path):
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"subject": [1, 1, 1], "trial": [1, 2, 3], "choice": [0, 0.5, 1], "reward": 1}).to_csv(bad, index=False)
    with pytest.raises(ValueError, match=rf"^{bad}: column 'choice': not an integer action index in 1 row: row 1 \(0\.5\)"):
        read_trials(bad)
    with pytest.raises(ValueError, match=r"out of range in 1 row: row 2 \(1\)"):
        bad.write_text("subject,trial,choice,reward\n1,1,0,1\n1,2,0,1\n1,3,1,1\n")
        read_trials(bad, n_actions=1)
    (tmp_path / "renamed.csv").write_text("subjID,trial,choice,reward\n1,1,0,1\n")
    with pytest.raises(ValueError, match=r"renamed\.csv: there is a 'subjID' column but no 'subject': hBayesDM files are tab-separated"):
        read_trials(tmp_path / "renamed.csv", format="csv")


# --- hBayesDM ------------------------------------------------------------------------------------


def _write(path: Path, text: str) -> Path:
    path.write_text(text.replace(" ", "\t"))
    return path


def test_hbayesdm_choice_outcome_format(tmp_path):
    p = _write(tmp_path / "bandit2arm_exampleData.txt", "subjID trial choice outcome\n7 1 1 1\n7 2 2 -1\n8 1 NA NA\n")
    df = read_trials(p)  # a .txt with a subjID column is hBayesDM
    assert df.columns.tolist() == ["subject", "trial", "choice", "reward"]
    assert df["choice"].tolist()[:2] == [0, 1] and df["choice"].isna().tolist() == [False, False, True]
    assert df["reward"].tolist()[:2] == [1.0, -1.0]
    with pytest.raises(ValueError, match=rf"{p}: column 'choice': out of range in 1 row: row 1 \(2\)"):
        _write(p, "subjID trial choice outcome\n7 1 1 1\n7 2 3 -1\n")
        read_hbayesdm(p)
    with pytest.raises(ValueError, match=rf"{p}: column 'outcome': not a number in 1 row: row 0 \('win'\)"):
        _write(p, "subjID trial choice outcome\n7 1 1 win\n")
        read_hbayesdm(p)


def test_hbayesdm_two_step_mapping(tmp_path):
    p = _write(tmp_path / "ts_mine.txt", "subjID trial level1_choice level2_choice reward A1prob\n"
                                           "1 2 1 1 1 .7\n1 3 1 2 0 .6\n1 5 2 3 1 .5\n1 6 2 4 0 .4\n")
    ts = read_hbayesdm(p)
    assert ts[["choice", "state2", "choice2"]].to_numpy().tolist() == [[0, 0, 0], [0, 0, 1], [1, 1, 0], [1, 1, 1]]
    assert ts["trial"].tolist() == [2, 3, 5, 6]  # the file's numbers, gaps included
    assert ts["A1prob"].tolist() == [0.7, 0.6, 0.5, 0.4]
    assert ts["choice2"].dtype == pd.Int64Dtype()


def test_hbayesdm_blocks_gain_loss_and_case(tmp_path):
    p = _write(tmp_path / "prl_multipleB_exampleData.txt",
               "subjID block trial choice outcome choice.RT\n5 1 1 2 25 400\n5 1 2 1 -25 600\n5 2 1 1 25 500\n")
    df = read_hbayesdm(p)
    assert df["trial"].tolist() == [0, 1, 2] and df["trial_in_block"].tolist() == [1, 2, 1]
    assert df["block"].tolist() == [1, 1, 2] and df["rt"].tolist() == [0.4, 0.6, 0.5]  # ms -> s
    assert df["reward"].tolist() == [25.0, -25.0, 25.0]
    q = _write(tmp_path / "mydata.txt", "SUBJID gain loss choice\n1 1 0 4\n1 0 -1 2\n")  # any case
    df = read_hbayesdm(q)  # the name says nothing: the columns give bandit4arm
    assert df["choice"].tolist() == [3, 1] and df["reward"].tolist() == [1.0, -1.0]
    assert df["trial"].tolist() == [0, 1] and df["gain"].tolist() == [1, 0]
    assert read_hbayesdm(q, task="bandit4arm_lapse")["choice"].tolist() == [3, 1]  # a model name
    r = _write(tmp_path / "prl_ewa_subjects.txt", "subjID trial choice outcome\n1 1 2 1\n")
    assert read_hbayesdm(r)["choice"].tolist() == [1]


def test_hbayesdm_errors_list_the_supported_tasks(tmp_path):
    tasks = ["bandit2arm", "bandit4arm", "bandit4arm2", "banditNarm", "dd", "gng", "igt", "prl", "prl_multipleB", "pst", "ts"]
    supported = r"supported tasks: \[" + ", ".join(f"'{t}'" for t in tasks) + r"\]"
    assert sorted(HBAYESDM_TASKS) == tasks
    bart = _write(tmp_path / "bart_exampleData.txt", "subjID group trial reward pumps explosion\n1 0 1 1 14 1\n")
    with pytest.raises(ValueError, match=rf"bart_exampleData\.txt: the file name says hBayesDM task 'bart'.*{supported}"):
        read_hbayesdm(bart)
    odd = _write(tmp_path / "odd.txt", "subjID deck\n1 1\n")
    with pytest.raises(ValueError, match=rf"odd\.txt: cannot tell the hBayesDM task.*{supported}"):
        read_hbayesdm(odd)
    with pytest.raises(ValueError, match=rf"unsupported hBayesDM task 'bart'; {supported}"):
        read_hbayesdm(odd, task="bart")
    with pytest.raises(ValueError, match=r"odd\.txt: an hBayesDM 'ts' file needs the columns .*missing \['trial', 'level1_choice'"):
        read_hbayesdm(odd, task="ts")


def test_hbayesdm_go_nogo_mapping(tmp_path):
    p = _write(tmp_path / "gng_mine.txt", "trialNum cue keyPressed success outcome subjID\n"
                                          "1 1 1 1 1 4\n2 3 0 1 0 4\n3 4 NA 0 -1 4\n1 2 0 1 1 5\n")
    df = read_hbayesdm(p)
    assert df["trial"].tolist() == [1, 2, 3, 1]  # trialNum
    assert df["state"].tolist() == [0, 2, 3, 1] and df["reward"].tolist() == [1.0, 0.0, -1.0, 1.0]
    assert df["choice"].tolist()[:2] == [1, 0] and df["choice"].isna().tolist() == [False, False, True, False]
    assert df["success"].tolist() == [1, 1, 0, 1]  # other columns kept
    assert read_hbayesdm(p, task="gng_m4")["state"].tolist() == [0, 2, 3, 1]  # a model name
    _write(p, "cue keyPressed outcome subjID\n5 1 1 4\n")
    with pytest.raises(ValueError, match=rf"{p}: column 'cue' of an hBayesDM 'gng' file must hold one of \[1, 2, 3, 4\] \(the four cues\), got 1 other value\(s\): row 0 \(5\)"):
        read_hbayesdm(p)
    _write(p, "cue keyPressed outcome subjID\n1 2 1 4\n")
    with pytest.raises(ValueError, match=r"column 'keypressed' of an hBayesDM 'gng' file must hold one of \[0, 1\]"):
        read_hbayesdm(p)


def test_hbayesdm_igt_pst_dd_mapping(tmp_path):
    igt = _write(tmp_path / "igt_mine.txt", "trial choice gain loss subjID\n1 3 50 0 9\n2 1 100 -250 9\n3 2 100 250 9\n")
    df = read_hbayesdm(igt)
    assert df["choice"].tolist() == [2, 0, 1] and df["reward"].tolist() == [50.0, -150.0, -150.0]  # gain - |loss|
    pst = _write(tmp_path / "pst_mine.txt", "subjID type choice reward\n1 12 1 1\n1 56 0 0\n1 43 1 1\n")
    df = read_hbayesdm(pst)
    assert df["option1"].tolist() == [0, 4, 3] and df["option2"].tolist() == [1, 5, 2]
    assert df["choice"].tolist() == [0, 1, 0]  # 0 = option1 chosen (the file's 1)
    assert df["trial"].tolist() == [0, 1, 2] and df["reward"].tolist() == [1.0, 0.0, 1.0]
    _write(pst, "subjID type choice reward\n1 11 1 1\n")
    with pytest.raises(ValueError, match=r"column 'type' of an hBayesDM 'pst' file must hold one of .*two different stimulus digits"):
        read_hbayesdm(pst)
    dd = _write(tmp_path / "dd_mine.txt", "subjID trial delay_later amount_later delay_sooner amount_sooner choice\n"
                                          "2 1 6 10.5 0 10 1\n2 2 170 38.3 0 10 0\n2 3 28 13.4 0 10 NA\n")
    df = read_hbayesdm(dd)
    assert df["choice"].tolist()[:2] == [1, 0] and df["choice"].isna().tolist() == [False, False, True]
    np.testing.assert_array_equal(df["reward"], [10.5, 10.0, np.nan])  # the amount chosen
    assert df["delay_later"].tolist() == [6.0, 170.0, 28.0] and df["amount_sooner"].tolist() == [10.0] * 3
    odd = _write(tmp_path / "choices.txt", "subjID trial delay_later amount_later delay_sooner amount_sooner choice\n1 1 6 10.5 0 10 1\n")
    assert read_hbayesdm(odd)["choice"].tolist() == [1]  # the columns say dd


# --- RLWM .mat and the two-step CSV ---------------------------------------------------------------


def test_rlwm_mat_format(tmp_path):
    # subno block ns time stim image folder iter corA choice key cor rew rt cond pcor delay
    rows = [
        [3, 1, 2, 1, 1, 4, 3, 1, 2, 3, 97, 0, 0, 630, np.nan, 0, np.nan],
        [3, 1, 2, 2, 2, 6, 3, 1, 3, -1, -1, -1, -1, -1, np.nan, 0, np.nan],  # missed
        [3, 1, 2, 3, 1, 4, 3, 2, 2, 2, 98, 1, 1, 410, np.nan, 0, np.nan],
        [3, 2, 3, 1, 3, 1, 2, 1, 1, 0, 0, 0, 0, 0, np.nan, 0, np.nan],  # missed, coded 0
        [5, 1, 2, 1, 2, 2, 1, 1, 1, 1, 99, 1, 0, 500, np.nan, 0, np.nan],  # correct, no reward
    ]
    savemat(tmp_path / "e.mat", {"expe_data": np.array(rows, dtype=float)})
    df = read_trials(tmp_path / "e.mat")
    assert df["subject"].tolist() == [3, 3, 3, 3, 5] and df["trial"].tolist() == [0, 1, 2, 3, 0]
    assert df["trial_in_block"].tolist() == [1, 2, 3, 1, 1] and df["block"].tolist() == [1, 1, 1, 2, 1]
    assert df["state"].tolist() == [0, 1, 0, 2, 1] and df["correct_action"].tolist() == [1, 2, 1, 0, 0]
    assert df["set_size"].tolist() == [2, 2, 2, 3, 2] and df["iteration"].tolist() == [1, 1, 2, 1, 1]
    assert df["choice"].isna().tolist() == [False, True, False, True, False]
    assert df["choice"].dropna().tolist() == [2, 1, 0]
    np.testing.assert_array_equal(df["reward"], [0, np.nan, 1, np.nan, 0])
    np.testing.assert_array_equal(df["correct"], [0, np.nan, 1, np.nan, 1])
    np.testing.assert_allclose(df["rt"], [0.63, np.nan, 0.41, np.nan, 0.5])  # ms -> s
    assert "condition" not in df and len(RLWM_COLUMNS) == 17
    savemat(tmp_path / "other.mat", {"data": np.zeros((2, 17))})
    with pytest.raises(ValueError, match=r"other\.mat: not an RLWM data file: no 'expe_data' matrix \(variables: \['data'\]\)"):
        read_rlwm_mat(tmp_path / "other.mat")


def test_two_step_csv_format(tmp_path):
    p = tmp_path / "ts.csv"
    p.write_text("id,choice1,choice2,state,money\n9_d1,1,2,2,1\n9_d1,2,1,3,0\n9_d1,2,0,3,0\n9_d1,0,0,0,0\n9_d2,1,1,2,1\n")
    df = read_trials(p)  # choice1/choice2 columns mean the two-step CSV
    assert df["subject"].tolist() == ["9"] * 5 and df["session"].tolist() == ["d1"] * 4 + ["d2"]
    assert df["trial"].tolist() == [0, 1, 2, 3, 0]
    # row 2 missed the second stage only: its first-stage choice is kept, choice2 and reward NaN
    assert df["choice"].tolist()[:3] == [0, 1, 1] and df["choice"].isna().tolist() == [False] * 3 + [True, False]
    assert df["state2"].tolist()[:3] == [0, 1, 1] and df["state2"].isna().tolist() == [False] * 3 + [True, False]
    assert df["choice2"].tolist()[:2] == [1, 0] and df["reward"].tolist()[:2] == [1.0, 0.0]
    assert df["choice2"].isna().tolist() == df["reward"].isna().tolist() == [False, False, True, True, False]


# --- the real files in ../shared/data/raw --------------------------------------------------------


@needs_raw
@pytest.mark.parametrize("task", ["bandit2arm", "prl"])
def test_real_hbayesdm_bandit_and_prl(task):
    df = read_trials(RAW / "hBayesDM" / f"{task}_exampleData.txt")
    assert df["subject"].nunique() == 20 and len(df) == 2000
    assert df.groupby("subject")["trial"].agg(["min", "max", "size"]).eq([1, 100, 100]).all().all()
    assert set(df["choice"].unique()) == {0, 1} and set(df["reward"].unique()) == {-1.0, 1.0}
    assert df["choice"].isna().sum() == 0


@needs_raw
def test_real_hbayesdm_two_step():
    df = read_trials(RAW / "hBayesDM" / "ts_exampleData.txt")
    assert df["subject"].nunique() == 11 and len(df) == 2190
    assert df.groupby("subject").size().between(197, 200).all() and df["trial"].max() == 201
    assert set(df["state2"].unique()) == {0, 1} and set(df["choice2"].unique()) == {0, 1}
    # common transitions (first-stage choice a leads to state a) about 70 % of the time
    assert (df["state2"] == df["choice"]).mean() == pytest.approx(0.7, abs=0.03)
    # the reward rate matches the drifting probability of the option chosen (binomial 3 SE)
    p = np.choose((2 * df["state2"] + df["choice2"]).to_numpy(int),
                  [df["A1prob"], df["A2prob"], df["B1prob"], df["B2prob"]])
    assert abs(df["reward"].mean() - p.mean()) < 3 * np.sqrt(0.25 / len(df))


@needs_raw
def test_real_hbayesdm_multiple_blocks_and_four_arms():
    df = read_hbayesdm(RAW / "hBayesDM" / "prl_multipleB_exampleData.txt")
    assert df["subject"].nunique() == 3 and df.groupby(["subject", "block"]).size().eq(200).all()
    assert df["trial"].max() == 599 and df["rt"].median() == pytest.approx(0.39)
    four = read_hbayesdm(RAW / "hBayesDM" / "bandit4arm_exampleData.txt")
    assert four["subject"].nunique() == 10 and len(four) == 2000
    assert set(four["choice"].unique()) == {0, 1, 2, 3} and set(four["reward"].unique()) <= {-1.0, 0.0, 1.0}


@needs_raw
def test_real_hbayesdm_go_nogo():
    df = read_trials(RAW / "hBayesDM" / "gng_exampleData.txt")
    assert df["subject"].nunique() == 10 and df.groupby("subject").size().eq(240).all()
    assert set(df["state"].unique()) == {0, 1, 2, 3} and set(df["choice"].unique()) == {0, 1}
    # go-to-win and no-go-to-win cues (0, 1) never punish; the avoid cues (2, 3) never reward
    assert df.loc[df["state"] < 2, "reward"].isin([0.0, 1.0]).all()
    assert df.loc[df["state"] >= 2, "reward"].isin([-1.0, 0.0]).all()
    # feedback is 80 % valid: 'success' (the response the cue asks for) is followed by the
    # better outcome of its cue 80 % of the time (binomial 3 SE)
    good = np.where(df["state"] < 2, df["reward"] == 1, df["reward"] == 0)
    ok = df["success"] == 1
    assert abs(good[ok].mean() - 0.8) < 3 * np.sqrt(0.16 / ok.sum())


@needs_raw
def test_real_hbayesdm_igt_pst_dd():
    igt = read_trials(RAW / "hBayesDM" / "igt_exampleData.txt")
    assert igt["subject"].nunique() == 4 and len(igt) == 400 and set(igt["choice"].unique()) == {0, 1, 2, 3}
    # Bechara et al. (1994): decks A, B (0, 1) win 100, decks C, D (2, 3) win 50
    assert igt.groupby("choice")["gain"].unique().map(set).tolist() == [{100}, {100}, {50}, {50}]
    pst = read_trials(RAW / "hBayesDM" / "pst_exampleData.txt")
    assert pst["subject"].nunique() == 5 and len(pst) == 1020
    pairs = set(zip(pst["option1"], pst["option2"]))
    assert pairs == {(0, 1), (2, 3), (4, 5)}  # the pairs AB, CD, EF
    chosen = np.where(pst["choice"] == 0, pst["option1"], pst["option2"])
    # stimuli A, C, E reward with p = .8, .7, .6; B, D, F with .2, .3, .4 (Frank et al. 2004)
    rate = pst.groupby(chosen)["reward"].mean()
    n = pst.groupby(chosen).size()
    expected = pd.Series([0.8, 0.2, 0.7, 0.3, 0.6, 0.4])
    assert (abs(rate - expected) < 3 * np.sqrt(expected * (1 - expected) / n)).all()
    dd = read_trials(RAW / "hBayesDM" / "dd_exampleData.txt")
    assert dd["subject"].nunique() == 20 and len(dd) == 2160 and set(dd["choice"].unique()) == {0, 1}
    assert (dd["delay_later"] > dd["delay_sooner"]).all() and (dd["amount_later"] > dd["amount_sooner"]).all()
    # the larger the later amount, the more often it is chosen
    assert dd.loc[dd["amount_later"] > 30, "choice"].mean() > dd.loc[dd["amount_later"] < 15, "choice"].mean()


@needs_raw
def test_real_rlwm_expe1():
    df = read_trials(RAW / "WMH" / "Expe1.mat")
    assert df["subject"].nunique() == 79 and len(df) == 53573
    assert df.groupby("subject")["block"].nunique().eq(18).all()
    assert set(df["set_size"].unique()) == {2, 3, 4, 5, 6}
    assert df["choice"].isna().sum() == 484 and df["reward"].isna().sum() == 484  # kept as NaN
    assert set(df["choice"].dropna().unique()) == {0, 1, 2} and set(df["correct_action"].unique()) == {0, 1, 2}
    assert ((df["state"] >= 0) & (df["state"] < df["set_size"])).all()
    # trial is the order within subject; deterministic feedback: reward == (choice == correct)
    assert df.groupby("subject")["trial"].apply(lambda t: t.tolist() == list(range(len(t)))).all()
    ok = df["choice"].notna()
    assert (df.loc[ok, "reward"] == (df.loc[ok, "choice"] == df.loc[ok, "correct_action"])).all()
    assert df["rt"].between(0, 1.5).sum() == 53573 - 484  # seconds, 1.5 s response window
    assert df["iteration"].between(1, 15).all()


@needs_raw
def test_real_rlwm_expe14_probabilistic_feedback():
    df = read_rlwm_mat(RAW / "WMH" / "Expe14.mat")
    assert df["subject"].nunique() == 35 and len(df) == 30540 and set(df["set_size"].unique()) == {3, 6}
    ok = df["choice"].notna()
    assert ((df.loc[ok, "choice"] == df.loc[ok, "correct_action"]) == df.loc[ok, "correct"]).all()
    # feedback is probabilistic: the reward differs from correctness on some trials
    assert (df.loc[ok, "reward"] != df.loc[ok, "correct"]).mean() > 0.1
    assert set(df["condition"].unique()) == {0.0, 1.0}


@needs_raw
def test_real_two_step_csv():
    df = read_two_step_csv(RAW / "daw" / "luna_habit.csv")
    assert len(df) == 23200 and df["subject"].nunique() == 116
    assert df.groupby(["subject", "session"]).size().eq(200).all()
    assert set(df["state2"].dropna().unique()) == {0, 1} and df["choice"].isna().sum() == 234
    ok = df["choice"].notna()
    assert (df.loc[ok, "state2"] == df.loc[ok, "choice"]).mean() == pytest.approx(0.7, abs=0.03)


# --- damaged and mistaken files: each names the file and what was wrong ------------------------


def _err(path: Path, **kwargs) -> str:
    with pytest.raises(ValueError) as err:
        read_trials(path, **kwargs)
    return str(err.value)


GOOD = "subject,trial,choice,reward\n1,0,0,1\n1,1,1,0\n2,0,1,1\n2,1,0,0\n"


def test_compression_that_does_not_match_the_name(tmp_path):
    import gzip

    plain = tmp_path / "t.csv.gz"
    plain.write_text(GOOD)
    assert _err(plain) == (f"{plain}: the name ends in .gz but the file is not gzip-compressed (it starts "
                           f"with b'subject,'); if it is plain text, rename it without .gz")
    hidden = tmp_path / "t.csv"
    hidden.write_bytes(gzip.compress(GOOD.encode(), mtime=0))
    assert _err(hidden) == (f"{hidden}: the file is gzip-compressed but its name does not end in .gz: "
                            f"rename it t.csv.gz (or decompress it)")
    plain.write_bytes(gzip.compress(GOOD.encode(), mtime=0)[:30])
    assert _err(plain) == (f"{plain}: the gzip data is damaged or truncated (Compressed file ended "
                           f"before the end-of-stream marker was reached); copy or export the file again")
    plain.write_bytes(gzip.compress(GOOD.encode(), mtime=0))
    pd.testing.assert_frame_equal(read_trials(plain), read_trials(_text(tmp_path / "p.csv", GOOD)))
    (tmp_path / "t.parquet.gz").write_bytes(b"x")
    assert "a compressed (.gz) trial table must be text named .csv.gz, .tsv.gz or .txt.gz" in _err(tmp_path / "t.parquet.gz")


def _text(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_damaged_parquet_names_the_file(tmp_path):
    path = write_trials(_table(), tmp_path / "t.parquet")
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0xFF  # inside a data page: the page checksum catches it
    path.write_bytes(bytes(data))
    assert _err(path).startswith(f"{path}: not a Parquet file pyarrow can read, or a damaged one (")
    assert _err(path).endswith("); write or copy it again")
    (tmp_path / "e.parquet").write_bytes(b"")
    assert _err(tmp_path / "e.parquet").startswith(f"{tmp_path / 'e.parquet'}: not a Parquet file pyarrow can read")


def test_text_that_is_not_utf8_or_holds_nul_bytes(tmp_path):
    latin = tmp_path / "latin.csv"
    latin.write_bytes("subject,trial,choice,reward\nJosé,0,0,1\n".encode("latin-1"))
    assert _err(latin) == (
        f"{latin}: not UTF-8 text: byte e9 at line 2, column 4 cannot be decoded; save the file as "
        f"UTF-8 (spreadsheet programs call it 'CSV UTF-8'), or pass encoding= (e.g. 'latin-1') to read_trials"
    )
    assert read_trials(latin, encoding="latin-1")["subject"].tolist() == ["José"]
    nul = tmp_path / "nul.csv"
    nul.write_bytes(GOOD.replace("2,0,1,1", "2\x00,0,1,1").encode())
    assert _err(nul) == (
        f"{nul}: line 4 holds a NUL byte: this is not a plain text table (a binary or damaged file, or "
        f"UTF-16 text without its byte-order mark); export it again as a UTF-8 CSV"
    )
    utf16 = tmp_path / "u16.csv"
    utf16.write_bytes(GOOD.encode("utf-16"))  # with its byte-order mark: read as text
    pd.testing.assert_frame_equal(read_trials(utf16), read_trials(_text(tmp_path / "p.csv", GOOD)))


def test_empty_and_header_only_files(tmp_path):
    for name in ("e.csv", "e.txt", "e.parquet.csv"):
        (tmp_path / name).write_text("" if name != "e.txt" else "\n  \n")
        assert _err(tmp_path / name) == (
            f"{tmp_path / name}: the file is empty: a trial table needs a header line (subject, trial, "
            f"choice, reward ...) and one line per trial"
        )
    head = _text(tmp_path / "h.csv", "subject,trial,choice,reward\n")
    assert _err(head) == (f"{head}: the file has a header (subject, trial, choice, reward) but no rows: "
                          f"a trial table needs one line per trial")
    two = _text(tmp_path / "ts.csv", "id,choice1,choice2,state,money\n")
    assert _err(two) == (f"{two}: the file has a header (id, choice1, choice2, state, money) but no rows: "
                         f"a trial table needs one line per trial")
    hb = _write(tmp_path / "bandit2arm_x.txt", "subjID trial choice outcome\n")
    assert _err(hb).startswith(f"{hb}: the file has a header (subjID, trial, choice, outcome) but no rows")


def test_ragged_rows_are_named_by_line(tmp_path):
    path = _text(tmp_path / "r.csv", "subject,trial,choice,reward\n1,0,0,1,5,6\n1,1,0,1\n1,2,0\njunk\n")
    assert _err(path) == (
        f"{path}: the header has 4 comma-separated fields, but line 2 has 6, line 4 has 3, line 5 has 1; "
        f"every line must have one field per column (empty for a missing value): fix those lines"
    )
    blank_lines = _text(tmp_path / "b.csv", "subject,trial,choice,reward\n\n1,0,0,1\n   \n1,1,0,1\n")
    assert len(read_trials(blank_lines)) == 2  # blank lines are skipped, as pandas does


def test_stray_quotes_that_swallow_rows_are_refused(tmp_path):
    rows = [f"{s},{t},{t % 2},1" for s in (1, 2) for t in range(12)]
    rows[2] = '"' + rows[2]
    rows[22] = rows[22].replace(",", '",', 1)  # the second quote closes a field 20 rows later
    path = _text(tmp_path / "q.csv", "subject,trial,choice,reward\n" + "\n".join(rows) + "\n")
    assert _err(path) == (
        f"{path}: a quoted field runs across line breaks in lines 4-24: a stray quote (\") swallows the "
        f"lines after it; remove or pair the quote. (A table whose text cells really hold line breaks: "
        f"read it with pandas.read_csv and pass it to cogmodels.trials.validate_trials.)"
    )
    one = _text(tmp_path / "one.csv", "subject,trial,choice,reward\n1,0,0,1\n\"1,1,0,1\n1,2,0,1\n")
    assert "a quoted field runs across line breaks in lines 3-4" in _err(one)


def test_subject_ids_that_look_like_parsing_accidents(tmp_path):
    def table(ids):
        return "subject,trial,choice,reward\n" + "".join(f"{s},{t},0,1\n" for t, s in enumerate(ids))

    path = _text(tmp_path / "ids.csv", table(["s01", "s01", '"s0\x01"', "s02", "x" * 80]))
    assert _err(path) == (
        f"{path}: column 'subject': 2 subject id(s) look like parsing accidents, not ids: row 2 "
        f"('s0\\x01' holds a control character); row 4 ('xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'... is 80 "
        f"characters long (the typical id: 3)). Look in the file near those rows for a stray quote, a NUL "
        f"or junk line, fix it, and read the file again"
    )
    path = _text(tmp_path / "ids2.csv", table(['"a,b"', '"c""d"']))
    msg = _err(path)
    assert "row 0 ('a,b' holds a delimiter); row 1 ('c\"d' holds a quote)" in msg
    ok = _text(tmp_path / "ok.csv", table(["sub-01", "sub-01", "P 2 (pilot)", "ä_3"]))
    assert read_trials(ok)["subject"].nunique() == 3
    hb = _write(tmp_path / "bandit2arm_x.txt", 'subjID trial choice outcome\n"a\x02" 1 1 1\n')
    assert "column 'subjid': 1 subject id(s) look like parsing accidents" in _err(hb)


def test_a_comma_csv_with_subjid_is_not_taken_for_hbayesdm(tmp_path):
    for name in ("sj.csv", "sj.txt"):
        path = _text(tmp_path / name, "subjID,trial,choice,outcome\n1,1,1,1\n1,2,2,-1\n")
        assert _err(path) == (
            f"{path}: there is a 'subjID' column but no 'subject': hBayesDM files are tab-separated .txt, "
            f"and this comma-separated file is read as a canonical trial table (columns subject, trial, "
            f"choice, reward; choices counted from 0). Either save it tab-separated as "
            f"<task>_exampleData.txt to read it as hBayesDM (choices from 1), or rename 'subjID' to "
            f"'subject' and code the choices from 0"
        )
    hb = _text(tmp_path / "bandit2arm_c.txt", "subjID,trial,choice,outcome\n1,1,1,1\n")
    assert _err(hb, format="hbayesdm") == (
        f"{hb}: the header 'subjID,trial,choice,outcome' is comma-separated, but hBayesDM files are "
        f"tab-separated: save it with tabs between the columns")
    comma_txt = _text(tmp_path / "c.txt", GOOD)  # a comma-separated .txt reads as CSV
    assert len(read_trials(comma_txt)) == 4


def test_two_step_csv_codes_are_checked(tmp_path):
    path = _text(tmp_path / "ts.csv", "id,choice1,choice2,state,money\n9_a,1,2,2,1\n9_a,-1,2,5,0\n")
    assert _err(path) == (
        f"{path}: column 'choice1' must hold one of [0, 1, 2] (0 for no response or no second stage), "
        f"got 1 other value(s): row 1 (-1); fix the file"
    )
    path.write_text("id,choice1,choice2,state,money\n9_a,1,2,2,1\n9_a,x,2,3,0\n")
    assert _err(path) == (
        f"{path}: column 'choice1': not a number in 1 row: row 1 ('x'). two-step CSV files hold numbers "
        f"in choice1, choice2, state and money: fix the file"
    )


def test_rlwm_mat_with_huge_or_empty_values(tmp_path):
    savemat(tmp_path / "e.mat", {"expe_data": np.zeros((0, 17))})
    assert _err(tmp_path / "e.mat") == (
        f"{tmp_path / 'e.mat'}: 'expe_data' must be trials × at least 14 columns (['subno', 'block', 'ns', "
        f"'time', 'stimseq', 'imageseq', 'folderseq', 'iterseq', 'corAseq', 'choice', 'key', 'cor', "
        f"'rew', 'rt']) with at least one trial, got shape (0, 17)"
    )
    row = [3, 1, 2, 1, 1, 4, 3, 1, 2, 3, 97, 0, 0, 630, np.nan, 0, np.nan]
    row[0] = 1e300
    savemat(tmp_path / "h.mat", {"expe_data": np.array([row], dtype=float)})
    assert "column 'subno' of 'expe_data' must hold integers; 1 row(s) do not" in _err(tmp_path / "h.mat")
    savemat(tmp_path / "c.mat", {"expe_data": "text"})
    assert _err(tmp_path / "c.mat").startswith(f"{tmp_path / 'c.mat'}: 'expe_data' must be a numeric matrix")


def test_reader_options_a_format_does_not_take_are_refused_by_name(tmp_path):
    mat = tmp_path / "e.mat"
    savemat(mat, {"expe_data": np.array([[3, 1, 2, 1, 1, 4, 3, 1, 2, 3, 97, 0, 0, 630, np.nan, 0, np.nan]])})
    with pytest.raises(TypeError, match=r"e\.mat: read_trials got sep= for a 'rlwm_mat' file, whose reader "
                                        r"takes n_actions=, and no other options"):
        read_trials(mat, sep=";")
    with pytest.raises(TypeError, match=r"e\.mat: encoding= applies to text formats .*; a 'rlwm_mat' file is "
                                        r"binary, got encoding='latin-1'"):
        read_trials(mat, encoding="latin-1")
    with pytest.raises(ValueError, match=r"e\.mat: column 'choice': out of range in 1 row: row 0 \(2\)\. Expected integers 0\.\.1"):
        read_trials(mat, n_actions=2)  # choice 2 (0-based) does not fit 2 actions: n_actions is applied
    ts = tmp_path / "ts.csv"
    ts.write_bytes("id,choice1,choice2,state,money\nJosé_d1,1,2,2,1\n".encode("latin-1"))
    assert read_trials(ts, encoding="latin-1")["subject"].tolist() == ["José"]
    assert read_trials(ts, format="two_step_csv", encoding="latin-1")["choice2"].tolist() == [1]
    with pytest.raises(TypeError, match=r"ts\.csv: read_trials got task=, sep= for a 'two_step_csv' file, "
                                        r"whose reader takes n_actions=, encoding=, and no other options"):
        read_trials(ts, encoding="latin-1", task="ts", sep=",")
    hb = tmp_path / "bandit2arm_exampleData.txt"
    hb.write_text("subjID\ttrial\tchoice\toutcome\n1\t1\t1\t1\n1\t2\t2\t-1\n")
    assert read_trials(hb, format="hbayesdm", task="bandit2arm", encoding="utf-8")["choice"].tolist() == [0, 1]
    with pytest.raises(TypeError, match=r"read_trials got sep= for a 'hbayesdm' file, whose reader takes "
                                        r"n_actions=, encoding=, and task="):
        read_trials(hb, sep="\t")
