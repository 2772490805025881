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
# # Meta-reinforcement learning: a recurrent network that learns to learn
#
# **Question.** Wang, Kurth-Nelson, Kumaran, Tirumala, Soyer, Leibo, Hassabis & Botvinick
# (2018), *Nature Neuroscience* 21:860, "Prefrontal cortex as a meta-reinforcement learning
# system": train a recurrent network by slow reinforcement learning (its weights) across many
# sessions of a task family, here two-armed Bernoulli bandits with arm probabilities drawn from
# U(0, 1) every session, and it comes to run a fast learning algorithm *in its activity*: with
# frozen weights it explores and exploits new bandits, close to the Bayes-optimal policy.
#
# We meta-train a GRU with the batched advantage actor-critic of `cogmodels.agents.a2c`, score
# it against the classical bandit algorithms of `cogmodels.agents.bandit_baselines` on the same
# sessions (pseudo-regret, `sum_t max p - p_{a_t}`), then treat the frozen network as a
# cognitive model (`RecurrentModel`: its state is its hidden state) and compare it with
# Q-learning and with a tiny GRU trained directly on the choices (Ji-An, Benna & Mattar 2025,
# *Nature*, "Discovering cognitive strategies with tiny recurrent neural networks").
#
# Quick mode (`COGMODELS_QUICK=1`) trains for a few seconds on 20-trial sessions; the full run
# trains for a few minutes on the 100-trial sessions of Wang et al.
# (`benchmarks/bench_meta_rl.py` trains for 10 minutes).

# %%
import pandas as pd
import torch
from matplotlib.figure import Figure

from cogmodels.agents.a2c import BANDIT_SETTINGS, A2CConfig, A2CTrainer
from cogmodels.agents.bandit_baselines import (
    UCB1,
    BayesOptimal,
    Greedy,
    RandomPolicy,
    ThompsonSampling,
    evaluate,
)
from cogmodels.agents.rnn_model import RecurrentModel
from cogmodels.agents.tiny_rnn import TinyRNN
from cogmodels.fits import MaximumLikelihood, compare_models, learning_curve
from cogmodels.models import make_model
from cogmodels.tutorial import setup

tutorial = setup(globals().get("__file__"))  # quick mode, output folder, tidy tables
QUICK, OUT, save = tutorial.quick, tutorial.out, tutorial.save
torch.set_num_threads(1 if QUICK else 2)

N_TRIALS = 20 if QUICK else 100  # trials per bandit session
BUDGET_S = 4.0 if QUICK else 180.0  # wall-clock seconds of meta-training
N_EVAL = 1_000 if QUICK else 10_000  # held-out sessions for the regret
EVAL_SEED = 20_181  # every policy faces the same held-out sessions
N_PLAY = 40 if QUICK else 100  # sessions played by the frozen network for model fitting

print(f"QUICK={QUICK}: {N_TRIALS}-trial sessions, {BUDGET_S:g} s of training, "
      f"{N_EVAL} evaluation sessions")

# %% [markdown]
# ## 1. The baselines
#
# `evaluate` plays a policy on `N_EVAL` vector-bandit sessions from one seed: the arm
# probabilities and reward draws are the same for every policy (common random numbers), so the
# differences are the policies'. `BayesOptimal` solves the Bayes-adaptive problem exactly by
# dynamic programming over the Beta posteriors (its exact expected regret is known), Thompson
# sampling draws from the posterior, UCB1 adds a confidence bonus, greedy follows the best mean.

# %%
optimal = BayesOptimal(N_TRIALS)
baselines = {p.name: evaluate(p, N_EVAL, seed=EVAL_SEED, n_trials=N_TRIALS)
             for p in (optimal, ThompsonSampling(), UCB1(), Greedy(), RandomPolicy())}
results = pd.DataFrame({name: r.as_dict() for name, r in baselines.items()}).T
print(f"Bayes-optimal expected regret (exact): {optimal.expected_regret:.3f}")
print(results[["mean_regret", "ci_low", "ci_high"]])

# %% [markdown]
# ## 2. Meta-training a GRU with A2C
#
# `A2CTrainer` runs `n_lanes` sessions in lockstep in the native vector bandit; the network
# reads `[observation, previous action (one-hot), previous reward]` each trial and outputs the
# policy and a value. It is trained on the sampled reward (`reward_signal="sampled"`, the only
# signal a real learner has; `"expected"`, minus the pseudo-regret computed from the hidden arm
# probabilities, is a labelled variant, never a headline). `train(..., time_budget_s=...)` stops
# at the first batch boundary after the budget.

# %%
if QUICK:  # small, fast settings: a 16-unit GRU learns 20-trial bandits in seconds
    config = A2CConfig(n_trials=N_TRIALS, n_lanes=64, hidden_size=16, lr=1e-2,
                       entropy_coef=0.02, gamma=0.5, reward_signal="sampled",
                       total_updates=250, seed=0)
