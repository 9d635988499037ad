"""Hostile prompts: whatever a user answers, either the project bakes (its Python compiles and passes ruff check
and ruff format with its own configuration, its TOML and JSON parse) or generation stops with the pre-generation
hook's one line on stderr; never a traceback from our code, never a file left behind.

Both levels are property-based (hypothesis, derandomized so CI sees the same examples on every run):
- the hook alone, rendered exactly as cookiecutter renders it and run in-process: many examples, fast;
- the cookiecutter CLI end to end, in a fresh folder per example: fewer examples (each bake is ~1 s of processes).

What cookiecutter itself does before our hook can run is asserted as it really is (docs/reliability.md):
- a storage_backend outside the choices: cookiecutter raises ValueError, a traceback on stderr;
- an answer with Jinja markup ({{, {%, {#) is a template to cookiecutter: it renders it, or fails with its own error;
- a project_slug naming a folder that exists ("", ".", "..") is refused by cookiecutter;
- a refused project_slug containing "/": cookiecutter made the intermediate folders before the hook ran and removes
  only the last one, so empty folders stay behind (never a file);
- whenever a hook fails, cookiecutter's CLI logs "Stopping generation ..." with the traceback of its own
  FailedHookException on stdout.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from cookiecutter.utils import create_env_with_context
from hypothesis import HealthCheck, Phase, assume, event, example, given, settings
from hypothesis import strategies as st

from .helpers import BACKENDS, BIN, REPO_ROOT

FIELDS = ("project_name", "project_slug", "package_name", "storage_backend", "s3_bucket", "author_name")
DEFAULT_ANSWERS = {
    "project_name": "Model Pipeline",
    "project_slug": "model-pipeline",
    "package_name": "model_pipeline",
    "storage_backend": "shared_fs",
    "s3_bucket": "models",
    "author_name": "Data Science Team",
}
DERIVED = ("project_slug", "package_name")  # their defaults are templates of the answers before them
HOOK_SOURCE = (REPO_ROOT / "hooks" / "pre_gen_project.py").read_text()
# Cookiecutter's own Jinja environment (no template extensions are configured, so one serves every example).
HOOK_TEMPLATE = create_env_with_context({"cookiecutter": {}}).from_string(HOOK_SOURCE)
HOOK_LINE = re.compile(r"error: (?P<field>[a-z_0-9]+)=(?P<value>.*) is invalid: (?P<rule>.+)")
JINJA_MARKUP = ("{{", "{%", "{#")
LONG_PACKAGE = "customer_churn_prediction_model_for_the_retail_and_wholesale_team"[:63]
COOKIECUTTER_HOOK_FAILURE = "Stopping generation because pre_gen_project hook script didn't exit successfully"

# Anything a shell can pass as an argument: every character but NUL (lone surrogates are not text).
ANY_TEXT = st.text(st.characters(exclude_characters="\x00"), max_size=80)
TRICKS = st.sampled_from(
    [
        *['"""', "'''", '"', "'", "\\", "\\N", "\\x", "\n", "\r", "\t", "\u2028", "\x85", "\x7f", " ", "{{ 7 * 7 }}"],
        *["{{", "{%", "{#", "}}", "$(id)", "`id`", "${HOME}", "../", "/", ".", "-", "_", "é", "😀", "ß", "ǅ", "class"],
        *["json", "airflow", "tests", "xn--", "-s3alias", "192.168.1.1", "a" * 70],
    ]
)
HOSTILE = ANY_TEXT | st.lists(TRICKS | ANY_TEXT, min_size=1, max_size=4).map("".join)
FREE_TEXT = st.text(st.characters(exclude_categories=("Cc", "Cs")), min_size=1, max_size=100)
# Answers a user could well mean, most of them valid, so that many examples bake.
PLAUSIBLE = {
    "project_name": FREE_TEXT,
    "project_slug": st.from_regex(r"[a-z][a-z0-9-]{0,62}", fullmatch=True),
    "package_name": st.from_regex(r"[a-z_][a-z0-9_]{0,62}", fullmatch=True),
    "storage_backend": st.sampled_from(BACKENDS),
    "s3_bucket": st.from_regex(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", fullmatch=True),
    "author_name": FREE_TEXT,
}


@st.composite
def answers(draw: st.DrawFn, complete: bool = False) -> dict[str, str]:
    """Plausible answers with up to two prompts answered by hostile text; ``complete`` leaves nothing to defaults."""
    hostile = draw(st.sets(st.sampled_from(FIELDS), max_size=2), label="hostile prompts")
    chosen = {}
    for field in FIELDS:
        strategy = HOSTILE if field in hostile else PLAUSIBLE[field]
        if not complete and field in DERIVED:
            strategy = st.none() | strategy  # None: left to cookiecutter, which derives it from the answer before
        chosen[field] = draw(strategy, label=field)
    return {field: value for field, value in chosen.items() if value is not None}


def hook_globals(answers: dict[str, str]) -> dict[str, Any]:
    """The pre-generation hook rendered as cookiecutter does and executed as a module (``main()`` not called)."""
    namespace = {"__name__": "pre_gen_project"}
    exec(compile(HOOK_TEMPLATE.render(cookiecutter=answers), "pre_gen_project.py", "exec"), namespace)
    return namespace


def run_hook_in_process(answers: dict[str, str]) -> tuple[int, str, str]:
    """Render the pre-generation hook as cookiecutter does, run its ``main()``; return (status, stdout, stderr)."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        status = hook_globals(answers)["main"]()
    return status, stdout.getvalue(), stderr.getvalue()


def assert_one_hook_line(stderr: str, answers: dict[str, str]) -> None:
    """stderr is exactly the hook's line, naming a prompt and (when the user typed it) the value as typed."""
    lines = stderr.splitlines()
    assert len(lines) == 1 and stderr.endswith("\n"), f"not one line: {stderr!r}"
    match = HOOK_LINE.fullmatch(lines[0])
    assert match and match["field"] in FIELDS, lines[0]
    typed = answers.get(match["field"])
    if typed is not None and not any(markup in typed for markup in JINJA_MARKUP):  # else cookiecutter rendered it
        assert ast.literal_eval(match["value"]) == typed


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(answers=answers(complete=True))
def test_the_hook_accepts_or_refuses_in_one_line(answers: dict[str, str]) -> None:
    status, stdout, stderr = run_hook_in_process(answers)
    assert stdout == ""
    if status == 0:
        assert stderr == ""
    else:
        assert status == 1
        assert_one_hook_line(stderr, answers)


def test_the_hook_counts_characters_not_utf16_halves() -> None:
    """Found by the property above: an emoji reached the hook as two surrogates, so 100 of them counted as 200."""
    assert run_hook_in_process({**DEFAULT_ANSWERS, "project_name": "😀" * 100}) == (0, "", "")
    status, _, stderr = run_hook_in_process({**DEFAULT_ANSWERS, "project_slug": "😀"})
    assert status == 1 and stderr.startswith("error: project_slug='😀' is invalid: ")


def test_the_hook_refuses_airflows_placeholder_owner() -> None:
    """The generated project's DAG policy test fails on owner "airflow": refuse it before baking."""
    status, _, stderr = run_hook_in_process({**DEFAULT_ANSWERS, "author_name": "airflow"})
    assert status == 1 and stderr.startswith("error: author_name='airflow' is invalid: is Airflow's placeholder owner")


# Modules the generated project imports (dependencies and standard library) and its own top-level folders.
SHADOWING_NAMES = ["pendulum", "httpx", "sqlalchemy", "pytest", "airflow", "sklearn", "boto3", "yaml", "json"]
SHADOWING_NAMES += ["airflow_model_handoff", "scripts", "vendor", "tests", "dags", "src"]


@pytest.mark.parametrize("name", SHADOWING_NAMES)
def test_the_hook_refuses_a_package_that_would_shadow_a_module(name: str) -> None:
    """`import pendulum` in the project would import a package named pendulum instead: refused before baking."""
    answers = {**DEFAULT_ANSWERS, "package_name": name}
    status, _, stderr = run_hook_in_process(answers)
    assert status == 1
    assert_one_hook_line(stderr, answers)
    assert stderr.startswith(f"error: package_name={name!r} is invalid: ")


def test_the_hooks_taken_names_are_read_from_the_current_locks_and_folders() -> None:
    """The names the hook refuses are written into it by `make locks` (hooks/taken_names.py): they must be current."""
    writer = import_taken_names()
    taken = hook_globals(DEFAULT_ANSWERS)
    assert taken["LOCKS_SHA256"] == writer.locks_sha256(), "the locks changed since `make locks` last ran: run it"
    assert taken["PROJECT_MODULES"] == writer.project_modules(), "the project's folders changed: run `make locks`"


def import_taken_names() -> ModuleType:
    """hooks/taken_names.py, the script `make locks` runs (hooks/ is not a package)."""
    spec = importlib.util.spec_from_file_location("taken_names", REPO_ROOT / "hooks" / "taken_names.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_hook_line_survives_an_ascii_only_terminal(tmp_path: Path) -> None:
    """A terminal that cannot show the value still gets the one line (escaped), not a UnicodeEncodeError."""
    answers = {"project_name": "Café 😀", "project_slug": "café", "package_name": "cafe", "storage_backend": "s3"}
    answers |= {"s3_bucket": "models", "author_name": "Team"}
    hook = tmp_path / "pre_gen_project.py"
    hook.write_text(HOOK_TEMPLATE.render(cookiecutter=answers))
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}
    result = subprocess.run([sys.executable, str(hook)], capture_output=True, env=env, timeout=60)
    assert result.returncode == 1
    assert result.stderr.decode("ascii").splitlines() == [
        "error: project_slug='caf\\xe9' is invalid: use 1-63 lowercase letters, digits and '-', starting with a "
        "letter and not ending with '-'"
    ]


@pytest.fixture(scope="module")
def sandboxes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Where each example gets its own folder, and a cookiecutter config that keeps replay files there too."""
    base = tmp_path_factory.mktemp("hostile-prompts")
    (base / "config.yaml").write_text(f"cookiecutters_dir: {base / 'templates'}\nreplay_dir: {base / 'replay'}\n")
    yield base


def bake_cli(output_dir: Path, config: Path, answers: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [str(BIN / "cookiecutter"), "--no-input", "--config-file", str(config), "-o", str(output_dir)]
    command += [str(REPO_ROOT), *(f"{field}={value}" for field, value in answers.items())]
    return subprocess.run(
        command, capture_output=True, text=True, encoding="utf-8", errors="backslashreplace", timeout=120
    )


def assert_baked(project: Path, answers: dict[str, str]) -> None:
    """The project's Python compiles and passes ruff (check and format) as configured; its TOML and JSON parse."""
    files = [path for path in project.rglob("*") if path.is_file()]
    for path in files:
        if path.suffix == ".py":
            compile(path.read_text(encoding="utf-8"), str(path), "exec")
        elif path.suffix == ".toml":
            tomllib.loads(path.read_text(encoding="utf-8"))
        elif path.suffix == ".json":
            json.loads(path.read_text(encoding="utf-8"))
    for ruff in (["check"], ["format", "--check"]):  # what the project's `make lint` runs first
        result = subprocess.run(
            [str(BIN / "ruff"), *ruff, "--no-cache", "--quiet", "."], cwd=project, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr
    saved = json.loads((project / ".cookiecutter.json").read_text(encoding="utf-8"))
    for field, value in answers.items():
        if not any(markup in value for markup in JINJA_MARKUP):
            assert saved[field] == value, f"{field} did not survive"


def assert_refused(result: subprocess.CompletedProcess[str], answers: dict[str, str], slug_existed: bool) -> None:
    """Who refused, and how: cookiecutter for what it checks before any hook, otherwise our hook in one line."""
    if answers.get("storage_backend", BACKENDS[0]) not in BACKENDS:
        event("refused by cookiecutter: not a choice")
        assert "provided for choice variable storage_backend, but the choices are" in result.stderr
    elif slug_existed:
        event("refused by cookiecutter: folder exists")
        assert result.stderr == "" and "directory already exists" in result.stdout
    elif HOOK_LINE.match(result.stderr):
        event("refused by our hook")
        assert_one_hook_line(result.stderr, answers)
        assert COOKIECUTTER_HOOK_FAILURE in result.stdout
        tracebacks = result.stdout.count("Traceback")
        assert tracebacks == result.stdout.count("FailedHookException: Hook script failed (exit status: 1)") == 1
    else:  # cookiecutter could not render an answer that is a Jinja template; our hook never ran
        event("refused by cookiecutter: Jinja markup")
        assert any(markup in value for value in answers.values() for markup in JINJA_MARKUP), result.stderr
        assert "in render_variable" in result.stderr or "Unable to render variable" in result.stdout
        assert COOKIECUTTER_HOOK_FAILURE not in result.stdout


def leftovers(sandbox: Path, output_dir: Path) -> list[Path]:
    """Everything under ``sandbox`` but the output folder and the folders above it."""
    chain = {output_dir, *output_dir.parents}
    return sorted(path for path in sandbox.rglob("*") if path not in chain)


@settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    phases=[Phase.explicit, Phase.generate, Phase.shrink],  # no "explain" phase: minutes of bakes on a failure
)
@given(answers=answers())
@example(answers={"project_slug": "a/b/c"})
@example(answers={"project_slug": ".."})
@example(answers={"storage_backend": "ftp"})
@example(answers={"project_name": "{{ 7 * 7 }}"})
@example(answers={"author_name": "{% if %}"})
@example(answers={"project_name": 'He said """hi""" \\N{x} \\', "author_name": "Zoë 😀 " + "é" * 90})
@example(answers={"package_name": LONG_PACKAGE, "storage_backend": "s3"})
@example(answers={"package_name": LONG_PACKAGE, "storage_backend": "variables"})
def test_any_answers_bake_cleanly_or_are_refused_in_one_line(sandboxes: Path, answers: dict[str, str]) -> None:
    slug = answers.get("project_slug")
    if slug is not None:  # a slug is a path to cookiecutter: keep every folder it could create inside the sandbox
        inside = os.path.normpath(Path("deep", "er", "out", slug))
        assume(not inside.startswith("/") and inside != ".." and not inside.startswith("../"))
        assume(not any(markup in slug for markup in JINJA_MARKUP))  # it could render to any path
    sandbox = Path(tempfile.mkdtemp(dir=sandboxes))
    output_dir = sandbox / "deep" / "er" / "out"
    output_dir.mkdir(parents=True)
    target = Path(os.path.normpath(output_dir / (slug or "x")))
    slug_existed = slug is not None and (output_dir / slug).exists()

    result = bake_cli(output_dir, sandboxes / "config.yaml", answers)

    if result.returncode == 0:
        event("baked")
        (project,) = output_dir.iterdir()
        assert_baked(project, answers)
    else:
        assert result.returncode == 1
        assert_refused(result, answers, slug_existed)
        left = leftovers(sandbox, output_dir)
        assert [path for path in left if not path.is_dir()] == [], "no file is ever left behind"
        # Only cookiecutter's intermediate folders of a slug with "/" may stay, empty.
        assert [path for path in left if path not in target.parents] == []
    shutil.rmtree(sandbox)
