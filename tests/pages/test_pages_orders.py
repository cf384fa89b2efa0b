"""The basket, placing an order, receipts, "My orders" and cancelling, through the test client (CSRF on),
on SQLite and PostgreSQL. After every refused form the stock is checked: nothing changed."""
import html
import re
from datetime import datetime, timedelta, timezone

import pytest
from support.pages import Pages, field_error, flashes, form_fields, input_value, text_of

from sweetshop import catalog, inventory
from sweetshop.shop.views import when

# Forms, sessions and templates: the SQL under them runs on both databases in tests/domain and
# tests/api, so these run on SQLite only (docs/testing.md).
pytestmark = pytest.mark.databases("sqlite")


@pytest.fixture
def pages(client):
    return Pages(client)


def line_problem(page, sweet_id):
    return text_of(page, f"line-{sweet_id}-problem")


def stocks(pages, *sweet_ids):
    return [pages.stock(sweet_id) for sweet_id in sweet_ids]


def order_ids(page):
    return [int(number) for number in re.findall(r'<li class="order" id="order-(\d+)">', page.text)]


def test_the_basket_shows_each_line_with_price_stock_and_totals(pages):
    fudge = pages.sweet("Fudge", price="2.50", quantity=10)
    toffee = pages.sweet("Toffee", price="1.25", quantity=4)
    pages.add(fudge, 2)
    pages.add(toffee, 3)
    page = pages.client.get("/basket")
    assert page.status_code == 200
    assert text_of(page, f"line-{fudge}").startswith("Fudge £2.50 10")
    assert text_of(page, f"line-{fudge}").endswith("£5.00 Remove Fudge")
    assert input_value(page, f"quantity-{fudge}") == "2"
    assert text_of(page, f"line-{toffee}").startswith("Toffee £1.25 4")
    assert text_of(page, "basket-total") == "£8.75"
    # Anonymous visitors are asked to log in, and come back to the basket.
    assert "/basket/order" not in page.text
    assert 'href="/login?next=/basket"' in page.text
    assert "Your basket is empty." in Pages(pages.app.test_client()).client.get("/basket").text


def test_change_a_quantity_and_remove_a_line(pages):
    fudge = pages.sweet("Fudge", price="2.50", quantity=10)
    toffee = pages.sweet("Toffee", price="1.25", quantity=4)
    pages.add(fudge, 2)
    pages.add(toffee, 3)
    fields = form_fields(pages.client.get("/basket").text, f"/basket/{fudge}/quantity")
    changed = pages.client.post(f"/basket/{fudge}/quantity", data=dict(fields, quantity="7"))
    assert changed.status_code == 302 and changed.location == "/basket"
    page = pages.client.get("/basket")
    assert flashes(page) == [("success", "Fudge: 7 in your basket.")]
    assert text_of(page, "basket-total") == "£21.25" and pages.basket() == {fudge: 7, toffee: 3}

    remove = form_fields(page.text, f"/basket/{toffee}/remove")
    removed = pages.client.post(f"/basket/{toffee}/remove", data=remove)
    assert removed.status_code == 302
    page = pages.client.get("/basket")
    assert flashes(page) == [("success", "Removed Toffee from your basket.")]
    assert pages.basket() == {fudge: 7} and f"line-{toffee}" not in page.text
    assert stocks(pages, fudge, toffee) == [10, 4]  # the basket never touches the stock


@pytest.mark.parametrize("quantity, message", [
    ("0", "Must be between 1 and 1000."),
    ("1001", "Must be between 1 and 1000."),
    ("2.5", "Not a valid integer value."),
    ("", "Not a valid integer value."),
    ("11", "Only 10 left."),
])
def test_a_bad_quantity_in_the_basket_is_refused_by_its_line(pages, quantity, message):
    fudge = pages.sweet("Fudge", quantity=10)
    pages.add(fudge, 2)
    fields = form_fields(pages.client.get("/basket").text, f"/basket/{fudge}/quantity")
    page = pages.client.post(f"/basket/{fudge}/quantity", data=dict(fields, quantity=quantity))
    assert page.status_code == 422
    assert field_error(page, f"quantity-{fudge}") == message
    assert (input_value(page, f"quantity-{fudge}") or "") == quantity
    assert pages.basket() == {fudge: 2} and pages.stock(fudge) == 10


