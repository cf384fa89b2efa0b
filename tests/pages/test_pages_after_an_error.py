"""Every form shown again after an error shows what is saved or what was typed, never less; and the
small things a new shop owner met: restock 0, a category's spelling, a reversed price range, counts
and money as words, one admin navigation, registering logs in, a photo when adding a sweet, the
favicon, dates, an oversized upload, how deep the catalogue goes."""
import io
import re

import pytest
from support.pages import Pages, field_error, flashes, form_fields, input_value
from PIL import Image

from support.dbstate import snapshot, stock_and_ledger
from sweetshop import catalog


@pytest.fixture
def pages(client):
    return Pages(client)


def ticked(response):
    """The allergen boxes ticked on a sweet form."""
    boxes = re.findall(r'<input[^>]*name="allergens"[^>]*>', response.text)
    assert len(boxes) == 14
    return sorted(re.search(r'value="([^"]+)"', box).group(1) for box in boxes if "checked" in box)


def png():
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 90)).save(out, "PNG")
    return out.getvalue()


def saved_sweet(pages, name="Fudge", allergens=("milk", "soya")):
    sweet_id = pages.sweet(name, quantity=10)
    response = pages.post(f"/admin/sweets/{sweet_id}/edit", {
        "name": name, "category": "Fudge", "price": "2.50", "unit": "each", "description": "",
        "allergens": list(allergens)})
    assert response.status_code == 302
    return sweet_id


# --- the sweet forms -------------------------------------------------------------------------

@pytest.mark.parametrize("upload", ["not an image", "no file"])
def test_a_failed_photo_upload_keeps_the_saved_allergens(pages, upload):
    pages.admin()
    fudge = saved_sweet(pages)
    data = {} if upload == "no file" else {"photo": (io.BytesIO(b"plain text"), "notes.txt")}
    response = pages.post(f"/admin/sweets/{fudge}/photo", data, content_type="multipart/form-data")
    assert response.status_code == 422 and field_error(response, "photo")
    assert ticked(response) == ["milk", "soya"]
    assert input_value(response, "name") == "Fudge" and input_value(response, "price") == "2.50"
    # Pressing "Save" on what came back stores what was saved, not "no allergens".
    fields = form_fields(response.text, f"/admin/sweets/{fudge}/edit")
    response = pages.client.post(f"/admin/sweets/{fudge}/edit",
                                 data={**fields, "allergens": ticked(response)})
    assert response.status_code == 302
    with pages.app.app_context():
        assert catalog.get_sweet(fudge).allergens == ["milk", "soya"]


def test_the_edit_form_keeps_what_was_typed_after_an_error(pages):
    pages.admin()
    fudge = saved_sweet(pages)
    response = pages.post(f"/admin/sweets/{fudge}/edit", {
        "name": "", "category": "Toffee", "price": "3.10", "unit": "per bag", "description": "Chewy",
        "allergens": ["eggs"]})
    assert response.status_code == 422 and field_error(response, "name")
    assert ticked(response) == ["eggs"]
    assert (input_value(response, "category"), input_value(response, "price"),
            input_value(response, "unit")) == ("Toffee", "3.10", "per bag")
    assert re.search(r">\s*Chewy</textarea>", response.text)


def test_the_new_sweet_form_keeps_what_was_typed_after_an_error(pages):
    pages.admin()
    response = pages.post("/admin/sweets/new", {
        "name": "Mint", "category": "Mints", "price": "0.405", "unit": "each", "quantity": "12",
        "description": "", "allergens": ["milk", "peanuts"]})
    assert response.status_code == 422 and field_error(response, "price")
    assert ticked(response) == ["milk", "peanuts"]
    assert (input_value(response, "name"), input_value(response, "quantity")) == ("Mint", "12")


def test_restock_count_and_make_admin_forms_keep_what_was_typed(pages, api):
    fudge = pages.sweet(quantity=4)
    pages.admin()
    response = pages.post(f"/admin/sweets/{fudge}/restock", {"quantity": "2000000"})
    assert response.status_code == 422 and input_value(response, f"restock-{fudge}") == "2000000"
    response = pages.post("/admin/admins", {"username": "nobody-here"})
    assert response.status_code == 422 and input_value(response, "username") == "nobody-here"
    response = pages.post(f"/admin/sweets/{fudge}/count", {"counted": "x", "seen": "4", "reason": "theft"})
    assert response.status_code == 422 and input_value(response, "counted") == "x"
    assert '<option selected value="theft">' in response.text


