"""State representations for TD learners: time within a trial, cue presence, tabular one-hots.

A representation turns the stream of an episode's observations into feature vectors ``x_t``; a
linear learner then estimates ``V(x_t) = w · x_t``. The time representations read only the cue
channel of the observation and track the time elapsed since the most recent cue onset, so the
steps before a cue (the inter-trial interval, whose length is random) all map to the same
all-zero vector and keep value 0: the cue's onset is then unpredictable and produces the positive
prediction error, as in the dopamine models of Montague, Dayan & Sejnowski (1996) and Schultz,
Dayan & Montague (1997).

- :class:`CompleteSerialCompound` (CSC, the tapped delay line; Sutton & Barto 1990; Moore et al.
  1989): one feature per step since cue onset.
- :class:`Microstimulus` (Ludvig, Sutton & Kehoe 2008, Neural Computation 20, 3034–3054,
  "Stimulus representation and the timing of reward-prediction errors in models of the dopamine
  system"): a decaying memory trace of the cue read out by Gaussian basis functions of its height.
- :class:`Presence`: a single feature, on while the cue is on.
- :class:`TabularOneHot`: one feature per distinct observation (or recent history of
  observations), for tabular learners in any task with discrete observations.

Every representation follows one protocol: ``n_features``, ``reset()`` at the start of an episode
and ``observe(obs) -> x`` once per step, in order.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np

from cogmodels.validation import check_int, check_number

__all__ = [
    "CompleteSerialCompound",
    "Microstimulus",
    "Presence",
    "Representation",
    "TabularOneHot",
    "TimeRepresentation",
    "make_representation",
]


class Representation:
    """Base class: maps the observations of an episode, step by step, to feature vectors."""

    n_features: int = 0

    def reset(self) -> None:
        """Forget the episode so far (call at every ``env.reset``)."""

    def observe(self, obs: Any) -> np.ndarray:
        """Return the ``(n_features,)`` float64 features of the step that observed ``obs``."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_features={self.n_features})"


class _OnsetTimer:
    """Steps since the latest onset of ``obs[index] > threshold`` (-1 before the first)."""

    def __init__(self, index: int, threshold: float) -> None:
        self.index = index
        self.threshold = threshold
        self.reset()

    def reset(self) -> None:
        self.elapsed = -1
        self.on = False

    def observe(self, flat: np.ndarray) -> int:
        if self.index >= flat.size:
            raise ValueError(
                f"channel index {self.index} is outside the observation of size {flat.size}"
            )
        on = bool(flat[self.index] > self.threshold)
        if on and not self.on:
            self.elapsed = 0
        elif self.elapsed >= 0:
            self.elapsed += 1
        self.on = on
        return self.elapsed


class TimeRepresentation(Representation):
    """A representation of the time elapsed since the most recent cue onset.

    The cue is ``obs[cue_index] > threshold``; an onset is a step with the cue on after a step
    with it off (or at the start of the episode). ``elapsed`` is 0 at the onset and counts up
    by one per step until the next onset; it is -1 before the first cue of an episode.
    Subclasses define :meth:`features`, the vector for a given ``elapsed``.
    """

    def __init__(self, *, cue_index: int = 0, threshold: float = 0.5) -> None:
        self.cue_index = check_int("cue_index", cue_index, 0)
        self.threshold = float(threshold)
        self._timer = _OnsetTimer(self.cue_index, self.threshold)

    @property
    def elapsed(self) -> int:
        """Steps since the latest cue onset (-1 before the first)."""
        return self._timer.elapsed

    def reset(self) -> None:
        """Forget the latest cue onset (call at every ``env.reset``)."""
        self._timer.reset()

    def features(self, elapsed: Any) -> np.ndarray:
        """Features for elapsed time(s) ``elapsed`` (int or array; < 0: no cue yet), ``(..., n)``."""
        raise NotImplementedError

    def observe(self, obs: Any) -> np.ndarray:
        """Return the features of the time since the cue's latest onset, ``obs`` included."""
        flat = np.asarray(obs, dtype=np.float64).reshape(-1)
        return self.features(self._timer.observe(flat))


