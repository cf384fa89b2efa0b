"""The scenarios of ``make bench``: what is served, what load is sent, and what is checked after.

Every purchase scenario compares variants (Sweetshop, the references in bench/reference.py,
pgbench, and any A/B variant of Sweetshop with other settings) in alternating rounds
(A B C, A B C, ...) and reports medians; after every run the database is checked: stock sold
= ledger rows = 200s in Sweetshop's request log.
"""
import json
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import requests
from sqlalchemy.engine import make_url

from . import common
from .catalogue import ADJECTIVES, CATEGORIES, FLAVOURS, load_sweets
from .common import BENCH, CONNECTIONS, HOT_STOCK, log, pgbench, served, wrk
from .harness import SHOP, LiveServer, libpq_url, server_environment
from .netdelay import NetDelay

SHOP_APP, REFERENCE_APP = SHOP, "bench.reference:app"
PURCHASE = "/api/sweets/%d/purchase"
BUYER = "bench"


@dataclass(frozen=True)
class Variant:
    """One way of selling: the WSGI app that serves it (None: pgbench), its path, and for an
    A/B variant of Sweetshop the settings its server runs with or the checkout it serves."""
    name: str
    app: str | None
    path: str = PURCHASE
    ledger: bool = True           # writes a ledger row per sale
    settings: tuple = ()          # ((NAME, value), ...): SWEETSHOP_<NAME> for its server
    source: Path = common.ROOT    # the code served: this checkout, or an older revision's

    @property
    def server_key(self):
        return (self.app, self.settings, self.source)

    @property
    def is_shop(self):
        return self.app == SHOP_APP


SWEETSHOP = Variant("Sweetshop", SHOP_APP)
BARE = Variant("bare reference (a)", REFERENCE_APP, ledger=False)
PGBENCH = Variant("pgbench ceiling (b)", None, ledger=False)
FOR_UPDATE = Variant("FOR UPDATE (c)", REFERENCE_APP, PURCHASE + "-for-update")
LEAN = Variant("conditional UPDATE, lean (d)", REFERENCE_APP, PURCHASE + "-lean")
VARIANTS = (SWEETSHOP, BARE, PGBENCH, FOR_UPDATE, LEAN)
NETWORK_VARIANTS = (SWEETSHOP, FOR_UPDATE, LEAN)


def ab_variant(settings):
    """Sweetshop served with other ``settings`` ({NAME: value}), for a same-run A/B of a lever."""
    label = ", ".join(f"{name}={value if isinstance(value, str) else json.dumps(value)}"
                      for name, value in settings.items())
    return Variant(f"Sweetshop, {label}", SHOP_APP, settings=tuple(settings.items()))


def revision_variant(revision, source):
    """Sweetshop as it was at ``revision``, served from ``source`` (a checkout of it), for a
    same-run A/B of a change in the code."""
    return Variant(f"Sweetshop at {revision}", SHOP_APP, source=source)


def start_servers(stack, url, variants, workers, threads):
    """One server per distinct app, settings and source among ``variants``, stopped when ``stack`` closes;
    each with ``common.SERVER_SETTINGS`` under the variant's own settings."""
    servers = {}
    for variant in variants:
        if variant.app is not None and variant.server_key not in servers:
            settings = {**common.SERVER_SETTINGS, **dict(variant.settings)}
            server = LiveServer(url, workers, app=variant.app, threads=threads, startup_seconds=60,
                                source=variant.source, **settings)
            stack.enter_context(server)
            settings = [f"SWEETSHOP_{name}={json.dumps(value) if isinstance(value, bool) else value}"
                        for name, value in settings.items()]
            settings += [f"{name}={value}" for name, value in
                         server_environment(server.port, workers, threads).items()]
            common.record(f"server {variant.server_key} {workers}x{threads}", [*settings, *server.command()],
                          (server.port, "$PORT"), (sys.executable, "python"))
            servers[variant.server_key] = server
    return servers


