"""Validate the answers before anything is generated.

A bad answer stops generation with ONE line on stderr naming the field, the
value and the rule; cookiecutter then removes the half-made project folder.
"""

from __future__ import annotations

import json
import keyword
import re
import sys

# Each answer as a Python literal of its JSON text: ``tojson`` writes a character beyond U+FFFF (an emoji) as a
# surrogate pair, which json.loads joins again but a plain Python literal would keep as two characters.
ANSWERS = {
    "project_name": json.loads({{ cookiecutter.project_name | tojson | tojson }}),
    "project_slug": json.loads({{ cookiecutter.project_slug | tojson | tojson }}),
    "package_name": json.loads({{ cookiecutter.package_name | tojson | tojson }}),
    "storage_backend": json.loads({{ cookiecutter.storage_backend | tojson | tojson }}),
    "s3_bucket": json.loads({{ cookiecutter.s3_bucket | tojson | tojson }}),
    "author_name": json.loads({{ cookiecutter.author_name | tojson | tojson }}),
}

BACKENDS = ("shared_fs", "s3", "variables")
# A package named like a module the project imports, or like one of its own top-level folders, would shadow it.
# The top-level modules of every distribution pinned in the project's locks, and its top-level folders and modules:
# hooks/taken_names.py says why they are written here and not read from the template at bake time.
# BEGIN names written by `make locks` (hooks/taken_names.py)
LOCKS_SHA256 = "7f13a9e9d18303af40f579e125a8dc35935d054805a69d73b5486d2ce18a476f"
DEPENDENCY_MODULES = frozenset(
    {
        "PIL", "_cffi_backend", "_distutils_hack", "_hypothesis_ftz_detector", "_hypothesis_globals",
        "_hypothesis_pytestplugin", "_pytest", "_yaml", "a2wsgi", "aiofiles", "aiohappyeyeballs", "aiohttp",
        "aiosignal", "aiosmtplib", "aiosqlite", "airflow", "airflow_model_handoff", "alembic", "amqp", "annotated_doc",
        "annotated_types", "antlr4", "anyio", "argcomplete", "arrow", "asgiref", "asn1crypto", "async_timeout",
        "asyncpg", "attr", "attrs", "aws_xray_sdk", "babel", "billiard", "blinker", "boto3", "botocore", "bs4",
        "cachetools", "cadwyn", "celery", "certifi", "cffi", "cfgv", "cfnlint", "charset_normalizer", "click",
        "click_didyoumean", "click_plugins", "click_repl", "cloudpickle", "colorlog", "contourpy", "cron_descriptor",
        "croniter", "cryptography", "cycler", "daemon", "dateutil", "deprecated", "dill", "distlib", "dns", "docker",
        "dotenv", "durationpy", "email_validator", "fastapi", "fastapi_cli", "filelock", "flask", "flask_cors",
        "flower", "fontTools", "frozenlist", "fsspec", "google", "graphql", "greenback", "greenlet", "grpc", "h11",
        "httpcore", "httptools", "httpx", "humanize", "hypothesis", "identify", "idna", "importlib_metadata",
        "inflection", "iniconfig", "isoduration", "isympy", "itsdangerous", "jinja2", "jmespath", "joblib", "joserfc",
        "jsonpatch", "jsonpatch_cli", "jsonpath_ng", "jsonpointer", "jsonschema", "jsonschema_path",
        "jsonschema_specifications", "jwt", "kiwisolver", "kombu", "kubernetes", "kubernetes_asyncio", "lazy_importer",
        "lazy_object_proxy", "libcst", "linkify_it", "lockfile", "lxml", "mako", "markdown_it", "markupsafe",
        "marshmallow", "matplotlib", "mdurl", "methodtools", "more_itertools", "moto", "mpl_toolkits", "mpmath",
        "msgspec", "multidict", "multipart", "narwhals", "natsort", "networkx", "nodeenv", "numpy", "oauthlib",
        "openapi_schema_validator", "openapi_spec_validator", "opentelemetry", "outcome", "packaging", "pathable",
        "pathlib_abc", "pathspec", "pendulum", "platformdirs", "pluggy", "pre_commit", "prettytable",
        "prometheus_client", "prompt_toolkit", "propcache", "psutil", "psycopg", "psycopg2", "psycopg_binary", "py",
        "py_partiql_parser", "pyathena", "pycparser", "pydantic", "pydantic_core", "pydantic_extra_types",
        "pydantic_settings", "pygments", "pygtrie", "pylab", "pyparsing", "pytest", "python_discovery",
        "python_multipart", "pytz", "redis", "redshift_connector", "referencing", "regex", "requests",
        "requests_oauthlib", "requests_toolbelt", "responses", "rfc3339_validator", "rich", "rich_argparse",
        "rich_toolkit", "rpds", "ruff", "s3transfer", "sagemaker_studio", "scipy", "scramp", "setproctitle",
        "setuptools", "shellingham", "six", "sklearn", "skops", "slugify", "sniffio", "sortedcontainers", "soupsieve",
        "sqlalchemy", "sqlparse", "starlette", "structlog", "svcs", "sympy", "tabulate", "tenacity", "termcolor",
        "text_unidecode", "threadpoolctl", "tools", "tornado", "typer", "typing_extensions", "typing_inspection",
        "tzdata", "tzlocal", "upath", "urllib3", "uuid6", "uvicorn", "uvloop", "vine", "virtualenv", "watchfiles",
        "watchtower", "wcwidth", "websocket", "websockets", "werkzeug", "wirerope", "wrapt", "xmltodict", "yaml",
        "yarl", "zipp",
    }
)
PROJECT_MODULES = frozenset(
    {
        "dags", "examples", "scripts", "src", "tests", "vendor",
    }
)
# END names written by `make locks`
SLUG_RE = re.compile(r"[a-z][a-z0-9-]{0,62}")
PACKAGE_RE = re.compile(r"[a-z_][a-z0-9_]{0,62}")
BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
IPV4_RE = re.compile(r"\d{1,3}(\.\d{1,3}){3}")
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")  # what str.splitlines() breaks at, and more


