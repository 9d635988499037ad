"""The handoff library's exceptions: one family, each message says what happened, where, and what to do.

Alerting can tell the kinds apart: ``TamperedArtifactError`` (the stored bytes changed),
``ReferenceRefusedError`` and its subclasses (a reference the policy does not accept: a bad signature, a
disallowed format, a location or run that is not the reference's own), ``MalformedReferenceError``
(not a reference at all), and the operational errors (missing, too large, misconfigured, storage full).

``retryable`` says whether trying again later could succeed: inside a task, ``save_model``, ``save_artifact``
and ``load_model`` fail the task at once, without Airflow's retries, on an error that cannot.
"""

from __future__ import annotations


class HandoffError(Exception):
    """Base class: catch this to handle every handoff failure. Raised as such for storage that failed in a way
    that may pass (S3 unreachable, a request refused for a reason that may not last)."""

    retryable: bool = True


class ArtifactNotFoundError(HandoffError):
    """The reference points at an artifact that is not (or no longer) in storage."""

    retryable = False


class TamperedArtifactError(HandoffError):
    """The stored bytes do not match the reference (size or SHA-256), or what is stored is not an artifact."""

    retryable = False


class MalformedReferenceError(HandoffError):
    """The value handed over is not a reference: a missing or extra field, a wrong type, a bad digest."""

    retryable = False


class ReferenceRefusedError(HandoffError):
    """A well-formed reference that the policy refuses; nothing was read from storage."""

    retryable = False


class SignatureError(ReferenceRefusedError):
    """The reference is unsigned, signed with an unknown key, or was altered after signing."""


class DisallowedFormatError(ReferenceRefusedError):
    """The reference names a format that ``HANDOFF_ALLOWED_FORMATS`` does not allow."""


class ForeignLocationError(ReferenceRefusedError):
    """The reference's URI is outside this store, or its key is not the one its run, task and try would make."""


class ForeignRunError(ReferenceRefusedError):
    """The reference was saved by another DAG run (or the champion's provenance does not hold)."""


class GateNotPassedError(ReferenceRefusedError):
    """No signed evaluation shows that this model passed its quality gate: it cannot be a champion."""


class UntrustedTypesError(ReferenceRefusedError):
    """A skops artifact holds types that are not trusted (skops' list plus ``HANDOFF_SKOPS_TRUSTED``)."""


class ArtifactTooLargeError(HandoffError):
    """The serialised artifact exceeds the backend's size limit; nothing was written."""

    retryable = False


class MisconfiguredError(HandoffError):
    """The store cannot work as configured (missing root, bucket, credentials, signing key, bad setting)."""

    retryable = False


class StorageFullError(HandoffError):
    """The storage ran out of space while saving; nothing was stored, earlier artifacts are intact."""

    retryable = True  # space may be freed (retention, an operator) before the retry
