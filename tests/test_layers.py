"""Data flows one way: faces (CLI, server) -> the Registry facade -> operations -> files
and records -> pure modules. Every import in the package, lazy ones inside functions
included, goes down or sideways, and none closes a circle."""

import ast
import os

import pytest

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "mlreg")

# Lowest first. A module imports only modules of its own layer or below.
LAYERS = {
    "pure": ["views", "errors", "layout", "names", "versions", "checkpoints", "location", "environment", "fields",
             "leases", "collector"],
    "files and records": ["atomic", "parsecache", "lock", "identity", "metadata", "index", "deploylog", "templates", "trust",
                          "readme", "inputs", "usercode", "pickles", "policy", "signing", "formats", "convert", "predict", "artifacts", "checker", "invocation",
                          "mlflowstore"],
    "storage": ["storage", "storage.base", "storage.cache", "storage.local", "storage.memory", "storage.s3"],
    # the only door to storage: operations and doctor ask it, by name, never a storage key
    "repository": ["folders", "history", "ids", "tombstones", "signatures", "changes", "repo"],
    "operations": ["ops", "ops.integrity", "ops.publish", "ops.deploy", "ops.deploy_request", "ops.promote",
                   "ops.docs", "ops.transfer", "ops.aliases", "ops.tags", "ops.delete", "ops.diff", "ops.archive",
                   "ops.signing", "ops.import_mlflow"],
    # doctor is detection plus calls into the operations: above them, never called by them
    "upkeep": ["doctor"],
    "facade": ["model", "registry", "predictor", "__init__"],
    "faces": ["web.http", "web.routes", "web.refresh", "web.scoring", "web.oip", "web.metrics", "web.auth", "web.markdown", "server", "web", "web.pages", "render", "completion", "commands", "commands.base", "commands.deploying", "commands.reading",
              "commands.changing", "commands.calling", "commands.moving", "commands.docs", "commands.upkeep", "commands.lifecycle", "commands.trusting", "cli", "__main__"],
}
RANK = {module: rank for rank, modules in enumerate(LAYERS.values()) for module in modules}


def _modules():
    """Every module of the package, dotted below it (a subpackage's ``__init__`` is its name)."""
    found = []
    for folder, dirs, files in os.walk(PACKAGE):
        dirs[:] = [d for d in dirs if not d.startswith("__")]
        below = os.path.relpath(folder, PACKAGE).replace(os.sep, ".")
        for name in files:
            if name.endswith(".py"):
                stem = name[:-3]
                if below == ".":
                    found.append(stem)
                else:
                    found.append(below if stem == "__init__" else f"{below}.{stem}")
    return sorted(found)


def _known(dotted):
    """The package module ``dotted`` (below mlreg) names: itself, or the module it is an attribute of."""
    while dotted and dotted not in RANK:
        dotted = dotted.rpartition(".")[0]
    return dotted or None


def _imports(module):
    """The package's modules that ``module`` imports anywhere in its source."""
    is_package = module in RANK and os.path.isdir(os.path.join(PACKAGE, *module.split(".")))
    path = os.path.join(PACKAGE, *module.split("."), "__init__.py") if is_package else \
        os.path.join(PACKAGE, *module.split(".")) + ".py"
    here = module.split(".") if is_package else module.split(".")[:-1]
    tree = ast.parse(open(path, encoding="utf-8").read())
    found = set()
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)] if node.level > 1 else here
                stem = ".".join(base + ([node.module] if node.module else []))
            elif (node.module or "").split(".")[0] == "mlreg":
                stem = (node.module or "").partition(".")[2]
            else:
                continue
            targets = [f"{stem}.{a.name}".lstrip(".") for a in node.names] + ([stem] if stem else [])
        elif isinstance(node, ast.Import):
            targets = [a.name.partition(".")[2] for a in node.names if a.name.startswith("mlreg.")]
        found.update(known for known in map(_known, targets) if known)
    found.discard(module)
    return found


def test_every_module_has_a_layer():
    assert set(_modules()) == set(RANK), "add new modules to LAYERS"


@pytest.mark.parametrize("module", _modules())
def test_no_module_imports_a_higher_layer(module):
    higher = {m for m in _imports(module) if RANK[m] > RANK[module]}
    assert not higher, f"{module} ({RANK[module]}) imports {higher} from a higher layer"


def test_no_import_circle():
    graph = {m: _imports(m) - {"__init__"} for m in _modules()}
    state: dict[str, str] = {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                raise AssertionError("import circle: " + " -> ".join(path + [node, nxt]))
            if nxt not in state:
                visit(nxt, path + [node])
        state[node] = "done"

    for module in graph:
        if module not in state:
            visit(module, [])


# The repository is the only door to storage: it, storage itself and the facade (which
# opens a registry's storage by its location) import mlreg.storage; nothing else does.
STORAGE_DOORS = {"folders", "history", "ids", "tombstones", "repo", "registry"}


@pytest.mark.parametrize("module", [m for m in _modules() if m not in STORAGE_DOORS and not m.startswith("storage")])
def test_only_the_repository_talks_to_storage(module):
    touched = {m for m in _imports(module) if m == "storage" or m.startswith("storage.")}
    assert not touched, f"{module} imports {touched}: ask the repository (repo.py, folders.py) instead"
