"""Day-to-day drift of the neural population: composable processes, presets and a day clock.

Recorded intracortical signals change from day to day: preferred directions rotate, baselines and
modulation depths wander, channels go silent, units are lost and others appear, and an array can
shift abruptly (Chestek et al. 2011, J Neural Eng; Perge et al. 2013, J Neural Eng; Downey et al.
2018, Sci Rep). Each process here is one such change, applied once per simulated day to a
subject's :class:`~cogmodels.envs.bci.encoder.Population`; a :class:`DriftModel` applies a list of
them in order. :class:`NeuralTrajectory` is a subject's population as a function of the day: day 0
is drawn from the subject's seed and day ``d`` follows from day ``d - 1`` with a generator seeded by
``(seed, d)``, so a subject's day ``d`` is the same whichever sessions were simulated before.

The tuning rotation follows the closed-loop simulator of Wilson et al. (2023, bioRxiv
10.1101/2023.02.03.527022, "Long-term unsupervised recalibration of cursor BCIs"): each day the
tuning subspace keeps a fraction ``similarity`` (0.91 in their sweeps) of itself and gains the rest
in a random orthogonal direction. Here that makes the cosines of both principal angles between the
subspaces of consecutive days exactly ``similarity`` (:func:`subspace_similarity`), while the
population's tuning covariance (its signal-to-noise ratio) is kept.

The multiplicative walks (baselines, depths, the population gain) multiply by
``exp(sd z - sd^2 / 2)``, ``z ~ N(0, 1)``: a log-normal factor with mean exactly 1, so the walked
quantity is a martingale and does not drift upward on average (``E[exp(sd z)] = exp(sd^2 / 2)``
would grow it by that factor per day).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cogmodels.envs.bci.encoder import (
    MAX_UNITS,
    WILSON_REFERENCE_SNR,
    Population,
    PopulationSpec,
    draw_population,
    draw_units,
)
from cogmodels.validation import check_int, check_ints, check_number, check_probability

__all__ = [
    "DRIFT_PRESETS",
    "MAX_DAY",
    "ArrayShift",
    "BaselineWalk",
    "Drift",
    "DriftModel",
    "Dropout",
    "GainWalk",
    "NeuralTrajectory",
    "SNRMixture",
    "SNRStep",
    "SNRWalk",
    "TuningRotation",
    "Turnover",
    "make_drift",
    "subspace_similarity",
    "unbiased_lognormal",
]


#: the last day a subject's drift can be simulated to (about 27 years of daily sessions)
MAX_DAY = 10_000
#: the largest standard deviation of a daily log-normal step
MAX_SD = 1.0


def _check_sd(name: str, value: Any) -> float:
    return check_number(name, value, 0.0, MAX_SD)


def _check_floats(name: str, value: Any, low: float, high: float, *,
                  low_open: bool = False) -> tuple[float, ...]:
    """Return a non-empty sequence of numbers in ``[low, high]`` as a tuple of floats."""
    if isinstance(value, str) or not hasattr(value, "__len__") or len(value) == 0:
        raise ValueError(f"{name} must be a non-empty sequence of numbers in [{low:g}, {high:g}], "
                         f"got {value!r}")
    return tuple(check_number(f"{name}[{i}]", v, low, high, low_open=low_open)
                 for i, v in enumerate(value))


def unbiased_lognormal(sd: float, rng: np.random.Generator, n: int) -> np.ndarray:
    """Return ``n`` factors ``exp(sd z - sd^2 / 2)``, ``z ~ N(0, 1)``: log-normal with mean 1."""
    return np.exp(sd * rng.standard_normal(n) - 0.5 * sd * sd)


def subspace_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Mean cosine of the principal angles between the column spaces of ``a`` and ``b``.

    1 for the same subspace, 0 for orthogonal ones (Björck & Golub 1973; used for neural tuning
    subspaces by Gallego et al. 2020, Nat Neurosci, and Wilson et al. 2023).
    """
    qa, _ = np.linalg.qr(np.asarray(a, dtype=np.float64))
    qb, _ = np.linalg.qr(np.asarray(b, dtype=np.float64))
    cos = np.linalg.svd(qa.T @ qb, compute_uv=False)
    return float(np.clip(cos, 0.0, 1.0).mean())


