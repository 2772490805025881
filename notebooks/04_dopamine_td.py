# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Dopamine as a temporal-difference prediction error
#
# **Question.** Why do midbrain dopamine neurons fire to an unexpected reward, then, after
# conditioning, to the cue that predicts it and no longer to the reward, and dip below baseline
# when a predicted reward is omitted? Schultz, Dayan & Montague (1997), *Science* 275:1593,
# "A neural substrate of prediction and reward" (after Montague, Dayan & Sejnowski 1996): this
# is the prediction error of a temporal-difference learner,
#
# $$\delta_t = r_t + \gamma V(x_t) - V(x_{t-1}),$$
#
# with the time since the cue represented by a *complete serial compound* (one feature per step
# after cue onset). We train TD(λ) critics (`cogmodels.agents.td`) on
# `cogmodels/PavlovianConditioning-v0` and watch δ move from the reward to the cue, then repeat
# with the *microstimulus* representation of Ludvig, Sutton & Kehoe (2008), whose coarser sense
# of time leaves part of the reward response, and with partially reinforced cues
# (Fiorillo, Tobler & Schultz 2003).

# %%
import gymnasium as gym
import pandas as pd
from matplotlib.figure import Figure

import cogmodels  # noqa: F401  (registers the environments)
from cogmodels.agents.features import CompleteSerialCompound
from cogmodels.agents.plots import plot_prediction_errors
from cogmodels.agents.td import TDCritic
from cogmodels.experiments.dopamine import (
    DEFAULT_SETTINGS,
    pavlovian_prediction_errors,
    trial_deltas,
)
from cogmodels.tutorial import setup

tutorial = setup(globals().get("__file__"))  # quick mode, output folder, tidy tables
QUICK, OUT, save = tutorial.quick, tutorial.out, tutorial.save

N_TRIALS = 100 if QUICK else 300
GAMMA, LAM = 0.98, 0.9
ENV = "cogmodels/PavlovianConditioning-v0"

print(f"QUICK={QUICK}: {N_TRIALS} conditioning trials, gamma={GAMMA}, lambda={LAM}")

# %% [markdown]
# ## 1. The task
#
# Each trial has 20 time steps: the cue at step 5, the reward 10 steps later (step 15), then a
# blank inter-trial interval of 0-10 steps drawn per trial, so the cue itself cannot be
# predicted. The observation is `[cue on, reward now]`; latent variables are in `info`.

# %%
env = gym.make(ENV, n_trials=2)
obs, info = env.reset(seed=0)
rows = []
for _ in range(20):
    obs, reward, terminated, truncated, info = env.step(0)  # the action (lick) has no effect
    rows.append({"time_in_trial": info["time_in_trial"], "cue": info["cue"], "us": info["us"],
                 "reward": reward})
steps = pd.DataFrame(rows)
print(steps[steps["cue"] | steps["us"]].to_string(index=False))
print(f"reward_time = {info['reward_time']}, ITI of this trial = {info['iti']} steps")

# %% [markdown]
# ## 2. A TD(λ) critic with a complete serial compound
#
# `pavlovian_prediction_errors` trains a `TDCritic` over one session whose last trial omits the
# reward (a probe) and returns one row per time step (`delta`, `value`, and the task's `info`),
# with a `phase` column: the first trial (*early*), the last rewarded trials (*late*) and the
# *omission* probe. `trial_deltas` extracts δ at the cue and at the (expected) reward trial by
# trial. After learning, δ at the cue approaches γ^delay = 0.98^10 ≈ 0.82 (the discounted
# reward it now predicts), δ at the reward approaches 0, and the omitted reward gives δ ≈ -1.

# %%
csc = pavlovian_prediction_errors("csc", n_trials=N_TRIALS, gamma=GAMMA, lam=LAM, seed=0,
                                  **DEFAULT_SETTINGS["csc"])
csc_deltas = trial_deltas(csc)
show = sorted({0, 1, 5, 10, 20, 40, N_TRIALS - 2, N_TRIALS - 1})
print(csc_deltas.set_index("trial").loc[show].round(3))
print(f"\ntheory after learning: delta at the cue = gamma^10 = {GAMMA ** 10:.3f}")
crossing = csc_deltas.loc[csc_deltas["delta_cue"] > csc_deltas["delta_us"], "trial"]
print(f"delta at the cue first exceeds delta at the reward on trial {int(crossing.iloc[0])}")

# %% [markdown]
# The critic can also be built by hand: a representation (here the 15-step serial compound from
# the cue) and the learning rule. With λ = 0 (TD(0)) the response creeps back from the reward to
# the cue one step per visit; the eligibility trace of TD(λ) bridges the delay much faster.

