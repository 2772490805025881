"""A decoder that drives the cursor and adapts between bins: one agent for :func:`rollout`.

:class:`ClosedLoopAgent` is :func:`~cogmodels.agents.decoders.session.run_closed_loop` as an
:class:`~cogmodels.agent.Learner`. Each bin ``act`` decodes the counts, corrects the bias
(Jarosiewicz et al. 2015), applies the output gain and blends in the assist (Orsborn et al.
2012); ``learn`` labels the bin for closed-loop decoder adaptation (CLDA: SmoothBatch, Orsborn
et al. 2012; RML, Dangi et al. 2014; ReFIT, OFC or retrospective-target-inference intentions),
lets the adaptation update the decoder when its period is over, ticks the assist down, records
the bin and the trials it completed (:func:`trial_chunk`, :func:`trial_table`), and restarts the
decoder state of the lanes that start a new session.

The bias correction stays in ``act``: the corrected output of bin ``t`` subtracts the estimate
``b_t``, which already includes that bin's output ``v_t`` (the module docstring of
:mod:`~cogmodels.agents.decoders.bias`), so its update cannot wait for the outcome of the step.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from cogmodels.agents.decoders.assist import Assist
from cogmodels.agents.decoders.base import Decoder, DecoderAgent
from cogmodels.agents.decoders.bias import BiasCorrection
from cogmodels.agents.decoders.clda import OFCIntention, _Adaptation, refit_intention
from cogmodels.agents.decoders.recalibration import RetrospectiveTargetInference
from cogmodels.agents.saving import Saveable
from cogmodels.envs.bci.loop import RESULT_KEYS

__all__ = ["INTENTIONS", "ClosedLoopAgent", "trial_chunk", "trial_table"]

#: how a :class:`ClosedLoopAgent` labels the bins it adapts on
INTENTIONS = ("refit", "intended", "rti", "ofc")
#: the trial table's columns (:func:`trial_table`)
TRIAL_COLUMNS = ("subject", "day", "trial", "time", "state", *RESULT_KEYS, "target_radius",
                 "index_of_difficulty", "reward")
#: the columns a trial table adds for tasks that select (grid, clicks), as
#: :meth:`cogmodels.envs.bci.CursorBCI.trial_row` does: an incorrect selection ended the trial,
#: and the number of possible targets (what :func:`~cogmodels.envs.bci.metrics.summarize` needs
#: for the bitrate)
SELECTION_COLUMNS = ("wrong_selection", "n_targets")
#: the columns of :data:`TRIAL_COLUMNS` that are not float64
_EMPTY_DTYPES = {**dict.fromkeys(("subject", "day", "trial", "state", "n_entries", "n_targets"),
                                 np.int64),
                 **dict.fromkeys(("success", "timed_out", "wrong_selection"), np.bool_)}


class ClosedLoopAgent(Saveable, DecoderAgent):
    """A decoder driving ``CursorBCIVector`` with CLDA, assist and bias correction (module docstring).

    Parameters
    ----------
    decoder : Decoder
        The fitted decoder (adapted in place by ``adaptation``).
    config : BCI configuration
        The task's configuration (``env.config``): its bin width, speed limit, workspace and
        trial timeout.
    gain : float or array-like of float, default 1.0
        The output gain, one or one per lane (> 0).
    adaptation : SmoothBatch or RML, optional
        The CLDA rule of ``decoder``.
    intention : {"refit", "intended", "rti", "ofc"}
        How each bin is labelled for ``adaptation``
        (:func:`~cogmodels.agents.decoders.session.run_closed_loop`).
    debias : bool
        Start the intention estimates from ``G^{-1} v``, the decoder's output divided by its
        steady-state gain.
    assist : Assist, optional
        Blended into the cursor velocity each bin; ticks down every bin.
    bias : BiasCorrection, optional
        Corrects the decoder's output first; that corrected output moves the cursor, is labelled
        and is recorded.
    record : SessionRecord, optional
        Keeps every bin (:class:`~cogmodels.agents.decoders.session.SessionRecord`).

    Notes
    -----
    ``save(path)`` writes the decoder, the adaptation (its statistics and clock), the bias
    estimate, the assist's elapsed time, the gains and the run's state (clock, trials so far,
    intention estimators) to JSON + ``.npz``, but not ``config`` nor ``record``:
    ``load_decoder(path, config=env.config)`` (``record=`` optional) gives them back. A new
    :func:`~cogmodels.rollout.rollout` of the loaded agent continues the adaptation where the
    saved one stopped, as the saved agent's next rollout would.

    Attributes
    ----------
    bins_ : int
        The bins played since :meth:`initial_state` (the run's clock, reset steps included).
    chunks_ : list of dict
        The :func:`trial_chunk` of every bin that completed trials; :meth:`trial_table` the table.
    """

    #: given back to ``load_decoder``: the task's configuration and the bin recorder
    _not_saved = ("config", "record")
    _must_be_given = ("config",)

    def __init__(self, decoder: Decoder, config: Any, *, gain: float | np.ndarray = 1.0,
                 adaptation: _Adaptation | None = None, intention: str = "refit",
                 debias: bool = True, assist: Assist | None = None,
                 bias: BiasCorrection | None = None, record: Any = None) -> None:
        from cogmodels.agents.decoders.session import SessionRecord

        super().__init__(decoder, gain=gain)
        if intention not in INTENTIONS:
            raise ValueError(f"intention must be one of {list(INTENTIONS)}, got {intention!r}")
        if adaptation is not None and adaptation.decoder is not decoder:
            raise ValueError("adaptation must adapt the decoder passed in (adaptation.decoder is "
                             "another object)")
        if assist is not None and not isinstance(assist, Assist):
            raise TypeError(f"assist must be an Assist or None, got {type(assist).__name__}")
        if bias is not None and not isinstance(bias, BiasCorrection):
            raise TypeError(f"bias must be a BiasCorrection or None, got {type(bias).__name__}")
        if record is not None and not isinstance(record, SessionRecord):
            raise TypeError(f"record must be a SessionRecord or None, got {type(record).__name__}")
        self.config = config
        self.adaptation, self.intention, self.debias = adaptation, intention, bool(debias)
        self.assist, self.bias, self.record = assist, bias, record
        needs = {"target_radius"}  # of the trial's target: a column of the trial table
        if assist is not None or record is not None or adaptation is not None:
            needs |= {"cursor", "target", "target_radius"}
        if adaptation is not None and intention == "ofc":
            needs.add("cursor_velocity")
        if adaptation is not None and intention == "intended":
            needs.add("intended_velocity")
        #: the vector info entries read with each observation (rollout hands them over)
        self.info_columns = tuple(sorted(needs))

    def initial_state(self, n_lanes: int) -> None:
        """Reset the decoder and the run: its clock, trials, intention estimators."""
        super().initial_state(n_lanes)
        cfg = self.config
        self._rti = None
        if self.adaptation is not None and self.intention == "rti":
            self._rti = RetrospectiveTargetInference(self.adaptation, cfg.task.timeout_steps + 1)
        self._ofc = OFCIntention(dt=cfg.task.dt) if self.intention == "ofc" else None
        self._unshrink = None
        if self.adaptation is not None and self.debias:
            self._unshrink = np.linalg.inv(self.decoder.steady_gain())
        self._v: np.ndarray | None = None
        self.bins_ = 0
        self.chunks_: list[dict[str, np.ndarray]] = []

    def act(self, observation: Any, state: None, rng: np.random.Generator) -> tuple[np.ndarray, None]:
        """Return the cursor velocity of each lane: decoded, bias-corrected, gained, assisted."""
        v = self.decoder.step(observation["obs"]).copy()
        if self.bias is not None:
            v = self.bias(v)
        self._v = v
        applied = self._gains * v
        if self.assist is not None:
            applied = self.assist(applied, observation["cursor"], observation["target"],
                                  observation["target_radius"])
        return applied, state

    def learn(self, transition: Any) -> None:
        """Adapt on the bin, tick the assist, record the bin and its trials, restart lanes."""
        t = self.bins_
        self.bins_ = t + 1
        obs, info = transition.observation, transition.info
        acted = bool(np.any(transition.stepped))  # False: next_step reset every copy
        restart = (transition.autoreset if transition.autoreset is not None
                   else np.asarray(transition.terminated) | np.asarray(transition.truncated))
        cursor, target, radius = (obs.get(k) for k in ("cursor", "target", "target_radius"))
        adaptation, v = self.adaptation, self._v
        if adaptation is not None:
            if acted:
                self._observe(obs, v, cursor, target, radius, np.asarray(transition.stepped))
            if adaptation.tick() and self._unshrink is not None:
                self._unshrink = np.linalg.inv(self.decoder.steady_gain())
        if self.assist is not None:
            self.assist.tick()
        if acted:
            done = np.asarray(transition.trial_end)
            applied = transition.action
            if self.record is not None:
                self.record.add(counts=obs["obs"], velocity=v, applied=applied, cursor=cursor,
                                target=target, radius=radius, click=info["success"] & done,
                                trial_end=done)
            if self._rti is not None:
                cfg = self.config
                end = cfg.clip_position(cursor + cfg.task.dt * cfg.clip_velocity(applied))
                self._rti.end_trials(done, info["success"] & done, end, radius)
            if done.any():
                task = self.config.task
                self.chunks_.append(trial_chunk(info, done, (t + 1) * task.dt, radius,
                                                task.n_targets if task.selects else None))
        if self._rti is not None:
            self._rti.clear(restart)
        return super().learn(transition)

    def _observe(self, obs: Any, v: np.ndarray, cursor: np.ndarray, target: np.ndarray,
                 radius: np.ndarray, live: np.ndarray) -> None:
        """Hand the bin to the adaptation, labelled by the intention (the lanes that played it)."""
        adaptation = self.adaptation
        v_est = v if self._unshrink is None else np.einsum("lij,lj->li", self._unshrink, v)
        if self.intention == "refit":
            adaptation.observe(obs["obs"], refit_intention(v_est, cursor, target, radius), weight=live)
        elif self._ofc is not None:
            adaptation.observe(obs["obs"], self._ofc(obs["cursor_velocity"], cursor, target, radius),
                               weight=live)
        elif self.intention == "intended":
            adaptation.observe(obs["obs"], obs["intended_velocity"], weight=live)
        else:
            self._rti.record(obs["obs"], v_est, cursor)

    def trial_table(self) -> pd.DataFrame:
        """Return the trial table of the trials completed since :meth:`initial_state`."""
        return trial_table(self.chunks_, selects=self.config.task.selects)

    def __repr__(self) -> str:
        return (f"ClosedLoopAgent({self.decoder!r}, adaptation={type(self.adaptation).__name__}, "
                f"intention={self.intention!r})")


def trial_chunk(info: dict[str, Any], done: np.ndarray, time: float,
                radius: np.ndarray, n_targets: int | None = None) -> dict[str, np.ndarray]:
    """Return the rows of the trials that ended in one bin, for :func:`trial_table`.

    Parameters
    ----------
    info : dict
        The vector environment's ``info`` of the step that ended them.
    done : numpy.ndarray
        ``(L,)`` booleans: the lanes whose trial ended (and counts).
    time : float
        Seconds into the session at the end of the bin.
    radius : numpy.ndarray
        ``(L,)`` the radius of the target those trials showed.
    n_targets : int, optional
        For a task that selects (grid, clicks): its number of possible targets. The rows then
        also hold :data:`SELECTION_COLUMNS` (``info["wrong_selection"]`` and ``n_targets``).

    Returns
    -------
    dict
        One array per column, one entry per ended trial.
    """
    chunk = {k: np.asarray(info[k])[done] for k in ("state", *RESULT_KEYS)}
    chunk.update(subject=np.flatnonzero(done), day=np.asarray(info["day"])[done],
                 time=np.full(int(done.sum()), time), target_radius=np.asarray(radius)[done])
    if n_targets is not None:
        chunk.update(wrong_selection=np.asarray(info["wrong_selection"])[done],
                     n_targets=np.full(int(done.sum()), n_targets))
    return chunk


def trial_table(chunks: list[dict[str, np.ndarray]], selects: bool = False) -> pd.DataFrame:
    """Return the trial table of the :func:`trial_chunk` rows of a session.

    One row per completed trial per lane: ``subject`` (the lane), ``day``, ``trial``, ``time``
    (the seconds into the run at which the trial ended), ``state`` (target index), the outcome
    columns of :meth:`cogmodels.envs.bci.CursorBCI.trial_row`, ``target_radius``,
    ``index_of_difficulty`` (``log2(1 + D / 2r)``, Fitts 1954) and ``reward``; for tasks that
    select (``selects``, the chunks made with ``n_targets``), also :data:`SELECTION_COLUMNS`.
    """
    columns = [*TRIAL_COLUMNS, *(SELECTION_COLUMNS if selects else ())]
    if not chunks:  # typed as a session's trials are, so tables concatenate to the same types
        return pd.DataFrame({c: np.empty(0, dtype=_EMPTY_DTYPES.get(c, np.float64))
                             for c in columns})
    table = pd.DataFrame({k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]})
    table = table.sort_values(["subject", "time"], kind="stable").reset_index(drop=True)
    table.insert(1, "trial", table.groupby("subject").cumcount())
    table["reward"] = table["success"].astype(float)
    table["index_of_difficulty"] = np.log2(1.0 + table["distance"] / (2.0 * table["target_radius"]))
    return table[columns]