def buyer_token(server):
    """A customer's raw bearer token (registered on first use)."""
    return server.token(BUYER)["Authorization"].removeprefix("Bearer ")


class Shop:
    """Servers over one database, a customer's token, and sweets of its own for each variant."""

    def __init__(self, db, servers, token, variants, label):
        self.db, self.servers, self.token = db, servers, token
        with db.conn.cursor() as cursor:
            self.hot = {v: load_sweets(cursor, 1, HOT_STOCK, f"{label} hot {v.name} ")[0] for v in variants}

    def server(self, variant):
        return self.servers[variant.server_key]

    def _state(self, ids):
        return self.db.query(
            "SELECT (SELECT sum(quantity) FROM sweets WHERE id = ANY(%(ids)s)),"
            " (SELECT count(*) FROM stock_movements WHERE kind = 'purchase' AND sweet_id = ANY(%(ids)s))",
            {"ids": ids})[0]

    def measure(self, variant, connections, seconds):
        """One timed run, checked against the database afterwards.

        wrk drops the responses still in flight when its time is up, so the database may
        show up to ``connections`` more sales than wrk counted 200s; Sweetshop's own request
        log counts every 200 it sent, and that count must match stock and ledger exactly.
        """
        ids = [self.hot[variant]]
        stock_before, ledger_before = self._state(ids)
        if variant.is_shop:
            self.server(variant).new_log_lines()  # skip what was logged before this run
        cpu_before = common.busy_cpu_seconds()
        if variant is PGBENCH:
            stats = pgbench(self.db, connections, seconds, BENCH / "pgbench_purchase.sql", sweet=ids[0])
        else:
            stats = wrk(self.server(variant).base + variant.path % ids[0], connections, seconds,
                        BENCH / "purchase.lua", BENCH_TOKEN=self.token)
        # On 2 cores every variant runs out of CPU, so CPU per request explains its throughput.
        stats["cpu_ms"] = 1000 * (common.busy_cpu_seconds() - cpu_before) / max(stats["requests"], 1)
        # Let the requests wrk abandoned finish. A slowed worker may log its last answer after
        # its sale is committed, so for the shop wait (up to 10 s) until the log has caught up.
        deadline, served_200 = time.monotonic() + 10, 0
        while True:
            time.sleep(0.5)
            stock_after, ledger_after = self._state(ids)
            sold, booked = stock_before - stock_after, ledger_after - ledger_before
            if not variant.is_shop:
                break
            served_200 += served(self.server(variant), 200, lambda path: path.endswith("/purchase"))
            if served_200 == sold or time.monotonic() > deadline:
                break
        stats["sold"], stats["in_flight"] = sold, sold - stats["ok"]
        consistent = 0 <= sold - stats["ok"] <= connections
        if variant.ledger:
            consistent = consistent and booked == sold
        if variant.is_shop:
            stats["served_200"] = served_200
            consistent = consistent and served_200 == sold
        stats["consistent"] = consistent
        if not consistent:
            log(f"  MISMATCH {variant.name}: 200s at wrk={stats['ok']} stock sold={sold} "
                f"ledger rows={booked} "
                f"200s in server log={stats.get('served_200')}")
        return stats


def rounds_of(shop, label, variants, connections, seconds, rounds):
    """``rounds`` alternating runs of every variant; each variant's summary (medians)."""
    results = {v: [] for v in variants}
    for r in range(rounds):
        # Each round starts one variant later: the first run of a round measured 5-10 % low (the
        # A/B in docs/BENCHMARKS.md), and a variant always first would carry that alone.
        shift = r % len(variants)
        for variant in variants[shift:] + variants[:shift]:
            stats = shop.measure(variant, connections, seconds)
            results[variant].append(stats)
            log(f"  {label} round {r + 1} {variant.name:30} {stats['rps']:8.0f} req/s  "
                f"p99 {stats['p99_us'] / 1000:6.1f} ms  non-2xx {stats['non_2xx']}  "
                f"CPU {stats['cpu_ms']:.2f} ms/request")
    return {v.name: summary(runs) for v, runs in results.items()}


