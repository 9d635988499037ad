"""Who made a reference: HMAC-SHA256 over its canonical JSON, keyed by ``HANDOFF_SIGNING_KEY``.

Only the Airflow components hold the key, so a reference that someone with XCom-edit or asset-event
permission wrote (or altered) carries no valid signature and is refused before storage is read.
Several comma-separated keys allow rotation: the first signs, any of them verifies.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from typing import Any

from .errors import MisconfiguredError, SignatureError

SIGNING_KEY_VARIABLE = "HANDOFF_SIGNING_KEY"
MIN_KEY_BYTES = 32
HOW_TO_MAKE_A_KEY = (
    f"set {SIGNING_KEY_VARIABLE} to the same secret on every Airflow component (scheduler, workers, API server): "
    "make one with `python -c 'import secrets; print(secrets.token_hex(32))'`; `make setup` keeps one in "
    ".airflow/handoff_signing_key and the make targets export it"
)


def new_signing_key() -> str:
    """A fresh key: 32 random bytes as 64 hex characters."""
    return secrets.token_hex(MIN_KEY_BYTES)


def parse_signing_keys(raw: str) -> tuple[bytes, ...]:
    """The keys in ``HANDOFF_SIGNING_KEY`` (comma-separated, the signing one first); a short key is an error."""
    keys = tuple(part.strip().encode("utf-8") for part in raw.split(",") if part.strip())
    short = [index for index, key in enumerate(keys, 1) if len(key) < MIN_KEY_BYTES]
    if short:
        raise MisconfiguredError(
            f"{SIGNING_KEY_VARIABLE}: key number {short[0]} is shorter than {MIN_KEY_BYTES} bytes; {HOW_TO_MAKE_A_KEY}"
        )
    return keys


def canonical_json(fields: Mapping[str, Any]) -> bytes:
    """The bytes that are signed: sorted keys, no spaces, UTF-8; the same on every machine and Python."""
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def signature_for(fields: Mapping[str, Any], keys: tuple[bytes, ...]) -> str:
    """The hex HMAC-SHA256 of ``fields`` with the first key; no key means nothing can be signed."""
    if not keys:
        raise MisconfiguredError(
            f"{SIGNING_KEY_VARIABLE} is not set, so no reference can be signed: {HOW_TO_MAKE_A_KEY}"
        )
    return hmac.new(keys[0], canonical_json(fields), hashlib.sha256).hexdigest()


def check_signature(fields: Mapping[str, Any], signature: str | None, keys: tuple[bytes, ...], what: str) -> None:
    """Refuse ``fields`` unless ``signature`` is the HMAC of one of ``keys``; no key means nothing is accepted."""
    if not keys:
        raise MisconfiguredError(
            f"{SIGNING_KEY_VARIABLE} is not set, so {what} cannot be checked and is refused: {HOW_TO_MAKE_A_KEY}"
        )
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
