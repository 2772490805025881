"""Performance metrics of closed-loop cursor BCI sessions, from the trial table.

The trial table is what :func:`cogmodels.envs.wrappers.record_session` returns for
:class:`~cogmodels.envs.bci.CursorBCI` (one row per target attempt; see
:meth:`CursorBCI.trial_row`). :func:`summarize` reduces it to one row per group (day, subject,
decoder, ...) with the usual measures of cursor-BCI papers:

- success rate and successes per minute;
- time to target (Gilja et al. 2012): target onset to the *last* entry into the target, i.e.
  including the dial-in time (last entry - first entry) and excluding the hold;
- path efficiency: net displacement / path length;
- achieved bitrate (Nuyujukian et al. 2015; Pandarinath et al. 2017; :func:`bitrate`), the
  practical form of Wolpaw et al. (2002)'s information transfer rate that charges every failure
  against a success:  ``B = log2(N - 1) max(S_c - S_i, 0) / t``;
- Fitts throughput (Gilja et al. 2012; Soukoreff & MacKenzie 2004; :func:`fitts_throughput`):
  ``TP = mean_i ID_i / T_i``, ``ID = log2(1 + D / W)`` with ``W = 2r`` the target diameter.

:func:`plot_over_days` draws the summaries against the day of drift.

References
----------
- Wolpaw et al. (2002). Brain-computer interfaces for communication and control. Clin
  Neurophysiol 113:767-791.
- Gilja et al. (2012). A high-performance neural prosthesis enabled by control algorithm design.
  Nat Neurosci 15:1752-1757.
- Nuyujukian et al. (2015). A high-performance keyboard neural prosthesis enabled by task
  optimization. IEEE Trans Biomed Eng 62:21-29.
- Pandarinath et al. (2017). High performance communication by people with paralysis using an
  intracortical brain-computer interface. eLife 6:e18554.
- Soukoreff & MacKenzie (2004). Towards a standard for pointing device evaluation, perspectives
  on 27 years of Fitts' law research in HCI. Int J Hum-Comput Stud 61:751-789.
"""

from __future__ import annotations

import numbers
from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["CENTER_OUT_TARGETS", "METRICS", "METRIC_LABELS", "bitrate", "fitts_throughput",
           "plot_over_days", "summarize", "target_indexed"]

#: number of possible targets N of the centre-out task (the bitrate's default)
CENTER_OUT_TARGETS = 8
#: the columns of :func:`summarize`'s output after the group columns
METRICS = ("n_trials", "n_success", "success_rate", "successes_per_min", "time_to_target",
           "time_to_target_sem", "path_efficiency", "dial_in_time", "bitrate", "fitts_throughput")
#: axis labels (with units) of the metrics
METRIC_LABELS = {
    "n_trials": "trials", "n_success": "successes", "success_rate": "success rate",
    "successes_per_min": "successes per minute", "time_to_target": "time to target (s)",
    "time_to_target_sem": "s.e.m. of time to target (s)", "path_efficiency": "path efficiency",
    "dial_in_time": "dial-in time (s)", "bitrate": "bitrate (bits/s)",
    "fitts_throughput": "Fitts throughput (bits/s)",
}
_REQUIRED = ("success", "trial_time", "index_of_difficulty", "path_efficiency", "dial_in_time")


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_n_targets(name: str, value: Any) -> int:
    """``value`` if it is 0 (no fixed set of targets) or an integer >= 2; else a ValueError."""
    if not (_is_int(value) and (value == 0 or value >= 2)):
        raise ValueError(f"{name} must be 0 (a task without a fixed set of targets) or an "
                         f"integer >= 2, got {value!r}")
    return int(value)


