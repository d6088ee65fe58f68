"""The ``mlreg`` commands, a module per group (as pipx keeps them). Importing a module
registers its commands on the app (``base.app``); a command line imports only the
module of the command it names (``mlreg.cli.app_for``), help and completion all of them.
"""

from __future__ import annotations

from importlib import import_module

# The modules, in the order their commands are listed.
MODULES = ("deploying", "reading", "changing", "lifecycle", "calling", "moving", "docs", "trusting", "upkeep")

# Which module registers each command and group (tests/test_imports.py holds this table
# to what the modules register).
COMMANDS = {
    "init": "deploying", "deploy": "deploying",
    "models": "reading", "show": "reading", "versions": "reading", "status": "reading", "logs": "reading",
    "history": "reading",
    "describe": "changing", "promote": "changing",
    "tag": "lifecycle", "delete": "lifecycle", "prune": "lifecycle", "diff": "lifecycle", "alias": "lifecycle",
    "predict": "calling", "serve": "calling",
    "push": "moving", "pull": "moving", "export": "moving", "import": "moving", "import-mlflow": "moving",
    "templates": "docs", "readme": "docs",
    "sign": "trusting", "keys": "trusting",
    "completion": "upkeep", "doctor": "upkeep", "verify": "upkeep",
}


def load(module: str) -> None:
    """Import one command module (registering its commands)."""
    import_module(f"{__name__}.{module}")


def load_all() -> None:
    """Import every command module, in listing order."""
    for module in MODULES:
        load(module)
