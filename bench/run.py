"""`make bench`: the purchase path and the catalogue measured against their references.

Everything runs in one go on this machine against a throwaway PostgreSQL database that is
created here and dropped at the end: Sweetshop and the benchmark-only references
(bench/reference.py) under gunicorn, wrk as the load generator, pgbench for the database's
own ceiling. Comparisons alternate (A B C D E, A B C D E, ...) so drift hits all alike, and
every number reported is the median of the rounds. The results go to docs/BENCHMARKS.md
(the hand-written analysis at its end is kept) and the sweep chart to docs/bench-sweep.svg.
"""
import argparse
import json
import os
import platform
import re
import secrets
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import psycopg2
import requests

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
DOCS = ROOT / "docs"
REPORT = DOCS / "BENCHMARKS.md"
KEEP_MARKER = "<!-- Everything below this line is hand-written; make bench keeps it. -->"
POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432")
WORKERS = int(os.environ.get("BENCH_WORKERS", "4"))
HOT_STOCK = 10 ** 9          # lasts any run, so every non-2xx is a real error
SPREAD_SWEETS = 1000
SPREAD_STOCK = 10 ** 6
CATALOGUE_SWEETS = 100_000
# Migrations 0002 and 0005 (PostgreSQL only); dropped for the "without indexes" rows.
CATALOGUE_INDEXES = ("ix_sweets_name_trgm", "ix_sweets_category_lower_id", "ix_sweets_price",
                     "ix_sweets_on_sale_name", "ix_sweets_on_sale_created",
                     "ix_sweets_on_sale_category_name")
SWEEP = (1, 4, 16, 32, 64)
CONNECTIONS = 32
PASSWORD = "bench password 1"

SWEETSHOP, BARE, PGBENCH, FOR_UPDATE, LEAN = (
    "Sweetshop", "bare reference (a)", "pgbench ceiling (b)", "FOR UPDATE (c)",
    "conditional UPDATE, lean (d)")
VARIANTS = (SWEETSHOP, BARE, PGBENCH, FOR_UPDATE, LEAN)
# The reference app serves both reference endpoints; the path picks one.
PATHS = {SWEETSHOP: "/api/sweets/%d/purchase", BARE: "/api/sweets/%d/purchase",
         FOR_UPDATE: "/api/sweets/%d/purchase-for-update", LEAN: "/api/sweets/%d/purchase-lean"}
WITH_LEDGER = {SWEETSHOP, FOR_UPDATE, LEAN}
commands = {}
LOAD = {}


def log(*parts):
    print(*parts, file=sys.stderr, flush=True)


def run(args, timeout, **kwargs):
    """A child process with a hard time limit; its completed result."""
    return subprocess.run(args, timeout=timeout, capture_output=True, text=True, **kwargs)


# --- the throwaway database ----------------------------------------------------------------

def admin_connection():
    try:
        conn = psycopg2.connect(f"{POSTGRES_URL}/postgres", connect_timeout=3)
    except psycopg2.Error as error:
        sys.exit(f"make bench needs PostgreSQL at {POSTGRES_URL} (set BENCH_POSTGRES_URL): "
                 f"{str(error).strip()}")
    conn.autocommit = True
    return conn


class Database:
    """A fresh PostgreSQL database for this run; dropped by ``close`` whatever happened."""

    def __init__(self):
        self.name = f"sweetshop_bench_{secrets.token_hex(4)}"
        self.admin = admin_connection()
        self.admin.cursor().execute(f'CREATE DATABASE "{self.name}"')
        self.url = f"{POSTGRES_URL}/{self.name}"
        self.conn = None

    def connect(self):
        self.conn = psycopg2.connect(self.url)
        self.conn.autocommit = True
        return self

    def query(self, sql, params=None):
        with self.conn.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall() if cursor.description else None

    def value(self, sql, params=None):
        return self.query(sql, params)[0][0]

    def close(self):
        if self.conn is not None:
            self.conn.close()
        self.admin.cursor().execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self.admin.close()


def app_env(db):
    return dict(os.environ, DATABASE_URL=db.url, SWEETSHOP_CONFIG="production",
                SECRET_KEY=secrets.token_hex(16), PYTHONPATH=str(ROOT))


