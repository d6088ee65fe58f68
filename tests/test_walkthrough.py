"""What a new user meets following the README: templates, usage errors, pipes, near
misses, listings with one bad entry, tables, help and the README after a rollback."""

import json
import os
import re
import subprocess

import pytest

import fakemodels
import mlreg
from conftest import fake_artifact, mlreg_command


# ------------------------------------------------------- 14. templates


def test_a_template_sample_that_does_not_fit_says_it_came_from_the_template(reg, tmp_path, sh):
    artifact = fake_artifact(tmp_path, fakemodels.FailsOnPredict(), "f.joblib")
    r = sh("deploy", artifact, "--name", "m", "--template", "sklearn-classifier")
    assert r.exit_code == 5
    assert "sample input of template 'sklearn-classifier'" in r.stderr and "--sample-input" in r.stderr
    # A first deploy that failed leaves no README that describes another model.
    assert "Iris" not in reg.readme("m") and "sklearn-classifier" not in reg.readme("m")


def test_a_template_readme_arrives_with_the_first_active_deploy(reg, constant_path, sh):
    assert sh("deploy", constant_path, "--name", "m", "--template", "custom-python",
              "--sample-input", "[[1]]").exit_code == 0
    template = next(t for t in reg.templates() if t.name == "custom-python")
    assert reg.readme("m") == template.readme_for("m", "m")


# -------------------------------------------------- 15. usage and pipes


@pytest.mark.parametrize("args,suggested", [(["verions", "m"], "versions"), (["versions", "m", "--jsn"], "--json"),
                                            (["status"], "name")])
def test_usage_errors_are_one_line_with_a_suggestion(sh, args, suggested):
    r = sh(*args)
    assert r.exit_code == 2 and r.stdout == ""
    assert len(r.stderr.splitlines()) == 1 and r.stderr.startswith("mlreg: error: ") and suggested in r.stderr


def test_global_options_are_accepted_after_the_command(iris_reg):
    p = subprocess.run(mlreg_command() + ["versions", "iris-classifier", "--registry", iris_reg.path, "--json"],
                       capture_output=True, text=True)
    assert p.returncode == 0 and json.loads(p.stdout)[0]["version"] == "0.1.0"
    p = subprocess.run(mlreg_command() + ["status", "iris-classifier", f"--registry={iris_reg.path}",
                                          "--lock-timeout", "3", "--debug"], capture_output=True, text=True)
    assert p.returncode == 0


def test_predict_accepts_json(iris_reg, cli):
    r = cli("predict", "iris-classifier", "--input", "[[5.1, 3.5, 1.4, 0.2]]", "--json")
    assert r.exit_code == 0 and r.json()["predictions"] == [0]


def test_a_registry_that_is_a_file_is_not_found(tmp_path):
    path = tmp_path / "not-a-registry"
    path.write_text("x")
    for command in (["versions", "m"], ["models"], ["status", "m"]):
        p = subprocess.run(mlreg_command() + ["--registry", str(path)] + command, capture_output=True, text=True)
        assert p.returncode == 3 and "a file" in p.stderr, p.stderr


# Commands whose output outlasts the reader (a short one may fit the pipe before `head` leaves).
@pytest.mark.parametrize("command", ["--help", "predict iris-classifier --jsonl --input-file rows.json"])
def test_a_closed_pipe_ends_quietly(iris_reg, tmp_path, command):
    (tmp_path / "rows.json").write_text(json.dumps([[5.1, 3.5, 1.4, 0.2]] * 20000))
    many = " ".join(["mlreg", "--registry", iris_reg.path] + command.split())
    bin_dir = os.path.dirname(mlreg_command()[0])
    p = subprocess.run(["bash", "-c", f"set -o pipefail; {many} | head -c 10 > /dev/null"], cwd=tmp_path,
                       capture_output=True, text=True, env={**os.environ, "PATH": bin_dir + ":" + os.environ["PATH"]})
    assert p.returncode == 0 and p.stderr == "", p.stderr


def test_empty_stdin_says_what_predict_wants(iris_reg):
    p = subprocess.run(mlreg_command() + ["--registry", iris_reg.path, "predict", "iris-classifier"], input="",
                       capture_output=True, text=True)
    assert p.returncode == 2 and "no input on stdin" in p.stderr and "CSV input is empty" not in p.stderr


def test_a_feature_name_the_model_does_not_know_is_named(tmp_path, reg, cli):
    import pandas as pd
    from sklearn.linear_model import LinearRegression

    X = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [0.0, 1.0, 0.0]})
    artifact = fake_artifact(tmp_path, LinearRegression().fit(X, [1.0, 2.0, 3.0]))
    reg.deploy(artifact, "m")
    r = cli("predict", "m", "--input", json.dumps([{"a": 1, "b": 2, "c": 3}]))
    assert r.exit_code == 2 and "c" in r.stderr.split("know:")[1]
    assert cli("predict", "m", "--input", json.dumps([{"a": 1, "b": 2}])).exit_code == 0


