"""Database tables: users, their API tokens, sweets, their photos, orders and the stock ledger."""
from datetime import datetime, timezone
from decimal import Decimal

from flask_login import UserMixin
from sqlalchemy import (CheckConstraint, DateTime, ForeignKey, Index, Integer, LargeBinary, Numeric, String,
                        TypeDecorator, func, text)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .extensions import db


def utcnow():
    """The current time in UTC, timezone-aware (called per row, never at import)."""
    return datetime.now(timezone.utc)


class UtcDateTime(TypeDecorator):
    """A moment: an aware datetime in UTC in Python, whatever the database.

    PostgreSQL stores it with its zone. SQLite has no datetime type: SQLAlchemy keeps the
    digits of the time and drops its zone, so the shop stores every time in UTC there and
    this type attaches the zone again on the way out; readers never see a naive time.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.utcoffset():
            value = value.astimezone(timezone.utc)  # SQLite would keep another zone's digits as UTC
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


Timestamp = UtcDateTime()
Money = Numeric(10, 2)


class AllergenList(TypeDecorator):
    """A sweet's allergens: a list in Python, a sorted comma-separated text in the database.

    The 14 names are a closed set with no commas, always read and written whole with the
    sweet and never queried on their own, so one column serves every reader (ORM objects
    and the RETURNING rows of a purchase alike) without a join or a second query.
    """

    impl = String(200)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return ",".join(sorted(set(value or ())))

    def process_result_value(self, value, dialect):
        return value.split(",") if value else []


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(32))
    # Lower-cased username: the unique constraint on it makes "Alice" and "alice" one account.
    username_key: Mapped[str] = mapped_column(String(32), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    full_name: Mapped[str | None] = mapped_column(String(100))
    is_admin: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    # The generation of this user's page sessions: logout and a password change add one, and a
    # session cookie from an older generation is refused (see ``get_id`` and auth's user_loader).
    session_version: Mapped[int] = mapped_column(default=0, server_default="0")

    def get_id(self):
        """What Flask-Login keeps in the session: ``"<id>.<session_version>"``."""
        return f"{self.id}.{self.session_version}"


class ApiToken(db.Model):
    """A bearer token; only its SHA-256 is stored, so a database leak yields no usable token."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(Timestamp)

    user: Mapped[User] = relationship()


_ON_SALE = text("archived_at IS NULL")


class Sweet(db.Model):
    __tablename__ = "sweets"
    __table_args__ = (
        CheckConstraint("quantity >= 0", name="quantity_not_negative"),
        CheckConstraint("price > 0", name="price_positive"),
        # No two sweets on sale share a name, without regard to case; archived ones may.
        # (SQLite's lower() folds ASCII letters only; PostgreSQL's folds all of Unicode.)
        Index("uq_sweets_name_on_sale", func.lower(text("name")), unique=True,
              postgresql_where=_ON_SALE, sqlite_where=_ON_SALE),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    category: Mapped[str] = mapped_column(String(50))
    price: Mapped[Decimal] = mapped_column(Money)
    quantity: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    archived_at: Mapped[datetime | None] = mapped_column(Timestamp)
    description: Mapped[str] = mapped_column(String(2000), default="", server_default="")
    unit: Mapped[str] = mapped_column(String(30), default="each", server_default="each")
    allergens: Mapped[list] = mapped_column(AllergenList, default=list, server_default="")
    # The content hash of the current photo (photos.hash), or None: enough to build the photo's
    # URL from any row of the sweet, including a purchase's RETURNING, without a join.
    photo_hash: Mapped[str | None] = mapped_column(String(64))


class Photo(db.Model):
    """A sweet's photo as re-encoded here: a bounded-size copy and a thumbnail, both WebP.

    Kept in the database so that every host serves them. Rows are never changed: a new
    upload is a new row with a new hash (so a new URL), and the old row is deleted.
    """

    __tablename__ = "photos"

    id: Mapped[int] = mapped_column(primary_key=True)
    sweet_id: Mapped[int] = mapped_column(ForeignKey("sweets.id", ondelete="CASCADE"), unique=True)
    # SHA-256 of the re-encoded image; two sweets may hold the same picture.
    hash: Mapped[str] = mapped_column(String(64), index=True)
    mime: Mapped[str] = mapped_column(String(32))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    image: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    thumb: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


_KEYED = text("idempotency_key IS NOT NULL")


class StockMovement(db.Model):
    """One row of the stock ledger: every change of a sweet's quantity, signed.

    For every sweet, ``quantity == sum(change)`` at every commit; ``balance`` is the
    quantity right after this change, so a replayed purchase can answer as it did first.
    """

    __tablename__ = "stock_movements"
    __table_args__ = (
        # One purchase per user and Idempotency-Key. Partial: rows without a key (restocks,
        # keyless purchases) have nothing to guard, so they cost the index nothing.
        Index("uq_stock_movements_user_key", "user_id", "idempotency_key", unique=True,
              postgresql_where=_KEYED, sqlite_where=_KEYED),
        Index("ix_stock_movements_sweet_id_id", "sweet_id", "id"),
    )

    # A purchase row with an order_id is one line of that order; a return row gives a
    # cancelled order's line back (a positive change); the sales report nets returns off purchases.
    INITIAL, PURCHASE, RESTOCK, RETURN = "initial", "purchase", "restock", "return"
    # A stock count: the counted quantity replaced the recorded one; ``change`` is the difference.
    COUNT = "count"

    id: Mapped[int] = mapped_column(primary_key=True)
    sweet_id: Mapped[int] = mapped_column(ForeignKey("sweets.id"))
    kind: Mapped[str] = mapped_column(String(16))
    change: Mapped[int] = mapped_column(Integer)
    balance: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    unit_price: Mapped[Decimal | None] = mapped_column(Money)
    idempotency_key: Mapped[str | None] = mapped_column(String(64))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)

    sweet: Mapped[Sweet] = relationship()
    user: Mapped[User | None] = relationship()


class Order(db.Model):
    """A basket bought in one go: all of its lines were sold together, or none."""

    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint("status IN ('placed', 'cancelled')", name="status_known"),
        # One order per user and Idempotency-Key; racing twins are decided by this index.
        Index("uq_orders_user_key", "user_id", "idempotency_key", unique=True,
              postgresql_where=_KEYED, sqlite_where=_KEYED),
    )

    PLACED, CANCELLED = "placed", "cancelled"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=PLACED)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    cancelled_at: Mapped[datetime | None] = mapped_column(Timestamp)
    idempotency_key: Mapped[str | None] = mapped_column(String(64))


class OrderLine(db.Model):
    """One sweet of an order: how many, and the unit price when it was sold."""

    __tablename__ = "order_lines"
    __table_args__ = (
        CheckConstraint("quantity BETWEEN 1 AND 1000", name="quantity_in_range"),
    )

    # The key (order_id, sweet_id) lists each sweet once per order and finds an order's lines.
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), primary_key=True)
    sweet_id: Mapped[int] = mapped_column(ForeignKey("sweets.id"), primary_key=True)
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[Decimal] = mapped_column(Money)
