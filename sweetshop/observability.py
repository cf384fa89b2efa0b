"""Structured logs: one JSON line per request, on standard error; a request's stock changes ride on it.

Every request gets an id, taken from the client's (or load balancer's) ``X-Request-ID``
when that is a sane token, else made up here; it is echoed in the response header and in
every log line written while the request runs, so one id ties a client's report to the
request line, its stock changes and any error. Lines carry ids, never request bodies,
headers or query strings, so no password or token can reach the log.

Settings: ``LOG_LEVEL`` (default ``INFO``; ``WARNING`` silences the per-request lines).
"""
import json
import logging
import re
import secrets
import sys
import time
from datetime import datetime, timezone

from flask import g, has_request_context, request
from sqlalchemy import inspect

LOGGER = "sweetshop"  # Flask's app.logger for this package, and the parent of module loggers
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is a field.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

# One encoder for every line: json.dumps with an argument builds a new encoder each call.
_encode = json.JSONEncoder(default=str).encode
request_log = logging.getLogger(f"{LOGGER}.request")
stock_log = logging.getLogger(f"{LOGGER}.stock")


class JsonFormatter(logging.Formatter):
    """A log record as one JSON object on one line."""

    def format(self, record):
        line = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage(),
            "pid": record.process,
        }
        if has_request_context() and "request_id" in g:
            line["request_id"] = g.request_id
        line.update((key, value) for key, value in vars(record).items() if key not in _STANDARD)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return _encode(line)


class StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (test runners swap it)."""

    def __init__(self):
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def _setup_logger(level):
    logger = logging.getLogger(LOGGER)
    if not any(isinstance(handler, StderrHandler) for handler in logger.handlers):
        handler = StderrHandler()
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
    logger.setLevel(level)


def _start():
    g.request_started = time.perf_counter()
    given = request.headers.get("X-Request-ID", "")
    g.request_id = given if REQUEST_ID.fullmatch(given) else secrets.token_hex(16)


def _user_id():
    """The id of the user this request acted for, read without touching the database."""
    api_user = g.get("user")  # the bearer token's owner: a plain row
    if api_user is not None:
        return api_user.id
    # Flask-Login's page user. After a commit it is expired, and reading ``user.id`` would
    # query the database again: no use when logging a 503 because the database is down.
    state = inspect(g.get("_login_user"), raiseerr=False)
    if state is None or state.identity is None:
        return None  # nobody, or the anonymous user
    return state.identity[0]


def log_stock_change(sweet_id, kind, change, balance, user_id):
    """Record a committed stock change. In a request it rides on the request's own line (the
    request id and the user are there already: a second line would say the same thing again,
    at the cost of a second format and write on every purchase); elsewhere (the command line)
    it is a line of its own."""
    change = {"sweet_id": sweet_id, "kind": kind, "change": change, "balance": balance}
    if has_request_context():
        g.setdefault("stock_changes", []).append(change)
    else:
        stock_log.info("stock change", extra={**change, "by_user_id": user_id})


def _finish(response):
    if "request_id" not in g:  # a request that failed before our before_request ran
        _start()
    response.headers["X-Request-ID"] = g.request_id
    fields = {
        "method": request.method, "path": request.path, "status": response.status_code,
        "duration_ms": round((time.perf_counter() - g.request_started) * 1000, 1),
        "user_id": _user_id(), "remote_addr": request.remote_addr,
    }
    if "stock_changes" in g:
        fields["stock_changes"] = g.stock_changes
    if request_log.isEnabledFor(logging.INFO):
        # Made directly rather than by ``request_log.info(..., extra=...)``, which would walk the
        # stack to find its caller's file and line: this line's place is always here.
        record = request_log.makeRecord(request_log.name, logging.INFO, __file__, 0, "request", None, None,
                                        extra=fields)
        request_log.handle(record)
    return response


def init_app(app):
    # Before Flask's app.logger is first used, so Flask adds no plain-text handler of its own.
    _setup_logger(app.config["LOG_LEVEL"])
    # First in line, so every other hook and the view run inside the request's id.
    app.before_request_funcs.setdefault(None, []).insert(0, _start)
    app.after_request(_finish)
