
import os

import pytest

from mlreg import metadata
from mlreg.errors import IntegrityError
from mlreg.metadata import HistoryEvent, ModelRecord, VersionRecord


def _version(**changes):
    base = dict(model="m", version="0.1.0", version_id="abcd1234", status="active", deployed_at="2026-01-01T00:00:00.000000Z",
                deployed_by="u@h", size=3, sha256="0" * 64, artifact="model.joblib")
    base.update(changes)
    return VersionRecord(**base)


def test_version_round_trip_drops_none_and_keeps_unknown_keys(tmp_path):
    path = str(tmp_path / "version.toml")
    record = _version(reason=None, extra={"from_the_future": 1})
    metadata.write_toml(path, record.to_toml())
    text = open(path).read()
    assert "reason" not in text and 'id = "abcd1234"' in text and "from_the_future = 1" in text
    again = VersionRecord.from_toml(metadata.read_toml(path), path)
    assert again == record and again.extra == {"from_the_future": 1}


@pytest.mark.parametrize("change, message", [
    ({"size": "3"}, "'size' should be int"),
    ({"size": True}, "'size' should be int"),
    ({"imports": ["numpy.ndarray", 7]}, "'imports' should be a list of names"),
    ({"artifact": "../model.joblib"}, "not a plain file name"),
    ({"status": "retired"}, "unknown status"),
    ({"tags": {"k": 1}}, "tag"),
])
def test_each_file_is_checked_whatever_shape_came_before(change, message):
    """Records are checked once per shape of file (which keys, which types): a file of
    another shape, or with a bad value in a good shape, is still refused."""
    good = _version(imports=["numpy.ndarray"], tags={"k": "v"}).to_toml()
    for _ in range(3):  # the good shape is remembered
        assert VersionRecord.from_toml(dict(good), "v.toml").size == 3
    bad = {**good, **change}
    with pytest.raises(IntegrityError, match=message):
        VersionRecord.from_toml(bad, "v.toml")
    stored = VersionRecord.from_toml(dict(good), "v.toml").stored()
    stored[VersionRecord.KEYS.index(next(iter(change)))] = next(iter(change.values()))
    with pytest.raises(IntegrityError, match=message):
        VersionRecord.from_stored(stored, "v.toml")
    short = VersionRecord.from_toml(dict(good), "v.toml").stored()[:-1]  # no extra keys' dict
    with pytest.raises(IntegrityError, match="not a version's fields"):
        VersionRecord.from_stored(short, "v.toml")


def test_version_json_has_spec_keys():
    data = _version(primary=True).to_json()
    assert list(data)[:11] == ["model", "version", "version_id", "status", "primary", "deployed_at",
                               "deployed_by", "size", "sha256", "type", "framework"]
    assert _version(status="failed", interrupted=True).status_label == "Deployment Failed (interrupted)"


@pytest.mark.parametrize("text,message", [
    ("", "lacks the key 'name'"),
    ("name = 1\nfolder = 'm'\n", "'name' should be str"),
    ("name = 'm'\nname = 'n'\nfolder = 'm'\n", "corrupt"),
    ("name = 'm'\nfolder = 'm'\nschema = 9\n", "schema 9"),
    ("\x00\x01", "corrupt"),
])
def test_bad_model_files_name_the_file(tmp_path, text, message):
    path = tmp_path / "model.toml"
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    with pytest.raises(IntegrityError, match=message) as e:
        ModelRecord.from_toml(metadata.read_toml(str(path)), str(path))
    assert str(path) in str(e.value)


def test_bom_and_crlf_are_read(tmp_path):
    path = tmp_path / "model.toml"
    path.write_bytes(b"\xef\xbb\xbfname = 'm'\r\nfolder = 'm'\r\n")
    assert ModelRecord.from_toml(metadata.read_toml(str(path)), str(path)).name == "m"


def test_huge_metadata_is_refused_before_parsing(tmp_path):
    path = tmp_path / "model.toml"
    path.write_bytes(b"# " + b"x" * (metadata.MAX_METADATA_BYTES + 10))
    with pytest.raises(IntegrityError, match="bytes"):
        metadata.read_toml(str(path))


def test_history_lines_round_trip_and_torn_lines_are_skipped():
    event = HistoryEvent(at="t", by="u@h", event="primary", from_="0.1.0", to="0.2.0")
    assert HistoryEvent.from_line(event.to_line()) == event
    assert HistoryEvent.from_line('{"at": "t", "ev') is None


def test_records_pickle_and_copy_like_frozen_dataclasses():
    import copy
    import pickle

    record = _version(extra={"newer_key": 1})
    event = HistoryEvent(at="t", by="u@h", event="primary", from_="0.1.0", to="0.2.0")
    for value in (record, event):
        for again in (pickle.loads(pickle.dumps(value)), copy.copy(value), copy.deepcopy(value)):
            assert again == value and type(again) is type(value)
    assert pickle.loads(pickle.dumps(record)).extra == {"newer_key": 1}
    with pytest.raises(AttributeError):
        record.status = "failed"
    assert record.replace(status="failed").status == "failed" and record.status != "failed"


def test_a_metadata_file_is_parsed_once_per_content_and_never_shared(reg, constant_path):
    """``Repository.toml`` keeps what it parsed by the bytes' digest: a caller's changes to
    what it got never reach the next caller, and new bytes (however written) are parsed."""
    reg.deploy(constant_path, "m")
    key = "models/m/model.toml"
    first = reg.repo.toml(key)
    first["description"] = "changed by a caller"
    first.setdefault("aliases", {})["x"] = "y"
    again = reg.repo.toml(key)
    assert again["description"] == "" and "x" not in again.get("aliases", {})
    path = os.path.join(reg.path, "models", "m", "model.toml")
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:  # in place, as a hand edit would
        f.write(text.replace('description = ""', 'description = "edited by hand"'))
    assert reg.repo.toml(key)["description"] == "edited by hand"
