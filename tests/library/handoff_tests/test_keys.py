"""Keys are unique per run and task try, and no run id can escape the storage root."""

from __future__ import annotations

import hashlib
import posixpath
import re
import unicodedata
from functools import partial
from types import SimpleNamespace
from urllib.parse import unquote, unquote_to_bytes

import pytest
from airflow_model_handoff.errors import MisconfiguredError
from airflow_model_handoff.keys import (
    TEST_TRY,
    KeyParts,
    RunScope,
    artifact_key,
    decode_segment,
    encode_component,
    is_component_segment,
    is_safe_key,
    key_prefix,
    parse_key,
)
from hypothesis import given
from hypothesis import strategies as st

from handoff_tests.legacy_keys import legacy_component

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


# Characters an encoding could confuse, mixed into every generated value.
CHARS = st.one_of(st.characters(codec="utf-8"), st.sampled_from("~%.-_Aa[]0é\u0301"))
ESCAPED = st.sampled_from("é~% /€😀\x00")  # each encoded as one or more %XX escapes
LOOK_ALIKES = ["~", "%7E", "%", "%25", ".", "%2E", "..", "A", "%41", "a", "/", "%2F", "é", "e\u0301", "[0]", "-"]
TRANSFORMS = [str.upper, str.lower, str.swapcase, *(partial(unicodedata.normalize, f) for f in ("NFC", "NFD", "NFKC"))]
DIGEST_MARK = 33  # "~" and 32 hex digits: a shortened segment keeps ``max_chars - 33`` characters of the encoding


def texts(min_size: int = 2, max_size: int = 300) -> st.SearchStrategy[str]:
    return st.text(CHARS, min_size=min_size, max_size=max_size)


def seeds(max_chars: int) -> st.SearchStrategy[str]:
    """A value to build near misses from: short, long enough to be shortened, or with an escape where the
    shortening cuts (the cut-off escape is dropped, so only the digest tells such values apart)."""
    cut = max_chars - DIGEST_MARK
    at_the_cut = st.builds(
        lambda n, c, tail: "r" * n + c + tail, st.integers(cut - 3, cut - 1), ESCAPED, texts(max_chars)
    )
    return st.one_of(texts(max_size=30), texts(min_size=110), at_the_cut)


def near_misses(a: str, max_chars: int) -> st.SearchStrategy[list[str]]:
    """Values one small step from ``a``, where a lossy encoding would give two of them the same segment."""
    at = st.integers(0, len(a) - 1)
    return st.one_of(
        st.builds(lambda i, c: [a[:i] + c + a[i + 1 :], a[:i] + c + a[i:], a[:i] + a[i + 1 :]], at, CHARS),
        at.map(lambda i: [a[:i] + s + a[i:] for s in LOOK_ALIKES]),  # "~" "%7E" "-", "A" "%41", "é" "e\u0301"
        at.map(lambda i: [a[:i] + s + a[i + 1 :] for s in LOOK_ALIKES]),
        ESCAPED.map(lambda c: [re.sub(r"[^A-Za-z0-9_.-]", c, a, count=1)]),  # another escape, maybe where cut
        st.just([encode_component(a, max_chars), unquote(a)]),  # a spelled as its segment; "%41" read as "A"
        st.just([transform(a) for transform in TRANSFORMS]),  # case, unicode normalisation
        st.integers(0, 99).map(lambda n: [f"{a}[{n}]"]),  # the task segment of a mapped task
        st.builds(lambda i, end: [a[:i] + end], at, texts(min_size=1, max_size=60)),  # same start, new end
    )


@given(max_chars=st.sampled_from([56, 120]), data=st.data())
def test_encoding_is_injective_and_safe(max_chars: int, data: st.DataObject) -> None:
    """Random pairs almost never come close to colliding: every value here is a near miss of the first."""
    a = data.draw(seeds(max_chars), label="a")
    families = data.draw(st.lists(near_misses(a, max_chars), min_size=5, max_size=20), label="near misses")
    seen: dict[str, str] = {}
    for value in {a}.union(*families):
        encoded = encode_component(value, max_chars)
        assert "/" not in encoded and not encoded.startswith(".") and len(encoded) <= max_chars
        assert seen.setdefault(encoded, value) == value, f"two values give {encoded!r}"


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


