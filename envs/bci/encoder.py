"""The simulated neural population: velocity-tuned units and their spike counts.

Each unit ``i`` has a baseline rate ``b_i`` (Hz) and a tuning vector ``w_i = m_i d_i`` (Hz per
workspace-width/s): modulation depth ``m_i`` times a unit preferred direction ``d_i``. For an
intended velocity ``u`` its rate is

- cosine (Georgopoulos et al. 1986): ``lambda_i = max(b_i + w_i . u, 0)``;
- log-linear (Truccolo et al. 2005): ``lambda_i = b_i exp(w_i . u / b_i)``, the same baseline and
  the same slope at rest as the cosine unit.

Counts per bin of ``dt`` seconds are Poisson with mean ``lambda_i dt`` (or, if asked, Gaussian with
the same mean and variance). Poisson counts are drawn by time rescaling (Brown et al. 2002): each
unit carries the remaining integrated intensity ``r`` until its next spike, ``r ~ Exp(1)``; a bin
subtracts ``lambda dt`` from it and every time it falls to 0 or below a spike is counted and a
fresh ``Exp(1)`` is added. Because a unit-rate Poisson process is memoryless, the counts are
exactly independent Poisson(``lambda dt``) variables, bin after bin, and only one exponential is
drawn per spike (numpy's ``Generator.poisson`` draws several uniforms per count and is ~4x slower
here; see ``benchmarks/bench_bci.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from cogmodels.validation import check_choice, check_int, check_interval, check_number

__all__ = [
    "MAX_COUNT",
    "MAX_DEPTH",
    "MAX_RATE",
    "MAX_UNITS",
    "NOISE_MODELS",
    "TUNING_MODELS",
    "EncoderArrays",
    "Population",
    "PopulationSpec",
    "PoissonCounter",
    "check_range",
    "draw_population",
    "draw_units",
    "gaussian_counts",
]

TUNING_MODELS = ("cosine", "log_linear", "mixed")
NOISE_MODELS = ("poisson", "gaussian")
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
    """

    n_units: int = 192
    tuning: str = "cosine"
    baseline: tuple[float, float] = (5.0, 30.0)
    depth: tuple[float, float] = (2.0, 10.0)
    noise: str = "poisson"
    observation_gain: float = 0.6
    observation_rotation: float = 20.0
    observation_offset: float = 2.0

    def __post_init__(self) -> None:
        for name, high in (("observation_gain", MAX_CONTEXT_GAIN),
                           ("observation_rotation", 180.0), ("observation_offset", MAX_RATE)):
            object.__setattr__(self, name, check_number(name, getattr(self, name), 0.0, high))
        object.__setattr__(self, "n_units", check_int("n_units", self.n_units, 1, MAX_UNITS))
        check_choice("tuning", self.tuning, TUNING_MODELS)
        check_choice("noise", self.noise, NOISE_MODELS)
        baseline = check_range("baseline_rate", self.baseline, high_bound=MAX_RATE)
        object.__setattr__(self, "baseline", baseline)
        depth = check_range("modulation_depth", self.depth, strict=False, high_bound=MAX_DEPTH)
        object.__setattr__(self, "depth", depth)


