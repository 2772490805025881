"""Damaged files never become a wrong answer: property-based tests of the readers and the CLI.

Every supported format (CSV, .csv.gz, Parquet, hBayesDM .txt, RLWM .mat, two-step CSV) is
damaged in the ways files get damaged: truncated, a byte flipped, the wrong compression, NUL
bytes, stray quotes, ragged rows, only a header, empty, the wrong text encoding. The property:
``read_trials`` (and ``cogmodels fit``) either refuses the file with a ``ValueError`` /
``TypeError`` / ``FileNotFoundError`` that names it, or returns a valid table, and for damage that
can be recognised (NUL bytes, ragged rows, a header alone ...) it always refuses. No other
exception ever escapes.
"""

from __future__ import annotations

import bz2
import gzip
import os
import subprocess
import sys
import unicodedata
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.io import savemat

from cogmodels.cli import main
from cogmodels.io import read_trials, write_trials
from cogmodels.trials import validate_trials

SETTINGS = dict(derandomize=True, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
CLEAN = (ValueError, TypeError, FileNotFoundError)


# --- the clean files, one per format ----------------------------------------------------------------

def _canonical() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 12
    return pd.DataFrame({
        "subject": ["s1"] * n + ["s22"] * n,
        "trial": list(range(n)) * 2,
        "choice": rng.integers(0, 2, 2 * n),
        "reward": rng.integers(0, 2, 2 * n).astype(float),
        "rt": np.round(rng.uniform(0.2, 0.9, 2 * n), 3),
    })


def _csv_bytes() -> bytes:
    return _canonical().to_csv(index=False).encode()


def _hbayesdm_bytes() -> bytes:
    df = _canonical()
    raw = pd.DataFrame({"subjID": df["subject"].str[1:].astype(int), "trial": df["trial"] + 1,
                        "choice": df["choice"] + 1, "outcome": 2 * df["reward"] - 1})
    return raw.to_csv(sep="\t", index=False).encode()


def _two_step_bytes() -> bytes:
    rng = np.random.default_rng(1)
    n = 10
    c1, c2 = rng.integers(1, 3, 2 * n), rng.integers(1, 3, 2 * n)
    raw = pd.DataFrame({"id": ["7_a"] * n + ["9_b"] * n, "choice1": c1, "choice2": c2,
                        "state": rng.integers(2, 4, 2 * n), "money": rng.integers(0, 2, 2 * n)})
    return raw.to_csv(index=False).encode()


def _parquet_bytes(tmp: Path) -> bytes:
    return write_trials(_canonical(), tmp / "clean.parquet").read_bytes()


def _mat_bytes(tmp: Path) -> bytes:
    rows = []
    for subject in (3, 5):
        for t in range(12):
            # subno block ns time stim image folder iter corA choice key cor rew rt cond pcor delay
            choice = 1 + (t * subject % 3)
            rows.append([subject, 1, 3, t + 1, 1 + t % 3, 1, 1, 1 + t // 3, 2, choice, 97,
                         float(choice == 2), float(choice == 2), 400 + 10 * t, np.nan, 0, 0])
    savemat(tmp / "clean.mat", {"expe_data": np.array(rows, dtype=float)})
    return (tmp / "clean.mat").read_bytes()


TEXT_FORMATS = {"table.csv": _csv_bytes, "bandit2arm_mine.txt": _hbayesdm_bytes, "two_step.csv": _two_step_bytes}
BINARY_FORMATS = ("table.parquet", "expe.mat", "table.csv.gz")


_FILES: dict[str, bytes] = {}  # format -> the clean file's bytes
_EXPECTED: dict[str, pd.DataFrame] = {}  # format -> what read_trials gives for it


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A folder for the damaged files; the clean ones are made once (kept out of the test
    arguments so that hypothesis reports a failing example briefly)."""
    tmp = tmp_path_factory.mktemp("clean")
    _FILES.update({name: make() for name, make in TEXT_FORMATS.items()})
    _FILES["table.parquet"] = _parquet_bytes(tmp)
    _FILES["expe.mat"] = _mat_bytes(tmp)
    _FILES["table.csv.gz"] = gzip.compress(_csv_bytes(), mtime=0)
    for name, data in _FILES.items():
        (tmp / name).write_bytes(data)
        _EXPECTED[name] = read_trials(tmp / name)  # the clean files read
    return tmp_path_factory.mktemp("damaged")


# --- the property -------------------------------------------------------------------------------------

def _read(path: Path):
    """The table, or the clean exception: anything else fails the test."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a warning would be a message the user may never see
            return read_trials(path)
    except CLEAN as exc:
        assert str(path) in str(exc), f"the message does not name the file: {exc}"
        return exc


def _plausible_ids(df: pd.DataFrame) -> None:
    for v in df["subject"].unique():
        if isinstance(v, str):
            assert not any(unicodedata.category(ch) == "Cc" for ch in v), repr(v)
            assert not set(v) & {",", "\t", '"'}, repr(v)
            assert len(v) <= 64, repr(v)


def _accepted_is_valid(result, name: str) -> None:
    if isinstance(result, Exception):
        return
    validate_trials(result, source=name)
    _plausible_ids(result)
    assert len(result) > 0


def _same(result, expected: pd.DataFrame) -> bool:
    cols = ["subject", "trial", "choice", "reward"]
    if isinstance(result, Exception) or list(result.columns) != list(expected.columns):
        return False
    try:
        pd.testing.assert_frame_equal(result[cols].reset_index(drop=True),
                                      expected[cols].reset_index(drop=True))
    except AssertionError:
        return False
    return True


ALL = sorted([*TEXT_FORMATS, *BINARY_FORMATS])


def _read_damaged(path: Path, damaged: bytes):
    path.write_bytes(damaged)
    result = _read(path)
    _accepted_is_valid(result, path.name)
    return result


@settings(max_examples=120, **SETTINGS)
@given(name=st.sampled_from(ALL), data=st.data())
def test_a_flipped_byte_is_refused_or_gives_a_valid_table(work, name, data):
    damaged = bytearray(_FILES[name])
    damaged[data.draw(st.integers(0, len(damaged) - 1), label="at")] ^= data.draw(st.integers(1, 255), label="mask")
    result = _read_damaged(work / name, bytes(damaged))
    if name in ("table.parquet", "table.csv.gz"):  # checksums: damage is caught or harmless
        assert isinstance(result, Exception) or _same(result, _EXPECTED[name])


@settings(max_examples=80, **SETTINGS)
@given(name=st.sampled_from(ALL), data=st.data())
def test_a_truncated_file_is_refused_or_gives_the_rows_before_the_cut(work, name, data):
    cut = data.draw(st.integers(0, len(_FILES[name]) - 1), label="cut")
    result = _read_damaged(work / name, _FILES[name][:cut])
    if name in BINARY_FORMATS:
        assert isinstance(result, Exception), "a truncated binary file was accepted"
    elif not isinstance(result, Exception):  # a prefix of the rows; the last one may be cut short
        exp = _EXPECTED[name]
        n = len(result)
        assert n <= len(exp)
        assert _same(result.iloc[: n - 1], exp.iloc[: n - 1])


def _lines(text: str) -> list[str]:
    return text.splitlines()


@settings(max_examples=120, **SETTINGS)
@given(name=st.sampled_from(sorted(TEXT_FORMATS)),
       damage=st.sampled_from(["nul", "ragged_more", "ragged_less", "header_only", "empty", "blank",
                               "latin1", "utf16_no_bom", "junk_line"]),
       data=st.data())
def test_recognisable_damage_to_a_text_file_is_always_refused(work, name, damage, data):
    raw = _FILES
    lines = _lines(raw[name].decode())
    sep = "\t" if name.endswith(".txt") else ","
    row = data.draw(st.integers(1, len(lines) - 1), label="row")
    if damage == "nul":
        pos = data.draw(st.integers(0, len(lines[row])), label="pos")
        lines[row] = lines[row][:pos] + "\x00" + lines[row][pos:]
    elif damage == "ragged_more":
        lines[row] += sep + data.draw(st.sampled_from(["", "1", "x"]), label="extra")
    elif damage == "ragged_less":
        lines[row] = lines[row].rsplit(sep, 1)[0]
    elif damage == "header_only":
        lines = lines[:1]
    elif damage == "empty":
        lines = []
    elif damage == "blank":
        lines = ["", "   ", ""]
    elif damage == "junk_line":
        lines.insert(row, data.draw(st.sampled_from(["junk", "#####", "<html>", "Total: 24"]), label="junk"))
    text = "\n".join(lines) + ("\n" if lines else "")
    if damage == "latin1":  # an accented id saved in Latin-1
        text = text.replace(lines[row].split(sep)[0], "é" + lines[row].split(sep)[0], 1)
        data_bytes = text.encode("latin-1")
    elif damage == "utf16_no_bom":
        data_bytes = text.encode("utf-16-le")
    else:
        data_bytes = text.encode()
    path = work / name
    path.write_bytes(data_bytes)
    result = _read(path)
    assert isinstance(result, Exception), f"{damage}: accepted\n{result}"


@settings(max_examples=120, **SETTINGS)
@given(name=st.sampled_from(sorted(TEXT_FORMATS)), n_quotes=st.integers(1, 2), data=st.data())
def test_stray_quotes_are_refused_or_harmless(work, name, n_quotes, data):
    raw, expected = _FILES, _EXPECTED
    text = raw[name].decode()
    header_end = text.index("\n") + 1
    for _ in range(n_quotes):
        pos = data.draw(st.integers(header_end, len(text) - 1), label="pos")
        text = text[:pos] + '"' + text[pos:]
    path = work / name
    path.write_text(text)
    result = _read(path)
    assert isinstance(result, Exception) or _same(result, expected[name]), result


@settings(max_examples=40, **SETTINGS)
@given(name=st.sampled_from(ALL), wrapper=st.sampled_from(["gzip", "bz2", "plain_as_gz", "gz_as_plain"]))
def test_the_wrong_compression_is_refused(work, name, wrapper):
    raw, expected = _FILES, _EXPECTED
    clean = raw[name]
    if wrapper == "gzip":
        target, data = (name + ".gz", gzip.compress(clean, mtime=0)) if not name.endswith(".gz") else (name, clean)
    elif wrapper == "bz2":
        target, data = name.removesuffix(".gz") + ".gz", bz2.compress(clean)
    elif wrapper == "plain_as_gz":
        target, data = name.removesuffix(".gz") + ".gz", clean
    else:
        target, data = name.removesuffix(".gz"), gzip.compress(clean, mtime=0)
    path = work / target
    path.write_bytes(data)
    result = _read(path)
    readable = (wrapper == "gzip" and (name in TEXT_FORMATS or name == "table.csv.gz")) or (
        wrapper == "plain_as_gz" and name == "table.csv.gz")
    if readable:  # a real compressed text file reads as the plain one
        assert _same(result, expected[name]), result
    else:
        assert isinstance(result, Exception), f"{wrapper} {target}: accepted"
    _accepted_is_valid(result, target)


# --- through the CLI ----------------------------------------------------------------------------------

def _cli(argv: list[str], capsys) -> tuple[int, str]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rc = main(argv)
    except SystemExit as exc:
        rc = exc.code
    return rc, capsys.readouterr().err


@settings(max_examples=25, **SETTINGS)
@given(name=st.sampled_from(ALL),
       damage=st.sampled_from(["flip", "truncate", "nul", "quote", "empty"]), data=st.data())
def test_cli_fit_on_a_damaged_file_exits_2_naming_it_or_fits(work, capsys, name, damage, data):
    raw = _FILES
    clean = bytearray(raw[name])
    at = data.draw(st.integers(0, len(clean) - 1), label="at")
    if damage == "flip":
        clean[at] ^= data.draw(st.integers(1, 255), label="mask")
    elif damage == "truncate":
        clean = clean[:at]
    elif damage == "nul":
        clean[at:at] = b"\x00"
    elif damage == "quote":
        clean[at:at] = b'"'
    else:
        clean = bytearray()
    path = work / name
    path.write_bytes(bytes(clean))
    n_actions = "3" if name.endswith(".mat") else "2"
    rc, err = _cli(["fit", str(path), "--model", "random", "--structure", f"n_actions={n_actions}",
                    "--starts", "1", "--out", str(work / "out")], capsys)
    assert rc in (0, 2), err
    if rc == 2:
        assert err.startswith("cogmodels fit: error: ") and str(path) in err, err
        assert "Traceback" not in err


@pytest.mark.parametrize("content, name", [
    (b"subject,trial,choice,reward\n1,1,0,1\n", "plain.csv.gz"),
    (b"id,choice1,choice2,state,money\n", "two_step.csv"),
])
def test_a_real_cli_run_on_a_bad_file_exits_2_without_a_traceback(tmp_path, content, name):
    path = tmp_path / name
    path.write_bytes(content)
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(
        [sys.executable, "-m", "cogmodels.cli", "fit", str(path), "--model", "q_learning",
         "--out", str(tmp_path / "out")], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"cogmodels fit: error: {path}: ") and proc.stderr.count("\n") == 1


# --- model checkpoints --------------------------------------------------------------------------------

class _Payload:
    def __reduce__(self):
        return (print, ("this must never run",))


@pytest.mark.parametrize("content", ["pickle", "garbage", "empty", "foreign_tensors", "truncated"])
def test_a_tampered_or_foreign_checkpoint_is_refused_naming_the_file(tmp_path, content, capsys):
    from cogmodels.agents.rnn import RecurrentPolicy

    folder = RecurrentPolicy(hidden_size=3).save(tmp_path / "m")
    weights = folder / "weights.pt"
    if content == "pickle":
        torch.save({"x": _Payload()}, weights)
    elif content == "garbage":
        weights.write_bytes(b"not a checkpoint at all")
    elif content == "empty":
        weights.write_bytes(b"")
    elif content == "foreign_tensors":
        torch.save({"something": torch.zeros(3)}, weights)
    else:
        weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ValueError) as err:
        RecurrentPolicy.load(folder)
    msg = str(err.value)
    assert msg.startswith(f"{weights}: not a cogmodels checkpoint"), msg
    assert "weights_only" not in msg and "this must never run" not in capsys.readouterr().out


def test_a_tampered_a2c_checkpoint_is_refused_naming_the_file(tmp_path):
    from cogmodels.agents.a2c import A2CConfig, A2CTrainer

    cfg = A2CConfig(hidden_size=4, n_trials=5, num_envs=4, seed=0)
    A2CTrainer(cfg).save_checkpoint(tmp_path)
    torch.save({"x": _Payload()}, tmp_path / A2CTrainer.CHECKPOINT)
    with pytest.raises(ValueError, match=rf"^{tmp_path / A2CTrainer.CHECKPOINT}: not a cogmodels checkpoint \(not a file of plain tensors that torch loads safely\); it was refused unread\. Load only files written by A2CTrainer\.save_checkpoint$"):
        A2CTrainer.resume(tmp_path)
    torch.save({"model": {}, "optimizer": {}}, tmp_path / A2CTrainer.CHECKPOINT)
    with pytest.raises(ValueError, match=r"checkpoint\.pt: not a cogmodels A2C checkpoint that fits config\.json"):
        A2CTrainer.resume(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"config\.json: not a cogmodels config"):
        A2CTrainer.resume(tmp_path)
