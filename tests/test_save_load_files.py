"""Saved files on disk: the committed files of earlier formats load, and crafted or corrupt ones
raise a ``ValueError`` (:class:`~cogmodels.agents.saving.SavedFileError`) naming the file and
what is wrong, never a bare ``KeyError`` / ``MemoryError`` / ``TypeError`` from deep inside.

The files of ``tests/data`` were written once by ``tests/data/make_saved_v1.py`` with the code
that saved format ``/1`` (its docstring); they are never regenerated here.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from cogmodels.agents.decoders import SteadyStateKalmanDecoder
from cogmodels.agents.decoders.base import load_decoder
from cogmodels.agents.saving import SavedFileError

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
    assert not hasattr(dec, "stats_")  # saved before the calibration statistics were
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
    meta = json.loads((tmp_path / "st.json").read_text())
    del meta["inner"]  # a format-2 file without its filter does not look for <path>_decoder.*
    (tmp_path / "st.json").write_text(json.dumps(meta))
    (tmp_path / "st_decoder.json").write_text("{}")
    with pytest.raises(SavedFileError, match="must be saved under 'inner' \\(format 2\\), got none"):
        load_decoder(tmp_path / "st")


def _zip(member: bytes, name: str = "H_.npy") -> bytes:
    """Return an ``.npz`` archive of one crafted ``.npy`` member."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(name, member)
    return buf.getvalue()


def _npy(shape: tuple[int, ...], data: bytes = bytes(32)) -> bytes:
    """Return a float64 ``.npy`` member whose header declares ``shape`` over ``data``."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False,
                                               "shape": shape})
    return buf.getvalue() + data


def _lying_zip(member: bytes, declared: int) -> bytes:
    """Return a stored one-member ``.npz`` whose zip records claim ``declared`` bytes of it."""
    raw = bytearray(_zip(member))
    local, central = raw.find(b"PK\x03\x04"), raw.find(b"PK\x01\x02")
    for at in (local + 18, local + 22, central + 20, central + 24):  # compressed, uncompressed
        raw[at:at + 4] = declared.to_bytes(4, "little")
    return bytes(raw)


def _overlapping(member: bytes, copies: int = 40) -> bytes:
    """Return a stored ``.npz`` whose ``copies`` directory entries all point at one member's bytes."""
    raw = bytearray(_zip(member))
    central = raw.find(b"PK\x01\x02")
    end = raw.find(b"PK\x05\x06")
    entry = bytes(raw[central:end])  # one central directory entry (name "H_.npy")
    names = [f"{i:02d}.npy".encode() for i in range(copies)]  # as long as "H_.npy"
    directory = b"".join(entry.replace(b"H_.npy", n) for n in names)
    tail = bytearray(raw[end:])
    tail[8:10] = tail[10:12] = copies.to_bytes(2, "little")  # entries on disk / in all
    tail[12:16] = len(directory).to_bytes(4, "little")
    return bytes(raw[:central]) + directory + bytes(tail)


