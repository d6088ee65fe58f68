"""The registry through its Python API, with real scikit-learn models, on a folder,
on the in-memory storage and on a real SeaweedFS alike (tests marked ``folder``
read the folder itself)."""

import os

import pytest

import fakemodels
import mlreg
from conftest import fake_artifact
from mlreg.errors import (
    BadInput, DeploymentFailed, FormatTooNew, IntegrityError, InvalidName, InvalidVersion,
    ModelNotFound, NotActive, PrimaryMoved, RegistryNotFound, VersionExists, VersionNotFound,
)
from mlreg.storage.memory import MemoryStorage

folder = pytest.mark.folder


def pytest_generate_tests(metafunc):
    if "reg" in metafunc.fixturenames:
        kinds = ["local"] if metafunc.definition.get_closest_marker("folder") else ["local", "memory", "s3"]
        metafunc.parametrize("storage_kind", kinds)


@pytest.fixture
def reg(request, storage_kind, registry_path):
    if storage_kind == "s3":
        return mlreg.Registry(request.getfixturevalue("s3_registry"))
    return mlreg.Registry(registry_path) if storage_kind == "local" else mlreg.Registry(storage=MemoryStorage())


@folder
def test_first_deploy_creates_registry_model_and_active_primary(reg, iris_model_path):
    v = reg.deploy(iris_model_path, "Iris Classifier", sample_input=[[5.1, 3.5, 1.4, 0.2]])
    assert (v.version, v.status, v.primary) == ("0.1.0", "active", True)
    assert (v.type, v.framework) == ("Classification", "scikit-learn")
    assert v.size == iris_model_path.stat().st_size and len(v.sha256) == 64
    assert v.deployed_by.count("@") == 1 and v.deployed_at.endswith("Z")
    assert "scikit-learn" in v.environment["libraries"] and v.environment["python"]
    vdir = reg.path + "/models/iris-classifier/versions/0.1.0"
    assert open(vdir + "/model.joblib", "rb").read() == iris_model_path.read_bytes()
    assert open(reg.path + "/mlreg.toml").read().startswith("format = 1")
    info = reg.model("iris classifier")
    assert (info.record.name, info.record.primary, info.version_count) == ("Iris Classifier", "0.1.0", 1)


def test_regressor_is_detected(reg, regressor_path):
    v = reg.deploy(regressor_path, "diabetes")
    assert (v.type, v.framework) == ("Regression", "scikit-learn")


def test_clustering_and_pipeline_detection(reg, tmp_path, iris):
    from sklearn.cluster import KMeans
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    X, y = iris
    km = reg.deploy(fake_artifact(tmp_path, KMeans(n_clusters=3, n_init=1).fit(X), "km.joblib"), "clusters")
    assert (km.type, km.framework) == ("Clustering", "scikit-learn")
    pipe = make_pipeline(StandardScaler(), DecisionTreeClassifier()).fit(X, y)
    p = reg.deploy(fake_artifact(tmp_path, pipe, "pipe.joblib"), "pipe")
    assert (p.type, p.framework) == ("Classification", "scikit-learn")


def test_custom_model_and_flag_overrides(reg, constant_path):
    v = reg.deploy(constant_path, "const")
    assert (v.type, v.framework) == ("Custom", "Custom")
    w = reg.deploy(constant_path, "const", type="NLP", framework="Home-made")
    assert (w.type, w.framework) == ("NLP", "Home-made")
    assert (reg.model("const").record.type, reg.model("const").record.framework) == ("NLP", "Home-made")


def test_version_numbering(reg, constant_path):
    got = [reg.deploy(constant_path, "m").version,
           reg.deploy(constant_path, "m").version,
           reg.deploy(constant_path, "m", version_bump="PATCH").version,
           reg.deploy(constant_path, "m", version_bump="major").version,
           reg.deploy(constant_path, "m", version="0.1.1").version,
           reg.deploy(constant_path, "m").version]
    assert got == ["0.1.0", "0.2.0", "0.2.1", "1.0.0", "0.1.1", "1.1.0"]
    with pytest.raises(VersionExists):
        reg.deploy(constant_path, "m", version="1.0.0+other-build")
    with pytest.raises(InvalidVersion):
        reg.deploy(constant_path, "m", version="1.2")
    assert [v.version for v in reg.versions("m")] == ["0.1.0", "0.1.1", "0.2.0", "0.2.1", "1.0.0", "1.1.0"]


