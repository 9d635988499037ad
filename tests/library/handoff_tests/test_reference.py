"""A reference is exactly the DESIGN.md shape and carries a signature made with the deployment's key;
anything else is refused before storage is touched."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from airflow_model_handoff import (
    ArtifactRef,
    ForeignLocationError,
    MalformedReferenceError,
    MisconfiguredError,
    RunScope,
    SignatureError,
    default_store,
)
from airflow_model_handoff.keys import (
    TEST_TRY,
    artifact_key,
)
from airflow_model_handoff.settings import HandoffSettings
from airflow_model_handoff.signing import (
    ensure_local_signing_key,
    parse_signing_keys,
)

KEY = b"k" * 32
SCOPE = RunScope("d", "r", "t", 1)
VALID: dict[str, Any] = ArtifactRef.create("x://k", "a" * 64, 10, "joblib", SCOPE, (KEY,)).to_dict()


def test_round_trips_through_json_types() -> None:
    assert ArtifactRef.from_dict(json.loads(json.dumps(VALID))).to_dict() == VALID
    assert set(VALID) == {
        "uri", "sha256", "size_bytes", "format", "dag_id", "run_id", "task_id", "try_number", "created_at",
        "signature",
    }  # fmt: skip


def test_the_signature_covers_every_field_and_any_listed_key_verifies_it() -> None:
    ref = ArtifactRef.from_dict(VALID)
    ref.check_signature((KEY,))
    ref.check_signature((b"new" * 11, KEY))  # rotation: the new key signs, the old one still verifies
    for name, value in VALID.items():
        if name == "signature":
            continue
        other = value + 1 if isinstance(value, int) else value[:-1] + ("1" if value[-1] == "0" else "0")
        altered = {**VALID, name: other}
        with pytest.raises(SignatureError, match="altered"):
            ArtifactRef.from_dict(altered).check_signature((KEY,))


def test_an_unsigned_reference_is_refused() -> None:
    fields = {name: value for name, value in VALID.items() if name != "signature"}
    for unsigned in (fields, {**fields, "signature": None}):
        with pytest.raises(SignatureError, match="not signed"):
            ArtifactRef.from_dict(unsigned).check_signature((KEY,))


@pytest.mark.parametrize("signature", ["0" * 64, "A" * 64, "zz", "é" * 64, ""])
def test_a_wrong_signature_is_refused(signature: str) -> None:
    with pytest.raises(SignatureError):
        ArtifactRef.from_dict({**VALID, "signature": signature}).check_signature((KEY,))


def test_a_reference_signed_with_another_key_is_refused() -> None:
    with pytest.raises(SignatureError, match="altered"):
        ArtifactRef.from_dict(VALID).check_signature((b"x" * 32,))


def test_without_a_key_nothing_is_signed_or_accepted() -> None:
    with pytest.raises(MisconfiguredError, match=r"HANDOFF_SIGNING_KEY is not set.*token_hex"):
        ArtifactRef.create("x://k", "a" * 64, 10, "joblib", SCOPE, ())
    with pytest.raises(MisconfiguredError, match="HANDOFF_SIGNING_KEY is not set"):
        ArtifactRef.from_dict(VALID).check_signature(())


@pytest.mark.parametrize("raw", ["short", "a" * 32 + ",short", "a" * 31])
def test_a_key_shorter_than_32_bytes_is_refused(raw: str) -> None:
    with pytest.raises(MisconfiguredError, match="shorter than 32 bytes"):
        parse_signing_keys(raw)


def test_keys_are_comma_separated_and_the_first_signs() -> None:
    assert parse_signing_keys(" " + "a" * 32 + " , " + "b" * 40 + ",") == (b"a" * 32, b"b" * 40)


@pytest.mark.parametrize(
    "change",
    [
        {"sha256": "a" * 63},
        {"sha256": "A" * 64},
        {"sha256": None},
        {"size_bytes": "10"},
        {"size_bytes": -1},
        {"size_bytes": True},
        {"try_number": -1},
        {"uri": 5},
        {"extra": "field"},
        {"signature": 5},
    ],
)
def test_malformed_references_are_refused(change: dict[str, Any]) -> None:
    with pytest.raises(MalformedReferenceError):
        ArtifactRef.from_dict({**VALID, **change})


def test_missing_field_and_wrong_type_are_refused() -> None:
    incomplete = dict(VALID)
    del incomplete["sha256"]
    for bad in (incomplete, "s3://bucket/key", ["uri"], None):
        with pytest.raises(MalformedReferenceError):
            ArtifactRef.from_dict(bad)


def test_a_missing_upstream_result_is_refused_with_what_to_do() -> None:
    """Airflow hands a task None for an upstream result (XCom) its DAG run does not hold, as in the new run of
    `airflow tasks test`."""
    with pytest.raises(MalformedReferenceError, match=r"no artifact reference was handed over.*airflow dags test"):
        ArtifactRef.from_dict(None)


def test_a_tasks_test_reference_names_try_0_and_is_accepted_only_at_its_own_key() -> None:
    store = default_store()

    def reference(try_number: int, key_try_number: int) -> dict[str, Any]:
        key = artifact_key(RunScope("d", "r", "t", key_try_number), "model", store.key_component_chars)
        scope, signing_keys = RunScope("d", "r", "t", try_number), store.settings.signing_keys
        return ArtifactRef.create(store.uri_for(key), "a" * 64, 10, "json", scope, signing_keys).to_dict()

    ref, key = store.checked_reference(reference(TEST_TRY, TEST_TRY))
    assert ref.try_number == TEST_TRY and key.split("/")[3] == "0"
    for try_number, key_try_number in ((TEST_TRY, 1), (1, TEST_TRY)):
        with pytest.raises(ForeignLocationError, match="is not where run"):
            store.checked_reference(reference(try_number, key_try_number))


def test_a_local_project_keeps_its_key_in_airflow_home_readable_by_its_owner_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HANDOFF_SIGNING_KEY")
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    assert HandoffSettings.from_env().signing_keys == ()  # no variable, no file: nothing to sign with
    old_umask = os.umask(0)  # the most permissive umask must not widen the file's mode
    try:
        key_file = ensure_local_signing_key()
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    keys = HandoffSettings.from_env().signing_keys
    assert len(keys) == 1 and len(keys[0]) == 64
    assert ensure_local_signing_key() == key_file and HandoffSettings.from_env().signing_keys == keys  # kept
    monkeypatch.setenv("HANDOFF_SIGNING_KEY", "v" * 32)
    assert HandoffSettings.from_env().signing_keys == (b"v" * 32,)  # the variable wins
