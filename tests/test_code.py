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


@pytest.fixture(autouse=True)
def _loads_any_pickle(monkeypatch, tmp_path_factory):
    """These tests are about the code folder itself (stored, verified, never compiled
    into): they read as a user whose trust file chose ``load = "pickle"``. The default
    policy's refusal of code nobody vouched for is tests/test_policy.py's."""
    trust = tmp_path_factory.mktemp("trust") / "pickle.toml"
    trust.write_text('[policy]\nload = "pickle"\n')
    monkeypatch.setenv("MLREG_TRUST_FILE", str(trust))


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


def _compiled(source, tmp_path):
    """The bytecode of ``source``, as Python would cache it."""
    import py_compile

    src = tmp_path / "evil_src.py"
    src.write_text(source)
    return open(py_compile.compile(str(src), cfile=str(tmp_path / "evil.pyc"), doraise=True), "rb").read()


@pytest.mark.parametrize("where", ["cache", "sourceless", "package-cache"])
def test_planted_bytecode_never_runs(project, tmp_path, where):
    """A .pyc planted in a version's code/ (in __pycache__ beside the source, with a header
    that matches it, or on its own) never runs: predict, verify and doctor."""
    registry = tmp_path / "registry"
    code = "featpkg" if where == "package-cache" else "features_mod.py"
    artifact = "pkg.joblib" if where == "package-cache" else "doubler.joblib"
    assert _mlreg(registry, "deploy", artifact, "--name", "m", "--code", code, cwd=project).returncode == 0
    folder = registry / "models" / "m" / "versions" / "0.1.0" / "code"
    evil = FEATURES + "\nimport os; open(os.path.join(os.environ['HOME'], 'PWNED'), 'w').close()\n"
    if where == "sourceless":  # a module Python's own finder imports from features_mod.pyc
        (folder / "features_mod.py").rename(folder / "features_mod.py.orig")
        (folder / "features_mod.pyc").write_bytes(_compiled(evil, tmp_path))
    else:
        import importlib.util
        import py_compile

        source = folder / ("featpkg/__init__.py" if where == "package-cache" else "features_mod.py")
        cached = importlib.util.cache_from_source(str(source))
        os.makedirs(os.path.dirname(cached), exist_ok=True)
        # a pyc whose header matches the real source's mtime and size, holding other code
        fake = tmp_path / "fake.py"
        fake.write_text(evil)
        st = os.stat(source)
        py_compile.compile(str(fake), cfile=cached, doraise=True,
                           invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP)
        data = bytearray(open(cached, "rb").read())
        import struct

        data[8:16] = struct.pack("<II", int(st.st_mtime) & 0xFFFFFFFF, st.st_size & 0xFFFFFFFF)
        open(cached, "wb").write(bytes(data))
    home = tmp_path / "home"
    home.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE")}
    env["HOME"] = str(home)
    for args in (["predict", "m", "--input", "[[21]]"], ["verify", "m"], ["doctor"]):
        r = subprocess.run(mlreg_command() + ["--registry", str(registry)] + args, cwd=elsewhere,
                           capture_output=True, text=True, env=env, timeout=120)
        if where == "sourceless":
            assert r.returncode == 7, (args, r.stderr)
            if args[0] == "predict":
                assert "features_mod.pyc" in r.stderr and "did not record" in r.stderr
        else:  # the cache is never read: the model answers from its verified source
            assert r.returncode == 0, (args, r.stderr)
            if args[0] == "predict":
                assert json.loads(r.stdout)["predictions"] == [42]
        assert not (home / "PWNED").exists(), args


def test_mlreg_writes_no_bytecode_into_a_code_folder(project, tmp_path):
    registry = tmp_path / "registry"
    assert _mlreg(registry, "deploy", "pkg.joblib", "--name", "m", "--code", "featpkg", cwd=project).returncode == 0
    reg = mlreg.Registry(registry)
    assert reg.predict("m", [[2]])["predictions"] == [4]  # in this process, bytecode writing on
    folder = registry / "models" / "m" / "versions" / "0.1.0" / "code"
    assert [p for p in folder.rglob("*") if "__pycache__" in p.parts or p.suffix == ".pyc"] == []


