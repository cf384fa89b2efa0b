"""Catalogue content on the pages: cards with unit, allergens and photo; a sweet's own page; sorting;
the admin's content fields and photo upload; /admin/users."""
import html
import io
import re

import pytest
from support.pages import Pages, field_error, flashes
from PIL import Image

from sweetshop import accounts, catalog, photos
from support.images import image_bytes, noisy_png

# Forms, sessions and templates: the SQL under them runs on both databases in tests/domain and
# tests/api, so these run on SQLite only (docs/testing.md).
pytestmark = pytest.mark.databases("sqlite")


@pytest.fixture
def pages(client):
    return Pages(client)


def card(page, name):
    """The HTML of the catalogue card of the sweet called ``name``."""
    for item in page.text.split('<li class="sweet')[1:]:
        if f">{name}</a></h2>" in item:
            return item
    raise AssertionError(f"no card for {name}")


def cards(page):
    return re.findall(r'<h2><a href="/sweets/\d+">(.*?)</a></h2>', page.text)


def give_photo(pages, sweet_id, data=None):
    with pages.app.app_context():
        return photos.set_photo(sweet_id, data or image_bytes("PNG")).photo_hash


def with_content(pages, sweet_id, **changes):
    with pages.app.app_context():
        catalog.update_sweet(sweet_id, **changes)


def test_cards_show_unit_allergens_and_thumbnail_or_placeholder(pages):
    lemon = pages.sweet("Sherbet Lemon", "Candy", "0.45")
    fudge = pages.sweet("Fudge", "Fudge", "2.00")
    with_content(pages, fudge, unit="per 100 g", allergens=["milk", "soya"])
    digest = give_photo(pages, fudge)
    page = pages.client.get("/")

    lemon_card = card(page, "Sherbet Lemon")
    assert re.search(r'<p class="price">£0.45 <span class="unit">each</span></p>', lemon_card)
    assert 'class="thumb placeholder" role="img" aria-label="No photo of Sherbet Lemon yet"' in lemon_card
    assert "Contains" not in lemon_card
    assert f'href="/sweets/{lemon}"' in lemon_card

    fudge_card = card(page, "Fudge")
    assert '<span class="unit">per 100 g</span>' in fudge_card
    assert re.findall(r"<li>(.*?)</li>", fudge_card) == ["milk", "soya"]
    assert (f'<img class="thumb" src="/photos/{digest}-thumb.webp" alt="Photo of Fudge" loading="lazy">'
            in fudge_card)
    # The policy still allows images from this site only (and data: URLs), as before.
    assert "img-src 'self' data:;" in page.headers["Content-Security-Policy"]


def test_a_sweets_own_page(pages):
    fudge = pages.sweet("Fudge", "Fudge", "2.00", quantity=7)
    with_content(pages, fudge, unit="per bag", allergens=["milk"],
                 description="Soft & crumbly.\nMade in <Cornwall>.\n<script>alert(1)</script>")
    digest = give_photo(pages, fudge)
    page = pages.client.get(f"/sweets/{fudge}")
    assert page.status_code == 200
    assert "<h1>Fudge</h1>" in page.text and "7 in stock" in page.text
    assert '£2.00 <span class="unit">per bag</span>' in page.text
    description = re.search(r'<div class="description">(.*?)</div>', page.text, re.S).group(1)
    assert description == ("Soft &amp; crumbly.\nMade in &lt;Cornwall&gt;.\n"
                           "&lt;script&gt;alert(1)&lt;/script&gt;")
    assert "<script>" not in page.text
    assert f'<img src="/photos/{digest}.webp" alt="Photo of Fudge">' in page.text
    assert re.findall(r"<li>(.*?)</li>", page.text) == ["milk"]


def test_a_sweet_without_allergens_or_photo_says_so(pages):
    lemon = pages.sweet("Sherbet Lemon")
    page = pages.client.get(f"/sweets/{lemon}")
    assert "None of the 14 allergens" in page.text and "No photo of Sherbet Lemon yet" in page.text
    assert 'class="description"' not in page.text


def test_the_sweet_page_is_404_for_archived_and_missing_sweets(pages):
    fudge = pages.sweet("Fudge")
    with pages.app.app_context():
        catalog.archive_sweet(fudge)
    for path in (f"/sweets/{fudge}", "/sweets/999", "/sweets/99999999999"):
        response = pages.client.get(path)
        assert response.status_code == 404 and "text/html" in response.content_type