else:  # the tuned settings of benchmarks/bench_meta_rl.py, sized for the budget
    config = A2CConfig(n_trials=N_TRIALS, **BANDIT_SETTINGS, total_updates=int(BUDGET_S / 0.08),
                       seed=0)
trainer = A2CTrainer(config)
trainer.train(time_budget_s=BUDGET_S, progress=False)
history = trainer.history_
print(f"{trainer.update_} updates, {trainer.env_steps_:,} env steps in {trainer.elapsed_s_:.1f} s")
print(f"training-batch regret: first 10 updates {history['regret'].head(10).mean():.2f}, "
      f"last 10 {history['regret'].tail(10).mean():.2f}")

gru = {
    "gru (greedy)": evaluate(trainer.model.as_session_policy(greedy=True), N_EVAL,
                             seed=EVAL_SEED, n_trials=N_TRIALS),
    "gru (sampled)": evaluate(trainer.model.as_session_policy(greedy=False), N_EVAL,
                              seed=EVAL_SEED, n_trials=N_TRIALS),
}
results = pd.concat([results, pd.DataFrame({k: r.as_dict() for k, r in gru.items()}).T])
results = results.sort_values("mean_regret")
print("\nmean pseudo-regret per session on the same held-out sessions:")
print(results[["mean_regret", "ci_low", "ci_high"]])

fig = Figure(figsize=(5.5, 3.3), layout="constrained")
ax = fig.subplots()
smooth = history["regret"].rolling(10, min_periods=1).mean()
ax.plot(history["update"], smooth, color="k", label="GRU (training batches)")
for name, color in (("bayes_optimal", "C2"), ("thompson", "C0"), ("random", "C3")):
    ax.axhline(baselines[name].mean, color=color, ls="--", lw=1, label=name)
ax.set_xlabel("update")
ax.set_ylabel(f"regret per {N_TRIALS}-trial session")
ax.set_title("meta-training the GRU")
ax.legend(frameon=False, fontsize="small")
save(fig, "05_training_curve")
fig  # noqa: B018  (shows the figure in Jupyter)

# %% [markdown]
# ## 3. The trained network's behaviour
#
# `trainer.play` runs fresh sessions with frozen weights and returns them as the canonical trial
# table, so all the behavioural analyses apply: here P(choosing the better arm) by trial.

# %%
played = trainer.play(N_PLAY, seed=3, greedy=False)
curve = learning_curve(played)
print(curve.iloc[:: max(1, N_TRIALS // 10)].to_string(index=False))

# %% [markdown]
# ## 4. The frozen network as a cognitive model
#
# `RecurrentModel` wraps the network in the model protocol: one free parameter, an inverse
# temperature `beta` on its logits (1 = as trained). Fitted to the network's own sessions,
# `beta` should come out near 1. Then the network, Q-learning, win-stay/lose-shift and tiny
# 1- and 2-unit GRUs fitted directly to the choices compete for the same choices. The tiny
# networks (Ji-An et al. 2025) make no cognitive assumptions; scored by the same
# cross-validation (two contiguous halves of every session), they give a data-driven ceiling: on
# real data, the gap between a cognitive model and this ceiling is what the model misses.

# %%
rnn_model = RecurrentModel(trainer.model)
beta_fit = MaximumLikelihood(rnn_model, n_starts=1, seed=0).fit(played)
print(f"{rnn_model.name}: fitted beta, median over sessions = "
      f"{beta_fit.params_['beta'].median():.2f} (IQR {beta_fit.params_['beta'].quantile(0.25):.2f}"
      f"-{beta_fit.params_['beta'].quantile(0.75):.2f})")

comparison = compare_models(
    played,
    {"q_learning": make_model("q_learning"), "wsls": make_model("wsls"), "gru": rnn_model},
    cv_folds=2, n_starts=1 if QUICK else 5, seed=0,
    ceilings={f"tiny_gru{h}": TinyRNN(hidden_size=h, max_epochs=100 if QUICK else 1000, seed=0)
              for h in (1, 2)},
)
print(comparison.table[["n_params", "loglik", "bic", "cv_loglik", "cv_mean_likelihood"]])

# %% [markdown]
# **Take-aways.** A GRU trained by slow RL across bandits learns a fast within-session
# algorithm whose regret approaches Thompson sampling's and the Bayes-optimal policy's with
# enough training (trained on the sampled reward the benchmark reaches 5.22 per 100 trials after
# 10 minutes, against 1.75 for the Bayes-optimal policy; 1.88 with the latent `"expected"` signal).
# Frozen, it is a one-parameter cognitive model that the fitting machinery treats like any
# other, and tiny RNNs give the comparison a model-free ceiling. In quick mode the network is
# barely trained (a few seconds), so its regret sits between random and the baselines.
