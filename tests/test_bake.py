"""Fast checks of what the template generates: file sets, rendering, input validation, cruft."""

from __future__ import annotations

import json
import re
import subprocess
import time
import tomllib
from pathlib import Path

import pytest

from .helpers import (
    BACKENDS,
    BIN,
    REPO_ROOT,
    Bake,
    commit_all,
    cruft,
    cruft_create,
    git,
    project_files,
    template_repository,
)

# Bake with a non-default name so the derived slug and package name are exercised too.
PROJECT_NAME = "Churn Model"
SLUG = "churn-model"
PKG = "churn_model"

# The handoff library, every backend in it whatever the prompt chose, copied from the template as it is.
LIBRARY = "vendor/airflow-model-handoff"
BENCHMARK_MODULES = (
    "__init__",
    "__main__",
    "backends",
    "parse_cost",
    "phase",
    "plot",
    "profile",
    "report",
    "runs",
    "s3",
    "shared_fs",
    "sources",
    "variables",
    "workload",
)
LIBRARY_FILES = {f"{LIBRARY}/{name}" for name in ("pyproject.toml", "README.md", "CHANGELOG.md")} | {
    f"{LIBRARY}/src/airflow_model_handoff/{name}.py"
    for name in (
        "__init__",
        "__main__",
        "airflow_api",
        "airflow_home",
        "champion",
        "errors",
        "evaluation",
        "fail_fast",
        "formats",
        "keys",
        "pins",
        "reference",
        "retention",
        "s3",
        "settings",
        "shared_fs",
        "signing",
        "spool",
        "storage",
        "store",
        "variables",
        *(f"benchmark/{name}" for name in BENCHMARK_MODULES),
        *(f"local/{name}" for name in ("__init__", "ports", "s3")),
    )
}

# Exact files outside tests/ (tests/ is checked separately below).
COMMON_FILES = {
    ".cookiecutter.json",
    ".dockerignore",
    ".env.example",
    ".gitignore",
    ".pre-commit-config.yaml",
    "Dockerfile",
    "Makefile",
    "README.md",
    "docker-compose.yaml",
    "pyproject.toml",
    "requirements.lock",
    "deploy/helm/values.yaml",
    "dags/train_and_score.py",
    "dags/score_champion.py",
    "examples/retrain_and_evaluate.py",
    "scripts/__init__.py",
    "scripts/airflow_loopback.py",
    "scripts/docker_env.py",
    "scripts/image_requirements.py",
    "scripts/processes.py",
    "scripts/run_dag.py",
    "scripts/stack.py",
    f"src/{PKG}/__init__.py",
    f"src/{PKG}/assets.py",
    f"src/{PKG}/dag_defaults.py",
    f"src/{PKG}/lifecycle.py",
    f"src/{PKG}/handoff/__init__.py",  # the library under the project's name (python -m <package>.handoff)
    f"src/{PKG}/handoff/__main__.py",
    f"src/{PKG}/ml/__init__.py",
    f"src/{PKG}/ml/data.py",
    f"src/{PKG}/ml/model.py",
    "dags/handoff_retention.py",
    *LIBRARY_FILES,
}
BACKEND_FILES = {
    "shared_fs": {"deploy/helm/handoff-pvc.yaml"},
    "s3": set(),
    "variables": {f"src/{PKG}/variables_teardown.py"},
}

# The project's tests: of its own code only (the library's live in this repository, tests/library/).
TEST_FILES = {
    *(f"tests/{name}.py" for name in ("__init__", "conftest", "test_stack")),
    *(f"tests/dags/{name}.py" for name in ("__init__", "dag_policy", "parse_time", "test_dag_integrity")),
    *(f"tests/dags/{name}.py" for name in ("test_example_dag", "test_train_and_score")),
    *(f"tests/e2e/{name}.py" for name in ("__init__", "conftest", "test_run_dag")),
    *(f"tests/ml/{name}.py" for name in ("__init__", "test_model")),
}
BACKEND_TEST_FILES = {"shared_fs": set(), "s3": set(), "variables": {"tests/variable_keys.py"}}

# Words that name one backend's code or dependencies; no other backend's project may contain them.
BACKEND_WORDS = {
    "shared_fs": re.compile(r"SharedFsStore|HANDOFF_ROOT"),
    "s3": re.compile(r"\bboto3\b|\bmoto(\b|_)|providers-amazon|S3Store"),
    "variables": re.compile(r"VariablesStore"),
}

