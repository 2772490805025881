"""ChEES's worker processes die with the process that started them, even when it is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("pyro")

# a parent that starts a long two-process ChEES fit and prints its workers' ids
PARENT = """
import multiprocessing, sys, threading, time
from cogmodels.fits.bayes import HierarchicalNUTS
from cogmodels.models import make_model
from cogmodels.simulate import simulate

model = make_model("q_learning")
sim = simulate(model, {"alpha": [0.2, 0.4], "beta": [2.0, 4.0], "kappa": [0.3, -0.2]},
               "cogmodels/MultiArmedBandit-v0", n_subjects=2, seed=2, env_kwargs={"n_trials": 20},
               latents=False, progress=False)

def report():
    while len(multiprocessing.active_children()) < 2:
        time.sleep(0.05)
    time.sleep(0.5)  # the workers are sampling
    print(" ".join(str(p.pid) for p in multiprocessing.active_children()), flush=True)

threading.Thread(target=report, daemon=True).start()
HierarchicalNUTS(model, sampler="chees", n_chains=4, n_jobs=2, n_warmup=10**6, n_draws=10, seed=0).fit(sim.trials)
"""


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting to be reaped counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_exit_when_the_parent_is_killed():
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True, env=env)
    try:
        line = parent.stdout.readline()
        workers = [int(p) for p in line.split()]
        assert len(workers) == 2, f"the parent printed {line!r}"
        assert all(_running(p) for p in workers)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 20.0
        while any(_running(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_running(p) for p in workers), "a ChEES worker outlived its killed parent"
    finally:
        if parent.poll() is None:
            parent.kill()
