#!/usr/bin/env python
"""A GRU decoder meta-trained with A2C to adapt within a session, against a fresh Kalman filter.

Each decoder is trained for ``--budget`` seconds of ``--clock`` (CPU seconds of this process, one
torch thread, by default: the machine is shared) across simulated subjects and days of "typical"
drift (:class:`cogmodels.agents.decoders.meta_rnn.MetaRNNDecoder`), then frozen and played on
``--subjects`` held-out subject-days (another seed stream, days drawn in ``[0, max_day]``) for
``--seconds`` from a fresh hidden state. Beside them, on the same subjects and days: a steady-state
Kalman filter freshly calibrated on a 60 s block of the day (supervised), and the untrained network
(chance). Decoders:

- ``meta``: spikes + previous velocity + the environment's feedback (success + realistic error
  signal), the issue's decoder;
- ``no_error_input``: the same network and training, the feedback input zeroed (ablation);
- ``meta_idealised`` (``--idealised``): trained and scored with the idealised channel (a labelled
  ablation, never a headline);
- ``recurrent_ppo`` (``--ppo``): sb3-contrib RecurrentPPO (LSTM) with the same inputs, reward and
  budget (:func:`cogmodels.agents.decoders.meta_ppo.train_recurrent_ppo`);
- ``linear_readout_ceiling`` (``--ceiling``): a supervised diagnostic, the best fixed linear
  read-out of the same features fitted on the intended velocity
  (:func:`cogmodels.agents.decoders.meta_rnn.linear_readout_sessions`); ``--ceiling kalman``
  the same with a steady-state Kalman filter observing the features (H, d, q fitted on a 60 s
  block in which the cursor follows the intention); with ``--next-day G``, also each read-out
  fitted on the first day and carried, unrefitted, to day + G on the aligned features
  (``..._next_day_G``: what a map known perfectly yesterday is worth today); with
  ``--ceiling-carry`` a linear read-out is carried through each re-estimate of the features as
  well (``W -> W M``, the least-squares map from the new features to the old; rows
  ``..._carried``);
- ``error_map_inference`` (``--map-inference``): not a network, the in-session Bayesian
  inference of a 2 x 2 map from the error signal
  (:func:`cogmodels.agents.decoders.map_inference.map_inference_sessions`), and its
  ``_no_error_input`` ablation.
- ``error_map_inference_next_day_G`` (``--next-day G``): the same learner used day after day: a
  first session of ``--first-seconds`` on the held-out days, then a session on each subject's
  day + G with the features' basis and the posterior carried over (a decoder's own memory of the
  subject, no label); scored against ``fresh_kalman_day_G``, a Kalman filter calibrated afresh on
  day + G (``ratio_to_same_day_kf``).
- ``error_map_inference_gap_kernel_next_day_G`` (``--next-day G --gap-kernel``): the same, the
  carried posterior first diffused by the between-session drift kernel for the G days since the
  first session (``ErrorMapInference.new_session(gap_days=G)``; its constants through ``--teacher``);
  beside it ``error_map_inference_from_nothing`` (day d, against ``fresh_kalman``) and
  ``error_map_inference_from_nothing_day_G`` (day d + G, against ``fresh_kalman_day_G``): the
  learner with ``--teacher``'s arguments meeting the subject afresh.
- ``gaussian_map_inference`` (``--gaussian-map``): not a network, a Gaussian posterior over the
  whole ``2 x k`` map of the configuration's ``n_components`` features from the error signal,
  Thompson-sampled and carried through the features' re-estimates
  (:func:`cogmodels.agents.decoders.gaussian_map.gaussian_map_sessions`); from nothing, and with
  ``--next-day G`` used day after day (``gaussian_map_inference_next_day_G``, the posterior
  widened by the G days between sessions); with ``--daily N`` also used every day for N days
  after the first session (sessions of ``--daily-seconds``; rows
  ``gaussian_map_inference_daily_day_G``: the first ``--seconds`` of day + G's session, against
  ``fresh_kalman_day_G``). ``--gaussian-map '{"speed": 0.3}'`` passes its arguments.

- ``amortised_gru`` (``--amortised``): a GRU meta-trained by DAgger to carry out the map
  inference in its state (:mod:`cogmodels.agents.decoders.amortised_map`); with ``--next-day G``
  also carried over as above. ``--amortised-head posterior --amortised-evaluations`` and
  ``--dagger-rounds`` give the sixth step's recipe (RESULTS), ``--jobs 2`` records its DAgger
  batches in two processes (the same network), ``--dagger-fit-shards 2`` splits each gradient
  step over them too (the same loss, another rounding), ``--save-net`` / ``--load-net`` keep the
  weights (``<name>.json`` + ``<name>.npz``, no pickle; ``--load-net`` still reads a ``.pt``
  state dict of earlier runs with ``torch.load(weights_only=True)``).
  ``--a2c-updates N`` then fine-tunes it with the package's A2C on the task's reward, with a
  distillation term of weight ``--a2c-kick`` (:mod:`cogmodels.agents.decoders.amortised_a2c`);
  ``--a2c-explore`` lets A2C learn the explore-or-exploit decision too, ``--a2c-gamma`` its
  discount per 0.25 s chunk.

``--config '{"head": "plastic", ...}'`` gives every network the fast-weight read-out
(:class:`cogmodels.agents.decoders.plastic_policy.PlasticReadoutPolicy`); ``--jobs 2`` trains
the decoders in two processes (each within its own CPU budget).

    python benchmarks/bench_meta_decoder.py            # 6 CPU-minutes per decoder, 8 subject-days
    python benchmarks/bench_meta_decoder.py --quick    # under a minute
    python benchmarks/bench_meta_decoder.py --references-only --ceiling   # no training
    python benchmarks/bench_meta_decoder.py --references-only --next-day 1 7 --config '{"n_components": 2}'
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd
import torch

from cogmodels.agents.decoders import amortised_a2c, amortised_map, meta_ppo, meta_rnn
from cogmodels.agents.decoders.base import load_decoder
from cogmodels.agents.decoders.gaussian_map import gaussian_map_sessions
from cogmodels.agents.decoders.map_inference import map_inference_sessions
from cogmodels.agents.decoders.meta_rnn import MetaDecoderConfig, MetaRNNDecoder, per_minute
from cogmodels.envs.bci.metrics import summarize
from cogmodels.envs.bci.realism import REALISM_LEVELS
from cogmodels.experiments._common import markdown_table

HERE = Path(__file__).resolve().parent
COLS = ["successes_per_min", "success_rate", "time_to_target", "bitrate"]



def _cpu_with_children() -> float:
    """CPU seconds of this process and of its finished worker processes (``--jobs``)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def train_and_play(base: MetaDecoderConfig, name: str, change: dict, days: list[int],
                   seconds: float, eval_seed: int) -> tuple[list[tuple[str, pd.DataFrame]], dict]:
    """Train one decoder within its budget and play it on the held-out subject-days.

    Returns the played trial tables (``meta`` also plays its untrained self first) and the
    training cost. Top-level so that ``--jobs`` can run decoders in separate processes (one
    torch thread each: the CPU budget of each decoder is unchanged).
    """
    torch.set_num_threads(1)
    dec = MetaRNNDecoder(base, **change)
    played = []
    if name == "meta":
        played.append(("untrained", dec.play(days, seconds, seed=eval_seed)))
    dec.fit(progress=False)
    h = dec.history_
    cost = {"decoder": name, "cpu_s": dec.cpu_s_, "wall_s": dec.wall_s_,
            "sessions": dec.n_sessions_, "updates": dec.n_updates_,
            "train_successes_per_min_first": float(h.successes_per_min.head(3).mean()),
            "train_successes_per_min_last": float(h.successes_per_min.tail(3).mean())}
    played.append((name, dec.play(days, seconds, seed=eval_seed)))
    if hasattr(dec.model_, "log_eta"):
        m = dec.model_
        cost.update(plastic_lr=float(m.log_eta.exp().detach()), trace_decay=float(torch.sigmoid(m.logit_trace).detach()),
                    map_decay=float(torch.sigmoid(m.logit_decay).detach()), baseline=float(m.baseline.detach()),
                    gain=float(m.log_gain.exp().detach()))
    return played, cost


