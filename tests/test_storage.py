"""The storage interface's contract, held by every implementation alike (a folder,
memory, a real SeaweedFS): creates and updates that lose a race fail, the
compare-and-swap loop loses nothing under concurrent writers (threads, and
processes for a folder), streams hash as they go."""

import hashlib
import io
import os
import subprocess
import sys
import threading

import pytest

from mlreg.storage import Precondition, Update
from mlreg.storage.base import CREATE, Storage
from mlreg.storage.local import LocalStorage
from mlreg.storage.memory import MemoryStorage

LIMIT = 1 << 20


@pytest.fixture(params=["local", "memory", "s3"])
def store(request, tmp_path):
    if request.param == "s3":
        from mlreg.storage.s3 import S3Storage

        return S3Storage(request.getfixturevalue("s3_registry"))
    return LocalStorage(str(tmp_path / "root")) if request.param == "local" else MemoryStorage()


def test_get_of_a_missing_key_is_not_found(store):
    with pytest.raises(FileNotFoundError):
        store.get("models/m/model.toml", LIMIT)
    assert store.get_or_none("models/m/model.toml", LIMIT) is None


def test_create_succeeds_once(store):
    from mlreg.storage import AlreadyExists

    store.put("c", b"1", CREATE)
    with pytest.raises(AlreadyExists):  # told apart from an update that lost its race
        store.put("c", b"2", CREATE)
    token = store.get("c", LIMIT).token
    store.put("c", b"3", Update(token))
    with pytest.raises(Precondition) as lost:
        store.put("c", b"4", Update(token))
    assert not isinstance(lost.value, AlreadyExists)
    token = store.put("ids/abcd1234", b"m/0.1.0\n", CREATE)
    with pytest.raises(Precondition):
        store.put("ids/abcd1234", b"other/0.1.0\n", CREATE)
    found = store.get("ids/abcd1234", LIMIT)
    assert (found.data, found.token) == (b"m/0.1.0\n", token)


def test_update_needs_the_token_that_was_read(store):
    first = store.put("models/m/model.toml", b"one")
    second = store.put("models/m/model.toml", b"two", Update(first))
    with pytest.raises(Precondition):
        store.put("models/m/model.toml", b"three", Update(first))  # stale
    found = store.get("models/m/model.toml", LIMIT)
    assert (found.data, found.token) == (b"two", second)
    with pytest.raises(Precondition):
        store.put("models/m/absent.toml", b"x", Update(second))  # gone, or never there


def test_too_large_is_refused(store):
    store.put("k/big", b"x" * 100)
    with pytest.raises(ValueError):
        store.get("k/big", 10)


def test_put_stream_hashes_in_one_pass_and_only_creates(store):
    data = os.urandom(3 << 20)
    seen = []
    size, sha = store.put_stream("models/m/versions/0.1.0/model.joblib", io.BytesIO(data), seen.append)
    assert (size, sha) == (len(data), hashlib.sha256(data).hexdigest()) and seen[-1] == len(data)
    with open(store.local_path("models/m/versions/0.1.0/model.joblib"), "rb") as f:
        assert f.read() == data
    with pytest.raises(Precondition):
        store.put_stream("models/m/versions/0.1.0/model.joblib", io.BytesIO(b"other"))


def test_list_keys_and_delete(store):
    for key in ("models/a/model.toml", "models/a/versions/0.1.0/version.toml", "models/b/model.toml", "ids/x"):
        store.put(key, b".")
    assert store.list("models/") == ["models/a/model.toml", "models/a/versions/0.1.0/version.toml",
                                     "models/b/model.toml"]
    assert list(store.keys("models/")) == ["a", "b"]
    assert list(store.keys("models/a/")) == ["model.toml", "versions"]
    store.delete("models/b/model.toml")
    store.delete("models/b/model.toml")  # a missing key is not an error
    assert list(store.keys("models/")) == ["a"]


def test_lease_is_seen_while_held(store):
    key = "models/m/versions/0.1.0/.deploy.lock"
    assert not store.alive(key)
    with store.lease(key):
        assert store.alive(key)
    assert not store.alive(key)


