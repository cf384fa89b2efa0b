"""``/api/openapi.json`` is a valid OpenAPI 3 document listing exactly the API's routes, truthfully."""
import re

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

# The document and the routes, not the database: SQLite only.
pytestmark = pytest.mark.databases("sqlite")

IGNORED_METHODS = {"HEAD", "OPTIONS"}


@pytest.fixture
def document(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200 and response.is_json
    return response.json


def openapi_path(rule):
    """A Flask rule as an OpenAPI path: ``/api/sweets/<id:sweet_id>`` -> ``/api/sweets/{sweet_id}``."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def test_document_is_valid_openapi_3(document):
    assert document["openapi"].startswith("3.")
    validate(document)


def test_document_lists_exactly_the_routes_under_api(app, document):
    routes = {(openapi_path(rule.rule), method.lower())
              for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/")
              for method in rule.methods - IGNORED_METHODS}
    documented = {(path, method) for path, item in document["paths"].items()
                  for method in item if method != "parameters"}
    assert routes - documented == set(), "routes missing from the document"
    assert documented - routes == set(), "documented operations with no route"


def test_path_parameters_match_the_rule_names(document):
    for path, item in document["paths"].items():
        names = set(re.findall(r"{([^}]+)}", path))
        for method, operation in item.items():
            if method == "parameters":
                continue
            params = item.get("parameters", []) + operation.get("parameters", [])
            declared = {p["name"] for p in params if p["in"] == "path"}
            assert declared == names, (path, method)


def conforms(document, schema_name, instance):
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": document["components"]}
    errors = list(Draft202012Validator(schema).iter_errors(instance))
    assert errors == [], [error.message for error in errors]


def test_real_responses_match_their_schemas(client, api, document):
    """The document tells the truth about what the API actually sends."""
    sweet = api.sweet()
    buyer = api.user("bob")
    conforms(document, "Sweet", client.get(f"/api/sweets/{sweet['id']}").json)
    conforms(document, "User", client.get("/api/auth/me", headers=buyer).json)
    conforms(document, "Token", client.post("/api/auth/login", data={
        "username": "bob", "password": "correct horse 1"}).json)
    client.post(f"/api/sweets/{sweet['id']}/purchase", headers=buyer)
    conforms(document, "Purchase", client.get("/api/purchases", headers=buyer).json[0])
    conforms(document, "Error", client.get("/api/sweets/999").json)
    conforms(document, "Error", client.post("/api/sweets", headers=api.admin, json={}).json)
    conforms(document, "SalesReport", client.get("/api/reports/sales", headers=api.admin).json)
    csv_headers = {**api.admin, "Content-Type": "text/csv"}
    body = b"name,category,price,quantity\nMint,Mints,1,2\n"
    conforms(document, "ImportResult", client.post("/api/sweets/import?dry_run=1", data=body,
                                                   headers=csv_headers).json)
    conforms(document, "ImportRejected", client.post("/api/sweets/import", data=body + b"Mint,Mints,1,2\n",
                                                     headers=csv_headers).json)
    conforms(document, "StockChanged", client.post(f"/api/sweets/{sweet['id']}/count", headers=api.admin,
                                                   json={"counted": 1, "seen": 12345}).json)


def test_request_schemas_refuse_what_the_api_refuses(document):
    """Spot checks that the documented request bodies carry the rules' limits."""
    create = {"name": "Fudge", "category": "Fudge", "price": 2.5, "quantity": 0}
    conforms(document, "SweetCreate", create)
    no_quantity = {"name": "Fudge", "category": "Fudge", "price": 2.5}
    for bad in [dict(create, price=0), dict(create, price=100000.01), dict(create, quantity=-1),
                dict(create, colour="red"), {"name": "Fudge"}, no_quantity]:
        schema = {"$ref": "#/components/schemas/SweetCreate", "components": document["components"]}
        assert not Draft202012Validator(schema).is_valid(bad), bad
    schema = {"$ref": "#/components/schemas/SweetUpdate", "components": document["components"]}
    assert not Draft202012Validator(schema).is_valid({"quantity": 5})
    conforms(document, "OrderCreate", {"items": [{"sweet_id": 1, "quantity": 1000}]})
    schema = {"$ref": "#/components/schemas/OrderCreate", "components": document["components"]}
    line = {"sweet_id": 1, "quantity": 1}
    for bad in [{"items": []}, {"items": [line] * 51}, {"items": [dict(line, quantity=0)]},
                {"items": [dict(line, quantity=1001)]}, {"items": [dict(line, colour="red")]},
                {"items": [line], "note": "x"}, {"items": [{"sweet_id": 1}]}]:
        assert not Draft202012Validator(schema).is_valid(bad), bad


def test_order_responses_match_their_schemas(client, api, document):
    fudge, toffee = api.sweet("Fudge", quantity=5), api.sweet("Toffee", quantity=1)
    buyer = api.user("bob")
    placed = client.post("/api/orders", headers=buyer, json={"items": [
        {"sweet_id": fudge["id"], "quantity": 2}, {"sweet_id": toffee["id"], "quantity": 1}]})
    assert placed.status_code == 201
    conforms(document, "Order", placed.json)
    conforms(document, "Order", client.get(placed.headers["Location"], headers=buyer).json)
    conforms(document, "Purchase", client.get("/api/purchases", headers=buyer).json[0])
    short = client.post("/api/orders", headers=buyer, json={"items": [{"sweet_id": toffee["id"],
                                                                       "quantity": 1}]})
    assert short.status_code == 400
    conforms(document, "InsufficientStock", short.json)
    missing = client.post("/api/orders", headers=buyer, json={"items": [{"sweet_id": 999, "quantity": 1}]})
    assert missing.status_code == 404
    conforms(document, "SweetsMissing", missing.json)
    cancelled = client.post(f"/api/orders/{placed.json['id']}/cancel", headers=buyer)
    assert cancelled.status_code == 200
    conforms(document, "Order", cancelled.json)
    conforms(document, "Order", client.get("/api/orders", headers=buyer).json[0])


def test_request_bodies_are_documented_from_the_bodies_the_api_validates_with(document):
    """The request schemas are made from ``rules.Body``: what the API checks is what it promises."""
    from sweetshop import rules
    documented = {
        ("/api/sweets", "post"): rules.NEW_SWEET, ("/api/sweets/{sweet_id}", "put"): rules.SWEET_CHANGES,
        ("/api/sweets/{sweet_id}", "patch"): rules.SWEET_CHANGES,
        ("/api/sweets/{sweet_id}/purchase", "post"): rules.PURCHASE,
        ("/api/sweets/{sweet_id}/restock", "post"): rules.RESTOCK,
        ("/api/sweets/{sweet_id}/count", "post"): rules.STOCK_COUNT,
        ("/api/auth/register", "post"): rules.REGISTER, ("/api/orders", "post"): rules.NEW_ORDER,
    }
    for (path, method), body in documented.items():
        schema = document["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
        if "$ref" in schema:
            schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        assert schema == body.schema(), (path, method)
    assert rules.PURCHASE.clean({}) == {"quantity": 1}  # the documented default is the one applied
