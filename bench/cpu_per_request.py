"""Python CPU per purchase request, in one process through Flask's test client: Sweetshop vs the references.

No HTTP server and no concurrency, so what is left is each app's own Python work plus the
database round trips; ``--profile`` adds a cProfile listing of Sweetshop's request hooks and
domain calls. Run: ``.venv/bin/python bench/cpu_per_request.py [--profile]`` (PostgreSQL needed).
"""
import cProfile
import io
import os
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import run  # noqa: E402

REQUESTS = 1500


def measure(requests=REQUESTS, profile=False):
    """``[(name, wall µs, Python CPU µs)]`` per request, each app twice, alternating."""
    db = run.Database()
    stderr = sys.stderr
    try:
        db.connect()
        run.flask(db, "db", "upgrade")
        os.environ.update(run.app_env(db))
        from sweetshop.config import database_url
        from sweetshop import accounts, create_app
        url = database_url(db.url)  # explicit: settings read at import may name another database
        app = create_app({"PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000", "SQLALCHEMY_DATABASE_URI": url})
        with app.app_context():
            token, _ = accounts.issue_token(accounts.register("bench", run.PASSWORD))
        from catalogue import load_sweets
        with db.conn.cursor() as cursor:
            sweet_id = load_sweets(cursor, 1, run.HOT_STOCK)[0]
        import reference
        reference.engine.dispose()
        reference.engine = reference.create_engine(url, **reference.settings.SQLALCHEMY_ENGINE_OPTIONS)
        sys.stderr = open(os.devnull, "w")  # the shop's JSON log lines: written, then discarded
        headers = {"Authorization": "Bearer " + token}
        path = f"/api/sweets/{sweet_id}/purchase"
        cases = [("Sweetshop", app, path), ("bare reference (a)", reference.app, path),
                 ("FOR UPDATE (c)", reference.app, path + "-for-update")]
        results = []
        for name, wsgi_app, url in cases * 2:
            client = wsgi_app.test_client()
            for _ in range(200):
                client.post(url, headers=headers, json={"quantity": 1})
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(requests):
                assert client.post(url, headers=headers, json={"quantity": 1}).status_code == 200
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
            print(out.getvalue(), file=stderr)
        return results
    finally:
        if sys.stderr is not stderr:
            sys.stderr.close()
            sys.stderr = stderr
        db.close()


def main():
    for name, wall, cpu in measure(profile="--profile" in sys.argv):
        print(f"{name:20} wall {wall:6.0f} µs   Python CPU {cpu:6.0f} µs per request")


if __name__ == "__main__":
    main()
