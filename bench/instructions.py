"""Instructions per purchase request (and per order), counted by valgrind's callgrind: exact and
repeatable.

This machine's speed drifts by up to ±40 % from one ten seconds to the next (other machines share
its host), so a few percent of CPU cannot be seen in throughput. Instruction counts do not drift:
the same code on the same database path counts the same, whatever else is running.

Each app serves ``count`` one-unit purchases in one process through Flask's test client, against
the run's database; callgrind counts only that loop (``--toggle-collect`` on the one C function it
runs inside). What it counts is the app's own process: Python, Flask, SQLAlchemy and psycopg2's
client side. PostgreSQL, the HTTP server, wrk and the kernel are not counted. Sweetshop also places
orders of ``ORDER_LINES`` lines (``POST /api/orders``, one unit each), by the buyer and by a buyer
with a verified address, whose every order also queues its mail in the order's transaction.

Standalone (a throwaway database of its own; valgrind needed)::

    .venv/bin/python -m bench.instructions [--count 200]

Under callgrind this file runs as a script (``--child``), so at module level it imports only the
standard library: the package's modules are imported where the parent needs them.
"""
import argparse
import functools
import gc
import json
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
PURCHASE_BODY = '{"quantity": 1}'
ORDERS, ORDER_LINES = "/api/orders", 3  # scenarios.ORDER_LINES
ORDER = f"Sweetshop: order of {ORDER_LINES} lines"
ORDER_WITH_MAIL = ORDER + " + its mail"
MAIL_BUYER = "bench-mail"


def measure(url, token, variants, count=COUNT, mail_token=None):
    """``{name: instructions per request}`` for ``variants`` (bench/scenarios.py's: Sweetshop, a
    revision of it, or a reference), each buying its own sweet on ``url``; None for one that
    callgrind could not count (its error is logged). With ``mail_token`` (``mail_buyer_token``),
    also this checkout's ``ORDER`` and ``ORDER_WITH_MAIL``, each on sweets of its own."""
    from . import common
    from .catalogue import load_sweets
    from .harness import server_env
    from .scenarios import SWEETSHOP
    db = common.Database(url)
    orders = 2 if mail_token else 0
    try:
        with db.conn.cursor() as cursor:
            sweet_ids = load_sweets(cursor, len(variants) + orders * ORDER_LINES, common.HOT_STOCK,
                                    "Instructions ")
    finally:
        db.close()
    # (name, variant, path, body, token, the sweets it names)
    jobs = [(v.name, v, v.path % i, PURCHASE_BODY, token, [i]) for v, i in zip(variants, sweet_ids)]
    for n, (name, buyer) in enumerate(((ORDER, token), (ORDER_WITH_MAIL, mail_token))[:orders]):
        ids = sweet_ids[len(variants) + n * ORDER_LINES:][:ORDER_LINES]
        body = json.dumps({"items": [{"sweet_id": i, "quantity": 1} for i in ids]})
        jobs.append((name, SWEETSHOP, ORDERS, body, buyer, ids))

    def count_one(job):
        name, variant, path, body, token, sweets = job
        # PYTHONPATH: a revision's code before this checkout's. The token goes in the environment, as
        # for wrk: it may begin with "-", which argparse would take for an option. One hash seed: with
        # Python's per-process one, where dict and set entries fall moved the same tree's count by
        # up to 0.4 % from run to run; with a fixed one, three counts agree within 0.02 %.
        env = dict(server_env(url, **{**common.SERVER_SETTINGS, **dict(variant.settings)}),
                   PYTHONPATH=str(variant.source), BENCH_TOKEN=token, PYTHONHASHSEED="0")
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "callgrind.out"
            args = ["valgrind", "--tool=callgrind", "--collect-atstart=no",
                    "--toggle-collect=functools_reduce", f"--callgrind-out-file={out}",
                    sys.executable, __file__, "--child", variant.app, path, body, str(count)]
            common.record("callgrind" if path != ORDERS else "callgrind order", args, (out, "$OUT"),
                          (sys.executable, "python"), (__file__, "bench/instructions.py"),
                          *((str(i), "$SWEET" if path != ORDERS else f"$SWEET{n + 1}")
                            for n, i in enumerate(sweets)))
            result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=1800)
            found = out.exists() and re.search(r"^summary: (\d+)$", out.read_text(), re.M)
            if result.returncode != 0 or not found:
                # Logged, not fatal: one missing table must not cost the rest of the run.
                common.log(f"  callgrind failed for {name}:\n{result.stderr[-3000:]}")
                return name, None
        common.log(f"  {name:40} {int(found[1]) / count / 1e6:6.2f} M instructions per request")
        return name, int(found[1]) / count

    # The counts do not depend on what else runs, so two at a time (one per core).
    with ThreadPoolExecutor(2) as pool:
        return dict(pool.map(count_one, jobs))


