"""Database tables: users, their API tokens, sweets and the stock ledger."""
from datetime import datetime, timezone
from decimal import Decimal

from flask_login import UserMixin
from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, Integer, Numeric, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .extensions import db


def utcnow():
    """The current time in UTC, timezone-aware (called per row, never at import)."""
    return datetime.now(timezone.utc)


Timestamp = DateTime(timezone=True)
Money = Numeric(10, 2)


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


class ApiToken(db.Model):
    """A bearer token; only its SHA-256 is stored, so a database leak yields no usable token."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(Timestamp)

    user: Mapped[User] = relationship()


class Sweet(db.Model):
    __tablename__ = "sweets"
    __table_args__ = (
        CheckConstraint("quantity >= 0", name="quantity_not_negative"),
        CheckConstraint("price > 0", name="price_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    category: Mapped[str] = mapped_column(String(50))
    price: Mapped[Decimal] = mapped_column(Money)
    quantity: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    archived_at: Mapped[datetime | None] = mapped_column(Timestamp)


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

    INITIAL, PURCHASE, RESTOCK = "initial", "purchase", "restock"
    # A stock count: the counted quantity replaced the recorded one; ``change`` is the difference.
    COUNT = "count"
    # Units that came back (a cancelled order's lines): the sales report nets them off purchases.
    RETURN = "return"

    id: Mapped[int] = mapped_column(primary_key=True)
    sweet_id: Mapped[int] = mapped_column(ForeignKey("sweets.id"))
    kind: Mapped[str] = mapped_column(String(16))
    change: Mapped[int] = mapped_column(Integer)
    balance: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    unit_price: Mapped[Decimal | None] = mapped_column(Money)
    idempotency_key: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)

    sweet: Mapped[Sweet] = relationship()
    user: Mapped[User | None] = relationship()
