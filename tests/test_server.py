"""mlreg serve in a subprocess on a free loopback port, driven with real HTTP requests."""

import contextlib
import http.client
import json
import os
import re
import shutil
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import joblib
import numpy as np
import pytest

import fakemodels
import mlreg
from conftest import fake_artifact, mlreg_command

ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]


@pytest.fixture(scope="module")
def served_template(iris_registry_template, tmp_path_factory):
    """Iris Classifier 0.1.0 (primary), 0.2.0 (Active, predicts 42) and 0.3.0 (Deployment Failed)."""
    path = tmp_path_factory.mktemp("served") / "registry"
    shutil.copytree(iris_registry_template, path)
    reg = mlreg.Registry(path)
    work = tmp_path_factory.mktemp("served-artifacts")
    reg.deploy(fake_artifact(work, fakemodels.ConstantModel(42), "c.joblib"), "iris classifier", promote=False)
    with pytest.raises(mlreg.DeploymentFailed):
        reg.deploy(fake_artifact(work, fakemodels.NoPredict(), "n.joblib"), "iris classifier")
    return path


@contextlib.contextmanager
def _serving(path):
    """``mlreg serve`` on the registry at ``path``, on a free port: (registry, port)."""
    reg = mlreg.Registry(path)
    proc = subprocess.Popen(mlreg_command() + ["--registry", reg.path, "serve", "--port", "0", "--max-body", "100000",
                                               "--timeout", "2"],
                            stderr=subprocess.PIPE, text=True)
    line = proc.stderr.readline()
    match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
    assert match, line
    # what it writes later is read, so that a long-lived server never blocks on a full pipe
    threading.Thread(target=proc.stderr.read, daemon=True).start()
    try:
        yield reg, int(match.group(1))
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def served(served_template, registry_path):
    """A copy of ``served_template`` and an ``mlreg serve`` subprocess on a free port."""
    shutil.copytree(served_template, registry_path)
    with _serving(registry_path) as answer:
        yield answer


@pytest.fixture(scope="module")
def served_shared(served_template, tmp_path_factory):
    """Like ``served``, one for the tests of a module that change nothing another reads:
    each server's first prediction costs a scikit-learn import (about 2 s of CPU)."""
    path = tmp_path_factory.mktemp("served-shared") / "registry"
    shutil.copytree(served_template, path)
    with _serving(path) as answer:
        yield answer


