"""Click and collect on the pages (CSRF on, SQLite and PostgreSQL): the staff's tabs, buttons and pick list;
what the customer reads; a sweet's own "Add to basket"."""
import re
from datetime import datetime, timezone

import pytest
from support.pages import Pages, field_error, flashes, form_fields, text_of

from sweetshop import orders
from sweetshop.shop.views import since


@pytest.fixture
def pages(client):
    return Pages(client)


def order_for(pages, username, *lines, full_name=None):
    """A customer (registered now) places an order through the basket; returns its id, logged out."""
    extra = {"full_name": full_name} if full_name else {}
    assert pages.register(username, **extra).status_code == 302
    assert pages.login(username).status_code == 302
    for sweet_id, quantity in lines:
        pages.add(sweet_id, quantity)
    order_id = int(pages.place().location.rsplit("/", 1)[1])
    pages.post("/logout")
    return order_id


def listed(page):
    return [int(n) for n in re.findall(r'<li class="order" id="order-(\d+)">', page.text)]


def press(pages, page_path, order_id, action):
    """Press an order's button on an admin page, as a browser would (its form's hidden fields)."""
    fields = form_fields(pages.client.get(page_path).text, f"/admin/orders/{order_id}/{action}")
    return pages.client.post(f"/admin/orders/{order_id}/{action}", data=fields)


def status_of(pages, order_id):
    with pages.app.app_context():
        return orders.get_order(order_id).status


def test_staff_pack_then_hand_over_from_the_tabs(pages):
    fudge = pages.sweet("Fudge", quantity=20)
    first = order_for(pages, "carol", (fudge, 2), full_name="Carol Smith")
    second = order_for(pages, "dave", (fudge, 1))
    pages.admin()
    to_pack = pages.client.get("/admin/orders")
    assert listed(to_pack) == [first, second]
    assert "Carol Smith (carol)" in text_of(to_pack, f"order-{first}")
    done = press(pages, "/admin/orders", first, "ready")
    assert done.status_code == 302 and done.location == "/admin/orders"
    after = pages.client.get("/admin/orders")
    assert flashes(after) == [("success", f"Order #{first} of Carol Smith (carol) is ready for collection.")]
    assert listed(after) == [second]
    ready = pages.client.get("/admin/orders?status=ready")
    assert listed(ready) == [first] and "Mark ready" not in text_of(ready, f"order-{first}")
    done = press(pages, "/admin/orders?status=ready", first, "collect")
    assert done.status_code == 302 and done.location == "/admin/orders?status=ready"
    assert flashes(pages.client.get(done.location)) == [
        ("success", f"Order #{first} of Carol Smith (carol) was collected.")]
    collected = pages.client.get("/admin/orders?status=collected")
    assert listed(collected) == [first]
    assert "Cancel" not in text_of(collected, f"order-{first}")  # a collected order is final
    # A customer who walks in before the order was packed takes it all the same.
    press(pages, "/admin/orders", second, "collect")
    assert status_of(pages, second) == "collected" and pages.stock(fudge) == 17
    assert listed(pages.client.get("/admin/orders")) == []
    assert "Nothing to pack" in text_of(pages.client.get("/admin/orders"), "main")


@pytest.mark.parametrize(("moved_by", "action", "says"), [
    ("ready", "ready", "is already ready for collection"),
    ("collect", "ready", "is already collected"),
    ("cancel", "collect", "is cancelled"),
    ("collect", "collect", "is already collected"),
])
def test_a_stale_button_says_where_the_order_stands_and_changes_nothing(pages, moved_by, action, says):
    fudge = pages.sweet("Fudge", quantity=20)
    order_id = order_for(pages, "carol", (fudge, 2))
    pages.admin()
    fields = form_fields(pages.client.get("/admin/orders").text, f"/admin/orders/{order_id}/{action}")
    with pages.app.app_context():  # another member of staff, meanwhile
        {"ready": orders.mark_ready, "collect": orders.mark_collected,
         "cancel": lambda order, admin: orders.cancel_order(order, admin, True, 0)}[moved_by](order_id, 1)
    before = (status_of(pages, order_id), pages.stock(fudge))
    stale = pages.client.post(f"/admin/orders/{order_id}/{action}", data=fields)
    assert stale.status_code == 302 and stale.location == "/admin/orders"
    assert flashes(pages.client.get(stale.location)) == [
        ("info", f"Order #{order_id} {says}: nothing changed.")]
    assert (status_of(pages, order_id), pages.stock(fudge)) == before


