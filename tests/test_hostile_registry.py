"""A teammate, or an attacker with write access to the shared registry, may have put
anything there: metadata that lies, links, FIFOs, over-long numbers. Nothing they plant
is followed, written through, hangs a reader or loads an artifact it should not."""

import os
import shutil
import subprocess
import threading

import pytest

import fakemodels
import mlreg
from conftest import fake_artifact, mlreg_command
from mlreg import atomic, metadata
from mlreg.errors import IntegrityError, InvalidVersion


def _version_toml(reg, model, version):
    return os.path.join(reg.path, "models", model, "versions", version, "version.toml")


def _rewrite(path, **changes):
    metadata.write_toml(path, {**metadata.read_toml(path), **changes})


@pytest.fixture
def victim_and_other(reg, tmp_path):
    """'victim' predicts 1, 'other' predicts 2; each 0.1.0 and trusted for its own artifact only."""
    v = reg.deploy(fake_artifact(tmp_path, fakemodels.ConstantModel(1), "v.joblib"), "victim")
    o = reg.deploy(fake_artifact(tmp_path, fakemodels.ConstantModel(2), "o.joblib"), "other")
    trust = tmp_path / "trust.toml"
    trust.write_text(f'[models]\nvictim = ["{v.sha256}"]\nother = ["{o.sha256}"]\n')
    return reg, v, o, trust


# ------------------------------------------------ 2. trust follows the folder


def test_a_version_claiming_another_model_is_refused(victim_and_other, sh):
    reg, _, other, trust = victim_and_other
    # The attack: victim's version.toml claims to be other's, with other's hash and size.
    _rewrite(_version_toml(reg, "victim", "0.1.0"), model="other", sha256=other.sha256, size=other.size)
    r = sh("--trust-file", trust, "predict", "victim", "--input", "[[0]]")
    assert r.exit_code == 7 and "victim" in r.stderr and "version.toml" in r.stderr, r.stdout
    assert r.stdout == ""
    assert sh("predict", "other", "--input", "[[0]]").json()["predictions"] == [2]  # other is untouched
    report = sh("doctor", "--json")
    assert report.exit_code == 7
    assert any(p["kind"] == "metadata" and "victim" in p["path"] for p in report.json()["problems"])


def test_a_version_claiming_another_number_is_refused(reg, constant_path):
    reg.deploy(constant_path, "m")
    reg.deploy(constant_path, "m")
    _rewrite(_version_toml(reg, "m", "0.2.0"), version="0.1.0")
    with pytest.raises(IntegrityError, match="0.2.0"):
        reg.predict("m", [[0]], version="0.2.0")
    assert not reg.doctor().ok


# ------------------------------------------- 3. the artifact is a plain file here


@pytest.mark.parametrize("artifact", ["/etc/passwd", "../0.1.0/model.joblib", "sub/model.joblib", ".hidden", ""])
def test_an_artifact_outside_its_version_folder_is_never_loaded(reg, constant_path, tmp_path, artifact, sh):
    reg.deploy(constant_path, "m")
    vdir = os.path.join(reg.path, "models", "m", "versions", "0.1.0")
    if artifact.startswith("sub/"):
        outside = tmp_path / "elsewhere"
        outside.mkdir()
        shutil.copy(os.path.join(vdir, "model.joblib"), outside / "model.joblib")
        os.symlink(outside, os.path.join(vdir, "sub"))
    _rewrite(os.path.join(vdir, "version.toml"), artifact=artifact)
    r = sh("predict", "m", "--input", "[[0]]")
    assert r.exit_code == 7 and "artifact" in r.stderr and r.stdout == ""
    assert sh("verify", "m").exit_code == 7
    assert sh("doctor").exit_code == 7


# --------------------------------------- 4. a number that cannot be a folder


def test_an_over_long_version_is_refused_before_anything_is_written(reg, constant_path, sh):
    reg.deploy(constant_path, "m")
    before = open(os.path.join(reg.path, "models", "m", "model.toml"), "rb").read()
    r = sh("deploy", constant_path, "--name", "m", "--version", "9" * 260 + ".0.0")
    assert r.exit_code == 2 and "too long" in r.stderr
    assert open(os.path.join(reg.path, "models", "m", "model.toml"), "rb").read() == before
    assert reg.deploy(constant_path, "m").version == "0.2.0"
    with pytest.raises(InvalidVersion):
        mlreg.versions.parse("1." + "0" * 10 + "1" * 250 + ".0")


def test_doctor_repairs_a_model_bricked_by_an_over_long_highest_version(reg, constant_path):
    reg.deploy(constant_path, "m")
    model = os.path.join(reg.path, "models", "m", "model.toml")
    _rewrite(model, highest_version="9" * 260 + ".0.0")  # what an older mlreg left behind
    with pytest.raises(InvalidVersion):
        reg.deploy(constant_path, "m")
    report = reg.doctor()
    assert [p.kind for p in report.problems] == ["highest-version"]
    assert reg.doctor(fix=True).ok and reg.doctor().ok
    assert reg.deploy(constant_path, "m").version == "0.2.0"


