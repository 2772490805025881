"""Reading and writing trial tables: CSV, Parquet and the common formats of the field.

Every reader returns the canonical trial table of :mod:`cogmodels.trials`, validated, and names
the file in any error:

- :func:`read_trials` dispatches on the extension, or on the content when the extension says
  nothing: ``.csv``, ``.parquet``/``.pq``, tab-separated ``.txt``/``.tsv`` (an hBayesDM file when
  it has a ``subjID`` column), the ``.mat`` files (RLWM's ``expe_data`` or Kool et al.'s
  ``data`` cell array, told apart by their variables), the two-step ``choice1, choice2`` CSV;
- :func:`write_trials` writes CSV or Parquet, and :func:`read_trials` reads it back identically;
- :func:`read_hbayesdm` reads the hBayesDM example-data formats (:data:`HBAYESDM_TASKS`);
- :func:`read_rlwm_mat` reads the ``expe_data`` matrix of Collins' RLWM data sets;
- :func:`read_two_step_csv` reads the two-step format ``id, choice1, choice2, state, money``;
- :func:`read_kool_arbitration` reads the two-step-with-stakes ``data.mat`` of Kool et al. (2017).

Where a file has trial numbers they are kept; where a reader numbers the trials itself it counts
from 0 within each subject (and session), like :class:`cogmodels.envs.wrappers.RecordTrials`.

Damaged or mistaken files are refused, never read into a wrong table: every failure is a
``ValueError`` (``FileNotFoundError`` for a missing file) that names the file and what was wrong:
compression that does not match the name (``.gz``, ``.bz2``, ``.xz``) or is cut short, text that is
not UTF-8 (UTF-16 with its byte-order mark is read), NUL bytes, an empty file or a header alone,
lines with more or fewer fields than the header, a quoted field that swallows line breaks (a stray
quote), subject ids that look like parsing accidents (line breaks, delimiters, quotes or control
characters inside, or far longer than the other ids), a Parquet file pyarrow cannot read or whose
page checksums fail (:func:`write_trials` writes them).
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import lzma
import os
import unicodedata
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cogmodels.atomic import atomic_path
from cogmodels.trials import validate_trials

__all__ = [
    "FORMATS",
    "HBAYESDM_TASKS",
    "KOOL_COLUMNS",
    "KOOL_NOVEL_COLUMNS",
    "RLWM_COLUMNS",
    "read_hbayesdm",
    "read_rlwm_mat",
    "read_trials",
    "read_kool_arbitration",
    "read_two_step_csv",
    "write_trials",
]

PathLike = str | os.PathLike

#: Formats :func:`read_trials` understands (``format=``).
FORMATS: tuple[str, ...] = ("csv", "tsv", "parquet", "hbayesdm", "rlwm_mat", "kool_mat", "two_step_csv")

_EXTENSIONS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".tsv": "tsv",
               ".txt": "tsv", ".mat": "rlwm_mat"}

#: Columns of the RLWM ``expe_data`` matrix (AnneCollins/WMH, ``RLWM/DataSets/readme.txt``).
RLWM_COLUMNS: tuple[str, ...] = (
    "subno", "block", "ns", "time", "stimseq", "imageseq", "folderseq", "iterseq", "corAseq",
    "choice", "key", "cor", "rew", "rt", "condition", "pcor", "delay",
)


# ---------------------------------------------------------------------------------------------
# CSV / Parquet and dispatch


def read_trials(
    path: PathLike, *, format: str | None = None, n_actions: int | None = None, **kwargs: Any
) -> pd.DataFrame:
    """Read a trial table from ``path`` and validate it.

    ``format`` is one of :data:`FORMATS`; by default it follows the extension (``.csv``,
    ``.parquet``/``.pq``, ``.txt``/``.tsv``, ``.mat``; text may be compressed: ``.csv.gz``,
    ``.tsv.bz2`` ...) and, for text files, the header: a tab-separated file with a ``subjID``
    column is hBayesDM, a comma-separated one with ``choice1``/``choice2`` and no ``choice`` the
    two-step CSV, and a ``.txt``/``.tsv`` whose header has commas and no tab is read as CSV; a
    ``.mat`` with a ``data`` variable and no ``expe_data`` is Kool et al.'s two-step with stakes
    (:func:`read_kool_arbitration`: practice trials kept and flagged in ``practice``), any other
    ``.mat`` the RLWM format (:func:`read_rlwm_mat`). A
    file without a known extension is recognised by its first bytes. ``n_actions`` bounds the
    choices (see :func:`cogmodels.trials.validate_trials`); ``encoding=`` decodes text that is
    not UTF-8; other keyword arguments go to the reader (``pandas.read_csv``/``read_parquet``,
    or ``task=`` for hBayesDM); the RLWM ``.mat`` and two-step CSV readers take none.

    Raises
    ------
    FileNotFoundError
        ``path`` is not a file.
    TypeError
        A keyword argument the format's reader does not take (``encoding=`` for a binary file,
        anything but ``task=`` for hBayesDM, anything for the RLWM ``.mat`` or two-step CSV).
    ValueError
        The file cannot be read or is not a valid trial table; the message names the file and
        what was wrong (see the module docstring).
    """
    p = _existing(path)
    if format is not None and format not in FORMATS:
        raise ValueError(f"{p}: format must be one of {list(FORMATS)}, got {format!r}")
    encoding = kwargs.pop("encoding", None)
    fmt = format or _format_from_name(p) or _binary_format(p)
    text = None
    if fmt is None or fmt in ("csv", "tsv"):
        text = _read_text(p, encoding)
        fmt = fmt or _text_format(p, text)
        if format is None:
            fmt = _format_from_header(p, text, fmt)
    if fmt == "rlwm_mat" and format is None:
        fmt = _mat_format(p)
    _check_reader_options(p, fmt, kwargs, encoding)
    if fmt in _TEXT_FORMATS and text is None:
        text = _read_text(p, encoding)
    if fmt == "hbayesdm":
        return _hbayesdm(p, text, n_actions=n_actions, **kwargs)
    if fmt in ("rlwm_mat", "kool_mat", "two_step_csv"):
        readers = {"rlwm_mat": read_rlwm_mat, "kool_mat": read_kool_arbitration,
                   "two_step_csv": lambda p: _two_step(p, text)}
        df = readers[fmt](p)
        return df if n_actions is None else validate_trials(df, n_actions=n_actions, source=str(p))
    if fmt == "parquet":
        df = _read_parquet(p, **kwargs)
    else:
        sep = kwargs.pop("sep", "\t" if fmt == "tsv" else ",")
        df = _parse_table(p, text, sep, **kwargs)
        _check_subject_ids(df, "subject", p)
        _check_not_hbayesdm(df, p, sep)
    return validate_trials(df, n_actions=n_actions, source=str(p))


def write_trials(df: pd.DataFrame, path: PathLike, *, format: str | None = None) -> Path:
    """Validate ``df`` and write it to ``path`` as CSV (``.csv``) or Parquet (``.parquet``/``.pq``).

    The write is atomic (a temporary file renamed into place). ``read_trials`` gives the table
    back: Parquet keeps every dtype; CSV keeps the canonical columns, missing choices included.
    Returns the path written.
    """
    p = Path(path)
    fmt = format or {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}.get(p.suffix.lower())
    if fmt not in ("csv", "parquet"):
        raise ValueError(
            f"{p}: write_trials writes .csv or .parquet files (format='csv' or 'parquet'), got "
            f"{'format ' + repr(format) if format else 'the extension ' + repr(p.suffix)}"
        )
    table = validate_trials(df, source=str(p))
    with atomic_path(p) as tmp:
        if fmt == "csv":
            table.to_csv(tmp, index=False)
        else:
            _parquet_engine()
            table.to_parquet(tmp, index=False, write_page_checksum=True)
    return p


#: Formats read from text (``encoding=`` applies to them).
_TEXT_FORMATS = ("csv", "tsv", "hbayesdm", "two_step_csv")

#: Keyword arguments each format's reader takes (besides ``n_actions=`` and, for text,
#: ``encoding=``); ``None``: any, passed on to pandas.
_READER_OPTIONS: dict[str, tuple[str, ...] | None] = {
    "csv": None, "tsv": None, "parquet": None, "hbayesdm": ("task",), "rlwm_mat": (), "kool_mat": (),
    "two_step_csv": (),
}


def _check_reader_options(p: Path, fmt: str, kwargs: dict[str, Any], encoding: str | None) -> None:
    """Refuse keyword arguments that the reader of ``fmt`` does not take (a ``TypeError``).

    Raises
    ------
    TypeError
        An option the format's reader does not take, or ``encoding=`` for a binary format;
        the message names the option, the format and what the reader takes.
    """
    allowed = _READER_OPTIONS[fmt]
    if encoding is not None and fmt not in _TEXT_FORMATS:
        raise TypeError(
            f"{p}: encoding= applies to text formats ({', '.join(_TEXT_FORMATS)}); a {fmt!r} file "
            f"is binary, got encoding={encoding!r}"
        )
    unknown = [k for k in kwargs if allowed is not None and k not in allowed]
    if unknown:
        takes = ", ".join(f"{k}=" for k in allowed) if allowed else "no other options"
        raise TypeError(
            f"{p}: read_trials got {', '.join(f'{k}=' for k in unknown)} for a {fmt!r} file, "
            f"whose reader takes n_actions=, "
            + ("encoding=, " if fmt in _TEXT_FORMATS else "")
            + f"and {takes}"
        )


def _existing(path: PathLike) -> Path:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such file" + (" (it is a directory)" if p.is_dir() else ""))
    return p


#: Compressed text: suffix -> (name, magic bytes, decompress).
_COMPRESSIONS: dict[str, tuple[str, bytes, Callable[[bytes], bytes]]] = {
    ".gz": ("gzip", b"\x1f\x8b", gzip.decompress),
    ".bz2": ("bzip2", b"BZh", bz2.decompress),
    ".xz": ("xz", b"\xfd7zXZ\x00", lzma.decompress),
}
_SHOW = 5  # offending rows or lines named in a message


def _format_from_name(p: Path) -> str | None:
    suffixes = [s.lower() for s in p.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSIONS:
        inner = suffixes[-2] if len(suffixes) > 1 else ""
        fmt = _EXTENSIONS.get(inner)
        if fmt not in ("csv", "tsv"):
            raise ValueError(
                f"{p}: a compressed ({suffixes[-1]}) trial table must be text named .csv"
                f"{suffixes[-1]}, .tsv{suffixes[-1]} or .txt{suffixes[-1]}, got {inner or 'no'} "
                f"extension before {suffixes[-1]}; decompress it or rename it"
            )
        return fmt
    return _EXTENSIONS.get(suffixes[-1]) if suffixes else None


def _compression(p: Path) -> str | None:
    suffix = p.suffix.lower()
    return suffix if suffix in _COMPRESSIONS else None


def _read_bytes(p: Path) -> bytes:
    """Return the file's bytes, decompressed when its name ends in .gz / .bz2 / .xz."""
    raw = p.read_bytes()
    suffix = _compression(p)
    if suffix is None:
        for other, (name, magic, _) in _COMPRESSIONS.items():
            if raw.startswith(magic) and (other != ".bz2" or raw[4:10] == b"1AY&SY"):
                raise ValueError(
                    f"{p}: the file is {name}-compressed but its name does not end in {other}: "
                    f"rename it {p.name}{other} (or decompress it)"
                )
        return raw
    name, magic, decompress = _COMPRESSIONS[suffix]
    if not raw.startswith(magic):
        raise ValueError(
            f"{p}: the name ends in {suffix} but the file is not {name}-compressed (it starts "
            f"with {raw[:8]!r}); if it is plain text, rename it without {suffix}"
        )
    try:
        return decompress(raw)
    except (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError) as exc:
        raise ValueError(
            f"{p}: the {name} data is damaged or truncated ({exc}); copy or export the file again"
        ) from None


