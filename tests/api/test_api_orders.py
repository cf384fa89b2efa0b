"""The orders API: place, list, read and cancel orders; restore; unique names on sale."""
import pytest
from support.dbstate import snapshot, stock_and_ledger
from sqlalchemy import select

from sweetshop.extensions import db
from sweetshop.models import StockMovement


@pytest.fixture
def shop(api):
    """An admin, two customers and three sweets (ids ascending: fudge, toffee, humbug)."""
    api.fudge = api.sweet("Fudge", price=2.5, quantity=10)
    api.toffee = api.sweet("Toffee", price=1.2, quantity=3)
    api.humbug = api.sweet("Humbug", price=0.35, quantity=0)
    api.bob = api.user("bob")
    api.eve = api.user("eve")
    return api


def items(*pairs):
    return {"items": [{"sweet_id": sweet["id"] if isinstance(sweet, dict) else sweet, "quantity": n}
                      for sweet, n in pairs]}


def place(shop, *pairs, headers=None):
    return shop.client.post("/api/orders", headers=headers or shop.bob, json=items(*pairs))


def stock(app, sweet):
    quantity, ledger_sum, _ = stock_and_ledger(app, sweet["id"])
    assert quantity == ledger_sum
    return quantity


# --- POST /api/orders ------------------------------------------------------------------------

def test_place_order_sells_every_line_and_answers_the_order(app, shop):
    response = place(shop, (shop.toffee, 2), (shop.fudge, 3))
    assert response.status_code == 201
    order = response.json
    assert response.headers["Location"] == f"/api/orders/{order['id']}"
    assert order["status"] == "placed" and order["cancelled_at"] is None
    assert order["created_at"].endswith("Z")
    assert order["total"] == 3 * 2.5 + 2 * 1.2
    # Items in ascending sweet id, whatever order they were sent in.
    assert order["items"] == [
        {"sweet_id": shop.fudge["id"], "name": "Fudge", "quantity": 3, "unit_price": 2.5,
         "line_total": 7.5},
        {"sweet_id": shop.toffee["id"], "name": "Toffee", "quantity": 2, "unit_price": 1.2,
         "line_total": 2.4},
    ]
    assert (stock(app, shop.fudge), stock(app, shop.toffee)) == (7, 1)
    with app.app_context():
        rows = db.session.execute(
            select(StockMovement.sweet_id, StockMovement.change, StockMovement.order_id)
            .where(StockMovement.kind == "purchase").order_by(StockMovement.sweet_id)).all()
    assert rows == [(shop.fudge["id"], -3, order["id"]), (shop.toffee["id"], -2, order["id"])]


def test_short_lines_are_all_reported_and_nothing_is_sold(app, shop):
    before = snapshot(app)
    response = place(shop, (shop.fudge, 10), (shop.toffee, 4), (shop.humbug, 1))
    assert response.status_code == 400
    assert response.json == {"detail": "Insufficient stock", "shortages": [
        {"sweet_id": shop.toffee["id"], "requested": 4, "available": 3},
        {"sweet_id": shop.humbug["id"], "requested": 1, "available": 0},
    ]}
    assert snapshot(app) == before  # the fudge line, which fitted, was rolled back too


def test_missing_sweets_are_all_reported_and_win_over_short_ones(app, shop):
    shop.client.delete(f"/api/sweets/{shop.toffee['id']}", headers=shop.admin)
    before = snapshot(app)
    response = place(shop, (shop.fudge, 1), (shop.toffee, 1), (shop.humbug, 5), (999, 1))
    assert response.status_code == 404
    assert response.json == {"detail": "Sweet not found", "missing": [shop.toffee["id"], 999]}
    assert snapshot(app) == before


def test_placing_needs_a_token(app, shop):
    before = snapshot(app)
    response = shop.client.post("/api/orders", json=items((shop.fudge, 1)))
    assert response.status_code == 401 and response.json == {"detail": "Not authenticated"}
    assert snapshot(app) == before


LINE = {"sweet_id": 1, "quantity": 1}


