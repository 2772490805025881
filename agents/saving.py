"""Save and load decoders, learners and adaptation rules as JSON + ``.npz``, never pickle.

An object saves to two files: ``<name>.json`` (the format, the class, its settings and its
scalar state, and the shape and dtype of every array) and ``<name>.npz`` (its arrays, named by
their attribute path, e.g. ``learner.W``). :func:`load` rebuilds it: the class is looked up by
name in an allow-list (the :class:`~cogmodels.agents.decoders.base.Decoder` subclasses and
:data:`SAVEABLE`), never imported from the file, and the arrays are read with
``allow_pickle=False``.

- A :class:`~cogmodels.agents.decoders.base.Decoder` saves its constructor arguments, its fitted
  arrays and its filter state (its ``_save_node`` / ``_load_node``).
- A ``torch.nn.Module`` of the allow-list saves its ``config`` (constructor arguments) and its
  ``state_dict``, one array per key.
- Any other class of :data:`SAVEABLE` saves every attribute (its settings and its state
  alike) and is rebuilt from them without calling its constructor, so a loaded object
  continues exactly as the saved one would; a class may name attributes it does not save
  (``_not_saved``: collaborators such as an environment's configuration, given back to
  :func:`load`).

Attribute values may be ``None``, numbers, strings, lists, tuples, sets, dicts, numpy arrays and
scalars, torch tensors, numpy ``Generator`` s (their ``bit_generator.state`` and ``seed_seq``,
so the random stream and its ``spawn`` continue) and ``SeedSequence`` s, and objects of the allow-list; an object reached twice
(an adaptation rule and the agent both holding the decoder) is saved once and shared again on
load.

A file that does not load (truncated or unreadable JSON, a missing or mistyped field, an array
whose shape, dtype or size is not the one recorded, a class or constructor argument that does not
fit) raises :class:`SavedFileError`, a ``ValueError`` that names the file, the saved value and
what is wrong; an ``.npz`` member must be stored uncompressed within the file and its header is
checked against the bytes it holds before the array is read, so a crafted array cannot ask for
more memory than the file holds, and a seed sequence's pool is bounded. A crafted constructor
argument (a network's hidden size) is not bounded: load files you trust.
"""

from __future__ import annotations

import importlib
import json
import math
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["FORMAT", "FORMATS", "SAVEABLE", "SavedFileError", "Saveable", "load", "read_files",
           "save", "subclasses_by_name"]

#: the ``format`` field written by :func:`save`
FORMAT = "cogmodels.decoder/2"
#: the formats :func:`load` reads (``/1``: a decoder saved before version 2, without array shapes)
FORMATS = ("cogmodels.decoder/1", FORMAT)

#: the largest seed-sequence pool a saved file may ask for (numpy's default is 4)
MAX_POOL_SIZE = 64

#: the classes besides the decoders that :func:`load` rebuilds: name -> module
SAVEABLE: dict[str, str] = {
    "ActorCriticLanes": "cogmodels.agents.reward_learners",
    "AmortisedMapDecoder": "cogmodels.agents.decoders.amortised_map",
    "AmortisedMapNet": "cogmodels.agents.decoders.amortised_map",
    "Assist": "cogmodels.agents.decoders.assist",
    "BiasCorrection": "cogmodels.agents.decoders.bias",
    "ChunkSummary": "cogmodels.agents.decoders.amortised_map",
    "ClosedLoopAgent": "cogmodels.agents.decoders.closed_loop",
    "ErrorSignalSpec": "cogmodels.envs.bci.error_signal",
    "GainBandit": "cogmodels.agents.reward_learners",
    "GaussianActorCritic": "cogmodels.agents.continuous",
    "JudgedWindow": "cogmodels.agents.decoders.map_inference",
    "MetaDecoderConfig": "cogmodels.agents.decoders.meta_rnn",
    "MetaRNNDecoder": "cogmodels.agents.decoders.meta_rnn",
    "OFCIntention": "cogmodels.agents.decoders.clda",
    "OutcomeRecalibration": "cogmodels.agents.decoders.outcome_recalibration",
    "OutcomeWeightedLanes": "cogmodels.agents.reward_learners",
    "PlasticReadoutPolicy": "cogmodels.agents.decoders.plastic_policy",
    "RML": "cogmodels.agents.decoders.clda",
    "RecurrentPolicy": "cogmodels.agents.rnn",
    "RegressionStats": "cogmodels.agents.decoders.stats",
    "RetrospectiveTargetInference": "cogmodels.agents.decoders.recalibration",
    "RewardDecoder": "cogmodels.agents.decoders.reward",
    "SmoothBatch": "cogmodels.agents.decoders.clda",
    "SpikeFeatures": "cogmodels.agents.spike_features",
    "TargetHMM": "cogmodels.agents.decoders.target_hmm",
}


