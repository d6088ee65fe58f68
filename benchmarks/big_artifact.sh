#!/usr/bin/env bash
# Deploy of a large artifact against its floor: `cp A B && sha256sum B` plus a bare
# `joblib.load(A)` in a fresh process, and peak memory (GNU time's max RSS) of each.
# Usage: bash benchmarks/big_artifact.sh [SIZE_MB]   (default 1024; needs mlreg, scikit-learn, /usr/bin/time)
set -euo pipefail
size_mb="${1:-1024}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python - "$work/big.joblib" "$size_mb" <<'PY'
import sys, joblib, numpy as np
from sklearn.dummy import DummyRegressor
model = DummyRegressor().fit([[0.0], [1.0]], [0.0, 1.0])
model.blob_ = np.random.default_rng(0).integers(0, 255, size=int(sys.argv[2]) << 20, dtype=np.uint8)
joblib.dump(model, sys.argv[1])
PY
sync
t() { /usr/bin/time -f "%e s, max RSS %M KB" "$@" 2>&1 >/dev/null | tail -1; }
echo "artifact: $(du -h "$work/big.joblib" | cut -f1)"
echo "floor cp+sha256sum:   $(t sh -c "cp '$work/big.joblib' '$work/copy' && sha256sum '$work/copy'")"
rm -f "$work/copy"
echo "floor bare load:      $(t python -c "import joblib; joblib.load('$work/big.joblib')")"
echo "mlreg deploy:         $(t mlreg --registry "$work/registry" deploy "$work/big.joblib" --name big --sample-input '[[0.5]]')"
echo "mlreg predict:        $(t mlreg --registry "$work/registry" predict big --input '[[0.5]]')"
