"""What every store guarantees, against the real backend (a real directory, or S3 over HTTP)."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from airflow_model_handoff import (
    ArtifactNotFoundError,
    ForeignLocationError,
    MisconfiguredError,
    RunScope,
    SignatureError,
    TamperedArtifactError,
    UntrustedTypesError,
    default_store,
    load_model,
    save_model,
)
from airflow_model_handoff.formats import JoblibFormat
from airflow_model_handoff.keys import artifact_key, encode_component
from sklearn.ensemble import RandomForestClassifier

from handoff_tests.forgery import resigned
from handoff_tests.legacy_keys import legacy_component, save_as_before
from handoff_tests.payloads import fitted_model, malicious_pickle, padded_malicious_pickle
from handoff_tests.project import PROJECT, project_module
from handoff_tests.stores import only_on

SCOPE = RunScope("train_and_score", "manual__2025-01-01T00:00:00+00:00", "train_model", 1)


def reference_to_unsaved(name: str) -> dict:
    """A signed reference to artifact ``name`` of SCOPE, made without saving it: loading it shows what is there."""
    probe = save_model({}, "probe", fmt="json", scope=SCOPE)
    return resigned({**probe, "uri": default_store().uri_for(artifact_key(SCOPE, name))})


@pytest.mark.parametrize("fmt", ["joblib", "skops"])
def test_model_round_trip_gives_identical_predictions(fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANDOFF_FORMAT", fmt)
    model, rows = fitted_model()
    ref = save_model(model, scope=SCOPE)
    assert ref["format"] == fmt and ref["run_id"] == SCOPE.run_id and ref["try_number"] == 1
    np.testing.assert_array_equal(load_model(ref).predict_proba(rows), model.predict_proba(rows))


def test_saving_in_a_format_no_loader_accepts_is_refused_before_writing() -> None:
    with pytest.raises(MisconfiguredError, match="'skops' is not in HANDOFF_ALLOWED_FORMATS"):
        save_model({"a": 1}, fmt="skops", scope=SCOPE)
    with pytest.raises(ArtifactNotFoundError):  # nothing was written at the key
        load_model(reference_to_unsaved("model"))


def test_without_a_signing_key_save_and_load_fail_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    ref = save_model({"a": 1}, fmt="json", scope=SCOPE)
    monkeypatch.delenv("HANDOFF_SIGNING_KEY")
    for attempt in (lambda: save_model({"a": 2}, "other", fmt="json", scope=SCOPE), lambda: load_model(ref)):
        with pytest.raises(MisconfiguredError, match=r"HANDOFF_SIGNING_KEY is not set.*token_hex"):
            attempt()
    monkeypatch.setenv("HANDOFF_SIGNING_KEY", "k" * 32)  # a key, but not the one that signed
    with pytest.raises(SignatureError):
        load_model(ref)


@only_on("shared_fs")
def test_loading_outside_a_task_does_not_import_airflow() -> None:
    """Outside a task there is no run to compare with: a notebook or the benchmark pays no Airflow import.
    (The other backends import Airflow for their storage itself: the connection of s3, the Variables.)"""
    code = (
        "import sys\n"
        "from airflow_model_handoff import (\n"
        "    RunScope,\n"
        "    load_model,\n"
        "    save_model,\n"
        ")\n"
        f"ref = save_model(dict(a=1), fmt='json', scope=RunScope(*{tuple(vars(SCOPE).values())!r}))\n"
        "assert load_model(ref) == dict(a=1)\n"
        "print(sorted(name for name in sys.modules if name.split('.')[0] == 'airflow'))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True, check=True)
    assert result.stdout == "[]\n"


def test_a_model_skops_does_not_trust_is_refused_when_saved_and_loads_once_trusted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A tree ensemble holds sklearn.tree._tree.Tree, which skops does not trust by default: say so at save time,
    store nothing, and load it once the type is listed."""
    monkeypatch.setenv("HANDOFF_FORMAT", "skops")
    splits = project_module("ml.data").load_splits(3)
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(splits.x_train, splits.y_train)
    rows = splits.x_batch
    with pytest.raises(UntrustedTypesError, match=r"HANDOFF_SKOPS_TRUSTED=sklearn\.tree\._tree\.Tree"):
        save_model(forest, scope=SCOPE)
    with pytest.raises(ArtifactNotFoundError):  # nothing was stored
        load_model(reference_to_unsaved("model"))
    monkeypatch.setenv("HANDOFF_SKOPS_TRUSTED", "sklearn.tree._tree.Tree")
    np.testing.assert_array_equal(load_model(save_model(forest, scope=SCOPE)).predict(rows), forest.predict(rows))


