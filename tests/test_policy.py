"""The default load policy (SPEC §11): a pickle loads only if everything it imports is
on the allowlist, checked before a byte is unpickled and again while it loads.

Each payload would create a marker file if it ran. It is planted as an attacker with
write access to the registry would plant it: the artifact replaced and its size and
sha256 rewritten in version.toml, so that every integrity check of Part one passes.
"""

import hashlib
import importlib
import io
import json
import os
import pickle
import subprocess
import sys
import tomllib

import joblib
import numpy as np
import pytest
import tomli_w

import mlreg
from mlreg.errors import IntegrityError
from mlreg.pickles import Unreadable, imports_of

pytestmark = [pytest.mark.default_policy, pytest.mark.folder]


class _Call:
    """Pickles as ``function(*args)``: what a payload asks the unpickler to run."""

    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args

    def __call__(self, *args):  # what the pickler asks of a callable; never called here
        raise AssertionError("a payload ran in the test itself")


def _payloads(marker):
    touch = f"touch {marker}"
    code = f"open({str(marker)!r}, 'w').close()"
    getattr_chain = _Call(_Call(getattr, _Call(importlib.import_module, "os"), "system"), touch)
    from sklearn.linear_model import LogisticRegression

    estimator = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
    estimator.hidden = _Call(os.system, touch)  # inside a real estimator's attribute
    return {
        "os.system": _Call(os.system, touch),
        "exec": _Call(exec, code),
        "eval": _Call(eval, code),
        "subprocess.Popen": _Call(subprocess.Popen, ["touch", str(marker)]),
        "getattr(import_module)": getattr_chain,
        "object array": {"rows": np.array([_Call(os.system, touch), 1], dtype=object)},  # joblib's nested pickle
        "estimator attribute": estimator,
    }


def _plant(reg, name, obj, tmp_path):
    """Replace the primary's artifact of ``name`` with ``obj`` (joblib), as a writer of
    the registry could, its size and sha256 rewritten to match."""
    record = reg.status(name)
    folder = os.path.join(reg.path, "models", name, "versions", record.version)
    artifact = os.path.join(folder, record.artifact)
    os.chmod(artifact, 0o644)
    joblib.dump(obj, artifact)
    data = open(artifact, "rb").read()
    path = os.path.join(folder, "version.toml")
    meta = tomllib.loads(open(path).read())
    meta.update(size=len(data), sha256=hashlib.sha256(data).hexdigest())
    with open(path, "w") as f:
        f.write(tomli_w.dumps(meta))
    index = os.path.join(reg.path, "models", name, "versions.index.json")
    if os.path.exists(index):
        os.remove(index)


@pytest.fixture(scope="module")
def planted(tmp_path_factory, iris_model_path):
    """A registry holding a payload in each of m0, m1, ... and an honest model, "fine"."""
    tmp_path = tmp_path_factory.mktemp("planted")
    marker = tmp_path / "ran"
    reg = mlreg.Registry(tmp_path / "registry")
    names = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLREG_TEST_CHECK", "in-process")
        reg.deploy(iris_model_path, "fine")
        for i, (kind, payload) in enumerate(_payloads(marker).items()):
            name = f"m{i}"
            reg.deploy(iris_model_path, name)
            _plant(reg, name, payload, tmp_path)
            names.append((kind, name))
    assert not marker.exists()  # planting ran nothing
    return reg, names, marker


def test_every_payload_is_refused_by_the_client_and_never_runs(planted):
    reg, names, marker = planted
    for kind, name in names:
        with pytest.raises(IntegrityError, match="refusing to load it") as e:
            reg.predict(name, [[5.1, 3.5, 1.4, 0.2]])
        assert e.value.exit_code == 7 and "nothing of it has run" in str(e.value), kind
        assert not marker.exists(), f"the {kind} payload ran"


def test_every_payload_is_refused_by_the_cli_with_exit_7_naming_the_import(planted):
    reg, names, marker = planted
    for kind, name in names:
        p = subprocess.run([sys.executable, "-m", "mlreg", "--registry", reg.path, "predict", name,
                            "--input", "[[5.1, 3.5, 1.4, 0.2]]"], capture_output=True, text=True)
        assert p.returncode == 7, (kind, p.stderr)
        assert "allow_imports" in p.stderr and "Traceback" not in p.stderr, p.stderr
        assert not marker.exists(), f"the {kind} payload ran"
    p = subprocess.run([sys.executable, "-m", "mlreg", "--registry", reg.path, "predict", "m0",
                        "--input", "[[5.1, 3.5, 1.4, 0.2]]"], capture_output=True, text=True)
    assert "imports posix.system" in p.stderr or "imports os.system" in p.stderr, p.stderr


