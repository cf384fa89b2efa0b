"""The orders domain called directly: place_order, cancel_order, restore_sweet, the read views, rules."""
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import event, func, select

from sweetshop import accounts, catalog, inventory, orders
from sweetshop.errors import (CancelWindowClosedError, OrderAlreadyCancelledError, OrderKeyReusedError,
                              OrderNotFoundError, OrderShortError, OrderSweetsMissingError,
                              SweetNameTakenError, SweetNotFoundError, ValidationError)
from sweetshop.extensions import db
from sweetshop.models import StockMovement, Sweet
from sweetshop.orders import count_orders, get_order, list_orders
from sweetshop.rules import clean_new_order, clean_order_items


def new_sweet(name, quantity=10, price="2.50"):
    return catalog.create_sweet(name, "C", Decimal(price), quantity).id


def quantities(*sweet_ids):
    db.session.rollback()
    return [db.session.scalar(select(Sweet.quantity).where(Sweet.id == i)) for i in sweet_ids]


@contextmanager
def statements():
    """The SQL statements run inside the block, in order."""
    seen = []

    def record(conn, cursor, statement, parameters, context, executemany):
        # By bind name on every driver (SQLite's are positional at the cursor); a statement sent
        # as plain SQL (SQLite's BEGIN IMMEDIATE) has none.
        compiled = getattr(context, "compiled_parameters", None)
        named = compiled[0] if compiled else {}
        seen.append((statement, named))

    engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def sale_ids(seen):
    """The sweet ids of the conditional stock UPDATEs run, in order."""
    return [params["sweet_id"] for statement, params in seen
            if statement.lstrip().upper().startswith("UPDATE SWEETS")]


def test_lines_are_sold_in_ascending_sweet_id_whatever_order_they_come_in(buyer):
    a, b, c = new_sweet("A"), new_sweet("B"), new_sweet("C")
    with statements() as seen:
        order = orders.place_order(buyer, [(c, 1), (a, 2), (b, 3)])
    assert sale_ids(seen) == [a, b, c]
    assert [item.sweet_id for item in order.items] == [a, b, c]
    assert quantities(a, b, c) == [8, 7, 9]
    assert inventory.audit_stock() == []


def test_the_first_short_line_stops_the_order_and_rolls_back_whole(buyer):
    a, b, c = new_sweet("A"), new_sweet("B", quantity=1), new_sweet("C", quantity=0)
    with statements() as seen, pytest.raises(OrderShortError) as refused:
        orders.place_order(buyer, [(a, 5), (b, 2), (c, 1)])
    assert sale_ids(seen) == [a, b]  # c's UPDATE never ran
    # ...yet every short line is reported, from one look at the rows after the rollback.
    assert refused.value.shortages == [{"sweet_id": b, "requested": 2, "available": 1},
                                       {"sweet_id": c, "requested": 1, "available": 0}]
    looks = [s for s, _ in seen if s.lstrip().upper().startswith("SELECT")]
    assert len(looks) == 1
    assert quantities(a, b, c) == [10, 1, 0]
    assert count_orders() == 0 and inventory.audit_stock() == []


def test_missing_sweets_are_reported_before_short_ones(buyer):
    a, b = new_sweet("A", quantity=0), new_sweet("B")
    catalog.archive_sweet(b)
    with pytest.raises(OrderSweetsMissingError) as refused:
        orders.place_order(buyer, [(a, 1), (b, 1), (77, 1)])
    assert refused.value.missing == [b, 77] and refused.value.status == 404
    assert count_orders() == 0


def test_a_line_refused_while_stock_came_back_is_still_reported(buyer, monkeypatch):
    """The look after the rollback may find enough (stock came back meanwhile): the refused line
    is listed with what is there now, so the client can simply retry."""
    a = new_sweet("A", quantity=0)
    real = orders._why_not_placed

    def restocked_meanwhile(lines, refused):
        inventory.restock(a, None, 5)
        return real(lines, refused)

    monkeypatch.setattr(orders, "_why_not_placed", restocked_meanwhile)
    with pytest.raises(OrderShortError) as refused:
        orders.place_order(buyer, [(a, 1)])
    assert refused.value.shortages == [{"sweet_id": a, "requested": 1, "available": 5}]