def request(port, method, path, body=None, raw=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    payload = json.loads(resp.read())
    conn.close()
    return resp.status, payload


def test_predict_endpoints(served_shared, iris_model_path):
    reg, port = served_shared
    want = joblib.load(iris_model_path).predict(np.asarray(ROWS)).tolist()
    status, out = request(port, "POST", "/v1/models/iris-classifier/predict", {"inputs": ROWS})
    assert status == 200 and out["predictions"] == want and out["version"] == "0.1.0"
    assert list(out) == ["model", "version", "version_id", "predictions"]
    status, out = request(port, "POST", "/v1/models/Iris%20Classifier/versions/0.2.0/predict", ROWS)
    assert status == 200 and out["predictions"] == [42, 42]
    vid = reg.status("iris-classifier", "0.1.0").version_id
    status, out = request(port, "POST", f"/v1/versions/{vid}/predict", {"inputs": ROWS, "method": "predict_proba"})
    assert status == 200 and np.allclose(out["predictions"], joblib.load(iris_model_path).predict_proba(np.asarray(ROWS)))
    status, out = request(port, "POST", f"/v1/models/iris-classifier/versions/{vid}/predict", {"inputs": ROWS})
    assert status == 200 and out["version_id"] == vid


def test_get_endpoints(served_shared):
    reg, port = served_shared
    assert request(port, "GET", "/healthz") == (200, {"status": "ok", "registry": reg.path})
    status, models = request(port, "GET", "/v1/models")
    assert status == 200 and [m["name"] for m in models] == ["Iris Classifier"]
    status, model = request(port, "GET", "/v1/models/iris%20classifier")
    assert status == 200 and model["primary"] == "0.1.0" and len(model["versions"]) == 3
    status, versions = request(port, "GET", "/v1/models/iris-classifier/versions")
    assert status == 200 and [v["status"] for v in versions] == ["active", "active", "failed"]
    # what this server makes of each (SPEC §11): unsigned; the iris forest loads under the default policy,
    # the test's own class under the tests' trust file
    assert [(v["signatures"], v["trusted"]) for v in versions[:2]] == [([], True), ([], True)]
    status, one = request(port, "GET", "/v1/models/iris-classifier/versions/0.2.0")
    assert status == 200 and one["signatures"] == [] and one["format"] == "joblib"


def test_error_statuses(served):
    reg, port = served
    cases = [
        ("POST", "/v1/models/iris-classifier/predict", {"inputs": [[1, 2]]}, 400, "expects 4 features"),
        ("POST", "/v1/models/iris-classifier/predict", None, 400, "JSON body"),
        ("POST", "/v1/models/nope/predict", {"inputs": ROWS}, 404, "no model"),
        ("POST", "/v1/models/iris-classifier/versions/9.9.9/predict", {"inputs": ROWS}, 404, "no version"),
        ("POST", "/v1/versions/zzzzzzzz/predict", {"inputs": ROWS}, 404, "no version with ID"),
        ("GET", "/v1/nothing", None, 404, "no route"),
        ("POST", "/v1/models/iris-classifier/versions/0.3.0/predict", {"inputs": ROWS}, 409, "Deployment Failed"),
        ("POST", "/v1/models/a%2Fb/predict", {"inputs": ROWS}, 400, "invalid character"),
        ("GET", "/v1/models/iris-classifier/predict", None, 405, "use POST"),
    ]
    for method, path, body, code, message in cases:
        status, out = request(port, method, path, body)
        assert (status, list(out)) == (code, ["error"]) and message in out["error"], (path, out)
    status, out = request(port, "POST", "/v1/models/iris-classifier/predict", raw=b"{not json")
    assert status == 400 and "not valid JSON" in out["error"]
    status, out = request(port, "POST", "/v1/models/iris-classifier/predict", raw=b"[" + b"0," * 60000 + b"0]")
    assert status == 413 and "limit" in out["error"]
    artifact = os.path.join(reg.path, "models", "iris-classifier", "versions", "0.2.0", "model.joblib")
    with open(artifact, "ab") as f:
        f.write(b"tampered")
    status, out = request(port, "POST", "/v1/models/iris-classifier/versions/0.2.0/predict", {"inputs": ROWS})
    assert status == 500 and "model.joblib" in out["error"]


def test_promote_is_seen_by_the_next_request(served):
    reg, port = served
    assert request(port, "POST", "/v1/models/iris-classifier/predict", {"inputs": ROWS})[1]["version"] == "0.1.0"
    reg.promote("iris-classifier", "0.2.0")
    status, out = request(port, "POST", "/v1/models/iris-classifier/predict", {"inputs": ROWS})
    assert status == 200 and (out["version"], out["predictions"]) == ("0.2.0", [42, 42])


def test_16_concurrent_clients(served_shared, iris_model_path):
    reg, port = served_shared
    model = joblib.load(iris_model_path)
    rng = np.random.default_rng(0)
    batches = [rng.uniform(0, 7, size=(3, 4)).round(2).tolist() for _ in range(64)]

    def call(rows):
        return request(port, "POST", "/v1/models/iris-classifier/predict", {"inputs": rows})

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(call, batches))
    for rows, (status, out) in zip(batches, results):
        assert status == 200 and out["predictions"] == model.predict(np.asarray(rows)).tolist()


def test_a_stalled_client_does_not_hang_the_server(served):
    reg, port = served
    import socket

    stalled = socket.create_connection(("127.0.0.1", port))
    stalled.sendall(b"POST /v1/models/iris-classifier/predict HTTP/1.1\r\nContent-Length: 100\r\n\r\n{")
    start = time.monotonic()
    assert request(port, "GET", "/healthz")[0] == 200
    assert time.monotonic() - start < 2
    stalled.settimeout(10)
    assert stalled.recv(100) == b""  # dropped after --timeout
    stalled.close()


# ---------------------------------------------- round two: what an attacker found


def _raw(port, data, timeout=10):
    """Send raw bytes; the whole answer, once the server closes or stops sending."""
    import socket

    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.sendall(data)
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
            if b"\r\n\r\n" in b"".join(chunks) and data.startswith(b"HEAD"):
                break
    except TimeoutError:
        pass
    sock.close()
    return b"".join(chunks)