def test_the_unpickler_refuses_what_the_walk_missed(tmp_path):
    """Enforced twice: were the walk fooled, the unpickler's own lookup still refuses."""
    from mlreg.policy import Policy, Refused, restricted_load

    marker = tmp_path / "ran"
    path = tmp_path / "payload.joblib"
    joblib.dump({"rows": np.array([_Call(os.system, f"touch {marker}"), 1], dtype=object)}, path)
    with open(path, "rb") as f, pytest.raises(Refused) as e:
        restricted_load(f, Policy())
    assert e.value.name in ("posix.system", "os.system") and not marker.exists()


def test_a_pickle_that_hides_its_imports_cannot_be_walked():
    # STACK_GLOBAL with names that are not written as strings (computed from a call)
    hidden = b"\x80\x04" + b"\x8c\x08builtins\x94\x8c\x03str\x94\x93\x94)R\x94" + b"\x8c\x06system\x94\x93\x94."
    with pytest.raises(Unreadable):
        imports_of(io.BytesIO(hidden))
    with pytest.raises(Unreadable, match="persistent"):
        imports_of(io.BytesIO(b"\x80\x04\x8c\x01x\x94Q."))


def test_a_declared_length_is_never_allocated_before_it_is_read(tmp_path):
    """BYTEARRAY8 declaring 2**62 bytes, three there: refused, not a 4 EiB allocation."""
    import struct

    lying = b"\x80\x05\x96" + struct.pack("<Q", 1 << 62) + b"abc"
    (tmp_path / "lying.pkl").write_bytes(lying)
    for f in (io.BytesIO(lying), open(tmp_path / "lying.pkl", "rb")):
        with f, pytest.raises(Unreadable, match="only 3 remain"):
            imports_of(f)


def test_the_walk_reads_joblib_files_and_plain_pickles_alike(tmp_path):
    obj = {"a": np.arange(10.0), "o": np.array(["x", None], dtype=object),
           "r": np.zeros(3, dtype=[("a", "i4"), ("b", "f8")])}
    for compress in (0, 3):
        joblib.dump(obj, tmp_path / "o.joblib", compress=compress)
        with open(tmp_path / "o.joblib", "rb") as f:
            found = imports_of(f)
        assert "joblib.numpy_pickle.NumpyArrayWrapper" in found and "numpy.dtype" in found
    with open(tmp_path / "o.pkl", "wb") as f:
        pickle.dump(obj, f)
    with open(tmp_path / "o.pkl", "rb") as f:
        assert "numpy.ndarray" in imports_of(f)


def _zoo():
    import pandas as pd
    from sklearn import (calibration, cluster, compose, decomposition, discriminant_analysis, ensemble,
                         feature_extraction, feature_selection, impute, linear_model, naive_bayes, neighbors,
                         neural_network, pipeline, preprocessing, svm, tree)
    from sklearn.datasets import load_diabetes, load_iris

    X, y = load_iris(return_X_y=True)
    Xr, yr = load_diabetes(return_X_y=True)
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"]).assign(kind=np.where(y > 0, "x", "y"))
    columns = compose.ColumnTransformer([("num", preprocessing.StandardScaler(), ["a", "b", "c", "d"]),
                                         ("cat", preprocessing.OneHotEncoder(handle_unknown="ignore"), ["kind"])])
    return {
        "logistic regression": (linear_model.LogisticRegression(max_iter=500), X, y),
        "ridge": (linear_model.Ridge(), Xr, yr),
        "sgd": (linear_model.SGDClassifier(), X, y),
        "decision tree": (tree.DecisionTreeClassifier(), X, y),
        "random forest": (ensemble.RandomForestClassifier(n_estimators=5), X, y),
        "extra trees": (ensemble.ExtraTreesRegressor(n_estimators=5), Xr, yr),
        "gradient boosting": (ensemble.GradientBoostingClassifier(n_estimators=5), X, y),
        "hist gradient boosting": (ensemble.HistGradientBoostingRegressor(max_iter=5), Xr, yr),
        "adaboost": (ensemble.AdaBoostClassifier(n_estimators=5), X, y),
        "svc": (svm.SVC(probability=True), X, y),
        "linear svr": (svm.LinearSVR(), Xr, yr),
        "k neighbours (kd tree)": (neighbors.KNeighborsClassifier(algorithm="kd_tree"), X, y),
        "k neighbours (ball tree)": (neighbors.KNeighborsRegressor(algorithm="ball_tree"), Xr, yr),
        "k-means": (cluster.KMeans(n_clusters=3, n_init=1), X, None),
        "naive bayes": (naive_bayes.GaussianNB(), X, y),
        "lda": (discriminant_analysis.LinearDiscriminantAnalysis(), X, y),
        "mlp": (neural_network.MLPClassifier(max_iter=30), X, y),
        "pipeline": (pipeline.make_pipeline(impute.SimpleImputer(), preprocessing.StandardScaler(),
                                            decomposition.PCA(2), linear_model.LogisticRegression()), X, y),
        "column transformer over a DataFrame": (
            pipeline.make_pipeline(columns, linear_model.LogisticRegression(max_iter=500)), df, y),
        "select k best": (pipeline.make_pipeline(feature_selection.SelectKBest(k=2),
                                                 linear_model.LogisticRegression()), X, y),
        "calibrated": (calibration.CalibratedClassifierCV(svm.LinearSVC(), cv=3), X, y),
        "voting": (ensemble.VotingClassifier([("a", linear_model.LogisticRegression(max_iter=500)),
                                              ("b", tree.DecisionTreeClassifier())], voting="soft"), X, y),
        "tf-idf text": (pipeline.make_pipeline(feature_extraction.text.TfidfVectorizer(),
                                               linear_model.LogisticRegression()),
                        ["red apple", "green pear", "red cherry", "green apple"], [0, 1, 0, 1]),
    }


