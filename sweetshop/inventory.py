"""The stock rules: the only module that changes a sweet's quantity.

A purchase is one conditional UPDATE whose row count decides success, and a
restock one atomic increment; each writes its ledger row in the same
transaction, so ``quantity == sum(ledger changes)`` holds at every commit.
No row is read into Python and written back, and no lock is held while a
client waits: many workers on many hosts can sell the same sweet safely.
"""
import hashlib
import logging
import re

from contextlib import contextmanager
from decimal import Decimal
from typing import NamedTuple

from flask import current_app
from sqlalchemy import Integer, String, bindparam, event, func, insert, literal, select, text, update
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.engine import Connection

from . import mail, metrics, observability
from .errors import (IdempotencyKeyReusedError, OutOfStockError, StockChangedError,
                     StockLimitError, SweetNotFoundError)
from .extensions import db
from .models import StockMovement, Sweet, Timestamp, utcnow
from .rules import STOCK_MAX
from .transactions import transaction

sweets = Sweet.__table__
movements = StockMovement.__table__
# What every stock operation hands back: the sweet as it stands after the change.
CONTENT_COLUMNS = (sweets.c.description, sweets.c.unit, sweets.c.allergens, sweets.c.photo_hash)
SWEET_COLUMNS = (sweets.c.id, sweets.c.name, sweets.c.category, sweets.c.price, sweets.c.quantity,
                 *CONTENT_COLUMNS)
on_sale = sweets.c.archived_at.is_(None)
log = logging.getLogger(__name__)


def _record(sweet_id, kind, change, balance, user_id=None, unit_price=None, idempotency_key=None,
            at=None, order_id=None, note=None):
    db.session.execute(insert(movements).values(
        sweet_id=sweet_id, kind=kind, change=change, balance=balance, user_id=user_id,
        unit_price=unit_price, idempotency_key=idempotency_key, created_at=at or utcnow(),
        order_id=order_id, note=note))


def _log_change(sweet_id, kind, change, balance, user_id):
    # Called only after the commit, so the log never shows a change the database lacks.
    observability.log_stock_change(sweet_id, kind, change, balance, user_id)


def stock_new_sweet(sweet_id, quantity, user_id, at):
    """Give a sweet just added (its row uncommitted, with no stock yet) its initial ``quantity``,
    with the ``initial`` ledger row that records it; the caller commits, then calls ``_log_change``.

    Creating a sweet is the catalogue's job, but its first stock is a quantity change like any
    other, so it is made here, as one atomic increment beside its ledger row.
    """
    db.session.execute(update(sweets).where(sweets.c.id == sweet_id)
                       .values(quantity=sweets.c.quantity + quantity))
    _record(sweet_id, StockMovement.INITIAL, quantity, quantity, user_id=user_id, at=at)


def _on_postgresql():
    """Whether the shop's database is PostgreSQL (else SQLite): the purchase differs there."""
    return db.engine.dialect.name == "postgresql"


def init_app(app):
    """On PostgreSQL, register ``_back_to_transactions`` on the app's own engine (only its
    connections are ever switched, by ``selling``)."""
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "postgresql":
        event.listen(engine, "checkin", _back_to_transactions)


@contextmanager
def selling():
    """The connection a purchase request runs on, from its bearer token's lookup to the sale:
    yields a Core connection on PostgreSQL, None on SQLite (there the session's transaction
    serves, see ``purchase``).

    On PostgreSQL the connection is the purchase's own and runs outside any transaction, each
    statement committing itself: the sale is one statement (the conditional UPDATE and its ledger
    row, ``_SALE_WITH_LEDGER_ROW``) and every other statement on the way only reads. So the row
    lock ends with the sale statement, on the server, and no COMMIT round trip is made while other
    buyers wait for the row (across a network, that round trip was most of the time it was held),
    nor a BEGIN or COMMIT around the token's lookup. Only what is handed this connection runs in
    that mode: the request's session, and any write added to it later, stays transactional. And
    the request needs no ORM session at all, whose lifecycle was a tenth of a purchase's
    instructions.

    The switch is psycopg2's own ``autocommit``, client-side both ways, made on a fresh checkout
    (no transaction open yet); ``_back_to_transactions`` switches it back when the connection
    returns to the pool. SQLAlchemy's ``AUTOCOMMIT`` isolation level would send a ``SET`` on the
    way back, and if the database died just after the sale, that ``SET`` failed outside
    SQLAlchemy's error handling: a sale already committed was answered 500.
    """
    if not _on_postgresql():
        yield None
        return
    with db.engine.connect() as connection:
        connection.connection.dbapi_connection.autocommit = True
        yield connection