def mail_buyer_token(url):
    """A bearer token of a second buyer, one whose address is verified, so that each of their
    orders queues its mail (the receipt); made with the shop's own functions on ``url``."""
    from unittest import mock

    from sqlalchemy import update

    from sweetshop import accounts, create_app
    from sweetshop.extensions import db
    from sweetshop.models import User

    from .harness import TEST_PASSWORD, server_env
    with mock.patch.dict(os.environ, server_env(url)):
        app = create_app()
    with app.app_context():
        user = accounts.register(MAIL_BUYER, TEST_PASSWORD, email=f"{MAIL_BUYER}@example.com")
        # As its verification link would: the link's token is only in the mail it queued.
        db.session.execute(update(User).where(User.id == user.id).values(email_verified=True))
        db.session.commit()
        token, _ = accounts.issue_token(user)
        db.engine.dispose()  # no idle connection left to keep the run's database from being dropped
    return token


def available():
    return subprocess.run(["sh", "-c", "command -v valgrind"], capture_output=True).returncode == 0


def _child(app_name, path, body, token, count):
    """Runs under callgrind: the app (``sweetshop`` as its own module, or a reference), warmed up,
    then ``count`` requests (a POST of ``body``, JSON text) inside ``functools.reduce``, the one
    place callgrind counts."""
    if app_name == SHOP:
        from sweetshop import create_app
        app = create_app()
    else:
        # bench.reference, found on the environment's path with the checkout (make install puts it there).
        module, _, name = app_name.partition(":")
        app = getattr(__import__(module, fromlist=[name]), name)
    client = app.test_client()
    headers, body = {"Authorization": f"Bearer {token}"}, json.loads(body)

    def buy_one():
        assert client.post(path, headers=headers, json=body).status_code in (200, 201)

    for _ in range(WARM_UP):
        buy_one()
    # A full collection walks every object the process holds, so where one falls (inside the counted
    # loop or not) would move the count by far more than a change to the purchase's code: the app's
    # objects after the warm-up are left out of collections; what the purchases allocate is not.
    gc.freeze()
    # Called once, with (None, 0): callgrind counts only while functools_reduce runs.
    functools.reduce(lambda *_: [buy_one() for _ in range(count)], range(1), None)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=COUNT)
    parser.add_argument("--child", nargs=4, metavar=("APP", "PATH", "BODY", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        app_name, path, body, count = args.child
        sys.stderr = open(os.devnull, "w")  # the shop's JSON log lines: written, then discarded
        return _child(app_name, path, body, os.environ["BENCH_TOKEN"], int(count))
    from contextlib import ExitStack

    from . import common, scenarios
    from .harness import TEST_PASSWORD, migrated_database, server_env
    if not available():
        sys.exit("python -m bench.instructions needs valgrind (Debian: apt-get install valgrind)")
    with ExitStack() as stack:
        url = stack.enter_context(migrated_database("postgresql", None, server=common.POSTGRES_URL,
                                                    prefix="sweetshop_bench"))
        os.environ.update(server_env(url))
        from sweetshop import accounts, create_app
        app = create_app()
        with app.app_context():
            token, _ = accounts.issue_token(accounts.register(scenarios.BUYER, TEST_PASSWORD))
        variants = (scenarios.SWEETSHOP, scenarios.BARE, scenarios.FOR_UPDATE, scenarios.LEAN)
        counts = measure(url, token, variants, args.count, mail_buyer_token(url))  # logs each count
        if counts[ORDER] and counts[ORDER_WITH_MAIL]:
            common.log(f"  a queued mail: {(counts[ORDER_WITH_MAIL] - counts[ORDER]) / 1e6:+.2f} M per order")


if __name__ == "__main__":
    main()