def test_failed_numbers_are_never_reused(reg, tmp_path, constant_path):
    bad = fake_artifact(tmp_path, fakemodels.NoPredict(), "bad.joblib")
    reg.deploy(constant_path, "m")
    with pytest.raises(DeploymentFailed) as e:
        reg.deploy(bad, "m")
    failed = e.value.record
    assert (failed.version, failed.status, failed.primary) == ("0.2.0", "failed", False)
    assert "no callable predict" in failed.reason
    assert reg.deploy(constant_path, "m").version == "0.3.0"
    assert reg.status("m").version == "0.3.0"


def test_failed_check_is_logged_with_the_error(reg, tmp_path):
    bad = fake_artifact(tmp_path, fakemodels.FailsOnPredict(), "bad.joblib")
    with pytest.raises(DeploymentFailed) as e:
        reg.deploy(bad, "m", sample_input="[[1, 2]]")
    assert e.value.exit_code == 5
    log = "\n".join(reg.logs("m", "0.1.0"))
    assert "predict failed on the sample input" in log and "this model cannot predict" in log
    assert reg.model("m").record.primary is None


@pytest.mark.real_check
def test_check_timeout_fails_the_version(reg, tmp_path, monkeypatch):
    monkeypatch.setenv("MLREG_TEST_LOAD_SECONDS", "30")
    slow = fake_artifact(tmp_path, fakemodels.SlowToLoad(), "slow.joblib")
    with pytest.raises(DeploymentFailed) as e:
        reg.deploy(slow, "slow", check_timeout=1)
    assert "did not finish within 1s" in e.value.record.reason


def test_not_a_pickle_fails_cleanly(reg, tmp_path):
    junk = tmp_path / "junk.joblib"
    junk.write_bytes(b"not a pickle at all")
    with pytest.raises(DeploymentFailed) as e:
        reg.deploy(junk, "junk")
    assert e.value.record.reason.startswith("the artifact could not be loaded: it is not a joblib or pickle file")


def test_deploy_in_memory_model(reg, iris):
    from sklearn.tree import DecisionTreeClassifier

    X, y = iris
    v = reg.deploy(DecisionTreeClassifier().fit(X, y), "tree")
    assert (v.status, v.type, v.artifact) == ("active", "Classification", "model.joblib")
    with pytest.raises(BadInput):
        reg.deploy(object(), "tree")


def test_no_promote_and_promote_rollback(reg, constant_path):
    reg.deploy(constant_path, "m")
    v2 = reg.deploy(constant_path, "m", promote=False)
    assert not v2.primary and reg.model("m").record.primary == "0.1.0"
    r = reg.promote("m", v2.version_id)
    assert (r.previous, r.record.version, r.changed) == ("0.1.0", "0.2.0", True)
    back = reg.promote("m", "0.1.0", expect_primary="0.2.0")
    assert back.record.primary and reg.model("m").record.primary == "0.1.0"
    with pytest.raises(PrimaryMoved):
        reg.promote("m", "0.2.0", expect_primary="0.2.0")
    assert reg.model("m").record.primary == "0.1.0"
    assert not reg.promote("m", "0.1.0").changed


def test_promote_refuses_failed_and_unknown(reg, tmp_path, constant_path):
    reg.deploy(constant_path, "m")
    with pytest.raises(DeploymentFailed):
        reg.deploy(fake_artifact(tmp_path, fakemodels.NoPredict()), "m")
    with pytest.raises(NotActive) as e:
        reg.promote("m", "0.2.0")
    assert e.value.exit_code == 4
    with pytest.raises(VersionNotFound) as e:
        reg.promote("m", "9.9.9")
    assert e.value.exit_code == 3
    with pytest.raises(VersionNotFound):
        reg.promote("m", "zzzzzzzz")
    with pytest.raises(InvalidVersion):
        reg.promote("m", "latest")


def test_version_id_of_another_model_is_not_found(reg, constant_path):
    a = reg.deploy(constant_path, "a")
    reg.deploy(constant_path, "b")
    with pytest.raises(VersionNotFound, match="another model"):
        reg.status("b", a.version_id)
    assert reg.status("a", a.version_id).version == "0.1.0"


def test_hotfix_becomes_primary_but_a_higher_finished_deploy_wins(reg, constant_path):
    reg.deploy(constant_path, "m", version="2.0.0")
    hotfix = reg.deploy(constant_path, "m", version="1.5.1")
    assert hotfix.primary  # the most recent deployment, as SPEC §3a says