class Drift:
    """One day's change of a population, applied in place by :meth:`apply`.

    :meth:`start` sets up day 0 (nothing by default); it draws from a stream of its own, so a
    process that needs no day-0 set-up leaves day 0 exactly as drawn.
    """

    def start(self, pop: Population, spec: PopulationSpec, rng: np.random.Generator) -> None:
        """Set up ``pop`` (day 0, just drawn) in place; nothing by default."""

    def apply(
        self, pop: Population, spec: PopulationSpec, rng: np.random.Generator, day: int
    ) -> None:
        """Change ``pop`` in place for the step to day ``day``, drawing from ``rng``."""
        raise NotImplementedError


@dataclass(frozen=True)
class TuningRotation(Drift):
    """Rotate the tuning subspace so that consecutive days have subspace similarity ``similarity``.

    With ``W = U R`` (QR) and ``Q`` an orthonormal basis of a random subspace orthogonal to ``U``,
    the new tuning is ``(s U + sqrt(1 - s^2) Q) R``: both principal cosines equal ``s`` and
    ``W'^T W' = W^T W``. Wilson et al. (2023) used ``s = 0.91`` per day.

    ``n_stable`` channels (the first ones, as the ``n_stable`` units of Wilson et al.'s
    ``simulateTuningShift``) keep their tuning: the rotation applies to the rows of the others,
    whose subspace then has principal cosines ``s`` (the whole population's are higher). Their
    code differs in one respect: it mixes each stable row with itself, ``(s + sqrt(1 - s^2)) w``,
    and then rescales every tuning column to its old norm, so their stable units keep their
    preferred direction but not exactly their depth; here they keep both.
    """

    similarity: float = 0.91
    n_stable: int = 0

    def __post_init__(self) -> None:
        s = check_number("similarity", self.similarity, 0.0, 1.0, low_open=True)
        object.__setattr__(self, "similarity", s)
        object.__setattr__(self, "n_stable", check_int("n_stable", self.n_stable, 0, MAX_UNITS))

    def apply(self, pop, spec, rng, day):
        """Rotate the tuning subspace of the channels after the first ``n_stable``."""
        k = min(self.n_stable, pop.n_units)
        w = pop.tuning[k:]
        if not w.shape[0]:
            return
        u, r = np.linalg.qr(w)
        g = rng.standard_normal(w.shape)
        g -= u @ (u.T @ g)
        q, _ = np.linalg.qr(g)
        s = self.similarity
        rotated = (s * u + np.sqrt(1.0 - s * s) * q) @ r
        pop.tuning = np.concatenate([pop.tuning[:k], rotated]) if k else rotated


@dataclass(frozen=True)
class BaselineWalk(Drift):
    """Baseline rates take a mean-preserving multiplicative walk: ``b <- b exp(sd z - sd^2/2)``."""

    sd: float = 0.05

    def __post_init__(self) -> None:
        _check_sd("sd", self.sd)

    def apply(self, pop, spec, rng, day):
        """Multiply each unit's baseline by ``exp(sd z - sd^2 / 2)``."""
        pop.baseline = pop.baseline * unbiased_lognormal(self.sd, rng, pop.n_units)


@dataclass(frozen=True)
class GainWalk(Drift):
    """Modulation depths take a mean-preserving multiplicative walk: ``w_i <- w_i exp(sd z_i - sd^2/2)``."""

    sd: float = 0.05

    def __post_init__(self) -> None:
        _check_sd("sd", self.sd)

    def apply(self, pop, spec, rng, day):
        """Multiply each unit's modulation depth by ``exp(sd z - sd^2 / 2)``."""
        pop.tuning = pop.tuning * unbiased_lognormal(self.sd, rng, pop.n_units)[:, None]


