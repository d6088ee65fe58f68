"""The CLI through typer's CliRunner: exit codes, JSON keys and stderr, asserted exactly."""

import json
import os

import pytest

import fakemodels
from conftest import fake_artifact
from mlreg.cli import app

VERSION_KEYS = {"model", "version", "version_id", "status", "primary", "deployed_at", "deployed_by",
                "size", "sha256", "type", "framework"}
MODEL_KEYS = {"name", "folder", "description", "type", "framework", "primary", "version_count"}


def test_deploy_json_and_exit_0(cli, iris_model_path):
    r = cli("deploy", iris_model_path, "--name", "Iris Classifier", "--sample-input", "[[5.1, 3.5, 1.4, 0.2]]", "--json")
    assert r.exit_code == 0, r.stderr
    v = r.json()
    assert VERSION_KEYS <= set(v)
    assert (v["model"], v["version"], v["status"], v["primary"]) == ("Iris Classifier", "0.1.0", "active", True)
    assert r.stderr == ""


def test_deploy_plain_output(cli, constant_path):
    r = cli("deploy", constant_path, "--name", "const")
    assert r.exit_code == 0
    assert r.stdout.startswith("const 0.1.0 (ID ") and r.stdout.rstrip().endswith("Active, primary")


def test_failed_deploy_exit_5_prints_record_and_one_error_line(cli, tmp_path):
    bad = fake_artifact(tmp_path, fakemodels.NoPredict())
    r = cli("deploy", bad, "--name", "bad", "--json")
    assert r.exit_code == 5
    assert r.json()["status"] == "failed" and r.json()["primary"] is False
    assert len(r.stderr.strip().splitlines()) == 1 and "Deployment Failed" in r.stderr
    assert cli("status", "bad").exit_code == 5


def test_usage_errors_exit_2_and_write_nothing(cli, registry_path, constant_path):
    assert cli("deploy", constant_path, "--name", "../evil").exit_code == 2
    assert cli("deploy", constant_path, "--name", "a/b").exit_code == 2
    assert cli("deploy", constant_path, "--name", "x", "--version", "1.2").exit_code == 2
    assert cli("deploy", constant_path, "--name", "x", "--bump", "huge").exit_code == 2
    assert cli("deploy", constant_path, "--name", "x", "--sample-input", "[[1,").exit_code == 2
    assert cli("deploy", "/no/such/file.joblib", "--name", "x").exit_code == 2
    assert cli("deploy", constant_path, "--name", "x", "--no-such-option").exit_code == 2
    assert not registry_path.exists()


def test_not_found_exit_3(cli, registry_path, constant_path):
    r = cli("versions", "m")
    assert r.exit_code == 3 and str(registry_path) in r.stderr
    assert not registry_path.exists()
    cli("deploy", constant_path, "--name", "m")
    assert cli("versions", "nope").exit_code == 3
    assert cli("status", "m", "9.9.9").exit_code == 3
    assert cli("logs", "m", "abcdefgh").exit_code == 3
    assert cli("promote", "m", "2.0.0").exit_code == 3
    assert cli("status", "m", "not-a-version").exit_code == 2


def test_conflicts_exit_4(cli, tmp_path, constant_path):
    cli("deploy", constant_path, "--name", "m")
    assert cli("deploy", constant_path, "--name", "m", "--version", "0.1.0").exit_code == 4
    cli("deploy", fake_artifact(tmp_path, fakemodels.NoPredict()), "--name", "m")
    r = cli("promote", "m", "0.2.0")
    assert r.exit_code == 4 and "Deployment Failed" in r.stderr
    cli("deploy", constant_path, "--name", "m", "--no-promote")
    r = cli("promote", "m", "0.3.0", "--expect-primary", "0.2.0")
    assert r.exit_code == 4
    assert cli("status", "m", "--json").json()["version"] == "0.1.0"
    r = cli("promote", "m", "0.3.0", "--expect-primary", "0.1.0", "--json")
    assert r.exit_code == 0 and r.json()["from"] == "0.1.0" and r.json()["to"] == "0.3.0"


def test_status_exit_codes_and_json(cli, constant_path):
    cli("deploy", constant_path, "--name", "m")
    r = cli("status", "m", "--json")
    assert r.exit_code == 0 and VERSION_KEYS <= set(r.json())
    assert cli("status", "m", r.json()["version_id"]).exit_code == 0


def test_status_of_a_deploying_version_exits_6(cli, reg, constant_path):
    """A version whose deploy process is alive reads as Deploying."""
    from mlreg import lock

    reg.deploy(constant_path, "m")
    vdir = os.path.join(reg.path, "models", "m", "versions", "0.1.0")
    path = os.path.join(vdir, "version.toml")
    text = open(path).read().replace('status = "active"', 'status = "deploying"')
    open(path, "w").write(text)
    fd = lock.hold(os.path.join(vdir, ".deploy.lock"))  # this test process plays the live deploy
    try:
        r = cli("status", "m", "0.1.0", "--json")
        assert r.exit_code == 6 and r.json()["status"] == "deploying"
    finally:
        lock.release_held(fd)
    r = cli("status", "m", "0.1.0", "--json")
    assert r.exit_code == 5 and r.json()["status"] == "failed"
    assert r.json()["status_label"] == "Deployment Failed (interrupted)"


