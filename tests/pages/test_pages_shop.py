"""The catalogue and adding to the basket through the test client (CSRF on), on SQLite and PostgreSQL."""
import re

import pytest
from support.pages import Pages, field_error, flashes, form_fields, input_value, text_of

# Forms, sessions and templates: the SQL under them runs on both databases in tests/domain and
# tests/api, so these run on SQLite only (docs/testing.md).
pytestmark = pytest.mark.databases("sqlite")


@pytest.fixture
def pages(client):
    return Pages(client)


def cards(response):
    """The sweet names shown on a catalogue page, in order."""
    return re.findall(r'<li class="sweet[^"]*"[^>]*>.*?<h2><a href="/sweets/\d+">(.*?)</a></h2>',
                      response.text, re.S)


def test_catalogue_shows_each_sweet_and_lets_anonymous_visitors_fill_a_basket(pages):
    lemon = pages.sweet("Sherbet Lemon", "Candy", "0.45", 200)
    cola = pages.sweet("Cola Bottles", "Gummies", "1.20", 0)
    page = pages.client.get("/")
    assert page.status_code == 200
    assert text_of(page, f"sweet-{lemon}").startswith("Sherbet Lemon Candy £0.45 each 200 in stock")
    assert text_of(page, f"sweet-{cola}") == "Cola Bottles Gummies £1.20 each Sold out Sold out"
    assert 'href="/login?next=/"' in page.text  # invited to log in, to place the order later
    # Anyone may add to the basket; a sold-out sweet has a disabled button and no form.
    assert form_fields(page.text, f"/basket/add/{lemon}")["quantity"] == "1"
    assert f"/basket/add/{cola}" not in page.text
    assert '<button type="button" disabled>Sold out</button>' in page.text


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


def test_adding_to_the_basket_goes_back_to_the_same_page_and_search_at_that_sweet(pages):
    pages.app.config["CATALOGUE_PAGE_SIZE"] = 2
    ids = [pages.sweet(f"Fudge {number}", quantity=5) for number in range(4)]
    page = pages.client.get("/?name=fudge&page=2")
    fields = form_fields(page.text, f"/basket/add/{ids[3]}")
    assert fields["next"] == "/?name=fudge&page=2"
    added = pages.client.post(f"/basket/add/{ids[3]}", data=dict(fields, quantity="2"))
    assert added.status_code == 302 and added.location == f"/?name=fudge&page=2#sweet-{ids[3]}"
    after = pages.client.get(added.location)
    assert flashes(after) == [("success", "Added 2 × Fudge 3 to your basket (2 in it).")]
    assert f'id="sweet-{ids[3]}"' in after.text and "2 in your basket" in text_of(after, f"sweet-{ids[3]}")
    assert text_of(after, "basket-units") == "2"  # the header's basket link counts the units
    # Adding again adds up; the stock is not touched until an order is placed.
    pages.add(ids[3], 3, page="/?page=2")
    assert pages.basket() == {ids[3]: 5} and pages.stock(ids[3]) == 5


@pytest.mark.parametrize("quantity, message", [
    ("0", "Must be between 1 and 1000."),
    ("1001", "Must be between 1 and 1000."),
    ("abc", "Not a valid integer value."),
    ("", "Not a valid integer value."),
    ("6", "Only 5 left."),
])
def test_a_bad_quantity_is_refused_by_the_field_on_the_same_page(pages, quantity, message):
    fudge = pages.sweet("Fudge", quantity=5)
    other = pages.sweet("Mint", quantity=5)
    fields = form_fields(pages.client.get("/?name=f").text, f"/basket/add/{fudge}")
    page = pages.client.post(f"/basket/add/{fudge}", data=dict(fields, quantity=quantity))
    assert page.status_code == 422
    assert field_error(page, f"qty-{fudge}") == message
    assert (input_value(page, f"qty-{fudge}") or "") == quantity  # what was typed is kept
    assert f"/basket/add/{other}" not in page.text  # still the same search: "f" finds only Fudge
    assert form_fields(page.text, f"/basket/add/{fudge}")["next"] == "/?name=f"
    assert pages.basket() == {} and pages.stock(fudge) == 5


