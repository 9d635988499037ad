"""Keys as the library wrote them before shortened segments kept 128 bits of their digest: 16 hex digits (64 bits).

Artifacts stored then must stay loadable and collectable by retention. These helpers rebuild such keys as the old
code did, independently of the library (it only reads them now, it never writes them).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any
from urllib.parse import quote_from_bytes

import pytest
from airflow_model_handoff import keys, save_model

LEGACY_DIGEST_CHARS = 16


def legacy_component(value: str, max_chars: int = keys.MAX_COMPONENT_CHARS) -> str:
    """``encode_component`` as it was: a component longer than ``max_chars`` encoded became its start, ``~`` and
    the first 16 hex digits of the SHA-256 of the value."""
    encoded = quote_from_bytes(value.encode("utf-8"), safe="").replace("~", "%7E")
    encoded = "%2E" + encoded[1:] if encoded.startswith(".") else encoded
    if len(encoded) > max_chars:
        digest = hashlib.sha256(value.encode("utf-8")).hexdigest()[:LEGACY_DIGEST_CHARS]
        head = re.sub(r"%[0-9A-F]?$", "", encoded[: max_chars - LEGACY_DIGEST_CHARS - 1])
        encoded = head + "~" + digest
    return encoded


def save_as_before(monkeypatch: pytest.MonkeyPatch, obj: Any, **kwargs: Any) -> dict:
    """``save_model`` as the old code did it: the bytes stored at a legacy key, and a reference signed for it."""

    def encode_as_before(value: str, max_chars: int = keys.MAX_COMPONENT_CHARS, **_: Any) -> str:
        return legacy_component(value, max_chars)

    with monkeypatch.context() as patch:
        patch.setattr(keys, "encode_component", encode_as_before)
        return save_model(obj, **kwargs)
