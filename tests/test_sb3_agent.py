"""cogmodels.agents.sb3: SB3 training, checkpoints, the Agent and the CognitiveModel adapters.

Every policy here trains for a few hundred steps on the bandit or the two-step task: enough for
choice probabilities away from 1/2 (the temperature is then identifiable), and fast.
"""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest
import torch
from stable_baselines3 import PPO, TD3

import cogmodels  # noqa: F401
from cogmodels.agents import sb3
from cogmodels.agents.sb3 import SB3Agent, SB3Model, SB3Trainer, load_sb3_zip, resolve_algorithm
from cogmodels.envs.wrappers import PreviousActionReward, RecordTrials
from cogmodels.fits import MaximumLikelihood, compare_models
from cogmodels.likelihood import log_likelihood
from cogmodels.models import make_model
from cogmodels.rollout import rollout

BANDIT = "cogmodels/MultiArmedBandit-v0"
TWO_STEP = "cogmodels/TwoStep-v0"
BANDIT_KWARGS = {"n_trials": 20, "means": [0.8, 0.2]}
TWO_STEP_KWARGS = {"n_trials": 10}


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _tiny_ppo(env_id=BANDIT, **kwargs) -> SB3Trainer:
    settings = dict(env_kwargs=BANDIT_KWARGS if env_id == BANDIT else TWO_STEP_KWARGS,
                    hyperparameters={"n_steps": 16, "batch_size": 32, "n_epochs": 1},
                    policy_kwargs={"net_arch": [8]}, num_envs=2, seed=0)
    return SB3Trainer("PPO", env_id, **{**settings, **kwargs})


def _weights(trainer: SB3Trainer) -> bytes:
    return b"".join(t.numpy().tobytes() for t in trainer.model_.policy.state_dict().values())


@pytest.fixture(scope="module")
def bandit() -> SB3Trainer:
    """A2C with the meta-RL input on a 0.8 / 0.2 bandit: it learns to prefer arm 0."""
    torch.set_num_threads(1)
    return SB3Trainer("A2C", BANDIT, env_kwargs=BANDIT_KWARGS, previous_action_reward=True,
                      hyperparameters={"n_steps": 8, "learning_rate": 1e-2},
                      policy_kwargs={"net_arch": [16]}, num_envs=4, seed=0).train(1024)


@pytest.fixture(scope="module")
def two_step() -> SB3Trainer:
    """RecurrentPPO (an LSTM) with the meta-RL input on the two-step task, barely trained."""
    torch.set_num_threads(1)
    return SB3Trainer("RecurrentPPO", TWO_STEP, env_kwargs=TWO_STEP_KWARGS, previous_action_reward=True,
                      hyperparameters={"n_steps": 32, "batch_size": 32, "n_epochs": 1},
                      policy_kwargs={"lstm_hidden_size": 8, "net_arch": []}, num_envs=2, seed=0).train(64)


# -- training ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("algorithm", "env_id", "vector", "hyperparameters"), [
    ("PPO", BANDIT, "native", {"n_steps": 16, "batch_size": 32, "n_epochs": 1}),
    ("DQN", TWO_STEP, "dummy", {"learning_starts": 16, "train_freq": 4, "buffer_size": 500, "batch_size": 16}),
])
def test_the_same_seed_gives_the_same_weights_byte_for_byte(algorithm, env_id, vector, hyperparameters):
    def run(seed: int) -> SB3Trainer:
        kwargs = BANDIT_KWARGS if env_id == BANDIT else TWO_STEP_KWARGS
        return SB3Trainer(algorithm, env_id, env_kwargs=kwargs, vector=vector, seed=seed, num_envs=2,
                          hyperparameters=hyperparameters, policy_kwargs={"net_arch": [8]}).train(64)

    first, again, other = run(0), run(0), run(1)
    assert first.steps_done_ == 64
    assert isinstance(first.model_.get_env(), sb3.TaskVecEnv if vector == "native" else sb3.DummyVecEnv)
    assert _weights(first) == _weights(again)
    assert _weights(first) != _weights(other)


