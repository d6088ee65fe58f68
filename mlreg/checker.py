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


def libraries(before: set[str]) -> dict[str, str]:
    """Versions of the distributions whose modules loading the artifact imported."""
    from importlib import metadata

    loaded = {m.partition(".")[0] for m in sys.modules} - before
    loaded |= {"joblib"}
    if "numpy" in {m.partition(".")[0] for m in sys.modules}:
        loaded.add("numpy")
    owners = metadata.packages_distributions()
    found = {}
    for module in sorted(loaded):
        if module in sys.stdlib_module_names or module.startswith("_") or module == "mlreg":
            continue
        for dist in owners.get(module, []):
            try:
                found[dist] = metadata.version(dist)
            except metadata.PackageNotFoundError:
                pass
    return found


def check(artifact: str, sample_input: Any) -> dict[str, Any]:
    steps: list[tuple[str, str]] = []
    answer: dict[str, Any] = {"ok": False, "steps": steps}

    def step(text: str) -> None:
        steps.append((_now(), text))

    before = {m.partition(".")[0] for m in sys.modules}
    try:
        import joblib

        step(f"loading the artifact with joblib {joblib.__version__}")
        model = joblib.load(artifact)
    except Exception as e:
        answer.update(reason="the artifact could not be loaded", error=_error(e))
        return answer
    answer["framework"] = framework = detect_framework(model)
    answer["type"] = detect_type(model, framework)
    answer["libraries"] = libraries(before)
    answer["signature"] = signature(model)
    step(f"loaded {answer['signature']['class']} (Framework {framework}, Type {answer['type']})")
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
            answer.update(reason="predict failed on the sample input", error=_error(e))
            return answer
    else:
        step("no sample input given: predict was not run")
    answer["ok"] = True
    return answer


def _error(e: BaseException) -> str:
    return "".join(traceback.format_exception(e)).rstrip()


def main() -> None:
    # Keep the real stdout for the answer; whatever the model prints goes to stderr.
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    config = json.load(sys.stdin)
    answer = check(config["artifact"], config.get("sample_input"))
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