def free_text_error(value: str) -> str | None:
    if not value.strip():
        return "must not be empty"
    if CONTROL_RE.search(value):
        return "must be one line without control characters"
    if len(value) > 100:
        return "must be at most 100 characters"
    return None


def owner_error(value: str) -> str | None:
    if value.strip().lower() == "airflow":  # the project's DAG policy test refuses it
        return "is Airflow's placeholder owner: name the person or team responsible for the DAGs"
    return free_text_error(value)


def slug_error(value: str) -> str | None:
    if not SLUG_RE.fullmatch(value) or value.endswith("-"):
        return "use 1-63 lowercase letters, digits and '-', starting with a letter and not ending with '-'"
    return None


def package_error(value: str) -> str | None:
    if not PACKAGE_RE.fullmatch(value):
        return "use 1-63 lowercase letters, digits and '_', not starting with a digit (a Python identifier)"
    if keyword.iskeyword(value) or keyword.issoftkeyword(value):
        return "is a Python keyword and cannot be imported"
    if value in sys.stdlib_module_names:
        return "would shadow the standard library's module of that name"
    if value in DEPENDENCY_MODULES:
        return "would shadow the module of that name that one of the project's dependencies installs"
    if value in PROJECT_MODULES:
        return "is taken by one of the project's own folders: " + ", ".join(sorted(PROJECT_MODULES))
    return None


def backend_error(value: str) -> str | None:
    if value not in BACKENDS:
        return "must be one of " + ", ".join(BACKENDS)
    return None


def bucket_error(value: str) -> str | None:
    rule = (
        "an S3 bucket name is 3-63 lowercase letters, digits, '.' and '-', "
        "starting and ending with a letter or digit"
    )
    if not BUCKET_RE.fullmatch(value):
        return rule
    if ".." in value or ".-" in value or "-." in value:
        return rule + ", with no '..', '.-' or '-.'"
    if IPV4_RE.fullmatch(value):
        return "an S3 bucket name must not look like an IP address"
    if value.startswith(("xn--", "sthree-")) or value.endswith(("-s3alias", "--ol-s3", "--x-s3")):
        return (
            "an S3 bucket name must not use the reserved prefixes xn--, sthree- or suffixes -s3alias, --ol-s3, --x-s3"
        )
    return None


CHECKS = {
    "project_name": free_text_error,
    "project_slug": slug_error,
    "package_name": package_error,
    "storage_backend": backend_error,
    "s3_bucket": bucket_error,
    "author_name": owner_error,
}


def main() -> int:
    for field, check in CHECKS.items():
        value = ANSWERS[field]
        problem = check(value)
        if problem:
            print(f"error: {field}={value!r} is invalid: {problem}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