def test_a_trickling_client_is_dropped_at_the_request_deadline(served):
    """A byte every quarter second never trips a per-read timeout; the whole request has 2 s (--timeout)."""
    import select
    import socket

    reg, port = served
    sock = socket.create_connection(("127.0.0.1", port))
    start = time.monotonic()
    dropped_at = None
    for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100:
        try:
            sock.sendall(bytes([byte]))
            if select.select([sock], [], [], 0.25)[0] and sock.recv(100) == b"":
                dropped_at = time.monotonic() - start
                break
        except OSError:
            dropped_at = time.monotonic() - start
            break
        if time.monotonic() - start > 8:
            break
    sock.close()
    assert dropped_at is not None and dropped_at < 5, dropped_at


def test_many_slow_clients_never_stop_healthz(served_template, registry_path):
    """Past --max-connections a connection is answered 503 at once; the slow ones
    hold their slots no longer than --timeout."""
    import select
    import socket

    shutil.copytree(served_template, registry_path)
    proc = subprocess.Popen(mlreg_command() + ["--registry", str(registry_path), "serve", "--port", "0",
                                               "--timeout", "3", "--max-connections", "8",
                                               "--max-per-client", "8"],
                            stderr=subprocess.PIPE, text=True)
    port = int(re.search(r":(\d+) ", proc.stderr.readline()).group(1))
    try:
        slow = [socket.create_connection(("127.0.0.1", port)) for _ in range(7)]
        for s in slow:
            s.sendall(b"GET /healthz HTTP/1.1\r\n")  # and never the rest
        time.sleep(0.3)
        assert request(port, "GET", "/healthz")[0] == 200  # the eighth slot
        refused = None
        for _ in range(4):  # the eighth slot is taken by a slow one again, and then no more are served
            extra = socket.create_connection(("127.0.0.1", port))
            extra.sendall(b"GET /healthz HTTP/1.1\r\n")
            if select.select([extra], [], [], 2.5)[0]:  # answered once its request is in, or 2 s on
                refused = extra.recv(200)
                break
            slow.append(extra)
        assert refused is not None and refused.startswith(b"HTTP/1.1 503"), refused
        start = time.monotonic()
        while time.monotonic() - start < 15:  # the slow ones are dropped at their deadline
            try:
                if request(port, "GET", "/healthz")[0] == 200:
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.2)
        assert time.monotonic() - start < 8  # --timeout is 3 s
        for s in slow:
            s.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_other_methods_on_a_known_path_answer_json_405(served_shared, method):
    reg, port = served_shared
    status, out = request(port, method, "/v1/models/iris-classifier", {})
    assert status == 405 and list(out) == ["error"]


def test_a_malformed_request_line_gets_a_json_answer(served_shared):
    reg, port = served_shared
    answer = _raw(port, b"GARBAGE\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400") or head.startswith(b"HTTP/1.0 400")
    assert "error" in json.loads(body)
    assert request(port, "GET", "/healthz")[0] == 200


def test_an_unknown_method_gets_json(served_shared):
    reg, port = served_shared
    head, _, body = _raw(port, b"BREW /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n").partition(b"\r\n\r\n")
    assert b" 405 " in head.split(b"\r\n")[0] and b"\r\nAllow: GET, HEAD, OPTIONS" in head
    assert "error" in json.loads(body)


def test_deeply_nested_json_is_bad_input(served_shared):
    reg, port = served_shared
    status, out = request(port, "POST", "/v1/models/iris-classifier/predict", raw=b"[" * 50000 + b"]" * 50000)
    assert status in (400, 413) and list(out) == ["error"]
    status, out = request(port, "POST", "/v1/models/iris-classifier/predict", raw=b"[" * 20000 + b"]" * 20000)
    assert status == 400 and "nested" in out["error"]


