"""Hostile input and I/O faults: nothing escapes the registry, nothing crashes the tool,
nothing partial is published, nothing is lost."""

import json
import os
import resource
import shutil
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fakemodels
import mlreg
from conftest import fake_artifact, mlreg_command
from mlreg import atomic, inputs, names, versions
from mlreg.errors import BadInput, IntegrityError, InvalidName, InvalidVersion

# ---------------------------------------------------------------- hostile input


@given(st.text(max_size=80))
@settings(max_examples=400, deadline=None)
def test_no_name_leads_outside_the_registry(text):
    try:
        folder = names.folder(text)
    except InvalidName:
        return
    assert folder and "/" not in folder and "\\" not in folder and "\x00" not in folder
    assert folder not in (".", "..") and not folder.startswith((".", "-"))
    root = "/registry/models"
    assert os.path.dirname(os.path.normpath(os.path.join(root, folder))) == root
    assert names.folder(folder) == folder  # the folder name resolves to the same model


@given(st.text(alphabet="0123456789.-+abcrv ", max_size=20))
@settings(max_examples=300, deadline=None)
def test_version_strings_parse_or_are_refused(text):
    try:
        v = versions.parse(text)
    except InvalidVersion:
        return
    assert str(v) == text and versions.folder(v) == text.split("+")[0]


def test_semver_rules():
    for bad in ("01.2.3", "1.2", " 1.2.3", "1.2.3 ", "1.2.3.4", "v1.2.3"):
        with pytest.raises(InvalidVersion):
            versions.parse(bad)
    assert versions.parse("1.0.0-rc.1") < versions.parse("1.0.0")
    assert versions.folder(versions.parse("1.0.0+a")) == versions.folder(versions.parse("1.0.0+b"))


class FourFeatures(fakemodels.ConstantModel):
    n_features_in_ = 4


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=20,
)


@given(json_values)
@settings(max_examples=400, deadline=None)
def test_predict_input_is_converted_or_refused_as_bad_input(payload):
    model = FourFeatures()
    try:
        converted = inputs.to_model_input(payload, model)
    except BadInput:
        return
    assert len(converted) == len(inputs.rows_of(payload))


@given(st.text(max_size=200))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_predict_cli_never_crashes_on_text(cli, text):
    r = cli("predict", "m", "--input", text)
    assert r.exit_code in (2, 3) and "Traceback" not in r.stderr


# ----------------------------------------------------------------- symlinks


def test_symlinked_version_folder_is_refused(reg, tmp_path, constant_path):
    reg.deploy(constant_path, "m")
    outside = tmp_path / "outside"
    shutil.copytree(os.path.join(reg.path, "models", "m", "versions", "0.1.0"), outside)
    os.symlink(outside, os.path.join(reg.path, "models", "m", "versions", "0.5.0"))
    with pytest.raises(IntegrityError, match="symlink"):
        reg.status("m", "0.5.0")
    before = sorted(os.listdir(outside))
    reg.deploy(constant_path, "m", version="0.6.0")
    assert sorted(os.listdir(outside)) == before


def test_symlink_planted_at_a_temp_name_is_not_followed(tmp_path, monkeypatch):
    target = tmp_path / "victim"
    target.write_text("keep")
    monkeypatch.setattr(atomic, "temp_name", lambda path: os.path.join(os.path.dirname(path), ".model.toml.tmp-fixed"))
    os.symlink(target, tmp_path / ".model.toml.tmp-fixed")
    with pytest.raises(FileExistsError):
        atomic.write_atomic(str(tmp_path / "model.toml"), "x")
    assert target.read_text() == "keep" and not (tmp_path / "model.toml").exists()


# ---------------------------------------------------------------- I/O faults


def test_file_size_limit_during_the_copy(registry_path, constant_path, tmp_path):
    mlreg.Registry(registry_path).deploy(constant_path, "m")
    big = fake_artifact(tmp_path, fakemodels.ConstantModel(1, payload=b"x" * (4 << 20)), "big.joblib")

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))

    p = subprocess.run(mlreg_command() + ["--registry", str(registry_path), "deploy", str(big), "--name", "m"],
                       capture_output=True, text=True, preexec_fn=limit)
    assert p.returncode == 1 and "File too large" in p.stderr and "nothing was deployed" in p.stderr
    assert "Traceback" not in p.stderr
    assert not os.listdir(registry_path / "staging")
    assert [v.version for v in mlreg.Registry(registry_path).versions("m")] == ["0.1.0"]


