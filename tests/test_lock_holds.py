"""The model's lock covers only checks and renames: every fsync happens before or
after it, and a writer whose prepared files went stale (model.toml or the README
no longer holds the bytes it read) prepares them again."""

import os

import pytest

import mlreg
import mlreg.ops.deploy
import mlreg.ops.docs
import mlreg.ops.promote
import mlreg.ids
from mlreg import lock


@pytest.fixture
def fsyncs_under_lock(monkeypatch):
    """Count the fsyncs made while this process holds a model's lock."""
    held = []
    under = []
    real_enter, real_exit, real_fsync = lock.Lock.__enter__, lock.Lock.__exit__, os.fsync

    def enter(self):
        got = real_enter(self)
        held.append(self)
        return got

    def exit_(self, *exc):
        held.remove(self)
        return real_exit(self, *exc)

    def fsync(fd):
        if held:
            under.append(os.readlink(f"/proc/self/fd/{fd}"))
        return real_fsync(fd)

    monkeypatch.setattr(lock.Lock, "__enter__", enter)
    monkeypatch.setattr(lock.Lock, "__exit__", exit_)
    monkeypatch.setattr(os, "fsync", fsync)
    return under


def _interfere_once(monkeypatch, owner, name, action):
    """Make ``owner.name`` run ``action`` (another writer) on its first call; return its calls."""
    real = getattr(owner, name)
    calls = []

    def wrapper(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            action()  # which may call this very function: it is then the second call
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, wrapper)
    return calls


def test_deploys_and_promotes_fsync_nothing_while_holding_the_lock(reg, constant_path, fsyncs_under_lock):
    reg.deploy(constant_path, "m", template="sklearn-classifier")  # first deploy: README from a template
    reg.deploy(constant_path, "m")
    reg.deploy(constant_path, "m", promote=False)
    reg.promote("m", "0.1.0", expect_primary="0.2.0")  # a rollback
    assert [v.version for v in reg.versions("m")] == ["0.1.0", "0.2.0", "0.3.0"]
    assert reg.model("m").record.primary == "0.1.0"
    assert fsyncs_under_lock == []


def test_a_model_changed_while_publishing_is_read_again(reg, constant_path, monkeypatch):
    """Another writer changes model.toml between the preparation and the lock: the
    deploy must not publish its stale model.toml over that change."""
    reg.deploy(constant_path, "m")
    calls = _interfere_once(monkeypatch, mlreg.ids.IdIndex, "new",
                            lambda: mlreg.Registry(reg.path).describe("m", "written meanwhile"))
    v = reg.deploy(constant_path, "m")
    assert len(calls) == 2
    assert (v.version, reg.model("m").record.description) == ("0.2.0", "written meanwhile")
    assert reg.model("m").record.highest_version == "0.2.0"
    ids = sorted(os.listdir(os.path.join(reg.path, "ids")))
    assert ids == sorted(x.version_id for x in reg.versions("m"))  # the first attempt's ID was taken back
    leftovers = [f for f in os.listdir(os.path.join(reg.path, "models", "m")) if ".tmp-" in f]
    assert leftovers == []  # the first attempt's staged model.toml was removed


def test_a_model_changed_while_finishing_is_read_again(reg, constant_path, monkeypatch):
    reg.deploy(constant_path, "m")
    calls = _interfere_once(monkeypatch, mlreg.ops.docs, "readme_after",
                            lambda: mlreg.Registry(reg.path).describe("m", "written meanwhile"))
    v = reg.deploy(constant_path, "m")
    assert len(calls) == 2 and v.primary
    record = reg.model("m").record
    assert (record.description, record.primary) == ("written meanwhile", "0.2.0")
    deploys = [e for e in reg.history("m") if e.event == "deploy"]
    assert [e.version for e in deploys] == ["0.1.0", "0.2.0"]  # one line per outcome, not one per attempt


def test_an_id_file_left_by_a_killed_deploy_never_names_another_version(reg, constant_path, sh):
    """A deploy killed after making its ID file but before publishing leaves an ID
    naming a number that the next deploy takes: that ID must not find it."""
    v = reg.deploy(constant_path, "m")
    with open(os.path.join(reg.path, "ids", "zzzz0000"), "w") as f:
        f.write(f"m/{v.version}\n")
    with pytest.raises(mlreg.VersionNotFound):
        reg.version("m", "zzzz0000")
    with pytest.raises(mlreg.VersionNotFound):
        reg.version_by_id("zzzz0000")
    assert reg.version("m", v.version_id).version == v.version
    r = sh("status", "m", "zzzz0000")
    assert r.exit_code == 3 and "zzzz0000" in r.stderr


def test_the_counter_sees_fsyncs_under_a_lock(reg, constant_path, fsyncs_under_lock):
    """The fixture itself: `doctor --fix`-style writes under the lock are seen."""
    reg.deploy(constant_path, "m")
    with lock.Lock(os.path.join(reg.path, "models", "m", ".lock")):
        mlreg.atomic.write_atomic(os.path.join(reg.path, "models", "m", "note"), "x")
    assert len(fsyncs_under_lock) == 2  # the file, then its folder


def test_a_readme_written_while_finishing_is_kept(reg, constant_path, monkeypatch):
    """The deploy would refresh the README mlreg generated; a person saves their own
    between the deploy's read and its lock: theirs must stay."""
    reg.deploy(constant_path, "m")
    calls = _interfere_once(monkeypatch, mlreg.ops.docs, "readme_after",
                            lambda: mlreg.Registry(reg.path).set_readme("m", "# m\n\nWritten by a person.\n"))
    reg.deploy(constant_path, "m")
    assert len(calls) == 2
    assert reg.readme("m") == "# m\n\nWritten by a person.\n"


def test_a_model_changed_while_promoting_is_read_again(reg, constant_path, monkeypatch):
    """Someone promotes between this promote's read and its lock: with
    --expect-primary the stale expectation must now fail, not overwrite."""
    for _ in range(3):
        reg.deploy(constant_path, "m")
    calls = _interfere_once(monkeypatch, mlreg.ops.docs, "readme_after",
                            lambda: mlreg.Registry(reg.path).promote("m", "0.1.0"))
    with pytest.raises(mlreg.PrimaryMoved):
        reg.promote("m", "0.2.0", expect_primary="0.3.0")
    # prepared twice: once by this promote, once by the other; none after the re-read
    assert len(calls) == 2 and reg.model("m").record.primary == "0.1.0"
    monkeypatch.undo()
    calls = _interfere_once(monkeypatch, mlreg.ops.docs, "readme_after",
                            lambda: mlreg.Registry(reg.path).describe("m", "written meanwhile"))
    result = reg.promote("m", "0.2.0")
    # this promote, then this promote again on the describe's model.toml
    assert result.changed and len(calls) == 2
    record = reg.model("m").record
    assert (record.primary, record.description) == ("0.2.0", "written meanwhile")
