"""The experiment runner: config validation, seeds, executors, atomic writes, resume, run folder.

A config is a TOML file::

    experiment = "two_step"      # a registered name (cogmodels.experiments.experiment_names())
    seed = 0                     # optional (0); --seed overrides it
    [params]                     # overrides of the experiment's defaults; same types
    n_subjects = 100
    [quick]                      # optional overrides of the experiment's quick setting

Resolved parameters: the defaults, then ``[params]``, then (with ``--quick``) the experiment's
quick setting, then the config's ``[quick]`` table. Unknown keys, experiments and values, values
of the wrong type and values outside a parameter's declared range (``Experiment.ranges``) fail
when the config loads, naming the key and the valid choices or range.

The quick rule: ``--quick`` keeps a quick run small, so the quick setting replaces the values of
``[params]`` that it sets; the runner names each one it replaces (one line on stderr, and
``quick_replaced`` in the manifest). A value in the config's ``[quick]`` table is used as it is.

A run of an :class:`~cogmodels.experiments.registry.Experiment` writes one folder::

    config.toml        the resolved config (rerunning it gives the same results)
    manifest.json      versions, git commit, seeds, machine, times, executor, per-unit status
    units/<id>/        each unit's tables (CSV, full precision) and unit.json, written atomically
    units/.<id>.checkpoint/  a long unit's progress while it runs (unit_checkpoint_dir), if it keeps any
    results/<t>.csv    the units' tables concatenated in unit order (+ .parquet with pyarrow)
    figures/*.png      the experiment's figures
    report.md          the report tying them together

Unit ``i`` gets the integer seed ``SeedSequence(seed).spawn(n_units)[i].generate_state(1)[0]``,
so results do not depend on the executor (``serial``, ``local`` processes or ``dask``) nor on the
order in which units finish. A unit's folder is renamed into place only when complete: a run
killed midway and started again on the same folder skips the finished units and computes the
others. The combined tables are always built from the unit files on disk, so a resumed run and a
clean run give byte-identical ``results/*.csv``. A unit that keeps checkpoints in
:func:`unit_checkpoint_dir` (``bci_wilson``: each finished day) resumes a stopped run from the last
one instead of from its start. A unit whose checkpoint folder held a stopped run's files when it
started has ``"checkpoint_found": true`` in the manifest: if it went on from them (the unit
decides), its ``seconds`` count only the run that finished it, not the stopped ones before.

Ctrl-C stops a run within seconds with any executor: units not finished are cancelled (the
``local`` workers ignore SIGINT and are ended by the runner; a local Dask cluster's workers are
killed), finished units are kept, the manifest's status becomes ``"interrupted"`` and
:class:`RunInterrupted` is raised (``cogmodels run`` prints how to resume and exits with 130). The
``local`` workers exit by themselves when the runner's process dies, even by ``kill -9``
(``PR_SET_PDEATHSIG`` on Linux and a thread polling the parent's pid); Dask's workers do the same.

Each process runs a unit with ``threads`` torch threads (default 1; see
:mod:`cogmodels._threads`), recorded in the manifest.
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import traceback
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from importlib import metadata
from multiprocessing import connection as mp_connection
from multiprocessing import current_process, get_context
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cogmodels._threads import check_threads, torch_threads
from cogmodels.atomic import atomic_path, atomic_write_bytes, atomic_write_text
from cogmodels.cpu_kernels import cpu_kernels
from cogmodels.experiments.registry import (
    Config,
    Experiment,
    Range,
    experiment_names,
    get_experiment,
)
from cogmodels.validation import check_int, int_seed

__all__ = [
    "EXECUTORS",
    "NO_MAIN_GUARD_MESSAGE",
    "RunFolderError",
    "RunInterrupted",
    "RunResult",
    "WorkerStartError",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "config_to_toml",
    "load_config",
    "resolve_config",
    "run_experiment",
    "run_suite",
    "save_figure",
    "unit_checkpoint_dir",
    "unit_id",
]

EXECUTORS: tuple[str, ...] = ("serial", "local", "dask")
#: top-level keys of a config file
CONFIG_KEYS: tuple[str, ...] = ("experiment", "seed", "description", "params", "quick")
#: float format of the combined result tables (byte-identical across executors)
RESULT_FLOAT_FORMAT = "%.10g"
#: float format of the unit tables (exact round trip)
UNIT_FLOAT_FORMAT = "%.17g"
_DASK_HINT = "the dask executor needs dask.distributed: pip install 'cogmodels[cluster]'"
_VERSIONED = ("numpy", "scipy", "pandas", "torch", "gymnasium", "stable-baselines3", "sb3-contrib",
              "matplotlib", "seaborn", "tqdm", "pyarrow", "dask", "distributed")


# -- atomic writes: cogmodels.atomic (files); a run's unit folders below ------------------------
@contextmanager
def _atomic_dir(path: Path) -> Iterator[Path]:
    """Yield a temporary folder next to ``path``; on success rename it onto ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        os.rename(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def save_figure(fig: Any, path: str | os.PathLike, *, dpi: int = 120) -> Path:
    """Save a matplotlib figure as PNG atomically; returns the path."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    return path


def _table_csv(df: pd.DataFrame, float_format: str) -> bytes:
    if df.shape[1] == 0:
        return b""
    return df.to_csv(index=False, float_format=float_format, lineterminator="\n").encode("utf-8")


def _read_csv(path: Path) -> pd.DataFrame:
    if path.stat().st_size == 0:
        return pd.DataFrame()
    return pd.read_csv(path)


def _has_pyarrow() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


# -- configs ---------------------------------------------------------------------------------------
def _type_name(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list"}.get(
        type(value), type(value).__name__)


def _check_scalar(key: str, value: Any, default: Any, choices: Sequence[Any] | None,
                  allowed: Range | None) -> Any:
    ok = (
        isinstance(value, bool) if isinstance(default, bool)
        else isinstance(value, int) and not isinstance(value, bool) if isinstance(default, int)
        else isinstance(value, int | float) and not isinstance(value, bool) if isinstance(default, float)
        else isinstance(value, type(default))
    )
    if not ok:
        raise ValueError(
            f"{key} must be {_type_name(default)} (like the default {default!r}), "
            f"got {value!r} ({_type_name(value)})"
        )
    if allowed is not None and not isinstance(default, bool):
        value = allowed.check(key, value, integer=isinstance(default, int))
    if isinstance(default, float):
        value = float(value)
    if choices is not None and value not in choices:
        raise ValueError(f"{key} must be one of {list(choices)}, got {value!r}")
    return value


def _check_param(key: str, value: Any, default: Any, choices: Sequence[Any] | None,
                 allowed: Range | None) -> Any:
    if isinstance(default, list | tuple):
        if not isinstance(value, list | tuple):
            raise ValueError(
                f"{key} must be a list (like the default {list(default)!r}), got {value!r} "
                f"({_type_name(value)})"
            )
        if not default:
            return list(value)
        if not value:
            raise ValueError(f"{key} must be a non-empty list (like the default {list(default)!r}), got []")
        return [_check_scalar(f"{key}[{i}]", v, default[0], choices, allowed) for i, v in enumerate(value)]
    return _check_scalar(key, value, default, choices, allowed)


def _check_params(experiment: Experiment, params: Any, where: str) -> dict[str, Any]:
    if not isinstance(params, Mapping):
        raise ValueError(f"{where} must be a table of parameters, got {params!r}")
    valid = list(experiment.defaults)
    unknown = [k for k in params if k not in experiment.defaults]
    if unknown:
        raise ValueError(
            f"unknown key(s) {unknown} in {where} of experiment {experiment.name!r}; valid keys: {valid}"
        )
    return {k: _check_param(k, v, experiment.defaults[k], experiment.choices.get(k), experiment.ranges.get(k))
            for k, v in params.items()}


def resolve_config(
    raw: Mapping[str, Any],
    *,
    quick: bool = False,
    seed: int | None = None,
    source: str | None = None,
) -> Config:
    """Validate a config mapping and resolve it against the experiment's defaults.

    ``raw`` has ``experiment`` (a registered name), optionally ``seed`` (integer, default 0;
    ``seed=`` overrides it), ``description``, a ``params`` table (overrides of the defaults) and a
    ``quick`` table (overrides of the experiment's quick setting). The parameters are the
    defaults, then ``params``, then, if ``quick``, the experiment's quick setting, then the
    config's ``quick`` table.

    The quick rule: ``quick`` replaces the ``params`` values that the quick setting sets (a quick
    run stays small); each value it replaces is listed in :attr:`Config.quick_replaced`, which
    the runner prints and records in the manifest. To keep a value of your own with ``quick``,
    put it in the config's ``quick`` table too.

    Unknown keys, experiments or values, values of the wrong type and values outside a
    parameter's declared range (:attr:`Experiment.ranges`) raise ``ValueError`` naming the key and
    the valid choices or range.
    """
    where = f" in {source}" if source else ""
    if not isinstance(raw, Mapping):
        raise TypeError(f"config must be a mapping, got {type(raw).__name__}")
    unknown = [k for k in raw if k not in CONFIG_KEYS]
    if unknown:
        raise ValueError(f"unknown key(s) {unknown}{where}; valid keys: {list(CONFIG_KEYS)}")
    if "experiment" not in raw:
        raise ValueError(f"the config{where} must name an experiment: experiment = \"name\"")
    name = raw["experiment"]
    if not isinstance(name, str):
        raise ValueError(f"experiment must be a string{where}, got {name!r}")
    experiment = get_experiment(name)
    base_seed = raw.get("seed", 0) if seed is None else seed
    base_seed = check_int("seed", base_seed, 0)
    user = _check_params(experiment, raw.get("params", {}), "[params]")
    own_quick = _check_params(experiment, raw.get("quick", {}), "[quick]")
    params = {**experiment.defaults, **user}
    replaced: dict[str, tuple[Any, Any]] = {}
    if quick:
        setting = _check_params(experiment, experiment.quick, f"the quick setting of {name}")
        replaced = {k: (user[k], v) for k, v in setting.items()
                    if k in user and k not in own_quick and user[k] != v}
        params.update(setting)
        params.update(own_quick)
    params = {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}
    return Config(name, int(base_seed), params, bool(quick), source, replaced)


def load_config(path: str | os.PathLike, *, quick: bool = False, seed: int | None = None) -> Config:
    """Read a TOML config file and resolve it (see :func:`resolve_config`)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"config file {str(p)!r} does not exist")
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{p}: not valid TOML ({err})") from None
    return resolve_config(raw, quick=quick, seed=seed, source=str(p))


def _toml_value(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        v = float(value)
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        text = repr(v)
        return text if any(c in text for c in ".en") else text + ".0"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(key, v) for v in value) + "]"
    raise TypeError(f"config value {key} must be a string, number, boolean or list, got {value!r}")


def config_to_toml(config: Config) -> str:
    """Return the resolved config as TOML (the quick setting already applied)."""
    lines = [
        "# resolved config written by cogmodels run" + (" --quick" if config.quick else ""),
        f"experiment = {_toml_value('experiment', config.experiment)}",
        f"seed = {config.seed}",
        "",
        "[params]",
    ]
    lines += [f"{k} = {_toml_value(k, v)}" for k, v in config.params.items()]
    return "\n".join(lines) + "\n"


# -- units -----------------------------------------------------------------------------------------
def unit_id(index: int, unit: Mapping[str, Any]) -> str:
    """Return a file-name-safe id for unit ``index``: its number, then its values."""
    label = "_".join(str(v) for v in unit.values() if not isinstance(v, list | dict))
    label = re.sub(r"[^A-Za-z0-9.=+-]+", "-", label).strip("-")[:48]
    return f"{index:03d}" + (f"-{label}" if label else "")


def _check_units(experiment: Experiment, units: Any) -> list[dict[str, Any]]:
    if not isinstance(units, list) or not units:
        raise ValueError(f"experiment {experiment.name!r}: units(config) must return a non-empty list "
                         f"of dicts, got {units!r}")
    for i, u in enumerate(units):
        if not isinstance(u, dict):
            raise ValueError(f"experiment {experiment.name!r}: unit {i} must be a dict, got {u!r}")
        try:
            json.dumps(u)
        except TypeError as err:
            raise ValueError(f"experiment {experiment.name!r}: unit {i} must be JSON-able ({err})") from None
    return units


#: the folder in which the unit running in this process may keep its progress (see
#: :func:`unit_checkpoint_dir`)
_UNIT_CHECKPOINT: ContextVar[Path | None] = ContextVar("cogmodels_unit_checkpoint", default=None)


def unit_checkpoint_dir() -> Path | None:
    """Return the folder where the running unit may keep its progress (None: no such folder).

    A long unit (hours of a 60-day protocol) can write checkpoints there and resume from them:
    the runner gives each unit ``units/.<id>.checkpoint/`` in the run folder (an absolute path),
    keeps it when the run is stopped (Ctrl-C, a killed process) or the unit fails, and deletes it
    once the unit's tables are written.
    A resumed unit must give the same tables as one never stopped (the unit's own check). None
    outside a run. On a Dask cluster the workers reach it through the shared file system that the
    run folder needs. The folder may not exist yet: the unit creates it.
    """
    return _UNIT_CHECKPOINT.get()


def _execute(experiment: Experiment, config: Config, unit: dict[str, Any], seed: int,
             checkpoint: str | None = None, threads: int | None = None) -> dict[str, Any]:
    """Run one unit in the current process with torch on ``threads`` threads.

    ``checkpoint``: the unit's checkpoint folder (:func:`unit_checkpoint_dir`). It never raises
    an ``Exception`` (nor ``SystemExit``): a failure is returned with its traceback.
    """
    t0 = time.perf_counter()
    token = _UNIT_CHECKPOINT.set(None if checkpoint is None else Path(checkpoint))
    try:
        with torch_threads(threads):
            tables = experiment.run_unit(config, unit, seed)
        if not isinstance(tables, Mapping) or not all(
            isinstance(k, str) and isinstance(v, pd.DataFrame) for k, v in tables.items()
        ):
            raise TypeError(f"run_unit must return a dict {{table name: DataFrame}}, got {type(tables).__name__}")
        return {"ok": True, "tables": dict(tables), "seconds": time.perf_counter() - t0,
                "kernels": cpu_kernels()}
    except (Exception, SystemExit):
        return {"ok": False, "error": traceback.format_exc(), "seconds": time.perf_counter() - t0,
                "kernels": cpu_kernels()}
    finally:
        _UNIT_CHECKPOINT.reset(token)


def _write_unit(folder: Path, uid: str, unit: dict[str, Any], seed: int, tables: Mapping[str, pd.DataFrame],
                kernels: Mapping[str, str] | None = None) -> None:
    for name in tables:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise ValueError(f"table names must be file-name safe ([A-Za-z0-9_.-]), got {name!r}")
    with _atomic_dir(folder / uid) as tmp:
        for name, df in tables.items():
            (tmp / f"{name}.csv").write_bytes(_table_csv(df, UNIT_FLOAT_FORMAT))
        meta = {"unit": unit, "seed": seed, "tables": list(tables)}
        if kernels is not None:
            meta["kernels"] = dict(kernels)
        (tmp / "unit.json").write_text(json.dumps(meta, indent=1) + "\n")


def _checkpoint_path(unit_dir: Path, uid: str) -> Path:
    """Return the checkpoint folder of unit ``uid`` (:func:`unit_checkpoint_dir`)."""
    return unit_dir / f".{uid}.checkpoint"


def _has_progress(folder: Path) -> bool:
    """Whether a unit's checkpoint folder holds a stopped run's files (not a killed write's ``.tmp``)."""
    return folder.is_dir() and any(not p.name.endswith(".tmp") for p in folder.iterdir())


def _unit_kernels(folder: Path) -> dict[str, str] | None:
    """Return the CPU kernels a finished unit was computed with (None: not recorded, an older run)."""
    return json.loads((folder / "unit.json").read_text()).get("kernels")


def _kernels_differ(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Return the distinct CPU kernels of the units that recorded theirs, if two of them conflict.

    Two units conflict where a library both name has different kernels: a unit that did not
    import torch has no ``torch`` entry, which is no difference from one that did.
    """
    distinct: list[dict[str, str]] = []
    for row in rows:
        k = row.get("kernels")
        if k is not None and k not in distinct:
            distinct.append(k)
    conflict = any(a[key] != b[key] for i, a in enumerate(distinct) for b in distinct[i + 1:]
                   for key in a.keys() & b.keys())
    return distinct if conflict else []


def _read_unit(folder: Path) -> dict[str, pd.DataFrame]:
    meta = json.loads((folder / "unit.json").read_text())
    return {name: _read_csv(folder / f"{name}.csv") for name in meta["tables"]}


def _combine(per_unit: Sequence[Mapping[str, pd.DataFrame]]) -> dict[str, pd.DataFrame]:
    names: list[str] = []
    for tables in per_unit:
        names += [n for n in tables if n not in names]
    out = {}
    for name in names:
        parts = [t[name] for t in per_unit if name in t and t[name].shape[1] > 0]
        out[name] = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    return out


# -- executors -------------------------------------------------------------------------------------
#: ``(index, unit, seed, checkpoint folder or None)``
Job = tuple[int, dict[str, Any], int, str | None]


def _failure(err: BaseException) -> dict[str, Any]:
    return {"ok": False, "error": "".join(traceback.format_exception(err)), "seconds": float("nan")}


def _serial(experiment: Experiment, config: Config, jobs: list[Job], *, threads: int | None = None,
            **_: Any) -> Iterator[tuple[int, dict]]:
    for i, unit, seed, checkpoint in jobs:
        yield i, _execute(experiment, config, unit, seed, checkpoint, threads)


#: exit status of a worker process whose start re-ran the calling script up to run_experiment
_NO_MAIN_GUARD_EXIT = 86
NO_MAIN_GUARD_MESSAGE = (
    "the worker processes re-ran the script that started them and stopped: a script that calls "
    "run_experiment(..., executor=\"local\") must call it under `if __name__ == \"__main__\":` "
    "(see the README), or use executor=\"serial\""
)


class WorkerStartError(RuntimeError):
    """A worker process of the local executor died before it could take a unit."""


@contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Ignore SIGINT in the body (main thread only; elsewhere nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def _exit_with_parent(parent_pid: int) -> None:
    """In a worker: exit as soon as the process that started it is gone (even by ``kill -9``).

    Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)``; everywhere: a daemon thread that polls
    ``os.getppid()`` (a dead parent's children are handed to another process).
    """
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)  # 1: PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.25)
        os._exit(1)

    if os.getppid() != parent_pid:
        os._exit(1)
    threading.Thread(target=watch, name="cogmodels-parent-watch", daemon=True).start()


def _worker_main(conn: Any, parent_pid: int, threads: int | None) -> None:
    """Serve as a local worker: run the jobs ``conn`` sends until ``None``.

    A job is ``(experiment, config, unit, seed, checkpoint)``.
    """
    _exit_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    conn.send("ready")
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        outcome = _execute(*job, threads)
        try:
            conn.send(outcome)
        except Exception as err:  # a table that does not pickle
            conn.send(_failure(err))


def _exit_text(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


class _Worker:
    """One spawned worker process and the pipe to it."""

    def __init__(self, ctx: Any, threads: int | None) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child, os.getpid(), threads),
                                name="cogmodels-worker")
        with _sigint_ignored():  # inherited: no KeyboardInterrupt in the child while it imports
            self.proc.start()
        child.close()
        self.ready = False
        self.job: Job | None = None

    def messages(self) -> list[Any]:
        """Return what the worker sent; it ends with ``None`` if the worker is gone."""
        out: list[Any] = []
        while True:
            try:
                if not self.conn.poll():
                    return out
                out.append(self.conn.recv())
            except (EOFError, OSError):
                return [*out, None]
            except Exception as err:  # a result that does not unpickle here
                out.append(_failure(err))

    def give(self, job: Job, experiment: Experiment, config: Config) -> bool:
        self.job = job
        try:
            self.conn.send((experiment, config, *job[1:]))
        except OSError:  # it died meanwhile: its sentinel says so next
            return False
        return True

    def stop(self, *, wait: float) -> None:
        """Ask it to finish (``wait`` > 0) or end it now; it is gone on return."""
        if wait > 0 and self.proc.is_alive():
            try:
                self.conn.send(None)
            except OSError:
                pass
            self.proc.join(wait)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(2.0)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(2.0)
        self.conn.close()


def _local(experiment: Experiment, config: Config, jobs: list[Job], *, workers: int,
           threads: int | None = None, **_: Any) -> Iterator[tuple[int, dict]]:
    """Units in ``workers`` spawned processes; a worker that dies fails its unit only.

    The workers ignore SIGINT (a Ctrl-C is handled here: closing this generator ends them at
    once) and exit by themselves if this process dies.
    """
    if workers == 1 or len(jobs) <= 1:  # nothing to parallelise: no process start-up
        yield from _serial(experiment, config, jobs, threads=threads)
        return
    ctx = get_context("spawn")
    todo = deque(jobs)
    pool: list[_Worker] = []
    try:
        for _ in range(min(workers, len(jobs))):
            pool.append(_Worker(ctx, threads))
        while pool:
            ready = mp_connection.wait([w.conn for w in pool] + [w.proc.sentinel for w in pool])
            for w in [w for w in pool if w.conn in ready or w.proc.sentinel in ready]:
                done: list[tuple[int, dict]] = []
                gone = False
                for msg in w.messages():
                    if msg is None:
                        gone = True
                    elif msg == "ready":
                        w.ready = True
                    elif w.job is not None:
                        done.append((w.job[0], msg))
                        w.job = None
                if not gone and w.proc.sentinel in ready:
                    gone = not w.proc.is_alive()
                if gone:
                    w.stop(wait=0)
                    pool.remove(w)
                    code = w.proc.exitcode
                    if not w.ready:
                        if code == _NO_MAIN_GUARD_EXIT:
                            raise WorkerStartError(NO_MAIN_GUARD_MESSAGE)
                        raise WorkerStartError(
                            f"a worker process could not start ({_exit_text(code)}; its error, if any, is "
                            "printed above); try executor=\"serial\"")
                    if w.job is not None:
                        done.append((w.job[0], {
                            "ok": False, "seconds": float("nan"),
                            "error": f"the worker process running this unit died ({_exit_text(code)})\n"}))
                        w.job = None
                    if todo:
                        pool.append(_Worker(ctx, threads))
                elif w.ready and w.job is None:
                    if todo:
                        job = todo.popleft()
                        if not w.give(job, experiment, config):
                            todo.appendleft(job)
                            w.job = None
                    else:
                        w.stop(wait=5.0)
                        pool.remove(w)
                yield from done
    finally:
        for w in pool:  # interrupted (or failed): end the others now
            w.stop(wait=0)


def _dask(experiment: Experiment, config: Config, jobs: list[Job], *, workers: int,
          scheduler: str | None, threads: int | None = None, **_: Any) -> Iterator[tuple[int, dict]]:
    """Units on a Dask cluster: a ``LocalCluster`` of ``workers`` processes, or ``scheduler``'s.

    Closed before the end (Ctrl-C), it cancels the units not finished; a local cluster's worker
    processes are killed rather than waited for.
    """
    try:
        from dask.distributed import Client, LocalCluster
        from dask.distributed import as_completed as dask_as_completed
    except ImportError:
        raise ImportError(_DASK_HINT) from None
    import logging

    cluster = client = None
    futures: dict[Any, int] = {}
    finished = False
    try:
        if scheduler:
            client = Client(scheduler)
        else:
            try:
                cluster = LocalCluster(n_workers=workers, processes=True, threads_per_worker=1,
                                       host="127.0.0.1", dashboard_address=":0", silence_logs=logging.ERROR)
            except Exception as err:
                main_file = getattr(sys.modules.get("__main__"), "__file__", None)
                if not main_file:
                    raise
                raise WorkerStartError(
                    f"the Dask worker processes could not start ({err}); they re-import {main_file}: if it "
                    "calls run_experiment without an `if __name__ == \"__main__\":` guard, add one (see "
                    "the README)") from err
            client = Client(cluster)
        for i, unit, seed, checkpoint in jobs:
            key = f"{config.experiment}-{unit_id(i, unit)}-{seed}-{os.getpid()}-{time.time_ns()}"
            futures[client.submit(_execute, experiment, config, unit, seed, checkpoint, threads,
                                  key=key, pure=False)] = i
        for fut in dask_as_completed(list(futures)):
            try:
                outcome = fut.result()
            except Exception as err:  # a worker died (KilledWorker) or the task could not run
                outcome = _failure(err)
            yield futures[fut], outcome
        finished = True
    finally:
        if not finished:
            # the client's comms close under it: distributed logs each as INFO with a traceback,
            # and asyncio a "Future exception was never retrieved" for a comm's timed-out future
            # (on stderr after Ctrl-C); an aborted run reports itself in one line instead
            for name in ("distributed", "asyncio"):
                logging.getLogger(name).setLevel(logging.CRITICAL)
            _dask_abort(cluster, client, list(futures))
        for part, timeout in ((client, 5), (cluster, 10)):
            if part is not None:
                try:
                    part.close(timeout=timeout)
                except Exception:
                    if finished:
                        raise


def _dask_abort(cluster: Any, client: Any, futures: list[Any]) -> None:
    """Stop the units still running: kill a local cluster's workers, cancel the futures."""
    if cluster is not None:
        for nanny in list(getattr(cluster, "workers", {}).values()):
            proc = getattr(getattr(nanny, "process", None), "process", None)
            pid = getattr(proc, "pid", None)
            if pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
    if client is not None and futures:
        try:
            client.cancel(futures, force=True)
        except Exception:  # the scheduler is gone already
            pass


_EXECUTOR_FUNCS: dict[str, Callable[..., Iterator[tuple[int, dict]]]] = {
    "serial": _serial, "local": _local, "dask": _dask,
}


# -- manifest --------------------------------------------------------------------------------------
def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _versions() -> dict[str, str]:
    out = {}
    for dist in ("cogmodels", *_VERSIONED):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out


def _git() -> dict[str, Any]:
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=10)
        if commit.returncode != 0:
            return {}
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return {}
    return {"commit": commit.stdout.strip(), "dirty": bool(dirty.stdout.strip())}


@dataclass
class RunResult:
    """Where a run wrote its folder, its manifest, and the units that failed (id -> error)."""

    path: Path
    manifest: dict[str, Any]
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether every unit succeeded and the report was written."""
        return not self.failed and not self.manifest.get("report_error")


def _write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, default=str) + "\n")


# -- run -------------------------------------------------------------------------------------------
def _as_config(config: Config | Mapping[str, Any] | str | os.PathLike, quick: bool, seed: int | None) -> Config:
    if isinstance(config, Config):
        if seed is not None and seed != config.seed:
            config = replace(config, seed=int(seed), params=dict(config.params))
        return config
    if isinstance(config, Mapping):
        return resolve_config(config, quick=quick, seed=seed)
    if isinstance(config, str | os.PathLike):
        p = Path(config)
        if p.suffix != ".toml" and not p.exists():
            return resolve_config({"experiment": str(config)}, quick=quick, seed=seed)
        return load_config(p, quick=quick, seed=seed)
    raise TypeError(f"config must be a Config, a mapping, a TOML path or an experiment name, got {config!r}")


def _check_executor(executor: str, workers: int | None, scheduler: str | None) -> int:
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {list(EXECUTORS)}, got {executor!r}")
    if workers is None:
        workers = max(1, min(2, os.cpu_count() or 1))
    workers = check_int("workers", workers, 1)
    if scheduler is not None and executor != "dask":
        raise ValueError(f"scheduler is for executor='dask', got executor={executor!r}")
    return workers


def _report_md(experiment: Experiment, config: Config, body: str, results: dict[str, pd.DataFrame],
               rows: list[dict[str, Any]], executor: str) -> str:
    n_failed = sum(r["status"] == "failed" for r in rows)
    lines = [
        f"# {experiment.name}",
        "",
        experiment.description.strip(),
        "",
        f"Seed {config.seed}{', quick setting' if config.quick else ''}; {len(rows)} unit(s), "
        f"{n_failed} failed; executor `{executor}`. "
        "Config: [config.toml](config.toml); versions, seeds and times: [manifest.json](manifest.json).",
        "",
    ]
    if n_failed:
        lines += ["**Failed units** (the results below leave them out): "
                  + ", ".join(f"`{r['id']}` (seed {r['seed']})" for r in rows if r["status"] == "failed"), ""]
    lines += [body.strip(), "", "## Result tables", ""]
    for name, df in results.items():
        lines.append(f"- [{name}](results/{name}.csv): {len(df)} rows, columns {', '.join(map(str, df.columns))}")
    lines += ["", "## Units", "", "| unit | seed | status |", "| --- | --- | --- |"]
    lines += [f"| `{r['id']}` | {r['seed']} | {r['status']} |" for r in rows]
    return "\n".join(lines) + "\n"


class RunFolderError(ValueError):
    """The run folder cannot be used: ``path``, what is wrong (``problem``) and the ``fix``."""

    def __init__(self, path: Path, problem: str, fix: str) -> None:
        self.path, self.problem, self.fix = path, problem, fix
        super().__init__(f"the run folder {str(path)!r} {problem}; {fix}")


class RunInterrupted(KeyboardInterrupt):
    """A run stopped by Ctrl-C: its finished units are kept in ``path``; the same call resumes it.

    ``done`` of ``total`` units are finished; ``manifest`` is what ``manifest.json`` holds
    (status ``"interrupted"``).
    """

    def __init__(self, path: Path, done: int, total: int, manifest: dict[str, Any]) -> None:
        self.path, self.done, self.total, self.manifest = path, done, total, manifest
        super().__init__(f"interrupted; {done} of {total} units are finished and kept in {path}; "
                         "run it again with the same config and folder to resume")


def _prepare_out(out: Path) -> None:
    """Create the run folder and check that it can be written, or raise :class:`RunFolderError`."""
    if out.exists() and not out.is_dir():
        raise RunFolderError(out, "is an existing file, not a folder",
                             "give a new folder, or the folder of a run to resume")
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test.", dir=out)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise RunFolderError(out, f"cannot be written ({reason})", "give a folder you can write to") from None


def _check_not_bootstrapping() -> None:
    """Stop a worker process that is re-running its parent's script (no ``__main__`` guard).

    It stops quietly, before it writes anything, with a status the parent recognises.
    """
    if getattr(current_process(), "_inheriting", False):
        raise SystemExit(_NO_MAIN_GUARD_EXIT)


def run_experiment(
    config: Config | Mapping[str, Any] | str | os.PathLike,
    out: str | os.PathLike,
    *,
    quick: bool = False,
    seed: int | None = None,
    executor: str = "local",
    workers: int | None = None,
    scheduler: str | None = None,
    threads: int | None = 1,
    progress: bool = True,
) -> RunResult:
    """Run an experiment into the folder ``out``, resuming what is there.

    ``config``: a resolved :class:`Config`, a config mapping, a TOML path or an experiment name
    (its defaults). ``quick`` and ``seed`` apply when the config is resolved here (the quick rule
    is :func:`resolve_config`'s; the values it replaces are printed and recorded in the manifest).
    ``executor``: ``"serial"`` (this process), ``"local"`` (``workers`` spawned processes, default
    ``min(2, cpus)``) or ``"dask"`` (a ``LocalCluster`` of ``workers`` processes on 127.0.0.1, or
    the scheduler at ``scheduler``). ``threads``: torch threads in each process while it runs a
    unit (default 1: the units already run in parallel; ``None`` leaves torch's setting); with
    ``"serial"`` a torch first imported by a unit keeps them. A failing unit is reported (its seed
    and traceback in the manifest) and the others go on; the results and the report use the units
    that succeeded. ``progress``: a progress bar over the units on stderr.

    With ``"local"``, a script must call this under ``if __name__ == "__main__":`` (the workers
    re-import it); without the guard the run stops with :class:`WorkerStartError` saying so.

    Ctrl-C stops the run within seconds: the units not finished are cancelled (their processes
    ended), the finished ones are kept, the manifest's status becomes ``"interrupted"`` and
    :class:`RunInterrupted` (a ``KeyboardInterrupt``) is raised; the same call resumes. A
    :class:`RunFolderError` (a ``ValueError``) says when ``out`` is a file or cannot be written.
    """
    _check_not_bootstrapping()
    cfg = _as_config(config, quick, seed)
    workers = _check_executor(executor, workers, scheduler)
    threads = check_threads("threads", threads)
    experiment = get_experiment(cfg.experiment)
    out = Path(out)
    units = _check_units(experiment, experiment.units(cfg))
    ids = [unit_id(i, u) for i, u in enumerate(units)]
    if len(set(ids)) != len(ids):
        raise ValueError(f"experiment {experiment.name!r}: unit ids are not unique: {ids}")
    children = np.random.SeedSequence(cfg.seed).spawn(len(units))
    seeds = [int_seed(c) for c in children]

    _prepare_out(out)
    toml_text = config_to_toml(cfg)
    cfg_path = out / "config.toml"
    if cfg_path.exists():
        previous = tomllib.loads(cfg_path.read_text())
        if previous != tomllib.loads(toml_text):
            raise ValueError(
                f"the run folder {str(out)!r} holds a run of a different config ({cfg_path}); "
                "resume it with the same config and seed, or give a new --out"
            )
    if cfg.quick_replaced:
        changes = ", ".join(f"{k} = {_toml_value(k, a)} -> {_toml_value(k, b)}"
                            for k, (a, b) in cfg.quick_replaced.items())
        where = f" of {cfg.source}" if cfg.source else ""
        print(f"{experiment.name}: the quick setting replaces these values of [params]{where}: {changes} "
              "(to keep one with --quick, set it in the config's [quick] table too)", file=sys.stderr)
    atomic_write_text(cfg_path, toml_text)
    unit_dir = out / "units"
    unit_dir.mkdir(exist_ok=True)
    for stale in unit_dir.glob(".*.tmp"):  # left by a killed run
        shutil.rmtree(stale, ignore_errors=True) if stale.is_dir() else stale.unlink(missing_ok=True)

    started = _now()
    rows = [
        {"id": uid, "unit": u, "seed": s, "entropy": str(c.entropy), "spawn_key": list(c.spawn_key),
         "status": "resumed" if (unit_dir / uid / "unit.json").exists() else "pending"}
        for uid, u, s, c in zip(ids, units, seeds, children)
    ]
    for row in rows:
        if row["status"] == "resumed" and (k := _unit_kernels(unit_dir / row["id"])) is not None:
            row["kernels"] = k
        if row["status"] == "pending" and _has_progress(_checkpoint_path(unit_dir, row["id"])):
            row["checkpoint_found"] = True  # a stopped run's progress: "seconds" may be a part
    manifest: dict[str, Any] = {
        "experiment": experiment.name,
        "config": str(cfg.source) if cfg.source else None,
        "quick": cfg.quick,
        "quick_replaced": {k: {"params": a, "quick": b} for k, (a, b) in cfg.quick_replaced.items()},
        "seed": cfg.seed,
        "seed_sequence": {"entropy": str(cfg.seed), "n_children": len(units)},
        "executor": executor,
        "workers": workers if executor != "serial" else 1,
        "scheduler": scheduler,
        "threads": threads,
        "versions": _versions(),
        "git": _git(),
        "python": sys.version,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "kernels": cpu_kernels(),
        "argv": list(sys.argv),
        "started": started,
        "finished": None,
        "status": "running",
        "units": rows,
    }
    from tqdm.auto import tqdm

    for row in rows:  # a unit written just before a stop may have left its checkpoint
        if row["status"] == "resumed":
            shutil.rmtree(_checkpoint_path(unit_dir, row["id"]), ignore_errors=True)
    jobs = [(i, units[i], seeds[i], str(_checkpoint_path(unit_dir.resolve(), ids[i])))
            for i, r in enumerate(rows) if r["status"] == "pending"]
    failed: dict[str, str] = {}
    bar = tqdm(total=len(units), initial=len(units) - len(jobs), desc=experiment.name, unit="unit",
               disable=not progress, file=sys.stderr)
    outcomes = _EXECUTOR_FUNCS[executor](experiment, cfg, jobs, workers=workers, scheduler=scheduler,
                                         threads=threads)
    try:
        _write_json(out / "manifest.json", manifest)
        for i, outcome in outcomes:
            row = rows[i]
            row["seconds"] = outcome["seconds"]
            if "kernels" in outcome:
                row["kernels"] = outcome["kernels"]
            if outcome["ok"]:
                try:
                    _write_unit(unit_dir, ids[i], units[i], seeds[i], outcome["tables"], outcome.get("kernels"))
                    row["status"] = "computed"
                    shutil.rmtree(_checkpoint_path(unit_dir, ids[i]), ignore_errors=True)
                except Exception as err:  # e.g. a table name that is no file name
                    outcome = _failure(err)
            if not outcome["ok"]:
                row["status"] = "failed"
                row["error"] = outcome["error"]
                failed[ids[i]] = outcome["error"]
                last = outcome["error"].strip().splitlines()[-1] if outcome["error"].strip() else "?"
                tqdm.write(f"{experiment.name}: unit {ids[i]} (seed {seeds[i]}) failed: {last}", file=sys.stderr)
            bar.update(1)
        bar.close()
        if differ := _kernels_differ(rows):
            manifest["kernels_differ"] = differ
            print(f"{experiment.name}: the units ran under different CPU kernels ({differ}): their floats can "
                  "differ in the last bits from those of one machine, and an iterative fit's stopping "
                  "iteration with them (see cogmodels.cpu_kernels)", file=sys.stderr)
        _write_results(experiment, cfg, out, [ids[i] for i, r in enumerate(rows)
                                              if r["status"] in ("computed", "resumed")], rows, manifest)
    except KeyboardInterrupt:
        with _sigint_ignored():  # a second Ctrl-C must not break the clean-up
            outcomes.close()  # ends the workers
            bar.close()
            for row in rows:
                if row["status"] == "pending":
                    row["status"] = "resumed" if (unit_dir / row["id"] / "unit.json").exists() else "cancelled"
            manifest["status"] = "interrupted"
            manifest["interrupted"] = _now()
            _write_json(out / "manifest.json", manifest)
        done = sum(r["status"] in ("computed", "resumed") for r in rows)
        raise RunInterrupted(out, done, len(rows), manifest) from None
    except WorkerStartError as err:
        manifest["status"] = "failed"
        manifest["error"] = str(err)
        _write_json(out / "manifest.json", manifest)
        raise WorkerStartError(str(err)) from None
    finally:
        outcomes.close()
        bar.close()
    manifest["finished"] = _now()
    manifest["status"] = "failed" if failed or manifest.get("report_error") else "ok"
    _write_json(out / "manifest.json", manifest)
    return RunResult(out, manifest, failed)


def _write_results(experiment: Experiment, cfg: Config, out: Path, done: list[str],
                   rows: list[dict[str, Any]], manifest: dict[str, Any]) -> None:
    """Write results/ from the finished units' files, the figures and report.md.

    A report that fails is recorded in ``manifest["report_error"]``.
    """
    results = _combine([_read_unit(out / "units" / uid) for uid in done]) if done else {}
    body = "No unit succeeded: there are no results."
    if done:
        try:
            if experiment.combine is not None:
                extra = experiment.combine(cfg, dict(results))
                results.update({k: v for k, v in extra.items()})
            res_dir = out / "results"
            for name, df in results.items():
                atomic_write_bytes(res_dir / f"{name}.csv", _table_csv(df, RESULT_FLOAT_FORMAT))
                if _has_pyarrow() and df.shape[1] > 0:
                    with atomic_path(res_dir / f"{name}.parquet") as tmp:
                        df.to_parquet(tmp, index=False)
            (out / "figures").mkdir(exist_ok=True)
            body, figures = experiment.report(cfg, results, out)
            manifest["figures"] = [str(Path(f).resolve().relative_to(out.resolve())) if Path(f).is_absolute()
                                   else str(f) for f in figures]
        except Exception:
            err = traceback.format_exc()
            manifest["report_error"] = err
            body = f"The report failed:\n\n```\n{err}```"
            print(f"{experiment.name}: the report failed: {err.strip().splitlines()[-1]}", file=sys.stderr)
    atomic_write_text(out / "report.md", _report_md(experiment, cfg, body, results, rows, manifest["executor"]))


def run_suite(
    names: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    *,
    quick: bool = True,
    seed: int = 0,
    executor: str = "serial",
    workers: int | None = None,
    scheduler: str | None = None,
    threads: int | None = 1,
    progress: bool = True,
) -> Path:
    """Run several experiments into ``out/<experiment>/`` and write ``out/report.md`` linking them.

    ``names`` are experiment names (their defaults) or TOML config paths. Each experiment's
    headline (first) figure is embedded in the suite report; ``out/suite.json`` lists the
    statuses. A suite run into a folder that holds an earlier one (``cogmodels demo --only ...``
    after a full demo) keeps the earlier experiments' sections, rebuilt from their own
    manifests, in their order (this call's order when it runs them all). Returns ``out``. The
    other arguments are :func:`run_experiment`'s.
    """
    _check_not_bootstrapping()
    out = Path(out)
    configs = [_as_config(n, quick, seed) for n in names]
    order = _earlier_suite(out)
    for cfg in configs:
        run_experiment(cfg, out / cfg.experiment, executor=executor, workers=workers,
                       scheduler=scheduler, threads=threads, progress=progress)
    ran = [cfg.experiment for cfg in configs]
    order = ran if set(order) <= set(ran) else [*order, *(n for n in ran if n not in order)]
    lines = ["# cogmodels experiments", "",
             f"Seed {seed}{', quick settings' if quick else ''}; executor `{executor}`.", ""]
    manifests = {name: json.loads((out / name / "manifest.json").read_text()) for name in order}
    other = sorted({f"seed {m['seed']}{', quick' if m['quick'] else ', full'}"
                    for m in manifests.values() if (m["seed"], m["quick"]) != (seed, quick)})
    if other:
        lines += [f"Some sections below come from an earlier run into this folder ({'; '.join(other)}); "
                  f"each experiment's own report gives its settings.", ""]
    status = {}
    for name in order:
        manifest = manifests[name]
        status[name] = {"status": manifest["status"],
                        "failed_units": sorted(u["id"] for u in manifest["units"] if u["status"] == "failed")}
        lines += [f"## {name}", "", get_experiment(name).description.strip().splitlines()[0], "",
                  f"Status: {manifest['status']}. Full report: [{name}/report.md]({name}/report.md).", ""]
        figure = _headline_figure(out / name, manifest)
        if figure is not None:
            link = Path(os.path.relpath(figure.resolve(), out.resolve())).as_posix()
            lines += [f"![{name}]({link})", ""]
    atomic_write_text(out / "report.md", "\n".join(lines))
    _write_json(out / "suite.json", status)
    return out


def _headline_figure(run_dir: Path, manifest: dict[str, Any]) -> Path | None:
    """Return a run's first figure if it exists on disk (None: none).

    A figure path as the experiment gave it: absolute, relative to its run folder, or relative
    to the working directory (a relative ``out``).
    """
    figures = manifest.get("figures") or []
    if not figures:
        return None
    first = Path(figures[0])
    if not first.is_absolute():
        first = run_dir / first if (run_dir / first).exists() else Path.cwd() / first
    return first if first.is_file() else None


def _earlier_suite(out: Path) -> list[str]:
    """Return the experiments of an earlier suite run into ``out`` whose runs are still there."""
    try:
        earlier = json.loads((out / "suite.json").read_text())
    except (OSError, ValueError):
        return []
    if not isinstance(earlier, dict):
        return []
    return [name for name in earlier if isinstance(name, str)
            and (out / name / "manifest.json").is_file() and name in experiment_names()]
