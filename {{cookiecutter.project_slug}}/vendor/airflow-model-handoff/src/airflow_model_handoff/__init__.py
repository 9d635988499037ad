"""airflow-model-handoff: hand a model from one Airflow task to the next, and from a training DAG to the DAGs that
use it, verified.

Inside a task::

    ref = save_model(model)     # returns a small, signed reference for XCom
    model = load_model(ref)     # checks the signature, then size and SHA-256, then deserialises
    save_artifact(predictions, "predictions")  # results that are not models: JSON by default

Outside Airflow (tests, notebooks, the benchmark) pass ``scope=RunScope(...)``. The store is picked when the code
runs, by one URL: ``HANDOFF_STORAGE`` (``file:///srv/handoff``, ``s3://bucket/prefix``, ``variables://``).

In a task, an error that trying again cannot fix (a refused or altered reference, a missing artifact, a bad
setting) fails the task at once, as Airflow's ``AirflowFailException`` with the handoff error as its cause; the
others (storage unreachable, full) leave the task to Airflow's retries. Outside a task the handoff errors are
raised as they are; ``default_store()`` raises them as they are everywhere.
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
from .fail_fast import fail_fast_in_task
from .keys import RunScope
from .reference import ArtifactRef
from .storage import default_store
from .store import ArtifactStore

__version__ = "0.1.0"

__all__ = [
    "ArtifactNotFoundError",
    "ArtifactRef",
    "ArtifactStore",
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
    "TamperedArtifactError",
    "UntrustedTypesError",
    "default_store",
    "load_artifact",
    "load_model",
    "save_artifact",
    "save_model",
]


def save_model(obj: Any, name: str = "model", *, fmt: str | None = None, scope: RunScope | None = None) -> dict:
    """Save ``obj`` under this run and task try; return the reference to pass on (via XCom)."""
    with fail_fast_in_task():
        return default_store().save(obj, name, fmt=fmt, scope=scope)


def save_artifact(obj: Any, name: str, *, fmt: str = "json", scope: RunScope | None = None) -> dict:
    """Save a result that is not a model (predictions, metrics, parameters) as ``name``: JSON unless ``fmt`` says
    otherwise, so any tool can read it; ``load_model`` loads it back like any reference."""
    with fail_fast_in_task():
        return default_store().save(obj, name, fmt=fmt, scope=scope)


def load_model(reference: dict | ArtifactRef, *, allow_other_run: bool = False) -> Any:
    """Load what ``reference`` names (a model or any other artifact), after checking its signature, format and
    location, then the stored size and SHA-256 (and, in a task, that this run saved it)."""
    with fail_fast_in_task():
        return default_store().load(reference, allow_other_run=allow_other_run)


def load_artifact(reference: dict | ArtifactRef, *, allow_other_run: bool = False) -> Any:
    """Load a result ``save_artifact`` saved: the same checks as ``load_model``, under the name that reads right."""
    return load_model(reference, allow_other_run=allow_other_run)
