"""``simulate``'s tables pinned byte for byte across its move onto the native vector envs.

``benchmarks/simulate_hashes.json`` holds the hashes of 1,260 tables (trials and true parameters,
``record_probabilities=True``, latents on) that ``benchmarks/simulate_hashes.py`` took before
``simulate`` played in vector environments: every model case of the model contract in each of
its tasks with a native vector class, seeds 0, 1, 7, a ``SeedSequence`` and a ``Generator``,
1, 3 and 50 subjects, task variants whose draws are masked by copy. ``python
benchmarks/simulate_hashes.py --check benchmarks/simulate_hashes.json`` compares them all (34 CPU
s); this test re-takes a cross-section: several models of each task, int and ``Generator`` seeds,
3 and 50 subjects, every variant.

The hashes were taken with NumPy's AVX-512 loops and re-taken on 2026-12-05 with its AVX2 ones
(``NPY_DISABLE_CPU_FEATURES="X86_V4 AVX512_ICL AVX512_SPR"``, which ``make test`` sets): 783 of the
1,260 trial tables differ in the last bits of their float columns between the two, every ``params``
table is the same. The code was the one that matched the first hashes (commit 3fb8eaf, CI).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
_spec = importlib.util.spec_from_file_location("simulate_hashes", BENCH / "simulate_hashes.py")
hashes = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(hashes)

RECORDED = json.loads((BENCH / "simulate_hashes.json").read_text())
MODELS = ("q_learning-default", "wsls-default", "actor_critic-n_states-forgetting-stickiness-free_beta",
          "reversal_hmm-free_p_reward-stickiness", "two_step_hybrid-default", "two_step_mf-default",
          "constrained-two_step-fix-tie", "ddm-default", "constrained-q_learning-fix")
CASES = {key: run for key, run in hashes.configs()
         if key.split("|")[0] in MODELS and key.endswith(("|n3|seed1", "|n50|seedgen"))}


def test_the_cross_section_covers_every_vector_task_and_variant():
    tasks = {tuple(k.split("|")[1:3]) for k in CASES}
    assert tasks == {(t.split("/")[1], v) for t, vs in hashes.VARIANTS.items() for v in vs}
    assert len(CASES) >= 40 and set(CASES) <= set(RECORDED)


@pytest.mark.parametrize("key", sorted(CASES))
def test_simulate_keeps_the_tables_it_gave_in_single_environments(key):
    assert CASES[key]() == RECORDED[key]


@pytest.mark.parametrize("n_subjects", [1, 15, 16])
def test_simulate_plays_vector_copies_from_the_threshold_on(n_subjects, monkeypatch):
    """Below VECTOR_MIN_SUBJECTS the single envs are cheaper (RESULTS, "Environments"): same tables."""
    import cogmodels.rollout as rollout_module
    from cogmodels.models import make_model
    from cogmodels.simulate import VECTOR_MIN_SUBJECTS, simulate

    built = []
    real = rollout_module._lane_vector
    monkeypatch.setattr(rollout_module, "_lane_vector", lambda *a: built.append(real(*a)) or built[-1])
    model = make_model("q_learning")
    simulate(model, model.default_params(), "cogmodels/MultiArmedBandit-v0", n_subjects=n_subjects, seed=0,
             progress=False)
    assert (len(built) == 1 and built[0].num_envs == n_subjects) == (n_subjects >= VECTOR_MIN_SUBJECTS)
