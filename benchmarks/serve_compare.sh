#!/usr/bin/env bash
# Requests per second and latency of `mlreg serve` (one-row iris predictions, wrk on loopback at 1, 8
# and 32 connections) for this checkout and for an older commit, alternately, in one run: the
# machine's noise hits both alike.
# Usage: bash benchmarks/serve_compare.sh OLD_COMMIT   (needs wrk, curl and the project's venv active)
#        ROUNDS=6 SECONDS_EACH=10 bash benchmarks/serve_compare.sh OLD_COMMIT   (longer, for small differences;
#        then the medians: ... | python benchmarks/serve_medians.py)
set -euo pipefail
old_commit="${1:?give the commit to compare against}"
here="$(cd "$(dirname "$0")/.." && pwd)"
work=$(mktemp -d)
git -C "$here" worktree add -q "$work/old" "$old_commit"
trap 'pkill -f "mlreg --registry $work/registry serve" 2>/dev/null || true; git -C "$here" worktree remove --force "$work/old"; rm -rf "$work"' EXIT
python - "$work" <<'PY'
import sys, joblib
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
X, y = load_iris(return_X_y=True)
joblib.dump(LogisticRegression(max_iter=1000).fit(X, y), f"{sys.argv[1]}/iris.joblib")
PY
cat >"$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"inputs": [[5.1, 3.5, 1.4, 0.2]]}'
wrk.headers["Content-Type"] = "application/json"
LUA
python -m mlreg --registry "$work/registry" deploy "$work/iris.joblib" --name iris >/dev/null
for round in $(seq "${ROUNDS:-2}"); do
for tree in "$work/old" "$here"; do
  port=$(python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  PYTHONPATH=$tree python -m mlreg --registry "$work/registry" serve --port "$port" --no-access-log >/dev/null 2>&1 &
  server=$!
  until curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; do sleep 0.1; done
  curl -sf -X POST "http://127.0.0.1:$port/v1/models/iris/predict" -d '{"inputs": [[5.1, 3.5, 1.4, 0.2]]}' >/dev/null
  for c in 1 8 32; do
    r=$(wrk -t "$(( c < 2 ? 1 : 2 ))" -c "$c" -d "${SECONDS_EACH:-5}s" --latency -s "$work/post.lua" "http://127.0.0.1:$port/v1/models/iris/predict")
    echo "$([ "$tree" = "$here" ] && echo "this checkout" || echo "$old_commit") c=$c $(echo "$r" | grep Requests/sec) p50 $(echo "$r" | grep ' 50%' | awk '{print $2}') p99 $(echo "$r" | grep ' 99%' | awk '{print $2}')"
  done
  kill $server; wait $server 2>/dev/null || true
done
done