def _read_text(p: Path, encoding: str | None = None) -> str:
    """Return the file as text: decompressed and decoded (UTF-8, or UTF-16 with its BOM).

    The file is refused, and named, when it is empty, not text or holds NUL bytes.
    """
    raw = _read_bytes(p)
    if encoding is None:
        if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
            encoding = "utf-16"
        else:
            encoding = "utf-8-sig"
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ValueError(
            f"{p}: not {encoding.replace('-sig', '').upper()} text: byte "
            f"{raw[exc.start:exc.start + 1].hex(' ')} at line {line}, column {col} cannot be decoded; "
            f"save the file as UTF-8 (spreadsheet programs call it 'CSV UTF-8'), or pass encoding= "
            f"(e.g. 'latin-1') to read_trials"
        ) from None
    except LookupError:
        raise ValueError(f"{p}: unknown encoding {encoding!r}; use e.g. 'utf-8' or 'latin-1'") from None
    nul = text.find("\x00")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        raise ValueError(
            f"{p}: line {line} holds a NUL byte: this is not a plain text table (a binary or damaged "
            f"file, or UTF-16 text without its byte-order mark); export it again as a UTF-8 CSV"
        )
    if not text.strip():
        raise ValueError(
            f"{p}: the file is empty: a trial table needs a header line (subject, trial, choice, "
            f"reward ...) and one line per trial"
        )
    return text


def _mat_format(p: Path) -> str:
    """``"kool_mat"`` for a ``.mat`` with a ``data`` variable and no ``expe_data``, else ``"rlwm_mat"``.

    The variables are listed without loading them; a file scipy cannot list goes to the RLWM
    reader, whose error names the file.
    """
    from scipy.io import whosmat

    try:
        names = {v[0] for v in whosmat(p)}
    except Exception:  # noqa: BLE001 - scipy raises several types for a file that is not a .mat
        return "rlwm_mat"
    return "kool_mat" if "data" in names and "expe_data" not in names else "rlwm_mat"


