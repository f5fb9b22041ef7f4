"""Bad input shows as one line on a page: capplan's ``UserError``, re-exported so the dashboard
imports only ``capplan.views``."""

from __future__ import annotations

from capplan.errors import UserError

__all__ = ["UserError"]
