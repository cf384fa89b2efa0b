"""The stock guarantees (docs/stock.md), proved against the real server with 4 worker processes.

Clients are threads in this process, each with its own connection; the server is
several processes sharing one database, so the races are the real ones.
"""
import random

import pytest

from support.live import new_sweet, post, run_together

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shop(live_shop):
    return live_shop


def stock_and_ledger(shop, sweet_id):
    quantity = shop.sql("SELECT quantity FROM sweets WHERE id = :id", id=sweet_id)[0][0]
    ledger = shop.sql("SELECT coalesce(sum(change), 0), count(*) FILTER (WHERE kind = 'purchase') "
                      "FROM stock_movements WHERE sweet_id = :id", id=sweet_id)[0]
    return quantity, ledger[0], ledger[1]


def assert_audit_clean(shop):
    result = shop.cli("audit-stock")
    assert result.returncode == 0, result.stderr


def test_more_buyers_than_stock_exactly_k_succeed(shop):
    stock, attempts = 25, 90
    sweet_id = new_sweet(shop, stock)
    results = run_together([
        (lambda i=i: post(shop, f"/api/sweets/{sweet_id}/purchase", shop.buyers[i % 8]))
        for i in range(attempts)])

    statuses = [status for status, _ in results]
    assert statuses.count(200) == stock
    assert statuses.count(400) == attempts - stock
    assert {body["detail"] for status, body in results if status == 400} == {"Out of stock"}
    quantity, ledger_sum, purchases = stock_and_ledger(shop, sweet_id)
    assert (quantity, ledger_sum, purchases) == (0, 0, stock)
    # Every success saw a distinct remaining quantity: no two sales took the same unit.
    remaining = sorted(body["quantity"] for status, body in results if status == 200)
    assert remaining == list(range(stock))
    assert_audit_clean(shop)


def test_purchases_and_restocks_all_count(shop):
    start = 30
    sweet_id = new_sweet(shop, start)
    rng = random.Random(5)
    plan = [("buy", rng.randint(1, 3)) for _ in range(100)] + [("restock", rng.randint(0, 9))
                                                               for _ in range(30)]
    rng.shuffle(plan)

    def call(kind, n, i):
        if kind == "buy":
            return post(shop, f"/api/sweets/{sweet_id}/purchase", shop.buyers[i % 8],
                        json={"quantity": n})
        return post(shop, f"/api/sweets/{sweet_id}/restock", shop.admin, json={"quantity": n})

    results = run_together([(lambda k=k, n=n, i=i: call(k, n, i)) for i, (k, n) in enumerate(plan)])

    assert all(status in (200, 400) for status, _ in results), results
    sold = sum(n for (kind, n), (status, _) in zip(plan, results) if kind == "buy" and status == 200)
    restocked = sum(n for kind, n in plan if kind == "restock")
    assert all(status == 200 for (kind, _), (status, _) in zip(plan, results) if kind == "restock")
    quantity, ledger_sum, _ = stock_and_ledger(shop, sweet_id)
    assert quantity == start + restocked - sold == ledger_sum
    assert quantity >= 0
    assert_audit_clean(shop)


def test_racing_registrations_of_one_name_make_one_account(shop):
    names = ["Racer", "racer", "RACER", "rAcEr"] * 10
    results = run_together([
        (lambda name=name: post(shop, "/api/auth/register",
                                json={"username": name, "password": "long enough 1"}))
        for name in names])

    statuses = [status for status, _ in results]
    assert statuses.count(201) == 1
    assert statuses.count(400) == len(names) - 1
    assert {body["detail"] for status, body in results if status == 400} == {
        "Username already registered"}
    assert shop.sql("SELECT count(*) FROM users WHERE username_key = 'racer'")[0][0] == 1


def test_racing_identical_idempotent_purchases_sell_once(shop):
    sweet_id = new_sweet(shop, 10)
    buyer = dict(shop.buyers[0], **{"Idempotency-Key": f"order-{random.random()}"})
    results = run_together([
        (lambda: post(shop, f"/api/sweets/{sweet_id}/purchase", buyer, json={"quantity": 3}))
        for _ in range(24)])

    assert {status for status, _ in results} == {200}
    assert {body["quantity"] for _, body in results} == {7}
    quantity, ledger_sum, purchases = stock_and_ledger(shop, sweet_id)
    assert (quantity, ledger_sum, purchases) == (7, 7, 1)

    status, body = post(shop, f"/api/sweets/{sweet_id}/purchase", buyer, json={"quantity": 2})
    assert status == 422
    assert stock_and_ledger(shop, sweet_id) == (7, 7, 1)


def test_idempotency_key_on_last_unit_replays_instead_of_out_of_stock(shop):
    """A twin that loses the race for the last unit must answer the winner's outcome, not 400."""
    for attempt in range(3):
        sweet_id = new_sweet(shop, 1)
        buyer = dict(shop.buyers[1], **{"Idempotency-Key": f"last-{attempt}-{random.random()}"})
        results = run_together([
            (lambda: post(shop, f"/api/sweets/{sweet_id}/purchase", buyer)) for _ in range(16)])
        assert {status for status, _ in results} == {200}
        assert {body["quantity"] for _, body in results} == {0}
        assert stock_and_ledger(shop, sweet_id) == (0, 0, 1)