def test_ledger_rows_carry_the_order_and_the_price(buyer):
    a = new_sweet("A", price="1.99")
    order = orders.place_order(buyer, [(a, 3)])
    catalog.update_sweet(a, price=Decimal("9.00"))
    row = db.session.scalars(select(StockMovement).where(StockMovement.kind == "purchase")).one()
    assert (row.order_id, row.user_id, row.change, row.balance, row.unit_price) == (
        order.id, buyer, -3, 7, Decimal("1.99"))
    assert get_order(order.id).items[0].unit_price == Decimal("1.99")  # the price paid stays
    assert order.total == Decimal("5.97") and order.created_at.utcoffset() == timedelta(0)


def test_idempotency_key_replays_and_refuses_other_items(buyer):
    a, b = new_sweet("A"), new_sweet("B")
    first = orders.place_order(buyer, [(a, 1), (b, 2)], idempotency_key="k")
    assert orders.place_order(buyer, [(b, 2), (a, 1)], idempotency_key="k") == first
    assert quantities(a, b) == [9, 8]
    with pytest.raises(OrderKeyReusedError):
        orders.place_order(buyer, [(a, 1)], idempotency_key="k")
    assert count_orders() == 1


def test_a_twin_that_loses_the_unique_index_answers_with_the_winner(buyer, monkeypatch):
    """Two identical keyed orders racing: the later one's order row breaks the unique index,
    is rolled back whole, and it answers with the first order."""
    a = new_sweet("A")
    winner = orders.place_order(buyer, [(a, 2)], idempotency_key="twin")
    real = orders._replay_order
    calls = []

    def not_seen_at_first(*args):
        calls.append(args)
        return None if len(calls) == 1 else real(*args)

    monkeypatch.setattr(orders, "_replay_order", not_seen_at_first)
    assert orders.place_order(buyer, [(a, 2)], idempotency_key="twin") == winner
    assert quantities(a) == [8] and count_orders() == 1 and inventory.audit_stock() == []


def test_cancel_rules(buyer):
    other = accounts.register("other", "password1").id
    a = new_sweet("A")
    order = orders.place_order(buyer, [(a, 4)])
    with pytest.raises(OrderNotFoundError):
        orders.cancel_order(order.id, other, False, 1800)
    with pytest.raises(OrderNotFoundError):
        orders.cancel_order(999, buyer, True, 1800)
    with pytest.raises(CancelWindowClosedError):
        orders.cancel_order(order.id, buyer, False, 0)
    assert quantities(a) == [6]
    cancelled = orders.cancel_order(order.id, other, True, 0)  # an admin, any time
    assert cancelled.status == "cancelled" and cancelled.cancelled_at >= cancelled.created_at
    assert quantities(a) == [10]
    with pytest.raises(OrderAlreadyCancelledError):
        orders.cancel_order(order.id, buyer, False, 1800)
    assert inventory.audit_stock() == []


def test_the_conditional_status_update_decides_a_racing_cancel(buyer, monkeypatch):
    """A cancel that read 'placed' but lost the race to the status UPDATE returns nothing."""
    a = new_sweet("A")
    order = orders.place_order(buyer, [(a, 4)])
    stale = orders._order_to_cancel(order.id)  # read while still placed...
    orders.cancel_order(order.id, buyer, False, 1800)  # ...then a racing cancel wins
    monkeypatch.setattr(orders, "_order_to_cancel", lambda order_id: stale)
    assert stale.status == "placed"
    with pytest.raises(OrderAlreadyCancelledError):
        orders.cancel_order(order.id, buyer, False, 1800)
    assert quantities(a) == [10] and inventory.audit_stock() == []
    returns = db.session.scalar(select(func.count()).select_from(StockMovement)
                                .where(StockMovement.kind == "return"))
    assert returns == 1


def test_cancel_gives_units_back_to_an_archived_sweet(buyer):
    a = new_sweet("A")
    order = orders.place_order(buyer, [(a, 4)])
    catalog.archive_sweet(a)
    orders.cancel_order(order.id, buyer, False, 1800)
    assert quantities(a) == [10] and inventory.audit_stock() == []
    kinds = db.session.scalars(select(StockMovement.kind).where(StockMovement.sweet_id == a)
                               .order_by(StockMovement.id)).all()
    assert kinds == ["initial", "purchase", "return"]


