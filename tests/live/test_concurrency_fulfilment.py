"""Racing order steps against the real server (granian, 4 worker processes) on SQLite and PostgreSQL.

Several admins press "ready", "collected" and "cancel" on the same orders at once. Each order must
end in one consistent history: one winner per step at most, never both collected and cancelled,
its times in step with its status, every loser answered 409 with where the order stands, and its
units back in stock if and only if a cancel won.
"""
import random
from datetime import datetime

import pytest

from support.live import new_sweet, post, run_together

pytestmark = pytest.mark.slow

TARGET = {"ready": "ready", "collect": "collected", "cancel": "cancelled"}
REFUSAL = {"ready": "Order is not placed", "collect": "Order cannot be collected"}
# What a loser may find: the states the order can have left its step's starting states for.
LOSER_FINDS = {"ready": {"ready", "collected", "cancelled"}, "collect": {"collected", "cancelled"},
               "cancel": {"collected", "cancelled"}}


@pytest.fixture(scope="module")
def shop(live_shop):
    live_shop.admins = [live_shop.admin] + [live_shop.token(f"staff{i}", admin=True) for i in range(2)]
    return live_shop


def moment(value):
    """A time read back from either database (SQLite: ISO text; PostgreSQL: datetime)."""
    return value if value is None or isinstance(value, datetime) else datetime.fromisoformat(value)


def stock_and_ledger(shop, sweet_id):
    return shop.sql("SELECT quantity, (SELECT coalesce(sum(change), 0) FROM stock_movements "
                    "WHERE sweet_id = :id) FROM sweets WHERE id = :id", id=sweet_id)[0]


def place_orders(shop, sweets, count):
    placed = {}
    for i in range(count):
        lines = [(sweet_id, 1 + (i + j) % 3) for j, sweet_id in enumerate(sweets)]
        status, body = post(shop, "/api/orders", shop.buyers[i % 8],
                            json={"items": [{"sweet_id": s, "quantity": n} for s, n in lines]})
        assert status == 201, body
        placed[body["id"]] = dict(lines)
    return placed


def check_history(shop, order_id, answers):
    """One order's answers (``[(action, status, body)]``) and its row tell one consistent story."""
    winners = {action for action, status, _ in answers if status == 200}
    for action in TARGET:
        assert [a for a, status, _ in answers if a == action and status == 200].count(action) <= 1, answers
    assert not {"collect", "cancel"} <= winners, answers  # never both collected and cancelled
    assert winners & {"collect", "cancel"}, answers  # the first of them to run finds it open
    for action, status, body in answers:
        if status == 200:
            assert body["status"] == TARGET[action]
            continue
        assert status == 409, (action, status, body)
        assert body["status"] in LOSER_FINDS[action], (action, body)
        expected = REFUSAL.get(action) or f"Order already {body['status']}"
        assert body["detail"] == expected, (action, body)
    status, ready_at, collected_at, cancelled_at = shop.sql(
        "SELECT status, ready_at, collected_at, cancelled_at FROM orders WHERE id = :id", id=order_id)[0]
    ready_at, collected_at, cancelled_at = moment(ready_at), moment(collected_at), moment(cancelled_at)
    assert status == ("cancelled" if "cancel" in winners else "collected")
    assert (ready_at is not None) == ("ready" in winners)
    assert (collected_at is not None) == (status == "collected")
    assert (cancelled_at is not None) == (status == "cancelled")
    if ready_at is not None:
        assert ready_at <= (collected_at or cancelled_at)
    returns = shop.sql("SELECT count(*) FROM stock_movements WHERE order_id = :id AND kind = 'return'",
                       id=order_id)[0][0]
    return status, returns


@pytest.mark.parametrize("mix", [
    ("ready", "ready", "collect", "collect", "cancel", "cancel"),
    ("ready", "ready", "ready", "cancel", "cancel", "cancel"),  # a cancel always wins these
    ("ready", "ready", "ready", "collect", "collect", "collect"),  # a collect always wins these
])
def test_racing_steps_end_in_one_consistent_history_and_stock_back_iff_cancelled(shop, mix):
    a, b = new_sweet(shop, 200), new_sweet(shop, 200)
    placed = place_orders(shop, (a, b), 10)
    plan = [(order_id, action) for order_id in placed for action in mix]
    random.Random(20).shuffle(plan)
    results = run_together([
        (lambda o=order_id, act=action, i=i: post(shop, f"/api/orders/{o}/{act}", shop.admins[i % 3]))
        for i, (order_id, action) in enumerate(plan)])

    assert all(status in (200, 409) for status, _ in results), results
    answers = {}
    for (order_id, action), (status, body) in zip(plan, results):
        answers.setdefault(order_id, []).append((action, status, body))
    kept = {a: 0, b: 0}
    outcomes = set()
    for order_id, lines in placed.items():
        status, returns = check_history(shop, order_id, answers[order_id])
        outcomes.add(status)
        assert returns == (len(lines) if status == "cancelled" else 0), (order_id, status, returns)
        if status == "collected":
            for sweet_id, quantity in lines.items():
                kept[sweet_id] += quantity
    if "collect" not in mix:
        assert outcomes == {"cancelled"}
    if "cancel" not in mix:
        assert outcomes == {"collected"}
    # The stock is what the orders still hold, and the ledger agrees, for both sweets.
    assert stock_and_ledger(shop, a) == (200 - kept[a], 200 - kept[a])
    assert stock_and_ledger(shop, b) == (200 - kept[b], 200 - kept[b])
    audit = shop.cli("audit-stock")
    assert audit.returncode == 0, audit.stdout + audit.stderr