@pytest.mark.parametrize(("body", "field"), [
    ({}, "items"),
    ({"items": []}, "items"),
    ({"items": [LINE] * 51}, "items"),
    ({"items": "1"}, "items"),
    ({"items": None}, "items"),
    ({"items": {"sweet_id": 1, "quantity": 1}}, "items"),
    ({"items": [LINE, dict(LINE, quantity=2)]}, "items[1].sweet_id"),
    ({"items": [dict(LINE, quantity=0)]}, "items[0].quantity"),
    ({"items": [dict(LINE, quantity=1001)]}, "items[0].quantity"),
    ({"items": [dict(LINE, quantity=-1)]}, "items[0].quantity"),
    ({"items": [dict(LINE, quantity="2")]}, "items[0].quantity"),
    ({"items": [dict(LINE, quantity=True)]}, "items[0].quantity"),
    ({"items": [dict(LINE, quantity=None)]}, "items[0].quantity"),
    ({"items": [dict(LINE, quantity=10 ** 30)]}, "items[0].quantity"),
    ({"items": [{"sweet_id": 1}]}, "items[0].quantity"),
    ({"items": [{"quantity": 1}]}, "items[0].sweet_id"),
    ({"items": [dict(LINE, sweet_id="1")]}, "items[0].sweet_id"),
    ({"items": [dict(LINE, sweet_id=0)]}, "items[0].sweet_id"),
    ({"items": [dict(LINE, sweet_id=2 ** 31)]}, "items[0].sweet_id"),
    ({"items": [dict(LINE, colour="red")]}, "items[0].colour"),
    ({"items": [7]}, "items[0]"),
    ({"items": [LINE], "note": "x"}, "note"),
])
def test_bad_orders_are_422_and_change_nothing(app, shop, body, field):
    before = snapshot(app)
    response = shop.client.post("/api/orders", headers=shop.bob, json=body)
    assert response.status_code == 422, response.json
    assert field in response.json["errors"], response.json
    assert snapshot(app) == before


@pytest.mark.parametrize("raw", ["", "not json", "[1, 2]", '{"items": [{"sweet_id": 1, "quantity": NaN}]}',
                                 '{"items": [{"sweet_id": 1, "quantity": 1.5}]}', "null"])
def test_bodies_that_are_not_an_order_are_422_and_change_nothing(app, shop, raw):
    before = snapshot(app)
    response = shop.client.post("/api/orders", headers=shop.bob, data=raw,
                                content_type="application/json")
    assert response.status_code == 422 and "detail" in response.json
    assert snapshot(app) == before


def test_a_bad_idempotency_key_is_422_and_changes_nothing(app, shop):
    before = snapshot(app)
    response = shop.client.post("/api/orders", headers=dict(shop.bob, **{"Idempotency-Key": "k" * 65}),
                                json=items((shop.fudge, 1)))
    assert response.status_code == 422 and "Idempotency-Key" in response.json["errors"]
    assert snapshot(app) == before


# --- Idempotency-Key ---------------------------------------------------------------------------

def test_a_repeated_key_returns_the_first_order_without_selling_again(app, shop):
    keyed = dict(shop.bob, **{"Idempotency-Key": "basket-1"})
    first = place(shop, (shop.fudge, 2), (shop.toffee, 1), headers=keyed)
    assert first.status_code == 201
    before = snapshot(app)
    # The same items listed in another order are the same order.
    again = place(shop, (shop.toffee, 1), (shop.fudge, 2), headers=keyed)
    assert again.status_code == 201 and again.json == first.json
    assert again.headers["Location"] == first.headers["Location"]
    assert snapshot(app) == before
    # Keys belong to their user: eve's same key is her own order.
    eve = place(shop, (shop.fudge, 2), (shop.toffee, 1),
                headers=dict(shop.eve, **{"Idempotency-Key": "basket-1"}))
    assert eve.status_code == 201 and eve.json["id"] != first.json["id"]


def test_the_same_key_with_other_items_is_422(app, shop):
    keyed = dict(shop.bob, **{"Idempotency-Key": "basket-2"})
    assert place(shop, (shop.fudge, 2), headers=keyed).status_code == 201
    before = snapshot(app)
    for other in [((shop.fudge, 3),), ((shop.fudge, 2), (shop.toffee, 1)), ((shop.toffee, 2),)]:
        response = place(shop, *other, headers=keyed)
        assert response.status_code == 422
        assert response.json["detail"] == "Idempotency-Key was already used with different items"
    assert snapshot(app) == before


def test_a_refused_order_leaves_its_key_free_for_a_retry(app, shop):
    keyed = dict(shop.bob, **{"Idempotency-Key": "basket-3"})
    assert place(shop, (shop.toffee, 5), headers=keyed).status_code == 400
    shop.client.post(f"/api/sweets/{shop.toffee['id']}/restock", headers=shop.admin, json={"quantity": 2})
    retry = place(shop, (shop.toffee, 5), headers=keyed)
    assert retry.status_code == 201 and stock(app, shop.toffee) == 0


# --- GET /api/orders and /api/orders/<id> ----------------------------------------------------------

def test_list_orders_is_the_callers_newest_first_and_paged(shop):
    first = place(shop, (shop.fudge, 1)).json
    second = place(shop, (shop.toffee, 1), (shop.fudge, 1)).json
    place(shop, (shop.fudge, 1), headers=shop.eve)
    response = shop.client.get("/api/orders", headers=shop.bob)
    assert response.status_code == 200 and response.json == [second, first]
    assert shop.client.get("/api/orders?skip=1&limit=1", headers=shop.bob).json == [first]
    assert shop.client.get("/api/orders?skip=2", headers=shop.bob).json == []


