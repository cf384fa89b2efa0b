"""Orders: placing and cancelling one (all or nothing), and reading them as plain frozen views.

Stock itself changes only in inventory.py; this module decides what happens to the order and
calls inventory's primitives inside the same transaction.
"""
import logging

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

from sqlalchemy import bindparam, case, func, insert, literal, select, update
from sqlalchemy.exc import IntegrityError

from . import inventory, mail, metrics
from .errors import (CancelWindowClosedError, OrderAlreadyCancelledError, OrderAlreadyCollectedError,
                     OrderKeyReusedError, OrderNotCollectableError, OrderNotFoundError, OrderNotPlacedError,
                     OrderShortError, OrderSweetsMissingError)
from .extensions import db
from .models import Order, OrderLine, StockMovement, Sweet, Timestamp, User, utcnow
from .transactions import transaction

orders = Order.__table__
order_lines = OrderLine.__table__
# The states an order can still leave: cancelling or collecting it starts from one of these.
OPEN = (Order.PLACED, Order.READY)
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OrderLineView:
    sweet_id: int
    name: str
    quantity: int
    unit_price: Decimal
    unit: str  # what the price is for: "each", "per 100 g" (the sweet's unit now)

    @property
    def line_total(self):
        return self.unit_price * self.quantity


@dataclass(frozen=True)
class OrderView:
    """An order as the pages and the API show it; times are timezone-aware UTC."""

    id: int
    user_id: int
    username: str
    full_name: str | None
    status: str
    created_at: datetime
    cancelled_at: datetime | None
    ready_at: datetime | None
    collected_at: datetime | None
    total: Decimal
    items: tuple[OrderLineView, ...]  # ascending sweet_id

    @property
    def is_placed(self):
        return self.status == Order.PLACED

    @property
    def is_open(self):
        """Not yet handed over nor cancelled: it may still be cancelled (or collected)."""
        return self.status in OPEN


_ORDER_COLUMNS = (orders.c.id, orders.c.user_id, User.username, User.full_name, orders.c.status,
                  orders.c.created_at, orders.c.cancelled_at, orders.c.ready_at, orders.c.collected_at)


def _lines_of(order_ids):
    """Every line of the given orders, in one query: ``{order_id: [OrderLineView, ...]}``."""
    found = {order_id: [] for order_id in order_ids}
    if not order_ids:
        return found
    rows = db.session.execute(
        select(order_lines.c.order_id, order_lines.c.sweet_id, Sweet.name, order_lines.c.quantity,
               order_lines.c.unit_price, Sweet.unit)
        .join(Sweet, Sweet.id == order_lines.c.sweet_id)
        .where(order_lines.c.order_id.in_(order_ids))
        .order_by(order_lines.c.order_id, order_lines.c.sweet_id)
    ).all()
    for row in rows:
        found[row.order_id].append(OrderLineView(row.sweet_id, row.name, row.quantity, row.unit_price,
                                                 row.unit))
    return found


