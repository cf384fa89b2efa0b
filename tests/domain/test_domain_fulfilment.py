"""Fulfilment in the domain: each step is one conditional UPDATE, and only a loser reads again."""
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, update

from sweetshop import inventory, orders
from sweetshop.errors import (OrderAlreadyCancelledError, OrderAlreadyCollectedError,
                              OrderNotCollectableError, OrderNotFoundError, OrderNotPlacedError)
from sweetshop.extensions import db
from sweetshop.models import Order, StockMovement
from test_domain_orders import new_sweet, quantities, statements


def on_orders(seen):
    """The statements on the orders table (not its lines), as ("UPDATE" or "SELECT", text), in order."""
    found = []
    for statement, _ in seen:
        words = statement.split()
        kind = words[0].upper()
        if kind in ("UPDATE", "SELECT") and " orders" in statement and "order_lines" not in statement:
            found.append((kind, " ".join(words)))
    return found


# After a step's winning UPDATE: the mail's look for a verified address, and get_order's read of
# the order the step answers with.
READS_AFTER = ("SELECT users.email FROM users JOIN orders", "JOIN users ON users.id = orders.user_id")


def refuses_both_steps(order_id, buyer, status):
    """"Ready" and "collected" are both refused for an order that is ``status``, and say so."""
    for refused_step, error in [(orders.mark_ready, OrderNotPlacedError),
                                (orders.mark_collected, OrderNotCollectableError)]:
        with pytest.raises(error) as refused:
            refused_step(order_id, buyer)
        assert refused.value.order_status == status


@pytest.mark.parametrize(("step", "status", "stamp"), [(orders.mark_ready, "ready", "ready_at"),
                                                       (orders.mark_collected, "collected", "collected_at")])
def test_a_step_that_wins_is_one_conditional_update_and_nothing_read_before(buyer, step, status, stamp):
    a = new_sweet("A")
    order = orders.place_order(buyer, [(a, 2)])
    with statements() as seen:
        moved = step(order.id, buyer)
    (first, update), *after = on_orders(seen)
    assert first == "UPDATE" and "WHERE orders.id = " in update and "orders.status IN" in update
    # Nothing read before it, and after it only the answer (the order as it now stands).
    assert after and all(kind == "SELECT" and any(read in text for read in READS_AFTER)
                         for kind, text in after), after
    assert moved.status == status and getattr(moved, stamp) >= moved.created_at
    assert quantities(a) == [8] and inventory.audit_stock() == []


def test_a_step_that_loses_reads_the_order_once_to_say_why(buyer):
    order = orders.place_order(buyer, [(new_sweet("A"), 2)])
    orders.mark_collected(order.id, buyer)
    with statements() as seen, pytest.raises(OrderNotPlacedError) as refused:
        orders.mark_ready(order.id, buyer)
    (first, _), (then, read) = on_orders(seen)
    assert (first, then) == ("UPDATE", "SELECT") and not any(other in read for other in READS_AFTER)
    assert refused.value.order_status == "collected" and refused.value.extra() == {"status": "collected"}
    assert orders.get_order(order.id).ready_at is None


def test_every_transition_from_every_state(buyer):
    a = new_sweet("A", quantity=100)
    placed = lambda: orders.place_order(buyer, [(a, 1)]).id  # noqa: E731
    ready = orders.mark_ready(placed(), buyer)
    assert (ready.status, ready.collected_at, ready.cancelled_at) == ("ready", None, None)
    with pytest.raises(OrderNotPlacedError):
        orders.mark_ready(ready.id, buyer)
    collected = orders.mark_collected(ready.id, buyer)
    assert collected.ready_at == ready.ready_at and collected.collected_at >= ready.ready_at
    refuses_both_steps(collected.id, buyer, "collected")
    with pytest.raises(OrderAlreadyCollectedError):
        orders.cancel_order(collected.id, buyer, True, 1800)
    cancelled = orders.cancel_order(orders.mark_ready(placed(), buyer).id, buyer, False, 1800)
    assert cancelled.status == "cancelled" and cancelled.ready_at is not None
    refuses_both_steps(cancelled.id, buyer, "cancelled")
    with pytest.raises(OrderAlreadyCancelledError):
        orders.cancel_order(cancelled.id, buyer, True, 1800)
    for missing_step in (orders.mark_ready, orders.mark_collected):
        with pytest.raises(OrderNotFoundError):
            missing_step(999, buyer)
    # Two orders sold and kept (the collected one and the one placed for the cancel came back).
    assert quantities(a) == [99] and inventory.audit_stock() == []


def test_only_a_cancel_returns_stock_and_a_stale_cancel_finds_the_order_collected(buyer, monkeypatch):
    """A cancel that read 'ready' but lost the race to a collect returns nothing: the conditional
    UPDATE (status IN placed, ready) decides, not what was read before it."""
    a = new_sweet("A")
    order = orders.place_order(buyer, [(a, 4)])
    orders.mark_ready(order.id, buyer)
    stale = orders._order_to_cancel(order.id)
    orders.mark_collected(order.id, buyer)
    monkeypatch.setattr(orders, "_order_to_cancel", lambda order_id: stale)
    assert stale.status == "ready"
    with pytest.raises(OrderAlreadyCollectedError):
        orders.cancel_order(order.id, buyer, False, 1800)
    now = orders.get_order(order.id)
    assert now.status == "collected" and now.cancelled_at is None
    assert quantities(a) == [6] and inventory.audit_stock() == []
    returns = db.session.scalar(select(func.count()).select_from(StockMovement)
                                .where(StockMovement.kind == "return"))
    assert returns == 0


def test_the_pick_list_counts_placed_orders_only(buyer):
    a, b = new_sweet("Apple drop"), new_sweet("barley sugar")
    first = orders.place_order(buyer, [(a, 2), (b, 1)])
    orders.place_order(buyer, [(b, 3)])
    assert [(p.name, p.units, p.orders) for p in orders.pick_list()] == [
        ("Apple drop", 2, 1), ("barley sugar", 4, 2)]
    orders.mark_ready(first.id, buyer)
    assert [(p.sweet_id, p.units, p.orders) for p in orders.pick_list()] == [(b, 3, 1)]


def test_list_orders_oldest_first_for_the_packers(buyer):
    a = new_sweet("A")
    placed = [orders.place_order(buyer, [(a, 1)]).id for _ in range(3)]
    assert [o.id for o in orders.list_orders(status="placed", oldest_first=True)] == placed
    assert [o.id for o in orders.list_orders(status="placed")] == placed[::-1]


@pytest.mark.parametrize("last_step", ["collect", "cancel"])
def test_a_step_that_waited_on_a_racing_ready_is_not_stamped_before_it(buyer, last_step):
    """Its time was taken before the "ready" it waited for committed; the UPDATE keeps the order of events."""
    order = orders.place_order(buyer, [(new_sweet("A"), 1)])
    orders.mark_ready(order.id, buyer)
    later = datetime.now(timezone.utc) + timedelta(seconds=5)  # as if "ready" took its time after ours
    db.session.execute(update(Order).where(Order.id == order.id).values(ready_at=later))
    db.session.commit()
    if last_step == "collect":
        done = orders.mark_collected(order.id, buyer)
        assert done.collected_at == later and done.ready_at == later
    else:
        done = orders.cancel_order(order.id, buyer, True, 0)
        assert done.cancelled_at == later
    placed = orders.place_order(buyer, [(new_sweet("B"), 1)])
    assert orders.mark_collected(placed.id, buyer).collected_at < later  # no ready_at: its own time