def test_basket_forms_refuse_lines_not_in_it_and_missing_csrf(pages):
    fudge = pages.sweet("Fudge", quantity=10)
    toffee = pages.sweet("Toffee", quantity=10)
    pages.add(fudge, 2)
    page = pages.post(f"/basket/{toffee}/quantity", {"quantity": "3"})
    assert page.status_code == 404 and flashes(page) == [("error", "That sweet is not in your basket.")]
    assert pages.client.post(f"/basket/{fudge}/quantity", data={"quantity": "3"}).status_code == 400
    assert pages.client.post(f"/basket/{fudge}/remove").status_code == 400
    assert pages.post(f"/basket/{toffee}/remove").status_code == 302  # nothing to remove: no change
    assert pages.post("/basket/99999999999/remove").status_code == 404
    assert pages.basket() == {fudge: 2} and stocks(pages, fudge, toffee) == [10, 10]


def test_a_sweet_gone_from_sale_shows_as_unavailable_and_the_order_is_refused(pages):
    fudge = pages.sweet("Fudge", quantity=10)
    toffee = pages.sweet("Toffee", quantity=10)
    pages.add(fudge, 1)
    pages.add(toffee, 2)
    with pages.app.app_context():
        catalog.archive_sweet(toffee)
    pages.customer()
    page = pages.client.get("/basket")
    assert line_problem(page, toffee) == "No longer on sale: remove it to place your order."
    assert "Unavailable" in text_of(page, f"line-{toffee}")
    assert f"/basket/{toffee}/quantity" not in page.text  # only "Remove" is offered
    refused = pages.client.post("/basket/order", data=form_fields(page.text, "/basket/order"))
    assert refused.status_code == 409
    assert flashes(refused)[0][1].startswith("Nothing was bought: some sweets are no longer on sale.")
    assert line_problem(refused, toffee) == "No longer on sale."
    assert stocks(pages, fudge) == [10] and pages.basket() == {fudge: 1, toffee: 2}


def test_placing_needs_a_login_and_the_basket_survives_it(pages):
    fudge = pages.sweet("Fudge", price="2.50", quantity=10)
    pages.register("carol")
    pages.log_out()
    pages.add(fudge, 3)
    anonymous = pages.post("/basket/order", {"lines": f"{fudge}:3", "token": "t" * 20})
    assert anonymous.status_code == 302 and anonymous.location == "/login?next=/basket"
    assert pages.stock(fudge) == 10
    logged_in = pages.login("carol", next="/basket")
    assert logged_in.status_code == 302 and logged_in.location == "/basket"
    assert pages.basket() == {fudge: 3}  # the session was renewed, the basket kept
    placed = pages.place()
    assert placed.status_code == 302
    order_id = int(placed.location.rsplit("/", 1)[1])
    assert placed.location == f"/orders/{order_id}"
    receipt = pages.client.get(placed.location)
    assert flashes(receipt) == [("success", f"Thank you! Order #{order_id} is placed.")]
    assert pages.stock(fudge) == 7 and pages.basket() == {}


def test_logging_out_empties_the_basket(pages):
    fudge = pages.sweet("Fudge", quantity=10)
    pages.customer()
    pages.add(fudge, 2)
    pages.post("/logout")
    assert pages.basket() == {}
    assert "Your basket is empty." in pages.client.get("/basket").text


# One order however often the form is sent: the idempotency key's unique constraint decides.
@pytest.mark.databases("sqlite", "postgresql")
def test_a_double_submitted_order_places_one_order(pages):
    fudge = pages.sweet("Fudge", quantity=10)
    toffee = pages.sweet("Toffee", quantity=10)
    pages.customer()
    pages.add(fudge, 2)
    pages.add(toffee, 1)
    form = pages.place_form()
    assert form["lines"] == f"{fudge}:2 {toffee}:1" and form["token"]
    first = pages.client.post("/basket/order", data=form)
    again = pages.client.post("/basket/order", data=form)  # the basket is empty by now
    assert first.status_code == again.status_code == 302 and first.location == again.location
    assert stocks(pages, fudge, toffee) == [8, 9]
    assert len(order_ids(pages.client.get("/orders"))) == 1
    # The same form with other lines places nothing.
    edited = pages.client.post("/basket/order", data=dict(form, lines=f"{fudge}:3"))
    assert edited.status_code == 422
    assert flashes(edited)[0][1].startswith("That order form was already used for another order")
    assert stocks(pages, fudge, toffee) == [8, 9]
    # Every rendered basket has its own token, so ordering again is a new order.
    pages.add(fudge, 1)
    assert pages.place_form()["token"] != form["token"]
    pages.place()
    assert stocks(pages, fudge, toffee) == [7, 9]


