"""Write transactions: how every domain function that changes the database begins, commits and
rolls back its work (``with transaction(): ...``).

On SQLite a write transaction begins with ``BEGIN IMMEDIATE``: it takes the database's one write
lock before its first statement, waiting its turn for up to the busy timeout
(``SQLITE_BUSY_TIMEOUT_SECONDS``). A transaction that read first could not wait for the lock: a
writer's commit meanwhile would make its reads stale, and SQLite refuses it at once with
"database is locked". So the reads inside the block see the latest commit, nothing else writes
between them and the block's writes, and no ``db.session.rollback()`` is needed to end a read
before a write (Python's sqlite3 opens no transaction for a read).

On PostgreSQL it is the session's transaction as it stands: reads made before the block share
it, which is harmless there (the conditional UPDATEs' row locks decide). Where a connection runs
outside transactions (``inventory.purchase``'s sale), each statement has committed itself
already and the commit at the end costs nothing.
"""
from contextlib import contextmanager

from .extensions import db


@contextmanager
def transaction():
    """Run the block as one write transaction of ``db.session``: committed when the block ends
    (a ``return`` inside it included), rolled back if anything in it raises, which re-raises.

    Put the reads a write acts on inside the block with the write, and what must wait for the
    commit (a log line, a metric) after it::

        with transaction():
            row = db.session.execute(update(sweets).where(...).returning(...)).one_or_none()
            if row is None:  # only the loser reads again, to explain
                found = db.session.execute(select(...)).first()
                raise StockLimitError() if found else SweetNotFoundError()  # rolled back
            db.session.execute(insert(movements).values(...))
        log.info(...)

    Blocks do not nest, and the session must not hold uncommitted writes when one begins.

    :raise RuntimeError: on SQLite, the session already holds a write transaction (nothing ran).
    """
    session = db.session
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        if connection.connection.dbapi_connection.in_transaction:
            raise RuntimeError("transaction() began while the session held uncommitted writes")
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    try:
        yield
        session.commit()
    except BaseException:
        session.rollback()
        raise
