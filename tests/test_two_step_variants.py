"""Two-step variants: one α and β, stickiness in value units, stakes (Kool et al. 2017), and
trials whose second-stage response was missed."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cogmodels  # noqa: F401
from cogmodels.io import read_kool_arbitration, read_two_step_csv
from cogmodels.likelihood import log_likelihood, trial_arrays
from cogmodels.models import make_model
from cogmodels.simulate import simulate

RAW = Path(__file__).resolve().parents[2] / "shared" / "data" / "raw"
LUNA = RAW / "daw" / "luna_habit.csv"
KOOL = RAW / "arbitration"
TWO_STEP = "cogmodels/TwoStep-v0"
STAKES = "cogmodels/TwoStepStakes-v0"
HYBRID = {"alpha1": 0.6, "alpha2": 0.3, "beta1": 4.0, "beta2": 2.5, "lam": 0.7, "w": 0.4, "kappa": 0.8}


def _rowwise(model, params, df) -> np.ndarray:
    """Each row's log-likelihood (both stages summed), aligned with the rows of ``df``."""
    data = trial_arrays(df, model)
    lp = log_likelihood(model, params, data, trialwise=True).T  # (trials, subjects)
    out = np.full(len(df), np.nan)
    keep = data.row_index >= 0
    out[data.row_index[keep]] = lp[keep]
    return out


def _reference_hybrid(df: pd.DataFrame, p: dict) -> tuple[np.ndarray, np.ndarray]:
    """Daw et al. (2011)'s hybrid written out trial by trial, one session at a time: the first-
    and second-stage log-probabilities of each row (NaN where that choice is missing). A trial
    without a second-stage choice updates nothing."""
    lp1, lp2 = np.full(len(df), np.nan), np.full(len(df), np.nan)
    keys = ["subject", "session"] if "session" in df.columns else ["subject"]
    for _, g in df.groupby(keys, sort=False):
        q_mf, q2, prev = np.zeros(2), np.zeros((2, 2)), np.zeros(2)
        for i, a1, s2, a2, r in zip(g.index, g["choice"], g["state2"], g["choice2"], g["reward"]):
            if pd.isna(a1):
                continue
            a1, s2 = int(a1), int(s2)
            best = q2.max(axis=1)
            q_mb = np.array([0.7 * best[0] + 0.3 * best[1], 0.7 * best[1] + 0.3 * best[0]])
            logits = p["beta1"] * (p["w"] * q_mb + (1 - p["w"]) * q_mf) + p["kappa"] * prev
            lp1[i] = logits[a1] - np.log(np.exp(logits).sum())
            if pd.isna(a2):
                continue
            a2 = int(a2)
            logits = p["beta2"] * q2[s2]
            lp2[i] = logits[a2] - np.log(np.exp(logits).sum())
            d1 = q2[s2, a2] - q_mf[a1]
            d2 = r - q2[s2, a2]
            q_mf[a1] += p["alpha1"] * (d1 + p["lam"] * d2)
            q2[s2, a2] += p["alpha2"] * d2
            prev = np.eye(2)[a1]
    return lp1, lp2


# -- a missed second stage: the first-stage choice counts, nothing is learnt ----------------------


def test_missed_second_stage_scores_the_first_stage_only():
    df = pd.DataFrame({"subject": 0, "trial": range(6), "choice": [0, 1, 1, 0, 0, 1],
                       "state2": [0, 1, 0, 0, 1, 1], "choice2": [1, 0, np.nan, 1, 0, 1],
                       "reward": [1.0, 0.0, np.nan, 1.0, 1.0, 0.0]})
    model = make_model("two_step_hybrid")
    lp = _rowwise(model, HYBRID, df)
    lp1, lp2 = _reference_hybrid(df, HYBRID)
    np.testing.assert_allclose(lp, lp1 + np.nan_to_num(lp2), rtol=1e-12)
    assert lp[2] == pytest.approx(lp1[2]) and lp[2] < 0
    # the state is untouched by trial 2: the later trials score as if it had not happened
    kept = _rowwise(model, HYBRID, df.drop(index=2).assign(trial=lambda d: range(len(d))))
    np.testing.assert_allclose(lp[[3, 4, 5]], kept[[2, 3, 4]], rtol=1e-12)


