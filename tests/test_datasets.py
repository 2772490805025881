"""The shipped data sets load as canonical tables with the published facts, with attribution."""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cogmodels.datasets import (
    FONTANESI_PAIRS,
    load_collins_frank_2012,
    load_fontanesi_2019,
    load_hddm_rlddm,
)
from cogmodels.io import read_rlwm_mat
from cogmodels.trials import validate_trials

RAW = Path(__file__).resolve().parents[2] / "shared" / "data" / "raw"
needs_raw = pytest.mark.skipif(not RAW.is_dir(), reason="../shared/data/raw is absent")
DATA = resources.files("cogmodels.data")
SHIPPED = {  # file in cogmodels/data -> (file in ../shared/data/raw, sha256)
    "collins_frank_2012_expe1.mat": ("WMH/Expe1.mat", "6af5270e2c57666984464cf882b34dbe6be39debdedb6995b048c617fb1188aa"),
    "fontanesi_2019_data_experiment.csv": ("rlssm/data_experiment.csv", "f8e8be533d4cace8977882e3ded8b91de41f677c61da15350243361bef937c24"),
    "hddm_rlddm_data.csv": ("hddm/rlddm_data.csv", "7da583ddc29fe34e8974fc5dc56051dd4c225e17663fb0d8133fa7dd5327c550"),
}


@pytest.fixture(scope="module")
def collins():
    return load_collins_frank_2012()


@pytest.fixture(scope="module")
def fontanesi():
    return load_fontanesi_2019()


def test_collins_frank_2012_sizes(collins):
    df = collins
    assert df["subject"].nunique() == 79 and len(df) == 53573
    assert df.groupby("subject")["block"].nunique().eq(18).all()
    assert set(df["set_size"].unique()) == {2, 3, 4, 5, 6}
    assert df["choice"].dtype == pd.Int64Dtype() and df["choice"].isna().sum() == 484
    assert set(df["choice"].dropna().unique()) == {0, 1, 2}
    pd.testing.assert_frame_equal(validate_trials(df, n_actions=3, extra_required=["state", "set_size"]), df)


def test_collins_frank_2012_set_size_effect(collins):
    # Collins & Frank (2012), Fig. 2: late in learning (iterations 6-9) accuracy falls from
    # about 0.98 at set size 2 to about 0.85 at set size 6, monotonically
    late = collins[collins["iteration"].between(6, 9)].groupby("set_size")["correct"].mean()
    assert late.loc[2] > 0.95 and 0.8 < late.loc[6] < 0.9
    assert late.is_monotonic_decreasing
    # and everyone starts at chance: first presentations are correct about 1/3 of the time
    first = collins.loc[collins["iteration"] == 1, "correct"].mean()
    assert first == pytest.approx(1 / 3, abs=0.03)


def test_fontanesi_2019_sizes_and_mapping(fontanesi):
    df = fontanesi
    assert df["subject"].nunique() == 27 and len(df) == 6464
    assert df.groupby("subject").size().between(238, 240).all()
    assert set(df["block"].unique()) == {1, 2, 3} and df.groupby(["subject", "block"]).size().max() == 80
    assert df["choice"].dtype == pd.Int64Dtype() and set(df["choice"].unique()) == {0, 1, 2, 3}
    # choice and unchosen are the two options of the pair shown in `state`
    pairs = np.array(FONTANESI_PAIRS)[df["state"].to_numpy()]
    shown = np.sort(np.c_[df["choice"].to_numpy(int), df["unchosen"].to_numpy(int)], axis=1)
    np.testing.assert_array_equal(shown, pairs)
    # reward is the chosen option's payoff; accuracy 1 means the better option was chosen
    acc = df["accuracy"] == 1
    assert (df.loc[acc, "reward"] == df.loc[acc, "f_cor"]).all()
    assert (df.loc[~acc, "reward"] == df.loc[~acc, "f_inc"]).all()
    assert (df["choice"] == df["cor_option"] - 1).eq(acc).all()
    # payoffs around the four option means of the design (about 36, 40, 50, 54)
    means = pd.concat([df["reward"], df["reward_unchosen"]]).groupby(
        pd.concat([df["choice"].astype(int), df["unchosen"]])).mean()
    np.testing.assert_allclose(means.to_numpy(), [36, 40, 50, 54], atol=1.0)
    assert df["accuracy"].mean() == pytest.approx(0.815, abs=0.005)
    assert df["rt"].between(0.4, 4.0).all()  # seconds
    original = ["participant", "block_label", "trial_block", "f_cor", "f_inc", "cor_option",
                "inc_option", "times_seen", "rt", "accuracy"]
    assert set(original) <= set(df.columns)


def test_data_files_are_attributed_and_only_the_permissive_ones_ship():
    names = {p.name for p in DATA.iterdir() if p.is_file() and not p.name.startswith("__")}
    assert names == {*SHIPPED, "amortised_gru.pt", "NOTICE.md"}
    notice = (DATA / "NOTICE.md").read_text(encoding="utf-8")
    # the one file trained here, not a data set: the meta-trained decoder's weights, a copy of the
    # benchmark's (RESULTS), named with its hash
    weights = (DATA / "amortised_gru.pt").read_bytes()
    assert hashlib.sha256(weights).hexdigest() in notice
    assert weights == (Path(__file__).resolve().parents[1] / "benchmarks" / "figures"
                       / "amortised_gru_k1a2cx_seed1.pt").read_bytes()
    for name, (_, sha) in SHIPPED.items():
        assert name in notice and sha in notice
        assert hashlib.sha256((DATA / name).read_bytes()).hexdigest() == sha
    for text in ("5a31904b12efadf94aa8a6d918feb3fa1d29dd0e", "b8b8b590d31effee6b5309813196114f1c26fe27",
                 "MIT License", "Anne Collins", "Permission is hereby granted", "Collins, A. G. E. & Frank",
                 "Fontanesi, L., Gluth, S., Spektor, M. S. & Rieskamp, J. (2019)"):
        assert text in notice
    for loader in (load_collins_frank_2012, load_fontanesi_2019):
        doc = loader.__doc__
        assert "Licence: MIT" in doc and "commit" in doc and "Cite:" in doc
    # HDDM's data: BSD-2-Clause, whose notice must travel with the copy
    for text in ("19feaa9849619931d306094b48d9803ef9c8d0bd", "Copyright (c) 2012, Thomas V. Wiecki, Imri Sofer, "
                 "Michael J. Frank", "Redistributions in binary form must reproduce the above copyright notice"):
        assert text in notice
    doc = load_hddm_rlddm.__doc__
    assert "Licence: BSD-2-Clause" in doc and "commit" in doc and "Cite:" in doc


@needs_raw
def test_shipped_copies_match_the_raw_files(collins):
    for name, (raw, _) in SHIPPED.items():
        assert (DATA / name).read_bytes() == (RAW / raw).read_bytes()
    pd.testing.assert_frame_equal(collins, read_rlwm_mat(RAW / "WMH" / "Expe1.mat"))
