"""Click and collect in a real browser, JavaScript off: staff pack from the pick list, mark an order
ready and hand it over; the customer sees "Ready for collection" and where to collect."""
import re

import requests
from playwright.sync_api import expect

from .conftest import ADMIN, TEST_PASSWORD
from .test_storefront import add_sweet, flash, stock


def log_in(page, username):
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(TEST_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("button", name="Log out").wait_for()


def test_staff_pack_mark_ready_and_hand_over_while_the_customer_watches(server, new_context):
    liquorice = add_sweet(server, "Liquorice Wheel", quantity=20, price=0.9)
    cola = add_sweet(server, "Cola Bottle", quantity=20, price=0.2)
    # The customer orders from the sweet's own page: quantity, "Add to basket", then the basket.
    customer = new_context(java_script_enabled=False).new_page()
    requests.post(server.base + "/api/auth/register", timeout=30,
                  json={"username": "gwen", "password": TEST_PASSWORD, "full_name": "Gwen Price"})
    log_in(customer, "gwen")
    customer.goto(f"/sweets/{liquorice['id']}")
    customer.get_by_label("Quantity").fill("3")
    customer.get_by_role("button", name="Add to basket").click()
    expect(flash(customer)).to_have_text("Added 3 × Liquorice Wheel to your basket (3 in it).")
    customer.goto(f"/sweets/{cola['id']}")
    customer.get_by_label("Quantity").fill("10")
    customer.get_by_role("button", name="Add to basket").click()
    customer.goto("/basket")
    customer.get_by_role("button", name="Place order").click()
    expect(flash(customer)).to_have_text(re.compile(r"Thank you! Order #\d+ is placed\."))
    order_id = int(re.search(r"/orders/(\d+)$", customer.url).group(1))
    expect(customer.locator(f"#order-{order_id}-state")).to_have_text("Placed — we are packing it")
    expect(customer.locator(".collection-note")).to_contain_text("Pay when you collect")

    staff = new_context(java_script_enabled=False).new_page()
    log_in(staff, ADMIN)
    staff.get_by_role("link", name="Admin").click()
    staff.get_by_role("link", name="Orders", exact=True).click()
    expect(staff.get_by_role("link", name=re.compile(r"^To pack"))).to_have_attribute("aria-current", "page")
    order = staff.locator(f"#order-{order_id}")
    expect(order).to_contain_text("Gwen Price (gwen)")
    staff.get_by_role("link", name="Pick list").click()
    picks = staff.locator("#pick-list tbody tr")
    expect(picks.filter(has_text="Cola Bottle")).to_contain_text("10")
    expect(picks.filter(has_text="Liquorice Wheel")).to_contain_text("3")
    expect(staff.locator(f"#pack-{order_id}")).to_contain_text("Gwen Price (gwen)")
    # Printed, the page is the list alone.
    staff.emulate_media(media="print")
    expect(staff.locator(".site-header")).to_be_hidden()
    expect(staff.locator("#pick-list")).to_be_visible()
    staff.emulate_media(media="screen")

    staff.get_by_role("navigation", name="Shop administration").get_by_role("link", name="Orders").click()
    order.get_by_role("button", name=f"Mark ready order #{order_id}").click()
    expect(flash(staff)).to_have_text(f"Order #{order_id} of Gwen Price (gwen) is ready for collection.")
    expect(staff.locator(f"#order-{order_id}")).to_have_count(0)  # packed: off the To pack list

    customer.reload()
    expect(customer.locator(f"#order-{order_id}-state")).to_have_text(
        re.compile(r"^Ready for collection since \d\d:\d\d$"))
    expect(customer.locator(".status")).to_have_text("Ready")
    customer.get_by_role("link", name="My orders", exact=True).click()
    expect(customer.locator(f"#order-{order_id}-state")).to_contain_text("Ready for collection since")

    staff.get_by_role("link", name=re.compile(r"^Ready")).click()
    staff.locator(f"#order-{order_id}").get_by_role("button", name=f"Collected order #{order_id}").click()
    expect(flash(staff)).to_have_text(f"Order #{order_id} of Gwen Price (gwen) was collected.")
    staff.get_by_role("link", name=re.compile(r"^Collected")).click()
    expect(staff.locator(f"#order-{order_id} .status")).to_have_text("Collected")

    customer.reload()
    expect(customer.locator(f"#order-{order_id}-state")).to_have_text("Collected")
    expect(customer.locator(".collection-note")).to_have_count(0)
    assert (stock(server, liquorice), stock(server, cola)) == (17, 10)


def test_a_stale_button_explains_instead_of_failing(server, new_context):
    humbug = add_sweet(server, "Aniseed Twist", quantity=5)
    buyer = server.token("hugo")
    placed = requests.post(f"{server.base}/api/orders", headers=buyer, timeout=30,
                           json={"items": [{"sweet_id": humbug["id"], "quantity": 2}]})
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["id"]
    staff = new_context(java_script_enabled=False).new_page()
    log_in(staff, ADMIN)
    staff.goto("/admin/orders")
    # Another member of staff hands the order over while this page is open.
    moved = requests.post(f"{server.base}/api/orders/{order_id}/collect", headers=server.admin_headers,
                          timeout=30)
    assert moved.status_code == 200, moved.text
    staff.locator(f"#order-{order_id}").get_by_role("button", name=f"Mark ready order #{order_id}").click()
    expect(flash(staff)).to_have_text(f"Order #{order_id} is already collected: nothing changed.")
    expect(staff.get_by_role("heading", name="Orders")).to_be_visible()
    assert stock(server, humbug) == 3