JINJA_LEFTOVERS = ("{{ cookiecutter.", "{{cookiecutter.", "{%")


def text_files(project: Path) -> dict[str, str]:
    """Relative path -> content of every text file of a freshly baked project."""
    texts = {}
    for rel in sorted(project_files(project)):
        try:
            texts[rel] = (project / rel).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
    return texts


@pytest.mark.parametrize("backend", BACKENDS)
def test_exact_files_outside_tests(bake: Bake, backend: str) -> None:
    project = bake(project_name=PROJECT_NAME, storage_backend=backend)
    assert project.name == SLUG
    files = {rel for rel in project_files(project) if not rel.startswith("tests/")}
    expected = COMMON_FILES | BACKEND_FILES[backend]
    assert sorted(files - expected) == [], "unexpected files"
    assert sorted(expected - files) == [], "missing files"


@pytest.mark.parametrize("backend", BACKENDS)
def test_exact_test_files(bake: Bake, backend: str) -> None:
    project = bake(storage_backend=backend)
    test_files = {rel for rel in project_files(project) if rel.startswith("tests/")}
    assert sorted(test_files ^ (TEST_FILES | BACKEND_TEST_FILES[backend])) == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_everything_is_rendered(bake: Bake, backend: str) -> None:
    project = bake(storage_backend=backend)
    leftovers = [
        f"{rel}: {marker}" for rel, text in text_files(project).items() for marker in JINJA_LEFTOVERS if marker in text
    ]
    assert leftovers == []
    assert [rel for rel in project_files(project) if "{{" in rel or "}}" in rel] == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_airflow_template_survives(bake: Bake, backend: str) -> None:
    """`{{ ... | ds }}` is for Airflow, not cookiecutter: it must reach the DAG file untouched."""
    dag = (bake(storage_backend=backend) / "dags/train_and_score.py").read_text()
    assert 'batch_date="{{ dag_run.run_after | ds }}"' in dag


@pytest.mark.parametrize("backend", BACKENDS)
def test_quotes_and_ampersands_survive(bake: Bake, backend: str) -> None:
    name = """He said "hi" & it's done"""
    author = """O'Neil "Ops" & Co"""
    project = bake(project_name=name, author_name=author, storage_backend=backend)

    assert name in (project / "README.md").read_text()
    answers = json.loads((project / ".cookiecutter.json").read_text())
    assert answers["project_name"] == name
    assert answers["author_name"] == author
    assert not {"_output_dir", "_repo_dir", "_checkout"} & answers.keys(), "no paths of the baking machine"
    assert answers["storage_backend"] == backend
    meta = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    assert name in meta["description"]
    assert meta["authors"] == [{"name": author}]
    for rel, text in text_files(project).items():
        if rel.endswith(".py"):
            compile(text, rel, "exec")  # raises SyntaxError with the file and line


@pytest.mark.parametrize("backend", BACKENDS)
def test_no_trace_of_other_backends(bake: Bake, backend: str) -> None:
    """Files, dependencies (requirements.lock included) and settings of unselected backends are all gone, but in the
    handoff library, which holds every backend so that a URL can pick another at run time."""
    project = bake(storage_backend=backend)
    hits = [
        f"{rel}:{number}: {line.strip()}"
        for other, words in BACKEND_WORDS.items()
        if other != backend
        for rel, text in text_files(project).items()
        if not rel.startswith(f"{LIBRARY}/")
        for number, line in enumerate(text.splitlines(), start=1)
        if words.search(line)
    ]
    assert hits == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_library_is_the_templates_byte_for_byte(bake: Bake, backend: str) -> None:
    """Whatever the answers, every bake gets the same library: the template's folder, not rendered."""
    project = bake(project_name=PROJECT_NAME, storage_backend=backend)
    template = REPO_ROOT / "{{cookiecutter.project_slug}}" / LIBRARY

    def contents(root: Path) -> dict[str, bytes]:
        return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}

    assert contents(project / LIBRARY) == contents(template)


def test_baking_time(cookies) -> None:
    """How long one bake takes, as a reported figure (-rP shows it): a wall-clock limit would fail on a busy machine."""
    start = time.perf_counter()
    result = cookies.bake()
    elapsed = time.perf_counter() - start
    assert result.exit_code == 0, result.exception
    print(f"baking took {elapsed:.2f} s")


