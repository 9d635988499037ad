"""The shared core: one base class, each backend implements a few methods.

``save`` serialises straight into the backend's sink through a hashing
writer (no whole-model byte copy), and returns an ``ArtifactRef``.
``load`` checks the reference, lets the backend hand over a private copy of the
stored bytes (a spool file or memory, which no other process can write) whose
size and SHA-256 were verified, and only then deserialises that copy: the bytes
deserialised are the bytes hashed. It fails closed.
"""

from __future__ import annotations

import hashlib
import io
import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO

from .errors import (
    ArtifactTooLargeError,
    DisallowedFormatError,
    ForeignLocationError,
    ForeignRunError,
    MisconfiguredError,
    TamperedArtifactError,
)
from .formats import get_format
from .keys import MAX_COMPONENT_CHARS, RunScope, artifact_key, decode_segment, is_safe_key, key_prefix
from .reference import ArtifactRef
from .settings import HandoffSettings
from .signing import require_keys

log = logging.getLogger(__name__)

CHUNK_BYTES = 1024 * 1024


class HashingWriter(io.RawIOBase):
    """A write-only stream that hashes and counts every byte on its way to ``sink``.

    Past ``limit`` bytes it stops forwarding but keeps counting, so a refusal
    can name the full size without ever holding or writing the excess.
    """

    def __init__(self, sink: BinaryIO, limit: int | None = None) -> None:
        self.sink = sink
        self.limit = limit
        self.sha256 = hashlib.sha256()
        self.size = 0

    @property
    def over_limit(self) -> bool:
        return self.limit is not None and self.size > self.limit

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self.size += len(view)
        if not self.over_limit:
            self.sha256.update(view)
            self.sink.write(view)
        return len(view)


def hash_stream(source: BinaryIO, copy_to: BinaryIO | None = None, limit: int | None = None) -> tuple[str, int]:
    """SHA-256 and size of a stream, read in bounded chunks into one reused buffer (at most ``limit`` bytes).

    With ``copy_to``, each chunk is written there right after it is hashed: one pass over ``source``, and the copy
    holds exactly the bytes hashed, whatever is written to ``source`` meanwhile.
    """
    digest, size, buffer = hashlib.sha256(), 0, memoryview(bytearray(CHUNK_BYTES))
    while limit is None or size < limit:
        count = source.readinto(buffer if limit is None else buffer[: min(CHUNK_BYTES, limit - size)])
        if not count:
            break
        chunk = buffer[:count]
        digest.update(chunk)
        if copy_to is not None:
            copy_to.write(chunk)
        size += count
    return digest.hexdigest(), size


def check_matches(sha256: str, size: int, ref: ArtifactRef, where: str) -> None:
    """Refuse bytes whose size or SHA-256 is not the reference's."""
    if size != ref.size_bytes or sha256 != ref.sha256:
        raise TamperedArtifactError(
            f"artifact at {where} does not match its reference (size {size} vs {ref.size_bytes}, "
            f"sha256 {sha256[:12]}... vs {ref.sha256[:12]}...): it was modified or replaced; refusing to load it"
        )


def verify(source: BinaryIO, ref: ArtifactRef, where: str) -> None:
    """Hash ``source`` (a private copy: a spool file or memory) from the start and compare with ``ref``; rewind on
    success."""
    sha256, size = hash_stream(source)
    check_matches(sha256, size, ref, where)
    source.seek(0)


def copy_verified(source: BinaryIO, spool: BinaryIO, ref: ArtifactRef, where: str) -> None:
    """Copy ``source`` (shared storage) into ``spool`` (a private file) while hashing it, compare with ``ref``, and
    rewind ``spool``: the bytes a deserialiser then reads from ``spool`` are exactly the bytes hashed, never a
    second read of ``source``. Copies at most one byte more than the reference's size."""
    sha256, size = hash_stream(source, copy_to=spool, limit=ref.size_bytes + 1)
    check_matches(sha256, size, ref, where)
    spool.flush()
    spool.seek(0)


