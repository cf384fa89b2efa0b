"""The domain layer called directly: inventory (the stock rules) and catalog (the read queries)."""
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from sweetshop import catalog, inventory
from sweetshop.errors import (IdempotencyKeyReusedError, OutOfStockError, StockLimitError,
                              SweetNotFoundError)
from sweetshop.extensions import db
from sweetshop.models import StockMovement, Sweet
from sweetshop.rules import STOCK_MAX


def quantity(sweet_id):
    return db.session.scalar(select(Sweet.quantity).where(Sweet.id == sweet_id))


def ledger_sum(sweet_id):
    return db.session.scalar(select(func.coalesce(func.sum(StockMovement.change), 0))
                             .where(StockMovement.sweet_id == sweet_id))


def assert_ledger_matches(sweet_id):
    db.session.rollback()  # read what is committed
    assert quantity(sweet_id) == ledger_sum(sweet_id)
    assert inventory.audit_stock() == []


def new_sweet(name="Fudge", quantity=10, category="Fudge", price="2.50"):
    return catalog.create_sweet(name, category, Decimal(price), quantity).id


def test_ledger_sum_equals_quantity_after_every_operation(buyer):
    sweet = new_sweet(quantity=10)
    assert_ledger_matches(sweet)
    steps = [
        lambda: inventory.purchase(sweet, buyer, 3),
        lambda: inventory.restock(sweet, None, 5),
        lambda: inventory.purchase(sweet, buyer, 12),
        lambda: inventory.purchase(sweet, buyer, 1),      # out of stock: changes nothing
        lambda: inventory.restock(sweet, None, 0),
        lambda: catalog.update_sweet(sweet, price=Decimal("3.10")),
        lambda: inventory.purchase(sweet, buyer, 1, idempotency_key="a"),  # fails: key stays free
        lambda: inventory.restock(sweet, None, 2),
        lambda: inventory.purchase(sweet, buyer, 1, idempotency_key="a"),  # retry succeeds
        lambda: inventory.purchase(sweet, buyer, 1, idempotency_key="a"),  # replay: no sale
    ]
    for step in steps:
        try:
            step()
        except OutOfStockError:
            pass
        assert_ledger_matches(sweet)
    assert quantity(sweet) == 1
    kinds = db.session.scalars(select(StockMovement.kind).where(StockMovement.sweet_id == sweet)
                               .order_by(StockMovement.id)).all()
    assert kinds == ["initial", "purchase", "restock", "purchase", "restock", "restock", "purchase"]


def test_purchase_returns_the_sweet_after_the_sale_and_records_price_and_buyer(buyer):
    sweet = new_sweet(quantity=4, price="1.99")
    sold = inventory.purchase(sweet, buyer, 3)
    assert (sold.id, sold.quantity, sold.price) == (sweet, 1, Decimal("1.99"))
    row = db.session.scalars(select(StockMovement).where(StockMovement.kind == "purchase")).one()
    assert (row.user_id, row.change, row.balance, row.unit_price) == (buyer, -3, 1, Decimal("1.99"))


def test_out_of_stock_and_insufficient_stock_are_told_apart(buyer):
    sweet = new_sweet(quantity=2)
    with pytest.raises(OutOfStockError) as short:
        inventory.purchase(sweet, buyer, 3)
    assert str(short.value) == "Insufficient stock" and short.value.available == 2
    inventory.purchase(sweet, buyer, 2)
    with pytest.raises(OutOfStockError) as empty:
        inventory.purchase(sweet, buyer, 1)
    assert str(empty.value) == "Out of stock" and empty.value.available == 0
    assert_ledger_matches(sweet)


def test_archived_sweets_are_not_found_but_keep_their_history(buyer):
    sweet = new_sweet(quantity=5)
    inventory.purchase(sweet, buyer, 2)
    catalog.archive_sweet(sweet)
    for action in (lambda: inventory.purchase(sweet, buyer, 1),
                   lambda: inventory.restock(sweet, None, 1),
                   lambda: catalog.update_sweet(sweet, name="Renamed"),
                   lambda: catalog.archive_sweet(sweet),
                   lambda: catalog.get_sweet(sweet)):
        with pytest.raises(SweetNotFoundError):
            action()
    assert quantity(sweet) == 3
    assert [row[0].change for row in catalog.stock_history(sweet)] == [-2, 5]
    assert [(row[1], row[2]) for row in catalog.purchases(buyer)] == [("Fudge", "buyer")]
    assert catalog.search_sweets() == [] and catalog.count_sweets() == 0
    assert [s.id for s in catalog.all_sweets(include_archived=True)] == [sweet]
    assert_ledger_matches(sweet)


