"""Artifact formats (SPEC §11): ``joblib`` (a pickle: code runs when it loads), ``skops``
(``skops.io``: loaded with an explicit list of trusted types, never ``trusted=True``) and
``onnx`` (a graph onnxruntime runs: no Python of the model runs, no scikit-learn needed).

A format is told from the file's first bytes, never from its name or from what a
registry file says of it: a zip archive holding skops' ``schema.json`` is skops, a
protobuf message with an ONNX model's fields is onnx, anything else is read as a
pickle (whose own walk refuses what is not one). The libraries are optional extras,
imported only by what needs them.
"""

from __future__ import annotations

import json
import zipfile
from typing import Any, BinaryIO

from .errors import MlregError

CONVERTIBLE = ("onnx", "skops")
EXTRAS = {"onnx": ("onnxruntime", "mlreg[onnx]"), "skops": ("skops.io", "mlreg[skops]"),
          "convert-onnx": ("skl2onnx", "mlreg[onnx]")}
SUFFIX = {"joblib": ".joblib", "skops": ".skops", "onnx": ".onnx"}
# What mlreg writes into an ONNX file it converted: what the graph does not say.
META_CLASSES, META_FEATURES = "mlreg.classes", "mlreg.feature_names"


class MissingExtra(MlregError):
    """A format's library is not installed (exit 1, naming the ``pip install`` line)."""


def require(what: str) -> Any:
    """Import the library ``what`` (a key of ``EXTRAS``) needs.

    Raises:
        MissingExtra: it is not installed.
    """
    import importlib

    module, extra = EXTRAS[what]
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtra(f"this needs {module}, which is not installed: pip install '{extra}'") from None


def detect(f: BinaryIO) -> str:
    """The format of the open file ``f`` (read from its start, left at its start)."""
    f.seek(0)
    head = f.read(4)
    f.seek(0)
    try:
        if head == b"PK\x03\x04":
            try:
                with zipfile.ZipFile(f) as archive:
                    if "schema.json" in archive.namelist():
                        return "skops"
            except (zipfile.BadZipFile, OSError, ValueError):
                pass
            return "joblib"
        return "onnx" if _is_onnx(f) else "joblib"
    finally:
        f.seek(0)


def detect_path(path: str) -> str:
    with open(path, "rb") as f:
        return detect(f)


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data) or shift > 63:
            raise ValueError("a truncated varint")
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at += 1
        if not byte & 0x80:
            return value, at
        shift += 7


def _is_onnx(f: BinaryIO) -> bool:
    """Whether ``f`` reads as an ONNX ``ModelProto``: its top-level protobuf fields, walked
    to the end of the file (seeking over each field's bytes, never reading them), are well
    formed and hold an IR version (field 1, which every writer puts first) and a graph
    (field 7). A pickle begins with 0x80 or an opcode that starts no such field."""
    import os

    size = os.fstat(f.fileno()).st_size
    seen, at = set(), 0
    for _ in range(4096):  # a model has a few dozen top-level fields
        if at == size:
            return {1, 7} <= seen
        f.seek(at)
        head = f.read(20)
        try:
            key, used = _varint(head, 0)
            field, wire = key >> 3, key & 7
            if field == 0 or field > 32 or (at == 0 and key != 0x08):
                return False
            seen.add(field)
            if wire == 0:
                _, used = _varint(head, used)
            elif wire == 2:
                length, used = _varint(head, used)
                used += length
            elif wire in (1, 5):
                used += 8 if wire == 1 else 4
            else:
                return False
        except ValueError:
            return False
        at += used
        if at > size:
            return False
    return False


# ---------------------------------------------------------------- onnx

class OnnxModel:
    """An ONNX graph run by onnxruntime, with the methods mlreg calls: ``predict``, and
    ``predict_proba`` for a classifier whose graph gives probabilities. One input, a
    tensor of shape [N, n_features]; no Python of the model runs."""

    def __init__(self, data: bytes) -> None:
        runtime = require("onnx")
        options = runtime.SessionOptions()
        options.log_severity_level = 3
        self._session = runtime.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        inputs = self._session.get_inputs()
        if len(inputs) != 1:
            raise ValueError(f"the graph takes {len(inputs)} inputs; mlreg calls graphs of one [N, n_features] input")
        self._input = inputs[0]
        shape = self._input.shape
        self.n_features_in_ = shape[1] if len(shape) == 2 and isinstance(shape[1], int) else None
        self._dtype = {"tensor(double)": "float64", "tensor(int64)": "int64", "tensor(int32)": "int32",
                       "tensor(string)": "object"}.get(self._input.type, "float32")
        outputs = self._session.get_outputs()
        self._label = outputs[0].name
        self._proba = next((o.name for o in outputs[1:] if o.type.startswith("tensor(")), None)
        meta = self._session.get_modelmeta().custom_metadata_map
        self.classes_ = _meta_list(meta, META_CLASSES)
        self.feature_names_in_ = _meta_list(meta, META_FEATURES)
        if self._proba is None:  # a regressor's graph: no probabilities to give
            self.predict_proba = None  # type: ignore[method-assign]

    def __repr__(self) -> str:
        return f"OnnxModel(input {self._input.name!r} {self._input.type}, n_features={self.n_features_in_})"

    def _run(self, X: Any, output: str) -> Any:
        import numpy

        if hasattr(X, "to_numpy"):
            X = X.to_numpy()
        array = numpy.asarray(X, dtype=self._dtype)
        if array.ndim != 2:
            raise ValueError(f"the graph takes rows of {self.n_features_in_ or 'n'} features, a table of 2 dimensions")
        return self._session.run([output], {self._input.name: array})[0]

    def predict(self, X: Any) -> Any:
        result = self._run(X, self._label)
        return result.reshape(-1) if getattr(result, "ndim", 1) == 2 and result.shape[1] == 1 else result

    def predict_proba(self, X: Any) -> Any:
        return self._run(X, self._proba)


def _meta_list(meta: dict[str, str], key: str) -> Any:
    try:
        found = json.loads(meta[key])
    except (KeyError, ValueError):
        return None
    return found if isinstance(found, list) else None


def load_onnx(f: BinaryIO) -> OnnxModel:
    """Raises: MissingExtra; ValueError (onnxruntime's): not a graph it can run."""
    f.seek(0)
    return OnnxModel(f.read())


# ---------------------------------------------------------------- skops

def skops_types(f: BinaryIO) -> list[str]:
    """The types a skops file would need trusted (skops' own reading of its schema; nothing
    of the model is built), sorted.

    Raises:
        MissingExtra; ValueError: not a skops file skops can read.
    """
    sio = require("skops")
    f.seek(0)
    data = f.read()
    try:
        return sorted(sio.get_untrusted_types(data=data))
    except Exception as e:
        raise ValueError(f"skops cannot read it: {type(e).__name__}: {e}") from None


def load_skops(f: BinaryIO, trusted: list[str]) -> Any:
    """The model of a skops file, every type it needs in ``trusted`` (an explicit list:
    never ``trusted=True``).

    Raises:
        MissingExtra; skops' own errors (an untrusted type among them).
    """
    sio = require("skops")
    f.seek(0)
    return sio.loads(f.read(), trusted=list(trusted))
