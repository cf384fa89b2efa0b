"""Catalogue, buy and purchases pages through the test client (CSRF on), on SQLite and PostgreSQL."""
import re

import pytest
from pages_support import Pages, field_error, flashes, input_value


@pytest.fixture
def pages(client):
    return Pages(client)


def cards(response):
    """The sweet names shown on a catalogue page, in order."""
    return re.findall(r'<li class="sweet[^"]*">.*?<h2><a href="/sweets/\d+">(.*?)</a></h2>',
                      response.text, re.S)


def test_catalogue_shows_each_sweet_and_invites_anonymous_visitors_to_log_in(pages):
    pages.sweet("Sherbet Lemon", "Candy", "0.45", 200)
    pages.sweet("Cola Bottles", "Gummies", "1.20", 0)
    page = pages.client.get("/")
    assert page.status_code == 200
    text = page.text
    for shown in ("Sherbet Lemon", "Candy", "£0.45", "200 in stock", "Cola Bottles", "£1.20", "Sold out"):
        assert shown in text
    assert "Log in to buy" in text and 'href="/login?next=/"' in text
    assert "/buy" not in text  # no buy form for anonymous visitors


def test_search_by_name_category_and_price_range(pages):
    pages.sweet("Milk Chocolate Buttons", "Chocolate", "1.80")
    pages.sweet("Dark Chocolate Bar", "Chocolate", "3.20")
    pages.sweet("Chocolate Mice", "Novelty", "0.50")
    pages.sweet("Gummy Bears", "Gummies", "1.50")
    get = pages.client.get
    assert cards(get("/?name=chocolate")) == [
        "Milk Chocolate Buttons", "Dark Chocolate Bar", "Chocolate Mice"]
    assert cards(get("/?category=Chocolate")) == ["Milk Chocolate Buttons", "Dark Chocolate Bar"]
    assert cards(get("/?name=choc&min_price=1&max_price=2")) == ["Milk Chocolate Buttons"]
    assert cards(get("/?name=zzz")) == [] and "No sweets match" in get("/?name=zzz").text
    # The category choice offers the categories in stock, each once.
    category = re.search(r'<select id="category".*?</select>', get("/").text, re.S).group(0)
    options = re.findall(r"<option[^>]*>(.*?)</option>", category)
    assert options == ["All categories", "Chocolate", "Gummies", "Novelty"]


def test_a_bad_price_filter_is_explained_next_to_the_field_and_kept(pages):
    pages.sweet("Fudge", price="2.10")
    page = pages.client.get("/?min_price=abc&max_price=5")
    assert page.status_code == 200
    assert field_error(page, "min_price") == "Must be a number."
    assert input_value(page, "min_price") == "abc"
    assert cards(page) == ["Fudge"]  # the valid filter still applies
    page = pages.client.get("/?min_price=3&max_price=1")
    assert field_error(page, "min_price") == "Must not be more than the max price."


def test_price_filters_follow_the_api_rule(pages):
    """One rule for price bounds: fractions of a cent are refused (1e-999999 once crashed PostgreSQL)."""
    pages.sweet("Fudge", price="2.10")
    for bound in ("1e-999999", "0.001"):
        page = pages.client.get(f"/?min_price={bound}")
        assert page.status_code == 200
        assert field_error(page, "min_price") == "Must have at most 2 decimal places."
        assert cards(page) == ["Fudge"]
    api = pages.client.get("/api/sweets/search?min_price=0.001")
    assert api.status_code == 422 and api.json["errors"]["min_price"] == [
        "Must have at most 2 decimal places."]


def test_catalogue_pages(pages):
    pages.app.config["CATALOGUE_PAGE_SIZE"] = 2
    for number in range(5):
        pages.sweet(f"Sweet {number}")
    first = pages.client.get("/?name=Sweet")
    assert cards(first) == ["Sweet 0", "Sweet 1"] and "page 1 of 3" in first.text
    assert 'href="/?name=Sweet&amp;page=2"' in first.text
    assert cards(pages.client.get("/?name=Sweet&page=3")) == ["Sweet 4"]
    # Beyond the last page (or nonsense) shows the nearest real page rather than nothing.
    assert cards(pages.client.get("/?name=Sweet&page=99")) == ["Sweet 4"]
    assert cards(pages.client.get("/?name=Sweet&page=x")) == ["Sweet 0", "Sweet 1"]


def test_customer_buys_and_is_sent_back_with_the_outcome(pages):
    fudge = pages.sweet("Fudge", quantity=3)
    pages.customer()
    page = pages.client.get("/?name=fud")
    form = pages.buy_form(page.text, fudge)
    assert form["next"] == "/?name=fud"

    bought = pages.client.post(f"/sweets/{fudge}/buy", data=dict(form, quantity="2"))
    assert bought.status_code == 302 and bought.location == "/?name=fud"
    after = pages.client.get(bought.location)
    assert flashes(after) == [("success", "You bought 2 × Fudge.")]
    assert pages.stock(fudge) == 1 and "1 in stock" in after.text

    too_many = pages.client.post(f"/sweets/{fudge}/buy", data=dict(pages.buy_form(after.text, fudge),
                                                                   quantity="5"), follow_redirects=True)
    assert flashes(too_many) == [("error", "Only 1 left of Fudge: you asked for 5. Nothing was bought.")]
    assert pages.stock(fudge) == 1

    last = pages.client.post(f"/sweets/{fudge}/buy", data=dict(pages.buy_form(after.text, fudge),
                                                               quantity="1"), follow_redirects=True)
    assert flashes(last) == [("success", "You bought 1 × Fudge.")]
    # Sold out: the card says so and the button is disabled; no buy form left.
    assert "Sold out" in last.text and '<button type="button" disabled>Sold out</button>' in last.text
    assert f"/sweets/{fudge}/buy" not in last.text

    # A form still open in another tab meets the sold-out sweet.
    stale = pages.client.post(f"/sweets/{fudge}/buy", data=dict(form, token="another-tab", quantity="1"),
                              follow_redirects=True)
    assert flashes(stale) == [("error", "Sorry, Fudge is sold out.")]
    assert pages.history(fudge) == [
        ("initial", 3, None), ("purchase", -2, "carol"), ("purchase", -1, "carol")]


