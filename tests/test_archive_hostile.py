"""export and import (and pull) against archives and registries an attacker made:
everything is checked before anything is published, nothing expands past the model,
and what a model is (aliases, retired numbers and IDs) goes with it."""

import io
import os
import tarfile

import pytest

import fakemodels
from conftest import fake_artifact, run_cli as run
from test_lifecycle import ok


def _rewrite(src, dst, change):
    """Copy the tar ``src`` to ``dst``, each member through ``change(info, data)`` ->
    a list of (info, data) (empty: dropped)."""
    with tarfile.open(src) as s, tarfile.open(dst, "w") as d:
        for m in s.getmembers():
            data = s.extractfile(m).read() if m.isfile() else None
            for info, body in change(m, data):
                if body is not None:
                    info.size = len(body)
                d.addfile(info, None if body is None else io.BytesIO(body))
    return dst


@pytest.fixture
def exported(tmp_path, constant_path):
    source = tmp_path / "source"
    ok(source, "deploy", constant_path, "--name", "m")
    ok(source, "deploy", fake_artifact(tmp_path, fakemodels.ConstantModel(3), "c3.joblib"), "--name", "m")
    ok(source, "export", "m", "-o", tmp_path / "m.tar")
    return tmp_path / "m.tar"


def _nothing_written(target):
    return not (target / "models").exists() or not any((target / "models").iterdir())


def _with_ids(exported, path, new_id):
    """The export with each version.toml's ID replaced by ``new_id(version_folder, id)``."""
    def change(m, data):
        if m.name.endswith("/version.toml"):
            text = data.decode()
            vid = text.split('id = "')[1].split('"')[0]
            data = text.replace(f'id = "{vid}"', f'id = "{new_id(m.name.split("/")[3], vid)}"').encode()
        return [(m, data)]

    return _rewrite(exported, path, change)


def test_two_versions_sharing_an_id_publish_nothing(tmp_path, exported):
    first = {}
    evil = _with_ids(exported, tmp_path / "evil.tar", lambda v, vid: first.setdefault("id", vid))
    target = tmp_path / "target"
    p = run(target, "import", evil)
    assert p.returncode == 7 and "share the version ID" in p.stderr, p.stderr
    assert _nothing_written(target)


@pytest.mark.parametrize("bad_id", ["ZZ TOP!", "ab/cd", "..", "abcdefgh1"])
def test_ids_that_are_not_ids_are_refused(tmp_path, exported, bad_id):
    evil = _with_ids(exported, tmp_path / "evil.tar", lambda v, vid: bad_id if v == "0.2.0" else vid)
    target = tmp_path / "target"
    p = run(target, "import", evil)
    assert p.returncode == 7 and "not one" in p.stderr, p.stderr
    assert _nothing_written(target)
    assert not (target / "ids").exists() or not any((target / "ids").iterdir())


def test_a_huge_history_event_publishes_nothing(tmp_path, exported):
    def change(m, data):
        out = [(m, data)]
        if m.name == "models/m/history" or (m.isdir() and m.name.endswith("/history")):
            big = tarfile.TarInfo("models/m/history/20990101T000000000000Z-9.json")
            out.append((big, b'{"event": "x", "detail": "' + b"x" * (70 << 10) + b'"}'))
        return out

    evil = _rewrite(exported, tmp_path / "evil.tar", change)
    target = tmp_path / "target"
    p = run(target, "import", evil)
    assert p.returncode == 7 and "nothing was imported" in p.stderr, p.stderr
    assert _nothing_written(target)


def test_an_archive_cannot_expand_past_its_model(tmp_path, exported):
    # an artifact member larger than its record says
    def bigger(m, data):
        if m.name.endswith("0.2.0/model.joblib"):
            data = data + b"\0" * (1 << 20)
        return [(m, data)]

    target = tmp_path / "target"
    p = run(target, "import", _rewrite(exported, tmp_path / "big.tar", bigger))
    assert p.returncode == 7 and "not the artifact" in p.stderr, p.stderr
    # a member no export holds
    extra = lambda m, data: [(m, data)] + ([(tarfile.TarInfo("models/m/versions/0.2.0/blob.bin"), b"x")]
                                           if m.name.endswith("0.2.0/version.toml") else [])
    p = run(target, "import", _rewrite(exported, tmp_path / "extra.tar", extra))
    assert p.returncode == 7 and "blob.bin" in p.stderr and "not the artifact" in p.stderr, p.stderr
    stray = lambda m, data: [(m, data)] + ([(tarfile.TarInfo("models/m/notes/x.txt"), b"x")]
                                           if m.name == "models/m/model.toml" else [])
    p = run(target, "import", _rewrite(exported, tmp_path / "stray.tar", stray))
    assert p.returncode == 7 and "not part of an exported model" in p.stderr, p.stderr
    # gigabytes of zeros in code/, a small .tar.gz
    bomb = tmp_path / "bomb.tar.gz"
    with tarfile.open(exported) as s, tarfile.open(bomb, "w:gz", compresslevel=1) as d:  # level 1: a third of the time
        for m in s.getmembers():
            d.addfile(m, s.extractfile(m) if m.isfile() else None)
        info = tarfile.TarInfo("models/m/versions/0.2.0/code/zeros.py")
        info.size = 300 << 20

        class Zeros(io.RawIOBase):
            def readable(self):
                return True

            def readinto(self, b):
                b[:] = bytes(len(b))
                return len(b)

        d.addfile(info, io.BufferedReader(Zeros()))
    assert os.path.getsize(bomb) < 2 << 20
    p = run(target, "import", bomb)
    assert p.returncode == 7 and "MiB" in p.stderr, p.stderr
    assert _nothing_written(target)