@dataclass(frozen=True)
class SNRWalk(Drift):
    """Random walk of the population's signal-to-noise ratio: ``gain <- gain exp(sd z - sd^2/2)``.

    The gain is common to all tuning, so the walk scales every unit's modulation alike.
    """

    sd: float = 0.02

    def __post_init__(self) -> None:
        _check_sd("sd", self.sd)

    def apply(self, pop, spec, rng, day):
        """Multiply the population's gain by ``exp(sd z - sd^2 / 2)``."""
        pop.gain = float(pop.gain * unbiased_lognormal(self.sd, rng, 1)[0])


@dataclass(frozen=True)
class SNRStep(Drift):
    """An abrupt change of the population's signal-to-noise ratio on day ``day``: ``gain *= factor``."""

    day: int = 1
    factor: float = 0.5

    def __post_init__(self) -> None:
        object.__setattr__(self, "day", check_int("day", self.day, 1, MAX_DAY))
        factor = check_number("factor", self.factor, 0.0, 1e3, low_open=True)
        object.__setattr__(self, "factor", factor)

    def apply(self, pop, spec, rng, day):
        """Multiply the population's gain by ``factor`` on day ``day``."""
        if day == self.day:
            pop.gain = float(pop.gain * self.factor)


#: Wilson et al. (2023)'s distribution of daily signal-to-noise ratios: the two-component
#: Gaussian mixture their nonstationarities simulator (``sampleSNR``) fitted to participant T5's
#: sessions, in its raw units (weights, means, variances), then mapped to their simulator's SNR
#: by ``snr = 0.3365 raw - 0.04438``
WILSON_SNR_RAW = {"weights": (0.6716436, 1.0 - 0.6716436), "means": (1.6244981, 2.78165778),
                  "variances": (0.11382677, 0.07465756), "scale": 0.3365, "shift": -0.04438}
#: the smallest SNR a day can draw (a normal component could in principle go below 0)
MIN_SNR = 1e-3


def _wilson_components() -> tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]]:
    raw = WILSON_SNR_RAW
    means = tuple(raw["scale"] * m + raw["shift"] for m in raw["means"])
    sds = tuple(raw["scale"] * float(np.sqrt(v)) for v in raw["variances"])
    return tuple(raw["weights"]), means, sds


_W_WEIGHTS, _W_MEANS, _W_SDS = _wilson_components()


