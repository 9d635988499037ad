"""Which store the handoff uses, from one URL: ``HANDOFF_STORAGE``.

``file:///srv/handoff`` (a directory every worker mounts), ``s3://bucket/prefix`` (``s3://conn_id@bucket/prefix`` to
name the Airflow connection, as Airflow's ObjectStoragePath does; else ``HANDOFF_STORAGE_CONN_ID``, else the
provider's default connection) and ``variables://prefix`` (Airflow Variables; ``variables://`` for the default
prefix). The settings that named a store before the URL (``HANDOFF_ROOT``, ``HANDOFF_S3_BUCKET``,
``HANDOFF_S3_PREFIX``, ``HANDOFF_AWS_CONN_ID``, ``HANDOFF_VARIABLES_PREFIX``) are still read, with a deprecation
warning, so an existing deployment keeps working; set beside a URL that names another store, they are an error.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from .errors import MisconfiguredError
from .evaluation import min_accuracy_floor

if TYPE_CHECKING:
    from .settings import HandoffSettings
    from .store import ArtifactStore

log = logging.getLogger(__name__)

STORAGE_SETTING = "HANDOFF_STORAGE"
CONN_ID_SETTING = "HANDOFF_STORAGE_CONN_ID"
SCHEMES = ("file", "s3", "variables")
EXAMPLES = "file:///srv/handoff, s3://bucket/prefix, s3://conn_id@bucket/prefix or variables://"
# The settings a store was named by before HANDOFF_STORAGE: each still read, with a warning.
DEPRECATED_ROOT, DEPRECATED_BUCKET, DEPRECATED_PREFIX = "HANDOFF_ROOT", "HANDOFF_S3_BUCKET", "HANDOFF_S3_PREFIX"
DEPRECATED_CONN_ID, DEPRECATED_VARIABLES_PREFIX = "HANDOFF_AWS_CONN_ID", "HANDOFF_VARIABLES_PREFIX"
DEPRECATED = (DEPRECATED_ROOT, DEPRECATED_BUCKET, DEPRECATED_PREFIX, DEPRECATED_CONN_ID, DEPRECATED_VARIABLES_PREFIX)

_warned: set[str] = set()  # deprecation warnings already logged by this process


@dataclass(frozen=True)
class StorageLocation:
    """A parsed storage URL: the scheme picks the backend, the rest is where in it."""

    scheme: str
    container: str = ""  # the bucket (s3); empty for file and variables
    path: str = ""  # the root directory (file), the key prefix (s3, variables), without outer slashes for prefixes
    conn_id: str | None = None  # the Airflow connection (object stores); None: the setting or the default

    @property
    def url(self) -> str:
        user = f"{self.conn_id}@" if self.conn_id else ""
        if self.scheme == "file":
            return f"file://{self.path}"
        if self.scheme == "variables":
            return f"variables://{self.path}"
        return f"{self.scheme}://{user}{self.container}/{self.path}".rstrip("/")


def parse_storage_url(url: str, setting: str = STORAGE_SETTING) -> StorageLocation:
    """``url`` as a location; anything this library cannot store in is refused with the forms it can."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES or "://" not in url:
        raise MisconfiguredError(f"{setting}={url!r} is not a storage URL this library knows: use {EXAMPLES}")
    if parts.query or parts.fragment:
        raise MisconfiguredError(f"{setting}={url!r}: a storage URL takes no query or fragment ('?', '#')")
    if scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise MisconfiguredError(
                f"{setting}={url!r}: a file URL names an absolute local path, as file:///srv/handoff (three slashes)"
            )
        return StorageLocation("file", path=unquote(parts.path))
    if scheme == "variables":
        return StorageLocation("variables", path=unquote(parts.netloc + parts.path).strip("/"))
    user, _, bucket = parts.netloc.rpartition("@")
    if not bucket:
        raise MisconfiguredError(f"{setting}={url!r} names no bucket: use {scheme}://bucket/prefix")
    return StorageLocation(scheme, container=bucket, path=unquote(parts.path).strip("/"), conn_id=unquote(user) or None)


