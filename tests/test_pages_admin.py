"""Admin pages: who may see them, the stock table, sweet forms, restock, archive, history, make admin."""
import re

import pytest
from pages_support import Pages, field_error, flashes, input_value

from sweetshop import accounts, catalog


@pytest.fixture
def pages(client):
    return Pages(client)


def row(page, sweet_id):
    match = re.search(rf'<tr id="sweet-{sweet_id}" class="([^"]*)">(.*?)</tr>', page.text, re.S)
    assert match, f"no row for sweet {sweet_id}"
    return match.group(1), match.group(2)


@pytest.mark.parametrize("path", ["/admin", "/admin/sweets/new", "/admin/sweets/1/edit",
                                  "/admin/sweets/1/archive", "/admin/sweets/1"])
def test_admin_pages_send_anonymous_users_to_log_in_and_refuse_customers(pages, path):
    pages.sweet()
    response = pages.client.get(path)
    assert response.status_code == 302 and response.location.startswith("/login?next=")
    pages.customer()
    response = pages.client.get(path)
    assert response.status_code == 403 and "text/html" in response.content_type
    assert "This page is for shop staff only." in response.text


def test_customer_posts_to_admin_forms_are_refused_and_change_nothing(pages):
    fudge = pages.sweet(quantity=4)
    pages.customer()
    assert pages.post(f"/admin/sweets/{fudge}/restock", {"quantity": "5"}).status_code == 403
    assert pages.post(f"/admin/sweets/{fudge}/archive").status_code == 403
    assert pages.post("/admin/admins", {"username": "carol"}).status_code == 403
    assert pages.stock(fudge) == 4
    with pages.app.app_context():
        assert not accounts.find_user("carol").is_admin


def test_stock_table_highlights_low_stock(pages):
    low = pages.sweet("Fudge Square", quantity=5)
    plenty = pages.sweet("Gummy Bears", quantity=6)
    pages.admin()
    page = pages.client.get("/admin")
    assert page.status_code == 200
    assert row(page, low)[0] == "low" and "Low" in row(page, low)[1]
    assert row(page, plenty)[0] == ""
    assert f'action="/admin/sweets/{low}/restock"' in page.text  # a restock form on every row
    pages.app.config["LOW_STOCK_THRESHOLD"] = 2
    assert row(pages.client.get("/admin"), low)[0] == ""


def test_add_a_sweet(pages):
    pages.admin()
    response = pages.post("/admin/sweets/new", {"name": "  Sea Salt Caramel ", "category": "Toffee",
                                                "price": "2.75", "quantity": "30"})
    assert response.status_code == 302 and response.location == "/admin"
    assert ("success", "Added Sea Salt Caramel with 30 in stock.") in flashes(pages.client.get("/admin"))
    with pages.app.app_context():
        (sweet,) = catalog.search_sweets(name="caramel")
        assert (sweet.name, sweet.category, str(sweet.price), sweet.quantity) == \
            ("Sea Salt Caramel", "Toffee", "2.75", 30)
    assert pages.history(sweet.id) == [("initial", 30, "boss")]


def test_invalid_sweet_is_shown_again_with_the_same_messages_as_the_api(pages, api):
    pages.admin()
    typed = {"name": "", "category": "x" * 51, "price": "1.234", "quantity": "-1"}
    response = pages.post("/admin/sweets/new", typed)
    assert response.status_code == 422
    page_errors = {field: field_error(response, field) for field in ("name", "category", "price", "quantity")}
    assert input_value(response, "category") == typed["category"]
    assert input_value(response, "price") == "1.234"
    # One definition of valid: the API says the same about the same values.
    api_response = pages.client.post("/api/sweets", headers=api.admin, json={
        "name": "", "category": "x" * 51, "price": 1.234, "quantity": -1})
    assert api_response.status_code == 422
    assert page_errors == {field: messages[0] for field, messages in api_response.json["errors"].items()}
    with pages.app.app_context():
        assert catalog.count_sweets() == 0


