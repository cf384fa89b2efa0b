"""Database tables: users, their API tokens, sweets, their photos, orders, the stock ledger and the
login throttle's counters."""
from datetime import datetime, timezone
from decimal import Decimal

from flask_login import UserMixin
from sqlalchemy import (CheckConstraint, DateTime, Double, ForeignKey, Index, Integer, LargeBinary, Numeric,
                        String, TypeDecorator, func, text)
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
    __table_args__ = (
        # One account per address, without regard to case; decides two registrations racing.
        Index("uq_users_email_lower", func.lower(text("email")), unique=True),
    )

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
    # Optional. Until it is verified the shop sends it only verification and password-reset links.
    email: Mapped[str | None] = mapped_column(String(254))
    email_verified: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    email_verified_at: Mapped[datetime | None] = mapped_column(Timestamp)

    def get_id(self):
        """What Flask-Login keeps in the session: ``"<id>.<session_version>"``."""
        return f"{self.id}.{self.session_version}"


class EmailToken(db.Model):
    """A single-use link sent by mail (verify an address, reset a password); only its SHA-256
    is stored. ``email`` is the address it was sent to; ``password_fingerprint`` ties a reset
    link to the password it may replace, so any change of password kills it."""

    __tablename__ = "email_tokens"

    VERIFY, RESET = "verify", "reset"

    id: Mapped[int] = mapped_column(primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(254))
    password_fingerprint: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(Timestamp)
    used_at: Mapped[datetime | None] = mapped_column(Timestamp)


class OutboxMail(db.Model):
    """A mail to send: written in the transaction of what caused it, claimed by one sender at a
    time with a conditional UPDATE and a lease (sweetshop/outbox.py)."""

    __tablename__ = "outbox"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'sending', 'sent', 'failed')", name="status_known"),
        # What senders look for: due pending mails and expired claims.
        Index("ix_outbox_status_due", "status", "next_attempt_at"),
    )

    PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
    STATUSES = (PENDING, SENDING, SENT, FAILED)

    id: Mapped[int] = mapped_column(primary_key=True)
    to: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(db.Text)
    html: Mapped[str] = mapped_column(db.Text)
    # Fixed when the row is written, so a mail sent twice (a sender died after the SMTP server
    # took it) carries one Message-ID and the repeat is recognisable.
    message_id: Mapped[str] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(Timestamp)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(Timestamp)


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
    # A stock count: the counted quantity replaced the recorded one; ``change`` is the difference,
    # and ``note`` says why the shelf differed (one of COUNT_REASONS).
    COUNT = "count"
    COUNT_REASONS = ("breakage", "theft", "miscount", "other")

    id: Mapped[int] = mapped_column(primary_key=True)
    sweet_id: Mapped[int] = mapped_column(ForeignKey("sweets.id"))
    kind: Mapped[str] = mapped_column(String(16))
    change: Mapped[int] = mapped_column(Integer)
    balance: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    unit_price: Mapped[Decimal | None] = mapped_column(Money)
    idempotency_key: Mapped[str | None] = mapped_column(String(64))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    note: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)

    sweet: Mapped[Sweet] = relationship()
    user: Mapped[User | None] = relationship()


class ImportReceipt(db.Model):
    """A CSV import preview that was applied. The preview's random token is unique here, so the
    insert of this row decides, inside the import's own transaction, that a preview is applied
    at most once: a second confirm of the same preview (a double click, a second tab) is refused
    by the constraint and changes nothing."""

    __tablename__ = "import_receipts"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created: Mapped[int] = mapped_column(Integer)
    updated: Mapped[int] = mapped_column(Integer)
    restocked_units: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class Order(db.Model):
    """A basket bought in one go: all of its lines were sold together, or none."""

    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint("status IN ('placed', 'ready', 'collected', 'cancelled')", name="status_known"),
        # An order's times follow its status: collected_at iff collected, cancelled_at iff cancelled,
        # and a ready order has its ready_at (a collected or cancelled one keeps it if it was packed).
        CheckConstraint("(collected_at IS NOT NULL) = (status = 'collected') "
                        "AND (cancelled_at IS NOT NULL) = (status = 'cancelled') "
                        "AND (ready_at IS NOT NULL OR status <> 'ready')", name="times_match_status"),
        # One order per user and Idempotency-Key; racing twins are decided by this index.
        Index("uq_orders_user_key", "user_id", "idempotency_key", unique=True,
              postgresql_where=_KEYED, sqlite_where=_KEYED),
    )

    PLACED, READY, COLLECTED, CANCELLED = "placed", "ready", "collected", "cancelled"
    STATUSES = (PLACED, READY, COLLECTED, CANCELLED)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=PLACED)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    cancelled_at: Mapped[datetime | None] = mapped_column(Timestamp)
    ready_at: Mapped[datetime | None] = mapped_column(Timestamp)
    collected_at: Mapped[datetime | None] = mapped_column(Timestamp)
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


class ThrottleCounter(db.Model):
    """One counter of the login and registration throttle (sweetshop/throttle.py), shared by every
    worker and host: ``hits`` attempts counted in the window that ends at ``expires_at``
    (seconds since the epoch, as the counting statement compares it with the clock)."""

    __tablename__ = "throttle_counters"

    # The throttle's prefix, the counter's kind and a hash of whom it counts.
    counter: Mapped[str] = mapped_column(String(120), primary_key=True)
    hits: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[float] = mapped_column(Double, index=True)
