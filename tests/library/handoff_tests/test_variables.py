"""variables: the store works only inside tasks, so these tests run a DAG of checks through the
Task SDK against the real metadata DB, then read the Variable table directly."""

from __future__ import annotations

from pathlib import Path

from airflow.dag_processing.bundles.manager import DagBundlesManager
from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

from handoff_tests.variables_checks_dag import LONG_MAPPED_TASK_ID, MARKER


def handoff_variables() -> list[str]:
    """Handoff Variables in the metadata DB, read directly with SQL."""
    from airflow.models.variable import Variable
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return list(session.scalars(select(Variable.key).where(Variable.key.like("handoff/%"))))


def test_variables_store_inside_a_dag_run() -> None:
    MARKER.unlink(missing_ok=True)
    dag_file = Path(__file__).with_name("variables_checks_dag.py")
    dagbag = DagBag(dag_folder=str(dag_file))
    DagBundlesManager().sync_bundles_to_db()
    sync_bag_to_db(dagbag, "dags-folder", None)  # dag.test() runs only serialized DAGs
    dag_run = dagbag.get_dag("handoff_variables_checks").test()
    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert states == dict.fromkeys(
        (
            "round_trip",
            "oversized_model_is_refused",
            "tampering_is_detected",
            LONG_MAPPED_TASK_ID,
            "teardown_deletes_every_variable_of_its_run",
            "retention_collects_only_what_teardowns_missed",
            "clean_up",
        ),
        "success",
    )
    assert not MARKER.exists(), "the malicious pickle must never run"
    dags_written = ("handoff_variables_checks", "orphans", "teardown")
    written_here = [key for key in handoff_variables() if key.split("/")[1] in dags_written]
    assert written_here == [], "clean_up deletes every Variable the run wrote, oversized ones were never written"
