"""What checking a signature costs a load: `mlreg predict` of a model of the user's own
class (which the default policy loads only when vouched for), vouched by a signature
of the user's key, against the same version vouched by its sha256 under the trust
file's [models] (no cryptography at all), in fresh processes, in one run.

Each sample times, in a fresh process, the decision a load makes before it reads the
artifact (where the signature is checked). "first check" clears the per-user mark of proven signatures before each run, so it
pays the import of cryptography and one ECDSA verification; "signed" is every later
predict of that version (the mark is there: the bundle is read and its statement
compared, no ECDSA).

Usage: python benchmarks/signing.py [--runs 15]
Target: signature verification adds at most 20 ms beyond the hashing already done.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from _harness import mlreg_bin, summary  # noqa: E402

MODEL = '''
class Scaled:
    def __init__(self, factor):
        self.factor = factor

    def predict(self, rows):
        return [self.factor * sum(r) for r in rows]
'''


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="mlreg-bench-")
    try:
        with open(os.path.join(work, "scaled.py"), "w") as f:
            f.write(MODEL)
        # (bytecode written and reused, as an installed package's is: the first round writes it)
        env = {**{k: v for k, v in os.environ.items() if k not in ("MLREG_TRUST_FILE", "PYTHONDONTWRITEBYTECODE")},
               "XDG_CONFIG_HOME": os.path.join(work, "config"), "XDG_CACHE_HOME": os.path.join(work, "cache"),
               "PYTHONPATH": work}
        subprocess.run([sys.executable, "-c", "import joblib, scaled; joblib.dump(scaled.Scaled(2), 'm.joblib')"],
                       cwd=work, check=True, env=env)
        program, registry = mlreg_bin(), os.path.join(work, "registry")
        base = [program, "--registry", registry]
        subprocess.run(base + ["keys", "init"], check=True, env=env, stdout=subprocess.DEVNULL)
        deployed = json.loads(subprocess.run(base + ["deploy", os.path.join(work, "m.joblib"), "--name", "m", "--json"],
                                             check=True, env=env, capture_output=True, text=True).stdout)
        assert deployed["trusted"], deployed
        pinned = os.path.join(work, "pinned.toml")  # vouched by hash, and no [signers]: the key is never asked
        with open(pinned, "w") as f:
            f.write(f'[models]\nm = ["{deployed["sha256"]}"]\n')
        marks = os.path.join(work, "cache", "mlreg", "verified")
        # Each sample is a fresh process timing the decision a load makes before it reads the
        # artifact (integrity.check_callable + load_rule), which is where a signature is checked:
        # the rest of predict is the same for all three, and the machine's noise is not in it.
        # What every predict imports anyway (joblib, mlreg's predict) is imported first.
        probe = (
            "import sys, time; import joblib, mlreg, mlreg.predict  # what every predict imports anyway\n"
            "from mlreg.ops.integrity import check_callable, load_rule\n"
            "reg = mlreg.Registry(sys.argv[1], trust_file=sys.argv[2] or None); record = reg.status('m')\n"
            "start = time.perf_counter(); rule = load_rule(reg.repo, record, check_callable(record, reg.trust_file))\n"
            "assert rule is None, rule; print(time.perf_counter() - start)")
        times: dict[str, list[float]] = {"[models] (no signature checked)": [], "signed, first check": [],
                                         "signed": []}
        for run in range(args.runs + 1):
            for name, trust, clear in (("[models] (no signature checked)", pinned, False),
                                       ("signed, first check", "", True), ("signed", "", False)):
                if clear:
                    shutil.rmtree(marks, ignore_errors=True)
                out = subprocess.run([sys.executable, "-c", probe, registry, trust], check=True, env=env,
                                     capture_output=True, text=True).stdout
                if run:  # the first round warms the file cache
                    times[name].append(float(out))
        floor = sorted(times["[models] (no signature checked)"])[args.runs // 2]
        for name, samples in times.items():
            median = sorted(samples)[len(samples) // 2]
            print(f"{name:34s} {summary(samples)}  (+{(median - floor) * 1000:.1f} ms)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
