"""The agent protocol: everything that acts in an environment, in one small interface.

An **agent** is the shape stable-baselines3 users know, batched over a leading axis of lanes
(one lane per simulated subject or environment copy), like the model protocol:

- ``initial_state(n_lanes) -> state``: the agent's state at the start of a rollout;
- ``act(observation, state, rng) -> (action, state)``: one action per lane;
- optionally ``learn(transition) -> state``: the state after the outcome of a step (learners);
- optionally ``trial_columns(state) -> {column: (lanes,) array}``: extra trial-table columns of the
  trial that the last step completed (latent variables, choice probabilities); empty otherwise.
- optionally ``info_columns``: the entries of a native vector environment's ``info`` that the
  agent reads with its observation (e.g. the BCI cursor's ``cursor`` and ``target``, for an
  assist or closed-loop decoder adaptation): those of the reset or step that returned it.
- optionally ``acts_on_autoreset = True``: act on the ``next_step`` steps where every copy of a
  vector environment resets too (the environment ignores those actions; by default the agent
  does not act there), for agents that act on every step of a clock (a BCI decoder reads and
  explores on every bin).

``observation`` is a mapping of ``(lanes, ...)`` arrays: ``"obs"``, the environment's observations
stacked over lanes, plus the trial-table columns the agent names in ``observation_columns`` (read
from each task's :meth:`~cogmodels.envs.core.TaskEnv.trial_context`). ``state`` is whatever the
agent needs (a dict of arrays, a hidden state); :func:`cogmodels.rollout.rollout` only passes it
back. Cognitive models, TD learners, bandit baselines, RNN policies, SB3 policies and BCI decoders
are all agents; a :class:`~cogmodels.model.CognitiveModel` becomes one with its parameters through
:class:`ModelAgent` (``model.as_agent(params)``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np

from cogmodels.model import CognitiveModel, merge_state, pick
from cogmodels.validation import check_bool, check_int

__all__ = [
    "Agent",
    "Learner",
    "ModelAgent",
    "Observation",
    "SessionAgent",
    "SessionPolicy",
    "Transition",
    "draw_categorical",
]

#: what an agent sees each step: ``"obs"`` (lanes, ...) plus its ``observation_columns`` (lanes,)
Observation = Mapping[str, np.ndarray]


@runtime_checkable
class Agent(Protocol):
    """Anything that acts: ``initial_state(n_lanes)`` and ``act(observation, state, rng)``."""

    def initial_state(self, n_lanes: int) -> Any:
        """Return the agent's state at the start of a rollout of ``n_lanes`` lanes."""
        ...

    def act(self, observation: Observation, state: Any, rng: np.random.Generator) -> tuple[np.ndarray, Any]:
        """Return one action per lane for ``observation``, and the new state."""
        ...


@runtime_checkable
class Learner(Agent, Protocol):
    """An agent that also learns from the outcome of each step: ``learn(transition) -> state``."""

    def learn(self, transition: Transition) -> Any:
        """Return the state after the outcome of a step, ``transition``."""
        ...


class Transition(NamedTuple):
    """One environment step of every lane, handed to :meth:`Learner.learn`.

    An immutable named tuple (built every step: a tuple is several times cheaper to build than a
    frozen dataclass).

    Attributes
    ----------
    observation : Observation
        What the agent saw before acting.
    state : Any
        The agent's state returned by ``act``.
    action : numpy.ndarray
        ``(lanes, ...)`` the actions taken.
    reward : numpy.ndarray
        ``(lanes,)`` float rewards (0 in lanes that did not step).
    next_observation : Observation
        What the agent sees next (after an automatic reset, the new session's first observation).
    terminated : numpy.ndarray
        ``(lanes,)`` bool: the step ended the lane's session.
    truncated : numpy.ndarray
        ``(lanes,)`` bool: the session was cut short.
    stepped : numpy.ndarray
        ``(lanes,)`` bool: the lane was stepped (False once its rollout has finished).
    info : Any
        The environments' ``info``: a list of dicts (single environments) or the vector info dict,
        holding the step's own entries in every copy (a ``same_step`` vector env's
        ``info["final_info"]`` put back where sessions ended; its returned ``info`` holds the
        reset's there, which ``next_observation`` reads). Where a session ended and the next
        began on this step, the observation that ended it is ``info[lane]["final_obs"]`` (single
        environments; ``info["final_obs"]`` for vector ones).
    trial_end : numpy.ndarray or None
        ``(lanes,)`` bool: the step completed a trial (a row of the trial table; every step of
        an environment that is not a cogmodels task). None where the caller does not know.
    autoreset : numpy.ndarray or None
        ``(lanes,)`` bool, in a vector environment with Gymnasium's ``next_step`` autoreset only:
        the step was the automatic reset of the lane (its session ended on the step before):
        its action was ignored, ``stepped`` is False and ``next_observation`` is the new
        session's first. None elsewhere (single environments and ``same_step`` autoreset, where
        ``terminated``/``truncated`` mark the step after which a new session starts).
    """

    observation: Observation
    state: Any
    action: np.ndarray
    reward: np.ndarray
    next_observation: Observation
    terminated: np.ndarray
    truncated: np.ndarray
    stepped: np.ndarray
    info: Any
    trial_end: np.ndarray | None = None
    autoreset: np.ndarray | None = None


