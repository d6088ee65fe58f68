#!/usr/bin/env bash
# The quick start: a tour of mlreg on a copy of registry-example/, then a deploy of your own.
# Run from the repository root after installing: bash examples/quickstart.sh
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp -r "$here/registry-example" "$work/registry"
export MLREG_REGISTRY="$work/registry"
set -x
mlreg models
mlreg show "Iris Classifier"
mlreg versions iris-classifier
mlreg history iris-classifier
mlreg logs iris-classifier 0.3.0
mlreg status iris-classifier --json
mlreg predict "Iris Classifier" --input '[[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]'
mlreg predict iris-classifier --version 0.1.0 --method predict_proba --input '[[5.9, 3.0, 4.2, 1.5]]'
{ set +x; } 2>/dev/null
python - "$work/tree.joblib" <<'PY'
import sys, joblib
from sklearn.datasets import load_iris
from sklearn.tree import DecisionTreeClassifier
iris = load_iris(as_frame=True)
joblib.dump(DecisionTreeClassifier(max_depth=3).fit(iris.data, iris.target_names[iris.target]), sys.argv[1])
PY
set -x
mlreg deploy "$work/tree.joblib" --name "Iris Classifier" --no-promote --sample-input '[[5.1, 3.5, 1.4, 0.2]]'
mlreg readme check iris-classifier
mlreg promote iris-classifier 0.4.0 --expect-primary 0.2.1
mlreg promote iris-classifier 0.2.1 --expect-primary 0.4.0
mlreg predict "Diabetes Progression" --input '[[0.038, 0.051, 0.062, 0.022, -0.044, -0.035, -0.043, -0.003, 0.020, -0.018]]'
