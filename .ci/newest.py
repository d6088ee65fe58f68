"""Prove that this environment holds the newest releases the dependency ranges allow.

A fresh machine installs the newest releases its ranges allow (a new semver once
broke a test that way), so CI must test exactly those. pip resolves the project
again, eagerly upgrading everything it depends on, without installing anything;
if that resolve would change any package, this environment is not what a fresh
machine gets: exit 1, naming them. Otherwise print the direct dependencies'
versions, which the test run then proves.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import tempfile
import tomllib


def main() -> int:
    with tempfile.TemporaryDirectory() as scratch:
        report = os.path.join(scratch, "report.json")
        subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--upgrade", "--upgrade-strategy",
                        "eager", "--quiet", "--disable-pip-version-check", "--report", report, "-e", ".[test]"],
                       check=True, stdout=subprocess.DEVNULL)
        with open(report, encoding="utf-8") as f:
            planned = json.load(f)["install"]
    changes = [f"{p['metadata']['name']} {p['metadata']['version']}" for p in planned
               if p["metadata"]["name"].lower() != "mlreg"]
    with open("pyproject.toml", "rb") as f:
        project = tomllib.load(f)["project"]
    for line in project["dependencies"] + project["optional-dependencies"]["test"]:
        name = line.split(";")[0].split("[")[0]
        for sep in "<>=!~ ":
            name = name.split(sep)[0]
        try:
            print(f"{line}: {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            changes.append(f"{name} (not installed)")
    if changes:
        print("a fresh install would get newer releases than this environment holds: " + ", ".join(changes))
        return 1
    print("these are the newest releases the ranges allow (a fresh resolve changes nothing)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
