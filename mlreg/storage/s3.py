"""A registry in an S3-compatible bucket (AWS S3, SeaweedFS, Ceph, ...): no locks,
only conditional writes (SPEC §8).

A create is ``If-None-Match: *`` and an update ``If-Match: ETAG``, both through
``obstore`` (the Python binding of the Rust ``object_store`` crate, whose
``PutMode`` this interface copies); a store that answers a stale ``If-Match``
on a missing key with 404 (moto) or 412 (SeaweedFS) lost the race either way.
A lease is an object holding its holder and its expiry, renewed by a thread of
its holder's process; a reader on any host counts it alive until it expires,
so hosts' clocks must agree to well within the lease (NTP does). Artifacts are
streamed up (multipart past one part) and hashed in the same pass, and read
through a per-user cache keyed by sha256, which readers verify before every
load.

Endpoint from ``AWS_ENDPOINT_URL``; credentials and region from the standard
``AWS_*`` variables, else the shared credentials and config files
(``AWS_PROFILE``, ``AWS_SHARED_CREDENTIALS_FILE``, ``AWS_CONFIG_FILE``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
from typing import Any, BinaryIO, Callable, Iterator

from ..errors import MlregError, RegistryNotFound, UsageError
from ..leases import Lease
from .base import CREATE, OVERWRITE, AlreadyExists, Object, Precondition, Storage, Update
from .cache import LocalCache

ENV_LEASE = "MLREG_DEPLOY_LEASE"
DEFAULT_LEASE = 30.0
_PART = 8 << 20  # multipart part size; an artifact smaller than one part goes up in one request


class _ExpiringLease(Lease):
    """Held while the expiry last written is comfortably ahead of this host's clock
    (a sixth of the lease to spare, for the write that follows the question); once
    not, lost for good."""

    def __init__(self, length: float) -> None:
        self.length = length
        self.expires = 0.0
        self.lost = False

    def renewed(self, expires: float) -> None:
        if not self.lost:
            self.expires = expires

    def held(self) -> bool:
        if not self.lost and time.time() >= self.expires - self.length / 6:
            self.lost = True
        return not self.lost


class StoreUnsafe(MlregError):
    """The store does not honour conditional writes: mlreg would lose updates there (exit 1)."""


class StoreError(MlregError):
    """The object store refused or failed a request (no such bucket, no permission,
    unreachable): one line naming it (exit 1)."""


# What to check, by the store's error code (S3's own words are not advice).
_ADVICE = {
    "SignatureDoesNotMatch": "the store refused the secret key: check AWS_SECRET_ACCESS_KEY (or the profile's "
                             "aws_secret_access_key)",
    "InvalidAccessKeyId": "the store does not know this access key: check AWS_ACCESS_KEY_ID (or the profile's "
                          "aws_access_key_id)",
    "AccessDenied": "access denied: check the credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY or "
                    "AWS_PROFILE) and that they may read and write this bucket",
    "InvalidBucketName": "not a valid bucket name: check the s3:// location",
    "PermanentRedirect": "the bucket is in another region or at another endpoint: check AWS_REGION and "
                         "AWS_ENDPOINT_URL",
    "AuthorizationHeaderMalformed": "the request's signature names the wrong region: check AWS_REGION",
}


def _failure(e: BaseException, what: str) -> MlregError:
    """An obstore error as one line saying what to check (a missing bucket is a
    registry not found, exit 3); never a credential from the endpoint's URL."""
    from ..errors import redact

    full = str(e)
    text = redact(full.split("\n", 1)[0])
    code = ""
    if "<Code>" in full:
        code = full.split("<Code>", 1)[1].split("</Code>", 1)[0]
    if code == "NoSuchBucket":
        return RegistryNotFound(f"no registry at {what}: the bucket does not exist (or is not reachable with "
                                "these credentials); create it first, or name another with --registry")
    if code in _ADVICE:
        return StoreError(f"{what}: {_ADVICE[code]} ({code})")
    if code == "" and ("error sending request" in full or "connect" in full.lower() or "dns" in full.lower()):
        return StoreError(f"{what}: cannot reach the store at {redact(endpoint_of() or 'AWS S3')}: check "
                          "AWS_ENDPOINT_URL and that the store is running and reachable")
    if code == "" and ("status: 403" in full or "Forbidden" in full):
        return StoreError(f"{what}: {_ADVICE['AccessDenied']}")
    kind = type(e).__name__.removesuffix("Error")
    return StoreError(f"{what}: {code or kind}{': ' + text[:200] if not code else ''}")


