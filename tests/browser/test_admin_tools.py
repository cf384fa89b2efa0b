"""The admin's tools in a real browser: nothing typed or saved is lost after an error, an import
preview is applied once, and the small things a new shop owner meets; each page audited by axe-core."""
import re

import requests
from PIL import Image
from playwright.sync_api import expect

from support.harness import LiveServer, migrated_database

from .conftest import ADMIN, accessibility_violations


def add_sweet(server, name, category="Admin tools", price=1.5, quantity=30, **content):
    response = requests.post(server.base + "/api/sweets", headers=server.admin_headers, timeout=30,
                             json={"name": name, "category": category, "price": price, "quantity": quantity,
                                   **content})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def stock(server, sweet_id):
    return requests.get(f"{server.base}/api/sweets/{sweet_id}", timeout=30).json()["quantity"]


def audited(page):
    violations = accessibility_violations(page)
    assert not violations, "\n".join(violations)


def test_a_failed_photo_upload_keeps_the_allergens_ticked(server, page, log_in, tmp_path):
    toffee = add_sweet(server, "Allergen Toffee", allergens=["milk", "peanuts"])
    not_a_photo = tmp_path / "notes.txt"
    not_a_photo.write_text("not an image")
    log_in(ADMIN)
    page.goto(f"/admin/sweets/{toffee}/edit")
    page.get_by_label(re.compile("^Photo")).set_input_files(str(not_a_photo))
    page.get_by_role("button", name="Upload photo").click()
    expect(page.locator("#photo-error")).to_be_visible()
    audited(page)
    expect(page.get_by_label("Milk", exact=True)).to_be_checked()
    expect(page.get_by_label("Peanuts", exact=True)).to_be_checked()
    expect(page.get_by_label("Soya", exact=True)).not_to_be_checked()
    # Saving what came back keeps the allergens.
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash-success")).to_have_text("Saved Allergen Toffee.")
    sweet = requests.get(f"{server.base}/api/sweets/{toffee}", timeout=30).json()
    assert sweet["allergens"] == ["milk", "peanuts"]


def upload_for_preview(page, path):
    page.goto("/admin/data")
    page.get_by_label(re.compile("CSV file")).set_input_files(str(path))
    page.get_by_role("button", name="Check the file").click()
    expect(page.locator("h1")).to_have_text("Check before importing")


def test_an_import_preview_is_applied_once_from_two_tabs_and_a_double_click(server, page, log_in, tmp_path):
    gum = add_sweet(server, "Once Gum", quantity=56)
    delivery = tmp_path / "delivery.csv"
    delivery.write_text("name,category,price,quantity,restock\nOnce Gum,Admin tools,1.50,56,1\n")
    log_in(ADMIN)
    upload_for_preview(page, delivery)
    audited(page)
    # A second tab showing the same preview: the same form, submitted from another page.
    fields = page.locator("form.confirm-import input").evaluate_all(
        "inputs => inputs.map(input => [input.name, input.value])")
    second = page.context.new_page()
    second.goto("/admin/data")
    second.evaluate("""fields => {
        const form = document.createElement('form');
        form.method = 'post'; form.action = '/admin/import/confirm';
        for (const [name, value] of fields) {
            const input = document.createElement('input');
            input.type = 'hidden'; input.name = name; input.value = value; form.appendChild(input);
        }
        document.body.appendChild(form);
        form.submit();
    }""", fields)
    expect(second.locator(".flash-success")).to_contain_text("Imported: 0 new sweets, 1 updated (+1 unit).")
    assert stock(server, gum) == 57
    page.get_by_role("button", name="Import 1 row").click()
    expect(page.locator("h1")).to_have_text("Already imported")
    expect(page.locator("main")).to_contain_text("nothing changed this time")
    audited(page)
    assert stock(server, gum) == 57
    # A double click on a fresh preview of the same file: one more delivery, once.
    upload_for_preview(page, delivery)
    page.get_by_role("button", name="Import 1 row").dblclick()
    page.wait_for_load_state()
    expect(page.locator("h1")).to_be_visible()
    assert stock(server, gum) == 58
    second.close()


def test_an_unchanged_export_imports_back_without_a_change(server, page, log_in, tmp_path):
    fudge = add_sweet(server, "Round Trip Fudge", quantity=40)
    log_in(ADMIN)
    page.goto("/admin/data")
    with page.expect_download() as download:
        page.get_by_role("link", name="Catalogue with stock (CSV)").click()
    exported = tmp_path / "sweets.csv"
    download.value.save_as(exported)
    assert exported.read_text().splitlines()[0] == "name,category,price,quantity,restock"
    upload_for_preview(page, exported)
    expect(page.locator(".totals")).to_contain_text("0 new sweets, 0 updated")
    expect(page.locator(".totals")).to_contain_text("+0 units restocked")
    page.get_by_role("button", name=re.compile(r"^Import \d+ rows?$")).click()
    expect(page.locator(".flash-success")).to_contain_text("Imported: 0 new sweets, 0 updated (+0 units).")
    assert stock(server, fudge) == 40