def _back_to_transactions(dbapi_connection, connection_record):
    """Every connection goes back to the pool in transaction mode (see ``selling``).
    Client-side only in psycopg2, so it cannot fail on a connection whose server has gone.
    (An invalidated connection comes back as None: the pool drops it.)"""
    if dbapi_connection is not None and not dbapi_connection.closed and dbapi_connection.autocommit:
        dbapi_connection.autocommit = False


def purchase(sweet_id, user_id, quantity=1, idempotency_key=None, connection=None):
    """Sell ``quantity`` units to a user; returns the sweet as it stands after the sale.

    With an ``idempotency_key`` the sale happens at most once per user and key:
    a repeat returns the first sale's outcome and leaves stock alone. ``connection`` is the one
    ``selling()`` gave (PostgreSQL), or None: the session, in a transaction.

    :raise SweetNotFoundError: no such sweet on sale (nothing changed).
    :raise OutOfStockError: fewer than ``quantity`` units left (nothing changed).
    :raise IdempotencyKeyReusedError: the key was used for another sweet or quantity.
    """
    try:
        if connection is None:
            with transaction():
                sold, new = _sell_or_replay(db.session, sweet_id, user_id, quantity, idempotency_key)
        else:  # each statement commits itself
            sold, new = _sell_or_replay(connection, sweet_id, user_id, quantity, idempotency_key)
    except IntegrityError:
        # A twin request with the same key committed first (another worker or host): the
        # unique (user, key) index refused our ledger row, and with it our sale, whole;
        # answer with the twin's outcome.
        (connection or db.session).rollback()
        earlier = _replay(connection or db.session, user_id, idempotency_key, sweet_id, quantity)
        if earlier is None:
            raise
        return earlier
    if new:
        _log_change(sweet_id, StockMovement.PURCHASE, -quantity, sold.quantity, user_id)
        metrics.record_units_sold(quantity)
    return sold


def _sell_or_replay(executor, sweet_id, user_id, quantity, idempotency_key):
    """``(the sweet after the sale, True)`` on ``executor`` (a session or a connection), or
    ``(the earlier outcome, False)`` when the key was used already."""
    earlier = _replay(executor, user_id, idempotency_key, sweet_id, quantity)
    if earlier is not None:
        return earlier, False
    sold = _sell(executor, sweet_id, user_id, quantity, idempotency_key, utcnow())
    if sold is None:
        # A twin request with the same key may have made this very sale meanwhile.
        earlier = _replay(executor, user_id, idempotency_key, sweet_id, quantity)
        if earlier is None:
            raise _why_not_sold(executor, sweet_id)
        return earlier, False
    return sold, True


def _sell(executor, sweet_id, user_id, quantity, idempotency_key, now):
    """The conditional UPDATE and its ledger row: the sweet after the sale, or None when the
    UPDATE touched no row (then nothing was written).

    :raise IntegrityError: the user already made a purchase with this key.
    """
    params = {"sweet_id": sweet_id, "units": quantity, "now": now}
    if not _on_postgresql():
        sold = executor.execute(_SALE, params).one_or_none()
        if sold is not None:
            _record(sweet_id, StockMovement.PURCHASE, -quantity, sold.quantity, user_id=user_id,
                    unit_price=sold.price, idempotency_key=idempotency_key, at=now)
            mail.queue_low_stock(sweet_id, sold.name, sold.quantity, quantity, now)
        return sold
    connection = executor if isinstance(executor, Connection) else executor.connection()
    sale, defaults = _prepared_sale(connection)
    return connection.execute(sale, dict(defaults, **params, user_id=user_id, key=idempotency_key)
                              ).one_or_none()


# The purchase statements are built once, at import: on the hottest path building a
# statement costs more Python time than the database takes to run it.
#
# The WHERE clause is the whole stock check: the database applies it atomically to the
# current row, so concurrent buyers can never take more than there is.
_SALE = (update(sweets)
         .where(sweets.c.id == bindparam("sweet_id"), sweets.c.quantity >= bindparam("units"), on_sale)
         .values(quantity=sweets.c.quantity - bindparam("units"), updated_at=bindparam("now"))
         .returning(*SWEET_COLUMNS))