def test_json_round_trip() -> None:
    params = {"c": 0.5, "features": ["a", "b"], "nested": {"ok": True}}
    assert load_model(save_model(params, "params", fmt="json", scope=SCOPE)) == params


def test_concurrent_runs_never_share_a_key() -> None:
    refs = [save_model({"run": i}, fmt="json", scope=RunScope("d", f"run {i}/..", "t", 1)) for i in range(3)]
    assert len({r["uri"] for r in refs}) == 3
    assert [load_model(r) for r in refs] == [{"run": 0}, {"run": 1}, {"run": 2}]


# Both ids shortened in the key: the legacy key and today's differ in both segments.
LONG_SCOPE = RunScope("d" * 300, "manual__" + "x" * 300, "train_model", 1)


def test_an_artifact_stored_under_a_legacy_key_still_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys stored before shortened segments kept 128 bits (16 hex digits then) stay loadable."""
    ref = save_as_before(monkeypatch, {"stored": "before"}, fmt="json", scope=LONG_SCOPE)
    key = default_store().key_from_uri(ref["uri"])
    dag, run = (legacy_component(part) for part in (LONG_SCOPE.dag_id, LONG_SCOPE.run_id))
    assert key == f"{dag}/{run}/train_model/1/model" != artifact_key(LONG_SCOPE, "model")
    assert load_model(ref) == {"stored": "before"}
    assert load_model(save_model({"stored": "now"}, fmt="json", scope=LONG_SCOPE)) == {"stored": "now"}


def test_a_key_mixing_the_legacy_and_todays_segments_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A key is written by one version: a legacy DAG segment beside today's run segment is no key of the run."""
    ref = save_as_before(monkeypatch, {"stored": "before"}, fmt="json", scope=LONG_SCOPE)
    dag, run = legacy_component(LONG_SCOPE.dag_id), encode_component(LONG_SCOPE.run_id)
    mixed = resigned({**ref, "uri": default_store().uri_for(f"{dag}/{run}/train_model/1/model")})
    with pytest.raises(ForeignLocationError, match="is not where run"):
        load_model(mixed)


