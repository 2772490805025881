"""The simulated neural population: velocity-tuned units and their spike counts.

Each unit ``i`` has a baseline rate ``b_i`` (Hz) and a tuning vector ``w_i = m_i d_i`` (Hz per
workspace-width/s): modulation depth ``m_i`` times a unit preferred direction ``d_i``. For an
intended velocity ``u`` its rate is

- cosine (Georgopoulos et al. 1986): ``lambda_i = max(b_i + w_i . u, 0)``;
- log-linear (Truccolo et al. 2005): ``lambda_i = b_i exp(w_i . u / b_i)``, the same baseline and
  the same slope at rest as the cosine unit.

Counts per bin of ``dt`` seconds are Poisson with mean ``lambda_i dt`` (or, if asked, Gaussian with
the same mean and variance, or the mean plus Gaussian noise of a fixed SD whatever the rate:
``noise="additive"``, Wilson et al. (2023)'s channel model, :func:`additive_counts`). Poisson
counts are drawn by time rescaling (Brown et al. 2002): each unit carries the remaining
integrated intensity ``r`` until its next spike, ``r ~ Exp(1)``; a bin subtracts ``lambda dt``
from it and every time it falls to 0 or below a spike is counted and a fresh ``Exp(1)`` is
added. Because a unit-rate Poisson process is memoryless, the counts are
exactly independent Poisson(``lambda dt``) variables, bin after bin, and only one exponential is
drawn per spike (numpy's ``Generator.poisson`` draws several uniforms per count and is ~4x slower
here; see ``benchmarks/bench_bci.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from cogmodels.validation import (
    check_choice,
    check_int,
    check_int_pair,
    check_interval,
    check_number,
    check_probability,
)

__all__ = [
    "MAX_COUNT",
    "MAX_DEPTH",
    "MAX_RATE",
    "MAX_UNITS",
    "NOISE_MODELS",
    "TUNING_MODELS",
    "WILSON_CHANNEL_SD",
    "WILSON_REFERENCE_SNR",
    "WILSON_TOP_CONTROL",
    "EncoderArrays",
    "Population",
    "PopulationSpec",
    "PoissonCounter",
    "additive_counts",
    "check_range",
    "draw_population",
    "draw_units",
    "gaussian_counts",
    "wilson_noise_sd",
]

TUNING_MODELS = ("cosine", "log_linear", "mixed")
#: what a channel records: one sorted unit, or the threshold crossings of several neurons
RECORDINGS = ("sorted", "threshold_crossings")
#: the largest dimension of the shared latent drive
MAX_LATENT_DIM = 100
#: the longest time constant of the latent drive and of the spike history (s)
MAX_TAU = 100.0
#: the largest spike-history weight (log-rate per past spike)
MAX_HISTORY = 10.0
#: the most neurons one channel's threshold crossings can sum
MAX_NEURONS_PER_CHANNEL = 20
#: what a channel's count is around its expected value: Poisson, Gaussian with the Poisson
#: variance, or Gaussian of a fixed SD ``noise_sd`` (Wilson et al. 2023's simulated channels)
NOISE_MODELS = ("poisson", "gaussian", "additive")
#: Wilson et al. (2023)'s simulated channel noise: SD 0.3 per channel and 20 ms step, in the units
#: in which each of their two tuning columns has norm SNR (``getNeuralTuning``)
WILSON_CHANNEL_SD = 0.3
#: Wilson et al. (2023)'s fixed SNR (their sweeps with ``fixed_SNR``): the SNR that a gain of 1
#: (the population as drawn) stands for (:class:`~cogmodels.envs.bci.drift.SNRMixture`)
WILSON_REFERENCE_SNR = 0.5
#: the plateau of Wilson et al.'s control policy ``fTarg`` (about 1 at target distances of 0.8
#: workspace widths and beyond): the top push of their simulated user, in their control units
WILSON_TOP_CONTROL = 1.0
#: rates are capped here (Hz): a refractory period of 1 ms, and a bound on the cost of a bin
MAX_RATE = 1000.0
#: counts per bin are capped here (the bound of the observation space); with rates capped at
#: ``MAX_RATE`` and bins of at most 50 ms, a Poisson count exceeds it with probability < 1e-100
MAX_COUNT = 255
#: the most units a population may have
MAX_UNITS = 10_000
#: the largest modulation depth (Hz per workspace-width/s)
MAX_DEPTH = 1e4
#: the largest open-loop / closed-loop modulation ratio
MAX_CONTEXT_GAIN = 10.0


def check_range(
    name: str, value: Any, low_bound: float = 0.0, strict: bool = True, high_bound: float = np.inf
) -> tuple[float, float]:
    """Check a number or a pair ``(low, high)`` of finite numbers within the bounds.

    The pair must satisfy ``low_bound < low <= high <= high_bound`` (``low_bound <= low`` if not
    ``strict``).
    """
    return check_interval(name, value, low_bound, high_bound, scalar=True, low_open=strict)


@dataclass(frozen=True)
class PopulationSpec:
    """How a subject's units are drawn (static configuration).

    ``baseline`` and ``depth`` are uniform ranges (Hz, and Hz per workspace-width/s); preferred
    directions are uniform on the circle; ``tuning`` is ``"cosine"``, ``"log_linear"`` or
    ``"mixed"`` (each unit log-linear with probability 1/2).

    ``noise`` is what a channel's count is around its expected value ``lambda dt`` in a bin of
    ``dt`` seconds: ``"poisson"`` (the default), ``"gaussian"`` (``lambda dt + sqrt(lambda dt)
    z``: the Poisson variance) or ``"additive"`` (``lambda dt + noise_sd z``, ``z ~ N(0, 1)``
    per channel and bin: the same SD whatever the rate; :func:`additive_counts`). The additive
    model is the channel model of Wilson et al. (2023)'s simulator (github
    guyhwilson/nonstationarities, ``utils/simulation/``): ``generateUnits`` draws a channels x 3
    matrix of ``N(0, 1)`` entries, replaces its two tuning columns by an orthonormal basis of
    their span (``np.linalg.qr``) times the day's SNR — each column then has norm SNR, the
    preferred directions spread evenly — and with ``center_means`` (their default) zeroes the
    baseline column; ``getNeuralTuning`` makes each 20 ms step's feature ``W u + N(0, 0.3^2)``
    per channel, ``u`` the simulated user's control vector (``fTarg``, plateau about 1), the
    noise SD 0.3 fixed (not scaled with the SNR nor with the rate), no other normalisation
    (their decoders regress with an intercept; their stabiliser centres the features). Each day
    ``simulateTuningShift`` rotates ``W`` and rescales its columns to a fresh SNR from
    ``sampleSNR`` (:class:`~cogmodels.envs.bci.drift.SNRMixture`). The noise is the same for
    every channel and independent across channels and bins, so the only structure in the
    channels' covariance is the tuning: the setting in which a few principal components find the
    tuning subspace.

    ``noise_sd`` (counts per bin, used with ``"additive"`` only) defaults to None: Wilson et
    al.'s signal-to-noise scale, :func:`wilson_noise_sd` for this population, the loop's bin
    width and its user's top push (:attr:`~cogmodels.envs.bci.user.UserSpec.top_speed`: 0.60
    counts for the defaults, 192 units, 20 ms bins, 0.8 widths/s — about the Poisson SD of an
    average channel, ``sqrt(17.5 Hz x 0.02 s) = 0.59``; 0.76 with Wilson et al.'s user, whose
    push is their control unit).
    The expected count is the same in every model (baseline included; cosine units rectified
    at 0).

    The code differs between an open-loop calibration block (the user watches the cursor move
    by itself, or attempts the movement) and closed-loop control (:meth:`Population.in_context`):
    in open loop every unit's modulation is scaled by ``observation_gain``, its preferred
    direction turned by ``N(0, observation_rotation)`` degrees and its baseline shifted by
    ``N(0, observation_offset)`` Hz, per unit, drawn once per subject. Jarosiewicz et al. (2013)
    found closed-loop-calibrated tuning models stronger and more accurate than open-loop ones on
    the same people and days (so open-loop modulation is weaker and partly differently tuned);
    Tkach et al. (2007) found observation-evoked M1 responses congruent with but weaker than
    active ones; Gilja et al. (2012) attribute part of ReFIT's gain to this change of context.
    Neither reports one population number; the defaults (gain 0.6, 20 degrees, 2 Hz) are chosen
    within those reports, not fitted. ``observation_gain=1`` with the other two 0 makes the
    contexts identical.

    Further realism, all off by default (:class:`EncoderArrays` for the rate equation):

    - ``untuned_fraction``: each unit is untuned (no velocity, speed or position term) with this
      probability; many recorded channels carry no kinematic information (Hochberg et al. 2006).
    - ``speed_depth`` (Hz per width/s, uniform range): a term ``s_i |u|`` in the speed of the
      intended movement (Moran & Schwartz 1999, ``b + s |v| + m |v| cos(theta - theta_i)``).
    - ``position_depth`` (Hz per width, uniform range, random direction): a term ``p_i . x`` in
      the cursor position (Kettner et al. 1988; Wang et al. 2007).
    - ``latent_dim``, ``latent_sd`` (Hz), ``latent_tau`` (s): a shared low-dimensional drive
      ``C_i . x_t``, ``x_t`` an AR(1) process of unit variance in ``latent_dim`` dimensions,
      loadings ``C ~ N(0, latent_sd^2 / latent_dim)`` (each unit's shared fluctuation has sd
      ``latent_sd`` on average); with the Poisson counts as private noise, the co-modulation of
      the population lies in the span of the tuning and the loadings — the intrinsic manifold of
      Sadtler et al. (2014), who estimated about 10 dimensions by factor analysis.
    - ``history`` (uniform range of ``h_i``) and ``history_tau`` (s; 0: the last bin only):
      the rate is multiplied by ``exp(h_i s_i)``, ``s_i`` the unit's filtered past counts — the
      spike-history term of Truccolo et al. (2005) (``h < 0``: refractoriness, ``h > 0``:
      bursting).
    - ``recording``: ``"sorted"`` (one neuron a channel) or ``"threshold_crossings"``: a channel
      counts the spikes of ``neurons_per_channel`` (uniform integer range, (1, 3)) neurons plus
      noise crossings at ``noise_rate`` Hz, as multi-unit threshold crossings do (Chestek et al.
      2011; Christie et al. 2015, who found them to decode as well as sorted units). Cosine
      tuning only (the sum of cosine neurons is a cosine channel).
    """

    n_units: int = 192
    tuning: str = "cosine"
    baseline: tuple[float, float] = (5.0, 30.0)
    depth: tuple[float, float] = (2.0, 10.0)
    noise: str = "poisson"
    observation_gain: float = 0.6
    observation_rotation: float = 20.0
    observation_offset: float = 2.0
    untuned_fraction: float = 0.0
    speed_depth: tuple[float, float] = (0.0, 0.0)
    position_depth: tuple[float, float] = (0.0, 0.0)
    latent_dim: int = 0
    latent_sd: float = 0.0
    latent_tau: float = 0.1
    history: tuple[float, float] = (0.0, 0.0)
    history_tau: float = 0.0
    recording: str = "sorted"
    neurons_per_channel: tuple[int, int] = (1, 3)
    noise_rate: float = 0.0
    noise_sd: float | None = None

    def __post_init__(self) -> None:
        for name, high in (("observation_gain", MAX_CONTEXT_GAIN),
                           ("observation_rotation", 180.0), ("observation_offset", MAX_RATE)):
            object.__setattr__(self, name, check_number(name, getattr(self, name), 0.0, high))
        object.__setattr__(self, "n_units", check_int("n_units", self.n_units, 1, MAX_UNITS))
        check_choice("tuning", self.tuning, TUNING_MODELS)
        check_choice("noise", self.noise, NOISE_MODELS)
        if self.noise_sd is not None:
            object.__setattr__(self, "noise_sd", check_number("noise_sd", self.noise_sd, 0.0,
                                                              MAX_COUNT))
        baseline = check_range("baseline_rate", self.baseline, high_bound=MAX_RATE)
        object.__setattr__(self, "baseline", baseline)
        depth = check_range("modulation_depth", self.depth, strict=False, high_bound=MAX_DEPTH)
        object.__setattr__(self, "depth", depth)
        object.__setattr__(self, "untuned_fraction",
                           check_probability("untuned_fraction", self.untuned_fraction))
        for name in ("speed_depth", "position_depth"):
            value = check_range(name, getattr(self, name), strict=False, high_bound=MAX_DEPTH)
            object.__setattr__(self, name, value)
        object.__setattr__(self, "latent_dim",
                           check_int("latent_dim", self.latent_dim, 0, MAX_LATENT_DIM))
        object.__setattr__(self, "latent_sd", check_number("latent_sd", self.latent_sd, 0.0,
                                                           MAX_RATE))
        object.__setattr__(self, "latent_tau", check_number("latent_tau", self.latent_tau, 0.0,
                                                            MAX_TAU))
        history = check_interval("history", self.history, -MAX_HISTORY, MAX_HISTORY, scalar=True)
        object.__setattr__(self, "history", history)
        object.__setattr__(self, "history_tau", check_number("history_tau", self.history_tau,
                                                             0.0, MAX_TAU))
        check_choice("recording", self.recording, RECORDINGS)
        per = check_int_pair("neurons_per_channel", self.neurons_per_channel, 1,
                             MAX_NEURONS_PER_CHANNEL)
        object.__setattr__(self, "neurons_per_channel", per)
        object.__setattr__(self, "noise_rate", check_number("noise_rate", self.noise_rate, 0.0,
                                                            MAX_RATE))
        if self.recording == "threshold_crossings" and self.tuning != "cosine":
            raise ValueError(
                f"recording='threshold_crossings' sums the neurons of a channel, which is exact "
                f"for tuning='cosine' only, got tuning={self.tuning!r}"
            )

    @property
    def covariates(self) -> tuple[str, ...]:
        """The extra covariates the units are tuned to, in the order of their coefficients."""
        out = []
        if self.speed_depth[1] > 0:
            out.append("speed")
        if self.position_depth[1] > 0:
            out.append("position")
        if self.latent_dim and self.latent_sd > 0:
            out.append("latent")
        return tuple(out)

    @property
    def n_covariates(self) -> int:
        """Number of extra coefficients per unit (speed 1, position 2, latent ``latent_dim``)."""
        sizes = {"speed": 1, "position": 2, "latent": self.latent_dim}
        return sum(sizes[c] for c in self.covariates)

    @property
    def has_history(self) -> bool:
        """Whether the units' rates depend on their own past spikes."""
        return self.history != (0.0, 0.0)


