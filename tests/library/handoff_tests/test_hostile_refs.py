"""Hostile references: whatever arrives through XCom, the loader refuses it with the library's error and never
reads anything outside the storage it is configured for.

Every example is loaded by the real store under test while a watcher records each storage access: for a file
store every file or directory opened, seen by a ``sys.addaudithook`` hook (``open``, ``os.listdir``,
``os.scandir``); for s3 every request a real S3 server (moto, over HTTP, in its own process) received, from the
server's own recorder; for variables every Variable asked for through the Task SDK. Outside a task the Task SDK
reads Variables from ``AIRFLOW_VAR_<KEY>`` environment variables (its secrets backend), so the artifact and the
canaries live there; the metadata-DB path is exercised inside a DAG run by test_variables.py.
Canaries sit just outside the store, each with a reference carrying its true SHA-256 and size, so only the
location checks can stop them; a control shows that a store configured where a canary lives does load it.
A reference altered without the signing key is refused by its signature, before anything else; the other checks
are reached with references re-signed as a key holder (or a buggy task) would: each must hold on its own.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from airflow_model_handoff import (
    ArtifactRef,
    DisallowedFormatError,
    ForeignLocationError,
    HandoffError,
    MalformedReferenceError,
    RunScope,
    SignatureError,
    TamperedArtifactError,
)
from airflow_model_handoff.formats import get_format
from airflow_model_handoff.keys import artifact_key
from airflow_model_handoff.s3 import S3Store
from airflow_model_handoff.settings import HandoffSettings
from airflow_model_handoff.shared_fs import SharedFsStore
from airflow_model_handoff.variables import VariablesStore
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from handoff_tests.forgery import resigned
from handoff_tests.stores import BACKEND, BUCKET, only_on

SCOPE = RunScope("train_and_score", "manual__2025-01-01T00:00:00+00:00", "train_model", 1)
PAYLOAD = {"model": "the real one"}
CANARY = {"canary": "outside the store: must never be read"}
# The store under test lives at .../hostile/store; canaries sit in its parent and in a sibling named like it.
STORE_PATH, PARENT_PATH, SIBLING = "hostile/store", "hostile", "store-evil"

# Reproducible and bounded: the same examples on every run, no example database, no per-example deadline.
# The autouse per-test storage fixtures are not reset between examples, and need not be: loading never writes.
HOSTILE = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

FIELD_TYPES = {f.name: int if f.type == "int" else str for f in fields(ArtifactRef)}
HEX = "0123456789abcdef"
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
# Path tricks, encoded and not, for key segments; random text is mixed in too.
SEGMENT_TRICKS = ["..", ".", "", "%2e%2e", "%2E%2E", "..%2F", "%2F", "..\\..", "\\", "~", "\x00", "/", SIBLING]
SCHEMES = ["file", "s3", "s3a", "gs", "http", "https", "airflow-variable", "FILE", "S3", ""]


def traversals(prefix_uri: str, parent_ref: dict, sibling_ref: dict) -> list[dict]:
    """References that spell a canary's location starting from this store's URI prefix."""
    key = artifact_key(SCOPE, "model")
    return [
        resigned({**parent_ref, "uri": prefix_uri + "../" + key}),
        resigned({**parent_ref, "uri": prefix_uri + "./../" + key}),
        resigned({**parent_ref, "uri": prefix_uri + "%2E%2E/" + key}),
        resigned({**parent_ref, "uri": prefix_uri + "..%2F" + key}),
        resigned({**parent_ref, "uri": prefix_uri + key + "/" + "../" * 7 + key}),
        resigned({**sibling_ref, "uri": prefix_uri + "../" + SIBLING + "/" + key}),
    ]


_opened: list[str] | None = None  # the current watch's list; None when nobody watches


def _record_opens(event: str, args: tuple[Any, ...]) -> None:
    """Audit hook: every path opened or listed by this process while a watch is on."""
    watched = event in ("open", "os.listdir", "os.scandir") and args and isinstance(args[0], str | bytes | os.PathLike)
    if _opened is not None and watched:
        _opened.append(os.fsdecode(args[0]))


if BACKEND == "shared_fs":
    sys.addaudithook(_record_opens)  # audit hooks cannot be removed: it stays, idle, for the rest of the session


class FileWorld:
    """A directory store holding one artifact, canaries just outside it, and links planted inside it."""

    def __init__(self, base: Path) -> None:
        self.root = base / STORE_PATH
        stores = [SharedFsStore(base / PARENT_PATH / name) for name in ("store", "", SIBLING)]
        for store in stores:
            store.root.mkdir(parents=True, exist_ok=True)
        self.store, parent, sibling = stores
        self.valid = self.store.save(PAYLOAD, fmt="json", scope=SCOPE)
        self.canaries = [(store, store.save(CANARY, fmt="json", scope=SCOPE)) for store in (parent, sibling)]
        parent_ref, sibling_ref = (ref for _, ref in self.canaries)
        self.traversals = traversals(self.store.uri_for(""), parent_ref, sibling_ref) + self.links(parent, parent_ref)

    def links(self, parent: SharedFsStore, parent_ref: dict) -> list[dict]:
        """A symlink at a key and a symlinked directory inside the root, both leading to the parent's canary."""
        canary = parent.path_for(parent.key_from_uri(parent_ref["uri"]))
        linked_file = artifact_key(SCOPE, "linked")
        self.store.path_for(linked_file).symlink_to(canary)
        dag, rest = artifact_key(SCOPE, "model").split("/", 1)
        (self.root / "escape").symlink_to(parent.root / dag, target_is_directory=True)
        return [
            resigned({**parent_ref, "uri": self.store.uri_for(linked_file)}),
            resigned({**parent_ref, "uri": self.store.uri_for("escape/" + rest)}),
        ]

    @contextmanager
    def watch(self) -> Iterator[list[str]]:
        global _opened
        _opened = []
        try:
            yield _opened
        finally:
            _opened = None

    def outside(self, accesses: list[str]) -> list[str]:
        """Paths opened outside the store's root, but for the loader's own spool directory (the private copy it
        hashes the stored bytes into)."""
        own = (self.root, Path(os.path.realpath(self.store.spool_dir)))
        return [path for path in accesses if not any(Path(os.path.realpath(path)).is_relative_to(o) for o in own)]

    def same_artifact(self, uri: str) -> bool:
        return uri == self.valid["uri"]


