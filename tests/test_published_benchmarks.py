"""The figures docs/benchmarks.md publishes came from the handoff code as it stands.

Each docs/benchmarks/<backend>.json is a generated project's benchmarks/results.json. It records the digest of the
handoff sources that produced it; a change to the handoff without fresh figures fails here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .helpers import BACKENDS, REPO_ROOT, project_helper

PUBLISHED = REPO_ROOT / "docs" / "benchmarks"
LIBRARY = "vendor/airflow-model-handoff/src/airflow_model_handoff"


@pytest.fixture(scope="module")
def current_digests(cookies_session) -> dict[str, str]:
    """The handoff sources' digest of each backend as the template bakes it now (with the project's own function)."""
    digests = {}
    for backend in BACKENDS:
        result = cookies_session.bake(extra_context={"storage_backend": backend})
        assert result.exception is None, result.exception
        project = Path(result.project_path)
        sources = project_helper(project, "sources", folder=f"{LIBRARY}/benchmark")
        library = project / LIBRARY
        digests[backend] = sources.handoff_sources_sha256(library)
    return digests


@pytest.mark.parametrize("published", sorted(PUBLISHED.glob("*.json")), ids=lambda path: path.name)
def test_published_figures_come_from_the_current_handoff_sources(published: Path, current_digests: dict) -> None:
    document = json.loads(published.read_text())
    (backend,) = {record["backend"] for record in document["results"]}
    assert document.get("handoff_sources_sha256") == current_digests[backend], (
        f"docs/benchmarks/{published.name} was made by other handoff sources: run `make bench` in a fresh {backend} "
        "project and publish its results.json, plot and tables (docs/benchmarks.md says how)"
    )


def test_every_backend_has_published_figures() -> None:
    assert {path.stem for path in PUBLISHED.glob("*.json")} >= set(BACKENDS)


@pytest.mark.parametrize("backend", BACKENDS)
def test_published_figures_record_their_conditions(backend: str) -> None:
    """Task conditions, a shuffled and recorded method order, cold and warm loads where the storage is a local
    file, loads outside a task where a script can load, and the targets."""
    published = json.loads((PUBLISHED / f"{backend}.json").read_text())
    records = published["results"]
    assert {record["backend"] for record in records} == {backend}
    assert published["conditions"].keys() == {"task", "script"}
    assert {record["conditions"] for record in records if record["phase"] == "save"} == {"task"}
    loads = {(record["conditions"], record.get("cache")) for record in records if record["phase"] == "load"}
    expected = {
        "shared_fs": {("task", "cold"), ("task", "warm"), ("script", "cold")},
        "s3": {("task", None), ("script", None)},
        "variables": {("task", None)},
    }
    assert loads == expected[backend]
    orders = published["orders"]
    assert len(orders) == published["repeats"] * len({record["model_mb"] for record in records})
    assert len({tuple(order["methods"]) for order in orders}) > 1, "the method order changes between repeats"
    assert {target["model_mb"] for target in published["targets"]} == {record["model_mb"] for record in records}
