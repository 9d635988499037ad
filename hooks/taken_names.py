"""Write into pre_gen_project.py the names a package of the generated project must not take (run by `make locks`).

A package named like a module the project imports, or like one of its own top-level folders, would shadow it. The
imported modules are the top-level modules that the distributions pinned in requirements/*.lock install, read from
their RECORD after `make locks` has installed each lock into build/locks/<backend>/site. The pre-generation hook
cannot read any of this at bake time: cookiecutter runs a rendered copy of it from a temporary file, in the still
empty project folder, and the template's path it gets (`_repo_dir`) is relative to wherever cookiecutter was started.
So the names live in the hook itself, between two marker lines that this script rewrites; the template's tests check
that they were read from the current locks and folders.

Not a hook: cookiecutter runs only the files named after one.

    python hooks/taken_names.py SITE...   # each SITE: a folder a lock was installed into (uv pip install --target)
"""

from __future__ import annotations

import hashlib
import sys
import textwrap
from importlib.metadata import distributions
from pathlib import Path, PurePosixPath

TEMPLATE = Path(__file__).resolve().parent.parent
PROJECT_TEMPLATE = TEMPLATE / "{{cookiecutter.project_slug}}"
LOCK_DIR = PROJECT_TEMPLATE / "requirements"
HOOK = TEMPLATE / "hooks" / "pre_gen_project.py"
BEGIN = "# BEGIN names written by `make locks` (hooks/taken_names.py)\n"
END = "# END names written by `make locks`\n"
PYTHON_SUFFIXES = (".py", ".so", ".pyd")  # a source module or an extension module


def locks_sha256() -> str:
    """One digest of every lock file, to tell whether the names were read from the current locks."""
    digest = hashlib.sha256()
    for lock in sorted(LOCK_DIR.glob("*.lock")):
        digest.update(f"{lock.name}\n".encode())
        digest.update(lock.read_bytes())
    return digest.hexdigest()


def importable_name(path: PurePosixPath) -> str | None:
    """The top-level module a file of a distribution belongs to, if the file is Python (source or extension)."""
    if not path.name.endswith(PYTHON_SUFFIXES) or path.parts[0] == "bin":  # bin/: its scripts, under --target
        return None
    name = path.parts[0] if len(path.parts) > 1 else path.name.split(".")[0]
    return name if name.isidentifier() else None  # not "..", "*.dist-info", "*.data"


def installed_modules(site: Path) -> set[str]:
    """The top-level modules of every distribution installed in ``site``, from the files their RECORD lists."""
    names = set()
    for dist in distributions(path=[str(site)]):
        if dist.files is None:
            raise SystemExit(f"{dist.metadata['Name']} in {site} has no RECORD: cannot tell which modules it installs")
        names |= {importable_name(PurePosixPath(file)) for file in dist.files} - {None}
    if not names:
        raise SystemExit(f"no distribution installed in {site}")
    return names


def project_modules() -> set[str]:
    """The generated project's top-level modules and folders holding Python files (dags, scripts, src, tests...)."""
    return {
        path.stem
        for path in PROJECT_TEMPLATE.iterdir()
        if path.stem.isidentifier() and (path.suffix == ".py" or (path.is_dir() and any(path.rglob("*.py"))))
    }


def names_literal(name: str, names: set[str]) -> str:
    """``NAME = frozenset({...})`` of ``names``, sorted, several to a line."""
    quoted = ", ".join(f'"{module}"' for module in sorted(names)) + ","
    lines = textwrap.wrap(quoted, width=112, break_on_hyphens=False)  # 120 with the indentation
    return f"{name} = frozenset(\n    {{\n" + "".join(f"        {line}\n" for line in lines) + "    }\n)\n"


def block(dependency_modules: set[str]) -> str:
    return (
        BEGIN
        + f'LOCKS_SHA256 = "{locks_sha256()}"\n'
        + names_literal("DEPENDENCY_MODULES", dependency_modules)
        + names_literal("PROJECT_MODULES", project_modules())
        + END
    )


def main(sites: list[str]) -> int:
    if not sites:
        raise SystemExit(__doc__.rstrip().splitlines()[-1].strip())
    modules = set().union(*(installed_modules(Path(site)) for site in sites))
    text = HOOK.read_text()
    before, rest = text.split(BEGIN)
    _, after = rest.split(END)
    HOOK.write_text(before + block(modules) + after)
    print(f"{HOOK.relative_to(TEMPLATE)}: {len(modules)} dependency modules; project: {sorted(project_modules())}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
