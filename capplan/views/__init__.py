"""Service layer of the dashboard: pure functions from store records, catalog, projections and plan
results to pandas DataFrames and plotly figures. Pages in ``dashboards/`` only call these and draw."""
