"""What mlreg says when something is off: one line that names the cause and what to do,
the exit code a script can rely on, and no advice that does not fit where it is read."""

import json
import os

import pytest

from mlreg.server import ModelService


def test_a_code_folder_with_a_link_that_loops_or_leaves_is_refused_in_one_line(tmp_path, constant_path, sh):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    os.symlink(package, package / "loop")  # a folder linking to itself
    r = sh("deploy", str(constant_path), "--name", "m", "--code", str(package))
    assert r.exit_code == 2 and "loop" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    os.unlink(package / "loop")
    os.symlink("/etc/hostname", package / "outside.py")
    r = sh("deploy", str(constant_path), "--name", "m", "--code", str(package))
    assert r.exit_code == 2 and "outside" in r.stderr and len(r.stderr) < 400, r.stderr
    os.unlink(package / "outside.py")
    (package / "real.py").write_text("X = 1\n")
    os.symlink(package / "real.py", package / "alias.py")  # a file link inside: copied as a file
    assert sh("deploy", str(constant_path), "--name", "m", "--code", str(package)).exit_code == 0


def test_init_is_suggested_only_where_it_would_work(tmp_path, sh):
    empty = tmp_path / "empty"
    empty.mkdir()
    r = sh("--registry", str(empty), "versions", "m", registry=False)
    assert r.exit_code == 3 and "mlreg init" in r.stderr
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("x")
    r = sh("--registry", str(other), "versions", "m", registry=False)
    assert r.exit_code == 3 and "mlreg init" not in r.stderr and "other files" in r.stderr, r.stderr
    assert sh("--registry", str(other), "init", registry=False).exit_code != 0  # init refuses it indeed
    r = sh("--registry", str(tmp_path / "missing"), "versions", "m", registry=False)
    assert r.exit_code == 3 and "mlreg init" in r.stderr


def test_readme_edit_exits_non_zero_when_the_editor_fails(reg, constant_path, sh):
    reg.deploy(constant_path, "m")
    r = sh("readme", "edit", "m", env={"VISUAL": "false", "EDITOR": "false"})
    assert r.exit_code == 1 and "editor exited with 1" in r.stderr
    r = sh("readme", "edit", "m", env={"VISUAL": "true", "EDITOR": "true"})
    assert r.exit_code == 0 and "unchanged" in r.stderr


def test_verify_takes_references(reg, constant_path, sh):
    reg.deploy(constant_path, "m")
    reg.deploy(constant_path, "m")
    reg.set_alias("m", "champion", "0.1.0")
    r = sh("verify", "m@@champion", "--json")
    assert r.exit_code == 0, r.stderr
    assert [v["version"] for v in json.loads(r.stdout)] == ["0.1.0"]
    assert [v["version"] for v in json.loads(sh("verify", "m@@primary", "--json").stdout)] == ["0.2.0"]
    assert sh("verify", "m@@nope").exit_code == 3


@pytest.mark.parametrize("content", [b'{"not": "a model"}\n', b"\x00\x01binary blob", b"hello world"])
def test_an_artifact_that_is_no_pickle_says_so(tmp_path, reg, sh, content):
    path = tmp_path / "model.joblib"
    path.write_bytes(content)
    r = sh("deploy", str(path), "--name", "m")
    assert r.exit_code == 5 and "not a joblib or pickle file" in r.stderr and repr(content[:8])[2:-1] in r.stderr


def test_api_errors_point_to_routes_not_commands(reg, constant_path):
    reg.deploy(constant_path, "m")
    s = ModelService(reg)
    status, answer = s.handle("GET", "/v1/models/nope", None)
    assert status == 404 and "mlreg " not in answer["error"] and "GET /v1/models" in answer["error"]
    status, answer = s.handle("POST", "/v1/models/m/versions/9.9.9/predict", b'{"inputs": [[1, 2]]}')
    assert status == 404 and "`mlreg" not in answer["error"] and "GET /v1/models/m/versions" in answer["error"]


def test_a_wrong_bearer_token_is_called_wrong(reg, constant_path):
    from mlreg.web.auth import WritePolicy

    reg.deploy(constant_path, "m")
    s = ModelService(reg, WritePolicy("127.0.0.1", token="right"))
    status, answer = s.handle("PUT", "/v1/models/m/description", b'{"description": "x"}',
                              {"authorization": "Bearer wrong", "content-type": "application/json"})
    assert status == 403 and "wrong" in answer["error"]


def test_versions_at_80_columns_keeps_aliases_and_tags_whole(reg, constant_path, monkeypatch, capsys):
    from mlreg import render
    from mlreg.commands.reading import _versions_table

    for _ in range(3):
        reg.deploy(constant_path, "m", tags={"dataset": "2026-11", "owner": "alice"})
    reg.set_alias("m", "champion", "0.2.0")
    monkeypatch.setattr(render, "is_terminal", lambda: True)
    monkeypatch.setenv("COLUMNS", "80")
    _versions_table(reg.versions("m"))
    out = capsys.readouterr().out
    assert "@champion" in out and "dataset=2026-11" in out and "…" not in out, out
    assert max(len(line) for line in out.splitlines()) <= 80


def test_control_characters_are_shown_as_python_writes_their_escapes():
    from mlreg.render import clean

    controls = "".join(map(chr, (*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0), 0x200E, 0x200F,
                                 *range(0x202A, 0x202F), *range(0x2066, 0x206A))))
    assert clean(controls, newlines=True) == controls.encode("unicode_escape").decode("ascii")
    assert clean("tab\there\nnext", newlines=True) == "tab\there\nnext"
    assert clean("a\tb\nc") == "a b\\nc"
