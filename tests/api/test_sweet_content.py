"""Catalogue content: a sweet's description, unit and allergens in the API, and sorting the catalogue."""
import pytest

from sweetshop.rules import ALLERGENS


def create(client, api, **fields):
    body = {"name": "Fudge", "category": "Fudge", "price": 2.5, "quantity": 0, **fields}
    return client.post("/api/sweets", headers=api.admin, json=body)


def test_content_is_optional_on_create_with_defaults(client, api):
    sweet = create(client, api).json
    assert (sweet["description"], sweet["unit"], sweet["allergens"], sweet["photo_url"]) == (
        "", "each", [], None)


def test_create_with_content_keeps_line_breaks_and_sorts_allergens(client, api):
    response = create(client, api, description="Soft and crumbly.\r\nMade in Cornwall.\n",
                      unit=" per 100 g ", allergens=["Soya", "milk", "milk"])
    assert response.status_code == 201, response.json
    sweet = client.get(f"/api/sweets/{response.json['id']}").json
    assert sweet["description"] == "Soft and crumbly.\nMade in Cornwall."
    assert sweet["unit"] == "per 100 g"
    assert sweet["allergens"] == ["milk", "soya"]


def test_every_one_of_the_14_allergens_is_accepted(client, api):
    assert len(ALLERGENS) == 14
    response = create(client, api, allergens=list(reversed(ALLERGENS)))
    assert response.status_code == 201 and response.json["allergens"] == list(ALLERGENS)


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
def test_content_is_editable_and_other_fields_stay(client, api, method):
    sweet = create(client, api, description="Old", allergens=["milk"]).json
    response = client.open(f"/api/sweets/{sweet['id']}", method=method, headers=api.admin,
                           json={"unit": "per bag", "allergens": []})
    assert response.status_code == 200
    assert response.json == dict(sweet, unit="per bag", allergens=[])
    cleared = client.patch(f"/api/sweets/{sweet['id']}", headers=api.admin, json={"description": None})
    assert cleared.json["description"] == ""


def test_purchase_and_restock_answer_with_the_content_too(client, api):
    sweet = create(client, api, quantity=5, unit="per bag", allergens=["eggs"]).json
    bought = client.post(f"/api/sweets/{sweet['id']}/purchase", headers=api.user("bob"),
                         json={"quantity": 2}).json
    assert bought == dict(sweet, quantity=3)
    restocked = client.post(f"/api/sweets/{sweet['id']}/restock", headers=api.admin, json={"quantity": 1})
    assert restocked.json == dict(sweet, quantity=4)


@pytest.mark.parametrize("fields, field", [
    ({"description": "x" * 2001}, "description"),
    ({"description": "bell\x07"}, "description"),
    ({"description": 5}, "description"),
    ({"unit": ""}, "unit"),
    ({"unit": "   "}, "unit"),
    ({"unit": "x" * 31}, "unit"),
    ({"unit": "per\nbag"}, "unit"),
    ({"unit": None}, "unit"),
    ({"allergens": "milk"}, "allergens"),
    ({"allergens": ["milk", "chocolate"]}, "allergens"),
    ({"allergens": [1]}, "allergens"),
    ({"allergens": None}, "allergens"),
])
def test_bad_content_is_422_and_nothing_changes(client, api, fields, field):
    sweet = create(client, api).json
    response = create(client, api, name="Other", **fields)
    assert response.status_code == 422 and field in response.json["errors"], response.json
    edit = client.patch(f"/api/sweets/{sweet['id']}", headers=api.admin, json=fields)
    assert edit.status_code == 422 and field in edit.json["errors"]
    assert client.get(f"/api/sweets/{sweet['id']}").json == sweet
    assert len(client.get("/api/sweets").json) == 1


def test_description_of_2000_characters_is_accepted(client, api):
    response = create(client, api, description="é" * 2000)
    assert response.status_code == 201 and len(response.json["description"]) == 2000


# --- sorting -------------------------------------------------------------------------------

@pytest.fixture
def shelf(client, api):
    """Sweets in creation order, with two price ties and names in mixed case."""
    made = {}
    for name, price in [("toffee", 1.5), ("Apple Drop", 0.9), ("mint", 1.5), ("Bonbon", 3.0),
                        ("Zest", 0.9)]:
        made[name] = create(client, api, name=name, price=price).json["id"]
    return made


def names(response):
    assert response.status_code == 200, response.json
    return [sweet["name"] for sweet in response.json]


@pytest.mark.parametrize("path", ["/api/sweets", "/api/sweets/search"])
@pytest.mark.parametrize("sort, expected", [
    (None, ["toffee", "Apple Drop", "mint", "Bonbon", "Zest"]),
    ("name", ["Apple Drop", "Bonbon", "mint", "toffee", "Zest"]),
    ("price", ["Apple Drop", "Zest", "toffee", "mint", "Bonbon"]),
    ("-price", ["Bonbon", "mint", "toffee", "Zest", "Apple Drop"]),
    ("newest", ["Zest", "Bonbon", "mint", "Apple Drop", "toffee"]),
])
def test_sort_orders_with_ties_broken_by_id(client, shelf, path, sort, expected):
    query = "" if sort is None else f"?sort={sort.replace('-', '%2D')}"
    assert names(client.get(path + query)) == expected


def test_sort_pages_stably_and_combines_with_filters(client, shelf):
    pages = [names(client.get(f"/api/sweets?sort=price&limit=2&skip={skip}")) for skip in (0, 2, 4)]
    assert sum(pages, []) == ["Apple Drop", "Zest", "toffee", "mint", "Bonbon"]
    found = client.get("/api/sweets/search?max_price=1.5&sort=-price")
    assert names(found) == ["mint", "toffee", "Zest", "Apple Drop"]


@pytest.mark.parametrize("path", ["/api/sweets", "/api/sweets/search"])
@pytest.mark.parametrize("sort", ["NAME", "id", "price desc", "-name", "newest;drop"])
def test_unknown_sort_is_422(client, shelf, path, sort):
    response = client.get(path, query_string={"sort": sort})
    assert response.status_code == 422 and "sort" in response.json["errors"]
