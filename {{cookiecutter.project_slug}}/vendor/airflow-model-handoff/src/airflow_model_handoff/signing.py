"""Who made a reference: HMAC-SHA256 over its canonical JSON, keyed by ``HANDOFF_SIGNING_KEY``.

Only the Airflow components hold the key, so a reference that someone with XCom-edit or asset-event
permission wrote (or altered) carries no valid signature and is refused before storage is read.
Several comma-separated keys allow rotation: the first signs, any of them verifies.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .airflow_home import airflow_home
from .errors import MalformedReferenceError, MisconfiguredError, SignatureError

SIGNING_KEY_VARIABLE = "HANDOFF_SIGNING_KEY"
MIN_KEY_BYTES = 32
LOCAL_KEY_FILE_NAME = "handoff_signing_key"
HOW_TO_MAKE_A_KEY = (
    f"set {SIGNING_KEY_VARIABLE} to the same secret on every Airflow component (scheduler, workers, API server); "
    "make one with `python -c 'import secrets; print(secrets.token_hex(32))'`. A local project (`make setup`) "
    f"keeps its key in $AIRFLOW_HOME/{LOCAL_KEY_FILE_NAME}, read when the variable is not set"
)


def new_signing_key() -> str:
    """A fresh key: 32 random bytes as 64 hex characters."""
    return secrets.token_hex(MIN_KEY_BYTES)


def local_signing_key_file(home: Path | None = None) -> Path:
    """The local key file, in Airflow's home (``home``, else AIRFLOW_HOME, else ~/airflow)."""
    return (home or airflow_home()) / LOCAL_KEY_FILE_NAME


def ensure_local_signing_key(home: Path | None = None) -> Path:
    """Create the local key file, readable by its owner only from its first byte, unless it exists."""
    path = local_signing_key_file(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path
    with os.fdopen(fd, "w") as key_file:
        key_file.write(new_signing_key() + "\n")
    return path


def configured_signing_keys() -> tuple[bytes, ...]:
    """The keys of ``HANDOFF_SIGNING_KEY``, or else of the local key file; none when neither is there."""
    raw = os.environ.get(SIGNING_KEY_VARIABLE)
    if not raw and local_signing_key_file().is_file():
        raw = local_signing_key_file().read_text()
    return parse_signing_keys(raw or "")


def parse_signing_keys(raw: str) -> tuple[bytes, ...]:
    """The keys in ``HANDOFF_SIGNING_KEY`` (comma-separated, the signing one first); a short key is an error."""
    keys = tuple(part.strip().encode("utf-8") for part in raw.split(",") if part.strip())
    short = [index for index, key in enumerate(keys, 1) if len(key) < MIN_KEY_BYTES]
    if short:
        raise MisconfiguredError(
            f"{SIGNING_KEY_VARIABLE}: key number {short[0]} is shorter than {MIN_KEY_BYTES} bytes; {HOW_TO_MAKE_A_KEY}"
        )
    return keys


def signed_record_fields(record_type: type, data: Any, what: str) -> dict[str, Any]:
    """The fields of a signed record (a reference, an evaluation) as ``data`` gives them, once it has exactly the
    fields of ``record_type`` (a dataclass whose annotations are type names), each of exactly its type: bool is
    not an int, and an int is not a float (JSON gives a whole float back as an int: a signed one never is). A
    missing signature is let through as None, so that the signature check can name the problem. Anything else
    raises ``MalformedReferenceError`` naming ``what``."""
    if not isinstance(data, dict):
        raise MalformedReferenceError(f"{what} must be a dict, got {type(data).__name__}")
    data = {"signature": None, **data}
    expected = {field.name: field.type for field in dataclasses.fields(record_type)}
    missing, extra = expected.keys() - data.keys(), data.keys() - expected.keys()
    if missing or extra:
        raise MalformedReferenceError(f"malformed {what}: missing {sorted(missing)}, unexpected {sorted(extra)}")
    for name, type_name in expected.items():
        if name == "signature" and data[name] is None:
            continue
        wanted = {"int": int, "float": float, "bool": bool}.get(type_name, str)
        if type(data[name]) is not wanted:
            raise MalformedReferenceError(f"malformed {what}: {name} must be {wanted.__name__}")
    return data


def canonical_json(fields: Mapping[str, Any]) -> bytes:
    """The bytes that are signed: sorted keys, no spaces, UTF-8; the same on every machine and Python."""
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def require_keys(keys: tuple[bytes, ...], consequence: str) -> None:
    """Fail closed without a key, saying what cannot be done and how to make one."""
    if not keys:
        raise MisconfiguredError(f"{SIGNING_KEY_VARIABLE} is not set, so {consequence}: {HOW_TO_MAKE_A_KEY}")


def signature_for(fields: Mapping[str, Any], keys: tuple[bytes, ...]) -> str:
    """The hex HMAC-SHA256 of ``fields`` with the first key; no key means nothing can be signed."""
    require_keys(keys, "no reference can be signed")
    return hmac.new(keys[0], canonical_json(fields), hashlib.sha256).hexdigest()


def check_signature(fields: Mapping[str, Any], signature: str | None, keys: tuple[bytes, ...], what: str) -> None:
    """Refuse ``fields`` unless ``signature`` is the HMAC of one of ``keys``; no key means nothing is accepted."""
    require_keys(keys, f"{what} cannot be checked and is refused")
    if signature is None:
        raise SignatureError(f"{what} is not signed: only a task of this deployment makes references; refusing it")
    message = canonical_json(fields)
    for key in keys:
        if hmac.compare_digest(hmac.new(key, message, hashlib.sha256).hexdigest(), signature):
            return
    raise SignatureError(
        f"{what} does not carry a valid signature: it was altered after it was made, or signed with a key this "
        f"deployment does not hold ({SIGNING_KEY_VARIABLE}); refusing it before reading storage"
    )
