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

Metrics (sweetshop/metrics.py): prometheus_client's multiprocess mode sums every worker's
counters through files in the directory ``PROMETHEUS_MULTIPROC_DIR`` names. Before granian
starts a worker, :func:`metrics_directory` empties that directory (a previous run's files would
add its counts), or makes a fresh one and sets the variable when it is unset, so every worker,
forked from this process, inherits it; the client is first imported in the workers, after that.
Granian has no hook for a worker's exit, so ``multiprocess.mark_process_dead`` is never called
and a dead worker's files stay until the next start: right for counters and histograms (all the
shop keeps), wrong only for live gauges, which the shop does not use.

Logging: granian's own lines (start, workers, shutdown) go to standard output; the app's JSON
lines, one per request, go to standard error (sweetshop/observability.py). Granian's access log
is off: the app's request line says more (request id, user, duration).
"""
import os
import shutil
import subprocess
import sys
import tempfile

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


def metrics_directory(environ=os.environ):
    """Make ``PROMETHEUS_MULTIPROC_DIR`` an empty directory before any worker starts; returns its
    path and whether it was made here (then set in ``environ``, and to be removed at exit).

    Only prometheus_client's own files (``*.db``) are removed from a directory given by the
    operator; one that does not exist yet is made.

    :raise RuntimeError: prometheus_client was imported in this process already: it would have
        chosen its single-process mode, and forked workers would inherit that.
    """
    if "prometheus_client" in sys.modules:
        raise RuntimeError("prometheus_client was imported before PROMETHEUS_MULTIPROC_DIR was set up")
    path = environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not path:
        environ["PROMETHEUS_MULTIPROC_DIR"] = path = tempfile.mkdtemp(prefix="sweetshop-metrics-")
        return path, True
    os.makedirs(path, exist_ok=True)
    for name in os.listdir(path):
        if name.endswith(".db"):
            os.remove(os.path.join(path, name))
    return path, False


def mail_sender(environ=os.environ):
    """One mail sender (``flask --app sweetshop send-mail``) as a process beside the web workers,
    when ``MAIL_SERVER`` is set; else None. It ends with this process (see cli.send_mail)."""
    if not create_app().config.get("MAIL_SERVER"):
        return None
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "sweetshop", "send-mail"],
                            env={**environ, "SWEETSHOP_SENDER_OF_SERVER": "1"})


def stop_mail_sender(sender):
    """SIGTERM: the sender finishes the mail in hand, then exits."""
    if sender is not None:
        sender.terminate()
        try:
            sender.wait(timeout=SHUTDOWN_MARGIN_SECONDS + 30)
        except subprocess.TimeoutExpired:
            sender.kill()  # its claim's lease runs out and another sender takes the mail over


def main():
    try:
        metrics_path, made = metrics_directory()
        shop = server()
    except (RuntimeError, OSError) as error:
        sys.exit(f"sweetshop: {error}")
    sender = mail_sender()
    try:
        shop.serve()
    finally:
        stop_mail_sender(sender)
        if made:
            shutil.rmtree(metrics_path, ignore_errors=True)


if __name__ == "__main__":
    main()
