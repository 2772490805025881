"""What every decoder shares: shapes, lanes, the per-bin state, the offline ``decode``, save/load.

A fitted decoder saves to two files, ``<name>.json`` (format, class, constructor arguments,
shapes) and ``<name>.npz`` (its fitted arrays and its state), and :func:`load_decoder` rebuilds
it from them — no pickle: the class is looked up by name in an allow-list and the arrays are read
with ``allow_pickle=False`` (:mod:`cogmodels.agents.saving`, which also saves the objects that
are not ``Decoder`` s: learners, adaptation rules, meta-trained networks).
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import numpy as np

from cogmodels.agents import saving
from cogmodels.agents.decoders.stats import as_lanes
from cogmodels.validation import check_is_fitted

__all__ = ["FORMAT", "Decoder", "DecoderAgent", "check_calibration", "load_decoder"]

#: the ``format`` field of a saved decoder's JSON file
FORMAT = saving.FORMAT


def check_calibration(counts: Any, velocity: Any) -> tuple[np.ndarray, np.ndarray, bool]:
    """Check a calibration block; return it with a lane axis and whether one was added.

    Counts ``(T, N)``/``(T, L, N)`` and velocities ``(T, 2)``/``(T, L, 2)`` must have matching
    ``T`` and ``L``, be finite and have at least 3 bins.
    """
    y, single = as_lanes(counts, "counts")
    x, _ = as_lanes(velocity, "velocity")
    if x.shape[:2] != y.shape[:2] or x.shape[2] != 2:
        raise ValueError(
            f"velocity must have shape {(y.shape[0], 2) if single else (*y.shape[:2], 2)} to match "
            f"counts of shape {np.shape(counts)}, got shape {np.shape(velocity)}"
        )
    if y.shape[0] < 3:
        raise ValueError(f"counts must hold at least 3 bins to fit a decoder, got {y.shape[0]}")
    if not (np.isfinite(y).all() and np.isfinite(x).all()):
        raise ValueError("counts and velocity must be finite (found NaN or inf)")
    return y, x, single


class Decoder:
    """Base class: a decoder of ``n_lanes_`` sessions at once, each with its own parameters.

    Subclasses implement :meth:`fit` (which must call :meth:`_fitted`) and :meth:`_step`, the
    decoded velocity ``(L, 2)`` of counts ``(L, N)`` given the state :attr:`velocity_`.
    """

    n_lanes_: int
    n_units_: int
    velocity_: np.ndarray
    #: fitted arrays saved and restored before the readout is rebuilt
    _model_arrays: tuple[str, ...] = ()
    #: state arrays saved and restored after it
    _state_arrays: tuple[str, ...] = ("velocity_",)
    #: state arrays :meth:`reset` zeroes in the lanes it resets (a session starts at rest)
    _reset_arrays: tuple[str, ...] = ("velocity_",)
    #: derived arrays saved as they are and restored over what :meth:`_rebuild` recomputes
    #: (when the recomputation depends on history, e.g. a warm-started Riccati solution)
    _readout_arrays: tuple[str, ...] = ()

    def fit(self, counts: Any, velocity: Any) -> Decoder:  # pragma: no cover - abstract
        """Fit on a calibration block of counts and intended velocities; return ``self``."""
        raise NotImplementedError

    def _fitted(self, n_lanes: int, n_units: int, single: bool) -> None:
        self.n_lanes_, self.n_units_, self._single = n_lanes, n_units, single
        self.velocity_ = np.zeros((n_lanes, 2))

    def _check_fitted(self) -> None:
        check_is_fitted(self, "n_units_", "fit()")

    def reset(self, mask: np.ndarray | None = None) -> Decoder:
        """Zero the decoder's state (in the lanes of ``mask``, or all): a session starts.

        The arrays named in ``_reset_arrays`` (the velocity; a filter's posterior covariance)
        are zeroed, then :meth:`_reset_state` resets what a subclass holds elsewhere.
        """
        self._check_fitted()
        lanes = slice(None) if mask is None else np.asarray(mask, dtype=bool)
        for name in self._reset_arrays:
            getattr(self, name)[lanes] = 0.0
        self._reset_state(mask)
        return self

    def _reset_state(self, mask: np.ndarray | None) -> None:
        """Reset state kept outside ``_reset_arrays`` (an inner decoder); nothing by default."""

    def step(self, counts: Any) -> np.ndarray:
        """Decode one bin: counts ``(N,)`` (a one-lane decoder) or ``(L, N)`` to a velocity.

        The velocity, ``(2,)`` or ``(L, 2)``, is a view of the state: copy it to keep it.
        """
        self._check_fitted()
        y = np.asarray(counts)
        one = y.ndim == 1
        if one:
            y = y[None]
        if y.shape != (self.n_lanes_, self.n_units_):
            want = (self.n_units_,) if self.n_lanes_ == 1 else (self.n_lanes_, self.n_units_)
            raise ValueError(f"counts must have shape {want}, got shape {np.shape(counts)}")
        self.velocity_ = self._step(y)
        return self.velocity_[0] if one else self.velocity_

    def _step(self, y: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def decode(self, counts: Any) -> np.ndarray:
        """Decode a block offline from a reset state.

        ``(T, N)`` → ``(T, 2)``, ``(T, L, N)`` → ``(T, L, 2)``. The state is reset before and
        left at the block's end.
        """
        self._check_fitted()
        y, single = as_lanes(counts)
        self.reset()
        out = np.stack([self.step(y[t]).copy() for t in range(y.shape[0])])
        return out[:, 0] if single else out

    def as_agent(self, *, gain: float = 1.0) -> DecoderAgent:
        """Return the fitted decoder as an :class:`~cogmodels.agent.Agent` (:class:`DecoderAgent`).

        Parameters
        ----------
        gain : float, default 1.0
            The output gain: the cursor moves with ``gain`` times the decoded velocity.

        Returns
        -------
        agent : DecoderAgent
        """
        return DecoderAgent(self, gain=gain)

    def get_params(self) -> dict[str, Any]:
        """Return the constructor arguments, ``{name: value}`` (scikit-learn's ``get_params``)."""
        names = list(inspect.signature(type(self).__init__).parameters)[1:]
        return {name: getattr(self, name) for name in names}

    def save(self, path: str | Path) -> Path:
        """Save the fitted decoder to ``<path>.json`` and ``<path>.npz``; return the JSON path.

        The JSON holds the format, the class, the constructor arguments, the lanes and units and
        the shape of every array; the ``.npz`` the fitted arrays (``_model_arrays``) and the
        filter state (``_state_arrays``): :func:`load_decoder` rebuilds a decoder that decodes
        what this one would. ``path`` is the files' path without suffix (a ``.json`` or
        ``.npz`` suffix is dropped); the JSON file's path is returned
        (:meth:`cogmodels.agents.saving.Saveable.save`).

        Notes
        -----
        An encoding decoder's calibration statistics ``stats_`` are saved too (arrays and
        counts), so that a calibration continued from them after a load goes on as it would have.
        """
        self._check_fitted()
        return saving.save(self, path)

    def _save_node(self, writer: saving.Writer, key: str) -> dict[str, Any]:
        """Return the decoder's JSON node; its arrays go to ``writer`` under ``key`` + name."""
        self._check_fitted()
        for name in (*self._model_arrays, *self._state_arrays, *self._readout_arrays):
            if hasattr(self, name):
                writer.array(getattr(self, name), f"{key}{name}")
        return {"class": type(self).__name__, "params": self.get_params(),
                "n_lanes": self.n_lanes_, "n_units": self.n_units_, "single": self._single,
                **self._save_extra(writer, key)}

    def _save_extra(self, writer: saving.Writer, key: str) -> dict[str, Any]:
        """Return more of the node (an inner decoder); nothing by default."""
        return {}

    @classmethod
    def _load_node(cls, node: dict[str, Any], reader: saving.Reader, key: str,
                   base: Path | None) -> Decoder:
        """Rebuild the decoder of a node written by :meth:`_save_node`.

        Every array must be numeric with one row per lane (``n_lanes``), else
        :class:`~cogmodels.agents.saving.SavedFileError`.
        """
        dec = cls(**reader.field(node, "params", dict, key))
        n_lanes, n_units = (reader.field(node, name, int, key) for name in ("n_lanes", "n_units"))
        arrays = {name: reader.array(f"{key}{name}") for name in cls._model_arrays}
        arrays.update({name: reader.array(f"{key}{name}")
                       for name in (*cls._state_arrays, *cls._readout_arrays)
                       if f"{key}{name}" in reader.arrays})
        if min(n_lanes, n_units) < 1:
            raise reader.error(key, "hold n_lanes and n_units >= 1", f"{n_lanes} and {n_units}")
        for name, a in arrays.items():
            if a.dtype.kind not in "biuf" or a.ndim == 0 or a.shape[0] != n_lanes:
                raise reader.error(f"{key}{name}", f"be numbers with a row per lane, shape "
                                   f"({n_lanes}, ...)", f"{a.dtype} of shape {a.shape}")
        dec._fitted(n_lanes, n_units, bool(reader.field(node, "single", bool, key)))
        dec._restore(arrays)
        dec._load_extra(node, reader, key, base)
        return dec

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        """Set the saved arrays: the model, then the readout (:meth:`_rebuild`), then the state."""
        for name in self._model_arrays:
            setattr(self, name, arrays[name])
        self._rebuild()
        for name in (*self._readout_arrays, *self._state_arrays):
            if name in arrays:
                setattr(self, name, arrays[name].copy(order="K"))

    def _rebuild(self) -> None:
        """Recompute what derives from the model arrays; nothing by default."""

    def _load_extra(self, node: dict[str, Any], reader: saving.Reader, key: str,
                    base: Path | None) -> None:
        """Load what :meth:`_save_extra` added (an inner decoder); nothing by default."""

    def __repr__(self) -> str:
        fitted = f"n_lanes={self.n_lanes_}, n_units={self.n_units_}" if hasattr(
            self, "n_units_") else "unfitted"
        return f"{type(self).__name__}({fitted})"


class DecoderAgent:
    """A fitted :class:`Decoder` as an :class:`~cogmodels.agent.Agent`: it drives the cursor.

    Each step the action of every lane is ``gain`` times the velocity the decoder reads from the
    lane's spike counts (``observation["obs"]``, ``(L, N)``); a lane that starts a new session
    has its decoder state reset (a session starts at rest). The decoder keeps its state itself,
    so :func:`~cogmodels.rollout.rollout` drives it in the cursor tasks, single or native vector
    (``CursorBCIVector``, ``next_step`` or ``same_step`` autoreset), like any other agent;
    :class:`~cogmodels.agents.decoders.closed_loop.ClosedLoopAgent` adds adaptation between bins
    (CLDA), assist and bias correction.

    Parameters
    ----------
    decoder : Decoder
        A fitted decoder of as many lanes as the rollout has, or a wrapper of one that decodes
        with ``step(counts)`` and restarts lanes with ``reset(mask)`` (e.g. an output scale).
    gain : float or array-like of float, default 1.0
        The output gain (> 0): one, or one per lane (the gain Wilson et al. 2023 re-sweep daily).
    """

    def __init__(self, decoder: Decoder, *, gain: float | np.ndarray = 1.0) -> None:
        if isinstance(decoder, Decoder):
            decoder._check_fitted()
        elif not (callable(getattr(decoder, "step", None)) and callable(getattr(decoder, "reset", None))):
            raise TypeError("decoder must be a fitted Decoder or a wrapper with step(counts) and "
                            f"reset(mask), got {type(decoder).__name__}")
        self.decoder = decoder
        g = np.asarray(gain, dtype=np.float64) if _numeric(gain) else np.array(np.nan)
        if not (g.ndim <= 1 and g.size and np.isfinite(g).all() and (g > 0).all()):
            raise ValueError(f"gain must be a number > 0 or one per lane, got {gain!r}")
        self.gain = float(g) if g.ndim == 0 else g
        self.name = type(decoder).__name__

    def initial_state(self, n_lanes: int) -> None:
        """Reset the decoder (every lane at rest); the decoder holds the state, so it is None."""
        if n_lanes != getattr(self.decoder, "n_lanes_", n_lanes):
            raise ValueError(f"n_lanes must be the decoder's {self.decoder.n_lanes_} lanes, got {n_lanes}")
        if np.ndim(self.gain) and np.size(self.gain) != n_lanes:
            raise ValueError(f"gain must be one number or one per lane ({n_lanes}), got {self.gain!r}")
        self._gains = np.broadcast_to(np.asarray(self.gain, dtype=np.float64), (n_lanes,))[:, None]
        self.decoder.reset()

    def act(self, observation: Any, state: None, rng: np.random.Generator) -> tuple[np.ndarray, None]:
        """Return ``gain`` times the decoded velocity of each lane, ``(L, 2)``."""
        return self._gains * self.decoder.step(observation["obs"]), state

    def learn(self, transition: Any) -> None:
        """Reset the decoder state of the lanes whose next observation starts a new session.

        Those are the lanes whose session ended on this step, or, with Gymnasium's
        ``next_step`` autoreset, the lanes this step reset (``transition.autoreset``).
        """
        if transition.autoreset is not None:
            ended = transition.autoreset
        else:
            ended = np.asarray(transition.terminated) | np.asarray(transition.truncated)
        if ended.any():
            self.decoder.reset(ended)
        return transition.state

    def __repr__(self) -> str:
        return f"DecoderAgent({self.decoder!r}, gain={self.gain})"


def _numeric(value: Any) -> bool:
    """Whether ``value`` is a real number or a sequence / array of them (not a bool, not text)."""
    try:
        a = np.asarray(value)
    except (TypeError, ValueError):
        return False
    return a.dtype.kind in "iuf"


def _decoder_classes() -> dict[str, type[Decoder]]:
    return saving.subclasses_by_name(Decoder)


def load_decoder(path: str | Path, **given: Any) -> Any:
    """Load a decoder saved by :meth:`Decoder.save`, or any object saved by ``save(path)``.

    One loader for the decoders and for what saves with them (:mod:`cogmodels.agents.saving`:
    the reward-trained and meta-trained decoders, adaptation rules, bias correction, assist,
    closed-loop agents, PRI-T models and recalibrations): the class is looked up by name in an
    allow-list and the arrays are read without pickle.

    Parameters
    ----------
    path : str or pathlib.Path
        The JSON file, the ``.npz`` file or their common path without suffix.
    **given
        Collaborators the object does not save (e.g. ``config`` of a ``ClosedLoopAgent``).

    Returns
    -------
    object
        The decoder (fitted) or object, with the saved state: it decodes, acts and learns as
        the saved one would have.

    Raises
    ------
    cogmodels.agents.saving.SavedFileError
        A ``ValueError``: when the JSON file is not a saved object of a known class, or the
        ``.npz`` does not hold the arrays it records, or a saved value does not fit (it names
        the file, the value and what is wrong).
    FileNotFoundError
        When the ``.json`` or ``.npz`` file is missing.
    """
    return saving.load(path, **given)
