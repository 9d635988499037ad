"""A DAG of checks that must run inside tasks (Variables are reachable only through the Task SDK).

Loaded by test_variables.py; it lives outside dags/ so Airflow never schedules it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import DAG, task

from {{ cookiecutter.package_name }}.handoff.variables import DEFAULT_MAX_BYTES

MARKER = Path("/tmp") / "handoff-variables-test-pwned"


def build_dag() -> DAG:
    with DAG("handoff_variables_checks", schedule=None, default_args={"owner": "tests", "retries": 0}) as dag:

        @task
        def round_trip() -> None:
            import numpy as np

            from {{ cookiecutter.package_name }}.handoff import load_model, save_model

            from tests.handoff.payloads import fitted_model

            model, rows = fitted_model()
            for fmt in ("joblib", "skops"):
                ref = save_model(model, fmt=fmt)
                np.testing.assert_array_equal(load_model(ref).predict_proba(rows), model.predict_proba(rows))
            assert load_model(save_model({"c": 1.0}, "params", fmt="json")) == {"c": 1.0}

        @task
        def oversized_model_is_refused() -> None:
            import numpy as np

            from {{ cookiecutter.package_name }}.handoff import (
                ArtifactNotFoundError,
                ArtifactTooLargeError,
                RunScope,
                default_store,
                save_model,
            )
            from {{ cookiecutter.package_name }}.handoff.keys import artifact_key

            def too_big_key() -> str:
                return artifact_key(RunScope.current(), "too_big", store.key_component_chars)

            store = default_store()
            too_big = np.zeros(DEFAULT_MAX_BYTES // 8 + 1000)
            refusal = r"over the Variables limit of 49152 bytes.*s3 or shared_fs"
            with pytest.raises(ArtifactTooLargeError, match=refusal):
                save_model(too_big, "too_big")
            with pytest.raises(ArtifactNotFoundError):  # nothing was written under its key
                store.load({**save_model({}, "probe", fmt="json"), "uri": store.uri_for(too_big_key())})

        @task
        def tampering_is_detected() -> None:
            import base64

            from airflow.sdk import Variable

            from {{ cookiecutter.package_name }}.handoff import (
                IntegrityError,
                default_store,
                load_model,
                save_model,
            )

            from tests.handoff.payloads import malicious_pickle

            store = default_store()
            ref = save_model({"harmless": True}, "tampered", fmt="json")
            variable_key = store.variable_key(store.key_from_uri(ref["uri"]))
            data = bytearray(base64.b64decode(Variable.get(variable_key)))
            data[0] ^= 0x01
            Variable.set(variable_key, base64.b64encode(bytes(data)).decode())
            with pytest.raises(IntegrityError, match="does not match"):
                load_model(ref)
            Variable.set(variable_key, base64.b64encode(malicious_pickle(MARKER)).decode())
            with pytest.raises(IntegrityError):
                load_model({**ref, "format": "joblib"})

        @task
        def retention_collects_only_what_teardowns_missed() -> None:
            """Runs that never reached their teardown leave indexed Variables: retention deletes the expired ones,
            keeps a pinned one, and leaves alone a champion's model (no index lists it) and foreign Variables."""
            from datetime import UTC, datetime, timedelta

            from airflow.sdk import Variable

            from {{ cookiecutter.package_name }}.handoff import (
                RunScope,
                default_store,
                save_model,
            )
            from {{ cookiecutter.package_name }}.handoff.retention import (
                RetentionPolicy,
                apply_retention,
            )

            store, this_run = default_store(), RunScope.current().run_id
            refs = {
                run: save_model({"run": run}, fmt="json", scope=RunScope("orphans", run, "train", 1))
                for run in ("old-1", "old-2", "pinned", "newest")
            }
            champion = save_model({"run": "champion"}, fmt="json", scope=RunScope("orphans", "champion", "train", 1))
            store.delete_run_artifacts("orphans", "champion", ["train"], keep_uris={champion["uri"]})
            Variable.set("handoff/not-made-by-the-store", "x")

            report = apply_retention(
                store,
                RetentionPolicy(older_than_days=30, keep_last=None),
                pin_reason=lambda run: "in progress" if run.run_id in ("pinned", this_run) else None,
                dry_run=False,
                now=datetime.now(UTC) + timedelta(days=60),
            )
            expired = sorted(run.run_id for run in report.expired if run.dag_id == "orphans")
            assert expired == ["newest", "old-1", "old-2"], expired
            pinned = [(run.run_id, why) for run, why in report.pinned if run.dag_id == "orphans"]
            assert pinned == [("pinned", "in progress")], pinned
            skipped = {entry.where: entry.why for entry in report.skipped}
            assert "no run's index lists it" in skipped["handoff/not-made-by-the-store"]
            assert "a champion's model" in skipped["handoff/orphans/champion/train/1/model"]
            for ref, content in ((refs["pinned"], {"run": "pinned"}), (champion, {"run": "champion"})):
                assert store.load(ref, allow_other_run=True) == content
            remaining = set(Variable.keys(prefix="handoff/orphans/"))
            kept = {"pinned/train/1/model", "pinned/index/train", "champion/train/1/model"}
            assert remaining == {f"handoff/orphans/{key}" for key in kept}, remaining
            store.delete_run_artifacts("orphans", "pinned", ["train"])
            Variable.delete("handoff/orphans/champion/train/1/model")
            Variable.delete("handoff/not-made-by-the-store")

        @task
        def clean_up(**context: Any) -> None:
            from {{ cookiecutter.package_name }}.handoff import default_store

            ti = context["ti"]
            default_store().delete_run_artifacts(ti.dag_id, ti.run_id, list(context["dag"].task_ids))

        checks = [round_trip(), oversized_model_is_refused(), tampering_is_detected()]
        checks >> retention_collects_only_what_teardowns_missed() >> clean_up()
    return dag


build_dag()
