"""The ``Registry``: mlreg's public facade. Each method is a few lines over the
repository (``mlreg.repo``: records <-> the tree) and the operations that change
it (``mlreg.ops``: deploy, promote, docs) or examine it (``mlreg.doctor``).

Rules: a write that others can see is atomic; every read-modify-write of a
model's shared state goes through ``Repository.update``, the one compare-and-swap;
the copy, the hash and the check run outside any lock; readers never lock.
"""

from __future__ import annotations

import os
import warnings
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from . import collector, versions
from .errors import (
    IntegrityError,
    InvalidVersion,
    NotActive,
    PartlyUnreadable,
    PolicyRefusal,
    UsageError,
    VersionNotFound,
)
from .location import ENV_TRUST_FILE, resolve_lock_timeout, resolve_registry
from .metadata import HistoryEvent, ModelInfo, VersionRecord, status_named
from .repo import Repository
from .views import prediction

if TYPE_CHECKING:
    from .doctor import Report, Verified
    from .model import Model, ModelOverview
    from .ops.aliases import AliasResult
    from .ops.diff import Diff
    from .predictor import Predictor
    from .storage.base import Storage
    from .ops.promote import PromoteResult
    from .ops.signing import SignatureCheck
    from .ops.transfer import TransferResult
    from .templates import Template

__all__ = ["ModelInfo", "ModelOverview", "PromoteResult", "Registry", "prediction"]


def __getattr__(name: str) -> Any:
    # PromoteResult lives with promote, ModelOverview with Model: imported on first use.
    if name == "PromoteResult":
        from .ops.promote import PromoteResult

        return PromoteResult
    if name == "ModelOverview":
        from .model import ModelOverview

        return ModelOverview
    raise AttributeError(name)


