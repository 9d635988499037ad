"""Hand a model from one Airflow task to the next, safely.

Inside a task::

    ref = save_model(model)     # returns a small reference for XCom
    model = load_model(ref)     # checks the signature, then size and SHA-256, then deserialises

Outside Airflow (tests, notebooks, the benchmark) pass ``scope=RunScope(...)``.
"""

from __future__ import annotations

from typing import Any

from .errors import (
    ArtifactNotFoundError,
    ArtifactTooLargeError,
    DisallowedFormatError,
    ForeignLocationError,
    ForeignRunError,
    HandoffError,
    MalformedReferenceError,
    MisconfiguredError,
    ReferenceRefusedError,
    SignatureError,
    StorageFullError,
    TamperedArtifactError,
    UntrustedTypesError,
)
from .keys import RunScope
from .reference import ArtifactRef
{%- if cookiecutter.storage_backend == "shared_fs" %}
from .shared_fs import SharedFsStore as Store
{%- elif cookiecutter.storage_backend == "s3" %}
from .s3 import S3Store as Store
{%- else %}
from .variables import VariablesStore as Store
{%- endif %}

__all__ = [
    "ArtifactNotFoundError",
    "ArtifactRef",
    "ArtifactTooLargeError",
    "DisallowedFormatError",
    "ForeignLocationError",
    "ForeignRunError",
    "HandoffError",
    "MalformedReferenceError",
    "MisconfiguredError",
    "ReferenceRefusedError",
    "RunScope",
    "SignatureError",
    "StorageFullError",
    "Store",
    "TamperedArtifactError",
    "UntrustedTypesError",
    "default_store",
    "load_model",
    "save_model",
]


def default_store() -> Store:
    """The project's store, configured from the environment (see the README)."""
    return Store()


def save_model(obj: Any, name: str = "model", *, fmt: str | None = None, scope: RunScope | None = None) -> dict:
    """Save ``obj`` under this run and task try; return the reference to pass on (via XCom)."""
    return default_store().save(obj, name, fmt=fmt, scope=scope)


def load_model(reference: dict | ArtifactRef, *, allow_other_run: bool = False) -> Any:
    """Load what ``reference`` names, after checking its size and SHA-256 (and, in a task, that this run saved it)."""
    return default_store().load(reference, allow_other_run=allow_other_run)
