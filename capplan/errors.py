"""User-facing errors: one clear line, exit code 2, nothing stored is changed."""

from __future__ import annotations


class UserError(Exception):
    """Bad input from the user (file, flag, URL, value). The CLI prints it as one line and exits 2."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))
