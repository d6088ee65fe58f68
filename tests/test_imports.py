"""Start-up: the core imports no terminal libraries, and read commands no heavy ones."""

import subprocess
import sys

import pytest

from conftest import mlreg_command


def test_core_imports_neither_typer_nor_rich():
    code = "import mlreg, sys; print(sorted({'typer', 'rich', 'click'} & {m.split('.')[0] for m in sys.modules}))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"


LIGHT = [["versions", "m"], ["status", "m"]]


@pytest.mark.parametrize("command", [*LIGHT, ["models"], ["show", "m"], ["history", "m"]])
def test_read_commands_import_no_heavy_library(reg, constant_path, command):
    reg.deploy(constant_path, "m")
    code = (
        "import sys\n"
        "from mlreg.cli import run\n"
        f"code = run(['--registry', {reg.path!r}] + {command!r})\n"
        "assert code in (0, None), code\n"
        "print(sorted({'joblib', 'numpy', 'sklearn', 'pandas'} & {m.split('.')[0] for m in sys.modules}), file=sys.stderr)\n"
        "print(sorted({'semver', 'json'} & set(sys.modules)), file=sys.stderr)\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert p.stderr.strip().splitlines()[-2] == "[]"
    if command in LIGHT:  # docs/performance.md: their start-up has no room for these
        assert p.stderr.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("argv, commands, groups", [
    (["--registry", "r", "status", "m"], ["status"], []),
    (["--lock-timeout", "5", "--debug", "versions", "m", "--json"], ["versions"], []),
    (["readme", "show", "m"], [], ["readme"]),
    (["status", "--help"], ["status"], []),
])
def test_typer_builds_only_the_command_asked_for(argv, commands, groups):
    from mlreg.cli import app_for

    cut = app_for(argv)
    assert [c.callback.__name__ for c in cut.registered_commands] == commands
    assert [g.name for g in cut.registered_groups] == groups


def test_the_command_table_names_the_module_of_every_command():
    from typer.main import get_command_name

    from mlreg import commands
    from mlreg.cli import app

    registered = {c.name or get_command_name(c.callback.__name__): c.callback.__module__
                  for c in app.registered_commands}
    registered.update({g.name: g.typer_instance.registered_commands[0].callback.__module__
                       for g in app.registered_groups})
    assert {name: f"mlreg.commands.{module}" for name, module in commands.COMMANDS.items()} == registered
    assert sorted(set(commands.COMMANDS.values())) == sorted(commands.MODULES)


@pytest.mark.parametrize("command, module", [("versions", "reading"), ("status", "reading"),
                                             ("deploy", "deploying"), ("readme", "docs")])
def test_a_command_line_imports_only_its_commands_module(command, module):
    code = ("import sys\n"
            "from mlreg.cli import app_for\n"
            f"app_for([{command!r}, 'm'])\n"
            "print(sorted(m for m in sys.modules if m.startswith('mlreg.commands.')))\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert p.stdout.strip() == str(sorted({"mlreg.commands.base", f"mlreg.commands.{module}"}))


@pytest.mark.parametrize("argv", [[], ["--help"], ["-h", "status"], ["statu", "m"], ["--registry", "status"]])
def test_the_whole_app_answers_help_and_unknown_commands(argv):
    from mlreg.cli import app, app_for

    assert app_for(argv) is app


def test_help_of_one_command_and_suggestions_still_work(sh):
    r = sh("status", "--help")
    assert r.exit_code == 0 and "VERSION|ID" in r.stdout and "Usage: mlreg status" in r.stdout
    r = sh("statu", "m")
    assert r.exit_code == 2 and "Did you mean 'status'" in r.stderr
    r = sh("--help")
    assert r.exit_code == 0 and all(c in r.stdout for c in ("deploy", "versions", "readme", "doctor"))


def test_the_collector_is_off_while_mlreg_imports_and_on_for_the_command():
    # mlreg.__main__: start-up's objects are not walked as they come, and a long command
    # (serve, a large deploy) still collects its garbage.
    code = (
        "import atexit, gc, sys\n"
        "seen = []\n"
        "class Watch:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'mlreg.cli':\n"
        "            seen.append(gc.isenabled())\n"
        "sys.meta_path.insert(0, Watch())\n"
        "atexit.register(lambda: print(seen, gc.isenabled(), gc.get_freeze_count(), len(gc.get_objects(2)) > 10000,"
        " file=sys.stderr))\n"
        "sys.argv = ['mlreg', '--version']\n"
        "from mlreg.__main__ import main\n"
        "main()\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    # what start-up built joined the oldest generation, where it stays collectable (not frozen)
    assert (p.returncode, p.stdout.startswith("mlreg "), p.stderr) == (0, True, "[False] True 0 True\n")


def test_console_script_and_python_m_agree(registry_path, constant_path):
    a = subprocess.run(mlreg_command() + ["--version"], capture_output=True, text=True)
    b = subprocess.run([sys.executable, "-m", "mlreg", "--version"], capture_output=True, text=True)
    assert a.returncode == b.returncode == 0 and a.stdout == b.stdout and a.stdout.startswith("mlreg ")


def test_errors_through_the_console_script_are_one_line(sh):
    r = sh("versions", "nothing")
    assert r.exit_code == 3
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr and r.stdout == ""


def test_the_check_child_imports_no_registry_code():
    """`python -m mlreg.checker` runs in every deploy: importing the package must not
    pull in the store (the Registry and records are loaded on first use)."""
    code = "import mlreg.checker, sys; print(sorted(m for m in sys.modules if m.startswith('mlreg')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert eval(out) == ["mlreg", "mlreg.checker", "mlreg.errors"]
    import mlreg

    assert mlreg.Registry.__module__ == "mlreg.registry" and "Registry" in dir(mlreg)
    with pytest.raises(AttributeError):
        mlreg.NoSuchThing