class SavedFileError(ValueError):
    """A saved object's file that does not load: the message names the file and what is wrong."""


class Saveable:
    """Mixin: ``save(path)`` writes the object with :func:`save`; :func:`load` reads it back."""

    #: attributes not saved: collaborators passed back to :func:`load` (None when not given)
    _not_saved: tuple[str, ...] = ()
    #: those of :attr:`_not_saved` that :func:`load` must be given (the object cannot work
    #: without them)
    _must_be_given: tuple[str, ...] = ()

    def save(self, path: str | Path) -> Path:
        """Save to ``<path>.json`` and ``<path>.npz`` (no pickle); return the JSON path.

        Parameters
        ----------
        path : str or pathlib.Path
            The files' path without suffix (a ``.json`` or ``.npz`` suffix is dropped).

        Returns
        -------
        pathlib.Path
            The JSON file; :func:`~cogmodels.agents.saving.load` reads it and its ``.npz``.
        """
        return save(self, path)


def stem(path: str | Path) -> Path:
    """Return ``path`` without a ``.json`` / ``.npz`` suffix."""
    p = Path(path)
    return p.with_suffix("") if p.suffix in (".json", ".npz") else p


def sibling(base: Path, suffix: str) -> Path:
    """Return ``base`` with ``suffix`` appended (``run_gain0.5`` -> ``run_gain0.5.json``).

    Not ``with_suffix``, which would replace a dotted name's tail (``run_gain0.json``) and let
    two saves overwrite each other.
    """
    return base.with_name(base.name + suffix)


def save(obj: Any, path: str | Path) -> Path:
    """Save ``obj`` to ``<path>.json`` and ``<path>.npz``; return the JSON path (module docstring)."""
    base = stem(path)
    writer = Writer()
    node = writer.node(obj, "")
    np.savez(sibling(base, ".npz"), **writer.arrays)
    shapes = {k: [list(a.shape), a.dtype.str] for k, a in sorted(writer.arrays.items())}
    out = sibling(base, ".json")
    meta = {"format": FORMAT, **node, "arrays": shapes, "layouts": writer.layouts}
    out.write_text(json.dumps(meta, indent=1))
    return out


