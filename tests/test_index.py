"""The version-record cache: used while each version.toml is unchanged, never trusted over it."""

import json
import os
import shutil

import pytest

import mlreg
import mlreg.metadata
import mlreg.repo
from mlreg import atomic, index, metadata


@pytest.fixture
def many(reg, constant_path):
    """Model m with 40 versions (one deployed, 39 cloned from it with fresh numbers and IDs)."""
    reg.deploy(constant_path, "m")
    root = os.path.join(reg.path, "models", "m", "versions")
    template = metadata.read_toml(os.path.join(root, "0.1.0", "version.toml"))
    for i in range(2, 41):
        number, vid = f"0.{i}.0", f"c{i:07d}"
        shutil.copytree(os.path.join(root, "0.1.0"), os.path.join(root, number))
        metadata.write_toml(os.path.join(root, number, "version.toml"), {**template, "version": number, "id": vid})
        atomic.create_exclusive(os.path.join(reg.path, "ids", vid), f"m/{number}\n")
        event = {"at": template["deployed_at"], "by": "t@h", "event": "deploy", "version": number,
                 "version_id": vid, "status": "active"}
        with open(os.path.join(reg.path, "models", "m", "history.jsonl"), "a") as f:  # as earlier mlreg did
            f.write(json.dumps(event) + "\n")
    model = os.path.join(reg.path, "models", "m", "model.toml")
    metadata.write_toml(model, {**metadata.read_toml(model), "highest_version": "0.40.0"})
    return reg


def _cache(reg):
    return os.path.join(reg.path, "models", "m", index.INDEX_FILE)


def test_listing_writes_a_cache_and_answers_the_same(many, monkeypatch):
    first = [v.to_json() for v in many.versions("m")]
    assert os.path.exists(_cache(many)) and len(first) == 40
    real = mlreg.repo.Repository.toml

    def no_version_files(self, key):
        assert not key.endswith("version.toml"), f"read {key}, which the cache holds"
        return real(self, key)

    monkeypatch.setattr(mlreg.repo.Repository, "toml", no_version_files)
    assert [v.to_json() for v in many.versions("m")] == first


def test_a_changed_version_file_wins_over_the_cache(many):
    many.versions("m")
    path = os.path.join(many.path, "models", "m", "versions", "0.7.0", "version.toml")
    data = metadata.read_toml(path)
    metadata.write_toml(path, {**data, "status": "failed", "reason": "marked by hand"})
    got = {v.version: v for v in many.versions("m")}
    assert (got["0.7.0"].status, got["0.7.0"].reason) == ("failed", "marked by hand")


def test_a_corrupt_or_foreign_cache_is_ignored(many):
    expected = [v.to_json() for v in many.versions("m")]
    good = json.loads(open(_cache(many), "rb").read())
    status = good["keys"].index("status")

    def forged(change):
        data = json.loads(json.dumps(good))
        change(data)
        return json.dumps(data).encode()

    def wrong_type(data):  # a current entry whose status is a number
        data["entries"]["0.7.0"][1][status] = len(data["values"])
        data["values"].append(7)

    for junk in (b"{not json", b'{"format": 99, "entries": {}}', b"[]",
                 forged(lambda data: data["keys"].reverse()),  # another mlreg's fields
                 forged(lambda data: data["entries"]["0.7.0"][1].append(len(data["values"]) + 5)),  # past the values
                 forged(lambda data: data["entries"]["0.7.0"][1].pop()),  # a value short
                 forged(wrong_type),
                 forged(lambda data: data["entries"].update({"0.7.0": 7}))):
        with open(_cache(many), "wb") as f:
            f.write(junk)
        assert [v.to_json() for v in many.versions("m")] == expected
        assert many.doctor().ok  # nothing a listing would show differs from the files
    assert json.loads(open(_cache(many)).read())["format"] == index.FORMAT


def test_the_cache_never_hides_a_deploy_that_died(many):
    from mlreg import lock

    many.versions("m")
    path = os.path.join(many.path, "models", "m", "versions", "0.40.0", "version.toml")
    metadata.write_toml(path, {**metadata.read_toml(path), "status": "deploying"})
    vdir = os.path.dirname(path)
    fd = lock.hold(os.path.join(vdir, ".deploy.lock"))
    try:
        assert many.versions("m")[-1].status == "deploying"
    finally:
        lock.release_held(fd)
    last = many.versions("m")[-1]
    assert (last.status, last.interrupted) == ("failed", True)


def test_few_versions_have_no_cache(reg, constant_path):
    reg.deploy(constant_path, "m")
    reg.versions("m")
    assert not os.path.exists(os.path.join(reg.path, "models", "m", index.INDEX_FILE))


def test_doctor_is_content_with_the_cache(many):
    many.versions("m")
    assert many.doctor().ok


def test_tables_shared_by_versions_are_stored_once(many):
    many.versions("m")
    with open(_cache(many)) as f:
        data = json.load(f)
    assert len(data["entries"]) == 40
    # all 40 clones carry the same environment and signature (and source, deployed from a
    # git work tree): one copy each
    keys = data["keys"]
    for name in ("environment", "signature", "model", "sha256"):
        assert len({row[keys.index(name)] for _, row in data["entries"].values()}) == 1
    assert len({row[keys.index("id")] for _, row in data["entries"].values()}) == 40
    file = metadata.read_toml(os.path.join(many.path, "models", "m", "versions", "0.2.0", "version.toml"))
    assert sum(type(v) is dict and v != {} for v in data["values"]) == sum(type(v) is dict for v in file.values())
    env = [v.environment for v in many.versions("m")]
    assert env[0]["python"] and all(e == env[0] for e in env)


def test_doctor_proves_the_cache_agrees_with_the_versions(many):
    many.versions("m")  # writes the cache
    keys = metadata.VersionRecord.KEYS
    entries = index.load(open(_cache(many), "rb").read(), keys)
    entries["0.7.0"][1][keys.index("status")] = "failed"  # a forged entry whose file is unchanged
    atomic.write_atomic(_cache(many), index.dump(keys, entries))
    assert [(p.kind, p.fixed) for p in many.doctor().problems] == [("listing-cache", False)]
    assert [(p.kind, p.fixed) for p in many.doctor(fix=True).problems] == [("listing-cache", True)]
    assert many.doctor().ok and many.status("m", "0.7.0").status == "active"


def test_an_earlier_releases_cache_is_left_to_it(many):
    """A team whose members run different releases: each keeps its own cache file, so
    neither rewrites (and re-parses every version for) the other's."""
    earlier = os.path.join(many.path, "models", "m", "versions.index.json")
    with open(earlier, "w") as f:
        f.write('{"format": 2, "shared": [], "entries": {}}')
    expected = [v.to_json() for v in many.versions("m")]
    assert open(earlier).read() == '{"format": 2, "shared": [], "entries": {}}'
    assert json.loads(open(_cache(many)).read())["format"] == index.FORMAT and _cache(many) != earlier
    assert [v.to_json() for v in many.versions("m")] == expected and many.doctor().ok