def flask(db, *args):
    result = run([sys.executable, "-m", "flask", "--app", "sweetshop", *args], 300,
                 cwd=ROOT, env=app_env(db))
    if result.returncode != 0:
        sys.exit(f"flask {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout


# --- servers and load generators -----------------------------------------------------------

def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """``WORKERS`` sync workers serving ``app`` on a free port of 127.0.0.1."""

    def __init__(self, db, app):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        args = [sys.executable, "-m", "gunicorn", "--workers", str(WORKERS), "--worker-class", "sync",
                "--bind", f"127.0.0.1:{self.port}", "--timeout", "60", "--graceful-timeout", "5", app]
        commands.setdefault("gunicorn", "gunicorn " + shlex.join(args[3:]))
        # A file, not a pipe: the shop logs a line per request, and a pipe nobody reads
        # would fill up and stall the workers.
        self.log = tempfile.NamedTemporaryFile(prefix="sweetshop-bench-", suffix=".log")
        self.log_offset = 0
        self.process = subprocess.Popen(args, cwd=ROOT, env=app_env(db), stdout=subprocess.DEVNULL,
                                        stderr=self.log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                sys.exit(f"gunicorn {app} exited:\n{Path(self.log.name).read_text()[-3000:]}")
            try:
                requests.get(self.base + "/api/health", timeout=5)
                return
            except requests.RequestException:
                time.sleep(0.2)
        self.stop()
        sys.exit(f"gunicorn {app} did not come up")

    def new_log_lines(self):
        """The lines the server logged since the last call."""
        with open(self.log.name, "rb") as log_file:
            log_file.seek(self.log_offset)
            data = log_file.read()
        complete = data[:data.rfind(b"\n") + 1]
        self.log_offset += len(complete)
        return complete.decode(errors="replace").splitlines()

    def worker_pids(self):
        result = run(["pgrep", "-P", str(self.process.pid)], 10)
        return [int(pid) for pid in result.stdout.split()]

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def busy_cpu_seconds():
    """CPU time the whole machine has spent working so far, all cores together (/proc/stat):
    server, database and load generator alike; idle, I/O wait and hypervisor steal excluded."""
    user, nice, system, _idle, _iowait, irq, softirq = map(
        int, Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def wrk(url, connections, seconds, script, **env):
    threads = min(2, connections)
    args = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--timeout", "10s",
            "-s", str(script), url]
    commands.setdefault(f"wrk {script.name}", "wrk " + shlex.join(args[1:]))
    result = run(args, seconds + 60, env=dict(os.environ, **env))
    found = re.search(r"^BENCH (\{.*\})$", result.stdout, re.M)
    if result.returncode != 0 or not found:
        sys.exit(f"wrk failed:\n{result.stdout}\n{result.stderr}")
    stats = json.loads(found.group(1))
    stats["rps"] = stats["requests"] / (stats["duration_us"] / 1e6)
    return stats


def pgbench(db, connections, seconds, script, **variables):
    """pgbench with ``connections`` clients; throughput and latency percentiles from its log."""
    defines = [arg for name, value in variables.items() for arg in ("-D", f"{name}={value}")]
    with tempfile.TemporaryDirectory() as logs:
        args = ["pgbench", "-h", "127.0.0.1", "-U", "postgres", "-n", "-M", "prepared",
                "-c", str(connections), "-j", str(min(2, connections)), "-T", str(seconds),
                "-l", "--log-prefix", f"{logs}/tx", "-f", str(script), *defines, db.name]
        commands.setdefault(f"pgbench {script.name}",
                            "pgbench " + shlex.join(args[1:]).replace(logs, "$LOGDIR"))
        result = run(args, seconds + 60)
        if result.returncode != 0:
            sys.exit(f"pgbench failed:\n{result.stdout}\n{result.stderr}")
        latencies = sorted(int(line.split()[2]) for path in Path(logs).iterdir()
                           for line in path.read_text().splitlines())
    processed = int(re.search(r"number of transactions actually processed: (\d+)", result.stdout)[1])
    failed = re.search(r"number of failed transactions: (\d+)", result.stdout)
    return {"requests": processed, "ok": processed, "non_2xx": int(failed[1]) if failed else 0,
            "socket_errors": 0, "rps": processed / seconds,
            "p50_us": latencies[len(latencies) // 2], "p99_us": latencies[int(len(latencies) * 0.99)]}


# --- the purchase benchmarks ---------------------------------------------------------------

class Shop:
    """The database, both servers, a customer's token and one set of sweets per variant."""

    def __init__(self, db):
        self.db = db
        self.sweetshop = Gunicorn(db, "wsgi:app")
        try:
            self.reference = Gunicorn(db, "bench.reference:app")
        except BaseException:
            self.sweetshop.stop()
            raise
        try:
            self._prepare()
        except BaseException:
            self.stop()
            raise

    def _prepare(self):
        db = self.db
        requests.post(self.sweetshop.base + "/api/auth/register",
                      json={"username": "bench", "password": PASSWORD}, timeout=30).raise_for_status()
        login = requests.post(self.sweetshop.base + "/api/auth/login",
                              data={"username": "bench", "password": PASSWORD}, timeout=30)
        login.raise_for_status()
        self.token = login.json()["access_token"]
        from catalogue import load_sweets
        with db.conn.cursor() as cursor:
            self.hot = {v: load_sweets(cursor, 1, HOT_STOCK, f"Hot {v} ")[0] for v in VARIANTS}
            self.spread = {v: load_sweets(cursor, SPREAD_SWEETS, SPREAD_STOCK, f"Spread {v} ")
                           for v in VARIANTS}

    def stop(self):
        self.sweetshop.stop()
        self.reference.stop()

    def _state(self, ids):
        return self.db.query(
            "SELECT (SELECT sum(quantity) FROM sweets WHERE id = ANY(%(ids)s)),"
            " (SELECT count(*) FROM stock_movements WHERE kind = 'purchase' AND sweet_id = ANY(%(ids)s))",
            {"ids": ids})[0]

    def measure(self, variant, connections, seconds, spread=False):
        """One timed run, checked against the database afterwards.

        wrk drops the responses still in flight when its time is up, so the database may
        show up to ``connections`` more sales than wrk counted 200s; Sweetshop's own request
        log counts every 200 it sent, and that count must match stock and ledger exactly.
        """
        ids = self.spread[variant] if spread else [self.hot[variant]]
        stock_before, ledger_before = self._state(ids)
        self.sweetshop.new_log_lines()
        cpu_before = busy_cpu_seconds()
        if variant == PGBENCH:
            if spread:
                stats = pgbench(self.db, connections, seconds, BENCH / "pgbench_spread.sql",
                                first=ids[0], last=ids[-1])
            else:
                stats = pgbench(self.db, connections, seconds, BENCH / "pgbench_purchase.sql",
                                sweet=ids[0])
        else:
            server = self.sweetshop if variant == SWEETSHOP else self.reference
            path = PATHS[variant]
            env = {"BENCH_TOKEN": self.token, "BENCH_PATH": path}
            if spread:
                env["BENCH_SWEETS"] = f"{ids[0]}:{len(ids)}"
            stats = wrk(server.base + path % ids[0], connections, seconds, BENCH / "purchase.lua", **env)
        # On 2 cores every variant runs out of CPU, so CPU per request explains its throughput.
        stats["cpu_ms"] = 1000 * (busy_cpu_seconds() - cpu_before) / max(stats["requests"], 1)
        time.sleep(0.5)  # let the requests wrk abandoned finish
        stock_after, ledger_after = self._state(ids)
        sold, booked = stock_before - stock_after, ledger_after - ledger_before
        stats["sold"], stats["in_flight"] = sold, sold - stats["ok"]
        consistent = 0 <= sold - stats["ok"] <= connections
        if variant in WITH_LEDGER:
            consistent = consistent and booked == sold
        if variant == SWEETSHOP:
            served = sum(1 for line in self.sweetshop.new_log_lines()
                         if '"status": 200' in line and '/purchase"' in line)
            stats["served_200"] = served
            consistent = consistent and served == sold
        stats["consistent"] = consistent
        if not consistent:
            log(f"  MISMATCH {variant}: 200s at wrk={stats['ok']} stock sold={sold} ledger rows={booked} "
                f"200s in server log={stats.get('served_200')}")
        return stats


def rounds_of(shop, label, variants, connections, seconds, rounds, spread=False):
    """``rounds`` alternating runs of every variant; the runs of each, in order."""
    results = {v: [] for v in variants}
    for r in range(rounds):
        for variant in variants:
            stats = shop.measure(variant, connections, seconds, spread)
            results[variant].append(stats)
            log(f"  {label} round {r + 1} {variant:22} {stats['rps']:8.0f} req/s  "
                f"p99 {stats['p99_us'] / 1000:6.1f} ms  non-2xx {stats['non_2xx']}  "
                f"CPU {stats['cpu_ms']:.2f} ms/request")
    return results


def median(runs, key):
    return statistics.median(run[key] for run in runs)


def summary(runs):
    return {"rps": median(runs, "rps"), "cpu_ms": median(runs, "cpu_ms"),
            "p50_ms": median(runs, "p50_us") / 1000, "p99_ms": median(runs, "p99_us") / 1000,
            "non_2xx": sum(run["non_2xx"] + run["socket_errors"] for run in runs),
            "consistent": all(run["consistent"] for run in runs),
            "in_flight": max(run["in_flight"] for run in runs),
            "each_rps": [round(run["rps"]) for run in runs]}


# --- profile ------------------------------------------------------------------------------

def profile(shop, seconds, idle):
    """py-spy stacks of one Sweetshop worker under the 32-connection hot-row load.

    With ``idle`` every sample counts (wall time); without, only samples where the worker
    was running Python (its CPU time).
    """
    pid = shop.sweetshop.worker_pids()[0]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "stacks.txt"
        args = [str(Path(sys.executable).parent / "py-spy"), "record", "--rate", "250", "--format", "raw",
                "--duration", str(seconds), "--pid", str(pid), "--output", str(out)]
        args += ["--idle"] if idle else []
        commands["py-spy" + (" --idle" if idle else "")] = (
            f"py-spy record --rate 250 --format raw --duration {seconds} --pid <one Sweetshop worker>"
            + (" --idle" if idle else ""))
        spy = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(0.5)
        shop.measure(SWEETSHOP, CONNECTIONS, seconds + 1)
        try:
            spy.wait(timeout=seconds + 30)
        except subprocess.TimeoutExpired:
            spy.kill()
            spy.wait()
        error = spy.stderr.read().decode()
        spy.stderr.close()
        if not out.exists():
            log(f"  py-spy could not sample (needs ptrace permission): {error.strip()[-300:]}")
            return None
        stacks = Counter()
        for line in out.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            stacks[stack] += int(count)
    return stacks


# Wall time: the first rule matching a frame, looking from the innermost frame out.
WALL_BUCKETS = [
    ("waiting for the next request (gunicorn accept/select)", ("wait (gunicorn", "accept (gunicorn",
                                                               "select (selectors")),
    ("waiting for the database (execute, commit, pool pre-ping)",
     ("do_execute", "do_commit", "do_ping", "do_rollback")),
    ("SQLAlchemy", ("sqlalchemy/",)),
    ("Sweetshop code", ("sweetshop/",)),
    ("Flask, Werkzeug and extensions", ("flask/", "werkzeug/", "flask_")),
    ("gunicorn HTTP parsing and socket I/O", ("gunicorn/",)),
]
# CPU time: who asked for it. The first rule matching any frame of the stack wins, so a
# rule names the outermost piece of work a sample belongs to.
CPU_OWNERS = [
    ("Flask-Limiter's per-request hooks (login throttling's limiter)", ("flask_limiter/",)),
    ("JSON log lines (request line, stock-change line)", ("observability.py", "logging/", "_log_change")),
    # Before the token lookup, whose first statement is what checks a connection out of the pool.
    ("pool checkout, pre-ping and return (SQLAlchemy pool)", ("_checkout (sqlalchemy/pool", "do_ping (",
                                                              "_checkin (sqlalchemy/pool")),
    ("bearer token lookup (accounts.user_for_token: one token-and-user query)", ("user_for_token",)),
    ("sale + ledger statement (inventory._sell)", ("_sell (sweetshop",)),
    ("commit (Session.commit)", ("commit (sqlalchemy/orm",)),
    ("request body, validation, idempotency key, response JSON",
     ("json_body", "clean_fields", "_idempotency_key", "sweet_json", "make_response", "jsonify")),
    ("security headers", ("security.py",)),
    ("session teardown and other Flask-SQLAlchemy", ("flask_sqlalchemy/", "scoping.py")),
    ("Flask / Werkzeug request handling", ("flask/", "werkzeug/", "flask_login/", "flask_wtf/")),
    ("gunicorn HTTP parsing and socket I/O", ("gunicorn/",)),
]


def summarise_profile(stacks, rules, innermost):
    total = sum(stacks.values())
    buckets = Counter()
    for stack, count in stacks.items():
        frames = stack.split(";")
        if innermost:
            owner = next((name for frame in reversed(frames) for name, marks in rules
                          if any(mark in frame for mark in marks)), None)
        else:
            owner = next((name for name, marks in rules
                          if any(mark in frame for frame in frames for mark in marks)), None)
        buckets[owner or "other (interpreter, stdlib)"] += count
    return {"samples": total, "buckets": [(name, 100 * n / total) for name, n in buckets.most_common()]}


# --- catalogue at scale --------------------------------------------------------------------

def catalogue_queries(first_id, last_id):
    """Paths for each kind of catalogue request, varied so caches do not flatter them."""
    from catalogue import ADJECTIVES, CATEGORIES, FLAVOURS
    names = ([f.lower() for f in FLAVOURS[:8]] + [a[:4].upper() for a in ADJECTIVES[:6]]
             + ["ry dr", "ot che", "17", "4711", "Mint Drops 13", "zzz-no-match"])
    return {
        "name substring": [f"/api/sweets/search?name={n}" for n in names],
        "category": [f"/api/sweets/search?category={c.lower()}" for c in CATEGORIES],
        "price range": [f"/api/sweets/search?min_price={lo}&max_price={lo + width}"
                        for lo, width in ((1, 0.5), (5, 2), (10, 1), (20, 5), (30, 0.25), (45, 5))],
        "name + category + price": [f"/api/sweets/search?name=mint&category=toffee&min_price={lo}"
                                    f"&max_price={lo + 10}" for lo in (1, 10, 20, 30)],
        "deep page (skip ≥ 99,000)": [f"/api/sweets?skip={skip}&limit=100"
                                      for skip in range(99_000, 99_901, 100)],
        "sorted (name, price, -price, newest)": [
            f"/api/sweets/search?sort={sort}&skip={skip}&limit=12{extra}"
            for sort in ("name", "price", "-price", "newest") for skip in (0, 12, 1200)
            for extra in ("", "&category=toffee")],
    }


def measure_catalogue(shop, seconds, rounds):
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind, paths in catalogue_queries(0, 0).items():
            listing = Path(tmp) / "paths.txt"
            listing.write_text("\n".join(paths) + "\n")
            runs = [wrk(shop.sweetshop.base, 1, seconds, BENCH / "catalogue.lua",
                        BENCH_PATHS_FILE=str(listing)) for _ in range(rounds)]
            results[kind] = {"p50_ms": median(runs, "p50_us") / 1000,
                             "p95_ms": median(runs, "p95_us") / 1000,
                             "rps": median(runs, "rps"),
                             "non_2xx": sum(run["non_2xx"] for run in runs)}
            log(f"  catalogue {kind:28} p50 {results[kind]['p50_ms']:6.2f} ms  "
                f"p95 {results[kind]['p95_ms']:6.2f} ms")
    return results


def explain_catalogue(db):
    """EXPLAIN ANALYZE of the SQL the shop's own catalogue code sends, one per kind of search."""
    os.environ.update(DATABASE_URL=db.url, SWEETSHOP_CONFIG="production",
                      SECRET_KEY=secrets.token_hex(16))
    sys.path.insert(0, str(ROOT))
    from sqlalchemy.dialects import postgresql

    from config import database_url
    from sweetshop import catalog, create_app
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url(db.url)})
    cases = {"common name substring (name=mint)": {"name": "mint"},
             "rare name substring (name=4711)": {"name": "4711"},
             "category (category=toffee)": {"category": "toffee"},
             "narrow price range (30.00-30.25)": {"min_price": 30, "max_price": 30.25},
             "all three (name=mint, category=toffee, 1.00-11.00)":
                 {"name": "mint", "category": "toffee", "min_price": 1, "max_price": 11}}
    plans = {}
    with app.app_context():
        for label, filters in cases.items():
            query = catalog._matching(**filters).order_by(catalog.Sweet.id).limit(100)
            sql = str(query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
            rows = db.query("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) " + sql.replace("%%", "%"))
            plans[label] = "\n".join(row[0] for row in rows)
    return plans


# --- the report ------------------------------------------------------------------------------

def machine():
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    memory = int(Path("/proc/meminfo").read_text().split()[1]) // 1024 // 1024
    versions = {name: run(args, 10).stdout.strip().splitlines()[0] if run(args, 10).stdout else "?"
                for name, args in {"PostgreSQL": ["psql", "--version"],
                                   "wrk": ["sh", "-c", "wrk --version 2>&1 | head -1"],
                                   "gunicorn": [sys.executable, "-m", "gunicorn", "--version"]}.items()}
    return (f"{os.cpu_count()} × {cpu}, {memory} GiB RAM, Linux {platform.release()}, "
            f"Python {platform.python_version()}, {versions['PostgreSQL']} "
            "(fsync and synchronous_commit on), "
            f"{versions['gunicorn']}, {versions['wrk'].split(' Copyright')[0]}; 1-minute load average "
            f"{LOAD['start']:.2f} at the start, {os.getloadavg()[0]:.2f} at the end (anything else "
            "running shares these 2 cores)")


def fmt(value, digits=0):
    return f"{value:,.{digits}f}"


def purchase_table(results, reference):
    lines = ["| variant | req/s (median) | each round | p50 ms | p99 ms | non-2xx "
             "| stock = ledger = 200s | vs (a) | machine CPU ms per request |",
             "|---|---:|---|---:|---:|---:|---|---:|---:|"]
    for variant, stats in results.items():
        ledger = "yes" if stats["consistent"] else "**NO**"
        if variant == BARE:
            ledger = "stock = 200s: " + ledger
        if variant == PGBENCH:
            ledger = "stock = transactions: " + ledger
        lines.append(f"| {variant} | {fmt(stats['rps'])} | {', '.join(map(str, stats['each_rps']))} | "
                     f"{stats['p50_ms']:.1f} | {stats['p99_ms']:.1f} | {stats['non_2xx']} | {ledger} | "
                     f"{stats['rps'] / reference:.2f}× | {stats['cpu_ms']:.2f} |")
    return "\n".join(lines)


def write_report(args, started, hot, spread, sweep, catalogue, plans, prof):
    DOCS.mkdir(exist_ok=True)
    from chart import line_chart
    names = list(VARIANTS)
    (DOCS / "bench-sweep.svg").write_text(line_chart(
        "Hot-row purchases: throughput by concurrent connections (median of rounds)",
        "concurrent connections", "requests (transactions) per second", list(SWEEP),
        {name: [sweep[c][name]["rps"] for c in SWEEP] for name in names}))
    (DOCS / "bench-sweep-p99.svg").write_text(line_chart(
        "Hot-row purchases: p99 latency by concurrent connections (median of rounds)",
        "concurrent connections", "p99 latency, ms", list(SWEEP),
        {name: [sweep[c][name]["p99_ms"] for c in SWEEP] for name in names}))

    ratio = hot[SWEETSHOP]["rps"] / hot[BARE]["rps"]
    search = catalogue["with indexes"]
    worst_search = max(v["p95_ms"] for k, v in search.items() if not k.startswith("deep"))
    targets = [
        ("hot row at 32 connections ≥ 0.9 × bare reference (a)", f"{ratio:.2f}×", ratio >= 0.9),
        ("p99 at 32 connections ≤ 150 ms", f"{hot[SWEETSHOP]['p99_ms']:.1f} ms",
         hot[SWEETSHOP]["p99_ms"] <= 150),
        ("zero non-2xx while stock lasts", str(hot[SWEETSHOP]["non_2xx"] + spread[SWEETSHOP]["non_2xx"]),
         hot[SWEETSHOP]["non_2xx"] + spread[SWEETSHOP]["non_2xx"] == 0),
        ("stock = ledger = number of 200s after every run",
         "yes" if hot[SWEETSHOP]["consistent"] and spread[SWEETSHOP]["consistent"] else "NO",
         hot[SWEETSHOP]["consistent"] and spread[SWEETSHOP]["consistent"]),
        ("catalogue search p95 ≤ 25 ms at 100,000 sweets (worst kind of search)",
         f"{worst_search:.1f} ms", worst_search <= 25),
    ]
    out = [
        "# Benchmarks",
        "",
        "Generated by `make bench` (`bench/run.py`); rerun it to refresh every number below. "
        "It needs PostgreSQL (default `postgresql://postgres@127.0.0.1:5432`, override with "
        "`BENCH_POSTGRES_URL`), creates a throwaway database and drops it afterwards. "
        "Not part of `make test`.",
        "",
        f"- **Run:** {started:%Y-%m-%d %H:%M} UTC, {args.rounds} rounds per comparison, variants alternating "
        f"within each round (A B C D E, A B C D E, …), medians reported; {args.seconds} s per run "
        f"({args.sweep_seconds} s in the sweep).",
        f"- **Machine:** {machine()}.",
        f"- **Server:** gunicorn, {WORKERS} sync workers, production settings (pool_pre_ping on), "
        "for Sweetshop and the references alike.",
        "- **Load:** wrk, one-unit purchases `POST /api/sweets/<id>/purchase` with body "
        "`{\"quantity\": 1}` and a bearer token (`bench/purchase.lua`); the references are in "
        "`bench/reference.py`, pgbench runs `bench/pgbench_purchase.sql`.",
        "",
        "## Targets",
        "",
        "| target | measured | met |", "|---|---|---|",
        *[f"| {name} | {value} | {'yes' if ok else '**no**'} |" for name, value, ok in targets],
        "",
        f"Sweetshop reaches **{ratio:.2f}×** the bare reference (a), "
        f"**{hot[SWEETSHOP]['rps'] / hot[PGBENCH]['rps']:.2f}×** pgbench's ceiling for the bare "
        f"statement (b) and **{hot[SWEETSHOP]['rps'] / hot[FOR_UPDATE]['rps']:.2f}×** the "
        "`SELECT ... FOR UPDATE` design (c). With identical lean code, the conditional UPDATE (d) does "
        f"**{hot[LEAN]['rps'] / hot[FOR_UPDATE]['rps']:.2f}×** the FOR UPDATE version (c) on the hot row "
        f"and {sweep[64][LEAN]['rps'] / sweep[64][FOR_UPDATE]['rps']:.2f}× at 64 connections. "
        f"Per purchase, the machine spends {hot[SWEETSHOP]['cpu_ms'] / hot[BARE]['cpu_ms']:.2f}× the CPU "
        "time of (a) on Sweetshop.",
        "",
        f"## 1–2. Hot row: {CONNECTIONS} connections on one sweet, {args.seconds} s per run",
        "",
        purchase_table(hot, hot[BARE]["rps"]),
        "",
        "(a) does a token lookup and the conditional UPDATE only: no ledger row, no validation. "
        "(b) is pgbench with the same number of clients running the bare UPDATE, one per transaction, "
        "prepared: the database's own ceiling for this row on this machine. "
        "(c) does Sweetshop's work (token, row, ledger) the earlier backend's way: `SELECT ... FOR UPDATE`, "
        "then an UPDATE of the value computed in Python, then the ledger row. "
        "(d) is Sweetshop's SQL (conditional UPDATE and ledger row in one statement) in the same lean "
        "code as (c): (d) against (c) is what the locking design alone buys. "
        "For pgbench, p50/p99 are per transaction from its log. "
        "\"Machine CPU ms per request\" is the busy CPU time of the whole machine during the run (both "
        "cores: server, database and load generator; from /proc/stat) divided by the requests served: "
        "with every variant out of CPU, its inverse ratio tracks the throughput ratio.",
        "",
        f"## 3. Spread: {CONNECTIONS} connections over {SPREAD_SWEETS:,} sweets",
        "",
        purchase_table(spread, spread[BARE]["rps"]),
        "",
        "## 4. Concurrency sweep (hot row)",
        "",
        "![throughput by connections](bench-sweep.svg)",
        "",
        "![p99 latency by connections](bench-sweep-p99.svg)",
        "",
        "| connections | " + " | ".join(f"{name} req/s · p99 ms" for name in names) + " | Sweetshop / (a) |",
        "|---:|" + "---:|" * (len(names) + 1),
        *[f"| {c} | " + " | ".join(f"{fmt(sweep[c][n]['rps'])} · {sweep[c][n]['p99_ms']:.1f}"
                                   for n in names)
          + f" | {sweep[c][SWEETSHOP]['rps'] / sweep[c][BARE]['rps']:.2f}× |" for c in SWEEP],
        "",
        f"## 5. Catalogue at scale: {CATALOGUE_SWEETS:,} sweets",
        "",
        f"`bench/catalogue.py` loads them with one INSERT … SELECT from generate_series (ledger rows "
        f"included). Each kind of request is sent by one wrk connection for {args.catalogue_seconds} s, "
        "cycling through the paths in `bench/run.py:catalogue_queries`; latency is measured at the client "
        "over loopback, so it is the server time plus well under a millisecond. "
        "\"without indexes\" is the same database after dropping the PostgreSQL-only catalogue indexes "
        "of migrations 0002 and 0005 (`CATALOGUE_INDEXES`), to show what they buy.",
        "",
        "| request | p50 ms | p95 ms | req/s | p50 ms without indexes | p95 ms without indexes |",
        "|---|---:|---:|---:|---:|---:|",
        *[f"| {kind} | {v['p50_ms']:.1f} | {v['p95_ms']:.1f} | {fmt(v['rps'])} | "
          f"{catalogue['without indexes'][kind]['p50_ms']:.1f} | "
          f"{catalogue['without indexes'][kind]['p95_ms']:.1f} |" for kind, v in search.items()],
        "",
        "`EXPLAIN ANALYZE` of the SQL that `sweetshop/catalog.py` sends (with migration 0002's indexes):",
        "",
    ]
    for label, plan in plans.items():
        out += [f"{label}:", "", "```", plan, "```", ""]
    if prof:
        out += ["## Profile: where the time goes",
                "",
                "Python CPU per purchase request, measured in one process through Flask's test client "
                "(no HTTP server, no concurrency; `bench/cpu_per_request.py`, each app twice, alternating):",
                "",
                "| app | wall µs per request | Python CPU µs per request |", "|---|---:|---:|",
                *[f"| {name} | {wall:.0f} | {cpu:.0f} |" for name, wall, cpu in prof["per_request"]],
                "",
                f"py-spy on one of the {WORKERS} Sweetshop workers during a {CONNECTIONS}-connection hot-row "
                f"run, samples where the worker was not blocked ({prof['cpu']['samples']:,}: running, or "
                "runnable and waiting for one of the 2 cores), each charged to the outermost piece of work "
                "it belongs to:",
                "",
                "| CPU spent on | share |", "|---|---:|",
                *[f"| {name} | {share:.1f} % |" for name, share in prof["cpu"]["buckets"]],
                "",
                f"The same worker's wall time ({prof['wall']['samples']:,} samples, idle included; "
                "innermost matching frame):",
                "",
                "| wall time in | share |", "|---|---:|",
                *[f"| {name} | {share:.1f} % |" for name, share in prof["wall"]["buckets"]],
                ""]
    out += ["## Exact commands", "", "```", "make bench      # = .venv/bin/python bench/run.py",
            "# wrk gets BENCH_TOKEN (a customer's bearer token), BENCH_PATH, and BENCH_SWEETS=first:count "
            "for the spread",
            *commands.values(), "```", ""]
    kept = ""
    if REPORT.exists() and KEEP_MARKER in REPORT.read_text():
        kept = REPORT.read_text().split(KEEP_MARKER, 1)[1]
    REPORT.write_text("\n".join(out) + "\n" + KEEP_MARKER + kept)
    log(f"wrote {REPORT.relative_to(ROOT)} and docs/bench-sweep*.svg")


# --- main ----------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10, help="per hot-row and spread run")
    parser.add_argument("--sweep-seconds", type=int, default=4)
    parser.add_argument("--catalogue-seconds", type=int, default=4)
    parser.add_argument("--only", choices=["hot", "catalogue"], help="one part, for development; no report")
    args = parser.parse_args()
    for tool in ("wrk", "pgbench", "psql"):
        if run(["sh", "-c", f"command -v {tool}"], 10).returncode != 0:
            sys.exit(f"make bench needs {tool} on PATH (Debian: apt-get install wrk postgresql-client)")
    sys.path.insert(0, str(BENCH))
    # Stopped by a signal, still stop the servers and drop the database (the finally below);
    # a shell's background job starts with SIGINT ignored, so install both handlers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("make bench: terminated"))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    started = datetime.now(timezone.utc)
    LOAD["start"] = os.getloadavg()[0]
    db = Database()
    shop = None
    try:
        db.connect()
        flask(db, "db", "upgrade")
        log(f"database {db.name} migrated")
        shop = Shop(db)
        hot = spread = sweep = prof = None
        if args.only in (None, "hot"):
            log("hot row")
            hot = {v: summary(runs) for v, runs in
                   rounds_of(shop, "hot", VARIANTS, CONNECTIONS, args.seconds, args.rounds).items()}
            if args.only:
                print(json.dumps(hot, indent=1))
                return
            log("spread")
            spread = {v: summary(runs) for v, runs in
                      rounds_of(shop, "spread", VARIANTS, CONNECTIONS, args.seconds, args.rounds,
                                spread=True).items()}
            log("sweep")
            sweep = {c: {v: summary(runs) for v, runs in
                         rounds_of(shop, f"sweep c={c}", VARIANTS, c, args.sweep_seconds,
                                   args.rounds).items()} for c in SWEEP}
            log("profile")
            wall, cpu = profile(shop, 8, idle=True), profile(shop, 8, idle=False)
            prof = wall and cpu and {"wall": summarise_profile(wall, WALL_BUCKETS, innermost=True),
                                     "cpu": summarise_profile(cpu, CPU_OWNERS, innermost=False)}
            log("Python CPU per request, in process")
            from cpu_per_request import measure as measure_cpu
            prof = prof and dict(prof, per_request=measure_cpu())
        log(f"catalogue: loading {CATALOGUE_SWEETS:,} sweets")
        from catalogue import load_sweets
        with db.conn.cursor() as cursor:
            load_sweets(cursor, CATALOGUE_SWEETS, 100)
        db.query("ANALYZE")
        catalogue = {"with indexes": measure_catalogue(shop, args.catalogue_seconds, args.rounds)}
        plans = explain_catalogue(db)
        # Only the catalogue's PostgreSQL-only indexes go: a downgrade would also take away
        # columns that the running shop reads.
        for index in CATALOGUE_INDEXES:
            db.query(f"DROP INDEX IF EXISTS {index}")
        db.query("ANALYZE")
        catalogue["without indexes"] = measure_catalogue(shop, args.catalogue_seconds, 1)
        if args.only:
            print(json.dumps(catalogue, indent=1))
            print("\n\n".join(plans.values()))
            return
        write_report(args, started, hot, spread, sweep, catalogue, plans, prof)
    finally:
        if shop is not None:
            shop.stop()
        db.close()


if __name__ == "__main__":
    main()
