"""`make bench`: the purchase path, orders and the catalogue measured against their references.

Everything runs in one go on this machine against a throwaway PostgreSQL database that is
created here and dropped at the end: Sweetshop and the benchmark-only references
(bench/reference.py) served by the tests' live-server harness, wrk as the load generator,
pgbench for the database's own ceiling, bench/netdelay.py as the network. The scenarios are
in bench/scenarios.py, the report's layout in bench/report.md.j2.

    .venv/bin/python -m bench                 # the full run (about 15 minutes): docs/BENCHMARKS.md
    .venv/bin/python -m bench --quick         # a smoke run (a few minutes): bench/results/
    .venv/bin/python -m bench --quick --only network,orders
    .venv/bin/python -m bench --ab POOL_PRE_PING=false   # adds an A/B variant of Sweetshop
    .venv/bin/python -m bench --ab-revision 1a2b3c4        # ... and one of an older revision

BENCH_QUICK=1 is the same as --quick; BENCH_AB="NAME=value;NAME=value" the same as --ab.
"""
import argparse
import dataclasses
import json
import os
import shlex
import signal
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from datetime import datetime, timezone
from pathlib import Path

from . import common, instructions, report, scenarios
from .common import FULL, QUICK, log, run
from .harness import migrated_database, postgres_error

SCENARIOS = ("hot", "network", "orders", "login_flood", "instructions", "catalogue")
# Settings that are candidate speed levers: the report says how each was set in the run. Add a
# lever here when adding one, so that every A/B shows what else was on.
LEVERS = {"POOL_PRE_PING": True, "LOG_LEVEL": "INFO", "RATELIMIT_ENABLED": True}


def lever_values():
    """Each lever as the servers get it: the bench's own server settings, else SWEETSHOP_<NAME>
    from the environment, else the default."""
    from config import CONFIGS
    values = {name: common.SERVER_SETTINGS.get(name, os.environ.get(
              f"SWEETSHOP_{name}", getattr(CONFIGS["production"], name, default)))
              for name, default in LEVERS.items()}
    return {name: value if isinstance(value, str) else json.dumps(value) for name, value in values.items()}


def parse_ab(text):
    """One A/B variant's settings from ``NAME=value`` (several joined by ``+``).

    ``POOL_PRE_PING=false`` gives {"POOL_PRE_PING": False}: values are read as JSON when they
    parse, as Flask reads SWEETSHOP_<NAME>.
    """
    settings = {}
    for pair in text.split("+"):
        name, _, value = pair.strip().partition("=")
        if not name or not _:
            raise argparse.ArgumentTypeError(f"expected NAME=value, got {pair!r}")
        try:
            settings[name] = json.loads(value)
        except ValueError:
            settings[name] = value
    return settings


