"""Operations against the real multi-worker server (granian, sweetshop/serve.py): stock counts
racing purchases, metrics summed over every worker, and a SQLite backup taken while purchases run."""
import csv
import io
import os
import sqlite3
import threading

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from support.harness import LiveServer, flask_cli, migrated_database, server_env
from support.shop import require_backend
from support.live import new_sweet, post, run_together

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shop(live_shop):
    return live_shop


def test_counts_racing_purchases_never_lose_a_sale_or_a_count(shop):
    initial, purchases, counts = 1000, 120, 40
    sweet_id = new_sweet(shop, initial)
    path = f"{shop.base}/api/sweets/{sweet_id}"

    refusals = []

    def count_once():
        # What an admin does: read the figure and record a count of one more than it; when the
        # stock moved meanwhile (409), take the new figure it answered with and try again.
        seen = requests.get(path, timeout=60).json()["quantity"]
        for _ in range(100):
            status, body = post(shop, f"/api/sweets/{sweet_id}/count", shop.admin,
                                json={"counted": seen + 1, "seen": seen})
            if status != 409:
                return status, body
            # (The figure may equal ``seen`` again: a sale and another count can move it away
            # and back between our UPDATE and the look that reads it.)
            assert body["detail"] == "Stock changed" and isinstance(body["quantity"], int)
            refusals.append(body)
            seen = body["quantity"]
        return status, body

    calls = []
    for i in range(purchases):
        calls.append(lambda i=i: post(shop, f"/api/sweets/{sweet_id}/purchase", shop.buyers[i % 8]))
        if i % 3 == 0:
            calls.append(count_once)
    results = run_together(calls)
    assert [status for status, _ in results] == [200] * len(calls), results
    counted = sum(1 for call in calls if call is count_once)
    assert counted == counts
    # Every sale and every accepted count is in the stock, and in the ledger: none overwrote another.
    quantity = shop.sql("SELECT quantity FROM sweets WHERE id = :id", id=sweet_id)[0][0]
    ledger = shop.sql("SELECT coalesce(sum(change), 0), count(*) FILTER (WHERE kind = 'count'), "
                      "coalesce(sum(change) FILTER (WHERE kind = 'count'), 0) "
                      "FROM stock_movements WHERE sweet_id = :id", id=sweet_id)[0]
    assert quantity == initial - purchases + counted == ledger[0]
    assert ledger[1] == counted and ledger[2] == counted
    # The race was real: some counts found the stock moved and changed nothing that time.
    print(f"{len(refusals)} counts refused with 409 and retried")
    export = requests.get(f"{shop.base}/api/export/ledger.csv", headers=shop.admin, timeout=60)
    rows = [row for row in csv.DictReader(io.StringIO(export.text)) if row["sweet_id"] == str(sweet_id)]
    assert sum(1 for row in rows if row["kind"] == "count") == counted
    result = shop.cli("audit-stock")
    assert result.returncode == 0, result.stderr


# --- metrics across worker processes --------------------------------------------------------

TOKEN = "scrape-me-please"


@pytest.fixture(scope="module")
def metrics_server(tmp_path_factory):
    """The 4-worker server on SQLite with PROMETHEUS_MULTIPROC_DIR and METRICS_TOKEN set; the
    directory holds a previous run's file, which the server must remove before its workers start
    (left there, its counts would be added, or, being garbage, break every scrape)."""
    directory = tmp_path_factory.mktemp("metrics")
    metrics_dir = directory / "prometheus"
    metrics_dir.mkdir()
    stale = metrics_dir / "counter_1.db"
    stale.write_bytes(b"a previous run's counts")
    saved = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)  # read by server_env for the server only
    try:
        with migrated_database("sqlite", directory) as url:
            server = LiveServer(url, workers=4, METRICS_TOKEN=TOKEN)
    finally:
        if saved is None:
            del os.environ["PROMETHEUS_MULTIPROC_DIR"]
        else:
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = saved
    try:
        assert not stale.exists()
        server.metrics_dir = metrics_dir
        server.admin = server.token("boss", admin=True)
        yield server
    finally:
        server.stop()