def test_the_basket_holds_no_more_than_the_stock_the_rule_or_fifty_lines(pages):
    fudge = pages.sweet("Fudge", quantity=2000)
    assert pages.add(fudge, 999).status_code == 302
    refused = pages.add(fudge, 2)
    assert refused.status_code == 422
    assert field_error(refused, f"qty-{fudge}") == "At most 1000 of a sweet per order; your basket has 999."
    assert pages.basket() == {fudge: 999}
    many = [pages.sweet(f"Sweet {number}", quantity=1) for number in range(50)]
    pages.app.config["CATALOGUE_PAGE_SIZE"] = 100
    for sweet in many[:49]:
        assert pages.add(sweet).status_code == 302
    full = pages.add(many[49])
    assert full.status_code == 422
    assert field_error(full, f"qty-{many[49]}") == (
        "Your basket is full (50 different sweets): place an order first.")
    assert len(pages.basket()) == 50 and many[49] not in pages.basket()
    assert pages.add(many[0]).status_code == 422  # only 1 of it, and it is in the basket
    assert field_error(pages.add(many[0]), f"qty-{many[0]}") == "Only 1 left; your basket has 1."


def test_adding_a_sweet_gone_from_sale_or_sold_out_meanwhile(pages):
    fudge = pages.sweet("Fudge", quantity=1)
    toffee = pages.sweet("Toffee", quantity=1)
    page = pages.client.get("/")
    stale_fudge = form_fields(page.text, f"/basket/add/{fudge}")
    stale_toffee = form_fields(page.text, f"/basket/add/{toffee}")
    with pages.app.app_context():
        from sweetshop import catalog, inventory
        catalog.archive_sweet(fudge)
        inventory.purchase(toffee, None, 1)
    gone = pages.client.post(f"/basket/add/{fudge}", data=stale_fudge)
    assert gone.status_code == 404 and flashes(gone) == [("error", "That sweet is no longer on sale.")]
    sold_out = pages.client.post(f"/basket/add/{toffee}", data=stale_toffee)
    assert sold_out.status_code == 422
    assert "Sold out" in text_of(sold_out, f"sweet-{toffee}")
    assert pages.basket() == {}


def test_adding_needs_a_csrf_token_and_keeps_next_on_this_site(pages):
    fudge = pages.sweet("Fudge", quantity=5)
    refused = pages.client.post(f"/basket/add/{fudge}", data={"quantity": "1", "next": "/"})
    assert refused.status_code == 400 and "The CSRF token is missing." in refused.text
    assert pages.basket() == {}
    for unsafe in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        added = pages.post(f"/basket/add/{fudge}", {"quantity": "1", "next": unsafe})
        assert added.status_code == 302 and added.location == f"/#sweet-{fudge}"
    # A fragment in next is replaced, not doubled.
    added = pages.post(f"/basket/add/{fudge}", {"quantity": "1", "next": "/?name=f#sweet-99"})
    assert added.location == f"/?name=f#sweet-{fudge}"


def test_purchases_redirects_to_my_orders(pages):
    response = pages.client.get("/purchases")
    assert response.status_code == 301 and response.location == "/orders"
    assert pages.client.get("/orders").location == "/login?next=%2Forders"


def test_names_are_escaped(pages):
    pages.sweet("<script>alert(1)</script>", '"><b>cat', quantity=1)
    page = pages.client.get("/")
    assert "<script>alert(1)</script>" not in page.text and "<b>cat" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


def test_query_keys_that_look_like_url_for_options_are_plain_filters(pages):
    pages.app.config["CATALOGUE_PAGE_SIZE"] = 1
    pages.sweet("Fudge")
    pages.sweet("Fudge Two")
    page = pages.client.get("/?_external=1&_anchor=x&name=fudge&sort=name")
    # The pager carries only the catalogue's own parameters (SearchForm.QUERY_PARAMETERS), sort included.
    assert 'href="/?name=fudge&amp;sort=name&amp;page=2"' in page.text
    assert "_external" not in page.text and "_anchor" not in page.text
    assert "http://" not in page.text


def test_sort_survives_paging_and_adding_to_the_basket(pages):
    """``sort`` is one of the catalogue's query parameters: the pager and "Add to basket" keep it."""
    pages.app.config["CATALOGUE_PAGE_SIZE"] = 2
    ids = {name: pages.sweet(name, price=price, quantity=5)
           for name, price in (("Aniseed", "0.90"), ("Bonbon", "0.30"), ("Caramel", "0.60"))}
    page = pages.client.get("/?sort=-price&page=2")
    assert cards(page) == ["Bonbon"]
    assert 'href="/?sort=-price&amp;page=1"' in page.text
    fields = form_fields(page.text, f"/basket/add/{ids['Bonbon']}")
    assert fields["next"] == "/?sort=-price&page=2"
    added = pages.client.post(f"/basket/add/{ids['Bonbon']}", data=dict(fields, quantity="1"))
    assert added.status_code == 302 and added.location == f"/?sort=-price&page=2#sweet-{ids['Bonbon']}"
    assert cards(pages.client.get(added.location)) == ["Bonbon"]
