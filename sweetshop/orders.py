"""Reading orders: one order, a page of orders, how many; as plain frozen views."""
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select

from .extensions import db
from .models import Order, OrderLine, Sweet, User

orders = Order.__table__
lines = OrderLine.__table__


@dataclass(frozen=True)
class OrderLineView:
    sweet_id: int
    name: str
    quantity: int
    unit_price: Decimal
    line_total: Decimal


@dataclass(frozen=True)
class OrderView:
    """An order as the pages and the API show it; times are timezone-aware UTC."""

    id: int
    user_id: int
    username: str
    status: str
    created_at: datetime
    cancelled_at: datetime | None
    total: Decimal
    items: tuple[OrderLineView, ...]  # ascending sweet_id

    @property
    def is_placed(self):
        return self.status == Order.PLACED


_ORDER_COLUMNS = (orders.c.id, orders.c.user_id, User.username, orders.c.status, orders.c.created_at,
                  orders.c.cancelled_at)


def _lines_of(order_ids):
    """Every line of the given orders, in one query: ``{order_id: [OrderLineView, ...]}``."""
    found = {order_id: [] for order_id in order_ids}
    if not order_ids:
        return found
    rows = db.session.execute(
        select(lines.c.order_id, lines.c.sweet_id, Sweet.name, lines.c.quantity, lines.c.unit_price)
        .join(Sweet, Sweet.id == lines.c.sweet_id)
        .where(lines.c.order_id.in_(order_ids))
        .order_by(lines.c.order_id, lines.c.sweet_id)
    ).all()
    for row in rows:
        found[row.order_id].append(OrderLineView(row.sweet_id, row.name, row.quantity, row.unit_price,
                                                 row.unit_price * row.quantity))
    return found


def _view(row, items):
    return OrderView(id=row.id, user_id=row.user_id, username=row.username, status=row.status,
                     created_at=row.created_at, cancelled_at=row.cancelled_at,
                     total=sum((item.line_total for item in items), Decimal("0.00")),
                     items=tuple(items))


def _matching(user_id=None, status=None):
    query = select(*_ORDER_COLUMNS).join(User, User.id == orders.c.user_id)
    if user_id is not None:
        query = query.where(orders.c.user_id == user_id)
    if status is not None:
        query = query.where(orders.c.status == status)
    return query


def get_order(order_id):
    """The order with this id, or None."""
    row = db.session.execute(_matching().where(orders.c.id == order_id)).one_or_none()
    if row is None:
        return None
    return _view(row, _lines_of([row.id])[row.id])


def list_orders(*, user_id=None, status=None, skip=0, limit=100):
    """A page of orders, newest first: one user's or everybody's, optionally of one status.

    Two queries whatever the page size: the orders, then all their lines.
    """
    rows = db.session.execute(
        _matching(user_id, status).order_by(orders.c.id.desc()).offset(skip).limit(limit)).all()
    items = _lines_of([row.id for row in rows])
    return [_view(row, items[row.id]) for row in rows]


def count_orders(*, user_id=None, status=None):
    """How many orders ``list_orders`` would page through."""
    query = select(func.count()).select_from(orders)
    if user_id is not None:
        query = query.where(orders.c.user_id == user_id)
    if status is not None:
        query = query.where(orders.c.status == status)
    return db.session.scalar(query)