def _check_count(name: str, value: Any, low: int) -> int:
    ok = _is_int(value) and value >= low
    if not ok:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def bitrate(n_success: int, n_fail: int, seconds: float, n_targets: int) -> float:
    """Achieved bitrate (bits/s) of Nuyujukian et al. (2015) and Pandarinath et al. (2017).

    ``B = log2(N - 1) max(S_c - S_i, 0) / t``, with ``N = n_targets`` the number of possible
    targets, ``S_c = n_success``, ``S_i = n_fail`` and ``t = seconds`` the total elapsed time
    (holds included). A selection among N needs ``log2(N - 1)`` bits once each error costs one
    correction (a lower bound on Wolpaw et al. 2002's ITR assumptions); 0 when failures are at
    least as many as successes.
    """
    n_success = _check_count("n_success", n_success, 0)
    n_fail = _check_count("n_fail", n_fail, 0)
    n_targets = _check_count("n_targets", n_targets, 2)
    try:
        t = float(seconds)
    except (TypeError, ValueError):
        t = np.nan
    if not (np.isfinite(t) and t > 0):
        raise ValueError(f"seconds must be a finite number > 0, got {seconds!r}")
    return float(np.log2(n_targets - 1) * max(n_success - n_fail, 0) / t)


def fitts_throughput(index_of_difficulty: Any, time: Any) -> float:
    """Fitts throughput (bits/s): the mean over trials of ``ID_i / T_i``.

    ``ID = log2(1 + D / W)`` is the Shannon index of difficulty (Soukoreff & MacKenzie 2004),
    with ``D`` the start-to-target distance and ``W = 2r`` the target diameter; ``T`` is the time
    to target of Gilja et al. (2012): target onset to the last target entry, so the dial-in counts
    and the hold does not. The mean of per-trial ratios (not a ratio of means), with the nominal
    rather than the effective width. NaN for no trials.
    """
    ident = np.asarray(index_of_difficulty, dtype=np.float64)
    t = np.asarray(time, dtype=np.float64)
    if ident.shape != t.shape or ident.ndim > 1:
        raise ValueError(
            f"index_of_difficulty and time must be 1-D of the same length, got shapes "
            f"{ident.shape} and {t.shape}"
        )
    if not np.all(np.isfinite(ident) & (ident >= 0)):
        raise ValueError(f"index_of_difficulty must be finite numbers >= 0, got {ident!r}")
    if not np.all(np.isfinite(t) & (t > 0)):
        raise ValueError(f"time must be finite numbers > 0 (seconds), got {t!r}")
    return float(np.mean(ident / t)) if t.size else float("nan")


def _group_keys(by: Hashable | Sequence[Hashable] | None, columns: pd.Index) -> list[Hashable]:
    keys = [] if by is None else [by] if isinstance(by, str) else list(by)
    for key in keys:
        if key not in columns:
            raise ValueError(
                f"by must name columns of trials, got {key!r}; available columns: {list(columns)}"
            )
    return keys


def _check_columns(trials: pd.DataFrame, hold_time: float | None) -> None:
    required = _REQUIRED if hold_time is not None else (*_REQUIRED, "time_to_target")
    missing = [c for c in required if c not in trials.columns]
    if missing:
        raise ValueError(
            f"trials lacks the required columns {missing}; present columns: "
            f"{list(trials.columns)}"
        )


def _n_targets(trials: pd.DataFrame, n_targets: int | None) -> int:
    """``N`` of the bitrate of one group: the argument, the table's column, or 8 for centre-out indices.

    0 (argument or column) means the task has no fixed set of targets (random targets): the
    bitrate is then NaN. Negative target indices (the vector loop's ``state`` on random targets)
    are not centre-out ones. A group whose column or target indices are only partly given, or
    whose column holds several values, is refused rather than scored with one ``N``.
    """
    if n_targets is not None:
        return _check_n_targets("n_targets", n_targets)
    if "n_targets" in trials.columns and trials["n_targets"].notna().any():
        values = pd.unique(trials["n_targets"].dropna())
        if trials["n_targets"].isna().any() or len(values) > 1:
            raise ValueError(
                f"the n_targets column must hold one value in each group, on every row; got "
                f"{sorted(values.tolist())} with {int(trials['n_targets'].isna().sum())} missing "
                f"of {len(trials)} rows (summarize by a column that separates the tasks, or pass "
                f"n_targets)")
        value = values[0].item() if isinstance(values[0], np.generic) else values[0]
        if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral | bool) \
                and float(value).is_integer():
            value = int(value)  # a whole float (the column of a table with missing rows)
        return _check_n_targets("n_targets column", value)
    indexed = target_indexed(trials)
    if indexed.all():
        return CENTER_OUT_TARGETS
    if indexed.any():
        raise ValueError(
            f"state mixes target indices (>= 0) with missing or negative ones "
            f"({int((~indexed).sum())} of {len(trials)} rows) in one group: summarize by a "
            f"column that separates the tasks, or pass n_targets")
    raise ValueError(
        "n_targets (an integer >= 2, or 0 for a task without a fixed set of targets: no bitrate) "
        "is required for tables without target indices (a 'state' column that is missing, all "
        f"NaN or negative, e.g. random targets), got n_targets={n_targets!r}"
    )