def run_cookiecutter(
    output_dir: Path, config: Path, *answers: str, template: Path = REPO_ROOT
) -> subprocess.CompletedProcess[str]:
    """Run the cookiecutter CLI on the template, as a user would from the template's folder."""
    command = [str(BIN / "cookiecutter"), "--no-input", "--config-file", str(config), "-o", str(output_dir), "."]
    return subprocess.run([*command, *answers], cwd=template, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("project_slug", "My Project"),
        ("package_name", "class"),
        ("package_name", "json"),
        ("s3_bucket", "Bad_Bucket"),
        ("s3_bucket", "ab"),
        ("s3_bucket", "192.168.1.1"),
        ("project_name", ""),
    ],
)
def test_bad_input_fails_with_one_line(tmp_path: Path, cookiecutter_config: Path, field: str, value: str) -> None:
    result = run_cookiecutter(tmp_path, cookiecutter_config, f"{field}={value}")
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"stderr:\n{result.stderr}\nstdout:\n{result.stdout}"
    assert lines[0].startswith(f"error: {field}={value!r} is invalid: ")
    assert list(tmp_path.iterdir()) == []


def test_unknown_backend_is_refused(tmp_path: Path, cookiecutter_config: Path) -> None:
    """Choices are checked by cookiecutter itself, before any hook: its message (last line) names field and choices."""
    result = run_cookiecutter(tmp_path, cookiecutter_config, "storage_backend=ftp")
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert "storage_backend" in last_line
    assert all(backend in last_line for backend in BACKENDS)
    assert list(tmp_path.iterdir()) == []


def test_cruft_update_brings_template_changes(tmp_path: Path, cookiecutter_config: Path) -> None:
    """The README's way: `cruft create`, commit, and later `cruft update` applies what the template changed.

    The render must hold nothing but the project (no `.git/`: cruft compares renders, and a repository's index
    makes a binary diff that `cruft update` cannot apply)."""
    template = template_repository(tmp_path / "template")
    project = cruft_create(template, tmp_path / "out", cookiecutter_config, storage_backend="s3")
    assert not (project / ".git").exists()
    cruft_json = json.loads((project / ".cruft.json").read_text())
    assert cruft_json["commit"] == git(template, "rev-parse", "HEAD").strip()
    assert cruft_json["context"]["cookiecutter"]["storage_backend"] == "s3"
    for check in (("check",), ("diff", "--exit-code")):
        untouched = cruft(project, *check)
        assert untouched.returncode == 0 and "diff --git" not in untouched.stdout, untouched.stdout + untouched.stderr

    git(project, "init", "-q")
    commit_all(project, "Initial commit")
    readme = template / "{{cookiecutter.project_slug}}" / "README.md"
    readme.write_text(readme.read_text() + "\nA paragraph the template added after the bake.\n")
    commit_all(template, "README: one more paragraph")
    assert cruft(project, "check").returncode != 0, "cruft check must see the newer template commit"

    update = cruft(project, "update", "-y")
    assert update.returncode == 0, update.stdout + update.stderr
    assert "A paragraph the template added after the bake." in (project / "README.md").read_text()
    assert not list(project.rglob("*.rej")), "the update left rejected hunks"
    assert cruft(project, "check").returncode == 0


def test_cruft_link_adopts_a_project_made_with_cookiecutter(tmp_path: Path, cookiecutter_config: Path) -> None:
    """The README's `cruft link` for a project made with plain cookiecutter: afterwards cruft sees no difference."""
    template = template_repository(tmp_path / "template")
    result = run_cookiecutter(tmp_path / "out", cookiecutter_config, "storage_backend=variables", template=template)
    assert result.returncode == 0, result.stdout + result.stderr
    project = tmp_path / "out" / "model-pipeline"
    answers = (project / ".cookiecutter.json").read_text()
    link = cruft(
        project, "link", "-y", "--config-file", str(cookiecutter_config), "--extra-context", answers, str(template)
    )
    assert link.returncode == 0, link.stdout + link.stderr
    diff = cruft(project, "diff", "--exit-code")
    assert diff.returncode == 0 and "diff --git" not in diff.stdout, diff.stdout + diff.stderr


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_readme_shows_the_tested_example_dag(bake: Bake, backend: str) -> None:
    """The README's "Writing your own DAG" shows the example file itself, which the project's tests parse and run."""
    project = bake(storage_backend=backend)
    example = (project / "examples/retrain_and_evaluate.py").read_text()
    dag_code = example[example.index("@dag(") :]
    assert f"```python\n{dag_code}```" in (project / "README.md").read_text()
