"""Kill delete, prune and delete --model with SIGKILL at every named step: no version is ever
half deleted and Active, doctor --fix completes what was cut short (and is clean after), and a
deleted number or ID is never given again."""

import json
import os
import shutil
import subprocess

import pytest

import fakemodels
import mlreg
from conftest import fake_artifact, mlreg_command
from conftest import run_cli as run_here
from mlreg.checkpoints import DELETE_STEPS, MODEL_DELETE_STEPS


@pytest.fixture(scope="module")
def four(tmp_path_factory):
    """m 0.1.0 ... 0.4.0 (primary), different bytes each."""
    root = tmp_path_factory.mktemp("crash")
    reg = mlreg.Registry(root / "registry")
    for n in range(1, 5):
        reg.deploy(fake_artifact(root, fakemodels.ConstantModel(n), f"c{n}.joblib"), "m")
    return root


def _run(registry, *args, crash=None):
    """The command killed at ``crash`` in a process of its own; without one, the same CLI
    in this test process (the proof after a kill needs no process of its own)."""
    if crash is None:
        return run_here(registry, *args)
    env = {**os.environ, "MLREG_TEST_CRASH_AT": crash}
    return subprocess.run(mlreg_command() + ["--registry", str(registry)] + [str(a) for a in args],
                          capture_output=True, text=True, env=env, timeout=120)


def _json(registry, *args):
    p = _run(registry, *args, "--json")
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def _copy(four, tmp_path):
    registry = tmp_path / "registry"
    shutil.copytree(four / "registry", registry)
    return registry


def _fixed(registry):
    fixed = _run(registry, "doctor", "--fix", "--older-than", "0", "--json")
    assert fixed.returncode == 0, fixed.stdout
    clean = _run(registry, "doctor", "--older-than", "0", "--json")
    assert clean.returncode == 0 and json.loads(clean.stdout)["problems"] == [], clean.stdout
    assert _run(registry, "verify").returncode == 0
    return json.loads(fixed.stdout)


@pytest.mark.parametrize("step", DELETE_STEPS)
def test_delete_killed_at_every_step(four, tmp_path, step):
    registry = _copy(four, tmp_path)
    gone = _json(registry, "status", "m", "0.2.0")
    killed = _run(registry, "delete", "m", "0.2.0", "--yes", crash=step)
    assert killed.returncode == -9
    # Before any repair: the version is gone for every reader, never half there.
    listed = _json(registry, "versions", "m")
    assert [v["version"] for v in listed] == ["0.1.0", "0.3.0", "0.4.0"]
    assert all(v["status"] == "active" for v in listed)
    assert _run(registry, "status", "m", "0.2.0").returncode == 3
    assert _run(registry, "status", "m", gone["version_id"]).returncode == 3
    assert _run(registry, "predict", "m", "--version", "0.2.0", "--input", "[[1]]").returncode == 3
    report = _fixed(registry)
    if step != "delete:history-written":
        assert "interrupted-delete" in {p["kind"] for p in report["problems"]} or step == "delete:unmarked"
    assert not (registry / "models/m/versions/0.2.0").exists()
    assert (registry / "models/m/deleted/0.2.0.toml").exists()
    assert [e["version"] for e in _json(registry, "history", "m") if e["event"] == "delete"] == ["0.2.0"]
    assert _run(registry, "deploy", four / "c2.joblib", "--name", "m", "--version", "0.2.0").returncode == 4
    assert _json(registry, "deploy", four / "c2.joblib", "--name", "m")["version"] == "0.5.0"
    assert _json(registry, "status", "m")["version"] == "0.5.0"


@pytest.mark.parametrize("step", DELETE_STEPS[:5])
def test_prune_killed_at_every_step(four, tmp_path, step):
    registry = _copy(four, tmp_path)
    killed = _run(registry, "prune", "m", "--keep", "1", "--yes", crash=step)
    assert killed.returncode == -9
    assert [v["version"] for v in _json(registry, "versions", "m")] == ["0.4.0"]
    _fixed(registry)
    assert sorted(os.listdir(registry / "models/m/versions")) == ["0.4.0"]
    assert sorted(e["version"] for e in _json(registry, "history", "m") if e["event"] == "delete") == [
        "0.1.0", "0.2.0", "0.3.0"]
    assert _json(registry, "status", "m")["primary"] is True


@pytest.mark.parametrize("step", MODEL_DELETE_STEPS)
def test_model_delete_killed_at_every_step(four, tmp_path, step):
    registry = _copy(four, tmp_path)
    ids = [v["version_id"] for v in _json(registry, "versions", "m")]
    killed = _run(registry, "delete", "m", "--model", "--yes", crash=step)
    assert killed.returncode == -9
    assert _run(registry, "show", "m").returncode == 3 and _json(registry, "models") == []
    busy = _run(registry, "deploy", four / "c1.joblib", "--name", "m")
    assert busy.returncode == 6 and "doctor --fix" in busy.stderr
    report = _fixed(registry)
    assert {p["kind"] for p in report["problems"]} >= {"interrupted-delete"}
    assert not (registry / "models/m").exists()
    for version_id in ids:
        assert _run(registry, "status", "m", version_id).returncode == 3
    fresh = _json(registry, "deploy", four / "c1.joblib", "--name", "m")
    assert fresh["version"] == "0.1.0" and fresh["version_id"] not in ids


def test_delete_killed_on_a_bucket_is_completed_by_doctor(s3_registry, tmp_path):
    for n in (1, 2):
        assert _run(s3_registry, "deploy", fake_artifact(tmp_path, fakemodels.ConstantModel(n), f"c{n}.joblib"),
                    "--name", "m").returncode == 0
    assert _run(s3_registry, "delete", "m", "0.1.0", "--yes", crash="delete:unpublished").returncode == -9
    assert [v["version"] for v in _json(s3_registry, "versions", "m")] == ["0.2.0"]
    _fixed(s3_registry)
    assert _run(s3_registry, "deploy", tmp_path / "c1.joblib", "--name", "m", "--version", "0.1.0").returncode == 4
