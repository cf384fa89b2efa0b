"""A bystander's purchase latency while one address floods the login (or registration) endpoint.

Before the throttle, eight threads logging in with a correct password moved a bystander's purchase
p95 from 7 ms to 550 ms, because every attempt cost one PBKDF2 at 600,000 iterations. With the throttle,
attempts over the limits are refused before any hashing. This scenario measures it:

1. ``quiet``: the bystander buys, nothing else happens;
2. ``flood, throttle on``: the same while ``--threads`` threads flood from this address;
3. ``flood, throttle off``: the same flood with ``SWEETSHOP_RATELIMIT_ENABLED=false`` (the cost
   the throttle saves).

The servers are the production server of the live-server harness (``tests/support/harness.py``:
granian, 4 workers, production hashing and the shipped limits), one with the throttle and one
without, over one database; the phases alternate for ``--rounds`` rounds (quiet, on, off, quiet,
...), and each phase's percentiles are over all its rounds' purchases. Throttle counters are where
production keeps them by default, in the shop's database; ``--redis`` keeps them in Redis instead
(``BENCH_REDIS_URL``, default redis://127.0.0.1:6379/0).

``make bench`` runs it as its login-flood scenario (``measure``, on the bench's database).
Standalone, on a fresh PostgreSQL database (``BENCH_POSTGRES_URL``, default
postgresql://postgres@127.0.0.1:5432) or with ``--sqlite`` a SQLite file; one line per phase on
standard error and, with ``--json``, the numbers as JSON on standard output:

    .venv/bin/python -m bench.login_flood [--kind login|register] [--seconds 20] [--threads 8] [--json]

The functions ``buy_during`` and ``percentile`` are reused by tests/live/test_flood.py.
"""
import argparse
import json
import multiprocessing
import os
import secrets
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import requests

from config import Config

from .harness import LiveServer, migrated_database

ROOT = Path(__file__).resolve().parent.parent

POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
PASSWORD = "bench password 1"
# As shipped: production hashing and limits (the harness raises the per-address limits and
# cheapens hashing for the tests; a flood is measured against the real ones).
PRODUCTION = {name: getattr(Config, name) for name in (
    "PASSWORD_HASH_METHOD", "REGISTER_LIMIT_PER_ADDRESS", "LOGIN_ATTEMPT_LIMIT_PER_ADDRESS",
    "LOGIN_FAILURE_LIMIT_PER_ACCOUNT_AND_ADDRESS", "LOGIN_ATTEMPT_LIMIT_PER_ACCOUNT")}
# The flooding client's niceness (see ``_flood``).
FLOOD_NICENESS = 19
PHASES = ("quiet", "flood, throttle on", "flood, throttle off")


