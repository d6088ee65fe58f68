"""A small timing harness: fresh processes, interleaved runs, medians with min-max."""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time
from typing import Sequence


def mlreg_bin() -> str:
    """The installed ``mlreg`` script; exit with a hint when there is none."""
    return shutil.which("mlreg") or sys.exit("mlreg is not on PATH: install the project first")


def iris_artifact(path: str) -> str:
    """Write an iris LogisticRegression to ``path`` with joblib (the benchmarks' model)."""
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    joblib.dump(LogisticRegression(max_iter=1000).fit(*load_iris(return_X_y=True)), path)
    return path


def time_once(argv: Sequence[str], env: dict | None = None, cpu: bool = False) -> float:
    """Seconds one run of ``argv`` took: wall-clock, or with ``cpu`` the CPU time (user and
    system) the process used, which a busy machine's waiting for a core does not inflate."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime) if cpu else wall


def instructions(argv: Sequence[str], env: dict | None = None) -> int:
    """The instructions one run of ``argv`` executes, counted by valgrind's callgrind: a
    measure that a busy or shared machine does not move (the same count, run after run,
    to a few parts in a thousand; ``PYTHONHASHSEED`` fixed). It does not see waits (disk,
    network), nor that some instructions cost more than others; read it beside the time."""
    import os

    if shutil.which("valgrind") is None:
        sys.exit("--instructions needs valgrind (apt install valgrind)")
    env = dict(env if env is not None else os.environ, PYTHONHASHSEED="0")
    p = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, check=True)
    counted = [line.split()[-1] for line in p.stderr.splitlines() if "Collected :" in line]
    return int(counted[-1])


def compare(commands: dict[str, Sequence[str]], runs: int, warmup: int = 2, env: dict | None = None,
            cpu: bool = False) -> dict[str, list[float]]:
    """Run each command ``runs`` times, interleaved so machine noise hits all alike
    (``cpu``: their CPU time, not the wall-clock)."""
    for argv in commands.values():
        for _ in range(warmup):
            time_once(argv, env)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, argv in commands.items():
            times[name].append(time_once(argv, env, cpu))
    return times


def summary(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:7.1f} ms  ({min(samples) * 1000:.1f}-{max(samples) * 1000:.1f})"


def report(times: dict[str, list[float]], floor: str) -> None:
    """Each command's median against the floor's; and, as ``compare`` runs them in
    rounds, the median of each round's own ratio ("paired"), which a machine changing
    speed between rounds moves less."""
    base = statistics.median(times[floor])
    width = max(map(len, times))
    for name, samples in times.items():
        line = f"{name:<{width}}  {summary(samples)}  {statistics.median(samples) / base:5.2f}x {floor}"
        if len(samples) == len(times[floor]):
            line += f"  (paired {statistics.median(a / b for a, b in zip(samples, times[floor])):.2f}x)"
        print(line)