# The sale locks the row until the commit, so on PostgreSQL its ledger row is written by
# the same statement (a data-modifying WITH), which then commits itself: the purchase runs
# outside a transaction (``selling``), and no round trip is made
# while other buyers wait for the row. SQLite has no UPDATE inside WITH, and there one
# writer holds the whole database anyway, so it runs _SALE and then the INSERT.
_sold = _SALE.cte("sold")
_SALE_WITH_LEDGER_ROW = select(_sold).add_cte(insert(movements).from_select(
    ["sweet_id", "kind", "change", "balance", "user_id", "unit_price", "idempotency_key", "created_at"],
    select(_sold.c.id, literal(StockMovement.PURCHASE), -bindparam("units", type_=Integer),
           _sold.c.quantity, bindparam("user_id", type_=Integer), _sold.c.price,
           bindparam("key", type_=String), bindparam("now", type_=Timestamp)),
).cte("ledger"))


def _sale_with_ledger_row():
    """_SALE_WITH_LEDGER_ROW with the low-stock mails riding in it (mail.low_stock_insert: it
    inserts nothing unless this sale crossed the line), so they commit with the sale or not at
    all. The app's threshold and address are written into the statement: measured with
    bench/instructions.py, parameters for them cost every purchase about 4 %. Built once per app
    (``_prepared_sale``)."""
    low_stock = mail.low_stock_insert(_sold, mail.low_stock_params()).cte("low_stock")
    return _SALE_WITH_LEDGER_ROW.add_cte(low_stock)


# The sale statement is a server-side prepared statement on PostgreSQL: prepared once per
# connection, then only EXECUTEd. psycopg2 sends every statement as text, which the server
# parses and plans afresh, and for this statement (three CTEs) that took about half of its
# time on the server: pgbench, one client, 0.63 ms a sale as text against 0.33 ms prepared.
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")
_PREPARED_SALE = "sweetshop.prepared_sale"


def _prepared_sale(connection):
    """``(EXECUTE statement, its default parameters)`` for this app's sale, PREPAREd on
    ``connection`` the first time that connection sells. The name carries a digest of the
    statement, so a statement built anew (another low-stock line or address) is prepared anew."""
    prepared = current_app.extensions.get(_PREPARED_SALE)
    if prepared is None:
        prepared = current_app.extensions[_PREPARED_SALE] = _prepare_text(_sale_with_ledger_row(),
                                                                          connection.dialect)
    name, prepare, execute, defaults = prepared
    done = connection.connection.info.setdefault(_PREPARED_SALE, set())
    if name not in done:
        connection.exec_driver_sql(prepare)
        done.add(name)
    return execute, defaults


def _prepare_text(statement, dialect):
    """``(name, PREPARE text, EXECUTE statement, default parameters)`` for ``statement``: its
    named parameters become ``$1, $2, ...`` with their declared types, and the EXECUTE reads
    back the sweet's columns with their own types."""
    compiled = statement.compile(dialect=dialect)
    names = list(dict.fromkeys(_PLACEHOLDER.findall(compiled.string)))
    body = _PLACEHOLDER.sub(lambda match: f"${names.index(match.group(1)) + 1}", compiled.string)
    body = body.replace("%%", "%")  # no longer a format string
    name = "sweetshop_sale_" + hashlib.sha256(body.encode()).hexdigest()[:16]
    types = ", ".join(compiled.binds[n].type.compile(dialect=dialect) for n in names)
    execute = (text(f"EXECUTE {name} ({', '.join(':' + n for n in names)})")
               .bindparams(*(bindparam(n, type_=compiled.binds[n].type) for n in names))
               .columns(*SWEET_COLUMNS))
    defaults = {n: compiled.binds[n].value for n in names if compiled.binds[n].value is not None}
    return name, f"PREPARE {name} ({types}) AS {body}", execute, defaults


def _why_not_sold(executor, sweet_id):
    """The error for a purchase whose UPDATE touched no row.

    Only now do we look at the row again, to tell a missing sweet from short stock.
    """
    available = executor.execute(
        select(sweets.c.quantity).where(sweets.c.id == sweet_id, on_sale)
    ).scalar_one_or_none()
    if available is None:
        return SweetNotFoundError()
    metrics.record_purchase_refused()
    return OutOfStockError(available)


