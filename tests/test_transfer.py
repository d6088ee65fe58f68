"""push and pull between registries (SPEC §8): folder -> s3 -> another folder byte for
byte, idempotent, never overwriting a different version with the same number."""

import json
import os
import subprocess

import pytest

import fakemodels
import mlreg
from conftest import fake_artifact, mlreg_command


def _run(registry, *args):
    return subprocess.run(mlreg_command() + ["--registry", str(registry)] + [str(a) for a in args],
                          capture_output=True, text=True, timeout=300)


def _files(registry_path, folder="m"):
    """Every file of a model's versions (and its README), as bytes, by relative path."""
    root = os.path.join(registry_path, "models", folder)
    found = {}
    for d, _, files in os.walk(root):
        for f in files:
            rel = os.path.relpath(os.path.join(d, f), root)
            if rel.startswith("versions") and not f.startswith(".") and f != "deploy.log" or rel == "README.md":
                found[rel] = open(os.path.join(d, f), "rb").read()
    return found


@pytest.fixture
def source(tmp_path, iris_model_path):
    """m 0.1.0, 0.2.0 (primary), with a README someone wrote and a failed 0.3.0 that stays behind."""
    reg = mlreg.Registry(tmp_path / "source")
    reg.deploy(iris_model_path, "m", description="the source")
    reg.deploy(iris_model_path, "m")
    reg.set_readme("m", "# m\n\nWritten by a person.\n")
    with pytest.raises(mlreg.DeploymentFailed):
        reg.deploy(fake_artifact(tmp_path, fakemodels.NoPredict(), "bad.joblib"), "m")
    return reg


def test_folder_to_s3_to_another_folder_is_byte_for_byte_and_idempotent(source, s3_registry, tmp_path):
    pushed = _run(source.path, "push", "m", "--to", s3_registry, "--json")
    assert pushed.returncode == 0, pushed.stderr
    assert json.loads(pushed.stdout) == {"model": "m", "copied": ["0.1.0", "0.2.0"], "skipped": []}
    again = _run(source.path, "push", "m", "--to", s3_registry, "--json")
    assert json.loads(again.stdout) == {"model": "m", "copied": [], "skipped": ["0.1.0", "0.2.0"]}
    target = tmp_path / "target"
    pulled = _run(target, "pull", "m", "--from", s3_registry, "--json")
    assert pulled.returncode == 0, pulled.stderr
    assert json.loads(pulled.stdout)["copied"] == ["0.1.0", "0.2.0"]
    expected = {k: v for k, v in _files(source.path).items() if not k.startswith("versions/0.3.0")}
    assert _files(target) == expected  # artifacts, version.toml and README, byte for byte
    copied = mlreg.Registry(target)
    assert copied.model("m").record.primary == "0.2.0" and copied.model("m").record.description == "the source"
    assert [(v.version, v.version_id) for v in copied.versions("m")] == [
        (v.version, v.version_id) for v in source.versions("m") if v.status == "active"]
    assert copied.predict("m", [[5.1, 3.5, 1.4, 0.2]])["version"] == "0.2.0"
    for registry in (source.path, s3_registry, target):
        assert _run(registry, "doctor", "--older-than", "0").returncode == 0
        assert _run(registry, "verify").returncode == 0


def test_a_number_there_with_other_content_stops_everything(source, tmp_path, constant_path):
    target = mlreg.Registry(tmp_path / "target")
    target.deploy(constant_path, "m", version="0.2.0")  # the same number, other bytes
    before = _files(target.path)
    r = _run(source.path, "push", "m", "--to", target.path)
    assert r.returncode == 4 and "nothing was copied" in r.stderr
    assert _files(target.path) == before and [v.version for v in target.versions("m")] == ["0.2.0"]


def test_chosen_versions_and_the_primary_rule(source, tmp_path, constant_path):
    target = mlreg.Registry(tmp_path / "target")
    target.deploy(constant_path, "m", version="1.0.0")  # the target has its own primary
    r = _run(source.path, "push", "m", "--to", target.path, "--version", "0.2.0", "--json")
    assert json.loads(r.stdout)["copied"] == ["0.2.0"]
    assert target.model("m").record.primary == "1.0.0"  # kept: the target had one
    assert _run(source.path, "push", "m", "--to", target.path, "--promote").returncode == 0
    assert target.model("m").record.primary == "0.2.0"
    assert [v.version for v in target.versions("m")] == ["0.1.0", "0.2.0", "1.0.0"]
    assert target.deploy(constant_path, "m").version == "1.1.0"  # numbers are never reused
    assert _run(source.path, "push", "m", "--to", target.path, "--version", "0.3.0").returncode == 4  # not Active


def test_a_tampered_artifact_is_never_copied(source, tmp_path):
    victim = os.path.join(source.path, "models", "m", "versions", "0.1.0", "model.joblib")
    with open(victim, "r+b") as f:
        f.write(b"tampered")
    target = tmp_path / "target"
    r = _run(source.path, "push", "m", "--to", target)
    assert r.returncode == 7 and "sha256" in r.stderr
    assert mlreg.Registry(target).versions("m") == []  # checked before anything was published
    assert _run(target, "doctor", "--older-than", "0").returncode == 0


def test_push_carries_tags_metrics_params_source_and_signature(tmp_path, iris_model_path):
    source = mlreg.Registry(tmp_path / "source")
    v = source.deploy(iris_model_path, "m", tags={"a": "1"}, metrics={"acc": 0.9}, params={"C": "2"}, source="run 7")
    source.tag("m", "0.1.0", {"b": "2"})
    source.set_alias("m", "champion", "0.1.0")  # a pointer of the source registry's own: not copied
    pushed = _run(source.path, "push", "m", "--to", tmp_path / "target", "--json")
    assert pushed.returncode == 0, pushed.stderr
    there = mlreg.Registry(tmp_path / "target").version("m", v.version_id)
    assert (there.tags, there.metrics, there.params, there.source, there.signature) == (
        {"a": "1", "b": "2"}, {"acc": 0.9}, {"C": "2"}, {"text": "run 7"}, v.signature)
    assert there.signature["n_features"] == 4
    assert there.aliases == () and mlreg.Registry(tmp_path / "target").aliases("m") == []


def test_a_copy_paused_past_its_lease_publishes_nothing(tmp_path, constant_path):
    """A push or pull whose lease lapsed while it copied (a laptop's sleep) publishes no
    version.toml and removes nothing: the claimed folder may be someone else's by then."""
    import contextlib

    from mlreg.errors import LeaseLost
    from mlreg.ops.transfer import transfer
    from mlreg.leases import Lease
    from mlreg.storage.memory import MemoryStorage

    class Lapsed(Lease):
        def held(self):
            return False

    class Sleepy(MemoryStorage):
        @contextlib.contextmanager
        def lease(self, key, *, claim=False):
            with super().lease(key, claim=claim):
                yield Lapsed()

    source = mlreg.Registry(tmp_path / "source")
    source.deploy(constant_path, "m")
    target = mlreg.Registry(storage=Sleepy())
    with pytest.raises(LeaseLost) as e:
        transfer(source.repo, target.repo, "m")
    assert e.value.exit_code == 5 and "paused past its lease" in str(e.value)
    storage = target.repo.storage
    assert not storage.exists("models/m/versions/0.1.0/version.toml")
    assert storage.exists("models/m/versions/0.1.0/.deploy.lock")  # left for doctor, never deleted blind
