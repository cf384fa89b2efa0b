"""Admin pages: who may see them, the stock table, sweet forms, restock, archive, history, make admin."""
import re

import pytest
from support.pages import Pages, field_error, flashes, form_fields, input_value, text_of

from sweetshop import accounts, catalog

# Forms, sessions and templates: the SQL under them runs on both databases in tests/domain and
# tests/api, so these run on SQLite only (docs/testing.md).
pytestmark = pytest.mark.databases("sqlite")


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
    pages.add(fudge, 2)
    order_id = int(pages.place().location.rsplit("/", 1)[1])
    pages.post(f"/orders/{order_id}/cancel")
    pages.add(fudge, 2)
    second = int(pages.place().location.rsplit("/", 1)[1])
    pages.post("/logout")
    pages.admin()
    pages.post(f"/admin/sweets/{fudge}/restock", {"quantity": "4"})
    page = pages.client.get(f"/admin/sweets/{fudge}")
    rows = re.findall(r'<tr class="kind-\w+">(.*?)</tr>', page.text, re.S)
    cells = [[" ".join(re.sub("<[^>]+>", "", cell).split())
              for cell in re.findall(r'<td data-label="[^"]+"[^>]*>(.*?)</td>', row, re.S)] for row in rows]
    assert [cell[1:] for cell in cells] == [
        ["Restock", "+4", "5", "—", "boss"],
        [f"Purchase (order #{second})", "-2", "1", "£2.50", "carol"],
        [f"Return (order #{order_id}, cancelled)", "+2", "3", "—", "carol"],
        [f"Purchase (order #{order_id})", "-2", "1", "£2.50", "carol"],
        ["Initial stock", "+3", "3", "—", "—"],
    ]
    assert all(cell[0].endswith("GMT") or cell[0].endswith("BST") for cell in cells)  # Europe/London
    pages.app.config["SHOP_TIMEZONE"] = "Asia/Tokyo"
    assert "JST" in pages.client.get(f"/admin/sweets/{fudge}").text
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


def test_a_duplicate_name_is_refused_by_the_field(pages):
    pages.sweet("Fudge")
    toffee = pages.sweet("Toffee")
    pages.admin()
    created = pages.post("/admin/sweets/new", {"name": " FUDGE ", "category": "Fudge", "price": "2.00",
                                               "quantity": "5"})
    assert created.status_code == 422
    assert field_error(created, "name") == "A sweet on sale already has this name."
    assert input_value(created, "name") == "FUDGE" and input_value(created, "quantity") == "5"
    renamed = pages.post(f"/admin/sweets/{toffee}/edit", {"name": "fudge", "category": "Toffee",
                                                          "price": "1.00"})
    assert renamed.status_code == 422
    assert field_error(renamed, "name") == "A sweet on sale already has this name."
    assert input_value(renamed, "name") == "fudge"
    with pages.app.app_context():
        assert [s.name for s in catalog.all_sweets()] == ["Fudge", "Toffee"]
        assert str(catalog.get_sweet(toffee).price) == "2.50"


def test_restore_an_archived_sweet_unless_its_name_is_taken(pages):
    fudge = pages.sweet("Fudge", quantity=3)
    toffee = pages.sweet("Toffee", quantity=4)
    pages.admin()
    pages.post(f"/admin/sweets/{fudge}/archive")
    pages.post(f"/admin/sweets/{toffee}/archive")
    pages.sweet("TOFFEE", quantity=1)  # a new sweet on sale takes the archived one's name
    page = pages.client.get("/admin")
    assert "Fudge archived" in text_of(page, f"archived-{fudge}")
    assert pages.client.post(f"/admin/sweets/{fudge}/restore").status_code == 400  # no CSRF token
    restored = pages.client.post(f"/admin/sweets/{fudge}/restore",
                                 data=form_fields(page.text, f"/admin/sweets/{fudge}/restore"))
    assert restored.status_code == 302 and restored.location == f"/admin#sweet-{fudge}"
    assert flashes(pages.client.get("/admin")) == [
        ("success", "Restored Fudge: on sale again with 3 in stock.")]
    assert pages.stock(fudge) == 3
    assert f'<h2><a href="/sweets/{fudge}">Fudge</a></h2>' in pages.client.get("/").text
    taken = pages.post(f"/admin/sweets/{toffee}/restore")
    assert taken.status_code == 422
    assert field_error(taken, f"restore-{toffee}") == "A sweet on sale already has this name."
    with pages.app.app_context():
        assert [s.name for s in catalog.all_sweets()] == ["Fudge", "TOFFEE"]
    assert pages.post(f"/admin/sweets/{fudge}/restore").status_code == 404  # on sale already
    assert pages.post("/admin/sweets/999/restore").status_code == 404