def read_files(path: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Return the checked JSON header and the arrays of a saved object.

    Raises
    ------
    FileNotFoundError
        When the JSON or the ``.npz`` file is missing.
    SavedFileError
        When the JSON is unreadable, not of a format of :data:`FORMATS` or of a known class, or
        the ``.npz`` is not an archive of arrays whose shapes and dtypes are the ones the JSON
        records (a ``ValueError``).
    """
    base = stem(path)
    files = sibling(base, ".json"), sibling(base, ".npz")
    _check_exists(files[0])
    meta = _read_json(files[0])
    got = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
    if got not in FORMATS:
        raise SavedFileError(f"path must be a decoder saved with format one of {list(FORMATS)}, "
                             f"got {got!r} in {str(files[0])!r}")
    class_named(meta.get("class"), files[0])
    recorded = got != FORMATS[0]  # format /2 records each array's shape, dtype and axis order
    if recorded:
        _check_table(meta, files[0])
    _check_exists(files[1])
    arrays = _read_npz(files[1])
    if recorded:
        _check_arrays(meta["arrays"], arrays, files)
        _check_layouts(meta["layouts"], arrays, files[0])
    return meta, arrays


def _read_json(file: Path) -> Any:
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:  # JSONDecodeError is a ValueError
        raise SavedFileError(f"the file {str(file)!r} must be a saved object's JSON header, got "
                             f"text that is not JSON ({e}): truncated or not such a file") from e


def _check_table(meta: dict[str, Any], file: Path) -> None:
    """Check that a format /2 header records ``arrays``: ``{name: [shape, dtype]}``, and ``layouts``."""
    table = meta.get("arrays")
    if not isinstance(table, dict):
        raise SavedFileError(f"the 'arrays' of {str(file)!r} must be a dict {{name: [shape, "
                             f"dtype]}}, got {type(table).__name__}")
    for name, entry in table.items():
        shape, dtype = entry if isinstance(entry, list) and len(entry) == 2 else (None, None)
        if not (isinstance(shape, list) and all(type(n) is int and n >= 0 for n in shape)
                and isinstance(dtype, str)):
            raise SavedFileError(f"the array {name!r} of {str(file)!r} must be recorded as "
                                 f"[shape, dtype] with sizes >= 0, got {entry!r}")
    if not isinstance(meta.get("layouts"), dict):
        raise SavedFileError(f"the 'layouts' of {str(file)!r} must be a dict {{name: axis "
                             f"order}}, got {type(meta.get('layouts')).__name__}")


def _read_npz(file: Path) -> dict[str, np.ndarray]:
    """Return the arrays of an ``.npz``, each header checked against its bytes before it is read."""
    fmt = np.lib.format
    arrays = {}
    try:
        size = file.stat().st_size
        with zipfile.ZipFile(file) as archive:
            members = archive.infolist()
            claimed = sum(info.file_size for info in members)
            if claimed > size:  # members can overlap: each alone within the file is not enough
                raise SavedFileError(f"the arrays of {str(file)!r} must be stored within the file "
                                     f"(numpy.savez), got members claiming {claimed} bytes in a "
                                     f"file of {size}")
            for info in members:
                name = info.filename.removesuffix(".npy")
                if (info.compress_type != zipfile.ZIP_STORED or info.file_size != info.compress_size
                        or info.header_offset + info.compress_size > size):
                    # numpy.savez stores every member as it is: a compressed member, or sizes the
                    # file cannot hold, would let a small file claim any amount of memory
                    raise SavedFileError(f"the array {name!r} of {str(file)!r} must be stored "
                                         f"uncompressed within the file (numpy.savez), got "
                                         f"compression {info.compress_type} and {info.file_size} "
                                         f"bytes in a file of {size}")
                with archive.open(info) as member:
                    version = fmt.read_magic(member)
                    read_header = {(1, 0): fmt.read_array_header_1_0,
                                   (2, 0): fmt.read_array_header_2_0}.get(version)
                    if read_header is None:
                        raise ValueError(f"the .npy version {version} of {name!r} is not read")
                    shape, _, dtype = read_header(member)
                    held = info.file_size - member.tell()
                if dtype.hasobject:
                    raise SavedFileError(f"the array {name!r} of {str(file)!r} must not need "
                                         f"pickle, got dtype {dtype}")
                if math.prod(shape) * dtype.itemsize != held:
                    raise SavedFileError(f"the array {name!r} of {str(file)!r} must hold the data "
                                         f"of its header's shape {shape} and dtype {dtype}, got "
                                         f"{held} bytes")
                with archive.open(info) as member:
                    arrays[name] = fmt.read_array(member, allow_pickle=False)
    except (OSError, EOFError, zipfile.BadZipFile, ValueError, MemoryError) as e:
        if isinstance(e, SavedFileError):
            raise
        raise SavedFileError(f"the file {str(file)!r} must be an .npz archive of the saved "
                             f"arrays (numpy.savez), got one that does not read: {e}") from e
    return arrays


def _check_exists(file: Path) -> None:
    if not file.is_file():
        raise FileNotFoundError(f"path must name a saved object's .json and .npz files, but "
                                f"{str(file)!r} does not exist")


def _check_arrays(want: dict[str, Any], arrays: dict[str, np.ndarray], files: tuple[Path, ...]
                  ) -> None:
    for name, (shape, dtype) in want.items():
        a = arrays.get(name)
        got = None if a is None else (list(a.shape), a.dtype.str)
        if got != (list(shape), dtype):
            raise SavedFileError(f"the array {name!r} of {str(files[1])!r} must have shape "
                                 f"{tuple(shape)} and dtype {dtype!r} as {files[0].name} records, "
                                 f"got {'no such array' if got is None else (tuple(got[0]), got[1])}")


def _check_layouts(layouts: dict[str, Any], arrays: dict[str, np.ndarray], file: Path) -> None:
    for name, order in layouts.items():
        ndim = arrays[name].ndim if name in arrays else None
        if ndim is None or not (isinstance(order, list) and sorted(order) == list(range(ndim))):
            raise SavedFileError(f"the layout of {name!r} in {str(file)!r} must be an order of "
                                 f"the axes of a saved array, got {order!r}"
                                 + ("" if ndim is None else f" for {ndim} axes"))


def load(path: str | Path, **given: Any) -> Any:
    """Load an object saved by :func:`save` (or a decoder's ``save``).

    Parameters
    ----------
    path : str or pathlib.Path
        The JSON file, the ``.npz`` file or their common path without suffix.
    **given
        Values of the attributes the class does not save (``_not_saved``), e.g. ``config`` of a
        :class:`~cogmodels.agents.decoders.closed_loop.ClosedLoopAgent`.

    Returns
    -------
    object
        The object, with the saved state: it continues as the saved one would have.

    Raises
    ------
    SavedFileError
        A file that is not a saved object of a known class, or whose arrays or fields do not
        match it (a ``ValueError`` naming the file and what is wrong).
    FileNotFoundError
        A missing ``.json`` or ``.npz`` file.
    TypeError
        ``given`` values the class saves itself, or missing ones it must be given.
    """
    meta, arrays = read_files(path)
    layouts = meta.get("layouts") if meta.get("format") != FORMATS[0] else None  # /1 records none
    reader = Reader(arrays, given, layouts, sibling(stem(path), ".json"))
    return reader.node(meta, "", stem(path))


def subclasses_by_name(root: type) -> dict[str, type]:
    """Return every subclass of ``root`` imported so far, theirs too, by class name.

    Of two classes with one name, the first found is kept (a saved file names its class).
    """
    out: dict[str, type] = {}
    todo = [root]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            out.setdefault(sub.__name__, sub)
            todo.append(sub)
    return out


def class_named(name: Any, file: Path | None = None) -> type:
    """Return the allow-listed class called ``name`` (a decoder or one of :data:`SAVEABLE`).

    ``file``, where the name was read, is named in the error.
    """
    import cogmodels.agents.decoders  # noqa: F401 - every decoder class, whatever was imported before
    from cogmodels.agents.decoders.base import _decoder_classes

    classes = _decoder_classes()
    if isinstance(name, str) and name in SAVEABLE:
        return getattr(importlib.import_module(SAVEABLE[name]), name)
    if isinstance(name, str) and name in classes:
        return classes[name]
    raise SavedFileError(f"the saved class must be one of {sorted({*classes, *SAVEABLE})}, got "
                         f"{name!r}" + ("" if file is None else f" in {str(file)!r}"))


def _allowed(obj: Any) -> bool:
    cls = type(obj)
    return SAVEABLE.get(cls.__name__) == cls.__module__


#: the JSON type of each tagged value's payload (:meth:`Writer.value`)
_PAYLOADS: dict[str, type] = {"$dict": dict, "$items": list, "$tuple": list, "$set": list,
                              "$array": str, "$scalar": str, "$tensor": str, "$rng": dict,
                              "$seedseq": dict, "$ref": str, "$object": dict}
#: what a class's rebuild may raise on values it does not take; named as the file's error
_REBUILD_ERRORS = (AttributeError, IndexError, KeyError, MemoryError, RuntimeError, TypeError,
                   ValueError)


class Writer:
    """Turn an object into a JSON node, collecting its arrays by attribute path."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}
        self.layouts: dict[str, list[int]] = {}
        self._seen: dict[int, str] = {}

    def array(self, value: Any, key: str) -> str:
        """Keep ``value`` as the array ``key``; return the key.

        An array that is a transposed view of a contiguous one (``np.moveaxis``) is kept
        contiguous with its axis order in :attr:`layouts`, so that it loads with the same
        strides: numpy's products may round differently on another memory layout.
        """
        if key in self.arrays:  # e.g. a dict key "b.c" beside an attribute b holding c
            raise ValueError(f"cannot save two arrays under the name {key!r}: rename the "
                             "attribute or dict key whose dotted path repeats another's")
        a = np.asarray(value)
        order = np.argsort(a.strides, kind="stable")[::-1]
        if not a.flags.c_contiguous and a.transpose(order).flags.c_contiguous:
            a = a.transpose(order)
            self.layouts[key] = order.tolist()
        self.arrays[key] = a
        return key

    def node(self, obj: Any, key: str) -> dict[str, Any]:
        """Return the JSON node of an allow-listed object (the decoder's own, a module's, attributes)."""
        self._seen[id(obj)] = key
        if hasattr(obj, "_save_node"):
            return obj._save_node(self, key)
        if not _allowed(obj):
            raise TypeError(f"cannot save {key or 'the object'}: objects of type "
                            f"{type(obj).__name__} are not saveable (allowed: "
                            f"{sorted(SAVEABLE)} and the decoders)")
        if _is_module(obj):
            return {"class": type(obj).__name__, "params": self.value(obj.config, f"{key}params"),
                    "training": obj.training,
                    "state_dict": self.value(dict(obj.state_dict()), f"{key}state_dict")}
        skip = type(obj)._not_saved if isinstance(obj, Saveable) else ()
        state = {k: v for k, v in vars(obj).items() if k not in skip}
        return {"class": type(obj).__name__,
                "state": {k: self.value(v, f"{key}{k}") for k, v in state.items()}}

    def value(self, v: Any, key: str) -> Any:
        """Return the JSON form of an attribute value (module docstring); arrays go to the npz."""
        if isinstance(v, np.generic):  # before float: np.float64 is one, and keeps its type
            if v.dtype.kind in "OV":
                raise TypeError(f"cannot save {key}: a scalar of dtype {v.dtype} needs pickle")
            return {"$scalar": self.array(v, key)}
        if v is None or isinstance(v, bool | int | float | str):
            return v
        if isinstance(v, list):
            return [self.value(x, f"{key}.{i}") for i, x in enumerate(v)]
        if isinstance(v, tuple | set | frozenset):
            kind = "$tuple" if isinstance(v, tuple) else "$set"
            items = v if isinstance(v, tuple) else sorted(v)
            return {kind: [self.value(x, f"{key}.{i}") for i, x in enumerate(items)]}
        if isinstance(v, dict):
            if all(isinstance(k, str) for k in v):
                return {"$dict": {k: self.value(x, f"{key}.{k}") for k, x in v.items()}}
            return {"$items": [[self.value(k, f"{key}.{i}k"), self.value(x, f"{key}.{i}")]
                               for i, (k, x) in enumerate(v.items())]}
        if isinstance(v, np.ndarray):
            if v.dtype.kind in "OV":
                raise TypeError(f"cannot save {key}: arrays of dtype {v.dtype} need pickle")
            return {"$array": self.array(v, key)}
        if isinstance(v, np.random.Generator):
            seq = v.bit_generator.seed_seq  # what spawn() draws children from
            return {"$rng": self.value(v.bit_generator.state, key),
                    "seed_seq": (self.value(seq, f"{key}.seed_seq")
                                 if isinstance(seq, np.random.SeedSequence) else None)}
        if isinstance(v, np.random.SeedSequence):
            return {"$seedseq": self.value({"entropy": v.entropy, "spawn_key": v.spawn_key,
                                            "pool_size": v.pool_size,
                                            "n_children_spawned": v.n_children_spawned}, key)}
        if _is_tensor(v):
            return {"$tensor": self.array(v.detach().cpu().numpy(), key),
                    "requires_grad": v.requires_grad}
        if id(v) in self._seen:
            return {"$ref": self._seen[id(v)]}
        return {"$object": self.node(v, f"{key}."), "$key": f"{key}."}


class Reader:
    """Rebuild objects from JSON nodes and the arrays of their ``.npz`` (the inverse of :class:`Writer`).

    ``file`` (the JSON file read) is named in the errors: a value that is not the one a saved
    object holds there raises :class:`SavedFileError` (:meth:`error`), as does a class whose
    rebuild fails on the saved values.
    """

    def __init__(self, arrays: dict[str, np.ndarray], given: dict[str, Any] | None = None,
                 layouts: dict[str, list[int]] | None = None, file: Path | None = None) -> None:
        self.arrays = arrays
        self.given = dict(given or {})
        self.layouts = dict(layouts or {})
        self.file = file
        self._seen: dict[str, Any] = {}

    def error(self, key: str, must: str, got: Any) -> SavedFileError:
        """Return the error: the value saved at ``key`` ``must`` be something else, ``got``."""
        where = "the saved object" if key == "" else f"the saved value {key!r}"
        file = "the saved files" if self.file is None else repr(str(self.file))
        return SavedFileError(f"{where} of {file} must {must}, got {got}")

    def field(self, node: dict[str, Any], name: str, kind: type, key: str) -> Any:
        """Return ``node[name]``, which must be a ``kind`` (an ``int`` not a ``bool``)."""
        value = node.get(name)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            got = f"no {name!r}" if name not in node else f"{type(value).__name__} {value!r:.60}"
            raise self.error(key, f"hold {name!r} ({kind.__name__})", got)
        return value

    def node(self, node: dict[str, Any], key: str, base: Path | None = None) -> Any:
        """Return the object of the JSON node written at ``key`` (its class from the allow-list)."""
        if not isinstance(node, dict):
            raise self.error(key, "be a saved object's node (a dict with its 'class')",
                             type(node).__name__)
        cls = class_named(node.get("class"), self.file)
        takes = cls._not_saved if isinstance(cls, type) and issubclass(cls, Saveable) else ()
        if key == "" and sorted(set(self.given) - set(takes)):
            raise TypeError(f"load got values for {sorted(set(self.given) - set(takes))}, which "
                            f"{cls.__name__} saves itself; it takes only {list(takes)}")
        missing = [k for k in getattr(cls, "_must_be_given", ()) if k not in self.given]
        if key == "" and missing:
            raise TypeError(f"loading a {cls.__name__} needs {missing} (not saved with it), e.g. "
                            f"load_decoder(path, {missing[0]}=env.{missing[0]})")
        try:
            obj = self._seen[key] = self._rebuild(cls, node, key, base, takes)
        except SavedFileError:
            raise
        except _REBUILD_ERRORS as e:
            raise self.error(key, f"hold values {cls.__name__} is rebuilt from",
                             f"{type(e).__name__}: {e}") from e
        return obj

    def _rebuild(self, cls: type, node: dict[str, Any], key: str, base: Path | None,
                 takes: tuple[str, ...]) -> Any:
        if hasattr(cls, "_load_node"):
            return cls._load_node(node, self, key, base)
        if _is_module_class(cls):
            module = cls(**self.value(self.field(node, "params", dict, key), f"{key}params"))
            module.load_state_dict(self.value(self.field(node, "state_dict", dict, key),
                                              f"{key}state_dict"))
            return module.train(bool(node.get("training")))
        obj = self._seen[key] = cls.__new__(cls)
        state = {k: self.value(v, f"{key}{k}")
                 for k, v in self.field(node, "state", dict, key).items()}
        given = self.given if key == "" else {}  # collaborators of the object loaded
        state.update({k: given.get(k) for k in takes})
        obj.__dict__.update(state)
        return obj

    def array(self, key: str) -> np.ndarray:
        """Return the array ``key`` (a :class:`SavedFileError` naming it when the npz lacks it)."""
        if not isinstance(key, str) or key not in self.arrays:
            raise self.error(key, "be an array of the .npz file", f"none of {sorted(self.arrays)}")
        a = self.arrays[key]
        order = self.layouts.get(key)
        return a if order is None else a.transpose(np.argsort(order))

    def value(self, v: Any, key: str = "") -> Any:
        """Return the value saved at ``key`` in a JSON form written by :meth:`Writer.value`."""
        if not isinstance(v, dict | list):
            return v
        if isinstance(v, list):
            return [self.value(x, f"{key}.{i}") for i, x in enumerate(v)]
        kind = next(iter(v), None)
        if kind not in _PAYLOADS:
            raise self.error(key, f"be a value saved by cogmodels.agents.saving (tagged one of "
                                  f"{list(_PAYLOADS)})", f"{v!r:.80}")
        payload = v[kind]
        if not isinstance(payload, _PAYLOADS[kind]):
            raise self.error(key, f"hold a {_PAYLOADS[kind].__name__} under {kind!r}",
                             type(payload).__name__)
        if kind == "$dict":
            return {k: self.value(x, f"{key}.{k}") for k, x in payload.items()}
        if kind == "$items":
            if not all(isinstance(p, list) and len(p) == 2 for p in payload):
                raise self.error(key, "hold [key, value] pairs under '$items'", f"{payload!r:.80}")
            return {self.value(k, f"{key}.{i}k"): self.value(x, f"{key}.{i}")
                    for i, (k, x) in enumerate(payload)}
        if kind in ("$tuple", "$set"):
            items = [self.value(x, f"{key}.{i}") for i, x in enumerate(payload)]
            return tuple(items) if kind == "$tuple" else set(items)
        if kind == "$array":
            return self.array(payload).copy(order="K")
        if kind == "$scalar":
            return self.array(payload)[()]
        if kind == "$rng":
            return generator(self.value(payload, key), self.value(v.get("seed_seq"), key))
        if kind == "$seedseq":
            fields = self.value(payload, key)
            pool = fields.get("pool_size", 4) if isinstance(fields, dict) else None
            if type(pool) is not int or not 4 <= pool <= MAX_POOL_SIZE:
                # the pool's mixing costs its size squared: an absurd one would hang the load
                raise self.error(key, f"hold a seed sequence of pool_size in [4, {MAX_POOL_SIZE}]",
                                 f"{pool!r:.40}")
            return np.random.SeedSequence(**fields)
        if kind == "$tensor":
            import torch

            return torch.from_numpy(self.array(payload).copy()).requires_grad_(
                bool(v.get("requires_grad")))
        if kind == "$ref":
            if payload not in self._seen:
                raise self.error(key, "refer to an object saved before it", repr(payload))
            return self._seen[payload]
        return self.node(payload, self.field(v, "$key", str, key))


def generator(state: dict[str, Any], seed_seq: np.random.SeedSequence | None = None
              ) -> np.random.Generator:
    """Return a numpy ``Generator`` at the saved ``bit_generator.state`` (its stream continues).

    Parameters
    ----------
    state : dict
        ``Generator.bit_generator.state``; ``state["bit_generator"]`` must name one of numpy's
        bit generators.
    seed_seq : numpy.random.SeedSequence, optional
        The saved generator's ``bit_generator.seed_seq``, so that ``spawn`` gives the children it
        would have given; None: a fresh one from the OS (``spawn`` is then not reproducible).
    """
    names = ("MT19937", "PCG64", "PCG64DXSM", "Philox", "SFC64")
    name = state.get("bit_generator") if isinstance(state, dict) else None
    if name not in names:
        raise ValueError(f"a saved generator's bit_generator must be one of {list(names)}, got "
                         f"{name!r}")
    bits = getattr(np.random, name)(seed_seq)
    bits.state = state
    return np.random.Generator(bits)


def _is_tensor(v: Any) -> bool:
    torch = _torch()
    return torch is not None and isinstance(v, torch.Tensor)


def _is_module(v: Any) -> bool:
    torch = _torch()
    return torch is not None and isinstance(v, torch.nn.Module)


def _is_module_class(cls: type) -> bool:
    torch = _torch()
    return torch is not None and issubclass(cls, torch.nn.Module)


def _torch() -> Any:
    """Return the torch module if it is imported (no object holds a tensor otherwise), else None."""
    import sys

    return sys.modules.get("torch")
