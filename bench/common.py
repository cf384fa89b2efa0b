"""What every part of the bench shares: paths, settings, the plan of a run, the load generators.

Importing this puts the project and ``tests/`` on ``sys.path``, so bench modules can use the
live-server harness the tests use (``tests/support/harness.py``) and the shop's own modules.
"""
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [path for path in (str(ROOT), str(ROOT / "tests")) if path not in sys.path]

import psycopg2  # noqa: E402

from support.harness import libpq_url  # noqa: E402

BENCH = ROOT / "bench"
POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432")
# How the shop and the references are served: the same for every variant of a scenario.
WORKERS = int(os.environ.get("BENCH_WORKERS", "4"))
THREADS = int(os.environ.get("BENCH_THREADS", "1"))
# Across the network the app waits on round trips, so it gets threads enough not to be the limit.
NET_WORKERS = int(os.environ.get("BENCH_NET_WORKERS", "4"))
NET_THREADS = int(os.environ.get("BENCH_NET_THREADS", "8"))
NET_DELAY_MS = float(os.environ.get("BENCH_NET_DELAY_MS", "0.5"))
CONNECTIONS = 32
# Every server of the run gets these (an A/B variant may override them). The login throttle is
# off: it guards login and registration, which the purchase load never sends, and its limiter's
# hooks would only add noise; the login-flood scenario runs servers of its own with it on.
SERVER_SETTINGS = {"RATELIMIT_ENABLED": False}
HOT_STOCK = 10 ** 9          # lasts any run, so every non-2xx is a real error

# The exact command lines of the run, for the report (first use of each kind).
commands = {}


@dataclass(frozen=True)
class Plan:
    """How long and how often: the full run, or a quick smoke run (numbers meaningless)."""
    # This machine's speed drifts by up to ±40 % from one ten seconds to the next (other
    # machines share its host), so many short alternating rounds beat a few long ones.
    rounds: int = 5
    seconds: int = 6              # per hot-row, spread, network and orders run
    sweep: tuple = (1, 4, 16, 32, 64)
    sweep_rounds: int = 3
    sweep_seconds: int = 4
    catalogue_sweets: int = 100_000
    catalogue_seconds: int = 4
    profile_seconds: int = 8
    cpu_requests: int = 1500      # per app, in process (bench/cpu_per_request.py)
    quick: bool = False


FULL = Plan()
QUICK = Plan(rounds=1, seconds=3, sweep=(1, 32), sweep_rounds=1, sweep_seconds=2, catalogue_sweets=10_000,
             catalogue_seconds=2, profile_seconds=3, cpu_requests=200, quick=True)


def log(*parts):
    print(*parts, file=sys.stderr, flush=True)


def run(args, timeout, **kwargs):
    """A child process with a hard time limit; its completed result."""
    return subprocess.run(args, timeout=timeout, capture_output=True, text=True, **kwargs)


def record(kind, args, *replacements):
    """Keep the first command line of each kind for the report; ``(text, placeholder)`` pairs
    hide what changes from run to run (temporary paths, ports)."""
    line = shlex.join(map(str, args))
    for old, new in replacements:
        line = line.replace(str(old), new)
    commands.setdefault(kind, line)


class Database:
    """An autocommit psycopg2 connection to the run's database (SQLAlchemy ``url``)."""

    def __init__(self, url):
        self.url = url
        self.plain_url = libpq_url(url)
        self.name = url.rsplit("/", 1)[1]
        self.conn = psycopg2.connect(self.plain_url)
        self.conn.autocommit = True

    def query(self, sql, params=None):
        with self.conn.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall() if cursor.description else None

    def value(self, sql, params=None):
        return self.query(sql, params)[0][0]

    def close(self):
        self.conn.close()


def busy_cpu_seconds():
    """CPU time the whole machine has spent working so far, all cores together (/proc/stat):
    server, database and load generator alike; idle, I/O wait and hypervisor steal excluded."""
    user, nice, system, _idle, _iowait, irq, softirq = map(
        int, Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def wrk(url, connections, seconds, script, **env):
    """wrk with a Lua script whose done() prints ``BENCH {json}``; that JSON, plus ``rps``."""
    threads = min(2, connections)
    args = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--timeout", "10s",
            "-s", str(script), url]
    record(f"wrk {script.name}", args, (ROOT, "."), (url.split("/api")[0], "http://127.0.0.1:$PORT"))
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
        args = ["pgbench", "-n", "-M", "prepared", "-c", str(connections), "-j", str(min(2, connections)),
                "-T", str(seconds), "-l", "--log-prefix", f"{logs}/tx", "-f", str(script), *defines,
                db.plain_url]
        record(f"pgbench {script.name}", args, (logs, "$LOGDIR"), (ROOT, "."), (db.plain_url, "$DATABASE"))
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


def served(server, status, path_matches):
    """How many requests the shop's JSON request log shows answered ``status`` on a matching
    path since the last look (the log counts every answer sent, unlike wrk, which drops the
    ones still in flight when its time is up)."""
    count = 0
    for line in server.new_log_lines():
        if not line.startswith("{"):
            continue
        entry = json.loads(line)
        if entry.get("message") == "request" and entry.get("status") == status \
                and path_matches(entry.get("path", "")):
            count += 1
    return count
