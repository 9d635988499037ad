"""The handoff library's exceptions: one family, each message says what happened, where, and what to do."""

from __future__ import annotations


class HandoffError(Exception):
    """Base class: catch this to handle every handoff failure."""


class ArtifactNotFoundError(HandoffError):
    """The reference points at an artifact that is not (or no longer) in storage."""


class IntegrityError(HandoffError):
    """Stored bytes do not match the reference (size or SHA-256), or the reference itself is malformed."""


class ArtifactTooLargeError(HandoffError):
    """The serialised artifact exceeds the backend's size limit; nothing was written."""


class MisconfiguredError(HandoffError):
    """The store cannot work as configured (missing root, bucket, credentials, bad setting)."""


class StorageFullError(HandoffError):
    """The storage ran out of space while saving; nothing was stored, earlier artifacts are intact."""