def test_status_defaults(reg, tmp_path, constant_path):
    with pytest.raises(DeploymentFailed):
        reg.deploy(fake_artifact(tmp_path, fakemodels.NoPredict()), "m")
    assert reg.status("m").status == "failed"  # no primary: the newest deploy
    reg.deploy(constant_path, "m", promote=False)
    assert reg.status("m").version == "0.2.0"
    reg.promote("m", "0.2.0")
    reg.deploy(constant_path, "m", promote=False)
    assert reg.status("m").version == "0.2.0"  # the primary, though 0.3.0 is newer


def test_history_records_outcomes_and_primary_changes(reg, tmp_path, constant_path):
    reg.deploy(constant_path, "m")
    reg.deploy(constant_path, "m")
    with pytest.raises(DeploymentFailed):
        reg.deploy(fake_artifact(tmp_path, fakemodels.NoPredict()), "m")
    reg.promote("m", "0.1.0")
    reg.describe("m", "a model")
    events = [(e.event, e.version, e.status, e.from_, e.to) for e in reg.history("m")]
    assert events == [
        ("deploy", "0.1.0", "active", None, None),
        ("primary", "0.1.0", None, None, "0.1.0"),
        ("deploy", "0.2.0", "active", None, None),
        ("primary", "0.2.0", None, "0.1.0", "0.2.0"),
        ("deploy", "0.3.0", "failed", None, None),
        ("primary", "0.1.0", None, "0.2.0", "0.1.0"),
        ("describe", None, None, None, None),
    ]
    assert all(e.by and e.at for e in reg.history("m"))


def test_versions_status_filter(reg, tmp_path, constant_path):
    reg.deploy(constant_path, "m")
    with pytest.raises(DeploymentFailed):
        reg.deploy(fake_artifact(tmp_path, fakemodels.NoPredict()), "m")
    assert [v.version for v in reg.versions("m", status="failed")] == ["0.2.0"]
    assert [v.version for v in reg.versions("m", status="Deployment Failed")] == ["0.2.0"]
    assert [v.version for v in reg.versions("m", status="ACTIVE")] == ["0.1.0"]


def test_missing_registry_is_not_an_empty_one(tmp_path):
    reg = mlreg.Registry(tmp_path / "typo")
    with pytest.raises(RegistryNotFound, match="typo"):
        reg.models()
    assert not (tmp_path / "typo").exists()


def test_init_refuses_a_foreign_folder(tmp_path):
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "notes.txt").write_text("mine")
    with pytest.raises(mlreg.UsageError):
        mlreg.Registry(tmp_path / "home").init()
    assert os.listdir(tmp_path / "home") == ["notes.txt"]


@folder
def test_newer_format_is_refused_untouched(reg, constant_path):
    reg.deploy(constant_path, "m")
    marker = os.path.join(reg.path, "mlreg.toml")
    with open(marker, "w") as f:
        f.write("format = 2\n")
    before = _tree(reg.path)
    for call in (lambda: reg.versions("m"), lambda: reg.deploy(constant_path, "m"), lambda: reg.promote("m", "0.1.0")):
        with pytest.raises(FormatTooNew):
            call()
    assert _tree(reg.path) == before


@folder
def test_corrupt_toml_is_an_integrity_error_naming_the_file(reg, constant_path):
    reg.deploy(constant_path, "m")
    path = os.path.join(reg.path, "models", "m", "versions", "0.1.0", "version.toml")
    with open(path, "w") as f:
        f.write("status = [unclosed\n")
    with pytest.raises(IntegrityError, match="version.toml"):
        reg.versions("m")
    model_toml = os.path.join(reg.path, "models", "m", "model.toml")
    with open(model_toml, "w") as f:
        f.write("")
    with pytest.raises(IntegrityError, match="model.toml"):
        reg.deploy(constant_path, "m")
    assert open(model_toml).read() == ""  # a write command never "repairs" by overwriting


def test_invalid_names_write_nothing(reg, constant_path):
    for bad in ["..", "a/b", "/abs", "x\x1b[31m", "", "n" * 65, "rtl\u202e"]:
        with pytest.raises(InvalidName):
            reg.deploy(constant_path, bad)
    assert not os.path.exists(reg.path)


@folder
def test_symlinked_model_folder_is_refused(reg, tmp_path, constant_path):
    reg.deploy(constant_path, "m")
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, os.path.join(reg.path, "models", "evil"))
    with pytest.raises(IntegrityError, match="symlink"):
        reg.deploy(constant_path, "evil")
    assert os.listdir(outside) == []


def test_unknown_model_suggests(reg, constant_path):
    reg.deploy(constant_path, "iris-classifier")
    with pytest.raises(ModelNotFound, match="iris-classifier"):
        reg.versions("iris-clasifier")