def _replay(executor, user_id, idempotency_key, sweet_id, quantity):
    """The outcome of the user's earlier purchase under this key, or None if there is none.

    :raise IdempotencyKeyReusedError: the key was used for another sweet or quantity.
    """
    if idempotency_key is None:
        return None
    earlier = executor.execute(
        select(sweets.c.id, sweets.c.name, sweets.c.category,
               movements.c.unit_price.label("price"), movements.c.balance.label("quantity"),
               (-movements.c.change).label("bought"), *CONTENT_COLUMNS)
        .join(sweets, sweets.c.id == movements.c.sweet_id)
        .where(movements.c.user_id == user_id, movements.c.idempotency_key == idempotency_key)
    ).one_or_none()
    if earlier is not None and (earlier.id != sweet_id or earlier.bought != quantity):
        raise IdempotencyKeyReusedError()
    return earlier


def restock(sweet_id, user_id, quantity):
    """Add ``quantity`` units to a sweet's stock; returns the sweet after the restock.

    :raise SweetNotFoundError: no such sweet on sale.
    :raise StockLimitError: the stock would pass ``STOCK_MAX``.
    """
    now = utcnow()
    with transaction():
        # One atomic increment: concurrent restocks and sales all count.
        row = db.session.execute(
            update(sweets)
            .where(sweets.c.id == sweet_id, on_sale, sweets.c.quantity <= STOCK_MAX - quantity)
            .values(quantity=sweets.c.quantity + quantity, updated_at=now)
            .returning(*SWEET_COLUMNS)
        ).one_or_none()
        if row is None:
            exists = db.session.execute(
                select(sweets.c.id).where(sweets.c.id == sweet_id, on_sale)).first()
            raise StockLimitError() if exists else SweetNotFoundError()
        _record(sweet_id, StockMovement.RESTOCK, quantity, row.quantity, user_id=user_id, at=now)
    _log_change(sweet_id, StockMovement.RESTOCK, quantity, row.quantity, user_id)
    return row


def count_stock(sweet_id, user_id, counted, seen, reason=None):
    """Record a stock count: the stock becomes ``counted`` if it is still ``seen``.

    A compare-and-set, so a sale or restock made since the admin read ``seen`` is never
    overwritten; the ``count`` ledger row holds the difference and the ``reason`` (one of
    ``StockMovement.COUNT_REASONS``, or None). Returns the sweet after it.

    :raise SweetNotFoundError: no such sweet on sale (nothing changed).
    :raise StockChangedError: the stock is no longer ``seen`` (nothing changed); it carries
        the current figure.
    """
    now = utcnow()
    with transaction():
        row = db.session.execute(
            update(sweets).where(sweets.c.id == sweet_id, sweets.c.quantity == seen, on_sale)
            .values(quantity=counted, updated_at=now).returning(*SWEET_COLUMNS)
        ).one_or_none()
        if row is None:
            current = db.session.execute(
                select(sweets.c.quantity).where(sweets.c.id == sweet_id, on_sale)).scalar_one_or_none()
            raise SweetNotFoundError() if current is None else StockChangedError(current)
        _record(sweet_id, StockMovement.COUNT, counted - seen, counted, user_id=user_id, at=now, note=reason)
    _log_change(sweet_id, StockMovement.COUNT, counted - seen, counted, user_id)
    return row


def add_units(sweet_id, units, user_id, at):
    """A delivery's units, added by the restock's atomic increment with its ledger row, uncommitted
    (the CSV import applies many in one transaction). Returns the stock after it, or None when no
    sweet on sale has this id or the stock would pass ``STOCK_MAX`` (then nothing was written)."""
    balance = db.session.execute(
        update(sweets)
        .where(sweets.c.id == sweet_id, on_sale, sweets.c.quantity <= STOCK_MAX - units)
        .values(quantity=sweets.c.quantity + units, updated_at=at)
        .returning(sweets.c.quantity)
    ).scalar_one_or_none()
    if balance is not None:
        _record(sweet_id, StockMovement.RESTOCK, units, balance, user_id=user_id, at=at)
    return balance


def insert_stocked_sweet(fields, quantity, user_id, at):
    """A new sweet row with ``quantity`` units and its initial-stock ledger row, uncommitted;
    returns its id. ``fields`` are its other columns (name, category, price, ...).

    :raise IntegrityError: a sweet on sale has its name (the unique index decides).
    """
    sweet_id = db.session.execute(
        insert(sweets).values(quantity=quantity, created_at=at, updated_at=at, **fields)
        .returning(sweets.c.id)
    ).scalar_one()
    _record(sweet_id, StockMovement.INITIAL, quantity, quantity, user_id=user_id, at=at)
    return sweet_id


