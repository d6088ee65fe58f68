"""HTTP as other clients speak it, through a real ``mlreg serve``: methods, Allow,
bodies without a Content-Type or a Content-Length, odd Content-Lengths, JSON that
is not text, and pages whose names need percent-encoding."""

import json
import socket
from urllib.parse import quote

import pytest

import fakemodels
from conftest import fake_artifact
from test_server import served, served_shared, served_template  # noqa: F401  (fixtures)


def raw(port, text):
    """Send ``text`` as the whole request; the status line and the body of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(text.encode("utf-8") if isinstance(text, str) else text)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
            if b"\r\n\r\n" in data:
                head, _, body = data.partition(b"\r\n\r\n")
                length = [int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:")]
                if length and len(body) >= length[0]:
                    break
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def req(method, path, headers="", body=b""):
    extra = f"Content-Length: {len(body)}\r\n" if body else ""
    return (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{headers}{extra}\r\n").encode() + body


def test_a_delete_needs_no_body_and_no_content_type(served):
    reg, port = served
    status, _, body = raw(port, req("DELETE", "/v1/models/iris-classifier/versions/0.3.0"))
    assert status == 200 and json.loads(body)["version"] == "0.3.0"
    assert [v.version for v in reg.versions("iris-classifier")] == ["0.1.0", "0.2.0"]


@pytest.mark.parametrize("method", ["TRACE", "PROPFIND", "PATCH", "PUT", "CONNECTX"])
@pytest.mark.parametrize("path, allowed", [
    ("/v1/models/iris-classifier/predict", "POST"), ("/v1/models", "GET"),
    ("/v1/models/iris-classifier/aliases/x", "PUT, DELETE"), ("/models/iris-classifier", "GET"),
    ("/healthz", "GET")])
def test_unknown_methods_on_known_paths_are_405_with_allow(served_shared, method, path, allowed):
    _, port = served_shared
    if method == "PUT" and "PUT" in allowed:
        return
    status, headers, body = raw(port, req(method, path))
    assert status == 405, (method, path, body)
    assert set(allowed.split(", ")) <= {m.strip() for m in headers["allow"].split(",")}
    assert "error" in json.loads(body)


@pytest.mark.parametrize("path", ["/v1/models/iris-classifier/predict", "/v1/models", "/models/iris-classifier",
                                  "/v1/models/iris-classifier/readme"])
def test_options_is_204_with_allow(served_shared, path):
    _, port = served_shared
    status, headers, body = raw(port, req("OPTIONS", path))
    assert status == 204 and headers["allow"] and body == b""


def test_an_unknown_method_on_an_unknown_path_is_404(served_shared):
    _, port = served_shared
    assert raw(port, req("PROPFIND", "/nowhere/at/all"))[0] == 404


@pytest.mark.parametrize("length", ["\u00b2", "-1", "1e3", "0x10", "\u0661"])
def test_a_content_length_that_is_not_a_number_is_400(served_shared, length):
    _, port = served_shared
    text = (f"POST /v1/models/iris-classifier/predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Length: {length}\r\n\r\n")
    status, _, body = raw(port, text.encode("utf-8"))
    assert status == 400 and "Content-Length" in json.loads(body)["error"]
    assert raw(port, req("GET", "/healthz"))[0] == 200  # still serving


@pytest.mark.parametrize("path", ["/v1/models/iris-classifier/predict", "/v1/models/iris-classifier/description"])
def test_a_lone_surrogate_is_400(served_shared, path):
    _, port = served_shared
    method = "POST" if path.endswith("predict") else "PUT"
    body = b'{"inputs": [["\\ud800", 1, 2, 3]], "description": "\\udfff"}'
    status, _, answer = raw(port, req(method, path, "Content-Type: application/json\r\n", body))
    assert status == 400 and "surrogate" in json.loads(answer)["error"]


def test_pages_of_names_that_need_percent_encoding(served_shared, tmp_path):
    reg, port = served_shared
    artifact = fake_artifact(tmp_path, fakemodels.ConstantModel(1), "c.joblib")
    reg.deploy(artifact, "Modèle Café", version="1.0.0+build.7")
    for path in [f"/models/{quote('modèle-café')}", f"/models/{quote('Modèle Café')}",
                 f"/models/{quote('modèle-café')}/versions/{quote('1.0.0+build.7', safe='')}",
                 f"/models/{quote('modèle-café')}/versions/1.0.0",
                 f"/models/{quote('modèle-café')}/versions/{quote('1.0.0+build.7', safe='')}/delete"]:
        status, _, body = raw(port, req("GET", path))
        assert status == 200, (path, body[:300])
        assert "Modèle Café" in body.decode("utf-8")
    assert raw(port, req("GET", "/models/%ff%fe"))[0] == 404
