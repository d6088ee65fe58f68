"""A team registry on a real S3-compatible store (SeaweedFS, two gateways on one filer,
as two hosts see it), driven through the installed `mlreg` script: concurrency by
conditional writes only, liveness by a lease, artifacts verified through the cache,
and the refusal of a store that ignores conditional writes (SPEC §8)."""

import json
import os
import signal
import subprocess
import time

import pytest

import fakemodels
import mlreg
from conftest import fake_artifact, mlreg_command
from seaweed import BUCKET


def _run(registry, *args, endpoint=None, env=None, **kwargs):
    full = {**os.environ, **({"AWS_ENDPOINT_URL": endpoint} if endpoint else {}), **(env or {})}
    return subprocess.run(mlreg_command() + ["--registry", registry] + [str(a) for a in args],
                          capture_output=True, text=True, env=full, timeout=300, **kwargs)


def _spawn(registry, *args, endpoint=None, env=None):
    full = {**os.environ, **({"AWS_ENDPOINT_URL": endpoint} if endpoint else {}), **(env or {})}
    return subprocess.Popen(mlreg_command() + ["--registry", registry] + [str(a) for a in args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full)


def test_every_command_answers_the_same_json_and_exit_codes(s3_registry, constant_path):
    # (a model without scikit-learn: a real one crosses the bucket in the serve test below)
    assert _run(s3_registry, "init").returncode == 0
    first = _run(s3_registry, "deploy", constant_path, "--name", "Iris", "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["version"] == "0.1.0"
    assert _run(s3_registry, "deploy", constant_path, "--name", "Iris").returncode == 0
    listed = json.loads(_run(s3_registry, "versions", "iris", "--json").stdout)
    assert [(v["version"], v["status"], v["primary"]) for v in listed] == [("0.1.0", "active", False),
                                                                          ("0.2.0", "active", True)]
    assert _run(s3_registry, "promote", "iris", "0.1.0", "--expect-primary", "0.2.0").returncode == 0
    assert _run(s3_registry, "promote", "iris", "0.2.0", "--expect-primary", "0.2.0").returncode == 4
    answer = json.loads(_run(s3_registry, "predict", "iris", "--input", "[[5.1, 3.5, 1.4, 0.2]]").stdout)
    assert answer["version"] == "0.1.0" and len(answer["predictions"]) == 1
    assert _run(s3_registry, "status", "iris", "9.9.9").returncode == 3
    assert _run(s3_registry, "versions", "nope").returncode == 3
    assert [e["event"] for e in json.loads(_run(s3_registry, "history", "iris", "--json").stdout)] == [
        "deploy", "primary", "deploy", "primary", "primary"]
    assert _run(s3_registry, "doctor").returncode == 0 and _run(s3_registry, "verify").returncode == 0


def test_a_store_without_conditional_writes_is_refused_and_nothing_is_written(s3_env, s3_registry,
                                                                             constant_path):
    unsafe = s3_env.unsafe_endpoint()
    for args in (["init"], ["deploy", constant_path, "--name", "m"]):
        r = _run(s3_registry, *args, endpoint=unsafe)
        assert r.returncode == 1, r.stderr
        assert "If-None-Match" in r.stderr and "Traceback" not in r.stderr
    from mlreg.storage.s3 import S3Storage

    assert S3Storage(s3_registry).list("") == []  # the probe removed its own keys; nothing else was written


def test_16_concurrent_deploys_across_two_gateways_get_16_versions(s3_env, s3_registry, constant_path):
    assert _run(s3_registry, "init").returncode == 0
    procs = [_spawn(s3_registry, "deploy", constant_path, "--name", "m", "--json",
                    endpoint=s3_env.endpoint if i % 2 else s3_env.endpoint2) for i in range(16)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0] * 16, [err for _, err in outs if err.strip()][:3]
    numbers = sorted(json.loads(out)["version"] for out, _ in outs)
    assert len(set(numbers)) == 16
    listed = json.loads(_run(s3_registry, "versions", "m", "--json", endpoint=s3_env.endpoint2).stdout)
    assert sorted(v["version"] for v in listed) == numbers and all(v["status"] == "active" for v in listed)
    history = json.loads(_run(s3_registry, "history", "m", "--json").stdout)
    assert sorted(e["version"] for e in history if e["event"] == "deploy") == numbers
    report = _run(s3_registry, "doctor", "--older-than", "0", "--json")
    assert report.returncode == 0, report.stdout


def test_promote_with_expect_primary_from_both_gateways_has_one_winner(s3_env, s3_registry, constant_path):
    for _ in range(2):
        assert _run(s3_registry, "deploy", constant_path, "--name", "m").returncode == 0
    procs = [_spawn(s3_registry, "promote", "m", "0.1.0", "--expect-primary", "0.2.0",
                    endpoint=s3_env.endpoint if i % 2 else s3_env.endpoint2) for i in range(8)]
    codes = sorted(p.wait(timeout=300) for p in procs)
    assert codes == [0] + [4] * 7
    assert mlreg.Registry(s3_registry).model("m").record.primary == "0.1.0"
    primaries = [e for e in mlreg.Registry(s3_registry).history("m") if e.event == "primary"]
    assert [e.to for e in primaries] == ["0.1.0", "0.2.0", "0.1.0"]


def test_a_deploy_killed_while_deploying_reads_failed_on_the_other_gateway_once_its_lease_lapses(
        s3_env, s3_registry, constant_path, tmp_path):
    import joblib

    import fakemodels

    slow = tmp_path / "slow.joblib"
    joblib.dump(fakemodels.SlowToLoad(2), slow)
    assert _run(s3_registry, "deploy", constant_path, "--name", "m").returncode == 0
    lease = {"MLREG_DEPLOY_LEASE": "2"}
    proc = _spawn(s3_registry, "deploy", slow, "--name", "m", env={**lease, "MLREG_TEST_LOAD_SECONDS": "60"})
    deadline = time.monotonic() + 120
    while True:
        seen = _run(s3_registry, "versions", "m", "--json", endpoint=s3_env.endpoint2, env=lease)
        found = {v["version"]: v["status"] for v in json.loads(seen.stdout)}
        if found.get("0.2.0") == "deploying":
            break
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() else found
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(3)  # the lease lapses
    other = _run(s3_registry, "status", "m", "0.2.0", "--json", endpoint=s3_env.endpoint2, env=lease)
    record = json.loads(other.stdout)
    assert (record["status"], record["primary"]) == ("failed", False) and "interrupted" in record["reason"]
    fixed = _run(s3_registry, "doctor", "--fix", "--older-than", "0", "--json", endpoint=s3_env.endpoint2, env=lease)
    assert fixed.returncode == 0, fixed.stdout
    assert any(p["kind"] == "interrupted" and p["fixed"] for p in json.loads(fixed.stdout)["problems"])
    assert _run(s3_registry, "doctor", "--older-than", "0", env=lease).returncode == 0
    assert mlreg.Registry(s3_registry).model("m").record.primary == "0.1.0"


def test_a_tampered_artifact_is_never_unpickled_also_through_the_cache(s3_registry, constant_path, tmp_path,
                                                                       monkeypatch):
    from mlreg.storage.s3 import S3Storage

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert _run(s3_registry, "deploy", constant_path, "--name", "m").returncode == 0
    predict = ["predict", "m", "--input", "[[1, 2]]"]
    assert _run(s3_registry, *predict).returncode == 0  # now cached, by sha256
    cached = [os.path.join(d, f) for d, _, files in os.walk(tmp_path / "cache" / "mlreg" / "artifacts") for f in files]
    assert len(cached) == 1
    with open(cached[0], "r+b") as f:  # a cached copy damaged on this machine: fetched again, and mended
        f.write(b"\x80\x04cos\nsystem\n")
    r = _run(s3_registry, *predict)
    assert r.returncode == 0 and "was damaged; fetched it again" in r.stderr, r.stderr
    assert _run(s3_registry, *predict).stderr == ""  # the cache holds the right bytes again
    os.unlink(cached[0])
    S3Storage(s3_registry).put("models/m/versions/0.1.0/model.joblib", b"\x80\x04cos\nsystem\n(S'true'\ntR.")
    r = _run(s3_registry, *predict)  # the object in the bucket changed: the error names its key
    assert r.returncode == 7 and "Traceback" not in r.stderr
    assert f"{s3_registry}/models/m/versions/0.1.0/model.joblib" in r.stderr and str(tmp_path) not in r.stderr.split(
        "(the store's")[0], r.stderr
    assert _run(s3_registry, "verify").returncode == 7
    assert _run(s3_registry, "doctor").returncode == 7


def test_the_bucket_must_exist(s3_env):
    r = _run(f"s3://{BUCKET}-missing/x", "versions", "m")
    assert r.returncode == 3 and "Traceback" not in r.stderr


def test_serve_answers_from_the_bucket_through_the_cache(s3_registry, iris_model_path, tmp_path, monkeypatch):
    import http.client
    import re

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert _run(s3_registry, "deploy", iris_model_path, "--name", "iris").returncode == 0
    proc = subprocess.Popen(mlreg_command() + ["--registry", s3_registry, "serve", "--port", "0"],
                            stderr=subprocess.PIPE, text=True)
    try:
        match = re.search(r"http://127\.0\.0\.1:(\d+)", proc.stderr.readline())
        assert match
        conn = http.client.HTTPConnection("127.0.0.1", int(match.group(1)), timeout=30)
        conn.request("POST", "/v1/models/iris/predict", body=json.dumps({"inputs": [[5.1, 3.5, 1.4, 0.2]]}),
                     headers={"Content-Type": "application/json"})
        answer = conn.getresponse()
        assert answer.status == 200 and json.loads(answer.read())["version"] == "0.1.0"
        conn.request("GET", "/v1/models/iris/versions")
        listed = conn.getresponse()
        assert listed.status == 200 and [v["version"] for v in json.loads(listed.read())] == ["0.1.0"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert any(files for _, _, files in os.walk(tmp_path / "cache" / "mlreg" / "artifacts"))  # loaded from the per-user cache


def test_credentials_and_region_from_the_shared_files(s3_env, s3_registry, tmp_path, constant_path):
    from seaweed import ACCESS_KEY, SECRET_KEY

    credentials, config = tmp_path / "credentials", tmp_path / "config"
    credentials.write_text(f"[team]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n")
    config.write_text("[profile team]\nregion = us-east-1\n")
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION")}
    env.update(AWS_SHARED_CREDENTIALS_FILE=str(credentials), AWS_CONFIG_FILE=str(config), AWS_PROFILE="team")
    r = subprocess.run(mlreg_command() + ["--registry", s3_registry, "deploy", str(constant_path), "--name", "m"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    env["AWS_PROFILE"] = "default"  # no such profile: unsigned requests, which SeaweedFS refuses
    r = subprocess.run(mlreg_command() + ["--registry", s3_registry, "versions", "m"], capture_output=True, text=True,
                       env=env, timeout=120)
    assert r.returncode == 1 and "AccessDenied" in r.stderr and "Traceback" not in r.stderr


def test_an_artifact_of_several_parts_is_stored_whole(s3_registry, tmp_path, monkeypatch):
    import joblib

    import fakemodels
    from mlreg.storage.s3 import S3Storage

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    big = tmp_path / "big.joblib"
    joblib.dump(fakemodels.ConstantModel(7, payload=os.urandom(1 << 20) * 20), big)  # three 8 MiB parts
    r = _run(s3_registry, "deploy", big, "--name", "m", "--json")
    assert r.returncode == 0, r.stderr
    stored = S3Storage(s3_registry).get("models/m/versions/0.1.0/model.joblib", 1 << 30).data
    assert stored == big.read_bytes() and json.loads(r.stdout)["size"] == len(stored)
    out = _run(s3_registry, "predict", "m", "--input", "[[1]]")
    assert out.returncode == 0 and json.loads(out.stdout)["predictions"] == [7], out.stderr
    assert _run(s3_registry, "verify").returncode == 0


def _can_be_another_host():
    import shutil

    return os.geteuid() == 0 and shutil.which("unshare") is not None and subprocess.run(
        ["unshare", "--uts", "true"], capture_output=True).returncode == 0


@pytest.mark.parametrize("meanwhile", ["delete", pytest.param("doctor-fix", marks=pytest.mark.skipif(
    not _can_be_another_host(), reason="needs unshare --uts (root) to act as another host"))])
def test_a_deploy_paused_past_its_lease_publishes_nothing(s3_env, s3_registry, constant_path, tmp_path, meanwhile):
    """A deploy stopped (a laptop's sleep) past its lease reads as interrupted; another host
    deletes it (or doctor --fix records it failed); the deploy resumes: it must not publish
    an outcome, take the primary, or write into the deleted version's keys."""
    import joblib

    import fakemodels
    from mlreg.storage.s3 import S3Storage

    slow = tmp_path / "slow.joblib"
    joblib.dump(fakemodels.SlowToLoad(2), slow)
    assert _run(s3_registry, "deploy", constant_path, "--name", "m").returncode == 0
    lease = {"MLREG_DEPLOY_LEASE": "2"}
    # the check (which starts as the copy begins) outlasts the version's allocation, even
    # on a busy machine, so that the version is seen Deploying
    proc = _spawn(s3_registry, "deploy", slow, "--name", "m", "--sample-input", "[[1, 2]]",
                  env={**lease, "MLREG_TEST_LOAD_SECONDS": "6"})
    deadline = time.monotonic() + 120
    while True:
        seen = _run(s3_registry, "versions", "m", "--json", endpoint=s3_env.endpoint2, env=lease)
        if {v["version"]: v["status"] for v in json.loads(seen.stdout)}.get("0.2.0") == "deploying":
            break
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.1)
    proc.send_signal(signal.SIGSTOP)
    try:
        time.sleep(3)  # the lease lapses; the check child finishes meanwhile
        other = _run(s3_registry, "status", "m", "0.2.0", "--json", endpoint=s3_env.endpoint2, env=lease)
        assert json.loads(other.stdout)["status"] == "failed"
        if meanwhile == "delete":
            r = _run(s3_registry, "delete", "m", "0.2.0", "--yes", endpoint=s3_env.endpoint2, env=lease)
        else:  # on another host (its own host name), where the paused process cannot be seen
            full = {**os.environ, "AWS_ENDPOINT_URL": s3_env.endpoint2, **lease}
            r = subprocess.run(["unshare", "--uts", "sh", "-c", 'hostname other-host && exec "$@"', "sh"]
                               + mlreg_command() + ["--registry", s3_registry, "doctor", "--fix", "--older-than",
                                                    "0"], capture_output=True, text=True, env=full, timeout=300)
        assert r.returncode == 0, r.stderr + r.stdout
    finally:
        proc.send_signal(signal.SIGCONT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 5 and "paused past its lease" in err, err
    reg = mlreg.Registry(s3_registry)
    assert reg.model("m").record.primary == "0.1.0"
    if meanwhile == "delete":
        assert [v.version for v in reg.versions("m")] == ["0.1.0"]
        assert S3Storage(s3_registry).list("models/m/versions/0.2.0") == []
    else:
        record = reg.version("m", "0.2.0")
        assert record.status == "failed" and not record.primary
    assert _run(s3_registry, "doctor", "--older-than", "0", env=lease).returncode == 0
    assert _run(s3_registry, "predict", "m", "--input", "[[1, 2]]").returncode == 0


@pytest.mark.parametrize("endpoint, says", [
    ("", "set but empty"), ("localhost:8333", "not an endpoint URL"), ("ftp://host", "not an endpoint URL"),
    ("http://", "not an endpoint URL")])
def test_a_bad_endpoint_is_one_line(s3_registry, endpoint, says):
    r = _run(s3_registry, "versions", "m", endpoint=None, env={"AWS_ENDPOINT_URL": endpoint})
    assert r.returncode == 2 and says in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_store_errors_say_what_to_check_and_never_show_credentials(s3_env, s3_registry, constant_path):
    from urllib.parse import urlsplit

    assert _run(s3_registry, "deploy", constant_path, "--name", "m").returncode == 0
    r = _run(s3_registry, "versions", "m", env={"AWS_SECRET_ACCESS_KEY": "wrong-secret"})
    assert r.returncode == 1 and "AWS_SECRET_ACCESS_KEY" in r.stderr and "Traceback" not in r.stderr, r.stderr
    r = _run(s3_registry, "versions", "m", env={"AWS_ACCESS_KEY_ID": "nobody-knows-me"})
    assert r.returncode == 1 and "AWS_ACCESS_KEY_ID" in r.stderr, r.stderr
    closed = socket_that_refuses()
    r = _run(s3_registry, "versions", "m", endpoint=f"http://127.0.0.1:{closed}")
    assert r.returncode == 1 and "cannot reach" in r.stderr and "AWS_ENDPOINT_URL" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    # credentials in the endpoint's URL: used, and never shown (CLI, serve's answers, pages)
    key, secret = s3_env.env["AWS_ACCESS_KEY_ID"], s3_env.env["AWS_SECRET_ACCESS_KEY"]
    parts = urlsplit(s3_env.endpoint)
    with_creds = f"http://{key}:{secret}@{parts.netloc}"
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    r = subprocess.run(mlreg_command() + ["--registry", s3_registry, "versions", "m", "--json"],
                       capture_output=True, text=True, env={**env, "AWS_ENDPOINT_URL": with_creds}, timeout=120)
    assert r.returncode == 0, r.stderr
    unreachable = f"http://{key}:{secret}@127.0.0.1:{closed}"
    r = subprocess.run(mlreg_command() + ["--registry", s3_registry, "versions", "m"],
                       capture_output=True, text=True, env={**env, "AWS_ENDPOINT_URL": unreachable}, timeout=120)
    assert r.returncode == 1 and secret not in r.stderr and key not in r.stderr and "***@" in r.stderr
    from mlreg.server import ModelService
    from mlreg.web.http import Request

    service = ModelService(mlreg.Registry(s3_registry))
    os.environ["AWS_ENDPOINT_URL"] = unreachable  # what the server's next store client reads
    try:
        service.registry = mlreg.Registry(s3_registry)
        status, answer = service.handle("GET", "/v1/models/m/versions", None)
        page = service.respond(Request("GET", "/models/m", None, {}))
    finally:
        os.environ["AWS_ENDPOINT_URL"] = s3_env.endpoint
    assert status == 500 and secret not in json.dumps(answer) and "***@" in answer["error"]
    assert page.status == 500 and secret.encode() not in page.body


def socket_that_refuses():
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_delete_model_sees_a_deploy_that_claimed_its_number(s3_env, s3_registry, constant_path):
    """A deploy streaming its artifact (claimed, no version.toml yet) is Deploying to
    ``delete --model``: exit 6, nothing deleted; the deploy ends Active."""
    from mlreg.storage.s3 import S3Storage

    assert _run(s3_registry, "deploy", constant_path, "--name", "m").returncode == 0
    proc = _spawn(s3_registry, "deploy", constant_path, "--name", "m",
                  env={"MLREG_TEST_PAUSE_AT": "deploy:claimed:6"})
    store = S3Storage(s3_registry)
    deadline = time.monotonic() + 60
    while not store.exists("models/m/versions/0.2.0/.deploy.lock"):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.1)
    r = _run(s3_registry, "delete", "m", "--model", "--yes", endpoint=s3_env.endpoint2)
    assert r.returncode == 6 and "0.2.0" in r.stderr, r.stderr
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert [v.version for v in mlreg.Registry(s3_registry).versions("m")] == ["0.1.0", "0.2.0"]
    assert _run(s3_registry, "doctor", "--older-than", "0").returncode == 0
    assert _run(s3_registry, "delete", "m", "--model", "--yes").returncode == 0


def test_doctor_repairs_what_a_lost_race_with_delete_model_leaves(s3_registry, constant_path):
    from mlreg.storage.s3 import S3Storage

    assert _run(s3_registry, "deploy", constant_path, "--name", "keep").returncode == 0
    store = S3Storage(s3_registry)
    store.put("models/gone/versions/0.2.0/model.joblib", b"x" * 1000)  # streamed after the model was deleted
    store.put("models/gone/versions/0.2.0/deploy.log", b"log\n")
    r = _run(s3_registry, "doctor", "--json", "--older-than", "0")
    assert r.returncode == 7 and "incomplete-model" in r.stdout
    r = _run(s3_registry, "doctor", "--fix", "--older-than", "0")
    assert r.returncode == 0, r.stdout
    assert store.list("models/gone") == []
    assert _run(s3_registry, "doctor", "--older-than", "0").returncode == 0
    assert _run(s3_registry, "versions", "keep").returncode == 0


def test_every_writing_process_probes_the_store(s3_env, s3_registry, constant_path, tmp_path):
    """An existing registry reached through a proxy that drops If-Match: the first write
    of each process is refused, not only `init` (once passed, the verdict is cached)."""
    from mlreg.storage.s3 import S3Storage

    for _ in range(2):
        assert _run(s3_registry, "deploy", constant_path, "--name", "m").returncode == 0
    unsafe = s3_env.unsafe_endpoint()
    before = sorted(S3Storage(s3_registry).list(""))
    for args in (["deploy", constant_path, "--name", "m"], ["describe", "m", "lost"], ["promote", "m", "0.1.0"]):
        r = _run(s3_registry, *args, endpoint=unsafe)
        assert r.returncode == 1 and "If-None-Match" in r.stderr, (args, r.stderr)
    assert sorted(S3Storage(s3_registry).list("")) == before
    assert _run(s3_registry, "versions", "m", endpoint=unsafe).returncode == 0  # reads are fine


def test_nothing_but_the_registry_is_left_at_its_root(s3_registry, constant_path):
    from mlreg.storage.s3 import S3Storage

    assert _run(s3_registry, "init").returncode == 0
    assert S3Storage(s3_registry).children("") == ["mlreg.toml"]
    assert _run(s3_registry, "deploy", constant_path, "--name", "m").returncode == 0
    assert sorted(S3Storage(s3_registry).children("")) == ["ids", "mlreg.toml", "models"]


@pytest.mark.default_policy
def test_a_signed_version_in_the_bucket_loads_and_a_tampered_signature_does_not(s3_registry, constant_path,
                                                                                tmp_path):
    """Signing, checking and carrying signatures through the object store: the user's own
    class, refused by the default policy, loads once signed by the user's key."""
    from mlreg.storage.s3 import S3Storage

    assert _run(s3_registry, "keys", "init").returncode == 0
    deployed = _run(s3_registry, "deploy", constant_path, "--name", "m", "--json")
    assert deployed.returncode == 0, deployed.stderr
    assert [s["valid"] for s in json.loads(deployed.stdout)["signatures"]] == [True]
    assert _run(s3_registry, "predict", "m", "--input", "[[1, 2]]").returncode == 0
    local = str(tmp_path / "local")
    assert _run(local, "pull", "m", "--from", s3_registry).returncode == 0
    pulled = json.loads(_run(local, "status", "m", "--json").stdout)
    assert [(s["valid"], s["key"]) for s in pulled["signatures"]] == [
        (True, s["key"]) for s in json.loads(deployed.stdout)["signatures"]] and pulled["trusted"] is True
    store = S3Storage(s3_registry)
    store.put("models/m/versions/0.1.0/signed.toml", store.get("models/m/versions/0.1.0/signed.toml", 1 << 16).data + b"#")
    r = _run(s3_registry, "predict", "m", "--input", "[[1, 2]]")
    assert r.returncode == 7 and "fakemodels.ConstantModel" in r.stderr, r.stderr
    v = _run(s3_registry, "verify")
    assert v.returncode == 7 and "BAD SIGNATURE" in v.stdout


def test_two_replicas_through_two_gateways_see_a_promote_and_a_delete_within_the_refresh(
        s3_env, s3_registry, constant_path, tmp_path):
    """Two ``serve`` processes on one bucket, each through its own gateway (as two hosts
    behind a load balancer): a promote and a delete made by a third process are seen by
    both within ``--refresh``."""
    import http.client
    import re

    first = fake_artifact(tmp_path, fakemodels.ConstantModel(1), "one.joblib")  # no scikit-learn to import
    assert _run(s3_registry, "deploy", first, "--name", "iris").returncode == 0
    assert _run(s3_registry, "deploy", constant_path, "--name", "iris").returncode == 0  # 0.2.0, primary
    replicas, ports = [], []
    for i, endpoint in enumerate((s3_env.endpoint, s3_env.endpoint2)):
        proc = _spawn(s3_registry, "serve", "--port", "0", "--refresh", "0.5", "--no-access-log",
                      endpoint=endpoint, env={"XDG_CACHE_HOME": str(tmp_path / f"cache{i}")})
        replicas.append(proc)
        match = re.search(r"http://127\.0\.0\.1:(\d+)", proc.stderr.readline())
        assert match
        ports.append(int(match.group(1)))

    def ask(port, path):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("POST", path, body=json.dumps({"inputs": [[5.1, 3.5, 1.4, 0.2]]}),
                     headers={"Content-Type": "application/json"})
        answer = conn.getresponse()
        status, body = answer.status, json.loads(answer.read())
        conn.close()
        return status, body.get("version")

    def seen_within(predicate, limit):
        started = time.monotonic()
        waiting = set(ports)
        while waiting and time.monotonic() - started < limit:
            waiting = {port for port in waiting if not predicate(port)}
            time.sleep(0.05)
        return not waiting, time.monotonic() - started

    try:
        for port in ports:
            assert ask(port, "/v1/models/iris/predict") == (200, "0.2.0")
            assert ask(port, "/v1/models/iris/versions/0.1.0/predict") == (200, "0.1.0")
        assert _run(s3_registry, "promote", "iris", "0.1.0").returncode == 0
        seen, took = seen_within(lambda port: ask(port, "/v1/models/iris/predict") == (200, "0.1.0"), 5)
        assert seen and took < 1.5, took  # the refresh (0.5 s) and a round trip, with room for a slow machine
        assert _run(s3_registry, "delete", "iris", "0.2.0", "--yes").returncode == 0
        seen, took = seen_within(lambda port: ask(port, "/v1/models/iris/versions/0.2.0/predict")[0] == 404, 5)
        assert seen and took < 1.5, took
    finally:
        for proc in replicas:
            proc.terminate()
            proc.wait(timeout=10)
