"""The stock API, one request at a time: purchase, restock, Idempotency-Key, purchase history."""
import pytest
from support.dbstate import snapshot, stock_and_ledger

from sweetshop import inventory
from sweetshop.rules import STOCK_MAX


def buy(client, sweet, headers, quantity=None, key=None):
    headers = dict(headers, **({"Idempotency-Key": key} if key is not None else {}))
    body = {} if quantity is None else {"quantity": quantity}
    return client.post(f"/api/sweets/{sweet['id']}/purchase", headers=headers, json=body)


def restock(client, sweet, headers, quantity):
    return client.post(f"/api/sweets/{sweet['id']}/restock", headers=headers,
                       json={"quantity": quantity})


# --- purchase ----------------------------------------------------------------------------

def test_purchase_takes_one_unit_by_default(app, client, api):
    sweet = api.sweet(quantity=3)
    response = buy(client, sweet, api.user("bob"))
    assert response.status_code == 200 and response.json == dict(sweet, quantity=2)
    assert stock_and_ledger(app, sweet["id"]) == (2, 2, 2)


def test_purchase_without_a_body_takes_one_unit(client, api):
    sweet = api.sweet(quantity=3)
    response = client.post(f"/api/sweets/{sweet['id']}/purchase", headers=api.user("bob"))
    assert response.status_code == 200 and response.json["quantity"] == 2


def test_purchases_in_sequence_until_sold_out(app, client, api):
    sweet = api.sweet(quantity=5)
    bob = api.user("bob")
    assert [buy(client, sweet, bob, n).json["quantity"] for n in (2, 1, 2)] == [3, 2, 0]
    before = snapshot(app)
    response = buy(client, sweet, bob)
    assert response.status_code == 400 and response.json == {"detail": "Out of stock"}
    assert snapshot(app) == before
    assert stock_and_ledger(app, sweet["id"]) == (0, 0, 4)


def test_buying_more_than_is_left_is_insufficient_stock(app, client, api):
    sweet = api.sweet(quantity=3)
    bob = api.user("bob")
    before = snapshot(app)
    response = buy(client, sweet, bob, 4)
    assert response.status_code == 400 and response.json == {"detail": "Insufficient stock"}
    assert snapshot(app) == before


def test_purchase_of_exactly_the_stock_and_the_maximum(client, api):
    sweet = api.sweet(quantity=1000)
    assert buy(client, sweet, api.user("bob"), 1000).json["quantity"] == 0


def test_purchase_needs_a_login_and_a_real_sweet(client, api):
    sweet = api.sweet()
    assert buy(client, sweet, {}).status_code == 401
    assert buy(client, {"id": 999}, api.user("bob")).json == {"detail": "Sweet not found"}


def _statements_and_modes(app, first_word=True):
    """A list that gathers (each statement, or its first word, and whether its DBAPI connection
    was in autocommit) for the rest of the test."""
    from sqlalchemy import event

    from sweetshop.extensions import db
    seen = []

    def record(conn, cursor, statement, *args):
        autocommit = getattr(conn.connection.dbapi_connection, "autocommit", False)
        seen.append((statement.split()[0] if first_word else statement, autocommit is True))
    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", record)
    return seen


@pytest.mark.parametrize("key", [None, "k-1"])
def test_a_purchase_on_postgresql_is_one_statement_that_commits_itself(app, client, api, backend, key):
    """inventory.purchase: on PostgreSQL the sale is one statement outside any transaction (its
    row lock ends with it), and the pooled connection goes back to transactions for the next
    request; SQLite's sale is two statements in a transaction."""
    sweet, bob = api.sweet(quantity=3), api.user("bob")
    seen = _statements_and_modes(app)
    assert buy(client, sweet, bob, key=key).status_code == 200
    purchase = list(seen)
    seen.clear()
    assert restock(client, sweet, api.admin, 5).status_code == 200
    writes = [(word, autocommit) for word, autocommit in purchase if word in ("EXECUTE", "UPDATE", "INSERT")]
    if backend == "postgresql":  # the prepared sale (a PREPARE comes first on a connection's first sale)
        assert writes == [("EXECUTE", True)]
    else:
        assert [word for word, _ in writes] == ["UPDATE", "INSERT"]
    assert [word for word, _ in seen if word in ("UPDATE", "INSERT")] == ["UPDATE", "INSERT"]
    assert not any(autocommit for _, autocommit in seen)
    assert stock_and_ledger(app, sweet["id"]) == (7, 7, 3)


