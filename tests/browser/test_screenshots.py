"""The demo shop on a desktop and a 390 px phone: every page fits the screen, and the README's screenshots.

The pictures in docs/screenshots are written only by ``make screenshots`` (SWEETSHOP_SCREENSHOTS=1),
so an ordinary test run leaves the committed files alone.
"""
import os

import pytest
import requests
from playwright.sync_api import expect

from .conftest import ADMIN, SCREENSHOTS, TEST_PASSWORD, accessibility_violations, shop_server
from .test_photos import sweet_picture

VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
WRITE_SCREENSHOTS = os.environ.get("SWEETSHOP_SCREENSHOTS") == "1"


@pytest.fixture(scope="module")
def demo(tmp_path_factory, chromium):
    """A server of its own with the demo catalogue and some sales, so the pictures stay the same."""
    with shop_server(tmp_path_factory.mktemp("demo")) as server:
        result = server.cli("seed-demo")
        assert result.returncode == 0, result.stderr
        sweets = {s["name"]: s for s in requests.get(server.base + "/api/sweets", timeout=30).json()}
        buyer = server.token("carol")
        fudge = sweets["Fudge Square"]["id"]
        for quantity in (2, 1):
            response = requests.post(f"{server.base}/api/sweets/{fudge}/purchase", headers=buyer,
                                     json={"quantity": quantity}, timeout=30)
            assert response.status_code == 200, response.text
        response = requests.post(f"{server.base}/api/sweets/{fudge}/restock", headers=server.admin_headers,
                                 json={"quantity": 12}, timeout=30)
        assert response.status_code == 200, response.text
        requests.post(f"{server.base}/api/sweets/{fudge}/purchase", headers=buyer, json={"quantity": 3},
                      timeout=30).raise_for_status()
        for name, colour in (("Chocolate Truffle", (92, 52, 30)), ("Strawberry Bonbon", (222, 49, 99)),
                             ("Fudge Square", (214, 170, 110))):
            response = requests.put(f"{server.base}/api/sweets/{sweets[name]['id']}/photo",
                                    headers=server.admin_headers, data=sweet_picture(colour), timeout=30)
            assert response.status_code == 200, response.text
        server.truffle = sweets["Chocolate Truffle"]["id"]
        items = [{"sweet_id": sweet["id"], "quantity": quantity}
                 for sweet, quantity in zip(list(sweets.values())[:3], (2, 1, 3))]
        response = requests.post(f"{server.base}/api/orders", headers=buyer, json={"items": items},
                                 timeout=30)
        assert response.status_code == 201, response.text
        server.fudge, server.order = fudge, response.json()["id"]
        # A second order, packed and waiting on the shelf: the order pages show both states.
        response = requests.post(f"{server.base}/api/orders", headers=buyer, timeout=30, json={
            "items": [{"sweet_id": sweets["Chocolate Truffle"]["id"], "quantity": 4}]})
        assert response.status_code == 201, response.text
        server.ready_order = response.json()["id"]
        response = requests.post(f"{server.base}/api/orders/{server.ready_order}/ready",
                                 headers=server.admin_headers, timeout=30)
        assert response.status_code == 200, response.text
        server.basket = [sweets[name]["id"] for name in ("Sherbet Lemon", "Gummy Bears", "Peppermint Humbug")]
        yield server


def log_in(page, username):
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def visit(page, size, pictures, others, write):
    """Visit every page; each must fit the screen's width and pass the accessibility audit (no
    serious or critical violation). With ``write``, photograph ``pictures``."""
    violations = []
    for path in [*pictures.values(), *others]:
        page.goto(path)
        expect(page.locator("h1")).to_be_visible()
        # Readable on a phone: nothing wider than the screen, so no sideways scrolling.
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= VIEWPORTS[size]["width"], f"{path} is {width}px wide on {size}"
        violations += accessibility_violations(page)
    assert not violations, "\n".join(violations)
    if write:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for name, path in pictures.items():
            page.goto(path)
            # A full-page picture includes what is below the fold: load the lazy thumbnails too.
            page.evaluate("document.querySelectorAll('img[loading=lazy]')"
                          ".forEach(img => img.loading = 'eager')")
            page.wait_for_function("[...document.images].every(img => img.complete && img.naturalWidth > 0)")
            page.screenshot(path=SCREENSHOTS / f"{name}-{size}.png", full_page=True)


def tour(browser, demo, size, write):
    """A customer with a basket of three sweets and an order, then the admin's pages."""
    context = browser.new_context(base_url=demo.base, viewport=VIEWPORTS[size])
    try:
        page = context.new_page()
        log_in(page, "carol")
        for sweet_id, quantity in zip(demo.basket, (10, 2, 12)):
            page.goto("/")
            card = page.locator(f"#sweet-{sweet_id}")
            card.get_by_label("Quantity").fill(str(quantity))
            card.get_by_role("button", name="Add to basket").click()
            expect(page.locator(".flash-success")).to_be_visible()
        visit(page, size, {"catalogue": "/", "sweet": f"/sweets/{demo.truffle}", "basket": "/basket",
                           "receipt": f"/orders/{demo.order}", "my-orders": "/orders"},
              [f"/orders/{demo.ready_order}", f"/orders/{demo.order}/cancel", "/account", "/register",
               "/no-such-page"],
              write)
        page.goto("/")  # the last page visited may be the error page, which has no "Log out"
        page.get_by_role("button", name="Log out").click()
        visit(page, size, {}, ["/login", "/?min_price=5&max_price=1"], write)
        log_in(page, ADMIN)
        visit(page, size, {"admin": "/admin", "history": f"/admin/sweets/{demo.fudge}",
                           "report": "/admin/report?days=7", "orders": "/admin/orders",
                           "pick-list": "/admin/orders/pick-list"},
              ["/admin/orders?status=ready", "/admin/orders?status=all", f"/admin/orders/{demo.order}/cancel",
               "/admin/data", "/admin/sweets/new",
               f"/admin/sweets/{demo.fudge}/edit", f"/admin/sweets/{demo.fudge}/archive", "/admin/users"],
              write)
    finally:
        context.close()


@pytest.mark.parametrize("size", VIEWPORTS)
def test_every_page_fits_the_screen(browser, demo, size):
    tour(browser, demo, size, write=False)


@pytest.mark.skipif(not WRITE_SCREENSHOTS, reason="screenshots are written by `make screenshots`")
@pytest.mark.parametrize("size", VIEWPORTS)
def test_screenshots(browser, demo, size):
    tour(browser, demo, size, write=True)
