"""A local S3 server over real HTTP (moto's server in its own process, `pip install moto[server]`), for runs, tests
and the benchmark."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import boto3

from .ports import free_port, wait_until_listening

# Dummy credentials: the local server accepts any.
ACCESS_KEY, SECRET_KEY, REGION = "local", "local-secret", "us-east-1"


def connection_json(endpoint_url: str) -> str:
    """The Airflow connection (AIRFLOW_CONN_AWS_DEFAULT) that points at ``endpoint_url``."""
    extra = {"endpoint_url": endpoint_url, "region_name": REGION}
    return json.dumps({"conn_type": "aws", "login": ACCESS_KEY, "password": SECRET_KEY, "extra": extra})


def server_command(port: int) -> list[str]:
    return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]


# A killed save can leave a multipart upload whose parts cost storage: S3 aborts it after a day (retention too).
ABORT_STALE_UPLOADS = {
    "Rules": [
        {
            "ID": "abort-incomplete-multipart-uploads",
            "Status": "Enabled",
            "Filter": {"Prefix": ""},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
        }
    ]
}


def create_bucket(endpoint: str, bucket: str, timeout: float = 30.0) -> None:
    """Wait for the server at ``endpoint`` to accept connections, then create ``bucket`` (if it is not there)
    with a lifecycle rule that aborts incomplete multipart uploads after a day."""
    port = int(endpoint.rsplit(":", 1)[1])
    try:
        wait_until_listening(port, timeout)
    except TimeoutError:
        raise RuntimeError(f"local S3 server on port {port} did not start") from None
    client = boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name=REGION
    )
    with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
        client.create_bucket(Bucket=bucket)
    client.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration=ABORT_STALE_UPLOADS)


@contextmanager
def local_s3_server(bucket: str, port: int | None = None, timeout: float = 30.0) -> Iterator[str]:
    """Start the server, create ``bucket``, yield the endpoint URL; always stop the server."""
    port = port or free_port()
    endpoint = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(server_command(port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        create_bucket(endpoint, bucket, timeout)
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def s3_connection(bucket: str, conn_id: str) -> Iterator[str]:
    """Use the Airflow connection ``conn_id`` if it is configured, else a local server for the duration."""
    env_name = f"AIRFLOW_CONN_{conn_id.upper()}"
    if os.environ.get(env_name):
        yield "configured connection " + conn_id
        return
    with local_s3_server(bucket) as endpoint:
        os.environ[env_name] = connection_json(endpoint)
        try:
            yield f"local S3 server {endpoint}"
        finally:
            del os.environ[env_name]