def ceiling(base: MetaDecoderConfig, spec: str, days: list[int], seconds: float,
            eval_seed: int, then: list[tuple[list[int], float]] | None = None,
            carry: bool = False) -> tuple[str, pd.DataFrame]:
    """Play the supervised ceiling ``READOUT[:MOVEMENT[:DYNAMICS]]``; return its name and trials.

    ``linear`` alone keeps the name of the first attempt's row, ``linear_readout_ceiling``; the
    defaults are those of :func:`~cogmodels.agents.decoders.meta_rnn.linear_readout_sessions`
    (``kalman`` alone: the intention block and the physical prior, as the fresh filter's), whose
    ``then`` carries the read-out to later sessions; ``carry`` carries a linear read-out through
    the features' re-estimates too (``W -> W M``; the name ends in ``_carried``; a Kalman-form
    read-out is played without it).
    """
    parts = spec.split(":")
    if not 1 <= len(parts) <= 3:
        raise ValueError(f"--ceiling takes READOUT[:MOVEMENT[:DYNAMICS]], got {spec!r}")
    readout = parts[0]
    movement = parts[1] if len(parts) > 1 else ("intention" if readout == "kalman" else "random")
    dynamics = parts[2] if len(parts) > 2 else "physical"
    name = ("linear_readout_ceiling" if spec == "linear"
            else f"{readout}_readout_ceiling_{movement}_{dynamics}".replace("_physical", ""))
    carry = carry and readout == "linear"
    return name + ("_carried" if carry else ""), meta_rnn.linear_readout_sessions(
        base, days, seconds, seed=eval_seed, readout=readout, movement=movement,
        dynamics=dynamics, then=then or (), carry=carry)


