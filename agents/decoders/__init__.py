"""BCI decoders: spike counts in, cursor velocity out, batched over lanes (one per session).

- :mod:`.linear`: population vector (Georgopoulos et al. 1986), optimal linear estimator
  (Salinas & Abbott 1994; Chase et al. 2009) and ridge regression (the zero-lag Wiener filter).
- :mod:`.kalman`: the velocity Kalman filter (Wu et al. 2006) and its steady-state form
  (Malik et al. 2011; Gilja et al. 2012).
- :mod:`.clda`: closed-loop decoder adaptation, SmoothBatch (Orsborn et al. 2012) and recursive
  maximum likelihood (Dangi et al. 2014), fed by ReFIT intention estimates (Gilja et al. 2012)
  or an optimal feedback controller's (Shanechi et al. 2016).
- :mod:`.assist`: shared control with a goal velocity, decaying to 0 (BMI3D's assist).
- :mod:`.reward`: a decoder trained from reward alone (the error signal), online; the studies
  that compare decoders are in :mod:`cogmodels.experiments` (:mod:`~cogmodels.experiments.drift_study`,
  :mod:`~cogmodels.experiments.clda_study`).
- :mod:`.recalibration`: unsupervised recalibration by retrospective target inference
  (Jarosiewicz et al. 2015): labels inferred from where the cursor went and the reward alone.
- :mod:`.target_hmm`: probabilistic retrospective inference of targets (PRI-T; Wilson et al.
  2023): an HMM of the user's target on a grid, von Mises emissions and an optional click.
- :mod:`.outcome_recalibration`: PRI-T recalibration informed by the decoded error signal (in
  the target inference or as refit weights), refit within each session, the output gain tuned by
  a bandit from trial outcomes: no label after day 0, or none at all from the reward decoder.
- :mod:`.factor_analysis`, :mod:`.stabilizer`: the latent stabiliser of Degenhart et al. (2020),
  factor analysis realigned each day by Procrustes on stable channels, without labels.
- :mod:`.point_process`: the point-process filter (Eden et al. 2004) on log-linear Poisson
  tuning and its spike-event CLDA (Shanechi et al. 2016).
- :mod:`.bias`: bias correction of the decoded velocity (Jarosiewicz et al. 2015).
- :mod:`.meta_rnn`: a GRU decoder meta-trained with A2C across simulated subjects and days to
  adapt within a session from the error signal (Wang et al. 2018); :mod:`.meta_ppo`:
  RecurrentPPO on the same task.
- :mod:`.session`: calibration blocks and closed-loop sessions on ``CursorBCIVector`` that
  return trial tables.

Every decoder has ``fit(counts, velocity)`` (a calibration block, ``(T, N)`` or
``(T, L, N)``), ``reset(mask=None)`` (zero the filter state at a session start) and
``step(counts)`` (one bin, ``(N,)`` or ``(L, N)``: the decoded velocity, ``(2,)`` or ``(L, 2)``),
and ``save(path)`` / :func:`load_decoder` (JSON + ``.npz``, no pickle; :mod:`cogmodels.agents.saving`).
The same two calls save and load what is not a ``Decoder`` but learns or adapts with one — the
reward-trained :class:`~.reward.RewardDecoder`, :class:`TargetHMM`,
:class:`~.outcome_recalibration.OutcomeRecalibration`, :class:`SmoothBatch` / :class:`RML`,
:class:`BiasCorrection`, :class:`Assist`, :class:`~.closed_loop.ClosedLoopAgent` (``config``
given back to :func:`load_decoder`), :class:`~.meta_rnn.MetaRNNDecoder`,
:class:`~.amortised_map.AmortisedMapNet` and :class:`~.amortised_map.AmortisedMapDecoder` — with
their state (statistics, clocks, random streams), so a loaded object continues exactly as the
saved one would.
"""

from __future__ import annotations

from cogmodels.agents.decoders.assist import Assist
from cogmodels.agents.decoders.base import Decoder, load_decoder
from cogmodels.agents.decoders.bias import BiasCorrection
from cogmodels.agents.decoders.clda import RML, OFCIntention, SmoothBatch, refit_intention
from cogmodels.agents.decoders.closed_loop import ClosedLoopAgent
from cogmodels.agents.decoders.kalman import KalmanDecoder, SteadyStateKalmanDecoder
from cogmodels.agents.decoders.linear import (
    OptimalLinearEstimator,
    PopulationVector,
    RidgeDecoder,
)
from cogmodels.agents.decoders.point_process import PointProcessCLDA, PointProcessFilter
from cogmodels.agents.decoders.recalibration import RetrospectiveTargetInference
from cogmodels.agents.decoders.session import calibrate, refit_decoder, run_closed_loop
from cogmodels.agents.decoders.stabilizer import ProcrustesStabilizer, align_loadings
from cogmodels.agents.decoders.stats import RegressionStats
from cogmodels.agents.decoders.target_hmm import TargetHMM, hmm_labels, target_grid
from cogmodels.agents.decoders.wilson_decoder import WilsonLatentDecoder, WilsonLinearDecoder

__all__ = [
    "RML",
    "Assist",
    "BiasCorrection",
    "ClosedLoopAgent",
    "Decoder",
    "KalmanDecoder",
    "OFCIntention",
    "OptimalLinearEstimator",
    "PointProcessCLDA",
    "PointProcessFilter",
    "PopulationVector",
    "ProcrustesStabilizer",
    "RegressionStats",
    "RetrospectiveTargetInference",
    "RidgeDecoder",
    "SmoothBatch",
    "SteadyStateKalmanDecoder",
    "TargetHMM",
    "WilsonLatentDecoder",
    "WilsonLinearDecoder",
    "align_loadings",
    "calibrate",
    "hmm_labels",
    "load_decoder",
    "refit_decoder",
    "refit_intention",
    "run_closed_loop",
    "target_grid",
]