@dataclass(frozen=True)
class SNRMixture(Drift):
    r"""The population's signal-to-noise ratio redrawn every day from a Gaussian mixture.

    Each day (day 0 included, unless ``day0`` fixes it) draws a component ``k`` with probability
    ``weights[k]`` and an SNR ``s ~ N(means[k], sds[k]^2)`` (at least ``MIN_SNR``); the
    population's gain becomes

    .. math:: g_d = \max(s_d, s_{min}) / s_{ref}

    with ``s_ref = reference``: the SNR the population as drawn stands for. Days are independent
    (the gain is set, not walked), so any other gain change (:class:`SNRWalk`, :class:`SNRStep`)
    should come after this process in a drift list.

    The defaults are Wilson et al. (2023)'s: their simulator's ``sampleSNR`` (github
    guyhwilson/nonstationarities, ``utils/simulation/simulation_utils.py``), a two-mode mixture
    fitted to participant T5's daily SNRs — weight 0.672 on mean 0.502 (sd 0.114) and 0.328 on
    mean 0.892 (sd 0.092) — drawn anew for every session of their 60-session protocol; a gain of
    1 stands for their fixed-SNR value 0.5 (``WILSON_REFERENCE_SNR``), so low-mode days are
    about the population as drawn and high-mode days about 1.8 times as strongly tuned.

    Parameters
    ----------
    weights : tuple of float
        Component probabilities (non-negative, summing to 1).
    means, sds : tuple of float
        Component means (> 0) and standard deviations (>= 0) of the SNR.
    reference : float
        The SNR of gain 1 (> 0).
    day0 : float, optional
        Day 0's SNR (> 0), fixed; None (the default) draws it from the mixture like every other
        day. Wilson et al.'s simulator calibrates every method at the fixed SNR 0.5
        (``base_opts['SNR']``, ``initializeBCI``) and redraws from the mixture for every scored
        session, the first included. Days 1 and later are the same as with a drawn day 0 (each
        day draws from its own stream); day 0's draw is still made, so that processes after
        this one in a drift list see the same start stream either way.

    References
    ----------
    Wilson, G. H., et al. (2023). Long-term unsupervised recalibration of cursor BCIs. bioRxiv
    10.1101/2023.02.03.527022.
    """

    weights: tuple[float, ...] = _W_WEIGHTS
    means: tuple[float, ...] = _W_MEANS
    sds: tuple[float, ...] = _W_SDS
    reference: float = WILSON_REFERENCE_SNR
    day0: float | None = None

    def __post_init__(self) -> None:
        weights = _check_floats("weights", self.weights, 0.0, 1.0)
        means = _check_floats("means", self.means, 0.0, 1e3, low_open=True)
        sds = _check_floats("sds", self.sds, 0.0, 1e3)
        if not len(weights) == len(means) == len(sds):
            raise ValueError(
                f"weights, means and sds must have one value per component, got lengths "
                f"{len(weights)}, {len(means)} and {len(sds)}"
            )
        if abs(sum(weights) - 1.0) > 1e-6:
            raise ValueError(f"weights must sum to 1, got {self.weights!r} (sum {sum(weights):g})")
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "means", means)
        object.__setattr__(self, "sds", sds)
        reference = check_number("reference", self.reference, 0.0, 1e3, low_open=True)
        object.__setattr__(self, "reference", reference)
        if self.day0 is not None:
            object.__setattr__(self, "day0", check_number("day0", self.day0, MIN_SNR, 1e3))

    def draw(self, rng: np.random.Generator) -> float:
        """Return one day's SNR ``max(s, MIN_SNR)``, ``s`` from the mixture."""
        k = int(rng.choice(len(self.weights), p=np.asarray(self.weights) / sum(self.weights)))
        return max(self.means[k] + self.sds[k] * float(rng.standard_normal()), MIN_SNR)

    def gain(self, snr: float) -> float:
        """Return the population gain that stands for SNR ``snr``: ``snr / reference``."""
        return snr / self.reference

    def start(self, pop, spec, rng):
        """Draw day 0's SNR (and use ``day0`` instead when it is set)."""
        snr = self.draw(rng)
        pop.gain = self.gain(snr if self.day0 is None else self.day0)

    def apply(self, pop, spec, rng, day):
        """Draw the day's SNR afresh and set the population's gain to it."""
        pop.gain = self.gain(self.draw(rng))


@dataclass(frozen=True)
class Dropout(Drift):
    """Each live channel goes silent for good with probability ``rate`` per day."""

    rate: float = 0.002

    def __post_init__(self) -> None:
        check_probability("rate", self.rate)

    def apply(self, pop, spec, rng, day):
        """Silence each live channel with probability ``rate``."""
        lost = pop.alive & (rng.random(pop.n_units) < self.rate)
        pop.alive = pop.alive & ~lost
        pop.dropped += int(lost.sum())


