"""Named steps of the operations that change the registry, for crash tests.

``checkpoint(name)`` does nothing unless the environment variable
``MLREG_TEST_CRASH_AT`` names that step, in which case the process kills
itself with SIGKILL right there: the test suite uses it to prove that a
process killed at any step leaves a registry that works. The variable is read
once, at import; no production path changes behaviour when it is unset.
"""

from __future__ import annotations

import os
import signal

_CRASH_AT = os.environ.get("MLREG_TEST_CRASH_AT", "")

DEPLOY_STEPS = (
    "deploy:staged",          # staging folder made and locked
    "deploy:copied",          # artifact copied and hashed
    "deploy:id-allocated",    # ids/ID created, before the model's lock
    "deploy:model-written",   # model.toml records the new highest version
    "deploy:published",       # version folder renamed into versions/
    "deploy:checked",         # the check child has answered
    "deploy:outcome-staged",  # the final record written whole to outcome.toml
    "deploy:primary-written", # model.toml names the new primary
    "deploy:version-written", # outcome.toml renamed over version.toml
    "deploy:history-written", # deploy outcome appended to history.jsonl (the log's last line next)
)
PROMOTE_STEPS = ("promote:model-written", "promote:history-written")
README_STEPS = ("readme:written",)


def checkpoint(name: str) -> None:
    if _CRASH_AT == name:
        os.kill(os.getpid(), signal.SIGKILL)
