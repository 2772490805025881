"""Saved files on disk: the committed files of earlier formats load.

The files of ``tests/data`` were written once by ``tests/data/make_saved_v1.py`` with the code
that saved format ``/1`` (its docstring); they are never regenerated here.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cogmodels.agents.decoders import SteadyStateKalmanDecoder
from cogmodels.agents.decoders.base import load_decoder

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="module")
def expected() -> dict[str, np.ndarray]:
    with np.load(DATA / "saved_v1_expected.npz") as npz:
        return dict(npz)


def test_a_format_1_decoder_file_loads_and_decodes_as_the_saved_decoder(expected):
    meta = json.loads((DATA / "kalman_v1.json").read_text())
    assert meta["format"] == "cogmodels.decoder/1" and isinstance(meta["arrays"], list)
    dec = load_decoder(DATA / "kalman_v1")
    assert type(dec) is SteadyStateKalmanDecoder and (dec.n_lanes_, dec.n_units_) == (1, 4)
    np.testing.assert_array_equal(dec.velocity_, expected["kalman_velocity"])  # mid-session
    np.testing.assert_array_equal(dec.decode(expected["kalman_counts"]), expected["kalman"])


def test_a_stabiliser_with_its_filter_in_path_decoder_files_loads(expected, tmp_path):
    assert "inner" not in json.loads((DATA / "stabilizer_v1.json").read_text())
    st = load_decoder(DATA / "stabilizer_v1.json")  # its filter: stabilizer_v1_decoder.*
    assert type(st.decoder_) is SteadyStateKalmanDecoder and not st.stable_.all()  # realigned
    np.testing.assert_array_equal(st.decode(expected["stabilizer_counts"]), expected["stabilizer"])
    back = load_decoder(st.save(tmp_path / "st"))  # saved again: one pair of files
    assert sorted(p.name for p in tmp_path.iterdir()) == ["st.json", "st.npz"]
    np.testing.assert_array_equal(back.decode(expected["stabilizer_counts"]),
                                  expected["stabilizer"])
