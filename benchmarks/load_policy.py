"""What the default load policy costs: `mlreg predict` of a large random forest under
`allowlist` (the pickle's imports read from its opcodes, then a restricted
unpickler) against the same command under `load = "pickle"` (a plain joblib.load),
in fresh processes, on one artifact, in one run.

Usage: python benchmarks/load_policy.py [--runs 7] [--megabytes 100]
Target: allowlist at most 1.05x pickle (SPEC §11: the walk adds at most 5%).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from _harness import compare, mlreg_bin, report  # noqa: E402

ROW = "[[" + ", ".join(["0.5"] * 20) + "]]"


def forest(path: str, megabytes: int) -> str:
    """A random forest on 20 features whose joblib file is about ``megabytes`` MB."""
    import joblib
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    X, y = make_classification(n_samples=20_000, n_features=20, n_informative=10, random_state=0)
    trees = 10
    model = RandomForestClassifier(n_estimators=trees, random_state=0, n_jobs=-1).fit(X, y)
    joblib.dump(model, path)
    per_tree = os.path.getsize(path) / trees
    model.set_params(n_estimators=max(1, int(megabytes * 1e6 / per_tree)))
    model.fit(X, y)
    joblib.dump(model, path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--megabytes", type=int, default=100)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="mlreg-bench-")
    try:
        artifact = forest(os.path.join(work, "forest.joblib"), args.megabytes)
        print(f"artifact: {os.path.getsize(artifact) / 1e6:.0f} MB")
        registry = os.path.join(work, "registry")
        program = mlreg_bin()
        compare({"deploy": [program, "--registry", registry, "deploy", artifact, "--name", "forest"]}, runs=1, warmup=0)
        trust = os.path.join(work, "pickle.toml")
        with open(trust, "w") as f:
            f.write('[policy]\nload = "pickle"\n')
        predict = [program, "--registry", registry, "predict", "forest", "--input", ROW]
        env = {k: v for k, v in os.environ.items() if k != "MLREG_TRUST_FILE"}
        times = compare({"load = \"pickle\" (joblib.load)": [program, "--trust-file", trust, *predict[1:]],
                         "allowlist (the default)": predict}, runs=args.runs, warmup=1, env=env)
        report(times, floor="load = \"pickle\" (joblib.load)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