class CompleteSerialCompound(TimeRepresentation):
    r"""The complete serial compound (tapped delay line): one feature per step since cue onset.

    .. math:: x_t(i) = [\,t - t_{\text{onset}} = i\,], \qquad i = 0, \dots, n_{\text{steps}} - 1

    Before the first cue and from ``n_steps`` steps after an onset on, every feature is 0 (value
    0). Choose ``n_steps`` so that the representation is silent before the next cue can come
    (e.g. ``trial_steps - cue_step`` in :class:`~cogmodels.envs.pavlovian.PavlovianConditioning`),
    otherwise the late states learn to predict the next, unpredictable cue.

    With tabular TD(λ) it reproduces the transfer of the prediction error from the reward to the
    cue and the dip at the time of an omitted reward (Schultz, Dayan & Montague 1997, Science
    275, 1593–1599; Sutton & Barto 1990).
    """

    def __init__(self, n_steps: int, *, cue_index: int = 0, threshold: float = 0.5) -> None:
        self.n_steps = check_int("n_steps", n_steps, 1)
        self.n_features = self.n_steps
        super().__init__(cue_index=cue_index, threshold=threshold)

    def features(self, elapsed: Any) -> np.ndarray:
        """Return the one-hot of ``elapsed`` over ``n_steps`` (zeros before the cue and after)."""
        e = np.asarray(elapsed)
        out = (np.arange(self.n_steps) == e[..., None]).astype(np.float64)
        return out

    def __repr__(self) -> str:
        return f"CompleteSerialCompound(n_steps={self.n_steps})"


class Microstimulus(TimeRepresentation):
    r"""Microstimuli (Ludvig, Sutton & Kehoe 2008, Neural Computation 20, 3034–3054).

    A stimulus onset starts a memory trace that decays exponentially, ``y_t = d^{t - t_onset}``;
    ``m`` Gaussian basis functions of the trace height, centred at ``mu_i = i / m``, are scaled
    by the trace:

    .. math::

        x_t(i) = \frac{y_t}{\sqrt{2\pi}} \exp\!\Big(-\frac{(y_t - i/m)^2}{2\sigma^2}\Big),
        \qquad i = 1, \dots, m

    so that later microstimuli are weaker and broader in time. As in the paper, every stimulus
    has its own microstimuli: the cue's (``cue_index``) and, with ``us_index`` (e.g. 1, the
    reward channel of :class:`~cogmodels.envs.pavlovian.PavlovianConditioning`), the reward's,
    which let the value fall back after a delivered reward. The prediction error then moves to the
    cue but, unlike with the CSC, the response at the time of the reward does not vanish
    completely and the dip after an omitted reward is smaller and spread out in time, closer to
    recorded dopamine responses. Ludvig et al. used ``sigma = 0.08`` and a trace decay of 0.985
    per (short) time step; with coarse steps (a delay of ~10 steps) a faster decay such as 0.85
    spreads the microstimuli over the interval. ``presence=True`` appends a presence feature per
    stimulus (1 while it is on).

    The reward channel of the observation at step ``t`` shows the reward of step ``t``: use
    ``us_index`` only with a learner that predicts the rewards *after* the current step, as
    :class:`~cogmodels.agents.td.TDCritic` does.
    """

    def __init__(
        self,
        n_microstimuli: int = 10,
        *,
        sigma: float = 0.08,
        decay: float = 0.985,
        presence: bool = False,
        cue_index: int = 0,
        us_index: int | None = None,
        threshold: float = 0.5,
    ) -> None:
        self.n_microstimuli = check_int("n_microstimuli", n_microstimuli, 1)
        self.sigma = check_number("sigma", sigma, 0.0, low_open=True)
        self.decay = check_number("decay", decay, 0.0, 1.0, low_open=True)
        if self.decay == 1.0:
            raise ValueError(f"decay must be a number in (0, 1), got {decay!r}")
        self.presence = bool(presence)
        self.centres = np.arange(1, self.n_microstimuli + 1) / self.n_microstimuli
        super().__init__(cue_index=cue_index, threshold=threshold)
        self.us_index = None if us_index is None else check_int("us_index", us_index, 0)
        if self.us_index is not None and self.us_index == self.cue_index:
            raise ValueError(f"us_index must differ from cue_index={self.cue_index}, got {us_index!r}")
        self._us_timer = None if self.us_index is None else _OnsetTimer(self.us_index, self.threshold)
        per_stimulus = self.n_microstimuli + int(self.presence)
        self.n_features = per_stimulus * (1 if self.us_index is None else 2)

    def reset(self) -> None:
        """Forget the latest cue and US onsets (call at every ``env.reset``)."""
        super().reset()
        if self._us_timer is not None:
            self._us_timer.reset()

    def trace(self, elapsed: Any) -> np.ndarray:
        """Return the memory trace height ``d ** elapsed`` (0 before the first onset)."""
        e = np.asarray(elapsed, dtype=np.float64)
        return np.where(e >= 0, self.decay ** np.maximum(e, 0.0), 0.0)

    def features(self, elapsed: Any) -> np.ndarray:
        """Return the cue's microstimuli (and presence at the onset) for time(s) ``elapsed``."""
        y = self.trace(elapsed)[..., None]
        g = np.exp(-((y - self.centres) ** 2) / (2.0 * self.sigma**2)) / np.sqrt(2.0 * np.pi)
        x = g * y
        if self.presence:  # features(elapsed) alone cannot know the cue's duration: onset only
            on = (np.asarray(elapsed) == 0).astype(np.float64)[..., None]
            x = np.concatenate([x, on], axis=-1)
        return x

    def observe(self, obs: Any) -> np.ndarray:
        """Return the cue's (and with ``us_index`` the US's) microstimuli at this step."""
        flat = np.asarray(obs, dtype=np.float64).reshape(-1)
        x = self.features(self._timer.observe(flat))
        if self.presence:
            x[-1] = float(self._timer.on)
        if self._us_timer is None:
            return x
        u = self.features(self._us_timer.observe(flat))
        if self.presence:
            u[-1] = float(self._us_timer.on)
        return np.concatenate([x, u])

    def __repr__(self) -> str:
        return (
            f"Microstimulus(n_microstimuli={self.n_microstimuli}, sigma={self.sigma}, "
            f"decay={self.decay}, presence={self.presence}, us_index={self.us_index})"
        )