# %%
rows = []
for lam in (0.0, 0.5, 0.9):
    critic = TDCritic(CompleteSerialCompound(15), alpha=0.1, gamma=GAMMA, lam=lam)
    run = critic.run(ENV, seed=0, env_kwargs={"n_trials": N_TRIALS})
    d = trial_deltas(run)
    above = d.loc[d["delta_cue"] > d["delta_us"], "trial"]
    rows.append({"lambda": lam, "delta_cue_last": float(d["delta_cue"].iloc[-1]),
                 "delta_us_last": float(d["delta_us"].iloc[-1]),
                 "transfer_trial": int(above.iloc[0]) if len(above) else None})
print(pd.DataFrame(rows).round(3).to_string(index=False))

# %% [markdown]
# ## 3. Within a trial: early, late and omission
#
# `plot_prediction_errors` draws δ and V over the time within a trial for each phase and
# representation. The microstimuli (a cascade of decaying traces of the cue and the reward) give
# a smoother, less precise clock: the reward response shrinks but does not vanish, and the
# omission dip is shallower and spread in time.

# %%
micro = pavlovian_prediction_errors("microstimulus", n_trials=N_TRIALS, gamma=GAMMA, lam=LAM,
                                    seed=0, **DEFAULT_SETTINGS["microstimulus"])
micro_deltas = trial_deltas(micro)
summary = pd.concat(
    [trial_deltas(s).assign(phase=s.groupby("trial")["phase"].first().to_numpy(),
                            representation=name)
     for name, s in (("csc", csc), ("microstimulus", micro))],
    ignore_index=True,
)
summary = summary[summary["phase"].astype(str) != "training"]
print(summary.groupby(["representation", "phase"], observed=True)[["delta_cue", "delta_us"]]
      .mean().round(3))

fig = plot_prediction_errors(pd.concat([csc, micro], ignore_index=True))
fig.suptitle("TD(λ) prediction errors: transfer from reward to cue, dip at omission")
save(fig, "04_prediction_errors")
fig  # noqa: B018  (shows the figure in Jupyter)

# %% [markdown]
# ## 4. Transfer over learning
#
# δ at the cue and at the reward, trial by trial, for both representations (rewarded trials).

# %%
fig = Figure(figsize=(9, 3.2), layout="constrained")
axes = fig.subplots(1, 2, sharey=True)
for ax, (name, d) in zip(axes, (("complete serial compound", csc_deltas),
                                ("microstimulus", micro_deltas))):
    d = d[~d["omitted"].astype(bool)]
    ax.plot(d["trial"], d["delta_cue"], label="at the cue")
    ax.plot(d["trial"], d["delta_us"], label="at the reward")
    ax.axhline(0, color="0.6", lw=0.8)
    ax.set_title(name)
    ax.set_xlabel("trial")
axes[0].set_ylabel("prediction error δ")
axes[1].legend(frameon=False)
save(fig, "04_transfer")

# %% [markdown]
# ## 5. Uncertain rewards
#
# With a cue rewarded on only half the trials (`p_omission=0.5`), the learnt value at the cue is
# half as large, and the reward itself stays half-surprising: δ ≈ +0.5 when it comes and
# ≈ -0.5 when it does not, as in the dopamine recordings of Fiorillo, Tobler & Schultz (2003,
# *Science* 299:1898).

# %%
partial = pavlovian_prediction_errors("csc", n_trials=N_TRIALS * 2, omission_trials=[],
                                      gamma=GAMMA, lam=LAM, seed=1,
                                      env_kwargs={"p_omission": 0.5}, **DEFAULT_SETTINGS["csc"])
pd_ = trial_deltas(partial)
late = pd_[pd_["trial"] >= N_TRIALS]  # the second half of the session
print(f"delta at the cue: {late['delta_cue'].mean():.3f} "
      f"(theory 0.5 * gamma^10 = {0.5 * GAMMA ** 10:.3f})")
print(late.groupby("omitted")["delta_us"].agg(["mean", "count"]).rename(
    index={False: "rewarded", True: "omitted"}).round(3))

# %% [markdown]
# **Take-aways.** A TD learner with a time-since-cue representation reproduces the three
# signatures of phasic dopamine: the response to unpredicted rewards, its transfer to the
# earliest predictor, and the dip at the time of an omitted reward. How sharp the transfer and
# the dip are depends on the representation of time. `python benchmarks/dopamine_figure.py` and
# `experiments/dopamine.toml` make the same figure at full size.
