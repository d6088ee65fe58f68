"""mlreg beside other model registries, on the same work, in one run.

Usage:
    python benchmarks/peers.py --venvs DIR [--install] [--versions 100] [--runs 7]

Peers, each in its own virtual environment under DIR (never mlreg's
dependencies): gto (git tags), MLflow (local sqlite backend) and BentoML's
model store. `--install` creates the three environments with pip, with the
scikit-learn version of the Python running this script, so that every tool
loads the same artifact. mlreg must be on PATH (`pip install .`).

Each tool gets a registry of one iris LogisticRegression with `--versions`
versions: all but the last few are made quickly in one process (MLflow's and
BentoML's own Python API, gto's API on fresh commits, mlreg's folders cloned as
in growth.py); the last `--runs` are timed, one fresh process each, like every
other row: what a shell script or a Makefile pays. Rows a tool cannot do are
left empty (gto keeps no artifact and loads nothing; BentoML has no promotion:
`latest` is the newest). Then 8 writers register at once: how many succeed,
and whether they got distinct version numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Callable, Sequence

sys.path.insert(0, os.path.dirname(__file__))
from _harness import compare, iris_artifact, mlreg_bin, time_once  # noqa: E402

ROW = "[[5.1, 3.5, 1.4, 0.2]]"
PEERS = {"gto": ["gto"], "MLflow": ["mlflow"], "BentoML": ["bentoml"]}

MLFLOW_OPS = """
import sys
op = sys.argv[1]
import mlflow
mlflow.set_tracking_uri("sqlite:///" + sys.argv[2])
client = mlflow.MlflowClient()
if op == "fill":
    import joblib
    model = joblib.load(sys.argv[3])
    for _ in range(int(sys.argv[4])):
        with mlflow.start_run():
            mlflow.sklearn.log_model(model, name="model", registered_model_name="m")
elif op == "register":
    import joblib
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(joblib.load(sys.argv[3]), name="model", registered_model_name="m")
    print("version", info.registered_model_version)
elif op == "list":
    print(len(client.search_model_versions("name='m'", max_results=100000)))
elif op == "current":
    print(client.get_model_version_by_alias("m", "champion").version)
elif op == "promote":
    client.set_registered_model_alias("m", "champion", sys.argv[3])
elif op == "predict":
    print(mlflow.pyfunc.load_model("models:/m@champion").predict(%s).tolist())
""" % ROW

BENTOML_OPS = """
import sys
op = sys.argv[1]
import bentoml
if op == "fill":
    import joblib
    model = joblib.load(sys.argv[2])
    for _ in range(int(sys.argv[3])):
        bentoml.sklearn.save_model("m", model)
elif op == "register":
    import joblib
    print("version", bentoml.sklearn.save_model("m", joblib.load(sys.argv[2])).tag)
elif op == "predict":
    print(bentoml.sklearn.load_model("m:latest").predict(%s).tolist())
""" % ROW

GTO_FILL = """
import subprocess, sys
from gto.api import register
repo, count = sys.argv[1], int(sys.argv[2])
for i in range(count):
    subprocess.run(["git", "commit", "-q", "--allow-empty", "-m", f"model {i}"], cwd=repo, check=True)
    register(repo, "m", "HEAD")