def test_predict_proba_says_the_class_order(iris_reg, cli):
    r = cli("predict", "iris-classifier", "--input", "[[5.1, 3.5, 1.4, 0.2]]", "--method", "predict_proba")
    assert r.exit_code == 0 and r.json()["classes"] == [0, 1, 2] and len(r.json()["predictions"][0]) == 3
    assert "classes" not in cli("predict", "iris-classifier", "--input", "[[5.1, 3.5, 1.4, 0.2]]").json()


# --------------------------------------- 16. one bad entry hides nothing


def test_one_corrupt_model_does_not_hide_the_others(iris_reg, constant_path, sh):
    iris_reg.deploy(constant_path, "second")
    bad = os.path.join(iris_reg.path, "models", "second", "model.toml")
    with open(bad, "w") as f:
        f.write("this is [not toml")
    r = sh("models", "--json")
    assert r.exit_code == 7 and [m["name"] for m in r.json()] == ["Iris Classifier"]
    assert bad in r.stderr
    plain = sh("models")
    assert plain.exit_code == 7 and "Iris Classifier" in plain.stdout


def test_one_bad_template_does_not_hide_the_others(reg, constant_path, sh):
    reg.deploy(constant_path, "m")
    os.makedirs(os.path.join(reg.path, "templates"))
    bad = os.path.join(reg.path, "templates", "broken.toml")
    with open(bad, "w") as f:
        f.write("name = ")
    r = sh("templates", "--json")
    assert r.exit_code == 7 and "sklearn-classifier" in [t["name"] for t in r.json()] and bad in r.stderr
    assert sh("deploy", constant_path, "--name", "m", "--template", "custom-python").exit_code == 0


# --------------------------------------------------- 17. near misses


def test_a_near_miss_of_a_model_name_is_noted(iris_reg, constant_path, sh):
    r = sh("deploy", constant_path, "--name", "iris clasifier")
    assert r.exit_code == 0
    assert "mlreg: note: created model 'iris clasifier' (did you mean iris-classifier?)" in r.stderr
    quiet = sh("deploy", constant_path, "--name", "Something Else")
    assert quiet.exit_code == 0 and "note" not in quiet.stderr


def test_a_new_registry_is_noted(tmp_path, constant_path):
    where = tmp_path / "typo-registry"
    p = subprocess.run(mlreg_command() + ["--registry", str(where), "deploy", str(constant_path), "--name", "m"],
                       capture_output=True, text=True)
    assert p.returncode == 0 and f"mlreg: note: created registry at {where}" in p.stderr


# ---------------------------------------- 19. tables, help, README, log


def _on_a_terminal(command, columns=80):
    """Run mlreg under a pseudo-terminal of ``columns`` columns; its screen, colours stripped."""
    import re

    p = subprocess.run(["script", "-qec", command, "/dev/null"], capture_output=True, text=True,
                       env={**os.environ, "COLUMNS": str(columns), "NO_COLOR": ""})
    return p.stdout, re.sub(r"\x1b\[[0-9;]*m", "", p.stdout).replace("\r", "")


@pytest.mark.skipif(not os.path.exists("/usr/bin/script"), reason="needs script(1)")
def test_tables_keep_dates_and_statuses_on_one_line_at_80_columns(reg, constant_path, tmp_path):
    reg.deploy(constant_path, "Quite A Long Model Name")
    with pytest.raises(mlreg.DeploymentFailed):
        reg.deploy(fake_artifact(tmp_path, fakemodels.NoPredict(), "n.joblib"), "Quite A Long Model Name")
    mlreg_bin = " ".join(mlreg_command())
    raw, screen = _on_a_terminal(f"{mlreg_bin} --registry {reg.path} versions quite-a-long-model-name")
    lines = screen.splitlines()
    assert len(lines) == 3, screen  # the header and one line for each version
    assert "Deployment Failed" in lines[2] and lines[1].count("Z") == 1
    assert "\x1b[32mActive" in raw and "\x1b[31mDeployment Failed" in raw
    _, history = _on_a_terminal(f"{mlreg_bin} --registry {reg.path} history quite-a-long-model-name")
    rows = [line for line in history.splitlines()[1:] if line.strip() and not line.startswith(" ")]
    # each row starts with its whole date and time; continuation lines (wrapped free text) start blank
    assert len(rows) >= 3 and all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ ", row) for row in rows), history


def test_help_shows_the_example_last_and_no_bool_placeholder(sh):
    r = sh("promote", "--help", registry=False)
    assert r.exit_code == 0 and "<bool>" not in r.stdout
    assert r.stdout.index("Example:") > r.stdout.index("--expect-primary")


def test_a_generated_readme_follows_a_rollback(reg, tmp_path):
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    X, y = load_iris(return_X_y=True)
    reg.deploy(LogisticRegression(max_iter=500).fit(X, y), "m")
    reg.deploy(DecisionTreeClassifier().fit(X, y), "m")
    assert "DecisionTreeClassifier" in reg.readme("m")
    reg.promote("m", "0.1.0")
    assert "LogisticRegression" in reg.readme("m") and "DecisionTreeClassifier" not in reg.readme("m")
    reg.set_readme("m", "# m\n\nWritten by a person.\n")
    reg.promote("m", "0.2.0")
    assert reg.readme("m") == "# m\n\nWritten by a person.\n"  # a person's README stays
