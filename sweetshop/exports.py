"""CSV downloads: the catalogue with stock, the stock ledger for a range of shop days, and the
orders (one row per order line).

Each export is a generator of encoded chunks: rows come from the database a batch at a
time (``yield_per``: a server-side cursor on PostgreSQL, ``fetchmany`` on SQLite) and leave
as soon as a chunk is full, so a large ledger never sits in memory whole. The page and API
views hand the generator to a streamed response.

Text cells a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``, ``@``, a
tab or a carriage return) get a leading ``'`` (OWASP's advice); the import strips it again,
so an exported catalogue imports back unchanged. Numbers are written by us and never need it.
"""
import csv
import io
from datetime import timedelta

from sqlalchemy import func, select

from .extensions import db
from .models import Order, OrderLine, StockMovement, Sweet, User
from .reports import midnight_utc, shop_zone

BATCH = 500
CHUNK_BYTES = 64 * 1024
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
SWEET_COLUMNS = ("name", "category", "price", "quantity")
LEDGER_COLUMNS = ("id", "time_utc", "sweet_id", "sweet", "kind", "change", "balance", "unit_price", "user")
ORDER_COLUMNS = ("order_id", "time_utc", "status", "user", "sweet_id", "sweet", "quantity", "unit_price",
                 "line_total")


def neutralise(value):
    """A text cell that no spreadsheet will execute."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _csv_chunks(header, rows):
    """UTF-8 CSV of ``header`` then ``rows``, yielded in chunks of about CHUNK_BYTES."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(row)
        if buffer.tell() >= CHUNK_BYTES:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def _streamed(query):
    try:
        yield from db.session.execute(query.execution_options(yield_per=BATCH))
    finally:
        db.session.rollback()  # end the read (and close the server-side cursor) even if cut short


def sweets_csv():
    """The catalogue (sweets on sale) with stock, by name: the import's columns, so it imports back."""
    query = (select(Sweet.name, Sweet.category, Sweet.price, Sweet.quantity)
             .where(Sweet.archived_at.is_(None)).order_by(func.lower(Sweet.name), Sweet.id))
    rows = ((neutralise(name), neutralise(category), f"{price:.2f}", quantity)
            for name, category, price, quantity in _streamed(query))
    return _csv_chunks(SWEET_COLUMNS, rows)


def ledger_csv(since=None, until=None):
    """Every ledger row from the start of shop day ``since`` to the end of ``until`` (dates,
    both optional and inclusive), oldest first."""
    zone = shop_zone()
    movements = StockMovement.__table__
    query = (select(movements.c.id, movements.c.created_at, movements.c.sweet_id, Sweet.name,
                    movements.c.kind, movements.c.change, movements.c.balance, movements.c.unit_price,
                    User.username)
             .join(Sweet, Sweet.id == movements.c.sweet_id)
             .outerjoin(User, User.id == movements.c.user_id)
             .order_by(movements.c.id))
    if since is not None:
        query = query.where(movements.c.created_at >= midnight_utc(since, zone))
    if until is not None:
        query = query.where(movements.c.created_at < midnight_utc(until + timedelta(days=1), zone))
    rows = ((row.id, _utc(row.created_at), row.sweet_id, neutralise(row.name), row.kind, row.change,
             row.balance, "" if row.unit_price is None else f"{row.unit_price:.2f}",
             neutralise(row.username or ""))
            for row in _streamed(query))
    return _csv_chunks(LEDGER_COLUMNS, rows)


def orders_csv():
    """Every order, one row per line, oldest order first and its lines by sweet id: the order's
    time (UTC) and status (``placed`` or ``cancelled``), its customer, and each line's sweet (its
    name now), quantity, unit price when sold and line total."""
    lines = OrderLine.__table__
    query = (select(Order.id, Order.created_at, Order.status, User.username, lines.c.sweet_id, Sweet.name,
                    lines.c.quantity, lines.c.unit_price)
             .join(lines, lines.c.order_id == Order.id)
             .join(Sweet, Sweet.id == lines.c.sweet_id)
             .join(User, User.id == Order.user_id)
             .order_by(Order.id, lines.c.sweet_id))
    rows = ((row.id, _utc(row.created_at), row.status, neutralise(row.username), row.sweet_id,
             neutralise(row.name), row.quantity, f"{row.unit_price:.2f}",
             f"{row.unit_price * row.quantity:.2f}")
            for row in _streamed(query))
    return _csv_chunks(ORDER_COLUMNS, rows)


def _utc(moment):
    """``YYYY-MM-DD HH:MM:SS`` in UTC (as every stored time is read: see ``models.UtcDateTime``)."""
    return moment.strftime("%Y-%m-%d %H:%M:%S")