def target_indexed(trials: pd.DataFrame) -> pd.Series:
    """Return which rows hold a target index (``state`` >= 0; all False without a ``state``).

    Random targets have none (``state`` NaN in a single environment's rows, -1 in the vector
    loop's): their task has no fixed set of targets.
    """
    if "state" not in trials.columns:
        return pd.Series(False, index=trials.index)
    return pd.to_numeric(trials["state"], errors="coerce") >= 0


def _time_to_target(trials: pd.DataFrame, hold_time: float | None) -> pd.Series:
    """Time to target of each trial: the column, or ``trial_time - hold_time`` on successes."""
    if hold_time is None:
        return trials["time_to_target"].astype(float)
    try:
        hold = float(hold_time)
    except (TypeError, ValueError):
        hold = np.nan
    if not (np.isfinite(hold) and hold >= 0):
        raise ValueError(f"hold_time must be a finite number >= 0 (seconds) or None, got {hold_time!r}")
    return trials["trial_time"].astype(float) - hold


def _n_errors(group: pd.DataFrame, success: np.ndarray) -> int:
    """``S_i`` of the bitrate: incorrect selections where the table has them, else failures."""
    if "wrong_selection" in group.columns:
        return int(group["wrong_selection"].fillna(False).to_numpy(dtype=bool).sum())
    return int((~success).sum())


def _summary_row(group: pd.DataFrame, ttt: pd.Series, n_targets: int) -> dict[str, float]:
    success = group["success"].to_numpy(dtype=bool)
    n, k = len(success), int(success.sum())
    seconds = float(group["trial_time"].sum())
    hits, t_hit = group[success], ttt.loc[group.index][success]
    sem = float(t_hit.std(ddof=1) / np.sqrt(k)) if k > 1 else float("nan")
    return {
        "n_trials": n,
        "n_success": k,
        "success_rate": k / n,
        "successes_per_min": k / (seconds / 60.0) if seconds > 0 else float("nan"),
        "time_to_target": float(t_hit.mean()) if k else float("nan"),
        "time_to_target_sem": sem,
        "path_efficiency": float(hits["path_efficiency"].mean()) if k else float("nan"),
        "dial_in_time": float(hits["dial_in_time"].mean()) if k else float("nan"),
        "bitrate": (bitrate(k, _n_errors(group, success), seconds, n_targets) if n_targets
                    else float("nan")),
        "fitts_throughput": fitts_throughput(hits["index_of_difficulty"], t_hit),
    }


