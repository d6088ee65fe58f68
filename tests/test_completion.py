"""Completion scripts: committed ones are fresh, and each shell completes from the registry's tree."""

import os
import shutil
import subprocess

import pytest

from mlreg.cli import app
from mlreg.completion import SHELLS, render

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FILES = {"bash": "mlreg.bash", "zsh": "_mlreg", "fish": "mlreg.fish"}
EXAMPLE = os.path.join(ROOT, "registry-example")  # read through a copy: a listing writes its cache
IRIS_VERSIONS = {"0.1.0", "0.2.0", "0.2.1", "0.3.0"}
REFS = {"@primary", "@latest"}  # offered with every version (and the model's aliases)


@pytest.mark.parametrize("shell", SHELLS)
def test_committed_scripts_are_fresh(shell):
    with open(os.path.join(ROOT, "completions", FILES[shell]), encoding="utf-8") as f:
        committed = f.read()
    assert committed == render(shell, app), f"run: mlreg completion {shell} > completions/{FILES[shell]}"


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    """A copy of registry-example/ (listing a model writes its cache beside it)."""
    copy = tmp_path_factory.mktemp("example") / "registry"
    shutil.copytree(EXAMPLE, copy)
    return str(copy)


def _iris_ids():
    return {open(os.path.join(EXAMPLE, "ids", i)).read().startswith("iris-classifier/") and i or None
            for i in os.listdir(EXAMPLE + "/ids")} - {None}


def _active_iris(example):
    """The Active versions of the example's iris model and their IDs."""
    import mlreg

    found = mlreg.Registry(example).versions("iris-classifier", "active")
    return {v.version for v in found} | {v.version_id for v in found}


BASH = """
source {script}
t() {{ COMP_WORDS=("$@"); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); _mlreg; echo "${{COMPREPLY[*]}}"; }}
"""


def _bash(lines):
    script = BASH.format(script=os.path.join(ROOT, "completions", FILES["bash"])) + "\n".join(lines)
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout
    return [set(line.split()) for line in out.splitlines()]


def test_bash_completes_from_the_tree(tmp_path, example):
    reg = f"--registry {example}"
    got = _bash([
        "t mlreg ''",
        f"t mlreg {reg} versions ''",
        f"t mlreg {reg} status iris-classifier ''",
        f"t mlreg {reg} logs '\"Iris Classifier\"' ''",
        f"t mlreg {reg} predict iris-classifier --version ''",
        f"t mlreg {reg} deploy model.joblib --bump ''",
        f"t mlreg {reg} deploy model.joblib --template ''",
        f"t mlreg {reg} readme ''",
        f"t mlreg {reg} readme check d",
        f"t mlreg {reg} versions iris-classifier --st",
    ])
    assert {"deploy", "versions", "readme", "--registry"} <= got[0]
    assert got[1] == {"iris-classifier", "diabetes-progression"}
    assert got[2] == IRIS_VERSIONS | _iris_ids() | REFS == got[3]
    assert got[4] == _active_iris(example) | REFS  # predict offers only versions that can be called
    assert got[5] == {"major", "minor", "patch"}
    assert got[6] >= {"sklearn-classifier", "sklearn-regressor", "text-classifier", "custom-python"}
    assert got[7] == {"show", "edit", "check", "--help"}
    assert got[8] == {"diabetes-progression"}
    assert got[9] == {"--status"}


def test_bash_reads_the_environment_and_registry_templates(tmp_path):
    reg = tmp_path / "reg"
    shutil.copytree(EXAMPLE, reg)
    os.makedirs(reg / "templates")
    (reg / "templates" / "team-scorer.toml").write_text("")
    script = BASH.format(script=os.path.join(ROOT, "completions", FILES["bash"]))
    out = subprocess.run(["bash", "-c", script + "t mlreg versions ''\nt mlreg deploy x --template team"],
                         capture_output=True, text=True, check=True, env={**os.environ, "MLREG_REGISTRY": str(reg)}).stdout
    assert out.splitlines() == ["diabetes-progression iris-classifier", "team-scorer"]


def _big_registry(root, models=100, versions=10):
    for m in range(models):
        folder = root / "models" / f"model-{m:03d}"
        for v in range(versions):
            vdir = folder / "versions" / f"0.{v + 1}.0"
            vdir.mkdir(parents=True)
            (vdir / "version.toml").write_text(f'version = "0.{v + 1}.0"\nid = "m{m:03d}v{v:03d}"\n')
        (folder / "model.toml").write_text(f'name = "model {m}"\n')
    (root / "mlreg.toml").write_text("format = 1\n")