def _deflated(member: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("H_.npy", member)
    return buf.getvalue()


def _pickled() -> bytes:
    """Return an object ``.npy`` member (its data is a pickle)."""
    buf = io.BytesIO()
    np.save(buf, np.array([None, 1], dtype=object), allow_pickle=True)
    return buf.getvalue()


def _saved(tmp_path: Path) -> dict[str, tuple[dict, dict[str, np.ndarray]]]:
    """A steady-state Kalman filter (2 lanes, 3 units) and an Assist with a generator, saved."""
    from cogmodels.agents.decoders import Assist

    rng = np.random.default_rng(0)
    v = rng.normal(size=(30, 2, 2))
    dec = SteadyStateKalmanDecoder().fit(rng.poisson(2.0, (30, 2, 3)), v)
    assist = Assist()
    assist.rng = np.random.default_rng(1)
    out = {}
    for name, obj in (("kalman", dec), ("assist", assist)):
        meta = json.loads(obj.save(tmp_path / name).read_text())
        with np.load(tmp_path / f"{name}.npz") as npz:
            out[name] = meta, dict(npz)
    return out


def _with(meta: dict, path: tuple, value) -> dict:
    """Return a deep copy of ``meta`` with the entry at ``path`` set to ``value`` (or removed)."""
    meta = json.loads(json.dumps(meta))
    node = meta
    for k in path[:-1]:
        node = node[k]
    if value is _with:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return meta


#: name: (the object saved, its crafted JSON and arrays, the message; {json} and {npz} stand
#: for the files' names, {any} for any text). A JSON given as str is written as it is, arrays
#: given as bytes are the whole .npz file.
Craft = Callable[[dict, dict], tuple[dict | str, dict | bytes]]
CASES: dict[str, tuple[str, Craft, str]] = {
    "truncated JSON": ("kalman", lambda m, a: (json.dumps(m)[:70], a),
                       "the file {json} must be a saved object's JSON header, got text that is "
                       "not JSON"),
    "no format": ("kalman", lambda m, a: (_with(m, ("format",), _with), a),
                  "path must be a decoder saved with format one of ['cogmodels.decoder/1', "
                  "'cogmodels.decoder/2'], got None in {json}"),
    "no class": ("assist", lambda m, a: (_with(m, ("class",), _with), a),
                 "the saved class must be one of ['ActorCriticLanes', {any}], got None in {json}"),
    "no state": ("assist", lambda m, a: (_with(m, ("state",), _with), a),
                 "the saved object of {json} must hold 'state' (dict), got no 'state'"),
    "params not a dict": ("kalman", lambda m, a: (_with(m, ("params",), [1, 2]), a),
                          "the saved object of {json} must hold 'params' (dict), got list [1, 2]"),
    "params the class does not take": (
        "kalman", lambda m, a: (_with(m, ("params", "gain"), 2.0), a),
        "the saved object of {json} must hold values SteadyStateKalmanDecoder is rebuilt from, "
        "got TypeError: {any}unexpected keyword argument 'gain'"),
    "n_lanes absurd": ("kalman", lambda m, a: (_with(m, ("n_lanes",), 10**12), a),
                       "the saved value 'A_' of {json} must be numbers with a row per lane, "
                       "shape (1000000000000, ...), got float64 of shape (2, 2, 2)"),
    "n_lanes negative": ("kalman", lambda m, a: (_with(m, ("n_lanes",), -2), a),
                         "the saved object of {json} must hold n_lanes and n_units >= 1, got -2 "
                         "and 3"),
    "declared shape negative": (
        "kalman", lambda m, a: (_with(m, ("arrays", "H_", 0), [-1, 2, 3]), a),
        "the array 'H_' of {json} must be recorded as [shape, dtype] with sizes >= 0, got "
        "[[-1, 2, 3], '<f8']"),
    "npy header shape absurd": (
        "kalman", lambda m, a: (_with(m, ("arrays", "H_", 0), [10**6, 10**6]),
                                _zip(_npy((10**6,) * 2))),
        "the array 'H_' of {npz} must hold the data of its header's shape (1000000, 1000000) and "
        "dtype float64, got 32 bytes"),
    "npy array of text for a decoder": (
        "kalman", lambda m, a: (_with(m, ("arrays", "H_", 1), "<U3"),
                                {**a, "H_": np.full(a["H_"].shape, "abc")}),
        "the saved value 'H_' of {json} must be numbers with a row per lane, shape (2, ...), got "
        "<U3 of shape (2, 3, 2)"),
    "format 1 array of text": (
        "kalman", lambda m, a: ({**m, "arrays": sorted(a), "format": "cogmodels.decoder/1"},
                                {**a, "H_": np.full(a["H_"].shape, "abc")}),
        "the saved value 'H_' of {json} must be numbers with a row per lane, shape (2, ...), got "
        "<U3 of shape (2, 3, 2)"),
    "member claiming more bytes than the file": (
        "kalman", lambda m, a: (_with(m, ("arrays", "H_", 0), [2**27]),
                                _lying_zip(_npy((2**27,)), 2**30)),
        "the arrays of {npz} must be stored within the file (numpy.savez), got members claiming "
        "1073741824 bytes in a file of"),
    "members overlapping": (
        "kalman", lambda m, a: (m, _overlapping(_npy((400,), bytes(3200)))),
        "the arrays of {npz} must be stored within the file (numpy.savez), got members claiming"),
    "compressed member": (
        "kalman", lambda m, a: (m, _deflated(_npy((4,)))),
        "the array 'H_' of {npz} must be stored uncompressed within the file (numpy.savez), got "
        "compression 8"),
    "JSON nested too deep": ("kalman", lambda m, a: ("[" * 100_000 + "]" * 100_000, a),
                             "the file {json} must be a saved object's JSON header"),
    "JSON integer too long": ("kalman", lambda m, a: ('{"n_lanes": ' + "9" * 5000 + "}", a),
                              "the file {json} must be a saved object's JSON header"),
    "format 1 layouts not a dict": (
        "kalman", lambda m, a: ({**m, "arrays": sorted(a), "format": "cogmodels.decoder/1",
                                 "layouts": "x"}, a), None),
    "seed sequence of an absurd pool": (
        "assist", lambda m, a: (_with(m, ("state", "rng", "seed_seq", "$seedseq", "$dict",
                                          "pool_size"), 10**6), a),
        "the saved value 'rng' of {json} must hold a seed sequence of pool_size in "
        "[4, 64], got 1000000"),
    "npy array that needs pickle": (
        "kalman", lambda m, a: (_with(m, ("arrays", "H_"), [[2], "|O"]), _zip(_pickled())),
        "the array 'H_' of {npz} must not need pickle, got dtype object"),
    "npz not an archive": ("kalman", lambda m, a: (m, b"not a zip file"),
                           "the file {npz} must be an .npz archive of the saved arrays "
                           "(numpy.savez), got one that does not read: File is not a zip file"),
    "layout not of the array's axes": (
        "kalman", lambda m, a: (_with(m, ("layouts", "H_"), [0, 5, 7]), a),
        "the layout of 'H_' in {json} must be an order of the axes of a saved array, got "
        "[0, 5, 7] for 3 axes"),
    "node not a dict": ("assist", lambda m, a: (_with(m, ("state", "rng"), {"$object": [1]}), a),
                        "the saved value 'rng' of {json} must hold a dict under '$object', got "
                        "list"),
    "unknown reference": ("assist", lambda m, a: (_with(m, ("state", "rng"), {"$ref": "x."}), a),
                          "the saved value 'rng' of {json} must refer to an object saved before "
                          "it, got 'x.'"),
    "statistics of another class": (
        "kalman", lambda m, a: (_with(m, ("stats", "$object", "class"), "Assist"), a),
        "the saved value 'stats_' of {json} must be a RegressionStats, got Assist"),
    "statistics of the wrong shape": (
        "kalman", lambda m, a: ({**_with(m, ("arrays", "stats_.zz"), [[7], "<U3"])},
                                {**a, "stats_.zz": np.full(7, "abc")}),
        "the saved value 'stats_' of {json} must hold zz of floats of shape (2, 3, 3), got <U3 "
        "of shape (7,)"),
    "statistics of other inputs": (
        "kalman", lambda m, a: (_with(m, ("stats", "$object", "state", "n_inputs"), 4), a),
        "the saved value 'stats_' of {json} must hold n_inputs 2 (the decoder's), got 4"),
    "seed sequence of unknown fields": (
        "assist", lambda m, a: (_with(m, ("state", "rng", "seed_seq", "$seedseq", "$dict"),
                                      {"spin": 1}), a),
        "the saved object of {json} must hold values Assist is rebuilt from, got TypeError: "
        "{any}unexpected keyword argument 'spin'"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_a_crafted_or_corrupt_file_raises_a_value_error_naming_it(tmp_path, name):
    which, craft, message = CASES[name]
    meta, arrays = _saved(tmp_path)[which]
    text, npz = craft(meta, arrays)
    bad = tmp_path / "bad.json"
    bad.write_text(text if isinstance(text, str) else json.dumps(text))
    if isinstance(npz, bytes):
        (tmp_path / "bad.npz").write_bytes(npz)
    else:
        np.savez(tmp_path / "bad.npz", **npz)
    if message is None:  # not an error: the field is not read in this format
        assert isinstance(load_decoder(bad), SteadyStateKalmanDecoder)
        return
    pattern = re.escape(message).replace(re.escape("{any}"), ".*")
    pattern = pattern.replace(re.escape("{json}"), re.escape(repr(str(bad))))
    pattern = pattern.replace(re.escape("{npz}"), re.escape(repr(str(tmp_path / "bad.npz"))))
    with pytest.raises(SavedFileError, match=pattern) as raised:
        load_decoder(bad)
    assert isinstance(raised.value, ValueError)
