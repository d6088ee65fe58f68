"""The deploy check, run as ``python -m mlreg.checker`` in a child process.

Reads ``{"artifact": PATH, "sample_input": ...}`` on stdin, loads the
artifact, finds a callable ``predict``, runs the sample input when given, and
writes one JSON answer as the last line of stdout. Anything the model prints
goes to stderr, so it cannot corrupt the answer.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import sys
import traceback
from typing import Any

FRAMEWORKS = {
    "sklearn": "scikit-learn",
    "xgboost": "XGBoost",
    "lightgbm": "LightGBM",
    "catboost": "CatBoost",
    "torch": "PyTorch",
    "tensorflow": "TensorFlow",
    "keras": "TensorFlow",
    "tf_keras": "TensorFlow",
    "statsmodels": "statsmodels",
}
MAX_LISTED = 1000  # feature names or classes kept in the signature
MAX_PARAMS = 16  # estimator parameters kept for the README


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def detect_framework(model: Any) -> str:
    """The Framework of ``model``, from the module that defines its class."""
    return FRAMEWORKS.get(type(model).__module__.partition(".")[0], "Custom")


def detect_type(model: Any, framework: str) -> str:
    """The Type of ``model``: Classification, Regression, Clustering, Transformer or Custom."""
    if framework == "scikit-learn":
        from sklearn import base

        if base.is_classifier(model):
            return "Classification"
        if base.is_regressor(model):
            return "Regression"
        is_clusterer = getattr(base, "is_clusterer", None)
        if (is_clusterer(model) if is_clusterer else getattr(model, "_estimator_type", "") == "clusterer"):
            return "Clustering"
        if hasattr(model, "transform"):
            return "Transformer"
        return "Custom"
    name = type(model).__name__
    if "Classifier" in name:
        return "Classification"
    if "Regressor" in name or "Regression" in name:
        return "Regression"
    return "Custom"


def signature(model: Any) -> dict[str, Any]:
    """What can be read of the model's inputs and outputs without calling it."""
    found: dict[str, Any] = {"class": f"{type(model).__module__}.{type(model).__qualname__}"}
    n = getattr(model, "n_features_in_", None)
    if n is not None:
        found["n_features"] = int(n)
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        found["feature_names"] = [str(x) for x in list(names)[:MAX_LISTED]]
    classes = getattr(model, "classes_", None)
    if classes is not None:
        found["classes"] = [c.item() if hasattr(c, "item") else c for c in list(classes)[:MAX_LISTED]]
        found["classes"] = [c if isinstance(c, (int, float, str, bool)) else str(c) for c in found["classes"]]
    steps = getattr(model, "steps", None)
    final = model
    if isinstance(steps, list) and steps:
        found["steps"] = [f"{name}: {type(step).__name__}" for name, step in steps if isinstance(name, str)]
        final = steps[-1][1]
    get_params = getattr(final, "get_params", None)
    if callable(get_params):
        try:
            params = get_params(deep=False)
        except Exception:
            params = {}
        simple = {str(k): v for k, v in sorted(params.items()) if isinstance(v, (int, float, str, bool))}
        try:  # keep the parameters set away from their defaults, when defaults can be had
            defaults = type(final)().get_params(deep=False)
            simple = {k: v for k, v in simple.items() if k not in defaults or defaults[k] != v}
        except Exception:
            pass
        if simple:
            found["estimator"] = type(final).__name__
            found["params"] = dict(list(simple.items())[:MAX_PARAMS])
    return found


def libraries(named: set[str]) -> dict[str, str]:
    """Versions of the distributions of the top-level modules ``named`` (those the
    pickle refers to), of joblib, and of numpy when it was loaded.

    Not every module that happened to be imported while loading: that listed
    rich, narwhals or python-dateutil, whose versions say nothing about
    whether the artifact loads the same.
    """
    from importlib import metadata

    wanted = set(named) | {"joblib"}
    if "numpy" in sys.modules:
        wanted.add("numpy")
    owners: dict[str, list[str]] | None = None  # every distribution's files: read only when needed (0.25 s)
    found = {}
    for module in sorted(wanted):
        if module in sys.stdlib_module_names or module.startswith("_") or module in ("mlreg", "__main__"):
            continue
        dist = _KNOWN_DISTRIBUTIONS.get(module, module)
        try:  # most distributions are named as their module (numpy, joblib, scipy, pandas)
            found[metadata.distribution(dist).metadata["Name"]] = metadata.version(dist)
            continue
        except metadata.PackageNotFoundError:
            pass
        if not _installed(module):
            continue  # the user's own module (a --code folder, the working directory): no distribution
        if owners is None:
            owners = metadata.packages_distributions()
        for dist in owners.get(module, []):
            try:
                found[dist] = metadata.version(dist)
            except metadata.PackageNotFoundError:
                pass
    return found