def test_a_short_order_buys_nothing_and_marks_each_short_line(pages):
    fudge = pages.sweet("Fudge", quantity=5)
    toffee = pages.sweet("Toffee", quantity=5)
    mint = pages.sweet("Mint", quantity=5)
    pages.customer()
    for sweet, quantity in ((fudge, 4), (toffee, 5), (mint, 1)):
        pages.add(sweet, quantity)
    form = pages.place_form()
    with pages.app.app_context():  # someone else buys meanwhile
        inventory.purchase(fudge, None, 3)
        inventory.purchase(toffee, None, 5)
    refused = pages.client.post("/basket/order", data=form)
    assert refused.status_code == 409
    assert flashes(refused)[0] == ("error", "Nothing was bought: there is not enough of some sweets. "
                                            "Change the lines marked below and place the order again.")
    assert line_problem(refused, fudge) == "Only 2 left."
    assert line_problem(refused, toffee) == "Sold out."
    assert line_problem(refused, mint) is None
    assert stocks(pages, fudge, toffee, mint) == [2, 0, 5]
    assert pages.basket() == {fudge: 4, toffee: 5, mint: 1}  # kept, to be changed


@pytest.mark.parametrize("lines", ["", "1:0", "1:1001", "x", "1:1 1:2", "1;2", " ".join(
    f"{n}:1" for n in range(1, 52))])
def test_a_place_order_form_with_unreadable_lines_buys_nothing(pages, lines):
    fudge = pages.sweet("Fudge", quantity=5)
    pages.customer()
    pages.add(fudge, 1)
    refused = pages.client.post("/basket/order", data=dict(pages.place_form(), lines=lines))
    assert refused.status_code == 422
    assert flashes(refused) == [("error", "Your basket could not be read: please check it and place the "
                                          "order again. Nothing was bought.")]
    assert pages.stock(fudge) == 5


def test_a_place_order_form_without_token_or_csrf_buys_nothing(pages):
    fudge = pages.sweet("Fudge", quantity=5)
    pages.customer()
    pages.add(fudge, 1)
    form = pages.place_form()
    for broken in (dict(form, token=""), dict(form, token="é" * 3), dict(form, token="x" * 65)):
        refused = pages.client.post("/basket/order", data=broken)
        assert refused.status_code == 422
    without_csrf = {key: value for key, value in form.items() if key != "csrf_token"}
    assert pages.client.post("/basket/order", data=without_csrf).status_code == 400
    assert pages.stock(fudge) == 5 and pages.basket() == {fudge: 1}


def place(pages, *lines):
    for sweet_id, quantity in lines:
        pages.add(sweet_id, quantity)
    response = pages.place()
    assert response.status_code == 302, response.text
    return int(response.location.rsplit("/", 1)[1])


def test_the_receipt_shows_the_lines_and_total_to_the_owner_and_admins_only(pages):
    fudge = pages.sweet("Fudge", price="2.50", quantity=10)
    toffee = pages.sweet("Toffee", price="1.25", quantity=10)
    pages.customer("carol")
    order_id = place(pages, (toffee, 3), (fudge, 2))
    receipt = pages.client.get(f"/orders/{order_id}")
    assert receipt.status_code == 200
    text = text_of(receipt, "main")
    assert f"Order #{order_id} Placed" in text
    assert "Fudge 2 £2.50 £5.00 Toffee 3 £1.25 £3.75" in text
    assert text_of(receipt, f"order-{order_id}-total") == "£8.75"
    assert f"/orders/{order_id}/cancel" in receipt.text
    pages.post("/logout")
    assert pages.client.get(f"/orders/{order_id}").status_code == 302  # log in first
    pages.customer("dave")
    assert pages.client.get(f"/orders/{order_id}").status_code == 404
    assert pages.client.get("/orders/99999").status_code == 404
    assert pages.client.get("/orders/99999999999").status_code == 404
    pages.post("/logout")
    pages.admin()
    seen = pages.client.get(f"/orders/{order_id}")
    assert seen.status_code == 200 and "by carol" in text_of(seen, "main")


