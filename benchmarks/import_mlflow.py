"""`mlreg import-mlflow` of an N-version MLflow registry against N `mlreg deploy` runs of
the same artifact in a shell loop (the floor, measured in the same run).

Usage: python benchmarks/import_mlflow.py [--versions 100]

The MLflow file store is made from the test fixture's first iris version (an MLflow
3 logged model, a pickled LogisticRegression with an input example): its
registered-model folder is given N versions that all name that logged model, so
each import deploys and checks the same bytes the shell loop deploys. Target: the
import at most 0.7x the loop's time on 2 cores (the checks run side by side, one
per core, in one process; the loop pays a process start and a check per deploy).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _harness import mlreg_bin  # noqa: E402

FIXTURE = os.path.join(os.path.dirname(HERE), "tests", "fixtures", "mlflow", "mlruns")


def make_store(work: str, count: int) -> tuple[str, str]:
    """An mlruns folder whose model ``bench`` has ``count`` versions of one artifact; and
    that artifact's MLmodel folder."""
    store = os.path.join(work, "mlruns")
    shutil.copytree(FIXTURE, store)
    models = os.path.join(store, "models")
    source = os.path.join(models, "iris-classifier", "version-1")
    meta = open(os.path.join(source, "meta.yaml")).read()
    bench = os.path.join(models, "bench")
    os.makedirs(bench)
    with open(os.path.join(bench, "meta.yaml"), "w") as f:
        f.write("name: bench\ncreation_timestamp: 1796633775614\ndescription: ''\n")
    for n in range(1, count + 1):
        os.makedirs(os.path.join(bench, f"version-{n}"))
        with open(os.path.join(bench, f"version-{n}", "meta.yaml"), "w") as f:
            f.write(meta.replace("name: iris-classifier", "name: bench").replace("version: 1\n", f"version: {n}\n")
                    .replace("current_stage: Archived", "current_stage: None"))
    location = [line.split(": ", 1)[1] for line in meta.splitlines() if line.startswith("storage_location")][0]
    mlmodel = os.path.join(store, location.split("/mlruns/", 1)[1])
    return store, mlmodel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        store, mlmodel = make_store(work, args.versions)
        sample = '[[5.1, 3.5, 1.4, 0.2]]'
        loop = (f'for i in $(seq {args.versions}); do "{mlreg_bin()}" --registry "{work}/loop" deploy '
                f'"{mlmodel}/model.pkl" --name bench --sample-input \'{sample}\' >/dev/null 2>&1 || exit 1; done')
        started = time.perf_counter()
        subprocess.run(["bash", "-c", loop], check=True)
        floor = time.perf_counter() - started
        started = time.perf_counter()
        subprocess.run([mlreg_bin(), "--registry", os.path.join(work, "imported"), "import-mlflow", store,
                        "--model", "bench"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        took = time.perf_counter() - started
        listed = subprocess.run([mlreg_bin(), "--registry", os.path.join(work, "imported"), "versions", "bench",
                                 "--json"], check=True, capture_output=True, text=True).stdout
        assert listed.count('"status": "active"') == args.versions, "not every version imported Active"
    print(f"{args.versions} versions on {os.cpu_count()} cores:")
    print(f"  {args.versions} `mlreg deploy` runs in a shell loop (floor): {floor:7.1f} s")
    print(f"  `mlreg import-mlflow`:                        {took:7.1f} s  ({took / floor:.2f}x; target 0.7x)")


if __name__ == "__main__":
    main()