def test_bash_completion_is_instant_with_100_models(tmp_path):
    _big_registry(tmp_path)
    script = BASH.format(script=os.path.join(ROOT, "completions", FILES["bash"])) + f"""
start=$EPOCHREALTIME
for i in 1 2 3 4 5 6 7 8 9 10; do
  t mlreg --registry {tmp_path} status '' >/dev/null
  t mlreg --registry {tmp_path} status model-042 '' >/dev/null
done
end=$EPOCHREALTIME
t mlreg --registry {tmp_path} status model-042 ''
echo $(( (${{end/./}} - ${{start/./}}) / 20 ))
"""
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout.splitlines()
    assert len(out[0].split()) == 22  # 10 versions, their 10 IDs, @primary and @latest
    assert int(out[1]) < 100_000, f"{int(out[1]) / 1000:.1f} ms per completion"


@pytest.mark.skipif(not shutil.which("zsh"), reason="zsh is not installed")
def test_zsh_completes_from_the_tree(example):
    script = f"""
compdef() {{ : }}
source {os.path.join(ROOT, "completions", FILES["zsh"])}
compadd() {{ local prefix=''; while (( $# )); do case $1 in
    -P) prefix=$2; shift 2;; -M) shift 2;; -a) print -r -- ${{(@)${{(P)2}}/#/$prefix}}; shift 2;; *) shift;; esac; done }}
_files() {{ print _files }}
t() {{ words=("$@"); CURRENT=$#words; _mlreg }}
t mlreg --registry {example} versions ''
t mlreg --registry {example} status iris-classifier ''
t mlreg --registry {example} readme ''
t mlreg --registry {example} deploy ''
"""
    out = subprocess.run(["zsh", "-f", "-c", script], capture_output=True, text=True, check=True).stdout.splitlines()
    assert [set(line.split()) for line in out] == [
        {"iris-classifier", "diabetes-progression"}, IRIS_VERSIONS | _iris_ids() | REFS, {"show", "edit", "check", "--help"},
        {"_files"}]


@pytest.mark.skipif(not shutil.which("fish"), reason="fish is not installed")
def test_fish_completes_from_the_tree(example):
    script = f"source {os.path.join(ROOT, 'completions', FILES['fish'])}\n" + "\n".join(
        f"complete -C'mlreg --registry {example} {line}'; echo ---" for line in
        ["versions ", "status iris-classifier ", "readme ", "deploy x --bump "])
    out = subprocess.run(["fish", "--no-config", "-c", script], capture_output=True, text=True, check=True).stdout
    got = [set(block.split()) for block in out.split("---")[:-1]]
    assert got == [{"iris-classifier", "diabetes-progression"}, IRIS_VERSIONS | _iris_ids() | REFS,
                   {"show", "edit", "check", "--help"}, {"major", "minor", "patch"}]


HOSTILE = ["$(touch${IFS}PWNED)", "`touch${IFS}PWNED`", "x;touch${IFS}PWNED"]


def _hostile_registry(root):
    """A registry whose folder names are shell code, as a teammate could plant them."""
    shutil.copytree(EXAMPLE, root)
    os.makedirs(root / "templates")
    for i, word in enumerate(HOSTILE):
        folder = root / "models" / word
        (folder / "versions" / f"9.9.{i}").mkdir(parents=True)
        (folder / "model.toml").write_text('name = "x"\n')
        (folder / "versions" / f"9.9.{i}" / "version.toml").write_text('status = "active"\n')
        (root / "models" / "iris-classifier" / "versions" / word).mkdir()
        (root / "models" / "iris-classifier" / "versions" / word / "version.toml").write_text('status = "active"\n')
        (root / "templates" / f"{word}.toml").write_text("")
    return root


SHELL_LINES = ["status ''", "status iris-classifier ''", "promote iris-classifier ''", "deploy x --template ''",
               "verify 'iris-classifier@'", "status '$(touch${IFS}PWNED)' ''"]


def _completes_without_running_code(tmp_path, run):
    reg = _hostile_registry(tmp_path / "reg")
    work = tmp_path / "work"
    work.mkdir()
    out = run(reg, work)
    assert not list(work.iterdir()) and not os.path.exists("PWNED"), "a folder name ran as shell code"
    return out