def output_tag(tag: str | None, quick: bool, realism: str) -> str:
    """Return the output files' suffix: ``--tag`` (default ``_quick`` or none), then ``_<realism>``.

    The realism level is appended unless it is ``"off"`` (the committed plain files keep their
    names) or the tag names it already (the committed runs' ``--tag ..._realistic``), so a
    realistic or full run never writes over the plain one's files.
    """
    tag = ("_quick" if quick else "") if tag is None else tag
    level = f"_{realism}"
    longer = "".join(rf"(?!{re.escape(name[len(realism):])}(?![a-z]))" for name in REALISM_LEVELS
                     if name.startswith(realism + "_"))  # "_full" is not named by "_full_m1"
    named = realism == "off" or re.search(rf"{level}(?![a-z]){longer}", tag)
    return tag + ("" if named else level)


def _amortised_net(config: MetaDecoderConfig, args: argparse.Namespace
                   ) -> tuple[amortised_map.AmortisedMapNet, dict | None]:
    """Train the DAgger GRU (or load ``--load-net``), then ``--a2c-updates``; return it and its cost.

    The cost is None for loaded weights played as they are.
    """
    if args.load_net is not None:
        return _a2c_finetune(_load_net(args.load_net), config, args, None)
    rounds = [tuple(r) for r in json.loads(args.dagger_rounds)]
    if args.quick:
        rounds = [(2, 5), (1, 3)]
    net, history = amortised_map.distil(config, rounds=rounds, head=args.amortised_head, seed=args.seed,
                                        evaluations=args.amortised_evaluations, jobs=args.jobs,
                                        teacher=json.loads(args.teacher), gap=args.amortised_gaps,
                                        gap_input=args.amortised_gap_input,
                                        fit_shards=args.dagger_fit_shards)
    print("amortised GRU (DAgger):\n" + markdown_table(history.round(3), decimals=3), flush=True)
    cost = {"decoder": "amortised_gru", "cpu_s": float(history[["record_cpu_s", "fit_cpu_s"]].sum().sum()),
            "wall_s": float(history["wall_s"].sum()), "sessions": int(history["sequences"].iloc[-1]) * 2,
            "updates": int(history["epochs"].sum()), "dagger_rounds": json.dumps(rounds),
            "head": args.amortised_head, "evaluations": args.amortised_evaluations, "jobs": args.jobs,
            "teacher": args.teacher, "gaps": json.dumps(args.amortised_gaps),
            "gap_input": args.amortised_gap_input, "fit_shards": args.dagger_fit_shards}
    return _a2c_finetune(net, config, args, cost)