def test_admins_list_everyones_orders_with_all_and_customers_may_not(app, shop):
    bobs = place(shop, (shop.fudge, 1)).json
    eves = place(shop, (shop.fudge, 1), headers=shop.eve).json
    assert [o["id"] for o in shop.client.get("/api/orders?all=1", headers=shop.admin).json] == [
        eves["id"], bobs["id"]]
    assert shop.client.get("/api/orders", headers=shop.admin).json == []  # the admin's own
    response = shop.client.get("/api/orders?all=1", headers=shop.bob)
    assert response.status_code == 403 and response.json == {"detail": "Not authorized"}


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "skip=-1", "skip=x", "limit=1.5"])
def test_bad_paging_is_422(shop, query):
    assert shop.client.get(f"/api/orders?{query}", headers=shop.bob).status_code == 422


def test_listing_and_reading_need_a_token(shop):
    order = place(shop, (shop.fudge, 1)).json
    assert shop.client.get("/api/orders").status_code == 401
    assert shop.client.get(f"/api/orders/{order['id']}").status_code == 401


def test_an_order_is_read_by_its_owner_and_admins_only(shop):
    order = place(shop, (shop.fudge, 1)).json
    assert shop.client.get(f"/api/orders/{order['id']}", headers=shop.bob).json == order
    assert shop.client.get(f"/api/orders/{order['id']}", headers=shop.admin).json == order
    for headers, order_id in [(shop.eve, order["id"]), (shop.bob, 999)]:
        response = shop.client.get(f"/api/orders/{order_id}", headers=headers)
        assert response.status_code == 404 and response.json == {"detail": "Order not found"}
    assert shop.client.get(f"/api/orders/{2 ** 40}", headers=shop.bob).status_code == 404


# --- POST /api/orders/<id>/cancel -------------------------------------------------------------------

def test_the_owner_cancels_within_the_window_and_every_unit_comes_back(app, shop):
    order = place(shop, (shop.fudge, 4), (shop.toffee, 3)).json
    response = shop.client.post(f"/api/orders/{order['id']}/cancel", headers=shop.bob)
    assert response.status_code == 200
    cancelled = response.json
    assert cancelled["status"] == "cancelled" and cancelled["cancelled_at"].endswith("Z")
    assert cancelled["items"] == order["items"] and cancelled["total"] == order["total"]
    assert (stock(app, shop.fudge), stock(app, shop.toffee)) == (10, 3)
    with app.app_context():
        returns = db.session.execute(
            select(StockMovement.sweet_id, StockMovement.change, StockMovement.order_id)
            .where(StockMovement.kind == "return").order_by(StockMovement.id)).all()
    assert returns == [(shop.fudge["id"], 4, order["id"]), (shop.toffee["id"], 3, order["id"])]
    assert shop.client.get(f"/api/orders/{order['id']}", headers=shop.bob).json == cancelled


def test_cancelling_twice_is_409_and_returns_nothing_more(app, shop):
    order = place(shop, (shop.fudge, 4)).json
    assert shop.client.post(f"/api/orders/{order['id']}/cancel", headers=shop.bob).status_code == 200
    before = snapshot(app)
    for headers in (shop.bob, shop.admin):
        response = shop.client.post(f"/api/orders/{order['id']}/cancel", headers=headers)
        assert response.status_code == 409 and response.json == {"detail": "Order already cancelled",
                                                                 "status": "cancelled"}
    assert snapshot(app) == before


def test_after_the_window_the_owner_gets_403_and_an_admin_may_still_cancel(app, shop):
    order = place(shop, (shop.fudge, 4)).json
    app.config["ORDER_CANCEL_WINDOW_SECONDS"] = 0
    before = snapshot(app)
    response = shop.client.post(f"/api/orders/{order['id']}/cancel", headers=shop.bob)
    assert response.status_code == 403
    assert response.json == {"detail": "The time to cancel this order has passed"}
    assert snapshot(app) == before
    assert shop.client.post(f"/api/orders/{order['id']}/cancel", headers=shop.admin).status_code == 200
    assert stock(app, shop.fudge) == 10


def test_another_customers_order_cannot_be_cancelled_and_stays_unknown(app, shop):
    order = place(shop, (shop.fudge, 4)).json
    before = snapshot(app)
    for order_id in (order["id"], 999):
        response = shop.client.post(f"/api/orders/{order_id}/cancel", headers=shop.eve)
        assert response.status_code == 404 and response.json == {"detail": "Order not found"}
    assert shop.client.post(f"/api/orders/{order['id']}/cancel").status_code == 401
    assert snapshot(app) == before