def test_the_buttons_need_a_csrf_token_an_admin_and_an_order(pages):
    fudge = pages.sweet("Fudge", quantity=20)
    order_id = order_for(pages, "carol", (fudge, 2))
    pages.customer("dave")
    for action in ("ready", "collect"):
        assert pages.post(f"/admin/orders/{order_id}/{action}").status_code == 403
    assert pages.client.get("/admin/orders/pick-list").status_code == 403
    pages.post("/logout")
    pages.admin()
    for action in ("ready", "collect"):
        assert pages.client.post(f"/admin/orders/{order_id}/{action}").status_code == 400
        assert pages.post(f"/admin/orders/999/{action}").status_code == 404
    assert status_of(pages, order_id) == "placed" and pages.stock(fudge) == 18


def test_the_pick_list_sums_what_is_still_to_pack_and_prints_without_the_menus(pages):
    fudge, toffee = pages.sweet("Fudge", quantity=20), pages.sweet("Toffee", quantity=20)
    first = order_for(pages, "carol", (fudge, 2), (toffee, 1), full_name="Carol Smith")
    second = order_for(pages, "dave", (toffee, 3))
    packed = order_for(pages, "erin", (fudge, 5))
    pages.admin()
    press(pages, "/admin/orders", packed, "ready")
    page = pages.client.get("/admin/orders/pick-list")
    assert page.status_code == 200
    assert text_of(page, "pick-list").endswith("Picked Fudge 2 1 Toffee 4 2")
    assert text_of(page, f"pack-{first}").startswith(f"Order #{first} · Carol Smith (carol)")
    assert "3 × Toffee" in text_of(page, f"pack-{second}") and text_of(page, f"pack-{packed}") is None
    with pages.client.get("/static/style.css") as response:
        css = response.text
    assert re.search(r"@media print \{\s*\.site-header, \.site-footer", css)
    press(pages, "/admin/orders", first, "collect")
    press(pages, "/admin/orders", second, "ready")
    assert "Nothing to pack" in text_of(pages.client.get("/admin/orders/pick-list"), "main")


def test_the_customer_reads_the_state_in_words_and_the_collection_note(pages):
    pages.app.config["COLLECTION_NOTE"] = "Collect from 12 High Street. Pay when you collect."
    fudge = pages.sweet("Fudge", quantity=20)
    order_id = order_for(pages, "carol", (fudge, 2))
    assert pages.login("carol").status_code == 302
    receipt = pages.client.get(f"/orders/{order_id}")
    assert text_of(receipt, f"order-{order_id}-state") == "Placed — we are packing it"
    assert "Collect from 12 High Street. Pay when you collect." in text_of(receipt, "main")
    with pages.app.app_context():
        ready_at = orders.mark_ready(order_id, 1).ready_at
    with pages.app.test_request_context():
        clock = since(ready_at)
    assert re.fullmatch(r"\d\d:\d\d", clock)
    for path in (f"/orders/{order_id}", "/orders"):
        page = pages.client.get(path)
        assert text_of(page, f"order-{order_id}-state") == f"Ready for collection since {clock}"
        assert "Collect from 12 High Street" in text_of(page, "main")
    # Still the customer's to cancel while it waits on the shelf, within the window.
    assert f"/orders/{order_id}/cancel" in pages.client.get("/orders").text
    with pages.app.app_context():
        orders.mark_collected(order_id, 1)
    page = pages.client.get(f"/orders/{order_id}")
    assert text_of(page, f"order-{order_id}-state") == "Collected"
    assert "Collect from" not in page.text and f"/orders/{order_id}/cancel" not in page.text
    late = pages.client.get(f"/orders/{order_id}/cancel")
    assert "Yes, cancel" not in late.text and "Collected" in text_of(late, "main")


