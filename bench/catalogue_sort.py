"""Catalogue sorting on PostgreSQL: query times with and without migration 0005's sort indexes.

Used by the catalogue scenario of `make bench` (bench/scenarios.py:catalogue measures with the
indexes, drops them, measures again; the table is in docs/BENCHMARKS.md section 7). Also runs
alone on a database of its own: `.venv/bin/python bench/catalogue_sort.py [--sweets N]`, which
prints the same Markdown.

For each order the shop offers, the SQL that ``catalog.search_sweets`` sends for a catalogue
page (12 sweets: first page, deeper pages, and with a category filter) is run under
``EXPLAIN (ANALYZE)`` ``repeat`` times; the table gives the median and p95 of the execution times
PostgreSQL measured. The plan of each first page is kept too.
"""
import argparse
import re
import statistics
import sys
from contextlib import ExitStack

import common
from catalogue import load_sweets
from common import log
from support.harness import migrated_database

REPEAT = 40
PAGE = 12
SORT_INDEXES = ("ix_sweets_on_sale_name", "ix_sweets_on_sale_created", "ix_sweets_on_sale_category_name")
EXECUTION = re.compile(r"Execution Time: ([0-9.]+) ms")


def statements(url, sweets):
    """``{(sort, page): SQL}`` for every sort and page shape, compiled from the shop's own queries."""
    from sqlalchemy.dialects import postgresql

    from sweetshop import catalog, create_app, rules

    def sql(query):
        compiled = query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
        return str(compiled).replace("%%", "%")

    pages = -(-sweets // PAGE)
    shapes = (("first page", 0, {}), ("page 100", 99 * PAGE, {}),
              (f"page {pages * 12 // 25:,} of {pages:,}", (pages * 12 // 25 - 1) * PAGE, {}),
              ("category=toffee, first page", 0, {"category": "toffee"}))
    cases = {}
    with create_app({"SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": url}).app_context():
        for sort in (None, *rules.SORTS):
            for shape, skip, filters in shapes:
                query = catalog._matching(**filters).order_by(*catalog.ORDERS[sort]).offset(skip).limit(PAGE)
                cases[(sort or "(default: id)", shape)] = sql(query)
    return cases


def measure(db, cases, repeat=REPEAT):
    """``({case: (median ms, p95 ms)}, {case: plan of the first page})``."""
    times, plans = {}, {}
    for key, sql in cases.items():
        samples = []
        for _ in range(repeat):
            rows = db.query("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) " + sql)
            samples.append(float(EXECUTION.search(rows[-1][0]).group(1)))
        if key[1] == "first page":
            plans[key] = "\n".join(row[0] for row in rows)
        samples.sort()
        times[key] = (statistics.median(samples), samples[max(int(len(samples) * 0.95) - 1, 0)])
    return times, plans


def markdown(with_indexes, without, plans, plans_without):
    lines = ["| sort | page | with indexes: median ms | p95 ms | without: median ms | p95 ms |",
             "|---|---|---:|---:|---:|---:|"]
    for (sort, shape), (median, p95) in with_indexes.items():
        before = without[(sort, shape)]
        lines.append(f"| {sort} | {shape} | {median:.2f} | {p95:.2f} | {before[0]:.2f} | {before[1]:.2f} |")
    for key, plan in plans.items():
        lines += ["", f"{key[0]}, first page, with the indexes:", "", "```", plan, "```", "",
                  "without:", "", "```", plans_without[key], "```"]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sweets", type=int, default=common.FULL.catalogue_sweets)
    parser.add_argument("--repeat", type=int, default=REPEAT)
    args = parser.parse_args()
    with ExitStack() as stack:
        url = stack.enter_context(migrated_database("postgresql", None, server=common.POSTGRES_URL,
                                                    prefix="sweetshop_bench"))
        db = common.Database(url)
        stack.callback(db.close)
        log(f"loading {args.sweets:,} sweets")
        with db.conn.cursor() as cursor:
            load_sweets(cursor, args.sweets, 100)
        db.query("ANALYZE")
        cases = statements(url, args.sweets)
        with_indexes, plans = measure(db, cases, args.repeat)
        db.query("DROP INDEX " + ", ".join(SORT_INDEXES))
        db.query("ANALYZE")
        without, plans_without = measure(db, cases, args.repeat)
    print(markdown(with_indexes, without, plans, plans_without))


if __name__ == "__main__":
    sys.exit(main())