@pytest.mark.parametrize("max_chars", [56, 120])
@pytest.mark.parametrize("value", ["r" * 500, "é" * 100, "manual__" + "x" * 200 + "/../~"], ids=["ascii", "é", "odd"])
def test_a_shortened_segment_keeps_128_bits_of_the_sha256(value: str, max_chars: int) -> None:
    """A collision needs about 2^64 chosen ids, not the 2^32 of the 64 bits keys kept before."""
    head, digest = encode_component(value, max_chars).split("~")
    assert digest == hashlib.sha256(value.encode("utf-8")).hexdigest()[:32]
    assert max_chars - 35 <= len(head) <= max_chars - 33
    assert value.encode("utf-8").startswith(unquote_to_bytes(head))


@given(value=st.text(CHARS, min_size=1, max_size=300), max_chars=st.sampled_from([56, 120]))
def test_segments_stored_with_the_legacy_64_bit_digest_are_still_ours(value: str, max_chars: int) -> None:
    """Artifacts stored before keep their keys: the grammar still takes them, so loads and retention find them;
    a shortened one is told apart from today's segment of the same id by its digest length, never confused."""
    legacy = legacy_component(value, max_chars)
    assert encode_component(value, max_chars, legacy=True) == legacy
    assert is_component_segment(legacy, max_chars)
    key = f"{legacy}/{legacy}/{legacy}/1/{legacy}"
    assert parse_key(key, max_chars) == KeyParts(legacy, legacy, legacy, 1, legacy)
    shortened = "~" in legacy
    assert (decode_segment(legacy) is None) == shortened
    assert (encode_component(value, max_chars) != legacy) == shortened


def test_a_legacy_key_as_the_old_code_stored_it_parses() -> None:
    run_id = "r" * 500
    run_segment = "r" * 103 + "~" + hashlib.sha256(run_id.encode()).hexdigest()[:16]  # as stored before
    assert parse_key(f"dag/{run_segment}/task/1/model") == KeyParts("dag", run_segment, "task", 1, "model")
    assert key_prefix("dag", run_id, "task", 1, legacy=True) == f"dag/{run_segment}/task/1/"
    assert key_prefix("dag", run_id, "task", 1) != f"dag/{run_segment}/task/1/"


@given(
    ids=st.lists(st.text(min_size=1, max_size=300), min_size=4, max_size=4),
    try_number=st.integers(0, 10_000),
    max_chars=st.sampled_from([56, 120]),
)
def test_the_parser_accepts_every_key_the_library_makes_and_reads_the_ids_back(
    ids: list[str], try_number: int, max_chars: int
) -> None:
    dag_id, run_id, task_id, name = ids
    key = artifact_key(RunScope(dag_id, run_id, task_id, try_number), name, max_chars)
    parts = parse_key(key, max_chars)
    assert parts is not None and parts.try_number == try_number
    for real, segment in zip(ids, (parts.dag, parts.run, parts.task, parts.name), strict=True):
        assert decode_segment(segment) in (real, None), "a segment decodes to its id, or says it cannot"
        assert (decode_segment(segment) is None) == (encode_component(real, max_chars) != encode_component(real, 10**6))


def test_a_shortened_segment_decodes_to_none_not_to_a_wrong_id() -> None:
    key = artifact_key(RunScope("dag", "r" * 500, "task", 1), "model")
    parts = parse_key(key)
    assert parts == KeyParts("dag", parts.run, "task", 1, "model") and "~" in parts.run
    assert decode_segment(parts.run) is None
    assert decode_segment(parts.dag) == "dag"