_KNOWN_DISTRIBUTIONS = {"sklearn": "scikit-learn", "skops": "skops", "onnxruntime": "onnxruntime"}


def _installed(module: str) -> bool:
    """Whether the loaded top-level ``module`` lies among the installed packages."""
    import sysconfig

    path = getattr(sys.modules.get(module), "__file__", None) or ""
    places = {sysconfig.get_paths()[k] for k in ("purelib", "platlib")}
    return any(path.startswith(place + os.sep) for place in places)


def _recording_globals() -> set[str]:
    """Record the top-level module of every class or function the pickle names.

    joblib unpickles with a subclass of ``pickle._Unpickler`` (the pure-Python
    one), whose ``find_class`` resolves each global the pickle names.
    """
    import pickle

    named: set[str] = set()
    original = pickle._Unpickler.find_class

    def find_class(self: Any, module: str, name: str) -> Any:
        named.add(module.partition(".")[0])
        return original(self, module, name)

    pickle._Unpickler.find_class = find_class  # type: ignore[method-assign]
    named_restore.append(lambda: setattr(pickle._Unpickler, "find_class", original))
    return named


named_restore: list[Any] = []  # undo the recording (a check run in-process, for tests)


# How the files joblib.load reads begin: a pickle (protocol 2 and up, or 0 and 1's
# first opcodes), or joblib's compressed forms (zlib, gzip, bz2, xz, lzma, lz4).
_PICKLE_STARTS = (b"\x80", b"(", b"c", b"]", b"}", b")", b"N", b"I", b"F", b"S", b"V", b"K", b"J", b"U", b"X")
_COMPRESSED_STARTS = (b"\x78", b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"\x5d\x00\x00", b"\x04\x22\x4d\x18")


def _not_a_pickle(artifact: str) -> str:
    """``: it is not a joblib or pickle file (it begins with ...)`` when its first bytes say
    so, else nothing: the loader's own error is the better clue."""
    try:
        with open(artifact, "rb") as f:
            start = f.read(16)
    except OSError:
        return ""
    if start.startswith(_PICKLE_STARTS + _COMPRESSED_STARTS):
        return ""
    return (f": it is not a joblib or pickle file (it begins with {start!r}); deploy the file joblib.dump "
            "or pickle.dump wrote")


def check(artifact: str, sample_input: Any, code: str | None = None,
          convert: tuple[str, str] | None = None) -> dict[str, Any]:
    """The check of one artifact, as its answer (``ok``, ``reason``, ``steps``, ...); with
    ``convert`` (a format and a path), its conversion and the proof of parity instead
    (``mlreg.convert``)."""
    try:
        if convert is not None:
            return _convert(artifact, sample_input, code, *convert)
        return _check(artifact, sample_input, code)
    finally:
        while named_restore:
            named_restore.pop()()


def _convert(artifact: str, sample_input: Any, code: str | None, target: str, output: str) -> dict[str, Any]:
    from .convert import convert

    steps: list[tuple[str, str]] = []

    def step(text: str) -> None:
        steps.append((_now(), text))

    if code:
        from .usercode import put_first

        put_first(code)
    try:
        answer = convert(artifact, target, output, sample_input, step)
    except Exception as e:
        answer = {"ok": False, "reason": f"it could not be converted to {target}: {type(e).__name__}: "
                                         f"{' '.join(str(e).split())[:300]}", "error": _error(e)}
    return {**answer, "steps": steps}