def test_one_flipped_byte_fails_the_integrity_check(backdoor: Any) -> None:
    model, _ = fitted_model()
    ref = save_model(model, scope=SCOPE)
    data = bytearray(backdoor.read(ref))
    data[len(data) // 2] ^= 0x01
    backdoor.write(ref, bytes(data))
    with pytest.raises(TamperedArtifactError, match="does not match"):
        load_model(ref)


def test_a_malicious_pickle_at_the_key_is_never_executed(backdoor: Any, tmp_path: Path) -> None:
    ref = save_model({"harmless": True}, fmt="json", scope=SCOPE)
    marker = tmp_path / "pwned"
    backdoor.write(ref, malicious_pickle(marker))
    for claimed_format in ("joblib", "json"):
        with pytest.raises(TamperedArtifactError):
            load_model(resigned({**ref, "format": claimed_format}))
    assert not marker.exists()


def test_bytes_rewritten_after_verification_never_reach_the_deserialiser(
    backdoor: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Storage write, timed: the stored bytes pass verification, then the artifact is rewritten (in place, same file
    and size, where the storage allows it) with a pickle that runs code, just before the deserialiser reads. The
    loader deserialises the private copy it made while hashing: the genuine model comes back, no foreign code runs."""
    model, rows = fitted_model()
    ref = save_model(model, scope=SCOPE)
    genuine, marker = backdoor.read(ref), tmp_path / "pwned"
    forged = padded_malicious_pickle(marker, len(genuine))
    real_load, rewritten = JoblibFormat.load, []

    def load_after_rewrite(self: JoblibFormat, source: Any) -> Any:
        backdoor.write_in_place(ref, forged)  # between verification and deserialisation
        rewritten.append(backdoor.read(ref) == forged)
        return real_load(self, source)

    monkeypatch.setattr(JoblibFormat, "load", load_after_rewrite)
    loaded = load_model(ref)
    assert rewritten == [True], "the artifact was not rewritten before the deserialiser ran"
    assert not marker.exists(), "the deserialiser read the rewritten bytes: foreign code ran"
    np.testing.assert_array_equal(loaded.predict_proba(rows), model.predict_proba(rows))
    with pytest.raises(TamperedArtifactError):  # the next load sees the rewrite, and refuses it unread
        load_model(ref)
    assert not marker.exists()


def test_the_deserialiser_reads_a_private_copy_removed_after_the_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool_dir = tmp_path / "spool"
    monkeypatch.setenv("HANDOFF_SPOOL_DIR", str(spool_dir))
    model, rows = fitted_model()
    ref = save_model(model, scope=SCOPE)
    real_load, seen = JoblibFormat.load, []

    def spying_load(self: JoblibFormat, source: Any) -> Any:
        [spool] = spool_dir.glob("*.spool")  # the only spool: the source handed to the deserialiser
        directory = spool_dir.stat()
        seen.append(
            {
                "same file": os.path.samestat(os.fstat(source.fileno()), spool.stat()),
                "directory mode": oct(stat.S_IMODE(directory.st_mode)),
                "directory owner": directory.st_uid,
                "spool size": spool.stat().st_size,
            }
        )
        return real_load(self, source)

    monkeypatch.setattr(JoblibFormat, "load", spying_load)
    np.testing.assert_array_equal(load_model(ref).predict_proba(rows), model.predict_proba(rows))
    assert seen == [
        {"same file": True, "directory mode": "0o700", "directory owner": os.getuid(), "spool size": ref["size_bytes"]}
    ]
    assert list(spool_dir.iterdir()) == [], "the spool is removed once the model is loaded"


def test_missing_artifact_is_a_clear_error() -> None:
    ref = save_model({"a": 1}, fmt="json", scope=SCOPE)
    missing = resigned({**ref, "uri": ref["uri"].replace("/train_model/", "/other_task/"), "task_id": "other_task"})
    with pytest.raises(ArtifactNotFoundError, match="not found"):
        load_model(missing)


@pytest.mark.parametrize(
    "uri_change",
    [
        lambda uri: uri.replace("/train_model/1/", "/train_model/../../../../etc/"),
        lambda uri: "file:///etc/passwd",
        lambda uri: "s3://another-bucket/handoff/d/r/t/1/model",
        lambda uri: uri + "/../../x",
    ],
)
def test_references_outside_the_store_are_refused(uri_change: Any) -> None:
    ref = save_model({"a": 1}, fmt="json", scope=SCOPE)
    with pytest.raises(ForeignLocationError):
        load_model(resigned({**ref, "uri": uri_change(ref["uri"])}))


def test_save_killed_midway_leaves_nothing_and_a_new_save_succeeds() -> None:
    scope_args = (SCOPE.dag_id, SCOPE.run_id, SCOPE.task_id, SCOPE.try_number)
    code = (
        "import numpy as np\n"
        "from handoff_tests.payloads import PicklesSlowly\n"
        "from airflow_model_handoff import RunScope, save_model\n"
        f"save_model([np.ones(2_000_000), PicklesSlowly()], scope=RunScope(*{scope_args!r}))\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], cwd=PROJECT, stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None and child.stdout.readline() == b"midway\n"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    unfinished = reference_to_unsaved("model")
    with pytest.raises(ArtifactNotFoundError):
        load_model(unfinished)
    ref = save_model({"after": "kill"}, fmt="json", scope=SCOPE)
    assert ref["uri"] == unfinished["uri"] and load_model(ref) == {"after": "kill"}
