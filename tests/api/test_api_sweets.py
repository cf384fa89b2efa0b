"""The catalogue API: list, search, get, create, update and archive sweets."""
from decimal import Decimal

import pytest
from support.dbstate import snapshot, stock_and_ledger
from sqlalchemy import select

from sweetshop import catalog
from sweetshop.extensions import db
from sweetshop.models import StockMovement, Sweet


def names(response):
    assert response.status_code == 200, response.json
    return [sweet["name"] for sweet in response.json]


@pytest.fixture
def shelf(app, api):
    """Six sweets on sale (ids in this order) and one archived."""
    made = [api.sweet(name=name, category=category, price=price, quantity=quantity)
            for name, category, price, quantity in [
                ("Chocolate Truffle", "Chocolate", 2.5, 40),
                ("Dark Chocolate Bar", "chocolate", 3.2, 0),
                ("Sherbet Lemon", "Candy", 0.45, 200),
                ("100% Cocoa", "Chocolate", 4.0, 3),
                ("Fizz_Bomb", "Candy", 1.0, 7),
                ("FizzXBomb", "Candy", 1.0, 7),
            ]]
    gone = api.sweet(name="Old Chocolate", category="Chocolate", price=1, quantity=1)
    assert api.client.delete(f"/api/sweets/{gone['id']}", headers=api.admin).status_code == 204
    return made


# --- list and get ------------------------------------------------------------------------

def test_list_is_empty_at_first(client):
    response = client.get("/api/sweets")
    assert response.status_code == 200 and response.json == []


def test_list_shows_sweets_on_sale_in_id_order(client, shelf):
    assert names(client.get("/api/sweets")) == [s["name"] for s in shelf]


def test_list_pages_with_skip_and_limit(client, shelf):
    assert names(client.get("/api/sweets?skip=1&limit=2")) == ["Dark Chocolate Bar", "Sherbet Lemon"]
    assert names(client.get("/api/sweets?skip=5&limit=100")) == ["FizzXBomb"]
    assert names(client.get("/api/sweets?skip=6")) == []
    assert names(client.get("/api/sweets?skip=10000")) == []
    # Deeper than the catalogue is listed (CATALOGUE_DEPTH_MAX): refused with the way on.
    deep = client.get("/api/sweets?skip=10001")
    assert deep.status_code == 422 and "Narrow the search" in deep.json["errors"]["skip"][0]


def test_list_default_limit_is_100(app, client):
    with app.app_context():
        for number in range(101):
            catalog.create_sweet(f"Sweet {number}", "Bulk", Decimal("1.00"), 1)
    assert len(client.get("/api/sweets").json) == 100
    assert names(client.get("/api/sweets?skip=100")) == ["Sweet 100"]


def test_get_returns_the_sweet_shape(client, api):
    sweet = api.sweet(name="Fudge", category="Fudge", price=2.5, quantity=10)
    response = client.get(f"/api/sweets/{sweet['id']}")
    assert response.status_code == 200
    assert response.json == {"id": sweet["id"], "name": "Fudge", "category": "Fudge",
                             "price": 2.5, "quantity": 10, "description": "", "unit": "each",
                             "allergens": [], "photo_url": None}
    assert isinstance(response.json["price"], float)


def test_get_unknown_sweet_is_404(client):
    response = client.get("/api/sweets/12345")
    assert response.status_code == 404 and response.json == {"detail": "Sweet not found"}


# --- search ------------------------------------------------------------------------------

@pytest.mark.parametrize("query, expected", [
    ("name=chocolate", ["Chocolate Truffle", "Dark Chocolate Bar"]),
    ("name=  CHOC  ", ["Chocolate Truffle", "Dark Chocolate Bar"]),
    ("name=%25", ["100% Cocoa"]),
    ("name=0%25 c", ["100% Cocoa"]),
    ("name=z_b", ["Fizz_Bomb"]),
    ("name=_", ["Fizz_Bomb"]),
    ("category=chocolate", ["Chocolate Truffle", "Dark Chocolate Bar", "100% Cocoa"]),
    ("category=CANDY", ["Sherbet Lemon", "Fizz_Bomb", "FizzXBomb"]),
    ("category=Choc", []),
    ("min_price=1&max_price=2.5", ["Chocolate Truffle", "Fizz_Bomb", "FizzXBomb"]),
    ("min_price=3.2", ["Dark Chocolate Bar", "100% Cocoa"]),
    ("max_price=0.45", ["Sherbet Lemon"]),
    ("min_price=2.5&max_price=2.5", ["Chocolate Truffle"]),
    ("name=fizz&category=candy&max_price=1", ["Fizz_Bomb", "FizzXBomb"]),
    ("name=chocolate&category=chocolate&min_price=3", ["Dark Chocolate Bar"]),
    ("name=lemon&category=chocolate", []),
    ("category=candy&skip=1&limit=1", ["Fizz_Bomb"]),
    ("name=&category=&min_price=&max_price=", ["Chocolate Truffle", "Dark Chocolate Bar",
                                               "Sherbet Lemon", "100% Cocoa", "Fizz_Bomb",
                                               "FizzXBomb"]),
    ("name=old", []),
])
def test_search_filters_combine(client, shelf, query, expected):
    assert names(client.get("/api/sweets/search?" + query)) == expected


# --- create ------------------------------------------------------------------------------