def endpoint_of() -> str | None:
    """The endpoint the environment names (``AWS_ENDPOINT_URL_S3``, else ``AWS_ENDPOINT_URL``)."""
    env = os.environ
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"):
        if name in env:
            return env[name]
    return None


def check_endpoint(name: str, value: str) -> tuple[str, str | None, str | None]:
    """An endpoint URL checked: (URL without credentials, key ID, secret) from its
    userinfo, if any.

    Raises:
        UsageError: empty, or not an http:// or https:// URL with a host (one line,
            credentials redacted).
    """
    from urllib.parse import unquote, urlsplit

    from ..errors import redact

    shown = redact(value)
    if not value.strip():
        raise UsageError(f"{name} is set but empty: unset it to use AWS S3, or set it to the store's URL "
                         "(http://HOST:PORT or https://HOST)")
    try:
        parts = urlsplit(value.strip())
        host, port = parts.hostname, parts.port
    except ValueError:
        host, port, parts = None, None, None
    if parts is None or parts.scheme not in ("http", "https") or not host:
        raise UsageError(f"{name}={shown!r} is not an endpoint URL: give http://HOST:PORT or https://HOST")
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    clean = parts._replace(netloc=netloc).geturl()
    user = unquote(parts.username) if parts.username else None
    secret = unquote(parts.password) if parts.password else None
    return clean, user, secret


def _plain(method: Callable[..., Any]) -> Callable[..., Any]:
    """``_plainly`` around a method of ``S3Storage``, naming the store."""
    import functools

    @functools.wraps(method)
    def wrapper(self: S3Storage, *args: Any, **kwargs: Any) -> Any:
        with _plainly(self.url):
            return method(self, *args, **kwargs)

    return wrapper


@contextlib.contextmanager
def _plainly(what: str) -> Iterator[None]:
    """Let mlreg's own answers through (not found, lost races) and turn any other
    failure of the client into ``StoreError``."""
    from obstore.exceptions import AlreadyExistsError, BaseError, PreconditionError

    try:
        yield
    except (AlreadyExistsError, PreconditionError, FileNotFoundError, Precondition):
        raise
    except BaseError as e:
        raise _failure(e, what) from None
    except BaseException as e:  # the Rust client's panic is a BaseException: one line, never its traceback
        if type(e).__name__ != "PanicException":
            raise
        raise _failure(e, what) from None


def lease_seconds() -> float:
    """The deploy lease's length: ``MLREG_DEPLOY_LEASE`` seconds, else 30.

    Raises:
        UsageError: not a positive number.
    """
    text = os.environ.get(ENV_LEASE)
    if not text:
        return DEFAULT_LEASE
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise UsageError(f"{ENV_LEASE}={text!r} is not a positive number of seconds")
    return value


def parse_url(url: str) -> tuple[str, str]:
    """``s3://BUCKET[/PREFIX]`` as (bucket, prefix without slashes at either end).

    Raises:
        UsageError: no bucket, or a prefix with an empty, ``.`` or ``..`` part.
    """
    rest = url[len("s3://"):]
    bucket, _, prefix = rest.partition("/")
    prefix = prefix.strip("/")
    if not bucket or any(p in ("", ".", "..") for p in prefix.split("/")) and prefix:
        raise UsageError(f"{url!r} is not a registry location of the form s3://BUCKET[/PREFIX]")
    return bucket, prefix


