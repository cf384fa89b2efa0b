"""The sales report: API shape, days in the shop's time zone, top sellers, reorder list."""
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import insert

from sweetshop import reports
from sweetshop.extensions import db
from sweetshop.models import StockMovement


def ledger_row(app, sweet_id, kind, change, at, unit_price=None):
    """A ledger row written straight to the table, at a chosen time (the report reads only the ledger)."""
    with app.app_context():
        db.session.execute(insert(StockMovement.__table__).values(
            sweet_id=sweet_id, kind=kind, change=change, balance=0, unit_price=unit_price, created_at=at))
        db.session.commit()


def report(app, days=30, now=None):
    with app.app_context():
        return reports.sales_report(days, now=now).as_json()


def test_report_needs_an_admin(client, api):
    assert client.get("/api/reports/sales").status_code == 401
    assert client.get("/api/reports/sales", headers=api.user("carol")).status_code == 403


@pytest.mark.parametrize("days", ["0", "367", "-1", "abc", "1.5", "", "1e2"])
def test_bad_days_are_a_422(client, api, days):
    response = client.get(f"/api/reports/sales?days={days}", headers=api.admin)
    if days == "":
        assert response.status_code == 422 or response.status_code == 200
        return
    assert response.status_code == 422 and "days" in response.json["errors"]


def test_empty_shop_has_exactly_n_zero_days(client, api):
    response = client.get("/api/reports/sales?days=7", headers=api.admin)
    assert response.status_code == 200
    body = response.json
    assert list(body) == ["days", "top", "reorder"]
    assert [day["units"] for day in body["days"]] == [0] * 7
    assert all(day["revenue"] == 0 for day in body["days"])
    dates = [day["date"] for day in body["days"]]
    assert dates == sorted(dates) and len(set(dates)) == 7
    assert body["top"] == [] and body["reorder"] == []
    assert len(client.get("/api/reports/sales", headers=api.admin).json["days"]) == 30
    assert len(client.get("/api/reports/sales?days=366", headers=api.admin).json["days"]) == 366


def test_purchases_count_returns_net_off_and_restocks_do_not(app, client, api):
    fudge = api.sweet("Fudge", price=2.5, quantity=50)["id"]
    mint = api.sweet("Mint", price=0.4, quantity=50)["id"]
    buyer = api.user("carol")
    for sweet, quantity in ((fudge, 3), (fudge, 2), (mint, 10)):
        assert client.post(f"/api/sweets/{sweet}/purchase", headers=buyer,
                           json={"quantity": quantity}).status_code == 200
    client.post(f"/api/sweets/{mint}/restock", headers=api.admin, json={"quantity": 7})
    # A cancelled order's lines come back as 'return' rows: they cancel the sale.
    ledger_row(app, mint, StockMovement.RETURN, 4, datetime.now(timezone.utc), Decimal("0.40"))
    body = client.get("/api/reports/sales?days=1", headers=api.admin).json
    assert body["days"][0]["units"] == 11 and body["days"][0]["revenue"] == 14.9  # 5*2.5 + 6*0.4
    assert body["top"] == [
        {"sweet_id": mint, "name": "Mint", "units": 6, "revenue": 2.4},
        {"sweet_id": fudge, "name": "Fudge", "units": 5, "revenue": 12.5}]


def test_a_cancelled_order_shows_no_sales(app, client, api):
    fudge = api.sweet("Fudge", price=2.5, quantity=50)["id"]
    mint = api.sweet("Mint", price=0.4, quantity=50)["id"]
    buyer = api.user("carol")
    items = {"items": [{"sweet_id": fudge, "quantity": 3}, {"sweet_id": mint, "quantity": 10}]}
    placed = client.post("/api/orders", headers=buyer, json=items)
    assert placed.status_code == 201, placed.json
    body = client.get("/api/reports/sales?days=1", headers=api.admin).json
    assert (body["days"][0]["units"], body["days"][0]["revenue"]) == (13, 11.5)  # 3*2.5 + 10*0.4
    # The units go back at the price they were sold at, whatever the price is now.
    client.patch(f"/api/sweets/{fudge}", headers=api.admin, json={"price": 9})
    assert client.post(f"/api/orders/{placed.json['id']}/cancel", headers=buyer).status_code == 200
    body = client.get("/api/reports/sales?days=1", headers=api.admin).json
    assert body["days"] == [{"date": body["days"][0]["date"], "units": 0, "revenue": 0}]
    assert body["top"] == []
    # An order that stays counts as any sale, at the price it was sold at.
    kept = client.post("/api/orders", headers=buyer, json={"items": [{"sweet_id": fudge, "quantity": 2}]})
    assert kept.status_code == 201
    client.patch(f"/api/sweets/{fudge}", headers=api.admin, json={"price": 1})
    body = client.get("/api/reports/sales?days=1", headers=api.admin).json
    assert (body["days"][0]["units"], body["days"][0]["revenue"]) == (2, 18)
    assert body["top"] == [{"sweet_id": fudge, "name": "Fudge", "units": 2, "revenue": 18}]


