"""SPEC §7 through the CLI, on a folder and on SeaweedFS: aliases, tags, metrics,
params, source, signature, delete, prune, diff, export and import.

Commands run in-process (Typer's runner, exit codes and JSON asserted exactly: a
fresh Python for each of the hundreds of commands here would cost a third of the
suite); the installed console script is driven in a subprocess by tests/test_cli.py
and by the concurrent writers below."""

import json
import os
import subprocess

import pytest

import fakemodels
from conftest import fake_artifact, mlreg_command, run_cli as run

LOCATIONS = ["folder", "s3"]


@pytest.fixture(params=LOCATIONS)
def location(request, tmp_path):
    if request.param == "s3":
        return request.getfixturevalue("s3_registry")
    return str(tmp_path / "registry")


def ok(location, *args, **kwargs):
    p = run(location, *args, **kwargs)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout) if "--json" in args else p.stdout


@pytest.fixture
def three(location, tmp_path):
    """m 0.1.0, 0.2.0 and 0.3.0 (primary), three different artifacts."""
    for n in (1, 2, 3):
        ok(location, "deploy", fake_artifact(tmp_path, fakemodels.ConstantModel(n), f"c{n}.joblib"), "--name", "m")
    return location


def test_deploy_records_tags_metrics_params_source_and_signature(location, tmp_path, iris_model_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "metrics.json").write_text(json.dumps({"val": {"acc": 0.9, "loss": 0.25}, "epochs": 3}))
    v = ok(location, "deploy", iris_model_path, "--name", "iris", "--tag", "dataset=2026-11", "--tag", "owner=ml team",
           "--metric", "f1=0.8", "--metrics-file", work / "metrics.json", "--param", "C=1.0",
           "--source", "https://ci.example/runs/42", "--json", cwd=work)
    assert v["tags"] == {"dataset": "2026-11", "owner": "ml team"}
    assert v["metrics"] == {"val.acc": 0.9, "val.loss": 0.25, "epochs": 3, "f1": 0.8}
    assert v["params"] == {"C": "1.0"}
    assert v["source"] == {"text": "https://ci.example/runs/42"}
    assert v["signature"] == {"n_features": 4, "feature_names": None, "classes": [0, 1, 2]}
    assert v["aliases"] == [] and v["deployed"] is True
    again = ok(location, "status", "iris", "--json")
    assert {k: again[k] for k in ("tags", "metrics", "params", "source", "signature")} == {
        k: v[k] for k in ("tags", "metrics", "params", "source", "signature")}
    shown = ok(location, "show", "iris")
    assert "Inputs:" in shown and "4 features" in shown and "3 classes: 0, 1, 2" in shown


@pytest.mark.parametrize("bad", [
    ["--metric", "acc=high"], ["--metric", "acc=nan"], ["--tag", "bad key=1"], ["--tag", "k=" + "v" * 257],
    ["--param", "noequals"], ["--metrics-file", "{metrics}"]])
def test_bad_lineage_is_exit_2_before_anything_is_written(tmp_path, constant_path, bad):
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps({"acc": True, "n": None}))
    registry = tmp_path / "registry"
    p = run(registry, "deploy", constant_path, "--name", "m", *[b.format(metrics=metrics) for b in bad])
    assert p.returncode == 2, p.stderr
    assert not registry.exists()