class Presence(Representation):
    """A single feature, 1 while the cue is on (the "presence" representation).

    With it a TD learner cannot time the reward within a trace interval: the classic foil of
    the CSC and microstimulus representations (Ludvig, Sutton & Kehoe 2008). ``bias=True`` adds a
    constant feature.
    """

    def __init__(self, *, cue_index: int = 0, threshold: float = 0.5, bias: bool = False) -> None:
        self.cue_index = check_int("cue_index", cue_index, 0)
        self.threshold = float(threshold)
        self.bias = bool(bias)
        self.n_features = 1 + int(self.bias)

    def observe(self, obs: Any) -> np.ndarray:
        """Return 1 while the cue is above ``threshold``, else 0 (and a 1 with ``bias``)."""
        flat = np.asarray(obs, dtype=np.float64).reshape(-1)
        if self.cue_index >= flat.size:
            raise ValueError(
                f"cue_index={self.cue_index} is outside the observation of size {flat.size}"
            )
        x = np.array([float(flat[self.cue_index] > self.threshold)])
        return np.append(x, 1.0) if self.bias else x

    def __repr__(self) -> str:
        return f"Presence(bias={self.bias})"


class TabularOneHot(Representation):
    """One feature per distinct observation, or per distinct run of the last ``history`` ones.

    Distinct keys (the observation rounded to ``decimals``; with ``history > 1`` the tuple of the
    last ``history`` observations, padded at the start of an episode) get indices in order of
    first appearance, kept across episodes; ``index`` is the index of the latest step. More than
    ``max_states`` distinct keys raise ``ValueError``. ``history = n + 1`` lets a tabular learner
    solve the n-back task with one-step stimuli.
    """

    def __init__(self, max_states: int = 256, *, history: int = 1, decimals: int = 6) -> None:
        self.max_states = check_int("max_states", max_states, 1)
        self.history = check_int("history", history, 1)
        self.decimals = check_int("decimals", decimals, 0)
        self.n_features = self.max_states
        self.states: dict[tuple, int] = {}
        self.index = -1
        self.reset()

    def reset(self) -> None:
        """Forget the episode's recent observations (the state indices are kept)."""
        self._recent: deque[tuple] = deque([()] * self.history, maxlen=self.history)

    def observe(self, obs: Any) -> np.ndarray:
        """Return the one-hot of this step's key, assigning it the next index if it is new."""
        flat = np.round(np.asarray(obs, dtype=np.float64).reshape(-1), self.decimals)
        self._recent.append(tuple(flat.tolist()))
        key = tuple(self._recent)
        i = self.states.get(key)
        if i is None:
            if len(self.states) >= self.max_states:
                raise ValueError(
                    f"TabularOneHot saw more than max_states={self.max_states} distinct "
                    f"observations (history={self.history}); raise max_states"
                )
            i = self.states[key] = len(self.states)
        self.index = i
        x = np.zeros(self.max_states)
        x[i] = 1.0
        return x

    def __repr__(self) -> str:
        return f"TabularOneHot(max_states={self.max_states}, history={self.history})"


REPRESENTATIONS = ("csc", "microstimulus", "presence", "tabular")


def make_representation(name: str, **kwargs: Any) -> Representation:
    """Build a representation by name: ``"csc"``, ``"microstimulus"``, ``"presence"``, ``"tabular"``."""
    classes = {
        "csc": CompleteSerialCompound,
        "microstimulus": Microstimulus,
        "presence": Presence,
        "tabular": TabularOneHot,
    }
    if name not in classes:
        raise ValueError(f"representation must be one of {list(REPRESENTATIONS)}, got {name!r}")
    return classes[name](**kwargs)
