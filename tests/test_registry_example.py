"""registry-example/: artifacts verify, Active versions predict their README's sample,
the build script rebuilds the same structure, and the quick start runs."""

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

import mlreg
from mlreg.artifacts import hash_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "registry-example")


@pytest.fixture
def example(tmp_path):
    """A copy, so that no test can change the committed example."""
    shutil.copytree(EXAMPLE, tmp_path / "example")
    return mlreg.Registry(tmp_path / "example")


def _structure(reg):
    out = {}
    for info in reg.models():
        name = info.record.name
        out[name] = {
            "description": info.record.description,
            "primary": info.record.primary,
            "type": (info.record.type, info.record.framework),
            "versions": [(v.version, v.status, v.type, v.framework, v.reason) for v in reg.versions(name)],
            "history": [(e.event, e.version, e.status, e.from_, e.to) for e in reg.history(name)],
            "readme": reg.readme(name),
        }
    return out


def test_every_artifact_hash_verifies(example):
    for info in example.models():
        for v in example.versions(info.record.name):
            assert hash_file(example.artifact_path(v)) == (v.size, v.sha256)


def test_every_active_version_predicts_its_readme_sample(example):
    for info in example.models():
        sample = re.search(r"--input '([^']+)'", example.readme(info.record.name)).group(1)
        for v in example.versions(info.record.name, status="active"):
            out = example.predict(info.record.name, json.loads(sample), version=v.version_id)
            assert out["version"] == v.version and len(out["predictions"]) == 1


def test_example_tells_the_documented_story(example):
    s = _structure(example)
    iris = s["Iris Classifier"]
    assert [(v[0], v[1]) for v in iris["versions"]] == [
        ("0.1.0", "active"), ("0.2.0", "active"), ("0.2.1", "active"), ("0.3.0", "failed")]
    assert iris["primary"] == "0.2.1"
    assert ("primary", "0.1.0", None, "0.2.0", "0.1.0") in iris["history"]  # the rollback
    assert "no callable predict" in example.logs("Iris Classifier", "0.3.0")[-2]
    assert example.readme_placeholders("Iris Classifier") == []
    assert s["Diabetes Progression"]["type"] == ("Regression", "scikit-learn")
    assert example.readme_placeholders("Diabetes Progression") == []


def test_build_script_rebuilds_the_same_structure(example, tmp_path):
    target = tmp_path / "rebuilt"
    p = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "build_registry_example.py"), str(target)],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    assert _structure(mlreg.Registry(target)) == _structure(example)


def test_no_machine_details_in_the_example():
    for folder, _, files in os.walk(EXAMPLE):
        for name in files:
            assert not name.startswith("versions.index"), f"a listing wrote its cache into {folder}: tests read a copy"
            if name in (".lock", ".deploy.lock") or name.endswith(".joblib"):
                continue
            text = open(os.path.join(folder, name), encoding="utf-8").read()
            assert "data-team@example" in text or "@" not in text or name == "README.md", name
            # no absolute path of a build machine (temporary or home folders), no lock holder
            assert not re.search(r"/(tmp|home|root|Users)/|\bpid \d+ on\b", text), (name, text[:200])


def test_quick_start_runs(tmp_path):
    env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]}
    p = subprocess.run(["bash", os.path.join(ROOT, "examples", "quickstart.sh")], capture_output=True, text=True,
                       cwd=tmp_path, env=env, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    assert '"predictions"' in p.stdout and "no placeholders left" in p.stdout
