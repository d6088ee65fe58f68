"""The ``mlreg`` process: the console script and ``python -m mlreg`` both start here."""


def main() -> None:
    """Run this process's command line and leave with its exit code.

    Most of a read command's run is start-up: importing Typer and mlreg builds tens
    of thousands of objects that live as long as the process, and Python's cyclic
    collector would walk them about 30 times as they come (5-7 ms of a `mlreg
    status` of 80-90; docs/performance.md). So the collector is paused while they
    are imported (``collector.paused``); the command itself runs with it on.
    """
    from .collector import paused

    with paused():
        from . import cli
    cli.main()


if __name__ == "__main__":
    main()
