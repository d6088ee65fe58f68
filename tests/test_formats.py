"""Artifact formats (SPEC §11): joblib, skops and onnx, told by content; `deploy --format
onnx|skops` converts and proves parity; an ONNX version predicts without scikit-learn."""

import importlib.util
import json
import os
import subprocess
import sys
import tomllib

import joblib
import numpy as np
import pytest

import fakemodels
from mlreg.policy import Policy

# found without importing them: skl2onnx alone costs every test process that collects
# this module about 0.4 s of CPU
_MISSING = [m for m in ("skl2onnx", "onnxruntime", "skops") if importlib.util.find_spec(m) is None]
pytestmark = [pytest.mark.folder,
              pytest.mark.skipif(bool(_MISSING), reason=f"needs {', '.join(_MISSING)}: pip install -e '.[test]'")]


def _rows(X, n=60):
    return X[:n].tolist()


@pytest.fixture(scope="module")
def data():
    from sklearn.datasets import load_diabetes, load_iris

    Xc, yc = load_iris(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(Xc))  # every class among the first rows
    Xr, yr = load_diabetes(return_X_y=True)
    return Xc[order], yc[order], Xr, yr


def _zoo(data):
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier, RandomForestRegressor
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeRegressor

    Xc, yc, Xr, yr = data
    return {
        "logistic": (LogisticRegression(max_iter=500).fit(Xc, yc), Xc),
        "forest": (RandomForestClassifier(n_estimators=20, random_state=0).fit(Xc, yc), Xc),
        "boosting": (GradientBoostingClassifier(n_estimators=20, random_state=0).fit(Xc, yc), Xc),
        "scaled knn": (make_pipeline(StandardScaler(), KNeighborsClassifier()).fit(Xc, yc), Xc),
        "ridge": (Ridge().fit(Xr, yr), Xr),
        "tree regressor": (DecisionTreeRegressor(max_depth=6, random_state=0).fit(Xr, yr), Xr),
        "forest regressor": (RandomForestRegressor(n_estimators=10, random_state=0).fit(Xr, yr), Xr),
    }


@pytest.mark.parametrize("target", ["onnx", "skops"])
def test_conversions_match_scikit_learn_on_60_rows(cli, data, tmp_path, target):
    from sklearn.base import is_classifier

    for name, (model, X) in _zoo(data).items():
        path = tmp_path / f"{name}.joblib"
        joblib.dump(model, path)
        rows = _rows(X)
        folder = name.replace(" ", "-")
        r = cli("deploy", path, "--name", folder, "--format", target, "--sample-input", json.dumps(rows), "--json")
        assert r.exit_code == 0, (name, r.stderr)
        deployed = r.json()
        assert (deployed["format"], deployed["status"]) == (target, "active"), name
        # onnx imports nothing; a skops file names the types beyond skops' own (a tree's, a KD tree's), each
        # on the default allowlist
        if target == "onnx":
            assert deployed["imports"] == [], name
        else:
            assert Policy().first_refused(deployed["imports"]) is None, (name, deployed["imports"])
        log = cli("logs", folder, "0.1.0").stdout
        assert "parity on 60 sample row(s)" in log, log
        got = cli("predict", folder, "--input", json.dumps(rows)).json()["predictions"]
        expected = model.predict(np.asarray(rows))
        if is_classifier(model):
            assert got == expected.tolist(), name
            proba = cli("predict", folder, "--method", "predict_proba", "--input", json.dumps(rows)).json()
            assert np.allclose(proba["predictions"], model.predict_proba(np.asarray(rows)), atol=1e-5), name
        else:
            assert np.allclose(got, expected, rtol=1e-5, atol=1e-5), name


