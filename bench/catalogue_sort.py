"""Catalogue sorting at 100,000 sweets on PostgreSQL: query times with and without migration 0005's
sort indexes (part of `make bench`; also runs alone: `.venv/bin/python bench/catalogue_sort.py`).

For each order the shop offers, the SQL that ``catalog.search_sweets`` and ``catalog.count_sweets``
send for the catalogue page (12 sweets: first page, a middle page, and with a category filter)
is run under ``EXPLAIN (ANALYZE)`` ``REPEAT`` times; the report gives the median and p95 of the
execution times PostgreSQL measured, first with the indexes, then after dropping them. The
plan of each first page is printed too. Prints a Markdown section for docs/BENCHMARKS.md.
"""
import os
import re
import secrets
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from catalogue import load_sweets  # noqa: E402
from run import CATALOGUE_SWEETS, Database, flask  # noqa: E402

REPEAT = int(os.environ.get("BENCH_SORT_REPEAT", "40"))
PAGE = 12
SORT_INDEXES = ("ix_sweets_on_sale_name", "ix_sweets_on_sale_created",
                "ix_sweets_on_sale_category_name")
EXECUTION = re.compile(r"Execution Time: ([0-9.]+) ms")


def statements(app):
    """``{label: SQL}`` for every sort and page shape, compiled from the shop's own queries."""
    from sqlalchemy.dialects import postgresql

    from sweetshop import catalog, rules

    def sql(query):
        compiled = query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
        return str(compiled).replace("%%", "%")

    cases = {}
    with app.app_context():
        for sort in (None, *rules.SORTS):
            for shape, skip, filters in (("first page", 0, {}), ("page 100", 99 * PAGE, {}),
                                         ("page 4,000 of 8,334", 3999 * PAGE, {}),
                                         ("category=toffee, first page", 0, {"category": "toffee"})):
                query = catalog._matching(**filters).order_by(*catalog.ORDERS[sort]).offset(skip).limit(PAGE)
                cases[(sort or "(default: id)", shape)] = sql(query)
    return cases


def measure(db, cases):
    times, plans = {}, {}
    for key, sql in cases.items():
        samples = []
        for _ in range(REPEAT):
            rows = db.query("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) " + sql)
            samples.append(float(EXECUTION.search(rows[-1][0]).group(1)))
            plans[key] = "\n".join(row[0] for row in rows)
        samples.sort()
        times[key] = (statistics.median(samples), samples[int(len(samples) * 0.95) - 1])
    return times, plans


def main():
    db = Database().connect()
    try:
        flask(db, "db", "upgrade")
        print(f"loading {CATALOGUE_SWEETS:,} sweets", file=sys.stderr)
        with db.conn.cursor() as cursor:
            load_sweets(cursor, CATALOGUE_SWEETS, 100)
        db.query("ANALYZE")
        os.environ.update(DATABASE_URL=db.url, SWEETSHOP_CONFIG="production",
                          SECRET_KEY=secrets.token_hex(16))
        from config import database_url
        from sweetshop import create_app
        cases = statements(create_app({"SQLALCHEMY_DATABASE_URI": database_url(db.url)}))
        with_indexes, plans = measure(db, cases)
        for name in SORT_INDEXES:
            db.query(f"DROP INDEX {name}")
        db.query("ANALYZE")
        without, plans_without = measure(db, cases)
    finally:
        db.close()

    print("| sort | page | with indexes: median ms | p95 ms | without: median ms | p95 ms |")
    print("|---|---|---:|---:|---:|---:|")
    for (sort, shape), (median, p95) in with_indexes.items():
        before = without[(sort, shape)]
        print(f"| {sort} | {shape} | {median:.2f} | {p95:.2f} | {before[0]:.2f} | {before[1]:.2f} |")
    for key, plan in plans.items():
        if key[1] == "first page":
            print(f"\n{key[0]}, first page, with the indexes:\n```\n{plan}\n```")
            print(f"without:\n```\n{plans_without[key]}\n```")


if __name__ == "__main__":
    main()