def _view(row, items):
    """The ``OrderView`` of an order's row (``_ORDER_COLUMNS``, or any object with their names)
    and its ``OrderLineView``s."""
    return OrderView(id=row.id, user_id=row.user_id, username=row.username, full_name=row.full_name,
                     status=row.status, created_at=row.created_at, cancelled_at=row.cancelled_at,
                     ready_at=row.ready_at, collected_at=row.collected_at,
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


def list_orders(*, user_id=None, status=None, skip=0, limit=100, oldest_first=False):
    """A page of orders, newest first (or oldest, for the packers): one user's or everybody's,
    optionally of one status.

    Two queries whatever the page size: the orders, then all their lines.
    """
    order = orders.c.id.asc() if oldest_first else orders.c.id.desc()
    rows = db.session.execute(_matching(user_id, status).order_by(order).offset(skip).limit(limit)).all()
    items = _lines_of([row.id for row in rows])
    return [_view(row, items[row.id]) for row in rows]


@dataclass(frozen=True)
class PickLine:
    """One sweet to pack: how many units over how many orders."""

    sweet_id: int
    name: str
    units: int
    orders: int


def pick_list():
    """What to pack: every sweet of the placed orders, its units summed, by name."""
    rows = db.session.execute(
        select(order_lines.c.sweet_id, Sweet.name, func.sum(order_lines.c.quantity),
               func.count(order_lines.c.order_id))
        .join(orders, orders.c.id == order_lines.c.order_id)
        .join(Sweet, Sweet.id == order_lines.c.sweet_id)
        .where(orders.c.status == Order.PLACED)
        .group_by(order_lines.c.sweet_id, Sweet.name)
        .order_by(func.lower(Sweet.name), order_lines.c.sweet_id)
    ).all()
    return [PickLine(sweet_id, name, int(units), count) for sweet_id, name, units, count in rows]


def count_orders(*, user_id=None, status=None):
    """How many orders ``list_orders`` would page through."""
    query = select(func.count()).select_from(orders)
    if user_id is not None:
        query = query.where(orders.c.user_id == user_id)
    if status is not None:
        query = query.where(orders.c.status == status)
    return db.session.scalar(query)


# --- placing and cancelling ------------------------------------------------------------------
#
# Why ascending sweet id makes deadlocks impossible: each line's conditional UPDATE locks its
# sweet's row until the commit. A deadlock needs two transactions each holding a row the other
# waits for, i.e. one locking A then B while the other locks B then A. When every transaction
# that locks several sweets (placing and cancelling orders) locks them in ascending id, and
# every other one (a purchase, a restock, an edit) locks a single sweet, any transaction that
# waits is waiting for a higher id than all it holds, so a cycle of waits cannot close. The
# order row a cancel locks first is locked by nobody else but racing steps of that order:
# cancels, which wait for it before locking any sweet, and "ready" or "collected", which lock
# that row alone. (The inserts' foreign-key checks take only KEY SHARE locks, which no UPDATE
# of these tables conflicts with.)

sweets = Sweet.__table__


class _LineRefusedError(Exception):
    """Raised inside an order's transaction at the first line whose UPDATE touched no row, so
    that the whole order rolls back before ``_why_not_placed`` reads the rows."""

    def __init__(self, sweet_id):
        super().__init__(sweet_id)
        self.sweet_id = sweet_id


def place_order(user_id, items, idempotency_key=None):
    """Sell every line of an order in one transaction, or none; returns the order (``OrderView``).

    ``items`` are ``(sweet_id, quantity)`` pairs, already valid (see ``rules.clean_order_items``):
    1 to 50 of them, each sweet once. With an ``idempotency_key`` the order is placed at most
    once per user and key: a repeat returns the first order and leaves stock alone.

    :raise OrderSweetsMissingError: some sweets are not on sale (``missing``; nothing changed).
    :raise OrderShortError: some lines ask for more than there is (``shortages``; nothing changed).
    :raise OrderKeyReusedError: the key was used for an order with other items.
    """
    lines = sorted(tuple(item) for item in items)
    try:
        with transaction():
            earlier = _replay_order(user_id, idempotency_key, lines)
            if earlier is not None:
                return earlier
            order, sold, email = _sell_lines(user_id, lines, idempotency_key, utcnow())
            # In the order's transaction: sent iff it commits.
            mail.queue_order_placed(order, email)
    except IntegrityError:
        # A twin order with the same key committed first (another worker or host): the unique
        # (user, key) index refused our order row, and the rollback undid everything we did.
        earlier = _replay_order(user_id, idempotency_key, lines)
        if earlier is None:
            raise
        return earlier
    except _LineRefusedError as refused:
        # Rolled back whole before the look: what the earlier lines took went back, and their
        # locks went. (No twin can have placed this order meanwhile: it would have waited on
        # our order row.)
        raise _why_not_placed(lines, refused.sweet_id) from None
    _placed(user_id, sold)
    return order


def _placed(user_id, sold):
    """Log and count a committed order's sales."""
    inventory.log_changes(StockMovement.PURCHASE,
                          [(line.sweet_id, -line.quantity, line.balance) for line in sold], user_id)
    metrics.record_order_placed(sum(line.quantity for line in sold))


# What an order's answer and receipt need of its customer; built once, as it runs with every order.
_CUSTOMER = (select(User.username, User.full_name, mail.VERIFIED_ADDRESS)
             .where(User.id == bindparam("user_id")))


def _sell_lines(user_id, lines, idempotency_key, now):
    """The order row, then the stock taken line by line in ascending sweet id (the comment above
    ``place_order``), then the order's lines; all uncommitted. Returns ``(order, sold, email)``:
    the order as placed (an ``OrderView`` made from what the writes returned, so the answer and
    the receipt read nothing again), its ``inventory.SoldLine``s, and the customer's verified
    address (None without one).

    :raise _LineRefusedError: at the first line whose UPDATE touched no row.
    :raise IntegrityError: the user already placed an order with this key.
    """
    order_id = db.session.execute(
        insert(orders).values(user_id=user_id, status=Order.PLACED, created_at=now,
                              idempotency_key=idempotency_key).returning(orders.c.id)
    ).scalar_one()
    refused, sold = inventory.sell_lines(order_id, user_id, lines, now)
    if refused is not None:
        raise _LineRefusedError(refused)
    db.session.execute(insert(order_lines), [
        {"order_id": order_id, "sweet_id": line.sweet_id, "quantity": line.quantity,
         "unit_price": line.unit_price} for line in sold])
    customer = db.session.execute(_CUSTOMER, {"user_id": user_id}).one()
    placed = SimpleNamespace(id=order_id, user_id=user_id, username=customer.username,
                             full_name=customer.full_name, status=Order.PLACED, created_at=now,
                             cancelled_at=None, ready_at=None, collected_at=None)
    items = [OrderLineView(line.sweet_id, line.name, line.quantity, line.unit_price, line.unit)
             for line in sold]
    return _view(placed, items), sold, customer.verified_address


def _why_not_placed(lines, refused):
    """The error for an order refused (and rolled back) at line ``refused``.

    Only now do we read the rows, once, to report every missing sweet and every short line.
    """
    ids = [sweet_id for sweet_id, _ in lines]
    available = dict(db.session.execute(
        select(sweets.c.id, sweets.c.quantity).where(sweets.c.id.in_(ids), sweets.c.archived_at.is_(None))
    ).all())
    missing = [sweet_id for sweet_id in ids if sweet_id not in available]
    if missing:
        return OrderSweetsMissingError(missing)
    shortages = [{"sweet_id": sweet_id, "requested": quantity, "available": available[sweet_id]}
                 for sweet_id, quantity in lines
                 if quantity > available[sweet_id] or sweet_id == refused]
    metrics.record_order_refused()
    # The refused line is always listed: if stock came back between the refusal and this look,
    # it shows what there is now, and the client may simply try again.
    return OrderShortError(shortages)


def _replay_order(user_id, idempotency_key, lines):
    """The user's earlier order under this key, or None if there is none.

    :raise OrderKeyReusedError: the key was used for an order with other items.
    """
    if idempotency_key is None:
        return None
    order_id = db.session.execute(
        select(orders.c.id).where(orders.c.user_id == user_id,
                                  orders.c.idempotency_key == idempotency_key)
    ).scalar_one_or_none()
    earlier = get_order(order_id) if order_id is not None else None
    if earlier is not None and [(i.sweet_id, i.quantity) for i in earlier.items] != lines:
        raise OrderKeyReusedError()
    return earlier


def cancel_order(order_id, user_id, is_admin, window_seconds):
    """Cancel a placed or ready order and put every line's units back in stock; returns the order.

    An admin may cancel any order not yet collected, at any time; a customer only their own,
    within ``window_seconds`` of placing it. Units go back even to a sweet archived meanwhile.

    :raise OrderNotFoundError: no such order, or another customer's (for a non-admin).
    :raise OrderAlreadyCancelledError: it was cancelled already (also by a racing request).
    :raise OrderAlreadyCollectedError: it was handed over (also by a racing request).
    :raise CancelWindowClosedError: the owner (not an admin) asked after the window.
    """
    with transaction():
        order = _order_to_cancel(order_id)
        if order is None or not (is_admin or order.user_id == user_id):
            raise OrderNotFoundError()
        if order.status not in OPEN:
            raise _not_cancelled(order.status)
        now = utcnow()
        if not is_admin and now - order.created_at > timedelta(seconds=window_seconds):
            raise CancelWindowClosedError()
        # The row count decides which of several racing steps wins (cancels, a collect): the
        # first to update the row wins; the others wait for its commit, then find it no longer
        # open.
        cancelled = _step(order_id, OPEN, _not_cancelled, status=Order.CANCELLED,
                          cancelled_at=_not_before_ready(now))
        returned = _return_lines(order_id, user_id, now)
        mail.queue_order_cancelled(cancelled, by_admin=is_admin and order.user_id != user_id)
    inventory.log_changes(StockMovement.RETURN, returned, user_id)
    metrics.record_order_cancelled()
    return cancelled


def _not_cancelled(status):
    """The refusal of a cancel that found the order ``status`` (collected or cancelled)."""
    return OrderAlreadyCollectedError() if status == Order.COLLECTED else OrderAlreadyCancelledError()


def _order_to_cancel(order_id):
    """The order's owner, status and time, for the checks before the conditional UPDATE (which
    alone decides a race: the status may change between this read and that write)."""
    return db.session.execute(
        select(orders.c.user_id, orders.c.status, orders.c.created_at).where(orders.c.id == order_id)
    ).one_or_none()


def _return_lines(order_id, user_id, now):
    """Every line's units back in stock, in ascending sweet id (``inventory.return_lines``);
    uncommitted. Returns ``[(sweet_id, quantity, balance)]``."""
    to_return = db.session.execute(
        select(order_lines.c.sweet_id, order_lines.c.quantity)
        .where(order_lines.c.order_id == order_id).order_by(order_lines.c.sweet_id)
    ).all()
    return inventory.return_lines(order_id, user_id, to_return, now)


# --- fulfilment: packed, then handed over -----------------------------------------------------


def mark_ready(order_id, admin_id):
    """Mark a placed order as packed and waiting for collection; returns the order.

    :raise OrderNotFoundError: no such order.
    :raise OrderNotPlacedError: it is ready, collected or cancelled already (also by a racing
        request); ``status`` says which.
    """
    with transaction():
        order = _step(order_id, (Order.PLACED,), OrderNotPlacedError, status=Order.READY, ready_at=utcnow())
        mail.queue_order_ready(order)  # in the step's transaction: sent iff this step won
    return _stepped(order, admin_id)


def mark_collected(order_id, admin_id):
    """Record that the customer collected (and paid for) an order, packed or not; returns it.

    :raise OrderNotFoundError: no such order.
    :raise OrderNotCollectableError: it is collected or cancelled already (also by a racing
        request); ``status`` says which.
    """
    with transaction():
        order = _step(order_id, OPEN, OrderNotCollectableError, status=Order.COLLECTED,
                      collected_at=_not_before_ready(utcnow()))
    return _stepped(order, admin_id)


def _step(order_id, sources, refusal, **values):
    """Move the order from one of ``sources`` with one conditional UPDATE; uncommitted. Returns
    the order as this UPDATE left it (an ``OrderView``, read while the UPDATE's row lock keeps
    any racing step waiting: what this step did, and what its mail and answer tell).

    The row count decides a race: of several steps sent at once, the first to update the row
    wins, and the others wait for its commit, then match no row. Only a loser reads the order
    again, to say why (states only move forward, so what it reads is not one of ``sources``).

    :raise OrderNotFoundError: no such order (nothing changed).
    :raise: ``refusal(status)`` with the order's current status (nothing changed).
    """
    moved = db.session.execute(
        update(orders).where(orders.c.id == order_id, orders.c.status.in_(sources)).values(**values)
    ).rowcount
    if moved:
        return get_order(order_id)
    status = db.session.execute(select(orders.c.status).where(orders.c.id == order_id)).scalar_one_or_none()
    raise OrderNotFoundError() if status is None else refusal(status)


def _not_before_ready(now):
    """``now`` as a step's time, or the order's ``ready_at`` if that is later.

    A step that waited on the row for a racing "ready" to commit took ``now`` before that one
    took its own; evaluated by the UPDATE on the row it changes, this keeps the times in the
    order the steps happened.
    """
    now = literal(now, Timestamp)
    return case((orders.c.ready_at > now, orders.c.ready_at), else_=now)


def _stepped(order, admin_id):
    """Log a won ``_step``, once committed; returns the order as that step left it."""
    log.info("order step", extra={"order_id": order.id, "status": order.status, "by_user_id": admin_id})
    return order


def count_by_status():
    """How many orders are in each state: ``{status: n}`` for every state, in one query."""
    counts = dict(db.session.execute(select(orders.c.status, func.count()).group_by(orders.c.status)).all())
    return {status: counts.get(status, 0) for status in Order.STATUSES}