@pytest.mark.realdata
@pytest.mark.skipif(not LUNA.is_file(), reason=f"{LUNA} is absent")
def test_real_two_step_csv_keeps_first_stage_of_missed_second_stages():
    df = read_two_step_csv(LUNA)
    half = (df["choice"].notna() & df["choice2"].isna()).to_numpy()
    assert half.sum() == 126
    assert df.loc[half, "state2"].notna().all() and df.loc[half, "reward"].isna().all()
    model = make_model("two_step_hybrid")
    lp = _rowwise(model, HYBRID, df)
    lp1, lp2 = _reference_hybrid(df, HYBRID)
    # the 126 trials add exactly their first-stage terms; every other trial both stages
    assert lp[half].sum() == pytest.approx(lp1[half].sum(), rel=1e-10)
    np.testing.assert_allclose(lp[half], lp1[half], rtol=1e-10)
    full = df["choice2"].notna().to_numpy()
    np.testing.assert_allclose(lp[full], lp1[full] + lp2[full], rtol=1e-10)
    assert (lp[df["choice"].isna().to_numpy()] == 0).all()


# -- structure options: exact equivalences ---------------------------------------------------------


@pytest.fixture(scope="module")
def two_step_trials():
    model = make_model("two_step_hybrid")
    return simulate(model, HYBRID, TWO_STEP, n_subjects=3, seed=4, env_kwargs={"n_trials": 80},
                    latents=False, progress=False).trials


def test_shared_alpha_beta_is_the_hybrid_with_equal_rates(two_step_trials):
    shared = make_model("two_step_hybrid", shared_alpha_beta=True)
    assert shared.param_names == ("alpha", "beta", "lam", "w", "kappa")
    assert make_model("two_step_mb", shared_alpha_beta=True).param_names == ("alpha", "beta", "kappa")
    p = {"alpha": 0.35, "beta": 3.5, "lam": 0.6, "w": 0.7, "kappa": 0.4}
    full = {"alpha1": 0.35, "alpha2": 0.35, "beta1": 3.5, "beta2": 3.5, "lam": 0.6, "w": 0.7, "kappa": 0.4}
    np.testing.assert_allclose(log_likelihood(shared, p, two_step_trials),
                               log_likelihood(make_model("two_step_hybrid"), full, two_step_trials), rtol=1e-12)


def test_value_stickiness_is_logit_stickiness_times_beta1(two_step_trials):
    value = make_model("two_step_hybrid", value_stickiness=True)
    logit = make_model("two_step_hybrid")
    p = {**HYBRID, "kappa": 0.3}
    ll_value = log_likelihood(value, p, two_step_trials)
    np.testing.assert_allclose(ll_value, log_likelihood(logit, {**p, "kappa": 0.3 * p["beta1"]}, two_step_trials),
                               rtol=1e-12)
    assert not np.allclose(ll_value, log_likelihood(logit, p, two_step_trials))


def test_value_stickiness_needs_stickiness():
    with pytest.raises(ValueError, match=r"value_stickiness=True .* needs stickiness=True; got stickiness=False"):
        make_model("two_step_hybrid", stickiness=False, value_stickiness=True)


# -- the stakes model -------------------------------------------------------------------------------


def test_stakes_model_uses_w_of_the_stake_and_learns_from_the_win(two_step_trials):
    stakes = make_model("two_step_stakes")
    assert stakes.param_names == ("alpha", "beta", "lam", "w_low", "w_high", "kappa")
    hybrid = make_model("two_step_hybrid", shared_alpha_beta=True, value_stickiness=True, initial_value=0.5)
    p = {"alpha": 0.4, "beta": 4.0, "lam": 0.5, "kappa": 0.2}
    for stake, w in ((1.0, "w_low"), (5.0, "w_high")):
        points = two_step_trials.assign(stakes=stake, reward=two_step_trials["reward"] * stake)
        ll = log_likelihood(stakes, {**p, "w_low": 0.2, "w_high": 0.9}, points)
        expected = log_likelihood(hybrid, {**p, "w": {"w_low": 0.2, "w_high": 0.9}[w]}, two_step_trials)
        np.testing.assert_allclose(ll, expected, rtol=1e-12)


def test_stakes_model_checks_its_high_stakes():
    with pytest.raises(ValueError, match=r"high_stakes must be a finite number in \(0"):
        make_model("two_step_stakes", high_stakes=0.0)
    with pytest.raises(ValueError, match=r"model 'two_step_stakes' needs columns .* missing \['stakes'\]"):
        trial_arrays(pd.DataFrame({"subject": 0, "trial": [0], "choice": [0], "choice2": [1], "state2": [0],
                                   "reward": [1.0]}), make_model("two_step_stakes"))


