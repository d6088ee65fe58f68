"""The cost of serve's predict path without sockets: ``ModelService.handle`` of a one-row
predict of a small scikit-learn model, against a floor measured in the same run (the
same model's ``predict`` on the same row, as a numpy array).

Usage: python benchmarks/serve_handle.py [--calls 2000] [--runs 7]
Compare two versions of mlreg in one run by putting one first on PYTHONPATH
(e.g. a ``git worktree`` of the previous commit) and alternating.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    import joblib
    import numpy as np
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    import mlreg
    from mlreg.server import ModelService

    work = tempfile.mkdtemp(prefix="mlreg-bench-")
    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=1000).fit(X, y)
    joblib.dump(model, f"{work}/iris.joblib")
    warnings.simplefilter("ignore")
    reg = mlreg.Registry(f"{work}/registry")
    reg.deploy(f"{work}/iris.joblib", "iris")
    service = ModelService(reg)
    body = b'{"inputs": [[5.1, 3.5, 1.4, 0.2]]}'
    row = np.asarray([[5.1, 3.5, 1.4, 0.2]])
    assert service.handle("POST", "/v1/models/iris/predict", body)[0] == 200

    def per_call(fn) -> float:
        runs = []
        for _ in range(args.runs):
            start = time.perf_counter()
            for _ in range(args.calls):
                fn()
            runs.append((time.perf_counter() - start) / args.calls * 1e6)
        return statistics.median(runs)

    floor = per_call(lambda: model.predict(row))
    handled = per_call(lambda: service.handle("POST", "/v1/models/iris/predict", body))
    print(f"mlreg from {mlreg.__file__}")
    print(f"bare predict      {floor:8.1f} us")
    print(f"ModelService.handle {handled:6.1f} us  ({handled / floor:.2f}x the bare predict)")


if __name__ == "__main__":
    main()
