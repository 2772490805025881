"""The 2-D cursor task: workspace, target sequences, hold and timeout.

Units: positions in workspace widths (the square workspace is ``[-workspace, workspace]^2``,
0.5 by default, as in Willett et al. 2019 and Wilson et al. 2023), times in seconds.

- ``"center_out"``: ``n_directions`` (8) targets on a circle of radius ``target_distance`` around
  the centre, in random order within each cycle of 8. With ``return_to_center`` every outward
  trial is followed by a trial to the central target; without it the cursor is put back at the
  centre when each trial starts.
- ``"grid"`` (Pandarinath et al. 2017; Nuyujukian et al. 2018): the workspace tiled by
  ``grid_size`` x ``grid_size`` square cells (6 x 6 by default), one of them cued at random
  (never the same twice in a row); the cursor is not re-centred. Any cell can be selected: a
  selection of another cell than the cued one is an incorrect selection, which ends the trial.
  The target "radius" is half a cell's width and "inside" means inside the square.
- ``"random_targets"`` (Fitts-style): target centres uniform in the workspace (a target lies
  wholly inside it), radii uniform in ``target_radius``; consecutive targets are at least
  ``MIN_GAP`` apart edge to edge, so no target starts under the cursor (``target_draw="spaced"``,
  the default). ``target_draw="uniform"`` draws them as Wilson et al. (2023)'s simulator does
  (``getNewTarget``): centres uniform in the whole square ``[-workspace, workspace]^2``, with no
  gap to the previous target, so a target may start under the cursor or overhang the edge.

The cursor stays inside the workspace (``walls``, the default): a step that would leave it stops
at the edge, coordinate by coordinate. With ``walls=False`` its position is unbounded, as in
Wilson et al. (2023)'s simulator (``simulateFitts_Numba`` in ``utils/simulation/simulation.py``
of github guyhwilson/nonstationarities, where ``applyWallBound`` is commented out): a decoder
that pushes the cursor away runs it off as far as it pushes, and since random targets do not
re-centre the cursor, the next trial starts wherever it went. Their task is random targets of
radius 0.075, a 0.5 s hold, a 10 s timeout, no walls and no speed limit (the environment
arguments :func:`~cogmodels.envs.bci.realism.wilson_task`, with ``v_max=None``); their target
centres are uniform in the whole square with no gap to the previous one (``target_draw="uniform"``),
ours keep each target inside the workspace and ``MIN_GAP`` from the last.
The grid needs walls (a cursor outside it is on no cell).

A trial is one target-acquisition attempt: it succeeds once the cursor has stayed inside the
target for ``hold_time`` after entering it (``hold_steps`` further bins inside, without leaving)
and fails when ``timeout`` seconds have passed without success. On the grid the same dwell on any
cell selects that cell. With ``selection="click"`` a click selects instead (any task): the user
intends to click while it believes the cursor is on the target (its forward-model estimate, see
:mod:`.user`), and the click decoder detects an intended click with hazard ``click_rate`` per
second (mean latency ``1 / click_rate``) and emits false clicks with hazard ``false_click_rate``
otherwise; a click outside the target is an incorrect selection. The two rates are illustrative,
not fitted (Pandarinath et al. 2017 decoded clicks with a discrete classifier; their error rates
differ by participant).

References
----------
- Pandarinath, C., et al. (2017). High performance communication by people with paralysis using
  an intracortical brain-computer interface. eLife 6:e18554.
- Nuyujukian, P., et al. (2018). Cortical control of a tablet computer by people with paralysis.
  PLoS ONE 13:e0204566.
- Wilson, G. H., et al. (2023). Long-term unsupervised recalibration of cursor BCIs. bioRxiv
  10.1101/2023.02.03.527022.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cogmodels.envs.bci.encoder import check_range
from cogmodels.envs.core import MAX_TRIALS
from cogmodels.validation import check_bool, check_choice, check_int, check_number

__all__ = [
    "MAX_TIMEOUT",
    "MAX_WORKSPACE",
    "MIN_GAP",
    "SELECTIONS",
    "TARGET_DRAWS",
    "TASKS",
    "TargetSchedule",
    "TaskSpec",
    "center_out_positions",
]

TASKS = ("center_out", "random_targets", "grid")
#: how a target is selected: by holding on it (dwelling, on the grid) or by a click
SELECTIONS = ("hold", "click")
#: how random targets are drawn: inside the workspace and MIN_GAP from the last, or Wilson et al.'s
#: centres uniform in the whole square
TARGET_DRAWS = ("spaced", "uniform")
#: the largest grid (cells per side)
MAX_GRID = 100
#: the largest click rate (per second)
MAX_CLICK_RATE = 1e3
#: smallest edge-to-edge gap between consecutive random targets (workspace widths)
MIN_GAP = 0.05
DEFAULT_RADIUS = {"center_out": 0.075, "random_targets": (0.04, 0.1), "grid": None}
#: the largest half-width of the workspace (workspace widths)
MAX_WORKSPACE = 100.0
#: the longest trial timeout and hold time (s)
MAX_TIMEOUT = 3600.0


@dataclass(frozen=True)
class TaskSpec:
    """Validated task configuration; times are converted to bins of ``dt``."""

    task: str
    n_trials: int
    dt: float
    workspace: float
    target_distance: float
    target_radius: tuple[float, float]
    hold_steps: int
    timeout_steps: int
    return_to_center: bool
    n_directions: int = 8
    grid_size: int = 6
    selection: str = "hold"
    click_rate: float = 5.0
    false_click_rate: float = 0.05
    walls: bool = True
    target_draw: str = "spaced"

    @classmethod
    def create(
        cls,
        task: str = "center_out",
        n_trials: int = 64,
        dt: float = 0.02,
        workspace: float = 0.5,
        target_distance: float = 0.35,
        target_radius: Any = None,
        hold_time: float = 0.5,
        timeout: float = 10.0,
        return_to_center: bool = False,
        grid_size: int = 6,
        selection: str = "hold",
        click_rate: float = 5.0,
        false_click_rate: float = 0.05,
        walls: bool = True,
        target_draw: str = "spaced",
    ) -> TaskSpec:
        """Check the task's arguments and convert times (s) to steps of ``dt``.

        ``target_radius`` None is 0.075 for centre-out targets and (0.04, 0.1) for random ones;
        on the grid it is half a cell (``workspace / grid_size``) and may not be given.
        ``grid_size`` is an int in [2, 100]; ``selection`` "hold" | "click"; ``click_rate`` and
        ``false_click_rate`` (per second) in [0, 1000]; ``walls`` (bool): whether the cursor is
        kept inside the workspace (False: its position is unbounded, as in Wilson et al. 2023's
        simulator; not with the grid); ``target_draw`` "spaced" | "uniform" (random targets only:
        Wilson et al.'s draw, centres uniform in the whole square, no gap to the last target).
        """
        task = check_choice("task", task, TASKS)
        n_trials = check_int("n_trials", n_trials, 1, MAX_TRIALS)
        dt = check_number("dt", dt, 0.01, 0.05)
        workspace = check_number("workspace", workspace, 0.0, MAX_WORKSPACE, low_open=True)
        grid_size = check_int("grid_size", grid_size, 2, MAX_GRID)
        selection = check_choice("selection", selection, SELECTIONS)
        click_rate = check_number("click_rate", click_rate, 0.0, MAX_CLICK_RATE)
        false_click_rate = check_number("false_click_rate", false_click_rate, 0.0, MAX_CLICK_RATE)
        walls = check_bool("walls", walls)
        target_draw = check_choice("target_draw", target_draw, TARGET_DRAWS)
        if target_draw != "spaced" and task != "random_targets":
            raise ValueError(
                f"target_draw applies to task='random_targets' only (the other tasks' targets are "
                f"fixed positions); leave it 'spaced', got target_draw={target_draw!r} with task={task!r}"
            )
        if task == "grid" and not walls:
            raise ValueError(
                "walls must be True with task='grid' (the grid tiles the workspace: a cursor "
                "outside it is on no cell); use task='random_targets' for an unbounded cursor, "
                "got walls=False"
            )
        if task == "grid":
            if target_radius is not None and target_radius != workspace / grid_size:
                raise ValueError(
                    f"target_radius is set by the grid (half a cell, workspace / grid_size = "
                    f"{workspace / grid_size:g}); leave it None, got {target_radius!r}"
                )
            target_radius = workspace / grid_size
        radius = check_range(
            "target_radius", DEFAULT_RADIUS[task] if target_radius is None else target_radius,
            high_bound=workspace,
        )
        target_distance = check_number(
            "target_distance", target_distance, 0.0, MAX_WORKSPACE, low_open=True
        )
        if task == "center_out" and target_distance + radius[1] > workspace:
            raise ValueError(
                f"target_distance + target_radius must fit in the workspace ({workspace}), got "
                f"target_distance={target_distance!r}, target_radius={target_radius!r}"
            )
        room = (workspace - MIN_GAP) / 3  # two targets MIN_GAP apart always fit in the workspace
        if task == "random_targets" and target_draw == "spaced" and radius[1] > room:
            raise ValueError(
                f"target_radius must be at most (workspace - MIN_GAP) / 3 = {room:g} with random "
                f"targets (room for the next target), got {target_radius!r}"
            )
        hold = check_number("hold_time", hold_time, 0.0, MAX_TIMEOUT)
        timeout_s = check_number("timeout", timeout, 0.0, MAX_TIMEOUT, low_open=True)
        hold_steps = int(round(hold / dt))
        timeout_steps = int(round(timeout_s / dt))
        if timeout_steps <= hold_steps:
            raise ValueError(
                f"timeout must be longer than hold_time, got timeout={timeout!r}, "
                f"hold_time={hold_time!r}"
            )
        return cls(task, n_trials, dt, workspace, target_distance, radius, hold_steps,
                   timeout_steps, check_bool("return_to_center", return_to_center),
                   grid_size=grid_size, selection=selection, click_rate=click_rate,
                   false_click_rate=false_click_rate, walls=walls, target_draw=target_draw)

    def arguments(self) -> dict[str, Any]:
        """Return the arguments of :meth:`create` that give this spec (times back in seconds)."""
        return {"task": self.task, "n_trials": self.n_trials, "dt": self.dt,
                "workspace": self.workspace, "target_distance": self.target_distance,
                "target_radius": self.target_radius, "hold_time": self.hold_steps * self.dt,
                "timeout": self.timeout_steps * self.dt, "return_to_center": self.return_to_center,
                "grid_size": self.grid_size, "selection": self.selection,
                "click_rate": self.click_rate, "false_click_rate": self.false_click_rate,
                "walls": self.walls, "target_draw": self.target_draw}

    def replace(self, **overrides: Any) -> TaskSpec:
        """Return this spec with some :meth:`create` arguments changed (checked again)."""
        return type(self).create(**{**self.arguments(), **overrides})

    @property
    def center_out(self) -> bool:
        """Whether the targets are the centre-out ones (else random targets)."""
        return self.task == "center_out"

    @property
    def grid(self) -> bool:
        """Whether the targets are the cells of a grid."""
        return self.task == "grid"

    @property
    def selects(self) -> bool:
        """Whether a trial can end in an incorrect selection (the grid, or clicks)."""
        return self.grid or self.selection == "click"

    @property
    def n_targets(self) -> int:
        """The number of possible targets: grid cells, centre-out directions (0: random)."""
        if self.grid:
            return self.grid_size**2
        return self.n_directions if self.center_out else 0

    def grid_centres(self) -> np.ndarray:
        """Centres of the grid's cells, ``(grid_size^2, 2)``, cell ``k`` at row ``k // G``."""
        g, w = self.grid_size, self.workspace
        c = -w + (2 * np.arange(g) + 1) * w / g
        ys, xs = np.meshgrid(c, c, indexing="ij")
        return np.stack([xs.ravel(), ys.ravel()], axis=1)

    def cell_of(self, position: np.ndarray) -> np.ndarray:
        """Index of the grid cell under each position ``(n, 2)`` (edges belong to a cell)."""
        g, w = self.grid_size, self.workspace
        ij = np.clip(np.floor((position + w) * (g / (2 * w))), 0, g - 1).astype(np.int64)
        return ij[:, 1] * g + ij[:, 0]

    @property
    def recenter(self) -> bool:
        """Whether the cursor jumps back to the centre when a trial starts."""
        return self.center_out and not self.return_to_center

    @property
    def position_bound(self) -> float:
        """The largest coordinate the cursor may reach: ``workspace`` with walls, else inf."""
        return self.workspace if self.walls else float(np.inf)


def center_out_positions(n_directions: int, distance: float) -> np.ndarray:
    """Target centres on a circle, direction ``k`` at angle ``2 pi k / n_directions``."""
    angle = 2 * np.pi * np.arange(n_directions) / n_directions
    return distance * np.stack([np.cos(angle), np.sin(angle)], axis=1)


class TargetSchedule:
    """Draws the targets of ``n`` sessions (lanes) one trial at a time, as trials end.

    Centre-out: a new random order of the ``n_directions`` every cycle; with ``return_to_center``
    the odd trials go to the centre. Random targets: uniform centres, redrawn while closer than
    ``MIN_GAP`` (edge to edge) to the previous target (``target_draw="uniform"``: centres uniform
    in the whole square, never redrawn). ``index`` is the direction (``0..7``),
    ``n_directions`` for the centre and ``-1`` for random targets.
    """

    def __init__(self, spec: TaskSpec, n: int) -> None:
        self.spec = spec
        self.order = np.zeros((n, spec.n_directions), dtype=np.int64)
        self.n_out = np.zeros(n, dtype=np.int64)  # outward targets served this session
        self.table = np.concatenate(
            [center_out_positions(spec.n_directions, spec.target_distance), np.zeros((1, 2))]
        )
        if spec.grid:
            self.table = spec.grid_centres()
        self.pos = np.zeros((n, 2))
        self.radius = np.zeros(n)
        self.index = np.zeros(n, dtype=np.int64)

    def start(self, lanes: np.ndarray, rng: np.random.Generator) -> None:
        """Start new sessions in ``lanes`` with their first target (the previous: the centre)."""
        self.n_out[lanes] = 0
        self.pos[lanes] = 0.0
        self.radius[lanes] = 0.0
        self.index[lanes] = -1
        self.advance(lanes, np.zeros(len(lanes), dtype=np.int64), rng)

    def advance(self, lanes: np.ndarray, trial: np.ndarray, rng: np.random.Generator) -> None:
        """Show trial ``trial`` (one per lane) in ``lanes``."""
        spec = self.spec
        if spec.grid:  # a random cell other than the one just cued
            prev = self.index[lanes]
            index = rng.integers(0, spec.n_targets - (prev >= 0), size=len(lanes))
            index += (prev >= 0) & (index >= prev)
            self.pos[lanes], self.index[lanes] = self.table[index], index
            self.radius[lanes] = spec.target_radius[0]
            return
        radius = rng.uniform(*spec.target_radius, size=len(lanes))
        if spec.center_out:
            outward = (trial % 2 == 0) if spec.return_to_center else np.ones(len(lanes), dtype=bool)
            out = lanes[outward]
            k = self.n_out[out] % spec.n_directions
            fresh = out[k == 0]
            if fresh.size:
                self.order[fresh] = np.argsort(rng.random((fresh.size, spec.n_directions)), axis=1)
            index = np.full(len(lanes), spec.n_directions, dtype=np.int64)
            index[outward] = self.order[out, k]
            self.n_out[out] += 1
            pos = self.table[index]
        else:
            index = np.full(len(lanes), -1, dtype=np.int64)
            pos = self._random_positions(lanes, radius, rng)
        self.pos[lanes], self.radius[lanes], self.index[lanes] = pos, radius, index

    def _random_positions(
        self, lanes: np.ndarray, radius: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        if self.spec.target_draw == "uniform":  # Wilson et al.'s getNewTarget: rand(2, 1) - 0.5
            return rng.uniform(-1.0, 1.0, size=(len(lanes), 2)) * self.spec.workspace
        lim = (self.spec.workspace - radius)[:, None]
        prev, gap = self.pos[lanes], radius + self.radius[lanes] + MIN_GAP
        pos = rng.uniform(-1.0, 1.0, size=(len(lanes), 2)) * lim
        bad = np.hypot(*(pos - prev).T) < gap
        while bad.any():
            pos[bad] = rng.uniform(-1.0, 1.0, size=(int(bad.sum()), 2)) * lim[bad]
            bad = np.hypot(*(pos - prev).T) < gap
        return pos