def test_lock_timeout_exit_6(cli, reg, constant_path):
    from mlreg import lock

    reg.deploy(constant_path, "m")
    reg.deploy(constant_path, "m")
    held = lock.Lock(os.path.join(reg.path, "models", "m", ".lock"), timeout=1)
    held.acquire()
    try:
        r = cli("--lock-timeout", "0.2", "promote", "m", "0.1.0")
        assert r.exit_code == 6 and f"pid {os.getpid()}" in r.stderr
    finally:
        held.release()
    assert reg.model("m").record.primary == "0.2.0"
    assert not [f for f in os.listdir(os.path.join(reg.path, "models", "m")) if ".tmp-" in f]  # staged file removed


def test_corrupt_metadata_exit_7_names_file(cli, reg, constant_path):
    reg.deploy(constant_path, "m")
    path = os.path.join(reg.path, "models", "m", "model.toml")
    open(path, "w").write("name = \n")
    r = cli("versions", "m")
    assert r.exit_code == 7 and "model.toml" in r.stderr and "Traceback" not in r.stderr


def test_newer_format_exit_4(cli, reg, constant_path):
    reg.deploy(constant_path, "m")
    open(os.path.join(reg.path, "mlreg.toml"), "w").write("format = 99\n")
    assert cli("versions", "m").exit_code == 4
    assert cli("deploy", constant_path, "--name", "m").exit_code == 4
    assert cli("init").exit_code == 4


def test_versions_models_show_json_keys(cli, iris_model_path):
    cli("deploy", iris_model_path, "--name", "Iris Classifier", "--description", "irises")
    cli("deploy", iris_model_path, "--name", "iris classifier", "--bump", "patch")
    vs = cli("versions", "IRIS  classifier", "--json").json()
    assert [v["version"] for v in vs] == ["0.1.0", "0.1.1"]
    assert [v["primary"] for v in vs] == [False, True]
    assert all(VERSION_KEYS <= set(v) for v in vs)
    ms = cli("models", "--json").json()
    assert len(ms) == 1 and MODEL_KEYS <= set(ms[0])
    assert (ms[0]["name"], ms[0]["primary"], ms[0]["version_count"], ms[0]["description"]) == (
        "Iris Classifier", "0.1.1", 2, "irises")
    show = cli("show", "iris-classifier", "--json").json()
    assert MODEL_KEYS <= set(show) and len(show["versions"]) == 2
    assert set(show["invocation"]) == {"cli", "python", "curl"}
    assert "/v1/models/iris-classifier/predict" in show["invocation"]["curl"]


def test_describe_and_history_json(cli, constant_path):
    cli("deploy", constant_path, "--name", "m")
    r = cli("describe", "m", "Predicts 7", "--json")
    assert r.exit_code == 0 and r.json()["description"] == "Predicts 7"
    events = cli("history", "m", "--json").json()
    assert [e["event"] for e in events] == ["deploy", "primary", "describe"]
    assert events[1]["from"] is None and events[1]["to"] == "0.1.0"


def test_logs_plain_and_json(cli, constant_path):
    cli("deploy", constant_path, "--name", "m")
    entries = cli("logs", "m", "0.1.0", "--json").json()
    assert any(e["text"].startswith("allocated version 0.1.0") for e in entries)
    assert all(set(e) == {"at", "text"} and e["at"].endswith("Z") for e in entries)
    assert cli("logs", "m", "0.1.0").stdout.splitlines() == [f"{e['at']}  {e['text']}" for e in entries]


def test_plain_tables_when_piped(cli, constant_path):
    cli("deploy", constant_path, "--name", "m")
    out = cli("versions", "m").stdout.splitlines()
    assert out[0].split() == ["VERSION", "ID", "STATUS", "PRIMARY", "ALIASES", "DEPLOYED", "AT", "SIZE", "FRAMEWORK",
                              "TAGS"]
    assert "\x1b" not in "".join(out)


def test_control_characters_never_reach_the_terminal(cli, constant_path):
    cli("deploy", constant_path, "--name", "m", "--description", "evil \x1b[2J\nline")
    out = cli("models").stdout
    assert "\x1b" not in out and "\\x1b[2J" in out


def test_init_json(cli, registry_path):
    r = cli("init", "--json")
    assert r.exit_code == 0 and r.json() == {"path": str(registry_path), "created": True}
    assert cli("init", "--json").json()["created"] is False


def test_registry_from_environment(cli, monkeypatch, registry_path, constant_path):
    monkeypatch.setenv("MLREG_REGISTRY", str(registry_path))
    assert cli("deploy", constant_path, "--name", "m", registry=False).exit_code == 0
    assert cli("versions", "m", "--json", registry=False).json()[0]["version"] == "0.1.0"


