"""Every file and folder name of a registry, once (SPEC §4 and what the design adds).

::

    REGISTRY/
      mlreg.toml                 format marker
      ids/ID                     "folder/version" of each version ID, created exclusively
                                 ("deleted folder/version" once that version is deleted)
      staging/TOKEN/             a deploy being copied, before it has a version
      templates/NAME.toml        the registry's own templates
      models/FOLDER/
        .lock                    the model's lock (flock), never deleted
        model.toml               name, description, primary, highest version, Type, Framework
        history/TIME-RANDOM.json one event (a deploy's outcome, a change of primary, ...) each
        history.jsonl            events as earlier mlreg wrote them, a JSON object a line (read only)
        versions.index3.json     a cache of version records (never the truth); its name carries
                                 its format (earlier releases wrote versions.index.json)
        deleted/VERSION.toml     a deleted version's tombstone: its number is never given again
        README.md
        versions/VERSION/
          .deploy.lock           created by the deploy that claims VERSION, held while it lives
          version.toml
          outcome.toml           a deploy's final record, staged before it takes the primary
          model.joblib           the artifact (``model`` plus the source's suffix)
          code/                  the model's own modules (deploy --code)
          deploy.log
"""

MARKER = "mlreg.toml"
MODELS, STAGING, IDS, TEMPLATES = "models", "staging", "ids", "templates"
MODEL_FILE, VERSION_FILE, HISTORY_FILE, README_FILE = "model.toml", "version.toml", "history.jsonl", "README.md"
HISTORY = "history"
DELETED = "deleted"
OUTCOME_FILE = "outcome.toml"
VERSIONS = "versions"
LOCK_FILE, DEPLOY_LOCK = ".lock", ".deploy.lock"
CODE_DIR = "code"
SIGNED_FILE, SIGNATURES = "signed.toml", "signatures"
LOG_FILE = "deploy.log"


# Storage keys (``mlreg.storage``): the same names, relative to the registry.

def model_key(folder: str, name: str = "") -> str:
    """The model's folder, or a file in it (MODEL_FILE, README_FILE, ...)."""
    return f"{MODELS}/{folder}/{name}" if name else f"{MODELS}/{folder}"


def versions_key(folder: str) -> str:
    return f"{MODELS}/{folder}/{VERSIONS}"


def version_key(folder: str, vfolder: str, name: str = "") -> str:
    """A version's folder, or a file in it."""
    return f"{MODELS}/{folder}/{VERSIONS}/{vfolder}/{name}" if name else f"{MODELS}/{folder}/{VERSIONS}/{vfolder}"


def deleted_key(folder: str, vfolder: str = "") -> str:
    """A deleted version's tombstone (or the folder of them)."""
    return f"{MODELS}/{folder}/{DELETED}/{vfolder}.toml" if vfolder else f"{MODELS}/{folder}/{DELETED}"


def history_key(folder: str, name: str = "") -> str:
    return f"{MODELS}/{folder}/{HISTORY}/{name}" if name else f"{MODELS}/{folder}/{HISTORY}"


def id_key(version_id: str) -> str:
    return f"{IDS}/{version_id}"


def staging_key(token: str, name: str = "") -> str:
    return f"{STAGING}/{token}/{name}" if name else f"{STAGING}/{token}"