@dataclass(frozen=True)
class Turnover(Drift):
    """Unit turnover: each channel records a new unit with probability ``rate`` per day.

    The new unit's baseline, direction and depth are drawn as on day 0; a silent channel replaced
    this way comes back.
    """

    rate: float = 0.005

    def __post_init__(self) -> None:
        check_probability("rate", self.rate)

    def apply(self, pop, spec, rng, day):
        """Replace each channel's unit with probability ``rate`` by one drawn as on day 0."""
        new = rng.random(pop.n_units) < self.rate
        k = int(new.sum())
        if k:
            baseline, tuning, log_linear, extra = draw_units(spec, rng, k)
            pop.baseline = pop.baseline.copy()
            pop.tuning = pop.tuning.copy()
            pop.log_linear = pop.log_linear.copy()
            pop.alive = pop.alive.copy()
            pop.baseline[new], pop.tuning[new], pop.log_linear[new] = baseline, tuning, log_linear
            pop.alive[new] = True
            for name, values in extra.items():
                pop.extra[name] = pop.extra[name].copy()
                pop.extra[name][new] = values
        pop.replaced += k


@dataclass(frozen=True)
class ArrayShift(Drift):
    """Abrupt array shift: a random fraction ``fraction`` of the channels swap their units.

    The units are permuted among the chosen channels on each day in ``days``, and otherwise with
    probability ``probability`` per day.
    """

    fraction: float = 0.25
    days: tuple[int, ...] = ()
    probability: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "fraction", check_probability("fraction", self.fraction))
        object.__setattr__(self, "probability", check_probability("probability", self.probability))
        object.__setattr__(self, "days", check_ints("days", self.days, 1, MAX_DAY))

    def apply(self, pop, spec, rng, day):
        """Permute the units of a random ``fraction`` of channels if a shift falls on ``day``."""
        chance = rng.random() < self.probability
        if not (day in self.days or chance):
            return
        m = int(round(self.fraction * pop.n_units))
        if m < 2:
            return
        idx = rng.choice(pop.n_units, size=m, replace=False)
        src = idx[rng.permutation(m)]
        for name in ("baseline", "tuning", "log_linear", "alive"):
            arr = getattr(pop, name).copy()
            arr[idx] = arr[src]
            setattr(pop, name, arr)
        for name, values in pop.extra.items():
            arr = values.copy()
            arr[idx] = arr[src]
            pop.extra[name] = arr
        pop.remapped += m


#: named drift settings; "typical" gives a consecutive-day subspace similarity of about 0.91
#: (Wilson et al. 2023); "stable_implant" (0.996 a day, 0.89 over 30 days, small walks) is a
#: recording on which a fixed decoder keeps >= 80 % of its day-0 bitrate for a month. Its sizes
#: were set to give that (``benchmarks/bench_stable_implant.py`` measures 91-94 %): the regime
#: Nuyujukian et al. (2014, J Neural Eng 11:066003) report for fixed decoders on stable arrays,
#: not a fit to their data
DRIFT_PRESETS: dict[str, tuple[Drift, ...]] = {
    "none": (),
    "stable": (TuningRotation(0.98), BaselineWalk(0.02), GainWalk(0.02)),
    "stable_implant": (TuningRotation(0.996), BaselineWalk(0.01), GainWalk(0.01), SNRWalk(0.005)),
    "typical": (
        TuningRotation(0.9165),
        BaselineWalk(0.05),
        GainWalk(0.05),
        SNRWalk(0.02),
        Dropout(0.002),
        Turnover(0.005),
    ),
    "severe": (
        TuningRotation(0.8),
        BaselineWalk(0.1),
        GainWalk(0.1),
        SNRWalk(0.05),
        Dropout(0.01),
        Turnover(0.02),
        ArrayShift(fraction=0.25, probability=1 / 30),
    ),
}


class DriftModel:
    """A sequence of drift processes applied in order once per day."""

    def __init__(self, processes: Sequence[Drift] = ()) -> None:
        processes = tuple(processes)
        for p in processes:
            if not isinstance(p, Drift):
                raise ValueError(
                    f"drift processes must be Drift instances (e.g. TuningRotation(0.91)), got {p!r}"
                )
        self.processes = processes

    def __bool__(self) -> bool:
        return bool(self.processes)

    def __repr__(self) -> str:
        return f"DriftModel({list(self.processes)!r})"

    def start(self, pop: Population, spec: PopulationSpec, rng: np.random.Generator) -> None:
        """Set up day 0 (``pop``, just drawn) in place: each process's :meth:`Drift.start`."""
        for p in self.processes:
            p.start(pop, spec, rng)

    def step(
        self, pop: Population, spec: PopulationSpec, rng: np.random.Generator, day: int
    ) -> None:
        """Advance ``pop`` (the population on day ``day - 1``) to day ``day``, in place."""
        for p in self.processes:
            p.apply(pop, spec, rng, day)