def draw_units(spec: PopulationSpec, rng: np.random.Generator, n: int) -> tuple[np.ndarray, ...]:
    """``n`` fresh units: ``(baseline (n,), tuning (n, 2), log_linear (n,) bool)``."""
    baseline = rng.uniform(*spec.baseline, size=n)
    angle = rng.uniform(0.0, 2 * np.pi, size=n)
    depth = rng.uniform(*spec.depth, size=n)
    tuning = depth[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    if spec.tuning == "mixed":
        log_linear = rng.random(n) < 0.5
    else:
        log_linear = np.full(n, spec.tuning == "log_linear")
    return baseline, tuning, log_linear


@dataclass
class Population:
    """One subject's units on one day.

    ``tuning`` rows are ``w_i = m_i d_i``; ``alive`` is False for channels that went silent;
    ``gain`` scales every tuning vector (the population's signal-to-noise ratio). ``dropped``,
    ``replaced`` and ``remapped`` count the drift events so far.
    """

    baseline: np.ndarray
    tuning: np.ndarray
    log_linear: np.ndarray
    alive: np.ndarray
    gain: float = 1.0
    dropped: int = 0
    replaced: int = 0
    remapped: int = 0

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
    baseline, tuning, log_linear = draw_units(spec, rng, spec.n_units)
    return Population(baseline, tuning, log_linear, np.ones(spec.n_units, dtype=bool))


class EncoderArrays:
    """The populations of ``n_lanes`` lanes as float32 arrays for the per-bin hot loop.

    Per lane and unit the linear drive is ``z = c0 + cx ux + cy uy`` (one batched matrix product
    with ``coef = (c0, cx, cy)``, shape ``(n_lanes, 3, n_units)``) and the expected count is
    ``max(z, 0)`` for cosine units and ``exp(z)`` for log-linear units, with
    ``c0 = b dt, c = gain w dt`` (cosine) or ``c0 = log(b dt), c = gain w / b`` (log-linear).
    Silent channels are cosine units with all coefficients 0. Rates are capped at ``MAX_RATE``.
    """

    def __init__(self, n_lanes: int, n_units: int, dt: float) -> None:
        self.dt = dt
        self.max_count = np.float32(MAX_RATE * dt)
        self._log_max = np.float32(np.log(MAX_RATE * dt))
        self.coef = np.zeros((n_lanes, 3, n_units), dtype=np.float32)
        self.log_linear = np.zeros((n_lanes, n_units), dtype=bool)
        self._u = np.ones((n_lanes, 1, 3), dtype=np.float32)
        self._kinds_known = False
        self._any_log = self._all_log = False

    def set_lane(self, lane: int, pop: Population) -> None:
        """Write ``pop``'s coefficients into lane ``lane``."""
        dt = self.dt
        g = pop.gain * pop.alive
        loglin = pop.log_linear & pop.alive
        b = pop.baseline
        scale = np.where(loglin, g / b, g * dt)
        self.coef[lane, 0] = np.where(loglin, np.log(b * dt), b * dt * pop.alive)
        self.coef[lane, 1:] = (pop.tuning * scale[:, None]).T
        self.log_linear[lane] = loglin
        self._kinds_known = False

    def expected_counts(self, velocity: np.ndarray, lanes: np.ndarray | None = None) -> np.ndarray:
        """Return expected counts per bin, ``(n_lanes, n_units)`` float32 (or ``lanes`` only)."""
        if lanes is None:
            u, coef, loglin = self._u, self.coef, self.log_linear
        else:
            u, coef, loglin = self._u[lanes], self.coef[lanes], self.log_linear[lanes]
        if not self._kinds_known:
            self._any_log, self._all_log = bool(self.log_linear.any()), bool(self.log_linear.all())
            self._kinds_known = True
        u[:, 0, 1:] = velocity
        z = np.matmul(u, coef)[:, 0]
        if not self._any_log:
            if z.size < 4096:  # np.clip's Python wrapper costs more than two ufunc calls here
                return np.minimum(np.maximum(z, 0.0, out=z), self.max_count, out=z)
            return np.clip(z, 0.0, self.max_count, out=z)
        if self._all_log:
            return np.exp(np.minimum(z, self._log_max, out=z), out=z)
        return np.where(loglin, np.exp(np.minimum(z, self._log_max)), np.clip(z, 0.0, self.max_count))


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
    """Count and refill, in place, the units whose residual fell to 0 or below."""
    below = r <= 0.0
    counts = below.astype(np.float32)
    idx = below.nonzero()[0]
    for _ in range(MAX_COUNT):
        if not idx.size:
            break
        refill = r[idx]
        refill += rng.standard_exponential(idx.size, dtype=np.float32)  # ziggurat: no log
        r[idx] = refill
        idx = idx[refill <= 0.0]
        if idx.size:
            counts[idx] += 1.0
    else:  # MAX_COUNT reached (never in practice): restart those units' processes
        r[idx] = rng.standard_exponential(idx.size, dtype=np.float32)
        counts[idx] = MAX_COUNT
    return counts


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