def test_days_follow_the_shop_time_zone_across_summer_time(app, api):
    sweet = api.sweet(quantity=100)["id"]
    app.config["SHOP_TIMEZONE"] = "Europe/London"
    # 23:30 UTC on 30 June is 00:30 on 1 July in London (BST); in winter UTC is London time.
    ledger_row(app, sweet, "purchase", -1, datetime(2026, 6, 30, 23, 30, tzinfo=timezone.utc), Decimal("1"))
    ledger_row(app, sweet, "purchase", -2, datetime(2026, 6, 30, 22, 59, tzinfo=timezone.utc), Decimal("1"))
    # Clocks go back at 01:00 UTC on 25 October 2026: 00:30 UTC is 01:30 BST, 01:30 UTC is 01:30 GMT.
    ledger_row(app, sweet, "purchase", -4, datetime(2026, 10, 24, 23, 30, tzinfo=timezone.utc), Decimal("1"))
    ledger_row(app, sweet, "purchase", -8, datetime(2026, 10, 25, 23, 30, tzinfo=timezone.utc), Decimal("1"))
    now = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
    days = {day["date"]: day["units"] for day in report(app, 366, now)["days"]}
    assert len(days) == 366 and max(days) == "2026-11-30" and min(days) == "2025-11-30"
    assert days["2026-06-30"] == 2 and days["2026-07-01"] == 1
    # 00:30 BST and 23:30 GMT, both on the 25th, the day the clocks went back.
    assert days["2026-10-24"] == 0 and days["2026-10-25"] == 12 and days["2026-10-26"] == 0
    app.config["SHOP_TIMEZONE"] = "UTC"
    days = {day["date"]: day["units"] for day in report(app, 366, now)["days"]}
    assert days["2026-06-30"] == 3 and days["2026-10-24"] == 4 and days["2026-10-25"] == 8


def test_only_the_last_n_days_count(app, api):
    sweet = api.sweet(quantity=100)["id"]
    now = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
    ledger_row(app, sweet, "purchase", -1, now - timedelta(days=7), Decimal("1"))
    ledger_row(app, sweet, "purchase", -5, now - timedelta(hours=1), Decimal("1"))
    body = report(app, 7, now)
    assert body["days"][0]["date"] == "2026-11-24" and sum(d["units"] for d in body["days"]) == 5
    assert report(app, 8, now)["days"][0]["units"] == 1


def test_reorder_list_by_days_of_cover(app, client, api):
    app.config.update(LOW_STOCK_THRESHOLD=5, REORDER_COVER_DAYS=14)
    fast = api.sweet("Fast", quantity=28)["id"]     # 28 sold in 14 days: 2 a day, 14 left -> 7 days
    slow = api.sweet("Slow", quantity=20)["id"]     # 7 sold: 0.5 a day, 13 left -> 26 days: not listed
    idle = api.sweet("Idle", quantity=3)["id"]      # none sold, 3 left: listed, cover null
    empty = api.sweet("Empty", quantity=1)["id"]    # 1 sold today: 0 left -> 0 days
    api.sweet("Plenty", quantity=50)                # none sold, plenty: not listed
    buyer = api.user("carol")
    for sweet, quantity in ((fast, 14), (slow, 7), (empty, 1)):
        assert client.post(f"/api/sweets/{sweet}/purchase", headers=buyer,
                           json={"quantity": quantity}).status_code == 200
    ledger_row(app, fast, "purchase", -14, datetime.now(timezone.utc) - timedelta(days=13), Decimal("1"))
    ledger_row(app, fast, "purchase", -99, datetime.now(timezone.utc) - timedelta(days=15), Decimal("1"))
    body = client.get("/api/reports/sales", headers=api.admin).json
    assert body["reorder"] == [
        {"sweet_id": empty, "name": "Empty", "quantity": 0, "days_of_cover": 0.0},
        {"sweet_id": fast, "name": "Fast", "quantity": 14, "days_of_cover": 7.0},
        {"sweet_id": idle, "name": "Idle", "quantity": 3, "days_of_cover": None}]


def test_top_is_ten_sweets_by_units(app, client, api):
    buyer = api.user("carol")
    ids = [api.sweet(f"Sweet {n:02}", quantity=100)["id"] for n in range(12)]
    for n, sweet in enumerate(ids):
        assert client.post(f"/api/sweets/{sweet}/purchase", headers=buyer,
                           json={"quantity": n + 1}).status_code == 200
    top = client.get("/api/reports/sales", headers=api.admin).json["top"]
    assert [row["units"] for row in top] == list(range(12, 2, -1))


def test_nice_ceiling():
    assert [reports.nice_ceiling(Decimal(v)) for v in ("0", "0.3", "7", "12", "24", "26", "99", "101")] == [
        1, Decimal("0.5"), 10, 20, Decimal("25"), 50, 100, 200]


def test_ready_and_collected_orders_count_as_sales_and_a_cancelled_ready_one_does_not(client, api):
    """Every order that is not cancelled is a sale, whatever step of collection it has reached."""
    fudge = api.sweet("Fudge", price=2.5, quantity=50)["id"]
    buyer = api.user("carol")

    def order(quantity, *steps):
        placed = client.post("/api/orders", headers=buyer,
                             json={"items": [{"sweet_id": fudge, "quantity": quantity}]})
        assert placed.status_code == 201, placed.json
        for step in steps:
            moved = client.post(f"/api/orders/{placed.json['id']}/{step}", headers=api.admin)
            assert moved.status_code == 200, moved.json

    order(1)
    order(2, "ready")
    order(4, "collect")
    order(8, "ready", "collect")
    order(16, "ready", "cancel")
    body = client.get("/api/reports/sales?days=1", headers=api.admin).json
    assert (body["days"][0]["units"], body["days"][0]["revenue"]) == (15, 37.5)
    assert body["top"] == [{"sweet_id": fudge, "name": "Fudge", "units": 15, "revenue": 37.5}]
