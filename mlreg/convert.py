"""``deploy --format onnx|skops``: convert a scikit-learn artifact, then prove parity.

Run in the deploy check's child process (``python -m mlreg.checker`` with
``convert``), with its time limit: the artifact given is loaded (it is the
deployer's own file), converted with skl2onnx or skops, written where the deploy
asked, loaded back the way a later ``predict`` will load it, and both are run on
the sample input. Parity (SPEC §11): equal labels for a classifier; probabilities
and any other output within 1e-5, absolute or relative. Anything else is an
answer that is not ok, whose reason the version's log keeps.
"""

from __future__ import annotations

import json
from typing import Any, Callable

TOLERANCE = 1e-5


def convert(artifact: str, target: str, output: str, sample_input: Any, step: Callable[[str], None]) -> dict[str, Any]:
    """Convert ``artifact`` to ``target`` ("onnx" or "skops") at ``output``; the answer's
    ``ok``, ``reason`` and ``error``."""
    import joblib

    from .formats import MissingExtra, require

    if sample_input is None:
        return {"ok": False, "reason": f"converting to {target} proves parity on the sample input, and none was "
                                       "given: give --sample-input (rows like the model's training data)"}
    try:
        require("convert-onnx" if target == "onnx" else "skops")
        require(target)
    except MissingExtra as e:
        return {"ok": False, "reason": str(e)}
    step(f"loading the artifact to convert it to {target}")
    model = joblib.load(artifact)
    from .inputs import to_model_input

    X = to_model_input(sample_input, model)
    try:
        converted = _to_onnx(model, X, output) if target == "onnx" else _to_skops(model, output)
    except Exception as e:
        return {"ok": False, "reason": f"it does not convert to {target}: {type(e).__name__}: "
                                       f"{' '.join(str(e).split())[:400]}", "error": _error(e)}
    step(f"converted to {target} with {_library(target)}")
    problem = parity(model, converted, X)
    if problem:
        return {"ok": False, "reason": f"the {target} conversion does not match the model on the sample input: "
                                       f"{problem}"}
    step(f"parity on {len(X)} sample row(s): {_matched(model, converted, X)}")
    return {"ok": True}


def _to_onnx(model: Any, X: Any, output: str) -> Any:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.base import is_classifier

    from .formats import META_CLASSES, META_FEATURES, OnnxModel

    n = getattr(model, "n_features_in_", None) or X.shape[1]
    # Probabilities as a [N, n_classes] tensor, not a list of maps, for every classifier inside
    options = {id(e): {"zipmap": False} for e in _estimators(model) if is_classifier(e)}
    graph = convert_sklearn(model, initial_types=[("X", FloatTensorType([None, int(n)]))], options=options or None)
    for key, value in ((META_CLASSES, getattr(model, "classes_", None)),
                       (META_FEATURES, getattr(model, "feature_names_in_", None))):
        if value is not None:
            entry = graph.metadata_props.add()
            entry.key, entry.value = key, json.dumps([v.item() if hasattr(v, "item") else v for v in value])
    data = graph.SerializeToString()
    with open(output, "wb") as f:
        f.write(data)
    return OnnxModel(data)


def _to_skops(model: Any, output: str) -> Any:
    import skops.io as sio

    sio.dump(model, output)
    with open(output, "rb") as f:
        data = f.read()
    return sio.loads(data, trusted=sio.get_untrusted_types(data=data))  # its own file, just written


def _estimators(model: Any) -> list[Any]:
    """The model and every estimator inside it (a pipeline's steps, a transformer's parts)."""
    found = [model]
    get_params = getattr(model, "get_params", None)
    if callable(get_params):
        found += [v for v in get_params(deep=True).values() if hasattr(v, "fit")]
    return found


def parity(model: Any, converted: Any, X: Any) -> str:
    """'' when ``converted`` answers as ``model`` does on ``X`` (SPEC §11); else how not."""
    import numpy
    from sklearn.base import is_classifier

    from .predict import plain

    expected, got = model.predict(X), converted.predict(X)
    if is_classifier(model):
        if plain(expected) != plain(got):
            rows = [i for i, (a, b) in enumerate(zip(plain(expected), plain(got))) if a != b]
            return f"labels differ on {len(rows)} row(s) (first: row {rows[0] if rows else '?'})"
    else:
        problem = _close(numpy.asarray(expected, dtype=float), numpy.asarray(got, dtype=float), "outputs")
        if problem:
            return problem
    if callable(getattr(model, "predict_proba", None)) and callable(getattr(converted, "predict_proba", None)):
        return _close(numpy.asarray(model.predict_proba(X), dtype=float),
                      numpy.asarray(converted.predict_proba(X), dtype=float), "probabilities")
    return ""


def _close(expected: Any, got: Any, what: str) -> str:
    import numpy

    if expected.shape != got.shape:
        return f"{what} have shape {got.shape}, not {expected.shape}"
    gap = numpy.abs(expected - got)
    bad = ~((gap <= TOLERANCE) | (gap <= TOLERANCE * numpy.abs(expected)))
    if bad.any():
        return f"{what} differ by up to {float(gap.max()):.3g} (more than {TOLERANCE:g}, absolute and relative)"
    return ""


def _matched(model: Any, converted: Any, X: Any) -> str:
    import numpy
    from sklearn.base import is_classifier

    said = ["labels equal"] if is_classifier(model) else []
    if callable(getattr(model, "predict_proba", None)) and callable(getattr(converted, "predict_proba", None)):
        gap = numpy.abs(numpy.asarray(model.predict_proba(X), dtype=float) -
                        numpy.asarray(converted.predict_proba(X), dtype=float)).max()
        said.append(f"probabilities within {float(gap):.2g}")
    elif not is_classifier(model):
        gap = numpy.abs(numpy.asarray(model.predict(X), dtype=float) -
                        numpy.asarray(converted.predict(X), dtype=float)).max()
        said.append(f"outputs within {float(gap):.2g}")
    return ", ".join(said)


def _library(target: str) -> str:
    from importlib import metadata

    name = "skl2onnx" if target == "onnx" else "skops"
    try:
        return f"{name} {metadata.version(name)}"
    except metadata.PackageNotFoundError:
        return name


def _error(e: BaseException) -> str:
    import traceback

    return "".join(traceback.format_exception(e)).rstrip()