@pytest.mark.slow
def test_stakes_model_recovers_w_low_below_w_high():
    """6 simulated subjects × 200 trials (Kool et al.'s length) with w_low = 0.2, w_high = 0.8
    (the other parameters near Kool et al. 2017's group means); single-subject MLE. The group
    mean of w_high - w_low came out 0.66, 0.61, 0.71 at seeds 0-2 (per-subject s.d. about 0.3,
    so a standard error near 0.13): 0.25 is about three standard errors below 0.6."""
    from cogmodels.fits.recovery import parameter_recovery

    model = make_model("two_step_stakes")
    truth = {"alpha": 0.5, "beta": 5.0, "lam": 0.6, "w_low": 0.2, "w_high": 0.8, "kappa": 0.3}
    n = 6
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = parameter_recovery(model, STAKES, params={k: np.full(n, v) for k, v in truth.items()},
                                 env_kwargs={"n_trials": 200}, seed=0, n_starts=1, progress=False)
    fitted = res.table.pivot(index="subject", columns="param", values="fitted")
    assert (fitted["w_high"] - fitted["w_low"]).mean() > 0.25
    assert fitted["alpha"].mean() == pytest.approx(0.5, abs=0.1)
    assert fitted["beta"].mean() == pytest.approx(5.0, abs=1.0)


# -- Kool et al. (2017) data ------------------------------------------------------------------------


@pytest.mark.realdata
@pytest.mark.skipif(not (KOOL / "data.mat").is_file(), reason=f"{KOOL / 'data.mat'} is absent (no licence: never shipped)")
def test_real_kool_arbitration_counts():
    from scipy.io import loadmat

    df = read_kool_arbitration(KOOL / "data.mat")
    ids = loadmat(KOOL / "subinfo.mat", squeeze_me=True)["subinfo"][:, 0]
    # subinfo lists the 100 subjects; data holds 225 rows each: 25 practice trials, then 200
    assert len(ids) == 100 and set(df["subject"]) == set(ids) and len(df) == 100 * 225
    per = df.groupby("subject")
    assert per.size().eq(225).all() and per["practice"].sum().eq(25).all()
    assert per["practice"].apply(lambda s: s.iloc[:25].all()).all()
    main = df[~df["practice"]]
    assert set(main["stakes"]) == {1.0, 5.0}
    # missed responses (rt = -1 in the file): 294 at the first stage, 529 at the second only
    assert main["choice"].isna().sum() == 294
    assert (main["choice"].notna() & main["choice2"].isna()).sum() == 529
    done = main["reward"].notna()
    assert set((main.loc[done, "reward"] / main.loc[done, "stakes"]).unique()) == {0.0, 1.0}
    assert main["common"].mean() == pytest.approx(0.7, abs=0.02)


# -- Kool et al. (2016)'s deterministic task --------------------------------------------------------


def test_kool_two_step_equations():
    model = make_model("kool_two_step", initial_value=4.5)
    p = model.check_params({"alpha": 0.5, "beta": 0.8, "lam": 0.6, "w_low": 0.2, "w_high": 0.9, "kappa": 0.3})
    state = model.initial_state(p)
    # state 1, action 0 -> second-stage state 0, 6 points at stake 5 (reward 30)
    obs = {"state": np.array([1.0]), "stakes": np.array([5.0])}
    state = model.update(state, obs, np.array([0]), np.array([30.0]), obs)
    d1, d2 = 4.5 - 4.5, 6.0 - 4.5
    np.testing.assert_allclose(state["q_mf"][0], [[4.5, 4.5], [4.5 + 0.5 * (d1 + 0.6 * d2), 4.5]])
    np.testing.assert_allclose(state["q2"][0], [4.5 + 0.5 * d2, 4.5])
    for s1, stake, w in ((1.0, 1.0, 0.2), (1.0, 5.0, 0.9), (0.0, 5.0, 0.9)):
        q = w * np.array([5.25, 4.5]) + (1 - w) * state["q_mf"][0, int(s1)]
        q = q + 0.3 * np.array([s1 == 1.0, 0.0])  # stickiness only in the state of the last trial
        e = np.exp(0.8 * q)
        probs = model.action_probabilities(state, {"state": np.array([s1]), "stakes": np.array([stake])})
        np.testing.assert_allclose(probs[0], e / e.sum())


