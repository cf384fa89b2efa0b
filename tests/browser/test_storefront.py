"""What customers and staff do, in a real browser: fill a basket, place and cancel an order, run the stock."""
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


def stock(server, sweet):
    return requests.get(f"{server.base}/api/sweets/{sweet['id']}", timeout=30).json()["quantity"]


def test_customer_fills_a_basket_logged_out_places_an_order_and_cancels_it(server, new_context):
    fizz = add_sweet(server, "Sherbet Fizz", quantity=3, price=0.8)
    drops = add_sweet(server, "Pear Drops", quantity=10, price=1.5)
    humbug = add_sweet(server, "Mint Humbug", quantity=10, price=0.6)
    # No JavaScript at all: the shop must work with it switched off.
    page = new_context(java_script_enabled=False).new_page()

    page.goto("/")
    page.get_by_role("searchbox", name="Name").fill("fizz")
    page.get_by_role("button", name="Search").click()
    card = page.locator(".sweet", has_text="Sherbet Fizz")
    card.get_by_label("Quantity").fill("2")
    card.get_by_role("button", name="Add to basket").click()
    expect(flash(page)).to_have_text("Added 2 × Sherbet Fizz to your basket (2 in it).")
    # Back on the same search, scrolled to the sweet's card.
    expect(page).to_have_url(re.compile(rf"/\?name=fizz[^#]*#sweet-{fizz['id']}$"))
    expect(card).to_contain_text("2 in your basket")

    page.goto("/")
    for name in ("Pear Drops", "Mint Humbug"):
        page.locator(".sweet", has_text=name).get_by_role("button", name="Add to basket").click()
    expect(page.locator("#basket-units")).to_have_text("4")

    page.get_by_role("link", name=re.compile("^Basket")).click()
    expect(page.locator("table.basket tbody tr")).to_have_count(3)
    expect(page.locator("#basket-total")).to_have_text("£3.70")
    line = page.locator("tr", has_text="Pear Drops")
    line.get_by_label("Quantity of Pear Drops").fill("3")
    line.get_by_role("button", name="Update").click()
    expect(flash(page)).to_have_text("Pear Drops: 3 in your basket.")
    expect(page.locator("#basket-total")).to_have_text("£6.70")
    page.locator("tr", has_text="Mint Humbug").get_by_role("button", name="Remove").click()
    expect(flash(page)).to_have_text("Removed Mint Humbug from your basket.")
    expect(page.locator("table.basket tbody tr")).to_have_count(2)
    expect(page.locator("#basket-total")).to_have_text("£6.10")

    # Placing needs an account; registering logs in, and keeps the basket.
    page.get_by_role("link", name="Log in to place your order").click()
    page.get_by_role("link", name="Create an account").click()
    page.get_by_label("Username").fill("carol")
    page.get_by_label("Password", exact=True).fill(TEST_PASSWORD)
    page.get_by_label("Repeat password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/basket$"))  # back to the basket, through registration too
    expect(page.locator("#basket-total")).to_have_text("£6.10")
    page.get_by_role("button", name="Place order").click()

    expect(flash(page)).to_have_text(re.compile(r"Thank you! Order #\d+ is placed\."))
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"Order #\d+"))
    receipt = page.locator("table.lines")
    expect(receipt.locator("tbody tr")).to_have_count(2)
    expect(receipt.locator("tbody tr").nth(0)).to_contain_text("Sherbet Fizz")
    expect(receipt.locator(".order-total")).to_have_text("£6.10")
    assert [stock(server, fizz), stock(server, drops), stock(server, humbug)] == [1, 7, 10]
    expect(page.locator("#basket-units")).to_have_count(0)  # the basket is empty

    page.get_by_role("link", name="My orders", exact=True).click()
    orders = page.locator("li.order")
    expect(orders).to_have_count(1)
    expect(orders.nth(0).locator(".status")).to_have_text("Placed")
    expect(orders.nth(0).locator(".state")).to_have_text("Placed — we are packing it")
    orders.nth(0).get_by_role("link", name=re.compile(r"^Cancel")).click()
    # "Cancel" asks first; asking changes nothing.
    expect(page.get_by_role("heading", name=re.compile(r"Cancel order #\d+\?"))).to_be_visible()
    assert [stock(server, fizz), stock(server, drops), stock(server, humbug)] == [1, 7, 10]
    page.get_by_role("button", name="Yes, cancel the order").click()
    expect(flash(page)).to_have_text(re.compile(r"Order #\d+ is cancelled: its sweets are back in stock\."))
    expect(orders.nth(0).locator(".status")).to_have_text("Cancelled")
    expect(orders.nth(0).get_by_role("link", name=re.compile(r"^Cancel"))).to_have_count(0)
    assert [stock(server, fizz), stock(server, drops), stock(server, humbug)] == [3, 10, 10]


def test_a_refused_order_says_which_line_is_short(server, page, log_in):
    gum = add_sweet(server, "Bubble Gum", quantity=5)
    server.token("dave")  # registers dave
    log_in("dave")
    page.goto("/?name=bubble")
    page.get_by_label("Quantity").fill("4")
    page.get_by_role("button", name="Add to basket").click()
    page.goto("/basket")
    # Someone else buys 3 meanwhile.
    buyer = server.token("erin")
    requests.post(f"{server.base}/api/sweets/{gum['id']}/purchase", headers=buyer, json={"quantity": 3},
                  timeout=30).raise_for_status()
    page.get_by_role("button", name="Place order").click()
    expect(flash(page)).to_contain_text("Nothing was bought")
    expect(page.locator(f"#line-{gum['id']}-problem")).to_have_text("Only 2 left.")
    assert stock(server, gum) == 2


def test_admin_cancels_an_order_after_confirming(server, page, log_in):
    toffee = add_sweet(server, "Treacle Toffee", quantity=8)
    buyer = server.token("frank")
    response = requests.post(f"{server.base}/api/orders", headers=buyer, timeout=30,
                             json={"items": [{"sweet_id": toffee["id"], "quantity": 5}]})
    assert response.status_code == 201, response.text
    order_id = response.json()["id"]
    log_in(ADMIN)
    page.get_by_role("link", name="Admin").click()
    page.get_by_role("link", name="Orders", exact=True).click()
    expect(page.get_by_role("link", name=re.compile(r"^To pack"))).to_have_attribute("aria-current", "page")
    order = page.locator(f"#order-{order_id}")
    expect(order).to_contain_text("frank")
    expect(order).to_contain_text("Treacle Toffee")
    order.get_by_role("link", name=f"Cancel order #{order_id}").click()
    expect(page.get_by_role("heading", name=f"Cancel order #{order_id}?")).to_be_visible()
    assert stock(server, toffee) == 3  # asking changed nothing
    page.get_by_role("button", name="Yes, cancel the order").click()
    expect(flash(page)).to_have_text(f"Cancelled order #{order_id} of frank: its sweets are back in stock.")
    assert stock(server, toffee) == 8
    page.get_by_role("link", name=re.compile(r"^Cancelled")).click()
    expect(page.locator(f"#order-{order_id} .status")).to_have_text("Cancelled")


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
    # Times in the shop's time zone (Europe/London by default).
    when = re.compile("(GMT|BST)$")
    expect(rows.nth(0).locator("td")).to_have_text([when, "Restock", "+7", "12", "—", ADMIN])
    expect(rows.nth(1).locator("td")).to_have_text(
        [when, "Initial stock", "+5", "5", "—", ADMIN])

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
