"""Keys and signed versions (SPEC §11): what a signature vouches for, and what it never can.

The models here are the tests' own classes (``fakemodels``), which the default load
policy refuses: they load only when vouched for, which is what a signature is for.
Every test reads with no trust file (marker ``default_policy``) unless it writes one.
"""

import base64
import hashlib
import os
import shutil
import stat
import subprocess
import sys
import tomllib

import pytest

import fakemodels
from conftest import fake_artifact

pytestmark = [pytest.mark.default_policy, pytest.mark.folder]

ROWS = '[[1.0, 2.0]]'


def _version_dir(registry_path, version, model="m"):
    return registry_path / "models" / model / "versions" / version


def _key(cli):
    made = cli("keys", "init", "--json", registry=False)
    assert made.exit_code == 0, made.stderr
    return made.json()


def _other_key(tmp_path, name="other"):
    """A private key (PEM) that is not the user's, and its public key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    private = tmp_path / f"{name}.pem"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public = tmp_path / f"{name}.pub.pem"
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public, "sha256:" + hashlib.sha256(der).hexdigest()


@pytest.fixture
def custom(tmp_path):
    """A model of a class of the user's own (not on the allowlist)."""
    return fake_artifact(tmp_path, fakemodels.ConstantModel(7))


# ------------------------------------------------------------------ keys

def test_keys_init_makes_one_pair_private_to_the_user(cli):
    made = _key(cli)
    folder = made["folder"]
    private = os.path.join(folder, "signing-key.pem")
    assert made["created"] is True and made["fingerprint"].startswith("sha256:")
    assert stat.S_IMODE(os.stat(private).st_mode) == 0o600
    der = base64.b64decode("".join(made["public_key"].strip().splitlines()[1:-1]))
    assert made["fingerprint"] == "sha256:" + hashlib.sha256(der).hexdigest()
    again = _key(cli)
    assert again["created"] is False and again["fingerprint"] == made["fingerprint"]
    shown = cli("keys", "show", registry=False)
    assert shown.exit_code == 0 and shown.stdout.strip() == made["public_key"].strip()


def test_keys_show_without_a_key_says_how_to_make_one(cli):
    r = cli("keys", "show", registry=False)
    assert r.exit_code == 3 and "mlreg keys init" in r.stderr


# ------------------------------------------------------------------ deploy signs

def test_a_users_own_signed_version_loads_under_the_default_policy(cli, custom):
    unsigned = cli("deploy", custom, "--name", "m", "--json")
    assert unsigned.exit_code == 0 and unsigned.json()["signatures"] == [] and unsigned.json()["trusted"] is False
    refused = cli("predict", "m", "--input", ROWS)
    assert refused.exit_code == 7 and "fakemodels.ConstantModel" in refused.stderr
    assert "mlreg sign" in refused.stderr and "allow_imports" in refused.stderr  # both ways to allow it

    key = _key(cli)
    signed = cli("deploy", custom, "--name", "m", "--json").json()
    assert signed["signatures"] == [{"key": key["fingerprint"], "valid": True, "signer": None}]
    assert signed["trusted"] is True
    shown = cli("show", "m", "--json").json()["versions"]  # every version JSON says it
    assert [(v["signatures"] != [], v["trusted"]) for v in shown] == [(False, False), (True, True)]
    r = cli("predict", "m", "--input", ROWS)
    assert r.exit_code == 0, r.stderr
    assert r.json()["predictions"] == [7]


def test_no_sign_and_another_key(cli, custom, tmp_path):
    _key(cli)
    assert cli("deploy", custom, "--name", "m", "--no-sign", "--json").json()["signatures"] == []
    private, _, fingerprint = _other_key(tmp_path)
    other = cli("deploy", custom, "--name", "m", "--sign-key", private, "--json").json()
    assert [s["key"] for s in other["signatures"]] == [fingerprint]
    assert other["signatures"][0]["valid"] is True and other["trusted"] is False  # valid, but not a key we trust
    assert cli("deploy", custom, "--name", "m", "--sign-key", private, "--no-sign").exit_code == 2


def test_a_trust_file_with_signers_trusts_only_those(cli, custom, tmp_path, monkeypatch):
    key = _key(cli)
    cli("deploy", custom, "--name", "m")
    _, bob_public, _ = _other_key(tmp_path, "bob")
    trust = tmp_path / "trust.toml"
    trust.write_text(f'[signers]\nbob = "{bob_public.name}"\n')
    monkeypatch.setenv("MLREG_TRUST_FILE", str(trust))
    r = cli("predict", "m", "--input", ROWS)
    assert r.exit_code == 7 and "fakemodels.ConstantModel" in r.stderr
    assert cli("status", "m", "--json").json()["trusted"] is False
    own = key["public_key"].strip()
    trust.write_text(f'[signers]\nme = """{own}"""\n')
    status = cli("status", "m", "--json").json()
    assert status["signatures"] == [{"key": key["fingerprint"], "valid": True, "signer": "me"}]
    assert status["trusted"] is True
    assert cli("predict", "m", "--input", ROWS).exit_code == 0


