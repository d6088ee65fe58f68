"""The web face of ``mlreg serve`` (SPEC §9): server-rendered pages over the same
``Registry`` calls as the CLI, who may write, and CSRF protection. Nothing here
decides a registry rule: every action is a ``Registry`` method."""
