"""The glossary's names at the boundaries: one spelling, the old ones kept as warning aliases."""

import gymnasium as gym
import pytest

import cogmodels.envs  # noqa: F401  (registers the environments)
from cogmodels.deprecation import renamed_arguments
from cogmodels.envs.bandit import MultiArmedBandit, MultiArmedBanditVector
from cogmodels.envs.restless_bandit import RestlessBandit
from cogmodels.envs.reversal import ReversalLearning, ReversalLearningVector

OLD_SPELLINGS = [
    (MultiArmedBandit, "n_arms"),
    (MultiArmedBanditVector, "n_arms"),
    (RestlessBandit, "n_arms"),
    (ReversalLearning, "n_options"),
    (ReversalLearningVector, "n_options"),
]


@pytest.mark.parametrize(("cls", "old"), OLD_SPELLINGS, ids=lambda x: getattr(x, "__name__", x))
def test_the_old_spelling_of_n_actions_still_builds_the_task_and_warns(cls, old):
    with pytest.warns(DeprecationWarning, match=rf"^{old} is deprecated and will be removed; use n_actions instead$"):
        env = cls(**{old: 3})
    assert env.n_actions == 3
    assert env.single_action_space.n == 3 if hasattr(env, "single_action_space") else env.action_space.n == 3
    with pytest.warns(DeprecationWarning, match="use n_actions"):
        assert getattr(env, old) == 3
    with pytest.raises(TypeError, match=rf"got both n_actions=3 and its deprecated spelling {old}=3: pass n_actions only"):
        cls(n_actions=3, **{old: 3})


def test_the_new_spelling_does_not_warn(recwarn):
    env = gym.make("cogmodels/ReversalLearning-v0", n_actions=3, n_trials=10)
    assert env.unwrapped.n_actions == 3
    assert not [w for w in recwarn if issubclass(w.category, DeprecationWarning)
                and "n_actions" in str(w.message)]


def test_gym_make_passes_the_old_spelling_through_the_alias():
    with pytest.warns(DeprecationWarning, match="n_arms is deprecated"):
        env = gym.make("cogmodels/MultiArmedBandit-v0", n_arms=4, n_trials=5)
    assert env.action_space.n == 4


def test_an_error_in_the_renamed_argument_names_the_new_spelling():
    with pytest.warns(DeprecationWarning), pytest.raises(
        ValueError, match=r"^MultiArmedBandit: n_actions must be an integer in \[2, 1000\], got 1$"
    ):
        MultiArmedBandit(n_arms=1)


def test_the_warning_points_at_the_caller():
    @renamed_arguments(old="new")
    def f(new=0):
        return new

    with pytest.warns(DeprecationWarning) as record:
        assert f(old=2) == 2
    assert record[0].filename == __file__


def test_one_estimator_registry():
    import cogmodels.fits as fits
    from cogmodels.fits import compare

    assert compare.estimator_class is fits.estimator_class
    assert fits.estimator_class("map") is fits.ESTIMATORS["map"] is fits.MaximumAPosteriori
    for bad in ("bayes", ["mle"], None):
        with pytest.raises(ValueError, match=r"^method must be one of \['em', 'map', 'mle', 'nuts', 'vi'\], got "):
            fits.estimator_class(bad)


# -- seed: the same types everywhere, checked in one place ---------------------------------------
def _seeded_calls():
    import numpy as np

    from cogmodels.fits import MaximumLikelihood, sample_parameters
    from cogmodels.fits.bms import dirichlet_exceedance
    from cogmodels.models import make_model

    model = make_model("q_learning")
    alpha = np.array([3.0, 1.0])
    return {
        "sample_parameters": lambda seed: sample_parameters(model, 4, seed=seed).to_numpy(),
        "dirichlet_exceedance": lambda seed: dirichlet_exceedance(alpha, 1000, seed=seed),
        "MaximumLikelihood": lambda seed: MaximumLikelihood(model, seed=seed).seed,
    }


@pytest.mark.parametrize("name", ["sample_parameters", "dirichlet_exceedance", "MaximumLikelihood"])
def test_every_seed_argument_takes_the_same_types(name):
    import numpy as np

    call = _seeded_calls()[name]
    for seed in (None, 0, np.random.SeedSequence(0), np.random.default_rng(0)):
        call(seed)
    if name != "MaximumLikelihood":  # the estimator keeps the seed; the others draw from it
        np.testing.assert_array_equal(call(5), call(np.random.SeedSequence(5)))
    with pytest.raises(ValueError, match=r"^seed must be None, an integer >= 0, a numpy SeedSequence or a numpy Generator, got 1.5$"):
        call(1.5)