def test_missing_sweets_are_not_found(buyer):
    for action in (lambda: inventory.purchase(404, buyer, 1),
                   lambda: inventory.restock(404, None, 1),
                   lambda: catalog.update_sweet(404, price=Decimal("1")),
                   lambda: catalog.archive_sweet(404)):
        with pytest.raises(SweetNotFoundError):
            action()
    assert db.session.scalar(select(func.count()).select_from(StockMovement)) == 0


def test_restock_stops_at_the_stock_limit(ctx):
    sweet = new_sweet(quantity=STOCK_MAX - 1)
    assert inventory.restock(sweet, None, 1).quantity == STOCK_MAX
    with pytest.raises(StockLimitError):
        inventory.restock(sweet, None, 1)
    assert inventory.restock(sweet, None, 0).quantity == STOCK_MAX
    assert_ledger_matches(sweet)


def test_idempotent_purchase_replays_and_refuses_other_parameters(buyer):
    sweet, other = new_sweet(quantity=10), new_sweet(name="Other")
    first = inventory.purchase(sweet, buyer, 2, idempotency_key="order-7")
    inventory.restock(sweet, None, 100)
    replay = inventory.purchase(sweet, buyer, 2, idempotency_key="order-7")
    assert (replay.id, replay.quantity, replay.price) == (first.id, first.quantity, first.price) \
        == (sweet, 8, Decimal("2.50"))
    for target, count in [(sweet, 3), (other, 2)]:
        with pytest.raises(IdempotencyKeyReusedError):
            inventory.purchase(target, buyer, count, idempotency_key="order-7")
    assert quantity(sweet) == 108 and quantity(other) == 10
    assert_ledger_matches(sweet)


def test_update_never_touches_stock(ctx):
    sweet = new_sweet(quantity=7)
    row = catalog.update_sweet(sweet, name="Fudge Deluxe", category="Luxury", price=Decimal("9.99"))
    assert (row.name, row.category, row.price, row.quantity) == (
        "Fudge Deluxe", "Luxury", Decimal("9.99"), 7)
    with pytest.raises(AssertionError):
        catalog.update_sweet(sweet, quantity=100)
    assert quantity(sweet) == 7


def test_search_and_count_agree(ctx):
    for name, category, price in [("Mint Humbug", "Mints", "0.35"), ("Mint Choc", "chocolate", "1.00"),
                                  ("Choc Bar", "Chocolate", "1.50"), ("50% Off", "Misc", "0.50")]:
        new_sweet(name=name, category=category, price=price)
    filters = dict(name="MINT", category="CHOCOLATE")
    assert [s.name for s in catalog.search_sweets(**filters)] == ["Mint Choc"]
    assert catalog.count_sweets(**filters) == 1
    assert [s.name for s in catalog.search_sweets(name="%")] == ["50% Off"]
    assert catalog.count_sweets(min_price=Decimal("0.50"), max_price=Decimal("1.00")) == 2
    assert [s.name for s in catalog.search_sweets(skip=1, limit=2)] == ["Mint Choc", "Choc Bar"]


def test_categories_are_unique_regardless_of_case(ctx):
    for name, category in [("A", "Toffee"), ("B", "toffee"), ("C", "Candy"), ("D", "Gone")]:
        new_sweet(name=name, category=category)
    catalog.archive_sweet(db.session.scalar(select(Sweet.id).where(Sweet.name == "D")))
    assert catalog.categories() == ["Candy", "Toffee"]


def test_audit_reports_a_sweet_whose_stock_was_changed_behind_the_ledger(ctx):
    sweet = new_sweet(quantity=4)
    db.session.execute(Sweet.__table__.update().where(Sweet.id == sweet).values(quantity=9))
    db.session.commit()
    assert inventory.audit_stock() == [(sweet, 9, 4)]