def percentile(values, fraction):
    """The ``fraction`` (0..1) percentile of ``values``, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def _flood_once(session, base, kind, victim, password):
    if kind == "login":
        # The worst case: the right password, which used to be neither throttled nor cheap.
        response = session.post(base + "/api/auth/login", timeout=60,
                                data={"username": victim, "password": password})
    else:
        response = session.post(base + "/api/auth/register", timeout=60, json={
            "username": f"flood{secrets.token_hex(6)}", "password": password})
    return response.status_code


def _flood(base, kind, victim, password, threads, niceness, started, stop, answers):
    """The attacker: ``threads`` threads flooding ``kind`` until ``stop`` is set (``started`` is
    set at the first answer), then the Counter of their statuses put on ``answers``.

    It runs in a process of its own: in the measuring client's, the flood's threads would hold
    its interpreter lock while the bystander's answer waited to be timed. ``niceness`` lowers its
    priority, standing for an attacker whose CPU is elsewhere."""
    os.nice(niceness)
    statuses = Counter()
    lock = threading.Lock()

    def flooder():
        with requests.Session() as session:
            while not stop.is_set():
                status = _flood_once(session, base, kind, victim, password)
                with lock:
                    statuses[status] += 1
                started.set()

    with ThreadPoolExecutor(max_workers=threads) as pool:
        for future in [pool.submit(flooder) for _ in range(threads)]:
            future.result()
    answers.put(statuses)


def buy_during(base, buyer, sweet_id, seconds, kind=None, threads=8, victim=None, password=PASSWORD,
               niceness=FLOOD_NICENESS):
    """Buy one unit at a time for ``seconds`` while ``threads`` threads in another process flood
    ``kind`` (None: no flood): logins as ``victim`` with ``password``, or registrations. Returns
    ``(purchase latencies in ms, purchase statuses, flood statuses)``, both statuses as Counters."""
    if not kind:
        return (*_buy(base, buyer, sweet_id, seconds), Counter())
    processes = multiprocessing.get_context("spawn")
    started, stop, answers = processes.Event(), processes.Event(), processes.Queue()
    attacker = processes.Process(target=_flood, args=(base, kind, victim, password, threads, niceness,
                                                      started, stop, answers))
    attacker.start()
    started.wait(timeout=60)  # the bystander's count starts with the flood
    try:
        latencies, statuses = _buy(base, buyer, sweet_id, seconds)
    finally:
        stop.set()
    flood_statuses = answers.get(timeout=120)
    attacker.join()
    return latencies, statuses, flood_statuses


def _buy(base, buyer, sweet_id, seconds):
    """One unit at a time for ``seconds``: ``(latencies in ms, statuses as a Counter)``."""
    latencies, statuses = [], Counter()
    deadline = time.monotonic() + seconds
    with requests.Session() as session:
        while time.monotonic() < deadline:
            start = time.perf_counter()
            response = session.post(f"{base}/api/sweets/{sweet_id}/purchase", headers=buyer,
                                    json={"quantity": 1}, timeout=60)
            latencies.append((time.perf_counter() - start) * 1000)
            statuses[response.status_code] += 1
    return latencies, statuses


# --- the scenario: servers of its own over a given database ---------------------------------

def storage(use_redis=False):
    """Where the servers keep their throttle counters: "" (the shop's database, the default), or
    Redis when asked for."""
    return REDIS_URL if use_redis else ""


def _server(url, counters, throttle):
    return LiveServer(url, workers=4, startup_seconds=60, RATELIMIT_ENABLED=throttle,
                      RATELIMIT_STORAGE_URI=counters, RATELIMIT_KEY_PREFIX=f"bench-{secrets.token_hex(4)}",
                      **PRODUCTION)


def _summary(label, latencies, statuses, flood, rounds):
    every = [latency for run in latencies for latency in run]
    return {"phase": label, "purchases": len(every), "purchase_statuses": dict(statuses),
            "p50_ms": round(percentile(every, 0.5), 1), "p95_ms": round(percentile(every, 0.95), 1),
            "each_p95_ms": [round(percentile(run, 0.95), 1) for run in latencies if run],
            "flood_requests": sum(flood.values()), "flood_statuses": dict(flood), "rounds": rounds}


def measure(url, kind="login", seconds=20, threads=8, rounds=1, log=None, use_redis=False,
            niceness=FLOOD_NICENESS):
    """The three phases over the migrated database ``url``, alternating for ``rounds`` rounds of
    ``seconds`` each; a dict of the settings and ``phases`` (one summary per phase)."""
    log = log or (lambda text: print(text, file=sys.stderr, flush=True))
    counters = storage(use_redis)
    with ExitStack() as stack:
        on = stack.enter_context(_server(url, counters, throttle=True))
        off = stack.enter_context(_server(url, counters, throttle=False))
        admin = on.token(f"boss{secrets.token_hex(3)}", PASSWORD, admin=True)
        buyer = on.token(f"buyer{secrets.token_hex(3)}", PASSWORD)
        victim = f"victim{secrets.token_hex(3)}"
        on.token(victim, PASSWORD)
        response = requests.post(on.base + "/api/sweets", headers=admin, timeout=60, json={
            "name": f"Flood {secrets.token_hex(3)}", "category": "Bench", "price": 1, "quantity": 10 ** 6})
        response.raise_for_status()
        sweet = response.json()["id"]
        runs = {label: ([], Counter(), Counter()) for label in PHASES}
        for r in range(rounds):
            for label, server, flood_kind in zip(PHASES, (on, on, off), (None, kind, kind)):
                latencies, statuses, flood = buy_during(
                    server.base, buyer, sweet, seconds, kind=flood_kind, threads=threads, victim=victim,
                    niceness=niceness)
                runs[label][0].append(latencies)
                runs[label][1].update(statuses)
                runs[label][2].update(flood)
                log(f"  login flood round {r + 1} {label:20} purchases {len(latencies):5}  "
                    f"p50 {percentile(latencies, 0.5):7.1f} ms  p95 {percentile(latencies, 0.95):7.1f} ms  "
                    f"purchases {dict(statuses)}  flood {dict(flood)}")
    return {"kind": kind, "threads": threads, "seconds": seconds, "rounds": rounds,
            "storage": counters or "database", "niceness": niceness,
            "workers": 4, "phases": [_summary(label, *runs[label], rounds) for label in PHASES]}


def main():
    # Stopped with SIGTERM (a timeout, make), still stop the servers and drop the database.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kind", choices=("login", "register"), default="login")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    parser.add_argument("--redis", action="store_true", help="throttle counters in Redis, not the database")
    parser.add_argument("--niceness", type=int, default=FLOOD_NICENESS, help="the flooding client's")
    parser.add_argument("--json", action="store_true", help="also print the results as JSON on stdout")
    args = parser.parse_args()
    print(f"{args.kind} flood, {args.threads} threads, {args.seconds} s a phase, {args.rounds} round(s)",
          file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory() as directory, \
            migrated_database("sqlite" if args.sqlite else "postgresql", directory, server=POSTGRES_URL,
                              prefix="sweetshop_flood") as url:
        results = measure(url, args.kind, args.seconds, args.threads, args.rounds, use_redis=args.redis,
                          niceness=args.niceness)
    results["database"] = "sqlite" if args.sqlite else "postgresql"
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
