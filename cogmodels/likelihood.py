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

__all__ = ["TrialArrays", "log_likelihood", "trial_arrays", "trial_latents"]

@dataclass
class TrialArrays:
    """A trial table as padded time-major arrays: trials × subjects.

    ``choices`` has one layer per column of ``model.choice_columns`` (``choice``, and e.g.
    ``choice2`` for the second stage of the two-step task); -1 marks a missing response or
    padding, and ``valid`` is False there.
    """

    subjects: np.ndarray  # (S,) subject ids, in order of first appearance
    choices: np.ndarray  # (C, T, S) int64
    valid: np.ndarray  # (C, T, S) bool
    reward: np.ndarray  # (T, S) float64, 0 where missing
    observations: dict[str, np.ndarray]  # column -> (T, S)
    block_start: np.ndarray  # (T, S) bool, True on the first trial of a new block (t > 0)
    session_start: np.ndarray  # (T, S) bool, True on the first trial of a new session (t > 0)
    row_index: np.ndarray  # (T, S) int64 position of the row in the table, -1 for padding

    @property
    def n_subjects(self) -> int:
        return self.choices.shape[2]

    @property
    def n_trials(self) -> int:
        return self.choices.shape[1]

    @property
    def n_valid(self) -> np.ndarray:
        """Valid (non-missing) first-stage choices per subject."""
        return self.valid[0].sum(axis=0)

    def subset(self, subjects: np.ndarray) -> TrialArrays:
        """The arrays of the subjects at positions ``subjects``."""
        return TrialArrays(
            self.subjects[subjects],
            self.choices[:, :, subjects],
            self.valid[:, :, subjects],
            self.reward[:, subjects],
            {k: v[:, subjects] for k, v in self.observations.items()},
            self.block_start[:, subjects],
            self.session_start[:, subjects],
            self.row_index[:, subjects],
        )


def _numeric(df: pd.DataFrame, col: str) -> np.ndarray:
    return pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def trial_arrays(df: pd.DataFrame, model: CognitiveModel, *, source: str | None = None) -> TrialArrays:
    """Check that ``model`` can explain ``df`` and pad it into arrays.

    Raises ``ValueError`` before any optimisation when a column the model needs is missing or a
    choice lies outside the model's actions.
    """
    where = f"{source}: " if source else ""
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame (a trial table), got {type(df).__name__}")
    needed = ["subject", *model.choice_columns, "reward", *model.observation_columns]
    if model.reset_on_block:
        needed.append("block")
    missing = [c for c in dict.fromkeys(needed) if c not in df.columns]
    if missing:
        raise ValueError(
            f"{where}model {model.name!r} needs columns {list(dict.fromkeys(needed))}; missing "
            f"{missing} (columns present: {list(df.columns)})"
        )
    stage_choices = []
    for col in model.choice_columns:
        c = _numeric(df, col)
        ok = np.isnan(c) | ((c >= 0) & (c < model.n_actions) & (c == np.round(c)))
        if not ok.all():
            rows = np.flatnonzero(~ok)
            raise ValueError(
                f"{where}column {col!r}: rows {rows[:10].tolist()} hold {c[rows[:10]].tolist()}, "
                f"outside the {model.n_actions} actions of model {model.name!r} "
                f"(0..{model.n_actions - 1}); fix the coding or choose a model with more actions"
            )
        stage_choices.append(c)
    reward = _numeric(df, "reward")
    valid_rows = ~np.isnan(stage_choices[0])
    bad_reward = valid_rows & ~np.isfinite(reward)
    if bad_reward.any():
        rows = np.flatnonzero(bad_reward)
        raise ValueError(
            f"{where}column 'reward': rows {rows[:10].tolist()} have a choice but no finite reward"
        )
    codes, subjects = pd.factorize(df["subject"], sort=False)
    n_sub = len(subjects)
    t_max = int(np.bincount(codes, minlength=n_sub).max()) if n_sub else 0
    pos = pd.Series(codes).groupby(codes).cumcount().to_numpy()
    shape = (t_max, n_sub)

    def scatter(values: np.ndarray, fill: Any, dtype: Any) -> np.ndarray:
        a = np.full(shape, fill, dtype=dtype)
        a[pos, codes] = values
        return a

    choices = np.stack([scatter(np.nan_to_num(c, nan=-1), -1, np.int64) for c in stage_choices])
    valid = choices >= 0
    obs = {col: scatter(np.nan_to_num(_numeric(df, col)), 0.0, np.float64) for col in model.observation_columns}
    idx = scatter(np.arange(len(df)), -1, np.int64)
    def starts(cols: list[str]) -> np.ndarray:
        out = np.zeros(shape, dtype=bool)
        if all(c in df.columns for c in cols):
            codes_ = pd.MultiIndex.from_frame(df[cols]).factorize()[0]
            g = scatter(codes_, -1, np.int64)
            out[1:] = (g[1:] != g[:-1]) & (idx[1:] >= 0)
        return out

    session_cols = ["session"]
    return TrialArrays(
        np.asarray(subjects),
        choices,
        valid,
        scatter(np.where(valid_rows, reward, 0.0), 0.0, np.float64),
        obs,
        starts(["session", "block"] if "session" in df.columns else ["block"]),
        starts(session_cols),
        idx,
    )


