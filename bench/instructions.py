"""Instructions per purchase request, counted by valgrind's callgrind: exact and repeatable.

This machine's speed drifts by up to ±40 % from one ten seconds to the next (other machines share
its host), so a few percent of CPU cannot be seen in throughput. Instruction counts do not drift:
the same code on the same database path counts the same, whatever else is running.

Each app serves ``count`` one-unit purchases in one process through Flask's test client, against
the run's database; callgrind counts only that loop (``--toggle-collect`` on the one C function it
runs inside). What it counts is the app's own process: Python, Flask, SQLAlchemy and psycopg2's
client side. PostgreSQL, the HTTP server, wrk and the kernel are not counted.

Standalone (a throwaway database of its own; valgrind needed)::

    .venv/bin/python bench/instructions.py [--count 200]
"""
import argparse
import functools
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

WARM_UP = 30
COUNT = 200
SHOP = "sweetshop"  # harness.SHOP; the child imports nothing from this checkout but the app


def measure(url, token, variants, count=COUNT):
    """``{variant name: instructions per request}`` for ``variants`` (bench/scenarios.py's:
    Sweetshop, a revision of it, or a reference), each buying its own sweet on ``url``; None for
    one that callgrind could not count (its error is logged)."""
    import common
    from catalogue import load_sweets
    from support.harness import server_env
    db = common.Database(url)
    try:
        with db.conn.cursor() as cursor:
            sweet_ids = load_sweets(cursor, len(variants), common.HOT_STOCK, "Instructions ")
    finally:
        db.close()

    def count_one(variant, sweet_id):
        # PYTHONPATH: a revision's code before this checkout's. The token goes in the environment, as
        # for wrk: it may begin with "-", which argparse would take for an option.
        env = dict(server_env(url, **{**common.SERVER_SETTINGS, **dict(variant.settings)}),
                   PYTHONPATH=str(variant.source), BENCH_TOKEN=token)
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "callgrind.out"
            args = ["valgrind", "--tool=callgrind", "--collect-atstart=no",
                    "--toggle-collect=functools_reduce", f"--callgrind-out-file={out}",
                    sys.executable, __file__, "--child", variant.app, variant.path % sweet_id, str(count)]
            common.record("callgrind", args, (out, "$OUT"), (sys.executable, "python"),
                          (__file__, "bench/instructions.py"), (str(sweet_id), "$SWEET"))
            result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=1800)
            found = out.exists() and re.search(r"^summary: (\d+)$", out.read_text(), re.M)
            if result.returncode != 0 or not found:
                # Logged, not fatal: one missing table must not cost the rest of the run.
                common.log(f"  callgrind failed for {variant.name}:\n{result.stderr[-3000:]}")
                return variant.name, None
        common.log(f"  {variant.name:40} {int(found[1]) / count / 1e6:6.2f} M instructions per request")
        return variant.name, int(found[1]) / count

    # The counts do not depend on what else runs, so two at a time (one per core).
    with ThreadPoolExecutor(2) as pool:
        return dict(pool.map(count_one, variants, sweet_ids))


def available():
    return subprocess.run(["sh", "-c", "command -v valgrind"], capture_output=True).returncode == 0


def _child(app_name, path, token, count):
    """Runs under callgrind: the app (``sweetshop`` as its own module, or a reference), warmed up,
    then ``count`` purchases inside ``functools.reduce``, the one place callgrind counts."""
    if app_name == SHOP:
        from sweetshop import create_app
        app = create_app()
    else:
        module, _, name = app_name.partition(":")
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        app = getattr(__import__(module, fromlist=[name]), name)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}

    def buy_one():
        assert client.post(path, headers=headers, json={"quantity": 1}).status_code == 200

    for _ in range(WARM_UP):
        buy_one()
    # Called once, with (None, 0): callgrind counts only while functools_reduce runs.
    functools.reduce(lambda *_: [buy_one() for _ in range(count)], range(1), None)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=COUNT)
    parser.add_argument("--child", nargs=3, metavar=("APP", "PATH", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        app_name, path, count = args.child
        sys.stderr = open(os.devnull, "w")  # the shop's JSON log lines: written, then discarded
        return _child(app_name, path, os.environ["BENCH_TOKEN"], int(count))
    from contextlib import ExitStack

    import common  # noqa: F401  (puts the project and tests/ on sys.path)
    import scenarios
    from support.harness import TEST_PASSWORD, migrated_database, server_env
    if not available():
        sys.exit("bench/instructions.py needs valgrind (Debian: apt-get install valgrind)")
    with ExitStack() as stack:
        url = stack.enter_context(migrated_database("postgresql", None, server=common.POSTGRES_URL,
                                                    prefix="sweetshop_bench"))
        os.environ.update(server_env(url))
        from sweetshop import accounts, create_app
        app = create_app()
        with app.app_context():
            token, _ = accounts.issue_token(accounts.register(scenarios.BUYER, TEST_PASSWORD))
        variants = (scenarios.SWEETSHOP, scenarios.BARE, scenarios.FOR_UPDATE, scenarios.LEAN)
        measure(url, token, variants, args.count)  # logs each app's count


if __name__ == "__main__":
    main()
