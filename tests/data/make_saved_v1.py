"""Write the format ``cogmodels.decoder/1`` fixtures of ``tests/test_save_load_files.py``.

Run once with the code of commit ``39802cf^``, the last that saved decoders as ``/1`` (one JSON
naming the arrays without their shapes, and a ``ProcrustesStabilizer``'s inner filter in
``<path>_decoder.json`` / ``.npz`` beside its files), on the import path::

    mkdir -p /tmp/v1/src && git archive 39802cf^ cogmodels envs agents fits | tar -x -C /tmp/v1
    cp -r /tmp/v1/cogmodels /tmp/v1/src/ && for p in envs agents fits; do
        cp -r /tmp/v1/$p /tmp/v1/src/cogmodels/$p; done
    PYTHONPATH=/tmp/v1/src python tests/data/make_saved_v1.py

It writes ``kalman_v1.*`` (a steady-state Kalman filter, 4 units, saved mid-session),
``stabilizer_v1.*`` and ``stabilizer_v1_decoder.*`` (a stabiliser realigned to a second day),
and ``saved_v1_expected.npz``: the counts the tests decode and what the saved decoders decoded
from them before they were saved, and the Kalman filter's velocity when it was saved.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from cogmodels.agents.decoders import ProcrustesStabilizer, SteadyStateKalmanDecoder

HERE = Path(__file__).resolve().parent


def block(rng: np.random.Generator, tuning: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Return Poisson counts ``(T, N)`` of cosine-tuned units and their velocities ``(T, 2)``."""
    velocity = 0.3 * rng.standard_normal((n_bins, 2))
    return rng.poisson(np.exp(0.5 + velocity @ tuning.T)).astype(np.float64), velocity


def main() -> None:
    rng = np.random.default_rng(2026)
    kalman = SteadyStateKalmanDecoder().fit(*block(rng, rng.standard_normal((4, 2)), 60))
    stab = ProcrustesStabilizer(n_factors=2, n_iter=20)
    tuning = rng.standard_normal((6, 2))
    stab.fit(*block(rng, tuning, 60))
    stab.realign(block(rng, tuning[::-1], 60)[0])  # another day: the channels moved
    counts4, _ = block(rng, rng.standard_normal((4, 2)), 12)
    counts6, _ = block(rng, tuning, 12)
    expected = {"kalman_counts": counts4, "kalman": kalman.decode(counts4),
                "stabilizer_counts": counts6, "stabilizer": stab.decode(counts6)}
    kalman.step(counts4[0])  # saved mid-session: its velocity is not at rest
    expected["kalman_velocity"] = kalman.velocity_.copy()
    for name, dec in (("kalman_v1", kalman), ("stabilizer_v1", stab)):
        meta = json.loads(dec.save(HERE / name).read_text())
        assert meta["format"] == "cogmodels.decoder/1", "run with the code of 39802cf^ (docstring)"
    np.savez(HERE / "saved_v1_expected.npz", **expected)


if __name__ == "__main__":
    main()
