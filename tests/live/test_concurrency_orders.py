"""The guarantees of orders (docs/stock.md), proved against the real server (granian) with 4 worker processes.

Clients are threads in this process (32 at once), the server is several processes sharing one
database (SQLite or PostgreSQL), so the races are the real ones.
"""
import random
import time

import pytest

from support.live import new_sweet, post, run_together

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shop(live_shop):
    return live_shop


def stock_and_ledger(shop, sweet_id):
    quantity = shop.sql("SELECT quantity FROM sweets WHERE id = :id", id=sweet_id)[0][0]
    ledger_sum = shop.sql("SELECT coalesce(sum(change), 0) FROM stock_movements WHERE sweet_id = :id",
                          id=sweet_id)[0][0]
    return quantity, ledger_sum


def assert_audit_clean(shop):
    result = shop.cli("audit-stock")
    assert result.returncode == 0, result.stderr


def order(shop, buyer, *lines, key=None):
    headers = dict(buyer, **{"Idempotency-Key": key}) if key else buyer
    return post(shop, "/api/orders", headers,
                json={"items": [{"sweet_id": sweet_id, "quantity": n} for sweet_id, n in lines]})


def deadlocks(shop):
    """PostgreSQL's count of deadlocks detected in the test database (None on SQLite)."""
    if shop.backend != "postgresql":
        return None
    return shop.sql("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")[0][0]


def orders_of(shop, sweet_ids):
    """``{order_id: [(sweet_id, quantity, ledger purchase rows)]}`` for orders touching these sweets."""
    rows = shop.sql(
        "SELECT l.order_id, l.sweet_id, l.quantity, "
        "       (SELECT count(*) FROM stock_movements m WHERE m.order_id = l.order_id "
        "          AND m.sweet_id = l.sweet_id AND m.kind = 'purchase' AND m.change = -l.quantity) "
        "FROM order_lines l WHERE l.sweet_id IN (:a, :b) ORDER BY l.order_id, l.sweet_id",
        a=sweet_ids[0], b=sweet_ids[1])
    found = {}
    for order_id, sweet_id, quantity, ledger_rows in rows:
        found.setdefault(order_id, []).append((sweet_id, quantity, ledger_rows))
    return found


def test_crossing_baskets_never_deadlock_and_sell_whole_orders(shop):
    """A then B and B then A from 32 clients, with single purchases mixed in."""
    stock = 30
    a, b = new_sweet(shop, stock), new_sweet(shop, stock)
    rng = random.Random(9)
    plan = [("order", (a, b) if i % 2 else (b, a), rng.randint(1, 2)) for i in range(60)]
    plan += [("single", (a if i % 2 else b,), 1) for i in range(20)]
    rng.shuffle(plan)
    deadlocks_before = deadlocks(shop)

    def call(kind, sweets, n, i):
        buyer = shop.buyers[i % 8]
        if kind == "single":
            return post(shop, f"/api/sweets/{sweets[0]}/purchase", buyer)
        return order(shop, buyer, *[(sweet_id, n) for sweet_id in sweets])

    results = run_together([(lambda k=k, s=s, n=n, i=i: call(k, s, n, i))
                            for i, (k, s, n) in enumerate(plan)])

    assert all(status < 500 for status, _ in results), results
    orders_placed = [body for (kind, _, _), (status, body) in zip(plan, results)
                     if kind == "order" and status == 201]
    assert {status for (kind, _, _), (status, _) in zip(plan, results) if kind == "order"} <= {201, 400}
    assert {status for (kind, _, _), (status, _) in zip(plan, results) if kind == "single"} <= {200, 400}
    assert orders_placed, "some orders must get through"
    # Every placed order is whole: both lines, each with its ledger row; refused ones left nothing.
    recorded = orders_of(shop, (a, b))
    assert set(recorded) == {body["id"] for body in orders_placed}
    for body in orders_placed:
        n = body["items"][0]["quantity"]
        assert recorded[body["id"]] == [(a, n, 1), (b, n, 1)]
    for sweet_id in (a, b):
        sold_in_orders = sum(body["items"][0]["quantity"] for body in orders_placed)
        sold_singly = sum(1 for (kind, sweets, _), (status, _) in zip(plan, results)
                          if kind == "single" and sweets[0] == sweet_id and status == 200)
        quantity, ledger_sum = stock_and_ledger(shop, sweet_id)
        assert quantity == ledger_sum == stock - sold_in_orders - sold_singly >= 0
    # A refused order names a line that was really short when it was refused.
    for (kind, _, n), (status, body) in zip(plan, results):
        if kind == "order" and status == 400:
            assert body["detail"] == "Insufficient stock" and body["shortages"]
    assert_audit_clean(shop)
    if deadlocks_before is not None:
        # Backends report their statistics when idle, at the latest after 10 seconds.
        time.sleep(11)
        assert deadlocks(shop) == deadlocks_before


def test_all_or_nothing_under_contention(shop):
    """A with 100, B with 1; 20 orders of one A and one B at once: exactly one is placed."""
    a, b = new_sweet(shop, 100), new_sweet(shop, 1)
    results = run_together([(lambda i=i: order(shop, shop.buyers[i % 8], (a, 1), (b, 1)))
                            for i in range(20)])

    statuses = [status for status, _ in results]
    assert statuses.count(201) == 1 and statuses.count(400) == 19, statuses
    for status, body in results:
        if status == 400:
            assert body["shortages"] == [{"sweet_id": b, "requested": 1, "available": 0}]
    assert stock_and_ledger(shop, a) == (99, 99)
    assert stock_and_ledger(shop, b) == (0, 0)
    assert len(orders_of(shop, (a, b))) == 1
    assert_audit_clean(shop)


def test_racing_cancels_return_the_stock_exactly_once(shop):
    a, b = new_sweet(shop, 10), new_sweet(shop, 10)
    buyer = shop.buyers[0]
    status, placed = order(shop, buyer, (a, 4), (b, 3))
    assert status == 201
    # The owner and an admin, 16 times at once.
    results = run_together([
        (lambda i=i: post(shop, f"/api/orders/{placed['id']}/cancel", buyer if i % 2 else shop.admin))
        for i in range(16)])

    statuses = [status for status, _ in results]
    assert statuses.count(200) == 1 and statuses.count(409) == 15, statuses
    assert {body["detail"] for status, body in results if status == 409} == {"Order already cancelled"}
    assert stock_and_ledger(shop, a) == (10, 10)
    assert stock_and_ledger(shop, b) == (10, 10)
    returns = shop.sql("SELECT count(*) FROM stock_movements WHERE order_id = :id AND kind = 'return'",
                       id=placed["id"])[0][0]
    assert returns == 2
    assert_audit_clean(shop)


def test_ten_identical_keys_at_once_place_one_order(shop):
    a, b = new_sweet(shop, 10), new_sweet(shop, 10)
    key = f"basket-{random.random()}"
    results = run_together([(lambda: order(shop, shop.buyers[1], (a, 2), (b, 1), key=key))
                            for _ in range(10)])

    assert {status for status, _ in results} == {201}, results
    assert len({body["id"] for _, body in results}) == 1
    assert len(orders_of(shop, (a, b))) == 1
    assert stock_and_ledger(shop, a) == (8, 8)
    assert stock_and_ledger(shop, b) == (9, 9)
    assert_audit_clean(shop)
