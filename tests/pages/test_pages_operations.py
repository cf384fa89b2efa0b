"""Admin operations pages: report with its chart, downloads, import with preview, stock count."""
import re

import pytest
from support.pages import Pages, field_error, flashes

from support.dbstate import snapshot, stock_and_ledger

# Forms, sessions and templates: the SQL under them runs on both databases in tests/domain and
# tests/api, so these run on SQLite only (docs/testing.md).
pytestmark = pytest.mark.databases("sqlite")

HEADER = b"name,category,price,quantity\n"


@pytest.fixture
def pages(client):
    return Pages(client)


@pytest.mark.parametrize("path", ["/admin/report", "/admin/data", "/admin/export/sweets.csv",
                                  "/admin/export/ledger.csv", "/admin/export/orders.csv"])
def test_operations_pages_are_for_admins_only(pages, path):
    response = pages.client.get(path)
    assert response.status_code == 302 and response.location.startswith("/login?next=")
    pages.customer()
    assert pages.client.get(path).status_code == 403


def test_customers_cannot_import_or_count(pages):
    fudge = pages.sweet(quantity=4)
    pages.customer()
    before = snapshot(pages.app)
    assert pages.post("/admin/import", {}).status_code == 403
    assert pages.post("/admin/import/confirm", {}).status_code == 403
    assert pages.post(f"/admin/sweets/{fudge}/count", {"counted": "1", "seen": "4"}).status_code == 403
    assert snapshot(pages.app) == before


def svg(page):
    match = re.search(r"<svg .*?</svg>", page.text, re.S)
    assert match, "no chart"
    return match.group(0)


def test_empty_report_shows_an_honest_empty_chart(pages):
    pages.admin()
    page = pages.client.get("/admin/report")
    assert page.status_code == 200
    chart = svg(page)
    assert "No sales in these 30 days" in chart and "<rect" not in chart
    assert chart.count("<line") == 5  # three grid lines and the two axes
    assert "style=" not in chart and "<script" not in page.text
    assert "Nothing is running low." in page.text and "No sales yet in this period." in page.text


def test_report_page_draws_a_bar_per_day_with_sales(pages):
    fudge = pages.sweet("Fudge", price="2.50", quantity=20)
    mint = pages.sweet("Mint", price="0.40", quantity=3)
    pages.admin()
    pages.customer("carol")
    for sweet, quantity in ((fudge, 4), (mint, 1)):
        assert pages.add(sweet, quantity).status_code == 302
    assert pages.place().status_code == 302  # one order of two lines, bought through the basket
    pages.client.post("/logout", data={"csrf_token": pages.csrf()})
    pages.login("boss")
    page = pages.client.get("/admin/report?days=7")
    assert page.status_code == 200
    chart = svg(page)
    assert chart.count("<rect") == 1 and "No sales" not in chart
    assert "£10.40, 5 units" in chart
    assert [label for label in re.findall(r'<text x="64" [^>]*>([^<]+)<', chart)] == [
        "£0.00", "£10.00", "£20.00"]  # a round axis top; money always with two decimals
    assert "£10.40" in page.text and "Fudge" in page.text and "Mint" in page.text
    assert 'option value="7" selected' in page.text


def test_report_page_with_bad_days_says_so(pages):
    pages.admin()
    page = pages.client.get("/admin/report?days=999")
    assert page.status_code == 422 and "Days must be a whole number" in page.text
    assert "Sales, last 30 days" in page.text