def _binary_format(p: Path) -> str | None:
    """Parquet or MATLAB by the first bytes (for a file whose extension says nothing)."""
    with p.open("rb") as fh:
        head = fh.read(8)
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"MATLAB"):
        return "rlwm_mat"
    return None


def _text_format(p: Path, text: str) -> str:
    first = text.split("\n", 1)[0]
    if "\t" in first:
        return "tsv"
    if "," in first:
        return "csv"
    raise ValueError(
        f"{p}: cannot tell the format from the extension {p.suffix!r} or the content; "
        f"pass format= one of {list(FORMATS)}"
    )


def _header(text: str, sep: str) -> list[str]:
    first = text.lstrip("\r\n").split("\n", 1)[0].rstrip("\r")
    return [c.strip() for c in next(csv.reader([first], delimiter=sep), [])]


def _format_from_header(p: Path, text: str, fmt: str) -> str:
    """Return the format the header shows, else ``fmt``.

    ``tsv`` with a ``subjID`` column is hBayesDM; ``csv`` with ``choice1, choice2`` and no
    ``choice`` the two-step CSV; a ``.txt``/``.tsv`` whose header has commas and no tab is CSV.
    """
    first = text.lstrip("\r\n").split("\n", 1)[0]
    if fmt == "tsv" and "\t" not in first and "," in first:
        fmt = "csv"
    header = [c.lower() for c in _header(text, "\t" if fmt == "tsv" else ",")]
    if fmt == "tsv" and "subjid" in header:
        return "hbayesdm"
    if fmt == "csv" and {"choice1", "choice2"} <= set(header) and "choice" not in header:
        return "two_step_csv"
    return fmt


#: read_csv arguments that change how lines split into fields: with them the reader's own
#: ragged-row check is skipped (pandas' rules then apply).
_TOKENIZING = {"sep", "delimiter", "quotechar", "quoting", "escapechar", "comment", "skiprows",
               "header", "names", "lineterminator", "doublequote", "skipfooter", "nrows",
               "dialect", "delim_whitespace", "skipinitialspace", "engine", "on_bad_lines"}


def _parse_table(p: Path, text: str, sep: str, **kwargs: Any) -> pd.DataFrame:
    """Parse delimited ``text`` (from file ``p``) with pandas, after checking its structure.

    Every line must have the header's number of fields, and no quoted field may span lines.
    """
    kind = {",": "comma", "\t": "tab"}.get(sep, repr(sep))
    if not _TOKENIZING & set(kwargs):
        _check_structure(p, text, sep, kind)
    try:
        df = pd.read_csv(io.StringIO(text), sep=sep, **kwargs)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error, ValueError) as exc:
        hint = " (a stray quote?)" if "inside string" in str(exc) else ""
        raise ValueError(
            f"{p}: cannot read it as a {kind}-separated table: {exc}{hint}; fix the file"
        ) from None
    if df.empty:
        raise ValueError(
            f"{p}: the file has a header ({', '.join(map(str, df.columns))}) but no rows: a trial "
            f"table needs one line per trial"
        )
    return df


def _check_structure(p: Path, text: str, sep: str, kind: str) -> None:
    if '"' not in text and len(sep) == 1:  # no quoting: count the separators on each line
        n_fields, ragged = _ragged_lines(text, sep)
        spanning: list[str] = []
    else:
        n_fields, ragged, spanning = _csv_records(p, text, sep, kind)
    if spanning:
        raise ValueError(
            f"{p}: a quoted field runs across line breaks in {_listed(spanning)}: a stray "
            f"quote (\") swallows the lines after it; remove or pair the quote. (A table whose text "
            f"cells really hold line breaks: read it with pandas.read_csv and pass it to "
            f"cogmodels.trials.validate_trials.)"
        )
    if ragged:
        raise ValueError(
            f"{p}: the header has {n_fields} {kind}-separated fields, but {_listed(ragged)}; "
            f"every line must have one field per column (empty for a missing value): fix those lines"
        )


def _ragged_lines(text: str, sep: str) -> tuple[int | None, list[str]]:
    """Return the fields of the first line of unquoted text and the lines that differ.

    Vectorised over the bytes: a separator is ASCII, so it never occurs inside a UTF-8 multi-byte
    character.
    """
    data = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    breaks = np.flatnonzero(data == 10)
    starts, ends = np.append(0, breaks + 1), np.append(breaks, data.size)

    seps = np.flatnonzero(data == ord(sep))
    counts = np.searchsorted(seps, ends) - np.searchsorted(seps, starts)
    blank = np.zeros(counts.size, dtype=bool)
    for i in np.flatnonzero(counts == 0):  # blank lines are skipped, as pandas does
        blank[i] = not data[starts[i]:ends[i]].tobytes().strip()
    filled = np.flatnonzero(~blank)
    if filled.size == 0:
        return None, []
    n_fields = int(counts[filled[0]]) + 1
    bad = filled[counts[filled] + 1 != n_fields]
    return n_fields, [f"line {i + 1} has {counts[i] + 1}" for i in bad]


def _csv_records(p: Path, text: str, sep: str, kind: str) -> tuple[int | None, list[str], list[str]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep, strict=False)
    ragged: list[str] = []
    spanning: list[str] = []
    n_fields = None
    line = 1
    try:
        for record in reader:
            start, line = line, reader.line_num + 1
            if not record or (len(record) == 1 and not record[0].strip()):
                continue  # blank lines are skipped, as pandas does
            if n_fields is None:
                n_fields = len(record)
            elif len(record) != n_fields:
                ragged.append(f"line {start} has {len(record)}")
            if line - start > 1:
                spanning.append(f"lines {start}-{line - 1}")
    except csv.Error as exc:
        raise ValueError(
            f"{p}: cannot read it as a {kind}-separated table: {exc} near line {line} (a stray "
            f"quote?); fix the file"
        ) from None
    return n_fields, ragged, spanning


def _listed(items: list[str]) -> str:
    more = f" and {len(items) - _SHOW} more" if len(items) > _SHOW else ""
    return ", ".join(items[:_SHOW]) + more


def _check_subject_ids(df: pd.DataFrame, column: str, p: Path) -> None:
    """Refuse subject ids that look like parsing accidents.

    Those are ids with line breaks, delimiters, quotes or control characters inside them, or a
    length far beyond the other ids.
    """
    if column not in df.columns:
        return
    col = df[column]
    if col.dtype != object and not pd.api.types.is_string_dtype(col):
        return
    ids = [v for v in pd.unique(col) if isinstance(v, str)]
    if not ids:
        return
    lengths = np.array([len(v) for v in ids])
    median = float(np.median(lengths))

    def problem(v: str) -> str | None:
        if "\n" in v or "\r" in v:
            return "holds a line break"
        if "," in v or "\t" in v:
            return "holds a delimiter"
        if '"' in v:
            return "holds a quote"
        if any(unicodedata.category(ch) == "Cc" for ch in v):
            return "holds a control character"
        # the typical length of the other ids (with two ids, the other one's)
        typical = float(lengths[lengths != len(v)][0]) if len(ids) == 2 and len(set(lengths)) == 2 else median
        if len(v) > 256 or (len(ids) > 1 and len(v) > max(64.0, 4 * typical)):
            return f"is {len(v)} characters long (the typical id: {typical:.0f})"
        return None

    problems = {v: why for v in ids if (why := problem(v)) is not None}
    if problems:
        bad = np.flatnonzero(col.isin(list(problems)).to_numpy())
        shown = [f"row {r} ({_short(col.iloc[r])} {problems[col.iloc[r]]})" for r in bad[:_SHOW]]
        more = f" and {bad.size - _SHOW} more" if bad.size > _SHOW else ""
        raise ValueError(
            f"{p}: column {column!r}: {bad.size} subject id(s) look like parsing accidents, not "
            f"ids: {'; '.join(shown)}{more}. Look in the file near those rows for a stray quote, a "
            f"NUL or junk line, fix it, and read the file again"
        )


