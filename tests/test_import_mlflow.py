"""``mlreg import-mlflow`` (SPEC §13) on registries MLflow itself made.

The fixtures under ``tests/fixtures/mlflow`` were written by MLflow's public API
(``build.py`` there; MLflow is not needed here), and moved after they were written,
as an rsync'd ``mlruns`` is: every absolute path they hold points at a folder that is
gone. ``record.json`` is what MLflow's client read back, and each version's
predictions: every imported field and prediction is compared with it.
"""

import datetime as dt
import json
import os
import shutil
import subprocess
import sys

import pytest

import mlreg
from conftest import mlreg_command
from conftest import run_cli as run_here

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "mlflow")
RECORD = json.load(open(os.path.join(FIXTURES, "record.json")))
SOURCES = {"file_store": os.path.join(FIXTURES, "mlruns"),
           "sqlite": "sqlite:///" + os.path.join(FIXTURES, "sqlite", "mlflow.db")}
PYFUNC_REASON = ("its flavours (python_function) include no scikit-learn one; mlreg imports scikit-learn models "
                 "(pickle, cloudpickle or skops)")


def run_script(registry, *args):
    """``mlreg import-mlflow`` as users run it: the console script, a process of its own."""
    return subprocess.run(mlreg_command() + ["--registry", str(registry), "import-mlflow", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def run(registry, *args, cwd=None):
    """``mlreg import-mlflow`` through the same CLI in this test process, which has imported
    scikit-learn already (a fresh process spends about 2 s of CPU on it)."""
    return run_here(registry, "import-mlflow", *args, cwd=cwd)


def as_iso(ms):
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.fixture(scope="module", params=sorted(SOURCES))
def imported(request, tmp_path_factory):
    """A registry each MLflow store was imported into once, with the run's JSON."""
    registry = tmp_path_factory.mktemp(request.param) / "registry"
    result = run_script(registry, SOURCES[request.param], "--json")
    assert result.returncode == 0, result.stderr
    return request.param, registry, json.loads(result.stdout)


def test_every_version_imports_with_the_reasons_of_the_skipped(imported):
    _, _, answer = imported
    assert answer == {"models": [
        {"model": "diabetes-regressor", "skipped": [],
         "imported": [{"mlflow_version": 1, "version": "0.1.0", "status": "active"},
                      {"mlflow_version": 2, "version": "0.2.0", "status": "active"}]},
        {"model": "echo-pyfunc", "imported": [], "skipped": [{"mlflow_version": 1, "reason": PYFUNC_REASON}]},
        {"model": "iris-classifier", "skipped": [],
         "imported": [{"mlflow_version": 1, "version": "0.1.0", "status": "active"},
                      {"mlflow_version": 2, "version": "0.2.0", "status": "active"},
                      {"mlflow_version": 3, "version": "0.3.0", "status": "active"}]}]}


def test_every_field_is_what_mlflow_recorded(imported):
    store, registry, _ = imported
    reg = mlreg.Registry(registry)
    for model in RECORD[store]["models"]:
        if model["name"] == "echo-pyfunc":
            assert [m.record.name for m in reg.models()].count("echo-pyfunc") == 0
            continue
        assert reg.model(model["name"]).record.description == model["description"]
        listed = {v.version: v for v in reg.versions(model["name"])}
        for v in model["versions"]:
            record = listed[f"0.{v['version']}.0"]
            assert record.status == "active"
            assert record.deployed_at == as_iso(v["creation_timestamp"])
            assert record.deployed_by == v["user"]
            assert record.tags == {**v["tags"], "mlflow.version": str(v["version"]), "mlflow.run_id": v["run_id"]}
            assert record.params == v["params"]
            assert record.metrics == pytest.approx(v["metrics"])
            assert record.source == {"text": v["source"]}
        aliases = {a.alias: a.record.version for a in reg.aliases(model["name"])}
        assert aliases == {alias: f"0.{n}.0" for alias, n in model["aliases"].items()}
    # the primary: the highest version in Production, else @champion
    assert reg.model("iris-classifier").record.primary == "0.2.0"  # Production; @champion is 0.3.0
    assert reg.model("diabetes-regressor").record.primary == "0.1.0"  # no stage: @champion
    from mlreg.identity import user_at_host

    # the version says who made it in MLflow; the history, who imported it here
    assert {e.by for e in reg.history("iris-classifier") if e.event == "deploy"} == {user_at_host()}
    skops = reg.version("iris-classifier", "0.3.0")
    assert skops.format == "skops"
    log = "\n".join(reg.logs("iris-classifier", "0.3.0"))
    assert "imported from MLflow: version 3 (stage Staging" in log and "check: sample input predicted" in log


def test_every_version_predicts_what_mlflow_predicted(imported):
    store, registry, _ = imported
    reg = mlreg.Registry(registry)
    for model in RECORD[store]["models"]:
        for v in model["versions"]:
            if "predictions" not in v:
                continue
            rows = v["probe"] if v["columns"] is None else [dict(zip(v["columns"], row)) for row in v["probe"]]
            got = reg.predict(model["name"], rows, version=f"0.{v['version']}.0")["predictions"]
            assert got == pytest.approx(v["predictions"]), (model["name"], v["version"])


def test_the_signature_takes_mlflow_input_names_and_the_models_own(imported):
    _, registry, _ = imported
    reg = mlreg.Registry(registry)
    assert reg.version("diabetes-regressor", "0.1.0").signature["feature_names"][:3] == ["age", "sex", "bmi"]


def test_a_second_run_copies_nothing_new(imported, tmp_path):
    store, registry, _ = imported
    copy = tmp_path / "registry"
    shutil.copytree(registry, copy)
    result = run(copy, SOURCES[store], "--json")
    assert result.returncode == 0, result.stderr
    models = json.loads(result.stdout)["models"]
    assert all(m["imported"] == [] for m in models)
    assert [s["reason"] for s in models[2]["skipped"]] == [f"already imported as 0.{n}.0 (same sha256)"
                                                           for n in (1, 2, 3)]
    assert len(mlreg.Registry(copy).history("iris-classifier")) == len(mlreg.Registry(registry).history("iris-classifier"))


def test_dry_run_writes_nothing_not_even_the_registry(tmp_path):
    registry = tmp_path / "registry"
    result = run(registry, SOURCES["sqlite"], "--dry-run", "--json", "--model", "iris-classifier")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"models": [{"model": "iris-classifier", "skipped": [], "imported": [
        {"mlflow_version": n, "version": f"0.{n}.0", "status": "dry-run"} for n in (1, 2, 3)]}]}
    assert not registry.exists()
    text = run(registry, SOURCES["file_store"], "--dry-run")
    assert text.returncode == 0 and "iris-classifier: would import 0.1.0 (MLflow 1)" in text.stdout
    assert not registry.exists()


def test_model_picks_models(tmp_path):
    result = run(tmp_path / "r", SOURCES["file_store"], "--model", "diabetes-regressor", "--model", "echo-pyfunc",
                 "--json", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert [m["model"] for m in json.loads(result.stdout)["models"]] == ["diabetes-regressor", "echo-pyfunc"]


def test_a_clash_is_exit_4_and_nothing_is_written(tmp_path, constant_path):
    reg = mlreg.Registry(tmp_path / "r")
    reg.deploy(constant_path, "iris-classifier")  # 0.1.0, other bytes than MLflow's version 1
    result = run(reg.path, SOURCES["file_store"])
    assert result.returncode == 4
    assert result.stderr.strip().splitlines() == [
        "mlreg: error: 'iris-classifier' already has 0.1.0 with other content than MLflow version 1; nothing was "
        "imported (import into another registry, or delete iris-classifier 0.1.0 first)"]
    assert [v.version for v in reg.versions("iris-classifier")] == ["0.1.0"]
    assert [m.record.name for m in reg.models()] == ["iris-classifier"]


@pytest.mark.parametrize("source, code, message", [
    ("missing-folder", 3, "does not exist"),
    ("sqlite:///missing.db", 3, "no MLflow database at missing.db"),
    (".", 2, "is not an MLflow store"),
])
def test_a_missing_source_is_3_and_one_that_is_no_store_2(tmp_path, source, code, message):
    result = run(tmp_path / "r", source, cwd=tmp_path)
    assert result.returncode == code
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.stderr
    assert not (tmp_path / "r").exists()


def test_a_database_that_is_not_mlflow_s_is_exit_2(tmp_path):
    import sqlite3

    sqlite3.connect(tmp_path / "other.db").execute("CREATE TABLE t (x)").connection.commit()
    result = run(tmp_path / "r", f"sqlite:///{tmp_path / 'other.db'}")
    assert result.returncode == 2 and "is not an MLflow database" in result.stderr


def test_a_name_mlreg_cannot_hold_is_exit_2_with_nothing_written(tmp_path):
    store = tmp_path / "mlruns"
    shutil.copytree(SOURCES["file_store"], store)
    meta = store / "models" / "iris-classifier" / "meta.yaml"
    meta.write_text(meta.read_text().replace("name: iris-classifier", "name: ../escape"))
    result = run(tmp_path / "r", store)
    assert result.returncode == 2 and "MLflow model '../escape' cannot be an mlreg model" in result.stderr
    assert not (tmp_path / "r").exists()


def test_one_mlmodel_folder_with_name(tmp_path):
    found = [here for here, _, files in os.walk(os.path.join(FIXTURES, "mlruns"))
             if "MLmodel" in files and "model.skops" in files]
    assert len(found) == 1
    assert run(tmp_path / "r", found[0]).returncode == 2  # without --name
    result = run(tmp_path / "r", found[0], "--name", "Iris From Folder")
    assert result.returncode == 0, result.stderr
    assert "mlreg: Iris From Folder 0.1.0 (MLflow version 1): Active" in result.stderr  # progress, as each ends
    assert result.stdout == "Iris From Folder: imported 0.1.0 (MLflow 1, Active); primary 0.1.0\n"
    again = run(tmp_path / "r", found[0], "--name", "Iris From Folder", "--json")
    assert json.loads(again.stdout)["models"][0] == {"model": "Iris From Folder", "imported": [], "skipped": [
        {"mlflow_version": 1, "reason": "already imported as 0.1.0 (same sha256)"}]}
    reg = mlreg.Registry(tmp_path / "r")
    assert reg.model("iris from folder").record.primary == "0.1.0"
    assert reg.predict("iris from folder", [[5.1, 3.5, 1.4, 0.2]])["predictions"] == [0]


def test_mlflow_is_never_imported(tmp_path):
    code = ("import sys, mlreg; mlreg.Registry(sys.argv[1]).import_mlflow(sys.argv[2], dry_run=True); "
            "assert not [m for m in sys.modules if m == 'mlflow' or m.startswith('mlflow.')], 'mlflow imported'")
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "r"), SOURCES["file_store"]], check=True, timeout=120)


