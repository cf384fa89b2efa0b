"""Throughput with and without the front server (nginx) on the purchase hot row, in one run.

Two production servers (``python -m sweetshop.serve``, 4 workers) over one fresh PostgreSQL
database: one as shipped (nginx in front of granian), one with ``SWEETSHOP_FRONT_SERVER=`` (granian
alone on the port). wrk with 32 connections buys one unit of the same sweet from each in turn, for
``--rounds`` alternating rounds of ``--seconds``; one line per round on standard error and, with
``--json``, every round's numbers on standard output. Besides req/s, each round reports the server's
own CPU time per request (its whole process tree: granian's master and workers, and nginx's), which
a busy shared machine disturbs far less than throughput. A few minutes at most; not part of ``make
bench`` (which measures the production recipe, front server included, against its references):

    .venv/bin/python -m bench.front_server_ab [--rounds 4] [--seconds 10] [--json]
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

import requests

from . import common
from .common import BENCH, POSTGRES_URL, log, wrk
from .harness import LiveServer, migrated_database

VARIANTS = {"nginx + granian": {}, "granian alone": {"FRONT_SERVER": ""}}
TICK = os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid):
    """CPU time (user + system) of the live process ``pid`` and all its descendants: the server's
    own cost, whatever else the shared machine is doing (the database's is the same for both)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except FileNotFoundError:
        return 0.0
    own = (int(fields[11]) + int(fields[12])) / TICK
    return own + sum(tree_cpu_seconds(int(child)) for child in children)


def measure(url, rounds, seconds, connections=32):
    with ExitStack() as stack:
        servers = {name: stack.enter_context(LiveServer(url, workers=common.WORKERS, startup_seconds=60,
                                                        **common.SERVER_SETTINGS, **settings))
                   for name, settings in VARIANTS.items()}
        first = next(iter(servers.values()))
        admin = first.token("boss", admin=True)
        token = first.token("buyer")["Authorization"].split(" ", 1)[1]
        sweet = requests.post(first.base + "/api/sweets", headers=admin, timeout=60, json={
            "name": "Hot Fudge", "category": "Bench", "price": 1, "quantity": 1_000_000}).json()["id"]
        results = {name: [] for name in servers}
        for number in range(rounds):
            # Alternate which goes first, so neither always runs on the warmer machine.
            order = list(servers.items()) if number % 2 == 0 else list(servers.items())[::-1]
            for name, server in order:
                cpu_before = tree_cpu_seconds(server.process.pid)
                stats = wrk(f"{server.base}/api/sweets/{sweet}/purchase", connections, seconds,
                            BENCH / "purchase.lua", BENCH_TOKEN=token)
                cpu = tree_cpu_seconds(server.process.pid) - cpu_before
                stats["cpu_ms"] = 1000 * cpu / stats["requests"]
                results[name].append(stats)
                log(f"round {number + 1} {name:16} {stats['rps']:8.1f} req/s  "
                    f"p50 {stats['p50_us'] / 1000:6.1f} ms  p99 {stats['p99_us'] / 1000:6.1f} ms  "
                    f"server CPU {stats['cpu_ms']:5.2f} ms/request  "
                    f"ok {stats['ok']}  non-2xx {stats['non_2xx']}  socket errors {stats['socket_errors']}")
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory, \
            migrated_database("postgresql", directory, server=POSTGRES_URL, prefix="sweetshop_ab") as url:
        results = measure(url, args.rounds, int(args.seconds))
    for name, runs in results.items():
        log(f"{name:16} median {statistics.median(run['rps'] for run in runs):8.1f} req/s, "
            f"{statistics.median(run['cpu_ms'] for run in runs):5.2f} ms server CPU per request over "
            f"{len(runs)} rounds: {', '.join(str(round(run['rps'])) for run in runs)} req/s")
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    sys.exit(main())
