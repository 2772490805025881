"""BCI decoders under neural drift: the metrics of each decoding strategy over days.

One unit per strategy of :data:`cogmodels.experiments.drift_study.STRATEGIES` (fixed,
daily recalibration: supervised; ReFIT-RML: supervised adaptation; RTI-RML: unsupervised;
reward-only). The comparison is *paired*: every unit builds its simulated subjects, drift and targets
from the experiment's base ``seed`` (not its unit seed) through
:func:`~cogmodels.experiments.drift_study.compare_under_drift`, so all strategies face the same
subjects. Metrics per decoder, day and subject come from :func:`cogmodels.envs.bci.metrics.summarize`
(``n_targets``: the task's number of targets, 8 centre-out ones, for the bitrate; given explicitly
because some decoders' tables carry no target indices). ``error_signal`` names the error channel
(:data:`cogmodels.envs.bci.error_signal.ERROR_SIGNAL_PRESETS`, default ``"realistic"``: 75 %
hits, 3 % false alarms, one evaluation per second, 300 ms late) that the reward-only decoder
learns from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from cogmodels.envs.bci.drift import DRIFT_PRESETS
from cogmodels.envs.bci.error_signal import ERROR_SIGNAL_PRESETS
from cogmodels.envs.bci.metrics import summarize
from cogmodels.experiments._common import TOO_SHORT, markdown_table, save, setting_note
from cogmodels.experiments.drift_study import STRATEGIES, compare_under_drift
from cogmodels.experiments.registry import Config, Experiment, Range

__all__ = ["EXPERIMENT"]
_KEEP = ["decoder", "subject", "day", "trial", "state", "success", "trial_time", "time_to_target",
         "path_efficiency", "dial_in_time", "index_of_difficulty"]


def units(config: Config) -> list[dict]:
    # the environment seed is the base seed for every unit: a paired comparison
    return [{"decoder": s, "env_seed": config.seed} for s in config["strategies"]]


def run_unit(config: Config, unit: dict, seed: int) -> dict[str, pd.DataFrame]:
    name = unit["decoder"]
    common: dict[str, Any] = {
        "days": config["days"], "n_subjects": config["n_subjects"],
        "session_s": config["session_seconds"], "calibration_s": config["calibration_seconds"],
        "seed": unit["env_seed"], "drift": config["drift"], "reward_warmup_s": config["reward_warmup"],
        "error_signal": config["error_signal"],
    }
    trials = compare_under_drift([name], **common)
    per_subject = summarize(trials, by=["decoder", "day", "subject"], n_targets=config["n_targets"])
    keep = [c for c in _KEEP if c in trials.columns]
    return {"metrics_per_subject": per_subject, "trials": trials[keep]}


def combine(config: Config, tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    return {"metrics": summarize(tables["trials"], by=["decoder", "day"], n_targets=config["n_targets"])}


#: legend labels: each decoder with what it learns from
DECODER_LABELS = {
    "fixed": "fixed (supervised calibration, day 0)",
    "daily_recalibration": "recalibrated daily (supervised)",
    "refit_rml": "ReFIT-RML (supervised adaptation)",
    "rti_rml": "RTI-RML (unsupervised adaptation)",
    "reward_only": "reward-only (reward signal only)",
}


def _labels(metrics: pd.DataFrame) -> dict[str, str]:
    """Legend label of each decoder; one that never hit a target says the run is too short."""
    hits = metrics.groupby("decoder", sort=False)["n_success"].sum()
    return {d: DECODER_LABELS.get(d, d) + ("" if hits[d] > 0 else f":\n{TOO_SHORT}")
            for d in hits.index}


def _channel_words(name: str) -> str:
    """Describe the error-signal preset ``name`` in words (rates, timing, events)."""
    spec = ERROR_SIGNAL_PRESETS[name]
    words = (f"the '{name}' channel: {spec.hit_rate:.0%} of errors detected, {spec.false_alarm_rate:.0%} "
             f"false alarms, evaluating {' / '.join(spec.events)}")
    if "window" in spec.events:
        words += f" every {spec.interval:g} s"
    words += f", {spec.latency * 1000:g} ms late"
    if name == "idealised":
        words += " — idealised, denser and faster than any measured error-related signal"
    return words


def report(config: Config, tables: dict[str, pd.DataFrame], out: Path) -> tuple[str, list[Path]]:
    from cogmodels.envs.bci.metrics import plot_over_days

    m = tables["metrics"]
    labels = _labels(m)
    per_subject = tables["metrics_per_subject"].assign(
        decoder=lambda d: d["decoder"].map(lambda v: labels.get(v, v)))
    fig = plot_over_days(per_subject, hue="decoder")
    fig.suptitle(f"Decoders under '{config['drift']}' drift{setting_note(config)}: mean ± s.e.m. over "
                 f"{config['n_subjects']} subjects, {config['session_seconds']:g} s sessions")
    path = save(fig, out, "metrics_over_days")
    cols = ["decoder", "day", "n_trials", "success_rate", "successes_per_min", "time_to_target", "bitrate"]
    silent = [d for d, lab in labels.items() if TOO_SHORT in lab]
    md = "\n".join([
        "## Metrics over days",
        "",
        f"Days {config['days']}; {config['session_seconds']:g} s closed-loop sessions, "
        f"{config['calibration_seconds']:g} s calibration blocks, {config['reward_warmup']:g} s of "
        f"reward-only learning before day 0; all decoders see the same subjects (environment "
        f"seed {config.seed}). Supervised decoders are calibrated or adapted with the known "
        "targets; the RTI and reward-only decoders never see them. The reward-only decoder "
        f"learns from a simulated error signal, {_channel_words(config['error_signal'])}.",
        "",
        "![metrics over days](figures/metrics_over_days.png)",
        "",
        *([f"No success at all for {', '.join(silent)}: {TOO_SHORT}.", ""] if silent else []),
        markdown_table(m[[c for c in cols if c in m.columns]]),
    ])
    return md, [path]


EXPERIMENT = Experiment(
    name="bci_drift",
    description=(
        "Cursor-BCI decoders under neural drift: fixed, daily recalibration, supervised (ReFIT) and "
        "unsupervised (RTI) RML adaptation and the reward-only decoder, scored over days on the "
        "same simulated subjects."
    ),
    defaults={"strategies": list(STRATEGIES), "days": [0, 1, 3, 7, 14, 28], "n_subjects": 8,
              "session_seconds": 120.0, "calibration_seconds": 60.0, "drift": "typical",
              "reward_warmup": 600.0, "n_targets": 8, "error_signal": "realistic"},
    # quick: the reward-only decoder spends its first 30 s on spike statistics, then needs about
    # three minutes of the realistic channel to hit targets reliably (5-9 successes/min by then)
    quick={"n_subjects": 2, "days": [0, 7], "session_seconds": 20.0, "calibration_seconds": 20.0,
           "reward_warmup": 240.0},
    choices={"drift": list(DRIFT_PRESETS), "strategies": list(STRATEGIES),
             "error_signal": list(ERROR_SIGNAL_PRESETS)},
    units=units,
    run_unit=run_unit,
    combine=combine,
    report=report,
    ranges={"days": (0, None), "n_subjects": (1, None), "session_seconds": Range(0, None, low_open=True),
            "calibration_seconds": Range(0, None, low_open=True), "reward_warmup": (0, None),
            "n_targets": (2, None)},
)
