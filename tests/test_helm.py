"""The Kubernetes path, for every backend: deploy/helm/values.yaml against the official chart's values schema, the
values that decide whether the release boots with the image as built, and the README's steps around it.

No cluster runs here. The schema is the chart's own (tests/data/airflow-chart/SOURCE.md says which); the rest reads
the baked files as the chart and kubectl would, and resolves the image's install set as its build does.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import pytest
import yaml

from .helpers import BACKENDS, CONNECTION_PROVIDERS, EXECUTOR_PROVIDERS, REPO_ROOT, image_install_set, lock_pins

BUCKET = "ml-artifacts"  # not the default, so the answer is seen to reach the values
CHART_SCHEMA = REPO_ROOT / "tests" / "data" / "airflow-chart" / "values.schema.json"
CHART_SCHEMA_SHA256 = "a527d8090ea54d66a3203d0ad9faf0641de96efd41061009a1b79df4c69ebfd5"  # as SOURCE.md describes it
SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
NAMESPACE = "airflow"
IRSA = "eks.amazonaws.com/role-arn"
VALUES = "deploy/helm/values.yaml"
PVC = "deploy/helm/handoff-pvc.yaml"


@dataclass(frozen=True)
class Deploy:
    backend: str
    path: Path
    values: dict
    steps: str  # the README's "Outgrowing one machine" section


@pytest.fixture(scope="module", params=BACKENDS)
def deploy(request: pytest.FixtureRequest, cookies_session) -> Deploy:
    result = cookies_session.bake(extra_context={"storage_backend": request.param, "s3_bucket": BUCKET})
    assert result.exception is None, result.exception
    project = Path(result.project_path)
    readme = (project / "README.md").read_text()
    steps = readme.split("## Outgrowing one machine", 1)[1].split("\n## ", 1)[0]
    return Deploy(request.param, project, yaml.safe_load((project / VALUES).read_text()), steps)


def commands(text: str, program: str) -> list[str]:
    """Every `program ...` command the text shows, inline or in a code block, with comments cut off."""
    found = re.findall(rf"`({program} [^`]+)`", text)
    found += [line.strip() for line in text.splitlines() if line.strip().startswith(f"{program} ")]
    return [command.split("  #")[0].strip() for command in found]


def test_the_chart_schema_is_the_recorded_copy() -> None:
    assert hashlib.sha256(CHART_SCHEMA.read_bytes()).hexdigest() == CHART_SCHEMA_SHA256


def test_values_are_valid_for_the_chart(deploy: Deploy) -> None:
    schema = json.loads(CHART_SCHEMA.read_text())
    errors = jsonschema.Draft7Validator(schema).iter_errors(deploy.values)
    assert sorted(f"{'.'.join(map(str, error.absolute_path))}: {error.message}" for error in errors) == []


def test_values_boot_with_the_image_as_built(deploy: Deploy) -> None:
    """The chart's defaults assume FAB (auth manager, create-user job running `airflow users create`) and whatever
    provider the executor needs; the image has what scripts/image_requirements.py lists, resolved against the lock."""
    installed = image_install_set(deploy.path)
    values = deploy.values
    assert values["airflowVersion"] == lock_pins(deploy.path)["apache-airflow"]
    assert "apache-airflow-providers-fab" not in installed
    assert values["config"]["core"]["auth_manager"] == SIMPLE_AUTH_MANAGER
    assert values["apiServer"]["defaultUser"]["enabled"] is False, "Airflow 3's switch of the create-user job"
    assert values["webserver"]["defaultUser"]["enabled"] is False, "Airflow 2's switch of the create-user job"
    executors = [name.rsplit(".", 1)[-1] for name in values["executor"].split(",")]
    offered = set(re.findall(r"`(\w+Executor)`", deploy.steps))  # the README offers CeleryExecutor as well
    assert set(executors) <= offered
    assert sorted(EXECUTOR_PROVIDERS[name] for name in offered if EXECUTOR_PROVIDERS[name] not in installed) == []


def test_task_logs_outlive_their_pods(deploy: Deploy) -> None:
    """A KubernetesExecutor task pod is deleted when its task ends: its log must be somewhere the UI still reads."""
    assert "KubernetesExecutor" in deploy.values["executor"]
    logging = deploy.values.get("config", {}).get("logging", {})
    if deploy.backend == "s3":
        assert logging["remote_logging"] == "True"
        assert logging["remote_base_log_folder"] == f"s3://{BUCKET}/airflow-logs"
        assert CONNECTION_PROVIDERS["s3"] in image_install_set(deploy.path)
        assert logging["remote_log_conn_id"] == "aws_default"
    else:
        assert deploy.values["logs"]["persistence"]["enabled"] is True


def test_every_pod_gets_the_handoff_settings_and_the_signing_key(deploy: Deploy) -> None:
    values = deploy.values
    env = {item["name"]: item["value"] for item in values["env"]}
    secrets = {item["envName"]: item for item in values["secret"]}
    assert "HANDOFF_SIGNING_KEY" in secrets and "HANDOFF_SIGNING_KEY" not in env, "the key from a Secret, never inline"
    assert env["HANDOFF_FORMAT"] == "joblib"
    if deploy.backend == "shared_fs":
        mounts = {mount["name"]: mount["mountPath"] for mount in values["volumeMounts"]}
        claims = {volume["name"]: volume["persistentVolumeClaim"]["claimName"] for volume in values["volumes"]}
        assert {"handoff": f"file://{mounts['handoff']}"} == {"handoff": env["HANDOFF_STORAGE"]}
        assert set(mounts) == set(claims) == {"handoff"}
        claim = yaml.safe_load((deploy.path / PVC).read_text())
        assert claim["metadata"]["name"] == claims["handoff"]
        assert claim["spec"]["accessModes"] == ["ReadWriteMany"], "every task pod, on any node, mounts it"
    elif deploy.backend == "s3":
        assert env["HANDOFF_STORAGE"] == f"s3://{BUCKET}/handoff"
        assert env["HANDOFF_STORAGE_CONN_ID"] == "aws_default" and "AIRFLOW_CONN_AWS_DEFAULT" in secrets
    else:
        assert "volumes" not in values


def test_the_pods_that_reach_the_bucket_can_take_an_eks_role(deploy: Deploy) -> None:
    """IRSA: on EKS the service accounts of the task pods and of the API server (which reads the task logs from the
    bucket) carry the role annotation; the other backends reach no AWS service."""
    values = deploy.values
    accounts = {
        "workers": values.get("workers", {}).get("serviceAccount", {}),
        "workers.kubernetes": values.get("workers", {}).get("kubernetes", {}).get("serviceAccount", {}),
        "apiServer": values.get("apiServer", {}).get("serviceAccount", {}),
    }
    roles = {name: account.get("annotations", {}).get(IRSA) for name, account in accounts.items()}
    if deploy.backend == "s3":
        role_arn = re.compile(r"arn:aws:iam::\d{12}:role/\S+")
        assert [name for name, role in roles.items() if not role_arn.fullmatch(role or "")] == []
    else:
        assert set(roles.values()) == {None}


def test_readme_steps_work_in_the_release_namespace(deploy: Deploy) -> None:
    """Secrets and claims live in a namespace: made anywhere else, every pod waits in CreateContainerConfigError."""
    kubectl = commands(deploy.steps, "kubectl")
    assert kubectl[0] == f"kubectl create namespace {NAMESPACE}"
    assert [command for command in kubectl[1:] if not command.startswith(f"kubectl -n {NAMESPACE} ")] == []
    install = [command for command in commands(deploy.steps, "helm") if " upgrade --install " in command]
    assert install == [f"helm upgrade --install airflow apache-airflow/airflow --namespace {NAMESPACE} -f {VALUES}"]
    if deploy.backend == "shared_fs":
        assert yaml.safe_load((deploy.path / PVC).read_text())["metadata"]["namespace"] == NAMESPACE


def test_readme_creates_every_secret_and_claim_the_values_use(deploy: Deploy) -> None:
    made = re.findall(rf"kubectl -n {NAMESPACE} create secret generic (\S+) --from-literal=(\w+)=", deploy.steps)
    used = [(item["secretName"], item["secretKey"]) for item in deploy.values["secret"]]
    assert sorted(set(used) - set(made)) == []
    if deploy.backend == "shared_fs":
        assert f"kubectl -n {NAMESPACE} apply -f {PVC}" in commands(deploy.steps, "kubectl")


def test_readme_builds_the_image_the_values_name_for_the_clusters_platform(deploy: Deploy) -> None:
    """An image built on an Apple Silicon Mac is arm64 unless told otherwise; most clusters run amd64 nodes."""
    image = deploy.values["images"]["airflow"]
    builds = [command for command in commands(deploy.steps, "docker") if command.startswith("docker build ")]
    assert len(builds) == 1
    assert "--platform linux/amd64" in builds[0]
    assert f"-t {image['repository']}:{image['tag']} " in builds[0]