def make_drift(drift: Any) -> DriftModel:
    """Return a :class:`DriftModel` from a preset name, process(es) or ``None``."""
    if drift is None:
        return DriftModel()
    if isinstance(drift, DriftModel):
        return drift
    if isinstance(drift, str):
        if drift not in DRIFT_PRESETS:
            raise ValueError(
                f"drift must be one of the presets {list(DRIFT_PRESETS)}, a Drift or a sequence "
                f"of Drift processes, got {drift!r}"
            )
        return DriftModel(DRIFT_PRESETS[drift])
    if isinstance(drift, Drift):
        return DriftModel((drift,))
    try:
        return DriftModel(tuple(drift))
    except TypeError:
        raise ValueError(
            f"drift must be one of the presets {list(DRIFT_PRESETS)}, a Drift or a sequence of "
            f"Drift processes, got {drift!r}"
        ) from None


def check_day(value: Any, name: str = "day") -> int:
    """Check a day of a subject's drift: an integer in ``[0, MAX_DAY]``."""
    return check_int(name, value, 0, MAX_DAY)


class NeuralTrajectory:
    """One subject's population as a function of the day.

    Day 0 is drawn with ``default_rng([seed, 0])`` (and set up by the processes'
    :meth:`Drift.start` with ``default_rng([seed, 0, 2])``); day ``d`` is day ``d - 1`` advanced by
    ``drift`` with ``default_rng([seed, d])``. Days are computed forward on demand and kept every
    ``checkpoint_every`` days, so any day can be revisited cheaply.
    """

    def __init__(
        self, spec: PopulationSpec, drift: DriftModel, seed: int, checkpoint_every: int = 10
    ) -> None:
        self.spec, self.drift, self.seed = spec, drift, int(seed)
        self._every = checkpoint_every
        day0 = draw_population(spec, np.random.default_rng([self.seed, 0]))
        drift.start(day0, spec, np.random.default_rng([self.seed, 0, 2]))  # a stream of its own
        self._cache: dict[int, Population] = {0: day0}
        self._last = (0, self._cache[0])
        ctx = np.random.default_rng([self.seed, 0, 1])  # a stream no day uses
        self.context_rotation = np.deg2rad(spec.observation_rotation) * ctx.standard_normal(
            spec.n_units)
        self.context_offset = spec.observation_offset * ctx.standard_normal(spec.n_units)

    def open_loop(self, day: int) -> Population:
        """Return the population on ``day`` as it fires in an open-loop calibration block.

        The per-unit context changes (:meth:`Population.in_context`) are the subject's own and do
        not drift; they apply to whatever unit a channel records that day.
        """
        return self.on_day(day).in_context(self.spec.observation_gain, self.context_rotation,
                                           self.context_offset)

    def on_day(self, day: int) -> Population:
        """Return the population on ``day`` (a fresh copy, free to modify)."""
        day = check_int("day", day, 0)  # sessions may move on past MAX_DAY
        if not self.drift:
            return self._cache[0].copy()
        if self._last[0] <= day:
            start, pop = self._last
        else:
            start = max(d for d in self._cache if d <= day)
            pop = self._cache[start]
        pop = pop.copy()
        for d in range(start + 1, day + 1):
            self.drift.step(pop, self.spec, np.random.default_rng([self.seed, d]), d)
            if d % self._every == 0:
                self._cache[d] = pop.copy()
        self._last = (day, pop.copy())
        return pop