def test_times_are_shown_in_the_shops_time_zone(pages):
    moment = datetime(2026, 11, 30, 14, 5, tzinfo=timezone.utc)
    summer = datetime(2026, 7, 1, 14, 5)  # naive, as SQLite hands it back: UTC
    with pages.app.test_request_context():
        assert when(moment) == "30 Nov 2026, 14:05 GMT"
        assert when(summer) == "01 Jul 2026, 15:05 BST"
        pages.app.config["SHOP_TIMEZONE"] = "Asia/Tokyo"
        assert when(moment) == "30 Nov 2026, 23:05 JST"
    fudge = pages.sweet("Fudge", quantity=10)
    pages.customer()
    order_id = place(pages, (fudge, 1))
    assert "JST" in text_of(pages.client.get(f"/orders/{order_id}"), "main")


def test_a_misspelt_time_zone_stops_the_app_at_start(tmp_path):
    from zoneinfo import ZoneInfoNotFoundError

    from sweetshop import create_app
    with pytest.raises(ZoneInfoNotFoundError):
        create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.sqlite",
                    "SHOP_TIMEZONE": "Europe/Londn"})


def test_my_orders_lists_the_customers_own_orders_newest_first_in_pages(pages):
    pages.app.config["ORDERS_PAGE_SIZE"] = 2
    fudge = pages.sweet("Fudge", quantity=100)
    pages.customer("erin")
    place(pages, (fudge, 9))  # someone else's
    pages.post("/logout")
    pages.customer("carol")
    mine = [place(pages, (fudge, quantity)) for quantity in (1, 2, 3)]
    first = pages.client.get("/orders")
    assert first.status_code == 200
    assert order_ids(first) == [mine[2], mine[1]] and "3 orders, page 1 of 2" in first.text
    second = pages.client.get("/orders?page=2")
    assert order_ids(second) == [mine[0]]
    assert order_ids(pages.client.get("/orders?page=99")) == [mine[0]]
    assert order_ids(pages.client.get("/orders?page=x")) == [mine[2], mine[1]]
    assert "Cancel" in text_of(first, f"order-{mine[2]}")


def test_the_customer_cancels_within_the_window_and_the_stock_comes_back(pages):
    fudge = pages.sweet("Fudge", quantity=10)
    toffee = pages.sweet("Toffee", quantity=10)
    pages.customer()
    order_id = place(pages, (fudge, 2), (toffee, 3))
    page = pages.client.get("/orders")
    # "Cancel" asks first, on a page of its own (no JavaScript needed); asking changes nothing.
    link = re.search(rf'href="(/orders/{order_id}/cancel\?next=[^"]+)"', page.text).group(1)
    confirm = pages.client.get(html.unescape(link))
    assert confirm.status_code == 200 and f"Cancel order #{order_id}?" in text_of(confirm, "main")
    assert stocks(pages, fudge, toffee) == [8, 7]
    cancel = form_fields(confirm.text, f"/orders/{order_id}/cancel")
    assert cancel["next"] == "/orders"
    assert 'href="/orders">No, keep it</a>' in confirm.text
    done = pages.client.post(f"/orders/{order_id}/cancel", data=cancel)
    assert done.status_code == 302 and done.location == "/orders"
    after = pages.client.get("/orders")
    assert flashes(after) == [("success", f"Order #{order_id} is cancelled: its sweets are back in stock.")]
    assert "Cancelled" in text_of(after, f"order-{order_id}")
    assert f"/orders/{order_id}/cancel" not in after.text
    assert stocks(pages, fudge, toffee) == [10, 10]
    # A second cancel (another tab) changes nothing.
    again = pages.client.post(f"/orders/{order_id}/cancel", data=cancel)
    assert again.status_code == 409
    assert flashes(again) == [("error", f"Order #{order_id} was already cancelled.")]
    assert stocks(pages, fudge, toffee) == [10, 10]
    assert [kind for kind, _, _ in pages.history(fudge)] == ["initial", "purchase", "return"]