def _empty_file_headers(names):
    """The 512-byte header of an empty file, for each of ``names`` (short, ASCII): what
    ``TarFile.addfile`` writes for it, made from one template (addfile spends seconds on
    a hundred thousand)."""
    template = bytearray(tarfile.TarInfo("x").tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))
    assert len(template) == 512
    template[148:156] = b" " * 8  # a header's checksum is summed with its own field as spaces
    for name in names:
        header = template.copy()
        header[0:100] = name.encode().ljust(100, b"\0")
        header[148:155] = b"%06o\0" % sum(header)
        yield bytes(header)


def test_too_many_members_stop_early(tmp_path, exported, monkeypatch):
    # the limit lowered to 1,000 (it is 100,000, whose archive costs seconds to read): one of
    # 20,000 members is refused after its first 1,001 headers, never read whole
    import mlreg.ops.archive

    monkeypatch.setattr(mlreg.ops.archive, "MAX_MEMBERS", 1000)
    many = tmp_path / "many.tar"
    with tarfile.open(exported) as s, open(many, "wb") as d:
        for m in s.getmembers():
            d.write(m.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))
            if m.isfile():
                data = s.extractfile(m).read()
                d.write(data + bytes(-len(data) % 512))
        d.writelines(_empty_file_headers(f"models/m/history/{i}.json" for i in range(20_000)))
        d.write(bytes(1024))  # the end of the archive
    header = next(_empty_file_headers(["models/m/history/7.json"]))  # a header as tarfile reads it
    assert tarfile.TarInfo.frombuf(header, "utf-8", "surrogateescape").name == "models/m/history/7.json"
    with tarfile.open(many) as whole:
        assert len(whole.getmembers()) > 20_000
    read = []
    next_member = tarfile.TarFile.next
    monkeypatch.setattr(tarfile.TarFile, "next", lambda self: read.append(1) or next_member(self))
    p = run(tmp_path / "target", "import", many)
    assert p.returncode == 7 and "more than 1000 members" in p.stderr, p.stderr
    assert 1000 < len(read) < 1100  # of over 20,000


def test_a_model_toml_that_names_another_model_is_an_integrity_error(tmp_path, exported):
    def change(m, data):
        if m.name == "models/m/model.toml":
            data = data.replace(b'name = "m"', b'name = "other"')
        return [(m, data)]

    p = run(tmp_path / "target", "import", _rewrite(exported, tmp_path / "evil.tar", change))
    assert p.returncode == 7 and "models/m/model.toml" in p.stderr and "mlreg-import-" not in p.stderr, p.stderr


def test_export_and_import_carry_aliases_and_retired_numbers(tmp_path, constant_path):
    source, target = tmp_path / "source", tmp_path / "target"
    for _ in range(4):
        ok(source, "deploy", constant_path, "--name", "m")
    ok(source, "alias", "set", "m", "champion", "0.2.0")
    gone = ok(source, "delete", "m", "0.3.0", "--yes", "--json")
    ok(source, "export", "m", "-o", tmp_path / "m.tar.gz")
    ok(target, "import", tmp_path / "m.tar.gz")
    assert ok(target, "alias", "list", "m", "--json") == ok(source, "alias", "list", "m", "--json")
    assert ok(target, "status", "m", "@champion", "--json")["version"] == "0.2.0"
    again = run(target, "deploy", constant_path, "--name", "m", "--version", "0.3.0")
    assert again.returncode == 4, again.stderr  # a deleted number is never given again, here either
    assert (target / "ids" / gone["version_id"]).read_text().startswith(
        (source / "ids" / gone["version_id"]).read_text()[:1])  # its ID is retired here too
    assert ok(target, "deploy", constant_path, "--name", "m", "--json")["version"] == "0.5.0"
    assert ok(target, "doctor", "--json", "--older-than", "0")["problems"] == []


def test_export_never_writes_through_a_planted_link(tmp_path, constant_path):
    source = tmp_path / "source"
    ok(source, "deploy", constant_path, "--name", "m")
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "out"
    out.mkdir()
    for pid in range(os.getpid() - 50, os.getpid() + 5000):  # every name the old scheme could pick
        os.symlink(victim, out / f".m.tar.{pid}.part")
    ok(source, "export", "m", "-o", out / "m.tar")
    assert victim.read_text() == "precious"
    assert tarfile.is_tarfile(out / "m.tar")