def test_list_orders_reads_a_page_in_two_queries_newest_first(buyer):
    a, b = new_sweet("A"), new_sweet("B")
    placed = [orders.place_order(buyer, [(a, 1), (b, 1)]) for _ in range(5)]
    orders.cancel_order(placed[0].id, buyer, False, 1800)
    db.session.rollback()
    with statements() as seen:
        page = list_orders(user_id=buyer, limit=10)
    assert len(seen) == 2
    assert [o.id for o in page] == [o.id for o in reversed(placed)]
    assert all(len(o.items) == 2 for o in page)
    assert [o.id for o in list_orders(status="cancelled")] == [placed[0].id]
    assert [o.id for o in list_orders(skip=1, limit=2)] == [placed[3].id, placed[2].id]
    assert count_orders(user_id=buyer) == 5 and count_orders(status="placed") == 4
    assert count_orders(user_id=buyer + 1) == 0 and list_orders(user_id=buyer + 1) == []
    assert get_order(999) is None


def test_restore_sweet(buyer):
    a = new_sweet("A", quantity=7)
    with pytest.raises(SweetNotFoundError):
        catalog.restore_sweet(a)  # on sale
    catalog.archive_sweet(a)
    restored = catalog.restore_sweet(a)
    assert (restored.name, restored.quantity) == ("A", 7)
    catalog.archive_sweet(a)
    new_sweet("a")
    with pytest.raises(SweetNameTakenError) as taken:
        catalog.restore_sweet(a)
    assert taken.value.errors == {"name": ["A sweet on sale already has this name."]}


def test_renaming_a_sweet_not_on_sale_is_not_found_even_to_a_taken_name(buyer):
    new_sweet("Fudge")
    gone = new_sweet("Toffee")
    catalog.archive_sweet(gone)
    for sweet_id in (gone, 999):
        with pytest.raises(SweetNotFoundError):
            catalog.update_sweet(sweet_id, name="FUDGE")


def test_the_unique_index_decides_a_name_race(buyer, monkeypatch):
    """Two admins creating the same name at once both pass the check; the index refuses the
    second, which gets the same 422 as the check would have given."""
    new_sweet("Fudge")
    real = catalog._name_taken
    calls = []

    def missed_the_twin(name, other_than=None):
        calls.append(name)
        return False if len(calls) == 1 else real(name, other_than)

    monkeypatch.setattr(catalog, "_name_taken", missed_the_twin)
    with pytest.raises(SweetNameTakenError):
        catalog.create_sweet("FUDGE", "C", Decimal("1.00"), 3)
    calls.clear()
    b = new_sweet("Toffee")
    calls.clear()
    with pytest.raises(SweetNameTakenError):
        catalog.update_sweet(b, name="fudge")
    db.session.rollback()
    assert db.session.scalar(select(Sweet.name).where(Sweet.id == b)) == "Toffee"
    assert inventory.audit_stock() == []


# --- rules -------------------------------------------------------------------------------------

def test_clean_order_items():
    assert clean_order_items([{"sweet_id": 3, "quantity": 2}, {"sweet_id": 1, "quantity": 1000}]) == [
        (3, 2), (1, 1000)]
    assert clean_new_order({"items": [{"sweet_id": 1, "quantity": 1}]}) == [(1, 1)]
    bad = [
        ([], {"items"}),
        ([{"sweet_id": i, "quantity": 1} for i in range(1, 52)], {"items"}),
        ([{"sweet_id": 1, "quantity": 1}, {"sweet_id": 1, "quantity": 1}], {"items[1].sweet_id"}),
        ([{"sweet_id": 1, "quantity": 0}, {"sweet_id": 2.0, "quantity": 1}],
         {"items[0].quantity", "items[1].sweet_id"}),
        ([{"sweet_id": 1, "quantity": 1, "price": 1}], {"items[0].price"}),
    ]
    for value, fields in bad:
        with pytest.raises(ValidationError) as refused:
            clean_order_items(value)
        assert set(refused.value.errors) == fields, value
    with pytest.raises(ValidationError) as refused:
        clean_new_order({"items": [{"sweet_id": 1, "quantity": 1}], "coupon": "X"})
    assert set(refused.value.errors) == {"coupon"}