def _short(v: str) -> str:
    return repr(v) if len(v) <= 40 else repr(v[:37]) + "..."


def _check_not_hbayesdm(df: pd.DataFrame, p: Path, sep: str) -> None:
    """Refuse a comma CSV with ``subjID`` but no ``subject`` (not hBayesDM); say what to do."""
    lower = {str(c).strip().lower(): c for c in df.columns}
    if "subject" in lower or "subjid" not in lower:
        return
    raise ValueError(
        f"{p}: there is a {lower['subjid']!r} column but no 'subject': hBayesDM files are "
        f"tab-separated .txt, and this {'comma' if sep == ',' else 'tab'}-separated file is read as a "
        f"canonical trial table (columns subject, trial, choice, reward; choices counted from 0). "
        f"Either save it tab-separated as <task>_exampleData.txt to read it as hBayesDM (choices "
        f"from 1), or rename {lower['subjid']!r} to 'subject' and code the choices from 0"
    )


def _parquet_engine() -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise ImportError(
            "reading and writing Parquet needs pyarrow: pip install 'cogmodels[parquet]'"
        ) from None


def _read_parquet(p: Path, **kwargs: Any) -> pd.DataFrame:
    _parquet_engine()
    kwargs.setdefault("page_checksum_verification", True)  # write_trials writes page checksums
    try:
        df = pd.read_parquet(p, **kwargs)
    except Exception as exc:  # pyarrow raises OSError, ArrowInvalid, ... for a damaged file
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise ValueError(
            f"{p}: not a Parquet file pyarrow can read, or a damaged one ({_clip(reason)}); "
            f"write or copy it again"
        ) from None
    if df.empty:
        raise ValueError(f"{p}: the Parquet file has no rows: a trial table needs one row per trial")
    return df


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _clip(text: str, n: int = 200) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


def _to_seconds(rt: np.ndarray) -> np.ndarray:
    """Reaction times in seconds: negative codes become NaN; milliseconds (median > 20) are /1000."""
    rt = np.asarray(rt, dtype=np.float64).copy()
    rt[rt < 0] = np.nan
    if np.isfinite(rt).any() and np.nanmedian(rt) > 20:
        rt /= 1000.0
    return rt


def _numbered(keys: pd.Series) -> np.ndarray:
    """0, 1, 2, ... within each group of ``keys``, in row order."""
    return keys.groupby(keys, sort=False, dropna=False).cumcount().to_numpy()


# ---------------------------------------------------------------------------------------------
# hBayesDM


@dataclass(frozen=True)
class _HBayesDMFormat:
    columns: tuple[str, ...]  # required, lower case (hBayesDM matches column names ignoring case)
    n_actions: int | None
    convert: Callable[[pd.DataFrame], pd.DataFrame]
    infer_exact: bool  # infer the task from the columns only on an exact column-set match


def _choice_outcome(raw: pd.DataFrame) -> pd.DataFrame:
    out = _subject_block_trial(raw)
    out["choice"] = raw["choice"] - 1
    out["reward"] = raw["outcome"].astype(np.float64)
    if "choice.rt" in raw.columns:
        out["rt"] = _to_seconds(raw["choice.rt"].to_numpy())
    return out


def _gain_loss(raw: pd.DataFrame) -> pd.DataFrame:
    out = _subject_block_trial(raw)
    out["choice"] = raw["choice"] - 1
    out["reward"] = (raw["gain"] - raw["loss"].abs()).astype(np.float64)
    out["gain"], out["loss"] = raw["gain"], raw["loss"]
    return out


def _hbayesdm_two_step(raw: pd.DataFrame) -> pd.DataFrame:
    out = _subject_block_trial(raw)
    level2 = raw["level2_choice"].to_numpy(dtype=np.float64)
    out["choice"] = raw["level1_choice"] - 1
    out["state2"] = pd.array(np.where(np.isnan(level2), np.nan, level2 > 2), dtype="Int64")
    out["choice2"] = (level2 - 1) % 2
    out["reward"] = raw["reward"].astype(np.float64)
    return out


def _subject_block_trial(raw: pd.DataFrame) -> pd.DataFrame:
    """Return ``subject``, ``block`` (if any) and ``trial`` of an hBayesDM table.

    ``trial`` is the file's trial numbers, or counted from 0 within subject when the file restarts
    them per block (kept as ``trial_in_block``) or has none.
    """
    out = pd.DataFrame({"subject": raw["subjid"]})
    if "block" in raw.columns:
        out["block"] = raw["block"]
        out["trial"] = _numbered(raw["subjid"])
        if "trial" in raw.columns:
            out["trial_in_block"] = raw["trial"]
    elif "trial" in raw.columns:
        out["trial"] = raw["trial"]
    elif "trialnum" in raw.columns:  # gng files number their trials in ``trialNum``
        out["trial"] = raw["trialnum"]
    else:
        out["trial"] = _numbered(raw["subjid"])
    return out


def _go_nogo(raw: pd.DataFrame) -> pd.DataFrame:
    out = _subject_block_trial(raw)
    out["state"] = raw["cue"] - 1
    out["choice"] = raw["keypressed"]
    out["reward"] = raw["outcome"].astype(np.float64)
    return out


