"""Calling a model: load an artifact only after verifying it, run a method, return plain JSON values.

Loading a pickle runs code, so the artifact's size and sha256 are checked
against the deploy's record before ``joblib.load``, on the same open file
(a file swapped in after the check is never the one loaded).
"""

from __future__ import annotations

import hashlib
import math
import os
import warnings
from typing import TYPE_CHECKING, Any, BinaryIO

from .errors import BadInput, IntegrityError, PolicyRefusal, PredictFailed, UsageError
from .inputs import as_frame, feature_names, to_model_input

if TYPE_CHECKING:
    from .policy import Policy

METHODS = ("predict", "predict_proba", "predict_log_proba", "decision_function", "transform", "score_samples")
CHUNK = 1 << 20


def open_verified(path: str, size: int, sha256: str) -> BinaryIO:
    """Open the artifact at ``path``, check it is a regular file of the recorded size and hash.

    Raises:
        IntegrityError: a symlink, not a regular file, or a size or hash mismatch.
    """
    from .atomic import UnsafeFile, open_regular

    try:
        fd = open_regular(path)
    except FileNotFoundError:
        raise IntegrityError(f"artifact {path} is missing") from None
    except UnsafeFile as e:
        raise IntegrityError(f"artifact {path} is {e.strerror}; refusing to load it") from None
    try:
        info = os.fstat(fd)
        if info.st_size != size:
            raise IntegrityError(f"artifact {path} is {info.st_size} bytes but was {size} when deployed; refusing to load it")
        digest = hashlib.sha256()
        while chunk := os.read(fd, CHUNK):
            digest.update(chunk)
        if digest.hexdigest() != sha256:
            raise IntegrityError(
                f"artifact {path} does not match its recorded sha256 (it changed after deploy); refusing to load it"
            )
        os.lseek(fd, 0, os.SEEK_SET)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def load_verified(f: BinaryIO, path: str, code_dir: str | None = None, policy: Policy | None = None,
                  what: str = "", recorded_format: str | None = None) -> Any:
    """The model object, loaded from ``f`` (opened by ``open_verified``, closed here) by its
    format, told from its content (``formats.detect``; it must be the ``recorded_format``):
    a pickle with joblib, the version's (verified) code folder first on ``sys.path``;
    an ONNX graph with onnxruntime; a skops file with skops and an explicit list of
    trusted types.

    With a ``policy`` (``ops.integrity.load_rule``), a pickle is walked first, before a byte
    is unpickled, and refused if it imports a name the policy does not allow; then it
    is loaded by an unpickler that imports only what the policy allows. A skops file's
    types must be allowed the same way. Without one (the version is vouched for), a
    pickle loads as any pickle and a skops file with the types it names trusted.

    Raises:
        IntegrityError (exit 7): refused by the policy (``what`` names the version), or
            not in the recorded format; nothing of the artifact has run.
        PredictFailed: the artifact needs a module that cannot be imported here, or
            its runtime cannot run it.
        MissingExtra (exit 1): the format's library is not installed.
    """
    from .formats import detect
    from .usercode import put_first

    what = what or path
    with f:
        kind = detect(f)
        if recorded_format is not None and kind != recorded_format:
            raise IntegrityError(f"{what}: refusing to load it: its artifact is {kind}, but its record says "
                                 f"{recorded_format} (changed after deploy); nothing of it has run")
        if kind != "joblib":
            return _load_safe_format(f, kind, policy, what)
        put_first(code_dir)
        try:
            if policy is None:
                import joblib

                return joblib.load(f)
            return _load_allowed(f, policy, what)
        except (ModuleNotFoundError, AttributeError) as e:
            raise PredictFailed(f"cannot load {path}: {missing_code(e)}") from None


def _load_safe_format(f: BinaryIO, kind: str, policy: Policy | None, what: str) -> Any:
    """An ``onnx`` graph (it always loads: no Python of it runs), or a ``skops`` file whose
    types this reader's policy allows (all it names, for a version vouched for)."""
    from .formats import load_onnx, load_skops, skops_types

    try:
        if kind == "onnx":
            return load_onnx(f)
        types = skops_types(f)
    except ValueError as e:  # not a graph onnxruntime runs, a skops file skops cannot read
        raise PredictFailed(f"{what}: its {kind} artifact cannot be loaded: {' '.join(str(e).split())[:300]}") from None
    refused = None if policy is None else policy.first_refused(types)
    if refused is not None:
        raise PolicyRefusal(f"{what}: refusing to load it: its skops artifact needs the type {refused} trusted, "
                             f"which the load policy ({policy.mode}) does not allow; nothing of it has run. To allow "
                             f"it, {policy.how_to_allow(refused)}")
    try:
        return load_skops(f, types)
    except Exception as e:
        raise PredictFailed(f"{what}: its skops artifact cannot be loaded: {type(e).__name__}: "
                            f"{' '.join(str(e).split())[:300]}") from None


