"""Every answer under /api is JSON, errors too; bad input gets a 4xx and changes nothing."""
import pytest
from support.dbstate import snapshot
from support.shop import ApiHelper, make_app

from sweetshop import create_app
from sweetshop.extensions import db
from sweetshop.models import Sweet

# Answers decided before any SQL (routing, parsing, validation, auth), so SQLite only; what
# the database decides (stock, unique names) is tested on both in the other API tests.
pytestmark = pytest.mark.databases("sqlite")

LONG = "x" * 101


def test_unknown_route_is_json_404(client):
    response = client.get("/api/no/such/thing")
    assert response.status_code == 404
    assert response.is_json and response.json == {"detail": "Not Found"}


def test_unknown_route_at_api_root_is_json(client):
    response = client.get("/api")
    assert response.status_code == 404 and response.is_json


def test_wrong_method_is_json_405_with_allow(client):
    response = client.delete("/api/sweets")
    assert response.status_code == 405
    assert response.is_json and response.json == {"detail": "Method Not Allowed"}
    assert {"GET", "POST"} <= {m.strip() for m in response.headers["Allow"].split(",")}


# An id past the INTEGER column must be a 404 on PostgreSQL too, not a 500 from the database.
@pytest.mark.databases("sqlite", "postgresql")
@pytest.mark.parametrize("path", ["/api/sweets/0", "/api/sweets/-1", "/api/sweets/99999999999",
                                  "/api/sweets/abc", "/api/sweets/1.5"])
def test_ids_that_cannot_exist_are_json_404(client, path):
    response = client.get(path)
    assert response.status_code == 404 and response.is_json and "detail" in response.json


def test_server_error_is_json_without_stack_trace_and_rolls_back(app_of_its_own):
    app = app_of_its_own

    @app.get("/api/test-explodes")
    def explode():
        db.session.add(Sweet(name="Half-made", category="Oops", price=1, quantity=1))
        db.session.flush()
        raise RuntimeError("secret internals 4711")

    before = snapshot(app)
    response = app.test_client().get("/api/test-explodes")
    assert response.status_code == 500
    assert response.is_json and response.json == {"detail": "Internal Server Error"}
    body = response.get_data(as_text=True)
    assert "4711" not in body and "Traceback" not in body
    assert snapshot(app) == before


def test_unauthenticated_is_json_401_with_bearer_challenge(client):
    response = client.post("/api/sweets", json={"name": "A", "category": "B", "price": 1})
    assert response.status_code == 401 and response.json == {"detail": "Not authenticated"}
    assert response.headers["WWW-Authenticate"] == "Bearer"


# --- bad input ------------------------------------------------------------------------
# (case id, method, path, who, request kwargs, expected status, field named in "errors" or None)
# "{id}" is a sweet on sale with 5 units, "{missing}" an id no sweet has.
# body: a Python value sent as JSON; raw: text sent as application/json as-is.

def _create(**fields):
    return dict({"name": "New", "category": "Toffee", "price": 1.25, "quantity": 3}, **fields)


POST, PUT, PATCH, GET = "POST", "PUT", "PATCH", "GET"
SWEETS, ONE, BUY, RESTOCK = "/api/sweets", "/api/sweets/{id}", "/api/sweets/{id}/purchase", \
    "/api/sweets/{id}/restock"
NOT_JSON = {"raw": "name=Fudge&price=1"}
PRICE_RAW = '{"name": "New", "category": "Toffee", "price": %s}'

