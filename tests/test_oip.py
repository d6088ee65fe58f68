"""The Open Inference Protocol (KServe V2) through a real `mlreg serve`, driven by Triton's
own client, `tritonclient.http`, at its default settings (binary tensors both ways)."""

import numpy as np
import pytest

from test_server import request, served_shared, served_template  # noqa: F401  (fixtures)

httpclient = pytest.importorskip("tritonclient.http")

ROWS = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]])
NAME = "iris-classifier"


@pytest.fixture
def client(served_shared):
    reg, port = served_shared
    c = httpclient.InferenceServerClient(url=f"127.0.0.1:{port}")
    yield reg, c
    c.close()


def _expected(reg, method="predict", version=None):
    model = reg.load(NAME, version)
    return getattr(model, method)(ROWS)


def test_health_and_metadata(client):
    reg, c = client
    assert c.is_server_live() and c.is_server_ready()
    assert c.is_model_ready(NAME) and c.is_model_ready(NAME, "0.1.0")
    assert not c.is_model_ready(NAME, "0.3.0")  # Deployment Failed
    meta = c.get_model_metadata(NAME)
    assert meta["name"] == "Iris Classifier" and meta["versions"] == ["0.1.0", "0.2.0"]
    assert meta["inputs"] == [{"name": "input", "datatype": "FP64", "shape": [-1, 4]}]
    assert [o["name"] for o in meta["outputs"]] == ["predict", "predict_proba"]
    assert meta["outputs"][1]["shape"] == [-1, 3]
    assert "binary_tensor_data" in c.get_server_metadata()["extensions"]


@pytest.mark.parametrize("datatype, dtype", [("FP32", np.float32), ("FP64", np.float64)])
def test_infer_at_the_clients_defaults(client, datatype, dtype):
    reg, c = client
    tensor = httpclient.InferInput("input", list(ROWS.shape), datatype)
    tensor.set_data_from_numpy(ROWS.astype(dtype))  # binary_data=True: the client's default
    result = c.infer(NAME, [tensor])  # no outputs named: the client asks for binary outputs
    assert result.as_numpy("predict").tolist() == _expected(reg).tolist()
    assert result.get_response()["model_version"] == "0.1.0"  # the primary answered


def test_predict_proba_as_a_requested_output_and_json_both_ways(client):
    reg, c = client
    tensor = httpclient.InferInput("input", list(ROWS.shape), "FP64")
    tensor.set_data_from_numpy(ROWS, binary_data=False)
    outputs = [httpclient.InferRequestedOutput("predict_proba", binary_data=False),
               httpclient.InferRequestedOutput("predict", binary_data=True)]
    result = c.infer(NAME, [tensor], outputs=outputs)
    assert np.allclose(result.as_numpy("predict_proba"), _expected(reg, "predict_proba"))
    assert result.as_numpy("predict").tolist() == _expected(reg).tolist()


def test_a_version_by_number_id_and_alias(client):
    reg, c = client
    tensor = httpclient.InferInput("input", list(ROWS.shape), "FP64")
    tensor.set_data_from_numpy(ROWS)
    second = reg.version(NAME, "0.2.0")
    reg.set_alias(NAME, "challenger", "0.2.0")
    for ref in ("0.2.0", second.version_id, "@challenger"):
        result = c.infer(NAME, [tensor], model_version=ref)
        assert result.get_response()["model_version"] == "0.2.0", ref
        assert result.as_numpy("predict").tolist() == [42, 42, 42], ref


def test_one_tensor_per_feature_and_errors(served_shared, tmp_path):
    """Plain JSON, as curl would send it: one tensor per feature of a model that knows its
    feature names; and the errors, each {"error": TEXT} with the status of SPEC §2."""
    import joblib
    import pandas as pd
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    reg, port = served_shared
    columns = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=500).fit(pd.DataFrame(X, columns=columns), y)
    joblib.dump(model, tmp_path / "named.joblib")
    reg.deploy(tmp_path / "named.joblib", "named")
    body = {"inputs": [{"name": c, "shape": [3], "datatype": "FP64", "data": ROWS[:, columns.index(c)].tolist()}
                       for c in reversed(columns)]}  # (any order: by name)
    status, answer = request(port, "POST", "/v2/models/named/infer", body)
    assert status == 200, answer
    assert answer["outputs"][0]["data"] == model.predict(pd.DataFrame(ROWS, columns=columns)).tolist()
    assert answer["outputs"][0]["shape"] == [3] and answer["model_version"] == "0.1.0"
    bad = {"inputs": [{"name": "input", "shape": [2, 4], "datatype": "FP64", "data": [1, 2, 3]}]}
    status, answer = request(port, "POST", f"/v2/models/{NAME}/infer", bad)
    assert status == 400 and "holds 8 values" in answer["error"]
    status, answer = request(port, "POST", "/v2/models/nope/infer", body)
    assert status == 404 and "error" in answer
    status, answer = request(port, "POST", f"/v2/models/{NAME}/versions/0.3.0/infer",
                             {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP64",
                                          "data": [5.1, 3.5, 1.4, 0.2]}]})
    assert status == 409  # Deployment Failed
    status, answer = request(port, "POST", f"/v2/models/{NAME}/infer",
                             {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP64",
                                          "data": [5.1, 3.5, 1.4, 0.2]}], "outputs": [{"name": "fit"}]})
    assert status == 400 and "unknown method" in answer["error"]
