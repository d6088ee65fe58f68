"""Real processes: parallel deploys, readers during writes, and deploys killed with SIGKILL."""

import glob
import hashlib
import json
import os
import signal
import subprocess
import time

import joblib
import pytest

import fakemodels
import mlreg
from conftest import mlreg_command
from conftest import run_cli as run_here


def _spawn(registry, *args, env=None):
    return subprocess.Popen(
        mlreg_command() + ["--registry", str(registry)] + [str(a) for a in args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})},
    )


def _versions(registry, name):
    """What `versions --json` lists, read in this test process (the writers are processes)."""
    p = run_here(registry, "versions", name, "--json")
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def _deploy_here(registry, artifact):
    """A deploy of ``m`` before or after the processes under test, in this test process."""
    p = run_here(registry, "deploy", artifact, "--name", "m", "--json")
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _assert_sound(registry, name):
    """Every Active version is complete with a verified hash; at most one primary, and Active."""
    found = _versions(registry, name)
    for v in found:
        assert v["status"] in ("active", "failed"), v
        if v["status"] == "active":
            vdir = os.path.join(registry, "models", name, "versions", v["version"].split("+")[0])
            artifact = [p for p in glob.glob(os.path.join(vdir, "model.*"))]
            assert len(artifact) == 1 and _sha256(artifact[0]) == v["sha256"], v
    primaries = [v for v in found if v["primary"]]
    assert len(primaries) <= 1 and all(p["status"] == "active" for p in primaries)
    return found


def test_16_parallel_deploys_of_one_model(registry_path, constant_path):
    # (a model that needs no scikit-learn: 32 processes importing it cost the suite a minute of CPU)
    procs = [_spawn(registry_path, "deploy", constant_path, "--name", "iris", "--json") for _ in range(16)]
    results = [(p.wait(timeout=240), p.stdout.read(), p.stderr.read()) for p in procs]
    assert [code for code, _, _ in results] == [0] * 16, [err for _, _, err in results]
    deployed = [json.loads(out) for _, out, _ in results]
    assert len({d["version"] for d in deployed}) == 16
    assert len({d["version_id"] for d in deployed}) == 16
    found = _assert_sound(str(registry_path), "iris")
    assert [v["version"] for v in found] == [f"0.{i}.0" for i in range(1, 17)]
    assert all(v["status"] == "active" for v in found)
    assert [v["version"] for v in found if v["primary"]] == ["0.16.0"]


def test_8_parallel_first_deploys_of_8_models(registry_path, constant_path):
    procs = [_spawn(registry_path, "deploy", constant_path, "--name", f"model {i}", "--json") for i in range(8)]
    codes = [p.wait(timeout=120) for p in procs]
    assert codes == [0] * 8, [p.stderr.read() for p in procs]
    models = json.loads(run_here(registry_path, "models", "--json").stdout)
    assert sorted(m["name"] for m in models) == [f"model {i}" for i in range(8)]
    assert all(m["primary"] == "0.1.0" and m["version_count"] == 1 for m in models)


def test_concurrent_first_deploys_of_one_new_model(registry_path, constant_path):
    procs = [_spawn(registry_path, "deploy", constant_path, "--name", "Fresh Model", "--json") for _ in range(6)]
    assert [p.wait(timeout=120) for p in procs] == [0] * 6
    found = _versions(str(registry_path), "fresh-model")
    assert len(found) == 6 and len({v["version"] for v in found}) == 6


def test_readers_never_fail_during_writes(registry_path, constant_path):
    _deploy_here(registry_path, constant_path)
    writers = [_spawn(registry_path, "deploy", constant_path, "--name", "m") for _ in range(6)]
    reads = 0
    while any(w.poll() is None for w in writers) or reads < 5:
        found = _versions(registry_path, "m")  # asserts exit 0 and valid JSON
        assert all(v["status"] in ("deploying", "active") for v in found)
        reads += 1
    assert [w.wait() for w in writers] == [0] * 6
    assert reads >= 5


@pytest.fixture(scope="module")
def big_artifact(tmp_path_factory):
    path = tmp_path_factory.mktemp("big") / "big.joblib"
    joblib.dump(fakemodels.SlowToLoad(3, payload=os.urandom(1 << 20) * 300), path)
    return path


def _kill_when(proc, condition, timeout=60):
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


@pytest.mark.parametrize("moment", ["copying", "checking"])
def test_sigkill_at_a_named_moment(registry_path, constant_path, big_artifact, moment):
    reg = str(registry_path)
    _deploy_here(reg, constant_path)
    proc = _spawn(reg, "deploy", big_artifact, "--name", "m", env={"MLREG_TEST_LOAD_SECONDS": "30"})
    if moment == "copying":
        partial = lambda: any(0 < os.path.getsize(p) < big_artifact.stat().st_size
                              for p in glob.glob(os.path.join(reg, "staging", "*", "model.joblib"))
                                  + glob.glob(os.path.join(reg, "staging", "*", ".model.joblib.tmp-*")))
        _kill_when(proc, partial)
    else:
        _kill_when(proc, lambda: os.path.exists(os.path.join(reg, "models", "m", "versions", "0.2.0", "version.toml")))
    found = _assert_sound(reg, "m")
    assert [v["version"] for v in found if v["primary"]] == ["0.1.0"]
    if moment == "checking":
        killed = found[-1]
        assert (killed["version"], killed["status"], killed["status_label"]) == ("0.2.0", "failed", "Deployment Failed (interrupted)")
    else:
        assert [v["version"] for v in found] == ["0.1.0"]
    assert _deploy_here(reg, constant_path)["version"] not in [v["version"] for v in found]


@pytest.mark.parametrize("delay", [0.05, 0.2, 0.5, 1.0])
def test_sigkill_at_any_moment(registry_path, constant_path, big_artifact, delay):
    reg = str(registry_path)
    _deploy_here(reg, constant_path)
    proc = _spawn(reg, "deploy", big_artifact, "--name", "m", env={"MLREG_TEST_LOAD_SECONDS": "0.5"})
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    found = _assert_sound(reg, "m")
    primary = [v for v in found if v["primary"]]
    assert primary[0]["version"] in ("0.1.0", "0.2.0")  # 0.2.0 only if its deploy completed
    assert _deploy_here(reg, constant_path)["version"] not in [v["version"] for v in found]


def test_a_first_write_that_finds_another_init_half_done_uses_its_registry(registry_path, monkeypatch):
    """Two first deploys: one looks for mlreg.toml (absent), the other then creates the
    registry, and the first finds the folder no longer empty. That is the other's
    registry, not "a non-empty folder that is not a registry" (exit 2, once seen among
    8 parallel first deploys)."""
    ours, theirs = mlreg.Registry(registry_path), mlreg.Registry(registry_path)
    real = ours.repo.check_format
    looks = []

    def racing():
        looks.append(1)
        if len(looks) == 1:
            theirs.repo.ensure()  # meanwhile, the other process makes the registry
            raise FileNotFoundError(registry_path / "mlreg.toml")
        return real()

    monkeypatch.setattr(ours.repo, "check_format", racing)
    assert ours.repo.init() is False
    ours.repo.check_format()