def test_admin_navigation_restock_zero_count_reason_and_dates(server, page, log_in):
    humbug = add_sweet(server, "Nav Humbug", quantity=9)
    log_in(ADMIN)
    page.goto("/admin")
    nav = page.get_by_role("navigation", name="Shop administration")
    for link, heading in (("Orders", "Orders"), ("Users and admins", "Users"),
                          ("Sales report", "Sales, last 30 days"), ("Import and export", "Import and export"),
                          ("Add a sweet", "Add a sweet"), ("Stock", "Stock")):
        nav.get_by_role("link", name=link).click()
        expect(page.locator("h1")).to_have_text(heading)
        expect(nav.locator('[aria-current="page"]')).to_have_text(link)
    row = page.locator(f"#sweet-{humbug}")
    units = row.get_by_label("Units to add to Nav Humbug")
    units.fill("0")
    row.get_by_role("button", name="Restock").click()
    # The browser itself refuses 0 (the field's minimum is 1) ...
    assert units.evaluate("input => input.validity.rangeUnderflow")
    # ... and so does the shop, for a browser that does not check.
    row.locator("form").evaluate("form => form.noValidate = true")
    row.get_by_role("button", name="Restock").click()
    expect(page.locator(f"#restock-{humbug}-error")).to_have_text(
        "Nothing to add: enter the number of units delivered.")
    assert stock(server, humbug) == 9
    page.goto(f"/admin/sweets/{humbug}")
    page.get_by_label("Counted on the shelf").fill("7")
    page.get_by_label("Why it differs").select_option("breakage")
    page.get_by_role("button", name="Record count").click()
    expect(page.locator("table.history")).to_contain_text("Stock count (breakage)")
    assert stock(server, humbug) == 7
    page.goto("/admin/data")
    expect(page.get_by_label("From", exact=True)).to_have_attribute("type", "date")
    expect(page.locator("main")).not_to_contain_text("YYYY-MM-DD")


def test_add_a_sweet_with_a_photo_and_an_oversized_one(server, page, log_in, tmp_path):
    picture = tmp_path / "pear.png"
    Image.new("RGB", (120, 90), (120, 200, 60)).save(picture, "PNG")
    log_in(ADMIN)
    page.goto("/admin/sweets/new")
    page.get_by_label("Name").fill("Pear Drop")
    page.get_by_label("Category").fill("admin TOOLS")  # the spelling on sale wins
    page.get_by_label("Price").fill("0.80")
    page.get_by_label("Initial stock").fill("12")
    page.get_by_label(re.compile("^Photo")).set_input_files(str(picture))
    page.get_by_role("button", name="Add sweet").click()
    expect(page.locator(".flash-success")).to_have_text("Added Pear Drop with 12 in stock and its photo.")
    sweets = requests.get(server.base + "/api/sweets/search?name=Pear+Drop", timeout=30).json()
    assert sweets[0]["photo_url"] and sweets[0]["category"] == "Admin tools"
    huge = tmp_path / "huge.jpg"
    huge.write_bytes(b"\xff" * (6 * 1024 * 1024))
    page.goto("/admin/sweets/new")
    page.get_by_label("Name").fill("Heavy Drop")
    page.get_by_label(re.compile("^Photo")).set_input_files(str(huge))
    page.get_by_role("button", name="Add sweet").click()
    expect(page.locator("h1")).to_have_text("Request Entity Too Large")
    expect(page.locator(".site-header")).to_be_visible()  # the shop's own page, not the framework's
    audited(page)


def test_register_logs_in_and_the_catalogue_has_a_favicon_and_honest_filters(server, page):
    add_sweet(server, "Filter Cheap", price=0.5)
    add_sweet(server, "Filter Dear", price=9)
    missing = []
    page.on("response", lambda response: missing.append(response.url) if response.status == 404 else None)
    page.goto("/register")
    page.get_by_label("Username").fill("newcomer")
    page.get_by_label("Password", exact=True).fill("correct horse 1")
    page.get_by_label("Repeat password").fill("correct horse 1")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    expect(page.locator(".flash-success")).to_contain_text("you are logged in")
    page.goto("/?name=Filter&min_price=5&max_price=1")
    expect(page.locator("#min_price-error")).to_have_text("Must not be more than the max price.")
    expect(page.locator(".sweet")).to_have_count(2)
    audited(page)
    icon = page.evaluate("fetch('/favicon.ico').then(r => r.status)")
    assert icon == 200 and not missing, missing
    assert page.locator('link[rel="icon"]').count() == 2


def test_a_page_beyond_the_catalogues_depth_says_how_to_go_on(page, tmp_path):
    """A shop of its own that lists 24 sweets deep (two pages of 12) and holds 30."""
    with migrated_database("sqlite", tmp_path) as url:
        shallow = LiveServer(url, workers=1, CATALOGUE_DEPTH_MAX=24)
        try:
            catalogue = tmp_path / "range.csv"
            catalogue.write_text("name,category,price,quantity\n"
                                 + "".join(f"Deep Sweet {n:02},Deep,1.00,3\n" for n in range(30)))
            assert shallow.cli("import-sweets", str(catalogue)).returncode == 0
            page.goto(shallow.base + "/?page=2")
            expect(page.locator(".count")).to_contain_text("30 sweets, page 2 of 2")
            expect(page.locator("main")).to_contain_text("as deep as the catalogue lists (24 of 30)")
            page.goto(shallow.base + "/?page=3")
            expect(page.locator("main")).to_contain_text("Narrow the search by name, category or price")
            expect(page.locator(".sweet")).to_have_count(0)
            audited(page)
            page.goto(shallow.base + "/?name=Deep+Sweet+2")
            expect(page.locator(".sweet")).to_have_count(10)  # narrowed: 20 to 29
            response = requests.get(shallow.base + "/api/sweets?skip=25", timeout=30)
            assert response.status_code == 422 and "skip" in response.json()["errors"]
        finally:
            shallow.stop()


def test_a_bad_import_file_page_passes_the_audit(server, page, log_in, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("name,category,price\nBad,,1.234\n")
    log_in(ADMIN)
    page.goto("/admin/data")
    audited(page)
    page.get_by_label(re.compile("CSV file")).set_input_files(str(bad))
    page.get_by_role("button", name="Check the file").click()
    expect(page.locator("h1")).to_have_text("The file cannot be imported")
    audited(page)