def log_likelihood(
    model: CognitiveModel,
    params: Mapping[str, Any],
    data: TrialArrays,
    lanes: np.ndarray | None = None,
    *,
    trialwise: bool = False,
) -> np.ndarray:
    """Summed log-probability of each lane's choices.

    ``lanes`` maps each lane to a subject of ``data`` (default: one lane per subject), so one
    call can score subjects × parameter sets × starts. With ``trialwise=True`` returns the
    ``(lanes, trials)`` log-probabilities instead (0 for skipped trials; the stages of a
    multi-stage trial are summed).

    Multi-stage models (``len(model.choice_columns) > 1``) are asked for the probabilities of
    each stage with ``observation["stage"] = j`` and the trial's earlier choices in
    ``observation["choices"]``; ``update`` then receives the ``(lanes, stages)`` choices.
    """
    with np.errstate(divide="ignore"):  # log(0) = -inf is a valid answer, checked by the caller
        return _log_likelihood(model, params, data, lanes, trialwise)[0]


def trial_latents(
    model: CognitiveModel, params: Mapping[str, Any], trials: pd.DataFrame
) -> pd.DataFrame:
    """The model's trial-wise latents (values, prediction errors, WM weight...) for a table.

    Runs the model over each subject's observed choices with that subject's parameters
    (``params`` maps each parameter to one value per subject, in order of first appearance, or
    a scalar) and returns a DataFrame aligned with ``trials`` (same index), one column per latent
    plus ``p_choice``, the probability the model gave to the observed choice(s). Missing
    responses get NaN. This is what model-based analyses of neural data regress on.
    """
    data = trial_arrays(trials, model)
    with np.errstate(divide="ignore"):
        logp, lat = _log_likelihood(model, params, data, None, True, record_latents=True)
    rows = data.row_index.T  # (S, T)
    keep = rows >= 0
    out = pd.DataFrame(index=trials.index)
    valid_trial = data.valid.all(axis=0).T[keep]
    columns = {"p_choice": np.exp(logp)[keep], **{k: v.T[keep] for k, v in lat.items()}}
    for name, values in columns.items():
        col = np.full(len(trials), np.nan)
        col[rows[keep]] = np.where(valid_trial, values, np.nan)
        out[name] = col
    return out


def _log_likelihood(model, params, data, lanes, trialwise, record_latents=False):
    lanes = np.arange(data.n_subjects) if lanes is None else np.asarray(lanes)
    p = model.check_params(params, n_lanes=lanes.shape[0])
    choices = data.choices[:, :, lanes]
    valid = data.valid[:, :, lanes]
    safe = np.where(valid, choices, 0)
    reward = data.reward[:, lanes]
    # the state starts afresh in each session, and in each block where the model says so
    resets = data.block_start | data.session_start if model.reset_on_block else data.session_start
    block_start = resets[:, lanes] if resets.any() else None
    obs_all = {k: a[:, lanes] for k, a in data.observations.items()}
    n_stages, n_trials, n_lanes = choices.shape
    trial_valid = valid.all(axis=0)  # the update needs every stage's choice
    # after a lane's last valid trial its state no longer matters: no need to hold it
    last = n_trials - 1 - np.argmax(trial_valid[::-1], axis=0)
    spent = np.arange(n_trials)[:, None] > last[None, :]
    all_valid = (trial_valid | spent).all(axis=1)
    any_invalid_stage = ~valid.all(axis=(0, 2))
    state = init = model.initial_state(p)
    out = np.zeros((n_trials, n_lanes)) if trialwise else np.zeros(n_lanes)
    obs = {k: a[0] for k, a in obs_all.items()}
    latents: dict[str, np.ndarray] = {}
    for t in range(n_trials):
        if block_start is not None and block_start[t].any():
            state = merge_state(block_start[t], init, state)
        lp = np.zeros(n_lanes)
        for j in range(n_stages):
            obs_j = {**obs, "stage": j, "choices": safe[:j, t].T} if n_stages > 1 else obs
            probs = model.action_probabilities(state, obs_j)
            lpj = np.log(pick(probs, safe[j, t]))
            lp += np.where(valid[j, t], lpj, 0.0) if any_invalid_stage[t] else lpj
        if trialwise:
            out[t] = lp
        else:
            out += lp
        nxt = {k: x[t + 1] for k, x in obs_all.items()} if t + 1 < n_trials else obs
        action = safe[0, t] if n_stages == 1 else safe[:, t].T
        if record_latents:
            for k, v in model.latents(state, obs, action, reward[t]).items():
                latents.setdefault(k, np.full((n_trials, n_lanes), np.nan))[t] = v
        new = model.update(state, obs, action, reward[t], nxt)
        state = new if all_valid[t] else merge_state(trial_valid[t], new, state)
        obs = nxt
    return (out.T if trialwise else out), latents
