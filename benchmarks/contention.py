"""16 concurrent deploys of one model: all must succeed with distinct versions, each holding
the model's lock for under 20 ms, and the wall time must stay within 1.5x of the same 16
deploys run one after another divided by the number of cores.

Usage: python benchmarks/contention.py [--deploys 16]
Lock hold times come from MLREG_LOCK_TRACE, which makes every lock release append
its hold time to a file.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from _harness import iris_artifact, mlreg_bin  # noqa: E402


def deploy_all(program: str, registry: str, artifact: str, count: int, parallel: bool, trace: str) -> tuple[float, list]:
    env = {**os.environ, "MLREG_LOCK_TRACE": trace}
    argv = [program, "--registry", registry, "deploy", artifact, "--name", "model", "--json"]
    start = time.perf_counter()
    if parallel:
        procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
                 for _ in range(count)]
        results = [(p.wait(), p.stdout.read()) for p in procs]
    else:
        results = []
        for _ in range(count):
            p = subprocess.run(argv, capture_output=True, text=True, env=env)
            results.append((p.returncode, p.stdout))
    return time.perf_counter() - start, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deploys", type=int, default=16)
    args = parser.parse_args()
    program = mlreg_bin()
    work = tempfile.mkdtemp(prefix="mlreg-contention-")
    try:
        artifact = iris_artifact(os.path.join(work, "model.joblib"))
        cores = os.cpu_count() or 1
        rows = {}
        for mode in ("sequential", "concurrent"):
            trace = os.path.join(work, f"{mode}.trace")
            wall, results = deploy_all(program, os.path.join(work, mode), artifact, args.deploys, mode == "concurrent", trace)
            codes = [code for code, _ in results]
            versions = {json.loads(out)["version"] for code, out in results if code == 0}
            with open(trace) as f:
                held = [float(line.split()[0]) for line in f]
            rows[mode] = wall
            print(f"{mode:>10}: {wall:6.2f} s wall; {codes.count(0)}/{args.deploys} Active, "
                  f"{len(versions)} distinct versions; lock held median {statistics.median(held):.2f} ms, "
                  f"max {max(held):.2f} ms over {len(held)} holds")
        budget = rows["sequential"] / cores
        print(f"concurrent / (sequential / {cores} cores) = {rows['concurrent'] / budget:.2f}x (target at most 1.5x)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