def test_debug_shows_traceback(cli):
    from mlreg.errors import RegistryNotFound

    with pytest.raises(RegistryNotFound):
        cli("--debug", "versions", "m")


def _all_commands():
    import typer.main

    root = typer.main.get_command(app)
    for name, command in sorted(root.commands.items()):
        for sub, sub_command in sorted(getattr(command, "commands", {}).items()):
            yield [name, sub], sub_command
        yield [name], command


@pytest.mark.parametrize("path,command", list(_all_commands()), ids=lambda x: " ".join(x) if isinstance(x, list) else "")
def test_every_command_and_option_has_help_and_an_example(cli, path, command):
    r = cli(*path, "--help", registry=False)
    assert r.exit_code == 0 and r.stdout.strip()
    if not getattr(command, "commands", None):
        assert "Example:" in r.stdout
    for param in command.params:
        assert (getattr(param, "help", None) or "").strip(), f"{' '.join(path)}: {param.name} has no help"


def test_global_options_have_help(cli):
    import typer.main

    root = typer.main.get_command(app)
    assert all((p.help or "").strip() for p in root.params)
    r = cli("--help", registry=False)
    assert r.exit_code == 0 and "Example:" in r.stdout


def test_misspelt_command_suggests_the_right_one(cli):
    r = cli("verions", "m", registry=False)
    assert r.exit_code == 2 and "versions" in r.stderr


def test_version_flag(cli):
    import mlreg

    r = cli("--version", registry=False)
    assert r.exit_code == 0 and r.stdout.strip() == f"mlreg {mlreg.__version__}"


def test_unexpected_error_is_one_line_exit_1(cli, monkeypatch):
    import mlreg.registry

    def boom(self, *args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(mlreg.registry.Registry, "models", boom)
    r = cli("models")
    assert r.exit_code == 1
    assert r.stderr == "mlreg: unexpected error: RuntimeError: disk on fire (run with --debug for the traceback)\n"


def test_bad_lock_timeout_environment_exit_2(cli, monkeypatch):
    monkeypatch.setenv("MLREG_LOCK_TIMEOUT", "soon")
    r = cli("models")
    assert r.exit_code == 2 and "MLREG_LOCK_TIMEOUT" in r.stderr


def test_deploy_if_changed_deploys_identical_bytes_once(sh, constant_path, tmp_path):
    first = sh("deploy", str(constant_path), "--name", "m", "--if-changed", "--json")
    assert first.exit_code == 0 and first.json()["deployed"] is True and first.json()["version"] == "0.1.0"
    again = sh("deploy", str(constant_path), "--name", "m", "--if-changed", "--json")
    assert again.exit_code == 0 and again.json()["deployed"] is False
    assert again.json()["version"] == "0.1.0" and again.json()["version_id"] == first.json()["version_id"]
    text = sh("deploy", str(constant_path), "--name", "m", "--if-changed")
    assert text.exit_code == 0 and "nothing deployed" in text.stdout
    other = tmp_path / "other.joblib"
    other.write_bytes(constant_path.read_bytes() + b"\n")  # other bytes (joblib ignores the tail)
    changed = sh("deploy", str(other), "--name", "m", "--if-changed", "--json")
    assert changed.exit_code == 0 and changed.json()["deployed"] is True and changed.json()["version"] == "0.2.0"
    plain = sh("deploy", str(constant_path), "--name", "m", "--json")  # without it, a new version as before
    assert plain.json()["version"] == "0.3.0" and plain.json()["deployed"] is True


def test_references_on_the_command_line(sh, constant_path):
    assert sh("deploy", str(constant_path), "--name", "m").exit_code == 0
    assert sh("deploy", str(constant_path), "--name", "m", "--no-promote").exit_code == 0
    assert sh("status", "m", "@primary", "--json").json()["version"] == "0.1.0"
    assert sh("status", "m", "@latest", "--json").json()["version"] == "0.2.0"
    assert sh("predict", "m", "--version", "@latest", "--input", "[[1]]").json()["version"] == "0.2.0"
    assert sh("status", "m", "@champion").exit_code == 3
    assert sh("status", "m", "@BAD NAME").exit_code == 2


def test_a_listing_writes_each_item_as_json_dumps_does():
    from mlreg.render import item_encoder

    encode = item_encoder()
    shared = {"n_features": 4, "classes": [0, "b", 2.5]}
    items = [{"text": "é \u2028 \x00 \" \\ 🙂", "n": 1, "f": 0.1, "big": 10**30, "neg0": -0.0, "nan": float("nan"),
              "inf": float("-inf"), "t": True, "none": None, "nested": [{"x": []}, {}], "again": shared, "more": shared},
             [], "plain"]
    for item in items:
        assert encode(item) == json.dumps(item, ensure_ascii=False)
    with pytest.raises(TypeError):
        encode({"x": object()})