def test_the_compare_and_swap_loop_loses_no_update_among_threads(store):
    def add_one(current):
        return str(int(current.data) + 1 if current else 1).encode()

    threads = [threading.Thread(target=lambda: [store.update("models/m/counter", add_one) for _ in range(25)])
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.get("models/m/counter", LIMIT).data == b"200"


def test_update_that_changes_nothing_writes_nothing(store):
    token = store.put("k/v", b"same")
    assert store.update("k/v", lambda current: None).token == token


def test_local_keys_cannot_leave_the_root(tmp_path):
    store = LocalStorage(str(tmp_path))
    for key in ("../x", "/etc/passwd", "a//b", "a/./b", ""):
        with pytest.raises(ValueError):
            store.put(key, b"x")


def test_local_compare_and_swap_across_processes(tmp_path):
    """8 processes, 20 increments each, through the folder's lock and tokens."""
    root = str(tmp_path / "root")
    script = f"""
import sys
from mlreg.storage.local import LocalStorage
store = LocalStorage({root!r})
for _ in range(20):
    store.update("models/m/counter", lambda c: str(int(c.data) + 1 if c else 1).encode())
"""
    procs = [subprocess.Popen([sys.executable, "-c", script]) for _ in range(8)]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    assert LocalStorage(root).get("models/m/counter", LIMIT).data == b"160"


def test_a_create_whose_answer_was_lost_is_recognised_as_ones_own(store):
    """A client that retries a create the store carried out gets "exists": a deploy's
    version.toml with its own bytes there is its success, other bytes a lost race."""
    store.put("models/m/versions/0.1.0/version.toml", b"mine", CREATE)  # the first attempt, answer lost
    store.create_once("models/m/versions/0.1.0/version.toml", b"mine")
    with pytest.raises(Precondition):
        store.create_once("models/m/versions/0.1.0/version.toml", b"theirs")


class _Minimal(MemoryStorage):
    """A backend that writes only the required methods: every other one is the
    interface's default, made of those (what a new backend starts from)."""


for _name in ("exists", "children", "stamps", "holding", "append", "move", "delete_folder", "local_folder", "age",
              "local_path"):
    setattr(_Minimal, _name, getattr(Storage, _name))


@pytest.fixture(params=["local", "memory", "s3", "defaults"])
def backend(request, tmp_path):
    if request.param == "s3":
        from mlreg.storage.s3 import S3Storage

        return S3Storage(request.getfixturevalue("s3_registry"))
    if request.param == "defaults":
        return _Minimal()
    return LocalStorage(str(tmp_path / "root")) if request.param == "local" else MemoryStorage()


def test_exists_sees_keys_and_folders(backend):
    backend.put("a/b/c.txt", b"1")
    assert backend.exists("a/b/c.txt") and backend.exists("a/b") and backend.exists("a")
    assert not backend.exists("a/b/d.txt") and not backend.exists("z")


def test_children_are_the_names_just_below(backend):
    for key in ("m/x/v.toml", "m/y/v.toml", "m/f.txt", "other/g"):
        backend.put(key, b"1")
    assert sorted(backend.children("m")) == ["f.txt", "x", "y"]
    assert sorted(backend.children("")) == ["m", "other"]
    assert backend.children("none") == []


def test_stamps_change_when_a_leaf_is_replaced(backend):
    backend.put("v/1/version.toml", b"a")
    backend.put("v/2/version.toml", b"b")
    backend.put("v/2/other", b"c")
    before = backend.stamps("v", "version.toml")
    assert sorted(before) == ["1", "2"]
    backend.put("v/2/version.toml", b"changed")
    after = backend.stamps("v", "version.toml")
    assert after["1"] == before["1"] and after["2"] != before["2"]


def test_holding_names_the_folders_that_hold_a_key_or_a_folder(backend):
    backend.put("v/1/signatures/a.sig", b"s")
    backend.put("v/2/version.toml", b"v")
    backend.put("v/3/signatures", b"a key, not a folder")
    backend.put("v/4/signatures-old/b.sig", b"s")
    backend.put("w/5/signatures/c.sig", b"s")
    assert backend.holding("v", "signatures") == {"1", "3"}
    assert backend.holding("none", "signatures") == set()


def test_append_adds_at_the_end(backend):
    backend.append("log", b"one\n")
    backend.append("log", b"two\n", sync=False)
    assert backend.get("log", LIMIT).data == b"one\ntwo\n"


def test_move_takes_a_folder_of_keys(backend):
    backend.put("staging/t/model.joblib", b"m")
    backend.put("staging/t/code/pkg/__init__.py", b"c")
    backend.move("staging/t/code", "v/1/code")
    backend.move("staging/t/model.joblib", "v/1/model.joblib")
    assert backend.get("v/1/code/pkg/__init__.py", LIMIT).data == b"c"
    assert backend.get("v/1/model.joblib", LIMIT).data == b"m"
    assert not backend.exists("staging/t/code") and not backend.exists("staging/t/model.joblib")


def test_delete_folder_removes_everything_below(backend):
    for key in ("f/a", "f/b/c", "keep/d"):
        backend.put(key, b"1")
    backend.delete_folder("f")
    assert not backend.exists("f") and backend.exists("keep/d")
    backend.delete_folder("never-there")  # not an error


def test_local_copies_hold_the_bytes(backend):
    backend.put("v/model.joblib", b"artifact")
    backend.put("v/code/pkg/__init__.py", b"X = 1\n")
    with open(backend.local_path("v/model.joblib"), "rb") as f:
        assert f.read() == b"artifact"
    folder = backend.local_folder("v/code")
    with open(os.path.join(folder, "pkg", "__init__.py"), "rb") as f:
        assert f.read() == b"X = 1\n"
    assert backend.local_folder("v/none") is None
    with pytest.raises(FileNotFoundError):
        backend.local_path("v/missing")


def test_age_of_a_key_and_of_nothing(backend):
    backend.put("k", b"1")
    age = backend.age("k")
    assert age is not None and 0 <= age < 300
    assert backend.age("missing") is None


def test_a_folder_below_that_is_a_link_is_refused_by_the_listings_of_many(tmp_path):
    """stamps and holding scan the folders below a prefix: a link there is refused, never followed."""
    from mlreg.atomic import UnsafeFile

    store = LocalStorage(str(tmp_path / "root"))
    store.put("v/1/version.toml", b"a")
    (tmp_path / "elsewhere" / "signatures").mkdir(parents=True)
    os.symlink(tmp_path / "elsewhere", tmp_path / "root" / "v" / "2")
    with pytest.raises(UnsafeFile):
        store.stamps("v", "version.toml")
    with pytest.raises(UnsafeFile):
        store.holding("v", "signatures")


def test_an_in_memory_stores_local_copies_go_with_it():
    import gc

    from mlreg.storage.memory import MemoryStorage

    store = MemoryStorage()
    store.put("v/model.joblib", b"artifact")
    store.put("v/code/pkg/__init__.py", b"X = 1\n")
    made = [store.local_path("v/model.joblib"), store.local_folder("v/code")]
    assert all(os.path.exists(p) for p in made)
    del store
    gc.collect()
    assert [os.path.exists(p) for p in made] == [False, False]
