"""Python CPU per purchase request, in one process through Flask's test client: Sweetshop vs the references.

No HTTP server and no concurrency, so what is left is each app's own Python work plus the
database round trips; ``--profile`` adds a cProfile listing of Sweetshop's request hooks and
domain calls. Run: ``.venv/bin/python bench/cpu_per_request.py [--profile]`` (PostgreSQL needed).
"""
import contextlib
import cProfile
import io
import os
import pstats
import sys
import time
from contextlib import ExitStack

import common
from catalogue import load_sweets
from support.harness import TEST_PASSWORD, migrated_database, server_env

REQUESTS = 1500


def measure(requests=REQUESTS, profile=False):
    """``[(name, wall µs, Python CPU µs)]`` per request, each app twice, alternating."""
    with ExitStack() as stack:
        url = stack.enter_context(migrated_database("postgresql", None, server=common.POSTGRES_URL,
                                                    prefix="sweetshop_bench"))
        db = common.Database(url)
        stack.callback(db.close)
        # The shop's and the references' settings are read from the environment; the secret and
        # the database explicitly, as config may have been imported before this database existed.
        env = server_env(url)
        os.environ.update(env)
        from sweetshop import accounts, create_app
        app = create_app({"SECRET_KEY": env["SECRET_KEY"], "SQLALCHEMY_DATABASE_URI": url})
        with app.app_context():
            token, _ = accounts.issue_token(accounts.register("bench", TEST_PASSWORD))
        with db.conn.cursor() as cursor:
            sweet_id = load_sweets(cursor, 1, common.HOT_STOCK)[0]
        import reference
        stack.callback(reference.engine.dispose)
        # The shop's JSON log lines: written, then discarded.
        stack.enter_context(contextlib.redirect_stderr(stack.enter_context(open(os.devnull, "w"))))
        headers = {"Authorization": "Bearer " + token}
        path = f"/api/sweets/{sweet_id}/purchase"
        cases = [("Sweetshop", app, path), ("bare reference (a)", reference.app, path),
                 ("FOR UPDATE (c)", reference.app, path + "-for-update")]
        results = []
        for name, wsgi_app, target in cases * 2:
            client = wsgi_app.test_client()
            for _ in range(200):
                client.post(target, headers=headers, json={"quantity": 1})
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(requests):
                assert client.post(target, headers=headers, json={"quantity": 1}).status_code == 200
            results.append((name, 1e6 * (time.perf_counter() - wall) / requests,
                            1e6 * (time.process_time() - cpu) / requests))
        if profile:
            client = app.test_client()
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(1000):
                client.post(path, headers=headers, json={"quantity": 1})
            profiler.disable()
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(
                r"sweetshop/|preprocess_request|process_response|session.py.*commit|_execute_internal")
            print(out.getvalue())
        return results


def main():
    for name, wall, cpu in measure(profile="--profile" in sys.argv):
        print(f"{name:20} wall {wall:6.0f} µs   Python CPU {cpu:6.0f} µs per request")


if __name__ == "__main__":
    main()