@only_on("shared_fs")
def test_a_directory_at_a_key_is_refused_not_a_crash(world: FileWorld) -> None:
    """Found by this file: opening a directory at a key raised IsADirectoryError instead of the library's error."""
    key = artifact_key(SCOPE, "a-directory")
    world.store.path_for(key).mkdir(exist_ok=True)
    error, accesses = load_refused(world, resigned({**world.valid, "uri": world.store.uri_for(key)}))
    assert isinstance(error, TamperedArtifactError) and "not a regular file" in str(error)
    assert world.outside(accesses) == []


CONN_ID = "hostile_s3"
OTHER_BUCKET = "canary-bucket"


class S3World:
    """A bucket prefix holding one artifact, canaries in the parent prefix, a sibling prefix and another bucket."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        prefixes = (STORE_PATH, PARENT_PATH, f"{PARENT_PATH}/{SIBLING}")
        stores = [S3Store(BUCKET, prefix, CONN_ID) for prefix in prefixes]
        stores.append(S3Store(OTHER_BUCKET, STORE_PATH, CONN_ID))
        self.store = stores[0]
        self.store.client.create_bucket(Bucket=OTHER_BUCKET)
        self.valid = self.store.save(PAYLOAD, fmt="json", scope=SCOPE)
        self.canaries = [(store, store.save(CANARY, fmt="json", scope=SCOPE)) for store in stores[1:]]
        parent_ref, sibling_ref, _ = (ref for _, ref in self.canaries)
        self.traversals = traversals(self.store.uri_for(""), parent_ref, sibling_ref)
        self.moto("start-recording")

    def moto(self, action: str) -> bytes:
        """Call the server's request recorder (its own HTTP API, which it does not record)."""
        method = "GET" if action == "download-recording" else "POST"
        request = urllib.request.Request(f"{self.endpoint}/moto-api/recorder/{action}", method=method)
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.read()

    @contextmanager
    def watch(self) -> Iterator[list[str]]:
        """Yield a list that receives "METHOD /bucket/key?query" for every request the server got meanwhile."""
        self.moto("reset-recording")
        accesses: list[str] = []
        try:
            yield accesses
        finally:
            for line in self.moto("download-recording").decode().splitlines():
                entry = json.loads(line)
                path = entry["url"].removeprefix(self.endpoint)
                accesses.append(f"{entry['method']} {path}")

    def outside(self, accesses: list[str]) -> list[str]:
        inside = f"/{self.store.bucket}/{self.store.object_key('')}"  # path-style addressing
        return [access for access in accesses if not access.split(" ", 1)[1].startswith(inside)]

    def same_artifact(self, uri: str) -> bool:
        return uri == self.valid["uri"]