def test_an_empty_collection_note_is_not_shown(pages):
    pages.app.config["COLLECTION_NOTE"] = ""
    fudge = pages.sweet("Fudge", quantity=20)
    order_id = order_for(pages, "carol", (fudge, 2))
    pages.login("carol")
    for path in (f"/orders/{order_id}", "/orders"):
        assert "collection-note" not in pages.client.get(path).text


def test_the_customer_cancels_a_ready_order_after_confirming_and_the_stock_comes_back(pages):
    fudge = pages.sweet("Fudge", quantity=20)
    order_id = order_for(pages, "carol", (fudge, 2))
    with pages.app.app_context():
        orders.mark_ready(order_id, 1)
    pages.login("carol")
    confirm = pages.client.get(f"/orders/{order_id}/cancel?next=/orders")
    fields = form_fields(confirm.text, f"/orders/{order_id}/cancel")
    with pages.app.app_context():  # handed over while the customer was making up their mind
        orders.mark_collected(order_id, 1)
    refused = pages.client.post(f"/orders/{order_id}/cancel", data=fields)
    assert refused.status_code == 409
    assert flashes(refused) == [("error", f"Order #{order_id} was already collected.")]
    assert pages.stock(fudge) == 18
    other = order_for(pages, "dave", (fudge, 3))
    with pages.app.app_context():
        orders.mark_ready(other, 1)
    pages.login("dave")
    fields = form_fields(pages.client.get(f"/orders/{other}/cancel").text, f"/orders/{other}/cancel")
    done = pages.client.post(f"/orders/{other}/cancel", data=fields)
    assert done.status_code == 302 and pages.stock(fudge) == 18
    assert text_of(pages.client.get(f"/orders/{other}"), f"order-{other}-state") == "Cancelled"


def test_the_since_time_names_the_day_when_it_is_not_today(pages):
    with pages.app.test_request_context():
        assert since(datetime(2026, 7, 1, 14, 5, tzinfo=timezone.utc)) == "1 Jul, 15:05"
        now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
        assert len(since(now)) == 5


def test_a_sweets_own_page_adds_to_the_basket(pages):
    fudge = pages.sweet("Fudge", quantity=5)
    page = pages.client.get(f"/sweets/{fudge}")
    assert 'for="qty-' in page.text and "Add to basket" in page.text
    fields = form_fields(page.text, f"/basket/add/{fudge}")
    assert fields["next"] == f"/sweets/{fudge}"
    added = pages.client.post(f"/basket/add/{fudge}", data=dict(fields, quantity="3"))
    assert added.status_code == 302 and added.location == f"/sweets/{fudge}#sweet-{fudge}"
    assert pages.basket() == {fudge: 3}
    assert "3 in your basket" in text_of(pages.client.get(f"/sweets/{fudge}"), "main")
    too_many = pages.client.post(f"/basket/add/{fudge}", data=dict(fields, quantity="3"))
    assert too_many.status_code == 422 and "<h1>Fudge</h1>" in too_many.text
    assert field_error(too_many, f"qty-{fudge}") is not None and pages.basket() == {fudge: 3}
    assert pages.client.post(f"/basket/add/{fudge}", data={"quantity": "1"}).status_code == 400  # no CSRF
    sold_out = pages.sweet("Toffee", quantity=0)
    assert f"/basket/add/{sold_out}" not in pages.client.get(f"/sweets/{sold_out}").text
