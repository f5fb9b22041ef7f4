"""Reading user YAML (suites, plans, catalog overrides) with yaml.safe_load and one-line errors.

YAML resolves some plain scalars to typed values while loading (timestamps, integers, base64 binary,
merge keys): an impossible date such as 2026-02-30, a time offset beyond 24 h or an integer of
thousands of digits fails inside the loader itself, before capplan sees a value. Those failures get
the same one-line treatment as syntax errors, naming the line and the value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from capplan.errors import UserError

# What yaml.safe_load raises for bad input: syntax and tags (YAMLError); typed scalars it cannot build
# (ValueError: impossible dates/times, oversized integers; TypeError, OverflowError); self-referencing
# or very deep documents (RecursionError).
LOADER_ERRORS = (yaml.YAMLError, ValueError, TypeError, OverflowError, RecursionError)


def read_yaml(path: Path, what: str) -> Any:
    """The parsed document of the YAML file ``path``; ``what`` names it in errors (suite, plan)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{path}: cannot read {what} file ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text (byte {exc.start}); save the {what} as UTF-8 YAML") from exc
    return parse_yaml(text, str(path))


def parse_yaml(text: str, where: str) -> Any:
    """``yaml.safe_load(text)``; any loader failure is a UserError naming ``where``, the line and why."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise UserError(f"{where}: not valid YAML{at}: {getattr(exc, 'problem', None) or exc}") from exc
    except RecursionError as exc:
        raise UserError(f"{where}: YAML nested or aliased too deeply to load") from exc
    except (ValueError, TypeError, OverflowError) as exc:
        raise UserError(f"{where}: {_typed_scalar_problem(text, exc)}") from exc


def _typed_scalar_problem(text: str, exc: Exception) -> str:
    """Which scalar the loader could not turn into a typed value, with its line, or the loader's reason."""
    reason = " ".join(str(exc).split())[:200]
    try:
        stack = [yaml.compose(text, Loader=yaml.SafeLoader)]
    except LOADER_ERRORS:
        stack = []
    constructor = yaml.SafeLoader("")
    while stack:
        node = stack.pop()
        if node is None:
            continue
        if isinstance(node, yaml.ScalarNode):
            try:
                constructor.construct_object(node, deep=True)
            except LOADER_ERRORS:
                value = node.value if len(node.value) <= 40 else node.value[:40] + "..."
                return (f"line {node.start_mark.line + 1}: {value!r} is not a valid "
                        f"{node.tag.rsplit(':', 1)[-1]} ({reason}); quote it to keep it as text")
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(reversed(node.value))
        elif isinstance(node, yaml.MappingNode):
            stack.extend(v for pair in reversed(node.value) for v in reversed(pair))
    return f"YAML value cannot be loaded ({reason})"