def serialised(obj: Any) -> bytes:
    """The bytes the library's ``json`` format stores for ``obj``."""
    buffer = io.BytesIO()
    get_format("json").dump(obj, buffer)
    return buffer.getvalue()


def reference_to(uri: str, data: bytes) -> dict:
    """A reference that is perfect for ``data`` stored at ``uri``."""
    keys = HandoffSettings.from_env().signing_keys
    return ArtifactRef.create(uri, hashlib.sha256(data).hexdigest(), len(data), "json", SCOPE, keys).to_dict()


class VariablesWorld:
    """Variables under one prefix holding one artifact, canaries under the parent prefix and a sibling prefix."""

    def __init__(self, env: pytest.MonkeyPatch) -> None:
        self.env = env
        self.store = VariablesStore(STORE_PATH)
        self.valid = self.plant(self.store, PAYLOAD)
        stores = [VariablesStore(PARENT_PATH), VariablesStore(f"{PARENT_PATH}/{SIBLING}")]
        self.canaries = [(store, self.plant(store, CANARY)) for store in stores]
        parent_ref, sibling_ref = (ref for _, ref in self.canaries)
        self.traversals = traversals(self.store.uri_for(""), parent_ref, sibling_ref)

    def plant(self, store: VariablesStore, obj: Any) -> dict:
        """Store ``obj`` where the Task SDK finds a Variable outside a task: ``AIRFLOW_VAR_<KEY>``."""
        key = artifact_key(SCOPE, "model", store.key_component_chars)
        data = serialised(obj)
        self.env.setenv("AIRFLOW_VAR_" + store.variable_key(key).upper(), base64.b64encode(data).decode())
        return reference_to(store.uri_for(key), data)

    @contextmanager
    def watch(self) -> Iterator[list[str]]:
        """Yield a list that receives the key of every ``Variable.get`` (the real one still answers)."""
        from airflow.sdk import Variable

        accesses: list[str] = []
        real_get = Variable.get

        def recording_get(key: str, *args: Any, **kwargs: Any) -> Any:
            accesses.append(key)
            return real_get(key, *args, **kwargs)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(Variable, "get", recording_get)
            yield accesses

    def outside(self, accesses: list[str]) -> list[str]:
        return [key for key in accesses if not key.startswith(self.store.variable_key(""))]

    def same_artifact(self, uri: str) -> bool:
        """Environment Variables are looked up upper-cased: a key differing only in case names the same one."""
        return uri.startswith(self.store.uri_for("")) and uri.upper() == self.valid["uri"].upper()


World = FileWorld | S3World | VariablesWorld


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The store under test with its canaries, for this run's backend."""
    if BACKEND == "shared_fs":
        yield FileWorld(tmp_path_factory.mktemp("world"))
        return
    with pytest.MonkeyPatch.context() as env:
        if BACKEND == "variables":
            yield VariablesWorld(env)
            return
        from airflow_model_handoff.local.s3 import connection_json, local_s3_server

        # Its own server, so its recorder sees nothing but these tests; recording starts once it is set up.
        env.setenv("MOTO_RECORDER_FILEPATH", str(tmp_path_factory.mktemp("moto") / "requests.jsonl"))
        with local_s3_server(BUCKET) as endpoint:
            env.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_json(endpoint))
            yield S3World(endpoint)


def load_refused(world: World, ref: Any) -> tuple[HandoffError, list[str]]:
    """Load ``ref`` with the store under test, which must refuse it; return the refusal and the accesses made."""
    with world.watch() as accesses, pytest.raises(HandoffError) as refusal:
        world.store.load(ref)
    return refusal.value, accesses


