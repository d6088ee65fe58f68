"""Medians of serve_compare.sh's lines, per tree and connection count.

Usage: ROUNDS=6 SECONDS_EACH=10 bash benchmarks/serve_compare.sh OLD | tee out.txt; python benchmarks/serve_medians.py < out.txt
"""

import re
import statistics
import sys

rps: dict[tuple[str, str], list[float]] = {}
for line in sys.stdin:
    found = re.match(r"(.+?) c=(\d+) Requests/sec:\s+([\d.]+)", line.strip())
    if found:
        rps.setdefault((found.group(2), found.group(1)), []).append(float(found.group(3)))
for connections in sorted({c for c, _ in rps}, key=int):
    trees = {tree: values for (c, tree), values in rps.items() if c == connections}
    medians = {tree: statistics.median(values) for tree, values in trees.items()}
    here = medians.get("this checkout")
    others = [t for t in medians if t != "this checkout"]
    ratio = f"  ratio {here / medians[others[0]]:.3f}" if here and others else ""
    print(f"c={connections}: " + ", ".join(f"{t} median {m:.0f} rps ({len(trees[t])} runs, "
                                           f"{min(trees[t]):.0f}-{max(trees[t]):.0f})" for t, m in medians.items()) + ratio)