class Registry:
    """A model registry in a folder or a bucket; every mlreg operation is a method.

    ``path`` is chosen like the CLI's: the argument, else ``MLREG_REGISTRY``,
    else the per-user data folder. ``lock_timeout`` (seconds, -1 for ever)
    bounds the wait for a model's lock; default ``MLREG_LOCK_TIMEOUT`` or 30.
    ``trust_file`` (default ``MLREG_TRUST_FILE``) names a file kept outside
    the registry that lists the sha256 values each model may load (see
    ``mlreg.trust``); without one, loads trust the registry's own records.

    Example::

        reg = mlreg.Registry("./registry")
        record = reg.deploy("model.joblib", name="Iris Classifier")
        reg.promote("iris classifier", "0.1.0")
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, lock_timeout: float | None = None,
                 trust_file: str | os.PathLike[str] | None = None, storage: Storage | None = None) -> None:
        self.lock_timeout = resolve_lock_timeout(lock_timeout)
        chosen = trust_file or os.environ.get(ENV_TRUST_FILE)
        self.trust_file = os.path.abspath(os.fspath(chosen)) if chosen else None
        if storage is None:
            from .storage import open_storage

            storage = open_storage(resolve_registry(path), self.lock_timeout)
        self.repo = Repository(storage)
        self.path = self.repo.path
        self._predictor: Predictor | None = None

    def __repr__(self) -> str:
        return f"Registry({self.path!r})"

    def models(self) -> list[ModelInfo]:
        """Every model, sorted by folder name.

        Raises:
            RegistryNotFound, FormatTooNew.
            PartlyUnreadable: some models' metadata cannot be read; ``error.found``
                lists the others, ``error.problems`` names each bad file.
        """
        self.repo.require()
        found, problems = [], []
        for folder in self.repo.model_folders():
            try:
                record = self.repo.read_model(folder)
                if record.deleting_model is None:  # else its delete has begun
                    found.append(self.repo.info(record))
            except FileNotFoundError:
                continue  # a first deploy that has not written model.toml yet
            except IntegrityError as e:
                problems.append(str(e))  # one model's bad metadata must not hide the others
        if problems:
            raise PartlyUnreadable.of(found, problems, "model")
        return found

    def model(self, name: str) -> "Model":
        """One model, read once (``mlreg.model.Model``): its record now, its versions
        and README when first asked for; ``.record`` and ``.version_count`` as before.

        Raises:
            InvalidName, ModelNotFound, RegistryNotFound, IntegrityError.
        """
        from .model import Model

        return Model(self, self.repo.load_model(name))

    def show(self, name: str | "Model", url: str | None = None) -> ModelOverview:
        """The model's overview: record, versions and invocation code (its cURL line for a
        server at ``url``, default ``http://127.0.0.1:8080``). ``name`` may be a
        model already read (``Registry.model``)."""
        from .invocation import DEFAULT_URL, sample_input, snippets
        from .model import ModelOverview
        from .readme import summary

        model = self.model(name) if isinstance(name, str) else name
        record, all_versions = model.record, model.versions()
        sample = sample_input(all_versions)
        registry = None if self.path == resolve_registry() else self.path
        return ModelOverview(
            info=ModelInfo(record, len(all_versions)),
            versions=all_versions,
            invocation=snippets(record.name, record.folder, registry, sample, url or DEFAULT_URL),
            readme_intro=summary(model.readme),
        )

    def version_invocation(self, name: str | "Model", ref: str, url: str | None = None) -> dict[str, str]:
        """Code that calls one version by its ID: the CLI, the Python client and cURL
        (``/v1/versions/{id}/predict`` at ``url``), with that version's sample input.
        ``name`` may be a model already read.

        Raises:
            ModelNotFound, VersionNotFound.
        """
        from .invocation import DEFAULT_URL, sample_input, snippets

        model = self.model(name) if isinstance(name, str) else name
        v = model.version(ref)
        registry = None if self.path == resolve_registry() else self.path
        sample = sample_input([v.replace(primary=True)])
        return snippets(model.name, model.folder, registry, sample, url or DEFAULT_URL, version_id=v.version_id)

    def versions(self, name: str, status: str | None = None, tags: Mapping[str, str] | None = None,
                 alias: str | None = None) -> list[VersionRecord]:
        """Every version of a model, oldest number first; optionally only one status,
        only those carrying every one of ``tags``, or only the one ``alias`` names.

        Raises:
            InvalidName, ModelNotFound, UsageError (unknown status, bad alias), IntegrityError.
        """
        wanted = status_named(status) if status else None
        if alias is not None:
            from .fields import alias_name

            alias = alias_name(alias)
        record = self.repo.load_model(name)
        found = self.repo.versions(record)
        return [v for v in found if (wanted is None or v.status == wanted)
                and (not tags or all(v.tags.get(k) == t for k, t in tags.items()))
                and (alias is None or alias in v.aliases)]

    def version(self, name: str, ref: str) -> VersionRecord:
        """One version by number or ID.

        Raises:
            InvalidName, InvalidVersion, ModelNotFound, VersionNotFound, IntegrityError.
        """
        record = self.repo.load_model(name)
        return self.repo.version_of(record, ref)

    def status(self, name: str, ref: str | None = None) -> VersionRecord:
        """A version's record: ``ref``, else the primary, else the most recently deployed.

        Raises:
            InvalidName, ModelNotFound, VersionNotFound (a model with no version), IntegrityError.
        """
        record = self.repo.load_model(name)
        if ref is not None:
            return self.repo.version_of(record, ref)
        if record.primary is not None:
            vfolder = versions.folder(record.primary)
            try:
                return self.repo.read_version(record, vfolder)
            except FileNotFoundError:
                raise IntegrityError(
                    f"{record.name!r} names {record.primary} as primary but its version folder is missing; run `mlreg doctor`"
                ) from None
        found = self.repo.versions(record)
        if not found:
            raise VersionNotFound(f"{record.name!r} has no versions yet")
        return max(found, key=lambda v: v.deployed_at)

    def logs(self, name: str, ref: str) -> list[str]:
        """The version's deploy log, a line each.

        Raises:
            InvalidName, InvalidVersion, ModelNotFound, VersionNotFound.
        """
        return self.model(name).logs(ref)

    def callable_version(self, name: str, version: str | None = None) -> VersionRecord:
        """The version a prediction would use: ``version`` (number or ID), else the primary.

        Raises:
            VersionNotFound: no such version, or no primary and no version asked for (exit 3).
            NotActive: the version is Deploying or Deployment Failed (exit 4).
        """
        record = self.repo.load_model(name)
        if version is None:
            if record.primary is None:
                raise VersionNotFound(
                    f"{record.name!r} has no primary version; ask for one with --version, or promote one"
                )
            chosen = self.repo.read_version(record, versions.folder(record.primary))
        else:
            chosen = self.repo.version_of(record, version)
        if chosen.status != "active":
            raise NotActive(f"{record.name!r} {chosen.version} is {chosen.status_label}; only Active versions can be called")
        return chosen

    def version_by_id(self, version_id: str) -> VersionRecord:
        """A version found by its ID alone.

        Raises:
            VersionNotFound, InvalidVersion (not an ID), IntegrityError.
        """
        if not versions.is_version_id(version_id):
            raise InvalidVersion(f"{version_id!r} is not a version ID (8 lowercase letters and digits)")
        self.repo.require()
        owner = self.repo.ids.owner(version_id)
        if owner is None or not self.repo.ids.carries(owner, version_id):
            raise VersionNotFound(f"no version with ID {version_id} in {self.path}")
        try:
            record = self.repo.read_model(owner[0])
            if record.deleting_model is not None:
                raise FileNotFoundError(owner[0])
            return self.repo.read_version(record, owner[1])
        except FileNotFoundError:
            raise VersionNotFound(f"version ID {version_id} names {owner[0]} {owner[1]}, which does not exist") from None

    def artifact_path(self, record: VersionRecord) -> str:
        """A path on this machine to a version's artifact (checked to hold no symlinked folder)."""
        return self.repo.artifact_path(record)

    def check_trusted(self, record: VersionRecord, expect_sha256: str | None = None) -> None:
        """Check that ``record`` may be called: it is Active, and its artifact is the one
        expected (``expect_sha256``) and listed in the trust file, read afresh
        (``ops.integrity.check_callable``).

        Raises:
            NotActive, IntegrityError.
        """
        from .ops.integrity import check_callable

        check_callable(record, self.trust_file, expect_sha256)

    def load_version(self, record: VersionRecord, expect_sha256: str | None = None) -> Any:
        """Load an Active version's artifact after verifying its size and sha256, and its
        code's (and, when given, against ``expect_sha256`` and the trust file).

        The version's code folder (``deploy --code``) is put first on ``sys.path``.
        Warns (``RuntimeWarning``) when the libraries here differ from the deploy's.

        Raises:
            NotActive, IntegrityError (the artifact is never unpickled then),
            PredictFailed (the artifact needs a module that cannot be imported).
        """
        from .environment import drift
        from .ops.integrity import check_callable, load_rule, open_for_load
        from .predict import load_verified

        trust = check_callable(record, self.trust_file, expect_sha256)
        policy = load_rule(self.repo, record, trust)
        for sentence in drift(record.environment):
            warnings.warn(f"{record.model} {record.version}: {sentence}", RuntimeWarning, stacklevel=2)
        what = f"{record.model} {record.version}"
        try:
            return load_verified(*open_for_load(self.repo, record), policy, what, record.format)
        except PolicyRefusal:
            # What it imports is not on the allowlist: it loads still when a signer this
            # reader trusts vouched for it (checked only now, when it matters).
            from .ops.signing import check_signatures, vouched_by_signature

            if not vouched_by_signature(check_signatures(self.repo, record, trust)):
                raise
        return load_verified(*open_for_load(self.repo, record), None, what, record.format)

    def version_json(self, record: VersionRecord) -> dict[str, Any]:
        """A version's JSON (SPEC §2) with what this reader makes of it (SPEC §11):
        ``signatures`` (each checked: ``key``, ``valid``, ``signer``) and ``trusted``
        (whether it would load here, under the trust file and load policy)."""
        return self.versions_json([record])[0]

    def overview_json(self, overview: ModelOverview) -> dict[str, Any]:
        """``show --json``: the overview, each version's JSON with ``signatures`` and ``trusted``."""
        return {**overview.to_json(), "versions": self.versions_json(overview.versions)}

    def versions_json(self, records: Sequence[VersionRecord]) -> list[dict[str, Any]]:
        """``version_json`` of each, the trust file read once."""
        from .ops.integrity import judge_all
        from .views import judged_versions

        try:
            trust, readable = self._trust_or_none(), True
        except IntegrityError:
            trust, readable = None, False
        with collector.paused():  # (thousands of new objects without a cycle among them)
            return judged_versions(records, judge_all(self.repo, records, trust, readable))

    def sign(self, name: str, version: str, key: str | os.PathLike[str] | None = None, *,
             signature: str | os.PathLike[str] | None = None) -> "SignatureCheck":
        """Sign a version (a reviewer's approval) with the private key (PEM) ``key``, by
        default the user's own (``mlreg keys init``). With ``signature``, file instead a
        signature the reference ``model_signing sign key`` made over a folder holding
        exactly the version's signed files; ``key`` is then the public key that made it
        (default: a key this reader trusts, found by the bundle's hint).

        Returns the signature, checked as a reader here checks it.

        Raises:
            VersionNotFound, Busy (still Deploying), UsageError (no key),
            IntegrityError (the version's bytes are not what was deployed, or the
            signature does not sign them).
        """
        from .errors import Busy
        from .ops.integrity import problem
        from .ops.signing import sign

        record = self.version(name, version)
        if record.status == "deploying":
            raise Busy(f"{record.model} {record.version} is still Deploying; sign it once it has ended")
        wrong = problem(self.repo, record)
        if wrong:
            raise IntegrityError(f"{record.model} {record.version}: {wrong}; refusing to sign it")
        return sign(self.repo, record, self._trust_or_none(), key, signature)

    def _trust_or_none(self) -> Any:
        if self.trust_file is None:
            return None
        from .trust import load_trust

        return load_trust(self.trust_file)

    @property
    def predictor(self) -> "Predictor":
        """This registry's predictor: verified models loaded once per version ID (see
        ``mlreg.predictor``); ``predict`` and every HTTP route of ``serve`` use it."""
        if self._predictor is None:
            from .predictor import Predictor

            self._predictor = Predictor(self)
        return self._predictor

    def load(self, name: str, version: str | None = None, expect_sha256: str | None = None) -> Any:
        """The verified model object of ``version`` (number or ID), else of the primary.

        Raises:
            VersionNotFound, NotActive, IntegrityError.
        """
        return self.load_version(self.callable_version(name, version), expect_sha256)

    def predict(self, name: str, inputs: Any, version: str | None = None, method: str = "predict",
                expect_sha256: str | None = None) -> dict[str, Any]:
        """Predict with ``version`` (number or ID), else the primary.

        ``inputs`` is a list of rows, ``{"inputs": [...]}``, rows keyed by
        feature name, or an ``inputs.Table`` read from CSV. Returns the CLI's
        JSON: ``model``, ``version``, ``version_id``, ``predictions``. The
        version is verified and loaded once per version ID and kept by this
        Registry (``predictor``); the trust file is read at every call.

        Raises:
            VersionNotFound, NotActive, IntegrityError, BadInput (what the model expects),
            UsageError (a method the model lacks or outside the allow-list).
        """
        return self.predictor.predict(self.callable_version(name, version), inputs, method, expect_sha256)

    def readme(self, name: str) -> str:
        """The model's README (Markdown); empty when it has none.

        Raises:
            InvalidName, ModelNotFound, IntegrityError.
        """
        record = self.repo.load_model(name)
        return self.repo.read_readme(record.folder) or ""

    def readme_placeholders(self, name: str) -> list[str]:
        """Titles of the README's sections that still hold a TODO(mlreg) placeholder.

        A model without a README gives ``["README"]``.
        """
        from .readme import placeholder_sections

        text = self.readme(name)
        return placeholder_sections(text) if text.strip() else ["README"]

    def templates(self) -> list[Template]:
        """The built-in templates and the registry's own (``REGISTRY/templates/*.toml``).

        Raises:
            PartlyUnreadable: some template files are not valid; ``error.found``
                lists the others, ``error.problems`` names each bad file.
        """
        from .templates import all_templates

        problems: list[str] = []
        found = all_templates(self.repo.templates_dir(), problems)
        if problems:
            raise PartlyUnreadable.of(found, problems, "template")
        return found

    def check(self) -> None:
        """Check that the registry exists and this mlreg can read its format.

        Raises:
            RegistryNotFound, FormatTooNew, IntegrityError (an unreadable mlreg.toml).
        """
        self.repo.require()

    def doctor(self, fix: bool = False, older_than: float | None = None) -> "Report":
        """Examine the whole registry; with ``fix``, repair what is safe (see ``mlreg.doctor``).

        Leftovers (staging folders, temporary files, ID files of versions that
        never appeared) count only once older than ``older_than`` seconds
        (default an hour), so work in progress is never mistaken for one.

        Raises:
            RegistryNotFound, FormatTooNew, IntegrityError (an unreadable mlreg.toml).
        """
        from .doctor import DEFAULT_OLDER_THAN, Doctor

        self.repo.require()
        return Doctor(self.repo, fix, DEFAULT_OLDER_THAN if older_than is None else older_than).run()

    def verify(self, name: str | None = None, version: str | None = None, load: bool = False) -> list["Verified"]:
        """Rehash artifacts against their recorded size and sha256 (never unpickling them):
        every version of the registry, of model ``name``, or one ``version`` of it.
        Every signature of a version is checked: one that does not hold is its problem.
        With ``load``, each Active version whose bytes match is also loaded as
        ``predict`` would load it, under this reader's load policy and trust file: a
        refusal (an import not allowed, code nobody vouched for) is its problem.

        Raises:
            ModelNotFound, VersionNotFound, IntegrityError (unreadable metadata).
        """
        from .doctor import verify

        if name is None:
            self.repo.require()
            chosen = [v for folder in self.repo.model_folders() for v in self.repo.versions_or_none(folder)]
        elif version is None:
            chosen = self.repo.versions(self.repo.load_model(name), cached=False)
        else:
            chosen = [self.version(name, version)]
        trust = self._trust_or_none() if chosen else None
        return verify(self.repo, chosen, trust, self._load_problem if load else None)

    def _load_problem(self, record: VersionRecord) -> str:
        """'' when this reader loads ``record`` (``load_version``), else why not."""
        from .errors import MlregError

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # library drift is not a verify problem
                self.load_version(record)
        except MlregError as e:
            return str(e)
        except Exception as e:  # the artifact's own failure to load
            return f"it does not load: {type(e).__name__}: {e}"
        return ""

    def init(self) -> bool:
        """Create the registry if it does not exist; return whether it was created.

        Raises:
            UsageError: the path is a non-empty folder that is not a registry.
            FormatTooNew: it is a registry of a newer format.
        """
        return self.repo.init()

    def describe(self, name: str, text: str) -> ModelInfo:
        """Set the model's description.

        Raises:
            InvalidName, ModelNotFound, LockTimeout, UsageError (over 4,096 characters).
        """
        from .ops.docs import describe

        return describe(self.repo, name, text)

    def set_readme(self, name: str, text: str, expect_sha256: str | None = None) -> str:
        """Replace the model's README atomically; return the new text's sha256.

        ``expect_sha256`` is a compare-and-swap guard: the sha256 of the README
        the new text was written from (``readme_sha256`` of what was read);
        when the README changed meanwhile, nothing is written.

        Raises:
            ReadmeChanged (exit 4), UsageError (over 1 MiB), LockTimeout.
        """
        from .ops.docs import set_readme

        return set_readme(self.repo, name, text, expect_sha256)

    def history(self, name: str) -> list[HistoryEvent]:
        """Every deploy outcome and change of primary, oldest first.

        A torn last line (a writer killed mid-append) is skipped.
        """
        return self.repo.read_history(name)

    # ------------------------------------------------ lifecycle (SPEC §7)

    def aliases(self, name: str) -> list[AliasResult]:
        """The model's aliases and the versions they name, sorted by alias.

        Raises:
            InvalidName, ModelNotFound, IntegrityError.
        """
        from .ops.aliases import list_aliases

        return list_aliases(self.repo, name)

    def set_alias(self, name: str, alias: str, ref: str, expect: str | None = None) -> AliasResult:
        """Point ``alias`` (1-32 of a-z, 0-9, ``-``, ``_``; not ``primary`` or ``latest``)
        at the Active version ``ref``. ``expect`` is a compare-and-swap guard: a
        version, or ``"none"`` for an alias that must not exist yet.

        Raises:
            UsageError (a bad alias), VersionNotFound, NotActive, AliasMoved.
        """
        from .ops.aliases import set_alias

        return set_alias(self.repo, name, alias, ref, expect)

    def remove_alias(self, name: str, alias: str) -> AliasResult:
        """Remove ``alias``; the result names the version it named.

        Raises:
            AliasNotFound.
        """
        from .ops.aliases import remove_alias

        return remove_alias(self.repo, name, alias)

    def tag(self, name: str, ref: str, set: Mapping[str, str] | None = None, remove: Sequence[str] = ()
            ) -> VersionRecord:
        """Set and remove tags on a version; returns the version after the change.

        Raises:
            UsageError (bad keys or values), VersionNotFound, StillDeploying.
        """
        from .fields import bad_table, tag_keys
        from .ops.tags import tag

        checked = dict(set or {})
        if (why := bad_table(checked, "tags")) is not None:
            raise UsageError(f"cannot set these tags: {why}")
        return tag(self.repo, name, ref, checked, tag_keys(remove))

    def delete(self, name: str, ref: str) -> VersionRecord:
        """Delete one version: its folder and artifact. Its number and ID are never
        given again. Returns its record as it was.

        Raises:
            VersionNotFound; InUse (the primary, or a version with an alias);
            StillDeploying.
        """
        from .ops.delete import delete_versions

        return delete_versions(self.repo, name, [ref])[0]

    def delete_model(self, name: str) -> ModelInfo:
        """Delete the whole model: versions, README, history; its IDs are never given again.

        Raises:
            ModelNotFound; StillDeploying (a version is Deploying).
        """
        from .ops.delete import delete_model

        return delete_model(self.repo, name)

    def prune(self, name: str, keep: int = 5, failed_only: bool = False, dry_run: bool = False
              ) -> list[VersionRecord]:
        """Delete every version but the primary, aliased and Deploying versions and the
        ``keep`` most recently deployed Active ones (``failed_only``: only Deployment
        Failed versions); with ``dry_run``, only list them. Returns those deleted
        (or that would be), oldest number first."""
        from .ops.delete import prune

        if keep < 0:
            raise UsageError("--keep must be 0 or more")
        return prune(self.repo, name, keep, failed_only, dry_run)

    def diff(self, name: str, a: str, b: str) -> Diff:
        """What differs between versions ``a`` and ``b``: ``changes`` by dotted field."""
        from .ops.diff import diff

        return diff(self.repo, name, a, b)

    def export(self, name: str, output: str | os.PathLike[str], versions: Sequence[str] = ()) -> TransferResult:
        """Write the model and its Active versions (``versions``: those refs, else all),
        with README and history, to a tar archive (gzip for ``.tar.gz``/``.tgz``)."""
        from .ops.archive import export

        return export(self.repo, name, versions, os.fspath(output))

    def import_archive(self, path: str | os.PathLike[str]) -> TransferResult:
        """Add the model an ``export`` wrote (see ``mlreg.ops.archive``); never replaces
        anything.

        Raises:
            IntegrityError (a hostile member, or an artifact that does not match:
            nothing written), VersionExists (a clash: nothing written), UsageError.
        """
        from .ops.archive import import_archive

        return import_archive(self.repo, os.fspath(path))

    def import_mlflow(self, source: str, models: Sequence[str] = (), name: str | None = None,
                      dry_run: bool = False, workers: int | None = None,
                      done: Callable[[Any, Any], None] | None = None) -> list[Any]:
        """Copy MLflow registered models from ``source`` (an ``mlruns`` folder,
        ``sqlite:///PATH``, or one MLmodel folder named ``name``) into this registry
        (SPEC §13; ``mlreg.ops.import_mlflow``); ``models``: only these. Each version is
        deployed and checked like any deploy, ``workers`` at once (default: the cores).
        ``dry_run`` writes nothing; ``done(plan, step)`` is told of each version as its
        deploy ends. Returns one ``Plan`` a model (``to_json()``).

        Raises:
            SourceNotFound, ModelNotFound (3); NotAnMlflowStore, InvalidName (2);
            VersionExists (4); MissingExtra (1). Nothing is written for any of them.
        """
        from .ops.import_mlflow import import_mlflow

        return import_mlflow(self.repo, source, models, name, dry_run, workers, done)

    def push(self, name: str, to: str | os.PathLike[str], versions: Sequence[str] = (),
             promote: bool = False) -> "TransferResult":
        """Copy the model's Active versions (``versions``: those refs, else all) to the
        registry at ``to`` (a folder or ``s3://BUCKET[/PREFIX]``), keeping number,
        ID, deploy time and person, every recorded field and the README.

        Versions already there with the same sha256 are skipped, so pushing again
        copies nothing. The target's primary becomes this one's when it had none,
        or with ``promote``.

        Raises:
            ModelNotFound, VersionNotFound, NotActive (a named version is not
            Active), VersionExists (the target has a chosen number with other
            content; nothing was copied), IntegrityError.
        """
        from .ops.transfer import transfer

        other = Registry(to, lock_timeout=self.lock_timeout)
        return transfer(self.repo, other.repo, name, versions, promote)

    def pull(self, name: str, source: str | os.PathLike[str], versions: Sequence[str] = (),
             promote: bool = False) -> "TransferResult":
        """``push`` the other way: copy the model's Active versions from the registry
        at ``source`` into this one (same rules)."""
        from .ops.transfer import transfer

        other = Registry(source, lock_timeout=self.lock_timeout)
        return transfer(other.repo, self.repo, name, versions, promote)

    def promote(self, name: str, ref: str, expect_primary: str | None = None) -> PromoteResult:
        """Make an Active version primary (a rollback too).

        ``expect_primary`` is a compare-and-swap guard: when given (a version,
        or ``"none"`` for no primary), the promote happens only if the primary
        is still that version.

        Raises:
            VersionNotFound, NotActive (Deploying or Deployment Failed),
            PrimaryMoved (``expect_primary`` no longer holds), LockTimeout.
        """
        from .ops.promote import promote

        return promote(self.repo, name, ref, expect_primary)

    def deploy(
        self,
        model_or_path: Any,
        name: str,
        *,
        version_bump: str = "minor",
        version: str | None = None,
        description: str | None = None,
        type: str | None = None,
        framework: str | None = None,
        template: str | None = None,
        sample_input: Any = None,
        readme: str | None = None,
        promote: bool = True,
        check_timeout: float = 300.0,
        progress: Callable[[int, int], None] | None = None,
        code: Sequence[str | os.PathLike[str]] = (),
        if_changed: bool = False,
        tags: Mapping[str, str] | None = None,
        metrics: Mapping[str, float] | None = None,
        params: Mapping[str, str] | None = None,
        source: str | None = None,
        sign: bool | str | os.PathLike[str] = True,
        format: str | None = None,
        outcome: bool = False,
    ) -> Any:
        """Deploy a model as a new version of model ``name``; returns its record (with
        ``outcome``, a ``DeployResult``: the record, and whether this call deployed it).

        ``model_or_path`` is a path to a file (joblib or pickle) or an
        in-memory model, which is written with joblib into the staging folder. The artifact is copied and hashed
        in one pass, given the next version number under the model's lock,
        checked in a child process within ``check_timeout`` seconds, and ends
        Active (primary unless ``promote=False`` or a higher version became
        primary meanwhile) or Deployment Failed.

        ``template`` names a template (``templates()``): its Type, Framework
        and sample input are used unless given here, and its README becomes the
        model's once the deploy ends Active, where the model has none (or only
        the skeleton mlreg generated). ``sample_input`` (rows, or their
        JSON text) is predicted during the check. ``readme`` is Markdown text
        that sets (or replaces) the model's README. ``code`` lists ``.py``
        files and package folders the model needs to be unpickled (its own
        classes): they are stored with the version, covered by its
        ``code_sha256``, and put first on ``sys.path`` for the check and every
        later load. With ``if_changed``, an artifact whose sha256 is that of an
        Active version of the model deploys nothing: that version is returned
        (``unchanged`` tells which, beforehand); the artifact is compared by the
        sha256 its copy into the registry computes, before a number is taken.

        ``tags`` (editable later with ``tag``), ``metrics`` (numbers) and
        ``params`` are recorded with the version; ``source`` is free text
        (a training run's URL, say), and without it the git commit, dirty flag
        and ``origin`` of the current directory's work tree are recorded.

        ``format`` ("onnx" or "skops") converts a scikit-learn artifact at deploy time
        (skl2onnx, skops; the extras ``mlreg[onnx]``, ``mlreg[skops]``) and stores the
        converted file as the version's artifact, once its check proved parity on the
        sample input (equal labels; probabilities and outputs within 1e-5); one that does
        not convert or match ends Deployment Failed with the converter's reason.

        ``sign``: True signs the new version with the user's own key when they have one
        (``mlreg keys init``), False never signs, a path signs with that private key (PEM).

        Returns the Active version's record.

        Raises:
            InvalidName, InvalidVersion, UsageError, BadInput: before anything is written.
            VersionExists: ``version`` is taken (numbers differing only in build metadata are one).
            DeploymentFailed: the check failed; ``error.record`` is the version's record.
            LockTimeout, FormatTooNew, IntegrityError.
        """
        from .ops.deploy import deploy
        from .ops.deploy_request import DeployRequest

        request = DeployRequest.make(
            model_or_path, name, templates_dir=self.repo.templates_dir() if template is not None else None,
            version_bump=version_bump, version=version, description=description, type=type,
            framework=framework, template=template, sample_input=sample_input, readme=readme, promote=promote,
            check_timeout=check_timeout, progress=progress, code=code, if_changed=if_changed, tags=tags,
            metrics=metrics, params=params, source=source, sign=sign, format=format)
        result = deploy(self.repo, request)
        return result if outcome else result.record

    def unchanged(self, name: str, model_or_path: Any) -> VersionRecord | None:
        """The Active version of ``name`` whose artifact has exactly these bytes (a file,
        or an in-memory model as joblib writes it), or None.

        Raises:
            InvalidName, BadInput (no such file), IntegrityError.
        """
        from .ops.deploy import unchanged

        return unchanged(self.repo, name, model_or_path)