def median(runs, key):
    return statistics.median(run[key] for run in runs)


def summary(runs):
    return {"rps": median(runs, "rps"), "cpu_ms": median(runs, "cpu_ms"),
            "p50_ms": median(runs, "p50_us") / 1000, "p99_ms": median(runs, "p99_us") / 1000,
            "non_2xx": sum(run["non_2xx"] + run["socket_errors"] for run in runs),
            "consistent": all(run["consistent"] for run in runs),
            "in_flight": max(run["in_flight"] for run in runs),
            "each_rps": [round(run["rps"]) for run in runs]}


# --- 1. Hot row: on this machine's loopback ----------------------------------------------------

def hot_row(shop, plan, variants):
    return rounds_of(shop, "hot", variants, CONNECTIONS, plan.seconds, plan.rounds)


# --- 2. A database across a network -----------------------------------------------------------

def select_one_round_trip_ms(url, tries=200):
    """Median wall time of ``SELECT 1`` on one connection to ``url`` (libpq form)."""
    import psycopg2
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cursor:
            times = []
            for _ in range(tries):
                started = time.perf_counter()
                cursor.execute("SELECT 1")
                cursor.fetchall()
                times.append(time.perf_counter() - started)
    finally:
        conn.close()
    return 1000 * statistics.median(times)


# SQLAlchemy's default pool keeps up to 5 connections of each worker process open once used; a
# busy worker opens one per thread.
POOL_KEPT = 5
BENCH_CONNECTIONS = 5  # the bench's own few


def fits_connections(db, servers):
    """Whether ``servers`` network servers, one busy and the rest idle, stay within PostgreSQL's
    ``max_connections``: past it, the busy one's new connections are refused and it answers 503s,
    which measure the database's limit, not the server (two A/B variants took a run past 100)."""
    available = (int(db.value("SHOW max_connections")) - int(db.value("SHOW superuser_reserved_connections"))
                 - BENCH_CONNECTIONS)
    busy = common.NET_WORKERS * common.NET_THREADS
    idle = common.NET_WORKERS * min(common.NET_THREADS, POOL_KEPT)
    return busy + (servers - 1) * idle <= available


def network(db, token, plan, ab_variants):
    """The hot row with the app reaching PostgreSQL through bench/netdelay.py.

    The app gets ``NET_WORKERS`` × ``NET_THREADS`` so that it is not the limit: each request
    mostly waits on round trips. The sweets are loaded directly; only the servers go through
    the proxy.
    """
    address = make_url(db.url)
    variants = NETWORK_VARIANTS + tuple(ab_variants)
    while len(variants) > len(NETWORK_VARIANTS) and not fits_connections(db, len(variants)):
        log(f"  {variants[-1].name}: not run here, its server would take the database past max_connections")
        variants = variants[:-1]
    with NetDelay(address.host, address.port or 5432, common.NET_DELAY_MS) as proxy, ExitStack() as stack:
        proxied = address.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        target = f"{address.host}:{address.port or 5432}"
        common.record("netdelay", ["python", "bench/netdelay.py", "--target", target,
                                   "--delay-ms", common.NET_DELAY_MS])
        round_trip = {"direct": select_one_round_trip_ms(db.plain_url),
                      "through netdelay": select_one_round_trip_ms(libpq_url(proxied))}
        log(f"  SELECT 1 round trip: {round_trip['direct']:.2f} ms direct, "
            f"{round_trip['through netdelay']:.2f} ms through netdelay")
        servers = start_servers(stack, proxied, variants, common.NET_WORKERS, common.NET_THREADS)
        shop = Shop(db, servers, token, variants, "Network")
        results = rounds_of(shop, "network", variants, CONNECTIONS, plan.seconds, plan.rounds)
    return {"round_trip_ms": round_trip, "results": results,
            "workers": common.NET_WORKERS, "threads": common.NET_THREADS, "delay_ms": common.NET_DELAY_MS}