def test_a_version_taken_out_of_the_trust_file_stops_answering_at_once(served_template, registry_path, tmp_path):
    shutil.copytree(served_template, registry_path)
    reg = mlreg.Registry(registry_path)
    primary = reg.status("iris-classifier")
    trust = tmp_path / "trust.toml"
    trust.write_text(f'[models]\niris-classifier = ["{primary.sha256}"]\n')
    proc = subprocess.Popen(mlreg_command() + ["--registry", str(registry_path), "--trust-file", str(trust), "serve",
                                               "--port", "0"], stderr=subprocess.PIPE, text=True)
    port = int(re.search(r":(\d+) ", proc.stderr.readline()).group(1))
    try:
        assert request(port, "POST", "/v1/models/iris-classifier/predict", {"inputs": ROWS})[0] == 200  # loaded, cached
        trust.write_text("[models]\niris-classifier = []\n")
        status, out = request(port, "POST", "/v1/models/iris-classifier/predict", {"inputs": ROWS})
        assert status == 500 and "trust file" in out["error"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_serve_starts_with_a_corrupt_model_and_fails_only_that_one(served_template, registry_path, constant_path):
    shutil.copytree(served_template, registry_path)
    reg = mlreg.Registry(registry_path)
    reg.deploy(constant_path, "broken")
    with open(os.path.join(reg.path, "models", "broken", "model.toml"), "w") as f:
        f.write("not = [toml")
    proc = subprocess.Popen(mlreg_command() + ["--registry", str(registry_path), "serve", "--port", "0"],
                            stderr=subprocess.PIPE, text=True)
    port = int(re.search(r":(\d+) ", proc.stderr.readline()).group(1))
    try:
        status, models = request(port, "GET", "/v1/models")
        assert status == 200 and [m["name"] for m in models] == ["Iris Classifier"]
        assert request(port, "GET", "/v1/models/broken")[0] == 500
        assert request(port, "POST", "/v1/models/iris-classifier/predict", {"inputs": ROWS})[0] == 200
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_one_client_cannot_take_every_connection(served_template, registry_path):
    """One address holding its share of idle connections is refused (503, Retry-After)
    after its request was read, so a POST sees the answer, not a broken pipe; other
    addresses are still served."""
    import socket

    shutil.copytree(served_template, registry_path)
    proc = subprocess.Popen(mlreg_command() + ["--registry", str(registry_path), "serve", "--port", "0",
                                               "--max-connections", "8"], stderr=subprocess.PIPE, text=True)
    port = int(re.search(r":(\d+) ", proc.stderr.readline()).group(1))
    try:
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(4)]  # half of 8: its share
        time.sleep(0.3)
        body = json.dumps({"inputs": [[5.1, 3.5, 1.4, 0.2]] * 20000}).encode()  # about 400 KB
        extra = socket.create_connection(("127.0.0.1", port))
        extra.sendall(b"POST /v1/models/iris-classifier/predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        answer = b""
        extra.settimeout(10)
        while chunk := extra.recv(65536):
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 503") and b"Retry-After: 1" in answer, answer[:200]
        assert b"too many connections from 127.0.0.1" in answer
        other = socket.socket()
        other.bind(("127.0.0.2", 0))
        other.connect(("127.0.0.1", port))
        other.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        other.settimeout(10)
        assert other.recv(100).startswith(b"HTTP/1.1 200")
        for s in idle + [extra, other]:
            s.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_refresh_keeps_the_version_a_request_names_and_forgets_it_after_a_write(served_template, registry_path,
                                                                                 monkeypatch):
    """``--refresh``: within the window a request costs no read of the model's pointers
    (a promote made elsewhere is not seen yet); after it, the next request sees it; a
    write through this server is seen at once."""
    from mlreg.server import ModelService

    shutil.copytree(served_template, registry_path)
    reg = mlreg.Registry(registry_path)
    service = ModelService(reg, refresh=0.6)
    body = json.dumps({"inputs": ROWS}).encode()
    assert service.handle("POST", "/v1/models/iris-classifier/predict", body)[1]["version"] == "0.1.0"
    reads = []
    real = reg.repo.load_model
    monkeypatch.setattr(reg.repo, "load_model", lambda *a, **k: reads.append(a) or real(*a, **k))
    mlreg.Registry(registry_path).promote("iris-classifier", "0.2.0")  # another process's promote
    assert service.handle("POST", "/v1/models/iris-classifier/predict", body)[1]["version"] == "0.1.0"
    assert reads == []  # answered from what it read less than --refresh ago
    time.sleep(0.7)
    assert service.handle("POST", "/v1/models/iris-classifier/predict", body)[1]["version"] == "0.2.0"
    assert len(reads) == 1
    status, _ = service.handle("POST", "/v1/models/iris-classifier/promote", json.dumps({"version": "0.1.0"}).encode(),
                               {"host": "127.0.0.1:8080", "content-type": "application/json"}, local="127.0.0.1")
    assert status == 200
    assert service.handle("POST", "/v1/models/iris-classifier/predict", body)[1]["version"] == "0.1.0"
    assert ModelService(reg).pointers.refresh == 0  # a folder's default: read for every request
