"""Results: the RunRecord schema, the SQLAlchemy store, import and export."""

from capplan.results.schema import Metric, RunRecord, Source, Status
from capplan.results.store import RunFilter, Store, default_store_url

__all__ = ["Metric", "RunFilter", "RunRecord", "Source", "Status", "Store", "default_store_url"]
