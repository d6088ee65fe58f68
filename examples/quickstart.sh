#!/usr/bin/env bash
# A five-minute tour of mlreg against a throw-away registry.
# Run from the repository root after installing: bash examples/quickstart.sh
set -euo pipefail
export MLREG_REGISTRY="${MLREG_REGISTRY:-$(mktemp -d)/registry}"
work="$(mktemp -d)"
python - "$work" <<'PY'
import sys, joblib
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier
X, y = load_iris(return_X_y=True)
joblib.dump(LogisticRegression(max_iter=1000).fit(X, y), f"{sys.argv[1]}/iris-logreg.joblib")
joblib.dump(DecisionTreeClassifier().fit(X, y), f"{sys.argv[1]}/iris-tree.joblib")
PY
set -x
mlreg init
mlreg deploy "$work/iris-logreg.joblib" --name "Iris Classifier" \
  --description "Species of an iris from 4 measurements" --sample-input '[[5.1, 3.5, 1.4, 0.2]]'
mlreg deploy "$work/iris-tree.joblib" --name "iris classifier" --sample-input '[[5.1, 3.5, 1.4, 0.2]]'
mlreg versions "Iris Classifier"
mlreg promote iris-classifier 0.1.0 --expect-primary 0.2.0
mlreg status iris-classifier --json
mlreg history iris-classifier
mlreg show iris-classifier