def test_a_model_that_does_not_convert_ends_deployment_failed_with_the_converters_reason(cli, data, tmp_path):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    Xc, yc, _, _ = data
    model = make_pipeline(FunctionTransformer(np.log1p), LogisticRegression(max_iter=500)).fit(Xc, yc)
    path = tmp_path / "logged.joblib"
    joblib.dump(model, path)
    r = cli("deploy", path, "--name", "m", "--format", "onnx", "--sample-input", json.dumps(_rows(Xc, 5)), "--json")
    assert r.exit_code == 5
    assert r.json()["status"] == "failed" and "FunctionTransformer is not supported" in r.json()["reason"]
    assert "does not convert to onnx" in cli("logs", "m", "0.1.0").stdout
    no_sample = cli("deploy", path, "--name", "m", "--format", "skops")
    assert no_sample.exit_code == 5 and "--sample-input" in no_sample.stderr
    assert cli("deploy", path, "--name", "m", "--format", "pickle").exit_code == 2


def test_formats_are_told_by_content_not_by_name(cli, data, tmp_path):
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    Xc, yc, _, _ = data
    model = LogisticRegression(max_iter=500).fit(Xc, yc)
    disguised = tmp_path / "model.onnx"  # a pickle, whatever its name
    joblib.dump(model, disguised)
    assert cli("deploy", disguised, "--name", "a", "--json").json()["format"] == "joblib"
    graph = tmp_path / "graph.bin"
    graph.write_bytes(to_onnx(model, Xc[:1].astype(np.float32)).SerializeToString())
    deployed = cli("deploy", graph, "--name", "b", "--json").json()
    assert (deployed["format"], deployed["imports"], deployed["framework"]) == ("onnx", [], "ONNX")
    assert cli("predict", "b", "--input", json.dumps(_rows(Xc, 3))).json()["predictions"] == \
        model.predict(Xc[:3]).tolist()