def test_a_purchase_request_on_postgresql_writes_nothing_but_the_sale(app, client, api, backend):
    """The sale commits by itself, outside any transaction, on the purchase's own connection
    (inventory.selling), the bearer token's lookup included: no BEGIN or COMMIT round trip. So
    every statement of a purchase request, sold, refused or replayed, is a read but the sale."""
    if backend != "postgresql":
        pytest.skip("only PostgreSQL's sale commits by its own statement")
    from sweetshop.extensions import db
    with app.app_context():
        name = inventory._prepare_text(inventory._sale_with_ledger_row(), db.engine.dialect)[0]
    sweet, bob = api.sweet(quantity=2), api.user("bob")
    seen = _statements_and_modes(app, first_word=False)
    # Sold, sold with a key, the same key replayed (no sale), refused for short stock (tried).
    for quantity, key, status, sales in [(1, None, 200, 1), (1, "k-1", 200, 1), (1, "k-1", 200, 0),
                                         (5, None, 400, 1)]:
        seen.clear()
        assert buy(client, sweet, bob, quantity, key).status_code == status
        writes = [statement.split(" (")[0] for statement, _ in seen
                  if not statement.lstrip().upper().startswith(("SELECT", "PREPARE"))]
        assert writes == [f"EXECUTE {name}"] * sales
        assert all(autocommit for _, autocommit in seen), "every statement on the sale's connection"
    assert stock_and_ledger(app, sweet["id"]) == (0, 0, 3)


def test_the_sale_is_prepared_once_per_connection(app, client, api, backend):
    """On PostgreSQL the sale is a prepared statement: each pooled connection PREPAREs it at its
    first sale and only EXECUTEs it afterwards; a statement built anew (here: another low-stock
    line) is prepared under a name of its own."""
    if backend != "postgresql":
        pytest.skip("SQLite's sale is not prepared")
    from sqlalchemy import event

    from sweetshop.extensions import db
    seen = []

    def record(conn, cursor, statement, *args):
        seen.append((statement.split()[0], statement.split()[1], id(conn.connection.dbapi_connection)))
    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", record)
    sweet, bob = api.sweet(quantity=10), api.user("bob")
    for _ in range(4):
        assert buy(client, sweet, bob).status_code == 200
    app.config["LOW_STOCK_THRESHOLD"] = 3
    app.extensions.pop(inventory._PREPARED_SALE)
    assert buy(client, sweet, bob).status_code == 200
    prepares = [(name, connection) for word, name, connection in seen if word == "PREPARE"]
    executes = [name for word, name, _ in seen if word == "EXECUTE"]
    assert len(executes) == 5 and len(set(executes)) == 2
    assert len(prepares) == len(set(prepares)), "each connection prepares each statement once"
    assert {name for name, _ in prepares} <= set(executes)
    assert stock_and_ledger(app, sweet["id"]) == (5, 5, 6)


def test_only_the_sales_own_connection_commits_each_statement(app, backend):
    """A write added later to the purchase's way through the session stays in a transaction:
    the mode belongs to the connection ``selling()`` hands to the sale, not to the request."""
    from sweetshop.extensions import db
    with app.test_request_context(), inventory.selling() as connection:
        session_connection = db.session.connection().connection.dbapi_connection
        if backend == "postgresql":
            assert connection.connection.dbapi_connection.autocommit is True
            assert session_connection.autocommit is False
        else:
            assert connection is None  # SQLite sells in the session's transaction


