"""A model with its own classes: `deploy --code` stores them with the version, the check
proves what predict will do (it never sees the deployer's folder), and the code is
verified before every load."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

import mlreg
from conftest import mlreg_command

FEATURES = textwrap.dedent('''
    class Doubler:
        """A model whose class lives in the user's project, not in any installed package."""

        n_features_in_ = 1

        def predict(self, rows):
            return [2 * row[0] for row in rows]

    class Broken(Doubler):
        def predict(self, rows):
            raise RuntimeError("the model's own bug")
''')


@pytest.fixture
def project(tmp_path):
    """A project folder with a module of its own and two artifacts pickled from it."""
    work = tmp_path / "project"
    work.mkdir()
    (work / "features_mod.py").write_text(FEATURES)
    package = work / "featpkg"
    package.mkdir()
    (package / "__init__.py").write_text(FEATURES)
    script = ("import joblib, features_mod, featpkg\n"
              "joblib.dump(features_mod.Doubler(), 'doubler.joblib')\n"
              "joblib.dump(features_mod.Broken(), 'broken.joblib')\n"
              "joblib.dump(featpkg.Doubler(), 'pkg.joblib')\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run([sys.executable, "-c", script], cwd=work, check=True, env={**env, "PYTHONPATH": str(work)})
    return work


def _mlreg(registry, *args, cwd, input=None):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # as a user has it: no test folders
    return subprocess.run(mlreg_command() + ["--registry", str(registry)] + [str(a) for a in args], cwd=cwd,
                          capture_output=True, text=True, env=env, input=input, timeout=120)


def test_a_model_whose_module_is_missing_fails_its_deploy_naming_the_module_and_code(project, tmp_path):
    registry = tmp_path / "registry"
    # Deployed from the project folder, where `import features_mod` works: the check must not see it.
    r = _mlreg(registry, "deploy", "doubler.joblib", "--name", "m", "--sample-input", "[[3]]", cwd=project)
    assert r.returncode == 5, r.stderr
    assert "features_mod" in r.stderr and "--code" in r.stderr
    assert mlreg.Registry(registry).versions("m")[0].status == "failed"


@pytest.mark.parametrize("code", ["features_mod.py", "featpkg"])
def test_deploy_with_code_is_callable_from_anywhere(project, tmp_path, code):
    registry = tmp_path / "registry"
    artifact = "doubler.joblib" if code.endswith(".py") else "pkg.joblib"
    r = _mlreg(registry, "deploy", artifact, "--name", "m", "--code", code, "--sample-input", "[[3]]", "--json",
               cwd=project)
    assert r.returncode == 0, r.stderr
    record = json.loads(r.stdout)
    assert record["code_sha256"] and record["status"] == "active"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = _mlreg(registry, "predict", "m", "--input", "[[21]]", cwd=elsewhere)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["predictions"] == [42]
    assert _mlreg(registry, "verify", "m", cwd=elsewhere).returncode == 0
    assert _mlreg(registry, "doctor", cwd=elsewhere).returncode == 0


def test_changed_code_is_never_loaded(project, tmp_path):
    registry = tmp_path / "registry"
    assert _mlreg(registry, "deploy", "doubler.joblib", "--name", "m", "--code", "features_mod.py",
                  cwd=project).returncode == 0
    planted = registry / "models" / "m" / "versions" / "0.1.0" / "code" / "features_mod.py"
    planted.write_text(FEATURES + "\nimport os; open('PWNED', 'w').close()\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    r = _mlreg(registry, "predict", "m", "--input", "[[1]]", cwd=elsewhere)
    assert r.returncode == 7 and "code" in r.stderr
    assert not (elsewhere / "PWNED").exists()
    assert _mlreg(registry, "verify", "m", cwd=elsewhere).returncode == 7


def test_code_that_is_not_a_python_file_or_folder_is_refused_before_anything_is_written(project, tmp_path):
    registry = tmp_path / "registry"
    (project / "notes.txt").write_text("x")
    r = _mlreg(registry, "deploy", "doubler.joblib", "--name", "m", "--code", "notes.txt", cwd=project)
    assert r.returncode == 2 and "--code" in r.stderr
    assert not registry.exists()


def test_a_model_whose_predict_raises_says_so(project, tmp_path):
    registry = tmp_path / "registry"
    assert _mlreg(registry, "deploy", "broken.joblib", "--name", "m", "--code", "features_mod.py",
                  cwd=project).returncode == 0
    r = _mlreg(registry, "predict", "m", "--input", "[[1]]", cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr.strip() == "mlreg: error: the model's predict raised RuntimeError: the model's own bug"


def test_the_recorded_environment_holds_only_what_the_model_needs(iris_reg):
    libraries = iris_reg.status("iris-classifier").environment["libraries"]
    assert {"scikit-learn", "numpy", "joblib"} <= set(libraries)
    assert not {"rich", "narwhals", "python-dateutil", "typer", "pandas"} & set(libraries), libraries


def test_code_on_an_object_store_is_checked_stored_and_verified(project, tmp_path, s3_registry, monkeypatch):
    from mlreg.storage.s3 import S3Storage

    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    r = _mlreg(s3_registry, "deploy", "pkg.joblib", "--name", "m", "--code", "featpkg", "--sample-input", "[[3]]",
               "--json", cwd=project)
    assert r.returncode == 0, r.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = _mlreg(s3_registry, "predict", "m", "--input", "[[21]]", cwd=elsewhere)
    assert out.returncode == 0 and json.loads(out.stdout)["predictions"] == [42], out.stderr
    S3Storage(s3_registry).put("models/m/versions/0.1.0/code/featpkg/__init__.py", b"import os\n")
    assert _mlreg(s3_registry, "verify", cwd=elsewhere).returncode == 7  # what the bucket holds now
    import shutil

    shutil.rmtree(cache)  # on another machine, or once the cache is gone: never loaded
    changed = _mlreg(s3_registry, "predict", "m", "--input", "[[21]]", cwd=elsewhere)
    assert changed.returncode == 7 and "code_sha256" in changed.stderr
