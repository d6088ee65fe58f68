"""``python -m mlreg``: the same CLI as the ``mlreg`` command."""

from mlreg.cli import main

main()
