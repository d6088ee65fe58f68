"""MLflow's scoring protocol (SPEC §12), as a caller written for MLflow's model server sends
it with `requests`: the four JSON bodies and CSV, on mlreg's predict routes and on
`POST /invocations` for `serve --model`."""

import re
import subprocess

import joblib
import numpy as np
import pytest

import mlreg
from conftest import mlreg_command
from test_server import served, served_template  # noqa: F401  (fixtures)

requests = pytest.importorskip("requests")

COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    """A registry with "named" (trained on a DataFrame: it knows its feature names) and
    "plain" (trained on an array), and `mlreg serve --model named@@champion` on it."""
    import pandas as pd
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True)
    work = tmp_path_factory.mktemp("scoring")
    named = LogisticRegression(max_iter=500).fit(pd.DataFrame(X, columns=COLUMNS), y)
    plain = LogisticRegression(max_iter=500).fit(X, y)
    joblib.dump(named, work / "named.joblib")
    joblib.dump(plain, work / "plain.joblib")
    reg = mlreg.Registry(work / "registry")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLREG_TEST_CHECK", "in-process")
        reg.deploy(work / "named.joblib", "named")
        reg.deploy(work / "plain.joblib", "plain")
    reg.set_alias("named", "champion", "0.1.0")
    proc = subprocess.Popen(mlreg_command() + ["--registry", reg.path, "serve", "--port", "0", "--no-access-log",
                                               "--model", "named@@champion"], stderr=subprocess.PIPE, text=True)
    port = int(re.search(r"http://127\.0\.0\.1:(\d+)", proc.stderr.readline()).group(1))
    yield f"http://127.0.0.1:{port}", named.predict(pd.DataFrame(ROWS, columns=COLUMNS)).tolist(), \
        plain.predict(np.asarray(ROWS)).tolist()
    proc.terminate()
    proc.wait(timeout=10)


BODIES = {
    "dataframe_split": {"dataframe_split": {"columns": COLUMNS, "data": ROWS}},
    "dataframe_records": {"dataframe_records": [dict(zip(COLUMNS, row)) for row in ROWS]},
    "instances": {"instances": [dict(zip(COLUMNS, row)) for row in ROWS]},
    "inputs (columns)": {"inputs": {c: [row[i] for row in ROWS] for i, c in enumerate(COLUMNS)}},
    "inputs (rows)": {"inputs": ROWS},
}


@pytest.mark.parametrize("kind", list(BODIES))
def test_mlflows_bodies_give_scikit_learns_predictions(scored, kind):
    url, expected, _ = scored
    answer = requests.post(f"{url}/invocations", json=BODIES[kind], timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"predictions": expected}
    # the same bodies on mlreg's own predict routes, whose answer names the version that served it
    answer = requests.post(f"{url}/v1/models/named/predict", json=BODIES[kind], timeout=30)
    assert answer.status_code == 200 and answer.json()["predictions"] == expected
    assert answer.json()["version"] == "0.1.0"


def test_csv_with_a_header_row(scored):
    url, expected, plain = scored
    csv = ",".join(COLUMNS) + "\n" + "\n".join(",".join(map(str, row)) for row in ROWS) + "\n"
    answer = requests.post(f"{url}/invocations", data=csv, headers={"Content-Type": "text/csv"}, timeout=30)
    assert answer.status_code == 200 and answer.json() == {"predictions": expected}, answer.text
    # a model that knows no feature names takes the columns in the body's order
    answer = requests.post(f"{url}/v1/models/plain/predict", data=csv, headers={"Content-Type": "text/csv"},
                           timeout=30)
    assert answer.status_code == 200 and answer.json()["predictions"] == plain, answer.text
    answer = requests.post(f"{url}/v1/models/plain/predict", json=BODIES["dataframe_split"], timeout=30)
    assert answer.json()["predictions"] == plain


def test_ping_health_and_errors(scored):
    url, _, _ = scored
    assert requests.get(f"{url}/ping", timeout=10).status_code == 200
    assert requests.get(f"{url}/health", timeout=10).status_code == 200
    bad = requests.post(f"{url}/invocations", json={"dataframe_split": {"columns": ["a"], "data": [[1, 2]]}},
                        timeout=10)
    assert bad.status_code == 400 and "one value per column" in bad.json()["error"]
    unknown = requests.post(f"{url}/invocations", json={"dataframe_records": [{"petal_lenght": 1.0}]}, timeout=10)
    assert unknown.status_code == 400 and "petal_lenght" in unknown.json()["error"]
    both = requests.post(f"{url}/invocations", json={"instances": ROWS, "inputs": ROWS}, timeout=10)
    assert both.status_code == 400 and "not several" in both.json()["error"]
    wrong = requests.get(f"{url}/invocations", timeout=10)
    assert wrong.status_code == 405 and "POST" in wrong.headers["Allow"]


def test_invocations_without_model_is_404_naming_the_option(served):
    reg, port = served
    answer = requests.post(f"http://127.0.0.1:{port}/invocations", json={"inputs": ROWS}, timeout=10)
    assert answer.status_code == 404 and "--model" in answer.json()["error"]

