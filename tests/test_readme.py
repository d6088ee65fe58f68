"""Model READMEs: templates, the skeleton from the artifact, show, edit, check."""

import os
import re

import joblib
import pytest

import fakemodels
from conftest import fake_artifact, mlreg_command


def _text_pipeline():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    texts = ["great product works well", "quick delivery love it", "it broke after one day",
             "terrible waste of money", "works as promised", "awful never again"]
    labels = ["good", "good", "bad", "bad", "good", "bad"]
    return make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(texts, labels)


@pytest.fixture(scope="module")
def template_models(tmp_path_factory, iris_model_path, regressor_path):
    folder = tmp_path_factory.mktemp("templated")
    text = folder / "text.joblib"
    joblib.dump(_text_pipeline(), text)
    custom = folder / "custom.joblib"
    joblib.dump(fakemodels.ConstantModel(5), custom)
    return {"sklearn-classifier": iris_model_path, "sklearn-regressor": regressor_path,
            "text-classifier": text, "custom-python": custom}


@pytest.mark.parametrize("template", ["sklearn-classifier", "sklearn-regressor", "text-classifier", "custom-python"])
def test_each_template_deploys_a_matching_model(cli, reg, template_models, template):
    r = cli("deploy", template_models[template], "--name", f"My {template}", "--template", template, "--json")
    assert r.exit_code == 0, r.stderr
    t = next(t for t in reg.templates() if t.name == template)
    v = r.json()
    assert (v["type"], v["framework"]) == (t.type, t.framework)
    assert any("sample input predicted" in line for line in reg.logs(f"My {template}", "0.1.0"))
    text = reg.readme(f"my {template}")
    assert text.startswith(f"# My {template}\n") and "$name" not in text
    for section in ("## Purpose", "## Inputs", "## Outputs", "## Example", "## Known limitations"):
        assert section in text
    assert cli("readme", "check", f"My {template}").exit_code == 0


def test_templates_list_builtin_and_registry_own(cli, reg, registry_path, constant_path):
    out = cli("templates", "--json").json()
    assert {t["name"] for t in out} >= {"sklearn-classifier", "sklearn-regressor", "text-classifier", "custom-python"}
    assert all({"name", "description", "type", "framework", "readme", "sample_input"} <= set(t) for t in out)
    assert cli("init").exit_code == 0
    os.makedirs(registry_path / "templates")
    (registry_path / "templates" / "team-scorer.toml").write_text(
        'name = "team-scorer"\ndescription = "our scorers"\ntype = "Scoring"\nframework = "Custom"\n'
        'sample_input = "[[1, 2]]"\nreadme = """\n# $name\\n\\nScores things for the team.\n"""\n')
    names = [t["name"] for t in cli("templates", "--json").json()]
    assert "team-scorer" in names
    r = cli("deploy", constant_path, "--name", "Scorer", "--template", "team-scorer", "--json")
    assert r.exit_code == 0 and r.json()["type"] == "Scoring"
    assert reg.readme("scorer").startswith("# Scorer")
    r = cli("deploy", constant_path, "--name", "x", "--template", "nope")
    assert r.exit_code == 2 and "team-scorer" in r.stderr


def test_flags_win_over_the_template(cli, constant_path):
    r = cli("deploy", constant_path, "--name", "m", "--template", "sklearn-classifier",
            "--type", "Ranking", "--framework", "Home-made", "--sample-input", "[[1]]", "--json")
    assert r.exit_code == 0 and (r.json()["type"], r.json()["framework"]) == ("Ranking", "Home-made")


def test_skeleton_of_an_iris_classifier(reg, tmp_path, iris, cli):
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier

    data = load_iris(as_frame=True)
    y = data.target_names[data.target]
    model = RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0).fit(data.data, y)
    reg.deploy(fake_artifact(tmp_path, model), "Iris Classifier")
    text = reg.readme("iris classifier")
    assert "4 features" in text
    for feature in data.feature_names:
        assert f"`{feature}`" in text
    assert "3 classes" in text and all(f"`{c}`" in text for c in ("setosa", "versicolor", "virginica"))
    assert "Type: Classification; Framework: scikit-learn" in text
    assert "`max_depth=3`" in text and "`n_estimators=5`" in text
    r = cli("readme", "check", "iris classifier")
    assert r.exit_code == 8
    for section in ("introduction", "Purpose", "Training data", "Known limitations"):
        assert section in r.stderr
    assert cli("readme", "check", "iris classifier", "--json").json()["ok"] is False


def test_pipeline_steps_in_skeleton(reg, tmp_path):
    reg.deploy(fake_artifact(tmp_path, _text_pipeline()), "texts")
    text = reg.readme("texts")
    assert "`tfidfvectorizer: TfidfVectorizer`" in text and "`logisticregression: LogisticRegression`" in text