"""


class Tool:
    """One registry: the commands of each row (None where it cannot do that work)."""

    name = ""

    def help(self) -> list[str]: ...
    def fill(self, count: int) -> None: ...
    def register(self) -> list[str]: ...
    def before_register(self) -> None: ...
    def list(self) -> list[str]: ...
    def current(self) -> list[str]: ...
    def promote(self, version: str) -> list[str] | None: ...
    def predict(self) -> list[str] | None: ...
    def env(self) -> dict | None: return None
    def count(self) -> int: ...


class Mlreg(Tool):
    name = "mlreg"

    def __init__(self, work: str, artifact: str):
        self.bin = mlreg_bin()
        self.work, self.artifact, self.path = work, artifact, ""

    def help(self): return [self.bin, "--help"]

    def fill(self, count):
        from growth import build

        self.path = build(self.work, count, self.artifact)

    def base(self): return [self.bin, "--registry", self.path]
    def register(self): return self.base() + ["deploy", self.artifact, "--name", "model"]
    def list(self): return self.base() + ["versions", "model"]
    def current(self): return self.base() + ["status", "model"]
    def promote(self, version): return self.base() + ["promote", "model", version]
    def predict(self): return self.base() + ["predict", "model", "--input", ROW]

    def count(self):
        return len(_json_of(self.base() + ["versions", "model", "--json"]))


class Gto(Tool):
    name = "gto"

    def __init__(self, work: str, venv: str):
        self.bin, self.python = os.path.join(venv, "bin", "gto"), os.path.join(venv, "bin", "python")
        self.repo = os.path.join(work, "gto-repo")
        os.makedirs(self.repo)
        for argv in (["git", "init", "-q"], ["git", "config", "user.email", "bench@example.com"],
                     ["git", "config", "user.name", "bench"], ["git", "commit", "-q", "--allow-empty", "-m", "start"]):
            subprocess.run(argv, cwd=self.repo, check=True)

    def help(self): return [self.bin, "--help"]

    def fill(self, count):
        script = os.path.join(self.repo, "..", "gto_fill.py")
        with open(script, "w") as f:
            f.write(GTO_FILL)
        subprocess.run([self.python, script, self.repo, str(count)], check=True, capture_output=True)

    def before_register(self):  # gto registers commits: one new commit per version (not timed)
        subprocess.run(["git", "commit", "-q", "--allow-empty", "-m", "next"], cwd=self.repo, check=True)

    def register(self): return [self.bin, "register", "-r", self.repo, "m"]
    def list(self): return [self.bin, "show", "-r", self.repo, "m"]
    def current(self): return [self.bin, "show", "-r", self.repo, "m#prod", "--version"]
    def promote(self, version):  # a version that was in the stage before needs --force (a rollback)
        return [self.bin, "assign", "-r", self.repo, "m", "--version", version, "--stage", "prod", "--force"]
    def predict(self): return None

    def count(self):
        return len(_json_of([self.bin, "show", "-r", self.repo, "m", "--json"]))


class Mlflow(Tool):
    name = "MLflow"

    def __init__(self, work: str, venv: str, artifact: str):
        self.bin, self.python = os.path.join(venv, "bin", "mlflow"), os.path.join(venv, "bin", "python")
        self.dir = os.path.join(work, "mlflow")
        os.makedirs(self.dir)
        self.db, self.ops, self.artifact = os.path.join(self.dir, "mlflow.db"), os.path.join(self.dir, "ops.py"), artifact
        with open(self.ops, "w") as f:
            f.write(MLFLOW_OPS)

    def run(self, *args): return [self.python, self.ops, args[0], self.db, *args[1:]]
    def help(self): return [self.bin, "--help"]
    def fill(self, count): subprocess.run(self.run("fill", self.artifact, str(count)), check=True, capture_output=True, cwd=self.dir)
    def register(self): return self.run("register", self.artifact)
    def list(self): return self.run("list")
    def current(self): return self.run("current")
    def promote(self, version): return self.run("promote", version)
    def predict(self): return self.run("predict")
    def cwd(self): return self.dir

    def count(self):
        return int(subprocess.run(self.list(), capture_output=True, text=True, check=True).stdout.split()[-1])


class Bentoml(Tool):
    name = "BentoML"

    def __init__(self, work: str, venv: str, artifact: str):
        self.bin, self.python = os.path.join(venv, "bin", "bentoml"), os.path.join(venv, "bin", "python")
        self.home = os.path.join(work, "bentoml-home")
        self.ops, self.artifact = os.path.join(work, "bentoml_ops.py"), artifact
        with open(self.ops, "w") as f:
            f.write(BENTOML_OPS)

    def env(self): return {**os.environ, "BENTOML_HOME": self.home, "BENTOML_DO_NOT_TRACK": "true"}
    def help(self): return [self.bin, "--help"]

    def fill(self, count):
        subprocess.run([self.python, self.ops, "fill", self.artifact, str(count)], check=True, capture_output=True, env=self.env())

    def register(self): return [self.python, self.ops, "register", self.artifact]
    def list(self): return [self.bin, "models", "list", "m"]
    def current(self): return [self.bin, "models", "get", "m:latest"]
    def promote(self, version): return None
    def predict(self): return [self.python, self.ops, "predict"]
    def count(self): return len(_json_of([self.bin, "models", "list", "m", "-o", "json"], self.env()))


def _json_of(argv: list[str], env: dict | None = None) -> list:
    return json.loads(subprocess.run(argv, capture_output=True, text=True, check=True, env=env).stdout)


def timed(tool: Tool, argv: list[str], runs: int, before: Callable[[], None] | None = None) -> list[float]:
    """``runs`` fresh processes of one command that changes the registry, one after another."""
    samples = []
    for _ in range(runs):
        if before:
            before()
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=tool.env(),
                       cwd=getattr(tool, "cwd", lambda: None)())
        samples.append(time.perf_counter() - start)
    return samples


def concurrent(tool: Tool, writers: int = 8) -> tuple[int, int, int]:
    """``writers`` registrations at once: how many exited 0, how many distinct
    versions those printed, and how many versions the registry gained."""
    before = tool.count()
    argvs = []
    for i in range(writers):
        argv = tool.register()
        if isinstance(tool, Gto):  # each writer registers its own commit
            tool.before_register()
            sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tool.repo, capture_output=True, text=True).stdout.strip()
            argv = argv + [sha]
        argvs.append(argv)
    procs = [subprocess.Popen(a, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=tool.env(),
                              cwd=getattr(tool, "cwd", lambda: None)()) for a in argvs]
    outputs = [(p.communicate()[0], p.returncode) for p in procs]
    ok = [out for out, code in outputs if code == 0]
    pattern = {"mlreg": r" (\d+\.\d+\.\d+\S*) \(ID ", "gto": r"m@(v[\w.]+)", "MLflow": r"version (\d+)",
               "BentoML": r"version (\S+)"}[tool.name]
    found = {m.group(1) for out in ok for m in [re.search(pattern, out)] if m}
    return len(ok), len(found), tool.count() - before


def install(venvs: str) -> None:
    import sklearn

    for name, packages in PEERS.items():
        venv = os.path.join(venvs, packages[0])
        if os.path.exists(os.path.join(venv, "bin", "python")):
            continue
        print(f"installing {name} into {venv}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([os.path.join(venv, "bin", "pip"), "install", "-q", *packages,
                        f"scikit-learn=={sklearn.__version__}", "joblib"], check=True)


def ms(samples: Sequence[float] | None) -> str:
    if not samples:
        return ""
    return f"{statistics.median(samples) * 1000:.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--venvs", required=True, help="folder holding the gto, mlflow and bentoml virtual environments")
    parser.add_argument("--install", action="store_true", help="create the missing environments with pip")
    parser.add_argument("--versions", type=int, default=100)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--only", help="comma-separated tools to run (default: all)")
    args = parser.parse_args()
    if args.install:
        install(args.venvs)
    work = tempfile.mkdtemp(prefix="mlreg-peers-")
    try:
        artifact = iris_artifact(os.path.join(work, "iris.joblib"))
        tools: list[Tool] = [
            Mlreg(work, artifact),
            Gto(work, os.path.join(args.venvs, "gto")),
            Mlflow(work, os.path.join(args.venvs, "mlflow"), artifact),
            Bentoml(work, os.path.join(args.venvs, "bentoml"), artifact),
        ]
        if args.only:
            tools = [t for t in tools if t.name in args.only.split(",")]
        rows: dict[str, dict[str, str]] = {}

        def put(row: str, tool: Tool, value: str) -> None:
            rows.setdefault(row, {})[tool.name] = value

        def attempt(row: str, tool: Tool, measure: Callable[[], str]) -> None:
            """One cell: a tool that fails at some work gets that said in its cell."""
            try:
                put(row, tool, measure())
            except subprocess.CalledProcessError as e:
                put(row, tool, f"failed (exit {e.returncode})")
            print(f"{tool.name}: {row}: {rows[row][tool.name]}", flush=True)

        for tool in tools:
            start = time.perf_counter()
            tool.fill(args.versions - args.runs)
            print(f"{tool.name}: {args.versions - args.runs} versions made in {time.perf_counter() - start:.1f} s", flush=True)
            attempt(f"register a version (at {args.versions})", tool,
                    lambda: ms(timed(tool, tool.register(), args.runs, tool.before_register)))
        help_times = compare({t.name: t.help() for t in tools}, runs=args.runs, warmup=1)
        for tool in tools:
            put("CLI start-up (`--help`)", tool, ms(help_times[tool.name]))
        for tool in tools:
            if isinstance(tool, Bentoml):
                continue
            names = {"mlreg": ("0.2.0", "0.3.0"), "gto": ("v0.0.2", "v0.0.3"), "MLflow": ("2", "3")}[tool.name]
            # back and forth between two versions: a rollback, then a roll forward
            attempt("promote a version", tool, lambda: ms(
                [t for i in range(args.runs) for t in timed(tool, tool.promote(names[i % 2]), 1)]))
        # The rows below read what was just promoted (BentoML: `latest`).
        for row, command in (("list versions", "list"), ("which version is current", "current")):
            for tool in tools:
                attempt(row, tool, lambda: ms([time_once(getattr(tool, command)(), tool.env()) for _ in range(args.runs)]))
        for tool in tools:
            argv = tool.predict()
            if argv is not None:
                attempt("load the current version, predict one row", tool, lambda: ms(timed(tool, argv, args.runs)))
        for tool in tools:
            attempt("8 writers at once: told success / distinct numbers / versions stored", tool,
                    lambda: "{}/8, {}, {}".format(*concurrent(tool)))
        names = [t.name for t in tools]
        print("\n| work (medians, fresh process each) | " + " | ".join(names) + " |")
        print("| --- |" + " --- |" * len(names))
        for row, values in rows.items():
            print(f"| {row} | " + " | ".join(values.get(n, "") for n in names) + " |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