def test_failing_rename_of_model_toml_publishes_nothing(reg, constant_path, monkeypatch):
    reg.deploy(constant_path, "m")
    real = os.replace

    def failing(src, dst, *a, **k):
        if str(dst).endswith("model.toml"):
            raise OSError(5, "Input/output error", str(dst))
        return real(src, dst, *a, **k)

    monkeypatch.setattr(os, "replace", failing)
    with pytest.raises(OSError):
        reg.deploy(constant_path, "m")
    monkeypatch.setattr(os, "replace", real)
    assert [v.version for v in reg.versions("m")] == ["0.1.0"]
    assert not os.listdir(os.path.join(reg.path, "staging"))
    leftovers = [f for _, _, files in os.walk(reg.path) for f in files if atomic.TEMP_MARKER in f]
    assert leftovers == []
    assert len(os.listdir(os.path.join(reg.path, "ids"))) == 1  # the unpublished deploy's ID was taken back
    assert reg.deploy(constant_path, "m").version == "0.2.0"  # never recorded nor published: free
    assert reg.doctor(older_than=0).ok


def test_failing_fsync_when_finishing_leaves_no_active_partial(reg, constant_path, monkeypatch):
    reg.deploy(constant_path, "m")
    from mlreg.storage.local import LocalStorage

    real = LocalStorage.put

    def failing(self, key, data, *args):
        if key.endswith(("version.toml", "outcome.toml")) and b'status = "deploying"' not in data:
            raise OSError(5, "Input/output error", key)
        return real(self, key, data, *args)

    monkeypatch.setattr(LocalStorage, "put", failing)
    with pytest.raises(OSError):
        reg.deploy(constant_path, "m")
    monkeypatch.setattr(LocalStorage, "put", real)
    found = reg.versions("m")
    assert [(v.version, v.status) for v in found] == [("0.1.0", "active"), ("0.2.0", "failed")]
    assert found[1].interrupted and reg.model("m").record.primary == "0.1.0"


def test_artifact_changing_while_copied_is_refused(tmp_path):
    from mlreg.artifacts import upload
    from mlreg.storage.local import LocalStorage

    source = tmp_path / "growing.joblib"
    source.write_bytes(b"x" * (3 << 20))

    def grow(done, total):
        with open(source, "ab") as f:
            f.write(b"more")

    with pytest.raises(BadInput, match="changed while it was being copied"):
        upload(str(source), LocalStorage(str(tmp_path / "store")), "copy", grow)


def _can_mount_read_only():
    if not shutil.which("unshare") or os.geteuid() != 0:
        return False
    return subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _can_mount_read_only(), reason="needs root and unshare to mount a read-only registry")
def test_read_only_registry(reg, constant_path):
    reg.deploy(constant_path, "Iris Classifier")  # a model that needs no scikit-learn: each command is a process
    reg = reg.path
    script = f'mount --bind "{reg}" "{reg}" && mount -o remount,bind,ro "{reg}" && "$@"'

    def run(*args):
        return subprocess.run(["unshare", "-m", "sh", "-c", script, "sh"] + mlreg_command() + ["--registry", reg]
                              + [str(a) for a in args], capture_output=True, text=True, timeout=120)

    for args in (["versions", "iris-classifier"], ["status", "iris-classifier"], ["models"], ["show", "iris-classifier"],
                 ["history", "iris-classifier"], ["readme", "show", "iris-classifier"], ["verify"], ["doctor"],
                 ["predict", "iris-classifier", "--input", "[[5.1, 3.5, 1.4, 0.2]]"]):
        r = run(*args)
        assert r.returncode == 0, (args, r.stderr)
    r = run("deploy", constant_path, "--name", "iris-classifier")
    assert r.returncode == 1 and "Read-only file system" in r.stderr and "nothing was deployed" in r.stderr
    r = run("describe", "iris-classifier", "new words")
    assert r.returncode == 1 and "Read-only file system" in r.stderr and "Traceback" not in r.stderr
    r = run("promote", "iris-classifier", "0.1.0")  # already the primary: nothing to write
    assert r.returncode == 0 and "already the primary" in r.stdout


# --------------------------------------------------------------------- trust


def test_expect_sha256_and_a_trust_file(iris_reg, tmp_path, cli, iris_model_path, constant_path):
    good = iris_reg.status("iris-classifier").sha256
    rows = "[[5.1, 3.5, 1.4, 0.2]]"
    assert cli("predict", "iris-classifier", "--input", rows, "--expect-sha256", good).exit_code == 0
    r = cli("predict", "iris-classifier", "--input", rows, "--expect-sha256", "0" * 64)
    assert r.exit_code == 7 and "not the expected" in r.stderr
    trust = tmp_path / "trust.toml"
    trust.write_text(f'[models]\n"Iris Classifier" = ["{good}"]\n')
    assert cli("--trust-file", trust, "predict", "iris-classifier", "--input", rows).exit_code == 0
    # a registry whose artifact and metadata were both rewritten: the trust file still says no
    iris_reg.deploy(constant_path, "iris-classifier")
    r = cli("--trust-file", trust, "predict", "iris-classifier", "--input", rows)
    assert r.exit_code == 7 and "not in the trust file" in r.stderr
    assert cli("--trust-file", tmp_path / "missing.toml", "predict", "iris-classifier", "--input", rows).exit_code == 7
    trusted = mlreg.Registry(iris_reg.path, trust_file=trust)
    assert trusted.predict("iris-classifier", json.loads(rows), version="0.1.0")["version"] == "0.1.0"