def summarize(
    trials: pd.DataFrame,
    by: Hashable | Sequence[Hashable] | None = ("day",),
    *,
    n_targets: int | None = None,
    hold_time: float | None = None,
) -> pd.DataFrame:
    """Summarise a trial table: one row per group of ``by`` with the columns :data:`METRICS`.

    ``by=None`` gives one row for the whole table. The metrics follow the group columns:

    - ``n_trials``, ``n_success``, ``success_rate``;
    - ``successes_per_min``: successes / (sum of ``trial_time`` / 60);
    - ``time_to_target`` (mean over successes, s) and its standard error ``time_to_target_sem``;
    - ``path_efficiency``, ``dial_in_time``: means over successes;
    - ``bitrate``: :func:`bitrate` with ``t`` the summed ``trial_time`` (holds included) and
      ``N = n_targets`` (the table's ``n_targets`` column where it has one, as the grid task's
      rows do; else 8, the centre-out targets, when ``state`` holds target indices (>= 0);
      required for tables without them; 0, as the rows of clicks on random targets write it,
      for a task without a fixed set of targets: the bitrate is then NaN); ``S_i`` counts the
      incorrect selections where the table has a ``wrong_selection`` column (grid, clicks: a
      timeout selects nothing and only costs time, as in Pandarinath et al. 2017), else every
      failed trial;
    - ``fitts_throughput``: :func:`fitts_throughput` over successes, with ``time_to_target``
      (which excludes the hold, as in Gilja et al. 2012).

    ``hold_time`` (s): if given, time to target is ``trial_time - hold_time`` on successes instead
    of the ``time_to_target`` column (which is then not needed): for tables that only record trial
    durations (the simulator's successes end exactly ``hold_time`` after the last entry).
    Success-based means are NaN, and the bitrate 0 (NaN with ``N = 0``), in groups without a
    success. ``N`` is found per group, so a table of several tasks is scored by task when ``by``
    separates them.
    """
    if not isinstance(trials, pd.DataFrame):
        raise TypeError(f"trials must be a pandas DataFrame, got {type(trials).__name__}")
    if trials.empty:
        raise ValueError(f"trials is empty (0 rows); columns: {list(trials.columns)}")
    _check_columns(trials, hold_time)
    keys = _group_keys(by, trials.columns)
    if n_targets is not None:
        n_targets = _check_n_targets("n_targets", n_targets)
    trials = trials.reset_index(drop=True)  # unique labels, to align the time to target
    ttt = _time_to_target(trials, hold_time)
    if not keys:
        return pd.DataFrame([_summary_row(trials, ttt, _n_targets(trials, n_targets))],
                            columns=list(METRICS))
    rows = []
    for values, group in trials.groupby(keys, sort=True, dropna=False):
        row = _summary_row(group, ttt, _n_targets(group, n_targets))
        rows.append({**dict(zip(keys, values)), **row})
    return pd.DataFrame(rows, columns=[*keys, *METRICS])


def plot_over_days(
    summary: pd.DataFrame,
    metrics: Sequence[str] = ("successes_per_min", "time_to_target", "bitrate"),
    hue: str | None = None,
    ax: Any = None,
) -> Figure:
    """Plot ``metrics`` (one panel each) against ``day``, split by ``hue``.

    ``hue`` is e.g. a ``"decoder"`` column; several rows per day and hue are drawn as mean ± 1
    s.e.m. Axes are labelled with units (:data:`METRIC_LABELS`); the legend of ``hue`` sits right
    of the last panel.

    ``summary``: the output of :func:`summarize` (grouped by ``day``, possibly with more keys).
    ``ax``: one matplotlib Axes per metric to draw into (None: a new figure, made without pyplot,
    so it works with any backend and is never shown). Returns the figure.
    """
    import seaborn as sns
    from matplotlib.figure import Figure

    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    if not metrics:
        raise ValueError("metrics must name at least one column, got an empty sequence")
    needed = ["day", *metrics, *([hue] if hue is not None else [])]
    missing = [c for c in needed if c not in summary.columns]
    if missing:
        raise ValueError(
            f"summary lacks the columns {missing}; present columns: {list(summary.columns)}"
        )
    if ax is None:
        fig = Figure(figsize=(3.6 * len(metrics) + (1.8 if hue is not None else 0.0), 3.2),
                     layout="constrained")
        axes = list(fig.subplots(1, len(metrics), squeeze=False)[0])
    else:
        axes = list(np.atleast_1d(ax).ravel())
        if len(axes) != len(metrics):
            raise ValueError(
                f"ax must hold one Axes per metric ({len(metrics)}), got {len(axes)}"
            )
        fig = axes[0].figure
    for panel, metric in zip(axes, metrics):
        # a marker per hue level too: lines that coincide stay told apart
        style = {"style": hue, "markers": True, "dashes": False} if hue is not None else {"marker": "o"}
        sns.lineplot(data=summary, x="day", y=metric, hue=hue, errorbar="se", ax=panel, **style)
        panel.set_xlabel("day of drift")
        panel.set_ylabel(METRIC_LABELS.get(metric, metric.replace("_", " ")))
        legend = panel.get_legend()
        if legend is not None:
            legend.remove()
    if hue is not None:  # one legend, right of the last panel, where it hides no data
        axes[-1].legend(title=str(hue), loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    return fig
