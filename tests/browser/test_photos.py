"""A catalogue card with a photo, in a real browser at desktop width and on a 390 px phone."""
import io

import pytest
import requests
from PIL import Image, ImageDraw
from playwright.sync_api import expect

VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


def sweet_picture(colour):
    """A drawn sweet: a striped disc on a light background, 900 x 600."""
    image = Image.new("RGB", (900, 600), (255, 247, 240))
    draw = ImageDraw.Draw(image)
    draw.ellipse((300, 150, 600, 450), fill=colour)
    for offset in range(-300, 300, 60):
        draw.line((450 + offset - 150, 450, 450 + offset + 150, 150), fill=(255, 255, 255), width=14)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def add_sweet_with_photo(server, name, **content):
    response = requests.post(server.base + "/api/sweets", headers=server.admin_headers, timeout=30, json={
        "name": name, "category": "Photo test", "price": 1.25, "quantity": 9, **content})
    assert response.status_code == 201, response.text
    sweet = response.json()
    response = requests.put(f"{server.base}/api/sweets/{sweet['id']}/photo", headers=server.admin_headers,
                            data=sweet_picture((214, 40, 110)), timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="module")
def photographed(server):
    sweet = add_sweet_with_photo(server, "Raspberry Ruffle", unit="per 100 g", allergens=["milk", "soya"])
    response = requests.post(server.base + "/api/sweets", headers=server.admin_headers, timeout=30, json={
        "name": "Plain Mint", "category": "Photo test", "price": 0.5, "quantity": 9})
    assert response.status_code == 201
    return sweet


@pytest.mark.parametrize("size", VIEWPORTS)
def test_card_with_a_photo_and_its_own_page(browser, server, photographed, size):
    context = browser.new_context(base_url=server.base, viewport=VIEWPORTS[size])
    errors = []
    try:
        page = context.new_page()
        # Every image and page answered (the browser's own favicon probe aside), and no policy blocked one.
        page.on("response", lambda response: errors.append(f"{response.status} {response.url}")
                if response.status >= 400 and not response.url.endswith("/favicon.ico") else None)
        page.on("console", lambda message: errors.append(message.text)
                if message.type == "error" and "Content Security Policy" in message.text else None)
        page.goto("/?category=Photo+test&sort=name")
        card = page.locator(".sweet", has_text="Raspberry Ruffle")
        photo = card.get_by_role("img", name="Photo of Raspberry Ruffle")
        expect(photo).to_be_visible()
        # Loaded (served, and allowed by the Content-Security-Policy), not a broken image.
        photo.scroll_into_view_if_needed()
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=photo.element_handle())
        assert photo.evaluate("img => img.naturalWidth") == 480  # the thumbnail, not the full copy
        expect(card).to_contain_text("£1.25 per 100 g")
        allergens = card.get_by_role("list", name="Allergens in Raspberry Ruffle").get_by_role("listitem")
        expect(allergens).to_have_text(["milk", "soya"])
        # The sweet without a photo gets the neutral placeholder, framed the same.
        plain = page.locator(".sweet", has_text="Plain Mint")
        placeholder = plain.get_by_role("img", name="No photo of Plain Mint yet")
        expect(placeholder).to_be_visible()
        photo_box, placeholder_box = photo.bounding_box(), placeholder.bounding_box()
        assert abs(photo_box["height"] - placeholder_box["height"]) < 1
        assert abs(photo_box["width"] - placeholder_box["width"]) < 1
        # The picture fits its card, and nothing is wider than the screen.
        card_box = card.bounding_box()
        assert card_box["x"] <= photo_box["x"]
        assert photo_box["x"] + photo_box["width"] <= card_box["x"] + card_box["width"]
        assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORTS[size]["width"]

        card.get_by_role("link", name="Raspberry Ruffle").click()
        expect(page.locator("h1")).to_have_text("Raspberry Ruffle")
        big = page.get_by_role("img", name="Photo of Raspberry Ruffle")
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=big.element_handle())
        assert big.evaluate("img => img.naturalWidth") == 900
        assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORTS[size]["width"]
        assert errors == []
    finally:
        context.close()
