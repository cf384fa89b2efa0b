"""The production server and its configuration: ``python -m sweetshop.serve`` (what ``make serve``,
the README's recipe and the live-server tests run).

Granian (a Rust HTTP server) reads and buffers each request whole before a Python worker sees
it, so clients that trickle their requests cost the workers nothing: SPEC section 9 asks that
64 such connections leave ``/api/health`` answering within 100 ms, and gunicorn's sync workers
fail that with 8 (the measurements are in docs/BENCHMARKS.md, the choice argued in the README).

From the environment: ``PORT`` (default 8000), ``HOST`` (default 0.0.0.0, every interface),
``WEB_CONCURRENCY`` (worker processes, default 4), ``WEB_THREADS`` (threads serving each
worker's requests, default 1: one request at a time per process, as gunicorn's sync workers);
the app's own settings as everywhere
(``SECRET_KEY``, ``DATABASE_URL``, ``SWEETSHOP_<NAME>``).

Timeouts, and why they fit together:

- Granian never kills a busy worker on a timer (gunicorn's ``--timeout`` does, and would cut
  off a request that waits its turn for SQLite's write lock). A request's longest legitimate
  wait is SQLite's busy timeout (the ``SQLITE_BUSY_TIMEOUT_SECONDS`` setting, 30 s).
- On SIGTERM granian stops accepting, lets every request it has received finish and be
  answered, then exits; a worker still busy after ``busy timeout + SHUTDOWN_MARGIN_SECONDS`` is
  killed, so the shutdown bound can never cut off a request waiting for the lock.
- Headers must arrive within ``HEADER_READ_TIMEOUT_MS``; a connection that trickles slower is
  closed (it never held a worker anyway).
- A worker that dies is replaced after ``RESPAWN_INTERVAL_SECONDS``.

Logging: granian's own lines (start, workers, shutdown) go to standard output; the app's JSON
lines, one per request, go to standard error (sweetshop/observability.py). Granian's access log
is off: the app's request line says more (request id, user, duration).
"""
import os
import sys

from granian import Granian
from granian.constants import Interfaces
from granian.http import HTTP1Settings

from . import create_app

HEADER_READ_TIMEOUT_MS = 30_000
SHUTDOWN_MARGIN_SECONDS = 10
RESPAWN_INTERVAL_SECONDS = 1.0


def server(environ=os.environ):
    """A Granian server for the shop, configured from ``environ``.

    :raise RuntimeError: the app's settings are unusable (no ``SECRET_KEY`` in production, ...);
        checked here, in the parent, so that a bad setting stops the server at once instead of
        failing in every worker as it is respawned.
    """
    app = create_app()
    busy_timeout = app.config["SQLITE_BUSY_TIMEOUT_SECONDS"]
    return Granian(
        "sweetshop:create_app", factory=True, interface=Interfaces.WSGI,
        address=environ.get("HOST", "0.0.0.0"), port=int(environ.get("PORT", "8000")),
        workers=int(environ.get("WEB_CONCURRENCY", "4")),
        blocking_threads=int(environ.get("WEB_THREADS", "1")),
        http1_settings=HTTP1Settings(header_read_timeout=HEADER_READ_TIMEOUT_MS),
        respawn_failed_workers=True, respawn_interval=RESPAWN_INTERVAL_SECONDS,
        workers_kill_timeout=int(busy_timeout + SHUTDOWN_MARGIN_SECONDS),
        log_access=False, websockets=False,
    )


def main():
    try:
        shop = server()
    except RuntimeError as error:
        sys.exit(f"sweetshop: {error}")
    shop.serve()


if __name__ == "__main__":
    main()