def test_a_code_version_loads_when_signed(cli, tmp_path, monkeypatch):
    (tmp_path / "doubling.py").write_text("class Doubling:\n    def predict(self, rows):\n"
                                          "        return [2 * sum(r) for r in rows]\n")
    subprocess.run([sys.executable, "-c", "import joblib, doubling; joblib.dump(doubling.Doubling(), 'd.joblib')"],
                   cwd=tmp_path, check=True)
    _key(cli)
    monkeypatch.chdir(tmp_path)
    deployed = cli("deploy", "d.joblib", "--name", "m", "--code", "doubling.py", "--json").json()
    assert deployed["signatures"][0]["valid"] is True and deployed["trusted"] is True
    r = cli("predict", "m", "--input", ROWS)
    assert r.exit_code == 0 and r.json()["predictions"] == [6.0], r.stderr
    # The code changed after the signature (and its digest with it, as a writer could):
    code = _version_dir(tmp_path / "registry", "0.1.0") / "code" / "doubling.py"
    os.chmod(code, 0o644)
    code.write_text(code.read_text().replace("2 *", "3 *"))
    r = cli("predict", "m", "--input", ROWS)
    assert r.exit_code == 7


# ------------------------------------------------------------------ what a signature cannot do

@pytest.fixture
def signed(cli, custom, registry_path):
    """Versions 0.1.0 and 0.2.0 of "m", both signed by the user's key."""
    key = _key(cli)
    cli("deploy", custom, "--name", "m")
    cli("deploy", fake_artifact(registry_path.parent, fakemodels.ConstantModel(8), "eight.joblib"), "--name", "m")
    return key


def test_a_tampered_signed_toml_is_refused(cli, signed, registry_path):
    path = _version_dir(registry_path, "0.2.0") / "signed.toml"
    os.chmod(path, 0o644)
    path.write_text(path.read_text().replace('format = "joblib"', 'format = "onnx"'))
    r = cli("verify", "m")
    assert r.exit_code == 7 and "BAD SIGNATURE  m 0.2.0" in r.stdout and "ok  m 0.1.0" in r.stdout
    status = cli("status", "m", "0.2.0", "--json").json()
    assert status["signatures"][0]["valid"] is False and status["trusted"] is False
    assert cli("predict", "m", "--input", ROWS).exit_code == 7


def test_a_signature_moved_to_another_version_is_refused(cli, signed, registry_path):
    """0.1.0's signature and signed.toml copied onto 0.2.0, as a writer who wants 0.2.0
    to load could."""
    one, two = _version_dir(registry_path, "0.1.0"), _version_dir(registry_path, "0.2.0")
    for name in ("signed.toml", "signatures"):
        target = two / name
        if target.is_dir():
            shutil.rmtree(target)
        else:
            os.chmod(target, 0o644)
            target.unlink()
    shutil.copy(one / "signed.toml", two / "signed.toml")
    shutil.copytree(one / "signatures", two / "signatures")
    r = cli("verify", "m", "--json")
    assert r.exit_code == 7
    found = {v["version"]: v for v in r.json()}
    assert found["0.1.0"]["ok"] is True and found["0.2.0"]["ok"] is False
    assert "signed.toml names version '0.1.0'" in found["0.2.0"]["problem"]
    assert cli("predict", "m", "--input", ROWS).exit_code == 7


def test_a_signed_artifact_moved_to_another_version_is_refused(cli, signed, registry_path):
    """0.1.0's artifact and record's hashes put into 0.2.0: its signature names other bytes."""
    one, two = _version_dir(registry_path, "0.1.0"), _version_dir(registry_path, "0.2.0")
    artifact = two / "model.joblib"
    os.chmod(artifact, 0o644)
    shutil.copy(one / "model.joblib", artifact)
    meta = tomllib.loads((two / "version.toml").read_text())
    data = artifact.read_bytes()
    import tomli_w

    meta.update(size=len(data), sha256=hashlib.sha256(data).hexdigest())
    os.chmod(two / "version.toml", 0o644)
    (two / "version.toml").write_text(tomli_w.dumps(meta))
    index = registry_path / "models" / "m" / "versions.index.json"
    if index.exists():
        index.unlink()
    assert cli("verify", "m@0.2.0").exit_code == 7
    r = cli("predict", "m", "--input", ROWS)
    assert r.exit_code == 7 and "fakemodels.ConstantModel" in r.stderr