def test_units_go_back_to_a_sweet_archived_meanwhile(app, shop):
    order = place(shop, (shop.fudge, 4)).json
    shop.client.delete(f"/api/sweets/{shop.fudge['id']}", headers=shop.admin)
    assert shop.client.post(f"/api/orders/{order['id']}/cancel", headers=shop.bob).status_code == 200
    assert stock(app, shop.fudge) == 10
    assert shop.client.get(f"/api/sweets/{shop.fudge['id']}").status_code == 404  # still archived


# --- GET /api/purchases ---------------------------------------------------------------------------

def test_purchases_list_order_lines_with_their_order_and_single_purchases_with_null(shop):
    shop.client.post(f"/api/sweets/{shop.toffee['id']}/purchase", headers=shop.bob)
    order = place(shop, (shop.fudge, 2), (shop.toffee, 1)).json
    rows = shop.client.get("/api/purchases", headers=shop.bob).json
    # Newest first: the order's lines (one ledger row each), then the single purchase.
    assert [(p["sweet_name"], p["quantity"], p["order_id"]) for p in rows] == [
        ("Toffee", 1, order["id"]), ("Fudge", 2, order["id"]), ("Toffee", 1, None)]
    # A cancelled order's lines went back to stock: they are no longer purchases.
    shop.client.post(f"/api/orders/{order['id']}/cancel", headers=shop.bob)
    rows = shop.client.get("/api/purchases", headers=shop.bob).json
    assert [(p["sweet_name"], p["order_id"]) for p in rows] == [("Toffee", None)]


# --- restore, and names unique among sweets on sale -------------------------------------------------

def test_restore_puts_an_archived_sweet_back_with_its_stock_and_ledger(app, shop):
    place(shop, (shop.fudge, 4))
    shop.client.delete(f"/api/sweets/{shop.fudge['id']}", headers=shop.admin)
    _, _, rows = stock_and_ledger(app, shop.fudge["id"])
    response = shop.client.post(f"/api/sweets/{shop.fudge['id']}/restore", headers=shop.admin)
    assert response.status_code == 200
    assert response.json == dict(shop.fudge, quantity=6)
    assert stock_and_ledger(app, shop.fudge["id"]) == (6, 6, rows)
    assert shop.client.get(f"/api/sweets/{shop.fudge['id']}").status_code == 200


def test_restore_refusals(app, shop):
    before = snapshot(app)
    for sweet_id in (shop.fudge["id"], 999):  # on sale, or no such sweet
        response = shop.client.post(f"/api/sweets/{sweet_id}/restore", headers=shop.admin)
        assert response.status_code == 404 and response.json == {"detail": "Sweet not found"}
    assert shop.client.post(f"/api/sweets/{shop.fudge['id']}/restore", headers=shop.bob).status_code == 403
    assert shop.client.post(f"/api/sweets/{shop.fudge['id']}/restore").status_code == 401
    assert snapshot(app) == before


def test_restore_is_422_when_a_sweet_on_sale_has_taken_the_name(app, shop):
    shop.client.delete(f"/api/sweets/{shop.fudge['id']}", headers=shop.admin)
    shop.sweet("FUDGE", quantity=1)
    before = snapshot(app)
    response = shop.client.post(f"/api/sweets/{shop.fudge['id']}/restore", headers=shop.admin)
    assert response.status_code == 422 and list(response.json["errors"]) == ["name"]
    assert snapshot(app) == before


def test_a_second_sweet_on_sale_with_the_same_name_in_any_case_is_422(app, shop):
    before = snapshot(app)
    for name in ("Fudge", "fudge", "  FUDGE "):
        response = shop.client.post("/api/sweets", headers=shop.admin, json={
            "name": name, "category": "C", "price": 1, "quantity": 1})
        assert response.status_code == 422
        assert response.json["errors"] == {"name": ["A sweet on sale already has this name."]}
    response = shop.client.patch(f"/api/sweets/{shop.toffee['id']}", headers=shop.admin,
                                 json={"name": "fUDGE"})
    assert response.status_code == 422 and list(response.json["errors"]) == ["name"]
    assert snapshot(app) == before
    # A sweet may change the case of its own name, and an archived sweet's name is free.
    assert shop.client.patch(f"/api/sweets/{shop.fudge['id']}", headers=shop.admin,
                             json={"name": "FUDGE"}).status_code == 200
    shop.client.delete(f"/api/sweets/{shop.toffee['id']}", headers=shop.admin)
    assert shop.client.post("/api/sweets", headers=shop.admin, json={
        "name": "toffee", "category": "C", "price": 1, "quantity": 1}).status_code == 201