@dataclass(frozen=True)
class StoredRun:
    """All artifacts of one DAG run, as retention sees them: the key segments, plus the real ids they encode."""

    dag_id_segment: str
    run_id_segment: str
    last_modified: datetime
    keys: tuple[str, ...]

    @property
    def dag_id(self) -> str | None:
        """The real DAG id; None when its segment was shortened (a very long id) and cannot be read back."""
        return decode_segment(self.dag_id_segment)

    @property
    def run_id(self) -> str | None:
        """The real run id, as Airflow knows it; None when its segment was shortened."""
        return decode_segment(self.run_id_segment)

    @property
    def label(self) -> str:
        """For people: the real ids, quoted (a run id may hold any character); a shortened one shows its segment."""
        return f"DAG {_shown(self.dag_id, self.dag_id_segment)}, run {_shown(self.run_id, self.run_id_segment)}"


def _shown(real: str | None, segment: str) -> str:
    return repr(real) if real is not None else f"(shortened, segment {segment})"


@dataclass(frozen=True)
class Skipped:
    """Something in the store's root or prefix that retention left alone, and why: the store did not make it, or
    it changed between listing and deleting."""

    where: str
    why: str


@dataclass(frozen=True)
class UnfinishedWrite:
    """A write a killed save left behind, invisible at its key but costing storage (an S3 multipart upload): ``handle``
    is what the backend needs to discard it."""

    key: str
    handle: str
    started: datetime


@dataclass(frozen=True)
class Inventory:
    """What ``inventory`` found: the runs retention may delete, what it must leave alone and why, unfinished writes."""

    runs: tuple[StoredRun, ...]
    skipped: tuple[Skipped, ...] = ()
    unfinished: tuple[UnfinishedWrite, ...] = ()


def refuse_other_run(ref: ArtifactRef) -> None:
    """Inside a task, refuse a reference that another DAG run saved (outside a task there is no run)."""
    current = RunScope.current_or_none()
    if current and (ref.dag_id, ref.run_id) != (current.dag_id, current.run_id):
        raise ForeignRunError(
            f"the reference was saved by run {ref.run_id!r} of DAG {ref.dag_id!r}, but this task belongs to run "
            f"{current.run_id!r} of DAG {current.dag_id!r}; pass allow_other_run=True to load another run's artifact"
        )


