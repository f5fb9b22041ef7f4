"""Alembic environment: migrations run on the connection the Store passes in ``config.attributes``."""

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "capplan migrations run through capplan.results.store.Store(url), which passes a connection"
    )
context.configure(connection=connection, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
