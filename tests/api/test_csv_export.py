"""CSV downloads: catalogue, ledger and orders, streamed, neutralised, dates validated."""
import csv
import io
import tracemalloc
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import insert

from sweetshop.extensions import db
from sweetshop.models import StockMovement


def rows(response):
    return list(csv.reader(io.StringIO(response.data.decode("utf-8"))))


@pytest.mark.parametrize("path", ["/api/export/sweets.csv", "/api/export/ledger.csv",
                                  "/api/export/orders.csv"])
def test_exports_need_an_admin(client, api, path):
    assert client.get(path).status_code == 401
    assert client.get(path, headers=api.user("carol")).status_code == 403


def test_catalogue_export(client, api):
    api.sweet("Fudge", "Fudge", 2.5, 10)
    api.sweet("=HYPERLINK(\"http://evil\")", "+Cat", 1, 2)
    api.sweet("Crème brûlée", "-Dessert", 3, 0)
    gone = api.sweet("Gone", quantity=1)["id"]
    client.delete(f"/api/sweets/{gone}", headers=api.admin)
    response = client.get("/api/export/sweets.csv", headers=api.admin)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="sweets.csv"'
    assert response.is_streamed
    assert rows(response) == [
        ["name", "category", "price", "quantity", "restock"],
        ["'=HYPERLINK(\"http://evil\")", "'+Cat", "1.00", "2", ""],
        ["Crème brûlée", "'-Dessert", "3.00", "0", ""],
        ["Fudge", "Fudge", "2.50", "10", ""]]


def test_ledger_export_for_a_range_of_shop_days(app, client, api):
    fudge = api.sweet("Fudge", quantity=10)["id"]
    client.post(f"/api/sweets/{fudge}/purchase", headers=api.user("@carol"[1:]), json={"quantity": 2})
    with app.app_context():
        db.session.execute(insert(StockMovement.__table__).values(
            sweet_id=fudge, kind="restock", change=0, balance=8,
            created_at=datetime(2026, 7, 1, 23, 30, tzinfo=timezone.utc)))  # 00:30 on 2 July in London
        db.session.commit()
    everything = rows(client.get("/api/export/ledger.csv", headers=api.admin))
    assert everything[0] == ["id", "time_utc", "sweet_id", "sweet", "kind", "change", "balance",
                             "unit_price", "user"]
    assert [(r[4], r[5], r[7], r[8]) for r in everything[1:]] == [
        ("initial", "10", "", "admin"), ("purchase", "-2", "2.50", "carol"), ("restock", "0", "", "")]
    july = rows(client.get("/api/export/ledger.csv?since=2026-07-02&until=2026-07-02", headers=api.admin))
    assert [r[4] for r in july[1:]] == ["restock"] and july[1][1] == "2026-07-01 23:30:00"
    assert rows(client.get("/api/export/ledger.csv?until=2026-07-01", headers=api.admin))[1:] == []
    today = datetime.now(timezone.utc).date()
    recent = rows(client.get(f"/api/export/ledger.csv?since={today - timedelta(days=1)}", headers=api.admin))
    assert [r[4] for r in recent[1:]] == ["initial", "purchase"]


def test_orders_export_one_row_per_line(client, api):
    fudge = api.sweet("Fudge", price=2.5, quantity=10)["id"]
    evil = api.sweet("=SUM(A1)", "Candy", 0.4, 50)["id"]
    carol, dave = api.user("carol"), api.user("-dave")
    first = client.post("/api/orders", headers=carol, json={"items": [
        {"sweet_id": evil, "quantity": 3}, {"sweet_id": fudge, "quantity": 2}]})
    second = client.post("/api/orders", headers=dave, json={"items": [{"sweet_id": fudge, "quantity": 1}]})
    assert first.status_code == second.status_code == 201
    assert client.post(f"/api/orders/{second.json['id']}/cancel", headers=dave).status_code == 200
    response = client.get("/api/export/orders.csv", headers=api.admin)
    assert response.status_code == 200 and response.mimetype == "text/csv" and response.is_streamed
    assert response.headers["Content-Disposition"] == 'attachment; filename="orders.csv"'
    table = rows(response)
    assert table[0] == ["order_id", "time_utc", "status", "user", "sweet_id", "sweet", "quantity",
                        "unit_price", "line_total"]
    placed_at = first.json["created_at"].replace("T", " ").removesuffix("Z")[:19]
    first_id, second_id = str(first.json["id"]), str(second.json["id"])
    # Lines by sweet id (fudge was added first); names and users a spreadsheet would run are neutralised.
    assert table[1:] == [
        [first_id, placed_at, "placed", "carol", str(fudge), "Fudge", "2", "2.50", "5.00"],
        [first_id, placed_at, "placed", "carol", str(evil), "'=SUM(A1)", "3", "0.40", "1.20"],
        [second_id, table[3][1], "cancelled", "'-dave", str(fudge), "Fudge", "1", "2.50", "2.50"],
    ]
    assert client.get("/api/export/orders.csv", headers=api.user("erin")).status_code == 403


def test_orders_export_of_a_shop_without_orders_is_the_header(client, api):
    assert rows(client.get("/api/export/orders.csv", headers=api.admin)) == [[
        "order_id", "time_utc", "status", "user", "sweet_id", "sweet", "quantity", "unit_price",
        "line_total"]]


@pytest.mark.parametrize("query", ["since=2026-7-1", "since=yesterday", "until=2026-02-30",
                                   "since=2026-07-02&until=2026-07-01", "until=２０２６-01-01"])
def test_bad_dates_are_a_422(client, api, query):
    response = client.get(f"/api/export/ledger.csv?{query}", headers=api.admin)
    assert response.status_code == 422 and response.is_json
    assert set(response.json["errors"]) <= {"since", "until"}


@pytest.mark.slow
def test_a_large_ledger_is_streamed_not_built_in_memory(app, client, api):
    fudge = api.sweet("Fudge", quantity=0)["id"]
    rows_count = 60_000
    with app.app_context():
        at = datetime.now(timezone.utc)
        db.session.execute(insert(StockMovement.__table__), [
            {"sweet_id": fudge, "kind": "restock", "change": 0, "balance": n, "created_at": at}
            for n in range(rows_count)])
        db.session.commit()
    response = client.get("/api/export/ledger.csv", headers=api.admin)
    assert response.is_streamed
    chunks = response.response  # the generator, not yet run to its end
    tracemalloc.start()
    try:
        first = next(chunks)
        total, count = len(first), 1
        for chunk in chunks:
            total += len(chunk)
            count += 1
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        response.close()
    # The first chunk is a small part of the file, and the memory taken at the peak is a
    # fraction of the whole file: rows left the process as they were read.
    assert total > 3_000_000 and len(first) < total / 20 and count > 20
    assert peak < total / 3, (peak, total)
