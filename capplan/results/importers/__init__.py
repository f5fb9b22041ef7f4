"""Importers of external results (MLPerf LoadGen logs and tables, optimum-benchmark reports)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

from capplan.errors import UserError
from capplan.results.schema import RunRecord

Loader = Callable[[Path, bytes], list[RunRecord]]


def user_errors(what: str) -> Callable[[Loader], Loader]:
    """Turn a parser's ValueError/TypeError/KeyError/OverflowError (bad numbers, wrong types) into one
    UserError line."""

    def wrap(load: Loader) -> Loader:
        @functools.wraps(load)
        def guarded(path: Path, data: bytes) -> list[RunRecord]:
            try:
                return load(path, data)
            except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
                first = " ".join(str(exc).split())[:200]
                raise UserError(f"{path}: malformed {what} ({first})") from exc

        return guarded

    return wrap