@pytest.mark.parametrize(
    "key",
    [
        "dag/run/task/1",  # four segments
        "dag/run/task/1/model/extra",  # six
        "/run/task/1/model",  # an empty segment
        "dag/run/task/01/model",  # no leading zero
        "dag/run/task/00/model",
        "dag/run/task/-1/model",
        "dag/run/task/+1/model",
        "dag/run/task/1.0/model",
        "dag/run/task/\u0661/model",  # an Arabic-Indic digit one: int() takes it, the grammar does not
        "dag/run/task/x/model",
        "./run/task/1/model",
        "../run/task/1/model",
        ".hidden/run/task/1/model",  # a leading dot is always escaped
        ".tmp-abc123/run/task/1/model",
        "dag/run/task/1/.tmp-abc123",
        "dag/r%2e%2e/task/1/model",  # escapes are upper case
        "dag/%41/task/1/model",  # quote never escapes a letter
        "dag/a%2Eb/task/1/model",  # nor a dot that is not leading
        "dag/a%2/task/1/model",  # a cut escape
        "dag/%FF/task/1/model",  # not UTF-8: no run id encodes to it
        "dag/a~b/task/1/model",  # ~ only marks a digest
        # A digest is 32 hex digits (16 in legacy keys), lower case, after a head of the length that goes with it.
        *(
            "dag/" + "r" * (119 - digits) + "~" + "0" * digits + "/task/1/model"
            for digits in (1, 8, 15, 17, 24, 31, 33, 40, 64)
        ),
        "dag/" + "r" * 87 + "~" + "A" * 32 + "/task/1/model",
        "dag/" + "r" * 103 + "~" + "A" * 16 + "/task/1/model",
        "dag/" + "r" * 103 + "~" + "0" * 32 + "/task/1/model",  # a legacy head with today's digest: too long
        "dag/" + "r" * 87 + "~" + "0" * 16 + "/task/1/model",  # today's head with a legacy digest: too short
        "dag/" + "r" * 50 + "~" + "0" * 32 + "/task/1/model",  # a shortened head has the full length
        "dag/" + "r" * 50 + "~" + "0" * 16 + "/task/1/model",
        "dag/" + "r" * 121 + "/task/1/model",  # too long to be unshortened
        "dag/with space/task/1/model",
        "dag/r\x00/task/1/model",
        "dag/a\\b/task/1/model",
        "dag/ünï/task/1/model",
    ],
)
def test_the_parser_refuses_anything_else(key: str) -> None:
    assert parse_key(key) is None
    assert not is_safe_key(key)


def task_context(try_number: int) -> dict:
    """What ``get_current_context()`` gives a task: its task instance, here with the fields the scope reads."""
    return {"ti": SimpleNamespace(dag_id="dag", run_id="run", task_id="task", try_number=try_number, map_index=-1)}


def test_a_task_that_airflow_tasks_test_runs_saves_as_try_0(monkeypatch: pytest.MonkeyPatch) -> None:
    """`airflow tasks test` counts no try and, in an existing run, gives the task the number of the try that ran:
    its artifacts go under try 0, next to that try's, never over them."""
    assert RunScope.from_context(task_context(1)).try_number == 1
    monkeypatch.setenv("AIRFLOW_TEST_MODE", "True")  # what `airflow tasks test` sets for the task
    scope = RunScope.from_context(task_context(1))
    assert scope == RunScope("dag", "run", "task", TEST_TRY)
    assert RunScope.from_context(task_context(0)) == scope  # a new (temporary) run: Airflow says 0 itself
    key = artifact_key(scope, "model")
    assert key == "dag/run/task/0/model" and parse_key(key) == KeyParts("dag", "run", "task", TEST_TRY, "model")
    assert key != artifact_key(RunScope("dag", "run", "task", 1), "model")


def test_a_negative_try_number_makes_no_key() -> None:
    with pytest.raises(MisconfiguredError, match="try_number must be >= 0"):
        key_prefix("dag", "run", "task", -1)
