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
# Packages the generated project imports: a package of the same name would shadow them.
TAKEN_PACKAGE_NAMES = {"airflow", "boto3", "botocore", "joblib", "numpy", "skops", "sklearn", "tests", "dags"}
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
    if value in sys.stdlib_module_names or value in TAKEN_PACKAGE_NAMES:
        return "would shadow a module the project imports (standard library or dependency)"
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