def _order(pages, username, *lines):
    pages.customer(username)
    for sweet_id, quantity in lines:
        pages.add(sweet_id, quantity)
    order_id = int(pages.place().location.rsplit("/", 1)[1])
    pages.post("/logout")
    return order_id


def test_admin_orders_open_on_to_pack_oldest_first_with_a_tab_per_state(pages):
    fudge = pages.sweet("Fudge", price="2.50", quantity=20)
    toffee = pages.sweet("Toffee", price="1.25", quantity=20)
    first = _order(pages, "carol", (fudge, 2), (toffee, 1))
    second = _order(pages, "dave", (toffee, 4))
    pages.customer("erin")
    assert pages.client.get("/admin/orders").status_code == 403
    pages.post("/logout")
    pages.admin()
    page = pages.client.get("/admin/orders")
    assert page.status_code == 200
    assert re.findall(r'<li class="order" id="order-(\d+)">', page.text) == [str(first), str(second)]
    assert re.search(r'<a href="/admin/orders" aria-current="page">To pack <span class="tab-count">2</span>',
                     page.text)
    assert "2 orders, oldest first" in page.text
    everything = pages.client.get("/admin/orders?status=all")
    assert re.findall(r'<li class="order" id="order-(\d+)">', everything.text) == [str(second), str(first)]
    shown = text_of(page, f"order-{first}")
    assert "carol" in shown and "Fudge 2 £2.50 £5.00 Toffee 1 £1.25 £1.25" in shown
    assert text_of(page, f"order-{first}-total") == "£6.25"
    pages.post(f"/admin/orders/{first}/cancel")
    cancelled = pages.client.get("/admin/orders?status=cancelled")
    assert re.findall(r'id="order-(\d+)"', cancelled.text) == [str(first)]
    placed = pages.client.get("/admin/orders?status=placed")
    assert re.findall(r'id="order-(\d+)"', placed.text) == [str(second)]
    pages.app.config["ORDERS_PAGE_SIZE"] = 1
    third = _order(pages, "gina", (fudge, 1))
    pages.admin("boss2")
    paged = pages.client.get("/admin/orders?status=placed")
    assert "2 orders, oldest first, page 1 of 2" in paged.text
    assert 'href="/admin/orders?status=placed&amp;page=2"' in paged.text
    assert re.findall(r'id="order-(\d+)"', paged.text) == [str(second)]
    assert re.findall(r'id="order-(\d+)"', pages.client.get("/admin/orders?status=placed&page=2").text) == [
        str(third)]
    bad = pages.client.get("/admin/orders?status=lost")
    assert bad.status_code == 422
    assert field_error(bad, "status") == "There is no such list of orders: showing all of them."
    assert "3 orders" in bad.text  # unfiltered, with the message


def test_admin_cancels_any_order_after_a_confirmation_page(pages):
    fudge = pages.sweet("Fudge", quantity=10)
    order_id = _order(pages, "carol", (fudge, 6))
    pages.app.config["ORDER_CANCEL_WINDOW_SECONDS"] = 0  # long past the customer's window
    pages.admin()
    confirm = pages.client.get(f"/admin/orders/{order_id}/cancel")
    assert confirm.status_code == 200 and f"Cancel order #{order_id}?" in confirm.text
    assert pages.stock(fudge) == 4  # asking changed nothing
    assert pages.client.post(f"/admin/orders/{order_id}/cancel").status_code == 400  # no CSRF token
    form = form_fields(confirm.text, f"/admin/orders/{order_id}/cancel")
    done = pages.client.post(f"/admin/orders/{order_id}/cancel", data=form)
    assert done.status_code == 302 and done.location == "/admin/orders"
    assert flashes(pages.client.get("/admin/orders")) == [
        ("success", f"Cancelled order #{order_id} of carol: its sweets are back in stock.")]
    assert pages.stock(fudge) == 10
    again = pages.client.post(f"/admin/orders/{order_id}/cancel", data=form)
    assert again.status_code == 409 and pages.stock(fudge) == 10
    assert flashes(again) == [("error", f"Order #{order_id} was already cancelled; nothing changed.")]
    assert pages.client.get("/admin/orders/999/cancel").status_code == 404
    assert pages.post("/admin/orders/999/cancel").status_code == 404