def test_a_sale_committed_by_its_own_statement_is_answered_200_when_the_database_dies_after_it(
        app, client, api, backend):
    """The connection goes back to the pool without a round trip: the database dying just after
    the sale (here: its backend killed) cannot turn a committed sale into an error."""
    if backend != "postgresql":
        pytest.skip("only PostgreSQL's sale commits by its own statement")
    from sqlalchemy import event, text

    from sweetshop.extensions import db
    sweet, bob = api.sweet(quantity=10), api.user("bob")
    # Some sales first, so that the pool's connections have all been in and out of the mode once.
    assert [buy(client, sweet, bob).status_code for _ in range(3)] == [200] * 3

    def kill_after_sale(conn, cursor, statement, *args):
        if statement.startswith("WITH"):
            with db.engine.connect() as other:
                other.execute(text("SELECT pg_terminate_backend(:pid)"),
                              {"pid": cursor.connection.get_backend_pid()})
                other.commit()
    with app.app_context():
        event.listen(db.engine, "after_cursor_execute", kill_after_sale)
    response = buy(client, sweet, bob)
    with app.app_context():
        event.remove(db.engine, "after_cursor_execute", kill_after_sale)
    assert response.status_code == 200 and response.json["quantity"] == 6
    assert stock_and_ledger(app, sweet["id"]) == (6, 6, 5)
    assert buy(client, sweet, bob).status_code == 200  # the pool replaced the dead connection


# --- restock -----------------------------------------------------------------------------

def test_restock_adds_to_the_stock_and_the_ledger(app, client, api):
    sweet = api.sweet(quantity=0)
    response = restock(client, sweet, api.admin, 25)
    assert response.status_code == 200 and response.json == dict(sweet, quantity=25)
    assert restock(client, sweet, api.admin, 0).json["quantity"] == 25
    assert buy(client, sweet, api.user("bob"), 5).json["quantity"] == 20
    assert restock(client, sweet, api.admin, 1_000_000).json["quantity"] == 1_000_020
    assert stock_and_ledger(app, sweet["id"]) == (1_000_020, 1_000_020, 5)


def test_restock_needs_an_admin(app, client, api):
    sweet = api.sweet(quantity=1)
    customer = api.user("bob")
    before = snapshot(app)
    assert restock(client, sweet, customer, 5).json == {"detail": "Not authorized"}
    assert restock(client, sweet, {}, 5).status_code == 401
    assert snapshot(app) == before


def test_restock_beyond_the_stock_limit_is_refused(app, client, api):
    sweet = api.sweet(quantity=0)
    with app.app_context():
        inventory.restock(sweet["id"], None, STOCK_MAX - 10)
    before = snapshot(app)
    response = restock(client, sweet, api.admin, 11)
    assert response.status_code == 422 and "maximum" in response.json["detail"]
    assert snapshot(app) == before
    assert restock(client, sweet, api.admin, 10).json["quantity"] == STOCK_MAX


# --- Idempotency-Key ---------------------------------------------------------------------

def test_repeated_key_returns_the_first_outcome_and_sells_once(app, client, api):
    sweet = api.sweet(quantity=10)
    bob = api.user("bob")
    first = buy(client, sweet, bob, 3, key="order-1")
    assert first.status_code == 200 and first.json["quantity"] == 7
    restock(client, sweet, api.admin, 5)  # the repeat answers as the first did, not with 12
    for _ in range(3):
        again = buy(client, sweet, bob, 3, key="order-1")
        assert again.status_code == 200 and again.json == first.json
    assert stock_and_ledger(app, sweet["id"]) == (12, 12, 3)


def test_key_reused_with_other_parameters_is_422(app, client, api):
    sweet, other = api.sweet(name="A"), api.sweet(name="B")
    bob = api.user("bob")
    assert buy(client, sweet, bob, 2, key="k").status_code == 200
    before = snapshot(app)
    for target, quantity in [(sweet, 1), (other, 2), (sweet, None)]:
        response = buy(client, target, bob, quantity, key="k")
        assert response.status_code == 422 and "Idempotency-Key" in response.json["detail"]
    assert snapshot(app) == before


