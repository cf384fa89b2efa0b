"""What customers and staff do, in a real browser: register, search, buy out a sweet, run the stock."""
import re

import requests
from playwright.sync_api import expect

from .conftest import ADMIN, TEST_PASSWORD


def add_sweet(server, name, category="Candy", price=1.5, quantity=3):
    response = requests.post(server.base + "/api/sweets", headers=server.admin_headers, timeout=30,
                             json={"name": name, "category": category, "price": price, "quantity": quantity})
    assert response.status_code == 201, response.text
    return response.json()


def flash(page):
    return page.locator(".flash")


def test_customer_registers_searches_and_buys_a_sweet_until_it_is_sold_out(server, new_context):
    add_sweet(server, "Sherbet Fizz", quantity=3, price=0.8)
    add_sweet(server, "Pear Drops")
    # No JavaScript at all: the shop must work with it switched off.
    page = new_context(java_script_enabled=False).new_page()

    page.goto("/")
    expect(page.get_by_text("to buy.")).to_be_visible()  # anonymous visitors are invited to log in
    page.get_by_role("link", name="Register").click()
    page.get_by_label("Username").fill("carol")
    page.get_by_label("Full name (optional)").fill("Carol Jones")
    page.get_by_label("Password", exact=True).fill(TEST_PASSWORD)
    page.get_by_label("Repeat password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(flash(page)).to_have_text("Welcome, carol! Your account is ready: please log in.")

    expect(page.get_by_label("Username")).to_have_value("carol")
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(flash(page)).to_have_text("Logged in as carol.")

    page.get_by_role("searchbox", name="Name").fill("fizz")
    page.get_by_role("button", name="Search").click()
    expect(page.locator(".sweet h2")).to_have_text(["Sherbet Fizz"])
    card = page.locator(".sweet", has_text="Sherbet Fizz")
    expect(card).to_contain_text("3 in stock")

    card.get_by_label("Quantity").fill("2")
    card.get_by_role("button", name="Buy").click()
    expect(flash(page)).to_have_text("You bought 2 × Sherbet Fizz.")
    expect(page).to_have_url(re.compile(r"/\?name=fizz"))  # back on the same search
    expect(card).to_contain_text("1 in stock")

    card.get_by_label("Quantity").fill("1")
    card.get_by_role("button", name="Buy").click()
    expect(flash(page)).to_have_text("You bought 1 × Sherbet Fizz.")
    expect(card).to_contain_text("Sold out")
    expect(card.get_by_role("button", name="Sold out")).to_be_disabled()
    expect(card.get_by_role("button", name=re.compile("^Buy"))).to_have_count(0)

    page.get_by_role("link", name="My purchases").click()
    rows = page.locator("table.purchases tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("Sherbet Fizz")
    expect(rows.nth(0).locator('[data-label="Quantity"]')).to_have_text("1")
    expect(rows.nth(1).locator('[data-label="Quantity"]')).to_have_text("2")
    expect(rows.nth(1).locator('[data-label="Total"]')).to_have_text("£1.60")


def test_admin_adds_restocks_edits_archives_a_sweet_and_reads_its_history(page, log_in):
    log_in(ADMIN)
    page.get_by_role("link", name="Admin").click()
    page.get_by_role("link", name="Add a sweet").click()
    page.get_by_label("Name").fill("Rhubarb Rock")
    page.get_by_label("Category").fill("Rock")
    page.get_by_label("Price").fill("1.999")
    page.get_by_label("Initial stock").fill("5")
    page.get_by_role("button", name="Add sweet").click()
    # Invalid input comes back with the message beside the field and the typed text kept.
    expect(page.locator("#price-error")).to_have_text("Must have at most 2 decimal places.")
    expect(page.get_by_label("Name")).to_have_value("Rhubarb Rock")
    page.get_by_label("Price").fill("2.00")
    page.get_by_role("button", name="Add sweet").click()
    expect(flash(page)).to_have_text("Added Rhubarb Rock with 5 in stock.")

    row = page.locator("tr", has_text="Rhubarb Rock")
    expect(row).to_have_class("low")  # 5 is at the default low-stock threshold
    restock = row.get_by_label("Units to add to Rhubarb Rock")
    restock.fill("7")
    restock.press("Enter")  # the keyboard submits the row's form
    expect(flash(page)).to_have_text("Restocked Rhubarb Rock: +7, now 12.")
    expect(row.locator('[data-label="Stock"]')).to_have_text("12")
    expect(row).not_to_have_class("low")

    row.get_by_role("link", name="Edit Rhubarb Rock").click()
    expect(page.get_by_label("Price")).to_have_value("2.00")
    page.get_by_label("Price").fill("2.40")
    page.get_by_role("button", name="Save").click()
    expect(flash(page)).to_have_text("Saved Rhubarb Rock.")
    expect(row.locator('[data-label="Price"]')).to_have_text("£2.40")

    row.get_by_role("link", name="Archive Rhubarb Rock").click()
    expect(page.get_by_role("heading", name="Archive Rhubarb Rock?")).to_be_visible()
    page.get_by_role("button", name="Yes, archive it").click()
    expect(flash(page)).to_have_text("Archived Rhubarb Rock: it is off sale; its history stays.")
    expect(page.locator("tr", has_text="Rhubarb Rock")).to_have_count(0)

    page.get_by_text("Archived sweets (1)").click()
    page.get_by_role("link", name="Rhubarb Rock").click()
    expect(page.get_by_role("heading", name="Rhubarb Rock")).to_be_visible()
    rows = page.locator("table.history tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0).locator("td")).to_have_text([re.compile("UTC$"), "Restock", "+7", "12", "—", ADMIN])
    expect(rows.nth(1).locator("td")).to_have_text(
        [re.compile("UTC$"), "Initial stock", "+5", "5", "—", ADMIN])

    page.goto("/")
    expect(page.get_by_text("Rhubarb Rock")).to_have_count(0)


def test_a_sweet_named_like_a_script_is_shown_as_text(server, page, log_in):
    name = "<script>alert(1)</script>"
    sweet = add_sweet(server, name, category="<b>Bold</b>")
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    log_in(ADMIN)
    for path in ("/?name=alert", "/admin", f"/admin/sweets/{sweet['id']}"):
        page.goto(path)
        expect(page.get_by_text(name, exact=True).first).to_be_visible()
    expect(page.locator("b", has_text="Bold")).to_have_count(0)
    assert dialogs == []