def test_the_scikit_learn_zoo_loads_under_the_default_policy_with_no_refusal(tmp_path):
    import warnings

    from mlreg.policy import Policy, restricted_load

    policy, refused = Policy(), {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        zoo = {kind: (model.fit(X) if y is None else model.fit(X, y), X) for kind, (model, X, y) in _zoo().items()}
    for kind, (model, X) in zoo.items():
        path = tmp_path / "model.joblib"
        joblib.dump(model, path)
        with open(path, "rb") as f:
            not_allowed = [name for name in imports_of(f) if not policy.allows(name)]
        if not_allowed:
            refused[kind] = not_allowed
            continue
        with open(path, "rb") as f:
            loaded = restricted_load(f, policy)
        rows = X[:5] if not isinstance(X, list) else X[:2]
        method = "predict" if hasattr(model, "predict") else "transform"
        assert np.array_equal(np.asarray(getattr(loaded, method)(rows)), np.asarray(getattr(model, method)(rows)))
    assert len(zoo) >= 15 and refused == {}


def test_a_trust_file_allows_an_import_or_vouches_for_a_version(planted, tmp_path):
    reg, names, marker = planted
    allow = tmp_path / "allow.toml"
    allow.write_text('[policy]\nallow_imports = ["fakemodels.ConstantModel"]\n')
    # A custom class: refused by default, loaded once allowed by name
    plain = mlreg.Registry(reg.path)
    import fakemodels

    plain.deploy(fakemodels.ConstantModel(3), "custom")
    with pytest.raises(IntegrityError, match="fakemodels.ConstantModel"):
        plain.predict("custom", [[1]])
    assert mlreg.Registry(reg.path, trust_file=allow).predict("custom", [[1]])["predictions"] == [3]
    # [models] vouches: the version loads as any pickle (so this payload would run: a
    # vouched-for artifact is trusted by its reader's own choice)
    sha = plain.status("custom").sha256
    vouch = tmp_path / "vouch.toml"
    vouch.write_text(f'[models]\ncustom = ["{sha}"]\n')
    assert mlreg.Registry(reg.path, trust_file=vouch).predict("custom", [[1]])["predictions"] == [3]
    safe = tmp_path / "safe.toml"
    safe.write_text('[policy]\nload = "safe-only"\n')
    with pytest.raises(IntegrityError, match="safe-only"):
        mlreg.Registry(reg.path, trust_file=safe).predict("custom", [[1]])
    assert not marker.exists()


def test_the_version_json_says_its_format_and_imports(tmp_path, iris_model_path):
    reg = mlreg.Registry(tmp_path / "registry")
    reg.deploy(iris_model_path, "iris")
    p = subprocess.run([sys.executable, "-m", "mlreg", "--registry", reg.path, "status", "iris", "--json"],
                       capture_output=True, text=True)
    shown = json.loads(p.stdout)
    assert shown["format"] == "joblib"
    assert "sklearn.linear_model._logistic.LogisticRegression" in shown["imports"]
    assert shown["imports"] == sorted(shown["imports"])


def test_a_version_with_code_loads_only_when_vouched_for(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "doubling.py").write_text("class Doubler:\n    def predict(self, rows):\n"
                                         "        return [2 * row[0] for row in rows]\n")
    subprocess.run([sys.executable, "-c", "import joblib, doubling; joblib.dump(doubling.Doubler(), 'd.joblib')"],
                   cwd=project, check=True)
    registry = str(tmp_path / "registry")

    def mlreg_(*args):
        return subprocess.run([sys.executable, "-m", "mlreg", "--registry", registry, *map(str, args)],
                              capture_output=True, text=True, cwd=project)

    deployed = json.loads(mlreg_("deploy", "d.joblib", "--name", "m", "--code", "doubling.py", "--json").stdout)
    assert deployed["imports"] == ["doubling.Doubler"]
    entry = f'{deployed["sha256"]}+{deployed["code_sha256"]}'
    p = mlreg_("predict", "m", "--input", "[[1]]")
    assert p.returncode == 7 and "--code" in p.stderr and entry in p.stderr, p.stderr
    trust = tmp_path / "trust.toml"
    trust.write_text('[policy]\nallow_imports = ["doubling.Doubler"]\n')  # allowing its class is not vouching for code
    assert mlreg_("--trust-file", trust, "predict", "m", "--input", "[[1]]").returncode == 7
    trust.write_text(f'[models]\nm = ["{entry}"]\n')
    p = mlreg_("--trust-file", trust, "predict", "m", "--input", "[[1]]")
    assert p.returncode == 0 and json.loads(p.stdout)["predictions"] == [2], p.stderr


def test_show_and_diff_show_format_and_imports(tmp_path, iris_model_path, constant_path):
    reg = mlreg.Registry(tmp_path / "registry")
    reg.deploy(iris_model_path, "m")
    reg.deploy(constant_path, "m")
    shown = subprocess.run([sys.executable, "-m", "mlreg", "--registry", reg.path, "show", "m"],
                           capture_output=True, text=True).stdout
    assert "Imports" in shown and "fakemodels.ConstantModel" in shown and "Format" in shown
    changes = {c.field: (c.a, c.b) for c in reg.diff("m", "0.1.0", "0.2.0").changes}
    assert "sklearn.linear_model._logistic.LogisticRegression" in changes["imports"][0]
    assert changes["imports"][1] == ["fakemodels.ConstantModel"]


def test_serve_refuses_each_payload_for_that_model_only(planted, iris_model_path):
    import http.client
    import re

    reg, names, marker = planted
    proc = subprocess.Popen([sys.executable, "-m", "mlreg", "--registry", reg.path, "serve", "--port", "0"],
                            stderr=subprocess.PIPE, text=True)
    try:
        port = int(re.search(r"http://127\.0\.0\.1:(\d+)", proc.stderr.readline()).group(1))

        def predict(name):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            conn.request("POST", f"/v1/models/{name}/predict", body=json.dumps({"inputs": [[5.1, 3.5, 1.4, 0.2]]}),
                         headers={"Content-Type": "application/json"})
            reply = conn.getresponse()
            return reply.status, json.loads(reply.read())

        for kind, name in names:
            status, body = predict(name)
            assert status == 500 and "refusing to load it" in body["error"], (kind, body)
            assert not marker.exists(), f"the {kind} payload ran in serve"
        assert predict("fine") == (200, {"model": "fine", "version": "0.1.0",
                                         "version_id": reg.status("fine").version_id, "predictions": [0]})
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_verify_load_proves_what_this_reader_can_call(planted, iris_model_path):
    reg, names, marker = planted
    base = [sys.executable, "-m", "mlreg", "--registry", reg.path, "verify"]
    assert subprocess.run(base, capture_output=True, text=True).returncode == 0  # the hashes match: planted well
    p = subprocess.run(base + ["--load"], capture_output=True, text=True)
    assert p.returncode == 7, p.stderr
    lines = dict(line.split("  ", 1)[1].split(" ", 1)[0:1] + [line.split("  ", 1)[0]] for line in p.stdout.splitlines())
    assert lines["fine"] == "ok" and all(lines[name] == "REFUSED" for _, name in names), p.stdout
    assert not marker.exists()
    shown = json.loads(subprocess.run(base + ["fine", "--load", "--json"], capture_output=True, text=True).stdout)
    assert [(v["model"], v["ok"], v["problem"]) for v in shown] == [("fine", True, "")]