def _draw_neurons(spec: PopulationSpec, rng: np.random.Generator,
                  n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """``n`` single neurons; the extra covariates' coefficients are drawn after the tuning."""
    baseline = rng.uniform(*spec.baseline, size=n)
    angle = rng.uniform(0.0, 2 * np.pi, size=n)
    depth = rng.uniform(*spec.depth, size=n)
    tuning = depth[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    if spec.tuning == "mixed":
        log_linear = rng.random(n) < 0.5
    else:
        log_linear = np.full(n, spec.tuning == "log_linear")
    tuned = np.ones(n)
    if spec.untuned_fraction > 0:
        tuned = (rng.random(n) >= spec.untuned_fraction).astype(np.float64)
        tuning = tuning * tuned[:, None]
    extra: dict[str, np.ndarray] = {}
    covariates = spec.covariates
    if "speed" in covariates:
        extra["speed"] = rng.uniform(*spec.speed_depth, size=n) * tuned
    if "position" in covariates:
        gradient = rng.uniform(*spec.position_depth, size=n) * tuned
        phase = rng.uniform(0.0, 2 * np.pi, size=n)
        extra["position"] = gradient[:, None] * np.stack([np.cos(phase), np.sin(phase)], axis=1)
    if "latent" in covariates:
        scale = spec.latent_sd / np.sqrt(spec.latent_dim)
        extra["latent"] = scale * rng.standard_normal((n, spec.latent_dim))
    if spec.has_history:
        extra["history"] = rng.uniform(*spec.history, size=n)
    return baseline, tuning, log_linear, extra


def draw_units(spec: PopulationSpec, rng: np.random.Generator,
               n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """``n`` fresh channels: ``(baseline (n,), tuning (n, 2), log_linear (n,) bool, extra)``.

    ``extra`` holds the coefficients of the extra covariates (``"speed"`` (n,), ``"position"``
    (n, 2), ``"latent"`` (n, latent_dim)) and the spike-history weights (``"history"`` (n,)),
    only those that are on. With ``recording="threshold_crossings"`` each channel records the
    sum of ``k ~ U{neurons_per_channel}`` neurons (Poisson processes add): its baseline is their
    baselines' sum plus ``noise_rate`` (noise crossings), its tuning and covariate coefficients
    their sums, its spike-history weight drawn per channel.
    """
    if spec.recording == "sorted":
        return _draw_neurons(spec, rng, n)
    k = rng.integers(spec.neurons_per_channel[0], spec.neurons_per_channel[1] + 1, size=n)
    baseline, tuning, _, extra = _draw_neurons(spec, rng, int(k.sum()))
    starts = np.concatenate([[0], np.cumsum(k)[:-1]])
    summed = {key: np.add.reduceat(v, starts, axis=0) for key, v in extra.items()
              if key != "history"}
    if spec.has_history:
        summed["history"] = rng.uniform(*spec.history, size=n)
    return (np.add.reduceat(baseline, starts) + spec.noise_rate,
            np.add.reduceat(tuning, starts, axis=0), np.zeros(n, dtype=bool), summed)


@dataclass
class Population:
    """One subject's units on one day.

    ``tuning`` rows are ``w_i = m_i d_i``; ``alive`` is False for channels that went silent;
    ``gain`` scales every tuning vector (the population's signal-to-noise ratio). ``dropped``,
    ``replaced`` and ``remapped`` count the drift events so far. ``extra`` holds the per-unit
    coefficients of the extra covariates and spike history (:func:`draw_units`), empty when off.
    """

    baseline: np.ndarray
    tuning: np.ndarray
    log_linear: np.ndarray
    alive: np.ndarray
    gain: float = 1.0
    dropped: int = 0
    replaced: int = 0
    remapped: int = 0
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_units(self) -> int:
        """Number of recording channels (units, live or silent)."""
        return int(self.baseline.shape[0])

    def copy(self) -> Population:
        """Return a copy whose arrays can be changed without touching this population."""
        return replace(
            self,
            baseline=self.baseline.copy(),
            tuning=self.tuning.copy(),
            log_linear=self.log_linear.copy(),
            alive=self.alive.copy(),
            extra={k: v.copy() for k, v in self.extra.items()},
        )

    def in_context(self, gain: float, rotation: np.ndarray, offset: np.ndarray) -> Population:
        """Return this population as it fires in open loop (a copy; see :class:`PopulationSpec`).

        Tuning ``w_i`` becomes ``gain R(rotation_i) w_i`` (``rotation`` in radians, per unit) and
        baseline ``b_i`` becomes ``max(b_i + offset_i, 0.1)`` Hz.
        """
        pop = self.copy()
        c, s = np.cos(rotation), np.sin(rotation)
        w = self.tuning
        pop.tuning = gain * np.stack([c * w[:, 0] - s * w[:, 1], s * w[:, 0] + c * w[:, 1]], axis=1)
        pop.baseline = np.maximum(self.baseline + offset, 0.1)
        return pop

    def effective_tuning(self) -> np.ndarray:
        """Return the expressed tuning: ``gain * w_i`` on live channels, 0 on silent ones."""
        return self.gain * self.tuning * self.alive[:, None]

    def preferred_directions(self) -> np.ndarray:
        """Preferred direction of each unit, radians."""
        return np.arctan2(self.tuning[:, 1], self.tuning[:, 0])

    def rates(self, velocity: np.ndarray) -> np.ndarray:
        """Return rates (Hz) for intended velocities ``(..., 2)``, shape ``(..., n_units)``."""
        v = np.asarray(velocity, dtype=np.float64)
        drive = v @ (self.gain * self.tuning).T
        lin = self.baseline + drive
        log = self.baseline * np.exp(np.minimum(drive / self.baseline, 50.0))
        return np.clip(np.where(self.log_linear, log, lin), 0.0, MAX_RATE) * self.alive


def draw_population(spec: PopulationSpec, rng: np.random.Generator) -> Population:
    """Draw a new subject's units, day 0."""
    baseline, tuning, log_linear, extra = draw_units(spec, rng, spec.n_units)
    return Population(baseline, tuning, log_linear, np.ones(spec.n_units, dtype=bool),
                      extra=extra)


class EncoderArrays:
    """The populations of ``n_lanes`` lanes as float32 arrays for the per-bin hot loop.

    Per lane and unit the linear drive is ``z = c0 + cx ux + cy uy + sum_k c_k x_k`` (one
    ``einsum`` over ``coef = (c0, cx, cy, c_k...)``, shape ``(n_lanes, 3 + K, n_units)``; the
    ``K`` extra covariates ``x_k`` are the speed ``|u|``, the cursor position and the shared
    latent drive, those that ``spec`` switches on) and the expected count is ``max(z, 0)`` for
    cosine units and ``exp(z)`` for log-linear units, with ``c0 = b dt, c = gain w dt`` (cosine)
    or ``c0 = log(b dt), c = gain w / b`` (log-linear); the latent coefficients are not scaled
    by the gain (shared fluctuations are not signal). Silent channels are cosine units with all
    coefficients 0. Rates are capped at ``MAX_RATE``.

    The einsum streams the coefficients (11 MB for 1,024 lanes at the full realism's K = 11):
    about twice as fast as a BLAS product per lane when they come from memory, no faster when
    they stay in cache. With numpy's x86-64 wheels (baseline without FMA) and two or more units
    it adds the products in coefficient order in float32, one rounding each, whatever the BLAS;
    at K = 0 those are the bits of OpenBLAS's Haswell kernel (``make test``'s
    ``OPENBLAS_CORETYPE``), which the product per lane gave before. On ARM numpy's einsum fuses
    multiply and add.

    With spike history (Truccolo et al. 2005) the expected count is then multiplied by
    ``exp(h_i s_i)``, ``s_i`` the unit's past counts filtered by ``exp(-dt / history_tau)``
    (:meth:`history_factor`, :meth:`record`).
    """

    def __init__(self, n_lanes: int, n_units: int, dt: float,
                 spec: PopulationSpec | None = None) -> None:
        spec = spec if spec is not None else PopulationSpec(n_units=n_units)
        self.dt = dt
        self.covariates = spec.covariates
        self.n_covariates = spec.n_covariates
        self.max_count = np.float32(MAX_RATE * dt)
        self._log_max = np.float32(np.log(MAX_RATE * dt))
        self.coef = np.zeros((n_lanes, 3 + self.n_covariates, n_units), dtype=np.float32)
        self.log_linear = np.zeros((n_lanes, n_units), dtype=bool)
        self._u = np.ones((n_lanes, 1, 3 + self.n_covariates), dtype=np.float32)
        self._kinds_known = False
        self._any_log = self._all_log = False
        self.has_history = spec.has_history
        self._counts_nonnegative = spec.noise == "poisson"  # so the filtered history s >= 0
        self._history_nonpositive = False
        if self.has_history:
            self.history_w = np.zeros((n_lanes, n_units), dtype=np.float32)
            self.history_s = np.zeros((n_lanes, n_units), dtype=np.float32)
            self._history_buf = np.empty((n_lanes, n_units), dtype=np.float32)
            self._history_a = np.float32(np.exp(-dt / spec.history_tau)
                                         if spec.history_tau > 0 else 0.0)

    def set_lane(self, lane: int, pop: Population) -> None:
        """Write ``pop``'s coefficients into lane ``lane``."""
        dt = self.dt
        g = pop.gain * pop.alive
        loglin = pop.log_linear & pop.alive
        b = pop.baseline
        scale = np.where(loglin, g / b, g * dt)
        self.coef[lane, 0] = np.where(loglin, np.log(b * dt), b * dt * pop.alive)
        self.coef[lane, 1:3] = (pop.tuning * scale[:, None]).T
        row = 3
        for name in self.covariates:
            c = pop.extra[name].reshape(pop.n_units, -1)
            k = c.shape[1]
            unit = scale if name != "latent" else np.where(loglin, 1.0 / b, dt) * pop.alive
            self.coef[lane, row:row + k] = (c * unit[:, None]).T
            row += k
        if self.has_history:
            self.history_w[lane] = pop.extra["history"] * pop.alive
        self.log_linear[lane] = loglin
        self._kinds_known = False

    def expected_counts(self, velocity: np.ndarray, lanes: np.ndarray | None = None,
                        covariates: np.ndarray | None = None,
                        out: np.ndarray | None = None) -> np.ndarray:
        """Return expected counts per bin, ``(n_lanes, n_units)`` float32 (or ``lanes`` only).

        ``covariates`` ``(lanes, K)``: the extra covariates' values (when the spec has some).
        ``out``: a C-contiguous float32 array of the result's shape to write the linear drive
        and the counts into (the hot loop's buffer; not used for mixed tuning).
        """
        if lanes is None:
            u, coef, loglin = self._u, self.coef, self.log_linear
        else:
            u, coef, loglin = self._u[lanes], self.coef[lanes], self.log_linear[lanes]
        if not self._kinds_known:
            self._refresh_kinds()
        u[:, 0, 1:3] = velocity
        if covariates is not None:
            u[:, 0, 3:] = covariates
        z = np.einsum("lk,lku->lu", u[:, 0], coef, out=out)
        if not self._any_log:
            if z.size < 4096:  # np.clip's Python wrapper costs more than two ufunc calls here
                return np.minimum(np.maximum(z, 0.0, out=z), self.max_count, out=z)
            return np.clip(z, 0.0, self.max_count, out=z)
        if self._all_log:
            return np.exp(np.minimum(z, self._log_max, out=z), out=z)
        return np.where(loglin, np.exp(np.minimum(z, self._log_max)), np.clip(z, 0.0, self.max_count))

    def _refresh_kinds(self) -> None:
        """Note which unit kinds the lanes hold, and whether every ``h_i s_i`` is <= 0."""
        self._any_log, self._all_log = bool(self.log_linear.any()), bool(self.log_linear.all())
        self._history_nonpositive = (self.has_history and self._counts_nonnegative
                                     and bool((self.history_w <= 0).all()))
        self._kinds_known = True

    def history_factor(self, expected: np.ndarray, lanes: np.ndarray | None = None) -> np.ndarray:
        """Multiply ``expected`` by ``exp(h s)`` (the spike history), capped, in place."""
        if lanes is None:  # every lane steps: one preallocated buffer, no temporaries
            factor = np.multiply(self.history_w, self.history_s, out=self._history_buf)
        else:
            factor = self.history_w[lanes] * self.history_s[lanes]
        if not self._kinds_known:
            self._refresh_kinds()
        if not self._history_nonpositive:  # else h s <= 0 < log(MAX_RATE dt): nothing to cap
            np.minimum(factor, self._log_max, out=factor)
        expected *= np.exp(factor, out=factor)
        if self._history_nonpositive and not self._any_log:
            return expected  # cosine counts are capped already and exp(h s) <= 1 keeps them so
        return np.minimum(expected, self.max_count, out=expected)

    def record(self, counts: np.ndarray, lanes: np.ndarray | None = None) -> None:
        """Fold a bin's counts into the spike history: ``s <- a s + y``."""
        if lanes is None:
            if self._history_a == 0:  # the last bin only (history_tau=0): s <- y, one pass
                np.copyto(self.history_s, counts)
                return
            self.history_s *= self._history_a
            self.history_s += counts
        else:
            self.history_s[lanes] = self._history_a * self.history_s[lanes] + counts

    def reset_history(self, lanes: np.ndarray) -> None:
        """Forget the spike history of ``lanes`` (a session starts)."""
        if self.has_history:
            self.history_s[lanes] = 0.0


class PoissonCounter:
    """Exact Poisson spike counts for ``(n_lanes, n_units)`` units.

    By time rescaling (see the module docstring; ``residual`` holds each unit's integrated
    intensity left until its next spike) when there are at least ``DIRECT_BELOW`` units in all,
    else by ``Generator.poisson``, which is cheaper for a few hundred units (less call overhead).
    Both are exact; which one is used depends only on the shape, so a vector environment with one
    copy draws exactly what the single environment draws.
    """

    DIRECT_BELOW = 1024

    def __init__(self, n_lanes: int, n_units: int) -> None:
        self.residual = np.zeros((n_lanes, n_units), dtype=np.float32)
        self.direct = n_lanes * n_units < self.DIRECT_BELOW

    def reset(self, lanes: np.ndarray, rng: np.random.Generator) -> None:
        """Start fresh processes in ``lanes`` (an index array)."""
        if not self.direct:
            self.residual[lanes] = rng.standard_exponential(
                (len(lanes), self.residual.shape[1]), dtype=np.float32
            )

    def sample(
        self, expected: np.ndarray, rng: np.random.Generator, lanes: np.ndarray | None = None
    ) -> np.ndarray:
        """Draw counts for one bin with the given expected counts (for ``lanes`` only if given)."""
        if self.direct:
            return np.minimum(rng.poisson(expected), MAX_COUNT).astype(np.float32)
        if lanes is None:
            r = self.residual.reshape(-1)
            r -= expected.reshape(-1)
            counts = _drain(r, rng)
            return counts.reshape(expected.shape)
        r = (self.residual[lanes] - expected).reshape(-1)
        counts = _drain(r, rng)
        self.residual[lanes] = r.reshape(expected.shape)
        return counts.reshape(expected.shape)


def _drain(r: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Count and refill, in place, the units whose residual fell to 0 or below.

    Round ``k`` adds one ``Exp(1)`` to every unit still at or below 0 after ``k - 1`` refills
    (in index order), so a unit's count is the last round it took part in. The index arrays
    shrink with ``compress`` and the residuals are read with ``take`` (a boolean index and
    fancy indexing cost 2-3 times more at 1,024 x 192 units); the draws are the same as one
    refill loop's.
    """
    below = r <= 0.0
    counts = below.astype(np.float32)
    idx = np.flatnonzero(below)
    for k in range(2, MAX_COUNT + 2):
        if not idx.size:
            break
        refill = r.take(idx)
        refill += rng.standard_exponential(idx.size, dtype=np.float32)  # ziggurat: no log
        r[idx] = refill
        idx = idx.compress(refill <= 0.0)
        if idx.size and k <= MAX_COUNT:
            counts[idx] = k
    else:  # MAX_COUNT reached (never in practice): restart those units' processes
        r[idx] = rng.standard_exponential(idx.size, dtype=np.float32)
        counts[idx] = MAX_COUNT
    return counts


def wilson_noise_sd(spec: PopulationSpec, dt: float, top_speed: float = 0.8,
                    reference_snr: float = WILSON_REFERENCE_SNR) -> float:
    r"""Return the additive noise SD (counts per bin) at Wilson et al. (2023)'s SNR scale.

    Their channels are ``W u + N(0, 0.3^2)`` per 20 ms step, each tuning column of ``W`` of norm
    SNR, ``u`` their user's control (top push :data:`WILSON_TOP_CONTROL` = 1): the population's
    signal-to-noise ratio along each axis at the top push is ``SNR / 0.3``. Here a gain of 1
    stands for their SNR ``reference_snr`` (:class:`~cogmodels.envs.bci.drift.SNRMixture`), the
    top push is ``top_speed`` (widths/s, :class:`~cogmodels.envs.bci.user.UserSpec`'s
    ``max_speed``) and each tuning column has expected norm

    .. math:: T = dt \sqrt{n E[m^2] / 2}

    counts per bin per width/s (``n`` tuned channels of depth ``m``, uniform directions; a
    threshold-crossing channel sums ``E[k]`` neurons' tuning, so ``E|w|^2 = E[k] E[m^2]``).
    Equal ratios give ``sd = T top_speed 0.3 / (reference_snr 1.0)``; each day the drift's gain
    scales ``T`` as their SNR scales ``W``, and the SD stays.
    """
    lo, hi = spec.depth
    m2 = (lo * lo + lo * hi + hi * hi) / 3.0  # E[m^2], m ~ U(lo, hi)
    if spec.recording == "threshold_crossings":
        m2 *= (spec.neurons_per_channel[0] + spec.neurons_per_channel[1]) / 2.0
    column = dt * np.sqrt(spec.n_units * (1.0 - spec.untuned_fraction) * m2 / 2.0)
    return float(column * top_speed * WILSON_CHANNEL_SD / (reference_snr * WILSON_TOP_CONTROL))


def additive_counts(expected: np.ndarray, rng: np.random.Generator, sd: float) -> np.ndarray:
    """Draw ``expected + sd N(0, 1)``: Gaussian noise of a fixed SD whatever the rate.

    Wilson et al. (2023)'s channel model (:class:`PopulationSpec`, ``noise="additive"``): one
    standard normal per channel and bin, as :func:`gaussian_counts` draws; the counts are kept
    within ``[-MAX_COUNT, MAX_COUNT]``.
    """
    z = rng.standard_normal(expected.shape, dtype=np.float32)
    z *= np.float32(sd)
    z += expected
    return np.clip(z, -MAX_COUNT, MAX_COUNT, out=z)


def gaussian_counts(
    expected: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Draw Gaussian counts with the Poisson mean and variance, ``lambda + sqrt(lambda) N(0, 1)``.

    The counts are kept within ``[-MAX_COUNT, MAX_COUNT]``.
    """
    z = rng.standard_normal(expected.shape, dtype=np.float32)
    z *= np.sqrt(expected)
    z += expected
    return np.clip(z, -MAX_COUNT, MAX_COUNT, out=z)
