"""The per-user cache of parsed metadata files (``mlreg.parsecache``): used only for the
exact bytes it was made from, only when this user alone can have written it."""

import json
import os
import subprocess
import sys

import pytest

from mlreg import parsecache

MODEL_TOML = b'name = "m"\nprimary = "1.0.0"\n'


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A fresh cache folder, and a process that has read nothing yet."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(parsecache, "_entries", None)
    monkeypatch.setattr(parsecache, "_added", 0)
    return tmp_path / "cache" / "mlreg" / parsecache._FILE


def _new_process(monkeypatch):
    monkeypatch.setattr(parsecache, "_entries", None)
    monkeypatch.setattr(parsecache, "_added", 0)


def test_a_parse_is_recalled_by_a_later_process_for_the_same_bytes_only(cache, monkeypatch):
    parsecache.remember(MODEL_TOML, {"name": "m", "primary": "1.0.0"})
    assert oct(cache.stat().st_mode & 0o777) == "0o600"
    _new_process(monkeypatch)
    assert parsecache.recall(MODEL_TOML) == {"name": "m", "primary": "1.0.0"}
    assert parsecache.recall(MODEL_TOML.replace(b"1.0.0", b"1.0.1")) is None
    assert parsecache.recall(MODEL_TOML + b"\n") is None


def test_the_same_bytes_read_as_toml_and_as_json_are_two_entries(cache, monkeypatch):
    parsecache.remember(b"{}", {"as": "json"}, "json")
    assert (parsecache.recall(b"{}", "json"), parsecache.recall(b"{}")) == ({"as": "json"}, None)


def test_each_recall_is_a_fresh_object(cache, monkeypatch):
    parsecache.remember(MODEL_TOML, {"name": "m", "tags": {"a": "1"}})
    parsecache.recall(MODEL_TOML)["tags"]["a"] = "changed"
    assert parsecache.recall(MODEL_TOML) == {"name": "m", "tags": {"a": "1"}}


@pytest.mark.parametrize("spoil", ["group-writable", "symlink", "fifo", "corrupt", "not a dict of bytes"])
def test_a_cache_file_others_could_write_or_that_is_spoilt_is_not_read(cache, monkeypatch, tmp_path, spoil):
    parsecache.remember(MODEL_TOML, {"name": "m"})
    if spoil == "group-writable":
        os.chmod(cache, 0o620)
    elif spoil == "symlink":
        moved = tmp_path / "elsewhere"
        os.replace(cache, moved)
        os.symlink(moved, cache)
    elif spoil == "fifo":
        cache.unlink()
        os.mkfifo(cache, 0o600)
    elif spoil == "corrupt":
        cache.write_bytes(cache.read_bytes()[:-7])
    else:
        import marshal

        cache.write_bytes(marshal.dumps({MODEL_TOML: {"name": "forged"}}))
    _new_process(monkeypatch)
    assert parsecache.recall(MODEL_TOML) is None
    parsecache.remember(MODEL_TOML, {"name": "m"})  # and the next parse writes a sound one in its place
    _new_process(monkeypatch)
    assert parsecache.recall(MODEL_TOML) == {"name": "m"}


def test_what_marshal_cannot_hold_and_large_files_are_parsed_each_time(cache, monkeypatch):
    import datetime

    parsecache.remember(b"at = 2026-12-07T10:00:00Z\n", {"at": datetime.datetime(2026, 12, 7, 10)})
    big = b'text = "' + b"x" * parsecache.MAX_KEPT_BYTES + b'"\n'
    parsecache.remember(big, {"text": "x" * parsecache.MAX_KEPT_BYTES})
    _new_process(monkeypatch)
    assert parsecache.recall(b"at = 2026-12-07T10:00:00Z\n") is None
    assert parsecache.recall(big) is None
    assert not cache.exists()


