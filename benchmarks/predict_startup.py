"""mlreg predict against a bare ``joblib.load(A).predict(X)`` in a fresh process, on the same artifact.

Usage: python benchmarks/predict_startup.py [--runs 15]
Target: mlreg predict at most 1.2x the bare load-and-predict.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from _harness import compare, iris_artifact, mlreg_bin, report  # noqa: E402

ROW = "[[5.1, 3.5, 1.4, 0.2]]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="mlreg-bench-")
    try:
        artifact = iris_artifact(os.path.join(work, "iris.joblib"))
        registry = os.path.join(work, "registry")
        program = mlreg_bin()
        compare({"deploy": [program, "--registry", registry, "deploy", artifact, "--name", "iris"]}, runs=1, warmup=0)
        deployed = os.path.join(registry, "models", "iris", "versions", "0.1.0", "model.joblib")
        times = compare(
            {
                "python -c pass": [sys.executable, "-c", "pass"],
                "bare joblib.load(A).predict(X)": [
                    sys.executable, "-c",
                    f"import joblib; print(joblib.load({deployed!r}).predict({ROW}).tolist())",
                ],
                "mlreg predict": [program, "--registry", registry, "predict", "iris", "--input", ROW],
            },
            runs=args.runs,
        )
        report(times, floor="bare joblib.load(A).predict(X)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