def test_after_the_window_the_customer_cannot_cancel_but_an_admin_can(pages):
    fudge = pages.sweet("Fudge", quantity=10)
    pages.customer("carol")
    order_id = place(pages, (fudge, 4))
    receipt = pages.client.get(f"/orders/{order_id}").text
    assert f"/orders/{order_id}/cancel?next=/orders/{order_id}" in receipt
    cancel = form_fields(pages.client.get(f"/orders/{order_id}/cancel").text, f"/orders/{order_id}/cancel")
    pages.app.config["ORDER_CANCEL_WINDOW_SECONDS"] = 0
    page = pages.client.get(f"/orders/{order_id}")
    assert f"/orders/{order_id}/cancel" not in page.text  # no button once the window has closed
    late = pages.client.get(f"/orders/{order_id}/cancel")
    assert "the time to cancel it has passed" in text_of(late, "main") and "Yes, cancel" not in late.text
    refused = pages.client.post(f"/orders/{order_id}/cancel", data=cancel)
    assert refused.status_code == 403
    assert flashes(refused) == [("error", f"Order #{order_id} can no longer be cancelled: "
                                          "the time to cancel it has passed.")]
    assert pages.stock(fudge) == 6
    pages.post("/logout")
    pages.customer("dave")
    assert pages.post(f"/orders/{order_id}/cancel").status_code == 404  # not dave's
    assert pages.post("/orders/424242/cancel").status_code == 404
    assert pages.stock(fudge) == 6


def test_the_cancel_deadline_is_shown(pages):
    pages.app.config["ORDER_CANCEL_WINDOW_SECONDS"] = 1800
    fudge = pages.sweet("Fudge", quantity=10)
    pages.customer()
    order_id = place(pages, (fudge, 1))
    with pages.app.app_context():
        from sweetshop import orders
        created = orders.get_order(order_id).created_at
    with pages.app.test_request_context():
        deadline = when(created + timedelta(seconds=1800))
    assert f"You can cancel until {deadline}." in text_of(pages.client.get(f"/orders/{order_id}"), "main")


def test_my_orders_also_lists_single_purchases(pages):
    fudge = pages.sweet("Fudge", price="2.50", quantity=10)
    pages.customer("carol")
    assert "You have no orders yet." in pages.client.get("/orders").text
    with pages.app.app_context():
        from sweetshop import accounts
        carol = accounts.find_user("carol").id
        inventory.purchase(fudge, carol, 3)  # as an API script would
        inventory.purchase(fudge, None, 1)  # someone else's
    place(pages, (fudge, 2))
    page = pages.client.get("/orders")
    assert len(order_ids(page)) == 1
    singles = text_of(page, "single-purchases")
    assert "Fudge 3 £2.50 £7.50" in singles and singles.count("Fudge") == 1


def test_registering_from_the_basket_leads_back_to_it(pages):
    fudge = pages.sweet("Fudge", quantity=10)
    pages.add(fudge, 2)
    basket = pages.client.get("/basket")
    assert 'href="/register?next=/basket"' in basket.text
    form = form_fields(pages.client.get("/register?next=/basket").text, "/register")
    assert form["next"] == "/basket"
    registered = pages.client.post("/register", data=dict(
        form, username="carol", password="correct horse 1", confirm="correct horse 1"))
    # Registering logs in (a new session) and keeps the basket.
    assert registered.status_code == 302 and registered.location == "/basket"
    assert pages.basket() == {fudge: 2} and "Log out" in pages.client.get("/basket").text
    pages.log_out()
    fresh = form_fields(pages.client.get("/register?next=//evil.example").text, "/register")
    unsafe = pages.client.post("/register", data=dict(
        fresh, username="dave", password="correct horse 1", confirm="correct horse 1"))
    assert unsafe.location == "/"