# --- orders: the stock side of placing and cancelling one (orders.py owns the order itself) ----


class SoldLine(NamedTuple):
    """One line of an order as its UPDATE ... RETURNING sold it: what the order, its receipt and
    its ledger need, with no second read."""

    sweet_id: int
    quantity: int
    unit_price: Decimal
    balance: int  # the stock the sale left
    name: str
    unit: str  # what the price is for: "each", "per 100 g"


def sell_lines(order_id, user_id, lines, now):
    """Section 5's conditional UPDATE for each ``(sweet_id, quantity)`` of an order, in the order
    given (the caller sorts them by ascending sweet id), then their ledger rows; all uncommitted.

    Returns ``(None, sold)`` with ``sold`` a list of ``SoldLine``, or ``(sweet_id, None)`` for
    the first line whose UPDATE touched no row: the caller must roll back.
    """
    sold, ledger_rows = [], []
    for sweet_id, quantity in lines:
        row = db.session.execute(_SALE, {"sweet_id": sweet_id, "units": quantity, "now": now}
                                 ).one_or_none()
        if row is None:
            return sweet_id, None
        mail.queue_low_stock(sweet_id, row.name, row.quantity, quantity, now)
        sold.append(SoldLine(sweet_id, quantity, row.price, row.quantity, row.name, row.unit))
        ledger_rows.append({"sweet_id": sweet_id, "kind": StockMovement.PURCHASE, "change": -quantity,
                            "balance": row.quantity, "user_id": user_id, "unit_price": row.price,
                            "idempotency_key": None, "created_at": now, "order_id": order_id})
    # All rows are locked already: one multi-row insert instead of one per line.
    db.session.execute(insert(movements), ledger_rows)
    return None, sold


def return_lines(order_id, user_id, lines, now):
    """One atomic increment per ``(sweet_id, quantity)`` of a cancelled order, in the order given
    (ascending sweet id), each with its ``return`` ledger row; uncommitted. Returns
    ``[(sweet_id, quantity, balance)]``.

    The increment has no condition: the units were taken from this sweet, so they go back even
    if it was archived meanwhile, and the ledger stays whole. It cannot pass the column's range
    in practice: a restock stops at ``STOCK_MAX``, and an order line returns at most 1000 units,
    so a sweet would need over two billion units in stock while the order was open; should it
    happen on PostgreSQL, the whole cancel is refused (``StockLimitError``) and nothing changes.
    """
    returned, ledger_rows = [], []
    try:
        for sweet_id, quantity in lines:
            balance = db.session.execute(
                update(sweets).where(sweets.c.id == sweet_id)
                .values(quantity=sweets.c.quantity + quantity, updated_at=now)
                .returning(sweets.c.quantity)
            ).scalar_one()
            returned.append((sweet_id, quantity, balance))
            ledger_rows.append({"sweet_id": sweet_id, "kind": StockMovement.RETURN, "change": quantity,
                                "balance": balance, "user_id": user_id, "unit_price": None,
                                "idempotency_key": None, "created_at": now, "order_id": order_id})
    except DataError:  # inside the cancel's transaction(), which rolls back whole
        raise StockLimitError("Returning the units would take the stock above its maximum") from None
    db.session.execute(insert(movements), ledger_rows)
    return returned


def log_changes(kind, changes, user_id):
    """Log committed ``(sweet_id, change, balance)`` stock changes of one ``kind``; call it only
    after the commit."""
    for sweet_id, change, balance in changes:
        _log_change(sweet_id, kind, change, balance, user_id)


def audit_stock():
    """Sweets whose quantity differs from the sum of their ledger: ``[(id, quantity, ledger_sum)]``."""
    ledger = (select(movements.c.sweet_id, func.sum(movements.c.change).label("total"))
              .group_by(movements.c.sweet_id).subquery())
    total = func.coalesce(ledger.c.total, 0)
    rows = db.session.execute(
        select(sweets.c.id, sweets.c.quantity, total)
        .outerjoin(ledger, ledger.c.sweet_id == sweets.c.id)
        .where(sweets.c.quantity != total).order_by(sweets.c.id)
    ).all()
    return [tuple(row) for row in rows]