def _load_allowed(f: BinaryIO, policy: Policy, what: str) -> Any:
    from .pickles import Unreadable, imports_of
    from .policy import Refused, restricted_load

    try:
        refused = policy.first_refused(imports_of(f))
    except Unreadable as e:
        raise IntegrityError(f"{what}: refusing to load it: its artifact cannot be read as a model file ({e}), so "
                             f"what it would run cannot be told; nothing of it has run") from None
    if refused is None:
        f.seek(0)
        try:
            return restricted_load(f, policy)
        except Refused as e:
            refused = e.name
    raise PolicyRefusal(f"{what}: refusing to load it: its artifact imports {refused}, which the load policy "
                         f"({policy.mode}) does not allow; nothing of it has run. To allow it, "
                         f"{policy.how_to_allow(refused)}")


def missing_code(e: BaseException) -> str:
    """What to say when unpickling failed because the model's own code is missing."""
    if isinstance(e, ModuleNotFoundError):
        return (f"it needs the module {e.name!r}, which cannot be imported; deploy it with "
                f"--code {e.name.partition('.')[0]}.py (or its package folder)")
    text = str(e)
    if "on <module '__main__'" in text:
        return (f"{text}: the model's class was defined in the script that trained it; move the class "
                "into a module and deploy it with --code MODULE.py")
    return f"{type(e).__name__}: {text}"


def call(model: Any, payload: Any, method: str = "predict") -> list:
    """Run ``method`` of ``model`` on a predict payload; return plain JSON values, a row each.

    Raises:
        UsageError: a method outside the allow-list, or one the model lacks.
        BadInput: input the model cannot take, with what it expects.
    """
    return plain(call_raw(model, payload, method))


def call_raw(model: Any, payload: Any, method: str = "predict") -> Any:
    """``call``, its answer as the model gave it (a NumPy array, mostly): for a protocol
    that sends types and shapes (the Open Inference Protocol).

    Raises:
        UsageError, BadInput, PredictFailed: as ``call``.
    """
    if method not in METHODS:
        raise UsageError(f"unknown method {method!r}: use one of {', '.join(METHODS)}")
    function = getattr(model, method, None)
    if not callable(function):
        have = [m for m in METHODS if callable(getattr(model, m, None))]
        raise UsageError(f"the model has no {method}; it has {', '.join(have) or 'none of ' + ', '.join(METHODS)}")
    X = to_model_input(payload, model)
    try:
        with warnings.catch_warnings():
            if getattr(model, "feature_names_in_", None) is not None and not hasattr(X, "columns"):
                # The columns were put in the model's order by name (inputs._named_rows).
                warnings.filterwarnings("ignore", message="X does not have valid feature names")
            try:
                result = function(X)
            except (ValueError, TypeError, KeyError, AttributeError) as e:
                # List rows for a model that selects its columns by name (a ColumnTransformer
                # given ["petal_width", ...]): the same rows, as a table in the recorded order.
                names = feature_names(model)
                frame = as_frame(X, names) if names is not None and not hasattr(X, "columns") and \
                    getattr(X, "ndim", 0) == 2 else None
                if frame is None:
                    raise
                try:
                    result = function(frame)
                except (ValueError, TypeError, KeyError, AttributeError):
                    raise e from None
    except (ValueError, TypeError) as e:
        raise BadInput(f"the model refused the input: {' '.join(str(e).split())}") from None
    except Exception as e:
        # The model's own code failed: say so, so that it does not read like a bug in mlreg.
        raise PredictFailed(f"the model's {method} raised {type(e).__name__}: {' '.join(str(e).split())[:500]}") from None
    return result


def plain(value: Any) -> Any:
    """numpy arrays and scalars as lists and Python numbers; NaN and infinities as null."""
    if hasattr(value, "to_numpy"):  # pandas
        value = value.to_numpy()
    if hasattr(value, "tolist"):  # numpy
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def classes_of(model: Any, method: str) -> list | None:
    """The class order of ``method``'s columns, for methods that give one column a class."""
    if method not in ("predict_proba", "predict_log_proba"):
        return None  # (a binary decision_function gives one score a row, not one a class)
    classes = getattr(model, "classes_", None)
    if classes is None:
        return None
    found = plain(classes)
    return found if isinstance(found, list) else None
