"""Named steps of the operations that change the registry, for crash tests.

``checkpoint(name)`` does nothing unless the environment variable
``MLREG_TEST_CRASH_AT`` names that step, in which case the process kills
itself with SIGKILL right there: the test suite uses it to prove that a
process killed at any step leaves a registry that works. ``MLREG_TEST_PAUSE_AT``
(``STEP:SECONDS``) sleeps there instead, for race tests. The variables are read
once, at import; no production path changes behaviour when they are unset.
"""

from __future__ import annotations

import os
import signal

_CRASH_AT = os.environ.get("MLREG_TEST_CRASH_AT", "")
_PAUSE_AT, _, _PAUSE_FOR = os.environ.get("MLREG_TEST_PAUSE_AT", "").rpartition(":")

DEPLOY_STEPS = (
    "deploy:staged",          # staging folder made and locked
    "deploy:copied",          # artifact copied and hashed
    "deploy:id-allocated",    # ids/ID created
    "deploy:model-written",   # model.toml records the new highest version
    "deploy:claimed",         # versions/V/.deploy.lock created, the artifact moved in
    "deploy:published",       # versions/V/version.toml created: the version exists
    "deploy:checked",         # the check child has answered
    "deploy:outcome-staged",  # the final record written whole to outcome.toml
    "deploy:primary-written", # model.toml names the new primary
    "deploy:version-written", # the outcome written over version.toml
    "deploy:history-written", # the deploy's outcome in history/ (the log's last line next)
)
PROMOTE_STEPS = ("promote:model-written", "promote:history-written")
README_STEPS = ("readme:written",)
ALIAS_STEPS = ("alias:model-written", "alias:history-written")
DELETE_STEPS = (
    "delete:marked",          # model.toml lists the versions under deleting: gone for readers
    "delete:tombstoned",      # deleted/VERSION.toml written: the number is never given again
    "delete:id-retired",      # ids/ID says "deleted ..."
    "delete:unpublished",     # version.toml removed
    "delete:removed",         # the version's folder removed
    "delete:unmarked",        # model.toml no longer lists it (the history next)
    "delete:history-written", # the delete's event in history/
)
MODEL_DELETE_STEPS = (
    "delete-model:marked",       # model.toml says the model is being deleted: gone for readers
    "delete-model:ids-retired",  # its versions' ID files say "deleted ..."
    "delete-model:removed",      # everything but model.toml removed (model.toml next)
)


def checkpoint(name: str) -> None:
    if _CRASH_AT == name:
        os.kill(os.getpid(), signal.SIGKILL)
    if _PAUSE_AT == name:
        import time

        time.sleep(float(_PAUSE_FOR))
