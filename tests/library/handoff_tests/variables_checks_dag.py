"""A DAG of checks that must run inside tasks (Variables are reachable only through the Task SDK).

Loaded by test_variables.py; it lives outside dags/ so Airflow never schedules it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import DAG, task
from airflow_model_handoff.variables import DEFAULT_MAX_BYTES

MARKER = Path("/tmp") / "handoff-variables-test-pwned"
# 61 characters: past 56 encoded, a key segment keeps a prefix and a digest, so "[0]" is not in it.
LONG_MAPPED_TASK_ID = "a_mapped_task_whose_id_is_long_enough_to_be_shortened_in_keys"


def build_dag() -> DAG:
    with DAG("handoff_variables_checks", schedule=None, default_args={"owner": "tests", "retries": 0}) as dag:

        @task
        def round_trip() -> None:
            import numpy as np
            from airflow_model_handoff import load_model, save_model

            from handoff_tests.payloads import fitted_model

            model, rows = fitted_model()
            for fmt in ("joblib", "skops"):
                with pytest.MonkeyPatch.context() as monkeypatch:
                    monkeypatch.setenv("HANDOFF_FORMAT", fmt)  # the deployment's format: its loaders accept it
                    ref = save_model(model)
                    np.testing.assert_array_equal(load_model(ref).predict_proba(rows), model.predict_proba(rows))
            assert load_model(save_model({"c": 1.0}, "params", fmt="json")) == {"c": 1.0}

        @task
        def oversized_model_is_refused() -> None:
            import numpy as np
            from airflow_model_handoff import (
                ArtifactNotFoundError,
                ArtifactTooLargeError,
                RunScope,
                default_store,
                save_model,
            )
            from airflow_model_handoff.keys import artifact_key

            from handoff_tests.forgery import resigned

            def too_big_key() -> str:
                return artifact_key(RunScope.current(), "too_big", store.key_component_chars)

            store = default_store()
            too_big = np.zeros(DEFAULT_MAX_BYTES // 8 + 1000)
            refusal = r"over the Variables limit of 49152 bytes.*s3 or shared_fs"
            with pytest.raises(ArtifactTooLargeError, match=refusal):
                save_model(too_big, "too_big")
            with pytest.raises(ArtifactNotFoundError):  # nothing was written under its key
                store.load(resigned({**save_model({}, "probe", fmt="json"), "uri": store.uri_for(too_big_key())}))

        @task
        def tampering_is_detected() -> None:
            import base64

            from airflow.sdk import Variable
            from airflow_model_handoff import (
                TamperedArtifactError,
                default_store,
                load_model,
                save_model,
            )

            from handoff_tests.forgery import resigned
            from handoff_tests.payloads import malicious_pickle

            store = default_store()
            ref = save_model({"harmless": True}, "tampered", fmt="json")
            variable_key = store.variable_key(store.key_from_uri(ref["uri"]))
            data = bytearray(base64.b64decode(Variable.get(variable_key)))
            data[0] ^= 0x01
            Variable.set(variable_key, base64.b64encode(bytes(data)).decode())
            with pytest.raises(TamperedArtifactError, match="does not match"):
                load_model(ref)
            Variable.set(variable_key, base64.b64encode(malicious_pickle(MARKER)).decode())
            with pytest.raises(TamperedArtifactError):
                load_model(resigned({**ref, "format": "joblib"}))

        @task(task_id=LONG_MAPPED_TASK_ID)
        def mapped_task_is_refused(index: int) -> None:
            """The refusal holds for a task id long enough that its key segment is shortened to a digest."""
            from airflow_model_handoff import (
                MisconfiguredError,
                save_model,
            )

            with pytest.raises(MisconfiguredError, match="does not support mapped tasks"):
                save_model({"index": index}, fmt="json")

        @task
        def teardown_deletes_every_variable_of_its_run() -> None:
            """Every task's and try's Variables, found by listing the run's prefix whatever tasks the DAG has now; a
            kept champion stays, and so does another run whose id extends this one past a '/'."""
            from airflow.sdk import Variable
            from airflow_model_handoff import (
                RunScope,
                default_store,
                save_model,
            )

            def save(run_id: str, task_id: str, try_number: int = 1) -> dict:
                scope = RunScope("teardown", run_id, task_id, try_number)
                return save_model({"task": task_id}, fmt="json", scope=scope)

            store = default_store()
            champion = save("run", "train")
            for task_id, try_number in (("train", 2), ("a_task_no_longer_in_the_dag", 1), (LONG_MAPPED_TASK_ID, 1)):
                save("run", task_id, try_number)
            for other_run in ("run/next", "run-2"):
                save(other_run, "train")

            deleted = store.delete_run_artifacts("teardown", "run", keep_uris={champion["uri"]})
            assert len(deleted) == 3, deleted
            others = {f"{run}/{key}" for run in ("run/next", "run-2") for key in ("train/1/model", "index/train")}
            kept = {"run/train/1/model", *others}
            remaining = set(Variable.keys(prefix="handoff/teardown/"))
            assert remaining == {f"handoff/teardown/{key}" for key in kept}, remaining
            for other_run in ("run/next", "run-2"):
                store.delete_run_artifacts("teardown", other_run)
            Variable.delete("handoff/teardown/run/train/1/model")

        @task
        def retention_collects_only_what_teardowns_missed() -> None:
            """Runs that never reached their teardown leave indexed Variables: retention deletes the expired ones,
            keeps a pinned one, and leaves alone a champion's model (no index lists it) and foreign Variables."""
            from datetime import UTC, datetime, timedelta

            from airflow.sdk import Variable
            from airflow_model_handoff import (
                RunScope,
                default_store,
                save_model,
            )
            from airflow_model_handoff.retention import (
                RetentionPolicy,
                apply_retention,
            )

            store, this_run = default_store(), RunScope.current().run_id
            refs = {
                run: save_model({"run": run}, fmt="json", scope=RunScope("orphans", run, "train", 1))
                for run in ("old-1", "old-2", "pinned", "newest")
            }
            champion = save_model({"run": "champion"}, fmt="json", scope=RunScope("orphans", "champion", "train", 1))
            store.delete_run_artifacts("orphans", "champion", keep_uris={champion["uri"]})
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
            store.delete_run_artifacts("orphans", "pinned")
            Variable.delete("handoff/orphans/champion/train/1/model")
            Variable.delete("handoff/not-made-by-the-store")

        @task
        def clean_up(**context: Any) -> None:
            from airflow_model_handoff import default_store

            ti = context["ti"]
            default_store().delete_run_artifacts(ti.dag_id, ti.run_id)

        checks = [
            round_trip(),
            oversized_model_is_refused(),
            tampering_is_detected(),
            mapped_task_is_refused.expand(index=[0, 1]),
            teardown_deletes_every_variable_of_its_run(),
        ]
        checks >> retention_collects_only_what_teardowns_missed() >> clean_up()
    return dag


build_dag()
