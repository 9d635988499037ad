"""References altered by someone who holds the signing key (or by a bug in a task): the only way a test reaches
the checks that stand behind the signature (format, location, run, size and SHA-256)."""

from __future__ import annotations

from typing import Any

from airflow_model_handoff.settings import HandoffSettings
from airflow_model_handoff.signing import signature_for


def resigned(ref: dict[str, Any]) -> dict[str, Any]:
    """``ref`` with a valid signature over its fields as they are now (this session's key)."""
    fields = {name: value for name, value in ref.items() if name != "signature"}
    return {**fields, "signature": signature_for(fields, HandoffSettings.from_env().signing_keys)}