def test_an_onnx_version_predicts_without_importing_scikit_learn(cli, data, tmp_path, registry_path):
    from sklearn.ensemble import RandomForestClassifier

    Xc, yc, _, _ = data
    path = tmp_path / "forest.joblib"
    joblib.dump(RandomForestClassifier(n_estimators=10, random_state=0).fit(Xc, yc), path)
    assert cli("deploy", path, "--name", "m", "--format", "onnx", "--sample-input", json.dumps(_rows(Xc, 5))).exit_code == 0
    probe = ("import runpy, sys; sys.argv = ['mlreg', '--registry', sys.argv[1], 'predict', 'm', '--input', "
             "'[[5.1, 3.5, 1.4, 0.2]]']\n"
             "import atexit; atexit.register(lambda: print('sklearn' in sys.modules, file=sys.stderr))\n"
             "runpy.run_module('mlreg', run_name='__main__')")
    p = subprocess.run([sys.executable, "-c", probe, str(registry_path)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["predictions"] == [0]
    assert p.stderr.strip().splitlines()[-1] == "False"


def test_a_missing_runtime_is_exit_1_naming_the_pip_line(cli, data, tmp_path, registry_path):
    from skl2onnx import to_onnx
    from sklearn.linear_model import Ridge

    _, _, Xr, yr = data
    graph = tmp_path / "ridge.onnx"
    graph.write_bytes(to_onnx(Ridge().fit(Xr, yr), Xr[:1].astype(np.float32)).SerializeToString())
    assert cli("deploy", graph, "--name", "m").exit_code == 0
    blocked = ("import sys; sys.modules['onnxruntime'] = None; sys.argv = ['mlreg', '--registry', sys.argv[1], "
               "'predict', 'm', '--input', sys.argv[2]]\nimport runpy; runpy.run_module('mlreg', run_name='__main__')")
    p = subprocess.run([sys.executable, "-c", blocked, str(registry_path), json.dumps(_rows(Xr, 1))],
                       capture_output=True, text=True)
    assert p.returncode == 1 and "pip install 'mlreg[onnx]'" in p.stderr and "Traceback" not in p.stderr, p.stderr


@pytest.mark.default_policy
def test_safe_only_loads_onnx_and_skops_and_refuses_pickles(cli, data, tmp_path, monkeypatch):
    from sklearn.linear_model import LogisticRegression

    Xc, yc, _, _ = data
    path = tmp_path / "m.joblib"
    joblib.dump(LogisticRegression(max_iter=500).fit(Xc, yc), path)
    sample = json.dumps(_rows(Xc, 5))
    for name, extra in (("pickled", []), ("graph", ["--format", "onnx"]), ("skopsed", ["--format", "skops"])):
        assert cli("deploy", path, "--name", name, "--sample-input", sample, *extra).exit_code == 0
    trust = tmp_path / "trust.toml"
    trust.write_text('[policy]\nload = "safe-only"\n')
    monkeypatch.setenv("MLREG_TRUST_FILE", str(trust))
    for name in ("graph", "skopsed"):
        assert cli("predict", name, "--input", sample).exit_code == 0, name
    r = cli("predict", "pickled", "--input", sample)
    assert r.exit_code == 7 and "safe-only" in r.stderr
    assert cli("status", "pickled", "--json").json()["trusted"] is False
    assert cli("status", "graph", "--json").json()["trusted"] is True


@pytest.mark.default_policy
def test_a_pickle_recorded_as_onnx_is_refused_under_safe_only(cli, data, tmp_path, monkeypatch, registry_path):
    """A writer who relabels a pickle's format to slip it past safe-only."""
    from sklearn.linear_model import LogisticRegression

    Xc, yc, _, _ = data
    path = tmp_path / "m.joblib"
    joblib.dump(LogisticRegression(max_iter=500).fit(Xc, yc), path)
    assert cli("deploy", path, "--name", "m").exit_code == 0
    record = registry_path / "models" / "m" / "versions" / "0.1.0" / "version.toml"
    os.chmod(record, 0o644)
    record.write_text(record.read_text().replace('format = "joblib"', 'format = "onnx"'))
    index = registry_path / "models" / "m" / "versions.index.json"
    if index.exists():
        index.unlink()
    assert tomllib.loads(record.read_text())["format"] == "onnx"
    trust = tmp_path / "trust.toml"
    trust.write_text('[policy]\nload = "safe-only"\n')
    monkeypatch.setenv("MLREG_TRUST_FILE", str(trust))
    r = cli("predict", "m", "--input", json.dumps(_rows(Xc, 1)))
    assert r.exit_code == 7 and "its record says onnx" in r.stderr, r.stderr


@pytest.mark.default_policy
def test_a_skops_type_not_allowed_is_refused_and_allow_imports_lets_it_load(cli, tmp_path, monkeypatch):
    import skops.io as sio

    path = tmp_path / "constant.skops"
    sio.dump(fakemodels.ConstantModel(3), path)
    deployed = cli("deploy", path, "--name", "m", "--json").json()
    assert (deployed["format"], deployed["imports"]) == ("skops", ["fakemodels.ConstantModel"])
    r = cli("predict", "m", "--input", "[[1, 2]]")
    assert r.exit_code == 7 and "fakemodels.ConstantModel" in r.stderr and "allow_imports" in r.stderr
    trust = tmp_path / "trust.toml"
    trust.write_text('[policy]\nallow_imports = ["fakemodels.ConstantModel"]\n')
    monkeypatch.setenv("MLREG_TRUST_FILE", str(trust))
    assert cli("predict", "m", "--input", "[[1, 2]]").json()["predictions"] == [3]


def test_the_cli_runs_a_conversion_in_its_child_process(sh, data, tmp_path):
    """The real console script, the real check process: --format through the entry point."""
    from sklearn.linear_model import LogisticRegression

    Xc, yc, _, _ = data
    path = tmp_path / "m.joblib"
    joblib.dump(LogisticRegression(max_iter=500).fit(Xc, yc), path)
    r = sh("deploy", path, "--name", "m", "--format", "onnx", "--sample-input", json.dumps(_rows(Xc, 50)), "--json",
           env={"MLREG_TEST_CHECK": ""})
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["format"] == "onnx"
