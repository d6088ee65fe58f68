"""What an ONNX version saves a caller: `mlreg predict` (start to answer, fresh
processes, interleaved) of one 200-tree random forest deployed twice, as joblib and
converted with `deploy --format onnx`, in one run. The ONNX version needs no
scikit-learn: onnxruntime runs the graph.

Usage: python benchmarks/onnx_predict.py [--runs 9]
Target: onnx at most 0.5x joblib (SPEC §11; issue 22).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from _harness import compare, mlreg_bin, report  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    import joblib
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    work = tempfile.mkdtemp(prefix="mlreg-bench-")
    try:
        X, y = make_classification(n_samples=2_000, n_features=20, n_informative=10, random_state=0)
        artifact = os.path.join(work, "forest.joblib")
        joblib.dump(RandomForestClassifier(n_estimators=200, max_depth=12, random_state=0).fit(X, y), artifact)
        program, registry = mlreg_bin(), os.path.join(work, "registry")
        sample = json.dumps(X[:50].tolist())
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        compare({"deploy joblib": [program, "--registry", registry, "deploy", artifact, "--name", "joblib"],
                 "deploy onnx": [program, "--registry", registry, "deploy", artifact, "--name", "onnx",
                                 "--format", "onnx", "--sample-input", sample]}, runs=1, warmup=0, env=env)
        row = json.dumps(X[:1].tolist())
        times = compare({name: [program, "--registry", registry, "predict", name, "--input", row]
                         for name in ("joblib", "onnx")}, runs=args.runs, warmup=1, env=env)
        report(times, floor="joblib")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