def test_git_source_is_detected_without_credentials(tmp_path, constant_path):
    work = tmp_path / "repo"
    work.mkdir()
    git = ["git", "-c", "user.email=a@b", "-c", "user.name=a"]
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    (work / "train.py").write_text("print(1)\n")
    subprocess.run(git + ["-C", str(work), "add", "."], check=True)
    subprocess.run(git + ["-C", str(work), "commit", "-qm", "x"], check=True)
    subprocess.run(["git", "-C", str(work), "remote", "add", "origin", "https://user:s3cret@git.example/ml.git"],
                   check=True)
    commit = subprocess.run(["git", "-C", str(work), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    v = ok(tmp_path / "registry", "deploy", constant_path, "--name", "m", "--json", cwd=work)
    assert v["source"] == {"git_commit": commit, "git_dirty": False, "git_remote": "https://git.example/ml.git"}
    (work / "train.py").write_text("print(2)\n")
    v = ok(tmp_path / "registry", "deploy", constant_path, "--name", "m", "--json", cwd=work)
    assert v["source"]["git_dirty"] is True
    outside = tmp_path / "plain"
    outside.mkdir()
    assert ok(tmp_path / "registry", "deploy", constant_path, "--name", "m", "--json", cwd=outside)["source"] is None


def test_aliases(three, tmp_path):
    loc = three
    ids = {v["version"]: v["version_id"] for v in ok(loc, "versions", "m", "--json")}
    assert ok(loc, "alias", "set", "m", "champion", "0.2.0", "--json") == {
        "alias": "champion", "version": "0.2.0", "version_id": ids["0.2.0"]}
    assert ok(loc, "alias", "set", "m", "staging", "@champion", "--expect", "none", "--json")["version"] == "0.2.0"
    assert run(loc, "alias", "set", "m", "staging", "0.3.0", "--expect", "0.1.0").returncode == 4
    assert ok(loc, "alias", "set", "m", "staging", "0.3.0", "--expect", "0.2.0", "--json")["version"] == "0.3.0"
    assert ok(loc, "alias", "list", "m", "--json") == [
        {"alias": "champion", "version": "0.2.0", "version_id": ids["0.2.0"]},
        {"alias": "staging", "version": "0.3.0", "version_id": ids["0.3.0"]}]
    assert ok(loc, "status", "m", "@champion", "--json")["aliases"] == ["champion"]
    assert ok(loc, "predict", "m", "--version", "@champion", "--input", "[[1]]")
    assert [v["version"] for v in ok(loc, "versions", "m", "--alias", "staging", "--json")] == ["0.3.0"]
    for reserved in ("primary", "latest", "Bad", "9x", "x" * 33):
        assert run(loc, "alias", "set", "m", reserved, "0.1.0").returncode == 2
    assert run(loc, "status", "m", "@nosuch").returncode == 3
    assert ok(loc, "alias", "rm", "m", "staging", "--json") == {
        "alias": "staging", "version": "0.3.0", "version_id": ids["0.3.0"]}
    assert run(loc, "alias", "rm", "m", "staging").returncode == 3
    with_failed = run(loc, "deploy", fake_artifact(tmp_path, fakemodels.NoPredict(), "bad.joblib"), "--name", "m")
    assert with_failed.returncode == 5
    assert run(loc, "alias", "set", "m", "broken", "0.4.0").returncode == 4
    events = [e for e in ok(loc, "history", "m", "--json") if e["event"] == "alias"]
    assert [(e["detail"], e["from"], e["to"]) for e in events] == [
        ("@champion", None, "0.2.0"), ("@staging", None, "0.2.0"), ("@staging", "0.2.0", "0.3.0"),
        ("@staging", "0.3.0", None)]


def test_tags_and_filters(three):
    loc = three
    assert ok(loc, "tag", "m", "0.1.0", "stage=dev", "data=a", "--json")["tags"] == {"stage": "dev", "data": "a"}
    ok(loc, "tag", "m", "0.2.0", "stage=dev", "data=b")
    assert ok(loc, "tag", "m", "0.2.0", "--remove", "data", "reviewed=yes", "--json")["tags"] == {
        "stage": "dev", "reviewed": "yes"}
    assert [v["version"] for v in ok(loc, "versions", "m", "--tag", "stage=dev", "--json")] == ["0.1.0", "0.2.0"]
    assert [v["version"] for v in ok(loc, "versions", "m", "--tag", "stage=dev", "--tag", "data=a", "--json")] == [
        "0.1.0"]
    assert run(loc, "tag", "m", "0.1.0", "bad key=1").returncode == 2
    assert run(loc, "tag", "m", "0.1.0").returncode == 2
    assert run(loc, "tag", "m", "9.9.9", "a=b").returncode == 3
    events = [(e["version"], e["detail"], e["from"], e["to"]) for e in ok(loc, "history", "m", "--json")
              if e["event"] == "tag"]
    assert events == [("0.1.0", "data", None, "a"), ("0.1.0", "stage", None, "dev"), ("0.2.0", "data", None, "b"),
                      ("0.2.0", "stage", None, "dev"), ("0.2.0", "data", "b", None), ("0.2.0", "reviewed", None, "yes")]


def test_delete_a_version(three, tmp_path):
    loc = three
    before = {v["version"]: v for v in ok(loc, "versions", "m", "--json")}
    ok(loc, "alias", "set", "m", "champion", "0.1.0")
    assert run(loc, "delete", "m", "0.3.0", "--yes").returncode == 4  # the primary
    refused = run(loc, "delete", "m", "0.1.0", "--yes")
    assert refused.returncode == 4 and "alias rm" in refused.stderr
    unasked = run(loc, "delete", "m", "0.2.0")
    assert unasked.returncode == 2 and "--yes" in unasked.stderr
    assert run(loc, "delete", "m", "").returncode == 2 and run(loc, "delete", "m").returncode == 2
    assert run(loc, "delete", "m", "0.2.0", "--model", "--yes").returncode == 2
    deleted = ok(loc, "delete", "m", before["0.2.0"]["version_id"], "--yes", "--json")
    assert deleted["version"] == "0.2.0" and deleted["version_id"] == before["0.2.0"]["version_id"]
    assert [v["version"] for v in ok(loc, "versions", "m", "--json")] == ["0.1.0", "0.3.0"]
    assert run(loc, "status", "m", "0.2.0").returncode == 3
    assert run(loc, "status", "m", before["0.2.0"]["version_id"]).returncode == 3
    assert run(loc, "delete", "m", "0.2.0", "--yes").returncode == 3
    again = run(loc, "deploy", tmp_path / "c2.joblib", "--name", "m", "--version", "0.2.0")
    assert again.returncode == 4, again.stderr
    assert ok(loc, "deploy", tmp_path / "c2.joblib", "--name", "m", "--json")["version"] == "0.4.0"
    delete_events = [e for e in ok(loc, "history", "m", "--json") if e["event"] == "delete"]
    assert [(e["version"], e["version_id"]) for e in delete_events] == [("0.2.0", before["0.2.0"]["version_id"])]
    report = ok(loc, "doctor", "--json", "--older-than", "0")
    assert report["ok"] and report["problems"] == []


def test_delete_asks_on_a_terminal(tmp_path, constant_path):
    """Without --yes, a person at a terminal answers: anything but y deletes nothing."""
    import pty

    registry = tmp_path / "registry"
    ok(registry, "deploy", constant_path, "--name", "m")
    ok(registry, "deploy", constant_path, "--name", "m")

    def answer(text):
        pid, fd = pty.fork()
        if pid == 0:
            os.execvp(mlreg_command()[0], mlreg_command() + ["--registry", str(registry), "delete", "m", "0.1.0"])
        output = b""
        while b"[y/N]" not in output:
            output += os.read(fd, 1024)
        os.write(fd, text.encode() + b"\n")
        while True:
            try:
                chunk = os.read(fd, 1024)
            except OSError:
                break
            if not chunk:
                break
        return os.waitpid(pid, 0)[1] >> 8

    assert answer("n") == 1
    assert [v["version"] for v in ok(registry, "versions", "m", "--json")] == ["0.1.0", "0.2.0"]
    assert answer("y") == 0
    assert [v["version"] for v in ok(registry, "versions", "m", "--json")] == ["0.2.0"]


def test_delete_a_whole_model(three, tmp_path):
    loc = three
    ids = [v["version_id"] for v in ok(loc, "versions", "m", "--json")]
    assert run(loc, "delete", "m", "--model").returncode == 2
    gone = ok(loc, "delete", "m", "--model", "--yes", "--json")
    assert gone["name"] == "m" and gone["version_count"] == 3
    assert run(loc, "show", "m").returncode == 3
    assert ok(loc, "models", "--json") == []
    for version_id in ids:
        assert run(loc, "status", "m", version_id).returncode == 3
    assert ok(loc, "doctor", "--json", "--older-than", "0")["problems"] == []
    fresh = ok(loc, "deploy", tmp_path / "c1.joblib", "--name", "m", "--json")
    assert fresh["version"] == "0.1.0" and fresh["version_id"] not in ids
    assert ok(loc, "history", "m", "--json")[0]["event"] == "deploy"  # a new model's history


def test_prune(three, tmp_path):
    loc = three
    ok(loc, "deploy", tmp_path / "c1.joblib", "--name", "m", "--no-promote")  # 0.4.0
    failed = run(loc, "deploy", fake_artifact(tmp_path, fakemodels.NoPredict(), "bad.joblib"), "--name", "m")
    assert failed.returncode == 5  # 0.5.0
    ok(loc, "alias", "set", "m", "champion", "0.1.0")
    assert [v["version"] for v in ok(loc, "prune", "m", "--keep", "1", "--failed-only", "--dry-run", "--json")] == [
        "0.5.0"]
    planned = ok(loc, "prune", "m", "--keep", "1", "--dry-run", "--json")
    assert [v["version"] for v in planned] == ["0.2.0", "0.5.0"]  # 0.1.0 aliased, 0.3.0 primary, 0.4.0 newest
    assert len(ok(loc, "versions", "m", "--json")) == 5  # a dry run deletes nothing
    assert run(loc, "prune", "m", "--keep", "1").returncode == 2  # no --yes, no terminal
    assert [v["version"] for v in ok(loc, "prune", "m", "--keep", "1", "--failed-only", "--yes", "--json")] == ["0.5.0"]
    pruned = ok(loc, "prune", "m", "--keep", "1", "--yes", "--json")
    assert [v["version"] for v in pruned] == ["0.2.0"]
    left = ok(loc, "versions", "m", "--json")
    assert [(v["version"], v["primary"], v["aliases"]) for v in left] == [
        ("0.1.0", False, ["champion"]), ("0.3.0", True, []), ("0.4.0", False, [])]
    assert ok(loc, "prune", "m", "--yes", "--json") == []
    assert ok(loc, "doctor", "--json", "--older-than", "0")["problems"] == []


def test_prune_keeps_the_primary_whatever_keep_says(tmp_path, constant_path):
    registry = tmp_path / "registry"
    for _ in range(3):
        ok(registry, "deploy", constant_path, "--name", "m")
    ok(registry, "promote", "m", "0.1.0")
    assert [v["version"] for v in ok(registry, "prune", "m", "--keep", "0", "--yes", "--json")] == ["0.2.0", "0.3.0"]
    assert [(v["version"], v["primary"]) for v in ok(registry, "versions", "m", "--json")] == [("0.1.0", True)]


def test_diff(location, tmp_path, iris_model_path, regressor_path):
    ok(location, "deploy", iris_model_path, "--name", "m", "--metric", "acc=0.9", "--param", "C=1", "--tag", "a=1",
       "--source", "run 1")
    ok(location, "deploy", regressor_path, "--name", "m", "--metric", "acc=0.95", "--metric", "r2=0.5",
       "--tag", "a=1")
    d = ok(location, "diff", "m", "0.1.0", "@latest", "--json")
    assert d["model"] == "m" and d["a"]["version"] == "0.1.0" and d["b"]["version"] == "0.2.0"
    fields = {c["field"]: (c["a"], c["b"]) for c in d["changes"]}
    assert fields["metrics.acc"] == (0.9, 0.95)
    assert next(c for c in d["changes"] if c["field"] == "metrics.acc")["change"] == pytest.approx(0.05)
    assert fields["metrics.r2"] == (None, 0.5)
    assert fields["params.C"] == ("1", None)
    assert fields["type"] == ("Classification", "Regression")
    assert fields["signature.n_features"] == (4, 10)
    assert fields["signature.classes"] == ([0, 1, 2], None)
    assert "sha256" in fields and "size" in fields and "tags.a" not in fields
    same = ok(location, "diff", "m", "0.1.0", "0.1.0", "--json")
    assert same["changes"] == []
    table = ok(location, "diff", "m", "0.1.0", "0.2.0")
    assert "metrics.acc" in table and "+0.05" in table


def test_export_and_import_across_storages(location, tmp_path, iris_model_path, request):
    """Export from the folder or the bucket, import into the other kind."""
    ok(location, "deploy", iris_model_path, "--name", "m", "--tag", "a=1", "--metric", "acc=0.9", "--source", "s")
    ok(location, "deploy", iris_model_path, "--name", "m", "--param", "C=2")
    failed = run(location, "deploy", fake_artifact(tmp_path, fakemodels.NoPredict(), "bad.joblib"), "--name", "m")
    assert failed.returncode == 5  # 0.3.0: exported too, as what it is
    ok(location, "readme", "edit", "m", "--file", "-", input="# m\n\nWritten here.\n")
    archive = tmp_path / "m.tar.gz"
    exported = ok(location, "export", "m", "--output", archive, "--json")
    assert exported["copied"] == ["0.1.0", "0.2.0", "0.3.0"]
    other = str(tmp_path / "other") if location.startswith("s3://") else request.getfixturevalue("s3_registry")
    imported = ok(other, "import", archive, "--json")
    assert imported == {"model": "m", "copied": ["0.1.0", "0.2.0", "0.3.0"], "skipped": []}
    source_versions = ok(location, "versions", "m", "--json")
    there = ok(other, "versions", "m", "--json")
    keys = ("version", "version_id", "deployed_at", "deployed_by", "sha256", "tags", "metrics", "params", "source",
            "signature", "primary", "status")
    assert [{k: v[k] for k in keys} for v in there] == [{k: v[k] for k in keys} for v in source_versions]
    assert ok(other, "readme", "show", "m") == ok(location, "readme", "show", "m")
    assert [e["event"] for e in ok(other, "history", "m", "--json")][:2] == ["deploy", "primary"]
    assert ok(other, "import", archive, "--json") == {"model": "m", "copied": [],
                                                       "skipped": ["0.1.0", "0.2.0", "0.3.0"]}
    assert "FAILED" in ok(other, "logs", "m", "0.3.0")
    assert [v["status"] for v in there] == ["active", "active", "failed"]
    assert ok(other, "predict", "m", "--input", "[[5.1, 3.5, 1.4, 0.2]]", "--json")["version"] == "0.2.0"
    assert ok(other, "doctor", "--json", "--older-than", "0")["problems"] == []


def test_import_refuses_a_clash_and_writes_nothing(tmp_path, constant_path, iris_model_path):
    source, target = tmp_path / "source", tmp_path / "target"
    ok(source, "deploy", constant_path, "--name", "m")
    ok(source, "deploy", constant_path, "--name", "m")
    ok(source, "export", "m", "-o", tmp_path / "m.tar")
    ok(target, "deploy", constant_path, "--name", "m")
    ok(target, "deploy", iris_model_path, "--name", "m")  # 0.2.0 with other content
    before = ok(target, "versions", "m", "--json")
    p = run(target, "import", tmp_path / "m.tar")
    assert p.returncode == 4, p.stderr
    assert ok(target, "versions", "m", "--json") == before


def _tar(path, members):
    """A tar archive of (name, bytes or a TarInfo-changing function)."""
    import io
    import tarfile

    with tarfile.open(path, "w") as tar:
        for name, data, kind in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                info.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
                info.linkname = data
                tar.addfile(info)
    return path


@pytest.mark.parametrize("member", [
    ("../escaped.txt", b"x", "file"), ("/tmp/mlreg-absolute-test.txt", b"x", "file"),
    ("models/m/link", "/etc/passwd", "symlink"), ("models/m/hard", "mlreg.toml", "hardlink"),
    ("models/m/../../escaped.txt", b"x", "file")])
def test_import_refuses_hostile_archives(tmp_path, member):
    archive = _tar(tmp_path / "evil.tar", [("mlreg.toml", b"format = 1\n", "file"),
                                           ("models/m/model.toml", b'name = "m"\nfolder = "m"\n', "file"), member])
    target = tmp_path / "deep" / "target"
    p = run(target, "import", archive)
    assert p.returncode == 7, p.stderr
    assert "nothing was imported" in p.stderr
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "deep" / "escaped.txt").exists()
    assert not os.path.exists("/tmp/mlreg-absolute-test.txt")
    assert not target.exists() or not (target / "models").exists()


def test_import_verifies_every_artifact_before_writing(tmp_path, constant_path):
    import tarfile

    source = tmp_path / "source"
    ok(source, "deploy", constant_path, "--name", "m")
    ok(source, "deploy", fake_artifact(tmp_path, fakemodels.ConstantModel(3), "c3.joblib"), "--name", "m")
    ok(source, "export", "m", "-o", tmp_path / "m.tar")
    tampered = tmp_path / "tampered.tar"
    with tarfile.open(tmp_path / "m.tar") as src, tarfile.open(tampered, "w") as dst:
        for m in src.getmembers():
            data = src.extractfile(m).read() if m.isfile() else None
            if m.name == "models/m/versions/0.2.0/model.joblib":
                data = data[:-1] + bytes([data[-1] ^ 1])
            dst.addfile(m, None if data is None else __import__("io").BytesIO(data))
    p = run(tmp_path / "target", "import", tampered)
    assert p.returncode == 7 and "nothing was imported" in p.stderr, p.stderr
    assert not (tmp_path / "target" / "models").exists()


def _spawn(location, *args, env=None):
    return subprocess.Popen(mlreg_command() + ["--registry", str(location)] + [str(a) for a in args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})


def _gateways(location, request):
    """Environments that send half the processes through each gateway of the bucket."""
    if not location.startswith("s3://"):
        return [{}, {}]
    seaweed = request.getfixturevalue("s3_env")
    return [{"AWS_ENDPOINT_URL": seaweed.endpoint}, {"AWS_ENDPOINT_URL": seaweed.endpoint2}]


@pytest.mark.parametrize("target", ["none", "0.1.0"])
def test_alias_set_with_expect_from_8_processes_has_one_winner(three, request, target):
    loc = three
    if target != "none":
        ok(loc, "alias", "set", "m", "champion", target)
    env = _gateways(loc, request)
    procs = [_spawn(loc, "alias", "set", "m", "champion", f"0.{2 + i % 2}.0", "--expect", target, "--json",
                    env=env[i % 2]) for i in range(8)]
    results = [(p.wait(timeout=300), p.stdout.read(), p.stderr.read()) for p in procs]
    assert sorted(code for code, _, _ in results) == [0] + [4] * 7, results
    winner = json.loads(next(out for code, out, _ in results if code == 0))
    assert ok(loc, "alias", "list", "m", "--json") == [winner]
    moves = [e for e in ok(loc, "history", "m", "--json") if e["event"] == "alias"]
    assert moves[-1]["to"] == winner["version"] and len(moves) == (1 if target == "none" else 2)


def test_delete_racing_a_promote_never_leaves_a_primary_that_does_not_exist(three, request):
    loc = three
    env = _gateways(loc, request)
    outcomes = set()
    for victim in ("0.1.0", "0.2.0"):
        promote = _spawn(loc, "promote", "m", victim, env=env[0])
        delete = _spawn(loc, "delete", "m", victim, "--yes", env=env[1])
        codes = (promote.wait(timeout=300), delete.wait(timeout=300))
        assert codes in ((0, 4), (3, 0), (4, 0)), (codes, promote.stderr.read(), delete.stderr.read())
        outcomes.add(codes)
        status = ok(loc, "status", "m", "--json")
        assert status["primary"] is True and status["status"] == "active"
        listed = {v["version"] for v in ok(loc, "versions", "m", "--json")}
        assert status["version"] in listed
        assert (victim in listed) == (codes[0] == 0)
    assert ok(loc, "doctor", "--json", "--older-than", "0")["problems"] == []


def test_serve_drops_the_model_of_a_deleted_version(tmp_path, constant_path):
    import mlreg
    from mlreg.server import ModelService

    reg = mlreg.Registry(tmp_path / "registry")
    reg.deploy(constant_path, "m")
    reg.deploy(constant_path, "m")
    service = ModelService(reg)
    first = reg.version("m", "0.1.0")
    assert service.handle("POST", "/v1/models/m/versions/0.1.0/predict", b'{"inputs": [[1]]}')[0] == 200
    assert service.handle("POST", "/v1/models/m/versions/@latest/predict", b'{"inputs": [[1]]}')[0] == 200
    assert reg.predictor.loaded == 2
    reg.delete("m", "0.1.0")
    status, answer = service.handle("POST", f"/v1/versions/{first.version_id}/predict", b'{"inputs": [[1]]}')
    assert status == 404, answer
    assert reg.predictor.evict_deleted() == [first.version_id]
    assert reg.predictor.loaded == 1