def configured_location() -> StorageLocation:
    """The store ``HANDOFF_STORAGE`` names (or, while it is not set, the deprecated settings); its connection id
    from the URL, else ``HANDOFF_STORAGE_CONN_ID``, else the deprecated ``HANDOFF_AWS_CONN_ID``. A deprecated
    setting set beside the URL must say the same, or which one is meant cannot be told: an error."""
    url = os.environ.get(STORAGE_SETTING, "").strip()
    old = {name: deprecated_setting(name, STORAGE_SETTING) for name in DEPRECATED if name != DEPRECATED_CONN_ID}
    if url:
        location = parse_storage_url(url)
        for name, value in old.items():
            if value is not None and not agrees(location, name, value):
                raise MisconfiguredError(
                    f"{STORAGE_SETTING}={url!r} and the deprecated {name}={value!r} name different stores: remove "
                    f"{name} (the URL replaces it)"
                )
    else:
        location = deprecated_location(old)
    if location.scheme in ("file", "variables"):
        return location
    conn_id = location.conn_id or os.environ.get(CONN_ID_SETTING) or None
    old_conn_id = deprecated_setting(DEPRECATED_CONN_ID, CONN_ID_SETTING)
    if old_conn_id is not None and conn_id not in (None, old_conn_id):
        raise MisconfiguredError(
            f"the connection {conn_id!r} of {STORAGE_SETTING} and the deprecated {DEPRECATED_CONN_ID}="
            f"{old_conn_id!r} differ: remove {DEPRECATED_CONN_ID}"
        )
    return replace(location, conn_id=conn_id or old_conn_id)


def agrees(location: StorageLocation, name: str, value: str) -> bool:
    """Whether the deprecated setting ``name`` says what ``location`` says."""
    if name == DEPRECATED_ROOT:
        return location.scheme == "file" and Path(location.path) == Path(value).resolve()
    if name == DEPRECATED_BUCKET:
        return location.scheme == "s3" and location.container == value
    if name == DEPRECATED_PREFIX:
        return location.scheme == "s3" and location.path == value.strip("/")
    return location.scheme == "variables" and (location.path or "handoff") == value.strip("/")


def deprecated_location(old: dict[str, str | None]) -> StorageLocation:
    """The store the settings before ``HANDOFF_STORAGE`` name (``old``: their values, None when unset)."""
    root, bucket, prefix = old[DEPRECATED_ROOT], old[DEPRECATED_BUCKET], old[DEPRECATED_PREFIX]
    variables_prefix = old[DEPRECATED_VARIABLES_PREFIX]
    named = [name for name, value in old.items() if value is not None]
    if not named:
        raise MisconfiguredError(
            f"{STORAGE_SETTING} is not set: set it to the store the handoff uses, e.g. {EXAMPLES} "
            "(a generated project's Makefile, .env.example and deployment files set its default)"
        )
    if sum(value is not None for value in (root, bucket or prefix, variables_prefix)) > 1:  # three kinds of store
        raise MisconfiguredError(f"{' and '.join(named)} name different stores: set only {STORAGE_SETTING}")
    if root is not None:  # a path, relative to the working directory as it always was
        return StorageLocation("file", path=str(Path(root).resolve()))
    if variables_prefix is not None:
        return StorageLocation("variables", path=variables_prefix.strip("/"))
    if not bucket:
        raise MisconfiguredError(
            f"{DEPRECATED_PREFIX} is set but {DEPRECATED_BUCKET} is not: set {STORAGE_SETTING}=s3://bucket/prefix"
        )
    return StorageLocation("s3", container=bucket, path=(prefix if prefix is not None else "handoff").strip("/"))


def deprecated_setting(name: str, replacement: str) -> str | None:
    """The value of a deprecated setting (None when unset or empty), with a warning once per process."""
    value = os.environ.get(name) or None
    if value is not None and name not in _warned:
        _warned.add(name)
        log.warning("%s is deprecated: set %s instead (the library's README, 'Settings')", name, replacement)
    return value


def default_store() -> ArtifactStore:
    """The store ``HANDOFF_STORAGE`` names, with the settings of the environment."""
    return open_store(configured_location())


def check_handoff_settings() -> None:
    """Check every HANDOFF_* setting the configured store reads, as its tasks will: raise MisconfiguredError naming
    the first bad one. Scripts call it before Airflow starts, so that a typo fails at once, not in the first task
    that saves a model. Makes no network request (a local storage server may not be up yet).

    The checks are the store's own: those it makes when it is created, and those it makes before it writes.
    """
    min_accuracy_floor()  # the quality gate's floor, MODEL_MIN_ACCURACY
    default_store().preflight()


def open_store(location: StorageLocation, settings: HandoffSettings | None = None) -> ArtifactStore:
    """The store at ``location``; a backend's module (and its extra's dependencies) is imported only when used."""
    if location.scheme == "file":
        from .shared_fs import SharedFsStore

        return SharedFsStore(location.path, settings)
    if location.scheme == "s3":
        from .s3 import S3Store

        return S3Store(location.container, location.path, location.conn_id, settings)
    from .variables import VariablesStore

    return VariablesStore(location.path or None, settings)