def malformed(valid: dict) -> st.SearchStrategy[Any]:
    """``valid`` with fields missing, extra, of the wrong type or out of range; or not a dict at all."""
    missing = st.sets(st.sampled_from(sorted(valid)), min_size=1).map(
        lambda names: {k: v for k, v in valid.items() if k not in names}
    )
    extra = st.dictionaries(st.text(max_size=12).filter(lambda k: k not in valid), JSON_VALUES, min_size=1, max_size=3)
    wrong_type = st.sampled_from(sorted(valid)).flatmap(
        lambda name: JSON_VALUES.filter(lambda v: type(v) is not FIELD_TYPES[name]).map(lambda v: {**valid, name: v})
    )
    digest = st.one_of(
        st.text(HEX, max_size=130).filter(lambda d: len(d) != 64),
        st.text(HEX.upper(), min_size=64, max_size=64).filter(lambda d: d != d.lower()),
        st.text(min_size=64, max_size=64).filter(lambda d: not set(d) <= set(HEX)),
    )
    return st.one_of(
        missing,
        extra.map(lambda more: {**valid, **more}),
        wrong_type,
        digest.map(lambda d: {**valid, "sha256": d}),
        st.integers(max_value=-1).map(lambda n: {**valid, "size_bytes": n}),
        st.integers(max_value=-1).map(lambda n: {**valid, "try_number": n}),
        JSON_VALUES.filter(lambda v: not isinstance(v, dict)),
        st.just(json.dumps(valid)),
    )


def foreign(world: World) -> st.SearchStrategy[dict]:
    """References whose URI was bent: another scheme, root, bucket or prefix, tricks in the key, known canaries."""
    valid, prefix = world.valid, world.store.uri_for("")
    segments = world.store.key_from_uri(valid["uri"]).split("/")
    segment = st.sampled_from(SEGMENT_TRICKS + segments) | st.text(max_size=12)
    scheme = st.sampled_from(SCHEMES) | st.from_regex(r"[a-z][a-z0-9+.-]{0,10}", fullmatch=True)
    rest = valid["uri"].split(":", 1)[1]
    uris = st.one_of(
        scheme.map(lambda s: f"{s}:{rest}"),
        st.text(max_size=40).map(lambda other_prefix: other_prefix + "/".join(segments)),
        st.lists(segment, max_size=8).map(lambda parts: prefix + "/".join(parts)),
        st.tuples(st.integers(0, len(segments) - 1), segment).map(
            lambda swap: prefix + "/".join([*segments[: swap[0]], swap[1], *segments[swap[0] + 1 :]])
        ),
        st.tuples(st.integers(0, len(segments)), st.lists(segment, min_size=1, max_size=4)).map(
            lambda cut: prefix + "/".join([*segments[: cut[0]], *cut[1], *segments[cut[0] :]])
        ),
        st.tuples(st.integers(0, len(valid["uri"])), st.text(min_size=1, max_size=8)).map(
            lambda cut: valid["uri"][: cut[0]] + cut[1] + valid["uri"][cut[0] :]
        ),
    )
    canaries = st.sampled_from(world.traversals + [ref for _, ref in world.canaries])
    return uris.map(lambda uri: {**valid, "uri": uri}) | canaries


def test_the_untouched_reference_loads(world: World) -> None:
    """The control: the world is real, a faithful reference loads, and the watcher sees the read."""
    with world.watch() as accesses:
        assert world.store.load(world.valid) == PAYLOAD
    assert accesses and world.outside(accesses) == []


def test_canaries_outside_the_store_are_refused_unread(world: World) -> None:
    for neighbour, ref in world.canaries:
        with world.watch() as accesses:
            assert neighbour.load(ref) == CANARY, "the canary's reference is perfect where the canary lives"
        assert world.outside(accesses), "and the watcher sees a read outside the store under test"
        error, accesses = load_refused(world, ref)
        assert isinstance(error, ForeignLocationError) and "not in this store" in str(error)
        assert accesses == []


def test_paths_that_lead_to_a_canary_are_refused_unread(world: World) -> None:
    for ref in world.traversals:
        error, accesses = load_refused(world, ref)
        assert isinstance(error, ForeignLocationError), ref["uri"]
        assert accesses == [], ref["uri"]


@pytest.mark.parametrize("odd", ["\x00", "\\", "\n", "é"])
def test_odd_characters_in_a_key_are_refused_not_a_crash(world: World, odd: str) -> None:
    """Found by the property tests below: a NUL byte in a key made the shared_fs store raise ValueError."""
    ref = resigned({**world.valid, "uri": world.valid["uri"].replace("/train_model/", f"/train{odd}model/")})
    error, accesses = load_refused(world, ref)
    assert isinstance(error, ForeignLocationError) and accesses == []


