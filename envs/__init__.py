"""Gymnasium environments of cognitive tasks, registered as ``cogmodels/<Name>-v0``.

Importing ``cogmodels`` (or ``cogmodels.envs``) registers every id::

    import gymnasium as gym
    import cogmodels  # noqa: F401
    env = gym.make("cogmodels/MultiArmedBandit-v0", n_actions=2, n_trials=100)
    envs = gym.make_vec("cogmodels/MultiArmedBandit-v0", num_envs=1024,
                        vectorization_mode="vector_entry_point")
"""

from __future__ import annotations

from gymnasium.envs.registration import register, registry

from cogmodels.envs.core import SessionEndedError, TaskEnv, TaskVectorEnv

__all__ = ["ENV_IDS", "SessionEndedError", "TaskEnv", "TaskVectorEnv", "env_ids"]

#: name -> (module, has a native vector version)
_TASKS: dict[str, tuple[str, bool]] = {
    "MultiArmedBandit": ("bandit", True),
    "RestlessBandit": ("restless_bandit", False),
    "ReversalLearning": ("reversal", True),
    "TwoStep": ("two_step", True),
    "TwoStepStakes": ("two_step_stakes", False),
    "KoolTwoStep": ("kool_two_step", False),
    "RLWM": ("rlwm", False),
    "DelayedMatchToSample": ("delayed_match", True),
    "NBack": ("nback", True),
    "PavlovianConditioning": ("pavlovian", False),
    "GoNoGo": ("go_nogo", False),
    "CursorBCI": ("bci", True),
    "CursorBCIRandomTargets": ("bci", True),
}

ENV_IDS: tuple[str, ...] = tuple(f"cogmodels/{name}-v0" for name in _TASKS)


def _register() -> None:
    for name, (module, vector) in _TASKS.items():
        env_id = f"cogmodels/{name}-v0"
        if env_id in registry:
            continue
        register(
            id=env_id,
            entry_point=f"cogmodels.envs.{module}:{name}",
            vector_entry_point=f"cogmodels.envs.{module}:{name}Vector" if vector else None,
        )


def env_ids() -> list[str]:
    """Return the registered cogmodels environment ids."""
    return list(ENV_IDS)


_register()