def draw_categorical(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One categorical draw per row of ``(lanes, n_actions)`` ``probs``, by inverting the CDF.

    Uses exactly one uniform number per lane (``rng.random(lanes)``), so the random stream does not
    depend on the probabilities.
    """
    return inverse_cdf(probs, rng.random(probs.shape[0]))


def inverse_cdf(probs: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Return the category of each row of ``probs`` that the uniform ``u`` (one per row) falls in."""
    return np.minimum((probs.cumsum(axis=1) <= u[:, None]).sum(axis=1), probs.shape[1] - 1)


class ModelAgent:
    """A :class:`~cogmodels.model.CognitiveModel` with its parameters, acting as an :class:`Agent`.

    Each step draws the action from ``model.action_probabilities`` (:func:`draw_categorical`) and,
    once the trial's last stage is played, advances the state with ``model.update`` on the trial's
    observation, its actions (``(lanes,)``, or ``(lanes, stages)`` for multi-stage models such as
    the two-step task) and its summed reward: the same code that scores choices when fitting. At a
    block boundary the state restarts where the model says so (``reset_on_block``). A model of
    choices and RTs (``rt_column`` set) also draws each trial's RT with ``model.sample_rt``, given
    the choice, reported in the trial table's ``rt`` column.

    Parameters
    ----------
    model : CognitiveModel
        The model (structure).
    params : Mapping[str, Any]
        One scalar per parameter, or one value per lane.
    latents : bool
        Report the model's trial-wise latents as trial-table columns (:meth:`trial_columns`).
    record_probabilities : bool
        Report ``p_choice``, the probability with which each trial's choices were drawn (the
        product over stages).
    """

    def __init__(
        self,
        model: CognitiveModel,
        params: Mapping[str, Any],
        *,
        latents: bool = True,
        record_probabilities: bool = False,
    ) -> None:
        if not isinstance(model, CognitiveModel):
            raise TypeError(
                f"model must be a CognitiveModel (e.g. make_model('q_learning')), got {type(model).__name__}"
            )
        if not isinstance(params, Mapping):
            raise TypeError(
                f"params must be a mapping {{parameter: value(s)}} for {list(model.param_names)}, got {params!r}"
            )
        self.model = model
        self.params = params
        self.latents = check_bool("latents", latents)
        self.record_probabilities = check_bool("record_probabilities", record_probabilities)
        self.n_actions = model.n_actions
        self._cols = tuple(model.observation_columns)
        self._n_stages = len(model.choice_columns)
        self.observation_columns = self._cols + (("block",) if model.reset_on_block else ())

    @property
    def name(self) -> str:
        """The model's name."""
        return self.model.name

    @property
    def n_lanes(self) -> int:
        """The lanes ``params`` asks for: the longest parameter array (1 for scalars)."""
        return max((np.size(v) for v in self.params.values()), default=1)

    def initial_state(self, n_lanes: int) -> dict[str, Any]:
        """``{"model": model state, ...}`` with the parameters checked and broadcast to ``n_lanes``."""
        model_state = self.model.initial_state(self.model.check_params(self.params, n_lanes=n_lanes))
        return {
            "model": model_state,
            "init": model_state if self.model.reset_on_block else None,
            "block": None,
            "stage": 0,
            "trial_obs": None,
            "actions": [],
            "p_choice": np.ones(n_lanes),
            "reward": np.zeros(n_lanes),
            "columns": {},
        }

    def _model_observation(self, observation: Observation) -> dict[str, np.ndarray]:
        return {c: observation[c] for c in self._cols}

    def act(self, observation: Observation, state: dict[str, Any], rng: np.random.Generator):
        """Draw one action per lane from the model's choice probabilities at the current stage."""
        j = state["stage"]
        if self._n_stages == 1:
            obs = trial_obs = self._model_observation(observation)
        else:
            trial_obs = self._model_observation(observation) if j == 0 else {
                **state["trial_obs"], **self._model_observation(observation)}
            lanes = state["p_choice"].shape[0]
            obs = {**trial_obs, "stage": j, "choices": np.stack(state["actions"], axis=1) if j else
                   np.zeros((lanes, 0), dtype=np.int64)}
        if j == 0 and state["block"] is None and state["init"] is not None:
            state["block"] = observation["block"]
        probs = self.model.action_probabilities(state["model"], obs)
        action = draw_categorical(probs, rng)
        if self.model.rt_column is not None and self._n_stages == 1:  # a model of choices and RTs
            state["rt"] = self.model.sample_rt(state["model"], obs, action, rng)
        if self.record_probabilities:
            p = pick(probs, action)
            state["p_choice"] = p if j == 0 else state["p_choice"] * p
        state["actions"] = [action] if j == 0 else [*state["actions"], action]
        state["trial_obs"] = trial_obs
        return action, state

    def learn(self, transition: Transition) -> dict[str, Any]:
        """Update the model state once the trial's last stage is done; return the state.

        Before the last stage only the stage and the summed reward advance. After it the trial's
        latents (and ``p_choice``) are kept for :meth:`trial_columns`, the model learns from the
        trial, and its state is reset where the block changes (``reset_on_block``). A step in
        which no lane played (every copy reset by ``next_step`` autoreset) teaches nothing.
        """
        state = transition.state
        if transition.autoreset is not None and not transition.stepped.any():
            return state
        j = state["stage"]
        state["reward"] = transition.reward if j == 0 else state["reward"] + transition.reward
        if j + 1 < self._n_stages:
            state["stage"] = j + 1
            state["columns"] = {}
            return state
        actions = state["actions"][0] if self._n_stages == 1 else np.stack(state["actions"], axis=1)
        obs, reward, mstate = state["trial_obs"], state["reward"], state["model"]
        cols = self.model.latents(mstate, obs, actions, reward) if self.latents else {}
        if self.record_probabilities:
            cols = {**cols, "p_choice": state["p_choice"]}
        if "rt" in state:  # the RT drawn with the choice (a model with rt_column)
            cols = {**cols, self.model.rt_column: state["rt"]}
        state["columns"] = cols
        nxt = transition.next_observation
        mstate = self.model.update(mstate, obs, actions, reward, self._model_observation(nxt))
        if state["init"] is not None:
            changed = nxt["block"] != state["block"]
            if changed.any():
                mstate = merge_state(changed, state["init"], mstate)
            state["block"] = nxt["block"]
        state["model"] = mstate
        state["stage"] = 0
        return state

    def trial_columns(self, state: dict[str, Any]) -> Mapping[str, np.ndarray]:
        """Return the latents (and ``p_choice``) of the trial the last step completed, or ``{}``."""
        return state["columns"]

    def __repr__(self) -> str:
        return f"ModelAgent({self.model!r})"


class SessionPolicy:
    """A policy that keeps its own state and plays a batch of sessions in lockstep.

    ``start(n_sessions, n_actions)`` begins new sessions, ``choose(obs, rng)`` returns one action per
    session and ``observe(actions, rewards)`` feeds back the outcomes, once per step in this
    order. The older, stateful interface of the bandit baselines
    (:mod:`cogmodels.agents.bandit_baselines`) and of recurrent policies; :meth:`as_agent` turns it
    into an :class:`Agent` for :func:`cogmodels.rollout.rollout`.
    """

    name = "policy"

    def start(self, n_sessions: int, n_actions: int) -> None:
        """Begin ``n_sessions`` new sessions of a bandit with ``n_actions`` arms."""
        raise NotImplementedError

    def choose(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Return one action per session for the observations ``obs``."""
        raise NotImplementedError

    def observe(self, actions: np.ndarray, rewards: np.ndarray) -> None:
        """Feed back the actions taken and the rewards they earned, one per session."""
        raise NotImplementedError

    def as_agent(self, n_actions: int = 2) -> SessionAgent:
        """Return this policy as an :class:`~cogmodels.agent.Agent` of ``n_actions`` arms.

        The agent (:class:`SessionAgent`) plays with :func:`cogmodels.rollout.rollout`.
        """
        return SessionAgent(self, n_actions)


class SessionAgent:
    """A :class:`SessionPolicy` as an :class:`~cogmodels.agent.Agent`.

    The policy keeps its own state (``start`` / ``choose`` / ``observe``); the agent state is the
    number of lanes. ``act`` passes ``observation["obs"]`` to ``choose``; ``learn`` feeds the
    lanes' actions and rewards to ``observe``.

    Parameters
    ----------
    policy : SessionPolicy
        The policy to drive.
    n_actions : int
        Arms of the task.
    """

    def __init__(self, policy: SessionPolicy, n_actions: int = 2) -> None:
        if not isinstance(policy, SessionPolicy):
            raise TypeError(f"policy must be a SessionPolicy (start/choose/observe), got {type(policy).__name__}")
        self.policy = policy
        self.n_actions = check_int("n_actions", n_actions, 2)
        self.name = policy.name

    def initial_state(self, n_lanes: int) -> int:
        """Start ``n_lanes`` sessions of the policy and return the number of lanes as the state."""
        self.policy.start(n_lanes, self.n_actions)
        return n_lanes

    def act(self, observation: Any, state: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        """Return the policy's choice for ``observation["obs"]`` and the unchanged state."""
        return np.asarray(self.policy.choose(observation["obs"], rng), dtype=np.int64), state

    def learn(self, transition: Any) -> int:
        """Feed the step's actions and rewards to the policy and return the unchanged state."""
        self.policy.observe(transition.action, transition.reward)
        return transition.state