def test_bash_never_runs_code_from_the_registry(tmp_path):
    def run(reg, work):
        script = BASH.format(script=os.path.join(ROOT, "completions", FILES["bash"])) + "\n".join(
            f"t mlreg --registry {reg} {line}" for line in SHELL_LINES)
        return subprocess.run(["bash", "-c", script], capture_output=True, text=True, cwd=work, check=True).stdout

    out = _completes_without_running_code(tmp_path, run).splitlines()
    assert "$(touch${IFS}PWNED)" in out[0].split()  # offered as the text it is


@pytest.mark.skipif(not shutil.which("zsh"), reason="zsh is not installed")
def test_zsh_never_runs_code_from_the_registry(tmp_path):
    def run(reg, work):
        script = f"""
compdef() {{ : }}
source {os.path.join(ROOT, "completions", FILES["zsh"])}
compadd() {{ print -r -- "$@" }}
_files() {{ print _files }}
t() {{ words=("$@"); CURRENT=$#words; _mlreg }}
""" + "\n".join(f"t mlreg --registry {reg} {line}" for line in SHELL_LINES)
        return subprocess.run(["zsh", "-f", "-c", script], capture_output=True, text=True, cwd=work, check=True).stdout

    _completes_without_running_code(tmp_path, run)


@pytest.mark.skipif(not shutil.which("fish"), reason="fish is not installed")
def test_fish_never_runs_code_from_the_registry(tmp_path):
    def run(reg, work):
        script = f"source {os.path.join(ROOT, 'completions', FILES['fish'])}\n" + "\n".join(
            f"complete -C\"mlreg --registry {reg} {line.replace(chr(39) * 2, '')}\"" for line in SHELL_LINES)
        return subprocess.run(["fish", "--no-config", "-c", script], capture_output=True, text=True, cwd=work,
                              check=True).stdout

    _completes_without_running_code(tmp_path, run)


def test_bash_completes_display_names_verify_at_and_only_active_for_promote(example):
    got = _bash([f"t mlreg --registry {example} show Iris",
                 f"t mlreg --registry {example} show '\"iris  Cl'",
                 f"t mlreg --registry {example} verify iris-classifier@0.2",
                 f"t mlreg --registry {example} promote iris-classifier ''"])
    assert got[0] == got[1] == {"iris-classifier"}
    assert got[2] == {"iris-classifier@0.2.0", "iris-classifier@0.2.1"}
    assert got[3] == _active_iris(example) | REFS