def scrape(server, token=TOKEN):
    return requests.get(server.base + "/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=30)


def sample(families, name, **labels):
    for family in families:
        for found in family.samples:
            if found.name == name and all(found.labels.get(k) == v for k, v in labels.items()):
                return found.value
    return 0


def test_metrics_count_every_workers_requests(metrics_server):
    server = metrics_server
    requests_made = 240
    statuses = run_together([lambda: requests.get(server.base + "/api/sweets", timeout=60).status_code
                             for _ in range(requests_made)])
    assert statuses == [200] * requests_made
    # The requests were spread over several worker processes (the log names each line's pid)...
    pids = {line.split('"pid": ')[1].split(",")[0] for line in server.log_text().splitlines()
            if '"path": "/api/sweets"' in line and '"method": "GET"' in line}
    assert len(pids) >= 2, pids
    # ...and the one scrape, answered by one worker, counts them all.
    response = scrape(server)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/plain")
    families = list(text_string_to_metric_families(response.text))
    assert sample(families, "sweetshop_http_requests_total", endpoint="api.list_sweets", method="GET",
                  status="200") == requests_made
    assert sample(families, "sweetshop_http_request_duration_seconds_count", endpoint="api.list_sweets",
                  method="GET") == requests_made


def test_metrics_count_units_sold_and_refusals_across_workers(metrics_server):
    server = metrics_server
    buyer = server.token("carol")
    before = list(text_string_to_metric_families(scrape(server).text))
    sweet_id = new_sweet(server, 30)
    results = run_together([lambda: post(server, f"/api/sweets/{sweet_id}/purchase", buyer,
                                         json={"quantity": 2}) for _ in range(20)])
    sold = sum(2 for status, _ in results if status == 200)
    refused = sum(1 for status, _ in results if status == 400)
    assert sold == 30 and refused == 5
    after = list(text_string_to_metric_families(scrape(server).text))
    for name, expected in (("sweetshop_units_sold_total", sold),
                           ("sweetshop_purchases_refused_for_stock_total", refused)):
        assert sample(after, name) - sample(before, name) == expected, name


def test_metrics_count_orders_across_workers(metrics_server):
    """Orders placed, refused for stock and cancelled, each counted once whichever worker answered;
    an order's units count as units sold, and a repeated Idempotency-Key counts nothing again."""
    server = metrics_server
    buyer = server.token("dora")
    before = list(text_string_to_metric_families(scrape(server).text))
    first, second = new_sweet(server, 9), new_sweet(server, 30)
    items = {"items": [{"sweet_id": first, "quantity": 3}, {"sweet_id": second, "quantity": 2}]}
    results = run_together([lambda: post(server, "/api/orders", buyer, json=items) for _ in range(5)])
    placed = [order for status, order in results if status == 201]
    assert len(placed) == 3 and sorted(status for status, _ in results) == [201, 201, 201, 400, 400]
    cancelled = post(server, f"/api/orders/{placed[0]['id']}/cancel", buyer)
    assert cancelled[0] == 200
    keyed = {**buyer, "Idempotency-Key": "metrics-once"}
    one_item = {"items": [{"sweet_id": second, "quantity": 1}]}
    assert [post(server, "/api/orders", keyed, json=one_item)[0] for _ in range(3)] == [201] * 3
    after = list(text_string_to_metric_families(scrape(server).text))
    for name, expected in (("sweetshop_orders_placed_total", 4),
                           ("sweetshop_orders_refused_for_stock_total", 2),
                           ("sweetshop_orders_cancelled_total", 1),
                           ("sweetshop_units_sold_total", 3 * 5 + 1)):
        assert sample(after, name) - sample(before, name) == expected, name


def test_metrics_are_not_public(metrics_server):
    assert requests.get(metrics_server.base + "/metrics", timeout=30).status_code == 404
    assert scrape(metrics_server, token="wrong").status_code == 404


# --- backup while the shop runs ---------------------------------------------------------------

def test_backup_while_purchases_run(tmp_path):
    require_backend("sqlite")
    with migrated_database("sqlite", tmp_path) as url:
        server = LiveServer(url, workers=4)
        try:
            server.admin = server.token("boss", admin=True)
            buyers = [server.token(f"buyer{i}") for i in range(4)]
            # Stock no backup can outlast: under a loaded machine's 4 test processes a backup took
            # long enough for 2 buyers to empty a sweet of 500, and "Out of stock" is not the point.
            sweet_ids = [new_sweet(server, 100_000) for _ in range(3)]
            stop = threading.Event()
            done = []

            def buy(index):
                while not stop.is_set():
                    status, _ = post(server, f"/api/sweets/{sweet_ids[index % 3]}/purchase", buyers[index])
                    done.append(status)

            threads = [threading.Thread(target=buy, args=(i,)) for i in range(4)]
            for thread in threads:
                thread.start()
            try:
                while len(done) < 20:
                    threading.Event().wait(0.05)
                copy = tmp_path / "copy.sqlite"
                result = server.cli("backup", str(copy))
                assert result.returncode == 0, result.stderr
                sold_before_backup_ended = len(done)
                while len(done) < sold_before_backup_ended + 20:
                    threading.Event().wait(0.05)  # the shop kept selling after the backup
            finally:
                stop.set()
                for thread in threads:
                    thread.join()
            assert set(done) == {200}
            with sqlite3.connect(copy) as connection:
                assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
                sold = connection.execute(
                    "SELECT count(*) FROM stock_movements WHERE kind = 'purchase'").fetchone()
            assert 20 <= sold[0] <= len(done)
            audit = flask_cli(server_env(f"sqlite:///{copy}"), "audit-stock")
            assert audit.returncode == 0 and "3 sweets match their ledger" in audit.stdout, audit.stderr
            again = server.cli("backup", str(copy))
            assert again.returncode != 0 and "never overwrites" in again.stderr
        finally:
            server.stop()