def test_a_later_deploy_refreshes_the_skeleton_but_never_a_persons_readme(reg, iris_model_path, regressor_path):
    reg.deploy(iris_model_path, "m")
    assert "3 classes" in reg.readme("m")
    reg.deploy(regressor_path, "m")  # untouched skeleton: refreshed from the new primary
    assert "Type: Regression" in reg.readme("m")
    reg.set_readme("m", "# m\n\nHand-written.\n")
    reg.deploy(iris_model_path, "m")
    assert reg.readme("m") == "# m\n\nHand-written.\n"


def test_readme_show_plain_json_and_in_show(cli, reg, constant_path):
    reg.deploy(constant_path, "m", readme="# m\n\nPredicts seven, always.\n\n## Purpose\n\nTests.\n")
    r = cli("readme", "show", "m")
    assert r.exit_code == 0 and r.stdout == "# m\n\nPredicts seven, always.\n\n## Purpose\n\nTests.\n"
    assert cli("readme", "show", "m", "--json").json() == {"name": "m", "readme": reg.readme("m")}
    assert cli("show", "m", "--json").json()["readme_intro"] == "Predicts seven, always."
    assert "About:       Predicts seven, always." in cli("show", "m").stdout
    assert cli("readme", "check", "m").exit_code == 0


def test_readme_edit_with_an_editor_script(cli, reg, constant_path, tmp_path, monkeypatch):
    reg.deploy(constant_path, "m")
    editor = tmp_path / "append.sh"
    editor.write_text('#!/bin/sh\necho "Added by the editor." >> "$1"\n')
    editor.chmod(0o755)
    before = reg.readme("m")
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", str(editor))
    r = cli("readme", "edit", "m")
    assert r.exit_code == 0, r.stderr
    assert reg.readme("m") == before + "Added by the editor.\n"
    assert [e.event for e in reg.history("m")][-1] == "readme"


def test_editor_that_fails_or_changes_nothing_changes_nothing(cli, reg, constant_path, tmp_path, monkeypatch):
    reg.deploy(constant_path, "m")
    before = reg.readme("m")
    monkeypatch.setenv("VISUAL", "true")
    assert cli("readme", "edit", "m").exit_code == 0 and reg.readme("m") == before
    failing = tmp_path / "fail.sh"
    failing.write_text('#!/bin/sh\necho "half-done" >> "$1"\nexit 3\n')
    failing.chmod(0o755)
    monkeypatch.setenv("VISUAL", str(failing))
    r = cli("readme", "edit", "m")
    assert r.exit_code == 1 and reg.readme("m") == before
    kept = re.search(r"kept in (\S+\.md)", r.stderr).group(1)
    assert open(kept).read().endswith("half-done\n")
    os.unlink(kept)


def test_concurrent_edit_is_refused_and_keeps_both_texts(sh, reg, constant_path, tmp_path):
    reg.deploy(constant_path, "m")
    other = tmp_path / "other.md"
    other.write_text("# m\n\nThe other person's text.\n")
    editor = tmp_path / "racing.sh"
    editor.write_text(
        "#!/bin/sh\n"
        f"{' '.join(mlreg_command())} --registry {reg.path} readme edit m --file {other}\n"
        'echo "My own addition." >> "$1"\n'
    )
    editor.chmod(0o755)
    r = sh("readme", "edit", "m", env={"VISUAL": str(editor)})
    assert r.exit_code == 4 and "changed by someone else" in r.stderr
    assert reg.readme("m") == other.read_text()
    kept = re.search(r"kept in (\S+\.md)", r.stderr).group(1)
    assert open(kept).read().endswith("My own addition.\n")
    os.unlink(kept)


def test_readme_edit_from_stdin_and_file(cli, reg, constant_path, tmp_path):
    reg.deploy(constant_path, "m")
    r = cli("readme", "edit", "m", "--file", "-", input="# m\n\nFrom stdin.\n")
    assert r.exit_code == 0 and reg.readme("m") == "# m\n\nFrom stdin.\n"
    f = tmp_path / "r.md"
    f.write_text("# m\n\nFrom a file.\n")
    assert cli("readme", "edit", "m", "--file", f).exit_code == 0 and reg.readme("m") == f.read_text()
    assert cli("readme", "edit", "m", "--file", tmp_path / "missing.md").exit_code == 2


def test_readme_check_passes_once_filled(cli, reg, constant_path):
    reg.deploy(constant_path, "m")
    assert cli("readme", "check", "m").exit_code == 8
    filled = reg.readme("m").replace("_TODO(mlreg): ", "_").replace("TODO(mlreg)", "")
    reg.set_readme("m", filled)
    r = cli("readme", "check", "m", "--json")
    assert r.exit_code == 0 and r.json() == {"name": "m", "ok": True, "placeholders": []}


def test_deploy_readme_flag_sets_it(cli, reg, constant_path, tmp_path):
    f = tmp_path / "doc.md"
    f.write_text("# Doc\n\nWritten first.\n")
    assert cli("deploy", constant_path, "--name", "m", "--readme", f).exit_code == 0
    assert reg.readme("m") == "# Doc\n\nWritten first.\n"
    f.write_text("# Doc\n\nReplaced.\n")
    cli("deploy", constant_path, "--name", "m", "--readme", f)
    assert reg.readme("m") == "# Doc\n\nReplaced.\n"