def test_keys_belong_to_each_user(app, client, api):
    sweet = api.sweet(quantity=10)
    bob, carol = api.user("bob"), api.user("carol")
    assert buy(client, sweet, bob, 1, key="same").json["quantity"] == 9
    assert buy(client, sweet, carol, 1, key="same").json["quantity"] == 8
    assert buy(client, sweet, bob, 1, key="other").json["quantity"] == 7
    assert stock_and_ledger(app, sweet["id"]) == (7, 7, 4)


def test_a_failed_purchase_leaves_its_key_free_to_retry(client, api):
    sweet = api.sweet(quantity=1)
    bob = api.user("bob")
    assert buy(client, sweet, bob, 2, key="retry-me").status_code == 400
    restock(client, sweet, api.admin, 1)
    assert buy(client, sweet, bob, 2, key="retry-me").json["quantity"] == 0
    assert buy(client, sweet, bob, 2, key="retry-me").json["quantity"] == 0


def test_without_a_key_every_request_buys(client, api):
    sweet = api.sweet(quantity=3)
    bob = api.user("bob")
    assert [buy(client, sweet, bob).json["quantity"] for _ in range(3)] == [2, 1, 0]


# --- purchase history --------------------------------------------------------------------

@pytest.fixture
def sales(client, api):
    """bob buys 1 Fudge then 2 Toffee; carol buys 3 Fudge. Returns the tokens."""
    fudge = api.sweet(name="Fudge", price=2.5, quantity=10)
    toffee = api.sweet(name="Toffee", price=1.2, quantity=10)
    bob, carol = api.user("bob"), api.user("carol")
    buy(client, fudge, bob, 1)
    buy(client, toffee, bob, 2)
    buy(client, fudge, carol, 3)
    return {"bob": bob, "carol": carol, "admin": api.admin, "fudge": fudge}


def test_purchases_lists_only_the_callers_newest_first(client, sales):
    response = client.get("/api/purchases", headers=sales["bob"])
    assert response.status_code == 200
    rows = response.json
    assert [(p["sweet_name"], p["quantity"], p["unit_price"], p["total"]) for p in rows] == [
        ("Toffee", 2, 1.2, 2.4), ("Fudge", 1, 2.5, 2.5)]
    assert {p["username"] for p in rows} == {"bob"}
    assert rows[0]["purchased_at"].endswith("Z") and rows[0]["id"] > rows[1]["id"]
    assert set(rows[0]) == {"id", "sweet_id", "sweet_name", "user_id", "username", "quantity",
                            "unit_price", "total", "purchased_at", "order_id"}
    assert {p["order_id"] for p in rows} == {None}  # single purchases belong to no order


def test_purchases_keep_the_price_paid(client, sales):
    client.patch(f"/api/sweets/{sales['fudge']['id']}", headers=sales["admin"], json={"price": 9})
    fudge = [p for p in client.get("/api/purchases", headers=sales["bob"]).json
             if p["sweet_name"] == "Fudge"]
    assert fudge[0]["unit_price"] == 2.5


def test_purchases_page(client, sales):
    assert [p["sweet_name"] for p in
            client.get("/api/purchases?skip=1&limit=1", headers=sales["bob"]).json] == ["Fudge"]
    assert client.get("/api/purchases?skip=2", headers=sales["bob"]).json == []


def test_admin_sees_everyones_purchases_with_all(client, sales):
    everyone = client.get("/api/purchases?all=1", headers=sales["admin"]).json
    assert [(p["username"], p["sweet_name"]) for p in everyone] == [
        ("carol", "Fudge"), ("bob", "Toffee"), ("bob", "Fudge")]
    assert client.get("/api/purchases", headers=sales["admin"]).json == []


def test_customer_may_not_use_all(app, client, sales):
    response = client.get("/api/purchases?all=1", headers=sales["carol"])
    assert response.status_code == 403 and response.json == {"detail": "Not authorized"}
    assert client.get("/api/purchases?all=0", headers=sales["carol"]).status_code == 200


def test_purchases_need_a_login(client):
    assert client.get("/api/purchases").status_code == 401