def test_account_forms_keep_what_was_typed(pages):
    response = pages.register("x", full_name="Carol Smith")
    assert response.status_code == 422
    assert (input_value(response, "username"), input_value(response, "full_name")) == ("x", "Carol Smith")
    response = pages.login("carol-nobody", "wrong password")
    assert response.status_code == 422 and input_value(response, "username") == "carol-nobody"


def test_the_ledger_range_and_the_import_forms_keep_what_was_typed(pages):
    pages.admin()
    response = pages.client.get("/admin/export/ledger.csv?since=2026-12-31&until=2026-01-01")
    assert response.status_code == 422
    assert (input_value(response, "since"), input_value(response, "until")) == ("2026-12-31", "2026-01-01")


def test_a_basket_form_keeps_what_was_typed(pages):
    fudge = pages.sweet(quantity=4)
    response = pages.add(fudge, quantity=99)
    assert response.status_code == 422 and input_value(response, f"qty-{fudge}") == "99"


# --- rough edges -------------------------------------------------------------------------------

def test_restocking_nothing_on_the_page_is_refused(pages):
    fudge = pages.sweet(quantity=4)
    pages.admin()
    before = snapshot(pages.app)
    response = pages.post(f"/admin/sweets/{fudge}/restock", {"quantity": "0"})
    assert response.status_code == 422
    assert field_error(response, f"restock-{fudge}") == "Nothing to add: enter the number of units delivered."
    assert snapshot(pages.app) == before
    assert pages.post(f"/admin/sweets/{fudge}/restock", {"quantity": "3"}).status_code == 302
    assert stock_and_ledger(pages.app, fudge) == (7, 7, 2)


def test_a_category_takes_the_spelling_already_on_sale(pages, api):
    pages.sweet("Fudge", category="Toffee")
    pages.admin()
    response = pages.post("/admin/sweets/new", {"name": "Caramel", "category": "toffee", "price": "1.00",
                                                "unit": "each", "quantity": "1"})
    assert response.status_code == 302
    mint = api.sweet("Mint", "TOFFEE", 1, 1)
    assert mint["category"] == "Toffee"
    changed = pages.client.patch(f"/api/sweets/{mint['id']}", json={"category": "toFFee"}, headers=api.admin)
    assert changed.json["category"] == "Toffee"
    with pages.app.app_context():
        assert catalog.categories() == ["Toffee"]
        assert {s.category for s in catalog.all_sweets()} == {"Toffee"}
    # The last sweet of a spelling may still change its case.
    lone = api.sweet("Humbug", "Mints", 1, 1)
    assert pages.client.patch(f"/api/sweets/{lone['id']}", json={"category": "MINTS"},
                              headers=api.admin).json["category"] == "MINTS"


def test_a_reversed_price_range_says_so_and_filters_by_neither_bound(pages):
    pages.sweet("Cheap", price="0.50")
    pages.sweet("Dear", price="9.00")
    response = pages.client.get("/?min_price=5&max_price=1")
    assert field_error(response, "min_price") == "Must not be more than the max price."
    names = re.findall(r'<h2><a href="/sweets/\d+">([^<]+)</a></h2>', response.text)
    assert sorted(names) == ["Cheap", "Dear"]


def test_report_and_chart_say_counts_and_money_as_people_do(pages, api):
    fudge = api.sweet("Fudge", price=2.5, quantity=10)["id"]
    assert pages.client.post(f"/api/sweets/{fudge}/purchase", headers=api.user("bob")).status_code == 200
    pages.admin()
    page = pages.client.get("/admin/report")
    assert "1 unit</strong> sold" in page.text and "1 units" not in page.text
    chart = page.text[page.text.index("<svg"):page.text.index("</svg>")]
    labels = re.findall(r'text-anchor="end" fill="#6b5d55">(£[^<]+)</text>', chart)
    assert labels == ["£0.00", "£1.25", "£2.50"]  # the y axis, never "£2.5"
    assert ": £2.50, 1 unit</title>" in chart


ADMIN_PAGES = ["/admin", "/admin/sweets/new", "/admin/sweets/{id}/edit", "/admin/sweets/{id}",
               "/admin/sweets/{id}/archive", "/admin/orders", "/admin/orders/pick-list", "/admin/users",
               "/admin/report", "/admin/outbox", "/admin/data"]
NAV = ["Stock", "Add a sweet", "Orders", "Users and admins", "Sales report", "Outbox", "Import and export"]


