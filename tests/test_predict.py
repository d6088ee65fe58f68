"""predict through the API and the CLI: equal to scikit-learn's own answers, integrity before unpickling."""

import json
import os
import pickle
import sys

import joblib
import numpy as np
import pytest

import mlreg
from conftest import fake_artifact

ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]


def _expected(path, method="predict", rows=ROWS):
    return getattr(joblib.load(path), method)(np.asarray(rows)).tolist()


def test_every_input_form_equals_sklearn(iris_reg, iris_model_path, cli, tmp_path):
    want = _expected(iris_model_path)
    assert iris_reg.predict("iris classifier", ROWS)["predictions"] == want
    assert iris_reg.predict("iris classifier", {"inputs": ROWS})["predictions"] == want
    assert cli("predict", "Iris Classifier", "--input", json.dumps(ROWS)).json()["predictions"] == want
    assert cli("predict", "iris-classifier", input=json.dumps({"inputs": ROWS})).json()["predictions"] == want
    (tmp_path / "in.json").write_text(json.dumps(ROWS))
    assert cli("predict", "iris-classifier", "--input-file", tmp_path / "in.json").json()["predictions"] == want
    (tmp_path / "in.csv").write_text("a,b,c,d\n" + "\n".join(",".join(map(str, r)) for r in ROWS) + "\n")
    assert cli("predict", "iris-classifier", "--input-file", tmp_path / "in.csv").json()["predictions"] == want
    r = cli("predict", "iris-classifier", "--input", json.dumps(ROWS), "--jsonl")
    assert [json.loads(l) for l in r.stdout.splitlines()] == [{"row": i, "prediction": p} for i, p in enumerate(want)]


def test_output_keys_and_plain_types(iris_reg, cli):
    out = cli("predict", "iris-classifier", "--input", json.dumps(ROWS)).json()
    assert list(out) == ["model", "version", "version_id", "predictions"]
    assert out["model"] == "Iris Classifier" and out["version"] == "0.1.0" and len(out["version_id"]) == 8
    assert all(type(p) is int for p in out["predictions"])


def test_predict_proba_by_version_number_and_id(iris_reg, iris_model_path, regressor_path, cli):
    v2 = iris_reg.deploy(iris_model_path, "iris classifier", promote=False)
    want = _expected(iris_model_path, "predict_proba")
    by_number = cli("predict", "iris-classifier", "--version", "0.2.0", "--method", "predict_proba", "--input", json.dumps(ROWS)).json()
    by_id = iris_reg.predict("iris-classifier", ROWS, version=v2.version_id, method="predict_proba")
    assert by_number["version"] == by_id["version"] == "0.2.0"
    assert np.allclose(by_number["predictions"], want) and np.allclose(by_id["predictions"], want)


def test_regressor_equals_sklearn(reg, regressor_path, cli):
    from sklearn.datasets import load_diabetes

    X, _ = load_diabetes(return_X_y=True)
    reg.deploy(regressor_path, "diabetes")
    rows = X[:5].tolist()
    got = cli("predict", "diabetes", "--input", json.dumps(rows)).json()["predictions"]
    assert got == pytest.approx(_expected(regressor_path, rows=rows))


def test_rows_keyed_by_feature_name(reg, tmp_path, iris, cli):
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    X, y = iris
    columns = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    model = LogisticRegression(max_iter=1000).fit(pd.DataFrame(X, columns=columns), y)
    reg.deploy(fake_artifact(tmp_path, model), "named")
    want = model.predict(pd.DataFrame(ROWS, columns=columns)).tolist()
    keyed = [dict(zip(reversed(columns), reversed(r))) for r in ROWS]  # key order must not matter
    assert reg.predict("named", keyed)["predictions"] == want
    (tmp_path / "in.csv").write_text("petal_width,petal_length,sepal_width,sepal_length\n"
                                    + "\n".join(",".join(map(str, reversed(r))) for r in ROWS))
    assert cli("predict", "named", "--input-file", tmp_path / "in.csv").json()["predictions"] == want
    r = cli("predict", "named", "--input", json.dumps([{"sepal_length": 1}]))
    assert r.exit_code == 2 and "sepal_width" in r.stderr


NO_PANDAS = """
import json, sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "pandas":
            raise ImportError("pandas is blocked for this test")
sys.meta_path.insert(0, Block())
import mlreg
reg = mlreg.Registry(sys.argv[1])
print(json.dumps(reg.predict("named", json.loads(sys.argv[2]))["predictions"]))
try:
    reg.predict("named", [{"a": "x", "b": 1, "c": 1, "d": 1}])
except mlreg.BadInput as e:
    print(e)
"""


