"""The README stays true: its commands are CI's, its Makefile is the one that runs, its
shell snippets behave as it says."""

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _readme():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        return f.read()


def _blocks(text, language):
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def test_ci_runs_the_readme_commands():
    first, second = _blocks(_readme(), "sh")[:2]
    ci = open(os.path.join(ROOT, ".ci", "run"), encoding="utf-8").read()
    assert first.strip() in ci and second.strip() in ci


def test_readme_makefile_is_the_example_makefile():
    makefile = open(os.path.join(ROOT, "examples", "Makefile"), encoding="utf-8").read()
    shown = _blocks(_readme(), "make")[0]
    body = "".join(line for line in makefile.splitlines(keepends=True) if not line.startswith("# Deploy")
                   and not line.startswith("# promote"))
    assert shown.strip() == body.strip()


@pytest.mark.skipif(not (shutil.which("make") and shutil.which("jq")), reason="needs make and jq")
def test_makefile_deploys_once_and_promotes_only_when_documented(tmp_path):
    for name in ("Makefile", "train_iris.py"):
        shutil.copy(os.path.join(ROOT, "examples", name), tmp_path)
    env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]}
    env.pop("MLREG_REGISTRY", None)
    first = subprocess.run(["make"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert first.returncode != 0 and "placeholders" in first.stderr
    mlreg = [os.path.join(os.path.dirname(sys.executable), "mlreg"), "--registry", str(tmp_path / "registry")]
    subprocess.run(mlreg + ["readme", "edit", "Iris Classifier", "--file", "-"], input="# Iris\n\nDocumented.\n",
                   text=True, check=True, capture_output=True)
    second = subprocess.run(["make"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert second.returncode == 0, second.stderr
    assert "primary none -> 0.1.0" in second.stdout and "mlreg deploy" not in second.stdout
    status = subprocess.run(mlreg + ["status", "iris-classifier", "--json"], capture_output=True, text=True)
    assert status.returncode == 0 and '"version": "0.1.0"' in status.stdout
    os.utime(tmp_path / "train_iris.py")  # retrain: the same data gives the same bytes
    third = subprocess.run(["make"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert third.returncode == 0 and "mlreg deploy" in third.stdout, third.stderr
    listed = subprocess.run(mlreg + ["versions", "iris-classifier", "--json"], capture_output=True, text=True)
    assert [v["version"] for v in json.loads(listed.stdout)] == ["0.1.0"]  # --if-changed minted nothing
    subprocess.run(mlreg + ["deploy", str(tmp_path / "build" / "model.joblib"), "--name", "Iris Classifier",
                            "--no-promote"], check=True, capture_output=True)
    kept = subprocess.run(["make", "retention", "KEEP=0"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert kept.returncode == 0 and "Would delete 1 version(s): 0.2.0" in kept.stdout, kept.stderr
    listed = subprocess.run(mlreg + ["versions", "iris-classifier", "--json"], capture_output=True, text=True)
    assert [v["version"] for v in json.loads(listed.stdout)] == ["0.1.0"]  # the primary stays whatever KEEP says


def test_until_loop_from_the_readme_waits_while_deploying(registry_path, reg, constant_path):
    """The README's `until ... [ $? -ne 6 ]` loop stops as soon as the version is no longer Deploying."""
    reg.deploy(constant_path, "m")
    line = next(l for l in _readme().splitlines() if l.startswith("until mlreg status"))
    line = line.replace("iris-classifier 0.3.0", "m 0.1.0").replace("sleep 2", "sleep 0.1")
    env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"],
           "MLREG_REGISTRY": str(registry_path)}
    p = subprocess.run(["bash", "-c", line], env=env, capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and "Active" in p.stdout


def test_wheel_ships_the_builtin_templates(tmp_path):
    import zipfile

    # the build backend installed with the test extra (an isolated build environment, made
    # anew with no pip cache, cost the suite about 15 s of CPU)
    p = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                        "-w", str(tmp_path), ROOT],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    wheel = next(tmp_path.glob("mlreg-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    templates = [n for n in names if n.startswith("mlreg/builtin_templates/") and n.endswith(".toml")]
    assert len(templates) >= 4 and not any(n.startswith("tests/") for n in names)
    # every module of the package, subpackages too
    modules = {os.path.relpath(os.path.join(folder, f), ROOT) for folder, _, files in os.walk(os.path.join(ROOT, "mlreg"))
               for f in files if f.endswith(".py")}
    assert modules <= set(names), modules - set(names)