def _credentials() -> dict[str, str]:
    """What the AWS variables leave out, from the shared files (the SDKs' order)."""
    import configparser

    found: dict[str, str] = {}
    profile = os.environ.get("AWS_PROFILE") or os.environ.get("AWS_DEFAULT_PROFILE") or "default"
    home = os.path.expanduser("~")
    files = os.environ.get("AWS_SHARED_CREDENTIALS_FILE") or os.path.join(home, ".aws", "credentials")
    config = os.environ.get("AWS_CONFIG_FILE") or os.path.join(home, ".aws", "config")
    parser = configparser.RawConfigParser()
    with contextlib.suppress(configparser.Error, OSError):
        parser.read([files])
    if parser.has_section(profile):
        for key in ("aws_access_key_id", "aws_secret_access_key", "aws_session_token"):
            if parser.has_option(profile, key):
                found[key] = parser.get(profile, key)
    parser = configparser.RawConfigParser()
    with contextlib.suppress(configparser.Error, OSError):
        parser.read([config])
    section = profile if profile == "default" else f"profile {profile}"
    for key in ("region", "endpoint_url"):
        if parser.has_section(section) and parser.has_option(section, key):
            found[key] = parser.get(section, key)
    return found


def _read_part(source: BinaryIO) -> bytes:
    """Up to one part of ``source``: short only at its end (a reader may return less
    than asked for at a time)."""
    parts = []
    wanted = _PART
    while wanted and (chunk := source.read(wanted)):
        parts.append(chunk)
        wanted -= len(chunk)
    return b"".join(parts)


