"""The production server and its configuration: ``python -m sweetshop.serve`` (what ``make serve``,
the README's recipe and the live-server tests run).

Two servers, one process tree. nginx (sweetshop/front.py, docs/serving-front.md) listens on
``HOST:PORT`` and reads every request whole, headers and body, with time limits, before it hands
it on; granian (a Rust HTTP server) runs the app's workers behind it on a private unix socket.
Granian reads a request's headers before a worker sees it but leaves the body to the worker,
with no time limit, so without nginx a few clients that stall their bodies would hold every
worker. ``FRONT_SERVER`` empty serves with granian alone on ``HOST:PORT`` (behind a buffering
proxy of the operator's own).

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
- Headers must arrive within ``HEADER_READ_TIMEOUT_MS`` (nginx's and granian's limit); a body
  may pause at most ``BODY_READ_TIMEOUT_SECONDS`` (nginx answers 408). Neither holds a worker.
- nginx waits for a worker's answer, and for its requests in flight on SIGTERM, as long as the
  shutdown bound, so it never cuts off what granian would let finish.
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
lines, one per request, and nginx's warnings go to standard error (sweetshop/observability.py).
Access logs are off: the app's request line says more (request id, user, duration).
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from flask import render_template
from granian import Granian
from granian.constants import Interfaces
from granian.http import HTTP1Settings

from . import create_app, front
from .throttle import LoginThrottledError

HEADER_READ_TIMEOUT_MS = 30_000
SHUTDOWN_MARGIN_SECONDS = 10
RESPAWN_INTERVAL_SECONDS = 1.0


def shutdown_seconds(config):
    """The longest a request may legitimately take, and so the shutdown bound."""
    return int(config["SQLITE_BUSY_TIMEOUT_SECONDS"] + SHUTDOWN_MARGIN_SECONDS)


def server(config, environ=os.environ, socket=None):
    """A Granian server for the shop, configured from ``environ``: on ``HOST:PORT``, or on the unix
    socket ``socket`` when a front server listens there instead."""
    where = {"uds": Path(socket), "uds_permissions": 0o600} if socket else {
        "address": environ.get("HOST", "0.0.0.0"), "port": int(environ.get("PORT", "8000"))}
    return Granian(
        "sweetshop:create_app", factory=True, interface=Interfaces.WSGI, **where,
        workers=int(environ.get("WEB_CONCURRENCY", "4")),
        blocking_threads=int(environ.get("WEB_THREADS", "1")),
        http1_settings=HTTP1Settings(header_read_timeout=HEADER_READ_TIMEOUT_MS),
        respawn_failed_workers=True, respawn_interval=RESPAWN_INTERVAL_SECONDS,
        workers_kill_timeout=shutdown_seconds(config),
        log_access=False, websockets=False,
    )


def settings():
    """The app's settings, read here in the parent so that a bad one stops the server at once
    instead of failing in every worker as it is respawned.

    :raise RuntimeError: the app's settings are unusable (no ``SECRET_KEY`` in production, ...).
    """
    return create_app().config


def front_directory(config, environ=os.environ):
    """A private directory holding nginx's configuration, temporary files and granian's socket;
    returns ``(directory, nginx program, socket path)``. The workers, forked later, learn from
    ``environ`` to trust one proxy more: nginx.

    :raise RuntimeError: nginx is not installed.
    """
    binary = front.nginx_binary(config["FRONT_SERVER"])
    directory = tempfile.mkdtemp(prefix="sweetshop-front-")
    socket = os.path.join(directory, "granian.sock")
    text = front.nginx_config(directory, socket, config, environ,
                              (HEADER_READ_TIMEOUT_MS // 1000, shutdown_seconds(config)))
    Path(directory, "nginx.conf").write_text(text)
    Path(directory, "login-throttled.html").write_text(login_throttled_page())
    environ["SWEETSHOP_TRUSTED_PROXIES"] = str(config["TRUSTED_PROXIES"] + 1)
    return directory, binary, socket


def login_throttled_page():
    """The shop's own error page for a login attempt nginx refused (its per-address limit),
    rendered once here: nginx serves it without asking a worker."""
    app = create_app()
    with app.test_request_context("/login"):
        return render_template("error.html", code=429, title="Too Many Requests",
                               message=LoginThrottledError.message)


def supervise(shop, binary, directory, environ=os.environ):
    """Start nginx once granian's socket exists; SIGTERM and SIGINT stop nginx first (it drains),
    and granian stops when nginx has exited. Returns the ``FrontServer``."""
    proxy = front.FrontServer(binary, directory, on_exit=shop.signal_handler_interrupt)

    def start():
        # Granian set its own handlers just before its startup hooks run: replace them.
        for number in (signal.SIGTERM, signal.SIGINT):
            signal.signal(number, lambda *_: proxy.stop())
        proxy.start()
        address = front.listen_address(environ.get("HOST", "0.0.0.0"), environ.get("PORT", "8000"))
        print(f"sweetshop: nginx listening at http://{address}", flush=True)

    shop.on_startup(start)
    shop.on_shutdown(proxy.stop)  # granian stopped on its own (a crash loop): so does nginx
    return proxy


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


def mail_sender(config, environ=os.environ):
    """One mail sender (``flask --app sweetshop send-mail``) as a process beside the web workers,
    when ``MAIL_SERVER`` is set; else None. It ends with this process (see cli.send_mail)."""
    if not config.get("MAIL_SERVER"):
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
    directory = None
    try:
        metrics_path, made = metrics_directory()
        config = settings()
        if config["FRONT_SERVER"]:
            directory, binary, socket = front_directory(config)
            shop = server(config, socket=socket)
            proxy = supervise(shop, binary, directory)
        else:
            shop, proxy = server(config), None
    except (RuntimeError, OSError) as error:
        sys.exit(f"sweetshop: {error}")
    sender = mail_sender(config)
    try:
        shop.serve()
    finally:
        stop_mail_sender(sender)
        if made:
            shutil.rmtree(metrics_path, ignore_errors=True)
        if directory:
            shutil.rmtree(directory, ignore_errors=True)
    if proxy is not None and proxy.failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