BAD_INPUT = [
    # create
    ("create-not-json", POST, SWEETS, "admin", NOT_JSON, 422, None),
    ("create-empty-body", POST, SWEETS, "admin", {"raw": ""}, 422, None),
    ("create-json-array", POST, SWEETS, "admin", {"body": [_create()]}, 422, None),
    ("create-json-null", POST, SWEETS, "admin", {"raw": "null"}, 422, None),
    ("create-missing-price", POST, SWEETS, "admin", {"body": {"name": "A", "category": "B"}}, 422,
     "price"),
    ("create-price-abc", POST, SWEETS, "admin", {"body": _create(price="abc")}, 422, "price"),
    ("create-price-numeric-string", POST, SWEETS, "admin", {"body": _create(price="1.50")}, 422,
     "price"),
    ("create-price-true", POST, SWEETS, "admin", {"body": _create(price=True)}, 422, "price"),
    ("create-price-null", POST, SWEETS, "admin", {"body": _create(price=None)}, 422, "price"),
    ("create-price-nan", POST, SWEETS, "admin", {"raw": PRICE_RAW % "NaN"}, 422, None),
    ("create-price-infinity", POST, SWEETS, "admin", {"raw": PRICE_RAW % "Infinity"}, 422, None),
    ("create-price-minus-infinity", POST, SWEETS, "admin", {"raw": PRICE_RAW % "-Infinity"}, 422,
     None),
    ("create-price-1e400", POST, SWEETS, "admin", {"raw": PRICE_RAW % "1e400"}, 422, "price"),
    ("create-price-5000-digits", POST, SWEETS, "admin", {"raw": PRICE_RAW % ("9" * 5000)}, 422,
     None),
    ("create-price-too-big", POST, SWEETS, "admin", {"body": _create(price=100000.01)}, 422,
     "price"),
    ("create-price-3-decimals", POST, SWEETS, "admin", {"body": _create(price=1.005)}, 422,
     "price"),
    ("create-price-tiny", POST, SWEETS, "admin", {"raw": PRICE_RAW % "1e-400"}, 422, "price"),
    ("create-price-zero", POST, SWEETS, "admin", {"body": _create(price=0)}, 422, "price"),
    ("create-price-negative", POST, SWEETS, "admin", {"body": _create(price=-2)}, 422, "price"),
    ("create-quantity-float", POST, SWEETS, "admin", {"body": _create(quantity=2.5)}, 422,
     "quantity"),
    ("create-quantity-1e3", POST, SWEETS, "admin",
     {"raw": '{"name": "N", "category": "C", "price": 1, "quantity": 1e3}'}, 422, "quantity"),
    ("create-quantity-string", POST, SWEETS, "admin", {"body": _create(quantity="5")}, 422,
     "quantity"),
    ("create-quantity-true", POST, SWEETS, "admin", {"body": _create(quantity=True)}, 422,
     "quantity"),
    ("create-quantity-negative", POST, SWEETS, "admin", {"body": _create(quantity=-1)}, 422,
     "quantity"),
    ("create-quantity-huge", POST, SWEETS, "admin", {"body": _create(quantity=10 ** 30)}, 422,
     "quantity"),
    ("create-quantity-int32-overflow", POST, SWEETS, "admin", {"body": _create(quantity=2 ** 31)},
     422, "quantity"),
    ("create-name-too-long", POST, SWEETS, "admin", {"body": _create(name=LONG)}, 422, "name"),
    ("create-name-blank", POST, SWEETS, "admin", {"body": _create(name="   ")}, 422, "name"),
    ("create-name-number", POST, SWEETS, "admin", {"body": _create(name=42)}, 422, "name"),
    ("create-name-nul", POST, SWEETS, "admin", {"body": _create(name="Fu\x00dge")}, 422, "name"),
    ("create-name-lone-surrogate", POST, SWEETS, "admin",
     {"raw": '{"name": "\\ud800", "category": "C", "price": 1}'}, 422, "name"),
    ("create-category-too-long", POST, SWEETS, "admin", {"body": _create(category="c" * 51)}, 422,
     "category"),
    ("create-unknown-field", POST, SWEETS, "admin", {"body": _create(colour="red")}, 422, "colour"),
    ("create-id-field", POST, SWEETS, "admin", {"body": _create(id=1)}, 422, "id"),
    ("create-too-large-body", POST, SWEETS, "admin", {"raw": '"' + "x" * 70_000 + '"'}, 413, None),
    ("create-deep-nesting", POST, SWEETS, "admin", {"raw": "[" * 30_000 + "]" * 30_000}, 422, None),
    ("create-as-customer", POST, SWEETS, "user", {"body": _create()}, 403, None),
    ("create-anonymous", POST, SWEETS, None, {"body": _create()}, 401, None),
    # update
    ("update-quantity", PATCH, ONE, "admin", {"body": {"quantity": 50}}, 422, "quantity"),
    ("update-quantity-put", PUT, ONE, "admin", {"body": {"name": "Ok", "quantity": 50}}, 422,
     "quantity"),
    ("update-not-json", PATCH, ONE, "admin", NOT_JSON, 422, None),
    ("update-price-abc", PATCH, ONE, "admin", {"body": {"price": "abc"}}, 422, "price"),
    ("update-price-true", PATCH, ONE, "admin", {"body": {"price": True}}, 422, "price"),
    ("update-price-null", PATCH, ONE, "admin", {"body": {"price": None}}, 422, "price"),
    ("update-price-nan", PATCH, ONE, "admin", {"raw": '{"price": NaN}'}, 422, None),
    ("update-price-infinity", PUT, ONE, "admin", {"raw": '{"price": Infinity}'}, 422, None),
    ("update-price-huge", PATCH, ONE, "admin", {"raw": '{"price": 1e308}'}, 422, "price"),
    ("update-name-too-long", PATCH, ONE, "admin", {"body": {"name": LONG}}, 422, "name"),
    ("update-name-null", PATCH, ONE, "admin", {"body": {"name": None}}, 422, "name"),
    ("update-unknown-field", PATCH, ONE, "admin", {"body": {"archived_at": None}}, 422,
     "archived_at"),
    ("update-missing-sweet", PATCH, "/api/sweets/{missing}", "admin", {"body": {"name": "X"}}, 404,
     None),
    ("update-as-customer", PATCH, ONE, "user", {"body": {"name": "X"}}, 403, None),
    # purchase
    ("buy-quantity-zero", POST, BUY, "user", {"body": {"quantity": 0}}, 422, "quantity"),
    ("buy-quantity-too-many", POST, BUY, "user", {"body": {"quantity": 1001}}, 422, "quantity"),
    ("buy-quantity-negative", POST, BUY, "user", {"body": {"quantity": -1}}, 422, "quantity"),
    ("buy-quantity-string", POST, BUY, "user", {"body": {"quantity": "1"}}, 422, "quantity"),
    ("buy-quantity-true", POST, BUY, "user", {"body": {"quantity": True}}, 422, "quantity"),
    ("buy-quantity-null", POST, BUY, "user", {"body": {"quantity": None}}, 422, "quantity"),
    ("buy-quantity-fraction", POST, BUY, "user", {"body": {"quantity": 1.5}}, 422, "quantity"),
    ("buy-quantity-nan", POST, BUY, "user", {"raw": '{"quantity": NaN}'}, 422, None),
    ("buy-quantity-huge", POST, BUY, "user", {"raw": '{"quantity": 1e400}'}, 422, "quantity"),
    ("buy-not-json", POST, BUY, "user", NOT_JSON, 422, None),
    ("buy-json-array", POST, BUY, "user", {"body": [1]}, 422, None),
    ("buy-unknown-field", POST, BUY, "user", {"body": {"quantity": 1, "price": 0.01}}, 422, "price"),
    ("buy-key-too-long", POST, BUY, "user", {"body": {}, "key": "k" * 65}, 422, "Idempotency-Key"),
    ("buy-key-not-ascii", POST, BUY, "user", {"body": {}, "key": "café"}, 422, "Idempotency-Key"),
    ("buy-more-than-stock", POST, BUY, "user", {"body": {"quantity": 6}}, 400, None),
    ("buy-missing-sweet", POST, "/api/sweets/{missing}/purchase", "user", {"body": {}}, 404, None),
    ("buy-anonymous", POST, BUY, None, {"body": {}}, 401, None),
    # restock
    ("restock-missing-quantity", POST, RESTOCK, "admin", {"body": {}}, 422, "quantity"),
    ("restock-empty-body", POST, RESTOCK, "admin", {"raw": ""}, 422, None),
    ("restock-negative", POST, RESTOCK, "admin", {"body": {"quantity": -5}}, 422, "quantity"),
    ("restock-too-many", POST, RESTOCK, "admin", {"body": {"quantity": 1_000_001}}, 422, "quantity"),
    ("restock-string", POST, RESTOCK, "admin", {"body": {"quantity": "abc"}}, 422, "quantity"),
    ("restock-true", POST, RESTOCK, "admin", {"body": {"quantity": True}}, 422, "quantity"),
    ("restock-null", POST, RESTOCK, "admin", {"body": {"quantity": None}}, 422, "quantity"),
    ("restock-fraction", POST, RESTOCK, "admin", {"body": {"quantity": 2.5}}, 422, "quantity"),
    ("restock-infinity", POST, RESTOCK, "admin", {"raw": '{"quantity": Infinity}'}, 422, None),
    ("restock-not-json", POST, RESTOCK, "admin", NOT_JSON, 422, None),
    ("restock-as-customer", POST, RESTOCK, "user", {"body": {"quantity": 5}}, 403, None),
    ("restock-missing-sweet", POST, "/api/sweets/{missing}/restock", "admin",
     {"body": {"quantity": 5}}, 404, None),
    # accounts
    ("register-not-json", POST, "/api/auth/register", None, NOT_JSON, 422, None),
    ("register-short-username", POST, "/api/auth/register", None,
     {"body": {"username": "ab", "password": "long enough 1"}}, 422, "username"),
    ("register-long-username", POST, "/api/auth/register", None,
     {"body": {"username": "a" * 33, "password": "long enough 1"}}, 422, "username"),
    ("register-username-spaces", POST, "/api/auth/register", None,
     {"body": {"username": "bad name", "password": "long enough 1"}}, 422, "username"),
    ("register-username-number", POST, "/api/auth/register", None,
     {"body": {"username": 12345, "password": "long enough 1"}}, 422, "username"),
    ("register-short-password", POST, "/api/auth/register", None,
     {"body": {"username": "newbie", "password": "short"}}, 422, "password"),
    ("register-long-password", POST, "/api/auth/register", None,
     {"body": {"username": "newbie", "password": "p" * 129}}, 422, "password"),
    ("register-password-null", POST, "/api/auth/register", None,
     {"body": {"username": "newbie", "password": None}}, 422, "password"),
    ("register-password-surrogate", POST, "/api/auth/register", None,
     {"raw": '{"username": "newbie", "password": "pass\\udc80word"}'}, 422, "password"),
    ("register-full-name-too-long", POST, "/api/auth/register", None,
     {"body": {"username": "newbie", "password": "long enough 1", "full_name": LONG}}, 422,
     "full_name"),
    ("register-full-name-nul", POST, "/api/auth/register", None,
     {"body": {"username": "newbie", "password": "long enough 1", "full_name": "A\x00B"}}, 422,
     "full_name"),
    ("register-is-admin", POST, "/api/auth/register", None,
     {"body": {"username": "newbie", "password": "long enough 1", "is_admin": True}}, 422, "is_admin"),
    ("register-taken-other-case", POST, "/api/auth/register", None,
     {"body": {"username": "CUSTOMER", "password": "long enough 1"}}, 400, None),
    ("login-not-json", POST, "/api/auth/login", None, NOT_JSON, 422, None),
    ("login-json-array", POST, "/api/auth/login", None, {"body": ["customer"]}, 422, None),
    ("login-missing-password", POST, "/api/auth/login", None, {"form": {"username": "customer"}},
     422, "password"),
    ("login-username-number", POST, "/api/auth/login", None,
     {"body": {"username": 1, "password": "long enough 1"}}, 422, "username"),
    ("login-username-nul", POST, "/api/auth/login", None,
     {"body": {"username": "custo\x00mer", "password": "long enough 1"}}, 401, None),
    ("login-username-surrogate", POST, "/api/auth/login", None,
     {"raw": '{"username": "\\ud800", "password": "long enough 1"}'}, 401, None),
    ("login-password-surrogate", POST, "/api/auth/login", None,
     {"raw": '{"username": "customer", "password": "\\ud800\\ud800\\ud800"}'}, 401, None),
    ("login-username-huge", POST, "/api/auth/login", None,
     {"body": {"username": "u" * 10_000, "password": "long enough 1"}}, 401, None),
    ("logout-anonymous", POST, "/api/auth/logout", None, {}, 401, None),
    ("me-bad-token", GET, "/api/auth/me", "bogus", {}, 401, None),
    # paging and search
    ("list-skip-negative", GET, "/api/sweets?skip=-1", None, {}, 422, "skip"),
    ("list-skip-text", GET, "/api/sweets?skip=abc", None, {}, 422, "skip"),
    ("list-skip-fraction", GET, "/api/sweets?skip=1.5", None, {}, 422, "skip"),
    ("list-skip-underscore", GET, "/api/sweets?skip=1_0", None, {}, 422, "skip"),
    ("list-skip-fullwidth-digit", GET, "/api/sweets?skip=%EF%BC%91", None, {}, 422, "skip"),
    ("list-skip-huge", GET, "/api/sweets?skip=99999999999999999999", None, {}, 422, "skip"),
    ("list-limit-zero", GET, "/api/sweets?limit=0", None, {}, 422, "limit"),
    ("list-limit-101", GET, "/api/sweets?limit=101", None, {}, 422, "limit"),
    ("list-limit-empty", GET, "/api/sweets?limit=", None, {}, 422, "limit"),
    ("search-min-abc", GET, "/api/sweets/search?min_price=abc", None, {}, 422, "min_price"),
    ("search-min-nan", GET, "/api/sweets/search?min_price=NaN", None, {}, 422, "min_price"),
    ("search-max-infinity", GET, "/api/sweets/search?max_price=Infinity", None, {}, 422,
     "max_price"),
    ("search-min-negative", GET, "/api/sweets/search?min_price=-1", None, {}, 422, "min_price"),
    ("search-max-huge", GET, "/api/sweets/search?max_price=1e999999", None, {}, 422, "max_price"),
    ("search-min-tiny", GET, "/api/sweets/search?min_price=1e-999999999", None, {}, 422,
     "min_price"),
    ("search-min-3-decimals", GET, "/api/sweets/search?min_price=0.001", None, {}, 422, "min_price"),
    ("search-min-underscore", GET, "/api/sweets/search?min_price=1_0", None, {}, 422, "min_price"),
    ("search-min-above-max", GET, "/api/sweets/search?min_price=5&max_price=1", None, {}, 422,
     "min_price"),
    ("search-name-too-long", GET, "/api/sweets/search?name=" + LONG, None, {}, 422, "name"),
    ("search-name-nul", GET, "/api/sweets/search?name=a%00", None, {}, 422, "name"),
    ("search-category-nul", GET, "/api/sweets/search?category=%00", None, {}, 422, "category"),
    ("search-bad-limit", GET, "/api/sweets/search?limit=1000", None, {}, 422, "limit"),
    ("purchases-bad-skip", GET, "/api/purchases?skip=-3", "user", {}, 422, "skip"),
    ("purchases-all-as-customer", GET, "/api/purchases?all=1", "user", {}, 403, None),
]


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """One shop for the whole table, as ``(app, world)``: a sweet with 5 units, an admin and a
    customer, each with a token. Every row asserts it changed nothing, so the rows can share it."""
    app = make_app(f"sqlite:///{tmp_path_factory.mktemp('bad-input')}/shop.sqlite")
    with app.app_context():
        db.create_all()
    api = ApiHelper(app.test_client())
    sweet = api.sweet(name="Fudge", quantity=5)
    world = {"admin": api.admin, "user": api.user("customer", password="long enough 1"),
             "bogus": {"Authorization": "Bearer not-a-token"}, None: {}, "id": sweet["id"],
             "missing": sweet["id"] + 1000}
    yield app, world
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize("method, path, who, request_args, status, field",
                         [case[1:] for case in BAD_INPUT], ids=[case[0] for case in BAD_INPUT])