def test_the_catalogue_sorts_and_keeps_the_order_across_pages(pages):
    for name, price in [("toffee", "1.50"), ("Apple Drop", "0.90"), ("mint", "1.50"), ("Bonbon", "3.00")]:
        pages.sweet(name, price=price)
    get = pages.client.get
    assert cards(get("/")) == ["toffee", "Apple Drop", "mint", "Bonbon"]
    assert cards(get("/?sort=name")) == ["Apple Drop", "Bonbon", "mint", "toffee"]
    assert cards(get("/?sort=price")) == ["Apple Drop", "toffee", "mint", "Bonbon"]
    assert cards(get("/?sort=-price")) == ["Bonbon", "mint", "toffee", "Apple Drop"]
    assert cards(get("/?sort=newest")) == ["Bonbon", "mint", "Apple Drop", "toffee"]
    selected = re.search(r'<option selected value="-price">|<option value="-price" selected>',
                         get("/?sort=-price").text)
    assert selected, "the chosen order is shown in the select"

    pages.app.config["CATALOGUE_PAGE_SIZE"] = 2
    first = get("/?sort=name")
    assert cards(first) == ["Apple Drop", "Bonbon"]
    next_link = html.unescape(re.search(r'<a rel="next" href="([^"]+)"', first.text).group(1))
    assert "sort=name" in next_link and cards(get(next_link)) == ["mint", "toffee"]


def test_an_unknown_sort_on_the_page_is_ignored_and_explained(pages):
    pages.sweet("toffee")
    pages.sweet("Apple Drop")
    page = pages.client.get("/?sort=price;drop")
    assert page.status_code == 200
    assert cards(page) == ["toffee", "Apple Drop"]  # the default order
    assert field_error(page, "sort") == "Not a valid choice."


# --- admin: content fields and photos -----------------------------------------------------

def test_add_and_edit_a_sweet_with_description_unit_and_allergens(pages):
    pages.admin()
    form = pages.client.get("/admin/sweets/new").text
    assert len(re.findall(r'<input[^>]*name="allergens" type="checkbox"', form)) == 14
    response = pages.post("/admin/sweets/new", {
        "name": "Fudge", "category": "Fudge", "price": "2.50", "quantity": "3", "unit": "per 100 g",
        "description": "Line one\r\nLine two", "allergens": ["soya", "milk"]})
    assert response.status_code == 302, field_error(response, "allergens")
    with pages.app.app_context():
        fudge = catalog.search_sweets()[0]
        assert (fudge.unit, fudge.description, fudge.allergens) == ("per 100 g", "Line one\nLine two",
                                                                    ["milk", "soya"])
    edit = pages.client.get(f"/admin/sweets/{fudge.id}/edit").text
    assert re.search(r'<input checked[^>]*value="milk"|<input[^>]*value="milk"[^>]*checked', edit)
    response = pages.post(f"/admin/sweets/{fudge.id}/edit", {
        "name": "Fudge", "category": "Fudge", "price": "2.50", "unit": "each", "description": ""})
    assert response.status_code == 302
    with pages.app.app_context():
        fudge = catalog.get_sweet(fudge.id)
        assert (fudge.unit, fudge.description, fudge.allergens) == ("each", "", [])


@pytest.mark.parametrize("fields, field, message", [
    ({"unit": ""}, "unit", "Must not be empty."),
    ({"unit": "x" * 31}, "unit", "Must be at most 30 characters."),
    ({"description": "x" * 2001}, "description", "Must be at most 2000 characters."),
    ({"allergens": ["chocolate"]}, "allergens", "Unknown allergen 'chocolate'; allowed: celery,"),
])
def test_bad_content_is_shown_next_to_the_field_and_kept(pages, fields, field, message):
    pages.admin()
    body = {"name": "Fudge", "category": "Fudge", "price": "2.50", "quantity": "3", "unit": "each", **fields}
    response = pages.post("/admin/sweets/new", body)
    assert response.status_code == 422
    assert message in field_error(response, field)
    assert "Fudge" in response.text
    with pages.app.app_context():
        assert catalog.search_sweets() == []


def upload(pages, sweet_id, data, filename="photo.jpg"):
    return pages.post(f"/admin/sweets/{sweet_id}/photo", {"photo": (io.BytesIO(data), filename)})


def test_upload_replace_and_remove_a_photo_on_the_edit_page(pages):
    fudge = pages.sweet("Fudge")
    pages.admin()
    edit = pages.client.get(f"/admin/sweets/{fudge}/edit").text
    assert 'enctype="multipart/form-data"' in edit and "No photo yet" in edit
    big = noisy_png(400)  # far over the 64 KiB that other forms may send
    response = upload(pages, fudge, big)
    assert response.status_code == 302
    assert response.location.endswith(f"/admin/sweets/{fudge}/edit#photo-panel")
    with pages.app.app_context():
        digest = catalog.get_sweet(fudge).photo_hash
    assert digest and pages.client.get(f"/photos/{digest}.webp").status_code == 200
    assert f'src="/photos/{digest}-thumb.webp"' in pages.client.get(f"/admin/sweets/{fudge}/edit").text

    assert pages.post(f"/admin/sweets/{fudge}/photo/remove", csrf=False).status_code == 400
    response = pages.post(f"/admin/sweets/{fudge}/photo/remove")
    assert response.status_code == 302
    assert ("success", "Removed the photo of Fudge.") in flashes(pages.client.get("/"))
    assert pages.client.get(f"/photos/{digest}.webp").status_code == 404


