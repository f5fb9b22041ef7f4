"""Whether a suite may name a kind by ``package.module:Class``, which imports (runs) that module.

Registered kinds are capplan's own code. A ``module:Class`` kind runs whatever that module does on
import, so a suite file shared by a colleague could run code without warning: such kinds need the
user's consent, given as ``--allow-code`` for one command or listed in an allow-list, one
``package.module:Class`` (or ``package.module`` for all its classes) per line, ``#`` for comments:
``$CAPPLAN_ALLOWED_KINDS`` (comma-separated) and the file ``allowed-kinds.txt`` in capplan's user
config directory.
"""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_config_dir

from capplan.errors import UserError
from capplan.harness.registry import KINDS

ALLOWED_KINDS_ENV = "CAPPLAN_ALLOWED_KINDS"


def allowlist_path() -> Path:
    """The user's allow-list file (it need not exist)."""
    return Path(user_config_dir("capplan")) / "allowed-kinds.txt"


def allowed_kinds() -> set[str]:
    """Entries of the environment variable and the allow-list file."""
    entries = {e.strip() for e in os.environ.get(ALLOWED_KINDS_ENV, "").split(",")}
    path = allowlist_path()
    if path.is_file():
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"{path}: cannot read the allowed-kinds list ({exc})") from exc
        entries |= {line.split("#", 1)[0].strip() for line in lines}
    return entries - {""}


def check_trusted(kind: str, allow_code: bool) -> None:
    """UserError unless ``kind`` is registered, ``allow_code`` is set, or the allow-list names it."""
    if kind in KINDS or kind in KINDS.values() or allow_code:  # capplan's own kinds, by name or by path
        return
    module = kind.partition(":")[0]
    if kind in allowed_kinds() or module in allowed_kinds():
        return
    raise UserError(
        f"kind: {kind!r} imports and runs code from module {module!r}; pass --allow-code to trust it, "
        f"or add it to {ALLOWED_KINDS_ENV} or {allowlist_path()}"
    )