def test_downloads_from_the_data_page(pages):
    pages.sweet("Fudge", quantity=3)
    pages.admin()
    page = pages.client.get("/admin/data")
    assert 'href="/admin/export/sweets.csv"' in page.text and 'action="/admin/export/ledger.csv"' in page.text
    response = pages.client.get("/admin/export/sweets.csv")
    assert response.mimetype == "text/csv"
    assert response.data.startswith(b"name,category,price,quantity,restock\r\n")
    assert "attachment" in response.headers["Content-Disposition"]
    ledger = pages.client.get("/admin/export/ledger.csv?since=2020-01-01&until=")
    assert ledger.status_code == 200 and b",initial,3," in ledger.data
    bad = pages.client.get("/admin/export/ledger.csv?since=2026-13-01&until=2026-01-01")
    assert bad.status_code == 422 and "real date" in field_error(bad, "since")
    assert 'href="/admin/export/orders.csv"' in page.text
    orders = pages.client.get("/admin/export/orders.csv")
    assert orders.status_code == 200 and orders.mimetype == "text/csv" and orders.is_streamed
    assert orders.data == b"order_id,time_utc,status,user,sweet_id,sweet,quantity,unit_price,line_total\r\n"
    assert 'href="/admin/export/orders.csv"' in pages.client.get("/admin/orders").text


def upload(pages, content, filename="delivery.csv"):
    import io
    return pages.post("/admin/import", {"file": (io.BytesIO(content), filename)},
                      content_type="multipart/form-data")


def confirm_fields(page):
    return dict(re.findall(r'<input name="(\w+)" type="hidden" value="([^"]*)"', page.text))


def test_import_preview_then_confirm(pages):
    fudge = pages.sweet("Fudge", price="2.50", quantity=10)
    pages.admin()
    preview = upload(pages, b"name,category,price,quantity,restock\n"
                            b"fudge,Toffee,2.75,40,5\nMint,Mints,0.40,9,\n")
    assert preview.status_code == 200
    assert "1 new sweet</strong>" in preview.text and "+5 units</strong>" in preview.text
    assert "Fudge → Toffee" in preview.text and "10 + 5 → 15" in preview.text
    # The file's quantity is not the stock now: said, and left alone.
    assert "the file says 40: stock stays 10 + 5" in preview.text
    assert pages.stock(fudge) == 10  # nothing yet
    fields = confirm_fields(preview)
    response = pages.post("/admin/import/confirm", fields)
    assert response.status_code == 302
    assert flashes(pages.client.get("/admin")) == [
        ("success", "Imported: 1 new sweet, 1 updated (+5 units).")]
    assert stock_and_ledger(pages.app, fudge) == (15, 15, 2)


def test_one_preview_is_applied_at_most_once(pages):
    """A double click, a resubmitted form or a second tab: the second confirm changes nothing."""
    fudge = pages.sweet("Fudge", price="2.50", quantity=56)
    pages.admin()
    fields = confirm_fields(upload(pages, b"name,category,price,restock\nFudge,Fudge,2.50,1\n"))
    assert pages.post("/admin/import/confirm", fields).status_code == 302
    assert pages.stock(fudge) == 57
    before = snapshot(pages.app)
    again = pages.post("/admin/import/confirm", fields)
    assert again.status_code == 409
    assert "This preview was imported already" in again.text and "nothing changed this time" in again.text
    assert "+1 unit)" in again.text
    assert snapshot(pages.app) == before and pages.stock(fudge) == 57
    # The same file uploaded again is a new preview: a second delivery, applied once more.
    fields = confirm_fields(upload(pages, b"name,category,price,restock\nFudge,Fudge,2.50,1\n"))
    assert pages.post("/admin/import/confirm", fields).status_code == 302
    assert stock_and_ledger(pages.app, fudge) == (58, 58, 3)


def test_a_preview_token_cannot_be_swapped(pages):
    fudge = pages.sweet("Fudge", quantity=5)
    pages.admin()
    first = confirm_fields(upload(pages, b"name,category,price,restock\nFudge,Fudge,2.50,1\n"))
    second = confirm_fields(upload(pages, b"name,category,price,restock\nFudge,Fudge,2.50,1\n"))
    assert first["token"] != second["token"]
    assert pages.post("/admin/import/confirm", dict(first, token=second["token"])).status_code == 400
    assert pages.stock(fudge) == 5