def _probabilistic_selection(raw: pd.DataFrame) -> pd.DataFrame:
    out = _subject_block_trial(raw)
    pair = raw["type"].to_numpy(dtype=np.float64)
    out["option1"] = pd.array(np.where(np.isnan(pair), np.nan, pair // 10 - 1), dtype="Int64")
    out["option2"] = pd.array(np.where(np.isnan(pair), np.nan, pair % 10 - 1), dtype="Int64")
    out["choice"] = 1 - raw["choice"]  # the file's 1 = option1 (the left digit) chosen
    out["reward"] = raw["reward"].astype(np.float64)
    return out


#: The delay-discounting columns, kept under these names (lower case, as hBayesDM matches them).
_DD_COLUMNS = ("delay_later", "amount_later", "delay_sooner", "amount_sooner")


def _delay_discounting(raw: pd.DataFrame) -> pd.DataFrame:
    out = _subject_block_trial(raw)
    out["choice"] = raw["choice"]
    out["reward"] = np.where(raw["choice"] == 1, raw["amount_later"], raw["amount_sooner"])
    out["reward"] = out["reward"].where(raw["choice"].notna())
    for c in _DD_COLUMNS:
        out[c] = raw[c].astype(np.float64)
    return out


def _check_codes(p: Path, raw: pd.DataFrame, task: str) -> None:
    """Refuse values outside the codes an hBayesDM format allows (NA is always allowed)."""
    for col, allowed, meaning in _CODES.get(task, ()):
        _refuse_other_codes(raw[col], allowed, f"{p}: column {col!r} of an hBayesDM {task!r} file",
                            f"({meaning})")


def _refuse_other_codes(v: pd.Series, allowed: tuple, where: str, meaning: str) -> None:
    """Raise naming the rows of ``v`` (NA aside) that hold none of the ``allowed`` codes."""
    bad = (v.notna() & ~v.isin(allowed)).to_numpy()
    if bad.any():
        rows = np.flatnonzero(bad)
        shown = ", ".join(f"row {r} ({_plain(v.iloc[r])!r})" for r in rows[:_SHOW])
        more = f" and {len(rows) - _SHOW} more" if len(rows) > _SHOW else ""
        raise ValueError(f"{where} must hold one of {list(allowed)} {meaning}, got {len(rows)} other "
                         f"value(s): {shown}{more}; fix the file")


#: Coded columns: task -> (column, allowed values, meaning).
_CODES: dict[str, tuple[tuple[str, tuple[int, ...], str], ...]] = {
    "gng": (("cue", (1, 2, 3, 4), "the four cues"), ("keypressed", (0, 1), "1 = go, 0 = no-go")),
    "pst": (("type", tuple(10 * a + b for a in range(1, 10) for b in range(1, 10) if a != b),
             "two different stimulus digits 1-9, e.g. 12, 34, 56"),
            ("choice", (0, 1), "1 = the left digit's stimulus chosen, 0 = the right one's")),
    "dd": (("choice", (0, 1), "1 = the later option chosen, 0 = the sooner one"),),
}


_CHOICE_OUTCOME = ("subjid", "trial", "choice", "outcome")
_GAIN_LOSS = ("subjid", "choice", "gain", "loss")

#: hBayesDM data formats: task -> required columns, number of actions, conversion. ``prl`` and
#: ``bandit2arm`` share one format; so do ``bandit4arm`` and ``banditNarm``. Model names of
#: hBayesDM (``prl_ewa``, ``ts_par6``, ``prl_rp_multipleB`` ...) resolve to their data format.
HBAYESDM_TASKS: dict[str, _HBayesDMFormat] = {
    "bandit2arm": _HBayesDMFormat(_CHOICE_OUTCOME, 2, _choice_outcome, True),
    "prl": _HBayesDMFormat(_CHOICE_OUTCOME, 2, _choice_outcome, True),
    "prl_multipleB": _HBayesDMFormat(("block", *_CHOICE_OUTCOME), 2, _choice_outcome, False),
    "bandit4arm": _HBayesDMFormat(_GAIN_LOSS, 4, _gain_loss, True),
    "banditNarm": _HBayesDMFormat(_GAIN_LOSS, None, _gain_loss, True),
    "bandit4arm2": _HBayesDMFormat(("subjid", "choice", "outcome"), 4, _choice_outcome, True),
    "ts": _HBayesDMFormat(
        ("subjid", "trial", "level1_choice", "level2_choice", "reward"), 2, _hbayesdm_two_step, False
    ),
    "gng": _HBayesDMFormat(("subjid", "cue", "keypressed", "outcome"), 2, _go_nogo, False),
    "igt": _HBayesDMFormat(_GAIN_LOSS, 4, _gain_loss, True),
    "pst": _HBayesDMFormat(("subjid", "type", "choice", "reward"), 2, _probabilistic_selection, False),
    "dd": _HBayesDMFormat(("subjid", "choice", *_DD_COLUMNS), 2, _delay_discounting, False),
}

#: Other hBayesDM tasks (recognised in file names so they are not mistaken for a supported one).
_HBAYESDM_OTHER = ("alt", "bart", "cgt", "choiceRT", "cra", "dbdm", "hgf_ibrb", "peer", "pstRT", "ra",
                   "rdt", "task2AFC", "ug", "wcs")


def read_hbayesdm(
    path: PathLike, task: str | None = None, *, n_actions: int | None = None
) -> pd.DataFrame:
    """Read an hBayesDM tab-separated data file as the canonical trial table.

    ``task`` is an hBayesDM task or model name; by default it comes from the file name
    (``<task>_exampleData.txt``, or a name starting with ``<task>_``) or else from the columns.
    Column names match ignoring case, as in hBayesDM. Conversions (choices become 0-based):

    - ``bandit2arm``, ``prl``: ``subjID, trial, choice (1-2), outcome`` -> ``reward`` = outcome
      as given (±1 in the examples);
    - ``prl_multipleB``: as ``prl`` plus ``block``; the file restarts ``trial`` in each block, so
      ``trial`` counts from 0 within subject and the file's number is kept as ``trial_in_block``;
      ``choice.RT`` (ms) becomes ``rt`` in seconds;
    - ``bandit4arm``, ``banditNarm``, ``igt`` (Iowa gambling task, four decks): ``subjID,
      choice, gain, loss`` -> ``reward = gain - |loss|`` (hBayesDM takes the loss's magnitude,
      whatever its sign), ``gain`` and ``loss`` kept; trials counted from 0 where the file has
      no ``trial`` column;
    - ``bandit4arm2``: ``subjID, choice (1-4), outcome``, trials counted from 0;
    - ``ts`` (two-step, Daw et al. 2011): ``level1_choice`` (1-2) -> ``choice``; ``level2_choice``
      (1-4) -> ``state2`` = 0 for options 1-2 and 1 for 3-4, ``choice2 = (level2_choice - 1) mod 2``;
      ``reward`` as given; the drifting reward probabilities (``A1prob`` ...) are kept;
    - ``gng`` (orthogonalised go/no-go, Guitart-Masip et al. 2012): ``subjID, cue (1-4),
      keyPressed (0/1), outcome`` -> ``state = cue - 1``, ``choice = keyPressed`` (1 = go,
      0 = no-go), ``reward`` = outcome (1, 0, -1); ``trialNum``, where present, gives ``trial``;
    - ``pst`` (probabilistic selection, Frank et al. 2004): ``subjID, type, choice, reward``,
      ``type`` a two-digit pair such as 12 whose digits are the stimuli shown as option 1 (left
      digit) and option 2 -> ``option1``, ``option2`` (0-based stimulus ids, ``Int64``) and
      ``choice`` = 0 when option 1 was chosen (the file's ``choice = 1``), 1 when option 2 was;
      ``reward`` as given; trials counted from 0;
    - ``dd`` (delay discounting): ``subjID, delay_later, amount_later, delay_sooner,
      amount_sooner, choice`` -> ``choice`` as given (1 = later, 0 = sooner), the four option
      columns kept under those names, and ``reward`` = the amount of the chosen option (the task
      gives no feedback; no discounting model reads it).

    Coded columns are checked: ``cue`` in 1-4 and ``keyPressed`` in 0/1 (gng), ``type`` two
    different digits and ``choice`` 0/1 (pst), ``choice`` 0/1 (dd).

    Other columns of the file are kept as they are. hBayesDM's own files are GPL-3.0 and do not
    ship with cogmodels; this reader is for files in its format.
    """
    p = _existing(path)
    return _hbayesdm(p, _read_text(p), task=task, n_actions=n_actions)


def _hbayesdm(p: Path, text: str, task: str | None = None, *, n_actions: int | None = None) -> pd.DataFrame:
    raw = _parse_table(p, text, "\t")
    raw.columns = [str(c).strip() for c in raw.columns]
    name = _resolve_task(task, p, raw.columns)
    fmt = HBAYESDM_TASKS[name]
    lower = {c.lower(): c for c in raw.columns}
    missing = [c for c in fmt.columns if c not in lower]
    if missing and len(raw.columns) == 1 and "," in raw.columns[0]:
        raise ValueError(
            f"{p}: the header {raw.columns[0]!r} is comma-separated, but hBayesDM files are "
            f"tab-separated: save it with tabs between the columns"
        )
    if missing:
        raise ValueError(
            f"{p}: an hBayesDM {name!r} file needs the columns {list(fmt.columns)} (any case); "
            f"missing {missing}; columns present: {list(raw.columns)}"
        )
    consumed = {*fmt.columns, "choice.rt"} | ({"trialnum"} if "trial" not in lower else set())
    canon = raw.rename(columns={lower[c]: c for c in consumed if c in lower})
    _check_numeric(canon, [c for c in consumed if c in canon.columns and c != "subjid"], p)
    _check_subject_ids(canon, "subjid", p)
    _check_codes(p, canon, name)
    out = fmt.convert(canon)
    for c in raw.columns:  # keep whatever else the file carries
        if c.lower() not in consumed and c not in out.columns:
            out[c] = raw[c].to_numpy()
    return validate_trials(out, n_actions=n_actions or fmt.n_actions, source=str(p))


def _check_numeric(
    raw: pd.DataFrame, columns: list[str], p: Path,
    what: str = "hBayesDM files hold numbers (NA where missing)",
) -> None:
    for col in columns:
        bad = (pd.to_numeric(raw[col], errors="coerce").isna() & raw[col].notna()).to_numpy()
        if bad.any():
            rows = np.flatnonzero(bad)
            shown = ", ".join(f"row {r} ({raw[col].iloc[r]!r})" for r in rows[:5])
            more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
            noun = "row" if len(rows) == 1 else "rows"
            raise ValueError(
                f"{p}: column {col!r}: not a number in {len(rows)} {noun}: {shown}{more}. "
                f"{what}: fix the file"
            )


def _resolve_task(task: str | None, p: Path, columns: pd.Index) -> str:
    supported = sorted(HBAYESDM_TASKS)
    if task is not None:
        name = _task_from_name(task)
        if name not in HBAYESDM_TASKS:
            raise ValueError(
                f"{p}: unsupported hBayesDM task {task!r}; supported tasks: {supported} (model "
                f"names such as 'prl_ewa' or 'ts_par6' resolve to their task)"
            )
        return name
    stem = p.name.split("_exampleData")[0] if "_exampleData" in p.name else p.stem
    name = _task_from_name(stem)
    if name in HBAYESDM_TASKS:
        return name
    if name is not None:
        raise ValueError(
            f"{p}: the file name says hBayesDM task {name!r}, which cogmodels does not read; "
            f"supported tasks: {supported}. Convert the file to the canonical trial table "
            f"(cogmodels.trials) and use read_trials"
        )
    cols = {str(c).lower() for c in columns}
    for key, fmt in HBAYESDM_TASKS.items():
        if (cols == set(fmt.columns)) if fmt.infer_exact else (cols >= set(fmt.columns)):
            return key
    raise ValueError(
        f"{p}: cannot tell the hBayesDM task from the file name or the columns "
        f"{list(columns)}; supported tasks: {supported}. Pass task= one of them, or name the file "
        f"<task>_exampleData.txt"
    )


def _task_from_name(name: str) -> str | None:
    """Return the data format of an hBayesDM task or model name, or None when it names no task."""
    if name.startswith("prl") and name.endswith("multipleB"):
        return "prl_multipleB"
    parts = name.split("_")
    for k in range(len(parts), 0, -1):
        head = "_".join(parts[:k])
        if head in HBAYESDM_TASKS or head in _HBAYESDM_OTHER:
            return head
    if name.startswith("ra_"):
        return "ra"
    return None


# ---------------------------------------------------------------------------------------------
# RLWM (.mat)


def read_rlwm_mat(path: PathLike) -> pd.DataFrame:
    """Read an RLWM data set (the ``expe_data`` matrix of a MATLAB v5 ``.mat``) as a trial table.

    The matrix is Collins' format (AnneCollins/WMH, ``RLWM/DataSets``, e.g. ``Expe1.mat`` of
    Collins & Frank 2012): one row per trial, columns :data:`RLWM_COLUMNS`, sorted by subject and
    block, with ``time`` restarting at 1 in each block; choices are 1-based and a missing response
    is coded -1 (or 0) in ``choice``, ``cor``, ``rew`` and ``rt``. Columns returned:

    - ``subject``, ``block`` (as in the file), ``trial`` (order within subject, from 0),
      ``trial_in_block`` (the file's ``time``, from 1);
    - ``set_size`` (``ns``), ``state`` (stimulus within its block, 0-based), ``correct_action``
      (0-based), ``iteration`` (presentation number of the stimulus in its block, from 1);
    - ``choice`` (0-based; NaN when missing), ``reward`` (the feedback ``rew``; NaN when missing),
      ``correct`` (``cor``, which differs from ``rew`` when feedback is probabilistic), ``rt``
      (seconds; NaN when missing);
    - ``pcor``, ``delay`` (the authors' regressors), and ``condition`` when the data set has one.
    """
    from scipy.io import loadmat

    p = _existing(path)
    try:
        mat = loadmat(p)
    except Exception as exc:  # scipy raises several types for a file that is not a .mat
        raise ValueError(f"{p}: not a MATLAB .mat file scipy can read ({exc})") from None
    if "expe_data" not in mat:
        found = sorted(k for k in mat if not k.startswith("__"))
        raise ValueError(f"{p}: not an RLWM data file: no 'expe_data' matrix (variables: {found})")
    try:
        data = np.asarray(mat["expe_data"], dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"{p}: 'expe_data' must be a numeric matrix, got {_clip(repr(mat['expe_data']), 80)}"
        ) from None
    if data.ndim != 2 or data.shape[1] < 14 or data.shape[0] == 0:
        raise ValueError(
            f"{p}: 'expe_data' must be trials × at least 14 columns ({list(RLWM_COLUMNS[:14])}) "
            f"with at least one trial, got shape {data.shape}"
        )
    x = dict(zip(RLWM_COLUMNS, data.T, strict=False))
    missing = ~(x["choice"] > 0)
    int_columns = ("subno", "block", "ns", "time", "stimseq", "iterseq", "corAseq")
    ints = {c: _int_column(x[c], c, p) for c in int_columns}

    def responded(v: np.ndarray) -> np.ndarray:
        return np.where(missing, np.nan, v)

    out = pd.DataFrame(
        {
            "subject": ints["subno"],
            "block": ints["block"],
            "trial": _numbered(pd.Series(ints["subno"])),
            "trial_in_block": ints["time"],
            "set_size": ints["ns"],
            "state": ints["stimseq"] - 1,
            "correct_action": ints["corAseq"] - 1,
            "iteration": ints["iterseq"],
            "choice": responded(x["choice"] - 1),
            "reward": responded(x["rew"]),
            "correct": responded(x["cor"]),
            "rt": responded(_to_seconds(x["rt"])),
        }
    )
    for c in ("pcor", "delay", "condition"):
        if c in x and not (c == "condition" and np.isnan(x[c]).all()):
            out[c] = x[c]
    chosen = np.where(missing, 0, x["choice"])
    if not np.isfinite(chosen).all():
        rows = np.flatnonzero(~np.isfinite(chosen))
        raise ValueError(
            f"{p}: column 'choice' of 'expe_data' must hold action numbers from 1 (-1 or 0 when "
            f"missing); {len(rows)} rows do not (rows {rows[:5].tolist()}: {chosen[rows[:5]].tolist()})"
        )
    n_actions = int(max(3, ints["corAseq"].max(), chosen.max()))
    return validate_trials(out, n_actions=n_actions, source=str(p))


def _int_column(v: np.ndarray, name: str, p: Path, matrix: str = "expe_data") -> np.ndarray:
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(v) | (v != np.round(v)) | (np.abs(v) >= 2**31)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise ValueError(
            f"{p}: column {name!r} of {matrix!r} must hold integers; {len(rows)} row(s) do not "
            f"(rows {rows[:5].tolist()}: {v[rows[:5]].tolist()})"
        )
    return v.astype(np.int64)


# ---------------------------------------------------------------------------------------------
# two-step CSV


def read_two_step_csv(path: PathLike) -> pd.DataFrame:
    """Read a two-step table ``id, choice1, choice2, state, money`` (LabNeuroCogDevel/daw format).

    ``choice1``/``choice2`` are 1-2 with 0 for no response, ``state`` is the second-stage state
    2-3 (0 when none was reached), ``money`` the reward. Each ``id`` is one session: an id
    ``subject_session`` (e.g. ``11734_20220919``) gives ``subject`` and ``session``. A missed
    first-stage response is a missing trial (``choice``, ``choice2`` and ``reward`` NaN). A
    first-stage choice followed by a missed second-stage response keeps its ``choice`` and
    ``state2`` and has ``choice2`` and ``reward`` NaN: the two-step models score its first-stage
    choice and skip the rest (see :class:`cogmodels.models.TwoStepHybrid`). Trials count from 0
    per session.
    """
    p = _existing(path)
    return _two_step(p, _read_text(p))


def _two_step(p: Path, text: str) -> pd.DataFrame:
    raw = _parse_table(p, text, ",")
    raw.columns = [str(c).strip() for c in raw.columns]
    needed = ["id", "choice1", "choice2", "state", "money"]
    missing = [c for c in needed if c not in raw.columns]
    if missing:
        raise ValueError(
            f"{p}: a two-step CSV needs the columns {needed}; missing {missing}; columns present: "
            f"{list(raw.columns)}"
        )
    _check_numeric(raw, needed[1:], p, what="two-step CSV files hold numbers in choice1, choice2, state and money")
    codes = {"choice1": (0, 1, 2), "choice2": (0, 1, 2), "state": (0, 2, 3)}
    for col, allowed in codes.items():
        _refuse_other_codes(raw[col], allowed, f"{p}: column {col!r}", "(0 for no response or no second stage)")
    if raw["id"].isna().any():
        rows = np.flatnonzero(raw["id"].isna().to_numpy())
        raise ValueError(f"{p}: column 'id' is empty in rows {rows[:_SHOW].tolist()}: every trial needs its session id")
    _check_subject_ids(raw, "id", p)
    ids = raw["id"].astype(str)
    parts = ids.str.split("_", n=1, expand=True)
    state = raw["state"].to_numpy(dtype=np.float64)
    first = ((raw["choice1"] > 0) & (raw["state"] > 0)).to_numpy()
    both = first & (raw["choice2"] > 0).to_numpy()
    out = pd.DataFrame({"subject": parts[0]})
    if parts.shape[1] > 1:
        out["session"] = parts[1].fillna("")
    out["trial"] = _numbered(ids)
    out["choice"] = np.where(first, raw["choice1"] - 1, np.nan)
    out["state2"] = pd.array(np.where(state > 0, state - 2, np.nan), dtype="Int64")
    out["choice2"] = np.where(both, raw["choice2"] - 1, np.nan)
    out["reward"] = np.where(both, raw["money"], np.nan).astype(np.float64)
    return validate_trials(out, n_actions=2, source=str(p))


# ---------------------------------------------------------------------------------------------
# Kool et al. (2017) two-step task with stakes (.mat)

#: Columns 2-22 of the ``data`` cell array of wkool/arbitration ``data/daw_2step_stakes``
#: (Experiment 1, the Daw task; ``make_raw_data.m``); column 1 is the subject id.
KOOL_COLUMNS: tuple[str, ...] = (
    "stim_1_left", "stim_1_right", "rt_1", "choice1", "response1", "stim_2_left", "stim_2_right",
    "rt_2", "choice2", "response2", "win", "state2", "stake", "score", "practice", "ps1a1",
    "ps1a2", "ps2a1", "ps2a2", "trial", "time_elapsed",
)

#: Columns 2-17 of ``data/novel_2step_stakes`` (Experiment 2, the Kool et al. 2016 task).
KOOL_NOVEL_COLUMNS: tuple[str, ...] = (
    "state1", "stim_left", "stim_right", "rt_1", "choice1", "response1", "rt_2", "points",
    "state2", "stake", "score", "practice", "rews1", "rews2", "trial", "time_elapsed",
)


def read_kool_arbitration(path: PathLike) -> pd.DataFrame:
    """Read the two-step tasks with stakes of Kool, Gershman & Cushman (2017) as a trial table.

    ``path`` is a ``data.mat`` of wkool/arbitration: a cell array ``data``, one row per trial,
    the subject id (``Sub1`` ...) then the columns of the authors' ``make_raw_data.m``. Response
    times are in ms with ``-1`` for a missed response, ``stake`` is 1 or 5 (the points of the
    trial are multiplied by it), ``practice`` is 1 on the practice trials that precede the 200
    trials of the task. The layout is recognised by its width:

    - Experiment 1, ``data/daw_2step_stakes`` (:data:`KOOL_COLUMNS`): the Daw two-step task, for
      :class:`cogmodels.models.TwoStepStakes`. Columns ``choice``, ``state2``, ``choice2``
      (0-based), ``common`` (``state2 == choice``), ``reward`` = ``win × stakes`` (the model learns
      from ``reward / stakes``, the win), ``rt``, ``rt2`` (seconds), ``p_reward_00`` ...
      ``p_reward_11``. A missed first-stage response is a missing trial (``choice``, ``state2``,
      ``choice2``, ``reward`` NaN); a missed second-stage response (``rt_2 = -1``; the file still
      holds a ``choice2`` and a ``win`` there) keeps ``choice`` and ``state2`` and has ``choice2``
      and ``reward`` NaN.
    - Experiment 2, ``data/novel_2step_stakes`` (:data:`KOOL_NOVEL_COLUMNS`): the task of Kool et
      al. (2016), for :class:`cogmodels.models.KoolTwoStep`. Columns ``state`` (first-stage
      state, 0-based), ``choice`` (the action within that state, 0-1: the file's ``choice1`` is
      1-4, 3-4 in the second state), ``state2``, ``reward`` = ``points × stakes``, ``rt``,
      ``rt2``, ``points_0``, ``points_1``. A trial with either response missed is missing
      (``choice`` and ``reward`` NaN), as in the authors' analyses.

    Both have ``subject`` (the file's id), ``trial`` (order within subject, from 0, practice
    included), ``practice`` (bool) and ``stakes``. Kool et al. analyse the non-practice trials:
    ``df[~df["practice"]]``.
    """
    from scipy.io import loadmat

    p = _existing(path)
    try:
        mat = loadmat(p, squeeze_me=True)
    except Exception as exc:  # scipy raises several types for a file that is not a .mat
        raise ValueError(f"{p}: not a MATLAB .mat file scipy can read ({exc})") from None
    cells = mat.get("data")
    if isinstance(cells, np.ndarray) and cells.ndim == 1 and cells.dtype == object:
        cells = cells.reshape(1, -1)  # squeeze_me made a one-trial file a vector
    layouts = {len(KOOL_COLUMNS) + 1: KOOL_COLUMNS, len(KOOL_NOVEL_COLUMNS) + 1: KOOL_NOVEL_COLUMNS}
    if cells is None or getattr(cells, "ndim", 0) != 2 or cells.shape[1] not in layouts or not cells.shape[0]:
        found = sorted(k for k in mat if not k.startswith("__"))
        shape = getattr(cells, "shape", None)
        raise ValueError(
            f"{p}: not a Kool et al. two-step-with-stakes file: it needs a 'data' cell array of "
            f"trials × {len(KOOL_COLUMNS) + 1} columns (subject id, then {list(KOOL_COLUMNS)}) or "
            f"× {len(KOOL_NOVEL_COLUMNS) + 1} (subject id, then {list(KOOL_NOVEL_COLUMNS)}); "
            f"variables {found}, 'data' shape {shape}"
        )
    columns = layouts[cells.shape[1]]
    subject = _cell_text(cells[:, 0], p)
    x = {name: _cell_numbers(cells[:, k + 1], name, p) for k, name in enumerate(columns)}
    novel = columns is KOOL_NOVEL_COLUMNS
    codes = ({"state1": (1, 2), "choice1": (-1, 1, 2, 3, 4), "state2": (-1, 1, 2)} if novel else
             {"choice1": (-1, 1, 2), "state2": (-1, 1, 2), "choice2": (1, 2), "win": (0, 1)})
    for col, allowed in {**codes, "stake": None, "practice": (0, 1)}.items():
        bad = ~(x[col] > 0) if allowed is None else ~np.isin(x[col], allowed)
        if bad.any():
            rows = np.flatnonzero(bad)
            what = "positive numbers" if allowed is None else f"one of {list(allowed)}"
            raise ValueError(
                f"{p}: column {col!r} of 'data' must hold {what}; {len(rows)} row(s) do not "
                f"(rows {rows[:_SHOW].tolist()}: {x[col][rows[:_SHOW]].tolist()})"
            )
    stakes = x["stake"]
    first = (x["rt_1"] != -1) & (x["choice1"] > 0) & (x["state2"] > 0)
    both = first & (x["rt_2"] != -1)

    def when(ok: np.ndarray, v: np.ndarray) -> np.ndarray:
        return np.where(ok, v, np.nan)

    out = pd.DataFrame({"subject": subject, "trial": _numbered(pd.Series(subject)),
                        "practice": x["practice"] == 1, "stakes": stakes})
    if novel:
        state = x["state1"] - 1
        out["state"] = state.astype(np.int64)
        out["choice"] = when(both, x["choice1"] - 1 - 2 * state)
        out["state2"] = when(both, x["state2"] - 1)
        out["reward"] = when(both, x["points"] * stakes)
        out["rt"] = when(both, x["rt_1"] / 1000.0)
        out["rt2"] = when(both, x["rt_2"] / 1000.0)
        out["points_0"], out["points_1"] = x["rews1"], x["rews2"]
        return validate_trials(out, n_actions=2, source=str(p))
    out["choice"] = when(first, x["choice1"] - 1)
    out["state2"] = when(first, x["state2"] - 1)
    out["choice2"] = when(both, x["choice2"] - 1)
    out["reward"] = when(both, x["win"] * stakes)
    out["common"] = pd.array(np.where(first, x["state2"] == x["choice1"], pd.NA), dtype="boolean")
    out["rt"] = when(first, x["rt_1"] / 1000.0)
    out["rt2"] = when(both, x["rt_2"] / 1000.0)
    for s_ in (0, 1):
        for a in (0, 1):
            out[f"p_reward_{s_}{a}"] = x[f"ps{s_ + 1}a{a + 1}"]
    return validate_trials(out, n_actions=2, source=str(p))


def _cell_text(cells: np.ndarray, p: Path) -> np.ndarray:
    """Return the subject ids of the first column (``loadmat(squeeze_me=True)`` cells)."""
    bad = [r for r, c in enumerate(cells) if not isinstance(c, str) or not c]
    if bad:
        raise ValueError(
            f"{p}: every row of 'data' must start with a subject id (text); {len(bad)} row(s) do not "
            f"(rows {bad[:_SHOW]}: {[_clip(repr(cells[r]), 40) for r in bad[:_SHOW]]})"
        )
    return cells.astype(object)


def _cell_numbers(cells: np.ndarray, name: str, p: Path) -> np.ndarray:
    """Return one float per ``loadmat(squeeze_me=True)`` cell.

    A cell holding anything but one number (an empty or longer array, text) is refused with its
    rows.
    """
    scalar = np.array([isinstance(c, int | float | np.number) and not isinstance(c, bool) for c in cells])
    out = np.full(len(cells), np.nan)
    if scalar.any():
        out[scalar] = np.array(cells[scalar].tolist(), dtype=np.float64)
    bad = ~np.isfinite(out)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise ValueError(
            f"{p}: column {name!r} of 'data' must hold one number per trial; {len(rows)} row(s) do "
            f"not (rows {rows[:_SHOW].tolist()})"
        )
    return out