@pytest.mark.parametrize("imported", ["file_store"], indirect=True)  # one store is enough: the plan is the same
def test_a_new_mlflow_version_is_all_a_later_run_imports(imported, tmp_path):
    """MLflow gained version 4 since the first import: only it is copied; the description
    edited here stays, the primary follows MLflow's rule again (Production: 0.2.0)."""
    _, registry, _ = imported
    copy, mlruns = tmp_path / "registry", tmp_path / "mlruns"
    shutil.copytree(registry, copy)
    shutil.copytree(SOURCES["file_store"], mlruns)
    model = mlruns / "models" / "iris-classifier"
    shutil.copytree(model / "version-3", model / "version-4")
    meta = model / "version-4" / "meta.yaml"
    meta.write_text(meta.read_text().replace("version: 3\n", "version: 4\n").replace("current_stage: Staging",
                                                                                    "current_stage: None"))
    reg = mlreg.Registry(copy)
    reg.describe("iris-classifier", "Edited here.")
    result = run(copy, mlruns, "--model", "iris-classifier", "--json")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)["models"][0]
    assert answer["imported"] == [{"mlflow_version": 4, "version": "0.4.0", "status": "active"}]
    assert [s["mlflow_version"] for s in answer["skipped"]] == [1, 2, 3]
    assert reg.model("iris-classifier").record.description == "Edited here."
    assert reg.model("iris-classifier").record.primary == "0.2.0"