@pytest.mark.skipif(not shutil.which("zsh"), reason="zsh is not installed")
def test_zsh_matches_display_names_and_offers_only_active_for_promote(example):
    script = f"""
compdef() {{ : }}
source {os.path.join(ROOT, "completions", FILES["zsh"])}
compadd() {{ local prefix='' matcher=''; while (( $# )); do case $1 in
    -P) prefix=$2; shift 2;; -M) matcher=$2; shift 2;;
    -a) print -r -- $matcher ${{(@)${{(P)2}}/#/$prefix}}; shift 2;; *) shift;; esac; done }}
t() {{ words=("$@"); CURRENT=$#words; _mlreg }}
t mlreg --registry {example} show Iris
t mlreg --registry {example} promote iris-classifier ''
t mlreg --registry {example} verify iris-classifier@
"""
    out = subprocess.run(["zsh", "-f", "-c", script], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[0].startswith("m:{[:upper:]}={[:lower:]}")  # capitals typed match folder names
    assert set(out[1].split()) == _active_iris(example) | REFS
    assert set(out[2].split()) == {f"iris-classifier@{v}" for v in IRIS_VERSIONS | _iris_ids()}


@pytest.mark.skipif(not shutil.which("fish"), reason="fish is not installed")
def test_fish_completes_display_names_and_verify_at(example):
    script = f"source {os.path.join(ROOT, 'completions', FILES['fish'])}\n" + "\n".join(
        f"complete -C'mlreg --registry {example} {line}'; echo ---" for line in
        ["show Iris", "verify iris-classifier@0.2", "promote iris-classifier "])
    out = subprocess.run(["fish", "--no-config", "-c", script], capture_output=True, text=True, check=True).stdout
    got = [set(block.split()) for block in out.split("---")[:-1]]
    assert got == [{"iris-classifier"}, {"iris-classifier@0.2.0", "iris-classifier@0.2.1"}, _active_iris(example) | REFS]


def _lifecycle_registry(root):
    """A copy of the example whose iris model has aliases and tagged versions."""
    import mlreg

    shutil.copytree(EXAMPLE, root)
    reg = mlreg.Registry(root)
    reg.set_alias("iris-classifier", "champion", "0.2.1")
    reg.set_alias("iris-classifier", "staging", "0.2.0")
    reg.tag("iris-classifier", "0.2.1", {"dataset": "2026-11", "team.owner": "ml"})
    reg.tag("iris-classifier", "0.2.0", {"dataset": "2026-10"})
    return root


ALIASES = {"@champion", "@staging"}
LIFECYCLE_LINES = ["status iris-classifier ''", "alias rm iris-classifier ''", "versions iris-classifier --tag ''",
                   "tag iris-classifier 0.3.0 --remove ''", "delete iris-classifier ''", "diff iris-classifier 0.1.0 @c"]


def test_bash_completes_aliases_and_tag_keys(tmp_path):
    reg = _lifecycle_registry(tmp_path / "reg")
    got = _bash([f"t mlreg --registry {reg} {line}" for line in LIFECYCLE_LINES] + ["t mlreg ''"])
    assert got[0] == IRIS_VERSIONS | _iris_ids() | REFS | ALIASES
    assert got[1] == {"champion", "staging"}
    assert got[2] == {"dataset=", "team.owner="}
    assert got[3] == {"dataset", "team.owner"}
    assert got[4] == got[0]
    assert got[5] == {"@champion"}
    assert {"alias", "tag", "delete", "prune", "diff", "export", "import"} <= got[6]


@pytest.mark.skipif(not shutil.which("zsh"), reason="zsh is not installed")
def test_zsh_completes_aliases_and_tag_keys(tmp_path):
    reg = _lifecycle_registry(tmp_path / "reg")
    script = f"""
compdef() {{ : }}
source {os.path.join(ROOT, "completions", FILES["zsh"])}
compadd() {{ local prefix=''; while (( $# )); do case $1 in
    -P) prefix=$2; shift 2;; -M|-S) shift 2;; -a) print -r -- ${{(@)${{(P)2}}/#/$prefix}}; shift 2;; *) shift;; esac; done }}
t() {{ words=("$@"); CURRENT=$#words; _mlreg }}
""" + "\n".join(f"t mlreg --registry {reg} {line}" for line in LIFECYCLE_LINES[:4])
    out = subprocess.run(["zsh", "-f", "-c", script], capture_output=True, text=True, check=True).stdout.splitlines()
    assert [set(line.split()) for line in out] == [
        IRIS_VERSIONS | _iris_ids() | REFS | ALIASES, {"champion", "staging"}, {"dataset=", "team.owner="},
        {"dataset", "team.owner"}]


@pytest.mark.skipif(not shutil.which("fish"), reason="fish is not installed")
def test_fish_completes_aliases_and_tag_keys(tmp_path):
    reg = _lifecycle_registry(tmp_path / "reg")
    script = f"source {os.path.join(ROOT, 'completions', FILES['fish'])}\n" + "\n".join(
        f"complete -C'mlreg --registry {reg} {line}'; echo ---" for line in
        ["status iris-classifier ", "alias rm iris-classifier ", "versions iris-classifier --tag ",
         "tag iris-classifier 0.3.0 --remove "])
    out = subprocess.run(["fish", "--no-config", "-c", script], capture_output=True, text=True, check=True).stdout
    got = [set(block.split()) for block in out.split("---")[:-1]]
    assert got == [IRIS_VERSIONS | _iris_ids() | REFS | ALIASES, {"champion", "staging"},
                   {"dataset=", "team.owner="}, {"dataset", "team.owner"}]


def test_bash_takes_backslash_escaped_names_and_offers_only_active_versions_to_alias_set(example):
    reg = f"--registry {example}"
    got = _bash([
        f"t mlreg {reg} show 'Iris\\ Cl'",
        f"t mlreg {reg} status 'Iris\\ Classifier' ''",
        f"t mlreg {reg} alias set iris-classifier champion ''",
    ])
    assert got[0] == {"iris-classifier"}
    assert got[1] == IRIS_VERSIONS | _iris_ids() | REFS
    assert got[2] == _active_iris(example) | REFS  # never a Deployment Failed version