def _a2c_finetune(net: amortised_map.AmortisedMapNet, config: MetaDecoderConfig, args: argparse.Namespace,
                  cost: dict | None) -> tuple[amortised_map.AmortisedMapNet, dict | None]:
    """Fine-tune ``net`` with A2C for ``--a2c-updates`` (amortised_a2c.finetune); save ``--save-net``."""
    if args.a2c_updates:
        updates = 2 if args.quick else args.a2c_updates
        net, history = amortised_a2c.finetune(net, config, updates=updates, kick=args.a2c_kick,
                                              kick_explore=args.a2c_kick_explore, lr=args.a2c_lr,
                                              gamma=args.a2c_gamma, learn_explore=args.a2c_explore,
                                              teacher=json.loads(args.teacher), seed=args.seed, jobs=args.jobs,
                                              gap=args.amortised_gaps)
        print("A2C fine-tuning (every 10th update):\n"
              + markdown_table(history.iloc[::10].round(3), decimals=3), flush=True)
        args.out.mkdir(parents=True, exist_ok=True)
        history.to_csv(args.out / f"meta_decoder_a2c_history{args.tag}.csv", index=False)
        a2c = {"a2c_updates": updates, "a2c_kick": args.a2c_kick, "a2c_lr": args.a2c_lr,
               "a2c_kick_explore": args.a2c_kick_explore, "a2c_gamma": args.a2c_gamma,
               "a2c_explore": args.a2c_explore,
               "a2c_cpu_s": float(history[["play_cpu_s", "fit_cpu_s"]].sum().sum()),
               "a2c_wall_s": float(history["wall_s"].sum())}
        cost = {"decoder": "amortised_gru", "cpu_s": 0.0, "wall_s": 0.0, **(cost or {}), **a2c}
        cost["cpu_s"] += a2c["a2c_cpu_s"]
        cost["wall_s"] += a2c["a2c_wall_s"]
    if args.save_net is not None:
        net.save(args.save_net)
    return net, cost


