"""Screenshots of the demo shop for the README (desktop and a 390 px phone), checked for phone fit."""
import pytest
import requests
from playwright.sync_api import expect

from .conftest import ADMIN, SCREENSHOTS, TEST_PASSWORD, shop_server

VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


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
        server.fudge = fudge
        yield server


@pytest.mark.parametrize("size", VIEWPORTS)
def test_screenshots(browser, demo, size):
    context = browser.new_context(base_url=demo.base, viewport=VIEWPORTS[size])
    try:
        page = context.new_page()
        page.goto("/login")
        page.get_by_label("Username").fill(ADMIN)
        page.get_by_label("Password").fill(TEST_PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("button", name="Log out")).to_be_visible()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        pictures = {"catalogue": "/", "admin": "/admin", "history": f"/admin/sweets/{demo.fudge}",
                    "report": "/admin/report?days=7"}
        others = ["/purchases", "/admin/sweets/new", f"/admin/sweets/{demo.fudge}/edit", "/admin/data",
                  f"/admin/sweets/{demo.fudge}/archive", "/register", "/no-such-page"]
        for path in [*pictures.values(), *others]:
            page.goto(path)
            expect(page.locator("h1")).to_be_visible()
            # Readable on a phone: nothing wider than the screen, so no sideways scrolling.
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= VIEWPORTS[size]["width"], f"{path} is {width}px wide on {size}"
        for name, path in pictures.items():
            page.goto(path)
            page.screenshot(path=SCREENSHOTS / f"{name}-{size}.png", full_page=True)
    finally:
        context.close()