# --- 3. Orders ----------------------------------------------------------------------------------

ORDER_LINES = 3
# PostgreSQL flushes a backend's statistics (deadlocks among them) at most every 10 s once it is
# idle; waiting that long after the load makes the "after" count complete.
STATS_FLUSH_SECONDS = 11


def _deadlocks(db):
    return db.value("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")


def _stock_and_ledger(db, ids):
    rows = db.query("SELECT s.id, s.quantity,"
                    " (SELECT sum(change) FROM stock_movements m WHERE m.sweet_id = s.id)"
                    " FROM sweets s WHERE s.id = ANY(%(ids)s) ORDER BY s.id", {"ids": ids})
    return {sweet_id: (quantity, ledger) for sweet_id, quantity, ledger in rows}


def orders(shop, plan):
    """Orders of one unit of each of 3 hot sweets at 32 connections, half listing them in
    ascending and half in descending id order (bench/orders.lua).

    Skipped, with the reason, when the shop answers ``POST /api/orders`` 404 or 405.
    """
    server = shop.server(SWEETSHOP)
    probe = requests.post(server.base + "/api/orders", json={"items": []}, timeout=30,
                          headers={"Authorization": f"Bearer {shop.token}"})
    if probe.status_code in (404, 405):
        return {"skipped": f"POST /api/orders answered {probe.status_code}: the orders feature "
                           "is not in this build"}
    with shop.db.conn.cursor() as cursor:
        ids = load_sweets(cursor, ORDER_LINES, HOT_STOCK, "Orders hot ")
    deadlocks_before = _deadlocks(shop.db)
    runs = []
    for r in range(plan.rounds):
        before = _stock_and_ledger(shop.db, ids)
        server.new_log_lines()  # skip what was logged before this run
        stats = wrk(server.base + "/api/orders", CONNECTIONS, plan.seconds, BENCH / "orders.lua",
                    BENCH_TOKEN=shop.token, BENCH_SWEETS=",".join(map(str, ids)))
        # Every order takes one unit of each sweet: each sweet sold exactly the orders placed.
        # As for purchases, wait (up to 10 s) until the log has caught up with the database.
        deadline, placed = time.monotonic() + 10, 0
        while True:
            time.sleep(0.5)
            after = _stock_and_ledger(shop.db, ids)
            placed += served(server, 201, lambda path: path == "/api/orders")
            sold = {i: before[i][0] - after[i][0] for i in ids}
            if set(sold.values()) == {placed} or time.monotonic() > deadline:
                break
        stats["placed"] = placed
        stats["consistent"] = (all(s == placed for s in sold.values())
                               and all(quantity == ledger for quantity, ledger in after.values())
                               and 0 <= placed - stats["ok"] <= CONNECTIONS)
        runs.append(stats)
        log(f"  orders round {r + 1} {stats['rps']:8.0f} orders/s  p99 {stats['p99_us'] / 1000:6.1f} ms  "
            f"5xx {stats['server_errors']}  other non-201 {stats['non_2xx'] - stats['server_errors']}  "
            f"placed {placed}  sold {sorted(set(sold.values()))}")
        if not stats["consistent"]:
            log(f"  MISMATCH orders: placed {placed}, sold per sweet {sold}, stock/ledger {after}")
    log(f"  waiting {STATS_FLUSH_SECONDS} s for PostgreSQL's statistics")
    time.sleep(STATS_FLUSH_SECONDS)
    return {"lines": ORDER_LINES, "rps": median(runs, "rps"), "p50_ms": median(runs, "p50_us") / 1000,
            "p99_ms": median(runs, "p99_us") / 1000, "each_rps": [round(run["rps"]) for run in runs],
            "server_errors": sum(run["server_errors"] for run in runs),
            "other_non_2xx": sum(run["non_2xx"] - run["server_errors"] + run["socket_errors"]
                                 for run in runs),
            "deadlocks": _deadlocks(shop.db) - deadlocks_before,
            "consistent": all(run["consistent"] for run in runs)}