def test_named_rows_without_pandas(reg, tmp_path, iris):
    import subprocess

    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    X, y = iris
    columns = ["a", "b", "c", "d"]
    model = LogisticRegression(max_iter=1000).fit(pd.DataFrame(X, columns=columns), y)
    reg.deploy(fake_artifact(tmp_path, model), "named")
    keyed = [dict(zip(reversed(columns), reversed(r))) for r in ROWS]
    p = subprocess.run([sys.executable, "-c", NO_PANDAS, reg.path, json.dumps(keyed)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    got, error = p.stdout.splitlines()
    assert json.loads(got) == model.predict(pd.DataFrame(ROWS, columns=columns)).tolist()
    assert "need pandas" in error and "mlreg[pandas]" in error
    assert "feature names" not in p.stderr  # the columns were put in order by name: no warning


def test_bad_input_exit_2_says_what_the_model_expects(iris_reg, cli):
    cases = {
        "[[1, 2, 3]]": "expects 4 features, got 3",
        "[[1, 2, 3, \"x\"]]": "expects numbers",
        "[1, 2, 3, 4]": "list of rows",
        "{\"rows\": []}": "inputs",
        "[]": "no rows",
        "[[1, 2, 3, 4], [1, 2]]": "different lengths",
        "not json": "not valid JSON",
    }
    for text, message in cases.items():
        r = cli("predict", "iris-classifier", "--input", text)
        assert r.exit_code == 2 and message in r.stderr, (text, r.stderr)
    r = cli("predict", "iris-classifier", "--input", "[[1,2,3,4]]", "--method", "transform")
    assert r.exit_code == 2 and "no transform" in r.stderr
    r = cli("predict", "iris-classifier", "--input", "[[1,2,3,4]]", "--method", "__class__")
    assert r.exit_code == 2 and "unknown method" in r.stderr


def test_unknown_model_or_version_exit_3_and_not_active_exit_4(iris_reg, tmp_path, cli):
    import fakemodels

    assert cli("predict", "nope", "--input", "[[1]]").exit_code == 3
    assert cli("predict", "iris-classifier", "--version", "9.0.0", "--input", "[[1,2,3,4]]").exit_code == 3
    iris_reg.deploy(fake_artifact(tmp_path, fakemodels.ConstantModel()), "np", promote=False)
    assert cli("predict", "np", "--input", "[[1]]").exit_code == 3  # no primary, no version asked
    with pytest.raises(mlreg.DeploymentFailed):
        iris_reg.deploy(fake_artifact(tmp_path, fakemodels.NoPredict()), "np")
    assert cli("predict", "np", "--version", "0.2.0", "--input", "[[1]]").exit_code == 4


class Exploit:
    """A pickle that creates a file when loaded."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def test_tampered_artifact_is_never_unpickled(iris_reg, tmp_path, cli, sh):
    marker = tmp_path / "pwned"
    artifact = os.path.join(iris_reg.path, "models", "iris-classifier", "versions", "0.1.0", "model.joblib")
    with open(artifact, "wb") as f:
        pickle.dump(Exploit(marker), f)
    r = sh("predict", "iris-classifier", "--input", json.dumps(ROWS))
    assert r.exit_code == 7 and "model.joblib" in r.stderr
    with pytest.raises(mlreg.IntegrityError):
        iris_reg.load("iris-classifier")
    assert not marker.exists()


def test_symlinked_artifact_is_refused(iris_reg, iris_model_path, cli):
    artifact = os.path.join(iris_reg.path, "models", "iris-classifier", "versions", "0.1.0", "model.joblib")
    os.unlink(artifact)
    os.symlink(iris_model_path, artifact)  # same bytes, but outside the registry
    r = cli("predict", "iris-classifier", "--input", json.dumps(ROWS))
    assert r.exit_code == 7 and "symlink" in r.stderr


def test_library_drift_is_reported_and_sklearn_warnings_kept(iris_reg, sh):
    path = os.path.join(iris_reg.path, "models", "iris-classifier", "versions", "0.1.0", "version.toml")
    text = open(path).read()
    import sklearn

    open(path, "w").write(text.replace(f'scikit-learn = "{sklearn.__version__}"', 'scikit-learn = "0.0.1"'))
    r = sh("predict", "iris-classifier", "--input", json.dumps(ROWS))
    assert r.exit_code == 0
    assert "scikit-learn 0.0.1 at deploy" in r.stderr
    status = sh("status", "iris-classifier", "--json")
    assert status.json()["environment_drift"] == [f"scikit-learn 0.0.1 at deploy, {sklearn.__version__} here"]


def test_client_round_trip(reg, iris, regressor_path):
    from sklearn.tree import DecisionTreeClassifier

    X, y = iris
    tree = DecisionTreeClassifier(random_state=0).fit(X, y)
    first = reg.deploy(tree, name="Trees")
    assert first.version == "0.1.0"
    second = reg.deploy(regressor_path, name="Trees", version_bump="PATCH")
    assert (second.version, second.primary) == ("0.1.1", True)
    assert reg.predict("trees", ROWS, version="0.1.0")["predictions"] == tree.predict(np.asarray(ROWS)).tolist()
    loaded = reg.load("trees", first.version_id)
    assert type(loaded) is DecisionTreeClassifier and (loaded.predict(X) == tree.predict(X)).all()
    with pytest.raises(mlreg.VersionNotFound) as e:
        reg.load("trees", "3.0.0")
    assert e.value.exit_code == 3
    with pytest.raises(mlreg.ModelNotFound):
        reg.predict("forest", ROWS)
    with pytest.raises(mlreg.BadInput):
        reg.predict("trees", [[1, 2]], version="0.1.0")
    assert [v.version for v in reg.versions("trees")] == ["0.1.0", "0.1.1"]
    assert reg.status("trees").version == "0.1.1"
    assert "deploy of an in-memory DecisionTreeClassifier as 'Trees'" in reg.logs("trees", "0.1.0")[0]
    assert [e.event for e in reg.history("trees")][:2] == ["deploy", "primary"]
    assert reg.promote("trees", "0.1.0", expect_primary="0.1.1").changed


@pytest.mark.parametrize("distribution", ["scikit-learn", "numpy", "joblib", "typer", "semver", "PyYAML", "markdown-it-py",
                                          "tomli-w", "mlreg"])
def test_installed_version_reads_what_importlib_metadata_reads(distribution):
    """Drift reads the Version header itself (fast); it must agree with importlib.metadata."""
    from importlib import metadata

    from mlreg import environment

    assert environment.installed_version(distribution) == metadata.version(distribution)
    assert environment.installed_version("no-such-distribution-mlreg") is None


def test_predict_through_the_console_script_exits_fast_but_whole(iris_reg, sh):
    """The console script leaves without unloading scikit-learn (cli._exit): the
    output must still be complete and the exit codes those of SPEC §3."""
    rows = ROWS * 200
    r = sh("predict", "iris-classifier", "--input", json.dumps(rows), "--jsonl")
    assert r.exit_code == 0 and r.stderr == ""
    lines = r.stdout.splitlines()
    assert len(lines) == len(rows) and json.loads(lines[-1])["row"] == len(rows) - 1
    r = sh("predict", "iris-classifier", "--input", "[[1, 2]]")
    assert r.exit_code == 2 and r.stdout == "" and "features" in r.stderr
    r = sh("predict", "iris-classifier", "--version", "9.9.9", "--input", json.dumps(ROWS))
    assert r.exit_code == 3


@pytest.fixture
def named_iris():
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True, as_frame=True)
    X.columns = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    return X, y


def test_list_rows_for_a_pipeline_that_selects_columns_by_name(reg, tmp_path, named_iris, cli):
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = named_iris
    pipe = make_pipeline(ColumnTransformer([("s", StandardScaler(), ["petal_length", "petal_width"])]),
                         LogisticRegression(max_iter=500)).fit(X, y)
    path = tmp_path / "pipe.joblib"
    joblib.dump(pipe, path)
    reg.deploy(path, "p")
    rows = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
    want = pipe.predict(X.iloc[[0, 149]]).tolist()
    assert reg.predict("p", rows)["predictions"] == want
    r = cli("predict", "p", "--input", json.dumps(rows))
    assert r.exit_code == 0 and json.loads(r.stdout)["predictions"] == want
    from mlreg.server import ModelService

    status, answer = ModelService(reg).handle("POST", "/v1/models/p/predict", json.dumps({"inputs": rows}).encode())
    assert status == 200 and answer["predictions"] == want


def test_a_misspelt_feature_names_the_unknown_key_and_the_closest(reg, tmp_path, named_iris, cli):
    from sklearn.linear_model import LogisticRegression

    X, y = named_iris
    path = tmp_path / "lr.joblib"
    joblib.dump(LogisticRegression(max_iter=500).fit(X, y), path)
    reg.deploy(path, "n")
    row = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_wdth": 0.2}
    r = cli("predict", "n", "--input", json.dumps([row]))
    assert r.exit_code == 2 and "petal_wdth" in r.stderr and "did you mean petal_width" in r.stderr, r.stderr


def test_null_is_a_missing_value_for_models_that_take_nan(reg, tmp_path, named_iris, cli):
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    X, y = named_iris
    hgb = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(X.to_numpy(), y)
    joblib.dump(hgb, tmp_path / "hgb.joblib")
    reg.deploy(tmp_path / "hgb.joblib", "h")
    want = hgb.predict(np.array([[5.1, np.nan, 1.4, 0.2]])).tolist()
    r = cli("predict", "h", "--input", "[[5.1, null, 1.4, 0.2]]")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["predictions"] == want
    joblib.dump(LogisticRegression(max_iter=500).fit(X.to_numpy(), y), tmp_path / "lr.joblib")
    reg.deploy(tmp_path / "lr.joblib", "l")
    r = cli("predict", "l", "--input", "[[5.1, null, 1.4, 0.2]]")
    assert r.exit_code == 2 and "NaN" in r.stderr  # the model says it takes no missing values