# ------------------------------------------ 5. a FIFO never hangs a reader


def _run_bounded(argv, timeout=20):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("where", ["models/iris-classifier/versions/0.1.0/version.toml", "models/iris-classifier/model.toml",
                                   "models/iris-classifier/history.jsonl", "models/iris-classifier/versions/0.1.0/model.joblib",
                                   "models/iris-classifier/versions/0.1.0/.deploy.lock", "models/iris-classifier/versions/0.1.0/deploy.log",
                                   "mlreg.toml"])
def test_a_fifo_in_the_registry_is_an_integrity_error_never_a_hang(reg, constant_path, where):
    reg.deploy(constant_path, "Iris Classifier")  # a model that needs no scikit-learn: each command is a process
    path = os.path.join(reg.path, where)
    os.unlink(path) if os.path.lexists(path) else None
    os.mkfifo(path)
    base = mlreg_command() + ["--registry", reg.path]
    commands = [["versions", "iris-classifier"], ["status", "iris-classifier"], ["history", "iris-classifier"],
                ["logs", "iris-classifier", "0.1.0"], ["predict", "iris-classifier", "--input", "[[1, 2, 3, 4]]"],
                ["doctor"], ["verify"], ["models"]]
    codes = {tuple(c): _run_bounded(base + c).returncode for c in commands}  # a hang fails by timeout
    assert codes[("doctor",)] == 7
    assert 7 in codes.values() or where == "models/iris-classifier/versions/0.1.0/.deploy.lock"
    assert all(code in (0, 3, 7) for code in codes.values()), codes


def test_serve_answers_while_a_fifo_sits_in_the_registry(iris_reg):
    os.mkfifo(os.path.join(iris_reg.path, "models", "iris-classifier", "history.jsonl.fifo"))
    os.unlink(os.path.join(iris_reg.path, "models", "iris-classifier", "model.toml"))
    os.mkfifo(os.path.join(iris_reg.path, "models", "iris-classifier", "model.toml"))
    from mlreg.server import ModelService

    service = ModelService(iris_reg)
    done = []
    thread = threading.Thread(target=lambda: done.append(service.handle("GET", "/v1/models/iris-classifier", None)))
    thread.start()
    thread.join(10)
    assert done and done[0][0] == 500 and "model.toml" in done[0][1]["error"]


# ------------------------------- 8. links are never followed nor written through


def test_doctor_fix_never_writes_through_a_symlinked_history(iris_reg, tmp_path):
    precious = tmp_path / "precious.txt"
    precious.write_text("a line without its newline")
    history = os.path.join(iris_reg.path, "models", "iris-classifier", "history.jsonl")  # as earlier mlreg wrote it
    if os.path.lexists(history):
        os.unlink(history)
    os.symlink(precious, history)
    report = iris_reg.doctor(fix=True)
    assert precious.read_text() == "a line without its newline"
    assert any(p.kind == "symlink" and not p.fixed for p in report.problems)
    with pytest.raises(IntegrityError):
        iris_reg.history("iris-classifier")  # forged events are not read through the link


def test_a_hard_linked_lock_file_is_never_overwritten(iris_reg, tmp_path, constant_path):
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me")
    lock_file = os.path.join(iris_reg.path, "models", "iris-classifier", ".lock")
    if os.path.exists(lock_file):
        os.unlink(lock_file)
    os.link(precious, lock_file)
    with pytest.raises(IntegrityError, match="hard link"):
        iris_reg.describe("iris-classifier", "new")
    assert precious.read_text() == "keep me"
    assert any(p.kind == "unsafe-file" for p in iris_reg.doctor().problems)


def test_a_hard_linked_version_file_is_an_integrity_error(iris_reg, tmp_path):
    path = _version_toml(iris_reg, "iris-classifier", "0.1.0")
    os.link(path, tmp_path / "elsewhere.toml")
    with pytest.raises(IntegrityError, match="hard link"):
        iris_reg.status("iris-classifier", "0.1.0")


# -------------------------- 6. a change and its exit code never disagree


@pytest.mark.parametrize("command", [["promote", "m", "0.1.0"], ["describe", "m", "new text"],
                                     ["readme", "edit", "m", "--file", "-"]])
def test_a_history_that_cannot_be_written_stops_the_change_before_it_is_made(reg, constant_path, tmp_path, sh,
                                                                             command):
    reg.deploy(constant_path, "m")
    reg.deploy(constant_path, "m")
    history = os.path.join(reg.path, "models", "m", "history")  # one file per event
    os.rename(history, tmp_path / "history")
    os.symlink(tmp_path / "history", history)
    model_toml = os.path.join(reg.path, "models", "m", "model.toml")
    before = (open(model_toml, "rb").read(), reg.readme("m"))
    p = subprocess.run(mlreg_command() + ["--registry", reg.path] + command, input="# new\n", text=True,
                       capture_output=True)
    assert p.returncode == 7 and "nothing was changed" in p.stderr
    assert (open(model_toml, "rb").read(), reg.readme("m")) == before