def test_the_cache_keeps_the_newest_entries_and_a_process_adds_a_few(cache, monkeypatch):
    for n in range(parsecache.MAX_NEW_PER_PROCESS + 3):
        parsecache.remember(b"n = %d\n" % n, {"n": n})
    _new_process(monkeypatch)
    assert [parsecache.recall(b"n = %d\n" % n) for n in (0, parsecache.MAX_NEW_PER_PROCESS - 1,
                                                          parsecache.MAX_NEW_PER_PROCESS)] == [{"n": 0}, {"n": 7}, None]
    for start in range(0, parsecache.MAX_ENTRIES + 8, parsecache.MAX_NEW_PER_PROCESS):
        _new_process(monkeypatch)
        for n in range(start, start + parsecache.MAX_NEW_PER_PROCESS):
            parsecache.remember(b"m = %d\n" % n, {"m": n})
    _new_process(monkeypatch)
    assert len(parsecache._kept()) == parsecache.MAX_ENTRIES
    assert parsecache.recall(b"m = 0\n") is None
    assert parsecache.recall(b"m = %d\n" % (parsecache.MAX_ENTRIES + 7)) == {"m": parsecache.MAX_ENTRIES + 7}


def test_a_cache_folder_that_cannot_be_made_goes_without(cache, monkeypatch):
    cache.parent.parent.write_text("a file where the cache folder would be")
    parsecache.remember(MODEL_TOML, {"name": "m"})  # no error: the next process parses again
    _new_process(monkeypatch)
    assert parsecache.recall(MODEL_TOML) is None


def test_a_registry_file_changed_between_two_reads_reads_as_it_is_now(reg, constant_path):
    reg.deploy(constant_path, "m")
    reg.deploy(constant_path, "m")

    def primary():
        p = subprocess.run([sys.executable, "-m", "mlreg", "--registry", reg.path, "status", "m", "--json"],
                           capture_output=True, text=True)
        return p.returncode, json.loads(p.stdout)["version"]

    assert primary() == (0, "0.2.0")
    reg.promote("m", "0.1.0")
    assert primary() == (0, "0.1.0")


def test_a_second_read_command_imports_no_toml_or_json_parser(reg, constant_path):
    reg.deploy(constant_path, "m")
    reg.deploy(constant_path, "m")
    code = (
        "import sys\n"
        "from mlreg.cli import run\n"
        f"code = run(['--registry', {reg.path!r}, sys.argv[1], 'm'])\n"
        "print(code, 'tomllib' in sys.modules, 'json' in sys.modules, file=sys.stderr)\n"
    )
    seen = [subprocess.run([sys.executable, "-c", code, command], capture_output=True, text=True).stderr.split()[-3:]
            for command in ("status", "status", "versions", "versions")]
    # the first listing parses the versions' files, to write the model's listing cache
    assert seen == [["0", "True", "False"], ["0", "False", "False"], ["0", "True", "True"], ["0", "False", "False"]]


def test_a_first_listing_keeps_its_cache_parsed_not_each_version(cache, reg, constant_path, monkeypatch):
    for _ in range(parsecache.MAX_NEW_PER_PROCESS + 2):
        reg.deploy(constant_path, "m")
    cache.unlink(missing_ok=True)  # what the deploys kept
    code = ("import sys\nfrom mlreg.cli import run\n"
            f"code = run(['--registry', {reg.path!r}, 'versions', 'm'])\n"
            "print(code, 'json' in sys.modules, file=sys.stderr)\n")
    seen = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stderr.split()[-2:]
            for _ in range(2)]
    assert seen == [["0", "True"], ["0", "False"]]
    _new_process(monkeypatch)
    assert [k.split(b"\0")[0] for k in parsecache._kept()] == [b"toml", b"toml", b"json"]  # mlreg.toml, model.toml


def test_threads_keeping_parses_side_by_side(cache, monkeypatch):
    # serve's threads parse side by side: the eviction and the write see one dict at a time
    import threading

    monkeypatch.setattr(parsecache, "MAX_NEW_PER_PROCESS", 10_000)
    monkeypatch.setattr(parsecache, "MAX_ENTRIES", 3)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    errors = []

    def keep(n):
        try:
            for i in range(400):
                parsecache.remember(b"t = %d\n" % (n * 1000 + i), {"t": n * 1000 + i})
        except Exception as e:  # noqa: BLE001 - any error is the finding
            errors.append(e)

    try:
        threads = [threading.Thread(target=keep, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert errors == [] and len(parsecache._kept()) == 3
