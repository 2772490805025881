"""A meta-trained RNN decoder adapting within the session from the error signal (issue 15 §3).

The shipped GRU (:mod:`cogmodels.agents.decoders.amortised_map`; weights
``cogmodels/data/amortised_gru.pt``, trained by ``benchmarks/bench_meta_decoder.py``, see
``cogmodels/data/NOTICE.md``) is played with frozen weights on new simulated subjects: a
session of ``first_s`` on day ``d`` starting from nothing, then, with its hidden state
carried over, one of ``next_s`` on day ``d + gap_days``. It reads only the two
re-estimated spike features, its own output and the shown feedback (success + the decoded error
signal of the realistic channel: 75 % hits, 3 % false alarms, one evaluation per second, 300 ms
late) — never the target, the cursor or a label — so what rises within a session is adaptation
in its state. Beside it, on the same subject-days (every unit plays the experiment's base
``seed``):

- ``error_map_inference``: the Bayesian learner it was trained to imitate
  (:class:`~cogmodels.agents.decoders.map_inference.ErrorMapInference`, likelihood sharpness 1);
- ``amortised_gru_no_error_input``: the same network with the feedback cut (a labelled
  ablation: what it does without the error signal);
- ``fresh_kalman``: a Kalman filter calibrated afresh on each day's 60 s supervised block (the
  reference; its block is not counted in its time).

The result is successes/min in windows of ``window_s`` over each session, and each
decoder's share of the fresh Kalman filter over each session.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cogmodels.experiments._common import TOO_SHORT, markdown_table, save, setting_note
from cogmodels.experiments.registry import Config, Experiment, Range

__all__ = ["DECODERS", "EXPERIMENT", "load_network"]

#: the decoders, each with what it learns from (the legend)
DECODERS = {
    "amortised_gru": "meta-trained GRU (spikes + error signal, frozen weights)",
    "error_map_inference": "Bayesian map inference (its teacher; same inputs)",
    "amortised_gru_no_error_input": "same GRU, error signal cut (ablation)",
    "fresh_kalman": "Kalman filter calibrated afresh each day (supervised)",
}
SESSIONS = ("from nothing (day d)", "carried over (day d + gap)")
WEIGHTS = Path(__file__).resolve().parents[1] / "data" / "amortised_gru.pt"


def load_network(path: str | Path = WEIGHTS):
    """Load :class:`~cogmodels.agents.decoders.amortised_map.AmortisedMapNet` weights (default: shipped)."""
    import torch

    from cogmodels.agents.decoders.amortised_map import AmortisedMapNet

    return AmortisedMapNet.from_state_dict(torch.load(path, weights_only=True))


def units(config: Config) -> list[dict]:
    # every unit plays the base seed's subjects: a paired comparison
    return [{"decoder": d, "env_seed": config.seed} for d in DECODERS]


def run_unit(config: Config, unit: dict, seed: int) -> dict[str, pd.DataFrame]:
    from cogmodels.agents.decoders.amortised_map import amortised_map_sessions
    from cogmodels.agents.decoders.map_inference import map_inference_sessions
    from cogmodels.agents.decoders.meta_rnn import (
        MetaDecoderConfig,
        fresh_kalman_sessions,
        subject_days,
    )

    name, env_seed = unit["decoder"], unit["env_seed"]
    cfg = MetaDecoderConfig(n_components=2)
    days = subject_days(cfg, config.seed, config["n_subjects"])
    later = [d + config["gap_days"] for d in days]
    first, then = config["first_s"], [(later, config["next_s"])]
    if name == "fresh_kalman":
        trials = pd.concat([fresh_kalman_sessions(cfg, days, first, seed=env_seed).assign(session=0),
                            fresh_kalman_sessions(cfg, later, config["next_s"], seed=env_seed).assign(session=1)])
    elif name == "error_map_inference":
        trials = map_inference_sessions(cfg, days, first, seed=env_seed, then=then, sharpness=1.0)
    else:
        if name == "amortised_gru_no_error_input":
            cfg = MetaDecoderConfig(n_components=2, inputs="none")
        trials = amortised_map_sessions(load_network(), cfg, days, first, seed=env_seed, then=then)
    return {"trials": trials.assign(decoder=name).reset_index(drop=True)}


def combine(config: Config, tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    trials = tables["trials"]
    n, w = config["n_subjects"], config["window_s"]
    rows = []
    for session, length in enumerate((config["first_s"], config["next_s"])):
        edges = np.arange(0.0, length + 1e-9, w)
        if edges[-1] < length:
            edges = np.append(edges, length)
        for decoder in DECODERS:
            t = trials[(trials["decoder"] == decoder) & (trials["session"] == session)]
            ends = t.loc[t["success"].astype(bool), "time"].to_numpy()
            counts = np.histogram(ends, bins=edges)[0]
            for lo, hi, c in zip(edges[:-1], edges[1:], counts):
                rows.append({"decoder": decoder, "session": session, "window_end_s": hi,
                             "successes_per_min": c * 60.0 / ((hi - lo) * n)})
    curve = pd.DataFrame(rows)
    whole = []
    for session, length in enumerate((config["first_s"], config["next_s"])):
        s = trials[trials["session"] == session]
        rate = {d: s.loc[(s["decoder"] == d), "success"].sum() * 60.0 / (length * n) for d in DECODERS}
        whole += [{"decoder": d, "session": SESSIONS[session], "successes_per_min": r,
                   "share_of_fresh_kalman": r / rate["fresh_kalman"] if rate["fresh_kalman"] else np.nan}
                  for d, r in rate.items()]
    return {"learning_curve": curve, "summary": pd.DataFrame(whole)}


def report(config: Config, tables: dict[str, pd.DataFrame], out: Path) -> tuple[str, list[Path]]:
    from matplotlib.figure import Figure

    curve, summary = tables["learning_curve"], tables["summary"]
    hits = summary.groupby("decoder")["successes_per_min"].sum()
    silent = [d for d in ("amortised_gru", "error_map_inference") if hits.get(d, 0.0) == 0.0]
    fig = Figure(figsize=(11, 4.8), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True,
                        gridspec_kw={"width_ratios": [config["first_s"], config["next_s"]]})
    styles = {"amortised_gru": "-", "error_map_inference": "--", "amortised_gru_no_error_input": ":",
              "fresh_kalman": "-."}
    for session, ax in enumerate(axes):
        for d, label in DECODERS.items():
            c = curve[(curve["decoder"] == d) & (curve["session"] == session)]
            ax.plot(c["window_end_s"], c["successes_per_min"], styles[d], marker="o", ms=3,
                    label=label + (f":\n{TOO_SHORT}" if d in silent else ""))
        ax.set_title(SESSIONS[session].replace("gap", f"{config['gap_days']}"))
        ax.set_xlabel("time in session (s)")
    axes[0].set_ylabel(f"successes/min ({config['window_s']:g} s windows)")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=2, fontsize=8)
    fig.suptitle(f"Within-session adaptation without weight updates{setting_note(config)}: mean of "
                 f"{config['n_subjects']} new subjects")
    path = save(fig, out, "adaptation")
    md = "\n".join([
        "## Within-session adaptation from the error signal",
        "",
        f"{config['n_subjects']} new simulated subjects (environment seed {config.seed}), a "
        f"{config['first_s']:g} s session on day d from nothing, then "
        f"{config['next_s']:g} s on day d + {config['gap_days']} with each learner's state "
        "carried over; the realistic error channel (75 % hits, 3 % false alarms, 1 Hz, 300 ms "
        "late). The GRU's weights are frozen: what rises is adaptation in its hidden state. The "
        "Kalman filter is calibrated afresh on each day with the intended velocity as labels "
        "(supervised; its 60 s block is not counted).",
        "",
        "![adaptation](figures/adaptation.png)",
        "",
        *([f"No success at all for {', '.join(silent)}: {TOO_SHORT}.", ""] if silent else []),
        markdown_table(summary, decimals=2),
    ])
    return md, [path]


EXPERIMENT = Experiment(
    name="bci_meta_decoder",
    description=(
        "A GRU decoder meta-trained to adapt from the error signal, played with frozen weights on "
        "new subjects from nothing and on the next day, beside its Bayesian teacher, the same GRU "
        "without the error signal and a freshly calibrated Kalman filter."
    ),
    defaults={"n_subjects": 8, "first_s": 360.0, "next_s": 120.0, "gap_days": 1,
              "window_s": 20.0},
    # quick: 3 minutes from nothing show the exploration and the rise after it, 1 minute carried
    # over the next day's start (about 15 CPU s)
    quick={"n_subjects": 4, "first_s": 180.0, "next_s": 60.0},
    units=units,
    run_unit=run_unit,
    combine=combine,
    report=report,
    ranges={"n_subjects": (1, None), "first_s": Range(0, None, low_open=True),
            "next_s": Range(0, None, low_open=True), "gap_days": (0, None),
            "window_s": Range(0, None, low_open=True)},
)