@pytest.mark.slow
def test_kool_two_step_recovers_w_low_below_w_high():
    """6 simulated subjects × 200 trials (Kool et al.'s length), w_low = 0.2, w_high = 0.8; the
    fitted difference has a group mean near 0.6 (0.66 at this seed; per-subject s.d. about 0.3)."""
    from cogmodels.fits.recovery import parameter_recovery

    model = make_model("kool_two_step")
    truth = {"alpha": 0.5, "beta": 1.0, "lam": 0.6, "w_low": 0.2, "w_high": 0.8, "kappa": 0.3}
    n = 6
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = parameter_recovery(model, "cogmodels/KoolTwoStep-v0", params={k: np.full(n, v) for k, v in truth.items()},
                                 env_kwargs={"n_trials": 200}, seed=0, n_starts=1, progress=False)
    fitted = res.table.pivot(index="subject", columns="param", values="fitted")
    assert (fitted["w_high"] - fitted["w_low"]).mean() > 0.3
    assert fitted["alpha"].mean() == pytest.approx(0.5, abs=0.1)
    assert fitted["beta"].mean() == pytest.approx(1.0, abs=0.25)


def _kool_mat(path: Path, rows: list[list]) -> Path:
    from scipy.io import savemat

    cells = np.empty((len(rows), len(rows[0])), dtype=object)
    for i, row in enumerate(rows):
        for j, v in enumerate(row):
            cells[i, j] = v
    savemat(path, {"data": cells})
    return path


def test_kool_novel_task_layout(tmp_path):
    # id, state1, stim_left, stim_right, rt_1, choice1, response1, rt_2, points, state2, stake,
    # score, practice, rews1, rews2, trial, time_elapsed
    p = _kool_mat(tmp_path / "data.mat", [
        ["Sub1", 2, 4, 3, 717, 4, 70, 496, 4, 2, 1, 4, 1, 7, 4, 0, 1000],
        ["Sub1", 1, 1, 2, 500, 1, 70, 300, 7, 1, 5, 39, 0, 7, 4, 0, 2000],
        ["Sub1", 1, 2, 1, -1, -1, -1, -1, 0, -1, 5, 39, 0, 6, 5, 1, 3000],
        ["Sub2", 2, 3, 4, 650, 3, 74, -1, 0, 1, 1, 0, 0, 3, 2, 0, 1000],
    ])
    df = read_kool_arbitration(p)
    assert df["state"].tolist() == [1, 0, 0, 1] and df["practice"].tolist() == [True, False, False, False]
    assert df["choice"].tolist()[:2] == [1, 0] and df["choice"].isna().tolist() == [False, False, True, True]
    assert df["reward"].tolist()[:2] == [4.0, 35.0] and df["stakes"].tolist() == [1.0, 5.0, 5.0, 1.0]
    assert df["trial"].tolist() == [0, 1, 2, 0] and df["rt"].tolist()[:2] == [0.717, 0.5]
    bad = _kool_mat(tmp_path / "bad.mat", [["Sub1", 3, 4, 3, 717, 4, 70, 496, 4, 2, 1, 4, 1, 7, 4, 0, 1000]])
    with pytest.raises(ValueError, match=r"bad\.mat: column 'state1' of 'data' must hold one of \[1, 2\]; 1 row\(s\) do not"):
        read_kool_arbitration(bad)
    short = _kool_mat(tmp_path / "short.mat", [["Sub1", 1, 2, 3]])
    with pytest.raises(ValueError, match=r"short\.mat: not a Kool et al\. two-step-with-stakes file: .* shape \(1, 4\)"):
        read_kool_arbitration(short)


def test_read_trials_tells_kool_mat_files_from_rlwm_ones(tmp_path):
    # `cogmodels fit data.mat` reads through read_trials: a Kool et al. file (a 'data' cell
    # array) went to the RLWM reader and was refused ("no 'expe_data' matrix")
    from scipy.io import savemat

    from cogmodels.io import read_trials

    p = _kool_mat(tmp_path / "data.mat", [
        ["Sub1", 2, 4, 3, 717, 4, 70, 496, 4, 2, 1, 4, 1, 7, 4, 0, 1000],
        ["Sub1", 1, 1, 2, 500, 1, 70, 300, 7, 1, 5, 39, 0, 7, 4, 0, 2000],
    ])
    pd.testing.assert_frame_equal(read_trials(p), read_kool_arbitration(p))
    pd.testing.assert_frame_equal(read_trials(p, format="kool_mat"), read_kool_arbitration(p))
    savemat(tmp_path / "other.mat", {"trials": np.zeros((2, 3))})  # neither layout: the RLWM error
    with pytest.raises(ValueError, match=r"other\.mat: not an RLWM data file: no 'expe_data' matrix \(variables: \['trials'\]\)"):
        read_trials(tmp_path / "other.mat")
    with pytest.raises(TypeError, match=r"read_trials got sep= for a 'kool_mat' file"):
        read_trials(p, sep=",")
