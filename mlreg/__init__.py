"""mlreg: a model registry that lives in a directory.

``import mlreg`` gives the Python client; it never imports the CLI, Typer or rich::

    reg = mlreg.Registry("./registry")
    reg.deploy(model, name="Iris Classifier", version_bump="PATCH")
    reg.versions("iris classifier")
"""

from .errors import (
    BadInput,
    Busy,
    CheckNotPassed,
    Conflict,
    DeploymentFailed,
    FormatTooNew,
    IntegrityError,
    InvalidName,
    InvalidVersion,
    LockTimeout,
    MlregError,
    ModelNotFound,
    NotActive,
    NotFound,
    NotWritable,
    PrimaryMoved,
    ReadmeChanged,
    RegistryNotFound,
    StillDeploying,
    UsageError,
    VersionExists,
    VersionNotFound,
)
from .metadata import HistoryEvent, ModelRecord, VersionRecord
from .store import ModelInfo, ModelOverview, PromoteResult, Registry

__version__ = "0.1.0"

__all__ = [
    "BadInput", "Busy", "CheckNotPassed", "Conflict", "DeploymentFailed", "FormatTooNew",
    "HistoryEvent", "IntegrityError", "InvalidName", "InvalidVersion", "LockTimeout",
    "MlregError", "ModelInfo", "ModelNotFound", "ModelOverview", "ModelRecord", "NotActive",
    "NotFound", "NotWritable", "PrimaryMoved", "PromoteResult", "ReadmeChanged", "Registry", "RegistryNotFound",
    "StillDeploying", "UsageError", "VersionExists", "VersionNotFound", "VersionRecord",
    "__version__",
]