def test_bad_input_gets_4xx_json_and_changes_nothing(shop, method, path, who, request_args, status, field):
    app, world = shop
    headers = dict(world[who])
    kwargs = {}
    if "key" in request_args:
        headers["Idempotency-Key"] = request_args["key"]
    if "body" in request_args:
        kwargs["json"] = request_args["body"]
    elif "raw" in request_args:
        kwargs.update(data=request_args["raw"], content_type="application/json")
    elif "form" in request_args:
        kwargs["data"] = request_args["form"]
    before = snapshot(app)

    response = app.test_client().open(path.format(**world), method=method, headers=headers, **kwargs)

    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert response.is_json
    assert isinstance(response.json["detail"], str) and response.json["detail"]
    if field is not None:
        assert field in response.json["errors"], response.json
    assert snapshot(app) == before


def test_bad_input_table_covers_every_route():
    """Each /api route that takes input appears in the bad-input table."""
    covered = {(method, path.split("?")[0].replace("{missing}", "{id}")) for _, method, path, *_
               in BAD_INPUT}
    for needed in [(POST, SWEETS), (PUT, ONE), (PATCH, ONE), (POST, BUY), (POST, RESTOCK),
                   (POST, "/api/auth/register"), (POST, "/api/auth/login"), (GET, SWEETS),
                   (GET, "/api/sweets/search"), (GET, "/api/purchases")]:
        assert needed in covered, needed


def test_health_answers_ok_after_a_database_round_trip(client):
    response = client.get("/api/health")
    assert response.status_code == 200 and response.json == {"status": "ok"}


@pytest.mark.parametrize("url", [
    "postgresql://postgres@127.0.0.1:1/sweetshop",   # nothing listens on port 1
    "sqlite:////nonexistent-directory/sweetshop.sqlite",
])
@pytest.mark.parametrize("path", ["/api/health", "/api/sweets", "/api/sweets/search?name=x"])
def test_unreachable_database_is_a_json_503_not_a_500(url, path):
    app = create_app({"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": url})
    response = app.test_client().get(path)
    assert response.status_code == 503 and response.is_json
    assert response.json["detail"] and response.headers["Retry-After"] == "5"
    with app.app_context():
        db.engine.dispose()