class ArtifactStore(ABC):
    """Save and load artifacts under run-scoped keys. Subclasses implement the storage side."""

    key_component_chars = MAX_COMPONENT_CHARS
    max_bytes: int | None = None  # the largest artifact accepted; None means no limit

    def __init__(self, settings: HandoffSettings | None = None) -> None:
        self.settings = settings or HandoffSettings.from_env()

    # --- the public API -------------------------------------------------
    def save(self, obj: Any, name: str = "model", *, fmt: str | None = None, scope: RunScope | None = None) -> dict:
        """Store ``obj`` and return its signed reference as a dict, ready to return from a task (XCom)."""
        scope = scope or RunScope.current()
        fmt = fmt or self.settings.format
        self.check_can_sign(fmt)
        serializer = get_format(fmt, self.settings.skops_trusted)
        key = artifact_key(scope, name, self.key_component_chars)
        with self.open_for_write(key) as sink:
            writer = HashingWriter(sink, self.max_bytes)
            serializer.dump(obj, writer)
            if writer.over_limit:  # raised inside the block: the sink is discarded, nothing is stored
                raise ArtifactTooLargeError(self.too_large_message(writer.size))
        digest, keys = writer.sha256.hexdigest(), self.settings.signing_keys
        ref = ArtifactRef.create(self.uri_for(key), digest, writer.size, serializer.name, scope, keys)
        log.info("saved %s (%d bytes, sha256 %s)", ref.uri, ref.size_bytes, ref.sha256)
        return ref.to_dict()

    def load(self, reference: dict | ArtifactRef, *, allow_other_run: bool = False) -> Any:
        """Check ``reference``, verify the stored bytes against it and deserialise them; fail closed.

        Inside a task, a reference saved by another DAG run is refused unless ``allow_other_run``:
        a run must never pick up another run's model by accident.
        """
        ref, key = self.checked_reference(reference)
        if not allow_other_run:
            refuse_other_run(ref)
        serializer = get_format(ref.format, self.settings.skops_trusted)
        with self.open_verified(key, ref) as source:
            log.info("verified %s (%d bytes, sha256 %s); deserialising", ref.uri, ref.size_bytes, ref.sha256)
            return serializer.load(source)

    def verify_stored(self, reference: dict | ArtifactRef) -> ArtifactRef:
        """Check ``reference`` and the stored bytes against it without deserialising them (before a rollback)."""
        ref, key = self.checked_reference(reference)
        with self.open_verified(key, ref):
            return ref

    def checked_reference(self, reference: dict | ArtifactRef) -> tuple[ArtifactRef, str]:
        """The reference and its key, once the checks that need no storage hold (DESIGN.md section 3, in order):
        its signature, its format against ``HANDOFF_ALLOWED_FORMATS``, its URI in this store at the key of its
        own run, task and try."""
        ref = ArtifactRef.from_dict(reference)
        ref.check_signature(self.settings.signing_keys)
        if ref.format not in self.settings.allowed_formats:
            raise DisallowedFormatError(
                f"the reference to {ref.uri!r} names format {ref.format!r}, which HANDOFF_ALLOWED_FORMATS "
                f"({', '.join(self.settings.allowed_formats)}) does not allow: refusing it before reading storage"
            )
        key = self.key_from_uri(ref.uri)
        own = (ref.dag_id, ref.run_id, ref.task_id, ref.try_number, self.key_component_chars)
        # Today's encoding, or the legacy one (64-bit digests) an artifact stored before has: never a mix of both.
        if not any(key.startswith(key_prefix(*own, legacy=legacy)) for legacy in (False, True)):
            raise ForeignLocationError(
                f"the reference's URI {ref.uri!r} is not where run {ref.run_id!r} of DAG {ref.dag_id!r}, task "
                f"{ref.task_id!r}, try {ref.try_number} saves: refusing it"
            )
        return ref, key

    def check_can_sign(self, fmt: str) -> None:
        """Before anything is written: a reference this store makes must be one its loaders accept."""
        require_keys(self.settings.signing_keys, "no reference can be signed")
        if fmt not in self.settings.allowed_formats:
            raise MisconfiguredError(
                f"format {fmt!r} is not in HANDOFF_ALLOWED_FORMATS ({', '.join(self.settings.allowed_formats)}), "
                "so no task could load it: add it there or save in an allowed format"
            )

    def preflight(self) -> None:
        """Every check this store can make before its first save, without a network request: it can sign models
        and results (``save_artifact``'s JSON); a backend adds its own (a root that exists, a private spool)."""
        for fmt in dict.fromkeys((self.settings.format, "json")):
            self.check_can_sign(fmt)

    def key_from_uri(self, uri: str) -> str:
        """The key inside this store that ``uri`` names; refuses any other store, root or bucket."""
        prefix = self.uri_for("")
        if not uri.startswith(prefix) or not is_safe_key(uri[len(prefix) :], self.key_component_chars):
            raise ForeignLocationError(f"reference URI {uri!r} is not in this store ({prefix}...): refusing to read it")
        return uri[len(prefix) :]

    # --- what each backend implements ------------------------------------
    @abstractmethod
    def uri_for(self, key: str) -> str:
        """The URI of ``key`` (``uri_for("")`` is the store's own prefix)."""

    @abstractmethod
    def open_for_write(self, key: str) -> AbstractContextManager[BinaryIO]:
        """A sink that makes the artifact visible atomically on clean exit, and leaves nothing on error."""

    @abstractmethod
    def open_verified(self, key: str, ref: ArtifactRef) -> AbstractContextManager[BinaryIO]:
        """A readable, seekable private copy of the artifact (a spool file or memory: no other process can write
        it) whose bytes were verified against ``ref``: hashed as they were copied (``copy_verified``) or after
        (``verify``). Never the file of shared storage itself, which could change between hashing and reading."""

    @abstractmethod
    def inventory(self) -> Inventory:
        """Every stored run, for retention: only what matches the key grammar under this store's own root or
        prefix; everything else is listed as skipped, with the reason, and never deleted."""

    @abstractmethod
    def delete(self, keys: Sequence[str]) -> tuple[Skipped, ...]:
        """Remove the given artifacts (keys from ``inventory``); return those left alone because they changed."""

    def discard_unfinished(self, uploads: Sequence[UnfinishedWrite]) -> None:
        """Discard unfinished writes from ``inventory``; only a store that lists some implements this."""
        raise NotImplementedError(f"{type(self).__name__} lists no unfinished writes, so it cannot discard any")

    def too_large_message(self, size: int) -> str:
        return f"the artifact is {size} bytes, over this store's limit of {self.max_bytes} bytes; nothing was stored"
