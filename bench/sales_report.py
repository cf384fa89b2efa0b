"""The sales report at 100,000 ledger rows on PostgreSQL: query plans and times.

Usage: .venv/bin/python bench/sales_report.py
(BENCH_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432)
Creates a throwaway database migrated to the latest schema, fills it with 500 sweets and
100,000 ledger rows spread over the last 400 days (mostly purchases, some restocks,
returns of cancelled orders and counts), then times ``reports.sales_report`` and ``GET /api/reports/sales``
(in-process) for 30 and 366 days, and prints EXPLAIN (ANALYZE, BUFFERS) of each query.
The numbers in docs/BENCHMARKS.md ("Sales report at 100,000 ledger rows") come from here.
"""
import os
import random
import secrets
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg2
from psycopg2.extras import execute_values
from sqlalchemy import event

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sweetshop import accounts, create_app, reports  # noqa: E402
from config import database_url  # noqa: E402
from sweetshop.extensions import db  # noqa: E402

SERVER = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432")
SWEETS, ROWS, SPAN_DAYS = 500, 100_000, 400


def fill(url):
    connection = psycopg2.connect(url)
    cursor = connection.cursor()
    now = datetime.now(timezone.utc)
    cursor.execute("INSERT INTO users (username, username_key, password_hash, is_admin, created_at) "
                   "VALUES ('boss', 'boss', 'x', true, now()) RETURNING id")
    boss = cursor.fetchone()[0]
    rng = random.Random(12)
    for n in range(SWEETS):
        cursor.execute("INSERT INTO sweets (name, category, price, quantity, created_at, updated_at) "
                       "VALUES (%s, 'Bench', %s, 0, now(), now())",
                       (f"Sweet {n:03}", rng.randint(20, 500) / 100))
    rows, orders, lines = [], [], []
    quantity = {}
    # The ledger is appended as time goes by: rows lie on disk in created_at order.
    times = sorted(now - timedelta(seconds=rng.randint(0, SPAN_DAYS * 86400)) for _ in range(ROWS))
    for n, at in enumerate(times):
        sweet = 1 + min(int(rng.paretovariate(1.2)) - 1, SWEETS - 1) if n % 2 else rng.randint(1, SWEETS)
        kind = rng.choices(["purchase", "restock", "return", "count"], [90, 6, 3, 1])[0]
        change = {"purchase": -rng.randint(1, 5), "restock": rng.randint(20, 200),
                  "return": rng.randint(1, 3), "count": rng.randint(-2, 2)}[kind]
        quantity[sweet] = quantity.get(sweet, 0) + change
        price = rng.randint(20, 500) / 100 if kind == "purchase" else None
        order_id = None
        if kind == "return":
            # As orders.cancel_order writes it: no price of its own, the order line's instead.
            order_id = len(orders) + 1
            orders.append((order_id, boss, "cancelled", at, at))
            lines.append((order_id, sweet, change, rng.randint(20, 500) / 100))
        rows.append((sweet, kind, change, quantity[sweet], boss if kind == "purchase" else None, price, at,
                     order_id))
    execute_values(cursor, "INSERT INTO orders (id, user_id, status, created_at, cancelled_at) VALUES %s",
                   orders, page_size=5000)
    execute_values(cursor, "INSERT INTO order_lines (order_id, sweet_id, quantity, unit_price) VALUES %s",
                   lines, page_size=5000)
    execute_values(cursor, "INSERT INTO stock_movements (sweet_id, kind, change, balance, user_id, "
                           "unit_price, created_at, order_id) VALUES %s", rows, page_size=5000)
    # Make stock equal the ledger, as the shop keeps it (negative sums are lifted by an initial row).
    cursor.execute("INSERT INTO stock_movements (sweet_id, kind, change, balance, created_at) "
                   "SELECT sweet_id, 'initial', -sum(change) + 1000, 0, now() - interval '401 days' "
                   "FROM stock_movements GROUP BY sweet_id HAVING sum(change) < 0")
    cursor.execute("UPDATE sweets SET quantity = s.total FROM (SELECT sweet_id, sum(change) AS total "
                   "FROM stock_movements GROUP BY sweet_id) s WHERE s.sweet_id = sweets.id")
    connection.commit()
    connection.autocommit = True
    connection.cursor().execute("VACUUM ANALYZE")
    connection.close()


def measure(app, label):
    print(f"\n## {label}")
    with app.app_context():
        statements = []

        @event.listens_for(db.engine, "before_cursor_execute")
        def keep(conn, cursor, statement, parameters, context, executemany):
            statements.append((statement, parameters))

        for days in (30, 366):
            reports.sales_report(days)  # warm up
            timings = []
            for _ in range(15):
                started = time.perf_counter()
                report = reports.sales_report(days)
                timings.append((time.perf_counter() - started) * 1000)
            print(f"\n### sales_report(days={days}): median {statistics.median(timings):.1f} ms, "
                  f"min {min(timings):.1f}, max {max(timings):.1f} (15 runs); "
                  f"{report.units} units, {len(report.top)} top, {len(report.reorder)} to reorder")
        statements.clear()
        reports.sales_report(30)
        event.remove(db.engine, "before_cursor_execute", keep)
        raw = db.engine.raw_connection()
        cursor = raw.cursor()
        for statement, parameters in statements:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + statement, parameters)
            print("\n```\n" + cursor.mogrify(statement, parameters).decode()[:600] + "\n--\n"
                  + "\n".join(row[0] for row in cursor.fetchall()) + "\n```")
        raw.close()
        db.session.remove()
    with app.test_client() as client:
        with app.app_context():
            token, _ = accounts.issue_token(accounts.find_user("boss"))
        headers = {"Authorization": f"Bearer {token}"}
        for days in (30, 366):
            timings = []
            for _ in range(15):
                started = time.perf_counter()
                assert client.get(f"/api/reports/sales?days={days}", headers=headers).status_code == 200
                timings.append((time.perf_counter() - started) * 1000)
            print(f"GET /api/reports/sales?days={days}: median {statistics.median(timings):.1f} ms")
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def main():
    name = f"sweetshop_bench_report_{secrets.token_hex(4)}"
    admin = psycopg2.connect(f"{SERVER}/postgres")
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    url = f"{SERVER}/{name}"
    try:
        env = dict(os.environ, DATABASE_URL=url, SECRET_KEY="bench")
        subprocess.run([sys.executable, "-m", "flask", "--app", "sweetshop", "db", "upgrade"], cwd=ROOT,
                       env=env, check=True, capture_output=True)
        fill(url)
        app = create_app({"SQLALCHEMY_DATABASE_URI": database_url(url), "SECRET_KEY": "bench",
                          "LOG_LEVEL": "WARNING"})
        measure(app, "with the BRIN index (migration 0007)")
        drop = psycopg2.connect(url)
        drop.autocommit = True
        drop.cursor().execute("DROP INDEX ix_stock_movements_created_at_brin")
        drop.close()
        measure(app, "without it (what 0003 had)")
    finally:
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


if __name__ == "__main__":
    main()
