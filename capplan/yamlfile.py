"""Reading user YAML files (suites, plans) with yaml.safe_load and one-line errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from capplan.errors import UserError


def read_yaml(path: Path, what: str) -> Any:
    """The parsed document of the YAML file ``path``; ``what`` names it in errors (suite, plan)."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserError(f"{path}: cannot read {what} file ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text (byte {exc.start}); save the {what} as UTF-8 YAML") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise UserError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', None) or exc}") from exc