def test_a_version_whose_check_fails_is_there_failed_and_the_run_exits_5(tmp_path):
    import pickle

    mlruns = tmp_path / "mlruns"
    shutil.copytree(SOURCES["file_store"], mlruns)
    meta = (mlruns / "models" / "iris-classifier" / "version-1" / "meta.yaml").read_text()
    location = next(line.split("/mlruns/", 1)[1] for line in meta.splitlines() if line.startswith("storage_location"))
    (mlruns / location / "model.pkl").write_bytes(pickle.dumps({"not": "a model"}))  # loads; has no predict
    result = run(tmp_path / "r", mlruns, "--model", "iris-classifier", "--json")
    assert result.returncode == 5, result.stderr
    assert [i["status"] for i in json.loads(result.stdout)["models"][0]["imported"]] == ["failed", "active", "active"]
    reg = mlreg.Registry(tmp_path / "r")
    assert reg.version("iris-classifier", "0.1.0").status == "failed"
    assert reg.model("iris-classifier").record.primary == "0.2.0"
    assert "legacy" not in {a.alias for a in reg.aliases("iris-classifier")}  # it named the failed version


def test_odd_values_in_a_hand_edited_store_are_read_never_a_traceback(tmp_path):
    mlruns = tmp_path / "mlruns"
    shutil.copytree(SOURCES["file_store"], mlruns)
    meta = mlruns / "models" / "diabetes-regressor" / "version-1" / "meta.yaml"
    meta.write_text(meta.read_text().replace("creation_timestamp: ", "creation_timestamp: not-a-time #")
                    .replace("storage_location: ", "storage_location: 12 #"))
    result = run(tmp_path / "r", mlruns, "--model", "diabetes-regressor", "--dry-run", "--json")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    # no storage_location to go by: the logged model is found by its ID (models:/m-...) under the store
    assert json.loads(result.stdout)["models"][0]["imported"][0] == {"mlflow_version": 1, "version": "0.1.0",
                                                                     "status": "dry-run"}


def test_two_mlflow_names_that_are_one_mlreg_name_are_exit_2_with_nothing_written(tmp_path):
    mlruns = tmp_path / "mlruns"
    shutil.copytree(SOURCES["file_store"], mlruns)
    shutil.copytree(mlruns / "models" / "iris-classifier", mlruns / "models" / "Iris Classifier")
    meta = mlruns / "models" / "Iris Classifier" / "meta.yaml"
    meta.write_text(meta.read_text().replace("name: iris-classifier", "name: Iris Classifier"))
    result = run(tmp_path / "r", mlruns)
    assert result.returncode == 2 and "would both be mlreg model 'iris-classifier'" in result.stderr, result.stderr
    assert not (tmp_path / "r").exists()
