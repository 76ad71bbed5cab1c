"""Alembic environment: the URL comes from the caller (db/migrate.py), never from a file."""

from alembic import context

from onboard360.db.pooling import one_off_engine

url = context.config.attributes["url"]
# One connection, a transaction per migration: through a transaction pooler each may run
# on another server connection (db/pooling.py).
engine = one_off_engine(url)
with engine.connect() as connection:
    context.configure(connection=connection, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
