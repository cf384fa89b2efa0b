"""Click and collect through the API: ready, collect, cancel from ready, the status filter, the pick list."""
import pytest
from support.dbstate import snapshot, stock_and_ledger

from test_api_orders import place
from test_openapi import conforms


@pytest.fixture
def shop(api):
    """An admin, two customers and three sweets (ids ascending: fudge, toffee, humbug)."""
    api.fudge = api.sweet("Fudge", price=2.5, quantity=10)
    api.toffee = api.sweet("Toffee", price=1.2, quantity=5)
    api.humbug = api.sweet("humbug", price=0.35, quantity=9)
    api.bob = api.user("bob")
    api.eve = api.user("eve")
    api.document = api.client.get("/api/openapi.json").json
    return api


def stock(app, sweet):
    quantity, ledger_sum, _ = stock_and_ledger(app, sweet["id"])
    assert quantity == ledger_sum
    return quantity


def step(shop, order, action, headers=None):
    return shop.client.post(f"/api/orders/{order['id']}/{action}",
                            headers=shop.admin if headers is None else headers)


def test_an_order_goes_placed_ready_collected_and_keeps_its_stock_sold(app, shop):
    order = place(shop, (shop.fudge, 3)).json
    assert order["ready_at"] is None and order["collected_at"] is None
    ready = step(shop, order, "ready")
    assert ready.status_code == 200
    assert ready.json["status"] == "ready" and ready.json["ready_at"].endswith("Z")
    assert ready.json["ready_at"] >= ready.json["created_at"] and ready.json["collected_at"] is None
    collected = step(shop, order, "collect")
    assert collected.status_code == 200
    assert collected.json["status"] == "collected" and collected.json["ready_at"] == ready.json["ready_at"]
    assert collected.json["collected_at"] >= ready.json["ready_at"]
    assert collected.json["cancelled_at"] is None and collected.json["items"] == order["items"]
    assert shop.client.get(f"/api/orders/{order['id']}", headers=shop.bob).json == collected.json
    assert stock(app, shop.fudge) == 7
    # A collected order's lines stay the customer's purchases (only a cancel gives them back).
    bought = shop.client.get("/api/purchases", headers=shop.bob).json
    assert [(p["order_id"], p["quantity"]) for p in bought] == [(order["id"], 3)]


def test_a_customer_who_walks_in_early_collects_a_placed_order(app, shop):
    order = place(shop, (shop.fudge, 3)).json
    collected = step(shop, order, "collect").json
    assert collected["status"] == "collected" and collected["ready_at"] is None
    assert stock(app, shop.fudge) == 7


@pytest.mark.parametrize(("before", "action", "detail"), [
    (["ready"], "ready", "Order is not placed"),
    (["collect"], "ready", "Order is not placed"),
    (["cancel"], "ready", "Order is not placed"),
    (["ready", "collect"], "collect", "Order cannot be collected"),
    (["cancel"], "collect", "Order cannot be collected"),
    (["ready", "cancel"], "collect", "Order cannot be collected"),
    (["collect"], "cancel", "Order already collected"),
    (["ready", "collect"], "cancel", "Order already collected"),
    (["ready", "cancel"], "cancel", "Order already cancelled"),
])
def test_a_step_from_the_wrong_state_is_409_with_the_status_and_changes_nothing(
        app, shop, before, action, detail):
    order = place(shop, (shop.fudge, 3), (shop.toffee, 1)).json
    for earlier in before:
        assert step(shop, order, earlier).status_code == 200
    status = shop.client.get(f"/api/orders/{order['id']}", headers=shop.admin).json["status"]
    unchanged = snapshot(app)
    response = step(shop, order, action)
    assert response.status_code == 409
    assert response.json == {"detail": detail, "status": status}
    assert snapshot(app) == unchanged
    conforms(shop.document, "OrderStepRefused", response.json)


def test_cancelling_a_ready_order_returns_its_stock_and_keeps_its_ready_time(app, shop):
    order = place(shop, (shop.fudge, 3), (shop.toffee, 2)).json
    ready = step(shop, order, "ready").json
    cancelled = step(shop, order, "cancel", headers=shop.bob)  # the owner, within the window
    assert cancelled.status_code == 200
    assert cancelled.json["status"] == "cancelled" and cancelled.json["ready_at"] == ready["ready_at"]
    assert (stock(app, shop.fudge), stock(app, shop.toffee)) == (10, 5)