def test_a_double_submitted_form_buys_once(pages):
    fudge = pages.sweet("Fudge", quantity=10)
    pages.customer()
    form = dict(pages.buy_form(pages.client.get("/").text, fudge), quantity="3")
    first = pages.client.post(f"/sweets/{fudge}/buy", data=form, follow_redirects=True)
    again = pages.client.post(f"/sweets/{fudge}/buy", data=form, follow_redirects=True)
    assert flashes(first) == flashes(again) == [("success", "You bought 3 × Fudge.")]
    assert pages.stock(fudge) == 7
    # The same form sent back with another quantity buys nothing.
    edited = pages.client.post(f"/sweets/{fudge}/buy", data=dict(form, quantity="4"), follow_redirects=True)
    assert flashes(edited)[0][0] == "error" and pages.stock(fudge) == 7
    # Every freshly rendered form has its own token, so buying again is a new purchase.
    fresh = dict(pages.buy_form(pages.client.get("/").text, fudge), quantity="3")
    assert fresh["token"] != form["token"]
    pages.client.post(f"/sweets/{fudge}/buy", data=fresh)
    assert pages.stock(fudge) == 4


@pytest.mark.parametrize("quantity, message", [
    ("0", "Quantity: Must be between 1 and 1000."),
    ("1001", "Quantity: Must be between 1 and 1000."),
    ("abc", "Quantity: Not a valid integer value."),
])
def test_a_bad_quantity_buys_nothing(pages, quantity, message):
    fudge = pages.sweet("Fudge", quantity=2000)
    pages.customer()
    form = dict(pages.buy_form(pages.client.get("/").text, fudge), quantity=quantity)
    page = pages.client.post(f"/sweets/{fudge}/buy", data=form, follow_redirects=True)
    assert flashes(page) == [("error", message)]
    assert pages.stock(fudge) == 2000


def test_buy_needs_a_csrf_token_and_a_login(pages):
    fudge = pages.sweet("Fudge", quantity=5)
    anonymous = pages.post(f"/sweets/{fudge}/buy", {"quantity": "1", "next": "/?name=f"})
    assert anonymous.status_code == 302
    assert anonymous.location == "/login?next=/?name%3Df"
    pages.customer()
    form = pages.buy_form(pages.client.get("/").text, fudge)
    del form["csrf_token"]
    refused = pages.client.post(f"/sweets/{fudge}/buy", data=dict(form, quantity="1"))
    assert refused.status_code == 400 and "The CSRF token is missing." in refused.text
    assert pages.stock(fudge) == 5


def test_buying_an_archived_sweet_and_an_unsafe_next(pages):
    fudge = pages.sweet("Fudge", quantity=5)
    pages.customer()
    form = pages.buy_form(pages.client.get("/").text, fudge)
    with pages.app.app_context():
        from sweetshop import inventory
        inventory.archive_sweet(fudge)
    gone = pages.client.post(f"/sweets/{fudge}/buy", data=dict(form, next="//evil.example/"))
    assert gone.location == "/"  # an unsafe next falls back to the catalogue
    assert flashes(pages.client.get("/")) == [("error", "That sweet is no longer on sale.")]


def test_purchases_page_lists_the_customers_own_history(pages):
    fudge = pages.sweet("Fudge", price="2.50", quantity=10)
    toffee = pages.sweet("Toffee", price="1.25", quantity=10)
    pages.customer("dave")
    for sweet, quantity in ((fudge, 2), (toffee, 3)):
        form = pages.buy_form(pages.client.get("/").text, sweet)
        pages.client.post(f"/sweets/{sweet}/buy", data=dict(form, quantity=str(quantity)))
    pages.post("/logout")
    pages.customer("erin")  # someone else's purchases are not shown
    form = pages.buy_form(pages.client.get("/").text, fudge)
    pages.client.post(f"/sweets/{fudge}/buy", data=dict(form, quantity="1"))
    pages.post("/logout")
    pages.login("dave")

    page = pages.client.get("/purchases")
    assert page.status_code == 200
    rows = re.findall(r"<tr>(.*?)</tr>", page.text, re.S)
    cells = [re.findall(r'<td data-label="[^"]+"[^>]*>(.*?)</td>', row) for row in rows]
    cells = [row for row in cells if row]  # the header row has no data cells
    assert [row[1:] for row in cells] == [["Toffee", "3", "£1.25", "£3.75"], ["Fudge", "2", "£2.50", "£5.00"]]
    assert all(row[0].endswith("UTC") for row in cells)


def test_purchases_needs_a_login(pages):
    response = pages.client.get("/purchases")
    assert response.status_code == 302 and response.location == "/login?next=%2Fpurchases"
    pages.customer()
    assert "You have not bought anything yet." in pages.client.get("/purchases").text


def test_names_are_escaped(pages):
    pages.sweet("<script>alert(1)</script>", '"><b>cat', quantity=1)
    page = pages.client.get("/")
    assert "<script>alert(1)</script>" not in page.text and "<b>cat" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