def _check(artifact: str, sample_input: Any, code: str | None = None) -> dict[str, Any]:
    steps: list[tuple[str, str]] = []
    answer: dict[str, Any] = {"ok": False, "steps": steps}

    def step(text: str) -> None:
        steps.append((_now(), text))

    if code:
        from .usercode import put_first

        put_first(code)  # from source only, as every later load
        step(f"the model's code ({', '.join(sorted(os.listdir(code)))}) is first on sys.path")
    from .formats import detect_path

    try:
        kind = detect_path(artifact)
    except OSError as e:
        answer.update(reason=f"the artifact cannot be read: {e.strerror}")
        return answer
    if kind != "joblib":
        return _check_safe_format(artifact, kind, sample_input, answer, step)
    named = _recording_globals()
    try:
        import joblib

        step(f"loading the artifact with joblib {joblib.__version__}")
        model = joblib.load(artifact)
    except (ModuleNotFoundError, AttributeError) as e:
        answer.update(reason=f"the artifact could not be loaded: {_missing_code(e, code)}", error=_error(e))
        return answer
    except Exception as e:
        answer.update(reason=f"the artifact could not be loaded{_not_a_pickle(artifact)}", error=_error(e))
        return answer
    answer["framework"] = framework = detect_framework(model)
    answer["type"] = detect_type(model, framework)
    answer["libraries"] = libraries(named)
    answer["signature"] = signature(model)
    step(f"loaded {answer['signature']['class']} (Framework {framework}, Type {answer['type']})")
    return _call_sample(model, sample_input, answer, step)


def _check_safe_format(artifact: str, kind: str, sample_input: Any, answer: dict[str, Any],
                       step: Any) -> dict[str, Any]:
    """The check of an ``onnx`` or ``skops`` artifact, loaded as a later load will load it
    (a skops file with every type it names trusted: it is the deployer's own file)."""
    from .formats import MissingExtra, load_onnx, load_skops, skops_types

    try:
        with open(artifact, "rb") as f:
            if kind == "onnx":
                step("loading the artifact (onnx) with onnxruntime")
                model = load_onnx(f)
            else:
                step("loading the artifact (skops) with skops")
                model = load_skops(f, skops_types(f))
    except MissingExtra as e:
        answer.update(reason=str(e))
        return answer
    except Exception as e:
        answer.update(reason=f"the {kind} artifact could not be loaded: {type(e).__name__}: "
                      f"{' '.join(str(e).split())[:300]}", error=_error(e))
        return answer
    if kind == "onnx":
        answer["framework"] = "ONNX"
        answer["type"] = "Classification" if getattr(model, "classes_", None) is not None else "Custom"
        answer["libraries"] = libraries({"onnxruntime", "numpy"})
    else:
        answer["framework"] = framework = detect_framework(model)
        answer["type"] = detect_type(model, framework)
        answer["libraries"] = libraries({"skops", type(model).__module__.partition(".")[0]})
    answer["signature"] = signature(model)
    step(f"loaded {answer['signature']['class']} (Framework {answer['framework']}, Type {answer['type']})")
    return _call_sample(model, sample_input, answer, step)


def _call_sample(model: Any, sample_input: Any, answer: dict[str, Any], step: Any) -> dict[str, Any]:
    if not callable(getattr(model, "predict", None)):
        answer.update(reason=f"the loaded object ({type(model).__name__}) has no callable predict")
        return answer
    step("predict is callable")
    if sample_input is not None:
        try:
            from mlreg.inputs import to_model_input

            result = model.predict(to_model_input(sample_input, model))
            step(f"sample input predicted: {len(result)} result(s)")
        except Exception as e:
            answer.update(reason=f"predict failed on the sample input: {type(e).__name__}: "
                          f"{' '.join(str(e).split())[:300]}", error=_error(e), sample_failed=True)
            return answer
    else:
        step("no sample input given: predict was not run")
    answer["ok"] = True
    return answer


def _missing_code(e: BaseException, code: str | None) -> str:
    from mlreg.predict import missing_code

    text = missing_code(e)
    if code and isinstance(e, ModuleNotFoundError):
        text += " (it is not in the code given with --code either)"
    return text


def _error(e: BaseException) -> str:
    return "".join(traceback.format_exception(e)).rstrip()


def main() -> None:
    # Keep the real stdout for the answer; whatever the model prints goes to stderr.
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    config = json.load(sys.stdin)
    convert = config.get("convert")
    answer = check(config["artifact"], config.get("sample_input"), config.get("code"),
                   None if convert is None else tuple(convert))
    out.write("\n" + json.dumps(answer, default=str) + "\n")
    out.flush()
    # The answer is out: skip unloading the model's libraries module by module
    # (about 185 ms for scikit-learn, which the deploy would wait for).
    import atexit

    sys.stderr.flush()
    atexit._run_exitfuncs()
    os._exit(0)


if __name__ == "__main__":
    main()