@contextmanager
def checkout(revision):
    """A temporary work tree of ``revision`` (a detached git worktree), removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="sweetshop-ab-") as tmp:
        path = Path(tmp) / "tree"
        result = run(["git", "-C", str(common.ROOT), "worktree", "add", "--detach", str(path), revision], 120)
        if result.returncode != 0:
            sys.exit(f"--ab-revision {revision}: {result.stderr.strip()}")
        try:
            yield path
        finally:
            run(["git", "-C", str(common.ROOT), "worktree", "remove", "--force", str(path)], 120)


def count_instructions(url, token, ab, plan):
    if not instructions.available():
        return {"skipped": "valgrind is not installed (Debian: apt-get install valgrind)"}
    variants = (scenarios.SWEETSHOP, scenarios.BARE, scenarios.FOR_UPDATE, scenarios.LEAN, *ab)
    count = instructions.COUNT // 4 if plan.quick else instructions.COUNT
    counts = instructions.measure(url, token, variants, count, instructions.mail_buyer_token(url))
    return {"count": count, "counts": counts}


def arguments():
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--quick", action="store_true", default=os.environ.get("BENCH_QUICK") == "1",
                        help="one short round of everything (a smoke test; numbers mean nothing)")
    parser.add_argument("--only", type=lambda text: text.split(","), default=list(SCENARIOS),
                        help=f"comma-separated scenarios out of {','.join(SCENARIOS)}")
    parser.add_argument("--rounds", type=int, help="override the plan's rounds")
    parser.add_argument("--seconds", type=int, help="override the plan's seconds per run")
    parser.add_argument("--ab", type=parse_ab, action="append", metavar="NAME=value[+NAME=value]",
                        default=[parse_ab(text) for text in os.environ.get("BENCH_AB", "").split(";")
                                 if text],
                        help="an A/B variant of Sweetshop with these settings "
                             "(hot row, network, instructions)")
    parser.add_argument("--ab-revision", action="append", metavar="REV", default=[],
                        help="an A/B variant of Sweetshop as it was at git revision REV, served from a "
                             "temporary checkout of it (hot row, network, instructions; same schema)")
    args = parser.parse_args()
    unknown = set(args.only) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    plan = QUICK if args.quick else FULL
    overrides = {key: value for key, value in (("rounds", args.rounds), ("seconds", args.seconds)) if value}
    return args, dataclasses.replace(plan, **overrides)


def main():
    args, plan = arguments()
    for tool in ("wrk", "pgbench", "psql"):
        if run(["sh", "-c", f"command -v {tool}"], 10).returncode != 0:
            sys.exit(f"make bench needs {tool} on PATH (Debian: apt-get install wrk postgresql-client)")
    error = postgres_error(common.POSTGRES_URL)
    if error:
        sys.exit(f"make bench needs PostgreSQL at {common.POSTGRES_URL} (set BENCH_POSTGRES_URL): {error}")
    # Stopped by a signal, still stop the servers and drop the database (the ExitStack below);
    # a shell's background job starts with SIGINT ignored, so install both handlers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("make bench: terminated"))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    started, clock, load = datetime.now(timezone.utc), time.monotonic(), os.getloadavg()[0]
    ab = [scenarios.ab_variant(settings) for settings in args.ab]
    only = set(args.only)
    results = {}
    with ExitStack() as stack:
        ab += [scenarios.revision_variant(revision, stack.enter_context(checkout(revision)))
               for revision in args.ab_revision]
        url = stack.enter_context(migrated_database("postgresql", None, server=common.POSTGRES_URL,
                                                    prefix="sweetshop_bench"))
        db = common.Database(url)
        stack.callback(db.close)
        log(f"database {db.name} migrated{' (quick mode)' if plan.quick else ''}")
        variants = scenarios.VARIANTS + tuple(ab)
        servers = scenarios.start_servers(stack, url, variants, common.WORKERS, common.THREADS)
        token = scenarios.buyer_token(servers[scenarios.SWEETSHOP.server_key])
        shop = scenarios.Shop(db, servers, token, variants, "Loopback")
        steps = [("hot", lambda: scenarios.hot_row(shop, plan, variants)),
                 ("network", lambda: scenarios.network(db, token, plan, ab)),
                 ("orders", lambda: scenarios.orders(shop, plan)),
                 ("login_flood", lambda: scenarios.login_flood(shop, plan)),
                 ("instructions", lambda: count_instructions(url, token, ab, plan)),
                 ("catalogue", lambda: scenarios.catalogue(shop, plan))]
        for name, step in steps:
            if name in only:
                log(name.replace("_", " "))
                results[name] = step()
                if isinstance(results[name], dict) and results[name].get("skipped"):
                    log(f"  skipped: {results[name]['skipped']}")
    results.update(started=started, load=load, duration_seconds=time.monotonic() - clock, plan=plan,
                   levers=lever_values(), ab=[variant.name for variant in ab],
                   command_line="make bench      # = .venv/bin/python -m bench"
                   if len(sys.argv) == 1 else shlex.join(["python", "-m", "bench", *sys.argv[1:]]))
    report.write(results, complete=not plan.quick and only == set(SCENARIOS))


if __name__ == "__main__":
    main()
