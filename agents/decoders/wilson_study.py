r"""Wilson et al. (2023)'s long-term protocol: daily sessions, recalibration after each one.

Every strategy meets the same simulated subjects (lanes of a
:class:`~cogmodels.envs.bci.vector.CursorBCIVector`) and the same drift: by default Wilson et
al.'s — the tuning subspace keeps a similarity of 0.91 from day to day
(:class:`~cogmodels.envs.bci.drift.TuningRotation`) and the signal-to-noise ratio is redrawn
every day from their two-mode mixture (:class:`~cogmodels.envs.bci.drift.SNRMixture`). Day 0
starts from a steady-state Kalman filter fit on a supervised calibration block. Each day then:

1. the output gain is re-swept (:func:`~cogmodels.envs.bci.gain_sweep.sweep_gain`: one short
   closed-loop block per candidate gain, the one with the shortest mean trial time kept per
   subject — Wilson et al.'s ``gainSweep``);
2. one session is scored with that gain (:func:`~cogmodels.agents.decoders.session.run_closed_loop`,
   every bin recorded);
3. the decoder for the next day is built from the session just played:

- ``"fixed"``: unchanged (only the gain follows the day);
- ``"supervised"``: a fresh filter fit on the session's counts against labels toward the *shown*
  targets (daily supervised recalibration: the targets are known);
- ``"supervised_rebuild"``: Wilson et al.'s daily supervised recalibration
  (``performMethodRecal`` in their ``performance_sweep.py``): the decoder is **rebuilt** each
  day — a fresh fit on the day's calibration block (``day0``'s paradigm: their open-loop
  white-noise block with ``day0="white_noise"``), which then drives a closed-loop block of
  ``session_s`` on the same day, refit on its labels toward the shown targets. The previous
  decoder passes on only its readout norm (:class:`OutputScale`, or their per-column norm with
  ``refit="wilson"``), so one bad session cannot be confirmed by the next refit as in the
  chained ``"supervised"``; the blocks cost about twice that strategy's session time;
- ``"hmm"``: ``"supervised"``'s refit with the targets inferred by PRI-T
  (:class:`~cogmodels.agents.decoders.target_hmm.TargetHMM`, with the click — the task's
  registered selections, one per dwell of ``hold_steps + 1`` bins on the target, so a per-bin
  click rate of ``1 / (hold_steps + 1)``);
- ``"hmm_noclick"``: PRI-T without the click;
- ``"hmm_wilson"``: Wilson et al.'s PRI-T of their 60-day runs (:data:`WILSON_PRIT`: κ = 4 with
  their near-flat distance logistic, no click), which reads the decoder's unsmoothed readout
  (their ``rawDecTraj``; :class:`WilsonLinearDecoder` only — another decoder's output as
  ``"hmm"``);
- ``"hmm_wilson_output"`` and ``"hmm_noclick_raw"``: the two halves of that difference, as
  ablations — their PRI-T's settings on the smoothed output, and ours without the click on the
  unsmoothed readout (with ``refit="wilson"``; of another decoder the readout is the output, so
  they are ``"hmm_wilson"`` and ``"hmm_noclick"``);
- ``"rti"``: retrospective target inference (Jarosiewicz et al. 2015): only the successful
  trials' bins, labelled toward where the cursor ended;
- ``"rti_wilson"``: Wilson et al.'s RTI rule (:func:`rti_wilson_selection`): every trial end,
  timeouts included, taken as a click at the intended target, and of each trial only the bins
  6.4 to 0.6 s before its end that are further than 0.1 from that point and approaching it;
- ``"stabilizer"``: the day-0 filter on factor-analysis latents, realigned to day 0 by
  Procrustes on stable channels selected from the session's counts
  (:class:`~cogmodels.agents.decoders.stabilizer.ProcrustesStabilizer`; no labels) — meant for
  a drift that leaves some channels stable (:func:`wilson_drift` with ``n_stable``); with
  ``refit="wilson"``, Wilson et al.'s stabiliser instead: their linear readout through a PCA
  space realigned after each day's closed-loop block (:class:`WilsonLatentDecoder`);
- ``"stabilizer_oracle"``: the same, aligned on the simulator's hidden stable channels
  (:func:`hidden_stable_channels`) — an ablation, not a method a BCI could run.

Each refit decoder is **renormalised** to the readout norm of the day-0 decoder
(:class:`OutputScale`; Wilson et al.'s ``renormalizeDecoder``, which works per output column on
their linear decoder: ``refit="wilson"`` plays their decoder and refit,
:class:`WilsonLinearDecoder`), and PRI-T's bins all count once,
as in Wilson et al.'s simulator (``simulate_HMMRecalibration`` in their code regresses on the
Viterbi targets, unweighted). Weighting the bins by the squared posterior of their inferred
target (``posterior_weights=True``; Wilson et al.'s option on real sessions) was the main cause
of PRI-T's collapse in this benchmark: the confident bins are those where the decoded direction
agreed with the inferred target, so the fit confirms the drifting decoder's own errors
(``benchmarks/RESULTS.md``). The labels are ReFIT's by default (the decoded velocity divided by
the decoder's steady-state gain, rotated toward the goal with its speed kept, 0 within the
target radius) or, with ``labels="position"``, Wilson et al.'s position error ``g_t - p_t``;
either way the strategies differ only in where the labels point and which bins they use.
ReFIT's speed is the decoder's own output, so an output the drift has attenuated is taught to
the next fit (``tests/test_bci_wilson.py``); without renormalisation the daily refits shrink
until the gain sweep runs off its grid. With ``labels="position"`` and 120 s sessions PRI-T
stays at daily supervised over the 60 days (Wilson et al.'s result; their sessions are 400 s),
with ReFIT labels or 30 s sessions it does not for every subject (``benchmarks/RESULTS.md``).

Wilson et al.'s 60-session drift rotates every unit's tuning (``n_stable = 0``), which leaves
a stabiliser aligned to day 0 nothing to align on; their simulator's stabiliser is **chained**
(each day aligned to the last aligned day, ``B = 190`` channels, 4 components), which
``stabilizer={"chained": True, "n_factors": 4, "stable_fraction": 190 / 192}`` reproduces (their
unchained "static" stabiliser fails, as the default here does). Degenhart et al. (2020)'s setting — instabilities confined
to some channels — is :func:`wilson_drift` with ``n_stable`` channels that keep their tuning
(Wilson et al.'s stabiliser example keeps 60 of 192); the ``"stabilizer"`` strategy then finds
its stable channels in each session's counts (``stable_fraction`` = B / channels), and
``"stabilizer_oracle"`` is told the hidden ones, as an ablation.

- Degenhart, A. D., et al. (2020). Stabilization of a brain–computer interface via the
  alignment of low-dimensional spaces of neural activity. Nat Biomed Eng 4:672–685.
- Wilson, G. H., et al. (2023). Long-term unsupervised recalibration of cursor BCIs. bioRxiv
  10.1101/2023.02.03.527022.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cogmodels.agents.decoders.base import Decoder
from cogmodels.agents.decoders.clda import refit_intention
from cogmodels.agents.decoders.day_checkpoint import DayCheckpoint
from cogmodels.agents.decoders.kalman import SteadyStateKalmanDecoder
from cogmodels.agents.decoders.session import SessionRecord, calibration_block, run_closed_loop
from cogmodels.agents.decoders.stabilizer import ProcrustesStabilizer
from cogmodels.agents.decoders.target_hmm import TargetHMM, infer_lanes, target_grid
from cogmodels.agents.decoders.wilson_decoder import WilsonLatentDecoder, WilsonLinearDecoder
from cogmodels.deprecation import renamed_arguments
from cogmodels.envs.bci.drift import SNRMixture, TuningRotation, make_drift
from cogmodels.envs.bci.encoder import WILSON_CHANNEL_SD
from cogmodels.envs.bci.gain_sweep import WILSON_GAINS, sweep_gain
from cogmodels.envs.bci.vector import CursorBCIVector
from cogmodels.progress import progress_bar
from cogmodels.validation import check_bool, check_choice, check_int, check_number

__all__ = ["DAY0", "DEFAULT_STRATEGIES", "REFITS", "STRATEGIES", "WILSON_DRIFT", "WILSON_PRIT",
           "WILSON_RTI",
           "OutputScale", "WilsonLatentDecoder", "WilsonLinearDecoder", "hidden_stable_channels", "readout_norm",
           "rti_wilson_selection", "run_wilson_protocol", "trial_end_cursor", "wilson_drift"]

#: Wilson et al. (2023)'s simulated nonstationarity: 0.91 daily tuning similarity, SNR redrawn
WILSON_DRIFT = (TuningRotation(0.91), SNRMixture())


def wilson_drift(n_stable: int = 0, snr: SNRMixture | None = None) -> tuple[TuningRotation,
                                                                             SNRMixture]:
    """Return Wilson et al.'s drift with ``n_stable`` channels whose tuning never rotates.

    Parameters
    ----------
    n_stable : int
        Channels kept out of the daily rotation (the first ones). Wilson et al.'s 60-session
        runs use 0 (:data:`WILSON_DRIFT`); their stabiliser example keeps 60 of 192 units
        (``simulator_notebooks/example_SubspaceStabilizer.ipynb``: ``n_stable = 60``, ``B = 60``),
        the setting of Degenhart et al. (2020)'s stabiliser, whose instabilities are confined
        to some electrodes.
    snr : SNRMixture, optional
        The daily SNR process (default: Wilson et al.'s mixture).

    Returns
    -------
    tuple
        ``(TuningRotation(0.91, n_stable), snr)``.
    """
    return TuningRotation(0.91, n_stable=n_stable), snr if snr is not None else SNRMixture()

#: strategy -> (how the day-0 decoder is built, how a session's record updates it)
Update = Callable[[Decoder, dict[str, np.ndarray], dict[str, Any]], Decoder]


def _debiased(decoder: Decoder, velocity: np.ndarray) -> np.ndarray:
    """``G^{-1} v`` per lane: the decoder's output divided by its own steady-state gain.

    A :class:`WilsonLinearDecoder` has no encoding model, hence no steady-state gain: its output
    is taken as it is (Wilson et al.'s PRI-T reads their linear decoder's raw output).
    """
    if isinstance(decoder, WilsonLinearDecoder):
        return velocity
    return np.einsum("lij,tlj->tli", np.linalg.inv(decoder.steady_gain()), velocity)


def _keep(decoder: Decoder, rec: dict[str, np.ndarray], opts: dict[str, Any]) -> Decoder:
    return decoder


def readout_norm(decoder: Decoder) -> np.ndarray:
    r"""Return each lane's norm ``\|(I - M)^{-1} K\|_F`` of a steady-state Kalman readout, ``(L,)``.

    The decoder ``v_t = M v_{t-1} + K (y_t - d)`` maps a constant count deviation ``y - d`` to
    the long-run velocity ``(I - M)^{-1} K (y - d)``: this linear readout plays the part of
    Wilson et al.'s linear decoder ``D``, whose norm their ``renormalizeDecoder`` keeps.

    Parameters
    ----------
    decoder : SteadyStateKalmanDecoder
        A fitted decoder.

    Returns
    -------
    numpy.ndarray
        The Frobenius norm per lane.
    """
    readout = np.linalg.solve(np.eye(2) - decoder.M_, decoder.K_.astype(np.float64))
    return np.linalg.norm(readout, axis=(1, 2))


class OutputScale:
    """A decoder whose output is multiplied by a fixed factor per lane (Wilson et al.'s renorm).

    Wilson et al. (2023, ``renormalizeDecoder`` in their simulator) rescale each recalibrated
    linear decoder to the norm of the one it replaces, so that a refit whose output is smaller
    than its predecessor's (in a linear regression, label noise dilutes the slope; with ReFIT
    labels, whose speed is the decoder's own output, an attenuation is passed on) does not
    shrink the cursor's speed day after day, and the daily gain sweep stays on its grid. The protocol keeps
    the fitted decoder as it is and drives the cursor through this wrapper, with ``scale``
    chosen so that ``scale * readout_norm(decoder)`` (:func:`readout_norm`) stays at its day-0
    value.

    Parameters
    ----------
    decoder : Decoder
        The fitted decoder.
    scale : numpy.ndarray
        ``(L,)`` positive factors.
    """

    def __init__(self, decoder: Decoder, scale: np.ndarray) -> None:
        self.decoder = decoder
        self.scale = np.asarray(scale, dtype=np.float64)

    def reset(self, mask: np.ndarray | None = None) -> OutputScale:
        """Reset the wrapped decoder's state (all lanes, or those in ``mask``)."""
        self.decoder.reset(mask)
        return self

    def step(self, counts: Any) -> np.ndarray:
        """Decode one bin: ``scale`` times the wrapped decoder's velocity, ``(L, 2)``."""
        return self.scale[:, None] * np.asarray(self.decoder.step(counts))

    def steady_gain(self) -> np.ndarray:
        """Return the wrapped decoder's steady-state gain times ``scale``, ``(L, 2, 2)``."""
        return self.scale[:, None, None] * self.decoder.steady_gain()


def _refit(decoder: Decoder, counts: np.ndarray, labels: np.ndarray,
           weight: np.ndarray | None = None, renormalize: bool = True) -> Decoder:
    if isinstance(decoder, WilsonLinearDecoder):
        return decoder.refit(counts, labels, weight, renormalize=renormalize)
    return SteadyStateKalmanDecoder(dt=decoder.dt).fit(counts, labels, sample_weight=weight)


def intention_labels(kind: str, decoder: Decoder, rec: dict[str, np.ndarray],
                     goal: np.ndarray) -> np.ndarray:
    r"""Return the intention labels ``(T, L, 2)`` of a session's bins toward goals ``(T, L, 2)``.

    Parameters
    ----------
    kind : {"position", "refit"}
        ``"position"``: the position error ``g_t - p_t`` (Wilson et al.'s simulator regresses
        every recalibrated decoder — supervised, RTI, PRI-T — on it); ``"refit"``: the decoded
        velocity, divided by the decoder's steady-state gain, rotated toward ``g_t`` with its
        speed kept and 0 within the target radius
        (:func:`~cogmodels.agents.decoders.clda.refit_intention`).
    decoder : Decoder
        The decoder that drove the session.
    rec : dict
        The session's :meth:`~cogmodels.agents.decoders.session.SessionRecord.arrays`.
    goal : numpy.ndarray
        The shown or inferred target of each bin.

    Returns
    -------
    numpy.ndarray
        The labels.
    """
    if kind == "position":
        return goal - rec["cursor"]
    return refit_intention(_debiased(decoder, rec["velocity"]), rec["cursor"], goal,
                           rec["radius"])


def _supervised(decoder: Decoder, rec: dict[str, np.ndarray], opts: dict[str, Any]) -> Decoder:
    labels = intention_labels(opts["labels"], decoder, rec, rec["target"])
    return _refit(decoder, rec["counts"], labels, renormalize=opts.get("renormalize", True))


def _raw_readout(decoder: Decoder, rec: dict[str, np.ndarray]) -> np.ndarray:
    """Return the unsmoothed readout ``Wᵀ [y_t, 1]`` ``(T, L, 2)`` of a session.

    Of a :class:`WilsonLinearDecoder` (their PRI-T reads ``rawDecTraj``); of another decoder,
    its output divided by its gain.
    """
    if not isinstance(decoder, WilsonLinearDecoder):
        return _debiased(decoder, rec["velocity"])
    return np.einsum("tln,lnk->tlk", rec["counts"], decoder.W_[:, :-1]) + decoder.W_[:, -1]


#: Wilson et al.'s PRI-T of their 60-day runs (``hmm_opts`` in their ``performance_sweep.py``):
#: ``vmKappa`` 4 scaled by ``1 / (1 + exp(-(d - 0.2)))``, ``stayProb`` 0.999, no click
WILSON_PRIT = {"kappa": 4.0, "inflection": 0.2, "slope": 1.0, "stay": 0.999}


def _hmm(click: bool, key: str = "hmm", raw: bool = False) -> Update:
    def update(decoder: Decoder, rec: dict[str, np.ndarray], opts: dict[str, Any]) -> Decoder:
        velocity = _raw_readout(decoder, rec) if raw else _debiased(decoder, rec["velocity"])
        goal, conf = infer_lanes(opts[key], velocity, rec["cursor"],
                                 rec["click"] if click else None, executor=opts.get("executor"))
        labels = intention_labels(opts["labels"], decoder, rec, goal)
        return _refit(decoder, rec["counts"], labels,
                      conf**2 if opts["posterior_weights"] else None, opts.get("renormalize", True))

    return update


def trial_end_cursor(rec: dict[str, np.ndarray], dt: float, v_max: float = np.inf,
                     workspace: float = np.inf) -> np.ndarray:
    """Return the cursor after each recorded bin ``(T, L, 2)``, as the environment moves it.

    ``clip(p_t + dt clip(a_t, ±v_max), ±workspace)`` with ``a_t`` the ``applied`` velocity
    (:meth:`~cogmodels.envs.bci.loop.BCIConfig.clip_velocity` and ``clip_position`` with
    scalar bounds; inf without a speed limit or walls): where a trial that ended at bin ``t``
    left the cursor, the target both RTI rules infer.
    """
    return np.clip(rec["cursor"] + dt * np.clip(rec["applied"], -v_max, v_max),
                   -workspace, workspace)


def _rti(decoder: Decoder, rec: dict[str, np.ndarray], opts: dict[str, Any]) -> Decoder:
    """Label each successful trial's bins toward where its cursor ended; drop the others."""
    end = trial_end_cursor(rec, opts["dt"], opts["v_max"], opts["workspace"])
    goal = np.empty_like(end)
    weight = np.zeros(rec["radius"].shape)
    for lane in range(end.shape[1]):
        stops = np.flatnonzero(rec["trial_end"][:, lane])
        start = 0
        for t in stops:
            if rec["click"][t, lane]:
                goal[start:t + 1, lane] = end[t, lane]
                weight[start:t + 1, lane] = 1.0
            start = t + 1
    goal = np.where(weight[..., None] > 0, goal, rec["cursor"])
    labels = intention_labels(opts["labels"], decoder, rec, goal)
    return _refit_selected(decoder, rec["counts"], labels, weight, opts.get("renormalize", True))


#: Wilson et al.'s RTI settings for the chained 60-day runs (``performance_sweep.py``'s
#: ``rti_opts``: ``look_back=320``, ``min_time=30`` steps of 20 ms, ``min_dist=0.1``), in s and widths
WILSON_RTI = {"look_back_s": 6.4, "min_time_s": 0.6, "min_dist": 0.1}


def rti_wilson_selection(rec: dict[str, np.ndarray], dt: float, look_back_s: float = 6.4,
                         min_time_s: float = 0.6, min_dist: float = 0.1, v_max: float = np.inf,
                         workspace: float = np.inf) -> tuple[np.ndarray, np.ndarray]:
    r"""Return Wilson et al.'s RTI goals ``(T, L, 2)`` and selected bins ``(T, L)`` of a session.

    Wilson et al.'s simulator (``RTI.label`` in ``utils/recalibration/RTI_utils.py`` of github
    guyhwilson/nonstationarities, fed by ``simulate_RTIRecalibration``) treats **every trial end
    as a click** — its click trace is the simulator's ``trialStart``, which marks timeouts as well
    as dwells — and takes the cursor's position at that bin as the trial's target. Before each
    click it keeps the bins from ``look_back_s`` before it (not before the previous click) up to
    ``min_time_s`` before it, and of these only the bins whose cursor is further than
    ``min_dist`` from the inferred target and approaching it (the distance's
    ``numpy.gradient`` over the window is negative). Their window may start on the previous
    click's bin; here it starts on the bin after it, the trial's first (the centre-out task
    re-centres the cursor there, their task does not).

    Parameters
    ----------
    rec : dict
        A :class:`~cogmodels.agents.decoders.session.SessionRecord`'s arrays.
    dt : float
        The bin width (s).
    look_back_s, min_time_s, min_dist : float
        The window and distance rule (Wilson et al.'s chained runs: 6.4 s, 0.6 s, 0.1 width).
    v_max, workspace : float
        The environment's speed and position bounds, to place the cursor after a trial's last
        bin as the environment does (their simulator has neither bound: inf, as the environment's
        ``BCIConfig.speed_bound`` and ``TaskSpec.position_bound`` are without ``v_max`` or walls).

    Returns
    -------
    tuple of numpy.ndarray
        The goal of every bin (the cursor where the bin's trial ended; the bin's own cursor
        where no trial ended after it) and the selected bins (booleans).
    """
    cursor = rec["cursor"]
    end = trial_end_cursor(rec, dt, v_max, workspace)
    goal = cursor.copy()
    keep = np.zeros(rec["trial_end"].shape, dtype=bool)
    back, gap = int(round(look_back_s / dt)), int(round(min_time_s / dt))
    for lane in range(cursor.shape[1]):
        prev = -1
        for t in np.flatnonzero(rec["trial_end"][:, lane]):
            lo, hi = max(t - back, prev + 1), t - gap + 1
            prev = t
            if hi - lo < 2:  # np.gradient needs two bins (their except: pass)
                continue
            goal[lo:t + 1, lane] = end[t, lane]
            dist = np.linalg.norm(end[t, lane] - cursor[lo:hi, lane], axis=-1)
            keep[lo:hi, lane] = (dist > min_dist) & (np.gradient(dist) < 0)
    return goal, keep


def _rti_wilson(decoder: Decoder, rec: dict[str, np.ndarray], opts: dict[str, Any]) -> Decoder:
    """Wilson et al.'s RTI: every trial end a click, their window and distance rule."""
    goal, keep = rti_wilson_selection(rec, opts["dt"], **WILSON_RTI, v_max=opts["v_max"],
                                      workspace=opts["workspace"])
    labels = intention_labels(opts["labels"], decoder, rec, goal)
    return _refit_selected(decoder, rec["counts"], labels, keep.astype(np.float64),
                           opts.get("renormalize", True))


def _refit_selected(decoder: Decoder, counts: np.ndarray, labels: np.ndarray,
                    weight: np.ndarray, renormalize: bool = True) -> Decoder:
    """Refit on the bins of positive weight; a lane without any (e.g. no success) keeps its model."""
    empty = weight.sum(axis=0) == 0
    if empty.all():
        return decoder
    if isinstance(decoder, WilsonLinearDecoder):  # keeps an empty lane's weights itself
        return _refit(decoder, counts, labels, weight, renormalize)
    weight = weight.copy()
    weight[:, empty] = 1.0  # fitted, then replaced
    new = _refit(decoder, counts, labels, weight)
    if empty.any():
        H, d, q = new.H_.copy(), new.d_.copy(), new.q_.copy()
        H[empty], d[empty], q[empty] = decoder.H_[empty], decoder.d_[empty], decoder.q_[empty]
        new.set_encoding(H, d, q)
    return new


def _realign(decoder: Decoder, rec: dict[str, np.ndarray], opts: dict[str, Any]) -> Decoder:
    return decoder.realign(rec["counts"])


def _realign_oracle(decoder: Decoder, rec: dict[str, np.ndarray], opts: dict[str, Any]
                    ) -> Decoder:
    return decoder.realign(rec["counts"], stable=opts["hidden_stable"])


def hidden_stable_channels(drift: Any, n_units: int) -> np.ndarray:
    """Return the ``(n_units,)`` channels whose tuning ``drift`` never rotates.

    The simulator's hidden truth (the first ``n_stable`` channels of its
    :class:`~cogmodels.envs.bci.drift.TuningRotation`, as in Wilson et al.'s
    ``simulateTuningShift``): for the ``"stabilizer_oracle"`` ablation only — the
    ``"stabilizer"`` strategy selects its stable channels from the counts.

    Parameters
    ----------
    drift : Any
        A drift as :func:`~cogmodels.envs.bci.drift.make_drift` accepts.
    n_units : int
        The number of channels.

    Returns
    -------
    numpy.ndarray
        Booleans, True on the stable channels (all True without a tuning rotation).
    """
    rotations = [p for p in make_drift(drift).processes if isinstance(p, TuningRotation)]
    stable = np.ones(n_units, dtype=bool)
    for rot in rotations:
        stable[min(rot.n_stable, n_units):] = False
    return stable


#: the label kinds of :func:`intention_labels`
LABELS = ("position", "refit")

#: the strategies whose daily refits are renormalised (:class:`OutputScale`)
RENORMALIZED = frozenset({"supervised", "supervised_rebuild", "hmm", "hmm_noclick", "hmm_noclick_raw",
                          "hmm_wilson", "hmm_wilson_output", "rti", "rti_wilson"})

#: the strategies whose decoder is rebuilt each day from a fresh calibration block, then
#: recalibrated on a closed-loop block it drives (Wilson et al.'s supervised reference)
REBUILT = frozenset({"supervised_rebuild"})

#: the decoder refits of :func:`run_wilson_protocol`: ``"kalman"`` (a steady-state Kalman
#: filter fit on the encoding, renormalised in Frobenius norm to day 0 through
#: :class:`OutputScale`) or ``"wilson"`` (Wilson et al.'s: :class:`WilsonLinearDecoder`, OLS
#: renormalised per column to the previous decoder)
REFITS = ("kalman", "wilson")

#: the day-0 calibrations of :func:`run_wilson_protocol`: ``"block"`` (the supervised block of
#: ``calibration_s``) or ``"white_noise"`` (Wilson et al.'s simulated open-loop block)
DAY0 = ("block", "white_noise")
#: the units of the day-0 decoder and so of the gain grid: the fit's own, or Wilson et al.'s
DECODER_UNITS = ("ours", "wilson")

#: bins of Wilson et al.'s day-0 open-loop block (``nTrainingSteps`` in their
#: ``performance_sweep.py``: 10,000 steps of 20 ms)
WILSON_DAY0_BINS = 10_000

#: strategy name -> (decoder class of day 0, update after each session)
STRATEGIES: dict[str, tuple[type[Decoder], Update]] = {
    "fixed": (SteadyStateKalmanDecoder, _keep),
    "supervised": (SteadyStateKalmanDecoder, _supervised),
    "supervised_rebuild": (SteadyStateKalmanDecoder, _supervised),
    "hmm": (SteadyStateKalmanDecoder, _hmm(click=True)),
    "hmm_noclick": (SteadyStateKalmanDecoder, _hmm(click=False)),
    "hmm_wilson": (SteadyStateKalmanDecoder, _hmm(click=False, key="hmm_wilson", raw=True)),
    "hmm_wilson_output": (SteadyStateKalmanDecoder, _hmm(click=False, key="hmm_wilson")),
    "hmm_noclick_raw": (SteadyStateKalmanDecoder, _hmm(click=False, raw=True)),
    "rti": (SteadyStateKalmanDecoder, _rti),
    "rti_wilson": (SteadyStateKalmanDecoder, _rti_wilson),
    "stabilizer": (ProcrustesStabilizer, _realign),
    "stabilizer_oracle": (ProcrustesStabilizer, _realign_oracle),
}

#: the strategies played by default: all but the oracle ablation and Wilson et al.'s RTI rule
DEFAULT_STRATEGIES = tuple(name for name in STRATEGIES
                           if name not in ("stabilizer_oracle", "rti_wilson",
                                           "supervised_rebuild", "hmm_wilson", "hmm_wilson_output",
                                           "hmm_noclick_raw"))


def _calibration(env: CursorBCIVector, day: int, opts: dict[str, Any]
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Return the counts and labels of the calibration block on ``day`` (``opts["day0"]``)."""
    if opts["day0"] == "white_noise":  # Wilson et al.'s simulated open-loop block
        return calibration_block(env, WILSON_DAY0_BINS * env.config.task.dt, day=day,
                                 paradigm="white_noise")
    return calibration_block(env, opts["calibration_s"], day=day)


#: the options a run's trials do not depend on: left out of its checkpoint's fingerprint
_NOT_FINGERPRINTED = ("n_days", "save_dir", "executor")


def _checkpoint(name: str, opts: dict[str, Any]) -> DayCheckpoint | None:
    """Return the :class:`DayCheckpoint` of strategy ``name`` (None without ``save_dir``)."""
    if opts["save_dir"] is None:
        return None
    options = {k: v for k, v in opts.items() if k not in _NOT_FINGERPRINTED}
    return DayCheckpoint(opts["save_dir"], name, options)


def _play(name: str, opts: dict[str, Any], progress: bool = False) -> pd.DataFrame:
    """Run one strategy over all days; return its trial table with ``gain`` per trial.

    With ``opts["save_dir"]``, each finished day is appended to ``<strategy>.csv`` and the state
    that plays the next is checkpointed beside it; a checkpoint there is resumed from (the same
    bits as a run never stopped). ``progress`` draws a bar over the days.
    """
    checkpoint = _checkpoint(name, opts)
    resumed = None if checkpoint is None else checkpoint.resume()
    saved, table = resumed if resumed is not None else (None, None)
    cls, update = STRATEGIES[name]
    if opts["refit"] == "wilson":  # their readout; the stabiliser's through its latent space
        cls = WilsonLatentDecoder if cls is ProcrustesStabilizer else WilsonLinearDecoder
    if saved is None:
        env = CursorBCIVector(num_envs=opts["n_subjects"], n_trials=10**6, drift=opts["drift"],
                              **opts["env_kwargs"])
        env.reset(seed=opts["seed"], options={"day": 0})
        options = opts["stabilizer"] if cls in (ProcrustesStabilizer, WilsonLatentDecoder) else {}
        decoder = cls(dt=env.config.task.dt, **options).fit(*_calibration(env, 0, opts))
        if opts["day0"] == "white_noise" and isinstance(decoder, WilsonLinearDecoder):
            # their unit column norm, in their channel units: their noise SD 0.3 against ours
            theirs = opts["decoder_units"] == "wilson"
            decoder.equalize_columns(WILSON_CHANNEL_SD / env.config.noise_sd if theirs else None)
    else:
        env, decoder = saved["env"], saved["decoder"]
    dt = env.config.task.dt
    task = env.config.task
    stable = hidden_stable_channels(opts["drift"], env.config.population.n_units)
    opts = {**opts, "dt": dt, "v_max": env.config.speed_bound, "workspace": task.position_bound,
            "hidden_stable": stable, "hmm": TargetHMM(
        target_grid(task.workspace, opts["grid"]), click_hit=1.0 / (task.hold_steps + 1),
        click_radius=float(np.max(task.target_radius))),
            "hmm_wilson": TargetHMM(target_grid(task.workspace, opts["grid"]), **WILSON_PRIT)}
    # Wilson et al.'s refit renormalises inside (WilsonLinearDecoder.refit): no OutputScale
    renorm = opts["renormalize"] and name in RENORMALIZED and opts["refit"] == "kalman"
    if saved is None:
        reference = readout_norm(decoder) if renorm else None
        scale, gain, first, parts = np.ones(env.num_envs), None, 0, []
    else:
        reference, scale, gain = saved["reference"], saved["scale"], saved["gain"]
        first = saved["day"]
        parts = [table[table["day"] < opts["n_days"]].drop(columns="decoder")]

    def scale_of(decoder: Decoder) -> np.ndarray:
        return reference / readout_norm(decoder) if renorm else np.ones(env.num_envs)

    def refit(decoder: Decoder, rec: SessionRecord) -> tuple[Decoder, np.ndarray]:
        arrays = rec.arrays()
        arrays["velocity"] = arrays["velocity"] / scale_of(decoder)[:, None]  # its own output
        decoder = update(decoder, arrays, opts)
        return decoder, scale_of(decoder)

    def recalibrate(decoder: Decoder, day: int, rec: SessionRecord | None
                    ) -> tuple[Decoder, np.ndarray]:
        """Recalibrate on the day's ``rec`` (None: play a closed-loop block for it)."""
        if name in REBUILT:  # a fresh decoder from the day's calibration block drives the block
            decoder = _refit(decoder, *_calibration(env, day, opts),
                             renormalize=opts["renormalize"])
            rec = None
        if rec is None:
            rec = SessionRecord()
            run_closed_loop(env, OutputScale(decoder, scale_of(decoder)), opts["session_s"],
                            day=day, gain=gain, record=rec)
        return refit(decoder, rec)

    with progress_bar(progress, total=opts["n_days"], initial=first, desc=name, unit="day",
                      leave=False, position=1) as days:
        for day in range(first, opts["n_days"]):
            if opts["same_day_refit"] and day:  # Wilson et al.'s order: the day's own block first
                decoder, scale = recalibrate(decoder, day, None)
            driven = OutputScale(decoder, scale)
            sweep = sweep_gain(env, driven, opts["sweep_s"], gains=opts["gains"], day=day)
            gain = sweep.best
            rec = SessionRecord()
            trials = run_closed_loop(env, driven, opts["session_s"], day=day,
                                     gain=gain, record=rec)
            trials["gain"] = gain[trials["subject"].to_numpy(dtype=np.int64)]
            parts.append(trials)
            if checkpoint is not None:  # each day as it ends: nothing finished is lost
                checkpoint.append(trials.assign(decoder=name), first=not day)
            if not opts["same_day_refit"]:
                decoder, scale = recalibrate(decoder, day, rec)
            if checkpoint is not None:
                checkpoint.save({"day": day + 1, "env": env, "decoder": decoder,
                                 "reference": reference, "scale": scale, "gain": gain})
            days.update()
    out = pd.concat(parts, ignore_index=True)
    out.insert(0, "decoder", name)
    return out


@renamed_arguments(session_seconds="session_s", calibration_seconds="calibration_s",
                   sweep_seconds="sweep_s")
def run_wilson_protocol(
    strategies: Sequence[str] = DEFAULT_STRATEGIES,
    n_days: int = 60,
    n_subjects: int = 8,
    session_s: float = 120.0,
    *,
    calibration_s: float = 60.0,
    sweep_s: float = 2.0,
    gains: Sequence[float] = WILSON_GAINS,
    grid: int = 20,
    renormalize: bool = True,
    labels: str = "position",
    posterior_weights: bool = False,
    same_day_refit: bool = False,
    refit: str = "kalman",
    day0: str = "block",
    decoder_units: str = "ours",
    seed: int = 0,
    drift: Any = WILSON_DRIFT,
    stabilizer: dict[str, Any] | None = None,
    n_jobs: int = 1,
    save_dir: str | Path | None = None,
    progress: bool = False,
    **env_kwargs: Any,
) -> pd.DataFrame:
    """Play Wilson et al. (2023)'s daily protocol with each strategy; return all trials.

    Parameters
    ----------
    strategies : sequence of str
        Names among :data:`STRATEGIES` (default :data:`DEFAULT_STRATEGIES`).
    n_days : int
        Daily sessions (Wilson et al.: 60).
    n_subjects : int
        Simulated subjects (lanes), the same for every strategy.
    session_s : float
        Duration of each scored session (s). 120 s with position labels is the configuration
        that reproduced Wilson et al.'s 60-day result here (``benchmarks/RESULTS.md``); theirs
        is 400 s (20,000 bins), about 3.3 times the cost; 30 s reproduces it for no strategy.
    calibration_s : float
        The day-0 supervised calibration block (s).
    sweep_s : float
        Duration of each block of the daily gain sweep (s).
    gains : sequence of float
        Candidate output gains (Wilson et al.'s ``linspace(0.1, 2.5, 10)``).
    grid : int
        The PRI-T target grid is ``grid × grid`` over the workspace (Wilson et al.: 20).
    renormalize : bool
        Drive each refit decoder (supervised, PRI-T, RTI) through :class:`OutputScale` so its
        readout norm stays that of the day-0 decoder (Wilson et al.'s ``renormalizeDecoder``);
        False: fresh fits as they come (their output shrinks with the labels' noise).
    labels : {"refit", "position"}
        The labels of every refit (:func:`intention_labels`) toward the shown (supervised),
        inferred (PRI-T) or reached (RTI) target: ReFIT's rotated decoded velocity, or Wilson et
        al.'s position error (the default: their simulator regresses every recalibration on it;
        with ReFIT labels PRI-T collapses for 2 of 4 subjects after day 30 at 120 s).
    posterior_weights : bool
        Weight PRI-T's bins by the squared posterior of their inferred target (weighted least
        squares); False: every bin counts once, as in Wilson et al.'s simulator.
    same_day_refit : bool
        Wilson et al.'s order (``testMethod`` in their ``performance_sweep.py``): from day 1 each
        day first plays a recalibration session (``session_s``) with the previous day's decoder
        and gain on the day's drift, refits on it, then re-sweeps the gain and scores a fresh
        session with the refit decoder, so a day's score is that of a decoder recalibrated on the
        same day. False (the default): the scored session is the recalibration data for the next
        day, so each day is scored with a decoder one day of drift old (and costs one session,
        not two).
    refit : {"kalman", "wilson"}
        How every decoder is fit and refit (:data:`REFITS`). ``"kalman"`` (the default): a
        steady-state Kalman filter fit on the encoding, each refit driven through
        :class:`OutputScale` so its readout keeps day 0's Frobenius norm. ``"wilson"``: Wilson
        et al.'s simulated decoder, :class:`WilsonLinearDecoder` — the day-0 decoder an OLS fit
        on the calibration block, each refit an OLS fit renormalised per output column to the
        previous decoder (with ``renormalize=False``, not renormalised); the ``"stabilizer"``
        strategy's is their stabiliser, the same readout composed through a latent space
        realigned each day (:class:`WilsonLatentDecoder`, given ``stabilizer``'s options); for
        every strategy but ``"stabilizer_oracle"``.
    day0 : {"block", "white_noise"}
        The day-0 calibration (:data:`DAY0`): the supervised block of ``calibration_s`` (the
        default), or Wilson et al.'s simulated open-loop block (``simulate_OpenLoopRecalibration``
        in their ``simulation_utils.py``): :data:`WILSON_DAY0_BINS` bins of white-noise intended
        velocities ``N(0, I)`` widths/s fired with the closed-loop code
        (:func:`~cogmodels.agents.decoders.session.calibration_block`, ``paradigm="white_noise"``;
        ``calibration_s`` is then unused). With ``refit="wilson"`` the two output columns of
        that fit are then given one norm (:meth:`WilsonLinearDecoder.equalize_columns`; theirs
        are each scaled to norm 1, in their units).
    decoder_units : {"ours", "wilson"}
        The units of that day-0 decoder, and so of ``gains`` (:data:`DECODER_UNITS`). ``"ours"``
        (the default): the common norm is the RMS of the fitted ones, the gains multiply the
        fit's own output (widths/s). ``"wilson"``: their unit norm in their channel units,
        ``0.3 / noise_sd`` here (their channels' noise SD 0.3 against this environment's
        additive ``noise_sd``, at their SNR), so their grid ``linspace(0.1, 2.5, 10)`` moves the
        cursor as in their simulator; needs ``refit="wilson"``, ``day0="white_noise"`` and
        ``noise="additive"``.
    seed : int
        Seed of the subjects, their drift and the tasks. The subjects are drawn together from
        it, so another ``n_subjects`` draws other subjects: subject 3 of a 32-subject run is not
        subject 3 of a 96-subject run (compare strategies at one ``n_subjects``).
    drift : Any
        The environment's drift (default :data:`WILSON_DRIFT`; :func:`wilson_drift` with
        ``n_stable`` for Degenhart et al.'s setting of stable channels).
    stabilizer : dict, optional
        Keyword arguments of :class:`~cogmodels.agents.decoders.stabilizer.ProcrustesStabilizer`
        for the ``"stabilizer"`` and ``"stabilizer_oracle"`` strategies (``stable_fraction``,
        ``n_factors``, ``read``, ``chained``, ``model``), or of :class:`WilsonLatentDecoder`
        with ``refit="wilson"`` (the same names).
    n_jobs : int
        Processes: strategies played in parallel; with one strategy, its PRI-T inference
        (``hmm``, ``hmm_noclick``, ``hmm_wilson``...) runs over the subjects in ``n_jobs``
        worker processes (the same numbers as one).
    save_dir : str or pathlib.Path, optional
        A folder (created) where each strategy's trials are written day by day to
        ``<strategy>.csv`` as they are played, each finished day's state checkpointed beside
        them (:class:`~cogmodels.agents.decoders.day_checkpoint.DayCheckpoint`:
        ``<strategy>.checkpoint.pkl``, the environment, decoder, scale, reference norm and gain;
        a pickle, so load only your own). The same call again resumes each strategy from its
        checkpoint — the same trials, bit for bit, as a run never stopped — with ``n_days`` free
        to grow (a 45-day run continued to 60) or shrink (the days asked for, from the file) and
        ``n_jobs`` and ``progress`` free to change. Every other option, and the source of
        ``envs/bci`` and ``agents/decoders``, must match (all strategies' checkpoints are checked
        before any is played; a mismatch raises ``ValueError`` naming it), whether or not the
        strategy uses it. A trial file without a checkpoint is never overwritten (``ValueError``).
    progress : bool
        Show a progress bar over the strategies and, played one after another, one over each
        strategy's days.
    **env_kwargs
        Further arguments of :class:`~cogmodels.envs.bci.vector.CursorBCIVector` (``n_units``,
        ``user``...).

    Returns
    -------
    pandas.DataFrame
        The trial tables of :func:`~cogmodels.agents.decoders.session.run_closed_loop` with
        columns ``decoder`` and ``gain`` (the day's swept gain of the trial's subject).
    """
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown or not strategies:
        raise ValueError(f"strategies must be a non-empty list of {list(STRATEGIES)}, got "
                         f"{list(strategies)!r}")
    opts = {"n_days": check_int("n_days", n_days, 1), "n_subjects": check_int(
        "n_subjects", n_subjects, 1), "session_s": check_number(
        "session_s", session_s, 0.0, low_open=True),
        "calibration_s": check_number("calibration_s", calibration_s, 0.0,
                                            low_open=True),
        "sweep_s": check_number("sweep_s", sweep_s, 0.0, low_open=True),
        "gains": tuple(gains), "grid": check_int("grid", grid, 2),
        "renormalize": check_bool("renormalize", renormalize),
        "labels": check_choice("labels", labels, LABELS),
        "posterior_weights": check_bool("posterior_weights", posterior_weights),
        "same_day_refit": check_bool("same_day_refit", same_day_refit), "seed": seed, "drift": drift,
        "refit": check_choice("refit", refit, REFITS), "day0": check_choice("day0", day0, DAY0),
        "decoder_units": check_choice("decoder_units", decoder_units, DECODER_UNITS),
        "env_kwargs": env_kwargs, "save_dir": save_dir,
        "stabilizer": dict(stabilizer or {})}
    # bad options fail here, not in a worker
    (WilsonLatentDecoder if refit == "wilson" else ProcrustesStabilizer)(**opts["stabilizer"])
    if decoder_units == "wilson" and (refit, day0, env_kwargs.get("noise")) != ("wilson", "white_noise", "additive"):
        raise ValueError(f"decoder_units='wilson' needs Wilson et al.'s decoder, day 0 and channels "
                         f"(refit='wilson', day0='white_noise', noise='additive'), got refit={refit!r}, "
                         f"day0={day0!r}, noise={env_kwargs.get('noise')!r}")
    if refit == "wilson" and "stabilizer_oracle" in strategies:
        theirs = [s for s in STRATEGIES if s != "stabilizer_oracle"]
        raise ValueError(f"refit='wilson' (Wilson et al.'s OLS decoder) applies to the "
                         f"strategies {theirs}; drop 'stabilizer_oracle' or use refit='kalman', "
                         f"got strategies {list(strategies)!r}")
    if "stabilizer_oracle" in strategies and not hidden_stable_channels(drift, 1).any():
        raise ValueError("strategies may include 'stabilizer_oracle' only with a drift that "
                         "keeps some channels stable (wilson_drift(n_stable=60)), got drift "
                         f"{drift!r}")
    n_jobs = check_int("n_jobs", n_jobs, 1)
    names = list(strategies)
    if save_dir is not None:
        Path(save_dir).mkdir(parents=True, exist_ok=True)
        for name in names:  # a checkpoint that cannot be resumed fails now, not hours later
            _checkpoint(name, opts).read()
    with progress_bar(progress, total=len(names), desc="strategies", unit="strategy") as bar:
        if n_jobs == 1 or len(names) == 1:
            tables = []
            with ExitStack() as stack:
                if n_jobs > 1:  # PRI-T's inference over subjects in n_jobs workers
                    opts["executor"] = stack.enter_context(ProcessPoolExecutor(
                        n_jobs, mp_context=get_context("spawn")))
                for name in names:
                    tables.append(_play(name, opts, progress))
                    bar.update()
        else:
            with ProcessPoolExecutor(min(n_jobs, len(names))) as pool:
                futures = [pool.submit(_play, name, opts) for name in names]
                tables = []
                for f in futures:
                    tables.append(f.result())
                    bar.update()
    return pd.concat(tables, ignore_index=True)
