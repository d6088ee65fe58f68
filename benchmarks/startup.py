"""Start-up of read commands against the framework's own floor, in one run.

Usage: python benchmarks/startup.py [--runs 30] [--cpu | --instructions]
Floor: a minimal two-command Typer app on the same interpreter that prints one line.
Target: `mlreg status NAME` and `mlreg versions NAME` (10 versions) at most 1.0x
the floor, `mlreg --help` at most 1.1x (medians). Install mlreg with `pip install .` first: an
editable install adds an import hook to every start. ``--cpu`` compares the CPU
time each process used (user and system), which a busy machine's waits for a core
do not inflate, instead of the wall-clock; ``--instructions`` counts the
instructions of one run of each under valgrind, which no noise moves.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile

import joblib

sys.path.insert(0, os.path.dirname(__file__))
from _harness import compare, instructions, mlreg_bin, report  # noqa: E402

FLOOR_APP = """
import typer
app = typer.Typer()
@app.command()
def status(name: str):
    print(name)
@app.command()
def versions(name: str):
    print(name)
app()
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--cpu", action="store_true", help="compare CPU time, not the wall-clock")
    parser.add_argument("--instructions", action="store_true",
                        help="count instructions (valgrind) instead of timing: one run each, after a warm-up")
    args = parser.parse_args()
    program = mlreg_bin()
    work = tempfile.mkdtemp(prefix="mlreg-bench-")
    try:
        import mlreg

        # The floor's script sits in a fresh folder: Python looks in a script's folder first
        # for every import, and one crowded folder (a /tmp of thousands of entries) costs the
        # floor 8-10% more, which would flatter every ratio.
        floor = os.path.join(work, "floor.py")
        with open(floor, "w") as f:
            f.write(FLOOR_APP)
        artifact = os.path.join(work, "model.joblib")
        reg = mlreg.Registry(os.path.join(work, "registry"))
        from sklearn.dummy import DummyClassifier

        joblib.dump(DummyClassifier().fit([[0], [1]], [0, 1]), artifact)
        for _ in range(10):
            reg.deploy(artifact, "model")
        base = [program, "--registry", reg.path]
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "two-command Typer app": [sys.executable, floor, "status", "x"],
            "mlreg status model": base + ["status", "model"],
            "mlreg versions model": base + ["versions", "model"],
            "mlreg --help": [program, "--help"],
        }
        if args.instructions:
            counts = {}
            for name, argv in commands.items():
                compare({name: argv}, runs=0)  # the warm-up: caches written, as in a shell loop
                counts[name] = instructions(argv)
            floor_count = counts["two-command Typer app"]
            for name, count in counts.items():
                print(f"{name:<22}  {count / 1e6:7.1f}M instructions  {count / floor_count:5.3f}x two-command Typer app")
            return
        times = compare(commands, runs=args.runs, cpu=args.cpu)
        report(times, floor="two-command Typer app")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