@pytest.mark.parametrize("data, message", [
    (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "Not a JPEG, PNG or WebP image."),
    (image_bytes("GIF"), "Not a JPEG, PNG or WebP image."),
    (image_bytes("JPEG", size=(300, 200))[:900], "The image is damaged or incomplete."),
])
def test_a_bad_upload_is_explained_next_to_the_field(pages, data, message):
    fudge = pages.sweet("Fudge")
    pages.admin()
    response = upload(pages, fudge, data)
    assert response.status_code == 422 and field_error(response, "photo") == message
    with pages.app.app_context():
        assert catalog.get_sweet(fudge).photo_hash is None


def test_upload_without_a_file_or_a_csrf_token_is_refused(pages):
    fudge = pages.sweet("Fudge")
    pages.admin()
    response = pages.post(f"/admin/sweets/{fudge}/photo", {})
    assert response.status_code == 422 and field_error(response, "photo") == "Choose a photo to upload."
    response = pages.post(f"/admin/sweets/{fudge}/photo",
                          {"photo": (io.BytesIO(image_bytes("PNG")), "a.png")}, csrf=False)
    assert response.status_code == 400


def test_upload_is_for_admins_only(pages):
    fudge = pages.sweet("Fudge")
    pages.customer()
    assert upload(pages, fudge, image_bytes("PNG")).status_code == 403
    assert pages.post(f"/admin/sweets/{fudge}/photo/remove").status_code == 403


def test_the_stored_photo_is_the_reencoded_one(pages):
    fudge = pages.sweet("Fudge")
    pages.admin()
    upload(pages, fudge, image_bytes("JPEG", size=(3000, 1500)))
    with pages.app.app_context():
        digest = catalog.get_sweet(fudge).photo_hash
    image = Image.open(io.BytesIO(pages.client.get(f"/photos/{digest}.webp").data))
    assert image.format == "WEBP" and image.size == (1200, 600)


# --- admin: users ----------------------------------------------------------------------------

def user_rows(page):
    return re.findall(r'<tr id="user-(\d+)">\s*<th scope="row" data-label="Username">(.*?)</th>', page.text)


def test_users_page_lists_searches_and_pages(pages):
    for name in ("alice", "bob", "carol"):
        pages.register(name, full_name=f"{name.title()} Smith" if name != "bob" else "Robert")
    pages.admin("boss")
    page = pages.client.get("/admin/users")
    assert page.status_code == 200
    assert [name for _, name in user_rows(page)] == ["alice", "bob", "boss", "carol"]
    assert [name for _, name in user_rows(pages.client.get("/admin/users?q=smith"))] == ["alice", "carol"]
    assert [name for _, name in user_rows(pages.client.get("/admin/users?q=ROB"))] == ["bob"]
    pages.app.config["USERS_PAGE_SIZE"] = 3
    assert [name for _, name in user_rows(pages.client.get("/admin/users?page=2"))] == ["carol"]
    assert "page 2 of 2" in pages.client.get("/admin/users?page=2").text


def test_make_admin_and_revoke_admin_from_the_users_page(pages):
    pages.register("alice")
    pages.admin("boss")
    with pages.app.app_context():
        alice, boss = accounts.find_user("alice").id, accounts.find_user("boss").id
    page = pages.client.get("/admin/users?q=a")
    assert f'action="/admin/users/{alice}/grant"' in page.text
    assert f'action="/admin/users/{boss}/revoke"' not in pages.client.get("/admin/users").text  # not yourself

    assert pages.post(f"/admin/users/{alice}/grant", csrf=False).status_code == 400
    response = pages.post(f"/admin/users/{alice}/grant", {"next": "/admin/users?q=a"})
    assert response.status_code == 302 and response.location == "/admin/users?q=a"
    assert ("success", "alice is an admin now.") in flashes(pages.client.get("/admin/users"))
    assert f'action="/admin/users/{alice}/revoke"' in pages.client.get("/admin/users").text

    response = pages.post(f"/admin/users/{alice}/revoke", {"next": "https://evil.example/"})
    assert response.status_code == 302 and response.location == "/admin/users"
    with pages.app.app_context():
        assert not accounts.get_user(alice).is_admin

    # A forged form revoking yourself changes nothing and says why.
    pages.post(f"/admin/users/{boss}/revoke")
    assert ("error", "You cannot revoke your own admin rights; another admin can.") in flashes(
        pages.client.get("/admin/users"))
    with pages.app.app_context():
        assert accounts.get_user(boss).is_admin


def test_users_page_is_for_admins_only(pages):
    pages.register("alice")
    pages.log_out()
    assert pages.client.get("/admin/users").status_code == 302
    pages.customer("carol")
    assert pages.client.get("/admin/users").status_code == 403
    with pages.app.app_context():
        alice = accounts.find_user("alice").id
    assert pages.post(f"/admin/users/{alice}/grant").status_code == 403
    with pages.app.app_context():
        assert not accounts.get_user(alice).is_admin
