"""The demo job: every shipped experiment in its quick setting, into one run folder.

``cogmodels demo`` (and ``make demo``) runs the default suite — Q-learning recovery on the
bandit, the two-step stay analysis, RLWM on the Collins & Frank data, the dopamine
prediction-error transfer, meta-RL bandit regret, BCI decoders under drift and a meta-trained
RNN decoder adapting within the session from the error signal — with
:func:`cogmodels.experiments.run_suite` and writes ``<out>/report.md`` with each area's headline
figure, plus one run folder per experiment (config, manifest, tables, figures, report). A
second call with the same folder resumes: finished work units are not recomputed.
"""

from __future__ import annotations

from pathlib import Path

from cogmodels.experiments import experiment_names, run_suite

__all__ = ["DEMO_EXPERIMENTS", "run_demo"]

#: the default suite, in report order
DEMO_EXPERIMENTS = ("bandit_recovery", "two_step", "rlwm", "dopamine", "meta_rl_bandit",
                    "bci_drift", "bci_meta_decoder")


def run_demo(out: str | Path = "demo-output", *, seed: int = 0, full: bool = False,
             executor: str = "local", experiments: tuple[str, ...] = DEMO_EXPERIMENTS,
             threads: int | None = 1, progress: bool = True) -> Path:
    """Run ``experiments`` (quick unless ``full``) into ``out``; return the suite report's path.

    ``threads`` and ``progress`` are :func:`run_suite`'s.
    """
    unknown = [e for e in experiments if e not in experiment_names()]
    if unknown:
        raise ValueError(f"experiments must be among {experiment_names()}, got {unknown}")
    folder = run_suite(list(experiments), out, quick=not full, seed=seed, executor=executor,
                       threads=threads, progress=progress)
    return Path(folder) / "report.md"