# --- 4. Login flood: bench/login_flood.py --------------------------------------------------------

FLOOD_THREADS = 8


def login_flood(shop, plan):
    """A bystander's purchase latency quiet, during a login flood with the throttle on, and with
    it off: ``bench/login_flood.py``'s ``measure`` on this run's database, with servers of its
    own (the throttle and production hashing are on there, unlike on every other server here).
    """
    from . import login_flood as flood
    return flood.measure(shop.db.url, "login", plan.seconds, FLOOD_THREADS, plan.rounds, log=log)


# --- 5. Catalogue at scale ------------------------------------------------------------------

def catalogue_queries():
    """Paths for each kind of catalogue request, varied so caches do not flatter them."""
    names = ([f.lower() for f in FLAVOURS[:8]] + [a[:4].upper() for a in ADJECTIVES[:6]]
             + ["ry dr", "ot che", "17", "4711", "Mint Drops 13", "zzz-no-match"])
    return {
        # Quoted: a raw space in a request line is a 400 before the shop sees it.
        "name substring": [f"/api/sweets/search?name={quote(n)}" for n in names],
        "category": [f"/api/sweets/search?category={quote(c.lower())}" for c in CATEGORIES],
        "price range": [f"/api/sweets/search?min_price={lo}&max_price={lo + width}"
                        for lo, width in ((1, 0.5), (5, 2), (10, 1), (20, 5), (30, 0.25), (45, 5))],
        "name + category + price": [f"/api/sweets/search?name=mint&category=toffee&min_price={lo}"
                                    f"&max_price={lo + 10}" for lo in (1, 10, 20, 30)],
        # The deepest the catalogue lists (CATALOGUE_DEPTH_MAX, 10,000): deeper is a 422 now.
        "deep page (skip ≥ 9,000)": [f"/api/sweets?skip={skip}&limit=100"
                                     for skip in range(9_000, 9_901, 100)],
        "sorted (name, price, -price, newest)": [
            f"/api/sweets/search?sort={sort}&skip={skip}&limit=12{extra}"
            for sort in ("name", "price", "-price", "newest") for skip in (0, 12, 1200)
            for extra in ("", "&category=toffee")],
    }


def catalogue(shop, plan):
    """Searches, sorted pages and a deep page over ``plan.catalogue_sweets`` sweets, each kind sent by
    one wrk connection cycling through its paths; latency at the client."""
    log(f"catalogue: loading {plan.catalogue_sweets:,} sweets")
    with shop.db.conn.cursor() as cursor:
        load_sweets(cursor, plan.catalogue_sweets, 100)
    shop.db.query("ANALYZE")
    server = shop.server(SWEETSHOP)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind, paths in catalogue_queries().items():
            listing = Path(tmp) / "paths.txt"
            listing.write_text("\n".join(paths) + "\n")
            runs = [wrk(server.base, 1, plan.catalogue_seconds, BENCH / "catalogue.lua",
                        BENCH_PATHS_FILE=str(listing)) for _ in range(plan.rounds)]
            results[kind] = {"p50_ms": median(runs, "p50_us") / 1000, "p95_ms": median(runs, "p95_us") / 1000,
                             "rps": median(runs, "rps"), "non_2xx": sum(run["non_2xx"] for run in runs)}
            log(f"  catalogue {kind:28} p50 {results[kind]['p50_ms']:6.2f} ms  "
                f"p95 {results[kind]['p95_ms']:6.2f} ms  non-2xx {results[kind]['non_2xx']}")
    return {"sweets": plan.catalogue_sweets, "results": results}
