"""The small, JSON-serialisable, signed reference a task hands to the next one through XCom.

It names where the artifact is and what it must be; the model itself never travels through XCom.
``from_dict`` refuses anything that is not exactly this shape; ``check_signature`` refuses a reference
that no task of this deployment made (DESIGN.md section 3).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from .errors import MalformedReferenceError, SignatureError
from .keys import RunScope
from .signing import check_signature, signature_for, signed_record_fields

_HEX64_RE = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class ArtifactRef:
    uri: str
    sha256: str
    size_bytes: int
    format: str
    dag_id: str
    run_id: str
    task_id: str  # with ``[map_index]`` for an instance of a mapped task, as its key names it
    try_number: int
    created_at: str
    signature: str | None  # None only for a reference someone stripped: ``check_signature`` refuses it

    @classmethod
    def create(
        cls, uri: str, sha256: str, size_bytes: int, fmt: str, scope: RunScope, signing_keys: tuple[bytes, ...]
    ) -> ArtifactRef:
        """A new reference for what ``scope`` just saved, signed with the first of ``signing_keys``."""
        created_at = datetime.now(UTC).isoformat(timespec="seconds")
        run = (scope.dag_id, scope.run_id, scope.task_segment, scope.try_number)
        unsigned = cls(uri, sha256, size_bytes, fmt, *run, created_at, None)
        return cls(**{**asdict(unsigned), "signature": signature_for(unsigned.signed_fields(), signing_keys)})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def signed_fields(self) -> dict[str, Any]:
        """Every field but the signature: what the signature covers."""
        return {name: value for name, value in asdict(self).items() if name != "signature"}

    def check_signature(self, signing_keys: tuple[bytes, ...]) -> None:
        """Refuse this reference unless one of ``signing_keys`` signed exactly these fields."""
        what = f"the reference to {self.uri!r}"
        if self.signature is not None and not _HEX64_RE.fullmatch(self.signature):
            raise SignatureError(f"{what} carries no valid signature (not 64 lowercase hex digits): refusing it")
        check_signature(self.signed_fields(), self.signature, signing_keys, what)

    @classmethod
    def from_dict(cls, data: Any) -> ArtifactRef:
        """Validate and build a reference; any deviation raises ``MalformedReferenceError``.

        A missing signature is let through as None, so that ``check_signature`` can name the problem.
        """
        if isinstance(data, cls):
            return data
        if data is None:  # what Airflow passes for an upstream result (XCom) that is not in the DAG run
            raise MalformedReferenceError(
                "no artifact reference was handed over: the upstream task did not run in this DAG run, or returned "
                "nothing. `airflow tasks test` runs a task alone, in a new DAG run unless you name one: run the DAG "
                "first (`airflow dags test DAG DATE`), then `airflow tasks test DAG TASK DATE` with that run's date"
            )
        data = signed_record_fields(cls, data, "artifact reference")
        if not _HEX64_RE.fullmatch(data["sha256"]):
            raise MalformedReferenceError("malformed artifact reference: sha256 must be 64 lowercase hex digits")
        if data["size_bytes"] < 0 or data["try_number"] < 0:
            raise MalformedReferenceError("malformed artifact reference: size_bytes and try_number must be >= 0")
        return cls(**data)