# -- not fitted: the estimators, a fitted network and a decoder raise the one class -------------
def test_every_not_fitted_error_is_the_one_class():
    import numpy as np
    import pandas as pd

    from cogmodels.agents.decoders import KalmanDecoder
    from cogmodels.agents.tiny_rnn import TinyRNN
    from cogmodels.exceptions import NotFittedError
    from cogmodels.fits import (
        HierarchicalEM,
        MaximumAPosteriori,
        MaximumLikelihood,
        posterior_predictive,
    )
    from cogmodels.models import make_model

    model = make_model("q_learning")
    table = pd.DataFrame({"subject": [0, 0], "trial": [0, 1], "choice": [0, 1], "reward": [1.0, 0.0]})
    calls = {
        "MaximumLikelihood": lambda: MaximumLikelihood(model).summary(),
        "MaximumAPosteriori": lambda: MaximumAPosteriori(model).score(table),
        "HierarchicalEM": lambda: HierarchicalEM(model).summary(),
        "posterior_predictive": lambda: posterior_predictive(MaximumLikelihood(model), "cogmodels/MultiArmedBandit-v0"),
        "TinyRNN": lambda: TinyRNN().trial_loglik(table),
        "KalmanDecoder": lambda: KalmanDecoder().step(np.zeros(4)),
    }
    for call in calls.values():
        with pytest.raises(NotFittedError, match=r"^this \w+ is not fitted yet: call fit(\(trials\)|\(\)) first$"):
            call()


@pytest.mark.parametrize("old, new, name", [
    ("cogmodels.agents.decoders.drift_study", "cogmodels.experiments.drift_study", "compare_under_drift"),
    ("cogmodels.agents.decoders.clda_study", "cogmodels.experiments.clda_study", "acquisition"),
    ("cogmodels.agents.reward_decoder", "cogmodels.agents.decoders.reward", "RewardDecoder"),
])
def test_moved_modules_keep_their_old_import_paths_and_warn(old, new, name):
    """A module that moved still gives the same objects at its old path, with a DeprecationWarning
    that names the new path; a name the new module lacks is an AttributeError naming both."""
    import importlib

    before, after = importlib.import_module(old), importlib.import_module(new)
    with pytest.warns(DeprecationWarning, match=f"{old}.{name} is deprecated.*use {new}.{name} instead"):
        assert getattr(before, name) is getattr(after, name)
    with pytest.raises(AttributeError, match=f"module '{old}' \\(moved to '{new}'\\) has no attribute 'nope'"):
        before.nope  # noqa: B018


def test_a_moved_name_warns_and_other_names_are_missing():
    from cogmodels.deprecation import moved_names

    getattr_ = moved_names("old.place", ["ENV_IDS"], "cogmodels.envs")
    with pytest.warns(DeprecationWarning, match="old.place.ENV_IDS is deprecated.*cogmodels.envs.ENV_IDS"):
        from cogmodels.envs import ENV_IDS

        assert getattr_("ENV_IDS") is ENV_IDS
    with pytest.raises(AttributeError, match="module 'old.place' has no attribute 'other'"):
        getattr_("other")


def test_the_bandit_baselines_take_n_actions_and_warn_on_n_arms():
    from cogmodels.agents.bandit_baselines import BayesOptimal, ThompsonSampling, evaluate

    new = evaluate(ThompsonSampling(), 20, n_trials=10, n_actions=3, seed=1)
    with pytest.warns(DeprecationWarning, match="n_arms is deprecated and will be removed; use n_actions"):
        old = evaluate(ThompsonSampling(), 20, n_trials=10, n_arms=3, seed=1)
    assert old.mean == new.mean and (old.regrets == new.regrets).all()
    policy = BayesOptimal(10)
    assert policy.n_actions == 2
    with pytest.warns(DeprecationWarning, match="n_arms is deprecated.*use n_actions"):
        assert policy.n_arms == 2
    with pytest.raises(ValueError, match="BayesOptimal plays 2 arms, got n_actions=3"):
        policy.start(4, 3)


def test_a_table_with_an_old_column_name_is_refused_naming_the_new_one():
    """Renamed columns have no alias: require_columns names the new column and the rename."""
    import pandas as pd

    from cogmodels.deprecation import RENAMED_COLUMNS, require_columns

    assert RENAMED_COLUMNS == {"lane": "subject", "episode": "session", "time_s": "time"}
    steps = pd.DataFrame({"episode": [0], "step": [0], "delta": [0.1]})
    require_columns("steps", steps, ("step", "delta"))  # present: no error
    with pytest.raises(ValueError, match=(
            r"^steps must be a step table with the column\(s\) \['session'\]; it has \['episode', "
            r"'step', 'delta'\]; 'episode' is the old name of 'session': rename with steps = "
            r"steps.rename\(columns=\{'episode': 'session'\}\)$")):
        require_columns("steps", steps, ("session", "delta"), "a step table")
    with pytest.raises(ValueError, match=r"^table must be a table with the column\(s\) \['trial'\]; "
                                         r"it has \['episode', 'step', 'delta'\]$"):
        require_columns("table", steps, ("trial",))  # no old name of it: no rename offered