@folder
def test_unknown_keys_in_metadata_are_kept(reg, constant_path):
    reg.deploy(constant_path, "m")
    path = os.path.join(reg.path, "models", "m", "model.toml")
    with open(path, "a") as f:
        f.write('team = "search"\n')
    reg.describe("m", "x")
    assert 'team = "search"' in open(path).read()


def _tree(root):
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            out[p] = open(p, "rb").read()
    return out


def test_concurrent_deploys_from_threads_get_distinct_versions(reg, constant_path):
    import threading

    reg.deploy(constant_path, "m")
    errors = []

    def deploy():
        try:
            reg.deploy(constant_path, "m")
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=deploy) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [v.version for v in reg.versions("m")] == ["0.1.0", "0.2.0", "0.3.0", "0.4.0", "0.5.0"]
    outcomes = [e.version for e in reg.history("m") if e.event == "deploy"]
    assert sorted(outcomes) == ["0.1.0", "0.2.0", "0.3.0", "0.4.0", "0.5.0"]
    assert reg.doctor(older_than=0).ok


def test_a_deploy_whose_process_is_gone_reads_failed_and_doctor_records_it(reg, constant_path):
    from mlreg import metadata

    v = reg.deploy(constant_path, "m")
    storage = reg.repo.storage
    record = v.replace(version="0.2.0", version_id="zz000002", status="deploying", primary=False,
                       process={"pid": 1, "host": "elsewhere"})
    # what a deploy killed while Deploying leaves: its number recorded, its ID, its files
    model_toml = storage.get("models/m/model.toml", 1 << 20).data
    storage.put("models/m/model.toml", model_toml.replace(b'highest_version = "0.1.0"', b'highest_version = "0.2.0"'))
    storage.put("ids/zz000002", b"m/0.2.0\n")
    for name in ("model.joblib", "deploy.log"):
        storage.put(f"models/m/versions/0.2.0/{name}", storage.get(f"models/m/versions/0.1.0/{name}", 1 << 30).data)
    storage.put("models/m/versions/0.2.0/version.toml", metadata.dump_toml(record.to_toml()).encode())
    seen = reg.status("m", "0.2.0")
    assert (seen.status, seen.interrupted) == ("failed", True)
    assert [(p.kind, p.fixed) for p in reg.doctor(fix=True).problems] == [("interrupted", True)]
    assert reg.doctor().ok
    assert reg.status("m", "0.2.0").reason.startswith("interrupted")
    assert [(e.version, e.status) for e in reg.history("m") if e.event == "deploy"] == [("0.1.0", "active"),
                                                                                      ("0.2.0", "failed")]


def test_deploy_if_changed_returns_the_version_with_the_same_bytes(reg, constant_path, tmp_path):
    first = reg.deploy(constant_path, "m", if_changed=True)
    assert reg.unchanged("m", constant_path).version_id == first.version_id
    assert reg.deploy(constant_path, "m", if_changed=True).version_id == first.version_id
    assert [v.version for v in reg.versions("m")] == ["0.1.0"]
    assert reg.unchanged("nothing-yet", constant_path) is None
    again = reg.deploy(constant_path, "m", if_changed=True, outcome=True)
    assert (again.record.version_id, again.deployed) == (first.version_id, False)
    assert reg.deploy(constant_path, "m", outcome=True).deployed is True  # without if_changed: a new version


def test_deploy_if_changed_reads_the_artifact_once_on_a_folder(reg, constant_path, monkeypatch):
    """The comparison uses the sha256 the copy into the registry computed; only an
    object store, whose copy goes straight into the claimed version, reads it first."""
    import mlreg.artifacts

    reg.deploy(constant_path, "m")
    hashed = []
    real = mlreg.artifacts.hash_file
    monkeypatch.setattr(mlreg.artifacts, "hash_file", lambda path, *a, **k: hashed.append(path) or real(path, *a, **k))
    result = reg.deploy(constant_path, "m", if_changed=True, outcome=True)
    assert not result.deployed
    if reg.repo.remote:
        assert hashed == [str(constant_path)]
    else:
        assert hashed == []
    assert reg.repo.staging_tokens() == []  # the staged copy is gone