def test_a_writer_cannot_file_a_signature_under_a_trusted_keys_name(cli, signed, registry_path, tmp_path):
    """The attacker signs with their own key and files it under the user's fingerprint,
    their own public key beside it: the key filed is not the key named."""
    private, public, _ = _other_key(tmp_path, "mallory")
    folder = _version_dir(registry_path, "0.2.0") / "signatures"
    own_hex = signed["fingerprint"].removeprefix("sha256:")
    from mlreg.signing import load_signer, sign

    files = {"model.joblib": hashlib.sha256((folder.parent / "model.joblib").read_bytes()).hexdigest(),
             "signed.toml": hashlib.sha256((folder.parent / "signed.toml").read_bytes()).hexdigest()}
    for name, data in ((f"{own_hex}.sig", sign(load_signer(str(private)), "m", files)),
                       (f"{own_hex}.pem", public.read_bytes())):
        os.chmod(folder / name, 0o644)
        (folder / name).write_bytes(data)
    status = cli("status", "m", "0.2.0", "--json").json()
    assert status["signatures"][0]["valid"] is False and status["trusted"] is False
    assert cli("predict", "m", "--input", ROWS).exit_code == 7


def test_sign_vouches_for_an_existing_version_and_survives_a_tag(cli, custom, registry_path):
    cli("deploy", custom, "--name", "m")
    assert not (_version_dir(registry_path, "0.1.0") / "signed.toml").exists()
    assert cli("sign", "m", "0.1.0").exit_code == 2  # no key yet: says to make one
    key = _key(cli)
    r = cli("sign", "m", "0.1.0", "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json()["signatures"] == [{"key": key["fingerprint"], "valid": True, "signer": None}]
    assert tomllib.loads((_version_dir(registry_path, "0.1.0") / "signed.toml").read_text())["version"] == "0.1.0"
    assert cli("tag", "m", "0.1.0", "reviewed=yes").exit_code == 0
    assert cli("promote", "m", "0.1.0").exit_code == 0
    assert cli("verify", "m").exit_code == 0
    assert cli("predict", "m", "--input", ROWS).exit_code == 0


def test_signatures_travel_with_push_export_and_import(cli, signed, registry_path, tmp_path):
    other = tmp_path / "other"
    assert cli("push", "m", "--to", other).exit_code == 0
    assert cli("--registry", other, "predict", "m", "--input", ROWS, registry=False).exit_code == 0
    archive = tmp_path / "m.tar"
    assert cli("export", "m", "--output", archive).exit_code == 0
    third = tmp_path / "third"
    assert cli("--registry", third, "import", archive, registry=False).exit_code == 0
    status = cli("--registry", third, "status", "m", "--json", registry=False).json()
    assert status["signatures"] == [{"key": signed["fingerprint"], "valid": True, "signer": None}]
    assert cli("--registry", third, "verify", registry=False).exit_code == 0


def test_read_commands_import_no_cryptography(signed, registry_path, iris_model_path, cli):
    """`status` and `versions` of signed versions stay as fast as before; with --json (which
    says `signatures` and `trusted`), a signature proven once is not proven again, and a
    scikit-learn model's `trusted` never imports scikit-learn."""
    assert cli("deploy", iris_model_path, "--name", "iris").exit_code == 0

    def imported(*command):
        p = subprocess.run([sys.executable, "-X", "importtime", "-m", "mlreg", "--registry", str(registry_path),
                            *command], capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        return {line.split("|")[-1].strip().split(".")[0] for line in p.stderr.splitlines() if "|" in line}

    for command in (["status", "m"], ["versions", "m"], ["status", "iris"]):
        assert "cryptography" not in imported(*command), command
    for first in (["versions", "m", "--json"], ["versions", "iris", "--json"]):
        assert "sklearn" not in imported(*first)  # proves each signature once (marked in the user's cache)
    for command in (["status", "m", "--json"], ["versions", "m", "--json"], ["versions", "iris", "--json"]):
        assert not {"cryptography", "sklearn"} & imported(*command), command
    assert cli("versions", "iris", "--json").json()[0]["trusted"] is True


# ------------------------------------------------------------------ the reference tool, both ways

def _reference_cli():
    """The reference ``model_signing`` CLI, installed in its own virtual environment (it
    is heavy): ``.venv-model-signing`` beside the project, or $MLREG_TEST_MODEL_SIGNING."""
    path = os.environ.get("MLREG_TEST_MODEL_SIGNING") or os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".venv-model-signing", "bin", "model_signing")
    if not os.path.exists(path):
        if os.environ.get("CI"):
            pytest.fail("CI must run the reference model_signing CLI: see README, Tests")
        pytest.skip("needs the reference model_signing CLI in .venv-model-signing (see README, Tests)")
    return path


def test_the_reference_cli_verifies_mlregs_signature(signed, registry_path, tmp_path):
    tool = _reference_cli()
    version = _version_dir(registry_path, "0.2.0")
    signature = version / "signatures" / (signed["fingerprint"].removeprefix("sha256:") + ".sig")
    public = tmp_path / "me.pub.pem"
    public.write_text(signed["public_key"])
    # over the version's folder, the files mlreg does not sign left out ...
    p = subprocess.run([tool, "verify", "key", str(version), "--signature", str(signature), "--public_key",
                        str(public), "--ignore_unsigned_files"], capture_output=True, text=True)
    assert p.returncode == 0 and "Verification succeeded" in p.stdout + p.stderr, p.stdout + p.stderr
    # ... and over a folder holding exactly the signed files
    exact = tmp_path / "exact"
    exact.mkdir()
    shutil.copy(version / "model.joblib", exact)
    shutil.copy(version / "signed.toml", exact)
    p = subprocess.run([tool, "verify", "key", str(exact), "--signature", str(signature), "--public_key",
                        str(public)], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    (exact / "signed.toml").write_text((exact / "signed.toml").read_text().replace("0.2.0", "0.1.0"))
    p = subprocess.run([tool, "verify", "key", str(exact), "--signature", str(signature), "--public_key",
                        str(public)], capture_output=True, text=True)
    assert p.returncode != 0


def test_mlreg_files_a_signature_the_reference_cli_made(cli, custom, registry_path, tmp_path, monkeypatch):
    tool = _reference_cli()
    cli("deploy", custom, "--name", "m")
    private, public, fingerprint = _other_key(tmp_path, "reviewer")
    exact = tmp_path / "exact"
    exact.mkdir()
    version = _version_dir(registry_path, "0.1.0")
    shutil.copy(version / "model.joblib", exact)
    # signed.toml as mlreg writes it (mlreg sign would; a reviewer can write it by hand)
    record = cli("status", "m", "--json").json()
    (exact / "signed.toml").write_text(
        f'model = "m"\nversion = "0.1.0"\nversion_id = "{record["version_id"]}"\nformat = "joblib"\n'
        f'sha256 = "{record["sha256"]}"\n')
    signature = tmp_path / "model.sig"
    p = subprocess.run([tool, "sign", "key", str(exact), "--private_key", str(private), "--signature",
                        str(signature)], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    unknown = cli("sign", "m", "0.1.0", "--import", signature)
    assert unknown.exit_code == 2 and "--key PUBLIC.pem" in unknown.stderr
    r = cli("sign", "m", "0.1.0", "--import", signature, "--key", public, "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json()["signatures"] == [{"key": fingerprint, "valid": True, "signer": None}]
    assert r.json()["trusted"] is False  # not a key this reader trusts
    assert cli("predict", "m", "--input", ROWS).exit_code == 7
    trust = tmp_path / "trust.toml"
    trust.write_text(f'[signers]\nreviewer = "{public}"\n')
    monkeypatch.setenv("MLREG_TRUST_FILE", str(trust))
    assert cli("predict", "m", "--input", ROWS).exit_code == 0
    # a signature over other files is refused, and filed nowhere
    (exact / "extra.txt").write_text("not the version's")
    p = subprocess.run([tool, "sign", "key", str(exact), "--private_key", str(private), "--signature",
                        str(signature)], capture_output=True, text=True)
    assert p.returncode == 0
    r = cli("sign", "m", "0.1.0", "--import", signature, "--key", public)
    assert r.exit_code == 7 and "extra.txt" in r.stderr
    assert cli("verify", "m").exit_code == 0


def test_a_long_listing_judges_each_version_as_status_does(cli, custom, iris_model_path, registry_path):
    """Past eight versions, `versions --json` finds the signed ones in one listing and
    judges alike versions once: each version still reads as `status --json` reads it."""
    for _ in range(6):
        assert cli("deploy", custom, "--name", "m", "--no-sign").exit_code == 0
    for _ in range(3):
        assert cli("deploy", iris_model_path, "--name", "m", "--no-sign").exit_code == 0
    _key(cli)
    assert cli("sign", "m", "0.2.0").exit_code == 0
    assert cli("sign", "m", "0.8.0").exit_code == 0
    (_version_dir(registry_path, "0.5.0") / "signatures").mkdir()  # an empty folder signs nothing
    listed = cli("versions", "m", "--json").json()
    assert len(listed) == 9
    for v in listed:
        alone = cli("status", "m", v["version"], "--json").json()
        assert (v["signatures"], v["trusted"]) == (alone["signatures"], alone["trusted"]), v["version"]
    assert [v["version"] for v in listed if v["signatures"]] == ["0.2.0", "0.8.0"]
    assert [v["trusted"] for v in listed] == [False, True, False, False, False, False, True, True, True]
