"""`GET /metrics` (SPEC §12): parsed by prometheus_client's own parser and checked by
`promtool check metrics`; requests counted under the version that answered."""

import http.client
import time
import os
import shutil
import subprocess

import pytest
from prometheus_client.parser import text_string_to_metric_families

from test_server import request, served, served_template  # noqa: F401  (fixtures)

ROW = {"inputs": [[5.1, 3.5, 1.4, 0.2]]}


def _scrape(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/metrics")
    answer = conn.getresponse()
    text = answer.read().decode("utf-8")
    conn.close()
    assert answer.status == 200 and answer.getheader("Content-Type").startswith("text/plain; version=0.0.4")
    return text


def _samples(text):
    return [(s.name, s.labels, s.value) for family in text_string_to_metric_families(text) for s in family.samples]


def _value(samples, name, **labels):
    return sum(v for n, l, v in samples if n == name and all(l.get(k) == w for k, w in labels.items()))


def test_requests_count_under_the_version_that_answered(served):
    reg, port = served
    assert request(port, "POST", "/v1/models/iris-classifier/predict", ROW)[0] == 200
    assert request(port, "POST", "/v2/models/iris-classifier/infer",
                   {"inputs": [{"name": "input", "shape": [2, 4], "datatype": "FP64",
                                "data": [5.1, 3.5, 1.4, 0.2, 6.7, 3.0, 5.2, 2.3]}]})[0] == 200
    assert request(port, "POST", "/v1/models/nope/predict", ROW)[0] == 404
    samples = _samples(_scrape(port))
    predict = "/v1/models/{name}/predict"
    assert _value(samples, "mlreg_requests_total", route=predict, model="Iris Classifier", version="0.1.0",
                  code="200") == 1
    assert _value(samples, "mlreg_requests_total", route=predict, model="", code="404") == 1
    assert _value(samples, "mlreg_predicted_rows_total", model="Iris Classifier", version="0.1.0") == 3
    assert _value(samples, "mlreg_request_duration_seconds_count", route="/v2/models/{name}/infer") == 1
    assert _value(samples, "mlreg_model_load_seconds_count", model="Iris Classifier", version="0.1.0") == 1
    assert _value(samples, "mlreg_loaded_models") == 1
    assert _value(samples, "mlreg_primary_info", model="Iris Classifier", version="0.1.0") == 1
    # after a promote, the next requests count under the new primary
    assert request(port, "POST", "/v1/models/iris-classifier/promote", {"version": "0.2.0"})[0] == 200
    assert request(port, "PUT", "/v1/models/iris-classifier/aliases/champion", {"version": "0.1.0"})[0] == 200
    assert request(port, "POST", "/v1/models/iris-classifier/predict", ROW)[0] == 200
    samples = _samples(_scrape(port))
    assert _value(samples, "mlreg_requests_total", route=predict, version="0.2.0", code="200") == 1
    assert _value(samples, "mlreg_primary_info", model="Iris Classifier", version="0.2.0") == 1
    assert _value(samples, "mlreg_primary_info", version="0.1.0") == 0
    assert _value(samples, "mlreg_alias_info", model="Iris Classifier", alias="champion", version="0.1.0") == 1


def test_promtool_finds_the_exposition_clean(served):
    reg, port = served
    request(port, "POST", "/v1/models/iris-classifier/predict", ROW)
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI"):
            pytest.fail("CI must check the metrics with promtool: apt install prometheus")
        pytest.skip("needs promtool (Debian's prometheus package)")
    p = subprocess.run([promtool, "check", "metrics"], input=_scrape(port), capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr


def test_sigterm_lets_the_request_in_flight_finish_and_exits_0(tmp_path):
    """SIGTERM while a slow prediction is in flight: it is answered, readiness turns 503 on a
    connection kept open (a load balancer's), and the process exits 0 (SPEC §12)."""
    import re
    import signal
    import threading

    import fakemodels
    import mlreg
    from conftest import fake_artifact, mlreg_command

    reg = mlreg.Registry(tmp_path / "registry")
    reg.deploy(fake_artifact(tmp_path, fakemodels.SlowPredict(7, seconds=2.0)), "slow")
    proc = subprocess.Popen(mlreg_command() + ["--registry", reg.path, "serve", "--port", "0", "--no-access-log",
                                               "--drain", "10"], stderr=subprocess.PIPE, text=True)
    port = int(re.search(r"http://127\.0\.0\.1:(\d+)", proc.stderr.readline()).group(1))
    balancer = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    balancer.request("GET", "/v2/health/ready")
    ready = balancer.getresponse()
    assert ready.status == 200 and ready.read()
    answers = []
    slow = threading.Thread(target=lambda: answers.append(request(port, "POST", "/v1/models/slow/predict", ROW)))
    slow.start()
    time.sleep(0.8)  # the prediction is in flight
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    balancer.request("GET", "/v2/health/ready")
    reply = balancer.getresponse()
    assert reply.status == 503 and b"draining" in reply.read()
    slow.join(30)
    assert answers and answers[0][0] == 200 and answers[0][1]["predictions"] == [7]
    assert proc.wait(timeout=20) == 0
    assert "every request in flight was answered" in proc.stderr.read()
