"""Write .env for docker compose: .env.example's settings, every empty value filled with a fresh random secret.

Values already set in .env are kept, so running it again only fills what is still empty. Standard library only:
it runs with any Python 3 before anything is installed.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import sys
import tempfile
from pathlib import Path

EMPTY = re.compile(r"^([A-Z][A-Z0-9_]*)=\s*$")
DEFAULT_UID = 50000  # the airflow user of the official image


def value_for(name: str) -> str:
    """A random secret, except for the settings that have a format of their own."""
    if name == "AIRFLOW_UID":  # Airflow must not run as root; native Windows Python has no getuid
        uid = os.getuid() if hasattr(os, "getuid") else 0
        return str(uid or DEFAULT_UID)
    if name.endswith("FERNET_KEY"):
        return base64.urlsafe_b64encode(os.urandom(32)).decode()
    if name == "HANDOFF_SIGNING_KEY":
        return secrets.token_hex(32)  # the handoff library refuses keys shorter than 32 bytes
    return secrets.token_hex(24)


def fill(text: str) -> tuple[str, list[str]]:
    """``text`` with every empty ``NAME=`` line given a value, and the names that were filled."""
    lines, filled = [], []
    for line in text.splitlines():
        match = EMPTY.match(line)
        if match:
            filled.append(match[1])
            line = f"{match[1]}={value_for(match[1])}"
        lines.append(line)
    return "\n".join(lines) + "\n", filled


def write_private(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in a file only its owner can read, from its first byte on.

    The text goes to a new file that mkstemp creates with mode 0600 in the same folder, which is then renamed over
    ``path``: no moment where the secrets are readable by others, and never a half-written .env.
    """
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.", suffix=".tmp")
    temp = Path(name)
    try:
        with os.fdopen(fd, "w") as file:
            file.write(text)
        temp.replace(path)
    except BaseException:
        temp.unlink()
        raise


def main(project: Path) -> int:
    env_file = project / ".env"
    source = env_file if env_file.exists() else project / ".env.example"
    text, filled = fill(source.read_text())
    write_private(env_file, text)
    print(f"{env_file}: filled {', '.join(filled) or 'nothing (every value was set)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(__file__).resolve().parent.parent))
