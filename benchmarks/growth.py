"""How mlreg's commands grow with the registry: 10, 100, 1,000 and 10,000 versions of one
model, and 1,000 models.

Usage: python benchmarks/growth.py [--runs 7] [--sizes 10,100,1000,10000] [--cpu]

Registries are built by deploying one real version, then cloning its folder with
fresh numbers and IDs (deploying 10,000 versions one by one would take hours of
deploy checks); every clone is a valid version, as `mlreg doctor` confirms.
Targets: `versions NAME --json` under 0.5 s at 10,000 versions; `status NAME`
and `predict` (whose lookup of the primary is status's) within 1.2x of the
same at 10 versions; `deploy` at 10,000 within 1.2x of
deploy at 10; `models` with 1,000 models under 1 s. ``--cpu`` times the read commands
by the CPU time their process used (user and system: what a busy machine's waits for a
core do not inflate; a single-threaded command's wall-clock on an idle one).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from _harness import compare, mlreg_bin, summary  # noqa: E402


def build(root: str, versions: int, artifact: str) -> str:
    import mlreg
    from mlreg import atomic, metadata

    path = os.path.join(root, f"reg-{versions}")
    reg = mlreg.Registry(path)
    first = reg.deploy(artifact, "model")
    vroot = os.path.join(path, "models", "model", "versions")
    template = metadata.read_toml(os.path.join(vroot, "0.1.0", "version.toml"))
    for i in range(2, versions + 1):
        number = f"0.{i}.0"
        vid = f"x{i:07d}"
        shutil.copytree(os.path.join(vroot, "0.1.0"), os.path.join(vroot, number))
        metadata.write_toml(os.path.join(vroot, number, "version.toml"), {**template, "version": number, "id": vid})
        atomic.create_exclusive(os.path.join(path, "ids", vid), f"model/{number}\n")
    model_toml = os.path.join(path, "models", "model", "model.toml")
    data = metadata.read_toml(model_toml)
    data.update(primary=f"0.{versions}.0", highest_version=f"0.{versions}.0")
    metadata.write_toml(model_toml, data)
    assert first.version == "0.1.0"
    return path


def build_models(root: str, models: int, artifact: str) -> str:
    import mlreg

    path = os.path.join(root, f"models-{models}")
    mlreg.Registry(path).deploy(artifact, "model 0")
    source = os.path.join(path, "models", "model-0")
    for i in range(1, models):
        target = os.path.join(path, "models", f"model-{i}")
        shutil.copytree(source, target)
        toml = os.path.join(target, "model.toml")
        with open(toml) as f:
            text = f.read().replace('"model 0"', f'"model {i}"').replace('"model-0"', f'"model-{i}"')
        with open(toml, "w") as f:
            f.write(text)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--sizes", default="10,100,1000,10000")
    parser.add_argument("--cpu", action="store_true", help="time the read commands by CPU time")
    args = parser.parse_args()
    program = mlreg_bin()
    import joblib
    from sklearn.dummy import DummyClassifier

    work = tempfile.mkdtemp(prefix="mlreg-growth-")
    try:
        artifact = os.path.join(work, "model.joblib")
        joblib.dump(DummyClassifier().fit([[0], [1]], [0, 1]), artifact)
        sizes = [int(s) for s in args.sizes.split(",")]
        rows = []
        for n in sizes:
            path = build(work, n, artifact)
            base = [program, "--registry", path]
            times = compare({
                "versions --json": base + ["versions", "model", "--json"],
                "status": base + ["status", "model"],
                "predict": base + ["predict", "model", "--input", "[[0]]"],
            }, runs=args.runs, warmup=1, cpu=args.cpu)
            deploy = compare({"deploy": base + ["deploy", artifact, "--name", "model", "--check-timeout", "60"]},
                             runs=3, warmup=0)
            rows.append((n, times["versions --json"], times["status"], deploy["deploy"], times["predict"]))
            print(f"{n:>6} versions: versions --json {summary(times['versions --json'])}; "
                  f"status {summary(times['status'])}; deploy {summary(deploy['deploy'])}; "
                  f"predict {summary(times['predict'])}", flush=True)
        first = rows[0]
        print("\n| versions | versions --json | status | deploy | predict | status / at 10 | deploy / at 10 | predict / at 10 |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for n, v, s, d, p in rows:
            print(f"| {n} | {summary(v)} | {summary(s)} | {summary(d)} | {summary(p)} | "
                  f"{statistics.median(s) / statistics.median(first[2]):.2f}x | "
                  f"{statistics.median(d) / statistics.median(first[3]):.2f}x | "
                  f"{statistics.median(p) / statistics.median(first[4]):.2f}x |")
        models_path = build_models(work, 1000, artifact)
        m = compare({"models": [program, "--registry", models_path, "models"]}, runs=args.runs, warmup=1,
                    cpu=args.cpu)
        print(f"\n1000 models: models {summary(m['models'])}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