class S3Storage(Storage):
    """Keys below ``prefix`` in ``bucket``."""

    remote = True

    def __init__(self, url: str) -> None:
        from obstore.store import S3Store

        self.url = url.rstrip("/")
        self.bucket, self.prefix = parse_url(url)
        self._cache = LocalCache()  # this user's copies of artifacts and code, by content
        env = os.environ
        files = _credentials() if not (env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY")) \
            or not (env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")) else {}
        endpoint, url_key, url_secret = None, None, None
        named = [n for n in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL") if n in env]
        if named:  # set, even empty: the client reads it too, and panics on a bad one
            endpoint, url_key, url_secret = check_endpoint(named[0], env[named[0]])
        elif files.get("endpoint_url"):
            endpoint, url_key, url_secret = check_endpoint("endpoint_url", files["endpoint_url"])
        config: dict[str, Any] = {
            "region": env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or files.get("region") or "us-east-1",
        }
        # Credentials in the endpoint's URL (http://KEY:SECRET@host) are used, never passed on or shown.
        key_id = env.get("AWS_ACCESS_KEY_ID") or files.get("aws_access_key_id") or url_key
        secret = env.get("AWS_SECRET_ACCESS_KEY") or files.get("aws_secret_access_key") or url_secret
        if key_id and secret:
            config.update(access_key_id=key_id, secret_access_key=secret)
            token = env.get("AWS_SESSION_TOKEN") or files.get("aws_session_token")
            if token:
                config["session_token"] = token
        else:
            config["skip_signature"] = True
        if endpoint:
            config["endpoint"] = endpoint
            config["virtual_hosted_style_request"] = False
        from datetime import timedelta

        self._store = S3Store(self.bucket, config=config,
                              client_options={"allow_http": bool(endpoint and endpoint.startswith("http://")),
                                              "timeout": timedelta(seconds=60),
                                              "connect_timeout": timedelta(seconds=5)},
                              retry_config={"max_retries": 3, "backoff": {"init_backoff": timedelta(milliseconds=50),
                                                                           "max_backoff": timedelta(seconds=2),
                                                                           "base": 2},
                                            "retry_timeout": timedelta(seconds=30)})
        self.lease_length = lease_seconds()
        self._holder = f"{os.getpid()}-{os.urandom(6).hex()}"
        self._endpoint = endpoint or "aws"
        self._probed = False  # this process has seen the store honour conditional writes

    def __repr__(self) -> str:
        return f"S3Storage({self.url!r})"

    def _key(self, key: str) -> str:
        parts = key.split("/") if key else []
        if any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"not a storage key: {key!r}")
        return "/".join(([self.prefix] if self.prefix else []) + parts)

    def _folder(self, prefix: str) -> str:
        """The full path of a folder, "" for the bucket's root (obstore takes prefixes
        without their slash, by path segment)."""
        return self._key(prefix.rstrip("/"))

    def _below(self, folder: str, path: str) -> str:
        """``path`` relative to the full ``folder``."""
        return path[len(folder) + 1:] if folder else path

    def where(self, key: str) -> str:
        return f"{self.url}/{key}" if key else self.url

    # ------------------------------------------------------------- objects

    @_plain
    def get(self, key: str, limit: int) -> Object:
        import obstore

        result = obstore.get(self._store, self._key(key))  # FileNotFoundError when absent
        meta = result.meta
        if meta["size"] > limit:
            raise ValueError(f"{self.where(key)} is {meta['size']} bytes, more than the {limit} allowed")
        return Object(bytes(result.bytes()), meta["e_tag"] or "")

    @_plain
    def put(self, key: str, data: bytes, mode: str | Update = OVERWRITE) -> str:
        import obstore
        from obstore.exceptions import AlreadyExistsError, PreconditionError

        chosen: Any = "overwrite" if mode == OVERWRITE else "create" if mode == CREATE else {"e_tag": mode.token}
        if mode != OVERWRITE and not self._probed:
            self.ensure_conditional_writes()
        try:
            result = obstore.put(self._store, self._key(key), data, mode=chosen, use_multipart=False)
        except (AlreadyExistsError, PreconditionError):
            if mode == CREATE:
                raise AlreadyExists(f"{self.where(key)} exists") from None
            raise Precondition(f"{self.where(key)} changed") from None
        except FileNotFoundError:  # an If-Match on a key that is gone: 404 on some stores
            raise Precondition(f"{self.where(key)} is gone") from None
        return result["e_tag"] or ""

    @_plain
    def put_stream(self, key: str, source: BinaryIO, progress: Callable[[int], None] | None = None) -> tuple[int, str]:
        import obstore
        from obstore.exceptions import AlreadyExistsError, PreconditionError

        digest = hashlib.sha256()
        size = 0
        first = _read_part(source)

        def chunks() -> Iterator[bytes]:
            nonlocal size
            chunk = first
            while chunk:
                digest.update(chunk)
                size += len(chunk)
                if progress is not None:
                    progress(size)
                yield chunk
                chunk = _read_part(source)

        try:
            if len(first) < _PART:
                for _ in chunks():
                    pass
                obstore.put(self._store, self._key(key), first, mode="create", use_multipart=False)
            else:
                obstore.put(self._store, self._key(key), chunks(), mode="create", chunk_size=_PART, max_concurrency=4)
        except (AlreadyExistsError, PreconditionError):
            raise AlreadyExists(f"{self.where(key)} exists") from None
        return size, digest.hexdigest()

    def _listing(self, prefix: str) -> Iterator[dict[str, Any]]:
        import obstore

        for page in obstore.list(self._store, self._folder(prefix) or None, chunk_size=1000):
            yield from page

    @_plain
    def list(self, prefix: str) -> list[str]:
        return sorted(self._below(self.prefix, m["path"]) for m in self._listing(prefix))

    @_plain
    def delete(self, key: str) -> None:
        import obstore

        with contextlib.suppress(FileNotFoundError):
            obstore.delete(self._store, self._key(key))

    @_plain
    def exists(self, key: str) -> bool:
        import obstore

        if key:
            try:
                obstore.head(self._store, self._key(key))
                return True
            except FileNotFoundError:
                pass
        for _ in self._listing(key):
            return True
        return False

    @_plain
    def children(self, prefix: str) -> list[str]:
        import obstore

        folder = self._folder(prefix)
        found = obstore.list_with_delimiter(self._store, folder or None)  # every page
        names = [self._below(folder, p).rstrip("/") for p in found["common_prefixes"]]
        return [n for n in names + [self._below(folder, m["path"]) for m in found["objects"]] if n]

    @_plain
    def stamps(self, prefix: str, leaf: str) -> dict[str, Any]:
        folder = self._folder(prefix)
        found: dict[str, Any] = {}
        tail = "/" + leaf
        for meta in self._listing(prefix):
            rest = self._below(folder, meta["path"])
            if rest.endswith(tail) and rest.count("/") == 1:
                found[rest[:-len(tail)]] = meta["e_tag"]
        return found

    @_plain
    def append(self, key: str, data: bytes, sync: bool = True) -> None:
        if not data:
            return
        try:
            current = self.get(key, 1 << 30).data
        except FileNotFoundError:
            current = b""
        self.put(key, current + data)

    @_plain
    def move(self, src: str, dst: str) -> None:
        import obstore

        keys = [src] if self._is_object(src) else [src + "/" + k[len(src) + 1:] for k in self.list(src)]
        for key in keys:
            obstore.copy(self._store, self._key(key), self._key(dst + key[len(src):]))
        for key in keys:
            self.delete(key)

    def _is_object(self, key: str) -> bool:
        import obstore

        try:
            obstore.head(self._store, self._key(key))
            return True
        except FileNotFoundError:
            return False

    @_plain
    def delete_folder(self, prefix: str) -> None:
        folders = {prefix.rstrip("/")}
        for key in self.list(prefix):
            self.delete(key)
            parent = key.rpartition("/")[0]
            while parent.startswith(prefix.rstrip("/") + "/"):
                folders.add(parent)
                parent = parent.rpartition("/")[0]
        # Some stores (SeaweedFS) keep a folder that is left empty, and list it as a
        # common prefix; removing its "FOLDER/" key removes it (elsewhere: a no-op).
        import obstore

        # Its parents too, up to the registry's root: an emptied one (staging/ after
        # the last deploy) is hidden; one that still holds something stays as it is.
        parent = prefix.rstrip("/").rpartition("/")[0]
        while parent:
            folders.add(parent)
            parent = parent.rpartition("/")[0]
        for folder in sorted(folders, key=len, reverse=True):
            with contextlib.suppress(FileNotFoundError):
                obstore.delete(self._store, self._key(folder) + "/")

    @_plain
    def age(self, key: str) -> float | None:
        import obstore

        try:
            stamp = obstore.head(self._store, self._key(key))["last_modified"]
        except FileNotFoundError:
            metas = list(self._listing(key))
            if not metas:
                return None
            stamp = max(m["last_modified"] for m in metas)
        return time.time() - stamp.timestamp()

    # ------------------------------------------------------ local copies

    @_plain
    def local_path(self, key: str, sha256: str | None = None) -> str:
        """A copy in the per-user cache (``cache.LocalCache``), named by its sha256; an entry
        already there is used as it is (readers verify size and sha256 before every load)."""
        import obstore

        cached = self._cache.artifact(sha256)
        if cached is not None:
            return cached
        result = obstore.get(self._store, self._key(key))  # FileNotFoundError when absent
        return self._cache.add_artifact(result.stream(min_chunk_size=1 << 20))

    @_plain
    def local_folder(self, prefix: str, name: str | None = None) -> str | None:
        """A copy in the per-user cache; with ``name`` (a version's code digest) an
        entry of that name is used as it is (readers verify it before every load)."""
        cached = self._cache.code(name)
        if cached is not None:
            return cached
        keys = self.list(prefix)
        if not keys:
            return None
        return self._cache.add_code(((key[len(prefix) + 1:], lambda key=key: self.get(key, 1 << 30).data)
                                      for key in keys), name)

    # ------------------------------------------------------------ leases

    def _lease_body(self, expires: float) -> bytes:
        return json.dumps({"holder": self._holder, "expires": expires, "host": os.uname().nodename,
                           "pid": os.getpid()}).encode()

    @contextlib.contextmanager
    def lease(self, key: str, *, claim: bool = False) -> Iterator[Lease]:
        length = self.lease_length
        held = _ExpiringLease(length)
        expires = time.time() + length
        self.put(key, self._lease_body(expires), CREATE if claim else OVERWRITE)
        held.renewed(expires)
        stop = threading.Event()

        def renew() -> None:
            while not stop.wait(length / 3):
                if not held.held():
                    # Paused past the lease (a laptop's sleep, a VM's pause): others may
                    # have found it dead and acted on it. Never bring it back to life.
                    held.lost = True
                    return
                with contextlib.suppress(Exception):  # a missed renewal is retried; the lease says how long
                    expires = time.time() + length
                    self.put(key, self._lease_body(expires))
                    held.renewed(expires)

        thread = threading.Thread(target=renew, name=f"mlreg-lease {key}", daemon=True)
        thread.start()
        try:
            yield held
        finally:
            stop.set()
            thread.join()
            if held.held():  # a lapsed lease's key may be gone with its folder: leave it be
                with contextlib.suppress(Exception):
                    self.put(key, self._lease_body(0.0))  # released: dead at once, and the claim stays

    @_plain
    def alive(self, key: str) -> bool:
        try:
            data = self.get(key, 4096).data
        except FileNotFoundError:
            return False
        try:
            expires = float(json.loads(data).get("expires", 0))
        except (ValueError, TypeError, AttributeError):
            return False  # not a lease mlreg wrote: nobody holds it
        return expires > time.time()

    # -------------------------------------------------------- the probe

    PROBE_TTL = 3600.0  # seconds a passed probe is trusted, per endpoint and bucket, on this machine

    def ensure_conditional_writes(self) -> None:
        """Before this process's first conditional write: the probe below, unless it
        passed for this endpoint and bucket within ``PROBE_TTL`` (remembered in the
        per-user cache). A registry reached through a proxy that drops If-Match is
        refused at its first write, not only at ``init``.

        Raises:
            StoreUnsafe: the store ignores a condition (nothing else was written).
        """
        stamp = self._probe_stamp()
        try:
            if stamp is not None and time.time() - os.path.getmtime(stamp) < self.PROBE_TTL:
                self._probed = True
                return
        except OSError:
            pass
        self.check_conditional_writes()

    def _remember_probe(self) -> None:
        stamp = self._probe_stamp()
        if stamp is not None:
            with contextlib.suppress(OSError):
                os.makedirs(os.path.dirname(stamp), exist_ok=True)
                with open(f"{stamp}.{os.getpid()}", "w") as f:
                    f.write(f"{self._endpoint} {self.bucket}\n")
                os.replace(f"{stamp}.{os.getpid()}", stamp)

    def _probe_stamp(self) -> str | None:
        from ..location import user_folder

        name = hashlib.sha256(f"{self._endpoint}\0{self.bucket}".encode()).hexdigest()[:24]
        return os.path.join(user_folder("cache"), "probed", name)

    @_plain
    def check_conditional_writes(self) -> None:
        """Refuse a store that does not honour ``If-None-Match: *`` and ``If-Match``
        (SPEC §8): create a probe key, then try to create it again, from several
        threads at once, and to replace it with a stale ETag. Only the probe's
        own keys are written, and removed.

        Raises:
            StoreUnsafe: naming the condition the store ignored.
        """
        base = f".mlreg-probe-{os.urandom(8).hex()}"  # at the root: removed whole afterwards
        self._probed = True  # the probe's own writes are conditional
        passed = False
        try:
            first = self.put(f"{base}/cas", b"1", CREATE)
            try:
                self.put(f"{base}/cas", b"2", CREATE)
                raise StoreUnsafe(f"{self.url}: the store let a second create of an existing key succeed "
                                  "(it ignores If-None-Match: *); mlreg refuses it, since updates would be lost")
            except Precondition:
                pass
            self.put(f"{base}/cas", b"3", Update(first))
            try:
                self.put(f"{base}/cas", b"4", Update(first))
                raise StoreUnsafe(f"{self.url}: the store let a replace with a stale ETag succeed (it ignores "
                                  "If-Match); mlreg refuses it, since updates would be lost")
            except Precondition:
                pass
            wins = []

            def race(i: int) -> None:
                try:
                    self.put(f"{base}/race", str(i).encode(), CREATE)
                    wins.append(i)
                except Precondition:
                    pass

            racers = [threading.Thread(target=race, args=(i,)) for i in range(8)]
            for t in racers:
                t.start()
            for t in racers:
                t.join()
            if len(wins) != 1:
                raise StoreUnsafe(f"{self.url}: {len(wins)} of 8 concurrent creates of one key succeeded (its "
                                  "If-None-Match: * is not atomic); mlreg refuses it, since updates would be lost")
            passed = True
        finally:
            self._probed = passed
            self.delete_folder(base)
        self._remember_probe()