def test_references_primary_and_latest(reg, constant_path):
    reg.deploy(constant_path, "m")
    second = reg.deploy(constant_path, "m", promote=False)
    assert reg.version("m", "@primary").version == "0.1.0"
    assert reg.version("m", "@latest").version_id == second.version_id
    assert reg.callable_version("m", "@latest").version == "0.2.0"
    assert reg.promote("m", "@latest").record.version == "0.2.0"
    with pytest.raises(VersionNotFound):
        reg.version("m", "@champion")  # no such alias
    with pytest.raises(InvalidVersion):
        reg.version("m", "@Not An Alias")


def test_the_lifecycle_through_the_python_client(reg, tmp_path, constant_path):
    """Aliases, tags, lineage, delete and prune: the same on a folder, in memory and on a bucket."""
    from mlreg.errors import AliasMoved, AliasNotFound, InUse, UsageError

    first = reg.deploy(constant_path, "m", tags={"stage": "dev"}, metrics={"acc": 0.5}, params={"C": "1"},
                       source="run 1")
    assert (first.tags, first.metrics, first.params, first.source) == (
        {"stage": "dev"}, {"acc": 0.5}, {"C": "1"}, {"text": "run 1"})
    with pytest.raises(UsageError):
        reg.deploy(constant_path, "m", metrics={"acc": True})
    with pytest.raises(UsageError):
        reg.deploy(constant_path, "m", tags={"bad key": "x"})
    for _ in range(2):
        reg.deploy(fake_artifact(tmp_path, fakemodels.ConstantModel(2)), "m")
    assert reg.set_alias("m", "champion", "0.1.0", expect="none").record.version == "0.1.0"
    with pytest.raises(AliasMoved):
        reg.set_alias("m", "champion", "0.2.0", expect="none")
    assert [a.alias for a in reg.aliases("m")] == ["champion"]
    assert reg.version("m", "@champion").aliases == ("champion",)
    assert reg.tag("m", "@champion", {"reviewed": "yes"}, remove=["stage"]).tags == {"reviewed": "yes"}
    assert [v.version for v in reg.versions("m", tags={"reviewed": "yes"})] == ["0.1.0"]
    with pytest.raises(InUse):
        reg.delete("m", "@champion")
    with pytest.raises(InUse):
        reg.delete("m", "@primary")
    assert reg.delete("m", "0.2.0").version == "0.2.0"
    with pytest.raises(VersionNotFound):
        reg.version("m", "0.2.0")
    with pytest.raises(VersionExists):
        reg.deploy(constant_path, "m", version="0.2.0")
    assert reg.diff("m", "0.1.0", "@latest").changes[0].field == "sha256"
    reg.remove_alias("m", "champion")
    with pytest.raises(AliasNotFound):
        reg.remove_alias("m", "champion")
    assert [v.version for v in reg.prune("m", keep=0)] == ["0.1.0"]
    assert [v.version for v in reg.versions("m")] == ["0.3.0"]
    assert [e.event for e in reg.history("m")].count("delete") == 2
    assert reg.doctor().ok
    reg.delete_model("m")
    with pytest.raises(ModelNotFound):
        reg.model("m")
    assert reg.models() == [] and reg.doctor().ok


def test_a_model_handle_writes_by_its_name_and_reads_again_afterwards(reg, constant_path):
    reg.deploy(constant_path, name="m")
    reg.deploy(constant_path, name="m", promote=False)
    model = reg.model("m")
    assert [v.version for v in model.versions()] == ["0.1.0", "0.2.0"]
    result = model.promote("0.2.0", expect_primary="0.1.0")
    assert (result.previous, result.record.version) == ("0.1.0", "0.2.0")
    assert model.record.primary == "0.2.0"  # read again after its write
    assert [v.version for v in model.versions() if v.primary] == ["0.2.0"]
    model.set_alias("stable", "0.1.0")
    assert model.version("@stable").version == "0.1.0"
    assert model.tag("0.1.0", set={"team": "fraud"}).tags == {"team": "fraud"}
    assert [a.alias for a in model.aliases()] == ["stable"]
    model.remove_alias("stable")
    assert model.delete("0.1.0").version == "0.1.0"
    assert [v.version for v in model.versions()] == ["0.2.0"]
    assert reg.model("m").record.primary == "0.2.0"


def test_the_deploy_defaults_an_operation_uses_are_registry_deploys():
    """ops.deploy_request.DEFAULTS (what import-mlflow deploys with) is Registry.deploy's signature."""
    import inspect

    from mlreg.ops.deploy_request import DEFAULTS

    parameters = inspect.signature(mlreg.Registry.deploy).parameters
    given = {k: p.default for k, p in parameters.items() if k not in ("self", "model_or_path", "name", "outcome")}
    assert given == DEFAULTS