def test_import_confirm_refuses_an_altered_file(pages):
    import base64
    fudge = pages.sweet("Fudge", quantity=10)
    pages.admin()
    fields = confirm_fields(upload(pages, HEADER + b"Fudge,Fudge,2.50,5\n"))
    forged = base64.b64encode(HEADER + b"Fudge,Fudge,2.50,500\n").decode()
    before = snapshot(pages.app)
    response = pages.post("/admin/import/confirm", dict(fields, content=forged))
    assert response.status_code == 400 and "not the file the preview showed" in response.text
    assert pages.post("/admin/import/confirm", {"content": "%%%", "digest": "x"}).status_code == 400
    assert pages.post("/admin/import/confirm", fields, csrf=False).status_code == 400  # no CSRF token
    assert snapshot(pages.app) == before and pages.stock(fudge) == 10


def test_a_bad_file_lists_every_problem_on_the_page(pages):
    pages.admin()
    before = snapshot(pages.app)
    page = upload(pages, HEADER + b"Fudge,Fudge,2.505,3\nfudge,Fudge,1,-1\n")
    assert page.status_code == 422 and "Nothing was changed" in page.text
    assert "Must have at most 2 decimal places." in page.text and "The same name as line 2" in page.text
    assert "Must be between 0 and 1000000 (the stock of a new sweet)." in page.text
    assert upload(pages, b"").status_code == 422
    no_file = pages.post("/admin/import", {})
    assert no_file.status_code == 422 and "Choose a CSV file" in no_file.text
    assert snapshot(pages.app) == before


def test_stock_count_form_and_the_stock_moving_meanwhile(pages, api):
    fudge = pages.sweet("Fudge", quantity=10)
    pages.admin()
    history = pages.client.get(f"/admin/sweets/{fudge}")
    assert 'name="seen" type="hidden" value="10"' in history.text
    response = pages.post(f"/admin/sweets/{fudge}/count",
                          {"counted": "8", "seen": "10", "reason": "breakage"})
    assert response.status_code == 302
    assert stock_and_ledger(pages.app, fudge) == (8, 8, 2)
    assert "Stock count (breakage)" in pages.client.get(f"/admin/sweets/{fudge}").text
    # A sale happens while the form (showing 8) is open.
    pages.client.application.test_client().post(
        f"/api/sweets/{fudge}/purchase", headers=api.user("dave"), json={"quantity": 3})
    before = snapshot(pages.app)
    moved = pages.post(f"/admin/sweets/{fudge}/count", {"counted": "7", "seen": "8", "reason": "theft"})
    assert moved.status_code == 409
    assert "The stock moved meanwhile: it is now 5." in field_error(moved, "counted")
    assert 'name="seen" type="hidden" value="5"' in moved.text
    assert '<option selected value="theft">' in moved.text  # what was chosen is kept
    assert snapshot(pages.app) == before
    bad = pages.post(f"/admin/sweets/{fudge}/count", {"counted": "-1", "seen": "5"})
    assert bad.status_code == 422 and field_error(bad, "counted")
    assert field_error(bad, "reason") == "Choose why the count differs."
    assert pages.stock(fudge) == 5


@pytest.mark.parametrize("reason", ["breakage", "theft", "miscount", "other"])
def test_the_count_reason_is_kept_on_its_ledger_row(pages, reason):
    fudge = pages.sweet("Fudge", quantity=10)
    pages.admin()
    assert pages.post(f"/admin/sweets/{fudge}/count", {"counted": "9", "seen": "10",
                                                       "reason": reason}).status_code == 302
    with pages.app.app_context():
        from sweetshop import catalog
        (movement, _), *_ = catalog.stock_history(fudge)
        assert (movement.kind, movement.change, movement.note) == ("count", -1, reason)
    refused = pages.post(f"/admin/sweets/{fudge}/count", {"counted": "8", "seen": "9", "reason": "lost"})
    assert refused.status_code == 422 and pages.stock(fudge) == 9
