"""Keys are unique per run and task try, and no run id can escape the storage root."""

from __future__ import annotations

import posixpath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from {{ cookiecutter.package_name }}.handoff.keys import (
    RunScope,
    artifact_key,
    encode_component,
    is_safe_key,
)

HOSTILE_RUN_IDS = ["../x", "..", ".", "a/b", "a\\b", "x:y+z", "with space", "ünïcødé ✓", "%2E%2E", "~x", "r" * 5000]


@pytest.mark.parametrize("run_id", HOSTILE_RUN_IDS)
def test_hostile_run_ids_stay_one_safe_segment(run_id: str) -> None:
    key = artifact_key(RunScope("dag", run_id, "task", 1), "model")
    assert is_safe_key(key)
    assert posixpath.normpath(key) == key and not key.startswith("/")
    assert all(len(segment) <= 120 for segment in key.split("/"))


def test_hostile_run_ids_give_distinct_keys() -> None:
    keys = {artifact_key(RunScope("dag", run_id, "task", 1), "model") for run_id in HOSTILE_RUN_IDS}
    assert len(keys) == len(HOSTILE_RUN_IDS)


@given(st.text(min_size=1, max_size=300), st.text(min_size=1, max_size=300))
def test_encoding_is_injective_and_safe(a: str, b: str) -> None:
    ea, eb = encode_component(a), encode_component(b)
    assert "/" not in ea and ea not in (".", "..") and not ea.startswith(".")
    if a != b:
        assert ea != eb


def test_tries_and_map_indexes_get_their_own_keys() -> None:
    keys = {
        artifact_key(RunScope("dag", "run", "task", 1), "model"),
        artifact_key(RunScope("dag", "run", "task", 2), "model"),
        artifact_key(RunScope("dag", "run", "task", 1, map_index=0), "model"),
        artifact_key(RunScope("dag", "run", "task", 1, map_index=1), "model"),
    }
    assert len(keys) == 4


def test_long_components_are_shortened_with_a_digest() -> None:
    long_a, long_b = "r" * 500 + "a", "r" * 500 + "b"
    assert encode_component(long_a) != encode_component(long_b)
    assert len(encode_component(long_a)) <= 120 and "~" in encode_component(long_a)