def test_every_admin_page_has_the_one_admin_navigation(pages):
    fudge = pages.sweet()
    pages.admin()
    for path in ADMIN_PAGES:
        page = pages.client.get(path.format(id=fudge))
        assert page.status_code == 200, path
        navs = re.findall(r'<nav class="admin-nav" aria-label="Shop administration">(.*?)</nav>',
                          page.text, re.S)
        assert len(navs) == 1, path
        assert re.findall(r">([^<]+)</a>", navs[0]) == NAV, path
        assert navs[0].count('aria-current="page"') == 1, path


def test_registering_logs_you_in(pages):
    response = pages.register("carol", next="/basket")
    assert response.status_code == 302 and response.location == "/basket"
    page = pages.client.get("/")
    assert "Log out" in page.text and "carol" in page.text
    assert ("success", "Welcome, carol! Your account is ready and you are logged in.") in flashes(page)


def test_add_a_sweet_with_its_photo(pages):
    pages.admin()
    form = pages.client.get("/admin/sweets/new").text
    assert 'enctype="multipart/form-data"' in form and 'name="photo" type="file"' in form
    typed = {"name": "Mint", "category": "Mints", "price": "0.40", "unit": "each", "quantity": "5"}
    before = snapshot(pages.app)
    bad = pages.post("/admin/sweets/new", {**typed, "photo": (io.BytesIO(b"GIF89a"), "mint.gif")},
                     content_type="multipart/form-data")
    assert bad.status_code == 422 and "Nothing was added" in field_error(bad, "photo")
    assert snapshot(pages.app) == before
    response = pages.post("/admin/sweets/new", {**typed, "photo": (io.BytesIO(png()), "mint.png")},
                          content_type="multipart/form-data")
    assert response.status_code == 302
    with pages.app.app_context():
        (mint,) = catalog.search_sweets(name="Mint")
        assert mint.photo_hash and mint.quantity == 5
    assert pages.client.get("/").text.count("/photos/") >= 1


def test_the_favicon_is_there(pages):
    page = pages.client.get("/")
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page.text
    with pages.client.get("/static/favicon.svg") as svg:
        assert svg.status_code == 200 and svg.data.startswith(b"<svg")
    with pages.client.get("/favicon.ico") as icon:
        assert icon.status_code == 200 and icon.data[:4] == b"\x00\x00\x01\x00"  # an ICO file


def test_date_labels_name_no_format_the_browser_does_not_show(pages):
    pages.admin()
    page = pages.client.get("/admin/data").text
    assert '<label for="since">From</label>' in page and '<label for="until">To</label>' in page
    assert "YYYY-MM-DD" not in page


def test_an_oversized_upload_on_a_page_gets_the_shops_error_page(pages):
    fudge = pages.sweet()
    pages.admin()
    # Written out whole, so the test client keeps the body in memory (no spooled file to leak).
    body = (b'--B\r\nContent-Disposition: form-data; name="photo"; filename="huge.jpg"\r\n'
            b"Content-Type: image/jpeg\r\n\r\n" + b"\xff" * (pages.app.config["PHOTO_MAX_BYTES"] + 200 * 1024)
            + b"\r\n--B--\r\n")
    for path in (f"/admin/sweets/{fudge}/photo", "/admin/sweets/new"):
        response = pages.client.post(path, data=body, content_type="multipart/form-data; boundary=B")
        assert response.status_code == 413 and response.mimetype == "text/html"
        assert "413 Request Entity Too Large · Sweetshop" in response.text
        assert 'class="site-header"' in response.text


def test_the_catalogue_lists_only_so_deep(pages, api):
    pages.app.config.update(CATALOGUE_DEPTH_MAX=4, CATALOGUE_PAGE_SIZE=2)
    for n in range(7):
        pages.sweet(f"Sweet {n}")
    assert pages.client.get("/?page=2").status_code == 200
    last = pages.client.get("/?page=2").text
    assert "page 2 of 2" in last and "as deep as the catalogue lists (4 of 7)" in last
    deep = pages.client.get("/?page=3")
    assert deep.status_code == 422 and "Narrow the search by name, category or price" in deep.text
    assert not re.findall(r'<li class="sweet', deep.text)
    assert pages.client.get("/?page=3&name=Sweet 6").status_code == 200  # one page: clamped as before
    assert pages.client.get("/api/sweets?skip=4").status_code == 200
    for path in ("/api/sweets?skip=5", "/api/sweets/search?name=Sweet&skip=5"):
        response = pages.client.get(path)
        assert response.status_code == 422
        assert "narrow the search" in response.json["errors"]["skip"][0].lower()
