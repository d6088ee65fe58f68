#!/usr/bin/env bash
# Requests per second and latency of `mlreg serve` for a one-row prediction of a small
# scikit-learn model, with wrk (Debian package `wrk`) on loopback at 1, 8 and 32 connections.
# Usage: bash benchmarks/serve_load.sh [SECONDS_PER_RUN]   (needs mlreg installed, and wrk)
set -euo pipefail
seconds="${1:-10}"
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 2; }
work="$(mktemp -d)"
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
python - "$work" <<'PY'
import sys, joblib
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
X, y = load_iris(return_X_y=True)
joblib.dump(LogisticRegression(max_iter=1000).fit(X, y), f"{sys.argv[1]}/iris.joblib")
PY
export MLREG_REGISTRY="$work/registry"
mlreg deploy "$work/iris.joblib" --name iris >/dev/null
port=$(python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mlreg serve --port "$port" --no-access-log 2>"$work/serve.log" &
server=$!
until curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; do sleep 0.1; done
cat >"$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"inputs": [[5.1, 3.5, 1.4, 0.2]]}'
wrk.headers["Content-Type"] = "application/json"
LUA
curl -sf -X POST "http://127.0.0.1:$port/v1/models/iris/predict" -d '{"inputs": [[5.1, 3.5, 1.4, 0.2]]}' >/dev/null  # load once
for c in 1 8 32; do
  echo "== $c connection(s), ${seconds}s"
  wrk -t "$(( c < 2 ? 1 : 2 ))" -c "$c" -d "${seconds}s" --latency -s "$work/post.lua" \
    "http://127.0.0.1:$port/v1/models/iris/predict" | grep -E "Requests/sec|50%|99%|Non-2xx|Socket errors"
done
