"""A bystander's purchase latency while one address floods the login (or registration) endpoint.

Issue 11: eight threads logging in with a correct password moved a bystander's purchase p95 from
7 ms to 550 ms, because every attempt cost one PBKDF2 at 600,000 iterations. With the throttle,
attempts over the limits are refused before any hashing. This scenario measures it:

1. ``quiet``: the bystander buys, nothing else happens;
2. ``flood, throttle on``: the same while ``--threads`` threads flood from this address;
3. ``flood, throttle off``: the same flood with ``SWEETSHOP_RATELIMIT_ENABLED=false`` (the cost
   the throttle saves).

Each phase runs on a fresh gunicorn (4 sync workers, production settings and hashing) over a fresh
database: PostgreSQL (``BENCH_POSTGRES_URL``, default postgresql://postgres@127.0.0.1:5432) or,
with ``--sqlite``, a SQLite file. Throttle counters are in Redis (``BENCH_REDIS_URL``, default
redis://127.0.0.1:6379/0) as production has them, or per worker (``memory://``) if it is not
running, which lets each of the 4 workers allow its own count. Prints one line per phase and,
with ``--json``, the numbers as JSON on stdout. Standalone:

    .venv/bin/python bench/login_flood.py [--kind login|register] [--seconds 10] [--threads 8]

The functions ``buy_during`` and ``percentile`` are reused by tests/test_flood.py.
"""
import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
PASSWORD = "bench password 1"


def percentile(values, fraction):
    """The ``fraction`` (0..1) percentile of ``values``, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def _flood_once(session, base, kind, victim, password):
    if kind == "login":
        # The issue's case: the right password, which used to be neither throttled nor cheap.
        response = session.post(base + "/api/auth/login", timeout=60,
                                data={"username": victim, "password": password})
    else:
        response = session.post(base + "/api/auth/register", timeout=60, json={
            "username": f"flood{secrets.token_hex(6)}", "password": password})
    return response.status_code


def buy_during(base, buyer, sweet_id, seconds, kind=None, threads=8, victim=None, password=PASSWORD):
    """Buy one unit at a time for ``seconds`` while ``threads`` threads flood ``kind`` (None: no
    flood): logins as ``victim`` with ``password``, or registrations. Returns ``(purchase
    latencies in ms, purchase statuses, flood statuses)``, both statuses as Counters."""
    stop = threading.Event()
    flood_statuses = Counter()
    lock = threading.Lock()

    def flooder():
        with requests.Session() as session:
            while not stop.is_set():
                status = _flood_once(session, base, kind, victim, password)
                with lock:
                    flood_statuses[status] += 1

    latencies, statuses = [], Counter()
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        futures = [pool.submit(flooder) for _ in range(threads if kind else 0)]
        time.sleep(0.5 if kind else 0)  # let the flood get going
        deadline = time.monotonic() + seconds
        with requests.Session() as session:
            while time.monotonic() < deadline:
                start = time.perf_counter()
                response = session.post(f"{base}/api/sweets/{sweet_id}/purchase", headers=buyer,
                                        json={"quantity": 1}, timeout=60)
                latencies.append((time.perf_counter() - start) * 1000)
                statuses[response.status_code] += 1
        stop.set()
        for future in futures:
            future.result()
    return latencies, statuses, flood_statuses


# --- a throwaway server, for running this file on its own ------------------------------------

def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def _database(sqlite):
    if sqlite:
        with tempfile.TemporaryDirectory() as directory:
            yield f"sqlite:///{directory}/flood.sqlite"
        return
    import psycopg2
    name = f"sweetshop_flood_{secrets.token_hex(4)}"
    admin = psycopg2.connect(f"{POSTGRES_URL}/postgres")
    admin.autocommit = True
    try:
        admin.cursor().execute(f'CREATE DATABASE "{name}"')
        yield f"{POSTGRES_URL}/{name}"
    finally:
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@contextmanager
def _server(url, **settings):
    env = dict(os.environ, DATABASE_URL=url, SWEETSHOP_CONFIG="production",
               SECRET_KEY=secrets.token_hex(16), SWEETSHOP_SESSION_COOKIE_SECURE="false",
               SWEETSHOP_LOG_LEVEL="WARNING", PYTHONPATH=str(ROOT))
    env.update({f"SWEETSHOP_{key}": str(value) for key, value in settings.items()})
    flask = [sys.executable, "-m", "flask", "--app", "sweetshop"]
    subprocess.run([*flask, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
    subprocess.run([*flask, "create-admin", "boss", "--password-stdin"], cwd=ROOT, env=env, check=True,
                   capture_output=True, input=PASSWORD + "\n", text=True)
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-m", "gunicorn", "--workers", "4", "--bind",
                                f"127.0.0.1:{port}", "wsgi:app"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if requests.get(base + "/api/health", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def _token(base, username, register=True):
    if register:
        requests.post(base + "/api/auth/register", json={"username": username, "password": PASSWORD},
                      timeout=60).raise_for_status()
    response = requests.post(base + "/api/auth/login", data={"username": username, "password": PASSWORD},
                             timeout=60)
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def phase(label, url, kind, seconds, threads, **settings):
    with _server(url, **settings) as base:
        admin = _token(base, "boss", register=False)
        buyer = _token(base, f"buyer{secrets.token_hex(3)}")
        victim = f"victim{secrets.token_hex(3)}"
        _token(base, victim)
        sweet = requests.post(base + "/api/sweets", headers=admin, timeout=60, json={
            "name": f"Flood {secrets.token_hex(3)}", "category": "Bench", "price": 1,
            "quantity": 10 ** 6}).json()
        latencies, statuses, flood = buy_during(base, buyer, sweet["id"], seconds,
                                                kind=kind, threads=threads, victim=victim)
    result = {"phase": label, "purchases": len(latencies), "purchase_statuses": dict(statuses),
              "p50_ms": round(percentile(latencies, 0.5), 1), "p95_ms": round(percentile(latencies, 0.95), 1),
              "flood_requests": sum(flood.values()), "flood_statuses": dict(flood)}
    print(f"{label:24} purchases {result['purchases']:5}  p50 {result['p50_ms']:7.1f} ms  "
          f"p95 {result['p95_ms']:7.1f} ms  flood {result['flood_statuses']}", file=sys.stderr, flush=True)
    return result


def _storage():
    try:
        import redis
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except Exception:
        return "memory://"
    return REDIS_URL


def main():
    # Stopped with SIGTERM (a timeout, make), still stop the servers and drop the database.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kind", choices=("login", "register"), default="login")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    parser.add_argument("--json", action="store_true", help="also print the results as JSON on stdout")
    args = parser.parse_args()
    storage = _storage()
    print(f"{args.kind} flood, {args.threads} threads, {args.seconds} s a phase, counters in {storage}",
          file=sys.stderr, flush=True)
    results = []
    for label, kind, settings in [("quiet", None, {}),
                                  ("flood, throttle on", args.kind, {}),
                                  ("flood, throttle off", args.kind, {"RATELIMIT_ENABLED": "false"})]:
        with _database(args.sqlite) as url:
            results.append(phase(label, url, kind, args.seconds, args.threads,
                                 RATELIMIT_STORAGE_URI=storage,
                                 RATELIMIT_KEY_PREFIX=f"bench-{secrets.token_hex(4)}", **settings))
    if args.json:
        print(json.dumps({"kind": args.kind, "threads": args.threads, "seconds": args.seconds,
                          "database": "sqlite" if args.sqlite else "postgresql", "storage": storage,
                          "phases": results}, indent=2))


if __name__ == "__main__":
    main()