def test_the_trust_file_pins_the_code_too(project, tmp_path):
    """An artifact's hash alone never vouches for the code beside it."""
    registry = tmp_path / "registry"
    r = _mlreg(registry, "deploy", "doubler.joblib", "--name", "m", "--code", "features_mod.py", "--json",
               cwd=project)
    record = json.loads(r.stdout)
    trust = tmp_path / "trust.toml"
    trust.write_text(f'[models]\nm = ["{record["sha256"]}"]\n')
    r = _mlreg(registry, "--trust-file", trust, "predict", "m", "--input", "[[1]]", cwd=tmp_path)
    assert r.returncode == 7 and f'{record["sha256"]}+{record["code_sha256"]}' in r.stderr
    trust.write_text(f'[models]\nm = ["{record["sha256"]}+{record["code_sha256"]}"]\n')
    r = _mlreg(registry, "--trust-file", trust, "predict", "m", "--input", "[[1]]", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    # the attacker swaps the code and rewrites code_sha256 to match: the trust file says no
    folder = registry / "models" / "m" / "versions" / "0.1.0"
    (folder / "code" / "features_mod.py").write_text(FEATURES.replace("2 * row[0]", "3 * row[0]"))
    from mlreg.usercode import digest

    toml = (folder / "version.toml").read_text().replace(record["code_sha256"], digest(str(folder / "code")))
    (folder / "version.toml").write_text(toml)
    # a reader whose trust file loads any pickle runs the swapped code; one that pins does not
    assert _mlreg(registry, "predict", "m", "--input", "[[1]]", cwd=tmp_path).returncode == 0
    r = _mlreg(registry, "--trust-file", trust, "predict", "m", "--input", "[[1]]", cwd=tmp_path)
    assert r.returncode == 7 and "not in the trust file" in r.stderr
    trust.write_text('[models]\nm = ["nothex+00"]\n')
    assert _mlreg(registry, "--trust-file", trust, "predict", "m", "--input", "[[1]]", cwd=tmp_path).returncode == 7


HELPER = textwrap.dedent('''
    import os, subprocess, sys, time
    # A helper started at import that outlives the check, holding its output pipes.
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    if os.environ.get("MLREG_TEST_HANG"):
        time.sleep(120)

    class Doubler:
        n_features_in_ = 1

        def predict(self, rows):
            if os.environ.get("MLREG_TEST_SHOUT"):
                chunk = "x" * (1 << 20) + "\\n"
                for _ in range(int(os.environ["MLREG_TEST_SHOUT"])):
                    sys.stderr.write(chunk)
            return [2 * row[0] for row in rows]
''')


@pytest.fixture
def helper_project(tmp_path):
    work = tmp_path / "helper"
    work.mkdir()
    (work / "helper_mod.py").write_text(HELPER)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run([sys.executable, "-c", "import joblib, helper_mod; joblib.dump(helper_mod.Doubler(), 'h.joblib')"],
                   cwd=work, check=True, env={**env, "PYTHONPATH": str(work)})
    return work


@pytest.mark.parametrize("hang", [False, True])
def test_the_check_time_limit_holds_against_a_helper_holding_its_pipes(helper_project, tmp_path, hang):
    import time

    registry = tmp_path / "registry"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if hang:
        env["MLREG_TEST_HANG"] = "1"
    started = time.monotonic()
    r = subprocess.run(mlreg_command() + ["--registry", str(registry), "deploy", "h.joblib", "--name", "m",
                                          "--code", "helper_mod.py", "--sample-input", "[[3]]",
                                          "--check-timeout", "5"],
                       cwd=helper_project, capture_output=True, text=True, env=env, timeout=100)
    took = time.monotonic() - started
    assert took < 20, (took, r.stderr)
    if hang:
        assert r.returncode == 5 and "did not finish within 5s" in r.stderr
    else:  # it answered: its helper does not make it late, nor fail
        assert r.returncode == 0, r.stderr


def test_a_chatty_model_costs_the_deploy_no_memory(helper_project, tmp_path):
    """The check keeps only the tail of what the model prints: 300 MB printed costs the
    deploy no more memory than a quiet model's deploy, measured beside it."""
    def peak(shout, registry):
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env["MLREG_TEST_SHOUT"] = shout
        proc = subprocess.Popen(mlreg_command() + ["--registry", str(registry), "deploy", "h.joblib", "--name", "m",
                                                   "--code", "helper_mod.py", "--sample-input", "[[3]]"],
                                cwd=helper_project, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        return usage.ru_maxrss  # KiB, the deploy and the check it waited for

    quiet = peak("0", tmp_path / "quiet")
    chatty = peak("300", tmp_path / "registry")
    assert chatty < quiet + 64 * 1024, f"{chatty} KiB against {quiet} KiB"  # was over 900 MiB more
    log = mlreg.Registry(tmp_path / "registry").logs("m", "0.1.0")
    assert len(log) < 10 << 20


def test_bytecode_planted_in_the_bucket_never_runs(project, tmp_path, s3_registry, monkeypatch):
    """A key planted below a version's code/ in the bucket: a sourceless .pyc is an
    unrecorded file (exit 7); one in __pycache__ is never read."""
    import shutil

    from mlreg.storage.s3 import S3Storage

    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    assert _mlreg(s3_registry, "deploy", "pkg.joblib", "--name", "m", "--code", "featpkg",
                  cwd=project).returncode == 0
    evil = FEATURES + "\nimport os; open(os.path.join(os.environ['HOME'], 'PWNED'), 'w').close()\n"
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    store = S3Storage(s3_registry)
    import sys as _sys

    tag = _sys.implementation.cache_tag
    store.put(f"models/m/versions/0.1.0/code/featpkg/__pycache__/__init__.{tag}.pyc", _compiled(evil, tmp_path))
    out = _mlreg(s3_registry, "predict", "m", "--input", "[[21]]", cwd=tmp_path)
    assert out.returncode == 0 and json.loads(out.stdout)["predictions"] == [42], out.stderr
    store.put("models/m/versions/0.1.0/code/featpkg/extra.pyc", _compiled(evil, tmp_path))
    shutil.rmtree(cache)
    out = _mlreg(s3_registry, "predict", "m", "--input", "[[21]]", cwd=tmp_path)
    assert out.returncode == 7 and "extra.pyc" in out.stderr, out.stderr
    assert not (home / "PWNED").exists()