def test_checkpoint_round_trip_gives_identical_probabilities(two_step, tmp_path):
    two_step.save(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config == two_step.config
    assert config | {"steps_done": 64} == {
        "format": "cogmodels.sb3/1", "algorithm": "RecurrentPPO", "env_id": TWO_STEP,
        "env_kwargs": TWO_STEP_KWARGS, "policy": "MlpLstmPolicy",
        "policy_kwargs": {"lstm_hidden_size": 8, "net_arch": []},
        "hyperparameters": {"n_steps": 32, "batch_size": 32, "n_epochs": 1}, "num_envs": 2,
        "previous_action_reward": True, "vector": "auto", "seed": two_step.seed, "steps_done": 64}
    loaded = SB3Trainer.load(tmp_path)
    assert loaded.steps_done_ == 64 and _weights(loaded) == _weights(two_step)
    table = rollout(two_step.as_agent(), TWO_STEP, n_subjects=3, n_trials=10, seed=1)
    before = log_likelihood(two_step.as_model(), {"beta": 1.0}, table, trialwise=True)
    after = log_likelihood(loaded.as_model(), {"beta": 1.0}, table, trialwise=True)
    np.testing.assert_array_equal(after, before)


def test_an_interrupted_run_resumes_from_its_last_checkpoint(tmp_path, monkeypatch):
    # 2 copies x 16 steps: SB3 counts steps in rollouts of 32; checkpoints every 64 steps
    trainer = _tiny_ppo(checkpoint_dir=tmp_path, checkpoint_every=64)
    on_step = sb3._TrainingCallback._on_step

    def interrupted(self) -> bool:
        go_on = on_step(self)
        if self.num_timesteps >= 100:
            raise KeyboardInterrupt
        return go_on

    monkeypatch.setattr(sb3._TrainingCallback, "_on_step", interrupted)
    with pytest.raises(KeyboardInterrupt):
        trainer.train(256)
    monkeypatch.setattr(sb3._TrainingCallback, "_on_step", on_step)
    assert json.loads((tmp_path / "config.json").read_text())["steps_done"] == 64
    resumed = [SB3Trainer.load(tmp_path, checkpoint_dir=tmp_path / f"run{i}") for i in range(2)]
    assert resumed[0].steps_done_ == 64
    for r in resumed:
        r.train(256)
    assert resumed[0].steps_done_ == 256
    assert json.loads((tmp_path / "run0" / "config.json").read_text())["steps_done"] == 256
    assert _weights(resumed[0]) == _weights(resumed[1])  # the continuation is seeded too


class _Payload:
    """An object a weights_only load must refuse to rebuild."""


def test_checkpoints_load_weights_only_and_sb3_zips_need_trust(bandit, tmp_path):
    bandit.save(tmp_path)
    torch.save({"policy": {}, "extra": _Payload()}, tmp_path / "policy.pt")
    with pytest.raises(ValueError, match="policy.pt: not a file of plain tensors .* refused unread"):
        SB3Trainer.load(tmp_path)
    zip_path = tmp_path / "a2c.zip"
    bandit.model_.save(zip_path)
    with pytest.raises(ValueError, match="trusted must be True .* unpickles Python objects"):
        load_sb3_zip(zip_path, "A2C")
    model = load_sb3_zip(zip_path, "a2c", trusted=True)
    probs = [m.policy.get_distribution(torch.ones(1, 4)).distribution.probs for m in (model, bandit.model_)]
    torch.testing.assert_close(probs[0], probs[1], rtol=0, atol=0)


# -- the agent -----------------------------------------------------------------------------------

def test_the_agent_plays_in_single_and_native_vector_envs(bandit):
    agent = bandit.as_agent()
    table = rollout(agent, BANDIT, env_kwargs=BANDIT_KWARGS, n_subjects=4, n_trials=30, seed=0)
    assert len(table) == 120 and table.subject.unique().tolist() == [0, 1, 2, 3]
    # trained on 0.8 / 0.2: arm 0 well above chance (0.5, sd 0.046 over 120 choices)
    assert (table.choice == 0).mean() > 0.65
    pd.testing.assert_frame_equal(
        table, rollout(agent, BANDIT, env_kwargs=BANDIT_KWARGS, n_subjects=4, n_trials=30, seed=0))
    vector = gym.make_vec(BANDIT, num_envs=4, vectorization_mode="vector_entry_point",
                          autoreset_mode="same_step", **BANDIT_KWARGS)
    vec_table = rollout(agent, vector, n_trials=30, seed=0)  # two sessions of 20 trials, cut at 30
    assert len(vec_table) == 120 and vec_table.session.max() == 1
    assert (vec_table.choice == 0).mean() > 0.65


def test_the_agent_and_the_model_draw_the_same_choices(two_step):
    """beta = 1: the Agent on the task's observations and the model on the trial table agree
    choice for choice (same generator), LSTM state and previous action and reward included."""
    by_agent = rollout(two_step.as_agent(), TWO_STEP, env_kwargs=TWO_STEP_KWARGS, n_subjects=3,
                       n_trials=15, seed=3)
    by_model = rollout(two_step.as_model().as_agent({"beta": 1.0}, latents=False), TWO_STEP,
                       env_kwargs=TWO_STEP_KWARGS, n_subjects=3, n_trials=15, seed=3)
    pd.testing.assert_frame_equal(by_agent, by_model)
    assert by_agent.session.max() == 1  # across a session boundary


def test_the_agent_drives_continuous_actions():
    """A Gaussian PPO policy on the cursor BCI: actions N(mu, sigma^2) drawn with the rollout's
    generator and clipped to the action space; deterministic=True plays the mean."""
    trainer = SB3Trainer("PPO", "cogmodels/CursorBCI-v0", env_kwargs={"n_trials": 2, "timeout": 1.0},
                         num_envs=1, seed=0, policy_kwargs={"net_arch": [8], "log_std_init": 1.0})
    assert isinstance(trainer.model_.get_env(), sb3.TaskVecEnv)
    agent = trainer.as_agent()
    observation = {"obs": np.random.default_rng(0).poisson(1.0, (3, 192)).astype(np.float32)}
    action, _ = agent.act(observation, agent.initial_state(3), np.random.default_rng(0))
    with torch.no_grad():
        dist = trainer.model_.policy.get_distribution(torch.as_tensor(observation["obs"])).distribution
    noise = np.random.default_rng(0).standard_normal((3, 2))
    np.testing.assert_allclose(action, np.clip(dist.mean.numpy() + dist.stddev.numpy() * noise, -1, 1), rtol=1e-6)
    mean, _ = trainer.as_agent(deterministic=True).act(observation, agent.initial_state(3), None)
    np.testing.assert_allclose(mean, np.clip(dist.mean.numpy(), -1, 1), rtol=1e-6)
    kwargs = dict(env_kwargs={"n_trials": 2, "timeout": 1.0}, n_steps=100, n_subjects=2, seed=0)
    table = rollout(agent, "cogmodels/CursorBCI-v0", **kwargs)
    assert table.subject.nunique() == 2
    pd.testing.assert_frame_equal(table, rollout(agent, "cogmodels/CursorBCI-v0", **kwargs))


# -- the cognitive model -------------------------------------------------------------------------

def _play_with_sb3(trainer: SB3Trainer, n_subjects: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Play sessions with SB3's own policy API and the package's PreviousActionReward wrapper;
    return the table and each subject's summed log pi(a | obs) as SB3 computes it."""
    policy = trainer.model_.policy
    recurrent = trainer.algorithm.__name__ == "RecurrentPPO"
    torch.manual_seed(0)
    tables, logp = [], np.zeros(n_subjects)
    for s in range(n_subjects):
        rec = RecordTrials(gym.make(trainer.env_id, **trainer.env_kwargs), subject=s)
        env = PreviousActionReward(rec)
        obs, _ = env.reset(seed=s)
        if recurrent:
            layers, _, hidden = policy.lstm_hidden_state_shape
            states = (torch.zeros(layers, 1, hidden), torch.zeros(layers, 1, hidden))
        done = False
        while not done:
            x = torch.as_tensor(obs[None])
            with torch.no_grad():
                if recurrent:
                    dist, states = policy.get_distribution(x, states, torch.zeros(1))
                else:
                    dist = policy.get_distribution(x)
                action = dist.get_actions()
                logp[s] += float(dist.log_prob(action))
            obs, _, terminated, truncated, _ = env.step(int(action))
            done = terminated or truncated
        tables.append(rec.table())
    return pd.concat(tables, ignore_index=True), logp


@pytest.mark.parametrize("task", ["bandit", "two_step"])
def test_the_log_likelihood_is_the_sum_of_log_policy_probabilities(task, request):
    trainer = request.getfixturevalue(task)
    table, logp = _play_with_sb3(trainer, 3)
    model = trainer.as_model()
    # SB3 computes log pi in float32: about 1e-7 relative error per step, 20-40 steps per subject
    np.testing.assert_allclose(log_likelihood(model, {"beta": 1.0}, table), logp, rtol=0, atol=2e-5)
    # beta tempers log pi: beta = 0 is uniform over 2 actions per choice
    choices = len(model.choice_columns) * trainer.env_kwargs["n_trials"]
    np.testing.assert_allclose(log_likelihood(model, {"beta": 0.0}, table), choices * np.log(0.5))


def test_a_q_network_chooses_by_the_softmax_of_its_q_values():
    """DQN: P(a) = softmax(beta Q(x, .)); the bandit's observation is constant, so is Q."""
    dqn = SB3Trainer("DQN", BANDIT, env_kwargs=BANDIT_KWARGS, num_envs=1, seed=0,
                     policy_kwargs={"net_arch": [8]})
    model = dqn.as_model()
    table = rollout(dqn.as_agent(beta=3.0), BANDIT, env_kwargs=BANDIT_KWARGS, n_subjects=2, n_trials=20, seed=0)
    with torch.no_grad():
        q = dqn.model_.policy.q_net(torch.ones(1, 1)).double().numpy()[0]
    log_p = 3.0 * q - np.log(np.exp(3.0 * q).sum())
    expected = [log_p[table.choice[table.subject == s].to_numpy(dtype=int)].sum() for s in (0, 1)]
    np.testing.assert_allclose(log_likelihood(model, {"beta": 3.0}, table), expected, rtol=1e-9)
    assert abs(q[0] - q[1]) > 1e-3  # the test tells the two actions apart


BETA = 0.5  # the policy's log-odds of arm 0 are about 6: halved, still clear of 0 and 1


@pytest.fixture(scope="module")
def simulated(bandit) -> pd.DataFrame:
    """8 subjects x 100 trials of the A2C policy at inverse temperature BETA, played by rollout."""
    model = bandit.as_model()
    return rollout(model.as_agent({"beta": BETA}, latents=False), BANDIT,
                   env_kwargs={**BANDIT_KWARGS, "n_trials": 100}, n_subjects=8, n_trials=100, seed=0)


@pytest.mark.slow  # 8 subjects fitted: ~1.5 s
def test_the_temperature_is_recovered_from_simulated_choices(bandit, simulated):
    fit = MaximumLikelihood(bandit.as_model(), n_starts=2, seed=0).fit(simulated, progress=False)
    beta, se = fit.params_["beta"].to_numpy(), fit.se_["beta"].to_numpy()
    assert np.isfinite(se).all() and (se < 0.2).all()
    # the precision-weighted mean of the subjects' estimates and its standard error
    weight = 1.0 / se**2
    pooled, pooled_se = (weight * beta).sum() / weight.sum(), 1.0 / np.sqrt(weight.sum())
    assert abs(pooled - BETA) < 3 * pooled_se
    assert pooled_se < 0.05


@pytest.mark.slow  # two models fitted with standard errors and BMS: ~3 s
def test_the_model_is_compared_beside_q_learning(bandit, simulated):
    model, q_learning = bandit.as_model(), make_model("q_learning")
    simulated = simulated[simulated.subject < 4]
    comparison = compare_models(simulated, {"q_learning": q_learning, "a2c": model},
                                n_starts=2, seed=0, progress=False)
    rows = comparison.table
    assert set(rows.index) == {"q_learning", "a2c"}
    assert rows.loc["a2c", "n_params"] == 1 and rows.loc["q_learning", "n_params"] == q_learning.n_params
    beta = comparison.fits["a2c"].params_["beta"].to_numpy()
    np.testing.assert_allclose(rows.loc["a2c", "loglik"], log_likelihood(model, {"beta": beta}, simulated).sum())
    # the choices came from the policy: it explains them better than Q-learning, per parameter
    assert comparison.best("bic") == "a2c"


# -- errors --------------------------------------------------------------------------------------

def test_errors_name_the_argument_the_allowed_values_and_the_value(bandit):
    with pytest.raises(ValueError, match=r"algorithm DQN cannot train on cogmodels/CursorBCI-v0 \(action space Box"):
        SB3Trainer("DQN", "cogmodels/CursorBCI-v0", seed=0)
    with pytest.raises(ValueError, match=r"algorithm must be one of \[.*'PPO'.*'RecurrentPPO'.*\].*got 'PPOO'"):
        resolve_algorithm("PPOO")
    with pytest.raises(TypeError, match="algorithm must be a stable-baselines3"):
        resolve_algorithm(3)
    with pytest.raises(ValueError, match=r"env_id must be a registered environment id, e.g. .*TwoStep.*got 'Nope-v0'"):
        SB3Trainer("PPO", "Nope-v0")
    with pytest.raises(ValueError, match=r"policy must be one of \['CnnPolicy', 'MlpPolicy', 'MultiInputPolicy'\], got 'Mlp'"):
        SB3Trainer("PPO", BANDIT, policy="Mlp")
    with pytest.raises(ValueError, match=r"hyperparameters of PPO must be among \[.*'n_steps'.*\], got \['n_step'\]"):
        SB3Trainer("PPO", BANDIT, hyperparameters={"n_step": 8})
    with pytest.raises(ValueError, match="policy_kwargs must hold only numbers.*activation_fn by name"):
        SB3Trainer("PPO", BANDIT, policy_kwargs={"activation_fn": torch.nn.Tanh})
    with pytest.raises(ValueError, match=r"vector='native' needs a task with a native vector .*RLWM"):
        SB3Trainer("PPO", "cogmodels/RLWM-v0", vector="native")
    with pytest.raises(ValueError, match=r"env_id must be one of \['cogmodels/MultiArmedBandit-v0', .*got 'cogmodels/NBack-v0'"):
        SB3Model(bandit.model_, "cogmodels/NBack-v0")
    with pytest.raises(ValueError, match=r"observation must have the policy's input shape \(4,\) per lane, got \(1,\)"):
        SB3Model(bandit.model_, BANDIT, previous_action_reward=False)
    td3 = TD3("MlpPolicy", gym.make("Pendulum-v1"), learning_starts=0, device="cpu")
    with pytest.raises(ValueError, match=r"action space must be one the adapter handles .* got Box\(-2.0, 2.0, \(1,\), float32\) of TD3Policy"):
        SB3Agent(td3)
    continuous = PPO("MlpPolicy", gym.make("Pendulum-v1"), device="cpu")
    with pytest.raises(ValueError, match=r"policy's action space must be Discrete for a model of choices, got Box"):
        SB3Model(continuous, BANDIT)
    with pytest.raises(TypeError, match="policy must be a stable-baselines3 algorithm or policy"):
        SB3Agent("PPO")