@HOSTILE
@given(
    ids=st.lists(st.text(min_size=1, max_size=300), min_size=4, max_size=4),
    try_number=st.integers(0, 1000),
    map_index=st.integers(-1, 1000),
)
def test_every_key_the_library_makes_is_accepted(world: World, ids: list[str], try_number: int, map_index: int) -> None:
    """The other side of the key check: no run id a user can choose makes a genuine reference unloadable."""
    dag_id, run_id, task_id, name = ids
    scope = RunScope(dag_id, run_id, task_id, try_number, map_index)
    key = artifact_key(scope, name, world.store.key_component_chars)
    keys = HandoffSettings.from_env().signing_keys
    ref = ArtifactRef.create(world.store.uri_for(key), "0" * 64, 0, "json", scope, keys)
    assert world.store.checked_reference(ref.to_dict()) == (ref, key)


@HOSTILE
@given(data=st.data())
def test_malformed_references_are_refused_before_storage_is_touched(world: World, data: st.DataObject) -> None:
    ref = data.draw(malformed(world.valid), label="reference")
    error, accesses = load_refused(world, ref)
    # Only a reference whose one fault is a missing signature gets as far as the signature check.
    assert isinstance(error, MalformedReferenceError | SignatureError)
    assert accesses == []


@HOSTILE
@given(data=st.data())
def test_foreign_locations_are_refused_and_nothing_outside_is_read(world: World, data: st.DataObject) -> None:
    ref = resigned(data.draw(foreign(world), label="reference"))
    assume(not world.same_artifact(ref["uri"]))
    error, accesses = load_refused(world, ref)
    assert world.outside(accesses) == []
    if not ref["uri"].startswith(world.store.uri_for("")):
        assert isinstance(error, ForeignLocationError) and accesses == []


@HOSTILE
@given(data=st.data())
def test_a_size_or_digest_that_does_not_match_is_refused(world: World, data: st.DataObject) -> None:
    valid = world.valid
    change = data.draw(
        st.integers(min_value=0).filter(lambda n: n != valid["size_bytes"]).map(lambda n: {"size_bytes": n})
        | st.text(HEX, min_size=64, max_size=64).filter(lambda d: d != valid["sha256"]).map(lambda d: {"sha256": d}),
        label="change",
    )
    error, accesses = load_refused(world, resigned({**valid, **change}))
    assert isinstance(error, TamperedArtifactError)
    assert world.outside(accesses) == []


@HOSTILE
@given(fmt=st.text(max_size=20).filter(lambda f: f not in ("joblib", "json")))
def test_a_format_not_allowed_is_refused_before_storage_is_touched(world: World, fmt: str) -> None:
    """HANDOFF_FORMAT is joblib here, so joblib and json are allowed: skops, though known, is refused too."""
    error, accesses = load_refused(world, resigned({**world.valid, "format": fmt}))
    assert isinstance(error, DisallowedFormatError)
    assert accesses == []


def altered(valid: dict) -> st.SearchStrategy[dict]:
    """``valid`` with one field (not the signature) changed to another well-formed value."""

    def other_value(name: str) -> st.SearchStrategy[Any]:
        old = valid[name]
        if name == "sha256":
            return st.text(HEX, min_size=64, max_size=64).filter(lambda d: d != old)
        if type(old) is int:
            return st.integers(1, 2**40).filter(lambda n: n != old)
        return st.text(max_size=20).filter(lambda t: t != old)

    names = st.sampled_from(sorted(set(valid) - {"signature"}))
    return names.flatmap(lambda name: other_value(name).map(lambda value: {**valid, name: value}))


@HOSTILE
@given(data=st.data())
def test_any_change_without_the_key_is_refused_by_the_signature_unread(world: World, data: st.DataObject) -> None:
    error, accesses = load_refused(world, data.draw(altered(world.valid), label="reference"))
    assert isinstance(error, SignatureError) and accesses == []


@pytest.mark.parametrize("field", ["dag_id", "run_id", "task_id", "try_number"])
def test_a_reference_whose_uri_is_not_its_own_runs_key_is_refused_unread(world: World, field: str) -> None:
    """Signed, in this store, but the key its URI names is not the one its dag, run, task and try make."""
    claimed = world.valid[field] + 1 if field == "try_number" else world.valid[field] + "-other"
    error, accesses = load_refused(world, resigned({**world.valid, field: claimed}))
    assert isinstance(error, ForeignLocationError) and "is not where run" in str(error)
    assert accesses == []