def _load_net(path: Path) -> amortised_map.AmortisedMapNet:
    """Load ``--load-net``: a network saved by ``--save-net`` (JSON + npz) or an earlier run's ``.pt``."""
    if path.suffix == ".pt":  # a state dict of plain tensors, written before the JSON + npz format
        return amortised_map.AmortisedMapNet.from_state_dict(torch.load(path, weights_only=True))
    net = load_decoder(path)
    if not isinstance(net, amortised_map.AmortisedMapNet):
        raise ValueError(f"--load-net must name a saved AmortisedMapNet, got a {type(net).__name__} "
                         f"({path})")
    return net.eval()


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budget", type=float, default=360.0, help="training seconds per decoder")
    ap.add_argument("--clock", choices=meta_rnn.CLOCKS, default="cpu")
    ap.add_argument("--subjects", type=int, default=8, help="held-out subject-days")
    ap.add_argument("--seconds", type=float, default=120.0, help="held-out session length")
    ap.add_argument("--session", type=float, default=120.0, help="training session length, s")
    ap.add_argument("--num-envs", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-seed", type=int, default=2018)
    ap.add_argument("--config", default=None, help="JSON overrides of MetaDecoderConfig")
    ap.add_argument("--seen", action="store_true",
                    help="score on the first training batch's subject-days instead of held-out "
                         "ones (a diagnostic, with --config '{\"train_pool\": 1}')")
    ap.add_argument("--idealised", action="store_true", help="add the idealised-channel ablation")
    ap.add_argument("--ppo", action="store_true", help="add RecurrentPPO at the same budget")
    ap.add_argument("--jobs", type=int, default=1,
                    help="decoders trained at once, one process each (one torch thread each); "
                         "--amortised: processes recording the DAgger batches")
    ap.add_argument("--ceiling", nargs="*", default=None, metavar="READOUT[:MOVEMENT[:DYNAMICS]]",
                    help="add supervised ceilings of fixed read-outs of the same features "
                         "(meta_rnn.linear_readout_sessions): 'linear' (the default when the "
                         "flag has no value), 'kalman', 'kalman:intention:fit', ...")
    ap.add_argument("--ceiling-carry", action="store_true",
                    help="carry the linear ceilings' read-out through each re-estimate of the "
                         "features (W -> W M, SpikeFeatures.carry_; rows ..._carried); the "
                         "Kalman-form ceilings are played as without it")
    ap.add_argument("--map-inference", action="store_true",
                    help="add the in-session Bayesian map inference from the error signal on 2 "
                         "components (map_inference.map_inference_sessions) and its "
                         "no-error-input ablation; not trained")
    ap.add_argument("--gaussian-map", nargs="?", const="{}", default=None, metavar="JSON",
                    help="add the Gaussian map inference on the configuration's n_components "
                         "(gaussian_map.gaussian_map_sessions; JSON of its arguments), from "
                         "nothing and, with --next-day, carried over; not trained")
    ap.add_argument("--daily", type=int, default=0, metavar="N",
                    help="--gaussian-map: after a first session of --first-seconds, a session on "
                         "each of the next N days (rows gaussian_map_inference_daily_day_G)")
    ap.add_argument("--daily-seconds", type=float, default=None,
                    help="--daily: length of each day's session (300 s; scored on its first --seconds)")
    ap.add_argument("--references-only", action="store_true",
                    help="play the references (Kalman filter, untrained network, --ceiling) only")
    ap.add_argument("--quick", action="store_true", help="10 s budgets, 2 subject-days, 60 s")
    ap.add_argument("--out", type=Path, default=HERE / "figures")
    ap.add_argument("--next-day", type=int, nargs="+", default=[], metavar="G",
                    help="play the map inference on day + G after a first session, its state carried over; "
                         "with --ceiling also each read-out fitted on the first session and carried, "
                         "unrefitted (rows READOUT_..._next_day_G)")
    ap.add_argument("--first-seconds", type=float, default=360.0,
                    help="--next-day: length of the first session (s), the carried ceilings' too")
    ap.add_argument("--gap-kernel", action="store_true",
                    help="--next-day: also play the map inference carried over with the between-session drift "
                         "kernel (new_session(gap_days=G)), and the same learner from nothing on day d and d + G")
    ap.add_argument("--amortised", action="store_true",
                    help="add the GRU meta-trained by DAgger on the map inference "
                         "(amortised_map.distil), from nothing and, with --next-day, carried over")
    ap.add_argument("--dagger-rounds", default="[[64, 20], [32, 8], [32, 8]]",
                    help="--amortised: JSON list of [batches of 16 training subject-days, epochs] per round")
    ap.add_argument("--dagger-fit-shards", type=int, default=1,
                    help="--amortised: parts of each DAgger gradient step, computed in the --jobs "
                         "processes and summed (1: the single-process fit's rounding)")
    ap.add_argument("--amortised-head", choices=amortised_map.HEADS, default="map",
                    help="--amortised: read out (and imitate) the teacher's mode map or its whole posterior")
    ap.add_argument("--amortised-evaluations", action="store_true",
                    help="--amortised: the network also reads each evaluation's judged displacement "
                         "times the features (amortised_map.EVALUATION_NAMES)")
    ap.add_argument("--amortised-gaps", type=int, nargs="+", default=[1],
                    help="--amortised: the days between a DAgger (and --a2c-updates) sequence's two "
                         "sessions, one drawn per subject from this list (repeat a gap to weight it)")
    ap.add_argument("--amortised-gap-input", action="store_true",
                    help="--amortised: the network reads the days since the last session "
                         "(amortised_map.GAP_NAME) and its teacher diffuses its posterior over them "
                         "(the between-session drift kernel)")
    ap.add_argument("--teacher", default="{}",
                    help="JSON ErrorMapInference arguments for the --next-day rows and the --amortised "
                         "network's teacher, e.g. '{\"sharpness\": 1.0}'")
    ap.add_argument("--amortised-readout", choices=amortised_map.READOUTS, default="local_mean",
                    help="--amortised, posterior head: the map played (the mean near the mode, or the mode)")
    ap.add_argument("--a2c-updates", type=int, default=0,
                    help="--amortised: then fine-tune the GRU with A2C for this many updates (each 2 x 16 "
                         "training subject-days; amortised_a2c.finetune; needs --amortised-head posterior)")
    ap.add_argument("--a2c-kick", type=float, default=1.0,
                    help="--a2c-updates: weight of the distillation term (0: plain A2C)")
    ap.add_argument("--a2c-kick-explore", type=float, default=None,
                    help="--a2c-updates: weight of the distillation term's explore decision (default --a2c-kick)")
    ap.add_argument("--a2c-lr", type=float, default=3e-4, help="--a2c-updates: Adam's step size")
    ap.add_argument("--a2c-gamma", type=float, default=0.9, help="--a2c-updates: discount per 0.25 s chunk")
    ap.add_argument("--a2c-explore", action="store_true",
                    help="--a2c-updates: draw the explore-or-exploit decisions and train them by A2C too")
    ap.add_argument("--save-net", type=Path, default=None,
                    help="--amortised: save the trained network here (<path>.json + <path>.npz)")
    ap.add_argument("--load-net", type=Path, default=None,
                    help="--amortised: play this saved network (--save-net's files, or an earlier .pt) "
                         "instead of training")
    ap.add_argument("--tag", default=None,
                    help="suffix of the output files (default: '_quick' with --quick, else none)")
    args = ap.parse_args(argv)
    if args.save_net is not None and args.save_net.suffix == ".pt":
        ap.error(f"--save-net writes <path>.json and <path>.npz (no pickle): give it a path without "
                 f".pt, got {str(args.save_net)!r}")
    ceilings = [] if args.ceiling is None else args.ceiling or ["linear"]
    if args.ceiling_carry and not any(spec.split(":")[0] == "linear" for spec in ceilings):
        ap.error(f"--ceiling-carry carries a linear ceiling: give --ceiling with a 'linear' read-out, "
                 f"got --ceiling {args.ceiling!r}")
    if args.daily < 0:
        ap.error(f"--daily must be an integer >= 0 (days after the first session), got {args.daily}")
    if args.daily and args.gaussian_map is None:
        ap.error(f"--daily plays the Gaussian map inference day after day: give --gaussian-map, "
                 f"got --daily {args.daily}")
    if args.daily_seconds is not None and not args.daily:
        ap.error(f"--daily-seconds is the length of --daily's sessions: give --daily N > 0, got "
                 f"--daily-seconds {args.daily_seconds} without it")
    gaussian = None
    if args.gaussian_map is not None:
        try:
            gaussian = json.loads(args.gaussian_map)
        except json.JSONDecodeError as err:
            ap.error(f"--gaussian-map must be a JSON object of GaussianMapInference arguments, got "
                     f"{args.gaussian_map!r} ({err})")
        if not isinstance(gaussian, dict):
            ap.error(f"--gaussian-map must be a JSON object of GaussianMapInference arguments, got "
                     f"{args.gaussian_map!r}")
    if args.quick:
        args.budget, args.subjects, args.seconds, args.session, args.num_envs = 8.0, 2, 60.0, 30.0, 8
    if args.daily:
        args.daily_seconds = 300.0 if args.daily_seconds is None else args.daily_seconds
        if args.daily_seconds < args.seconds:
            ap.error(f"--daily-seconds must be at least --seconds ({args.seconds:g}: each day is "
                     f"scored on its first --seconds), got {args.daily_seconds:g}")
    overrides = json.loads(args.config) if args.config else {}
    base = MetaDecoderConfig(session_s=args.session, num_envs=args.num_envs, budget_s=args.budget,
                             clock=args.clock, seed=args.seed, **overrides)
    args.tag = output_tag(args.tag, args.quick, base.realism)
    days = meta_rnn.subject_days(base, args.eval_seed, args.subjects)
    if args.seen:
        args.eval_seed, days = MetaRNNDecoder(base).training_subjects(0)
    t0, c0 = time.perf_counter(), _cpu_with_children()
    tables, costs = [], []

    def held_out(name: str, trials: pd.DataFrame) -> None:
        tables.append(trials.assign(decoder=name))

    held_out("fresh_kalman", meta_rnn.fresh_kalman_sessions(base, days, args.seconds,
                                                            seed=args.eval_seed))
    for spec in ceilings:
        held_out(*ceiling(base, spec, days, args.seconds, args.eval_seed, carry=args.ceiling_carry))
    two = MetaDecoderConfig(**base.to_dict() | {"n_components": 2})  # the map learners' features
    if args.map_inference:
        for name, inputs in (("error_map_inference", "error"),
                             ("error_map_inference_no_error_input", "none")):
            held_out(name, map_inference_sessions(MetaDecoderConfig(**two.to_dict() | {"inputs": inputs}),
                                                  days, args.seconds, seed=args.eval_seed))
    same_day_kf = {}  # decoder -> the Kalman filter calibrated on its days
    if gaussian is not None:
        held_out("gaussian_map_inference",
                 gaussian_map_sessions(base, days, args.seconds, seed=args.eval_seed, **gaussian))
    if args.daily:
        gaps = range(1, args.daily + 1)
        every_day = gaussian_map_sessions(base, days, args.first_seconds, seed=args.eval_seed,
                                          then=[([d + g for d in days], args.daily_seconds) for g in gaps],
                                          **gaussian)
        for gap in gaps:
            if gap not in args.next_day:
                held_out(f"fresh_kalman_day_{gap}", meta_rnn.fresh_kalman_sessions(
                    base, [d + gap for d in days], args.seconds, seed=args.eval_seed))
            session = every_day[(every_day["session"] == gap) & (every_day["time"] <= args.seconds)]
            held_out(f"gaussian_map_inference_daily_day_{gap}", session.drop(columns="session"))
            same_day_kf[f"gaussian_map_inference_daily_day_{gap}"] = f"fresh_kalman_day_{gap}"
    teacher = json.loads(args.teacher)
    if args.gap_kernel and args.next_day:
        held_out("error_map_inference_from_nothing",
                 map_inference_sessions(two, days, args.seconds, seed=args.eval_seed, **teacher))
    for gap in args.next_day:
        later = [d + gap for d in days]
        held_out(f"fresh_kalman_day_{gap}", meta_rnn.fresh_kalman_sessions(base, later, args.seconds,
                                                                          seed=args.eval_seed))
        both = map_inference_sessions(two, days, args.first_seconds, seed=args.eval_seed, then=[(later, args.seconds)],
                                      **teacher)
        held_out(f"error_map_inference_next_day_{gap}",
                 both[both["session"] == 1].drop(columns="session"))
        same_day_kf[f"error_map_inference_next_day_{gap}"] = f"fresh_kalman_day_{gap}"
        if gaussian is not None:
            both = gaussian_map_sessions(base, days, args.first_seconds, seed=args.eval_seed,
                                         then=[(later, args.seconds)], **gaussian)
            held_out(f"gaussian_map_inference_next_day_{gap}",
                     both[both["session"] == 1].drop(columns="session"))
            same_day_kf[f"gaussian_map_inference_next_day_{gap}"] = f"fresh_kalman_day_{gap}"
        for spec in ceilings:  # the read-out fitted on the first day, carried
            name, both = ceiling(base, spec, days, args.first_seconds, args.eval_seed,
                                 then=[(later, args.seconds)], carry=args.ceiling_carry)
            held_out(f"{name}_next_day_{gap}", both[both["session"] == 1].drop(columns="session"))
            same_day_kf[f"{name}_next_day_{gap}"] = f"fresh_kalman_day_{gap}"
        if args.gap_kernel:
            both = map_inference_sessions(two, days, args.first_seconds, seed=args.eval_seed,
                                          then=[(later, args.seconds)], gap_kernel=True, **teacher)
            held_out(f"error_map_inference_gap_kernel_next_day_{gap}",
                     both[both["session"] == 1].drop(columns="session"))
            held_out(f"error_map_inference_from_nothing_day_{gap}",
                     map_inference_sessions(two, later, args.seconds, seed=args.eval_seed, **teacher))
            for name in ("gap_kernel_next_day", "from_nothing_day"):
                same_day_kf[f"error_map_inference_{name}_{gap}"] = f"fresh_kalman_day_{gap}"
    if args.amortised:
        net, cost = _amortised_net(two, args)
        if cost is not None:
            costs.append(cost)
        play = {"readout": args.amortised_readout}
        held_out("amortised_gru", amortised_map.amortised_map_sessions(net, two, days, args.seconds,
                                                                       seed=args.eval_seed, **play))
        for gap in args.next_day:
            both = amortised_map.amortised_map_sessions(net, two, days, args.first_seconds, seed=args.eval_seed,
                                                        then=[([d + gap for d in days], args.seconds)], **play)
            held_out(f"amortised_gru_next_day_{gap}", both[both["session"] == 1].drop(columns="session"))
            same_day_kf[f"amortised_gru_next_day_{gap}"] = f"fresh_kalman_day_{gap}"
    runs = [("meta", {}), ("no_error_input", {"inputs": "none"})]
    if args.references_only:
        runs = []
        held_out("untrained", MetaRNNDecoder(base).play(days, args.seconds, seed=args.eval_seed))
    if args.idealised and not args.references_only:
        runs.append(("meta_idealised", {"error_signal": "idealised"}))
    jobs = [(base, name, change, days, args.seconds, args.eval_seed) for name, change in runs]
    if args.jobs > 1:
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            results = list(pool.map(train_and_play, *zip(*jobs)))
    else:
        results = [train_and_play(*job) for job in jobs]
    for played, cost in results:
        for name, trials in played:
            held_out(name, trials)
        costs.append(cost)
        print(f"{cost['decoder']}: {cost['cpu_s']:.0f} CPU s / {cost['wall_s']:.0f} wall s, "
              f"{cost['sessions']} sessions", flush=True)
    if args.ppo:
        ppo, cost = meta_ppo.train_recurrent_ppo(base)
        costs.append({"decoder": "recurrent_ppo", **{k: v for k, v in cost.items() if k != "settings"}})
        print(f"recurrent_ppo: {cost['cpu_s']:.0f} CPU s, settings {cost['settings']}", flush=True)
        held_out("recurrent_ppo", meta_ppo.play_recurrent_ppo(ppo, base, days, args.seconds,
                                                              seed=args.eval_seed))
    trials = pd.concat(tables, ignore_index=True)
    minutes = per_minute(trials)
    overall = summarize(trials, by=["decoder"], n_targets=8)
    kf = overall.set_index("decoder").loc["fresh_kalman", "successes_per_min"]
    wide = minutes.pivot(index="decoder", columns="minute", values="successes_per_min")
    wide.columns = [f"min_{int(m) + 1}" for m in wide.columns]
    table = overall.set_index("decoder")[COLS].join(wide).reset_index()
    table["ratio_to_kf"] = table["successes_per_min"] / kf
    last = wide.columns[-1]
    table[f"ratio_{last}_to_kf"] = table[last] / kf
    if same_day_kf:
        rate = overall.set_index("decoder")["successes_per_min"]
        reference = {d: "fresh_kalman" for d in table["decoder"]} | same_day_kf | {
            kf_name: kf_name for kf_name in same_day_kf.values()}
        table["ratio_to_same_day_kf"] = [rate[d] / rate[reference[d]] for d in table["decoder"]]
    args.out.mkdir(parents=True, exist_ok=True)
    tag = args.tag
    trials.to_csv(args.out / f"meta_decoder_trials{tag}.csv", index=False)
    table.to_csv(args.out / f"meta_decoder{tag}.csv", index=False)
    cost = pd.DataFrame(costs or [{"decoder": "none trained"}])
    cost.to_csv(args.out / f"meta_decoder_cost{tag}.csv", index=False)
    wall, cpu = time.perf_counter() - t0, _cpu_with_children() - c0
    print(f"\nmachine: {platform.machine()} {os.cpu_count()} cpu, python {platform.python_version()}; "
          f"total {cpu:.0f} CPU s / {wall:.0f} wall s; clock {args.clock}, budget {args.budget:g} s "
          f"per decoder; seed {args.seed}; held-out days {days} (eval seed {args.eval_seed}), "
          f"{args.seconds:g} s sessions")
    print("\nheld-out subject-days (sessions of", args.seconds, "s; the Kalman filter after a 60 s "
          "calibration block):")
    print(markdown_table(table.round(2), decimals=2))
    print("\ntraining cost:")
    print(markdown_table(cost.round(2), decimals=2))
    return {"table": table, "cost": cost, "wall_s": wall, "cpu_s": cpu}


if __name__ == "__main__":
    main()
