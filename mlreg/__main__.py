"""The ``mlreg`` process: the console script and ``python -m mlreg`` both start here."""

import gc


def main() -> None:
    """Run this process's command line and leave with its exit code.

    Most of a read command's run is start-up: importing the framework and mlreg
    builds tens of thousands of objects (modules, classes, functions) that live
    as long as the process, and Python's cyclic collector walks them again and
    again as they come, about 30 collections and 5-7 ms of a `mlreg status`
    that takes 80-90 ms in all (docs/performance.md). So the collector is held
    off while they are imported, then those objects are frozen out of every
    later collection (``gc.freeze``), and the command itself runs with the
    collector on as usual: a long `serve` or a large deploy collects its
    garbage as any program does.
    """
    gc.disable()
    try:
        from . import cli
    finally:
        gc.freeze()
        gc.enable()
    cli.main()


if __name__ == "__main__":
    main()