def test_the_owner_may_not_cancel_a_ready_order_after_the_window(app, shop):
    order = place(shop, (shop.fudge, 3)).json
    step(shop, order, "ready")
    app.config["ORDER_CANCEL_WINDOW_SECONDS"] = 0
    assert step(shop, order, "cancel", headers=shop.bob).status_code == 403
    assert step(shop, order, "cancel").status_code == 200  # an admin may
    assert stock(app, shop.fudge) == 10


def test_the_owner_of_a_collected_order_gets_409_already_collected(app, shop):
    order = place(shop, (shop.fudge, 3)).json
    step(shop, order, "collect")
    response = step(shop, order, "cancel", headers=shop.bob)
    assert response.status_code == 409
    assert response.json == {"detail": "Order already collected", "status": "collected"}
    assert stock(app, shop.fudge) == 7


@pytest.mark.parametrize("action", ["ready", "collect"])
def test_steps_are_for_admins_and_unknown_orders_are_404(app, shop, action):
    order = place(shop, (shop.fudge, 3)).json
    unchanged = snapshot(app)
    assert step(shop, order, action, headers={}).status_code == 401
    for customer in (shop.bob, shop.eve):
        response = step(shop, order, action, headers=customer)
        assert response.status_code == 403 and response.json == {"detail": "Not authorized"}
    response = shop.client.post(f"/api/orders/999/{action}", headers=shop.admin)
    assert response.status_code == 404 and response.json == {"detail": "Order not found"}
    assert shop.client.post(f"/api/orders/{2 ** 40}/{action}", headers=shop.admin).status_code == 404
    assert shop.client.get(f"/api/orders/{order['id']}/{action}", headers=shop.admin).status_code == 405
    assert snapshot(app) == unchanged


def test_orders_are_listed_by_status(shop):
    placed, ready, collected, cancelled = (place(shop, (shop.fudge, 1)).json for _ in range(4))
    step(shop, ready, "ready")
    step(shop, collected, "collect")
    step(shop, cancelled, "cancel")
    for status, order in [("placed", placed), ("ready", ready), ("collected", collected),
                          ("cancelled", cancelled)]:
        mine = shop.client.get(f"/api/orders?status={status}", headers=shop.bob)
        assert [o["id"] for o in mine.json] == [order["id"]], status
        everyone = shop.client.get(f"/api/orders?status={status}&all=1", headers=shop.admin)
        assert [o["id"] for o in everyone.json] == [order["id"]]
        assert shop.client.get(f"/api/orders?status={status}", headers=shop.eve).json == []
    assert len(shop.client.get("/api/orders?status=", headers=shop.bob).json) == 4


@pytest.mark.parametrize("status", ["shipped", "PLACED", "placed ", "ready,collected", "%00"])
def test_an_unknown_status_filter_is_422(shop, status):
    response = shop.client.get(f"/api/orders?status={status}", headers=shop.bob)
    assert response.status_code == 422 and "status" in response.json["errors"]


def test_the_pick_list_sums_every_placed_order_by_name(shop):
    first = place(shop, (shop.toffee, 2), (shop.fudge, 1)).json
    place(shop, (shop.toffee, 1), (shop.humbug, 4), headers=shop.eve)
    for action in ("ready", "collect", "cancel"):  # none of these is still to pack
        step(shop, place(shop, (shop.fudge, 2)).json, action)
    response = shop.client.get("/api/orders/pick-list", headers=shop.admin)
    assert response.status_code == 200
    assert response.json == {"sweets": [
        {"sweet_id": shop.fudge["id"], "name": "Fudge", "units": 1, "orders": 1},
        {"sweet_id": shop.humbug["id"], "name": "humbug", "units": 4, "orders": 1},
        {"sweet_id": shop.toffee["id"], "name": "Toffee", "units": 3, "orders": 2},
    ]}
    conforms(shop.document, "PickList", response.json)
    step(shop, first, "ready")
    assert shop.client.get("/api/orders/pick-list", headers=shop.admin).json == {"sweets": [
        {"sweet_id": shop.humbug["id"], "name": "humbug", "units": 4, "orders": 1},
        {"sweet_id": shop.toffee["id"], "name": "Toffee", "units": 1, "orders": 1}]}


def test_the_pick_list_is_for_admins(shop):
    assert shop.client.get("/api/orders/pick-list").status_code == 401
    assert shop.client.get("/api/orders/pick-list", headers=shop.bob).status_code == 403
    assert shop.client.get("/api/orders/pick-list", headers=shop.admin).json == {"sweets": []}


def test_every_step_answers_an_order_its_schema_allows(shop):
    for action in ("ready", "collect"):
        order = place(shop, (shop.fudge, 1)).json
        conforms(shop.document, "Order", step(shop, order, action).json)