def test_edit_a_sweet(pages):
    fudge = pages.sweet("Fudge", "Fudge", "2.50", quantity=7)
    pages.admin()
    form = pages.client.get(f"/admin/sweets/{fudge}/edit")
    assert input_value(form, "price") == "2.50" and input_value(form, "name") == "Fudge"
    response = pages.post(f"/admin/sweets/{fudge}/edit", {"name": "Vanilla Fudge", "category": "Fudge",
                                                          "price": "3.10"})
    assert response.status_code == 302
    with pages.app.app_context():
        sweet = catalog.get_sweet(fudge)
        assert (sweet.name, str(sweet.price), sweet.quantity) == ("Vanilla Fudge", "3.10", 7)
    bad = pages.post(f"/admin/sweets/{fudge}/edit", {"name": "Vanilla Fudge", "category": "Fudge",
                                                     "price": "0"})
    assert bad.status_code == 422 and field_error(bad, "price") == "Must be greater than 0."
    assert pages.client.get("/admin/sweets/999/edit").status_code == 404


def test_restock_from_the_table(pages):
    fudge = pages.sweet("Fudge", quantity=2)
    pages.admin()
    response = pages.post(f"/admin/sweets/{fudge}/restock", {"quantity": "10"})
    assert response.status_code == 302
    assert ("success", "Restocked Fudge: +10, now 12.") in flashes(pages.client.get("/admin"))
    assert pages.history(fudge)[-1] == ("restock", 10, "boss")

    bad = pages.post(f"/admin/sweets/{fudge}/restock", {"quantity": "-3"})
    assert bad.status_code == 422
    assert field_error(bad, f"restock-{fudge}") == "Must be between 0 and 1000000."
    assert input_value(bad, f"restock-{fudge}") == "-3"
    assert pages.stock(fudge) == 12


def test_archive_asks_first_and_keeps_the_history(pages):
    fudge = pages.sweet("Fudge", quantity=3)
    pages.admin()
    confirm = pages.client.get(f"/admin/sweets/{fudge}/archive")
    assert confirm.status_code == 200 and "Archive Fudge?" in confirm.text
    assert pages.stock(fudge) == 3  # asking changed nothing
    assert pages.post(f"/admin/sweets/{fudge}/archive", csrf=False).status_code == 400
    response = pages.post(f"/admin/sweets/{fudge}/archive")
    assert response.status_code == 302
    assert "Fudge</a></h2>" not in pages.client.get("/").text
    admin_page = pages.client.get("/admin")
    assert f'id="sweet-{fudge}"' not in admin_page.text and "Archived sweets (1)" in admin_page.text
    history = pages.client.get(f"/admin/sweets/{fudge}")
    assert history.status_code == 200 and "archived" in history.text and "Initial stock" in history.text
    assert pages.client.get(f"/admin/sweets/{fudge}/archive").status_code == 404


def test_stock_history_says_when_what_how_many_and_who(pages):
    fudge = pages.sweet("Fudge", price="2.50", quantity=3)
    pages.customer("carol")
    form = pages.buy_form(pages.client.get("/").text, fudge)
    pages.client.post(f"/sweets/{fudge}/buy", data=dict(form, quantity="2"))
    pages.post("/logout")
    pages.admin()
    pages.post(f"/admin/sweets/{fudge}/restock", {"quantity": "4"})
    page = pages.client.get(f"/admin/sweets/{fudge}")
    rows = re.findall(r'<tr class="kind-\w+">(.*?)</tr>', page.text, re.S)
    cells = [re.findall(r'<td data-label="[^"]+"[^>]*>(.*?)</td>', row) for row in rows]
    assert [cell[1:] for cell in cells] == [
        ["Restock", "+4", "5", "—", "boss"],
        ["Purchase", "-2", "1", "£2.50", "carol"],
        ["Initial stock", "+3", "3", "—", "—"],
    ]
    assert all(cell[0].endswith("UTC") for cell in cells)
    assert pages.client.get("/admin/sweets/999").status_code == 404


def test_make_another_user_an_admin(pages):
    pages.register("carol")
    pages.admin()
    unknown = pages.post("/admin/admins", {"username": "nobody"})
    assert unknown.status_code == 422 and field_error(unknown, "username") == "No user with that name."
    response = pages.post("/admin/admins", {"username": "Carol"})
    assert response.status_code == 302
    assert ("success", "carol is now an admin.") in flashes(pages.client.get("/admin"))
    with pages.app.app_context():
        assert accounts.find_user("carol").is_admin