def test_create_returns_201_location_and_records_initial_stock(app, client, api):
    response = client.post("/api/sweets", headers=api.admin, json={
        "name": "  Sea Salt Caramel ", "category": "Toffee", "price": 19.99, "quantity": 12})
    assert response.status_code == 201
    sweet = response.json
    assert sweet == {"id": sweet["id"], "name": "Sea Salt Caramel", "category": "Toffee",
                     "price": 19.99, "quantity": 12, "description": "", "unit": "each",
                     "allergens": [], "photo_url": None}
    assert response.headers["Location"].endswith(f"/api/sweets/{sweet['id']}")
    assert client.get(response.headers["Location"]).json == sweet
    with app.app_context():
        assert db.session.get(Sweet, sweet["id"]).price == Decimal("19.99")
        ledger = db.session.scalars(select(StockMovement)).all()
        assert [(row.kind, row.change, row.balance) for row in ledger] == [("initial", 12, 12)]


def test_create_needs_every_field_quantity_too(app, client, api):
    """All four fields are required; scripts for the earlier backend rely on the 422."""
    admin = api.admin
    before = snapshot(app)
    response = client.post("/api/sweets", headers=admin,
                           json={"name": "Humbug", "category": "Mints", "price": 0.35})
    assert response.status_code == 422
    assert response.json["errors"] == {"quantity": ["Field required."]}
    assert snapshot(app) == before
    response = client.post("/api/sweets", headers=api.admin,
                           json={"name": "Humbug", "category": "Mints", "price": 0.35, "quantity": 0})
    assert response.status_code == 201 and response.json["quantity"] == 0


def test_create_accepts_whole_and_exact_decimal_prices(app, client, api):
    for price, stored in [(3, Decimal("3.00")), (0.1, Decimal("0.10")), (100000, Decimal("100000.00"))]:
        response = client.post("/api/sweets", headers=api.admin,
                               json={"name": f"P{price}", "category": "C", "price": price, "quantity": 1})
        assert response.status_code == 201 and response.json["price"] == float(stored)
        with app.app_context():
            assert db.session.get(Sweet, response.json["id"]).price == stored


def test_create_needs_an_admin(app, client, api):
    customer = api.user("bob")
    before = snapshot(app)
    body = {"name": "A", "category": "B", "price": 1}
    assert client.post("/api/sweets", headers=customer, json=body).json == {"detail": "Not authorized"}
    assert client.post("/api/sweets", json=body).status_code == 401
    assert snapshot(app) == before


# --- update ------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_update_changes_only_the_given_fields(app, client, api, method):
    sweet = api.sweet(name="Fudge", category="Fudge", price=2.5, quantity=10)
    response = client.open(f"/api/sweets/{sweet['id']}", method=method, headers=api.admin,
                           json={"price": 2.75, "category": " Toffee "})
    assert response.status_code == 200
    assert response.json == dict(sweet, price=2.75, category="Toffee")
    assert client.get(f"/api/sweets/{sweet['id']}").json == response.json
    assert stock_and_ledger(app, sweet["id"]) == (10, 10, 1)


def test_update_with_empty_body_changes_nothing(app, client, api):
    sweet = api.sweet()
    before = snapshot(app)
    response = client.patch(f"/api/sweets/{sweet['id']}", headers=api.admin, json={})
    assert response.status_code == 200 and response.json == sweet
    assert snapshot(app) == before


def test_update_needs_an_admin(app, client, api):
    sweet = api.sweet()
    customer = api.user("bob")
    before = snapshot(app)
    assert client.patch(f"/api/sweets/{sweet['id']}", headers=customer,
                        json={"price": 0.01}).status_code == 403
    assert client.patch(f"/api/sweets/{sweet['id']}", json={"price": 0.01}).status_code == 401
    assert snapshot(app) == before


# --- archive -----------------------------------------------------------------------------

def test_archive_hides_the_sweet_but_keeps_its_history(app, client, api):
    sweet = api.sweet(name="Cola Bottles", quantity=5)
    buyer = api.user("bob")
    assert client.post(f"/api/sweets/{sweet['id']}/purchase", headers=buyer).status_code == 200

    response = client.delete(f"/api/sweets/{sweet['id']}", headers=api.admin)
    assert response.status_code == 204 and response.data == b""

    url = f"/api/sweets/{sweet['id']}"
    assert client.get(url).status_code == 404
    assert client.get("/api/sweets").json == []
    assert client.get("/api/sweets/search?name=cola").json == []
    assert client.patch(url, headers=api.admin, json={"price": 1}).status_code == 404
    assert client.patch(url, headers=api.admin, json={}).status_code == 404
    assert client.post(url + "/purchase", headers=buyer).status_code == 404
    assert client.post(url + "/restock", headers=api.admin, json={"quantity": 1}).status_code == 404
    assert client.delete(url, headers=api.admin).status_code == 404
    history = client.get("/api/purchases", headers=buyer).json
    assert [(p["sweet_name"], p["quantity"]) for p in history] == [("Cola Bottles", 1)]
    assert stock_and_ledger(app, sweet["id"]) == (4, 4, 2)


def test_archive_needs_an_admin(app, client, api):
    sweet = api.sweet()
    customer = api.user("bob")
    assert client.delete(f"/api/sweets/{sweet['id']}", headers=customer).status_code == 403
    assert client.delete(f"/api/sweets/{sweet['id']}").status_code == 401
    assert client.get(f"/api/sweets/{sweet['id']}").status_code == 200


def test_archive_unknown_sweet_is_404(client, api):
    assert client.delete("/api/sweets/999", headers=api.admin).status_code == 404
