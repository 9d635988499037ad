"""A reference is exactly the DESIGN.md shape; anything else is refused before storage is touched."""

from __future__ import annotations

from typing import Any

import pytest

from {{ cookiecutter.package_name }}.handoff import (
    ArtifactRef,
    IntegrityError,
    RunScope,
)

VALID: dict[str, Any] = ArtifactRef.create("x://k", "a" * 64, 10, "joblib", RunScope("d", "r", "t", 1)).to_dict()


def test_round_trips_through_json_types() -> None:
    assert ArtifactRef.from_dict(dict(VALID)).to_dict() == VALID
    assert set(VALID) == {
        "uri", "sha256", "size_bytes", "format", "dag_id", "run_id", "task_id", "try_number", "created_at",
    }  # fmt: skip


@pytest.mark.parametrize(
    "change",
    [
        {"sha256": "a" * 63},
        {"sha256": "A" * 64},
        {"sha256": None},
        {"size_bytes": "10"},
        {"size_bytes": -1},
        {"size_bytes": True},
        {"try_number": 0},
        {"uri": 5},
        {"extra": "field"},
    ],
)
def test_malformed_references_are_refused(change: dict[str, Any]) -> None:
    with pytest.raises(IntegrityError):
        ArtifactRef.from_dict({**VALID, **change})


def test_missing_field_and_wrong_type_are_refused() -> None:
    incomplete = dict(VALID)
    del incomplete["sha256"]
    for bad in (incomplete, "s3://bucket/key", ["uri"], None):
        with pytest.raises(IntegrityError):
            ArtifactRef.from_dict(bad)
