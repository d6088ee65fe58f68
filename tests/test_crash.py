"""Kill deploys, promotes and README saves with SIGKILL at every named step, then prove the
registry sound with doctor: nothing partial is Active, the primary moved only if its write
completed, nothing is lost, and the next deploy gets a new number."""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import time

import joblib
import pytest

import fakemodels
import mlreg
from conftest import mlreg_command
from conftest import run_cli as run_here
from mlreg.checkpoints import DEPLOY_STEPS, PROMOTE_STEPS, README_STEPS


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory):
    """m 0.1.0 (primary) and an artifact for the next deploy."""
    root = tmp_path_factory.mktemp("crash")
    joblib.dump(fakemodels.ConstantModel(1), root / "one.joblib")
    joblib.dump(fakemodels.ConstantModel(2), root / "two.joblib")
    mlreg.Registry(root / "registry").deploy(root / "one.joblib", "m")
    return root


def _run(registry, *args, crash=None, **kwargs):
    """The command killed at ``crash`` in a process of its own; without one (and without
    ``subprocess.run``'s keywords), the same CLI in this test process (the proof after a
    kill needs no process of its own)."""
    if crash is None and not kwargs:
        return run_here(registry, *args)
    env = {**os.environ, **({"MLREG_TEST_CRASH_AT": crash} if crash else {})}
    return subprocess.run(mlreg_command() + ["--registry", str(registry)] + [str(a) for a in args],
                          capture_output=True, text=True, env=env, timeout=120, **kwargs)


def _sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def _sound(registry):
    """doctor --fix leaves nothing wrong, and every version is complete-and-verified or failed."""
    fixed = _run(registry, "doctor", "--fix", "--older-than", "0", "--json")
    assert fixed.returncode == 0, fixed.stdout
    assert _run(registry, "doctor", "--older-than", "0").returncode == 0
    assert _run(registry, "verify").returncode == 0
    found = json.loads(_run(registry, "versions", "m", "--json").stdout)
    for v in found:
        assert v["status"] in ("active", "failed")
    primaries = [v for v in found if v["primary"]]
    assert len(primaries) == 1 and primaries[0]["status"] == "active"
    return found, json.loads(fixed.stdout)


@pytest.mark.parametrize("step", DEPLOY_STEPS)
def test_deploy_killed_at_every_step(two_versions, tmp_path, step):
    registry = tmp_path / "registry"
    shutil.copytree(two_versions / "registry", registry)
    original = _sha(registry / "models/m/versions/0.1.0/model.joblib")
    r = _run(registry, "deploy", two_versions / "two.joblib", "--name", "m", crash=step)
    assert r.returncode == -signal.SIGKILL, r.stderr
    seen = _run(registry, "versions", "m", "--json")
    assert seen.returncode == 0
    published = DEPLOY_STEPS.index(step) >= DEPLOY_STEPS.index("deploy:published")
    became_primary = DEPLOY_STEPS.index(step) >= DEPLOY_STEPS.index("deploy:primary-written")
    # The primary rule holds at once, before any repair: the new version is either
    # the Active primary, or Deployment Failed (interrupted) and never primary.
    before = {v["version"]: v for v in json.loads(seen.stdout)}
    if published:
        new = before["0.2.0"]
        assert (new["status"], new["primary"]) == (("active", True) if became_primary else ("failed", False))
    found, report = _sound(registry)
    primary = next(v["version"] for v in found if v["primary"])
    assert primary == ("0.2.0" if became_primary else "0.1.0")
    assert _sha(registry / "models/m/versions/0.1.0/model.joblib") == original
    assert [v["version"] for v in found] == (["0.1.0", "0.2.0"] if published else ["0.1.0"])
    if published and not became_primary:
        assert found[1]["status"] == "failed" and "interrupted" in found[1]["reason"]
        assert any(p["kind"] == "interrupted" and p["fixed"] for p in report["problems"])
    if published:
        # After doctor --fix the record is complete: a deploy outcome in the history and the log.
        history = json.loads(_run(registry, "history", "m", "--json").stdout)
        outcomes = [e for e in history if e["event"] == "deploy" and e["version"] == "0.2.0"]
        assert [e["status"] for e in outcomes] == [found[1]["status"]]
        log = json.loads(_run(registry, "logs", "m", "0.2.0", "--json").stdout)
        assert log[-1]["text"].startswith("Active" if became_primary else "Deployment Failed")
        if became_primary:
            assert [e["to"] for e in history if e["event"] == "primary"][-1] == "0.2.0"
    nxt = _run(registry, "deploy", two_versions / "two.joblib", "--name", "m", "--json")
    assert nxt.returncode == 0 and json.loads(nxt.stdout)["version"] not in [v["version"] for v in found]
    assert not os.listdir(registry / "staging")


@pytest.mark.parametrize("step", PROMOTE_STEPS)
def test_promote_killed_at_every_step(two_versions, tmp_path, step):
    registry = tmp_path / "registry"
    shutil.copytree(two_versions / "registry", registry)
    assert _run(registry, "deploy", two_versions / "two.joblib", "--name", "m").returncode == 0
    r = _run(registry, "promote", "m", "0.1.0", crash=step)
    assert r.returncode == -signal.SIGKILL
    found, _ = _sound(registry)
    assert next(v["version"] for v in found if v["primary"]) == "0.1.0"  # model.toml was written
    history = json.loads(_run(registry, "history", "m", "--json").stdout)
    assert [e for e in history if e["event"] == "primary"][-1]["to"] == "0.1.0"


@pytest.mark.parametrize("step", README_STEPS)
def test_readme_save_killed(two_versions, tmp_path, step):
    registry = tmp_path / "registry"
    shutil.copytree(two_versions / "registry", registry)
    new = tmp_path / "new.md"
    new.write_text("# m\n\nNew text.\n")
    r = _run(registry, "readme", "edit", "m", "--file", new, crash=step)
    assert r.returncode == -signal.SIGKILL
    assert (registry / "models/m/README.md").read_text() == new.read_text()
    _sound(registry)


@pytest.fixture(scope="module")
def big_artifact(tmp_path_factory):
    path = tmp_path_factory.mktemp("big") / "big.joblib"
    joblib.dump(fakemodels.ConstantModel(3, payload=os.urandom(1 << 20) * 400), path)
    return path


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupt_mid_copy_cleans_staging(two_versions, tmp_path, big_artifact, sig, code):
    registry = tmp_path / "registry"
    shutil.copytree(two_versions / "registry", registry)
    proc = subprocess.Popen(mlreg_command() + ["--registry", str(registry), "deploy", str(big_artifact), "--name", "m"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not any(f.name == "model.joblib" for f in (registry / "staging").glob("*/*")):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.002)
    proc.send_signal(sig)
    assert proc.wait(timeout=60) == code
    assert not os.listdir(registry / "staging")
    assert [v.version for v in mlreg.Registry(registry).versions("m")] == ["0.1.0"]
