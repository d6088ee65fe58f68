"""Data flows one way: faces (CLI, server) -> the Registry facade -> operations -> files
and records -> pure modules. Every import in the package, lazy ones inside functions
included, goes down or sideways, and none closes a circle."""

import ast
import os

import pytest

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "mlreg")

# Lowest first. A module imports only modules of its own layer or below.
LAYERS = {
    "pure": ["errors", "layout", "names", "versions", "checkpoints", "location", "environment"],
    "files and records": ["atomic", "lock", "identity", "metadata", "index", "deploylog", "templates", "trust",
                          "readme", "inputs", "usercode", "predict", "artifacts", "checker", "invocation"],
    "operations": ["doctor"],
    "facade": ["store", "__init__"],
    "faces": ["server", "render", "completion", "cli", "__main__"],
}
RANK = {module: rank for rank, modules in enumerate(LAYERS.values()) for module in modules}


def _modules():
    return sorted(name[:-3] for name in os.listdir(PACKAGE) if name.endswith(".py"))


def _imports(module):
    """The package's modules that ``module`` imports anywhere in its source."""
    tree = ast.parse(open(os.path.join(PACKAGE, module + ".py"), encoding="utf-8").read())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 or (node.module or "").split(".")[0] == "mlreg":
                base = (node.module or "") if node.level == 1 else (node.module or "").partition(".")[2]
                if base:
                    found.add(base.split(".")[0])
                else:  # from . import a, b
                    found.update(a.name for a in node.names if a.name in RANK)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("mlreg."):
                    found.add(alias.name.split(".")[1])
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
