"""The backend this run of the suite tests: HANDOFF_STORAGE's scheme as the run starts (test DAGs read it too)."""

from __future__ import annotations

from airflow_model_handoff.storage import configured_location

# The configured store as the run started (each test then gets a store of its own inside it: conftest.py).
STARTED_WITH = configured_location()
BACKEND = {"file": "shared_fs", "s3": "s3", "variables": "variables"}[STARTED_WITH.scheme]
