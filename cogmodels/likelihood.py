"""Batched log-likelihood of observed choices under a model, over many lanes at once.

The trial table is turned once into padded ``(subjects, trials)`` arrays
(:func:`trial_arrays`); :func:`log_likelihood` then runs the model's own
``action_probabilities`` / ``update`` over every lane together, looping only over trials.
Missing responses (NaN choice) and padding are skipped: they add nothing to the likelihood and
leave the state unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cogmodels.model import CognitiveModel, merge_state, pick

__all__ = ["TrialArrays", "log_likelihood", "trial_arrays"]

@dataclass
class TrialArrays:
    """A trial table as padded arrays, one row per subject."""

    subjects: np.ndarray  # (S,) subject ids, in order of first appearance
    choice: np.ndarray  # (S, T) int64, -1 where missing or padding
    reward: np.ndarray  # (S, T) float64, 0 where missing
    valid: np.ndarray  # (S, T) bool
    observations: dict[str, np.ndarray]  # column -> (S, T)
    block_start: np.ndarray  # (S, T) bool, True on the first trial of a new block (t > 0)
    row_index: np.ndarray  # (S, T) int64 position of the row in the table, -1 for padding

    @property
    def n_subjects(self) -> int:
        return self.choice.shape[0]

    @property
    def n_valid(self) -> np.ndarray:
        return self.valid.sum(axis=1)


def trial_arrays(df: pd.DataFrame, model: CognitiveModel, *, source: str | None = None) -> TrialArrays:
    """Check that ``model`` can explain ``df`` and pad it into arrays.

    Raises ``ValueError`` before any optimisation when a column the model needs is missing or a
    choice lies outside the model's actions.
    """
    where = f"{source}: " if source else ""
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame (a trial table), got {type(df).__name__}")
    needed = ["subject", "choice", "reward", *model.observation_columns]
    if model.reset_on_block:
        needed.append("block")
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise ValueError(
            f"{where}model {model.name!r} needs columns {needed}; missing {missing} "
            f"(columns present: {list(df.columns)})"
        )
    choice = pd.to_numeric(df["choice"], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    ok = np.isnan(choice) | ((choice >= 0) & (choice < model.n_actions) & (choice == np.round(choice)))
    if not ok.all():
        rows = np.flatnonzero(~ok)
        raise ValueError(
            f"{where}column 'choice': rows {rows[:10].tolist()} hold {choice[rows[:10]].tolist()}, "
            f"outside the {model.n_actions} actions of model {model.name!r} (0..{model.n_actions - 1})"
        )
    reward = pd.to_numeric(df["reward"], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    valid_rows = ~np.isnan(choice)
    bad_reward = valid_rows & ~np.isfinite(reward)
    if bad_reward.any():
        rows = np.flatnonzero(bad_reward)
        raise ValueError(
            f"{where}column 'reward': rows {rows[:10].tolist()} have a choice but no finite reward"
        )
    codes, subjects = pd.factorize(df["subject"], sort=False)
    n_sub = len(subjects)
    counts = np.bincount(codes, minlength=n_sub)
    t_max = int(counts.max()) if n_sub else 0
    pos = pd.Series(codes).groupby(codes).cumcount().to_numpy()
    shape = (n_sub, t_max)
    c = np.full(shape, -1, dtype=np.int64)
    r = np.zeros(shape)
    v = np.zeros(shape, dtype=bool)
    idx = np.full(shape, -1, dtype=np.int64)
    c[codes, pos] = np.where(valid_rows, np.nan_to_num(choice, nan=-1), -1).astype(np.int64)
    r[codes, pos] = np.where(valid_rows, reward, 0.0)
    v[codes, pos] = valid_rows
    idx[codes, pos] = np.arange(len(df))
    obs = {}
    for col in model.observation_columns:
        a = np.zeros(shape)
        a[codes, pos] = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=np.float64, na_value=0.0)
        obs[col] = a
    bs = np.zeros(shape, dtype=bool)
    if "block" in df.columns:
        b = np.full(shape, np.nan)
        b[codes, pos] = pd.factorize(df["block"])[0]
        bs[:, 1:] = b[:, 1:] != b[:, :-1]
        bs &= idx >= 0
    return TrialArrays(np.asarray(subjects), c, r, v, obs, bs, idx)


def log_likelihood(
    model: CognitiveModel,
    params: Mapping[str, Any],
    data: TrialArrays,
    lanes: np.ndarray | None = None,
    *,
    trialwise: bool = False,
) -> np.ndarray:
    """Summed log-probability of each lane's choices.

    ``lanes`` maps each lane to a subject row of ``data`` (default: one lane per subject), so one
    call can score subjects × parameter sets × starts. With ``trialwise=True`` returns the
    ``(lanes, trials)`` log-probabilities instead (0 for skipped trials).
    """
    lanes = np.arange(data.n_subjects) if lanes is None else np.asarray(lanes)
    p = model.check_params(params, n_lanes=lanes.shape[0])
    # time-major copies: each trial's slice is contiguous
    valid = np.ascontiguousarray(data.valid[lanes].T)
    choice = np.ascontiguousarray(np.where(data.valid[lanes], data.choice[lanes], 0).T)
    reward = np.ascontiguousarray(data.reward[lanes].T)
    block_start = data.block_start[lanes].T if model.reset_on_block else None
    obs_all = {k: np.ascontiguousarray(a[lanes].T) for k, a in data.observations.items()}
    n_trials, n_lanes = choice.shape
    all_valid = valid.all(axis=1)
    state = model.initial_state(p)
    init = state
    out = np.zeros((n_trials, n_lanes)) if trialwise else np.zeros(n_lanes)
    obs = {k: a[0] for k, a in obs_all.items()}
    for t in range(n_trials):
        if block_start is not None and block_start[t].any():
            state = merge_state(block_start[t], init, state)
        probs = model.action_probabilities(state, obs)
        a = choice[t]
        with np.errstate(divide="ignore"):
            lp = np.log(pick(probs, a))
        if not all_valid[t]:
            lp = np.where(valid[t], lp, 0.0)
        if trialwise:
            out[t] = lp
        else:
            out += lp
        nxt = {k: x[t + 1] for k, x in obs_all.items()} if t + 1 < n_trials else obs
        new = model.update(state, obs, a, reward[t], nxt)
        state = new if all_valid[t] else merge_state(valid[t], new, state)
        obs = nxt
    return out.T if trialwise else out
