"""The owner's operations pages in a real browser: the sales report, and a CSV import with its preview."""
import re

import requests
from playwright.sync_api import expect

from .conftest import ADMIN


def add_sweet(server, name, price=1.5, quantity=30):
    response = requests.post(server.base + "/api/sweets", headers=server.admin_headers, timeout=30,
                             json={"name": name, "category": "Browser", "price": price, "quantity": quantity})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_report_page_shows_the_chart_on_a_phone_without_javascript(server, new_context, log_in):
    toffee = add_sweet(server, "Report Toffee", price=2, quantity=40)
    buyer = server.token("reportbuyer")
    response = requests.post(f"{server.base}/api/sweets/{toffee}/purchase", headers=buyer,
                             json={"quantity": 4}, timeout=30)
    assert response.status_code == 200
    context = new_context(java_script_enabled=False, viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto("/login")
    page.get_by_label("Username").fill(ADMIN)
    page.get_by_label("Password").fill("correct horse 1")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    page.goto("/admin")
    page.get_by_role("link", name="Sales report").click()
    expect(page.locator("h1")).to_have_text("Sales, last 30 days")
    chart = page.get_by_role("img", name="Revenue per day, last 30 days")
    expect(chart).to_be_visible()
    box = chart.bounding_box()
    assert 300 <= box["width"] <= 390, box  # fills the phone's width, no sideways scrolling
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert chart.locator("rect").count() >= 1
    expect(page.locator("table.top")).to_contain_text("Report Toffee")
    page.get_by_label("Period").select_option("7")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("h1")).to_have_text("Sales, last 7 days")
    context.close()


def test_csv_import_with_preview_then_confirm(server, page, log_in, tmp_path):
    pastille = add_sweet(server, "Import Pastille", price=1, quantity=5)
    csv_file = tmp_path / "delivery.csv"
    csv_file.write_text("name,category,price,quantity,restock\n"
                        "import PASTILLE,Browser,1.10,5,20\nImport Humbug,Browser,0.75,12,\n")
    log_in(ADMIN)
    page.goto("/admin")
    page.get_by_role("link", name="Import and export").click()
    page.get_by_label(re.compile("CSV file")).set_input_files(str(csv_file))
    page.get_by_role("button", name="Check the file").click()
    expect(page.locator("h1")).to_have_text("Check before importing")
    expect(page.locator(".totals")).to_contain_text(
        "1 new sweet, 1 updated, 0 unchanged, +20 units restocked")
    expect(page.locator("table.preview")).to_contain_text("5 + 20 → 25")
    stock = requests.get(f"{server.base}/api/sweets/{pastille}", timeout=30).json()["quantity"]
    assert stock == 5  # the preview changed nothing
    page.get_by_role("button", name="Import 2 rows").click()
    expect(page.locator(".flash")).to_have_text("Imported: 1 new sweet, 1 updated (+20 units).")
    assert requests.get(f"{server.base}/api/sweets/{pastille}", timeout=30).json()["quantity"] == 25

    # A bad file: every problem listed, nothing changed.
    csv_file.write_text("name,category,price,quantity\n"
                        "Import Pastille,Browser,1.105,1\nimport pastille,Browser,1,1\n")
    page.get_by_role("link", name="Import and export").click()
    page.get_by_label(re.compile("CSV file")).set_input_files(str(csv_file))
    page.get_by_role("button", name="Check the file").click()
    expect(page.locator("h1")).to_have_text("The file cannot be imported")
    expect(page.locator("table.problems")).to_contain_text("Must have at most 2 decimal places.")
    expect(page.locator("table.problems")).to_contain_text("The same name as line 2")
    assert requests.get(f"{server.base}/api/sweets/{pastille}", timeout=30).json()["quantity"] == 25
