"""doctor finds each kind of problem, names its file, exits 7, and --fix repairs only what is safe."""

import os

import pytest



@pytest.fixture
def example(tmp_path, iris_reg, constant_path):
    """Iris Classifier 0.1.0 and m 0.1.0, 0.2.0 (primary)."""
    iris_reg.deploy(constant_path, "m")
    iris_reg.deploy(constant_path, "m")
    return iris_reg


def _kinds(report):
    return sorted((p.kind, p.fixed) for p in report.problems)


def test_a_sound_registry(example, cli):
    assert example.doctor().ok
    r = cli("doctor", "--json")
    assert r.exit_code == 0 and r.json()["ok"] is True and r.json()["checked"] == {"models": 2, "versions": 3, "artifacts": 3}


def test_each_problem_is_named_with_its_file(example, tmp_path, cli):
    root = example.path
    os.symlink(tmp_path, os.path.join(root, "models", "m", "versions", "link"))
    open(os.path.join(root, "models", "m", ".model.toml.tmp-dead"), "w").close()
    os.makedirs(os.path.join(root, "staging", "0123abcd"))
    os.makedirs(os.path.join(root, "models", "m", "versions", "not-a-version"))
    with open(os.path.join(root, "models", "m", "versions", "0.1.0", "model.joblib"), "ab") as f:
        f.write(b"!")
    with open(os.path.join(root, "ids", "zzzzzzzz"), "w") as f:
        f.write("m/9.9.9\n")
    r = cli("doctor", "--older-than", "0", "--json")
    assert r.exit_code == 7
    found = {(p["kind"], os.path.basename(p["path"])) for p in r.json()["problems"]}
    assert found == {("symlink", "link"), ("temp-file", ".model.toml.tmp-dead"), ("staging-leftover", "0123abcd"),
                     ("stray", "not-a-version"), ("artifact", "model.joblib"), ("dangling-id", "zzzzzzzz")}
    fixed = cli("doctor", "--fix", "--older-than", "0", "--json").json()
    assert {p["kind"] for p in fixed["problems"] if p["fixed"]} == {"temp-file", "staging-leftover", "dangling-id"}
    assert os.path.exists(os.path.join(root, "models", "m", "versions", "0.1.0", "model.joblib"))  # never deleted
    assert os.path.isdir(os.path.join(root, "models", "m", "versions", "not-a-version"))


def test_recent_leftovers_are_work_in_progress(example):
    os.makedirs(os.path.join(example.path, "staging", "0123abcd"))
    assert example.doctor().ok  # younger than an hour: a deploy may be copying


def test_corrupt_metadata_and_a_primary_that_is_not_active(example):
    path = os.path.join(example.path, "models", "iris-classifier", "versions", "0.1.0", "version.toml")
    with open(path, "w") as f:
        f.write("status = \n")
    model = os.path.join(example.path, "models", "m", "model.toml")
    text = open(model).read()
    assert 'primary = "0.2.0"' in text
    open(model, "w").write(text.replace('primary = "0.2.0"', 'primary = "0.7.0"'))
    report = example.doctor()
    assert _kinds(report) == [("history", False), ("metadata", False), ("primary", False), ("primary", False)]
    assert any(p.path == path for p in report.problems)


def test_missing_id_file_and_lagging_highest_version_are_fixed(example):
    v = example.status("m", "0.1.0")
    os.unlink(os.path.join(example.path, "ids", v.version_id))
    model = os.path.join(example.path, "models", "m", "model.toml")
    text = open(model).read()
    assert 'highest_version = "0.2.0"' in text
    open(model, "w").write(text.replace('highest_version = "0.2.0"', 'highest_version = "0.1.0"'))
    assert _kinds(example.doctor()) == [("highest-version", False), ("id-index", False)]
    assert _kinds(example.doctor(fix=True)) == [("highest-version", True), ("id-index", True)]
    assert example.doctor().ok
    assert example.status("m", v.version_id).version == "0.1.0"


def test_torn_history_line_is_cut(example):
    # the history an earlier mlreg appended to, one event a line
    path = os.path.join(example.path, "models", "m", "history.jsonl")
    with open(path, "a") as f:
        f.write('{"at": "2026-01-01T00:00:00.000000Z", "by": "t@h", "event": "describe", "detail": "old"}\n')
        f.write('{"at": "2026')
    assert _kinds(example.doctor()) == [("history", False)]
    assert example.doctor(fix=True).ok and open(path).read().endswith("}\n")
    assert len(example.history("m")) == 5


def test_verify_one_version_and_every_version(example, cli):
    assert cli("verify").exit_code == 0
    assert len(cli("verify", "--json").json()) == 3
    r = cli("verify", "m@0.2.0", "--json")
    assert r.exit_code == 0 and [x["version"] for x in r.json()] == ["0.2.0"]
    with open(os.path.join(example.path, "models", "m", "versions", "0.2.0", "model.joblib"), "ab") as f:
        f.write(b"x")
    r = cli("verify", "m")
    assert r.exit_code == 7 and "MISMATCH  m 0.2.0" in r.stdout
    assert cli("verify", "Iris Classifier").exit_code == 0
    assert cli("verify", "nope").exit_code == 3


def test_fix_never_fails_a_deploy_whose_process_still_runs(example):
    """Where locks do not work (lock free, process alive), --fix leaves the version alone."""
    from mlreg import identity, metadata

    path = os.path.join(example.path, "models", "m", "versions", "0.1.0", "version.toml")
    data = metadata.read_toml(path)
    metadata.write_toml(path, {**data, "status": "deploying", "process": identity.this_process()})
    report = example.doctor(fix=True)
    assert [(p.kind, p.fixed) for p in report.problems] == [("interrupted", False)]
    assert "still runs" in report.problems[0].message
    assert metadata.read_toml(path)["status"] == "deploying"