def test_a_history_line_lost_after_the_change_is_a_warning_not_a_failure(reg, constant_path, monkeypatch):
    reg.deploy(constant_path, "m")
    reg.deploy(constant_path, "m")

    from mlreg.storage.local import LocalStorage

    real = LocalStorage.put

    def full_disk(self, key, data, *args):
        if "/history/" in key:
            raise OSError(28, "No space left on device")
        return real(self, key, data, *args)

    monkeypatch.setattr(LocalStorage, "put", full_disk)
    with pytest.warns(RuntimeWarning, match="doctor --fix"):
        result = reg.promote("m", "0.1.0")
    monkeypatch.undo()
    assert result.changed and reg.model("m").record.primary == "0.1.0"
    assert reg.doctor(fix=True).problems and reg.doctor().ok  # the lost line is restored


# ---------------------------- 9. integrity never trusts the listing cache


def test_verify_reads_every_version_file_not_the_cache(reg, constant_path):
    from mlreg import index

    reg.deploy(constant_path, "m")
    root = os.path.join(reg.path, "models", "m", "versions")
    template = metadata.read_toml(os.path.join(root, "0.1.0", "version.toml"))
    for i in range(2, index.MIN_VERSIONS + 2):  # clones of 0.1.0 with their own numbers and IDs
        number, vid = f"0.{i}.0", f"c{i:07d}"
        shutil.copytree(os.path.join(root, "0.1.0"), os.path.join(root, number))
        metadata.write_toml(os.path.join(root, number, "version.toml"), {**template, "version": number, "id": vid})
        atomic.create_exclusive(os.path.join(reg.path, "ids", vid), f"m/{number}\n")
    reg.versions("m")  # writes the cache
    cache = os.path.join(reg.path, "models", "m", index.INDEX_FILE)
    data = open(cache, "rb").read()
    victim = os.path.join(reg.path, "models", "m", "versions", "0.3.0", "model.joblib")
    with open(victim, "wb") as f:
        f.write(b"tampered")
    # Forge the cache to agree with the tampered artifact.
    import hashlib

    keys = metadata.VersionRecord.KEYS
    entries = index.load(data, keys)
    entries["0.3.0"][1][keys.index("sha256")] = hashlib.sha256(b"tampered").hexdigest()
    entries["0.3.0"][1][keys.index("size")] = len(b"tampered")
    atomic.write_atomic(cache, index.dump(keys, entries))
    bad = [r for r in reg.verify("m") if not r.ok]
    assert [r.version for r in bad] == ["0.3.0"]
    assert [p.path for p in reg.doctor().problems if p.kind == "artifact"] == [victim]


# -------------------------------------- 11. torn lines and temporary files


def test_a_toml_date_a_hand_wrote_is_shown_as_text_never_a_crash(reg, constant_path, sh):
    """mlreg writes times as text; a hand may write a TOML date, in a key mlreg reads as a
    table (the environment) or one it keeps without reading (a newer mlreg's, say)."""
    import json

    reg.deploy(constant_path, "m")
    reg.deploy(constant_path, "m")  # two versions: listed through the cache
    path = _version_toml(reg, "m", "0.2.0")
    with open(path, "a") as f:
        f.write("planted = 2026-01-01T00:00:00Z\n")
    text = open(path).read().replace("[environment]\n", "[environment]\nchecked_on = 2026-02-03\n")
    with open(path, "w") as f:
        f.write(text)
    for args in (["versions", "m"], ["versions", "m", "--json"], ["status", "m", "0.2.0", "--json"]):
        r = sh(*args)
        assert r.exit_code == 0 and "Traceback" not in r.stderr and "unexpected" not in r.stderr, (args, r.stderr)
    shown = json.loads(sh("versions", "m", "--json").stdout)[1]
    assert shown["environment"]["checked_on"] == "2026-02-03"
    assert json.loads(sh("status", "m", "0.2.0", "--json").stdout)["environment"]["checked_on"] == "2026-02-03"
    assert sh("doctor").exit_code == 0


def test_a_torn_history_line_longer_than_a_mebibyte_is_cut(iris_reg):
    path = os.path.join(iris_reg.path, "models", "iris-classifier", "history.jsonl")  # as earlier mlreg wrote it
    with open(path, "ab") as f:
        f.write(b'{"at": "2026-01-01T00:00:00.000000Z", "by": "t@h", "event": "describe"}\n')
        f.write(b"x" * (3 << 20))  # a writer killed mid-append
    before = len(iris_reg.history("iris-classifier"))
    assert iris_reg.doctor(fix=True).problems and iris_reg.doctor().ok
    assert open(path, "rb").read().endswith(b'"describe"}\n')
    assert len(iris_reg.history("iris-classifier")) == before


def test_create_exclusive_leaves_no_temporary_file_on_a_full_disk(tmp_path, monkeypatch):
    real = os.write

    def full(fd, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(OSError):
        atomic.create_exclusive(str(tmp_path / "abcd1234"), "m/0.1.0\n")
    monkeypatch.setattr(os, "write", real)
    assert os.listdir(tmp_path) == []
